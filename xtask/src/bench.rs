//! `cargo xtask bench`: whole-process timings of the release `qik` on
//! generated monorepos, beside their floors.
//!
//! Each case runs a few warm-up rounds, then `--runs` measured ones; the
//! report gives min / median / max. Results go to `target/bench/report.md`
//! and `target/bench/report.json`. Timings are of this machine at this
//! moment: compare medians and ratios within one report, not across machines.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const WARMUP: usize = 3;
const FILES_PER_MODULE: usize = 10;

struct Options {
    modules: Vec<usize>,
    runs: usize,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        modules: vec![50, 300],
        runs: 15,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--modules" => {
                let value = args.next().context("--modules needs a value")?;
                options.modules = value
                    .split(',')
                    .map(|n| n.parse().context("--modules takes numbers"))
                    .collect::<Result<_>>()?;
            }
            "--runs" => {
                options.runs = args
                    .next()
                    .context("--runs needs a value")?
                    .parse()
                    .context("--runs takes a number")?;
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

struct Case {
    name: String,
    samples: Vec<Duration>,
}

impl Case {
    fn sorted(&self) -> Vec<Duration> {
        let mut samples = self.samples.clone();
        samples.sort();
        samples
    }

    fn median(&self) -> Duration {
        let sorted = self.sorted();
        sorted[sorted.len() / 2]
    }
}

pub(crate) fn main(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?
        .to_path_buf();
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
    let scratch = tempfile::tempdir()?;

    let mut cases = Vec::new();
    cases.push(measure("floor: /bin/true", options.runs, None, || {
        cmd("true", &[], scratch.path())
    })?);
    cases.push(measure(
        "startup: qik --version",
        options.runs,
        None,
        || cmd(&qik, &["--version"], scratch.path()),
    )?);
    for &modules in &options.modules {
        let repo = scratch.path().join(format!("mono-{modules}"));
        generate(&repo, modules)?;
        let runnables = 2 * modules + 1;
        let label = |what: &str| format!("{what}, M={modules} ({runnables} runnables)");
        cases.push(measure(
            &label("floor: git ls-files -s"),
            options.runs,
            None,
            || cmd("git", &["ls-files", "-s"], &repo),
        )?);
        cases.push(measure(&label("qik --ls"), options.runs, None, || {
            cmd(&qik, &["--ls"], &repo)
        })?);
        // Fill the cache once, then every run is a full replay.
        run_ok(&qik, &["-v", "0"], &repo)?;
        cases.push(measure(
            &label("fully cached qik"),
            options.runs,
            None,
            || cmd(&qik, &["-v", "0"], &repo),
        )?);
        let edited = repo.join("pkgs/m0/f0.py");
        let mut round = 0;
        cases.push(measure(
            &label("qik after one file changed"),
            options.runs,
            Some(&mut || {
                round += 1;
                fs::write(&edited, format!("x = {round}\n")).map_err(Into::into)
            }),
            || cmd(&qik, &["-v", "0"], &repo),
        )?);
        let forced = format!("forced run of {runnables} trivial commands, -n 2");
        cases.push(measure(&label(&forced), options.runs.min(5), None, || {
            cmd(&qik, &["-f", "-v", "0", "-n", "2"], &repo)
        })?);
    }
    let report = render(&cases);
    print!("{report}");
    fs::write(out_dir.join("report.md"), &report)?;
    fs::write(out_dir.join("report.json"), json(&cases))?;
    eprintln!("wrote {}", out_dir.join("report.md").display());
    Ok(())
}

fn cmd(program: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn run_ok(program: &Path, args: &[&str], cwd: &Path) -> Result<()> {
    let status = cmd(program, args, cwd).status()?;
    if !status.success() {
        bail!("{} {args:?} failed in {}", program.display(), cwd.display());
    }
    Ok(())
}

type Prepare<'a> = Option<&'a mut dyn FnMut() -> Result<()>>;

fn measure(
    name: &str,
    runs: usize,
    mut prepare: Prepare<'_>,
    make: impl Fn() -> Command,
) -> Result<Case> {
    let mut samples = Vec::with_capacity(runs);
    for round in 0..WARMUP + runs {
        if let Some(prepare) = prepare.as_mut() {
            prepare()?;
        }
        let start = Instant::now();
        let status = make().status().with_context(|| format!("running {name}"))?;
        let elapsed = start.elapsed();
        if !status.success() {
            bail!("{name} failed");
        }
        if round >= WARMUP {
            samples.push(elapsed);
        }
    }
    let case = Case {
        name: name.to_string(),
        samples,
    };
    eprintln!("{:<70} median {:>9.2} ms", case.name, ms(case.median()));
    Ok(case)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A deterministic monorepo: `modules` packages of ten Python files, a
/// `lint` and a `test` command per module and one plain command.
fn generate(repo: &Path, modules: usize) -> Result<()> {
    fs::create_dir_all(repo)?;
    let mut config = String::from("[spaces.default]\nmodules = [\n");
    for m in 0..modules {
        let _ = writeln!(config, "  \"pkgs/m{m}\",");
        let dir = repo.join(format!("pkgs/m{m}"));
        fs::create_dir_all(&dir)?;
        for f in 0..FILES_PER_MODULE {
            fs::write(
                dir.join(format!("f{f}.py")),
                format!("# module {m} file {f}\nVALUE = {}\n", m * 100 + f),
            )?;
        }
    }
    config.push_str(
        "]\n\n[commands.lint]\nexec = \"true {module.dir}\"\ndeps = [\"{module.dir}/**.py\"]\n\n",
    );
    config.push_str("[commands.test]\nexec = \"true {module.dir}\"\ndeps = [\"{module.dir}/**.py\", {type = \"command\", name = \"lint\"}]\n\n");
    config.push_str("[commands.check]\nexec = \"true\"\ndeps = [\"qik.toml\"]\n");
    fs::write(repo.join("qik.toml"), config)?;
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@invalid",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let status = Command::new("git").args(args).current_dir(repo).status()?;
        if !status.success() {
            bail!("git {args:?} failed");
        }
    }
    Ok(())
}

fn render(cases: &[Case]) -> String {
    let floor = cases.first().map(Case::median).unwrap_or_default();
    let mut out = String::from(
        "| case | min ms | median ms | max ms | median / `/bin/true` |\n|---|---|---|---|---|\n",
    );
    for case in cases {
        let sorted = case.sorted();
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {:.1}x |",
            case.name,
            ms(sorted[0]),
            ms(case.median()),
            ms(sorted[sorted.len() - 1]),
            case.median().as_secs_f64() / floor.as_secs_f64().max(1e-9)
        );
    }
    out
}

fn json(cases: &[Case]) -> String {
    let items: Vec<serde_json::Value> = cases
        .iter()
        .map(|case| {
            let sorted = case.sorted();
            serde_json::json!({
                "case": case.name,
                "min_ms": ms(sorted[0]),
                "median_ms": ms(case.median()),
                "max_ms": ms(sorted[sorted.len() - 1]),
                "runs": sorted.len(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_default()
}
