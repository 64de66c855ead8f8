//! A blocking REAPI client: the RPCs the cache needs, each bounded in time.
//!
//! qik is synchronous, so the client owns a small current-thread tokio
//! runtime and blocks on it. Several of qik's workers may call at once:
//! whichever thread blocks first drives the shared connection for all of
//! them (tokio hands the runtime's core from thread to thread).
//!
//! Every call has an allowance: the configured timeout for small requests,
//! plus a second per MiB for transfers, so a server that hangs or trickles
//! costs a bounded wait, never a stuck run.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream as bs;
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use re::content_addressable_storage_client::ContentAddressableStorageClient;
use re::execution_client::ExecutionClient;
use sha2::{Digest as _, Sha256};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint};

use crate::action::{Dg, hex};
use crate::batch;
use crate::config::Settings;

/// ByteStream chunks: well under every server's message limit.
const CHUNK: usize = 1024 * 1024;
/// REAPI's enum value for sha256, the one digest function qik speaks.
const SHA256: i32 = re::digest_function::Value::Sha256 as i32;

/// Why an RPC failed. Messages name the operation and the endpoint only:
/// never a header value (and the cache redacts server text too).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RpcError {
    #[error("cannot reach {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("{what} at {endpoint} got no answer within {secs:.1}s")]
    Timeout {
        what: &'static str,
        endpoint: String,
        secs: f64,
    },
    #[error("{what} at {endpoint} failed: {code:?}{detail}")]
    Status {
        what: &'static str,
        endpoint: String,
        code: tonic::Code,
        detail: String,
    },
    #[error(
        "{endpoint} offers the digest functions [{offered}]; qik.reapi needs sha256 (use an instance configured for it)"
    )]
    NoDigestFunction { endpoint: String, offered: String },
    /// The connection broke while an action ran, and the server answered
    /// again without the operation (it restarted): nothing came back.
    #[error(
        "the connection to {endpoint} broke while the action ran, and the server no longer knows its operation {operation} (restarted?)"
    )]
    OperationLost { endpoint: String, operation: String },
    #[error("{what} at {endpoint}: {detail}")]
    Protocol {
        what: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error("{}: {source}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RpcError {
    pub(crate) fn code(&self) -> Option<tonic::Code> {
        match self {
            RpcError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What a server said about itself.
#[derive(Clone, Debug)]
pub(crate) struct Caps {
    pub(crate) batch_limit: u64,
    pub(crate) update_enabled: bool,
    /// Set in requests for servers of API 2.3 or later; older ones infer
    /// sha256 from the digests.
    digest_function: i32,
}

/// The auth headers, attached to every request and marked sensitive so
/// HTTP/2 never indexes them.
#[derive(Clone)]
struct Headers(Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>);

impl Interceptor for Headers {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (name, value) in self.0.iter() {
            request.metadata_mut().insert(name.clone(), value.clone());
        }
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, Headers>;

/// How waiting on an execution ended.
pub(crate) enum Waited {
    Done(Box<re::ExecuteResponse>),
    /// `stop` said to stop waiting (Ctrl-C); the call was dropped, which
    /// tells the server nobody waits for the action any more.
    Stopped,
}

/// How often a wait looks at `stop` while the server is silent.
const POLL: Duration = Duration::from_millis(100);
/// Reconnections to a running operation (WaitExecution) before giving up.
const REJOINS: u32 = 3;

/// One blob of a batch read: its bytes, or the status code the server gave.
pub(crate) type BatchRead = Vec<(Dg, Result<Vec<u8>, i32>)>;

pub(crate) struct Client {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    headers: Headers,
    instance: String,
    endpoint: String,
    timeout: Duration,
    max_message: usize,
    pub(crate) caps: Caps,
}

/// Retries of a call the server turned away for now, and the first pause
/// (doubled each time: 1.5 s in all).
const RETRIES: u32 = 4;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Codes that say "not now" rather than "no".
fn transient(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
    )
}

/// A status that means the connection broke rather than the call failed.
fn broken(status: &tonic::Status) -> bool {
    matches!(
        code_of(status),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
    )
}

/// A status's code, except that a call the connection broke under (reset,
/// closed half-way) is UNAVAILABLE, as gRPC specifies, so it is retried
/// like a server's "not now". tonic says UNKNOWN there; such a status is
/// tonic's own, made from the I/O error (possibly inside an HTTP/2 error)
/// that it carries, while one the server sent carries no source.
fn code_of(status: &tonic::Status) -> tonic::Code {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if err.is::<std::io::Error>()
            || err
                .downcast_ref::<h2::Error>()
                .is_some_and(h2::Error::is_io)
        {
            return tonic::Code::Unavailable;
        }
        source = err.source();
    }
    status.code()
}

/// The allowance of a transfer of `bytes`: the timeout plus a second per MiB.
fn allowance(timeout: Duration, bytes: u64) -> Duration {
    timeout + Duration::from_secs(bytes / (1024 * 1024))
}

/// A status in one line: its message (shortened), else its cause.
fn status_detail(status: &tonic::Status) -> String {
    let mut parts = Vec::new();
    let message = status.message().trim();
    if !message.is_empty() {
        parts.push(message.to_string());
    }
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        parts.push(err.to_string());
        source = err.source();
    }
    let mut text = parts.join(": ").replace(['\n', '\r'], " ");
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    if text.is_empty() {
        text
    } else {
        format!(" ({text})")
    }
}

/// The innermost cause of a transport error ("Connection refused"...).
fn transport_detail(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        last = err.to_string();
        source = err.source();
    }
    last
}

/// A fresh upload id in UUID form: unique per process, call and time.
fn upload_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.update(&now.as_nanos().to_le_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    // Version 4, variant 1, as a random UUID would be.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A file sent as ByteStream WriteRequests, read as the stream is polled.
/// A read error ends the stream early (the server then refuses the short
/// write) and is kept for the caller's message.
struct FileChunks {
    file: std::fs::File,
    resource: Option<String>,
    offset: u64,
    size: u64,
    done: bool,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl Iterator for FileChunks {
    type Item = bs::WriteRequest;

    fn next(&mut self) -> Option<bs::WriteRequest> {
        if self.done {
            return None;
        }
        let want = usize::try_from((self.size - self.offset).min(CHUNK as u64)).unwrap_or(CHUNK);
        let mut data = vec![0; want];
        if let Err(err) = self.file.read_exact(&mut data) {
            self.done = true;
            if let Ok(mut slot) = self.error.lock() {
                *slot = Some(err);
            }
            return None;
        }
        let request = bs::WriteRequest {
            resource_name: self.resource.take().unwrap_or_default(),
            write_offset: i64::try_from(self.offset).unwrap_or(i64::MAX),
            finish_write: self.offset + want as u64 == self.size,
            data,
        };
        self.offset += want as u64;
        self.done = request.finish_write;
        Some(request)
    }
}

impl Client {
    /// Connects and asks the server what it can do.
    pub(crate) fn connect(settings: &Settings) -> Result<Client, RpcError> {
        let endpoint = settings.endpoint.to_string();
        let unreachable = |detail: String| RpcError::Unreachable {
            endpoint: endpoint.clone(),
            detail,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| unreachable(format!("cannot start the gRPC runtime: {err}")))?;
        let mut headers = Vec::new();
        for (name, value) in &settings.headers {
            // Checked when the config was rendered; the value is not shown.
            let name: AsciiMetadataKey = name
                .parse()
                .map_err(|_| unreachable(format!("header `{name}` is not a valid name")))?;
            let mut value = AsciiMetadataValue::try_from(value.as_str())
                .map_err(|_| unreachable(format!("the value of header `{name}` is not valid")))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let mut tonic_endpoint = TonicEndpoint::from_shared(settings.endpoint.uri())
            .map_err(|err| unreachable(transport_detail(&err)))?
            .connect_timeout(settings.timeout)
            .tcp_nodelay(true);
        if settings.endpoint.tls {
            let mut tls = ClientTlsConfig::new()
                .with_native_roots()
                .domain_name(settings.endpoint.host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|source| RpcError::Local {
                    path: path.clone(),
                    source,
                })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            tonic_endpoint = tonic_endpoint
                .tls_config(tls)
                .map_err(|err| unreachable(transport_detail(&err)))?;
        }
        let timeout = settings.timeout;
        let channel = runtime.block_on(async {
            match tokio::time::timeout(timeout, tonic_endpoint.connect()).await {
                Ok(Ok(channel)) => Ok(channel),
                Ok(Err(err)) => Err(unreachable(transport_detail(&err))),
                Err(_) => Err(unreachable(format!(
                    "no connection within {:.1}s",
                    timeout.as_secs_f64()
                ))),
            }
        })?;
        let mut client = Client {
            runtime,
            channel,
            headers: Headers(Arc::new(headers)),
            instance: settings.instance.clone(),
            endpoint,
            timeout,
            max_message: 4 * 1024 * 1024,
            caps: Caps {
                batch_limit: batch::DEFAULT_LIMIT,
                update_enabled: false,
                digest_function: 0,
            },
        };
        client.caps = client.capabilities()?;
        // Batches up to the server's limit, plus framing, must fit a message.
        client.max_message = usize::try_from(client.caps.batch_limit)
            .unwrap_or(usize::MAX / 2)
            .saturating_add(1024 * 1024)
            .max(8 * 1024 * 1024);
        Ok(client)
    }

    fn cas(&self) -> ContentAddressableStorageClient<Svc> {
        ContentAddressableStorageClient::with_interceptor(
            self.channel.clone(),
            self.headers.clone(),
        )
        .max_decoding_message_size(self.max_message)
        .max_encoding_message_size(self.max_message)
    }

    fn ac(&self) -> ActionCacheClient<Svc> {
        ActionCacheClient::with_interceptor(self.channel.clone(), self.headers.clone())
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message)
    }

    fn bytestream(&self) -> bs::byte_stream_client::ByteStreamClient<Svc> {
        bs::byte_stream_client::ByteStreamClient::with_interceptor(
            self.channel.clone(),
            self.headers.clone(),
        )
        .max_decoding_message_size(self.max_message)
        .max_encoding_message_size(self.max_message)
    }

    fn execution(&self) -> ExecutionClient<Svc> {
        ExecutionClient::with_interceptor(self.channel.clone(), self.headers.clone())
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message)
    }

    /// Executes the action and waits for it: on the Execute stream, then,
    /// should the stream break, on WaitExecution of the same operation.
    /// `stop` is asked every [`POLL`]; `limit` bounds the whole wait.
    pub(crate) fn execute(
        &self,
        action: &Dg,
        stop: &dyn Fn() -> bool,
        limit: Duration,
    ) -> Result<Waited, RpcError> {
        const WHAT: &str = "Execute";
        let deadline = tokio::time::Instant::now() + limit;
        let timeout = || RpcError::Timeout {
            what: WHAT,
            endpoint: self.endpoint.clone(),
            secs: limit.as_secs_f64(),
        };
        self.runtime.block_on(async {
            let mut operation: Option<String> = None;
            let mut rejoins = 0;
            let mut refusals = 0;
            loop {
                let opened = match &operation {
                    None => {
                        let request = re::ExecuteRequest {
                            instance_name: self.instance.clone(),
                            skip_cache_lookup: false,
                            action_digest: Some(action.to_proto()),
                            digest_function: self.caps.digest_function,
                            ..Default::default()
                        };
                        self.execution().execute(request).await
                    }
                    Some(name) => {
                        let request = re::WaitExecutionRequest { name: name.clone() };
                        self.execution().wait_execution(request).await
                    }
                };
                let mut stream = match opened {
                    Ok(response) => response.into_inner(),
                    Err(status)
                        if operation.is_none()
                            && transient(code_of(&status))
                            && refusals < RETRIES
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(RETRY_PAUSE * 2u32.pow(refusals)).await;
                        refusals += 1;
                        continue;
                    }
                    Err(status) if operation.is_some() && rejoins < REJOINS && broken(&status) => {
                        rejoins += 1;
                        tokio::time::sleep(POLL * 5).await;
                        continue;
                    }
                    // A restarted server forgot what it ran: say so.
                    Err(status)
                        if operation.is_some() && status.code() == tonic::Code::NotFound =>
                    {
                        return Err(RpcError::OperationLost {
                            endpoint: self.endpoint.clone(),
                            operation: operation.clone().unwrap_or_default(),
                        });
                    }
                    Err(status) => return Err(self.status(WHAT, &status)),
                };
                loop {
                    let next = tokio::select! {
                        next = stream.message() => next,
                        () = tokio::time::sleep(POLL) => {
                            if stop() {
                                return Ok(Waited::Stopped);
                            }
                            if tokio::time::Instant::now() >= deadline {
                                return Err(timeout());
                            }
                            continue;
                        }
                    };
                    match next {
                        Ok(Some(op)) => {
                            if operation.is_none() && !op.name.is_empty() {
                                operation = Some(op.name.clone());
                            }
                            if op.done {
                                return self.finished(op).map(|r| Waited::Done(Box::new(r)));
                            }
                        }
                        // The stream ended or broke before the operation
                        // did: rejoin it by name.
                        Ok(None) => break,
                        Err(status) if broken(&status) => break,
                        Err(status) => return Err(self.status(WHAT, &status)),
                    }
                }
                if operation.is_none() || rejoins >= REJOINS {
                    return Err(self.protocol(
                        WHAT,
                        "the server closed the operation stream before the action finished",
                    ));
                }
                rejoins += 1;
            }
        })
    }

    /// The ExecuteResponse of a finished operation.
    fn finished(
        &self,
        op: bazel_remote_apis::google::longrunning::Operation,
    ) -> Result<re::ExecuteResponse, RpcError> {
        use bazel_remote_apis::google::longrunning::operation::Result as OpResult;
        const WHAT: &str = "Execute";
        match op.result {
            Some(OpResult::Response(any)) => {
                <re::ExecuteResponse as prost::Message>::decode(any.value.as_slice())
                    .map_err(|_| self.protocol(WHAT, "the operation's response does not parse"))
            }
            Some(OpResult::Error(status)) => {
                let status = tonic::Status::new(tonic::Code::from_i32(status.code), status.message);
                Err(self.status(WHAT, &status))
            }
            None => Err(self.protocol(WHAT, "the operation finished without a result")),
        }
    }

    fn status(&self, what: &'static str, status: &tonic::Status) -> RpcError {
        RpcError::Status {
            what,
            endpoint: self.endpoint.clone(),
            code: code_of(status),
            detail: status_detail(status),
        }
    }

    fn protocol(&self, what: &'static str, detail: impl Into<String>) -> RpcError {
        RpcError::Protocol {
            what,
            endpoint: self.endpoint.clone(),
            detail: detail.into(),
        }
    }

    /// Runs one call to completion within `limit`.
    fn run<T>(
        &self,
        what: &'static str,
        limit: Duration,
        call: impl Future<Output = Result<T, RpcError>>,
    ) -> Result<T, RpcError> {
        self.runtime.block_on(async {
            match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(RpcError::Timeout {
                    what,
                    endpoint: self.endpoint.clone(),
                    secs: limit.as_secs_f64(),
                }),
            }
        })
    }

    /// Runs a unary call within `limit`, again after a pause when the
    /// server sheds load (RESOURCE_EXHAUSTED, as BuildGrid does when its
    /// RPC slots are full) or is briefly unavailable: `make` builds each
    /// attempt.
    fn run_retrying<T, F>(
        &self,
        what: &'static str,
        limit: Duration,
        mut make: impl FnMut() -> F,
    ) -> Result<T, RpcError>
    where
        F: Future<Output = Result<T, RpcError>>,
    {
        self.run(what, limit, async {
            let mut pause = RETRY_PAUSE;
            for _ in 0..RETRIES {
                match make().await {
                    Err(err) if err.code().is_some_and(transient) => {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    done => return done,
                }
            }
            make().await
        })
    }

    fn capabilities(&self) -> Result<Caps, RpcError> {
        const WHAT: &str = "GetCapabilities";
        let request = re::GetCapabilitiesRequest {
            instance_name: self.instance.clone(),
        };
        let caps = self.run_retrying(WHAT, self.timeout, || async {
            let mut client =
                CapabilitiesClient::with_interceptor(self.channel.clone(), self.headers.clone());
            client
                .get_capabilities(request.clone())
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| self.status(WHAT, &status))
        })?;
        let cache = caps.cache_capabilities.ok_or_else(|| {
            self.protocol(WHAT, "the server offers no cache (no cache capabilities)")
        })?;
        // An empty list predates the field: those servers speak sha256.
        if !cache.digest_functions.is_empty() && !cache.digest_functions.contains(&SHA256) {
            let offered: Vec<String> = cache
                .digest_functions
                .iter()
                .map(|&value| {
                    re::digest_function::Value::try_from(value)
                        .map(|v| v.as_str_name().to_ascii_lowercase())
                        .unwrap_or_else(|_| format!("#{value}"))
                })
                .collect();
            return Err(RpcError::NoDigestFunction {
                endpoint: self.endpoint.clone(),
                offered: offered.join(", "),
            });
        }
        let newer = caps
            .high_api_version
            .is_some_and(|v| (v.major, v.minor) >= (2, 3));
        Ok(Caps {
            batch_limit: batch::effective_limit(cache.max_batch_total_size_bytes),
            update_enabled: cache
                .action_cache_update_capabilities
                .is_some_and(|c| c.update_enabled),
            digest_function: if newer { SHA256 } else { 0 },
        })
    }

    /// The action's result, or `None` when the server has none.
    pub(crate) fn get_action_result(
        &self,
        action: &Dg,
    ) -> Result<Option<re::ActionResult>, RpcError> {
        const WHAT: &str = "GetActionResult";
        let request = re::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.to_proto()),
            digest_function: self.caps.digest_function,
            ..Default::default()
        };
        self.run_retrying(WHAT, self.timeout, || async {
            match self.ac().get_action_result(request.clone()).await {
                Ok(response) => Ok(Some(response.into_inner())),
                Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
                Err(status) => Err(self.status(WHAT, &status)),
            }
        })
    }

    pub(crate) fn update_action_result(
        &self,
        action: &Dg,
        result: re::ActionResult,
    ) -> Result<(), RpcError> {
        const WHAT: &str = "UpdateActionResult";
        let request = re::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.to_proto()),
            action_result: Some(result),
            digest_function: self.caps.digest_function,
            ..Default::default()
        };
        self.run_retrying(WHAT, self.timeout, || async {
            self.ac()
                .update_action_result(request.clone())
                .await
                .map(|_| ())
                .map_err(|status| self.status(WHAT, &status))
        })
    }

    /// Which of `digests` the server lacks.
    pub(crate) fn find_missing(&self, digests: &[Dg]) -> Result<Vec<Dg>, RpcError> {
        const WHAT: &str = "FindMissingBlobs";
        let mut missing = Vec::new();
        for chunk in digests.chunks(batch::MAX_PER_BATCH) {
            let request = re::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: chunk.iter().map(Dg::to_proto).collect(),
                digest_function: self.caps.digest_function,
            };
            let response = self.run_retrying(WHAT, self.timeout, || async {
                self.cas()
                    .find_missing_blobs(request.clone())
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|status| self.status(WHAT, &status))
            })?;
            for digest in &response.missing_blob_digests {
                let digest = Dg::from_proto(digest)
                    .ok_or_else(|| self.protocol(WHAT, "the server named a malformed digest"))?;
                missing.push(digest);
            }
        }
        Ok(missing)
    }

    /// Stores blobs in one request (the caller keeps it under the limit).
    pub(crate) fn batch_update(&self, blobs: Vec<(Dg, Vec<u8>)>) -> Result<(), RpcError> {
        const WHAT: &str = "BatchUpdateBlobs";
        let bytes: u64 = blobs.iter().map(|(d, _)| d.size).sum();
        let request = re::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests: blobs
                .into_iter()
                .map(|(digest, data)| re::batch_update_blobs_request::Request {
                    digest: Some(digest.to_proto()),
                    data,
                    compressor: 0,
                })
                .collect(),
            digest_function: self.caps.digest_function,
        };
        let response = self.run_retrying(WHAT, allowance(self.timeout, bytes), || async {
            self.cas()
                .batch_update_blobs(request.clone())
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| self.status(WHAT, &status))
        })?;
        for blob in &response.responses {
            if let Some(status) = blob.status.as_ref().filter(|s| s.code != 0) {
                let code = tonic::Code::from_i32(status.code);
                let status = tonic::Status::new(code, status.message.clone());
                return Err(self.status(WHAT, &status));
            }
        }
        Ok(())
    }

    /// Reads blobs in one request; each comes back with its bytes or the
    /// server's status code for it (NOT_FOUND for a missing one).
    pub(crate) fn batch_read(&self, digests: &[Dg]) -> Result<BatchRead, RpcError> {
        const WHAT: &str = "BatchReadBlobs";
        let bytes: u64 = digests.iter().map(|d| d.size).sum();
        let request = re::BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: digests.iter().map(Dg::to_proto).collect(),
            acceptable_compressors: Vec::new(),
            digest_function: self.caps.digest_function,
        };
        let response = self.run_retrying(WHAT, allowance(self.timeout, bytes), || async {
            self.cas()
                .batch_read_blobs(request.clone())
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| self.status(WHAT, &status))
        })?;
        let mut out = Vec::with_capacity(response.responses.len());
        for blob in response.responses {
            let digest = blob
                .digest
                .as_ref()
                .and_then(Dg::from_proto)
                .ok_or_else(|| self.protocol(WHAT, "the server named a malformed digest"))?;
            let code = blob.status.as_ref().map_or(0, |s| s.code);
            out.push((digest, if code == 0 { Ok(blob.data) } else { Err(code) }));
        }
        Ok(out)
    }

    fn resource(&self, tail: String) -> String {
        if self.instance.is_empty() {
            tail
        } else {
            format!("{}/{tail}", self.instance)
        }
    }

    /// Streams a blob into `out`, returning its sha256 and size as received,
    /// or `None` when the server does not have it. Reading stops a byte past
    /// the expected size: a longer blob is a mismatch, not a flood. A stream
    /// the server turns away for now (UNAVAILABLE, RESOURCE_EXHAUSTED) or
    /// whose connection breaks is opened again where it stopped, as unary
    /// calls are retried.
    pub(crate) fn read_stream(
        &self,
        digest: &Dg,
        out: &mut dyn Write,
        target: &Path,
    ) -> Result<Option<Dg>, RpcError> {
        const WHAT: &str = "ByteStream.Read";
        let resource_name = self.resource(format!("blobs/{}/{}", digest.hash, digest.size));
        let limit = allowance(self.timeout * 2, digest.size);
        self.run(WHAT, limit, async {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut retries = 0;
            'open: loop {
                let request = bs::ReadRequest {
                    resource_name: resource_name.clone(),
                    read_offset: i64::try_from(size).unwrap_or(i64::MAX),
                    read_limit: 0,
                };
                // The stream ends whole (`break 'open`) or with the status
                // it failed with, whether on opening or half-way.
                let failed = match self.bytestream().read(request).await {
                    Err(status) => status,
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        loop {
                            let message = match stream.message().await {
                                Ok(Some(message)) => message,
                                Ok(None) => break 'open,
                                Err(status) => break status,
                            };
                            size += message.data.len() as u64;
                            if size > digest.size {
                                break 'open;
                            }
                            hasher.update(&message.data);
                            out.write_all(&message.data)
                                .map_err(|source| RpcError::Local {
                                    path: target.to_path_buf(),
                                    source,
                                })?;
                        }
                    }
                };
                if failed.code() == tonic::Code::NotFound && size == 0 {
                    return Ok(None);
                }
                if transient(code_of(&failed)) && retries < RETRIES {
                    retries += 1;
                    tokio::time::sleep(RETRY_PAUSE * 2u32.pow(retries - 1)).await;
                    continue;
                }
                return Err(self.status(WHAT, &failed));
            }
            Ok(Some(Dg {
                hash: hex(&hasher.finalize()),
                size,
            }))
        })
    }

    /// Uploads the bytes of `path` from `offset` whose digest is `digest`
    /// over ByteStream; a write the
    /// server turns away for now, or whose connection breaks, is sent again,
    /// whole, under a new upload id.
    pub(crate) fn write_stream(
        &self,
        digest: &Dg,
        path: &Path,
        offset: u64,
    ) -> Result<(), RpcError> {
        let mut pause = RETRY_PAUSE;
        for _ in 0..RETRIES {
            match self.write_stream_once(digest, path, offset) {
                Err(err) if err.code().is_some_and(transient) => {
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                done => return done,
            }
        }
        self.write_stream_once(digest, path, offset)
    }

    fn write_stream_once(&self, digest: &Dg, path: &Path, offset: u64) -> Result<(), RpcError> {
        const WHAT: &str = "ByteStream.Write";
        let local = |source| RpcError::Local {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(local)?;
        // A blob in a pack starts at its artifact's offset.
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).map_err(local)?;
        let error = Arc::new(Mutex::new(None));
        let chunks = FileChunks {
            file,
            resource: Some(self.resource(format!(
                "uploads/{}/blobs/{}/{}",
                upload_id(),
                digest.hash,
                digest.size
            ))),
            offset: 0,
            size: digest.size,
            done: false,
            error: Arc::clone(&error),
        };
        let limit = allowance(self.timeout * 2, digest.size);
        let result = self.run(WHAT, limit, async {
            self.bytestream()
                .write(tokio_stream::iter(chunks))
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| self.status(WHAT, &status))
        });
        if let Some(source) = error.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(RpcError::Local {
                path: path.to_path_buf(),
                source,
            });
        }
        let response = result?;
        // -1: the server already had the blob (and the stream was cut short).
        let committed = response.committed_size;
        if committed != -1 && u64::try_from(committed).ok() != Some(digest.size) {
            return Err(self.protocol(
                WHAT,
                format!("the server committed {committed} of {} bytes", digest.size),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_uuids_and_unique() {
        let a = upload_id();
        let b = upload_id();
        assert_ne!(a, b);
        let lens: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12], "{a}");
        assert_eq!(&a[14..15], "4", "version 4: {a}");
    }

    #[test]
    fn file_chunks_cover_the_file_and_finish_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..(CHUNK * 2 + 10)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let error = Arc::new(Mutex::new(None));
        let chunks: Vec<bs::WriteRequest> = FileChunks {
            file: std::fs::File::open(&path).unwrap(),
            resource: Some("uploads/x/blobs/h/1".into()),
            offset: 0,
            size: data.len() as u64,
            done: false,
            error: Arc::clone(&error),
        }
        .collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].resource_name, "uploads/x/blobs/h/1");
        assert!(chunks[1].resource_name.is_empty());
        assert_eq!(chunks[2].write_offset, (CHUNK * 2) as i64);
        let finished: Vec<bool> = chunks.iter().map(|c| c.finish_write).collect();
        assert_eq!(finished, [false, false, true]);
        let joined: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        assert_eq!(joined, data);
        assert!(error.lock().unwrap().is_none());

        // A file shorter than its digest says ends the stream unfinished.
        let short: Vec<bs::WriteRequest> = FileChunks {
            file: std::fs::File::open(&path).unwrap(),
            resource: None,
            offset: 0,
            size: data.len() as u64 + 5,
            done: false,
            error: Arc::clone(&error),
        }
        .collect();
        assert!(short.iter().all(|c| !c.finish_write));
        assert!(error.lock().unwrap().is_some());
    }

    #[test]
    fn a_broken_connection_is_unavailable_and_a_servers_unknown_is_not() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let cut = tonic::Status::from_error(Box::new(reset));
        assert_eq!(cut.code(), tonic::Code::Unknown, "what tonic says");
        assert_eq!(code_of(&cut), tonic::Code::Unavailable);
        assert!(transient(code_of(&cut)));
        let sent = tonic::Status::unknown("the server's own failure");
        assert_eq!(code_of(&sent), tonic::Code::Unknown);
        assert!(!transient(code_of(&sent)));
    }

    #[test]
    fn allowances_grow_with_size() {
        let base = Duration::from_secs(2);
        assert_eq!(allowance(base, 10), base);
        assert_eq!(allowance(base, 100 * 1024 * 1024), Duration::from_secs(102));
    }
}
