//! `qik` without `--ls`: run the selected graph and render what happens.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::graph::Graph;
use qik_core::model::Project;
use qik_core::run::{self, RunOptions};
use qik_core::runner::Interrupt;

use crate::args::{Logger, QikArgs};
use crate::render::{Mode, RenderOptions, Renderer};
use crate::report::{self, Report};
use crate::{exit, output};

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
    execute_to(project, graph, args, Output::Standard, None, None)
}

/// [`execute`], writing a `--report` at the end.
pub(crate) fn execute_reported(
    project: &Project,
    graph: &Graph,
    args: &QikArgs,
    report: Option<report::Target>,
    prefetch: Option<run::Prefetch>,
) -> Result<ExitCode, Diagnostic> {
    execute_to(project, graph, args, Output::Standard, report, prefetch)
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

/// The runnables that run with no venv active, with their spaces: their
/// space has no venv of its own and `VIRTUAL_ENV` is unset, so a program
/// they start comes from `PATH` alone.
fn without_venv(project: &Project, graph: &Graph) -> HashMap<String, String> {
    if std::env::var_os("VIRTUAL_ENV").is_some_and(|v| !v.is_empty()) {
        return HashMap::new();
    }
    let mut bare: HashMap<&str, bool> = HashMap::new();
    graph
        .runnables()
        .filter(|r| r.in_space_env)
        .filter(|r| {
            // A venv qik cannot locate is another error's business.
            *bare
                .entry(r.space.as_str())
                .or_insert_with(|| matches!(project.site_packages(&r.space), Ok(None)))
        })
        .map(|r| (r.name.clone(), r.space.clone()))
        .collect()
}

pub(crate) fn execute_to(
    project: &Project,
    graph: &Graph,
    args: &QikArgs,
    output_to: Output,
    report: Option<report::Target>,
    prefetch: Option<run::Prefetch>,
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
        verbosity: args.verbosity_level(),
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
    renderer.set_without_venv(without_venv(project, graph));
    if report.is_some() {
        renderer.keep_records();
    }
    let started = Instant::now();
    let sink = renderer.share();
    let options = RunOptions {
        workers,
        force: args.force,
        explain: args.explain,
    };
    let ran = run::run_prefetched(project, graph, prefetch, &options, &interrupt, &sink);
    let wall = started.elapsed();
    let ended = sink.finish(wall);
    let ran = ran?;
    let code = if ran.interrupted {
        u8::try_from(ran.exit_code).unwrap_or(exit::INTERRUPTED)
    } else {
        ended.summary.exit_code()
    };
    if let (Some(target), Some(records)) = (report, ended.records) {
        let runnables = records.into_sorted();
        target.write(&Report {
            version: report::VERSION,
            qik_version: crate::VERSION,
            exit_code: code,
            interrupted: ran.interrupted,
            duration_ms: wall.as_secs_f64() * 1000.0,
            summary: report::Counts {
                ran: ended.summary.ran,
                cached: ended.summary.cached,
                failed: ended.summary.failed,
                skipped: ended.summary.skipped,
                stopped: ended.summary.stopped,
            },
            runnables: &runnables,
        })?;
    }
    Ok(ExitCode::from(code))
}
