//! Python poplib's `__main__` on tokio: connect, log in, list, and print every message.
//!
//! ```text
//! cargo run -p pop3-tokio --example poplib_main_tokio -- HOST USER PASSWORD [--port N]
//!                                                  [--plaintext | --starttls] [--ca CA.pem] [--debug N]
//! ```
//!
//! poplib's demo talks plaintext POP3 on port 110; this one follows the crate's defaults instead: implicit TLS on
//! port 995 with verified certificates, `--starttls` for STLS on port 110, and `--plaintext` only when asked
//! (credentials are then sent in clear). To try it against the test server:
//!
//! ```text
//! cargo run -p pop3-memserver -- --port 1110
//! cargo run -p pop3-tokio --example poplib_main_tokio -- 127.0.0.1 demo demo --port 1110 --plaintext
//! ```
#![forbid(unsafe_code)]

use std::process::ExitCode;

// The flow, shared with the other async drivers' examples, runs on these.
use pop3_tokio::{Security, Session, TlsOptions};

#[path = "poplib/flow.rs"]
mod flow;

/// One thread is all a single session needs: a current-thread runtime with the I/O and time drivers.
fn main() -> ExitCode {
    let args = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(flow::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
