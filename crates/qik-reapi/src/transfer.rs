//! Uploading a set of blobs the way REAPI asks: FindMissingBlobs first, then
//! the missing ones in batches under the server's limit, and ByteStream for
//! those too big for a batch. The cache (an entry's files) and the executor
//! (an action's input root) both upload this way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qik_core::ext::remote::read_range;

use crate::action::Dg;
use crate::batch;
use crate::client::{Client, RpcError};

/// A blob to upload: in memory, or on disk (a whole file at offset 0, or an
/// artifact's range of a cache entry's pack; its size is the digest's).
pub(crate) enum Source {
    Memory(Vec<u8>),
    Disk { path: PathBuf, offset: u64 },
}

/// Why an upload stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// Asking which blobs are missing failed.
    #[error("{0}")]
    Find(RpcError),
    /// Sending a blob failed.
    #[error("{0}")]
    Write(RpcError),
    /// A local file changed or could not be read, or a blob was asked for
    /// that cannot be sent.
    #[error("{0}")]
    Local(String),
}

/// Uploads every blob of `sources` the server lacks, plus those `resend`
/// names (blobs the server claimed but served wrong).
pub(crate) fn upload_missing(
    client: &Client,
    sources: &BTreeMap<Dg, Source>,
    resend: &dyn Fn(&Dg) -> bool,
) -> Result<(), UploadError> {
    let all: Vec<Dg> = sources.keys().cloned().collect();
    let mut missing = client.find_missing(&all).map_err(UploadError::Find)?;
    missing.extend(all.iter().filter(|d| resend(d)).cloned());
    missing.sort();
    missing.dedup();
    let sizes: Vec<u64> = missing.iter().map(|d| d.size).collect();
    let split = batch::plan(&sizes, client.caps.batch_limit);
    for indexes in &split.batches {
        let mut blobs = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let digest = &missing[index];
            let data = match sources.get(digest) {
                Some(Source::Memory(data)) => data.clone(),
                Some(Source::Disk { path, offset }) => read_checked(path, *offset, digest)?,
                None => {
                    return Err(UploadError::Local(
                        "the server asked for a blob qik did not offer".into(),
                    ));
                }
            };
            blobs.push((digest.clone(), data));
        }
        client.batch_update(blobs).map_err(UploadError::Write)?;
    }
    for &index in &split.streamed {
        let digest = &missing[index];
        match sources.get(digest) {
            Some(Source::Disk { path, offset }) => client
                .write_stream(digest, path, *offset)
                .map_err(UploadError::Write)?,
            // Messages qik builds are small: never streamed.
            _ => {
                return Err(UploadError::Local(
                    "a blob too large for a batch is not on disk".into(),
                ));
            }
        }
    }
    Ok(())
}

/// A blob's bytes read from disk, if they still are what was hashed.
fn read_checked(path: &Path, offset: u64, digest: &Dg) -> Result<Vec<u8>, UploadError> {
    let data = read_range(path, offset, digest.size)
        .map_err(|err| UploadError::Local(format!("{}: {err}", path.display())))?;
    if &Dg::of(&data) != digest {
        return Err(UploadError::Local(format!(
            "{}: changed while being uploaded",
            path.display()
        )));
    }
    Ok(data)
}
