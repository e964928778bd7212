//! SASL mechanisms for AUTH (RFC 5034).
//!
//! The core runs the exchange: it sends `AUTH <name> [<initial response>]`, decodes nothing itself, hands each
//! server challenge text (the bytes after `+ `, still base64) to `Exchange::step`, and base64-encodes what comes
//! back. An `Err` from `step` makes the core cancel the exchange with `*` (RFC 5034 §4).
//!
//! Everything here is deterministic: there is no clock, no randomness and no I/O. The one value that must be
//! unpredictable, the SCRAM client nonce, is supplied by the caller (RFC 5802 §5.1 requires it to be
//! "unique per authentication exchange"; only the caller has an entropy source).
//!
//! Secrets (passwords, tokens, derived SCRAM keys) never appear in `Debug` output: every type that holds one
//! implements `Debug` by hand and prints `<redacted>` in their place, because `Debug` output ends up in logs.

mod oauth;
mod scram;
mod simple;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

pub use scram::MAX_SCRAM_ITERATIONS;

/// Channel-binding data for the `-PLUS` SCRAM variants (RFC 5056, RFC 9266), supplied by the TLS driver.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The binding type name, e.g. `tls-exporter` or `tls-server-end-point`.
    pub kind: &'static str,
    /// The binding data the TLS layer produced.
    pub data: Vec<u8>,
}

impl ChannelBinding {
    /// Whether `kind` is a well-formed `cb-name` (RFC 5802 §7: `1*(ALPHA / DIGIT / "." / "-")`).
    ///
    /// The name is copied verbatim into the GS2 header `p=<kind>,,`; a comma or `=` in it would change the
    /// header's structure, so a malformed name is refused rather than escaped.
    fn kind_is_valid(&self) -> bool {
        !self.kind.is_empty()
            && self
                .kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    }
}

impl fmt::Debug for ChannelBinding {
    // The binding data is not secret, but it is opaque and can be long (a whole certificate hash or exporter
    // output); its length is what helps when debugging a mismatch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Which mechanism to run, with the credentials it needs.
///
/// Build one with the constructors ([`Mechanism::plain`], [`Mechanism::scram_sha256`], ...) or the variants
/// directly, then check it with [`Mechanism::validate`] before starting an exchange.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism {
    /// PLAIN (RFC 4616): `authzid NUL user NUL password`, sent in one message.
    Plain {
        /// Authorization identity; empty to act as `user`.
        authzid: String,
        /// Authentication identity.
        user: String,
        /// Password.
        password: String,
    },
    /// LOGIN (draft-murchison-sasl-login-00): the user name and the password, each answering one challenge.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// CRAM-MD5 (RFC 2195): `user SP hex(HMAC-MD5(password, challenge))`.
    CramMd5 {
        /// User name.
        user: String,
        /// Password (the HMAC key).
        password: String,
    },
    /// SCRAM-SHA-1 (RFC 5802), or SCRAM-SHA-1-PLUS when `binding` is present.
    ScramSha1 {
        /// User name; escaped as a `saslname` on the wire (RFC 5802 §5.1).
        user: String,
        /// Password, used as its UTF-8 bytes without SASLprep (see [`Mechanism::validate`]).
        password: String,
        /// Caller-supplied random bytes; base64-encoded to form the printable client nonce.
        nonce: Vec<u8>,
        /// Channel binding for the `-PLUS` variant.
        binding: Option<ChannelBinding>,
    },
    /// SCRAM-SHA-256 (RFC 7677), or SCRAM-SHA-256-PLUS when `binding` is present.
    ScramSha256 {
        /// User name; escaped as a `saslname` on the wire (RFC 5802 §5.1).
        user: String,
        /// Password, used as its UTF-8 bytes without SASLprep (see [`Mechanism::validate`]).
        password: String,
        /// Caller-supplied random bytes; base64-encoded to form the printable client nonce.
        nonce: Vec<u8>,
        /// Channel binding for the `-PLUS` variant.
        binding: Option<ChannelBinding>,
    },
    /// XOAUTH2 (Google / Microsoft): `user=<user>^Aauth=Bearer <token>^A^A`.
    XOAuth2 {
        /// User (mailbox) name.
        user: String,
        /// OAuth 2.0 access token.
        token: String,
    },
    /// OAUTHBEARER (RFC 7628).
    OAuthBearer {
        /// User name, sent as the GS2 authzid (`a=`); empty to omit it.
        user: String,
        /// OAuth 2.0 bearer token (RFC 6750).
        token: String,
        /// Host name the client connected to (`host=` key, RFC 7628 §3.1), if it should be sent.
        host: Option<String>,
        /// Port the client connected to (`port=` key, RFC 7628 §3.1), if it should be sent.
        port: Option<u16>,
    },
    /// EXTERNAL (RFC 4422 Appendix A): the credentials come from outside SASL, typically a TLS client
    /// certificate.
    External {
        /// Authorization identity; empty to let the server derive it from the external credentials.
        authzid: String,
    },
}

/// Prints a placeholder instead of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Mechanism {
    // Hand-written so that passwords and tokens never reach logs. The SCRAM nonce is not secret once sent, but
    // before the exchange it is the caller's randomness, so only its length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain { authzid, user, .. } => f
                .debug_struct("Plain")
                .field("authzid", authzid)
                .field("user", user)
                .field("password", &Redacted)
                .finish(),
            Self::Login { user, .. } => f
                .debug_struct("Login")
                .field("user", user)
                .field("password", &Redacted)
                .finish(),
            Self::CramMd5 { user, .. } => f
                .debug_struct("CramMd5")
                .field("user", user)
                .field("password", &Redacted)
                .finish(),
            Self::ScramSha1 {
                user,
                nonce,
                binding,
                ..
            } => f
                .debug_struct("ScramSha1")
                .field("user", user)
                .field("password", &Redacted)
                .field("nonce_len", &nonce.len())
                .field("binding", binding)
                .finish(),
            Self::ScramSha256 {
                user,
                nonce,
                binding,
                ..
            } => f
                .debug_struct("ScramSha256")
                .field("user", user)
                .field("password", &Redacted)
                .field("nonce_len", &nonce.len())
                .field("binding", binding)
                .finish(),
            Self::XOAuth2 { user, .. } => f
                .debug_struct("XOAuth2")
                .field("user", user)
                .field("token", &Redacted)
                .finish(),
            Self::OAuthBearer {
                user, host, port, ..
            } => f
                .debug_struct("OAuthBearer")
                .field("user", user)
                .field("token", &Redacted)
                .field("host", host)
                .field("port", port)
                .finish(),
            Self::External { authzid } => f
                .debug_struct("External")
                .field("authzid", authzid)
                .finish(),
        }
    }
}

impl Mechanism {
    /// PLAIN without an authorization identity.
    pub fn plain(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Plain {
            authzid: String::new(),
            user: user.into(),
            password: password.into(),
        }
    }

    /// LOGIN.
    pub fn login(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Login {
            user: user.into(),
            password: password.into(),
        }
    }

    /// CRAM-MD5.
    pub fn cram_md5(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::CramMd5 {
            user: user.into(),
            password: password.into(),
        }
    }

    /// SCRAM-SHA-1 without channel binding. `nonce` must be fresh random bytes (RFC 5802 §5.1); 18 or more
    /// bytes are recommended.
    pub fn scram_sha1(
        user: impl Into<String>,
        password: impl Into<String>,
        nonce: impl Into<Vec<u8>>,
    ) -> Self {
        Self::ScramSha1 {
            user: user.into(),
            password: password.into(),
            nonce: nonce.into(),
            binding: None,
        }
    }

    /// SCRAM-SHA-256 without channel binding. `nonce` must be fresh random bytes (RFC 5802 §5.1); 18 or more
    /// bytes are recommended.
    pub fn scram_sha256(
        user: impl Into<String>,
        password: impl Into<String>,
        nonce: impl Into<Vec<u8>>,
    ) -> Self {
        Self::ScramSha256 {
            user: user.into(),
            password: password.into(),
            nonce: nonce.into(),
            binding: None,
        }
    }

    /// XOAUTH2.
    pub fn xoauth2(user: impl Into<String>, token: impl Into<String>) -> Self {
        Self::XOAuth2 {
            user: user.into(),
            token: token.into(),
        }
    }

    /// OAUTHBEARER without the optional `host` and `port` keys.
    pub fn oauthbearer(user: impl Into<String>, token: impl Into<String>) -> Self {
        Self::OAuthBearer {
            user: user.into(),
            token: token.into(),
            host: None,
            port: None,
        }
    }

    /// EXTERNAL; an empty `authzid` lets the server derive the identity.
    pub fn external(authzid: impl Into<String>) -> Self {
        Self::External {
            authzid: authzid.into(),
        }
    }

    /// Attaches channel binding, turning a SCRAM mechanism into its `-PLUS` variant (RFC 5802 §6).
    ///
    /// Other mechanisms have no channel binding and are returned unchanged, so a driver can call this for every
    /// mechanism once TLS is up.
    #[must_use]
    pub fn with_binding(mut self, channel_binding: ChannelBinding) -> Self {
        if let Self::ScramSha1 { binding, .. } | Self::ScramSha256 { binding, .. } = &mut self {
            *binding = Some(channel_binding);
        }
        self
    }

    /// Whether this is a SCRAM mechanism (with or without `-PLUS`).
    pub fn is_scram(&self) -> bool {
        matches!(self, Self::ScramSha1 { .. } | Self::ScramSha256 { .. })
    }

    /// Whether this is a `-PLUS` variant, i.e. it carries channel-binding data and so must only run over the
    /// TLS connection that data was taken from (RFC 5056 §2).
    pub fn needs_channel_binding(&self) -> bool {
        matches!(
            self,
            Self::ScramSha1 {
                binding: Some(_),
                ..
            } | Self::ScramSha256 {
                binding: Some(_),
                ..
            }
        )
    }

    /// The SASL mechanism name to send after `AUTH` (RFC 5034 §4).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Plain { .. } => "PLAIN",
            Self::Login { .. } => "LOGIN",
            Self::CramMd5 { .. } => "CRAM-MD5",
            Self::ScramSha1 { binding: None, .. } => "SCRAM-SHA-1",
            Self::ScramSha1 {
                binding: Some(_), ..
            } => "SCRAM-SHA-1-PLUS",
            Self::ScramSha256 { binding: None, .. } => "SCRAM-SHA-256",
            Self::ScramSha256 {
                binding: Some(_), ..
            } => "SCRAM-SHA-256-PLUS",
            Self::XOAuth2 { .. } => "XOAUTH2",
            Self::OAuthBearer { .. } => "OAUTHBEARER",
            Self::External { .. } => "EXTERNAL",
        }
    }

    /// Refuse credentials containing CR, LF or NUL (any field), and an empty user where one is required.
    ///
    /// Why each rule exists:
    /// - NUL is the PLAIN field separator (RFC 4616 §2), so a NUL in any field would let a user name smuggle
    ///   in a different authorization identity. CR and LF are refused everywhere too: nothing legitimate
    ///   contains them, and several mechanisms end up with these strings in server logs or line-oriented
    ///   formats.
    /// - For XOAUTH2 and OAUTHBEARER `^A` (0x01) is the key/value separator (RFC 7628 §3.1), so it is refused
    ///   for the same reason as NUL in PLAIN.
    /// - PLAIN, LOGIN, CRAM-MD5, SCRAM and XOAUTH2 need a non-empty user (RFC 4616 §2 `authcid = 1*SAFE`,
    ///   RFC 5802 §5.1 `n=` is required). OAUTHBEARER's authzid is optional and EXTERNAL's may be empty.
    /// - SCRAM needs a non-empty nonce (its freshness is the only replay protection, RFC 5802 §9) and, for
    ///   `-PLUS`, a well-formed channel-binding type name.
    ///
    /// SCRAM passwords are used as their UTF-8 bytes as given: SASLprep (RFC 4013) / OpaqueString
    /// (RFC 7613) normalization is *not* applied. For ASCII passwords this makes no difference; a non-ASCII
    /// password must be supplied in the same normalization form the server used when it stored the verifier.
    pub fn validate(&self) -> Result<(), SaslError> {
        fn plain_text(s: &str) -> Result<(), SaslError> {
            if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                Err(SaslError::InvalidCredential)
            } else {
                Ok(())
            }
        }
        fn oauth_text(s: &str) -> Result<(), SaslError> {
            plain_text(s)?;
            if s.bytes().any(|b| b == 0x01) {
                Err(SaslError::InvalidCredential)
            } else {
                Ok(())
            }
        }
        fn user(s: &str) -> Result<(), SaslError> {
            if s.is_empty() {
                Err(SaslError::EmptyUser)
            } else {
                Ok(())
            }
        }
        match self {
            Self::Plain {
                authzid,
                user: u,
                password,
            } => {
                plain_text(authzid)?;
                plain_text(u)?;
                plain_text(password)?;
                user(u)
            }
            Self::Login { user: u, password } | Self::CramMd5 { user: u, password } => {
                plain_text(u)?;
                plain_text(password)?;
                user(u)
            }
            Self::ScramSha1 {
                user: u,
                password,
                nonce,
                binding,
            }
            | Self::ScramSha256 {
                user: u,
                password,
                nonce,
                binding,
            } => {
                plain_text(u)?;
                plain_text(password)?;
                user(u)?;
                if nonce.is_empty() {
                    return Err(SaslError::EmptyNonce);
                }
                match binding {
                    Some(b) if !b.kind_is_valid() => Err(SaslError::InvalidChannelBinding),
                    _ => Ok(()),
                }
            }
            Self::XOAuth2 { user: u, token } => {
                oauth_text(u)?;
                oauth_text(token)?;
                user(u)
            }
            Self::OAuthBearer {
                user: u,
                token,
                host,
                port: _,
            } => {
                oauth_text(u)?;
                oauth_text(token)?;
                if let Some(host) = host {
                    oauth_text(host)?;
                }
                Ok(())
            }
            Self::External { authzid } => plain_text(authzid),
        }
    }
}

/// What went wrong in a SASL exchange on the client's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The server's challenge could not be decoded or parsed.
    #[error("malformed SASL challenge")]
    MalformedChallenge,
    /// The server sent a challenge where the mechanism expects none (e.g. after PLAIN's only message).
    #[error("unexpected SASL challenge")]
    UnexpectedChallenge,
    /// The server kept sending challenges beyond any mechanism's legitimate number of round trips.
    #[error("too many SASL challenges")]
    TooManySteps,
    /// The SCRAM server nonce does not start with the client nonce, or adds nothing to it (RFC 5802 §5.1).
    #[error("server nonce does not extend the client nonce")]
    NonceMismatch,
    /// The SCRAM iteration count is zero or above [`MAX_SCRAM_ITERATIONS`].
    #[error("SCRAM iteration count out of range")]
    IterationCount,
    /// The SCRAM server demanded a mandatory extension (`m=`, RFC 5802 §5.1), which this client does not
    /// implement.
    #[error("server requires an unsupported SCRAM extension")]
    MandatoryExtension,
    /// The SCRAM server ended the exchange with `e=` (RFC 5802 §7). The text is the server's, with
    /// non-printable bytes escaped and capped to 200 characters.
    #[error("server rejected the SASL exchange: {0}")]
    ServerError(String),
    /// The SCRAM server signature is wrong: the server does not know the password (RFC 5802 §5.1 `v=`).
    #[error("SCRAM server signature mismatch")]
    ServerSignatureMismatch,
    /// The server reported success without proving that it knows the password (RFC 5802 §9: mutual
    /// authentication).
    #[error("server was not verified")]
    ServerNotVerified,
    /// A credential contains a forbidden control character (CR, LF, NUL; `^A` for the OAuth mechanisms).
    #[error("credential contains a forbidden control character")]
    InvalidCredential,
    /// The mechanism needs a user name and none was given.
    #[error("user name is empty")]
    EmptyUser,
    /// The SCRAM client nonce is empty.
    #[error("SCRAM client nonce is empty")]
    EmptyNonce,
    /// The channel-binding type name is not a valid `cb-name` (RFC 5802 §7).
    #[error("invalid channel-binding type name")]
    InvalidChannelBinding,
}

/// Longest challenge text (still base64) that will be decoded.
///
/// The core already caps line length; this is a second, local bound so that decoding cost and the memory of
/// captured failure details stay small whatever the caller does. No mechanism here has a legitimate challenge
/// anywhere near this size (SCRAM server-first is ~100 bytes, OAuth error JSON a few hundred).
const MAX_CHALLENGE_LEN: usize = 16 * 1024;

/// Most challenges any exchange will answer.
///
/// The longest legitimate exchange is SCRAM: an empty first challenge (when the initial response was not sent
/// inline), server-first, server-final. Anything past four is a server trying to keep the client busy.
const MAX_STEPS: u8 = 4;

/// Base64 as RFC 4648 §4, accepting input with or without padding.
///
/// RFC 5034 §4 requires padded base64, but some servers drop the padding; the payload is unambiguous either
/// way, so there is nothing to gain by refusing it.
const CHALLENGE_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a challenge, refusing anything too long or not base64. Never panics.
///
/// Surrounding ASCII whitespace is trimmed: the bytes after `+ ` may carry a stray space, which is not part of
/// the base64 text.
fn decode_challenge(challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
    let challenge = challenge.trim_ascii();
    if challenge.len() > MAX_CHALLENGE_LEN {
        return Err(SaslError::MalformedChallenge);
    }
    CHALLENGE_ENGINE
        .decode(challenge)
        .map_err(|_| SaslError::MalformedChallenge)
}

/// Base64 of `data` for use inside a mechanism message (SCRAM `c=`, `p=`, the client nonce).
fn encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The mechanisms whose whole client side is one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OneShotKind {
    Plain,
    External,
    XOAuth2,
    OAuthBearer,
}

/// Per-mechanism state of an [`Exchange`].
enum State {
    /// PLAIN, EXTERNAL, XOAUTH2, OAUTHBEARER.
    OneShot {
        kind: OneShotKind,
        /// The message, until it has been handed out.
        message: Option<Vec<u8>>,
        /// Whether the OAuth failure challenge has been answered (RFC 7628 §3.2.3).
        error_answered: bool,
    },
    /// LOGIN: the user name, then the password, each answering one challenge.
    Login {
        user: String,
        password: String,
        answered: u8,
    },
    /// CRAM-MD5: one challenge, one response.
    CramMd5 {
        user: String,
        password: String,
        answered: bool,
    },
    /// SCRAM-SHA-1 / SCRAM-SHA-256, with or without `-PLUS`.
    Scram(scram::ScramClient),
    /// The credentials failed [`Mechanism::validate`]; nothing will be sent.
    Invalid(SaslError),
}

/// One running exchange of a mechanism.
///
/// Driven by the core: [`initial_response`](Self::initial_response) at most once before anything else, then
/// [`step`](Self::step) for each `+` challenge, then [`finish`](Self::finish) when the server says `+OK`.
pub(crate) struct Exchange {
    name: &'static str,
    state: State,
    /// Challenges answered (or refused) so far.
    steps: u8,
    /// Set once `step` has returned an error; the core cancels, so nothing further is answered.
    failed: bool,
    /// Whether `initial_response` has been called.
    initial_asked: bool,
    /// The server's error details from an OAuth failure challenge.
    failure: Option<Vec<u8>>,
}

impl fmt::Debug for Exchange {
    // Hand-written: the state holds passwords, tokens and SCRAM keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::OneShot { .. } => "one-shot",
            State::Login { .. } => "login",
            State::CramMd5 { .. } => "cram-md5",
            State::Scram(s) => s.stage_name(),
            State::Invalid(_) => "invalid",
        };
        f.debug_struct("Exchange")
            .field("name", &self.name)
            .field("state", &state)
            .field("steps", &self.steps)
            .field("failed", &self.failed)
            .field("failure_details_len", &self.failure.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// Starts an exchange.
    ///
    /// The credentials are validated again here (the core should already have called
    /// [`Mechanism::validate`]): an exchange built from invalid credentials sends nothing — no initial
    /// response, and every `step` fails so the core cancels — rather than put a NUL or CR/LF on the wire.
    pub(crate) fn new(mechanism: Mechanism) -> Self {
        let nonce = match &mechanism {
            Mechanism::ScramSha1 { nonce, .. } | Mechanism::ScramSha256 { nonce, .. } => {
                encode(nonce)
            }
            _ => String::new(),
        };
        Self::build(mechanism, nonce)
    }

    /// Like [`new`](Self::new), but with the already-printable SCRAM client nonce, so that the RFC test
    /// vectors (whose nonces are not base64 of anything) can be replayed.
    #[cfg(test)]
    pub(crate) fn with_printable_nonce(mechanism: Mechanism, nonce: &str) -> Self {
        Self::build(mechanism, nonce.into())
    }

    fn build(mechanism: Mechanism, scram_nonce: String) -> Self {
        let name = mechanism.name();
        let state = match mechanism.validate() {
            Err(e) => State::Invalid(e),
            Ok(()) => Self::state_for(mechanism, scram_nonce),
        };
        Self {
            name,
            state,
            steps: 0,
            failed: false,
            initial_asked: false,
            failure: None,
        }
    }

    fn state_for(mechanism: Mechanism, scram_nonce: String) -> State {
        let one_shot = |kind, message| State::OneShot {
            kind,
            message: Some(message),
            error_answered: false,
        };
        match mechanism {
            Mechanism::Plain {
                authzid,
                user,
                password,
            } => one_shot(
                OneShotKind::Plain,
                simple::plain_message(&authzid, &user, &password),
            ),
            Mechanism::External { authzid } => {
                one_shot(OneShotKind::External, authzid.into_bytes())
            }
            Mechanism::XOAuth2 { user, token } => {
                one_shot(OneShotKind::XOAuth2, oauth::xoauth2_message(&user, &token))
            }
            Mechanism::OAuthBearer {
                user,
                token,
                host,
                port,
            } => one_shot(
                OneShotKind::OAuthBearer,
                oauth::oauthbearer_message(&user, &token, host.as_deref(), port),
            ),
            Mechanism::Login { user, password } => State::Login {
                user,
                password,
                answered: 0,
            },
            Mechanism::CramMd5 { user, password } => State::CramMd5 {
                user,
                password,
                answered: false,
            },
            Mechanism::ScramSha1 {
                user,
                password,
                binding,
                ..
            } => State::Scram(scram::ScramClient::new(
                scram::Hash::Sha1,
                &user,
                password,
                scram_nonce,
                binding,
            )),
            Mechanism::ScramSha256 {
                user,
                password,
                binding,
                ..
            } => State::Scram(scram::ScramClient::new(
                scram::Hash::Sha256,
                &user,
                password,
                scram_nonce,
                binding,
            )),
        }
    }

    /// The mechanism name sent after `AUTH`.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The raw (not base64) initial client response, if the mechanism has one (RFC 4422 §5, RFC 5034 §4).
    ///
    /// `None` for LOGIN and CRAM-MD5, for invalid credentials, and when called a second time or after a
    /// `step` (the message has then already been handed out).
    pub(crate) fn initial_response(&mut self) -> Option<Vec<u8>> {
        if self.initial_asked || self.steps > 0 {
            return None;
        }
        self.initial_asked = true;
        match &mut self.state {
            State::OneShot { message, .. } => message.take(),
            State::Scram(s) => s.client_first(),
            State::Login { .. } | State::CramMd5 { .. } | State::Invalid(_) => None,
        }
    }

    /// Answers one server challenge. `challenge` is the text after `+ `, still base64.
    ///
    /// Returns the raw response; the core base64-encodes it. An `Err` means "cancel with `*`"; after one, every
    /// further call fails too.
    pub(crate) fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.steps >= MAX_STEPS {
            self.failed = true;
            return Err(SaslError::TooManySteps);
        }
        self.steps += 1;
        if self.failed {
            return Err(SaslError::UnexpectedChallenge);
        }
        let result = self.step_inner(challenge);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn step_inner(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        match &mut self.state {
            State::Invalid(e) => Err(e.clone()),
            State::OneShot {
                kind,
                message,
                error_answered,
            } => {
                // RFC 5034 §4: without an inline initial response the server first sends an empty
                // challenge. Its text is ignored (some servers put prose there), the message answers it.
                if let Some(message) = message.take() {
                    return Ok(message);
                }
                match kind {
                    OneShotKind::Plain | OneShotKind::External => {
                        Err(SaslError::UnexpectedChallenge)
                    }
                    OneShotKind::XOAuth2 | OneShotKind::OAuthBearer if *error_answered => {
                        Err(SaslError::UnexpectedChallenge)
                    }
                    OneShotKind::XOAuth2 | OneShotKind::OAuthBearer => {
                        // The only challenge after the token is the server's JSON error; answering it lets the
                        // server finish with -ERR (RFC 7628 §3.2.3; XOAUTH2 follows the same pattern with an
                        // empty response).
                        *error_answered = true;
                        self.failure = oauth::failure_details(challenge);
                        Ok(if *kind == OneShotKind::OAuthBearer {
                            alloc::vec![oauth::OAUTHBEARER_FAILURE_ACK]
                        } else {
                            Vec::new()
                        })
                    }
                }
            }
            State::Login {
                user,
                password,
                answered,
            } => {
                // The challenges ("Username:", "Password:") are ignored: servers word them differently, some
                // send them un-encoded, and the order is fixed by the draft anyway.
                *answered += 1;
                match *answered {
                    1 => Ok(user.as_bytes().to_vec()),
                    2 => Ok(password.as_bytes().to_vec()),
                    _ => Err(SaslError::UnexpectedChallenge),
                }
            }
            State::CramMd5 {
                user,
                password,
                answered,
            } => {
                if *answered {
                    return Err(SaslError::UnexpectedChallenge);
                }
                *answered = true;
                let challenge = decode_challenge(challenge)?;
                if challenge.is_empty() {
                    // An empty challenge would make the response a fixed function of the password, i.e.
                    // replayable; RFC 2195 §2 requires a unique challenge.
                    return Err(SaslError::MalformedChallenge);
                }
                Ok(simple::cram_md5_response(user, password, &challenge))
            }
            State::Scram(s) => s.step(challenge),
        }
    }

    /// Checks, when the server answers `+OK`, that the mechanism's own success conditions hold.
    ///
    /// SCRAM provides mutual authentication (RFC 5802 §9): a `+OK` without a verified server signature means
    /// the server never proved it knows the password, so it is refused with
    /// [`SaslError::ServerNotVerified`].
    pub(crate) fn finish(&self) -> Result<(), SaslError> {
        match &self.state {
            State::Scram(s) if !s.is_verified() => Err(SaslError::ServerNotVerified),
            _ => Ok(()),
        }
    }

    /// The server's error details captured from an OAuth failure challenge (RFC 7628 §3.2.2 JSON for
    /// OAUTHBEARER, the equivalent JSON for XOAUTH2), if any.
    pub(crate) fn failure_details(&self) -> Option<&[u8]> {
        self.failure.as_deref()
    }
}

/// Escapes a server-supplied text for an error message: printable ASCII is kept, everything else becomes
/// `\xNN`, and the result is capped at `max` characters, so that a hostile server cannot inject terminal
/// control sequences or huge strings into logs.
fn escape_server_text(text: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in text {
        let piece_len = if (0x20..0x7f).contains(&b) && b != b'\\' {
            1
        } else {
            4
        };
        if out.len() + piece_len > max {
            break;
        }
        if piece_len == 1 {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push('\\');
            out.push('x');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn names() {
        assert_eq!(Mechanism::plain("u", "p").name(), "PLAIN");
        assert_eq!(Mechanism::login("u", "p").name(), "LOGIN");
        assert_eq!(Mechanism::cram_md5("u", "p").name(), "CRAM-MD5");
        assert_eq!(
            Mechanism::scram_sha1("u", "p", b"n".to_vec()).name(),
            "SCRAM-SHA-1"
        );
        assert_eq!(
            Mechanism::scram_sha256("u", "p", b"n".to_vec()).name(),
            "SCRAM-SHA-256"
        );
        assert_eq!(Mechanism::xoauth2("u", "t").name(), "XOAUTH2");
        assert_eq!(Mechanism::oauthbearer("u", "t").name(), "OAUTHBEARER");
        assert_eq!(Mechanism::external("").name(), "EXTERNAL");
        let cb = ChannelBinding {
            kind: "tls-exporter",
            data: vec![1, 2, 3],
        };
        let m = Mechanism::scram_sha1("u", "p", b"n".to_vec()).with_binding(cb.clone());
        assert_eq!(m.name(), "SCRAM-SHA-1-PLUS");
        assert!(m.needs_channel_binding() && m.is_scram());
        let m = Mechanism::scram_sha256("u", "p", b"n".to_vec()).with_binding(cb.clone());
        assert_eq!(m.name(), "SCRAM-SHA-256-PLUS");
        assert_eq!(Exchange::new(m).name(), "SCRAM-SHA-256-PLUS");
        // with_binding is a no-op for non-SCRAM mechanisms.
        let m = Mechanism::plain("u", "p").with_binding(cb);
        assert_eq!(m, Mechanism::plain("u", "p"));
        assert!(!m.is_scram() && !m.needs_channel_binding());
        assert!(!Mechanism::scram_sha1("u", "p", b"n".to_vec()).needs_channel_binding());
    }

    #[test]
    fn debug_redacts_secrets() {
        let cb = ChannelBinding {
            kind: "tls-exporter",
            data: vec![0xAB; 32],
        };
        let mechanisms = [
            Mechanism::Plain {
                authzid: "admin".into(),
                user: "alice".into(),
                password: "hunter2secret".into(),
            },
            Mechanism::login("alice", "hunter2secret"),
            Mechanism::cram_md5("alice", "hunter2secret"),
            Mechanism::scram_sha1("alice", "hunter2secret", b"nonce".to_vec()),
            Mechanism::scram_sha256("alice", "hunter2secret", b"nonce".to_vec()).with_binding(cb),
            Mechanism::xoauth2("alice", "hunter2secret"),
            Mechanism::OAuthBearer {
                user: "alice".into(),
                token: "hunter2secret".into(),
                host: Some("mail.example".into()),
                port: Some(995),
            },
            Mechanism::external("alice"),
        ];
        for m in mechanisms {
            let d = format!("{m:?}");
            assert!(!d.contains("hunter2secret"), "{d}");
            assert!(d.contains("alice"), "{d}");
            let mut ex = Exchange::new(m);
            let _ = ex.initial_response();
            let _ = ex.step(b"");
            let d = format!("{ex:?}");
            assert!(!d.contains("hunter2secret"), "{d}");
            assert!(!d.contains("aHVudGVyMnNlY3JldA"), "{d}");
        }
    }

    #[test]
    fn error_messages_are_lowercase() {
        let errors = [
            SaslError::MalformedChallenge,
            SaslError::UnexpectedChallenge,
            SaslError::TooManySteps,
            SaslError::NonceMismatch,
            SaslError::IterationCount,
            SaslError::MandatoryExtension,
            SaslError::ServerError("x".into()),
            SaslError::ServerSignatureMismatch,
            SaslError::ServerNotVerified,
            SaslError::InvalidCredential,
            SaslError::EmptyUser,
            SaslError::EmptyNonce,
            SaslError::InvalidChannelBinding,
        ];
        for e in errors {
            let s = e.to_string();
            let first = s.split(' ').next().unwrap_or_default();
            // Acronyms (SASL, SCRAM) stay upper case; ordinary words start lower case.
            assert!(
                first.chars().all(|c| c.is_ascii_uppercase())
                    || first.starts_with(char::is_lowercase),
                "{s}"
            );
        }
    }

    #[test]
    fn validate_refuses_control_characters() {
        for bad in ["a\rb", "a\nb", "a\0b"] {
            let all = [
                Mechanism::plain(bad, "p"),
                Mechanism::plain("u", bad),
                Mechanism::Plain {
                    authzid: bad.into(),
                    user: "u".into(),
                    password: "p".into(),
                },
                Mechanism::login(bad, "p"),
                Mechanism::login("u", bad),
                Mechanism::cram_md5(bad, "p"),
                Mechanism::cram_md5("u", bad),
                Mechanism::scram_sha1(bad, "p", b"n".to_vec()),
                Mechanism::scram_sha1("u", bad, b"n".to_vec()),
                Mechanism::scram_sha256(bad, "p", b"n".to_vec()),
                Mechanism::scram_sha256("u", bad, b"n".to_vec()),
                Mechanism::xoauth2(bad, "t"),
                Mechanism::xoauth2("u", bad),
                Mechanism::oauthbearer(bad, "t"),
                Mechanism::oauthbearer("u", bad),
                Mechanism::OAuthBearer {
                    user: "u".into(),
                    token: "t".into(),
                    host: Some(bad.into()),
                    port: None,
                },
                Mechanism::external(bad),
            ];
            for m in all {
                assert_eq!(m.validate(), Err(SaslError::InvalidCredential), "{m:?}");
                // An exchange built anyway sends nothing and cancels.
                let mut ex = Exchange::new(m);
                assert_eq!(ex.initial_response(), None);
                assert_eq!(ex.step(b""), Err(SaslError::InvalidCredential));
                assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
            }
        }
        // ^A is the OAuth separator.
        assert_eq!(
            Mechanism::xoauth2("u", "t\x01auth=x").validate(),
            Err(SaslError::InvalidCredential)
        );
        assert_eq!(
            Mechanism::oauthbearer("u\x01", "t").validate(),
            Err(SaslError::InvalidCredential)
        );
        // ...but harmless elsewhere.
        assert_eq!(Mechanism::plain("u", "p\x01").validate(), Ok(()));
    }

    #[test]
    fn validate_user_nonce_binding() {
        assert_eq!(
            Mechanism::plain("", "p").validate(),
            Err(SaslError::EmptyUser)
        );
        assert_eq!(
            Mechanism::login("", "p").validate(),
            Err(SaslError::EmptyUser)
        );
        assert_eq!(
            Mechanism::cram_md5("", "p").validate(),
            Err(SaslError::EmptyUser)
        );
        assert_eq!(
            Mechanism::scram_sha1("", "p", b"n".to_vec()).validate(),
            Err(SaslError::EmptyUser)
        );
        assert_eq!(
            Mechanism::scram_sha256("", "p", b"n".to_vec()).validate(),
            Err(SaslError::EmptyUser)
        );
        assert_eq!(
            Mechanism::xoauth2("", "t").validate(),
            Err(SaslError::EmptyUser)
        );
        assert_eq!(Mechanism::oauthbearer("", "t").validate(), Ok(()));
        assert_eq!(Mechanism::external("").validate(), Ok(()));
        assert_eq!(
            Mechanism::scram_sha256("u", "p", Vec::new()).validate(),
            Err(SaslError::EmptyNonce)
        );
        for kind in ["", "tls,exporter", "p=x", "tls exporter"] {
            let m = Mechanism::scram_sha256("u", "p", b"n".to_vec()).with_binding(ChannelBinding {
                kind,
                data: vec![1],
            });
            assert_eq!(
                m.validate(),
                Err(SaslError::InvalidChannelBinding),
                "{kind}"
            );
        }
        let m = Mechanism::scram_sha256("u", "p", b"n".to_vec()).with_binding(ChannelBinding {
            kind: "tls-server-end-point",
            data: vec![1],
        });
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(Mechanism::plain("u", "").validate(), Ok(()));
    }

    #[test]
    fn decode_never_panics() {
        let long = vec![b'A'; 1 << 20];
        let inputs: [&[u8]; 14] = [
            b"",
            b"=",
            b"==",
            b"====",
            b"========",
            b"A",
            b"A===",
            b"QQ",
            b"QQ==",
            b"Q Q==",
            b"\xff\xfe",
            b"!!!!",
            b"  QQ==  ",
            &long,
        ];
        for input in inputs {
            let _ = decode_challenge(input);
        }
        assert_eq!(decode_challenge(b"QQ"), Ok(b"A".to_vec()));
        assert_eq!(decode_challenge(b"QQ=="), Ok(b"A".to_vec()));
        assert_eq!(decode_challenge(b" QQ==\t"), Ok(b"A".to_vec()));
        assert_eq!(decode_challenge(b""), Ok(Vec::new()));
        assert_eq!(
            decode_challenge(b"===="),
            Err(SaslError::MalformedChallenge)
        );
        assert_eq!(
            decode_challenge(b"Q Q=="),
            Err(SaslError::MalformedChallenge)
        );
        assert_eq!(decode_challenge(&long), Err(SaslError::MalformedChallenge));
    }

    #[test]
    fn garbage_challenges_never_panic() {
        let long = vec![b'A'; 1 << 20];
        let inputs: [&[u8]; 8] = [
            b"",
            b"====",
            b"\xff\x00\r\n",
            b"=",
            b"cj0=",
            b"!!",
            b"  ",
            &long,
        ];
        let make = || {
            [
                Mechanism::plain("u", "p"),
                Mechanism::login("u", "p"),
                Mechanism::cram_md5("u", "p"),
                Mechanism::scram_sha1("u", "p", b"nonce".to_vec()),
                Mechanism::scram_sha256("u", "p", b"nonce".to_vec()),
                Mechanism::xoauth2("u", "t"),
                Mechanism::oauthbearer("u", "t"),
                Mechanism::external(""),
            ]
        };
        for input in inputs {
            for with_ir in [false, true] {
                for m in make() {
                    let mut ex = Exchange::new(m);
                    if with_ir {
                        let _ = ex.initial_response();
                    }
                    for _ in 0..6 {
                        let _ = ex.step(input);
                    }
                    let _ = ex.finish();
                    let _ = ex.failure_details();
                }
            }
        }
    }

    #[test]
    fn too_many_steps() {
        for m in [
            Mechanism::login("u", "p"),
            Mechanism::plain("u", "p"),
            Mechanism::xoauth2("u", "t"),
        ] {
            let mut ex = Exchange::new(m);
            for _ in 0..MAX_STEPS {
                let _ = ex.step(b"");
            }
            assert_eq!(ex.step(b""), Err(SaslError::TooManySteps));
            assert_eq!(ex.step(b""), Err(SaslError::TooManySteps));
        }
    }

    #[test]
    fn initial_response_only_once_and_only_first() {
        let mut ex = Exchange::new(Mechanism::plain("u", "p"));
        assert!(ex.initial_response().is_some());
        assert_eq!(ex.initial_response(), None);

        let mut ex = Exchange::new(Mechanism::plain("u", "p"));
        assert_eq!(ex.step(b""), Ok(b"\0u\0p".to_vec()));
        assert_eq!(ex.initial_response(), None);
    }

    #[test]
    fn escape_server_text_caps_and_escapes() {
        assert_eq!(escape_server_text(b"invalid-proof", 200), "invalid-proof");
        assert_eq!(escape_server_text(b"a\x1b[2Jb\\", 200), "a\\x1b[2Jb\\x5c");
        assert_eq!(escape_server_text(b"\xff", 200), "\\xff");
        assert_eq!(escape_server_text(&[b'x'; 1000], 200).len(), 200);
        // An escape is never cut in half.
        assert_eq!(escape_server_text(b"abc\x00", 5), "abc");
    }
}
