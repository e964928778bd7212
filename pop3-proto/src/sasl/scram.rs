//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), client side, with optional channel binding (`-PLUS`).
//!
//! The exchange is three messages from the client's point of view (RFC 5802 §3):
//!
//! 1. client-first: `gs2-header n=<user>,r=<client nonce>`;
//! 2. on server-first `r=<nonce>,s=<salt>,i=<iterations>`: client-final `c=<binding>,r=<nonce>,p=<proof>`;
//! 3. on server-final `v=<server signature>`: an empty response, after checking the signature.
//!
//! Step 3 is what makes SCRAM mutual: a server that does not know the password (or the salted verifier) cannot
//! produce `v=`, so a `+OK` without a verified `v=` is refused (RFC 5802 §9).
//!
//! The password is used as its UTF-8 bytes; SASLprep (RFC 4013) is not applied (see `Mechanism::validate`).

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::{
    CHALLENGE_ENGINE, ChannelBinding, SaslError, decode_challenge, encode, escape_server_text,
};

/// Highest SCRAM iteration count the client will compute.
///
/// The server chooses `i=` (RFC 5802 §5.1) and the client must run PBKDF2 that many times before it learns
/// whether the server is genuine, so a hostile or misconfigured server could otherwise make the client burn
/// CPU for minutes (2³² − 1 rounds). One million is far above what deployments use (RFC 7677 recommends at
/// least 4096; common servers default to 4096–10000) and costs well under a second.
pub const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

/// Longest server error text kept in [`SaslError::ServerError`].
const MAX_SERVER_ERROR_CHARS: usize = 200;

/// The hash function a SCRAM variant is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl Hash {
    /// `HMAC(key, data)` (RFC 5802 §2.2).
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC (RFC 2104) accepts keys of any length, so `new_from_slice` cannot fail.
        const ANY_KEY: &str = "HMAC takes any key length";
        match self {
            Self::Sha1 => {
                let mut mac = Hmac::<Sha1>::new_from_slice(key).expect(ANY_KEY);
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect(ANY_KEY);
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// `H(data)` (RFC 5802 §2.2).
    fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`, which is PBKDF2 with HMAC and an output of one hash length (RFC 5802 §2.2).
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut out = [0; 20];
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Self::Sha256 => {
                let mut out = [0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// Appends `name` as a `saslname` (RFC 5802 §5.1, RFC 5801 §4): `=` becomes `=3D` and `,` becomes `=2C`, so
/// the name cannot end its attribute early or forge another.
pub(super) fn push_saslname(out: &mut String, name: &str) {
    for c in name.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
}

/// Where a SCRAM exchange stands.
enum Stage {
    /// client-first not yet sent.
    Initial,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; waiting for server-final, which must carry this signature.
    SentFinal { server_signature: Vec<u8> },
    /// The server proved knowledge of the password.
    Verified,
    /// The exchange failed; nothing more will be answered.
    Failed,
}

/// The client side of one SCRAM exchange.
pub(super) struct ScramClient {
    hash: Hash,
    /// Cleared once the keys are derived.
    password: String,
    /// `n,,` or `p=<cb-name>,,` (RFC 5802 §7); no authzid is ever sent.
    gs2_header: String,
    /// Channel-binding data appended to the GS2 header in `c=` (empty without `-PLUS`).
    binding_data: Vec<u8>,
    /// The printable client nonce (RFC 5802 §5.1 `c-nonce`).
    client_nonce: String,
    /// `n=<user>,r=<client nonce>`, part of the AuthMessage.
    client_first_bare: String,
    stage: Stage,
}

impl ScramClient {
    /// Prepares an exchange. `client_nonce` must already be printable without commas (`Exchange::new` makes it
    /// base64 of the caller's random bytes).
    pub(super) fn new(
        hash: Hash,
        user: &str,
        password: String,
        client_nonce: String,
        binding: Option<ChannelBinding>,
    ) -> Self {
        let (gs2_header, binding_data) = match binding {
            // `n`: this client does not use channel binding. (`y` would claim support the caller may not
            // have; the caller opts in by choosing `-PLUS`.)
            None => (String::from("n,,"), Vec::new()),
            Some(b) => (alloc::format!("p={},,", b.kind), b.data),
        };
        let mut client_first_bare = String::from("n=");
        push_saslname(&mut client_first_bare, user);
        client_first_bare.push_str(",r=");
        client_first_bare.push_str(&client_nonce);
        Self {
            hash,
            password,
            gs2_header,
            binding_data,
            client_nonce,
            client_first_bare,
            stage: Stage::Initial,
        }
    }

    /// A short name of the stage for `Debug` output.
    pub(super) fn stage_name(&self) -> &'static str {
        match self.stage {
            Stage::Initial => "scram-initial",
            Stage::SentFirst => "scram-sent-first",
            Stage::SentFinal { .. } => "scram-sent-final",
            Stage::Verified => "scram-verified",
            Stage::Failed => "scram-failed",
        }
    }

    /// Whether the server signature has been checked and matched.
    pub(super) fn is_verified(&self) -> bool {
        matches!(self.stage, Stage::Verified)
    }

    /// client-first-message (RFC 5802 §7), the first time only.
    pub(super) fn client_first(&mut self) -> Option<Vec<u8>> {
        if !matches!(self.stage, Stage::Initial) {
            return None;
        }
        self.stage = Stage::SentFirst;
        let mut out = Vec::with_capacity(self.gs2_header.len() + self.client_first_bare.len());
        out.extend_from_slice(self.gs2_header.as_bytes());
        out.extend_from_slice(self.client_first_bare.as_bytes());
        Some(out)
    }

    /// Answers one challenge; any error leaves the exchange failed.
    pub(super) fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        match core::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Initial => {
                // No inline initial response: this is the server's empty "go ahead" (RFC 5034 §4); its text is
                // irrelevant.
                self.stage = Stage::Initial;
                self.client_first().ok_or(SaslError::UnexpectedChallenge)
            }
            Stage::SentFirst => self
                .client_final(challenge)
                .map(|(response, server_signature)| {
                    self.stage = Stage::SentFinal { server_signature };
                    response
                }),
            Stage::SentFinal { server_signature } => {
                check_server_final(challenge, &server_signature).map(|()| {
                    self.stage = Stage::Verified;
                    // RFC 5034 §4: the additional data of success comes as a challenge; the answer is empty.
                    Vec::new()
                })
            }
            Stage::Verified => {
                // Refuse, but the verification that happened still stands.
                self.stage = Stage::Verified;
                Err(SaslError::UnexpectedChallenge)
            }
            Stage::Failed => Err(SaslError::UnexpectedChallenge),
        }
    }

    /// Parses server-first and computes client-final plus the expected server signature (RFC 5802 §3).
    fn client_final(&mut self, challenge: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SaslError> {
        let server_first = decode_challenge(challenge)?;
        let server_first =
            core::str::from_utf8(&server_first).map_err(|_| SaslError::MalformedChallenge)?;
        let parsed = parse_server_first(server_first)?;
        if !parsed.nonce.starts_with(&self.client_nonce)
            || parsed.nonce.len() <= self.client_nonce.len()
        {
            // The server must add its own part (RFC 5802 §5.1 `nonce`); reusing ours alone, or replacing it,
            // would let a replayed server-first be accepted.
            return Err(SaslError::NonceMismatch);
        }

        let mut cbind_input = self.gs2_header.as_bytes().to_vec();
        cbind_input.extend_from_slice(&self.binding_data);
        let without_proof = alloc::format!("c={},r={}", encode(&cbind_input), parsed.nonce);
        let auth_message = alloc::format!(
            "{},{},{}",
            self.client_first_bare,
            server_first,
            without_proof
        );

        let h = self.hash;
        let salted_password = h.hi(self.password.as_bytes(), &parsed.salt, parsed.iterations);
        // The password is not needed again; do not keep it around longer than necessary.
        self.password = String::new();
        let client_key = h.hmac(&salted_password, b"Client Key");
        let stored_key = h.h(&client_key);
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted_password, b"Server Key");
        let server_signature = h.hmac(&server_key, auth_message.as_bytes());

        let client_final = alloc::format!("{without_proof},p={}", encode(&proof));
        Ok((client_final.into_bytes(), server_signature))
    }
}

/// The parts of server-first-message the client uses.
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

/// `server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]`
/// (RFC 5802 §7). The attributes must come in this order.
fn parse_server_first(msg: &str) -> Result<ServerFirst<'_>, SaslError> {
    let mut attrs = msg.split(',');
    let mut next = || attrs.next().unwrap_or("");
    let first = next();
    if first.starts_with("m=") {
        // RFC 5802 §5.1: a client that does not understand a mandatory extension must fail.
        return Err(SaslError::MandatoryExtension);
    }
    if let Some(text) = first.strip_prefix("e=") {
        // Not valid here by the grammar, but some servers report errors this early; surfacing the reason beats
        // a bare "malformed".
        return Err(server_error(text.as_bytes()));
    }
    let nonce = first
        .strip_prefix("r=")
        .ok_or(SaslError::MalformedChallenge)?;
    // `printable = %x21-2B / %x2D-7E`; the comma cannot occur after the split.
    if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(SaslError::MalformedChallenge);
    }
    let salt = next()
        .strip_prefix("s=")
        .ok_or(SaslError::MalformedChallenge)?;
    let salt = CHALLENGE_ENGINE
        .decode(salt)
        .map_err(|_| SaslError::MalformedChallenge)?;
    if salt.is_empty() {
        return Err(SaslError::MalformedChallenge);
    }
    let iterations = parse_iterations(
        next()
            .strip_prefix("i=")
            .ok_or(SaslError::MalformedChallenge)?,
    )?;
    // Optional extensions follow; they are ignored unless mandatory.
    if attrs.any(|a| a.starts_with("m=")) {
        return Err(SaslError::MandatoryExtension);
    }
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// `iteration-count = posit-number` (RFC 5802 §7), limited to `1..=MAX_SCRAM_ITERATIONS`.
///
/// Parsed by hand because `u32::from_str` also accepts a leading `+`, which the grammar does not.
fn parse_iterations(text: &str) -> Result<u32, SaslError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SaslError::MalformedChallenge);
    }
    let mut n: u32 = 0;
    for b in text.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u32::from(b - b'0')))
            .ok_or(SaslError::IterationCount)?;
    }
    if n == 0 || n > MAX_SCRAM_ITERATIONS {
        return Err(SaslError::IterationCount);
    }
    Ok(n)
}

/// `server-final-message = (server-error / verifier) ["," extensions]` (RFC 5802 §7).
fn check_server_final(challenge: &[u8], expected: &[u8]) -> Result<(), SaslError> {
    let msg = decode_challenge(challenge)?;
    let first = msg.split(|&b| b == b',').next().unwrap_or_default();
    if let Some(text) = first.strip_prefix(b"e=") {
        return Err(server_error(text));
    }
    let signature = first
        .strip_prefix(b"v=")
        .ok_or(SaslError::MalformedChallenge)?;
    let signature = CHALLENGE_ENGINE
        .decode(signature)
        .map_err(|_| SaslError::MalformedChallenge)?;
    if constant_time_eq(&signature, expected) {
        Ok(())
    } else {
        Err(SaslError::ServerSignatureMismatch)
    }
}

/// A [`SaslError::ServerError`] carrying the server's text, made safe to log.
fn server_error(text: &[u8]) -> SaslError {
    SaslError::ServerError(escape_server_text(text, MAX_SERVER_ERROR_CHARS))
}

/// Compares without an early exit, so the time taken does not reveal how many leading bytes of a forged
/// signature were right. (The length is public: it is fixed by the hash.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::super::{ChannelBinding, Exchange, Mechanism, SaslError, encode};
    use super::*;
    use alloc::vec;

    const SHA1_NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
    const SHA1_SERVER_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_CLIENT_FINAL: &str =
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SHA1_SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    const SHA256_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SHA256_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    /// As printed in RFC 7677 §3 (and recomputed independently). A corrupted copy of it circulates
    /// (`...mMhK1rhdd5Rhs8wcCtTJTpJsh5g=`, 35 bytes, not even a SHA-256 length); see `corrupted_vector_rejected`.
    const SHA256_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn sha1_exchange() -> Exchange {
        Exchange::with_printable_nonce(
            Mechanism::scram_sha1("user", "pencil", b"unused".to_vec()),
            SHA1_NONCE,
        )
    }

    fn sha256_exchange() -> Exchange {
        Exchange::with_printable_nonce(
            Mechanism::scram_sha256("user", "pencil", b"unused".to_vec()),
            SHA256_NONCE,
        )
    }

    /// An exchange that has sent client-first and expects server-first.
    fn started_sha1() -> Exchange {
        let mut ex = sha1_exchange();
        assert!(ex.initial_response().is_some());
        ex
    }

    fn b64(s: &str) -> Vec<u8> {
        encode(s.as_bytes()).into_bytes()
    }

    #[test]
    fn rfc5802_sha1_example() {
        let mut ex = sha1_exchange();
        assert_eq!(ex.name(), "SCRAM-SHA-1");
        assert_eq!(
            ex.initial_response(),
            Some(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL".to_vec())
        );
        assert_eq!(
            ex.step(&b64(SHA1_SERVER_FIRST)),
            Ok(SHA1_CLIENT_FINAL.as_bytes().to_vec())
        );
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
        assert_eq!(ex.step(&b64(SHA1_SERVER_FINAL)), Ok(Vec::new()));
        assert_eq!(ex.finish(), Ok(()));
        // Nothing follows a verified server-final.
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
    }

    #[test]
    fn rfc7677_sha256_example() {
        let mut ex = sha256_exchange();
        assert_eq!(ex.name(), "SCRAM-SHA-256");
        assert_eq!(
            ex.initial_response(),
            Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec())
        );
        assert_eq!(
            ex.step(&b64(SHA256_SERVER_FIRST)),
            Ok(SHA256_CLIENT_FINAL.as_bytes().to_vec())
        );
        assert_eq!(ex.step(&b64(SHA256_SERVER_FINAL)), Ok(Vec::new()));
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn corrupted_vector_rejected() {
        let mut ex = sha256_exchange();
        assert!(ex.initial_response().is_some());
        assert!(ex.step(&b64(SHA256_SERVER_FIRST)).is_ok());
        assert_eq!(
            ex.step(&b64("v=6rriTRBi23WpRR/wtup+mMhK1rhdd5Rhs8wcCtTJTpJsh5g=")),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
    }

    #[test]
    fn without_initial_response_first_challenge_gets_client_first() {
        let mut ex = sha256_exchange();
        assert_eq!(
            ex.step(b""),
            Ok(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec())
        );
        assert_eq!(ex.initial_response(), None);
        assert_eq!(
            ex.step(&b64(SHA256_SERVER_FIRST)),
            Ok(SHA256_CLIENT_FINAL.as_bytes().to_vec())
        );
        assert_eq!(ex.step(&b64(SHA256_SERVER_FINAL)), Ok(Vec::new()));
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn unpadded_challenges_accepted() {
        let mut ex = started_sha1();
        let unpadded = |s: &str| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .encode(s)
                .into_bytes()
        };
        assert_eq!(
            ex.step(&unpadded(SHA1_SERVER_FIRST)),
            Ok(SHA1_CLIENT_FINAL.as_bytes().to_vec())
        );
        assert_eq!(ex.step(&unpadded(SHA1_SERVER_FINAL)), Ok(Vec::new()));
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn nonce_is_base64_of_caller_bytes() {
        let mut ex = Exchange::new(Mechanism::scram_sha256(
            "user",
            "pencil",
            vec![0xfb, 0xff, 0x00],
        ));
        assert_eq!(ex.initial_response(), Some(b"n,,n=user,r=+/8A".to_vec()));
    }

    #[test]
    fn username_is_escaped() {
        let mut ex = Exchange::with_printable_nonce(
            Mechanism::scram_sha1("a=b,c", "p", b"x".to_vec()),
            "abc",
        );
        assert_eq!(
            ex.initial_response(),
            Some(b"n,,n=a=3Db=2Cc,r=abc".to_vec())
        );
    }

    #[test]
    fn wrong_server_signature() {
        let mut ex = started_sha1();
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        // The SHA-256 example's signature, and a one-bit change of the right one.
        assert_eq!(
            ex.step(&b64(SHA256_SERVER_FINAL)),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));

        let mut ex = started_sha1();
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        assert_eq!(
            ex.step(&b64("v=rmF9pqV8S7suAoZWja4dJRkFsKU=")),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
    }

    #[test]
    fn server_final_without_verifier() {
        for server_final in ["", "x=abc", "v=", "v=!!!!", "r=abc"] {
            let mut ex = started_sha1();
            assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
            assert!(ex.step(&b64(server_final)).is_err(), "{server_final}");
            assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
        }
        // +OK straight after client-final, or even after client-first.
        let mut ex = started_sha1();
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
        let ex = started_sha1();
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
    }

    #[test]
    fn server_error_is_escaped_and_capped() {
        let mut ex = started_sha1();
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        assert_eq!(
            ex.step(&b64("e=invalid-proof")),
            Err(SaslError::ServerError("invalid-proof".into()))
        );
        assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));

        let mut ex = started_sha1();
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        let mut hostile = b"e=\x1b[31mred".to_vec();
        hostile.extend_from_slice(&[b'x'; 500]);
        let Err(SaslError::ServerError(text)) = ex.step(encode(&hostile).as_bytes()) else {
            panic!("expected a server error");
        };
        assert!(text.starts_with("\\x1b[31mred"), "{text}");
        assert_eq!(text.len(), 200);

        // e= in place of server-first.
        let mut ex = started_sha1();
        assert_eq!(
            ex.step(&b64("e=unknown-user")),
            Err(SaslError::ServerError("unknown-user".into()))
        );
    }

    #[test]
    fn nonce_must_extend_ours() {
        for server_first in [
            // Our nonce alone.
            "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
            // A different nonce.
            "r=3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            // A prefix of ours.
            "r=fyko,s=QSXCR+Q6sek8bf92,i=4096",
            "r=,s=QSXCR+Q6sek8bf92,i=4096",
        ] {
            let mut ex = started_sha1();
            assert_eq!(
                ex.step(&b64(server_first)),
                Err(SaslError::NonceMismatch),
                "{server_first}"
            );
            assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
        }
    }

    #[test]
    fn iteration_count_bounds() {
        let with_i =
            |i: &str| alloc::format!("r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i={i}");
        for i in [
            "0",
            "4294967295",
            "4294967296",
            "99999999999999999999",
            "1000001",
        ] {
            let mut ex = started_sha1();
            assert_eq!(
                ex.step(&b64(&with_i(i))),
                Err(SaslError::IterationCount),
                "{i}"
            );
        }
        for i in ["", "+4096", "-1", "4096x", " 4096", "0x10"] {
            let mut ex = started_sha1();
            assert_eq!(
                ex.step(&b64(&with_i(i))),
                Err(SaslError::MalformedChallenge),
                "{i}"
            );
        }
        assert_eq!(parse_iterations("1"), Ok(1));
        assert_eq!(parse_iterations("0004096"), Ok(4096));
        assert_eq!(parse_iterations("1000000"), Ok(MAX_SCRAM_ITERATIONS));
    }

    #[test]
    fn malformed_server_first() {
        for server_first in [
            // Missing s=.
            "r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",
            // Empty salt, salt not base64.
            "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=!!!,i=4096",
            // Missing i=, missing r=, wrong order.
            "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92",
            "s=QSXCR+Q6sek8bf92,i=4096",
            "s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",
            // Non-printable nonce.
            "r=fyko+d2lbbFgONRv9qkxdawL3\x7f,s=QSXCR+Q6sek8bf92,i=4096",
            "",
        ] {
            let mut ex = started_sha1();
            assert_eq!(
                ex.step(&b64(server_first)),
                Err(SaslError::MalformedChallenge),
                "{server_first:?}"
            );
        }
        // Not UTF-8.
        let mut ex = started_sha1();
        assert_eq!(
            ex.step(encode(b"r=\xff\xfe").as_bytes()),
            Err(SaslError::MalformedChallenge)
        );
    }

    #[test]
    fn garbage_base64() {
        let long = vec![b'A'; 1 << 20];
        for challenge in [
            &b"===="[..],
            b"r=abc",
            b"\xff\xfe",
            b"cj1h Yw==",
            b"=",
            &long,
        ] {
            let mut ex = started_sha1();
            assert_eq!(ex.step(challenge), Err(SaslError::MalformedChallenge));
            assert_eq!(ex.finish(), Err(SaslError::ServerNotVerified));
        }
        // A 1 MiB valid-base64 server-final is refused too.
        let mut ex = started_sha1();
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        assert_eq!(ex.step(&long), Err(SaslError::MalformedChallenge));
    }

    #[test]
    fn mandatory_extension_refused() {
        let mut ex = started_sha1();
        assert_eq!(
            ex.step(&b64(
                "m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096"
            )),
            Err(SaslError::MandatoryExtension)
        );
        // Optional extensions are ignored.
        let mut ex = started_sha1();
        let with_ext = alloc::format!("{SHA1_SERVER_FIRST},x=whatever");
        assert!(ex.step(&b64(&with_ext)).is_ok());
    }

    #[test]
    fn too_many_steps() {
        let mut ex = sha1_exchange();
        assert!(ex.step(b"").is_ok());
        assert!(ex.step(&b64(SHA1_SERVER_FIRST)).is_ok());
        assert!(ex.step(&b64(SHA1_SERVER_FINAL)).is_ok());
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        assert_eq!(ex.step(b""), Err(SaslError::TooManySteps));
        // The verification that happened still stands.
        assert_eq!(ex.finish(), Ok(()));
    }

    /// A minimal SCRAM server, to check the `-PLUS` exchange end to end: it verifies the client's `c=` and
    /// proof and produces `v=`.
    fn server_final_for(
        hash: Hash,
        client_first_bare: &str,
        server_first: &str,
        client_final: &str,
        password: &str,
        salt: &[u8],
        i: u32,
    ) -> Result<String, &'static str> {
        let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or("no proof")?;
        let proof = CHALLENGE_ENGINE
            .decode(proof)
            .map_err(|_| "proof not base64")?;
        let auth_message = alloc::format!("{client_first_bare},{server_first},{without_proof}");
        let salted = hash.hi(password.as_bytes(), salt, i);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.h(&client_key);
        let signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let recovered: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if hash.h(&recovered) != stored_key {
            return Err("bad proof");
        }
        let server_key = hash.hmac(&salted, b"Server Key");
        Ok(alloc::format!(
            "v={}",
            encode(&hash.hmac(&server_key, auth_message.as_bytes()))
        ))
    }

    #[test]
    fn plus_variant_binds_channel() {
        for (hash, mechanism) in [
            (
                Hash::Sha1,
                Mechanism::scram_sha1("user", "pencil", b"0123456789abcdef".to_vec()),
            ),
            (
                Hash::Sha256,
                Mechanism::scram_sha256("user", "pencil", b"0123456789abcdef".to_vec()),
            ),
        ] {
            let binding_data = vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x2c];
            let mechanism = mechanism.with_binding(ChannelBinding {
                kind: "tls-exporter",
                data: binding_data.clone(),
            });
            let mut ex = Exchange::new(mechanism);
            assert!(ex.name().ends_with("-PLUS"));
            let first =
                String::from_utf8(ex.initial_response().unwrap_or_default()).unwrap_or_default();
            let bare = first
                .strip_prefix("p=tls-exporter,,")
                .expect("gs2 header with p=");
            let client_nonce = bare.strip_prefix("n=user,r=").expect("bare message");
            assert_eq!(client_nonce, encode(b"0123456789abcdef"));

            let salt = b"salty";
            let server_first = alloc::format!("r={client_nonce}SERVER,s={},i=4096", encode(salt));
            let client_final = String::from_utf8(ex.step(&b64(&server_first)).unwrap_or_default())
                .unwrap_or_default();

            // c= is base64 of the GS2 header followed by the binding data (RFC 5802 §7 `cbind-input`).
            let c = client_final
                .strip_prefix("c=")
                .and_then(|rest| rest.split(',').next())
                .expect("c= first");
            let mut expected = b"p=tls-exporter,,".to_vec();
            expected.extend_from_slice(&binding_data);
            assert_eq!(CHALLENGE_ENGINE.decode(c).ok(), Some(expected));

            let server_final = server_final_for(
                hash,
                bare,
                &server_first,
                &client_final,
                "pencil",
                salt,
                4096,
            )
            .expect("server accepts the proof");
            assert_eq!(ex.step(&b64(&server_final)), Ok(Vec::new()));
            assert_eq!(ex.finish(), Ok(()));

            // A server on another channel (different binding data) would compute a different AuthMessage:
            // the same proof does not verify against it.
            let other = client_final.replacen(c, &encode(b"p=tls-exporter,,other"), 1);
            assert_eq!(
                server_final_for(hash, bare, &server_first, &other, "pencil", salt, 4096),
                Err("bad proof")
            );
        }
    }

    #[test]
    fn saslname_escaping() {
        let mut s = String::new();
        push_saslname(&mut s, "=,a,=");
        assert_eq!(s, "=3D=2Ca=2C=3D");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
