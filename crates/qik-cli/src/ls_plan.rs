//! `qik --ls --json` and `qik --ls --explain`: the selection with what a run
//! would do. Unlike plain `--ls`, this hashes every runnable and looks at its
//! cache, so it reads files. `--inputs` adds what went into each hash.
//!
//! The JSON document is an interface for CI: its field names are stable
//! (see docs/ci.md); new fields may be added, none renamed or removed.

use std::io::{BufWriter, Write};

use qik_core::diagnostic::Diagnostic;
use qik_core::graph::Graph;
use qik_core::model::Project;
use std::collections::BTreeMap;

use qik_core::plan::{Artifact, Listed, PlanOptions, plan};
use serde::Serialize;

use crate::args::QikArgs;

/// Bumped only if a field changes meaning.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    runnables: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Item<'a> {
    name: &'a str,
    command: &'a str,
    exec: &'a str,
    space: &'a str,
    module: Option<&'a str>,
    cache: &'a str,
    tags: &'a [String],
    /// Runnables of this selection that must finish first.
    upstream: Vec<&'a str>,
    hash: Option<String>,
    /// `warm`, `cold`, or null when never cached.
    cache_status: Option<&'static str>,
    /// Null unless `--explain`.
    reason: Option<qik_core::explain::Reason>,
    /// Only with `--inputs`: what went into `hash`, null when nothing is
    /// hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Option<InputsItem>>,
}

/// `--inputs`: one runnable's inputs (docs/ci.md).
#[derive(Serialize)]
struct InputsItem {
    definition: String,
    definition_parts: BTreeMap<String, String>,
    files: BTreeMap<String, String>,
    /// blake3 digests of the values: a constant may carry a secret.
    consts: Vec<String>,
    pydists: BTreeMap<String, String>,
    upstream: Vec<UpstreamItem>,
}

#[derive(Serialize)]
struct UpstreamItem {
    name: String,
    hash: Option<String>,
    /// Path → git blob id, `not built` or `no tracked file`.
    artifacts: BTreeMap<String, String>,
}

impl From<Listed> for InputsItem {
    fn from(listed: Listed) -> InputsItem {
        let inputs = listed.inputs;
        InputsItem {
            definition: inputs.definition,
            definition_parts: inputs.definition_fields,
            files: inputs.files,
            consts: inputs.consts.into_iter().collect(),
            pydists: inputs.pydists,
            upstream: listed
                .upstream
                .into_iter()
                .map(|up| UpstreamItem {
                    name: up.name,
                    hash: up.hash,
                    artifacts: up
                        .artifacts
                        .into_iter()
                        .map(|(path, state)| {
                            let state = match state {
                                Artifact::Digest(id) => id,
                                Artifact::NotBuilt => "not built".to_string(),
                                Artifact::NoTrackedFile => "no tracked file".to_string(),
                            };
                            (path, state)
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

pub(crate) fn print(project: &Project, graph: &Graph, args: &QikArgs) -> Result<(), Diagnostic> {
    let options = PlanOptions {
        explain: args.explain,
        force: args.force,
        inputs: args.json && args.inputs,
    };
    let plan = plan(project, graph, &options)?;
    // Said as a run says it: before anything else, on stderr.
    for warning in plan.warnings {
        crate::output::print_diagnostic(&Diagnostic::warning(warning));
    }
    let mut planned = plan.runnables;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        let runnables = graph
            .runnables()
            .map(|r| {
                let p = planned.remove(&r.name).unwrap_or_default();
                Item {
                    name: &r.name,
                    command: &r.command,
                    exec: &r.exec,
                    space: &r.space,
                    module: r.module.as_deref(),
                    cache: r.cache.name(),
                    tags: &r.tags,
                    upstream: graph.upstream(&r.name).collect(),
                    hash: p.hash,
                    cache_status: p.warm.map(|w| if w { "warm" } else { "cold" }),
                    reason: p.reason,
                    inputs: args.inputs.then(|| p.inputs.map(InputsItem::from)),
                }
            })
            .collect();
        let document = Document {
            version: FORMAT_VERSION,
            runnables,
        };
        // A closed pipe is a normal way to stop reading.
        if serde_json::to_writer_pretty(&mut out, &document).is_ok() {
            let _ = writeln!(out);
        }
    } else {
        for runnable in graph.runnables() {
            let reason = planned.remove(&runnable.name).and_then(|p| p.reason);
            let mut text = runnable.name.clone();
            for line in reason.iter().flat_map(crate::explain::lines) {
                text.push_str("\n    ");
                text.push_str(&line);
            }
            if writeln!(out, "{text}").is_err() {
                return Ok(());
            }
        }
    }
    let _ = out.flush();
    Ok(())
}
