//! Where results are kept: `cache-when`, entry identities, and the on-disk
//! store of entries shared by the local and repo caches. The open set of
//! cache types is in [`crate::ext`]; the built-in ones in [`crate::builtin`].

pub mod artifacts;
mod dirs;
mod replays;
pub mod repo;
pub(crate) mod store;

pub use dirs::{LOCAL_KEEP, WorkDirs};
pub use replays::Replays;
pub use store::{
    ArtifactRecord, Damage, Entry, LogRecord, Lookup, MANIFEST_VERSION, Manifest, PACK,
    RestoreError, Store, Stored, artifact_record, file_digest, file_id, pack_offsets,
    safe_relative, slug,
};

use serde::Deserialize;

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
