//! `example.dir`: a qik plugin built outside qik's workspace, as a third
//! party would build one.
//!
//! It registers, through qik-core's linkme slices:
//! - the cache type `dir`: a remote cache in a shared directory (an NFS
//!   mount, a CI volume) that uses the local cache as hot storage;
//! - the dep type `env`: the value of an environment variable, hashed;
//! - the command `dir.prune`, which trims old entries from every `dir` cache;
//! - the config section `[plugins.dir]` (`keep`, read by `dir.prune`).
//!
//! `docs/plugins.md` in qik's repository walks through this crate; its code
//! blocks are compiled as doctests of this crate.

use std::sync::Arc;

use linkme::distributed_slice;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{
    CACHE_TYPES, CacheType, DEP_TYPES, DepType, PLUGINS, PluginConfig, PluginDef, schema_of,
};
use qik_core::source::Node;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// The `dir` cache type: entries copied to and from a shared directory.
mod cache;
/// The `env` dep type: an environment variable's value as an input.
mod env;
/// The `dir.prune` command.
mod prune;
/// The `sandbox` executor: commands run on a copy of exactly their inputs.
mod sandbox;

/// The id users write in `[plugins]`: `dir = "example.dir"`.
pub const ID: &str = "example.dir";

/// Entries per runnable that `dir.prune` keeps when `[plugins.dir]` says nothing.
const DEFAULT_KEEP: u32 = 10;

/// `[plugins.dir]`, as written. The doc comments become the descriptions
/// editors show for these keys.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DirConfig {
    /// How many entries per runnable `dir.prune` keeps, newest first
    /// (default 10).
    #[schemars(with = "Option<u32>", range(min = 1))]
    keep: Option<Spanned<u32>>,
}

impl DirConfig {
    pub fn keep(&self) -> u32 {
        self.keep
            .as_ref()
            .map_or(DEFAULT_KEEP, |keep| *keep.get_ref())
    }
}

/// Parses `[plugins.dir]`; `None` when the plugin is enabled without a table.
/// Errors point at the offending value, like core's own.
fn parse_config(node: Option<Node<'_>>) -> Result<PluginConfig, Diagnostic> {
    let Some(node) = node else {
        return Ok(Arc::new(DirConfig::default()));
    };
    let config: DirConfig = node.deserialize_without("pyimport")?;
    if let Some(keep) = &config.keep {
        if *keep.get_ref() == 0 {
            return Err(
                Diagnostic::error(Code::ConfigParse, "`keep` must be at least 1")
                    .with_label(node.file(), keep.span(), "keeps nothing")
                    .with_hint(
                        "prune keeps the newest entries of each runnable; use keep = 1 or more",
                    ),
            );
        }
    }
    Ok(Arc::new(config))
}

#[distributed_slice(PLUGINS)]
static PLUGIN: PluginDef = PluginDef {
    id: ID,
    config: parse_config,
    commands: "",
    factories: &prune::FACTORIES,
    schema: Some(schema_of::<DirConfig>),
};

#[distributed_slice(CACHE_TYPES)]
static DIR_CACHE: CacheType = CacheType {
    tag: "dir",
    plugin: ID,
    parse: cache::parse,
    schema: Some(schema_of::<cache::DirCacheConf>),
};

#[distributed_slice(DEP_TYPES)]
static ENV_DEP: DepType = DepType {
    tag: "env",
    plugin: ID,
    parse: env::parse,
    schema: Some(schema_of::<env::EnvDep>),
};

/// The guide, whose Rust code blocks compile as this crate's doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/plugins.md")]
pub struct Guide;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// The option of an `anyOf` whose `key` allows `tag` alone.
    fn option<'a>(options: &'a Value, key: &str, tag: &str) -> &'a Value {
        options
            .as_array()
            .expect("a list of options")
            .iter()
            .find(|o| o["properties"][key]["enum"] == json!([tag]))
            .unwrap_or_else(|| panic!("no option with {key} = {tag:?}"))
    }

    /// `qik_core::config::json_schema` describes qik.toml for the plugins
    /// linked into the binary; this plugin's tables are in it.
    #[test]
    fn the_json_schema_of_qik_toml_describes_the_plugins_tables() {
        let schema = qik_core::config::json_schema()
            .expect("no conflicts")
            .to_value();
        let root = &schema["properties"];
        let dir = option(
            &root["caches"]["additionalProperties"]["anyOf"],
            "type",
            "dir",
        );
        assert_eq!(dir["required"], json!(["type", "path"]));
        assert_eq!(dir["additionalProperties"], false);
        assert_eq!(dir["properties"]["upload"]["default"], true);

        let deps = &root["commands"]["additionalProperties"]["properties"]["deps"]["items"];
        let env = option(&deps["anyOf"], "type", "env");
        assert_eq!(env["required"], json!(["type", "name"]));

        let plugins = &root["plugins"];
        assert!(plugins["properties"]["dir"].is_object(), "{plugins}");
        let section = option(
            &plugins["additionalProperties"]["anyOf"],
            "pyimport",
            "example.dir",
        );
        assert_eq!(section["properties"]["keep"]["minimum"], 1);

        // Editors complete tags from the lists beside the options, where
        // this plugin's tags are with the built-in ones.
        let tags = |at: &Value| at["properties"]["type"]["enum"].clone();
        let cache_tags = tags(&root["caches"]["additionalProperties"]);
        assert!(
            cache_tags.as_array().unwrap().contains(&json!("dir")),
            "{cache_tags}"
        );
        assert!(
            cache_tags.as_array().unwrap().contains(&json!("local")),
            "{cache_tags}"
        );
        let dep_tags = tags(deps);
        assert!(
            dep_tags.as_array().unwrap().contains(&json!("env")),
            "{dep_tags}"
        );
        let ids = &plugins["additionalProperties"]["properties"]["pyimport"]["enum"];
        assert!(
            ids.as_array().unwrap().contains(&json!("example.dir")),
            "{ids}"
        );
    }
}
