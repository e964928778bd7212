//! Crash tests: kill `pop3-fetch` at every durability step (the `POP3_FETCH_ABORT_AT` test hook) and at random
//! moments (`SIGKILL`); after each crash a normal run must finish, and the local store must then hold every
//! message of the server exactly once.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::hostile::{Hostile, LOG_TRUNCATED, SECOND, THIRD, log_server};
use common::*;
use pop3_memserver::{Mailbox, MemServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Maildir,
    Mbox,
    /// A delivery command that stores each message as a file in `DIR/mda`.
    Mda,
}

fn stored(store: Store, dir: &TempDir) -> Vec<Vec<u8>> {
    match store {
        Store::Maildir => maildir_messages(&dir.join("Maildir")),
        Store::Mbox => mbox_messages(&dir.join("mbox")),
        Store::Mda => sorted(
            std::fs::read_dir(dir.join("mda"))
                .map(|entries| {
                    entries
                        .map(|e| e.unwrap().path())
                        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                        .map(|p| crlf(&std::fs::read(p).unwrap()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
    }
}

/// The options that choose the store.
fn destination_args(store: Store, dir: &TempDir) -> Vec<String> {
    match store {
        Store::Maildir => vec![
            "--maildir".into(),
            dir.join("Maildir").display().to_string(),
        ],
        Store::Mbox => vec!["--mbox".into(), dir.join("mbox").display().to_string()],
        Store::Mda => {
            let mda = dir.join("mda");
            std::fs::create_dir_all(&mda).unwrap();
            vec![
                "--mda".into(),
                format!(
                    "f=$(mktemp {}/.tmp.XXXXXX) && cat > \"$f\" && mv \"$f\" \"$f.eml\"",
                    mda.display()
                ),
                "--state-file".into(),
                dir.join("mda.state").display().to_string(),
            ]
        }
    }
}

/// Checks that the store holds `expected` exactly, except that after an abort between an MDA's exit and the
/// record of its message (the one window no fetcher can close, see `src/mda.rs`) one message may be there twice.
fn assert_stored(store: Store, dir: &TempDir, expected: &[Vec<u8>], mda_window: bool, what: &str) {
    let mut got = stored(store, dir);
    if store == Store::Mda && mda_window {
        let twice = got.windows(2).position(|w| w[0] == w[1]);
        let twice =
            twice.unwrap_or_else(|| panic!("{what}: the aborted MDA's message is not there twice"));
        got.remove(twice);
    }
    assert_eq!(got, expected, "{what}");
}

fn args(store: Store, dir: &TempDir, ca: &Path, server: &MemServer, delete: bool) -> Vec<String> {
    let mut args = vec!["--quiet".to_owned()];
    args.extend(destination_args(store, dir));
    if delete {
        args.push("--delete".into());
    }
    args.extend(["--ca-file".into(), ca.display().to_string(), url(server)]);
    args
}

fn run_aborting(args: &[String], n: u64) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    command("demo", &args)
        .env("POP3_FETCH_ABORT_AT", n.to_string())
        .env("POP3_FETCH_TRACE_STEPS", "1")
        .output()
        .unwrap()
}

/// Whether a run aborted after an MDA had run but before the state file recording its message was renamed into
/// place: the step trace shows an `mda: run` already carried out, and no `state: fsync directory` reached after
/// it (that step follows the rename).
fn aborted_in_mda_window(out: &Output) -> bool {
    let text = stderr(out);
    let steps: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("pop3-fetch step "))
        .filter_map(|l| l.split_once(": ").map(|(_, what)| what))
        .collect();
    let Some((aborted, done)) = steps.split_last() else {
        return false;
    };
    match done.iter().rposition(|&s| s == "mda: run") {
        Some(at) => {
            !done[at..].contains(&"state: fsync directory") && *aborted != "state: fsync directory"
        }
        None => false,
    }
}

fn run_normally(args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok("demo", &args)
}

/// Aborts at step 1, 2, 3, … until a run gets through without reaching the step; after each abort, checks
/// that a normal run completes the job exactly once. Returns the number of steps seen.
fn abort_at_every_step(store: Store, delete: bool, mailbox: &Mailbox) -> u64 {
    let expected = mailbox_messages(mailbox);
    let dir_ca = TempDir::new("ca");
    let ca = dir_ca.join("ca.pem");
    // Without --delete the server never changes, so one server serves every round.
    let shared = (!delete).then(|| stls_server(mailbox.clone(), &ca));
    for n in 1.. {
        let dir = TempDir::new(&format!("abort-{store:?}-{delete}-{n}"));
        let own;
        let server = match &shared {
            Some(server) => server,
            None => {
                own = stls_server(mailbox.clone(), &ca);
                &own
            }
        };
        let args = args(store, &dir, &ca, server, delete);
        let out = run_aborting(&args, n);
        if out.status.success() {
            assert!(n > 10, "only {n} steps: the hook does not work");
            // The last run went through: it must have done the job too.
            assert_stored(store, &dir, &expected, false, "the run that went through");
            return n - 1;
        }
        assert_eq!(
            out.status.code(),
            None,
            "step {n}: expected an abort, got {:?}: {}",
            out.status,
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("POP3_FETCH_ABORT_AT={n}")),
            "step {n}: {}",
            stderr(&out)
        );
        let mda_window = aborted_in_mda_window(&out);
        // Recovery: a normal run completes, loses nothing, duplicates nothing.
        run_normally(&args);
        assert_stored(
            store,
            &dir,
            &expected,
            mda_window,
            &format!("after a crash at step {n}"),
        );
        if delete {
            assert!(
                server.mailbox().is_empty(),
                "step {n}: messages left on the server"
            );
        } else {
            assert_eq!(server.mailbox().len(), mailbox.len());
        }
        if store == Store::Maildir {
            assert!(
                maildir_tmp(&dir.join("Maildir")).is_empty(),
                "step {n}: tmp/ not cleaned"
            );
        }
        // And the state is consistent: another run fetches nothing.
        let out = run_normally(
            &args
                .iter()
                .filter(|a| *a != "--quiet")
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert!(
            out.contains(" 0 new"),
            "step {n}: second run after recovery: {out}"
        );
        assert_stored(
            store,
            &dir,
            &expected,
            mda_window,
            &format!("step {n}: second run after recovery"),
        );
    }
    unreachable!()
}

#[test]
fn abort_at_every_step_maildir() {
    let steps = abort_at_every_step(Store::Maildir, false, &Mailbox::sample());
    eprintln!("maildir, keep: {steps} durability steps");
}

#[test]
fn abort_at_every_step_maildir_delete() {
    let steps = abort_at_every_step(Store::Maildir, true, &Mailbox::sample());
    eprintln!("maildir, --delete: {steps} durability steps");
}

#[test]
fn abort_at_every_step_mda_delete() {
    let steps = abort_at_every_step(Store::Mda, true, &Mailbox::sample());
    eprintln!("MDA, --delete: {steps} durability steps");
}

/// Three messages of 1.45 MB, then the sample messages: the mbox is appended in two groups (the first closes
/// at 4 MiB).
fn mbox_mailbox() -> Mailbox {
    let mut mailbox = Mailbox::generated(3, 1_450_000, 3, 9);
    for message in Mailbox::sample().messages() {
        mailbox.push(message.clone());
    }
    mailbox
}

#[test]
fn abort_at_every_step_mbox() {
    let steps = abort_at_every_step(Store::Mbox, false, &mbox_mailbox());
    eprintln!("mbox, keep: {steps} durability steps");
}

#[test]
fn abort_at_every_step_mbox_delete() {
    let steps = abort_at_every_step(Store::Mbox, true, &mbox_mailbox());
    eprintln!("mbox, --delete: {steps} durability steps");
}

/// The arguments for a `--delete` run against the log server (message 1 is not what LIST says).
fn lying_args(store: Store, dir: &TempDir, server: &Hostile) -> Vec<String> {
    let mut args: Vec<String> = [
        "--quiet",
        "--delete",
        "--plaintext",
        "--allow-plaintext-credentials",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(destination_args(store, dir));
    args.push(server.url());
    args
}

/// Runs normally until a run succeeds (a run that meets the size mismatch stops with exit code 69).
fn run_until_done(args: &[String], what: &str) {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..3 {
        let out = run("demo", &argv);
        if out.status.success() {
            return;
        }
        assert_eq!(out.status.code(), Some(69), "{what}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not what the server announced"),
            "{what}: {}",
            stderr(&out)
        );
    }
    panic!("{what}: no run succeeded");
}

/// With a server whose message 1 is truncated by broken framing: aborts `--delete` runs at every durability
/// step, in the run that meets the mismatch (`aborted_run` 1) or in the run after it (2). After each crash,
/// normal runs finish the job, and then no connection has ever sent `DELE 1`, message 1 is still on the
/// server, and the store holds each message exactly once (message 1 as received). Returns the steps seen.
fn abort_at_every_step_after_a_size_mismatch(store: Store, aborted_run: u32) -> u64 {
    let expected = sorted([LOG_TRUNCATED.to_vec(), SECOND.to_vec(), THIRD.to_vec()]);
    for n in 1.. {
        let what = format!("{store:?}, run {aborted_run}, step {n}");
        let dir = TempDir::new(&format!("mismatch-{store:?}-{aborted_run}-{n}"));
        let server = log_server();
        let args = lying_args(store, &dir, &server);
        if aborted_run == 2 {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run("demo", &argv);
            assert_eq!(out.status.code(), Some(69), "{what}: {}", stderr(&out));
        }
        let out = run_aborting(&args, n);
        let finished = out.status.code().is_some();
        if !finished {
            assert!(
                stderr(&out).contains(&format!("POP3_FETCH_ABORT_AT={n}")),
                "{what}: {}",
                stderr(&out)
            );
        }
        run_until_done(&args, &what);
        assert_eq!(stored(store, &dir), expected, "{what}");
        assert_eq!(server.remaining(), ["u1"], "{what}");
        let dele_1 = server
            .commands()
            .iter()
            .flatten()
            .any(|line| line == "DELE 1");
        assert!(
            !dele_1,
            "{what}: message 1 was deleted: {:?}",
            server.commands()
        );
        if store == Store::Maildir {
            assert!(maildir_tmp(&dir.join("Maildir")).is_empty(), "{what}");
        }
        if finished {
            assert!(n > 3, "{what}: only {n} steps: the hook does not work");
            return n - 1;
        }
    }
    unreachable!()
}

#[test]
fn abort_at_every_step_after_a_size_mismatch_maildir() {
    for run in [1, 2] {
        let steps = abort_at_every_step_after_a_size_mismatch(Store::Maildir, run);
        eprintln!("maildir, size mismatch, run {run}: {steps} durability steps");
    }
}

#[test]
fn abort_at_every_step_after_a_size_mismatch_mbox() {
    for run in [1, 2] {
        let steps = abort_at_every_step_after_a_size_mismatch(Store::Mbox, run);
        eprintln!("mbox, size mismatch, run {run}: {steps} durability steps");
    }
}

/// A small deterministic generator for kill times (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn sigkill_at_random_times(store: Store, delete: bool) {
    let mailbox = Mailbox::generated(300, 12_000, 3, 42);
    let expected = mailbox_messages(&mailbox);
    let seed = std::env::var("POP3_FETCH_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                .into()
        });
    eprintln!("SIGKILL test {store:?} delete={delete}: POP3_FETCH_KILL_SEED={seed}");
    let mut rng = Lcg(seed);

    // How long an undisturbed run takes.
    let dir = TempDir::new("kill-baseline");
    let ca = dir.join("ca.pem");
    let server = stls_server(mailbox.clone(), &ca);
    let started = Instant::now();
    run_normally(&args(store, &dir, &ca, &server, delete));
    let full = started.elapsed();
    assert_eq!(stored(store, &dir), expected);
    eprintln!("undisturbed run: {full:?}");

    let window = (full.as_millis() as u64 * 11 / 10).max(20);
    // Single kills, each followed by a recovery run.
    for round in 0..6 {
        let dir = TempDir::new(&format!("kill-{store:?}-{delete}-{round}"));
        let server = stls_server(mailbox.clone(), &ca);
        let args = args(store, &dir, &ca, &server, delete);
        let delay = Duration::from_millis(rng.below(window));
        kill_after(&args, delay);
        eprintln!(
            "round {round}: killed after {delay:?} with {} of {} messages stored",
            stored(store, &dir).len(),
            expected.len()
        );
        run_normally(&args);
        assert_eq!(
            stored(store, &dir),
            expected,
            "round {round}, killed after {delay:?}"
        );
        if delete {
            assert!(server.mailbox().is_empty());
        }
    }
    // Several kills in a row on the same store, then one recovery run.
    let dir = TempDir::new(&format!("kill-{store:?}-{delete}-series"));
    let server = stls_server(mailbox.clone(), &ca);
    let args = args(store, &dir, &ca, &server, delete);
    for _ in 0..5 {
        kill_after(&args, Duration::from_millis(rng.below(window / 2)));
    }
    run_normally(&args);
    assert_eq!(stored(store, &dir), expected, "after a series of kills");
    if delete {
        assert!(server.mailbox().is_empty());
    }
}

/// Starts a run and sends it `SIGKILL` after `delay` (if it is still running).
fn kill_after(args: &[String], delay: Duration) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = command("demo", &args).spawn().unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap();
}

#[test]
fn sigkill_at_random_times_maildir() {
    sigkill_at_random_times(Store::Maildir, false);
}

#[test]
fn sigkill_at_random_times_maildir_delete() {
    sigkill_at_random_times(Store::Maildir, true);
}

#[test]
fn sigkill_at_random_times_mbox_delete() {
    sigkill_at_random_times(Store::Mbox, true);
}
