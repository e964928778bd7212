//! Parsers for single lines: status lines with RFC 2449 response codes, and the RFC 1939 listings.
//!
//! Each takes one line without its line ending. None allocates or scans a line more than once.

use core::fmt;

use crate::escape::Escaped;

/// An extended response code (RFC 2449 §8, RFC 3206, RFC 6856 §5), matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseCode<'a> {
    /// `[IN-USE]`: the maildrop is locked by another session; try later.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently; wait the server's LOGIN-DELAY before retrying.
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem; retrying later may work.
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem; do not retry.
    SysPerm,
    /// `[AUTH]`: the credentials were wrong (not a system problem).
    Auth,
    /// `[UTF8]`: the operation needs UTF-8 mode.
    Utf8,
    /// Any other code, kept as sent (hierarchical codes such as `SYS/TEMP/EXTRA` included).
    Other(&'a [u8]),
}

impl ResponseCode<'_> {
    fn parse(code: &[u8]) -> ResponseCode<'_> {
        const KNOWN: [(&[u8], ResponseCode<'static>); 6] = [
            (b"IN-USE", ResponseCode::InUse),
            (b"LOGIN-DELAY", ResponseCode::LoginDelay),
            (b"SYS/TEMP", ResponseCode::SysTemp),
            (b"SYS/PERM", ResponseCode::SysPerm),
            (b"AUTH", ResponseCode::Auth),
            (b"UTF8", ResponseCode::Utf8),
        ];
        KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(code))
            .map_or(ResponseCode::Other(code), |&(_, known)| known)
    }

    /// The code's text as the server sent it (for [`ResponseCode::Other`]) or its canonical spelling.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::InUse => b"IN-USE",
            Self::LoginDelay => b"LOGIN-DELAY",
            Self::SysTemp => b"SYS/TEMP",
            Self::SysPerm => b"SYS/PERM",
            Self::Auth => b"AUTH",
            Self::Utf8 => b"UTF8",
            Self::Other(code) => code,
        }
    }

    /// Whether retrying later may succeed (IN-USE, LOGIN-DELAY and SYS/TEMP).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::InUse | Self::LoginDelay | Self::SysTemp)
    }
}

impl fmt::Display for ResponseCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", Escaped::new(self.as_bytes()))
    }
}

/// The part of a status line after `+OK` or `-ERR`: an optional response code and the human-readable text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The extended response code, if the text began with a well-formed `[CODE]`.
    pub code: Option<ResponseCode<'a>>,
    /// The rest of the line, as bytes: servers send Latin-1 and worse. Show it with [`Reply::display_text`].
    pub text: &'a [u8],
}

impl<'a> Reply<'a> {
    /// Splits a leading `[CODE]` off the text. A malformed or empty code (`[SYS/PERM` with no `]`, `[]`) is left
    /// in the text: a code is advisory and never worth failing a session over.
    pub(crate) fn parse(text: &'a [u8]) -> Self {
        if let Some(rest) = text.strip_prefix(b"[") {
            if let Some(end) = memchr::memchr(b']', rest) {
                let code = &rest[..end];
                if !code.is_empty() && code.iter().all(|&b| b.is_ascii_graphic() && b != b'[') {
                    let text = rest[end + 1..]
                        .strip_prefix(b" ")
                        .unwrap_or(&rest[end + 1..]);
                    return Self {
                        code: Some(ResponseCode::parse(code)),
                        text,
                    };
                }
            }
        }
        Self { code: None, text }
    }

    /// The text, escaped and length-capped, safe to show or log.
    pub fn display_text(&self) -> Escaped<'a> {
        Escaped::new(self.text)
    }
}

impl fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("code", &self.code)
            .field("text", &Escaped::new(self.text))
            .finish()
    }
}

impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = &self.code {
            write!(f, "{code} ")?;
        }
        self.display_text().fmt(f)
    }
}

/// The first line of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status<'a> {
    Ok(Reply<'a>),
    Err(Reply<'a>),
    /// `+ text` or a lone `+`: a SASL challenge (RFC 5034 §4).
    Continuation(&'a [u8]),
}

/// Parses a status line: exactly `+OK` or `-ERR`, then a space or the end of the line (RFC 1939 §3). `+Okay`,
/// `+OKAY` and `+Do you even care?` are not status lines: accepting any `+` is how poplib let servers desync it.
pub(crate) fn parse_status(line: &[u8]) -> Option<Status<'_>> {
    fn after<'a>(line: &'a [u8], indicator: &[u8]) -> Option<&'a [u8]> {
        let rest = line.strip_prefix(indicator)?;
        match rest.split_first() {
            None => Some(rest),
            Some((b' ', text)) => Some(text),
            Some(_) => None,
        }
    }
    if let Some(text) = after(line, b"+OK") {
        Some(Status::Ok(Reply::parse(text)))
    } else if let Some(text) = after(line, b"-ERR") {
        Some(Status::Err(Reply::parse(text)))
    } else {
        after(line, b"+").map(Status::Continuation)
    }
}

/// Parses a decimal number strictly: ASCII digits only, no sign, no overflow.
#[inline]
pub(crate) fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Splits `a SP b [SP rest]` into `a` and `b`.
#[inline]
fn two_fields(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = memchr::memchr(b' ', line)?;
    let (first, rest) = (&line[..space], &line[space + 1..]);
    let second = match memchr::memchr(b' ', rest) {
        Some(end) => &rest[..end],
        None => rest,
    };
    Some((first, second))
}

/// A drop listing (STAT's `+OK` text, RFC 1939 §5): `count SP octets`, optionally followed by more text.
#[inline]
pub(crate) fn parse_drop_listing(text: &[u8]) -> Option<(u64, u64)> {
    let (count, octets) = two_fields(text)?;
    Some((parse_number(count)?, parse_number(octets)?))
}

/// A scan listing (RFC 1939 §5): `msg SP octets`, optionally followed by more text; message 0 does not exist.
#[inline]
pub(crate) fn parse_scan_listing(line: &[u8]) -> Option<(u64, u64)> {
    let (msg, octets) = two_fields(line)?;
    let msg = parse_number(msg).filter(|&n| n != 0)?;
    Some((msg, parse_number(octets)?))
}

/// Longest unique-id (RFC 1939 §7).
pub(crate) const MAX_UID_LEN: usize = 70;

/// A unique-id listing (RFC 1939 §7): `msg SP uid`, the uid 1 to 70 octets in 0x21–0x7E. Trailing spaces are
/// tolerated; anything else after the uid is not, since a UID is later used as a key and must not be ambiguous.
#[inline]
pub(crate) fn parse_unique_id_listing(line: &[u8]) -> Option<(u64, &[u8])> {
    let space = memchr::memchr(b' ', line)?;
    let msg = parse_number(&line[..space]).filter(|&n| n != 0)?;
    let mut uid = &line[space + 1..];
    while let [rest @ .., b' '] = uid {
        uid = rest;
    }
    let valid =
        (1..=MAX_UID_LEN).contains(&uid.len()) && uid.iter().all(|&b| (0x21..=0x7e).contains(&b));
    valid.then_some((msg, uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &[u8]) -> Status<'_> {
        Status::Ok(Reply::parse(text))
    }

    #[test]
    fn status_indicator_must_be_exact() {
        assert_eq!(parse_status(b"+OK"), Some(ok(b"")));
        assert_eq!(parse_status(b"+OK ready"), Some(ok(b"ready")));
        assert!(matches!(parse_status(b"-ERR"), Some(Status::Err(_))));
        assert_eq!(parse_status(b"+ "), Some(Status::Continuation(b"")));
        assert_eq!(parse_status(b"+"), Some(Status::Continuation(b"")));
        for bad in [
            &b"+Do you even care?"[..],
            b"+Okay, do your thing.",
            b"+OKAY",
            b"-ERROR",
            b"OK",
            b"",
            b" +OK",
        ] {
            assert_eq!(parse_status(bad), None, "{:?}", Escaped::new(bad));
        }
    }

    #[test]
    fn response_codes_are_case_insensitive_and_unknown_ones_kept() {
        let reply = Reply::parse(b"[in-use] POP3 server ready.");
        assert_eq!(reply.code, Some(ResponseCode::InUse));
        assert_eq!(reply.text, b"POP3 server ready.");
        assert_eq!(
            Reply::parse(b"[sys/perm] perm alert").code,
            Some(ResponseCode::SysPerm)
        );
        assert_eq!(
            Reply::parse(b"[SYS/TEMP/EXTRA] x").code,
            Some(ResponseCode::Other(b"SYS/TEMP/EXTRA"))
        );
        assert_eq!(
            Reply::parse(b"[LOGIN-DELAY] wait").code,
            Some(ResponseCode::LoginDelay)
        );
    }

    #[test]
    fn malformed_codes_stay_in_the_text() {
        for text in [&b"[SYS/PERM"[..], b"[]", b"[a b] x", b"no code"] {
            let reply = Reply::parse(text);
            assert_eq!(reply.code, None);
            assert_eq!(reply.text, text);
        }
    }

    #[test]
    fn drop_listing_is_strict() {
        assert_eq!(parse_drop_listing(b"2 320"), Some((2, 320)));
        assert_eq!(parse_drop_listing(b"2 320 extra"), Some((2, 320)));
        assert_eq!(
            parse_drop_listing(b"4294967296 18446744073709551615"),
            Some((4_294_967_296, u64::MAX))
        );
        for bad in [
            &b"two 320"[..],
            b"2",
            b"99999999999999999999 1",
            b"2  320",
            b"-2 320",
            b"+2 320",
            b"2\t320",
        ] {
            assert_eq!(parse_drop_listing(bad), None, "{:?}", Escaped::new(bad));
        }
    }

    #[test]
    fn scan_listing_is_strict() {
        assert_eq!(
            parse_scan_listing(b"2 4294967400"),
            Some((2, 4_294_967_400))
        );
        assert_eq!(parse_scan_listing(b"001 100"), Some((1, 100)));
        for bad in [
            &b"-1 100"[..],
            b"1 -5",
            b"+1 100",
            b"0 100",
            b"1 0x10",
            b"1  100",
            b"1\t100",
            b"1 100000000000000000000",
        ] {
            assert_eq!(parse_scan_listing(bad), None, "{:?}", Escaped::new(bad));
        }
    }

    #[test]
    fn unique_ids_are_printable_and_bounded() {
        assert_eq!(
            parse_unique_id_listing(b"1 whqtswO00WBw418f9t5JxYwZ"),
            Some((1, &b"whqtswO00WBw418f9t5JxYwZ"[..]))
        );
        assert_eq!(parse_unique_id_listing(b"1 abc  "), Some((1, &b"abc"[..])));
        let longest = [b'x'; 70];
        let mut line = alloc::vec::Vec::from(&b"3 "[..]);
        line.extend_from_slice(&longest);
        assert!(parse_unique_id_listing(&line).is_some());
        line.push(b'x');
        assert_eq!(parse_unique_id_listing(&line), None);
        for bad in [
            &b"1 "[..],
            b"1 abc def",
            b"1\tabc",
            b"1 abc\0def",
            b"1 \xff\xfe",
            b"0 abc",
            b"x abc",
        ] {
            assert_eq!(
                parse_unique_id_listing(bad),
                None,
                "{:?}",
                Escaped::new(bad)
            );
        }
    }
}
