//! The client: input bytes and commands in, bytes to write and events out.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ops::Range;

use crate::apop;
use crate::auth::{Answer, SaslRun};
use crate::capability::{Capabilities, Capability};
use crate::command::Command;
use crate::config::{Config, Pipelining};
use crate::dot::{DotFinders, Step, Unstuffer};
use crate::encode::encode;
use crate::error::{Error, Excerpt, InvalidReply, SendError};
use crate::event::{CommandId, Event, Output};
use crate::numbering::Numbering;
use crate::output::Outgoing;
use crate::pipeline::{InFlight, Pipeline, Queued};
use crate::receive::Receiver;
use crate::response::{self, Reply, Status};
use crate::sasl::SaslError;
use crate::state::{self, Flags, State, Verb};

/// Where the response to the oldest in-flight command stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for its status line (or, for AUTH, a challenge).
    Head,
    /// Inside a line-based multi-line response (LIST, UIDL, CAPA, LANG).
    Lines(Listing),
    /// Inside a body (RETR, TOP, raw).
    Body(Unstuffer),
}

/// How a LIST or UIDL listing has gone so far.
#[derive(Debug, Default)]
struct Listing {
    /// The message number of the last entry, which the next must exceed.
    last: Option<u64>,
    /// The first fault; the rest of the listing is read to its end and dropped.
    invalid: Option<InvalidReply>,
}

impl Listing {
    /// An entry did not have the RFC 1939 form.
    #[cold]
    fn fail_malformed(&mut self, line: &[u8]) {
        self.invalid = Some(InvalidReply::MalformedListing {
            line: Excerpt::new(line),
        });
    }
}

/// An event decided but not yet handed out. Text is kept as ranges into the receive buffer, whose bytes stay put
/// until the queue of these is empty.
#[derive(Debug)]
enum Pending {
    Greeting {
        ok: bool,
        text: Range<usize>,
    },
    Ok {
        id: CommandId,
        text: Range<usize>,
    },
    Err {
        id: CommandId,
        text: Range<usize>,
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
        uid: Range<usize>,
    },
    Capabilities {
        id: CommandId,
    },
    Line {
        id: CommandId,
        line: Range<usize>,
    },
    Body {
        id: CommandId,
        chunk: Range<usize>,
    },
    AuthCancelled {
        id: CommandId,
        reason: SaslError,
    },
    AuthFailureDetails {
        id: CommandId,
    },
    Invalid {
        id: CommandId,
        error: InvalidReply,
    },
    Done {
        id: CommandId,
    },
}

/// A sans-IO POP3 client session.
///
/// See the [crate documentation](crate) for the driving contract and a complete loop. Its `Debug` form shows no
/// secret: queued and unwritten command lines appear as traces show them, credentials replaced by `<redacted>`.
#[derive(Debug)]
pub struct Client {
    config: Config,
    state: State,
    /// The state the session will be in once everything queued has succeeded.
    projected: State,
    /// A queued or in-flight command whose response decides the next state.
    deciding: Option<Verb>,
    /// The caller knows from an earlier session that the server pipelines; good until this session's first CAPA
    /// is answered.
    pipelining_remembered: bool,
    flags: Flags,
    rx: Receiver,
    out: Outgoing,
    pipeline: Pipeline,
    phase: Phase,
    pending: VecDeque<Pending>,
    next_id: u64,
    numbering: Numbering,
    greeting: Option<Vec<u8>>,
    capabilities: Option<Capabilities>,
    capabilities_building: Capabilities,
    /// Boxed: only an AUTH exchange has one, and inline it would make every client larger.
    sasl: Option<Box<SaslRun>>,
    error: Option<Error>,
}

impl Client {
    /// A session that waits for the server's greeting. Commands may be sent at once; they go out after it.
    pub fn new(config: Config) -> Self {
        Self {
            state: State::Greeting,
            projected: State::Authorization,
            deciding: None,
            pipelining_remembered: config.pipelining == Pipelining::Remembered,
            flags: Flags {
                tls_active: config.tls_active,
                ..Flags::default()
            },
            rx: Receiver::new(config.line_endings),
            out: Outgoing::default(),
            pipeline: Pipeline::default(),
            phase: Phase::Head,
            pending: VecDeque::new(),
            next_id: 0,
            numbering: Numbering::default(),
            greeting: None,
            capabilities: None,
            capabilities_building: Capabilities::default(),
            sasl: None,
            error: None,
            config,
        }
    }

    /// The settings this session runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the session is. [`State::Update`] while a QUIT sent in Transaction awaits its answer.
    pub fn state(&self) -> State {
        if self.error.is_some() {
            return State::Closed;
        }
        if self.state == State::Transaction && self.pipeline.quit_in_flight() {
            return State::Update;
        }
        self.state
    }

    /// The greeting's text after `+OK`, as bytes, once it arrived.
    pub fn greeting(&self) -> Option<&[u8]> {
        self.greeting.as_deref()
    }

    /// The APOP timestamp in the greeting, if it is a valid RFC 822 msg-id.
    pub fn apop_timestamp(&self) -> Option<&[u8]> {
        self.greeting.as_deref().and_then(apop::find_timestamp)
    }

    /// The capabilities from the last complete CAPA, or `None` if not asked or forgotten at STLS.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// Whether the transport is encrypted (implicit TLS, or STLS completed).
    pub fn is_tls_active(&self) -> bool {
        self.flags.tls_active
    }

    /// Whether responses are framed LF-only: configured, or detected from the first status line (the greeting,
    /// or after STLS the first encrypted one).
    pub fn is_lf_only(&self) -> bool {
        self.rx.lf_only()
    }

    /// The fatal error, if the server broke the protocol.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Commands sent but not yet answered in full, plus those waiting to be released.
    pub fn outstanding(&self) -> usize {
        self.pipeline.outstanding()
    }

    /// Queues a command after checking it against the state the session will be in when it runs and checking its
    /// arguments. Nothing changes if it is refused.
    ///
    /// # Errors
    /// [`SendError`] says why the command was refused.
    pub fn send(&mut self, command: Command<'_>) -> Result<CommandId, SendError> {
        let verb = command.verb();
        if self.error.is_some() || self.projected == State::Closed {
            return Err(SendError::Closed);
        }
        let behind_login = |pending: Verb| {
            self.pipelines()
                && matches!(pending, Verb::Pass | Verb::Apop)
                && verb.may_follow_login()
        };
        if let Some(pending) = self.deciding.filter(|&pending| !behind_login(pending)) {
            return Err(SendError::OutcomePending {
                command: verb.keyword(),
                pending: pending.keyword(),
            });
        }
        if !state::allowed(verb, self.projected) {
            return Err(SendError::WrongState {
                command: verb.keyword(),
                state: self.projected,
            });
        }
        self.flags
            .check(verb, self.config.allow_plaintext_credentials)?;
        if let Command::Raw { line, .. } = &command {
            refuse_typed_raw(line)?;
        }
        if verb == Verb::Apop && self.greeting.is_none() && self.state == State::Greeting {
            return Err(SendError::OutcomePending {
                command: "APOP",
                pending: "greeting",
            });
        }
        let multiline = command.multiline();
        let asked = command.asked_message();
        let encoded = encode(
            command,
            self.apop_timestamp(),
            self.config.sasl_initial_response,
        )?;
        if let Some(run) = encoded.sasl {
            self.sasl = Some(Box::new(run));
        }
        let id = CommandId(self.next_id);
        self.next_id += 1;
        self.projected = state::after_response(verb, true, self.projected);
        if verb.decides_state() {
            self.deciding = Some(verb);
        }
        self.flags.queued(verb);
        self.pipeline.push(Queued {
            id,
            verb,
            multiline,
            asked,
            line: encoded.line,
            secret_from: encoded.secret_from,
        });
        Ok(id)
    }

    /// Appends bytes received from the server. Call [`Client::poll`] afterwards.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.error.is_some() {
            return;
        }
        let may_compact = self.pending.is_empty();
        let spare = self.rx.input_buffer_sized(bytes.len(), may_compact);
        spare[..bytes.len()].copy_from_slice(bytes);
        self.commit_input(bytes.len());
    }

    /// Space to read into directly (then call [`Client::commit_input`]), so body bytes are copied once from the
    /// socket to the application. It starts at 8 KiB and doubles while reads fill it, up to [`Config::read_size`].
    /// Asking for it without committing anything changes nothing.
    pub fn input_buffer(&mut self) -> &mut [u8] {
        let may_compact = self.pending.is_empty();
        self.rx.input_buffer(may_compact)
    }

    /// Marks the first `n` octets of [`Client::input_buffer`] as received. Call [`Client::poll`] afterwards.
    pub fn commit_input(&mut self, n: usize) {
        if self.error.is_some() {
            return;
        }
        self.rx.commit(n, self.config.read_size);
        if n > 0 && self.flags.starting_tls {
            self.fail(Error::DataAfterStls);
        }
    }

    /// The server closed the connection. Fatal in the middle of a response; the end of the session otherwise.
    pub fn handle_eof(&mut self) {
        if self.error.is_some() || self.state == State::Closed {
            return;
        }
        // Waiting for the TLS handshake counts as mid-response: the session cannot go on in clear.
        if self.state == State::Greeting
            || self.flags.starting_tls
            || self.pipeline.in_flight()
            || self.rx.has_data()
        {
            self.fail(Error::UnexpectedEof);
        } else {
            self.close();
        }
    }

    /// The driver finished the TLS handshake that [`Output::StartTls`] asked for. What was learnt from cleartext
    /// is forgotten: the capabilities (RFC 2595 §4), and the line endings, so the configured
    /// [`LineEndings`](crate::LineEndings) mode applies again and any detection starts over from encrypted bytes.
    /// If [`Config::recapa_after_tls`] is set, CAPA is queued again and its id returned.
    pub fn handle_tls_established(&mut self) -> Option<CommandId> {
        if !self.flags.starting_tls || self.error.is_some() {
            return None;
        }
        self.flags.starting_tls = false;
        self.flags.tls_active = true;
        self.capabilities = None;
        self.rx.restart_framing(self.config.line_endings);
        if self.config.recapa_after_tls {
            self.send(Command::Capa).ok()
        } else {
            None
        }
    }

    /// The driver wrote the first `n` octets of the pending output (the bytes of the last [`Output::Transmit`]):
    /// they leave the output, and the rest is offered again by the next `poll`. `n` may be less than what was
    /// offered (a partial write); more than is pending counts as all of it.
    pub fn consume_output(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// The output pending now, as the next [`Output::Transmit`] would offer it.
    #[cfg(feature = "std")]
    pub(crate) fn pending_output(&self) -> &[u8] {
        self.out.transmit().bytes()
    }

    /// Whether output is pending: from the `poll` that returned an [`Output::Transmit`] until
    /// [`consume_output`](Client::consume_output) took all of it. A reactor registers write interest while this
    /// holds. Commands just sent are released to the output by the next `poll`.
    pub fn wants_write(&self) -> bool {
        self.error.is_none() && !self.out.is_empty()
    }

    /// Whether the server owes bytes: the greeting, or an answer to a command written or being written. A reactor
    /// registers read interest while this holds.
    ///
    /// It is false while the session is idle, since nothing is owed then. Reading while idle is still harmless and
    /// lets a long-lived session notice at once that the server closed ([`handle_eof`](Client::handle_eof), then
    /// [`Output::Closed`]) or sent an unsolicited line (a fatal [`Error::Unsolicited`]); a blocking driver should not
    /// block on a read while idle. It is false during the TLS handshake too: the TLS layer reads then, and
    /// cleartext bytes for the client would be an injection.
    pub fn wants_read(&self) -> bool {
        self.error.is_none()
            && !self.flags.starting_tls
            && self.state != State::Closed
            && (self.state == State::Greeting || self.pipeline.in_flight())
    }

    /// Whether the session waits on the server alone: everything is written and an answer (or the greeting) is
    /// owed. This is when a driver's response timer runs; see "Deadlines" in the [crate documentation](crate).
    pub fn awaiting_response(&self) -> bool {
        self.wants_read() && self.out.is_empty()
    }

    /// The newest command whose bytes have all been consumed as written. Commands are written in the order of
    /// their ids, so every command up to this one is on its way to the server: a driver that notes when this
    /// moves can time each command from its last byte written to the event that finishes it.
    pub fn sent_through(&self) -> Option<CommandId> {
        self.out.sent_through()
    }

    /// The next thing to do. See [`Output`] for what each answer asks of the driver.
    ///
    /// # Errors
    /// The server broke the protocol. The error is sticky: every later call returns it again.
    pub fn poll(&mut self) -> Result<Output<'_>, Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        // An answer owed to the server (to a SASL challenge, or `*`) goes out before more input is read, so what is
        // written never depends on how the server's bytes were split.
        if self.pending.is_empty() && !self.flags.starting_tls && !self.out.owes_answer() {
            match self.parse() {
                Ok(Some(hot)) => return Ok(Output::Event(self.materialize(hot))),
                Ok(None) => {}
                Err(error) => {
                    self.fail(error.clone());
                    return Err(error);
                }
            }
        }
        if let Some(pending) = self.pending.pop_front() {
            return Ok(Output::Event(self.materialize(pending)));
        }
        self.release();
        if !self.out.is_empty() {
            return Ok(Output::Transmit(self.out.transmit()));
        }
        Ok(if self.flags.starting_tls {
            Output::StartTls
        } else if self.state == State::Closed {
            Output::Closed
        } else if self.state == State::Greeting || self.pipeline.in_flight() {
            Output::NeedInput
        } else {
            self.release_idle_buffer();
            Output::Idle
        })
    }

    /// Frees the receive buffer if no answer is awaited and nothing received is left to parse, so that a session
    /// left idle holds none (thousands of idle sessions then cost little); the next read allocates it again.
    /// [`Client::poll`] does it whenever it answers [`Output::Idle`]; a caller that stops polling once the answer
    /// it waited for is in (rather than polling on to [`Output::Idle`]) calls this when it is done for now.
    pub fn release_idle_buffer(&mut self) {
        let awaiting = self.state == State::Greeting || self.pipeline.in_flight();
        if !awaiting && self.pending.is_empty() {
            self.rx.release_if_idle();
        }
    }

    fn fail(&mut self, error: Error) {
        self.error = Some(error);
        self.projected = State::Closed;
        self.pipeline.drop_queued();
        self.pending.clear();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.projected = State::Closed;
        self.pipeline.drop_queued();
    }

    /// Whether commands are pipelined: not [`Pipelining::Never`], and this session's own CAPA listed PIPELINING
    /// (RFC 2449 §6.6), or none was answered yet and the caller [remembers](Pipelining::Remembered) it. Then USER, PASS and APOP travel together, the read-only Transaction commands (STAT, LIST, UIDL, TOP,
    /// RETR, NOOP) and QUIT may be sent behind a PASS or APOP whose answer is still to come (if the login fails,
    /// the server answers them `-ERR` and nothing changes), and QUIT may follow a batch. STLS, AUTH, RPOP and UTF8
    /// still go out alone.
    pub fn pipelines(&self) -> bool {
        self.config.pipelining != Pipelining::Never
            && match &self.capabilities {
                Some(capabilities) => capabilities.pipelining(),
                None => self.pipelining_remembered,
            }
    }

    /// Moves queued commands to the output buffer as far as the pipelining policy allows.
    fn release(&mut self) {
        if matches!(self.state, State::Greeting | State::Closed) || self.flags.starting_tls {
            return;
        }
        let pipelining = self.pipelines();
        self.pipeline
            .release(pipelining, self.config.max_in_flight_bytes, &mut self.out);
    }

    /// Advances parsing by one step. Returns a body chunk or a listing entry directly (the hot paths, which then
    /// skip the queue); everything else goes to `pending`. `Ok(None)` with nothing pending means more input is
    /// needed.
    fn parse(&mut self) -> Result<Option<Pending>, Error> {
        loop {
            if self.state == State::Greeting {
                return self.parse_greeting().map(|()| None);
            }
            let Some(front) = self.pipeline.front() else {
                if self.rx.has_data() && self.state != State::Closed {
                    return Err(Error::Unsolicited {
                        data: Excerpt::new(self.rx.unread()),
                    });
                }
                self.rx.discard();
                return Ok(None);
            };
            match &mut self.phase {
                Phase::Body(unstuffer) => {
                    match unstuffer.step(self.rx.unread(), DotFinders::shared()) {
                        Step::Data { skip, len } => {
                            let start = self.rx.position() + skip;
                            self.rx.advance(skip + len);
                            if len > 0 {
                                let chunk = start..start + len;
                                return Ok(Some(Pending::Body {
                                    id: front.id,
                                    chunk,
                                }));
                            }
                        }
                        Step::End { len } => {
                            self.rx.advance(len);
                            self.finish_front(front, true);
                            self.hold(Pending::Done { id: front.id });
                            return Ok(None);
                        }
                        Step::NeedInput => return Ok(None),
                    }
                }
                Phase::Lines(_) => {
                    let Some(line) = self.rx.take_line(self.config.max_line_len)? else {
                        return Ok(None);
                    };
                    if let Some(entry) = self.parse_listing_line(front, line) {
                        return Ok(Some(entry));
                    }
                    if !self.pending.is_empty() {
                        return Ok(None);
                    }
                }
                Phase::Head => {
                    let Some(line) = self.rx.take_line(self.config.max_line_len)? else {
                        return Ok(None);
                    };
                    self.rx.note_status_line();
                    self.parse_status_line(front, line)?;
                    if !self.pending.is_empty() || self.out.owes_answer() {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn parse_greeting(&mut self) -> Result<(), Error> {
        let Some(line) = self.rx.take_line(self.config.max_line_len)? else {
            return Ok(());
        };
        let ok = match response::parse_status(self.rx.bytes(line.clone())) {
            Some(Status::Ok(_)) => true,
            Some(Status::Err(_)) => false,
            _ => {
                return Err(Error::MalformedStatus {
                    line: Excerpt::new(self.rx.bytes(line)),
                });
            }
        };
        self.rx.note_status_line();
        let text = text_range(&line, ok);
        self.greeting = Some(self.rx.bytes(text.clone()).to_vec());
        self.state = state::after_greeting(ok);
        if !ok {
            self.close();
        }
        self.hold(Pending::Greeting { ok, text });
        Ok(())
    }

    fn parse_status_line(&mut self, front: InFlight, line: Range<usize>) -> Result<(), Error> {
        let id = front.id;
        let status = response::parse_status(self.rx.bytes(line.clone())).ok_or_else(|| {
            Error::MalformedStatus {
                line: Excerpt::new(self.rx.bytes(line.clone())),
            }
        })?;
        let reply = match status {
            Status::Continuation(challenge) => {
                if front.verb != Verb::Auth {
                    return Err(Error::UnexpectedContinuation);
                }
                let challenge = challenge.to_vec();
                return self.answer_challenge(id, &challenge);
            }
            Status::Err(_) => {
                let failure_details = self
                    .sasl
                    .as_ref()
                    .is_some_and(|run| run.exchange.failure_details().is_some());
                if front.verb == Verb::Auth && failure_details {
                    self.hold(Pending::AuthFailureDetails { id });
                }
                self.finish_front(front, false);
                self.hold(Pending::Err {
                    id,
                    text: text_range(&line, false),
                });
                return Ok(());
            }
            Status::Ok(reply) => reply,
        };
        match front.verb {
            Verb::Stls if self.rx.has_data() => return Err(Error::DataAfterStls),
            Verb::Stls => self.flags.starting_tls = true,
            Verb::Auth => {
                if let Some(run) = &self.sasl {
                    // RFC 5034 §4: a cancelled exchange MUST end in -ERR; a +OK then is not to be trusted.
                    if run.cancelled {
                        return Err(Error::ServerNotAuthenticated(SaslError::ServerNotVerified));
                    }
                    run.exchange
                        .finish()
                        .map_err(Error::ServerNotAuthenticated)?;
                }
            }
            _ => {}
        }
        let parsed = if front.multiline {
            Ok(None)
        } else {
            let at = offset_in(self.rx.bytes(line.clone()), reply.text) + line.start;
            self.parse_single_listing(front, at..line.end)
        };
        self.numbering.note_ok(
            front.verb,
            match &parsed {
                Ok(Some(Pending::Stat { count, .. })) => Some(*count),
                _ => None,
            },
        );
        self.hold(Pending::Ok {
            id,
            text: text_range(&line, true),
        });
        if front.multiline {
            self.phase = match front.verb {
                Verb::Retr | Verb::Top | Verb::Raw => {
                    Phase::Body(Unstuffer::new(self.rx.lf_only()))
                }
                _ => Phase::Lines(Listing::default()),
            };
            if front.verb == Verb::Capa {
                self.capabilities_building = Capabilities::default();
            }
            return Ok(());
        }
        match parsed {
            Ok(parsed) => {
                self.pending.extend(parsed);
                self.finish_front(front, true);
                self.hold(Pending::Done { id });
            }
            Err(error) => {
                self.finish_front(front, true);
                self.hold(Pending::Invalid { id, error });
            }
        }
        Ok(())
    }

    /// The listing a single-line `+OK` carries: STAT's, or `LIST n`'s and `UIDL n`'s about the message asked.
    fn parse_single_listing(
        &self,
        front: InFlight,
        text: Range<usize>,
    ) -> Result<Option<Pending>, InvalidReply> {
        let id = front.id;
        let bytes = self.rx.bytes(text.clone());
        let malformed = || InvalidReply::MalformedListing {
            line: Excerpt::new(bytes),
        };
        Ok(Some(match front.verb {
            Verb::Stat => {
                let (count, octets) = response::parse_drop_listing(bytes).ok_or_else(malformed)?;
                Pending::Stat { id, count, octets }
            }
            Verb::List => {
                let (msg, octets) = response::parse_scan_listing(bytes).ok_or_else(malformed)?;
                self.numbering.check(front.asked, None, msg)?;
                Pending::Scan { id, msg, octets }
            }
            Verb::Uidl => {
                let (msg, uid) = response::parse_unique_id_listing(bytes).ok_or_else(malformed)?;
                self.numbering.check(front.asked, None, msg)?;
                let at = text.start + offset_in(bytes, uid);
                Pending::UniqueId {
                    id,
                    msg,
                    uid: at..at + uid.len(),
                }
            }
            _ => return Ok(None),
        }))
    }

    /// Parses one line of a multi-line listing; returns the entry to hand out now, if any.
    fn parse_listing_line(&mut self, front: InFlight, line: Range<usize>) -> Option<Pending> {
        let id = front.id;
        let bytes = self.rx.bytes(line.clone());
        // As in bodies, only a CRLF-ended dot ends the response on a CRLF server (a bare-LF `.` line is data,
        // and here malformed data).
        if bytes == b"." && (self.rx.line_had_cr() || self.rx.lf_only()) {
            if front.verb == Verb::Capa {
                self.capabilities = Some(core::mem::take(&mut self.capabilities_building));
                self.hold(Pending::Capabilities { id });
            }
            let invalid = match &mut self.phase {
                Phase::Lines(listing) => listing.invalid.take(),
                _ => None,
            };
            self.finish_front(front, true);
            self.hold(match invalid {
                Some(error) => Pending::Invalid { id, error },
                None => Pending::Done { id },
            });
            return None;
        }
        let line = if bytes.starts_with(b".") {
            line.start + 1..line.end
        } else {
            line
        };
        let bytes = self.rx.bytes(line.clone());
        let Phase::Lines(listing) = &mut self.phase else {
            return None;
        };
        if listing.invalid.is_some() {
            return None;
        }
        let (msg, entry) = match front.verb {
            Verb::List => match response::parse_scan_listing(bytes) {
                Some((msg, octets)) => (msg, Pending::Scan { id, msg, octets }),
                None => {
                    listing.fail_malformed(bytes);
                    return None;
                }
            },
            Verb::Uidl => match response::parse_unique_id_listing(bytes) {
                Some((msg, uid)) => {
                    let at = line.start + offset_in(bytes, uid);
                    let uid = at..at + uid.len();
                    (msg, Pending::UniqueId { id, msg, uid })
                }
                None => {
                    listing.fail_malformed(bytes);
                    return None;
                }
            },
            Verb::Capa => {
                if self.capabilities_building.len() < self.config.max_capabilities {
                    if let Some(capability) = Capability::parse(bytes) {
                        self.capabilities_building.push(capability);
                    }
                }
                return None;
            }
            _ => return Some(Pending::Line { id, line }),
        };
        match self.numbering.check(None, listing.last, msg) {
            Ok(()) => {
                listing.last = Some(msg);
                Some(entry)
            }
            Err(error) => {
                listing.invalid = Some(error);
                None
            }
        }
    }

    /// Answers one SASL challenge, or cancels the exchange with `*` (RFC 5034 §4).
    fn answer_challenge(&mut self, id: CommandId, challenge: &[u8]) -> Result<(), Error> {
        let run = self.sasl.as_mut().ok_or(Error::UnexpectedContinuation)?;
        match run.answer(challenge, self.config.max_sasl_steps)? {
            Answer::Response(line) => self.out.push_answer(id, &line, true),
            Answer::Cancel(reason) => {
                self.out.push_answer(id, b"*\r\n", false);
                self.pending
                    .push_back(Pending::AuthCancelled { id, reason });
            }
        }
        Ok(())
    }

    /// The response to the oldest in-flight command is complete: apply the transition table.
    fn finish_front(&mut self, front: InFlight, ok: bool) {
        self.pipeline.finish_front();
        self.phase = Phase::Head;
        self.state = state::after_response(front.verb, ok, self.state);
        if front.verb == Verb::Capa {
            self.pipelining_remembered = false;
        }
        if front.verb.decides_state() {
            self.deciding = None;
            // Commands queued behind a login that failed are answered `-ERR` and change nothing; a QUIT among
            // them still ends the session.
            let state = self.state;
            self.projected = self.pipeline.verbs().fold(state, |projected, verb| {
                state::after_response(verb, true, projected)
            });
        }
        if self.state == State::Closed {
            self.close();
        }
    }

    /// Queues an event. Its ranges stay valid because the receive buffer is only compacted while nothing is
    /// pending. One place pushes, so the push stays inlined on the listing path.
    fn hold(&mut self, pending: Pending) {
        self.pending.push_back(pending);
    }

    fn materialize(&self, pending: Pending) -> Event<'_> {
        let text = |range: Range<usize>| Reply::parse(self.rx.bytes(range));
        match pending {
            Pending::Greeting { ok, text: range } => Event::Greeting {
                ok,
                reply: text(range),
            },
            Pending::Ok { id, text: range } => Event::Ok {
                id,
                reply: text(range),
            },
            Pending::Err { id, text: range } => Event::Err {
                id,
                reply: text(range),
            },
            Pending::Stat { id, count, octets } => Event::Stat { id, count, octets },
            Pending::Scan { id, msg, octets } => Event::Scan { id, msg, octets },
            Pending::UniqueId { id, msg, uid } => {
                // Validated as printable ASCII by the listing parser.
                let uid = core::str::from_utf8(self.rx.bytes(uid)).unwrap_or_default();
                Event::UniqueId { id, msg, uid }
            }
            Pending::Capabilities { id } => Event::Capabilities {
                id,
                capabilities: self.capabilities.as_ref().unwrap_or(&EMPTY),
            },
            Pending::Line { id, line } => Event::Line {
                id,
                line: self.rx.bytes(line),
            },
            Pending::Body { id, chunk } => Event::Body {
                id,
                chunk: self.rx.bytes(chunk),
            },
            Pending::AuthCancelled { id, reason } => Event::AuthCancelled { id, reason },
            Pending::AuthFailureDetails { id } => Event::AuthFailureDetails {
                id,
                details: self
                    .sasl
                    .as_ref()
                    .and_then(|run| run.exchange.failure_details())
                    .unwrap_or_default(),
            },
            Pending::Invalid { id, error } => Event::Invalid { id, error },
            Pending::Done { id } => Event::Done { id },
        }
    }
}

static EMPTY: Capabilities = Capabilities::EMPTY;

/// Refuses a raw command that would do what a typed command must do, since its effect on the session state
/// matters. Leading blanks must not hide the keyword: some servers skip them.
fn refuse_typed_raw(line: &str) -> Result<(), SendError> {
    const TYPED: [&str; 8] = [
        "USER", "PASS", "APOP", "RPOP", "AUTH", "STLS", "QUIT", "UTF8",
    ];
    let keyword = line
        .trim_start_matches([' ', '\t'])
        .split([' ', '\t'])
        .next()
        .unwrap_or_default();
    match TYPED.iter().find(|t| t.eq_ignore_ascii_case(keyword)) {
        Some(typed) => Err(SendError::UseTypedCommand(typed)),
        None => Ok(()),
    }
}

/// The text of a status line after `+OK ` or `-ERR `.
fn text_range(line: &Range<usize>, ok: bool) -> Range<usize> {
    let indicator = if ok { 3 } else { 4 };
    (line.start + indicator + 1).min(line.end)..line.end
}

/// Where `inner`, a sub-slice of `outer`, starts within it.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

#[cfg(test)]
mod tests;
