//! The "nothing new" poll: connect, log in, ask what is there, QUIT, behind a link of a given round-trip time.
//! What a service polling many accounts pays on every poll, and bound by round trips alone.
//!
//! Round trips are counted, not guessed: a [`TurnProxy`] between client and server adds half the round-trip time
//! in each direction and counts the server's turns to speak (the greeting, then each answer that follows new
//! client bytes). A client that pipelines everything after the greeting makes two; each command that waits for
//! the previous one's answer adds one.
//!
//! The raw client reads the greeting, then writes `USER`, `PASS`, `STAT`, `UIDL` and `QUIT` in one write: the
//! fewest round trips POP3 allows without knowing the server (RFC 2449 §6.6 allows pipelining before CAPA only
//! to a client that knows the server pipelines, which a raw client hard-wired for this server does).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pop3_memserver::{Mailbox, MemServer, ServerConfig};
use pop3_session::{Async, Driver, KnownCapabilities, LoginMethod};

use crate::clients::{BoxError, ClientSettings, builder};
use crate::runtimes::{self, Runtime};

/// A TCP proxy on loopback that delays each chunk by half the round-trip time in each direction and counts the
/// server's turns.
struct TurnProxy {
    addr: SocketAddr,
    turns: Arc<AtomicU64>,
}

impl TurnProxy {
    fn start(target: SocketAddr, rtt: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let turns = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&turns);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                // Whether the last bytes seen came from the client: the server's next bytes start a new turn.
                let client_spoke = Arc::new(AtomicBool::new(true));
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let delay = rtt / 2;
                let spoke = Arc::clone(&client_spoke);
                thread::spawn(move || {
                    forward(client, s2, delay, |_| spoke.store(true, Ordering::SeqCst));
                });
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    forward(server, c2, delay, |_| {
                        if client_spoke.swap(false, Ordering::SeqCst) {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                });
            }
        });
        Ok(Self { addr, turns })
    }

    /// Turns counted since the last call.
    fn take_turns(&self) -> u64 {
        self.turns.swap(0, Ordering::SeqCst)
    }
}

/// Copies `src` to `dst`, each chunk sent `delay` after it was read (a writer thread keeps the order), calling
/// `seen` as each chunk is read.
fn forward(mut src: TcpStream, dst: TcpStream, delay: Duration, seen: impl Fn(usize)) {
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        let mut dst = dst;
        for (due, data) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if data.is_empty() {
                let _ = dst.shutdown(Shutdown::Write);
                return;
            }
            if dst.write_all(&data).is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0; 64 * 1024];
    loop {
        match src.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send((Instant::now() + delay, Vec::new()));
                break;
            }
            Ok(n) => {
                seen(n);
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

/// A way to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poller {
    Raw,
    /// `login`, `stat`, `uidl`, `quit`: one call at a time.
    OneAtATime(Kind),
    /// `login_and_listing` (LIST and UIDL behind the credentials), then `quit`: a first contact.
    Pipelined(Kind),
    /// As `Pipelined`, with the capabilities remembered from an earlier session and USER/PASS named: CAPA, the
    /// credentials, LIST and UIDL in one write.
    Remembered(Kind),
    /// As `Remembered`, with `login_listing_and_quit`: QUIT in the same write.
    RememberedQuitting(Kind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blocking,
    AsyncStd,
    Tokio,
}

impl Kind {
    const ALL: [Self; 3] = [Self::Blocking, Self::AsyncStd, Self::Tokio];

    fn name(self) -> &'static str {
        match self {
            Self::Blocking => "pop3-blocking",
            Self::AsyncStd => runtimes::AsyncStd::DRIVER,
            Self::Tokio => runtimes::Tokio::DRIVER,
        }
    }
}

impl Poller {
    fn name(self) -> String {
        match self {
            Self::Raw => "raw: greeting, then USER PASS STAT UIDL QUIT in one write".to_owned(),
            Self::OneAtATime(kind) => format!("{} `login`, `stat`, `uidl`, `quit`", kind.name()),
            Self::Pipelined(kind) => format!("{} `login_and_listing`, `quit`", kind.name()),
            Self::Remembered(kind) => format!(
                "{} `login_and_listing`, `quit`, capabilities remembered",
                kind.name()
            ),
            Self::RememberedQuitting(kind) => format!(
                "{} `login_listing_and_quit`, capabilities remembered",
                kind.name()
            ),
        }
    }
}

/// One poll through the proxy at `addr`; `known` is what an earlier session learnt.
fn poll_once(poller: Poller, addr: SocketAddr, known: &KnownCapabilities) -> Result<(), BoxError> {
    match poller {
        Poller::Raw => raw_poll(addr),
        Poller::OneAtATime(kind)
        | Poller::Pipelined(kind)
        | Poller::Remembered(kind)
        | Poller::RememberedQuitting(kind) => match kind {
            Kind::Blocking => blocking_poll(poller, addr, known),
            Kind::AsyncStd => async_poll::<runtimes::AsyncStd>(poller, addr, known),
            Kind::Tokio => async_poll::<runtimes::Tokio>(poller, addr, known),
        },
    }
}

/// The settings a poll's session starts with.
fn poll_builder<D: Driver>(
    poller: Poller,
    addr: SocketAddr,
    known: &KnownCapabilities,
) -> pop3_session::Builder<D> {
    let builder = builder::<D>(addr, ClientSettings::default());
    match poller {
        Poller::Remembered(_) | Poller::RememberedQuitting(_) => builder
            .known_capabilities(known.clone())
            .login_method(LoginMethod::UserPass),
        _ => builder,
    }
}

fn blocking_poll(
    poller: Poller,
    addr: SocketAddr,
    known: &KnownCapabilities,
) -> Result<(), BoxError> {
    let mut session = poll_builder::<pop3_blocking::Blocking>(poller, addr, known).connect()?;
    let count = match poller {
        Poller::OneAtATime(_) => {
            session.login("demo", "demo")?;
            let stat = session.stat()?;
            let uids = session.uidl()?;
            check(stat.count, uids.len())?
        }
        Poller::RememberedQuitting(_) => {
            let count = session.login_listing_and_quit("demo", "demo")?.1.len();
            return expect_messages(count);
        }
        _ => session.login_and_listing("demo", "demo")?.1.len(),
    };
    session.quit()?;
    expect_messages(count)
}

fn async_poll<R: Runtime>(
    poller: Poller,
    addr: SocketAddr,
    known: &KnownCapabilities,
) -> Result<(), BoxError> {
    let builder = poll_builder::<Async<R::Transport>>(poller, addr, known);
    R::block_on(async move {
        let mut session = builder.connect().await?;
        let count = match poller {
            Poller::OneAtATime(_) => {
                session.login("demo", "demo").await?;
                let stat = session.stat().await?;
                let uids = session.uidl().await?;
                check(stat.count, uids.len())?
            }
            Poller::RememberedQuitting(_) => {
                let count = session
                    .login_listing_and_quit("demo", "demo")
                    .await?
                    .1
                    .len();
                return expect_messages(count);
            }
            _ => session.login_and_listing("demo", "demo").await?.1.len(),
        };
        session.quit().await?;
        expect_messages(count)
    })
}

/// Messages in the polled mailbox.
const MESSAGES: usize = 10;

fn check(stat: u64, uids: usize) -> Result<usize, BoxError> {
    if stat != uids as u64 {
        return Err(format!("STAT says {stat} messages, UIDL lists {uids}").into());
    }
    Ok(uids)
}

fn expect_messages(count: usize) -> Result<(), BoxError> {
    if count != MESSAGES {
        return Err(format!("the poll saw {count} messages, the mailbox has {MESSAGES}").into());
    }
    Ok(())
}

fn raw_poll(addr: SocketAddr) -> Result<(), BoxError> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    let mut buf = vec![0; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n") {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err("raw poll: no greeting".into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    sock.write_all(b"USER demo\r\nPASS demo\r\nSTAT\r\nUIDL\r\nQUIT\r\n")?;
    seen.clear();
    loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    if text.matches("+OK").count() != 5 {
        return Err(format!("raw poll: unexpected answers {text:?}").into());
    }
    Ok(())
}

/// One row of the poll table.
struct PollRow {
    name: String,
    rtt: Duration,
    times: Vec<Duration>,
    turns: u64,
    raw_median: Duration,
    raw_turns: u64,
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs every poller `runs` times behind each round-trip time, against one in-process MemServer (the poll is
/// bound by round trips, not by the server), and renders the table.
pub(crate) fn poll_table(rtts: &[Duration], runs: usize) -> Result<String, BoxError> {
    let mut config = ServerConfig::default().with_user("demo", "demo");
    config.pipelining = true;
    let server = MemServer::start(config, Mailbox::generated(MESSAGES, 2000, 2, 5))?;
    let mut pollers = vec![Poller::Raw];
    for kind in Kind::ALL {
        pollers.extend([
            Poller::OneAtATime(kind),
            Poller::Pipelined(kind),
            Poller::Remembered(kind),
            Poller::RememberedQuitting(kind),
        ]);
    }
    let mut rows = Vec::new();
    for &rtt in rtts {
        eprintln!("== poll: {} ms round trip", rtt.as_millis());
        let proxy = TurnProxy::start(server.addr(), rtt)?;
        // What a first session learnt, as a poller would keep it between polls.
        let known = {
            let mut first =
                builder::<pop3_blocking::Blocking>(proxy.addr, ClientSettings::default())
                    .connect()?;
            first.capa()?;
            let known = first.known_capabilities().ok_or("no capabilities learnt")?;
            first.quit()?;
            known
        };
        let mut measured: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); pollers.len()];
        for run in 0..runs {
            for index in (0..pollers.len()).map(|i| (i + run) % pollers.len()) {
                proxy.take_turns();
                let start = Instant::now();
                poll_once(pollers[index], proxy.addr, &known)?;
                let elapsed = start.elapsed();
                // The proxy's last turn is counted when it reads the server's bytes, which happens before the
                // client reads them through the delay.
                let turns = proxy.take_turns();
                let entry = &mut measured[index];
                if run > 0 && entry.1 != turns {
                    return Err(format!(
                        "{}: {turns} round trips now, {} before",
                        pollers[index].name(),
                        entry.1
                    )
                    .into());
                }
                entry.0.push(elapsed);
                entry.1 = turns;
            }
        }
        let raw_median = median(&mut measured[0].0.clone());
        let raw_turns = measured[0].1;
        for (poller, (times, turns)) in pollers.iter().zip(measured) {
            rows.push(PollRow {
                name: poller.name(),
                rtt,
                times,
                turns,
                raw_median,
                raw_turns,
            });
        }
    }
    Ok(render(
        &format!(
            "### \"Nothing new\" poll: connect, log in, STAT or LIST, UIDL, QUIT ({MESSAGES} messages, {runs} runs)"
        ),
        rows,
    ))
}

fn render(title: &str, rows: Vec<PollRow>) -> String {
    let mut out = format!(
        "{title}\n\n\
         | client | RTT | median | min | round trips (counted) | vs raw time | vs raw round trips |\n\
         |---|---:|---:|---:|---:|---:|---:|\n"
    );
    for mut row in rows {
        let med = median(&mut row.times);
        let min = row.times[0];
        // Straight to the server, without the counting proxy: round trips are not counted.
        let (rtt, turns, more) = if row.rtt.is_zero() {
            ("loopback".to_owned(), "–".to_owned(), "–".to_owned())
        } else {
            (
                format!("{} ms", row.rtt.as_millis()),
                row.turns.to_string(),
                format!("{:+}", row.turns as i64 - row.raw_turns as i64),
            )
        };
        out.push_str(&format!(
            "| {} | {rtt} | {:.1} ms | {:.1} ms | {turns} | ×{:.2} | {more} |\n",
            row.name,
            med.as_secs_f64() * 1e3,
            min.as_secs_f64() * 1e3,
            med.as_secs_f64() / row.raw_median.as_secs_f64(),
        ));
    }
    out
}

/// Messages of the whole-session fetch: workload (a)'s mailbox.
const FETCH_MESSAGES: u64 = 1000;

/// A whole fetch session, connect to close: how it is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetcher {
    /// Greeting; USER, PASS, STAT in one write; every RETR and QUIT in one write.
    Raw,
    /// `login`, `stat`, `retr_many`, `quit`.
    OneAtATime(Kind),
    /// Capabilities remembered, USER/PASS named: `login_and_stat`, then `retr_many_and_quit`.
    Remembered(Kind),
}

impl Fetcher {
    fn name(self) -> String {
        match self {
            Self::Raw => "raw: greeting; USER PASS STAT; every RETR and QUIT".to_owned(),
            Self::OneAtATime(kind) => {
                format!("{} `login`, `stat`, `retr_many`, `quit`", kind.name())
            }
            Self::Remembered(kind) => format!(
                "{} `login_and_stat`, `retr_many_and_quit`, capabilities remembered",
                kind.name()
            ),
        }
    }
}

fn raw_fetch(addr: SocketAddr) -> Result<(), BoxError> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    let mut buf = vec![0; 256 * 1024];
    let mut seen = Vec::new();
    // The greeting, then the three answers to USER, PASS and STAT.
    for (lines, send) in [
        (1, b"USER demo\r\nPASS demo\r\nSTAT\r\n".to_vec()),
        (3, Vec::new()),
    ] {
        while seen.iter().filter(|&&b| b == b'\n').count() < lines {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Err("raw fetch: closed early".into());
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen.clear();
        sock.write_all(&send)?;
    }
    let mut commands = Vec::new();
    for msg in 1..=FETCH_MESSAGES {
        commands.extend_from_slice(format!("RETR {msg}\r\n").as_bytes());
    }
    commands.extend_from_slice(b"QUIT\r\n");
    sock.write_all(&commands)?;
    let finder = memchr::memmem::Finder::new(b"\r\n.\r\n");
    let mut ends = 0;
    let mut tail = Vec::new();
    loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        ends += finder.find_iter(&tail).count();
        let keep = tail.len().saturating_sub(4);
        tail.drain(..keep);
        // A terminator inside the kept tail would be counted twice: it is at most 4 octets, shorter than one.
    }
    if ends as u64 != FETCH_MESSAGES {
        return Err(format!("raw fetch: {ends} messages, expected {FETCH_MESSAGES}").into());
    }
    Ok(())
}

fn fetch_once(
    fetcher: Fetcher,
    addr: SocketAddr,
    known: &KnownCapabilities,
) -> Result<(), BoxError> {
    let msgs: Vec<u64> = (1..=FETCH_MESSAGES).collect();
    let (Fetcher::OneAtATime(kind) | Fetcher::Remembered(kind)) = fetcher else {
        return raw_fetch(addr);
    };
    let poller = match fetcher {
        Fetcher::Remembered(kind) => Poller::Remembered(kind),
        _ => Poller::OneAtATime(kind),
    };
    let mut ends = 0u64;
    let on_part = |_, part: pop3_session::Part<'_>| {
        if matches!(part, pop3_session::Part::End) {
            ends += 1;
        }
        Ok(())
    };
    match kind {
        Kind::Blocking => {
            let mut session =
                poll_builder::<pop3_blocking::Blocking>(poller, addr, known).connect()?;
            if let Fetcher::Remembered(_) = fetcher {
                session.login_and_stat("demo", "demo")?;
                session.retr_many_and_quit(&msgs, on_part)?;
            } else {
                session.login("demo", "demo")?;
                session.stat()?;
                session.retr_many(&msgs, on_part)?;
                session.quit()?;
            }
        }
        Kind::AsyncStd => {
            async_fetch::<runtimes::AsyncStd>(fetcher, poller, addr, known, &msgs, on_part)?
        }
        Kind::Tokio => {
            async_fetch::<runtimes::Tokio>(fetcher, poller, addr, known, &msgs, on_part)?
        }
    }
    if ends != FETCH_MESSAGES {
        return Err(format!(
            "{}: {ends} messages, expected {FETCH_MESSAGES}",
            fetcher.name()
        )
        .into());
    }
    Ok(())
}

fn async_fetch<R: Runtime>(
    fetcher: Fetcher,
    poller: Poller,
    addr: SocketAddr,
    known: &KnownCapabilities,
    msgs: &[u64],
    on_part: impl FnMut(u64, pop3_session::Part<'_>) -> io::Result<()> + Send,
) -> Result<(), BoxError> {
    let builder = poll_builder::<Async<R::Transport>>(poller, addr, known);
    R::block_on(async move {
        let mut session = builder.connect().await?;
        if let Fetcher::Remembered(_) = fetcher {
            session.login_and_stat("demo", "demo").await?;
            session.retr_many_and_quit(msgs, on_part).await?;
        } else {
            session.login("demo", "demo").await?;
            session.stat().await?;
            session.retr_many(msgs, on_part).await?;
            session.quit().await?;
        }
        Ok(())
    })
}

/// Workload (a) as whole sessions, connect to close, behind `rtt`: the raw client's round-trip schedule against
/// the drivers', each counted.
pub(crate) fn session_table(rtt: Duration, runs: usize) -> Result<String, BoxError> {
    let config = ServerConfig::default().with_user("demo", "demo");
    let server = MemServer::start(
        config,
        Mailbox::generated(FETCH_MESSAGES as usize, 10 * 1024, 2, 1),
    )?;
    let proxy = TurnProxy::start(server.addr(), rtt)?;
    let known = {
        let mut first =
            builder::<pop3_blocking::Blocking>(proxy.addr, ClientSettings::default()).connect()?;
        first.capa()?;
        let known = first.known_capabilities().ok_or("no capabilities learnt")?;
        first.quit()?;
        known
    };
    let mut fetchers = vec![Fetcher::Raw];
    for kind in Kind::ALL {
        fetchers.extend([Fetcher::OneAtATime(kind), Fetcher::Remembered(kind)]);
    }
    let mut measured: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); fetchers.len()];
    eprintln!(
        "== whole sessions of workload (a): {} ms round trip",
        rtt.as_millis()
    );
    for run in 0..runs {
        for index in (0..fetchers.len()).map(|i| (i + run) % fetchers.len()) {
            proxy.take_turns();
            let start = Instant::now();
            fetch_once(fetchers[index], proxy.addr, &known)?;
            measured[index].0.push(start.elapsed());
            measured[index].1 = proxy.take_turns();
        }
    }
    let raw_median = median(&mut measured[0].0.clone());
    let raw_turns = measured[0].1;
    let rows = fetchers
        .iter()
        .zip(measured)
        .map(|(fetcher, (times, turns))| PollRow {
            name: fetcher.name(),
            rtt,
            times,
            turns,
            raw_median,
            raw_turns,
        })
        .collect();
    Ok(render(
        &format!(
            "### Whole sessions of workload (a), 1000 × 10 KiB, connect to close ({runs} runs)"
        ),
        rows,
    ))
}

/// The TLS half: implicit TLS (POP3S) sessions of workload (a) and (b) and of the poll, each client keeping its
/// own `rustls::ClientConfig` across runs, so that every run after the first resumes its TLS session (rustls'
/// in-memory session cache; the drivers share one configuration per `Builder`).
pub(crate) mod tls {
    use super::*;
    use pop3_session::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
    use pop3_session::{Security, TlsOptions};

    /// The workloads run over TLS.
    #[derive(Debug, Clone, Copy)]
    struct Load {
        title: &'static str,
        messages: u64,
        size: usize,
        dots: u8,
        rtt: Option<Duration>,
    }

    const LOADS: [Load; 3] = [
        Load {
            title: "W1 (a) 1000 × 10 KiB, loopback",
            messages: 1000,
            size: 10 * 1024,
            dots: 2,
            rtt: None,
        },
        Load {
            title: "W2 (b) 20 × 5 MiB, loopback",
            messages: 20,
            size: 5 * 1024 * 1024,
            dots: 5,
            rtt: None,
        },
        Load {
            title: "W3 (c) 1000 × 10 KiB, 20 ms round trip",
            messages: 1000,
            size: 10 * 1024,
            dots: 2,
            rtt: Some(Duration::from_millis(20)),
        },
    ];

    fn raw_config(ca: &pop3_memserver::tls::TestCa) -> Result<Arc<ClientConfig>, BoxError> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ))
    }

    /// The raw TLS client: the same handshake through rustls, then the raw schedule, counting terminators.
    fn raw_tls_fetch(
        addr: SocketAddr,
        config: &Arc<ClientConfig>,
        messages: u64,
    ) -> Result<(), BoxError> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let conn = ClientConnection::new(Arc::clone(config), "127.0.0.1".try_into()?)?;
        let mut tls = StreamOwned::new(conn, sock);
        let mut buf = vec![0; 256 * 1024];
        let mut seen = Vec::new();
        for (lines, send) in [
            (1, b"USER demo\r\nPASS demo\r\nSTAT\r\n".to_vec()),
            (3, Vec::new()),
        ] {
            while seen.iter().filter(|&&b| b == b'\n').count() < lines {
                let n = tls.read(&mut buf)?;
                if n == 0 {
                    return Err("raw TLS fetch: closed early".into());
                }
                seen.extend_from_slice(&buf[..n]);
            }
            seen.clear();
            tls.write_all(&send)?;
        }
        let mut commands = Vec::new();
        for msg in 1..=messages {
            commands.extend_from_slice(format!("RETR {msg}\r\n").as_bytes());
        }
        commands.extend_from_slice(b"QUIT\r\n");
        tls.write_all(&commands)?;
        tls.flush()?;
        let finder = memchr::memmem::Finder::new(b"\r\n.\r\n");
        let mut ends = 0;
        let mut tail = Vec::new();
        loop {
            let n = match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                // The server closed after QUIT's answer without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.into()),
            };
            tail.extend_from_slice(&buf[..n]);
            ends += finder.find_iter(&tail).count();
            let keep = tail.len().saturating_sub(4);
            tail.drain(..keep);
        }
        if ends as u64 != messages {
            return Err(format!("raw TLS fetch: {ends} messages, expected {messages}").into());
        }
        Ok(())
    }

    fn tls_builder<D: Driver>(
        addr: SocketAddr,
        ca_pem: &str,
        known: Option<&KnownCapabilities>,
    ) -> Result<pop3_session::Builder<D>, BoxError> {
        let builder = builder::<D>(addr, ClientSettings::default())
            .security(Security::Implicit)
            .tls(TlsOptions::default().ca_pem(ca_pem.as_bytes())?);
        Ok(match known {
            Some(known) => builder
                .known_capabilities(known.clone())
                .login_method(LoginMethod::UserPass),
            None => builder,
        })
    }

    fn ends_counter(
        ends: &mut u64,
    ) -> impl FnMut(u64, pop3_session::Part<'_>) -> io::Result<()> + Send + '_ {
        |_, part| {
            if matches!(part, pop3_session::Part::End) {
                *ends += 1;
            }
            Ok(())
        }
    }

    /// One TLS session with each driver's builder, kept across runs.
    struct Builders {
        blocking: pop3_session::Builder<pop3_blocking::Blocking>,
        async_std: pop3_session::Builder<Async<<runtimes::AsyncStd as Runtime>::Transport>>,
        tokio: pop3_session::Builder<Async<<runtimes::Tokio as Runtime>::Transport>>,
    }

    fn driver_fetch(builders: &Builders, kind: Kind, messages: u64) -> Result<(), BoxError> {
        let msgs: Vec<u64> = (1..=messages).collect();
        let mut ends = 0;
        match kind {
            Kind::Blocking => {
                let mut session = builders.blocking.connect()?;
                session.login_and_stat("demo", "demo")?;
                session.retr_many_and_quit(&msgs, ends_counter(&mut ends))?;
            }
            Kind::AsyncStd => runtimes::AsyncStd::block_on(async {
                let mut session = builders.async_std.connect().await?;
                session.login_and_stat("demo", "demo").await?;
                session
                    .retr_many_and_quit(&msgs, ends_counter(&mut ends))
                    .await?;
                Ok(())
            })?,
            Kind::Tokio => runtimes::Tokio::block_on(async {
                let mut session = builders.tokio.connect().await?;
                session.login_and_stat("demo", "demo").await?;
                session
                    .retr_many_and_quit(&msgs, ends_counter(&mut ends))
                    .await?;
                Ok(())
            })?,
        }
        if ends != messages {
            return Err(format!("{}: {ends} messages, expected {messages}", kind.name()).into());
        }
        Ok(())
    }

    /// The raw TLS poll: the same handshake, then greeting; USER, PASS, STAT, UIDL, QUIT in one write.
    fn raw_tls_poll(addr: SocketAddr, config: &Arc<ClientConfig>) -> Result<(), BoxError> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let conn = ClientConnection::new(Arc::clone(config), "127.0.0.1".try_into()?)?;
        let mut tls = StreamOwned::new(conn, sock);
        let mut buf = vec![0; 64 * 1024];
        let mut seen = Vec::new();
        while !seen.ends_with(b"\r\n") {
            let n = tls.read(&mut buf)?;
            if n == 0 {
                return Err("raw TLS poll: no greeting".into());
            }
            seen.extend_from_slice(&buf[..n]);
        }
        tls.write_all(b"USER demo\r\nPASS demo\r\nSTAT\r\nUIDL\r\nQUIT\r\n")?;
        tls.flush()?;
        seen.clear();
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.into()),
            }
        }
        let text = String::from_utf8_lossy(&seen);
        if text.matches("+OK").count() != 5 {
            return Err(format!("raw TLS poll: unexpected answers {text:?}").into());
        }
        Ok(())
    }

    /// How a POP3S poll is made.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum TlsPoller {
        Raw,
        /// Capabilities remembered, `login_listing_and_quit`, the builder (and its TLS sessions) kept.
        Resumed(Kind),
        /// The same with a new builder every time: a full handshake.
        Full,
    }

    /// The "nothing new" poll over POP3S behind 20 and 150 ms, raw rustls against every driver.
    pub(crate) fn poll_table(runs: usize) -> Result<String, BoxError> {
        let pki = pop3_memserver::tls::TestPki::generate();
        let ca_pem = pki.ca.cert_pem();
        let config = ServerConfig::default()
            .with_user("demo", "demo")
            .with_implicit_tls(pki.server_config());
        let server = MemServer::start(config, Mailbox::generated(MESSAGES, 2000, 2, 5))?;
        let mut rows = Vec::new();
        for rtt in [Duration::from_millis(20), Duration::from_millis(150)] {
            eprintln!("== POP3S poll: {} ms round trip", rtt.as_millis());
            let proxy = TurnProxy::start(server.addr(), rtt)?;
            let addr = proxy.addr;
            let known = {
                let mut first =
                    tls_builder::<pop3_blocking::Blocking>(addr, &ca_pem, None)?.connect()?;
                first.capa()?;
                let known = first.known_capabilities().ok_or("no capabilities learnt")?;
                first.quit()?;
                known
            };
            let builders = Builders {
                blocking: tls_builder(addr, &ca_pem, Some(&known))?,
                async_std: tls_builder(addr, &ca_pem, Some(&known))?,
                tokio: tls_builder(addr, &ca_pem, Some(&known))?,
            };
            let raw = raw_config(&pki.ca)?;
            let mut pollers = vec![TlsPoller::Raw];
            pollers.extend(Kind::ALL.map(TlsPoller::Resumed));
            pollers.push(TlsPoller::Full);
            let mut measured: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); pollers.len()];
            for run in 0..=runs {
                for index in (0..pollers.len()).map(|i| (i + run) % pollers.len()) {
                    proxy.take_turns();
                    let start = Instant::now();
                    let count = match pollers[index] {
                        TlsPoller::Raw => raw_tls_poll(addr, &raw).map(|()| MESSAGES)?,
                        TlsPoller::Full => {
                            tls_builder::<pop3_blocking::Blocking>(addr, &ca_pem, Some(&known))?
                                .connect()?
                                .login_listing_and_quit("demo", "demo")?
                                .1
                                .len()
                        }
                        TlsPoller::Resumed(Kind::Blocking) => builders
                            .blocking
                            .connect()?
                            .login_listing_and_quit("demo", "demo")?
                            .1
                            .len(),
                        TlsPoller::Resumed(Kind::AsyncStd) => {
                            runtimes::AsyncStd::block_on(async {
                                let mut session = builders.async_std.connect().await?;
                                Ok(session
                                    .login_listing_and_quit("demo", "demo")
                                    .await?
                                    .1
                                    .len())
                            })?
                        }
                        TlsPoller::Resumed(Kind::Tokio) => runtimes::Tokio::block_on(async {
                            let mut session = builders.tokio.connect().await?;
                            Ok(session
                                .login_listing_and_quit("demo", "demo")
                                .await?
                                .1
                                .len())
                        })?,
                    };
                    let elapsed = start.elapsed();
                    expect_messages(count)?;
                    // The first run of each is not recorded: its handshake is a full one.
                    if run > 0 {
                        measured[index].0.push(elapsed);
                        measured[index].1 = proxy.take_turns();
                    }
                }
            }
            let raw_median = median(&mut measured[0].0.clone());
            let raw_turns = measured[0].1;
            for (poller, (times, turns)) in pollers.iter().zip(measured) {
                rows.push(PollRow {
                    name: match poller {
                        TlsPoller::Raw => {
                            "raw rustls: greeting, then USER PASS STAT UIDL QUIT in one write".to_owned()
                        }
                        TlsPoller::Resumed(kind) => format!(
                            "{} `login_listing_and_quit`, remembered, TLS resumed",
                            kind.name()
                        ),
                        TlsPoller::Full => {
                            "pop3-blocking `login_listing_and_quit`, remembered, new Builder: full handshake"
                                .to_owned()
                        }
                    },
                    rtt,
                    times,
                    turns,
                    raw_median,
                    raw_turns,
                });
            }
        }
        Ok(render(
            &format!("### POP3S \"nothing new\" poll ({MESSAGES} messages, {runs} runs)"),
            rows,
        ))
    }

    /// POP3S whole sessions, connect to close, of W1, W2 and W3, raw rustls client against every driver.
    pub(crate) fn table(runs: usize) -> Result<String, BoxError> {
        let pki = pop3_memserver::tls::TestPki::generate();
        let ca_pem = pki.ca.cert_pem();
        let mut out = String::new();
        for load in LOADS {
            eprintln!("== POP3S: {}", load.title);
            let config = ServerConfig::default()
                .with_user("demo", "demo")
                .with_implicit_tls(pki.server_config());
            let server = MemServer::start(
                config,
                Mailbox::generated(load.messages as usize, load.size, load.dots, 1),
            )?;
            let proxy = load
                .rtt
                .map(|rtt| TurnProxy::start(server.addr(), rtt))
                .transpose()?;
            let addr = proxy.as_ref().map_or(server.addr(), |p| p.addr);
            // What a first session learnt.
            let known = {
                let mut first =
                    tls_builder::<pop3_blocking::Blocking>(addr, &ca_pem, None)?.connect()?;
                first.capa()?;
                let known = first.known_capabilities().ok_or("no capabilities learnt")?;
                first.quit()?;
                known
            };
            let builders = Builders {
                blocking: tls_builder(addr, &ca_pem, Some(&known))?,
                async_std: tls_builder(addr, &ca_pem, Some(&known))?,
                tokio: tls_builder(addr, &ca_pem, Some(&known))?,
            };
            let raw = raw_config(&pki.ca)?;
            let clients: Vec<Option<Kind>> =
                std::iter::once(None).chain(Kind::ALL.map(Some)).collect();
            let mut measured: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); clients.len()];
            // One unrecorded run each: the first handshake is a full one, every later one resumes.
            for run in 0..=runs {
                for index in (0..clients.len()).map(|i| (i + run) % clients.len()) {
                    if let Some(p) = &proxy {
                        p.take_turns();
                    }
                    let start = Instant::now();
                    match clients[index] {
                        None => raw_tls_fetch(addr, &raw, load.messages)?,
                        Some(kind) => driver_fetch(&builders, kind, load.messages)?,
                    }
                    let elapsed = start.elapsed();
                    if run > 0 {
                        measured[index].0.push(elapsed);
                        measured[index].1 = proxy.as_ref().map_or(0, TurnProxy::take_turns);
                    }
                }
            }
            let raw_median = median(&mut measured[0].0.clone());
            let raw_turns = measured[0].1;
            let rows = clients
                .iter()
                .zip(measured)
                .map(|(client, (times, turns))| PollRow {
                    name: match client {
                        None => {
                            "raw rustls: greeting; USER PASS STAT; every RETR and QUIT".to_owned()
                        }
                        Some(kind) => format!(
                            "{} `login_and_stat`, `retr_many_and_quit`, remembered",
                            kind.name()
                        ),
                    },
                    rtt: load.rtt.unwrap_or_default(),
                    times,
                    turns,
                    raw_median,
                    raw_turns,
                })
                .collect();
            out.push_str(&render(
                &format!(
                    "### POP3S {}, whole sessions, TLS resumed ({runs} runs)",
                    load.title
                ),
                rows,
            ));
            out.push('\n');
        }
        Ok(out)
    }
}
