//! `cargo xtask schema [--check]`: the JSON Schema of qik.toml, generated
//! from the config types of qik-core and of every plugin of this repository,
//! and committed as `schema/qik.schema.json` for editors (docs/editors.md).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
// Linked for their registrations: the schema describes what they add.
use qik_pygraph as _;
use qik_reapi as _;
use qik_s3 as _;
use qik_uv as _;

/// Where the schema is committed, relative to the workspace root.
pub(crate) const PATH: &str = "schema/qik.schema.json";

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Fail if the committed schema differs from the generated one, instead
    /// of writing it.
    #[arg(long)]
    check: bool,
}

pub(crate) fn main(args: &Args) -> Result<()> {
    let check = args.check;
    let path = crate::workspace_root().join(PATH);
    if check {
        check_file(&path)?;
        println!("{PATH} is up to date");
    } else {
        std::fs::create_dir_all(path.parent().expect("the path has a directory"))?;
        std::fs::write(&path, generate()?).with_context(|| format!("writing {PATH}"))?;
        println!("wrote {PATH}");
    }
    Ok(())
}

/// The schema's text, as committed.
pub(crate) fn generate() -> Result<String> {
    let schema = qik_core::config::json_schema().map_err(|err| anyhow!("{err}"))?;
    Ok(qik_core::schema::to_json(&schema))
}

/// Fails when the committed file differs from what the types generate.
pub(crate) fn check_file(path: &Path) -> Result<()> {
    let expected = generate()?;
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != expected {
        bail!(
            "{PATH} is out of date with the config types; regenerate it with `cargo xtask schema` and commit it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use qik_core::ext::Registry;
    use serde_json::Value;

    use super::{PATH, check_file};

    /// The committed schema, ready to validate with.
    fn validator() -> jsonschema::Validator {
        let text =
            std::fs::read_to_string(crate::workspace_root().join(PATH)).expect("schema file");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::draft7::new(&schema).expect("a valid draft 7 schema")
    }

    fn to_json(toml_text: &str) -> Value {
        let table: toml::Table = toml::from_str(toml_text).expect("valid TOML");
        serde_json::to_value(table).expect("TOML converts to JSON")
    }

    /// The schema's complaints about a qik.toml, one line each.
    fn schema_errors(validator: &jsonschema::Validator, toml_text: &str) -> Vec<String> {
        let instance = to_json(toml_text);
        validator
            .iter_errors(&instance)
            .map(|err| format!("{}: {err}", err.instance_path()))
            .collect()
    }

    /// What qik itself says about a qik.toml: `Err` with its message.
    fn parse(toml_text: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().expect("temp dir");
        qik_core::config::parse_str(dir.path(), toml_text)
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    #[test]
    fn committed_schema_is_up_to_date() {
        // The same check as `cargo xtask schema --check` in CI.
        check_file(&crate::workspace_root().join(PATH)).unwrap();
    }

    #[test]
    fn check_names_the_stale_file_and_the_command_that_fixes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stale = dir.path().join("qik.schema.json");
        std::fs::write(&stale, "{}\n").unwrap();
        let err = check_file(&stale).unwrap_err().to_string();
        assert!(err.contains(PATH), "{err}");
        assert!(err.contains("cargo xtask schema"), "{err}");
        // A missing file is stale too.
        assert!(check_file(&dir.path().join("absent.json")).is_err());
    }

    #[test]
    fn every_type_and_plugin_of_this_repository_describes_its_table() {
        let registry = Registry::get();
        let mut undescribed = Vec::new();
        for id in registry.plugin_ids() {
            if registry.plugin(id).unwrap().schema.is_none() {
                undescribed.push(format!("plugin {id}"));
            }
        }
        undescribed.extend(
            registry
                .dep_types()
                .filter(|t| t.schema.is_none())
                .map(|t| format!("dep type {}", t.tag)),
        );
        undescribed.extend(
            registry
                .cache_types()
                .filter(|t| t.schema.is_none())
                .map(|t| format!("cache type {}", t.tag)),
        );
        undescribed.extend(
            registry
                .venv_types()
                .filter(|t| t.schema.is_none())
                .map(|t| format!("venv type {}", t.tag)),
        );
        assert!(undescribed.is_empty(), "no schema: {undescribed:?}");
        let ids: Vec<&str> = registry.plugin_ids().collect();
        assert_eq!(ids, ["qik.pygraph", "qik.reapi", "qik.s3", "qik.uv"]);
    }

    #[test]
    fn every_plugin_crate_is_linked_into_the_schema() {
        let manifest =
            std::fs::read_to_string(crate::workspace_root().join("xtask/Cargo.toml")).unwrap();
        for entry in std::fs::read_dir(crate::workspace_root().join("crates")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == "qik-core" || name == "qik-cli" {
                continue;
            }
            assert!(
                manifest.contains(&format!("\n{name}.workspace = true")),
                "xtask does not link the plugin crate {name}: the schema would lack its types"
            );
        }
    }

    /// Configurations qik accepts, one per shape the parser tells apart.
    const ACCEPTED: &[(&str, &str)] = &[
        ("empty", ""),
        (
            "command shapes",
            r#"
[commands]
short = "echo short"
empty = {}
"dotted.name" = {exec = "echo", hidden = true, tags = ["fast"], space = "default"}

[commands.full]
exec = "pytest {module.dir}"
deps = [
    "src/**.py",
    {type = "glob", pattern = "tests/**"},
    {type = "const", val = "{ctx.qik.arch}"},
    {type = "command", name = "short", strict = true, isolated = false},
    {type = "pydist", name = "requests"},
    {type = "load", path = "deps.json", default = ["**.py"]},
]
artifacts = ["out/*.xml"]
cache = "repo"
cache-when = "finished"

[commands.old]
exec = "echo"
cache_when = "always"
"#,
        ),
        (
            "deprecated top-level spellings",
            r#"
vars = ["target"]

[command.a]
exec = "echo {ctx.target}"
"#,
        ),
        (
            "spaces",
            r#"
[spaces]
one = "requirements.txt"
two = ["a.txt", "b.txt"]
three = {venv = "c.txt", root = "three/", dotenv = ".env"}
old = [{type = "active", reqs = "old.txt"}]

[spaces.default]
root = "."
modules = ["app", {name = "utils", path = "lib/utils"}]
fence = ["shared", {type = "space", name = "one"}]
venv = {type = "space", name = "one", reqs = ["extra.txt"], lock = "x.lock"}
dotenv = ["a.env", "b.env"]

[spaces.fenced]
modules = ["core"]
fence = true

[spaces.open]
fence = false
venv = {type = "active"}
"#,
        ),
        (
            "ctx variables and defaults",
            r#"
ctx = ["plain", {name = "n", type = "int", default = 3, required = false}, {name = "b", type = "bool", default = true}, {name = "s", default = "x"}]

[base]
deps = ["qik.toml"]

[defaults]
cache = "repo"
cache-when = "failed"
python-path = "src"
venv = ["requirements.txt"]
dotenv = "defaults.env"

[pydist]
versions = {my-dist = "0.1.0"}
ignore-missing = true
ignore_missing_modules = false
modules = {yaml = "pyyaml", internal = ""}
"#,
        ),
        (
            "ctx profiles",
            r#"
[ctx.ci.qik]
workers = 2
isolated = true
cache_status = "warm"
logger = "stdout"
tags = ["fast"]
modules = "app"
verbosity = 0
arch = "amd64"

[ctx.ci.project]
anything = "goes"
"#,
        ),
        (
            "plugins with their settings",
            r#"
[plugins.uv]
pyimport = "qik.uv"
python = "3.12"
constraint = {type = "space", name = "default"}
index-url = "https://pypi.example/simple"
extra-index-url = "{ctx.extra}"
cache = "local"

[plugins.graph]
pyimport = "qik.pygraph"
ignore-type-checking = true
ignore-pydists = false
cache = "repo"
build-cache = "local"
lock-cache = "local"
check-cache = "local"

[plugins.s3]
pyimport = "qik.s3"

[plugins.reapi]
pyimport = "qik.reapi"

[spaces]
default = "requirements.txt"

[spaces.api]
venv = {type = "uv", reqs = ["api.in"], lock = "api.lock", python = "3.11", constraint = "c.txt"}

[spaces.svc]
venv = {type = "uv", project = "services/svc", groups = ["dev"], extras = ["fast"], python = "3.12"}

[spaces.all]
venv = {type = "uv", project = ".", all-groups = true, all-extras = true}

[caches.shared]
type = "s3"
bucket = "my-bucket"
prefix = "qik/main"
aws_access_key_id = "{ctx.key}"
aws-secret-access-key = "{ctx.secret}"
region_name = "eu-west-1"
endpoint-url = "http://127.0.0.1:9000"
signing-key = "{ctx.signing_key}"
upload = "{ctx.upload}"
timeout = 2.5

[caches.readonly]
type = "s3"
bucket = "other-bucket"
upload = false
timeout = 600

[caches.mine]
type = "local"

[caches.farm]
type = "reapi"
endpoint = "{ctx.reapi_endpoint}"
instance_name = "main"
headers = {authorization = "Bearer {ctx.token}", x-buildbuddy-api-key = "{ctx.key}"}
ca-file = "certs/ca.pem"
upload = "{ctx.upload}"
timeout = 30

[caches.farm-readonly]
type = "reapi"
endpoint = "grpcs://cache.example.com"
upload = false

[executors.remote]
type = "reapi"
endpoint = "grpcs://remote.example.com"
instance-name = "main"
headers = {authorization = "Bearer {ctx.token}"}
platform = {OSFamily = "linux", container-image = "docker://python:3.12"}
timeout = 20
action-timeout = 900
max_in_flight = 32
local-fallback = true

[commands.test]
exec = "pytest"
deps = [{type = "pygraph", pyimport = "app.{ctx.sub}"}]
cache = "shared"
executor = "remote"
"#,
        ),
        (
            "plugins by id",
            r#"
[plugins]
uv = "qik.uv"
pygraph = "qik.pygraph"
cache = "qik.s3"
"#,
        ),
    ];

    #[test]
    fn the_schema_accepts_what_qik_accepts() {
        let validator = validator();
        for (name, config) in ACCEPTED {
            parse(config).unwrap_or_else(|err| panic!("qik refuses `{name}`: {err}"));
            let errors = schema_errors(&validator, config);
            assert!(
                errors.is_empty(),
                "the schema refuses `{name}`: {errors:#?}"
            );
        }
    }

    /// Configurations qik refuses, with where the schema must complain.
    const REFUSED: &[(&str, &str, &str)] = &[
        (
            "uv venv with requirement files and a project",
            "[plugins]\nuv = \"qik.uv\"\n[spaces.default]\nvenv = {type = \"uv\", reqs = \"r.txt\", project = \"a\"}\n",
            "/spaces/default/venv",
        ),
        (
            "uv venv with neither requirement files nor a project",
            "[plugins]\nuv = \"qik.uv\"\n[spaces.default]\nvenv = {type = \"uv\", python = \"3.12\"}\n",
            "/spaces/default/venv",
        ),
        (
            "unknown top-level key",
            "[spacez.default]\nvenv = \"r.txt\"\n",
            "spacez",
        ),
        (
            "unknown command key",
            "[commands.a]\nexec = \"echo\"\ncache-wen = \"failed\"\n",
            "cache-wen",
        ),
        (
            "wrong type",
            "[commands.a]\nexec = \"echo\"\nhidden = \"yes\"\n",
            "/commands/a/hidden",
        ),
        ("command as a number", "[commands]\na = 3\n", "/commands/a"),
        (
            "unknown cache-when",
            "[commands.a]\nexec = \"echo\"\ncache-when = \"sometimes\"\n",
            "/commands/a/cache-when",
        ),
        (
            "unknown dep type",
            "[commands.a]\nexec = \"echo\"\ndeps = [{type = \"glb\", pattern = \"x\"}]\n",
            "/commands/a/deps/0",
        ),
        (
            "dep without its key",
            "[commands.a]\nexec = \"echo\"\ndeps = [{type = \"command\"}]\n",
            "/commands/a/deps/0",
        ),
        (
            "unknown key in a dep",
            "[commands.a]\nexec = \"echo\"\ndeps = [{type = \"const\", val = \"x\", value = \"y\"}]\n",
            "/commands/a/deps/0",
        ),
        (
            "module without path",
            "[spaces.default]\nmodules = [{name = \"a\"}]\n",
            "/spaces/default/modules/0",
        ),
        (
            "fence entry of another type",
            "[spaces.default]\nfence = [{type = \"module\", name = \"a\"}]\n",
            "/spaces/default/fence/0",
        ),
        (
            "space key typo",
            "[spaces.default]\nmodule = [\"a\"]\n",
            "module",
        ),
        (
            "unknown venv type",
            "[spaces.default]\nvenv = {type = \"conda\", reqs = \"r.txt\"}\n",
            "/spaces/default/venv",
        ),
        (
            "ctx variable without a name",
            "ctx = [{type = \"int\"}]\n",
            "/ctx/0",
        ),
        (
            "ctx variable of an unknown type",
            "ctx = [{name = \"a\", type = \"float\"}]\n",
            "/ctx/0/type",
        ),
        (
            "unknown qik setting in a profile",
            "[ctx.ci.qik]\nworker = 2\n",
            "worker",
        ),
        (
            "plugin table without pyimport",
            "[plugins.uv]\npython = \"3.12\"\n",
            "/plugins/uv",
        ),
        (
            "unknown plugin",
            "[plugins]\nuv = \"qik.uvv\"\n",
            "/plugins/uv",
        ),
        (
            "unknown plugin setting",
            "[plugins.uv]\npyimport = \"qik.uv\"\npyhton = \"3.12\"\n",
            "/plugins/uv",
        ),
        (
            "cache without type",
            "[caches.c]\nbucket = \"b\"\n",
            "/caches/c",
        ),
        (
            "s3 cache without bucket",
            "[plugins]\ns3 = \"qik.s3\"\n\n[caches.c]\ntype = \"s3\"\n",
            "/caches/c",
        ),
        (
            "s3 timeout out of range",
            "[plugins]\ns3 = \"qik.s3\"\n\n[caches.c]\ntype = \"s3\"\nbucket = \"bucket\"\ntimeout = 0\n",
            "/caches/c",
        ),
        (
            "reapi cache without endpoint",
            "[plugins]\nreapi = \"qik.reapi\"\n\n[caches.c]\ntype = \"reapi\"\n",
            "/caches/c",
        ),
        (
            "reapi header of a wrong type",
            "[plugins]\nreapi = \"qik.reapi\"\n\n[caches.c]\ntype = \"reapi\"\nendpoint = \"grpc://x:1\"\nheaders = {a = 1}\n",
            "/caches/c",
        ),
        (
            "reapi executor with no room in flight",
            "[plugins]\nreapi = \"qik.reapi\"\n\n[executors.e]\ntype = \"reapi\"\nendpoint = \"grpc://x:1\"\nmax-in-flight = 0\n",
            "/executors/e",
        ),
        (
            "pydist key typo",
            "[pydist]\nignore-missing-dists = true\n",
            "ignore-missing-dists",
        ),
        (
            "defaults of a wrong type",
            "[defaults]\npython-path = 3\n",
            "/defaults/python-path",
        ),
    ];

    #[test]
    fn the_schema_refuses_what_qik_refuses_where_it_is_wrong() {
        let validator = validator();
        for (name, config, at) in REFUSED {
            assert!(parse(config).is_err(), "qik accepts `{name}`");
            let errors = schema_errors(&validator, config);
            assert!(
                errors.iter().any(|e| e.contains(at)),
                "the schema does not flag `{at}` in `{name}`: {errors:#?}"
            );
        }
    }

    /// The JSON value at a JSON pointer of the committed schema.
    fn at<'a>(schema: &'a Value, pointer: &str) -> &'a Value {
        schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("the schema has nothing at {pointer}"))
    }

    fn strings(value: &Value) -> Vec<&str> {
        value
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {value}"))
            .iter()
            .map(|v| v.as_str().expect("a string"))
            .collect()
    }

    /// Editors complete and check a closed set of strings from an `enum`;
    /// a `const` or a `oneOf` of them they do not offer.
    #[test]
    fn value_lists_are_enums() {
        let text =
            std::fs::read_to_string(crate::workspace_root().join(PATH)).expect("schema file");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        fn consts(value: &Value, at: &str, found: &mut Vec<String>) {
            match value {
                Value::Object(object) => {
                    if object.contains_key("const") {
                        found.push(at.to_string());
                    }
                    for (key, child) in object {
                        consts(child, &format!("{at}/{key}"), found);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        consts(child, &format!("{at}/{i}"), found);
                    }
                }
                _ => {}
            }
        }
        let mut left = Vec::new();
        consts(&schema, "", &mut left);
        assert!(left.is_empty(), "`const` is left at {left:#?}");
        let registry = Registry::get();
        let command = "/properties/commands/additionalProperties/properties";
        assert_eq!(
            strings(at(&schema, &format!("{command}/cache-when/enum"))),
            ["success", "failed", "finished", "always"]
        );
        assert_eq!(
            strings(at(
                &schema,
                "/properties/defaults/properties/cache-when/enum"
            )),
            ["success", "failed", "finished", "always"]
        );
        let dep_tags: Vec<&str> = registry.dep_types().map(|t| t.tag).collect();
        assert_eq!(
            strings(at(
                &schema,
                &format!("{command}/deps/items/properties/type/enum")
            )),
            dep_tags
        );
        let cache_tags: Vec<&str> = registry.cache_types().map(|t| t.tag).collect();
        assert_eq!(
            strings(at(
                &schema,
                "/properties/caches/additionalProperties/properties/type/enum"
            )),
            cache_tags
        );
        // Plugins' tags are in the lists: this binary links them all.
        for tag in ["s3", "reapi"] {
            assert!(cache_tags.contains(&tag), "{cache_tags:?}");
        }
        let venv_tags: Vec<&str> = registry.venv_types().map(|t| t.tag).collect();
        assert!(venv_tags.contains(&"uv"), "{venv_tags:?}");
        let space = "/properties/spaces/additionalProperties/properties";
        let venv_table = at(&schema, &format!("{space}/venv/anyOf/1"));
        assert_eq!(
            strings(&venv_table["properties"]["type"]["enum"]),
            venv_tags
        );
        let executor_tags: Vec<&str> = registry.executor_types().map(|t| t.tag).collect();
        assert_eq!(
            strings(at(
                &schema,
                "/properties/executors/additionalProperties/properties/type/enum"
            )),
            executor_tags
        );
        let ids: Vec<&str> = registry.plugin_ids().collect();
        assert_eq!(
            strings(at(
                &schema,
                "/properties/plugins/additionalProperties/properties/pyimport/enum"
            )),
            ids
        );
        assert_eq!(
            strings(at(&schema, "/properties/ctx/items/properties/type/enum")),
            ["str", "int", "bool"]
        );
        assert_eq!(
            strings(at(
                &schema,
                &format!("{space}/fence/items/properties/type/enum")
            )),
            ["space"]
        );
    }

    /// A wrong value of a closed set is flagged where it is, with the values
    /// allowed there.
    #[test]
    fn a_wrong_value_is_refused_with_the_allowed_ones() {
        let validator = validator();
        let registry = Registry::get();
        let cases: Vec<(&str, &str, Vec<&str>)> = vec![
            (
                "[commands.a]\nexec = \"echo\"\ncache-when = \"sometimes\"\n",
                "/commands/a/cache-when",
                vec!["success", "failed", "finished", "always"],
            ),
            (
                "[commands.a]\nexec = \"echo\"\ndeps = [{type = \"glb\", pattern = \"x\"}]\n",
                "/commands/a/deps/0/type",
                registry.dep_types().map(|t| t.tag).collect(),
            ),
            (
                "[caches.c]\ntype = \"s4\"\n",
                "/caches/c/type",
                registry.cache_types().map(|t| t.tag).collect(),
            ),
            (
                "[spaces.default]\nvenv = {type = \"conda\", reqs = \"r.txt\"}\n",
                "/spaces/default/venv/type",
                registry.venv_types().map(|t| t.tag).collect(),
            ),
            (
                "[executors.e]\ntype = \"ssh\"\n",
                "/executors/e/type",
                registry.executor_types().map(|t| t.tag).collect(),
            ),
            (
                "[plugins.uv]\npyimport = \"qik.uvv\"\n",
                "/plugins/uv/pyimport",
                registry.plugin_ids().collect(),
            ),
            (
                "[ctx.ci.qik]\nlogger = \"fancy\"\n",
                "/ctx/ci/qik/logger",
                vec!["progress", "stdout"],
            ),
        ];
        for (config, pointer, allowed) in cases {
            let errors = schema_errors(&validator, config);
            let here: Vec<&String> = errors
                .iter()
                .filter(|e| e.starts_with(&format!("{pointer}: ")))
                .collect();
            // The validator names the first candidates; the schema's enum
            // there holds them all (`value_lists_are_enums`).
            assert!(
                here.iter()
                    .any(|e| e.contains("is not one of")
                        && e.contains(&format!("\"{}\"", allowed[0]))),
                "no error at {pointer} names the values of {allowed:?}: {errors:#?}"
            );
        }
    }

    /// Every qik.toml of the repository's example and parity projects that
    /// qik loads, module files included.
    #[test]
    fn the_repositorys_projects_validate() {
        let validator = validator();
        let root = crate::workspace_root();
        let mut projects = vec![root.join("examples/monorepo")];
        let parity = root.join("tests/parity");
        for entry in std::fs::read_dir(&parity).unwrap() {
            let path = entry.unwrap().path();
            if path.join("qik.toml").is_file() {
                projects.push(path);
            }
        }
        let mut checked = 0;
        for project in projects {
            let Ok(config) = qik_core::config::load(&project) else {
                continue;
            };
            let modules = config
                .spaces
                .values()
                .flat_map(|space| &space.modules)
                .map(|module| qik_core::config::module_config_path(&module.path));
            for file in std::iter::once("qik.toml".to_string()).chain(modules) {
                let path = project.join(&file);
                if !path.is_file() {
                    continue;
                }
                let errors = schema_errors(&validator, &read(&path));
                assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} files checked");
    }

    /// The names of every property the schema describes, at any depth:
    /// top-level tables, their keys, and the keys of plugin-typed tables.
    fn property_names(value: &Value, names: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    names.extend(properties.keys().cloned());
                }
                map.values().for_each(|v| property_names(v, names));
            }
            Value::Array(items) => items.iter().for_each(|v| property_names(v, names)),
            _ => {}
        }
    }

    /// docs/config.md is the reference users learn qik.toml from: a key the
    /// schema gains must get its row there.
    #[test]
    fn the_config_reference_names_every_key() {
        let root = crate::workspace_root();
        let schema: Value = serde_json::from_str(&read(&root.join(PATH))).unwrap();
        let mut names = std::collections::BTreeSet::new();
        property_names(&schema, &mut names);
        assert!(
            names.len() > 50,
            "only {} keys found: {names:?}",
            names.len()
        );
        let doc = read(&root.join("docs/config.md"));
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !doc.contains(&format!("`{name}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/config.md does not mention these keys of {PATH} (write each as `key` in its table): {missing:?}"
        );
    }

    /// The example at the top of docs/config.md is a qik.toml that qik loads
    /// and the schema accepts.
    #[test]
    fn the_config_reference_example_is_valid() {
        let doc = read(&crate::workspace_root().join("docs/config.md"));
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/config.md opens with a ```toml example");
        parse(example).unwrap();
        assert_eq!(schema_errors(&validator(), example), Vec::<String>::new());
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }
}
