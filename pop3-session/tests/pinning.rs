//! Pinning a server certificate by its SHA-256 fingerprint (`TlsOptions::pin_sha256`): the pinned certificate is
//! accepted for the host it names and for nothing else, the server must still prove it holds the key, and a
//! malformed fingerprint is refused before any connection. (E-07)
//!
//! Fingerprints are spelt as `openssl x509 -noout -fingerprint -sha256` prints them
//! ([`TestCert::sha256_fingerprint`]). The handshakes run in memory between the client configuration under test and a rustls server presenting
//! certificates made for the test, so each outcome is the exact rustls error.

use std::sync::Arc;

use pop3_memserver::tls::{self as certs, TestCa, TestCert};
use pop3_session::TlsOptions;
use pop3_session::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use pop3_session::rustls::server::{ClientHello, ResolvesServerCert};
use pop3_session::rustls::sign::CertifiedKey;
use pop3_session::rustls::{self, CertificateError, ServerConfig};
use support::handshake;

mod support;

fn pinned(cert: &TestCert) -> TlsOptions {
    TlsOptions::default()
        .pin_sha256(&cert.sha256_fingerprint())
        .expect("a well-formed fingerprint")
}

#[track_caller]
fn assert_refused(result: Result<(), rustls::Error>, expected: &CertificateError, what: &str) {
    match result {
        Err(rustls::Error::InvalidCertificate(e))
            if std::mem::discriminant(&e) == std::mem::discriminant(expected) => {}
        other => panic!("{what}: expected {expected:?}, got {other:?}"),
    }
}

#[test]
fn pinned_self_signed_certificate_is_accepted() {
    let cert = certs::self_signed_leaf();
    let options = pinned(&cert);
    handshake(&options, "localhost", cert.server_config()).expect("pinned certificate");
    // The fingerprint can be given in lower case and without colons too.
    let plain = cert
        .sha256_fingerprint()
        .replace(':', "")
        .to_ascii_lowercase();
    let options = TlsOptions::default().pin_sha256(&plain).expect("plain hex");
    handshake(&options, "127.0.0.1", cert.server_config()).expect("pinned, as an IP address");
}

#[test]
fn another_self_signed_certificate_is_refused() {
    let options = pinned(&certs::self_signed_leaf());
    let other = certs::self_signed_leaf();
    assert_refused(
        handshake(&options, "localhost", other.server_config()),
        &CertificateError::UnknownIssuer,
        "an unpinned self-signed certificate with the same names",
    );
}

#[test]
fn the_pin_does_not_make_its_certificate_valid_for_another_host() {
    let cert = certs::self_signed_leaf();
    let options = pinned(&cert);
    assert_refused(
        handshake(&options, "mail.example.org", cert.server_config()),
        &CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("x").unwrap(),
            presented: Vec::new(),
        },
        "the pinned certificate presented for a host it does not name",
    );
}

#[test]
fn the_pin_does_not_relax_the_checks_of_other_certificates() {
    let ca = TestCa::new();
    let options = pinned(&certs::self_signed_leaf())
        .ca_pem(ca.cert_pem().as_bytes())
        .expect("CA");
    // The roots still vouch for their own certificates...
    handshake(&options, "localhost", ca.server_leaf().server_config()).expect("CA-issued");
    // ...and only for valid ones.
    assert_refused(
        handshake(&options, "localhost", ca.expired_leaf().server_config()),
        &CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(Default::default()),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(Default::default()),
        },
        "an expired certificate of the trusted CA",
    );
    assert_refused(
        handshake(
            &options,
            "localhost",
            certs::unknown_ca_leaf().server_config(),
        ),
        &CertificateError::UnknownIssuer,
        "a certificate of another CA",
    );
    assert_refused(
        handshake(
            &options,
            certs::WRONG_HOST,
            ca.server_leaf().server_config(),
        ),
        &CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("x").unwrap(),
            presented: Vec::new(),
        },
        "a CA-issued certificate for another host",
    );
}

/// Presents a fixed certificate with a fixed key, whether or not they belong together.
#[derive(Debug)]
struct Impostor(Arc<CertifiedKey>);

impl ResolvesServerCert for Impostor {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A server that copied the pinned (public) certificate but signs with its own key.
fn impostor(
    copied: &TestCert,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let own_key = certs::self_signed_leaf().key_der;
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(own_key)))
        .expect("key");
    let certified = CertifiedKey::new(vec![CertificateDer::clone(&copied.cert_der)], key);
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Impostor(Arc::new(certified))));
    Arc::new(config)
}

#[test]
fn a_copy_of_the_pinned_certificate_without_its_key_is_refused() {
    let cert = certs::self_signed_leaf();
    let options = pinned(&cert);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        match handshake(&options, "localhost", impostor(&cert, &[version])) {
            Err(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => {}
            other => panic!("{version:?}: expected BadSignature, got {other:?}"),
        }
    }
}

#[test]
fn a_malformed_fingerprint_is_refused_when_configured() {
    let good = certs::self_signed_leaf().sha256_fingerprint();
    for bad in [
        String::new(),
        "not a fingerprint".to_owned(),
        good[..good.len() - 3].to_owned(),
        format!("{good}:00"),
        format!("{}ZZ", &good[..good.len() - 2]),
        good.replace(':', "-"),
    ] {
        let error = TlsOptions::default()
            .pin_sha256(&bad)
            .expect_err(&format!("{bad:?} accepted as a fingerprint"));
        assert!(
            error
                .to_string()
                .contains("SHA-256 certificate fingerprint"),
            "{bad:?}: {error}"
        );
    }
}
