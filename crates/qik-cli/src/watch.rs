//! `qik --watch`: run the selection once, then re-run what each change affects.
//!
//! What is watched is what hashing reads: the directories that hold
//! git-tracked files of the project (not `.venv/`, `node_modules/` or build
//! output, which are untracked), the git index (a file added to or removed
//! from it changes the inputs), the configuration files, and the
//! site-packages of the environments (the active one, or a space's venv)
//! when a runnable depends on Python distributions. Events are gathered until
//! the project has been quiet for a moment, so a save storm or a branch
//! switch is one batch; each affected
//! runnable runs once per batch, with its strict downstream runnables
//! ([`qik_core::changes`] decides what a change affects, as for `--since`).
//!
//! An edit to `qik.toml` (or a module's) reloads the configuration; the
//! runnables whose definition changed run. A configuration that does not load
//! is reported and the previous one stays in use. Ctrl-C exits with 130.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use notify::event::{ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use qik_core::changes::{self, Changes, ProjectPaths};
use qik_core::config;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::graph::Graph;
use qik_core::hashing::normalize_pydist;
use qik_core::runner::Interrupt;

use crate::args::QikArgs;
use crate::project::{self, Loaded};
use crate::{execute, output, select};

/// Exit code after a signal, as shells report it (130 for Ctrl-C).
fn exit_interrupted(interrupt: &Interrupt) -> ExitCode {
    ExitCode::from(u8::try_from(interrupt.exit_code()).unwrap_or(crate::exit::INTERRUPTED))
}

/// A batch ends once no relevant event came for this long...
const QUIET: Duration = Duration::from_millis(200);
/// ...or once it has been gathering for this long.
const MAX_BATCH: Duration = Duration::from_secs(2);
/// How often an idle watcher looks at the Ctrl-C flag.
const POLL: Duration = Duration::from_millis(100);

pub(crate) fn watch(loaded: Loaded, raw_args: &QikArgs) -> Result<ExitCode, Diagnostic> {
    let interrupt = Interrupt::install()
        .map_err(|err| Diagnostic::error(Code::General, format!("cannot handle Ctrl-C: {err}")))?;
    let (sender, events) = crossbeam_channel::unbounded();
    let watcher = notify::recommended_watcher(move |event| {
        // The receiver lives as long as the loop; a send fails only after it.
        let _ = sender.send(event);
    })
    .map_err(|err| {
        Diagnostic::error(Code::General, format!("cannot watch files: {err}"))
            .with_hint("on Linux, raise fs.inotify.max_user_instances")
    })?;
    // The first run honours every selector, `--since` and `--cache-status`
    // included; what is watched afterwards is the selection without those two,
    // which describe the state at startup.
    let first = select::graph(&loaded)?;
    let mut session = Session::new(loaded, raw_args.clone(), watcher)?;
    // Watching starts before the first run, so an edit made while it runs
    // is the first batch rather than lost.
    session.update_watches(&BTreeSet::new());
    execute::execute(&session.loaded.project, &first, &session.loaded.args)?;
    session.ran = first.runnables().map(|r| r.name.clone()).collect();
    if interrupt.is_interrupted() {
        return Ok(exit_interrupted(&interrupt));
    }
    announce();
    loop {
        let Some(batch) = session.next_batch(&events, &interrupt) else {
            return Ok(exit_interrupted(&interrupt));
        };
        let changes = session.apply(batch);
        if changes.is_empty() {
            continue;
        }
        let affected = match changes::affected(
            &session.loaded.project,
            &session.graph,
            session.paths.prefix(),
            &changes,
        ) {
            Ok(affected) => affected,
            Err(err) => {
                output::print_diagnostic(&err);
                continue;
            }
        };
        if affected.is_empty() {
            continue;
        }
        // Their strict downstream runnables join, and their upstream ones
        // that have not run in this session yet; the others are up to date.
        let mut graph = session.graph.clone();
        graph.retain_affected_where(&affected, |name| !session.ran.contains(name));
        session
            .ran
            .extend(graph.runnables().map(|r| r.name.clone()));
        eprintln!("{}", session.describe(&changes));
        if let Err(err) = execute::execute(&session.loaded.project, &graph, &session.loaded.args) {
            output::print_diagnostic(&err);
        }
        if interrupt.is_interrupted() {
            return Ok(exit_interrupted(&interrupt));
        }
        announce();
    }
}

fn announce() {
    eprintln!("watching for changes (Ctrl-C to stop)");
}

/// What one batch of events says.
#[derive(Debug, Default)]
struct Batch {
    /// Tracked files (work-tree-relative) that changed.
    files: BTreeSet<Vec<u8>>,
    /// Watched directories created, renamed or removed: their files changed
    /// without an event of their own.
    dirs: BTreeSet<PathBuf>,
    index: bool,
    config: bool,
    pydists: BTreeSet<String>,
    /// The kernel dropped events: anything may have changed.
    rescan: bool,
}

struct Session {
    loaded: Loaded,
    /// The arguments as given, to rebuild the project after an edit.
    raw_args: QikArgs,
    /// The watched selection.
    graph: Graph,
    /// The runnables that ran (or were replayed) in this session.
    ran: BTreeSet<String>,
    paths: ProjectPaths,
    /// The project root inside the (canonical) work tree.
    root: PathBuf,
    /// Tracked files of the project (work-tree-relative, qik's own left out).
    tracked: BTreeSet<Vec<u8>>,
    config_files: BTreeSet<PathBuf>,
    site_packages: Vec<PathBuf>,
    watcher: RecommendedWatcher,
    /// The directories to watch, existing or not.
    wanted: BTreeSet<PathBuf>,
    /// The directories watched.
    watched: BTreeSet<PathBuf>,
    /// Warned once that the system's watch limit was reached.
    warned_limit: bool,
}

impl Session {
    fn new(
        loaded: Loaded,
        raw_args: QikArgs,
        watcher: RecommendedWatcher,
    ) -> Result<Session, Diagnostic> {
        let graph = Graph::select(&loaded.project, &loaded.selection)?;
        let paths = ProjectPaths::discover(&loaded.project.config.root)?;
        let root = join_bytes(paths.repo().work_tree(), paths.prefix());
        let tracked = read_tracked(&paths)?;
        let mut session = Session {
            loaded,
            raw_args,
            graph,
            ran: BTreeSet::new(),
            paths,
            root,
            tracked,
            config_files: BTreeSet::new(),
            site_packages: Vec::new(),
            watcher,
            wanted: BTreeSet::new(),
            watched: BTreeSet::new(),
            warned_limit: false,
        };
        session.derive_from_config();
        Ok(session)
    }

    /// The configuration files and site-packages to watch for this project.
    fn derive_from_config(&mut self) {
        let project = &self.loaded.project;
        self.config_files = changes::config_files(project)
            .iter()
            .map(|file| self.root.join(file))
            .collect();
        // The site-packages of every space whose runnables read versions:
        // a uv space's venv, or the active environment.
        let spaces: BTreeSet<&str> = self
            .graph
            .runnables()
            .filter(|r| !r.deps.pydists.is_empty() || !r.deps.loads.is_empty())
            .map(|r| r.space.as_str())
            .collect();
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for space in spaces {
            let found = project
                .installed(space)
                .map(|installed| installed.dirs)
                .unwrap_or_default();
            dirs.extend(found.into_iter().filter_map(|dir| dir.canonicalize().ok()));
        }
        self.site_packages = dirs.into_iter().collect();
    }

    /// Waits for the next batch of relevant events; `None` after Ctrl-C.
    fn next_batch(
        &mut self,
        events: &Receiver<notify::Result<Event>>,
        interrupt: &Interrupt,
    ) -> Option<Batch> {
        let mut batch = Batch::default();
        let mut started: Option<Instant> = None;
        let mut last = Instant::now();
        loop {
            if interrupt.is_interrupted() {
                return None;
            }
            let timeout = match started {
                None => POLL,
                Some(start) => {
                    let quiet_left = QUIET.saturating_sub(last.elapsed());
                    let max_left = MAX_BATCH.saturating_sub(start.elapsed());
                    let left = quiet_left.min(max_left);
                    if left.is_zero() {
                        return Some(batch);
                    }
                    left.min(POLL)
                }
            };
            match events.recv_timeout(timeout) {
                Ok(Ok(event)) => {
                    if self.classify(&event, &mut batch) {
                        last = Instant::now();
                        started.get_or_insert(last);
                    }
                }
                Ok(Err(err)) => {
                    output::print_diagnostic(&Diagnostic::warning(format!("file watching: {err}")));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Adds what `event` says to `batch`; whether it said anything relevant.
    fn classify(&self, event: &Event, batch: &mut Batch) -> bool {
        if event.need_rescan() {
            batch.rescan = true;
            return true;
        }
        let dir_event = match event.kind {
            // Reads (qik's own included) and attribute changes change no content.
            EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => return false,
            EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Name(
                RenameMode::From | RenameMode::To | RenameMode::Both | RenameMode::Any,
            )) => true,
            _ => false,
        };
        let mut relevant = false;
        for path in &event.paths {
            if path == self.paths.repo().index_file() {
                batch.index = true;
                relevant = true;
                continue;
            }
            if self.config_files.contains(path) {
                batch.config = true;
                relevant = true;
            }
            if let Some(dist) = self.pydist_of(path) {
                batch.pydists.insert(dist);
                relevant = true;
                continue;
            }
            if dir_event && (self.wanted.contains(path) || self.watched.contains(path)) {
                batch.dirs.insert(path.clone());
                relevant = true;
                continue;
            }
            let Some(relative) = work_tree_relative(self.paths.repo().work_tree(), path) else {
                continue;
            };
            if self.tracked.contains(&relative) {
                batch.files.insert(relative);
                relevant = true;
            }
        }
        relevant
    }

    /// The distribution a site-packages entry belongs to (`name-1.0.dist-info`).
    fn pydist_of(&self, path: &Path) -> Option<String> {
        let parent = path.parent()?;
        if !self.site_packages.iter().any(|dir| dir == parent) {
            return None;
        }
        let name = path.file_name()?.to_str()?;
        let stem = name
            .strip_suffix(".dist-info")
            .or_else(|| name.strip_suffix(".egg-info"))?;
        let (dist, _) = stem.split_once('-')?;
        // pip marks what it is replacing with a leading `~`.
        (!dist.starts_with('~')).then(|| normalize_pydist(dist))
    }

    /// Turns a batch into changes: re-reads the index and the configuration
    /// when they changed, and re-aims the watches.
    fn apply(&mut self, batch: Batch) -> Changes {
        let mut files = batch.files;
        let before = self.tracked.clone();
        if batch.index || batch.rescan || !batch.dirs.is_empty() {
            match read_tracked(&self.paths) {
                Ok(now) => self.tracked = now,
                Err(err) => output::print_diagnostic(&err),
            }
            // Files that joined or left the index are inputs that came or went.
            files.extend(before.symmetric_difference(&self.tracked).cloned());
        }
        if batch.rescan {
            files.extend(self.tracked.iter().cloned());
        }
        for dir in &batch.dirs {
            if let Some(prefix) = work_tree_relative(self.paths.repo().work_tree(), dir) {
                let below = |path: &&Vec<u8>| {
                    path.strip_prefix(prefix.as_slice())
                        .is_some_and(|rest| rest.first() == Some(&b'/'))
                };
                files.extend(before.iter().filter(below).cloned());
                files.extend(self.tracked.iter().filter(below).cloned());
            }
        }
        let mut definitions = BTreeSet::new();
        if batch.config {
            if let Some(changed) = self.reload() {
                definitions = changed;
            }
        }
        self.update_watches(&batch.dirs);
        Changes {
            files,
            pydists: batch.pydists,
            definitions,
            dismissed: Default::default(),
        }
    }

    /// Loads the edited configuration; the runnables whose definition
    /// changed, or `None` (with the error printed) when it does not load.
    fn reload(&mut self) -> Option<BTreeSet<String>> {
        let reloaded = config::load(&self.loaded.cwd).and_then(|config| {
            for warning in &config.warnings {
                output::print_diagnostic(warning);
            }
            let (project, args) = project::build_project(config, &self.raw_args)?;
            let loaded = project::loaded(project, &self.loaded.cwd, args);
            let graph = Graph::select(&loaded.project, &loaded.selection)?;
            Ok((loaded, graph))
        });
        match reloaded {
            Ok((loaded, graph)) => {
                let changed =
                    changes::changed_definitions(&self.loaded.project, &loaded.project, &graph);
                self.loaded = loaded;
                self.graph = graph;
                self.derive_from_config();
                Some(changed)
            }
            Err(err) => {
                output::print_diagnostic(&err);
                eprintln!("the configuration does not load; still watching with the previous one");
                None
            }
        }
    }

    /// Watches every directory that holds tracked files (and their parents),
    /// the module directories, the git index's directory and site-packages;
    /// stops watching the rest. `recreated` directories (created, moved or
    /// removed) and those below them are watched anew: a watch follows the
    /// directory it was put on, wherever it went.
    fn update_watches(&mut self, recreated: &BTreeSet<PathBuf>) {
        let work_tree = self.paths.repo().work_tree().to_path_buf();
        let mut wanted: BTreeSet<PathBuf> = BTreeSet::new();
        wanted.insert(self.root.clone());
        let mut parents: BTreeSet<&[u8]> = BTreeSet::new();
        for path in &self.tracked {
            let mut rest = path.as_slice();
            while let Some(slash) = rest.iter().rposition(|b| *b == b'/') {
                rest = &rest[..slash];
                if !parents.insert(rest) {
                    break;
                }
            }
        }
        let prefix = self.paths.prefix();
        for dir in parents {
            if changes::project_relative(prefix, dir).is_some() {
                wanted.insert(join_bytes(&work_tree, dir));
            }
        }
        for module in self.loaded.project.modules() {
            wanted.insert(self.root.join(&module.path));
        }
        if let Some(dir) = self.paths.repo().index_file().parent() {
            wanted.insert(dir.to_path_buf());
        }
        wanted.extend(self.site_packages.iter().cloned());

        let stale: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|dir| !wanted.contains(*dir) || recreated.iter().any(|r| dir.starts_with(r)))
            .cloned()
            .collect();
        for dir in stale {
            let _ = self.watcher.unwatch(&dir);
            self.watched.remove(&dir);
        }
        self.wanted = wanted;
        for dir in self.wanted.clone() {
            if self.watched.contains(&dir) || !dir.is_dir() {
                continue;
            }
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                Err(err) => {
                    if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) && !self.warned_limit {
                        self.warned_limit = true;
                        output::print_diagnostic(
                            &Diagnostic::warning("the system's limit of watched directories is reached; some changes will go unseen")
                                .with_hint("on Linux, raise fs.inotify.max_user_watches"),
                        );
                    }
                }
            }
        }
    }

    /// One line naming what changed.
    fn describe(&self, changes: &Changes) -> String {
        let mut names: Vec<String> = changes
            .files
            .iter()
            .filter_map(|path| changes::project_relative(self.paths.prefix(), path))
            .filter(|path| !changes::is_qik_private(path))
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect();
        names.extend(
            changes
                .pydists
                .iter()
                .map(|dist| format!("distribution {dist}")),
        );
        if !changes.definitions.is_empty() {
            names.push("the configuration".to_string());
        }
        let shown = names.len().min(5);
        let mut text = names[..shown].join(", ");
        if names.len() > shown {
            text.push_str(&format!(" and {} more", names.len() - shown));
        }
        format!("changed: {text}")
    }
}

/// The tracked files of the project, as the index lists them now.
fn read_tracked(paths: &ProjectPaths) -> Result<BTreeSet<Vec<u8>>, Diagnostic> {
    let index = paths.repo().read_index().map_err(|err| {
        Diagnostic::error(Code::General, format!("cannot read the git index: {err}"))
    })?;
    Ok(index
        .iter()
        .filter(|(path, _)| {
            changes::project_relative(paths.prefix(), path)
                .is_some_and(|relative| !changes::is_qik_private(relative))
        })
        .map(|(path, _)| path.to_vec())
        .collect())
}

/// `relative` (`/`-separated bytes) below `base`.
fn join_bytes(base: &Path, relative: &[u8]) -> PathBuf {
    let mut out = base.to_path_buf();
    for part in relative.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
        out.push(bytes_to_os(part));
    }
    out
}

#[cfg(unix)]
fn bytes_to_os(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}

#[cfg(not(unix))]
fn bytes_to_os(bytes: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(std::str::from_utf8(bytes).unwrap_or_default())
}

/// `path` relative to the work tree as `/`-separated bytes, like the index's.
fn work_tree_relative(work_tree: &Path, path: &Path) -> Option<Vec<u8>> {
    let relative = path.strip_prefix(work_tree).ok()?;
    let mut out = Vec::new();
    for component in relative.components() {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(os_to_bytes(component.as_os_str())?);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(unix)]
fn os_to_bytes(s: &std::ffi::OsStr) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    Some(s.as_bytes())
}

#[cfg(not(unix))]
fn os_to_bytes(s: &std::ffi::OsStr) -> Option<&[u8]> {
    s.to_str().map(str::as_bytes)
}
