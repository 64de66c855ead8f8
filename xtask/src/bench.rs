//! `cargo xtask bench`: whole-process timings of the release `qik` on
//! generated monorepos, beside their floors and the Python qik.
//!
//! Every case runs as a whole process: a few warm-up rounds, then `--runs`
//! measured ones (fewer for slow peers); the report gives min / median / max
//! wall time and the peak RSS of the process (from `wait4`). Each row pairs
//! qik with its floor (the least work that does the same job without qik)
//! and with the Python qik on an identical copy of the repository, with
//! ratios of medians. Results go to `target/bench/report.md` and
//! `target/bench/report.json`. Timings are of this machine at this moment:
//! compare rows within one report, not across machines.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::generate::{self, Shape};
use crate::measure::{
    Counted, Instructions, Measured, Probe, Row, Stats, instructions, measure, measure_against,
    run_ok, valgrind_available,
};

/// The Python qik the issue measured; installed on first use.
const PYTHON_QIK: &str = "0.2.10";

/// Above this many modules the Python qik is not run: it takes minutes per
/// run there.
const PYTHON_MAX_MODULES: usize = 1000;
const PYTHON_SKIPPED: &str = "the Python qik is not run above 1,000 modules (minutes per run)";

/// Above this many modules the import-graph rows are not measured: locking
/// every module of a chain this deep is quadratic in its depth.
const PYGRAPH_MAX_MODULES: usize = 1000;
const PYGRAPH_SKIPPED: &str = "the import-graph rows are measured up to 1,000 modules (locking \
                               every module of a chain deeper than that takes minutes)";

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Sizes of the generated monorepos, in modules of 10 files each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "50,300",
        value_name = "N[,N...]"
    )]
    modules: Vec<usize>,
    /// Measured rounds per case, after 3 warm-up rounds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u16).range(1..))]
    runs: u16,
    /// qik's `-n` and xargs' `-P`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// Leave out the Python qik.
    #[arg(long)]
    no_python: bool,
    /// Also the import-graph cases.
    #[arg(long)]
    pygraph: bool,
    /// Also the reapi cache restores from BuildGrid.
    #[arg(long)]
    reapi: bool,
    /// Count instructions with callgrind, failing if valgrind cannot run (by
    /// default they are counted when it can).
    #[arg(long, conflicts_with = "no_callgrind")]
    callgrind: bool,
    /// Wall times only.
    #[arg(long)]
    no_callgrind: bool,
}

struct Options {
    modules: Vec<usize>,
    runs: usize,
    workers: usize,
    python: bool,
    pygraph: bool,
    reapi: bool,
    /// Count instructions with callgrind: `None` when valgrind is there.
    callgrind: Option<bool>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        Options {
            modules: args.modules,
            runs: usize::from(args.runs),
            workers: usize::from(args.workers),
            python: !args.no_python,
            pygraph: args.pygraph,
            reapi: args.reapi,
            callgrind: match (args.callgrind, args.no_callgrind) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}

pub(crate) fn main(args: Args) -> Result<()> {
    let options = Options::from(args);
    let counting = match options.callgrind {
        Some(true) if !valgrind_available() => bail!(
            "--callgrind counts instructions with valgrind, which cannot be run here\n\
             hint: install valgrind, or leave out --callgrind (it is used when present)"
        ),
        Some(wanted) => wanted,
        None => valgrind_available(),
    };
    if !counting {
        eprintln!("instructions are not counted (no valgrind, or --no-callgrind)");
    }
    // One callgrind run per counted command, after its timed runs.
    let count = |label: &str, probe: &Probe<'_>| -> Option<Counted> {
        counting.then(|| instructions(label, probe))
    };
    let workspace = crate::workspace_root();
    eprintln!("building the release qik...");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "qik-cli",
            "--bin",
            "qik",
        ])
        .current_dir(&workspace)
        .status()?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let qik = workspace.join("target/release/qik");
    let out_dir = workspace.join("target/bench");
    fs::create_dir_all(&out_dir)?;
    let python = if options.python {
        Some(crate::pyqik::install(PYTHON_QIK, options.pygraph)?)
    } else {
        None
    };
    let scratch = tempfile::tempdir()?;
    let tmp = scratch.path();
    let runs = options.runs;
    // The Python qik takes seconds per run; the issue took medians of 7.
    let slow_runs = runs.min(7);
    let workers = options.workers.to_string();

    let mut rows = Vec::new();
    let truth = Probe::new("true", &[], tmp);
    let version = Probe::new(&qik, &["--version"], tmp);
    let (startup, truth_measured) = measure_against(
        ("qik --version", &version, None),
        ("floor: /bin/true", &truth, None),
        runs,
    );
    rows.push(Row {
        scenario: "startup (`qik --version`; Python: `qik --help`)".into(),
        qik: startup,
        floor: Some(("/bin/true".into(), truth_measured)),
        python: python.as_ref().map(|py| {
            measure(
                "python qik --help",
                &Probe::new(py, &["--help"], tmp),
                slow_runs,
                None,
            )
        }),
        instructions: Instructions {
            qik: count("qik --version", &version),
            floor: count("floor: /bin/true", &truth),
        },
    });

    for &modules in &options.modules {
        let shape = Shape {
            modules,
            pygraph: false,
        };
        let ours = tmp.join(format!("qik-{modules}"));
        generate::repo(&ours, &shape)?;
        let python_skipped = python.is_some() && modules > PYTHON_MAX_MODULES;
        let python = python.as_ref().filter(|_| !python_skipped);
        let theirs = tmp.join(format!("python-{modules}"));
        if python.is_some() {
            generate::repo(&theirs, &shape)?;
        }
        let runnables = shape.runnables();
        let at = |what: &str| format!("{what}, M={modules} ({runnables} runnables)");
        let py_probe = |args: &[&str]| python.map(|py| Probe::new(py, args, &theirs));
        let first_row = rows.len();

        let ls = Probe::new(&qik, &["--ls"], &ours);
        let ls_floor = Probe::new("git", &["ls-files", "-s"], &ours);
        let (ls_measured, ls_floor_measured) = measure_against(
            (&at("qik --ls"), &ls, None),
            (&at("floor: git ls-files -s"), &ls_floor, None),
            runs,
        );
        rows.push(Row {
            scenario: at("`--ls`"),
            qik: ls_measured,
            floor: Some(("`git ls-files -s`".into(), ls_floor_measured)),
            python: py_probe(&["--ls"])
                .map(|p| measure(&at("python qik --ls"), &p, slow_runs, None)),
            instructions: Instructions {
                qik: count(&at("qik --ls"), &ls),
                floor: count(&at("floor: git ls-files -s"), &ls_floor),
            },
        });

        // Fill the caches; from then on every run is a full replay.
        let cached_args = ["-v", "0", "-n", &workers];
        let cached = Probe::new(&qik, &cached_args, &ours);
        fill(&cached)?;
        if let Some(probe) = py_probe(&cached_args) {
            run_ok(&probe)?;
        }
        let status = Probe::new("git", &["status", "--porcelain"], &ours);
        let (fully_cached, status_measured) = measure_against(
            (&at("qik, fully cached"), &cached, None),
            (&at("floor: git status --porcelain"), &status, None),
            runs,
        );
        let cached_stats = fully_cached.stats().cloned();
        let cached_instructions = count(&at("qik, fully cached"), &cached);
        rows.push(Row {
            scenario: at("fully cached run"),
            qik: fully_cached,
            floor: Some(("`git status` (stats every file)".into(), status_measured)),
            python: py_probe(&cached_args)
                .map(|p| measure(&at("python qik, fully cached"), &p, slow_runs, None)),
            instructions: Instructions {
                qik: cached_instructions.clone(),
                floor: count(&at("floor: git status --porcelain"), &status),
            },
        });

        // The same replays with every log printed: the remembered replays
        // then read each log (they check its stat data, never its digest,
        // which only the first, full replay of an entry reads it for).
        let printed_args = ["--logger", "stdout", "-n", &workers];
        let printed = Probe::new(&qik, &printed_args, &ours);
        rows.push(Row {
            scenario: at("fully cached run, replayed output printed (`--logger stdout`)"),
            qik: measure(
                &at("qik, fully cached, output printed"),
                &printed,
                runs,
                None,
            ),
            floor: cached_stats.clone().map(|stats| {
                (
                    "qik, fully cached, -v 0 (above)".into(),
                    Measured::Done(stats),
                )
            }),
            python: py_probe(&printed_args).map(|p| {
                measure(
                    &at("python qik, fully cached, output printed"),
                    &p,
                    slow_runs,
                    None,
                )
            }),
            instructions: Instructions {
                qik: count(&at("qik, fully cached, output printed"), &printed),
                floor: cached_instructions.clone(),
            },
        });

        // A new content every round: the module's two runnables run, the
        // rest replays.
        let changer = |repo: PathBuf| {
            let mut round = 0;
            move || -> Result<()> {
                round += 1;
                fs::write(repo.join("pkgs/m0/f0.py"), format!("VALUE = {round}\n"))
                    .map_err(Into::into)
            }
        };
        let mut change_ours = changer(ours.clone());
        let mut change_theirs = changer(theirs.clone());
        rows.push(Row {
            scenario: at("one file changed (2 run, the rest replayed)"),
            qik: measure(
                &at("qik, one file changed"),
                &Probe::new(&qik, &cached_args, &ours),
                runs,
                Some(&mut change_ours),
            ),
            // The replayed part should cost what a fully cached run costs;
            // the difference is the two commands that ran.
            floor: cached_stats
                .map(|stats| ("qik, fully cached (above)".into(), Measured::Done(stats))),
            python: py_probe(&cached_args).map(|p| {
                measure(
                    &at("python qik, one file changed"),
                    &p,
                    slow_runs,
                    Some(&mut change_theirs),
                )
            }),
            // Counted only where nothing runs: a run's instructions are
            // mostly the commands' and the shell's.
            instructions: Instructions::default(),
        });

        let commands = tmp.join(format!("commands-{modules}.txt"));
        fs::write(&commands, shape.execs().join("\n") + "\n")?;
        let mut xargs = Probe::new(
            "xargs",
            &["-d", "\\n", "-P", &workers, "-n", "1", "sh", "-c"],
            &ours,
        );
        xargs.stdin = Some(commands);
        let forced_args = ["-f", "-v", "0", "-n", &workers];
        let forced_runs = runs.min(5);
        let (forced, xargs_measured) = measure_against(
            (&at("qik -f"), &Probe::new(&qik, &forced_args, &ours), None),
            (&at("floor: xargs -P sh -c"), &xargs, None),
            forced_runs,
        );
        rows.push(Row {
            scenario: at(&format!("forced run of every runnable, -n {workers}")),
            qik: forced,
            floor: Some((
                format!("`xargs -P {workers} sh -c` over the same commands"),
                xargs_measured,
            )),
            python: py_probe(&forced_args)
                .map(|p| measure(&at("python qik -f"), &p, forced_runs.min(3), None)),
            instructions: Instructions::default(),
        });
        if python_skipped {
            for row in &mut rows[first_row..] {
                row.python = Some(Measured::Pending(PYTHON_SKIPPED));
            }
        }

        rows.extend(pygraph_rows(
            &options,
            &qik,
            python.map(PathBuf::as_path),
            tmp,
            modules,
            runs,
            &count,
        )?);
    }

    if let (true, Some(python_qik)) = (options.pygraph, python.as_deref()) {
        let interpreter = python_qik.with_file_name("python");
        rows.extend(crate::package_graph::rows(&qik, &interpreter, tmp, runs)?);
    }
    if options.reapi {
        rows.extend(crate::reapi_bench::rows(&workspace, &qik, tmp, runs)?);
    } else {
        rows.extend(crate::reapi_bench::pending());
    }

    let report = render(&rows, &options);
    print!("{report}");
    fs::write(out_dir.join("report.md"), &report)?;
    fs::write(out_dir.join("report.json"), json(&rows, &options))?;
    eprintln!("wrote {}", out_dir.join("report.md").display());
    Ok(())
}

const PYGRAPH_PENDING: &str = "measured with --pygraph only (the Python side then installs \
                               qik[pygraph] and takes seconds per run)";

/// The cases with a `pygraph` dep in every module. Without `--pygraph` they
/// stay in the report as pending rows, so nobody forgets them.
fn pygraph_rows(
    options: &Options,
    qik: &Path,
    python: Option<&Path>,
    tmp: &Path,
    modules: usize,
    runs: usize,
    count: &dyn Fn(&str, &Probe<'_>) -> Option<Counted>,
) -> Result<Vec<Row>> {
    let slow_runs = runs.min(7);
    let shape = Shape {
        modules,
        pygraph: true,
    };
    let at = |what: &str| format!("{what}, M={modules}, every module with a pygraph dep");
    let scenarios = [
        "fully cached run",
        "import graph: cold build",
        "import graph: rebuild, nothing changed",
        "import graph: rebuild, one file changed",
        "import graph: lock",
    ];
    if !options.pygraph || modules > PYGRAPH_MAX_MODULES {
        let why = if options.pygraph {
            PYGRAPH_SKIPPED
        } else {
            PYGRAPH_PENDING
        };
        return Ok(scenarios
            .iter()
            .map(|scenario| Row {
                scenario: at(scenario),
                qik: Measured::Pending(why),
                floor: None,
                python: None,
                instructions: Instructions::default(),
            })
            .collect());
    }
    let ours = tmp.join(format!("qik-pygraph-{modules}"));
    let theirs = tmp.join(format!("python-pygraph-{modules}"));
    generate::repo(&ours, &shape)?;
    if python.is_some() {
        generate::repo(&theirs, &shape)?;
    }
    let both = |label: &str, args: &[&str], prepare: &dyn Fn(&Path) -> Result<()>| -> Row {
        let mut ours_prepare = || prepare(&ours);
        let mut theirs_prepare = || prepare(&theirs);
        Row {
            scenario: at(label),
            qik: measure(
                &at(&format!("qik {label}")),
                &Probe::new(qik, args, &ours),
                runs,
                Some(&mut ours_prepare),
            ),
            floor: None,
            python: python.map(|py| {
                measure(
                    &at(&format!("python qik {label}")),
                    &Probe::new(py, args, &theirs),
                    slow_runs,
                    Some(&mut theirs_prepare),
                )
            }),
            instructions: Instructions::default(),
        }
    };
    let nothing = |_: &Path| Ok(());
    let cold = |repo: &Path| {
        let private = repo.join("._qik");
        if private.exists() {
            fs::remove_dir_all(private)?;
        }
        Ok(())
    };
    let round = std::cell::Cell::new(0);
    let edit = |repo: &Path| {
        round.set(round.get() + 1);
        fs::write(
            repo.join("pkgs/m0/f1.py"),
            format!("import pkgs.m0.f0\nVALUE = {}\n", round.get()),
        )
        .map_err(Into::into)
    };
    let workers = options.workers.to_string();
    let cached = ["-v", "0", "-n", &workers];
    // Fill the caches first.
    let cached_probe = Probe::new(qik, &cached, &ours);
    fill(&cached_probe)?;
    if let Some(py) = python {
        let _ = run_ok(&Probe::new(py, &cached, &theirs));
    }
    let mut fully_cached = both("fully cached run", &cached, &nothing);
    // The same floor as the plain repository's: proving that nothing
    // changed costs a stat per tracked file, whatever the deps say.
    let status = Probe::new("git", &["status", "--porcelain"], &ours);
    let (qik_measured, status_measured) = measure_against(
        (&at("qik fully cached run"), &cached_probe, None),
        (&at("floor: git status --porcelain"), &status, None),
        runs,
    );
    fully_cached.qik = qik_measured;
    fully_cached.floor = Some(("`git status` (stats every file)".into(), status_measured));
    fully_cached.instructions = Instructions {
        qik: count(&at("qik fully cached run"), &cached_probe),
        floor: count(&at("floor: git status --porcelain"), &status),
    };
    Ok(vec![
        fully_cached,
        both(
            "import graph: cold build",
            &["pygraph.build", "-f", "-v", "0"],
            &cold,
        ),
        both(
            "import graph: rebuild, nothing changed",
            &["pygraph.build", "-f", "-v", "0"],
            &nothing,
        ),
        both(
            "import graph: rebuild, one file changed",
            &["pygraph.build", "-f", "-v", "0"],
            &edit,
        ),
        both(
            "import graph: lock",
            &["pygraph.lock", "-f", "-v", "0"],
            &nothing,
        ),
    ])
}

/// Runs a cached command until its caches are full and trusted: once to
/// store every entry, then, a second later, once more. The stat cache and
/// the remembered replays only trust what changed before the second they
/// are written in (a change within one timestamp tick would not show), so
/// the second run is the one that remembers every replay, as a user's
/// repository has them.
/// Runs everything once, then once more to remember the replays, so the
/// timed rounds measure the steady state a user's next run sees. A replay is
/// remembered only once its entry's stat data is older than the clock's
/// previous second (a change within one tick would not show), so the second
/// run waits a little over two seconds: with 1.1 s, some entries were not
/// yet remembered and the first rounds did full replays.
fn fill(probe: &Probe<'_>) -> Result<()> {
    run_ok(probe)?;
    std::thread::sleep(std::time::Duration::from_millis(2100));
    run_ok(probe)
}

fn cell(measured: &Measured) -> String {
    match measured {
        Measured::Done(s) => format!("{:.2} ({:.2}–{:.2})", s.median(), s.min(), s.max()),
        Measured::Failed(_) => "failed".into(),
        Measured::Pending(_) => "pending".into(),
    }
}

fn ratio(numerator: Option<&Stats>, denominator: Option<&Stats>) -> String {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d.median() > 0.0 => format!("{:.1}x", n.median() / d.median()),
        _ => "–".into(),
    }
}

fn millions(counted: Option<&Counted>) -> String {
    match counted {
        Some(Ok(n)) => format!("{:.1} M", *n as f64 / 1e6),
        Some(Err(_)) => "failed".into(),
        None => "–".into(),
    }
}

fn instruction_ratio(instructions: &Instructions) -> String {
    match (&instructions.qik, &instructions.floor) {
        (Some(Ok(qik)), Some(Ok(floor))) if *floor > 0 => {
            format!("{:.1}x", *qik as f64 / *floor as f64)
        }
        _ => "–".into(),
    }
}

fn render(rows: &[Row], options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Release `qik` on generated monorepos (M modules × 10 files; a lint and a test \
         command per module plus one plain command), {} worker(s). Whole processes; \
         median (min–max) ms; peak RSS of the qik process; instructions of one run \
         (callgrind `Ir`, all threads) where counted.\n",
        options.workers
    );
    out.push_str(
        "| scenario | qik ms | qik peak RSS | floor | floor ms | qik / floor | qik instr | floor instr | qik / floor instr | Python qik ms | Python / qik |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let rss = row.qik.stats().map_or("–".into(), |s| {
            format!("{:.1} MiB", s.max_rss_kib as f64 / 1024.0)
        });
        let (floor_name, floor_cell, floor_stats) = match &row.floor {
            Some((name, measured)) => (name.clone(), cell(measured), measured.stats()),
            None => ("–".into(), "–".into(), None),
        };
        let (python_cell, python_stats) = match &row.python {
            Some(measured) => (cell(measured), measured.stats()),
            None => ("–".into(), None),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {rss} | {floor_name} | {floor_cell} | {} | {} | {} | {} | {python_cell} | {} |",
            row.scenario,
            cell(&row.qik),
            ratio(row.qik.stats(), floor_stats),
            millions(row.instructions.qik.as_ref()),
            millions(row.instructions.floor.as_ref()),
            instruction_ratio(&row.instructions),
            ratio(python_stats, row.qik.stats()),
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            let mut notes = Vec::new();
            for (who, measured) in [("qik", Some(&row.qik)), ("Python qik", row.python.as_ref())]
                .into_iter()
                .chain(row.floor.as_ref().map(|(_, m)| ("floor", Some(m))))
            {
                match measured {
                    Some(Measured::Failed(why)) => {
                        notes.push(format!("- {} ({who}) failed: {why}", row.scenario));
                    }
                    Some(Measured::Pending(why)) => {
                        notes.push(format!("- {} ({who}) pending: {why}", row.scenario));
                    }
                    _ => {}
                }
            }
            for (who, counted) in [
                ("qik", &row.instructions.qik),
                ("floor", &row.instructions.floor),
            ] {
                if let Some(Err(why)) = counted {
                    notes.push(format!(
                        "- {} ({who}) instructions not counted: {why}",
                        row.scenario
                    ));
                }
            }
            notes
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let notes: Vec<String> = notes
        .into_iter()
        .filter(|note| {
            // Pending rows share one reason: say it once.
            let reason = note
                .split_once(" pending: ")
                .map_or(note.as_str(), |(_, r)| r);
            seen.insert(reason.to_owned())
        })
        .map(|note| match note.split_once(" pending: ") {
            Some((_, reason)) => format!("- pending rows: {reason}"),
            None => note,
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

fn json(rows: &[Row], options: &Options) -> String {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "scenario": row.scenario,
                "qik": row.qik.json(),
                "floor": row.floor.as_ref().map(|(name, m)| serde_json::json!({
                    "what": name,
                    "stats": m.json(),
                })),
                "python_qik": row.python.as_ref().map(Measured::json),
                "instructions": {
                    "qik": row.instructions.qik.as_ref().map(counted_json),
                    "floor": row.instructions.floor.as_ref().map(counted_json),
                },
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "workers": options.workers,
        "python_qik_version": PYTHON_QIK,
        "rows": items,
    }))
    .unwrap_or_default()
}

fn counted_json(counted: &Counted) -> serde_json::Value {
    match counted {
        Ok(n) => serde_json::json!(n),
        Err(why) => serde_json::json!({ "failed": why }),
    }
}
