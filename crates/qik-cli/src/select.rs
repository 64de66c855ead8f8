//! The graph one `qik` invocation selects, with the filters in the
//! reference's order: names, modules, spaces, tags and caches (qik-core's
//! `Selection`), then `--cache-status`, then `--since`, then `--shard`.

use qik_core::diagnostic::Diagnostic;
use qik_core::graph::Graph;
use qik_core::since;

use crate::args::CacheStatus;
use crate::output;
use crate::project::{self, Loaded};

pub(crate) fn graph(loaded: &Loaded) -> Result<Graph, Diagnostic> {
    let args = &loaded.args;
    let mut graph = Graph::select(&loaded.project, &loaded.selection)?;
    if let Some(status) = args.cache_status {
        let found = qik_core::run::cache_status(&loaded.project, &graph)?;
        for warning in found.warnings {
            output::print_diagnostic(&Diagnostic::warning(warning));
        }
        let want_warm = status == CacheStatus::Warm;
        graph.retain(|r| found.warm.get(&r.name) == Some(&want_warm));
    }
    if let Some(reference) = &args.since {
        // The configuration at the reference is built like the current one,
        // with the same flags, profile and environment.
        let build = |config| project::build_project(config, args).map(|(project, _)| project);
        let report = since::select(&loaded.project, &mut graph, reference, &build)?;
        for warning in &report.warnings {
            output::print_diagnostic(warning);
        }
    }
    if let Some(shard) = args.shard {
        qik_core::shard::select(&loaded.project, &mut graph, shard, args.isolated);
    }
    Ok(graph)
}
