//! Timing whole processes: warm-up rounds, measured runs, min / median /
//! max wall time and peak RSS. Shared by the bench's scenarios.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const WARMUP: usize = 3;

/// Statistics of one measured command.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    samples: Vec<Duration>,
    /// The largest peak RSS of any measured run, in KiB.
    pub(crate) max_rss_kib: u64,
}

impl Stats {
    fn sorted(&self) -> Vec<Duration> {
        let mut samples = self.samples.clone();
        samples.sort();
        samples
    }

    pub(crate) fn min(&self) -> f64 {
        ms(self.sorted()[0])
    }

    pub(crate) fn median(&self) -> f64 {
        let sorted = self.sorted();
        ms(sorted[sorted.len() / 2])
    }

    pub(crate) fn max(&self) -> f64 {
        ms(self.sorted()[self.samples.len() - 1])
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "min_ms": self.min(),
            "median_ms": self.median(),
            "max_ms": self.max(),
            "runs": self.samples.len(),
            "max_rss_mib": self.max_rss_kib as f64 / 1024.0,
        })
    }
}

/// What became of a measurement that was asked for.
pub(crate) enum Measured {
    Done(Stats),
    /// The command failed; the report says so instead of a number.
    Failed(String),
    /// Not measurable yet (a feature still being written); the row stays in
    /// the report as a reminder.
    Pending(&'static str),
}

impl Measured {
    pub(crate) fn stats(&self) -> Option<&Stats> {
        match self {
            Measured::Done(stats) => Some(stats),
            Measured::Failed(_) | Measured::Pending(_) => None,
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        match self {
            Measured::Done(stats) => stats.json(),
            Measured::Failed(why) => serde_json::json!({ "failed": why }),
            Measured::Pending(why) => serde_json::json!({ "pending": why }),
        }
    }
}

/// One scenario: qik, the floor of the same work, the Python qik.
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) qik: Measured,
    pub(crate) floor: Option<(String, Measured)>,
    pub(crate) python: Option<Measured>,
    /// Instructions executed by one run of qik and of the floor, where
    /// counted (see [`instructions`]).
    pub(crate) instructions: Instructions,
}

/// Instruction counts of one run each (`None`: not counted for this row).
#[derive(Clone, Default)]
pub(crate) struct Instructions {
    pub(crate) qik: Option<Counted>,
    pub(crate) floor: Option<Counted>,
}

/// Instructions executed (callgrind's `Ir`, every thread), or why not.
pub(crate) type Counted = std::result::Result<u64, String>;

/// The instructions one run of `probe` executes, all threads together, as
/// callgrind counts them. Deterministic where wall time is not: the same
/// binary on the same files counts within a fraction of a percent from run
/// to run, whatever else the machine is doing.
pub(crate) fn instructions(label: &str, probe: &Probe<'_>) -> Counted {
    let count = || -> Result<u64> {
        let out = tempfile::NamedTempFile::new()?;
        let mut valgrind = Command::new("valgrind");
        valgrind
            .arg("--tool=callgrind")
            .arg("--quiet")
            .arg(format!("--callgrind-out-file={}", out.path().display()))
            .arg(&probe.program)
            .args(&probe.args)
            .current_dir(probe.cwd)
            .envs(probe.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(stdin) = &probe.stdin {
            valgrind.stdin(fs::File::open(stdin)?);
        } else {
            valgrind.stdin(Stdio::null());
        }
        let output = valgrind
            .output()
            .with_context(|| format!("cannot start valgrind for {}", probe.describe()))?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            bail!(
                "{} under callgrind failed ({}): {}",
                probe.describe(),
                output.status,
                tail.join(" | ")
            );
        }
        let profile = fs::read_to_string(out.path())?;
        profile
            .lines()
            .find_map(|line| line.strip_prefix("summary:"))
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| {
                format!(
                    "no summary line in callgrind's output for {}",
                    probe.describe()
                )
            })
    };
    let counted = count().map_err(|err| format!("{err:#}"));
    match &counted {
        Ok(n) => eprintln!("{label:<64} {:>12.2} M instructions", *n as f64 / 1e6),
        Err(why) => eprintln!("{label:<64} instructions FAILED: {why}"),
    }
    counted
}

/// Whether `valgrind` can be run.
pub(crate) fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A command to time, set up fresh for every run.
pub(crate) struct Probe<'a> {
    program: PathBuf,
    args: Vec<String>,
    cwd: &'a Path,
    /// Piped to stdin (the floor's list of commands).
    pub(crate) stdin: Option<PathBuf>,
    /// Variables set for the process.
    pub(crate) env: Vec<(String, String)>,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(program: impl Into<PathBuf>, args: &[&str], cwd: &'a Path) -> Self {
        Probe {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            cwd,
            stdin: None,
            env: Vec::new(),
        }
    }

    /// The command, with its stderr going to `stderr`.
    fn command(&self, stderr: &fs::File) -> Result<Command> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr.try_clone()?);
        if let Some(stdin) = &self.stdin {
            command.stdin(fs::File::open(stdin)?);
        } else {
            command.stdin(Stdio::null());
        }
        Ok(command)
    }

    fn describe(&self) -> String {
        format!("{} {}", self.program.display(), self.args.join(" "))
    }
}

pub(crate) type Prepare<'a> = Option<&'a mut dyn FnMut() -> Result<()>>;

/// Warm-up rounds, then `runs` measured ones. A failing command is reported
/// as such (with the end of its stderr), not as a time.
pub(crate) fn measure(
    label: &str,
    probe: &Probe<'_>,
    runs: usize,
    prepare: Prepare<'_>,
) -> Measured {
    let mut side = Side::new(label, probe, prepare, runs);
    for round in 0..WARMUP.min(runs) + runs {
        side.round(round >= WARMUP.min(runs));
    }
    side.finish()
}

/// qik and its floor measured in alternating rounds (qik first in even
/// rounds, the floor first in odd ones): on a shared machine a load that
/// comes and goes then falls on both sides alike, rather than on whichever
/// was being measured while it lasted, and the ratio of the medians holds
/// still where the medians themselves do not.
pub(crate) fn measure_against(
    qik: (&str, &Probe<'_>, Prepare<'_>),
    floor: (&str, &Probe<'_>, Prepare<'_>),
    runs: usize,
) -> (Measured, Measured) {
    let mut qik = Side::new(qik.0, qik.1, qik.2, runs);
    let mut floor = Side::new(floor.0, floor.1, floor.2, runs);
    let warmup = WARMUP.min(runs);
    for round in 0..warmup + runs {
        let measured = round >= warmup;
        if round % 2 == 0 {
            qik.round(measured);
            floor.round(measured);
        } else {
            floor.round(measured);
            qik.round(measured);
        }
    }
    (qik.finish(), floor.finish())
}

/// One command being measured: its samples so far, or why it failed (a
/// failed command is not run again).
struct Side<'a, 'p, 'f> {
    label: &'a str,
    probe: &'a Probe<'p>,
    prepare: Prepare<'f>,
    stats: Result<Stats, String>,
}

impl<'a, 'p, 'f> Side<'a, 'p, 'f> {
    fn new(label: &'a str, probe: &'a Probe<'p>, prepare: Prepare<'f>, runs: usize) -> Self {
        Side {
            label,
            probe,
            prepare,
            stats: Ok(Stats {
                samples: Vec::with_capacity(runs),
                max_rss_kib: 0,
            }),
        }
    }

    fn round(&mut self, measured: bool) {
        let Ok(stats) = &mut self.stats else {
            return;
        };
        if let Some(Err(err)) = self.prepare.as_mut().map(|prepare| prepare()) {
            self.stats = Err(format!("{err:#}"));
            return;
        }
        match run_once(self.probe) {
            Ok((elapsed, rss)) => {
                if measured {
                    stats.samples.push(elapsed);
                    stats.max_rss_kib = stats.max_rss_kib.max(rss);
                }
            }
            Err(err) => {
                eprintln!("{:<64} FAILED: {err:#}", self.label);
                self.stats = Err(format!("{err:#}"));
            }
        }
    }

    fn finish(self) -> Measured {
        match self.stats {
            Ok(stats) => {
                eprintln!(
                    "{:<64} median {:>9.2} ms  (min {:.2}, max {:.2}, {:.1} MiB)",
                    self.label,
                    stats.median(),
                    stats.min(),
                    stats.max(),
                    stats.max_rss_kib as f64 / 1024.0
                );
                Measured::Done(stats)
            }
            Err(err) => Measured::Failed(err),
        }
    }
}

/// Runs the probe once; returns its wall time and peak RSS (KiB), reaped with
/// `wait4` so the RSS is this process's own.
fn run_once(probe: &Probe<'_>) -> Result<(Duration, u64)> {
    use std::io::{Read, Seek};
    // A file, not a pipe: a pipe nobody reads until the exit blocks a
    // process that writes more than its buffer (a progress line per
    // runnable at 6,001 runnables).
    let mut stderr = tempfile::tempfile()?;
    let mut command = probe.command(&stderr)?;
    let start = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", probe.describe()))?;
    let pid = libc::pid_t::try_from(child.id()).context("pid")?;
    let mut status: libc::c_int = 0;
    // SAFETY: plain out-parameters for wait4 on our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: as above; the child is not waited for anywhere else.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        }
        break reaped;
    };
    let elapsed = start.elapsed();
    if reaped != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited_ok {
        let mut text = String::new();
        if stderr.rewind().is_ok() {
            let _ = stderr.read_to_string(&mut text);
        }
        let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        bail!("{} failed ({status:#x}): {tail}", probe.describe());
    }
    // ru_maxrss is in KiB on Linux.
    Ok((elapsed, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn run_ok(probe: &Probe<'_>) -> Result<()> {
    run_once(probe).map(|_| ())
}
