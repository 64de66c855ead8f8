//! What a user sees for synthetic runs, unstyled and without a terminal.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qik_core::events::{CacheSource, Event, EventSink, Outcome, SkipReason};

use super::{Mode, RenderOptions, Renderer, Summary};

/// A shared in-memory writer.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("utf-8")
    }

    fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

struct Screen {
    renderer: Renderer,
    out: Buf,
    err: Buf,
}

fn opts(verbosity: u8, mode: Mode) -> RenderOptions {
    RenderOptions {
        verbosity,
        mode,
        styled: false,
        progress_allowed: false,
        github: false,
    }
}

/// stdout and stderr kept apart.
fn screen(verbosity: u8, mode: Mode) -> Screen {
    screen_with(opts(verbosity, mode))
}

fn screen_with(opts: RenderOptions) -> Screen {
    let (out, err) = (Buf::default(), Buf::default());
    let renderer = Renderer::with_writers(opts, Box::new(out.clone()), Box::new(err.clone()));
    Screen { renderer, out, err }
}

/// stdout and stderr into one buffer, as on a terminal, to check their order.
fn terminal(verbosity: u8, mode: Mode) -> (Renderer, Buf) {
    let both = Buf::default();
    let renderer = Renderer::with_writers(
        opts(verbosity, mode),
        Box::new(both.clone()),
        Box::new(both.clone()),
    );
    (renderer, both)
}

fn feed(renderer: &mut Renderer, events: impl IntoIterator<Item = Event>) {
    for event in events {
        renderer.handle(event);
    }
}

fn command(name: &str) -> String {
    name.split('#').next().unwrap().to_owned()
}

fn plan(runnables: usize, workers: usize) -> Event {
    Event::Plan { runnables, workers }
}

fn started(name: &str, exec: &str) -> Event {
    Event::Started {
        name: name.to_owned(),
        command: command(name),
        exec: exec.to_owned(),
        worker: 1,
    }
}

fn output(name: &str, line: &[u8]) -> Event {
    Event::Output {
        name: name.to_owned(),
        line: line.to_vec(),
    }
}

fn finished(name: &str, outcome: Outcome, millis: u64, log: Option<PathBuf>) -> Event {
    Event::Finished {
        name: name.to_owned(),
        command: command(name),
        outcome,
        elapsed: Duration::from_millis(millis),
        log,
        hash: None,
    }
}

fn ran(name: &str, code: i32, millis: u64) -> Event {
    finished(name, Outcome::Ran { code }, millis, None)
}

fn cached(name: &str, code: i32) -> Event {
    finished(
        name,
        Outcome::Cached {
            code,
            source: CacheSource::Local,
        },
        0,
        None,
    )
}

fn cached_with_log(name: &str, log: Option<PathBuf>) -> Event {
    let source = CacheSource::Local;
    finished(name, Outcome::Cached { code: 0, source }, 0, log)
}

fn skipped(name: &str, upstream: &str) -> Event {
    Event::Skipped {
        name: name.to_owned(),
        command: command(name),
        reason: SkipReason::UpstreamFailed(upstream.to_owned()),
    }
}

/// A log file as the runner leaves it in `._qik/out`.
fn log(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(format!("{name}.out"));
    std::fs::write(&path, content).unwrap();
    path
}

const WALL: Duration = Duration::from_millis(1234);

#[test]
fn stream_prints_header_then_output_then_summary() {
    let (mut r, term) = terminal(1, Mode::Stream);
    feed(
        &mut r,
        [
            plan(1, 1),
            started("lint#a", "ruff check a"),
            output("lint#a", b"All checks passed!"),
            output("lint#a", b"  indented"),
            ran("lint#a", 0, 300),
        ],
    );
    let summary = r.finish(WALL);
    assert_eq!(
        term.text(),
        "[run] lint#a $ ruff check a\nAll checks passed!\n  indented\n1 ran in 1.2s\n"
    );
    assert_eq!(summary.exit_code(), 0);
}

#[test]
fn stream_sends_output_to_stdout_and_headers_to_stderr() {
    let mut s = screen(1, Mode::Stream);
    feed(
        &mut s.renderer,
        [
            plan(1, 1),
            started("lint#a", "ruff check a"),
            output("lint#a", b"All checks passed!"),
            ran("lint#a", 0, 300),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(s.out.lines(), ["All checks passed!"]);
    assert_eq!(
        s.err.lines(),
        ["[run] lint#a $ ruff check a", "1 ran in 1.2s"]
    );
}

#[test]
fn stream_marks_replays_as_cached() {
    let (mut r, term) = terminal(1, Mode::Stream);
    feed(
        &mut r,
        [
            plan(3, 1),
            // Replays get no Started.
            output("lint#a", b"from the cache"),
            cached("lint#a", 0),
            // A replay without output still shows up.
            cached("lint#b", 0),
            started("lint#c", "ruff check c"),
            output("lint#c", b"live"),
            ran("lint#c", 0, 100),
        ],
    );
    r.finish(WALL);
    assert_eq!(
        term.lines(),
        [
            "[cached] lint#a",
            "from the cache",
            "[cached] lint#b",
            "[run] lint#c $ ruff check c",
            "live",
            "1 ran, 2 cached in 1.2s",
        ]
    );
}

#[test]
fn stream_with_parallel_workers_prefixes_lines_with_the_runnable() {
    let mut s = screen(1, Mode::Stream);
    feed(
        &mut s.renderer,
        [
            plan(2, 4),
            started("test#a", "pytest a"),
            started("test#b", "pytest b"),
            output("test#a", b"a1"),
            output("test#b", b"b1"),
            output("test#a", b"a2"),
            ran("test#a", 0, 10),
            ran("test#b", 0, 10),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(s.out.lines(), ["test#a | a1", "test#b | b1", "test#a | a2"]);
    assert_eq!(
        s.err.lines(),
        [
            "[run] test#a $ pytest a",
            "[run] test#b $ pytest b",
            "2 ran in 1.2s"
        ]
    );
}

#[test]
fn stream_with_one_runnable_does_not_prefix_even_with_many_workers() {
    let mut s = screen(1, Mode::Stream);
    feed(
        &mut s.renderer,
        [
            plan(1, 8),
            started("test#a", "pytest a"),
            output("test#a", b"a1"),
            ran("test#a", 0, 10),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(s.out.lines(), ["a1"]);
}

#[test]
fn stream_failure_is_reported_after_its_output_and_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(&dir, "test#b", b"E assert 1 == 2\n");
    let (mut r, term) = terminal(1, Mode::Stream);
    feed(
        &mut r,
        [
            plan(2, 1),
            started("test#b", "pytest b"),
            output("test#b", b"E assert 1 == 2"),
            finished("test#b", Outcome::Ran { code: 1 }, 500, Some(log)),
            skipped("deploy", "test#b"),
        ],
    );
    let summary = r.finish(WALL);
    assert_eq!(
        term.lines(),
        [
            "[run] test#b $ pytest b",
            "E assert 1 == 2",
            "failed test#b: exited 1 (0.50s)",
            "skipped deploy (upstream test#b failed)",
            "1 failed, 1 skipped in 1.2s",
            "failed: test#b",
            "skipped: deploy",
        ]
    );
    assert_eq!(summary.exit_code(), 1);
}

#[test]
fn progress_without_terminal_prints_a_line_per_runnable_and_failures_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let fail_log = log(
        &dir,
        "test#b",
        b"collected 3 items\nFAILED test_b.py::test_x\n",
    );
    let ok_log = log(&dir, "lint#a", b"All checks passed!\n");
    let mut s = screen(1, Mode::Progress);
    feed(
        &mut s.renderer,
        [
            plan(4, 4),
            started("lint#a", "ruff check a"),
            started("test#b", "pytest b"),
            output("lint#a", b"All checks passed!"),
            output("test#b", b"collected 3 items"),
            output("test#b", b"FAILED test_b.py::test_x"),
            finished("lint#a", Outcome::Ran { code: 0 }, 300, Some(ok_log)),
            cached("lint#c", 0),
            finished("test#b", Outcome::Ran { code: 1 }, 1500, Some(fail_log)),
            skipped("deploy", "test#b"),
        ],
    );
    let summary = s.renderer.finish(WALL);
    // Only the failure's output, read back from its log, after the run.
    assert_eq!(
        s.out.lines(),
        ["collected 3 items", "FAILED test_b.py::test_x"]
    );
    assert_eq!(
        s.err.lines(),
        [
            "ok lint#a (0.30s)",
            "cached lint#c",
            "failed test#b: exited 1 (1.5s)",
            "skipped deploy (upstream test#b failed)",
            "==> test#b (exited 1) <==",
            "1 ran, 1 cached, 1 failed, 1 skipped in 1.2s",
            "failed: test#b",
            "skipped: deploy",
        ]
    );
    assert_eq!(
        summary,
        Summary {
            ran: 1,
            cached: 1,
            failed: 1,
            skipped: 1,
            stopped: 0,
            code: 1
        }
    );
}

#[test]
fn under_github_actions_output_is_folded_and_failures_annotated() {
    let dir = tempfile::tempdir().unwrap();
    let fail_log = log(&dir, "test#b", b"FAILED test_b.py::test_x\n");
    let ok_log = log(&dir, "lint#a", b"All checks passed!\n");
    let mut s = screen_with(RenderOptions {
        github: true,
        ..opts(2, Mode::Progress)
    });
    feed(
        &mut s.renderer,
        [
            plan(3, 2),
            started("lint#a", "ruff check a"),
            started("test#b", "pytest b"),
            finished("lint#a", Outcome::Ran { code: 0 }, 300, Some(ok_log)),
            finished("test#b", Outcome::Ran { code: 1 }, 1500, Some(fail_log)),
            // A name with the characters workflow commands use as syntax.
            finished(
                "odd:a,b%",
                Outcome::Cached {
                    code: 2,
                    source: CacheSource::Local,
                },
                0,
                None,
            ),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(
        s.out.lines(),
        [
            "::error title=test#b::test#b exited 1",
            "::error title=odd%3Aa%2Cb%25::odd:a,b%25 exited 2 (replayed from the cache)",
            "::group::lint#a (ok)",
            "All checks passed!",
            "::endgroup::",
            "::group::test#b (exited 1)",
            "FAILED test_b.py::test_x",
            "::endgroup::",
            "::group::odd:a,b%25 (cached, exited 2)",
            "::endgroup::",
        ]
    );
}

#[test]
fn failure_header_comes_before_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let fail_log = log(&dir, "test#b", b"boom\n");
    let (mut r, term) = terminal(1, Mode::Progress);
    feed(
        &mut r,
        [
            plan(1, 2),
            started("test#b", "pytest b"),
            finished("test#b", Outcome::Ran { code: 2 }, 40, Some(fail_log)),
        ],
    );
    r.finish(WALL);
    assert_eq!(
        term.lines(),
        [
            "failed test#b: exited 2 (0.04s)",
            "==> test#b (exited 2) <==",
            "boom",
            "1 failed in 1.2s",
            "failed: test#b",
        ]
    );
}

#[test]
fn verbosity_0_shows_only_warnings_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let fail_log = log(&dir, "test#b", b"boom\n");
    let ok_log = log(&dir, "lint#a", b"fine\n");
    for mode in [Mode::Progress, Mode::Stream] {
        let mut s = screen(0, mode);
        feed(
            &mut s.renderer,
            [
                plan(3, 2),
                started("lint#a", "ruff check a"),
                output("lint#a", b"fine"),
                finished("lint#a", Outcome::Ran { code: 0 }, 10, Some(ok_log.clone())),
                Event::Warning {
                    name: Some("lint#a".into()),
                    message: "could not write the cache entry".into(),
                },
                started("test#b", "pytest b"),
                output("test#b", b"boom"),
                finished(
                    "test#b",
                    Outcome::Ran { code: 1 },
                    10,
                    Some(fail_log.clone()),
                ),
                skipped("deploy", "test#b"),
            ],
        );
        let summary = s.renderer.finish(WALL);
        assert_eq!(s.out.lines(), ["boom"], "{mode:?}");
        assert_eq!(
            s.err.lines(),
            [
                "warning: lint#a: could not write the cache entry",
                "==> test#b (exited 1) <==",
            ],
            "{mode:?}"
        );
        assert_eq!(summary.failed, 1);
    }
}

#[test]
fn verbosity_0_of_a_clean_run_prints_nothing() {
    let mut s = screen(0, Mode::Progress);
    feed(
        &mut s.renderer,
        [plan(2, 2), ran("lint#a", 0, 10), cached("lint#b", 0)],
    );
    let summary = s.renderer.finish(WALL);
    assert_eq!(s.out.text(), "");
    assert_eq!(s.err.text(), "");
    assert_eq!((summary.ran, summary.cached), (1, 1));
}

#[test]
fn verbosity_2_prints_every_runnables_output_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let a = log(&dir, "lint#a", b"a says hi\n");
    let b = log(&dir, "lint#b", b"b from cache\n");
    let c = log(&dir, "test#c", b"");
    let mut s = screen(2, Mode::Progress);
    feed(
        &mut s.renderer,
        [
            plan(3, 2),
            started("lint#a", "ruff check a"),
            output("lint#a", b"a says hi"),
            finished("lint#a", Outcome::Ran { code: 0 }, 200, Some(a)),
            cached_with_log("lint#b", Some(b)),
            started("test#c", "pytest c"),
            finished("test#c", Outcome::Ran { code: 0 }, 200, Some(c)),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(s.out.lines(), ["a says hi", "b from cache"]);
    assert_eq!(
        s.err.lines(),
        [
            "ok lint#a (0.20s)",
            "cached lint#b",
            "ok test#c (0.20s)",
            "==> lint#a (ok) <==",
            "==> lint#b (cached) <==",
            "==> test#c (ok) <==",
            "(no output)",
            "slowest: lint#a 0.20s, test#c 0.20s",
            "2 ran, 1 cached in 1.2s",
        ]
    );
}

#[test]
fn verbosity_1_and_2_stream_the_same_way() {
    let run = |verbosity| {
        let (mut r, term) = terminal(verbosity, Mode::Stream);
        feed(
            &mut r,
            [
                plan(1, 1),
                started("lint#a", "ruff check a"),
                output("lint#a", b"x"),
                ran("lint#a", 0, 10),
            ],
        );
        r.finish(WALL);
        term.text()
    };
    assert_eq!(run(1), run(2));
    assert_eq!(run(2), "[run] lint#a $ ruff check a\nx\n1 ran in 1.2s\n");
}

#[test]
fn non_utf8_output_passes_through_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let raw: &[u8] = b"caf\xe9 \xff\xfe";
    let mut s = screen(1, Mode::Stream);
    feed(
        &mut s.renderer,
        [
            plan(1, 1),
            started("lint#a", "x"),
            output("lint#a", raw),
            ran("lint#a", 0, 10),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(s.out.bytes(), [raw, b"\n"].concat());

    // And from a log file, which also gets its missing final newline.
    let fail_log = log(&dir, "test#b", raw);
    let mut s = screen(1, Mode::Progress);
    feed(
        &mut s.renderer,
        [
            plan(1, 2),
            finished("test#b", Outcome::Ran { code: 1 }, 10, Some(fail_log)),
        ],
    );
    s.renderer.finish(WALL);
    assert_eq!(s.out.bytes(), [raw, b"\n"].concat());
}

#[test]
fn exit_127_hints_command_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let fail_log = log(&dir, "lint#a", b"sh: 1: rufff: not found\n");
    let mut s = screen(1, Mode::Progress);
    feed(
        &mut s.renderer,
        [
            plan(1, 2),
            started("lint#a", "rufff check"),
            finished("lint#a", Outcome::Ran { code: 127 }, 10, Some(fail_log)),
        ],
    );
    let summary = s.renderer.finish(WALL);
    let hint = "hint: exit code 127 means command not found; is it installed and on PATH?";
    assert_eq!(
        s.err.lines(),
        [
            "failed lint#a: exited 127 (0.01s)",
            hint,
            "==> lint#a (exited 127) <==",
            hint,
            "1 failed in 1.2s",
            "failed: lint#a",
        ]
    );
    assert_eq!(summary.exit_code(), 127);
}

#[test]
fn summary_counts_partition_runnables_and_keep_the_highest_code() {
    let mut s = screen(1, Mode::Progress);
    feed(
        &mut s.renderer,
        [
            plan(7, 4),
            ran("a#1", 0, 1),
            ran("a#2", 0, 1),
            cached("b#1", 0),
            // A failure replayed from a cache (cache-when = failed) still failed.
            cached("b#2", 3),
            ran("c#1", 2, 1),
            skipped("d#1", "c#1"),
            // The engine may also end a skipped runnable; counted once.
            finished("d#1", Outcome::Skipped, 0, None),
            Event::Skipped {
                name: "d#2".into(),
                command: "d".into(),
                reason: SkipReason::Interrupted,
            },
        ],
    );
    let summary = s.renderer.finish(WALL);
    assert_eq!(
        summary,
        Summary {
            ran: 2,
            cached: 1,
            failed: 2,
            skipped: 2,
            stopped: 0,
            code: 3
        }
    );
    assert_eq!(summary.total(), 7);
    let err = s.err.lines();
    assert!(
        err.contains(&"failed b#2: exited 3 (cached)".to_owned()),
        "{err:?}"
    );
    assert!(
        err.contains(&"skipped d#2 (interrupted)".to_owned()),
        "{err:?}"
    );
    // The summary ends with the names of what failed and was skipped.
    assert_eq!(
        err[err.len() - 3..],
        [
            "2 ran, 1 cached, 2 failed, 2 skipped in 1.2s",
            "failed: b#2, c#1",
            "skipped: d#1, d#2",
        ]
    );
}

#[test]
fn nothing_selected_says_so() {
    let mut s = screen(1, Mode::Progress);
    s.renderer.handle(plan(0, 4));
    let summary = s.renderer.finish(Duration::from_millis(3));
    assert_eq!(s.err.lines(), ["no runnables selected"]);
    assert_eq!(summary, Summary::default());
}

#[test]
fn exit_codes_clamp_to_a_process_status() {
    let summary = |code| Summary {
        failed: 1,
        code,
        ..Summary::default()
    };
    assert_eq!(summary(0).exit_code(), 0);
    assert_eq!(summary(2).exit_code(), 2);
    assert_eq!(summary(300).exit_code(), 255);
}

#[test]
fn warnings_go_to_stderr_with_the_runnable_when_known() {
    let mut s = screen(1, Mode::Stream);
    feed(
        &mut s.renderer,
        [
            Event::Warning {
                name: None,
                message: "remote cache unreachable".into(),
            },
            Event::Warning {
                name: Some("lint#a".into()),
                message: "corrupt cache entry ignored".into(),
            },
        ],
    );
    assert_eq!(
        s.err.lines(),
        [
            "warning: remote cache unreachable",
            "warning: lint#a: corrupt cache entry ignored",
        ]
    );
    assert_eq!(s.out.text(), "");
}

#[test]
fn unreadable_or_missing_logs_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.out");
    let mut s = screen(1, Mode::Progress);
    feed(
        &mut s.renderer,
        [
            plan(2, 2),
            finished("test#a", Outcome::Ran { code: 1 }, 10, Some(gone.clone())),
            finished("test#b", Outcome::Ran { code: 1 }, 10, None),
        ],
    );
    s.renderer.finish(WALL);
    let err = s.err.lines();
    let i = err
        .iter()
        .position(|l| l == "==> test#a (exited 1) <==")
        .unwrap();
    assert!(
        err[i + 1].starts_with(&format!(
            "warning: could not read the output of test#a from {}",
            gone.display()
        )),
        "{err:?}"
    );
    let i = err
        .iter()
        .position(|l| l == "==> test#b (exited 1) <==")
        .unwrap();
    assert_eq!(err[i + 1], "(output not kept)");
}

#[test]
fn progress_bars_keep_output_off_stdout_and_report_failures() {
    let dir = tempfile::tempdir().unwrap();
    let fail_log = log(&dir, "test#b", b"boom\n");
    let mut s = screen_with(RenderOptions {
        verbosity: 1,
        mode: Mode::Progress,
        styled: false,
        progress_allowed: true,
        github: false,
    });
    s.renderer
        .set_command_totals([("lint".to_owned(), 1), ("test".to_owned(), 2)]);
    feed(
        &mut s.renderer,
        [
            plan(4, 2),
            started("lint#a", "ruff check a"),
            output("lint#a", b"not shown live"),
            ran("lint#a", 0, 10),
            started("test#b", "pytest b"),
            finished("test#b", Outcome::Ran { code: 1 }, 10, Some(fail_log)),
            cached("test#c", 0),
            // A command nobody gave a total for still gets a bar.
            cached("other#x", 0),
        ],
    );
    let summary = s.renderer.finish(WALL);
    assert_eq!(s.out.lines(), ["boom"]);
    // Bars draw elsewhere (hidden here); only failures and the summary are lines.
    assert_eq!(
        s.err.lines(),
        [
            "failed test#b: exited 1 (0.01s)",
            "==> test#b (exited 1) <==",
            "1 ran, 2 cached, 1 failed in 1.2s",
            "failed: test#b",
        ]
    );
    assert_eq!(summary.code, 1);
}

#[test]
fn styled_stream_uses_the_reference_emoji() {
    let mut s = screen_with(RenderOptions {
        verbosity: 1,
        mode: Mode::Stream,
        styled: true,
        progress_allowed: false,
        github: false,
    });
    feed(
        &mut s.renderer,
        [
            plan(2, 1),
            started("lint#a", "ruff check a"),
            ran("lint#a", 0, 10),
            output("lint#b", b"replayed"),
            cached("lint#b", 0),
        ],
    );
    s.renderer.finish(WALL);
    let err = s.err.text();
    assert!(
        err.contains("🚧 \x1b[1mlint#a\x1b[0m \x1b[2mruff check a\x1b[0m\n"),
        "{err:?}"
    );
    assert!(err.contains("⏩ \x1b[1mlint#b\x1b[0m\n"), "{err:?}");
    assert_eq!(s.out.text(), "replayed\n");
}

#[test]
fn the_shared_renderer_renders_events_from_workers() {
    let s = screen(1, Mode::Progress);
    let sink = s.renderer.share();
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let sink = &sink;
            scope.spawn(move || {
                for i in 0..25 {
                    sink.emit(ran(&format!("lint#{worker}-{i}"), 0, 1));
                }
            });
        }
    });
    let summary = sink.finish(WALL);
    assert_eq!(summary.summary.ran, 100);
    // A line per runnable, the five slowest, the counts.
    assert_eq!(s.err.lines().len(), 102);
    assert_eq!(s.err.lines().last().unwrap(), "100 ran in 1.2s");
}
