//! Versions of installed Python distributions, read from site-packages.
//!
//! qik does not import Python: a distribution's version is in the name of its
//! `*.dist-info` (or `*.egg-info`) directory, so one directory listing per
//! site-packages answers every `pydist` dep.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::diagnostic::{Code, Diagnostic};

/// PEP 503 normalisation: `My_Dist.name` and `my-dist-name` are one distribution.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            pending_dash = !out.is_empty();
        } else {
            if pending_dash {
                out.push('-');
                pending_dash = false;
            }
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Installed distributions by normalised name.
#[derive(Debug, Default)]
pub struct Installed {
    versions: BTreeMap<String, String>,
    /// Where they were read from, for messages.
    pub dirs: Vec<PathBuf>,
}

impl Installed {
    /// Reads the given site-packages directories.
    pub fn read(dirs: Vec<PathBuf>) -> Installed {
        let mut versions = BTreeMap::new();
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some(stem) = name
                    .strip_suffix(".dist-info")
                    .or_else(|| name.strip_suffix(".egg-info"))
                else {
                    continue;
                };
                // `name-version`: names never contain `-` in these directories.
                if let Some((dist, version)) = stem.split_once('-') {
                    let version = version.split('-').next().unwrap_or(version);
                    versions
                        .entry(normalize(dist))
                        .or_insert_with(|| version.to_string());
                }
            }
        }
        Installed { versions, dirs }
    }

    /// The site-packages of the active environment: `$VIRTUAL_ENV`, else the
    /// `python3` on `PATH`.
    pub fn active() -> Result<Installed, Diagnostic> {
        if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            return Ok(Installed::read(venv_site_packages(Path::new(&venv))));
        }
        let output = Command::new("python3")
            .args([
                "-c",
                "import site,sys\nfor p in site.getsitepackages()+[site.getusersitepackages()]: print(p)",
            ])
            .output()
            .map_err(|err| {
                Diagnostic::error(Code::DistributionNotFound, format!("cannot run python3 to find site-packages: {err}"))
                    .with_hint("activate a virtualenv (VIRTUAL_ENV) or put python3 on PATH, or set [pydist] versions")
            })?;
        let dirs = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(PathBuf::from)
            .collect();
        Ok(Installed::read(dirs))
    }

    pub fn version(&self, name: &str) -> Option<&str> {
        self.versions.get(&normalize(name)).map(String::as_str)
    }
}

/// `lib/python*/site-packages` (and `lib64`) of a virtualenv.
pub fn venv_site_packages(venv: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(venv.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python") {
                let site = entry.path().join("site-packages");
                if site.is_dir() && !dirs.contains(&site) {
                    dirs.push(site);
                }
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_pep_503() {
        assert_eq!(normalize("My_Dist.name"), "my-dist-name");
        assert_eq!(normalize("ruff"), "ruff");
        assert_eq!(normalize("a__b--c"), "a-b-c");
    }

    #[test]
    fn reads_dist_info_directories() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("lib/python3.11/site-packages");
        for name in [
            "ruff-0.6.1.dist-info",
            "Django-5.0.egg-info",
            "typing_extensions-4.12.2.dist-info",
            "ruff",
        ] {
            std::fs::create_dir_all(site.join(name)).unwrap();
        }
        let installed = Installed::read(venv_site_packages(dir.path()));
        assert_eq!(installed.version("ruff"), Some("0.6.1"));
        assert_eq!(installed.version("django"), Some("5.0"));
        assert_eq!(installed.version("typing-extensions"), Some("4.12.2"));
        assert_eq!(installed.version("numpy"), None);
    }
}
