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
//! [`NativeAction`](crate::ext::NativeAction) (pygraph builds its graph this way, without a second
//! process).

use crate::diagnostic::Diagnostic;
use crate::ext::runnable::{Args, CacheRef, Runnable, SPACE_ARG};
use crate::ext::view::{PluginConfig, ProjectView, downcast_config};

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
    /// The project, as plugins see it.
    pub project: &'a dyn ProjectView,
    /// The plugin's id (`qik.uv`).
    pub plugin_id: &'a str,
    /// The plugin's parsed `[plugins.<name>]` section.
    pub plugin_config: &'a PluginConfig,
    /// The command's full name, `<plugin name>.<factory name>`.
    pub command: &'a str,
}

impl FactoryCx<'_> {
    /// The plugin's parsed `[plugins.<name>]` section, as the type its parser
    /// returned; an error names the plugin when it is another type.
    pub fn config<T: 'static>(&self) -> Result<&T, Diagnostic> {
        downcast_config(self.plugin_id, self.plugin_config)
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
            cache: CacheRef::Named("local".to_string()),
            cache_when: Default::default(),
            tags: Vec::new(),
            hidden: false,
            env: Vec::new(),
            in_space_env: true,
            native: None,
            executor: None,
            replay_check: None,
            change_check: None,
        }
    }
}
