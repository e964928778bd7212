//! `utf8_when_offered`: login says UTF8 first when the server offers it (RFC 6856 allows it only before login),
//! and not otherwise; a refused UTF8 does not fail the login.

use std::time::Duration;

use pop3_blocking::{LoginMethod, Security, Session};
use pop3_memserver::{Script, ScriptedServer};

const GREETING: &str = "+OK ready\r\n";

fn run(
    capa: &str,
    utf8_answer: Option<&str>,
) -> (ScriptedServer, pop3_blocking::Result<LoginMethod>) {
    let mut script = Script::new().server(GREETING).client("CAPA").server(capa);
    if let Some(answer) = utf8_answer {
        script = script.client("UTF8").server(answer);
    }
    let script = script
        .client("USER alice")
        .server("+OK\r\n")
        .client("PASS s3cret")
        .server("+OK logged in\r\n")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    let mut session = Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .utf8_when_offered()
        .timeout(Duration::from_secs(5))
        .connect()
        .unwrap();
    let login = session.login("alice", "s3cret");
    (server, login)
}

fn sent(server: &ScriptedServer, expected: &[u8]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while server.client_bytes() != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        String::from_utf8_lossy(&server.client_bytes()),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn utf8_is_said_before_login_when_offered() {
    let (server, login) = run("+OK\r\nUSER\r\nUTF8\r\n.\r\n", Some("+OK UTF8 enabled\r\n"));
    assert_eq!(login.unwrap(), LoginMethod::UserPass);
    sent(&server, b"CAPA\r\nUTF8\r\nUSER alice\r\nPASS s3cret\r\n");
}

#[test]
fn a_refused_utf8_does_not_fail_the_login() {
    let (server, login) = run("+OK\r\nUSER\r\nUTF8\r\n.\r\n", Some("-ERR not now\r\n"));
    assert_eq!(login.unwrap(), LoginMethod::UserPass);
    sent(&server, b"CAPA\r\nUTF8\r\nUSER alice\r\nPASS s3cret\r\n");
}

#[test]
fn utf8_is_not_said_when_not_offered() {
    let (server, login) = run("+OK\r\nUSER\r\n.\r\n", None);
    assert_eq!(login.unwrap(), LoginMethod::UserPass);
    sent(&server, b"CAPA\r\nUSER alice\r\nPASS s3cret\r\n");
}
