//! Where results are kept: the open set of cache types, `cache-when`, and the
//! on-disk store of entries shared by the local and repo caches.

pub mod artifacts;
mod replays;
pub mod repo;
mod store;

pub use replays::Replays;
pub use store::{
    ArtifactRecord, Entry, Lookup, Manifest, Store, file_digest, file_id, safe_relative, slug,
};

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::diagnostic::Diagnostic;
use crate::registry::{BUILTIN, CACHE_TYPES, CacheType, schema_of};
use crate::source::Node;

/// When a finished run is written to its cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheWhen {
    #[default]
    Success,
    Failed,
    Finished,
}

impl CacheWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheWhen::Success => "success",
            CacheWhen::Failed => "failed",
            CacheWhen::Finished => "finished",
        }
    }
}

/// The identity of one cache entry.
#[derive(Clone, Copy, Debug)]
pub struct EntryKey<'a> {
    /// The command's name (entries are grouped by command, see [`Store`]).
    pub command: &'a str,
    /// The runnable's name (not a slug: [`slug`] it for paths and keys).
    pub runnable: &'a str,
    /// The runnable's hash.
    pub hash: &'a str,
}

/// A cache outside the machine. It keeps whole entries (the directories the
/// local cache writes) and uses the local cache as hot storage.
///
/// `ctx` fills `{ctx...}` placeholders of the cache's config: it is resolved
/// after the config is parsed, so a remote cache renders its settings on first
/// use rather than in its `CacheType::parse`.
pub trait RemoteCache: Send + Sync + fmt::Debug {
    /// On a local miss: fetches the entry and places it at `dest`, the entry's
    /// directory in the local store ([`Store::entry_dir`]), which does not
    /// exist. The entry must appear whole or not at all: build it in a sibling
    /// temporary directory and rename it into place. `Ok(false)` when the
    /// remote has no usable entry.
    fn download(&self, ctx: &Ctx, key: EntryKey<'_>, dest: &Path) -> Result<bool, Diagnostic>;
    /// After an entry was written locally in `src`: stores it remotely.
    fn upload(&self, ctx: &Ctx, key: EntryKey<'_>, src: &Path) -> Result<(), Diagnostic>;
    /// Whether the remote holds a usable entry, without fetching it
    /// (`--cache-status`).
    fn contains(&self, ctx: &Ctx, key: EntryKey<'_>) -> Result<bool, Diagnostic> {
        let _ = (ctx, key);
        Ok(false)
    }
}

/// How a named cache stores entries.
#[derive(Clone, Debug)]
pub enum CacheBackend {
    /// `._qik/cache`, private to this checkout.
    Local,
    /// `.qik/cache`, committed with the repository.
    Repo,
    /// Never cached.
    Never,
    /// A plugin's remote store, with the local cache as hot storage.
    Remote(Arc<dyn RemoteCache>),
}

/// The built-in cache types take no keys besides `type`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoKeys {}

/// The schema of a built-in cache type's table.
fn no_keys(generator: &mut schemars::SchemaGenerator, description: &str) -> schemars::Schema {
    let mut schema = schema_of::<NoKeys>(generator);
    schema.insert("description".into(), description.into());
    schema
}

fn builtin(backend: CacheBackend) -> impl Fn(Node<'_>) -> Result<CacheBackend, Diagnostic> {
    move |node| {
        node.deserialize_without::<NoKeys>("type")?;
        Ok(backend.clone())
    }
}

#[distributed_slice(CACHE_TYPES)]
static LOCAL: CacheType = CacheType {
    tag: "local",
    plugin: BUILTIN,
    parse: |_, node| builtin(CacheBackend::Local)(node),
    schema: Some(|generator| {
        no_keys(
            generator,
            "Entries in `._qik/cache`, private to this checkout.",
        )
    }),
};

#[distributed_slice(CACHE_TYPES)]
static REPO: CacheType = CacheType {
    tag: "repo",
    plugin: BUILTIN,
    parse: |_, node| builtin(CacheBackend::Repo)(node),
    schema: Some(|generator| {
        no_keys(
            generator,
            "Entries in `.qik/cache`, committed with the repository.",
        )
    }),
};

#[distributed_slice(CACHE_TYPES)]
static NONE: CacheType = CacheType {
    tag: "none",
    plugin: BUILTIN,
    parse: |_, node| builtin(CacheBackend::Never)(node),
    schema: Some(|generator| no_keys(generator, "Never cached.")),
};
