//! A runnable's hash: its definition, the content of every git-tracked file its
//! globs match, its constants and the versions of its Python distributions,
//! combined with blake3 over a stable, ordered encoding ([`key`]).
//!
//! The inputs that made a hash are kept beside it ([`Inputs`]), so a cache
//! entry can later say what changed between two runs.

pub(crate) mod encode;
pub(crate) mod files;
pub(crate) mod inputs;
mod key;
pub(crate) mod pydist;
pub(crate) mod stat_cache;

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::diagnostic::{Code, Diagnostic};
use crate::ext::depset::LoadDep;
use crate::ext::runnable::Runnable;
use crate::model::{Project, SpaceInputs};

pub use files::{FileDigest, SelectionDigest, TrackedFiles};
pub use inputs::Inputs;
pub(crate) use key::KEY_VERSION_PART;
pub use pydist::{Installed, normalize as normalize_pydist, venv_site_packages};

use key::{Encoder, KEY_VERSION};

/// What hashing reads of a deps file: `why` is only for `--explain`, and a
/// lock's explanations can outweigh its globs.
#[derive(Debug, Default, Deserialize)]
struct LoadedGlobs {
    #[serde(default)]
    globs: Vec<String>,
    #[serde(default)]
    pydists: Vec<String>,
}

/// [`LoadedGlobs`] borrowed from the file's bytes: a lock lists hundreds
/// of globs and every runnable's hash reads its locks on every run, so no
/// glob is copied until the hash keeps it.
#[derive(Debug, Default, Deserialize)]
struct BorrowedGlobs<'a> {
    #[serde(default, borrow)]
    globs: Vec<Text<'a>>,
    #[serde(default, borrow)]
    pydists: Vec<Text<'a>>,
}

/// A JSON string borrowed from the input when it has no escapes (serde's
/// own `Cow<str>` always copies inside a sequence).
#[derive(Debug)]
struct Text<'a>(std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(text.into()))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text(text.to_owned().into()))
            }
            fn visit_string<E>(self, text: String) -> Result<Text<'a>, E> {
                Ok(Text(text.into()))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

/// The bytes of each of a runnable's `load` deps files (`None`: absent).
fn read_load_files(
    project: &Project,
    runnable: &Runnable,
) -> Result<Vec<Option<Vec<u8>>>, Diagnostic> {
    runnable
        .deps
        .loads
        .iter()
        .map(|load| read_deps_bytes(project, load))
        .collect()
}

/// What [`read_load_files`] read, parsed: the globs and distributions the
/// `load` deps add (each dep's default globs while its file is absent).
fn borrowed_globs<'a>(
    runnable: &'a Runnable,
    files: &'a [Option<Vec<u8>>],
) -> Result<BorrowedGlobs<'a>, Diagnostic> {
    let mut out = BorrowedGlobs::default();
    for (load, bytes) in runnable.deps.loads.iter().zip(files) {
        match bytes {
            Some(bytes) => {
                let one: BorrowedGlobs<'a> = parse_deps_file(load, bytes)?;
                out.globs.extend(one.globs);
                out.pydists.extend(one.pydists);
            }
            None => out
                .globs
                .extend(load.default.iter().map(|g| Text(g.as_str().into()))),
        }
    }
    Ok(out)
}

/// The globs and distributions that a runnable's `load` deps add (see
/// [`load_file`]).
fn loaded_globs(project: &Project, runnable: &Runnable) -> Result<LoadedGlobs, Diagnostic> {
    let mut out = LoadedGlobs::default();
    for load in &runnable.deps.loads {
        let one: LoadedGlobs = match read_deps_file(project, load)? {
            Some(one) => one,
            None => LoadedGlobs {
                globs: load.default.clone(),
                pydists: Vec::new(),
            },
        };
        out.globs.extend(one.globs);
        out.pydists.extend(one.pydists);
    }
    Ok(out)
}

/// A deps file, or `None` while it does not exist.
fn read_deps_file<T: serde::de::DeserializeOwned>(
    project: &Project,
    load: &LoadDep,
) -> Result<Option<T>, Diagnostic> {
    match read_deps_bytes(project, load)? {
        Some(bytes) => parse_deps_file(load, &bytes).map(Some),
        None => Ok(None),
    }
}

fn parse_deps_file<'a, T: serde::Deserialize<'a>>(
    load: &LoadDep,
    bytes: &'a [u8],
) -> Result<T, Diagnostic> {
    serde_json::from_slice(bytes).map_err(|err| {
        Diagnostic::error(
            Code::ConfigParse,
            format!("{} is not a deps file: {err}", load.path),
        )
        .with_hint("the command that writes it may have been interrupted; run it again")
    })
}

/// A deps file's bytes, or `None` while it does not exist.
fn read_deps_bytes(project: &Project, load: &LoadDep) -> Result<Option<Vec<u8>>, Diagnostic> {
    let path = project.config.root.join(&load.path);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Diagnostic::error(
            Code::ConfigParse,
            format!("cannot read {}: {err}", load.path),
        )),
    }
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
    why: Option<Why>,
}

/// A deps file's explanations: inline, or the path (relative to the project
/// root) of a JSON file holding them. A large lock keeps them aside, so
/// hashing, which reads every deps file on every run, does not wade through
/// them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Why {
    Inline(BTreeMap<String, String>),
    File(String),
}

/// The globs and distributions that a runnable's `load` deps add: each
/// file's serialized deps, or the dep's default globs while the file does not
/// exist. Explanations are left out.
pub fn loaded_deps(project: &Project, runnable: &Runnable) -> Result<Loaded, Diagnostic> {
    let found = loaded_globs(project, runnable)?;
    Ok(Loaded {
        globs: found.globs,
        pydists: found.pydists,
        why: BTreeMap::new(),
    })
}

/// What one `load` dep adds (see [`loaded_deps`]).
pub fn load_file(project: &Project, load: &LoadDep) -> Result<Loaded, Diagnostic> {
    Ok(match read_deps_file::<LoadedDeps>(project, load)? {
        Some(loaded) => Loaded {
            globs: loaded.globs,
            pydists: loaded.pydists,
            why: match loaded.why {
                None => BTreeMap::new(),
                Some(Why::Inline(why)) => why,
                Some(Why::File(path)) => read_why_file(project, &path)?,
            },
        },
        None => Loaded {
            globs: load.default.clone(),
            ..Loaded::default()
        },
    })
}

fn read_why_file(project: &Project, path: &str) -> Result<BTreeMap<String, String>, Diagnostic> {
    let bytes = std::fs::read(project.config.root.join(path)).map_err(|err| {
        Diagnostic::error(Code::ConfigParse, format!("cannot read {path}: {err}"))
            .with_hint("the command that writes the deps file writes it too; run it again")
    })?;
    serde_json::from_slice(&bytes).map_err(|err| {
        Diagnostic::error(
            Code::ConfigParse,
            format!("{path} does not map globs to explanations: {err}"),
        )
    })
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
    /// What each space's lock pins, read only when a distribution is not
    /// installed.
    locked: Mutex<HashMap<String, Arc<LockedVersions>>>,
    /// Upstream artifacts named by their path, digested once per run: the
    /// runnable that writes one has finished before anything hashes it,
    /// and the many runnables of a space share their venv's lock.
    artifacts: Mutex<HashMap<String, Option<FileDigest>>>,
}

type LockedVersions = Result<Option<BTreeMap<String, String>>, Diagnostic>;

impl<'a> Hasher<'a> {
    pub fn new(project: &'a Project, files: &'a TrackedFiles) -> Hasher<'a> {
        Hasher {
            project,
            files,
            installed: Mutex::new(HashMap::new()),
            locked: Mutex::new(HashMap::new()),
            artifacts: Mutex::new(HashMap::new()),
        }
    }

    /// The tracked files of the project, as read for this run.
    pub fn files(&self) -> &'a TrackedFiles {
        self.files
    }

    /// The hash of a runnable and what made it. `upstream_artifacts` are
    /// the artifact globs of the runnables it depends on.
    pub fn hash(
        &self,
        runnable: &Runnable,
        upstream_artifacts: &[String],
    ) -> Result<Hashed<'a>, Diagnostic> {
        let load_files = read_load_files(self.project, runnable)?;
        let loaded = borrowed_globs(runnable, &load_files)?;
        // An upstream artifact named by its path is an output: its content
        // counts, whether or not git tracks it (a pygraph lock re-runs when
        // the graph it reads changes, an install when its lock file does;
        // a lock the repo cache adds to git hashes as it did before).
        let (literal, patterns): (Vec<&str>, Vec<&str>) = upstream_artifacts
            .iter()
            .map(String::as_str)
            .partition(|artifact| is_literal_path(artifact));
        let mut untracked = Vec::new();
        for artifact in &literal {
            if let Some(digest) = self.artifact_digest(artifact)? {
                untracked.push(digest);
            }
        }
        // An upstream artifact named by a pattern counts by content the same
        // way: what it matches on disk now (the upstream runnable has
        // finished), tracked or not. Not remembered across calls: the walk
        // is of the pattern's literal directory only, and each file's id is
        // cached by its stat data.
        if !patterns.is_empty() {
            let owned: Vec<String> = patterns.iter().map(|p| (*p).to_string()).collect();
            let found = crate::cache::artifacts::find(&self.project.config.root, &owned).map_err(
                |err| {
                    Diagnostic::error(
                        Code::ConfigParse,
                        format!("upstream artifact patterns of {}: {err}", runnable.name),
                    )
                },
            )?;
            for path in found {
                if let Some(digest) = self.files.untracked_digest(&path)? {
                    untracked.push(digest);
                }
            }
        }
        untracked.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        untracked.dedup_by(|a, b| a.path == b.path);
        // Mostly sorted runs already (a deps file can hold hundreds): a
        // vector sorted once, not a tree built insert by insert.
        let mut globs: Vec<&str> = runnable.deps.globs.iter().map(String::as_str).collect();
        globs.extend(loaded.globs.iter().map(|g| g.0.as_ref()));
        if !upstream_artifacts.is_empty() {
            globs.retain(|glob| !literal.contains(glob) && !patterns.contains(glob));
        }
        // Stable sort: it merges the sorted runs a lock's list already is,
        // where the unstable one compared every glob again.
        globs.sort();
        globs.dedup();
        let mut pydists: BTreeSet<&str> =
            runnable.deps.pydists.iter().map(String::as_str).collect();
        pydists.extend(loaded.pydists.iter().map(|p| p.0.as_ref()));

        let globs: Vec<String> = globs.into_iter().map(str::to_string).collect();
        let mut versions = BTreeMap::new();
        for name in pydists {
            if let Some(version) = self.pydist_version(&runnable.space, name)? {
                versions.insert(normalize_pydist(name), version);
            }
        }
        Hashed::new(
            self.files,
            definition_digest(runnable),
            globs,
            untracked,
            runnable.deps.consts.clone(),
            versions,
        )
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

    fn artifact_digest(&self, path: &str) -> Result<Option<FileDigest>, Diagnostic> {
        if let Some(known) = self.artifacts.lock().expect("not poisoned").get(path) {
            return Ok(known.clone());
        }
        let digest = self.files.untracked_digest(path)?;
        self.artifacts
            .lock()
            .expect("not poisoned")
            .insert(path.to_string(), digest.clone());
        Ok(digest)
    }

    fn locked(&self, space: &str) -> Arc<LockedVersions> {
        let mut known = self.locked.lock().expect("not poisoned");
        if let Some(found) = known.get(space) {
            return Arc::clone(found);
        }
        let read = Arc::new(self.project.locked_versions(space));
        known.insert(space.to_string(), Arc::clone(&read));
        read
    }

    /// A distribution's version: installed, else pinned by the venv's lock,
    /// else `[pydist] versions`, else nothing when `ignore-missing`, else an
    /// error.
    fn pydist_version(&self, space: &str, name: &str) -> Result<Option<String>, Diagnostic> {
        let installed = self.installed(space);
        let installed = installed.as_ref().as_ref().map_err(Clone::clone)?;
        if let Some(version) = installed.version(name) {
            return Ok(Some(version.to_string()));
        }
        let wanted = normalize_pydist(name);
        let locked = self.locked(space);
        if let Some(version) = locked
            .as_ref()
            .as_ref()
            .map_err(Clone::clone)?
            .as_ref()
            .and_then(|versions| versions.get(&wanted))
        {
            return Ok(Some(version.clone()));
        }
        let pydist = &self.project.config.pydist;
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
        if installed.without_venv {
            return Err(Diagnostic::error(
                Code::DistributionNotFound,
                format!("distribution \"{name}\" not found, and no venv is active"),
            )
            .with_hint(format!(
                "space `{space}` has no venv and VIRTUAL_ENV is not set, so qik looked in the site-packages \
                 of the python3 on PATH ({searched}); give the space a venv \
                 (`[spaces.{space}] venv = \"requirements.txt\"`) or activate one, \
                 or set its version under [pydist.versions], or set [pydist] ignore-missing = true"
            )));
        }
        Err(Diagnostic::error(Code::DistributionNotFound, format!("distribution \"{name}\" not found"))
            .with_hint(format!(
                "install it (searched: {searched}), or set its version under [pydist.versions], or set [pydist] ignore-missing = true"
            )))
    }
}

/// A pattern that names one file: no glob characters, no pathspec magic.
pub(crate) fn is_literal_path(pattern: &str) -> bool {
    !pattern.is_empty()
        && !pattern.starts_with(':')
        && !pattern.ends_with('/')
        && !pattern.contains(['*', '?', '[', '\\'])
}

/// Everything about a runnable's definition that should re-run it when
/// changed, as a hex digest. Cache settings (`cache`, `cache-when`), tags and
/// `hidden` are left out: they do not change what the command does.
pub fn definition_digest(runnable: &Runnable) -> String {
    key::definition(runnable)
}

/// A digest per part of a runnable's definition, written with each cache
/// entry so `--explain` can name the part that changed (see
/// [`key::definition_parts`]).
pub fn definition_parts(runnable: &Runnable, space: &SpaceInputs) -> BTreeMap<String, String> {
    key::definition_parts(runnable, space)
}

/// A runnable's hash, and what made it.
pub struct Hashed<'a> {
    pub hash: String,
    files: &'a TrackedFiles,
    definition: String,
    /// Sorted, unique: the runnable's own globs, its upstream artifacts and
    /// what its deps files list.
    globs: Vec<String>,
    /// What the globs select ([`TrackedFiles::selection_digests`]). The
    /// files themselves are only listed for cache entries and `--explain`:
    /// a hash mostly only meets a cache entry's, and listing the thousands
    /// of files of an import closure per runnable would cost more than
    /// everything else a cached run does.
    selections: Vec<SelectionDigest>,
    /// Upstream artifacts named by their path, hashed by content whether
    /// or not git tracks them, sorted by path.
    untracked: Vec<FileDigest>,
    consts: BTreeSet<String>,
    pydists: BTreeMap<String, String>,
}

impl std::fmt::Debug for Hashed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashed")
            .field("hash", &self.hash)
            .field("globs", &self.globs.len())
            .finish()
    }
}

impl<'a> Hashed<'a> {
    /// Hashes sorted, unique `globs` (as selected from `files`) and sorted,
    /// unique `untracked` files with the rest.
    fn new(
        files: &'a TrackedFiles,
        definition: String,
        globs: Vec<String>,
        untracked: Vec<FileDigest>,
        consts: BTreeSet<String>,
        pydists: BTreeMap<String, String>,
    ) -> Result<Hashed<'a>, Diagnostic> {
        let selections = if globs.is_empty() {
            Vec::new()
        } else {
            files.selection_digests(&globs)?
        };
        let mut hashed = Hashed {
            hash: String::new(),
            files,
            definition,
            globs,
            selections,
            untracked,
            consts,
            pydists,
        };
        hashed.hash = hashed.digest();
        Ok(hashed)
    }

    /// What went into the hash, file by file: for cache entries and
    /// `--explain`.
    pub fn inputs(&self) -> Result<Inputs, Diagnostic> {
        let matched = if self.globs.is_empty() {
            Default::default()
        } else {
            self.files.matching(&self.globs)?
        };
        let tracked = matched
            .iter()
            .filter_map(|&file| self.files.known_digest(file))
            .map(|d| (d.path.as_str(), d.id.as_str()));
        let untracked = self
            .untracked
            .iter()
            .map(|d| (d.path.as_str(), d.id.as_str()));
        Ok(Inputs {
            definition: self.definition.clone(),
            files: tracked
                .chain(untracked)
                .map(|(path, id)| (path.to_string(), id.to_string()))
                .collect(),
            consts: self.consts.clone(),
            pydists: self.pydists.clone(),
            definition_fields: BTreeMap::new(),
        })
    }

    fn digest(&self) -> String {
        let mut e = Encoder::with_capacity(
            512 + self.globs.iter().map(|g| g.len() + 48).sum::<usize>()
                + 96 * self.untracked.len(),
        );
        e.str(KEY_VERSION).str(&self.definition).strs(&self.globs);
        // One per glob, or one for a set with exclusions: the count tells.
        e.count(self.selections.len());
        self.selections.iter().for_each(|d| _ = e.digest(d));
        e.count(self.untracked.len());
        for digest in &self.untracked {
            e.str(&digest.path).str(digest.id.as_str());
        }
        e.strs(&self.consts).pairs(&self.pydists);
        e.hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn hashed<'a>(tracked: &'a TrackedFiles, globs: &[&str], untracked: &[&str]) -> Hashed<'a> {
        Hashed::new(
            tracked,
            "definition".into(),
            globs.iter().map(|g| g.to_string()).collect(),
            untracked
                .iter()
                .map(|path| tracked.untracked_digest(path).unwrap().unwrap())
                .collect(),
            BTreeSet::from(["c".to_string()]),
            BTreeMap::from([("django".to_string(), "5.1".to_string())]),
        )
        .unwrap()
    }

    fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        git(&root, &["init", "-q"]);
        for name in ["a.txt", "c.txt", "d/e.txt", "other.md"] {
            fs::create_dir_all(root.join(name).parent().unwrap()).unwrap();
            fs::write(root.join(name), name).unwrap();
        }
        git(&root, &["add", "."]);
        // Untracked upstream artifacts.
        fs::write(root.join("b.out"), "artifact").unwrap();
        fs::write(root.join("0.out"), "artifact").unwrap();
        (dir, root)
    }

    fn read(root: &Path) -> TrackedFiles {
        TrackedFiles::read(root, root.join("._qik/stat-cache")).unwrap()
    }

    #[test]
    fn deps_files_read_escaped_and_plain_globs_alike() {
        let text = br#"{"globs": ["a.py", "b\/c \"q\".py", "\u00fc.py"], "pydists": ["Django"], "why": "w.json"}"#;
        let read: BorrowedGlobs<'_> = serde_json::from_slice(text).unwrap();
        let globs: Vec<&str> = read.globs.iter().map(|g| g.0.as_ref()).collect();
        assert_eq!(globs, ["a.py", "b/c \"q\".py", "ü.py"]);
        assert_eq!(read.pydists[0].0, "Django");
        let bad: Result<BorrowedGlobs<'_>, _> = serde_json::from_slice(br#"{"globs": [1]}"#);
        assert!(bad.unwrap_err().to_string().contains("expected a string"));
    }

    #[test]
    fn inputs_list_every_selected_file_with_its_blob_id_in_path_order() {
        let (_dir, root) = repo();
        let tracked = read(&root);
        let hashed = hashed(&tracked, &["*.txt"], &["0.out", "b.out"]);
        let inputs = hashed.inputs().unwrap();
        let paths: Vec<&str> = inputs.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["0.out", "a.txt", "b.out", "c.txt", "d/e.txt"]);
        assert_eq!(inputs.files["a.txt"], git(&root, &["hash-object", "a.txt"]));
        assert_eq!(inputs.files["b.out"], git(&root, &["hash-object", "b.out"]));
        assert_eq!(inputs.consts, BTreeSet::from(["c".to_string()]));
    }

    #[test]
    fn the_hash_follows_selected_files_and_artifacts_only() {
        let (_dir, root) = repo();
        let before = hashed(&read(&root), &["*.txt", "d/e.txt"], &["b.out"]).hash;
        assert_eq!(
            hashed(&read(&root), &["*.txt", "d/e.txt"], &["b.out"]).hash,
            before
        );
        fs::write(root.join("other.md"), "not selected").unwrap();
        assert_eq!(
            hashed(&read(&root), &["*.txt", "d/e.txt"], &["b.out"]).hash,
            before
        );
        fs::write(root.join("d/e.txt"), "edited").unwrap();
        let edited = hashed(&read(&root), &["*.txt", "d/e.txt"], &["b.out"]).hash;
        assert_ne!(edited, before);
        fs::write(root.join("b.out"), "another artifact").unwrap();
        let rebuilt = hashed(&read(&root), &["*.txt", "d/e.txt"], &["b.out"]).hash;
        assert_ne!(rebuilt, edited);
        fs::remove_file(root.join("c.txt")).unwrap();
        assert_ne!(
            hashed(&read(&root), &["*.txt", "d/e.txt"], &["b.out"]).hash,
            rebuilt
        );
    }

    #[test]
    fn an_exclusion_applies_to_the_whole_set() {
        let (_dir, root) = repo();
        let tracked = read(&root);
        let excluded = hashed(&tracked, &["*.txt", ":!d/**"], &[]);
        let files: Vec<String> = excluded.inputs().unwrap().files.into_keys().collect();
        assert_eq!(files, ["a.txt", "c.txt"]);
        // Editing an excluded file leaves the hash alone; a selected one not.
        fs::write(root.join("d/e.txt"), "edited").unwrap();
        let after = hashed(&read(&root), &["*.txt", ":!d/**"], &[]).hash;
        assert_eq!(after, excluded.hash);
        fs::write(root.join("a.txt"), "edited").unwrap();
        assert_ne!(
            hashed(&read(&root), &["*.txt", ":!d/**"], &[]).hash,
            excluded.hash
        );
    }

    /// A runnable with every part of the definition set.
    fn fixed_runnable() -> Runnable {
        use crate::ext::{CommandDep, DepSet};
        let command = |name: &str, args: &[(&str, &str)]| CommandDep {
            name: name.to_string(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            strict: false,
            isolated: None,
            origin: None,
        };
        let set = |items: &[&str]| items.iter().map(|i| i.to_string()).collect();
        Runnable {
            name: "test#app/users".into(),
            command: "test".into(),
            space: "default".into(),
            module: Some("app/users".into()),
            exec: "pytest app/users".into(),
            deps: DepSet {
                globs: set(&["*.txt", ".env", "d/e.txt"]),
                consts: set(&["v1"]),
                pydists: set(&["django"]),
                loads: [LoadDep {
                    path: "graph/deps.json".into(),
                    default: vec!["app/**.py".into()],
                }]
                .into(),
                commands: vec![
                    command("uv.install", &[("space", "default")]),
                    command("build", &[]),
                ],
            },
            artifacts: vec!["dist/*.whl".into()],
            cache: crate::ext::CacheRef::Named("local".into()),
            cache_when: crate::cache::CacheWhen::Success,
            tags: vec!["slow".into()],
            hidden: false,
            args: [("k".to_string(), "v".to_string())].into(),
            env: vec![("B".into(), "2".into()), ("A".into(), "1".into())],
            in_space_env: true,
            native: None,
            executor: None,
            replay_check: None,
            change_check: None,
        }
    }

    /// Keys are shared between qik binaries built by different compilers:
    /// any change to these bytes must bump `KEY_VERSION` and this test.
    #[test]
    fn the_key_of_a_fixed_runnable_is_pinned() {
        let runnable = fixed_runnable();
        let definition = definition_digest(&runnable);
        assert_eq!(
            definition,
            "baa81ae9ca706cfb92a64c6f9443ec7be539ba519d811d88ed5899ad79278f18"
        );
        let (_dir, root) = repo();
        let tracked = read(&root);
        let hashed = Hashed::new(
            &tracked,
            definition,
            vec!["*.txt".into(), "d/e.txt".into()],
            vec![tracked.untracked_digest("b.out").unwrap().unwrap()],
            runnable.deps.consts.clone(),
            BTreeMap::from([("django".to_string(), "5.1".to_string())]),
        )
        .unwrap();
        assert_eq!(
            hashed.hash,
            "6c36c74cb70b6a40d0bd2cbed7862e2e96174c3c98ed37b2b20b08bac187b867"
        );
        let space = SpaceInputs {
            dotenv: vec![".env".into()],
            venv: Vec::new(),
            venv_commands: vec![runnable.deps.commands[0].clone()],
        };
        let parts = definition_parts(&runnable, &space);
        let parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            parts,
            [
                "artifacts=3d12617be9744053",
                "deps=802573ce672f9f51",
                "dotenv=45bc3972f108da24",
                "exec=15ed54e9ff670594",
                "key-version=qik-hash-3",
                "space=734e5d83be21ab39",
                "venv=ce718fb3fc1923c5",
            ]
        );
    }

    #[test]
    fn command_deps_count_by_name_and_arguments_not_order() {
        let mut runnable = fixed_runnable();
        let before = definition_digest(&runnable);
        runnable.deps.commands.reverse();
        assert_eq!(definition_digest(&runnable), before);
        runnable.deps.commands[0]
            .args
            .insert("space".into(), "other".into());
        assert_ne!(definition_digest(&runnable), before);
        // Selection flags are not inputs.
        let mut runnable = fixed_runnable();
        runnable.deps.commands[0].strict = true;
        runnable.deps.commands[0].isolated = Some(false);
        assert_eq!(definition_digest(&runnable), before);
    }

    #[test]
    fn fields_never_run_into_each_other() {
        let mut a = fixed_runnable();
        let mut b = fixed_runnable();
        a.deps.commands = Vec::new();
        b.deps.commands = Vec::new();
        a.artifacts = vec!["x".into()];
        a.args.clear();
        b.artifacts = Vec::new();
        b.args = [("x".to_string(), String::new())].into();
        assert_ne!(definition_digest(&a), definition_digest(&b));
        let (mut a, mut b) = (fixed_runnable(), fixed_runnable());
        a.module = None;
        b.module = Some(String::new());
        assert_ne!(definition_digest(&a), definition_digest(&b));
    }
}
