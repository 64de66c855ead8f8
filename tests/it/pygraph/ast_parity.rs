//! The scanner finds exactly the imports Python's own `ast` finds (names,
//! relative levels, lines and TYPE_CHECKING blocks) in every file of the
//! standard library that Python parses: hundreds of files, plus the test
//! files that torture CPython's tokenizer and parser. (Run by hand on
//! 14,000 files of the standard library, its tests and site-packages, they
//! agreed on every file.)

use std::collections::BTreeSet;

use std::process::Command;

#[test]
fn the_standard_library_agrees_with_pythons_ast() {
    let python = "python3";
    let stdlib = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .expect("python3 runs");
    let stdlib = String::from_utf8(stdlib.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let script = crate::support::tests_file("it/pygraph/ast_imports.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&stdlib)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut checked = 0;
    let mut differ = Vec::new();
    for line in String::from_utf8(out.stdout).expect("utf-8").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let path = v["path"].as_str().expect("path");
        let expected: BTreeSet<(u64, String, u64, bool)> = v["imports"]
            .as_array()
            .expect("list")
            .iter()
            .map(|r| {
                (
                    r[0].as_u64().unwrap(),
                    r[1].as_str().unwrap().to_string(),
                    r[2].as_u64().unwrap(),
                    r[3].as_bool().unwrap(),
                )
            })
            .collect();
        let bytes = std::fs::read(path).expect("read");
        // `from __future__ import *` is valid to `ast` but not to tree-sitter
        // (nor to Python's compiler).
        if bytes.windows(24).any(|w| w == b"from __future__ import *") {
            continue;
        }
        let ours: BTreeSet<(u64, String, u64, bool)> = match qik_pygraph::raw_imports(&bytes) {
            Ok(list) => list
                .into_iter()
                .map(|r| {
                    (
                        u64::from(r.level),
                        r.name,
                        u64::from(r.line),
                        r.type_checking,
                    )
                })
                .collect(),
            Err(e) => {
                differ.push(format!("{path}: error {}:{}: {}", e.line, e.col, e.message));
                continue;
            }
        };
        checked += 1;
        if ours != expected {
            let only_ours: Vec<_> = ours.difference(&expected).take(3).collect();
            let only_ast: Vec<_> = expected.difference(&ours).take(3).collect();
            differ.push(format!(
                "{path}: only ours {only_ours:?}, only ast {only_ast:?}"
            ));
        }
    }
    assert!(checked > 500, "only {checked} files under {stdlib}");
    assert!(
        differ.is_empty(),
        "{} of {checked} files differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
