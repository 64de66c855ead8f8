//! The built-in dep types: `glob` (and the string shorthand), `const`,
//! `command`, `pydist` and `load`, registered like a plugin's.

use std::collections::BTreeMap;
use std::sync::Arc;

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::ext::deps::{DepCx, DepSpec, parse_typed};
use crate::ext::depset::{CommandDep, DepSet, LoadDep};
use crate::ext::registry::{BUILTIN, DEP_TYPES, DepType, schema_of};
use crate::source::Node;

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
