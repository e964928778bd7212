//! End-to-end tests of the `pop3-fetch` binary, by its command line only, against independent real servers
//! (pop3-testkit's servers: GNU Mailutils, Cyrus, Courier, perdition in front of popa3d, solid-pop3d,
//! popa3d): keep, rerun, delete, and a crash at every durability step followed by a rerun.

mod common;

use common::*;
use pop3_testkit::servers::corpus::{HARD_BIG, hard_messages};
use pop3_testkit::servers::{self, Mailbox, Mode, PopServer};

/// Arguments for fetching `mailbox` from `server` into `maildir`: STLS with the server's CA where it offers
/// STLS, credentials in clear (opted in) where it offers nothing else.
fn fetch_args(
    server: &dyn PopServer,
    dir: &TempDir,
    maildir: &str,
    mailbox: &Mailbox,
    extra: &[&str],
) -> Vec<String> {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    if !server.profile().modes.contains(&Mode::StartTls) {
        args.extend(["--plaintext".into(), "--allow-plaintext-credentials".into()]);
    }
    args.extend([
        "--maildir".into(),
        dir.join(maildir).display().to_string(),
        "--ca-file".into(),
        ca.display().to_string(),
        format!(
            "pop://{}@127.0.0.1:{}",
            mailbox.user,
            server.port(Mode::Plaintext)
        ),
    ]);
    args
}

fn fetch(mailbox: &Mailbox, args: &[String]) -> String {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&mailbox.password, &argv)
}

fn sorted_served(mailbox: &Mailbox) -> Vec<Vec<u8>> {
    sorted(mailbox.served.clone())
}

/// The Maildir holds exactly `expected` (sorted); on failure says how it differs instead of dumping 5 MB.
#[track_caller]
fn assert_maildir(maildir: &std::path::Path, expected: &[Vec<u8>], what: &str) {
    let got = maildir_messages(maildir);
    if got != expected {
        let sizes = |m: &[Vec<u8>]| m.iter().map(Vec::len).collect::<Vec<_>>();
        panic!(
            "{what}: the Maildir holds {} messages of sizes {:?}, expected {} of sizes {:?}",
            got.len(),
            sizes(&got),
            expected.len(),
            sizes(expected)
        );
    }
}

/// How many messages are left on the server: a fetch into a fresh Maildir reports them all as new.
fn left_on_server(server: &dyn PopServer, dir: &TempDir, mailbox: &Mailbox, probe: &str) -> usize {
    fetch(mailbox, &fetch_args(server, dir, probe, mailbox, &[]));
    maildir_messages(&dir.join(probe)).len()
}

/// Keep: every hard message arrives byte for byte as the server serves it and stays on the server; a rerun
/// fetches nothing; `--delete` then empties the server without fetching anything twice.
fn keep_rerun_delete(server: &dyn PopServer) {
    let messages = hard_messages();
    let name = server.profile().name;
    let mailbox = server.mailbox("fetch", &messages);
    let dir = TempDir::new("servers-keep");
    let args = fetch_args(server, &dir, "Maildir", &mailbox, &[]);
    let out = fetch(&mailbox, &args);
    assert!(
        out.contains(&format!("{} new", messages.len())),
        "{name}: {out}"
    );
    assert_maildir(
        &dir.join("Maildir"),
        &sorted_served(&mailbox),
        &format!("{name}: fetched messages"),
    );

    let out = fetch(&mailbox, &args);
    assert!(out.contains("0 new"), "{name}: rerun: {out}");

    let delete = fetch_args(server, &dir, "Maildir", &mailbox, &["--delete"]);
    let out = fetch(&mailbox, &delete);
    assert!(out.contains("0 new"), "{name}: --delete run: {out}");
    assert_maildir(
        &dir.join("Maildir"),
        &sorted_served(&mailbox),
        &format!("{name}: after --delete"),
    );
    assert_eq!(
        left_on_server(server, &dir, &mailbox, "probe"),
        0,
        "{name}: messages left after --delete"
    );
}

/// A `--delete` run aborted at every durability step in turn; a normal rerun then leaves every message exactly
/// once in the Maildir and none on the server.
fn crash_and_rerun(server: &dyn PopServer) {
    let messages = &hard_messages()[..HARD_BIG];
    let name = server.profile().name;
    for n in 1.. {
        let mailbox = server.mailbox("crash", messages);
        let expected = sorted_served(&mailbox);
        let dir = TempDir::new(&format!("servers-crash-{n}"));
        let args = fetch_args(server, &dir, "Maildir", &mailbox, &["--delete", "--quiet"]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = command(&mailbox.password, &argv)
            .env("POP3_FETCH_ABORT_AT", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            assert!(n > 10, "{name}: only {n} steps");
            assert_maildir(
                &dir.join("Maildir"),
                &expected,
                &format!("{name}: without a crash"),
            );
            eprintln!("{name}, --delete: {} durability steps", n - 1);
            return;
        }
        assert_eq!(
            out.status.code(),
            None,
            "{name}, step {n}: {}",
            stderr(&out)
        );
        fetch(&mailbox, &args);
        assert_maildir(
            &dir.join("Maildir"),
            &expected,
            &format!("{name}: after a crash at step {n}"),
        );
        assert!(
            maildir_tmp(&dir.join("Maildir")).is_empty(),
            "{name}: step {n}: tmp/ not empty"
        );
        assert_eq!(
            left_on_server(server, &dir, &mailbox, "probe"),
            0,
            "{name}: step {n}: messages left"
        );
    }
}

#[test]
fn mailutils_keep_rerun_delete() {
    keep_rerun_delete(servers::mailutils());
}

#[test]
fn mailutils_crash_and_rerun() {
    crash_and_rerun(servers::mailutils());
}

#[test]
fn perdition_keep_rerun_delete() {
    keep_rerun_delete(servers::perdition());
}

#[test]
fn perdition_crash_and_rerun() {
    crash_and_rerun(servers::perdition());
}

#[test]
fn solid_pop3d_keep_rerun_delete() {
    keep_rerun_delete(servers::solid_pop3d());
}

#[test]
fn solid_pop3d_crash_and_rerun() {
    crash_and_rerun(servers::solid_pop3d());
}

#[test]
fn popa3d_keep_rerun_delete() {
    keep_rerun_delete(servers::popa3d());
}

#[test]
fn cyrus_keep_rerun_delete() {
    keep_rerun_delete(servers::cyrus());
}

#[test]
fn cyrus_crash_and_rerun() {
    crash_and_rerun(servers::cyrus());
}

/// Courier serves a message with raw 8-bit headers as a generated notice to a client that has not said `UTF8`;
/// pop3-fetch says it whenever CAPA offers it, so every hard message must arrive as stored.
#[test]
fn courier_keep_rerun_delete() {
    keep_rerun_delete(servers::courier());
}

#[test]
fn courier_crash_and_rerun() {
    crash_and_rerun(servers::courier());
}
