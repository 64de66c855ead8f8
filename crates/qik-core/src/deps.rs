//! Command dependencies: the open set of `deps` types and what they resolve to.
//!
//! A dependency type (built in or from a plugin) parses its TOML once into a
//! [`DepSpec`]. For each runnable, the spec adds its inputs to a [`DepSet`]:
//! globs of git-tracked files, constants, Python distributions, files of
//! serialized deps, and upstream commands. Everything that hashing, `--since`
//! and the graph need is in that closed structure, so plugins never touch them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::registry::{BUILTIN, DEP_TYPES, DepType, schema_of};
use crate::source::{Node, SourceFile};
use crate::template::{self, Scope};

/// A parsed `deps` entry.
pub trait DepSpec: Send + Sync + fmt::Debug {
    /// Adds this dependency's inputs for one runnable.
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic>;
}

/// What a dependency is resolved against: the runnable's module and space.
pub struct DepCx<'a> {
    /// For plugin names and anything else a dep type needs to look up.
    pub project: &'a crate::model::Project,
    pub scope: Scope<'a>,
    pub space: &'a str,
    /// The file the dependency was written in, for messages.
    pub file: &'a Arc<SourceFile>,
}

impl DepCx<'_> {
    /// Fills `{module...}` and `{ctx...}` placeholders of a config string.
    pub fn render(&self, value: &Spanned<String>) -> Result<String, Diagnostic> {
        template::render_at(value.get_ref(), self.scope, self.file, value.span())
    }
}

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
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
            && self.consts.is_empty()
            && self.pydists.is_empty()
            && self.loads.is_empty()
            && self.commands.is_empty()
    }
}

/// Parses one `deps` entry: a glob string, or a table with a `type`.
pub(crate) fn parse_glob_shorthand(node: Node<'_>) -> Option<Box<dyn DepSpec>> {
    node.as_str().map(|_| {
        Box::new(Glob {
            pattern: node
                .deserialize::<Spanned<String>>()
                .expect("a string deserializes as a string"),
        }) as Box<dyn DepSpec>
    })
}

/// Git-tracked files matching a pattern; the string form `"src/**.py"` is
/// the same dep.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Glob {
    /// A git pathspec: `*` also crosses `/`, a directory matches everything
    /// below it. May hold `{module...}` and `{ctx...}` placeholders.
    #[schemars(with = "String")]
    pattern: Spanned<String>,
}

impl DepSpec for Glob {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        out.globs.insert(cx.render(&self.pattern)?);
        Ok(())
    }
}

/// A constant string, hashed as it is.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Const {
    /// The value; may hold `{module...}` and `{ctx...}` placeholders.
    #[schemars(with = "String")]
    val: Spanned<String>,
}

impl DepSpec for Const {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        out.consts.insert(cx.render(&self.val)?);
        Ok(())
    }
}

/// Another command: its runnables run first, and their artifacts are inputs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Command {
    /// The command's name (`lint`, `my_module/test`, `uv.install`).
    #[schemars(with = "String")]
    name: Spanned<String>,
    /// Runs of the upstream command re-select this one under `--since` and
    /// `--watch`.
    #[serde(default)]
    strict: bool,
    /// `false` brings the upstream command in even under `--isolated`.
    isolated: Option<bool>,
}

impl DepSpec for Command {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        out.commands.push(CommandDep {
            name: cx.render(&self.name)?,
            args: BTreeMap::new(),
            strict: self.strict,
            isolated: self.isolated,
            origin: Some((Arc::clone(cx.file), self.name.span())),
        });
        Ok(())
    }
}

/// The installed version of a Python distribution.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Pydist {
    /// The distribution's name, as installed (`requests`).
    #[schemars(with = "String")]
    name: Spanned<String>,
}

impl DepSpec for Pydist {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        out.pydists.insert(cx.render(&self.name)?);
        Ok(())
    }
}

/// The globs and distributions listed in a JSON file that a command writes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Load {
    /// The JSON file (`{"globs": [...], "pydists": [...]}`).
    #[schemars(with = "String")]
    path: Spanned<String>,
    /// Globs to use while the file does not exist yet.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    default: Vec<Spanned<String>>,
}

impl DepSpec for Load {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        let default = self
            .default
            .iter()
            .map(|glob| cx.render(glob))
            .collect::<Result<_, _>>()?;
        out.loads.insert(LoadDep {
            path: cx.render(&self.path)?,
            default,
        });
        Ok(())
    }
}

/// Deserializes a dep table, ignoring its `type` key (already dispatched on).
pub fn parse_typed<T>(node: Node<'_>) -> Result<Box<dyn DepSpec>, Diagnostic>
where
    T: DepSpec + serde::de::DeserializeOwned + 'static,
{
    Ok(Box::new(node.deserialize_without::<T>("type")?))
}

#[distributed_slice(DEP_TYPES)]
static GLOB: DepType = DepType {
    tag: "glob",
    plugin: BUILTIN,
    parse: parse_typed::<Glob>,
    schema: Some(schema_of::<Glob>),
};

#[distributed_slice(DEP_TYPES)]
static CONST: DepType = DepType {
    tag: "const",
    plugin: BUILTIN,
    parse: parse_typed::<Const>,
    schema: Some(schema_of::<Const>),
};

#[distributed_slice(DEP_TYPES)]
static COMMAND: DepType = DepType {
    tag: "command",
    plugin: BUILTIN,
    parse: parse_typed::<Command>,
    schema: Some(schema_of::<Command>),
};

#[distributed_slice(DEP_TYPES)]
static PYDIST: DepType = DepType {
    tag: "pydist",
    plugin: BUILTIN,
    parse: parse_typed::<Pydist>,
    schema: Some(schema_of::<Pydist>),
};

#[distributed_slice(DEP_TYPES)]
static LOAD: DepType = DepType {
    tag: "load",
    plugin: BUILTIN,
    parse: parse_typed::<Load>,
    schema: Some(schema_of::<Load>),
};
