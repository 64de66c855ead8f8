//! What the runner reports while it works. The CLI renders these; the engine
//! never writes to the terminal itself.

use std::time::Duration;

/// Where a replayed entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSource {
    /// `._qik/cache`: the local cache, or a remote cache's hot storage
    /// already holding the entry.
    Local,
    /// `.qik/cache`, the cache kept in the repository.
    Repo,
    /// Downloaded from a remote cache (S3, REAPI, a plugin's) for this run.
    Remote,
}

impl CacheSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheSource::Local => "local",
            CacheSource::Repo => "repo",
            CacheSource::Remote => "remote",
        }
    }
}

/// How a runnable ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ran now, with this exit code.
    Ran { code: i32 },
    /// Replayed from a cache, with the exit code of the cached run.
    Cached { code: i32, source: CacheSource },
    /// Started, then stopped by qik on Ctrl-C: its exit says nothing about
    /// the command, and nothing was cached.
    Stopped,
    /// Not run because an upstream runnable failed or qik was interrupted.
    Skipped,
}

impl Outcome {
    /// Exit code of work qik stopped, as shells report Ctrl-C.
    pub const STOPPED_CODE: i32 = 130;

    /// The exit code that counts towards qik's own.
    pub fn code(self) -> i32 {
        match self {
            Outcome::Ran { code } | Outcome::Cached { code, .. } => code,
            Outcome::Stopped => Self::STOPPED_CODE,
            Outcome::Skipped => 0,
        }
    }

    /// The command failed: a non-zero exit, run or replayed. Work qik
    /// stopped did not fail; its dependents are skipped as interrupted.
    pub fn failed(self) -> bool {
        match self {
            Outcome::Ran { code } | Outcome::Cached { code, .. } => code != 0,
            Outcome::Stopped | Outcome::Skipped => false,
        }
    }
}

/// Why a runnable was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// This upstream runnable failed.
    UpstreamFailed(String),
    Interrupted,
}

/// One thing that happened during a run.
#[derive(Clone, Debug)]
pub enum Event {
    /// The run begins: this many runnables, this many workers.
    Plan { runnables: usize, workers: usize },
    /// A runnable started on a worker (1-based). `exec` is the shell command.
    Started {
        name: String,
        command: String,
        exec: String,
        worker: usize,
    },
    /// A line of merged stdout/stderr (without its newline; may be non-UTF-8),
    /// live or replayed from a cache.
    Output { name: String, line: Vec<u8> },
    /// A runnable ended.
    Finished {
        name: String,
        command: String,
        outcome: Outcome,
        elapsed: Duration,
        /// Where the full output is kept (`._qik/out/<runnable>.out`).
        log: Option<std::path::PathBuf>,
        /// The runnable's hash, when it has one and the sink asked for
        /// hashes ([`EventSink::wants_hashes`]).
        hash: Option<String>,
    },
    /// A runnable did not run.
    Skipped {
        name: String,
        command: String,
        reason: SkipReason,
    },
    /// Why a runnable runs, or which entry it replays (`--explain` only).
    /// Sent before its output.
    Explained {
        name: String,
        reason: Box<crate::explain::Reason>,
    },
    /// Something went wrong around a runnable that is not its own exit code
    /// (a corrupt cache entry, a cache that could not be written).
    Warning {
        name: Option<String>,
        message: String,
    },
}

/// Receives events; called from worker threads.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);

    /// Whether [`Event::Output`] lines are wanted. When not, the engine skips
    /// them, and replays do not read cached logs at all (the logs stay on
    /// disk, where `Finished { log }` points).
    fn wants_output(&self) -> bool {
        true
    }

    /// Whether [`Event::Finished`] carries the runnable's hash. Off unless
    /// asked (a run report): a cached run sends thousands of these, and
    /// each hash would be one more allocation.
    fn wants_hashes(&self) -> bool {
        false
    }
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}
