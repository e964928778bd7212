//! The one error type of every driver (poplib's `error_proto`, with kinds a caller can act on).
//!
//! A cause is shown in the message or returned by `source()`, never both, so error reporters that walk the
//! chain print it once.

use std::fmt;
use std::io;

use pop3_proto::{Escaped, OwnedResponseCode, SendError};

/// What went wrong, in a form a caller can act on.
///
/// # Recovery rules
///
/// - **The session is still usable** after [`Error::Server`] (the server answered `-ERR`: no such message, wrong
///   password, mailbox locked by another client), [`Error::Misuse`] (refused before anything was sent),
///   [`Error::TooLarge`] and [`Error::ListingTooLong`] (the rest of the answer was read and dropped), and
///   [`Error::Sink`] (your writer failed; the rest of the message was read and dropped).
///   [`Error::is_recoverable`] is true for exactly these. After a failed login, decide whether to try again:
///   a `[AUTH]` or `[IN-USE]` code ([`ServerError::code`]) says why.
/// - **The session is closed** after anything else: [`Error::Io`], [`Error::Tls`], [`Error::Timeout`],
///   [`Error::Protocol`] (the server broke the protocol), and [`Error::TlsUnavailable`] when TLS was required.
///   Every later call returns [`Error::Closed`] saying why; open a new session. Messages marked with DELE are
///   not deleted then (only QUIT commits), so nothing is lost by reconnecting and starting over.
///
/// # Example
///
/// ```no_run
/// use pop3_blocking::{Error, Session};
///
/// fn fetch(session: &mut Session, msg: u64) -> pop3_blocking::Result<Option<Vec<u8>>> {
///     match session.retr(msg) {
///         Ok(message) => Ok(Some(message)),
///         // Deleted by another client meanwhile, or over the size limit: skip it, carry on.
///         Err(error) if error.is_recoverable() => {
///             eprintln!("message {msg} skipped: {error}");
///             Ok(None)
///         }
///         // Connection, TLS, time limit or protocol: this session is over.
///         Err(error) => Err(error),
///     }
/// }
/// # let _ = fetch;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed: refused, reset, closed, unreachable.
    #[error("I/O error: {0}")]
    Io(io::Error),
    /// TLS failed: the certificate did not verify (the rustls error says which check), or the handshake broke.
    /// Shown escaped and length-capped: rustls quotes the names a certificate presents, and those are the
    /// server's bytes (a NUL or an escape sequence in a subjectAltName must not reach a terminal or a log as is).
    #[error("TLS error: {}", Escaped::new(.0.to_string().as_bytes()))]
    Tls(rustls::Error),
    /// A configured time limit passed.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The server broke the protocol; the session is closed.
    #[error("protocol violation by the server: {0}")]
    Protocol(pop3_proto::Error),
    /// The server's answer to this command was well framed but wrong: malformed (`+OK seven 1800` to STAT), about
    /// another message than the one asked, or a listing out of order or beyond the maildrop. Only this command
    /// failed; the session is still usable.
    #[error("invalid answer from the server: {0}")]
    Invalid(pop3_proto::InvalidReply),
    /// The server answered `-ERR`. The session is still usable.
    #[error("server refused: {0}")]
    Server(ServerError),
    /// TLS was required, and the server does not offer it or refused STLS. Nothing secret was sent.
    #[error("TLS is required but the server {0}")]
    TlsUnavailable(ServerRefusal),
    /// The caller asked for something that cannot be sent (wrong state, bad argument, credentials in clear).
    #[error("refused before sending: {0}")]
    Misuse(SendError),
    /// A message read into memory was larger than the configured limit; use the streaming methods for it.
    /// The session is still usable.
    #[error("message larger than the {limit}-octet limit for in-memory retrieval")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// A listing read into memory (LIST, UIDL, LANG) had more entries than the configured limit (see
    /// `Builder::max_listing_entries`). The rest of the answer was read and dropped; the session is still usable.
    #[error("listing longer than the {limit}-entry limit")]
    ListingTooLong {
        /// The limit in force.
        limit: u64,
    },
    /// The caller's sink failed while a message streamed into it. The rest of the response was read and
    /// discarded, so the session is still usable.
    #[error("writing the message failed: {0}")]
    Sink(io::Error),
    /// The session already failed or ended; connect again.
    #[error("the session is closed{}", .0.map(|why| format!(" ({why})")).unwrap_or_default())]
    Closed(Option<&'static str>),
}

/// Why a server would not do STLS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerRefusal {
    /// STLS answered `-ERR`.
    Refused(ServerError),
    /// The connection was upgraded, but the server then advertised nothing usable.
    NotOffered,
}

impl fmt::Display for ServerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(error) => write!(f, "refused STLS: {error}"),
            Self::NotOffered => f.write_str("does not offer STLS"),
        }
    }
}

/// A `-ERR` response: its RFC 2449 code and its text (length-capped; escaped when shown).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError {
    code: Option<OwnedResponseCode>,
    text: Vec<u8>,
    details: Option<Vec<u8>>,
}

impl ServerError {
    /// Longest text kept from the server.
    const MAX_TEXT: usize = 512;

    /// The error for a `-ERR` reply from the core.
    pub fn from_reply(reply: &pop3_proto::Reply<'_>) -> Self {
        let text = &reply.text[..reply.text.len().min(Self::MAX_TEXT)];
        Self {
            code: reply.code.map(pop3_proto::ResponseCode::into_owned),
            text: text.to_vec(),
            details: None,
        }
    }

    /// Adds the error details an OAuth server sent before its `-ERR` (RFC 7628 §3.2.2).
    #[must_use]
    pub(crate) fn with_details(mut self, details: &[u8]) -> Self {
        self.details = Some(details[..details.len().min(Self::MAX_TEXT)].to_vec());
        self
    }

    /// The error details an OAuth server sent (JSON, at most 512 octets), if any.
    pub fn details(&self) -> Option<&[u8]> {
        self.details.as_deref()
    }

    /// The response code, if the server sent one.
    pub fn code(&self) -> Option<&OwnedResponseCode> {
        self.code.as_ref()
    }

    /// The server's text as sent (at most 512 octets; may be any bytes).
    pub fn text(&self) -> &[u8] {
        &self.text
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = &self.code {
            write!(f, "{code} ")?;
        }
        write!(f, "{}", Escaped::new(&self.text))?;
        if let Some(details) = &self.details {
            write!(f, " ({})", Escaped::new(details))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerError")
            .field("code", &self.code)
            .field("text", &Escaped::new(&self.text))
            .field("details", &self.details.as_deref().map(Escaped::new))
            .finish()
    }
}

impl Error {
    /// The `-ERR` details, if the server refused.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Self::Server(error) | Self::TlsUnavailable(ServerRefusal::Refused(error)) => {
                Some(error)
            }
            _ => None,
        }
    }

    /// Whether the session can still be used after this error (a `-ERR`, a refused command, a limit or a sink
    /// failure leave it so).
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            Self::Server(_)
                | Self::Invalid(_)
                | Self::Misuse(_)
                | Self::TooLarge { .. }
                | Self::ListingTooLong { .. }
                | Self::Sink(_)
        )
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Self::from_io(error, "waiting for the server")
    }
}

impl From<rustls::Error> for Error {
    fn from(error: rustls::Error) -> Self {
        Self::Tls(error)
    }
}

impl From<pop3_proto::Error> for Error {
    fn from(error: pop3_proto::Error) -> Self {
        Self::Protocol(error)
    }
}

impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        Self::Misuse(error)
    }
}

impl Error {
    /// The error for a failed read, write or handshake while `doing` something: a time limit becomes
    /// [`Error::Timeout`], and a TLS failure that rustls wrapped in an `io::Error` becomes [`Error::Tls`], so a
    /// caller can tell a bad certificate from a dropped connection.
    pub fn from_io(error: io::Error, doing: &'static str) -> Self {
        if matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) {
            return Self::Timeout(doing);
        }
        match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => Self::Tls(tls.clone()),
            None => Self::Io(error),
        }
    }

    /// Why later calls are refused after this error, if it ends the session.
    pub(crate) fn ends_session(&self) -> Option<&'static str> {
        match self {
            _ if self.is_recoverable() => None,
            Self::Timeout(_) => Some("timed out"),
            Self::Protocol(_) => Some("the server broke the protocol"),
            Self::Tls(_) => Some("TLS failed"),
            Self::Closed(why) => Some(why.unwrap_or("closed")),
            _ => Some("the connection failed"),
        }
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        let kind = match &error {
            Error::Io(inner) | Error::Sink(inner) => inner.kind(),
            Error::TooLarge { .. } | Error::ListingTooLong { .. } => io::ErrorKind::FileTooLarge,
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Tls(_) | Error::Protocol(_) | Error::Invalid(_) => io::ErrorKind::InvalidData,
            Error::Server(_) | Error::TlsUnavailable(_) => io::ErrorKind::Other,
            Error::Misuse(_) => io::ErrorKind::InvalidInput,
            Error::Closed(_) => io::ErrorKind::NotConnected,
        };
        Self::new(kind, error)
    }
}

/// The result type of every driver.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_cause_is_shown_once_in_the_message_and_not_again_as_the_source() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        let error = Error::from_io(refused, "connecting");
        assert_eq!(error.to_string(), "I/O error: connection refused");
        assert!(error.source().is_none());

        let sink = Error::Sink(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        assert_eq!(sink.to_string(), "writing the message failed: disk full");
        assert!(sink.source().is_none());

        let tls = Error::from_io(
            io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError),
            "reading",
        );
        assert!(
            matches!(tls, Error::Tls(rustls::Error::DecryptError)),
            "{tls:?}"
        );
        assert!(tls.source().is_none());
    }

    #[test]
    fn time_limits_become_timeouts_naming_what_was_being_done() {
        let error = Error::from_io(io::ErrorKind::TimedOut.into(), "waiting for the server");
        assert_eq!(error.to_string(), "timed out waiting for the server");
        assert_eq!(error.ends_session(), Some("timed out"));
        assert_eq!(io::Error::from(error).kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn only_errors_confined_to_one_command_leave_the_session_usable() {
        let refusal = ServerError::from_reply(&pop3_proto::Reply {
            code: Some(pop3_proto::ResponseCode::InUse),
            text: b"maildrop locked",
        });
        assert_eq!(refusal.to_string(), "[IN-USE] maildrop locked");
        assert!(refusal.code().is_some_and(OwnedResponseCode::is_temporary));
        for usable in [
            Error::Server(refusal),
            Error::TooLarge { limit: 1 },
            Error::ListingTooLong { limit: 1 },
            Error::Sink(io::ErrorKind::BrokenPipe.into()),
        ] {
            assert!(usable.is_recoverable(), "{usable}");
            assert_eq!(usable.ends_session(), None);
        }
        for fatal in [
            Error::Timeout("reading"),
            Error::Io(io::ErrorKind::ConnectionReset.into()),
            Error::Closed(None),
        ] {
            assert!(!fatal.is_recoverable(), "{fatal}");
            assert!(fatal.ends_session().is_some());
        }
    }
}
