//! A self-signed server trusted by its certificate's SHA-256 fingerprint, over real sockets, on POP3S and after
//! STLS; the same options refuse another self-signed server before any command. (E-07)

use std::time::Duration;

use pop3_blocking::rustls::{self, CertificateError};
use pop3_blocking::{Error, Security, Session, TlsOptions};
use pop3_memserver::tls::{self as certs, TestCert};
use pop3_memserver::{Script, ScriptedServer};

const GREETING: &str = "+OK POP3 server ready\r\n";
const CAPA: &str = "+OK\r\nUSER\r\nUIDL\r\n.\r\n";

/// A server presenting `cert`, on POP3S or after STLS.
fn server(cert: &TestCert, security: Security) -> ScriptedServer {
    let script = match security {
        Security::Implicit => Script::new()
            .start_tls(cert.server_config())
            .server(GREETING),
        _ => Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .start_tls(cert.server_config())
            .client("CAPA")
            .server(CAPA),
    };
    ScriptedServer::start(script.stall_forever()).expect("scripted server")
}

fn connect(
    server: &ScriptedServer,
    security: Security,
    tls: TlsOptions,
) -> pop3_blocking::Result<Session> {
    Session::builder("localhost")
        .port(server.addr().port())
        .security(security)
        .timeouts(pop3_blocking::Timeouts::all(Duration::from_secs(2)))
        .tls(tls)
        .connect()
}

#[test]
fn a_pinned_self_signed_server_is_trusted_and_no_other() {
    let pinned = certs::self_signed_leaf();
    let tls = TlsOptions::default()
        .pin_sha256(&pinned.sha256_fingerprint())
        .expect("a well-formed fingerprint");
    for security in [Security::Implicit, Security::StartTls] {
        let good = server(&pinned, security);
        let session = connect(&good, security, tls.clone())
            .unwrap_or_else(|e| panic!("{security:?}: the pinned server refused: {e}"));
        assert!(session.is_encrypted(), "{security:?}");
        let presented = session.tls_info().expect("TLS info").peer_certificates;
        assert_eq!(presented.first(), Some(&pinned.cert_der), "{security:?}");

        let other = server(&certs::self_signed_leaf(), security);
        match connect(&other, security, tls.clone()) {
            Err(Error::Tls(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))) => {
            }
            other => panic!("{security:?}: another self-signed server: {other:?}"),
        }
        let expected: &[u8] = match security {
            Security::Implicit => b"",
            _ => b"STLS\r\n",
        };
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            other.client_bytes(),
            expected,
            "{security:?}: sent after a refused certificate"
        );
        assert_eq!(other.connections(), 1, "{security:?}: reconnected");
    }
}
