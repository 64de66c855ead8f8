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

/// Limits of what qik reads back from its own files, by kind. Generous for
/// what qik writes; a file beyond them was not written by qik.
/// `base/part/...` built in one allocation of the right size.
///
/// `Path::join` copies, regrows and re-parses the path once per part; a
/// cached run builds a few paths per runnable and per tracked file, and those
/// joins were an eighth of its instructions. Parts are relative (never
/// absolute, never empty): slugs, digests and repository paths.
pub fn joined(base: &Path, parts: &[&[u8]]) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let base = base.as_os_str().as_bytes();
    let len = base.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(base);
    for part in parts {
        debug_assert!(!part.is_empty() && !part.starts_with(b"/"));
        if !bytes.ends_with(b"/") {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(part);
    }
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

pub mod limits {
    /// A cache entry's manifest.
    pub const MANIFEST: u64 = 64 << 20;
    /// Remembered stat data, replays and other speed-ups.
    pub const MEMO: u64 = 256 << 20;
    /// Logs and artifacts are streamed, never held: only their kind matters.
    pub const STREAMED: u64 = u64::MAX;
}

/// Opens a file qik keeps (in `._qik` or `.qik`) for reading, when it is a
/// regular file of at most `limit` bytes. Anything else in its place is
/// refused before a byte is read: a FIFO would block past Ctrl-C (it is
/// opened without waiting for a writer), a device such as `/dev/zero` (also
/// behind a symlink) would never end. Returns the file and its size.
pub fn open_kept(path: &Path, limit: u64) -> std::io::Result<(std::fs::File, u64)> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    // The opened file's own type and size: no race with a swap of the path.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > limit {
        return Err(Error::new(
            ErrorKind::FileTooLarge,
            format!("{} bytes, more than qik writes there", meta.len()),
        ));
    }
    Ok((file, meta.len()))
}

/// The whole content of a kept file (see [`open_kept`]); reads no more than
/// `limit` bytes even if the file grows meanwhile.
pub fn read_kept(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, size) = open_kept(path, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// As [`read_kept`], as UTF-8 text.
pub fn read_kept_string(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_kept(path, limit)?)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_is_path_join_in_one_allocation() {
        for (base, parts) in [
            ("/repo", vec!["._qik", "out", "lint_a-0123abcd.out"]),
            ("/repo/", vec!["pkgs/m1/f.py"]),
            ("/", vec!["x"]),
            ("rel/dir", vec!["a", "b"]),
        ] {
            let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
            let expected = parts
                .iter()
                .fold(PathBuf::from(base), |path, part| path.join(part));
            let got = joined(Path::new(base), &bytes);
            assert_eq!(got, expected);
            assert_eq!(got.as_os_str().len(), expected.as_os_str().len());
        }
    }
}
