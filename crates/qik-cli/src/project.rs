//! Loading the project for the current directory and turning arguments into a
//! selection.

use std::collections::BTreeMap;
use std::path::PathBuf;

use qik_core::config;
use qik_core::ctx::{self, Ctx};
use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::graph::{self, Selection};
use qik_core::model::Project;

use crate::args::QikArgs;
use crate::output;

pub(crate) struct Loaded {
    pub(crate) project: Project,
    pub(crate) selection: Selection,
}

pub(crate) fn current_dir() -> Result<PathBuf, Diagnostic> {
    std::env::current_dir().map_err(|err| {
        Diagnostic::error(
            Code::ConfigNotFound,
            format!("cannot read the current directory: {err}"),
        )
    })
}

/// Loads the configuration, prints its warnings and resolves context.
pub(crate) fn load_project(
    qik_values: BTreeMap<String, String>,
) -> Result<(Project, PathBuf), Diagnostic> {
    let cwd = current_dir()?;
    let config = config::load(&cwd)?;
    for warning in &config.warnings {
        output::print_diagnostic(warning);
    }
    let ctx = Ctx::resolve(&config.ctx_vars, |key| std::env::var(key).ok(), qik_values)?;
    Ok((Project::new(config, ctx)?, cwd))
}

pub(crate) fn load(args: &QikArgs) -> Result<Loaded, Diagnostic> {
    let (project, cwd) = load_project(qik_ctx(args))?;
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
    Ok(Loaded { project, selection })
}

/// The `{ctx.qik.*}` values.
fn qik_ctx(args: &QikArgs) -> BTreeMap<String, String> {
    let workers = args
        .workers
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let flag = |on: bool| if on { "True" } else { "False" }.to_string();
    let list = |items: &[String]| {
        if items.is_empty() {
            "None".to_string()
        } else {
            items.join(",")
        }
    };
    let arch = std::env::var("QIK__ARCH").unwrap_or_else(|_| ctx::arch().to_string());
    BTreeMap::from([
        ("arch".into(), arch),
        ("workers".into(), workers.to_string()),
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
    ])
}
