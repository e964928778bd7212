//! End-to-end tests of the `pop3-fetch` binary against the in-memory POP3 server.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, Script, ScriptedServer, ServerConfig};

#[test]
fn first_run_fetches_everything_byte_exact_and_second_run_nothing() {
    let dir = TempDir::new("first-run");
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    let args = maildir_args(&[], &maildir, &ca, &server);
    let out = run_ok("demo", &args);
    assert!(out.contains("5 new"), "{out}");
    assert!(out.contains("TLSv1.3 (STLS)"), "{out}");
    assert_eq!(
        maildir_messages(&maildir),
        mailbox_messages(&Mailbox::sample())
    );
    assert!(maildir_tmp(&maildir).is_empty());
    // File names are generated, never the UID itself.
    for entry in fs::read_dir(maildir.join("new")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.contains(",U=sample-"), "{name}");
        assert!(!name.starts_with("sample"), "{name}");
    }

    let out = run_ok("demo", &args);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(maildir_messages(&maildir).len(), 5);
    // Leave-on-server is the default.
    assert_eq!(server.mailbox().len(), 5);
}

#[test]
fn a_new_message_is_the_only_one_fetched() {
    let dir = TempDir::new("new-message");
    let ca = dir.join("ca.pem");
    let maildir = dir.join("Maildir");
    {
        let server = stls_server(Mailbox::sample(), &ca);
        run_ok("demo", &maildir_args(&[], &maildir, &ca, &server));
    }
    let newcomer = b"From: new@example.org\r\nSubject: brand new\r\n\r\nhello\r\n".to_vec();
    let mut mailbox = Mailbox::sample();
    mailbox = mailbox.with_message_uid("later-1", newcomer.clone());
    // Another server instance on another port: the state belongs to user@host, not to the port.
    let server = stls_server(mailbox.clone(), &ca);
    let before = maildir_messages(&maildir);
    let out = run_ok("demo", &maildir_args(&[], &maildir, &ca, &server));
    assert!(out.contains("6 message(s) on the server, 1 new"), "{out}");
    let after = maildir_messages(&maildir);
    assert_eq!(after, mailbox_messages(&mailbox));
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&newcomer));
}

#[test]
fn delete_removes_stored_messages_from_the_server() {
    let dir = TempDir::new("delete");
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    // Fetch first without --delete, then with: messages seen before are deleted too.
    run_ok("demo", &maildir_args(&[], &maildir, &ca, &server));
    let out = run_ok("demo", &maildir_args(&["--delete"], &maildir, &ca, &server));
    assert!(out.contains("deleted 5"), "{out}");
    assert!(server.mailbox().is_empty());
    assert_eq!(
        maildir_messages(&maildir),
        mailbox_messages(&Mailbox::sample())
    );
    let out = run_ok("demo", &maildir_args(&["--delete"], &maildir, &ca, &server));
    assert!(out.contains("0 message(s) on the server"), "{out}");
    let state = fs::read_to_string(maildir.join(".pop3-fetch-state.demo@127.0.0.1")).unwrap();
    assert!(
        !state.contains("seen "),
        "deleted keys are forgotten: {state}"
    );
}

#[test]
fn delete_on_the_first_run() {
    let dir = TempDir::new("delete-first");
    let ca = dir.join("ca.pem");
    let mailbox = Mailbox::generated(150, 3000, 5, 7);
    let server = stls_server(mailbox.clone(), &ca);
    let maildir = dir.join("Maildir");
    run_ok(
        "demo",
        &maildir_args(&["--delete", "--quiet"], &maildir, &ca, &server),
    );
    assert!(server.mailbox().is_empty());
    assert_eq!(maildir_messages(&maildir), mailbox_messages(&mailbox));
}

#[test]
fn mbox_output_is_mboxrd_and_incremental() {
    let dir = TempDir::new("mbox");
    let ca = dir.join("ca.pem");
    let quoted =
        b"Subject: quoting\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\nFrom\r\n"
            .to_vec();
    let mailbox = Mailbox::sample().with_message_uid("q", quoted);
    let server = stls_server(mailbox.clone(), &ca);
    let mbox = dir.join("mail.mbox");
    let args = [
        "--mbox",
        mbox.to_str().unwrap(),
        "--ca-file",
        ca.to_str().unwrap(),
        &url(&server),
    ];
    run_ok("demo", &args);
    let text = fs::read(&mbox).unwrap();
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"\n>From the start\n"));
    assert!(has(b"\n>>>From twice\n"));
    assert!(!has(b"\n>From\n") && has(b"\nFrom\n"));
    assert_eq!(mbox_messages(&mbox), mailbox_messages(&mailbox));
    let out = run_ok("demo", &args);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(mbox_messages(&mbox).len(), 6);
    assert!(
        dir.join("mail.mbox.pop3-fetch-state.demo@127.0.0.1")
            .exists()
    );
}

#[test]
fn odd_uids_duplicates_and_slashes() {
    let dir = TempDir::new("uids");
    let ca = dir.join("ca.pem");
    let mailbox = Mailbox::new()
        .with_message_uid("dup", b"Subject: one\r\n\r\n1\r\n".to_vec())
        .with_message_uid("../../etc/passwd", b"Subject: two\r\n\r\n2\r\n".to_vec())
        .with_message_uid("dup", b"Subject: three\r\n\r\n3\r\n".to_vec())
        .with_message_uid("a:b,c%d", b"Subject: four\r\n\r\n4\r\n".to_vec())
        .with_message_uid("dup", b"Subject: five\r\n\r\n5\r\n".to_vec());
    let server = stls_server(mailbox.clone(), &ca);
    let maildir = dir.join("Maildir");
    let args = maildir_args(&[], &maildir, &ca, &server);
    let out = run("demo", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 duplicate unique id(s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(maildir_messages(&maildir), mailbox_messages(&mailbox));
    assert!(!dir.path().join("etc").exists());
    let out = run_ok("demo", &args);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(maildir_messages(&maildir).len(), 5);
}

#[test]
fn without_uidl_messages_are_recognised_by_their_header() {
    let dir = TempDir::new("no-uidl");
    let ca = dir.join("ca.pem");
    let config = ServerConfig {
        uidl: false,
        ..ServerConfig::default()
    };
    let server = stls_server_with(config, Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    let args = maildir_args(&[], &maildir, &ca, &server);
    let out = run("demo", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no UIDL"), "{}", stderr(&out));
    assert_eq!(
        maildir_messages(&maildir),
        mailbox_messages(&Mailbox::sample())
    );
    let out = run_ok("demo", &args);
    assert!(out.contains("0 new"), "{out}");
}

#[test]
fn without_uidl_and_top_everything_is_fetched_each_time_unless_deleted() {
    let dir = TempDir::new("no-uidl-top");
    let ca = dir.join("ca.pem");
    let config = ServerConfig {
        uidl: false,
        top: false,
        ..ServerConfig::default()
    };
    let server = stls_server_with(config, Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    let out = run("demo", &maildir_args(&[], &maildir, &ca, &server));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("use --delete"), "{}", stderr(&out));
    assert_eq!(maildir_messages(&maildir).len(), 5);
    run_ok("demo", &maildir_args(&["--delete"], &maildir, &ca, &server));
    assert_eq!(maildir_messages(&maildir).len(), 10);
    assert!(server.mailbox().is_empty());
}

#[test]
fn wrong_password_exits_noperm() {
    let dir = TempDir::new("wrong-password");
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    let out = run(
        "not-the-password",
        &maildir_args(&[], &maildir, &ca, &server),
    );
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    assert!(stderr(&out).contains("[AUTH]"), "{}", stderr(&out));
    assert!(maildir_messages(&maildir).is_empty());
}

#[test]
fn password_from_another_variable_and_missing_password() {
    let dir = TempDir::new("password-env");
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let maildir = dir.join("Maildir");
    let md = maildir.to_str().unwrap();
    let ca_arg = ca.to_str().unwrap();
    let url = url(&server);
    let out = command(
        "wrong",
        &[
            "--password-env",
            "MY_PW",
            "--maildir",
            md,
            "--ca-file",
            ca_arg,
            &url,
        ],
    )
    .env("MY_PW", "demo")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // No password anywhere and no terminal: a usage error, nothing sent.
    let out = command("", &["--maildir", md, "--ca-file", ca_arg, &url])
        .env_remove("POP3_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("POP3_PASSWORD"), "{}", stderr(&out));
}

#[test]
fn stls_required_but_not_offered_exits_unavailable() {
    let dir = TempDir::new("no-stls");
    let server = MemServer::start(
        ServerConfig::default().with_user("demo", "demo"),
        Mailbox::sample(),
    )
    .unwrap();
    let maildir = dir.join("Maildir");
    let out = run(
        "demo",
        &["--maildir", maildir.to_str().unwrap(), &url(&server)],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("TLS is required"), "{}", stderr(&out));
    assert!(server.stats().commands <= 2, "nothing after STLS was sent");

    // Explicit insecure opt-ins work, with warnings.
    let out = run(
        "demo",
        &[
            "--plaintext",
            "--allow-plaintext-credentials",
            "--maildir",
            maildir.to_str().unwrap(),
            &url(&server),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOT encrypted"), "{}", stderr(&out));
    assert_eq!(maildir_messages(&maildir).len(), 5);
    let out = run(
        "demo",
        &[
            "--starttls-if-available",
            "--allow-plaintext-credentials",
            "--maildir",
            maildir.to_str().unwrap(),
            &url(&server),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("in clear"), "{}", stderr(&out));
}

#[test]
fn starttls_if_available_alone_never_sends_the_password_in_clear() {
    let dir = TempDir::new("opportunistic");
    let server = ScriptedServer::start(
        Script::new()
            .server("+OK hello\r\n")
            .client("CAPA")
            .server("+OK\r\nUSER\r\nUIDL\r\n.\r\n")
            .client("QUIT")
            .server("+OK bye\r\n")
            .close(),
    )
    .unwrap();
    let maildir = dir.join("Maildir");
    let out = run(
        "demo",
        &[
            "--starttls-if-available",
            "--maildir",
            maildir.to_str().unwrap(),
            &format!("pop://demo@127.0.0.1:{}", server.addr().port()),
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "does not offer STLS (or refused it), so the connection is not encrypted, and \
             --starttls-if-available alone does not send a password in clear: add \
             --allow-plaintext-credentials"
        ),
        "{}",
        stderr(&out)
    );
    // Only CAPA went out: no USER, no PASS; and nothing was created.
    let sent = String::from_utf8_lossy(&server.client_bytes()).into_owned();
    assert!(!sent.contains("USER") && !sent.contains("PASS"), "{sent}");
    assert!(!maildir.exists());
}

#[test]
fn certificate_problems_say_which_check_failed() {
    let dir = TempDir::new("certs");
    let maildir = dir.join("Maildir");
    let md = maildir.to_str().unwrap();
    // A CA nobody told us to trust.
    let ca = dir.join("ca.pem");
    let server = stls_server(Mailbox::sample(), &ca);
    let out = run("demo", &["--maildir", md, &url(&server)]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("UnknownIssuer"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--ca-file"), "{}", stderr(&out));

    // A trusted CA, but the certificate names another host.
    let pki = TestPki::generate();
    fs::write(&ca, pki.ca.cert_pem()).unwrap();
    let wrong = pki.ca.wrong_host_leaf();
    let server = MemServer::start(
        ServerConfig::default()
            .with_user("demo", "demo")
            .with_stls(wrong.server_config()),
        Mailbox::sample(),
    )
    .unwrap();
    let out = run("demo", &maildir_args(&[], &maildir, &ca, &server));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not valid for the host name"),
        "{}",
        stderr(&out)
    );

    // Expired.
    let server = MemServer::start(
        ServerConfig::default()
            .with_user("demo", "demo")
            .with_implicit_tls(pki.ca.expired_leaf().server_config()),
        Mailbox::sample(),
    )
    .unwrap();
    let out = run(
        "demo",
        &[
            "--maildir",
            md,
            "--ca-file",
            ca.to_str().unwrap(),
            &format!("pops://demo@127.0.0.1:{}", server.addr().port()),
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert!(maildir_messages(&maildir).is_empty());
}

#[test]
fn implicit_tls_works() {
    let dir = TempDir::new("pops");
    let pki = TestPki::generate();
    let ca = dir.join("ca.pem");
    fs::write(&ca, pki.ca.cert_pem()).unwrap();
    let server = MemServer::start(
        ServerConfig::default()
            .with_user("demo", "demo")
            .with_implicit_tls(pki.server_config()),
        Mailbox::sample(),
    )
    .unwrap();
    let maildir = dir.join("Maildir");
    let out = run_ok(
        "demo",
        &[
            "--maildir",
            maildir.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
            &format!("pops://demo;AUTH=+APOP@localhost:{}", server.addr().port()),
        ],
    );
    assert!(out.contains("implicit TLS"), "{out}");
    assert!(out.contains("(APOP)"), "{out}");
    assert_eq!(maildir_messages(&maildir).len(), 5);
}

#[test]
fn unreachable_server_exits_unavailable() {
    let dir = TempDir::new("unreachable");
    // A port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(
        "demo",
        &[
            "--maildir",
            dir.join("Maildir").to_str().unwrap(),
            &format!("pop://demo@127.0.0.1:{port}"),
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
    let out = run(
        "demo",
        &[
            "--maildir",
            dir.join("Maildir").to_str().unwrap(),
            "pop://demo@no-such-host.invalid",
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-host.invalid"),
        "{}",
        stderr(&out)
    );
}

/// A plaintext server that answers PASS with the given `-ERR` line.
fn refusing_server(err_line: &str) -> ScriptedServer {
    ScriptedServer::start(
        Script::new()
            .server("+OK hello\r\n")
            .client("CAPA")
            .server("+OK\r\nUSER\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\n.\r\n")
            .client("USER demo")
            .server("+OK\r\n")
            .client_any()
            .server(format!("{err_line}\r\n"))
            .client_any()
            .server("+OK bye\r\n")
            .close(),
    )
    .unwrap()
}

#[test]
fn in_use_and_login_delay_exit_tempfail_with_advice() {
    let dir = TempDir::new("in-use");
    let md = dir.join("Maildir");
    let fetch_refused_with = |line| {
        let server = refusing_server(line);
        run(
            "demo",
            &[
                "--plaintext",
                "--allow-plaintext-credentials",
                "--maildir",
                md.to_str().unwrap(),
                &format!("pop://demo@127.0.0.1:{}", server.addr().port()),
            ],
        )
    };
    for (line, advice) in [
        ("-ERR [IN-USE] mailbox locked", "in use by another session"),
        ("-ERR [LOGIN-DELAY] wait", "one login every 900 seconds"),
        ("-ERR [SYS/TEMP] disk on fire", "try again later"),
    ] {
        let out = fetch_refused_with(line);
        assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
        assert!(stderr(&out).contains(advice), "{}", stderr(&out));
    }
    // And a plain [AUTH] failure is exit code 77.
    let out = fetch_refused_with("-ERR [AUTH] bad password");
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
}

#[test]
fn a_silent_server_times_out_with_exit_unavailable() {
    let dir = TempDir::new("timeout");
    let server = ScriptedServer::start(Script::new().stall_forever()).unwrap();
    let started = std::time::Instant::now();
    let out = run(
        "demo",
        &[
            "--timeout",
            "1",
            "--maildir",
            dir.join("Maildir").to_str().unwrap(),
            &format!("pop://demo@127.0.0.1:{}", server.addr().port()),
        ],
    );
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn usage_errors_exit_usage() {
    for args in [
        &["pop://u:secret@h"][..],
        &["imap://u@h"],
        &["--plaintext", "pop://u@h"],
        &["--nonsense", "pop://u@h"],
        &[],
    ] {
        let out = run("x", args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
    }
    let out = run("x", &["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("EXIT CODES"));
}

#[test]
fn the_demo_runs() {
    let out = run("unused", &["--demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Grüße aus Köln"), "{text}");
    assert!(text.contains("0 new"), "{text}");
    let path = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maildir: "))
        .unwrap()
        .to_owned();
    assert_eq!(
        maildir_messages(path.as_ref()),
        mailbox_messages(&Mailbox::sample())
    );
    fs::remove_dir_all(path).unwrap();
}
