//! Remembered replays: which cache entries are known whole and already
//! published as their runnable's latest output, so replaying them again costs
//! two `stat`s instead of reading and parsing a manifest, checking its log and
//! comparing it with the output file.
//!
//! Stored in `._qik/replays`, one line per entry. A line is trusted only while
//! the entry's manifest has the same stat data as when it was remembered (a
//! manifest is never rewritten in place: entries are replaced by renames, so
//! any edit, damage or replacement shows), and while `._qik/out/<runnable>.out`
//! is still a hard link to the entry's log (same inode, and a second link, so
//! the entry's own `log` still exists) with the stat data it had when the
//! full lookup checked it against its digest: the output file is one users
//! may write to, and writing through it writes the entry's log (a `>` keeps
//! the inode, not the mtime and ctime). Anything else falls back to the full
//! lookup, which finds damage and warns about it. An entry with artifacts is
//! remembered with the stat data of each artifact in place as last verified
//! against its digest; any artifact touched since (edited, replaced,
//! removed) sends the replay back to the full lookup, which verifies and
//! restores it.
//!
//! Like the stat cache, a manifest or artifact changed in the second before it
//! was remembered is not remembered: a change within one timestamp tick would
//! not show in its stat data.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fsutil::stat::{Dir, FileStat};
use crate::hashing::stat_cache::Stamp;

const HEADER: &str = "qik-replays 3";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    manifest: Stamp,
    /// The entry's log (and the output file, a link to it) as verified.
    log: Stamp,
    code: i32,
    /// Each artifact in place (absolute path) with its stat data when it was
    /// last verified.
    artifacts: Vec<(PathBuf, Stamp)>,
}

/// The remembered replays of a project, loaded once per run.
#[derive(Debug)]
pub struct Replays {
    path: PathBuf,
    /// The directory holding the file (`._qik`), open: entries and output
    /// files below it are stat-ed relative to it, which walks a few path
    /// components instead of the project root's every time.
    near: Option<(PathBuf, Dir)>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// As loaded, sorted by entry directory (the file is written sorted):
    /// found by binary search, so loading hashes nothing.
    loaded: Vec<(PathBuf, Record)>,
    /// Learnt during this run, by entry directory.
    learnt: HashMap<PathBuf, Record>,
    /// Why the file on disk was not used, for one warning (and a rewrite).
    problem: Option<String>,
    /// The file on disk is unusable: write it even if nothing was learnt.
    rewrite: bool,
}

/// The order records are kept in: by bytes. `Path`'s own order compares
/// component by component, which cost a tenth of a fully cached run in these
/// lookups alone.
fn order(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

impl State {
    fn get(&self, dir: &Path) -> Option<&Record> {
        if let Some(record) = self.learnt.get(dir) {
            return Some(record);
        }
        let found = self
            .loaded
            .binary_search_by(|(known, _)| order(known).cmp(order(dir)))
            .ok()?;
        Some(&self.loaded[found].1)
    }
}

impl Replays {
    /// Loads the file; a missing or damaged one remembers nothing (it is only
    /// a speed-up). A damaged one is a problem to warn about, and is written
    /// anew by [`Replays::save`].
    pub fn load(path: PathBuf) -> Replays {
        let read = crate::fsutil::read_kept(&path, crate::fsutil::limits::MEMO)
            .map_err(|err| crate::fsutil::speed_up_unreadable(&path, &err))
            .and_then(|text| {
                parse(&text).ok_or_else(|| {
                    Some(crate::fsutil::speed_up_unused(
                        &path,
                        "it is damaged or of another version",
                    ))
                })
            });
        let (mut loaded, problem) = match read {
            Ok(loaded) => (loaded, None),
            Err(problem) => (Vec::new(), problem),
        };
        if !loaded.is_sorted_by(|a, b| order(&a.0) < order(&b.0)) {
            // Written by hand or by another version: still usable.
            loaded.sort_by(|a, b| order(&a.0).cmp(order(&b.0)));
            loaded.dedup_by(|a, b| a.0 == b.0);
        }
        Replays {
            near: near(&path),
            path,
            state: Mutex::new(State {
                loaded,
                learnt: HashMap::new(),
                rewrite: problem.is_some(),
                problem,
            }),
        }
    }

    /// Why the file on disk was not used, once.
    pub fn take_problem(&self) -> Option<String> {
        self.lock().problem.take()
    }

    /// The exit code of the entry in `entry_dir` when it is remembered, still
    /// whole, and `out` is still its log.
    pub fn check(&self, entry_dir: &Path, out: &Path) -> Option<i32> {
        let record = self.lock().get(entry_dir)?.clone();
        let manifest = self.lstat_in(entry_dir, super::store::MANIFEST).ok()?;
        if Stamp::of_stat(&manifest) != record.manifest {
            return None;
        }
        let out = self.lstat(out).ok()?;
        if !linked_log(&out) || Stamp::of_stat(&out) != record.log {
            return None;
        }
        let artifacts_intact = record.artifacts.iter().all(|(path, stamp)| {
            fs::symlink_metadata(path).is_ok_and(|meta| Stamp::of(&meta) == *stamp)
        });
        artifacts_intact.then_some(record.code)
    }

    fn lstat(&self, path: &Path) -> std::io::Result<FileStat> {
        self.lstat_in(path, "")
    }

    /// `lstat` of `dir/name` (of `dir` when `name` is empty), relative to
    /// the open directory when `dir` is below it.
    fn lstat_in(&self, dir: &Path, name: &str) -> std::io::Result<FileStat> {
        use std::os::unix::ffi::OsStrExt;
        // Compared as bytes: `Path::strip_prefix` walks components, which
        // cost more than the `stat` it saves.
        let below = self.near.as_ref().and_then(|(near_path, near)| {
            let relative = dir
                .as_os_str()
                .as_bytes()
                .strip_prefix(near_path.as_os_str().as_bytes())?
                .strip_prefix(b"/")?;
            (!relative.is_empty()).then_some((relative, near))
        });
        if let Some((relative, near)) = below {
            if name.is_empty() {
                return near.lstat(relative);
            }
            let mut joined = Vec::with_capacity(relative.len() + 1 + name.len());
            joined.extend_from_slice(relative);
            joined.push(b'/');
            joined.extend_from_slice(name.as_bytes());
            return near.lstat(&joined);
        }
        let path = if name.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(name)
        };
        fs::symlink_metadata(path).map(|meta| FileStat::from(&meta))
    }

    /// Remembers an entry just replayed in full, whose log is now also `out`
    /// and whose `artifacts` (absolute paths) were just verified in place.
    pub fn remember(&self, entry_dir: &Path, out: &Path, code: i32, artifacts: &[PathBuf]) {
        let Ok(manifest) = self.lstat_in(entry_dir, super::store::MANIFEST) else {
            return;
        };
        let Ok(out) = self.lstat(out) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let settled = |stamp: &Stamp| stamp.mtime.0 < now - 1 && stamp.ctime.0 < now - 1;
        let manifest = Stamp::of_stat(&manifest);
        let log = Stamp::of_stat(&out);
        if !settled(&manifest) || !settled(&log) || !linked_log(&out) {
            return;
        }
        let mut stamped = Vec::with_capacity(artifacts.len());
        for path in artifacts {
            let Ok(meta) = fs::symlink_metadata(path) else {
                return;
            };
            let stamp = Stamp::of(&meta);
            if !meta.is_file() || !settled(&stamp) || path.to_str().is_none() {
                return;
            }
            stamped.push((path.clone(), stamp));
        }
        let record = Record {
            manifest,
            log,
            code,
            artifacts: stamped,
        };
        let mut state = self.lock();
        if state.get(entry_dir) != Some(&record) {
            state.learnt.insert(entry_dir.to_path_buf(), record);
        }
    }

    /// Writes the file atomically if it learnt anything. Failing only costs
    /// speed next time, so the error is returned for a warning.
    pub fn save(&self) -> Result<(), crate::fsutil::WriteError> {
        let mut state = self.lock();
        if state.learnt.is_empty() && !state.rewrite {
            return Ok(());
        }
        state.rewrite = false;
        let learnt = std::mem::take(&mut state.learnt);
        let mut records: Vec<(PathBuf, Record)> = std::mem::take(&mut state.loaded);
        records.retain(|(dir, _)| !learnt.contains_key(dir));
        let mut records: Vec<(PathBuf, Record)> = records
            .into_iter()
            .chain(learnt)
            // Entries gone from disk (pruned, cleared) are dropped; the rest
            // stay whether or not this run replayed them.
            .filter(|(dir, _)| dir.join(super::store::MANIFEST).exists())
            .collect();
        records.sort_by(|a, b| order(&a.0).cmp(order(&b.0)));
        let mut text = format!("{HEADER}\n");
        for (dir, r) in &records {
            let Some(dir) = dir.to_str().filter(|d| !d.contains(['\t', '\n'])) else {
                continue;
            };
            if r.artifacts
                .iter()
                .any(|(path, _)| path.to_str().is_none_or(|p| p.contains(['\t', '\n'])))
            {
                continue;
            }
            text.push_str(dir);
            write_stamp(&mut text, &r.manifest);
            write_stamp(&mut text, &r.log);
            let _ = write!(text, "\t{}", r.code);
            for (path, stamp) in &r.artifacts {
                text.push('\t');
                text.push_str(path.to_str().unwrap_or_default());
                write_stamp(&mut text, stamp);
            }
            text.push('\n');
        }
        state.loaded = records;
        crate::fsutil::write_atomic_unsynced(&self.path, text.as_bytes())
            .map_err(crate::fsutil::WriteError::at(&self.path))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `out` is a file another name links to (the entry's log, when its inode
/// is the one remembered).
/// The directory of the replays file, open, when it can be.
fn near(path: &Path) -> Option<(PathBuf, Dir)> {
    let dir = path.parent()?;
    Some((dir.to_path_buf(), Dir::open(dir).ok()?))
}

fn linked_log(out: &FileStat) -> bool {
    out.is_file() && out.nlink >= 2
}

/// Tab, then size, mtime (s, ns), ctime (s, ns) and inode.
fn write_stamp(text: &mut String, s: &Stamp) {
    let _ = write!(
        text,
        "\t{}\t{}\t{}\t{}\t{}\t{}",
        s.size, s.mtime.0, s.mtime.1, s.ctime.0, s.ctime.1, s.ino
    );
}

/// The records of a whole, well-formed file; anything else is `None`.
/// Parsed as bytes: `str::lines` and `split('\t')` cost more per field
/// than the numbers they hold, and this file is read on every run.
fn parse(text: &[u8]) -> Option<Vec<(PathBuf, Record)>> {
    use std::os::unix::ffi::OsStrExt;
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let mut lines = split_on(text, b'\n');
    if lines.next()? != HEADER.as_bytes() {
        return None;
    }
    let path = |bytes: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
    let mut records = Vec::with_capacity(text.len() / 200);
    for line in lines {
        let mut fields = split_on(line, b'\t');
        let dir = path(fields.next()?);
        let manifest = parse_stamp(&mut fields)?;
        let log = parse_stamp(&mut fields)?;
        let code = i32::try_from(number(&mut fields)?).ok()?;
        let mut artifacts = Vec::new();
        while let Some(artifact) = fields.next() {
            artifacts.push((path(artifact), parse_stamp(&mut fields)?));
        }
        records.push((
            dir,
            Record {
                manifest,
                log,
                code,
                artifacts,
            },
        ));
    }
    Some(records)
}

/// `bytes` split at each `separator`, found with SIMD: a byte-by-byte
/// `split` cost ten instructions per byte of the file.
fn split_on(bytes: &[u8], separator: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(separator, current) {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn number<'a>(fields: &mut impl Iterator<Item = &'a [u8]>) -> Option<i64> {
    crate::hashing::stat_cache::parse_i64(fields.next()?)
}

/// Size, mtime (s, ns), ctime (s, ns) and inode.
fn parse_stamp<'a>(fields: &mut impl Iterator<Item = &'a [u8]>) -> Option<Stamp> {
    let size = u64::try_from(number(fields)?).ok()?;
    let mtime = (number(fields)?, number(fields)?);
    let ctime = (number(fields)?, number(fields)?);
    let ino = u64::try_from(number(fields)?).ok()?;
    Some(Stamp {
        size,
        mtime,
        ctime,
        ino,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// An entry whose manifest was written long enough ago to be remembered,
    /// and an output file hard-linked to its log.
    fn entry(root: &Path) -> (PathBuf, PathBuf) {
        let dir = root.join("cache/cmd/run/hash");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("manifest.json"), "{}").unwrap();
        fs::write(dir.join("log"), "output\n").unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(10);
        fs::File::options()
            .write(true)
            .open(dir.join("manifest.json"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let out = root.join("run.out");
        fs::hard_link(dir.join("log"), &out).unwrap();
        (dir, out)
    }

    #[test]
    fn unknown_or_freshly_written_entries_are_not_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, out) = entry(tmp.path());
        let path = tmp.path().join("replays");
        let replays = Replays::load(path.clone());
        assert_eq!(replays.check(&dir, &out), None);
        replays.remember(&dir, &out, 3, &[]);
        // ctime is fresh: the set_modified above changed it just now.
        assert_eq!(replays.check(&dir, &out), None);
    }

    #[test]
    fn damage_unlinking_or_a_fresh_manifest_falls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, out) = entry(tmp.path());
        let path = tmp.path().join("replays");
        // Remembered as if long ago: written by hand with today's stat data,
        // and read back through the file.
        let remembered = || {
            let stamp = |p: &Path| Stamp::of(&fs::symlink_metadata(p).unwrap());
            let record = Record {
                manifest: stamp(&dir.join("manifest.json")),
                log: stamp(&out),
                code: 3,
                artifacts: Vec::new(),
            };
            let replays = Replays {
                path: path.clone(),
                near: near(&path),
                state: Mutex::new(State {
                    loaded: Vec::new(),
                    learnt: HashMap::from([(dir.clone(), record)]),
                    ..State::default()
                }),
            };
            replays.save().unwrap();
            Replays::load(path.clone())
        };
        assert_eq!(remembered().check(&dir, &out), Some(3));

        // The entry's log removed: the output file is its only name left.
        fs::remove_file(dir.join("log")).unwrap();
        let replays = remembered();
        assert_eq!(replays.check(&dir, &out), None);
        // Linked again: the inode's ctime moved, so the full lookup checks it.
        fs::hard_link(&out, dir.join("log")).unwrap();
        assert_eq!(replays.check(&dir, &out), None);
        let replays = remembered();
        assert_eq!(replays.check(&dir, &out), Some(3));

        // Written through the output file: same inode, new content.
        fs::write(&out, "tampered\n").unwrap();
        assert_eq!(replays.check(&dir, &out), None);

        // The output replaced by another run's log.
        let replays = remembered();
        fs::remove_file(&out).unwrap();
        fs::write(&out, "other\n").unwrap();
        assert_eq!(replays.check(&dir, &out), None);
        fs::remove_file(&out).unwrap();
        fs::hard_link(dir.join("log"), &out).unwrap();
        let replays = remembered();
        assert_eq!(replays.check(&dir, &out), Some(3));

        // The manifest damaged.
        fs::write(dir.join("manifest.json"), "{").unwrap();
        assert_eq!(replays.check(&dir, &out), None);
    }

    #[test]
    fn an_entry_with_artifacts_is_remembered_while_they_stay_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, out) = entry(tmp.path());
        let artifact = tmp.path().join("dist/app.bin");
        fs::create_dir_all(artifact.parent().unwrap()).unwrap();
        fs::write(&artifact, "built").unwrap();
        let path = tmp.path().join("replays");
        // Fresh files are not vouched for: an edit within the same timestamp
        // tick would not show.
        let replays = Replays::load(path.clone());
        replays.remember(&dir, &out, 0, std::slice::from_ref(&artifact));
        assert_eq!(replays.check(&dir, &out), None);

        // As remembered long ago, written and read back through the file.
        let stamp = |p: &Path| Stamp::of(&fs::symlink_metadata(p).unwrap());
        let record = Record {
            manifest: stamp(&dir.join("manifest.json")),
            log: Stamp::of(&fs::symlink_metadata(&out).unwrap()),
            code: 0,
            artifacts: vec![(artifact.clone(), stamp(&artifact))],
        };
        let replays = Replays {
            path: path.clone(),
            near: near(&path),
            state: Mutex::new(State {
                loaded: Vec::new(),
                learnt: HashMap::from([(dir.clone(), record)]),
                ..State::default()
            }),
        };
        replays.save().unwrap();
        let replays = Replays::load(path.clone());
        assert_eq!(replays.check(&dir, &out), Some(0));

        // Rewritten (even with the same bytes) or removed: the full lookup
        // verifies and restores it.
        fs::remove_file(&artifact).unwrap();
        assert_eq!(replays.check(&dir, &out), None);
        fs::write(&artifact, "built").unwrap();
        assert_eq!(replays.check(&dir, &out), None);
    }

    #[test]
    fn garbage_remembers_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("replays");
        for text in [
            "",
            "nonsense\n",
            "qik-replays 3\n/a\t1\t2\n",
            "qik-replays 3\n/a\t1\t2\t3\t4\t5\t6\t7\t8\t/art\t1\n",
            "\u{0}\u{1}",
        ] {
            fs::write(&path, text).unwrap();
            let replays = Replays::load(path.clone());
            assert!(replays.lock().loaded.is_empty());
            let problem = replays.take_problem().unwrap();
            assert!(problem.contains("damaged"), "{problem}");
            assert_eq!(replays.take_problem(), None, "said once");
            // Written anew though nothing was learnt: no more words.
            replays.save().unwrap();
            assert_eq!(Replays::load(path.clone()).take_problem(), None);
        }
        fs::remove_file(&path).unwrap();
        assert_eq!(Replays::load(path).take_problem(), None, "none yet");
    }
}
