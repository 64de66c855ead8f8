//! The `qik.s3` plugin: a remote cache in S3 or any S3-compatible store.
//!
//! This crate registers the plugin id (it has no `[plugins.s3]` keys); the
//! `s3` cache type builds on it.

use std::sync::Arc;

use linkme::distributed_slice;
use qik_core::PLUGINS;
use qik_core::registry::{PluginConfig, PluginDef};
use qik_core::source::Node;
use serde::Deserialize;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.s3";

/// `[plugins.s3]` takes no keys besides `pyimport`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Config {}

fn parse_config(node: Option<Node<'_>>) -> Result<PluginConfig, qik_core::diagnostic::Diagnostic> {
    if let Some(node) = node {
        node.deserialize_without::<S3Config>("pyimport")?;
    }
    Ok(Arc::new(S3Config::default()))
}

#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef {
    id: ID,
    config: parse_config,
    commands: "",
};
