//! The git-tracked files of a project and their content digests.
//!
//! The git index is read once per invocation. Glob deps are matched against it
//! in memory with git's pathspec rules. A file's digest is its git blob id:
//! taken from the index when the file's stat data proves it unchanged (git's
//! own rule, racy-clean included), else from qik's stat cache under `._qik/`,
//! else by hashing the file. So an unchanged repository costs one `stat` per
//! file and no reads.

use rustc_hash::FxHashMap as HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::diagnostic::{Code, Diagnostic};
use crate::git::{self, Entry, HexId, Index, ObjectId, PathspecSet, Repo};

use super::encode::Encoder;
use super::stat_cache::StatCache;
use crate::fsutil::stat::Dir;

/// A tracked file's identity for hashing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// Path relative to the project root.
    pub path: String,
    /// The git blob id of its content, in hex.
    pub id: HexId,
}

/// The git-tracked files of a project, read once.
pub struct TrackedFiles {
    repo: Repo,
    /// The work tree, open: tracked files are stat-ed relative to it, as git does.
    work_tree: Dir,
    /// The project root relative to the work tree, `/`-terminated (empty at the top).
    prefix: Vec<u8>,
    index: Index,
    /// The index position of each tracked path below the project root, its
    /// lowest stage, in path order: the files, numbered from 0. (Positions,
    /// not copies: a copy of every path cost an allocation per file.)
    files: Vec<u32>,
    stat_cache: Mutex<StatCache>,
    /// Each file's digest, computed at most once per invocation (runnables of
    /// one module share their files).
    digests: Vec<OnceLock<Option<FileDigest>>>,
    /// Matched files per set of patterns that has exclusions.
    matches: Mutex<HashMap<Vec<String>, Arc<Vec<usize>>>>,
    /// Matched files per single positive pattern (`None`: an exclusion).
    single_matches: Mutex<HashMap<String, Option<Arc<Vec<usize>>>>>,
    /// Digest of the selected files per pattern, and per set of patterns
    /// that has exclusions (keyed by the patterns joined with NUL).
    selection_digests: Mutex<HashMap<String, SelectionDigest>>,
    /// Digest per single positive pattern only, so that a runnable whose
    /// patterns were all digested before costs one lock and one lookup per
    /// pattern (an import closure's lock lists hundreds).
    pattern_digests: Mutex<HashMap<String, SelectionDigest>>,
}

/// The digest of the files some patterns select: blake3 over each file's
/// path and blob id, in path order.
pub type SelectionDigest = [u8; 32];

impl std::fmt::Debug for TrackedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedFiles")
            .field("work_tree", &self.repo.work_tree())
            .field("files", &self.files.len())
            .finish()
    }
}

fn git_error(err: git::GitError) -> Diagnostic {
    Diagnostic::error(
        Code::ConfigNotFound,
        format!("cannot read the git repository: {err}"),
    )
    .with_hint("qik hashes git-tracked files; run it inside a git work tree")
}

impl TrackedFiles {
    /// Reads the index of the repository holding `root` (the project root).
    pub fn read(root: &Path, stat_cache_path: PathBuf) -> Result<TrackedFiles, Diagnostic> {
        let repo = Repo::discover(root).map_err(git_error)?;
        let index = repo.read_index().map_err(git_error)?;
        let mut prefix = repo.relative_path(root).unwrap_or_default();
        if !prefix.is_empty() && !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let mut files: Vec<u32> = Vec::with_capacity(index.len());
        let mut last: Option<&[u8]> = None;
        for (position, (path, _)) in index.iter().enumerate() {
            // A conflicted path has several stages; it is one file.
            if !path.starts_with(&prefix) || last == Some(path) {
                continue;
            }
            last = Some(path);
            let position = u32::try_from(position).map_err(|_| {
                Diagnostic::error(
                    Code::ConfigParse,
                    "the git index has more than 4 billion entries",
                )
            })?;
            files.push(position);
        }
        let work_tree = Dir::open(repo.work_tree()).map_err(|err| {
            Diagnostic::error(
                Code::ConfigNotFound,
                format!("cannot open {}: {err}", repo.work_tree().display()),
            )
        })?;
        Ok(TrackedFiles {
            work_tree,
            repo,
            prefix,
            digests: (0..files.len()).map(|_| OnceLock::new()).collect(),
            files,
            index,
            stat_cache: Mutex::new(StatCache::load(stat_cache_path)),
            matches: Mutex::new(HashMap::default()),
            single_matches: Mutex::new(HashMap::default()),
            selection_digests: Mutex::new(HashMap::default()),
            pattern_digests: Mutex::new(HashMap::default()),
        })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Why the stat cache on disk was not used (for one warning), once.
    pub fn stat_cache_problem(&self) -> Option<String> {
        self.stat_cache.lock().expect("not poisoned").take_problem()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The files matched by glob deps written relative to the project root,
    /// exactly as `git ls-files -- <patterns>` run there would list them.
    pub fn matching(&self, patterns: &[String]) -> Result<Arc<Vec<usize>>, Diagnostic> {
        // Without exclusions, a set selects the union of what each pattern
        // selects; patterns recur across runnables (a module's files are in
        // the import closure of every module that imports it), so each is
        // matched once and the union is all that is left per runnable.
        if let Some(found) = self.union_of_patterns(patterns)? {
            return Ok(Arc::new(found));
        }
        if let Some(found) = self.matches.lock().expect("not poisoned").get(patterns) {
            return Ok(Arc::clone(found));
        }
        let found = Arc::new(self.match_set(&self.compile(patterns)?));
        self.matches
            .lock()
            .expect("not poisoned")
            .insert(patterns.to_vec(), Arc::clone(&found));
        Ok(found)
    }

    fn compile<S: AsRef<[u8]>>(&self, patterns: &[S]) -> Result<PathspecSet, Diagnostic> {
        PathspecSet::new(
            patterns.iter().map(AsRef::as_ref),
            &self.prefix[..self.prefix.len().saturating_sub(1)],
        )
        .map_err(|err| {
            Diagnostic::error(Code::ConfigParse, format!("invalid glob: {err}"))
                .with_hint("globs follow git's pathspec syntax")
        })
    }

    /// The union of each pattern's matches, or `None` when one is an
    /// exclusion (which applies to the whole set).
    fn union_of_patterns(&self, patterns: &[String]) -> Result<Option<Vec<usize>>, Diagnostic> {
        let mut all = Vec::new();
        for pattern in patterns {
            match self.single_selection(pattern)? {
                Some(files) => all.extend_from_slice(&files),
                None => return Ok(None),
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(Some(all))
    }

    /// Digests of what `patterns` select, for hashing: one per pattern when
    /// none of them excludes (patterns recur across runnables: each is
    /// matched and digested once per invocation, and a runnable costs one
    /// digest per pattern, however many files its import closure holds),
    /// else one for the whole set.
    pub fn selection_digests(
        &self,
        patterns: &[String],
    ) -> Result<Vec<SelectionDigest>, Diagnostic> {
        // Only positive patterns are known here: a set with an exclusion
        // always reaches the loop below, which digests it whole.
        let mut out: Vec<Option<SelectionDigest>> = {
            let known = self.pattern_digests.lock().expect("not poisoned");
            patterns.iter().map(|p| known.get(p).copied()).collect()
        };
        for (pattern, slot) in patterns.iter().zip(out.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            match self.single_selection(pattern)? {
                Some(files) => {
                    let digest = self.memo_digest(pattern, || Ok(files))?;
                    self.pattern_digests
                        .lock()
                        .expect("not poisoned")
                        .insert(pattern.clone(), digest);
                    *slot = Some(digest);
                }
                None => {
                    // An exclusion applies to the whole set.
                    let key = patterns.join("\0");
                    let whole = self.memo_digest(&key, || self.matching(patterns))?;
                    return Ok(vec![whole]);
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn memo_digest(
        &self,
        key: &str,
        files: impl FnOnce() -> Result<Arc<Vec<usize>>, Diagnostic>,
    ) -> Result<SelectionDigest, Diagnostic> {
        if let Some(known) = self
            .selection_digests
            .lock()
            .expect("not poisoned")
            .get(key)
        {
            return Ok(*known);
        }
        let files = files()?;
        let mut encoded = Encoder::with_capacity(80 * files.len());
        for &file in files.iter() {
            if let Some(digest) = self.digest(file)? {
                encoded.str(&digest.path).str(digest.id.as_str());
            }
        }
        let digest = *encoded.hash().as_bytes();
        self.selection_digests
            .lock()
            .expect("not poisoned")
            .insert(key.to_string(), digest);
        Ok(digest)
    }

    /// A single pattern's matches, or `None` for an exclusion.
    fn single_selection(&self, pattern: &String) -> Result<Option<Arc<Vec<usize>>>, Diagnostic> {
        let known = self
            .single_matches
            .lock()
            .expect("not poisoned")
            .get(pattern)
            .cloned();
        if let Some(matched) = known {
            return Ok(matched);
        }
        let set = self.compile(std::slice::from_ref(pattern))?;
        let matched = (!set.has_excludes()).then(|| Arc::new(self.match_set(&set)));
        self.single_matches
            .lock()
            .expect("not poisoned")
            .insert(pattern.clone(), matched.clone());
        Ok(matched)
    }

    /// The tracked files a compiled set selects, in path order.
    fn match_set(&self, set: &PathspecSet) -> Vec<usize> {
        // Entries are sorted by path, so each pattern only looks at the range
        // of paths that start with its literal prefix, and only that pattern
        // is tested there.
        let mut found = Vec::new();
        for (n, prefix) in set.required_prefixes().enumerate() {
            let start = self
                .files
                .partition_point(|&position| self.index.at(position as usize).0 < prefix);
            for offset in 0..self.files.len() - start {
                let (path, _) = self.entry(start + offset);
                if !path.starts_with(prefix) {
                    break;
                }
                if set.matches_nth(n, path) {
                    found.push(start + offset);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The repo-relative path and index entry of a file.
    fn entry(&self, file: usize) -> (&[u8], &Entry) {
        self.index.at(self.files[file] as usize)
    }

    /// The path of a matched file, relative to the project root.
    pub fn path(&self, file: usize) -> String {
        let (path, _) = self.entry(file);
        String::from_utf8_lossy(&path[self.prefix.len()..]).into_owned()
    }

    /// The digest of a matched file, or `None` when it is tracked but deleted
    /// from the working tree (it then hashes exactly like an absent file).
    pub fn digest(&self, file: usize) -> Result<Option<&FileDigest>, Diagnostic> {
        if let Some(known) = self.digests[file].get() {
            return Ok(known.as_ref());
        }
        let digest = self.compute_digest(file)?;
        Ok(self.digests[file].get_or_init(|| digest).as_ref())
    }

    /// A digest [`Self::digest`] already computed.
    pub(crate) fn known_digest(&self, file: usize) -> Option<&FileDigest> {
        self.digests[file].get().and_then(Option::as_ref)
    }

    fn compute_digest(&self, file: usize) -> Result<Option<FileDigest>, Diagnostic> {
        let (path, entry) = self.entry(file);
        let relative = String::from_utf8_lossy(&path[self.prefix.len()..]).into_owned();
        let absolute = || crate::fsutil::joined(self.repo.work_tree(), &[path]);
        let meta = match self.work_tree.lstat(path) {
            Ok(meta) => meta,
            // A file where the path expects a directory: the tracked file is gone too.
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    format!("cannot read {}: {err}", absolute().display()),
                ));
            }
        };
        if meta.is_dir() {
            // A tracked file replaced by a directory is gone as a file.
            return Ok(None);
        }
        let id = if git::stat_matches(entry, &meta) {
            entry.id.hex()
        } else if let Some(id) = self
            .stat_cache
            .lock()
            .expect("not poisoned")
            .get(path, &meta)
        {
            id
        } else {
            let absolute = absolute();
            let id: ObjectId =
                git::hash_file(&absolute, self.repo.object_format()).map_err(|err| {
                    Diagnostic::error(
                        Code::ConfigParse,
                        format!("cannot hash {}: {err}", absolute.display()),
                    )
                })?;
            let id = id.hex();
            self.stat_cache
                .lock()
                .expect("not poisoned")
                .insert(path.to_vec(), &meta, id);
            id
        };
        Ok(Some(FileDigest { path: relative, id }))
    }

    /// Whether git tracks the file at `relative` (to the project root).
    pub fn is_tracked(&self, relative: &str) -> bool {
        let mut repo_path = self.prefix.clone();
        repo_path.extend_from_slice(relative.as_bytes());
        self.files
            .binary_search_by(|&position| self.index.at(position as usize).0.cmp(&repo_path))
            .is_ok()
    }

    /// The blob id of a file that git does not track (an output another
    /// runnable wrote), given relative to the project root; `None` when it
    /// does not exist. Cached by stat data like tracked files.
    pub fn untracked_digest(&self, relative: &str) -> Result<Option<FileDigest>, Diagnostic> {
        let mut repo_path = self.prefix.clone();
        repo_path.extend_from_slice(relative.as_bytes());
        let absolute = self.repo.work_tree().join(bytes_to_path(&repo_path));
        let meta = match fs::metadata(&absolute) {
            Ok(meta) if meta.is_file() => crate::fsutil::stat::FileStat::from(&meta),
            Ok(_) => return Ok(None),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(Diagnostic::error(
                    Code::ConfigParse,
                    format!("cannot read {}: {err}", absolute.display()),
                ));
            }
        };
        let cached = self
            .stat_cache
            .lock()
            .expect("not poisoned")
            .get(&repo_path, &meta);
        let id = match cached {
            Some(id) => id,
            None => {
                let id = git::hash_file(&absolute, self.repo.object_format())
                    .map_err(|err| {
                        Diagnostic::error(
                            Code::ConfigParse,
                            format!("cannot hash {}: {err}", absolute.display()),
                        )
                    })?
                    .hex();
                self.stat_cache
                    .lock()
                    .expect("not poisoned")
                    .insert(repo_path, &meta, id);
                id
            }
        };
        Ok(Some(FileDigest {
            path: relative.to_string(),
            id,
        }))
    }

    /// Writes the stat cache back if it learnt anything. Failing to save it only
    /// costs speed next time, so the error is returned for a warning.
    pub fn save(&self) -> Result<(), crate::fsutil::WriteError> {
        self.stat_cache.lock().expect("not poisoned").save()
    }
}

#[cfg(unix)]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("git")
            .args(["-c", "core.quotepath=off"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The project lives in `proj/` below the git root; every pattern must
    /// select what `git ls-files` run in `proj/` lists.
    #[test]
    fn matching_equals_git_ls_files_from_the_project_root() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().canonicalize().unwrap();
        git(&top, &["init", "-q"]);
        let files = [
            "outside.py",
            "proj/a.py",
            "proj/a.pyc",
            "proj/src/m.py",
            "proj/src/deep/n.py",
            "proj/src2/o.py",
            "proj/srcfile",
            "proj/with space/p.py",
            "proj/ünï/q.py",
            "proj/.hidden.py",
        ];
        for file in files {
            let path = top.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, file).unwrap();
        }
        git(&top, &["add", "."]);
        let root = top.join("proj");
        let tracked = TrackedFiles::read(&root, top.join("stat-cache")).unwrap();
        assert_eq!(tracked.len(), files.len() - 1);
        let patterns = [
            "*.py",
            "**.py",
            "src",
            "src/",
            "src/*",
            "src/**/n.py",
            "src*",
            "a.py",
            "with space",
            "ünï/*.py",
            "*.pyc",
            "nothing/here",
            ".hidden.py",
            "s?c/m.py",
            "[as]*",
        ];
        for pattern in patterns {
            let expected: Vec<String> = git(&root, &["ls-files", "-z", "--", pattern])
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8(p.to_vec()).unwrap())
                .collect();
            let got: Vec<String> = tracked
                .matching(&[pattern.to_string()])
                .unwrap()
                .iter()
                .map(|&i| tracked.digest(i).unwrap().unwrap().path.clone())
                .collect();
            assert_eq!(got, expected, "pattern {pattern:?}");
        }
    }

    #[test]
    fn digests_follow_content_and_deleted_files_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        git(&root, &["init", "-q"]);
        fs::write(root.join("a.txt"), "one").unwrap();
        fs::write(root.join("b.txt"), "two").unwrap();
        git(&root, &["add", "."]);
        let id_of = |tracked: &TrackedFiles, name: &str| {
            let files = tracked.matching(&[name.to_string()]).unwrap();
            files
                .first()
                .and_then(|&i| tracked.digest(i).unwrap().cloned())
                .map(|d| d.id)
        };
        let tracked = TrackedFiles::read(&root, root.join("._qik/stat-cache")).unwrap();
        let one = id_of(&tracked, "a.txt").unwrap();
        let expected = String::from_utf8(git(&root, &["hash-object", "a.txt"])).unwrap();
        assert_eq!(one.as_str(), expected.trim());

        fs::write(root.join("a.txt"), "changed").unwrap();
        fs::remove_file(root.join("b.txt")).unwrap();
        let tracked = TrackedFiles::read(&root, root.join("._qik/stat-cache")).unwrap();
        let changed = id_of(&tracked, "a.txt").unwrap();
        let expected = String::from_utf8(git(&root, &["hash-object", "a.txt"])).unwrap();
        assert_eq!(changed.as_str(), expected.trim());
        assert_eq!(id_of(&tracked, "b.txt"), None);
        tracked.save().unwrap();
        assert!(root.join("._qik/stat-cache").is_file());
    }
}
