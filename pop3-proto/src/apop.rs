//! APOP (RFC 1939 §7): the greeting's timestamp and the digest computed from it.

use md5::{Digest, Md5};

/// Finds the first RFC 822 msg-id in the greeting text: `<`, at least one `@`, `>`, at least five octets long,
/// all 7-bit printable, no spaces. Anything else is not accepted as an APOP challenge, which takes away the
/// freedom an attacker needs for Leurent's MD5 collision attack (CVE-2007-1558), and what a sloppy server puts
/// in its banner can never make the client answer a challenge nobody sent.
///
/// Linear time: each octet is looked at once, however many `<` or `@` a hostile greeting holds.
pub(crate) fn find_timestamp(text: &[u8]) -> Option<&[u8]> {
    let mut start = None;
    let mut has_at = false;
    for (i, &b) in text.iter().enumerate() {
        match b {
            b'<' => {
                start = Some(i);
                has_at = false;
            }
            b'>' => {
                if let Some(s) = start.take() {
                    let candidate = &text[s..=i];
                    if has_at && candidate.len() >= 5 {
                        return Some(candidate);
                    }
                }
            }
            b'@' => has_at = true,
            0x21..=0x7e => {}
            _ => start = None,
        }
    }
    None
}

/// The APOP digest: lower-case hex of MD5(timestamp ‖ secret).
pub(crate) fn digest(timestamp: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut md5 = Md5::new();
    md5.update(timestamp);
    md5.update(secret);
    hex(&md5.finalize().into())
}

/// Lower-case hex of 16 octets.
pub(crate) fn hex(bytes: &[u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, &b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn rfc_1939_example_digest() {
        let ts = find_timestamp(b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>").unwrap();
        assert_eq!(ts, b"<1896.697170952@dbc.mtview.ca.us>");
        assert_eq!(
            &digest(ts, b"tanstaaf"),
            b"c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn only_valid_msg_ids_are_accepted() {
        assert_eq!(
            find_timestamp(b"E.Novation POP3 server ready <a.b.c>"),
            None
        );
        assert_eq!(
            find_timestamp(b"hi <\xfc@x> <1@a.b>"),
            Some(&b"<1@a.b>"[..])
        );
        assert_eq!(
            find_timestamp(b"hi <1@a.b> (see <http://x>)"),
            Some(&b"<1@a.b>"[..])
        );
        assert_eq!(find_timestamp(b"hi <a b@c>"), None);
        assert_eq!(find_timestamp(b"<@>"), None);
        assert_eq!(find_timestamp(b"<\x01@a>"), None);
        assert_eq!(find_timestamp(b"<<<a@b>"), Some(&b"<a@b>"[..]));
    }

    #[test]
    fn pathological_greetings_take_linear_time() {
        let mut many_ats = Vec::from(&b"<"[..]);
        many_ats.resize(200_001, b'@');
        assert_eq!(find_timestamp(&many_ats), None);
        let mut many_opens = Vec::new();
        many_opens.resize(200_000, b'<');
        many_opens.extend_from_slice(b"a@b");
        assert_eq!(find_timestamp(&many_opens), None);
        many_opens.push(b'>');
        assert_eq!(find_timestamp(&many_opens), Some(&b"<a@b>"[..]));
    }
}
