//! Commands that plugins build in code: parametrized and native runnables.
//!
//! A qik.toml command is a fixed text. Some plugin commands are not: `uv.lock`
//! exists once per space that has a uv venv, `pygraph.lock` once per (space,
//! module) that a `pygraph` dep names. Such a command is a [`CommandFactory`]:
//! given arguments, it returns the runnable for them. Arguments come from the
//! command deps that other runnables (or venvs) inject; the argument `space`
//! sets the runnable's space, the others appear in its name as `?k=v`.
//!
//! A runnable may also run in-process instead of through `sh -c`: a
//! [`NativeAction`] (pygraph builds its graph this way, without a second
//! process).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::config::EnabledPlugin;
use crate::diagnostic::Diagnostic;
use crate::hashing::TrackedFiles;
use crate::model::{Project, Runnable};

/// Arguments of one instance of a parametrized command, sorted by key.
pub type Args = BTreeMap<String, String>;

/// The argument that chooses a runnable's space instead of appearing in its name.
pub const SPACE_ARG: &str = "space";

/// A command a plugin builds in code.
pub struct CommandFactory {
    /// The name after the plugin's name: `lock` gives `uv.lock`.
    pub name: &'static str,
    /// Hidden commands run only as someone's dependency or when named.
    pub hidden: bool,
    /// How the command's runnables come to be.
    pub instances: Instances,
}

/// Where the runnables of a factory command come from.
pub enum Instances {
    /// The command has a fixed set of runnables (one per fenced space, say),
    /// listed without arguments.
    Standalone(fn(&FactoryCx<'_>) -> Result<Vec<Runnable>, Diagnostic>),
    /// The command exists once per argument set that a dependency asks for;
    /// named alone, it stands for every instance the project's commands use.
    PerArgs(fn(&FactoryCx<'_>, &Args) -> Result<Runnable, Diagnostic>),
}

/// What a factory builds against.
pub struct FactoryCx<'a> {
    pub project: &'a Project,
    pub plugin: &'a EnabledPlugin,
    /// The command's full name, `<plugin name>.<factory name>`.
    pub command: &'a str,
}

impl FactoryCx<'_> {
    /// The plugin's parsed `[plugins.<name>]` section.
    pub fn config<T: 'static>(&self) -> &T {
        self.plugin
            .config
            .downcast_ref::<T>()
            .expect("a plugin's config is the type its own parser returns")
    }

    /// A runnable of this command in `space` with `args` shown in its name,
    /// with nothing to run yet: no deps (so not cached), `cache = "local"`.
    pub fn runnable(&self, space: &str, args: &Args) -> Runnable {
        let shown: Args = args
            .iter()
            .filter(|(key, _)| *key != SPACE_ARG)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Runnable {
            name: self
                .project
                .runnable_name(self.command, space, None, &shown),
            command: self.command.to_string(),
            space: space.to_string(),
            module: None,
            args: shown,
            exec: String::new(),
            deps: Default::default(),
            artifacts: Vec::new(),
            cache: "local".to_string(),
            cache_when: Default::default(),
            tags: Vec::new(),
            hidden: false,
            env: Vec::new(),
            in_space_env: true,
            native: None,
            replay_check: None,
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

/// What a native action runs against.
pub struct ActionCx<'a> {
    pub project: &'a Project,
    pub runnable: &'a Runnable,
    /// The git-tracked files of the project, read once per run.
    pub files: &'a TrackedFiles,
    /// qik's private work directory (`._qik`).
    pub private_dir: &'a Path,
    /// The variables the runnable's environment sets on top of qik's.
    pub env: &'a [(OsString, OsString)],
    pub(crate) hasher: &'a crate::hashing::Hasher<'a>,
    pub(crate) sink: &'a mut dyn FnMut(&[u8]),
}

impl ActionCx<'_> {
    /// The distributions installed for a space's commands, read once per run.
    pub fn installed(&self, space: &str) -> Arc<Result<crate::hashing::Installed, Diagnostic>> {
        self.hasher.installed(space)
    }

    /// One line of output (no trailing newline), shown and logged like a
    /// process's output.
    pub fn line(&mut self, line: impl AsRef<[u8]>) {
        (self.sink)(line.as_ref());
    }
}

/// A registered factory under the name its plugin has in this project.
#[derive(Clone)]
pub struct FactoryCommand {
    pub name: String,
    /// The `[plugins]` key of the plugin.
    pub plugin: String,
    pub def: &'static CommandFactory,
}

impl fmt::Debug for FactoryCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FactoryCommand")
            .field("name", &self.name)
            .finish()
    }
}

/// Shares a native action between the runnables that use it.
pub fn native(action: impl NativeAction + 'static) -> Option<Arc<dyn NativeAction>> {
    Some(Arc::new(action))
}
