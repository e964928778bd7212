//! Shorthands to write expected events. Events are kept as [`OwnedEvent`]s, so whole sessions can be compared;
//! ids are written as the command's number in the session (its [`CommandId::new`]).

use pop3_proto::{
    Capability, CommandId, Excerpt, InvalidReply, OwnedEvent, OwnedReply, OwnedResponseCode,
};

pub(crate) use pop3_proto::{OwnedEvent as Ev, OwnedResponseCode as Code};

/// The id of the session's command number `n`.
pub(crate) fn id(n: u64) -> CommandId {
    CommandId::new(n)
}

fn reply(code: Option<OwnedResponseCode>, text: &str) -> OwnedReply {
    OwnedReply {
        code,
        text: text.as_bytes().to_vec(),
    }
}

/// `+OK` greeting without a response code.
pub(crate) fn greeting(text: &str) -> Ev {
    Ev::Greeting {
        ok: true,
        reply: reply(None, text),
    }
}

/// A greeting with a response code.
pub(crate) fn greeting_with(ok: bool, code: Code, text: &str) -> Ev {
    Ev::Greeting {
        ok,
        reply: reply(Some(code), text),
    }
}

/// `+OK` to command `n`, without a response code.
pub(crate) fn ok(n: u64, text: &str) -> Ev {
    Ev::Ok {
        id: id(n),
        reply: reply(None, text),
    }
}

/// `+OK` to command `n`, with a response code.
pub(crate) fn ok_with(n: u64, code: Code, text: &str) -> Ev {
    Ev::Ok {
        id: id(n),
        reply: reply(Some(code), text),
    }
}

/// `-ERR` to command `n`, without a response code.
pub(crate) fn err(n: u64, text: &str) -> Ev {
    Ev::Err {
        id: id(n),
        reply: reply(None, text),
    }
}

/// `-ERR` to command `n`, with a response code.
pub(crate) fn err_with(n: u64, code: Code, text: &str) -> Ev {
    Ev::Err {
        id: id(n),
        reply: reply(Some(code), text),
    }
}

pub(crate) fn done(n: u64) -> Ev {
    Ev::Done { id: id(n) }
}

/// The whole body of command `n` (the replay merges adjacent chunks).
pub(crate) fn body(n: u64, body: impl AsRef<[u8]>) -> Ev {
    Ev::Body {
        id: id(n),
        chunk: body.as_ref().to_vec(),
    }
}

pub(crate) fn stat(n: u64, count: u64, octets: u64) -> Ev {
    Ev::Stat {
        id: id(n),
        count,
        octets,
    }
}

pub(crate) fn scan(n: u64, msg: u64, octets: u64) -> Ev {
    Ev::Scan {
        id: id(n),
        msg,
        octets,
    }
}

pub(crate) fn uid(n: u64, msg: u64, uid: &str) -> Ev {
    Ev::UniqueId {
        id: id(n),
        msg,
        uid: uid.into(),
    }
}

pub(crate) fn line(n: u64, line: &str) -> Ev {
    Ev::Line {
        id: id(n),
        line: line.as_bytes().to_vec(),
    }
}

/// Command `n` failed: its answer was well framed but wrong.
pub(crate) fn invalid(n: u64, error: InvalidReply) -> Ev {
    Ev::Invalid { id: id(n), error }
}

/// Command `n` failed on a malformed listing that the error quotes as `line`.
pub(crate) fn malformed(n: u64, line: &[u8]) -> Ev {
    invalid(
        n,
        InvalidReply::MalformedListing {
            line: Excerpt::new(line),
        },
    )
}

/// The answer to CAPA command `n`.
pub(crate) fn capabilities(n: u64, lines: impl IntoIterator<Item = Capability>) -> Ev {
    Ev::Capabilities {
        id: id(n),
        capabilities: lines.into_iter().collect(),
    }
}

/// Adds `event` to `events`, merging adjacent body chunks of one command: chunk boundaries carry no meaning.
pub(crate) fn push_merged(events: &mut Vec<OwnedEvent>, event: OwnedEvent) {
    if let (
        Some(Ev::Body { id, chunk }),
        Ev::Body {
            id: next,
            chunk: more,
        },
    ) = (events.last_mut(), &event)
    {
        if id == next {
            chunk.extend_from_slice(more);
            return;
        }
    }
    events.push(event);
}
