//! The built-in cache types: `local`, `repo` and `none`.

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::ext::cache::CacheBackend;
use crate::ext::registry::{BUILTIN, CACHE_TYPES, CacheType, schema_of};
use crate::source::Node;

/// The built-in cache types take no keys besides `type`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoKeys {}

/// The schema of a built-in cache type's table.
fn no_keys(generator: &mut schemars::SchemaGenerator, description: &str) -> schemars::Schema {
    let mut schema = schema_of::<NoKeys>(generator);
    schema.insert("description".into(), description.into());
    schema
}

fn builtin(backend: CacheBackend) -> impl Fn(Node<'_>) -> Result<CacheBackend, Diagnostic> {
    move |node| {
        node.deserialize_without::<NoKeys>("type")?;
        Ok(backend.clone())
    }
}

#[distributed_slice(CACHE_TYPES)]
static LOCAL: CacheType = CacheType {
    tag: "local",
    plugin: BUILTIN,
    parse: |_, node| builtin(CacheBackend::Local)(node),
    schema: Some(|generator| {
        no_keys(
            generator,
            "Entries in `._qik/cache`, private to this checkout.",
        )
    }),
};

#[distributed_slice(CACHE_TYPES)]
static REPO: CacheType = CacheType {
    tag: "repo",
    plugin: BUILTIN,
    parse: |_, node| builtin(CacheBackend::Repo)(node),
    schema: Some(|generator| {
        no_keys(
            generator,
            "Entries in `.qik/cache`, committed with the repository.",
        )
    }),
};

#[distributed_slice(CACHE_TYPES)]
static NONE: CacheType = CacheType {
    tag: "none",
    plugin: BUILTIN,
    parse: |_, node| builtin(CacheBackend::Never)(node),
    schema: Some(|generator| no_keys(generator, "Never cached.")),
};
