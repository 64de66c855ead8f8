//! `[caches.<name>] type = "dir"`: whole cache entries in a shared directory.
//!
//! The layout mirrors the local store: `<path>/<command>/<runnable>/<hash>/`
//! holds a copy of the entry directory the local cache wrote (manifest, log,
//! artifacts). Entries are immutable: a hash names one result, so an entry
//! that exists is never rewritten. Both directions build the entry in a
//! temporary sibling directory and rename it into place, so no reader ever
//! sees half an entry, on the shared side or the local one.
//!
//! A shared directory that is missing or unwritable must not break a build:
//! the first problem is reported once as a warning and the cache is skipped
//! for the rest of the run.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use qik_core::cache::{EntryKey, Manifest, slug};
use qik_core::ctx::Ctx;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::{CacheBackend, RemoteCache};
use qik_core::source::{Node, SourceFile};
use qik_core::template::{self, Scope};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// The file every complete entry has; its presence marks the entry whole.
const MANIFEST: &str = "manifest.json";
/// Prefix of the directories entries are built in before their rename.
pub(crate) const STAGING: &str = ".tmp-dir-";

/// A remote cache in a shared directory (an NFS mount, a CI volume), with
/// the local cache as hot storage.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct DirCacheConf {
    /// The shared directory; relative paths start at the project root. May
    /// hold `{ctx...}` placeholders.
    #[schemars(with = "String")]
    path: Spanned<String>,
    /// `false` makes the cache read-only (replay what others shared).
    #[serde(default = "yes")]
    upload: bool,
}

fn yes() -> bool {
    true
}

/// A parsed `dir` cache; the path is rendered on first use, once the
/// context is known.
#[derive(Clone)]
pub(crate) struct SharedDir {
    pub(crate) name: String,
    path: Spanned<String>,
    file: Arc<SourceFile>,
    upload: bool,
}

impl SharedDir {
    /// Parses the cache's table (without its `type`).
    pub(crate) fn parse(name: &str, node: Node<'_>) -> Result<SharedDir, Diagnostic> {
        let conf: DirCacheConf = node.deserialize_without("type")?;
        Ok(SharedDir {
            name: name.to_string(),
            path: conf.path,
            file: Arc::clone(node.file()),
            upload: conf.upload,
        })
    }

    /// The directory, with placeholders filled and relative paths taken
    /// from the directory of the qik.toml that names it.
    pub(crate) fn resolve(&self, ctx: &Ctx) -> Result<PathBuf, Diagnostic> {
        let scope = Scope { module: None, ctx };
        let rendered =
            template::render_at(self.path.get_ref(), scope, &self.file, self.path.span())?;
        let base = self.file.path().parent().unwrap_or(Path::new("."));
        Ok(base.join(rendered))
    }
}

/// Registered as the `dir` cache type. Nothing touches the disk here.
pub(crate) fn parse(name: &str, node: Node<'_>) -> Result<CacheBackend, Diagnostic> {
    let shared = SharedDir::parse(name, node)?;
    Ok(CacheBackend::Remote(Arc::new(DirCache {
        shared,
        root: OnceLock::new(),
        off: AtomicBool::new(false),
    })))
}

pub(crate) struct DirCache {
    pub(crate) shared: SharedDir,
    /// The rendered directory, or why it could not be rendered.
    root: OnceLock<Result<PathBuf, String>>,
    /// Set by the first problem: the rest of the run goes without the cache.
    off: AtomicBool,
}

impl fmt::Debug for DirCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirCache")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl DirCache {
    /// Runs `work` on the shared directory's entry path for `key`; a problem
    /// turns the cache off and becomes one warning, then `fallback`.
    fn guarded<T>(
        &self,
        ctx: &Ctx,
        key: EntryKey<'_>,
        fallback: T,
        work: impl FnOnce(&Path) -> Result<T, String>,
    ) -> Result<T, Diagnostic> {
        if self.off.load(Ordering::Acquire) {
            return Ok(fallback);
        }
        let root = self
            .root
            .get_or_init(|| self.shared.resolve(ctx).map_err(|err| err.message));
        let result = root.as_ref().map_err(String::clone).and_then(|root| {
            let entry = root
                .join(slug(key.command))
                .join(slug(key.runnable))
                .join(key.hash);
            work(&entry)
        });
        result.or_else(|message| {
            if self.off.swap(true, Ordering::AcqRel) {
                return Ok(fallback);
            }
            Err(Diagnostic::warning(format!(
                "`{}`: {message}; running without this cache for the rest of the run",
                self.shared.name
            )))
        })
    }
}

impl RemoteCache for DirCache {
    fn download(&self, ctx: &Ctx, key: EntryKey<'_>, dest: &Path) -> Result<bool, Diagnostic> {
        self.guarded(ctx, key, false, |shared| {
            let manifest = match fs::read(shared.join(MANIFEST)) {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(err) => return Err(format!("cannot read {}: {err}", shared.display())),
            };
            // Only an entry for exactly this runnable and hash is placed; core
            // checks the artifacts against their digests when it replays them.
            let belongs = serde_json::from_slice::<Manifest>(&manifest)
                .is_ok_and(|m| m.name == key.runnable && m.hash == key.hash);
            if !belongs {
                return Err(format!(
                    "{} is not an entry of {}",
                    shared.display(),
                    key.runnable
                ));
            }
            place(shared, dest).map(|()| true)
        })
    }

    fn upload(&self, ctx: &Ctx, key: EntryKey<'_>, src: &Path) -> Result<(), Diagnostic> {
        if !self.shared.upload {
            return Ok(());
        }
        self.guarded(ctx, key, (), |shared| {
            if shared.join(MANIFEST).is_file() {
                // Someone shared this result already; it cannot differ.
                return Ok(());
            }
            place(src, shared)
        })
    }

    fn contains(&self, ctx: &Ctx, key: EntryKey<'_>) -> Result<bool, Diagnostic> {
        self.guarded(ctx, key, false, |shared| {
            Ok(shared.join(MANIFEST).is_file())
        })
    }
}

/// Copies the entry `from` to `to` (which does not exist) whole or not at
/// all: into a temporary sibling of `to`, then one rename.
fn place(from: &Path, to: &Path) -> Result<(), String> {
    let parent = to.parent().ok_or("an entry has a parent directory")?;
    fs::create_dir_all(parent)
        .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    // Claimed while it is filled: qik sweeps unclaimed staging directories
    // of the local store that look abandoned, and so does `qik-dir prune`.
    let staging = qik_core::fsutil::staging::dir_in(parent, STAGING)
        .map_err(|err| format!("cannot write in {}: {err}", parent.display()))?;
    copy_tree(from, staging.path())
        .map_err(|err| format!("cannot copy {}: {err}", from.display()))?;
    let (staged, _claim) = staging.keep();
    if let Err(err) = fs::rename(&staged, to) {
        let _ = fs::remove_dir_all(&staged);
        // Another clone placed the same entry first: same content, fine.
        if !to.join(MANIFEST).is_file() {
            return Err(format!("cannot place {}: {err}", to.display()));
        }
    }
    Ok(())
}

/// Copies directories and regular files; anything else (a symlink planted in
/// a shared directory) is refused rather than followed.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
        } else {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                entry.path().display()
            )));
        }
    }
    Ok(())
}
