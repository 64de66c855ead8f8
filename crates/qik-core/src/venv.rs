//! Virtual environments of spaces: the open set of `venv` types.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use linkme::distributed_slice;
use serde::Deserialize;
use toml::Spanned;

use crate::deps::CommandDep;
use crate::registry::{BUILTIN, VENV_TYPES, VenvType};
use crate::source::OneOrMany;

/// What a venv is asked about.
pub struct VenvCx<'a> {
    pub root: &'a Path,
    /// The space that defines the venv (after `{type = "space"}` inheritance).
    pub space: &'a str,
}

/// A parsed `venv` of a space.
pub trait VenvSpec: Send + Sync + fmt::Debug {
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
    fn lock(&self) -> Option<&str> {
        None
    }
    /// Runnables that must run before any command of `space` (e.g. locking
    /// and installing the venv). They are injected as strict command deps.
    fn runnable_deps(&self, space: &str) -> Vec<CommandDep> {
        let _ = space;
        Vec::new()
    }
}

/// The environment qik itself runs in; qik does not manage it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveVenv {
    #[serde(default)]
    reqs: OneOrMany,
    lock: Option<String>,
}

impl VenvSpec for ActiveVenv {
    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }
    fn lock(&self) -> Option<&str> {
        self.lock.as_deref()
    }
}

/// Inherits the venv of another space.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceVenv {
    name: Spanned<String>,
    #[serde(default)]
    reqs: OneOrMany,
    lock: Option<String>,
}

impl VenvSpec for SpaceVenv {
    fn inherits(&self) -> Option<&Spanned<String>> {
        Some(&self.name)
    }
    fn reqs(&self) -> &[String] {
        &self.reqs.0
    }
    fn lock(&self) -> Option<&str> {
        self.lock.as_deref()
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
};

#[distributed_slice(VENV_TYPES)]
static SPACE: VenvType = VenvType {
    tag: "space",
    plugin: BUILTIN,
    default_for_plugin: false,
    parse: |node| Ok(Box::new(node.deserialize_without::<SpaceVenv>("type")?)),
    from_reqs: None,
};
