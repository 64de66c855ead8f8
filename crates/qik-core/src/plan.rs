//! What a run would do, without running: each runnable's hash, whether its
//! cache holds an entry for it, and (asked for) why it would run. Used by
//! `--cache-status` and `--ls --json` / `--ls --explain`; plain `--ls` never
//! comes here.

use std::collections::BTreeMap;

use crate::cache::WorkDirs;
use crate::cache::{self, Lookup};
use crate::diagnostic::Diagnostic;
use crate::explain::{self, Reason};
use crate::ext::CacheBackend;
use crate::graph::Graph;
use crate::hashing::{Hasher, TrackedFiles};
use crate::model::Project;

/// What to work out.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Work out each runnable's [`Reason`] (reads the kept entries of misses).
    pub explain: bool,
    /// As `-f`: cached runnables would run anyway.
    pub force: bool,
}

/// One runnable's plan.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    /// `None` when it is never cached.
    pub hash: Option<String>,
    /// Whether its cache holds an entry for `hash`; `None` when never cached.
    pub warm: Option<bool>,
    pub reason: Option<Reason>,
}

/// The plans of a selection.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Each runnable's plan, by name.
    pub runnables: BTreeMap<String, Planned>,
    /// What the caller should say once, as a run does: a speed-up file (the
    /// stat cache) that is damaged and was not used.
    pub warnings: Vec<String>,
}

/// Plans every runnable of `graph`, by name. Hashes use the files as they are
/// now: a runnable whose upstream would rewrite its artifacts may hash
/// differently once that upstream ran.
pub fn plan(project: &Project, graph: &Graph, options: &PlanOptions) -> Result<Plan, Diagnostic> {
    let dirs = WorkDirs {
        root: project.config.root.clone(),
    };
    let files = TrackedFiles::read(&dirs.root, dirs.stat_cache())?;
    let warnings = files.stat_cache_problem().into_iter().collect();
    let hasher = Hasher::new(project, &files);
    let runs_dir = dirs.runs_dir();
    let mut planned = BTreeMap::new();
    for runnable in graph.runnables() {
        let backend = project.cache_backend(&runnable.cache);
        let store = match &backend {
            CacheBackend::Never => {
                let reason = options.explain.then_some(Reason::NotCached);
                planned.insert(
                    runnable.name.clone(),
                    Planned {
                        reason,
                        ..Planned::default()
                    },
                );
                continue;
            }
            CacheBackend::Repo => dirs.repo_store(),
            CacheBackend::Local | CacheBackend::Remote(_) => dirs.local_store(),
        };
        let artifacts = project.upstream_artifacts(runnable)?;
        // Inputs that cannot be read yet (a venv not installed) mean a run.
        let hashed = match hasher.hash(runnable, &artifacts) {
            Ok(hashed) => hashed,
            Err(err) => {
                let reason = options.explain.then(|| Reason::Unreadable {
                    message: err.message.clone(),
                });
                planned.insert(
                    runnable.name.clone(),
                    Planned {
                        hash: None,
                        warm: Some(false),
                        reason,
                    },
                );
                continue;
            }
        };
        let hash = &hashed.hash;
        let holds = runnable
            .replay_check
            .as_ref()
            .is_none_or(|check| check.holds(&dirs.root));
        let local = match store.get(&runnable.command, &runnable.name, hash) {
            Lookup::Hit(entry) if holds => Some(entry),
            Lookup::Hit(_) | Lookup::Miss | Lookup::Corrupt(_) => None,
        };
        let mut remote_hit = false;
        if let (None, CacheBackend::Remote(remote)) = (&local, &backend) {
            let key = cache::EntryKey {
                command: &runnable.command,
                runnable: &runnable.name,
                hash,
            };
            // An unreachable remote is cold; the run itself reports why.
            remote_hit = remote.contains(&project.ctx, key).unwrap_or(false);
        }
        let warm = local.is_some() || remote_hit;
        let reason = options.explain.then(|| match (&local, remote_hit) {
            _ if options.force => Reason::Forced,
            (Some(entry), _) => explain::hit(runnable, entry),
            (None, true) => Reason::Remote {
                hash: hash.clone(),
                cache: runnable.cache.name().to_string(),
            },
            (None, false) => {
                let sources = explain::Sources {
                    project,
                    store: &store,
                    runs_dir: &runs_dir,
                };
                // Listing what was hashed cannot fail once hashing did.
                let inputs = hashed.inputs().ok();
                explain::miss(
                    &sources,
                    runnable,
                    inputs.as_ref().map(|i| (hash.as_str(), i)),
                    false,
                )
            }
        });
        planned.insert(
            runnable.name.clone(),
            Planned {
                hash: Some(hashed.hash.clone()),
                warm: Some(warm),
                reason,
            },
        );
    }
    let _ = files.save();
    Ok(Plan {
        runnables: planned,
        warnings,
    })
}
