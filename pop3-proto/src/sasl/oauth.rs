//! The message formats of OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's and Microsoft's pre-standard form).
//!
//! Both send the bearer token in one message. On failure the server does not answer `-ERR` at once: it sends
//! a challenge carrying a JSON error object, and the client must answer it before the server ends the
//! exchange (RFC 7628 §3.2.3). That JSON (which says e.g. whether the token expired) is kept for the caller.

use alloc::vec::Vec;

use super::{MAX_CHALLENGE_LEN, decode_challenge, scram::push_saslname};

/// The key/value separator of both formats (RFC 7628 §3.1 `kvsep`).
const KVSEP: u8 = 0x01;

/// The "dummy" client response to an OAUTHBEARER error challenge (RFC 7628 §3.2.3).
pub(super) const OAUTHBEARER_FAILURE_ACK: u8 = KVSEP;

/// `user=<user>^Aauth=Bearer <token>^A^A`, as documented by Google ("The SASL XOAUTH2 Mechanism") and
/// Microsoft.
pub(super) fn xoauth2_message(user: &str, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(user.len() + token.len() + 22);
    out.extend_from_slice(b"user=");
    out.extend_from_slice(user.as_bytes());
    out.push(KVSEP);
    out.extend_from_slice(b"auth=Bearer ");
    out.extend_from_slice(token.as_bytes());
    out.push(KVSEP);
    out.push(KVSEP);
    out
}

/// `gs2-header kvsep *kvpair kvsep` (RFC 7628 §3.1), with `host=` and `port=` only when given.
///
/// The user goes in the GS2 authzid (`a=`), escaped as a `saslname` (RFC 5801 §4: `,` → `=2C`, `=` → `=3D`)
/// so that a comma in it cannot end the header early. An empty user omits `a=` altogether. Channel binding is
/// not supported by OAUTHBEARER, hence the `n` flag.
pub(super) fn oauthbearer_message(
    user: &str,
    token: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> Vec<u8> {
    let mut out = alloc::string::String::from("n,");
    if !user.is_empty() {
        out.push_str("a=");
        push_saslname(&mut out, user);
    }
    out.push(',');
    let mut out = out.into_bytes();
    out.push(KVSEP);
    if let Some(host) = host {
        out.extend_from_slice(b"host=");
        out.extend_from_slice(host.as_bytes());
        out.push(KVSEP);
    }
    if let Some(port) = port {
        out.extend_from_slice(alloc::format!("port={port}").as_bytes());
        out.push(KVSEP);
    }
    out.extend_from_slice(b"auth=Bearer ");
    out.extend_from_slice(token.as_bytes());
    out.push(KVSEP);
    out.push(KVSEP);
    out
}

/// The server's error details from a failure challenge: the decoded JSON when the challenge is base64 (as
/// RFC 7628 §3.2.2 and RFC 5034 require), else the raw text (some servers send the JSON un-encoded).
///
/// An empty or oversized challenge yields `None`; the failure is still answered, only the details are lost.
pub(super) fn failure_details(challenge: &[u8]) -> Option<Vec<u8>> {
    let trimmed = challenge.trim_ascii();
    if trimmed.is_empty() || trimmed.len() > MAX_CHALLENGE_LEN {
        return None;
    }
    match decode_challenge(trimmed) {
        Ok(decoded) if !decoded.is_empty() => Some(decoded),
        _ => Some(trimmed.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Exchange, Mechanism, SaslError, encode};
    use alloc::vec::Vec;

    const GOOGLE_ERROR: &[u8] =
        br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;

    #[test]
    fn xoauth2_format() {
        let mut ex = Exchange::new(Mechanism::xoauth2(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        ));
        assert_eq!(ex.name(), "XOAUTH2");
        assert_eq!(
            ex.initial_response(),
            Some(
                b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
                    .to_vec()
            )
        );
        assert_eq!(ex.failure_details(), None);
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn xoauth2_failure_gets_empty_response() {
        let mut ex = Exchange::new(Mechanism::xoauth2("u", "t"));
        assert!(ex.initial_response().is_some());
        assert_eq!(ex.step(encode(GOOGLE_ERROR).as_bytes()), Ok(Vec::new()));
        assert_eq!(ex.failure_details(), Some(GOOGLE_ERROR));
        // Only one error challenge is answered.
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));

        // Un-encoded JSON is kept as-is.
        let mut ex = Exchange::new(Mechanism::xoauth2("u", "t"));
        assert!(ex.initial_response().is_some());
        assert_eq!(ex.step(GOOGLE_ERROR), Ok(Vec::new()));
        assert_eq!(ex.failure_details(), Some(GOOGLE_ERROR));
    }

    #[test]
    fn xoauth2_without_initial_response() {
        let mut ex = Exchange::new(Mechanism::xoauth2("u", "t"));
        assert_eq!(
            ex.step(b""),
            Ok(b"user=u\x01auth=Bearer t\x01\x01".to_vec())
        );
        assert_eq!(ex.step(encode(GOOGLE_ERROR).as_bytes()), Ok(Vec::new()));
        assert_eq!(ex.failure_details(), Some(GOOGLE_ERROR));
    }

    #[test]
    fn oauthbearer_format_rfc7628_example() {
        // RFC 7628 §4.1, with the host and port the example uses.
        let mut ex = Exchange::new(Mechanism::OAuthBearer {
            user: "user@example.com".into(),
            token: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into(),
            host: Some("server.example.com".into()),
            port: Some(143),
        });
        assert_eq!(ex.name(), "OAUTHBEARER");
        assert_eq!(
            ex.initial_response(),
            Some(
                b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
                    .to_vec()
            )
        );
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn oauthbearer_minimal_and_escaped() {
        let mut ex = Exchange::new(Mechanism::oauthbearer("a,b=c", "tok"));
        assert_eq!(
            ex.initial_response(),
            Some(b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01".to_vec())
        );
        let mut ex = Exchange::new(Mechanism::oauthbearer("", "tok"));
        assert_eq!(
            ex.initial_response(),
            Some(b"n,,\x01auth=Bearer tok\x01\x01".to_vec())
        );
    }

    #[test]
    fn oauthbearer_failure_gets_kvsep() {
        // RFC 7628 §3.2.2 error, as in the §4.3 example.
        let json = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
        let mut ex = Exchange::new(Mechanism::oauthbearer("user@example.com", "tok"));
        assert!(ex.initial_response().is_some());
        assert_eq!(ex.step(encode(json).as_bytes()), Ok(alloc::vec![0x01]));
        assert_eq!(ex.failure_details(), Some(&json[..]));
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn oauth_failure_hostile_challenges() {
        let long = alloc::vec![b'A'; 1 << 20];
        for challenge in [&b""[..], b"====", &long] {
            let mut ex = Exchange::new(Mechanism::oauthbearer("u", "t"));
            assert!(ex.initial_response().is_some());
            assert_eq!(ex.step(challenge), Ok(alloc::vec![0x01]));
            let details = ex.failure_details();
            assert!(
                details.is_none() || details == Some(&b"===="[..]),
                "{details:?}"
            );
        }
    }
}
