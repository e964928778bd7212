//! End-to-end tests of the `pop3-fetch` binary against a real Dovecot (pop3-testkit).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use pop3_testkit::{Dovecot, SAMPLE_BIG, SAMPLE_NO_FINAL_NEWLINE, TestUser, sample_messages};

/// What RETR gives for the sample messages: Dovecot ends the one without a final line break with CRLF.
fn as_retrieved(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = messages.to_vec();
    if let Some(m) = out.get_mut(SAMPLE_NO_FINAL_NEWLINE) {
        m.extend_from_slice(b"\r\n");
    }
    sorted(out)
}

fn pop_url(dovecot: &Dovecot, user: &TestUser, auth: &str) -> String {
    format!(
        "pop://{}{auth}@127.0.0.1:{}",
        user.name,
        dovecot.pop3_port()
    )
}

fn maildir_args(dovecot: &Dovecot, maildir: &Path, url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    args.extend([
        "--maildir".to_owned(),
        maildir.display().to_string(),
        "--ca-file".to_owned(),
        dovecot.ca_path().display().to_string(),
        url.to_owned(),
    ]);
    args
}

fn ok(password: &str, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(password, &args)
}

/// Messages left in the user's mailbox on the server.
fn server_count(user: &TestUser) -> usize {
    ["new", "cur"]
        .iter()
        .map(|d| fs::read_dir(user.maildir().join(d)).map_or(0, Iterator::count))
        .sum()
}

/// Delivers a message to the user's mailbox on the server, as the mail owner.
fn deliver(user: &TestUser, name: &str, message: &[u8]) {
    let new = user.maildir().join("new");
    let owner = fs::metadata(&new).unwrap();
    let tmp = user.maildir().join("tmp").join(name);
    fs::write(&tmp, message).unwrap();
    std::os::unix::fs::chown(&tmp, Some(owner.uid()), Some(owner.gid())).unwrap();
    fs::rename(&tmp, new.join(name)).unwrap();
}

#[test]
fn dovecot_fetch_incremental_new_message_and_delete() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let user = dovecot.user("fetch", &messages);
    let dir = TempDir::new("dovecot-flow");
    let maildir = dir.join("Maildir");
    let args = maildir_args(dovecot, &maildir, &pop_url(dovecot, &user, ""), &[]);

    let out = ok(&user.password, &args);
    assert!(out.contains("6 new"), "{out}");
    assert!(out.contains("SCRAM-SHA-256"), "{out}");
    let fetched = maildir_messages(&maildir);
    assert_eq!(fetched, as_retrieved(&messages));
    assert!(
        fetched
            .iter()
            .any(|m| m.len() == messages[SAMPLE_BIG].len())
    );

    let out = ok(&user.password, &args);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(maildir_messages(&maildir).len(), 6);

    let newcomer = b"From: late@example.org\r\nSubject: arrived later\r\n\r\nhello\r\n".to_vec();
    deliver(&user, "1700000000.M1P1.pop3-fetch-test", &newcomer);
    let out = ok(&user.password, &args);
    assert!(out.contains("7 message(s) on the server, 1 new"), "{out}");
    let mut expected = messages.clone();
    expected.push(newcomer);
    assert_eq!(maildir_messages(&maildir), as_retrieved(&expected));

    let delete = maildir_args(
        dovecot,
        &maildir,
        &pop_url(dovecot, &user, ""),
        &["--delete"],
    );
    let out = ok(&user.password, &delete);
    assert!(out.contains("deleted 7"), "{out}");
    assert_eq!(server_count(&user), 0);
    assert_eq!(maildir_messages(&maildir), as_retrieved(&expected));
    let out = ok(&user.password, &args);
    assert!(out.contains("0 message(s) on the server"), "{out}");
}

/// Over implicit TLS with USER/PASS named, the second run uses what the first learnt (kept in the state file):
/// Dovecot takes CAPA, USER, PASS, LIST and UIDL in one write, then the RETRs, QUIT, and later DELEs with QUIT.
#[test]
fn dovecot_takes_a_fetch_pipelined_from_the_first_command_once_remembered() {
    let dovecot = Dovecot::shared();
    let messages = &sample_messages()[..SAMPLE_BIG];
    let user = dovecot.user("remembered", messages);
    let dir = TempDir::new("dovecot-remembered");
    let maildir = dir.join("Maildir");
    let url = format!(
        "pops://{};AUTH=+USER@127.0.0.1:{}",
        user.name,
        dovecot.pop3s_port()
    );
    let args = maildir_args(dovecot, &maildir, &url, &[]);
    let out = ok(&user.password, &args);
    assert!(out.contains("(USER/PASS)"), "{out}");
    let state =
        fs::read_to_string(maildir.join(format!(".pop3-fetch-state.{}@127.0.0.1", user.name)))
            .unwrap();
    let remembered = format!(
        "server pop3-capabilities 2 implicit {} PIPELINING 127.0.0.1",
        dovecot.pop3s_port()
    );
    assert!(state.contains(&remembered), "{state}");

    let newcomer = b"From: late@example.org\r\nSubject: arrived later\r\n\r\nhello\r\n".to_vec();
    deliver(&user, "1700000001.M1P1.pop3-fetch-test", &newcomer);
    let debug = maildir_args(dovecot, &maildir, &url, &["--debug"]);
    let debug: Vec<&str> = debug.iter().map(String::as_str).collect();
    let traced = run(&user.password, &debug);
    assert!(traced.status.success(), "{}", stderr(&traced));
    let trace = stderr(&traced);
    // The trace shows each write as one line.
    assert!(
        trace.contains(&format!(
            "C: CAPA | USER {} | PASS <redacted> | LIST | UIDL\n",
            user.name
        )),
        "{trace}"
    );
    assert!(trace.contains("C: RETR 6\n"), "{trace}");
    let out = String::from_utf8_lossy(&traced.stdout).into_owned();
    assert!(out.contains("1 new"), "{out}");
    let mut expected = messages.to_vec();
    expected.push(newcomer);
    assert_eq!(maildir_messages(&maildir), as_retrieved(&expected));

    let out = ok(
        &user.password,
        &maildir_args(dovecot, &maildir, &url, &["--delete"]),
    );
    assert!(
        out.contains(&format!("deleted {}", expected.len())),
        "{out}"
    );
    assert_eq!(server_count(&user), 0);
}

#[test]
fn dovecot_login_methods_and_implicit_tls() {
    let dovecot = Dovecot::shared();
    let messages = &sample_messages()[..SAMPLE_BIG];
    let user = dovecot.user("methods", messages);
    for (auth, method) in [
        (";AUTH=+APOP", "APOP"),
        (";AUTH=+USER", "USER/PASS"),
        (";AUTH=PLAIN", "PLAIN"),
        (";AUTH=LOGIN", "LOGIN"),
        (";AUTH=CRAM-MD5", "CRAM-MD5"),
        (";AUTH=SCRAM-SHA-1", "SCRAM-SHA-1"),
        (";AUTH=*", "SCRAM-SHA-256"),
    ] {
        let dir = TempDir::new("dovecot-methods");
        let maildir = dir.join("Maildir");
        let out = ok(
            &user.password,
            &maildir_args(dovecot, &maildir, &pop_url(dovecot, &user, auth), &[]),
        );
        assert!(out.contains(&format!("({method})")), "{auth}: {out}");
        assert_eq!(maildir_messages(&maildir), as_retrieved(messages));
    }

    // pops:// and an OAuth token (OAUTHBEARER preferred over XOAUTH2).
    let dir = TempDir::new("dovecot-pops");
    let maildir = dir.join("Maildir");
    let url = format!("pops://{}@localhost:{}", user.name, dovecot.pop3s_port());
    let args = maildir_args(dovecot, &maildir, &url, &["--oauth-token-env", "TOKEN"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = command("", &args)
        .env_remove("POP3_PASSWORD")
        .env("TOKEN", user.oauth_token())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout.contains("implicit TLS"), "{stdout}");
    assert!(stdout.contains("(OAUTHBEARER)"), "{stdout}");
    assert_eq!(maildir_messages(&maildir), as_retrieved(messages));

    // An expired token: authentication failure, exit code 77 (EX_NOPERM).
    let out = command("", &args)
        .env_remove("POP3_PASSWORD")
        .env("TOKEN", user.expired_oauth_token())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
}

#[test]
fn dovecot_wrong_password_exits_noperm() {
    let dovecot = Dovecot::shared();
    let user = dovecot.user("wrongpw", &sample_messages()[..1]);
    let dir = TempDir::new("dovecot-wrongpw");
    let maildir = dir.join("Maildir");
    let args = maildir_args(dovecot, &maildir, &pop_url(dovecot, &user, ""), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("definitely-wrong", &args);
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    assert!(stderr(&out).contains("[AUTH]"), "{}", stderr(&out));
    assert!(maildir_messages(&maildir).is_empty());
    // Nothing is created before there is a message to write: no Maildir, no lock file, no state file.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn dovecot_pop_on_the_pop3s_port_suggests_pops() {
    let dovecot = Dovecot::shared();
    let user = dovecot.user("popspop", &sample_messages()[..1]);
    let dir = TempDir::new("dovecot-pop-on-pops");
    let url = format!("pop://{}@127.0.0.1:{}", user.name, dovecot.pop3s_port());
    let args = maildir_args(dovecot, &dir.join("Maildir"), &url, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let out = run(&user.password, &args);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "sent no POP3 greeting but answers a TLS handshake: it is a POP3S port (implicit TLS). Use \
             pops://{}@127.0.0.1:{} instead of pop://",
            user.name,
            dovecot.pop3s_port()
        )),
        "{}",
        stderr(&out)
    );
    // Well before the 60-second read limit.
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn dovecot_starttls_if_available_uses_stls_and_a_damaged_state_is_rebuilt() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let user = dovecot.user("opportunistic", &messages);
    let dir = TempDir::new("dovecot-opportunistic");
    let maildir = dir.join("Maildir");
    let args = maildir_args(
        dovecot,
        &maildir,
        &pop_url(dovecot, &user, ""),
        &["--starttls-if-available"],
    );
    let out = ok(&user.password, &args);
    assert!(out.contains("(STLS), certificate verified"), "{out}");
    assert_eq!(maildir_messages(&maildir), as_retrieved(&messages));

    let state = maildir.join(format!(".pop3-fetch-state.{}@127.0.0.1", user.name));
    fs::write(&state, b"").unwrap();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&user.password, &argv);
    assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the file is empty"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("To go on, move it away"),
        "{}",
        stderr(&out)
    );
    fs::rename(&state, maildir.join("old-state")).unwrap();
    let out = ok(&user.password, &args);
    assert!(
        out.contains("There was no state file: rebuilt it from")
            && out.contains("6 message(s) of this account were found")
            && out.contains("0 new"),
        "{out}"
    );
    // The sizes recovered from the files match Dovecot's (the message without a final newline included), so
    // --delete may delete all of them.
    let mut delete = args.clone();
    delete.insert(0, "--delete".to_owned());
    let out = ok(&user.password, &delete);
    assert!(out.contains("deleted 6"), "{out}");
    assert_eq!(server_count(&user), 0);
    assert_eq!(maildir_messages(&maildir), as_retrieved(&messages));
}

#[test]
fn dovecot_mbox() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let user = dovecot.user("mbox", &messages);
    let dir = TempDir::new("dovecot-mbox");
    let mbox = dir.join("inbox.mbox");
    let args = vec![
        "--mbox".to_owned(),
        mbox.display().to_string(),
        "--ca-file".to_owned(),
        dovecot.ca_path().display().to_string(),
        pop_url(dovecot, &user, ""),
    ];
    // An existing mbox whose last line has no line break: the first new message must not merge into it.
    let old = b"From old@example.org Thu Jan  1 00:00:00 1970\nSubject: old\n\nold body without final newline";
    fs::write(&mbox, old).unwrap();
    ok(&user.password, &args);
    let mut expected = messages.clone();
    expected.push(b"Subject: old\r\n\r\nold body without final newline\r\n".to_vec());
    assert_eq!(mbox_messages(&mbox), as_retrieved(&expected));
    assert!(fs::read(&mbox).unwrap()[old.len()..].starts_with(b"\n\nFrom "));
    let out = ok(&user.password, &args);
    assert!(out.contains("0 new"), "{out}");
}

/// The crash test against the real server: abort at every durability step of a `--delete` run, then check
/// that a normal run leaves every message exactly once in the Maildir and none on the server.
#[test]
fn dovecot_abort_at_every_step_with_delete() {
    let dovecot = Dovecot::shared();
    let messages = &sample_messages()[..SAMPLE_BIG];
    let expected = as_retrieved(messages);
    for n in 1.. {
        let user = dovecot.user("crash", messages);
        let dir = TempDir::new(&format!("dovecot-crash-{n}"));
        let maildir = dir.join("Maildir");
        let args = maildir_args(
            dovecot,
            &maildir,
            &pop_url(dovecot, &user, ""),
            &["--delete", "--quiet"],
        );
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = command(&user.password, &argv)
            .env("POP3_FETCH_ABORT_AT", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            assert!(n > 10, "only {n} steps");
            assert_eq!(maildir_messages(&maildir), expected);
            assert_eq!(server_count(&user), 0);
            eprintln!("Dovecot, --delete: {} durability steps", n - 1);
            return;
        }
        assert_eq!(out.status.code(), None, "step {n}: {}", stderr(&out));
        ok(&user.password, &args);
        assert_eq!(
            maildir_messages(&maildir),
            expected,
            "after a crash at step {n}"
        );
        assert_eq!(
            server_count(&user),
            0,
            "step {n}: messages left on the server"
        );
        assert!(maildir_tmp(&maildir).is_empty());
    }
}
