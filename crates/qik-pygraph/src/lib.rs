//! The `qik.pygraph` plugin: the Python import graph as a dependency, and
//! import linting across space fences.
//!
//! This crate registers the plugin id and its `[plugins.pygraph]` section,
//! and holds the import-graph engine the plugin's commands run:
//!
//! - [`build`]: candidate `*.py` files → [`Graph`] (raw imports cached per
//!   file by content digest; resolution on every build), written as
//!   `graph.json` by [`Graph::write_json`];
//! - [`lock`]: one module's upstream closure as globs and distributions;
//! - [`check`]: imports leaving a space's fence.
//!
//! `docs/pygraph.md` describes the semantics and where they differ from
//! grimp and the Python qik.

mod build;
mod cache;
mod check;
mod commands;
mod decode;
mod dep;
mod graph;
mod lock;
mod parse;
mod scan;
mod stdlib;

use std::sync::Arc;

pub use build::{BadSource, Build, BuildError, BuildOptions, build, python_files};
pub use check::{Violation, all_clear, check, fence_modules};
pub use graph::{Graph, GraphFileError, ImportSite, Module};
pub use lock::{Lock, LockError, lock};
pub use parse::{RawImport, SourceError, raw_imports};

use linkme::distributed_slice;
use qik_core::ext::PLUGINS;
use qik_core::ext::{PluginConfig, PluginDef, schema_of};
use qik_core::source::Node;
use schemars::JsonSchema;
use serde::Deserialize;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.pygraph";

/// `[plugins.pygraph]`: how the import graph is built and cached.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PygraphConfig {
    /// Leave out imports under `if TYPE_CHECKING:`.
    #[serde(default)]
    pub ignore_type_checking: bool,
    /// Do not track external distributions of imported modules.
    #[serde(default)]
    pub ignore_pydists: bool,
    /// Default cache of the plugin's commands (default: `[defaults] cache`,
    /// else `local`).
    pub cache: Option<String>,
    /// Cache of `pygraph.build` (default: `cache`).
    pub build_cache: Option<String>,
    /// Cache of `pygraph.lock` (default: `cache`).
    pub lock_cache: Option<String>,
    /// Cache of `pygraph.check` (default: `cache`).
    pub check_cache: Option<String>,
}

fn parse_config(node: Option<Node<'_>>) -> Result<PluginConfig, qik_core::diagnostic::Diagnostic> {
    let config: PygraphConfig = match node {
        Some(node) => node.deserialize_without("pyimport")?,
        None => PygraphConfig::default(),
    };
    Ok(Arc::new(config))
}

#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef {
    id: ID,
    config: parse_config,
    commands: "",
    factories: &commands::FACTORIES,
    schema: Some(schema_of::<PygraphConfig>),
};
