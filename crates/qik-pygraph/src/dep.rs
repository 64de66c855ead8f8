//! The `pygraph` dep type: `{type = "pygraph", pyimport = "pkg.mod"}`.
//!
//! A command with this dep depends on the lock of that module in its own
//! space (a hidden `pygraph.lock` runnable) and reads the lock's deps file
//! when hashing: the files of the module and of everything it imports, and
//! the versions of the distributions it imports.

use linkme::distributed_slice;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::DEP_TYPES;
use qik_core::ext::{DepCx, DepSet, DepSpec, parse_typed};
use qik_core::ext::{DepType, schema_of};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::ID;
use crate::commands::lock_deps;

/// A module and everything it imports, transitively: their files and the
/// versions of the distributions they import.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PygraphDep {
    /// The module as Python imports it (`pkg.sub`); may hold `{module...}`
    /// and `{ctx...}` placeholders.
    #[schemars(with = "String")]
    pyimport: Spanned<String>,
}

impl DepSpec for PygraphDep {
    fn resolve(&self, cx: &DepCx<'_>, out: &mut DepSet) -> Result<(), Diagnostic> {
        let pyimport = cx.render(&self.pyimport)?;
        let valid = !pyimport.is_empty()
            && pyimport
                .split('.')
                .all(|part| !part.is_empty() && !part.contains(['/', ' ', '\\']));
        if !valid {
            return Err(Diagnostic::error(
                Code::ConfigParse,
                format!("`{pyimport}` is not a Python import path"),
            )
            .with_label(cx.file, self.pyimport.span(), "not a dotted module name")
            .with_hint("write the module as Python imports it, e.g. `pkg.sub` (not `pkg/sub`)"));
        }
        let (command, load) = lock_deps(cx.project, &pyimport, cx.space)?;
        out.commands.push(command);
        out.loads.insert(load);
        Ok(())
    }
}

#[distributed_slice(DEP_TYPES)]
static PYGRAPH: DepType = DepType {
    tag: "pygraph",
    plugin: ID,
    parse: parse_typed::<PygraphDep>,
    schema: Some(schema_of::<PygraphDep>),
};
