//! The JSON Schema of qik.toml: the parts the registry contributes.
//!
//! Editors (taplo, Even Better TOML) complete and check qik.toml against
//! `schema/qik.schema.json`, which `cargo xtask schema` writes from
//! [`crate::config::json_schema`]. The fixed tables come from the config's
//! serde structs (derived with schemars); the positions whose type a plugin
//! chooses (`deps` entries, `[caches.*]`, `venv`, `[plugins.*]`) are
//! described here from the [`Registry`], each record's
//! [`SchemaFn`] giving the keys of its table.
//!
//! Nothing here runs when qik runs: schemas are built on request only.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::ext::{BUILTIN, Registry, SchemaFn};

/// Keys of a field's schema that list other spellings serde accepts for it
/// (`#[serde(alias)]`, which schemars does not read); see [`Aliases`].
const ALIASES_KEY: &str = "x-aliases";

/// A generator for qik.toml's schema: draft 7, which taplo understands.
pub(crate) fn generator() -> SchemaGenerator {
    SchemaSettings::draft07()
        .with(|settings| {
            // No `$ref`: taplo reads a description beside a `$ref` nowhere,
            // and shows the one in the schema it lands on.
            settings.inline_subschemas = true;
            // Ours first: the draft's own transforms see their result.
            settings.transforms.splice(
                0..0,
                [
                    Box::new(Aliases) as Box<dyn schemars::generate::GenTransform>,
                    Box::new(NoNull),
                    Box::new(Tidy),
                    Box::new(ConstEnums),
                ],
            );
        })
        .into_generator()
}

/// Keywords that only constrain values of one JSON type, or only annotate:
/// alternatives made of these and of distinct types can be merged.
const MERGEABLE: &[&str] = &[
    "type",
    "description",
    "default",
    "deprecated",
    "x-taplo",
    "properties",
    "additionalProperties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
];

/// Tidies a generated root schema for editors.
///
/// `anyOf` alternatives of distinct types (a string or a table, a bool or a
/// list) become one schema with a list of types: it accepts the same values,
/// and a validator then reports a wrong key or value where it is, rather
/// than "not valid under any of the schemas" for the whole table.
pub(crate) fn finish(mut schema: Schema) -> Schema {
    merge_by_type(schema.as_object_mut().expect("an object schema"));
    schema
}

fn merge_by_type(object: &mut Map<String, Value>) {
    // Inner alternatives first: a merged one may then merge with its siblings.
    for value in object.values_mut() {
        match value {
            Value::Object(child) => merge_by_type(child),
            Value::Array(items) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    merge_by_type(item);
                }
            }
            _ => {}
        }
    }
    let Some(Value::Array(options)) = object.get_mut("anyOf") else {
        return;
    };
    // `anyOf: [a, {anyOf: [b, c]}]` is `anyOf: [a, b, c]`.
    *options = std::mem::take(options)
        .into_iter()
        .flat_map(|option| match option {
            Value::Object(mut inner)
                if inner.keys().all(|k| k == "anyOf" || k == "description") =>
            {
                match inner.remove("anyOf") {
                    Some(Value::Array(nested)) => nested,
                    _ => vec![Value::Object(inner)],
                }
            }
            other => vec![other],
        })
        .collect();
    let mut types: Vec<Value> = Vec::new();
    for option in options {
        let Some(option) = option.as_object() else {
            return;
        };
        let option_types = match option.get("type") {
            Some(Value::String(_)) => vec![option["type"].clone()],
            Some(Value::Array(list)) => list.clone(),
            _ => return,
        };
        if option_types.iter().any(|t| types.contains(t))
            || option.keys().any(|k| !MERGEABLE.contains(&k.as_str()))
        {
            return;
        }
        types.extend(option_types);
    }
    // Every integer is a number: their keywords would constrain each other.
    if types.contains(&json!("integer")) && types.contains(&json!("number")) {
        return;
    }
    let Some(Value::Array(options)) = object.remove("anyOf") else {
        unreachable!("checked above");
    };
    object.insert("type".into(), Value::Array(types));
    for option in options {
        let Value::Object(option) = option else {
            unreachable!("checked above");
        };
        for (key, value) in option {
            // The parent's words describe the whole; the types are set above.
            if !matches!(key.as_str(), "type" | "description" | "default") {
                object.insert(key, value);
            }
        }
    }
}

/// The schema as it is committed: pretty JSON with sorted keys (whatever
/// serde_json's features) and a final newline.
pub fn to_json(schema: &Schema) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(object) => {
                let mut entries: Vec<_> = object.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text =
        serde_json::to_string_pretty(&sorted(schema.as_value())).expect("a schema serializes");
    text.push('\n');
    text
}

/// Adds the other spellings a field lists under [`ALIASES_KEY`] as
/// properties of their own, hidden from taplo's completion.
#[derive(Clone)]
struct Aliases;

impl Transform for Aliases {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            let mut added = Vec::new();
            for (name, property) in properties.iter_mut() {
                let Some(Value::Array(aliases)) = property
                    .as_object_mut()
                    .and_then(|property| property.remove(ALIASES_KEY))
                else {
                    continue;
                };
                for alias in aliases.iter().filter_map(Value::as_str) {
                    let mut copy = property.clone();
                    if let Some(copy) = copy.as_object_mut() {
                        copy.insert(
                            "description".into(),
                            format!("Another spelling of `{name}`.").into(),
                        );
                        copy.insert("x-taplo".into(), json_object([("hidden", true.into())]));
                    }
                    added.push((alias.to_string(), copy));
                }
            }
            properties.extend(added);
        }
        transform_subschemas(self, schema);
    }
}

/// TOML has no null: an `Option` field is absent, never null.
#[derive(Clone)]
struct NoNull;

impl Transform for NoNull {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(Value::Array(types)) = schema.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                schema.insert("type".into(), only);
            }
        }
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(options)) = schema.get_mut(key) else {
                continue;
            };
            options.retain(|option| option.get("type").is_none_or(|t| t != "null"));
            if let [only] = options.as_slice() {
                // `anyOf: [X]` is X; keep what sits beside it (a description).
                let only = only.clone();
                schema.remove(key);
                if let (Some(target), Value::Object(only)) = (schema.as_object_mut(), only) {
                    for (k, v) in only {
                        target.entry(k).or_insert(v);
                    }
                }
            }
        }
        transform_subschemas(self, schema);
    }
}

/// Joins the lines of each paragraph of a description (doc comments keep
/// their line breaks; an editor lays the text out itself), and drops
/// `format`.
#[derive(Clone)]
struct Tidy;

impl Transform for Tidy {
    fn transform(&mut self, schema: &mut Schema) {
        // Not the standard formats (`double`, `int64`): Rust's types, which
        // say nothing about a TOML value.
        schema.remove("format");
        if let Some(Value::String(text)) = schema.get_mut("description") {
            *text = text
                .split("\n\n")
                .map(|paragraph| {
                    paragraph
                        .split('\n')
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n\n");
        }
        transform_subschemas(self, schema);
    }
}

/// A closed set of strings becomes an `enum`, which editors offer as
/// completions and name in their complaint about a wrong value; a single
/// `const` string too. schemars
/// writes an enum whose variants have doc comments as a `oneOf` of
/// `const`s; their descriptions move to taplo's `x-taplo.docs.enumValues`
/// (in the order of `enum`).
#[derive(Clone)]
struct ConstEnums;

impl Transform for ConstEnums {
    fn transform(&mut self, schema: &mut Schema) {
        // One allowed string (a tag of a tagged table) is an enum of one.
        if let Some(value) = schema.get("const").filter(|c| c.is_string()).cloned() {
            schema.remove("const");
            schema.insert("type".into(), "string".into());
            schema.insert("enum".into(), Value::Array(vec![value]));
        }
        for key in ["oneOf", "anyOf"] {
            let Some(Value::Array(options)) = schema.get(key) else {
                continue;
            };
            let Some(values) = const_strings(options) else {
                continue;
            };
            let (values, descriptions): (Vec<Value>, Vec<Option<Value>>) =
                values.into_iter().unzip();
            schema.remove(key);
            schema.insert("type".into(), "string".into());
            schema.insert("enum".into(), Value::Array(values));
            if let Some(descriptions) = descriptions.into_iter().collect::<Option<Vec<_>>>() {
                let taplo = schema
                    .as_object_mut()
                    .expect("an object schema")
                    .entry("x-taplo")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(taplo) = taplo {
                    taplo.insert(
                        "docs".into(),
                        json_object([("enumValues", Value::Array(descriptions))]),
                    );
                }
            }
        }
        transform_subschemas(self, schema);
    }
}

/// Each option's string `const` and description, when every option is only
/// that (a `type` of `string` at most).
fn const_strings(options: &[Value]) -> Option<Vec<(Value, Option<Value>)>> {
    if options.is_empty() {
        return None;
    }
    options
        .iter()
        .map(|option| {
            let option = option.as_object()?;
            let value = option.get("const").filter(|c| c.is_string())?;
            let only_const = option.iter().all(|(k, v)| match k.as_str() {
                "const" | "description" => true,
                "type" => v == "string",
                _ => false,
            });
            only_const.then(|| (value.clone(), option.get("description").cloned()))
        })
        .collect()
}

/// Beside the alternatives of tagged tables: the tag key with every tag as
/// an `enum`, so an editor completes `type = "` and names the allowed tags
/// for a wrong one (each alternative pins its own with a `const`).
fn with_tag_enum(
    options: Vec<Value>,
    tag_key: &str,
    tags: Vec<&str>,
    what: &str,
    table_only: bool,
) -> Value {
    let tag = json_object([
        ("type", "string".into()),
        ("enum", tags.into_iter().map(Value::from).collect()),
        ("description", what.into()),
    ]);
    let mut schema = json_object([
        ("anyOf", Value::Array(options)),
        ("properties", json_object([(tag_key, tag)])),
    ]);
    if table_only {
        schema["type"] = "object".into();
    }
    schema
}

fn json_object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<_, _>>(),
    )
}

/// The schema of a table chosen by `tag_key = tag` (`type = "uv"`,
/// `pyimport = "qik.uv"`), from the keys a record describes.
fn tagged_table(
    generator: &mut SchemaGenerator,
    tag_key: &str,
    tag: &str,
    tag_description: String,
    keys: Option<SchemaFn>,
) -> Value {
    let tag_schema = json_object([
        ("const", tag.into()),
        ("description", tag_description.into()),
    ]);
    let Some(keys) = keys else {
        // Any keys: the record did not describe its table.
        return json_object([
            ("type", "object".into()),
            ("properties", json_object([(tag_key, tag_schema)])),
            ("required", Value::Array(vec![tag_key.into()])),
        ]);
    };
    let mut schema = keys(generator).to_value();
    let Value::Object(object) = &mut schema else {
        return schema;
    };
    object.insert("type".into(), "object".into());
    if let Value::Object(properties) = object
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        properties.insert(tag_key.to_string(), tag_schema);
    }
    let required = object
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(required) = required {
        required.insert(0, tag_key.into());
    }
    schema
}

/// What enabling a type's plugin takes, for the description of its tag.
fn owner_note(plugin: &str) -> String {
    if plugin == BUILTIN {
        String::new()
    } else {
        let name = default_plugin_name(plugin);
        format!(" Needs the plugin `{plugin}` (`[plugins] {name} = \"{plugin}\"`).")
    }
}

/// The name a plugin usually gets in `[plugins]`: `uv` for `qik.uv`.
pub fn default_plugin_name(id: &str) -> &str {
    id.rsplit('.').next().unwrap_or(id)
}

/// Implements [`JsonSchema`] for a marker type whose schema is a
/// definition of its own, built by a function.
macro_rules! marker {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                let build: fn(&mut SchemaGenerator) -> Value = $schema;
                Schema::try_from(build(generator)).expect("an object schema")
            }
        }
    };
}

marker!(
    /// One entry of `deps`: a glob, or a table of a registered dep type.
    Dep,
    |generator| {
        let registry = Registry::get();
        let mut options = vec![json_object([
            ("type", "string".into()),
            (
                "description",
                "Git-tracked files matching this pattern (a git pathspec: `*` also crosses `/`)."
                    .into(),
            ),
        ])];
        for dep in registry.dep_types() {
            let description = format!("The dep type `{}`.{}", dep.tag, owner_note(dep.plugin));
            options.push(tagged_table(generator, "type", dep.tag, description, dep.schema));
        }
        let tags = registry.dep_types().map(|dep| dep.tag).collect();
        with_tag_enum(options, "type", tags, "The dep type.", false)
    }
);

marker!(
    /// A venv given as a table of a registered venv type.
    VenvTable,
    |generator| {
        let registry = Registry::get();
        let options = registry
            .venv_types()
            .map(|venv| {
                let description =
                    format!("The venv type `{}`.{}", venv.tag, owner_note(venv.plugin));
                tagged_table(generator, "type", venv.tag, description, venv.schema)
            })
            .collect();
        let tags = registry.venv_types().map(|venv| venv.tag).collect();
        with_tag_enum(options, "type", tags, "The venv type.", true)
    }
);

/// The forms of a venv that are not a table: requirement files, and the
/// one-table list the reference documents. (A list that mixes files and
/// tables passes the schema; qik refuses it.)
fn venv_shorthand(generator: &mut SchemaGenerator) -> Value {
    let table = generator.subschema_for::<VenvTable>().to_value();
    json!({
        "description": "Requirements files: a venv of the default type (`uv` when qik.uv is enabled, else the active environment). A list holding one venv table is the old form of that table.",
        "type": ["string", "array"],
        "items": {"anyOf": [{"type": "string"}, table]},
    })
}

marker!(
    /// `venv` of a space or of `[defaults]`.
    Venv,
    |generator| {
        let shorthand = venv_shorthand(generator);
        let table = generator.subschema_for::<VenvTable>().to_value();
        // The tags beside the alternatives as well: a validator names the
        // allowed ones for a wrong tag, not "valid under none of them".
        let tags = table["properties"]["type"].clone();
        json!({"anyOf": [shorthand, table], "properties": {"type": tags}})
    }
);

marker!(
    /// `[spaces] name = ...` written as the space's venv alone.
    VenvShorthand,
    venv_shorthand
);

marker!(
    /// A `[caches.<name>]` table of a registered cache type.
    Cache,
    |generator| {
        let registry = Registry::get();
        let options = registry
            .cache_types()
            .map(|cache| {
                let description =
                    format!("The cache type `{}`.{}", cache.tag, owner_note(cache.plugin));
                tagged_table(generator, "type", cache.tag, description, cache.schema)
            })
            .collect();
        let tags = registry.cache_types().map(|cache| cache.tag).collect();
        with_tag_enum(options, "type", tags, "The cache type.", true)
    }
);

marker!(
    /// One entry of `[plugins]`: a compiled-in plugin's id, or its table.
    Plugin,
    |generator| {
        let registry = Registry::get();
        let ids: Vec<&str> = registry.plugin_ids().collect();
        let mut options = vec![json_object([
            ("type", "string".into()),
            ("enum", ids.iter().map(|id| Value::from(*id)).collect()),
            ("description", "A plugin id: enables the plugin with its default settings.".into()),
        ])];
        for id in &ids {
            let def = registry.plugin(id).expect("listed plugins exist");
            let description = format!("Enables the plugin `{id}`.");
            options.push(tagged_table(generator, "pyimport", id, description, def.schema));
        }
        with_tag_enum(options, "pyimport", ids, "The plugin's id.", false)
    }
);

marker!(
    /// `[plugins]`: each plugin under its usual name, and any other name.
    Plugins,
    |generator| {
        let registry = Registry::get();
        let plugin = generator.subschema_for::<Plugin>().to_value();
        let mut properties = Map::new();
        for id in registry.plugin_ids() {
            let name = default_plugin_name(id);
            let mut property = plugin.clone();
            if let Value::Object(property) = &mut property {
                property.insert(
                    "description".into(),
                    format!(
                        "The plugin `{id}`: `{name} = \"{id}\"`, or a `[plugins.{name}]` table with `pyimport = \"{id}\"` and its settings."
                    )
                    .into(),
                );
            }
            properties.insert(name.to_string(), property);
        }
        json_object([
            ("type", "object".into()),
            ("properties", Value::Object(properties)),
            ("additionalProperties", plugin),
        ])
    }
);

marker!(
    /// `[ctx.<profile>.qik]`: defaults of qik's own settings.
    QikSettings,
    |_| {
        let properties = crate::ctx::QIK_CTX_KEYS
            .iter()
            .map(|key| (key.to_string(), qik_setting(key)))
            .collect();
        json_object([
            ("type", "object".into()),
            ("properties", Value::Object(properties)),
            ("additionalProperties", false.into()),
        ])
    }
);

/// The value of one `[ctx.<profile>.qik]` setting: the type the CLI checks
/// when the profile is used, and the flag it is the default of.
fn qik_setting(key: &str) -> Value {
    let strings = json!({"anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
    ]});
    let (flag, mut schema) = match key {
        "arch" => ("", json!({"type": "string"})),
        "cache_status" => ("--cache-status", json!({"enum": ["warm", "cold"]})),
        "caches" => ("--cache", strings),
        "commands" => ("the commands to run", strings),
        "logger" => ("--logger", json!({"enum": ["progress", "stdout"]})),
        "modules" => ("--module", strings),
        "since" => ("--since", json!({"type": "string"})),
        "spaces" => ("--space", strings),
        "tags" => ("--tag", strings),
        "verbosity" => (
            "--verbosity",
            json!({"type": "integer", "minimum": 0, "maximum": 3}),
        ),
        "workers" => ("--workers", json!({"type": "integer", "minimum": 1})),
        flag => (flag, json!({"type": "boolean"})),
    };
    let description = match (key, flag) {
        ("arch", _) => "The value of `{ctx.qik.arch}` (default: this machine's).".to_string(),
        ("commands", _) => format!(
            "Default of the commands to run (also `QIK__{}`).",
            key.to_uppercase()
        ),
        (_, flag) if flag.starts_with("--") => {
            format!("Default of `{flag}` (also `QIK__{}`).", key.to_uppercase())
        }
        (_, flag) => format!(
            "Default of `--{flag}` (also `QIK__{}`).",
            key.to_uppercase()
        ),
    };
    schema["description"] = description.into();
    schema
}

marker!(
    /// An `[executors.<name>]` table of a registered executor type.
    Executor,
    |generator| {
        let registry = Registry::get();
        let options = registry
            .executor_types()
            .map(|executor| {
                let description = format!(
                    "The executor type `{}`.{}",
                    executor.tag,
                    owner_note(executor.plugin)
                );
                tagged_table(generator, "type", executor.tag, description, executor.schema)
            })
            .collect();
        let tags = registry.executor_types().map(|executor| executor.tag).collect();
        with_tag_enum(options, "type", tags, "The executor type.", true)
    }
);

marker!(
    /// `[executors]`: named executors.
    Executors,
    |generator| {
        let executor = generator.subschema_for::<Executor>().to_value();
        json_object([("type", "object".into()), ("additionalProperties", executor)])
    }
);

marker!(
    /// `[caches]`: named caches.
    Caches,
    |generator| {
        let cache = generator.subschema_for::<Cache>().to_value();
        json_object([("type", "object".into()), ("additionalProperties", cache)])
    }
);
