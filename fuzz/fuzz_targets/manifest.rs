//! The cache manifest reader: any bytes in an entry's `manifest.json` are a
//! hit, a miss or a corrupt entry, and restoring a hit writes only inside
//! the project.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use qik_core::cache::{Lookup, Store};

const COMMAND: &str = "test";
const RUNNABLE: &str = "test#pkg";
const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Dirs {
    store: Store,
    project: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

static DIRS: LazyLock<Dirs> = LazyLock::new(|| {
    let cache = tempfile::tempdir().expect("a temp dir");
    let store = Store {
        dir: cache.path().to_path_buf(),
        keep: 2,
        copy_artifacts: true,
    };
    let entry = store.entry_dir(COMMAND, RUNNABLE, HASH);
    std::fs::create_dir_all(&entry).expect("entry dir");
    std::fs::write(entry.join("log"), "output\n").expect("log");
    std::fs::write(entry.join("artifacts.pack"), "artifact\n").expect("pack");
    Dirs {
        store,
        project: tempfile::tempdir().expect("a temp dir"),
        _cache: cache,
    }
});

fuzz_target!(|data: &[u8]| {
    let dirs = &*DIRS;
    let entry = dirs.store.entry_dir(COMMAND, RUNNABLE, HASH);
    std::fs::write(entry.join("manifest.json"), data).expect("write the manifest");
    if let Lookup::Hit(entry) = dirs.store.get(COMMAND, RUNNABLE, HASH) {
        let _ = entry.restore_artifacts(dirs.project.path());
    }
});
