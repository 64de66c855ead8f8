//! `qik` without `--ls`: run the selected graph and render what happens.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::graph::Graph;
use qik_core::model::Project;
use qik_core::run::{self, RunOptions};
use qik_core::runner::Interrupt;

use crate::args::{Logger, QikArgs};
use crate::output;
use crate::render::{Mode, RenderOptions, Renderer};

/// Exit code after Ctrl-C, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

pub(crate) fn workers(args: &QikArgs) -> usize {
    args.workers
        .map(usize::from)
        .unwrap_or_else(qik_core::ctx::default_workers)
}

pub(crate) fn execute(
    project: &Project,
    graph: &Graph,
    args: &QikArgs,
) -> Result<ExitCode, Diagnostic> {
    execute_to(project, graph, args, Output::Standard)
}

/// Where a run's output goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// Runnables' output on stdout, qik's own lines on stderr.
    Standard,
    /// Everything on stderr: for work done before `qikx` hands stdout to
    /// the program it runs.
    Stderr,
}

pub(crate) fn execute_to(
    project: &Project,
    graph: &Graph,
    args: &QikArgs,
    output_to: Output,
) -> Result<ExitCode, Diagnostic> {
    let interrupt = Interrupt::install()
        .map_err(|err| Diagnostic::error(Code::General, format!("cannot handle Ctrl-C: {err}")))?;
    let workers = workers(args);
    let mode = if graph.len() == 1 || workers == 1 || args.logger == Some(Logger::Stdout) {
        Mode::Stream
    } else {
        Mode::Progress
    };
    let options = RenderOptions {
        verbosity: args.verbosity.unwrap_or(1),
        mode,
        styled: output::stderr_styled(),
        progress_allowed: std::io::stderr().is_terminal() && args.logger != Some(Logger::Stdout),
        github: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
    };
    let mut renderer = match output_to {
        Output::Standard => Renderer::new(options),
        Output::Stderr => Renderer::with_writers(
            options,
            Box::new(std::io::stderr()),
            Box::new(std::io::stderr()),
        ),
    };
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for runnable in graph.runnables() {
        *totals.entry(runnable.command.clone()).or_default() += 1;
    }
    renderer.set_command_totals(totals);
    let started = Instant::now();
    let sink = renderer.share();
    let options = RunOptions {
        workers,
        force: args.force,
        explain: args.explain,
    };
    let report = run::run(project, graph, &options, &interrupt, &sink);
    let summary = sink.finish(started.elapsed());
    let report = report?;
    if report.interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::from(summary.exit_code()))
}
