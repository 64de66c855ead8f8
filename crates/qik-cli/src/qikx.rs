//! `qikx <executable>[@<space>] [args...]`: run any executable in a space.

use std::process::ExitCode;

use qik_core::diagnostic::{Code, Diagnostic, choices_hint};

use crate::{EXIT_USER_ERROR, output, project};

const USAGE: &str = "usage: qikx <executable>[@<space>] [args...]";

pub(crate) fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            output::print_diagnostic(&err);
            ExitCode::from(EXIT_USER_ERROR)
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
            println!("qikx {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let (executable, space) = match first.split_once('@') {
        Some((exe, space)) => (exe.to_string(), Some(space.to_string())),
        None => (first.clone(), None),
    };
    let (project, cwd) = project::load_project(Default::default())?;
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
    let status = std::process::Command::new(&executable)
        .args(&args[1..])
        .status()
        .map_err(|err| {
            Diagnostic::error(
                Code::ArgNotSupplied,
                format!("cannot run `{executable}`: {err}"),
            )
            .with_hint("check that the executable is installed in the space's environment")
        })?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(128 + 2),
    })
}
