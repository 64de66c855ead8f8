//! moto's server on loopback: STS (AssumeRoleWithWebIdentity), and S3 where
//! a test needs what `s3s-fs` lacks: bucket policies (anonymous reads) and
//! TLS. moto does not check presigned signatures, so the tests that prove
//! credentials are accepted or refused use `s3s-fs`.
//!
//! Also a tiny HTTP/1.1 client for the set-up requests moto takes unsigned
//! (create a bucket, set its policy, list it).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::server::ServerProcess;
use crate::support::tools::moto_dir;

/// A running moto server, stopped on drop.
pub(crate) struct Moto {
    _process: ServerProcess,
    pub(crate) port: u16,
    tls: bool,
    _log: tempfile::TempDir,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        Moto::start_with(None)
    }

    /// Over TLS with this certificate and key.
    pub(crate) fn start_tls(cert: &Path, key: &Path) -> Moto {
        Moto::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Moto {
        let dir = moto_dir();
        let log_dir = tempfile::tempdir().expect("temp dir");
        let process = ServerProcess::start(
            "moto",
            &log_dir.path().join("moto.log"),
            Duration::from_secs(30),
            |port| {
                let mut command = Command::new("python3");
                command
                    .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                    .arg(port.to_string())
                    .env("PYTHONPATH", dir);
                if let Some((cert, key)) = tls {
                    command.arg("-c").arg(cert).arg("-k").arg(key);
                }
                command
            },
        );
        Moto {
            port: process.port,
            _process: process,
            tls: tls.is_some(),
            _log: log_dir,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// An unsigned request (plain HTTP only); the status and the body.
    pub(crate) fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        assert!(!self.tls, "set-up requests go over plain HTTP");
        http(self.port, method, path, body)
    }

    pub(crate) fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"), "");
        assert_eq!(status, 200, "create bucket: {body}");
    }

    /// The keys in `bucket`.
    pub(crate) fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{bucket}?list-type=2"), "");
        assert_eq!(status, 200, "list: {body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

/// One HTTP/1.1 exchange with a server on loopback.
pub(crate) fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
