//! The types that ship with qik, registered through the same slices as a
//! plugin's: dep types, cache types, venv types and the local executor.

pub mod caches;
pub mod deps;
pub mod executor;
pub mod venvs;

use std::sync::Arc;

use linkme::distributed_slice;

use crate::ext::registry::{BUILTIN, PLUGINS, PluginDef};

// Core's own entry keeps `PLUGINS` non-empty (some linkers drop empty slices).
#[distributed_slice(PLUGINS)]
static BUILTIN_PLUGIN: PluginDef = PluginDef {
    id: BUILTIN,
    config: |_| Ok(Arc::new(())),
    commands: "",
    factories: &[],
    schema: None,
};
