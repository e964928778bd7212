//! [`LatencyProxy`]: adds a fixed one-way delay to a TCP connection, so
//! round-trip-bound behaviour (pipelining, batching) shows up on loopback,
//! and counts the round trips it sees.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use crate::net::{self, Acceptor, ConnGuard};

/// Chunks in flight per direction; with 64 KiB reads this bounds buffering
/// at 16 MiB while leaving plenty of room for the bandwidth-delay product.
const CHANNEL_CHUNKS: usize = 256;
const CHUNK: usize = 64 * 1024;

enum Chunk {
    Data(Instant, Vec<u8>),
    Eof(Instant),
}

/// A TCP proxy on `127.0.0.1` that forwards every connection to a target
/// and delays each chunk by a fixed time in each direction.
///
/// Each chunk is stamped when read and released at stamp + delay, with
/// reading and writing on separate threads, so order and throughput are
/// preserved and only latency is added: a request/response round trip
/// through the proxy takes at least twice the delay longer.
///
/// It also counts **round trips** as the server's turns to speak: the first
/// bytes from the server on a connection (a greeting, or a TLS server
/// flight), and then each time the server sends after the client has sent
/// something since the server last spoke. A client that waits for every
/// answer makes one per command; a pipelining client, one per write it waits
/// on. The count is of what crossed the proxy, whatever the client is.
///
/// Dropping the proxy stops the listener and closes all proxied connections.
#[derive(Debug)]
pub struct LatencyProxy {
    acceptor: Acceptor,
    delay: Duration,
    round_trips: Arc<AtomicU64>,
}

impl LatencyProxy {
    /// Starts a proxy to `target`, which must be a loopback address (this
    /// crate only ever talks to the local machine).
    pub fn start(target: SocketAddr, delay: Duration) -> io::Result<Self> {
        if !target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "LatencyProxy only forwards to loopback addresses",
            ));
        }
        let round_trips = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&round_trips);
        let acceptor = Acceptor::start(
            0,
            "latency-proxy",
            net::SMALL_STACK,
            move |client, guard| {
                let Ok(upstream) = TcpStream::connect(target) else {
                    return;
                };
                guard.add(&upstream);
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                let guard = Arc::new(guard);
                let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                    return;
                };
                // Whether the client spoke since the server last did; true at the start, so that the server's
                // first bytes count.
                let client_spoke = Arc::new(AtomicBool::new(true));
                let spoke = Arc::clone(&client_spoke);
                pipe(client, u2, delay, &guard, move || {
                    spoke.store(true, Ordering::SeqCst);
                });
                let counter = Arc::clone(&counter);
                pipe(upstream, c2, delay, &guard, move || {
                    if client_spoke.swap(false, Ordering::SeqCst) {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                });
            },
        )?;
        Ok(Self {
            acceptor,
            delay,
            round_trips,
        })
    }

    /// Round trips counted over every connection since the last call (or
    /// the start), and starts counting again from zero.
    pub fn take_round_trips(&self) -> u64 {
        self.round_trips.swap(0, Ordering::SeqCst)
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// The one-way delay added in each direction.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

/// Forwards `src` → `dst` with a reader and a writer thread, calling `on_read` as each chunk is read.
fn pipe(
    src: TcpStream,
    dst: TcpStream,
    delay: Duration,
    guard: &Arc<ConnGuard>,
    on_read: impl Fn() + Send + 'static,
) {
    let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
    let Ok(src2) = src.try_clone() else {
        return;
    };
    let g = Arc::clone(guard);
    let spawned = thread::Builder::new()
        .name("latency-proxy-read".to_owned())
        .stack_size(net::SMALL_STACK)
        .spawn(move || {
            read_side(src, &tx, delay, on_read);
            drop(g);
        });
    if spawned.is_err() {
        return;
    }
    let g = Arc::clone(guard);
    let _ = thread::Builder::new()
        .name("latency-proxy-write".to_owned())
        .stack_size(net::SMALL_STACK)
        .spawn(move || {
            write_side(&rx, &dst, &src2);
            drop(g);
        });
}

fn read_side(mut src: TcpStream, tx: &SyncSender<Chunk>, delay: Duration, on_read: impl Fn()) {
    loop {
        let mut buf = vec![0u8; CHUNK];
        match src.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send(Chunk::Eof(Instant::now() + delay));
                return;
            }
            Ok(n) => {
                on_read();
                buf.truncate(n);
                if tx.send(Chunk::Data(Instant::now() + delay, buf)).is_err() {
                    return;
                }
            }
        }
    }
}

fn write_side(rx: &Receiver<Chunk>, mut dst: &TcpStream, src: &TcpStream) {
    while let Ok(chunk) = rx.recv() {
        let (due, data) = match chunk {
            Chunk::Data(due, data) => (due, Some(data)),
            Chunk::Eof(due) => (due, None),
        };
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        match data {
            Some(data) => {
                if dst.write_all(&data).is_err() {
                    // The receiver is gone: stop the reader of this direction
                    // too, so both threads end.
                    let _ = src.shutdown(Shutdown::Both);
                    let _ = dst.shutdown(Shutdown::Both);
                    return;
                }
            }
            None => {
                let _ = dst.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}
