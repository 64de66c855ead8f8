//! `dir.prune`: keeps the newest `[plugins.dir] keep` entries of each
//! runnable in every `dir` cache of the project and removes the rest.
//!
//! It is a command built in code (a [`CommandFactory`]) that runs inside the
//! qik process (a [`NativeAction`]): no shell. It finds the caches through
//! the project view: the remote caches of the project, downcast to this
//! plugin's own type.

use std::any::Any;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use qik_core::cache::Manifest;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{
    ActionCx, Args, CommandFactory, DEFAULT_SPACE, FactoryCx, Instances, NativeAction, ProjectView,
    Runnable, native,
};

use crate::DirConfig;
use crate::cache::{DirCache, STAGING, SharedDir};

pub(crate) static FACTORIES: [CommandFactory; 1] = [CommandFactory {
    name: "prune",
    hidden: false,
    instances: Instances::Standalone(prune),
}];

/// Staging directories older than this belong to an upload that died.
const ABANDONED: Duration = Duration::from_secs(3600);

/// One runnable: `<plugin name>.prune` in the default space. It has no deps,
/// so it is never cached: each run prunes.
fn prune(cx: &FactoryCx<'_>) -> Result<Vec<Runnable>, Diagnostic> {
    let config: &DirConfig = cx.config()?;
    let caches = dir_caches(cx.project);
    let mut runnable = cx.runnable(DEFAULT_SPACE, &Args::new());
    runnable.exec = format!(
        "prune the dir caches to {} entries per runnable",
        config.keep()
    );
    runnable.native = native(Prune {
        caches,
        keep: config.keep() as usize,
    });
    Ok(vec![runnable])
}

/// The `dir` caches of the project: its remote caches of this plugin's type.
fn dir_caches(project: &dyn ProjectView) -> Vec<SharedDir> {
    project
        .remote_caches()
        .into_iter()
        .filter_map(|(_, cache)| (cache as &dyn Any).downcast_ref::<DirCache>())
        .map(|cache| cache.shared.clone())
        .collect()
}

#[derive(Debug)]
struct Prune {
    caches: Vec<SharedDir>,
    keep: usize,
}

impl std::fmt::Debug for SharedDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDir")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NativeAction for Prune {
    fn run(&self, cx: &mut ActionCx<'_>) -> Result<i32, Diagnostic> {
        if self.caches.is_empty() {
            cx.line("no cache of type \"dir\" in this project");
            return Ok(0);
        }
        for cache in &self.caches {
            let dir = cache.resolve(cx.project.ctx())?;
            let (kept, removed) = prune_dir(&dir, self.keep).map_err(|err| {
                Diagnostic::error(
                    Code::General,
                    format!("cannot prune `{}` at {}: {err}", cache.name, dir.display()),
                )
            })?;
            cx.line(format!(
                "{}: kept {kept} entries, removed {removed} ({})",
                cache.name,
                dir.display()
            ));
        }
        Ok(0)
    }
}

/// Prunes `<dir>/<command>/<runnable>/<hash>`; returns (kept, removed).
fn prune_dir(dir: &Path, keep: usize) -> std::io::Result<(usize, usize)> {
    let (mut kept, mut removed) = (0, 0);
    if !dir.is_dir() {
        return Ok((0, 0));
    }
    for command in subdirs(dir)? {
        for runnable in subdirs(&command)? {
            let mut entries = Vec::new();
            for entry in subdirs(&runnable)? {
                let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with(STAGING) {
                    if is_older_than(&entry, ABANDONED) {
                        remove(&entry)?;
                    }
                    continue;
                }
                entries.push((created(&entry), entry));
            }
            // Newest first; an entry without a readable manifest sorts last.
            entries.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
            for (i, (_, entry)) in entries.iter().enumerate() {
                if i < keep {
                    kept += 1;
                } else {
                    remove(entry)?;
                    removed += 1;
                }
            }
        }
    }
    Ok((kept, removed))
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

/// When the entry was written, from its manifest.
fn created(entry: &Path) -> Option<u64> {
    let bytes = fs::read(entry.join("manifest.json")).ok()?;
    serde_json::from_slice::<Manifest>(&bytes)
        .ok()
        .map(|m| m.created)
}

fn is_older_than(path: &Path, age: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| {
            SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default()
                > age
        })
}

/// Renames the entry out of the way first, so a reader sees it whole or not
/// at all, then deletes it.
fn remove(entry: &Path) -> std::io::Result<()> {
    let parent = entry.parent().unwrap_or(Path::new("."));
    let doomed = tempfile::Builder::new()
        .prefix(".tmp-prune-")
        .tempdir_in(parent)?
        .keep();
    let target = doomed.join("entry");
    fs::rename(entry, &target)?;
    fs::remove_dir_all(&doomed)
}
