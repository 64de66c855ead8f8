//! Where qik keeps its working files: `._qik` (private to this checkout)
//! and `.qik` (committed).

use std::path::PathBuf;

use crate::cache::store::{Store, slug};
use crate::fsutil::joined;

/// Entries kept per runnable in the local cache: enough that reverting an edit
/// is a hit again, few enough that the cache stays small.
pub const LOCAL_KEEP: usize = 8;

/// Where qik keeps its private and public working files.
#[derive(Clone, Debug)]
pub struct WorkDirs {
    pub root: PathBuf,
}

impl WorkDirs {
    pub fn private(&self) -> PathBuf {
        joined(&self.root, &[b"._qik"])
    }

    pub fn public(&self) -> PathBuf {
        joined(&self.root, &[b".qik"])
    }

    pub fn local_store(&self) -> Store {
        Store {
            dir: joined(&self.root, &[b"._qik", b"cache"]),
            keep: LOCAL_KEEP,
            copy_artifacts: true,
        }
    }

    /// The repo cache keeps the latest entry only: it is committed.
    pub fn repo_store(&self) -> Store {
        Store {
            dir: joined(&self.root, &[b".qik", b"cache"]),
            keep: 1,
            copy_artifacts: false,
        }
    }

    pub fn out_log(&self, runnable: &str) -> PathBuf {
        let mut file = slug(runnable);
        file.push_str(".out");
        joined(&self.root, &[b"._qik", b"out", file.as_bytes()])
    }

    /// Records of runs that `cache-when` did not keep (for `--explain`).
    pub fn runs_dir(&self) -> PathBuf {
        self.private().join("runs")
    }

    pub fn stat_cache(&self) -> PathBuf {
        self.private().join("stat-cache")
    }

    pub fn replays(&self) -> PathBuf {
        self.private().join("replays")
    }
}
