//! The qik engine.
//!
//! Layers, each using only the ones before it: [`source`] and [`diagnostic`]
//! (spanned TOML, errors) → [`registry`] (extension points) → [`schema`]
//! (their part of qik.toml's JSON Schema) → [`config`] (qik.toml) → [`model`] (spaces, modules, runnables) → [`graph`] (selection
//! and the DAG). Plugins register through [`registry`] and use the public
//! traits [`deps::DepSpec`], [`cache::RemoteCache`] and [`venv::VenvSpec`].
//! Nothing here renders to a terminal; the CLI does.

pub mod cache;
pub mod changes;
pub mod config;
pub mod ctx;
pub mod deps;
pub mod diagnostic;
pub mod environment;
pub mod events;
pub mod explain;
pub mod factory;
mod fsutil;
pub mod git;
pub mod graph;
pub mod hashing;
pub mod model;
pub mod plan;
pub mod registry;
pub mod run;
pub mod runner;
pub mod schema;
pub mod since;
pub mod source;
pub mod template;
pub mod venv;

// Plugins register with `#[distributed_slice(qik_core::PLUGINS)]`.
pub use linkme;
// Plugins describe their tables with `schemars::JsonSchema` (`registry::SchemaFn`).
pub use registry::{CACHE_TYPES, DEP_TYPES, PLUGINS, VENV_TYPES};
pub use schemars;
