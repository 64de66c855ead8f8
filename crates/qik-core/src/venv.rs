//! Virtual environments of spaces: the open set of `venv` types.

use std::any::Any;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::deps::CommandDep;
use crate::model::Project;
use crate::registry::{BUILTIN, VENV_TYPES, VenvType, schema_of};
use crate::source::OneOrMany;

/// What a venv is asked about.
pub struct VenvCx<'a> {
    pub project: &'a Project,
    /// The space that defines the venv (after `{type = "space"}` inheritance).
    pub space: &'a str,
}

impl VenvCx<'_> {
    /// Fills `{ctx...}` placeholders of a venv setting (a requirements file
    /// per platform, say).
    pub fn render(&self, text: &str) -> Result<String, crate::diagnostic::Diagnostic> {
        let scope = crate::template::Scope {
            module: None,
            ctx: &self.project.ctx,
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
    /// The command that installs this venv for `qikx --install`, if any.
    fn install_command(&self, cx: &VenvCx<'_>) -> Option<CommandDep> {
        let _ = cx;
        None
    }
}

/// The environment qik itself runs in; qik does not manage it.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveVenv {
    /// Requirement files: inputs of every command of the space.
    #[serde(default)]
    reqs: OneOrMany,
    /// A lock file: an input of every command of the space.
    lock: Option<String>,
}

impl VenvSpec for ActiveVenv {
    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }
    fn lock(&self, _: &VenvCx<'_>) -> Option<String> {
        self.lock.clone()
    }
}

/// Inherits the venv of another space.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SpaceVenv {
    /// The space whose venv this space uses.
    #[schemars(with = "String")]
    name: Spanned<String>,
    /// More requirement files: inputs of every command of this space.
    #[serde(default)]
    reqs: OneOrMany,
    /// A lock file: an input of every command of this space.
    lock: Option<String>,
}

impl VenvSpec for SpaceVenv {
    fn inherits(&self) -> Option<&Spanned<String>> {
        Some(&self.name)
    }
    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }
    fn lock(&self, _: &VenvCx<'_>) -> Option<String> {
        self.lock.clone()
    }
}

#[distributed_slice(VENV_TYPES)]
static ACTIVE: VenvType = VenvType {
    tag: "active",
    plugin: BUILTIN,
    default_for_plugin: false,
    parse: |node| Ok(Box::new(node.deserialize_without::<ActiveVenv>("type")?)),
    from_reqs: Some(|reqs| {
        Box::new(ActiveVenv {
            reqs: OneOrMany(reqs),
            lock: None,
        })
    }),
    schema: Some(schema_of::<ActiveVenv>),
};

#[distributed_slice(VENV_TYPES)]
static SPACE: VenvType = VenvType {
    tag: "space",
    plugin: BUILTIN,
    default_for_plugin: false,
    parse: |node| Ok(Box::new(node.deserialize_without::<SpaceVenv>("type")?)),
    from_reqs: None,
    schema: Some(schema_of::<SpaceVenv>),
};
