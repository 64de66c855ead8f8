//! The repo cache's bond with git: entries are added with `git add -N` so they
//! show up in `git status` and get committed, `.gitattributes` marks them
//! generated, and a merge driver keeps our side of `.qik/` in merges.

use std::path::{Path, PathBuf};
use std::process::Command;

const ATTRIBUTES_LINE: &str = ".qik/** linguist-generated=true merge=qik";

/// Why the repo cache's new entries could not be registered with git.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("cannot list {}: {source}", dir.display())]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::fsutil::WriteError),
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("git {args} failed: {stderr}")]
    Git { args: String, stderr: String },
}

/// `git add -N` the files of freshly written entries, and `artifacts` (files
/// that runnables of the repo cache wrote under `.qik/`, which the entries
/// do not copy), once per run.
pub fn register(
    root: &Path,
    entry_dirs: &[PathBuf],
    artifacts: &[PathBuf],
) -> Result<(), RepoError> {
    ensure_attributes(root)?;
    let mut files = artifacts.to_vec();
    for dir in entry_dirs {
        let entries = std::fs::read_dir(dir).map_err(|source| RepoError::List {
            dir: dir.clone(),
            source,
        })?;
        files.extend(entries.flatten().map(|e| e.path()));
    }
    files.push(root.join(".gitattributes"));
    git(root, &["add", "--intent-to-add", "--"], &files)?;
    // "true" as a merge driver leaves our version in place: the repo cache
    // is rebuilt by running qik, never merged by hand.
    git(
        root,
        &[
            "config",
            "merge.qik.name",
            "keep qik's repo cache from this side",
        ],
        &[],
    )?;
    git(root, &["config", "merge.qik.driver", "true"], &[])?;
    Ok(())
}

fn ensure_attributes(root: &Path) -> Result<(), RepoError> {
    let path = root.join(".gitattributes");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current.lines().any(|line| line.trim() == ATTRIBUTES_LINE) {
        return Ok(());
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(ATTRIBUTES_LINE);
    text.push('\n');
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .map_err(crate::fsutil::WriteError::at(&path))?;
    Ok(())
}

fn git(root: &Path, args: &[&str], paths: &[PathBuf]) -> Result<(), RepoError> {
    let output = Command::new("git")
        .args(args)
        .args(paths)
        .current_dir(root)
        .output()
        .map_err(RepoError::Spawn)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RepoError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}
