//! Parsed TOML files that keep a span on every key and value.
//!
//! Core and plugins read configuration through [`Node`], a view of one spanned
//! value. Deserializing a typed struct from a node keeps the spans, so an error
//! raised deep inside a plugin's config still points at the line in the file.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diagnostic::{Code, Diagnostic, did_you_mean};

pub use crate::source_file::SourceFile;

impl SourceFile {
    /// Parses `text` as TOML. `display` is how the path is shown in messages.
    ///
    /// The text is leaked: spans borrow from it, configuration files are read a
    /// handful of times per process, and it saves copying every string.
    pub fn parse(
        path: PathBuf,
        display: String,
        text: String,
    ) -> Result<Arc<SourceFile>, Diagnostic> {
        let text: &'static str = Box::leak(text.into_boxed_str());
        let mut file = SourceFile::unparsed(path, display, text);
        match DeTable::parse(text) {
            Ok(table) => {
                let span = table.span();
                file.root = Spanned::new(span, DeValue::Table(table.into_inner()));
                Ok(Arc::new(file))
            }
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                let message = first_line(err.message());
                let file = Arc::new(file);
                Err(Diagnostic::error(Code::ConfigParse, "invalid TOML")
                    .with_label(&file, span, message)
                    .with_hint("fix the TOML syntax at the marked position"))
            }
        }
    }

    /// Reads and parses a file from disk.
    pub fn read(path: &Path, display: String) -> Result<Arc<SourceFile>, Diagnostic> {
        let bytes = std::fs::read(path).map_err(|err| {
            Diagnostic::error(
                Code::ConfigParse,
                format!("could not read {}: {err}", path.display()),
            )
        })?;
        match utf8_text(bytes) {
            Ok(text) => Self::parse(path.to_path_buf(), display, text),
            Err(invalid) => {
                let message = format!("{display} is not valid UTF-8");
                let label = format!("byte 0x{:02x} at offset {}", invalid.byte, invalid.offset);
                let start = invalid.offset;
                let text: &'static str = Box::leak(invalid.lossy.into_boxed_str());
                let file = Arc::new(SourceFile::unparsed(path.to_path_buf(), display, text));
                // The lossy text has U+FFFD where the bad byte was.
                let end = start + char::REPLACEMENT_CHARACTER.len_utf8();
                Err(Diagnostic::error(Code::ConfigParse, message)
                    .with_label(&file, start..end, label)
                    .with_hint("TOML files are UTF-8: save the file with that encoding"))
            }
        }
    }

    /// The whole document.
    pub fn root(self: &Arc<Self>) -> Node<'_> {
        Node {
            file: self,
            value: &self.root,
        }
    }
}

/// A file's bytes that are not UTF-8.
#[derive(Debug)]
pub struct InvalidUtf8 {
    /// The offset of the first invalid byte.
    pub offset: usize,
    /// That byte.
    pub byte: u8,
    /// 1-based line and column (in characters) of that byte.
    pub line: usize,
    pub column: usize,
    /// The text with each invalid sequence replaced by U+FFFD (the prefix up
    /// to `offset` is unchanged).
    pub lossy: String,
}

/// The text of a file that must be UTF-8, or where it is not.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, InvalidUtf8> {
    String::from_utf8(bytes).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        let bytes = err.into_bytes();
        // The prefix is valid UTF-8 by definition of `valid_up_to`.
        let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |at| at + 1);
        InvalidUtf8 {
            offset,
            byte: bytes[offset],
            line: valid.matches('\n').count() + 1,
            column: valid[line_start..].chars().count() + 1,
            lossy: String::from_utf8_lossy(&bytes).into_owned(),
        }
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// A view of one spanned TOML value in a [`SourceFile`].
#[derive(Clone, Copy)]
pub struct Node<'a> {
    file: &'a Arc<SourceFile>,
    value: &'a Spanned<DeValue<'static>>,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Node({}@{:?})",
            self.file.display_path(),
            self.value.span()
        )
    }
}

/// A key of a table, with its span.
#[derive(Clone, Debug)]
pub struct Key<'a> {
    pub name: &'a str,
    pub span: Range<usize>,
}

impl<'a> Node<'a> {
    pub fn file(&self) -> &'a Arc<SourceFile> {
        self.file
    }

    pub fn span(&self) -> Range<usize> {
        self.value.span()
    }

    /// The TOML type name, for messages ("string", "table", ...).
    pub fn type_name(&self) -> &'static str {
        self.value.get_ref().type_str()
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.value.get_ref().as_str()
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.value.get_ref().as_bool()
    }

    pub fn is_table(&self) -> bool {
        self.value.get_ref().is_table()
    }

    pub fn is_array(&self) -> bool {
        self.value.get_ref().is_array()
    }

    /// Items of an array, or `None` if this is not an array.
    pub fn items(&self) -> Option<impl Iterator<Item = Node<'a>> + 'a> {
        let file = self.file;
        let array = self.value.get_ref().as_array()?;
        Some(array.iter().map(move |value| Node { file, value }))
    }

    /// Entries of a table, or `None` if this is not a table.
    pub fn entries(&self) -> Option<impl Iterator<Item = (Key<'a>, Node<'a>)> + 'a> {
        let file = self.file;
        let table = self.value.get_ref().as_table()?;
        Some(table.iter().map(move |(key, value)| {
            (
                Key {
                    name: key.get_ref().as_ref(),
                    span: key.span(),
                },
                Node { file, value },
            )
        }))
    }

    /// A value of a table by key.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let table = self.value.get_ref().as_table()?;
        table.get(key).map(|value| Node {
            file: self.file,
            value,
        })
    }

    /// The span of a key of this table.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        let table = self.value.get_ref().as_table()?;
        table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(k, _)| k.span())
    }

    /// An error pointing at this value.
    pub fn error(
        &self,
        code: Code,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, message).with_label(self.file, self.span(), label)
    }

    /// An error saying this value has the wrong type.
    pub fn type_error(&self, expected: &str) -> Diagnostic {
        let found = self.type_name();
        let article = if found.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        self.error(
            Code::ConfigParse,
            format!("expected {expected}, found {article} {found}"),
            format!("expected {expected}"),
        )
        .with_hint(format!("write {expected} here"))
    }

    /// Deserializes a typed value, keeping spans for errors.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        T::deserialize(ValueDeserializer::from(self.value.clone()))
            .map_err(|err| self.deserialize_error(&err))
    }

    /// Deserializes a typed value from a table without one of its keys (the
    /// `type` tag that selected the type), so `deny_unknown_fields` still works.
    pub fn deserialize_without<T: DeserializeOwned>(&self, key: &str) -> Result<T, Diagnostic> {
        let mut value = self.value.clone();
        if let DeValue::Table(table) = value.get_mut() {
            table.remove(key);
        }
        T::deserialize(ValueDeserializer::from(value)).map_err(|err| self.deserialize_error(&err))
    }

    fn deserialize_error(&self, err: &toml::de::Error) -> Diagnostic {
        let span = err.span().unwrap_or_else(|| self.span());
        let message = first_line(err.message());
        let label = label_for(&message);
        let hint = if let Some(hint) = unknown_field_hint(&message) {
            hint
        } else if message.starts_with("missing field") {
            "add the missing key to this table".into()
        } else if let Some((_, expected)) = message
            .strip_prefix("invalid type: ")
            .and_then(|rest| rest.rsplit_once(", expected "))
        {
            format!("write {expected} here")
        } else {
            "see the configuration reference for this key".into()
        };
        Diagnostic::error(Code::ConfigParse, headline(&message))
            .with_label(self.file, span, label)
            .with_hint(hint)
    }
}

fn label_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        "unknown key".into()
    } else if message.starts_with("unknown variant") {
        "unknown value".into()
    } else if message.starts_with("invalid type") {
        "wrong type".into()
    } else if message.starts_with("missing field") {
        "in this table".into()
    } else {
        "here".into()
    }
}

/// The headline of a serde error, in the words of a TOML file: serde's
/// "unknown field `x`, expected one of ..." becomes "unknown key `x`" (the
/// choices go to the hint).
fn headline(message: &str) -> String {
    for (prefix, noun) in [
        ("unknown field `", "unknown key"),
        ("unknown variant `", "invalid value"),
        ("missing field `", "missing key"),
    ] {
        if let Some((name, _)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
        {
            return format!("{noun} `{name}`");
        }
    }
    message.to_string()
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" (and the same for
/// variants) into a did-you-mean hint. Python-style `snake_case` aliases of
/// `kebab-case` keys are accepted but not listed.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (name, expected) = rest.split_once('`')?;
    let all: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let candidates: Vec<&str> = all
        .iter()
        .copied()
        .filter(|c| !(c.contains('_') && all.contains(&c.replace('_', "-").as_str())))
        .collect();
    if candidates.is_empty() {
        return Some("this table takes no keys".into());
    }
    let listed = candidates
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(match did_you_mean(name, candidates.iter().copied()) {
        Some(guess) => format!("did you mean `{guess}`? (valid: {listed})"),
        None => format!("valid: {listed}"),
    })
}

/// A string or a list of strings, as `dotenv = "a.env"` or `dotenv = ["a.env"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> serde::Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for OneOrMany {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OneOrMany".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Arc<SourceFile> {
        SourceFile::parse("qik.toml".into(), "qik.toml".into(), text.into()).unwrap()
    }

    #[test]
    fn syntax_error_points_at_line() {
        let err = SourceFile::parse("qik.toml".into(), "qik.toml".into(), "a = 1\nb = \n".into())
            .unwrap_err();
        assert_eq!(err.code, Some(Code::ConfigParse));
        assert_eq!(err.location().unwrap(), "qik.toml:2:5");
    }

    #[test]
    fn unknown_field_gets_did_you_mean() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        #[allow(dead_code)]
        struct Conf {
            exec: Option<String>,
            cache_when: Option<String>,
        }
        let file = parse("[x]\nexec = 'a'\ncache-wen = 'b'\n");
        let node = file.root().get("x").unwrap();
        let err = node.deserialize::<Conf>().unwrap_err();
        assert_eq!(err.location().unwrap(), "qik.toml:3:1");
        assert!(err.hint.unwrap().contains("did you mean `cache-when`"));
    }

    #[test]
    fn nested_type_error_keeps_inner_span() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Conf {
            port: u16,
        }
        let file = parse("[x]\nport = 'eighty'\n");
        let err = file
            .root()
            .get("x")
            .unwrap()
            .deserialize::<Conf>()
            .unwrap_err();
        assert_eq!(err.location().unwrap(), "qik.toml:2:8");
    }

    #[test]
    fn line_col_counts_characters() {
        let file = parse("a = 'é'\nb = 1\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(file.text().find('b').unwrap()), (2, 1));
    }
}
