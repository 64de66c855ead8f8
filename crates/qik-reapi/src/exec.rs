//! The `reapi` executor: a job's command runs on a Remote Execution API
//! server, and comes back as if it had run here.
//!
//! The input root is exactly the files the job's hash covers, so a command
//! that reads anything else fails remotely instead of caching a result that
//! depends on an undeclared file. The command is `sh -c` with stderr merged
//! into stdout (one ordered log, as a local run writes it). REAPI outputs are
//! paths, not globs: each artifact glob asks for its literal directory (or
//! the file itself when it has no wildcard), and what comes back is filtered
//! with qik's own pathspec matching before it is placed in the project. The
//! log and artifacts land where a local run leaves them, so core stores the
//! result like any other run.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::protobuf::Duration as PbDuration;
use prost::Message;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{Executor, Job, output_staging, sweep_output_staging};
use qik_core::git::{Pathspec, PathspecSet};
use qik_core::runner::{MAX_LINE, ProcessResult, ProcessSpec, run_process};

use crate::action::{Dg, plain_path};
use crate::batch;
use crate::client::{Client, RpcError, Waited};
use crate::config::Settings;
use crate::exec_config::ExecConf;
use crate::mode::set_executable;
use crate::transfer::{Source, UploadError, upload_missing};
use crate::tree::{self, TreeError};
use qik_core::ext::remote::redact;

/// Variables qik sets that differ between runs of the same job; sending
/// them would make every action distinct to the server's action cache.
const UNSHIPPED_ENV: [&str; 1] = ["QIK__WORKER"];
/// What the wait allows beyond `action-timeout`: queueing and transfers.
const WAIT_MARGIN: Duration = Duration::from_secs(60);

/// Why a job could not run remotely.
#[derive(Debug, thiserror::Error)]
enum ExecError {
    /// Nothing answers at the endpoint (the fallback applies).
    #[error("{0}")]
    Unreachable(String),
    /// The config does not render (`{ctx...}` values).
    #[error("{0}")]
    Settings(String),
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("uploading the inputs: {0}")]
    Upload(#[from] UploadError),
    #[error("building the input root: {0}")]
    Tree(#[from] TreeError),
    #[error("{0}")]
    Artifacts(String),
    #[error("the server could not run the action: {0}")]
    Failed(String),
    /// The action ran past `action-timeout`: the server stopped it, or it
    /// did not answer within the timeout and its margin.
    #[error("it ran longer than its action-timeout of {}s and was stopped{}", secs_text(*.secs), .detail)]
    TimedOut { secs: f64, detail: String },
    #[error("{}: {source}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    fn is_unreachable(&self) -> bool {
        match self {
            ExecError::Unreachable(_) => true,
            ExecError::Rpc(err) | ExecError::Upload(UploadError::Find(err)) => {
                matches!(err, RpcError::Unreachable { .. })
                    || err.code() == Some(tonic::Code::Unavailable)
            }
            _ => false,
        }
    }
}

/// Seconds as written in qik.toml: `2`, `2.5`.
fn secs_text(secs: f64) -> String {
    let text = format!("{secs:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> ExecError + '_ {
    move |source| ExecError::Local {
        path: path.to_path_buf(),
        source,
    }
}

/// A counting semaphore: the bound on actions in flight.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    /// Waits for a slot; `None` when `stop` says to give up.
    fn acquire(&self, stop: &dyn Fn() -> bool) -> Option<Slot<'_>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if stop() {
                return None;
            }
            if *free > 0 {
                *free -= 1;
                return Some(Slot(self));
            }
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// The connection and the settings it was made from.
struct Remote {
    client: Client,
    secrets: Vec<String>,
}

/// One `[executors.<name>] type = "reapi"`.
pub(crate) struct ReapiExecutor {
    name: String,
    conf: ExecConf,
    /// Connected on first use, once per run: a dead server costs one timeout.
    remote: OnceLock<Result<Remote, ExecError>>,
    slots: Slots,
    /// Set once the fallback has been announced.
    fallback_warned: AtomicBool,
}

impl fmt::Debug for ReapiExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReapiExecutor")
            .field("name", &self.name)
            .field("server", &self.conf.server)
            .finish_non_exhaustive()
    }
}

impl ReapiExecutor {
    pub(crate) fn new(name: &str, conf: ExecConf) -> ReapiExecutor {
        let slots = Slots::new(conf.max_in_flight);
        ReapiExecutor {
            name: name.to_string(),
            conf,
            remote: OnceLock::new(),
            slots,
            fallback_warned: AtomicBool::new(false),
        }
    }

    fn connect(&self, job: &Job<'_>) -> Result<Remote, ExecError> {
        let settings: Settings = self
            .conf
            .server
            .resolve(job.ctx)
            .map_err(ExecError::Settings)?;
        let secrets = settings.secrets();
        match Client::connect(&settings) {
            Ok(client) => Ok(Remote { client, secrets }),
            Err(err @ RpcError::Unreachable { .. }) => {
                Err(ExecError::Unreachable(redact(&secrets, err.to_string())))
            }
            Err(err) => Err(ExecError::Rpc(err)),
        }
    }

    /// The error the user sees: the executor, its endpoint in the config,
    /// and what to do.
    fn diagnostic(&self, job: &Job<'_>, err: &ExecError, secrets: &[String]) -> Diagnostic {
        let message = redact(
            secrets,
            format!(
                "executor `{}` cannot run {}: {err}",
                self.name, job.runnable
            ),
        );
        let (file, span) = self.conf.server.endpoint_at();
        let hint = if err.is_unreachable() {
            "check that the server runs and the endpoint is right, or set `local-fallback = true` to run locally when it is down"
        } else if matches!(err, ExecError::TimedOut { .. }) {
            "raise `action-timeout` (seconds) in this executor's table if the command needs longer"
        } else if matches!(err, ExecError::Rpc(RpcError::OperationLost { .. })) {
            "run again: the server lost the action when it restarted, and nothing of it was stored"
        } else {
            "see docs/reapi.md for what the server and its worker image need"
        };
        Diagnostic::error(Code::General, message)
            .with_label(file, span, "the executor's endpoint")
            .with_hint(hint)
    }

    fn run_locally(
        &self,
        job: &Job<'_>,
        why: &ExecError,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<ProcessResult, Diagnostic> {
        if !self.fallback_warned.swap(true, Ordering::AcqRel) {
            (job.warn)(&format!(
                "executor `{}`: {why}; running its commands locally (local-fallback = true)",
                self.name
            ));
        }
        let spec = ProcessSpec {
            exec: job.exec,
            cwd: job.root,
            env: job.env,
            log_path: job.log_path,
        };
        run_process(&spec, job.interrupt, output).map_err(|err| {
            Diagnostic::error(Code::General, format!("cannot run `{}`: {err}", job.exec))
        })
    }

    fn run_remote(
        &self,
        remote: &Remote,
        job: &Job<'_>,
        files: &[String],
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<ProcessResult, ExecError> {
        let started = Instant::now();
        let client = &remote.client;
        let outputs = output_paths(job.artifacts).map_err(ExecError::Artifacts)?;
        let root = tree::input_root(job.root, files)?;
        let command = self.command(job, outputs);
        let command_blob = command.encode_to_vec();
        let command_digest = Dg::of(&command_blob);
        let timeout = self.conf.action_timeout;
        let action = re::Action {
            command_digest: Some(command_digest.to_proto()),
            input_root_digest: Some(root.digest.to_proto()),
            timeout: Some(PbDuration {
                seconds: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                nanos: 0,
            }),
            platform: self.platform(),
            ..Default::default()
        };
        let action_blob = action.encode_to_vec();
        let action_digest = Dg::of(&action_blob);
        let mut blobs = root.blobs;
        blobs.insert(command_digest, Source::Memory(command_blob));
        blobs.insert(action_digest.clone(), Source::Memory(action_blob));
        upload_missing(client, &blobs, &|_| false)?;

        let stop = || job.interrupt.is_interrupted();
        let timed_out = |detail: &str| ExecError::TimedOut {
            secs: timeout.as_secs_f64(),
            detail: detail.to_string(),
        };
        let waited = match client.execute(&action_digest, &stop, timeout + WAIT_MARGIN) {
            Err(RpcError::Timeout { .. }) => {
                return Err(timed_out(" (the server gave no answer)"));
            }
            waited => waited?,
        };
        let response = match waited {
            Waited::Done(response) => response,
            Waited::Stopped => {
                return Ok(ProcessResult {
                    code: 130,
                    interrupted: true,
                    elapsed: started.elapsed(),
                });
            }
        };
        if let Some(status) = response.status.as_ref().filter(|s| s.code != 0) {
            let code = tonic::Code::from_i32(status.code);
            if code == tonic::Code::DeadlineExceeded {
                return Err(timed_out(" by the server"));
            }
            let mut text = format!("{code:?}");
            if !status.message.trim().is_empty() {
                text.push_str(": ");
                text.push_str(status.message.trim());
            }
            return Err(ExecError::Failed(text));
        }
        let result = response
            .result
            .ok_or_else(|| ExecError::Failed("the response holds no result".into()))?;
        write_log(client, &result, job.log_path, output)?;
        fetch_artifacts(client, &result, job)?;
        Ok(ProcessResult {
            code: result.exit_code,
            interrupted: false,
            elapsed: started.elapsed(),
        })
    }

    fn command(&self, job: &Job<'_>, output_paths: Vec<String>) -> re::Command {
        // Later values win, as they would in a process environment.
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in job.env {
            let name = os(name);
            if !UNSHIPPED_ENV.contains(&name.as_str()) {
                env.insert(name, os(value));
            }
        }
        // `platform` is deprecated in the Command since API 2.2 (it moved to
        // the Action); servers before 2.2 read it only here.
        #[allow(deprecated)]
        re::Command {
            // An absolute shell: the worker's PATH is not ours to assume.
            arguments: vec![
                "/bin/sh".into(),
                "-c".into(),
                // One ordered log, as a local run writes it.
                format!("exec 2>&1\n{}", job.exec),
            ],
            // BTreeMap order: sorted by name, as REAPI requires.
            environment_variables: env
                .into_iter()
                .map(|(name, value)| re::command::EnvironmentVariable { name, value })
                .collect(),
            output_paths,
            platform: self.platform(),
            ..Default::default()
        }
    }

    fn platform(&self) -> Option<re::Platform> {
        (!self.conf.platform.is_empty()).then(|| re::Platform {
            properties: self
                .conf
                .platform
                .iter()
                .map(|(name, value)| re::platform::Property {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        })
    }
}

fn os(text: &OsString) -> String {
    text.to_string_lossy().into_owned()
}

/// REAPI output paths for artifact globs: a glob's literal directory, or
/// the path itself when it has no wildcard. Sorted and unique.
fn output_paths(artifacts: &[String]) -> Result<Vec<String>, String> {
    let mut paths = Vec::new();
    for glob in artifacts {
        let spec =
            Pathspec::new(glob.as_bytes()).map_err(|err| format!("artifact {glob:?}: {err}"))?;
        if spec.is_exclude() {
            continue;
        }
        let prefix = String::from_utf8_lossy(spec.required_prefix()).into_owned();
        let literal = spec.required_prefix() == spec.pattern();
        let path = if literal {
            prefix.trim_end_matches('/').to_string()
        } else {
            // `out/a*.txt` has the literal prefix `out/a`: ask for `out`.
            prefix.rfind('/').map_or("", |at| &prefix[..at]).to_string()
        };
        if path.is_empty() || !plain_path(&path) {
            return Err(format!(
                "artifact {glob:?} has no literal directory to ask the server for; \
                 write it under one, e.g. \"dist/*.whl\""
            ));
        }
        paths.push(path);
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Reads a blob, checked against its digest; `None` when the server lacks it.
fn read_blob(
    client: &Client,
    digest: &Dg,
    out: &mut dyn Write,
    path: &Path,
) -> Result<bool, ExecError> {
    if digest.size <= client.caps.batch_limit / 2 {
        let mut found = client.batch_read(std::slice::from_ref(digest))?;
        let Some((_, Ok(data))) = found.pop() else {
            return Ok(false);
        };
        if &Dg::of(&data) != digest {
            return Err(mismatch(path));
        }
        out.write_all(&data).map_err(local(path))?;
        return Ok(true);
    }
    match client.read_stream(digest, out, path)? {
        None => Ok(false),
        Some(received) if &received == digest => Ok(true),
        Some(_) => Err(mismatch(path)),
    }
}

fn mismatch(path: &Path) -> ExecError {
    ExecError::Artifacts(format!(
        "the server sent {} with content that does not match its digest",
        path.display()
    ))
}

fn missing(what: &str) -> ExecError {
    ExecError::Artifacts(format!("{what} is missing from the server's storage"))
}

/// Writes stdout (everything, stderr merged into it) then anything the
/// runner itself wrote to stderr into the log, and passes its lines on.
fn write_log(
    client: &Client,
    result: &re::ActionResult,
    log_path: &Path,
    output: &mut dyn FnMut(&[u8]),
) -> Result<(), ExecError> {
    let file = File::create(log_path).map_err(local(log_path))?;
    let mut log = BufWriter::new(file);
    for (raw, digest) in [
        (&result.stdout_raw, &result.stdout_digest),
        (&result.stderr_raw, &result.stderr_digest),
    ] {
        if !raw.is_empty() {
            log.write_all(raw).map_err(local(log_path))?;
        } else if let Some(digest) = digest.as_ref().and_then(Dg::from_proto) {
            if digest.size > 0 && !read_blob(client, &digest, &mut log, log_path)? {
                return Err(missing("the log"));
            }
        }
    }
    log.flush().map_err(local(log_path))?;
    drop(log);
    // Streamed back from disk: output never accumulates in memory.
    let reader = BufReader::new(File::open(log_path).map_err(local(log_path))?);
    pieces(reader, output).map_err(local(log_path))
}

/// Hands `reader`'s lines to `output` without their newlines, in pieces of at
/// most [`MAX_LINE`] as a local run delivers them.
fn pieces(mut reader: impl BufRead, output: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
    let mut line = Vec::new();
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        let room = MAX_LINE - line.len();
        let (take, ends) = match buffer.iter().take(room).position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (
                buffer.len().min(room),
                line.len() + buffer.len() >= MAX_LINE,
            ),
        };
        line.extend_from_slice(&buffer[..take]);
        reader.consume(take);
        if ends {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            output(&line);
            line.clear();
        }
    }
    if !line.is_empty() {
        output(&line);
    }
    Ok(())
}

/// One output file of the result.
struct Out {
    path: String,
    digest: Dg,
    executable: bool,
}

/// Every file the result holds, directories expanded from their trees.
fn result_files(client: &Client, result: &re::ActionResult) -> Result<Vec<Out>, ExecError> {
    let bad = |path: &str| {
        ExecError::Artifacts(format!(
            "the result names {path:?}, which is not a plain path"
        ))
    };
    let mut files = Vec::new();
    for file in &result.output_files {
        let digest = file
            .digest
            .as_ref()
            .and_then(Dg::from_proto)
            .ok_or_else(|| bad(&file.path))?;
        files.push(Out {
            path: file.path.clone(),
            digest,
            executable: file.is_executable,
        });
    }
    for dir in &result.output_directories {
        let digest = dir
            .tree_digest
            .as_ref()
            .and_then(Dg::from_proto)
            .ok_or_else(|| bad(&dir.path))?;
        let mut bytes = Vec::new();
        if !read_blob(client, &digest, &mut bytes, Path::new(&dir.path))? {
            return Err(missing(&format!("the tree of {}", dir.path)));
        }
        let tree = re::Tree::decode(bytes.as_slice()).map_err(|_| {
            ExecError::Artifacts(format!("the tree of {} does not parse", dir.path))
        })?;
        let children: BTreeMap<Dg, &re::Directory> = tree
            .children
            .iter()
            .map(|child| (Dg::of(&child.encode_to_vec()), child))
            .collect();
        let root = tree.root.as_ref().ok_or_else(|| bad(&dir.path))?;
        walk(root, &dir.path, &children, &mut files, 0)?;
    }
    for file in &files {
        if !plain_path(&file.path) {
            return Err(bad(&file.path));
        }
    }
    Ok(files)
}

fn walk(
    dir: &re::Directory,
    prefix: &str,
    children: &BTreeMap<Dg, &re::Directory>,
    out: &mut Vec<Out>,
    depth: usize,
) -> Result<(), ExecError> {
    if depth > 256 {
        return Err(ExecError::Artifacts("an output tree is too deep".into()));
    }
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    };
    for file in &dir.files {
        let path = join(&file.name);
        let digest = file
            .digest
            .as_ref()
            .and_then(Dg::from_proto)
            .ok_or_else(|| ExecError::Artifacts(format!("{path:?} has a malformed digest")))?;
        out.push(Out {
            path,
            digest,
            executable: file.is_executable,
        });
    }
    for child in &dir.directories {
        let path = join(&child.name);
        let digest = child.digest.as_ref().and_then(Dg::from_proto);
        let Some(next) = digest.as_ref().and_then(|d| children.get(d)) else {
            return Err(missing(&format!("the directory {path}")));
        };
        walk(next, &path, children, out, depth + 1)?;
    }
    Ok(())
}

/// Places the result's files that match the artifact globs into the
/// project, each written beside its target and renamed into place.
fn fetch_artifacts(
    client: &Client,
    result: &re::ActionResult,
    job: &Job<'_>,
) -> Result<(), ExecError> {
    let globs = PathspecSet::new(job.artifacts.iter().map(String::as_bytes), b"")
        .map_err(|err| ExecError::Artifacts(err.to_string()))?;
    let wanted: Vec<Out> = result_files(client, result)?
        .into_iter()
        .filter(|file| globs.matches(file.path.as_bytes()))
        .collect();
    // Small files in batches, big ones streamed, as the cache reads them.
    let sizes: Vec<u64> = wanted.iter().map(|f| f.digest.size).collect();
    let plan = batch::plan(&sizes, client.caps.batch_limit);
    for indexes in &plan.batches {
        let digests: Vec<Dg> = indexes.iter().map(|&i| wanted[i].digest.clone()).collect();
        let mut found: BTreeMap<Dg, Vec<u8>> = BTreeMap::new();
        for (digest, data) in client.batch_read(&digests)? {
            if let Ok(data) = data {
                found.insert(digest, data);
            }
        }
        for &index in indexes {
            let file = &wanted[index];
            let data = found.get(&file.digest).ok_or_else(|| missing(&file.path))?;
            if Dg::of(data) != file.digest {
                return Err(mismatch(Path::new(&file.path)));
            }
            place(job.root, file, |out| out.write_all(data).map(|()| true))?;
        }
    }
    for &index in &plan.streamed {
        let file = &wanted[index];
        let target = job.root.join(&file.path);
        let mut streamed = Ok(false);
        let placed = place(job.root, file, |out| {
            streamed = read_blob(client, &file.digest, out, &target);
            // A short or wrong stream is never renamed into the project.
            match &streamed {
                Ok(true) => Ok(true),
                _ => Err(std::io::Error::other("not received")),
            }
        });
        if !streamed? {
            return Err(missing(&file.path));
        }
        placed?;
    }
    // A process killed while placing outputs left its staging beside them.
    let mut dirs: Vec<&Path> = wanted
        .iter()
        .map(|file| Path::new(&file.path).parent().unwrap_or(Path::new("")))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        sweep_output_staging(&job.root.join(dir));
    }
    Ok(())
}

/// Writes a file through a temporary sibling and renames it over the target.
fn place(
    root: &Path,
    file: &Out,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<bool>,
) -> Result<(), ExecError> {
    let target = root.join(&file.path);
    let parent = target.parent().unwrap_or(root);
    fs::create_dir_all(parent).map_err(local(parent))?;
    let mut temp = output_staging(parent).map_err(local(parent))?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        write(&mut out).map_err(local(&target))?;
        out.flush().map_err(local(&target))?;
    }
    if file.executable {
        set_executable(temp.path()).map_err(local(&target))?;
    }
    temp.persist(&target).map_err(|err| ExecError::Local {
        path: target.clone(),
        source: err.error,
    })?;
    Ok(())
}

impl Executor for ReapiExecutor {
    fn execute(
        &self,
        job: &Job<'_>,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<ProcessResult, Diagnostic> {
        let stop = || job.interrupt.is_interrupted();
        let Some(_slot) = self.slots.acquire(&stop) else {
            return Ok(ProcessResult {
                code: 130,
                interrupted: true,
                elapsed: Duration::ZERO,
            });
        };
        let files = job.inputs.files()?;
        let remote = match self.remote.get_or_init(|| self.connect(job)) {
            Ok(remote) => remote,
            Err(err) if err.is_unreachable() && self.conf.local_fallback => {
                return self.run_locally(job, err, output);
            }
            Err(err) => return Err(self.diagnostic(job, err, &[])),
        };
        match self.run_remote(remote, job, &files, output) {
            Ok(result) => Ok(result),
            Err(err) if err.is_unreachable() && self.conf.local_fallback => {
                self.run_locally(job, &err, output)
            }
            Err(err) => Err(self.diagnostic(job, &err, &remote.secrets)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn timeouts_read_as_written() {
        assert_eq!(secs_text(2.0), "2");
        assert_eq!(secs_text(2.5), "2.5");
        assert_eq!(secs_text(3600.0), "3600");
        let err = ExecError::TimedOut {
            secs: 90.0,
            detail: " by the server".into(),
        };
        assert_eq!(
            err.to_string(),
            "it ran longer than its action-timeout of 90s and was stopped by the server"
        );
    }

    #[test]
    fn artifact_globs_ask_for_their_literal_directory_or_file() {
        let globs = [
            "dist/*.whl",
            "out/a*.txt",
            "reports/junit.xml",
            "build/",
            "dist/sub/**",
            ":(exclude)dist/skip.whl",
        ]
        .map(String::from);
        assert_eq!(
            output_paths(&globs).unwrap(),
            ["build", "dist", "dist/sub", "out", "reports/junit.xml"]
        );
        let err = output_paths(&["*.whl".to_string()]).unwrap_err();
        assert!(err.contains("no literal directory"), "{err}");
    }

    #[test]
    fn the_log_comes_back_in_lines_and_bounded_pieces() {
        let mut text = b"a\n\nb".to_vec();
        text.push(b'\n');
        text.extend(std::iter::repeat_n(b'y', MAX_LINE * 2 + 5));
        text.extend_from_slice(b"\nlast");
        let mut got: Vec<Vec<u8>> = Vec::new();
        let reader = BufReader::with_capacity(1000, text.as_slice());
        pieces(reader, &mut |line| got.push(line.to_vec())).unwrap();
        let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 0, 1, MAX_LINE, MAX_LINE, 5, 4]);
        assert_eq!(got[0], b"a");
        assert_eq!(got[6], b"last");
    }

    #[test]
    fn slots_bound_what_runs_at_once() {
        let slots = Slots::new(2);
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    let _slot = slots.acquire(&|| false).expect("a slot");
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // A stop while waiting gives up instead of blocking.
        let _a = slots.acquire(&|| false).unwrap();
        let _b = slots.acquire(&|| false).unwrap();
        assert!(slots.acquire(&|| true).is_none());
    }
}
