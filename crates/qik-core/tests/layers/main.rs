//! The architecture's import rules, checked on the source text.
//!
//! Two rules (ARCHITECTURE.md, "Layers"):
//! - qik-core's files sit in ordered layers, and a file only uses files of
//!   its own layer or the layers before it;
//! - no crate of the workspace has a file-level import circle.
//!
//! A file uses another when its code names a path into it: `use` lines and
//! inline `crate::`, `super::`, `self::` or child-module paths. Comments,
//! strings and `#[cfg(test)]` items do not count, nor does a parent
//! re-exporting its own children (`pub use child::Item` is a facade, not a
//! use).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod scan;

use scan::{Crate, Edge};

/// qik-core's layers, lowest first: module paths (a folder stands for all
/// its files).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "text",
        &[
            "source_file",
            "diagnostic",
            "source",
            "ctx",
            "module",
            "template",
        ],
    ),
    ("leaves", &["fsutil", "git", "runner"]),
    (
        "storage",
        &[
            "hashing::files",
            "hashing::stat_cache",
            "hashing::pydist",
            "hashing::inputs",
            "hashing::encode",
            "cache",
            "cache::store",
            "cache::replays",
            "cache::repo",
            "cache::artifacts",
        ],
    ),
    ("extension API", &["ext"]),
    ("built-in types", &["builtin"]),
    ("config", &["config", "schema"]),
    ("model", &["model", "environment"]),
    (
        "hashing and graph",
        &["hashing", "graph", "changes", "explain"],
    ),
    ("selection", &["since", "plan", "shard"]),
    ("run", &["run", "events"]),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/qik-core is two levels down")
        .to_path_buf()
}

fn layer_of(module: &[String]) -> Option<usize> {
    let joined = module.join("::");
    let mut best: Option<(usize, usize)> = None;
    for (index, (_, prefixes)) in LAYERS.iter().enumerate() {
        for prefix in *prefixes {
            let matches = joined == *prefix || joined.starts_with(&format!("{prefix}::"));
            if matches && best.is_none_or(|(_, len)| prefix.len() > len) {
                best = Some((index, prefix.len()));
            }
        }
    }
    best.map(|(index, _)| index)
}

/// Arrows that point up the layers, as messages.
fn upward_edges(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for Edge { from, to, line } in &krate.edges {
        let (from_module, to_module) = (&krate.files[from], &krate.files[to]);
        let (Some(a), Some(b)) = (layer_of(from_module), layer_of(to_module)) else {
            continue;
        };
        if b > a {
            found.push(format!(
                "{from}:{line} ({}) uses {to} ({}), a higher layer",
                LAYERS[a].0, LAYERS[b].0
            ));
        }
    }
    found
}

#[test]
fn every_qik_core_file_has_a_layer() {
    let krate = Crate::read(&workspace_root().join("crates/qik-core/src"));
    let unplaced: Vec<&String> = krate
        .files
        .iter()
        .filter(|(file, module)| {
            !module.is_empty() && layer_of(module).is_none() && *file != "lib.rs"
        })
        .map(|(file, _)| file)
        .collect();
    assert!(
        unplaced.is_empty(),
        "files of qik-core without a layer (add them to LAYERS in this test and to ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn qik_core_files_only_use_their_layer_or_lower_ones() {
    let krate = Crate::read(&workspace_root().join("crates/qik-core/src"));
    let upward = upward_edges(&krate);
    assert!(
        upward.is_empty(),
        "arrows up the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_crate_of_the_workspace_has_an_import_circle() {
    let root = workspace_root();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/ lists")
        .map(|entry| entry.expect("a dir entry").path().join("src"))
        .collect();
    sources.push(root.join("xtask/src"));
    // The end-to-end tests crate: one test binary and its harness.
    sources.push(root.join("tests/it"));
    sources.retain(|dir| dir.is_dir());
    sources.sort();
    let mut report = BTreeMap::new();
    for dir in &sources {
        let circles = Crate::read(dir).circles();
        if !circles.is_empty() {
            report.insert(
                dir.strip_prefix(&root).unwrap_or(dir).to_path_buf(),
                circles,
            );
        }
    }
    assert!(report.is_empty(), "import circles: {report:#?}");
}

/// The checks themselves: a circle and an upward arrow are found, and the
/// things that are not uses are not counted.
mod checks {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> Crate {
        let dir = tempfile::tempdir().expect("a temp dir");
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        Crate::read(dir.path())
    }

    #[test]
    fn a_circle_through_use_lines_and_inline_paths_is_found() {
        let krate = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "pub struct B;\nfn f() { let _ = crate::c::C; }\n"),
            ("c.rs", "use crate::{x::y, a::{self, A}};\npub struct C;\n"),
        ]);
        let circles = krate.circles();
        assert_eq!(circles, vec![vec!["a.rs", "b.rs", "c.rs"]]);
    }

    #[test]
    fn comments_strings_tests_and_facades_are_not_uses() {
        let krate = crate_of(&[
            ("lib.rs", "mod a;\nmod b;\nmod d;\n"),
            (
                "a.rs",
                "//! See [`crate::b::B`].\n/* crate::b::B */\nconst S: &str = \"crate::b::B\";\nconst R: &str = r#\"crate::b\"#;\nfn f<'a>(x: &'a str) -> char { 'c' }\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n    fn g() { { } }\n}\npub struct A;\n",
            ),
            ("b.rs", "use crate::a::A;\npub struct B;\n"),
            ("d/mod.rs", "mod e;\npub use e::E;\n"),
            (
                "d/e.rs",
                "pub struct E;\nfn f() { let _ = super::super::a::A; }\n",
            ),
        ]);
        assert_eq!(krate.circles(), Vec::<Vec<String>>::new());
        let edges: BTreeSet<(String, String)> = krate
            .edges
            .iter()
            .map(|edge| (edge.from.clone(), edge.to.clone()))
            .collect();
        assert_eq!(
            edges,
            BTreeSet::from([
                ("b.rs".to_string(), "a.rs".to_string()),
                ("d/e.rs".to_string(), "a.rs".to_string()),
            ])
        );
    }

    #[test]
    fn a_parent_that_uses_its_child_which_uses_it_back_is_a_circle() {
        let krate = crate_of(&[
            ("lib.rs", "mod d;\n"),
            ("d/mod.rs", "mod e;\npub struct D;\nfn f() { e::g(); }\n"),
            ("d/e.rs", "use super::D;\npub fn g() {}\n"),
        ]);
        assert_eq!(krate.circles(), vec![vec!["d/e.rs", "d/mod.rs"]]);
    }

    #[test]
    fn an_arrow_up_the_layers_is_found() {
        let krate = crate_of(&[
            ("lib.rs", "mod diagnostic;\nmod model;\n"),
            ("diagnostic.rs", "use crate::model::Project;\n"),
            ("model.rs", "pub struct Project;\n"),
        ]);
        let upward = upward_edges(&krate);
        assert_eq!(upward.len(), 1, "{upward:?}");
        assert!(upward[0].starts_with("diagnostic.rs:1 (text) uses model.rs (model)"));
    }
}
