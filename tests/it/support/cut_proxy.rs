//! A TCP proxy on loopback that forwards bytes both ways and, on cue, cuts
//! a connection once it has carried so many bytes one way: a network (or a
//! load balancer) dropping a connection in the middle of a transfer. It
//! knows nothing of the protocol, and counts what it forwards.
//!
//! Every connection ends when either side closes it or the proxy is dropped
//! (reads time out and look at a stop flag).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Which way bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Way {
    /// Server to client (a download).
    Down,
    /// Client to server (an upload).
    Up,
}

/// Cut connections after `after` bytes going `way` on one connection, the
/// next `times` times (every time when `None`).
#[derive(Clone, Copy, Debug)]
struct Cue {
    way: Way,
    after: u64,
    times: Option<usize>,
}

struct State {
    upstream: SocketAddr,
    stop: AtomicBool,
    cue: Mutex<Option<Cue>>,
    down: AtomicU64,
    up: AtomicU64,
    cuts: AtomicUsize,
}

impl State {
    /// Whether a connection that has carried `carried` bytes `way` must be
    /// cut now, counting the cut.
    fn cut_due(&self, way: Way, carried: u64) -> bool {
        let mut cue = self.cue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = cue.as_mut() else { return false };
        if c.way != way || carried < c.after || c.times == Some(0) {
            return false;
        }
        if let Some(n) = c.times.as_mut() {
            *n -= 1;
        }
        self.cuts.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn counter(&self, way: Way) -> &AtomicU64 {
        match way {
            Way::Down => &self.down,
            Way::Up => &self.up,
        }
    }
}

pub(crate) struct CutProxy {
    addr: SocketAddr,
    state: Arc<State>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl CutProxy {
    /// A proxy to `127.0.0.1:<upstream_port>` that forwards everything.
    pub(crate) fn start(upstream_port: u16) -> CutProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)),
            stop: AtomicBool::new(false),
            cue: Mutex::new(None),
            down: AtomicU64::new(0),
            up: AtomicU64::new(0),
            cuts: AtomicUsize::new(0),
        });
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let state = Arc::clone(&state);
            let threads = Arc::clone(&threads);
            std::thread::spawn(move || {
                while !state.stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            // A connection the upstream refuses is closed.
                            let _ = connect(client, &state, &threads);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(accept);
        CutProxy {
            addr,
            state,
            threads,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("grpc://{}", self.addr)
    }

    /// From now on, cut a connection once it has carried `after` bytes
    /// `way`, `times` times in all (every time when `None`).
    pub(crate) fn cut(&self, way: Way, after: u64, times: Option<usize>) {
        *self.state.cue.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cue { way, after, times });
    }

    /// Bytes forwarded `way` so far, over all connections.
    pub(crate) fn bytes(&self, way: Way) -> u64 {
        self.state.counter(way).load(Ordering::Relaxed)
    }

    /// Connections cut so far.
    pub(crate) fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Connects `client` to the upstream and pumps both ways, a thread each.
fn connect(
    client: TcpStream,
    state: &Arc<State>,
    threads: &Mutex<Vec<JoinHandle<()>>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect_timeout(&state.upstream, Duration::from_secs(5))?;
    for stream in [&client, &server] {
        stream.set_nodelay(true)?;
        // Reads wake up to see whether the proxy stops.
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    }
    let conn = Arc::new(Conn {
        client,
        server,
        cut: AtomicBool::new(false),
    });
    let mut threads = threads.lock().unwrap_or_else(|e| e.into_inner());
    for way in [Way::Down, Way::Up] {
        let state = Arc::clone(state);
        let conn = Arc::clone(&conn);
        threads.push(std::thread::spawn(move || pump(&conn, way, &state)));
    }
    Ok(())
}

/// One proxied connection: its two ends, and whether it was cut.
struct Conn {
    client: TcpStream,
    server: TcpStream,
    cut: AtomicBool,
}

impl Conn {
    /// Resets both ends, as a crashed peer or a dropped route would:
    /// SO_LINGER 0 makes the last close send RST (never FIN), and shutting
    /// down the read side wakes the other pump, which then lets go.
    fn reset(&self) {
        self.cut.store(true, Ordering::Relaxed);
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        for end in [&self.client, &self.server] {
            let _ = nix::sys::socket::setsockopt(
                &end.as_fd(),
                nix::sys::socket::sockopt::Linger,
                &linger,
            );
            let _ = end.shutdown(Shutdown::Read);
        }
    }
}

/// Forwards one way until either end closes; on cue, resets both.
fn pump(conn: &Conn, way: Way, state: &State) {
    let (mut from, mut to) = match way {
        Way::Down => (&conn.server, &conn.client),
        Way::Up => (&conn.client, &conn.server),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut carried = 0u64;
    while !state.stop.load(Ordering::Relaxed) {
        let read = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        if to.write_all(&buf[..read]).is_err() {
            break;
        }
        carried += read as u64;
        state.counter(way).fetch_add(read as u64, Ordering::Relaxed);
        if state.cut_due(way, carried) {
            conn.reset();
            return;
        }
    }
    // A close passes on to the other end (and stops the other way); a cut
    // connection only resets.
    if !conn.cut.load(Ordering::Relaxed) {
        let _ = conn.client.shutdown(Shutdown::Both);
        let _ = conn.server.shutdown(Shutdown::Both);
    }
}
