//! Files that are not Python, symlink loops, and what the user sees.

use qik_pygraph::BuildError;

use crate::support::{Fixture, edges};

fn bad_sources(f: &Fixture) -> Vec<String> {
    match f.try_build() {
        Err(BuildError::BadSources(bad)) => bad.iter().map(ToString::to_string).collect(),
        other => panic!("expected bad sources, got {other:?}"),
    }
}

#[test]
fn every_bad_file_is_named_with_line_and_column() {
    let f = Fixture::new(&[
        ("p/__init__.py", ""),
        ("p/ok.py", "import p\n"),
        ("p/unclosed.py", "import os\nx = foo(1,\n"),
        ("p/badimport.py", "import (a)\n"),
        ("p/string.py", "s = 'abc\n"),
        ("p/backslash.py", "x = 1 + \\"),
        // Far from any import: the file cannot be imported all the same.
        ("p/body.py", "import os\n\n\ndef f(x):\n    return x +* 2\n"),
    ]);
    f.write("p/nul.py", b"import os\x00\n");
    f.write("p/latin.py", b"s = '\xe9'\n");
    f.write("p/cookie.py", b"# coding: klingon\nimport os\n");
    let bad = bad_sources(&f);
    assert_eq!(
        bad,
        [
            "p/backslash.py:1:9: unexpected end of file after line continuation character",
            "p/badimport.py:1:8: invalid syntax (Expected one or more symbol names after import) in `import (a)`",
            "p/body.py:5:15: invalid syntax (Starred expression cannot be used here) in `return x +* 2`",
            "p/cookie.py:1:1: unknown encoding `klingon` in the coding cookie",
            "p/latin.py:1:6: invalid UTF-8 (byte 0xe9); declare the encoding with a `# -*- coding: ... -*-` line",
            "p/nul.py:1:10: source code cannot contain null bytes",
            "p/string.py:1:5: unterminated string literal",
            "p/unclosed.py:2:8: '(' was never closed",
        ]
    );
    let err = f.try_build().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot build the import graph: 8 files are not valid Python"),
        "{text}"
    );
    assert!(err.hint().contains("fix the files"));
}

#[test]
fn fixing_a_bad_file_builds_again() {
    let f = Fixture::new(&[
        ("p/__init__.py", ""),
        ("p/a.py", "from p import (b\n"),
        ("p/b.py", ""),
    ]);
    assert_eq!(bad_sources(&f).len(), 1);
    f.write("p/a.py", b"from p import b\n");
    let built = f.build();
    assert_eq!(
        built.parsed, 1,
        "the good files were cached by the failed build"
    );
    assert_eq!(edges(&built.graph), ["p.a -> p.b"]);
}

#[test]
fn a_listed_file_that_is_gone_is_absent() {
    // Deleted from the working tree but still in git's index: like git's
    // hashing, the graph treats it as absent; a package whose
    // `__init__.py` is gone takes its submodules with it.
    let f = Fixture::new(&[
        ("p/__init__.py", ""),
        ("p/a.py", "import p.gone\nimport q.x\n"),
        ("q/x.py", ""),
    ]);
    let files: Vec<String> = [
        "p/__init__.py",
        "p/a.py",
        "p/gone.py",
        "q/__init__.py",
        "q/x.py",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let built = qik_pygraph::build(f.root(), ".", &files, None, &Default::default()).unwrap();
    assert_eq!(crate::support::modules(&built.graph), ["p", "p.a", "!q"]);
    assert_eq!(edges(&built.graph), ["p.a -> p", "p.a -> !q"]);
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_skipped_with_a_warning() {
    let f = Fixture::new(&[("p/__init__.py", ""), ("p/a.py", "import p.link.a\n")]);
    std::os::unix::fs::symlink("..", f.root().join("p/loop")).unwrap();
    std::os::unix::fs::symlink("../p", f.root().join("p/link")).unwrap();
    let (files, warnings) = qik_pygraph::python_files(f.root(), ".");
    assert!(
        warnings.iter().any(|w| w.contains("symlink loop")),
        "{warnings:?}"
    );
    assert!(files.contains(&"p/a.py".to_string()));
    // A file symlink that points at itself cannot be read: a clear error.
    std::os::unix::fs::symlink("self.py", f.root().join("p/self.py")).unwrap();
    let files = vec!["p/__init__.py".to_string(), "p/self.py".to_string()];
    let err = qik_pygraph::build(f.root(), ".", &files, None, &Default::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read p/self.py:"),
        "{err}"
    );
}
