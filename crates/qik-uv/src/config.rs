//! `[plugins.uv]`: settings shared by every uv venv of the project.

use std::sync::Arc;

use qik_core::ctx::Ctx;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::PluginConfig;
use qik_core::source::{Node, SourceFile};
use qik_core::template::{self, Scope};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A constraint file, or the constraint of another space's venv.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Constraint {
    // Plain strings: spans do not survive serde's buffering of untagged enums.
    /// A constraint file (`uv pip compile --constraint`).
    File(String),
    Space(SpaceRef),
}

/// The constraint of another space's uv venv.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceRef {
    #[serde(rename = "type")]
    pub kind: SpaceTag,
    /// The space's name.
    pub name: String,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SpaceTag {
    Space,
}

/// `[plugins.uv]`: settings of every uv venv; values may hold `{ctx...}`
/// placeholders.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UvConfig {
    /// Python version for every uv venv (default: the one uv picks).
    #[schemars(with = "Option<String>")]
    pub python: Option<Spanned<String>>,
    /// The constraint of every uv venv that sets none.
    pub constraint: Option<Constraint>,
    /// Passed to uv as `UV_INDEX_URL`.
    #[schemars(with = "Option<String>")]
    pub index_url: Option<Spanned<String>>,
    /// Passed to uv as `UV_EXTRA_INDEX_URL`.
    #[schemars(with = "Option<String>")]
    pub extra_index_url: Option<Spanned<String>>,
    /// The cache that keeps lock files (default: `[defaults] cache`, else
    /// `repo`): `repo` commits them under `.qik/`, any other keeps them
    /// under `._qik/`.
    #[schemars(with = "Option<String>")]
    pub cache: Option<Spanned<String>>,
    /// The file the values were written in, for errors while rendering them.
    #[serde(skip)]
    file: Option<Arc<SourceFile>>,
}

impl UvConfig {
    /// Fills `{ctx...}` placeholders of one of this section's values.
    pub(crate) fn render(&self, ctx: &Ctx, value: &Spanned<String>) -> Result<String, Diagnostic> {
        let scope = Scope { module: None, ctx };
        match &self.file {
            Some(file) => template::render_at(value.get_ref(), scope, file, value.span()),
            // The default section has no values to render.
            None => Ok(value.get_ref().clone()),
        }
    }
}

pub(crate) fn parse(node: Option<Node<'_>>) -> Result<PluginConfig, Diagnostic> {
    let config = match node {
        Some(node) => UvConfig {
            file: Some(Arc::clone(node.file())),
            ..node.deserialize_without("pyimport")?
        },
        None => UvConfig::default(),
    };
    Ok(Arc::new(config))
}
