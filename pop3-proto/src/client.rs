//! The client: input bytes and commands in, bytes to write and events out.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::apop;
use crate::capability::{Capabilities, Capability};
use crate::command::{Command, LineBuilder, MAX_COMMAND_LINE};
use crate::config::{Config, LineEndings, Pipelining};
use crate::dot::{DotFinders, Step, Unstuffer};
use crate::error::{ArgumentError, Error, Excerpt, SendError};
use crate::event::{CommandId, Event, Output, Transmit};
use crate::response::{self, Reply, Status};
use crate::sasl::{Exchange, SaslError};
use crate::state::{self, State, Verb};

/// The first read size; reads grow from here (see [`Client::input_buffer`]).
const MIN_READ: usize = 8 * 1024;

/// A command waiting to be released.
#[derive(Debug)]
struct Queued {
    id: CommandId,
    verb: Verb,
    multiline: bool,
    line: Vec<u8>,
    redact_from: Option<usize>,
}

/// A command written, its response not complete yet.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: CommandId,
    verb: Verb,
    multiline: bool,
    len: usize,
}

/// Where the response to the oldest in-flight command stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for its status line (or, for AUTH, a challenge).
    Head,
    /// Inside a line-based multi-line response (LIST, UIDL, CAPA, LANG).
    Lines,
    /// Inside a body (RETR, TOP, raw).
    Body(Unstuffer),
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
    AuthCancelled {
        id: CommandId,
        reason: SaslError,
    },
    AuthFailureDetails {
        id: CommandId,
    },
    Done {
        id: CommandId,
    },
}

/// A running AUTH exchange.
#[derive(Debug)]
struct SaslRun {
    exchange: Exchange,
    /// The initial response, when it could not go on the AUTH line: the answer to the first challenge.
    deferred: Option<Vec<u8>>,
    steps: usize,
    cancelled: bool,
}

/// A sans-IO POP3 client session.
///
/// See the [crate documentation](crate) for the driving contract and a complete loop.
#[derive(Debug)]
pub struct Client {
    config: Config,
    state: State,
    /// The state the session will be in once everything queued has succeeded.
    projected: State,
    /// A queued or in-flight command whose response decides the next state.
    deciding: Option<Verb>,
    tls_active: bool,
    stls_tried: bool,
    credentials_sent: bool,
    starting_tls: bool,
    lf_only: bool,

    rx: Vec<u8>,
    rx_start: usize,
    rx_end: usize,
    /// Octets after `rx_start` already searched for a line end without finding one, so that a long line
    /// arriving in small reads is scanned once rather than once per read.
    line_scanned: usize,
    /// Whether the last line taken ended in CRLF rather than a bare LF.
    line_had_cr: bool,
    /// How much [`Client::input_buffer`] offers next: it starts small and doubles while reads fill it, up to
    /// [`Config::read_size`], so an idle session holds little and a bulk transfer reads in large pieces.
    read_hint: usize,
    /// How much the last [`Client::input_buffer`] offered, to tell a full read from a short one.
    offered: usize,

    out: Vec<u8>,
    out_redact_from: Option<usize>,
    out_handed: bool,

    queue: VecDeque<Queued>,
    in_flight: VecDeque<InFlight>,
    in_flight_bytes: usize,
    phase: Phase,
    pending: VecDeque<Pending>,
    next_id: u64,

    greeting: Option<Vec<u8>>,
    capabilities: Option<Capabilities>,
    capabilities_building: Capabilities,
    sasl: Option<SaslRun>,
    finders: DotFinders,
    error: Option<Error>,
}

impl Client {
    /// A session that waits for the server's greeting. Commands may be sent at once; they go out after it.
    pub fn new(config: Config) -> Self {
        let lf_only = config.line_endings == LineEndings::Lf;
        Self {
            state: State::Greeting,
            projected: State::Authorization,
            deciding: None,
            tls_active: config.tls_active,
            stls_tried: false,
            credentials_sent: false,
            starting_tls: false,
            lf_only,
            rx: Vec::new(),
            rx_start: 0,
            rx_end: 0,
            line_scanned: 0,
            line_had_cr: false,
            read_hint: MIN_READ,
            offered: 0,
            out: Vec::new(),
            out_redact_from: None,
            out_handed: false,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            phase: Phase::Head,
            pending: VecDeque::new(),
            next_id: 0,
            greeting: None,
            capabilities: None,
            capabilities_building: Capabilities::default(),
            sasl: None,
            finders: DotFinders::new(),
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
        if self.state == State::Transaction && self.in_flight.iter().any(|c| c.verb == Verb::Quit) {
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
        self.tls_active
    }

    /// Whether the session uses LF-only framing (configured, or detected from the greeting).
    pub fn is_lf_only(&self) -> bool {
        self.lf_only
    }

    /// The fatal error, if the server broke the protocol.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Commands sent but not yet answered in full, plus those waiting to be released.
    pub fn outstanding(&self) -> usize {
        self.in_flight.len() + self.queue.len()
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
        if let Some(pending) = self.deciding {
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
        if verb.carries_credentials()
            && !self.tls_active
            && !self.config.allow_plaintext_credentials
        {
            return Err(SendError::InsecureCredentials);
        }
        if verb == Verb::Stls {
            if self.tls_active {
                return Err(SendError::StlsNotAllowed("TLS is already active"));
            } else if self.stls_tried {
                return Err(SendError::StlsNotAllowed("STLS was already sent"));
            } else if self.credentials_sent {
                return Err(SendError::StlsNotAllowed("credentials were already sent"));
            }
        }
        if let Command::Raw { line, .. } = &command {
            const TYPED: [&str; 8] = [
                "USER", "PASS", "APOP", "RPOP", "AUTH", "STLS", "QUIT", "UTF8",
            ];
            // Leading blanks must not hide the keyword: some servers skip them.
            let keyword = line
                .trim_start_matches([' ', '\t'])
                .split([' ', '\t'])
                .next()
                .unwrap_or_default();
            if let Some(typed) = TYPED.iter().find(|t| t.eq_ignore_ascii_case(keyword)) {
                return Err(SendError::UseTypedCommand(typed));
            }
        }
        let multiline = command.multiline();
        let mut sasl = None;
        let (line, redact_from) = match command {
            Command::Apop { user, password } => {
                let timestamp = match &self.greeting {
                    Some(greeting) => {
                        apop::find_timestamp(greeting).ok_or(ArgumentError::NoApopTimestamp)?
                    }
                    None if self.state == State::Greeting => {
                        return Err(SendError::OutcomePending {
                            command: "APOP",
                            pending: "greeting",
                        });
                    }
                    None => return Err(ArgumentError::NoApopTimestamp.into()),
                };
                crate::command::check_text(password.as_bytes())?;
                let digest = apop::digest(timestamp, password.as_bytes());
                let line = LineBuilder::new("APOP")
                    .word(user.as_bytes())?
                    .arg(&digest)?
                    .finish()?;
                let redact_from = line.len() - 2 - digest.len();
                (line, Some(redact_from))
            }
            Command::Auth(mechanism) => {
                mechanism.validate().map_err(ArgumentError::Sasl)?;
                let mut exchange = Exchange::new(mechanism);
                let head = LineBuilder::new("AUTH").word(exchange.name().as_bytes())?;
                let initial = exchange.initial_response();
                let inline = initial.as_ref().and_then(|ir| {
                    let encoded = if ir.is_empty() {
                        alloc::string::String::from("=")
                    } else {
                        BASE64.encode(ir)
                    };
                    let fits = head.len() + 1 + encoded.len() + 2 <= MAX_COMMAND_LINE;
                    (self.config.sasl_initial_response && fits).then_some(encoded)
                });
                let (line, redact_from) = match &inline {
                    Some(encoded) => {
                        let line = head.arg(encoded.as_bytes())?.finish()?;
                        let from = line.len() - 2 - encoded.len();
                        (line, Some(from))
                    }
                    None => (head.finish()?, None),
                };
                let deferred = if inline.is_some() { None } else { initial };
                sasl = Some(SaslRun {
                    exchange,
                    deferred,
                    steps: 0,
                    cancelled: false,
                });
                (line, redact_from)
            }
            command => encode(&command)?,
        };
        if let Some(run) = sasl {
            self.sasl = Some(run);
        }
        let id = CommandId(self.next_id);
        self.next_id += 1;
        self.projected = state::after_response(verb, true, self.projected);
        if verb.decides_state() {
            self.deciding = Some(verb);
        }
        self.credentials_sent |= verb.carries_credentials();
        self.stls_tried |= verb == Verb::Stls;
        self.queue.push_back(Queued {
            id,
            verb,
            multiline,
            line,
            redact_from,
        });
        Ok(id)
    }

    /// Appends bytes received from the server. Call [`Client::poll`] afterwards.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.error.is_some() {
            return;
        }
        let spare = self.input_buffer_sized(bytes.len());
        spare[..bytes.len()].copy_from_slice(bytes);
        self.commit_input(bytes.len());
    }

    /// Space to read into directly (then call [`Client::commit_input`]), so body bytes are copied once from the
    /// socket to the application. It starts at 8 KiB and doubles while reads fill it, up to [`Config::read_size`].
    pub fn input_buffer(&mut self) -> &mut [u8] {
        let wanted = self.read_hint;
        self.offered = wanted;
        self.input_buffer_sized(wanted)
    }

    /// Marks the first `n` octets of [`Client::input_buffer`] as received. Call [`Client::poll`] afterwards.
    pub fn commit_input(&mut self, n: usize) {
        if self.error.is_some() {
            return;
        }
        self.rx_end = (self.rx_end + n).min(self.rx.len());
        if self.offered > 0 && n >= self.offered {
            self.read_hint = (self.read_hint * 2).min(self.config.read_size.max(MIN_READ));
        }
        self.offered = 0;
        if n > 0 && self.starting_tls {
            self.fail(Error::DataAfterStls);
        }
    }

    fn input_buffer_sized(&mut self, wanted: usize) -> &mut [u8] {
        let keep_from = self.rx_start;
        if keep_from > 0 && self.pending.is_empty() {
            self.rx.copy_within(keep_from..self.rx_end, 0);
            self.rx_end -= keep_from;
            self.rx_start = 0;
        }
        let needed = self.rx_end + wanted.max(1);
        if self.rx.len() < needed {
            self.rx.resize(needed, 0);
        }
        &mut self.rx[self.rx_end..needed]
    }

    /// The server closed the connection. Fatal in the middle of a response; the end of the session otherwise.
    pub fn handle_eof(&mut self) {
        if self.error.is_some() || self.state == State::Closed {
            return;
        }
        // Waiting for the TLS handshake counts as mid-response: the session cannot go on in clear.
        if self.state == State::Greeting
            || self.starting_tls
            || !self.in_flight.is_empty()
            || self.rx_end > self.rx_start
        {
            self.fail(Error::UnexpectedEof);
        } else {
            self.close();
        }
    }

    /// The driver finished the TLS handshake that [`Output::StartTls`] asked for. Capabilities learned in clear
    /// are forgotten (RFC 2595 §4); if [`Config::recapa_after_tls`] is set, CAPA is queued again and its id
    /// returned.
    pub fn handle_tls_established(&mut self) -> Option<CommandId> {
        if !self.starting_tls || self.error.is_some() {
            return None;
        }
        self.starting_tls = false;
        self.tls_active = true;
        self.capabilities = None;
        if self.config.recapa_after_tls {
            self.send(Command::Capa).ok()
        } else {
            None
        }
    }

    /// The next thing to do. See [`Output`] for what each answer asks of the driver.
    ///
    /// # Errors
    /// The server broke the protocol. The error is sticky: every later call returns it again.
    pub fn poll(&mut self) -> Result<Output<'_>, Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.out_handed {
            self.out.clear();
            self.out_redact_from = None;
            self.out_handed = false;
        }
        // Bytes already owed to the server (a SASL answer or `*`) go out before more input is read, so what is
        // written never depends on how the server's bytes were split.
        if self.pending.is_empty() && !self.starting_tls && self.out.is_empty() {
            match self.parse() {
                Ok(Some((id, chunk))) => {
                    return Ok(Output::Event(Event::Body {
                        id,
                        chunk: &self.rx[chunk],
                    }));
                }
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
        if self.out.is_empty() {
            self.release();
        }
        if !self.out.is_empty() {
            self.out_handed = true;
            return Ok(Output::Transmit(Transmit {
                bytes: &self.out,
                redact_from: self.out_redact_from,
            }));
        }
        Ok(if self.starting_tls {
            Output::StartTls
        } else if self.state == State::Closed {
            Output::Closed
        } else if self.state == State::Greeting || !self.in_flight.is_empty() {
            Output::NeedInput
        } else {
            self.release_idle_buffer();
            Output::Idle
        })
    }

    /// An idle session keeps no receive buffer: thousands of idle sessions then cost little.
    fn release_idle_buffer(&mut self) {
        if self.rx_start == self.rx_end && self.pending.is_empty() && self.rx.len() > MIN_READ {
            self.rx = Vec::new();
            self.rx_start = 0;
            self.rx_end = 0;
            self.line_scanned = 0;
            self.read_hint = MIN_READ;
        }
    }

    fn fail(&mut self, error: Error) {
        self.error = Some(error);
        self.projected = State::Closed;
        self.queue.clear();
        self.pending.clear();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.projected = State::Closed;
        self.queue.clear();
    }

    fn front(&self) -> Option<InFlight> {
        self.in_flight.front().copied()
    }

    /// Moves queued commands to the output buffer as far as the pipelining policy allows.
    fn release(&mut self) {
        if matches!(self.state, State::Greeting | State::Closed) || self.starting_tls {
            return;
        }
        let pipelining = self.config.pipelining == Pipelining::Auto
            && self
                .capabilities
                .as_ref()
                .is_some_and(Capabilities::pipelining);
        while let Some(next) = self.queue.front() {
            let alone = next.verb.is_barrier() || next.redact_from.is_some();
            let may_go = if self.in_flight.is_empty() {
                !alone || self.out.is_empty()
            } else {
                pipelining
                    && !alone
                    && !self.in_flight.front().is_some_and(|c| c.verb.is_barrier())
                    && self.in_flight_bytes + next.line.len() <= self.config.max_in_flight_bytes
            };
            if !may_go {
                break;
            }
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            if let Some(from) = next.redact_from {
                self.out_redact_from = Some(self.out.len() + from);
            }
            self.out.extend_from_slice(&next.line);
            self.in_flight_bytes += next.line.len();
            self.in_flight.push_back(InFlight {
                id: next.id,
                verb: next.verb,
                multiline: next.multiline,
                len: next.line.len(),
            });
            if alone {
                break;
            }
        }
    }

    /// Takes one line (without its ending) from the receive buffer, if a whole one is there.
    fn take_line(&mut self) -> Result<Option<Range<usize>>, Error> {
        let available = &self.rx[self.rx_start..self.rx_end];
        let window = &available[..available.len().min(self.config.max_line_len)];
        let from = self.line_scanned.min(window.len());
        let Some(lf) = memchr::memchr(b'\n', &window[from..]).map(|at| from + at) else {
            self.line_scanned = window.len();
            if available.len() >= self.config.max_line_len {
                return Err(Error::LineTooLong {
                    limit: self.config.max_line_len,
                });
            }
            return Ok(None);
        };
        self.line_scanned = 0;
        let start = self.rx_start;
        let mut end = start + lf;
        self.line_had_cr = end > start && self.rx[end - 1] == b'\r';
        if self.line_had_cr {
            end -= 1;
        }
        self.rx_start += lf + 1;
        Ok(Some(start..end))
    }

    /// Advances parsing by one step. Returns a body chunk directly (the hot path); everything else goes to
    /// `pending`. `Ok(None)` with nothing pending means more input is needed.
    fn parse(&mut self) -> Result<Option<(CommandId, Range<usize>)>, Error> {
        loop {
            if self.state == State::Greeting {
                return self.parse_greeting().map(|()| None);
            }
            let Some(front) = self.front() else {
                if self.rx_end > self.rx_start && self.state != State::Closed {
                    return Err(Error::Unsolicited {
                        data: Excerpt::new(&self.rx[self.rx_start..self.rx_end]),
                    });
                }
                self.rx_start = self.rx_end;
                self.line_scanned = 0;
                return Ok(None);
            };
            match &mut self.phase {
                Phase::Body(unstuffer) => {
                    let data = &self.rx[self.rx_start..self.rx_end];
                    match unstuffer.step(data, &self.finders) {
                        Step::Data { skip, len } => {
                            let start = self.rx_start + skip;
                            self.rx_start = start + len;
                            if len > 0 {
                                return Ok(Some((front.id, start..start + len)));
                            }
                        }
                        Step::End { len } => {
                            self.rx_start += len;
                            self.finish_front(front, true);
                            self.pending.push_back(Pending::Done { id: front.id });
                            return Ok(None);
                        }
                        Step::NeedInput => return Ok(None),
                    }
                }
                Phase::Lines => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    self.parse_listing_line(front, line)?;
                    if !self.pending.is_empty() {
                        return Ok(None);
                    }
                }
                Phase::Head => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    self.parse_status_line(front, line)?;
                    if !self.pending.is_empty() || !self.out.is_empty() {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn parse_greeting(&mut self) -> Result<(), Error> {
        let Some(line) = self.take_line()? else {
            return Ok(());
        };
        let ok = match response::parse_status(&self.rx[line.clone()]) {
            Some(Status::Ok(_)) => true,
            Some(Status::Err(_)) => false,
            _ => {
                return Err(Error::MalformedStatus {
                    line: Excerpt::new(&self.rx[line]),
                });
            }
        };
        if self.config.line_endings == LineEndings::Detect {
            // A greeting ending in a bare LF marks an LF-only server.
            self.lf_only = self.rx[line.end] == b'\n';
        }
        let text = text_range(&line, ok);
        self.greeting = Some(self.rx[text.clone()].to_vec());
        self.state = state::after_greeting(ok);
        if !ok {
            self.close();
        }
        self.hold(Pending::Greeting { ok, text });
        Ok(())
    }

    fn parse_status_line(&mut self, front: InFlight, line: Range<usize>) -> Result<(), Error> {
        let id = front.id;
        let status = response::parse_status(&self.rx[line.clone()]).ok_or_else(|| {
            Error::MalformedStatus {
                line: Excerpt::new(&self.rx[line.clone()]),
            }
        })?;
        match status {
            Status::Continuation(challenge) => {
                if front.verb != Verb::Auth {
                    return Err(Error::UnexpectedContinuation);
                }
                let challenge = challenge.to_vec();
                self.answer_challenge(id, &challenge)
            }
            Status::Err(_) => {
                let text = text_range(&line, false);
                if front.verb == Verb::Auth
                    && self
                        .sasl
                        .as_ref()
                        .is_some_and(|run| run.exchange.failure_details().is_some())
                {
                    self.pending.push_back(Pending::AuthFailureDetails { id });
                }
                self.finish_front(front, false);
                self.hold(Pending::Err { id, text });
                Ok(())
            }
            Status::Ok(reply) => {
                let text = text_range(&line, true);
                match front.verb {
                    Verb::Stls if self.rx_end > self.rx_start => return Err(Error::DataAfterStls),
                    Verb::Stls => self.starting_tls = true,
                    Verb::Auth => {
                        if let Some(run) = &self.sasl {
                            // RFC 5034 §4: a cancelled exchange MUST end in -ERR; a +OK then is not to be trusted.
                            if run.cancelled {
                                return Err(Error::ServerNotAuthenticated(
                                    SaslError::ServerNotVerified,
                                ));
                            }
                            run.exchange
                                .finish()
                                .map_err(Error::ServerNotAuthenticated)?;
                        }
                    }
                    _ => {}
                }
                let parsed =
                    match (front.verb, front.multiline) {
                        (Verb::Stat, _) => {
                            let (count, octets) = response::parse_drop_listing(reply.text)
                                .ok_or_else(|| Error::MalformedListing {
                                    line: Excerpt::new(reply.text),
                                })?;
                            Some(Pending::Stat { id, count, octets })
                        }
                        (Verb::List, false) => {
                            let (msg, octets) = response::parse_scan_listing(reply.text)
                                .ok_or_else(|| Error::MalformedListing {
                                    line: Excerpt::new(reply.text),
                                })?;
                            Some(Pending::Scan { id, msg, octets })
                        }
                        (Verb::Uidl, false) => {
                            let (msg, uid) = response::parse_unique_id_listing(reply.text)
                                .ok_or_else(|| Error::MalformedListing {
                                    line: Excerpt::new(reply.text),
                                })?;
                            let at = offset_in(&self.rx, uid);
                            Some(Pending::UniqueId {
                                id,
                                msg,
                                uid: at..at + uid.len(),
                            })
                        }
                        _ => None,
                    };
                self.hold(Pending::Ok { id, text });
                if front.multiline {
                    self.phase = match front.verb {
                        Verb::Retr | Verb::Top | Verb::Raw => {
                            Phase::Body(Unstuffer::new(self.lf_only))
                        }
                        _ => Phase::Lines,
                    };
                    if front.verb == Verb::Capa {
                        self.capabilities_building = Capabilities::default();
                    }
                } else {
                    self.pending.extend(parsed);
                    self.finish_front(front, true);
                    self.pending.push_back(Pending::Done { id });
                }
                Ok(())
            }
        }
    }

    fn parse_listing_line(&mut self, front: InFlight, line: Range<usize>) -> Result<(), Error> {
        let id = front.id;
        let bytes = &self.rx[line.clone()];
        // As in bodies, only a CRLF-ended dot ends the response on a CRLF server (a bare-LF `.` line is data,
        // and here malformed data).
        if bytes == b"." && (self.line_had_cr || self.lf_only) {
            if front.verb == Verb::Capa {
                self.capabilities = Some(core::mem::take(&mut self.capabilities_building));
                self.pending.push_back(Pending::Capabilities { id });
            }
            self.finish_front(front, true);
            self.pending.push_back(Pending::Done { id });
            return Ok(());
        }
        let line = if bytes.starts_with(b".") {
            line.start + 1..line.end
        } else {
            line
        };
        let bytes = &self.rx[line.clone()];
        let malformed = || Error::MalformedListing {
            line: Excerpt::new(bytes),
        };
        match front.verb {
            Verb::List => {
                let (msg, octets) = response::parse_scan_listing(bytes).ok_or_else(malformed)?;
                self.hold(Pending::Scan { id, msg, octets });
            }
            Verb::Uidl => {
                let (msg, uid) = response::parse_unique_id_listing(bytes).ok_or_else(malformed)?;
                let at = line.start + offset_in(bytes, uid);
                self.hold(Pending::UniqueId {
                    id,
                    msg,
                    uid: at..at + uid.len(),
                });
            }
            Verb::Capa => {
                if self.capabilities_building.len() < self.config.max_capabilities {
                    if let Some(capability) = Capability::parse(bytes) {
                        self.capabilities_building.push(capability);
                    }
                }
            }
            _ => self.hold(Pending::Line { id, line }),
        }
        Ok(())
    }

    /// Answers one SASL challenge, or cancels the exchange with `*` (RFC 5034 §4).
    fn answer_challenge(&mut self, id: CommandId, challenge: &[u8]) -> Result<(), Error> {
        let max_steps = self.config.max_sasl_steps;
        let Some(run) = self.sasl.as_mut() else {
            return Err(Error::UnexpectedContinuation);
        };
        if run.cancelled {
            return Err(Error::UnexpectedContinuation);
        }
        run.steps += 1;
        let answer = if run.steps > max_steps {
            Err(SaslError::TooManySteps)
        } else if let Some(initial) = run.deferred.take() {
            Ok(initial)
        } else {
            run.exchange.step(challenge)
        };
        match answer {
            Ok(response) => {
                self.out_redact_from = Some(self.out.len());
                let mut encoded = BASE64.encode(response).into_bytes();
                encoded.extend_from_slice(b"\r\n");
                self.out.extend_from_slice(&encoded);
            }
            Err(reason) => {
                run.cancelled = true;
                self.out.extend_from_slice(b"*\r\n");
                self.pending
                    .push_back(Pending::AuthCancelled { id, reason });
            }
        }
        Ok(())
    }

    /// The response to the oldest in-flight command is complete: apply the transition table.
    fn finish_front(&mut self, front: InFlight, ok: bool) {
        self.in_flight.pop_front();
        self.in_flight_bytes -= front.len;
        self.phase = Phase::Head;
        self.state = state::after_response(front.verb, ok, self.state);
        if front.verb.decides_state() {
            self.deciding = None;
            self.projected = self.state;
        }
        if self.state == State::Closed {
            self.close();
        }
    }

    /// Queues an event. Its ranges stay valid because the receive buffer is only compacted while nothing is
    /// pending.
    fn hold(&mut self, pending: Pending) {
        self.pending.push_back(pending);
    }

    fn materialize(&self, pending: Pending) -> Event<'_> {
        let text = |range: Range<usize>| Reply::parse(&self.rx[range]);
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
                let uid = core::str::from_utf8(&self.rx[uid]).unwrap_or_default();
                Event::UniqueId { id, msg, uid }
            }
            Pending::Capabilities { id } => Event::Capabilities {
                id,
                capabilities: self.capabilities.as_ref().unwrap_or(&EMPTY),
            },
            Pending::Line { id, line } => Event::Line {
                id,
                line: &self.rx[line],
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
            Pending::Done { id } => Event::Done { id },
        }
    }
}

static EMPTY: Capabilities = Capabilities::EMPTY;

/// The text of a status line after `+OK ` or `-ERR `.
fn text_range(line: &Range<usize>, ok: bool) -> Range<usize> {
    let indicator = if ok { 3 } else { 4 };
    (line.start + indicator + 1).min(line.end)..line.end
}

/// Where `inner`, a sub-slice of `outer`, starts within it.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// Encodes a command that needs nothing from the session.
fn encode(command: &Command<'_>) -> Result<(Vec<u8>, Option<usize>), ArgumentError> {
    let line = match *command {
        Command::User(name) => LineBuilder::new("USER").arg(name.as_bytes())?.finish()?,
        Command::Pass(secret) => {
            let line = LineBuilder::new("PASS").arg(secret.as_bytes())?.finish()?;
            return Ok((line, Some(5)));
        }
        Command::Rpop(user) => {
            let line = LineBuilder::new("RPOP").arg(user.as_bytes())?.finish()?;
            return Ok((line, Some(5)));
        }
        Command::Stls => LineBuilder::new("STLS").finish()?,
        Command::Capa => LineBuilder::new("CAPA").finish()?,
        Command::Quit => LineBuilder::new("QUIT").finish()?,
        Command::Stat => LineBuilder::new("STAT").finish()?,
        Command::List(None) => LineBuilder::new("LIST").finish()?,
        Command::List(Some(msg)) => LineBuilder::new("LIST").number(msg.get()).finish()?,
        Command::Retr(msg) => LineBuilder::new("RETR").number(msg.get()).finish()?,
        Command::Dele(msg) => LineBuilder::new("DELE").number(msg.get()).finish()?,
        Command::Noop => LineBuilder::new("NOOP").finish()?,
        Command::Rset => LineBuilder::new("RSET").finish()?,
        Command::Top { msg, lines } => LineBuilder::new("TOP")
            .number(msg.get())
            .number(lines)
            .finish()?,
        Command::Uidl(None) => LineBuilder::new("UIDL").finish()?,
        Command::Uidl(Some(msg)) => LineBuilder::new("UIDL").number(msg.get()).finish()?,
        Command::Utf8 => LineBuilder::new("UTF8").finish()?,
        Command::Lang(None) => LineBuilder::new("LANG").finish()?,
        Command::Lang(Some(tag)) => LineBuilder::new("LANG").word(tag.as_bytes())?.finish()?,
        Command::Raw { line, .. } => {
            crate::command::check_text(line.as_bytes())?;
            let mut bytes = Vec::from(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            if bytes.len() > MAX_COMMAND_LINE {
                return Err(ArgumentError::TooLong);
            }
            bytes
        }
        Command::Apop { .. } | Command::Auth(_) => unreachable!("encoded by the client"),
    };
    Ok((line, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_arriving_octet_by_octet_is_scanned_once() {
        // Each read resumes the search for the line end where the last one stopped: linear, not quadratic, in
        // the length of a line dripped in small reads (relevant once `max_line_len` is raised).
        let mut client = Client::new(Config {
            max_line_len: 1 << 20,
            ..Config::default()
        });
        for (i, &octet) in b"+OK a greeting sent one octet at a time"
            .iter()
            .enumerate()
        {
            client.handle_input(&[octet]);
            assert!(matches!(client.poll(), Ok(Output::NeedInput)));
            assert_eq!(client.line_scanned, i + 1);
        }
        client.handle_input(b"\r\n");
        assert!(matches!(
            client.poll(),
            Ok(Output::Event(Event::Greeting { ok: true, .. }))
        ));
        assert_eq!(client.line_scanned, 0);
    }
}
