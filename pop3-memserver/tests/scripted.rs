//! ScriptedServer: transcripts, mismatches, slow sends, stalls, resets, TLS.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, client_config, connect, tls_handshake};
use pop3_memserver::tls::TestPki;
use pop3_memserver::{Answer, Script, ScriptedServer, Step};

const T: Duration = Duration::from_secs(10);

#[test]
fn records_client_bytes_including_trailing_ones() {
    let srv = ScriptedServer::start(
        Script::new()
            .server("+OK ready\r\n")
            .client("CAPA")
            .server("+OK\r\nTOP\r\n.\r\n")
            .client_any()
            .server("+OK bye\r\n"),
    )
    .unwrap();
    let mut c = connect(srv.addr());
    assert_eq!(c.line(), "+OK ready");
    c.send(b"CAPA\r\n");
    assert_eq!(c.line(), "+OK");
    assert_eq!(c.line(), "TOP");
    assert_eq!(c.line(), ".");
    c.send(b"QUIT\r\nNOOP\r\n");
    assert_eq!(c.line(), "+OK bye");
    srv.wait_done(T).unwrap();
    // The NOOP after the last expected line is recorded too.
    let deadline = Instant::now() + T;
    while srv.client_bytes() != b"CAPA\r\nQUIT\r\nNOOP\r\n" {
        assert!(Instant::now() < deadline, "{:?}", srv.client_bytes());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(srv.connections(), 1);
}

#[test]
fn reports_mismatch_and_closes() {
    let srv = ScriptedServer::start(Script::new().server("+OK\r\n").client("CAPA")).unwrap();
    let mut c = connect(srv.addr());
    c.line();
    c.send(b"USER bob\r\n");
    let e = srv.wait_done(T).unwrap_err();
    assert!(
        e.contains("expected \"CAPA\", got \"USER bob\\\\r\\\\n\""),
        "{e}"
    );
    let mut rest = Vec::new();
    c.into_inner().read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(srv.client_bytes(), b"USER bob\r\n");
}

#[test]
fn bare_lf_is_a_mismatch_unless_expected() {
    let srv = ScriptedServer::start(Script::new().client("NOOP")).unwrap();
    let mut c = connect(srv.addr());
    c.send(b"NOOP\n");
    assert!(srv.wait_done(T).unwrap_err().contains("got \"NOOP\\\\n\""));

    let srv = ScriptedServer::start(vec![Step::Expect(b"NOOP\n".to_vec())]).unwrap();
    let mut c = connect(srv.addr());
    c.send(b"NOOP\n");
    srv.wait_done(T).unwrap();
}

#[test]
fn client_closing_early_is_reported() {
    let srv = ScriptedServer::start(Script::new().server("+OK\r\n").client("QUIT")).unwrap();
    let mut c = connect(srv.addr());
    c.line();
    drop(c);
    let e = srv.wait_done(T).unwrap_err();
    assert!(e.contains("client closed the connection"), "{e}");
}

#[test]
fn send_slowly_fragments() {
    let srv =
        ScriptedServer::start(Script::new().server_slowly("+OK hi\r\n", Duration::from_millis(10)))
            .unwrap();
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut reads = 0;
    while !got.ends_with(b"\r\n") {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert_eq!(got, b"+OK hi\r\n");
    assert!(reads >= 4, "{reads} reads");
    assert!(start.elapsed() >= Duration::from_millis(70));
    srv.wait_done(T).unwrap();
}

#[test]
fn reset_gives_rst() {
    let srv =
        ScriptedServer::start(Script::new().server("+OK\r\n").client("CAPA").reset()).unwrap();
    let mut c = connect(srv.addr());
    c.line();
    c.send(b"CAPA\r\n");
    srv.wait_done(T).unwrap();
    let mut s = c.into_inner();
    let mut buf = [0u8; 16];
    let err = loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("clean EOF instead of RST"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn stall_then_close() {
    let srv = ScriptedServer::start(
        Script::new()
            .server("+OK\r\n")
            .stall(Duration::from_millis(300))
            .server("-ERR late\r\n")
            .close(),
    )
    .unwrap();
    let mut c = connect(srv.addr());
    let start = Instant::now();
    c.line();
    c.send(b"NOOP\r\n");
    assert_eq!(c.line(), "-ERR late");
    assert!(start.elapsed() >= Duration::from_millis(300));
    let mut rest = Vec::new();
    c.into_inner().read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    srv.wait_done(T).unwrap();
    // Input that arrived during the stall is recorded.
    assert_eq!(srv.client_bytes(), b"NOOP\r\n");
}

#[test]
fn stall_forever_until_drop() {
    let srv = ScriptedServer::start(Script::new().server("+OK\r\n").stall_forever()).unwrap();
    let mut c = connect(srv.addr());
    c.line();
    srv.wait_done(T).unwrap();
    let mut s = c.into_inner();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let e = s.read(&mut [0u8; 8]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    drop(srv);
    s.set_read_timeout(Some(T)).unwrap();
    assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn start_once_closes_later_connections() {
    let srv = ScriptedServer::start_once(Script::new().server("+OK first\r\n")).unwrap();
    let mut a = connect(srv.addr());
    assert_eq!(a.line(), "+OK first");
    let mut b = TcpStream::connect(srv.addr()).unwrap();
    b.set_read_timeout(Some(T)).unwrap();
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(srv.connections(), 1);
}

#[test]
fn every_connection_runs_the_script() {
    let srv = ScriptedServer::start(Script::new().server("+OK\r\n").client("QUIT")).unwrap();
    for _ in 0..3 {
        let mut c = connect(srv.addr());
        c.line();
        c.send(b"QUIT\r\n");
        srv.wait_done(T).unwrap();
    }
    assert_eq!(srv.connections(), 3);
    assert_eq!(srv.transcripts(), vec![b"QUIT\r\n".to_vec(); 3]);
}

#[test]
fn scripted_stls() {
    let pki = TestPki::generate();
    let srv = ScriptedServer::start(
        Script::new()
            .server("+OK ready\r\n")
            .client("STLS")
            .server("+OK go ahead\r\n")
            .start_tls(pki.server_config())
            .client("CAPA")
            .server("+OK\r\nUSER\r\n.\r\n")
            .close_notify(),
    )
    .unwrap();
    let mut c = connect(srv.addr());
    c.line();
    assert_eq!(c.cmd("STLS"), "+OK go ahead");
    let s = tls_handshake(
        c.into_inner(),
        client_config(pki.ca.root_store(), &[]),
        "localhost",
    )
    .unwrap();
    let mut c = Client::new(s);
    assert_eq!(c.cmd("CAPA"), "+OK");
    assert_eq!(c.body_lines(), ["USER"]);
    let mut s = c.into_inner();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap(); // clean close_notify
    assert!(rest.is_empty());
    srv.wait_done(T).unwrap();
    assert_eq!(srv.client_bytes(), b"STLS\r\nCAPA\r\n");
}

#[test]
fn scripted_stls_catches_plaintext_injection() {
    let pki = TestPki::generate();
    let srv = ScriptedServer::start(
        Script::new()
            .server("+OK ready\r\n")
            .client("STLS")
            .server("+OK go ahead\r\n")
            .start_tls(pki.server_config()),
    )
    .unwrap();
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.write_all(b"STLS\r\nCAPA\r\n").unwrap();
    let e = srv.wait_done(T).unwrap_err();
    assert!(e.contains("StartTls"), "{e}");
}

#[test]
fn serve_answers_each_line_with_a_fresh_handler_per_connection() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let srv = ScriptedServer::start(Script::new().server("+OK hi\r\n").serve(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut lines = 0;
        Box::new(move |line: &[u8]| {
            lines += 1;
            match line {
                b"QUIT" => Answer::SendThenClose(b"+OK bye\r\n".to_vec()),
                _ => Answer::Send(
                    format!("+OK conn {n} line {lines} {}\r\n", line.escape_ascii()).into_bytes(),
                ),
            }
        })
    }))
    .unwrap();
    for n in 1..=2 {
        let mut c = connect(srv.addr());
        assert_eq!(c.line(), "+OK hi");
        c.send(b"NOOP\r\nSTAT\n");
        assert_eq!(c.line(), format!("+OK conn {n} line 1 NOOP"));
        assert_eq!(c.line(), format!("+OK conn {n} line 2 STAT"));
        c.send(b"QUIT\r\n");
        assert_eq!(c.line(), "+OK bye");
        let mut rest = Vec::new();
        c.into_inner().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
    srv.wait_done(T).unwrap();
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}
