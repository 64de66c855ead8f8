//! The `qik.uv` plugin: virtualenvs locked and installed by uv.
//!
//! This crate registers the plugin id and its `[plugins.uv]` section. The venv
//! type and the `uv.lock` / `uv.install` commands build on it.

use std::sync::Arc;

use linkme::distributed_slice;
use qik_core::PLUGINS;
use qik_core::registry::{PluginConfig, PluginDef};
use qik_core::source::Node;
use serde::Deserialize;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.uv";

/// A constraint file, or the constraint of another space's venv.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Constraint {
    File(String),
    Space(SpaceRef),
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpaceRef {
    #[serde(rename = "type")]
    pub kind: SpaceTag,
    pub name: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SpaceTag {
    Space,
}

/// `[plugins.uv]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UvConfig {
    /// Python version for every uv venv (default: the active one).
    pub python: Option<String>,
    pub constraint: Option<Constraint>,
    pub index_url: Option<String>,
    pub extra_index_url: Option<String>,
    /// Where lock files live: a cache name (`repo` by default).
    pub cache: Option<String>,
}

fn parse_config(node: Option<Node<'_>>) -> Result<PluginConfig, qik_core::diagnostic::Diagnostic> {
    let config: UvConfig = match node {
        Some(node) => node.deserialize_without("pyimport")?,
        None => UvConfig::default(),
    };
    Ok(Arc::new(config))
}

#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef {
    id: ID,
    config: parse_config,
    commands: "",
};
