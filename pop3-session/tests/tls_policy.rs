//! What the default TLS configuration offers, checked on real handshakes: ALPN `pop3` only, and no 0-RTT even
//! when a resumed session would allow it (early data can be replayed by anyone who recorded it). (E-01, E-09)

use std::sync::Arc;

use pop3_memserver::tls::TestPki;
use pop3_session::TlsOptions;
use pop3_session::rustls::{self, ClientConfig, HandshakeKind, ServerConfig};

mod support;

/// A server that gives out session tickets allowing 16 KiB of early data.
fn server_inviting_early_data(pki: &TestPki) -> Arc<ServerConfig> {
    let mut config =
        ServerConfig::clone(&pki.server.server_config_with_alpn(vec![b"pop3".to_vec()]));
    config.max_early_data_size = 16 * 1024;
    config.send_tls13_tickets = 4;
    Arc::new(config)
}

#[test]
fn alpn_offers_pop3_alone() {
    let pki = TestPki::generate();
    let options = TlsOptions::default()
        .ca_pem(pki.ca.cert_pem().as_bytes())
        .unwrap();
    let config = support::client_config(&options);
    assert_eq!(config.alpn_protocols, [b"pop3".to_vec()]);
    let client = support::connect(
        config,
        "localhost",
        pki.server.server_config_with_alpn(vec![b"pop3".to_vec()]),
    )
    .unwrap();
    assert_eq!(client.alpn_protocol(), Some(&b"pop3"[..]));
}

#[test]
fn no_early_data_on_a_resumed_session() {
    let pki = TestPki::generate();
    let server = server_inviting_early_data(&pki);
    let options = TlsOptions::default()
        .ca_pem(pki.ca.cert_pem().as_bytes())
        .unwrap();
    let config = support::client_config(&options);
    assert!(!config.enable_early_data);

    let first = support::connect(config.clone(), "localhost", server.clone()).unwrap();
    assert_eq!(first.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(
        first.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    // The second connection resumes with the ticket the first one got, and still sends no early data.
    let mut second =
        rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
    assert!(second.early_data().is_none(), "0-RTT offered");
    let second = support::connect(config.clone(), "localhost", server.clone()).unwrap();
    assert_eq!(second.handshake_kind(), Some(HandshakeKind::Resumed));
    assert!(!second.is_early_data_accepted());

    // The same server would have taken early data from a client that sends it: the refusal above is the client's.
    let mut eager = ClientConfig::clone(&config);
    eager.enable_early_data = true;
    let eager = Arc::new(eager);
    support::connect(eager.clone(), "localhost", server.clone()).unwrap();
    let mut resumed =
        rustls::ClientConnection::new(eager, "localhost".try_into().unwrap()).unwrap();
    assert!(
        resumed.early_data().is_some(),
        "the server does not invite 0-RTT"
    );
}
