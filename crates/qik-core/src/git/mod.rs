//! Reading what git knows: the index and pathspec matching.

mod index;
mod pathspec;
#[cfg(all(test, unix))]
mod testutil;

pub use index::{
    Entry, EntryMode, GitError, HexId, Index, ObjectFormat, ObjectId, Repo, Stat, Timestamp,
    hash_file, stat_matches,
};
pub use pathspec::{Pathspec, PathspecError, PathspecSet};
