//! The binaries under test, under their real names.
//!
//! This crate builds `qik` and `qikx` as `qik-e2e` and `qikx-e2e` (same
//! `main`, same plugins as qik-cli's): cargo builds a package's own bins
//! before its tests and hands their paths over in `CARGO_BIN_EXE_<name>`, so
//! they are never stale and need no cargo run of their own, while qik-cli's
//! `qik` in the same target dir keeps its file. Some behaviour depends on
//! the name (clap's usage lines take it from argv[0], completion scripts
//! call `qik` through PATH), so tests run them through symlinks named `qik`
//! and `qikx` in [`bin_dir`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory holding `qik` and `qikx`, to put first on PATH.
pub(crate) fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-bin");
        std::fs::create_dir_all(&dir).expect("create the bin dir");
        for (name, target) in [
            ("qik", env!("CARGO_BIN_EXE_qik-e2e")),
            ("qikx", env!("CARGO_BIN_EXE_qikx-e2e")),
        ] {
            // A new link renamed over the old one: concurrent test
            // processes always see a complete link.
            let staged = dir.join(format!(".{name}-{}", std::process::id()));
            let _ = std::fs::remove_file(&staged);
            std::os::unix::fs::symlink(target, &staged).expect("symlink the binary");
            std::fs::rename(&staged, dir.join(name)).expect("move the link into place");
        }
        dir
    })
}

/// `qik` (a symlink named so, see the module docs).
pub(crate) fn qik_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| bin_dir().join("qik"))
}

/// `qikx` (a symlink named so).
pub(crate) fn qikx_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| bin_dir().join("qikx"))
}
