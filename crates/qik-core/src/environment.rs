//! The environment a space's commands run in.
//!
//! Layered as the reference describes: the process environment, then the
//! venv's changes (`VIRTUAL_ENV`, `PATH`), then each dotenv file in order. The
//! result is a list of variables to set on the child process only, so one
//! space's dotenv never leaks into another space's commands.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use crate::diagnostic::{Code, Diagnostic};
use crate::ext::VenvCx;
use crate::model::Project;

/// Variables to set on top of the inherited environment, in order.
pub type EnvVars = Vec<(OsString, OsString)>;

impl Project {
    /// The distributions installed for a space's commands (its venv's, or
    /// the active environment's). Reads the disk on every call.
    pub fn installed(&self, space: &str) -> Result<crate::hashing::pydist::Installed, Diagnostic> {
        match self.site_packages(space)? {
            Some(dirs) => Ok(crate::hashing::pydist::Installed::read(dirs)),
            None => crate::hashing::pydist::Installed::active(),
        }
    }

    /// The versions a space's venv's lock pins (see
    /// [`VenvSpec::locked_versions`](crate::ext::VenvSpec::locked_versions)).
    pub fn locked_versions(
        &self,
        space: &str,
    ) -> Result<Option<BTreeMap<String, String>>, Diagnostic> {
        match self.venv_of(space)? {
            Some((venv, owner)) => venv.spec.locked_versions(&VenvCx {
                project: self,
                space: owner,
            }),
            None => Ok(None),
        }
    }

    /// The site-packages directories of a space's venv; `None` when its
    /// commands use the active environment.
    pub fn site_packages(
        &self,
        space: &str,
    ) -> Result<Option<Vec<std::path::PathBuf>>, Diagnostic> {
        Ok(self.venv_of(space)?.and_then(|(venv, owner)| {
            venv.spec.site_packages(&VenvCx {
                project: self,
                space: owner,
            })
        }))
    }

    /// The variables a command of `space` gets on top of qik's environment.
    pub fn environment(&self, space: &str) -> Result<EnvVars, Diagnostic> {
        let mut vars: BTreeMap<OsString, OsString> = BTreeMap::new();
        if let Some((venv, owner)) = self.venv_of(space)? {
            let cx = VenvCx {
                project: self,
                space: owner,
            };
            vars.extend(venv.spec.environ(&cx));
        }
        let dotenv = self.space(space).and_then(|s| s.dotenv.as_ref()).or(self
            .config
            .defaults
            .dotenv
            .as_ref());
        for file in dotenv.into_iter().flatten() {
            for (key, value) in read_dotenv(&self.config.root, file)? {
                vars.insert(key.into(), value.into());
            }
        }
        Ok(vars.into_iter().collect())
    }
}

/// Reads one dotenv file (relative to the project root).
pub fn read_dotenv(root: &Path, file: &str) -> Result<Vec<(String, String)>, Diagnostic> {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).map_err(|err| {
        Diagnostic::error(
            Code::DotenvNotFound,
            format!("cannot read dotenv file {file}: {err}"),
        )
        .with_hint("create the file, or remove it from the space's `dotenv` list")
    })?;
    let mut vars = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => vars.push(pair),
            Err(dotenvy::Error::LineParse(line, index)) => {
                let number = text
                    .lines()
                    .position(|l| l.trim_end() == line.trim_end() || l.contains(line.as_str()))
                    .map_or(0, |n| n + 1);
                return Err(Diagnostic::error(
                    Code::DotenvNotFound,
                    format!(
                        "{file}:{number}: cannot parse `{line}` (at column {})",
                        index + 1
                    ),
                )
                .with_hint(
                    "dotenv lines look like KEY=value, KEY=\"quoted value\" or export KEY=value",
                ));
            }
            Err(err) => {
                return Err(Diagnostic::error(
                    Code::DotenvNotFound,
                    format!("cannot read dotenv file {file}: {err}"),
                ));
            }
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_comments_quotes_export_and_empty_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "# a comment\nA=1\nexport B=\"two words\"\nC=\nD='single # not a comment'\n",
        )
        .unwrap();
        let vars = read_dotenv(dir.path(), ".env").unwrap();
        assert_eq!(
            vars,
            [
                ("A".to_string(), "1".to_string()),
                ("B".into(), "two words".into()),
                ("C".into(), String::new()),
                ("D".into(), "single # not a comment".into()),
            ]
        );
    }

    #[test]
    fn missing_and_malformed_files_are_errors_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dotenv(dir.path(), "nope.env").unwrap_err();
        assert!(err.message.contains("nope.env"), "{}", err.message);
        std::fs::write(dir.path().join("bad.env"), "A=1\nB C D\n").unwrap();
        let err = read_dotenv(dir.path(), "bad.env").unwrap_err();
        assert!(err.message.starts_with("bad.env:2:"), "{}", err.message);
    }
}
