//! Several accounts in one run: their settings resolved one after the other (a password prompt needs the
//! terminal to itself), then fetched at the same time up to `--jobs`, each under its own run lock. One account
//! failing does not stop the others; at the end every account gets a summary line, and the exit code is that of
//! the first account that failed, in the order of the accounts file.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::accounts;
use crate::cli::Args;
use crate::errors::Failure;
use crate::fetch::{self, Config, Log, Summary};
use crate::setup::{RunOptions, Settings};

/// Fetches one account; a run that completed but had messages refused by the server is a failure too (exit
/// code 75: they are tried again next time).
pub(crate) fn fetch_one(config: &Config, log: Log<'_>) -> Result<Summary, Failure> {
    let summary = fetch::run(config, log)?;
    if summary.refused > 0 {
        log.info(summary.line());
        return Err(Failure::Refused(format!(
            "the server refused {} message(s); they stay on the server and are tried again next run",
            summary.refused
        )));
    }
    Ok(summary)
}

/// `--all` or `--account NAME…`: the accounts of the accounts file.
pub(crate) fn fetch_accounts(args: &Args) -> ExitCode {
    let chosen = match choose(args) {
        Ok(chosen) => chosen,
        Err(failure) => return crate::fail(&failure),
    };
    let run = RunOptions::from_args(args);
    let log = Log::new(run.quiet);
    let configs: Vec<(&str, Result<Config, Failure>)> = chosen
        .iter()
        .map(|(name, settings)| (name.as_str(), settings.resolve(run, log.labelled(name))))
        .collect();
    let outcomes: Vec<Mutex<Option<Result<Summary, Failure>>>> =
        configs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let jobs = usize::from(args.accounts.jobs).min(configs.len());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, config)) = configs.get(i) else {
                        break;
                    };
                    if let Ok(config) = config {
                        let outcome = fetch_one(config, log.labelled(name));
                        *outcomes[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                    }
                }
            });
        }
    });
    let mut code = 0;
    for ((name, config), outcome) in configs.into_iter().zip(outcomes) {
        let outcome = match config {
            Err(failure) => Err(failure),
            Ok(_) => outcome
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err(Failure::Local("the account was not fetched".into()))),
        };
        match outcome {
            Ok(summary) => log.info(format!("{name}: {}", summary.line())),
            Err(failure) => {
                eprintln!("pop3-fetch: {name}: error: {failure}");
                if code == 0 {
                    code = failure.exit_code();
                }
            }
        }
    }
    ExitCode::from(code)
}

/// The accounts the command line names, with the command line's options applied to them.
fn choose(args: &Args) -> Result<Vec<(String, Settings)>, Failure> {
    let path = match &args.accounts.config {
        Some(path) => path.clone(),
        None => accounts::default_path()?,
    };
    let all = accounts::load(&path)?;
    let mut chosen = if args.accounts.all {
        all
    } else {
        let mut chosen = Vec::new();
        for name in &args.accounts.names {
            match all.iter().find(|(n, _)| n == name) {
                Some(account) if !chosen.iter().any(|(n, _): &(String, Settings)| n == name) => {
                    chosen.push(account.clone());
                }
                Some(_) => {}
                None => {
                    return Err(Failure::Config(format!(
                        "{} has no account {name} (it has: {})",
                        path.display(),
                        all.iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        chosen
    };
    for (_, settings) in &mut chosen {
        settings.override_from(args);
    }
    Ok(chosen)
}
