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

// The flow, shared with the other async drivers' examples, runs on these.
use pop3_async_std::{Security, Session, TlsOptions};

#[path = "poplib/flow.rs"]
mod flow;

fn main() -> ExitCode {
    let args = std::env::args().skip(1).collect();
    match async_std::task::block_on(flow::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
