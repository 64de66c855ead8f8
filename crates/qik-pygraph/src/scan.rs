//! A byte-level pass over Python source that finds the import statements
//! and the `if TYPE_CHECKING:` blocks around them, without parsing the rest.
//!
//! Parsing whole files with tree-sitter costs more than grimp's entire build,
//! so this scanner does only what finding imports needs: it tokenizes
//! strings (including nested f-strings), comments, brackets and line
//! continuations, tracks logical lines and their indentation, and reports
//! where each `import`/`from` statement starts and ends. The statements
//! themselves are then parsed by tree-sitter (`parse.rs`). Lexical errors
//! (unterminated strings, unbalanced brackets, NUL bytes, a stray
//! backslash) are found for the whole file.

/// One import statement in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stmt {
    /// Byte range of the statement (from `import`/`from`, without a `lazy`
    /// prefix, to before its `;`, comment or newline).
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// 1-based line and 0-based byte column of `start`.
    pub(crate) line: u32,
    pub(crate) col: u32,
    /// Inside the body of an `if TYPE_CHECKING:` (or `elif`).
    pub(crate) type_checking: bool,
}

/// A lexical error, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) line: u32,
    pub(crate) col: u32,
    pub(crate) message: String,
}

/// Finds the import statements of `src`.
pub(crate) fn scan(src: &str) -> Result<Vec<Stmt>, ScanError> {
    let b = src.as_bytes();
    if let Some(at) = memchr::memchr(0, b) {
        let (line, col) = line_col(b, at);
        return Err(ScanError {
            line,
            col,
            message: "source code cannot contain null bytes".into(),
        });
    }
    let mut lexer = Lexer {
        b,
        has_cr: memchr::memchr(b'\r', b).is_some(),
        pos: 0,
        line: 1,
        line_start: 0,
        brackets: Vec::new(),
        stmts: Vec::new(),
        tc_blocks: Vec::new(),
        inline_tc: false,
        boundary: true,
        first: true,
        line_indent: 0,
        cur: None,
        header: None,
    };
    lexer.run()?;
    Ok(lexer.stmts)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HTok {
    Ident(usize, usize),
    Dot,
    Open,
    Close,
    Other,
}

struct Lexer<'a> {
    b: &'a [u8],
    /// Lone `\r` can end lines: the fast paths only look for `\n`.
    has_cr: bool,
    pos: usize,
    line: u32,
    line_start: usize,
    /// Open brackets: the byte and its position.
    brackets: Vec<(u8, usize)>,
    stmts: Vec<Stmt>,
    /// Indentation of the `if TYPE_CHECKING:` headers whose bodies we are in.
    tc_blocks: Vec<u32>,
    /// The rest of this logical line follows `if TYPE_CHECKING:` on one line.
    inline_tc: bool,
    /// The next word at bracket depth 0 may start a statement.
    boundary: bool,
    /// No token seen yet on this logical line.
    first: bool,
    line_indent: u32,
    cur: Option<Stmt>,
    /// Tokens of the test of an `if`/`elif` header being read.
    header: Option<Vec<HTok>>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

impl Lexer<'_> {
    fn peek(&self, at: usize) -> u8 {
        self.b.get(at).copied().unwrap_or(0)
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ScanError {
        let (line, col) = line_col(self.b, offset);
        ScanError {
            line,
            col,
            message: message.into(),
        }
    }

    /// Consumes the newline at `pos` (`\n`, `\r\n` or `\r`).
    fn newline(&mut self) {
        if self.peek(self.pos) == b'\r' && self.peek(self.pos + 1) == b'\n' {
            self.pos += 2;
        } else {
            self.pos += 1;
        }
        self.line += 1;
        self.line_start = self.pos;
    }

    fn depth(&self) -> usize {
        self.brackets.len()
    }

    fn run(&mut self) -> Result<(), ScanError> {
        let mut at_line_start = true;
        loop {
            if at_line_start {
                // Indentation of a new physical line outside brackets.
                let mut col = 0u32;
                while let Some(&c) = self.b.get(self.pos) {
                    match c {
                        b' ' => col += 1,
                        b'\t' => col = (col / 8 + 1) * 8,
                        b'\x0c' => col = 0,
                        _ => break,
                    }
                    self.pos += 1;
                }
                match self.b.get(self.pos) {
                    None => break,
                    Some(b'#') => {
                        self.skip_comment();
                        continue;
                    }
                    Some(b'\n' | b'\r') => {
                        self.newline();
                        continue;
                    }
                    Some(b'\\') => {
                        // A blank line continued by a backslash joins the next.
                    }
                    Some(_) => {}
                }
                self.begin_logical_line(col);
                at_line_start = false;
            }
            let Some(&c) = self.b.get(self.pos) else {
                break;
            };
            match c {
                b'\n' | b'\r' => {
                    if self.depth() == 0 {
                        self.end_logical_line();
                        at_line_start = true;
                    }
                    self.newline();
                }
                b' ' | b'\t' | b'\x0c' => self.pos += 1,
                b'#' => {
                    if self.depth() == 0 {
                        self.close_stmt();
                    }
                    self.skip_comment();
                }
                b'\\' => {
                    self.pos += 1;
                    match self.b.get(self.pos) {
                        Some(b'\n' | b'\r') => self.newline(),
                        None => {
                            return Err(self.error_at(
                                self.pos - 1,
                                "unexpected end of file after line continuation character",
                            ));
                        }
                        Some(_) => {
                            return Err(self.error_at(
                                self.pos - 1,
                                "unexpected character after line continuation character",
                            ));
                        }
                    }
                }
                0 => return Err(self.error_at(self.pos, "source code cannot contain null bytes")),
                b'(' | b'[' | b'{' => {
                    self.brackets.push((c, self.pos));
                    self.token(HTok::Open);
                    self.pos += 1;
                }
                b')' | b']' | b'}' => {
                    let open = match c {
                        b')' => b'(',
                        b']' => b'[',
                        _ => b'{',
                    };
                    match self.brackets.pop() {
                        Some((o, _)) if o == open => {}
                        Some((o, at)) => {
                            let (line, _) = line_col(self.b, at);
                            return Err(self.error_at(
                                self.pos,
                                format!(
                                    "closing parenthesis '{}' does not match opening parenthesis '{}' on line {line}",
                                    c as char, o as char
                                ),
                            ));
                        }
                        None => {
                            return Err(
                                self.error_at(self.pos, format!("unmatched '{}'", c as char))
                            );
                        }
                    }
                    self.token(HTok::Close);
                    self.pos += 1;
                }
                b';' if self.depth() == 0 => {
                    self.close_stmt();
                    self.header = None;
                    self.pos += 1;
                    self.boundary = true;
                    self.first = false;
                }
                b':' if self.depth() == 0 => {
                    self.pos += 1;
                    if self.cur.is_none() {
                        if let Some(tokens) = self.header.take() {
                            self.finish_header(&tokens);
                        }
                        self.boundary = true;
                        self.first = false;
                    }
                }
                b'\'' | b'"' => {
                    self.token(HTok::Other);
                    self.string(0)?;
                }
                b'.' if !self.peek(self.pos + 1).is_ascii_digit() => {
                    self.token(HTok::Dot);
                    self.pos += 1;
                }
                c if c.is_ascii_digit() || c == b'.' => {
                    self.token(HTok::Other);
                    self.number();
                }
                c if is_ident_start(c) => {
                    let start = self.pos;
                    while is_ident(self.peek(self.pos)) {
                        self.pos += 1;
                    }
                    if matches!(self.peek(self.pos), b'\'' | b'"')
                        && is_string_prefix(&self.b[start..self.pos])
                    {
                        self.token(HTok::Other);
                        self.string(self.pos - start)?;
                    } else {
                        self.word(start, self.pos);
                    }
                }
                _ => {
                    self.token(HTok::Other);
                    self.pos += 1;
                }
            }
        }
        self.end_logical_line();
        if let Some(&(open, at)) = self.brackets.last() {
            return Err(self.error_at(at, format!("'{}' was never closed", open as char)));
        }
        Ok(())
    }

    /// Up to the end of the line (or a NUL byte, which the caller reports).
    fn skip_comment(&mut self) {
        let rest = self.b.get(self.pos..).unwrap_or_default();
        self.pos += memchr::memchr3(b'\n', b'\r', 0, rest).unwrap_or(rest.len());
    }

    fn number(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                self.pos += 1;
                if matches!(c, b'e' | b'E') && matches!(self.peek(self.pos), b'+' | b'-') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Any token but a word: it ends the chance of a statement start and is
    /// part of a header's test.
    fn token(&mut self, tok: HTok) {
        self.boundary = false;
        self.first = false;
        if let Some(tokens) = &mut self.header {
            tokens.push(tok);
        }
    }

    fn word(&mut self, start: usize, end: usize) {
        let w = &self.b[start..end];
        if self.depth() == 0 && self.boundary && self.cur.is_none() {
            if w == b"import" || w == b"from" {
                self.cur = Some(Stmt {
                    start,
                    end,
                    line: self.line,
                    col: (start - self.line_start) as u32,
                    type_checking: self.inline_tc || !self.tc_blocks.is_empty(),
                });
                self.boundary = false;
                self.first = false;
                return;
            }
            if w == b"lazy" && self.next_word_is_import() {
                // PEP 810: `lazy import x`; the statement starts at `import`.
                self.first = false;
                return;
            }
            if self.first && (w == b"if" || w == b"elif") {
                self.header = Some(Vec::new());
                self.boundary = false;
                self.first = false;
                return;
            }
        }
        self.token(HTok::Ident(start, end));
    }

    fn next_word_is_import(&self) -> bool {
        let mut at = self.pos;
        while matches!(self.peek(at), b' ' | b'\t' | b'\x0c') {
            at += 1;
        }
        let start = at;
        while is_ident(self.peek(at)) {
            at += 1;
        }
        let w = &self.b[start..at];
        w == b"import" || w == b"from"
    }

    fn begin_logical_line(&mut self, indent: u32) {
        while self.tc_blocks.last().is_some_and(|&i| i >= indent) {
            self.tc_blocks.pop();
        }
        self.line_indent = indent;
        self.inline_tc = false;
        self.boundary = true;
        self.first = true;
        self.header = None;
    }

    fn end_logical_line(&mut self) {
        self.close_stmt();
        self.header = None;
        self.inline_tc = false;
    }

    fn close_stmt(&mut self) {
        if let Some(mut stmt) = self.cur.take() {
            let mut end = self.pos;
            while end > stmt.start && matches!(self.b[end - 1], b' ' | b'\t' | b'\x0c') {
                end -= 1;
            }
            stmt.end = end;
            self.stmts.push(stmt);
        }
    }

    /// The `:` of an `if`/`elif` header was just read.
    fn finish_header(&mut self, tokens: &[HTok]) {
        if !self.is_type_checking(tokens) {
            return;
        }
        let mut at = self.pos;
        while matches!(self.peek(at), b' ' | b'\t' | b'\x0c') {
            at += 1;
        }
        if matches!(self.peek(at), b'#' | b'\n' | b'\r') || at >= self.b.len() {
            self.tc_blocks.push(self.line_indent);
        } else {
            self.inline_tc = true;
        }
    }

    /// Exactly `TYPE_CHECKING` or `<dotted name>.TYPE_CHECKING`, in any
    /// number of parentheses.
    fn is_type_checking(&self, mut tokens: &[HTok]) -> bool {
        while tokens.len() >= 2
            && tokens[0] == HTok::Open
            && tokens[tokens.len() - 1] == HTok::Close
        {
            tokens = &tokens[1..tokens.len() - 1];
        }
        if tokens.len().is_multiple_of(2) {
            return false;
        }
        for (i, tok) in tokens.iter().enumerate() {
            let ok = if i % 2 == 0 {
                matches!(tok, HTok::Ident(..))
            } else {
                *tok == HTok::Dot
            };
            if !ok {
                return false;
            }
        }
        matches!(tokens.last(), Some(HTok::Ident(s, e)) if &self.b[*s..*e] == b"TYPE_CHECKING")
    }

    /// A string literal whose prefix of `prefix_len` bytes ends at `pos`.
    fn string(&mut self, prefix_len: usize) -> Result<(), ScanError> {
        let prefix = &self.b[self.pos - prefix_len..self.pos];
        let formatted = prefix
            .iter()
            .any(|c| matches!(c, b'f' | b'F' | b't' | b'T'));
        let start = self.pos - prefix_len;
        let q = self.b[self.pos];
        let triple = self.peek(self.pos + 1) == q && self.peek(self.pos + 2) == q;
        self.pos += if triple { 3 } else { 1 };
        loop {
            if !formatted && !self.has_cr {
                // Straight to the next byte that matters (NUL bytes were
                // ruled out for the whole file up front).
                let rest = self.b.get(self.pos..).unwrap_or_default();
                self.pos += memchr::memchr3(q, b'\\', b'\n', rest).unwrap_or(rest.len());
            }
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.unterminated(start, triple));
            };
            match c {
                b'\\' => {
                    self.pos += 1;
                    match self.b.get(self.pos) {
                        Some(b'\n' | b'\r') => self.newline(),
                        Some(b'{' | b'}') if formatted => {}
                        Some(_) => self.pos += 1,
                        None => {}
                    }
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return Err(self.unterminated(start, triple));
                    }
                    self.newline();
                }
                0 => return Err(self.error_at(self.pos, "source code cannot contain null bytes")),
                c if c == q => {
                    if !triple {
                        self.pos += 1;
                        return Ok(());
                    }
                    if self.peek(self.pos + 1) == q && self.peek(self.pos + 2) == q {
                        self.pos += 3;
                        return Ok(());
                    }
                    self.pos += 1;
                }
                b'{' if formatted => {
                    if self.peek(self.pos + 1) == b'{' {
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        self.replacement_field(start, triple)?;
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    fn unterminated(&self, start: usize, triple: bool) -> ScanError {
        let what = if triple {
            "unterminated triple-quoted string literal"
        } else {
            "unterminated string literal"
        };
        self.error_at(start, what)
    }

    /// The expression of an f-string's `{...}`, after the `{`; consumes
    /// through the closing `}`.
    fn replacement_field(&mut self, string_start: usize, triple: bool) -> Result<(), ScanError> {
        let mut depth = 0usize;
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.unterminated(string_start, triple));
            };
            match c {
                b'\n' | b'\r' => self.newline(),
                b'\'' | b'"' => self.string(0)?,
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' if depth == 0 => {
                    self.pos += 1;
                    return Ok(());
                }
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    self.pos += 1;
                }
                b':' if depth == 0 => {
                    self.pos += 1;
                    return self.format_spec(string_start, triple);
                }
                b'#' => self.skip_comment(),
                0 => return Err(self.error_at(self.pos, "source code cannot contain null bytes")),
                c if is_ident_start(c) => {
                    let start = self.pos;
                    while is_ident(self.peek(self.pos)) {
                        self.pos += 1;
                    }
                    if matches!(self.peek(self.pos), b'\'' | b'"')
                        && is_string_prefix(&self.b[start..self.pos])
                    {
                        self.string(self.pos - start)?;
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// The format spec after `:` in a replacement field; consumes through
    /// the field's closing `}`.
    fn format_spec(&mut self, string_start: usize, triple: bool) -> Result<(), ScanError> {
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.unterminated(string_start, triple));
            };
            match c {
                b'{' => {
                    self.pos += 1;
                    self.replacement_field(string_start, triple)?;
                }
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return Err(self.unterminated(string_start, triple));
                    }
                    self.newline();
                }
                b'\'' | b'"' => return Ok(()),
                _ => self.pos += 1,
            }
        }
    }
}

fn is_string_prefix(w: &[u8]) -> bool {
    w.len() <= 3
        && w.iter().all(|c| {
            matches!(
                c,
                b'r' | b'R' | b'b' | b'B' | b'u' | b'U' | b'f' | b'F' | b't' | b'T'
            )
        })
}

/// 1-based line and column of `offset`; `\n`, `\r\n` and `\r` end lines.
pub(crate) fn line_col(b: &[u8], offset: usize) -> (u32, u32) {
    let mut line = 1u32;
    let mut start = 0usize;
    let mut i = 0usize;
    let end = offset.min(b.len());
    while i < end {
        match b[i] {
            b'\n' => {
                line += 1;
                start = i + 1;
            }
            b'\r' if b.get(i + 1) != Some(&b'\n') => {
                line += 1;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (line, (offset - start + 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements' texts and TYPE_CHECKING flags.
    fn stmts(src: &str) -> Vec<(String, u32, bool)> {
        scan(src)
            .unwrap()
            .into_iter()
            .map(|s| (src[s.start..s.end].to_string(), s.line, s.type_checking))
            .collect()
    }

    fn texts(src: &str) -> Vec<String> {
        stmts(src).into_iter().map(|s| s.0).collect()
    }

    #[test]
    fn finds_imports_at_any_depth() {
        let src = "import a\nfrom b import (c,\n  d)  # note\ndef f():\n    import e; import g\nclass C:\n    from . import h\ntry: import i\nexcept ImportError: from j import k\nx = 1; import l\nlazy import m\nlazy from n import o\nif x: import p\n";
        assert_eq!(
            texts(src),
            [
                "import a",
                "from b import (c,\n  d)",
                "import e",
                "import g",
                "from . import h",
                "import i",
                "from j import k",
                "import l",
                "import m",
                "from n import o",
                "import p"
            ]
        );
    }

    #[test]
    fn ignores_strings_comments_and_other_from() {
        let src = "s = 'import a'\nt = \"\"\"\nimport b\n\"\"\"\n# import c\nu = f\"{'import d'}\"\ndef g():\n    yield from h\n    raise X from Y\nlazy = 1\nimportlib.import_module('e')\nv = (\n  import_x)\nw = rb'\\'import'\nf\"{x!r:>{width}}\" ; import z\n";
        assert_eq!(texts(src), ["import z"]);
    }

    #[test]
    fn nested_fstrings_of_python_3_12() {
        let src = "x = f\"{d[\"k\"]} and {f'{y:{z}}'}\"\nimport ok\n";
        assert_eq!(texts(src), ["import ok"]);
    }

    #[test]
    fn lines_are_statement_starts() {
        let src = "\n\n'''doc\nstring'''\nimport a\\\n  ,b\nfrom c import (\n d)\n";
        let found = stmts(src);
        assert_eq!(found[0], ("import a\\\n  ,b".to_string(), 5, false));
        assert_eq!(found[1].1, 7);
    }

    #[test]
    fn type_checking_blocks() {
        let src = "\
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import a
    def f():
        import b
    if TYPE_CHECKING:
        import c
    import d
elif x:
    import e
else:
    import f
if typing.TYPE_CHECKING: import g
if (TYPE_CHECKING):

    # comment

    import h
import i
if not TYPE_CHECKING:
    import j
if TYPE_CHECKING and X:
    import k
if TYPE_CHECKING is True:
    import l
if TYPE_CHECKING():
    import m
while TYPE_CHECKING:
    import n
if x:
    pass
elif t.TYPE_CHECKING:
    import o
else:
    import p
";
        let tc: Vec<(String, bool)> = stmts(src).into_iter().map(|s| (s.0, s.2)).collect();
        let expect = [
            ("from typing import TYPE_CHECKING", false),
            ("import a", true),
            ("import b", true),
            ("import c", true),
            ("import d", true),
            ("import e", false),
            ("import f", false),
            ("import g", true),
            ("import h", true),
            ("import i", false),
            ("import j", false),
            ("import k", false),
            ("import l", false),
            ("import m", false),
            ("import n", false),
            ("import o", true),
            ("import p", false),
        ];
        let expect: Vec<(String, bool)> = expect.iter().map(|(s, b)| (s.to_string(), *b)).collect();
        assert_eq!(tc, expect);
    }

    #[test]
    fn crlf_and_no_final_newline() {
        assert_eq!(
            texts("import a\r\nif x:\r\n    import b"),
            ["import a", "import b"]
        );
    }

    #[test]
    fn old_mac_line_endings() {
        let src = "s = '''a\rb'''\rimport a\rif TYPE_CHECKING:\r    import b\r";
        assert_eq!(
            stmts(src),
            [
                ("import a".to_string(), 3, false),
                ("import b".to_string(), 5, true)
            ]
        );
    }

    #[test]
    fn lexical_errors_have_positions() {
        for (src, line, col, msg) in [
            ("x = (1,\nimport a\n", 1, 5, "'(' was never closed"),
            ("x = 1)\n", 1, 6, "unmatched ')'"),
            ("x = 'abc\n", 1, 5, "unterminated string literal"),
            ("x = '''abc\n\n", 1, 5, "unterminated triple-quoted"),
            ("x = 1\ny = \\", 2, 5, "after line continuation"),
            ("x = 1 \\ y\n", 1, 7, "after line continuation"),
            ("x = [1)\n", 1, 7, "does not match"),
            ("import a\0\n", 1, 9, "null bytes"),
            ("s = '''\n\0'''\n", 2, 1, "null bytes"),
        ] {
            let err = scan(src).unwrap_err();
            assert_eq!((err.line, err.col), (line, col), "{src:?}: {err:?}");
            assert!(err.message.contains(msg), "{src:?}: {err:?}");
        }
    }
}
