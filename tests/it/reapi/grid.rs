//! Distributed execution on loopback, as a team runs it: BuildGrid's
//! Execution and Bots services with its SQL scheduler on a private
//! PostgreSQL cluster, and workers that lease actions from it.
//!
//! No published package ships a worker, so `bot.py` (test code) plays one:
//! it runs each lease with buildbox-run in the worker image (`run-in-image`).
//! Each worker's image also holds `/etc/qik-worker` with the worker's name,
//! so an action can record which worker ran it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::server::ServerProcess;
use crate::support::tools::{buildbox_dir, buildgrid_dir, postgres_bin_dir, psycopg2_dir};

/// The worker shim.
const BOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/it/reapi/bot.py");

/// A scheduler with its workers, all stopped on drop (workers first).
pub(crate) struct Grid {
    workers: Vec<(String, ServerProcess)>,
    bgd: ServerProcess,
    postgres: ServerProcess,
    dir: tempfile::TempDir,
}

/// `python3` with BuildGrid and the PostgreSQL driver importable.
fn python() -> Command {
    let mut command = Command::new("python3");
    let path = std::env::join_paths([buildgrid_dir(), psycopg2_dir()]).expect("python path");
    command.env("PYTHONPATH", path).env("PYTHONNOUSERSITE", "1");
    command
}

/// PostgreSQL refuses to run as root: as root, run it as `nobody`.
fn unprivileged(program: &Path, data: &Path) -> Command {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return Command::new(program);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let (uid, gid) = passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"nobody"))
                .then(|| (fields[2].to_string(), fields[3].to_string()))
        })
        .expect("a `nobody` user to run PostgreSQL as");
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(data)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown {}", data.display());
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(program);
    command
}

/// A scheduler config: the server's CAS and action cache, and Execution
/// and Bots on an SQL scheduler that assigns jobs as they come.
fn config(port: u16, db: &str, cas: &Path) -> String {
    format!(
        r#"server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: {db}
    pool-size: 5
    max-overflow: 10
storages:
  - !disk-storage &cas
    path: {cas}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: true
schedulers:
  - !sql-scheduler &scheduler
    storage: *cas
    sql: *sql
    action-cache: *ac
    poll-interval: 0.2
    bot-poll-interval: 0.2
    assigners:
      - !priority-age-assigner
        interval: 0.1
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !execution
        scheduler: *scheduler
      - !bots
        scheduler: *scheduler
"#,
        cas = cas.display()
    )
}

impl Grid {
    /// A scheduler and `workers` workers named `worker-1`, `worker-2`, ...
    pub(crate) fn start(workers: usize) -> Grid {
        let dir = tempfile::tempdir().expect("temp dir");
        // PostgreSQL's user must reach its data directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).expect("pg dir");
        let bin = postgres_bin_dir();
        let status = unprivileged(&bin.join("initdb"), &data)
            .arg("-D")
            .arg(data.join("data"))
            .args(["-A", "trust", "-U", "bgd", "--no-sync"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let postgres = ServerProcess::start(
            "PostgreSQL",
            &dir.path().join("postgres.log"),
            Duration::from_secs(30),
            |port| {
                let mut command = unprivileged(&bin.join("postgres"), &data);
                command
                    .arg("-D")
                    .arg(data.join("data"))
                    .arg("-p")
                    .arg(port.to_string())
                    .arg("-k")
                    .arg(data.join("data"))
                    .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]);
                command
            },
        );
        let db = format!(
            "postgresql+psycopg2://bgd@127.0.0.1:{}/postgres",
            postgres.port
        );
        let migrated = python()
            .arg(buildgrid_dir().join("bin/bgd"))
            .args(["migrate", "apply", &db])
            .output()
            .expect("bgd migrate runs");
        assert!(
            migrated.status.success(),
            "bgd migrate apply failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        let config_path = dir.path().join("grid.yml");
        let cas = dir.path().join("cas");
        let bgd = ServerProcess::start(
            "BuildGrid (execution)",
            &dir.path().join("bgd.log"),
            Duration::from_secs(60),
            |port| {
                std::fs::write(&config_path, config(port, &db, &cas)).expect("write the config");
                let mut command = python();
                command
                    .arg(buildgrid_dir().join("bin/bgd"))
                    .args(["server", "start"])
                    .arg(&config_path);
                command
            },
        );
        let image = buildbox_dir().join("run-in-image");
        let workers = (1..=workers)
            .map(|n| {
                let name = format!("worker-{n}");
                let id = dir.path().join(format!("{name}.id"));
                std::fs::write(&id, format!("{name}\n")).expect("worker id");
                let mut command = python();
                command
                    .arg(BOT)
                    .arg(format!("127.0.0.1:{}", bgd.port))
                    .arg(&name)
                    .arg(&image)
                    .arg(format!("--ro-bind-mount={}:/etc/qik-worker", id.display()));
                let log = dir.path().join(format!("{name}.log"));
                let process = ServerProcess::spawn(&name, &log, command);
                (name, process)
            })
            .collect();
        let mut grid = Grid {
            workers,
            bgd,
            postgres,
            dir,
        };
        grid.wait_for_sessions();
        grid
    }

    /// Until every worker has a bot session (or the test fails with logs).
    fn wait_for_sessions(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .workers
                .iter()
                .all(|(name, _)| self.log(name).contains("session"));
            if ready {
                return;
            }
            let dead = self.workers.iter_mut().any(|(_, p)| p.exited());
            assert!(
                !dead && Instant::now() < deadline,
                "workers did not start: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.bgd.port)
    }

    fn log(&self, worker: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{worker}.log"))).unwrap_or_default()
    }

    /// How many leases each worker took, by name.
    pub(crate) fn leases(&self) -> Vec<(String, usize)> {
        self.workers
            .iter()
            .map(|(name, _)| (name.clone(), self.log(name).matches(": lease ").count()))
            .collect()
    }

    /// Every log, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let mut text = String::new();
        for file in ["bgd.log", "postgres.log"]
            .into_iter()
            .map(PathBuf::from)
            .chain(
                self.workers
                    .iter()
                    .map(|(n, _)| PathBuf::from(format!("{n}.log"))),
            )
        {
            let body = std::fs::read_to_string(self.dir.path().join(&file)).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(30).collect();
            text.push_str(&format!("--- {}\n", file.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Grid {
    fn drop(&mut self) {
        // Workers first, so none reconnects to a dying server.
        for (_, worker) in &mut self.workers {
            worker.kill();
        }
        self.bgd.kill();
        // A fast shutdown: the server ends its own backends.
        self.postgres
            .stop(nix::sys::signal::Signal::SIGINT, Duration::from_secs(10));
    }
}
