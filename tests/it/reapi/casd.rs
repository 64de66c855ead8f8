//! A real Execute endpoint on loopback: buildbox-casd, which runs each
//! action itself with buildbox-run under bubblewrap (`run-in-image` binds the
//! system's `/usr`, `/bin` and `/lib` read-only: the worker image). It also
//! serves the CAS and an action cache, so the `reapi` cache can share it.
//!
//! The tools come from the harness (`support::tools::buildbox_dir`).

use std::process::Command;
use std::time::Duration;

use crate::support::server::ServerProcess;
use crate::support::tools::buildbox_dir;

/// A running buildbox-casd, stopped on drop.
pub(crate) struct Casd {
    process: ServerProcess,
    _data: tempfile::TempDir,
}

impl Casd {
    pub(crate) fn start() -> Casd {
        let tools = buildbox_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let process = ServerProcess::start(
            "buildbox-casd",
            &data.path().join("casd.log"),
            Duration::from_secs(30),
            |port| {
                let mut command = Command::new(tools.join("buildbox-casd"));
                command
                    .arg(format!("--bind=127.0.0.1:{port}"))
                    .arg(format!(
                        "--buildbox-run={}",
                        tools.join("run-in-image").display()
                    ))
                    .arg(data.path().join("cas"));
                command
            },
        );
        Casd {
            process,
            _data: data,
        }
    }

    /// Where it keeps its CAS (every blob, in a file of its own).
    pub(crate) fn storage(&self) -> &std::path::Path {
        self._data.path()
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.process.port)
    }
}
