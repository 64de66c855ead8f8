//! Remembered digests of files whose stat data no longer matches the git index
//! (edited but not staged), so an unchanged working tree is not read twice.
//!
//! Stored in `._qik/stat-cache`, one line per file. An entry is trusted only
//! when size, mtime, ctime and inode all match, and, like git's racy-clean
//! rule, only when the file was last modified before the cache was written.

use rustc_hash::FxHashMap as HashMap;
use std::fmt::Write as _;
use std::fs;

use crate::fsutil::WriteError;
use crate::fsutil::stat::FileStat;
use crate::git::HexId;
use std::path::PathBuf;

const HEADER: &str = "qik-stat-cache 1";

/// What stat data says about a file's content without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    pub(crate) ctime: (i64, i64),
    pub(crate) ino: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Stamp {
        Stamp::of_stat(&FileStat::from(meta))
    }

    pub(crate) fn of_stat(stat: &FileStat) -> Stamp {
        Stamp {
            size: stat.size,
            mtime: stat.mtime,
            ctime: stat.ctime,
            ino: stat.ino,
        }
    }
}

#[derive(Debug)]
pub(crate) struct StatCache {
    path: PathBuf,
    entries: HashMap<Vec<u8>, (Stamp, HexId)>,
    dirty: bool,
    /// Why the file on disk was not used, for one warning.
    problem: Option<String>,
}

impl StatCache {
    /// Loads the cache. A missing one is empty; an unreadable or damaged one
    /// too (it is only a speed-up), with a problem to warn about, and it is
    /// written anew at the end of the run.
    pub(crate) fn load(path: PathBuf) -> StatCache {
        let mut cache = StatCache {
            path,
            entries: HashMap::default(),
            dirty: false,
            problem: None,
        };
        if let Err(why) = cache.read() {
            cache.problem = why;
            cache.entries.clear();
            cache.dirty = cache.problem.is_some();
        }
        cache
    }

    /// Fills the entries from the file; `Err(None)` when there is none.
    fn read(&mut self) -> Result<(), Option<String>> {
        use crate::fsutil::{speed_up_unreadable, speed_up_unused};
        let text = crate::fsutil::read_kept_string(&self.path, crate::fsutil::limits::MEMO)
            .map_err(|err| speed_up_unreadable(&self.path, &err))?;
        // Read on every run, one line per file that was ever edited before
        // staging (a fresh clone's racily clean index puts every file
        // here): split and parsed as bytes, which costs a fraction of
        // `str::lines` and `str::parse` per field.
        let mut lines = text
            .strip_suffix('\n')
            .unwrap_or(&text)
            .as_bytes()
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let saved_at = lines
            .next()
            .and_then(|header| header.strip_prefix(HEADER.as_bytes()))
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|rest| rest.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                Some(speed_up_unused(
                    &self.path,
                    "it does not start with its header",
                ))
            })?;
        self.entries.reserve(text.len() / 100);
        for (number, line) in lines.enumerate() {
            let (path, stamp, id) = parse_line(line).ok_or_else(|| {
                Some(speed_up_unused(
                    &self.path,
                    format_args!("line {} is damaged", number + 2),
                ))
            })?;
            // Modified in the second the cache was written, or later: a change
            // within that tick would not show in the stat data.
            if stamp.mtime.0 < saved_at {
                self.entries.insert(path, (stamp, id));
            }
        }
        Ok(())
    }

    /// Why the file on disk was not used, once.
    pub(crate) fn take_problem(&mut self) -> Option<String> {
        self.problem.take()
    }

    pub(crate) fn get(&self, path: &[u8], stat: &FileStat) -> Option<HexId> {
        let (stamp, id) = self.entries.get(path)?;
        (*stamp == Stamp::of_stat(stat)).then_some(*id)
    }

    pub(crate) fn insert(&mut self, path: Vec<u8>, stat: &FileStat, id: HexId) {
        self.entries.insert(path, (Stamp::of_stat(stat), id));
        self.dirty = true;
    }

    /// Writes the cache atomically if it changed.
    pub(crate) fn save(&mut self) -> Result<(), WriteError> {
        if !self.dirty {
            return Ok(());
        }
        let saved_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut text = format!("{HEADER} {saved_at}\n");
        let mut entries: Vec<_> = self.entries.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (path, (stamp, id)) in entries {
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{id}",
                hex(path),
                stamp.size,
                stamp.mtime.0,
                stamp.mtime.1,
                stamp.ctime.0,
                stamp.ctime.1,
                stamp.ino
            );
        }
        crate::fsutil::write_atomic_unsynced(&self.path, text.as_bytes())
            .map_err(WriteError::at(&self.path))?;
        self.dirty = false;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// A decimal `i64` as `str::parse` reads it (a sign, then digits).
pub(crate) fn parse_i64(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, field),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &c in digits {
        let digit = i64::from(c.checked_sub(b'0').filter(|d| *d < 10)?);
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

fn parse_line(line: &[u8]) -> Option<(Vec<u8>, Stamp, HexId)> {
    let mut fields = line.split(|&b| b == b'\t');
    let path = unhex(fields.next()?)?;
    let mut number = || parse_i64(fields.next()?);
    let size = number()?;
    let mtime = (number()?, number()?);
    let ctime = (number()?, number()?);
    let ino = number()?;
    let id = HexId::parse(fields.next()?)?;
    let stamp = Stamp {
        size: u64::try_from(size).ok()?,
        mtime,
        ctime,
        ino: u64::try_from(ino).ok()?,
    };
    Some((path, stamp, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_distrusts_recent_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a b.txt");
        fs::write(&file, "x").unwrap();
        let meta = FileStat::from(&fs::metadata(&file).unwrap());
        let cache_path = dir.path().join("stat-cache");
        let mut cache = StatCache::load(cache_path.clone());
        let id = HexId::parse(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        cache.insert(b"a b.txt".to_vec(), &meta, id);
        assert_eq!(cache.get(b"a b.txt", &meta), Some(id));
        cache.save().unwrap();
        // Written in the same second as the file changed: not trusted after a reload.
        let reloaded = StatCache::load(cache_path.clone());
        assert_eq!(reloaded.get(b"a b.txt", &meta), None);
        // A cache saved later trusts it, and a changed file is not matched.
        let text = fs::read_to_string(&cache_path).unwrap();
        let body = text.split_once('\n').unwrap().1;
        fs::write(&cache_path, format!("{HEADER} 99999999999\n{body}")).unwrap();
        let reloaded = StatCache::load(cache_path);
        assert_eq!(reloaded.get(b"a b.txt", &meta), Some(id));
        fs::write(&file, "xy").unwrap();
        assert_eq!(
            reloaded.get(b"a b.txt", &FileStat::from(&fs::metadata(&file).unwrap())),
            None
        );
    }

    #[test]
    fn a_line_whose_id_is_not_a_blob_id_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let cache_path = dir.path().join("stat-cache");
        for id in ["abc", "0123456789ABCDEF0123456789abcdef01234567", ""] {
            fs::write(
                &cache_path,
                format!("{HEADER} 99999999999\n61\t1\t2\t3\t4\t5\t6\t{id}\n"),
            )
            .unwrap();
            let mut cache = StatCache::load(cache_path.clone());
            assert!(cache.take_problem().is_some(), "{id:?}");
        }
    }

    #[test]
    fn numbers_parse_as_str_parse_does() {
        for text in [
            "0",
            "7",
            "-12",
            "+5",
            "1764817200",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "",
            "-",
            "1a",
            " 1",
            "١",
        ] {
            assert_eq!(
                parse_i64(text.as_bytes()),
                text.parse::<i64>().ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn garbage_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat-cache");
        fs::write(&path, "not a cache\n\u{0}\u{1}").unwrap();
        let mut cache = StatCache::load(path.clone());
        assert!(cache.entries.is_empty());
        let problem = cache.take_problem().unwrap();
        assert!(
            problem.contains("does not start with its header"),
            "{problem}"
        );
        assert_eq!(cache.take_problem(), None, "said once");
        // Written anew, good: no more words.
        cache.save().unwrap();
        assert_eq!(StatCache::load(path.clone()).take_problem(), None);

        fs::write(&path, format!("{HEADER} 5\nzz\t1\n")).unwrap();
        let problem = StatCache::load(path.clone()).take_problem().unwrap();
        assert!(problem.contains("line 2 is damaged"), "{problem}");
        fs::remove_file(&path).unwrap();
        assert_eq!(StatCache::load(path).take_problem(), None, "none yet");
    }
}
