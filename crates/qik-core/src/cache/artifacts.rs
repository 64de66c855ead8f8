//! Finding a command's artifacts in the working tree after it ran.
//!
//! Artifacts are usually not tracked by git (coverage reports, build output),
//! so they are found on disk, with the same pattern rules as deps: `*` also
//! crosses `/`, and a directory stands for everything below it. Only the
//! directory named by a pattern's literal prefix is walked.

use std::fs;
use std::path::{Path, PathBuf};

use crate::git::{PathspecError, PathspecSet};

/// Files (relative to `root`, `/`-separated) matched by the artifact patterns.
pub fn find(root: &Path, patterns: &[String]) -> Result<Vec<String>, PathspecError> {
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let set = PathspecSet::new(patterns.iter().map(String::as_bytes), b"")?;
    let mut found = Vec::new();
    let mut walked: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let start = walk_start(pattern);
        // Walk each subtree once, even when several patterns share it.
        if walked.iter().any(|w| start.starts_with(w)) {
            continue;
        }
        walked.retain(|w| !w.starts_with(&start));
        walked.push(start);
    }
    for start in walked {
        walk(root, &start, &set, &mut found);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The deepest directory a pattern cannot match outside of.
fn walk_start(pattern: &str) -> PathBuf {
    let literal_end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    let literal = &pattern[..literal_end];
    // A literal pattern may name a file or a directory: walk from its parent.
    let dir = match literal.rfind('/') {
        Some(slash) => &literal[..slash],
        None => "",
    };
    PathBuf::from(dir.trim_start_matches("./"))
}

fn walk(root: &Path, relative: &Path, set: &PathspecSet, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(root.join(relative)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // qik's own directories and git's are never artifacts.
        if relative.as_os_str().is_empty()
            && matches!(name.to_str(), Some(".git" | "._qik" | ".qik"))
        {
            continue;
        }
        let path = relative.join(&name);
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            walk(root, &path, set, found);
        } else if let Some(text) = path.to_str() {
            let text = text.replace(std::path::MAIN_SEPARATOR, "/");
            if set.matches(text.as_bytes()) {
                found.push(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_by_pattern_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "cov-a.xml",
            "build/x/y.js",
            "build/z.css",
            "src/keep.py",
            "._qik/cache/c",
        ] {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        let found = find(root, &["*-a.xml".into(), "build".into()]).unwrap();
        assert_eq!(found, ["build/x/y.js", "build/z.css", "cov-a.xml"]);
        assert_eq!(
            find(root, &["build/**.js".into()]).unwrap(),
            ["build/x/y.js"]
        );
        assert!(find(root, &["missing/*".into()]).unwrap().is_empty());
    }
}
