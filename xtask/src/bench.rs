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

use anyhow::{Context, Result, bail};

use crate::generate::{self, Shape};
use crate::measure::{Measured, Probe, Row, Stats, measure, run_ok};

/// The Python qik the issue measured; installed on first use.
const PYTHON_QIK: &str = "0.2.10";

const USAGE: &str = "usage: cargo xtask bench [--modules N[,N...]] [--runs N] [--workers N] \
                     [--no-python] [--pygraph] [--reapi]";

struct Options {
    modules: Vec<usize>,
    runs: usize,
    workers: usize,
    python: bool,
    pygraph: bool,
    reapi: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        modules: vec![50, 300],
        runs: 15,
        workers: 2,
        python: true,
        pygraph: false,
        reapi: false,
    };
    let mut args = args.iter();
    let number = |value: Option<&String>, flag: &str| -> Result<usize> {
        value
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?
            .parse()
            .with_context(|| format!("{flag} takes a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--modules" => {
                let value = args.next().context("--modules needs a value")?;
                options.modules = value
                    .split(',')
                    .map(|n| n.parse().context("--modules takes numbers"))
                    .collect::<Result<_>>()?;
            }
            "--runs" => options.runs = number(args.next(), "--runs")?.max(1),
            "--workers" => options.workers = number(args.next(), "--workers")?.max(1),
            "--no-python" => options.python = false,
            "--pygraph" => options.pygraph = true,
            "--reapi" => options.reapi = true,
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(options)
}

pub(crate) fn main(args: &[String]) -> Result<()> {
    let options = parse(args)?;
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
        Some(crate::pyqik::install(
            &workspace,
            PYTHON_QIK,
            options.pygraph,
        )?)
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
    rows.push(Row {
        scenario: "startup (`qik --version`; Python: `qik --help`)".into(),
        qik: measure(
            "qik --version",
            &Probe::new(&qik, &["--version"], tmp),
            runs,
            None,
        ),
        floor: Some((
            "/bin/true".into(),
            measure("floor: /bin/true", &truth, runs, None),
        )),
        python: python.as_ref().map(|py| {
            measure(
                "python qik --help",
                &Probe::new(py, &["--help"], tmp),
                slow_runs,
                None,
            )
        }),
    });

    for &modules in &options.modules {
        let shape = Shape {
            modules,
            pygraph: false,
        };
        let ours = tmp.join(format!("qik-{modules}"));
        generate::repo(&ours, &shape)?;
        let theirs = tmp.join(format!("python-{modules}"));
        if python.is_some() {
            generate::repo(&theirs, &shape)?;
        }
        let runnables = shape.runnables();
        let at = |what: &str| format!("{what}, M={modules} ({runnables} runnables)");
        let py_probe = |args: &[&str]| python.as_ref().map(|py| Probe::new(py, args, &theirs));

        rows.push(Row {
            scenario: at("`--ls`"),
            qik: measure(
                &at("qik --ls"),
                &Probe::new(&qik, &["--ls"], &ours),
                runs,
                None,
            ),
            floor: Some((
                "`git ls-files -s`".into(),
                measure(
                    &at("floor: git ls-files -s"),
                    &Probe::new("git", &["ls-files", "-s"], &ours),
                    runs,
                    None,
                ),
            )),
            python: py_probe(&["--ls"])
                .map(|p| measure(&at("python qik --ls"), &p, slow_runs, None)),
        });

        // Fill the caches once; from then on every run is a full replay.
        let cached_args = ["-v", "0", "-n", &workers];
        run_ok(&Probe::new(&qik, &cached_args, &ours))?;
        if let Some(probe) = py_probe(&cached_args) {
            run_ok(&probe)?;
        }
        let fully_cached = measure(
            &at("qik, fully cached"),
            &Probe::new(&qik, &cached_args, &ours),
            runs,
            None,
        );
        let cached_stats = fully_cached.stats().cloned();
        rows.push(Row {
            scenario: at("fully cached run"),
            qik: fully_cached,
            floor: Some((
                "`git status` (stats every file)".into(),
                measure(
                    &at("floor: git status --porcelain"),
                    &Probe::new("git", &["status", "--porcelain"], &ours),
                    runs,
                    None,
                ),
            )),
            python: py_probe(&cached_args)
                .map(|p| measure(&at("python qik, fully cached"), &p, slow_runs, None)),
        });

        // The same replays with every log printed: the remembered replays
        // then read each log (they check its stat data, never its digest,
        // which only the first, full replay of an entry reads it for).
        let printed_args = ["--logger", "stdout", "-n", &workers];
        rows.push(Row {
            scenario: at("fully cached run, replayed output printed (`--logger stdout`)"),
            qik: measure(
                &at("qik, fully cached, output printed"),
                &Probe::new(&qik, &printed_args, &ours),
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
        rows.push(Row {
            scenario: at(&format!("forced run of every runnable, -n {workers}")),
            qik: measure(
                &at("qik -f"),
                &Probe::new(&qik, &forced_args, &ours),
                forced_runs,
                None,
            ),
            floor: Some((
                format!("`xargs -P {workers} sh -c` over the same commands"),
                measure(&at("floor: xargs -P sh -c"), &xargs, forced_runs, None),
            )),
            python: py_probe(&forced_args)
                .map(|p| measure(&at("python qik -f"), &p, forced_runs.min(3), None)),
        });

        rows.extend(pygraph_rows(
            &options,
            &qik,
            python.as_deref(),
            tmp,
            modules,
            runs,
            slow_runs,
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
    slow_runs: usize,
) -> Result<Vec<Row>> {
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
    if !options.pygraph {
        return Ok(scenarios
            .iter()
            .map(|scenario| Row {
                scenario: at(scenario),
                qik: Measured::Pending(PYGRAPH_PENDING),
                floor: None,
                python: None,
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
    let cached = ["-v", "0"];
    // Fill the caches first.
    let _ = run_ok(&Probe::new(qik, &cached, &ours));
    if let Some(py) = python {
        let _ = run_ok(&Probe::new(py, &cached, &theirs));
    }
    Ok(vec![
        both("fully cached run", &cached, &nothing),
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

fn render(rows: &[Row], options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Release `qik` on generated monorepos (M modules × 10 files; a lint and a test \
         command per module plus one plain command), {} worker(s). Whole processes; \
         median (min–max) ms; peak RSS of the qik process.\n",
        options.workers
    );
    out.push_str(
        "| scenario | qik ms | qik peak RSS | floor | floor ms | qik / floor | Python qik ms | Python / qik |\n\
         |---|---|---|---|---|---|---|---|\n",
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
            "| {} | {} | {rss} | {floor_name} | {floor_cell} | {} | {python_cell} | {} |",
            row.scenario,
            cell(&row.qik),
            ratio(row.qik.stats(), floor_stats),
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
