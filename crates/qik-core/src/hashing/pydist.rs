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
    /// Module → distributions, read on first use.
    modules: std::sync::OnceLock<BTreeMap<String, Vec<String>>>,
    /// Read from the `python3` on `PATH` because no venv is active (the
    /// space has none and `VIRTUAL_ENV` is unset), for messages.
    pub without_venv: bool,
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
        Installed {
            versions,
            dirs,
            modules: std::sync::OnceLock::new(),
            without_venv: false,
        }
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
        Ok(Installed {
            without_venv: true,
            ..Installed::read(dirs)
        })
    }

    pub fn version(&self, name: &str) -> Option<&str> {
        self.versions.get(&normalize(name)).map(String::as_str)
    }

    /// Which distributions provide each top-level module (`yaml` →
    /// `[pyyaml]`), from each distribution's `top_level.txt`, else its
    /// `RECORD`. Names are normalised. Kept in `cache_dir` under a digest of
    /// the site-packages listing (which names every installed version), so
    /// an unchanged environment is one directory listing, not a read per
    /// distribution.
    pub fn module_dists(&self, cache_dir: &Path) -> &BTreeMap<String, Vec<String>> {
        self.modules
            .get_or_init(|| self.read_module_dists(cache_dir))
    }

    fn read_module_dists(&self, cache_dir: &Path) -> BTreeMap<String, Vec<String>> {
        let mut listing = blake3::Hasher::new();
        let mut dist_dirs = Vec::new();
        for dir in &self.dirs {
            listing.update(dir.as_os_str().as_encoded_bytes());
            listing.update(b"\0");
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".dist-info") || n.ends_with(".egg-info"))
                .collect();
            names.sort();
            for name in names {
                listing.update(name.as_bytes());
                listing.update(b"\0");
                dist_dirs.push(dir.join(name));
            }
        }
        let cache = cache_dir
            .join("pydist-modules")
            .join(format!("{}.json", listing.finalize().to_hex()));
        if let Some(dir) = cache.parent() {
            // A found map writes nothing: sweep a killed writer's temp file.
            crate::fsutil::staging::sweep_writes(dir);
        }
        if let Some(map) = crate::fsutil::read_kept(&cache, crate::fsutil::limits::MEMO)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        {
            return map;
        }
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dist_dir in dist_dirs {
            let Some(dist) = dist_dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split_once('-'))
                .map(|(dist, _)| normalize(dist))
            else {
                continue;
            };
            for module in top_level_modules(&dist_dir) {
                let dists = map.entry(module).or_default();
                if !dists.contains(&dist) {
                    dists.push(dist.clone());
                    dists.sort();
                }
            }
        }
        // Best effort: a cache that cannot be written is rebuilt next time.
        if let Ok(bytes) = serde_json::to_vec(&map) {
            if let Some(parent) = cache.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = crate::fsutil::write_atomic(&cache, &bytes);
        }
        map
    }
}

/// The top-level import names a distribution installs.
fn top_level_modules(dist_dir: &Path) -> Vec<String> {
    if let Ok(text) = std::fs::read_to_string(dist_dir.join("top_level.txt")) {
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            // `a/b` entries (rare) name a package below a namespace.
            .map(|l| l.split('/').next().unwrap_or(l).to_string())
            .collect();
        if !names.is_empty() {
            return names;
        }
    }
    let Ok(record) = std::fs::read_to_string(dist_dir.join("RECORD")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for line in record.lines() {
        let path = line.split(',').next().unwrap_or("").trim_matches('"');
        let name = match path.split_once('/') {
            Some((top, _)) => {
                if top.ends_with(".dist-info")
                    || top.ends_with(".data")
                    || top.ends_with(".egg-info")
                    || top == "__pycache__"
                    || top == ".."
                    || top.is_empty()
                {
                    continue;
                }
                top.to_string()
            }
            // A single-file module (`six.py`) or extension (`_cffi.cpython-311.so`).
            None => match path.split_once('.') {
                Some((stem, ext)) if ext == "py" || ext.ends_with("so") || ext.ends_with("pyd") => {
                    stem.to_string()
                }
                _ => continue,
            },
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
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
    fn maps_modules_to_distributions_from_top_level_or_record() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("lib/python3.11/site-packages");
        let write = |path: &str, text: &str| {
            let path = site.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("PyYAML-6.0.dist-info/top_level.txt", "_yaml\nyaml\n");
        write(
            "six-1.16.0.dist-info/RECORD",
            "six.py,sha256=x,1\nsix-1.16.0.dist-info/METADATA,,\n__pycache__/six.cpython-311.pyc,,\n",
        );
        write(
            "attrs-23.1.dist-info/RECORD",
            "attr/__init__.py,,\nattrs/__init__.py,,\nattrs-23.1.dist-info/RECORD,,\n",
        );
        write("google_auth-2.0.dist-info/top_level.txt", "google\n");
        write("protobuf-4.0.dist-info/top_level.txt", "google\n");
        let installed = Installed::read(venv_site_packages(dir.path()));
        let cache = dir.path().join("cache");
        let map = installed.module_dists(&cache).clone();
        assert_eq!(map["yaml"], ["pyyaml"]);
        assert_eq!(map["_yaml"], ["pyyaml"]);
        assert_eq!(map["six"], ["six"]);
        assert_eq!(map["attr"], ["attrs"]);
        assert_eq!(map["attrs"], ["attrs"]);
        assert_eq!(map["google"], ["google-auth", "protobuf"]);
        assert!(!map.contains_key("__pycache__"));
        // The second call reads the cache: same answer even with the
        // distribution files gone (the listing did not change).
        std::fs::remove_file(site.join("PyYAML-6.0.dist-info/top_level.txt")).unwrap();
        let again = Installed::read(venv_site_packages(dir.path()));
        assert_eq!(again.module_dists(&cache), &map);
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
