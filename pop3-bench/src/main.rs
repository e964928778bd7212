//! `pop3-bench`: end-to-end throughput and memory benchmarks of the POP3 clients on loopback.
//!
//! ```text
//! cargo run --release -p pop3-bench -- [a] [b] [c] [memory] [sessions] [poll] [tls] [tls-sessions] [--runs N]
//!     [--no-python]
//!     [--tuned WINDOW:READ_SIZE]... [--raw-read OCTETS]... [--sessions N]
//! ```
//!
//! With no workload named, all run. `--tuned` adds pop3-blocking, pop3-async-std and pop3-tokio rows with that
//! `Config::max_in_flight_bytes` and `Config::read_size` (either may be left empty for the default);
//! `--raw-read` adds raw-client rows with another read size.
//!
//! The server (`pop3-memserver`'s `MemServer`, plus a `LatencyProxy` for workload c) runs in a child process
//! started from this same binary (`pop3-bench serve …`), so the client under test shares no allocator, threads
//! or RSS with it. Memory figures come from further child processes that run only a client (`stream-child`,
//! `sessions-child`). `pop3-bench client raw|blocking|async|tokio|mio ADDR MESSAGES [REPEAT] [WINDOW:READ_SIZE]` runs one
//! client alone against a `pop3-bench serve MESSAGES SIZE DOTS SEED` server, for `strace`, `perf` or valgrind.
//!
//! Every client's delivered octets are checked against the server's totals (the bench fails otherwise). On a
//! shared machine, run the binary under `chrt -f 10` (see `BENCHMARKS.md` at the top of the workspace).
#![forbid(unsafe_code)]

mod clients;
mod memory;
mod poll;
mod report;
mod runtimes;
mod server;

use std::process::ExitCode;
use std::time::Duration;

use clients::{BoxError, ClientSettings, Measurement};
use report::{Row, Table};
use runtimes::Runtime as _;
use server::{ServerProcess, ServerSpec};

/// One end-to-end workload.
#[derive(Debug, Clone, Copy)]
struct Workload {
    key: &'static str,
    title: &'static str,
    spec: ServerSpec,
    /// Measured runs of each Rust client unless `--runs` says otherwise (few for long runs).
    runs: usize,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

const WORKLOADS: [Workload; 3] = [
    Workload {
        key: "a",
        title: "(a) 1000 × 10 KiB messages, 2% dot lines",
        spec: ServerSpec {
            messages: 1000,
            size: 10 * KIB,
            dots: 2,
            seed: 1,
            latency: None,
        },
        runs: 21,
    },
    Workload {
        key: "b",
        title: "(b) 20 × 5 MiB messages, 5% dot lines",
        spec: ServerSpec {
            messages: 20,
            size: 5 * MIB,
            dots: 5,
            seed: 2,
            latency: None,
        },
        runs: 21,
    },
    Workload {
        key: "c",
        title: "(c) workload (a) behind LatencyProxy, 10 ms each way",
        spec: ServerSpec {
            messages: 1000,
            size: 10 * KIB,
            dots: 2,
            seed: 1,
            latency: Some(Duration::from_millis(10)),
        },
        runs: 11,
    },
];

/// A client to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Raw(usize),
    Driver(Driver, ClientSettings),
    /// `pop3-proto/examples/mio.rs` driving the core directly.
    Mio,
    Python,
}

/// The pop3 drivers. The end-to-end workloads measure each the same way (`login`, then one `retr_many` over
/// every message); the poll and whole-session tables run their schedules on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Blocking,
    AsyncStd,
    Tokio,
}

impl Driver {
    const ALL: [Self; 3] = [Self::Blocking, Self::AsyncStd, Self::Tokio];

    /// The crate's name.
    fn name(self) -> &'static str {
        match self {
            Self::Blocking => "pop3-blocking",
            Self::AsyncStd => runtimes::AsyncStd::DRIVER,
            Self::Tokio => runtimes::Tokio::DRIVER,
        }
    }

    /// The `client` mode's name for it.
    fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "blocking" => Some(Self::Blocking),
            "async" | "async-std" => Some(Self::AsyncStd),
            "tokio" => Some(Self::Tokio),
            _ => None,
        }
    }

    fn fetch(
        self,
        addr: std::net::SocketAddr,
        messages: u64,
        settings: ClientSettings,
    ) -> Result<Measurement, BoxError> {
        match self {
            Self::Blocking => clients::blocking(addr, messages, settings),
            Self::AsyncStd => clients::async_driver::<runtimes::AsyncStd>(addr, messages, settings),
            Self::Tokio => clients::async_driver::<runtimes::Tokio>(addr, messages, settings),
        }
    }
}

impl Client {
    fn name(self) -> String {
        match self {
            Self::Raw(read) if read == clients::RAW_READ => "raw pipelined (limit)".to_owned(),
            Self::Raw(read) => format!("raw pipelined, {} reads", report::octets(read as u64)),
            Self::Driver(driver, s) if s == ClientSettings::default() => {
                format!("{} `retr_many` (defaults)", driver.name())
            }
            Self::Driver(driver, s) => format!(
                "{} `retr_many` (window {}, read {})",
                driver.name(),
                report::octets(s.max_in_flight_bytes as u64),
                report::octets(s.read_size as u64)
            ),
            Self::Mio => "pop3-proto on mio (examples/mio.rs)".to_owned(),
            Self::Python => "Python poplib `retr` loop".to_owned(),
        }
    }
}

#[derive(Debug)]
struct Options {
    workloads: Vec<String>,
    runs: Option<usize>,
    python: bool,
    tuned: Vec<ClientSettings>,
    raw_reads: Vec<usize>,
    sessions: usize,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        workloads: Vec::new(),
        runs: None,
        python: true,
        tuned: Vec::new(),
        raw_reads: Vec::new(),
        sessions: 10_000,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || -> Result<usize, String> {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value"))?
                .parse()
                .map_err(|e| format!("{arg}: {e}"))
        };
        match arg.as_str() {
            "--runs" => options.runs = Some(value()?.max(1)),
            "--sessions" => options.sessions = value()?.max(1),
            "--no-python" => options.python = false,
            "--tuned" => {
                let spec = it.next().ok_or("--tuned needs WINDOW:READ_SIZE")?;
                options.tuned.push(parse_settings(spec)?);
            }
            "--raw-read" => {
                options.raw_reads.push(value()?);
            }
            "a" | "b" | "c" | "memory" | "sessions" | "poll" | "tls" | "tls-sessions" => {
                options.workloads.push(arg.clone());
            }
            "all" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.workloads.is_empty() {
        options.workloads = ["a", "b", "c", "memory", "sessions", "poll", "tls"]
            .map(str::to_owned)
            .to_vec();
    }
    Ok(options)
}

fn run_client(client: Client, server: &ServerProcess) -> Result<Measurement, BoxError> {
    match client {
        Client::Raw(read) => clients::raw(server.addr, server.messages, read),
        Client::Driver(driver, settings) => driver.fetch(server.addr, server.messages, settings),
        Client::Mio => clients::mio(server.addr, server.messages),
        Client::Python => clients::python(server.addr, server.messages),
    }
}

/// The `client` mode, for profiling one client alone (`strace`, `perf`, valgrind) against a server started with
/// `pop3-bench serve`: `client raw|blocking|async|tokio|mio ADDR MESSAGES [REPEAT] [WINDOW:READ_SIZE]`.
fn client_only(args: &[String]) -> Result<(), BoxError> {
    let [kind, addr, messages, rest @ ..] = args else {
        return Err(
            "client raw|blocking|async|tokio|mio ADDR MESSAGES [REPEAT] [WINDOW:READ_SIZE]".into(),
        );
    };
    let addr = addr.parse()?;
    let messages = messages.parse()?;
    let repeat: usize = rest.first().map_or(Ok(1), |r| r.parse())?;
    let settings = match rest.get(1) {
        Some(spec) => parse_settings(spec)?,
        None => ClientSettings::default(),
    };
    for _ in 0..repeat {
        let m = match kind.as_str() {
            "raw" if rest.len() > 1 => clients::raw(addr, messages, settings.read_size),
            "raw" => clients::raw(addr, messages, clients::RAW_READ),
            "mio" => clients::mio(addr, messages),
            other => match Driver::from_kind(other) {
                Some(driver) => driver.fetch(addr, messages, settings),
                None => return Err(format!("unknown client {other}").into()),
            },
        }?;
        println!(
            "{kind}: setup {:.3} ms, fetch {:.3} ms, {} octets",
            m.setup.as_secs_f64() * 1e3,
            m.fetch.as_secs_f64() * 1e3,
            m.bytes
        );
    }
    Ok(())
}

/// `WINDOW:READ_SIZE`, either may be empty for the default.
fn parse_settings(spec: &str) -> Result<ClientSettings, String> {
    let (window, read) = spec.split_once(':').unwrap_or((spec, ""));
    let mut settings = ClientSettings::default();
    if !window.is_empty() {
        settings.max_in_flight_bytes = window.parse().map_err(|e| format!("{spec}: {e}"))?;
    }
    if !read.is_empty() {
        settings.read_size = read.parse().map_err(|e| format!("{spec}: {e}"))?;
    }
    Ok(settings)
}

/// Runs one client once and checks what it delivered against the server's totals, and what the server sent.
fn measure(
    client: Client,
    server: &mut ServerProcess,
    check: &clients::RawCheck,
) -> Result<Measurement, BoxError> {
    let before = server.stats()?.body_bytes;
    let m = run_client(client, server)?;
    let sent = server.stats()?.body_bytes - before;
    let expected = if matches!(client, Client::Raw(_)) {
        check.wire
    } else {
        server.octets
    };
    if m.bytes != expected {
        return Err(format!(
            "{}: delivered {} octets, expected {expected}",
            client.name(),
            m.bytes
        )
        .into());
    }
    if sent != check.body_wire {
        return Err(format!(
            "{}: server sent {sent} body octets, expected {}",
            client.name(),
            check.body_wire
        )
        .into());
    }
    Ok(m)
}

fn end_to_end(workload: &Workload, options: &Options) -> Result<Table, BoxError> {
    eprintln!("== {}: starting server", workload.title);
    let mut server = ServerProcess::spawn(workload.spec)?;
    let check = clients::raw_check(server.addr, server.messages)?;
    if check.unstuffed != server.octets {
        return Err(format!(
            "raw check: {} unstuffed octets, server total {}",
            check.unstuffed, server.octets
        )
        .into());
    }
    let mut list = vec![Client::Raw(clients::RAW_READ)];
    list.extend(Driver::ALL.map(|d| Client::Driver(d, ClientSettings::default())));
    list.push(Client::Mio);
    for driver in Driver::ALL {
        list.extend(options.tuned.iter().map(|&t| Client::Driver(driver, t)));
    }
    list.extend(options.raw_reads.iter().map(|&r| Client::Raw(r)));
    if options.python && clients::python_available() {
        list.push(Client::Python);
    }
    let mut rows: Vec<Row> = list.iter().map(|c| Row::new(c.name())).collect();
    // One unrecorded run of each Rust client: page faults of first use, connection-setup paths, caches.
    for client in list.iter().filter(|c| **c != Client::Python) {
        run_client(*client, &server)?;
    }
    let load_start = report::load_average();
    let runs = options.runs.unwrap_or(workload.runs);
    for run in 0..runs {
        // Each run starts with a different client, so no client always follows the same one; every client's
        // fetch time is compared with the raw client's of the same run.
        let mut measured = vec![None; list.len()];
        for index in (0..list.len()).map(|i| (i + run) % list.len()) {
            let client = list[index];
            // poplib is not under test, and without pipelining it pays a round trip per message.
            let python_runs = if workload.spec.latency.is_some() {
                3
            } else {
                5
            };
            if client == Client::Python && run >= python_runs {
                continue;
            }
            measured[index] = Some(measure(client, &mut server, &check)?);
        }
        let raw = measured[0].ok_or("no raw measurement")?.fetch;
        for ((client, row), m) in list.iter().zip(&mut rows).zip(measured) {
            let Some(m) = m else { continue };
            eprintln!(
                "   run {:>2}: {:<58} setup {:>8.2} ms  fetch {:>9.2} ms  ×{:.3}",
                run + 1,
                client.name(),
                m.setup.as_secs_f64() * 1e3,
                m.fetch.as_secs_f64() * 1e3,
                m.fetch.as_secs_f64() / raw.as_secs_f64()
            );
            row.push(m, raw);
        }
    }
    Ok(Table {
        load: (load_start, report::load_average()),
        title: workload.title.to_owned(),
        octets: server.octets,
        wire: check.wire,
        rows,
    })
}

fn memory_stream() -> Result<String, BoxError> {
    eprintln!("== memory: starting server with one 1 GiB message");
    let server = ServerProcess::spawn(ServerSpec {
        messages: 1,
        size: 1024 * MIB,
        dots: 2,
        seed: 3,
        latency: None,
    })?;
    let mut reports = Vec::new();
    for kind in ["blocking", "async"] {
        let r = memory::run_stream_child(server.addr, kind)?;
        if r.bytes != server.octets {
            return Err(format!(
                "{kind} retr_to wrote {} octets, the message has {}",
                r.bytes, server.octets
            )
            .into());
        }
        reports.push(r);
    }
    Ok(report::stream_table(&reports))
}

/// Sessions per MemServer process: it holds two descriptors per connection (the socket and the clone its
/// registry keeps to shut it down), and the hard open-file limit on the machine this was written on is 20,000.
const SESSIONS_PER_SERVER: usize = 4000;

fn idle_sessions(count: usize) -> Result<String, BoxError> {
    let mut reports = Vec::new();
    let servers = count.div_ceil(SESSIONS_PER_SERVER).max(1);
    for (driver, read_size) in memory::SESSION_DRIVERS
        .into_iter()
        .flat_map(|d| [(d, ClientSettings::default().read_size), (d, 4 * KIB)])
    {
        eprintln!(
            "== idle sessions: {count} of {driver} with read_size {read_size}, {servers} server processes"
        );
        let spec = ServerSpec {
            messages: 3,
            size: 4000,
            dots: 2,
            seed: 4,
            latency: None,
        };
        let procs = (0..servers)
            .map(|_| ServerProcess::spawn(spec))
            .collect::<Result<Vec<_>, _>>()?;
        let addrs: Vec<_> = procs.iter().map(|p| p.addr).collect();
        reports.push(memory::run_sessions_child(
            driver, count, read_size, &addrs, None,
        )?);
    }
    reports.extend(idle_tls_sessions(count)?);
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    Ok(report::sessions_table(&reports, servers, hard))
}

/// Idle sessions over implicit TLS: each async driver, and rustls alone (TLS connections logged in by hand), so
/// that rustls' share of a session is told from the client's.
fn idle_tls_sessions(count: usize) -> Result<Vec<memory::SessionsReport>, BoxError> {
    let dir = std::env::temp_dir().join(format!("pop3-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    server::write_tls_files(&dir)?;
    let servers = count.div_ceil(SESSIONS_PER_SERVER).max(1);
    let mut reports = Vec::new();
    for driver in memory::SESSION_DRIVERS
        .into_iter()
        .chain([memory::RAW_RUSTLS])
    {
        eprintln!("== idle TLS sessions: {count} of {driver}, {servers} server processes");
        let spec = ServerSpec {
            messages: 3,
            size: 4000,
            dots: 2,
            seed: 4,
            latency: None,
        };
        let procs = (0..servers)
            .map(|_| ServerProcess::spawn_tls(spec, &dir))
            .collect::<Result<Vec<_>, _>>()?;
        let addrs: Vec<_> = procs.iter().map(|p| p.addr).collect();
        let mut report = memory::run_sessions_child(
            driver,
            count,
            ClientSettings::default().read_size,
            &addrs,
            Some(&dir.join("ca.pem")),
        )?;
        report.driver = format!("{} over TLS", report.driver);
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(reports)
}

fn run(options: &Options) -> Result<(), BoxError> {
    for workload in WORKLOADS
        .iter()
        .filter(|w| options.workloads.iter().any(|k| k == w.key))
    {
        let table = end_to_end(workload, options)?;
        print!("{}", table.markdown());
        println!();
    }
    if options.workloads.iter().any(|k| k == "memory") {
        let table = memory_stream()?;
        print!("{table}");
        println!();
    }
    if options.workloads.iter().any(|k| k == "poll") {
        let rtts = [Duration::from_millis(20), Duration::from_millis(150)];
        let table = poll::poll_table(&rtts, options.runs.unwrap_or(7))?;
        print!("{table}");
        println!();
        let table = poll::session_table(Duration::from_millis(20), options.runs.unwrap_or(7))?;
        print!("{table}");
        println!();
    }
    if options.workloads.iter().any(|k| k == "tls-sessions") {
        let reports = idle_tls_sessions(options.sessions)?;
        let servers = options.sessions.div_ceil(SESSIONS_PER_SERVER).max(1);
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
        print!("{}", report::sessions_table(&reports, servers, hard));
        println!();
    }
    if options.workloads.iter().any(|k| k == "tls") {
        let table = poll::tls::table(options.runs.unwrap_or(7))?;
        print!("{table}");
        let table = poll::tls::poll_table(options.runs.unwrap_or(7))?;
        print!("{table}");
        println!();
    }
    if options.workloads.iter().any(|k| k == "sessions") {
        let table = idle_sessions(options.sessions)?;
        print!("{table}");
        println!();
    }
    Ok(())
}

fn main() -> ExitCode {
    // Sockets: up to one per session here and two per session in a MemServer process.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => server::serve(&args[1..]).map_err(BoxError::from),
        Some("stream-child") => memory::stream_child(&args[1..]),
        Some("sessions-child") => memory::sessions_child(&args[1..]),
        Some("client") => client_only(&args[1..]),
        _ => parse_options(&args)
            .map_err(BoxError::from)
            .and_then(|options| run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pop3-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
