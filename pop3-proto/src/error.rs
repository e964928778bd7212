//! Errors: the server's fault, breaking framing ([`Error`], fatal) or confined to one response ([`InvalidReply`],
//! that command fails), and the caller's ([`SendError`], nothing changed).

use alloc::boxed::Box;
use core::fmt;

use crate::escape::Escaped;
use crate::sasl::SaslError;
use crate::state::State;

/// A few octets of what the server sent, kept for the error message. Capped so a hostile server cannot make an
/// error arbitrarily large, and escaped when shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Excerpt(Box<[u8]>);

impl Excerpt {
    const LIMIT: usize = 128;

    /// The first 128 octets of `bytes`, as an error quotes them.
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes[..bytes.len().min(Self::LIMIT)].into())
    }

    /// The raw octets (at most 128).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaped::new(&self.0).fmt(f)
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaped::new(&self.0).fmt(f)
    }
}

/// The server broke the protocol so that the session cannot tell where the next response starts. Fatal: every
/// later [`Client::poll`](crate::Client::poll) returns the same error and nothing more is sent. A fault confined
/// to one well-framed response is an [`InvalidReply`] instead (see the [crate documentation](crate)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A response's first line did not start with `+OK` or `-ERR` followed by a space or the line end.
    #[error("malformed status line: {line}")]
    MalformedStatus {
        /// The start of the offending line.
        line: Excerpt,
    },
    /// A status, capability or listing line was longer than the configured limit.
    #[error("line longer than {limit} octets")]
    LineTooLong {
        /// The limit in force ([`Config::max_line_len`](crate::Config::max_line_len)).
        limit: usize,
    },
    /// The server sent bytes while no command was waiting for a response.
    #[error("unsolicited data from the server: {data}")]
    Unsolicited {
        /// The start of the unexpected bytes.
        data: Excerpt,
    },
    /// Bytes followed the `+OK` to STLS before the TLS handshake: a response-injection attempt (RFC 2595 §4 and
    /// the NO STARTTLS study), since anything sent in clear then could be read as if it came over TLS.
    #[error("data received after the STLS response, before TLS started")]
    DataAfterStls,
    /// The connection closed before the response in progress was complete.
    #[error("connection closed in the middle of a response")]
    UnexpectedEof,
    /// The server said `+OK` to an AUTH exchange whose mechanism requires the server to prove who it is (SCRAM),
    /// and it did not. The session is not trusted.
    #[error("server accepted authentication without proving its identity: {0}")]
    ServerNotAuthenticated(SaslError),
    /// A `+` continuation arrived for a command that is not an AUTH exchange.
    #[error("unexpected SASL continuation")]
    UnexpectedContinuation,
}

/// A well-framed response that does not answer its command as RFC 1939 requires. Only that command fails, with
/// [`Event::Invalid`](crate::Event::Invalid); the session goes on, since the next response's start is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReply {
    /// A STAT answer, a `LIST n` or `UIDL n` answer, or one entry of a LIST or UIDL listing did not have the
    /// RFC 1939 form (`+OK seven 1800`, `+OK 7`, a UID with a space or a control character).
    #[error("malformed listing: {line}")]
    MalformedListing {
        /// The start of the offending line.
        line: Excerpt,
    },
    /// `LIST n` or `UIDL n` was answered for another message.
    #[error("asked about message {asked}, answered about message {answered}")]
    WrongMessage {
        /// The number in the command.
        asked: u64,
        /// The number in the answer.
        answered: u64,
    },
    /// A LIST or UIDL listing repeated a message number or went back: numbers must rise strictly.
    #[error("listing entry for message {msg} after message {previous}")]
    OutOfOrder {
        /// The number of the entry before.
        previous: u64,
        /// The number of the offending entry.
        msg: u64,
    },
    /// A listing named a message above the highest number the maildrop has, by the count STAT reported earlier
    /// in the session (plus the messages deleted before it, since deletion does not renumber).
    #[error("listing entry for message {msg}, but the maildrop's messages end at {count}")]
    BeyondCount {
        /// The offending number.
        msg: u64,
        /// The highest valid number.
        count: u64,
    },
}

/// A command was refused before anything was queued; the session is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The command is not allowed in the state the session will be in when it would run (RFC 1939 §§4–7).
    #[error("{command} is not allowed in the {state:?} state")]
    WrongState {
        /// The command keyword.
        command: &'static str,
        /// The state the command would run in.
        state: State,
    },
    /// A previously queued command decides which state comes next (authentication, STLS); wait for its
    /// response first.
    #[error("{command} must wait for the pending {pending} response")]
    OutcomePending {
        /// The command keyword.
        command: &'static str,
        /// The pending command keyword.
        pending: &'static str,
    },
    /// An argument would break the command line.
    #[error(transparent)]
    Argument(#[from] ArgumentError),
    /// Credentials would be sent over an unencrypted connection and
    /// [`Config::allow_plaintext_credentials`](crate::Config::allow_plaintext_credentials) is off.
    #[error("refusing to send credentials over an unencrypted connection")]
    InsecureCredentials,
    /// STLS is not possible now: TLS is already active, it was already tried, or credentials were already sent.
    #[error("STLS not possible: {0}")]
    StlsNotAllowed(&'static str),
    /// A raw command tried to do what a typed command must do, since its effect on the session state matters.
    #[error("use the typed command for {0}")]
    UseTypedCommand(&'static str),
    /// The session has failed or closed.
    #[error("the session is closed")]
    Closed,
}

/// A command argument that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// CR, LF or NUL would end or corrupt the command line (command injection).
    #[error("argument contains CR, LF or NUL")]
    ForbiddenByte,
    /// The command line would exceed RFC 2449 §4's 255 octets, CRLF included.
    #[error("command line longer than 255 octets")]
    TooLong,
    /// An empty argument where the command needs one, or a space inside a single-word argument.
    #[error("argument is empty or contains a space")]
    Malformed,
    /// Message numbers start at 1 (RFC 1939 §4).
    #[error("message numbers start at 1")]
    ZeroMessageNumber,
    /// The SASL credentials are unusable.
    #[error("invalid SASL credentials: {0}")]
    Sasl(SaslError),
    /// The greeting carried no valid APOP timestamp (RFC 1939 §7, and an RFC 822 msg-id, see CVE-2007-1558).
    #[error("the greeting has no valid APOP timestamp")]
    NoApopTimestamp,
}
