//! The equivalent of Python's `python -m poplib host user password`: log in, list, print every message, quit.
//!
//! ```text
//! cargo run -p pop3-blocking --example poplib_main -- [--starttls | --plaintext] [--ca CA.pem] host user password [port]
//! ```
//!
//! Implicit TLS (port 995) by default; `--starttls` upgrades a plain connection (port 110) with STLS and fails
//! if the server refuses; `--plaintext` sends everything, password included, in clear (as poplib's `POP3`
//! does). `--ca` trusts only the CA certificates in that PEM file instead of the public roots.
//! Nothing is deleted.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use pop3_blocking::{Security, Session, TlsOptions};

const USAGE: &str =
    "usage: poplib_main [--starttls | --plaintext] [--ca CA.pem] host user password [port]";

struct Args {
    security: Security,
    ca: Option<String>,
    host: String,
    user: String,
    password: String,
    port: Option<u16>,
}

fn parse_args() -> Result<Args, String> {
    let mut security = Security::Implicit;
    let mut ca = None;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--starttls" => security = Security::StartTls,
            "--plaintext" => security = Security::Plaintext,
            "--ca" => ca = Some(args.next().ok_or("--ca needs a file")?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"));
            }
            _ => positional.push(arg),
        }
    }
    let port = match positional.get(3) {
        Some(port) => Some(
            port.parse()
                .map_err(|e| format!("bad port {port:?}: {e}"))?,
        ),
        None => None,
    };
    match <[String; 3]>::try_from(positional.into_iter().take(3).collect::<Vec<_>>()) {
        Ok([host, user, password]) => Ok(Args {
            security,
            ca,
            host,
            user,
            password,
            port,
        }),
        Err(_) => Err(USAGE.to_owned()),
    }
}

fn run(args: Args) -> pop3_blocking::Result<()> {
    let mut builder = Session::builder(&args.host)
        .security(args.security)
        .timeout(Duration::from_secs(30));
    if let Some(port) = args.port {
        builder = builder.port(port);
    }
    if let Some(ca) = &args.ca {
        builder = builder.tls(TlsOptions::default().ca_file(ca)?);
    }
    if args.security == Security::Plaintext {
        // What poplib's POP3 class does; say so.
        eprintln!("warning: --plaintext sends the password and all mail unencrypted");
        builder = builder.allow_plaintext_credentials();
    }
    let mut session = builder.connect()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", String::from_utf8_lossy(session.greeting()))?;
    session.user(&args.user)?;
    session.pass(&args.password)?;
    session.list()?;
    let stat = session.stat()?;
    for msg in 1..=stat.count {
        let message = session.retr(msg)?;
        writeln!(out, "Message {msg}:")?;
        let message = message.strip_suffix(b"\n").unwrap_or(&message);
        for line in message.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            writeln!(out, "   {}", String::from_utf8_lossy(line))?;
        }
        writeln!(out, "-----------------------")?;
    }
    session.quit()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
