//! Implicit TLS, STLS and the bad-certificate helpers, with a rustls client.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{Client, client_config, tls_handshake};
use pop3_memserver::tls::{self, TestCa, TestPki};
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

fn tcp(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

#[test]
fn implicit_tls_session() {
    let pki = TestPki::generate();
    let mailbox = Mailbox::sample();
    let cfg = ServerConfig::default()
        .with_user("demo", "demo")
        .with_implicit_tls(pki.server_config());
    let srv = MemServer::start(cfg, mailbox.clone()).unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let stream = tls_handshake(
            tcp(srv.addr()),
            client_config(pki.ca.root_store(), &[]),
            name,
        )
        .unwrap();
        let mut c = Client::new(stream);
        assert!(c.line().starts_with("+OK"));
        assert!(c.cmd("CAPA").starts_with("+OK"));
        assert!(!c.body_lines().iter().any(|l| l == "STLS"));
        assert_eq!(c.cmd("STLS"), "-ERR TLS already active");
        c.login("demo", "demo");
        assert!(c.cmd("RETR 3").starts_with("+OK"));
        assert_eq!(c.body(), mailbox.messages()[2].data());
        assert!(c.cmd("QUIT").starts_with("+OK"));
    }
}

#[test]
fn stls_upgrade() {
    let pki = TestPki::generate();
    let mailbox = Mailbox::generated(3, 100_000, 3, 5);
    let cfg = ServerConfig::default()
        .with_user("demo", "demo")
        .with_stls(pki.server_config());
    let srv = MemServer::start(cfg, mailbox.clone()).unwrap();
    let mut c = Client::new(tcp(srv.addr()));
    assert!(c.line().starts_with("+OK"));
    assert!(c.cmd("CAPA").starts_with("+OK"));
    assert!(c.body_lines().iter().any(|l| l == "STLS"));
    assert_eq!(c.cmd("STLS"), "+OK Begin TLS negotiation");
    let stream = tls_handshake(
        c.into_inner(),
        client_config(pki.ca.root_store(), &[]),
        "localhost",
    )
    .unwrap();
    let mut c = Client::new(stream);
    assert!(c.cmd("CAPA").starts_with("+OK"));
    assert!(!c.body_lines().iter().any(|l| l == "STLS"));
    assert_eq!(c.cmd("STLS"), "-ERR TLS already active");
    c.login("demo", "demo");
    assert_eq!(c.cmd("STLS"), "-ERR command not valid in this state");
    for (i, m) in mailbox.messages().iter().enumerate() {
        assert!(c.cmd(&format!("RETR {}", i + 1)).starts_with("+OK"));
        assert_eq!(c.body(), m.data());
    }
}

#[test]
fn stls_discards_pipelined_plaintext() {
    let pki = TestPki::generate();
    let cfg = ServerConfig::default()
        .with_user("demo", "demo")
        .with_stls(pki.server_config());
    let srv = MemServer::start(cfg, Mailbox::sample()).unwrap();
    let mut c = Client::new(tcp(srv.addr()));
    c.line();
    // An attacker-injected command after STLS must not be executed.
    c.send(b"STLS\r\nUSER demo\r\n");
    assert_eq!(c.line(), "+OK Begin TLS negotiation");
    let stream = tls_handshake(
        c.into_inner(),
        client_config(pki.ca.root_store(), &[]),
        "localhost",
    )
    .unwrap();
    let mut c = Client::new(stream);
    assert_eq!(c.cmd("PASS demo"), "-ERR USER first");
}

#[test]
fn stls_not_offered_without_tls() {
    let srv = MemServer::start(ServerConfig::default(), Mailbox::new()).unwrap();
    let mut c = Client::new(tcp(srv.addr()));
    c.line();
    assert_eq!(c.cmd("STLS"), "-ERR STLS not available");
}

fn handshake_error(cert: &tls::TestCert, ca: &TestCa) -> String {
    let cfg = ServerConfig::default().with_implicit_tls(cert.server_config());
    let srv = MemServer::start(cfg, Mailbox::new()).unwrap();
    match tls_handshake(
        tcp(srv.addr()),
        client_config(ca.root_store(), &[]),
        "localhost",
    ) {
        Ok(_) => "no error".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_certificates_are_rejected() {
    let ca = TestCa::new();
    let e = handshake_error(&tls::self_signed_leaf(), &ca);
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = handshake_error(&tls::unknown_ca_leaf(), &ca);
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = handshake_error(&ca.wrong_host_leaf(), &ca);
    assert!(e.contains("not valid for name"), "{e}");
    let e = handshake_error(&ca.expired_leaf(), &ca);
    assert!(e.contains("expired"), "{e}");
    assert_eq!(handshake_error(&ca.server_leaf(), &ca), "no error");
}

#[test]
fn pem_outputs_look_right() {
    let pki = TestPki::generate();
    assert!(pki.ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        pki.server
            .cert_pem
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(
        pki.server
            .key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(!format!("{:?}", pki.ca).contains("PRIVATE"));
}

#[test]
fn alpn() {
    let pki = TestPki::generate();
    let pop3 = pki.server.server_config_with_alpn(vec![b"pop3".to_vec()]);
    let srv = MemServer::start(
        ServerConfig::default().with_implicit_tls(pop3),
        Mailbox::new(),
    )
    .unwrap();
    let s = tls_handshake(
        tcp(srv.addr()),
        client_config(pki.ca.root_store(), &[b"pop3"]),
        "localhost",
    )
    .unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"pop3"[..]));
    // No ALPN offered: no protocol selected, handshake still fine.
    let s = tls_handshake(
        tcp(srv.addr()),
        client_config(pki.ca.root_store(), &[]),
        "localhost",
    )
    .unwrap();
    assert_eq!(s.conn.alpn_protocol(), None);

    // A server that only speaks "imap" refuses a client offering "pop3".
    let imap = pki.server.server_config_with_alpn(vec![b"imap".to_vec()]);
    let srv = MemServer::start(
        ServerConfig::default().with_implicit_tls(imap),
        Mailbox::new(),
    )
    .unwrap();
    let e = tls_handshake(
        tcp(srv.addr()),
        client_config(pki.ca.root_store(), &[b"pop3"]),
        "localhost",
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("NoApplicationProtocol"), "{e}");
}
