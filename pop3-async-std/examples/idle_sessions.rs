//! Opens many POP3 sessions at once on one thread and measures the memory one idle session costs.
//!
//! ```text
//! cargo run --release -p pop3-async-std --example idle_sessions -- [--sessions N] [--read-size BYTES] [--tls]
//!                                                                  [--addr HOST:PORT]
//! ```
//!
//! The server must not share the measured process: `pop3_memserver::MemServer` runs a thread per connection, and
//! its stacks and buffers would be counted as the client's. So, unless `--addr` names a running server (e.g.
//! `cargo run -p pop3-memserver -- --port 1110`, user `demo`/`demo`), this program starts a copy of itself with
//! `--serve` as a child process, which runs the server and prints its address.
//!
//! Method: open one session and close it (so the runtime, its reactor thread, the TLS configuration and the
//! allocator's first arenas are in place), read `VmRSS` from `/proc/self/status`, open N sessions (connect, log
//! in, STAT; at most 64 connecting at a time, all polled inside `async_std::task::block_on` on this one thread),
//! read `VmRSS` again while all N sit idle, and divide the difference by N. Then all N sessions retrieve a
//! message and quit concurrently (`join_all`), and any error fails the run.
//!
//! Each session needs a file descriptor here, and two in the server process (MemServer keeps a duplicate of each
//! socket): the soft `RLIMIT_NOFILE` is raised as far as the hard limit allows (else run `ulimit -n 4096` first).
//! With a hard limit of 20,000, a run of 10,000 sessions loses the last few to the server's limit.
#![forbid(unsafe_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_std::task::block_on;
use futures::future::join_all;
use futures::stream::{self, StreamExt as _};
use pop3_async_std::proto::Config;
use pop3_async_std::{Builder, Security, Session, TlsOptions};

/// How many sessions may be connecting at once.
const CONNECTING: usize = 64;

#[derive(Debug)]
struct Options {
    sessions: usize,
    read_size: Option<usize>,
    tls: bool,
    addr: Option<String>,
    serve: bool,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        sessions: 1000,
        read_size: None,
        tls: false,
        addr: None,
        serve: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sessions" => options.sessions = value()?.parse().map_err(|e| format!("{e}"))?,
            "--read-size" => {
                options.read_size = Some(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--tls" => options.tls = true,
            "--addr" => options.addr = Some(value()?),
            "--serve" => options.serve = true,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(options)
}

/// The child: a MemServer (STLS with a fresh test CA if `--tls`) until its standard input closes.
fn serve(tls: bool) {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut config = pop3_memserver::ServerConfig::default().with_user("demo", "demo");
    let mut ca = None;
    if tls {
        let pki = pop3_memserver::tls::TestPki::generate();
        config = config.with_stls(pki.server_config());
        ca = Some(pki.ca.cert_pem());
    }
    let mailbox = pop3_memserver::Mailbox::generated(10, 10_000, 2, 1);
    let server = pop3_memserver::MemServer::start(config, mailbox).expect("server starts");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", server.addr()).unwrap();
    if let Some(ca) = ca {
        writeln!(out, "{}", ca.replace('\n', "|")).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    // Until the parent goes away.
    let _ = std::io::stdin().read_line(&mut String::new());
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn main() {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if options.serve {
        return serve(options.tls);
    }

    let limit = rlimit::increase_nofile_limit(options.sessions as u64 + 256).unwrap_or(0);
    if limit < options.sessions as u64 + 64 {
        eprintln!(
            "open-file limit {limit} is too low for {} sessions: run `ulimit -n 4096`",
            options.sessions
        );
        std::process::exit(1);
    }

    let mut child = None;
    let (addr, ca) = match &options.addr {
        Some(addr) => (addr.clone(), None),
        None => {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .arg("--serve")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            if options.tls {
                command.arg("--tls");
            }
            let mut spawned = command.spawn().expect("server process starts");
            let mut lines = BufReader::new(spawned.stdout.take().unwrap()).lines();
            let addr = lines.next().unwrap().unwrap();
            let ca = options
                .tls
                .then(|| lines.next().unwrap().unwrap().replace('|', "\n"));
            child = Some(spawned);
            (addr, ca)
        }
    };
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    let port: u16 = port.parse().expect("a port number");

    let builder = || {
        let mut config = Config::default();
        if let Some(read_size) = options.read_size {
            config.read_size = read_size;
        }
        let builder = Builder::new(host)
            .port(port)
            .config(config)
            .timeout(Duration::from_secs(120));
        match &ca {
            Some(ca) => builder
                .security(Security::StartTls)
                .tls(TlsOptions::default().ca_pem(ca.as_bytes()).unwrap()),
            None => builder
                .security(Security::Plaintext)
                .allow_plaintext_credentials(),
        }
    };
    let open = |builder: Builder| async move {
        let mut session = builder.connect().await.map_err(|e| ("connecting", e))?;
        session
            .login("demo", "demo")
            .await
            .map_err(|e| ("logging in", e))?;
        session.stat().await.map_err(|e| ("STAT", e))?;
        Ok::<Session, (&str, pop3_async_std::Error)>(session)
    };

    block_on(async {
        let mut warm = open(builder())
            .await
            .map_err(|(_, e)| e)
            .expect("first session");
        warm.quit().await.expect("QUIT");
        drop(warm);

        let before = vm_rss_kib();
        let start = Instant::now();
        // At most CONNECTING handshakes at a time: a burst of a thousand SYNs overflows the server's accept queue
        // (MemServer listens with the default backlog of 128), and a dropped connection of a server-speaks-first
        // protocol just waits for a greeting that never comes. Opened sessions stay open meanwhile.
        let opened: Vec<_> = stream::iter((0..options.sessions).map(|_| open(builder())))
            .buffer_unordered(CONNECTING)
            .collect()
            .await;
        let elapsed = start.elapsed();
        let after = vm_rss_kib();
        let mut sessions = Vec::new();
        let mut errors = 0;
        for result in opened {
            match result {
                Ok(session) => sessions.push(session),
                Err((stage, error)) => {
                    errors += 1;
                    eprintln!("session failed {stage}: {error}");
                }
            }
        }
        let n = sessions.len().max(1) as u64;
        println!(
            "{} sessions open at once on one thread ({}, read_size {} octets), opened in {elapsed:.2?}",
            sessions.len(),
            if options.tls { "STLS" } else { "plaintext" },
            options.read_size.unwrap_or(Config::default().read_size),
        );
        println!(
            "VmRSS {before} KiB before, {after} KiB with all idle: {:.1} KiB per idle session",
            (after.saturating_sub(before)) as f64 / n as f64
        );

        let done = join_all(sessions.iter_mut().map(|session| async move {
            session.retr(1).await?;
            session.quit().await
        }))
        .await;
        errors += done.iter().filter(|result| result.is_err()).count();
        println!("errors: {errors}");
        if errors > 0 {
            std::process::exit(1);
        }
    });
    if let Some(mut child) = child {
        drop(child.stdin.take());
        let _ = child.wait();
    }
}
