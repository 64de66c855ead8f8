//! Cache entries on disk: `<cache dir>/<command>/<runnable>/<hash>/`.
//!
//! An entry is a directory holding `manifest.json` (exit code, artifacts with
//! their digests, the inputs that made the hash), `log` (the merged output) and,
//! in the local cache when the manifest lists artifacts, `artifacts.pack`: the
//! artifacts' bytes one after another in the manifest's order, nothing else.
//! Offsets are the running sum of the manifest's sizes, so the pack has no
//! header to parse and one file holds any number of artifacts (creating a
//! file per artifact cost more than writing its bytes). It is built in a
//! temporary directory and renamed into place, so readers see a whole entry or
//! none; a manifest that does not parse, or files that do not match it (a pack
//! of another length, bytes that fail their digest), make a miss with a
//! warning, never a wrong replay.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::joined;
use crate::fsutil::staging;
use crate::hashing::inputs::Inputs;

pub(crate) const MANIFEST: &str = "manifest.json";
const LOG: &str = "log";
/// The artifacts of a local entry, concatenated in the manifest's order.
pub const PACK: &str = "artifacts.pack";
/// 2: the log's digest is recorded (entries of 1 are another version's).
/// 3: artifacts are kept in one pack, their exec bit in the manifest
/// (entries of 2 kept a file per artifact: another version's).
pub const MANIFEST_VERSION: u32 = 3;

/// One artifact kept with an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Path relative to the project root.
    pub path: String,
    /// blake3 of the content.
    pub digest: String,
    pub size: u64,
    /// Whether any exec bit was set when it was hashed: the pack keeps no
    /// modes, so a restore makes the file as a command would (0o777 or
    /// 0o666, less the umask).
    #[serde(default)]
    pub executable: bool,
}

/// Where each artifact lies in an entry's pack (its offset), and the pack's
/// length: the running sum of the sizes. `None` when the sizes add up past
/// any file (a manifest written by hand).
pub fn pack_offsets(artifacts: &[ArtifactRecord]) -> Option<(Vec<u64>, u64)> {
    let mut offsets = Vec::with_capacity(artifacts.len());
    let mut end = 0u64;
    for artifact in artifacts {
        offsets.push(end);
        end = end.checked_add(artifact.size)?;
    }
    Some((offsets, end))
}

/// The digest of an entry's log. The log shares its inode with the latest
/// output file users may open and write, so every full replay checks it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// blake3 of the content.
    pub digest: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub name: String,
    pub hash: String,
    pub code: i32,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// Absent in manifests of version 1, which are not used.
    #[serde(default)]
    pub log: LogRecord,
    pub artifacts: Vec<ArtifactRecord>,
    pub inputs: Inputs,
    /// How long the run took, in milliseconds (`--shard` balances by it).
    /// Entries written before it was recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// A complete entry found on disk.
#[derive(Clone, Debug)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The log's device and inode when a lookup checked it, so a replay need
    /// not stat it again.
    pub log_id: Option<(u64, u64)>,
}

impl Entry {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// Checks the log against its digest: it is printed as this entry's
    /// output and becomes the latest output file, whose name users can write
    /// through (it is the same file).
    pub fn verify_log(&self) -> Result<(), Damage> {
        let path = self.log_path();
        let unreadable = |source| Damage::Unreadable {
            path: path.clone(),
            source,
        };
        let (mut file, size) =
            crate::fsutil::open_kept(&path, crate::fsutil::limits::STREAMED).map_err(unreadable)?;
        if size != self.manifest.log.size {
            return Err(Damage::LogChanged { path });
        }
        let mut hasher = blake3::Hasher::new();
        io::copy(&mut (&mut file).take(size), &mut hasher).map_err(unreadable)?;
        if hasher.finalize().to_hex().as_str() != self.manifest.log.digest {
            return Err(Damage::LogChanged { path });
        }
        Ok(())
    }

    /// Copies the artifacts back into the project after checking each against
    /// its digest. Paths are checked to stay inside the project.
    pub fn restore_artifacts(&self, root: &Path) -> Result<(), RestoreError> {
        self.restore_checking(root, Check::Digest)
    }

    /// Like [`Entry::restore_artifacts`], for an entry a remote cache placed
    /// a moment ago in this process: the remote checked every artifact
    /// against the manifest's digest as it wrote it (the contract of
    /// [`crate::ext::RemoteCache::download`]), so the copies are checked by
    /// size only, and made by the kernel. Hashing a large artifact a second
    /// time cost more than its download from a server on the same network.
    pub fn restore_downloaded_artifacts(&self, root: &Path) -> Result<(), RestoreError> {
        self.restore_checking(root, Check::Size)
    }

    fn restore_checking(&self, root: &Path, check: Check) -> Result<(), RestoreError> {
        let artifacts = &self.manifest.artifacts;
        let Some((offsets, length)) = pack_offsets(artifacts) else {
            // Sizes no file can hold: a manifest written by hand.
            return Err(RestoreError::PackSize {
                found: None,
                expected: u64::MAX,
            });
        };
        let copies: Vec<(Copy<'_>, PathBuf)> = artifacts
            .iter()
            .zip(offsets)
            .map(|(artifact, offset)| {
                let relative =
                    safe_relative(&artifact.path).ok_or_else(|| RestoreError::Escapes {
                        path: artifact.path.clone(),
                    })?;
                let copy = Copy {
                    artifact,
                    offset,
                    check,
                };
                Ok((copy, root.join(&relative)))
            })
            .collect::<Result<_, RestoreError>>()?;
        // Each directory is made once, before any thread writes into it; one
        // this restore made holds nothing yet, so its artifacts cannot be in
        // place and are not looked for.
        let mut made: HashMap<&Path, bool> = HashMap::new();
        for (copy, target) in &copies {
            let dir = target.parent().unwrap_or(Path::new("."));
            if !made.contains_key(dir) {
                let fresh = make_dir(dir).map_err(|source| RestoreError::Project {
                    path: copy.artifact.path.clone(),
                    source,
                })?;
                made.insert(dir, fresh);
            }
        }
        let made = &made;
        let pack_path = self.dir.join(PACK);
        // Many artifacts are restored by a few threads, each with its own
        // handle on the pack: a restore of small files is all system calls
        // (create, write, rename), which the cores can make side by side.
        let runs = restore_runs(&copies);
        let outcomes: Vec<(Result<(), RestoreError>, HashSet<PathBuf>)> = if runs.len() == 1 {
            vec![restore_run(&pack_path, length, &copies, made)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = runs
                    .into_iter()
                    .map(|run| scope.spawn(|| restore_run(&pack_path, length, run, made)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a restore thread panicked"))
                    .collect()
            })
        };
        // A restore killed half-way left its copy beside the artifact; the
        // next restore into that directory removes it.
        let mut result = Ok(());
        let mut swept: HashSet<PathBuf> = HashSet::new();
        for (outcome, restored_in) in outcomes {
            if result.is_ok() {
                result = outcome;
            }
            for dir in restored_in {
                if swept.insert(dir.clone()) {
                    staging::sweep(&dir, |name| name.starts_with(staging::RESTORE_PREFIX));
                }
            }
        }
        result
    }
}

/// Makes `dir` (and its parents): `true` when this call made it, `false`
/// when it was there.
fn make_dir(dir: &Path) -> io::Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir.parent().unwrap_or(Path::new(".")))?;
            match fs::create_dir(dir) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

/// The runs of artifacts restored side by side: up to one per core (four
/// at most), each of at least [`RESTORED_PER_WORKER`] artifacts, and whole
/// directories each. Creating files in one directory takes its lock, so
/// threads sharing a directory wait on each other.
fn restore_runs<'c, 'a>(copies: &'c [(Copy<'a>, PathBuf)]) -> Vec<&'c [(Copy<'a>, PathBuf)]> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = (copies.len() / RESTORED_PER_WORKER).clamp(1, cores.min(4));
    let share = copies.len().div_ceil(workers);
    let mut runs = Vec::with_capacity(workers);
    let mut start = 0;
    for end in 1..=copies.len() {
        let dir_ends = end == copies.len() || copies[end].1.parent() != copies[end - 1].1.parent();
        if dir_ends && (end - start >= share || end == copies.len()) {
            runs.push(&copies[start..end]);
            start = end;
        }
    }
    if runs.is_empty() {
        runs.push(copies);
    }
    runs
}

/// Below this many artifacts a thread costs more than it saves.
const RESTORED_PER_WORKER: usize = 64;

/// Restores a run of artifacts in pack order through one handle on the
/// pack and one buffer (a restore of a thousand small artifacts should not
/// allocate a thousand). Returns the directories it wrote into, to sweep.
/// `made` says which directories this restore made.
fn restore_run(
    pack_path: &Path,
    length: u64,
    copies: &[(Copy<'_>, PathBuf)],
    made: &HashMap<&Path, bool>,
) -> (Result<(), RestoreError>, HashSet<PathBuf>) {
    let mut pack = PackSource {
        path: pack_path.to_path_buf(),
        length,
        open: None,
    };
    let mut buffer = Vec::new();
    let mut restored_in: HashSet<PathBuf> = HashSet::new();
    let result = copies.iter().try_for_each(|(copy, target)| {
        let dir = target.parent().unwrap_or(Path::new("."));
        let fresh = made.get(dir).copied().unwrap_or(false);
        let wrote = restore_one(&mut pack, copy, target, fresh, &mut buffer)?;
        if wrote && !restored_in.contains(dir) {
            restored_in.insert(dir.to_path_buf());
        }
        Ok(())
    });
    (result, restored_in)
}

/// Why an entry's artifacts could not be put back.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The manifest names a path outside the project.
    #[error("artifact path {path:?} leaves the project; refused")]
    Escapes { path: String },
    /// The entry's pack cannot be read.
    #[error("artifact {path} is missing from the cache: {source}")]
    Missing {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The pack is not as long as the manifest's sizes add up to (cut short,
    /// or with bytes added): no offset in it can be trusted.
    #[error(
        "the cache's {PACK} holds {} bytes where its manifest lists {expected}",
        found.map_or_else(|| "an impossible number of".to_string(), |n| n.to_string())
    )]
    PackSize { found: Option<u64>, expected: u64 },
    /// The entry's copy is not what was stored.
    #[error("artifact {path} in the cache does not match its digest")]
    Mismatch { path: String },
    /// The project would not take the artifact (permissions, a full disk, a
    /// read-only directory); the entry itself is fine.
    #[error("cannot restore {path} into the project: {source}")]
    Project {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl RestoreError {
    /// Whether the entry is unusable (and may be discarded), as opposed to
    /// the project refusing a good artifact.
    pub fn entry_is_bad(&self) -> bool {
        !matches!(self, RestoreError::Project { .. })
    }
}

/// How a restored copy is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Against the manifest's digest, as it is written.
    Digest,
    /// By size only: the entry was checked as it was written, just now.
    Size,
}

/// One artifact to restore: its record, where its bytes start in the pack,
/// and how the copy is checked.
struct Copy<'a> {
    artifact: &'a ArtifactRecord,
    offset: u64,
    check: Check,
}

/// An entry's pack, opened on first use (a replay that finds every artifact
/// in place never reads it) and then kept open for the rest of the restore.
/// Small artifacts are read through a buffer: a thousand of them in a row
/// are a few reads, not a thousand.
struct PackSource {
    path: PathBuf,
    /// What the manifest's sizes add up to.
    length: u64,
    /// The open pack and the position of what it reads next (`u64::MAX`
    /// when unknown after a failed read).
    open: Option<(io::BufReader<fs::File>, u64)>,
}

impl PackSource {
    /// The pack, opened on first use. Its length is checked when opened: a
    /// pack of any other length is damaged, wherever the damage lies.
    fn open(
        &mut self,
        artifact: &str,
    ) -> Result<&mut (io::BufReader<fs::File>, u64), RestoreError> {
        if self.open.is_none() {
            let (file, meta) =
                crate::fsutil::open_kept_with_metadata(&self.path, crate::fsutil::limits::STREAMED)
                    .map_err(|source| missing(artifact, source))?;
            if meta.len() != self.length {
                return Err(RestoreError::PackSize {
                    found: Some(meta.len()),
                    expected: self.length,
                });
            }
            self.open = Some((io::BufReader::with_capacity(COPY_BUFFER, file), 0));
        }
        Ok(self.open.as_mut().expect("opened above"))
    }

    /// The pack, positioned at `offset`.
    fn at(
        &mut self,
        offset: u64,
        artifact: &str,
    ) -> Result<&mut io::BufReader<fs::File>, RestoreError> {
        let (reader, position) = self.open(artifact)?;
        // Artifacts are restored in pack order: only one skipped because it
        // was in place moves the position away from the next one, and a
        // move within the buffer reads nothing.
        if *position != offset {
            match i64::try_from(offset.wrapping_sub(*position)) {
                Ok(forward) if *position != u64::MAX => reader.seek_relative(forward),
                _ => reader.seek(io::SeekFrom::Start(offset)).map(|_| ()),
            }
            .map_err(|source| missing(artifact, source))?;
            *position = offset;
        }
        Ok(reader)
    }

    /// The pack's file itself, positioned at `offset` with nothing
    /// buffered: large artifacts are copied by the kernel.
    fn file_at(&mut self, offset: u64, artifact: &str) -> Result<&mut fs::File, RestoreError> {
        let (reader, position) = self.open(artifact)?;
        // A seek from the start drops the buffer and puts the file there.
        reader
            .seek(io::SeekFrom::Start(offset))
            .map_err(|source| missing(artifact, source))?;
        *position = offset;
        Ok(reader.get_mut())
    }

    /// Records that `read` bytes were read from the position (`None`: an
    /// unknown number, so the next read seeks).
    fn advanced(&mut self, read: Option<u64>) {
        if let Some((_, position)) = &mut self.open {
            *position = read.map_or(u64::MAX, |read| *position + read);
        }
    }
}

fn missing(artifact: &str, source: io::Error) -> RestoreError {
    RestoreError::Missing {
        path: artifact.to_string(),
        source,
    }
}

/// Copies an artifact out of the pack next to its place, checks the copy
/// against the recorded digest, then renames it into place: what lands is
/// exactly what was verified, and large files are never held in memory.
/// Its directory exists; `fresh` says this restore made it (so nothing is
/// in place). Returns whether it wrote anything: nothing is written when
/// the artifact was in place already.
fn restore_one(
    pack: &mut PackSource,
    copy: &Copy<'_>,
    target: &Path,
    fresh: bool,
    buffer: &mut Vec<u8>,
) -> Result<bool, RestoreError> {
    let artifact = copy.artifact;
    // Most replays find the artifact already in place (the last run made
    // it): reading it back is cheaper than a copy and a rename.
    let in_place = !fresh
        && fs::symlink_metadata(target)
            .is_ok_and(|meta| meta.is_file() && meta.len() == artifact.size)
        && file_digest(target).is_ok_and(|(digest, _)| digest == artifact.digest);
    if in_place {
        return Ok(false);
    }
    let project = |source: io::Error| RestoreError::Project {
        path: artifact.path.clone(),
        source,
    };
    // The cache's side first, so a failure writing the project is never
    // mistaken for a missing artifact.
    pack.at(copy.offset, &artifact.path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    // Created with the mode a command writing it would give it: the umask
    // applies, and no `chmod` follows.
    let mode = if artifact.executable { 0o777 } else { 0o666 };
    if fresh {
        // A directory this restore made a moment ago holds nothing anyone
        // has seen: the artifact is written under its own name (a rename
        // per file cost as much as the rest of its restore), and removed
        // if it fails its check. A restore killed half-way leaves a file
        // the next replay's in-place check finds wrong and replaces.
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(target)
            .map_err(project)?;
        return match fill(pack, copy, &mut file, buffer) {
            Ok(()) => Ok(true),
            Err(err) => {
                drop(file);
                let _ = fs::remove_file(target);
                Err(err)
            }
        };
    }
    let mut temp = tempfile::Builder::new()
        .prefix(staging::RESTORE_PREFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .tempfile_in(dir)
        .map_err(project)?;
    // A small copy lives for microseconds, far inside the grace a sweep
    // leaves any staging name; a claim (one more system call per artifact)
    // only protects copies that take long.
    if artifact.size > COPY_BUFFER as u64 {
        staging::claim(temp.as_file());
    }
    fill(pack, copy, temp.as_file_mut(), buffer)?;
    temp.persist(target).map_err(|err| project(err.error))?;
    Ok(true)
}

/// Copies an artifact's bytes from the pack into `to`, a file private to
/// this process, and checks them as [`Check`] says.
fn fill(
    pack: &mut PackSource,
    copy: &Copy<'_>,
    to: &mut fs::File,
    buffer: &mut Vec<u8>,
) -> Result<(), RestoreError> {
    let artifact = copy.artifact;
    let copied = match copy.check {
        // One pass: the bytes are hashed as they are written (reading a
        // large copy back to check it cost as much again). The copy is
        // private to this process until placed, so its bytes are the
        // ones hashed.
        Check::Digest => {
            let mut from = pack.at(copy.offset, &artifact.path)?.take(artifact.size);
            copy_hashed(&mut from, to, buffer).map(|(digest, size)| (Some(digest), size))
        }
        // A small one through the buffers: a write, and a read only when
        // the pack's buffer runs out, where the kernel's copy cost two
        // `fstat`s and a slower call per artifact (measured with `strace
        // -c` on a restore of 1,000 small artifacts).
        Check::Size if artifact.size <= COPY_BUFFER as u64 => {
            let mut from = pack.at(copy.offset, &artifact.path)?.take(artifact.size);
            copy_through(&mut from, to, buffer, None).map(|size| (None, size))
        }
        // File to file: the kernel copies (copy_file_range from the pack's
        // position), no user-space pass, and stops at the artifact's end.
        Check::Size => {
            let mut from = pack
                .file_at(copy.offset, &artifact.path)?
                .take(artifact.size);
            io::copy(&mut from, to)
                .map(|size| (None, size))
                .map_err(Side::Write)
        }
    };
    pack.advanced(copied.as_ref().ok().map(|(_, size)| *size));
    // What was written is what was counted: the copy is private to this
    // process, so no `fstat` is needed to learn its size.
    let (digest, size) = copied.map_err(|err| match err {
        Side::Read(source) => RestoreError::Missing {
            path: artifact.path.clone(),
            source,
        },
        Side::Write(source) => RestoreError::Project {
            path: artifact.path.clone(),
            source,
        },
    })?;
    if size != artifact.size || digest.is_some_and(|digest| digest != artifact.digest) {
        return Err(RestoreError::Mismatch {
            path: artifact.path.clone(),
        });
    }
    Ok(())
}

/// Appends an artifact to the pack of an entry being built, hashing the
/// bytes as they are written: a command (or another process) still writing
/// the file after it was hashed must not leave an entry whose copy differs
/// from its manifest, which every later restore would refuse.
fn store_as_hashed(
    source: &Path,
    pack: &mut impl Write,
    artifact: &ArtifactRecord,
    buffer: &mut Vec<u8>,
) -> io::Result<()> {
    let mut from = fs::File::open(source)?;
    let (digest, size) = copy_hashed(&mut from, pack, buffer).map_err(|side| match side {
        Side::Read(err) | Side::Write(err) => err,
    })?;
    if digest != artifact.digest || size != artifact.size {
        return Err(io::Error::other(format!(
            "artifact {} changed after it was hashed (is something still writing it?)",
            artifact.path
        )));
    }
    Ok(())
}

/// Which side of a copy failed.
enum Side {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` to `to` through `buffer` (grown to [`COPY_BUFFER`] on first
/// use), returning the blake3 and size of the bytes written. Large buffers
/// let blake3 hash many chunks at once.
fn copy_hashed(
    from: &mut impl Read,
    to: &mut impl io::Write,
    buffer: &mut Vec<u8>,
) -> Result<(String, u64), Side> {
    let mut hasher = blake3::Hasher::new();
    let size = copy_through(from, to, buffer, Some(&mut hasher))?;
    Ok((hasher.finalize().to_hex().to_string(), size))
}

/// Copies `from` to `to` through `buffer`, feeding `hasher` if given;
/// returns the number of bytes copied.
fn copy_through(
    from: &mut impl Read,
    to: &mut impl io::Write,
    buffer: &mut Vec<u8>,
    mut hasher: Option<&mut blake3::Hasher>,
) -> Result<u64, Side> {
    if buffer.len() < COPY_BUFFER {
        buffer.resize(COPY_BUFFER, 0);
    }
    let mut size = 0u64;
    loop {
        let read = match from.read(buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Side::Read(err)),
        };
        if let Some(hasher) = hasher.as_deref_mut() {
            hasher.update(&buffer[..read]);
        }
        to.write_all(&buffer[..read]).map_err(Side::Write)?;
        size += read as u64;
    }
    Ok(size)
}

/// Reads of artifacts and logs: large enough for blake3's wide hashing and
/// few system calls, small enough to stay in cache.
const COPY_BUFFER: usize = 256 * 1024;

/// A relative path made only of normal components, or `None`.
pub fn safe_relative(path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// What a lookup found.
#[derive(Debug)]
// One lookup per runnable, moved once: boxing the hit would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Lookup {
    Hit(Box<Entry>),
    Miss,
    /// An entry exists but cannot be trusted; treated as a miss.
    Corrupt(Damage),
}

/// Why an entry that exists cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is damaged: {source}", path.display())]
    Malformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} belongs to another runnable or version", path.display())]
    Foreign { path: PathBuf },
    #[error("{} has no log", dir.display())]
    NoLog { dir: PathBuf },
    #[error(
        "{} does not match the digest in its manifest (written to since it was stored?)",
        path.display()
    )]
    LogChanged { path: PathBuf },
    #[error("{} lists artifact {artifact:?}, which leaves the project", path.display())]
    Escapes { path: PathBuf, artifact: String },
    #[error("{} lists artifacts larger than any file", path.display())]
    Oversized { path: PathBuf },
}

/// An entry just written, and the files of older entries it pushed out.
#[derive(Debug)]
pub struct Stored {
    pub entry: Entry,
    /// Files of the entries pruned to make room (gone from disk).
    pub pruned: Vec<PathBuf>,
}

/// A directory of entries: `._qik/cache` (local) or `.qik/cache` (repo).
#[derive(Clone, Debug)]
pub struct Store {
    pub dir: PathBuf,
    /// Entries kept per runnable (the newest ones).
    pub keep: usize,
    /// Whether artifacts are copied into entries (not for the repo cache,
    /// whose artifacts are committed with the repository itself).
    pub copy_artifacts: bool,
}

/// A file-name-safe, collision-free name for a runnable or command.
pub fn slug(name: &str) -> String {
    // A replay names its command's and its runnable's directories more than
    // once, and a command's once per runnable: the digest is worth keeping.
    thread_local! {
        static KNOWN: std::cell::RefCell<rustc_hash::FxHashMap<String, String>> =
            Default::default();
    }
    KNOWN.with_borrow_mut(|known| {
        if let Some(slug) = known.get(name) {
            return slug.clone();
        }
        if known.len() >= 4096 {
            known.clear();
        }
        let slug = compute_slug(name);
        known.insert(name.to_string(), slug.clone());
        slug
    })
}

fn compute_slug(name: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Built by hand: a replay computes a few of these, and `format!` with a
    // full hex digest cost more than the lookup itself.
    let mut slug = Vec::with_capacity(name.len().min(80) + 9);
    slug.extend(
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c as u8
                } else {
                    b'_'
                }
            })
            .take(80),
    );
    slug.push(b'-');
    for byte in &blake3::hash(name.as_bytes()).as_bytes()[..4] {
        slug.extend_from_slice(&[
            DIGITS[usize::from(byte >> 4)],
            DIGITS[usize::from(byte & 0xf)],
        ]);
    }
    String::from_utf8(slug).expect("slugs are ASCII")
}

impl Store {
    fn runnable_dir(&self, command: &str, runnable: &str) -> PathBuf {
        joined(
            &self.dir,
            &[slug(command).as_bytes(), slug(runnable).as_bytes()],
        )
    }

    /// The directory an entry lives in (where a remote cache places a download).
    pub fn entry_dir(&self, command: &str, runnable: &str, hash: &str) -> PathBuf {
        joined(
            &self.dir,
            &[
                slug(command).as_bytes(),
                slug(runnable).as_bytes(),
                hash.as_bytes(),
            ],
        )
    }

    /// Looks an entry up; a torn or inconsistent entry is `Corrupt`.
    pub fn get(&self, command: &str, runnable: &str, hash: &str) -> Lookup {
        let dir = self.entry_dir(command, runnable, hash);
        let manifest_path = joined(&dir, &[MANIFEST.as_bytes()]);
        let bytes = match read_small(&manifest_path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
            Err(source) => {
                return Lookup::Corrupt(Damage::Unreadable {
                    path: manifest_path,
                    source,
                });
            }
        };
        let manifest: Manifest = match serde_json::from_slice(&bytes) {
            Ok(manifest) => manifest,
            Err(source) => {
                return Lookup::Corrupt(Damage::Malformed {
                    path: manifest_path,
                    source,
                });
            }
        };
        if !self.reads_version(manifest.version)
            || manifest.hash != hash
            || manifest.name != runnable
        {
            return Lookup::Corrupt(Damage::Foreign {
                path: manifest_path,
            });
        }
        let log_meta = match fs::metadata(dir.join(LOG)) {
            Ok(meta) if meta.is_file() => meta,
            _ => return Lookup::Corrupt(Damage::NoLog { dir }),
        };
        if let Some(bad) = manifest
            .artifacts
            .iter()
            .find(|a| safe_relative(&a.path).is_none())
        {
            return Lookup::Corrupt(Damage::Escapes {
                path: manifest_path,
                artifact: bad.path.clone(),
            });
        }
        if pack_offsets(&manifest.artifacts).is_none() {
            return Lookup::Corrupt(Damage::Oversized {
                path: manifest_path,
            });
        }
        Lookup::Hit(Box::new(Entry {
            dir,
            manifest,
            log_id: file_id(&log_meta),
        }))
    }

    /// Whether entries of manifest `version` are this version's. Version 2
    /// differs from 3 only in where artifacts are kept, so a store that keeps
    /// none (the repo cache: its artifacts are committed) reads both, and an
    /// upgrade does not re-run what a team committed.
    fn reads_version(&self, version: u32) -> bool {
        version == MANIFEST_VERSION || (version == 2 && !self.copy_artifacts)
    }

    /// Whether any entry exists for a runnable at this hash (for `--cache-status`).
    pub fn contains(&self, command: &str, runnable: &str, hash: &str) -> bool {
        matches!(self.get(command, runnable, hash), Lookup::Hit(_))
    }

    /// Every whole entry kept for a runnable (for `--explain`); damaged ones
    /// are left out, never reported.
    pub fn entries(&self, command: &str, runnable: &str) -> Vec<Entry> {
        let Ok(dir) = fs::read_dir(self.runnable_dir(command, runnable)) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|hash| !hash.starts_with('.'))
            .filter_map(|hash| match self.get(command, runnable, &hash) {
                Lookup::Hit(entry) => Some(*entry),
                Lookup::Miss | Lookup::Corrupt(_) => None,
            })
            .collect()
    }

    /// Writes an entry: the log is linked in (so it must never be written
    /// again: each run writes a new log file) and artifacts are appended to
    /// the pack in the manifest's order, then the whole
    /// directory is renamed into place. If another process wrote the same entry
    /// first, theirs stays (it has the same content by construction); an entry
    /// that does not read back whole (damaged by hand or by a crash) is replaced.
    pub fn put(
        &self,
        manifest: &Manifest,
        command: &str,
        log: &Path,
        root: &Path,
    ) -> io::Result<Stored> {
        // Already there and whole (a forced run, or another process first):
        // it stays, and writing a copy only to throw it away is skipped.
        if let Lookup::Hit(entry) = self.get(command, &manifest.name, &manifest.hash) {
            return Ok(Stored {
                entry: *entry,
                pruned: Vec::new(),
            });
        }
        let runnable_dir = self.runnable_dir(command, &manifest.name);
        // What a killed qik left here (a half-built entry can be hundreds of
        // MB) goes before this one is built.
        staging::sweep(&runnable_dir, is_entry_staging);
        let temp = match staging::dir_in(&runnable_dir, staging::ENTRY_PREFIX) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&runnable_dir)?;
                staging::dir_in(&runnable_dir, staging::ENTRY_PREFIX)?
            }
            other => other?,
        };
        // A complete log is never written again (live logs are renamed over
        // the output file, never rewritten), so the entry can share it.
        if fs::hard_link(log, temp.path().join(LOG)).is_err() {
            fs::copy(log, temp.path().join(LOG))?;
        }
        if self.copy_artifacts && !manifest.artifacts.is_empty() {
            // Small artifacts gather in the buffer: a thousand of them are a
            // few writes, not a thousand. Large ones bypass it.
            let mut pack = io::BufWriter::with_capacity(
                COPY_BUFFER,
                fs::File::create(temp.path().join(PACK))?,
            );
            let mut buffer = Vec::new();
            for artifact in &manifest.artifacts {
                let relative = safe_relative(&artifact.path).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("artifact path {:?} leaves the project", artifact.path),
                    )
                })?;
                store_as_hashed(&root.join(&relative), &mut pack, artifact, &mut buffer)?;
            }
            pack.into_inner().map_err(io::IntoInnerError::into_error)?;
        }
        let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
        fs::write(temp.path().join(MANIFEST), json)?;
        let dir = runnable_dir.join(&manifest.hash);
        // Claimed until placed: a sweep by another qik leaves it alone.
        let (staged, _claim) = temp.keep();
        let placed = self.place(&staged, &dir, command, manifest);
        // Still staged: another process's whole entry was there first.
        let ours = !staged.exists();
        if placed.is_err() || !ours {
            let _ = fs::remove_dir_all(&staged);
        }
        placed?;
        // A new entry went in: older ones may be over the limit now.
        let pruned = if ours {
            self.prune(&runnable_dir, &manifest.hash)
        } else {
            Vec::new()
        };
        Ok(Stored {
            entry: Entry {
                dir,
                manifest: manifest.clone(),
                log_id: None,
            },
            pruned,
        })
    }

    /// Renames a staged entry to `dir`. An entry already there stays if it is
    /// whole (another process wrote the same result first); a damaged one is
    /// moved aside and replaced, so a corrupt entry does not outlive the run
    /// that found it.
    fn place(
        &self,
        staged: &Path,
        dir: &Path,
        command: &str,
        manifest: &Manifest,
    ) -> io::Result<()> {
        let mut last_error = None;
        for _ in 0..3 {
            match fs::rename(staged, dir) {
                Ok(()) => return Ok(()),
                Err(err) => last_error = Some(err),
            }
            if let Lookup::Hit(_) = self.get(command, &manifest.name, &manifest.hash) {
                return Ok(());
            }
            // Renaming is atomic, so of several processes replacing the same
            // damaged entry exactly one moves it; the others retry.
            move_aside(dir)?;
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("cannot place the cache entry")))
    }

    /// Removes an entry found unusable after a hit (an artifact copy that
    /// fails its digest), so the run that follows writes a good one.
    pub fn discard(&self, entry: &Entry) -> io::Result<()> {
        move_aside(&entry.dir)
    }

    /// Keeps the newest `keep` entries of a runnable (never the one just
    /// written). Returns the files of the entries it removed.
    fn prune(&self, runnable_dir: &Path, keep_hash: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(runnable_dir) else {
            return Vec::new();
        };
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter(|e| e.file_name() != keep_hash)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        let mut pruned = Vec::new();
        for (_, stale) in found.into_iter().skip(self.keep.saturating_sub(1)) {
            let mut files = Vec::new();
            list_files(&stale, &mut files);
            if fs::remove_dir_all(&stale).is_ok() {
                pruned.extend(files);
            }
        }
        pruned
    }
}

/// Every file below `dir` (an entry: a few files, a shallow tree).
fn list_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            list_files(&entry.path(), files);
        } else {
            files.push(entry.path());
        }
    }
}

/// The staging names in a runnable's directory: entries being built,
/// downloaded, or deleted.
fn is_entry_staging(name: &str) -> bool {
    [
        staging::ENTRY_PREFIX,
        staging::REMOTE_PREFIX,
        staging::DAMAGED_PREFIX,
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// A file's device and inode: equal for two names of one file.
#[cfg(unix)]
pub fn file_id(meta: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
pub fn file_id(_: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Reads a file of a few kilobytes (a manifest) without asking its size
/// first: every replay reads one, so one syscall less each counts.
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    crate::fsutil::read_kept(path, crate::fsutil::limits::MANIFEST)
}

/// Moves an entry directory into a fresh hidden directory beside it, which is
/// then deleted: readers see the whole entry or none of it.
fn move_aside(dir: &Path) -> io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let trash = staging::dir_in(parent, staging::DAMAGED_PREFIX)?;
    match fs::rename(dir, trash.path().join("entry")) {
        // Gone already: another process moved it.
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// blake3 and size of a file, for artifact records.
pub fn file_digest(path: &Path) -> io::Result<(String, u64)> {
    let mut file = fs::File::open(path)?;
    let meta = file.metadata()?;
    digest_of(&mut file, &meta)
}

/// The record of the artifact at `path` (relative to `root`): its blake3,
/// size and exec bit, from one open and one `fstat`.
pub fn artifact_record(root: &Path, path: String) -> io::Result<ArtifactRecord> {
    use std::os::unix::fs::PermissionsExt;
    let mut file = fs::File::open(root.join(&path))?;
    let meta = file.metadata()?;
    let (digest, size) = digest_of(&mut file, &meta)?;
    Ok(ArtifactRecord {
        path,
        digest,
        size,
        executable: meta.permissions().mode() & 0o111 != 0,
    })
}

fn digest_of(file: &mut fs::File, meta: &fs::Metadata) -> io::Result<(String, u64)> {
    if meta.len() <= COPY_BUFFER as u64 {
        // Small files (most artifacts): one read into a right-sized buffer.
        let mut hasher = blake3::Hasher::new();
        let size = io::copy(file, &mut hasher)?;
        return Ok((hasher.finalize().to_hex().to_string(), size));
    }
    copy_hashed(file, &mut io::sink(), &mut Vec::new()).map_err(|err| match err {
        Side::Read(err) | Side::Write(err) => err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, hash: &str) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            name: name.into(),
            hash: hash.into(),
            code: 0,
            created: 1,
            log: LogRecord::default(),
            artifacts: Vec::new(),
            inputs: Inputs::default(),
            duration_ms: None,
        }
    }

    fn store(dir: &Path) -> Store {
        Store {
            dir: dir.join("cache"),
            keep: 2,
            copy_artifacts: true,
        }
    }

    #[test]
    fn slugs_are_readable_and_stable() {
        // Entries on disk are found by these names: they must never change.
        let expected = format!(
            "lint_pkgs_m1-{}",
            &blake3::hash(b"lint#pkgs/m1").to_hex()[..8]
        );
        assert_eq!(slug("lint#pkgs/m1"), expected);
        assert_eq!(
            slug("ünï"),
            format!("_n_-{}", &blake3::hash("ünï".as_bytes()).to_hex()[..8])
        );
        assert_eq!(slug(&"x".repeat(100)).len(), 80 + 9);
    }

    #[test]
    fn put_then_get_round_trips_and_prunes_old_entries() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out");
        fs::write(&log, "hello\n").unwrap();
        let store = store(dir.path());
        let mut pruned = Vec::new();
        for hash in ["h1", "h2", "h3"] {
            let stored = store
                .put(&manifest("lint#a", hash), "lint", &log, dir.path())
                .unwrap();
            pruned.push(stored.pruned);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The files of the entry pushed out are reported (the repo cache
        // takes them out of the git index).
        let mut last = pruned.pop().unwrap();
        last.sort();
        let h1 = store.entry_dir("lint", "lint#a", "h1");
        assert_eq!(last, [h1.join("log"), h1.join(MANIFEST)]);
        assert!(pruned.iter().all(Vec::is_empty), "{pruned:?}");
        assert!(matches!(store.get("lint", "lint#a", "h1"), Lookup::Miss));
        let Lookup::Hit(entry) = store.get("lint", "lint#a", "h3") else {
            panic!("h3 is kept")
        };
        assert_eq!(fs::read_to_string(entry.log_path()).unwrap(), "hello\n");
        assert!(matches!(store.get("lint", "lint#a", "h2"), Lookup::Hit(_)));
    }

    /// The log is checked against its digest like an artifact: written to
    /// through any of its names, it is damage.
    #[test]
    fn a_log_written_to_after_it_was_stored_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out");
        fs::write(&log, "hello\n").unwrap();
        let (digest, size) = file_digest(&log).unwrap();
        let mut m = manifest("t", "h");
        m.log = LogRecord { digest, size };
        let entry = store(dir.path())
            .put(&m, "t", &log, dir.path())
            .unwrap()
            .entry;
        entry.verify_log().unwrap();
        for tampered in ["hullo\n", "hello\nmore\n", ""] {
            fs::write(&log, tampered).unwrap();
            let err = entry.verify_log().unwrap_err();
            assert!(matches!(err, Damage::LogChanged { .. }), "{err}");
        }
        fs::write(&log, "hello\n").unwrap();
        entry.verify_log().unwrap();
        // Entries of version 1 carry no log digest: another version's.
        m.version = 1;
        fs::write(entry.dir.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(matches!(
            store(dir.path()).get("t", "t", "h"),
            Lookup::Corrupt(Damage::Foreign { .. })
        ));
    }

    #[test]
    fn damaged_or_foreign_manifests_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out");
        fs::write(&log, "x").unwrap();
        let store = store(dir.path());
        let entry = store
            .put(&manifest("t", "h"), "t", &log, dir.path())
            .unwrap()
            .entry;
        fs::write(entry.dir.join(MANIFEST), "{\"version\": 1, \"na").unwrap();
        assert!(matches!(store.get("t", "t", "h"), Lookup::Corrupt(_)));
        let other = manifest("other", "h");
        fs::write(
            entry.dir.join(MANIFEST),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        assert!(matches!(store.get("t", "t", "h"), Lookup::Corrupt(_)));
        fs::write(
            entry.dir.join(MANIFEST),
            serde_json::to_vec(&manifest("t", "h")).unwrap(),
        )
        .unwrap();
        fs::remove_file(entry.dir.join(LOG)).unwrap();
        assert!(matches!(store.get("t", "t", "h"), Lookup::Corrupt(_)));
    }

    #[test]
    fn put_replaces_a_damaged_entry_and_keeps_a_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out");
        fs::write(&log, "first").unwrap();
        let store = store(dir.path());
        let entry = store
            .put(&manifest("t", "h"), "t", &log, dir.path())
            .unwrap()
            .entry;
        fs::write(entry.dir.join(MANIFEST), "{\"version\": 1, \"na").unwrap();
        // Each run writes a new log file; a stored one is never rewritten.
        fs::remove_file(&log).unwrap();
        fs::write(&log, "second").unwrap();
        store
            .put(&manifest("t", "h"), "t", &log, dir.path())
            .unwrap();
        let Lookup::Hit(entry) = store.get("t", "t", "h") else {
            panic!("the damaged entry was replaced")
        };
        assert_eq!(fs::read_to_string(entry.log_path()).unwrap(), "second");

        // A whole entry written first (by another process) stays.
        fs::remove_file(&log).unwrap();
        fs::write(&log, "third").unwrap();
        store
            .put(&manifest("t", "h"), "t", &log, dir.path())
            .unwrap();
        assert_eq!(fs::read_to_string(entry.log_path()).unwrap(), "second");
        let leftovers: Vec<_> = fs::read_dir(entry.dir.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("h")]);

        // An artifact path leaving the project makes the entry untrustworthy.
        let mut escaping = manifest("t", "h");
        escaping.artifacts.push(ArtifactRecord {
            path: "../outside".into(),
            digest: String::new(),
            size: 0,
            executable: false,
        });
        fs::write(
            entry.dir.join(MANIFEST),
            serde_json::to_vec(&escaping).unwrap(),
        )
        .unwrap();
        assert!(
            matches!(store.get("t", "t", "h"), Lookup::Corrupt(Damage::Escapes { artifact, .. }) if artifact == "../outside")
        );
        store.discard(&entry).unwrap();
        assert!(matches!(store.get("t", "t", "h"), Lookup::Miss));
    }

    /// A project with `files` under `root` and an entry storing them all, in
    /// this order.
    fn stored(dir: &Path, files: &[(&str, &[u8])]) -> (PathBuf, Entry) {
        let root = dir.join("project");
        let mut m = manifest("t", "h");
        for (path, data) in files {
            let file = root.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, data).unwrap();
            m.artifacts
                .push(artifact_record(&root, path.to_string()).unwrap());
        }
        let log = dir.join("log");
        fs::write(&log, "").unwrap();
        let entry = store(dir).put(&m, "t", &log, &root).unwrap().entry;
        (root, entry)
    }

    /// Enough artifacts for several restore threads: every one lands whole
    /// in its place, whichever thread wrote it, and damage found by one
    /// thread fails the restore.
    #[test]
    fn many_artifacts_restore_across_threads() {
        let dir = tempfile::tempdir().unwrap();
        let count = RESTORED_PER_WORKER * 4 + 3;
        let contents: Vec<(String, Vec<u8>)> = (0..count)
            .map(|i| {
                (
                    format!("out/d{}/f{i}", i % 7),
                    format!("artifact {i}\n").repeat(i % 5).into_bytes(),
                )
            })
            .collect();
        let files: Vec<(&str, &[u8])> = contents
            .iter()
            .map(|(path, data)| (path.as_str(), data.as_slice()))
            .collect();
        let (root, entry) = stored(dir.path(), &files);
        for check in [Check::Digest, Check::Size] {
            fs::remove_dir_all(root.join("out")).unwrap();
            entry.restore_checking(&root, check).unwrap();
            for (path, data) in &contents {
                assert_eq!(&fs::read(root.join(path)).unwrap(), data, "{path}");
            }
        }
        // A byte changed in the last run of the pack: the restore fails.
        let pack = entry.dir.join(PACK);
        let mut bytes = fs::read(&pack).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&pack, bytes).unwrap();
        fs::remove_dir_all(root.join("out")).unwrap();
        let err = entry.restore_artifacts(&root).unwrap_err();
        assert!(err.entry_is_bad(), "{err}");
        // Written under its own name in a directory the restore made, the
        // artifact that failed its check is not left behind.
        let (damaged, _) = &contents[count - 1];
        assert!(!root.join(damaged).exists(), "{damaged} was removed");
    }

    #[test]
    fn artifacts_are_packed_in_manifest_order_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let files: [(&str, &[u8]); 3] = [("out/b", b"bee"), ("a", b""), ("out/c/d", b"dee\n")];
        let (_, entry) = stored(dir.path(), &files);
        assert_eq!(fs::read(entry.dir.join(PACK)).unwrap(), b"beedee\n");
        let mut names: Vec<_> = fs::read_dir(&entry.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["artifacts.pack", "log", "manifest.json"]);
        let (offsets, length) = pack_offsets(&entry.manifest.artifacts).unwrap();
        assert_eq!((offsets, length), (vec![0, 3, 3], 7));

        // An entry without artifacts has no pack at all.
        let dir = tempfile::tempdir().unwrap();
        let (_, entry) = stored(dir.path(), &[]);
        assert!(!entry.dir.join(PACK).exists());
    }

    #[test]
    fn downloaded_entries_restore_large_artifacts_checked_by_size() {
        let dir = tempfile::tempdir().unwrap();
        // Larger than one copy buffer, so the wide paths run; a small one
        // before it, so the large one starts inside the pack.
        let data: Vec<u8> = (0..COPY_BUFFER * 3 + 7).map(|i| (i % 251) as u8).collect();
        let (root, entry) = stored(
            dir.path(),
            &[("out/small", b"small"), ("out/big.bin", &data)],
        );
        assert_eq!(
            entry.manifest.artifacts[1].digest,
            blake3::hash(&data).to_hex().as_str()
        );
        fs::remove_file(root.join("out/big.bin")).unwrap();
        entry.restore_downloaded_artifacts(&root).unwrap();
        assert_eq!(fs::read(root.join("out/big.bin")).unwrap(), data);
        fs::remove_file(root.join("out/big.bin")).unwrap();
        fs::remove_file(root.join("out/small")).unwrap();
        entry.restore_downloaded_artifacts(&root).unwrap();
        assert_eq!(fs::read(root.join("out/big.bin")).unwrap(), data);
        assert_eq!(fs::read(root.join("out/small")).unwrap(), b"small");

        // A pack of the wrong length never lands anything; nor does a wrong
        // digest on a checked restore.
        let pack = entry.dir.join(PACK);
        let good = fs::read(&pack).unwrap();
        fs::remove_file(root.join("out/big.bin")).unwrap();
        fs::write(&pack, b"short").unwrap();
        let err = entry.restore_downloaded_artifacts(&root).unwrap_err();
        assert!(matches!(err, RestoreError::PackSize { .. }), "{err}");
        assert!(err.entry_is_bad());
        assert!(!root.join("out/big.bin").exists());
        let mut same_size = good.clone();
        same_size[10] ^= 1;
        fs::write(&pack, &same_size).unwrap();
        let err = entry.restore_artifacts(&root).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(!root.join("out/big.bin").exists());
    }

    /// The pack's length must be exactly what the manifest adds up to: a pack
    /// cut short or grown is damaged as a whole (an offset into it cannot be
    /// trusted), even where the bytes an artifact reads are intact.
    #[test]
    fn a_pack_of_another_length_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (root, entry) = stored(dir.path(), &[("out/a", b"first"), ("out/b", b"second")]);
        let pack = entry.dir.join(PACK);
        for tampered in [&b"firstsecond!"[..], b"firstsecon", b""] {
            fs::write(&pack, tampered).unwrap();
            fs::remove_file(root.join("out/a")).unwrap_or_default();
            let err = entry.restore_artifacts(&root).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "the cache's artifacts.pack holds {} bytes where its manifest lists 11",
                    tampered.len()
                )
            );
            assert!(err.entry_is_bad());
            assert!(!root.join("out/a").exists());
        }
        fs::write(&pack, b"firstsecond").unwrap();
        entry.restore_artifacts(&root).unwrap();
        assert_eq!(fs::read(root.join("out/a")).unwrap(), b"first");

        // Sizes that add up past any file are damage found by the lookup.
        let mut m = entry.manifest.clone();
        m.artifacts[0].size = u64::MAX;
        fs::write(entry.dir.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(matches!(
            store(dir.path()).get("t", "t", "h"),
            Lookup::Corrupt(Damage::Oversized { .. })
        ));
    }

    /// An artifact that changes between its hashing and its copy into the
    /// entry (a command still writing it) leaves no entry behind, rather than
    /// one whose copy every restore would refuse.
    #[test]
    fn an_artifact_changed_after_it_was_hashed_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        fs::create_dir_all(root.join("out")).unwrap();
        fs::write(root.join("out/data.bin"), "first half").unwrap();
        let log = dir.path().join("log");
        fs::write(&log, "").unwrap();
        let mut m = manifest("t", "h");
        m.artifacts
            .push(artifact_record(&root, "out/data.bin".into()).unwrap());
        fs::write(root.join("out/data.bin"), "first half, second half").unwrap();
        let store = store(dir.path());
        let err = store.put(&m, "t", &log, &root).unwrap_err().to_string();
        assert!(
            err.contains("out/data.bin changed after it was hashed"),
            "{err}"
        );
        assert!(matches!(store.get("t", "t", "h"), Lookup::Miss));
        // Nothing half-built is left beside the entries either.
        let left: Vec<_> = fs::read_dir(store.runnable_dir("t", "t"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");

        // Unchanged since hashing, it is stored.
        m.artifacts[0] = artifact_record(&root, "out/data.bin".into()).unwrap();
        let entry = store.put(&m, "t", &log, &root).unwrap().entry;
        assert_eq!(
            fs::read(entry.dir.join(PACK)).unwrap(),
            b"first half, second half"
        );
    }

    #[test]
    fn artifacts_are_verified_and_stay_inside_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let (root, entry) = stored(dir.path(), &[("out/report.xml", b"<ok/>")]);
        fs::remove_file(root.join("out/report.xml")).unwrap();
        entry.restore_artifacts(&root).unwrap();
        assert_eq!(
            fs::read_to_string(root.join("out/report.xml")).unwrap(),
            "<ok/>"
        );

        // An artifact already in place is left alone (same inode).
        {
            use std::os::unix::fs::MetadataExt;
            let before = fs::metadata(root.join("out/report.xml")).unwrap().ino();
            entry.restore_artifacts(&root).unwrap();
            let after = fs::metadata(root.join("out/report.xml")).unwrap().ino();
            assert_eq!(before, after);
        }

        // One in the way with other bytes is replaced whole (by rename),
        // and no temporary file is left beside it.
        fs::write(root.join("out/report.xml"), "<changed/>").unwrap();
        entry.restore_artifacts(&root).unwrap();
        assert_eq!(fs::read(root.join("out/report.xml")).unwrap(), b"<ok/>");
        assert_eq!(fs::read_dir(root.join("out")).unwrap().count(), 1);

        fs::write(entry.dir.join(PACK), "<ko/>").unwrap();
        fs::write(root.join("out/report.xml"), "<changed/>").unwrap();
        assert_eq!(
            entry.restore_artifacts(&root).unwrap_err().to_string(),
            "artifact out/report.xml in the cache does not match its digest"
        );
        assert_eq!(
            fs::read(root.join("out/report.xml")).unwrap(),
            b"<changed/>"
        );

        let mut escaping = entry.clone();
        escaping.manifest.artifacts[0].path = "../outside".into();
        assert!(
            escaping
                .restore_artifacts(&root)
                .unwrap_err()
                .to_string()
                .contains("leaves the project")
        );
        assert!(!dir.path().join("outside").exists());
    }

    /// A project that refuses an artifact (here `out` is a file, so
    /// `out/report.xml` cannot be written; a full disk or a read-only
    /// directory fail the same way) says so, and the entry stays good. A pack
    /// missing from the cache is the entry's fault.
    #[test]
    fn a_project_that_refuses_an_artifact_does_not_condemn_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (root, entry) = stored(dir.path(), &[("out/report.xml", b"<ok/>")]);

        fs::remove_dir_all(root.join("out")).unwrap();
        fs::write(root.join("out"), "in the way").unwrap();
        let err = entry.restore_artifacts(&root).unwrap_err();
        assert!(matches!(err, RestoreError::Project { .. }), "{err}");
        assert!(!err.entry_is_bad());
        assert!(
            err.to_string()
                .starts_with("cannot restore out/report.xml into the project: "),
            "{err}"
        );
        assert!(entry.dir.join(PACK).is_file());

        fs::remove_file(root.join("out")).unwrap();
        fs::remove_file(entry.dir.join(PACK)).unwrap();
        let err = entry.restore_artifacts(&root).unwrap_err();
        assert!(matches!(err, RestoreError::Missing { .. }), "{err}");
        assert!(err.entry_is_bad());
    }

    /// The pack keeps no modes: the manifest keeps each artifact's exec bit,
    /// and a restore makes the file as a command would (the umask applies).
    #[test]
    fn restored_artifacts_keep_their_exec_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        fs::create_dir_all(root.join("bin")).unwrap();
        let tool = root.join("bin/tool");
        let data = root.join("bin/data");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(&data, "plain").unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o644)).unwrap();
        let log = dir.path().join("log");
        fs::write(&log, "").unwrap();
        let mut m = manifest("t", "h");
        m.artifacts
            .push(artifact_record(&root, "bin/tool".into()).unwrap());
        m.artifacts
            .push(artifact_record(&root, "bin/data".into()).unwrap());
        assert!(m.artifacts[0].executable && !m.artifacts[1].executable);
        store(dir.path()).put(&m, "t", &log, &root).unwrap();
        // Through the manifest on disk, as a later run reads it.
        let Lookup::Hit(entry) = store(dir.path()).get("t", "t", "h") else {
            panic!("stored")
        };
        assert_eq!(entry.manifest.artifacts, m.artifacts);
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let umask = {
            let probe = root.join("probe");
            fs::write(&probe, "").unwrap();
            let made = mode(&probe);
            fs::remove_file(&probe).unwrap();
            0o666 & !made
        };
        for restore in [
            Entry::restore_artifacts,
            Entry::restore_downloaded_artifacts,
        ] {
            fs::remove_file(&tool).unwrap();
            fs::remove_file(&data).unwrap();
            restore(&entry, &root).unwrap();
            assert_eq!(mode(&tool), 0o755 & !umask);
            assert_eq!(mode(&data), 0o644 & !umask);
            assert_eq!(fs::read(&tool).unwrap(), b"#!/bin/sh\n");
        }
        assert!(
            fs::read_dir(root.join("bin")).unwrap().count() == 2,
            "no temp files left"
        );
    }

    /// Entries of version 2 kept a file per artifact: in the local store
    /// they are another version's, a miss with a warning like version 1.
    /// The repo cache keeps no artifacts, so its entries of 2 still serve.
    #[test]
    fn entries_of_version_2_are_foreign_where_artifacts_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (_, entry) = stored(dir.path(), &[("out/a", b"a")]);
        let mut m = entry.manifest.clone();
        m.version = 2;
        fs::write(entry.dir.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        let local = store(dir.path());
        assert!(matches!(
            local.get("t", "t", "h"),
            Lookup::Corrupt(Damage::Foreign { .. })
        ));
        let repo = Store {
            copy_artifacts: false,
            ..local
        };
        assert!(matches!(repo.get("t", "t", "h"), Lookup::Hit(_)));
        m.version = 1;
        fs::write(entry.dir.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(matches!(
            repo.get("t", "t", "h"),
            Lookup::Corrupt(Damage::Foreign { .. })
        ));
    }

    #[test]
    fn safe_relative_rejects_escapes() {
        assert_eq!(safe_relative("a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative("../a"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative("a/../../b"), None);
        assert_eq!(safe_relative(""), None);
    }

    #[test]
    fn slugs_are_safe_and_distinct() {
        let a = slug("test@app#app/users?x=1");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        );
        assert_ne!(slug("a/b"), slug("a_b"));
    }
}
