//! qik as Python teams install it: the wheel `cargo xtask release` builds
//! (here packed by the same maturin from the test build's binaries) goes
//! into a fresh venv with pip, or becomes a uv tool, without an index; the
//! installed `qik` then runs the example monorepo.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::tools::{qik_wheel_dir, uv_dir, uv_env};
use crate::support::{Project, Run, run_bin, workspace_root};

fn wheel() -> PathBuf {
    let wheels: Vec<PathBuf> = std::fs::read_dir(qik_wheel_dir())
        .expect("the wheel dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "one wheel: {wheels:?}");
    wheels[0].clone()
}

/// The example monorepo of the README (its tracked files only: a run of
/// the README's command leaves a cache beside them), committed in a fresh
/// repository.
pub(crate) fn example_monorepo() -> Project {
    let listed = Command::new("git")
        .args(["ls-files", "-z", "examples/monorepo"])
        .current_dir(workspace_root())
        .output()
        .expect("git runs");
    let project = Project::new();
    for path in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = std::str::from_utf8(path).expect("utf-8 paths");
        let text = std::fs::read_to_string(workspace_root().join(path)).expect("read");
        project.write(path.trim_start_matches("examples/monorepo/"), &text);
    }
    assert!(
        project.root.join("qik.toml").is_file(),
        "the example is tracked"
    );
    project.commit_all();
    project
}

/// The example monorepo run twice by the installed `qik` found through
/// PATH (`bin`).
fn runs_the_example_monorepo(bin: &Path) {
    let project = example_monorepo();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    // One worker: each runnable says whether it ran or was replayed.
    let first = run_bin(&bin.join("qik"), &project.root, &["-n", "1"], &env);
    first.assert_ok();
    for name in ["lint#greet", "test#shout", "check-all"] {
        first.assert_ran(name);
    }
    let second = run_bin(&bin.join("qik"), &project.root, &["-n", "1"], &env);
    second.assert_ok();
    for name in ["lint#greet", "test#shout", "check-all"] {
        second.assert_cached(name);
    }
}

#[track_caller]
fn reports_its_version(bin: &Path) {
    for name in ["qik", "qikx"] {
        let version: Run = run_bin(&bin.join(name), bin, &["--version"], &[]);
        version.assert_ok();
        assert_eq!(
            version.stdout.trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION")),
            "{version:#?}"
        );
    }
}

#[test]
fn pip_installs_the_wheel_into_a_fresh_venv() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "python3 -m venv failed");
    let install = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--no-index", "--quiet"])
        .arg(wheel())
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .expect("pip runs");
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let bin = venv.join("bin");
    reports_its_version(&bin);
    runs_the_example_monorepo(&bin);
}

#[test]
fn uv_tool_installs_the_wheel() {
    let dir = tempfile::tempdir().unwrap();
    let (tools, bin) = (dir.path().join("tools"), dir.path().join("bin"));
    let no_index = dir.path().join("no-wheels");
    std::fs::create_dir_all(&no_index).unwrap();
    let install = Command::new(uv_dir().join("uv"))
        .args(["tool", "install"])
        .arg(wheel())
        .envs(uv_env(&no_index))
        .env("UV_TOOL_DIR", &tools)
        .env("UV_TOOL_BIN_DIR", &bin)
        .output()
        .expect("uv runs");
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    reports_its_version(&bin);
    runs_the_example_monorepo(&bin);
}
