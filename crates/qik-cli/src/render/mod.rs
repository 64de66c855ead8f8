//! Rendering of runner events: headers, progress bars, runnables' output and
//! the closing summary.
//!
//! Runnables' output goes to stdout, byte for byte; everything qik says about
//! the run (headers, progress, warnings, the summary) goes to stderr, so
//! `qik lint > lint.txt` captures exactly what the tools printed.
//!
//! # Modes
//!
//! - [`Mode::Stream`] (one runnable selected, `-n 1`, or `--logger stdout`):
//!   a header on stderr as each runnable starts (`🚧` running, `⏩` replayed
//!   from a cache), then its output live. With more than one worker, each
//!   output line is prefixed with `<runnable> | ` so interleaved lines stay
//!   attributable.
//! - [`Mode::Progress`]: one bar per command on a terminal, or one line per
//!   ended runnable when stderr is not a terminal. Output is not shown live;
//!   at the end the output of each failed runnable is printed from its log
//!   file (never buffered in memory).
//!
//! # Verbosity
//!
//! | level | shows |
//! |---|---|
//! | 0 | warnings, and at the end each failure's header and output; no headers, bars, live output, skip lines or summary |
//! | 1 | the mode's normal view, failures' output (live in stream mode, at the end in progress mode) and the summary |
//! | 2 | as 1; in progress mode every runnable's output is printed at the end, not just the failures'; the slowest runnables; every failed or skipped name |
//! | 3 | as 2; the duration of every runnable that ran |
//!
//! Level 0 still prints failures: a quiet run that fails without saying why
//! leaves the user with nothing to act on (the habit of `make -s`).
//!
//! # Engine contract
//!
//! A runnable replayed from a cache gets no `Started` event: its `Output`
//! lines (if any) and a `Finished { outcome: Cached }` arrive directly. That
//! is how stream mode knows to mark it `⏩`/`[cached]` before its output.
#![allow(dead_code)]

mod progress;
mod style;
#[cfg(test)]
mod tests;
mod thread;

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressDrawTarget;
use qik_core::events::{Event, Outcome, SkipReason};

use crate::report::Records;
use progress::{Bars, End};
use style::Paint;

/// The exit code shells use for "command not found".
const EXIT_NOT_FOUND: i32 = 127;

/// How many of the slowest runnables the summary names at verbosity 1 and 2:
/// at 1 when more than this many ran (fewer are easy to see), at 2 when more
/// than one did.
const SLOWEST: usize = 5;

/// How many failed or skipped names the summary lists below verbosity 2.
const NAMES_LISTED: usize = 20;

/// How a run is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every runnable's output, live, under a header.
    Stream,
    /// Progress bars (or plain lines), failures' output at the end.
    Progress,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct RenderOptions {
    /// 0 quiet, 1 default, 2 full (see the module docs).
    pub(crate) verbosity: u8,
    pub(crate) mode: Mode,
    /// Colors and emoji: stderr is a terminal and `NO_COLOR` is unset.
    pub(crate) styled: bool,
    /// stderr is a terminal; without it, progress mode prints plain lines.
    pub(crate) progress_allowed: bool,
    /// Running under GitHub Actions (`GITHUB_ACTIONS=true`): each
    /// runnable's output printed at the end is a fold of the job log, and
    /// each failure an `::error` annotation.
    pub(crate) github: bool,
}

/// What happened, for the exit code. The five counts partition the runnables
/// that ended: `failed` holds every non-zero exit, replayed or not;
/// `stopped` the ones qik stopped on Ctrl-C.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) ran: usize,
    pub(crate) cached: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) stopped: usize,
    /// The highest exit code (0 when nothing failed).
    pub(crate) code: i32,
}

impl Summary {
    pub(crate) fn total(&self) -> usize {
        self.ran + self.cached + self.failed + self.skipped + self.stopped
    }

    /// `code` as a process exit status: 0 only when nothing failed.
    pub(crate) fn exit_code(&self) -> u8 {
        match self.code {
            0 => 0,
            code => u8::try_from(code).unwrap_or(u8::MAX).max(1),
        }
    }
}

/// A runnable whose output is printed from its log at the end.
struct Section {
    name: String,
    exec: Option<String>,
    outcome: Outcome,
    log: Option<PathBuf>,
}

/// Turns the runner's events into what the user sees. Single-threaded: feed
/// it from one place, or use [`Renderer::share`] to get a sink for workers.
pub(crate) struct Renderer {
    opts: RenderOptions,
    paint: Paint,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    /// stdout went away (`qik | head`): stop writing to it, keep running.
    out_broken: bool,
    /// Progress mode on a terminal, verbosity >= 1.
    bars: Option<Bars>,
    /// Stream mode with parallel workers: prefix output lines with the name.
    prefix_output: bool,
    /// Colors of output prefixes, by runnable, in order of appearance.
    prefix_colors: HashMap<String, usize>,
    /// Exec commands of runnables that started and have not ended.
    execs: HashMap<String, String>,
    /// Runnables whose stream header is printed and that have not ended.
    headed: HashSet<String>,
    /// Runnables counted as skipped (the engine may report a skip twice).
    skipped: HashSet<String>,
    sections: Vec<Section>,
    summary: Summary,
    planned: Option<usize>,
    line: Vec<u8>,
    /// Names the summary ends with, in the order they ended.
    failed_names: Vec<String>,
    skipped_names: Vec<String>,
    stopped_names: Vec<String>,
    /// The slowest runnables that ran (not replays); at most
    /// [`Renderer::slowest_kept`].
    slowest: Vec<(Duration, String)>,
    /// Every runnable's record, when `--report` asked for them.
    records: Option<Records>,
    /// Runnable → space, for runnables that run with no venv active (their
    /// space has none and `VIRTUAL_ENV` is unset): a "command not found"
    /// then says that only `PATH` was searched.
    without_venv: HashMap<String, String>,
}

/// What a finished renderer hands back.
pub(crate) struct Ended {
    pub(crate) summary: Summary,
    pub(crate) records: Option<Records>,
}

impl Renderer {
    /// Renders to the process's stdout and stderr.
    pub(crate) fn new(opts: RenderOptions) -> Self {
        Self::build(
            opts,
            Box::new(io::stdout()),
            Box::new(io::stderr()),
            ProgressDrawTarget::stderr(),
        )
    }

    /// Renders to the given writers; progress bars, if allowed, are drawn
    /// nowhere (for tests).
    pub(crate) fn with_writers(
        opts: RenderOptions,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Self {
        Self::build(opts, out, err, ProgressDrawTarget::hidden())
    }

    fn build(
        opts: RenderOptions,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        target: ProgressDrawTarget,
    ) -> Self {
        let paint = Paint { on: opts.styled };
        let bars = (opts.mode == Mode::Progress && opts.progress_allowed && opts.verbosity >= 1)
            .then(|| Bars::new(target, paint));
        Renderer {
            opts,
            paint,
            out,
            err,
            out_broken: false,
            bars,
            prefix_output: false,
            prefix_colors: HashMap::new(),
            execs: HashMap::new(),
            headed: HashSet::new(),
            skipped: HashSet::new(),
            sections: Vec::new(),
            summary: Summary::default(),
            planned: None,
            line: Vec::new(),
            failed_names: Vec::new(),
            skipped_names: Vec::new(),
            stopped_names: Vec::new(),
            slowest: Vec::new(),
            records: None,
            without_venv: HashMap::new(),
        }
    }

    /// Names the runnables (and their spaces) that run with no venv active.
    pub(crate) fn set_without_venv(&mut self, runnables: HashMap<String, String>) {
        self.without_venv = runnables;
    }

    /// Keeps a record of every runnable for `--report`.
    pub(crate) fn keep_records(&mut self) {
        self.records = Some(Records::default());
    }

    /// Whether `Finished` events should carry hashes (only for a report).
    pub(crate) fn wants_hashes(&self) -> bool {
        self.records.is_some()
    }

    /// How many of the slowest runnables the summary may name.
    fn slowest_kept(&self) -> usize {
        match self.opts.verbosity {
            0 => 0,
            1 | 2 => SLOWEST,
            _ => usize::MAX,
        }
    }

    /// How many runnables each command has, so its bar can show `done/total`
    /// and finish when the last one ends. Without it bars count up only.
    pub(crate) fn set_command_totals(&mut self, totals: impl IntoIterator<Item = (String, usize)>) {
        if let Some(bars) = &mut self.bars {
            bars.set_totals(totals);
        }
    }

    pub(crate) fn handle(&mut self, event: Event) {
        match event {
            Event::Plan { runnables, workers } => {
                self.planned = Some(runnables);
                self.prefix_output = self.opts.mode == Mode::Stream && runnables.min(workers) > 1;
            }
            Event::Started {
                name,
                command,
                exec,
                worker: _,
            } => {
                self.skipped.remove(&name);
                if let Some(bars) = &mut self.bars {
                    bars.started(&command, &name);
                }
                if self.streaming() {
                    self.header(&name, Some(&exec), false);
                }
                self.execs.insert(name, exec);
            }
            Event::Output { name, line } => {
                if self.streaming() {
                    if !self.headed.contains(&name) {
                        // No `Started`: a replay from a cache.
                        let exec = self.execs.get(&name).cloned();
                        let cached = exec.is_none();
                        self.header(&name, exec.as_deref(), cached);
                    }
                    self.output_line(&name, &line);
                }
            }
            Event::Finished {
                name,
                command,
                outcome,
                elapsed,
                log,
                hash,
            } => self.finished(name, &command, outcome, elapsed, log, hash),
            Event::Skipped {
                name,
                command,
                reason,
            } => self.skip(name, &command, Some(&reason)),
            Event::Explained { name, reason } => {
                let lines = crate::explain::lines(&reason);
                let label = if self.paint.on {
                    self.paint.bold("explain")
                } else {
                    "[explain]".to_string()
                };
                for (i, line) in lines.iter().enumerate() {
                    let text = if i == 0 {
                        format!("{label} {name}: {line}")
                    } else {
                        format!("    {line}")
                    };
                    self.err_line(&text);
                }
            }
            Event::Warning { name, message } => {
                let mut text = format!("{}: ", self.paint.bold_yellow("warning"));
                if let Some(name) = name {
                    text.push_str(&self.paint.bold(&name));
                    text.push_str(": ");
                }
                text.push_str(&message);
                self.err_line(&text);
            }
        }
    }

    /// Ends the bars, prints the outputs kept for the end and the summary:
    /// the slowest runnables, the counts, then the names of the failed,
    /// stopped and skipped runnables.
    pub(crate) fn finish(self, wall: Duration) -> Summary {
        self.end(wall).summary
    }

    /// [`Renderer::finish`], handing back the records kept for a report.
    pub(crate) fn end(mut self, wall: Duration) -> Ended {
        if let Some(bars) = &mut self.bars {
            bars.finish_all();
        }
        self.bars = None;
        for section in std::mem::take(&mut self.sections) {
            self.print_section(&section);
        }
        if self.opts.verbosity >= 1 {
            self.print_slowest();
            let line = self.summary_line(wall);
            self.err_line(&line);
            let p = self.paint;
            let failed = std::mem::take(&mut self.failed_names);
            let stopped = std::mem::take(&mut self.stopped_names);
            let skipped = std::mem::take(&mut self.skipped_names);
            self.print_names(&p.bold_red("failed"), &failed);
            self.print_names(&p.yellow("stopped"), &stopped);
            self.print_names(&p.yellow("skipped"), &skipped);
        }
        let _ = self.out.flush();
        let _ = self.err.flush();
        Ended {
            summary: self.summary,
            records: self.records.take(),
        }
    }

    /// `slowest: test#b 3.2s, lint#a 1.1s` (one per line at verbosity 3).
    fn print_slowest(&mut self) {
        let ran = self.slowest.len();
        let shown = match self.opts.verbosity {
            0 => false,
            1 => self.summary.ran + self.summary.failed > SLOWEST && ran > 0,
            // One runnable's duration is no ranking.
            _ => ran > 1,
        };
        if !shown {
            return;
        }
        let p = self.paint;
        let mut slowest = std::mem::take(&mut self.slowest);
        // Slowest first; equal durations by name, so the list is stable.
        slowest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        if self.opts.verbosity >= 3 {
            self.err_line(&p.dim("durations:"));
            for (elapsed, name) in &slowest {
                let line = format!("  {:>8}  {name}", style::duration(*elapsed));
                self.err_line(&line);
            }
        } else {
            let items: Vec<String> = slowest
                .iter()
                .map(|(elapsed, name)| format!("{name} {}", style::duration(*elapsed)))
                .collect();
            let line = format!("{} {}", p.dim("slowest:"), items.join(", "));
            self.err_line(&line);
        }
    }

    /// `failed: test#b, test#c` (the first [`NAMES_LISTED`] below verbosity 2).
    fn print_names(&mut self, label: &str, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let limit = if self.opts.verbosity >= 2 {
            names.len()
        } else {
            NAMES_LISTED
        };
        let mut line = format!("{label}: {}", names[..names.len().min(limit)].join(", "));
        if names.len() > limit {
            line.push_str(&format!(" and {} more", names.len() - limit));
        }
        self.err_line(&line);
    }

    /// Keeps `name` among the slowest runnables that ran, if it is.
    fn note_duration(&mut self, name: &str, elapsed: Duration) {
        let kept = self.slowest_kept();
        if kept == usize::MAX {
            // Every one: sorted once at the end.
            self.slowest.push((elapsed, name.to_owned()));
            return;
        }
        if kept == 0 || (self.slowest.len() >= kept && self.slowest[kept - 1].0 >= elapsed) {
            return;
        }
        let at = self.slowest.partition_point(|(d, _)| *d >= elapsed);
        self.slowest.insert(at, (elapsed, name.to_owned()));
        self.slowest.truncate(kept);
    }

    /// Whether `Output` events are shown; when not, the runner need not
    /// send them (failures are printed from their logs at the end).
    pub(crate) fn wants_output(&self) -> bool {
        self.streaming()
    }

    /// Stream mode, showing output live.
    fn streaming(&self) -> bool {
        self.opts.mode == Mode::Stream && self.opts.verbosity >= 1
    }

    fn finished(
        &mut self,
        name: String,
        command: &str,
        outcome: Outcome,
        elapsed: Duration,
        log: Option<PathBuf>,
        hash: Option<String>,
    ) {
        let exec = self.execs.remove(&name);
        let headed = self.headed.remove(&name);
        let code = match outcome {
            Outcome::Skipped => return self.skip(name, command, None),
            Outcome::Stopped => return self.stopped(name, command, elapsed),
            Outcome::Ran { code } | Outcome::Cached { code, .. } => code,
        };
        let failed = code != 0;
        if failed {
            self.summary.failed += 1;
            let code = if code > 0 { code } else { 1 };
            self.summary.code = self.summary.code.max(code);
            self.failed_names.push(name.clone());
        } else if matches!(outcome, Outcome::Cached { .. }) {
            self.summary.cached += 1;
        } else {
            self.summary.ran += 1;
        }
        if matches!(outcome, Outcome::Ran { .. }) {
            self.note_duration(&name, elapsed);
        }
        if let Some(bars) = &mut self.bars {
            let end = if failed { End::Failed } else { End::Done };
            bars.ended(command, &name, end);
        }

        let verbose = self.opts.verbosity >= 1;
        let cached = matches!(outcome, Outcome::Cached { .. });
        if self.streaming() && !headed && cached {
            // A replay with no output still says it happened.
            self.header(&name, exec.as_deref(), true);
        }
        // One line per ended runnable: in stream mode and above bars only for
        // failures, as plain progress for all.
        let plain_progress = self.opts.mode == Mode::Progress && self.bars.is_none();
        if verbose && (failed || plain_progress) {
            let line = self.end_line(&name, outcome, elapsed);
            self.err_line(&line);
            if code == EXIT_NOT_FOUND {
                self.hint_not_found(&name);
            }
        }
        if failed && self.opts.github {
            let cached = if cached {
                " (replayed from the cache)"
            } else {
                ""
            };
            let annotation = format!(
                "::error title={}::{} exited {code}{cached}\n",
                github_property(&name),
                github_data(&name)
            );
            self.out_raw(annotation.as_bytes());
        }

        let shown_live = self.streaming();
        let keep = if shown_live {
            false
        } else {
            failed || (self.opts.verbosity >= 2 && self.opts.mode == Mode::Progress)
        };
        if let Some(records) = &mut self.records {
            records.ended(name.clone(), command, outcome, elapsed, hash);
        }
        if keep {
            self.sections.push(Section {
                name,
                exec,
                outcome,
                log,
            });
        }
    }

    /// A runnable qik stopped on Ctrl-C: not a failure of its command, and
    /// its output (cut short) is not dumped.
    fn stopped(&mut self, name: String, command: &str, elapsed: Duration) {
        self.summary.stopped += 1;
        if let Some(bars) = &mut self.bars {
            bars.ended(command, &name, End::Stopped);
        }
        if self.opts.verbosity >= 1 && self.bars.is_none() {
            let line = format!(
                "{} {name} {}",
                self.paint.pick("■", "stopped"),
                self.paint
                    .yellow(&format!("(interrupted after {})", style::duration(elapsed)))
            );
            self.err_line(&line);
        }
        if let Some(records) = &mut self.records {
            records.ended(name.clone(), command, Outcome::Stopped, elapsed, None);
        }
        self.stopped_names.push(name);
    }

    fn skip(&mut self, name: String, command: &str, reason: Option<&SkipReason>) {
        if !self.skipped.insert(name.clone()) {
            return;
        }
        self.summary.skipped += 1;
        self.skipped_names.push(name.clone());
        if let Some(records) = &mut self.records {
            records.skipped(name.clone(), command, reason);
        }
        if let Some(bars) = &mut self.bars {
            bars.ended(command, &name, End::Skipped);
        }
        if self.opts.verbosity >= 1 && self.bars.is_none() {
            let mut line = if self.paint.on {
                format!(
                    "⏭ {} {}",
                    self.paint.bold(&name),
                    self.paint.yellow("skipped")
                )
            } else {
                format!("skipped {name}")
            };
            match reason {
                Some(SkipReason::UpstreamFailed(upstream)) => {
                    line.push_str(&format!(" (upstream {upstream} failed)"));
                }
                Some(SkipReason::Interrupted) => line.push_str(" (interrupted)"),
                None => {}
            }
            self.err_line(&line);
        }
    }

    /// `✔ lint#a (0.3s)` / `cached lint#a` / `failed test#b: exited 1 (0.5s)`.
    fn end_line(&self, name: &str, outcome: Outcome, elapsed: Duration) -> String {
        let p = self.paint;
        let (cached, code) = match outcome {
            Outcome::Ran { code } => (false, code),
            Outcome::Cached { code, .. } => (true, code),
            Outcome::Skipped => return format!("{} {name}", p.pick("⏭", "skipped")),
            Outcome::Stopped => return format!("{} {name}", p.pick("■", "stopped")),
        };
        let when = if cached {
            "cached".to_owned()
        } else {
            style::duration(elapsed)
        };
        match (code != 0, cached, p.on) {
            (true, _, true) => p.red(&format!("✘ {name} exited {code} ({when})")),
            (true, _, false) => format!("failed {name}: exited {code} ({when})"),
            (false, true, true) => format!("⏩ {} {}", p.bold(name), p.dim("(cached)")),
            (false, true, false) => format!("cached {name}"),
            (false, false, true) => {
                format!("{} {} {}", p.green("✔"), name, p.dim(&format!("({when})")))
            }
            (false, false, false) => format!("ok {name} ({when})"),
        }
    }

    fn hint_not_found(&mut self, name: &str) {
        let hint = self.paint.bold("hint");
        let line = match self.without_venv.get(name) {
            Some(space) => format!(
                "{hint}: exit code {EXIT_NOT_FOUND} means command not found, and no venv is active \
                 (space `{space}` has none and VIRTUAL_ENV is not set), so only PATH was searched; \
                 give the space a venv (`[spaces.{space}] venv = \"requirements.txt\"`), \
                 activate one, or put the program on PATH"
            ),
            None => format!(
                "{hint}: exit code {EXIT_NOT_FOUND} means command not found; is it installed and on PATH?"
            ),
        };
        self.err_line(&line);
    }

    /// Stream mode's line before a runnable's output.
    fn header(&mut self, name: &str, exec: Option<&str>, cached: bool) {
        let p = self.paint;
        let mut line = if p.on {
            format!("{} {}", if cached { "⏩" } else { "🚧" }, p.bold(name))
        } else {
            format!("{} {name}", if cached { "[cached]" } else { "[run]" })
        };
        if let Some(exec) = exec {
            if p.on {
                line.push(' ');
                line.push_str(&p.dim(exec));
            } else {
                line.push_str(" $ ");
                line.push_str(exec);
            }
        }
        self.headed.insert(name.to_owned());
        self.err_line(&line);
    }

    fn output_line(&mut self, name: &str, line: &[u8]) {
        if self.out_broken {
            return;
        }
        // Flush what was said on stderr first, so a header precedes its output.
        let _ = self.err.flush();
        self.line.clear();
        if self.prefix_output {
            let prefix = format!("{name} | ");
            let prefix = if self.paint.on {
                let next = self.prefix_colors.len();
                let color = *self.prefix_colors.entry(name.to_owned()).or_insert(next);
                const COLORS: [&str; 6] = ["36", "35", "34", "33", "32", "96"];
                format!("\x1b[{}m{prefix}\x1b[0m", COLORS[color % COLORS.len()])
            } else {
                prefix
            };
            self.line.extend_from_slice(prefix.as_bytes());
        }
        self.line.extend_from_slice(line);
        self.line.push(b'\n');
        if self.out.write_all(&self.line).is_err() {
            self.out_broken = true;
        }
    }

    /// A line on stderr, around the bars if they are on screen.
    fn err_line(&mut self, text: &str) {
        let err = &mut self.err;
        let mut write = || {
            let _ = err.write_all(text.as_bytes());
            let _ = err.write_all(b"\n");
            let _ = err.flush();
        };
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    /// A header on stderr, then the runnable's log copied to stdout.
    fn print_section(&mut self, section: &Section) {
        let p = self.paint;
        let name = &section.name;
        let (cached, code) = match section.outcome {
            Outcome::Ran { code } => (false, code),
            Outcome::Cached { code, .. } => (true, code),
            Outcome::Skipped | Outcome::Stopped => (false, 0),
        };
        let mut status = Vec::new();
        if cached {
            status.push("cached".to_owned());
        }
        if code != 0 {
            status.push(format!("exited {code}"));
        } else if !cached {
            status.push("ok".to_owned());
        }
        let status = status.join(", ");
        let header = if p.on {
            let mark = match (code != 0, cached) {
                (true, _) => p.bold_red("✘"),
                (false, true) => "⏩".to_owned(),
                (false, false) => p.green("✔"),
            };
            let status = if code != 0 {
                p.red(&status)
            } else {
                p.dim(&status)
            };
            let mut header = format!("{mark} {} {status}", p.bold(name));
            if let Some(exec) = &section.exec {
                header.push(' ');
                header.push_str(&p.dim(exec));
            }
            header
        } else {
            format!("==> {name} ({status}) <==")
        };
        self.err_line(&header);
        if code == EXIT_NOT_FOUND {
            self.hint_not_found(name);
        }
        if self.opts.github {
            let _ = self.err.flush();
            let group = format!("::group::{} ({status})\n", github_data(name));
            self.out_raw(group.as_bytes());
        }
        self.print_log(section);
        if self.opts.github {
            self.out_raw(b"::endgroup::\n");
        }
    }

    /// The log of a section, or why there is none.
    fn print_log(&mut self, section: &Section) {
        let p = self.paint;
        let name = &section.name;
        let Some(log) = &section.log else {
            let line = p.dim("(output not kept)");
            self.err_line(&line);
            return;
        };
        match self.copy_log(log) {
            Ok(0) => {
                let line = p.dim("(no output)");
                self.err_line(&line);
            }
            Ok(_) => {}
            Err(e) => {
                let line = format!(
                    "{}: could not read the output of {name} from {}: {e}",
                    p.bold_yellow("warning"),
                    log.display()
                );
                self.err_line(&line);
            }
        }
    }

    /// Bytes on stdout, as they are.
    fn out_raw(&mut self, bytes: &[u8]) {
        if !self.out_broken && self.out.write_all(bytes).is_err() {
            self.out_broken = true;
        }
    }

    /// Copies a log file to stdout in chunks, ending it with a newline.
    /// Returns the number of bytes copied.
    fn copy_log(&mut self, path: &Path) -> io::Result<u64> {
        let (mut file, _) = qik_core::fsutil::open_kept(path, qik_core::fsutil::limits::STREAMED)?;
        let _ = self.err.flush();
        let mut buf = vec![0; 64 * 1024];
        let mut copied = 0u64;
        let mut last = b'\n';
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            copied += n as u64;
            last = buf[n - 1];
            if !self.out_broken && self.out.write_all(&buf[..n]).is_err() {
                self.out_broken = true;
            }
        }
        if last != b'\n' && !self.out_broken && self.out.write_all(b"\n").is_err() {
            self.out_broken = true;
        }
        let _ = self.out.flush();
        Ok(copied)
    }

    /// `12 ran, 588 cached, 1 failed, 2 skipped in 1.2s`.
    fn summary_line(&self, wall: Duration) -> String {
        let p = self.paint;
        let s = &self.summary;
        if s.total() == 0 && self.planned.unwrap_or(0) == 0 {
            return "no runnables selected".to_owned();
        }
        let mut parts = Vec::new();
        if s.ran > 0 {
            parts.push(p.green(&format!("{} ran", s.ran)));
        }
        if s.cached > 0 {
            parts.push(format!("{} cached", s.cached));
        }
        if s.failed > 0 {
            parts.push(p.bold_red(&format!("{} failed", s.failed)));
        }
        if s.stopped > 0 {
            parts.push(p.yellow(&format!("{} stopped", s.stopped)));
        }
        if s.skipped > 0 {
            parts.push(p.yellow(&format!("{} skipped", s.skipped)));
        }
        if parts.is_empty() {
            parts.push("nothing finished".to_owned());
        }
        format!(
            "{} {}",
            parts.join(", "),
            p.dim(&format!("in {}", style::duration(wall)))
        )
    }
}

/// Text after `::` in a GitHub Actions workflow command: the runner decodes
/// these escapes, so a name cannot end the command early.
fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value of a workflow command, where `:` and `,` are syntax too.
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}
