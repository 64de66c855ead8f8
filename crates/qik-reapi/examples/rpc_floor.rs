//! The floor of `cargo xtask bench`'s reapi rows: the least a correct
//! client does to restore the same blobs from a REAPI server, with no
//! config, no action result, no manifest and no local cache. Blobs that fit
//! a batch come in BatchReadBlobs requests under 4 MB, the others over
//! ByteStream; each is checked against its sha256 and written to its path.
//!
//! usage: rpc_floor ENDPOINT LIST, where ENDPOINT is `http://host:port` and
//! each line of LIST is `sha256 size path`.

use std::io::Write as _;
use std::path::PathBuf;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream as bs;
use re::content_addressable_storage_client::ContentAddressableStorageClient;
use sha2::{Digest as _, Sha256};

/// Under BuildGrid's 4,193,280-byte limit, with room for framing.
const BATCH: u64 = 4_000_000;

struct Blob {
    hash: String,
    size: u64,
    path: PathBuf,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write(blob: &Blob, data: &[u8]) -> Result<(), String> {
    if hex(&Sha256::digest(data)) != blob.hash {
        return Err(format!("{} does not match its digest", blob.path.display()));
    }
    if let Some(dir) = blob.path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&blob.path, data).map_err(|e| e.to_string())
}

async fn restore(endpoint: String, blobs: Vec<Blob>) -> Result<(), String> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut cas = ContentAddressableStorageClient::new(channel.clone())
        .max_decoding_message_size(8 * 1024 * 1024);
    let mut stream = bs::byte_stream_client::ByteStreamClient::new(channel);
    let (small, big): (Vec<&Blob>, Vec<&Blob>) = blobs.iter().partition(|b| b.size <= BATCH / 2);
    let mut batch: Vec<&Blob> = Vec::new();
    let mut batch_bytes = 0;
    let mut batches = Vec::new();
    for blob in small {
        if batch_bytes + blob.size > BATCH && !batch.is_empty() {
            batches.push(std::mem::take(&mut batch));
            batch_bytes = 0;
        }
        batch_bytes += blob.size;
        batch.push(blob);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    for batch in batches {
        let request = re::BatchReadBlobsRequest {
            digests: batch
                .iter()
                .map(|b| re::Digest {
                    hash: b.hash.clone(),
                    size_bytes: i64::try_from(b.size).unwrap_or(i64::MAX),
                })
                .collect(),
            ..Default::default()
        };
        let response = cas
            .batch_read_blobs(request)
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        for (blob, answer) in batch.iter().zip(response.responses) {
            write(blob, &answer.data)?;
        }
    }
    for blob in big {
        let request = bs::ReadRequest {
            resource_name: format!("blobs/{}/{}", blob.hash, blob.size),
            ..Default::default()
        };
        let mut reader = stream
            .read(request)
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if let Some(dir) = blob.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let file = std::fs::File::create(&blob.path).map_err(|e| e.to_string())?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        let mut sha = Sha256::new();
        while let Some(message) = reader.message().await.map_err(|e| e.to_string())? {
            sha.update(&message.data);
            out.write_all(&message.data).map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
        if hex(&sha.finalize()) != blob.hash {
            return Err(format!("{} does not match its digest", blob.path.display()));
        }
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, list] = args.as_slice() else {
        return Err("usage: rpc_floor ENDPOINT LIST".into());
    };
    let text = std::fs::read_to_string(list).map_err(|e| e.to_string())?;
    let blobs = text
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(hash), Some(size), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("bad line: {line}"));
            };
            Ok(Blob {
                hash: hash.to_string(),
                size: size.parse().map_err(|_| format!("bad size: {line}"))?,
                path: PathBuf::from(path),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(restore(endpoint.clone(), blobs))
}
