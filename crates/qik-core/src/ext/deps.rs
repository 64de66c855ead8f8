//! Command dependencies: the open set of `deps` types.
//!
//! A dependency type (built in or from a plugin) parses its TOML once into a
//! [`DepSpec`]. For each runnable, the spec adds its inputs to a [`DepSet`]:
//! globs of git-tracked files, constants, Python distributions, files of
//! serialized deps, and upstream commands. Everything that hashing, `--since`
//! and the graph need is in that closed structure, so plugins never touch them.

use std::fmt;
use std::sync::Arc;

use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::ext::depset::DepSet;
use crate::ext::view::ProjectView;
use crate::source::{Node, SourceFile};
use crate::template::{self, Scope};

/// A parsed `deps` entry.
pub trait DepSpec: Send + Sync + fmt::Debug {
    /// Adds this dependency's inputs for one runnable.
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic>;
}

/// What a dependency is resolved against: the runnable's module and space.
pub struct DepCx<'a> {
    /// The project, as plugins see it.
    pub project: &'a dyn ProjectView,
    pub scope: Scope<'a>,
    pub space: &'a str,
    /// The file the dependency was written in, for messages.
    pub file: &'a Arc<SourceFile>,
}

impl DepCx<'_> {
    /// Fills `{module...}` and `{ctx...}` placeholders of a config string.
    pub fn render(&self, value: &Spanned<String>) -> Result<String, Diagnostic> {
        template::render_at(value.get_ref(), self.scope, self.file, value.span())
    }
}

/// Deserializes a dep table, ignoring its `type` key (already dispatched on).
pub fn parse_typed<T>(node: Node<'_>) -> Result<Box<dyn DepSpec>, Diagnostic>
where
    T: DepSpec + serde::de::DeserializeOwned + 'static,
{
    Ok(Box::new(node.deserialize_without::<T>("type")?))
}
