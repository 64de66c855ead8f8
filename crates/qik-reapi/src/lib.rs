//! The `qik.reapi` plugin: a remote cache on any server of the Remote
//! Execution API v2 (Buildbarn, BuildBuddy, NativeLink, BuildGrid,
//! bazel-remote, ...), and an executor that runs commands on those that
//! execute.
//!
//! `[caches.<name>] type = "reapi"` stores every run of the commands that
//! use it as an action result on the server, and on a local miss downloads
//! it into the local cache (hot storage) for replay. Blobs go up before the
//! result that names them; every blob that comes down is checked against its
//! digest, and a missing or mismatching one is a miss, never a partial
//! restore. Faults degrade to running uncached with one warning.
//!
//! `[executors.<name>] type = "reapi"` sends a command with exactly the
//! inputs its hash covers and brings its log and artifacts back as a local
//! run leaves them. The user-facing description is `docs/reapi.md`.

use std::sync::Arc;

use linkme::distributed_slice;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::remote::remote_cache_type;
use qik_core::ext::{CACHE_TYPES, EXECUTOR_TYPES, Executor, ExecutorType, PLUGINS};
use qik_core::ext::{CacheType, PluginDef, schema_of};
use qik_core::source::Node;

/// Entries as REAPI actions and results.
mod action;
/// Which blobs share a batch request and which are streamed.
mod batch;
/// The remote cache and its failure policy.
mod cache;
/// A blocking gRPC client of the RPCs the cache needs.
mod client;
/// The keys of `[caches.<name>]` and their rendering.
mod config;
/// The `reapi` executor: commands run on the server.
mod exec;
/// The keys of `[executors.<name>]`.
mod exec_config;
/// Executable bits, the file mode REAPI keeps.
mod mode;
/// Uploading the blobs a server lacks.
mod transfer;
/// An action's input root as REAPI Directory messages.
mod tree;

/// The id users write in `[plugins]`.
pub const ID: &str = "qik.reapi";

#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef::types_only(ID);

#[distributed_slice(CACHE_TYPES)]
static REAPI_CACHE: CacheType = CacheType {
    tag: "reapi",
    plugin: ID,
    parse: remote_cache_type::<cache::ReapiCache>,
    schema: Some(schema_of::<config::Raw>),
};

/// Parsing only checks the config: nothing connects until the first job.
fn parse_executor(name: &str, node: Node<'_>) -> Result<Arc<dyn Executor>, Diagnostic> {
    let conf = exec_config::ExecConf::parse(name, node)?;
    Ok(Arc::new(exec::ReapiExecutor::new(name, conf)))
}

#[distributed_slice(EXECUTOR_TYPES)]
static REAPI_EXECUTOR: ExecutorType = ExecutorType {
    tag: "reapi",
    plugin: ID,
    parse: parse_executor,
    schema: Some(schema_of::<exec_config::ExecRaw>),
};
