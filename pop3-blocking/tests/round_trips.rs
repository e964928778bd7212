//! Round trips: once the server said PIPELINING, the credentials and the first commands travel in one write, and
//! QUIT travels with the last batch. Scripted servers that read every line before answering prove the single
//! write (a client waiting for an answer in between would stall them); the real Dovecot proves the servers
//! people run accept it.

use std::time::Duration;

use pop3_blocking::{Builder, Error, LoginMethod, OwnedResponseCode, Security, Session};
use pop3_memserver::{Script, ScriptedServer};
use pop3_testkit::Dovecot;

const GREETING: &str = "+OK ready\r\n";
const CAPA_PIPELINING: &str = "+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n";

fn connect(server: &ScriptedServer) -> Session {
    Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .timeout(Duration::from_secs(5))
        .connect()
        .expect("connect")
}

#[test]
fn login_and_listing_go_in_one_write_when_the_server_pipelines() {
    let script = Script::new()
        .server(GREETING)
        .client("CAPA")
        .server(CAPA_PIPELINING)
        .client("USER alice")
        .client("PASS s3cret")
        .client("LIST")
        .client("UIDL")
        .server("+OK\r\n+OK logged in\r\n+OK\r\n1 120\r\n2 200\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n")
        .client("DELE 1")
        .client("DELE 2")
        .client("QUIT")
        .server("+OK\r\n-ERR already gone\r\n+OK bye\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let mut session = connect(&server);

    let (method, listing) = session
        .login_and_listing("alice", "s3cret")
        .expect("login and listing");
    assert_eq!(method, LoginMethod::UserPass);
    let entries: Vec<_> = listing
        .iter()
        .map(|e| (e.msg, e.octets, e.uid.clone()))
        .collect();
    assert_eq!(
        entries,
        [(1, 120, Some("a".into())), (2, 200, Some("b".into()))]
    );

    let outcomes = session.dele_many_and_quit(&[1, 2]).expect("DELE and QUIT");
    assert!(outcomes[0].is_ok());
    assert_eq!(outcomes[1].as_ref().unwrap_err().text(), b"already gone");
    assert!(session.noop().is_err(), "the session is over after QUIT");
}

#[test]
fn a_wrong_password_is_the_error_and_the_commands_behind_it_change_nothing() {
    let script = Script::new()
        .server(GREETING)
        .client("CAPA")
        .server(CAPA_PIPELINING)
        .client("USER alice")
        .client("PASS wrong")
        .client("STAT")
        .server("+OK\r\n-ERR [AUTH] invalid password\r\n-ERR not logged in\r\n")
        .client("USER alice")
        .client("PASS s3cret")
        .client("STAT")
        .server("+OK\r\n+OK logged in\r\n+OK 2 320\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let mut session = connect(&server);

    let error = session.login_and_stat("alice", "wrong").unwrap_err();
    let Error::Server(refusal) = &error else {
        panic!("expected the login's refusal, got {error:?}");
    };
    assert_eq!(refusal.code(), Some(&OwnedResponseCode::Auth));
    assert_eq!(refusal.text(), b"invalid password");

    // The session is usable: STAT's -ERR behind the refused login is read and dropped, and a second try works.
    let (_, stat) = session
        .login_and_stat("alice", "s3cret")
        .expect("second try");
    assert_eq!((stat.count, stat.octets), (2, 320));
}

#[test]
fn nothing_is_pipelined_before_the_server_says_pipelining() {
    // Each line is answered before the next is read: a client that pipelined would see its answers out of step.
    let script = Script::new()
        .server(GREETING)
        .client("CAPA")
        .server("+OK\r\nUSER\r\n.\r\n")
        .client("USER alice")
        .server("+OK\r\n")
        .client("PASS s3cret")
        .server("+OK logged in\r\n")
        .client("STAT")
        .server("+OK 0 0\r\n")
        .client("DELE 1")
        .server("-ERR no such message\r\n")
        .client("QUIT")
        .server("+OK bye\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let mut session = connect(&server);
    let (_, stat) = session.login_and_stat("alice", "s3cret").expect("login");
    assert_eq!(stat.count, 0);
    let outcomes = session.dele_many_and_quit(&[1]).expect("DELE and QUIT");
    assert!(outcomes[0].is_err());
    assert_eq!(
        String::from_utf8_lossy(&server.client_bytes()),
        "CAPA\r\nUSER alice\r\nPASS s3cret\r\nSTAT\r\nDELE 1\r\nQUIT\r\n"
    );
}

fn dovecot_session(dovecot: &Dovecot) -> Session {
    Session::builder(dovecot.host())
        .port(dovecot.pop3_port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .login_method(LoginMethod::UserPass)
        .timeout(Duration::from_secs(20))
        .connect()
        .expect("connect")
}

#[test]
fn dovecot_answers_a_pipelined_login_with_the_listing() {
    let dovecot = Dovecot::shared();
    let messages = [
        b"Subject: one\r\n\r\nfirst\r\n".to_vec(),
        b"Subject: two\r\n\r\nsecond\r\n".to_vec(),
    ];
    let user = dovecot.user("rtt-listing", &messages);
    let mut session = dovecot_session(dovecot);
    let (method, listing) = session
        .login_and_listing(&user.name, &user.password)
        .expect("login and listing");
    assert_eq!(method, LoginMethod::UserPass);
    assert!(
        session.capabilities().is_some_and(|c| c.pipelining()),
        "Dovecot says PIPELINING, so the listing travelled behind the credentials"
    );
    assert_eq!(listing.len(), 2);
    assert!(listing.iter().all(|entry| entry.uid.is_some()));

    let outcomes = session.dele_many_and_quit(&[1]).expect("DELE and QUIT");
    assert!(outcomes[0].is_ok());

    let mut again = dovecot_session(dovecot);
    let (_, stat) = again
        .login_and_stat(&user.name, &user.password)
        .expect("login and STAT");
    assert_eq!(stat.count, 1, "the DELE sent with QUIT was applied");
    again.quit().expect("QUIT");
}

#[test]
fn dovecot_refuses_a_pipelined_login_first_and_the_mailbox_stays_as_it_was() {
    let dovecot = Dovecot::shared();
    let user = dovecot.user("rtt-wrong", &[b"Subject: kept\r\n\r\nkept\r\n".to_vec()]);
    let mut session = dovecot_session(dovecot);
    let error = session
        .login_and_listing(&user.name, "not the password")
        .unwrap_err();
    let refusal = error.server_error().expect("the server's refusal");
    assert_eq!(refusal.code(), Some(&OwnedResponseCode::Auth), "{error}");

    // The same session logs in afterwards: the -ERR answers to LIST and UIDL are read and dropped first.
    let (_, stat) = session
        .login_and_stat(&user.name, &user.password)
        .expect("second try");
    assert_eq!(stat.count, 1, "nothing changed");
    session.quit().expect("QUIT");
}

fn listing_script() -> Script {
    Script::new()
        .server(GREETING)
        .client("CAPA")
        .client("USER alice")
        .client("PASS s3cret")
        .client("LIST")
        .client("UIDL")
        .server(CAPA_PIPELINING)
        .server("+OK\r\n+OK logged in\r\n+OK\r\n.\r\n+OK\r\n.\r\n")
        .client("QUIT")
        .server("+OK bye\r\n")
        .stall_forever()
}

/// A session with USER/PASS named and `known` remembered.
fn remembering_builder(server: &ScriptedServer, known: &str) -> Builder {
    Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .login_method(LoginMethod::UserPass)
        .known_capabilities(known.parse().expect("a known-capabilities line"))
        .timeout(Duration::from_secs(5))
}

fn remembering(server: &ScriptedServer, known: &str) -> Session {
    remembering_builder(server, known)
        .connect()
        .expect("connect")
}

#[test]
fn remembered_pipelining_sends_capa_and_the_login_in_one_write() {
    let server = ScriptedServer::start(listing_script()).unwrap();
    let port = server.addr().port();
    let mut session = remembering(
        &server,
        &format!("pop3-capabilities 2 plaintext {port} PIPELINING 127.0.0.1"),
    );
    let (_, listing) = session
        .login_and_listing("alice", "s3cret")
        .expect("login and listing");
    assert!(listing.is_empty());
    assert_eq!(
        session.known_capabilities().map(|k| k.to_string()),
        Some(format!(
            "pop3-capabilities 2 plaintext {port} PIPELINING 127.0.0.1"
        ))
    );
    session.quit().expect("QUIT");
}

fn remembering_utf8(server: &ScriptedServer, known: &str) -> Session {
    remembering_builder(server, known)
        .utf8_when_offered()
        .connect()
        .expect("connect")
}

#[test]
fn a_server_remembered_without_utf8_takes_the_login_behind_capa_even_when_utf8_is_wanted() {
    let server = ScriptedServer::start(listing_script()).unwrap();
    let port = server.addr().port();
    let mut session = remembering_utf8(
        &server,
        &format!("pop3-capabilities 2 plaintext {port} PIPELINING 127.0.0.1"),
    );
    let (_, listing) = session
        .login_and_listing("alice", "s3cret")
        .expect("login and listing in the same write as CAPA");
    assert!(listing.is_empty());
    session.quit().expect("QUIT");
}

#[test]
fn a_server_remembered_with_utf8_is_asked_capa_first_so_utf8_precedes_the_login() {
    let script = Script::new()
        .server(GREETING)
        .client("CAPA")
        .server("+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\nUTF8\r\n.\r\n")
        .client("UTF8")
        .server("+OK UTF8 enabled\r\n")
        .client("USER alice")
        .client("PASS s3cret")
        .client("LIST")
        .client("UIDL")
        .server("+OK\r\n+OK logged in\r\n+OK\r\n.\r\n+OK\r\n.\r\n")
        .client("QUIT")
        .server("+OK bye\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let port = server.addr().port();
    let mut session = remembering_utf8(
        &server,
        &format!("pop3-capabilities 2 plaintext {port} PIPELINING,UTF8 127.0.0.1"),
    );
    let (_, listing) = session
        .login_and_listing("alice", "s3cret")
        .expect("UTF8, then the login and listing");
    assert!(listing.is_empty());
    assert_eq!(
        session.known_capabilities().map(|k| k.to_string()),
        Some(format!(
            "pop3-capabilities 2 plaintext {port} PIPELINING,UTF8 127.0.0.1"
        ))
    );
    session.quit().expect("QUIT");
}

#[test]
fn dovecot_takes_capa_and_a_pipelined_login_in_one_write_the_second_time() {
    let dovecot = Dovecot::shared();
    let user = dovecot.user("rtt-known", &[b"Subject: a\r\n\r\na\r\n".to_vec()]);
    let mut first = dovecot_session(dovecot);
    first
        .login_and_stat(&user.name, &user.password)
        .expect("first contact");
    let known = first.known_capabilities().expect("CAPA was answered");
    assert!(known.pipelining());
    first.quit().expect("QUIT");

    let line = known.to_string();
    let mut second = Session::builder(dovecot.host())
        .port(dovecot.pop3_port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .login_method(LoginMethod::UserPass)
        .known_capabilities(line.parse().unwrap())
        .timeout(Duration::from_secs(20))
        .connect()
        .expect("connect");
    let (_, listing) = second
        .login_and_listing(&user.name, &user.password)
        .expect("second contact");
    assert_eq!(listing.len(), 1);
    second.quit().expect("QUIT");
}

#[test]
fn a_poll_that_only_looks_is_one_write_after_the_greeting() {
    let script = Script::new()
        .server(GREETING)
        .client("CAPA")
        .client("USER alice")
        .client("PASS s3cret")
        .client("LIST")
        .client("UIDL")
        .client("QUIT")
        .server(CAPA_PIPELINING)
        .server("+OK\r\n+OK logged in\r\n+OK\r\n1 10\r\n.\r\n+OK\r\n1 x\r\n.\r\n+OK bye\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let port = server.addr().port();
    let mut session = remembering(
        &server,
        &format!("pop3-capabilities 2 plaintext {port} PIPELINING 127.0.0.1"),
    );
    let (_, listing) = session
        .login_listing_and_quit("alice", "s3cret")
        .expect("the poll");
    assert_eq!(listing.len(), 1);
    assert!(session.noop().is_err(), "the session is over after QUIT");
}

#[test]
fn a_quit_refused_after_pipelined_deletions_is_the_error() {
    // RFC 1939 §6: -ERR to QUIT means the server could not remove the messages.
    let script = Script::new()
        .server(GREETING)
        .client("CAPA")
        .server(CAPA_PIPELINING)
        .client("USER alice")
        .client("PASS s3cret")
        .client("STAT")
        .server("+OK\r\n+OK logged in\r\n+OK 1 10\r\n")
        .client("DELE 1")
        .client("QUIT")
        .server("+OK marked\r\n-ERR some deleted messages not removed\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let mut session = connect(&server);
    session.login_and_stat("alice", "s3cret").expect("login");
    let error = session.dele_many_and_quit(&[1]).unwrap_err();
    assert_eq!(
        error.server_error().map(|e| e.text()),
        Some(&b"some deleted messages not removed"[..])
    );
    assert!(session.noop().is_err(), "the session is over after QUIT");
}
