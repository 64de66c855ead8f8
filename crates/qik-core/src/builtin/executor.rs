//! The built-in `local` executor: `sh -c` in its own process group, here.

use std::sync::Arc;

use linkme::distributed_slice;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::diagnostic::{Code, Diagnostic};
use crate::ext::executor::{Executor, Job};
use crate::ext::registry::{BUILTIN, EXECUTOR_TYPES, ExecutorType, schema_of};
use crate::runner::{ProcessResult, ProcessSpec, run_process};

/// The name and type of the executor every runnable uses unless told otherwise.
pub const LOCAL: &str = "local";

/// Runs commands on this machine.
#[derive(Debug, Default)]
pub struct Local;

/// `local` takes no keys besides `type`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LocalConfig {}

impl Executor for Local {
    fn execute(
        &self,
        job: &Job<'_>,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<ProcessResult, Diagnostic> {
        let spec = ProcessSpec {
            exec: job.exec,
            cwd: job.root,
            env: job.env,
            log_path: job.log_path,
        };
        run_process(&spec, job.interrupt, output).map_err(|err| {
            Diagnostic::error(Code::General, format!("cannot run `{}`: {err}", job.exec))
        })
    }
}

/// The executor runnables get when none is named.
pub fn local() -> Arc<dyn Executor> {
    Arc::new(Local)
}

#[distributed_slice(EXECUTOR_TYPES)]
static LOCAL_TYPE: ExecutorType = ExecutorType {
    tag: LOCAL,
    plugin: BUILTIN,
    parse: |_, node| {
        node.deserialize_without::<LocalConfig>("type")?;
        Ok(local())
    },
    schema: Some(schema_of::<LocalConfig>),
};
