//! Running a selected graph: hash each runnable once its upstream finished,
//! replay it from its cache or run it, store the result, report events.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::builtin::executor::Local;
use crate::cache::{self, CacheWhen, Lookup, Manifest, WorkDirs};
use crate::diagnostic::{Code, Diagnostic};
use crate::events::{CacheSource, Event, EventSink, Outcome, SkipReason};
use crate::ext::CacheBackend;
use crate::ext::{ActionCx, Executor, Job as ExecJob, JobInputs, NativeAction};
use crate::fsutil::{ReadError, WriteError};
use crate::graph::Graph;
use crate::hashing::{Hashed, Hasher, Inputs, TrackedFiles};
use crate::model::{Project, Runnable};
use crate::runner::{Interrupt, MAX_LINE, NodeResult, ProcessError, ProcessResult, run_dag};

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub workers: usize,
    /// Ignore caches (`-f`): run everything, still store results.
    pub force: bool,
    /// Report why each runnable runs or what it replays (`--explain`).
    pub explain: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// The highest exit code of any runnable; 128 + the signal's number
    /// when interrupted.
    pub exit_code: i32,
    pub interrupted: bool,
}

struct Job<'a> {
    project: &'a Project,
    hasher: Hasher<'a>,
    dirs: WorkDirs,
    options: &'a RunOptions,
    interrupt: &'a Interrupt,
    sink: &'a dyn EventSink,
    nodes: Vec<Arc<Runnable>>,
    upstream: Vec<Vec<usize>>,
    /// Repo-cache entries written and files pruned, for git once at the end.
    repo_changes: std::sync::Mutex<cache::repo::Changes>,
    /// Entries known whole and published, replayed without reading them.
    replays: cache::Replays,
    /// Each space's environment, read (dotenv files) once per run.
    environments: std::sync::Mutex<std::collections::HashMap<String, crate::environment::EnvVars>>,
    /// Whether `._qik` was swept of what killed runs left there.
    swept: std::sync::Once,
}

/// What a run reads before it hashes anything: the git index (with the
/// stat cache) and the remembered replays. Started on a thread of its own as
/// soon as the project root is known, it is read while the configuration is
/// turned into a graph rather than after (both are serial phases of a cached
/// run, and a machine has a second core). Nothing runs before the run starts,
/// so reading them earlier reads what the run would have read.
pub struct Prefetch {
    root: PathBuf,
    reading: Option<std::thread::JoinHandle<Prefetched>>,
}

type Prefetched = (Result<TrackedFiles, Diagnostic>, cache::Replays);

fn read_before_run(dirs: &WorkDirs) -> Prefetched {
    (
        TrackedFiles::read(&dirs.root, dirs.stat_cache()),
        cache::Replays::load(dirs.replays()),
    )
}

impl Prefetch {
    /// Starts reading for a run of the project at `root`.
    pub fn start(root: &Path) -> Prefetch {
        let dirs = WorkDirs {
            root: root.to_path_buf(),
        };
        // Without a thread (a process at its limit), the run reads inline.
        let reading = std::thread::Builder::new()
            .name("qik-prefetch".into())
            .spawn(move || read_before_run(&dirs))
            .ok();
        Prefetch {
            root: root.to_path_buf(),
            reading,
        }
    }

    /// What was read, or a fresh read when it was started for another root
    /// or its thread could not run.
    fn finish(self, dirs: &WorkDirs) -> Prefetched {
        match self.reading {
            Some(reading) if self.root == dirs.root => {
                reading.join().unwrap_or_else(|_| read_before_run(dirs))
            }
            _ => read_before_run(dirs),
        }
    }
}

/// Runs every runnable of `graph` in dependency order.
pub fn run(
    project: &Project,
    graph: &Graph,
    options: &RunOptions,
    interrupt: &Interrupt,
    sink: &dyn EventSink,
) -> Result<RunReport, Diagnostic> {
    run_prefetched(project, graph, None, options, interrupt, sink)
}

/// [`run`], with what `prefetch` read ahead (when given).
pub fn run_prefetched(
    project: &Project,
    graph: &Graph,
    prefetch: Option<Prefetch>,
    options: &RunOptions,
    interrupt: &Interrupt,
    sink: &dyn EventSink,
) -> Result<RunReport, Diagnostic> {
    let dirs = WorkDirs {
        root: project.config.root.clone(),
    };
    let (files, replays) = match prefetch {
        Some(prefetch) => prefetch.finish(&dirs),
        None => read_before_run(&dirs),
    };
    let files = files?;
    // Created once here rather than before every runnable's log.
    let out_dir = dirs.private().join("out");
    std::fs::create_dir_all(&out_dir).map_err(|err| {
        Diagnostic::error(
            Code::General,
            format!("cannot create {}: {err}", out_dir.display()),
        )
    })?;
    // Private files stay out of the repository, even after `git add -A`
    // (as `.venv`, `.pytest_cache` and `.ruff_cache` do it).
    let ignore = dirs.private().join(".gitignore");
    if !ignore.exists() {
        if let Err(err) = crate::fsutil::write_atomic(&ignore, b"*\n") {
            sink.emit(Event::Warning {
                name: None,
                message: format!("cannot write {}: {err}", ignore.display()),
            });
        }
    }
    let nodes: Vec<Arc<Runnable>> = graph.runnables().cloned().collect();
    let positions: rustc_hash::FxHashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| (node.name.as_str(), index))
        .collect();
    let position = |name: &str| positions.get(name).copied();
    let upstream: Vec<Vec<usize>> = nodes
        .iter()
        .map(|node| graph.upstream(&node.name).filter_map(position).collect())
        .collect();
    let workers = options.workers.max(1).min(nodes.len().max(1));
    sink.emit(Event::Plan {
        runnables: nodes.len(),
        workers,
    });
    let job = Job {
        project,
        hasher: Hasher::new(project, &files),
        replays,
        dirs,
        options,
        interrupt,
        sink,
        nodes,
        upstream,
        repo_changes: std::sync::Mutex::new(cache::repo::Changes::default()),
        environments: std::sync::Mutex::new(std::collections::HashMap::new()),
        swept: std::sync::Once::new(),
    };
    let speed_ups = [files.stat_cache_problem(), job.replays.take_problem()];
    for problem in speed_ups.into_iter().flatten() {
        sink.emit(Event::Warning {
            name: None,
            message: problem,
        });
    }
    let results = run_dag(
        &job.nodes,
        &job.upstream,
        workers,
        interrupt.flag(),
        |_, runnable, worker| job.run_one(runnable, worker),
        |outcome: &Outcome| outcome.failed(),
    )
    .map_err(|err| Diagnostic::error(Code::GraphCycle, err.to_string()))?;

    let mut report = RunReport::default();
    for (index, result) in results.iter().enumerate() {
        let node = &job.nodes[index];
        match result {
            NodeResult::Done(outcome) => report.exit_code = report.exit_code.max(outcome.code()),
            NodeResult::Skipped { because } => sink.emit(Event::Skipped {
                name: node.name.clone(),
                command: node.command.clone(),
                reason: SkipReason::UpstreamFailed(job.nodes[*because].name.clone()),
            }),
            NodeResult::Stopped => sink.emit(Event::Skipped {
                name: node.name.clone(),
                command: node.command.clone(),
                reason: SkipReason::Interrupted,
            }),
        }
    }
    for saved in [files.save(), job.replays.save()] {
        if let Err(message) = saved {
            sink.emit(Event::Warning {
                name: None,
                message: message.to_string(),
            });
        }
    }
    job.add_repo_entries();
    if interrupt.is_interrupted() {
        report.interrupted = true;
        report.exit_code = interrupt.exit_code();
    }
    Ok(report)
}

impl Job<'_> {
    fn run_one(&self, runnable: &Runnable, worker: usize) -> Outcome {
        let started = Instant::now();
        match self.run_or_replay(runnable, worker, started) {
            Ok(outcome) => outcome,
            Err(diagnostic) => {
                // A runnable whose inputs cannot be read fails on its own; the
                // rest of the graph goes on.
                self.sink.emit(Event::Started {
                    name: runnable.name.clone(),
                    command: runnable.command.clone(),
                    exec: runnable.exec.clone(),
                    worker,
                });
                self.failed(runnable, &diagnostic, started)
            }
        }
    }

    /// Ends a started runnable that could not run: the error is its output.
    fn failed(&self, runnable: &Runnable, diagnostic: &Diagnostic, started: Instant) -> Outcome {
        for line in diagnostic.render(false).lines() {
            self.sink.emit(Event::Output {
                name: runnable.name.clone(),
                line: line.as_bytes().to_vec(),
            });
        }
        let outcome = Outcome::Ran { code: 1 };
        self.finished(runnable, outcome, started.elapsed(), None, None);
        outcome
    }

    fn finished(
        &self,
        runnable: &Runnable,
        outcome: Outcome,
        elapsed: Duration,
        log: Option<PathBuf>,
        hash: Option<&str>,
    ) {
        let hash = hash.filter(|_| self.sink.wants_hashes()).map(str::to_owned);
        self.sink.emit(Event::Finished {
            name: runnable.name.clone(),
            command: runnable.command.clone(),
            outcome,
            elapsed,
            log,
            hash,
        });
    }

    fn backend(&self, runnable: &Runnable) -> CacheBackend {
        self.project.cache_backend(&runnable.cache)
    }

    fn run_or_replay(
        &self,
        runnable: &Runnable,
        worker: usize,
        started: Instant,
    ) -> Result<Outcome, Diagnostic> {
        let upstream_artifacts = self.project.upstream_artifacts(runnable)?;
        let backend = self.backend(runnable);
        let cached = !matches!(backend, CacheBackend::Never);
        let hashed = if cached {
            Some(self.hasher.hash(runnable, &upstream_artifacts)?)
        } else {
            None
        };
        let replayable = !self.options.force
            && runnable
                .replay_check
                .as_ref()
                .is_none_or(|check| check.holds(&self.dirs.root));
        if let (Some(Hashed { hash, .. }), true) = (&hashed, replayable) {
            if let Some(outcome) = self.replay(runnable, &backend, hash, started) {
                return Ok(outcome);
            }
        }
        if self.options.explain {
            self.explain_miss(runnable, &backend, hashed.as_ref());
        }
        // Before `Started`: a broken dotenv fails the runnable without running it.
        let mut env = if runnable.in_space_env {
            self.environment(&runnable.space)?
        } else {
            Vec::new()
        };
        env.extend(
            runnable
                .env
                .iter()
                .map(|(key, value)| (OsString::from(key), OsString::from(value))),
        );
        self.sweep_private();
        let live = LiveLog::start(self.dirs.out_log(&runnable.name)).map_err(|err| {
            Diagnostic::error(
                Code::General,
                format!(
                    "cannot create a log in {}: {err}",
                    self.dirs.private().display()
                ),
            )
        })?;
        self.sink.emit(Event::Started {
            name: runnable.name.clone(),
            command: runnable.command.clone(),
            exec: runnable.exec.clone(),
            worker,
        });
        env.extend([
            (
                OsString::from("QIK__CMD"),
                OsString::from(&runnable.command),
            ),
            (
                OsString::from("QIK__RUNNABLE"),
                OsString::from(&runnable.name),
            ),
            (
                OsString::from("QIK__WORKER"),
                OsString::from(worker.to_string()),
            ),
        ]);
        let name = runnable.name.clone();
        let wants_output = self.sink.wants_output();
        let mut emit = |line: &[u8]| {
            if wants_output {
                self.sink.emit(Event::Output {
                    name: name.clone(),
                    line: line.to_vec(),
                })
            }
        };
        let result = match &runnable.native {
            Some(action) => self
                .run_native(runnable, action.as_ref(), &env, live.path(), &mut emit)
                .map_err(|source| {
                    let err = ProcessError::Log {
                        path: live.path().to_path_buf(),
                        source,
                    };
                    Diagnostic::error(
                        Code::General,
                        format!("cannot run `{}`: {err}", runnable.exec),
                    )
                }),
            None => {
                // An uncached runnable is hashed only if its executor asks
                // for the inputs (a remote one ships them).
                let hash_now = || self.hasher.hash(runnable, &upstream_artifacts);
                let inputs = HashedInputs {
                    hashed: hashed.as_ref(),
                    hash_now: &hash_now,
                };
                let warn = |message: &str| self.warn(runnable, message);
                let job = ExecJob {
                    runnable: &runnable.name,
                    exec: &runnable.exec,
                    root: &self.dirs.root,
                    env: &env,
                    artifacts: &runnable.artifacts,
                    inputs: &inputs,
                    log_path: live.path(),
                    interrupt: self.interrupt,
                    ctx: &self.project.ctx,
                    warn: &warn,
                };
                match &runnable.executor {
                    Some(executor) => executor.execute(&job, &mut emit),
                    None => Local.execute(&job, &mut emit),
                }
            }
        };
        let result = match result {
            Ok(result) => result,
            Err(diagnostic) => {
                let _ = live.finish();
                // Already started: reported here, not by `run_one`.
                return Ok(self.failed(runnable, &diagnostic, started));
            }
        };
        let reported_hash = hashed
            .as_ref()
            .filter(|_| self.sink.wants_hashes())
            .map(|h| h.hash.clone());
        // Interrupted work is never cached.
        let (outcome, store) = if result.interrupted {
            (Outcome::Stopped, None)
        } else {
            let kept = should_store(runnable.cache_when, result.code);
            if let (Some(Hashed { hash, .. }), false) = (&hashed, kept) {
                // Only runs that are not kept leave a record, for `--explain`.
                let runs = self.dirs.runs_dir();
                if let Err(message) =
                    crate::explain::record_not_kept(&runs, runnable, hash, result.code)
                {
                    self.warn(runnable, message);
                }
            }
            (Outcome::Ran { code: result.code }, hashed.filter(|_| kept))
        };
        if let Some(hashed) = store {
            let stored = hashed
                .inputs()
                .map_err(StoreError::Inputs)
                .and_then(|inputs| {
                    let finished = Finished {
                        code: result.code,
                        log: live.path(),
                        duration: started.elapsed(),
                    };
                    self.store(runnable, &backend, hashed.hash, inputs, &finished)
                });
            if let Err(err) = stored {
                self.warn(runnable, err);
            }
        }
        let log = match live.finish() {
            Ok(log) => Some(log),
            Err(message) => {
                self.warn(runnable, message);
                None
            }
        };
        self.finished(
            runnable,
            outcome,
            started.elapsed(),
            log,
            reported_hash.as_deref(),
        );
        Ok(outcome)
    }

    /// Runs a native action as if it were a process: its lines are shown and
    /// written to the log, an error is its last output and exit code 1.
    fn run_native(
        &self,
        runnable: &Runnable,
        action: &dyn NativeAction,
        env: &[(OsString, OsString)],
        log_path: &Path,
        emit: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<ProcessResult> {
        use std::io::Write;
        let started = Instant::now();
        let mut log = std::io::BufWriter::new(std::fs::File::create(log_path)?);
        let mut write_error: Option<std::io::Error> = None;
        let mut sink = |line: &[u8]| {
            if write_error.is_none() {
                if let Err(err) = log.write_all(line).and_then(|()| log.write_all(b"\n")) {
                    write_error = Some(err);
                }
            }
            emit(line);
        };
        let private = self.dirs.private();
        let installed = |space: &str| self.hasher.installed(space);
        let mut cx = ActionCx::new(
            self.project,
            runnable,
            self.hasher.files(),
            &private,
            env,
            &installed,
            &mut sink,
        );
        let code = match action.run(&mut cx) {
            Ok(code) => code,
            Err(diagnostic) => {
                for line in diagnostic.render(false).lines() {
                    sink(line.as_bytes());
                }
                1
            }
        };
        if let Some(err) = write_error {
            return Err(err);
        }
        log.flush()?;
        Ok(ProcessResult {
            code,
            interrupted: self.interrupt.is_interrupted(),
            elapsed: started.elapsed(),
        })
    }

    /// Replays a cached entry: its output, its artifacts, its exit code.
    fn replay(
        &self,
        runnable: &Runnable,
        backend: &CacheBackend,
        hash: &str,
        started: Instant,
    ) -> Option<Outcome> {
        let store = match backend {
            CacheBackend::Repo => self.dirs.repo_store(),
            _ => self.dirs.local_store(),
        };
        let out = self.dirs.out_log(&runnable.name);
        let dir = store.entry_dir(&runnable.command, &runnable.name, hash);
        let mut source = match backend {
            CacheBackend::Repo => CacheSource::Repo,
            _ => CacheSource::Local,
        };
        if let Some(code) = self.replays.check(&dir, &out) {
            if self.options.explain {
                // The fast path does not read the entry; explaining it does.
                if let Lookup::Hit(entry) = store.get(&runnable.command, &runnable.name, hash) {
                    self.sink.emit(Event::Explained {
                        name: runnable.name.clone(),
                        reason: Box::new(crate::explain::hit(runnable, &entry)),
                    });
                }
            }
            let outcome = Outcome::Cached { code, source };
            return self.replay_remembered(runnable, outcome, out, hash, started);
        }
        let mut lookup = store.get(&runnable.command, &runnable.name, hash);
        if let (Lookup::Miss, CacheBackend::Remote(remote)) = (&lookup, backend) {
            // The remote places the entry straight into the local store (hot
            // storage), atomically, where the lookup below finds it.
            let dest = dir;
            let key = cache::EntryKey {
                command: &runnable.command,
                runnable: &runnable.name,
                hash,
            };
            match remote.download(&self.project.ctx, key, &dest) {
                Ok(true) => {
                    lookup = store.get(&runnable.command, &runnable.name, hash);
                    source = CacheSource::Remote;
                }
                Ok(false) => {}
                Err(err) => self.warn(runnable, format!("remote cache: {}", err.message)),
            }
        }
        let entry = match lookup {
            Lookup::Hit(entry) => entry,
            Lookup::Miss => return None,
            Lookup::Corrupt(damage) => {
                self.warn(
                    runnable,
                    format!("ignoring a damaged cache entry: {damage}"),
                );
                return None;
            }
        };
        if let Err(damage) = entry.verify_log() {
            self.warn(
                runnable,
                format!("ignoring a damaged cache entry: {damage}"),
            );
            // Gone, so that this run writes a good entry.
            let _ = store.discard(&entry);
            return None;
        }
        if store.copy_artifacts {
            let restored = if source == CacheSource::Remote {
                entry.restore_downloaded_artifacts(&self.dirs.root)
            } else {
                entry.restore_artifacts(&self.dirs.root)
            };
            if let Err(err) = restored {
                if err.entry_is_bad() {
                    self.warn(runnable, format!("not replaying the cache: {err}"));
                    // Unusable: gone, so that this run writes a good entry.
                    let _ = store.discard(&entry);
                } else {
                    // The entry is good; the project is what failed. Keep it.
                    self.warn(
                        runnable,
                        format!("not replaying the cache (the entry is kept): {err}"),
                    );
                }
                return None;
            }
        }
        if self.options.explain {
            self.sink.emit(Event::Explained {
                name: runnable.name.clone(),
                reason: Box::new(crate::explain::hit(runnable, &entry)),
            });
        }
        // The replayed log becomes the latest output, as if it had just run;
        // it is streamed, never held whole (logs can be hundreds of MB).
        let log = entry.log_path();
        let sweep = || self.sweep_private();
        if let Err(err) = publish_log(&log, entry.log_id, &out, &self.dirs.root, &sweep) {
            self.warn(runnable, err);
            return None;
        }
        if let Err(err) = self.replay_output(runnable, &log) {
            self.warn(runnable, err);
            return None;
        }
        // Artifacts are only vouched for when this replay verified them.
        if entry.manifest.artifacts.is_empty() || store.copy_artifacts {
            let artifacts: Vec<PathBuf> = entry
                .manifest
                .artifacts
                .iter()
                .filter_map(|a| cache::safe_relative(&a.path))
                .map(|relative| self.dirs.root.join(relative))
                .collect();
            self.replays
                .remember(&entry.dir, &out, entry.manifest.code, &artifacts);
        }
        let outcome = Outcome::Cached {
            code: entry.manifest.code,
            source,
        };
        self.finished(runnable, outcome, started.elapsed(), Some(out), Some(hash));
        Some(outcome)
    }

    /// Replays an entry known whole whose log is already `out`.
    fn replay_remembered(
        &self,
        runnable: &Runnable,
        outcome: Outcome,
        out: PathBuf,
        hash: &str,
        started: Instant,
    ) -> Option<Outcome> {
        if let Err(message) = self.replay_output(runnable, &out) {
            self.warn(runnable, message);
            return None;
        }
        self.finished(runnable, outcome, started.elapsed(), Some(out), Some(hash));
        Some(outcome)
    }

    /// Sends a cached log's lines as output events, if the sink shows them.
    fn replay_output(&self, runnable: &Runnable, log: &Path) -> Result<(), ReadError> {
        use std::io::{BufRead, Read};
        if !self.sink.wants_output() {
            return Ok(());
        }
        let (file, _) = crate::fsutil::open_kept(log, crate::fsutil::limits::STREAMED)
            .map_err(ReadError::at(log))?;
        let mut reader = std::io::BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Long lines arrive in pieces, as they do live: memory stays flat.
            let read = (&mut reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line)
                .map_err(ReadError::at(log))?;
            if read == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            self.sink.emit(Event::Output {
                name: runnable.name.clone(),
                line: text.to_vec(),
            });
        }
        Ok(())
    }

    /// Removes what killed runs left in `._qik` (live logs, replayed logs
    /// and atomic writes on their way in), once per run and only when this
    /// run writes there: a fully cached run does not list the directory.
    fn sweep_private(&self) {
        use crate::fsutil::staging;
        self.swept.call_once(|| {
            let private = self.dirs.private();
            staging::sweep(&private.join("out"), is_out_staging);
            staging::sweep(&private, |name| name.starts_with(staging::WRITE_PREFIX));
        });
    }

    fn environment(&self, space: &str) -> Result<crate::environment::EnvVars, Diagnostic> {
        let mut known = self.environments.lock().expect("not poisoned");
        if let Some(env) = known.get(space) {
            return Ok(env.clone());
        }
        let env = self.project.environment(space)?;
        known.insert(space.to_string(), env.clone());
        Ok(env)
    }

    fn explain_miss(
        &self,
        runnable: &Runnable,
        backend: &CacheBackend,
        hashed: Option<&Hashed<'_>>,
    ) {
        let store = match backend {
            CacheBackend::Repo => self.dirs.repo_store(),
            _ => self.dirs.local_store(),
        };
        let sources = crate::explain::Sources {
            project: self.project,
            store: &store,
            runs_dir: &self.dirs.runs_dir(),
        };
        // Listing what was hashed cannot fail once hashing did.
        let inputs = hashed.and_then(|h| h.inputs().ok());
        let current = hashed
            .zip(inputs.as_ref())
            .map(|(h, inputs)| (h.hash.as_str(), inputs));
        let reason = crate::explain::miss(&sources, runnable, current, self.options.force);
        self.sink.emit(Event::Explained {
            name: runnable.name.clone(),
            reason: Box::new(reason),
        });
    }

    fn warn(&self, runnable: &Runnable, message: impl std::fmt::Display) {
        self.sink.emit(Event::Warning {
            name: Some(runnable.name.clone()),
            message: message.to_string(),
        });
    }

    fn store(
        &self,
        runnable: &Runnable,
        backend: &CacheBackend,
        hash: String,
        mut inputs: Inputs,
        finished: &Finished<'_>,
    ) -> Result<(), StoreError> {
        let root = &self.dirs.root;
        inputs.definition_fields = crate::explain::definition_fields(self.project, runnable);
        let mut artifacts = Vec::new();
        for path in cache::artifacts::find(root, &runnable.artifacts)? {
            match cache::artifact_record(root, path.clone()) {
                Ok(record) => artifacts.push(record),
                Err(source) => return Err(StoreError::Artifact { path, source }),
            }
        }
        let (digest, size) = cache::file_digest(finished.log).map_err(StoreError::Log)?;
        let manifest = Manifest {
            version: cache::MANIFEST_VERSION,
            name: runnable.name.clone(),
            hash,
            code: finished.code,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            log: cache::LogRecord { digest, size },
            artifacts,
            inputs,
            duration_ms: Some(u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX)),
        };
        let store = match backend {
            CacheBackend::Repo => self.dirs.repo_store(),
            _ => self.dirs.local_store(),
        };
        let cache::Stored { entry, pruned } = store
            .put(&manifest, &runnable.command, finished.log, root)
            .map_err(StoreError::Write)?;
        match backend {
            CacheBackend::Repo => {
                let mut changes = self.repo_changes.lock().expect("not poisoned");
                changes.written.push(entry.dir);
                changes.pruned.extend(pruned);
                changes.artifacts.extend(
                    manifest
                        .artifacts
                        .iter()
                        .filter(|artifact| artifact.path.starts_with(".qik/"))
                        .map(|artifact| root.join(&artifact.path)),
                );
            }
            CacheBackend::Remote(remote) => {
                let key = cache::EntryKey {
                    command: &runnable.command,
                    runnable: &runnable.name,
                    hash: &manifest.hash,
                };
                remote
                    .upload(&self.project.ctx, key, &entry.dir)
                    .map_err(StoreError::Remote)?;
            }
            CacheBackend::Local | CacheBackend::Never => {}
        }
        Ok(())
    }

    /// Makes repo-cache entries visible to git (`git add -N`), takes pruned
    /// ones out of the index, and keeps merges of `.qik/` on our side.
    fn add_repo_entries(&self) {
        let changes = std::mem::take(&mut *self.repo_changes.lock().expect("not poisoned"));
        if changes.written.is_empty() && changes.pruned.is_empty() {
            return;
        }
        if let Err(message) = crate::cache::repo::register(&self.dirs.root, &changes) {
            self.sink.emit(Event::Warning {
                name: None,
                message: message.to_string(),
            });
        }
    }
}

/// A run that ended, as it is stored.
struct Finished<'a> {
    code: i32,
    log: &'a Path,
    duration: Duration,
}

/// Why a finished run could not be stored (a warning: the run itself stands).
#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error("{}", .0.message)]
    Inputs(Diagnostic),
    #[error("invalid artifact pattern: {0}")]
    ArtifactPattern(#[from] crate::git::PathspecError),
    #[error("cannot read artifact {path}: {source}")]
    Artifact {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the cache entry: {0}")]
    Write(#[source] std::io::Error),
    #[error("cannot read the log: {0}")]
    Log(#[source] std::io::Error),
    #[error("remote cache: {}", .0.message)]
    Remote(Diagnostic),
}

/// Whether each cached runnable of `graph` has an entry for its current hash
/// (`--cache-status`). Runnables that are never cached are left out.
pub fn cache_status(project: &Project, graph: &Graph) -> Result<CacheStatus, Diagnostic> {
    let planned = crate::plan::plan(project, graph, &crate::plan::PlanOptions::default())?;
    Ok(CacheStatus {
        warm: planned
            .runnables
            .into_iter()
            .filter_map(|(name, p)| Some((name, p.warm?)))
            .collect(),
        warnings: planned.warnings,
    })
}

/// Which runnables' caches hold their entry (never-cached ones are absent),
/// and the warnings to say once (as [`crate::plan::Plan::warnings`]).
#[derive(Clone, Debug, Default)]
pub struct CacheStatus {
    pub warm: std::collections::BTreeMap<String, bool>,
    pub warnings: Vec<String>,
}

/// The log of a command this process is running: a file of its own in
/// `._qik/out`, with `<runnable>.out` pointing at it (a symlink, so `tail -f`
/// follows the run) and renamed to `<runnable>.out` when the command ends.
/// Two qik processes running the same runnable each write their own file, so
/// what each caches is the output it saw.
struct LiveLog {
    path: tempfile::TempPath,
    out: PathBuf,
    /// Held open while the command runs: the claim that tells a sweep in
    /// another qik that this staging file is alive.
    _claim: std::fs::File,
}

impl LiveLog {
    fn start(out: PathBuf) -> std::io::Result<LiveLog> {
        let dir = out.parent().unwrap_or(Path::new("."));
        let name = out
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let temp = log_builder()
            .prefix(&format!(".{name}."))
            .suffix(LIVE_SUFFIX)
            .tempfile_in(dir)?;
        crate::fsutil::staging::claim(temp.as_file());
        let (claim, path) = temp.into_parts();
        #[cfg(unix)]
        if let Some(target) = path.file_name() {
            // Best effort: the link only helps someone watching the run.
            let link = path.with_extension("link");
            if std::os::unix::fs::symlink(target, &link).is_ok()
                && std::fs::rename(&link, &out).is_err()
            {
                let _ = std::fs::remove_file(&link);
            }
        }
        Ok(LiveLog {
            path,
            out,
            _claim: claim,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the log `<runnable>.out` and returns that path.
    fn finish(self) -> Result<PathBuf, WriteError> {
        let out = self.out;
        self.path
            .persist(&out)
            .map_err(|err| WriteError::at(&out)(err.error))?;
        Ok(out)
    }
}

const LIVE_SUFFIX: &str = ".live";
const REPLAY_PREFIX: &str = ".replay-";

/// The staging names of `._qik/out`: live logs, their links on the way to
/// `<runnable>.out`, and replayed logs on the way there.
fn is_out_staging(name: &str) -> bool {
    name.starts_with(REPLAY_PREFIX)
        || (name.starts_with('.') && (name.ends_with(LIVE_SUFFIX) || name.ends_with(".link")))
}

/// Logs are created as `File::create` would (0666 less the umask), not
/// owner-only like temporary files: they are the user's output.
fn log_builder<'a>() -> tempfile::Builder<'a, 'a> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// Makes a cached log the latest output at `out`. Logs are never written in
/// place once complete (live logs are renamed over `out`), so `out` can be a
/// hard link to the entry's log: nothing to copy, and nothing at all to do
/// when it already is one. The new name is put in place by a rename: another
/// qik may be running this runnable right now, and `out` may be its live log.
fn publish_log(
    log: &Path,
    log_id: Option<(u64, u64)>,
    out: &Path,
    root: &Path,
    before_writing: &dyn Fn(),
) -> Result<(), WriteError> {
    let log_id = log_id.or_else(|| std::fs::metadata(log).ok().and_then(|m| cache::file_id(&m)));
    let out_id = std::fs::symlink_metadata(out)
        .ok()
        .and_then(|m| cache::file_id(&m));
    if log_id.is_some() && log_id == out_id {
        return Ok(());
    }
    before_writing();
    let dir = out.parent().unwrap_or(root);
    // The new name shares the log's inode: claiming the inode keeps a sweep
    // in another qik off the name for the moment it exists.
    let (claim, _) = crate::fsutil::open_kept(log, crate::fsutil::limits::STREAMED)
        .map_err(WriteError::at(log))?;
    crate::fsutil::staging::claim(&claim);
    let temp = log_builder()
        .prefix(REPLAY_PREFIX)
        .tempfile_in(dir)
        .map_err(WriteError::at(dir))?
        .into_temp_path();
    let linked = std::fs::remove_file(&temp).is_ok() && std::fs::hard_link(log, &temp).is_ok();
    if !linked {
        // Another file system: copy instead.
        std::fs::copy(log, &temp).map_err(WriteError::at(out))?;
    }
    let temp_path = temp.to_path_buf();
    temp.persist(out)
        .map_err(|err| WriteError::at(out)(err.error))?;
    // When another qik linked `out` to the same log a moment ago, the rename
    // of one link over another link of the same file does nothing (POSIX)
    // and leaves the temporary name behind.
    let _ = std::fs::remove_file(&temp_path);
    Ok(())
}

fn should_store(when: CacheWhen, code: i32) -> bool {
    match when {
        CacheWhen::Success => code == 0,
        CacheWhen::Failed => code != 0,
        CacheWhen::Finished => true,
    }
}

/// The files a runnable's hash covers, listed when an executor asks.
struct HashedInputs<'h, 'a> {
    hashed: Option<&'h Hashed<'a>>,
    /// Hashes a runnable that was not hashed (it is not cached).
    hash_now: &'h dyn Fn() -> Result<Hashed<'a>, Diagnostic>,
}

impl JobInputs for HashedInputs<'_, '_> {
    fn files(&self) -> Result<Vec<String>, Diagnostic> {
        let inputs = match self.hashed {
            Some(hashed) => hashed.inputs()?,
            None => (self.hash_now)()?.inputs()?,
        };
        Ok(inputs.files.into_keys().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        for file in files {
            std::fs::write(dir.path().join(file), file).unwrap();
        }
        git(&["add", "."]);
        dir
    }

    /// What a prefetch read is what the run would have read itself, and a
    /// prefetch started for another root is not taken for this one's.
    #[test]
    fn a_prefetch_serves_only_its_own_root() {
        let one = repo_with(&["a.py"]);
        let three = repo_with(&["a.py", "b.py", "c.py"]);
        let dirs = |root: &Path| WorkDirs {
            root: root.canonicalize().unwrap(),
        };
        let read = |prefetch: Prefetch, root: &Path| {
            let (files, _replays) = prefetch.finish(&dirs(root));
            files.unwrap().len()
        };
        let own = Prefetch::start(&dirs(three.path()).root);
        assert_eq!(read(own, three.path()), 3);
        let other = Prefetch::start(&dirs(one.path()).root);
        assert_eq!(read(other, three.path()), 3);
        let inline = read_before_run(&dirs(one.path())).0.unwrap().len();
        assert_eq!(inline, 1);
    }
}
