//! A sans-IO POP3 client: bytes from the server go in, command bytes and typed events come out.
//!
//! No sockets, no clocks, no threads: this crate is the protocol (RFC 1939, with RFC 2449 CAPA, pipelining and
//! response codes, RFC 2595 STLS, RFC 5034 SASL AUTH and RFC 6856 UTF8/LANG) as a state machine that any event
//! loop can drive. Timeouts are the driver's policy and live there; the crate never reads a clock.
//!
//! # The driving contract
//!
//! 1. Make a [`Client`] and [`send`](Client::send) the commands you want; each gets a [`CommandId`]. A command that
//!    is illegal in the state the session will be in, or whose arguments would break the line, is refused and
//!    changes nothing.
//! 2. After any `send` or `handle_*`, call [`poll`](Client::poll) until it returns a resting output:
//!    - [`Output::Transmit`]: write the bytes to the server, then report how many were written with
//!      [`consume_output`](Client::consume_output). The bytes are all the output pending; what is not consumed is
//!      offered again by every `poll`, so a partial write needs no buffer of the driver's own. (It used to count as
//!      written once returned; a driver that writes everything now calls `consume_output(t.bytes().len())`.)
//!    - [`Output::Event`]: hand the event to the application. Each command ends with one [`Event::Done`],
//!      [`Event::Err`] or [`Event::Invalid`] ([`Event::finishes`] tells which events end a command).
//!    - [`Output::NeedInput`]: read from the server and pass the bytes to [`handle_input`](Client::handle_input)
//!      (or read straight into [`input_buffer`](Client::input_buffer) and [`commit_input`](Client::commit_input)),
//!      or call [`handle_eof`](Client::handle_eof) when the connection closed.
//!    - [`Output::StartTls`]: run the TLS handshake, then [`handle_tls_established`](Client::handle_tls_established).
//!    - [`Output::Idle`]: everything sent has been answered.
//!    - [`Output::Closed`]: the session is over.
//! 3. An `Err` from `poll` means the server broke the framing: the session is dead and says so on every call.
//!
//! # Non-blocking drivers
//!
//! A reactor (mio, an io_uring loop, a GUI's event loop) drives the same `poll`, with these rules:
//!
//! - **Readiness.** Register read interest while [`wants_read`](Client::wants_read) (an answer or the greeting is
//!   owed) and write interest while [`wants_write`](Client::wants_write) (output pending). After every readiness
//!   event and every `send`, poll until a resting output, or until a [`Output::Transmit`] the socket does not take
//!   now (`WouldBlock`): then wait for readiness again.
//! - **Write or copy before the next poll.** A `Transmit` borrows the client: write what the socket takes now and
//!   [`consume_output`](Client::consume_output) that many octets; the rest comes back at the next `poll`. A driver
//!   that hands the bytes to a layer with its own buffer (a TLS connection) consumes what that layer took. With the
//!   `std` feature, `Client::write_output` does all this for any `std::io::Write`.
//! - **Flush before waiting on input.** Bytes left in a writer's buffer (a `BufWriter`, a TLS stream) never reach
//!   the server, which then never answers.
//! - **Bounded output.** While pipelining, pending output stays within [`Config::max_in_flight_bytes`] (a command
//!   that goes out alone, or an answer to a SASL challenge, may be one line more): a driver never needs more room
//!   than that, and a server that stops reading cannot make the client buffer more.
//! - **Reads.** [`input_buffer`](Client::input_buffer) without [`commit_input`](Client::commit_input) is harmless:
//!   a read that would block commits nothing. Reading while idle is allowed (see [`wants_read`](Client::wants_read)):
//!   the end of the connection then ends the session ([`Output::Closed`], no error), and a line nobody asked for is
//!   a fatal [`Error::Unsolicited`].
//! - **Sending from an event handler.** [`send`](Client::send) may be called at any time, also while handling an
//!   event once its borrowed data is no longer needed; the command goes out at a later `poll`.
//! - **Per-command timing.** [`Transmit::commands`] and [`Transmit::completed_by`] say which commands a write
//!   carries; [`Client::sent_through`] is the newest command whose bytes are all written. From there to the event
//!   that [finishes](Event::finishes) it is the command's latency.
//!
//! ```
//! use pop3_proto::{Client, Command, Config, Event, MsgNum, Output};
//!
//! /// A socket that takes at most 5 octets per write and would block every other time.
//! struct Socket { wire: Vec<u8>, busy: bool }
//!
//! let mut config = Config::default();
//! config.allow_plaintext_credentials = true;
//! let mut client = Client::new(config);
//! let mut socket = Socket { wire: Vec::new(), busy: false };
//! // The server greets, then answers each command line once it has all of it.
//! let replies: [&[u8]; 7] = [
//!     b"+OK ready\r\n", b"+OK\r\n", b"+OK\r\n", b"+OK 2 20\r\n",
//!     b"+OK\r\nfirst\r\n.\r\n", b"+OK\r\nsecond\r\n.\r\n", b"+OK bye\r\n",
//! ];
//! let mut answered = 0;
//! client.send(Command::User("mrose")).unwrap();
//! let pass = client.send(Command::Pass("secret")).unwrap();
//! let mut bodies = Vec::new();
//! loop {
//!     match client.poll().unwrap() {
//!         Output::Transmit(transmit) => {
//!             socket.busy = !socket.busy;
//!             if socket.busy {
//!                 continue; // WouldBlock: wait for writability, then poll again.
//!             }
//!             let n = transmit.bytes().len().min(5);
//!             socket.wire.extend_from_slice(&transmit.bytes()[..n]);
//!             client.consume_output(n);
//!         }
//!         // Sending from an event handler: STAT once logged in, RETR every message it counted, then QUIT.
//!         Output::Event(Event::Done { id }) if id == pass => {
//!             client.send(Command::Stat).unwrap();
//!         }
//!         Output::Event(Event::Stat { count, .. }) => {
//!             for n in 1..=count {
//!                 client.send(Command::Retr(MsgNum::new(n).unwrap())).unwrap();
//!             }
//!             client.send(Command::Quit).unwrap();
//!         }
//!         Output::Event(Event::Body { chunk, .. }) => bodies.extend_from_slice(chunk),
//!         Output::Event(_) => {}
//!         Output::NeedInput => {
//!             let lines = socket.wire.iter().filter(|&&b| b == b'\n').count();
//!             assert!(answered <= lines, "the client waits only for what it wrote");
//!             client.handle_input(replies[answered]);
//!             answered += 1;
//!         }
//!         Output::Idle | Output::StartTls => unreachable!("QUIT is queued before the client is idle"),
//!         Output::Closed => break,
//!     }
//! }
//! assert_eq!(socket.wire, b"USER mrose\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n");
//! assert_eq!(bodies, b"first\r\nsecond\r\n");
//! ```
//!
//! # Deadlines
//!
//! The crate reads no clock; a driver's timer decides when the server took too long, and every driver times out
//! the same way with one timer:
//!
//! - it runs while [`wants_write`](Client::wants_write) or [`awaiting_response`](Client::awaiting_response) holds:
//!   output is pending, or everything is written and an answer (or the greeting) is owed;
//! - it restarts whenever an octet is written ([`consume_output`](Client::consume_output) of at least one) or read
//!   ([`commit_input`](Client::commit_input) or [`handle_input`](Client::handle_input) of at least one): it limits
//!   silence, not the length of a response, so a large message that keeps arriving never times out;
//! - it stops when both are false: the session is idle or closed, or a TLS handshake runs (which the driver's
//!   handshake timeout covers).
//!
//! When it fires while writing, the server stopped reading; while awaiting a response, it stopped answering.
//! Either way the session is over: close the connection without QUIT and report a timeout.
//!
//! # Faults: one command, or the whole session
//!
//! The client is strict about what the server says and tolerant where it can be, by one rule:
//!
//! - **A fault confined to one well-framed response fails that command only**, with [`Event::Invalid`] carrying an
//!   [`InvalidReply`] (with an escaped excerpt of the offending text where there is one), and the session goes
//!   on, since the start of the next response is known. These are: a STAT answer that is not `count octets`
//!   (`+OK seven 1800`, `+OK 7`); a malformed entry in a LIST or UIDL listing that still ends with its
//!   terminating dot (the rest of the listing is read to the dot and dropped); `LIST n` or `UIDL n` answered for
//!   another message; a full LIST or UIDL whose entries do not rise strictly, or that name a message above the
//!   highest number of the maildrop as STAT reported it earlier in the session (DELE does not renumber, so the
//!   messages deleted before that STAT count too; after a raw command the count is no longer known). Events the
//!   command yielded before its `Invalid` belong to the rejected answer: drop them.
//! - **A fault that breaks framing ends the session**: `poll` returns an [`Error`], and every later call returns
//!   it again. These are: a line over [`Config::max_line_len`] without its end, bytes after the `+OK` to STLS, data
//!   while nothing was asked, a status line that is neither `+OK` nor `-ERR`, the connection closing in the middle
//!   of a response, a multi-line answer where one line was due (its lines then answer nothing) and one line where a
//!   listing was due (the next answers are read as the listing, which never ends properly), and an AUTH `+OK` the
//!   server did not earn.
//!
//! A `-ERR` is neither: the server refused the command, as RFC 1939 allows, and [`Event::Err`] ends it.
//!
//! # STLS: nothing from cleartext frames encrypted bytes
//!
//! After [`handle_tls_established`](Client::handle_tls_established), whatever an attacker could have changed in
//! clear is forgotten: the capabilities (RFC 2595 §4) and the line endings. [`Config::line_endings`] applies again,
//! and in [`LineEndings::Detect`] mode the first encrypted status line decides: a CR stripped from the cleartext
//! greeting cannot make the encrypted session run in LF-only framing, where a bare-LF `.` line inside a message
//! would end it early. Bytes that arrive after the `+OK` to STLS and before the handshake are a fatal error.
//!
//! One thing is still taken from the cleartext greeting: the APOP timestamp. That is safe because it is only ever
//! the challenge the client hashes its password with, and the digest then goes over the encrypted connection to
//! the server that proved its identity in the handshake: an attacker who changed the timestamp sees no digest and
//! can only make the login fail, which it could do anyway by closing the connection.
//!
//! A complete session against canned server bytes:
//!
//! ```
//! use pop3_proto::{Client, Command, Config, Event, MsgNum, Output};
//!
//! let server: &[&[u8]] = &[
//!     b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
//!     b"+OK mrose's maildrop has 2 messages (320 octets)\r\n",
//!     b"+OK 2 320\r\n",
//!     b"+OK 120 octets\r\nSubject: hi\r\n\r\n..dot-stuffed line\r\n.\r\n",
//!     b"+OK dewey POP3 server signing off\r\n",
//! ];
//! let mut replies = server.iter();
//! let mut config = Config::default();
//! config.allow_plaintext_credentials = true; // a test without TLS
//! let mut client = Client::new(config);
//!
//! let mut body = Vec::new();
//! let mut sent = Vec::new();
//! let mut queued = false;
//! loop {
//!     match client.poll().expect("well-behaved server") {
//!         Output::Transmit(transmit) => {
//!             sent.extend_from_slice(transmit.bytes());
//!             let written = transmit.bytes().len();
//!             client.consume_output(written);
//!         }
//!         Output::Event(Event::Body { chunk, .. }) => body.extend_from_slice(chunk),
//!         Output::Event(event) => println!("{event:?}"),
//!         Output::NeedInput => match replies.next() {
//!             Some(bytes) => client.handle_input(bytes),
//!             None => client.handle_eof(),
//!         },
//!         Output::Idle if !queued => {
//!             queued = true;
//!             client.send(Command::Apop { user: "mrose", password: "tanstaaf" }).unwrap();
//!         }
//!         Output::Idle => {
//!             if client.state() == pop3_proto::State::Transaction && client.outstanding() == 0 && body.is_empty() {
//!                 client.send(Command::Stat).unwrap();
//!                 client.send(Command::Retr(MsgNum::new(1).unwrap())).unwrap();
//!                 client.send(Command::Quit).unwrap();
//!             }
//!         }
//!         Output::StartTls => unreachable!("no STLS in this session"),
//!         Output::Closed => break,
//!     }
//! }
//! assert_eq!(body, b"Subject: hi\r\n\r\n.dot-stuffed line\r\n");
//! assert!(sent.starts_with(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"));
//! assert!(sent.ends_with(b"STAT\r\nRETR 1\r\nQUIT\r\n"));
//! ```
//!
//! # Memory
//!
//! Message bodies are handed out as [`Event::Body`] slices of the receive buffer, dot-unstuffed in place, so a
//! session streams a message of any size in [`Config::read_size`] octets. Status, capability and listing lines
//! are bounded by [`Config::max_line_len`]; a CAPA answer by [`Config::max_capabilities`]. Between commands a
//! client holds no receive buffer ([`Client::release_idle_buffer`]), so that thousands of idle sessions cost
//! little.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod apop;
mod auth;
mod capability;
mod client;
mod command;
mod config;
mod dot;
mod encode;
mod error;
mod escape;
mod event;
#[cfg(feature = "std")]
mod io;
mod numbering;
mod output;
mod owned;
mod pipeline;
mod receive;
mod response;
pub mod sasl;
mod state;

pub use capability::{Capabilities, Capability};
pub use client::Client;
pub use command::{Command, MsgNum};
pub use config::{Config, LineEndings, Pipelining};
pub use dot::stuff;
pub use error::{ArgumentError, Error, Excerpt, InvalidReply, SendError};
pub use escape::Escaped;
pub use event::{CommandId, Event, Output, Transmit};
pub use owned::{OwnedEvent, OwnedReply, OwnedResponseCode};
pub use response::{Reply, ResponseCode};
pub use sasl::{ChannelBinding, Mechanism, SaslError};
pub use state::State;
