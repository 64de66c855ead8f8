//! Executors: how a runnable's command runs.
//!
//! The built-in `local` executor runs `sh -c` in its own process group on
//! this machine. A plugin registers another type in [`EXECUTOR_TYPES`] to run
//! commands elsewhere (a remote-execution service, a container); it gets the
//! job as plain data and hands back the exit code, with the log written and
//! the artifacts placed in the project, exactly as a local run leaves them.
//! Caching, replays and `--explain` then see no difference.
//!
//! [`EXECUTOR_TYPES`]: crate::ext::EXECUTOR_TYPES

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use crate::ctx::Ctx;
use crate::diagnostic::Diagnostic;
use crate::fsutil::staging;
use crate::runner::{Interrupt, ProcessResult};

/// One command to run, as an executor sees it.
pub struct Job<'a> {
    /// The runnable's name, for messages.
    pub runnable: &'a str,
    /// The shell command.
    pub exec: &'a str,
    /// The project root: the working directory, and where artifacts belong.
    pub root: &'a Path,
    /// Variables set on top of qik's own environment: the space's venv and
    /// dotenv, the runnable's own, `QIK__CMD`, `QIK__RUNNABLE`, `QIK__WORKER`.
    pub env: &'a [(OsString, OsString)],
    /// The artifact globs the command declares (relative to the root).
    pub artifacts: &'a [String],
    /// The files the runnable's hash covers, for executors that ship inputs.
    pub inputs: &'a dyn JobInputs,
    /// Where the command's whole output goes (truncated first).
    pub log_path: &'a Path,
    /// Set on Ctrl-C: stop, and report the run as interrupted.
    pub interrupt: &'a Interrupt,
    /// The project's context variables, for `{ctx...}` in the executor's
    /// config (resolved after parsing, as for remote caches).
    pub ctx: &'a Ctx,
    /// Reports a warning about this runnable (not part of its log, so not
    /// cached): e.g. a remote executor falling back to running locally.
    pub warn: &'a dyn Fn(&str),
}

/// The input files of a job, computed only when an executor asks.
pub trait JobInputs {
    /// Paths relative to the project root: the files the runnable's globs
    /// select, its upstream commands' artifacts, and its space's dotenv and
    /// venv files.
    fn files(&self) -> Result<Vec<String>, Diagnostic>;
}

/// A temporary file in `dir` to write an output in before renaming it over
/// its place, claimed as core's own staging is: should this process die
/// before the rename, the next restore or [`sweep_output_staging`] of `dir`
/// removes it (see `fsutil::staging`).
pub fn output_staging(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let temp = tempfile::Builder::new()
        .prefix(staging::RESTORE_PREFIX)
        .tempfile_in(dir)?;
    staging::claim(temp.as_file());
    Ok(temp)
}

/// Removes the abandoned [`output_staging`] files directly in `dir` (left
/// by a process that was killed); those of live processes stay.
pub fn sweep_output_staging(dir: &Path) {
    staging::sweep(dir, |name| name.starts_with(staging::RESTORE_PREFIX));
}

/// Runs jobs.
pub trait Executor: Send + Sync + fmt::Debug {
    /// Runs `job`, passing each output line to `output` as it comes (and
    /// writing every byte to `job.log_path`). A command that runs and fails
    /// is `Ok` with its exit code; `Err` means it could not be run at all.
    fn execute(
        &self,
        job: &Job<'_>,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<ProcessResult, Diagnostic>;
}
