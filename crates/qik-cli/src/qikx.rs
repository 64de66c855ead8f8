//! `qikx <executable>[@<space>] [args...]`: run any executable in a space.

use std::process::ExitCode;

use qik_core::diagnostic::{Code, Diagnostic, choices_hint};

use crate::exit::Failure;
use crate::{output, project};

const USAGE: &str = "usage: qikx <executable>[@<space>] [args...]\n       qikx --install";

pub(crate) fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            let failure = Failure::from(err);
            output::print_diagnostic(&failure.diagnostic);
            failure.exit_code()
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, Diagnostic> {
    let Some(first) = args.first() else {
        eprintln!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match first.as_str() {
        "-h" | "--help" => {
            println!("Run an executable in the environment of a qik space.\n\n{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        "-V" | "--version" => {
            println!("qikx {}", crate::VERSION);
            return Ok(ExitCode::SUCCESS);
        }
        "-i" | "--install" => return install(),
        _ => {}
    }
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
        return Err(Diagnostic::error(
            Code::SpaceNotFound,
            format!("space `{space}` is not configured"),
        )
        .with_hint(choices_hint(&space, project.space_names())));
    }
    ensure_venv(&project, &space, &qik_args)?;
    let env = project.environment(&space)?;
    let mut command = std::process::Command::new(&executable);
    command.args(&args[1..]).envs(env);
    Err(exec(command, &executable))
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
