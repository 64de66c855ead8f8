//! docs/errors.md and the codes qik emits agree: every code has an entry
//! (the diagnostics name it), and no page of docs/ cites a code that does
//! not exist.

use std::collections::BTreeSet;
use std::path::Path;

use qik_core::diagnostic::Code;

fn docs_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs"))
}

/// Words shaped like a troubleshooting code: letters then digits
/// (`conf5`, `graph0`), in backticks or anchors.
fn cited_codes(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for piece in text.split(['`', '"']) {
        let letters = piece.trim_end_matches(|c: char| c.is_ascii_digit());
        let is_code = letters.len() < piece.len()
            && !letters.is_empty()
            && letters.chars().all(|c| c.is_ascii_lowercase());
        if is_code {
            found.insert(piece.to_string());
        }
    }
    found
}

#[test]
fn every_code_has_an_entry_and_the_docs_cite_no_other() {
    let known: BTreeSet<String> = Code::ALL.iter().map(|c| c.as_str().to_string()).collect();
    assert_eq!(known.len(), Code::ALL.len(), "codes are unique");
    let errors = std::fs::read_to_string(docs_dir().join("errors.md")).expect("docs/errors.md");
    for code in &known {
        assert!(
            errors.contains(&format!("<a id=\"{code}\"></a>")),
            "docs/errors.md has no entry for `{code}`"
        );
    }
    let troubleshooting_like = [
        "conf", "ctx", "exec", "dep", "space", "args", "graph", "since",
    ];
    for entry in std::fs::read_dir(docs_dir()).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read doc");
        for cited in cited_codes(&text) {
            let letters = cited.trim_end_matches(|c: char| c.is_ascii_digit());
            if troubleshooting_like.contains(&letters) {
                assert!(
                    known.contains(&cited),
                    "{} cites `{cited}`, a code qik never emits",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_citation_finder_finds_codes() {
    let found = cited_codes("see `graph0` and <a id=\"conf5\"></a>, not blake3 or `v2`");
    assert_eq!(
        found,
        BTreeSet::from(["conf5".to_string(), "graph0".to_string(), "v2".to_string()])
    );
}
