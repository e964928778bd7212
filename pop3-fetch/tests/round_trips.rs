//! Round trips of a fetch: the login and the listing travel together, QUIT travels with the deletions, and a
//! server remembered in the state file gets CAPA, the login and the listing in one write. The scripted servers
//! read every line of a step before answering: a client that waited for an answer in between would stall them
//! (and fail on its `--timeout`).

mod common;

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use pop3_memserver::tls::TestPki;
use pop3_memserver::{Answer, Script, ScriptedServer};

const GREETING: &str = "+OK POP3S ready\r\n";
const CAPA: &str = "+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n";
const MESSAGE: &str = "Subject: one\r\n\r\nbody\r\n";

/// `pops://demo;AUTH=+USER@…` at `server` with the test CA, into `maildir`, with a short time limit.
fn args(dir: &TempDir, pki: &TestPki, server: &ScriptedServer, extra: &[&str]) -> Vec<String> {
    let ca = dir.join("ca.pem");
    fs::write(&ca, pki.ca.cert_pem()).unwrap();
    let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    args.extend([
        "--timeout".into(),
        "5".into(),
        "--maildir".into(),
        dir.join("Maildir").display().to_string(),
        "--ca-file".into(),
        ca.display().to_string(),
        format!("pops://demo;AUTH=+USER@127.0.0.1:{}", server.addr().port()),
    ]);
    args
}

fn fetch(args: &[String]) -> String {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok("demo", &argv)
}

fn state_path(dir: &TempDir) -> std::path::PathBuf {
    dir.join("Maildir").join(".pop3-fetch-state.demo@127.0.0.1")
}

fn listing() -> String {
    format!(
        "+OK\r\n+OK logged in\r\n+OK\r\n1 {}\r\n.\r\n+OK\r\n1 uid-1\r\n.\r\n",
        MESSAGE.len()
    )
}

fn message() -> String {
    format!("+OK\r\n{MESSAGE}.\r\n")
}

#[test]
fn first_contact_sends_the_listing_with_the_login_and_quit_with_the_deletions_and_remembers_the_server()
 {
    let dir = TempDir::new("rtt-first");
    let pki = TestPki::generate();
    let server = ScriptedServer::start_once(
        Script::new()
            .start_tls(pki.server_config())
            .server(GREETING)
            .client("CAPA")
            .server(CAPA)
            .client("USER demo")
            .client("PASS demo")
            .client("LIST")
            .client("UIDL")
            .server(listing())
            .client("RETR 1")
            .server(message())
            .client("DELE 1")
            .client("QUIT")
            .server("+OK\r\n+OK bye\r\n")
            .close(),
    )
    .unwrap();
    let out = fetch(&args(&dir, &pki, &server, &["--delete"]));
    assert!(out.contains("deleted 1 from the server"), "{out}");
    server.wait_done(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(maildir_messages(&dir.join("Maildir")), [MESSAGE.as_bytes()]);
    let state = fs::read_to_string(state_path(&dir)).unwrap();
    assert!(
        state.contains(&format!(
            "\nserver pop3-capabilities 2 implicit {} PIPELINING 127.0.0.1\n",
            server.addr().port()
        )),
        "{state}"
    );
}

#[test]
fn a_remembered_server_gets_capa_the_login_and_the_listing_in_one_write() {
    let dir = TempDir::new("rtt-remembered");
    let pki = TestPki::generate();
    let server = ScriptedServer::start_once(
        Script::new()
            .start_tls(pki.server_config())
            .server(GREETING)
            .client("CAPA")
            .client("USER demo")
            .client("PASS demo")
            .client("LIST")
            .client("UIDL")
            .server(format!("{CAPA}{}", listing()))
            .client("RETR 1")
            .server(message())
            .client("QUIT")
            .server("+OK bye\r\n")
            .close(),
    )
    .unwrap();
    let args = args(&dir, &pki, &server, &[]);
    fs::create_dir_all(dir.join("Maildir")).unwrap();
    let remembered = format!(
        "pop3-fetch state 3\naccount demo@127.0.0.1\nserver pop3-capabilities 2 implicit {} PIPELINING 127.0.0.1\n",
        server.addr().port()
    );
    fs::write(state_path(&dir), &remembered).unwrap();
    fetch(&args);
    server.wait_done(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(maildir_messages(&dir.join("Maildir")), [MESSAGE.as_bytes()]);
    let state = fs::read_to_string(state_path(&dir)).unwrap();
    assert!(state.starts_with(&remembered), "{state}");
}

/// A small POP3 responder for [`a_server_that_now_offers_utf8_is_asked_again_with_utf8_before_the_login`]: it
/// answers line by line, offers UTF8, and records each connection's commands.
fn utf8_server(pki: &TestPki, seen: Arc<Mutex<Vec<Vec<String>>>>) -> ScriptedServer {
    let connections = Arc::new(AtomicUsize::new(0));
    ScriptedServer::start(
        Script::new()
            .start_tls(pki.server_config())
            .server(GREETING)
            .serve(move || {
                let index = connections.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().push(Vec::new());
                let seen = Arc::clone(&seen);
                Box::new(move |line: &[u8]| {
                    let line = String::from_utf8_lossy(line).into_owned();
                    seen.lock().unwrap()[index].push(line.clone());
                    let answer = match line.as_str() {
                        "CAPA" => "+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\nUTF8\r\n.\r\n".to_owned(),
                        "LIST" => format!("+OK\r\n1 {}\r\n.\r\n", MESSAGE.len()),
                        "UIDL" => "+OK\r\n1 uid-1\r\n.\r\n".to_owned(),
                        "RETR 1" => message(),
                        "QUIT" => return Answer::SendThenClose(b"+OK bye\r\n".to_vec()),
                        _ => "+OK\r\n".to_owned(),
                    };
                    Answer::Send(answer.into_bytes())
                })
            }),
    )
    .unwrap()
}

#[test]
fn a_server_that_now_offers_utf8_is_asked_again_with_utf8_before_the_login() {
    let dir = TempDir::new("rtt-stale");
    let pki = TestPki::generate();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = utf8_server(&pki, Arc::clone(&seen));
    let args = args(&dir, &pki, &server, &[]);
    fs::create_dir_all(dir.join("Maildir")).unwrap();
    let port = server.addr().port();
    fs::write(
        state_path(&dir),
        format!(
            "pop3-fetch state 3\naccount demo@127.0.0.1\nserver pop3-capabilities 2 implicit {port} PIPELINING 127.0.0.1\n"
        ),
    )
    .unwrap();
    let out = fetch(&args);
    assert!(out.contains("now offers UTF8"), "{out}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            vec!["CAPA", "USER demo", "PASS demo", "LIST", "UIDL", "QUIT"],
            vec![
                "CAPA",
                "UTF8",
                "USER demo",
                "PASS demo",
                "LIST",
                "UIDL",
                "RETR 1",
                "QUIT"
            ],
        ],
        "the first session used the remembered capabilities, the second said UTF8 before the login"
    );
    assert_eq!(maildir_messages(&dir.join("Maildir")), [MESSAGE.as_bytes()]);
    let state = fs::read_to_string(state_path(&dir)).unwrap();
    assert!(
        state.contains(&format!(
            "\nserver pop3-capabilities 2 implicit {port} PIPELINING,UTF8 127.0.0.1\n"
        )),
        "{state}"
    );
}
