//! TEST HOOK: deterministic crash injection.
//!
//! Every durability step (a file created, written, fsynced, renamed; a directory fsynced; the state file
//! replaced; DELE and QUIT sent) calls [`step`]. When the environment variable `POP3_FETCH_ABORT_AT` is set to
//! `n`, the `n`-th step calls [`std::process::abort`] *just before* the step is carried out, so the process dies
//! as abruptly as with `SIGKILL` (no destructors, no buffered output flushed). The crash tests run the program
//! once for every `n` from 1 until a run finishes without reaching `n`, and check after each crash that a normal
//! run loses nothing and fetches nothing twice.
//!
//! This exists only for those tests. It is read once at start-up; when the variable is unset (as it always is
//! for users) every call is a single relaxed atomic load. `POP3_FETCH_TRACE_STEPS=1` prints each step's number
//! and name to standard error, to see where a given `n` lands.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Hook {
    abort_at: Option<u64>,
    trace: bool,
}

static HOOK: OnceLock<Hook> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn hook() -> &'static Hook {
    HOOK.get_or_init(|| Hook {
        abort_at: std::env::var("POP3_FETCH_ABORT_AT")
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        trace: std::env::var_os("POP3_FETCH_TRACE_STEPS").is_some(),
    })
}

/// Marks the start of a durability step named `what` (test hook; see the module documentation).
pub(crate) fn step(what: &str) {
    let hook = hook();
    if hook.abort_at.is_none() && !hook.trace {
        return;
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    if hook.trace {
        eprintln!("pop3-fetch step {n}: {what}");
    }
    if hook.abort_at == Some(n) {
        eprintln!("pop3-fetch: POP3_FETCH_ABORT_AT={n}: aborting before {what}");
        std::process::abort();
    }
}
