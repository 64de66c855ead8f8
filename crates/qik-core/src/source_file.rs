//! A configuration file's text, kept for spans: what diagnostics point into.
//!
//! Parsing lives in [`crate::source`]; this file only holds the text, its
//! line index and the parsed document, so diagnostics can show a snippet
//! without depending on the parser.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A configuration file, parsed once.
pub struct SourceFile {
    path: PathBuf,
    display: String,
    text: &'static str,
    pub(crate) root: Spanned<DeValue<'static>>,
    line_starts: Vec<usize>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .finish()
    }
}

impl SourceFile {
    /// A file with an empty document; [`crate::source`] fills in the root.
    pub(crate) fn unparsed(path: PathBuf, display: String, text: &'static str) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path,
            display,
            text,
            root: Spanned::new(0..0, DeValue::Table(DeTable::new())),
            line_starts,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn display_path(&self) -> &str {
        &self.display
    }

    pub fn text(&self) -> &'static str {
        self.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let start = self.line_starts[line - 1];
        let col = self.text[start..offset.min(self.text.len())]
            .chars()
            .count()
            + 1;
        (line, col)
    }
}
