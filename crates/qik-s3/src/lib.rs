//! The `qik.s3` plugin: a remote cache in S3 or any S3-compatible store.
//!
//! `[caches.<name>] type = "s3"` keeps every run of the commands that use it
//! in a bucket, and on a local miss downloads the entry into the local cache
//! (hot storage) for replay. Entries are sealed (every file pinned by digest
//! and size, optionally signed), checked before anything is written, and
//! uploaded seal-last; faults degrade to running uncached with one warning.
//! The user-facing description is `docs/s3.md`.

// Without the `client` feature (the fuzz targets' build) only the seal and
// key readers compile, and what only the cache uses of them goes unused.
#![cfg_attr(not(feature = "client"), allow(dead_code))]

#[cfg(feature = "client")]
use linkme::distributed_slice;
#[cfg(feature = "client")]
use qik_core::ext::remote::remote_cache_type;
#[cfg(feature = "client")]
use qik_core::ext::{CACHE_TYPES, CacheType, PLUGINS, PluginDef, schema_of};

/// The remote cache and its failure policy.
#[cfg(feature = "client")]
mod cache;
/// The keys of `[caches.<name>]` and their rendering.
#[cfg(feature = "client")]
mod config;
/// Credentials (the AWS chain, fixed or none) and the TLS roots.
#[cfg(feature = "client")]
mod creds;
/// Signed requests, sent with bounded time and streamed bodies.
#[cfg(feature = "client")]
mod http;
/// Object keys and entry paths, validated.
mod keys;
/// The seal that pins (and optionally signs) an entry's files.
mod seal;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.s3";

/// What the fuzz target `fuzz/fuzz_targets/seal.rs` drives: a remote entry's
/// seal read from untrusted bytes, verified and turned into a download plan.
/// Any outcome but a panic is fine. Not an API.
#[doc(hidden)]
pub fn fuzz_read_seal(bytes: &[u8]) {
    let Ok(seal) = seal::Seal::parse(bytes) else {
        return;
    };
    let _ = seal.verify(Some(&seal::SigningKey::new("fuzz")));
    let key = qik_core::cache::EntryKey {
        command: &seal.command,
        runnable: &seal.runnable,
        hash: &seal.hash,
    };
    let _ = seal.plan(key);
}

#[cfg(feature = "client")]
#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef::types_only(ID);

#[cfg(feature = "client")]
#[distributed_slice(CACHE_TYPES)]
static S3_CACHE: CacheType = CacheType {
    tag: "s3",
    plugin: ID,
    parse: remote_cache_type::<cache::S3Cache>,
    schema: Some(schema_of::<config::Raw>),
};
