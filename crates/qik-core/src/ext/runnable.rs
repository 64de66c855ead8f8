//! Runnables as plugins build them: plain data, checked by the model before
//! anything runs, and the work a runnable may do inside qik.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::cache::CacheWhen;
use crate::diagnostic::Diagnostic;
use crate::ext::depset::DepSet;
use crate::ext::executor::Executor;
use crate::ext::view::ProjectView;
use crate::hashing::files::TrackedFiles;
use crate::hashing::pydist::Installed;

/// Arguments of one instance of a parametrized command, sorted by key.
pub type Args = BTreeMap<String, String>;

/// The argument that chooses a runnable's space instead of appearing in its name.
pub const SPACE_ARG: &str = "space";

/// One unit of work: a command in a space, possibly for one module.
#[derive(Debug)]
pub struct Runnable {
    pub name: String,
    pub command: String,
    pub space: String,
    pub module: Option<String>,
    pub exec: String,
    pub deps: DepSet,
    pub artifacts: Vec<String>,
    /// Where its results are kept.
    pub cache: CacheRef,
    pub cache_when: CacheWhen,
    pub tags: Vec<String>,
    pub hidden: bool,
    /// Arguments of a plugin command's instance, shown in the name as `?k=v`.
    pub args: Args,
    /// Variables set for this runnable on top of its environment.
    pub env: Vec<(String, String)>,
    /// Whether the runnable runs in its space's environment (venv, dotenv).
    /// Plugin runnables that build the venv itself run in qik's own.
    pub in_space_env: bool,
    /// Work done inside qik instead of `sh -c exec` (`exec` then only
    /// describes it, for output and the definition digest).
    pub native: Option<Arc<dyn NativeAction>>,
    /// Runs the command; `None` is the built-in `local` executor.
    pub executor: Option<Arc<dyn Executor>>,
    /// Checks, before a replay, that what the cached run produced outside
    /// the cache is still there (a venv); when it is not, the runnable runs.
    pub replay_check: Option<Arc<dyn ReplayCheck>>,
    /// Judges, for `--since`, whether changes to some of its input files
    /// change it; `None`: any change to an input does.
    pub change_check: Option<Arc<dyn ChangeCheck>>,
}

/// Which cache keeps a runnable's results.
///
/// A name is checked against the project's `[caches]` when the runnable
/// enters the model, so the runner only ever sees configured caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheRef {
    /// Never cached (`cache = "none"`, or a runnable without deps).
    Never,
    /// A cache of `[caches]` (`local` and `repo` always exist).
    Named(String),
}

impl CacheRef {
    /// The word users write for "never cached".
    pub const NONE: &str = "none";

    /// `cache = "<name>"` as written: `none` is [`CacheRef::Never`].
    pub fn from_name(name: impl Into<String>) -> CacheRef {
        let name = name.into();
        if name == Self::NONE {
            CacheRef::Never
        } else {
            CacheRef::Named(name)
        }
    }

    /// The cache's name as users write it.
    pub fn name(&self) -> &str {
        match self {
            CacheRef::Never => Self::NONE,
            CacheRef::Named(name) => name,
        }
    }
}

/// Work a runnable does inside the qik process.
pub trait NativeAction: Send + Sync + fmt::Debug {
    /// Does the work, reporting output lines through `cx.line`; returns the
    /// exit code (0 for success). An `Err` fails the runnable with the
    /// diagnostic as its output.
    fn run(&self, cx: &mut ActionCx<'_>) -> Result<i32, Diagnostic>;
}

/// Whether the effects of a cached run outside the cache still hold (for
/// example, that the venv an install built is there and matches its lock).
pub trait ReplayCheck: Send + Sync + fmt::Debug {
    /// `root` is the project root.
    fn holds(&self, root: &Path) -> bool;
}

/// Whether a change to one of a runnable's input files changes what the
/// runnable computes. `--since` otherwise selects a runnable when any input
/// file differs; a runnable that reads only part of a shared file (a uv
/// project's share of a workspace's `uv.lock`) tells the two apart, so a
/// change to another part does not select it or what depends on it.
pub trait ChangeCheck: Send + Sync + fmt::Debug {
    /// The input files it judges (project-relative, `/`-separated); a change
    /// to any other input selects the runnable as usual.
    fn files(&self) -> Vec<String>;
    /// Whether `path` changing from `old` (its content at the reference;
    /// `None` where it did not exist) to `new` (its content in the working
    /// tree; `None`: deleted) changes the runnable. When unsure: `true`.
    fn changes(&self, path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> bool;
}

/// The distributions installed for a space's commands, read once per run.
pub type InstalledOf<'a> = &'a dyn Fn(&str) -> Arc<Result<Installed, Diagnostic>>;

/// What a native action runs against.
pub struct ActionCx<'a> {
    /// The project, as plugins see it.
    pub project: &'a dyn ProjectView,
    pub runnable: &'a Runnable,
    /// The git-tracked files of the project, read once per run.
    pub files: &'a TrackedFiles,
    /// qik's private work directory (`._qik`).
    pub private_dir: &'a Path,
    /// The variables the runnable's environment sets on top of qik's.
    pub env: &'a [(OsString, OsString)],
    pub(crate) installed: InstalledOf<'a>,
    pub(crate) sink: &'a mut dyn FnMut(&[u8]),
}

impl<'a> ActionCx<'a> {
    /// The context the runner hands a native action.
    pub(crate) fn new(
        project: &'a dyn ProjectView,
        runnable: &'a Runnable,
        files: &'a TrackedFiles,
        private_dir: &'a Path,
        env: &'a [(OsString, OsString)],
        installed: InstalledOf<'a>,
        sink: &'a mut dyn FnMut(&[u8]),
    ) -> Self {
        ActionCx {
            project,
            runnable,
            files,
            private_dir,
            env,
            installed,
            sink,
        }
    }

    /// The distributions installed for a space's commands, read once per run.
    pub fn installed(&self, space: &str) -> Arc<Result<Installed, Diagnostic>> {
        (self.installed)(space)
    }

    /// One line of output (no trailing newline), shown and logged like a
    /// process's output.
    pub fn line(&mut self, line: impl AsRef<[u8]>) {
        (self.sink)(line.as_ref());
    }
}

/// Shares a native action between the runnables that use it.
pub fn native(action: impl NativeAction + 'static) -> Option<Arc<dyn NativeAction>> {
    Some(Arc::new(action))
}
