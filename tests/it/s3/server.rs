//! A real S3-compatible server on loopback: `s3s-fs`, which checks SigV4
//! signatures and keeps objects as plain files (so tests can tamper with
//! them).
//!
//! The binary comes from the harness's tools (`support::tools::s3s_fs`).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::tools::s3s_fs;
use crate::support::walk;

pub(crate) const ACCESS_KEY: &str = "AKIAQIKTESTACCESS01";
pub(crate) const SECRET_KEY: &str = "qik-test-secret-7f3a9c2e51d84b60";
pub(crate) const BUCKET: &str = "qik-cache";

/// A running `s3s-fs` with one empty bucket, stopped on drop.
pub(crate) struct S3Server {
    child: Child,
    pub(crate) port: u16,
    data: tempfile::TempDir,
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl S3Server {
    pub(crate) fn start() -> S3Server {
        // Serialise starts: two servers racing for one free port would both
        // look up before either binds.
        static STARTING: Mutex<()> = Mutex::new(());
        let bin = s3s_fs();
        let data = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(data.path().join("root").join(BUCKET)).expect("bucket dir");
        let log = data.path().join("server.log");
        let _guard = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(data.path().join("root"))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).expect("log file"))
                .stderr(Stdio::from(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(&log)
                        .expect("log file"),
                ))
                .spawn()
                .expect("s3s-fs starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
                if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(100)).is_ok() {
                    return S3Server { child, port, data };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "s3s-fs did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
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

impl Drop for S3Server {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
