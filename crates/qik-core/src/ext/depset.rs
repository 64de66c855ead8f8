//! What dependencies resolve to: the closed set of a runnable's inputs.
//!
//! Globs of git-tracked files, constants, Python distributions, files of
//! serialized deps, and upstream commands. Everything that hashing, `--since`
//! and the graph need is in this structure, so plugins never touch them.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use crate::source::SourceFile;

/// A dependency on another command's runnables.
#[derive(Clone, Debug)]
pub struct CommandDep {
    /// The command's name as written (`lint`, `my_module/test`, `uv.install`).
    pub name: String,
    /// Arguments of a parametrized plugin command (e.g. `space`).
    pub args: BTreeMap<String, String>,
    /// Runs of the upstream re-select this one under `--since` / `--watch`.
    pub strict: bool,
    /// `None` follows `--isolated`; `Some(false)` always brings the upstream in.
    pub isolated: Option<bool>,
    /// Where the dependency was written (absent when a plugin injects it).
    pub origin: Option<(Arc<SourceFile>, Range<usize>)>,
}

/// A file of serialized deps (written by e.g. `pygraph.lock`), read when hashing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoadDep {
    pub path: String,
    /// Globs to use while the file does not exist yet.
    pub default: Vec<String>,
}

/// All inputs of one runnable, in deterministic order.
#[derive(Clone, Debug, Default)]
pub struct DepSet {
    pub globs: BTreeSet<String>,
    pub consts: BTreeSet<String>,
    pub pydists: BTreeSet<String>,
    pub loads: BTreeSet<LoadDep>,
    pub commands: Vec<CommandDep>,
}

impl DepSet {
    /// Adds every input of `other` (e.g. `[base] deps` to a plugin's runnable).
    pub fn extend(&mut self, other: DepSet) {
        self.globs.extend(other.globs);
        self.consts.extend(other.consts);
        self.pydists.extend(other.pydists);
        self.loads.extend(other.loads);
        self.commands.extend(other.commands);
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
            && self.consts.is_empty()
            && self.pydists.is_empty()
            && self.loads.is_empty()
            && self.commands.is_empty()
    }
}
