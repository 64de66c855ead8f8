//! The plugin's commands, built in code and run inside qik:
//!
//! - `pygraph.build` (hidden): the import graph of every tracked `*.py` file,
//!   written as `graph.json`;
//! - `pygraph.lock?pyimport=M` (hidden, one per space and module that a
//!   `pygraph` dep names): the files and distributions `M` depends on, as a
//!   deps file that the dep reads when hashing;
//! - `pygraph.check` (one per fenced space): imports that leave the fence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use qik_core::cache::CacheWhen;
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::DEFAULT_SPACE;
use qik_core::ext::{
    ActionCx, Args, CacheRef, CommandDep, CommandFactory, FactoryCx, Instances, LoadDep,
    NativeAction, ProjectView, Runnable, SPACE_ARG,
};
use qik_core::template::{self, Scope};

use crate::{BuildOptions, Graph, ID, PygraphConfig};

pub(crate) const BUILD: &str = "build";
pub(crate) const LOCK: &str = "lock";
pub(crate) const CHECK: &str = "check";

/// The argument naming the module a lock is for.
pub(crate) const PYIMPORT_ARG: &str = "pyimport";

pub(crate) static FACTORIES: [CommandFactory; 3] = [
    CommandFactory {
        name: BUILD,
        hidden: true,
        instances: Instances::Standalone(build_runnables),
    },
    CommandFactory {
        name: LOCK,
        hidden: true,
        instances: Instances::PerArgs(lock_runnable),
    },
    CommandFactory {
        name: CHECK,
        hidden: false,
        instances: Instances::Standalone(check_runnables),
    },
];

/// Every file pygraph reads: the whole Python source of the project.
const ALL_PYTHON: &str = "**.py";

pub(crate) fn config(project: &dyn ProjectView) -> Result<&PygraphConfig, Diagnostic> {
    project.config::<PygraphConfig>(ID)
}

fn plugin_name(project: &dyn ProjectView) -> &str {
    project.plugin_name(ID).unwrap_or("pygraph")
}

/// A cache setting: the command's own, else the plugin's `cache`, else
/// `[defaults] cache`, else `local`. May use `{ctx...}`.
fn cache_of(project: &dyn ProjectView, specific: Option<&String>) -> Result<String, Diagnostic> {
    let config = config(project)?;
    let Some(chosen) = specific.or(config.cache.as_ref()) else {
        return Ok(project
            .default_cache()?
            .unwrap_or_else(|| "local".to_string()));
    };
    template::render(
        chosen,
        Scope {
            module: None,
            ctx: project.ctx(),
        },
    )
    .map_err(|err| {
        Diagnostic::error(
            Code::General,
            format!(
                "cannot fill in the pygraph cache `{chosen}`: {}",
                err.message
            ),
        )
        .with_hint("check the `cache` settings of [plugins.pygraph]")
    })
}

/// `.qik` for results kept in the repo cache, else `._qik`.
fn work_dir(cache: &str) -> &'static str {
    if cache == "repo" { ".qik" } else { "._qik" }
}

/// Where `pygraph.build` writes the graph, relative to the project root.
pub(crate) fn graph_path(project: &dyn ProjectView) -> Result<String, Diagnostic> {
    let cache = cache_of(project, config(project)?.build_cache.as_ref())?;
    Ok(format!(
        "{}/artifacts/{}.{BUILD}/graph.json",
        work_dir(&cache),
        plugin_name(project)
    ))
}

/// Where the lock of `pyimport` for `space` is written, relative to the root.
pub(crate) fn lock_path(
    project: &dyn ProjectView,
    pyimport: &str,
    space: &str,
) -> Result<String, Diagnostic> {
    let cache = cache_of(project, config(project)?.lock_cache.as_ref())?;
    Ok(format!(
        "{}/artifacts/{}.{LOCK}/lock.{pyimport}.{space}.json",
        work_dir(&cache),
        plugin_name(project)
    ))
}

/// Where a lock's explanations (`--explain`) go: beside the lock, so
/// hashing its dependents reads only the globs.
fn why_path(lock_path: &str) -> String {
    format!("{}.why.json", lock_path.trim_end_matches(".json"))
}

/// The settings that change what the graph holds: inputs of every pygraph
/// runnable.
fn settings_const(project: &dyn ProjectView) -> Result<String, Diagnostic> {
    let config = config(project)?;
    Ok(format!(
        "pygraph: ignore-type-checking={} ignore-pydists={} python-path={}",
        config.ignore_type_checking,
        config.ignore_pydists,
        project.python_path()
    ))
}

fn build_options(project: &dyn ProjectView) -> Result<BuildOptions, Diagnostic> {
    let config = config(project)?;
    Ok(BuildOptions {
        ignore_type_checking: config.ignore_type_checking,
        ignore_pydists: config.ignore_pydists,
    })
}

fn build_dep(project: &dyn ProjectView) -> CommandDep {
    CommandDep {
        name: format!("{}.{BUILD}", plugin_name(project)),
        args: Args::new(),
        strict: true,
        isolated: None,
        origin: None,
    }
}

/// The dependency a `pygraph` dep adds: the lock of `pyimport` in `space`
/// (strict: a new lock re-runs the command) and the deps file it writes.
pub(crate) fn lock_deps(
    project: &dyn ProjectView,
    pyimport: &str,
    space: &str,
) -> Result<(CommandDep, LoadDep), Diagnostic> {
    let command = CommandDep {
        name: format!("{}.{LOCK}", plugin_name(project)),
        args: Args::from([
            (SPACE_ARG.to_string(), space.to_string()),
            (PYIMPORT_ARG.to_string(), pyimport.to_string()),
        ]),
        strict: true,
        isolated: None,
        origin: None,
    };
    let load = LoadDep {
        path: lock_path(project, pyimport, space)?,
        default: vec![ALL_PYTHON.to_string()],
    };
    Ok((command, load))
}

fn build_runnables(cx: &FactoryCx<'_>) -> Result<Vec<Runnable>, Diagnostic> {
    let project = cx.project;
    let graph = graph_path(project)?;
    let mut runnable = cx.runnable(DEFAULT_SPACE, &Args::new());
    runnable.exec = format!("build the import graph of {ALL_PYTHON} into {graph}");
    runnable.in_space_env = false;
    runnable.deps.globs.insert(ALL_PYTHON.to_string());
    runnable.deps.consts.insert(settings_const(project)?);
    runnable.artifacts = vec![graph];
    runnable.cache = CacheRef::from_name(cache_of(project, config(project)?.build_cache.as_ref())?);
    runnable.cache_when = CacheWhen::Success;
    runnable.native = Some(Arc::new(BuildGraph));
    runnable.deps.extend(project.base_deps(DEFAULT_SPACE)?);
    Ok(vec![runnable])
}

/// Changed whenever what a lock writes changes, so locks cached by an
/// earlier version are written again.
const LOCK_FORMAT: &str = "pygraph lock format 3: compacted globs, explanations aside";

fn lock_runnable(cx: &FactoryCx<'_>, args: &Args) -> Result<Runnable, Diagnostic> {
    let project = cx.project;
    let (Some(space), Some(pyimport)) = (args.get(SPACE_ARG), args.get(PYIMPORT_ARG)) else {
        return Err(Diagnostic::error(
            Code::General,
            format!(
                "`{}` needs the arguments `space` and `pyimport`",
                cx.command
            ),
        )
        .with_hint(format!(
            "it runs for the `pygraph` deps of commands; run `qik {}` to run every lock they use",
            cx.command
        )));
    };
    let path = lock_path(project, pyimport, space)?;
    let mut runnable = cx.runnable(space, args);
    runnable.exec = format!("lock the imports of {pyimport} into {path}");
    // The space's venv maps external modules to distributions: its inputs
    // and install come first.
    runnable.in_space_env = true;
    // The graph file (the build's artifact) is hashed by content: the lock
    // re-runs exactly when the graph (or the venv) changed.
    runnable.deps.commands.push(build_dep(project));
    runnable.deps.consts.insert(settings_const(project)?);
    runnable.deps.consts.insert(LOCK_FORMAT.to_string());
    runnable.artifacts = vec![why_path(&path), path];
    runnable.cache = CacheRef::from_name(cache_of(project, config(project)?.lock_cache.as_ref())?);
    runnable.cache_when = CacheWhen::Success;
    runnable.native = Some(Arc::new(LockModule {
        space: space.clone(),
        pyimport: pyimport.clone(),
    }));
    runnable.deps.extend(project.base_deps(space)?);
    Ok(runnable)
}

fn check_runnables(cx: &FactoryCx<'_>) -> Result<Vec<Runnable>, Diagnostic> {
    let project = cx.project;
    let mut runnables = Vec::new();
    for space in project.space_names() {
        let Some(fence) = project.fence_of(space)? else {
            continue;
        };
        let mut runnable = cx.runnable(space, &Args::new());
        runnable.exec = format!("check the imports of space {space} against its fence");
        runnable.in_space_env = true;
        runnable.deps.commands.push(build_dep(project));
        runnable.deps.globs.extend(fence.iter().cloned());
        runnable.deps.consts.insert(settings_const(project)?);
        runnable.cache =
            CacheRef::from_name(cache_of(project, config(project)?.check_cache.as_ref())?);
        runnable.cache_when = CacheWhen::Success;
        runnable.native = Some(Arc::new(CheckFence {
            space: space.to_string(),
            fence,
        }));
        runnable.deps.extend(project.base_deps(space)?);
        runnables.push(runnable);
    }
    Ok(runnables)
}

/// The raw-import cache of the engine: private, never shared.
fn import_cache_dir(cx: &ActionCx<'_>) -> PathBuf {
    cx.private_dir.join("pygraph")
}

/// Builds the graph of the tracked Python files (with import sites).
fn build_graph(cx: &mut ActionCx<'_>) -> Result<Graph, Diagnostic> {
    let project = cx.project;
    let matched = cx.files.matching(&[ALL_PYTHON.to_string()])?;
    let files: Vec<String> = matched.iter().map(|&i| cx.files.path(i)).collect();
    let cache = import_cache_dir(cx);
    let built = crate::build(
        project.root(),
        project.python_path(),
        &files,
        Some(&cache),
        &build_options(project)?,
    )
    .map_err(|err| {
        let hint = err.hint();
        Diagnostic::error(Code::General, err.to_string()).with_hint(hint)
    })?;
    for warning in &built.warnings {
        cx.line(format!("warning: {warning}"));
    }
    Ok(built.graph)
}

/// The distributions that provide each top-level module in a space, with
/// `[pydist] modules` mappings on top (an empty name ignores the module).
fn module_dists(
    cx: &ActionCx<'_>,
    space: &str,
) -> Result<BTreeMap<String, Vec<String>>, Diagnostic> {
    let project = cx.project;
    let installed = cx.installed(space);
    let installed = installed.as_ref().as_ref().map_err(Clone::clone)?;
    let mut map = installed
        .module_dists(&cx.private_dir.join("pygraph"))
        .clone();
    for (module, dist) in project.pydist_modules() {
        let dists = if dist.is_empty() {
            Vec::new()
        } else {
            vec![qik_core::hashing::normalize_pydist(dist)]
        };
        map.insert(module.clone(), dists);
    }
    Ok(map)
}

#[derive(Debug)]
struct BuildGraph;

impl NativeAction for BuildGraph {
    fn run(&self, cx: &mut ActionCx<'_>) -> Result<i32, Diagnostic> {
        let graph = build_graph(cx)?;
        let path = cx.project.root().join(graph_path(cx.project)?);
        graph.write_json(&path).map_err(|err| {
            Diagnostic::error(
                Code::General,
                format!("cannot write the import graph: {err}"),
            )
        })?;
        let internal = graph.modules().iter().filter(|m| m.internal).count();
        cx.line(format!(
            "import graph: {internal} modules, {} external, {} imports",
            graph.modules().len() - internal,
            graph.edges().len()
        ));
        Ok(0)
    }
}

#[derive(Debug)]
struct LockModule {
    space: String,
    pyimport: String,
}

impl NativeAction for LockModule {
    fn run(&self, cx: &mut ActionCx<'_>) -> Result<i32, Diagnostic> {
        let project = cx.project;
        let graph_file = project.root().join(graph_path(project)?);
        let graph = Graph::read_json(&graph_file, project.python_path()).map_err(|err| {
            Diagnostic::error(
                Code::General,
                format!("cannot read the import graph: {err}"),
            )
            .with_hint("run the graph's build again: qik pygraph.build -f")
        })?;
        let ignore_pydists = config(project)?.ignore_pydists;
        let dists = if ignore_pydists {
            BTreeMap::new()
        } else {
            module_dists(cx, &self.space)?
        };
        let lookup = |module: &str| -> Option<Vec<String>> {
            if ignore_pydists {
                Some(Vec::new())
            } else {
                dists.get(module).cloned()
            }
        };
        let mut lock = crate::lock(
            &graph,
            &self.pyimport,
            &lookup,
            project.ignore_missing_modules(),
        )
        .map_err(|err| {
            let hint = err.hint();
            Diagnostic::error(Code::General, err.to_string()).with_hint(hint)
        })?;
        lock.compact(|globs| cx.files.matching(globs))?;
        let relative = lock_path(project, &self.pyimport, &self.space)?;
        let path = project.root().join(&relative);
        write_deps_file(&path, &relative, &lock).map_err(|err| {
            Diagnostic::error(
                Code::General,
                format!("cannot write {}: {err}", path.display()),
            )
        })?;
        cx.line(format!(
            "{}: {} file patterns, {} distributions",
            self.pyimport,
            lock.globs.len(),
            lock.pydists.len()
        ));
        Ok(0)
    }
}

/// Writes a deps file (`{"globs": [...], "pydists": [...], "why": path}`,
/// what `load` deps read) and, at `path`, the map from each glob to the
/// chain of imports that brought it in; each in one rename.
fn write_deps_file(path: &Path, relative: &str, lock: &crate::Lock) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let why = why_path(relative);
    let write = |path: &Path, body: serde_json::Value| {
        qik_core::fsutil::write_atomic(path, body.to_string().as_bytes())
    };
    // The explanations first: a deps file never names a missing one.
    let why_file = PathBuf::from(why_path(&path.to_string_lossy()));
    write(&why_file, serde_json::json!(lock.why))?;
    write(
        path,
        serde_json::json!({"globs": lock.globs, "pydists": lock.pydists, "why": why}),
    )
}

#[derive(Debug)]
struct CheckFence {
    space: String,
    /// The fence's directories, relative to the project root.
    fence: Vec<String>,
}

impl NativeAction for CheckFence {
    fn run(&self, cx: &mut ActionCx<'_>) -> Result<i32, Diagnostic> {
        let graph = build_graph(cx)?;
        let python_path = &cx.project.python_path();
        let fence = crate::fence_modules(python_path, &self.fence);
        let dists = module_dists(cx, &self.space)?;
        let violations = crate::check(&graph, &fence, &|module: &str| dists.contains_key(module));
        if violations.is_empty() {
            cx.line(crate::all_clear(&self.space, &graph, &fence));
            return Ok(0);
        }
        let (external, internal): (Vec<_>, Vec<_>) = violations.iter().partition(|v| v.external);
        for (kind, found) in [("internal", internal), ("external", external)] {
            if found.is_empty() {
                continue;
            }
            cx.line(format!(
                "Found {} {kind} import violation{} for \"{}\" space:",
                found.len(),
                if found.len() == 1 { "" } else { "s" },
                self.space
            ));
            for violation in found {
                cx.line(violation.to_string());
            }
        }
        Ok(1)
    }
}
