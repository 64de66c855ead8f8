//! A real REAPI server on loopback: BuildGrid (`bgd server start`) with a
//! cache-only configuration: a CAS on disk (so tests can delete or tamper
//! with blobs), an LRU action cache over it, no TLS and no auth.
//!
//! BuildGrid comes from the harness's tools (`support::tools::buildgrid_dir`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::server::ServerProcess;
use crate::support::tools::buildgrid_dir;
use crate::support::walk;

/// A running BuildGrid, stopped on drop.
pub(crate) struct Bgd {
    process: ServerProcess,
    pub(crate) port: u16,
    data: tempfile::TempDir,
}

/// TLS for the channel: the server's key and certificate (PEM files).
pub(crate) struct Tls {
    pub(crate) key: PathBuf,
    pub(crate) cert: PathBuf,
}

/// How a server is set up besides its port and storage.
#[derive(Default)]
struct Options<'a> {
    refuse_updates: bool,
    tls: Option<&'a Tls>,
    /// A file holding the HS256 secret that bearer JWTs must be signed with.
    jwt_secret: Option<&'a Path>,
}

fn config(port: u16, cas: &Path, options: &Options<'_>) -> String {
    let allow_updates = !options.refuse_updates;
    let tls = options.tls;
    let authorization = match options.jwt_secret {
        None => "  method: none\n".to_string(),
        Some(secret) => format!(
            "  method: jwt\n  secret: {}\n  algorithm: hs256\n",
            secret.display()
        ),
    };
    let channel = match tls {
        None => "    insecure-mode: true\n".to_string(),
        Some(tls) => format!(
            "    insecure-mode: false\n    credentials:\n      tls-server-key: {}\n      tls-server-cert: {}\n",
            tls.key.display(),
            tls.cert.display()
        ),
    };
    format!(
        r#"server:
  - !channel
    address: "127.0.0.1:{port}"
{channel}authorization:
{authorization}storages:
  - !disk-storage &cas
    path: {cas}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: {allow_updates}
    cache-failed-actions: true
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"#,
        cas = cas.display()
    )
}

impl Bgd {
    pub(crate) fn start() -> Bgd {
        Bgd::start_with(true)
    }

    /// `allow_updates = false`: the action cache refuses results and says so
    /// in its capabilities.
    pub(crate) fn start_with(allow_updates: bool) -> Bgd {
        Bgd::launch(&Options {
            refuse_updates: !allow_updates,
            ..Options::default()
        })
    }

    /// A server that only speaks TLS.
    pub(crate) fn start_tls(tls: &Tls) -> Bgd {
        Bgd::launch(&Options {
            tls: Some(tls),
            ..Options::default()
        })
    }

    /// A server that wants `authorization: Bearer <JWT>` signed (HS256)
    /// with the secret in `secret`.
    pub(crate) fn start_jwt(secret: &Path) -> Bgd {
        Bgd::launch(&Options {
            jwt_secret: Some(secret),
            ..Options::default()
        })
    }

    fn launch(options: &Options<'_>) -> Bgd {
        let data = tempfile::tempdir().expect("temp dir");
        let process = Bgd::serve(data.path(), options);
        Bgd {
            port: process.port,
            process,
            data,
        }
    }

    /// A server process over the CAS in `data`.
    fn serve(data: &Path, options: &Options<'_>) -> ServerProcess {
        let root = buildgrid_dir();
        let config_path = data.join("config.yml");
        let cas = data.join("cas");
        // Python imports take seconds, more on a busy machine.
        ServerProcess::start(
            "BuildGrid",
            &data.join("server.log"),
            Duration::from_secs(60),
            |port| {
                std::fs::write(&config_path, config(port, &cas, options))
                    .expect("write the config");
                let mut command = Command::new("python3");
                command
                    .arg(root.join("bin/bgd"))
                    .args(["server", "start"])
                    .arg(&config_path)
                    .env("PYTHONPATH", root)
                    .env("PYTHONNOUSERSITE", "1");
                command
            },
        )
    }

    /// Kills the server now (SIGKILL), as a crash would.
    pub(crate) fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again over the same storage, on a new port. The
    /// action cache is in memory (LRU), so results do not survive a crash;
    /// the CAS on disk does.
    pub(crate) fn restart(&mut self) {
        self.process.kill();
        self.process = Bgd::serve(self.data.path(), &Options::default());
        self.port = self.process.port;
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// Every blob in the CAS, as files on disk.
    pub(crate) fn blobs(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.data.path().join("cas/cas/objects"), &mut |path| {
            found.push(path.to_path_buf())
        });
        found.sort();
        found
    }

    /// Where the blob of this sha256 lives.
    pub(crate) fn blob_path(&self, sha256: &str) -> PathBuf {
        self.data
            .path()
            .join("cas/cas/objects")
            .join(&sha256[..2])
            .join(&sha256[2..])
    }
}
