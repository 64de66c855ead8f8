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

/// Stat data of files named relative to an open directory.
///
/// git stats tracked files relative to its work tree; a path from `/` makes
/// the kernel look up every component of the project root again, which cost
/// a quarter of each `stat` in a project three directories deep. The
/// fields are the ones qik compares (git's stat data and qik's stamps).
pub mod stat {
    use std::fs;
    use std::io;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        File,
        Dir,
        Symlink,
        Other,
    }

    /// What `lstat` says of a file.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct FileStat {
        pub kind: Kind,
        pub mode: u32,
        pub size: u64,
        /// Seconds and nanoseconds.
        pub mtime: (i64, i64),
        pub ctime: (i64, i64),
        pub ino: u64,
        pub nlink: u64,
        pub uid: u32,
        pub gid: u32,
    }

    impl FileStat {
        pub fn is_file(&self) -> bool {
            self.kind == Kind::File
        }

        pub fn is_dir(&self) -> bool {
            self.kind == Kind::Dir
        }
    }

    impl From<&fs::Metadata> for FileStat {
        fn from(meta: &fs::Metadata) -> FileStat {
            use std::os::unix::fs::MetadataExt;
            let file_type = meta.file_type();
            let kind = if file_type.is_file() {
                Kind::File
            } else if file_type.is_dir() {
                Kind::Dir
            } else if file_type.is_symlink() {
                Kind::Symlink
            } else {
                Kind::Other
            };
            FileStat {
                kind,
                mode: meta.mode(),
                size: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
                nlink: meta.nlink(),
                uid: meta.uid(),
                gid: meta.gid(),
            }
        }
    }

    /// An open directory that files are stat-ed relative to.
    #[derive(Debug)]
    pub struct Dir {
        fd: OwnedFd,
    }

    impl Dir {
        pub fn open(path: &Path) -> io::Result<Dir> {
            use nix::fcntl::{OFlag, open};
            use nix::sys::stat::Mode;
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            let fd = open(path, flags, Mode::empty()).map_err(io::Error::from)?;
            Ok(Dir { fd })
        }

        /// `lstat` of `relative` (an absolute path ignores the directory).
        pub fn lstat(&self, relative: &[u8]) -> io::Result<FileStat> {
            self.stat_with(relative, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        }

        /// `stat` of `relative`: a symlink's target.
        pub fn stat(&self, relative: &[u8]) -> io::Result<FileStat> {
            self.stat_with(relative, nix::fcntl::AtFlags::empty())
        }

        fn stat_with(&self, relative: &[u8], flags: nix::fcntl::AtFlags) -> io::Result<FileStat> {
            let stat =
                nix::sys::stat::fstatat(&self.fd, relative, flags).map_err(io::Error::from)?;
            let kind = match stat.st_mode & libc::S_IFMT {
                libc::S_IFREG => Kind::File,
                libc::S_IFDIR => Kind::Dir,
                libc::S_IFLNK => Kind::Symlink,
                _ => Kind::Other,
            };
            Ok(FileStat {
                kind,
                mode: stat.st_mode,
                size: stat.st_size as u64,
                mtime: (stat.st_mtime, stat.st_mtime_nsec),
                ctime: (stat.st_ctime, stat.st_ctime_nsec),
                ino: stat.st_ino,
                nlink: stat.st_nlink,
                uid: stat.st_uid,
                gid: stat.st_gid,
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn relative_stats_agree_with_std() {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("sub")).unwrap();
            fs::write(dir.path().join("sub/file"), "hello").unwrap();
            std::os::unix::fs::symlink("file", dir.path().join("sub/link")).unwrap();
            let opened = Dir::open(dir.path()).unwrap();
            for (relative, kind) in [
                ("sub", Kind::Dir),
                ("sub/file", Kind::File),
                ("sub/link", Kind::Symlink),
            ] {
                let ours = opened.lstat(relative.as_bytes()).unwrap();
                let std = FileStat::from(&fs::symlink_metadata(dir.path().join(relative)).unwrap());
                assert_eq!(ours, std, "{relative}");
                assert_eq!(ours.kind, kind, "{relative}");
            }
            let missing = opened.lstat(b"sub/missing").unwrap_err();
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        }
    }
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
    open_kept_with_metadata(path, limit).map(|(file, meta)| (file, meta.len()))
}

/// [`open_kept`], returning the opened file's metadata (its mode, say) from
/// the one `fstat` that checked it.
pub fn open_kept_with_metadata(
    path: &Path,
    limit: u64,
) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
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
    Ok((file, meta))
}

/// Why a speed-up file (the stat cache, remembered replays) is not used, as
/// a warning: such a file only saves time, so qik carries on without it and
/// writes a good one, but says so once rather than slowing down unseen.
/// `None` when it does not exist yet, which needs no word.
pub fn speed_up_unreadable(path: &Path, err: &std::io::Error) -> Option<String> {
    (err.kind() != std::io::ErrorKind::NotFound).then(|| speed_up_unused(path, err))
}

/// As [`speed_up_unreadable`], for a file that reads but does not parse.
pub fn speed_up_unused(path: &Path, why: impl std::fmt::Display) -> String {
    format!(
        "not using {}: {why}; it only saves time, and is written anew",
        path.display()
    )
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

/// Writes a file atomically: a claimed temp file in the same directory, then
/// a rename, so readers see the old content or the new, never a torn one.
/// The first write of a process into a directory also removes the temp files
/// that killed processes left there ([`staging::sweep_writes`]). Plugins
/// write every file they keep in `._qik`/`.qik` through this.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    staging::sweep_writes(dir);
    let mut temp = tempfile::Builder::new()
        .prefix(staging::WRITE_PREFIX)
        .tempfile_in(dir)?;
    staging::claim(temp.as_file());
    temp.write_all(bytes)?;
    if sync {
        temp.as_file().sync_data()?;
    }
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Staging: the temporary files and directories qik fills before renaming
/// them into place (cache entries, restored artifacts, live logs, atomic
/// writes). A qik killed mid-way leaves them behind; the next run that works
/// in the same directory removes them with [`sweep`].
///
/// Which ones are abandoned is decided by a claim, not by age alone: their
/// creator holds a shared `flock` on each (through an open descriptor) for as
/// long as it lives, and the kernel drops it when the process dies, however
/// it dies. An age threshold alone would either leave a killed run's 300 MB
/// behind for hours or delete the staging of a live process that is copying
/// a large artifact or running a command that prints nothing for a while;
/// a pid would be reused, and means nothing to another container sharing the
/// directory. Age still matters twice: a name younger than [`GRACE`] is left
/// alone (its creator may not have claimed it yet), and where the file system
/// cannot lock at all, only names older than [`UNTESTABLE_AGE`] go.
pub mod staging {
    use std::fs::File;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime};

    /// Atomic writes of qik's small files (`write_atomic`).
    pub const WRITE_PREFIX: &str = ".qik-write-";
    /// A cache entry being built in its runnable's directory.
    pub const ENTRY_PREFIX: &str = ".tmp-";
    /// A cache entry being downloaded from a remote cache.
    pub const REMOTE_PREFIX: &str = ".tmp-remote-";
    /// A damaged cache entry moved aside to be deleted.
    pub const DAMAGED_PREFIX: &str = ".damaged-";
    /// An artifact being restored into the project, next to its place.
    pub const RESTORE_PREFIX: &str = ".qik-restore-";

    /// How long a fresh staging name is left alone whatever its claim: the
    /// moment between creating it and claiming it is microseconds.
    pub const GRACE: Duration = Duration::from_secs(60);
    /// Where a claim cannot be tested (no `flock` on this file system), the
    /// age after which a staging name is taken for abandoned.
    pub const UNTESTABLE_AGE: Duration = Duration::from_secs(24 * 60 * 60);

    /// Claims an open staging file or directory for this process (a shared
    /// lock, dropped with the descriptor or the process). Best effort: where
    /// locks are not supported, [`sweep`] falls back to age.
    pub fn claim(file: &File) {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this process owns; no memory involved.
        let _ = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) };
    }

    /// A staging directory in `parent`, claimed: it is removed when dropped,
    /// unless [`StagingDir::keep`] takes it.
    pub fn dir_in(parent: &Path, prefix: &str) -> io::Result<StagingDir> {
        let temp = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        let claim = File::open(temp.path())?;
        self::claim(&claim);
        Ok(StagingDir { temp, claim })
    }

    /// A claimed staging directory (see [`dir_in`]).
    #[derive(Debug)]
    pub struct StagingDir {
        temp: tempfile::TempDir,
        claim: File,
    }

    impl StagingDir {
        pub fn path(&self) -> &Path {
            self.temp.path()
        }

        /// Keeps the directory on disk; it stays claimed while the returned
        /// descriptor is open (drop it once the directory is renamed away).
        pub fn keep(self) -> (PathBuf, File) {
            (self.temp.keep(), self.claim)
        }
    }

    /// What [`sweep`] makes of one name.
    #[derive(Debug, PartialEq, Eq)]
    enum Verdict {
        Abandoned,
        Alive,
    }

    /// Removes the abandoned staging names directly in `dir` (those for
    /// which `is_staging` holds): unclaimed and older than [`GRACE`]. Returns
    /// what it removed. Errors are ignored: sweeping is housekeeping, and a
    /// name that cannot be removed now is tried again next time.
    pub fn sweep(dir: &Path, is_staging: impl Fn(&str) -> bool) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_str().is_some_and(&is_staging) {
                continue;
            }
            let path = entry.path();
            if verdict(&path, now) != Verdict::Abandoned {
                continue;
            }
            let gone = match entry.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            if gone.is_ok() {
                removed.push(path);
            }
        }
        removed
    }

    /// Sweeps `dir` of abandoned atomic writes ([`WRITE_PREFIX`]), once per
    /// process and directory: [`super::write_atomic`] calls it on its first
    /// write there, and a user of a directory that may not write this time
    /// (a cache found up to date) calls it when it opens the directory, so
    /// a killed run's temp files go with the next run that works there.
    pub fn sweep_writes(dir: &Path) {
        use std::collections::BTreeSet;
        use std::sync::Mutex;
        static SWEPT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
        let first = SWEPT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(dir.to_path_buf());
        if first {
            sweep(dir, |name| name.starts_with(WRITE_PREFIX));
        }
    }

    fn verdict(path: &Path, now: SystemTime) -> Verdict {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Verdict::Alive;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .unwrap_or_default();
        if age < GRACE {
            return Verdict::Alive;
        }
        // A symlink (a live log's link on its way to its name) is never
        // claimed: it exists for microseconds, so age alone decides.
        if meta.file_type().is_symlink() {
            return Verdict::Abandoned;
        }
        if !meta.is_file() && !meta.is_dir() {
            return Verdict::Alive;
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(path);
        let tested = opened.map(|file| {
            // SAFETY: flock on a descriptor this function owns.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if locked == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
        match tested {
            Ok(Ok(())) => Verdict::Abandoned,
            Ok(Err(err)) if err.kind() == io::ErrorKind::WouldBlock => Verdict::Alive,
            // No locks here (or no permission to look): age decides.
            _ if age >= UNTESTABLE_AGE => Verdict::Abandoned,
            _ => Verdict::Alive,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn age(path: &Path, by: Duration) {
            let when = SystemTime::now() - by;
            let file = File::open(path).unwrap();
            file.set_modified(when).unwrap();
        }

        #[test]
        fn only_old_unclaimed_staging_is_swept() {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path();
            let is_staging = |name: &str| name.starts_with(ENTRY_PREFIX);

            let abandoned = root.join(".tmp-abandoned");
            std::fs::create_dir_all(abandoned.join("artifacts")).unwrap();
            std::fs::write(abandoned.join("log"), "x").unwrap();
            age(&abandoned, Duration::from_secs(3600));

            let fresh = root.join(".tmp-fresh");
            std::fs::create_dir(&fresh).unwrap();

            let live = dir_in(root, ENTRY_PREFIX).unwrap();
            age(live.path(), Duration::from_secs(3600));

            let mut live_file = tempfile::Builder::new()
                .prefix(ENTRY_PREFIX)
                .tempfile_in(root)
                .unwrap();
            claim(live_file.as_file());
            std::io::Write::write_all(&mut live_file, b"still going").unwrap();
            live_file
                .as_file()
                .set_modified(SystemTime::now() - Duration::from_secs(3600))
                .unwrap();

            let other = root.join("entry");
            std::fs::create_dir(&other).unwrap();
            age(&other, Duration::from_secs(3600));

            let removed = sweep(root, is_staging);
            assert_eq!(removed, std::slice::from_ref(&abandoned));
            assert!(!abandoned.exists());
            assert!(fresh.exists() && live.path().exists() && live_file.path().exists());
            assert!(other.exists());

            // Once its claim is dropped (its process died), it goes too.
            let (kept, claim) = live.keep();
            drop(claim);
            assert_eq!(sweep(root, is_staging), [kept]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_atomic_write_into_a_directory_sweeps_abandoned_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kept");
        std::fs::create_dir(&dir).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let abandoned = dir.join(".qik-write-killed");
        std::fs::write(&abandoned, "half").unwrap();
        std::fs::File::open(&abandoned)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let fresh = dir.join(".qik-write-just-made");
        std::fs::write(&fresh, "half").unwrap();
        write_atomic(&dir.join("file"), b"whole").unwrap();
        assert!(!abandoned.exists(), "the abandoned write was left");
        assert!(fresh.exists(), "a fresh write was removed");
        assert_eq!(std::fs::read(dir.join("file")).unwrap(), b"whole");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "nothing else is left: {names:?}");
    }

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
