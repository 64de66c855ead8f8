//! The project as plugins see it: a narrow, read-only view that the model
//! implements, and the spaces' venvs, which are part of that view.
//!
//! Plugins never see the configuration or the model: only the root, the
//! context variables, spaces with their fences and venvs, their own typed
//! config, and naming helpers. So the model can change without breaking them.

use std::any::Any;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::ctx::Ctx;
use crate::diagnostic::Diagnostic;
use crate::ext::cache::RemoteCache;
use crate::ext::depset::{CommandDep, DepSet};
use crate::module::Module;

/// The name of the space of commands that do not name one.
pub const DEFAULT_SPACE: &str = "default";

/// A plugin's parsed `[plugins.<name>]` section, downcast by the plugin itself.
pub type PluginConfig = std::sync::Arc<dyn Any + Send + Sync>;

/// The read-only view of a project that extension points receive.
pub trait ProjectView: Send + Sync {
    /// The directory of the root qik.toml; commands run here.
    fn root(&self) -> &Path;
    /// The context variables (`{ctx...}`).
    fn ctx(&self) -> &Ctx;
    /// Every space's name, sorted; `default` is always one.
    fn space_names(&self) -> Vec<&str>;
    /// Whether `name` is a space of the project (`default` always is).
    fn has_space(&self, name: &str) -> bool;
    /// The directories a space's fence encloses, sorted; `None` when the
    /// space has no fence.
    fn fence_of(&self, space: &str) -> Result<Option<Vec<String>>, Diagnostic>;
    /// The venv a space uses, following `{type = "space"}` inheritance;
    /// `None` means the environment qik runs in.
    fn venv_of(&self, space: &str) -> Result<Option<SpaceVenv<'_>>, Diagnostic>;
    /// The name an enabled plugin has in `[plugins]` (`uv` for `uv = "qik.uv"`).
    fn plugin_name(&self, id: &str) -> Option<&str>;
    /// An enabled plugin's parsed `[plugins.<name>]` section.
    fn plugin_config(&self, id: &str) -> Option<&PluginConfig>;
    /// The project's caches of plugin types, by name; a plugin finds its
    /// own by downcasting (`RemoteCache` is `Any`).
    fn remote_caches(&self) -> Vec<(&str, &dyn RemoteCache)>;
    /// `<cmd>[@<space>][#<module>][?k=v&...]`, the runnable names users see.
    fn runnable_name(
        &self,
        command: &str,
        space: &str,
        module: Option<&Module>,
        args: &BTreeMap<String, String>,
    ) -> String;
    /// `[defaults] cache` with its placeholders filled, if it is set.
    fn default_cache(&self) -> Result<Option<String>, Diagnostic>;
    /// `[defaults] python-path`: where module import paths start.
    fn python_path(&self) -> &str;
    /// `[pydist] modules`: the distribution of an imported module.
    fn pydist_modules(&self) -> &BTreeMap<String, String>;
    /// `[pydist] ignore-missing-modules`.
    fn ignore_missing_modules(&self) -> bool;
    /// `[base] deps` resolved for a space: every runnable has them.
    fn base_deps(&self, space: &str) -> Result<DepSet, Diagnostic>;
}

impl dyn ProjectView + '_ {
    /// An enabled plugin's config as the type its parser returned; an error
    /// names the plugin when it is not enabled or is another type.
    pub fn config<T: 'static>(&self, id: &str) -> Result<&T, Diagnostic> {
        let config = self.plugin_config(id).ok_or_else(|| {
            Diagnostic::error(
                crate::diagnostic::Code::PluginNotFound,
                format!("plugin `{id}` is not enabled in this project"),
            )
            .with_hint(format!(
                "enable it under [plugins], for example `x = \"{id}\"`"
            ))
        })?;
        crate::ext::view::downcast_config(id, config)
    }
}

/// A plugin's config as the type its parser returned.
pub fn downcast_config<'a, T: 'static>(
    plugin_id: &str,
    config: &'a PluginConfig,
) -> Result<&'a T, Diagnostic> {
    config.downcast_ref::<T>().ok_or_else(|| {
        Diagnostic::error(
            crate::diagnostic::Code::General,
            format!(
                "plugin `{plugin_id}` asked for its configuration as `{}`, which is not the type its parser returned",
                std::any::type_name::<T>()
            ),
        )
        .with_hint("this is a bug in the plugin: `PluginDef::config` and the plugin's commands must agree on one type")
    })
}

/// The venv of a space.
#[derive(Clone, Copy)]
pub struct SpaceVenv<'a> {
    /// Its `type` tag.
    pub tag: &'static str,
    pub spec: &'a dyn VenvSpec,
    /// The space that defines it (after inheritance).
    pub owner: &'a str,
}

/// What a venv is asked about.
pub struct VenvCx<'a> {
    /// The project, as plugins see it.
    pub project: &'a dyn ProjectView,
    /// The space that defines the venv (after `{type = "space"}` inheritance).
    pub space: &'a str,
}

impl VenvCx<'_> {
    /// Fills `{ctx...}` placeholders of a venv setting (a requirements file
    /// per platform, say).
    pub fn render(&self, text: &str) -> Result<String, crate::diagnostic::Diagnostic> {
        let scope = crate::template::Scope {
            module: None,
            ctx: self.project.ctx(),
        };
        crate::template::render(text, scope).map_err(|err| {
            crate::diagnostic::Diagnostic::error(
                err.code,
                format!("in the venv of space `{}`: {}", self.space, err.message),
            )
            .with_hint(err.hint)
        })
    }
}

/// A parsed `venv` of a space.
///
/// Plugins find their own venvs again by downcasting (`&dyn Any`).
pub trait VenvSpec: Any + Send + Sync + fmt::Debug {
    /// Variables that activate the venv for a command (`VIRTUAL_ENV`, `PATH`),
    /// set on top of the process environment.
    fn environ(&self, cx: &VenvCx<'_>) -> Vec<(OsString, OsString)> {
        let _ = cx;
        Vec::new()
    }
    /// `{type = "space", name = ...}`: use another space's venv.
    fn inherits(&self) -> Option<&Spanned<String>> {
        None
    }
    /// Requirement files; they are deps of every command of the space.
    fn reqs(&self) -> &[String];
    /// The lock file, if there is one; a dep of every command of the space.
    fn lock(&self, cx: &VenvCx<'_>) -> Option<String> {
        let _ = cx;
        None
    }
    /// Every file the venv is made from (requirements, lock, constraints),
    /// placeholders filled: deps of every command of the space, so a changed
    /// venv re-runs them.
    fn inputs(&self, cx: &VenvCx<'_>) -> Result<Vec<String>, crate::diagnostic::Diagnostic> {
        let mut inputs = Vec::new();
        for file in self.reqs().iter().cloned().chain(self.lock(cx)) {
            inputs.push(cx.render(&file)?);
        }
        Ok(inputs)
    }
    /// Runnables that must run before any command of the space (e.g.
    /// locking and installing the venv). They are injected as strict deps.
    fn runnable_deps(&self, cx: &VenvCx<'_>) -> Vec<CommandDep> {
        let _ = cx;
        Vec::new()
    }
    /// The site-packages directories `pydist` deps read versions from;
    /// `None` means the active environment's.
    fn site_packages(&self, cx: &VenvCx<'_>) -> Option<Vec<PathBuf>> {
        let _ = cx;
        None
    }
    /// The versions the venv's lock pins, by normalised distribution name,
    /// read without starting Python. `pydist` deps use them for a
    /// distribution the venv does not have (not installed yet, say), so a
    /// hash is the same before and after the install. `None`: no lock.
    fn locked_versions(
        &self,
        cx: &VenvCx<'_>,
    ) -> Result<Option<BTreeMap<String, String>>, crate::diagnostic::Diagnostic> {
        let _ = cx;
        Ok(None)
    }
    /// The command that installs this venv for `qikx --install`, if any.
    fn install_command(&self, cx: &VenvCx<'_>) -> Option<CommandDep> {
        let _ = cx;
        None
    }
}
