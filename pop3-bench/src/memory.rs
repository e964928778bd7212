//! Memory figures from `/proc/self/status`, taken in child processes that run only a client.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::clients::{AsyncSession, BoxError, ClientSettings, async_session, blocking_session};
use crate::runtimes::{AsyncStd, Runtime, Tokio};

/// Resident memory of this process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcMem {
    /// `VmRSS`: resident now.
    pub(crate) rss_kib: u64,
    /// `VmHWM`: the peak resident size (since start, or since the last [`reset_peak`]).
    pub(crate) hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of this process.
pub(crate) fn proc_mem() -> io::Result<ProcMem> {
    let status = fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/self/status")))
    };
    Ok(ProcMem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0, `clear_refs` value 5). Returns whether it worked.
pub(crate) fn reset_peak() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What the streaming child reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StreamReport {
    /// Which client: `blocking` or `async`.
    pub(crate) client: &'static str,
    /// Octets written to the sink.
    pub(crate) bytes: u64,
    /// Seconds `retr_to` took.
    pub(crate) secs: f64,
    /// Memory just after the process started.
    pub(crate) start: ProcMem,
    /// Memory once logged in and idle, right before RETR (after resetting the peak).
    pub(crate) idle: ProcMem,
    /// Memory right after the message was streamed; `hwm_kib` is the peak while streaming.
    pub(crate) after: ProcMem,
    /// Whether the peak could be reset before streaming (else the peak covers the whole process life).
    pub(crate) peak_reset: bool,
}

/// The `stream-child` mode: `ADDR blocking|async`. Logs in, streams message 1 into a sink that drops
/// everything (`io::sink()`, or async-std's `io::sink()`) with `retr_to`, and prints the figures.
pub(crate) fn stream_child(args: &[String]) -> Result<(), BoxError> {
    let start = proc_mem()?;
    let [addr, kind] = args else {
        return Err("stream-child ADDR blocking|async".into());
    };
    let addr: SocketAddr = addr.parse()?;
    let (bytes, secs, peak_reset, idle, after) = match kind.as_str() {
        "blocking" => {
            let mut session = blocking_session(addr, ClientSettings::default())?;
            let peak_reset = reset_peak();
            let idle = proc_mem()?;
            let timer = Instant::now();
            let bytes = session.retr_to(1, &mut io::sink())?;
            let secs = timer.elapsed().as_secs_f64();
            let after = proc_mem()?;
            session.quit()?;
            (bytes, secs, peak_reset, idle, after)
        }
        "async" => async_std::task::block_on(async {
            let mut session = async_session::<AsyncStd>(addr, ClientSettings::default()).await?;
            let peak_reset = reset_peak();
            let idle = proc_mem()?;
            let timer = Instant::now();
            let bytes = session.retr_to(1, &mut async_std::io::sink()).await?;
            let secs = timer.elapsed().as_secs_f64();
            let after = proc_mem()?;
            session.quit().await?;
            Ok::<_, BoxError>((bytes, secs, peak_reset, idle, after))
        })?,
        other => return Err(format!("unknown client {other}").into()),
    };
    println!(
        "stream {bytes} {secs} {} {} {} {} {} {} {}",
        start.rss_kib,
        start.hwm_kib,
        idle.rss_kib,
        idle.hwm_kib,
        after.rss_kib,
        after.hwm_kib,
        u8::from(peak_reset)
    );
    Ok(())
}

/// Runs `pop3-bench stream-child ADDR KIND` and parses its report.
pub(crate) fn run_stream_child(addr: SocketAddr, kind: &str) -> Result<StreamReport, BoxError> {
    let output = Command::new(std::env::current_exe()?)
        .args(["stream-child".to_owned(), addr.to_string(), kind.to_owned()])
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("stream-child failed: {stdout}").into());
    }
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let bad = || -> BoxError { format!("unexpected stream-child output {stdout:?}").into() };
    let ["stream", bytes, secs, rest @ ..] = &fields[..] else {
        return Err(bad());
    };
    let n: Vec<u64> = rest.iter().filter_map(|f| f.parse().ok()).collect();
    let [s_rss, s_hwm, i_rss, i_hwm, a_rss, a_hwm, reset] = n[..] else {
        return Err(bad());
    };
    Ok(StreamReport {
        client: if kind == "async" { "async" } else { "blocking" },
        bytes: bytes.parse().map_err(|_| bad())?,
        secs: secs.parse().map_err(|_| bad())?,
        start: ProcMem {
            rss_kib: s_rss,
            hwm_kib: s_hwm,
        },
        idle: ProcMem {
            rss_kib: i_rss,
            hwm_kib: i_hwm,
        },
        after: ProcMem {
            rss_kib: a_rss,
            hwm_kib: a_hwm,
        },
        peak_reset: reset == 1,
    })
}

/// Sessions opened at once while building up the idle set. Must stay below the listener's accept backlog (128
/// for `std::net::TcpListener`): when the accept queue overflows, the kernel drops the handshake's last ACK, the
/// client believes it is connected and waits for a greeting that never comes (POP3 servers speak first).
const OPEN_BATCH: usize = 100;

/// What the idle-sessions child reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionsReport {
    /// The async driver: `pop3-async-std` or `pop3-tokio`.
    pub(crate) driver: String,
    /// Sessions open and logged in at once.
    pub(crate) sessions: usize,
    /// `Config::read_size` they used.
    pub(crate) read_size: usize,
    /// Seconds to open and log in all of them.
    pub(crate) open_secs: f64,
    /// Memory with the runtime started and one session opened and closed, before the sessions.
    pub(crate) baseline: ProcMem,
    /// Memory with every session open, logged in and idle.
    pub(crate) idle: ProcMem,
    /// `size_of` the driver's `Session`.
    pub(crate) session_size: usize,
}

/// The async drivers the idle-sessions child can measure, by the name `sessions-child` takes.
pub(crate) const SESSION_DRIVERS: [&str; 2] = [AsyncStd::DRIVER, Tokio::DRIVER];

/// The `sessions-child` mode: `DRIVER COUNT READ_SIZE ADDR[,ADDR…]`. Opens COUNT sessions of the async driver
/// (plaintext, logged in) spread over the servers, keeps them all open and idle, and prints the memory figures.
pub(crate) fn sessions_child(args: &[String]) -> Result<(), BoxError> {
    // A fifth argument, the CA's PEM file, makes every session implicit TLS to servers started with `--tls`.
    let (driver, count, read_size, addrs, ca) = match args {
        [driver, count, read_size, addrs] => (driver, count, read_size, addrs, None),
        [driver, count, read_size, addrs, ca] => (
            driver,
            count,
            read_size,
            addrs,
            Some(fs::read_to_string(ca)?),
        ),
        _ => {
            return Err(
                "sessions-child pop3-async-std|pop3-tokio|rustls COUNT READ_SIZE ADDR[,ADDR…] [CA_PEM]"
                    .into(),
            );
        }
    };
    let count: usize = count.parse()?;
    let settings = ClientSettings {
        read_size: read_size.parse()?,
        ..ClientSettings::default()
    };
    let addrs = addrs
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<SocketAddr>, _>>()?;
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    if limit < count as u64 + 64 {
        return Err(format!("open-file limit {limit} is too low for {count} sessions").into());
    }
    match driver.as_str() {
        AsyncStd::DRIVER => idle_sessions::<AsyncStd>(count, settings, addrs, ca),
        Tokio::DRIVER => idle_sessions::<Tokio>(count, settings, addrs, ca),
        RAW_RUSTLS => idle_rustls(count, &addrs, &ca.ok_or("the rustls row needs a CA")?),
        other => Err(format!("unknown async driver {other}").into()),
    }
}

/// The `sessions-child` name of rustls alone: TLS connections logged in by hand, to tell rustls' share of an idle
/// TLS session from the client's.
pub(crate) const RAW_RUSTLS: &str = "rustls";

/// Opens `count` TLS connections with rustls alone (blocking, one after another), each with the greeting read
/// and USER/PASS answered, keeps them idle and prints the figures as `idle_sessions` does.
fn idle_rustls(count: usize, addrs: &[SocketAddr], ca_pem: &str) -> Result<(), BoxError> {
    use std::io::{Read as _, Write as _};

    use pop3_session::rustls::pki_types::CertificateDer;
    use pop3_session::rustls::pki_types::pem::PemObject as _;
    use pop3_session::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = std::sync::Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let open = |addr: &SocketAddr| -> Result<StreamOwned<ClientConnection, std::net::TcpStream>, BoxError> {
        let sock = std::net::TcpStream::connect(addr)?;
        let conn = ClientConnection::new(std::sync::Arc::clone(&config), "127.0.0.1".try_into()?)?;
        let mut tls = StreamOwned::new(conn, sock);
        let mut seen = Vec::new();
        let mut buf = [0; 512];
        for (lines, send) in [(1, &b"USER demo\r\nPASS demo\r\n"[..]), (3, &b""[..])] {
            while seen.iter().filter(|&&b| b == b'\n').count() < lines {
                let n = tls.read(&mut buf)?;
                if n == 0 {
                    return Err("rustls row: closed early".into());
                }
                seen.extend_from_slice(&buf[..n]);
            }
            tls.write_all(send)?;
        }
        Ok(tls)
    };
    drop(open(&addrs[0])?);
    let baseline = proc_mem()?;
    let timer = Instant::now();
    let mut connections = Vec::with_capacity(count);
    for i in 0..count {
        connections.push(open(&addrs[i % addrs.len()])?);
    }
    let open_secs = timer.elapsed().as_secs_f64();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let idle = proc_mem()?;
    println!(
        "sessions {RAW_RUSTLS} {} 0 {open_secs} {} {} {} {} {}",
        connections.len(),
        baseline.rss_kib,
        baseline.hwm_kib,
        idle.rss_kib,
        idle.hwm_kib,
        size_of::<StreamOwned<ClientConnection, std::net::TcpStream>>()
    );
    Ok(())
}

/// Opens `count` sessions of `R`'s driver on one `R` runtime, `OPEN_BATCH` at a time (each a task), keeps them
/// all idle, reads the memory figures, checks that the sessions still answer, and prints the figures.
fn idle_sessions<R: Runtime>(
    count: usize,
    settings: ClientSettings,
    addrs: Vec<SocketAddr>,
    ca_pem: Option<String>,
) -> Result<(), BoxError> {
    // With TLS, one builder per server, shared by its sessions (one rustls configuration, as a poller has).
    let builders = match &ca_pem {
        Some(pem) => Some(
            addrs
                .iter()
                .map(|&addr| {
                    Ok(std::sync::Arc::new(
                        crate::clients::builder::<pop3_session::Async<R::Transport>>(
                            addr, settings,
                        )
                        .security(pop3_session::Security::Implicit)
                        .tls(pop3_session::TlsOptions::default().ca_pem(pem.as_bytes())?),
                    ))
                })
                .collect::<Result<Vec<_>, BoxError>>()?,
        ),
        None => None,
    };
    let open = move |i: usize| {
        let addr = addrs[i % addrs.len()];
        let builder = builders
            .as_ref()
            .map(|b| std::sync::Arc::clone(&b[i % b.len()]));
        async move {
            match builder {
                Some(builder) => {
                    let mut session = builder.connect().await?;
                    session.login("demo", "demo").await?;
                    Ok::<_, BoxError>(session)
                }
                None => async_session::<R>(addr, settings).await,
            }
        }
    };
    R::block_on(async move {
        // Start the runtime's threads and touch every code path once before the baseline.
        let mut warm = open(0).await?;
        warm.quit().await?;
        drop(warm);
        let baseline = proc_mem()?;
        let timer = Instant::now();
        let mut sessions = Vec::with_capacity(count);
        let mut next = 0;
        while next < count {
            let batch: Vec<_> = (next..count.min(next + OPEN_BATCH))
                .map(|i| R::spawn(open(i)))
                .collect();
            next += batch.len();
            for task in batch {
                sessions.push(task.await?);
            }
        }
        let open_secs = timer.elapsed().as_secs_f64();
        // Let the runtime's threads go idle before reading the figures.
        R::sleep(std::time::Duration::from_millis(500)).await;
        let idle = proc_mem()?;
        // Every session must still be usable.
        for session in sessions.iter_mut().step_by(97) {
            session.noop().await?;
        }
        println!(
            "sessions {} {} {} {open_secs} {} {} {} {} {}",
            R::DRIVER,
            sessions.len(),
            settings.read_size,
            baseline.rss_kib,
            baseline.hwm_kib,
            idle.rss_kib,
            idle.hwm_kib,
            size_of::<AsyncSession<R>>()
        );
        Ok(())
    })
}

/// Runs `pop3-bench sessions-child` against these servers and parses its report.
pub(crate) fn run_sessions_child(
    driver: &str,
    count: usize,
    read_size: usize,
    addrs: &[SocketAddr],
    ca_pem: Option<&std::path::Path>,
) -> Result<SessionsReport, BoxError> {
    let addrs: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    let mut args = vec![
        "sessions-child".to_owned(),
        driver.to_owned(),
        count.to_string(),
        read_size.to_string(),
        addrs.join(","),
    ];
    args.extend(ca_pem.map(|path| path.display().to_string()));
    let output = Command::new(std::env::current_exe()?)
        .args(args)
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("sessions-child failed: {stdout}").into());
    }
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let bad = || -> BoxError { format!("unexpected sessions-child output {stdout:?}").into() };
    let ["sessions", driver, sessions, read, secs, rest @ ..] = &fields[..] else {
        return Err(bad());
    };
    let n: Vec<u64> = rest.iter().filter_map(|f| f.parse().ok()).collect();
    let [b_rss, b_hwm, i_rss, i_hwm, size] = n[..] else {
        return Err(bad());
    };
    Ok(SessionsReport {
        driver: (*driver).to_owned(),
        sessions: sessions.parse().map_err(|_| bad())?,
        read_size: read.parse().map_err(|_| bad())?,
        open_secs: secs.parse().map_err(|_| bad())?,
        baseline: ProcMem {
            rss_kib: b_rss,
            hwm_kib: b_hwm,
        },
        idle: ProcMem {
            rss_kib: i_rss,
            hwm_kib: i_hwm,
        },
        session_size: usize::try_from(size).map_err(|_| bad())?,
    })
}
