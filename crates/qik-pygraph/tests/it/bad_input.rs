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

/// Nesting CPython refuses is refused the way CPython says it, naming the
/// file and line; it never overflows the stack (a 4 KB file of 2,000
/// parentheses used to abort the process).
#[test]
fn nesting_deeper_than_python_allows_is_an_error() {
    let deep_if: String = (0..100)
        .map(|level| format!("{}if x:\n", " ".repeat(level)))
        .collect::<String>()
        + &" ".repeat(100)
        + "pass\n";
    let f = Fixture::new(&[
        ("p/__init__.py", ""),
        (
            "p/parens.py",
            &format!("import os\nx = {}1{}\n", "(".repeat(2000), ")".repeat(2000)),
        ),
        ("p/mixed.py", &format!("x = {}\n", "[{(".repeat(70))),
        ("p/indent.py", &deep_if),
        (
            "p/fstrings.py",
            &format!("x = {}1{}\n", "f\"{".repeat(150), "}\"".repeat(150)),
        ),
        ("p/unary.py", &format!("x = {}1\n", "-".repeat(100_000))),
        ("p/attrs.py", &format!("x = a{}\n", ".b".repeat(5000))),
        ("p/calls.py", &format!("x = a{}\n", "()".repeat(5000))),
        (
            "p/lambdas.py",
            &format!("x = {}1\n", "lambda: ".repeat(5000)),
        ),
        // A bracket's depth adds up with the operators after it.
        (
            "p/sums.py",
            &format!("x = ({}){}\n", vec!["y"; 1600].join("+"), "+y".repeat(1600)),
        ),
    ]);
    let too_complex =
        "expression nested too deeply (more than 3000 levels); Python refuses it as too complex";
    assert_eq!(
        bad_sources(&f),
        [
            format!("p/attrs.py:1:6004: {too_complex}"),
            format!("p/calls.py:1:6002: {too_complex}"),
            "p/fstrings.py:1:453: too many nested f-strings".to_string(),
            "p/indent.py:101:1: too many levels of indentation".to_string(),
            format!("p/lambdas.py:1:24003: {too_complex}"),
            "p/mixed.py:1:205: too many nested parentheses".to_string(),
            "p/parens.py:2:205: too many nested parentheses".to_string(),
            format!("p/sums.py:1:6002: {too_complex}"),
            format!("p/unary.py:1:3004: {too_complex}"),
        ]
    );
}

/// Up to CPython's limits, everything parses: 200 brackets, 99 levels of
/// indentation, 149 nested f-strings, expressions 2,900 deep, and flat
/// sequences of any length.
#[test]
fn nesting_python_allows_is_accepted() {
    let deep_if: String = (0..99)
        .map(|level| format!("{}if x:\n", " ".repeat(level)))
        .collect::<String>()
        + &" ".repeat(99)
        + "import p.b\n";
    let f = Fixture::new(&[
        ("p/__init__.py", ""),
        ("p/b.py", ""),
        (
            "p/a.py",
            &format!(
                "import p.b\nx = {}1{}\ny = {}1\nz = [{}]\nw = a{}\nv = {}1{}\nu = a{}\n",
                "(-".repeat(199),
                ")".repeat(199),
                "not ".repeat(2900),
                "(1, -2), ".repeat(100_000),
                "[0]".repeat(2900),
                "f\"{".repeat(149),
                "}\"".repeat(149),
                " and a".repeat(100_000),
            ),
        ),
        ("p/c.py", &deep_if),
    ]);
    let graph = f.graph();
    assert_eq!(edges(&graph), ["p.a -> p.b", "p.c -> p.b"]);
}

/// A large file is checked in pieces cut between top-level statements;
/// a statement continued at a cut (`else:`, `except:`, a decorated
/// definition) still parses, and an error's line is the file's.
#[test]
fn large_files_are_checked_in_pieces() {
    // Each body is over a piece's size, so a cut is due at the line after
    // it: the one that continues the statement.
    let body = "    x = 1  # some filler to make the file large\n".repeat(25_000);
    let args = "    1,\n".repeat(200_000);
    let good = format!(
        "import p.b\nif x:\n{body}else:\n{body}try:\n{body}except Exception:\n{body}finally:\n    pass\n@dec(\n{args})\ndef f():\n    pass\n"
    );
    assert!(good.len() > 5 << 20, "several pieces");
    let filler = "x = 1  # some filler to make the file large\n".repeat(30_000);
    let lines_before_error = 1 + 30_000 * 3 + 2;
    let bad = format!("import p.b\n{filler}{filler}{filler}if x:\n    pass\nx = = 1\n");
    let f = Fixture::new(&[
        ("p/__init__.py", ""),
        ("p/b.py", ""),
        ("p/good.py", &good),
        ("p/bad.py", &bad),
    ]);
    assert_eq!(
        bad_sources(&f),
        [format!(
            "p/bad.py:{}:5: invalid syntax (Expected an expression) in `x = = 1`",
            lines_before_error + 1
        )]
    );
    f.remove("p/bad.py");
    assert_eq!(edges(&f.graph()), ["p.good -> p.b"]);
}
