//! What [`Client::poll`](crate::Client::poll) hands back: bytes to write, events, and resting states.

use core::fmt;

use crate::capability::Capabilities;
use crate::error::InvalidReply;
use crate::escape::Escaped;
use crate::output::Segment;
use crate::response::Reply;
use crate::sasl::SaslError;

/// Names one command from [`Client::send`](crate::Client::send) to its last event. Ids grow by one per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandId(pub(crate) u64);

impl CommandId {
    /// The id that the session's command number `n` (counting from 0) gets: ids are handed out in order, so
    /// expected events can be written down before a session runs.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The id as a number, for logs.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The next thing the driver must do. After any `handle_*` or `send`, call [`Client::poll`](crate::Client::poll)
/// until it returns [`Output::NeedInput`], [`Output::Idle`], [`Output::StartTls`] or [`Output::Closed`]; those
/// resting outputs repeat until something changes, and so does [`Output::Transmit`] until its bytes are consumed.
#[must_use = "an ignored output leaves the session stuck"]
#[derive(Debug)]
pub enum Output<'a> {
    /// Write these bytes to the server, in order, and report how many were written with
    /// [`Client::consume_output`](crate::Client::consume_output). They are all the output pending now; until
    /// consumed they are offered again by every `poll`, so a driver keeps no copy: whatever the socket did not
    /// take this time is offered again next time.
    Transmit(Transmit<'a>),
    /// Something happened; hand it to the application and poll again.
    Event(Event<'a>),
    /// The server accepted STLS: run the TLS handshake on the same connection now, with no plaintext read-ahead
    /// surviving it, then call [`Client::handle_tls_established`](crate::Client::handle_tls_established).
    StartTls,
    /// A response is incomplete: read from the connection and call `handle_input` (or `input_buffer` and
    /// `commit_input`), or `handle_eof` if it closed.
    NeedInput,
    /// Nothing is in flight or queued: wait for the application's next command.
    Idle,
    /// The session is over; close the connection.
    Closed,
}

/// Command bytes to write (all the output pending), with a display form that hides credentials and the commands
/// they carry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) redact_from: Option<usize>,
    /// The commands whose bytes these are, each with where its bytes end (counted from `offset`).
    pub(crate) segments: &'a [Segment],
    /// How many octets of the output buffer were written before these.
    pub(crate) offset: usize,
}

impl<'a> Transmit<'a> {
    /// The bytes to write.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The commands whose bytes (or unwritten rest of them) these are, oldest first. A command that answers SASL
    /// challenges appears once per answer.
    pub fn commands(&self) -> impl Iterator<Item = CommandId> + 'a {
        self.segments.iter().map(|segment| segment.id)
    }

    /// The commands whose last byte lies within the first `n` of these bytes: writing `n` octets sends them
    /// completely. For timing a command from its last byte written to its last event.
    pub fn completed_by(&self, n: usize) -> impl Iterator<Item = CommandId> + 'a {
        let end = self.offset + n.min(self.bytes.len());
        self.segments
            .iter()
            .take_while(move |segment| segment.end <= end)
            .map(|segment| segment.id)
    }

    /// Whether the bytes carry a credential (a password, an APOP digest, a SASL message).
    pub fn is_sensitive(&self) -> bool {
        self.redact_from.is_some()
    }

    /// A form for protocol traces: command lines without their CRLF, credentials replaced by `<redacted>`, other
    /// control characters escaped.
    pub fn redacted(&self) -> impl fmt::Display + 'a {
        Redacted(*self)
    }
}

impl fmt::Debug for Transmit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transmit({})", self.redacted())
    }
}

struct Redacted<'a>(Transmit<'a>);

impl fmt::Display for Redacted<'_> {
    // Command by command, each credential hidden to the end of its own line, so that what travels behind a
    // password (a pipelined listing) still shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Transmit {
            bytes,
            redact_from,
            segments,
            offset,
        } = self.0;
        if segments.is_empty() {
            return write_lines(f, bytes, redact_from);
        }
        let mut start = 0;
        for (i, segment) in segments.iter().enumerate() {
            let end = segment.end.saturating_sub(offset).clamp(start, bytes.len());
            if i > 0 {
                f.write_str(" | ")?;
            }
            let secret = segment
                .secret_from
                .map(|from| from.saturating_sub(offset).saturating_sub(start));
            write_lines(f, &bytes[start..end], secret)?;
            start = end;
        }
        Ok(())
    }
}

/// Lines without their CRLF, joined by ` | `, with everything from `redact_from` on shown as `<redacted>`.
fn write_lines(
    f: &mut fmt::Formatter<'_>,
    bytes: &[u8],
    redact_from: Option<usize>,
) -> fmt::Result {
    let shown = redact_from.map_or(bytes, |from| &bytes[..from.min(bytes.len())]);
    for (i, line) in shown
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            f.write_str(" | ")?;
        }
        fmt::Display::fmt(&Escaped::new(line.strip_suffix(b"\r").unwrap_or(line)), f)?;
    }
    if redact_from.is_some() {
        f.write_str("<redacted>")?;
    }
    Ok(())
}

/// Something the server said, attributed to the command it answers.
///
/// Every command that reaches the server ends with exactly one [`Event::Err`], [`Event::Invalid`] or
/// [`Event::Done`]; commands still
/// queued when the session closes (a refused greeting, an error, the connection's end) get neither, and the client
/// reports [`Output::Closed`] or the error instead. A successful command first yields
/// [`Event::Ok`] with the status line, then what its response carries ([`Event::Stat`], [`Event::Scan`],
/// [`Event::UniqueId`], [`Event::Capabilities`], [`Event::Line`], [`Event::Body`]), then `Done`.
/// Borrowed slices point into the client's receive buffer; body chunk boundaries carry no meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The server's greeting. `ok: false` means it refused the session; the client is then closed.
    Greeting {
        /// `+OK` or `-ERR`.
        ok: bool,
        /// The greeting's code and text.
        reply: Reply<'a>,
    },
    /// `+OK` to a command: its status line.
    Ok {
        /// The command.
        id: CommandId,
        /// Code and text after `+OK`.
        reply: Reply<'a>,
    },
    /// `-ERR` to a command. The command is over; the session goes on (RFC 1939 keeps its state on `-ERR`).
    Err {
        /// The command.
        id: CommandId,
        /// Code and text after `-ERR`.
        reply: Reply<'a>,
    },
    /// STAT's drop listing.
    Stat {
        /// The command.
        id: CommandId,
        /// Messages in the maildrop, not counting deleted ones.
        count: u64,
        /// Their total size in octets.
        octets: u64,
    },
    /// One scan listing: from `LIST n`, or one line of `LIST`.
    Scan {
        /// The command.
        id: CommandId,
        /// The message number.
        msg: u64,
        /// Its size in octets, as the server counts it.
        octets: u64,
    },
    /// One unique-id listing: from `UIDL n`, or one line of `UIDL`.
    UniqueId {
        /// The command.
        id: CommandId,
        /// The message number.
        msg: u64,
        /// The unique id: 1 to 70 printable ASCII characters.
        uid: &'a str,
    },
    /// The complete answer to CAPA, also kept by the client for its own decisions.
    Capabilities {
        /// The command.
        id: CommandId,
        /// What the server advertised.
        capabilities: &'a Capabilities,
    },
    /// One dot-unstuffed line of a LANG listing, without its line ending.
    Line {
        /// The command.
        id: CommandId,
        /// The line.
        line: &'a [u8],
    },
    /// A piece of a RETR, TOP or multi-line raw response body, dot-unstuffed, line endings kept.
    Body {
        /// The command.
        id: CommandId,
        /// The next octets of the body.
        chunk: &'a [u8],
    },
    /// The client cancelled an AUTH exchange with `*` because it could not answer a challenge; the server's
    /// `-ERR` follows.
    AuthCancelled {
        /// The AUTH command.
        id: CommandId,
        /// Why.
        reason: SaslError,
    },
    /// The error details an OAuth server sent in its failure challenge (RFC 7628 §3.2.2), before its `-ERR`.
    AuthFailureDetails {
        /// The AUTH command.
        id: CommandId,
        /// The decoded JSON the server sent.
        details: &'a [u8],
    },
    /// The response to the command was well framed but wrong (a malformed STAT answer, a listing entry for another
    /// message, out of order or beyond the maildrop). The command is over and failed; events it yielded before
    /// belong to the invalid answer and must be dropped. The session goes on (see the [crate documentation](crate)
    /// for which faults are confined to one command and which end the session).
    Invalid {
        /// The command.
        id: CommandId,
        /// What was wrong, with an escaped excerpt where the fault is in the text.
        error: InvalidReply,
    },
    /// The command completed successfully; nothing more will come for it.
    Done {
        /// The command.
        id: CommandId,
    },
}

impl Event<'_> {
    /// The command this event belongs to (`None` for the greeting).
    pub fn id(&self) -> Option<CommandId> {
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
            | Self::Invalid { id, .. }
            | Self::Done { id } => Some(*id),
        }
    }

    /// The command this event finishes: set for [`Event::Done`], [`Event::Err`] and [`Event::Invalid`].
    pub fn finishes(&self) -> Option<CommandId> {
        match self {
            Self::Done { id } | Self::Err { id, .. } | Self::Invalid { id, .. } => Some(*id),
            _ => None,
        }
    }
}
