//! A real Execute endpoint on loopback: buildbox-casd, which runs each
//! action itself with buildbox-run under bubblewrap (`run-in-image` binds the
//! system's `/usr`, `/bin` and `/lib` read-only: the worker image). It also
//! serves the CAS and an action cache, so the `reapi` cache can share it.
//!
//! The tools come from the harness (`support::tools::buildbox_dir`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::server::ServerProcess;
use crate::support::tools::buildbox_dir;

/// A running buildbox-casd, stopped on drop.
pub(crate) struct Casd {
    process: ServerProcess,
    data: tempfile::TempDir,
}

/// casd on `port`, serving the CAS in `data`.
fn command(data: &Path, port: u16) -> Command {
    let tools = buildbox_dir();
    let mut command = Command::new(tools.join("buildbox-casd"));
    command
        .arg(format!("--bind=127.0.0.1:{port}"))
        .arg(format!(
            "--buildbox-run={}",
            tools.join("run-in-image").display()
        ))
        .arg(data.join("cas"));
    command
}

const WAIT: Duration = Duration::from_secs(30);

impl Casd {
    pub(crate) fn start() -> Casd {
        let data = tempfile::tempdir().expect("temp dir");
        let process = ServerProcess::start(
            "buildbox-casd",
            &data.path().join("casd.log"),
            WAIT,
            |port| command(data.path(), port),
        );
        Casd { process, data }
    }

    /// Kills the server now (SIGKILL), as a crash would; the action it runs
    /// is orphaned.
    pub(crate) fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on its port, over the same storage.
    pub(crate) fn restart(&mut self) {
        self.process.kill();
        self.process = ServerProcess::start_on(
            self.process.port,
            "buildbox-casd",
            &self.data.path().join("casd.log"),
            WAIT,
            |port| command(self.data.path(), port),
        );
    }

    /// Where it keeps its CAS (every blob, in a file of its own).
    pub(crate) fn storage(&self) -> &Path {
        self.data.path()
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.process.port)
    }
}
