//! The one error type of the blocking client (poplib's `error_proto`, with kinds a caller can act on).

use std::fmt;
use std::io;

use pop3_proto::{Escaped, ResponseCode, SendError};

/// What went wrong, in a form a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed: refused, reset, closed, unreachable.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// TLS failed: the certificate did not verify (the rustls error says which check), or the handshake broke.
    #[error("TLS error: {0}")]
    Tls(#[from] rustls::Error),
    /// A configured time limit passed.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The server broke the protocol; the session is closed.
    #[error("protocol violation by the server: {0}")]
    Protocol(#[from] pop3_proto::Error),
    /// The server answered `-ERR`. The session is still usable.
    #[error("server refused: {0}")]
    Server(ServerError),
    /// TLS was required, and the server does not offer it or refused STLS. Nothing secret was sent.
    #[error("TLS is required but the server {0}")]
    TlsUnavailable(ServerRefusal),
    /// The caller asked for something that cannot be sent (wrong state, bad argument, credentials in clear).
    #[error("refused before sending: {0}")]
    Misuse(#[from] SendError),
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
    code: Option<Code>,
    text: Vec<u8>,
    details: Option<Vec<u8>>,
}

/// An owned [`ResponseCode`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `[IN-USE]`: the maildrop is locked by another session.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently.
    LoginDelay,
    /// `[SYS/TEMP]`: temporary failure; retry later.
    SysTemp,
    /// `[SYS/PERM]`: permanent failure.
    SysPerm,
    /// `[AUTH]`: wrong credentials.
    Auth,
    /// `[UTF8]`: needs UTF-8 mode.
    Utf8,
    /// Any other code, as sent.
    Other(String),
}

impl Code {
    fn from_proto(code: &ResponseCode<'_>) -> Self {
        match code {
            ResponseCode::InUse => Self::InUse,
            ResponseCode::LoginDelay => Self::LoginDelay,
            ResponseCode::SysTemp => Self::SysTemp,
            ResponseCode::SysPerm => Self::SysPerm,
            ResponseCode::Auth => Self::Auth,
            ResponseCode::Utf8 => Self::Utf8,
            other => Self::Other(Escaped::new(other.as_bytes()).to_string()),
        }
    }

    /// Whether trying again later may work.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::InUse | Self::LoginDelay | Self::SysTemp)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::InUse => "IN-USE",
            Self::LoginDelay => "LOGIN-DELAY",
            Self::SysTemp => "SYS/TEMP",
            Self::SysPerm => "SYS/PERM",
            Self::Auth => "AUTH",
            Self::Utf8 => "UTF8",
            Self::Other(code) => code,
        };
        write!(f, "[{name}]")
    }
}

impl ServerError {
    /// Longest text kept from the server.
    const MAX_TEXT: usize = 512;

    /// The error for a `-ERR` reply from the core (for drivers of `pop3-proto`, such as the async client).
    pub fn from_reply(reply: &pop3_proto::Reply<'_>) -> Self {
        let text = &reply.text[..reply.text.len().min(Self::MAX_TEXT)];
        Self {
            code: reply.code.as_ref().map(Code::from_proto),
            text: text.to_vec(),
            details: None,
        }
    }

    /// Adds the error details an OAuth server sent before its `-ERR` (RFC 7628 §3.2.2).
    #[must_use]
    pub fn with_details(mut self, details: &[u8]) -> Self {
        self.details = Some(details[..details.len().min(Self::MAX_TEXT)].to_vec());
        self
    }

    /// The error details an OAuth server sent (JSON, at most 512 octets), if any.
    pub fn details(&self) -> Option<&[u8]> {
        self.details.as_deref()
    }

    /// The response code, if the server sent one.
    pub fn code(&self) -> Option<&Code> {
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
                | Self::Misuse(_)
                | Self::TooLarge { .. }
                | Self::ListingTooLong { .. }
                | Self::Sink(_)
        )
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        let kind = match &error {
            Error::Io(inner) | Error::Sink(inner) => inner.kind(),
            Error::TooLarge { .. } | Error::ListingTooLong { .. } => io::ErrorKind::FileTooLarge,
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Tls(_) | Error::Protocol(_) => io::ErrorKind::InvalidData,
            Error::Server(_) | Error::TlsUnavailable(_) => io::ErrorKind::Other,
            Error::Misuse(_) => io::ErrorKind::InvalidInput,
            Error::Closed(_) => io::ErrorKind::NotConnected,
        };
        Self::new(kind, error)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
