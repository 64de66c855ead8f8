//! Signed S3 requests: rusty-s3 signs them (SigV4 in the query string), ureq
//! sends them.
//!
//! A presigned URL carries the signature, the access key id and the session
//! token, so no URL ever reaches an error or a message: errors name the
//! operation, the object key and the endpoint's origin, and ureq's own errors
//! are reduced to fixed descriptions before they are shown.
//!
//! Bodies stream: downloads go through a hashing writer to disk, uploads are
//! read from files, and only small, bounded bodies (seals, manifests, error
//! documents, listings) are held in memory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusty_s3::actions::CreateMultipartUpload;
use rusty_s3::{Bucket, Credentials, S3Action};

use crate::creds::{Auth, Trust};
use ureq::Agent;
use ureq::http::Response;

/// How long a signature stays valid: longer than any request may take.
const SIGNED_FOR: Duration = Duration::from_secs(60 * 60);
/// Transfers slower than this on average are abandoned: a cache that slow
/// costs more than running the command.
const MIN_BYTES_PER_SEC: u64 = 1024 * 1024;
/// Files above this size are uploaded in parts.
pub(crate) const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// S3 needs parts of at least 5 MiB (but the last) and at most 10,000 parts.
const PART_SIZE: u64 = 16 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Error documents and listings are small; anything bigger is not S3.
const SMALL_BODY: u64 = 4 * 1024 * 1024;
/// A listing that goes on longer than this is a misbehaving server.
const MAX_LIST_PAGES: usize = 10_000;
/// Pause before the one retry of a read that got a 5xx.
const RETRY_BACKOFF: Duration = Duration::from_millis(300);

/// A failed exchange with the server. Never holds a URL or a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum S3Error {
    #[error("cannot connect to {origin} ({reason})")]
    Unreachable { origin: String, reason: String },
    #[error("{op} `{key}`: {origin} did not answer in time ({phase} timeout)")]
    Timeout {
        op: &'static str,
        key: String,
        origin: String,
        phase: String,
    },
    #[error("{op} `{key}`: the connection to {origin} broke ({reason})")]
    Broken {
        op: &'static str,
        key: String,
        origin: String,
        reason: String,
    },
    #[error("{op} `{key}`: {origin} answered HTTP {status}{}{}", code_suffix(.code), explain(*.status, .code))]
    Status {
        op: &'static str,
        key: String,
        origin: String,
        status: u16,
        code: Option<String>,
    },
    #[error("{op} `{key}`: {origin} sent an answer that is not S3's ({what})")]
    Protocol {
        op: &'static str,
        key: String,
        origin: String,
        what: &'static str,
    },
    #[error("cannot use {}: {source}", .path.display())]
    Local { path: PathBuf, source: io::Error },
    /// No credentials to sign with; the message names where qik looked.
    #[error("{0}")]
    Credentials(String),
}

/// A TLS failure users can act on, in fixed words.
fn tls_reason(err: &rustls::Error) -> &'static str {
    match err {
        rustls::Error::InvalidCertificate(_) => {
            "TLS failed: the server's certificate is not trusted; for a private CA set `ca-file` or AWS_CA_BUNDLE"
        }
        _ => "TLS failed",
    }
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
}

/// A hint for the answers users can act on.
fn explain(status: u16, code: &Option<String>) -> &'static str {
    match (status, code.as_deref()) {
        (
            _,
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "InvalidToken"
                | "ExpiredToken"
                | "NotSignedUp",
            ),
        ) => {
            ": the credentials were refused; check aws-access-key-id and aws-secret-access-key, or what the AWS chain found (AWS_PROFILE, AWS_* variables, roles)"
        }
        (_, Some("NoSuchBucket")) => {
            ": the bucket does not exist; check `bucket` and `endpoint-url`"
        }
        (_, Some("AccessDenied")) | (403, _) => {
            ": access denied; check the credentials and the bucket's policy"
        }
        (301 | 307 | 308, _) | (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed")) => {
            ": the bucket is in another region; set `region-name`"
        }
        _ => "",
    }
}

/// What a download received: the digest and size of the bytes written.
pub(crate) struct Received {
    pub(crate) digest: String,
    pub(crate) size: u64,
}

/// One S3 bucket, with the agent that talks to it.
pub(crate) struct Client {
    agent: Agent,
    bucket: Bucket,
    auth: Auth,
    timeout: Duration,
    /// `scheme://host:port` of the endpoint, for messages.
    origin: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials stay out of debug output.
        f.debug_struct("Client")
            .field("origin", &self.origin)
            .field("bucket", &self.bucket.name())
            .finish_non_exhaustive()
    }
}

/// The whole time a request moving `bytes` may take: twice `timeout` for the
/// exchange itself, plus what the slowest acceptable rate needs for the body.
fn budget(timeout: Duration, bytes: u64) -> Duration {
    timeout * 2 + Duration::from_secs(bytes / MIN_BYTES_PER_SEC)
}

impl Client {
    pub(crate) fn new(
        bucket: Bucket,
        auth: Auth,
        trust: &Trust,
        timeout: Duration,
        origin: String,
    ) -> Client {
        // Plain HTTP needs no roots; reading the system's costs a few ms.
        let tls = if origin.starts_with("https:") {
            trust.ureq_config()
        } else {
            ureq::tls::TlsConfig::default()
        };
        let agent = Agent::config_builder()
            // Statuses are ours to interpret (404 is a miss, 5xx is retried).
            .http_status_as_error(false)
            // A redirect means a wrong region or endpoint; following it with a
            // presigned URL cannot work, and it must not leak the query.
            .max_redirects(0)
            .timeout_connect(Some(timeout))
            .timeout_send_request(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .max_idle_connections_per_host(8)
            // Bodies are hashed byte for byte: no transparent decompression.
            .accept_encoding("identity")
            .user_agent(concat!("qik-s3/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .new_agent();
        Client {
            agent,
            bucket,
            auth,
            timeout,
            origin,
        }
    }

    /// The credentials for the next request; `None` signs nothing.
    fn credentials(&self) -> Result<Option<Credentials>, S3Error> {
        self.auth.current().map_err(S3Error::Credentials)
    }

    /// Sends one request; reads are retried once after a 5xx.
    fn send(
        &self,
        op: &'static str,
        key: &str,
        retry: bool,
        mut attempt: impl FnMut() -> Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>, S3Error> {
        let mut tries = if retry { 2 } else { 1 };
        loop {
            tries -= 1;
            let response = attempt().map_err(|err| self.transport(op, key, err))?;
            if response.status().is_server_error() && tries > 0 {
                std::thread::sleep(RETRY_BACKOFF);
                continue;
            }
            return Ok(response);
        }
    }

    /// An error for a non-success answer, with S3's error code when the body
    /// has one. Only the code is kept: error documents may echo the request,
    /// signature included.
    fn status_error(&self, op: &'static str, key: &str, response: Response<ureq::Body>) -> S3Error {
        let status = response.status().as_u16();
        let code = error_code(response);
        S3Error::Status {
            op,
            key: key.to_string(),
            origin: self.origin.clone(),
            status,
            code,
        }
    }

    fn transport(&self, op: &'static str, key: &str, err: ureq::Error) -> S3Error {
        let origin = self.origin.clone();
        let key = key.to_string();
        match err {
            ureq::Error::Timeout(phase) => S3Error::Timeout {
                op,
                key,
                origin,
                phase: phase.to_string(),
            },
            ureq::Error::Io(io) => self.io_error(op, &key, &io),
            ureq::Error::HostNotFound => S3Error::Unreachable {
                origin,
                reason: "host not found".into(),
            },
            ureq::Error::ConnectionFailed => S3Error::Unreachable {
                origin,
                reason: "connection failed".into(),
            },
            ureq::Error::Rustls(tls) => S3Error::Unreachable {
                origin,
                reason: tls_reason(&tls).into(),
            },
            ureq::Error::Tls(_) | ureq::Error::Pem(_) => S3Error::Unreachable {
                origin,
                reason: "TLS failed".into(),
            },
            ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => S3Error::Protocol {
                op,
                key,
                origin,
                what: "malformed HTTP",
            },
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => S3Error::Status {
                op,
                key,
                origin,
                status: 301,
                code: None,
            },
            // Anything else is a fault of the exchange; its text may hold the
            // URL (`BadUri`), so only a fixed description is kept.
            _ => S3Error::Broken {
                op,
                key,
                origin,
                reason: "HTTP client error".into(),
            },
        }
    }

    fn io_error(&self, op: &'static str, key: &str, io: &io::Error) -> S3Error {
        // ureq wraps its own errors (timeouts while reading a body) in io errors.
        if let Some(ureq::Error::Timeout(phase)) =
            io.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>())
        {
            return S3Error::Timeout {
                op,
                key: key.to_string(),
                origin: self.origin.clone(),
                phase: phase.to_string(),
            };
        }
        let origin = self.origin.clone();
        if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return S3Error::Unreachable {
                origin,
                reason: tls_reason(tls).into(),
            };
        }
        match io.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => S3Error::Unreachable {
                origin,
                reason: io.kind().to_string(),
            },
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => S3Error::Timeout {
                op,
                key: key.to_string(),
                origin,
                phase: "read".into(),
            },
            // The kind's description only: the message could be anything.
            kind => S3Error::Broken {
                op,
                key: key.to_string(),
                origin,
                reason: kind.to_string(),
            },
        }
    }

    /// GETs an object, following a 404 to "missing". `Ok(None)` when the
    /// object does not exist.
    fn get(&self, key: &str, expected: u64) -> Result<Option<Response<ureq::Body>>, S3Error> {
        let credentials = self.credentials()?;
        let url = self
            .bucket
            .get_object(credentials.as_ref(), key)
            .sign(SIGNED_FOR);
        let response = self.send("GET", key, true, || {
            self.agent
                .get(url.as_str())
                .config()
                // A backstop; `read_body` holds the body to a tighter deadline.
                .timeout_global(Some(budget(self.timeout, expected) * 2))
                .build()
                .call()
        })?;
        if response.status().as_u16() == 404 {
            return self.missing("GET", key, response).map(|()| None);
        }
        if !response.status().is_success() {
            return Err(self.status_error("GET", key, response));
        }
        Ok(Some(response))
    }

    /// Streams a body to `sink`, at most `limit + 1` bytes (one more than
    /// allowed shows the body is too long), within a deadline that grows with
    /// the announced size: a server dripping bytes cannot stall a build.
    fn read_body(
        &self,
        key: &str,
        response: Response<ureq::Body>,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), S3Error>,
    ) -> Result<u64, S3Error> {
        let started = Instant::now();
        let announced = response.body().content_length().unwrap_or(limit).min(limit);
        let deadline = budget(self.timeout, announced);
        let mut reader = response.into_body().into_reader().take(limit + 1);
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let read = match reader.read(&mut buf) {
                Ok(0) => return Ok(size),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(self.io_error("GET", key, &err)),
            };
            if started.elapsed() > deadline {
                return Err(S3Error::Timeout {
                    op: "GET",
                    key: key.to_string(),
                    origin: self.origin.clone(),
                    phase: "transfer too slow".into(),
                });
            }
            sink(&buf[..read])?;
            size += read as u64;
        }
    }

    /// GETs a small object whole. `Ok(None)` when it does not exist.
    pub(crate) fn get_small(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, S3Error> {
        let Some(response) = self.get(key, limit)? else {
            return Ok(None);
        };
        let mut body = Vec::new();
        self.read_body(key, response, limit, &mut |data| {
            body.extend_from_slice(data);
            Ok(())
        })?;
        if body.len() as u64 > limit {
            return Err(S3Error::Protocol {
                op: "GET",
                key: key.to_string(),
                origin: self.origin.clone(),
                what: "the object is larger than expected",
            });
        }
        Ok(Some(body))
    }

    /// A 404: `NoSuchKey` is a plain miss; a missing bucket is a fault.
    fn missing(
        &self,
        op: &'static str,
        key: &str,
        response: Response<ureq::Body>,
    ) -> Result<(), S3Error> {
        let code = error_code(response);
        if code.as_deref() == Some("NoSuchBucket") {
            return Err(S3Error::Status {
                op,
                key: key.to_string(),
                origin: self.origin.clone(),
                status: 404,
                code,
            });
        }
        Ok(())
    }

    /// GETs an object of `expected` bytes into `out`, hashing it on the way.
    /// Stops reading one byte past `expected`, so a hostile server cannot
    /// fill the disk; the caller compares size and digest.
    pub(crate) fn get_to(
        &self,
        key: &str,
        expected: u64,
        out: &mut dyn Write,
        out_path: &Path,
    ) -> Result<Option<Received>, S3Error> {
        let Some(response) = self.get(key, expected)? else {
            return Ok(None);
        };
        let mut hasher = blake3::Hasher::new();
        let size = self.read_body(key, response, expected, &mut |data| {
            hasher.update(data);
            out.write_all(data).map_err(|source| S3Error::Local {
                path: out_path.to_path_buf(),
                source,
            })
        })?;
        Ok(Some(Received {
            digest: hasher.finalize().to_hex().to_string(),
            size,
        }))
    }

    /// PUTs bytes held in memory (seals).
    pub(crate) fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), S3Error> {
        let credentials = self.credentials()?;
        let url = self
            .bucket
            .put_object(credentials.as_ref(), key)
            .sign(SIGNED_FOR);
        let response = self.send("PUT", key, false, || {
            self.agent
                .put(url.as_str())
                .config()
                .timeout_global(Some(budget(self.timeout, bytes.len() as u64)))
                .build()
                .send(bytes)
        })?;
        self.expect_success("PUT", key, response).map(drop)
    }

    /// PUTs a file of `size` bytes, in parts above [`MULTIPART_THRESHOLD`].
    pub(crate) fn put_file(
        &self,
        key: &str,
        path: &Path,
        offset: u64,
        size: u64,
    ) -> Result<(), S3Error> {
        let credentials = self.credentials()?;
        if size > MULTIPART_THRESHOLD {
            return self.put_multipart(key, path, offset, size);
        }
        let local = |source| S3Error::Local {
            path: path.to_path_buf(),
            source,
        };
        let url = self
            .bucket
            .put_object(credentials.as_ref(), key)
            .sign(SIGNED_FOR);
        let mut file = open_at(path, offset).map_err(local)?;
        let response = self.send("PUT", key, false, || {
            self.agent
                .put(url.as_str())
                .header("content-length", size.to_string())
                .config()
                .timeout_global(Some(budget(self.timeout, size)))
                .build()
                .send(ureq::SendBody::from_reader(&mut (&mut file).take(size)))
        })?;
        self.expect_success("PUT", key, response).map(drop)
    }

    fn expect_success(
        &self,
        op: &'static str,
        key: &str,
        response: Response<ureq::Body>,
    ) -> Result<Response<ureq::Body>, S3Error> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.status_error(op, key, response))
        }
    }

    fn put_multipart(&self, key: &str, path: &Path, offset: u64, size: u64) -> Result<(), S3Error> {
        let credentials = self.credentials()?;
        let create = self
            .bucket
            .create_multipart_upload(credentials.as_ref(), key);
        let url = create.sign(SIGNED_FOR);
        let response = self.send("POST", key, false, || {
            self.agent
                .post(url.as_str())
                .config()
                .timeout_global(Some(budget(self.timeout, 0)))
                .build()
                .send_empty()
        })?;
        let response = self.expect_success("POST", key, response)?;
        let text = self.small_text("POST", key, response)?;
        let created =
            CreateMultipartUpload::parse_response(&text).map_err(|_| S3Error::Protocol {
                op: "POST",
                key: key.to_string(),
                origin: self.origin.clone(),
                what: "no upload id",
            })?;
        let upload_id = created.upload_id().to_string();
        let result = self.upload_parts(key, path, offset, size, &upload_id);
        if result.is_err() {
            // Best effort: parts of an abandoned upload otherwise linger (and
            // cost) until a lifecycle rule removes them.
            let url = self
                .bucket
                .abort_multipart_upload(credentials.as_ref(), key, &upload_id)
                .sign(SIGNED_FOR);
            let _ = self
                .agent
                .delete(url.as_str())
                .config()
                .timeout_global(Some(self.timeout))
                .build()
                .call();
        }
        result
    }

    fn upload_parts(
        &self,
        key: &str,
        path: &Path,
        start: u64,
        size: u64,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let credentials = self.credentials()?;
        let local = |source| S3Error::Local {
            path: path.to_path_buf(),
            source,
        };
        let part_size = PART_SIZE.max(size.div_ceil(MAX_PARTS));
        let mut file = open_at(path, start).map_err(local)?;
        let mut etags = Vec::new();
        let mut offset = 0u64;
        let mut number: u16 = 1;
        while offset < size {
            let length = part_size.min(size - offset);
            let url = self
                .bucket
                .upload_part(credentials.as_ref(), key, number, upload_id)
                .sign(SIGNED_FOR);
            let response = self.send("PUT", key, false, || {
                self.agent
                    .put(url.as_str())
                    .header("content-length", length.to_string())
                    .config()
                    .timeout_global(Some(budget(self.timeout, length)))
                    .build()
                    .send(ureq::SendBody::from_reader(&mut (&mut file).take(length)))
            })?;
            let response = self.expect_success("PUT", key, response)?;
            let etag = response
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| S3Error::Protocol {
                    op: "PUT",
                    key: key.to_string(),
                    origin: self.origin.clone(),
                    what: "a part without an ETag",
                })?;
            etags.push(etag);
            offset += length;
            number = number.checked_add(1).ok_or_else(|| S3Error::Protocol {
                op: "PUT",
                key: key.to_string(),
                origin: self.origin.clone(),
                what: "too many parts",
            })?;
        }
        let complete = self.bucket.complete_multipart_upload(
            credentials.as_ref(),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let body = complete.body();
        let response = self.send("POST", key, false, || {
            self.agent
                .post(url.as_str())
                .config()
                .timeout_global(Some(budget(self.timeout, 0)))
                .build()
                .send(body.as_bytes())
        })?;
        let response = self.expect_success("POST", key, response)?;
        // S3 may answer 200 and still report an error in the body.
        let text = self.small_text("POST", key, response)?;
        if text.contains("<Error>") {
            return Err(S3Error::Status {
                op: "POST",
                key: key.to_string(),
                origin: self.origin.clone(),
                status: 200,
                code: extract_code(&text),
            });
        }
        Ok(())
    }

    fn small_text(
        &self,
        op: &'static str,
        key: &str,
        response: Response<ureq::Body>,
    ) -> Result<String, S3Error> {
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .take(SMALL_BODY)
            .read_to_string(&mut text)
            .map_err(|err| self.io_error(op, key, &err))?;
        Ok(text)
    }

    /// Every object under `prefix` with its size, following continuation
    /// tokens (S3 answers at most 1,000 keys per page).
    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, S3Error> {
        let credentials = self.credentials()?;
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut action = self.bucket.list_objects_v2(credentials.as_ref());
            action.with_prefix(prefix);
            if let Some(token) = &token {
                action.with_continuation_token(token.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let response = self.send("LIST", prefix, true, || {
                self.agent
                    .get(url.as_str())
                    .config()
                    .timeout_global(Some(budget(self.timeout, SMALL_BODY)))
                    .build()
                    .call()
            })?;
            let response = self.expect_success("LIST", prefix, response)?;
            let text = self.small_text("LIST", prefix, response)?;
            let page = parse_listing(&text).ok_or_else(|| S3Error::Protocol {
                op: "LIST",
                key: prefix.to_string(),
                origin: self.origin.clone(),
                what: "an unreadable listing",
            })?;
            found.extend(page.objects);
            match page.next {
                // A server repeating its token would loop forever.
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                Some(_) => {
                    return Err(S3Error::Protocol {
                        op: "LIST",
                        key: prefix.to_string(),
                        origin: self.origin.clone(),
                        what: "a listing that repeats itself",
                    });
                }
                None => return Ok(found),
            }
        }
        Err(S3Error::Protocol {
            op: "LIST",
            key: prefix.to_string(),
            origin: self.origin.clone(),
            what: "a listing without end",
        })
    }
}

/// One page of a `ListObjectsV2` answer.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    objects: Vec<(String, u64)>,
    next: Option<String>,
}

/// `<ListBucketResult>`, with only the fields this cache reads: some
/// compatible servers leave out others (`ETag`), so rusty-s3's own parser,
/// which insists on them, is not used.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listing {
    #[serde(default)]
    contents: Vec<Listed>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
    encoding_type: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    key: String,
    size: u64,
}

/// Reads one page of a `ListObjectsV2` answer; `None` if it is not one.
fn parse_listing(text: &str) -> Option<Page> {
    // The deserializer ignores the root's name; an error document must not
    // pass for an empty listing.
    let mut reader = quick_xml::Reader::from_str(text);
    let root = loop {
        match reader.read_event().ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                break e.local_name().as_ref().to_vec();
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    };
    if root != b"ListBucketResult" {
        return None;
    }
    let listing: Listing = quick_xml::de::from_str(text).ok()?;
    let url_encoded = listing.encoding_type.as_deref() == Some("url");
    let mut objects = Vec::with_capacity(listing.contents.len());
    for item in listing.contents {
        let key = if url_encoded {
            percent_encoding::percent_decode_str(&item.key)
                .decode_utf8()
                .ok()?
                .into_owned()
        } else {
            item.key
        };
        objects.push((key, item.size));
    }
    let next = match listing.next_continuation_token {
        Some(token) if !token.is_empty() => Some(token),
        _ if listing.is_truncated => return None,
        _ => None,
    };
    Some(Page { objects, next })
}

/// The `<Code>` of an S3 error document, if the body has one.
fn error_code(response: Response<ureq::Body>) -> Option<String> {
    let mut text = String::new();
    // A body that cannot be read just has no code.
    let _ = response
        .into_body()
        .into_reader()
        .take(64 * 1024)
        .read_to_string(&mut text);
    extract_code(&text)
}

/// Error codes are short identifiers; anything else is not shown.
fn extract_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    let code = &text[start..end];
    (!code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    .then(|| code.to_string())
}

/// `path` opened for reading from `offset` (a blob that is an artifact's
/// range of a cache entry's pack; a whole file is offset 0).
fn open_at(path: &Path, offset: u64) -> std::io::Result<File> {
    let mut file = File::open(path)?;
    if offset != 0 {
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_identifiers_only() {
        assert_eq!(
            extract_code("<Error><Code>NoSuchKey</Code><Message>x</Message></Error>").as_deref(),
            Some("NoSuchKey")
        );
        assert_eq!(extract_code("<Code>has space</Code>"), None);
        assert_eq!(extract_code("<Code>"), None);
        assert_eq!(extract_code("nothing"), None);
    }

    #[test]
    fn status_messages_explain_credentials_without_details() {
        let err = S3Error::Status {
            op: "GET",
            key: "k".into(),
            origin: "http://127.0.0.1:1".into(),
            status: 403,
            code: Some("SignatureDoesNotMatch".into()),
        };
        let text = err.to_string();
        assert!(text.contains("credentials were refused"), "{text}");
        assert!(text.contains("403 SignatureDoesNotMatch"), "{text}");
    }

    #[test]
    fn listings_without_etags_and_with_encoded_keys_parse() {
        let text = "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><IsTruncated>true</IsTruncated>\
            <Contents><Key>a/b%2Fc%27</Key><Size>6</Size></Contents>\
            <Contents><Key>a/d</Key><LastModified>x</LastModified><ETag>&quot;e&quot;</ETag><Size>0</Size></Contents>\
            <NextContinuationToken>t&amp;1</NextContinuationToken><EncodingType>url</EncodingType></ListBucketResult>";
        assert_eq!(
            parse_listing(text).unwrap(),
            Page {
                objects: vec![("a/b/c'".into(), 6), ("a/d".into(), 0)],
                next: Some("t&1".into()),
            }
        );
        let last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(parse_listing(last).unwrap().next, None);
        // Truncated without a token, or not a listing at all: unreadable.
        assert!(
            parse_listing("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
                .is_none()
        );
        assert!(parse_listing("<Error/>").is_none());
        assert!(
            parse_listing("<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>")
                .is_none()
        );
    }

    #[test]
    fn budgets_grow_with_size() {
        let t = Duration::from_secs(2);
        assert_eq!(budget(t, 0), Duration::from_secs(4));
        assert_eq!(budget(t, 50 * MIN_BYTES_PER_SEC), Duration::from_secs(54));
    }
}
