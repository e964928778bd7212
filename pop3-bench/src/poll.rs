//! The "nothing new" poll: connect, log in, ask what is there, QUIT, behind a link of a given round-trip time.
//! What a service polling many accounts pays on every poll, and bound by round trips alone.
//!
//! Round trips are counted, not guessed: a [`LatencyProxy`] between client and server adds half the round-trip time
//! in each direction and counts the server's turns to speak (the greeting, then each answer that follows new
//! client bytes). A client that pipelines everything after the greeting makes two; each command that waits for
//! the previous one's answer adds one.
//!
//! The raw client reads the greeting, then writes `USER`, `PASS`, `STAT`, `UIDL` and `QUIT` in one write: the
//! fewest round trips POP3 allows without knowing the server (RFC 2449 §6.6 allows pipelining before CAPA only
//! to a client that knows the server pipelines, which a raw client hard-wired for this server does).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_memserver::{LatencyProxy, Mailbox, MemServer, ServerConfig};
use pop3_session::{Async, KnownCapabilities, LoginMethod};

use crate::Driver;
use crate::clients::{BoxError, ClientSettings, builder};
use crate::runtimes::{self, Runtime};

/// A way to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poller {
    Raw,
    /// `login`, `stat`, `uidl`, `quit`: one call at a time.
    OneAtATime(Driver),
    /// `login_and_listing` (LIST and UIDL behind the credentials), then `quit`: a first contact.
    Pipelined(Driver),
    /// As `Pipelined`, with the capabilities remembered from an earlier session and USER/PASS named: CAPA, the
    /// credentials, LIST and UIDL in one write.
    Remembered(Driver),
    /// As `Remembered`, with `login_listing_and_quit`: QUIT in the same write.
    RememberedQuitting(Driver),
}

impl Poller {
    fn name(self) -> String {
        match self {
            Self::Raw => "raw: greeting, then USER PASS STAT UIDL QUIT in one write".to_owned(),
            Self::OneAtATime(driver) => {
                format!("{} `login`, `stat`, `uidl`, `quit`", driver.name())
            }
            Self::Pipelined(driver) => format!("{} `login_and_listing`, `quit`", driver.name()),
            Self::Remembered(driver) => format!(
                "{} `login_and_listing`, `quit`, capabilities remembered",
                driver.name()
            ),
            Self::RememberedQuitting(driver) => format!(
                "{} `login_listing_and_quit`, capabilities remembered",
                driver.name()
            ),
        }
    }
}

/// A poll's schedule, written once for every driver: `[]` calls pop3-blocking's methods as they are, `[.await]`
/// awaits the async drivers' (the same methods). It ends the enclosing function or async block with the result.
macro_rules! poll_session {
    ($builder:expr, $poller:expr, [$($aw:tt)*]) => {{
        let mut session = $builder.connect()$($aw)*?;
        let count = match $poller {
            Poller::OneAtATime(_) => {
                session.login("demo", "demo")$($aw)*?;
                let stat = session.stat()$($aw)*?;
                let uids = session.uidl()$($aw)*?;
                check(stat.count, uids.len())?
            }
            Poller::RememberedQuitting(_) => {
                let count = session.login_listing_and_quit("demo", "demo")$($aw)*?.1.len();
                return expect_messages(count);
            }
            _ => session.login_and_listing("demo", "demo")$($aw)*?.1.len(),
        };
        session.quit()$($aw)*?;
        expect_messages(count)
    }};
}

/// A whole fetch session's schedule over `$messages` messages, written once for every driver as
/// `poll_session!` is; every message must come whole.
macro_rules! fetch_session {
    ($builder:expr, $fetcher:expr, $messages:expr, [$($aw:tt)*]) => {{
        let msgs: Vec<u64> = (1..=$messages).collect();
        let mut ends = 0;
        let mut session = $builder.connect()$($aw)*?;
        if let Fetcher::Remembered(_) = $fetcher {
            session.login_and_stat("demo", "demo")$($aw)*?;
            session.retr_many_and_quit(&msgs, ends_counter(&mut ends))$($aw)*?;
        } else {
            session.login("demo", "demo")$($aw)*?;
            session.stat()$($aw)*?;
            session.retr_many(&msgs, ends_counter(&mut ends))$($aw)*?;
            session.quit()$($aw)*?;
        }
        expect_whole($fetcher, ends, $messages)
    }};
}

/// One poll through the proxy at `addr`; `known` is what an earlier session learnt.
fn poll_once(poller: Poller, addr: SocketAddr, known: &KnownCapabilities) -> Result<(), BoxError> {
    match poller {
        Poller::Raw => raw_poll(plain_stream(addr)?, "raw poll"),
        Poller::OneAtATime(driver)
        | Poller::Pipelined(driver)
        | Poller::Remembered(driver)
        | Poller::RememberedQuitting(driver) => match driver {
            Driver::Blocking => blocking_poll(&poll_builder(poller, addr, known), poller),
            Driver::AsyncStd => {
                async_poll::<runtimes::AsyncStd>(&poll_builder(poller, addr, known), poller)
            }
            Driver::Tokio => {
                async_poll::<runtimes::Tokio>(&poll_builder(poller, addr, known), poller)
            }
        },
    }
}

/// The settings a poll's session starts with.
fn poll_builder<D: pop3_session::Driver>(
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

/// What an async driver's sessions start from.
type AsyncBuilder<R> = pop3_session::Builder<Async<<R as Runtime>::Transport>>;
/// What pop3-blocking's sessions start from.
type BlockingBuilder = pop3_session::Builder<pop3_blocking::Blocking>;

fn blocking_poll(builder: &BlockingBuilder, poller: Poller) -> Result<(), BoxError> {
    poll_session!(builder, poller, [])
}

fn async_poll<R: Runtime>(builder: &AsyncBuilder<R>, poller: Poller) -> Result<(), BoxError> {
    R::block_on(async move { poll_session!(builder, poller, [.await]) })
}

/// What a first session learns with CAPA, as a poller keeps it between polls.
fn learn_capabilities(builder: &BlockingBuilder) -> Result<KnownCapabilities, BoxError> {
    let mut first = builder.connect()?;
    first.capa()?;
    let known = first.known_capabilities().ok_or("no capabilities learnt")?;
    first.quit()?;
    Ok(known)
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

/// A TCP connection to `addr` for a raw client.
fn plain_stream(addr: SocketAddr) -> io::Result<TcpStream> {
    let sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    Ok(sock)
}

/// Reads what is there, 0 at the end: a TLS server that closes after QUIT's answer without close_notify has
/// ended the session as much as a TCP one that closes.
fn read_until_closed(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    match stream.read(buf) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        read => read,
    }
}

/// The raw poll over `stream` (TCP or TLS): greeting, then USER, PASS, STAT, UIDL, QUIT in one write. `client`
/// names it in errors.
fn raw_poll(mut stream: impl Read + Write, client: &str) -> Result<(), BoxError> {
    let mut buf = vec![0; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(format!("{client}: no greeting").into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    stream.write_all(b"USER demo\r\nPASS demo\r\nSTAT\r\nUIDL\r\nQUIT\r\n")?;
    stream.flush()?;
    seen.clear();
    loop {
        let n = read_until_closed(&mut stream, &mut buf)?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    if text.matches("+OK").count() != 5 {
        return Err(format!("{client}: unexpected answers {text:?}").into());
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

/// One client's recorded runs: how long each took and the round trips the proxy counted in each.
#[derive(Debug, Clone, Default)]
struct Runs {
    times: Vec<Duration>,
    turns: Vec<u64>,
}

impl Runs {
    /// The round trips of the last run (0 without a proxy).
    fn last_turns(&self) -> u64 {
        self.turns.last().copied().unwrap_or_default()
    }
}

/// Runs each of `clients` clients (`run` runs the one of that index) `warm_up + runs` times, in an order that
/// turns every round so that none always follows the same other, and records all but the `warm_up` first rounds
/// (a TLS client's first handshake is a full one). `proxy` counts the round trips, if there is one.
fn measure(
    clients: usize,
    warm_up: usize,
    runs: usize,
    proxy: Option<&LatencyProxy>,
    mut run: impl FnMut(usize) -> Result<(), BoxError>,
) -> Result<Vec<Runs>, BoxError> {
    let mut measured = vec![Runs::default(); clients];
    for round in 0..warm_up + runs {
        for index in (0..clients).map(|i| (i + round) % clients) {
            if let Some(proxy) = proxy {
                proxy.take_round_trips();
            }
            let start = Instant::now();
            run(index)?;
            let elapsed = start.elapsed();
            // The proxy's last turn is counted when it reads the server's bytes, which happens before the client
            // reads them through the delay.
            let turns = proxy.map_or(0, LatencyProxy::take_round_trips);
            if round >= warm_up {
                measured[index].times.push(elapsed);
                measured[index].turns.push(turns);
            }
        }
    }
    Ok(measured)
}

/// The table's rows, one a client, each set against the first client's (the raw one's) median and round trips.
fn rows(
    names: impl IntoIterator<Item = String>,
    rtt: Duration,
    measured: Vec<Runs>,
) -> Vec<PollRow> {
    let raw_median = median(&mut measured[0].times.clone());
    let raw_turns = measured[0].last_turns();
    names
        .into_iter()
        .zip(measured)
        .map(|(name, runs)| PollRow {
            name,
            rtt,
            turns: runs.last_turns(),
            times: runs.times,
            raw_median,
            raw_turns,
        })
        .collect()
}

/// Runs every poller `runs` times behind each round-trip time, against one in-process MemServer (the poll is
/// bound by round trips, not by the server), and renders the table.
pub(crate) fn poll_table(rtts: &[Duration], runs: usize) -> Result<String, BoxError> {
    let mut config = ServerConfig::default().with_user("demo", "demo");
    config.pipelining = true;
    let server = MemServer::start(config, Mailbox::generated(MESSAGES, 2000, 2, 5))?;
    let mut pollers = vec![Poller::Raw];
    for driver in Driver::ALL {
        pollers.extend([
            Poller::OneAtATime(driver),
            Poller::Pipelined(driver),
            Poller::Remembered(driver),
            Poller::RememberedQuitting(driver),
        ]);
    }
    let mut rows = Vec::new();
    for &rtt in rtts {
        eprintln!("== poll: {} ms round trip", rtt.as_millis());
        let proxy = LatencyProxy::start(server.addr(), rtt / 2)?;
        let known = learn_capabilities(&builder(proxy.addr(), ClientSettings::default()))?;
        let measured = measure(pollers.len(), 0, runs, Some(&proxy), |index| {
            poll_once(pollers[index], proxy.addr(), &known)
        })?;
        // A poll's round trips are its schedule's: the same in every run.
        for (poller, runs) in pollers.iter().zip(&measured) {
            if let Some(changed) = runs.turns.windows(2).find(|pair| pair[0] != pair[1]) {
                return Err(format!(
                    "{}: {} round trips now, {} before",
                    poller.name(),
                    changed[1],
                    changed[0]
                )
                .into());
            }
        }
        rows.extend(self::rows(pollers.iter().map(|p| p.name()), rtt, measured));
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
    OneAtATime(Driver),
    /// Capabilities remembered, USER/PASS named: `login_and_stat`, then `retr_many_and_quit`.
    Remembered(Driver),
}

impl Fetcher {
    fn name(self) -> String {
        match self {
            Self::Raw => "raw: greeting; USER PASS STAT; every RETR and QUIT".to_owned(),
            Self::OneAtATime(driver) => {
                format!("{} `login`, `stat`, `retr_many`, `quit`", driver.name())
            }
            Self::Remembered(driver) => format!(
                "{} `login_and_stat`, `retr_many_and_quit`, capabilities remembered",
                driver.name()
            ),
        }
    }
}

/// The raw fetch over `stream` (TCP or TLS): greeting; USER, PASS, STAT in one write; every RETR of `messages`
/// and QUIT in one write, counting the terminators. `client` names it in errors.
fn raw_fetch(mut stream: impl Read + Write, messages: u64, client: &str) -> Result<(), BoxError> {
    let mut buf = vec![0; 256 * 1024];
    let mut seen = Vec::new();
    // The greeting, then the three answers to USER, PASS and STAT.
    for (lines, send) in [
        (1, b"USER demo\r\nPASS demo\r\nSTAT\r\n".to_vec()),
        (3, Vec::new()),
    ] {
        while seen.iter().filter(|&&b| b == b'\n').count() < lines {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(format!("{client}: closed early").into());
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen.clear();
        stream.write_all(&send)?;
    }
    let mut commands = Vec::new();
    for msg in 1..=messages {
        commands.extend_from_slice(format!("RETR {msg}\r\n").as_bytes());
    }
    commands.extend_from_slice(b"QUIT\r\n");
    stream.write_all(&commands)?;
    stream.flush()?;
    let finder = memchr::memmem::Finder::new(b"\r\n.\r\n");
    let mut ends = 0;
    let mut tail = Vec::new();
    loop {
        let n = read_until_closed(&mut stream, &mut buf)?;
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        ends += finder.find_iter(&tail).count();
        let keep = tail.len().saturating_sub(4);
        tail.drain(..keep);
        // A terminator inside the kept tail would be counted twice: it is at most 4 octets, shorter than one.
    }
    if ends as u64 != messages {
        return Err(format!("{client}: {ends} messages, expected {messages}").into());
    }
    Ok(())
}

/// Counts the messages `retr_many` delivers whole.
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

fn expect_whole(fetcher: Fetcher, ends: u64, messages: u64) -> Result<(), BoxError> {
    if ends != messages {
        return Err(format!("{}: {ends} messages, expected {messages}", fetcher.name()).into());
    }
    Ok(())
}

fn blocking_fetch(
    builder: &BlockingBuilder,
    fetcher: Fetcher,
    messages: u64,
) -> Result<(), BoxError> {
    fetch_session!(builder, fetcher, messages, [])
}

fn async_fetch<R: Runtime>(
    builder: &AsyncBuilder<R>,
    fetcher: Fetcher,
    messages: u64,
) -> Result<(), BoxError> {
    R::block_on(async move { fetch_session!(builder, fetcher, messages, [.await]) })
}

fn fetch_once(
    fetcher: Fetcher,
    addr: SocketAddr,
    known: &KnownCapabilities,
) -> Result<(), BoxError> {
    let (Fetcher::OneAtATime(driver) | Fetcher::Remembered(driver)) = fetcher else {
        return raw_fetch(plain_stream(addr)?, FETCH_MESSAGES, "raw fetch");
    };
    let poller = match fetcher {
        Fetcher::Remembered(driver) => Poller::Remembered(driver),
        _ => Poller::OneAtATime(driver),
    };
    match driver {
        Driver::Blocking => {
            blocking_fetch(&poll_builder(poller, addr, known), fetcher, FETCH_MESSAGES)
        }
        Driver::AsyncStd => async_fetch::<runtimes::AsyncStd>(
            &poll_builder(poller, addr, known),
            fetcher,
            FETCH_MESSAGES,
        ),
        Driver::Tokio => async_fetch::<runtimes::Tokio>(
            &poll_builder(poller, addr, known),
            fetcher,
            FETCH_MESSAGES,
        ),
    }
}

/// Workload (a) as whole sessions, connect to close, behind `rtt`: the raw client's round-trip schedule against
/// the drivers', each counted.
pub(crate) fn session_table(rtt: Duration, runs: usize) -> Result<String, BoxError> {
    let config = ServerConfig::default().with_user("demo", "demo");
    let server = MemServer::start(
        config,
        Mailbox::generated(FETCH_MESSAGES as usize, 10 * 1024, 2, 1),
    )?;
    let proxy = LatencyProxy::start(server.addr(), rtt / 2)?;
    let known = learn_capabilities(&builder(proxy.addr(), ClientSettings::default()))?;
    let mut fetchers = vec![Fetcher::Raw];
    for driver in Driver::ALL {
        fetchers.extend([Fetcher::OneAtATime(driver), Fetcher::Remembered(driver)]);
    }
    eprintln!(
        "== whole sessions of workload (a): {} ms round trip",
        rtt.as_millis()
    );
    let measured = measure(fetchers.len(), 0, runs, Some(&proxy), |index| {
        fetch_once(fetchers[index], proxy.addr(), &known)
    })?;
    Ok(render(
        &format!(
            "### Whole sessions of workload (a), 1000 × 10 KiB, connect to close ({runs} runs)"
        ),
        rows(fetchers.iter().map(|f| f.name()), rtt, measured),
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

    /// A TLS connection to `addr` through rustls for a raw client, as `config` says.
    fn raw_stream(
        addr: SocketAddr,
        config: &Arc<ClientConfig>,
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, BoxError> {
        let conn = ClientConnection::new(Arc::clone(config), "127.0.0.1".try_into()?)?;
        Ok(StreamOwned::new(conn, plain_stream(addr)?))
    }

    fn tls_builder<D: pop3_session::Driver>(
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

    /// One TLS builder for each driver, kept across runs, and what the clients need to connect.
    struct Clients {
        addr: SocketAddr,
        ca_pem: String,
        known: KnownCapabilities,
        raw: Arc<ClientConfig>,
        blocking: BlockingBuilder,
        async_std: AsyncBuilder<runtimes::AsyncStd>,
        tokio: AsyncBuilder<runtimes::Tokio>,
    }

    impl Clients {
        /// The clients of a server at `addr` whose certificate `ca` signed, with the capabilities a first session
        /// learnt.
        fn new(addr: SocketAddr, ca: &pop3_memserver::tls::TestCa) -> Result<Self, BoxError> {
            let ca_pem = ca.cert_pem();
            let known = learn_capabilities(&tls_builder(addr, &ca_pem, None)?)?;
            Ok(Self {
                addr,
                blocking: tls_builder(addr, &ca_pem, Some(&known))?,
                async_std: tls_builder(addr, &ca_pem, Some(&known))?,
                tokio: tls_builder(addr, &ca_pem, Some(&known))?,
                raw: raw_config(ca)?,
                ca_pem,
                known,
            })
        }

        /// The remembered poll with `driver`'s kept builder: `login_listing_and_quit`, TLS resumed.
        fn poll(&self, driver: Driver) -> Result<(), BoxError> {
            let poller = Poller::RememberedQuitting(driver);
            match driver {
                Driver::Blocking => blocking_poll(&self.blocking, poller),
                Driver::AsyncStd => async_poll::<runtimes::AsyncStd>(&self.async_std, poller),
                Driver::Tokio => async_poll::<runtimes::Tokio>(&self.tokio, poller),
            }
        }

        /// The remembered fetch of `messages` with `driver`'s kept builder.
        fn fetch(&self, driver: Driver, messages: u64) -> Result<(), BoxError> {
            let fetcher = Fetcher::Remembered(driver);
            match driver {
                Driver::Blocking => blocking_fetch(&self.blocking, fetcher, messages),
                Driver::AsyncStd => {
                    async_fetch::<runtimes::AsyncStd>(&self.async_std, fetcher, messages)
                }
                Driver::Tokio => async_fetch::<runtimes::Tokio>(&self.tokio, fetcher, messages),
            }
        }
    }

    /// How a POP3S poll is made.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum TlsPoller {
        Raw,
        /// Capabilities remembered, `login_listing_and_quit`, the builder (and its TLS sessions) kept.
        Resumed(Driver),
        /// The same with a new builder every time: a full handshake.
        Full,
    }

    impl TlsPoller {
        fn name(self) -> String {
            match self {
                Self::Raw => {
                    "raw rustls: greeting, then USER PASS STAT UIDL QUIT in one write".to_owned()
                }
                Self::Resumed(driver) => format!(
                    "{} `login_listing_and_quit`, remembered, TLS resumed",
                    driver.name()
                ),
                Self::Full => {
                    "pop3-blocking `login_listing_and_quit`, remembered, new Builder: full handshake"
                        .to_owned()
                }
            }
        }

        fn poll(self, clients: &Clients) -> Result<(), BoxError> {
            match self {
                Self::Raw => raw_poll(raw_stream(clients.addr, &clients.raw)?, "raw TLS poll"),
                Self::Resumed(driver) => clients.poll(driver),
                Self::Full => blocking_poll(
                    &tls_builder(clients.addr, &clients.ca_pem, Some(&clients.known))?,
                    Poller::RememberedQuitting(Driver::Blocking),
                ),
            }
        }
    }

    /// The "nothing new" poll over POP3S behind 20 and 150 ms, raw rustls against every driver.
    pub(crate) fn poll_table(runs: usize) -> Result<String, BoxError> {
        let pki = pop3_memserver::tls::TestPki::generate();
        let config = ServerConfig::default()
            .with_user("demo", "demo")
            .with_implicit_tls(pki.server_config());
        let server = MemServer::start(config, Mailbox::generated(MESSAGES, 2000, 2, 5))?;
        let mut pollers = vec![TlsPoller::Raw];
        pollers.extend(Driver::ALL.map(TlsPoller::Resumed));
        pollers.push(TlsPoller::Full);
        let mut rows = Vec::new();
        for rtt in [Duration::from_millis(20), Duration::from_millis(150)] {
            eprintln!("== POP3S poll: {} ms round trip", rtt.as_millis());
            let proxy = LatencyProxy::start(server.addr(), rtt / 2)?;
            let clients = Clients::new(proxy.addr(), &pki.ca)?;
            // One unrecorded round: the first handshake of each is a full one.
            let measured = measure(pollers.len(), 1, runs, Some(&proxy), |index| {
                pollers[index].poll(&clients)
            })?;
            rows.extend(self::rows(pollers.iter().map(|p| p.name()), rtt, measured));
        }
        Ok(render(
            &format!("### POP3S \"nothing new\" poll ({MESSAGES} messages, {runs} runs)"),
            rows,
        ))
    }

    /// POP3S whole sessions, connect to close, of W1, W2 and W3, raw rustls client against every driver.
    pub(crate) fn table(runs: usize) -> Result<String, BoxError> {
        let pki = pop3_memserver::tls::TestPki::generate();
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
                .map(|rtt| LatencyProxy::start(server.addr(), rtt / 2))
                .transpose()?;
            let clients =
                Clients::new(proxy.as_ref().map_or(server.addr(), |p| p.addr()), &pki.ca)?;
            // `None` is the raw rustls client.
            let drivers: Vec<Option<Driver>> =
                std::iter::once(None).chain(Driver::ALL.map(Some)).collect();
            // One unrecorded round: the first handshake of each is a full one, every later one resumes.
            let measured = measure(
                drivers.len(),
                1,
                runs,
                proxy.as_ref(),
                |index| match drivers[index] {
                    None => raw_fetch(
                        raw_stream(clients.addr, &clients.raw)?,
                        load.messages,
                        "raw TLS fetch",
                    ),
                    Some(driver) => clients.fetch(driver, load.messages),
                },
            )?;
            let names = drivers.iter().map(|driver| match driver {
                None => "raw rustls: greeting; USER PASS STAT; every RETR and QUIT".to_owned(),
                Some(driver) => format!(
                    "{} `login_and_stat`, `retr_many_and_quit`, remembered",
                    driver.name()
                ),
            });
            out.push_str(&render(
                &format!(
                    "### POP3S {}, whole sessions, TLS resumed ({runs} runs)",
                    load.title
                ),
                rows(names, load.rtt.unwrap_or_default(), measured),
            ));
            out.push('\n');
        }
        Ok(out)
    }
}
