//! The `qik.s3` plugin: a remote cache in S3 or any S3-compatible store.
//!
//! `[caches.<name>] type = "s3"` keeps every run of the commands that use it
//! in a bucket, and on a local miss downloads the entry into the local cache
//! (hot storage) for replay. Entries are sealed (every file pinned by digest
//! and size, optionally signed), checked before anything is written, and
//! uploaded seal-last; faults degrade to running uncached with one warning.
//! The user-facing description is `docs/s3.md`.

use std::sync::Arc;

use linkme::distributed_slice;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::CacheBackend;
use qik_core::ext::{CACHE_TYPES, PLUGINS};
use qik_core::ext::{CacheType, PluginConfig, PluginDef, schema_of};
use qik_core::source::Node;
use schemars::JsonSchema;
use serde::Deserialize;

/// The remote cache and its failure policy.
mod cache;
/// The keys of `[caches.<name>]` and their rendering.
mod config;
/// Credentials (the AWS chain, fixed or none) and the TLS roots.
mod creds;
/// Signed requests, sent with bounded time and streamed bodies.
mod http;
/// Object keys and entry paths, validated.
mod keys;
/// The seal that pins (and optionally signs) an entry's files.
mod seal;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.s3";

/// `[plugins.s3]` takes no keys besides `pyimport`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct S3Config {}

fn parse_config(node: Option<Node<'_>>) -> Result<PluginConfig, Diagnostic> {
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
    factories: &[],
    schema: Some(schema_of::<S3Config>),
};

/// Parsing only checks the config: nothing connects until first use.
fn parse_cache(name: &str, node: Node<'_>) -> Result<CacheBackend, Diagnostic> {
    let conf = config::Conf::parse(name, node)?;
    Ok(CacheBackend::Remote(Arc::new(cache::S3Cache::new(conf))))
}

#[distributed_slice(CACHE_TYPES)]
static S3_CACHE: CacheType = CacheType {
    tag: "s3",
    plugin: ID,
    parse: parse_cache,
    schema: Some(schema_of::<config::Raw>),
};
