//! TLS settings: verified by default, narrow overrides by name.

mod pin;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, Result};
use pin::{Fingerprint, PinningVerifier};

/// The ALPN protocol id for POP3 (IANA registry, RFC 2595). Offering it lets a server refuse cross-protocol
/// connections (the ALPACA attack).
pub const ALPN_POP3: &[u8] = b"pop3";

/// How to set up TLS: which roots to trust, which certificates to pin, which client certificate to present.
///
/// The default trusts the roots compiled in by the `native-roots` or `webpki-roots` feature, verifies the host
/// name, offers ALPN `pop3`, and negotiates TLS 1.2 or 1.3 without early data.
///
/// The configuration is built once and shared by every session opened with these options (and their clones), so
/// that rustls' session cache lets later sessions to the same server resume TLS instead of a full handshake.
#[derive(Clone, Default)]
pub struct TlsOptions {
    extra_roots: Vec<CertificateDer<'static>>,
    only_extra_roots: bool,
    pins: Vec<Fingerprint>,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    config: Option<Arc<ClientConfig>>,
    /// The configuration once built; a fresh cell whenever an option changes.
    built: Arc<Mutex<Option<Arc<ClientConfig>>>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("extra_roots", &self.extra_roots.len())
            .field("only_extra_roots", &self.only_extra_roots)
            .field("pins", &self.pins)
            .field("client_auth", &self.client_auth.is_some())
            .field("custom_config", &self.config.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Trust only the CA certificates in this PEM file (for a private CA), not the public roots.
    ///
    /// # Errors
    /// The file cannot be read or holds no certificate.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use pop3_blocking::{Session, TlsOptions};
    ///
    /// let tls = TlsOptions::default().ca_file("/etc/pop3/private-ca.pem")?;
    /// let mut session = Session::builder("pop.internal.example").tls(tls).connect()?;
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let pem = std::fs::read(path)?;
        self.ca_pem(&pem)
    }

    /// Trust only the CA certificates in this PEM text.
    ///
    /// # Errors
    /// The text holds no certificate.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        if certs.is_empty() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no certificate in PEM",
            )));
        }
        self.extra_roots.extend(certs);
        self.only_extra_roots = true;
        self.built = Arc::default();
        Ok(self)
    }

    /// Also trust the one server certificate whose SHA-256 fingerprint is `fingerprint` (64 hex digits, with or
    /// without colons, as `openssl x509 -noout -fingerprint -sha256` prints it): how a mail user trusts a server
    /// with a self-signed certificate after checking its fingerprint by other means.
    ///
    /// The pin is narrow on purpose; it is not a way to "accept invalid certificates":
    /// * it stands in for the chain checks (issuer, validity dates, key usage) of that exact end-entity
    ///   certificate only; any other certificate is verified against the roots as usual (and refused when only
    ///   pins are configured);
    /// * the pinned certificate must still name the host being connected to (its subjectAltName), so the pin
    ///   does not make it acceptable for another host;
    /// * the server must still prove in the handshake that it holds the certificate's private key, so a copy of
    ///   the public certificate is worth nothing to an impostor.
    ///
    /// Call it again to pin several certificates (while a server changes its certificate). With pins and no
    /// [`ca_pem`](Self::ca_pem), the default roots are still trusted if a roots feature is on.
    ///
    /// # Errors
    /// `fingerprint` is not 32 hex-encoded octets: refused now, not at the first connection.
    pub fn pin_sha256(mut self, fingerprint: &str) -> Result<Self> {
        let pin = Fingerprint::parse(fingerprint).ok_or_else(|| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a SHA-256 certificate fingerprint is 64 hex digits, optionally in colon-separated pairs",
            ))
        })?;
        self.pins.push(pin);
        Ok(self)
    }

    /// Present a client certificate (poplib's `certfile`/`keyfile`): a PEM chain and a PEM private key.
    ///
    /// # Errors
    /// The PEM text holds no certificate or no key.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use pop3_blocking::{Mechanism, Session, TlsOptions};
    ///
    /// let tls = TlsOptions::default()
    ///     .client_auth_pem(&std::fs::read("client.pem")?, &std::fs::read("client.key")?)?;
    /// let mut session = Session::builder("pop.example.com").tls(tls).connect()?;
    /// session.auth(Mechanism::External { authzid: String::new() })?; // log in as the certificate says
    /// # Ok(()) }
    /// ```
    pub fn client_auth_pem(mut self, cert_chain: &[u8], key: &[u8]) -> Result<Self> {
        let invalid = |e: &dyn fmt::Display| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            ))
        };
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(&e))?;
        self.client_auth = Some((chain, Arc::new(key)));
        self.built = Arc::default();
        Ok(self)
    }

    /// Use this rustls configuration as it is (poplib's `context`). The caller then owns every TLS decision,
    /// including ALPN and verification (pins and roots given here are not used).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use pop3_blocking::rustls::{ClientConfig, RootCertStore};
    /// use pop3_blocking::{ALPN_POP3, Session, TlsOptions};
    ///
    /// # fn main() -> pop3_blocking::Result<()> {
    /// let mut roots = RootCertStore::empty();
    /// roots.add(pop3_blocking::rustls::pki_types::CertificateDer::from(std::fs::read("ca.der")?))?;
    /// let mut config = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    /// config.alpn_protocols = vec![ALPN_POP3.to_vec()];
    /// let tls = TlsOptions::default().config(Arc::new(config));
    /// let mut session = Session::builder("pop.example.com").tls(tls).connect()?;
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self.built = Arc::default();
        self
    }

    /// The rustls configuration these options describe, built on first use and then shared.
    ///
    /// # Errors
    /// No crypto provider or no root certificates are available.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = &*built {
            return Ok(config.clone());
        }
        let config = self.build()?;
        *built = Some(config.clone());
        Ok(config)
    }

    fn build(&self) -> Result<Arc<ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        if !self.only_extra_roots {
            add_default_roots(&mut roots);
        }
        for cert in &self.extra_roots {
            roots.add(cert.clone())?;
        }
        if roots.is_empty() && self.pins.is_empty() {
            return Err(Error::Tls(rustls::Error::General(
                "no trusted root certificates: enable the webpki-roots or native-roots feature, or give a CA".into(),
            )));
        }
        let provider = provider()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.pins.is_empty() {
            builder.with_root_certificates(roots)
        } else {
            let verifier = PinningVerifier::new(self.pins.clone(), roots, provider)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        };
        let mut config = match &self.client_auth {
            Some((chain, key)) => builder.with_client_auth_cert(chain.clone(), key.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_POP3.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The crypto provider chosen by cargo features, or the process default.
fn provider() -> Result<Arc<rustls::crypto::CryptoProvider>> {
    #[cfg(feature = "ring")]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[allow(unreachable_code)]
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| {
            Error::Tls(rustls::Error::General(
                "no rustls crypto provider: enable ring or aws-lc-rs".into(),
            ))
        })
}

#[allow(unused_variables)]
fn add_default_roots(roots: &mut rustls::RootCertStore) {
    #[cfg(feature = "native-roots")]
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    #[cfg(feature = "webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
}

/// The name a certificate must carry: the configured host, never anything the server said.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned())
        .map_err(|e| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))
}

/// What was negotiated, read from the live connection (never from configuration).
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1_3`.
    pub version: Option<rustls::ProtocolVersion>,
    /// The cipher suite.
    pub cipher_suite: Option<rustls::SupportedCipherSuite>,
    /// The ALPN protocol the server selected, if any.
    pub alpn: Option<Vec<u8>>,
    /// The server's certificate chain, leaf first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// Whether this connection resumed an earlier TLS session (sessions opened from one builder share a session
    /// cache) rather than running a full handshake.
    pub resumed: bool,
}

impl TlsInfo {
    /// What `connection` negotiated.
    pub fn of(connection: &rustls::ClientConnection) -> Self {
        Self {
            version: connection.protocol_version(),
            cipher_suite: connection.negotiated_cipher_suite(),
            alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: connection
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            resumed: connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// RFC 9266 `tls-exporter` channel binding for SCRAM `-PLUS`, only on TLS 1.3 (where it is defined without extra
/// conditions).
pub(crate) fn channel_binding(
    connection: &rustls::ClientConnection,
) -> Option<pop3_proto::ChannelBinding> {
    if connection.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return None;
    }
    let data = connection
        .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
        .ok()?;
    Some(pop3_proto::ChannelBinding {
        kind: "tls-exporter",
        data: data.to_vec(),
    })
}

/// Fills `buf` with random bytes from the crypto provider (for SCRAM nonces): the session's own, else the one
/// chosen by cargo features or the process default.
pub(crate) fn random(config: Option<&ClientConfig>, buf: &mut [u8]) -> Result<()> {
    let provider = match config {
        Some(config) => config.crypto_provider().clone(),
        None => provider()?,
    };
    provider
        .secure_random
        .fill(buf)
        .map_err(|_| Error::Tls(rustls::Error::FailedToGetRandomBytes))
}
