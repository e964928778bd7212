//! `pop3-memserver`: serve a generated mailbox on loopback for manual tests
//! and benchmarks.
//!
//! ```text
//! pop3-memserver [--port N] [--messages N] [--size BYTES] [--dots PERCENT]
//!                [--seed N] [--lf-only] [--stls CA_PEM_OUT | --tls CA_PEM_OUT]
//! ```
//!
//! Log in as `demo` / `demo`. With `--stls` or `--tls` a fresh test CA is
//! written to the given file so a client can be told to trust it.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

const USAGE: &str = "usage: pop3-memserver [--port N] [--messages N] [--size BYTES] \
[--dots PERCENT] [--seed N] [--lf-only] [--stls CA_PEM_OUT | --tls CA_PEM_OUT]";

#[derive(Debug)]
struct Options {
    port: u16,
    messages: usize,
    size: usize,
    dots: u8,
    seed: u64,
    lf_only: bool,
    tls: Option<(bool, String)>,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        port: 0,
        messages: 100,
        size: 10_000,
        dots: 2,
        seed: 1,
        lf_only: false,
        tls: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--port" => o.port = u16::try_from(num(value()?)?).map_err(|e| e.to_string())?,
            "--messages" => {
                o.messages = usize::try_from(num(value()?)?).map_err(|e| e.to_string())?
            }
            "--size" => o.size = usize::try_from(num(value()?)?).map_err(|e| e.to_string())?,
            "--dots" => {
                o.dots = u8::try_from(num(value()?)?.min(100)).map_err(|e| e.to_string())?
            }
            "--seed" => o.seed = num(value()?)?,
            "--lf-only" => o.lf_only = true,
            "--stls" => o.tls = Some((false, value()?)),
            "--tls" => o.tls = Some((true, value()?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut config = ServerConfig::default().with_user("demo", "demo");
    config.lf_only = o.lf_only;
    config.idle_timeout = Some(Duration::from_secs(3600));
    if let Some((implicit, path)) = &o.tls {
        let pki = TestPki::generate();
        if let Err(e) = std::fs::write(path, pki.ca.cert_pem()) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        config = if *implicit {
            config.with_implicit_tls(pki.server_config())
        } else {
            config.with_stls(pki.server_config())
        };
    }
    let mailbox = Mailbox::generated(o.messages, o.size, o.dots, o.seed);
    let total = mailbox.total_size();
    let server = match MemServer::start_on_port(config, mailbox, o.port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "pop3-memserver listening on {} ({} messages, {} octets); user demo, password demo",
        server.addr(),
        o.messages,
        total
    );
    loop {
        std::thread::park();
    }
}
