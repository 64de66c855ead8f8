//! The qik engine.
//!
//! Layers, each using only the ones before it (ARCHITECTURE.md lists them;
//! `tests/layers` enforces them):
//! 1. text: [`source`] and [`diagnostic`] (spanned TOML, errors), [`ctx`],
//!    [`template`];
//! 2. leaves: [`git`], [`runner`] (processes and the worker pool);
//! 3. storage: the cache store, stat cache, file digests, installed
//!    distributions;
//! 4. the extension API, [`ext`]: traits, their contexts, the registry, and
//!    the [`ext::ProjectView`] plugins see;
//! 5. [`builtin`] types, registered like plugins;
//! 6. [`config`] (qik.toml) and its JSON [`schema`];
//! 7. [`model`] (spaces, modules, runnables; implements the view);
//! 8. [`hashing`], [`graph`], [`changes`], [`explain`];
//! 9. selection: [`since`], [`plan`];
//! 10. [`run`] and its [`events`].
//!
//! Plugins depend on [`ext`] only. Nothing here renders to a terminal; the
//! CLI does.

pub mod builtin;
pub mod cache;
pub mod changes;
pub mod config;
pub mod ctx;
pub mod diagnostic;
pub mod environment;
pub mod events;
pub mod explain;
pub mod ext;
pub mod fsutil;
pub mod git;
pub mod graph;
pub mod hashing;
pub mod model;
mod module;
pub mod plan;
pub mod run;
pub mod runner;
pub mod schema;
pub mod shard;
pub mod since;
pub mod source;
mod source_file;
pub mod template;

// Plugins register with `#[distributed_slice(qik_core::ext::PLUGINS)]`.
pub use linkme;
// Plugins describe their tables with `schemars::JsonSchema` (`ext::SchemaFn`).
pub use schemars;
