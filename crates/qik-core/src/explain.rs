//! Why a runnable runs, or which entry it replays (`--explain`).
//!
//! Nothing here is on the normal path: a run asks only when `--explain` is
//! given. A miss is compared with every entry kept for the runnable, and the
//! closest one (fewest differences, then newest) is reported: the files,
//! constants, distributions and parts of the definition that differ. The only
//! thing written for it is a small record of a run that `cache-when` did not
//! keep (`._qik/runs/<runnable>.json`), so that reason can be named too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::{Entry, Store, slug};
use crate::git::PathspecSet;
use crate::hashing::{self, Inputs, KEY_VERSION_PART, load_file};
use crate::model::{Project, Runnable};

/// Why a runnable runs, or what it replays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// Replayed from this entry.
    Hit { entry: EntryInfo },
    /// Would replay an entry that only the remote cache `cache` holds yet.
    Remote { hash: String, cache: String },
    /// Never cached: `cache = "none"`, or a command without deps of its own.
    NotCached,
    /// `-f` ignores caches.
    Forced,
    /// No entry of this runnable is kept.
    NoEntry,
    /// What its cached run left outside the cache is gone (e.g. the venv an
    /// install built), so the entry cannot be replayed.
    ReplayCheck,
    /// Its inputs cannot be read yet (e.g. a venv not installed).
    Unreadable { message: String },
    /// The last run with these same inputs exited with `code`, and
    /// `cache-when` did not keep it.
    NotKept { code: i32, cache_when: String },
    /// The inputs differ from those of the closest kept entry. An empty diff
    /// means the entry was made by another version of qik.
    Changed { entry: EntryInfo, diff: Diff },
}

impl Reason {
    /// Whether the runnable runs (rather than replays).
    pub fn runs(&self) -> bool {
        !matches!(self, Reason::Hit { .. } | Reason::Remote { .. })
    }
}

/// A cache entry, as `--explain` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    pub hash: String,
    /// The name of the runnable's cache (`local`, `repo`, a remote's name).
    pub cache: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// The exit code it replays.
    pub code: i32,
}

impl EntryInfo {
    fn of(runnable: &Runnable, entry: &Entry) -> EntryInfo {
        EntryInfo {
            hash: entry.manifest.hash.clone(),
            cache: runnable.cache.name().to_string(),
            created: entry.manifest.created,
            code: entry.manifest.code,
        }
    }
}

/// What differs between an entry's inputs and the current ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub files: Vec<FileChange>,
    /// Constants now that the entry did not have.
    pub consts_added: Vec<String>,
    /// Constants of the entry that are gone.
    pub consts_removed: Vec<String>,
    pub pydists: Vec<PydistChange>,
    /// Parts of the definition that differ: `exec`, `space`, `deps`,
    /// `artifacts`, `dotenv`, `venv`; or just `definition` when the entry
    /// predates per-part digests.
    pub definition: Vec<String>,
}

impl Diff {
    fn size(&self) -> usize {
        self.files.len()
            + self.consts_added.len()
            + self.consts_removed.len()
            + self.pydists.len()
            + self.definition.len()
    }

    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One file that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Relative to the project root.
    pub path: String,
    pub change: Change,
    /// Why the file is an input; `None` when no current dep selects it (a
    /// removed file whose glob is gone).
    pub via: Option<Via>,
}

/// Why a file is an input of a runnable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Via {
    /// A glob dep of the command.
    Glob { pattern: String },
    /// A dotenv file of the runnable's space.
    Dotenv { pattern: String },
    /// A requirement or lock file of the space's venv.
    Venv { pattern: String },
    /// An artifact of an upstream runnable.
    Upstream { runnable: String, pattern: String },
    /// Listed in a `load` dep's file (e.g. what `pygraph.lock` writes: the
    /// files a module imports). The file names the loaded deps file; a dep
    /// type that knows more (the import that brought the file in) can extend
    /// this variant.
    Load {
        file: String,
        /// How the file came in, when the deps file says (for a pygraph
        /// lock: the chain of imports from the locked module).
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
}

/// A distribution whose version differs (`None`: absent on that side).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PydistChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The reason of a hit: the entry it replays.
pub fn hit(runnable: &Runnable, entry: &Entry) -> Reason {
    Reason::Hit {
        entry: EntryInfo::of(runnable, entry),
    }
}

/// Where a runnable's explanations look.
pub struct Sources<'a> {
    pub project: &'a Project,
    /// The store its entries are in (local or repo).
    pub store: &'a Store,
    /// `._qik/runs`, the records of runs `cache-when` did not keep.
    pub runs_dir: &'a Path,
}

/// The reason a runnable runs. `current` is its hash and inputs (`None`
/// when it is never cached).
pub fn miss(
    sources: &Sources<'_>,
    runnable: &Runnable,
    current: Option<(&str, &Inputs)>,
    force: bool,
) -> Reason {
    let Some((hash, inputs)) = current else {
        return Reason::NotCached;
    };
    if force {
        return Reason::Forced;
    }
    let root = &sources.project.config.root;
    if runnable
        .replay_check
        .as_ref()
        .is_some_and(|check| !check.holds(root))
    {
        return Reason::ReplayCheck;
    }
    if let Some(last) = read_last_run(sources.runs_dir, &runnable.name).filter(|r| r.hash == hash) {
        return Reason::NotKept {
            code: last.code,
            cache_when: last.cache_when,
        };
    }
    let mut now = inputs.clone();
    now.definition_fields = definition_fields(sources.project, runnable);
    let closest = sources
        .store
        .entries(&runnable.command, &runnable.name)
        .into_iter()
        .filter(|entry| entry.manifest.hash != hash)
        .map(|entry| (diff_inputs(&entry.manifest.inputs, &now), entry))
        .min_by_key(|(diff, entry)| (diff.size(), std::cmp::Reverse(entry.manifest.created)));
    let Some((mut diff, entry)) = closest else {
        return Reason::NoEntry;
    };
    if !diff.files.is_empty() {
        Classifier::new(sources.project, runnable).classify(&mut diff.files);
    }
    Reason::Changed {
        entry: EntryInfo::of(runnable, &entry),
        diff,
    }
}

/// The difference between an entry's inputs (`old`) and `new`, files not
/// yet classified.
fn diff_inputs(old: &Inputs, new: &Inputs) -> Diff {
    let mut diff = Diff::default();
    for (path, id) in &new.files {
        match old.files.get(path) {
            None => diff.files.push(file_change(path, Change::Added)),
            Some(old_id) if old_id != id => diff.files.push(file_change(path, Change::Changed)),
            Some(_) => {}
        }
    }
    for path in old.files.keys().filter(|p| !new.files.contains_key(*p)) {
        diff.files.push(file_change(path, Change::Removed));
    }
    diff.files.sort_by(|a, b| a.path.cmp(&b.path));
    diff.consts_added = new.consts.difference(&old.consts).cloned().collect();
    diff.consts_removed = old.consts.difference(&new.consts).cloned().collect();
    let names: BTreeSet<&String> = old.pydists.keys().chain(new.pydists.keys()).collect();
    for name in names {
        let (a, b) = (old.pydists.get(name), new.pydists.get(name));
        if a != b {
            diff.pydists.push(PydistChange {
                name: name.clone(),
                old: a.cloned(),
                new: b.cloned(),
            });
        }
    }
    if old.definition != new.definition {
        if old.definition_fields.is_empty() {
            // An entry from before per-part digests: say what is known. A
            // changed constant also changes the definition; it is named above.
            if diff.consts_added.is_empty() && diff.consts_removed.is_empty() {
                diff.definition.push("definition".to_string());
            }
        } else if old.definition_fields.get(KEY_VERSION_PART)
            != new.definition_fields.get(KEY_VERSION_PART)
        {
            // Parts encoded by another version of qik do not compare: what
            // differs is the version, which an empty diff says.
        } else {
            let parts: BTreeSet<&String> = old
                .definition_fields
                .keys()
                .chain(new.definition_fields.keys())
                .collect();
            diff.definition = parts
                .into_iter()
                .filter(|p| old.definition_fields.get(*p) != new.definition_fields.get(*p))
                .cloned()
                .collect();
        }
    }
    diff
}

fn file_change(path: &str, change: Change) -> FileChange {
    FileChange {
        path: path.to_string(),
        change,
        via: None,
    }
}

/// A digest per part of a runnable's definition, written with each cache
/// entry so `--explain` can name the part that changed. Constants are left
/// out: a changed constant is shown as its values.
pub fn definition_fields(project: &Project, runnable: &Runnable) -> BTreeMap<String, String> {
    // Errors in a space's inputs were reported when its runnables were built.
    let space = project.space_inputs(&runnable.space).unwrap_or_default();
    hashing::definition_parts(runnable, &space)
}

/// Names why each changed file is an input, from the runnable's current deps.
struct Classifier {
    /// In order of precedence: the space's files, upstream artifacts, loaded
    /// deps, then the command's own globs.
    rules: Vec<(PathspecSet, Vec<String>, Rule)>,
}

enum Rule {
    Dotenv,
    Venv,
    Upstream(String),
    Load(String, BTreeMap<String, String>),
    Glob,
}

impl Classifier {
    fn new(project: &Project, runnable: &Runnable) -> Classifier {
        // Errors in a space's inputs were reported when its runnables were built.
        let space = project.space_inputs(&runnable.space).unwrap_or_default();
        let mut rules = Vec::new();
        let mut add = |patterns: Vec<String>, rule: Rule| {
            if patterns.is_empty() {
                return;
            }
            // Patterns were checked when hashing; one that does not compile
            // here only leaves files unnamed.
            if let Ok(set) = PathspecSet::new(patterns.iter().map(String::as_bytes), b"") {
                rules.push((set, patterns, rule));
            }
        };
        add(space.dotenv.clone(), Rule::Dotenv);
        add(space.venv.clone(), Rule::Venv);
        if let Ok(upstream) = project.upstream_of(runnable) {
            for up in upstream {
                add(
                    up.runnable.artifacts.clone(),
                    Rule::Upstream(up.runnable.name.clone()),
                );
            }
        }
        for load in &runnable.deps.loads {
            if let Ok(found) = load_file(project, load) {
                add(found.globs, Rule::Load(load.path.clone(), found.why));
            }
        }
        add(runnable.deps.globs.iter().cloned().collect(), Rule::Glob);
        Classifier { rules }
    }

    fn classify(&self, files: &mut [FileChange]) {
        for file in files {
            file.via = self.rules.iter().find_map(|(set, patterns, rule)| {
                let index = set.which(file.path.as_bytes())?;
                let pattern = patterns.get(index).cloned().unwrap_or_default();
                Some(match rule {
                    Rule::Dotenv => Via::Dotenv { pattern },
                    Rule::Venv => Via::Venv { pattern },
                    Rule::Upstream(runnable) => Via::Upstream {
                        runnable: runnable.clone(),
                        pattern,
                    },
                    Rule::Load(file, why) => Via::Load {
                        file: file.clone(),
                        why: why.get(&pattern).cloned(),
                    },
                    Rule::Glob => Via::Glob { pattern },
                })
            });
        }
    }
}

/// A run that `cache-when` did not keep.
#[derive(Debug, Serialize, Deserialize)]
struct LastRun {
    hash: String,
    code: i32,
    cache_when: String,
}

/// `._qik/runs/<runnable>.json`.
fn last_run_path(runs_dir: &Path, runnable: &str) -> PathBuf {
    runs_dir.join(format!("{}.json", slug(runnable)))
}

/// Records that a run with `hash` exited with `code` and was not stored.
/// Written only then, so runs that are kept cost nothing more.
pub fn record_not_kept(
    runs_dir: &Path,
    runnable: &Runnable,
    hash: &str,
    code: i32,
) -> Result<(), crate::fsutil::WriteError> {
    let record = LastRun {
        hash: hash.to_string(),
        code,
        cache_when: runnable.cache_when.as_str().to_string(),
    };
    let path = last_run_path(runs_dir, &runnable.name);
    let bytes = serde_json::to_vec(&record)
        .map_err(|err| crate::fsutil::WriteError::at(&path)(err.into()))?;
    crate::fsutil::write_atomic(&path, &bytes).map_err(crate::fsutil::WriteError::at(&path))
}

/// A record that does not read is no record.
fn read_last_run(runs_dir: &Path, runnable: &str) -> Option<LastRun> {
    let bytes = crate::fsutil::read_kept(
        &last_run_path(runs_dir, runnable),
        crate::fsutil::limits::MEMO,
    )
    .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(files: &[(&str, &str)], consts: &[&str], pydists: &[(&str, &str)]) -> Inputs {
        Inputs {
            definition: "d".into(),
            files: files
                .iter()
                .map(|(p, id)| (p.to_string(), id.to_string()))
                .collect(),
            consts: consts.iter().map(|c| c.to_string()).collect(),
            pydists: pydists
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            definition_fields: [("exec", "1"), ("deps", "2")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn equal_inputs_have_no_difference() {
        let a = inputs(&[("a", "1")], &["x"], &[("foo", "1.0")]);
        assert!(diff_inputs(&a, &a).is_empty());
    }

    #[test]
    fn files_consts_and_pydists_are_compared_one_by_one() {
        let old = inputs(
            &[("a", "1"), ("b", "1"), ("c", "1")],
            &["x", "keep"],
            &[("foo", "1.0"), ("gone", "3")],
        );
        let new = inputs(
            &[("a", "1"), ("b", "2"), ("d", "1")],
            &["y", "keep"],
            &[("foo", "2.0"), ("bar", "1")],
        );
        let diff = diff_inputs(&old, &new);
        let files: Vec<_> = diff
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.change))
            .collect();
        assert_eq!(
            files,
            [
                ("b", Change::Changed),
                ("c", Change::Removed),
                ("d", Change::Added)
            ]
        );
        assert_eq!(diff.consts_added, ["y"]);
        assert_eq!(diff.consts_removed, ["x"]);
        let pydists: Vec<_> = diff
            .pydists
            .iter()
            .map(|p| (p.name.as_str(), p.old.as_deref(), p.new.as_deref()))
            .collect();
        assert_eq!(
            pydists,
            [
                ("bar", None, Some("1")),
                ("foo", Some("1.0"), Some("2.0")),
                ("gone", Some("3"), None)
            ]
        );
        assert!(diff.definition.is_empty());
    }

    #[test]
    fn the_changed_definition_parts_are_named() {
        let old = inputs(&[], &[], &[]);
        let mut new = old.clone();
        new.definition = "e".into();
        new.definition_fields.insert("exec".into(), "9".into());
        assert_eq!(diff_inputs(&old, &new).definition, ["exec"]);
    }

    #[test]
    fn entries_without_part_digests_say_the_definition_changed() {
        let mut old = inputs(&[], &[], &[]);
        old.definition_fields.clear();
        let mut new = inputs(&[], &[], &[]);
        new.definition = "e".into();
        assert_eq!(diff_inputs(&old, &new).definition, ["definition"]);
        // A changed constant explains a changed definition by itself.
        new.consts.insert("c".into());
        assert!(diff_inputs(&old, &new).definition.is_empty());
    }

    #[test]
    fn manifests_of_older_versions_still_read() {
        let json = r#"{"definition": "d", "files": {"a": "1"}, "consts": [], "pydists": {}}"#;
        let read: Inputs = serde_json::from_str(json).unwrap();
        assert!(read.definition_fields.is_empty());
        assert_eq!(read.files.len(), 1);
    }

    #[test]
    fn unreadable_records_are_no_record() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(last_run_path(dir.path(), "t"), "{\"hash\":").unwrap();
        assert!(read_last_run(dir.path(), "t").is_none());
        assert!(read_last_run(dir.path(), "missing").is_none());
    }
}
