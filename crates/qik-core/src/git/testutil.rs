//! Test helpers: running the real `git` and building a repository full of awkward file names.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use tempfile::TempDir;

/// Files committed to the fixture's index (and, unless listed below, left in the work tree).
pub(crate) const FILES: &[&str] = &[
    "a.py",
    "a.pyc",
    "b.py",
    "ab.py",
    "UPPER.PY",
    "README.md",
    "readme.txt",
    "Makefile",
    ".hidden",
    ".config/settings.toml",
    ".github/workflows/ci.yml",
    "src/main.py",
    "src/a.py",
    "src/util/__init__.py",
    "src/util/helpers.py",
    "src/util/gone.py",
    "src/util/data.json",
    "src2/x.py",
    "src-old/y.py",
    "srcfile",
    "src.txt",
    "a/b.py",
    "deep/x.py",
    "deep/a/b/c/d.py",
    "deep/a/b/c/e.txt",
    "deep/a/b/f.py",
    "deep/a/c/g.py",
    "docs/index.md",
    "docs/api/v1.md",
    "Docs/Upper.MD",
    "with space/file name.txt",
    "with space/other.py",
    "quote\"d.txt",
    "single'quote.txt",
    "ünïcödé/文件.py",
    "emoji😀.md",
    "brackets/[abc].txt",
    "brackets/a.txt",
    "brackets/b.txt",
    "brackets/[!x].txt",
    "brackets/]close.txt",
    "star*name.txt",
    "q?mark.txt",
    "back\\slash.txt",
    "-dash.txt",
    "colon:name.txt",
    ":leading-colon.txt",
    "paren(1).txt",
    "hash#name.txt",
    "comma,name.txt",
    "tab\there.txt",
    "new\nline.txt",
    "run.sh",
    "deleted.py",
    "sub/other.py",
    "sub/proj/main.py",
    "sub/proj/lib/x.py",
    "sub/proj/lib/y.txt",
    "sub/proj/data.csv",
    "sub/proj/.env",
    "sub/proj2/z.py",
    "sub/proj[1]/w.py",
    "sub/proj[1]/v.txt",
];

/// Added with `git add -N` after everything else.
pub(crate) const INTENT_TO_ADD: &[&str] = &["ita.py", "src/ita_new.py"];
/// Removed from the work tree after being added.
pub(crate) const DELETED: &[&str] = &["deleted.py", "src/util/gone.py"];
/// Rewritten after being added.
pub(crate) const MODIFIED: &[&str] = &["a.py"];
/// A symlink added next to the files: `link -> a.py`.
pub(crate) const SYMLINK: &str = "link";
/// Added with the executable bit.
pub(crate) const EXECUTABLE: &str = "run.sh";

/// A `git` command in `dir` that ignores the caller's environment and config.
pub(crate) fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_CEILING_DIRECTORIES",
        "GIT_LITERAL_PATHSPECS",
        "GIT_GLOB_PATHSPECS",
        "GIT_NOGLOB_PATHSPECS",
        "GIT_ICASE_PATHSPECS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LC_ALL", "C")
        .args(["-c", "core.quotepath=off"])
        .args(["-c", "user.name=qik"])
        .args(["-c", "user.email=qik@example.invalid"])
        .args(["-c", "init.defaultBranch=main"]);
    cmd
}

/// Runs git with `args` in `dir` and returns its output, whatever its exit status.
pub(crate) fn try_run<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Output {
    git(dir).args(args).output().expect("cannot run git")
}

/// Runs git with `args` in `dir`, failing the test if it fails, and returns its stdout.
pub(crate) fn run<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Vec<u8> {
    let out = try_run(dir, args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "git {shown:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Splits NUL-terminated output (`-z`) into a set of paths.
pub(crate) fn nul_set(out: &[u8]) -> BTreeSet<Vec<u8>> {
    out.split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// What `git -C <dir> ls-files -z --full-name -- <patterns>` lists, or `None` if git refuses.
pub(crate) fn ls_files(dir: &Path, patterns: &[&[u8]]) -> Option<BTreeSet<Vec<u8>>> {
    let mut args: Vec<&OsStr> = ["ls-files", "-z", "--full-name", "--"]
        .into_iter()
        .map(OsStr::new)
        .collect();
    args.extend(patterns.iter().map(|p| OsStr::from_bytes(p)));
    let out = try_run(dir, &args);
    out.status.success().then(|| nul_set(&out.stdout))
}

pub(crate) fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(&path, content).expect("write file");
}

/// Moves a file's mtime into the past so that an index written now does not find it racy.
pub(crate) fn age(path: &Path, by: Duration) {
    let file = fs::File::options()
        .write(true)
        .open(path)
        .expect("open to set mtime");
    file.set_modified(SystemTime::now() - by)
        .expect("set mtime");
}

/// A temporary repository holding [`FILES`] and the other special entries.
pub(crate) struct Fixture {
    dir: TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        run(root, &["init", "-q"]);
        for rel in FILES {
            write(root, rel, format!("content of {rel}\n").as_bytes());
            age(&root.join(rel), Duration::from_secs(1000));
        }
        std::os::unix::fs::symlink("a.py", root.join(SYMLINK)).expect("symlink");
        // std cannot set a symlink's own mtime; without this it would be racy in the new index.
        let past = SystemTime::now() - Duration::from_secs(1000);
        let secs = past
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let status = Command::new("touch")
            .arg("-h")
            .arg("-d")
            .arg(format!("@{secs}"))
            .arg(root.join(SYMLINK))
            .status()
            .expect("run touch");
        assert!(status.success());
        let exe = root.join(EXECUTABLE);
        let mut perms = fs::metadata(&exe).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&exe, perms).expect("chmod");
        run(root, &["add", "-A"]);
        for rel in INTENT_TO_ADD {
            write(root, rel, b"not staged yet\n");
        }
        let mut add_n = vec!["add", "-N", "--"];
        add_n.extend(INTENT_TO_ADD);
        run(root, &add_n);
        for rel in DELETED {
            fs::remove_file(root.join(rel)).expect("delete");
        }
        for rel in MODIFIED {
            write(root, rel, b"modified after it was added, and longer\n");
        }
        Self { dir }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
}
