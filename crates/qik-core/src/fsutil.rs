//! Small file-system helpers shared by the caches.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file qik keeps could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A file qik keeps could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl ReadError {
    pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
        move |source| ReadError {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl WriteError {
    pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
        move |source| WriteError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes a file atomically: a temp file in the same directory, then a rename,
/// so readers see the old content or the new, never a torn one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, true)
}

/// As [`write_atomic`], without waiting for the disk. For files that are only
/// a speed-up and are checked against `stat` data when read (the stat cache,
/// remembered replays): after a crash they may be old, empty or unparsable,
/// which costs a re-hash or a full lookup, never a wrong result. A flush would
/// cost more than the rest of a cached run (tens of ms on a busy disk).
pub(crate) fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    if sync {
        temp.as_file().sync_data()?;
    }
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}
