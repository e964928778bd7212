//! End-to-end tests of delivery against `pop3-memserver`: an mbox shared with programs that take `fcntl` locks
//! and dotlocks (as mutt and procmail do), an MDA that fails, the wire form kept, and the shell completions.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pop3_memserver::Mailbox;

/// A program that holds the mbox's `fcntl` write lock (what mutt takes) for `secs` seconds; returns once it has
/// the lock.
fn hold_fcntl_lock(mbox: &std::path::Path, secs: f64) -> std::process::Child {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\n\
             f = open(sys.argv[1], 'a')\n\
             fcntl.lockf(f, fcntl.LOCK_EX)\n\
             print('locked', flush=True)\n\
             time.sleep(float(sys.argv[2]))\n",
        ])
        .arg(mbox)
        .arg(secs.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn mbox_waits_for_the_fcntl_lock_and_the_dotlock_of_other_programs() {
    let dir = TempDir::new("mbox-locks");
    let ca = dir.join("ca.pem");
    let mbox = dir.join("mbox");
    let (mbox_arg, ca_arg) = (mbox.to_str().unwrap(), ca.to_str().unwrap());
    // Each step serves one message more (a new server instance: the state belongs to user@host, not the port).
    let mut mailbox = Mailbox::sample();
    let fetch = |mailbox: &Mailbox| {
        let server = stls_server(mailbox.clone(), &ca);
        let started = Instant::now();
        let out = run_ok(
            "demo",
            &["--mbox", mbox_arg, "--ca-file", ca_arg, &url(&server)],
        );
        (out, started.elapsed())
    };

    // A mail reader holds the fcntl lock for 1.5 s: pop3-fetch waits for it, then appends.
    let mut reader = hold_fcntl_lock(&mbox, 1.5);
    let (_, waited) = fetch(&mailbox);
    assert!(
        waited >= Duration::from_millis(1000),
        "did not wait for the fcntl lock ({waited:?})"
    );
    reader.wait().unwrap();
    assert_eq!(mbox_messages(&mbox), mailbox_messages(&mailbox));
    assert!(!dir.join("mbox.lock").exists(), "the dotlock is released");

    // A live process's dotlock (procmail's way): pop3-fetch waits until it is gone.
    mailbox = mailbox.with_message_uid("later-1", b"Subject: one more\r\n\r\nhi\r\n".to_vec());
    let mut holder = Command::new("sleep").arg("1.5").spawn().unwrap();
    fs::write(dir.join("mbox.lock"), format!("{}\n", holder.id())).unwrap();
    let lock = dir.join("mbox.lock");
    let remover = std::thread::spawn(move || {
        holder.wait().unwrap();
        fs::remove_file(lock).unwrap();
    });
    let (out, waited) = fetch(&mailbox);
    assert!(out.contains("1 new"), "{out}");
    assert!(
        waited >= Duration::from_millis(1000),
        "did not wait for the dotlock ({waited:?})"
    );
    remover.join().unwrap();
    assert_eq!(mbox_messages(&mbox), mailbox_messages(&mailbox));

    // A dotlock left by a process that is gone (a crash) is taken over at once.
    mailbox = mailbox.with_message_uid("later-2", b"Subject: and another\r\n\r\nhi\r\n".to_vec());
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    fs::write(dir.join("mbox.lock"), format!("{pid}\n")).unwrap();
    let (out, _) = fetch(&mailbox);
    assert!(out.contains("1 new"), "{out}");
    assert_eq!(mbox_messages(&mbox), mailbox_messages(&mailbox));
    assert!(!dir.join("mbox.lock").exists());
}

#[test]
fn a_failing_mda_keeps_the_message_on_the_server() {
    let dir = TempDir::new("mda-fails");
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let state = dir.join("state");
    let delivered = dir.join("delivered");
    // An MDA that refuses every message (EX_TEMPFAIL, as procmail says when it cannot deliver).
    let out = run(
        "demo",
        &[
            "--mda",
            "cat > /dev/null; exit 75",
            "--state-file",
            state.to_str().unwrap(),
            "--delete",
            "--ca-file",
            ca.to_str().unwrap(),
            &url(&server),
        ],
    );
    assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the MDA `cat > /dev/null; exit 75` failed (exit status: 75)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.mailbox().len(), 5, "nothing may be deleted");
    // The MDA works again: every message is delivered, in the wire form with --keep-crlf, then deleted.
    fs::create_dir_all(&delivered).unwrap();
    let mda = format!("cat > \"$(mktemp {}/m.XXXXXX)\"", delivered.display());
    run_ok(
        "demo",
        &[
            "--mda",
            &mda,
            "--keep-crlf",
            "--state-file",
            state.to_str().unwrap(),
            "--delete",
            "--ca-file",
            ca.to_str().unwrap(),
            &url(&server),
        ],
    );
    let got = sorted(
        fs::read_dir(&delivered)
            .unwrap()
            .map(|e| fs::read(e.unwrap().path()).unwrap()),
    );
    assert_eq!(got, mailbox_messages(&Mailbox::sample()));
    assert!(server.mailbox().is_empty());
}

#[test]
fn shell_completions_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_ok("", &["--completions", shell]);
        // fish spells options `-l account`, the others `--account`.
        for option in ["account", "all", "skip-size", "mda", "dry-run"] {
            assert!(out.contains(option), "{shell}: {option} missing");
        }
    }
    let help = run_ok("", &["--help"]);
    for text in [
        "ACCOUNT IDENTITY",
        "EX_TEMPFAIL",
        "--refetch",
        "[accounts.work]",
    ] {
        assert!(help.contains(text), "--help lacks {text}");
    }
}
