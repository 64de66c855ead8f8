//! What a run would do, without running: each runnable's hash, whether its
//! cache holds an entry for it, and (asked for) why it would run and what
//! went into its hash. Used by `--cache-status` and `--ls --json` /
//! `--ls --explain` / `--ls --json --inputs`; plain `--ls` never comes here.

use std::collections::BTreeMap;

use crate::cache::WorkDirs;
use crate::cache::{self, Lookup};
use crate::diagnostic::Diagnostic;
use crate::explain::{self, Reason};
use crate::ext::CacheBackend;
use crate::ext::runnable::Runnable;
use crate::graph::Graph;
use crate::hashing::{self, Hasher, Inputs, TrackedFiles};
use crate::model::Project;

/// What to work out.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Work out each runnable's [`Reason`] (reads the kept entries of misses).
    pub explain: bool,
    /// As `-f`: cached runnables would run anyway.
    pub force: bool,
    /// List what went into each hash ([`Listed`]).
    pub inputs: bool,
}

/// One runnable's plan.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    /// `None` when it is never cached.
    pub hash: Option<String>,
    /// Whether its cache holds an entry for `hash`; `None` when never cached.
    pub warm: Option<bool>,
    pub reason: Option<Reason>,
    /// With [`PlanOptions::inputs`], for a runnable that hashes.
    pub inputs: Option<Listed>,
}

/// What went into a runnable's hash, as `--ls --json --inputs` lists it.
#[derive(Clone, Debug, Default)]
pub struct Listed {
    /// Files with their git blob ids, distributions with their versions,
    /// and `definition_fields` filled. Constants are digests here (see
    /// [`const_digest`]): a constant may carry a context value, a token.
    pub inputs: Inputs,
    /// The runnables it depends on, whether selected or not, by name.
    pub upstream: Vec<UpstreamListed>,
}

/// An upstream runnable: its own hash, and the state of the artifacts that
/// are inputs of the downstream one.
#[derive(Clone, Debug)]
pub struct UpstreamListed {
    pub name: String,
    /// Its hash from its inputs as they are now, whether or not it ran;
    /// `None` when it is never cached or its inputs cannot be read yet.
    /// (A downstream hash covers the upstream's artifacts, not this.)
    pub hash: Option<String>,
    /// Each artifact path (a glob: each tracked file it selects) → its state.
    pub artifacts: BTreeMap<String, Artifact>,
}

/// An upstream artifact as the downstream hash sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// Its git blob id, as in the downstream's files.
    Digest(String),
    /// The file does not exist yet: it is left out of the hash, which
    /// changes once the upstream runnable writes it.
    NotBuilt,
    /// A glob that selects no tracked file: only tracked files count.
    NoTrackedFile,
}

/// How `--ls --json --inputs` shows a constant: the blake3 digest of its
/// value, so a context value in it (a token) is never printed, while two
/// machines can still compare them.
pub fn const_digest(value: &str) -> String {
    blake3::hash(value.as_bytes()).to_hex().to_string()
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
    let mut upstream_hashes = BTreeMap::new();
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
                        inputs: None,
                    },
                );
                continue;
            }
        };
        let hash = &hashed.hash;
        let listed = if options.inputs {
            let mut inputs = hashed.inputs()?;
            inputs.consts = inputs.consts.iter().map(|c| const_digest(c)).collect();
            let space = project.space_inputs(&runnable.space).unwrap_or_default();
            inputs.definition_fields = hashing::definition_parts(runnable, &space);
            let mut upstream = Vec::new();
            for up in project.upstream_of(runnable)? {
                upstream.push(UpstreamListed {
                    name: up.runnable.name.clone(),
                    hash: upstream_hash(project, &hasher, &up.runnable, &mut upstream_hashes),
                    artifacts: artifact_states(&files, &up.runnable.artifacts)?,
                });
            }
            upstream.sort_by(|a, b| a.name.cmp(&b.name));
            upstream.dedup_by(|a, b| a.name == b.name);
            Some(Listed { inputs, upstream })
        } else {
            None
        };
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
                inputs: listed,
            },
        );
    }
    let _ = files.save();
    Ok(Plan {
        runnables: planned,
        warnings,
    })
}

/// An upstream runnable's hash from its inputs as they are now (memoized by
/// name); `None` when it is never cached or cannot be hashed yet.
fn upstream_hash(
    project: &Project,
    hasher: &Hasher<'_>,
    runnable: &Runnable,
    known: &mut BTreeMap<String, Option<String>>,
) -> Option<String> {
    if let Some(hash) = known.get(&runnable.name) {
        return hash.clone();
    }
    let hash = match project.cache_backend(&runnable.cache) {
        CacheBackend::Never => None,
        _ => project
            .upstream_artifacts(runnable)
            .ok()
            .and_then(|artifacts| hasher.hash(runnable, &artifacts).ok())
            .map(|hashed| hashed.hash),
    };
    known.insert(runnable.name.clone(), hash.clone());
    hash
}

/// What an upstream runnable's artifacts are now, as a downstream hash
/// reads them: a path by its content whether or not git tracks it, a glob
/// by the tracked files it selects.
fn artifact_states(
    files: &TrackedFiles,
    artifacts: &[String],
) -> Result<BTreeMap<String, Artifact>, Diagnostic> {
    let mut states = BTreeMap::new();
    for artifact in artifacts {
        if hashing::is_literal_path(artifact) {
            let state = match files.untracked_digest(artifact)? {
                Some(digest) => Artifact::Digest(digest.id.to_string()),
                None => Artifact::NotBuilt,
            };
            states.insert(artifact.clone(), state);
            continue;
        }
        let matched = files.matching(std::slice::from_ref(artifact))?;
        if matched.is_empty() {
            states.insert(artifact.clone(), Artifact::NoTrackedFile);
        }
        for &file in matched.iter() {
            let state = match files.digest(file)? {
                Some(digest) => Artifact::Digest(digest.id.to_string()),
                None => Artifact::NotBuilt,
            };
            states.insert(files.path(file), state);
        }
    }
    Ok(states)
}
