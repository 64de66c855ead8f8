//! `--report FILE`: a JSON record of a run, for CI to keep and read.
//!
//! The renderer fills [`Records`] from the events it renders, only when a
//! report was asked for; the file is written atomically once the run ends.
//! Its format is documented in docs/cli.md and versioned by [`VERSION`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::events::{Outcome, SkipReason};
use serde::Serialize;

/// The report format's version: bumped when a field changes meaning or goes
/// away (new fields do not bump it).
pub(crate) const VERSION: u32 = 1;

/// Where the report goes, checked writable before the run starts.
pub(crate) struct Target {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl Target {
    /// Fails when `path` is a directory or its directory cannot take a new
    /// file; writes nothing at `path` yet.
    pub(crate) fn open(path: &Path) -> Result<Target, Diagnostic> {
        let refuse = |why: String| {
            Diagnostic::error(
                Code::General,
                format!("cannot write the report to {}: {why}", path.display()),
            )
            .with_hint("give --report a file path in a writable directory")
        };
        if path.is_dir() {
            return Err(refuse("it is a directory".into()));
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".qik-report-")
            .tempfile_in(dir)
            .map_err(|err| refuse(err.to_string()))?;
        Ok(Target {
            path: path.to_path_buf(),
            temp,
        })
    }

    pub(crate) fn write(mut self, report: &Report<'_>) -> Result<(), Diagnostic> {
        let failed = |err: String| {
            Diagnostic::error(
                Code::General,
                format!("cannot write the report to {}: {err}", self.path.display()),
            )
        };
        let file = self.temp.as_file_mut();
        serde_json::to_writer_pretty(&mut *file, report).map_err(|e| failed(e.to_string()))?;
        file.write_all(b"\n").map_err(|e| failed(e.to_string()))?;
        let path = self.path.clone();
        self.temp
            .persist(&path)
            .map_err(|e| failed(e.error.to_string()))?;
        Ok(())
    }
}

/// How a runnable ended, as the report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Ran now, exit code 0.
    Ran,
    /// Replayed from a cache, exit code 0.
    Cached,
    /// Ran or replayed with another exit code.
    Failed,
    /// Not run: an upstream failed, or qik was interrupted first.
    Skipped,
    /// Started, then stopped by qik on Ctrl-C.
    Stopped,
}

/// One runnable's line of the report.
#[derive(Debug, Serialize)]
pub(crate) struct Record {
    pub(crate) name: String,
    pub(crate) command: String,
    pub(crate) status: Status,
    /// The exit code of the run or of the replayed run; absent when it did
    /// not run to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exit_code: Option<i32>,
    /// Wall time of running or replaying it, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration_ms: Option<f64>,
    /// `ran`, or the cache it was replayed from: `local`, `repo`, `remote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache: Option<&'static str>,
    /// Its hash; absent for commands that are never cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hash: Option<String>,
    /// Why it was skipped: `upstream failed` or `interrupted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'static str>,
    /// The upstream runnable whose failure skipped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) upstream: Option<String>,
}

/// The records of a run, in the order runnables ended.
#[derive(Debug, Default)]
pub(crate) struct Records(Vec<Record>);

impl Records {
    pub(crate) fn ended(
        &mut self,
        name: String,
        command: &str,
        outcome: Outcome,
        elapsed: Duration,
        hash: Option<String>,
    ) {
        let (status, exit_code, cache) = match outcome {
            Outcome::Ran { code } => (Status::Ran, Some(code), Some("ran")),
            Outcome::Cached { code, source } => (Status::Cached, Some(code), Some(source.as_str())),
            Outcome::Stopped => (Status::Stopped, None, None),
            Outcome::Skipped => return self.skipped(name, command, None),
        };
        let status = if exit_code.is_some_and(|c| c != 0) {
            Status::Failed
        } else {
            status
        };
        self.0.push(Record {
            name,
            command: command.to_owned(),
            status,
            exit_code,
            duration_ms: Some(elapsed.as_secs_f64() * 1000.0),
            cache,
            hash,
            reason: None,
            upstream: None,
        });
    }

    pub(crate) fn skipped(&mut self, name: String, command: &str, reason: Option<&SkipReason>) {
        let (reason, upstream) = match reason {
            Some(SkipReason::UpstreamFailed(upstream)) => {
                (Some("upstream failed"), Some(upstream.clone()))
            }
            Some(SkipReason::Interrupted) => (Some("interrupted"), None),
            None => (None, None),
        };
        self.0.push(Record {
            name,
            command: command.to_owned(),
            status: Status::Skipped,
            exit_code: None,
            duration_ms: None,
            cache: None,
            hash: None,
            reason,
            upstream,
        });
    }
}

/// The whole document.
#[derive(Debug, Serialize)]
pub(crate) struct Report<'a> {
    pub(crate) version: u32,
    pub(crate) qik_version: &'static str,
    /// What qik exited with.
    pub(crate) exit_code: u8,
    pub(crate) interrupted: bool,
    pub(crate) duration_ms: f64,
    pub(crate) summary: Counts,
    /// Sorted by name.
    pub(crate) runnables: &'a [Record],
}

#[derive(Debug, Serialize)]
pub(crate) struct Counts {
    pub(crate) ran: usize,
    pub(crate) cached: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) stopped: usize,
}

impl Records {
    /// The records, sorted by name.
    pub(crate) fn into_sorted(mut self) -> Vec<Record> {
        self.0.sort_by(|a, b| a.name.cmp(&b.name));
        self.0
    }
}
