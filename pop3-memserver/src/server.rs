//! [`MemServer`]: a fast, conforming POP3 server over an in-memory mailbox.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use rustls::{ServerConnection, StreamOwned};

use crate::mailbox::{Mailbox, Message};
use crate::net::{self, Acceptor, ConnGuard, lock};

/// How a [`MemServer`] behaves: accounts, advertised capabilities, optional
/// TLS and protocol toggles.
///
/// Every field is public so tests can flip exactly the knob they care about;
/// `ServerConfig::default()` is a fully featured server with no accounts, and
/// [`ServerConfig::with_user`] adds one.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Accounts: user name → password. Every account sees the same mailbox.
    pub users: BTreeMap<String, String>,
    /// Text of the `+OK` greeting; the APOP timestamp is appended when
    /// [`apop`](Self::apop) is on.
    pub greeting: String,
    /// Capabilities to send verbatim in the `CAPA` response instead of the
    /// list derived from the toggles below (lets a test advertise things the
    /// server does not do).
    pub capabilities: Option<Vec<String>>,
    /// Advertise `PIPELINING` and only flush responses once no further
    /// complete command is buffered. When off, every response is flushed
    /// on its own (commands sent pipelined anyway are still answered).
    pub pipelining: bool,
    /// Support and advertise `UIDL`.
    pub uidl: bool,
    /// Support and advertise `TOP`.
    pub top: bool,
    /// Support `APOP` and put a timestamp in the greeting.
    pub apop: bool,
    /// Support and advertise `USER`/`PASS`.
    pub user_pass: bool,
    /// Support and advertise `AUTH PLAIN` (`SASL PLAIN`).
    pub sasl_plain: bool,
    /// Server TLS configuration; enables `STLS` (or implicit TLS, see
    /// [`implicit_tls`](Self::implicit_tls)).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Start TLS immediately on connect (POP3S, port 995 style) instead of
    /// offering `STLS`. Requires [`tls`](Self::tls).
    pub implicit_tls: bool,
    /// Send bare LF instead of CRLF everywhere, including inside message
    /// bodies, to test a client's tolerance for LF-only servers.
    pub lf_only: bool,
    /// The value of the `IMPLEMENTATION` capability.
    pub implementation: String,
    /// Close sessions that send nothing for this long (RFC 1939's
    /// autologout timer). `None` waits forever.
    pub idle_timeout: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            users: BTreeMap::new(),
            greeting: "POP3 memserver ready".to_owned(),
            capabilities: None,
            pipelining: true,
            uidl: true,
            top: true,
            apop: true,
            user_pass: true,
            sasl_plain: true,
            tls: None,
            implicit_tls: false,
            lf_only: false,
            implementation: concat!("pop3-memserver/", env!("CARGO_PKG_VERSION")).to_owned(),
            idle_timeout: Some(Duration::from_secs(600)),
        }
    }
}

impl ServerConfig {
    /// Adds an account.
    #[must_use]
    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.insert(name.into(), password.into());
        self
    }

    /// Enables `STLS` with the given TLS configuration.
    #[must_use]
    pub fn with_stls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self.implicit_tls = false;
        self
    }

    /// Enables implicit TLS (TLS from the first byte) with the given
    /// configuration.
    #[must_use]
    pub fn with_implicit_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self.implicit_tls = true;
        self
    }

    /// The capability list advertised in the given state, derived from the
    /// toggles unless [`capabilities`](Self::capabilities) overrides it.
    fn capa_lines(&self, authorization: bool, tls_active: bool) -> Vec<String> {
        if let Some(caps) = &self.capabilities {
            return caps.clone();
        }
        let mut caps = Vec::new();
        if self.top {
            caps.push("TOP".to_owned());
        }
        if self.uidl {
            caps.push("UIDL".to_owned());
        }
        if self.user_pass {
            caps.push("USER".to_owned());
        }
        caps.push("RESP-CODES".to_owned());
        if self.pipelining {
            caps.push("PIPELINING".to_owned());
        }
        caps.push("AUTH-RESP-CODE".to_owned());
        if self.sasl_plain {
            caps.push("SASL PLAIN".to_owned());
        }
        if authorization && self.tls.is_some() && !tls_active {
            caps.push("STLS".to_owned());
        }
        caps.push(format!("IMPLEMENTATION {}", self.implementation));
        caps
    }
}

/// Counters for a [`MemServer`], summed over all sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub sessions: u64,
    /// Command lines processed (including SASL continuation lines).
    pub commands: u64,
    /// Octets of message data sent by `RETR` and `TOP`, as on the wire
    /// (dot-stuffed, including the terminating `.` line).
    pub body_bytes: u64,
}

/// A message as the server holds it: raw form, wire form and size, all
/// computed once so `RETR` is a single large write.
#[derive(Debug)]
struct Entry {
    /// Identity that survives other sessions' deletions.
    id: u64,
    message: Message,
    /// Size as reported by `LIST`/`STAT` (in LF-only mode, the size after
    /// CRLF → LF conversion, which is what the client receives).
    size: usize,
    /// Dot-stuffed body plus the terminating `.` line.
    wire: Arc<[u8]>,
}

#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    eol: &'static [u8],
    store: Mutex<Vec<Arc<Entry>>>,
    sessions: AtomicU64,
    commands: AtomicU64,
    body_bytes: AtomicU64,
}

/// A POP3 server on `127.0.0.1` serving a [`Mailbox`] from memory.
///
/// Every account sees the same mailbox, held behind a mutex shared by all
/// sessions: deletions made by a session that ends with `QUIT` are applied
/// (RFC 1939 UPDATE state) and visible to sessions that log in later. Each
/// session works on a snapshot taken at login, so message numbers stay
/// stable for it, and several sessions of the same user may run at once.
///
/// Dropping the server stops the listener and shuts down all open sessions.
#[derive(Debug)]
pub struct MemServer {
    shared: Arc<Shared>,
    acceptor: Acceptor,
}

impl MemServer {
    /// Starts a server on an ephemeral loopback port.
    pub fn start(config: ServerConfig, mailbox: Mailbox) -> io::Result<Self> {
        Self::start_on_port(config, mailbox, 0)
    }

    /// Starts a server on `127.0.0.1:port` (`0` picks a free port).
    pub fn start_on_port(config: ServerConfig, mailbox: Mailbox, port: u16) -> io::Result<Self> {
        if config.implicit_tls && config.tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "implicit_tls needs a TLS configuration",
            ));
        }
        let lf_only = config.lf_only;
        let entries = mailbox
            .messages()
            .iter()
            .enumerate()
            .map(|(i, m)| Arc::new(make_entry(i as u64, m.clone(), lf_only)))
            .collect();
        let stack = if config.tls.is_some() {
            net::TLS_STACK
        } else {
            net::SMALL_STACK
        };
        let shared = Arc::new(Shared {
            eol: if lf_only { b"\n" } else { b"\r\n" },
            config,
            store: Mutex::new(entries),
            sessions: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
        });
        let sh = Arc::clone(&shared);
        let acceptor = Acceptor::start(port, "memserver", stack, move |sock, guard| {
            sh.sessions.fetch_add(1, Ordering::Relaxed);
            run_session(&sh, sock, &guard);
        })?;
        Ok(Self { shared, acceptor })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        Stats {
            sessions: self.shared.sessions.load(Ordering::Relaxed),
            commands: self.shared.commands.load(Ordering::Relaxed),
            body_bytes: self.shared.body_bytes.load(Ordering::Relaxed),
        }
    }

    /// The mailbox as it is now, after the deletions of completed sessions.
    pub fn mailbox(&self) -> Mailbox {
        lock(&self.shared.store)
            .iter()
            .map(|e| e.message.clone())
            .collect()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }
}

fn make_entry(id: u64, message: Message, lf_only: bool) -> Entry {
    let data = message.data();
    let size = if lf_only {
        data.len() - data.windows(2).filter(|w| w == b"\r\n").count()
    } else {
        data.len()
    };
    let mut wire = Vec::with_capacity(data.len() + data.len() / 64 + 8);
    stuff_into(&mut wire, data, lf_only);
    terminate(&mut wire, lf_only);
    Entry {
        id,
        message,
        size,
        wire: wire.into(),
    }
}

/// Appends `data` dot-stuffed (RFC 1939 §3), converting CRLF to LF in
/// LF-only mode. Lines are delimited by LF, so a message with bare LFs is
/// still stuffed correctly.
fn stuff_into(out: &mut Vec<u8>, data: &[u8], lf_only: bool) {
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        match line.strip_suffix(b"\r\n") {
            Some(text) if lf_only => {
                out.extend_from_slice(text);
                out.push(b'\n');
            }
            _ => out.extend_from_slice(line),
        }
    }
}

/// Ends a multi-line response: completes an unterminated last line, then
/// adds the `.` line.
fn terminate(out: &mut Vec<u8>, lf_only: bool) {
    let eol: &[u8] = if lf_only { b"\n" } else { b"\r\n" };
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(eol);
    }
    out.push(b'.');
    out.extend_from_slice(eol);
}

/// The session's connection, plain or TLS; `Closed` only while switching.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    Closed,
}

impl Conn {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Tls(s) => Some(&s.sock),
            Self::Closed => None,
        }
    }

    /// Upgrades a plain connection to TLS and completes the handshake now,
    /// so a failing handshake ends the session at once.
    fn start_tls(&mut self, config: &Arc<rustls::ServerConfig>) -> io::Result<()> {
        let Self::Plain(sock) = std::mem::replace(self, Self::Closed) else {
            return Err(io::Error::other("TLS already active"));
        };
        let conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        *self = Self::Tls(Box::new(stream));
        Ok(())
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
            Self::Closed => Ok(0),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
            Self::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write_vectored(bufs),
            Self::Tls(s) => s.write_vectored(bufs),
            Self::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
            Self::Closed => Ok(()),
        }
    }
}

/// Longest command line accepted (RFC 2449 allows 255 octets for commands,
/// but SASL responses can be longer).
const MAX_LINE: usize = 16 * 1024;

/// Buffered command reader that can tell whether another complete line is
/// already buffered (to decide when to flush pipelined responses) and can
/// discard its buffer (required after `STLS`).
struct LineReader {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl LineReader {
    fn new() -> Self {
        Self {
            buf: vec![0; MAX_LINE].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The next complete line without its terminator (CRLF or bare LF).
    fn next_line(&mut self) -> Option<&[u8]> {
        let pending = &self.buf[self.start..self.end];
        let nl = pending.iter().position(|&b| b == b'\n')?;
        let line = &self.buf[self.start..self.start + nl];
        self.start += nl + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn has_line(&self) -> bool {
        self.buf[self.start..self.end].contains(&b'\n')
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Reads more input; `Ok(false)` on EOF. Errors with `InvalidData` when
    /// a line does not fit the buffer.
    fn fill(&mut self, conn: &mut Conn) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        loop {
            match conn.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Pending output: small responses are gathered in `cur`, message bodies
/// are queued as shared buffers, and everything goes out in one vectored
/// write on flush.
#[derive(Default)]
struct Output {
    cur: Vec<u8>,
    segs: Vec<Seg>,
}

enum Seg {
    Own(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Seg {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Own(v) => v,
            Self::Shared(a) => a,
        }
    }
}

impl Output {
    fn push_shared(&mut self, data: &Arc<[u8]>) {
        if data.len() < 4096 {
            self.cur.extend_from_slice(data);
        } else {
            if !self.cur.is_empty() {
                self.segs.push(Seg::Own(std::mem::take(&mut self.cur)));
            }
            self.segs.push(Seg::Shared(Arc::clone(data)));
        }
    }

    fn flush(&mut self, conn: &mut Conn) -> io::Result<()> {
        if !self.cur.is_empty() {
            self.segs.push(Seg::Own(std::mem::take(&mut self.cur)));
        }
        if self.segs.is_empty() {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> =
            self.segs.iter().map(|s| IoSlice::new(s.bytes())).collect();
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            match conn.write_vectored(bufs) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        drop(slices);
        // Reuse the first small buffer's allocation for the next batch.
        if let Some(Seg::Own(mut v)) = self.segs.drain(..).next() {
            v.clear();
            self.cur = v;
        }
        conn.flush()
    }
}

/// Source of unique APOP timestamps within this process.
static TIMESTAMP_COUNTER: AtomicU64 = AtomicU64::new(1);

enum State {
    Authorization {
        user: Option<String>,
        /// Waiting for the client's response to `AUTH PLAIN`'s `+ ` prompt.
        sasl_pending: bool,
    },
    Transaction {
        snapshot: Vec<Arc<Entry>>,
        deleted: Vec<bool>,
    },
}

/// What the read loop must do after a command.
enum Next {
    Continue,
    Quit,
    StartTls,
}

struct Session<'a> {
    shared: &'a Shared,
    eol: &'static [u8],
    out: Output,
    state: State,
    timestamp: Option<String>,
    tls_active: bool,
}

fn run_session(shared: &Shared, sock: TcpStream, guard: &ConnGuard) {
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(shared.config.idle_timeout);
    let mut conn = Conn::Plain(sock);
    if shared.config.implicit_tls {
        let Some(tls) = &shared.config.tls else {
            return;
        };
        if conn.start_tls(tls).is_err() {
            return;
        }
    }
    let timestamp = shared.config.apop.then(|| {
        format!(
            "<{}.{}@memserver>",
            std::process::id(),
            TIMESTAMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    });
    let mut session = Session {
        shared,
        eol: shared.eol,
        out: Output::default(),
        state: State::Authorization {
            user: None,
            sasl_pending: false,
        },
        timestamp,
        tls_active: shared.config.implicit_tls,
    };
    let _ = session.serve(&mut conn, guard);
    if let Conn::Tls(s) = &mut conn {
        s.conn.send_close_notify();
        let _ = s.flush();
    }
    if let Some(tcp) = conn.tcp() {
        let _ = tcp.shutdown(Shutdown::Both);
    }
}

impl Session<'_> {
    fn serve(&mut self, conn: &mut Conn, guard: &ConnGuard) -> io::Result<()> {
        let mut greeting = format!("+OK {}", self.shared.config.greeting);
        if let Some(ts) = &self.timestamp {
            greeting.push(' ');
            greeting.push_str(ts);
        }
        self.line(&greeting);
        self.out.flush(conn)?;
        let mut reader = LineReader::new();
        loop {
            while let Some(line) = reader.next_line() {
                self.shared.commands.fetch_add(1, Ordering::Relaxed);
                match self.command(line) {
                    Next::Continue => {}
                    Next::Quit => return self.out.flush(conn),
                    Next::StartTls => {
                        self.out.flush(conn)?;
                        // Anything the client pipelined after STLS was sent
                        // in the clear and must not be trusted (RFC 2595 §4).
                        reader.clear();
                        let Some(tls) = &self.shared.config.tls else {
                            return Ok(());
                        };
                        conn.start_tls(tls)?;
                        self.tls_active = true;
                        break;
                    }
                }
                if !self.shared.config.pipelining || !reader.has_line() {
                    self.out.flush(conn)?;
                }
            }
            if guard.stopping() {
                return Ok(());
            }
            match reader.fill(conn) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.err("line too long");
                    return self.out.flush(conn);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn line(&mut self, text: &str) {
        self.out.cur.extend_from_slice(text.as_bytes());
        self.out.cur.extend_from_slice(self.eol);
    }

    fn ok(&mut self, text: &str) {
        self.out.cur.extend_from_slice(b"+OK");
        if !text.is_empty() {
            self.out.cur.push(b' ');
            self.out.cur.extend_from_slice(text.as_bytes());
        }
        self.out.cur.extend_from_slice(self.eol);
    }

    fn err(&mut self, text: &str) {
        self.out.cur.extend_from_slice(b"-ERR ");
        self.out.cur.extend_from_slice(text.as_bytes());
        self.out.cur.extend_from_slice(self.eol);
    }

    fn dot(&mut self) {
        self.out.cur.push(b'.');
        self.out.cur.extend_from_slice(self.eol);
    }

    fn command(&mut self, line: &[u8]) -> Next {
        if let State::Authorization {
            sasl_pending: sasl_pending @ true,
            ..
        } = &mut self.state
        {
            *sasl_pending = false;
            let response = line.to_vec();
            self.sasl_plain_response(&response);
            return Next::Continue;
        }
        let (keyword, args) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        let mut kw = [0u8; 4];
        if keyword.len() > 4 || keyword.is_empty() {
            self.err("unknown command");
            return Next::Continue;
        }
        for (d, s) in kw.iter_mut().zip(keyword) {
            *d = s.to_ascii_uppercase();
        }
        let kw = &kw[..keyword.len()];
        let authorization = matches!(self.state, State::Authorization { .. });
        match kw {
            b"QUIT" => return self.quit(),
            b"CAPA" => self.capa(authorization),
            b"NOOP" if !authorization => self.ok(""),
            b"UTF8" => self.err("UTF8 not supported"),
            b"LANG" => self.err("LANG not supported"),
            b"USER" | b"PASS" | b"APOP" | b"AUTH" | b"STLS" if !authorization => {
                self.err("command not valid in this state");
            }
            b"USER" => self.user(args),
            b"PASS" => self.pass(args),
            b"APOP" => self.apop(args),
            b"AUTH" => self.auth(args),
            b"STLS" => return self.stls(),
            b"STAT" | b"LIST" | b"UIDL" | b"RETR" | b"TOP" | b"DELE" | b"RSET" | b"NOOP"
                if authorization =>
            {
                self.err("command not valid in this state");
            }
            b"STAT" => self.stat(),
            b"LIST" => self.list(args, false),
            b"UIDL" if self.shared.config.uidl => self.list(args, true),
            b"RETR" => self.retr(args),
            b"TOP" if self.shared.config.top => self.top(args),
            b"DELE" => self.dele(args),
            b"RSET" => self.rset(),
            _ => self.err("unknown command"),
        }
        Next::Continue
    }

    fn capa(&mut self, authorization: bool) {
        let caps = self
            .shared
            .config
            .capa_lines(authorization, self.tls_active);
        self.ok("Capability list follows");
        for cap in caps {
            self.line(&cap);
        }
        self.dot();
    }

    fn user(&mut self, args: &[u8]) {
        if !self.shared.config.user_pass {
            self.err("USER not supported, use SASL");
            return;
        }
        if args.is_empty() {
            self.err("missing user name");
            return;
        }
        // Always +OK: whether the account exists is only revealed by PASS.
        self.state = State::Authorization {
            user: Some(String::from_utf8_lossy(args).into_owned()),
            sasl_pending: false,
        };
        self.ok("send PASS");
    }

    fn pass(&mut self, args: &[u8]) {
        let State::Authorization { user, .. } = &mut self.state else {
            return;
        };
        let Some(name) = user.take() else {
            self.err("USER first");
            return;
        };
        // The password is everything after "PASS ", spaces included.
        let ok = self.shared.config.users.get(&name).map(String::as_bytes) == Some(args);
        self.login(ok);
    }

    fn apop(&mut self, args: &[u8]) {
        let Some(ts) = self.timestamp.clone() else {
            self.err("APOP not supported");
            return;
        };
        let mut parts = args.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let (Some(name), Some(digest), None) = (parts.next(), parts.next(), parts.next()) else {
            self.err("usage: APOP name digest");
            return;
        };
        let ok = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.shared.config.users.get(n))
            .is_some_and(|password| {
                let expected = hex(&Md5::digest(format!("{ts}{password}").as_bytes()));
                expected.as_bytes().eq_ignore_ascii_case(digest)
            });
        self.login(ok);
    }

    fn auth(&mut self, args: &[u8]) {
        let mut parts = args.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let Some(mech) = parts.next() else {
            // Common extension: bare AUTH lists the mechanisms.
            self.ok("");
            if self.shared.config.sasl_plain {
                self.line("PLAIN");
            }
            self.dot();
            return;
        };
        if !self.shared.config.sasl_plain || !mech.eq_ignore_ascii_case(b"PLAIN") {
            self.err("unsupported authentication mechanism");
            return;
        }
        match (parts.next(), parts.next()) {
            (None, _) => {
                self.line("+ ");
                self.state = State::Authorization {
                    user: None,
                    sasl_pending: true,
                };
            }
            (Some(initial), None) => {
                let initial = initial.to_vec();
                self.sasl_plain_response(&initial);
            }
            (Some(_), Some(_)) => self.err("too many arguments"),
        }
    }

    fn sasl_plain_response(&mut self, response: &[u8]) {
        if response == b"*" {
            self.err("authentication cancelled");
            return;
        }
        let decoded = if response == b"=" {
            Some(Vec::new())
        } else {
            BASE64.decode(response).ok()
        };
        let Some(decoded) = decoded else {
            self.err("invalid base64 in SASL response");
            return;
        };
        let mut fields = decoded.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(password), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            self.err("malformed SASL PLAIN response");
            return;
        };
        let ok = (authz.is_empty() || authz == authc)
            && std::str::from_utf8(authc)
                .ok()
                .and_then(|n| self.shared.config.users.get(n))
                .is_some_and(|p| p.as_bytes() == password);
        self.login(ok);
    }

    fn login(&mut self, ok: bool) {
        if !ok {
            self.state = State::Authorization {
                user: None,
                sasl_pending: false,
            };
            self.err("[AUTH] invalid credentials");
            return;
        }
        let snapshot = lock(&self.shared.store).clone();
        let count = snapshot.len();
        let octets: usize = snapshot.iter().map(|e| e.size).sum();
        self.state = State::Transaction {
            deleted: vec![false; count],
            snapshot,
        };
        self.ok(&format!("maildrop has {count} messages ({octets} octets)"));
    }

    fn stls(&mut self) -> Next {
        if self.shared.config.tls.is_none() {
            self.err("STLS not available");
            return Next::Continue;
        }
        if self.tls_active {
            self.err("TLS already active");
            return Next::Continue;
        }
        self.ok("Begin TLS negotiation");
        Next::StartTls
    }

    fn quit(&mut self) -> Next {
        if let State::Transaction { snapshot, deleted } = &self.state {
            let gone: Vec<u64> = snapshot
                .iter()
                .zip(deleted)
                .filter(|(_, d)| **d)
                .map(|(e, _)| e.id)
                .collect();
            let left = {
                let mut store = lock(&self.shared.store);
                store.retain(|e| !gone.contains(&e.id));
                store.len()
            };
            self.ok(&format!("memserver signing off ({left} messages left)"));
        } else {
            self.ok("memserver signing off");
        }
        Next::Quit
    }

    /// Parses a message-number argument and returns the live entry, or
    /// writes the `-ERR` response and returns `None`.
    fn message(&mut self, arg: &[u8]) -> Option<(usize, Arc<Entry>)> {
        let State::Transaction { snapshot, deleted } = &self.state else {
            return None;
        };
        let Some(n) = parse_number(arg) else {
            self.err("invalid message number");
            return None;
        };
        if n == 0 || n > snapshot.len() {
            self.err("no such message");
            return None;
        }
        if deleted[n - 1] {
            self.err("message already deleted");
            return None;
        }
        Some((n, Arc::clone(&snapshot[n - 1])))
    }

    fn stat(&mut self) {
        let State::Transaction { snapshot, deleted } = &self.state else {
            return;
        };
        let (count, octets) =
            live(snapshot, deleted).fold((0, 0), |(c, o), (_, e)| (c + 1, o + e.size));
        self.ok(&format!("{count} {octets}"));
    }

    fn list(&mut self, args: &[u8], uidl: bool) {
        let mut parts = args.split(|&b| b == b' ').filter(|p| !p.is_empty());
        match (parts.next(), parts.next()) {
            (Some(_), Some(_)) => self.err("too many arguments"),
            (Some(arg), None) => {
                if let Some((n, e)) = self.message(arg) {
                    if uidl {
                        self.ok(&format!("{n} {}", e.message.uid()));
                    } else {
                        self.ok(&format!("{n} {}", e.size));
                    }
                }
            }
            (None, _) => {
                let State::Transaction { snapshot, deleted } = &self.state else {
                    return;
                };
                let mut body = String::new();
                let (mut count, mut octets) = (0, 0);
                for (n, e) in live(snapshot, deleted) {
                    count += 1;
                    octets += e.size;
                    if uidl {
                        let _ = write!(body, "{n} {}", e.message.uid());
                    } else {
                        let _ = write!(body, "{n} {}", e.size);
                    }
                    body.push_str(if self.eol.len() == 1 { "\n" } else { "\r\n" });
                }
                if uidl {
                    self.ok("unique-id listing follows");
                } else {
                    self.ok(&format!("{count} messages ({octets} octets)"));
                }
                self.out.cur.extend_from_slice(body.as_bytes());
                self.dot();
            }
        }
    }

    fn retr(&mut self, args: &[u8]) {
        if let Some((_, e)) = self.message(args) {
            self.ok(&format!("{} octets", e.size));
            self.out.push_shared(&e.wire);
            self.shared
                .body_bytes
                .fetch_add(e.wire.len() as u64, Ordering::Relaxed);
        }
    }

    fn top(&mut self, args: &[u8]) {
        let mut parts = args.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let (Some(msg), Some(lines), None) = (parts.next(), parts.next(), parts.next()) else {
            self.err("usage: TOP msg lines");
            return;
        };
        let Some(lines) = parse_number(lines) else {
            self.err("invalid line count");
            return;
        };
        let Some((_, e)) = self.message(msg) else {
            return;
        };
        let data = e.message.data();
        // Header section ends after the first empty line (CRLF or LF).
        let mut end = data.len();
        let mut pos = 0;
        let mut in_body = false;
        let mut body_lines = 0;
        for line in data.split_inclusive(|&b| b == b'\n') {
            if in_body {
                if body_lines == lines {
                    end = pos;
                    break;
                }
                body_lines += 1;
            } else if line == b"\r\n" || line == b"\n" {
                in_body = true;
            }
            pos += line.len();
        }
        self.ok("top of message follows");
        let start = self.out.cur.len();
        stuff_into(&mut self.out.cur, &data[..end], self.shared.config.lf_only);
        // `terminate` must only look at this response, not at the +OK line.
        let mut tail = self.out.cur.split_off(start);
        terminate(&mut tail, self.shared.config.lf_only);
        self.shared
            .body_bytes
            .fetch_add(tail.len() as u64, Ordering::Relaxed);
        self.out.cur.append(&mut tail);
    }

    fn dele(&mut self, args: &[u8]) {
        if let Some((n, _)) = self.message(args) {
            if let State::Transaction { deleted, .. } = &mut self.state {
                deleted[n - 1] = true;
            }
            self.ok(&format!("message {n} deleted"));
        }
    }

    fn rset(&mut self) {
        if let State::Transaction { snapshot, deleted } = &mut self.state {
            deleted.fill(false);
            let count = snapshot.len();
            let octets: usize = snapshot.iter().map(|e| e.size).sum();
            self.ok(&format!("maildrop has {count} messages ({octets} octets)"));
        }
    }
}

fn live<'a>(
    snapshot: &'a [Arc<Entry>],
    deleted: &'a [bool],
) -> impl Iterator<Item = (usize, &'a Arc<Entry>)> + 'a {
    snapshot
        .iter()
        .zip(deleted)
        .enumerate()
        .filter(|(_, (_, d))| !**d)
        .map(|(i, (e, _))| (i + 1, e))
}

/// Strict decimal: digits only (no sign, no spaces), at most 9 of them.
fn parse_number(arg: &[u8]) -> Option<usize> {
    if arg.is_empty() || arg.len() > 9 || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(arg.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        let mut out = Vec::new();
        stuff_into(&mut out, b"a\r\n.b\r\n.\r\n..\r\nend", false);
        terminate(&mut out, false);
        assert_eq!(out, b"a\r\n..b\r\n..\r\n...\r\nend\r\n.\r\n");
        let mut out = Vec::new();
        stuff_into(&mut out, b"a\r\n.b\r\n", true);
        terminate(&mut out, true);
        assert_eq!(out, b"a\n..b\n.\n");
        let mut out = Vec::new();
        terminate(&mut out, false);
        assert_eq!(out, b".\r\n");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"12"), Some(12));
        assert_eq!(parse_number(b"+1"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"1a"), None);
        assert_eq!(parse_number(b"9999999999"), None);
    }
}
