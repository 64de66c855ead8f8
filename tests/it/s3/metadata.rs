//! A credential endpoint on loopback, strict about the protocol: EC2
//! instance metadata with IMDSv2 session tokens (a GET without the token
//! the server handed out is refused, as on an instance that requires
//! IMDSv2), and the ECS container endpoint, which wants its authorization
//! token. It hands out the keys of the test S3 server, so a hit proves the
//! whole exchange.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::server::{ACCESS_KEY, SECRET_KEY};

pub(crate) const IMDS_TOKEN: &str = "imds-session-8c1f5e7a";
pub(crate) const ROLE: &str = "qik-ci-role";
pub(crate) const SESSION_TOKEN: &str = "session-token-from-metadata-4b9d";
pub(crate) const ECS_AUTH: &str = "ecs-authorization-2e6a90";
pub(crate) const ECS_PATH: &str = "/v2/credentials/qik-task";

/// What the server saw, for the tests to check.
#[derive(Default, Debug)]
pub(crate) struct Seen {
    pub(crate) token_puts: usize,
    pub(crate) credential_gets: usize,
    /// Requests refused: metadata without the session token, ECS without
    /// the authorization.
    pub(crate) refused: usize,
}

pub(crate) struct MetadataServer {
    pub(crate) port: u16,
    pub(crate) seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetadataServer {
    pub(crate) fn start() -> MetadataServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let seen = Arc::clone(&seen);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &seen),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        MetadataServer {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn credentials_json(token: &str) -> String {
    format!(
        "{{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"{ACCESS_KEY}\",\
         \"SecretAccessKey\":\"{SECRET_KEY}\",\"Token\":\"{token}\",\
         \"Expiration\":\"2999-01-01T00:00:00Z\",\"LastUpdated\":\"2020-01-01T00:00:00Z\"}}"
    )
}

/// One request per connection (the answer closes it).
fn serve(stream: TcpStream, seen: &Mutex<Seen>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut seen = seen.lock().unwrap();
    let (status, body) = match (method.as_str(), path.as_str()) {
        ("PUT", "/latest/api/token") => {
            if header("x-aws-ec2-metadata-token-ttl-seconds").is_some() {
                seen.token_puts += 1;
                (200, IMDS_TOKEN.to_string())
            } else {
                seen.refused += 1;
                (400, String::new())
            }
        }
        ("GET", p) if p.starts_with("/latest/") => {
            if header("x-aws-ec2-metadata-token") != Some(IMDS_TOKEN) {
                seen.refused += 1;
                (401, String::new())
            } else if p == "/latest/meta-data/iam/security-credentials/" {
                (200, ROLE.to_string())
            } else if p == format!("/latest/meta-data/iam/security-credentials/{ROLE}") {
                seen.credential_gets += 1;
                (200, credentials_json(SESSION_TOKEN))
            } else {
                (404, String::new())
            }
        }
        ("GET", ECS_PATH) => {
            if header("authorization") == Some(ECS_AUTH) {
                seen.credential_gets += 1;
                (200, credentials_json(SESSION_TOKEN))
            } else {
                seen.refused += 1;
                (401, String::new())
            }
        }
        _ => (404, String::new()),
    };
    drop(seen);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    // A token's answer says how long it lives, as IMDS does.
    let ttl = if path == "/latest/api/token" && status == 200 {
        "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"
    } else {
        ""
    };
    let _ = write!(
        &stream,
        "HTTP/1.1 {status} {reason}\r\n{ttl}Content-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
