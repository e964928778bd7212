//! The I/O-free half of every driver: runs one [`Operation`] against the core and tells the driver, one
//! [`Action`] at a time, what to do with its connection. Time limits, the trace, TLS set-up points, sink failures
//! and whether the session is still usable are decided here, once.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_proto::{Client, Event, Output, State};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::error::{Error, Result};
use crate::op::{Flow, Operation};
use crate::settings::{Settings, Timeouts};
use crate::tls::{self, TlsOptions};
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

/// A handshake the driver owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    None,
    /// Implicit TLS, before the greeting.
    Implicit,
    /// After STLS: the core learns of it when it is done.
    AfterStls,
}

/// The state of the call in progress.
#[derive(Debug)]
struct Call {
    finished: bool,
    resume: bool,
    handshake: Handshake,
    handshake_pending: bool,
    closes: bool,
    closed: bool,
    /// The CAPA the core sends after STLS: the call ends when it is answered.
    capa_after_tls: Option<pop3_proto::CommandId>,
    sink_error: Option<io::Error>,
}

impl Call {
    fn new() -> Self {
        Self {
            finished: false,
            resume: false,
            handshake: Handshake::None,
            handshake_pending: false,
            closes: false,
            closed: false,
            capa_after_tls: None,
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
    trace: Trace,
    host: String,
    port: u16,
    security: crate::Security,
    timeouts: Timeouts,
    pub(crate) max_message_size: u64,
    pub(crate) max_listing_entries: u64,
    pub(crate) utf8: crate::op::Utf8,
    pub(crate) login_method: Option<crate::LoginMethod>,
    tls_options: TlsOptions,
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
            .field("host", &self.host)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Why a session refuses every call after a call's future was dropped before it finished.
const CANCELLED: &str = "a previous command was cancelled";

impl Conversation {
    pub(crate) fn new(settings: Settings) -> Result<Self> {
        let port = settings.port();
        let utf8 = settings.utf8_step();
        let tls_config = match settings.security {
            crate::Security::Plaintext => None,
            _ => Some(settings.tls.client_config()?),
        };
        Ok(Self {
            client: Client::new(settings.core_config()),
            trace: settings.trace,
            port,
            security: settings.security,
            host: settings.host,
            timeouts: settings.timeouts,
            max_message_size: settings.max_message_size,
            max_listing_entries: settings.max_listing_entries,
            utf8,
            login_method: settings.login_method,
            tls_options: settings.tls,
            tls_config,
            status: Status::Ready,
            call: Call::new(),
            deadline: None,
            capabilities_probed: false,
        })
    }

    /// The protocol core.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What this session learnt of the server that the next one may use early: `None` until CAPA is answered.
    pub(crate) fn known_capabilities(&self) -> Option<crate::KnownCapabilities> {
        let capabilities = self.client.capabilities()?;
        Some(crate::KnownCapabilities::new(
            &self.host,
            self.port,
            self.security,
            capabilities.pipelining(),
            capabilities.utf8(),
        ))
    }

    /// The time limits in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
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
        self.call = Call::new();
        self.call.closes = op.closes_session();
        if op.handshake_first() {
            self.call.handshake = Handshake::Implicit;
            self.call.handshake_pending = true;
        }
        self.call.finished = op.start(&mut self.client)? == Flow::Finished;
        self.status = Status::Busy;
        Ok(())
    }

    /// The next thing to do.
    ///
    /// # Errors
    /// The server broke the protocol or a time limit passed (the session is then closed), or the operation's next
    /// command was refused before sending (the session stays usable).
    pub fn step<O: Operation>(&mut self, op: &mut O) -> Result<Action<'_>> {
        if self.call.handshake_pending {
            self.call.handshake_pending = false;
            return self.handshake();
        }
        if self.call.resume {
            self.call.resume = false;
            match op.resume(&mut self.client) {
                Ok(flow) => self.call.finished |= flow == Flow::Finished,
                Err(error) => return Err(self.end(error)),
            }
        }
        if self.call.finished {
            // Bytes that may follow (unsolicited, or the next answer of a desynchronised server) are the next
            // call's to read, not this one's.
            if self.call.closes && !self.call.closed {
                self.call.closed = true;
                return Ok(Action::Close);
            }
            return Ok(Action::Done);
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
                if event.finishes().is_some() || matches!(event, Event::Greeting { .. }) {
                    // The next response gets a whole time limit of its own.
                    self.deadline = None;
                }
                if event.finishes().is_some() && event.finishes() == self.call.capa_after_tls {
                    self.call.finished = true;
                }
                match op.on_event(&event) {
                    Flow::Continue => {}
                    Flow::Resume => self.call.resume = true,
                    Flow::Finished => self.call.finished = true,
                    Flow::Deliver => {
                        if let (Event::Body { chunk, .. }, None) = (event, &self.call.sink_error) {
                            return Ok(Action::Deliver(chunk));
                        }
                    }
                }
                Ok(Action::Continue)
            }
            Output::NeedInput => {
                let limit = self.timeouts.response.map(|limit| {
                    let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + limit);
                    deadline.saturating_duration_since(Instant::now())
                });
                if limit.is_some_and(|left| left.is_zero()) {
                    let error = Error::Timeout("waiting for the server's response");
                    return Err(end(&mut self.status, error));
                }
                let timeout = match (limit, self.timeouts.read) {
                    (Some(left), Some(read)) => Some(left.min(read)),
                    (left, read) => left.or(read),
                };
                Ok(Action::Read { timeout })
            }
            Output::StartTls => {
                self.call.handshake = Handshake::AfterStls;
                handshake(
                    &mut self.tls_config,
                    &self.tls_options,
                    &self.host,
                    self.timeouts,
                )
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
        handshake(
            &mut self.tls_config,
            &self.tls_options,
            &self.host,
            self.timeouts,
        )
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
        if self.call.handshake == Handshake::AfterStls {
            // The core forgets what it learnt in clear and asks CAPA again; this call ends with its answer.
            match self.client.handle_tls_established() {
                Some(capa) => self.call.capa_after_tls = Some(capa),
                None => self.call.finished = true,
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
        self.status = if self.call.closes {
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
fn handshake(
    config: &mut Option<Arc<ClientConfig>>,
    options: &TlsOptions,
    host: &str,
    timeouts: Timeouts,
) -> Result<Action<'static>> {
    let config = match config {
        Some(config) => config.clone(),
        None => config.insert(options.client_config()?).clone(),
    };
    Ok(Action::Handshake {
        config,
        name: tls::server_name(host)?,
        timeout: timeouts.response,
    })
}
