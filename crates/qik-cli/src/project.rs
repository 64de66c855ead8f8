//! Loading the project for the current directory and turning arguments into a
//! selection.

use std::collections::BTreeMap;
use std::path::PathBuf;

use qik_core::config;
use qik_core::ctx::{self, Ctx};
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::graph::{self, Selection};
use qik_core::model::Project;
use qik_core::run;

use crate::args::QikArgs;
use crate::{output, profile};

pub(crate) struct Loaded {
    pub(crate) project: Project,
    pub(crate) selection: Selection,
    /// The arguments with the context profile's `qik` defaults filled in.
    pub(crate) args: QikArgs,
    /// Where qik was started.
    pub(crate) cwd: PathBuf,
}

pub(crate) fn current_dir() -> Result<PathBuf, Diagnostic> {
    std::env::current_dir().map_err(|err| {
        Diagnostic::error(
            Code::ConfigNotFound,
            format!("cannot read the current directory: {err}"),
        )
    })
}

/// Loads the configuration, prints its warnings, applies the context profile
/// and resolves context.
pub(crate) fn load_project(args: &QikArgs) -> Result<(Project, PathBuf, QikArgs), Diagnostic> {
    let (project, cwd, args, ()) = load_project_with(args, |_| ())?;
    Ok((project, cwd, args))
}

/// [`load_project`], starting `at_root` with the project root as soon as
/// it is located, before the configuration is parsed.
fn load_project_with<T>(
    args: &QikArgs,
    at_root: impl FnOnce(&std::path::Path) -> T,
) -> Result<(Project, PathBuf, QikArgs, T), Diagnostic> {
    let cwd = current_dir()?;
    let located = config::locate(&cwd)?;
    let started = at_root(
        located
            .path
            .parent()
            .expect("a config file has a parent directory"),
    );
    let config = config::load_located(&cwd, located)?;
    for warning in &config.warnings {
        output::print_diagnostic(warning);
    }
    let (project, args) = build_project(config, args)?;
    Ok((project, cwd, args, started))
}

/// A project from a parsed configuration: applies its context profile and
/// resolves context. Also builds the configuration of another revision
/// (`--since`) or a reloaded one (`--watch`) the same way.
pub(crate) fn build_project(
    config: config::Config,
    args: &QikArgs,
) -> Result<(Project, QikArgs), Diagnostic> {
    let profile = config
        .profile(args.profile.as_deref().unwrap_or("default"))?
        .cloned();
    let (args, arch) = match &profile {
        Some(profile) => profile::apply(args, profile)?,
        None => (args.clone(), None),
    };
    let vars = profile::project_vars(&config.ctx_vars, profile.as_ref());
    let ctx = Ctx::resolve(&vars, |key| std::env::var(key).ok(), qik_ctx(&args, arch))?;
    Ok((Project::new(config, ctx)?, args))
}

pub(crate) fn load(args: &QikArgs) -> Result<Loaded, Diagnostic> {
    let (project, cwd, args) = load_project(args)?;
    Ok(loaded(project, &cwd, args))
}

/// [`load`], for a run: the git index and the remembered replays are read
/// on another thread (`run::Prefetch`) from the moment the project root is
/// known, while the configuration is parsed and the graph selected.
pub(crate) fn load_for_run(args: &QikArgs) -> Result<(Loaded, run::Prefetch), Diagnostic> {
    let (project, cwd, args, prefetch) = load_project_with(args, run::Prefetch::start)?;
    Ok((loaded(project, &cwd, args), prefetch))
}

/// The selection the arguments make in a project loaded from `cwd`.
pub(crate) fn loaded(project: Project, cwd: &std::path::Path, args: QikArgs) -> Loaded {
    let mut spaces = args.spaces.clone();
    if spaces.is_empty() {
        let relative = cwd
            .strip_prefix(&project.config.root)
            .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"))
            .unwrap_or_default();
        spaces.extend(graph::working_space(&project, &relative));
    }
    let selection = Selection {
        commands: args.commands.clone(),
        modules: args.modules.clone(),
        spaces,
        tags: args.tags.clone(),
        caches: args.caches.clone(),
        isolated: args.isolated,
    };
    Loaded {
        project,
        selection,
        args,
        cwd: cwd.to_path_buf(),
    }
}

/// The `{ctx.qik.*}` values.
fn qik_ctx(args: &QikArgs, profile_arch: Option<String>) -> BTreeMap<String, String> {
    let flag = |on: bool| if on { "True" } else { "False" }.to_string();
    let list = |items: &[String]| {
        if items.is_empty() {
            "None".to_string()
        } else {
            items.join(",")
        }
    };
    let arch = std::env::var("QIK__ARCH")
        .ok()
        .or(profile_arch)
        .unwrap_or_else(|| ctx::arch().to_string());
    let mut values = BTreeMap::from([
        ("arch".into(), arch),
        ("isolated".into(), flag(args.isolated)),
        ("watch".into(), flag(args.watch)),
        ("force".into(), flag(args.force)),
        ("ls".into(), flag(args.ls)),
        ("fail".into(), flag(args.fail)),
        (
            "since".into(),
            args.since.clone().unwrap_or_else(|| "None".into()),
        ),
        ("commands".into(), list(&args.commands)),
        ("modules".into(), list(&args.modules)),
        ("spaces".into(), list(&args.spaces)),
        ("caches".into(), list(&args.caches)),
        ("tags".into(), list(&args.tags)),
        (
            "cache_status".into(),
            args.cache_status
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_else(|| "None".into()),
        ),
    ]);
    if let Some(workers) = args.workers {
        values.insert("workers".into(), workers.to_string());
    }
    values
}
