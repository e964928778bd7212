//! Commands the client can send, validated before anything is queued.

use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU64;

use crate::error::ArgumentError;
use crate::sasl::Mechanism;
use crate::state::Verb;

/// RFC 2449 §4: a command line is at most 255 octets, CRLF included.
pub(crate) const MAX_COMMAND_LINE: usize = 255;

/// A message number: 1-based (RFC 1939 §4), so 0 cannot be expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgNum(NonZeroU64);

impl MsgNum {
    /// A message number, refusing 0.
    ///
    /// # Errors
    /// [`ArgumentError::ZeroMessageNumber`] for 0.
    pub const fn new(n: u64) -> Result<Self, ArgumentError> {
        match NonZeroU64::new(n) {
            Some(n) => Ok(Self(n)),
            None => Err(ArgumentError::ZeroMessageNumber),
        }
    }

    /// The number as the server counts it.
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for MsgNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<u64> for MsgNum {
    type Error = ArgumentError;
    fn try_from(n: u64) -> Result<Self, ArgumentError> {
        Self::new(n)
    }
}

/// A POP3 command. Arguments are checked by [`Client::send`](crate::Client::send): CR, LF and NUL are refused, and
/// so is a line longer than 255 octets.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `USER name` (RFC 1939 §7).
    User(&'a str),
    /// `PASS secret` (RFC 1939 §7). Spaces are part of the password.
    Pass(&'a str),
    /// `APOP name digest` (RFC 1939 §7): the digest is computed from the greeting's timestamp and `password`.
    Apop {
        /// The mailbox name.
        user: &'a str,
        /// The shared secret; never sent.
        password: &'a str,
    },
    /// `RPOP user` (RFC 1081): the historic trusted-host login, sent after USER.
    Rpop(&'a str),
    /// `AUTH mechanism` (RFC 5034), the exchange run by the client.
    Auth(Mechanism),
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `QUIT` (RFC 1939 §§5–6): in Transaction, commits deletions.
    Quit,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST` or `LIST n` (RFC 1939 §5).
    List(Option<MsgNum>),
    /// `RETR n` (RFC 1939 §5).
    Retr(MsgNum),
    /// `DELE n` (RFC 1939 §5).
    Dele(MsgNum),
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `TOP n lines` (RFC 1939 §7).
    Top {
        /// The message.
        msg: MsgNum,
        /// How many body lines after the header.
        lines: u64,
    },
    /// `UIDL` or `UIDL n` (RFC 1939 §7).
    Uidl(Option<MsgNum>),
    /// `UTF8` (RFC 6856 §2).
    Utf8,
    /// `LANG` (list languages) or `LANG tag` (RFC 6856 §3).
    Lang(Option<&'a str>),
    /// Any other command line, without CRLF. The caller states whether a `+OK` answer is followed by a
    /// multi-line body; the client cannot know. Commands that change the session state must use their typed
    /// variants.
    Raw {
        /// The command line without CRLF.
        line: &'a str,
        /// Whether a `+OK` response continues with lines ending in `.`.
        multiline: bool,
    },
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(name) => f.debug_tuple("User").field(name).finish(),
            Self::Pass(_) => f.write_str("Pass(<redacted>)"),
            Self::Apop { user, .. } => f
                .debug_struct("Apop")
                .field("user", user)
                .finish_non_exhaustive(),
            Self::Rpop(user) => f.debug_tuple("Rpop").field(user).finish(),
            Self::Auth(mechanism) => f.debug_tuple("Auth").field(mechanism).finish(),
            Self::Stls => f.write_str("Stls"),
            Self::Capa => f.write_str("Capa"),
            Self::Quit => f.write_str("Quit"),
            Self::Stat => f.write_str("Stat"),
            Self::List(msg) => f.debug_tuple("List").field(msg).finish(),
            Self::Retr(msg) => f.debug_tuple("Retr").field(msg).finish(),
            Self::Dele(msg) => f.debug_tuple("Dele").field(msg).finish(),
            Self::Noop => f.write_str("Noop"),
            Self::Rset => f.write_str("Rset"),
            Self::Top { msg, lines } => f
                .debug_struct("Top")
                .field("msg", msg)
                .field("lines", lines)
                .finish(),
            Self::Uidl(msg) => f.debug_tuple("Uidl").field(msg).finish(),
            Self::Utf8 => f.write_str("Utf8"),
            Self::Lang(tag) => f.debug_tuple("Lang").field(tag).finish(),
            Self::Raw { line, multiline } => f
                .debug_struct("Raw")
                .field("line", line)
                .field("multiline", multiline)
                .finish(),
        }
    }
}

impl Command<'_> {
    pub(crate) fn verb(&self) -> Verb {
        match self {
            Self::User(_) => Verb::User,
            Self::Pass(_) => Verb::Pass,
            Self::Apop { .. } => Verb::Apop,
            Self::Rpop(_) => Verb::Rpop,
            Self::Auth(_) => Verb::Auth,
            Self::Stls => Verb::Stls,
            Self::Capa => Verb::Capa,
            Self::Quit => Verb::Quit,
            Self::Stat => Verb::Stat,
            Self::List(_) => Verb::List,
            Self::Retr(_) => Verb::Retr,
            Self::Dele(_) => Verb::Dele,
            Self::Noop => Verb::Noop,
            Self::Rset => Verb::Rset,
            Self::Top { .. } => Verb::Top,
            Self::Uidl(_) => Verb::Uidl,
            Self::Utf8 => Verb::Utf8,
            Self::Lang(_) => Verb::Lang,
            Self::Raw { .. } => Verb::Raw,
        }
    }

    /// The message a `LIST n` or `UIDL n` asks about, which its answer must name.
    pub(crate) fn asked_message(&self) -> Option<u64> {
        match self {
            Self::List(Some(msg)) | Self::Uidl(Some(msg)) => Some(msg.get()),
            _ => None,
        }
    }

    /// Whether a `+OK` to this command opens a multi-line response.
    pub(crate) fn multiline(&self) -> bool {
        match self {
            Self::List(msg) | Self::Uidl(msg) => msg.is_none(),
            Self::Lang(tag) => tag.is_none(),
            Self::Retr(_) | Self::Top { .. } | Self::Capa => true,
            Self::Raw { multiline, .. } => *multiline,
            _ => false,
        }
    }
}

/// Builds one command line, refusing bytes and lengths that would break it.
pub(crate) struct LineBuilder(Vec<u8>);

impl LineBuilder {
    pub(crate) fn new(keyword: &str) -> Self {
        let mut line = Vec::with_capacity(32);
        line.extend_from_slice(keyword.as_bytes());
        Self(line)
    }

    /// Octets so far, without CRLF.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Appends ` arg`, refusing CR, LF, NUL and empty arguments.
    pub(crate) fn arg(mut self, arg: &[u8]) -> Result<Self, ArgumentError> {
        check_text(arg)?;
        self.0.push(b' ');
        self.0.extend_from_slice(arg);
        Ok(self)
    }

    /// Appends ` word`, refusing spaces too.
    pub(crate) fn word(self, word: &[u8]) -> Result<Self, ArgumentError> {
        if word.contains(&b' ') || word.contains(&b'\t') {
            return Err(ArgumentError::Malformed);
        }
        self.arg(word)
    }

    /// Appends ` n`.
    pub(crate) fn number(mut self, n: u64) -> Self {
        self.0.push(b' ');
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.0.extend_from_slice(&digits[at..]);
        self
    }

    /// The finished line with CRLF, if it fits the 255-octet limit.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, ArgumentError> {
        self.0.extend_from_slice(b"\r\n");
        if self.0.len() > MAX_COMMAND_LINE {
            return Err(ArgumentError::TooLong);
        }
        Ok(self.0)
    }
}

/// Refuses empty text and text with CR, LF or NUL.
pub(crate) fn check_text(text: &[u8]) -> Result<(), ArgumentError> {
    if text.is_empty() {
        return Err(ArgumentError::Malformed);
    }
    if text.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(ArgumentError::ForbiddenByte);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_number_zero_cannot_be_made() {
        assert_eq!(MsgNum::new(0), Err(ArgumentError::ZeroMessageNumber));
        assert_eq!(MsgNum::new(7).map(MsgNum::get), Ok(7));
    }

    #[test]
    fn injection_bytes_are_refused() {
        for bad in [&b"user\rFRIGGING_cmd"[..], b"pw\nDELE 1", b"a\0b", b""] {
            assert!(LineBuilder::new("USER").arg(bad).is_err());
        }
    }

    #[test]
    fn lines_longer_than_255_octets_are_refused() {
        let name = [b'a'; 248];
        assert_eq!(
            LineBuilder::new("USER")
                .arg(&name)
                .unwrap()
                .finish()
                .map(|l| l.len()),
            Ok(255)
        );
        let name = [b'a'; 249];
        assert_eq!(
            LineBuilder::new("USER").arg(&name).unwrap().finish(),
            Err(ArgumentError::TooLong)
        );
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        let line = LineBuilder::new("TOP")
            .number(18_446_744_073_709_551_615)
            .number(0)
            .finish()
            .unwrap();
        assert_eq!(line, b"TOP 18446744073709551615 0\r\n");
    }

    #[test]
    fn debug_never_shows_a_password() {
        let shown = alloc::format!("{:?}", Command::Pass("hunter2"));
        assert!(!shown.contains("hunter2"));
        let shown = alloc::format!(
            "{:?}",
            Command::Apop {
                user: "u",
                password: "hunter2"
            }
        );
        assert!(!shown.contains("hunter2"));
    }
}
