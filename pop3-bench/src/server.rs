//! The server side: `pop3-bench serve` runs a [`MemServer`] (and optionally a [`LatencyProxy`] in front of it) in
//! its own process, and [`ServerProcess`] starts and talks to it from the benchmark driver.
//!
//! The server lives in a separate process so that the client being measured shares neither an allocator, nor
//! threads, nor page-cache accounting with it: `/proc/self/status` of a client process then shows the client
//! alone, and server threads never compete with client threads inside one scheduler group.
//!
//! Protocol on the child's stdio: once listening it prints one line
//! `ready <server-addr> <client-addr> <messages> <octets>`; every `stats` line on stdin is answered with
//! `stats <sessions> <commands> <body_bytes>`; EOF on stdin ends the process.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use pop3_session::rustls;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use pop3_memserver::{LatencyProxy, Mailbox, MemServer, ServerConfig};

/// What mailbox to serve, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerSpec {
    /// Number of messages.
    pub(crate) messages: usize,
    /// Size of each message in octets (unstuffed, CRLF line ends).
    pub(crate) size: usize,
    /// Percentage of body lines starting with a dot.
    pub(crate) dots: u8,
    /// Generator seed.
    pub(crate) seed: u64,
    /// One-way delay added by a [`LatencyProxy`] in front of the server, if any.
    pub(crate) latency: Option<Duration>,
}

impl ServerSpec {
    fn to_args(self) -> Vec<String> {
        let mut args = vec![
            "serve".to_owned(),
            self.messages.to_string(),
            self.size.to_string(),
            self.dots.to_string(),
            self.seed.to_string(),
        ];
        if let Some(latency) = self.latency {
            args.push(latency.as_micros().to_string());
        }
        args
    }

    fn from_args(args: &[String]) -> Result<Self, String> {
        let num = |i: usize| -> Result<u64, String> {
            args.get(i)
                .ok_or_else(|| "serve: missing argument".to_owned())?
                .parse::<u64>()
                .map_err(|e| format!("serve: {e}"))
        };
        Ok(Self {
            messages: usize::try_from(num(0)?).map_err(|e| e.to_string())?,
            size: usize::try_from(num(1)?).map_err(|e| e.to_string())?,
            dots: u8::try_from(num(2)?.min(100)).map_err(|e| e.to_string())?,
            seed: num(3)?,
            latency: if args.len() > 4 {
                Some(Duration::from_micros(num(4)?))
            } else {
                None
            },
        })
    }
}

/// Server counters, as [`pop3_memserver::Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerStats {
    /// Connections accepted.
    pub(crate) sessions: u64,
    /// Command lines processed.
    pub(crate) commands: u64,
    /// Octets of message data sent (dot-stuffed, terminators included).
    pub(crate) body_bytes: u64,
}

/// The `serve` mode: runs until stdin reaches EOF.
pub(crate) fn serve(args: &[String]) -> Result<(), String> {
    // `--tls DIR` first: implicit TLS with the certificate and key that DIR holds (see `write_tls_files`).
    let (tls, args) = match args {
        [flag, dir, rest @ ..] if flag == "--tls" => (Some(server_tls(Path::new(dir))?), rest),
        _ => (None, args),
    };
    let spec = ServerSpec::from_args(args)?;
    let mut config = ServerConfig::default().with_user("demo", "demo");
    if let Some(tls) = tls {
        config = config.with_implicit_tls(tls);
    }
    config.idle_timeout = Some(Duration::from_secs(3600));
    let mailbox = Mailbox::generated(spec.messages, spec.size, spec.dots, spec.seed);
    let total = mailbox.total_size();
    let server =
        MemServer::start(config, mailbox).map_err(|e| format!("cannot start server: {e}"))?;
    let proxy = match spec.latency {
        Some(delay) => Some(
            LatencyProxy::start(server.addr(), delay)
                .map_err(|e| format!("cannot start proxy: {e}"))?,
        ),
        None => None,
    };
    let client_addr = proxy.as_ref().map_or(server.addr(), LatencyProxy::addr);
    let mut out = io::stdout().lock();
    let say = |out: &mut io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").and_then(|()| out.flush())
    };
    say(
        &mut out,
        format!(
            "ready {} {client_addr} {} {total}",
            server.addr(),
            spec.messages
        ),
    )
    .map_err(|e| e.to_string())?;
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim() == "stats" {
            let s = server.stats();
            say(
                &mut out,
                format!("stats {} {} {}", s.sessions, s.commands, s.body_bytes),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    // Leave without tearing the servers down one connection at a time: the process is going away anyway.
    std::process::exit(0);
}

/// Writes a fresh test CA's certificate (`ca.pem`) and a server certificate and key for 127.0.0.1 (`server.der`,
/// `server.key.der`) into `dir`, for TLS server processes and the clients that trust them.
pub(crate) fn write_tls_files(dir: &Path) -> io::Result<()> {
    let pki = pop3_memserver::tls::TestPki::generate();
    std::fs::write(dir.join("ca.pem"), pki.ca.cert_pem())?;
    std::fs::write(dir.join("server.der"), pki.server.cert_der.as_ref())?;
    std::fs::write(dir.join("server.key.der"), &pki.server.key_der)
}

fn server_tls(dir: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let cert = CertificateDer::from(read("server.der")?);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(read("server.key.der")?));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// A running `pop3-bench serve` child.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Where clients connect: the proxy if there is one, else the server.
    pub(crate) addr: SocketAddr,
    /// Number of messages served.
    pub(crate) messages: u64,
    /// Sum of the unstuffed message sizes (what STAT reports, and what every client must deliver).
    pub(crate) octets: u64,
}

impl ServerProcess {
    /// Starts the server process and waits until it listens.
    pub(crate) fn spawn(spec: ServerSpec) -> io::Result<Self> {
        Self::spawn_with(spec, None)
    }

    /// Starts a server process serving implicit TLS with the files `write_tls_files` wrote into `dir`.
    pub(crate) fn spawn_tls(spec: ServerSpec, dir: &Path) -> io::Result<Self> {
        Self::spawn_with(spec, Some(dir))
    }

    fn spawn_with(spec: ServerSpec, tls: Option<&Path>) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut args = spec.to_args();
        if let Some(dir) = tls {
            args.splice(1..1, ["--tls".to_owned(), dir.display().to_string()]);
        }
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = || io::Error::other(format!("unexpected server line {line:?}"));
        let ["ready", _server, client, messages, octets] = fields[..] else {
            return Err(bad());
        };
        Ok(Self {
            addr: client.parse().map_err(|_| bad())?,
            messages: messages.parse().map_err(|_| bad())?,
            octets: octets.parse().map_err(|_| bad())?,
            child,
            stdin,
            stdout,
        })
    }

    /// The server's counters now.
    pub(crate) fn stats(&mut self) -> io::Result<ServerStats> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("closed"))?;
        stdin.write_all(b"stats\n")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let n: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        match n[..] {
            [sessions, commands, body_bytes] => Ok(ServerStats {
                sessions,
                commands,
                body_bytes,
            }),
            _ => Err(io::Error::other(format!("unexpected stats line {line:?}"))),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
