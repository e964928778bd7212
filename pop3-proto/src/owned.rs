//! Owned forms of the borrowed events, replies and response codes, for keeping them past the next `poll()`.
//!
//! Events borrow the client's receive buffer, which is what makes decoding free of copies; a caller that must keep
//! one (an error value, a test transcript, a channel to another task) turns it into its owned form here, once,
//! instead of writing a mirror of every type.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::capability::Capabilities;
use crate::error::InvalidReply;
use crate::escape::Escaped;
use crate::event::{CommandId, Event};
use crate::response::{Reply, ResponseCode};
use crate::sasl::SaslError;

/// An owned [`ResponseCode`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnedResponseCode {
    /// `[IN-USE]`: the maildrop is locked by another session; try later.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently.
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem; retrying later may work.
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem; do not retry.
    SysPerm,
    /// `[AUTH]`: the credentials were wrong.
    Auth,
    /// `[UTF8]`: the operation needs UTF-8 mode.
    Utf8,
    /// Any other code, kept as sent.
    Other(Vec<u8>),
}

impl OwnedResponseCode {
    /// The borrowed form, for everything [`ResponseCode`] offers.
    pub fn as_borrowed(&self) -> ResponseCode<'_> {
        match self {
            Self::InUse => ResponseCode::InUse,
            Self::LoginDelay => ResponseCode::LoginDelay,
            Self::SysTemp => ResponseCode::SysTemp,
            Self::SysPerm => ResponseCode::SysPerm,
            Self::Auth => ResponseCode::Auth,
            Self::Utf8 => ResponseCode::Utf8,
            Self::Other(code) => ResponseCode::Other(code),
        }
    }

    /// Whether retrying later may succeed (IN-USE, LOGIN-DELAY and SYS/TEMP).
    pub fn is_temporary(&self) -> bool {
        self.as_borrowed().is_temporary()
    }
}

impl fmt::Display for OwnedResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_borrowed().fmt(f)
    }
}

impl ResponseCode<'_> {
    /// The owned form.
    pub fn into_owned(self) -> OwnedResponseCode {
        match self {
            Self::InUse => OwnedResponseCode::InUse,
            Self::LoginDelay => OwnedResponseCode::LoginDelay,
            Self::SysTemp => OwnedResponseCode::SysTemp,
            Self::SysPerm => OwnedResponseCode::SysPerm,
            Self::Auth => OwnedResponseCode::Auth,
            Self::Utf8 => OwnedResponseCode::Utf8,
            Self::Other(code) => OwnedResponseCode::Other(code.to_vec()),
        }
    }
}

/// An owned [`Reply`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedReply {
    /// The extended response code, if any.
    pub code: Option<OwnedResponseCode>,
    /// The rest of the line, as bytes.
    pub text: Vec<u8>,
}

impl OwnedReply {
    /// The borrowed form.
    pub fn as_borrowed(&self) -> Reply<'_> {
        Reply {
            code: self.code.as_ref().map(OwnedResponseCode::as_borrowed),
            text: &self.text,
        }
    }
}

impl fmt::Debug for OwnedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_borrowed().fmt(f)
    }
}

impl fmt::Display for OwnedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_borrowed().fmt(f)
    }
}

impl Reply<'_> {
    /// The owned form.
    pub fn into_owned(self) -> OwnedReply {
        OwnedReply {
            code: self.code.map(ResponseCode::into_owned),
            text: self.text.to_vec(),
        }
    }
}

/// An owned [`Event`]: the same variants, with every borrowed slice copied.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // Each variant and field means what it means on `Event`.
pub enum OwnedEvent {
    Greeting {
        ok: bool,
        reply: OwnedReply,
    },
    Ok {
        id: CommandId,
        reply: OwnedReply,
    },
    Err {
        id: CommandId,
        reply: OwnedReply,
    },
    Stat {
        id: CommandId,
        count: u64,
        octets: u64,
    },
    Scan {
        id: CommandId,
        msg: u64,
        octets: u64,
    },
    UniqueId {
        id: CommandId,
        msg: u64,
        uid: String,
    },
    Capabilities {
        id: CommandId,
        capabilities: Capabilities,
    },
    Line {
        id: CommandId,
        line: Vec<u8>,
    },
    Body {
        id: CommandId,
        chunk: Vec<u8>,
    },
    AuthCancelled {
        id: CommandId,
        reason: SaslError,
    },
    AuthFailureDetails {
        id: CommandId,
        details: Vec<u8>,
    },
    Invalid {
        id: CommandId,
        error: InvalidReply,
    },
    Done {
        id: CommandId,
    },
}

impl fmt::Debug for OwnedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Bytes print escaped and capped, as the borrowed form's do.
            Self::Line { id, line } => f
                .debug_struct("Line")
                .field("id", id)
                .field("line", &Escaped::new(line))
                .finish(),
            Self::Body { id, chunk } => f
                .debug_struct("Body")
                .field("id", id)
                .field("chunk", &Escaped::new(chunk))
                .finish(),
            Self::AuthFailureDetails { id, details } => f
                .debug_struct("AuthFailureDetails")
                .field("id", id)
                .field("details", &Escaped::new(details))
                .finish(),
            other => other.as_borrowed().fmt(f),
        }
    }
}

impl OwnedEvent {
    /// The command this event belongs to, as [`Event::id`].
    pub fn id(&self) -> Option<CommandId> {
        self.as_borrowed().id()
    }

    /// The command this event finishes, as [`Event::finishes`].
    pub fn finishes(&self) -> Option<CommandId> {
        self.as_borrowed().finishes()
    }

    /// The borrowed form.
    pub fn as_borrowed(&self) -> Event<'_> {
        match self {
            Self::Greeting { ok, reply } => Event::Greeting {
                ok: *ok,
                reply: reply.as_borrowed(),
            },
            Self::Ok { id, reply } => Event::Ok {
                id: *id,
                reply: reply.as_borrowed(),
            },
            Self::Err { id, reply } => Event::Err {
                id: *id,
                reply: reply.as_borrowed(),
            },
            Self::Stat { id, count, octets } => Event::Stat {
                id: *id,
                count: *count,
                octets: *octets,
            },
            Self::Scan { id, msg, octets } => Event::Scan {
                id: *id,
                msg: *msg,
                octets: *octets,
            },
            Self::UniqueId { id, msg, uid } => Event::UniqueId {
                id: *id,
                msg: *msg,
                uid,
            },
            Self::Capabilities { id, capabilities } => Event::Capabilities {
                id: *id,
                capabilities,
            },
            Self::Line { id, line } => Event::Line { id: *id, line },
            Self::Body { id, chunk } => Event::Body { id: *id, chunk },
            Self::AuthCancelled { id, reason } => Event::AuthCancelled {
                id: *id,
                reason: reason.clone(),
            },
            Self::AuthFailureDetails { id, details } => {
                Event::AuthFailureDetails { id: *id, details }
            }
            Self::Invalid { id, error } => Event::Invalid {
                id: *id,
                error: error.clone(),
            },
            Self::Done { id } => Event::Done { id: *id },
        }
    }
}

impl Event<'_> {
    /// The owned form, to keep past the next `poll()`.
    pub fn into_owned(self) -> OwnedEvent {
        match self {
            Self::Greeting { ok, reply } => OwnedEvent::Greeting {
                ok,
                reply: reply.into_owned(),
            },
            Self::Ok { id, reply } => OwnedEvent::Ok {
                id,
                reply: reply.into_owned(),
            },
            Self::Err { id, reply } => OwnedEvent::Err {
                id,
                reply: reply.into_owned(),
            },
            Self::Stat { id, count, octets } => OwnedEvent::Stat { id, count, octets },
            Self::Scan { id, msg, octets } => OwnedEvent::Scan { id, msg, octets },
            Self::UniqueId { id, msg, uid } => OwnedEvent::UniqueId {
                id,
                msg,
                uid: uid.into(),
            },
            Self::Capabilities { id, capabilities } => OwnedEvent::Capabilities {
                id,
                capabilities: capabilities.clone(),
            },
            Self::Line { id, line } => OwnedEvent::Line {
                id,
                line: line.to_vec(),
            },
            Self::Body { id, chunk } => OwnedEvent::Body {
                id,
                chunk: chunk.to_vec(),
            },
            Self::AuthCancelled { id, reason } => OwnedEvent::AuthCancelled { id, reason },
            Self::AuthFailureDetails { id, details } => OwnedEvent::AuthFailureDetails {
                id,
                details: details.to_vec(),
            },
            Self::Invalid { id, error } => OwnedEvent::Invalid { id, error },
            Self::Done { id } => OwnedEvent::Done { id },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn every_event_round_trips_through_its_owned_form() {
        let id = CommandId(7);
        let caps = Capabilities::default();
        let events = [
            Event::Greeting {
                ok: true,
                reply: Reply::parse(b"[SYS/TEMP] hello <1.2@x>"),
            },
            Event::Err {
                id,
                reply: Reply::parse(b"[X-VENDOR/CODE] no"),
            },
            Event::Stat {
                id,
                count: 2,
                octets: 300,
            },
            Event::UniqueId {
                id,
                msg: 1,
                uid: "abc",
            },
            Event::Capabilities {
                id,
                capabilities: &caps,
            },
            Event::Line { id, line: b"en" },
            Event::Body {
                id,
                chunk: b"\x00\xffbody\r\n",
            },
            Event::AuthFailureDetails { id, details: b"{}" },
            Event::Invalid {
                id,
                error: InvalidReply::WrongMessage {
                    asked: 1,
                    answered: 99,
                },
            },
            Event::Done { id },
        ];
        for event in events {
            let owned = event.clone().into_owned();
            assert_eq!(owned.as_borrowed(), event);
        }
    }

    #[test]
    fn owned_codes_keep_unknown_codes_as_sent() {
        let reply = Reply::parse(b"[x-Vendor] busy").into_owned();
        assert_eq!(
            reply.code,
            Some(OwnedResponseCode::Other(b"x-Vendor".to_vec()))
        );
        assert_eq!(reply.to_string(), "[x-Vendor] busy");
        let known = Reply::parse(b"[in-use] locked").into_owned();
        assert!(
            known
                .code
                .as_ref()
                .is_some_and(OwnedResponseCode::is_temporary)
        );
    }
}
