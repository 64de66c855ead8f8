//! The raw-import cache: each file's unresolved imports keyed by the blake3
//! digest of its bytes, plus stat data that lets an unchanged file skip even
//! the read. Resolution runs on every build, so a new or deleted module
//! never leaves stale edges behind (grimp's cache does).
//!
//! One file, `imports.bin`, written atomically and only when something
//! changed; anything that does not decode is an empty cache.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::parse::RawImport;

/// Bump when the scanner or parser changes what they extract.
const MAGIC: &[u8] = b"qik-pygraph-imports v1\n";
const FILE: &str = "imports.bin";

pub(crate) type Digest = [u8; 32];

/// What `stat` says about a file; equal stats vouch for an unchanged file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
}

impl Stat {
    pub(crate) fn of(meta: &fs::Metadata) -> Stat {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        #[cfg(unix)]
        let (ctime_ns, ino) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
                meta.ino(),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, ino) = (0, 0);
        Stat {
            size: meta.len(),
            mtime_ns,
            ctime_ns,
            ino,
        }
    }

    /// A file modified this recently may change again within the same
    /// timestamp tick, so its stat data cannot vouch for it later.
    fn is_settled(&self, now: SystemTime) -> bool {
        let settled = now
            .checked_sub(Duration::from_secs(2))
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        self.mtime_ns < settled && self.ctime_ns < settled
    }
}

#[derive(Default)]
pub(crate) struct ImportCache {
    dir: Option<PathBuf>,
    entries: HashMap<Digest, Arc<Vec<RawImport>>>,
    stats: HashMap<String, (Stat, Digest)>,
    /// Why the file on disk was not used, for a warning.
    pub(crate) corrupt: Option<String>,
}

impl ImportCache {
    /// The cache in `dir` (none: an empty cache that is never saved).
    pub(crate) fn load(dir: Option<&Path>) -> ImportCache {
        let mut cache = ImportCache {
            dir: dir.map(Path::to_path_buf),
            ..ImportCache::default()
        };
        let Some(dir) = dir else {
            return cache;
        };
        // An unchanged cache is not written: sweep a killed build's temp file
        // now.
        qik_core::fsutil::staging::sweep_writes(dir);
        let bytes =
            match qik_core::fsutil::read_kept(&dir.join(FILE), qik_core::fsutil::limits::MEMO) {
                Ok(bytes) => bytes,
                Err(_) => return cache,
            };
        match decode(&bytes) {
            Some((entries, stats)) => {
                cache.entries = entries;
                cache.stats = stats;
            }
            None => {
                cache.corrupt = Some(format!(
                    "ignoring the unreadable import cache {}; every file is parsed again",
                    dir.join(FILE).display()
                ));
            }
        }
        cache
    }

    /// The digest of `path` if its stat data vouches for it.
    pub(crate) fn vouched(&self, path: &str, stat: &Stat) -> Option<Digest> {
        let (known, digest) = self.stats.get(path)?;
        (known == stat && self.entries.contains_key(digest)).then_some(*digest)
    }

    pub(crate) fn get(&self, digest: &Digest) -> Option<Arc<Vec<RawImport>>> {
        self.entries.get(digest).cloned()
    }

    /// Replaces the cache's content by this build's files and writes it if
    /// anything differs. `files`: path, stat, digest, imports.
    pub(crate) fn save(
        &mut self,
        files: Vec<(String, Stat, Digest, Arc<Vec<RawImport>>)>,
        now: SystemTime,
    ) -> std::io::Result<()> {
        let mut entries = HashMap::with_capacity(files.len());
        let mut stats = HashMap::with_capacity(files.len());
        for (path, stat, digest, imports) in files {
            if stat.is_settled(now) {
                stats.insert(path, (stat, digest));
            }
            entries.insert(digest, imports);
        }
        let changed = self.corrupt.is_some()
            || stats != self.stats
            || entries.len() != self.entries.len()
            || entries.keys().any(|k| !self.entries.contains_key(k));
        self.entries = entries;
        self.stats = stats;
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if !changed {
            return Ok(());
        }
        qik_core::fsutil::write_atomic(&dir.join(FILE), &encode(&self.entries, &self.stats))?;
        self.corrupt = None;
        Ok(())
    }
}

fn encode(
    entries: &HashMap<Digest, Arc<Vec<RawImport>>>,
    stats: &HashMap<String, (Stat, Digest)>,
) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let put_u32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    let put_str = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    // Sorted, so equal caches are equal files.
    let mut keys: Vec<&Digest> = entries.keys().collect();
    keys.sort();
    put_u32(&mut out, keys.len() as u32);
    for key in keys {
        out.extend_from_slice(key);
        let imports = &entries[key];
        put_u32(&mut out, imports.len() as u32);
        for imp in imports.iter() {
            put_u32(&mut out, imp.level);
            put_u32(&mut out, imp.line);
            out.push(u8::from(imp.type_checking));
            put_str(&mut out, &imp.name);
        }
    }
    let mut paths: Vec<&String> = stats.keys().collect();
    paths.sort();
    put_u32(&mut out, paths.len() as u32);
    for path in paths {
        let (stat, digest) = &stats[path];
        put_str(&mut out, path);
        out.extend_from_slice(&stat.size.to_le_bytes());
        out.extend_from_slice(&stat.mtime_ns.to_le_bytes());
        out.extend_from_slice(&stat.ctime_ns.to_le_bytes());
        out.extend_from_slice(&stat.ino.to_le_bytes());
        out.extend_from_slice(digest);
    }
    out
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i128(&mut self) -> Option<i128> {
        Some(i128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    fn digest(&mut self) -> Option<Digest> {
        self.take(32)?.try_into().ok()
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

type Decoded = (
    HashMap<Digest, Arc<Vec<RawImport>>>,
    HashMap<String, (Stat, Digest)>,
);

fn decode(bytes: &[u8]) -> Option<Decoded> {
    let mut r = Reader {
        b: bytes.strip_prefix(MAGIC)?,
    };
    let n = r.u32()? as usize;
    let mut entries = HashMap::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let digest = r.digest()?;
        let count = r.u32()? as usize;
        let mut imports = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let level = r.u32()?;
            let line = r.u32()?;
            let type_checking = match r.take(1)?[0] {
                0 => false,
                1 => true,
                _ => return None,
            };
            let name = r.string()?;
            imports.push(RawImport {
                level,
                name,
                line,
                type_checking,
            });
        }
        entries.insert(digest, Arc::new(imports));
    }
    let n = r.u32()? as usize;
    let mut stats = HashMap::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let path = r.string()?;
        let stat = Stat {
            size: r.u64()?,
            mtime_ns: r.i128()?,
            ctime_ns: r.i128()?,
            ino: r.u64()?,
        };
        stats.insert(path, (stat, r.digest()?));
    }
    r.b.is_empty().then_some((entries, stats))
}
