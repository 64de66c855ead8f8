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

/// What a run changed in the repo cache.
#[derive(Debug, Default)]
pub struct Changes {
    /// Directories of the entries written.
    pub written: Vec<PathBuf>,
    /// Files of the entries pruned (gone from disk).
    pub pruned: Vec<PathBuf>,
    /// Files that runnables of the repo cache wrote under `.qik/` (a plugin's
    /// lock files): the entries do not copy them, so git must track them, or
    /// a clone replays an entry whose artifact is missing.
    pub artifacts: Vec<PathBuf>,
}

/// `git add -N` the files of freshly written entries and the artifacts they
/// leave under `.qik/`, and forget the files of pruned entries, once per run.
pub fn register(root: &Path, changes: &Changes) -> Result<(), RepoError> {
    let entry_dirs = &changes.written;
    // `.gitattributes` is written atomically beside itself.
    crate::fsutil::staging::sweep(root, |name| {
        name.starts_with(crate::fsutil::staging::WRITE_PREFIX)
    });
    ensure_attributes(root)?;
    let mut files = changes.artifacts.clone();
    for dir in entry_dirs {
        let entries = std::fs::read_dir(dir).map_err(|source| RepoError::List {
            dir: dir.clone(),
            source,
        })?;
        files.extend(entries.flatten().map(|e| e.path()));
    }
    files.push(root.join(".gitattributes"));
    git(root, &["add", "--intent-to-add", "--"], &files)?;
    forget_pruned(root, &changes.pruned)?;
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

/// Takes the files of pruned entries out of the index when they were only
/// ever added with intent to add: otherwise they would linger there as
/// deleted files nobody made. A file committed before stays: its deletion is
/// a change to commit, like the new entry that replaces it.
fn forget_pruned(root: &Path, pruned: &[PathBuf]) -> Result<(), RepoError> {
    let relative: Vec<&str> = pruned
        .iter()
        .filter_map(|path| path.strip_prefix(root).ok()?.to_str())
        // Entry paths are slugs and hex digests; anything else is not ours.
        .filter(|path| !path.contains(['\n', '\0']))
        .collect();
    if relative.is_empty() {
        return Ok(());
    }
    let query: String = relative
        .iter()
        .map(|path| format!("HEAD:{path}\n"))
        .collect();
    let answers = git_with_input(root, &["cat-file", "--batch-check"], query.as_bytes())?;
    let answers = String::from_utf8_lossy(&answers);
    // One answer line per query line, in order; "<name> missing" when HEAD
    // (or the repository's first commit) does not have it.
    let never_committed: Vec<&str> = relative
        .iter()
        .zip(answers.lines())
        .filter(|(_, answer)| answer.ends_with(" missing"))
        .map(|(path, _)| *path)
        .collect();
    if never_committed.is_empty() {
        return Ok(());
    }
    let list: Vec<u8> = never_committed
        .iter()
        .flat_map(|path| path.bytes().chain([0]))
        .collect();
    git_with_input(
        root,
        &[
            "rm",
            "--cached",
            "--quiet",
            "--ignore-unmatch",
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ],
        &list,
    )?;
    Ok(())
}

/// Runs git with `input` on its stdin; returns its stdout.
fn git_with_input(root: &Path, args: &[&str], input: &[u8]) -> Result<Vec<u8>, RepoError> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(root)
        // Paths are file names, never patterns.
        .env("GIT_LITERAL_PATHSPECS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RepoError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped");
    // Written from a thread: git answers while it reads, and a long answer
    // would fill its stdout pipe while we still write.
    let output = std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
    .map_err(RepoError::Spawn)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(RepoError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
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
