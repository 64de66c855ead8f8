//! `qikx <executable>[@<space>] [args...]`: run any executable in a space,
//! the way `uv run` does: qikx's own flags come before the executable;
//! everything after it, `--` included, is the executable's.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, Parser};
use qik_core::diagnostic::{Code, Diagnostic, choices_hint};

use crate::exit::Failure;
use crate::{completions, output, project};

/// Run an executable in the environment of a qik space: its venv (installed
/// first when missing or out of date) and its dotenv files.
#[derive(Debug, Parser)]
#[command(
    name = "qikx",
    max_term_width = 100,
    disable_version_flag = true,
    after_help = "Examples:\n  qikx pytest -x            pytest of the space of the current directory\n  qikx python@api -m app    python of space `api`\n  qikx -- -weird-name       an executable whose name starts with `-`"
)]
struct QikxArgs {
    /// The executable to run, with the space after `@` (default: the space
    /// whose root holds the current directory).
    #[arg(value_name = "EXECUTABLE[@SPACE]", required_unless_present_any = ["install", "version", "completions"])]
    executable: Option<String>,

    /// Arguments for the executable, passed as they are (`--` too).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<OsString>,

    /// Install the venv of every space, then exit.
    #[arg(short = 'i', long, action = ArgAction::SetTrue, conflicts_with = "executable")]
    install: bool,

    /// Print the completion script for a shell (bash, zsh, fish, elvish,
    /// powershell).
    #[arg(long, value_name = "SHELL", conflicts_with = "executable")]
    completions: Option<String>,

    /// Print the version.
    #[arg(short = 'V', long, action = ArgAction::SetTrue)]
    version: bool,
}

/// The variable qikx's completion scripts set when asking for candidates.
const COMPLETE_VAR: &str = "QIKX_COMPLETE";

pub(crate) fn main() -> ExitCode {
    completions::complete_if_asked_as(QikxArgs::command, COMPLETE_VAR);
    let args = QikxArgs::parse();
    match run(args) {
        Ok(code) => code,
        Err(failure) => {
            output::print_diagnostic(&failure.diagnostic);
            failure.exit_code()
        }
    }
}

fn run(args: QikxArgs) -> Result<ExitCode, Failure> {
    if args.version {
        println!("qikx {}", crate::VERSION);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(shell) = &args.completions {
        return Ok(completions::print_script_for(shell, "qikx", COMPLETE_VAR));
    }
    if args.install {
        return Ok(install()?);
    }
    let Some(first) = args.executable else {
        unreachable!("clap requires the executable without --install");
    };
    let (executable, space) = match first.split_once('@') {
        Some((exe, space)) => (exe.to_string(), Some(space.to_string())),
        None => (first.clone(), None),
    };
    // qikx has no qik flags; QIK__* variables and the profile still apply.
    let qik_args = <crate::args::QikArgs as clap::Parser>::parse_from(["qikx"]);
    let (project, cwd, _) = project::load_project(&qik_args)?;
    let space = match space {
        Some(space) => space,
        None => {
            let relative = cwd
                .strip_prefix(&project.config.root)
                .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"))
                .unwrap_or_default();
            qik_core::graph::working_space(&project, &relative)
                .unwrap_or_else(|| qik_core::model::DEFAULT_SPACE.into())
        }
    };
    if !project.space_names().contains(space.as_str()) {
        return Err(Failure::bad_argument(
            Diagnostic::error(
                Code::SpaceNotFound,
                format!("space `{space}` is not configured"),
            )
            .with_hint(choices_hint(&space, project.space_names())),
        ));
    }
    ensure_venv(&project, &space, &qik_args)?;
    let env = project.environment(&space)?;
    let mut command = std::process::Command::new(&executable);
    command.args(&args.args).envs(env);
    Err(exec(command, &executable).into())
}

/// Installs the space's venv when it is missing or out of date (its install
/// runnable's replay check fails), so the executable never falls through
/// to another interpreter on `PATH`. What the install prints goes to
/// stderr: stdout is the program's.
fn ensure_venv(
    project: &qik_core::model::Project,
    space: &str,
    qik_args: &crate::args::QikArgs,
) -> Result<(), Diagnostic> {
    let Some((_, owner)) = project.venv_of(space)? else {
        return Ok(());
    };
    let root = &project.config.root;
    let installs: Vec<_> = project
        .venv_installs()?
        .into_iter()
        .filter(|install| install.space == owner)
        .collect();
    let usable = |installs: &[std::sync::Arc<qik_core::ext::Runnable>]| {
        installs.iter().all(|install| {
            install
                .replay_check
                .as_ref()
                .is_none_or(|check| check.holds(root))
        })
    };
    if usable(&installs) {
        return Ok(());
    }
    let names: Vec<String> = installs.iter().map(|r| r.name.clone()).collect();
    let command = format!("qik {}", names.join(" "));
    eprintln!(
        "qikx: the venv of space `{owner}` is missing or out of date; installing it ({command})"
    );
    let graph = qik_core::graph::Graph::of_runnables(project, installs.clone())?;
    let code = crate::execute::execute_to(
        project,
        &graph,
        qik_args,
        crate::execute::Output::Stderr,
        None,
        None,
    )?;
    if code == ExitCode::SUCCESS && usable(&installs) {
        return Ok(());
    }
    Err(Diagnostic::error(
        Code::General,
        format!("the venv of space `{owner}` could not be installed, so qikx runs nothing"),
    )
    .with_hint(format!(
        "see the output above; run `{command}` after fixing it"
    )))
}

/// Installs the venv of every space (that has an installable venv type),
/// as the cached runnables `qik` would run before the spaces' commands.
fn install() -> Result<ExitCode, Diagnostic> {
    let qik_args = <crate::args::QikArgs as clap::Parser>::parse_from(["qikx"]);
    let (project, _, _) = project::load_project(&qik_args)?;
    let installs = project.venv_installs()?;
    if installs.is_empty() {
        eprintln!(
            "qikx: no space has a venv that qik installs (enable a venv plugin such as qik.uv)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let graph = qik_core::graph::Graph::of_runnables(&project, installs)?;
    crate::execute::execute(&project, &graph, &qik_args)
}

/// Replaces qikx with the executable, so its exit code and signals are the
/// caller's to see. Returns only on failure.
#[cfg(unix)]
fn exec(mut command: std::process::Command, executable: &str) -> Diagnostic {
    use std::os::unix::process::CommandExt;
    let err = command.exec();
    cannot_run(executable, &err)
}

#[cfg(not(unix))]
fn exec(mut command: std::process::Command, executable: &str) -> Diagnostic {
    match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => cannot_run(executable, &err),
    }
}

fn cannot_run(executable: &str, err: &std::io::Error) -> Diagnostic {
    Diagnostic::error(Code::General, format!("cannot run `{executable}`: {err}"))
        .with_hint("check that the executable is installed in the space's environment")
}
