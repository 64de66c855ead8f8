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
mod explain;
mod ls;
mod ls_plan;
mod output;
mod profile;
mod project;
mod qikx;
mod render;
mod select;
mod watch;

use std::process::ExitCode;

use clap::Parser;

pub use args::QikArgs;

/// The version `--version` reports: the one `cargo xtask release` stamps,
/// else the crate's.
const VERSION: &str = match option_env!("QIK_RELEASE_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

/// Exit code of user errors (bad config, unknown names). Bad arguments exit 2 (clap).
const EXIT_USER_ERROR: u8 = 1;

/// Entry point of `qik`; a third-party binary with extra plugins calls this.
pub fn qik_main() -> ExitCode {
    completions::complete_if_asked(<args::QikArgs as clap::CommandFactory>::command);
    // `qik completions <shell>`; a project command of that name would need
    // a second word that is a shell's name to be mistaken for it.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let [_, word, shell] = argv.as_slice() {
        if word == "completions" {
            if let Some(shell) = shell.to_str().filter(|s| !s.starts_with('-')) {
                return completions::print_script(shell);
            }
        }
    }
    let args = QikArgs::parse();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            output::print_diagnostic(&err);
            ExitCode::from(EXIT_USER_ERROR)
        }
    }
}

/// Entry point of `qikx`.
pub fn qikx_main() -> ExitCode {
    qikx::main()
}

fn run(raw_args: &QikArgs) -> Result<ExitCode, qik_core::diagnostic::Diagnostic> {
    let loaded = project::load(raw_args)?;
    let args = &loaded.args;
    // As in the reference, listing and failing never watch.
    if args.watch && !args.ls && !args.fail {
        return watch::watch(loaded, raw_args);
    }
    let graph = select::graph(&loaded)?;
    if args.ls && (args.json || args.explain) {
        ls_plan::print(&loaded.project, &graph, args)?;
    } else if args.ls {
        ls::print(&graph);
    } else if !args.fail {
        let code = execute::execute(&loaded.project, &graph, args);
        // The process ends here: freeing thousands of runnables one by one
        // would only delay the exit.
        std::mem::forget(graph);
        std::mem::forget(loaded);
        return code;
    }
    if args.fail && !graph.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
