//! Throw-away certificates for TLS tests: a test CA with a server
//! certificate for `localhost`, `127.0.0.1` and `::1`, and deliberately bad
//! certificates (self-signed, unknown CA, wrong host, expired) so a client's
//! certificate checks can be tested without fixtures that expire.
//!
//! Keys are ECDSA P-256, generated fresh on each call. Server
//! configurations use rustls' `ring` provider explicitly, so they work
//! whichever other rustls providers the workspace happens to enable.
//!
//! ALPN: [`TestCert::server_config_with_alpn`] makes a server that selects
//! one of the given protocols. A server that *forces* a protocol the client
//! did not offer cannot be configured in rustls (it only ever picks from the
//! client's list, and rejects the handshake with `no_application_protocol`
//! when there is no overlap); the scripted server's
//! [`Step::StartTlsSelectingAlpn`](crate::Step::StartTlsSelectingAlpn)
//! plays one by rewriting a TLS 1.2 ServerHello (see
//! [`TestCert::tls12_server_config_with_alpn`]).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names every "good" server certificate is valid for.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The host name of [`TestCa::wrong_host_leaf`].
pub const WRONG_HOST: &str = "other.example";

/// A certificate authority that exists only in memory, for one test run.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate and its private key, in PEM and DER.
#[derive(Debug, Clone)]
pub struct TestCert {
    /// The certificate, PEM-encoded.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM-encoded.
    pub key_pem: String,
    /// The certificate, DER-encoded.
    pub cert_der: CertificateDer<'static>,
    /// The private key, PKCS#8 DER-encoded.
    pub key_der: Vec<u8>,
}

/// A CA plus a valid server certificate issued by it: the usual setup for
/// a TLS test.
#[derive(Debug)]
pub struct TestPki {
    /// The issuing CA; clients should trust [`TestCa::cert_pem`].
    pub ca: TestCa,
    /// A server certificate for [`SERVER_NAMES`], issued by `ca`.
    pub server: TestCert,
}

fn rcgen_err(e: rcgen::Error) -> String {
    format!("certificate generation failed: {e}")
}

impl TestCa {
    /// Generates a new CA.
    ///
    /// # Panics
    ///
    /// Only if key generation fails, which `ring` does not do in practice;
    /// panicking keeps test code short.
    pub fn new() -> Self {
        Self::named("pop3-memserver test CA")
    }

    fn named(name: &str) -> Self {
        let key = KeyPair::generate().map_err(rcgen_err).expect("CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(rcgen_err)
            .expect("CA cert");
        Self { cert, key }
    }

    /// The CA certificate, PEM-encoded (what a client should trust).
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate, DER-encoded.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A root store containing only this CA, for rustls clients in tests.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.cert_der())
            .expect("rcgen produced a certificate webpki rejects");
        roots
    }

    /// Issues a server certificate for the given names (DNS names or IP
    /// addresses), valid from 1975 to 4096.
    pub fn issue(&self, names: &[&str]) -> TestCert {
        self.issue_with(names, |_| {})
    }

    /// A valid server certificate for [`SERVER_NAMES`].
    pub fn server_leaf(&self) -> TestCert {
        self.issue(SERVER_NAMES)
    }

    /// A certificate for [`WRONG_HOST`] only: trusted, but must fail host
    /// name verification for `localhost`.
    pub fn wrong_host_leaf(&self) -> TestCert {
        self.issue(&[WRONG_HOST])
    }

    /// A certificate for [`SERVER_NAMES`] that expired in 2001.
    pub fn expired_leaf(&self) -> TestCert {
        self.issue_with(SERVER_NAMES, |p| {
            p.not_before = rcgen::date_time_ymd(2000, 1, 1);
            p.not_after = rcgen::date_time_ymd(2001, 1, 1);
        })
    }

    /// A certificate for [`SERVER_NAMES`] that becomes valid in 2090.
    pub fn not_yet_valid_leaf(&self) -> TestCert {
        self.issue_with(SERVER_NAMES, |p| {
            p.not_before = rcgen::date_time_ymd(2090, 1, 1);
            p.not_after = rcgen::date_time_ymd(2091, 1, 1);
        })
    }

    /// A certificate for [`SERVER_NAMES`] whose extended key usage allows
    /// client authentication only, not `serverAuth`.
    pub fn client_auth_only_leaf(&self) -> TestCert {
        self.issue_with(SERVER_NAMES, |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        })
    }

    fn issue_with(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> TestCert {
        let key = KeyPair::generate().map_err(rcgen_err).expect("leaf key");
        let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())
            .map_err(rcgen_err)
            .expect("valid subject alt names");
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        tweak(&mut params);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(rcgen_err)
            .expect("leaf cert");
        TestCert::new(&cert, &key)
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("TestCa")
            .field("cert_pem", &self.cert.pem())
            .finish_non_exhaustive()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCert {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// The certificate's SHA-256 fingerprint as `openssl x509 -noout
    /// -fingerprint -sha256` prints it: 32 upper-case hex pairs joined by
    /// colons (what a user would pin).
    pub fn sha256_fingerprint(&self) -> String {
        let sha256 = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
            .tls13()
            .expect("a TLS 1.3 suite")
            .common
            .hash_provider;
        let digest = sha256.hash(self.cert_der.as_ref());
        let pairs: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        pairs.join(":")
    }

    /// A rustls server configuration presenting this certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config_with_alpn(Vec::new())
    }

    /// Like [`server_config`](Self::server_config), with ALPN: the server
    /// selects the first of `protocols` that the client offers (e.g.
    /// `vec![b"pop3".to_vec()]`) and fails the handshake if the client
    /// offers ALPN but none of these.
    ///
    /// # Panics
    ///
    /// If rustls rejects the key, which cannot happen for keys made here.
    pub fn server_config_with_alpn(&self, protocols: Vec<Vec<u8>>) -> Arc<rustls::ServerConfig> {
        self.config_for(rustls::DEFAULT_VERSIONS, protocols)
    }

    /// Like [`server_config_with_alpn`](Self::server_config_with_alpn), but
    /// TLS 1.2 only: its ServerHello, ALPN choice included, travels in clear
    /// (what [`Step::StartTlsSelectingAlpn`](crate::Step::StartTlsSelectingAlpn)
    /// needs).
    pub fn tls12_server_config_with_alpn(
        &self,
        protocols: Vec<Vec<u8>>,
    ) -> Arc<rustls::ServerConfig> {
        self.config_for(&[&rustls::version::TLS12], protocols)
    }

    fn config_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        protocols: Vec<Vec<u8>>,
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .expect("rustls accepts the generated key");
        config.alpn_protocols = protocols;
        Arc::new(config)
    }
}

impl TestPki {
    /// A fresh CA and a server certificate for [`SERVER_NAMES`].
    pub fn generate() -> Self {
        let ca = TestCa::new();
        let server = ca.server_leaf();
        Self { ca, server }
    }

    /// Server configuration presenting the valid server certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.server_config()
    }
}

/// A self-signed certificate for [`SERVER_NAMES`]: correct names and dates,
/// but no CA vouches for it.
pub fn self_signed_leaf() -> TestCert {
    let key = KeyPair::generate().map_err(rcgen_err).expect("key");
    let mut params = CertificateParams::new(
        SERVER_NAMES
            .iter()
            .map(|&n| n.to_owned())
            .collect::<Vec<_>>(),
    )
    .map_err(rcgen_err)
    .expect("valid names");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).map_err(rcgen_err).expect("cert");
    TestCert::new(&cert, &key)
}

/// A certificate for [`SERVER_NAMES`] issued by a freshly made CA that
/// nobody trusts.
pub fn unknown_ca_leaf() -> TestCert {
    TestCa::named("pop3-memserver untrusted CA").server_leaf()
}
