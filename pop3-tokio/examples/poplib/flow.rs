//! The flow of the async `poplib_main` examples, written once for every async driver: parse the arguments,
//! connect, log in, list, print every message, quit. It uses the `Session`, `Security` and `TlsOptions` the
//! example that includes it imported from its driver; the example adds the runtime that runs it.
//!
//! pop3-async-std's copy of this file is a link to pop3-tokio's: each package holds the file, and it is written
//! once.

use super::{Security, Session, TlsOptions};

const USAGE: &str = "usage: poplib_main HOST USER PASSWORD [--port N] [--plaintext | --starttls] [--ca CA.pem] [--debug N]";

/// Runs the example with its command-line arguments, the program name left out.
pub(crate) async fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
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
