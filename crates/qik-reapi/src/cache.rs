//! The `reapi` remote cache: downloads verified entries into the local store
//! and uploads new ones, without ever breaking a build.
//!
//! The fault policy is every remote cache's (`qik_core::ext::remote`): a
//! *fault* (server down, timeouts, refused credentials, a broken connection,
//! bad settings, no digest function in common) turns the cache off for the
//! run; a *refused entry* (a blob missing or not matching its digest, a
//! result qik did not write, unsafe paths) is a miss for that entry only; a
//! *refused upload* (the server will not take results from this client)
//! stops uploads but keeps reads. At most one warning per cache per run, and
//! it never holds a header value.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use qik_core::cache::{EntryKey, Manifest};
use qik_core::ctx::Ctx;
use qik_core::diagnostic::Diagnostic;
use qik_core::ext::RemoteCache;
use qik_core::ext::remote::{
    ENTRY_LOG as LOG, ENTRY_MANIFEST as MANIFEST, Guard, LocalPack, MANIFEST_LIMIT, ParseRemote,
    Problem, StagedPack, foreign_version, place_entry, read_local_manifest, short_hash as short,
    stage_entry,
};
use qik_core::source::Node;
use sha2::{Digest as _, Sha256};

use crate::action::{Dg, EntryPlan, MANIFEST_PATH, OutFile, hex, key_action, plain_path};
use crate::batch;
use crate::client::{Client, RpcError};
use crate::config::{Conf, Settings};
use crate::transfer::{Source, UploadError, upload_missing};

/// gRPC status codes that mean "not with these credentials".
const REFUSALS: [tonic::Code; 2] = [tonic::Code::PermissionDenied, tonic::Code::Unauthenticated];

/// What an RPC error means for the cache.
fn rpc_problem(err: RpcError) -> Problem {
    match err {
        // A local file that cannot be read or written is not the server's fault.
        RpcError::Local { .. } => Problem::Refused(err.to_string()),
        _ => Problem::Fault(err.to_string()),
    }
}

/// The client and the settings it was made from.
struct Remote {
    client: Client,
    settings: Settings,
}

/// One `[caches.<name>] type = "reapi"`.
pub(crate) struct ReapiCache {
    conf: Conf,
    guard: Guard<Remote>,
    /// Blobs the server sent with the wrong content this run: uploads send
    /// them again although the server claims to have them.
    bad_blobs: Mutex<HashSet<Dg>>,
}

impl fmt::Debug for ReapiCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReapiCache")
            .field("conf", &self.conf)
            .finish_non_exhaustive()
    }
}

impl ReapiCache {
    pub(crate) fn new(conf: Conf) -> ReapiCache {
        ReapiCache {
            guard: Guard::new(conf.name.clone()),
            conf,
            bad_blobs: Mutex::new(HashSet::new()),
        }
    }

    fn connect(&self, ctx: &Ctx) -> Result<Remote, String> {
        let settings = self.conf.resolve(ctx)?;
        // Header values never reach a warning, whatever a server echoes.
        self.guard.hide(settings.secrets());
        let client = Client::connect(&settings).map_err(|err| err.to_string())?;
        Ok(Remote { client, settings })
    }

    /// Runs `work` against the remote under the fault policy.
    fn guarded<T>(
        &self,
        ctx: &Ctx,
        fallback: T,
        work: impl FnOnce(&Remote) -> Result<T, Problem>,
    ) -> Result<T, Diagnostic> {
        self.guard.run(|| self.connect(ctx), fallback, work)
    }

    /// The entry's plan, or `None` when the server has no result for it.
    fn lookup(remote: &Remote, key: EntryKey<'_>) -> Result<Option<EntryPlan>, Problem> {
        let action = key_action(key);
        let Some(result) = remote
            .client
            .get_action_result(&action.digest)
            .map_err(rpc_problem)?
        else {
            return Ok(None);
        };
        EntryPlan::from_result(&result).map(Some).map_err(|why| {
            Problem::refused(format!(
                "ignoring the remote entry of {}: {why}",
                key.runnable
            ))
        })
    }

    fn fetch(&self, remote: &Remote, key: EntryKey<'_>, dest: &Path) -> Result<bool, Problem> {
        let Some(plan) = Self::lookup(remote, key)? else {
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
        if plan.manifest.size > MANIFEST_LIMIT {
            return Err(entry_err("its manifest is implausibly large".into()));
        }
        let manifest_bytes = self
            .read_small(remote, std::slice::from_ref(&plan.manifest))?
            .remove(&plan.manifest)
            .ok_or_else(|| entry_err("its manifest is missing from the server's storage".into()))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|_| entry_err("its manifest does not parse".into()))?;
        check_manifest(&manifest, key, &plan).map_err(entry_err)?;
        let temp = stage_entry(dest)?;
        let pack = StagedPack::create(temp.path(), &manifest)?;
        // Every place each blob goes: artifacts' ranges of the pack (each
        // artifact the manifest lists, so no range is left unwritten),
        // then the log.
        let blobs: HashMap<&str, &Dg> = plan
            .artifacts
            .iter()
            .map(|a| (a.path.as_str(), &a.digest))
            .collect();
        let mut targets: BTreeMap<Dg, Vec<Target>> = BTreeMap::new();
        for (index, artifact) in manifest.artifacts.iter().enumerate() {
            let digest = blobs.get(artifact.path.as_str()).ok_or_else(|| {
                entry_err("its manifest and its result disagree about the artifacts".into())
            })?;
            targets
                .entry((*digest).clone())
                .or_default()
                .push(Target::Artifact {
                    index,
                    blake3: &artifact.digest,
                });
        }
        targets
            .entry(plan.log.clone())
            .or_default()
            .push(Target::Log);
        let log_path = temp.path().join(LOG);
        let staged = Staged {
            pack: pack.as_ref(),
            log: &log_path,
        };
        let digests: Vec<Dg> = targets.keys().cloned().collect();
        let sizes: Vec<u64> = digests.iter().map(|d| d.size).collect();
        let split = batch::plan(&sizes, remote.client.caps.batch_limit);
        for indexes in &split.batches {
            let wanted: Vec<Dg> = indexes.iter().map(|&i| digests[i].clone()).collect();
            let found = self.read_small(remote, &wanted)?;
            // Checked before anything is written: what lands is what was
            // checked. The batch's artifacts then go into the pack together.
            let mut into_pack: Vec<(usize, &[u8])> = Vec::new();
            for digest in &wanted {
                let data = found.get(digest).ok_or_else(|| {
                    entry_err("a file is missing from the server's storage".into())
                })?;
                let written = blake3::hash(data).to_hex();
                for target in &targets[digest] {
                    target.check(&written).map_err(&entry_err)?;
                    match target {
                        Target::Artifact { index, .. } => into_pack.push((*index, data)),
                        Target::Log => staged.write_log(data)?,
                    }
                }
            }
            if !into_pack.is_empty() {
                staged.pack()?.write_many(&mut into_pack)?;
            }
        }
        for &index in &split.streamed {
            let digest = &digests[index];
            let places = &targets[digest];
            let first = &places[0];
            // blake3 is taken from the bytes as they are written: reading
            // a 100 MB artifact back to check it cost as much as the write.
            let mut out = Blake3Tee {
                out: BufWriter::with_capacity(1024 * 1024, staged.writer(first)?),
                hasher: blake3::Hasher::new(),
            };
            let target_path = staged.path(first);
            let received = remote
                .client
                .read_stream(digest, &mut out, target_path)
                .map_err(rpc_problem)?
                .ok_or_else(|| entry_err("a file is missing from the server's storage".into()))?;
            out.out
                .flush()
                .map_err(|err| Problem::local(target_path, err))?;
            let written = out.hasher.finalize().to_hex();
            drop(out);
            if &received != digest {
                return Err(self.mismatch(digest));
            }
            for target in places {
                target.check(&written).map_err(&entry_err)?;
            }
            // The same bytes elsewhere: copied locally, not fetched again.
            for target in &places[1..] {
                staged.copy(first, target)?;
            }
        }
        let manifest_path = temp.path().join(MANIFEST);
        fs::write(&manifest_path, &manifest_bytes)
            .map_err(|err| Problem::local(&manifest_path, err))?;
        // Whole or nothing: the entry appears with one rename.
        place_entry(temp, dest)?;
        Ok(true)
    }

    fn mismatch(&self, digest: &Dg) -> Problem {
        if let Ok(mut bad) = self.bad_blobs.lock() {
            bad.insert(digest.clone());
        }
        Problem::refused(
            "the server sent a file that does not match its digest; ignoring the entry",
        )
    }

    /// Reads blobs that fit one batch, checking each against its digest.
    /// Missing ones are left out of the answer; a mismatch refuses.
    fn read_small(&self, remote: &Remote, digests: &[Dg]) -> Result<HashMap<Dg, Vec<u8>>, Problem> {
        let mut found = HashMap::new();
        if digests
            .iter()
            .all(|d| d.size <= remote.client.caps.batch_limit / 2)
        {
            for (digest, data) in remote.client.batch_read(digests).map_err(rpc_problem)? {
                let Ok(data) = data else { continue };
                if Dg::of(&data) != digest {
                    return Err(self.mismatch(&digest));
                }
                found.insert(digest, data);
            }
        } else {
            // Only the manifest comes here alone and big: stream it.
            for digest in digests {
                let mut data = Vec::new();
                let target = Path::new(MANIFEST_PATH);
                let received = remote
                    .client
                    .read_stream(digest, &mut data, target)
                    .map_err(rpc_problem)?;
                if let Some(received) = received {
                    if &received != digest {
                        return Err(self.mismatch(digest));
                    }
                    found.insert(digest.clone(), data);
                }
            }
        }
        Ok(found)
    }

    fn push(&self, remote: &Remote, key: EntryKey<'_>, src: &Path) -> Result<(), Problem> {
        if !remote.settings.upload
            || !remote.client.caps.update_enabled
            || self.guard.uploads_stopped()
        {
            return Ok(());
        }
        let (plan, mut sources) = outgoing(key, src)?;
        let action = key_action(key);
        for (digest, blob) in action.blobs {
            sources.entry(digest).or_insert(Source::Memory(blob));
        }
        let bad = self.bad_blobs.lock().map(|b| b.clone()).unwrap_or_default();
        upload_missing(&remote.client, &sources, &|d| bad.contains(d)).map_err(
            |err| match err {
                UploadError::Find(err) => rpc_problem(err),
                UploadError::Write(err) => upload_problem(err),
                UploadError::Local(message) => Problem::Refused(message),
            },
        )?;
        // The result goes last: until it exists, readers see no entry.
        remote
            .client
            .update_action_result(&action.digest, plan.to_result())
            .map_err(upload_problem)
    }

    fn probe(&self, remote: &Remote, key: EntryKey<'_>) -> Result<bool, Problem> {
        let plan = match Self::lookup(remote, key) {
            Ok(Some(plan)) => plan,
            // An untrusted entry is simply cold; a run will say why.
            Ok(None) | Err(Problem::Refused(_)) => return Ok(false),
            Err(fault) => return Err(fault),
        };
        let missing = remote
            .client
            .find_missing(&plan.digests())
            .map_err(rpc_problem)?;
        Ok(missing.is_empty())
    }
}

/// Refusals of an upload stop uploads; other errors are faults.
fn upload_problem(err: RpcError) -> Problem {
    match err.code() {
        Some(code) if REFUSALS.contains(&code) => Problem::NoUploads(format!(
            "{err}; the server does not take results from this client (set `upload = false` for read-only use)"
        )),
        _ => rpc_problem(err),
    }
}

impl ParseRemote for ReapiCache {
    fn parse(name: &str, node: Node<'_>) -> Result<ReapiCache, Diagnostic> {
        Ok(ReapiCache::new(Conf::parse(name, node)?))
    }
}

impl RemoteCache for ReapiCache {
    fn download(&self, ctx: &Ctx, key: EntryKey<'_>, dest: &Path) -> Result<bool, Diagnostic> {
        self.guarded(ctx, false, |remote| self.fetch(remote, key, dest))
    }

    fn upload(&self, ctx: &Ctx, key: EntryKey<'_>, src: &Path) -> Result<(), Diagnostic> {
        if self.conf.literal_read_only() || self.guard.uploads_stopped() {
            return Ok(());
        }
        self.guarded(ctx, (), |remote| self.push(remote, key, src))
    }

    fn contains(&self, ctx: &Ctx, key: EntryKey<'_>) -> Result<bool, Diagnostic> {
        self.guarded(ctx, false, |remote| self.probe(remote, key))
    }
}

/// Where a downloaded blob goes, and what it must hash to in qik's terms.
enum Target<'a> {
    /// Artifact `index` of the manifest, in the entry's pack.
    Artifact { index: usize, blake3: &'a str },
    /// The entry's log (its digest is checked on every replay).
    Log,
}

impl Target<'_> {
    /// Checks the blake3 of the bytes for this place against the manifest's.
    fn check(&self, written: &str) -> Result<(), String> {
        match self {
            Target::Artifact { blake3, .. } if *blake3 != written => {
                Err("an artifact does not match the digest in its manifest".into())
            }
            _ => Ok(()),
        }
    }
}

/// The staged entry's files that downloads write into.
struct Staged<'a> {
    pack: Option<&'a StagedPack>,
    log: &'a Path,
}

impl Staged<'_> {
    fn pack(&self) -> Result<&StagedPack, Problem> {
        // A manifest that lists an artifact always has a pack.
        self.pack
            .ok_or_else(|| Problem::refused("an artifact without a pack"))
    }

    /// The file a target is written into, for messages.
    fn path(&self, target: &Target<'_>) -> &Path {
        match (target, self.pack) {
            (Target::Artifact { .. }, Some(pack)) => pack.path(),
            _ => self.log,
        }
    }

    fn writer(&self, target: &Target<'_>) -> Result<Box<dyn Write + '_>, Problem> {
        Ok(match target {
            Target::Artifact { index, .. } => Box::new(self.pack()?.writer(*index)),
            Target::Log => {
                Box::new(File::create(self.log).map_err(|err| Problem::local(self.log, err))?)
            }
        })
    }

    /// The log, whose bytes are in memory (artifacts go into the pack in
    /// runs, [`StagedPack::write_many`]).
    fn write_log(&self, data: &[u8]) -> Result<(), Problem> {
        fs::write(self.log, data).map_err(|err| Problem::local(self.log, err))
    }

    /// Copies what `from` received to `to` (the same blob): the log comes
    /// last, so `from` is the log only when nothing else holds its bytes.
    fn copy(&self, from: &Target<'_>, to: &Target<'_>) -> Result<(), Problem> {
        match (from, to) {
            (Target::Artifact { index: from, .. }, Target::Artifact { index: to, .. }) => {
                self.pack()?.copy(*from, *to)
            }
            (Target::Artifact { index, .. }, Target::Log) => {
                let mut out = self.writer(to)?;
                std::io::copy(&mut self.pack()?.reader(*index), &mut out)
                    .map(drop)
                    .map_err(|err| Problem::local(self.log, err))
            }
            (Target::Log, _) => Ok(()),
        }
    }
}

/// A writer that hashes (blake3) what passes through it.
struct Blake3Tee<W> {
    out: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Blake3Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The manifest must be this version's, for this runnable and hash, agree on
/// the exit code, and list exactly the artifacts the result holds, each
/// once, with their sizes and exec bits.
fn check_manifest(manifest: &Manifest, key: EntryKey<'_>, plan: &EntryPlan) -> Result<(), String> {
    if manifest.name != key.runnable || manifest.hash != key.hash {
        return Err("its manifest belongs to another runnable or hash".into());
    }
    if let Some(why) = foreign_version(manifest) {
        return Err(why);
    }
    if manifest.code != plan.code {
        return Err("its manifest and its result disagree about the exit code".into());
    }
    let mut listed = BTreeMap::new();
    for artifact in &manifest.artifacts {
        if !plain_path(&artifact.path) || qik_core::cache::safe_relative(&artifact.path).is_none() {
            return Err(format!(
                "its manifest names the artifact {:?}, which is not a plain path inside the project",
                artifact.path
            ));
        }
        // A path listed twice would leave one of its ranges unchecked.
        if listed
            .insert(artifact.path.as_str(), (artifact.size, artifact.executable))
            .is_some()
        {
            return Err(format!(
                "its manifest lists the artifact {:?} twice",
                artifact.path
            ));
        }
    }
    let stored: BTreeMap<&str, (u64, bool)> = plan
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), (a.digest.size, a.executable)))
        .collect();
    if listed != stored {
        return Err("its manifest and its result disagree about the artifacts".into());
    }
    Ok(())
}

/// The plan of a local entry and where each of its blobs comes from; the
/// artifacts are checked against the manifest so a damaged local copy is
/// never shared.
fn outgoing(key: EntryKey<'_>, src: &Path) -> Result<(EntryPlan, BTreeMap<Dg, Source>), Problem> {
    let (manifest_bytes, manifest) = read_local_manifest(key, src)?;
    let mut sources = BTreeMap::new();
    let manifest_digest = Dg::of(&manifest_bytes);
    sources.insert(manifest_digest.clone(), Source::Memory(manifest_bytes));
    let log_path = src.join(LOG);
    let file = File::open(&log_path).map_err(|err| Problem::local(&log_path, err))?;
    let (log, _) = hash_reader(file, &log_path)?;
    sources.insert(
        log.clone(),
        Source::Disk {
            path: log_path,
            offset: 0,
        },
    );
    let mut artifacts = Vec::with_capacity(manifest.artifacts.len());
    let pack = LocalPack::open(src, &manifest)?;
    for (index, artifact) in manifest.artifacts.iter().enumerate() {
        if !plain_path(&artifact.path) || artifact.path == MANIFEST_PATH {
            return Err(Problem::refused(format!(
                "the artifact path {:?} cannot be stored in a REAPI cache; not uploading",
                artifact.path
            )));
        }
        // Listed, so the pack exists (`open` said so otherwise).
        let Some(pack) = &pack else { break };
        let (digest, blake3) = hash_reader(pack.reader(index), pack.path())?;
        if blake3 != artifact.digest || digest.size != artifact.size {
            return Err(Problem::refused(format!(
                "the cached copy of {} does not match its manifest; not uploading",
                artifact.path
            )));
        }
        artifacts.push(OutFile {
            path: artifact.path.clone(),
            digest: digest.clone(),
            executable: artifact.executable,
        });
        sources.entry(digest).or_insert(Source::Disk {
            path: pack.path().to_path_buf(),
            offset: pack.range(index).start,
        });
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let plan = EntryPlan {
        code: manifest.code,
        log,
        manifest: manifest_digest,
        artifacts,
    };
    Ok((plan, sources))
}

/// sha256 (with size) and blake3 of what `from` reads (a file, or an
/// artifact's range of a pack at `path`), in one streamed pass.
fn hash_reader(mut from: impl Read, path: &Path) -> Result<(Dg, String), Problem> {
    let mut sha = Sha256::new();
    let mut blake = blake3::Hasher::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Problem::local(path, err)),
        };
        sha.update(&buffer[..read]);
        blake.update(&buffer[..read]);
        size += read as u64;
    }
    let digest = Dg {
        hash: hex(&sha.finalize()),
        size,
    };
    Ok((digest, blake.finalize().to_hex().to_string()))
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

    fn cache(extra: &str) -> ReapiCache {
        let text = format!("[caches.remote]\ntype = \"reapi\"\n{extra}\n");
        let file = SourceFile::parse("qik.toml".into(), "qik.toml".into(), text).unwrap();
        let node = file.root().get("caches").unwrap().get("remote").unwrap();
        ReapiCache::new(Conf::parse("remote", node).unwrap())
    }

    #[test]
    fn one_warning_then_quiet_misses() {
        // Nothing listens on port 1 of loopback: a fault on first use.
        let cache = cache("endpoint = \"grpc://127.0.0.1:1\"\ntimeout = 2");
        let ctx = Ctx::default();
        let dest = Path::new("/nonexistent/entry");
        let first = cache.download(&ctx, KEY, dest).unwrap_err();
        assert!(
            first
                .message
                .starts_with("`remote`: cannot reach grpc://127.0.0.1:1"),
            "{}",
            first.message
        );
        assert!(first.message.contains("running without this cache"));
        assert!(!cache.download(&ctx, KEY, dest).unwrap());
        assert!(cache.upload(&ctx, KEY, dest).is_ok());
        assert!(!cache.contains(&ctx, KEY).unwrap());
    }

    #[test]
    fn literal_read_only_caches_never_upload() {
        let cache = cache("endpoint = \"grpc://127.0.0.1:1\"\nupload = false");
        assert!(
            cache
                .upload(&Ctx::default(), KEY, Path::new("/nonexistent"))
                .is_ok()
        );
        assert!(!cache.guard.warned());
    }

    fn manifest(artifacts: &[(&str, u64)]) -> Manifest {
        Manifest {
            version: qik_core::cache::MANIFEST_VERSION,
            name: "build#a".into(),
            hash: "h1".into(),
            code: 0,
            created: 0,
            log: Default::default(),
            artifacts: artifacts
                .iter()
                .map(|(path, size)| ArtifactRecord {
                    path: path.to_string(),
                    digest: "0".repeat(64),
                    size: *size,
                    executable: false,
                })
                .collect(),
            inputs: qik_core::hashing::Inputs::default(),
            duration_ms: None,
        }
    }

    fn plan(artifacts: &[(&str, u64)]) -> EntryPlan {
        EntryPlan {
            code: 0,
            log: Dg::of(b"log"),
            manifest: Dg::of(b"m"),
            artifacts: artifacts
                .iter()
                .map(|(path, size)| OutFile {
                    path: path.to_string(),
                    digest: Dg {
                        hash: "1".repeat(64),
                        size: *size,
                    },
                    executable: false,
                })
                .collect(),
        }
    }

    #[test]
    fn manifests_must_agree_with_their_result() {
        let stored = plan(&[("out/x", 3)]);
        assert!(check_manifest(&manifest(&[("out/x", 3)]), KEY, &stored).is_ok());
        for (bad, expect) in [
            (manifest(&[("out/x", 4)]), "disagree about the artifacts"),
            (manifest(&[]), "disagree about the artifacts"),
            (manifest(&[("../x", 3)]), "not a plain path"),
        ] {
            let err = check_manifest(&bad, KEY, &stored).unwrap_err();
            assert!(err.contains(expect), "{err}");
        }
        let mut other = manifest(&[("out/x", 3)]);
        other.name = "build#b".into();
        assert!(check_manifest(&other, KEY, &stored).is_err());
        let mut failed = manifest(&[("out/x", 3)]);
        failed.code = 2;
        let err = check_manifest(&failed, KEY, &stored).unwrap_err();
        assert!(err.contains("exit code"), "{err}");
        // The exec bit is the manifest's and the result's alike.
        let mut executable = manifest(&[("out/x", 3)]);
        executable.artifacts[0].executable = true;
        let err = check_manifest(&executable, KEY, &stored).unwrap_err();
        assert!(err.contains("disagree about the artifacts"), "{err}");
        // Each path once: a second range of one path would go unchecked.
        let twice = manifest(&[("out/x", 3), ("out/x", 3)]);
        let err = check_manifest(&twice, KEY, &stored).unwrap_err();
        assert!(err.contains("lists the artifact \"out/x\" twice"), "{err}");
        // Another version's entry is refused before anything is fetched.
        let mut old = manifest(&[("out/x", 3)]);
        old.version = 2;
        let err = check_manifest(&old, KEY, &stored).unwrap_err();
        assert!(err.contains("of version 2, another qik's"), "{err}");
    }

    #[test]
    fn outgoing_entries_are_checked_against_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        fs::write(src.join("artifacts.pack"), "abcdefg").unwrap();
        fs::write(src.join("log"), "built\n").unwrap();
        let mut m = manifest(&[("out/x", 3), ("out/y", 4)]);
        m.artifacts[0].digest = blake3::hash(b"abc").to_hex().to_string();
        m.artifacts[1].digest = blake3::hash(b"defg").to_hex().to_string();
        m.artifacts[1].executable = true;
        fs::write(src.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        let (plan, sources) = outgoing(KEY, src).unwrap();
        assert_eq!(plan.artifacts[0].digest, Dg::of(b"abc"));
        assert_eq!(plan.artifacts[1].digest, Dg::of(b"defg"));
        assert!(!plan.artifacts[0].executable && plan.artifacts[1].executable);
        assert_eq!(plan.log, Dg::of(b"built\n"));
        assert_eq!(sources.len(), 4);
        // The second artifact is sent from its range of the pack.
        match &sources[&Dg::of(b"defg")] {
            Source::Disk { path, offset } => {
                assert_eq!(
                    (path.as_path(), *offset),
                    (src.join("artifacts.pack").as_path(), 3)
                );
            }
            Source::Memory(_) => panic!("artifacts are read from the pack"),
        }

        for damaged in ["abdefgh", "abcdefgh", "abcdef"] {
            fs::write(src.join("artifacts.pack"), damaged).unwrap();
            match outgoing(KEY, src) {
                Err(Problem::Refused(why)) => assert!(why.contains("not uploading"), "{why}"),
                _ => panic!("a damaged local copy is not uploaded: {damaged}"),
            }
        }
    }
}
