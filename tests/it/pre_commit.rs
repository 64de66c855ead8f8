//! The hooks this repository ships for pre-commit, run by the real
//! pre-commit on a sample repository, from a cold pre-commit home: the
//! `language: python` hooks that install qik's wheel, as users run them.
//! Their `language: rust` twins build qik with cargo (minutes from cold);
//! they are checked to stay twins of the tested hooks, not built here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::tools::{pre_commit_dir, qik_wheel_dir, setuptools_wheel_dir};
use crate::support::{Project, git};

/// This repository's tracked files as they are in the working tree,
/// committed in a repository of their own under `dir`: what pre-commit
/// clones for `repo:`. Returns the repository and its commit.
fn hooks_repository(dir: &Path) -> (PathBuf, String) {
    let source = crate::support::workspace_root();
    let copy = dir.join("hooks-repo");
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
    git(
        &copy,
        &[
            "-c",
            "user.name=qik tests",
            "-c",
            "user.email=tests@qik.invalid",
            "commit",
            "-q",
            "-m",
            "hooks",
        ],
    );
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

/// `python3 -m pre_commit <args>` in `project`, with pre-commit's home in
/// `home` and pip offline: the wheels it may install are qik's (built by
/// maturin, as a release does) and setuptools (to build this repository's
/// pre-commit package).
fn pre_commit(project: &Project, home: &Path, args: &[&str]) -> (i32, String) {
    let find_links = format!(
        "{} {}",
        qik_wheel_dir().display(),
        setuptools_wheel_dir().display()
    );
    let output = Command::new("python3")
        .arg("-m")
        .arg("pre_commit")
        .args(args)
        .current_dir(&project.root)
        .env("PYTHONPATH", pre_commit_dir())
        .env("PRE_COMMIT_HOME", home)
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", find_links)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
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
fn the_wheel_hooks_install_in_seconds_lint_imports_and_run_commands() {
    let scratch = tempfile::tempdir().unwrap();
    let (repo, rev) = hooks_repository(scratch.path());
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
    // What docs/install.md tells users to write.
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

    // The wheel is built before the clock starts: users download it.
    qik_wheel_dir();
    setuptools_wheel_dir();
    let home = scratch.path().join("pre-commit-home");
    let started = Instant::now();
    let (code, output) = pre_commit(&project, &home, &["install-hooks"]);
    let install = started.elapsed();
    assert_eq!(code, 0, "{output}");
    eprintln!("pre-commit's first install of the hooks took {install:.1?}");
    // A build from source takes minutes; the wheel, seconds (a loaded
    // machine gets some slack).
    assert!(
        install < Duration::from_secs(90),
        "the first install took {install:.1?}: {output}"
    );

    let (code, output) = pre_commit(&project, &home, &["run", "--all-files", "--verbose"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("qik import lint"), "{output}");
    assert!(
        output.contains("core.a imports web (core/a.py:2)"),
        "{output}"
    );
    assert!(output.contains("linted"), "the command hook ran: {output}");

    project.write("core/a.py", "import os\n");
    project.commit_all();
    let (code, output) = pre_commit(&project, &home, &["run", "--all-files", "--verbose"]);
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("Failed"), "{output}");
}

/// The manifest passes pre-commit's own check, and every hook has its twin
/// in the other language that differs only in how qik is installed.
#[test]
fn each_hook_has_a_twin_built_from_source() {
    let manifest = crate::support::workspace_root().join(".pre-commit-hooks.yaml");
    let validate = Command::new("python3")
        .args(["-m", "pre_commit", "validate-manifest"])
        .arg(&manifest)
        .env("PYTHONPATH", pre_commit_dir())
        .output()
        .expect("python3 runs");
    assert!(
        validate.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    let script = r#"
import sys, yaml
hooks = {hook["id"]: hook for hook in yaml.safe_load(open(sys.argv[1]))}
problems = []
for id, hook in hooks.items():
    if hook["language"] == "rust":
        if id.removesuffix("-rust") not in hooks or not id.endswith("-rust"):
            problems.append(f"{id}: a rust hook without its python twin")
        continue
    twin = hooks.get(id + "-rust")
    if hook["language"] != "python" or twin is None or twin["language"] != "rust":
        problems.append(f"{id}: not a python hook with a rust twin `{id}-rust`")
        continue
    if twin["entry"] != hook["entry"].replace("qik", "qik-pre-commit", 1):
        problems.append(f"{id}: entries differ: {hook['entry']!r}, {twin['entry']!r}")
    if twin["name"] != hook["name"]:
        problems.append(f"{id}: names differ")
    for key in (hook.keys() | twin.keys()) - {"id", "name", "description", "language", "entry"}:
        if hook.get(key) != twin.get(key):
            problems.append(f"{id}: `{key}` differs: {hook.get(key)!r}, {twin.get(key)!r}")
print("\n".join(problems))
sys.exit(1 if problems else 0)
"#;
    let check = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&manifest)
        .env("PYTHONPATH", pre_commit_dir())
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
