//! Server processes the tests run on loopback (BuildGrid, buildbox-casd,
//! s3s-fs, moto, PostgreSQL, ...): started with their output in a log file,
//! waited for until their port answers, and killed by their own handle.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether something accepts connections on this loopback port.
pub(crate) fn listening(port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    TcpStream::connect_timeout(&addr.into(), Duration::from_millis(100)).is_ok()
}

/// A running server process, killed on drop.
pub(crate) struct ServerProcess {
    child: Option<Child>,
    pub(crate) port: u16,
}

impl ServerProcess {
    /// Runs the command `command` builds for a free port, its output in
    /// `log`, and waits up to `wait` for the port to answer. A server that
    /// exits or stays silent is tried again on another port (one taken in
    /// between); after five tries the test fails with the log.
    pub(crate) fn start(
        what: &str,
        log: &Path,
        wait: Duration,
        command: impl Fn(u16) -> Command,
    ) -> ServerProcess {
        // One start at a time: two servers racing for one free port would
        // both look it up before either binds.
        static STARTING: Mutex<()> = Mutex::new(());
        let _guard = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..5 {
            if let Some(server) = ServerProcess::try_on(free_port(), what, log, wait, &command) {
                return server;
            }
        }
        panic!(
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// Runs the server on `port`, where its clients expect it (a restart
    /// after a crash); the test fails if it does not answer within `wait`.
    pub(crate) fn start_on(
        port: u16,
        what: &str,
        log: &Path,
        wait: Duration,
        command: impl Fn(u16) -> Command,
    ) -> ServerProcess {
        ServerProcess::try_on(port, what, log, wait, &command).unwrap_or_else(|| {
            panic!(
                "{what} did not start on port {port}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
    }

    fn try_on(
        port: u16,
        what: &str,
        log: &Path,
        wait: Duration,
        command: &dyn Fn(u16) -> Command,
    ) -> Option<ServerProcess> {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut child = command(port)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} cannot start: {e}"));
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            if listening(port) {
                return Some(ServerProcess {
                    child: Some(child),
                    port,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Runs a process that serves no port (a worker), its output in `log`.
    pub(crate) fn spawn(what: &str, log: &Path, mut command: Command) -> ServerProcess {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} cannot start: {e}"));
        ServerProcess {
            child: Some(child),
            port: 0,
        }
    }

    /// Whether the process has exited.
    pub(crate) fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// Asks the server to stop with `signal` and waits up to `grace` for it
    /// (a server with children of its own reaps them), then kills it.
    pub(crate) fn stop(&mut self, signal: nix::sys::signal::Signal, grace: Duration) {
        if let Some(child) = self.child.as_mut() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
            if nix::sys::signal::kill(pid, signal).is_ok() {
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.kill();
    }

    /// Kills the server now (SIGKILL: no goodbye to its clients).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
