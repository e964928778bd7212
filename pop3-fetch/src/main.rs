//! `pop3-fetch`: fetch mail from POP3 servers into a Maildir, an mbox or a mail delivery agent.
//!
//! ```text
//! POP3_PASSWORD=… pop3-fetch --maildir ~/Maildir pops://alice@pop.example.org
//! pop3-fetch --all                # every account of ~/.config/pop3-fetch/accounts.toml
//! pop3-fetch --demo
//! ```
//!
//! Run `pop3-fetch --help` for every option (it is generated from [`cli`], as are the shell completions). The
//! design, in short:
//!
//! * **Nothing lost, nothing twice.** Each message is written to `Maildir/tmp`, fsynced, renamed into `new`, and
//!   `new` is fsynced; its file name carries its UIDL, so the next run recognises it even when the program died
//!   before it could update the state file. Deletions (`--delete`) are sent only for messages already safely on
//!   disk, and only QUIT commits them. The exact order of steps and why each crash point is safe is documented
//!   in [`fetch`]; the mbox variant in [`mbox`], the MDA in [`mda`].
//! * **Leave on server** by default, with a per-account state file of fetched UIDLs ([`state`]).
//! * **Secure by default.** `pop://` requires STLS, `pops://` is TLS from the start; certificates are always
//!   verified; plaintext needs two explicit flags.
//! * **Several accounts** from an accounts file ([`accounts`]), fetched at once up to `--jobs`, each under its
//!   own lock; one failing does not stop the others ([`runner`]).
//! * **Fast.** RETR commands are pipelined when the server offers PIPELINING, and messages stream to disk.
//!
//! Exit codes follow `sysexits.h` ([`errors::Failure::exit_code`]).
//!
//! The environment variable `POP3_FETCH_ABORT_AT` is a test hook that makes the program abort at the n-th
//! durability step ([`fault`]); it is only meant for the crash tests.
#![forbid(unsafe_code)]

mod accounts;
mod cli;
#[cfg(feature = "demo")]
mod demo;
mod errors;
mod fault;
mod fetch;
mod lf;
mod maildir;
mod mbox;
mod mbox_lock;
mod mda;
mod progress;
mod runner;
mod setup;
mod size_check;
mod state;
mod trace;
mod url;

use std::process::ExitCode;

use crate::errors::Failure;
use crate::fetch::Log;
use crate::setup::{RunOptions, Settings};

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args_os()) {
        Ok(args) => args,
        Err(Failure::Shown(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(failure) => return fail(&failure),
    };
    if let Some(shell) = args.other.completions {
        cli::completions(shell);
        return ExitCode::SUCCESS;
    }
    let result = if args.other.demo {
        demo(&args)
    } else if args.url.is_some() {
        fetch_url(&args)
    } else {
        return runner::fetch_accounts(&args);
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

/// Prints the failure and returns its exit code.
fn fail(failure: &Failure) -> ExitCode {
    eprintln!("pop3-fetch: error: {failure}");
    ExitCode::from(failure.exit_code())
}

#[cfg(feature = "demo")]
fn demo(args: &cli::Args) -> Result<(), Failure> {
    demo::run(args)
}

#[cfg(not(feature = "demo"))]
fn demo(_: &cli::Args) -> Result<(), Failure> {
    Err(Failure::Usage(
        "this pop3-fetch was built without the demo (the `demo` feature, on by default)".into(),
    ))
}

/// One account, from the URL on the command line.
fn fetch_url(args: &cli::Args) -> Result<(), Failure> {
    let run = RunOptions::from_args(args);
    let log = Log::new(run.quiet);
    let config = Settings::from_args(args).resolve(run, log)?;
    let summary = runner::fetch_one(&config, log)?;
    log.info(summary.line());
    Ok(())
}
