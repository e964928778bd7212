//! The message formats of PLAIN (RFC 4616) and CRAM-MD5 (RFC 2195).
//!
//! LOGIN and EXTERNAL need no formatting at all (they send a string as-is), so they live in the state machine
//! in `mod.rs`.

use alloc::vec::Vec;

use hmac::{Hmac, Mac as _};
use md5::Md5;

/// `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
///
/// The fields were checked for NUL by `Mechanism::validate`, which is what keeps this encoding unambiguous.
pub(super) fn plain_message(authzid: &str, user: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(authzid.len() + user.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(user.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// `user SP digest`, where digest is the lowercase hex of HMAC-MD5 keyed with the password over the decoded
/// challenge (RFC 2195 §2).
pub(super) fn cram_md5_response(user: &str, password: &str, challenge: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // HMAC (RFC 2104) accepts keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Md5>::new_from_slice(password.as_bytes()).expect("HMAC takes any key length");
    mac.update(challenge);
    let digest = mac.finalize().into_bytes();
    let mut out = Vec::with_capacity(user.len() + 1 + 2 * digest.len());
    out.extend_from_slice(user.as_bytes());
    out.push(b' ');
    for b in digest {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Exchange, Mechanism, SaslError, encode};
    use alloc::vec::Vec;

    #[test]
    fn plain_encoding() {
        let mut ex = Exchange::new(Mechanism::plain("user", "secret"));
        assert_eq!(ex.name(), "PLAIN");
        assert_eq!(ex.initial_response(), Some(b"\0user\0secret".to_vec()));
        // Anything after the only message is unexpected.
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        assert_eq!(ex.finish(), Ok(()));

        let mut ex = Exchange::new(Mechanism::Plain {
            authzid: "admin".into(),
            user: "user".into(),
            password: "secret".into(),
        });
        assert_eq!(ex.initial_response(), Some(b"admin\0user\0secret".to_vec()));
    }

    #[test]
    fn plain_without_initial_response_tolerates_challenge_text() {
        // RFC 5034 §4: an empty challenge first; some servers put non-base64 text there.
        for challenge in [&b""[..], b"go ahead", b"===="] {
            let mut ex = Exchange::new(Mechanism::plain("user", "secret"));
            assert_eq!(ex.step(challenge), Ok(b"\0user\0secret".to_vec()));
            assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        }
    }

    #[test]
    fn external() {
        let mut ex = Exchange::new(Mechanism::external(""));
        assert_eq!(ex.initial_response(), Some(Vec::new()));
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));

        let mut ex = Exchange::new(Mechanism::external("fred"));
        assert_eq!(ex.step(b"+"), Ok(b"fred".to_vec()));
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn login() {
        let mut ex = Exchange::new(Mechanism::login("user", "secret"));
        assert_eq!(ex.name(), "LOGIN");
        assert_eq!(ex.initial_response(), None);
        assert_eq!(ex.step(b"VXNlcm5hbWU6"), Ok(b"user".to_vec()));
        assert_eq!(ex.step(b"UGFzc3dvcmQ6"), Ok(b"secret".to_vec()));
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        assert_eq!(ex.finish(), Ok(()));

        // Challenge text is ignored, garbage included.
        let mut ex = Exchange::new(Mechanism::login("user", "secret"));
        assert_eq!(ex.step(b"Username:"), Ok(b"user".to_vec()));
        assert_eq!(ex.step(b"\xff===="), Ok(b"secret".to_vec()));
    }

    #[test]
    fn cram_md5_rfc2195_example() {
        let challenge = encode(b"<1896.697170952@postoffice.reston.mci.net>");
        let mut ex = Exchange::new(Mechanism::cram_md5("tim", "tanstaaftanstaaf"));
        assert_eq!(ex.name(), "CRAM-MD5");
        assert_eq!(ex.initial_response(), None);
        assert_eq!(
            ex.step(challenge.as_bytes()),
            Ok(b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec())
        );
        assert_eq!(ex.step(b""), Err(SaslError::UnexpectedChallenge));
        assert_eq!(ex.finish(), Ok(()));
    }

    #[test]
    fn cram_md5_refuses_bad_challenges() {
        let long = alloc::vec![b'A'; 1 << 20];
        for challenge in [&b""[..], b"====", b"<1896@host>", b"not base64!", &long] {
            let mut ex = Exchange::new(Mechanism::cram_md5("tim", "tanstaaftanstaaf"));
            assert_eq!(ex.step(challenge), Err(SaslError::MalformedChallenge));
        }
    }
}
