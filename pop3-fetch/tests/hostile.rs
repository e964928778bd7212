//! End-to-end tests of the `pop3-fetch` binary against servers that misbehave: wrong sizes, broken framing,
//! reused UIDs, dropped connections, dripping answers, servers that lack or require something.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::hostile::{Hostile, LOG, LOG_TRUNCATED, Msg, Offers, SECOND, THIRD, log_server};
use common::*;
use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, Script, ScriptedServer, ServerConfig};

const PLAINTEXT: [&str; 2] = ["--plaintext", "--allow-plaintext-credentials"];

fn args<'a>(extra: &[&'a str], output: &'a [&'a str], url: &'a str) -> Vec<&'a str> {
    let mut args: Vec<&str> = PLAINTEXT.to_vec();
    args.extend_from_slice(extra);
    args.extend_from_slice(output);
    args.push(url);
    args
}

/// Whether any connection sent `DELE n`.
fn deleted(server: &Hostile, n: u64) -> bool {
    let line = format!("DELE {n}");
    server.commands().iter().flatten().any(|l| *l == line)
}

fn broken_framing_loses_nothing_and_deletes_nothing_unsaved(mbox: bool) {
    let dir = TempDir::new("lone-dot");
    let server = log_server();
    let url = server.url();
    let path = dir.join(if mbox { "mbox" } else { "Maildir" });
    let output = [
        if mbox { "--mbox" } else { "--maildir" },
        path.to_str().unwrap(),
    ];
    let stored = || {
        if mbox {
            mbox_messages(&path)
        } else {
            maildir_messages(&path)
        }
    };

    // Run 1: RETR 1 and RETR 2 are pipelined; message 1 ends early and its rest looks like RETR 2's answer.
    let out = run("demo", &args(&["--delete"], &output, &url));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "message 1 (u1) is not what the server announced: LIST said {} octets, RETR delivered {}. The copy \
             received is kept in {}, and the message stays on the server: it is not deleted while the two \
             differ. The answers after it may be shifted, so the run stopped here with 1 message(s) saved",
            LOG.len(),
            LOG_TRUNCATED.len(),
            path.display()
        )),
        "{}",
        stderr(&out)
    );
    // Message 2 was not stored as "end of log"; nothing was deleted; the connection ended without QUIT.
    assert_eq!(stored(), sorted([LOG_TRUNCATED.to_vec()]));
    assert_eq!(
        server.commands()[0]
            .iter()
            .filter(|l| l.starts_with("DELE"))
            .count(),
        0
    );
    assert!(!server.commands()[0].contains(&"QUIT".to_owned()));

    // Run 2: message 1 is known (not fetched again, not deleted); 2 and 3 arrive intact and are deleted.
    let out = run("demo", &args(&["--delete"], &output, &url));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 message(s) stay on the server although a copy is stored"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stored(),
        sorted([LOG_TRUNCATED.to_vec(), SECOND.to_vec(), THIRD.to_vec()])
    );
    assert_eq!(server.remaining(), ["u1"]);

    // Run 3 and later: nothing new, and message 1 is never deleted.
    let out = run_ok("demo", &args(&["--delete"], &output, &url));
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(server.remaining(), ["u1"]);
    assert!(!deleted(&server, 1));
    assert_eq!(stored().len(), 3);
}

#[test]
fn broken_framing_loses_nothing_and_deletes_nothing_unsaved_maildir() {
    broken_framing_loses_nothing_and_deletes_nothing_unsaved(false);
}

#[test]
fn broken_framing_loses_nothing_and_deletes_nothing_unsaved_mbox() {
    broken_framing_loses_nothing_and_deletes_nothing_unsaved(true);
}

#[test]
fn without_pipelining_a_size_mismatch_stops_the_run_too() {
    let dir = TempDir::new("lone-dot-sequential");
    let server = Hostile::start(
        vec![
            Msg::unstuffed("u1", LOG),
            Msg::exact("u2", SECOND),
            Msg::exact("u3", THIRD),
        ],
        Offers {
            pipelining: false,
            ..Offers::default()
        },
    );
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    let url = server.url();
    let out = run("demo", &args(&["--delete"], &output, &url));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    // Nothing was sent after the broken answer.
    let first = &server.commands()[0];
    assert_eq!(
        first.last().map(String::as_str),
        Some("RETR 1"),
        "{first:?}"
    );
    run_ok("demo", &args(&["--delete"], &output, &url));
    assert_eq!(
        maildir_messages(&maildir),
        sorted([LOG_TRUNCATED.to_vec(), SECOND.to_vec(), THIRD.to_vec()])
    );
    assert!(!deleted(&server, 1));
    assert_eq!(server.remaining(), ["u1"]);
}

#[test]
fn a_final_crlf_the_server_adds_is_not_a_mismatch() {
    // What Dovecot does with a file that lacks a final line break: LIST counts the file, RETR adds CRLF.
    let dir = TempDir::new("final-crlf");
    let data = b"Subject: no final newline\r\n\r\nlast line".to_vec();
    let server = Hostile::start(vec![Msg::exact("u1", &data)], Offers::default());
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    let url = server.url();
    run_ok("demo", &args(&["--delete"], &output, &url));
    let mut expected = data.clone();
    expected.extend_from_slice(b"\r\n");
    assert_eq!(maildir_messages(&maildir), [expected]);
    assert!(server.remaining().is_empty());
}

#[test]
fn a_server_that_later_agrees_with_the_stored_copy_may_delete_it() {
    // Mailutils adds an X-UIDL header the first time UIDL is asked, after LIST counted the message.
    let dir = TempDir::new("grows");
    let data = b"X-UIDL: u1\r\nSubject: grown\r\n\r\nbody\r\n".to_vec();
    let mut message = Msg::exact("u1", &data);
    message.listed -= 12;
    let server = Hostile::start(vec![message], Offers::default());
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    let url = server.url();
    let out = run("demo", &args(&["--delete"], &output, &url));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(server.remaining() == ["u1"] && !deleted(&server, 1));
    // The server now lists the size of what was stored: the copy is the message.
    server.mailbox.lock().unwrap()[0].listed = data.len() as u64;
    let out = run_ok("demo", &args(&["--delete"], &output, &url));
    assert!(out.contains("0 new") && out.contains("deleted 1"), "{out}");
    assert_eq!(maildir_messages(&maildir), [data]);
    assert!(server.remaining().is_empty());
}

#[test]
fn a_reused_uid_is_fetched_again_not_deleted_unseen() {
    let dir = TempDir::new("reused-uid");
    let ca = dir.join("ca.pem");
    let maildir = dir.join("Maildir");
    let first = b"Subject: first\r\n\r\nthe first message with this UID\r\n".to_vec();
    let second = b"Subject: second\r\n\r\nanother message, same UID\r\n".to_vec();
    {
        let server = stls_server(Mailbox::new().with_message_uid("same", first.clone()), &ca);
        run_ok("demo", &maildir_args(&[], &maildir, &ca, &server));
    }
    // The server forgot the first message and gives its UID to a new one.
    let mailbox = Mailbox::new().with_message_uid("same", second.clone());
    let server = stls_server(mailbox, &ca);
    let out = run_ok("demo", &maildir_args(&["--delete"], &maildir, &ca, &server));
    assert!(out.contains("1 new") && out.contains("deleted 1"), "{out}");
    assert_eq!(maildir_messages(&maildir), sorted([first, second]));
    assert!(server.mailbox().is_empty());
}

#[test]
fn without_uidl_identical_headers_of_another_size_are_another_message() {
    let dir = TempDir::new("same-header");
    let ca = dir.join("ca.pem");
    let maildir = dir.join("Maildir");
    let no_uidl = || ServerConfig {
        uidl: false,
        ..ServerConfig::default()
    };
    let header = b"From: cron@example.org\r\nSubject: daily report\r\n\r\n";
    let monday = [&header[..], b"all fine\r\n"].concat();
    let tuesday = [&header[..], b"disk almost full\r\n"].concat();
    {
        let server = stls_server_with(no_uidl(), Mailbox::new().with_message(monday.clone()), &ca);
        run_ok("demo", &maildir_args(&[], &maildir, &ca, &server));
    }
    let server = stls_server_with(no_uidl(), Mailbox::new().with_message(tuesday.clone()), &ca);
    let out = run_ok("demo", &maildir_args(&["--delete"], &maildir, &ca, &server));
    assert!(out.contains("1 new") && out.contains("deleted 1"), "{out}");
    assert_eq!(maildir_messages(&maildir), sorted([monday, tuesday]));
}

#[test]
fn a_connection_lost_in_the_middle_of_retr_says_what_happened_and_a_rerun_continues() {
    let dir = TempDir::new("cut");
    let mut cut = Msg::exact("u2", SECOND);
    cut.cut = 1;
    let server = Hostile::start(
        vec![
            Msg::exact("u1", THIRD),
            cut,
            Msg::exact("u3", LOG_TRUNCATED),
        ],
        Offers::default(),
    );
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    let url = server.url();
    let out = run("demo", &args(&["--delete"], &output, &url));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the connection to 127.0.0.1:{} was lost during RETR of message 2 (2 of 3 new) (the server closed \
             it in the middle of an answer). 1 message(s) were saved in this run and are recorded; run \
             pop3-fetch again to continue",
            server.server.addr().port()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(maildir_messages(&maildir), [THIRD.to_vec()]);
    assert!(maildir_tmp(&maildir).is_empty());
    let out = run_ok("demo", &args(&["--delete"], &output, &url));
    assert!(out.contains("2 new"), "{out}");
    assert_eq!(
        maildir_messages(&maildir),
        sorted([THIRD.to_vec(), SECOND.to_vec(), LOG_TRUNCATED.to_vec()])
    );
    assert!(server.remaining().is_empty());
}

#[test]
fn utf8_is_asked_for_when_offered_so_8bit_messages_arrive_as_written() {
    let dir = TempDir::new("utf8");
    let original = "From: Jürgen <j@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nÄpfel\r\n"
        .as_bytes()
        .to_vec();
    // What Courier sends a client that did not say UTF8: a generated notice of another size.
    let notice =
        b"Subject: Cannot display Unicode content\r\n\r\nThis message ... message/global\r\n"
            .to_vec();
    let mut message = Msg::exact("u1", &original);
    message.without_utf8 = Some(notice.clone());
    let server = Hostile::start(
        vec![message],
        Offers {
            utf8: true,
            ..Offers::default()
        },
    );
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    let url = server.url();
    run_ok("demo", &args(&["--delete"], &output, &url));
    assert_eq!(maildir_messages(&maildir), [original]);
    let commands = &server.commands()[0];
    let utf8 = commands
        .iter()
        .position(|c| c == "UTF8")
        .expect("UTF8 sent");
    let user = commands.iter().position(|c| c.starts_with("USER")).unwrap();
    assert!(utf8 < user, "{commands:?}");
    assert!(server.remaining().is_empty());
}

#[test]
fn a_downgraded_message_is_caught_by_its_size_and_not_deleted() {
    // A server that offers UTF8 but refuses the command, then serves its downgrade notice.
    let dir = TempDir::new("utf8-refused");
    let original = "Subject: Grüße\r\n\r\nÄpfel\r\n".as_bytes().to_vec();
    let notice = b"Subject: Cannot display Unicode content\r\n\r\nmessage/global\r\n".to_vec();
    let mut message = Msg::exact("u1", &original);
    message.without_utf8 = Some(notice.clone());
    let server = Hostile::start_with_capa(vec![message], Offers::default(), &["UTF8"]);
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    let url = server.url();
    let out = run("demo", &args(&["--delete"], &output, &url));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the server offers UTF8 but refused it"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "LIST said {} octets, RETR delivered {}",
            original.len(),
            notice.len()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.remaining(), ["u1"]);
    assert!(!deleted(&server, 1));
}

#[test]
fn a_dripping_server_is_stopped_by_the_response_limit() {
    let dir = TempDir::new("drip");
    let maildir = dir.join("Maildir");
    let greeting = format!("+OK {}\r\n", "x".repeat(200));
    // One byte every 100 ms: every read succeeds within --timeout, the whole greeting would take 20 s.
    let server =
        ScriptedServer::start(Script::new().server_slowly(&greeting, Duration::from_millis(100)))
            .unwrap();
    let url = format!("pop://demo@127.0.0.1:{}", server.addr().port());
    let started = Instant::now();
    let out = run(
        "demo",
        &args(
            &["--timeout", "1", "--response-timeout", "2"],
            &["--maildir", maildir.to_str().unwrap()],
            &url,
        ),
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out waiting for the server")
            && stderr(&out).contains(
                "a whole answer (the greeting, the TLS handshake, a batch of messages) \
                 --response-timeout SECONDS"
            ),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    // The default limit is ten times --timeout.
    let started = Instant::now();
    let out = run(
        "demo",
        &args(
            &["--timeout", "1"],
            &["--maildir", maildir.to_str().unwrap()],
            &url,
        ),
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out waiting for the server"),
        "{}",
        stderr(&out)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(16),
        "{took:?}"
    );
    assert!(!maildir.exists());
}

#[test]
fn a_dripping_tls_handshake_is_stopped_by_the_response_limit() {
    let dir = TempDir::new("drip-tls");
    // A TLS record header announcing 16 KiB, then its body a byte at a time.
    let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00];
    record.extend(std::iter::repeat_n(0u8, 200));
    let server =
        ScriptedServer::start(Script::new().server_slowly(&record, Duration::from_millis(100)))
            .unwrap();
    let started = Instant::now();
    let out = run(
        "demo",
        &[
            "--timeout",
            "1",
            "--response-timeout",
            "2",
            "--maildir",
            dir.join("Maildir").to_str().unwrap(),
            &format!("pops://demo@127.0.0.1:{}", server.addr().port()),
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out during the TLS handshake"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn nothing_is_created_when_the_run_fails_before_a_message() {
    let dir = TempDir::new("nothing-created");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = dir.join("deep/Maildir");
    let mbox = dir.join("mbox");
    for output in [
        ["--maildir", maildir.to_str().unwrap()],
        ["--mbox", mbox.to_str().unwrap()],
    ] {
        let out = run(
            "demo",
            &args(&[], &output, &format!("pop://demo@127.0.0.1:{port}")),
        );
        assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
        // A wrong password, on a server that has mail.
        let server = log_server();
        let out = run("wrong", &args(&[], &output, &server.url()));
        assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
        // An empty mailbox: nothing to write either.
        let empty = Hostile::start(Vec::new(), Offers::default());
        run_ok("demo", &args(&[], &output, &empty.url()));
    }
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn appending_to_an_mbox_without_final_newline_merges_nothing() {
    let dir = TempDir::new("mbox-no-newline");
    let mbox = dir.join("mbox");
    let old = b"From old@example.org Thu Jan  1 00:00:00 1970\nSubject: old\n\nold body without final newline";
    fs::write(&mbox, old).unwrap();
    let server = log_server();
    server.mailbox.lock().unwrap().remove(0);
    let output = ["--mbox", mbox.to_str().unwrap()];
    run_ok("demo", &args(&[], &output, &server.url()));
    let text = fs::read(&mbox).unwrap();
    assert!(text.starts_with(old));
    assert!(
        text[old.len()..].starts_with(b"\n\nFrom MAILER-DAEMON "),
        "{}",
        String::from_utf8_lossy(&text)
    );
    assert_eq!(
        mbox_messages(&mbox),
        sorted([
            b"Subject: old\r\n\r\nold body without final newline\r\n".to_vec(),
            SECOND.to_vec(),
            THIRD.to_vec()
        ])
    );
}

#[test]
fn an_unoffered_sasl_mechanism_is_refused_before_anything_secret_is_sent() {
    let dir = TempDir::new("sasl-unoffered");
    let server = Hostile::start_with_capa(Vec::new(), Offers::default(), &["SASL PLAIN LOGIN"]);
    let url = format!(
        "pop://demo;AUTH=SCRAM-SHA-256@127.0.0.1:{}",
        server.server.addr().port()
    );
    let maildir = dir.join("Maildir");
    let out = run(
        "demo",
        &args(&[], &["--maildir", maildir.to_str().unwrap()], &url),
    );
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "127.0.0.1:{} does not offer the SASL mechanism SCRAM-SHA-256 that ;AUTH=SCRAM-SHA-256 asks for (it \
             offers PLAIN, LOGIN)",
            server.server.addr().port()
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        !server.commands()[0].iter().any(|c| c.starts_with("AUTH")),
        "{:?}",
        server.commands()
    );
}

#[test]
fn a_server_that_requires_tls_is_not_reported_as_a_bad_password() {
    let dir = TempDir::new("tls-required");
    let maildir = dir.join("Maildir");
    let output = ["--maildir", maildir.to_str().unwrap()];
    // Mailutils with tls-mode required lists XTLSREQUIRED: nothing secret is sent.
    let server = Hostile::start_with_capa(Vec::new(), Offers::default(), &["STLS", "XTLSREQUIRED"]);
    let out = run("demo", &args(&[], &output, &server.url()));
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("requires TLS before login (its CAPA lists XTLSREQUIRED)"),
        "{}",
        stderr(&out)
    );
    assert!(!server.commands()[0].iter().any(|c| c.starts_with("USER")));

    // A refusal that says so: [SYS/PERM], or Dovecot's words.
    for refusal in [
        "-ERR [SYS/PERM] Use STLS first",
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
    ] {
        let server = ScriptedServer::start(
            Script::new()
                .server("+OK hello\r\n")
                .client("CAPA")
                .server("+OK\r\nUSER\r\nSTLS\r\n.\r\n")
                .client("USER demo")
                .server(format!("{refusal}\r\n"))
                .client_any()
                .server("+OK bye\r\n")
                .close(),
        )
        .unwrap();
        let url = format!("pop://demo@127.0.0.1:{}", server.addr().port());
        let out = run("demo", &args(&[], &output, &url));
        assert_eq!(out.status.code(), Some(78), "{refusal}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "requires TLS before login (it answered {}",
                &refusal[5..]
            )),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn pop_on_a_pop3s_port_suggests_pops() {
    let dir = TempDir::new("pop-on-pops");
    let pki = TestPki::generate();
    // A POP3S server: TLS from the first byte, then the greeting.
    let server = ScriptedServer::start(
        Script::new()
            .start_tls(pki.server_config())
            .server("+OK POP3S ready\r\n")
            .stall_forever(),
    )
    .unwrap();
    let started = Instant::now();
    let out = run(
        "demo",
        &[
            "--maildir",
            dir.join("Maildir").to_str().unwrap(),
            &format!("pop://demo@127.0.0.1:{}", server.addr().port()),
        ],
    );
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "127.0.0.1:{0} sent no POP3 greeting but answers a TLS handshake: it is a POP3S port (implicit TLS). \
             Use pops://demo@127.0.0.1:{0} instead of pop://",
            server.addr().port()
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_damaged_state_file_says_how_to_recover_and_the_rebuild_is_honest() {
    let dir = TempDir::new("damaged-state");
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    let args = maildir_args(&[], &maildir, &ca, &server);
    run_ok("demo", &args);
    let state = maildir.join(".pop3-fetch-state.demo@127.0.0.1");
    for damage in [&b""[..], b"\0\0\0garbage"] {
        fs::write(&state, damage).unwrap();
        let out = run("demo", &args);
        assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "the state file is damaged: {}: ",
                state.display()
            )) && stderr(&out).contains(&format!(
                "To go on, move it away (mv '{0}' '{0}.damaged') and run again: the next run rebuilds it from \
                 the file names in {1}",
                state.display(),
                maildir.display()
            )),
            "{}",
            stderr(&out)
        );
    }
    // Following the advice: nothing is fetched twice, and the run says what it did.
    fs::rename(&state, state.with_extension("damaged")).unwrap();
    let out = run_ok("demo", &args);
    assert!(
        out.contains(&format!(
            "There was no state file: rebuilt it from {}, where 5 message(s) of this account were found by their \
             file names; they are not fetched again",
            maildir.display()
        )) && out.contains("0 new"),
        "{out}"
    );
    assert_eq!(
        maildir_messages(&maildir),
        mailbox_messages(&Mailbox::sample())
    );
    // The rebuilt state lets --delete work: the stored copies have the server's sizes.
    let out = run_ok("demo", &maildir_args(&["--delete"], &maildir, &ca, &server));
    assert!(out.contains("deleted 5"), "{out}");
}

#[test]
fn an_mbox_without_its_state_file_warns_of_duplicates() {
    let dir = TempDir::new("mbox-no-state");
    let server = log_server();
    server.mailbox.lock().unwrap().remove(0);
    let mbox = dir.join("mbox");
    let output = ["--mbox", mbox.to_str().unwrap()];
    run_ok("demo", &args(&[], &output, &server.url()));
    fs::remove_file(dir.join("mbox.pop3-fetch-state.demo@127.0.0.1")).unwrap();
    let out = run("demo", &args(&[], &output, &server.url()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("which already holds mail: messages fetched before are fetched again"),
        "{}",
        stderr(&out)
    );
}
