//! A real S3-compatible server on loopback: `s3s-fs`, which checks SigV4
//! signatures and keeps objects as plain files (so tests can tamper with
//! them).
//!
//! The binary comes from the harness's tools (`support::tools::s3s_fs`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::server::ServerProcess;
use crate::support::tools::s3s_fs;
use crate::support::walk;

pub(crate) const ACCESS_KEY: &str = "AKIAQIKTESTACCESS01";
pub(crate) const SECRET_KEY: &str = "qik-test-secret-7f3a9c2e51d84b60";
pub(crate) const BUCKET: &str = "qik-cache";

/// A running `s3s-fs` with one empty bucket, stopped on drop.
pub(crate) struct S3Server {
    _process: ServerProcess,
    pub(crate) port: u16,
    data: tempfile::TempDir,
}

impl S3Server {
    pub(crate) fn start() -> S3Server {
        let bin = s3s_fs();
        let data = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(data.path().join("root").join(BUCKET)).expect("bucket dir");
        let process = ServerProcess::start(
            "s3s-fs",
            &data.path().join("server.log"),
            Duration::from_secs(10),
            |port| {
                let mut command = Command::new(bin);
                command
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(data.path().join("root"));
                command
            },
        );
        S3Server {
            port: process.port,
            _process: process,
            data,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bucket's directory: objects are files at their keys.
    pub(crate) fn bucket_dir(&self) -> PathBuf {
        self.data.path().join("root").join(BUCKET)
    }

    /// Every object in the bucket, as paths on disk.
    pub(crate) fn objects(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.bucket_dir(), &mut |path| {
            found.push(path.to_path_buf())
        });
        found.sort();
        found
    }

    /// The seals (`entry.json`) in the bucket.
    pub(crate) fn seals(&self) -> Vec<PathBuf> {
        self.objects()
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "entry.json"))
            .collect()
    }
}
