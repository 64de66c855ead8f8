//! The plugins compiled into `qik` are exactly the ones its cargo features
//! ask for. CI runs this target alone under every feature set, and once
//! against the release binary built with LTO (see `.ci/run`): it is kept
//! small and self-contained so that each run compiles only this file.
//!
//! The binary is `qik` of this build, or the one `QIK_REGISTRY_BIN` names
//! (built with the same features as this test, e.g. in release).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ALL: [(&str, bool); 4] = [
    ("qik.pygraph", cfg!(feature = "pygraph")),
    ("qik.reapi", cfg!(feature = "reapi")),
    ("qik.s3", cfg!(feature = "s3")),
    ("qik.uv", cfg!(feature = "uv")),
];

fn qik_bin() -> PathBuf {
    std::env::var_os("QIK_REGISTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_qik").into())
}

/// `qik --ls` in a fresh git repository whose qik.toml is `config`.
fn ls(config: &str) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status()
        .expect("git runs");
    assert!(git.success(), "git init");
    std::fs::write(root.join("qik.toml"), config).expect("write qik.toml");
    run(root, &["--ls"])
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(qik_bin())
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("NO_COLOR", "1")
        .output()
        .expect("qik runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_error(output: &Output, parts: &[&str]) {
    let stderr = text(&output.stderr);
    // 78: a configuration error (docs/cli.md).
    assert_eq!(output.status.code(), Some(78), "expected exit 78: {stderr}");
    for part in parts {
        assert!(stderr.contains(part), "stderr lacks {part:?}:\n{stderr}");
    }
}

#[test]
fn compiled_plugins_are_exactly_the_enabled_features() {
    let output = ls("[plugins]\nx = \"qik.nope\"\n\n[commands]\na = \"echo a\"\n");
    assert_error(
        &output,
        &[
            "[conf6]",
            "plugin \"qik.nope\" is not compiled into this qik",
            "qik.toml:2:5",
        ],
    );
    let stderr = text(&output.stderr);
    let hint = stderr
        .lines()
        .find(|line| line.contains("hint:"))
        .expect("a hint line");
    for (id, compiled) in ALL {
        assert_eq!(
            hint.contains(&format!("\"{id}\"")),
            compiled,
            "{id} compiled={compiled}, hint: {hint}"
        );
    }
}

#[test]
fn each_compiled_plugin_can_be_enabled_and_others_cannot() {
    for (id, compiled) in ALL {
        let name = id.trim_start_matches("qik.");
        let output = ls(&format!(
            "[plugins]\n{name} = \"{id}\"\n\n[commands]\na = \"echo a\"\n"
        ));
        if compiled {
            assert!(output.status.success(), "{id}: {}", text(&output.stderr));
            assert_eq!(text(&output.stdout), "a\n");
        } else {
            assert_error(&output, &["[conf6]", id]);
        }
    }
}

#[test]
fn plugin_table_form_takes_its_own_keys() {
    if !cfg!(feature = "uv") {
        return;
    }
    let output = ls(
        "[plugins.uv]\npyimport = \"qik.uv\"\npython = \"3.12\"\n\n[commands]\na = \"echo a\"\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = ls("[plugins.uv]\npyimport = \"qik.uv\"\npyton = \"3.12\"\n");
    assert_error(
        &output,
        &["[conf1]", "qik.toml:3:1", "did you mean `python`"],
    );
}
