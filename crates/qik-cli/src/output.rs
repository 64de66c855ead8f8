//! Writing diagnostics to the terminal.

use std::io::IsTerminal;

use qik_core::diagnostic::Diagnostic;

/// Whether stderr gets colors: a terminal, and `NO_COLOR` unset.
pub(crate) fn stderr_styled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

pub(crate) fn print_diagnostic(diagnostic: &Diagnostic) {
    eprintln!("{}", diagnostic.render(stderr_styled()));
}
