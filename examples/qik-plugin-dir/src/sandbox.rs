//! The `sandbox` executor: each command runs in a fresh directory that
//! holds only the files its hash covers, and only its declared artifacts
//! come back. It has the shape of a remote executor (ship the inputs, run,
//! fetch the outputs) without leaving the machine, so a command that reads
//! an undeclared file fails here as it would on a build farm.
//!
//! Artifacts are taken as literal paths; a real remote executor would expand
//! globs on the far side.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use qik_core::diagnostic::{Code, Diagnostic};
use qik_core::ext::{EXECUTOR_TYPES, Executor, ExecutorType, Job};
use qik_core::linkme::distributed_slice;
use qik_core::runner::ProcessResult;
use schemars::JsonSchema;
use serde::Deserialize;

/// `[executors.<name>] type = "sandbox"`: no other keys.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SandboxConf {}

#[derive(Debug)]
struct Sandbox;

fn failed(what: &str, err: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(Code::General, format!("sandbox: {what}: {err}"))
}

/// Copies `relative` from `from` to `to`, directories included.
fn copy(from: &Path, to: &Path, relative: &str) -> std::io::Result<()> {
    let target = to.join(relative);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from.join(relative), target).map(|_| ())
}

impl Executor for Sandbox {
    fn execute(
        &self,
        job: &Job<'_>,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<ProcessResult, Diagnostic> {
        let started = Instant::now();
        let sandbox = tempfile::tempdir().map_err(|err| failed("no temp dir", err))?;
        for file in job.inputs.files()? {
            // A tracked file that is deleted hashes as absent: it stays absent.
            if job.root.join(&file).is_file() {
                copy(job.root, sandbox.path(), &file)
                    .map_err(|err| failed(&format!("cannot ship {file}"), err))?;
            }
        }
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec 2>&1; {}", job.exec))
            .current_dir(sandbox.path())
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| failed("cannot start sh", err))?;
        let mut log = std::fs::File::create(job.log_path)
            .map_err(|err| failed("cannot write the log", err))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        for line in BufReader::new(stdout).split(b'\n') {
            let line = line.map_err(|err| failed("cannot read the output", err))?;
            log.write_all(&line)
                .and_then(|()| log.write_all(b"\n"))
                .map_err(|err| failed("cannot write the log", err))?;
            output(&line);
        }
        let status = child
            .wait()
            .map_err(|err| failed("lost the command", err))?;
        let code = status.code().unwrap_or(128);
        for artifact in job.artifacts {
            if sandbox.path().join(artifact).is_file() {
                copy(sandbox.path(), job.root, artifact)
                    .map_err(|err| failed(&format!("cannot fetch {artifact}"), err))?;
            }
        }
        Ok(ProcessResult {
            code,
            interrupted: false,
            elapsed: started.elapsed(),
        })
    }
}

#[distributed_slice(EXECUTOR_TYPES)]
static SANDBOX: ExecutorType = ExecutorType {
    tag: "sandbox",
    plugin: crate::ID,
    parse: |_name, node| {
        node.deserialize_without::<SandboxConf>("type")?;
        Ok(Arc::new(Sandbox))
    },
    schema: Some(qik_core::ext::schema_of::<SandboxConf>),
};
