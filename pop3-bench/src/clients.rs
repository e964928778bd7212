//! The clients under test, each fetching every message of the served mailbox on one connection.
//!
//! Every client returns a [`Measurement`]: the time to connect and log in, the time to fetch every message from
//! the logged-in session (the figure compared against the raw limit), and the octets it delivered.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use memchr::memmem;
use pop3_proto::Config;
use pop3_session::{Async, Driver, Part, Security};

use crate::runtimes::Runtime;

#[path = "../../pop3-proto/examples/mio.rs"]
#[allow(dead_code, unreachable_pub)]
mod mio_example;

/// Error type of the benchmark: every failure is reported as text and ends the run.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One client's figures for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Measurement {
    /// Connect, greeting and login.
    pub(crate) setup: Duration,
    /// Every RETR, from the first command byte written to the last body octet read.
    pub(crate) fetch: Duration,
    /// Octets delivered: unstuffed message octets for real clients, wire octets for the raw client.
    pub(crate) bytes: u64,
}

/// The end of a multi-line response on the wire.
const TERMINATOR: &[u8] = b"\r\n.\r\n";

/// Default size of the raw client's reads: large enough that a read returns all the socket has, small enough
/// that the buffer stays in the L2 cache while it is scanned (1 MiB reads were markedly slower here).
pub(crate) const RAW_READ: usize = 256 * 1024;

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    Ok(sock)
}

/// Logs in with USER and PASS pipelined behind the greeting, and checks all three answers.
fn raw_login(addr: SocketAddr) -> Result<TcpStream, BoxError> {
    let mut sock = connect(addr)?;
    sock.write_all(b"USER demo\r\nPASS demo\r\n")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while memmem::find_iter(&seen, b"\r\n").count() < 3 {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err("server closed during login".into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let lines: Vec<&[u8]> = seen.split(|&b| b == b'\n').take(3).collect();
    if !lines.iter().all(|l| l.starts_with(b"+OK")) || !seen.ends_with(b"\r\n") {
        return Err(format!("raw login failed: {:?}", String::from_utf8_lossy(&seen)).into());
    }
    Ok(sock)
}

fn retr_commands(messages: u64) -> Vec<u8> {
    let mut commands = Vec::with_capacity(messages as usize * 12);
    for msg in 1..=messages {
        let _ = write!(commands, "RETR {msg}\r\n");
    }
    commands
}

/// The physical limit: every RETR in one write, then large reads that only look for response terminators.
/// Returns the wire octets received (status lines, stuffed bodies and terminators).
pub(crate) fn raw(
    addr: SocketAddr,
    messages: u64,
    read_size: usize,
) -> Result<Measurement, BoxError> {
    let setup_start = Instant::now();
    let mut sock = raw_login(addr)?;
    let setup = setup_start.elapsed();
    let commands = retr_commands(messages);
    let finder = memmem::Finder::new(&TERMINATOR[..3]);
    let mut buf = vec![0u8; read_size];
    // The last octets of the stream so far, to find a terminator split across two reads.
    let mut tail = [0u8; TERMINATOR.len() - 1];
    let mut tail_len = 0;
    let mut found = 0u64;
    let mut bytes = 0u64;
    let start = Instant::now();
    sock.write_all(&commands)?;
    while found < messages {
        let n = match sock.read(&mut buf) {
            Ok(0) => return Err("server closed the connection early".into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let chunk = &buf[..n];
        bytes += n as u64;
        if tail_len > 0 {
            let mut joined = [0u8; 2 * TERMINATOR.len()];
            let extra = n.min(TERMINATOR.len() - 1);
            joined[..tail_len].copy_from_slice(&tail[..tail_len]);
            joined[tail_len..tail_len + extra].copy_from_slice(&chunk[..extra]);
            let joined = &joined[..tail_len + extra];
            found += (0..tail_len)
                .filter(|&i| i + TERMINATOR.len() > tail_len && joined[i..].starts_with(TERMINATOR))
                .count() as u64;
        }
        // Look for the rare `CRLF .` and check the two octets after it: a finder for the whole terminator
        // ranks CR and LF as its rare bytes and stops at every line end (measured: 20% of this client's CPU).
        found += finder
            .find_iter(chunk)
            .filter(|&i| chunk[i + 3..].starts_with(b"\r\n"))
            .count() as u64;
        // Keep the stream's last octets (they may span this read and earlier ones).
        let keep = tail.len();
        if n >= keep {
            tail.copy_from_slice(&chunk[n - keep..]);
            tail_len = keep;
        } else {
            let mut joined = tail[..tail_len].to_vec();
            joined.extend_from_slice(chunk);
            let from = joined.len().saturating_sub(keep);
            tail_len = joined.len() - from;
            tail[..tail_len].copy_from_slice(&joined[from..]);
        }
    }
    let fetch = start.elapsed();
    if found != messages {
        return Err(format!("raw client saw {found} terminators for {messages} RETRs").into());
    }
    let _ = sock.write_all(b"QUIT\r\n");
    Ok(Measurement {
        setup,
        fetch,
        bytes,
    })
}

/// What an untimed, fully parsing pass of the raw client found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawCheck {
    /// Wire octets of all responses (what [`raw`] must count).
    pub(crate) wire: u64,
    /// Wire octets of the bodies, terminators included (what the server counts as `body_bytes`).
    pub(crate) body_wire: u64,
    /// Unstuffed message octets (what the server's STAT total says).
    pub(crate) unstuffed: u64,
}

/// Runs the raw client's protocol once, keeping every octet, and parses it fully: status lines, bodies, dot
/// stuffing. Proves that the byte count the timed raw runs check against is the whole, correct mailbox.
pub(crate) fn raw_check(addr: SocketAddr, messages: u64) -> Result<RawCheck, BoxError> {
    let mut sock = raw_login(addr)?;
    sock.write_all(&retr_commands(messages))?;
    let mut data = Vec::new();
    let mut buf = vec![0u8; RAW_READ];
    let mut found = 0u64;
    let mut scanned = 0usize;
    while found < messages {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err("server closed the connection early".into());
        }
        data.extend_from_slice(&buf[..n]);
        let from = scanned.saturating_sub(TERMINATOR.len() - 1);
        found += memmem::find_iter(&data[from..], TERMINATOR).count() as u64;
        scanned = data.len();
    }
    let _ = sock.write_all(b"QUIT\r\n");
    let mut at = 0;
    let mut body_wire = 0u64;
    let mut unstuffed = 0u64;
    for msg in 1..=messages {
        let status_end = memmem::find(&data[at..], b"\r\n").ok_or("no status line")? + at + 2;
        if !data[at..].starts_with(b"+OK") {
            return Err(format!("RETR {msg} refused").into());
        }
        // An empty body's terminator starts at the status line's own CRLF.
        let end = memmem::find(&data[status_end - 2..], TERMINATOR).ok_or("no terminator")?
            + status_end
            - 2;
        let body = &data[status_end..(end + 2).max(status_end)];
        let stuffed =
            usize::from(body.starts_with(b".")) + memmem::find_iter(body, b"\r\n.").count();
        unstuffed += (body.len() - stuffed) as u64;
        body_wire += (end + TERMINATOR.len() - status_end) as u64;
        at = end + TERMINATOR.len();
    }
    if at != data.len() {
        return Err(format!("{} octets after the last response", data.len() - at).into());
    }
    Ok(RawCheck {
        wire: data.len() as u64,
        body_wire,
        unstuffed,
    })
}

/// Protocol settings for the Rust clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientSettings {
    /// [`Config::max_in_flight_bytes`].
    pub(crate) max_in_flight_bytes: usize,
    /// [`Config::read_size`].
    pub(crate) read_size: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        let config = Config::default();
        Self {
            max_in_flight_bytes: config.max_in_flight_bytes,
            read_size: config.read_size,
        }
    }
}

impl ClientSettings {
    /// The protocol configuration these settings make.
    pub(crate) fn config(self) -> Config {
        let mut config = Config::default();
        config.max_in_flight_bytes = self.max_in_flight_bytes;
        config.read_size = self.read_size;
        config
    }
}

/// The settings every Rust client's session is opened with: plaintext, these protocol settings, USER/PASS or
/// APOP allowed in the clear (loopback).
pub(crate) fn builder<D: Driver>(
    addr: SocketAddr,
    settings: ClientSettings,
) -> pop3_session::Builder<D> {
    pop3_session::Builder::new(addr.ip().to_string())
        .port(addr.port())
        .security(Security::Plaintext)
        .config(settings.config())
        .allow_plaintext_credentials()
}

/// Opens a pop3-blocking session with these settings and logs in (CAPA, then APOP, as `login` picks).
pub(crate) fn blocking_session(
    addr: SocketAddr,
    settings: ClientSettings,
) -> Result<pop3_blocking::Session, BoxError> {
    let mut session = builder::<pop3_blocking::Blocking>(addr, settings).connect()?;
    session.login("demo", "demo")?;
    Ok(session)
}

/// Opens a session of `R`'s async driver with these settings and logs in.
pub(crate) async fn async_session<R: Runtime>(
    addr: SocketAddr,
    settings: ClientSettings,
) -> Result<AsyncSession<R>, BoxError> {
    let mut session = builder::<Async<R::Transport>>(addr, settings)
        .connect()
        .await?;
    session.login("demo", "demo").await?;
    Ok(session)
}

/// A session of `R`'s async driver.
pub(crate) type AsyncSession<R> = pop3_session::Session<Async<<R as Runtime>::Transport>>;

/// What a driver's `retr_many` handed to its callback: the one counting callback every driver's row uses.
#[derive(Debug, Default)]
struct Tally {
    bytes: u64,
    ends: u64,
}

impl Tally {
    /// The `retr_many` callback: counts data octets and message ends, and fails on a refused RETR.
    fn count(&mut self) -> impl FnMut(u64, Part<'_>) -> io::Result<()> + Send + '_ {
        |msg, part| {
            match part {
                Part::Data(data) => self.bytes += data.len() as u64,
                Part::End => self.ends += 1,
                Part::Refused(error) => {
                    return Err(io::Error::other(format!("RETR {msg}: {error}")));
                }
                _ => {}
            }
            Ok(())
        }
    }

    /// The measurement, once every message has ended.
    fn measurement(
        &self,
        driver: &str,
        messages: u64,
        setup: Duration,
        fetch: Duration,
    ) -> Result<Measurement, BoxError> {
        if self.ends != messages {
            return Err(format!("{driver} ended {} of {messages} messages", self.ends).into());
        }
        Ok(Measurement {
            setup,
            fetch,
            bytes: self.bytes,
        })
    }
}

/// pop3-blocking: `login`, then one `retr_many` over every message, counting the octets handed to the callback.
pub(crate) fn blocking(
    addr: SocketAddr,
    messages: u64,
    settings: ClientSettings,
) -> Result<Measurement, BoxError> {
    let setup_start = Instant::now();
    let mut session = blocking_session(addr, settings)?;
    let setup = setup_start.elapsed();
    let msgs: Vec<u64> = (1..=messages).collect();
    let mut tally = Tally::default();
    let start = Instant::now();
    session.retr_many(&msgs, tally.count())?;
    let fetch = start.elapsed();
    session.quit()?;
    tally.measurement("pop3-blocking", messages, setup, fetch)
}

/// An async driver (pop3-async-std or pop3-tokio, as `R` says), on its runtime's `block_on`: `login`, then one
/// `retr_many` over every message, counting the octets handed to the callback.
pub(crate) fn async_driver<R: Runtime>(
    addr: SocketAddr,
    messages: u64,
    settings: ClientSettings,
) -> Result<Measurement, BoxError> {
    R::block_on(async move {
        let setup_start = Instant::now();
        let mut session = async_session::<R>(addr, settings).await?;
        let setup = setup_start.elapsed();
        let msgs: Vec<u64> = (1..=messages).collect();
        let mut tally = Tally::default();
        let start = Instant::now();
        session.retr_many(&msgs, tally.count()).await?;
        let fetch = start.elapsed();
        session.quit().await?;
        tally.measurement(R::DRIVER, messages, setup, fetch)
    })
}

/// pop3-proto's non-blocking mio example: CAPA, USER/PASS, STAT, every RETR pipelined, QUIT, on one connection.
/// Setup runs until the first RETR byte is handed to the socket; the fetch from there to the last RETR's end.
pub(crate) fn mio(addr: SocketAddr, messages: u64) -> Result<Measurement, BoxError> {
    let setup_start = Instant::now();
    let socket = connect(addr)?;
    socket.set_nonblocking(true)?;
    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    let fetched = mio_example::fetch(
        mio::net::TcpStream::from_std(socket),
        "demo",
        "demo",
        config,
        Duration::from_secs(60),
        |_, _| {},
    )?;
    let (Some(started), Some(finished)) = (fetched.retr_started, fetched.retr_finished) else {
        return Err("mio: no RETR was sent".into());
    };
    if fetched.messages as u64 != messages {
        return Err(format!("mio fetched {} of {messages} messages", fetched.messages).into());
    }
    Ok(Measurement {
        setup: started - setup_start,
        fetch: finished - started,
        bytes: fetched.octets,
    })
}

/// Whether `python3` with `poplib` can be run.
pub(crate) fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", "import poplib"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Python's poplib, as a subprocess running `poplib_client.py`, which times itself (interpreter start-up is
/// not counted).
pub(crate) fn python(addr: SocketAddr, messages: u64) -> Result<Measurement, BoxError> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("poplib_client.py");
    let output = Command::new("python3")
        .arg(script)
        .args([
            addr.ip().to_string(),
            addr.port().to_string(),
            messages.to_string(),
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "poplib_client.py failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let bad = || -> BoxError { format!("unexpected poplib_client.py output {stdout:?}").into() };
    let [setup, fetch, bytes, count] = fields[..] else {
        return Err(bad());
    };
    let count: u64 = count.parse().map_err(|_| bad())?;
    if count != messages {
        return Err(format!("poplib fetched {count} of {messages} messages").into());
    }
    Ok(Measurement {
        setup: Duration::from_secs_f64(setup.parse().map_err(|_| bad())?),
        fetch: Duration::from_secs_f64(fetch.parse().map_err(|_| bad())?),
        bytes: bytes.parse().map_err(|_| bad())?,
    })
}
