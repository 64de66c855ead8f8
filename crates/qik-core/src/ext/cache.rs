//! Cache types: how a named cache stores entries, and the trait of caches
//! outside the machine.

use std::any::Any;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::cache::EntryKey;
use crate::ctx::Ctx;
use crate::diagnostic::Diagnostic;

/// A cache outside the machine. It keeps whole entries (the directories the
/// local cache writes) and uses the local cache as hot storage.
///
/// `ctx` fills `{ctx...}` placeholders of the cache's config: it is resolved
/// after the config is parsed, so a remote cache renders its settings on first
/// use rather than in its `CacheType::parse`.
pub trait RemoteCache: Any + Send + Sync + fmt::Debug {
    /// On a local miss: fetches the entry and places it at `dest`, the entry's
    /// directory in the local store ([`crate::cache::Store::entry_dir`]), which does not
    /// exist. The entry must appear whole or not at all: build it in a sibling
    /// temporary directory and rename it into place. `Ok(false)` when the
    /// remote has no usable entry. The artifacts go into the entry's one
    /// pack, each at its offset ([`crate::ext::remote::StagedPack`]), and
    /// the manifest must be this version's. Every artifact must be checked against
    /// the manifest's digest as it is written (a mismatch is no entry): core
    /// restores a just-downloaded entry's artifacts checking their sizes
    /// only ([`crate::cache::Entry::restore_downloaded_artifacts`]).
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
