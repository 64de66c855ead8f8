//! qik's own exit codes, apart from the runnables' (docs/cli.md).
//!
//! A run exits with the highest exit code of its runnables, so qik's own
//! errors take codes that test runners and linters do not use for their
//! findings: 2 for bad arguments (as clap and argparse), and the sysexits
//! codes for a configuration qik cannot use (78) and a file, git or a process
//! qik could not use (74). A CI script can then tell "the tests failed" from
//! "qik could not run them".

use std::process::ExitCode;

use qik_core::diagnostic::{Code, Diagnostic};

/// Bad arguments: an unknown flag or name, an unwritable `--report` path.
pub(crate) const USAGE: u8 = 2;
/// qik could not use a file, git or a process (sysexits `EX_IOERR`).
pub(crate) const IO: u8 = 74;
/// The configuration (qik.toml, context, profiles) is wrong (`EX_CONFIG`).
pub(crate) const CONFIG: u8 = 78;
/// qik was interrupted by SIGINT (Ctrl-C), as shells report it; SIGTERM
/// gives 143 and SIGHUP 129 (128 + the signal's number).
pub(crate) const INTERRUPTED: u8 = 130;

/// An error qik stops with: what it prints, and its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) diagnostic: Diagnostic,
    pub(crate) code: u8,
}

impl Failure {
    /// An error in what the command line asked for (names, flags). A cycle
    /// or an unusable file found on the way stays what it is.
    pub(crate) fn usage(diagnostic: Diagnostic) -> Failure {
        let code = match diagnostic.code {
            Some(Code::General) => IO,
            Some(Code::GraphCycle) => CONFIG,
            _ => USAGE,
        };
        Failure { diagnostic, code }
    }

    /// A flag's value qik cannot use, whatever the diagnostic's code.
    pub(crate) fn bad_argument(diagnostic: Diagnostic) -> Failure {
        Failure {
            diagnostic,
            code: USAGE,
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

/// Loading and running: `general` is a file or process qik could not use,
/// a context profile is a command-line choice, anything else is the config.
impl From<Diagnostic> for Failure {
    fn from(diagnostic: Diagnostic) -> Failure {
        let code = match diagnostic.code {
            Some(Code::General) => IO,
            Some(Code::CtxProfileNotFound | Code::UnknownReference) => USAGE,
            _ => CONFIG,
        };
        Failure { diagnostic, code }
    }
}
