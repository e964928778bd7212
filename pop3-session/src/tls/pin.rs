//! Trusting one server certificate by its SHA-256 fingerprint, as mail users trust a self-signed server.
//!
//! A pin vouches for one exact end-entity certificate in place of a certificate authority, and for nothing else:
//! the certificate must still name the host being connected to, and the server must still prove in the handshake
//! that it holds the certificate's private key. Every other certificate is verified as without a pin.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The SHA-256 digest of a certificate's DER encoding: what `openssl x509 -noout -fingerprint -sha256` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Parses 64 hexadecimal digits, either run together or as 32 colon-separated pairs (`AB:CD:…`), in either
    /// case. Anything else is refused: a pin that silently matched nothing would fail later and less clearly.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let pairs: Vec<&str> = if text.contains(':') {
            text.split(':').collect()
        } else if text.len() == 64 && text.is_ascii() {
            (0..32).map(|i| &text[2 * i..2 * i + 2]).collect()
        } else {
            return None;
        };
        if pairs.len() != 32 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(pairs) {
            if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(digest))
    }

    /// The fingerprint of `cert`.
    pub(crate) fn of(cert: &CertificateDer<'_>) -> Self {
        Self(Sha256::digest(cert.as_ref()).into())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&hex.join(":"))
    }
}

/// Accepts a pinned end-entity certificate for the host it names; verifies every other certificate with the
/// roots (or refuses it, when there are none).
#[derive(Debug)]
pub(crate) struct PinningVerifier {
    pins: Vec<Fingerprint>,
    roots: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinningVerifier {
    pub(crate) fn new(
        pins: Vec<Fingerprint>,
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, rustls::Error> {
        let algorithms = provider.signature_verification_algorithms;
        let roots = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))?,
            )
        };
        Ok(Self {
            pins,
            roots,
            algorithms,
        })
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.contains(&Fingerprint::of(end_entity)) {
            // The pin stands in for the chain checks (issuer, validity dates, key usage): the user decided on
            // this very certificate. Which host it is for is not part of that decision, so the name is checked.
            let parsed = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        match &self.roots {
            Some(roots) => {
                roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(CertificateError::UnknownIssuer.into()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    const HEX: &str = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789ABCDEF";

    #[test]
    fn fingerprints_in_both_spellings_are_the_same() {
        let colons: Vec<String> = (0..32).map(|i| HEX[2 * i..2 * i + 2].to_owned()).collect();
        let plain = Fingerprint::parse(HEX).expect("64 hex digits");
        assert_eq!(Fingerprint::parse(&colons.join(":")), Some(plain));
        assert_eq!(
            format!("{plain:?}"),
            colons.join(":").to_ascii_uppercase(),
            "shown as openssl prints it"
        );
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        for bad in [
            "",
            &HEX[..62],
            &format!("{HEX}00"),
            &HEX.replace('a', "g"),
            "01:23",
            &format!("{}:", &HEX[..62]),
            &"0:1".repeat(32),
            "é".repeat(32).as_str(),
        ] {
            assert_eq!(Fingerprint::parse(bad), None, "{bad:?}");
        }
    }
}
