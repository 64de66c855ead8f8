//! The raw-import cache: rebuilds parse only what changed, and a broken
//! cache is a miss.

use crate::support::{Fixture, edges};

fn project() -> Fixture {
    Fixture::new(&[
        ("p/__init__.py", ""),
        ("p/a.py", "import p.b\n"),
        ("p/b.py", "import yaml\n"),
        ("p/c.py", "from p import a\n"),
    ])
}

#[test]
fn a_rebuild_parses_only_changed_files() {
    let f = project();
    let first = f.build();
    assert_eq!(first.parsed, 4);
    let again = f.build();
    assert_eq!(again.parsed, 0);
    assert_eq!(again.graph, first.graph);
    f.write("p/c.py", b"from p import b\n");
    let changed = f.build();
    assert_eq!(changed.parsed, 1);
    assert_eq!(
        edges(&changed.graph),
        ["p.a -> p.b", "p.b -> !yaml", "p.c -> p.b"]
    );
    // Same bytes as a file seen before: a hit by digest, even at a new path.
    f.write("p/d.py", b"import p.b\n");
    assert_eq!(f.build().parsed, 0);
}

#[test]
fn a_corrupt_cache_is_a_miss_with_a_warning() {
    let f = project();
    let first = f.build();
    let file = f.cache_dir().join("imports.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&file, &bytes).unwrap();
    let again = f.build();
    assert_eq!(again.parsed, 4);
    assert_eq!(again.graph, first.graph);
    assert!(
        again
            .warnings
            .iter()
            .any(|w| w.contains("unreadable import cache")),
        "{:?}",
        again.warnings
    );
    // Rewritten: the next build is clean.
    let third = f.build();
    assert_eq!(third.parsed, 0);
    assert!(third.warnings.is_empty(), "{:?}", third.warnings);
    std::fs::write(&file, b"garbage").unwrap();
    assert_eq!(f.build().parsed, 4);
}

#[test]
fn graph_json_round_trips_and_is_written_atomically() {
    let f = project();
    let graph = f.graph();
    let path = f.root().join("._qik/graph.json");
    graph.write_json(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        r#"{"modules":[["p",true],["p.a",true],["p.b",true],["p.c",true],["yaml",false]],"edges":[[1,2],[2,4],[3,1]]}"#
    );
    let back = qik_pygraph::Graph::read_json(&path, ".").unwrap();
    assert_eq!(back.modules(), graph.modules());
    assert_eq!(back.edges(), graph.edges());
    // Only graph.json in the directory: no temp files left behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}"); // graph.json and the cache dir
    std::fs::write(&path, r#"{"modules":[["a",true]],"edges":[[0,3]]}"#).unwrap();
    let err = qik_pygraph::Graph::read_json(&path, ".").unwrap_err();
    assert!(
        err.to_string().contains("an edge points past the modules"),
        "{err}"
    );
}
