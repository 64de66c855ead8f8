//! The `qik.uv` plugin: virtualenvs locked and installed by uv.
//!
//! With `[plugins] uv = "qik.uv"`, a space's `venv = "requirements.txt"` is a
//! uv venv. Every command of such a space depends (strictly) on two hidden
//! runnables of the space: `uv.lock` compiles the requirements into a
//! universal lock file, `uv.install` builds `._qik/venv/<space>` and syncs it
//! to the lock. Both are cached like any command, so an unchanged space costs
//! nothing. The space's commands run with the venv's `VIRTUAL_ENV` and `PATH`,
//! and their `pydist` deps read versions from its site-packages.

mod commands;
mod config;
mod lockfile;
mod venv;

use linkme::distributed_slice;
use qik_core::ext::{PLUGINS, PluginDef, schema_of};

pub use config::{Constraint, UvConfig};
pub use venv::UvVenv;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.uv";

/// The command that locks a space's requirements (`uv.lock`).
pub(crate) const LOCK: &str = "lock";
/// The command that installs a space's venv from its lock (`uv.install`).
pub(crate) const INSTALL: &str = "install";

#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef {
    id: ID,
    config: config::parse,
    commands: "",
    factories: &commands::FACTORIES,
    schema: Some(schema_of::<UvConfig>),
};
