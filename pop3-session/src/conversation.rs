//! The I/O-free half of every driver: runs one [`Operation`] against the core and tells the driver, one
//! [`Action`] at a time, what to do with its connection. Time limits, the trace, TLS set-up points, sink failures
//! and whether the session is still usable are decided here, once.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_proto::{Client, CommandId, Event, Output, State};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::error::{Error, Result};
use crate::op::{Flow, Operation};
use crate::settings::{Settings, Shared, Timeouts};
use crate::tls;
use crate::trace::Trace;

/// What the driver must do next; from [`Conversation::step`].
#[must_use = "an ignored action leaves the session stuck"]
#[derive(Debug)]
pub enum Action<'a> {
    /// Nothing for the driver: step again.
    Continue,
    /// Write these bytes, all of them, and flush, within [`Timeouts::write`]; then report them with
    /// [`Conversation::written`] and step again.
    Write(&'a [u8]),
    /// Read into [`Conversation::input_buffer`] within `timeout`, then report it with [`Conversation::received`]
    /// (0 octets for the end of the stream).
    Read {
        /// How long this read may wait; `None` is forever.
        timeout: Option<Duration>,
    },
    /// Run the TLS handshake on the connection, within `timeout`, each read also within [`Timeouts::read`]; then
    /// call [`Conversation::handshake_done`]. No plaintext read-ahead may survive it.
    Handshake {
        /// The TLS configuration.
        config: Arc<ClientConfig>,
        /// The name the certificate must carry: the configured host.
        name: ServerName<'static>,
        /// How long the whole handshake may take.
        timeout: Option<Duration>,
    },
    /// Write this body chunk to the caller's sink; if that fails, report it with [`Conversation::sink_failed`] and
    /// step on (the rest of the answer is read and dropped).
    Deliver(&'a [u8]),
    /// The session is over (QUIT): close the connection (TLS `close_notify` first, best effort), then step again.
    Close,
    /// The operation is complete: call [`Conversation::finish`].
    Done,
}

/// Whether the session takes calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ready,
    /// A call is running; finding this at the start of a call means the last one was cancelled half-way.
    Busy,
    Closed(&'static str),
}

/// How far the call in progress is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Polling the core for what comes next.
    Polling,
    /// The operation queues more commands before polling on.
    Resuming,
    /// Every answer is in; a call that ends the session still closes the connection.
    Finished,
    /// Every answer is in and the connection is closed.
    Closed,
}

/// Where the call in progress is with TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// Nothing owed.
    None,
    /// Implicit TLS: the handshake comes before the greeting.
    Owed,
    /// After STLS: the handshake is asked for; the core learns of it when it is done.
    AfterStls,
    /// After STLS and its handshake: the core asked CAPA again, and the call ends when it is answered.
    CapaAfterStls(CommandId),
}

/// The state of the call in progress.
#[derive(Debug)]
struct Call {
    progress: Progress,
    tls: Tls,
    sink_error: Option<io::Error>,
}

impl Call {
    fn new(handshake_first: bool) -> Self {
        Self {
            progress: Progress::Polling,
            tls: if handshake_first {
                Tls::Owed
            } else {
                Tls::None
            },
            sink_error: None,
        }
    }
}

/// The protocol core with everything a session decides without I/O. A driver owns one inside its
/// [`Session`](crate::Session) and runs each operation as: [`begin`](Self::begin), then [`step`](Self::step)
/// doing what each [`Action`] says until [`Action::Done`], then [`finish`](Self::finish). Any driver error goes
/// through [`fail`](Self::fail), which closes the session for good.
pub struct Conversation {
    client: Client,
    /// This session's own: its level may be changed ([`Session::set_debuglevel`](crate::Session::set_debuglevel)).
    trace: Trace,
    /// Shared with the builder and every other session opened with it.
    settings: Arc<Shared>,
    tls_config: Option<Arc<ClientConfig>>,
    status: Status,
    call: Call,
    /// When the response being read must be complete.
    deadline: Option<Instant>,
    /// Whether CAPA was asked for a batch in this session: a server that refused it is not asked again.
    capabilities_probed: bool,
}

impl fmt::Debug for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conversation")
            .field("client", &self.client)
            .field("host", &self.settings.host)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Why a session refuses every call after a call's future was dropped before it finished.
const CANCELLED: &str = "a previous command was cancelled";

impl Conversation {
    pub(crate) fn new(settings: Settings) -> Result<Self> {
        let settings = settings.shared;
        let tls_config = match settings.security {
            crate::Security::Plaintext => None,
            _ => Some(settings.tls.client_config()?),
        };
        Ok(Self {
            client: Client::new(settings.core_config()),
            trace: settings.trace.clone(),
            settings,
            tls_config,
            status: Status::Ready,
            call: Call::new(false),
            deadline: None,
            capabilities_probed: false,
        })
    }

    /// The settings of the builder this session was opened with.
    pub(crate) fn settings(&self) -> &Shared {
        &self.settings
    }

    /// The protocol core.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What this session learnt of the server that the next one may use early: `None` until CAPA is answered.
    pub(crate) fn known_capabilities(&self) -> Option<crate::KnownCapabilities> {
        let capabilities = self.client.capabilities()?;
        Some(crate::KnownCapabilities::new(
            &self.settings.host,
            self.settings.port(),
            self.settings.security,
            capabilities.pipelining(),
            capabilities.utf8(),
        ))
    }

    /// The time limits in force.
    pub fn timeouts(&self) -> Timeouts {
        self.settings.timeouts
    }

    pub(crate) fn set_debuglevel(&mut self, level: u8) {
        self.trace.level = level;
    }

    /// Whether a batch should ask CAPA first: the capabilities are unknown and were not asked for already.
    pub(crate) fn probe_capabilities(&mut self) -> bool {
        let ask = self.client.capabilities().is_none() && !self.capabilities_probed;
        self.capabilities_probed |= ask;
        ask
    }

    /// Fresh random bytes for a SCRAM nonce, from this session's crypto provider.
    pub(crate) fn nonce(&self) -> Result<Vec<u8>> {
        let mut nonce = vec![0; 24];
        tls::random(self.tls_config.as_deref(), &mut nonce)?;
        Ok(nonce)
    }

    /// Starts an operation: refuses if the session is closed (or the last call was cancelled half-way), then
    /// queues the operation's first commands.
    ///
    /// # Errors
    /// [`Error::Closed`], or the operation refused before anything was sent (the session stays usable).
    pub fn begin<O: Operation>(&mut self, op: &mut O) -> Result<()> {
        match self.status {
            Status::Closed(why) => return Err(Error::Closed(Some(why))),
            Status::Busy => {
                self.status = Status::Closed(CANCELLED);
                return Err(Error::Closed(Some(CANCELLED)));
            }
            Status::Ready => {}
        }
        self.call = Call::new(op.handshake_first());
        if op.start(&mut self.client)? == Flow::Finished {
            self.call.progress = Progress::Finished;
        }
        self.status = Status::Busy;
        Ok(())
    }

    /// The next thing to do.
    ///
    /// # Errors
    /// The server broke the protocol or a time limit passed (the session is then closed), or the operation's next
    /// command was refused before sending (the session stays usable).
    pub fn step<O: Operation>(&mut self, op: &mut O) -> Result<Action<'_>> {
        if self.call.tls == Tls::Owed {
            self.call.tls = Tls::None;
            return self.handshake();
        }
        if self.call.progress == Progress::Resuming {
            self.call.progress = Progress::Polling;
            match op.resume(&mut self.client) {
                Ok(Flow::Finished) => self.call.progress = Progress::Finished,
                Ok(_) => {}
                Err(error) => return Err(self.end(error)),
            }
        }
        // Bytes that may follow the last answer (unsolicited, or the next answer of a desynchronised server) are
        // the next call's to read, not this one's.
        match self.call.progress {
            Progress::Finished if op.closes_session() => {
                self.call.progress = Progress::Closed;
                return Ok(Action::Close);
            }
            Progress::Finished | Progress::Closed => return Ok(Action::Done),
            Progress::Polling | Progress::Resuming => {}
        }
        let output = match self.client.poll() {
            Ok(output) => output,
            Err(error) => return Err(end(&mut self.status, Error::Protocol(error))),
        };
        match output {
            Output::Transmit(transmit) => {
                self.trace.sent(&transmit);
                Ok(Action::Write(transmit.bytes()))
            }
            Output::Event(event) => {
                self.trace.received(&event);
                let finishes = event.finishes();
                if finishes.is_some() || matches!(event, Event::Greeting { .. }) {
                    // The next response gets a whole time limit of its own.
                    self.deadline = None;
                }
                let flow = op.on_event(&event);
                if matches!(self.call.tls, Tls::CapaAfterStls(capa) if finishes == Some(capa)) {
                    self.call.progress = Progress::Finished;
                    return Ok(Action::Continue);
                }
                match flow {
                    Flow::Continue => {}
                    Flow::Resume => self.call.progress = Progress::Resuming,
                    Flow::Finished => self.call.progress = Progress::Finished,
                    Flow::Deliver => {
                        if let (Event::Body { chunk, .. }, None) = (event, &self.call.sink_error) {
                            return Ok(Action::Deliver(chunk));
                        }
                    }
                }
                Ok(Action::Continue)
            }
            Output::NeedInput => {
                let limit = self.settings.timeouts.response.map(|limit| {
                    let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + limit);
                    deadline.saturating_duration_since(Instant::now())
                });
                if limit.is_some_and(|left| left.is_zero()) {
                    let error = Error::Timeout("waiting for the server's response");
                    return Err(end(&mut self.status, error));
                }
                let timeout = match (limit, self.settings.timeouts.read) {
                    (Some(left), Some(read)) => Some(left.min(read)),
                    (left, read) => left.or(read),
                };
                Ok(Action::Read { timeout })
            }
            Output::StartTls => {
                self.call.tls = Tls::AfterStls;
                handshake(&mut self.tls_config, &self.settings)
                    .map_err(|error| end(&mut self.status, error))
            }
            Output::Idle => Err(end(
                &mut self.status,
                Error::Closed(Some("the response never finished")),
            )),
            Output::Closed => {
                let error = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                );
                Err(end(&mut self.status, Error::Io(error)))
            }
        }
    }

    fn handshake(&mut self) -> Result<Action<'_>> {
        handshake(&mut self.tls_config, &self.settings)
    }

    /// Reports that the bytes of [`Action::Write`] were all written.
    pub fn written(&mut self, octets: usize) {
        self.client.consume_output(octets);
    }

    /// Where the driver reads into, after [`Action::Read`].
    pub fn input_buffer(&mut self) -> &mut [u8] {
        self.client.input_buffer()
    }

    /// Reports what a read after [`Action::Read`] placed in the input buffer; 0 is the end of the stream.
    pub fn received(&mut self, octets: usize) {
        if octets == 0 {
            self.client.handle_eof();
        } else {
            self.client.commit_input(octets);
        }
    }

    /// Reports that the handshake asked by [`Action::Handshake`] succeeded.
    pub fn handshake_done(&mut self) {
        self.deadline = None;
        self.trace.note(format_args!("TLS established"));
        if self.call.tls == Tls::AfterStls {
            // The core forgets what it learnt in clear and asks CAPA again; this call ends with its answer.
            match self.client.handle_tls_established() {
                Some(capa) => self.call.tls = Tls::CapaAfterStls(capa),
                None => self.call.progress = Progress::Finished,
            }
        }
    }

    /// Reports that the caller's sink refused a chunk: the rest of the answer is read and dropped, and the call
    /// ends with [`Error::Sink`].
    pub fn sink_failed(&mut self, error: io::Error) {
        self.call.sink_error.get_or_insert(error);
    }

    /// Ends the call with a driver's failure (I/O, TLS, time); the session is closed for good.
    pub fn fail(&mut self, error: Error) -> Error {
        // A read cut short by the whole-response limit is that limit's doing, not the per-read one's.
        let error = match error {
            Error::Timeout(_) if self.deadline.is_some_and(|end| Instant::now() >= end) => {
                Error::Timeout("waiting for the server's response")
            }
            other => other,
        };
        self.status = Status::Closed(error.ends_session().unwrap_or("the connection failed"));
        error
    }

    /// Ends the call with an error that may leave the session usable.
    fn end(&mut self, error: Error) -> Error {
        end(&mut self.status, error)
    }

    /// The operation's result, after [`Action::Done`].
    ///
    /// # Errors
    /// What the server answered (`-ERR`, an answer over a limit) or the caller's sink failing.
    pub fn finish<O: Operation>(&mut self, op: O) -> Result<O::Output> {
        // Between calls the session is idle, maybe for long: it keeps no receive buffer.
        self.client.release_idle_buffer();
        self.status = if op.closes_session() {
            Status::Closed("QUIT was sent")
        } else if self.client.state() == State::Closed {
            Status::Closed("the server ended the session")
        } else {
            Status::Ready
        };
        let result = op.finish();
        match self.call.sink_error.take() {
            Some(error) if result.is_ok() => Err(Error::Sink(error)),
            _ => result,
        }
    }
}

/// Closes the session if `error` ends it, else leaves it ready for the next call.
fn end(status: &mut Status, error: Error) -> Error {
    *status = match error.ends_session() {
        Some(why) => Status::Closed(why),
        None => Status::Ready,
    };
    error
}

/// The handshake to ask for, with the session's TLS configuration (built on first use: a plaintext session may ask
/// STLS later).
fn handshake(config: &mut Option<Arc<ClientConfig>>, settings: &Shared) -> Result<Action<'static>> {
    let config = match config {
        Some(config) => config.clone(),
        None => config.insert(settings.tls.client_config()?).clone(),
    };
    Ok(Action::Handshake {
        config,
        name: tls::server_name(&settings.host)?,
        timeout: settings.timeouts.response,
    })
}

#[cfg(test)]
mod tests {
    use pop3_proto::Command;

    use super::*;
    use crate::op::{self, Single};
    use crate::{Builder, Security};

    fn plaintext() -> Conversation {
        let builder = Builder::<()>::new("127.0.0.1").security(Security::Plaintext);
        Conversation::new(builder.settings().clone()).unwrap()
    }

    /// Runs `op` as a driver would, the server answering with `replies`, one read each.
    fn run<O: Operation>(
        conversation: &mut Conversation,
        mut op: O,
        replies: &[&str],
    ) -> O::Output {
        let mut replies = replies.iter();
        conversation.begin(&mut op).unwrap();
        loop {
            match conversation.step(&mut op).unwrap() {
                Action::Continue => {}
                Action::Write(bytes) => {
                    let octets = bytes.len();
                    conversation.written(octets);
                }
                Action::Read { .. } => {
                    let reply = replies
                        .next()
                        .expect("a read after the last reply")
                        .as_bytes();
                    conversation.input_buffer()[..reply.len()].copy_from_slice(reply);
                    conversation.received(reply.len());
                }
                Action::Done => return conversation.finish(op).unwrap(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// What the core's `Debug` shows of its receive buffer.
    fn receive_buffer(conversation: &Conversation) -> String {
        let debug = format!("{:?}", conversation.client());
        let at = debug.find("capacity: ").expect("the receive buffer's size");
        debug[at..].split(',').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_session_between_calls_holds_no_receive_buffer() {
        let mut conversation = plaintext();
        run(
            &mut conversation,
            op::Greeting::new(Security::Plaintext),
            &["+OK ready\r\n"],
        );
        assert_eq!(receive_buffer(&conversation), "capacity: 0");
        let capabilities = run(
            &mut conversation,
            Single::new(Ok(Command::Capa), op::Capa::default()),
            &["+OK\r\nUIDL\r\n", "TOP\r\n.\r\n"],
        );
        assert!(capabilities.uidl() && capabilities.top());
        assert_eq!(receive_buffer(&conversation), "capacity: 0");
    }

    #[test]
    fn sessions_of_one_builder_share_its_settings() {
        let builder = Builder::<()>::new("127.0.0.1").security(Security::Plaintext);
        let first = Conversation::new(builder.settings().clone()).unwrap();
        let second = Conversation::new(builder.settings().clone()).unwrap();
        assert!(std::ptr::eq(first.settings(), second.settings()));
        // A builder changed afterwards changes its own copy, not the sessions already open.
        let changed = builder.clone().max_message_size(1024);
        let third = Conversation::new(changed.settings().clone()).unwrap();
        assert!(!std::ptr::eq(first.settings(), third.settings()));
        assert_eq!(first.settings().max_message_size, 256 * 1024 * 1024);
        assert_eq!(third.settings().max_message_size, 1024);
    }
}
