//! The graph of real packages equals grimp's (`grimp_graph.py` prints
//! grimp's graph in our json shape). grimp and the packages' wheels come
//! from the harness's tools (`support::tools::grimp_dir`).

use std::path::{Path, PathBuf};
use std::process::Command;

use qik_pygraph::{BuildOptions, build, python_files};

use crate::support::tests_file;
use crate::support::tools::grimp_dir;

/// The unpacked wheel of `package` (e.g. `Django-5.1.4`).
fn unpacked(prefix: &str) -> PathBuf {
    let src = grimp_dir().join("src");
    std::fs::read_dir(&src)
        .expect("src dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("{prefix} is unpacked in {}", src.display()))
}

fn grimp_json(root: &Path, flags: &[&str]) -> String {
    let out = Command::new(grimp_dir().join("venv/bin/python"))
        .arg(tests_file("it/pygraph/grimp_graph.py"))
        .arg(root)
        .args(flags)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn ours_json(root: &Path, options: BuildOptions) -> String {
    let (files, warnings) = python_files(root, ".");
    assert!(warnings.is_empty(), "{warnings:?}");
    let built = build(root, ".", &files, None, &options).unwrap_or_else(|e| panic!("{e}"));
    built.graph.to_json()
}

/// Same modules and edges, reported by name when they differ.
fn assert_same(ours: &str, grimp: &str) {
    let named = |text: &str| {
        let g = qik_pygraph::Graph::from_json(text, ".").expect("a graph");
        let names: Vec<String> = g
            .modules()
            .iter()
            .map(|m| format!("{}{}", if m.internal { "" } else { "!" }, m.name))
            .collect();
        let edges: std::collections::BTreeSet<String> = g
            .edges()
            .iter()
            .map(|&(a, b)| format!("{} -> {}", names[a as usize], names[b as usize]))
            .collect();
        (
            names.into_iter().collect::<std::collections::BTreeSet<_>>(),
            edges,
        )
    };
    let (om, oe) = named(ours);
    let (gm, ge) = named(grimp);
    if (&om, &oe) == (&gm, &ge) {
        return;
    }
    panic!(
        "graphs differ\nmodules only ours: {:?}\nmodules only grimp: {:?}\nedges only ours: {:?}\nedges only grimp: {:?}",
        om.difference(&gm).take(20).collect::<Vec<_>>(),
        gm.difference(&om).take(20).collect::<Vec<_>>(),
        oe.difference(&ge).take(20).collect::<Vec<_>>(),
        ge.difference(&oe).take(20).collect::<Vec<_>>(),
    );
}

#[test]
fn django_equals_grimp_in_every_mode() {
    let root = unpacked("Django-");
    for (flags, options) in [
        (&[][..], BuildOptions::default()),
        (
            &["--ignore-type-checking"][..],
            BuildOptions {
                ignore_type_checking: true,
                ignore_pydists: false,
            },
        ),
        (
            &["--no-external"][..],
            BuildOptions {
                ignore_type_checking: false,
                ignore_pydists: true,
            },
        ),
    ] {
        assert_same(&ours_json(&root, options), &grimp_json(&root, flags));
    }
}

#[test]
fn flask_equals_grimp() {
    let root = unpacked("flask-");
    let ours = ours_json(&root, BuildOptions::default());
    assert_same(&ours, &grimp_json(&root, &[]));
    // The orphan `flask/sansio/` (no `__init__.py`) is not walked.
    assert!(!ours.contains("flask.sansio"));
}
