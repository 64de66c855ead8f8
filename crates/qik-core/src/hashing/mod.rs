//! A runnable's hash: its definition, the content of every git-tracked file its
//! globs match, its constants and the versions of its Python distributions,
//! combined with blake3 over a stable, ordered encoding.
//!
//! The inputs that made a hash are kept beside it ([`Inputs`]), so a cache
//! entry can later say what changed between two runs.

mod files;
mod pydist;
mod stat_cache;

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::deps::LoadDep;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{Project, Runnable};

pub use files::{FileDigest, TrackedFiles};
pub use pydist::{Installed, normalize as normalize_pydist, venv_site_packages};
pub(crate) use stat_cache::Stamp;

/// Bumped whenever the encoding below changes, so old entries simply miss.
const HASH_VERSION: &str = "qik-hash-1";

/// What went into a hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Digest of the runnable's definition (exec, deps, artifacts, space...).
    pub definition: String,
    /// Path (relative to the project root) → git blob id.
    pub files: BTreeMap<String, String>,
    pub consts: BTreeSet<String>,
    /// Distribution → version.
    pub pydists: BTreeMap<String, String>,
    /// A digest per part of the definition (`exec`, `deps`, ...), so
    /// `--explain` can name the part that changed. Not hashed; written with
    /// entries only, and absent from entries of older versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub definition_fields: BTreeMap<String, String>,
}

/// Serialized deps written by a command (`{type = "load"}` reads them).
#[derive(Debug, Default, Deserialize)]
struct LoadedDeps {
    #[serde(default)]
    globs: Vec<String>,
    #[serde(default)]
    pydists: Vec<String>,
    /// Why each glob is there (for `--explain`), when the writer says.
    #[serde(default)]
    why: BTreeMap<String, String>,
}

/// The globs and distributions that a runnable's `load` deps add: each
/// file's serialized deps, or the dep's default globs while the file does not
/// exist.
pub fn loaded_deps(project: &Project, runnable: &Runnable) -> Result<Loaded, Diagnostic> {
    let mut out = Loaded::default();
    for load in &runnable.deps.loads {
        let one = load_file(project, load)?;
        out.globs.extend(one.globs);
        out.pydists.extend(one.pydists);
    }
    Ok(out)
}

/// What one `load` dep adds (see [`loaded_deps`]).
pub fn load_file(project: &Project, load: &LoadDep) -> Result<Loaded, Diagnostic> {
    let path = project.config.root.join(&load.path);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let loaded: LoadedDeps = serde_json::from_slice(&bytes).map_err(|err| {
                Diagnostic::error(
                    Code::ConfigParse,
                    format!("{} is not a deps file: {err}", load.path),
                )
                .with_hint("the command that writes it may have been interrupted; run it again")
            })?;
            Ok(Loaded {
                globs: loaded.globs,
                pydists: loaded.pydists,
                why: loaded.why,
            })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Loaded {
            globs: load.default.clone(),
            ..Loaded::default()
        }),
        Err(err) => Err(Diagnostic::error(
            Code::ConfigParse,
            format!("cannot read {}: {err}", load.path),
        )),
    }
}

/// What [`loaded_deps`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub globs: Vec<String>,
    pub pydists: Vec<String>,
    /// Why each glob is there, when the deps file says.
    pub why: BTreeMap<String, String>,
}

/// Computes hashes of runnables against one read of the git index.
pub struct Hasher<'a> {
    project: &'a Project,
    files: &'a TrackedFiles,
    /// Distributions installed per space, read on first use: a uv venv is
    /// only there once its install runnable finished.
    installed: Mutex<HashMap<String, Arc<Result<Installed, Diagnostic>>>>,
}

impl<'a> Hasher<'a> {
    pub fn new(project: &'a Project, files: &'a TrackedFiles) -> Hasher<'a> {
        Hasher {
            project,
            files,
            installed: Mutex::new(HashMap::new()),
        }
    }

    /// The tracked files of the project, as read for this run.
    pub fn files(&self) -> &'a TrackedFiles {
        self.files
    }

    /// The hash of a runnable and the inputs that made it. `upstream_artifacts`
    /// are the artifact globs of the runnables it depends on.
    pub fn hash(
        &self,
        runnable: &Runnable,
        upstream_artifacts: &[String],
    ) -> Result<(String, Inputs), Diagnostic> {
        let loaded = loaded_deps(self.project, runnable)?;
        // Mostly sorted runs already (a deps file can hold hundreds): a
        // vector sorted once, not a tree built insert by insert.
        let mut globs: Vec<String> = runnable.deps.globs.iter().cloned().collect();
        globs.extend(upstream_artifacts.iter().cloned());
        globs.extend(loaded.globs);
        globs.sort_unstable();
        globs.dedup();
        let mut pydists: BTreeSet<String> = runnable.deps.pydists.clone();
        pydists.extend(loaded.pydists);

        let mut inputs = Inputs {
            definition: definition_digest(runnable),
            consts: runnable.deps.consts.clone(),
            ..Inputs::default()
        };
        let mut files: Vec<(String, String)> = Vec::new();
        if !globs.is_empty() {
            let matched = self.files.matching(&globs)?;
            files.reserve(matched.len());
            for &file in matched.iter() {
                if let Some(digest) = self.files.digest(file)? {
                    files.push((digest.path, digest.id));
                }
            }
        }
        // An upstream artifact named by its path is an output, usually not
        // tracked by git: its content counts all the same (a pygraph lock
        // re-runs when the graph it reads changes, an install when its lock
        // file does).
        for artifact in upstream_artifacts {
            if is_literal_path(artifact) && !self.files.is_tracked(artifact) {
                if let Some(digest) = self.files.untracked_digest(artifact)? {
                    files.push((digest.path, digest.id));
                }
            }
        }
        // Built in one pass from (nearly) sorted pairs, not by thousands of
        // inserts: an import closure can hold that many files.
        inputs.files = files.into_iter().collect();
        for name in &pydists {
            if let Some(version) = self.pydist_version(&runnable.space, name)? {
                inputs.pydists.insert(normalize_pydist(name), version);
            }
        }
        Ok((digest_inputs(&inputs), inputs))
    }

    /// The distributions a space's commands see: its venv's, or the active
    /// environment's.
    pub fn installed(&self, space: &str) -> Arc<Result<Installed, Diagnostic>> {
        let mut known = self.installed.lock().expect("not poisoned");
        if let Some(found) = known.get(space) {
            return Arc::clone(found);
        }
        let read = Arc::new(self.project.installed(space));
        known.insert(space.to_string(), Arc::clone(&read));
        read
    }

    /// A distribution's version: installed, else `[pydist] versions`, else
    /// nothing when `ignore-missing`, else an error.
    fn pydist_version(&self, space: &str, name: &str) -> Result<Option<String>, Diagnostic> {
        let installed = self.installed(space);
        let installed = installed.as_ref().as_ref().map_err(Clone::clone)?;
        if let Some(version) = installed.version(name) {
            return Ok(Some(version.to_string()));
        }
        let pydist = &self.project.config.pydist;
        let wanted = normalize_pydist(name);
        if let Some((_, version)) = pydist
            .versions
            .iter()
            .find(|(k, _)| normalize_pydist(k) == wanted)
        {
            return Ok(Some(version.clone()));
        }
        if pydist.ignore_missing {
            return Ok(None);
        }
        let searched = installed
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Err(Diagnostic::error(Code::DistributionNotFound, format!("distribution \"{name}\" not found"))
            .with_hint(format!(
                "install it (searched: {searched}), or set its version under [pydist.versions], or set [pydist] ignore-missing = true"
            )))
    }
}

/// A pattern that names one file: no glob characters, no pathspec magic.
fn is_literal_path(pattern: &str) -> bool {
    !pattern.is_empty()
        && !pattern.starts_with(':')
        && !pattern.ends_with('/')
        && !pattern.contains(['*', '?', '[', '\\'])
}

/// Length-prefixed fields: no two different field lists encode the same bytes.
/// Encoded into a buffer hashed once: blake3's per-`update` overhead dwarfs
/// fields this small.
fn field(encoded: &mut Vec<u8>, value: &str) {
    encoded.extend_from_slice(&(value.len() as u64).to_le_bytes());
    encoded.extend_from_slice(value.as_bytes());
}

fn digest_hex(encoded: &[u8]) -> String {
    blake3::hash(encoded).to_hex().to_string()
}

/// Everything about a runnable's definition that should re-run it when
/// changed. Cache settings (`cache`, `cache-when`), tags and `hidden` are left
/// out: they do not change what the command does.
pub fn definition_digest(runnable: &Runnable) -> String {
    let mut h = Vec::with_capacity(512);
    field(&mut h, HASH_VERSION);
    field(&mut h, &runnable.command);
    field(&mut h, &runnable.exec);
    field(&mut h, &runnable.space);
    field(&mut h, runnable.module.as_deref().unwrap_or(""));
    let deps = &runnable.deps;
    for (tag, items) in [
        ("glob", &deps.globs),
        ("const", &deps.consts),
        ("pydist", &deps.pydists),
    ] {
        field(&mut h, tag);
        field(&mut h, &items.len().to_string());
        items.iter().for_each(|item| field(&mut h, item));
    }
    field(&mut h, "load");
    for load in &deps.loads {
        field(&mut h, &load.path);
        load.default.iter().for_each(|glob| field(&mut h, glob));
    }
    field(&mut h, "command");
    let mut commands: Vec<_> = deps
        .commands
        .iter()
        .map(|c| format!("{}?{:?}", c.name, c.args))
        .collect();
    commands.sort();
    commands.iter().for_each(|c| field(&mut h, c));
    field(&mut h, "artifacts");
    runnable.artifacts.iter().for_each(|a| field(&mut h, a));
    // Parts only plugin runnables set; written only when set, so the
    // digests of qik.toml commands stay as they were.
    if !runnable.args.is_empty() || !runnable.env.is_empty() {
        field(&mut h, "args");
        for (key, value) in &runnable.args {
            field(&mut h, key);
            field(&mut h, value);
        }
        field(&mut h, "env");
        let mut env = runnable.env.clone();
        env.sort();
        for (key, value) in &env {
            field(&mut h, key);
            field(&mut h, value);
        }
    }
    if !runnable.in_space_env {
        field(&mut h, "outside-space-env");
    }
    if runnable.native.is_some() {
        field(&mut h, "native");
    }
    digest_hex(&h)
}

fn digest_inputs(inputs: &Inputs) -> String {
    let mut h = Vec::with_capacity(256 + 128 * inputs.files.len());
    field(&mut h, HASH_VERSION);
    field(&mut h, &inputs.definition);
    field(&mut h, &inputs.files.len().to_string());
    for (path, id) in &inputs.files {
        field(&mut h, path);
        field(&mut h, id);
    }
    field(&mut h, &inputs.consts.len().to_string());
    inputs.consts.iter().for_each(|c| field(&mut h, c));
    field(&mut h, &inputs.pydists.len().to_string());
    for (name, version) in &inputs.pydists {
        field(&mut h, name);
        field(&mut h, version);
    }
    digest_hex(&h)
}
