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

/// CPython's limits on how deep source may nest; deeper code is refused as
/// CPython refuses it. They also bound the recursion of the full syntax
/// check (`parse.rs`), whose parser recurses once or more per level.
///
/// Brackets, f-string fields included (CPython's tokenizer: MAXLEVEL).
pub(crate) const MAX_BRACKETS: usize = 200;
/// Indented blocks (CPython's tokenizer: MAXINDENT).
pub(crate) const MAX_INDENTS: usize = 100;
/// f-strings inside f-strings (CPython 3.12's tokenizer: MAXFSTRINGLEVEL).
pub(crate) const MAX_FSTRINGS: usize = 150;
/// Expressions: an upper bound of an expression's depth, counted from its
/// tokens. CPython 3.11 and 3.12 refuse expressions nested about 3,000 deep
/// ("maximum recursion depth exceeded during compilation", "too complex").
pub(crate) const MAX_EXPRESSION_DEPTH: u32 = 3000;

/// What bounds the depth of the expression being read at one bracket level.
///
/// Every operator (binary, unary, `.`, a keyword like `not` or `lambda`,
/// an opening bracket: a call, a subscript, a display) may add one level
/// over the rest of its element; a closed bracket adds its own depth. A
/// comma separates siblings, whose depths do not add up.
#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    /// Operators in the element being read.
    ops: u32,
    /// The deepest closed bracket in the element being read.
    child: u32,
    /// The deepest element of this level read so far.
    widest: u32,
}

impl Frame {
    fn element(&self) -> u32 {
        self.ops.saturating_add(self.child)
    }

    fn end_element(&mut self) {
        self.widest = self.widest.max(self.element());
        self.ops = 0;
        self.child = 0;
    }
}

/// The syntax check parses a large file in pieces of about this size, so
/// that only one piece's syntax tree is in memory at a time (ruff's tree
/// takes some twenty times the bytes of its source).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// What a scan found.
#[derive(Debug)]
pub(crate) struct Scanned {
    pub(crate) stmts: Vec<Stmt>,
    /// Offsets where a top-level statement starts that no earlier statement
    /// continues (no `else:` or `except:`, not after a decorator), about
    /// [`CHUNK_BYTES`] apart: each piece between them parses on its own.
    pub(crate) chunk_starts: Vec<usize>,
}

/// Finds the import statements of `src`, and where it may be cut.
pub(crate) fn scan(src: &str) -> Result<Scanned, ScanError> {
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
        frames: vec![Frame::default()],
        fields: 0,
        fstrings: 0,
        indents: Vec::new(),
        chunk_starts: Vec::new(),
        after_decorator: false,
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
    Ok(Scanned {
        stmts: lexer.stmts,
        chunk_starts: lexer.chunk_starts,
    })
}

/// The test of an `if`/`elif` header, read token by token, in constant
/// memory however long it is: is it exactly `TYPE_CHECKING` or
/// `<dotted name>.TYPE_CHECKING`, in any number of parentheses?
#[derive(Clone, Copy, Debug, Default)]
struct Header {
    state: HeaderState,
    opens: usize,
    closes: usize,
    /// The last name read.
    name: (usize, usize),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum HeaderState {
    /// Only opening brackets so far.
    #[default]
    Opening,
    AfterName,
    AfterDot,
    /// Closing brackets after the name.
    Closing,
    /// Anything else: not a TYPE_CHECKING test.
    Other,
}

impl Header {
    fn push(&mut self, tok: HTok) {
        use HeaderState::*;
        self.state = match (self.state, tok) {
            (Opening, HTok::Open) => {
                self.opens += 1;
                Opening
            }
            (Opening | AfterDot, HTok::Ident(start, end)) => {
                self.name = (start, end);
                AfterName
            }
            (AfterName, HTok::Dot) => AfterDot,
            (AfterName | Closing, HTok::Close) => {
                self.closes += 1;
                Closing
            }
            _ => Other,
        };
    }

    fn is_type_checking(&self, b: &[u8]) -> bool {
        matches!(self.state, HeaderState::AfterName | HeaderState::Closing)
            && self.opens == self.closes
            && &b[self.name.0..self.name.1] == b"TYPE_CHECKING"
    }
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
    /// How deep the expressions written so far can nest: one frame for the
    /// logical line, then one per open bracket (see [`Frame`]).
    frames: Vec<Frame>,
    /// Open `{...}` fields of f-strings, which nest like brackets.
    fields: usize,
    /// Open f-strings (and t-strings).
    fstrings: usize,
    /// Indentation columns of the enclosing blocks.
    indents: Vec<u32>,
    /// See [`Scanned::chunk_starts`].
    chunk_starts: Vec<usize>,
    /// The last logical line was a decorator.
    after_decorator: bool,
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
    /// The test of an `if`/`elif` header being read.
    header: Option<Header>,
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
                if col == 0
                    && !self.after_decorator
                    && self.pos - self.chunk_starts.last().copied().unwrap_or(0) >= CHUNK_BYTES
                    && starts_statement(&self.b[self.pos..])
                {
                    self.chunk_starts.push(self.pos);
                }
                self.after_decorator = self.peek(self.pos) == b'@';
                self.begin_logical_line(col)?;
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
                    self.open_bracket()?;
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
                        Some((o, _)) if o == open => self.close_bracket()?,
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
                b',' => {
                    self.frame().end_element();
                    self.token(HTok::Other);
                    self.pos += 1;
                }
                b';' if self.depth() == 0 => {
                    self.frames[0] = Frame::default();
                    self.close_stmt();
                    self.header = None;
                    self.pos += 1;
                    self.boundary = true;
                    self.first = false;
                }
                b':' if self.depth() == 0 => {
                    self.pos += 1;
                    if self.cur.is_none() {
                        if let Some(header) = self.header.take() {
                            self.finish_header(header);
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
                    self.operator()?;
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
                        if is_operator_word(&self.b[start..self.pos]) {
                            self.operator()?;
                        }
                        self.word(start, self.pos);
                    }
                }
                _ => {
                    self.token(HTok::Other);
                    match operator_len(&self.b[self.pos..]) {
                        0 => self.pos += 1,
                        len => {
                            self.operator()?;
                            self.pos += len;
                        }
                    }
                }
            }
        }
        self.end_logical_line();
        if let Some(&(open, at)) = self.brackets.last() {
            return Err(self.error_at(at, format!("'{}' was never closed", open as char)));
        }
        Ok(())
    }

    /// The frame of the innermost open bracket (or of the logical line).
    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the logical line's frame")
    }

    /// An operator at `pos`: one more level the current element may nest.
    fn operator(&mut self) -> Result<(), ScanError> {
        let frame = self.frame();
        frame.ops += 1;
        if frame.element() > MAX_EXPRESSION_DEPTH {
            return Err(self.too_deep(self.pos));
        }
        Ok(())
    }

    fn too_deep(&self, at: usize) -> ScanError {
        self.error_at(
            at,
            format!(
                "expression nested too deeply (more than {MAX_EXPRESSION_DEPTH} levels); Python refuses it as too complex"
            ),
        )
    }

    /// An opening bracket (or f-string field) at `pos`.
    fn open_bracket(&mut self) -> Result<(), ScanError> {
        if self.brackets.len() + self.fields >= MAX_BRACKETS {
            return Err(self.error_at(self.pos, "too many nested parentheses"));
        }
        self.operator()?;
        self.frames.push(Frame::default());
        Ok(())
    }

    /// The closing bracket at `pos` matched the last opening one.
    fn close_bracket(&mut self) -> Result<(), ScanError> {
        let mut inner = self.frames.pop().expect("a frame per open bracket");
        inner.end_element();
        let parent = self.frame();
        parent.child = parent.child.max(inner.widest.saturating_add(1));
        if parent.element() > MAX_EXPRESSION_DEPTH {
            return Err(self.too_deep(self.pos));
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
        if let Some(header) = &mut self.header {
            header.push(tok);
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
                self.header = Some(Header::default());
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

    fn begin_logical_line(&mut self, indent: u32) -> Result<(), ScanError> {
        while self.tc_blocks.last().is_some_and(|&i| i >= indent) {
            self.tc_blocks.pop();
        }
        while self.indents.last().is_some_and(|&i| i > indent) {
            self.indents.pop();
        }
        if indent > self.indents.last().copied().unwrap_or(0) {
            self.indents.push(indent);
            if self.indents.len() >= MAX_INDENTS {
                return Err(self.error_at(self.line_start, "too many levels of indentation"));
            }
        }
        self.frames[0] = Frame::default();
        self.line_indent = indent;
        self.inline_tc = false;
        self.boundary = true;
        self.first = true;
        self.header = None;
        Ok(())
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
    fn finish_header(&mut self, header: Header) {
        if !header.is_type_checking(self.b) {
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

    /// A string literal whose prefix of `prefix_len` bytes ends at `pos`.
    fn string(&mut self, prefix_len: usize) -> Result<(), ScanError> {
        let prefix = &self.b[self.pos - prefix_len..self.pos];
        let formatted = prefix
            .iter()
            .any(|c| matches!(c, b'f' | b'F' | b't' | b'T'));
        if !formatted {
            return self.string_body(prefix_len, false);
        }
        if self.fstrings + 1 >= MAX_FSTRINGS {
            return Err(self.error_at(self.pos, "too many nested f-strings"));
        }
        self.fstrings += 1;
        let string = self.string_body(prefix_len, true);
        self.fstrings -= 1;
        string
    }

    fn string_body(&mut self, prefix_len: usize, formatted: bool) -> Result<(), ScanError> {
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
        // The field's `{` nests like a bracket; inside it, every bracket and
        // operator counts towards the depth of the element holding the
        // string (more than the truth, and fields are short).
        if self.brackets.len() + self.fields >= MAX_BRACKETS {
            return Err(self.error_at(self.pos - 1, "too many nested parentheses"));
        }
        self.fields += 1;
        self.operator()?;
        let field = self.field_body(string_start, triple);
        self.fields -= 1;
        field
    }

    fn field_body(&mut self, string_start: usize, triple: bool) -> Result<(), ScanError> {
        let mut depth = 0usize;
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.unterminated(string_start, triple));
            };
            match c {
                b'\n' | b'\r' => self.newline(),
                b'\'' | b'"' => self.string(0)?,
                b'(' | b'[' | b'{' => {
                    if self.brackets.len() + self.fields + depth >= MAX_BRACKETS {
                        return Err(self.error_at(self.pos, "too many nested parentheses"));
                    }
                    self.operator()?;
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
                    } else if is_operator_word(&self.b[start..self.pos]) {
                        self.operator()?;
                    }
                }
                b'.' => {
                    self.operator()?;
                    self.pos += 1;
                }
                _ => match operator_len(&self.b[self.pos..]) {
                    0 => self.pos += 1,
                    len => {
                        self.operator()?;
                        self.pos += len;
                    }
                },
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

/// Whether a top-level logical line starting with `b` starts a statement
/// of its own, rather than continuing the one before (`else:`, `except:`,
/// ...) or joining the next line (a backslash).
fn starts_statement(b: &[u8]) -> bool {
    let word_end = b.iter().position(|&c| !is_ident(c)).unwrap_or(b.len());
    !matches!(&b[..word_end], b"else" | b"elif" | b"except" | b"finally")
        && b.first() != Some(&b'\\')
}

/// Keywords that make an expression one level deeper. (`and` and `or`
/// chains are flat, and a conditional expression's `else` goes with its `if`.)
fn is_operator_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"not" | b"if" | b"lambda" | b"await" | b"yield" | b"in" | b"is"
    )
}

/// The length of the operator token at the start of `b` (0 if none): each
/// token counts once, so `**` is one level and `--` two.
fn operator_len(b: &[u8]) -> usize {
    const LONG: [&[u8]; 18] = [
        b"**=", b"//=", b">>=", b"<<=", b"**", b"//", b"<<", b">>", b"<=", b">=", b"==", b"!=",
        b"->", b"+=", b"-=", b"*=", b"/=", b"%=",
    ];
    const MORE: [&[u8]; 5] = [b"@=", b"&=", b"|=", b"^=", b":="];
    if let Some(op) = LONG.iter().chain(&MORE).find(|op| b.starts_with(op)) {
        return op.len();
    }
    match b.first() {
        Some(
            b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>'
            | b'=' | b'!',
        ) => 1,
        _ => 0,
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
            .stmts
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
