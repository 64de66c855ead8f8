//! Python source bytes to text: a UTF-8 BOM, a PEP 263 coding cookie on line
//! 1 or 2, otherwise strict UTF-8 — what the interpreter itself does.

use std::borrow::Cow;

/// Why a file's bytes are not Python source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// 1-based line and column (in bytes) of the problem.
    pub(crate) line: u32,
    pub(crate) col: u32,
    pub(crate) message: String,
}

/// The text of a source file.
pub(crate) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    let (bytes, bom) = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match cookie(bytes) {
        Some(label) if !is_utf8(&label) => {
            if bom {
                return Err(DecodeError {
                    line: 1,
                    col: 1,
                    message: format!("encoding problem: `{label}` with a UTF-8 BOM"),
                });
            }
            let encoding = lookup(&label).ok_or_else(|| DecodeError {
                line: 1,
                col: 1,
                message: format!("unknown encoding `{label}` in the coding cookie"),
            })?;
            match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => Ok(text),
                None => Err(DecodeError {
                    line: 1,
                    col: 1,
                    message: format!("the file is not valid `{label}` text"),
                }),
            }
        }
        _ => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Cow::Borrowed(text)),
            Err(e) => {
                let at = e.valid_up_to();
                let (line, col) = line_col(bytes, at);
                Err(DecodeError {
                    line,
                    col,
                    message: format!(
                        "invalid UTF-8 (byte 0x{:02x}); declare the encoding with a `# -*- coding: ... -*-` line",
                        bytes[at]
                    ),
                })
            }
        },
    }
}

/// 1-based line and byte column of `offset` in `bytes`.
pub(crate) fn line_col(bytes: &[u8], offset: usize) -> (u32, u32) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    (line as u32, (offset - start + 1) as u32)
}

fn is_utf8(label: &str) -> bool {
    let norm = label.to_ascii_lowercase().replace('_', "-");
    norm == "utf-8" || norm.starts_with("utf-8-") || norm == "utf8"
}

/// Python's codec names through WHATWG's labels (Latin-1 decodes as
/// windows-1252, which differs only in the C1 range, inside strings).
fn lookup(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let norm = label.to_ascii_lowercase().replace('_', "-");
    let latin1 = [
        "latin-1",
        "iso-8859-1",
        "iso-latin-1",
        "iso8859-1",
        "latin1",
        "l1",
    ];
    if latin1
        .iter()
        .any(|l| norm == *l || norm.starts_with(&format!("{l}-")))
    {
        return Some(encoding_rs::WINDOWS_1252);
    }
    encoding_rs::Encoding::for_label(norm.as_bytes())
        .or_else(|| encoding_rs::Encoding::for_label(norm.replace('-', "").as_bytes()))
}

/// The encoding named by a PEP 263 cookie (`coding[:=]\s*([-\w.]+)` in a
/// comment) on line 1, or on line 2 when line 1 is blank or a comment.
fn cookie(bytes: &[u8]) -> Option<String> {
    let mut lines = bytes.splitn(3, |&b| b == b'\n');
    let first = lines.next()?;
    if let Some(found) = cookie_in(first) {
        return Some(found);
    }
    let trimmed = trim_start(first);
    if !(trimmed.is_empty() || trimmed[0] == b'#' || trimmed[0] == b'\r') {
        return None;
    }
    cookie_in(lines.next()?)
}

fn trim_start(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\x0c'))
        .count();
    &line[n..]
}

fn cookie_in(line: &[u8]) -> Option<String> {
    let comment = trim_start(line).strip_prefix(b"#")?;
    let at = memchr::memmem::find(comment, b"coding")?;
    let rest = &comment[at + 6..];
    let rest = match rest.first() {
        Some(b':' | b'=') => &rest[1..],
        _ => return cookie_in_after(comment, at + 6),
    };
    let rest = &rest[rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    let name: Vec<u8> = rest
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        .collect();
    if name.is_empty() {
        return None;
    }
    String::from_utf8(name).ok()
}

/// `coding` appeared without `:`/`=`; look for a later one on the line.
fn cookie_in_after(comment: &[u8], from: usize) -> Option<String> {
    let mut line = b"#".to_vec();
    line.extend_from_slice(&comment[from..]);
    cookie_in(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode(b"import os\n").unwrap(), "import os\n");
        assert_eq!(decode(b"\xef\xbb\xbfimport os\n").unwrap(), "import os\n");
    }

    #[test]
    fn cookies_on_line_one_or_two() {
        let latin = b"# -*- coding: latin-1 -*-\nx = '\xe9'\nimport os\n";
        assert!(decode(latin).unwrap().contains("x = '\u{e9}'"));
        let vim = b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nx = '\x80'\n";
        assert!(decode(vim).unwrap().contains('\u{20ac}'));
        let euc = b"# coding: euc-jp\nx = '\xa4\xa2'\n";
        assert!(decode(euc).unwrap().contains('\u{3042}'));
        // Line 3 is too late: the bytes must then be UTF-8.
        let late = b"\n\n# coding: latin-1\nx = '\xe9'\n";
        let err = decode(late).unwrap_err();
        assert_eq!((err.line, err.col), (4, 6));
        // Line 2 counts only after a blank or comment line 1.
        assert!(decode(b"import os\n# coding: latin-1\nx = '\xe9'\n").is_err());
    }

    #[test]
    fn bad_bytes_and_unknown_codecs_are_errors() {
        let err = decode(b"import os\nx = '\xff'\n").unwrap_err();
        assert_eq!((err.line, err.col), (2, 6));
        assert!(err.message.contains("invalid UTF-8"));
        let err = decode(b"# coding: klingon\n").unwrap_err();
        assert!(err.message.contains("unknown encoding `klingon`"));
    }
}
