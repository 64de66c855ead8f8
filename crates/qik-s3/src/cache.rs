//! The `s3` remote cache: downloads verified entries into the local store
//! and uploads new ones, without ever breaking a build.
//!
//! The fault policy is every remote cache's (`qik_core::ext::remote`): a
//! *fault* (server down, timeouts, 5xx after the retry, refused credentials,
//! a broken connection, bad settings) turns the cache off for the run; a
//! *refused entry* (bad seal or signature, a file that fails its digest,
//! unsafe paths) is a miss for that entry only. At most one warning per
//! cache per run; the command runs as if uncached.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use qik_core::cache::{EntryKey, Manifest};
use qik_core::ctx::Ctx;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::RemoteCache;
use qik_core::ext::remote::{
    Guard, LocalPack, MANIFEST_LIMIT, ParseRemote, Problem, StagedPack, foreign_version,
    place_entry, read_local_manifest, short_hash as short, stage_entry,
};
use qik_core::source::Node;

use crate::config::{Conf, Settings};
use crate::http::{Client, S3Error};
use crate::keys::{Layout, entry_relative};
use crate::seal::{ARTIFACTS, FORMAT, LOG, MANIFEST, Plan, Refusal, Seal, SealedFile, SigningKey};

/// Seals list every file of an entry; even 100,000 artifacts fit.
const SEAL_LIMIT: u64 = 32 * 1024 * 1024;
/// Blobs move a few at a time: enough to hide latency for many small
/// artifacts, few enough to stay polite to the server.
const TRANSFER_THREADS: usize = 4;

impl From<S3Error> for Problem {
    fn from(err: S3Error) -> Problem {
        match err {
            // A local file that cannot be written is not the server's fault.
            S3Error::Local { .. } => Problem::Refused(err.to_string()),
            _ => Problem::Fault(err.to_string()),
        }
    }
}

/// The settings, rendered on first use, and the client built from them.
struct Remote {
    client: Client,
    prefix: String,
    signing_key: Option<SigningKey>,
    upload: bool,
}

impl Remote {
    fn new(settings: Settings) -> Remote {
        Remote {
            client: Client::new(
                settings.bucket,
                settings.auth,
                &settings.trust,
                settings.timeout,
                settings.origin,
            ),
            prefix: settings.prefix,
            signing_key: settings.signing_key,
            upload: settings.upload,
        }
    }
}

/// One `[caches.<name>] type = "s3"`.
pub(crate) struct S3Cache {
    conf: Conf,
    guard: Guard<Remote>,
    /// Blobs that failed their digest in this run; the next upload of their
    /// entry rewrites them even though the listing shows them.
    bad_blobs: Mutex<HashSet<String>>,
}

impl fmt::Debug for S3Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Cache")
            .field("conf", &self.conf)
            .finish_non_exhaustive()
    }
}

/// A file to upload: its bytes in memory (the manifest) or on disk.
struct Outgoing {
    sealed: SealedFile,
    source: Source,
}

enum Source {
    Memory(Vec<u8>),
    /// A whole file (offset 0), or an artifact's range of the entry's pack.
    Disk {
        path: PathBuf,
        offset: u64,
    },
}

/// Where a downloaded file goes in the staged entry.
enum Place<'a> {
    Log(&'a Path),
    /// Artifact `index` of the manifest, in the pack.
    Artifact(usize),
}

/// An artifact's path in the project, from its sealed name.
fn artifact_path(file: &SealedFile) -> &str {
    file.path
        .strip_prefix(ARTIFACTS)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(&file.path)
}

impl S3Cache {
    pub(crate) fn new(conf: Conf) -> S3Cache {
        S3Cache {
            guard: Guard::new(conf.name.clone()),
            conf,
            bad_blobs: Mutex::new(HashSet::new()),
        }
    }

    /// Runs `work` against the remote under the fault policy.
    fn guarded<T>(
        &self,
        ctx: &Ctx,
        fallback: T,
        work: impl FnOnce(&Remote) -> Result<T, Problem>,
    ) -> Result<T, Diagnostic> {
        let connect = || {
            self.conf
                .resolve(ctx, &|name| std::env::var(name).ok())
                .map(Remote::new)
        };
        self.guard.run(connect, fallback, work)
    }

    fn remember_bad(&self, key: String) {
        if let Ok(mut bad) = self.bad_blobs.lock() {
            bad.insert(key);
        }
    }

    fn is_bad(&self, key: &str) -> bool {
        self.bad_blobs.lock().is_ok_and(|bad| bad.contains(key))
    }

    /// The entry's seal, checked against `key` and the signing key.
    fn read_seal(
        remote: &Remote,
        layout: &Layout,
        key: EntryKey<'_>,
    ) -> Result<Option<Plan>, Problem> {
        let Some(bytes) = remote.client.get_small(&layout.seal(), SEAL_LIMIT)? else {
            return Ok(None);
        };
        let entry = |refusal: Refusal| {
            Problem::Refused(format!(
                "ignoring the remote entry of {} at {}: {refusal}",
                key.runnable,
                short(key.hash)
            ))
        };
        let seal = Seal::parse(&bytes).map_err(entry)?;
        seal.verify(remote.signing_key.as_ref()).map_err(entry)?;
        seal.plan(key).map(Some).map_err(entry)
    }

    fn fetch(&self, remote: &Remote, key: EntryKey<'_>, dest: &Path) -> Result<bool, Problem> {
        let layout = Layout::new(&remote.prefix, key).map_err(Problem::refused)?;
        let Some(plan) = Self::read_seal(remote, &layout, key)? else {
            return Ok(false);
        };
        let entry_err = |what: String| {
            Problem::Refused(format!(
                "ignoring the remote entry of {} at {}: {what}",
                key.runnable,
                short(key.hash)
            ))
        };
        // The manifest is checked in memory before anything touches the disk:
        // a hostile entry is refused with nothing written.
        let manifest_bytes = self.fetch_small_blob(remote, &layout, &plan.manifest)?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|_| entry_err("its manifest does not parse".into()))?;
        check_manifest(&manifest, key, &plan).map_err(entry_err)?;

        let temp = stage_entry(dest)?;
        let pack = StagedPack::create(temp.path(), &manifest)?;
        let sealed: HashMap<&str, &SealedFile> = plan
            .artifacts
            .iter()
            .map(|(_, file)| (artifact_path(file), file))
            .collect();
        let log = temp.path().join(LOG);
        let mut targets = vec![(Place::Log(&log), &plan.log)];
        // Each artifact the manifest lists, at its offset in the pack: no
        // range is left unwritten.
        for (index, artifact) in manifest.artifacts.iter().enumerate() {
            let file = sealed.get(artifact.path.as_str()).ok_or_else(|| {
                entry_err("its manifest and its seal disagree about the artifacts".into())
            })?;
            targets.push((Place::Artifact(index), file));
        }
        parallel(&targets, |(place, file)| {
            self.fetch_blob(remote, &layout, key, file, place, pack.as_ref())
        })?;
        let manifest_path = temp.path().join(MANIFEST);
        fs::write(&manifest_path, &manifest_bytes)
            .map_err(|err| Problem::local(&manifest_path, err))?;
        // Whole or nothing: the entry appears with one rename.
        place_entry(temp, dest)?;
        Ok(true)
    }

    fn fetch_small_blob(
        &self,
        remote: &Remote,
        layout: &Layout,
        file: &SealedFile,
    ) -> Result<Vec<u8>, Problem> {
        if file.size > MANIFEST_LIMIT {
            return Err(Problem::refused("the remote manifest is implausibly large"));
        }
        let blob = layout.blob(&file.blake3).map_err(Problem::refused)?;
        let bytes = remote
            .client
            .get_small(&blob, file.size)?
            .ok_or_else(|| Problem::refused(format!("the remote entry lacks its {}", file.path)))?;
        if bytes.len() as u64 != file.size || blake3::hash(&bytes).to_hex().as_str() != file.blake3
        {
            self.remember_bad(blob);
            return Err(Problem::refused(format!(
                "the remote {} does not match its digest",
                file.path
            )));
        }
        Ok(bytes)
    }

    fn fetch_blob(
        &self,
        remote: &Remote,
        layout: &Layout,
        key: EntryKey<'_>,
        file: &SealedFile,
        place: &Place<'_>,
        pack: Option<&StagedPack>,
    ) -> Result<(), Problem> {
        let blob = layout.blob(&file.blake3).map_err(Problem::refused)?;
        let (out, target): (Box<dyn Write>, &Path) = match (place, pack) {
            (Place::Log(path), _) => (
                Box::new(File::create(path).map_err(|err| Problem::local(path, err))?),
                path,
            ),
            (Place::Artifact(index), Some(pack)) => (Box::new(pack.writer(*index)), pack.path()),
            // A manifest that lists an artifact always has a pack.
            (Place::Artifact(_), None) => {
                return Err(Problem::refused("an artifact without a pack"));
            }
        };
        let mut out = BufWriter::with_capacity(256 * 1024, out);
        let Some(received) = remote.client.get_to(&blob, file.size, &mut out, target)? else {
            // Lifecycle rules may expire blobs before seals.
            return Err(Problem::refused(format!(
                "the remote entry of {} lacks {}",
                key.runnable, file.path
            )));
        };
        if received.size != file.size || received.digest != file.blake3 {
            self.remember_bad(blob);
            return Err(Problem::refused(format!(
                "ignoring the remote entry of {} at {}: {} does not match its digest",
                key.runnable,
                short(key.hash),
                file.path
            )));
        }
        out.flush().map_err(|err| Problem::local(target, err))
    }

    fn push(&self, remote: &Remote, key: EntryKey<'_>, src: &Path) -> Result<(), Problem> {
        if !remote.upload {
            return Ok(());
        }
        let layout = Layout::new(&remote.prefix, key).map_err(Problem::refused)?;
        let files = outgoing(key, src)?;
        // Blobs already there (a rerun with `-f`, a concurrent writer, an
        // upload that died before its seal) are not sent again, unless this
        // run saw them fail their digest.
        let existing: HashMap<String, u64> =
            remote.client.list(&layout.blobs())?.into_iter().collect();
        let mut seen = HashSet::new();
        let mut todo = Vec::new();
        for file in &files {
            if !seen.insert(file.sealed.blake3.as_str()) {
                continue;
            }
            let blob = layout.blob(&file.sealed.blake3).map_err(Problem::refused)?;
            if existing.get(&blob) == Some(&file.sealed.size) && !self.is_bad(&blob) {
                continue;
            }
            todo.push((blob, file));
        }
        parallel(&todo, |(blob, file)| {
            match &file.source {
                Source::Memory(bytes) => remote.client.put_bytes(blob, bytes)?,
                Source::Disk { path, offset } => {
                    remote
                        .client
                        .put_file(blob, path, *offset, file.sealed.size)?
                }
            }
            if let Ok(mut bad) = self.bad_blobs.lock() {
                bad.remove(blob);
            }
            Ok(())
        })?;
        // The seal goes last: until it exists, readers see no entry.
        let mut seal = Seal {
            format: FORMAT,
            command: key.command.to_string(),
            runnable: key.runnable.to_string(),
            hash: key.hash.to_string(),
            files: files.into_iter().map(|f| f.sealed).collect(),
            signature: None,
        };
        if let Some(signing_key) = &remote.signing_key {
            seal.sign(signing_key);
        }
        let bytes = serde_json::to_vec(&seal).map_err(Problem::refused)?;
        remote.client.put_bytes(&layout.seal(), &bytes)?;
        Ok(())
    }

    fn probe(&self, remote: &Remote, key: EntryKey<'_>) -> Result<bool, Problem> {
        let layout = Layout::new(&remote.prefix, key).map_err(Problem::refused)?;
        match Self::read_seal(remote, &layout, key) {
            Ok(plan) => Ok(plan.is_some()),
            // An untrusted entry is simply cold; the run will say why.
            Err(Problem::Refused(_)) => Ok(false),
            Err(fault) => Err(fault),
        }
    }
}

impl ParseRemote for S3Cache {
    fn parse(name: &str, node: Node<'_>) -> Result<S3Cache, Diagnostic> {
        Ok(S3Cache::new(Conf::parse(name, node)?))
    }
}

impl RemoteCache for S3Cache {
    fn download(&self, ctx: &Ctx, key: EntryKey<'_>, dest: &Path) -> Result<bool, Diagnostic> {
        self.guarded(ctx, false, |remote| self.fetch(remote, key, dest))
    }

    fn upload(&self, ctx: &Ctx, key: EntryKey<'_>, src: &Path) -> Result<(), Diagnostic> {
        if self.conf.literal_read_only() {
            return Ok(());
        }
        self.guarded(ctx, (), |remote| self.push(remote, key, src))
    }

    fn contains(&self, ctx: &Ctx, key: EntryKey<'_>) -> Result<bool, Diagnostic> {
        self.guarded(ctx, false, |remote| self.probe(remote, key))
    }
}

/// The manifest must be this version's, for this runnable and hash, and list
/// exactly the artifacts the seal pins, each once, at a safe path.
fn check_manifest(manifest: &Manifest, key: EntryKey<'_>, plan: &Plan) -> Result<(), String> {
    if manifest.name != key.runnable || manifest.hash != key.hash {
        return Err("its manifest belongs to another runnable or hash".into());
    }
    if let Some(why) = foreign_version(manifest) {
        return Err(why);
    }
    let mut listed = BTreeMap::new();
    for artifact in &manifest.artifacts {
        if entry_relative(&artifact.path).is_none()
            || qik_core::cache::safe_relative(&artifact.path).is_none()
        {
            return Err(format!(
                "its manifest names the artifact {:?}, which is not a plain path inside the project",
                artifact.path
            ));
        }
        // A path listed twice would leave one of its ranges unchecked.
        let first = listed.insert(
            artifact.path.as_str(),
            (artifact.digest.as_str(), artifact.size),
        );
        if first.is_some() {
            return Err(format!(
                "its manifest lists the artifact {:?} twice",
                artifact.path
            ));
        }
    }
    let sealed: BTreeMap<&str, (&str, u64)> = plan
        .artifacts
        .iter()
        .map(|(_, file)| (artifact_path(file), (file.blake3.as_str(), file.size)))
        .collect();
    if listed != sealed {
        return Err("its manifest and its seal disagree about the artifacts".into());
    }
    Ok(())
}

/// The files of a local entry to upload, hashed, with artifacts checked
/// against the manifest so a damaged local copy is never shared.
fn outgoing(key: EntryKey<'_>, src: &Path) -> Result<Vec<Outgoing>, Problem> {
    let (manifest_bytes, manifest) = read_local_manifest(key, src)?;
    let mut files = vec![Outgoing {
        sealed: SealedFile {
            path: MANIFEST.into(),
            blake3: blake3::hash(&manifest_bytes).to_hex().to_string(),
            size: manifest_bytes.len() as u64,
        },
        source: Source::Memory(manifest_bytes.clone()),
    }];
    let log = src.join(LOG);
    let file = File::open(&log).map_err(|err| Problem::local(&log, err))?;
    let (digest, size) = hash_reader(file, &log)?;
    files.push(Outgoing {
        sealed: SealedFile {
            path: LOG.into(),
            blake3: digest,
            size,
        },
        source: Source::Disk {
            path: log,
            offset: 0,
        },
    });
    let pack = LocalPack::open(src, &manifest)?;
    for (index, artifact) in manifest.artifacts.iter().enumerate() {
        if entry_relative(&artifact.path).is_none() {
            return Err(Problem::refused(format!(
                "the artifact path {:?} is not plain; not uploading",
                artifact.path
            )));
        }
        // Listed, so the pack exists (`open` said so otherwise).
        let Some(pack) = &pack else { break };
        let (digest, size) = hash_reader(pack.reader(index), pack.path())?;
        if digest != artifact.digest || size != artifact.size {
            return Err(Problem::refused(format!(
                "the cached copy of {} does not match its manifest; not uploading",
                artifact.path
            )));
        }
        files.push(Outgoing {
            sealed: SealedFile {
                // The wire format names artifacts as the layout of format 1
                // did, whatever the local entry's layout.
                path: format!("{ARTIFACTS}/{}", artifact.path),
                blake3: digest,
                size,
            },
            source: Source::Disk {
                path: pack.path().to_path_buf(),
                offset: pack.range(index).start,
            },
        });
    }
    Ok(files)
}

/// blake3 and size of what `from` reads (a file, or an artifact's range of
/// a pack at `path`), streamed.
fn hash_reader(mut from: impl std::io::Read, path: &Path) -> Result<(String, u64), Problem> {
    let mut hasher = blake3::Hasher::new();
    let size = std::io::copy(&mut from, &mut hasher).map_err(|err| Problem::local(path, err))?;
    Ok((hasher.finalize().to_hex().to_string(), size))
}

/// Runs `work` on every item with a few threads; stops at the first problem.
fn parallel<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> Result<(), Problem> + Sync,
) -> Result<(), Problem> {
    let workers = TRANSFER_THREADS.min(items.len());
    if workers <= 1 {
        return items.iter().try_for_each(work);
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first: Mutex<Option<Problem>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    if let Err(problem) = work(item) {
                        stop.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = first.lock() {
                            let replace = slot.as_ref().is_none_or(|old| problem.outranks(old));
                            if replace {
                                *slot = Some(problem);
                            }
                        }
                        break;
                    }
                }
            });
        }
    });
    // A worker that panicked poisons nothing we rely on: the slot is whole.
    let first = first
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use qik_core::cache::ArtifactRecord;
    use qik_core::source::SourceFile;

    use super::*;

    const KEY: EntryKey<'static> = EntryKey {
        command: "build",
        runnable: "build#a",
        hash: "h1",
    };

    fn cache(extra: &str) -> S3Cache {
        let text = format!(
            "[caches.remote]\ntype = \"s3\"\nbucket = \"b-1\"\n\
             endpoint-url = \"http://127.0.0.1:9\"\n{extra}\n"
        );
        let file = SourceFile::parse("qik.toml".into(), "qik.toml".into(), text).unwrap();
        let node = file.root().get("caches").unwrap().get("remote").unwrap();
        S3Cache::new(Conf::parse("remote", node).unwrap())
    }

    #[test]
    fn one_warning_then_quiet_misses() {
        // No credentials anywhere: a fault on first use.
        let cache = cache("aws-access-key-id = \"{ctx.none}\"");
        let ctx = Ctx::default();
        let dest = Path::new("/nonexistent/entry");
        let first = cache.download(&ctx, KEY, dest).unwrap_err();
        assert!(first.message.starts_with("`remote`: "), "{}", first.message);
        assert!(first.message.contains("running without this cache"));
        assert!(!cache.download(&ctx, KEY, dest).unwrap());
        assert!(cache.upload(&ctx, KEY, dest).is_ok());
        assert!(!cache.contains(&ctx, KEY).unwrap());
    }

    #[test]
    fn literal_read_only_caches_never_upload() {
        let cache = cache("upload = false");
        // Would be a fault (no credentials) if it tried.
        assert!(
            cache
                .upload(&Ctx::default(), KEY, Path::new("/nonexistent"))
                .is_ok()
        );
        assert!(!cache.guard.warned());
    }

    fn plan(paths: &[(&str, &str)]) -> Plan {
        let file = |path: &str, digest: &str| SealedFile {
            path: path.into(),
            blake3: digest.repeat(64),
            size: 1,
        };
        Plan {
            manifest: file(MANIFEST, "a"),
            log: file(LOG, "b"),
            artifacts: paths
                .iter()
                .map(|(p, d)| (PathBuf::from(p), file(&format!("artifacts/{p}"), d)))
                .collect(),
        }
    }

    fn manifest(artifacts: &[(&str, &str)]) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "version": qik_core::cache::MANIFEST_VERSION, "name": "build#a", "hash": "h1", "code": 0, "created": 0,
            "artifacts": artifacts.iter().map(|(p, d)| ArtifactRecord {
                path: p.to_string(), digest: d.repeat(64), size: 1, executable: false,
            }).collect::<Vec<_>>(),
            "inputs": qik_core::hashing::Inputs::default(),
        }))
        .unwrap()
    }

    #[test]
    fn manifests_must_agree_with_their_seal() {
        let sealed = plan(&[("out/x", "c")]);
        assert!(check_manifest(&manifest(&[("out/x", "c")]), KEY, &sealed).is_ok());
        let err = check_manifest(&manifest(&[("out/x", "d")]), KEY, &sealed).unwrap_err();
        assert!(err.contains("disagree"), "{err}");
        let err = check_manifest(&manifest(&[]), KEY, &sealed).unwrap_err();
        assert!(err.contains("disagree"), "{err}");
        for bad in ["../x", "/etc/x", "a/./b", "a\u{0}b"] {
            let err = check_manifest(&manifest(&[(bad, "c")]), KEY, &plan(&[])).unwrap_err();
            assert!(err.contains("not a plain path"), "{bad:?}: {err}");
        }
        let mut other = manifest(&[("out/x", "c")]);
        other.name = "build#b".into();
        assert!(check_manifest(&other, KEY, &sealed).is_err());
        // Each path once: a second range of one path would go unchecked.
        let err =
            check_manifest(&manifest(&[("out/x", "c"), ("out/x", "c")]), KEY, &sealed).unwrap_err();
        assert!(err.contains("lists the artifact \"out/x\" twice"), "{err}");
        // Another version's entry is refused before anything is fetched.
        let mut old = manifest(&[("out/x", "c")]);
        old.version = 2;
        let err = check_manifest(&old, KEY, &sealed).unwrap_err();
        assert!(err.contains("of version 2, another qik's"), "{err}");
    }

    #[test]
    fn parallel_work_stops_at_the_first_problem_and_prefers_faults() {
        let items: Vec<usize> = (0..100).collect();
        let done = AtomicUsize::new(0);
        assert!(
            parallel(&items, |_| {
                done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .is_ok()
        );
        assert_eq!(done.load(Ordering::Relaxed), 100);
        let result = parallel(&items, |i| match i {
            3 => Err(Problem::Refused("bad".into())),
            4 => Err(Problem::Fault("down".into())),
            _ => Ok(()),
        });
        assert!(result.is_err());
        assert!(parallel(&[1], |_| Err(Problem::Fault("x".into()))).is_err());
    }
}
