//! Finding and parsing qik.toml into typed, spanned configuration.
//!
//! Fixed parts of the schema are serde structs; positions whose type a plugin
//! chooses (`deps` entries, `[caches.*]`, `venv`, `[plugins.*]`) are dispatched
//! on their `type` through the [`Registry`] and parsed by the owning factory
//! from a [`Node`], so every error points at file, line and column.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::cache::CacheWhen;
use crate::ctx::CtxVar;
use crate::diagnostic::{Code, Diagnostic, choices_hint, did_you_mean};
use crate::ext::CacheBackend;
use crate::ext::DepSpec;
use crate::ext::VenvSpec;
use crate::ext::{BUILTIN, PluginConfig, PluginDef, Registry};
use crate::source::{Node, OneOrMany, SourceFile};
use crate::template;

/// The whole configuration of a project: its root qik.toml, the qik.toml
/// files of its modules and the commands of its enabled plugins.
#[derive(Debug)]
pub struct Config {
    /// The directory of the root qik.toml (commands run here).
    pub root: PathBuf,
    pub file: Arc<SourceFile>,
    /// Deprecated spellings that were accepted, to show the user.
    pub warnings: Vec<Diagnostic>,
    pub plugins: BTreeMap<String, EnabledPlugin>,
    pub ctx_vars: Vec<CtxVar>,
    /// `[ctx.<profile>]` tables, chosen with `-p` / `QIK__PROFILE`.
    pub profiles: BTreeMap<String, Profile>,
    pub caches: BTreeMap<String, NamedCache>,
    /// `[executors.<name>]`, plus the built-in `local`.
    pub executors: BTreeMap<String, NamedExecutor>,
    pub spaces: BTreeMap<String, SpaceConf>,
    pub base_deps: Vec<DepConf>,
    pub defaults: Defaults,
    pub pydist: PydistConf,
    pub commands: BTreeMap<String, CommandConf>,
}

/// A plugin named in `[plugins]`.
pub struct EnabledPlugin {
    pub name: String,
    pub def: &'static PluginDef,
    pub config: PluginConfig,
}

impl std::fmt::Debug for EnabledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnabledPlugin")
            .field("name", &self.name)
            .field("id", &self.def.id)
            .finish()
    }
}

/// Where a value was written.
#[derive(Clone, Debug)]
pub struct Origin {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

impl Origin {
    pub fn error(
        &self,
        code: Code,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, message).with_label(&self.file, self.span.clone(), label)
    }
}

#[derive(Debug)]
pub struct NamedCache {
    pub backend: CacheBackend,
    pub origin: Option<Origin>,
}

/// An `[executors.<name>]` table, parsed by its type.
#[derive(Debug)]
pub struct NamedExecutor {
    pub executor: Arc<dyn crate::ext::Executor>,
    /// Absent for the built-in `local`.
    pub origin: Option<Origin>,
}

#[derive(Debug)]
pub struct DepConf {
    pub spec: Box<dyn DepSpec>,
    pub origin: Origin,
}

#[derive(Debug)]
pub struct VenvConf {
    pub tag: &'static str,
    pub spec: Box<dyn VenvSpec>,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub struct ModuleConf {
    pub name: String,
    pub path: String,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub enum FenceEntry {
    Path(String),
    Space(Spanned<String>),
}

#[derive(Clone, Debug, Default)]
pub enum FenceConf {
    /// No fence (the default).
    #[default]
    Off,
    /// The space's modules plus these entries (`fence = true` is an empty list).
    On(Vec<FenceEntry>),
}

#[derive(Debug)]
pub struct SpaceConf {
    pub name: String,
    pub root: Option<String>,
    pub modules: Vec<ModuleConf>,
    pub fence: FenceConf,
    pub venv: Option<VenvConf>,
    pub dotenv: Option<Vec<String>>,
    /// `executor = "<name>"` for the space's commands.
    pub executor: Option<Spanned<String>>,
    pub origin: Origin,
}

#[derive(Debug, Default)]
pub struct Defaults {
    pub cache: Option<Spanned<String>>,
    pub cache_when: Option<CacheWhen>,
    pub python_path: String,
    pub venv: Option<VenvConf>,
    pub dotenv: Option<Vec<String>>,
}

/// `[pydist]`: distributions that are not installed where qik looks.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PydistConf {
    /// Versions of distributions, used when a `pydist` dep's distribution is
    /// not installed (`my-dist = "0.1.0"`).
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// A `pydist` dep whose distribution is neither installed nor in
    /// `versions` is ignored instead of an error.
    #[serde(default, alias = "ignore_missing")]
    #[schemars(extend("x-aliases" = ["ignore_missing"]))]
    pub ignore_missing: bool,
    /// An imported module that maps to no installed distribution is ignored
    /// instead of an error (qik.pygraph).
    #[serde(default, alias = "ignore_missing_modules")]
    #[schemars(extend("x-aliases" = ["ignore_missing_modules"]))]
    pub ignore_missing_modules: bool,
    /// The distribution of an imported module (`my_module = "my-dist"`; `""`
    /// ignores the module), for qik.pygraph.
    #[serde(default)]
    pub modules: BTreeMap<String, String>,
}

/// A `[ctx.<profile>]` table.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    /// Defaults of runtime settings (`workers`, `isolated`, ...).
    pub qik: BTreeMap<String, Spanned<toml::Value>>,
    /// Values of project variables.
    pub project: BTreeMap<String, Spanned<toml::Value>>,
    pub origin: Origin,
}

impl Config {
    /// The profile to use; `default` may be absent, any other name must exist.
    pub fn profile(&self, name: &str) -> Result<Option<&Profile>, Diagnostic> {
        match self.profiles.get(name) {
            Some(profile) => Ok(Some(profile)),
            None if name == "default" => Ok(None),
            None => Err(Diagnostic::error(
                Code::CtxProfileNotFound,
                format!("context profile \"{name}\" is not configured"),
            )
            .with_hint(format!(
                "add a [ctx.{name}.qik] or [ctx.{name}.project] table to qik.toml ({})",
                choices_hint(name, self.profiles.keys().map(String::as_str))
            ))),
        }
    }
}

/// A command: what it runs, what its result depends on, and where the
/// result is cached.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCommand {
    /// The shell command (`sh -c`), run at the project root. `{module...}`
    /// placeholders make one runnable per module; `{ctx...}` fills in context.
    #[schemars(with = "Option<String>")]
    exec: Option<Spanned<String>>,
    /// Inputs whose change re-runs the command; without deps it is never cached.
    // Parsed from the node: entries are typed by plugins.
    #[allow(dead_code)]
    #[schemars(with = "Option<Vec<crate::schema::Dep>>")]
    deps: Option<IgnoredAny>,
    /// Files the command writes, stored in and restored from the cache (globs).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    artifacts: Vec<Spanned<String>>,
    /// The name of the cache to use: `local` (default), `repo`, `none`
    /// (never cached), or one of `[caches]`.
    #[schemars(with = "Option<String>")]
    cache: Option<Spanned<String>>,
    /// Which runs are cached (default `success`).
    #[serde(alias = "cache_when")]
    #[schemars(with = "Option<CacheWhenShape>", extend("x-aliases" = ["cache_when"]))]
    cache_when: Option<Spanned<String>>,
    /// The space to run in (its venv and dotenv files).
    #[schemars(with = "Option<String>")]
    space: Option<Spanned<String>>,
    /// Left out of `qik --ls` and of runs that name no command; runs when
    /// named or as a dependency.
    #[serde(default)]
    hidden: bool,
    /// Tags to select the command with (`qik --tag`).
    #[serde(default)]
    tags: Vec<String>,
    /// The executor that runs the command: `local` (default, this machine)
    /// or one of `[executors]`. Overrides the space's.
    #[schemars(with = "Option<String>")]
    executor: Option<Spanned<String>>,
}

/// A `cache-when` value as written; `always` is an old spelling of `finished`.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes the values; parsed by `parse_cache_when`.
enum CacheWhenShape {
    /// Cache runs that exit with 0.
    Success,
    /// Cache runs that fail.
    Failed,
    /// Cache every run.
    Finished,
    /// Old spelling of `finished`.
    Always,
}

/// A space: the venv, dotenv files and modules its commands run with.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSpace {
    /// The space's directory: qik and qikx run below it select this space by
    /// default.
    root: Option<String>,
    /// The modules of the space: paths (`a/b`, named `a/b`) or
    /// `{name = "...", path = "..."}`.
    // Parsed from the node below, like `fence` and `venv`.
    #[allow(dead_code)]
    #[schemars(with = "Option<Vec<ModuleShape>>")]
    modules: Option<IgnoredAny>,
    /// The paths the space's code may import from (checked by qik.pygraph's
    /// `pygraph.check`): `true` for its modules alone, or a list of more paths
    /// and `{type = "space", name = "..."}`.
    #[allow(dead_code)]
    #[schemars(with = "Option<FenceShape>")]
    fence: Option<IgnoredAny>,
    /// The space's virtual environment: requirement files, or a table with
    /// a `type`.
    #[allow(dead_code)]
    #[schemars(with = "Option<crate::schema::Venv>")]
    venv: Option<IgnoredAny>,
    /// Dotenv files loaded into the environment of the space's commands.
    dotenv: Option<OneOrMany>,
    /// The executor of the space's commands (`local` by default, or one of
    /// `[executors]`); a command's own `executor` wins.
    #[schemars(with = "Option<String>")]
    executor: Option<Spanned<String>>,
}

/// A module of a space with a name other than its path.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawModule {
    /// Used in runnable names (`test#name`) and `{module.name}`.
    name: String,
    /// The module's directory, relative to the project root.
    path: String,
}

/// A space whose modules are inside the fence too.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SpaceRef {
    #[serde(rename = "type")]
    #[schemars(with = "String", extend("const" = "space"))]
    ty: Spanned<String>,
    /// The space's name.
    #[schemars(with = "String")]
    name: Spanned<String>,
}

/// `[base]`: settings every command gets.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawBase {
    /// Deps of every command, plugin commands included.
    #[allow(dead_code)]
    #[schemars(with = "Option<Vec<crate::schema::Dep>>")]
    deps: Option<IgnoredAny>,
}

/// `[defaults]`: what commands and spaces use unless they say otherwise.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefaults {
    /// The cache of commands that name none (default `local`).
    #[schemars(with = "Option<String>")]
    cache: Option<Spanned<String>>,
    /// Which runs are cached, for commands that do not say (default `success`).
    #[serde(alias = "cache_when")]
    #[schemars(with = "Option<CacheWhenShape>", extend("x-aliases" = ["cache_when"]))]
    cache_when: Option<Spanned<String>>,
    /// The directory Python import paths are relative to (default: the project
    /// root).
    #[serde(alias = "python_path")]
    #[schemars(extend("x-aliases" = ["python_path"]))]
    python_path: Option<String>,
    /// The venv of spaces that define none.
    // Parsed from the node below: its type is chosen by a plugin.
    #[allow(dead_code)]
    #[schemars(with = "Option<crate::schema::Venv>")]
    venv: Option<IgnoredAny>,
    /// Dotenv files of spaces that define none.
    dotenv: Option<OneOrMany>,
}

/// `[ctx.<profile>]`: a context profile, chosen with `-p` or `QIK__PROFILE`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    /// Defaults of qik's own settings (`workers = 4`, `isolated = true`, ...).
    #[serde(default)]
    #[schemars(with = "crate::schema::QikSettings")]
    qik: BTreeMap<String, Spanned<toml::Value>>,
    /// Values of the project's context variables.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    project: BTreeMap<String, Spanned<toml::Value>>,
}

// The shapes the parser tells apart by hand (a string or a table, a list or
// a table, ...), for the JSON Schema of qik.toml. Never constructed: they
// mirror the `parse_*` methods, and the tests of `json_schema` hold them to
// the parser.

/// qik.toml: the configuration of a qik project.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "qik.toml")]
#[allow(dead_code)]
struct ProjectShape {
    /// The plugins this project uses: `name = "plugin id"`, or a
    /// `[plugins.<name>]` table with `pyimport = "plugin id"` and the
    /// plugin's settings.
    #[schemars(with = "Option<crate::schema::Plugins>")]
    plugins: Option<IgnoredAny>,
    /// Context variables (`ctx = ["my_var", {name = "n", type = "int"}]`),
    /// or profiles (`[ctx.<profile>.qik]`, `[ctx.<profile>.project]`).
    ctx: Option<CtxShape>,
    /// Old name of `ctx`.
    #[schemars(extend("deprecated" = true))]
    vars: Option<CtxShape>,
    /// Named caches (`[caches.<name>]` with a `type`), for commands'
    /// `cache`. `local` and `repo` always exist, and `none` never caches.
    #[schemars(with = "Option<crate::schema::Caches>")]
    caches: Option<IgnoredAny>,
    /// Named executors (`[executors.<name>]` with a `type`), for commands'
    /// and spaces' `executor`. `local` always exists.
    #[schemars(with = "Option<crate::schema::Executors>")]
    executors: Option<IgnoredAny>,
    /// Spaces: venvs, dotenv files and modules that commands run in
    /// (`[spaces.<name>]`, or `name = "requirements.txt"`).
    spaces: Option<BTreeMap<String, SpaceShape>>,
    base: Option<RawBase>,
    defaults: Option<RawDefaults>,
    pydist: Option<PydistConf>,
    /// Commands: `name = "shell command"`, or `[commands.<name>]` tables.
    commands: Option<BTreeMap<String, CommandShape>>,
    /// Old name of `commands`.
    #[schemars(extend("deprecated" = true))]
    command: Option<BTreeMap<String, CommandShape>>,
}

/// A command: its shell command alone, or a table.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
// Only describes the shape for the JSON Schema; never built.
#[allow(clippy::large_enum_variant)]
enum CommandShape {
    /// The shell command (`sh -c`), run at the project root.
    Exec(String),
    Table(RawCommand),
}

/// A space: its venv's requirement files alone, or a table.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SpaceShape {
    Venv(crate::schema::VenvShorthand),
    Table(RawSpace),
}

/// `ctx`: a list of variables, or a table of profiles.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum CtxShape {
    Vars(Vec<VarShape>),
    Profiles(BTreeMap<String, RawProfile>),
}

/// A context variable: its name (a required string), or a table.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum VarShape {
    /// A required string variable.
    Name(String),
    Table(crate::ctx::RawVar),
}

/// A module: its path (which is also its name), or a table.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ModuleShape {
    /// The module's directory, relative to the project root; also its name.
    Path(String),
    Table(RawModule),
}

/// `fence`: on or off, or the paths and spaces it adds to the modules.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum FenceShape {
    /// `true` fences the space's modules; `false` (the default) fences nothing.
    On(bool),
    Entries(Vec<FenceEntryShape>),
}

/// A path inside the fence, or a space whose modules are.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum FenceEntryShape {
    /// A directory, relative to the project root.
    Path(String),
    Space(SpaceRef),
}

/// The JSON Schema of qik.toml for the plugins compiled into this binary
/// (`cargo xtask schema` writes it to `schema/qik.schema.json`).
pub fn json_schema() -> Result<schemars::Schema, Diagnostic> {
    Registry::checked()?;
    let schema = crate::schema::generator().into_root_schema_for::<ProjectShape>();
    Ok(crate::schema::finish(schema))
}

/// Which file defined a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandSource {
    Project,
    Module(String),
    Plugin(String),
}

#[derive(Debug)]
pub struct CommandConf {
    pub name: String,
    pub exec: Spanned<String>,
    pub deps: Vec<DepConf>,
    pub artifacts: Vec<Spanned<String>>,
    pub cache: Option<Spanned<String>>,
    pub cache_when: Option<CacheWhen>,
    pub space: Option<Spanned<String>>,
    /// `executor = "<name>"`; else the space's, else `local`.
    pub executor: Option<Spanned<String>>,
    pub hidden: bool,
    pub tags: Vec<String>,
    pub source: CommandSource,
    pub origin: Origin,
}

impl CommandConf {
    pub fn file(&self) -> &Arc<SourceFile> {
        &self.origin.file
    }
}

/// The configuration file that was found for a directory.
#[derive(Clone, Debug)]
pub struct Located {
    pub path: PathBuf,
    /// `[tool.qik]` of a pyproject.toml rather than a qik.toml.
    pub pyproject: bool,
}

/// Finds the project's configuration for `cwd`.
///
/// Walks up from `cwd` to the git root and takes the outermost directory with
/// a `qik.toml` (or a pyproject.toml with `[tool.qik]`): modules keep their
/// own qik.toml files, and running qik inside a module must still find the
/// project.
pub fn locate(cwd: &Path) -> Result<Located, Diagnostic> {
    let mut found = None;
    for dir in cwd.ancestors() {
        let qik_toml = dir.join("qik.toml");
        if qik_toml.is_file() {
            found = Some(Located {
                path: qik_toml,
                pyproject: false,
            });
        } else {
            let pyproject = dir.join("pyproject.toml");
            if pyproject.is_file()
                // Lossy: a pyproject.toml that is not UTF-8 but has a
                // [tool.qik] table is found, and its load says where it breaks.
                && std::fs::read(&pyproject)
                    .is_ok_and(|bytes| has_tool_qik(&String::from_utf8_lossy(&bytes)))
            {
                found = Some(Located {
                    path: pyproject,
                    pyproject: true,
                });
            }
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    found.ok_or_else(|| {
        Diagnostic::error(
            Code::ConfigNotFound,
            format!("no qik.toml found in {} or its parents", cwd.display()),
        )
        .with_hint("create a qik.toml at the root of your project (or a [tool.qik] table in pyproject.toml)")
    })
}

fn has_tool_qik(text: &str) -> bool {
    // A cheap pre-check; the full parse happens once the file is chosen.
    text.contains("tool.qik")
        && toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("tool")?.get("qik").cloned())
            .is_some()
}

/// The `qik.toml` of a module directory, relative to the project root.
pub fn module_config_path(module_path: &str) -> String {
    if module_path.is_empty() {
        "qik.toml".to_string()
    } else {
        format!("{module_path}/qik.toml")
    }
}

fn display_path(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// Loads the configuration for `cwd`.
pub fn load(cwd: &Path) -> Result<Config, Diagnostic> {
    load_located(cwd, locate(cwd)?)
}

/// [`load`] of a configuration file [`locate`] found: its caller may start
/// work that needs only the root (reading the git index) before parsing.
pub fn load_located(cwd: &Path, located: Located) -> Result<Config, Diagnostic> {
    let file = SourceFile::read(&located.path, display_path(&located.path, cwd))?;
    let root_dir = located
        .path
        .parent()
        .expect("a config file has a parent directory")
        .to_path_buf();
    // Modules' files are looked up relative to the root, as git does.
    let root = crate::fsutil::stat::Dir::open(&root_dir).ok();
    let read_module = |relative: &str| -> Result<Option<Arc<SourceFile>>, Diagnostic> {
        let is_file = match &root {
            Some(root) => root
                .stat(relative.as_bytes())
                .is_ok_and(|stat| stat.is_file()),
            None => root_dir.join(relative).is_file(),
        };
        if !is_file {
            return Ok(None);
        }
        let path = root_dir.join(relative);
        SourceFile::read(&path, display_path(&path, cwd)).map(Some)
    };
    let config = parse_files(root_dir.clone(), file, located.pyproject, &read_module)?;
    check_modules_exist(&config)?;
    Ok(config)
}

/// A module is a path of the working tree: one that does not exist is a
/// typo or a stale entry, and is refused here rather than when a command
/// runs in it. (Only for configuration read from disk: that of another
/// revision, for `--since`, may name modules deleted since.)
fn check_modules_exist(config: &Config) -> Result<(), Diagnostic> {
    let mut present = Present::new(
        &config.root,
        config
            .spaces
            .values()
            .flat_map(|space| space.modules.iter().map(|m| m.path.as_str())),
    );
    for space in config.spaces.values() {
        for module in &space.modules {
            if present.exists(&module.path) {
                continue;
            }
            return Err(module
                .origin
                .error(
                    Code::ConfigParse,
                    format!("module path `{}` does not exist", module.path),
                    "no such path",
                )
                .with_hint(format!(
                    "module paths are relative to the directory of {}; fix the path, or remove the module",
                    config.file.display_path()
                )));
        }
    }
    Ok(())
}

/// Whether paths below the root exist, answered from one listing of each
/// directory that holds many of them: a monorepo's modules share a few
/// parents, and a `stat` per module was a tenth of a cached run's system
/// calls.
struct Present<'a> {
    root: &'a Path,
    /// Parents holding enough of the paths to be listed.
    crowded: HashSet<&'a str>,
    /// Names in each listed parent, with whether each is a symlink (which
    /// may dangle, so is stat-ed).
    listed: HashMap<&'a str, Option<HashMap<std::ffi::OsString, bool>>>,
}

/// A listing costs about four system calls: worth it from this many paths.
const LISTED_FROM: usize = 8;

/// `parent` and `name` of a path made only of plain components.
fn plain_parent_and_name(path: &str) -> Option<(&str, &str)> {
    let trimmed = path.trim_end_matches('/');
    let plain = !trimmed.is_empty()
        && trimmed
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    plain.then(|| trimmed.rsplit_once('/').unwrap_or(("", trimmed)))
}

impl<'a> Present<'a> {
    fn new(root: &'a Path, paths: impl Iterator<Item = &'a str>) -> Present<'a> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (parent, _) in paths.filter_map(plain_parent_and_name) {
            *counts.entry(parent).or_default() += 1;
        }
        Present {
            root,
            crowded: counts
                .into_iter()
                .filter(|(_, count)| *count >= LISTED_FROM)
                .map(|(parent, _)| parent)
                .collect(),
            listed: HashMap::new(),
        }
    }

    fn exists(&mut self, path: &'a str) -> bool {
        let Some((parent, name)) =
            plain_parent_and_name(path).filter(|(parent, _)| self.crowded.contains(parent))
        else {
            return self.root.join(path).exists();
        };
        let root = self.root;
        let names = self.listed.entry(parent).or_insert_with(|| {
            let dir = if parent.is_empty() {
                root.to_path_buf()
            } else {
                root.join(parent)
            };
            let entries = std::fs::read_dir(dir).ok()?;
            let mut names = HashMap::new();
            for entry in entries {
                let entry = entry.ok()?;
                let symlink = entry.file_type().ok()?.is_symlink();
                names.insert(entry.file_name(), symlink);
            }
            Some(names)
        });
        match names
            .as_ref()
            .map(|names| names.get(std::ffi::OsStr::new(name)))
        {
            Some(Some(false)) => true,
            Some(None) => false,
            // A symlink (it may dangle), or a parent that cannot be listed.
            Some(Some(true)) | None => self.root.join(path).exists(),
        }
    }
}

/// Reads one configuration file, given its path relative to the project
/// root: `None` when it does not exist.
pub type ReadConfigFile<'a> = dyn Fn(&str) -> Result<Option<Arc<SourceFile>>, Diagnostic> + 'a;

/// Loads the configuration of the project at `root` from files that are not
/// (or not only) on disk, such as those of a git revision: `read` gives each
/// file by its path relative to `root`. The root file is `qik.toml`, else a
/// `pyproject.toml` with `[tool.qik]`.
pub fn load_with(root: &Path, read: &ReadConfigFile<'_>) -> Result<Config, Diagnostic> {
    if let Some(file) = read("qik.toml")? {
        return parse_files(root.to_path_buf(), file, false, read);
    }
    if let Some(file) = read("pyproject.toml")?
        .filter(|file| file.root().get("tool").and_then(|t| t.get("qik")).is_some())
    {
        return parse_files(root.to_path_buf(), file, true, read);
    }
    Err(Diagnostic::error(
        Code::ConfigNotFound,
        "no qik.toml (or pyproject.toml with [tool.qik]) at the project root",
    ))
}

fn parse_files(
    root: PathBuf,
    file: Arc<SourceFile>,
    pyproject: bool,
    read_module: &ReadConfigFile<'_>,
) -> Result<Config, Diagnostic> {
    let node = if pyproject {
        file.root()
            .get("tool")
            .and_then(|t| t.get("qik"))
            .ok_or_else(|| {
                Diagnostic::error(
                    Code::ConfigParse,
                    format!("{} has no [tool.qik] table", file.display_path()),
                )
            })?
    } else {
        file.root()
    };
    let mut parser = Parser::new(root, Registry::checked()?);
    parser.parse_project(node)?;
    parser.parse_module_files(read_module)?;
    parser.parse_plugin_commands()?;
    Ok(parser.finish(file))
}

/// Parses a configuration from text; used by tests and tools.
pub fn parse_str(root: &Path, text: &str) -> Result<Config, Diagnostic> {
    let file = SourceFile::parse(root.join("qik.toml"), "qik.toml".into(), text.to_string())?;
    let read_module = |relative: &str| -> Result<Option<Arc<SourceFile>>, Diagnostic> {
        let path = root.join(relative);
        if !path.is_file() {
            return Ok(None);
        }
        SourceFile::read(&path, display_path(&path, root)).map(Some)
    };
    parse_files(root.to_path_buf(), file, false, &read_module)
}

struct Parser {
    root: PathBuf,
    registry: &'static Registry,
    warnings: Vec<Diagnostic>,
    plugins: BTreeMap<String, EnabledPlugin>,
    ctx_vars: Vec<CtxVar>,
    profiles: BTreeMap<String, Profile>,
    caches: BTreeMap<String, NamedCache>,
    executors: BTreeMap<String, NamedExecutor>,
    spaces: BTreeMap<String, SpaceConf>,
    base_deps: Vec<DepConf>,
    defaults: Defaults,
    pydist: PydistConf,
    commands: BTreeMap<String, CommandConf>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "plugins",
    "ctx",
    "caches",
    "executors",
    "spaces",
    "base",
    "defaults",
    "pydist",
    "commands",
];

impl Parser {
    fn new(root: PathBuf, registry: &'static Registry) -> Self {
        let caches = ["local", "repo"]
            .into_iter()
            .zip([CacheBackend::Local, CacheBackend::Repo])
            .map(|(name, backend)| {
                (
                    name.to_string(),
                    NamedCache {
                        backend,
                        origin: None,
                    },
                )
            })
            .collect();
        Parser {
            root,
            registry,
            warnings: Vec::new(),
            plugins: BTreeMap::new(),
            ctx_vars: Vec::new(),
            profiles: BTreeMap::new(),
            caches,
            executors: BTreeMap::from([(
                crate::builtin::executor::LOCAL.to_string(),
                NamedExecutor {
                    executor: crate::builtin::executor::local(),
                    origin: None,
                },
            )]),
            spaces: BTreeMap::new(),
            base_deps: Vec::new(),
            defaults: Defaults {
                python_path: ".".into(),
                ..Defaults::default()
            },
            pydist: PydistConf::default(),
            commands: BTreeMap::new(),
        }
    }

    fn finish(self, file: Arc<SourceFile>) -> Config {
        Config {
            root: self.root,
            file,
            warnings: self.warnings,
            plugins: self.plugins,
            ctx_vars: self.ctx_vars,
            profiles: self.profiles,
            caches: self.caches,
            executors: self.executors,
            spaces: self.spaces,
            base_deps: self.base_deps,
            defaults: self.defaults,
            pydist: self.pydist,
            commands: self.commands,
        }
    }

    fn warn_spelling(
        &mut self,
        node_file: &Arc<SourceFile>,
        span: Range<usize>,
        used: &str,
        canonical: &str,
    ) {
        self.warnings.push(
            Diagnostic::warning(format!(
                "`{used}` is accepted, but the spelling is `{canonical}`"
            ))
            .with_label(node_file, span, "deprecated spelling")
            .with_hint(format!("write `{canonical}` instead")),
        );
    }

    fn parse_project(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let Some(entries) = node.entries() else {
            return Err(node.type_error("a table"));
        };
        let entries: Vec<_> = entries.collect();
        // Plugins first: they decide which types the rest may use.
        if let Some((_, plugins)) = entries.iter().find(|(k, _)| k.name == "plugins") {
            self.parse_plugins(*plugins)?;
        }
        for (key, value) in entries {
            match key.name {
                "plugins" => {}
                "ctx" => self.parse_ctx(value)?,
                "vars" => {
                    self.warn_spelling(value.file(), key.span.clone(), "vars", "ctx");
                    self.parse_ctx(value)?;
                }
                "caches" => self.parse_caches(value)?,
                "executors" => self.parse_executors(value)?,
                "spaces" => self.parse_spaces(value)?,
                "base" => self.parse_base(value)?,
                "defaults" => self.parse_defaults(value)?,
                "pydist" => self.pydist = value.deserialize()?,
                "commands" => self.parse_commands(value, &CommandSource::Project)?,
                "command" => {
                    self.warn_spelling(
                        value.file(),
                        key.span.clone(),
                        "[command.<name>]",
                        "[commands.<name>]",
                    );
                    self.parse_commands(value, &CommandSource::Project)?;
                }
                other => {
                    return Err(Diagnostic::error(
                        Code::ConfigParse,
                        format!("unknown key `{other}`"),
                    )
                    .with_label(value.file(), key.span, "unknown key")
                    .with_hint(choices_hint(other, TOP_LEVEL_KEYS.iter().copied())));
                }
            }
        }
        Ok(())
    }

    fn parse_plugins(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let Some(entries) = node.entries() else {
            return Err(node.type_error("a table like `uv = \"qik.uv\"`"));
        };
        for (key, value) in entries {
            let (id, id_span, table) = if let Some(id) = value.as_str() {
                (id, value.span(), None)
            } else if value.is_table() {
                let Some(pyimport) = value.get("pyimport") else {
                    return Err(value
                        .error(
                            Code::ConfigParse,
                            format!("plugin `{}` has no `pyimport`", key.name),
                            "in this table",
                        )
                        .with_hint("name the plugin: pyimport = \"qik.uv\""));
                };
                let Some(id) = pyimport.as_str() else {
                    return Err(pyimport.type_error("a string"));
                };
                (id, pyimport.span(), Some(value))
            } else {
                return Err(value.type_error("a plugin id like \"qik.uv\" or a table"));
            };
            let Some(def) = self.registry.plugin(id).filter(|def| def.id != BUILTIN) else {
                let compiled: Vec<&str> = self.registry.plugin_ids().collect();
                let hint = if compiled.is_empty() {
                    "this qik binary has no plugins compiled in; build it with the plugin's cargo feature".to_string()
                } else {
                    format!(
                        "this qik binary has: {}{}",
                        compiled
                            .iter()
                            .map(|c| format!("\"{c}\""))
                            .collect::<Vec<_>>()
                            .join(", "),
                        did_you_mean(id, compiled.iter().copied())
                            .or_else(|| compiled
                                .iter()
                                .copied()
                                .find(|c| c.strip_prefix("qik.") == Some(id)))
                            .map(|g| format!("; did you mean \"{g}\"?"))
                            .unwrap_or_default()
                    )
                };
                return Err(Diagnostic::error(
                    Code::PluginImport,
                    format!("plugin \"{id}\" is not compiled into this qik"),
                )
                .with_label(node.file(), id_span, "unknown plugin")
                .with_hint(hint));
            };
            if let Some(other) = self.plugins.values().find(|p| p.def.id == def.id) {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    format!(
                        "plugin \"{id}\" is enabled twice (also as `{}`)",
                        other.name
                    ),
                )
                .with_label(node.file(), key.span, "second time")
                .with_hint("keep one entry per plugin"));
            }
            let config = match table {
                Some(table) => (def.config)(Some(table))?,
                None => (def.config)(None)?,
            };
            self.plugins.insert(
                key.name.to_string(),
                EnabledPlugin {
                    name: key.name.to_string(),
                    def,
                    config,
                },
            );
        }
        Ok(())
    }

    fn plugin_enabled(&self, id: &str) -> bool {
        id == BUILTIN || self.plugins.values().any(|p| p.def.id == id)
    }

    /// Checks that a type's plugin is enabled, or says what to add.
    fn require_plugin(
        &self,
        kind: &str,
        tag: &str,
        plugin: &str,
        node: Node<'_>,
        code: Code,
    ) -> Result<(), Diagnostic> {
        if self.plugin_enabled(plugin) {
            return Ok(());
        }
        let short = plugin.rsplit('.').next().unwrap_or(plugin);
        let at = node.get("type").unwrap_or(node);
        Err(at
            .error(
                code,
                format!("{kind} type \"{tag}\" needs the plugin \"{plugin}\""),
                "plugin not enabled",
            )
            .with_hint(format!(
                "enable it in qik.toml:\n[plugins]\n{short} = \"{plugin}\""
            )))
    }

    /// Reads `type = "..."` of a plugin-typed table.
    fn type_tag<'a>(
        &self,
        node: Node<'a>,
        kind: &str,
        tags: Vec<&'static str>,
        code: Code,
    ) -> Result<&'a str, Diagnostic> {
        let Some(tag_node) = node.get("type") else {
            return Err(node
                .error(code, format!("this {kind} has no `type`"), "missing `type`")
                .with_hint(format!("add type = \"...\"; {}", choices_hint("", tags))));
        };
        tag_node
            .as_str()
            .ok_or_else(|| tag_node.type_error("a string"))
    }

    fn unknown_type(
        &self,
        kind: &str,
        tag: &str,
        node: Node<'_>,
        code: Code,
        types: Vec<(&'static str, &'static str)>,
    ) -> Diagnostic {
        let listed = types
            .iter()
            .map(|(tag, plugin)| {
                if *plugin == BUILTIN {
                    format!("\"{tag}\"")
                } else {
                    format!("\"{tag}\" (plugin \"{plugin}\")")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let guess = did_you_mean(tag, types.iter().map(|(t, _)| *t))
            .map(|g| format!("did you mean \"{g}\"? "))
            .unwrap_or_default();
        let span = node
            .get("type")
            .map(|t| t.span())
            .unwrap_or_else(|| node.span());
        Diagnostic::error(code, format!("invalid {kind} type \"{tag}\""))
            .with_label(node.file(), span, "unknown type")
            .with_hint(format!("{guess}valid types: {listed}"))
    }

    fn parse_dep(&self, node: Node<'_>) -> Result<DepConf, Diagnostic> {
        let origin = Origin {
            file: Arc::clone(node.file()),
            span: node.span(),
        };
        if let Some(spec) = crate::builtin::deps::parse_glob_shorthand(node) {
            return Ok(DepConf { spec, origin });
        }
        if !node.is_table() {
            return Err(node.type_error("a glob string or a table with a `type`"));
        }
        let types: Vec<_> = self
            .registry
            .dep_types()
            .map(|t| (t.tag, t.plugin))
            .collect();
        let tag = self.type_tag(
            node,
            "dependency",
            types.iter().map(|t| t.0).collect(),
            Code::InvalidDepType,
        )?;
        let Some(dep_type) = self.registry.dep_type(tag) else {
            return Err(self.unknown_type("dep", tag, node, Code::InvalidDepType, types));
        };
        self.require_plugin("dep", tag, dep_type.plugin, node, Code::InvalidDepType)?;
        Ok(DepConf {
            spec: (dep_type.parse)(node)?,
            origin,
        })
    }

    fn parse_deps(&self, node: Node<'_>) -> Result<Vec<DepConf>, Diagnostic> {
        let Some(items) = node.items() else {
            return Err(node.type_error("a list of dependencies"));
        };
        items.map(|item| self.parse_dep(item)).collect()
    }

    fn parse_ctx(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        if node.is_table() {
            return self.parse_profiles(node);
        }
        let Some(items) = node.items() else {
            return Err(node.type_error("a list of variables, or a table of profiles"));
        };
        for item in items {
            self.ctx_vars.push(CtxVar::parse(item)?);
        }
        Ok(())
    }

    /// `[ctx.<profile>.qik]` (runtime defaults) and `[ctx.<profile>.project]`
    /// (values of project variables).
    fn parse_profiles(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        for (key, value) in node.entries().into_iter().flatten() {
            if !value.is_table() {
                return Err(value.type_error("a profile table with `qik` and `project` tables"));
            }
            let raw: RawProfile = value.deserialize()?;
            for (name, spanned) in &raw.qik {
                if !crate::ctx::QIK_CTX_KEYS.contains(&name.as_str()) {
                    return Err(Diagnostic::error(
                        Code::UnconfiguredCtx,
                        format!("`{name}` is not a qik setting"),
                    )
                    .with_label(value.file(), spanned.span(), "unknown setting")
                    .with_hint(choices_hint(name, crate::ctx::QIK_CTX_KEYS.iter().copied())));
                }
            }
            self.profiles.insert(
                key.name.to_string(),
                Profile {
                    name: key.name.to_string(),
                    qik: raw.qik,
                    project: raw.project,
                    origin: Origin {
                        file: Arc::clone(value.file()),
                        span: key.span,
                    },
                },
            );
        }
        Ok(())
    }

    fn parse_executors(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let Some(entries) = node.entries() else {
            return Err(node.type_error("a table of executors"));
        };
        for (key, value) in entries {
            if !value.is_table() {
                return Err(value.type_error("a table with a `type`"));
            }
            let types: Vec<_> = self
                .registry
                .executor_types()
                .map(|t| (t.tag, t.plugin))
                .collect();
            let tag = self.type_tag(
                value,
                "executor",
                types.iter().map(|t| t.0).collect(),
                Code::InvalidExecutorType,
            )?;
            let Some(executor_type) = self.registry.executor_type(tag) else {
                return Err(self.unknown_type(
                    "executor",
                    tag,
                    value,
                    Code::InvalidExecutorType,
                    types,
                ));
            };
            self.require_plugin(
                "executor",
                tag,
                executor_type.plugin,
                value,
                Code::InvalidExecutorType,
            )?;
            let executor = (executor_type.parse)(key.name, value)?;
            self.executors.insert(
                key.name.to_string(),
                NamedExecutor {
                    executor,
                    origin: Some(Origin {
                        file: Arc::clone(value.file()),
                        span: key.span,
                    }),
                },
            );
        }
        Ok(())
    }

    fn parse_caches(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let Some(entries) = node.entries() else {
            return Err(node.type_error("a table of caches"));
        };
        for (key, value) in entries {
            if !value.is_table() {
                return Err(value.type_error("a table with a `type`"));
            }
            let types: Vec<_> = self
                .registry
                .cache_types()
                .map(|t| (t.tag, t.plugin))
                .collect();
            let tag = self.type_tag(
                value,
                "cache",
                types.iter().map(|t| t.0).collect(),
                Code::InvalidCacheType,
            )?;
            let Some(cache_type) = self.registry.cache_type(tag) else {
                return Err(self.unknown_type("cache", tag, value, Code::InvalidCacheType, types));
            };
            self.require_plugin(
                "cache",
                tag,
                cache_type.plugin,
                value,
                Code::InvalidCacheType,
            )?;
            let backend = (cache_type.parse)(key.name, value)?;
            self.caches.insert(
                key.name.to_string(),
                NamedCache {
                    backend,
                    origin: Some(Origin {
                        file: Arc::clone(value.file()),
                        span: key.span,
                    }),
                },
            );
        }
        Ok(())
    }

    /// The venv type of the shorthand `venv = "reqs.txt"`: the one an
    /// enabled plugin makes the default, else `active`.
    fn default_venv_type(
        &self,
        node: Node<'_>,
    ) -> Result<(&'static crate::ext::VenvType, crate::ext::VenvFromReqs), Diagnostic> {
        let defaults: Vec<_> = self
            .registry
            .venv_types()
            .filter(|t| self.plugin_enabled(t.plugin))
            .filter_map(|t| t.reqs_shorthand.default_builder().map(|build| (t, build)))
            .collect();
        match defaults.as_slice() {
            [one] => Ok(*one),
            [] => {
                let active = self.registry.venv_type("active").ok_or_else(|| {
                    Diagnostic::error(Code::InvalidVenvType, "this qik has no `active` venv type")
                })?;
                let build = active.reqs_shorthand.builder().ok_or_else(|| {
                    Diagnostic::error(
                        Code::InvalidVenvType,
                        "the `active` venv type takes no requirement files",
                    )
                })?;
                Ok((active, build))
            }
            many => {
                let owners: Vec<String> = many
                    .iter()
                    .map(|(t, _)| format!("`{}` of {}", t.tag, t.plugin))
                    .collect();
                Err(Diagnostic::error(
                    Code::InvalidVenvType,
                    format!(
                        "the venv shorthand is ambiguous: enabled plugins each make their type the default ({})",
                        owners.join(", ")
                    ),
                )
                .with_label(node.file(), node.span(), "which venv type?")
                .with_hint("write the table form with a `type`, e.g. `venv = {type = \"uv\", reqs = ...}`"))
            }
        }
    }

    fn parse_venv(&mut self, node: Node<'_>) -> Result<VenvConf, Diagnostic> {
        let venv = self.parse_venv_value(node)?;
        // Venv settings are rendered only when a command of the space runs:
        // check their placeholders now, so a typo is an error at load even
        // in a space nothing runs in.
        check_templates(node, false)?;
        Ok(venv)
    }

    fn parse_venv_value(&mut self, node: Node<'_>) -> Result<VenvConf, Diagnostic> {
        let origin = Origin {
            file: Arc::clone(node.file()),
            span: node.span(),
        };
        // The reference documents `venv = [{type = "space", ...}]`; accept a
        // one-table list as that table.
        if let Some(mut items) = node.items() {
            if let (Some(first), None) = (items.next(), items.next()) {
                if first.is_table() {
                    self.warn_spelling(node.file(), node.span(), "venv = [{...}]", "venv = {...}");
                    return self.parse_venv_value(first);
                }
            }
        }
        if node.as_str().is_some() || node.is_array() {
            let reqs: OneOrMany = node.deserialize()?;
            let (venv_type, from_reqs) = self.default_venv_type(node)?;
            return Ok(VenvConf {
                tag: venv_type.tag,
                spec: from_reqs(reqs.0),
                origin,
            });
        }
        if !node.is_table() {
            return Err(
                node.type_error("a requirements file, a list of them, or a table with a `type`")
            );
        }
        let types: Vec<_> = self
            .registry
            .venv_types()
            .map(|t| (t.tag, t.plugin))
            .collect();
        let tag = self.type_tag(
            node,
            "venv",
            types.iter().map(|t| t.0).collect(),
            Code::InvalidVenvType,
        )?;
        let Some(venv_type) = self.registry.venv_type(tag) else {
            return Err(self.unknown_type("venv", tag, node, Code::InvalidVenvType, types));
        };
        self.require_plugin("venv", tag, venv_type.plugin, node, Code::InvalidVenvType)?;
        Ok(VenvConf {
            tag: venv_type.tag,
            spec: (venv_type.parse)(node)?,
            origin,
        })
    }

    fn parse_spaces(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let Some(entries) = node.entries() else {
            return Err(node.type_error("a table of spaces"));
        };
        for (key, value) in entries {
            let origin = Origin {
                file: Arc::clone(value.file()),
                span: key.span.clone(),
            };
            let mut space = SpaceConf {
                name: key.name.to_string(),
                root: None,
                modules: Vec::new(),
                fence: FenceConf::Off,
                venv: None,
                dotenv: None,
                executor: None,
                origin,
            };
            if value.as_str().is_some() || value.is_array() {
                space.venv = Some(self.parse_venv(value)?);
            } else if value.is_table() {
                let raw: RawSpace = value.deserialize()?;
                space.root = raw.root.map(|r| normalize_dir(&r));
                space.dotenv = raw.dotenv.map(|d| d.0);
                space.executor = raw.executor;
                if let Some(venv) = value.get("venv") {
                    space.venv = Some(self.parse_venv(venv)?);
                }
                if let Some(modules) = value.get("modules") {
                    space.modules = parse_modules(modules)?;
                }
                if let Some(fence) = value.get("fence") {
                    space.fence = parse_fence(fence)?;
                }
            } else {
                return Err(value.type_error("a requirements file or a table"));
            }
            self.spaces.insert(key.name.to_string(), space);
        }
        Ok(())
    }

    fn parse_base(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let _: RawBase = node.deserialize()?;
        if let Some(deps) = node.get("deps") {
            self.base_deps = self.parse_deps(deps)?;
            check_templates(deps, true)?;
        }
        Ok(())
    }

    fn parse_defaults(&mut self, node: Node<'_>) -> Result<(), Diagnostic> {
        let raw: RawDefaults = node.deserialize()?;
        if let Some(cache) = &raw.cache {
            template::check_at(cache.get_ref(), true, node.file(), cache.span())?;
        }
        self.defaults.cache = raw.cache;
        if let Some(when) = raw.cache_when {
            self.defaults.cache_when = Some(self.parse_cache_when(node.file(), &when)?);
        }
        if let Some(python_path) = raw.python_path {
            self.defaults.python_path = normalize_dir(&python_path);
            if self.defaults.python_path.is_empty() {
                self.defaults.python_path = ".".into();
            }
        }
        self.defaults.dotenv = raw.dotenv.map(|d| d.0);
        if let Some(venv) = node.get("venv") {
            self.defaults.venv = Some(self.parse_venv(venv)?);
        }
        Ok(())
    }

    fn parse_cache_when(
        &mut self,
        file: &Arc<SourceFile>,
        value: &Spanned<String>,
    ) -> Result<CacheWhen, Diagnostic> {
        match value.get_ref().as_str() {
            "success" => Ok(CacheWhen::Success),
            "failed" => Ok(CacheWhen::Failed),
            "finished" => Ok(CacheWhen::Finished),
            "always" => {
                self.warn_spelling(file, value.span(), "always", "finished");
                Ok(CacheWhen::Finished)
            }
            other => Err(Diagnostic::error(
                Code::ConfigParse,
                format!("invalid cache-when \"{other}\""),
            )
            .with_label(file, value.span(), "unknown value")
            .with_hint(choices_hint(other, ["success", "failed", "finished"]))),
        }
    }

    fn parse_commands(&mut self, node: Node<'_>, source: &CommandSource) -> Result<(), Diagnostic> {
        let Some(entries) = node.entries() else {
            return Err(node.type_error("a table of commands"));
        };
        for (key, value) in entries {
            let name = match source {
                CommandSource::Project => key.name.to_string(),
                CommandSource::Module(module) => format!("{module}/{}", key.name),
                CommandSource::Plugin(plugin) => format!("{plugin}.{}", key.name),
            };
            let origin = Origin {
                file: Arc::clone(value.file()),
                span: key.span.clone(),
            };
            let command = if value.as_str().is_some() {
                CommandConf {
                    name: name.clone(),
                    exec: value.deserialize()?,
                    deps: Vec::new(),
                    artifacts: Vec::new(),
                    cache: None,
                    cache_when: None,
                    space: None,
                    executor: None,
                    hidden: false,
                    tags: Vec::new(),
                    source: source.clone(),
                    origin,
                }
            } else if value.is_table() {
                let raw: RawCommand = value.deserialize()?;
                let deps = match value.get("deps") {
                    Some(deps) => self.parse_deps(deps)?,
                    None => Vec::new(),
                };
                let cache_when = match &raw.cache_when {
                    Some(when) => Some(self.parse_cache_when(value.file(), when)?),
                    None => None,
                };
                let exec = raw
                    .exec
                    .unwrap_or_else(|| Spanned::new(value.span(), String::new()));
                CommandConf {
                    name: name.clone(),
                    exec,
                    deps,
                    artifacts: raw.artifacts,
                    cache: raw.cache,
                    cache_when,
                    space: raw.space,
                    executor: raw.executor,
                    hidden: raw.hidden,
                    tags: raw.tags,
                    source: source.clone(),
                    origin,
                }
            } else {
                return Err(value.type_error("a shell command string or a table"));
            };
            check_command_templates(&command, value)?;
            if let Some(previous) = self.commands.get(&name) {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    format!("command `{name}` is defined twice"),
                )
                .with_label(value.file(), key.span, "second definition")
                .with_label(
                    &previous.origin.file,
                    previous.origin.span.clone(),
                    "first definition",
                )
                .with_hint("rename one of them"));
            }
            self.commands.insert(name, command);
        }
        Ok(())
    }

    /// Reads the qik.toml of every module: they may only add commands.
    fn parse_module_files(&mut self, read: &ReadConfigFile<'_>) -> Result<(), Diagnostic> {
        let modules: Vec<(String, String)> = self
            .spaces
            .values()
            .flat_map(|s| s.modules.iter().map(|m| (m.name.clone(), m.path.clone())))
            .collect();
        for (name, path) in modules {
            let Some(file) = read(&module_config_path(&path))? else {
                continue;
            };
            let root = file.root();
            for (key, value) in root.entries().into_iter().flatten() {
                match key.name {
                    "commands" => {
                        self.parse_commands(value, &CommandSource::Module(name.clone()))?
                    }
                    "command" => {
                        self.warn_spelling(
                            value.file(),
                            key.span.clone(),
                            "[command.<name>]",
                            "[commands.<name>]",
                        );
                        self.parse_commands(value, &CommandSource::Module(name.clone()))?;
                    }
                    other => {
                        return Err(Diagnostic::error(
                            Code::ConfigParse,
                            format!("unknown key `{other}` in a module's qik.toml"),
                        )
                        .with_label(value.file(), key.span, "unknown key")
                        .with_hint("a module's qik.toml may only define [commands]; spaces, plugins and the rest belong in the root qik.toml"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds the commands that enabled plugins ship.
    fn parse_plugin_commands(&mut self) -> Result<(), Diagnostic> {
        let shipped: Vec<(String, &'static PluginDef)> = self
            .plugins
            .values()
            .filter(|p| !p.def.commands.is_empty())
            .map(|p| (p.name.clone(), p.def))
            .collect();
        for (name, def) in shipped {
            let file = SourceFile::parse(
                PathBuf::from(format!("<{}>/qik.toml", def.id)),
                format!("<plugin {}>/qik.toml", def.id),
                def.commands.to_string(),
            )?;
            if let Some(commands) = file.root().get("commands") {
                self.parse_commands(commands, &CommandSource::Plugin(name))?;
            }
        }
        Ok(())
    }
}

/// Checks every template of a command, so that a typo is an error at load
/// even in a command that yields no runnables (a per-module command in a
/// space without modules, or one never selected).
fn check_command_templates(command: &CommandConf, node: Node<'_>) -> Result<(), Diagnostic> {
    let file = command.file();
    let exec = &command.exec;
    template::check_at(exec.get_ref(), true, file, exec.span())?;
    let per_module = template::mentions_module(exec.get_ref());
    for value in command.artifacts.iter().chain(&command.cache) {
        template::check_at(value.get_ref(), per_module, file, value.span())?;
    }
    match node.get("deps") {
        Some(deps) => check_templates(deps, per_module),
        None => Ok(()),
    }
}

/// Checks the templates of every string in `node` but `type` tags: every
/// other string of a dep or a venv is rendered before use.
fn check_templates(node: Node<'_>, module_allowed: bool) -> Result<(), Diagnostic> {
    // A stack, not recursion: nesting depth is the input's to choose.
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        if let Some(text) = node.as_str() {
            template::check_at(text, module_allowed, node.file(), node.span())?;
        } else if let Some(items) = node.items() {
            // Reversed, so the first error in the text is the one reported.
            let items: Vec<_> = items.collect();
            stack.extend(items.into_iter().rev());
        } else if let Some(entries) = node.entries() {
            let values: Vec<_> = entries
                .filter(|(key, _)| key.name != "type")
                .map(|(_, value)| value)
                .collect();
            stack.extend(values.into_iter().rev());
        }
    }
    Ok(())
}

/// `a/b/` and `./a/b` name the same directory as `a/b`.
fn normalize_dir(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_end_matches('/');
    if trimmed == "." {
        String::new()
    } else {
        trimmed.to_string()
    }
}

fn parse_modules(node: Node<'_>) -> Result<Vec<ModuleConf>, Diagnostic> {
    let Some(items) = node.items() else {
        return Err(node.type_error("a list of module paths"));
    };
    items
        .map(|item| {
            let origin = Origin {
                file: Arc::clone(item.file()),
                span: item.span(),
            };
            if let Some(path) = item.as_str() {
                let path = normalize_dir(path);
                Ok(ModuleConf {
                    name: path.clone(),
                    path,
                    origin,
                })
            } else if item.is_table() {
                let raw: RawModule = item.deserialize()?;
                Ok(ModuleConf {
                    name: raw.name,
                    path: normalize_dir(&raw.path),
                    origin,
                })
            } else {
                Err(item
                    .type_error("a module path or a table like {name = \"...\", path = \"...\"}"))
            }
        })
        .collect()
}

fn parse_fence(node: Node<'_>) -> Result<FenceConf, Diagnostic> {
    if let Some(on) = node.as_bool() {
        return Ok(if on {
            FenceConf::On(Vec::new())
        } else {
            FenceConf::Off
        });
    }
    let Some(items) = node.items() else {
        return Err(
            node.type_error("true, false, or a list of paths and {type = \"space\", name = ...}")
        );
    };
    let mut entries = Vec::new();
    for item in items {
        if let Some(path) = item.as_str() {
            entries.push(FenceEntry::Path(normalize_dir(path)));
        } else if item.is_table() {
            let raw: SpaceRef = item.deserialize()?;
            if raw.ty.get_ref() != "space" {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    format!("invalid fence entry type \"{}\"", raw.ty.get_ref()),
                )
                .with_label(item.file(), raw.ty.span(), "unknown type")
                .with_hint("fence entries are paths or {type = \"space\", name = \"...\"}"));
            }
            entries.push(FenceEntry::Space(raw.name));
        } else {
            return Err(item.type_error("a path or {type = \"space\", name = ...}"));
        }
    }
    Ok(FenceConf::On(entries))
}

#[cfg(test)]
mod tests {
    use linkme::distributed_slice;

    use super::*;

    /// Module paths in a crowded parent are answered from its listing; the
    /// answers must be those of `Path::exists`, the check it replaced.
    #[test]
    fn listed_parents_answer_like_exists() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut paths: Vec<String> = (0..LISTED_FROM).map(|i| format!("pkgs/m{i}")).collect();
        for path in &paths {
            std::fs::create_dir_all(root.join(path)).unwrap();
        }
        std::fs::write(root.join("pkgs/file"), "").unwrap();
        std::os::unix::fs::symlink("m0", root.join("pkgs/to-m0")).unwrap();
        std::os::unix::fs::symlink("gone", root.join("pkgs/dangling")).unwrap();
        for extra in [
            "pkgs/missing",
            "pkgs/file",
            "pkgs/to-m0",
            "pkgs/dangling",
            "pkgs/m1/",
            "pkgs/./m2",
            "pkgs/m3/../m4",
            "elsewhere/m0",
        ] {
            paths.push(extra.to_string());
        }
        let mut present = Present::new(root, paths.iter().map(String::as_str));
        assert!(present.crowded.contains("pkgs"));
        for path in &paths {
            assert_eq!(present.exists(path), root.join(path).exists(), "{path}");
        }
        assert!(present.listed.contains_key("pkgs"), "pkgs was listed");
    }
    use crate::ext::{DEP_TYPES, DepType, PLUGINS};

    // No plugin of this workspace registers a dep type yet; this one stands in
    // for them so that the "plugin not enabled" path is covered.
    const TEST_PLUGIN: &str = "qik.testplugin";

    #[distributed_slice(PLUGINS)]
    static TEST_PLUGIN_DEF: PluginDef = PluginDef {
        id: TEST_PLUGIN,
        config: |_| Ok(Arc::new(())),
        commands: "",
        factories: &[],
        schema: None,
    };

    #[distributed_slice(DEP_TYPES)]
    static TEST_DEP: DepType = DepType {
        tag: "testdep",
        plugin: TEST_PLUGIN,
        parse: |node| crate::ext::parse_typed::<TestDep>(node),
        schema: None,
    };

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TestDep {}

    impl DepSpec for TestDep {
        fn resolve(
            &self,
            _: &crate::ext::DepCx<'_>,
            _: &mut crate::ext::DepSet,
        ) -> Result<(), Diagnostic> {
            Ok(())
        }
    }

    fn parse(text: &str) -> Result<Config, Diagnostic> {
        let dir = tempfile::tempdir().expect("temp dir");
        parse_str(dir.path(), text)
    }

    #[test]
    fn plugin_type_needs_its_plugin_enabled() {
        let text = "[commands.a]\nexec = \"echo\"\ndeps = [{type = \"testdep\"}]\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.code, Some(Code::InvalidDepType));
        assert!(
            err.message
                .contains("\"testdep\" needs the plugin \"qik.testplugin\"")
        );
        // Points at the type, and says which line to add.
        assert_eq!(err.location().unwrap(), "qik.toml:3:17");
        let hint = err.hint.clone().unwrap();
        assert!(
            hint.contains("[plugins]\ntestplugin = \"qik.testplugin\""),
            "{hint}"
        );

        let enabled = format!("[plugins]\ntestplugin = \"qik.testplugin\"\n\n{text}");
        parse(&enabled).unwrap();
    }

    #[test]
    fn the_schema_has_the_top_level_keys_the_parser_reads() {
        let schema = json_schema().unwrap();
        let keys: Vec<&str> = schema.as_object().unwrap()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = TOP_LEVEL_KEYS.to_vec();
        // Old spellings, accepted with a warning.
        expected.extend(["vars", "command"]);
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(schema.as_object().unwrap()["additionalProperties"], false);
    }

    #[test]
    fn a_type_without_a_schema_accepts_any_keys_beside_its_tag() {
        let schema = json_schema().unwrap().to_value();
        let deps = &schema["properties"]["commands"]["additionalProperties"]["properties"]["deps"];
        let options = deps["items"]["anyOf"].as_array().unwrap();
        let testdep = options
            .iter()
            .find(|o| o["properties"]["type"]["enum"] == serde_json::json!(["testdep"]))
            .expect("the test plugin's dep type is described");
        assert_eq!(testdep["required"], serde_json::json!(["type"]));
        assert!(testdep.get("additionalProperties").is_none(), "{testdep}");
        // A described type refuses keys it does not know.
        let glob = options
            .iter()
            .find(|o| o["properties"]["type"]["enum"] == serde_json::json!(["glob"]))
            .unwrap();
        assert_eq!(glob["additionalProperties"], false);
        assert_eq!(glob["required"], serde_json::json!(["type", "pattern"]));
    }

    #[test]
    fn unknown_type_names_the_plugin_of_each_type() {
        let err =
            parse("[commands.a]\nexec = \"echo\"\ndeps = [{type = \"testdp\"}]\n").unwrap_err();
        assert_eq!(err.code, Some(Code::InvalidDepType));
        let hint = err.hint.unwrap();
        assert!(hint.contains("did you mean \"testdep\"?"), "{hint}");
        assert!(
            hint.contains("\"testdep\" (plugin \"qik.testplugin\")"),
            "{hint}"
        );
        assert!(hint.contains("\"glob\""), "{hint}");
    }
}
