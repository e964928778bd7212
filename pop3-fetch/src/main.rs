//! `pop3-fetch`: fetch mail from a POP3 server into a Maildir or an mbox.
//!
//! ```text
//! POP3_PASSWORD=… pop3-fetch --maildir ~/Maildir pops://alice@pop.example.org
//! pop3-fetch --demo
//! ```
//!
//! Run `pop3-fetch --help` for every option. The design, in short:
//!
//! * **Nothing lost, nothing twice.** Each message is written to `Maildir/tmp`, fsynced, renamed into `new`, and
//!   `new` is fsynced; its file name carries its UIDL, so the next run recognises it even when the program died
//!   before it could update the state file. Deletions (`--delete`) are sent only for messages already safely on
//!   disk, and only QUIT commits them. The exact order of steps and why each crash point is safe is documented
//!   in [`fetch`]; the mbox variant in [`mbox`].
//! * **Leave on server** by default, with a per-account state file of fetched UIDLs ([`state`]).
//! * **Secure by default.** `pop://` requires STLS, `pops://` is TLS from the start; certificates are always
//!   verified; plaintext needs two explicit flags.
//! * **Fast.** RETR commands are pipelined when the server offers PIPELINING, and messages stream to disk.
//!
//! Exit codes: 0 success, 1 usage, 2 network/TLS/protocol (a size mismatch included), 3 authentication, 4 server
//! refused, 5 local I/O, 6 the server and the settings do not fit.
//!
//! The environment variable `POP3_FETCH_ABORT_AT` is a test hook that makes the program abort at the n-th
//! durability step ([`fault`]); it is only meant for the crash tests.
#![forbid(unsafe_code)]

mod cli;
mod demo;
mod errors;
mod fault;
mod fetch;
mod maildir;
mod mbox;
mod progress;
mod size_check;
mod state;
mod url;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pop3_blocking::{Security, TlsOptions};

use crate::cli::{Args, Command, Output};
use crate::errors::Failure;
use crate::fetch::{Config, Log, Secret};
use crate::url::{AuthSpec, PopUrl};

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(failure) => return fail(&failure),
    };
    let result = match command {
        Command::Help => {
            print!("{}", cli::HELP);
            Ok(())
        }
        Command::Version => {
            println!("pop3-fetch {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Run(args) if args.demo => demo::run(&args),
        Command::Run(args) => fetch_once(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

fn fail(failure: &Failure) -> ExitCode {
    eprintln!("pop3-fetch: error: {failure}");
    ExitCode::from(failure.exit_code())
}

fn fetch_once(args: &Args) -> Result<(), Failure> {
    let config = config(args)?;
    let log = Log::new(args.quiet);
    let summary = fetch::run(&config, log)?;
    log.info(summary.line());
    if summary.refused > 0 {
        return Err(Failure::Refused(format!(
            "the server refused {} message(s); they stay on the server and are tried again next run",
            summary.refused
        )));
    }
    Ok(())
}

/// Turns the command line into a run configuration, reading the password or token.
fn config(args: &Args) -> Result<Config, Failure> {
    let url_text = args.url.as_deref().unwrap_or_default();
    let url = PopUrl::parse(url_text).map_err(Failure::Usage)?;
    let log = Log::new(args.quiet);
    let (security, allow_plaintext_credentials) = if url.implicit_tls {
        if args.plaintext || args.starttls_if_available {
            return Err(Failure::Usage(
                "pops:// is TLS from the start: --plaintext and --starttls-if-available do not apply".into(),
            ));
        }
        (Security::Implicit, false)
    } else if args.plaintext {
        log.warn("--plaintext: no TLS; the password and every message travel in clear");
        (Security::Plaintext, true)
    } else if args.starttls_if_available {
        if args.allow_plaintext_credentials {
            log.warn(
                "--starttls-if-available --allow-plaintext-credentials: if the server does not offer STLS (or an \
                 attacker hides the offer), the password and mail travel in clear",
            );
        }
        (
            Security::StartTlsIfAvailable,
            args.allow_plaintext_credentials,
        )
    } else {
        (Security::StartTls, args.allow_plaintext_credentials)
    };
    let tls = match &args.ca_file {
        Some(path) => TlsOptions::default().ca_file(path).map_err(|e| {
            Failure::Usage(format!("cannot use the CA file {}: {e}", path.display()))
        })?,
        None => TlsOptions::default(),
    };
    let output = match &args.output {
        Some(output) => output.clone(),
        None => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Output::Maildir(PathBuf::from(home).join("Maildir")),
            _ => {
                return Err(Failure::Usage(
                    "HOME is not set: give --maildir DIR or --mbox FILE".into(),
                ));
            }
        },
    };
    let secret = secret(args, &url)?;
    let timeout = args.timeout.unwrap_or(60);
    Ok(Config {
        url,
        security,
        allow_plaintext_credentials,
        tls,
        timeout: Duration::from_secs(timeout),
        response_timeout: Duration::from_secs(args.response_timeout.unwrap_or(timeout * 10)),
        output,
        state_file: args.state_file.clone(),
        delete: args.delete,
        secret,
        quiet: args.quiet,
        debug: args.debug,
    })
}

/// The password or token: from the environment, or asked for on the terminal.
fn secret(args: &Args, url: &PopUrl) -> Result<Secret, Failure> {
    if let Some(name) = &args.oauth_token_env {
        return match std::env::var(name) {
            Ok(token) if !token.is_empty() => Ok(Secret::OAuthToken(token)),
            _ => Err(Failure::Usage(format!(
                "--oauth-token-env {name}: the environment variable {name} is not set"
            ))),
        };
    }
    if matches!(&url.auth, AuthSpec::Sasl(m) if m == "XOAUTH2" || m == "OAUTHBEARER") {
        return Err(Failure::Usage(
            "this AUTH type needs an OAuth token: give --oauth-token-env NAME".into(),
        ));
    }
    let name = args.password_env.as_deref().unwrap_or("POP3_PASSWORD");
    match std::env::var(name) {
        Ok(password) => return Ok(Secret::Password(password)),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Failure::Usage(format!(
                "the environment variable {name} is not valid UTF-8"
            )));
        }
        Err(std::env::VarError::NotPresent) if args.password_env.is_some() => {
            return Err(Failure::Usage(format!(
                "--password-env {name}: the environment variable {name} is not set"
            )));
        }
        Err(std::env::VarError::NotPresent) => {}
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("Password for {}: ", url.account()))
            .map(Secret::Password)
            .map_err(|e| Failure::local("reading the password", &e));
    }
    Err(Failure::Usage(
        "no password: set POP3_PASSWORD (or use --password-env NAME), or run on a terminal to be asked"
            .into(),
    ))
}
