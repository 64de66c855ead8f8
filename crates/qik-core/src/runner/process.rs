//! Runs one shell command the way a careful CI runner does.
//!
//! `sh -c <exec>` runs in a process group of its own, with stdin from
//! `/dev/null` and stdout and stderr sharing one pipe, so lines keep the order
//! in which the command wrote them. Output streams: each line goes to a
//! callback and every byte to a log file as it arrives, so memory stays flat
//! however much a command prints.
//!
//! Because each command has its own process group, the terminal's Ctrl-C does
//! not reach it directly: [`Interrupt`] catches SIGINT/SIGTERM in qik and
//! forwards SIGTERM to every running group, then SIGKILL to any that outlive a
//! grace period. That way qik knows which work was interrupted (and must not
//! be cached), and a command's background children die with it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, PipeReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use thiserror::Error;

/// The longest piece of a line handed to the callback. A longer line arrives
/// in several pieces, so one runaway line cannot grow memory without bound.
pub const MAX_LINE: usize = 64 * 1024;

/// How much output is read from the pipe at once.
const CHUNK: usize = 64 * 1024;

/// How long interrupted commands get to exit after SIGTERM before SIGKILL.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(2);

/// The exit code reported for a command that was not started because qik was
/// already interrupted: 128 + SIGINT, as a shell would report it.
const NOT_STARTED_CODE: i32 = 130;

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct ProcessSpec<'a> {
    /// The shell command, run as `/bin/sh -c <exec>`.
    pub exec: &'a str,
    /// The working directory.
    pub cwd: &'a Path,
    /// Variables set on top of the inherited environment.
    pub env: &'a [(OsString, OsString)],
    /// Receives every byte the command prints. Truncated first; missing
    /// parent directories are created.
    pub log_path: &'a Path,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessResult {
    /// The exit code; 128 + N when killed by signal N, as shells report it.
    pub code: i32,
    /// qik was interrupted before the command was reaped (or before it could
    /// start): its output may be incomplete and must not be cached.
    pub interrupted: bool,
    /// From spawning to reaping; zero when the command never started.
    pub elapsed: Duration,
}

/// Why a command could not be run. A command that runs and fails is not an
/// error: its exit code is in [`ProcessResult`].
#[derive(Debug, Error)]
pub enum ProcessError {
    /// `/bin/sh` could not be started, for example because `cwd` is missing.
    #[error("cannot run `sh` in {}: {source}", cwd.display())]
    Spawn {
        /// The working directory it was asked to run in.
        cwd: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The log file could not be created or written. The command is killed:
    /// its output would be lost.
    #[error("cannot write the log file {}: {source}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading the command's output failed. The command is killed.
    #[error("cannot read the output of `{exec}`: {source}")]
    Output {
        /// The shell command.
        exec: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Waiting for the command to exit failed.
    #[error("cannot wait for `{exec}` to exit: {source}")]
    Wait {
        /// The shell command.
        exec: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The signal handler could not be installed.
#[derive(Debug, Error)]
#[error("cannot install the Ctrl-C handler: {source}")]
pub struct InterruptError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// The first signal that interrupted qik (0: none yet). Written in signal
/// context, where an atomic store is all that is safe.
static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signals that interrupt qik.
const SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Tracks the process groups that are running and whether qik was
/// interrupted. Cheap to clone; all clones share one state.
#[derive(Clone, Debug)]
pub struct Interrupt {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The DAG scheduler reads this as its stop flag.
    interrupted: AtomicBool,
    /// Process group ids of the commands between spawning and reaping.
    groups: Mutex<BTreeSet<i32>>,
    /// Milliseconds between SIGTERM and SIGKILL.
    kill_grace_ms: AtomicU64,
}

/// The interrupt behind the installed signal handler; the handler can be
/// installed only once per process.
static INSTALLED: Mutex<Option<Interrupt>> = Mutex::new(None);

impl Interrupt {
    /// Installs the SIGINT/SIGTERM/SIGHUP handler (once per process; later
    /// calls return the same handle) and returns its handle. After a signal
    /// the handle stays interrupted for the life of the process.
    pub fn install() -> Result<Interrupt, InterruptError> {
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(interrupt) = &*installed {
            return Ok(interrupt.clone());
        }
        let interrupt = Interrupt::new_for_tests();
        let handler = interrupt.clone();
        // ctrlc runs this on its own thread, not in signal context, so it may
        // lock and spawn; `trigger` never blocks for long.
        ctrlc::set_handler(move || handler.trigger()).map_err(|source| InterruptError {
            source: Box::new(source),
        })?;
        for signal in SIGNALS {
            let number = signal as i32;
            let note = move || {
                let _ =
                    FIRST_SIGNAL.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
            };
            // SAFETY: the action only stores to an atomic, which is
            // async-signal-safe. signal-hook-registry chains to the handler
            // ctrlc installed just before, so both run.
            unsafe { signal_hook_registry::register(number, note) }.map_err(|source| {
                InterruptError {
                    source: Box::new(source),
                }
            })?;
        }
        *installed = Some(interrupt.clone());
        Ok(interrupt)
    }

    /// The exit code of an interrupted run, as shells report a process a
    /// signal ended: 130 for SIGINT (and when no signal is known, as after
    /// [`Interrupt::trigger`] in tests), 143 for SIGTERM, 129 for SIGHUP.
    pub fn exit_code(&self) -> i32 {
        match FIRST_SIGNAL.load(Ordering::SeqCst) {
            0 => 128 + Signal::SIGINT as i32,
            signal => 128 + signal,
        }
    }

    /// A handle without a signal handler: [`Interrupt::trigger`] stands in
    /// for Ctrl-C.
    pub fn new_for_tests() -> Interrupt {
        Interrupt {
            shared: Arc::new(Shared {
                interrupted: AtomicBool::new(false),
                groups: Mutex::new(BTreeSet::new()),
                kill_grace_ms: AtomicU64::new(duration_ms(DEFAULT_KILL_GRACE)),
            }),
        }
    }

    /// Sets how long interrupted commands get between SIGTERM and SIGKILL
    /// (2 s unless changed).
    pub fn set_kill_grace(&self, grace: Duration) {
        self.shared
            .kill_grace_ms
            .store(duration_ms(grace), Ordering::Relaxed);
    }

    /// Whether qik was interrupted.
    pub fn is_interrupted(&self) -> bool {
        self.shared.interrupted.load(Ordering::SeqCst)
    }

    /// The interrupted flag itself, to use as the DAG scheduler's stop flag.
    pub fn flag(&self) -> &AtomicBool {
        &self.shared.interrupted
    }

    /// What the signal handler does: marks qik interrupted, sends SIGTERM to
    /// every running process group, and SIGKILL to those still running after
    /// the grace period. A second call kills them at once: the user pressed
    /// Ctrl-C again and is done waiting.
    pub fn trigger(&self) {
        // Set before locking the groups: `Running::register` checks the flag
        // under the same lock, so every group is signalled by one side or the
        // other.
        if self.shared.interrupted.swap(true, Ordering::SeqCst) {
            self.shared.signal_all(Signal::SIGKILL);
            return;
        }
        self.shared.signal_all(Signal::SIGTERM);
        let grace = Duration::from_millis(self.shared.kill_grace_ms.load(Ordering::Relaxed));
        let shared = Arc::clone(&self.shared);
        // A detached thread, so the handler returns at once. Groups reaped in
        // the meantime have unregistered and are not signalled again.
        let escalate = thread::Builder::new()
            .name("qik-kill".into())
            .spawn(move || {
                thread::sleep(grace);
                shared.signal_all(Signal::SIGKILL);
            });
        if escalate.is_err() {
            // No thread to wait with: skip the grace period.
            self.shared.signal_all(Signal::SIGKILL);
        }
    }
}

impl Shared {
    fn groups(&self) -> MutexGuard<'_, BTreeSet<i32>> {
        // The set is valid after any panic: inserts and removes are atomic.
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn signal_all(&self, signal: Signal) {
        for &pgid in self.groups().iter() {
            signal_group(pgid, signal);
        }
    }
}

/// Sends `signal` to every process in group `pgid`. Errors are ignored: the
/// only likely one is that the group is already gone.
fn signal_group(pgid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid), signal);
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `spec.exec` to completion, calling `on_line` with each line of its
/// merged stdout and stderr (without the newline; a final line without one
/// is delivered too; lines longer than [`MAX_LINE`] arrive in pieces) and
/// copying every byte to `spec.log_path`.
///
/// Output is read until every process holding the pipe has closed it, so a
/// background child that keeps printing keeps the command running; on
/// interruption the whole process group is killed, which ends it.
///
/// If qik is already interrupted, nothing starts, the log is left alone, and
/// the result is `interrupted` with code 130 (128 + SIGINT).
pub fn run_process(
    spec: &ProcessSpec<'_>,
    interrupt: &Interrupt,
    on_line: &mut dyn FnMut(&[u8]),
) -> Result<ProcessResult, ProcessError> {
    if interrupt.is_interrupted() {
        return Ok(ProcessResult {
            code: NOT_STARTED_CODE,
            interrupted: true,
            elapsed: Duration::ZERO,
        });
    }
    let mut log = create_log(spec.log_path)?;
    let started = Instant::now();
    let (mut output, child) = spawn(spec)?;
    // From here on, an early return or a panic in `on_line` drops `running`,
    // which kills and reaps the group instead of leaving it behind.
    let running = Running::register(child, interrupt);
    pump(&mut output, &mut log, spec, on_line)?;
    let status = running.wait().map_err(|source| ProcessError::Wait {
        exec: spec.exec.to_owned(),
        source,
    })?;
    Ok(ProcessResult {
        code: exit_code(status),
        interrupted: interrupt.is_interrupted(),
        elapsed: started.elapsed(),
    })
}

fn create_log(path: &Path) -> Result<File, ProcessError> {
    let error = |source| ProcessError::Log {
        path: path.to_path_buf(),
        source,
    };
    // The directory usually exists: try first, create it only when missing.
    match File::create(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(error)?;
            }
            File::create(path).map_err(error)
        }
        other => other.map_err(error),
    }
}

fn spawn(spec: &ProcessSpec<'_>) -> Result<(PipeReader, Child), ProcessError> {
    let error = |source| ProcessError::Spawn {
        cwd: spec.cwd.to_path_buf(),
        source,
    };
    // One pipe for both streams: the kernel keeps the writes in order, which
    // two pipes read separately could not.
    let (reader, writer) = io::pipe().map_err(error)?;
    let stderr = writer.try_clone().map_err(error)?;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(spec.exec)
        .current_dir(spec.cwd)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        // Its own group, so it and all its children can be signalled at once.
        .process_group(0);
    let child = command.spawn().map_err(error)?;
    // `command` still holds the parent's copies of the write end, and the
    // reader sees end-of-file only once every copy is closed.
    drop(command);
    Ok((reader, child))
}

/// A spawned command whose process group is registered with an
/// [`Interrupt`]. Dropping it without [`Running::wait`] kills the group.
struct Running<'a> {
    child: Child,
    pgid: i32,
    interrupt: &'a Interrupt,
    reaped: bool,
}

impl<'a> Running<'a> {
    fn register(child: Child, interrupt: &'a Interrupt) -> Running<'a> {
        // The child leads its own group, so its pid is the group id. A pid_t
        // always fits in an i32.
        let pgid = child.id() as i32;
        let late = {
            let mut groups = interrupt.shared.groups();
            groups.insert(pgid);
            interrupt.shared.interrupted.load(Ordering::SeqCst)
        };
        if late {
            // `trigger` ran between our check and the insert and missed this
            // group; its delayed SIGKILL still sees it.
            signal_group(pgid, Signal::SIGTERM);
        }
        Running {
            child,
            pgid,
            interrupt,
            reaped: false,
        }
    }

    fn wait(mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait()?;
        self.reaped = true;
        Ok(status)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.reaped {
            // Nobody will read the output any more: stop the command now.
            signal_group(self.pgid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
        // Only after reaping: until then the group id cannot be reused, so a
        // signal sent through the registry never hits an unrelated group.
        self.interrupt.shared.groups().remove(&self.pgid);
    }
}

/// Copies the pipe to the log and hands lines to `on_line` until every
/// writer has closed it.
fn pump(
    output: &mut PipeReader,
    log: &mut File,
    spec: &ProcessSpec<'_>,
    on_line: &mut dyn FnMut(&[u8]),
) -> Result<(), ProcessError> {
    let mut chunk = vec![0; CHUNK];
    let mut lines = LineSplitter::new(MAX_LINE);
    loop {
        let read = match output.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ProcessError::Output {
                    exec: spec.exec.to_owned(),
                    source,
                });
            }
        };
        let bytes = &chunk[..read];
        // Unbuffered on purpose: the log is complete up to the last chunk
        // even if qik dies, and chunks are large enough to be cheap.
        log.write_all(bytes).map_err(|source| ProcessError::Log {
            path: spec.log_path.to_path_buf(),
            source,
        })?;
        lines.feed(bytes, on_line);
    }
    lines.finish(on_line);
    Ok(())
}

/// The exit code as a shell reports it: 128 + N for a kill by signal N.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        // `wait` reports only exits and kills; this is not reached.
        .unwrap_or(128)
}

/// Splits a byte stream into lines while holding at most `max` bytes of an
/// unfinished line.
struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    fn new(max: usize) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            max,
        }
    }

    fn feed(&mut self, mut bytes: &[u8], on_line: &mut dyn FnMut(&[u8])) {
        while let Some(newline) = memchr::memchr(b'\n', bytes) {
            self.push(&bytes[..newline], true, on_line);
            bytes = &bytes[newline + 1..];
        }
        self.push(bytes, false, on_line);
    }

    /// Adds `segment` (which has no newline) to the current line, handing
    /// out full `max`-byte pieces, and the line itself if `ends_line`.
    fn push(&mut self, mut segment: &[u8], ends_line: bool, on_line: &mut dyn FnMut(&[u8])) {
        // `>` not `>=`: a line of exactly `max` bytes stays one piece even
        // when its newline comes in the next chunk.
        while self.partial.len() + segment.len() > self.max {
            let (piece, rest) = segment.split_at(self.max - self.partial.len());
            self.emit(piece, on_line);
            segment = rest;
        }
        if ends_line {
            self.emit(segment, on_line);
        } else {
            self.partial.extend_from_slice(segment);
        }
    }

    /// Hands out the partial line followed by `tail`, without copying when
    /// there is no partial line (the common case).
    fn emit(&mut self, tail: &[u8], on_line: &mut dyn FnMut(&[u8])) {
        if self.partial.is_empty() {
            on_line(tail);
        } else {
            self.partial.extend_from_slice(tail);
            on_line(&self.partial);
            self.partial.clear();
        }
    }

    /// Hands out a last line that had no newline.
    fn finish(&mut self, on_line: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            on_line(&self.partial);
            self.partial.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    struct Run {
        result: ProcessResult,
        lines: Vec<Vec<u8>>,
        log: Vec<u8>,
    }

    fn run_in(dir: &Path, exec: &str, env: &[(OsString, OsString)], interrupt: &Interrupt) -> Run {
        // A nested log path checks that parent directories are created.
        let log_path = dir.join("out/nested/run.out");
        let spec = ProcessSpec {
            exec,
            cwd: dir,
            env,
            log_path: &log_path,
        };
        let mut lines = Vec::new();
        let result = run_process(&spec, interrupt, &mut |line| lines.push(line.to_vec()))
            .expect("the command runs");
        let log = fs::read(&log_path).unwrap_or_default();
        Run { result, lines, log }
    }

    fn run_sh(exec: &str) -> Run {
        let dir = tempfile::tempdir().unwrap();
        run_in(dir.path(), exec, &[], &Interrupt::new_for_tests())
    }

    fn lines(run: &Run) -> Vec<&[u8]> {
        run.lines.iter().map(Vec::as_slice).collect()
    }

    /// Whether any live (not zombie) process is in group `pgid`, waiting up
    /// to two seconds for the group to die.
    fn group_alive(pgid: i32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if !group_has_live_member(pgid) {
                return false;
            }
            if Instant::now() > deadline {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[cfg(target_os = "linux")]
    fn group_has_live_member(pgid: i32) -> bool {
        // Orphaned zombies may linger if pid 1 does not reap them (as in
        // some containers), so look at process states rather than `kill 0`.
        fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces.
            let Some((_, fields)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = fields.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn group_has_live_member(pgid: i32) -> bool {
        killpg(Pid::from_raw(pgid), None).is_ok()
    }

    #[test]
    fn exit_codes() {
        assert_eq!(run_sh("true").result.code, 0);
        assert_eq!(run_sh("exit 3").result.code, 3);
        let missing = run_sh("no-such-cmd-xyz");
        assert_eq!(missing.result.code, 127);
        assert!(!missing.result.interrupted);
        // sh's complaint arrives through the same pipe.
        let complaint = String::from_utf8_lossy(&missing.log);
        assert!(complaint.contains("no-such-cmd-xyz"), "{complaint}");
    }

    #[test]
    fn killed_by_signal_reports_128_plus_signal() {
        assert_eq!(run_sh("kill -9 $$").result.code, 128 + 9);
        assert_eq!(run_sh("kill -TERM $$").result.code, 128 + 15);
    }

    #[test]
    fn stdout_and_stderr_keep_their_order() {
        let run = run_sh("echo a; echo b >&2; echo c; echo d >&2");
        assert_eq!(lines(&run), [&b"a"[..], b"b", b"c", b"d"]);
        assert_eq!(run.log, b"a\nb\nc\nd\n");
    }

    #[test]
    fn non_utf8_bytes_arrive_intact() {
        let run = run_sh(r"printf '\377\376ok\r\n\200'");
        assert_eq!(lines(&run), [&b"\xff\xfeok\r"[..], b"\x80"]);
        assert_eq!(run.log, b"\xff\xfeok\r\n\x80");
    }

    #[test]
    fn final_line_without_newline_and_empty_lines() {
        let run = run_sh(r"printf 'one\n\ntwo'");
        assert_eq!(lines(&run), [&b"one"[..], b"", b"two"]);
        assert_eq!(run.log, b"one\n\ntwo");
        let silent = run_sh("true");
        assert!(silent.lines.is_empty());
        assert!(silent.log.is_empty());
    }

    #[test]
    fn log_is_truncated_on_each_run() {
        let dir = tempfile::tempdir().unwrap();
        let interrupt = Interrupt::new_for_tests();
        run_in(dir.path(), "echo a long first line", &[], &interrupt);
        let second = run_in(dir.path(), "echo b", &[], &interrupt);
        assert_eq!(second.log, b"b\n");
    }

    #[test]
    fn env_is_set_on_top_of_the_inherited_one() {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("QIK_TEST_VALUE".into(), "hello world".into()),
            ("QIK_TEST_EMPTY".into(), "".into()),
        ];
        let run = run_in(
            dir.path(),
            // PATH is inherited: `printf` and `env` are found.
            r#"printf '%s|%s|%s\n' "$QIK_TEST_VALUE" "${QIK_TEST_EMPTY-unset}" "${PATH:+has-path}""#,
            &env,
            &Interrupt::new_for_tests(),
        );
        assert_eq!(lines(&run), [b"hello world||has-path"]);
    }

    #[test]
    fn cwd_is_honoured_and_stdin_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub dir");
        fs::create_dir(&sub).unwrap();
        // `cat` would hang if stdin were inherited from the test harness.
        let run = run_in(&sub, "pwd -P; cat", &[], &Interrupt::new_for_tests());
        let expected = sub.canonicalize().unwrap();
        assert_eq!(lines(&run), [expected.as_os_str().as_encoded_bytes()]);
    }

    #[test]
    fn long_lines_arrive_in_bounded_pieces() {
        let run = run_sh("head -c 200000 /dev/zero | tr '\\0' y; echo; echo end");
        let sizes: Vec<usize> = run.lines.iter().map(Vec::len).collect();
        assert_eq!(
            sizes,
            [MAX_LINE, MAX_LINE, MAX_LINE, 200_000 - 3 * MAX_LINE, 3]
        );
        assert!(run.lines[..4].iter().flatten().all(|&b| b == b'y'));
        assert_eq!(run.log.len(), 200_000 + 1 + 4);
    }

    #[test]
    fn splitter_handles_lines_across_chunks() {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut on_line = |line: &[u8]| out.push(line.to_vec());
        let mut lines = LineSplitter::new(4);
        for chunk in [&b"ab"[..], b"cd", b"\nef\n", b"", b"ghijk", b"\n\n", b"x"] {
            lines.feed(chunk, &mut on_line);
        }
        lines.finish(&mut on_line);
        // "abcd" is exactly `max` long, so it stays whole even though its
        // newline arrived later; "ghijk" is split.
        assert_eq!(out, [&b"abcd"[..], b"ef", b"ghij", b"k", b"", b"x"]);
    }

    #[test]
    fn large_output_streams() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("big.out");
        let spec = ProcessSpec {
            exec: "head -c 200000000 /dev/zero | tr '\\0' x | fold -w 100",
            cwd: dir.path(),
            env: &[],
            log_path: &log_path,
        };
        let (mut count, mut bytes, mut longest) = (0usize, 0usize, 0usize);
        let result = run_process(&spec, &Interrupt::new_for_tests(), &mut |line| {
            count += 1;
            bytes += line.len();
            longest = longest.max(line.len());
        })
        .unwrap();
        assert_eq!(result.code, 0);
        assert_eq!((count, bytes, longest), (2_000_000, 200_000_000, 100));
        // Every byte reached the log: `fold` ends every line but the last
        // with a newline, as its input has none.
        assert_eq!(fs::metadata(&log_path).unwrap().len(), 201_999_999);
    }

    /// Runs `exec`, which must print `$$` first, and triggers `interrupt`
    /// from another thread once that line arrives, as Ctrl-C would.
    fn interrupt_after_start(exec: &str, interrupt: &Interrupt, triggers: usize) -> (Run, i32) {
        let dir = tempfile::tempdir().unwrap();
        let (started, on_start) = mpsc::channel::<()>();
        let trigger = interrupt.clone();
        let ctrl_c = thread::spawn(move || {
            if on_start.recv().is_ok() {
                for _ in 0..triggers {
                    trigger.trigger();
                }
            }
        });
        let log_path = dir.path().join("run.out");
        let spec = ProcessSpec {
            exec,
            cwd: dir.path(),
            env: &[],
            log_path: &log_path,
        };
        let mut lines = Vec::new();
        let result = run_process(&spec, interrupt, &mut |line| {
            if lines.is_empty() {
                let _ = started.send(());
            }
            lines.push(line.to_vec());
        })
        .unwrap();
        drop(started);
        ctrl_c.join().unwrap();
        let pgid = std::str::from_utf8(&lines[0]).unwrap().parse().unwrap();
        let log = fs::read(&log_path).unwrap();
        (Run { result, lines, log }, pgid)
    }

    #[test]
    fn interrupt_kills_the_whole_group() {
        let interrupt = Interrupt::new_for_tests();
        let (run, pgid) = interrupt_after_start("echo $$; sleep 30 & wait", &interrupt, 1);
        assert!(run.result.interrupted);
        assert_eq!(run.result.code, 128 + 15, "sh dies of SIGTERM");
        assert!(run.result.elapsed < Duration::from_secs(10));
        assert!(!group_alive(pgid), "the background sleep died too");
        assert!(interrupt.shared.groups().is_empty(), "unregistered");
    }

    #[test]
    fn commands_ignoring_sigterm_get_sigkill_after_the_grace() {
        let interrupt = Interrupt::new_for_tests();
        interrupt.set_kill_grace(Duration::from_millis(200));
        // The ignored SIGTERM is inherited by `sleep` too.
        let exec = "trap '' TERM; echo $$; sleep 30 & wait";
        let (run, pgid) = interrupt_after_start(exec, &interrupt, 1);
        assert!(run.result.interrupted);
        assert_eq!(run.result.code, 128 + 9);
        assert!(run.result.elapsed >= Duration::from_millis(200));
        assert!(run.result.elapsed < Duration::from_secs(10));
        assert!(!group_alive(pgid));
    }

    #[test]
    fn a_second_interrupt_kills_at_once() {
        let interrupt = Interrupt::new_for_tests();
        interrupt.set_kill_grace(Duration::from_secs(600));
        let exec = "trap '' TERM; echo $$; sleep 30 & wait";
        let (run, pgid) = interrupt_after_start(exec, &interrupt, 2);
        assert_eq!(run.result.code, 128 + 9);
        assert!(run.result.elapsed < Duration::from_secs(10));
        assert!(!group_alive(pgid));
    }

    #[test]
    fn nothing_starts_after_an_interrupt() {
        let dir = tempfile::tempdir().unwrap();
        let interrupt = Interrupt::new_for_tests();
        interrupt.trigger();
        assert!(interrupt.is_interrupted());
        assert!(interrupt.flag().load(Ordering::SeqCst));
        let run = run_in(dir.path(), "touch marker; echo ran", &[], &interrupt);
        assert!(run.result.interrupted);
        assert_eq!(run.result.code, NOT_STARTED_CODE);
        assert!(run.lines.is_empty());
        assert!(!dir.path().join("marker").exists());
    }

    #[test]
    fn a_panicking_callback_does_not_leave_the_command_running() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("run.out");
        let interrupt = Interrupt::new_for_tests();
        let spec = ProcessSpec {
            exec: "echo $$; sleep 30 & wait",
            cwd: dir.path(),
            env: &[],
            log_path: &log_path,
        };
        let mut pgid = 0;
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_process(&spec, &interrupt, &mut |line| {
                pgid = std::str::from_utf8(line).unwrap().parse().unwrap();
                panic!("callback failed");
            })
        }));
        assert!(panicked.is_err());
        assert!(!group_alive(pgid));
        assert!(interrupt.shared.groups().is_empty());
    }

    #[test]
    fn missing_cwd_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("missing");
        let log_path = dir.path().join("run.out");
        let spec = ProcessSpec {
            exec: "true",
            cwd: &cwd,
            env: &[],
            log_path: &log_path,
        };
        let error = run_process(&spec, &Interrupt::new_for_tests(), &mut |_| {}).unwrap_err();
        assert!(matches!(error, ProcessError::Spawn { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&*cwd.to_string_lossy()),
            "{error}"
        );
    }

    #[test]
    fn unwritable_log_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the log's parent directory should be.
        fs::write(dir.path().join("out"), "").unwrap();
        let log_path = dir.path().join("out/run.out");
        let spec = ProcessSpec {
            exec: "touch ran",
            cwd: dir.path(),
            env: &[],
            log_path: &log_path,
        };
        let error = run_process(&spec, &Interrupt::new_for_tests(), &mut |_| {}).unwrap_err();
        assert!(matches!(error, ProcessError::Log { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&*log_path.to_string_lossy()),
            "{error}"
        );
        assert!(!dir.path().join("ran").exists(), "not started");
    }

    /// The environment variable that makes [`installed_handler_child`] do
    /// its work; it runs in a child test process because the handler, once
    /// installed, stays for the life of the process.
    const CHILD_ENV: &str = "QIK_TEST_INTERRUPT_CHILD";

    #[test]
    fn installed_handler_turns_sigint_into_an_interrupt() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "runner::process::tests::installed_handler_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("handler child ok"), "{stdout}\n{stderr}");
    }

    #[test]
    fn installed_handler_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let interrupt = Interrupt::install().unwrap();
        let again = Interrupt::install().unwrap();
        assert!(Arc::ptr_eq(&interrupt.shared, &again.shared));
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("run.out");
        let spec = ProcessSpec {
            exec: "echo $$; sleep 30 & wait",
            cwd: dir.path(),
            env: &[],
            log_path: &log_path,
        };
        let mut pgid = 0;
        let result = run_process(&spec, &interrupt, &mut |line| {
            pgid = std::str::from_utf8(line).unwrap().parse().unwrap();
            // Without the handler, this would kill the test process.
            nix::sys::signal::raise(Signal::SIGINT).unwrap();
        })
        .unwrap();
        assert!(result.interrupted);
        assert!(again.is_interrupted());
        assert!(!group_alive(pgid));
        println!("handler child ok");
    }
}
