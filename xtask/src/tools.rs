//! Where the tools that benchmarks and releases install on first use live:
//! the end-to-end tests' directory (`$QIK_TEST_TOOLS`, else
//! `~/.cache/qik-test-tools`), so one machine installs each tool once.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The tools directory, created if missing (a fresh machine has none).
pub(crate) fn dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("QIK_TEST_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".cache/qik-test-tools"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
