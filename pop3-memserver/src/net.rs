//! Accept loop and connection bookkeeping shared by all servers in this crate.
//!
//! Each server needs the same three things: a loopback listener on its own
//! thread, one small-stack thread per connection, and a way to tear all of it
//! down when the server value is dropped, so a test never leaks threads that
//! keep sockets half-open into the next test.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Stack size for per-connection threads: small enough that thousands of
/// concurrent sessions cost little memory, large enough for the session code.
pub(crate) const SMALL_STACK: usize = 128 * 1024;

/// Stack size for threads that may run a TLS handshake, which needs more room
/// than plain line handling (especially in unoptimised test builds).
pub(crate) const TLS_STACK: usize = 512 * 1024;

/// Locks a mutex, ignoring poisoning: a panicking session thread must not
/// take the whole test server down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sockets of live connections, so they can be shut down when the server is
/// dropped (which unblocks any thread stuck in a read).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    next: AtomicU64,
    stopping: AtomicBool,
    socks: Mutex<HashMap<u64, TcpStream>>,
}

impl Registry {
    /// Registers a clone of `sock`; if the server is already stopping the
    /// socket is shut down at once so the caller's thread ends quickly.
    pub(crate) fn register(self: &Arc<Self>, sock: &TcpStream) -> ConnGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = sock.try_clone() {
            lock(&self.socks).insert(id, clone);
        }
        if self.stopping.load(Ordering::SeqCst) {
            let _ = sock.shutdown(Shutdown::Both);
        }
        ConnGuard {
            registry: Arc::clone(self),
            ids: Mutex::new(vec![id]),
        }
    }

    fn shutdown_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for sock in lock(&self.socks).values() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Removes a connection's sockets from the [`Registry`] when dropped.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    registry: Arc<Registry>,
    ids: Mutex<Vec<u64>>,
}

impl ConnGuard {
    /// Also shut `sock` down when the server stops (used for the upstream
    /// side of a proxied connection).
    pub(crate) fn add(&self, sock: &TcpStream) {
        let id = self.registry.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = sock.try_clone() {
            lock(&self.registry.socks).insert(id, clone);
        }
        lock(&self.ids).push(id);
        if self.registry.stopping() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }

    /// Drops the registry's clones now, so that dropping the caller's own
    /// handle really closes the socket (needed for a reset via `SO_LINGER`).
    pub(crate) fn release(&self) {
        let ids = std::mem::take(&mut *lock(&self.ids));
        let mut socks = lock(&self.registry.socks);
        for id in ids {
            socks.remove(&id);
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.registry.stopping()
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.release();
    }
}

/// A loopback listener whose accept loop runs on its own thread and hands
/// each connection to `handler` on a fresh thread.
#[derive(Debug)]
pub(crate) struct Acceptor {
    addr: SocketAddr,
    registry: Arc<Registry>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    pub(crate) fn start<F>(port: u16, name: &str, stack: usize, handler: F) -> io::Result<Self>
    where
        F: Fn(TcpStream, ConnGuard) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let addr = listener.local_addr()?;
        let registry = Arc::new(Registry::default());
        let reg = Arc::clone(&registry);
        let handler = Arc::new(handler);
        let conn_name = format!("{name}-conn");
        let thread = thread::Builder::new()
            .name(format!("{name}-accept"))
            .stack_size(SMALL_STACK)
            .spawn(move || accept_loop(&listener, &reg, &conn_name, stack, &handler))?;
        Ok(Self {
            addr,
            registry,
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn accept_loop<F>(
    listener: &TcpListener,
    registry: &Arc<Registry>,
    conn_name: &str,
    stack: usize,
    handler: &Arc<F>,
) where
    F: Fn(TcpStream, ConnGuard) + Send + Sync + 'static,
{
    loop {
        let sock = match listener.accept() {
            Ok((sock, _)) => sock,
            Err(_) if registry.stopping() => return,
            Err(_) => {
                // Typically EMFILE under a stress test: back off instead of
                // spinning, the client side will retry or fail on its own.
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        if registry.stopping() {
            return;
        }
        let guard = registry.register(&sock);
        let handler = Arc::clone(handler);
        // If the thread cannot be spawned the closure (and so the socket) is
        // dropped, which closes the connection: the client sees EOF.
        let _ = thread::Builder::new()
            .name(conn_name.to_owned())
            .stack_size(stack)
            .spawn(move || handler(sock, guard));
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.registry.shutdown_all();
        // Wake the blocking accept() with a dummy connection; only wait for
        // the thread if that worked, so drop can never hang.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        // Connections accepted while we were shutting down.
        self.registry.shutdown_all();
    }
}
