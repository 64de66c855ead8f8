//! The `qik` and `qikx` command-line tools.
//!
//! Parses arguments, loads the project through qik-core, and renders results
//! and errors. Plugins are linked in here behind cargo features: a crate that
//! nobody references is not linked, and its registry entries would vanish.

#[cfg(feature = "pygraph")]
use qik_pygraph as _;
#[cfg(feature = "reapi")]
use qik_reapi as _;
#[cfg(feature = "s3")]
use qik_s3 as _;
#[cfg(feature = "uv")]
use qik_uv as _;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod completions;
mod execute;
mod exit;
mod explain;
mod graph_text;
mod ls;
mod ls_plan;
mod output;
mod profile;
mod project;
mod qikx;
mod render;
mod report;
mod select;
mod watch;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use args::QikArgs;
use exit::Failure;

/// The version `--version` reports: the one `cargo xtask release` stamps,
/// else the crate's.
const VERSION: &str = match option_env!("QIK_RELEASE_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

/// Entry point of `qik`; a third-party binary with extra plugins calls this.
pub fn qik_main() -> ExitCode {
    completions::complete_if_asked(<args::QikArgs as clap::CommandFactory>::command);
    let argv = args::legacy_verbosity(std::env::args_os().collect());
    if let Some(code) = builtin_word(&argv) {
        return code;
    }
    let args = QikArgs::parse_from(argv);
    if args.version {
        print_version(args.verbose > 0);
        return ExitCode::SUCCESS;
    }
    output::set_color(args.color);
    match run(&args) {
        Ok(code) => code,
        Err(failure) => {
            output::print_diagnostic(&failure.diagnostic);
            failure.exit_code()
        }
    }
}

/// `qik completions <shell>`, `qik help` and `qik schema`. A project
/// command named `help` or `schema` wins (its name is a user's choice);
/// `qik -- help` runs it too. A command would need a second word that is a
/// shell's name to be mistaken for `completions`.
fn builtin_word(argv: &[OsString]) -> Option<ExitCode> {
    match argv {
        [_, word, shell] if word == "completions" => shell
            .to_str()
            .filter(|s| !s.starts_with('-'))
            .map(completions::print_script),
        [_, word] if (word == "help" || word == "schema") && !project_has_command(word) => {
            if word == "help" {
                let _ = QikArgs::command().print_long_help();
                Some(ExitCode::SUCCESS)
            } else {
                Some(print_schema())
            }
        }
        _ => None,
    }
}

fn project_has_command(name: &OsString) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    std::env::current_dir()
        .ok()
        .and_then(|cwd| qik_core::config::load(&cwd).ok())
        .is_some_and(|config| config.commands.contains_key(name))
}

/// The JSON Schema of qik.toml as this binary reads it: its plugins' keys
/// and types included.
fn print_schema() -> ExitCode {
    match qik_core::config::json_schema() {
        Ok(schema) => {
            print!("{}", qik_core::schema::to_json(&schema));
            ExitCode::SUCCESS
        }
        Err(err) => {
            output::print_diagnostic(&err);
            ExitCode::from(exit::CONFIG)
        }
    }
}

/// `qik 0.1.0`; with `-v`, each plugin compiled in and the types it adds.
fn print_version(plugins: bool) {
    println!("qik {VERSION}");
    if !plugins {
        return;
    }
    let registry = qik_core::ext::Registry::get();
    println!("plugins:");
    for id in registry.plugin_ids() {
        let mut types: Vec<String> = Vec::new();
        let mut add = |kind: &str, tags: &mut dyn Iterator<Item = &'static str>| {
            let tags: Vec<&str> = tags.collect();
            if !tags.is_empty() {
                types.push(format!("{kind} {}", tags.join(", ")));
            }
        };
        let owned = |plugin: &str| plugin == id;
        add(
            "deps",
            &mut registry
                .dep_types()
                .filter(|t| owned(t.plugin))
                .map(|t| t.tag),
        );
        add(
            "caches",
            &mut registry
                .cache_types()
                .filter(|t| owned(t.plugin))
                .map(|t| t.tag),
        );
        add(
            "venvs",
            &mut registry
                .venv_types()
                .filter(|t| owned(t.plugin))
                .map(|t| t.tag),
        );
        add(
            "executors",
            &mut registry
                .executor_types()
                .filter(|t| owned(t.plugin))
                .map(|t| t.tag),
        );
        if types.is_empty() {
            println!("  {id}");
        } else {
            println!("  {id} ({})", types.join("; "));
        }
    }
}

/// Entry point of `qikx`.
pub fn qikx_main() -> ExitCode {
    qikx::main()
}

fn run(raw_args: &QikArgs) -> Result<ExitCode, Failure> {
    // Checked before anything runs: a run whose report cannot be written
    // would leave CI without the record it asked for.
    let report = raw_args
        .report
        .as_deref()
        .map(report::Target::open)
        .transpose()
        .map_err(Failure::bad_argument)?;
    // A run reads the git index while its configuration is loaded; the
    // profile may still turn it into a listing, which reads nothing more.
    let (loaded, prefetch) =
        if raw_args.graph.is_none() && !raw_args.ls && !raw_args.fail && !raw_args.watch {
            let (loaded, prefetch) = project::load_for_run(raw_args)?;
            (loaded, Some(prefetch))
        } else {
            (project::load(raw_args)?, None)
        };
    let args = &loaded.args;
    // As in the reference, listing and failing never watch.
    if args.watch && !args.ls && !args.fail && args.graph.is_none() {
        return watch::watch(loaded, raw_args).map_err(Failure::from);
    }
    let graph = select::graph(&loaded).map_err(Failure::usage)?;
    if let Some(format) = args.graph {
        graph_text::print(&graph, format);
    } else if args.ls && (args.json || args.explain) {
        ls_plan::print(&loaded.project, &graph, args)?;
    } else if args.ls {
        ls::print(&graph);
    } else if !args.fail {
        let code = execute::execute_reported(&loaded.project, &graph, args, report, prefetch)?;
        // The process ends here: freeing thousands of runnables one by one
        // would only delay the exit.
        std::mem::forget(graph);
        std::mem::forget(loaded);
        return Ok(code);
    }
    if args.fail && !graph.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
