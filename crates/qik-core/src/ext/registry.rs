//! Extension points: plugins register into linkme distributed slices.
//!
//! Every entry is a plain record of names and factory functions; registering
//! does no work, so a binary with many plugins still starts instantly. The
//! built-in types (`glob`, `local`, `active`, ...) register through the same
//! slices as plugins, under the plugin id [`BUILTIN`].
//!
//! Link order is not a promise: [`Registry`] sorts entries and checks that every
//! name is unique before anything looks them up.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use linkme::distributed_slice;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::diagnostic::Diagnostic;
use crate::ext::cache::CacheBackend;
use crate::ext::deps::DepSpec;
use crate::ext::executor::Executor;
use crate::ext::factory::CommandFactory;
use crate::ext::view::{PluginConfig, VenvSpec};
use crate::source::Node;

/// The plugin id of the types that ship with qik-core; always enabled.
pub const BUILTIN: &str = "qik";

/// A plugin compiled into this binary.
pub struct PluginDef {
    /// The id users write in `[plugins]`, e.g. `"qik.uv"`.
    pub id: &'static str,
    /// Parses the plugin's `[plugins.<name>]` table (`None` when the plugin is
    /// enabled with the string form). The `pyimport` key is removed by core.
    pub config: fn(Option<Node<'_>>) -> Result<PluginConfig, Diagnostic>,
    /// Commands the plugin ships, as the text of a qik.toml with a
    /// `[commands]` table. They are named `<plugin name>.<command>`.
    pub commands: &'static str,
    /// Commands built in code, with arguments (see [`crate::ext::CommandFactory`]); also
    /// named `<plugin name>.<command>`.
    pub factories: &'static [CommandFactory],
    /// The keys of `[plugins.<name>]` besides `pyimport`, for the JSON Schema
    /// of qik.toml ([`crate::schema`]); `None` accepts any keys.
    pub schema: Option<SchemaFn>,
}

impl PluginDef {
    /// A plugin whose `[plugins.<name>]` takes no keys besides `pyimport`
    /// and that ships no commands: only types registered in other slices.
    pub const fn types_only(id: &'static str) -> PluginDef {
        PluginDef {
            id,
            config: parse_no_settings,
            commands: "",
            factories: &[],
            schema: Some(schema_of::<NoSettings>),
        }
    }
}

/// The plugin takes no keys besides `pyimport`.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoSettings {}

fn parse_no_settings(node: Option<Node<'_>>) -> Result<PluginConfig, Diagnostic> {
    if let Some(node) = node {
        node.deserialize_without::<NoSettings>("pyimport")?;
    }
    Ok(Arc::new(NoSettings::default()))
}

/// A `type = "..."` of a command dependency.
pub struct DepType {
    pub tag: &'static str,
    /// The id of the plugin that must be enabled to use this type.
    pub plugin: &'static str,
    pub parse: fn(Node<'_>) -> Result<Box<dyn DepSpec>, Diagnostic>,
    /// The keys of the table besides `type`, for the JSON Schema of qik.toml;
    /// `None` accepts any keys.
    pub schema: Option<SchemaFn>,
}

/// A `type = "..."` of a `[caches.<name>]` entry.
pub struct CacheType {
    pub tag: &'static str,
    pub plugin: &'static str,
    /// Receives the cache's name and its table.
    pub parse: fn(&str, Node<'_>) -> Result<CacheBackend, Diagnostic>,
    /// The keys of the table besides `type`, for the JSON Schema of qik.toml;
    /// `None` accepts any keys.
    pub schema: Option<SchemaFn>,
}

/// A `type = "..."` of a space's `venv`.
pub struct VenvType {
    pub tag: &'static str,
    pub plugin: &'static str,
    pub parse: fn(Node<'_>) -> Result<Box<dyn VenvSpec>, Diagnostic>,
    /// Whether and how the type takes the shorthand `venv = "reqs.txt"` /
    /// `["a.txt", "b.txt"]`.
    pub reqs_shorthand: ReqsShorthand,
    /// The keys of the table besides `type`, for the JSON Schema of qik.toml;
    /// `None` accepts any keys.
    pub schema: Option<SchemaFn>,
}

/// A `type = "..."` of an `[executors.<name>]` entry.
pub struct ExecutorType {
    pub tag: &'static str,
    pub plugin: &'static str,
    /// Receives the executor's name and its table.
    pub parse: ParseExecutor,
    /// The keys of the table besides `type`, for the JSON Schema of qik.toml;
    /// `None` accepts any keys.
    pub schema: Option<SchemaFn>,
}

/// Parses an executor's table, given the executor's name.
pub type ParseExecutor = fn(&str, Node<'_>) -> Result<Arc<dyn Executor>, Diagnostic>;

/// Builds a venv from requirement files alone.
pub type VenvFromReqs = fn(Vec<String>) -> Box<dyn VenvSpec>;

/// What a venv type does with the shorthand `venv = "reqs.txt"`.
#[derive(Clone, Copy)]
pub enum ReqsShorthand {
    /// Only the table form makes a venv of this type.
    Refused,
    /// `{type = "<tag>", ...}` with requirement files only is this function.
    Accepted(VenvFromReqs),
    /// The shorthand means this type (instead of `active`) whenever the
    /// type's plugin is enabled.
    Default(VenvFromReqs),
}

impl ReqsShorthand {
    /// The venv the shorthand builds, when this type is its default.
    pub fn default_builder(self) -> Option<VenvFromReqs> {
        match self {
            ReqsShorthand::Default(build) => Some(build),
            _ => None,
        }
    }

    /// The venv the shorthand builds with this type, if it takes it.
    pub fn builder(self) -> Option<VenvFromReqs> {
        match self {
            ReqsShorthand::Refused => None,
            ReqsShorthand::Accepted(build) | ReqsShorthand::Default(build) => Some(build),
        }
    }
}

/// Describes the keys of a table as a JSON Schema (an object schema). Only
/// called by [`crate::config::json_schema`] (`cargo xtask schema`), never
/// while running.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The [`SchemaFn`] of a struct deriving [`JsonSchema`], usually the one the
/// record's `parse` deserializes: `schema: Some(schema_of::<MyDep>)`.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    // Inline rather than a `$ref`: core adds the `type` (or `pyimport`) key
    // to the object's properties.
    T::json_schema(generator)
}

#[distributed_slice]
pub static PLUGINS: [PluginDef];

#[distributed_slice]
pub static DEP_TYPES: [DepType];

#[distributed_slice]
pub static CACHE_TYPES: [CacheType];

#[distributed_slice]
pub static VENV_TYPES: [VenvType];

#[distributed_slice]
pub static EXECUTOR_TYPES: [ExecutorType];

/// The lookup tables built from the slices, once per process.
pub struct Registry {
    plugins: BTreeMap<&'static str, &'static PluginDef>,
    dep_types: BTreeMap<&'static str, &'static DepType>,
    cache_types: BTreeMap<&'static str, &'static CacheType>,
    venv_types: BTreeMap<&'static str, &'static VenvType>,
    executor_types: BTreeMap<&'static str, &'static ExecutorType>,
    /// Names that two entries of this binary claim, as messages.
    conflicts: Vec<String>,
}

/// Indexes entries by name; a name claimed twice keeps its first claim (in
/// link order) and is recorded as a conflict naming both owners.
fn index<T>(
    kind: &str,
    entries: &'static [T],
    key: impl Fn(&T) -> (&'static str, &'static str),
    conflicts: &mut Vec<String>,
) -> BTreeMap<&'static str, &'static T> {
    let mut map: BTreeMap<&'static str, &'static T> = BTreeMap::new();
    for entry in entries {
        let (name, owner) = key(entry);
        if let Some(first) = map.get(name) {
            let (_, first_owner) = key(first);
            let mut owners = [first_owner, owner];
            owners.sort_unstable();
            conflicts.push(format!(
                "{kind} `{name}` is registered by both `{}` and `{}`",
                owners[0], owners[1]
            ));
        } else {
            map.insert(name, entry);
        }
    }
    map
}

impl Registry {
    /// The registry of this binary.
    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let mut conflicts = Vec::new();
            let registry = Registry {
                plugins: index("plugin", &PLUGINS, |p| (p.id, p.id), &mut conflicts),
                dep_types: index(
                    "dep type",
                    &DEP_TYPES,
                    |t| (t.tag, t.plugin),
                    &mut conflicts,
                ),
                cache_types: index(
                    "cache type",
                    &CACHE_TYPES,
                    |t| (t.tag, t.plugin),
                    &mut conflicts,
                ),
                venv_types: index(
                    "venv type",
                    &VENV_TYPES,
                    |t| (t.tag, t.plugin),
                    &mut conflicts,
                ),
                executor_types: index(
                    "executor type",
                    &EXECUTOR_TYPES,
                    |t| (t.tag, t.plugin),
                    &mut conflicts,
                ),
                conflicts: Vec::new(),
            };
            let mut duplicate_commands = Vec::new();
            for plugin in registry.plugins.values() {
                let mut seen = std::collections::BTreeSet::new();
                for factory in plugin.factories {
                    if !seen.insert(factory.name) {
                        duplicate_commands.push(format!(
                            "command `{}` is registered twice by `{}`",
                            factory.name, plugin.id
                        ));
                    }
                }
            }
            conflicts.extend(duplicate_commands);
            conflicts.sort();
            Registry {
                conflicts,
                ..registry
            }
        })
    }

    /// The registry, or an error when two compiled-in plugins claim one name
    /// (a plugin id, a type tag, a command): the binary cannot tell which
    /// one a qik.toml means.
    pub fn checked() -> Result<&'static Registry, Diagnostic> {
        let registry = Registry::get();
        match registry.conflicts.as_slice() {
            [] => Ok(registry),
            conflicts => Err(Diagnostic::error(
                crate::diagnostic::Code::General,
                format!(
                    "this qik binary has conflicting plugins: {}",
                    conflicts.join("; ")
                ),
            )
            .with_hint(
                "rename the type or command in one of the plugins, or build qik without one of them",
            )),
        }
    }

    pub fn plugin(&self, id: &str) -> Option<&'static PluginDef> {
        self.plugins.get(id).copied()
    }

    /// Ids of the plugins compiled in (without the built-in one), sorted.
    pub fn plugin_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.plugins.keys().copied().filter(|id| *id != BUILTIN)
    }

    pub fn dep_type(&self, tag: &str) -> Option<&'static DepType> {
        self.dep_types.get(tag).copied()
    }

    pub fn dep_types(&self) -> impl Iterator<Item = &'static DepType> + '_ {
        self.dep_types.values().copied()
    }

    pub fn cache_type(&self, tag: &str) -> Option<&'static CacheType> {
        self.cache_types.get(tag).copied()
    }

    pub fn cache_types(&self) -> impl Iterator<Item = &'static CacheType> + '_ {
        self.cache_types.values().copied()
    }

    pub fn venv_type(&self, tag: &str) -> Option<&'static VenvType> {
        self.venv_types.get(tag).copied()
    }

    pub fn venv_types(&self) -> impl Iterator<Item = &'static VenvType> + '_ {
        self.venv_types.values().copied()
    }

    pub fn executor_type(&self, tag: &str) -> Option<&'static ExecutorType> {
        self.executor_types.get(tag).copied()
    }

    pub fn executor_types(&self) -> impl Iterator<Item = &'static ExecutorType> + '_ {
        self.executor_types.values().copied()
    }
}
