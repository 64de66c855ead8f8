//! Finding a work tree's git directory and reading its index once into a compact, read-only list.
//!
//! The index records, for every tracked path, the blob id git staged and the `stat` data of the
//! file when it did. [`stat_matches`] repeats git's own "is this file unchanged?" test so a caller
//! can reuse the blob id instead of reading and hashing the file.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::fsutil::stat::{FileStat, Kind};

use gix_index::hash::Kind as HashKind;
use thiserror::Error;

/// Why the repository or its index could not be read.
#[derive(Debug, Error)]
pub enum GitError {
    /// No `.git` was found in the directory or any of its parents.
    #[error("{} is not inside a git work tree", .0.display())]
    NotARepository(PathBuf),
    /// A file or directory that git keeps could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `.git` file that does not say `gitdir: <path>`.
    #[error("{} is not a valid .git file: expected `gitdir: <path>`", .0.display())]
    InvalidGitFile(PathBuf),
    /// The index could not be decoded.
    #[error("git index {} is corrupt: {message}", path.display())]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },
    /// The repository hashes objects with something other than SHA-1.
    #[error("{}: object format {format:?} is not supported, only sha1", path.display())]
    UnsupportedObjectFormat {
        /// The repository's git directory.
        path: PathBuf,
        /// `extensions.objectFormat` as configured.
        format: String,
    },
    /// A sparse index stores whole directories as tree ids, and expanding them needs the object database.
    #[error(
        "git index {} is a sparse index, which qik cannot read; \
         turn it off with `git sparse-checkout init --no-sparse-index`",
        .0.display()
    )]
    SparseIndex(PathBuf),
}

/// How a repository names objects (`extensions.objectFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectFormat {
    /// SHA-1, 20 bytes: every repository unless created with `--object-format=sha256`.
    #[default]
    Sha1,
    /// SHA-256, 32 bytes. Detected, but its index cannot be read or hashed yet.
    Sha256,
}

impl ObjectFormat {
    fn hash_kind(self) -> Option<HashKind> {
        match self {
            ObjectFormat::Sha1 => Some(HashKind::Sha1),
            ObjectFormat::Sha256 => None,
        }
    }
}

/// A git object id (a blob's, for files), 20 or 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    bytes: [u8; 32],
    len: u8,
}

impl ObjectId {
    const EMPTY_BLOB_SHA1: [u8; 20] = *b"\xe6\x9d\xe2\x9b\xb2\xd1\xd6\x43\x4b\x8b\
                                        \x29\xae\x77\x5a\xd8\xc2\xe4\x8c\x53\x91";

    fn from_bytes(raw: &[u8]) -> Self {
        let mut bytes = [0; 32];
        let len = raw.len().min(32);
        bytes[..len].copy_from_slice(&raw[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The raw id, 20 bytes for SHA-1 and 32 for SHA-256.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The object format the id belongs to.
    pub fn format(&self) -> ObjectFormat {
        if self.len == 32 {
            ObjectFormat::Sha256
        } else {
            ObjectFormat::Sha1
        }
    }

    /// Whether this is all zeroes, which git never uses for a real object.
    pub fn is_null(&self) -> bool {
        self.as_bytes().iter().all(|&b| b == 0)
    }

    /// Whether this is the id of the empty blob (`e69de29…` in SHA-1), which intent-to-add entries carry.
    pub fn is_empty_blob(&self) -> bool {
        match self.format() {
            ObjectFormat::Sha1 => self.as_bytes() == Self::EMPTY_BLOB_SHA1,
            ObjectFormat::Sha256 => {
                self.as_bytes() == b"\x47\x3a\x0f\x4c\x3b\xe8\xa9\x36\x81\xa2\x67\xe3\xb1\xe9\xa7\xdc\
                                      \xda\x11\x85\x43\x6f\xe1\x41\xf7\x74\x91\x20\xa3\x03\x72\x18\x13"
            }
        }
    }
}

impl ObjectId {
    /// The id in lowercase hex, as git prints it.
    pub fn to_hex(&self) -> String {
        self.hex().as_str().to_owned()
    }

    /// The id in lowercase hex, kept inline. Every hashed file's id is
    /// written once per run: a table lookup into a buffer on the stack, not
    /// the formatting machinery (which cost a fifth of a cached run), and no
    /// allocation (a `String` per file cost one, and a free).
    pub fn hex(&self) -> HexId {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let bytes = self.as_bytes();
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        HexId {
            bytes: hex,
            len: (2 * bytes.len()) as u8,
        }
    }
}

/// An object id in lowercase hex (40 digits for SHA-1, 64 for SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexId {
    bytes: [u8; 64],
    len: u8,
}

impl HexId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("hex digits are ASCII")
    }

    /// Lowercase hex of an id's length, as [`ObjectId::hex`] writes it.
    pub fn parse(text: &[u8]) -> Option<HexId> {
        let lowercase_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if !matches!(text.len(), 40 | 64) || !text.iter().all(lowercase_hex) {
            return None;
        }
        let mut bytes = [0u8; 64];
        bytes[..text.len()].copy_from_slice(text);
        Some(HexId {
            bytes,
            len: text.len() as u8,
        })
    }
}

impl fmt::Display for HexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for HexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexId({})", self.as_str())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// Where git keeps one work tree's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    work_tree: PathBuf,
    git_dir: PathBuf,
    common_dir: PathBuf,
    index_file: PathBuf,
    object_format: ObjectFormat,
}

/// The environment variables git's discovery honours, captured so tests need not change the process's.
#[derive(Debug, Clone, Default)]
struct GitEnv {
    cwd: PathBuf,
    git_dir: Option<OsString>,
    work_tree: Option<OsString>,
    index_file: Option<OsString>,
}

impl GitEnv {
    fn from_process() -> Result<Self, GitError> {
        let cwd = std::env::current_dir().map_err(|source| GitError::Io {
            path: PathBuf::from("."),
            source,
        })?;
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        Ok(Self {
            cwd,
            git_dir: var("GIT_DIR"),
            work_tree: var("GIT_WORK_TREE"),
            index_file: var("GIT_INDEX_FILE"),
        })
    }
}

impl Repo {
    /// Finds the repository whose work tree contains `start`, as git does from that directory:
    /// the nearest `.git` directory or `.git` file (`gitdir: …`, as in linked worktrees and
    /// submodules), unless `GIT_DIR` (with `GIT_WORK_TREE` or `core.worktree`) says otherwise.
    /// `GIT_INDEX_FILE` overrides where the index is read from.
    pub fn discover(start: &Path) -> Result<Self, GitError> {
        Self::discover_with(start, &GitEnv::from_process()?)
    }

    fn discover_with(start: &Path, env: &GitEnv) -> Result<Self, GitError> {
        let (git_dir, top) = match &env.git_dir {
            Some(git_dir) => (canonical(&env.cwd.join(git_dir))?, None),
            None => {
                let (git_dir, top) = find_git_dir(&canonical(&env.cwd.join(start))?)?;
                (git_dir, Some(top))
            }
        };
        let common_dir = common_dir(&git_dir)?;
        let config = read_config(&common_dir)?;
        let work_tree = match (&env.work_tree, top) {
            (Some(work_tree), _) => canonical(&env.cwd.join(work_tree))?,
            (None, Some(top)) => top,
            (None, None) => match config.get("core", "worktree") {
                Some(work_tree) => canonical(&git_dir.join(work_tree))?,
                // With GIT_DIR alone, git takes the current directory as the top of the work tree.
                None => canonical(&env.cwd)?,
            },
        };
        let object_format = match config.get("extensions", "objectformat") {
            None => ObjectFormat::Sha1,
            Some(name) if name.eq_ignore_ascii_case("sha1") => ObjectFormat::Sha1,
            Some(name) if name.eq_ignore_ascii_case("sha256") => ObjectFormat::Sha256,
            Some(name) => {
                return Err(GitError::UnsupportedObjectFormat {
                    path: git_dir,
                    format: name,
                });
            }
        };
        let index_file = match &env.index_file {
            Some(index_file) => env.cwd.join(index_file),
            None => git_dir.join("index"),
        };
        Ok(Self {
            work_tree,
            git_dir,
            common_dir,
            index_file,
            object_format,
        })
    }

    /// The top directory of the work tree (canonical).
    pub fn work_tree(&self) -> &Path {
        &self.work_tree
    }

    /// This work tree's git directory (`.git`, or `.git/worktrees/<name>` for a linked worktree).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The directory shared by all worktrees, holding objects, refs and config.
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The index file to read.
    pub fn index_file(&self) -> &Path {
        &self.index_file
    }

    /// How the repository names objects.
    pub fn object_format(&self) -> ObjectFormat {
        self.object_format
    }

    /// Reads the index; see [`Index::read`].
    pub fn read_index(&self) -> Result<Index, GitError> {
        Index::read(&self.index_file, self.object_format)
    }

    /// `path` (absolute, or relative to the current directory) as a repo-relative, `/`-separated
    /// path like the index's, e.g. a project directory to use as a pathspec base. `None` if it
    /// does not exist or is outside the work tree.
    pub fn relative_path(&self, path: &Path) -> Option<Vec<u8>> {
        let path = fs::canonicalize(path).ok()?;
        let rel = path.strip_prefix(&self.work_tree).ok()?;
        let mut out = Vec::new();
        for component in rel.components() {
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(os_bytes(component.as_os_str())?);
        }
        Some(out)
    }
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    Some(s.as_bytes())
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> Option<&[u8]> {
    s.to_str().map(str::as_bytes)
}

fn canonical(path: &Path) -> Result<PathBuf, GitError> {
    fs::canonicalize(path).map_err(|source| GitError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Walks up from `start` to the nearest `.git`; returns the git directory and the work tree top.
fn find_git_dir(start: &Path) -> Result<(PathBuf, PathBuf), GitError> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        let Ok(meta) = fs::metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() && is_git_dir(&dot_git) {
            return Ok((dot_git, dir.to_path_buf()));
        }
        if meta.is_file() {
            return Ok((read_git_file(&dot_git)?, dir.to_path_buf()));
        }
    }
    Err(GitError::NotARepository(start.to_path_buf()))
}

/// A cheap version of git's `is_git_directory`: a HEAD, and objects here or in a common dir.
fn is_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && (dir.join("objects").is_dir() || dir.join("commondir").is_file())
}

/// Follows a `.git` file (`gitdir: <path>`, relative to the file's directory).
fn read_git_file(file: &Path) -> Result<PathBuf, GitError> {
    let text = fs::read(file).map_err(|source| GitError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(text).map_err(|_| GitError::InvalidGitFile(file.to_path_buf()))?;
    let target = text
        .strip_prefix("gitdir:")
        .map(str::trim)
        .filter(|target| !target.is_empty())
        .ok_or_else(|| GitError::InvalidGitFile(file.to_path_buf()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    canonical(&base.join(target))
}

/// A linked worktree's git dir names the shared one in its `commondir` file.
fn common_dir(git_dir: &Path) -> Result<PathBuf, GitError> {
    let file = git_dir.join("commondir");
    match fs::read(&file) {
        Ok(text) => {
            let text = String::from_utf8_lossy(&text);
            canonical(&git_dir.join(text.trim_end_matches(['\n', '\r'])))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(git_dir.to_path_buf()),
        Err(source) => Err(GitError::Io { path: file, source }),
    }
}

/// Just enough of git's config syntax to read a few `section.key` values (no includes).
struct Config(Vec<(String, String, String)>);

fn read_config(common_dir: &Path) -> Result<Config, GitError> {
    let file = common_dir.join("config");
    match fs::read(&file) {
        Ok(bytes) => Ok(Config::parse(&String::from_utf8_lossy(&bytes))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Config(Vec::new())),
        Err(source) => Err(GitError::Io { path: file, source }),
    }
}

impl Config {
    fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut section = String::new();
        for line in text.lines() {
            let mut line = line.trim();
            if let Some(header) = line.strip_prefix('[') {
                let Some(end) = header.find(']') else {
                    continue;
                };
                let name = &header[..end];
                // `[remote "origin"]` has a subsection: mark it so it never equals a plain section.
                section = if name.contains('"') {
                    format!("{}\"", name.split('"').next().unwrap_or("").trim())
                } else {
                    name.trim().to_ascii_lowercase()
                };
                line = header[end + 1..].trim();
            }
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((key, value)) => (key.trim(), config_value(value)),
                None => (line, "true".to_owned()),
            };
            entries.push((section.clone(), key.to_ascii_lowercase(), value));
        }
        Self(entries)
    }

    /// The last value of `section.key`, as git's "last one wins".
    fn get(&self, section: &str, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.clone())
    }
}

/// A config value without its comment, quotes and escapes.
fn config_value(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '#' | ';' if !quoted => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            },
            _ => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

/// A point in time as the index stores it: seconds (truncated to 32 bits, as git does) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch, modulo 2³².
    pub secs: u32,
    /// Nanoseconds within the second; 0 where the writer or file system has none.
    pub nsecs: u32,
}

/// The `stat` data git recorded for an entry, each field truncated to 32 bits as in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stat {
    /// Last modification of the content.
    pub mtime: Timestamp,
    /// Last change of the inode.
    pub ctime: Timestamp,
    /// Device number (git does not compare it by default).
    pub dev: u32,
    /// Inode number.
    pub ino: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Size in bytes; 0 also marks a "racily smudged" entry whose blob is not empty.
    pub size: u32,
}

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryMode {
    /// A regular file (`100644`).
    Regular,
    /// A regular file with the executable bit (`100755`).
    Executable,
    /// A symbolic link (`120000`); its blob is the link's target.
    Symlink,
    /// A submodule (`160000`); its id is a commit, not a blob.
    Gitlink,
}

/// One path in the index. Its path comes with it from [`Index::iter`] or [`Index::get`].
#[derive(Debug, Clone)]
pub struct Entry {
    /// The staged object: the blob's id for files, the commit's for gitlinks.
    pub id: ObjectId,
    /// The `stat` data recorded when the entry was last refreshed.
    pub stat: Stat,
    /// The kind of file.
    pub mode: EntryMode,
    path: Range<usize>,
    stage: u8,
    flags: u8,
}

impl Entry {
    const INTENT_TO_ADD: u8 = 1;
    const SKIP_WORKTREE: u8 = 1 << 1;
    const ASSUME_VALID: u8 = 1 << 2;
    /// Modified at or after the index was written: git's racy-clean rule says the stat cannot vouch for it.
    const RACY: u8 = 1 << 3;

    /// Added with `git add -N`: the path is known but no content is staged (its id is the empty blob).
    pub fn is_intent_to_add(&self) -> bool {
        self.flags & Self::INTENT_TO_ADD != 0
    }

    /// Outside a sparse checkout: git does not look at the working tree for this path.
    pub fn is_skip_worktree(&self) -> bool {
        self.flags & Self::SKIP_WORKTREE != 0
    }

    /// Marked `git update-index --assume-unchanged`: git trusts it without a `stat`.
    pub fn is_assume_valid(&self) -> bool {
        self.flags & Self::ASSUME_VALID != 0
    }

    /// The merge stage: 0 normally, 1 (base), 2 (ours) or 3 (theirs) during a conflict.
    pub fn stage(&self) -> u8 {
        self.stage
    }

    /// Whether git's racy-clean rule applies: the file was last modified in the same second as the
    /// index file was written, or later, so a change within one timestamp tick could hide from a `stat`.
    pub fn is_racy(&self) -> bool {
        self.flags & Self::RACY != 0
    }
}

/// The index of one work tree, read once: entries sorted by path, then stage, as git keeps them.
#[derive(Debug, Clone, Default)]
pub struct Index {
    file: PathBuf,
    mtime: Option<Timestamp>,
    entries: Vec<Entry>,
    /// All entry paths back to back; entries hold ranges into it.
    paths: Vec<u8>,
}

impl Index {
    /// Reads the index at `file`. Versions 2 to 4 and split indexes are read; a missing file
    /// (as in a fresh `git init`) is an empty index. A sparse index or a SHA-256 repository is an error.
    pub fn read(file: &Path, format: ObjectFormat) -> Result<Self, GitError> {
        let Some(kind) = format.hash_kind() else {
            return Err(GitError::UnsupportedObjectFormat {
                path: file.to_path_buf(),
                format: "sha256".into(),
            });
        };
        match fs::metadata(file) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(Self {
                    file: file.to_path_buf(),
                    ..Self::default()
                });
            }
            Err(source) => {
                return Err(GitError::Io {
                    path: file.to_path_buf(),
                    source,
                });
            }
        }
        // Like git outside `git fsck`, skip the trailing checksum: hashing the whole file would double
        // the cost of reading it. Structural damage is still an error.
        let decoded = gix_index::File::at(file, kind, true, gix_index::decode::Options::default())
            .map_err(|err| GitError::CorruptIndex {
                path: file.to_path_buf(),
                message: err
                    .iter_errors()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": "),
            })?;
        let (state, _) = decoded.into_parts();
        if state.is_sparse() {
            return Err(GitError::SparseIndex(file.to_path_buf()));
        }
        let stamp = state.timestamp();
        let index_mtime = Timestamp {
            // git keeps the index's own mtime in 32 bits too, so compare like with like.
            secs: stamp.unix_seconds() as u32,
            nsecs: stamp.nanoseconds(),
        };
        let (raw_entries, backing) = state.into_entries();
        let mut paths = Vec::with_capacity(backing.len());
        let mut entries = Vec::with_capacity(raw_entries.len());
        for raw in &raw_entries {
            let path: &[u8] = raw.path_in(&backing);
            let start = paths.len();
            paths.extend_from_slice(path);
            let mode = match raw.mode {
                m if m == gix_index::entry::Mode::FILE => EntryMode::Regular,
                m if m == gix_index::entry::Mode::FILE_EXECUTABLE => EntryMode::Executable,
                m if m == gix_index::entry::Mode::SYMLINK => EntryMode::Symlink,
                m if m == gix_index::entry::Mode::COMMIT => EntryMode::Gitlink,
                other => {
                    return Err(GitError::CorruptIndex {
                        path: file.to_path_buf(),
                        message: format!(
                            "entry {:?} has unexpected mode {:o}",
                            String::from_utf8_lossy(path),
                            other.bits()
                        ),
                    });
                }
            };
            let s = raw.stat;
            let stat = Stat {
                mtime: Timestamp {
                    secs: s.mtime.secs,
                    nsecs: s.mtime.nsecs,
                },
                ctime: Timestamp {
                    secs: s.ctime.secs,
                    nsecs: s.ctime.nsecs,
                },
                dev: s.dev,
                ino: s.ino,
                uid: s.uid,
                gid: s.gid,
                size: s.size,
            };
            let gix_flags = raw.flags;
            let mut flags = 0;
            for (gix_flag, flag) in [
                (gix_index::entry::Flags::INTENT_TO_ADD, Entry::INTENT_TO_ADD),
                (gix_index::entry::Flags::SKIP_WORKTREE, Entry::SKIP_WORKTREE),
                (gix_index::entry::Flags::ASSUME_VALID, Entry::ASSUME_VALID),
            ] {
                if gix_flags.contains(gix_flag) {
                    flags |= flag;
                }
            }
            if is_racy(index_mtime, stat.mtime) {
                flags |= Entry::RACY;
            }
            entries.push(Entry {
                id: ObjectId::from_bytes(raw.id.as_slice()),
                stat,
                mode,
                path: start..paths.len(),
                stage: raw.stage_raw() as u8,
                flags,
            });
        }
        Ok(Self {
            file: file.to_path_buf(),
            mtime: Some(index_mtime),
            entries,
            paths,
        })
    }

    /// The index file this was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The index file's modification time, or `None` if there was no index file.
    pub fn mtime(&self) -> Option<Timestamp> {
        self.mtime
    }

    /// The number of entries (a conflicted path counts once per stage).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries with their repo-relative paths, sorted by path, then stage.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &Entry)> + '_ {
        self.entries
            .iter()
            .map(|entry| (&self.paths[entry.path.clone()], entry))
    }

    /// The path and entry at `position` in [`Index::iter`]'s order.
    pub fn at(&self, position: usize) -> (&[u8], &Entry) {
        let entry = &self.entries[position];
        (&self.paths[entry.path.clone()], entry)
    }

    /// The entry at the repo-relative `path`, its lowest stage if it is conflicted.
    pub fn get(&self, path: &[u8]) -> Option<&Entry> {
        let at = self
            .entries
            .partition_point(|entry| &self.paths[entry.path.clone()] < path);
        self.entries
            .get(at)
            .filter(|entry| &self.paths[entry.path.clone()] == path)
    }
}

/// git's `is_racy_stat` as git is usually built (without `USE_NSEC`): the entry was modified in
/// the same second as the index file or later. Whole seconds are coarser than the nanosecond rule,
/// so a few more files get hashed, but no change within a timestamp tick can slip through.
fn is_racy(index_mtime: Timestamp, entry_mtime: Timestamp) -> bool {
    index_mtime.secs != 0 && index_mtime.secs <= entry_mtime.secs
}

/// git's "is this file unchanged?" test (`ie_match_stat` with default settings): whether `meta`,
/// from `std::fs::symlink_metadata` of the entry's path, still describes what the index recorded,
/// so that the entry's blob id can be trusted without reading the file.
///
/// Compares file type, the owner's executable bit, size, mtime and ctime (nanoseconds too, unless
/// the index stored none), inode, uid and gid; not the device, as git does not by default. Never
/// trusts intent-to-add entries, racy entries, racily smudged ones (size 0 but a non-empty blob),
/// or gitlinks (a stat cannot tell which commit a submodule has checked out). Unlike git, does not
/// honour assume-unchanged or skip-worktree: those entries must be checked like any other.
pub fn stat_matches(entry: &Entry, meta: &FileStat) -> bool {
    if entry.is_intent_to_add() || entry.is_racy() {
        return false;
    }
    if entry.stat.size == 0 && !entry.id.is_empty_blob() {
        return false;
    }
    let executable = meta.mode & 0o100 != 0;
    let type_matches = match entry.mode {
        EntryMode::Regular => meta.kind == Kind::File && !executable,
        EntryMode::Executable => meta.kind == Kind::File && executable,
        EntryMode::Symlink => meta.kind == Kind::Symlink,
        EntryMode::Gitlink => false,
    };
    type_matches && stat_data_matches(&entry.stat, meta)
}

/// git's `match_stat_data`, with every field truncated to 32 bits as the index stores it.
fn stat_data_matches(stat: &Stat, meta: &FileStat) -> bool {
    let time_matches = |recorded: Timestamp, (secs, nsecs): (i64, i64)| {
        recorded.secs == secs as u32 && (recorded.nsecs == 0 || recorded.nsecs == nsecs as u32)
    };
    stat.size == meta.size as u32
        && time_matches(stat.mtime, meta.mtime)
        && time_matches(stat.ctime, meta.ctime)
        && stat.ino == meta.ino as u32
        && stat.uid == meta.uid
        && stat.gid == meta.gid
}

/// Hashes a working-tree file as `git hash-object --no-filters` does: the blob id of its bytes
/// (of its target, for a symlink). Clean filters and end-of-line conversion are not applied, so
/// this equals the index's id only for files git stores as they are.
pub fn hash_file(path: &Path, format: ObjectFormat) -> Result<ObjectId, GitError> {
    let io_err = |source| GitError::Io {
        path: path.to_path_buf(),
        source,
    };
    let kind = format
        .hash_kind()
        .ok_or_else(|| GitError::UnsupportedObjectFormat {
            path: path.to_path_buf(),
            format: "sha256".into(),
        })?;
    let meta = fs::symlink_metadata(path).map_err(io_err)?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(io_err)?;
        let bytes = os_bytes(target.as_os_str()).ok_or_else(|| {
            io_err(io::Error::new(
                io::ErrorKind::InvalidData,
                "symlink target is not valid Unicode",
            ))
        })?;
        return hash_blob(kind, bytes.len() as u64, &mut &bytes[..]).map_err(io_err);
    }
    let mut file = fs::File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    hash_blob(kind, len, &mut file).map_err(io_err)
}

/// Streams `len` bytes of `content` into the blob hash; fails if it holds more or fewer, which
/// means the file changed while being read.
fn hash_blob(kind: HashKind, len: u64, content: &mut dyn Read) -> io::Result<ObjectId> {
    let mut hasher = gix_index::hash::hasher(kind);
    hasher.update(format!("blob {len}\0").as_bytes());
    let mut buf = vec![0; 64 * 1024];
    let mut remaining = len;
    loop {
        let n = content.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if n as u64 > remaining {
            remaining = u64::MAX;
            break;
        }
        hasher.update(&buf[..n]);
        remaining -= n as u64;
    }
    if remaining != 0 {
        return Err(io::Error::other(
            "the file changed while it was being hashed",
        ));
    }
    let id = hasher
        .try_finalize()
        .map_err(|err| io::Error::other(err.to_string()))?;
    Ok(ObjectId::from_bytes(id.as_slice()))
}

#[cfg(all(test, unix))]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::git::testutil::{self, Fixture};

    /// One entry as `git ls-files -s -z --debug` prints it.
    #[derive(Debug)]
    struct GitEntry {
        mode: u32,
        id: String,
        stage: u8,
        path: Vec<u8>,
        ctime: Timestamp,
        mtime: Timestamp,
        dev: u32,
        ino: u32,
        uid: u32,
        gid: u32,
        size: u32,
        flags: u32,
    }

    // git's in-memory flag bits, as `--debug` prints them.
    const CE_VALID: u32 = 0x8000;
    const CE_INTENT_TO_ADD: u32 = 1 << 29;
    const CE_SKIP_WORKTREE: u32 = 1 << 30;

    fn git_entries(dir: &Path) -> Vec<GitEntry> {
        let out = testutil::run(dir, &["ls-files", "-s", "-z", "--debug"]);
        let mut entries = Vec::new();
        let mut rest = &out[..];
        while !rest.is_empty() {
            let tab = rest.iter().position(|&b| b == b'\t').expect("tab");
            let head = String::from_utf8_lossy(&rest[..tab]).into_owned();
            let nul = tab + rest[tab..].iter().position(|&b| b == 0).expect("nul");
            let path = rest[tab + 1..nul].to_vec();
            rest = &rest[nul + 1..];
            // Five debug lines, whose numbers are all we need.
            let mut numbers = Vec::new();
            for _ in 0..5 {
                let nl = rest.iter().position(|&b| b == b'\n').expect("newline");
                let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
                rest = &rest[nl + 1..];
                numbers.extend(
                    line.split(|c: char| c.is_whitespace() || c == ':')
                        .filter(|w| !w.is_empty() && !w.chars().next().unwrap().is_alphabetic())
                        .map(str::to_owned),
                );
            }
            let num = |i: usize| numbers[i].parse::<i64>().expect("number") as u32;
            let mut head = head.split(' ');
            entries.push(GitEntry {
                mode: u32::from_str_radix(head.next().unwrap(), 8).unwrap(),
                id: head.next().unwrap().to_owned(),
                stage: head.next().unwrap().parse().unwrap(),
                path,
                ctime: Timestamp {
                    secs: num(0),
                    nsecs: num(1),
                },
                mtime: Timestamp {
                    secs: num(2),
                    nsecs: num(3),
                },
                dev: num(4),
                ino: num(5),
                uid: num(6),
                gid: num(7),
                size: num(8),
                flags: u32::from_str_radix(&numbers[9], 16).unwrap(),
            });
        }
        entries
    }

    fn octal(mode: EntryMode) -> u32 {
        match mode {
            EntryMode::Regular => 0o100644,
            EntryMode::Executable => 0o100755,
            EntryMode::Symlink => 0o120000,
            EntryMode::Gitlink => 0o160000,
        }
    }

    /// Asserts that our reading of the index at `dir` equals git's, field by field.
    fn assert_same_as_git(dir: &Path) -> Index {
        let index = Repo::discover(dir).unwrap().read_index().unwrap();
        let git = git_entries(dir);
        assert_eq!(index.len(), git.len());
        for ((path, ours), theirs) in index.iter().zip(&git) {
            let shown = String::from_utf8_lossy(path);
            assert_eq!(path, &theirs.path[..]);
            assert_eq!(ours.id.to_string(), theirs.id, "{shown}");
            assert_eq!(octal(ours.mode), theirs.mode, "{shown}");
            assert_eq!(ours.stage(), theirs.stage, "{shown}");
            let expected = Stat {
                mtime: theirs.mtime,
                ctime: theirs.ctime,
                dev: theirs.dev,
                ino: theirs.ino,
                uid: theirs.uid,
                gid: theirs.gid,
                size: theirs.size,
            };
            assert_eq!(ours.stat, expected, "{shown}");
            assert_eq!(
                ours.is_assume_valid(),
                theirs.flags & CE_VALID != 0,
                "{shown}"
            );
            assert_eq!(
                ours.is_intent_to_add(),
                theirs.flags & CE_INTENT_TO_ADD != 0,
                "{shown}"
            );
            assert_eq!(
                ours.is_skip_worktree(),
                theirs.flags & CE_SKIP_WORKTREE != 0,
                "{shown}"
            );
        }
        index
    }

    fn index_version(root: &Path) -> u32 {
        let bytes = fs::read(root.join(".git/index")).unwrap();
        u32::from_be_bytes(bytes[4..8].try_into().unwrap())
    }

    #[test]
    fn reads_every_version_like_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        testutil::run(root, &["update-index", "--assume-unchanged", "b.py"]);
        testutil::run(root, &["update-index", "--skip-worktree", "src.txt"]);
        // Intent-to-add and skip-worktree need extended flags, so git writes version 3.
        assert_eq!(index_version(root), 3);
        let index = assert_same_as_git(root);
        assert!(index.len() >= 60);
        let flagged = |f: fn(&Entry) -> bool| {
            index
                .iter()
                .filter(|(_, e)| f(e))
                .map(|(p, _)| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            flagged(Entry::is_intent_to_add),
            ["ita.py", "src/ita_new.py"]
        );
        assert_eq!(flagged(Entry::is_assume_valid), ["b.py"]);
        assert_eq!(flagged(Entry::is_skip_worktree), ["src.txt"]);

        testutil::run(root, &["update-index", "--index-version", "4"]);
        assert_eq!(index_version(root), 4);
        assert_same_as_git(root);

        // Conflict stages, then a split index on top.
        let blob = testutil::run(root, &["hash-object", "-w", "--stdin"]);
        let blob = String::from_utf8(blob).unwrap();
        let info: String = (1..=3)
            .map(|stage| format!("100644 {} {stage}\tconflict.txt\n", blob.trim()))
            .collect();
        let mut child = testutil::git(root)
            .args(["update-index", "--index-info"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), info.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        testutil::run(root, &["update-index", "--split-index"]);
        assert!(fs::read_dir(root.join(".git")).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sharedindex.")
        }));
        let index = assert_same_as_git(root);
        assert_eq!(index.get(b"conflict.txt").map(Entry::stage), Some(1));
        assert_eq!(
            index.iter().filter(|(p, _)| *p == b"conflict.txt").count(),
            3
        );
        assert!(index.get(b"src/main.py").is_some());
        assert!(index.get(b"src/mai").is_none());
    }

    /// Prints the cost of reading a large index; run with
    /// `cargo test --release -p qik-core index_read_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark, not a check"]
    fn index_read_speed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        testutil::run(root, &["init", "-q"]);
        let blob = testutil::run(root, &["hash-object", "-w", "--stdin"]);
        let blob = String::from_utf8(blob).unwrap();
        let info: String = (0..100_000)
            .map(|i| {
                format!(
                    "100644 {} 0\tpkg{}/src/mod{}/file_{i}.py\n",
                    blob.trim(),
                    i % 97,
                    i % 13
                )
            })
            .collect();
        let mut child = testutil::git(root)
            .args(["update-index", "--index-info"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), info.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let repo = Repo::discover(root).unwrap();
        for version in ["2", "4"] {
            testutil::run(root, &["update-index", "--index-version", version]);
            let start = std::time::Instant::now();
            let index = repo.read_index().unwrap();
            eprintln!(
                "v{version}: {} entries in {:?}",
                index.len(),
                start.elapsed()
            );
        }
    }

    #[test]
    fn reads_version_2() {
        let dir = tempfile::tempdir().unwrap();
        testutil::run(dir.path(), &["init", "-q"]);
        testutil::write(dir.path(), "x/y z.txt", b"y\n");
        testutil::write(dir.path(), "a", b"a\n");
        testutil::run(dir.path(), &["add", "-A"]);
        assert_eq!(index_version(dir.path()), 2);
        assert_eq!(assert_same_as_git(dir.path()).len(), 2);
    }

    #[test]
    fn fresh_repository_has_an_empty_index() {
        let dir = tempfile::tempdir().unwrap();
        testutil::run(dir.path(), &["init", "-q"]);
        let index = Repo::discover(dir.path()).unwrap().read_index().unwrap();
        assert!(index.is_empty());
        assert_eq!(index.mtime(), None);
    }

    #[test]
    fn corrupt_index_is_an_error_naming_the_file() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let repo = Repo::discover(root).unwrap();
        let file = repo.index_file().to_path_buf();
        let bytes = fs::read(&file).unwrap();
        let mut bad_signature = bytes.clone();
        bad_signature[..4].copy_from_slice(b"DIRT");
        let mut bad_version = bytes.clone();
        bad_version[4..8].copy_from_slice(&9u32.to_be_bytes());
        for damaged in [&bad_signature[..], &bad_version, b"DIRC"] {
            fs::write(&file, damaged).unwrap();
            assert!(!testutil::try_run(root, &["ls-files"]).status.success());
            assert!(matches!(
                repo.read_index(),
                Err(GitError::CorruptIndex { .. })
            ));
        }
        // Truncated among the entries. git, which reads entries up to the declared count without
        // checking the checksum, sometimes lists a garbled prefix here; we refuse.
        for cut in [40, 300, 2000] {
            fs::write(&file, &bytes[..cut]).unwrap();
            let err = repo.read_index().unwrap_err();
            assert!(matches!(&err, GitError::CorruptIndex { path, .. } if *path == file));
            assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
        }
    }

    /// git's own "stat-dirty" list: `git diff-files` without a refresh reports every entry whose
    /// stat data no longer matches (and intent-to-add entries).
    fn git_stat_dirty(root: &Path) -> BTreeSet<Vec<u8>> {
        testutil::nul_set(&testutil::run(root, &["diff-files", "--name-only", "-z"]))
    }

    fn our_stat_dirty(root: &Path) -> BTreeSet<Vec<u8>> {
        let index = Repo::discover(root).unwrap().read_index().unwrap();
        index
            .iter()
            .filter(|(path, entry)| {
                let path = root.join(std::ffi::OsStr::from_bytes(path));
                !fs::symlink_metadata(path)
                    .is_ok_and(|meta| stat_matches(entry, &FileStat::from(&meta)))
            })
            .map(|(path, _)| path.to_vec())
            .collect()
    }

    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn stat_matches_agrees_with_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let git = git_stat_dirty(root);
        let ours = our_stat_dirty(root);
        assert_eq!(ours, git);
        let expected: BTreeSet<Vec<u8>> = [
            testutil::INTENT_TO_ADD,
            testutil::DELETED,
            testutil::MODIFIED,
        ]
        .concat()
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        assert_eq!(ours, expected);

        let index = Repo::discover(root).unwrap().read_index().unwrap();
        let recorded = |path: &str| index.get(path.as_bytes()).unwrap().stat;
        // git (built without USE_NSEC, as usual) compares whole seconds of ctime: change files in a
        // later second than the fixture's so that it can see every change below.
        sleep_into_next_second();
        // Larger content.
        testutil::write(root, "b.py", b"a different, longer content\n");
        // Same size, different bytes, and the old mtime put back: only ctime (and git) can tell.
        let old = recorded("ab.py").mtime;
        testutil::write(root, "ab.py", b"CONTENT OF AB.PY\n");
        fs::File::options()
            .write(true)
            .open(fixture.path("ab.py"))
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::new(old.secs.into(), old.nsecs))
            .unwrap();
        assert_eq!(fs::metadata(fixture.path("ab.py")).unwrap().len(), 17);
        // Mode change only.
        let mut perms = fs::metadata(fixture.path("README.md"))
            .unwrap()
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(fixture.path("README.md"), perms).unwrap();
        // New mtime, same content.
        testutil::age(&fixture.path("Makefile"), Duration::from_secs(10));
        // A file replaced by a symlink.
        fs::remove_file(fixture.path("srcfile")).unwrap();
        std::os::unix::fs::symlink("a.py", fixture.path("srcfile")).unwrap();

        let git = git_stat_dirty(root);
        let ours = our_stat_dirty(root);
        assert_eq!(ours, git);
        for changed in ["b.py", "ab.py", "README.md", "Makefile", "srcfile"] {
            assert!(ours.contains(changed.as_bytes()), "{changed}");
        }
        assert!(!ours.contains(&b"a.pyc"[..]));
    }

    fn sleep_into_next_second() {
        let into = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let rest = Duration::from_nanos(u64::from(1_000_000_000 - into));
        // File timestamps come from the kernel's coarse clock, which lags by up to a tick.
        std::thread::sleep(rest + Duration::from_millis(50));
    }

    /// A same-size rewrite with the mtime put back differs only in ctime, often within the same
    /// second: git compares whole seconds and can miss it, we compare the nanoseconds too.
    #[test]
    fn stat_matches_sees_nanosecond_ctime_changes() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let index = Repo::discover(root).unwrap().read_index().unwrap();
        let entry = index.get(b"ab.py").unwrap();
        let path = fixture.path("ab.py");
        assert!(stat_matches(
            entry,
            &FileStat::from(&fs::symlink_metadata(&path).unwrap())
        ));
        testutil::write(root, "ab.py", b"CONTENT OF AB.PY\n");
        let old = entry.stat.mtime;
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::new(old.secs.into(), old.nsecs))
            .unwrap();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.len(), u64::from(entry.stat.size));
        assert!(!stat_matches(entry, &FileStat::from(&meta)));
    }

    #[test]
    fn racy_entries_are_not_trusted() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let repo = Repo::discover(root).unwrap();
        let set_index_mtime = |t: Timestamp| {
            fs::File::options()
                .write(true)
                .open(repo.index_file())
                .unwrap()
                .set_modified(UNIX_EPOCH + Duration::new(t.secs.into(), t.nsecs))
                .unwrap();
        };
        let meta = fs::symlink_metadata(fixture.path("b.py")).unwrap();
        let recorded = repo.read_index().unwrap().get(b"b.py").unwrap().stat.mtime;

        // The index written in the second the file was last modified: the stat proves nothing.
        set_index_mtime(Timestamp {
            secs: recorded.secs,
            nsecs: 0,
        });
        let index = repo.read_index().unwrap();
        let entry = index.get(b"b.py").unwrap();
        assert_eq!(index.mtime().map(|t| t.secs), Some(recorded.secs));
        assert!(entry.is_racy());
        assert!(!stat_matches(entry, &FileStat::from(&meta)));

        // Written later: trusted again.
        set_index_mtime(Timestamp {
            secs: recorded.secs + 10,
            nsecs: 0,
        });
        let index = repo.read_index().unwrap();
        let entry = index.get(b"b.py").unwrap();
        assert!(!entry.is_racy());
        assert!(stat_matches(entry, &FileStat::from(&meta)));
    }

    /// git "smudges" a racily clean entry whose content did change by zeroing its size; such an
    /// entry must not be trusted even though the rest of its stat data matches.
    #[test]
    fn smudged_entries_are_not_trusted() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let repo = Repo::discover(root).unwrap();
        let old = repo.read_index().unwrap().get(b"ab.py").unwrap().stat.mtime;
        let at_old = UNIX_EPOCH + Duration::new(old.secs.into(), old.nsecs);
        testutil::write(root, "ab.py", b"CONTENT OF AB.PY\n");
        let file = fs::File::options()
            .write(true)
            .open(fixture.path("ab.py"))
            .unwrap();
        file.set_modified(at_old).unwrap();
        fs::File::options()
            .write(true)
            .open(repo.index_file())
            .unwrap()
            .set_modified(at_old)
            .unwrap();
        // Without ctime, git finds the stat unchanged but the entry racy, compares the content,
        // and smudges the entry when it writes the index.
        testutil::run(
            root,
            &[
                "-c",
                "core.trustctime=false",
                "update-index",
                "--index-version",
                "4",
            ],
        );
        let index = repo.read_index().unwrap();
        let entry = index.get(b"ab.py").unwrap();
        assert_eq!(entry.stat.size, 0);
        assert!(!entry.is_racy());
        let meta = fs::symlink_metadata(fixture.path("ab.py")).unwrap();
        assert!(!stat_matches(entry, &FileStat::from(&meta)));
        assert!(git_stat_dirty(root).contains(&b"ab.py"[..]));
        assert_eq!(our_stat_dirty(root), git_stat_dirty(root));
    }

    #[test]
    fn hash_file_matches_git() {
        let fixture = Fixture::new();
        let root = fixture.root();
        let repo = Repo::discover(root).unwrap();
        let index = repo.read_index().unwrap();
        let mut checked = 0;
        for (path, entry) in index.iter() {
            let full = root.join(std::ffi::OsStr::from_bytes(path));
            let Ok(meta) = fs::symlink_metadata(&full) else {
                continue;
            };
            if stat_matches(entry, &FileStat::from(&meta)) {
                assert_eq!(
                    hash_file(&full, repo.object_format()).unwrap(),
                    entry.id,
                    "{}",
                    String::from_utf8_lossy(path)
                );
                checked += 1;
            }
        }
        assert!(checked >= 55, "only {checked} entries checked");
        for modified in testutil::MODIFIED {
            let git = testutil::run(root, &["hash-object", "--no-filters", modified]);
            let ours = hash_file(&fixture.path(modified), ObjectFormat::Sha1).unwrap();
            assert_eq!(ours.to_string(), String::from_utf8_lossy(&git).trim());
        }
        let empty = fixture.path("empty");
        fs::write(&empty, b"").unwrap();
        assert!(
            hash_file(&empty, ObjectFormat::Sha1)
                .unwrap()
                .is_empty_blob()
        );
        assert!(matches!(
            hash_file(&fixture.path("missing"), ObjectFormat::Sha1),
            Err(GitError::Io { .. })
        ));
    }

    #[test]
    fn discovers_from_a_subdirectory() {
        let fixture = Fixture::new();
        let root = fs::canonicalize(fixture.root()).unwrap();
        let repo = Repo::discover(&fixture.path("deep/a/b")).unwrap();
        assert_eq!(repo.work_tree(), root);
        assert_eq!(repo.git_dir(), root.join(".git"));
        assert_eq!(repo.common_dir(), root.join(".git"));
        assert_eq!(repo.index_file(), root.join(".git/index"));
        assert_eq!(repo.object_format(), ObjectFormat::Sha1);
        assert_eq!(
            repo.relative_path(&fixture.path("sub/proj[1]")).as_deref(),
            Some(&b"sub/proj[1]"[..])
        );
        assert_eq!(repo.relative_path(root.as_ref()).as_deref(), Some(&b""[..]));
        assert_eq!(repo.relative_path(Path::new("/")), None);
        let outside = tempfile::tempdir().unwrap();
        assert!(matches!(
            Repo::discover(outside.path()),
            Err(GitError::NotARepository(_))
        ));
    }

    #[test]
    fn discovers_linked_worktrees_and_git_files() {
        let fixture = Fixture::new();
        let root = fs::canonicalize(fixture.root()).unwrap();
        testutil::run(&root, &["commit", "-qm", "fixture"]);
        let wt = root.join("linked");
        testutil::run(&root, &["worktree", "add", "-q", "linked"]);
        let repo = Repo::discover(&wt.join("src/util")).unwrap();
        assert_eq!(repo.work_tree(), wt);
        assert_eq!(repo.git_dir(), root.join(".git/worktrees/linked"));
        assert_eq!(repo.common_dir(), root.join(".git"));
        assert_eq!(repo.index_file(), root.join(".git/worktrees/linked/index"));
        assert_same_as_git(&wt);

        // `git init --separate-git-dir` leaves a `.git` file behind.
        let separate = tempfile::tempdir().unwrap();
        let (work, store) = (
            separate.path().join("work"),
            separate.path().join("store.git"),
        );
        testutil::run(
            separate.path(),
            &["init", "-q", "--separate-git-dir", "store.git", "work"],
        );
        testutil::write(&work, "f.txt", b"f\n");
        testutil::run(&work, &["add", "f.txt"]);
        let repo = Repo::discover(&work).unwrap();
        assert_eq!(repo.git_dir(), fs::canonicalize(store).unwrap());
        assert_eq!(assert_same_as_git(&work).len(), 1);

        fs::write(work.join(".git"), b"not a gitdir line\n").unwrap();
        assert!(matches!(
            Repo::discover(&work),
            Err(GitError::InvalidGitFile(_))
        ));
    }

    #[test]
    fn honours_git_dir_work_tree_and_index_file() {
        let fixture = Fixture::new();
        let root = fs::canonicalize(fixture.root()).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let elsewhere = fs::canonicalize(elsewhere.path()).unwrap();
        let env = GitEnv {
            cwd: elsewhere.clone(),
            git_dir: Some(root.join(".git").into()),
            ..GitEnv::default()
        };
        let repo = Repo::discover_with(Path::new("."), &env).unwrap();
        assert_eq!(repo.git_dir(), root.join(".git"));
        // GIT_DIR alone makes the current directory the top of the work tree.
        assert_eq!(repo.work_tree(), elsewhere);

        let env = GitEnv {
            work_tree: Some(root.clone().into()),
            ..env
        };
        assert_eq!(
            Repo::discover_with(Path::new("."), &env)
                .unwrap()
                .work_tree(),
            root
        );

        // An index of its own, written by git with GIT_INDEX_FILE.
        let status = testutil::git(&root)
            .env("GIT_INDEX_FILE", elsewhere.join("alt-index"))
            .args(["add", "a.pyc", "b.py"])
            .status()
            .unwrap();
        assert!(status.success());
        // Relative to the current directory, as git resolves it.
        let env = GitEnv {
            index_file: Some("alt-index".into()),
            ..env
        };
        let repo = Repo::discover_with(Path::new("."), &env).unwrap();
        assert_eq!(repo.index_file(), elsewhere.join("alt-index"));
        let paths: Vec<_> = repo
            .read_index()
            .unwrap()
            .iter()
            .map(|(p, _)| p.to_vec())
            .collect();
        assert_eq!(paths, [b"a.pyc".to_vec(), b"b.py".to_vec()]);
    }

    #[test]
    fn detects_sha256_repositories() {
        let dir = tempfile::tempdir().unwrap();
        testutil::run(dir.path(), &["init", "-q", "--object-format=sha256"]);
        testutil::write(dir.path(), "a", b"a\n");
        testutil::run(dir.path(), &["add", "a"]);
        let repo = Repo::discover(dir.path()).unwrap();
        assert_eq!(repo.object_format(), ObjectFormat::Sha256);
        assert!(matches!(
            repo.read_index(),
            Err(GitError::UnsupportedObjectFormat { .. })
        ));
    }

    #[test]
    fn refuses_a_sparse_index() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        testutil::run(root, &["init", "-q"]);
        for rel in ["src/a.py", "src/b/c.py", "docs/index.md", "top.txt"] {
            testutil::write(root, rel, rel.as_bytes());
        }
        testutil::run(root, &["add", "-A"]);
        testutil::run(root, &["commit", "-qm", "fixture"]);
        testutil::run(
            root,
            &["sparse-checkout", "set", "--cone", "--sparse-index", "src"],
        );
        let repo = Repo::discover(root).unwrap();
        assert!(matches!(repo.read_index(), Err(GitError::SparseIndex(_))));
        // A cone without the sparse index is read, its outside entries flagged skip-worktree.
        testutil::run(
            root,
            &["sparse-checkout", "init", "--cone", "--no-sparse-index"],
        );
        let index = assert_same_as_git(root);
        assert_eq!(index.len(), 4);
        assert!(index.get(b"docs/index.md").unwrap().is_skip_worktree());
        assert!(!index.get(b"src/b/c.py").unwrap().is_skip_worktree());
    }

    #[test]
    fn reads_config_values() {
        let config = Config::parse(
            "[core]\n\trepositoryformatversion = 1\n\tbare = false\n\
             [remote \"origin\"]\n\turl = x\n[extensions]\n\
             \tobjectFormat = \"sha256\" ; a comment\n[Core] worktree\n",
        );
        assert_eq!(
            config.get("extensions", "objectformat").as_deref(),
            Some("sha256")
        );
        assert_eq!(config.get("core", "worktree").as_deref(), Some("true"));
        assert_eq!(config.get("remote", "url"), None);
    }
}
