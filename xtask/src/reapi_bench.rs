//! The `reapi` cache rows of `cargo xtask bench --reapi`: restoring 1,000
//! small artifacts, and one of 100 MB, from BuildGrid on loopback, against
//! the floor of plain RPCs that fetch, check and write the same blobs
//! (`crates/qik-reapi/examples/rpc_floor.rs`, built in release).
//!
//! BuildGrid is installed as the end-to-end tests install it (same tools
//! directory) and runs with a cache-only configuration: CAS on disk, an
//! in-memory action cache.

use std::fs;
use std::io::Read as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::measure::{Measured, Probe, Row, measure_against, run_ok};

const BUILDGRID: &str = "0.4.4";

pub(crate) const PENDING: &str =
    "measured with --reapi only (installs BuildGrid on first use, runs it on loopback)";

/// The scenarios, as the report names them.
pub(crate) const SCENARIOS: [&str; 2] = [
    "reapi cache: restore 1,000 small artifacts from BuildGrid",
    "reapi cache: restore one 100 MB artifact from BuildGrid",
];

/// Where the end-to-end tests keep their tools.
fn buildgrid() -> Result<PathBuf> {
    let root = crate::tools::dir()?.join(format!("buildgrid-{BUILDGRID}"));
    if !root.join("bin/bgd").is_file() {
        eprintln!("installing BuildGrid {BUILDGRID} (first use only)...");
        let scratch = tempfile::Builder::new()
            .prefix(".installing-")
            .tempdir_in(root.parent().context("tools dir")?)?;
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(scratch.path())
            .arg(format!("buildgrid=={BUILDGRID}"))
            .status()?;
        if !status.success() {
            bail!("pip install buildgrid=={BUILDGRID} failed");
        }
        let staged = scratch.keep();
        if fs::rename(&staged, &root).is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
    }
    Ok(root)
}

/// BuildGrid, stopped on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Result<Server> {
    let root = buildgrid()?;
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let config = format!(
        "server:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n    insecure-mode: true\n\
         authorization:\n  method: none\n\
         storages:\n  - !disk-storage &cas\n    path: {cas}\n\
         caches:\n  - !lru-action-cache &ac\n    storage: *cas\n    max-cached-refs: 100000\n    allow-updates: true\n\
         instances:\n  - name: \"\"\n    services:\n      - !action-cache\n        cache: *ac\n      - !cas\n        storage: *cas\n      - !bytestream\n        storage: *cas\n",
        cas = dir.join("cas").display()
    );
    fs::write(dir.join("bgd.yml"), config)?;
    let log = fs::File::create(dir.join("bgd.log"))?;
    let child = Command::new("python3")
        .arg(root.join("bin/bgd"))
        .args(["server", "start"])
        .arg(dir.join("bgd.yml"))
        .env("PYTHONPATH", &root)
        .env("PYTHONNOUSERSITE", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("python3 runs BuildGrid")?;
    let mut server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline || server.child.try_wait()?.is_some() {
            let mut text = String::new();
            let _ = fs::File::open(dir.join("bgd.log"))?.read_to_string(&mut text);
            bail!("BuildGrid did not start: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server.port = port;
    Ok(server)
}

/// A project with one command whose artifacts `exec` makes under `out/`,
/// stored in a `reapi` cache on `port`.
fn project(dir: &Path, port: u16, exec: &str) -> Result<()> {
    fs::create_dir_all(dir.join("src"))?;
    fs::write(dir.join("src/input.txt"), "one\n")?;
    fs::write(
        dir.join("qik.toml"),
        format!(
            "[plugins]\nreapi = \"qik.reapi\"\n\n\
             [caches.remote]\ntype = \"reapi\"\nendpoint = \"grpc://127.0.0.1:{port}\"\ntimeout = 30\n\n\
             [commands.make]\nexec = \"{exec}\"\ndeps = [\"src/**\"]\nartifacts = [\"out/**\"]\ncache = \"remote\"\n"
        ),
    )?;
    run_ok(&Probe::new("git", &["init", "-q"], dir))?;
    run_ok(&Probe::new("git", &["add", "-A"], dir))?;
    Ok(())
}

/// `sha256 size path` for every file under `dir/out`, paths relative to
/// `dir`: what the floor fetches.
fn blob_list(dir: &Path, list: &Path) -> Result<()> {
    let mut lines = String::new();
    let mut stack = vec![dir.join("out")];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let data = fs::read(&path)?;
                let hash: String = Sha256::digest(&data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let relative = path.strip_prefix(dir)?;
                lines.push_str(&format!("{hash} {} {}\n", data.len(), relative.display()));
            }
        }
    }
    fs::write(list, lines)?;
    Ok(())
}

pub(crate) fn rows(workspace: &Path, qik: &Path, tmp: &Path, runs: usize) -> Result<Vec<Row>> {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "qik-reapi",
            "--example",
            "rpc_floor",
        ])
        .current_dir(workspace)
        .status()?;
    if !status.success() {
        bail!("building the rpc_floor example failed");
    }
    let floor = workspace.join("target/release/examples/rpc_floor");
    let server_dir = tmp.join("reapi-server");
    fs::create_dir_all(&server_dir)?;
    let server = start(&server_dir)?;
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    // A round of the 1,000-artifact restore takes about a second a side.
    let runs = runs.min(11);
    let cases = [
        "mkdir -p out/many && for i in $(seq 1 1000); do echo $i > out/many/f$i.txt; done",
        "mkdir -p out && head -c 100000000 /dev/urandom > out/big.bin",
    ];
    let mut rows = Vec::new();
    for (scenario, exec) in SCENARIOS.iter().zip(cases) {
        let dir = tmp.join(format!("reapi-{}", rows.len()));
        project(&dir, server.port, exec)?;
        // The first run uploads; then every round restores into a checkout
        // without its outputs or local cache.
        run_ok(&Probe::new(qik, &["make", "-v", "0"], &dir))?;
        let list = tmp.join(format!("reapi-{}.list", rows.len()));
        blob_list(&dir, &list)?;
        // Outputs are moved aside between rounds and deleted after the row:
        // ext4 makes the files created just after thousands were deleted
        // cost ten times more (it scans past recently freed inodes), and
        // the sides delete different numbers of files.
        let trash = tmp.join(format!("reapi-{}.trash", rows.len()));
        fs::create_dir_all(&trash)?;
        let moved = std::cell::Cell::new(0);
        let clean = |dir: &Path| -> Result<()> {
            for sub in ["out", "._qik"] {
                if dir.join(sub).exists() {
                    moved.set(moved.get() + 1);
                    fs::rename(dir.join(sub), trash.join(moved.get().to_string()))?;
                }
            }
            Ok(())
        };
        // A restore, not a run: a checkout without outputs replays the entry.
        clean(&dir)?;
        let check = Command::new(qik).arg("make").current_dir(&dir).output()?;
        let said = String::from_utf8_lossy(&check.stderr);
        if !check.status.success() || !said.lines().any(|l| l == "[cached] make") {
            bail!("qik did not restore `{scenario}` from the server: {said}");
        }
        let mut qik_prepare = || clean(&dir);
        let mut floor_prepare = || clean(&dir);
        let list_arg = list.display().to_string();
        let (qik_measured, floor_measured) = measure_against(
            (
                &format!("qik {scenario}"),
                &Probe::new(qik, &["make", "-v", "0"], &dir),
                Some(&mut qik_prepare),
            ),
            (
                &format!("floor: {scenario}"),
                &Probe::new(&floor, &[&endpoint, &list_arg], &dir),
                Some(&mut floor_prepare),
            ),
            runs,
        );
        fs::remove_dir_all(&trash)?;
        rows.push(Row {
            scenario: (*scenario).to_string(),
            qik: qik_measured,
            floor: Some(("plain RPCs (rpc_floor)".into(), floor_measured)),
            python: None,
            instructions: Default::default(),
        });
    }
    drop(server);
    Ok(rows)
}

/// The rows, pending, when `--reapi` is not given.
pub(crate) fn pending() -> Vec<Row> {
    SCENARIOS
        .iter()
        .map(|scenario| Row {
            scenario: (*scenario).to_string(),
            qik: Measured::Pending(PENDING),
            floor: None,
            python: None,
            instructions: Default::default(),
        })
        .collect()
}
