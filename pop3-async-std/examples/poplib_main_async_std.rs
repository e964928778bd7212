//! Python poplib's `__main__`, async: connect, log in, list, and print every message.
//!
//! ```text
//! cargo run -p pop3-async-std --example poplib_main_async_std -- HOST USER PASSWORD [--port N]
//!                                                      [--plaintext | --starttls] [--ca CA.pem] [--debug N]
//! ```
//!
//! poplib's demo talks plaintext POP3 on port 110; this one follows the crate's defaults instead: implicit TLS on
//! port 995 with verified certificates, `--starttls` for STLS on port 110, and `--plaintext` only when asked
//! (credentials are then sent in clear). To try it against the test server:
//!
//! ```text
//! cargo run -p pop3-memserver -- --port 1110
//! cargo run -p pop3-async-std --example poplib_main_async_std -- 127.0.0.1 demo demo --port 1110 --plaintext
//! ```
#![forbid(unsafe_code)]

use std::process::ExitCode;

use pop3_async_std::{Security, Session, TlsOptions};

const USAGE: &str = "usage: poplib_main HOST USER PASSWORD [--port N] [--plaintext | --starttls] [--ca CA.pem] [--debug N]";

async fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut builder_options = (None, Security::Implicit, None, 0u8);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--port" => builder_options.0 = Some(value()?.parse::<u16>()?),
            "--plaintext" => builder_options.1 = Security::Plaintext,
            "--starttls" => builder_options.1 = Security::StartTls,
            "--ca" => builder_options.2 = Some(value()?),
            "--debug" => builder_options.3 = value()?.parse()?,
            _ if arg.starts_with("--") => {
                return Err(format!("unknown option {arg}\n{USAGE}").into());
            }
            _ => positional.push(arg),
        }
    }
    let [host, user, password] = <[String; 3]>::try_from(positional).map_err(|_| USAGE)?;
    let (port, security, ca, debug) = builder_options;

    let mut builder = Session::builder(host.as_str())
        .security(security)
        .debug_level(debug)
        .trace_to(std::io::stderr());
    if let Some(port) = port {
        builder = builder.port(port);
    }
    if let Some(ca) = ca {
        builder = builder.tls(TlsOptions::default().ca_file(ca)?);
    }
    if security == Security::Plaintext {
        builder = builder.allow_plaintext_credentials();
    }
    let mut session = builder.connect().await?;

    // a.getwelcome(); a.user(...); a.pass_(...); a.list(); a.stat()
    println!("{}", String::from_utf8_lossy(session.greeting()));
    let method = session.login(&user, &password).await?;
    eprintln!("logged in with {method}");
    let listing = session.list().await?;
    for scan in &listing {
        eprintln!("{} {}", scan.msg, scan.octets);
    }
    let stat = session.stat().await?;
    for msg in 1..=stat.count {
        // a.retr(i): poplib splits the message into lines without their endings.
        let message = session.retr(msg).await?;
        println!("Message {msg}:");
        let text = String::from_utf8_lossy(&message);
        for line in text.split_inclusive('\n') {
            println!("   {}", line.trim_end_matches(['\r', '\n']));
        }
        println!("-----------------------");
    }
    session.quit().await?;
    Ok(())
}

fn main() -> ExitCode {
    let args = std::env::args().skip(1).collect();
    match async_std::task::block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
