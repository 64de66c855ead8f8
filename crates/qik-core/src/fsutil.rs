//! Small file-system helpers shared by the caches.

use std::io::Write;
use std::path::Path;

/// Writes a file atomically: a temp file in the same directory, then a rename,
/// so readers see the old content or the new, never a torn one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_data()?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}
