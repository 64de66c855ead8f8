//! What every remote cache shares, so each plugin writes only its protocol:
//! the fault policy, settings rendered with `{ctx...}` on first use, and the
//! local entries they read from and place into (a local entry keeps its
//! artifacts in one pack, [`ENTRY_PACK`]: a download writes each artifact
//! at its offset with [`StagedPack`], an upload reads it with [`LocalPack`]).
//!
//! The fault policy: a *fault* (server down, timeouts, refused credentials,
//! bad settings) turns the cache off for the rest of the run, so a dead
//! server costs one timeout, not one per runnable; a *refused* entry is a
//! miss for that entry only; *no uploads* stops uploads and keeps reads.
//! Whatever happens, at most one warning per cache per run reaches the user,
//! with every secret the cache was given taken out of it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::cache::{EntryKey, Manifest, pack_offsets};
use crate::ctx::Ctx;
use crate::diagnostic::{Code, Diagnostic};
use crate::ext::cache::{CacheBackend, RemoteCache};
use crate::fsutil::staging::{self, StagingDir};
use crate::source::{Node, SourceFile};
use crate::template::{self, Scope};

/// Files of a local entry, as the local store lays them out.
pub const ENTRY_MANIFEST: &str = "manifest.json";
pub const ENTRY_LOG: &str = "log";
/// The artifacts' bytes, one after another in the manifest's order; absent
/// when the manifest lists none.
pub const ENTRY_PACK: &str = crate::cache::PACK;
/// Core's manifests are small; a bigger one is not ours.
pub const MANIFEST_LIMIT: u64 = 64 * 1024 * 1024;

/// What went wrong with a remote cache, and how much it matters.
#[derive(Clone, Debug)]
pub enum Problem {
    /// The cache cannot be used this run.
    Fault(String),
    /// This entry is not trusted, or a local file failed: a miss.
    Refused(String),
    /// The server does not take uploads from this client; reads go on.
    NoUploads(String),
}

impl Problem {
    pub fn refused(err: impl fmt::Display) -> Problem {
        Problem::Refused(err.to_string())
    }

    /// A local file that cannot be read or written: not the server's fault.
    pub fn local(path: &Path, err: impl fmt::Display) -> Problem {
        Problem::Refused(format!("{}: {err}", path.display()))
    }

    /// Of two problems met at once, which to report: faults first, since
    /// they turn the cache off.
    pub fn outranks(&self, other: &Problem) -> bool {
        let rank = |p: &Problem| match p {
            Problem::Refused(_) => 0,
            Problem::NoUploads(_) => 1,
            Problem::Fault(_) => 2,
        };
        rank(self) > rank(other)
    }
}

/// A setting that could not be used when the cache first connected (a
/// `{ctx...}` value missing, a flag that is not true or false): which key,
/// where it is written, and why. Shown as `key` (file:line:col): message;
/// hint: ...
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` ({location}): {message}{}", hint.as_ref().map_or(String::new(), |h| format!("; hint: {h}")))]
pub struct SettingError {
    pub key: String,
    /// `file:line:col`.
    pub location: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Plugins report connection problems as text (after their own checks), so
/// a setting's error joins them as its message.
impl From<SettingError> for String {
    fn from(err: SettingError) -> String {
        err.to_string()
    }
}

/// One remote cache's state for a run: its connection, made on first use,
/// and the fault policy of the module docs.
pub struct Guard<R> {
    name: String,
    remote: OnceLock<Result<R, Problem>>,
    /// Values to take out of any message, such as header values a server
    /// might echo.
    secrets: OnceLock<Vec<String>>,
    /// Set by the first fault: the cache is skipped for the rest of the run.
    off: AtomicBool,
    /// Set when the server refuses uploads.
    no_uploads: AtomicBool,
    /// Set by the first warning: later problems stay quiet.
    warned: AtomicBool,
}

impl<R> fmt::Debug for Guard<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("name", &self.name)
            .field("off", &self.off.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<R> Guard<R> {
    /// `name` is the cache's name in `[caches]`, which starts every warning.
    pub fn new(name: impl Into<String>) -> Guard<R> {
        Guard {
            name: name.into(),
            remote: OnceLock::new(),
            secrets: OnceLock::new(),
            off: AtomicBool::new(false),
            no_uploads: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Values no warning may show; the first call counts. Call it from
    /// `connect` before anything can fail, so its own errors are covered.
    pub fn hide(&self, secrets: Vec<String>) {
        let _ = self.secrets.set(secrets);
    }

    /// Takes every hidden value out of a message.
    pub fn redact(&self, message: String) -> String {
        redact(self.secrets.get().map_or(&[][..], Vec::as_slice), message)
    }

    /// Whether uploads stopped this run (a refusal, or a fault).
    pub fn uploads_stopped(&self) -> bool {
        self.no_uploads.load(Ordering::Acquire) || self.off.load(Ordering::Acquire)
    }

    /// Whether a warning was given this run.
    pub fn warned(&self) -> bool {
        self.warned.load(Ordering::Acquire)
    }

    /// Runs `work` against the remote (connected by `connect` on first use),
    /// turning problems into at most one warning per run and `fallback`
    /// otherwise.
    pub fn run<T, E: fmt::Display>(
        &self,
        connect: impl FnOnce() -> Result<R, E>,
        fallback: T,
        work: impl FnOnce(&R) -> Result<T, Problem>,
    ) -> Result<T, Diagnostic> {
        if self.off.load(Ordering::Acquire) {
            return Ok(fallback);
        }
        let connected = self
            .remote
            .get_or_init(|| connect().map_err(|err| Problem::Fault(err.to_string())));
        let result = match connected {
            Ok(remote) => work(remote),
            Err(problem) => Err(problem.clone()),
        };
        let problem = match result {
            Ok(value) => return Ok(value),
            Err(problem) => problem,
        };
        let name = &self.name;
        let message = match problem {
            Problem::Fault(message) => {
                self.off.store(true, Ordering::Release);
                format!("`{name}`: {message}; running without this cache for the rest of the run")
            }
            Problem::NoUploads(message) => {
                self.no_uploads.store(true, Ordering::Release);
                format!("`{name}`: {message}; not uploading for the rest of the run")
            }
            Problem::Refused(message) => format!("`{name}`: {message}"),
        };
        if self.warned.swap(true, Ordering::AcqRel) {
            Ok(fallback)
        } else {
            Err(Diagnostic::warning(self.redact(message)))
        }
    }
}

/// Takes every secret out of a message. Values shorter than four characters
/// are left alone (they would mangle ordinary words); a `Scheme token`
/// value also hides the bare token, which servers often echo.
pub fn redact(secrets: &[String], mut message: String) -> String {
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        message = message.replace(secret.as_str(), "<redacted>");
        if let Some((_, token)) = secret.split_once(' ') {
            if token.len() >= 4 {
                message = message.replace(token, "<redacted>");
            }
        }
    }
    message
}

/// The first characters of an entry's hash, for messages.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Reads the manifest of the local entry in `src` for uploading it: the
/// bytes as stored and their parse, which must be `key`'s entry.
pub fn read_local_manifest(key: EntryKey<'_>, src: &Path) -> Result<(Vec<u8>, Manifest), Problem> {
    let path = src.join(ENTRY_MANIFEST);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|f| f.take(MANIFEST_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|err| Problem::local(&path, err))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|_| {
        Problem::refused(format!("{} does not parse; not uploading", path.display()))
    })?;
    if manifest.name != key.runnable || manifest.hash != key.hash {
        return Err(Problem::refused(format!(
            "{} is not the entry of {}; not uploading",
            src.display(),
            key.runnable
        )));
    }
    Ok((bytes, manifest))
}

/// Why a downloaded manifest cannot make a local entry of this version
/// (which would be refused once placed, so none of it is fetched); `None`
/// when it can.
pub fn foreign_version(manifest: &Manifest) -> Option<String> {
    let version = crate::cache::MANIFEST_VERSION;
    (manifest.version != version).then(|| {
        format!(
            "its manifest is of version {}, another qik's (this one reads {version})",
            manifest.version
        )
    })
}

/// A temporary directory beside `dest` to build a downloaded entry in;
/// [`place_entry`] then makes it appear whole.
pub fn stage_entry(dest: &Path) -> Result<StagingDir, Problem> {
    let parent = dest
        .parent()
        .ok_or_else(|| Problem::refused("the local entry has no parent directory"))?;
    fs::create_dir_all(parent).map_err(|err| Problem::local(parent, err))?;
    staging::dir_in(parent, staging::REMOTE_PREFIX).map_err(|err| Problem::local(parent, err))
}

/// Renames a staged entry to `dest` in one step. Another process that
/// placed the same entry first is a hit too.
pub fn place_entry(staged: StagingDir, dest: &Path) -> Result<(), Problem> {
    // Claimed until renamed: a sweep in another qik leaves it alone.
    let (staged, _claim) = staged.keep();
    if let Err(err) = fs::rename(&staged, dest) {
        let _ = fs::remove_dir_all(&staged);
        if !dest.join(ENTRY_MANIFEST).is_file() {
            return Err(Problem::local(dest, err));
        }
    }
    Ok(())
}

/// Where each artifact of `manifest` lies in its entry's pack, in the
/// manifest's order, and the pack's length.
fn pack_ranges(manifest: &Manifest) -> Result<(Vec<Range<u64>>, u64), Problem> {
    let (offsets, length) = pack_offsets(&manifest.artifacts)
        .ok_or_else(|| Problem::refused("the manifest lists artifacts larger than any file"))?;
    let ranges = offsets
        .iter()
        .zip(&manifest.artifacts)
        .map(|(&start, artifact)| start..start + artifact.size)
        .collect();
    Ok((ranges, length))
}

/// The pack of an entry being downloaded into a staged directory, sized up
/// front: each artifact is written at its offset, in any order and from any
/// number of threads (positioned writes share no file position).
#[derive(Debug)]
pub struct StagedPack {
    file: File,
    path: PathBuf,
    ranges: Vec<Range<u64>>,
}

impl StagedPack {
    /// Creates the pack of `manifest` in `staged` (from [`stage_entry`]);
    /// `None` when the manifest lists no artifacts, whose entry has none.
    pub fn create(staged: &Path, manifest: &Manifest) -> Result<Option<StagedPack>, Problem> {
        if manifest.artifacts.is_empty() {
            return Ok(None);
        }
        let (ranges, length) = pack_ranges(manifest)?;
        let path = staged.join(ENTRY_PACK);
        // Readable too: an artifact downloaded once is copied to the other
        // places of the same content.
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|err| Problem::local(&path, err))?;
        file.set_len(length)
            .map_err(|err| Problem::local(&path, err))?;
        Ok(Some(StagedPack { file, path, ranges }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A reader of artifact `index`'s bytes as written so far.
    pub fn reader(&self, index: usize) -> PackReader<'_> {
        let range = self.ranges[index].clone();
        PackReader {
            file: &self.file,
            at: range.start,
            end: range.end,
        }
    }

    /// A writer of artifact `index` (in the manifest's order) from its
    /// offset. Bytes past the artifact's size are refused; the caller checks
    /// that exactly its size was written, against its digest.
    pub fn writer(&self, index: usize) -> PackWriter<'_> {
        let range = self.ranges[index].clone();
        PackWriter {
            file: &self.file,
            at: range.start,
            end: range.end,
        }
    }

    /// Writes the whole of artifact `index`, whose bytes are in memory.
    pub fn write(&self, index: usize, data: &[u8]) -> Result<(), Problem> {
        self.write_many(&mut [(index, data)])
    }

    /// Writes whole artifacts whose bytes are in memory, given as
    /// `(index, bytes)`: neighbours in the pack go out in one write, so a
    /// batch of a thousand small artifacts costs a few system calls, not a
    /// thousand.
    pub fn write_many(&self, artifacts: &mut [(usize, &[u8])]) -> Result<(), Problem> {
        let local = |err| Problem::local(&self.path, err);
        artifacts.sort_by_key(|(index, _)| self.ranges[*index].start);
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0;
        for &(index, data) in artifacts.iter() {
            let range = self.ranges[index].clone();
            if data.len() as u64 != range.end - range.start {
                return Err(Problem::refused(
                    "an artifact's bytes are not the size its manifest lists",
                ));
            }
            let joins = run_start + run.len() as u64 == range.start;
            if !joins || run.len() + data.len() > COPY_CHUNK * 16 {
                self.file.write_all_at(&run, run_start).map_err(local)?;
                run.clear();
                run_start = range.start;
            }
            run.extend_from_slice(data);
        }
        self.file.write_all_at(&run, run_start).map_err(local)
    }

    /// Copies artifact `from` into artifact `to`'s place (two artifacts with
    /// the same content, downloaded once). Their sizes must be equal.
    pub fn copy(&self, from: usize, to: usize) -> Result<(), Problem> {
        let local = |err| Problem::local(&self.path, err);
        let (source, target) = (self.ranges[from].clone(), self.ranges[to].clone());
        if source.end - source.start != target.end - target.start {
            return Err(Problem::refused(
                "two artifacts of one digest differ in size",
            ));
        }
        let mut buffer = vec![0; COPY_CHUNK];
        let mut done = 0;
        while source.start + done < source.end {
            let want = usize::try_from(source.end - source.start - done)
                .map_or(COPY_CHUNK, |left| left.min(COPY_CHUNK));
            let chunk = &mut buffer[..want];
            self.file
                .read_exact_at(chunk, source.start + done)
                .map_err(local)?;
            self.file
                .write_all_at(chunk, target.start + done)
                .map_err(local)?;
            done += want as u64;
        }
        Ok(())
    }
}

/// Chunks of copies between ranges of a pack.
const COPY_CHUNK: usize = 256 * 1024;

/// Writes one artifact into a [`StagedPack`] at its offset.
#[derive(Debug)]
pub struct PackWriter<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Write for PackWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.end - self.at {
            // A server sending more than the manifest lists would overwrite
            // the next artifact.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more bytes than the manifest lists for this artifact",
            ));
        }
        let written = self.file.write_at(buf, self.at)?;
        self.at += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The pack of a local entry, for uploading its artifacts: open once, and
/// exactly as long as the manifest's sizes add up to.
#[derive(Debug)]
pub struct LocalPack {
    file: File,
    path: PathBuf,
    ranges: Vec<Range<u64>>,
}

impl LocalPack {
    /// Opens the pack of the local entry in `src`; `None` when `manifest`
    /// lists no artifacts. A pack of another length is refused: none of its
    /// offsets can be trusted.
    pub fn open(src: &Path, manifest: &Manifest) -> Result<Option<LocalPack>, Problem> {
        if manifest.artifacts.is_empty() {
            return Ok(None);
        }
        let (ranges, length) = pack_ranges(manifest)?;
        let path = src.join(ENTRY_PACK);
        let (file, found) = crate::fsutil::open_kept(&path, crate::fsutil::limits::STREAMED)
            .map_err(|err| Problem::local(&path, err))?;
        if found != length {
            return Err(Problem::refused(format!(
                "{} holds {found} bytes where its manifest lists {length}; not uploading",
                path.display()
            )));
        }
        Ok(Some(LocalPack { file, path, ranges }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where artifact `index` (in the manifest's order) lies in the pack.
    pub fn range(&self, index: usize) -> Range<u64> {
        self.ranges[index].clone()
    }

    /// A reader of artifact `index`'s bytes, and of nothing past them.
    pub fn reader(&self, index: usize) -> PackReader<'_> {
        let range = self.range(index);
        PackReader {
            file: &self.file,
            at: range.start,
            end: range.end,
        }
    }
}

/// Reads one artifact of a pack from its offset (positioned reads: readers
/// of one pack share no file position).
#[derive(Debug)]
pub struct PackReader<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for PackReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.at).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// Reads `size` bytes at `offset` of the file at `path` (a blob an upload
/// sends from a range of a pack; a whole file is offset 0).
pub fn read_range(path: &Path, offset: u64, size: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut data = vec![0; usize::try_from(size).map_err(io::Error::other)?];
    file.read_exact_at(&mut data, offset)?;
    Ok(data)
}

/// `upload = false`, or a template such as `"{ctx.upload}"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    /// A `{ctx...}` template that renders to true or false.
    Template(String),
}

impl Flag {
    /// Whether a flag is written as a literal `false`: known without
    /// rendering anything (a read-only cache skips uploads at no cost).
    pub fn literal_false(flag: Option<&Spanned<Flag>>) -> bool {
        matches!(flag.map(Spanned::get_ref), Some(Flag::Bool(false)))
    }
}

/// Whether a value holds placeholders (and so is checked once rendered).
pub fn is_template(text: &str) -> bool {
    text.contains(['{', '}'])
}

/// Unset optional context variables render as `None` (as in the reference);
/// for an optional key that means "not set".
pub fn unset(text: &str) -> bool {
    text.is_empty() || text == "None"
}

fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" | "none" | "" => Some(false),
        _ => None,
    }
}

/// The file a remote's settings are written in. Literal values are checked
/// at parse time ([`SettingsFile::error_at`] points at them); templated ones
/// are rendered on first use, when context variables are known, and their
/// errors are single lines naming the key and its `file:line:col`, since
/// they are shown as a warning without a snippet.
#[derive(Clone)]
pub struct SettingsFile {
    file: Arc<SourceFile>,
}

impl fmt::Debug for SettingsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SettingsFile")
            .field(&self.file.display_path())
            .finish()
    }
}

impl SettingsFile {
    pub fn new(file: Arc<SourceFile>) -> SettingsFile {
        SettingsFile { file }
    }

    /// The file of `node`.
    pub fn of(node: &Node<'_>) -> SettingsFile {
        SettingsFile::new(Arc::clone(node.file()))
    }

    pub fn file(&self) -> &Arc<SourceFile> {
        &self.file
    }

    /// A config error at `span`, for literal values checked at parse time.
    pub fn error_at(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(Code::ConfigParse, message)
            .with_label(&self.file, span, "here")
            .with_hint(hint)
    }

    /// A setting's error, located at `span` of `key`.
    pub fn located(
        &self,
        key: &str,
        span: Range<usize>,
        message: &str,
        hint: Option<&str>,
    ) -> SettingError {
        let (line, col) = self.file.line_col(span.start);
        SettingError {
            key: key.to_string(),
            location: format!("{}:{line}:{col}", self.file.display_path()),
            message: message.to_string(),
            hint: hint.map(str::to_string),
        }
    }

    /// Fills the placeholders of `value`.
    pub fn render(
        &self,
        ctx: &Ctx,
        key: &str,
        value: &Spanned<String>,
    ) -> Result<String, SettingError> {
        let scope = Scope { module: None, ctx };
        template::render_at(value.get_ref(), scope, &self.file, value.span())
            .map_err(|d| self.located(key, value.span(), &d.message, d.hint.as_deref()))
    }

    /// An optional value, rendered; `None` when absent or rendered unset.
    pub fn optional(
        &self,
        ctx: &Ctx,
        key: &str,
        value: Option<&Spanned<String>>,
    ) -> Result<Option<String>, SettingError> {
        match value {
            None => Ok(None),
            Some(value) => {
                let text = self.render(ctx, key, value)?;
                Ok((!unset(&text)).then_some(text))
            }
        }
    }

    /// A `true`/`false` key, literal or rendered.
    pub fn flag(&self, ctx: &Ctx, key: &str, flag: &Spanned<Flag>) -> Result<bool, SettingError> {
        match flag.get_ref() {
            Flag::Bool(value) => Ok(*value),
            Flag::Template(text) => {
                let value = Spanned::new(flag.span(), text.clone());
                let rendered = self.render(ctx, key, &value)?;
                parse_flag(&rendered).ok_or_else(|| {
                    self.located(
                        key,
                        flag.span(),
                        &format!("{rendered:?} is not true or false"),
                        None,
                    )
                })
            }
        }
    }

    /// A path written in the file, relative to its directory.
    pub fn path(&self, text: &str) -> PathBuf {
        let base = self.file.path().parent().unwrap_or(Path::new("."));
        base.join(text)
    }

    /// A duration in seconds, checked to lie in (0, `max`], else `default`.
    pub fn seconds(
        &self,
        key: &str,
        value: Option<&Spanned<f64>>,
        default: f64,
        max: f64,
    ) -> Result<Duration, Diagnostic> {
        let secs = match value {
            None => default,
            Some(t) if *t.get_ref() > 0.0 && *t.get_ref() <= max => *t.get_ref(),
            Some(t) => {
                return Err(self.error_at(
                    t.span(),
                    format!("{key} must be between 0 and {max} seconds"),
                    format!("the default is {default} seconds"),
                ));
            }
        };
        Ok(Duration::from_secs_f64(secs))
    }
}

/// A remote cache type that parses itself from its `[caches.<name>]` table
/// (without `type`); registered with [`remote_cache_type`]`::<Self>`.
pub trait ParseRemote: RemoteCache + Sized {
    /// Only checks the table: nothing connects until first use.
    fn parse(name: &str, node: Node<'_>) -> Result<Self, Diagnostic>;
}

/// The `parse` of a [`crate::ext::CacheType`] whose caches are `C`.
pub fn remote_cache_type<C: ParseRemote>(
    name: &str,
    node: Node<'_>,
) -> Result<CacheBackend, Diagnostic> {
    Ok(CacheBackend::Remote(Arc::new(C::parse(name, node)?)))
}

#[cfg(test)]
mod tests {
    use crate::cache::ArtifactRecord;

    use super::*;

    fn guard() -> Guard<u32> {
        Guard::new("shared")
    }

    #[test]
    fn a_fault_warns_once_then_turns_the_cache_off() {
        let guard = guard();
        let connects = std::sync::atomic::AtomicUsize::new(0);
        let connect = || {
            connects.fetch_add(1, Ordering::Relaxed);
            Err::<u32, _>("cannot reach grpc://127.0.0.1:1".to_string())
        };
        let first = guard.run(connect, false, |_| Ok(true)).unwrap_err();
        assert_eq!(
            first.message,
            "`shared`: cannot reach grpc://127.0.0.1:1; running without this cache for the rest of the run"
        );
        // Off: no work, no second connection, no second warning.
        let ran = AtomicBool::new(false);
        let later = guard.run(
            || Ok::<_, String>(1),
            false,
            |_| {
                ran.store(true, Ordering::Relaxed);
                Ok(true)
            },
        );
        assert!(!later.unwrap());
        assert!(!ran.load(Ordering::Relaxed));
        assert_eq!(connects.load(Ordering::Relaxed), 1);
        assert!(guard.uploads_stopped());
    }

    #[test]
    fn refusals_are_misses_and_only_the_first_problem_warns() {
        let guard = guard();
        let err = guard
            .run(
                || Ok::<_, String>(7),
                0,
                |_| Err(Problem::refused("bad blob")),
            )
            .unwrap_err();
        assert_eq!(err.message, "`shared`: bad blob");
        // Still on: work runs, its value comes back.
        assert_eq!(
            guard
                .run(|| -> Result<u32, String> { unreachable!() }, 0, |r| Ok(*r))
                .unwrap(),
            7
        );
        // A later problem is quiet but still takes effect.
        let quiet = guard.run(
            || -> Result<u32, String> { unreachable!() },
            0,
            |_| Err(Problem::NoUploads("no".into())),
        );
        assert_eq!(quiet.unwrap(), 0);
        assert!(guard.uploads_stopped());
        assert!(guard.warned());
    }

    #[test]
    fn refused_uploads_stop_uploads_only() {
        let guard = guard();
        let err = guard
            .run(
                || Ok::<_, String>(1),
                (),
                |_| Err(Problem::NoUploads("denied".into())),
            )
            .unwrap_err();
        assert!(
            err.message
                .ends_with("not uploading for the rest of the run")
        );
        assert!(guard.uploads_stopped());
        assert_eq!(
            guard
                .run(|| -> Result<u32, String> { unreachable!() }, 0, |r| Ok(*r))
                .unwrap(),
            1
        );
    }

    #[test]
    fn warnings_never_hold_a_secret() {
        let guard = guard();
        guard.hide(vec!["Bearer tok-123456".into(), "abc".into()]);
        let err = guard
            .run(
                || Err::<u32, String>("denied: Bearer tok-123456 / token tok-123456 / abc".into()),
                (),
                |_| Ok(()),
            )
            .unwrap_err();
        assert!(
            err.message
                .starts_with("`shared`: denied: <redacted> / token <redacted> / abc;"),
            "{}",
            err.message
        );
    }

    #[test]
    fn faults_outrank_the_rest() {
        let fault = Problem::Fault("x".into());
        let refused = Problem::refused("y");
        assert!(fault.outranks(&refused));
        assert!(!refused.outranks(&fault));
        assert!(!refused.outranks(&Problem::refused("z")));
    }

    fn settings(text: &str) -> (SettingsFile, Arc<SourceFile>) {
        let file =
            SourceFile::parse("dir/qik.toml".into(), "dir/qik.toml".into(), text.into()).unwrap();
        (SettingsFile::new(Arc::clone(&file)), file)
    }

    fn ctx(vars: &[(&str, &str)]) -> Ctx {
        Ctx::of_strings(vars)
    }

    #[derive(Deserialize)]
    struct Keys {
        url: Spanned<String>,
        prefix: Option<Spanned<String>>,
        upload: Option<Spanned<Flag>>,
        timeout: Option<Spanned<f64>>,
    }

    fn keys(file: &Arc<SourceFile>) -> Keys {
        file.root().get("c").unwrap().deserialize().unwrap()
    }

    #[test]
    fn renders_ctx_and_locates_errors() {
        let (at, file) = settings(
            "[c]\nurl = \"http://{ctx.host}:1\"\nprefix = \"{ctx.prefix}\"\nupload = \"{ctx.up}\"\n",
        );
        let keys = keys(&file);
        let vars = ctx(&[("host", "h"), ("prefix", ""), ("up", "False")]);
        assert_eq!(at.render(&vars, "url", &keys.url).unwrap(), "http://h:1");
        assert_eq!(
            at.optional(&vars, "prefix", keys.prefix.as_ref()).unwrap(),
            None
        );
        assert!(
            !at.flag(&vars, "upload", keys.upload.as_ref().unwrap())
                .unwrap()
        );
        assert!(!Flag::literal_false(keys.upload.as_ref()));

        let vars = ctx(&[("host", "h"), ("prefix", "p"), ("up", "maybe")]);
        let err = at
            .flag(&vars, "upload", keys.upload.as_ref().unwrap())
            .unwrap_err();
        assert_eq!(err.key, "upload");
        assert_eq!(err.location, "dir/qik.toml:4:10");
        assert_eq!(
            err.to_string(),
            "`upload` (dir/qik.toml:4:10): \"maybe\" is not true or false"
        );
        // An undeclared variable: the key, where it is, and a hint.
        let err = at
            .render(&Ctx::default(), "url", &keys.url)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("`url` (dir/qik.toml:2:"), "{err}");
        assert!(err.contains("; hint: "), "{err}");
        assert_eq!(at.path("ca.pem"), Path::new("dir/ca.pem"));
    }

    #[test]
    fn literal_values_are_checked_where_written() {
        let (at, file) = settings("[c]\nurl = \"x\"\nupload = false\ntimeout = 0\n");
        let keys = keys(&file);
        assert!(Flag::literal_false(keys.upload.as_ref()));
        let err = at
            .seconds("timeout", keys.timeout.as_ref(), 10.0, 600.0)
            .unwrap_err();
        assert_eq!(err.message, "timeout must be between 0 and 600 seconds");
        assert!(err.location().is_some());
        assert_eq!(err.hint.as_deref(), Some("the default is 10 seconds"));
        assert_eq!(
            at.seconds("timeout", None, 2.5, 600.0).unwrap(),
            Duration::from_millis(2500)
        );
        assert!(is_template("{ctx.x}") && !is_template("plain"));
    }

    fn manifest(name: &str) -> Manifest {
        Manifest {
            version: crate::cache::MANIFEST_VERSION,
            name: name.into(),
            hash: "h1".into(),
            code: 0,
            created: 0,
            log: crate::cache::LogRecord::default(),
            artifacts: vec![ArtifactRecord {
                path: "out/x".into(),
                digest: "0".repeat(64),
                size: 1,
                executable: false,
            }],
            inputs: crate::hashing::Inputs::default(),
            duration_ms: None,
        }
    }

    const KEY: EntryKey<'static> = EntryKey {
        command: "build",
        runnable: "build#a",
        hash: "h1",
    };

    #[test]
    fn local_manifests_must_be_the_entry_of_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ENTRY_MANIFEST);
        assert!(matches!(
            read_local_manifest(KEY, dir.path()),
            Err(Problem::Refused(_))
        ));
        fs::write(&path, serde_json::to_vec(&manifest("build#a")).unwrap()).unwrap();
        let (bytes, parsed) = read_local_manifest(KEY, dir.path()).unwrap();
        assert_eq!(bytes, fs::read(&path).unwrap());
        assert_eq!(parsed.artifacts.len(), 1);
        fs::write(&path, serde_json::to_vec(&manifest("build#b")).unwrap()).unwrap();
        match read_local_manifest(KEY, dir.path()) {
            Err(Problem::Refused(why)) => {
                assert!(why.contains("not the entry of build#a"), "{why}")
            }
            _ => panic!("another runnable's entry is not uploaded"),
        }
        fs::write(&path, "{").unwrap();
        assert!(read_local_manifest(KEY, dir.path()).is_err());
    }

    fn packed(sizes: &[u64]) -> Manifest {
        let mut m = manifest("build#a");
        m.artifacts = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| ArtifactRecord {
                path: format!("out/{i}"),
                digest: String::new(),
                size,
                executable: false,
            })
            .collect();
        m
    }

    #[test]
    fn staged_packs_take_artifacts_at_their_offsets_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let m = packed(&[3, 0, 5, 3]);
        let pack = StagedPack::create(dir.path(), &m).unwrap().unwrap();
        assert_eq!(fs::metadata(pack.path()).unwrap().len(), 11);
        std::thread::scope(|scope| {
            scope.spawn(|| pack.write(2, b"fghij").unwrap());
            scope.spawn(|| pack.write(0, b"abc").unwrap());
        });
        pack.copy(0, 3).unwrap();
        assert_eq!(fs::read(pack.path()).unwrap(), b"abcfghijabc");
        // Past an artifact's end would be the next one's bytes: refused.
        let err = pack.write(0, b"abcd").unwrap_err();
        assert!(matches!(err, Problem::Refused(_)), "{err:?}");
        assert!(pack.copy(0, 2).is_err(), "sizes differ");
        assert_eq!(fs::read(pack.path()).unwrap(), b"abcfghijabc");

        let read = LocalPack::open(dir.path(), &m).unwrap().unwrap();
        let mut third = String::new();
        read.reader(2).read_to_string(&mut third).unwrap();
        assert_eq!(third, "fghij");
        assert_eq!(read.range(3), 8..11);
        assert_eq!(read_range(read.path(), 3, 5).unwrap(), b"fghij");

        // No artifacts, no pack.
        let none = tempfile::tempdir().unwrap();
        assert!(
            StagedPack::create(none.path(), &packed(&[]))
                .unwrap()
                .is_none()
        );
        assert!(
            LocalPack::open(none.path(), &packed(&[]))
                .unwrap()
                .is_none()
        );
        assert!(!none.path().join(ENTRY_PACK).exists());
    }

    #[test]
    fn local_packs_of_another_length_are_not_uploaded() {
        let dir = tempfile::tempdir().unwrap();
        let m = packed(&[3, 2]);
        for (bytes, found) in [(&b"abcde!"[..], 6), (b"abcd", 4)] {
            fs::write(dir.path().join(ENTRY_PACK), bytes).unwrap();
            match LocalPack::open(dir.path(), &m) {
                Err(Problem::Refused(why)) => assert!(
                    why.ends_with(&format!(
                        "artifacts.pack holds {found} bytes where its manifest lists 5; not uploading"
                    )),
                    "{why}"
                ),
                other => panic!("{other:?}"),
            }
        }
        fs::remove_file(dir.path().join(ENTRY_PACK)).unwrap();
        assert!(matches!(
            LocalPack::open(dir.path(), &m),
            Err(Problem::Refused(_))
        ));
        assert!(matches!(
            StagedPack::create(dir.path(), &packed(&[u64::MAX, 1])),
            Err(Problem::Refused(_))
        ));
    }

    #[test]
    fn entries_appear_whole_and_a_racing_writer_is_a_hit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("cache/build/h1");
        let staged = stage_entry(&dest).unwrap();
        fs::write(staged.path().join(ENTRY_MANIFEST), "{}").unwrap();
        place_entry(staged, &dest).unwrap();
        assert!(dest.join(ENTRY_MANIFEST).is_file());
        // A second copy of the same entry loses the race quietly.
        let again = stage_entry(&dest).unwrap();
        fs::write(again.path().join("log"), "x").unwrap();
        place_entry(again, &dest).unwrap();
        assert!(!dest.join("log").exists());
        let leftovers = fs::read_dir(dest.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no staging directory is left behind");
    }
}
