//! [`ScriptedServer`]: replays a fixed conversation, for testing how a
//! client copes with odd, broken or hostile servers.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use crate::net::{self, Acceptor, ConnGuard, lock};

/// One step of a server script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write exactly these bytes (in a single write call when possible).
    Send(Vec<u8>),
    /// Write these bytes one at a time, sleeping for the given time after
    /// each byte (the socket has `TCP_NODELAY`, so each byte is its own
    /// segment): tests a client's handling of fragmented reads.
    SendSlowly(Vec<u8>, Duration),
    /// Read one line from the client and compare it with the expectation.
    ///
    /// If the expectation ends with `\n` it is compared with the whole line
    /// including its terminator. Otherwise the line must end with CRLF (a
    /// bare LF is a mismatch) and is compared without it. On a mismatch the
    /// failure is recorded and the connection closed.
    Expect(Vec<u8>),
    /// Read one line (any terminator) and record it without checking it.
    ExpectAny,
    /// Shut the socket down in both directions (the client sees EOF; over
    /// TLS no `close_notify` is sent, as with a truncation attack).
    Close,
    /// Send a TLS `close_notify` alert (no-op without TLS).
    CloseNotify,
    /// Abort the connection with `SO_LINGER` 0 so the client gets a TCP RST.
    Reset,
    /// Send nothing for this long, keeping the socket open (client input
    /// is still read and recorded meanwhile).
    Stall(Duration),
    /// Perform a server-side TLS handshake; all later steps run over TLS.
    /// Any client bytes not yet consumed by an `Expect` are treated as the
    /// start of the handshake (where a client that pipelined plaintext after
    /// `STLS` would be caught).
    StartTls(Arc<rustls::ServerConfig>),
    /// Like [`Step::StartTls`], but the ServerHello is rewritten to select
    /// this ALPN protocol instead of the one rustls chose: a server that
    /// selects a protocol the client did not offer, which rustls cannot be
    /// configured to be. The configuration must be TLS 1.2 only (in TLS 1.3
    /// the choice travels encrypted) and must select a protocol of the same
    /// length as this one: e.g.
    /// [`TestCert::tls12_server_config_with_alpn`](crate::tls::TestCert::tls12_server_config_with_alpn)
    /// selecting `pop3`, rewritten to `imap`. The client should abort at the
    /// ServerHello; a client that does not is caught by the transcript hash.
    StartTlsSelectingAlpn(Arc<rustls::ServerConfig>, Vec<u8>),
    /// Read nothing and send nothing for this long, with the socket's
    /// receive buffer shrunk to a few KiB: whatever the client writes piles
    /// up in the buffers until they are full and its writes block. Then the
    /// server reads (and records) again.
    StopReading(Duration),
    /// Keep the connection open and idle until the client closes it or the
    /// server is dropped. The script counts as finished once reached.
    StallForever,
    /// From here on, answer each line the client sends with what a fresh
    /// [`Responder`] handler returns, until the client closes the connection
    /// or the handler answers [`Answer::SendThenClose`]. For hostile servers
    /// that must follow whatever the client asks, such as one that lies about
    /// a message on every run of a fetcher.
    Serve(Responder),
}

/// What a [`LineHandler`] does with one client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes and read the next line.
    Send(Vec<u8>),
    /// Send these bytes (maybe none), then close the connection (the client
    /// sees EOF, possibly in the middle of a response).
    SendThenClose(Vec<u8>),
}

/// A line handler made fresh for each connection: it gets every client line
/// (its terminator removed) and says what to answer.
pub type LineHandler = Box<dyn FnMut(&[u8]) -> Answer + Send>;

/// Makes a [`LineHandler`] for each connection that reaches [`Step::Serve`];
/// state shared between connections (a mailbox) lives in what it captures.
#[derive(Clone)]
pub struct Responder(Arc<dyn Fn() -> LineHandler + Send + Sync>);

impl Responder {
    /// A responder that calls `new_handler` once per connection.
    pub fn new(new_handler: impl Fn() -> LineHandler + Send + Sync + 'static) -> Self {
        Self(Arc::new(new_handler))
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

/// A builder that makes scripts read like a transcript.
///
/// ```
/// use pop3_memserver::Script;
/// let steps = Script::new()
///     .server("+OK ready\r\n")
///     .client("CAPA")
///     .server("+OK\r\nSTLS\r\n.\r\n")
///     .client("QUIT")
///     .server("+OK bye\r\n")
///     .close()
///     .into_steps();
/// assert_eq!(steps.len(), 6);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Script {
    steps: Vec<Step>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server sends these bytes ([`Step::Send`]).
    #[must_use]
    pub fn server(self, bytes: impl AsRef<[u8]>) -> Self {
        self.step(Step::Send(bytes.as_ref().to_vec()))
    }

    /// The server sends these bytes one by one ([`Step::SendSlowly`]).
    #[must_use]
    pub fn server_slowly(self, bytes: impl AsRef<[u8]>, per_byte: Duration) -> Self {
        self.step(Step::SendSlowly(bytes.as_ref().to_vec(), per_byte))
    }

    /// The client must send this line, CRLF-terminated; give it without the
    /// CRLF ([`Step::Expect`]).
    #[must_use]
    pub fn client(self, line: impl AsRef<[u8]>) -> Self {
        self.step(Step::Expect(line.as_ref().to_vec()))
    }

    /// The client sends some line, whatever it is ([`Step::ExpectAny`]).
    #[must_use]
    pub fn client_any(self) -> Self {
        self.step(Step::ExpectAny)
    }

    /// [`Step::Stall`].
    #[must_use]
    pub fn stall(self, duration: Duration) -> Self {
        self.step(Step::Stall(duration))
    }

    /// [`Step::StallForever`].
    #[must_use]
    pub fn stall_forever(self) -> Self {
        self.step(Step::StallForever)
    }

    /// [`Step::StartTls`].
    #[must_use]
    pub fn start_tls(self, config: Arc<rustls::ServerConfig>) -> Self {
        self.step(Step::StartTls(config))
    }

    /// [`Step::StartTlsSelectingAlpn`].
    #[must_use]
    pub fn start_tls_selecting_alpn(
        self,
        config: Arc<rustls::ServerConfig>,
        protocol: impl AsRef<[u8]>,
    ) -> Self {
        self.step(Step::StartTlsSelectingAlpn(
            config,
            protocol.as_ref().to_vec(),
        ))
    }

    /// [`Step::StopReading`].
    #[must_use]
    pub fn stop_reading(self, duration: Duration) -> Self {
        self.step(Step::StopReading(duration))
    }

    /// [`Step::Close`].
    #[must_use]
    pub fn close(self) -> Self {
        self.step(Step::Close)
    }

    /// [`Step::CloseNotify`].
    #[must_use]
    pub fn close_notify(self) -> Self {
        self.step(Step::CloseNotify)
    }

    /// [`Step::Reset`].
    #[must_use]
    pub fn reset(self) -> Self {
        self.step(Step::Reset)
    }

    /// [`Step::Serve`]: from here on, `new_handler()` answers every line.
    #[must_use]
    pub fn serve(self, new_handler: impl Fn() -> LineHandler + Send + Sync + 'static) -> Self {
        self.step(Step::Serve(Responder::new(new_handler)))
    }

    /// Appends any step.
    #[must_use]
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// The steps built so far.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }
}

impl From<Script> for Vec<Step> {
    fn from(script: Script) -> Self {
        script.steps
    }
}

#[derive(Debug, Default)]
struct Status {
    /// Plaintext received per connection, in accept order.
    transcripts: Vec<Vec<u8>>,
    running: usize,
    finished: usize,
    failures: Vec<String>,
}

#[derive(Debug, Default)]
struct Shared {
    status: Mutex<Status>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut lock(&self.status));
        self.changed.notify_all();
    }
}

/// A server on `127.0.0.1` that plays a fixed [`Script`] to each client
/// (or only to the first one) and records what the clients sent.
///
/// Dropping it stops the listener and closes all connections.
#[derive(Debug)]
pub struct ScriptedServer {
    shared: Arc<Shared>,
    acceptor: Acceptor,
}

impl ScriptedServer {
    /// Starts a server that runs `script` on every accepted connection.
    pub fn start(script: impl Into<Vec<Step>>) -> io::Result<Self> {
        Self::start_inner(script.into(), false)
    }

    /// Starts a server that runs `script` on the first connection only;
    /// later connections are closed at once.
    pub fn start_once(script: impl Into<Vec<Step>>) -> io::Result<Self> {
        Self::start_inner(script.into(), true)
    }

    fn start_inner(steps: Vec<Step>, once: bool) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let sh = Arc::clone(&shared);
        let steps: Arc<[Step]> = steps.into();
        let used = AtomicBool::new(false);
        let acceptor = Acceptor::start(0, "scripted", net::TLS_STACK, move |sock, guard| {
            if once && used.swap(true, Ordering::SeqCst) {
                let _ = sock.shutdown(Shutdown::Both);
                return;
            }
            let index = {
                let mut st = lock(&sh.status);
                st.transcripts.push(Vec::new());
                st.running += 1;
                st.transcripts.len() - 1
            };
            let mut conn = ScriptConn {
                sock,
                tls: None,
                alpn_rewrite: None,
                shared: Arc::clone(&sh),
                index,
                consumed: 0,
                eof: false,
                guard,
            };
            let result = conn.run(&steps);
            conn.finish(result);
        })?;
        Ok(Self { shared, acceptor })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// Everything the clients have sent so far, all connections concatenated
    /// in accept order (decrypted where TLS was used).
    pub fn client_bytes(&self) -> Vec<u8> {
        lock(&self.shared.status).transcripts.concat()
    }

    /// What each connection's client has sent so far, in accept order.
    pub fn transcripts(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.status).transcripts.clone()
    }

    /// The number of connections that ran the script so far.
    pub fn connections(&self) -> usize {
        lock(&self.shared.status).transcripts.len()
    }

    /// Waits until at least one connection has finished the script and none
    /// is still running it; fails at once with a description if any
    /// connection saw a mismatch or an I/O error, or after `timeout`.
    pub fn wait_done(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.shared.status);
        loop {
            if let Some(f) = st.failures.first() {
                return Err(f.clone());
            }
            if st.finished > 0 && st.running == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {timeout:?}: {} connection(s) accepted, {} finished, \
                     client sent {:?}",
                    st.transcripts.len(),
                    st.finished,
                    st.transcripts.concat().escape_ascii().to_string()
                ));
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// How a connection's script ended.
enum End {
    /// All steps ran; keep recording client input until EOF.
    Drain,
    /// The connection was closed or reset by a step.
    Closed,
}

/// Result of waiting for client input.
enum Pump {
    Data,
    Eof,
    TimedOut,
}

struct ScriptConn {
    sock: TcpStream,
    tls: Option<ServerConnection>,
    /// The ALPN protocol the next ServerHello is rewritten to select.
    alpn_rewrite: Option<Vec<u8>>,
    shared: Arc<Shared>,
    index: usize,
    /// How much of this connection's transcript has been consumed as lines.
    consumed: usize,
    eof: bool,
    guard: ConnGuard,
}

impl ScriptConn {
    fn run(&mut self, steps: &[Step]) -> Result<End, String> {
        let _ = self.sock.set_nodelay(true);
        let index = self.index;
        for (i, step) in steps.iter().enumerate() {
            let at = |e: &dyn std::fmt::Display| {
                format!("connection {index}, step {i} ({}): {e}", step_name(step))
            };
            match step {
                Step::Send(bytes) => self.send(bytes).map_err(|e| at(&e))?,
                Step::SendSlowly(bytes, delay) => {
                    for b in bytes {
                        self.send(std::slice::from_ref(b)).map_err(|e| at(&e))?;
                        thread::sleep(*delay);
                    }
                }
                Step::Expect(expected) => {
                    let line = self.read_line().map_err(|e| at(&e))?;
                    let matches = if expected.ends_with(b"\n") {
                        line == *expected
                    } else {
                        line.strip_suffix(b"\r\n") == Some(&expected[..])
                    };
                    if !matches {
                        let msg = format!(
                            "expected {:?}, got {:?}",
                            expected.escape_ascii().to_string(),
                            line.escape_ascii().to_string()
                        );
                        return Err(at(&msg));
                    }
                }
                Step::ExpectAny => {
                    self.read_line().map_err(|e| at(&e))?;
                }
                Step::Close => {
                    self.drain_available();
                    let _ = self.sock.shutdown(Shutdown::Both);
                    return Ok(End::Closed);
                }
                Step::CloseNotify => {
                    if let Some(tls) = &mut self.tls {
                        tls.send_close_notify();
                    }
                    self.write_tls().map_err(|e| at(&e))?;
                }
                Step::Reset => {
                    self.drain_available();
                    let _ = socket2::SockRef::from(&self.sock).set_linger(Some(Duration::ZERO));
                    // Our socket must be the last handle so that closing it
                    // (in `finish`) sends the RST.
                    self.guard.release();
                    return Ok(End::Closed);
                }
                Step::Stall(duration) => {
                    let deadline = Instant::now() + *duration;
                    while Instant::now() < deadline && !self.guard.stopping() {
                        match self.pump(Some(deadline)).map_err(|e| at(&e))? {
                            Pump::Data | Pump::TimedOut => {}
                            Pump::Eof => {
                                thread::sleep(deadline.saturating_duration_since(Instant::now()));
                            }
                        }
                    }
                }
                Step::StartTls(config) => self.start_tls(config).map_err(|e| at(&e))?,
                Step::StartTlsSelectingAlpn(config, protocol) => {
                    self.alpn_rewrite = Some(protocol.clone());
                    self.start_tls(config).map_err(|e| at(&e))?;
                }
                Step::StopReading(duration) => {
                    let _ = socket2::SockRef::from(&self.sock).set_recv_buffer_size(4096);
                    let deadline = Instant::now() + *duration;
                    while Instant::now() < deadline && !self.guard.stopping() {
                        thread::sleep(Duration::from_millis(10).min(deadline - Instant::now()));
                    }
                }
                Step::StallForever => return Ok(End::Drain),
                Step::Serve(responder) => return self.serve(responder).map_err(|e| at(&e)),
            }
        }
        Ok(End::Drain)
    }

    fn finish(mut self, result: Result<End, String>) {
        match result {
            Ok(End::Drain) => {
                self.shared.update(|st| {
                    st.running -= 1;
                    st.finished += 1;
                });
                // Keep recording what the client sends (e.g. a QUIT after
                // the last expected line) until it closes or we are dropped.
                while !self.eof && !self.guard.stopping() {
                    match self.pump(None) {
                        Ok(Pump::Data | Pump::TimedOut) => {}
                        Ok(Pump::Eof) | Err(_) => break,
                    }
                }
                let _ = self.sock.shutdown(Shutdown::Both);
            }
            Ok(End::Closed) => self.shared.update(|st| {
                st.running -= 1;
                st.finished += 1;
            }),
            Err(msg) => {
                self.drain_available();
                let _ = self.sock.shutdown(Shutdown::Both);
                self.shared.update(|st| {
                    st.running -= 1;
                    st.failures.push(msg);
                });
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            None => self.sock.write_all(bytes),
            Some(tls) => {
                tls.writer().write_all(bytes)?;
                self.write_tls()
            }
        }
    }

    fn write_tls(&mut self) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        if let Some(protocol) = &self.alpn_rewrite {
            let mut records = Vec::new();
            while tls.wants_write() {
                tls.write_tls(&mut records)?;
            }
            if select_alpn(&mut records, protocol).is_some() {
                self.alpn_rewrite = None;
            }
            return self.sock.write_all(&records);
        }
        while tls.wants_write() {
            tls.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// Reads one line (terminator included), waiting for more input as
    /// needed.
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            {
                let st = lock(&self.shared.status);
                let pending = &st.transcripts[self.index][self.consumed..];
                if let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                    let line = pending[..=nl].to_vec();
                    self.consumed += nl + 1;
                    return Ok(line);
                }
            }
            if self.eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed the connection",
                ));
            }
            if self.guard.stopping() {
                return Err(io::Error::other("server shut down"));
            }
            self.pump(None)?;
        }
    }

    fn record(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.shared
                .update(|st| st.transcripts[self.index].extend_from_slice(bytes));
        }
    }

    /// Waits (until `deadline`, or indefinitely) for input and records it.
    fn pump(&mut self, deadline: Option<Instant>) -> io::Result<Pump> {
        if self.eof {
            return Ok(Pump::Eof);
        }
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Pump::TimedOut);
                }
                Some(left)
            }
            None => None,
        };
        self.sock.set_read_timeout(timeout)?;
        let mut buf = [0u8; 8192];
        let n = match self.sock.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                return Ok(Pump::Eof);
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Pump::TimedOut);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Pump::Data),
            Err(e) => return Err(e),
        };
        if self.tls.is_some() {
            self.feed_tls(&buf[..n])?;
        } else {
            self.record(&buf[..n]);
        }
        Ok(Pump::Data)
    }

    /// Passes ciphertext to rustls, records any plaintext it yields and
    /// sends whatever rustls wants to send (handshake messages, alerts).
    fn feed_tls(&mut self, mut raw: &[u8]) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        let mut plain = Vec::new();
        let mut closed = false;
        while !raw.is_empty() {
            tls.read_tls(&mut raw)?;
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(&mut self.sock);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS error: {e}"),
                ));
            }
            let mut chunk = [0u8; 4096];
            loop {
                match tls.reader().read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => plain.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        self.record(&plain);
        if closed {
            self.eof = true;
        }
        self.write_tls()
    }

    fn start_tls(&mut self, config: &Arc<rustls::ServerConfig>) -> io::Result<()> {
        if self.tls.is_some() {
            return Err(io::Error::other("TLS already active"));
        }
        self.tls = Some(ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?);
        // Input received but not consumed yet belongs to the handshake.
        let early = {
            let mut st = lock(&self.shared.status);
            st.transcripts[self.index].split_off(self.consumed)
        };
        self.feed_tls(&early)?;
        while self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            if self.guard.stopping() {
                return Err(io::Error::other("server shut down"));
            }
            if let Pump::Eof = self.pump(None)? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed the connection during the TLS handshake",
                ));
            }
        }
        Ok(())
    }

    /// Answers client lines with a fresh handler until the client or the
    /// handler ends the conversation.
    fn serve(&mut self, responder: &Responder) -> io::Result<End> {
        let mut handler = (responder.0)();
        loop {
            let line = match self.read_line() {
                Ok(line) => line,
                Err(_) if self.eof || self.guard.stopping() => return Ok(End::Closed),
                Err(e) => return Err(e),
            };
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match handler(line) {
                Answer::Send(bytes) => self.send(&bytes)?,
                Answer::SendThenClose(bytes) => {
                    self.send(&bytes)?;
                    self.drain_available();
                    let _ = self.sock.shutdown(Shutdown::Both);
                    return Ok(End::Closed);
                }
            }
        }
    }

    /// Records input that has already arrived, without waiting.
    fn drain_available(&mut self) {
        if self.sock.set_nonblocking(true).is_err() {
            return;
        }
        while let Ok(Pump::Data) = self.pump(None) {}
        let _ = self.sock.set_nonblocking(false);
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Send(_) => "Send",
        Step::SendSlowly(..) => "SendSlowly",
        Step::Expect(_) => "Expect",
        Step::ExpectAny => "ExpectAny",
        Step::Close => "Close",
        Step::CloseNotify => "CloseNotify",
        Step::Reset => "Reset",
        Step::Stall(_) => "Stall",
        Step::StartTls(_) => "StartTls",
        Step::StartTlsSelectingAlpn(..) => "StartTlsSelectingAlpn",
        Step::StopReading(_) => "StopReading",
        Step::StallForever => "StallForever",
        Step::Serve(_) => "Serve",
    }
}

/// Rewrites the ALPN protocol selected by the TLS 1.2 ServerHello at the
/// start of `records` to `protocol` (of the same length). `None` when the
/// bytes hold no such ServerHello.
fn select_alpn(records: &mut [u8], protocol: &[u8]) -> Option<()> {
    let u16_at = |b: &[u8], at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    };
    // Record header (type 22, handshake), then a ServerHello (type 2) header.
    if records.first() != Some(&0x16) || records.get(5) != Some(&2) {
        return None;
    }
    // Version, random, session id, cipher suite, compression method.
    let mut at = 9 + 2 + 32;
    at += 1 + usize::from(*records.get(at)?);
    at += 2 + 1;
    let end = at + 2 + u16_at(records, at)?;
    at += 2;
    while at + 4 <= end {
        let kind = u16_at(records, at)?;
        let len = u16_at(records, at + 2)?;
        if kind == 0x0010 {
            // Protocol list length, then the one protocol's length and name.
            let name_len = usize::from(*records.get(at + 6)?);
            if name_len != protocol.len() {
                return None;
            }
            records
                .get_mut(at + 7..at + 7 + name_len)?
                .copy_from_slice(protocol);
            return Some(());
        }
        at += 4 + len;
    }
    None
}
