//! Events as owned values, so that whole sessions can be compared, and shorthands to write the expected ones.

use std::fmt;

use pop3_proto::{Capability, Escaped, Event, ResponseCode, SaslError};

/// Bytes that print as an escaped string in assertion failures.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Bytes(pub(crate) Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", Escaped::with_limit(&self.0, 4096))
    }
}

impl From<&str> for Bytes {
    fn from(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for Bytes {
    fn from(bytes: &[u8; N]) -> Self {
        Self(bytes.to_vec())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

/// An owned [`ResponseCode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Code {
    InUse,
    LoginDelay,
    SysTemp,
    SysPerm,
    Auth,
    Utf8,
    Other(Bytes),
}

impl From<ResponseCode<'_>> for Code {
    fn from(code: ResponseCode<'_>) -> Self {
        match code {
            ResponseCode::InUse => Self::InUse,
            ResponseCode::LoginDelay => Self::LoginDelay,
            ResponseCode::SysTemp => Self::SysTemp,
            ResponseCode::SysPerm => Self::SysPerm,
            ResponseCode::Auth => Self::Auth,
            ResponseCode::Utf8 => Self::Utf8,
            ResponseCode::Other(code) => Self::Other(code.into()),
            other => panic!("response code unknown to the test support: {other:?}"),
        }
    }
}

/// An owned [`Event`]; ids are [`CommandId::get`](pop3_proto::CommandId::get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Greeting {
        ok: bool,
        code: Option<Code>,
        text: Bytes,
    },
    Ok {
        id: u64,
        code: Option<Code>,
        text: Bytes,
    },
    Err {
        id: u64,
        code: Option<Code>,
        text: Bytes,
    },
    Stat {
        id: u64,
        count: u64,
        octets: u64,
    },
    Scan {
        id: u64,
        msg: u64,
        octets: u64,
    },
    UniqueId {
        id: u64,
        msg: u64,
        uid: String,
    },
    Capabilities {
        id: u64,
        capabilities: Vec<Capability>,
    },
    Line {
        id: u64,
        line: Bytes,
    },
    /// All adjacent body chunks of one command, merged.
    Body {
        id: u64,
        body: Bytes,
    },
    AuthCancelled {
        id: u64,
        reason: SaslError,
    },
    AuthFailureDetails {
        id: u64,
        details: Bytes,
    },
    Done {
        id: u64,
    },
}

impl Ev {
    /// The command the event belongs to; `None` for the greeting.
    pub(crate) fn id(&self) -> Option<u64> {
        match self {
            Self::Greeting { .. } => None,
            Self::Ok { id, .. }
            | Self::Err { id, .. }
            | Self::Stat { id, .. }
            | Self::Scan { id, .. }
            | Self::UniqueId { id, .. }
            | Self::Capabilities { id, .. }
            | Self::Line { id, .. }
            | Self::Body { id, .. }
            | Self::AuthCancelled { id, .. }
            | Self::AuthFailureDetails { id, .. }
            | Self::Done { id } => Some(*id),
        }
    }
}

impl From<Event<'_>> for Ev {
    fn from(event: Event<'_>) -> Self {
        match event {
            Event::Greeting { ok, reply } => Self::Greeting {
                ok,
                code: reply.code.map(Code::from),
                text: reply.text.into(),
            },
            Event::Ok { id, reply } => Self::Ok {
                id: id.get(),
                code: reply.code.map(Code::from),
                text: reply.text.into(),
            },
            Event::Err { id, reply } => Self::Err {
                id: id.get(),
                code: reply.code.map(Code::from),
                text: reply.text.into(),
            },
            Event::Stat { id, count, octets } => Self::Stat {
                id: id.get(),
                count,
                octets,
            },
            Event::Scan { id, msg, octets } => Self::Scan {
                id: id.get(),
                msg,
                octets,
            },
            Event::UniqueId { id, msg, uid } => Self::UniqueId {
                id: id.get(),
                msg,
                uid: uid.to_owned(),
            },
            Event::Capabilities { id, capabilities } => Self::Capabilities {
                id: id.get(),
                capabilities: capabilities.iter().cloned().collect(),
            },
            Event::Line { id, line } => Self::Line {
                id: id.get(),
                line: line.into(),
            },
            Event::Body { id, chunk } => Self::Body {
                id: id.get(),
                body: chunk.into(),
            },
            Event::AuthCancelled { id, reason } => Self::AuthCancelled {
                id: id.get(),
                reason,
            },
            Event::AuthFailureDetails { id, details } => Self::AuthFailureDetails {
                id: id.get(),
                details: details.into(),
            },
            Event::Done { id } => Self::Done { id: id.get() },
            other => panic!("event unknown to the test support: {other:?}"),
        }
    }
}

/// `+OK` greeting without a response code.
pub(crate) fn greeting(text: &str) -> Ev {
    Ev::Greeting {
        ok: true,
        code: None,
        text: text.into(),
    }
}

/// `+OK` to command `id`, without a response code.
pub(crate) fn ok(id: u64, text: &str) -> Ev {
    Ev::Ok {
        id,
        code: None,
        text: text.into(),
    }
}

/// `-ERR` to command `id`, without a response code.
pub(crate) fn err(id: u64, text: &str) -> Ev {
    Ev::Err {
        id,
        code: None,
        text: text.into(),
    }
}

pub(crate) fn done(id: u64) -> Ev {
    Ev::Done { id }
}

pub(crate) fn body(id: u64, body: impl Into<Bytes>) -> Ev {
    Ev::Body {
        id,
        body: body.into(),
    }
}
