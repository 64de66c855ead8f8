//! Writing diagnostics to the terminal, and whether qik's own output
//! (stderr) is colored.

use std::sync::OnceLock;

use qik_core::diagnostic::Diagnostic;

use crate::args::ColorWhen;

static COLOR: OnceLock<ColorWhen> = OnceLock::new();

/// The `--color` choice; set once, before anything is printed.
pub(crate) fn set_color(when: ColorWhen) {
    let _ = COLOR.set(when);
}

/// Whether stderr gets colors and emoji. `auto` asks anstream (a terminal,
/// `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`, `TERM=dumb`) and adds
/// `FORCE_COLOR`, which it does not read; `NO_COLOR` wins over both forces.
pub(crate) fn stderr_styled() -> bool {
    match COLOR.get().copied().unwrap_or_default() {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            if anstyle_query::no_color() {
                false
            } else if std::env::var_os("FORCE_COLOR").is_some_and(|v| !v.is_empty()) {
                true
            } else {
                anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
            }
        }
    }
}

pub(crate) fn print_diagnostic(diagnostic: &Diagnostic) {
    eprintln!("{}", diagnostic.render(stderr_styled()));
}
