//! Import statements to raw (unresolved) imports, parsed by tree-sitter.
//!
//! The scanner's statements are laid out one per line in a small buffer that
//! tree-sitter parses in one go; positions map back to the original file.
//! Any ERROR or MISSING node in it is a syntax error of the file.

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

use crate::scan::{self, Stmt};

/// One imported name, before resolution against the project's modules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawImport {
    /// Leading dots of a relative import (0 for an absolute one).
    pub level: u32,
    /// The dotted name below the level: `a.b` for `import a.b`, `m.n` for
    /// `from .m import n`, `n` for `from . import n`, `m.*` for
    /// `from m import *`.
    pub name: String,
    /// 1-based first line of the statement.
    pub line: u32,
    /// The statement sits under `if TYPE_CHECKING:`.
    pub type_checking: bool,
}

/// A syntax or encoding problem, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// The raw imports of one file's bytes, in source order (for tools and
/// debugging; `build` caches these per file).
pub fn raw_imports(bytes: &[u8]) -> Result<Vec<RawImport>, SourceError> {
    thread_local! {
        static PARSER: std::cell::RefCell<Parser> = std::cell::RefCell::new(new_parser());
    }
    PARSER.with(|p| imports(&mut p.borrow_mut(), bytes))
}

/// A tree-sitter parser for Python, one per worker thread.
pub(crate) fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled grammar matches the tree-sitter version");
    parser
}

/// The raw imports of a source file's bytes.
pub(crate) fn imports(parser: &mut Parser, bytes: &[u8]) -> Result<Vec<RawImport>, SourceError> {
    let text = crate::decode::decode(bytes).map_err(|e| SourceError {
        line: e.line,
        col: e.col,
        message: e.message,
    })?;
    // The scanner's tokenizer errors read like Python's own; the full check
    // finds the rest.
    let scanned = scan::scan(&text).map_err(|e| SourceError {
        line: e.line,
        col: e.col,
        message: e.message,
    })?;
    check_syntax(&text, &scanned.chunk_starts)?;
    parse_stmts(parser, &text, &scanned.stmts)
}

/// Fails on the first syntax error anywhere in the file, as Python (and
/// grimp) would: a file that cannot be imported has no trustworthy imports.
///
/// The import statements themselves are read with tree-sitter (below), but
/// tree-sitter recovers from errors where Python does not, and a full
/// tree-sitter parse costs seven to ten times ruff's (`--example fullparse`). So ruff's
/// parser checks the whole file. It runs only for content the import cache
/// has not seen, so a rebuild checks just the changed files.
///
/// A large file is checked piece by piece, cut where the scanner found
/// top-level statements that stand alone (`chunk_starts`): memory then
/// follows the largest piece, not the file.
fn check_syntax(text: &str, chunk_starts: &[usize]) -> Result<(), SourceError> {
    let starts = std::iter::once(0).chain(chunk_starts.iter().copied());
    let ends = chunk_starts
        .iter()
        .copied()
        .chain(std::iter::once(text.len()));
    for (start, end) in starts.zip(ends) {
        if let Err(error) = ruff_python_parser::parse_module(&text[start..end]) {
            let offset = start + usize::from(error.location.start());
            return Err(syntax_error(text, offset, &error.error));
        }
    }
    Ok(())
}

fn syntax_error(
    text: &str,
    offset: usize,
    error: &ruff_python_parser::ParseErrorType,
) -> SourceError {
    let offset = offset.min(text.len());
    let (line, col) = crate::decode::line_col(text.as_bytes(), offset);
    let source_line = text.lines().nth(line as usize - 1).unwrap_or("").trim();
    let shown: String = source_line.chars().take(60).collect();
    let more = if shown.len() < source_line.len() {
        "…"
    } else {
        ""
    };
    SourceError {
        line,
        col,
        message: format!("invalid syntax ({error}) in `{shown}{more}`"),
    }
}

fn parse_stmts(
    parser: &mut Parser,
    src: &str,
    stmts: &[Stmt],
) -> Result<Vec<RawImport>, SourceError> {
    if stmts.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = String::with_capacity(stmts.iter().map(|s| s.end - s.start + 1).sum());
    let mut starts = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        starts.push(buf.len());
        buf.push_str(&src[stmt.start..stmt.end]);
        buf.push('\n');
    }
    let tree = parser
        .parse(&buf, None)
        .expect("no timeout or cancellation is set");
    let root = tree.root_node();
    // Original offset of a buffer offset.
    let original = |offset: usize| {
        let i = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        stmts[i].start + (offset - starts[i])
    };
    if root.has_error() {
        let node = first_error(root).unwrap_or(root);
        let (line, col) = scan::line_col(src.as_bytes(), original(node.start_byte()));
        let message = if node.is_missing() {
            format!("invalid syntax: missing `{}`", node.kind())
        } else {
            let stmt = &stmts[starts
                .partition_point(|&s| s <= node.start_byte())
                .saturating_sub(1)];
            let text = src[stmt.start..stmt.end]
                .lines()
                .next()
                .unwrap_or("")
                .trim();
            format!("invalid syntax in `{text}`")
        };
        return Err(SourceError { line, col, message });
    }
    let mut out = Vec::new();
    let mut cursor = root.walk();
    for node in root.named_children(&mut cursor) {
        let i = starts
            .partition_point(|&s| s <= node.start_byte())
            .saturating_sub(1);
        let stmt = &stmts[i];
        let mut push = |level: u32, name: String| {
            out.push(RawImport {
                level,
                name,
                line: stmt.line,
                type_checking: stmt.type_checking,
            });
        };
        let mut names = node.walk();
        match node.kind() {
            "import_statement" => {
                for name in node.children_by_field_name("name", &mut names) {
                    push(0, dotted(imported_name(name), &buf));
                }
            }
            "future_import_statement" => push(0, "__future__".to_string()),
            "import_from_statement" => {
                let Some(module) = node.child_by_field_name("module_name") else {
                    continue;
                };
                let (level, base) = if module.kind() == "relative_import" {
                    let mut level = 0;
                    let mut base = String::new();
                    let mut c = module.walk();
                    for part in module.named_children(&mut c) {
                        match part.kind() {
                            "import_prefix" => {
                                level = part
                                    .utf8_text(buf.as_bytes())
                                    .unwrap_or("")
                                    .matches('.')
                                    .count() as u32
                            }
                            "dotted_name" => base = dotted(part, &buf),
                            _ => {}
                        }
                    }
                    (level, base)
                } else {
                    (0, dotted(module, &buf))
                };
                let join = |member: &str| {
                    if base.is_empty() {
                        member.to_string()
                    } else {
                        format!("{base}.{member}")
                    }
                };
                let mut any = false;
                for name in node.children_by_field_name("name", &mut names) {
                    any = true;
                    push(level, join(&dotted(imported_name(name), &buf)));
                }
                if !any {
                    // `from m import *`
                    push(level, join("*"));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `a.b` of `a.b as c`.
fn imported_name(node: Node<'_>) -> Node<'_> {
    if node.kind() == "aliased_import" {
        node.child_by_field_name("name").unwrap_or(node)
    } else {
        node
    }
}

/// The identifiers of a `dotted_name`, joined by dots (the source may have
/// spaces or line continuations around the dots).
fn dotted(node: Node<'_>, buf: &str) -> String {
    let mut out = String::new();
    let mut c = node.walk();
    for part in node.named_children(&mut c) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(part.utf8_text(buf.as_bytes()).unwrap_or(""));
    }
    out
}

fn first_error(node: Node<'_>) -> Option<Node<'_>> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    if !node.has_error() {
        return None;
    }
    let mut c = node.walk();
    for child in node.children(&mut c) {
        if let Some(found) = first_error(child) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(src: &str) -> Vec<(u32, String, u32, bool)> {
        imports(&mut new_parser(), src.as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| (r.level, r.name, r.line, r.type_checking))
            .collect()
    }

    fn names(src: &str) -> Vec<(u32, String)> {
        raw(src).into_iter().map(|r| (r.0, r.1)).collect()
    }

    fn n(level: u32, name: &str) -> (u32, String) {
        (level, name.to_string())
    }

    #[test]
    fn one_record_per_imported_name() {
        assert_eq!(
            names(
                "import a.b.c as x, d\nfrom m import n1, n2 as z\nfrom m import *\nfrom . import util\nfrom ..util import helper\nfrom . import *\nfrom __future__ import annotations\nlazy import q\n"
            ),
            [
                n(0, "a.b.c"),
                n(0, "d"),
                n(0, "m.n1"),
                n(0, "m.n2"),
                n(0, "m.*"),
                n(1, "util"),
                n(2, "util.helper"),
                n(1, "*"),
                n(0, "__future__"),
                n(0, "q"),
            ]
        );
    }

    #[test]
    fn multi_line_statements_report_their_first_line() {
        let found = raw("x = 1\nfrom a import (\n    b,  # c\n    d,\n)\nimport e, \\\n  f\n");
        let lines: Vec<(String, u32)> = found.into_iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(
            lines,
            [
                ("a.b".into(), 2),
                ("a.d".into(), 2),
                ("e".into(), 6),
                ("f".into(), 6)
            ]
        );
    }

    #[test]
    fn syntax_errors_in_imports_point_at_the_file() {
        let err = imports(&mut new_parser(), b"x = 1\n    import (a)\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
        assert!(err.message.contains("import (a)"), "{err:?}");
        let err = imports(&mut new_parser(), b"import a\nfrom b import\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn a_syntax_error_anywhere_fails_like_python() {
        // Far from any import: Python refuses the whole file, so does qik.
        let src = b"import a\n\ndef f(x):\n    return x +* 2\n";
        let err = imports(&mut new_parser(), src).unwrap_err();
        assert_eq!((err.line, err.col), (4, 15), "{err:?}");
        assert!(err.message.contains("return x +* 2"), "{err:?}");
        for bad in [
            &b"class C:\npass\n"[..],
            b"x = (1,\n",
            b"print 'python 2'\n",
            b"f(**)\n",
            b"def f():\n\treturn 1\n        return 2\n",
        ] {
            assert!(
                imports(&mut new_parser(), bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // New syntax is fine: match, type parameters, PEP 701 f-strings.
        let modern = "match x:\n    case [a, *_]:\n        pass\ntype L[T] = list[T]\ndef g[T](x: T) -> T: return x\ny = f\"{'a' + f\"{1}\"}\"\n";
        assert!(imports(&mut new_parser(), modern.as_bytes()).is_ok());
    }
}
