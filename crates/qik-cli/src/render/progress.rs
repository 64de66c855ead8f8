//! Progress bars on stderr: one per command, counting its runnables.
//!
//! Everything else written to stderr while bars are on screen goes through
//! [`Bars::suspend`], so bars and log lines never interleave.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::style::{self, Paint};

/// How often running bars redraw their spinner and elapsed time.
const TICK: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 25;

pub(super) struct Bars {
    multi: MultiProgress,
    paint: Paint,
    /// In order of first appearance.
    bars: Vec<CommandBar>,
    index: HashMap<String, usize>,
    /// Runnables per command, when the CLI told us.
    totals: HashMap<String, usize>,
    /// Width the command names are padded to.
    width: usize,
}

/// How a runnable left its bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Ran or replayed, with exit code 0.
    Done,
    /// Ran or replayed, with another exit code.
    Failed,
    /// Did not run: an upstream failed, or qik was interrupted first.
    Skipped,
    /// Started, then stopped by qik on Ctrl-C.
    Stopped,
}

struct CommandBar {
    command: String,
    bar: ProgressBar,
    total: Option<usize>,
    /// Ran or replayed, failures included; skipped and stopped ones are not
    /// done, and the bar does not advance for them.
    done: usize,
    failed: usize,
    skipped: usize,
    stopped: usize,
    /// Runnables on a worker now, in start order (at most one per worker).
    running: Vec<String>,
    since: Instant,
    finished: bool,
}

impl Bars {
    pub(super) fn new(target: ProgressDrawTarget, paint: Paint) -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(target),
            paint,
            bars: Vec::new(),
            index: HashMap::new(),
            totals: HashMap::new(),
            width: 0,
        }
    }

    pub(super) fn set_totals(&mut self, totals: impl IntoIterator<Item = (String, usize)>) {
        for (command, total) in totals {
            self.width = self.width.max(command.chars().count());
            if let Some(&i) = self.index.get(&command) {
                let bar = &mut self.bars[i];
                bar.total = Some(total);
                bar.bar.set_style(running_style(self.paint, true));
                bar.bar.set_length(total as u64);
            }
            self.totals.insert(command, total);
        }
    }

    /// Runs `f` with the bars cleared from the screen, then redraws them.
    pub(super) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    pub(super) fn started(&mut self, command: &str, name: &str) {
        let i = self.bar(command);
        let bar = &mut self.bars[i];
        bar.running.push(name.to_owned());
        let message = bar.message(self.paint);
        bar.bar.set_message(message);
    }

    /// A runnable of `command` ended.
    pub(super) fn ended(&mut self, command: &str, name: &str, end: End) {
        let i = self.bar(command);
        let paint = self.paint;
        let width = self.width;
        let bar = &mut self.bars[i];
        bar.running.retain(|n| n != name);
        match end {
            End::Done => bar.done += 1,
            End::Failed => {
                bar.done += 1;
                bar.failed += 1;
            }
            End::Skipped => bar.skipped += 1,
            End::Stopped => bar.stopped += 1,
        }
        if bar.total.is_some_and(|t| bar.ended() >= t) {
            bar.finish(paint, width);
        } else {
            bar.bar.set_message(bar.message(paint));
            if matches!(end, End::Done | End::Failed) {
                bar.bar.inc(1);
            }
        }
    }

    /// Ends every bar still running (unknown totals, or an interrupted run).
    pub(super) fn finish_all(&mut self) {
        for bar in &mut self.bars {
            bar.finish(self.paint, self.width);
        }
    }

    fn bar(&mut self, command: &str) -> usize {
        if let Some(&i) = self.index.get(command) {
            return i;
        }
        self.width = self.width.max(command.chars().count());
        let total = self.totals.get(command).copied();
        let bar = match total {
            Some(total) => ProgressBar::new(total as u64),
            None => ProgressBar::no_length(),
        };
        let bar = self.multi.add(bar);
        bar.set_style(running_style(self.paint, total.is_some()));
        bar.set_prefix(format!("{command:<w$}", w = self.width));
        bar.enable_steady_tick(TICK);
        self.bars.push(CommandBar {
            command: command.to_owned(),
            bar,
            total,
            done: 0,
            failed: 0,
            skipped: 0,
            stopped: 0,
            running: Vec::new(),
            since: Instant::now(),
            finished: false,
        });
        self.index.insert(command.to_owned(), self.bars.len() - 1);
        self.bars.len() - 1
    }
}

impl CommandBar {
    fn ended(&self) -> usize {
        self.done + self.skipped + self.stopped
    }

    /// The failures and skips so far, then what is running:
    /// `1 failed · 2 skipped · test#a +3`.
    fn message(&self, paint: Paint) -> String {
        let mut parts = Vec::new();
        if self.failed > 0 {
            parts.push(paint.red(&format!("{} failed", self.failed)));
        }
        if self.skipped > 0 {
            parts.push(paint.yellow(&format!("{} skipped", self.skipped)));
        }
        if let Some(first) = self.running.first() {
            let more = self.running.len() - 1;
            let running = if more > 0 {
                format!("{first} +{more}")
            } else {
                first.clone()
            };
            parts.push(paint.dim(&running));
        }
        parts.join(&paint.dim(" · "))
    }

    /// Freezes the bar into one line: `✔ lint 12/12 (1.2s)` in green, red
    /// with the failure count, yellow when some did not run (`■ lint 9/12,
    /// 3 skipped`).
    fn finish(&mut self, paint: Paint, width: usize) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.bar.disable_steady_tick();
        let counts = match self.total {
            Some(total) => format!("{}/{total}", self.done),
            None => self.done.to_string(),
        };
        let took = style::duration(self.since.elapsed());
        let name = format!("{:<width$}", self.command);
        let incomplete = self.total.is_some_and(|t| self.done < t);
        let mut not_done = String::new();
        for (count, what) in [(self.skipped, "skipped"), (self.stopped, "stopped")] {
            if count > 0 {
                not_done.push_str(&format!(", {count} {what}"));
            }
        }
        let line = if self.failed > 0 {
            paint.red(&format!(
                "{} {name} {counts}, {} failed{not_done} ({took})",
                paint.pick("✘", "failed"),
                self.failed
            ))
        } else if incomplete {
            paint.yellow(&format!(
                "{} {name} {counts}{not_done} ({took})",
                paint.pick("■", "incomplete")
            ))
        } else {
            paint.green(&format!(
                "{} {name} {counts} ({took})",
                paint.pick("✔", "ok")
            ))
        };
        self.bar
            .set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
        self.bar.finish_with_message(line);
    }
}

fn running_style(paint: Paint, known_total: bool) -> ProgressStyle {
    let template = match (known_total, paint.on) {
        (true, true) => format!(
            "{{spinner:.cyan}} {{prefix:.bold}} {{bar:{BAR_WIDTH}.cyan/blue}} {{pos}}/{{len}} {{elapsed:>4.dim}} {{wide_msg}}"
        ),
        (true, false) => format!(
            "{{spinner}} {{prefix}} [{{bar:{BAR_WIDTH}}}] {{pos}}/{{len}} {{elapsed:>4}} {{wide_msg}}"
        ),
        (false, true) => {
            "{spinner:.cyan} {prefix:.bold} {pos} done {elapsed:>4.dim} {wide_msg}".to_owned()
        }
        (false, false) => "{spinner} {prefix} {pos} done {elapsed:>4} {wide_msg}".to_owned(),
    };
    let style = ProgressStyle::with_template(&template).expect("valid progress template");
    if paint.on {
        style.progress_chars("━╸─")
    } else {
        style.progress_chars("=> ").tick_chars("-\\|/ ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars() -> Bars {
        let mut bars = Bars::new(ProgressDrawTarget::hidden(), Paint { on: false });
        bars.set_totals([("deploy".to_string(), 3)]);
        bars
    }

    /// The frozen line of the command's bar, without its duration.
    fn frozen(bars: &Bars) -> String {
        let message = bars.bars[0].bar.message();
        message.split(" (").next().unwrap_or_default().to_string()
    }

    #[test]
    fn skipped_runnables_are_not_counted_as_done() {
        let mut bars = bars();
        bars.started("deploy", "deploy#a");
        bars.ended("deploy", "deploy#a", End::Done);
        bars.ended("deploy", "deploy#b", End::Skipped);
        assert_eq!(
            bars.bars[0].bar.position(),
            1,
            "the bar advances for done only"
        );
        bars.ended("deploy", "deploy#c", End::Skipped);
        // All three ended: the bar froze, yellow, saying what did not run.
        assert!(bars.bars[0].finished);
        assert_eq!(frozen(&bars), "incomplete deploy 1/3, 2 skipped");
    }

    #[test]
    fn failures_and_stops_are_named_on_the_frozen_line() {
        let mut bars = bars();
        bars.ended("deploy", "deploy#a", End::Failed);
        bars.ended("deploy", "deploy#b", End::Stopped);
        bars.ended("deploy", "deploy#c", End::Skipped);
        assert_eq!(
            frozen(&bars),
            "failed deploy 1/3, 1 failed, 1 skipped, 1 stopped"
        );
        let mut bars = self::tests::bars();
        for name in ["deploy#a", "deploy#b", "deploy#c"] {
            bars.ended("deploy", name, End::Done);
        }
        assert_eq!(frozen(&bars), "ok deploy 3/3");
    }
}
