//! The hooks this repository ships for pre-commit, run by the real
//! pre-commit on a sample repository: pre-commit builds qik from this
//! repository with cargo (`language: rust`) and runs the hooks.

use std::path::PathBuf;
use std::process::Command;

use crate::support::tools::{pre_commit_dir, tools_dir};
use crate::support::{Project, git};

/// This repository's tracked files as they are in the working tree,
/// committed in a repository of their own with fixed dates: the same
/// sources give the same commit, so pre-commit reuses the environment it
/// built for them, and a change gets a new one.
fn hooks_repository() -> (PathBuf, String) {
    let source = crate::support::workspace_root();
    let copy = tools_dir().join("pre-commit-hooks-repo");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--cached"])
        .current_dir(source)
        .output()
        .expect("git runs");
    assert!(listed.status.success());
    for path in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = std::str::from_utf8(path).expect("utf-8 paths");
        let from = source.join(path);
        // A file staged for deletion is gone from the working tree.
        if from.is_file() {
            let to = copy.join(path);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    git(&copy, &["init", "-q"]);
    git(&copy, &["add", "-A"]);
    let commit = Command::new("git")
        .args(["commit", "-q", "-m", "hooks"])
        .current_dir(&copy)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_AUTHOR_NAME", "qik tests")
        .env("GIT_COMMITTER_NAME", "qik tests")
        .env("GIT_AUTHOR_EMAIL", "tests@qik.invalid")
        .env("GIT_COMMITTER_EMAIL", "tests@qik.invalid")
        .status()
        .expect("git runs");
    assert!(commit.success());
    let rev = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&copy)
        .output()
        .unwrap();
    (
        copy,
        String::from_utf8_lossy(&rev.stdout).trim().to_string(),
    )
}

/// `pre-commit run --all-files` in `project`.
fn pre_commit_run(project: &Project) -> (i32, String) {
    let output = Command::new("python3")
        .args(["-m", "pre_commit", "run", "--all-files", "--verbose"])
        .current_dir(&project.root)
        .env("PYTHONPATH", pre_commit_dir())
        .env("PRE_COMMIT_HOME", tools_dir().join("pre-commit-home"))
        // The build only has to run the hooks: quick to compile, kept
        // between runs, apart from the workspace's (cargo test holds it).
        .env("CARGO_TARGET_DIR", tools_dir().join("pre-commit-target"))
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_PANIC", "unwind")
        .env_remove("QIK_COMPLETE")
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn the_hooks_lint_imports_and_run_commands() {
    // The hooks repository and pre-commit's home are shared by every test
    // process on the machine (that is what keeps pre-commit's build warm):
    // one at a time, or a second process deletes the first one's repository.
    std::fs::create_dir_all(tools_dir()).expect("create the tools dir");
    let lock = std::fs::File::create(tools_dir().join("pre-commit.lock")).expect("lock file");
    lock.lock().expect("lock the shared pre-commit directories");
    let (repo, rev) = hooks_repository();
    let project = Project::with_config(
        r#"[plugins]
pygraph = "qik.pygraph"

[spaces.core]
modules = ["core"]
fence = true

[spaces.web]
modules = ["web"]

[commands]
lint = {exec = "echo linted", deps = ["core/**"]}
"#,
    );
    project.write(
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n-   repo: {}\n    rev: {rev}\n    hooks:\n    -   id: qik-pygraph-check\n    -   id: qik\n        args: [lint, -v, '2']\n",
            repo.display()
        ),
    );
    project.write("core/__init__.py", "");
    project.write("core/a.py", "import os\nimport web\n");
    project.write("web/__init__.py", "import core\n");
    project.commit_all();

    let (code, output) = pre_commit_run(&project);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("qik import lint"), "{output}");
    assert!(
        output.contains("core.a imports web (core/a.py:2)"),
        "{output}"
    );
    assert!(output.contains("linted"), "the command hook ran: {output}");

    project.write("core/a.py", "import os\n");
    project.commit_all();
    let (code, output) = pre_commit_run(&project);
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("Failed"), "{output}");
}
