//! What the async drivers' own smoke tests share against the in-process pop3-memserver: the servers they start,
//! how they connect, and the whole session they check. Each driver's test file keeps what is its runtime's own.

use std::time::Duration;

use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, Script, ServerConfig};
use pop3_session::{Async, AsyncIo, Builder, Driver, Security, Session, TlsOptions};

/// A MemServer serving `mailbox` to `alice`, password `secret`.
pub fn server(mailbox: Mailbox) -> MemServer {
    MemServer::start(
        ServerConfig::default().with_user("alice", "secret"),
        mailbox,
    )
    .expect("a MemServer on loopback")
}

/// A MemServer speaking TLS from the first byte with a certificate of `pki`, serving the sample mailbox to
/// `alice`, password `secret`.
pub fn implicit_tls_server(pki: &TestPki) -> MemServer {
    MemServer::start(
        ServerConfig::default()
            .with_user("alice", "secret")
            .with_implicit_tls(pki.server_config()),
        Mailbox::sample(),
    )
    .expect("a MemServer on loopback")
}

/// TLS options that trust `pki`'s CA alone.
pub fn trusting(pki: &TestPki) -> TlsOptions {
    TlsOptions::default()
        .ca_pem(pki.ca.cert_pem().as_bytes())
        .expect("the test CA's PEM")
}

/// A session to `server` in clear, credentials allowed in clear, every wait limited to ten seconds.
pub fn plain<D: Driver>(server: &MemServer) -> Builder<D> {
    Builder::new("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .timeout(Duration::from_secs(10))
}

/// A server that greets, answers STAT only two seconds later, then NOOP: for a command whose caller gives up
/// while its answer is on the way. A client that then sent NOOP would read STAT's late answer as NOOP's.
pub fn late_stat_answer() -> Script {
    Script::new()
        .server("+OK ready\r\n")
        .client("STAT")
        .stall(Duration::from_secs(2))
        .server("+OK 1 100\r\n")
        .client("NOOP")
        .server("+OK\r\n")
        .close()
}

/// Logs in as `alice`, retrieves every message of `mailbox`, each byte for byte, and quits.
pub async fn retrieve_all_and_quit<T: AsyncIo>(session: &mut Session<Async<T>>, mailbox: &Mailbox) {
    session.login("alice", "secret").await.unwrap();
    for (i, message) in mailbox.messages().iter().enumerate() {
        assert_eq!(
            session.retr(i as u64 + 1).await.unwrap(),
            message.data(),
            "message {}",
            i + 1
        );
    }
    session.quit().await.unwrap();
}
