//! A fault-injecting HTTP proxy on loopback, in front of the test server.
//!
//! It understands just enough HTTP/1.1 for this client: it reads a request
//! head and its `Content-Length` body, forwards them with `Connection: close`
//! (one exchange per connection keeps the parsing trivial), and streams the
//! answer back, breaking it on the way as the current [`Fault`] says. It logs
//! each request's method and path (never the query: that holds the
//! signature) plus the names of its query parameters.
//!
//! Every loop is bounded: accepts poll a stop flag, sockets have timeouts, and
//! a hanging or slow answer gives up after [`MAX_STALL`].

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a connection is held open on purpose.
const MAX_STALL: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_HEAD: usize = 64 * 1024;

/// What happens to the matching requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forward untouched.
    Pass,
    /// Accept the request, never answer.
    Hang,
    /// Answer slowly: a few bytes at a time with pauses.
    Slow,
    /// Answer with this status and an S3 error document.
    Status(u16),
    /// Close the connection with a TCP reset.
    Reset,
    /// Send the head and half the body, then close.
    Truncate,
    /// Flip a byte in the middle of the body.
    Corrupt,
}

#[derive(Clone, Debug)]
struct Rule {
    fault: Fault,
    /// Only requests with this method (`GET`, `PUT`, ...); `None` for all.
    method: Option<&'static str>,
    /// How many more requests get the fault; `None` for all of them.
    remaining: Option<usize>,
}

struct State {
    upstream: SocketAddr,
    rule: Mutex<Rule>,
    stop: AtomicBool,
    log: Mutex<Vec<String>>,
}

pub(crate) struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy to `127.0.0.1:<upstream_port>`, passing everything through.
    pub(crate) fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)),
            rule: Mutex::new(Rule {
                fault: Fault::Pass,
                method: None,
                remaining: None,
            }),
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        });
        let workers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let state = Arc::clone(&state);
            let workers = Arc::clone(&workers);
            std::thread::spawn(move || {
                while !state.stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = Arc::clone(&state);
                            let handle = std::thread::spawn(move || {
                                // A broken exchange is the point of some faults.
                                let _ = handle(stream, &state);
                            });
                            workers
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(handle);
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Proxy {
            addr,
            state,
            accept: Some(accept),
            workers,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to every request from now on.
    pub(crate) fn set(&self, fault: Fault) {
        self.set_rule(fault, None, None);
    }

    /// Applies `fault` to requests with `method` only, the next `times` of
    /// them (all when `None`).
    pub(crate) fn set_rule(
        &self,
        fault: Fault,
        method: Option<&'static str>,
        times: Option<usize>,
    ) {
        *self.state.rule.lock().unwrap_or_else(|e| e.into_inner()) = Rule {
            fault,
            method,
            remaining: times,
        };
    }

    /// `METHOD /path ?param,names` of every request so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn clear_log(&self) {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// The fault for a request with `method`, counting it down.
fn fault_for(state: &State, method: &str) -> Fault {
    let mut rule = state.rule.lock().unwrap_or_else(|e| e.into_inner());
    if rule.method.is_some_and(|m| m != method) {
        return Fault::Pass;
    }
    match &mut rule.remaining {
        None => rule.fault,
        Some(0) => Fault::Pass,
        Some(n) => {
            *n -= 1;
            rule.fault
        }
    }
}

/// Reads up to the end of an HTTP head; returns the head and any bytes
/// read past it.
fn read_head(stream: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("head too large"));
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the proxy stops or `limit` passes.
fn stall(state: &State, limit: Duration) {
    let until = Instant::now() + limit;
    while !state.stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn handle(mut client: TcpStream, state: &State) -> io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let (head, mut body) = read_head(&mut client)?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .filter(|name| !name.starts_with("X-Amz-") && !name.is_empty())
        .collect();
    state
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(format!("{method} {path} ?{}", params.join(",")));

    // The whole request body, so the client is never blocked sending it.
    let length = content_length(&head);
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(1 << 20)];
        let read = client.read(&mut chunk)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..read]);
    }

    let fault = fault_for(state, &method);
    match fault {
        Fault::Hang => {
            stall(state, MAX_STALL);
            return Ok(());
        }
        Fault::Reset => {
            // SO_LINGER 0 makes close() send RST instead of FIN.
            let linger = nix::libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            nix::sys::socket::setsockopt(
                &client.as_fd(),
                nix::sys::socket::sockopt::Linger,
                &linger,
            )
            .map_err(io::Error::from)?;
            drop(client);
            return Ok(());
        }
        Fault::Status(code) => {
            let document = match code {
                503 => {
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                }
                _ => {
                    "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
                }
            };
            write!(
                client,
                "HTTP/1.1 {code} Fault\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{document}",
                document.len()
            )?;
            return Ok(());
        }
        _ => {}
    }

    let mut upstream = TcpStream::connect_timeout(&state.upstream, Duration::from_secs(5))?;
    upstream.set_read_timeout(Some(IO_TIMEOUT))?;
    upstream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut forwarded = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        if i > 0
            && line
                .split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection"))
        {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes())?;
    upstream.write_all(&body)?;

    let (response_head, mut rest) = read_head(&mut upstream)?;
    let body_length = content_length(&String::from_utf8_lossy(&response_head));
    client.write_all(&response_head)?;
    let mut sent = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    let started = Instant::now();
    loop {
        let mut data = if rest.is_empty() {
            let read = upstream.read(&mut chunk)?;
            if read == 0 {
                break;
            }
            chunk[..read].to_vec()
        } else {
            std::mem::take(&mut rest)
        };
        match fault {
            Fault::Truncate => {
                let keep = (body_length / 2).saturating_sub(sent).min(data.len());
                client.write_all(&data[..keep])?;
                client.flush()?;
                // FIN before the promised length: a truncated body.
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Fault::Corrupt => {
                let middle = body_length / 2;
                if (sent..sent + data.len()).contains(&middle) {
                    data[middle - sent] ^= 0x20;
                }
                client.write_all(&data)?;
            }
            Fault::Slow => {
                for piece in data.chunks(16) {
                    if state.stop.load(Ordering::Relaxed) || started.elapsed() > MAX_STALL {
                        return Ok(());
                    }
                    client.write_all(piece)?;
                    client.flush()?;
                    std::thread::sleep(Duration::from_millis(150));
                }
            }
            _ => client.write_all(&data)?,
        }
        sent += data.len();
    }
    client.flush()
}
