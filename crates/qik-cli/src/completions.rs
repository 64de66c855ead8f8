//! Shell completions: `qik completions <shell>` prints a script that the
//! shell sources; the script asks `qik` itself for candidates, so command,
//! module, space and tag names come from the project in the current
//! directory at the moment of pressing tab.
//!
//! The protocol is clap_complete's: the script runs `QIK_COMPLETE=<shell> qik
//! -- <words>`, which [`complete_if_asked`] answers before anything else.

use std::ffi::OsStr;
use std::process::ExitCode;

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;

/// The variable the completion scripts set when asking for candidates.
const VAR: &str = "QIK_COMPLETE";
const SHELLS: Shells<'static> = Shells::builtins();

/// Answers a completion request from a shell script and exits; returns when
/// this is a normal run. Costs one environment lookup. `command` builds the
/// CLI whose arguments are completed (the arguments use this module's
/// completers, so they are passed in rather than named here).
pub(crate) fn complete_if_asked(command: fn() -> clap::Command) {
    complete_if_asked_as(command, VAR);
}

/// [`complete_if_asked`] for a binary whose scripts set `var`.
pub(crate) fn complete_if_asked_as(command: fn() -> clap::Command, var: &'static str) {
    if std::env::var_os(var).is_some() {
        clap_complete::CompleteEnv::with_factory(command)
            .var(var)
            .complete();
    }
}

/// `qik completions <shell>`: the registration script for that shell.
pub(crate) fn print_script(shell: &str) -> ExitCode {
    print_script_for(shell, "qik", VAR)
}

/// The registration script of binary `bin` (which answers `var`) for a shell.
pub(crate) fn print_script_for(shell: &str, bin: &str, var: &str) -> ExitCode {
    let Some(completer) = SHELLS.completer(shell) else {
        let names: Vec<&str> = SHELLS.names().collect();
        eprintln!(
            "error: no completions for shell `{shell}`\n  = hint: choose one of: {}",
            names.join(", ")
        );
        return ExitCode::from(crate::exit::USAGE);
    };
    let mut script = Vec::new();
    let written = completer.write_registration(var, bin, bin, bin, &mut script);
    match written.and_then(|()| std::io::Write::write_all(&mut std::io::stdout(), &script)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: cannot write the completion script: {err}");
            ExitCode::from(crate::exit::IO)
        }
    }
}

pub(crate) fn commands(current: &OsStr) -> Vec<CompletionCandidate> {
    Names::Commands.complete(current)
}

pub(crate) fn modules(current: &OsStr) -> Vec<CompletionCandidate> {
    Names::Modules.complete(current)
}

pub(crate) fn spaces(current: &OsStr) -> Vec<CompletionCandidate> {
    Names::Spaces.complete(current)
}

pub(crate) fn tags(current: &OsStr) -> Vec<CompletionCandidate> {
    Names::Tags.complete(current)
}

/// What a name completer lists, from the project of the current directory.
#[derive(Clone, Copy)]
enum Names {
    Commands,
    Modules,
    Spaces,
    Tags,
}

impl Names {
    /// Candidates starting with `current`; none when no project loads (a
    /// completion must never print errors into the command line).
    fn complete(self, current: &OsStr) -> Vec<CompletionCandidate> {
        let Some(current) = current.to_str() else {
            return Vec::new();
        };
        let Ok(cwd) = std::env::current_dir() else {
            return Vec::new();
        };
        let Ok(config) = qik_core::config::load(&cwd) else {
            return Vec::new();
        };
        let mut names: Vec<String> = match self {
            Names::Commands => config
                .commands
                .values()
                .filter(|c| !c.hidden)
                .map(|c| c.name.clone())
                .chain(config.plugins.values().flat_map(|plugin| {
                    plugin
                        .def
                        .factories
                        .iter()
                        .filter(|f| !f.hidden)
                        .map(|f| format!("{}.{}", plugin.name, f.name))
                }))
                .collect(),
            Names::Modules => config
                .spaces
                .values()
                .flat_map(|s| s.modules.iter().map(|m| m.name.clone()))
                .collect(),
            Names::Spaces => config
                .spaces
                .keys()
                .cloned()
                .chain([qik_core::model::DEFAULT_SPACE.to_string()])
                .collect(),
            Names::Tags => config
                .commands
                .values()
                .flat_map(|c| c.tags.iter().cloned())
                .collect(),
        };
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|name| name.starts_with(current))
            .map(CompletionCandidate::new)
            .collect()
    }
}
