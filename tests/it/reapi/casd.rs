//! A real Execute endpoint on loopback: buildbox-casd, which runs each
//! action itself with buildbox-run under bubblewrap (`run-in-image` binds the
//! system's `/usr`, `/bin` and `/lib` read-only: the worker image). It also
//! serves the CAS and an action cache, so the `reapi` cache can share it.
//!
//! The tools come from the harness (`support::tools::buildbox_dir`).

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::server::free_port;
use crate::support::tools::buildbox_dir;

/// A running buildbox-casd, stopped on drop.
pub(crate) struct Casd {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Casd {
    pub(crate) fn start() -> Casd {
        static STARTING: Mutex<()> = Mutex::new(());
        let tools = buildbox_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let log = data.path().join("casd.log");
        let _guard = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..5 {
            let port = free_port();
            let log_file = std::fs::File::create(&log).expect("log file");
            let mut child = Command::new(tools.join("buildbox-casd"))
                .arg(format!("--bind=127.0.0.1:{port}"))
                .arg(format!(
                    "--buildbox-run={}",
                    tools.join("run-in-image").display()
                ))
                .arg(data.path().join("cas"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log file"))
                .stderr(log_file)
                .spawn()
                .expect("buildbox-casd starts");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
                if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(100)).is_ok() {
                    return Casd {
                        child,
                        port,
                        _data: data,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "buildbox-casd did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }
}

impl Drop for Casd {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
