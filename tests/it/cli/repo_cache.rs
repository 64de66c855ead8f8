//! The repo cache and the git index: entries come in with intent to add,
//! and the ones a newer entry replaces leave the index with their files.

use crate::support::Project;

const CONFIG: &str =
    "[commands.report]\nexec = \"cat src.txt\"\ndeps = [\"src.txt\"]\ncache = \"repo\"\n";

fn project() -> Project {
    let p = Project::with_config(CONFIG);
    p.write("src.txt", "1\n");
    p.commit_all();
    p
}

/// The index entries under `.qik/cache`, sorted.
fn indexed(p: &Project) -> Vec<String> {
    let mut files: Vec<String> = p
        .git(&["ls-files", "--", ".qik/cache"])
        .lines()
        .map(str::to_string)
        .collect();
    files.sort();
    files
}

/// The files of the entries on disk, as paths from the root, sorted.
fn on_disk(p: &Project) -> Vec<String> {
    let mut files = Vec::new();
    crate::support::walk(&p.root.join(".qik/cache"), &mut |path| {
        let relative = path.strip_prefix(&p.root).unwrap();
        files.push(relative.to_string_lossy().into_owned());
    });
    files.sort();
    files
}

#[test]
fn a_replaced_entry_leaves_the_index_with_its_files() {
    let p = project();
    p.qik(".", &["report"], &[]).assert_ok();
    let first = on_disk(&p);
    assert_eq!(first.len(), 2, "a manifest and a log: {first:?}");
    assert_eq!(indexed(&p), first, "added with intent to add");

    // A new input: a new entry, and the old one is pruned (the repo cache
    // keeps one per runnable).
    p.write("src.txt", "2\n");
    p.qik(".", &["report"], &[]).assert_ran("report");
    let second = on_disk(&p);
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(first.iter().all(|file| !second.contains(file)));
    assert_eq!(
        indexed(&p),
        second,
        "the pruned entry's files left the index"
    );
    assert_eq!(p.git(&["ls-files", "--deleted"]), "");
    let status = p.git(&["status", "--porcelain", "--untracked-files=no"]);
    assert!(
        status.lines().all(|line| !line.contains('D')),
        "nothing deleted: {status}"
    );

    // Committed, then replaced: the deletion is a change to commit like any
    // other, and committing everything leaves exactly the newest entry.
    p.git(&["add", "-A", "--", ".qik"]);
    p.commit_all();
    p.write("src.txt", "3\n");
    p.qik(".", &["report"], &[]).assert_ran("report");
    let third = on_disk(&p);
    let status = p.git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--no-renames",
    ]);
    for file in &second {
        assert!(
            status.lines().any(|line| line == format!(" D {file}")),
            "{file} is a tracked deletion: {status}"
        );
    }
    p.git(&["commit", "-q", "-a", "-m", "cache"]);
    assert_eq!(
        p.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert_eq!(indexed(&p), third);
    let committed = p.git(&["ls-tree", "-r", "--name-only", "HEAD", "--", ".qik/cache"]);
    let mut committed: Vec<&str> = committed.lines().collect();
    committed.sort();
    assert_eq!(committed, third);
}
