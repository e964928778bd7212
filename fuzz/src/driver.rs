//! A driver that follows the crate's driving contract and checks every output against the documented invariants.
//!
//! Every target drives its [`Client`] through a [`Driver`]. The driver panics (which libFuzzer reports as a crash,
//! and `cargo test` as a failure) as soon as an output breaks a rule:
//!
//! - **termination**: `poll` rests (NeedInput, Idle, StartTls, Closed, or an error) within a budget proportional to
//!   the bytes fed and commands sent since the last rest, and a resting output repeats when polled again;
//! - **memory**: a body chunk is at most `max_line_len` plus the bytes of the last feed; status, listing and
//!   capability text is at most `max_line_len`; the receive buffer never grows past `max_line_len` plus the largest
//!   single read; CAPA keeps at most `max_capabilities` lines;
//! - **errors are sticky**: after an `Err`, `poll` returns the same error, `send` is refused, input is ignored,
//!   `state()` is `Closed`;
//! - **wire hygiene**: every transmitted line ends in CRLF, holds no other CR, LF or NUL, equals the encoding of the
//!   command that was queued (in FIFO order), is at most 255 octets (SASL continuations excepted), and credential
//!   lines are marked sensitive, their redacted form showing no secret; they go out alone unless the server
//!   pipelines (then USER, PASS and APOP may travel together; STLS, AUTH and UTF8 still go alone);
//! - **session rules**: responses are attributed to the oldest in-flight command; no credential line before TLS when
//!   TLS is required; STLS at most once, alone, never after credentials, nothing written until its answer or the
//!   handshake; TRANSACTION commands only after a successful login, or read-only ones pipelined behind a PASS or
//!   APOP still unanswered; pipelining only when CAPA said PIPELINING;
//!   nothing at all after `Closed`, and `Closed` after EOF;
//! - **safe display**: `Debug` of events and `Display` of errors contain no control characters.

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use pop3_proto::{
    Capabilities, Client, Command, CommandId, Config, Error, Mechanism, Output, SendError, State,
};

/// What a command is, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Kind {
    User,
    Pass,
    Apop,
    Rpop,
    Auth,
    Stls,
    Capa,
    Quit,
    Stat,
    List,
    Retr,
    Dele,
    Noop,
    Rset,
    Top,
    Uidl,
    Utf8,
    Lang,
    Raw,
}

impl Kind {
    /// The kind of a command.
    pub fn of(command: &Command<'_>) -> Self {
        match command {
            Command::User(_) => Self::User,
            Command::Pass(_) => Self::Pass,
            Command::Apop { .. } => Self::Apop,
            Command::Rpop(_) => Self::Rpop,
            Command::Auth(_) => Self::Auth,
            Command::Stls => Self::Stls,
            Command::Capa => Self::Capa,
            Command::Quit => Self::Quit,
            Command::Stat => Self::Stat,
            Command::List(_) => Self::List,
            Command::Retr(_) => Self::Retr,
            Command::Dele(_) => Self::Dele,
            Command::Noop => Self::Noop,
            Command::Rset => Self::Rset,
            Command::Top { .. } => Self::Top,
            Command::Uidl(_) => Self::Uidl,
            Command::Utf8 => Self::Utf8,
            Command::Lang(_) => Self::Lang,
            _ => Self::Raw,
        }
    }

    /// Carries a credential (RFC 1939 §7, RFC 1081, RFC 5034).
    pub fn credential(self) -> bool {
        matches!(
            self,
            Self::User | Self::Pass | Self::Apop | Self::Rpop | Self::Auth
        )
    }

    /// A successful response logs in.
    pub fn logs_in(self) -> bool {
        matches!(self, Self::Pass | Self::Apop | Self::Rpop | Self::Auth)
    }

    /// Only legal in TRANSACTION (RFC 1939 §5).
    pub fn transaction_only(self) -> bool {
        matches!(
            self,
            Self::Stat
                | Self::List
                | Self::Retr
                | Self::Dele
                | Self::Noop
                | Self::Rset
                | Self::Top
                | Self::Uidl
        )
    }

    /// Goes out alone.
    pub fn barrier(self) -> bool {
        self.credential() || matches!(self, Self::Stls | Self::Quit | Self::Utf8)
    }

    /// Goes out alone even when the server pipelines: USER, PASS and APOP may then travel together and with the
    /// commands behind them, and QUIT behind a batch (RFC 2449 §6.6), but nothing follows STLS (RFC 2595 §4) or
    /// AUTH (a line behind it would answer a SASL challenge).
    pub fn strict_barrier(self) -> bool {
        matches!(self, Self::Stls | Self::Utf8 | Self::Auth | Self::Rpop)
    }
}

/// The line a command must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exactly these bytes, CRLF included.
    Exact(Vec<u8>),
    /// `APOP <user> <32 lowercase hex digits>` CRLF.
    Apop(Vec<u8>),
    /// `AUTH <name>` with the initial response inline when it fits, else alone (and the response follows as the
    /// answer to the first challenge).
    Auth {
        /// The mechanism name.
        name: &'static str,
        /// The initial response, if the mechanism has one.
        initial: Option<Vec<u8>>,
        /// Whether `Config::sasl_initial_response` allows it inline.
        inline_allowed: bool,
    },
}

/// The SASL saslname escaping (RFC 5802 §5.1).
pub fn saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// The initial response a mechanism must produce (re-derived from the RFCs, independently of the crate).
pub fn initial_response(mechanism: &Mechanism) -> Option<Vec<u8>> {
    Some(match mechanism {
        Mechanism::Plain {
            authzid,
            user,
            password,
        } => [
            authzid.as_bytes(),
            b"\0",
            user.as_bytes(),
            b"\0",
            password.as_bytes(),
        ]
        .concat(),
        Mechanism::Login { .. } | Mechanism::CramMd5 { .. } => return None,
        Mechanism::ScramSha1 {
            user,
            nonce,
            binding,
            ..
        }
        | Mechanism::ScramSha256 {
            user,
            nonce,
            binding,
            ..
        } => {
            let gs2 = match binding {
                Some(b) => format!("p={},,", b.kind),
                None => "n,,".into(),
            };
            format!("{gs2}n={},r={}", saslname(user), BASE64.encode(nonce)).into_bytes()
        }
        Mechanism::XOAuth2 { user, token } => {
            format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
        }
        Mechanism::OAuthBearer {
            user,
            token,
            host,
            port,
        } => {
            let mut s = String::from("n,");
            if !user.is_empty() {
                s.push_str("a=");
                s.push_str(&saslname(user));
            }
            s.push_str(",\x01");
            if let Some(host) = host {
                s.push_str(&format!("host={host}\x01"));
            }
            if let Some(port) = port {
                s.push_str(&format!("port={port}\x01"));
            }
            s.push_str(&format!("auth=Bearer {token}\x01\x01"));
            s.into_bytes()
        }
        Mechanism::External { authzid } => authzid.as_bytes().to_vec(),
        _ => return None,
    })
}

/// The line `command` must be encoded as, assuming `send` accepts it.
pub fn expect_line(command: &Command<'_>, config: &Config) -> Expect {
    let line = |parts: &[&[u8]]| {
        let mut line = parts.join(&b' ');
        line.extend_from_slice(b"\r\n");
        Expect::Exact(line)
    };
    let num = |n: u64| n.to_string().into_bytes();
    match command {
        Command::User(s) => line(&[b"USER", s.as_bytes()]),
        Command::Pass(s) => line(&[b"PASS", s.as_bytes()]),
        Command::Rpop(s) => line(&[b"RPOP", s.as_bytes()]),
        Command::Apop { user, .. } => Expect::Apop(user.as_bytes().to_vec()),
        Command::Auth(mechanism) => Expect::Auth {
            name: mechanism.name(),
            initial: initial_response(mechanism),
            inline_allowed: config.sasl_initial_response,
        },
        Command::Stls => line(&[b"STLS"]),
        Command::Capa => line(&[b"CAPA"]),
        Command::Quit => line(&[b"QUIT"]),
        Command::Stat => line(&[b"STAT"]),
        Command::List(None) => line(&[b"LIST"]),
        Command::List(Some(n)) => line(&[b"LIST", &num(n.get())]),
        Command::Retr(n) => line(&[b"RETR", &num(n.get())]),
        Command::Dele(n) => line(&[b"DELE", &num(n.get())]),
        Command::Noop => line(&[b"NOOP"]),
        Command::Rset => line(&[b"RSET"]),
        Command::Top { msg, lines } => line(&[b"TOP", &num(msg.get()), &num(*lines)]),
        Command::Uidl(None) => line(&[b"UIDL"]),
        Command::Uidl(Some(n)) => line(&[b"UIDL", &num(n.get())]),
        Command::Utf8 => line(&[b"UTF8"]),
        Command::Lang(None) => line(&[b"LANG"]),
        Command::Lang(Some(tag)) => line(&[b"LANG", tag.as_bytes()]),
        Command::Raw { line: raw, .. } => line(&[raw.as_bytes()]),
        _ => Expect::Exact(Vec::new()),
    }
}

/// A command accepted by `send`.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its id.
    pub id: u64,
    /// What it is.
    pub kind: Kind,
    /// Whether a `+OK` opens a multi-line response.
    pub multiline: bool,
    /// The line it must produce.
    pub expect: Expect,
    /// For AUTH: the initial response, when it did not fit on the AUTH line (the answer to the first challenge).
    pub deferred: Option<Vec<u8>>,
    /// For AUTH: challenges answered so far (`*` not counted).
    pub answers: usize,
    /// For AUTH: cancels sent.
    pub cancels: usize,
    /// The transmitted line's length, CRLF included.
    pub line_len: usize,
}

/// Events are kept in their owned form; adjacent body chunks of one command are merged (chunk boundaries carry no
/// meaning), so two runs over the same bytes can be compared.
pub use pop3_proto::OwnedEvent as Ev;

/// A resting output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// `Output::NeedInput`.
    NeedInput,
    /// `Output::Idle`.
    Idle,
    /// `Output::StartTls`.
    StartTls,
    /// `Output::Closed`.
    Closed,
    /// `poll` returned an error.
    Failed,
}

thread_local! {
    static ALLOWED_HERE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Lets the current thread go past the listed findings (see [`finding`]); the replay test uses it for corpus
/// files, which may exercise a finding that is recorded but not fixed.
pub fn allow_findings(ids: &[String]) {
    ALLOWED_HERE.with(|a| *a.borrow_mut() = ids.to_vec());
}

/// A check for a known finding that is not fixed yet. It fails like any other check, unless its id is listed in
/// the `POP3_FUZZ_ALLOW` environment variable (comma-separated), which lets a fuzzing campaign go past a finding
/// that is already recorded in `regressions/<target>/open-<id>`, or allowed by [`allow_findings`].
pub fn finding(id: &str, ok: bool, message: impl FnOnce() -> String) {
    static ALLOWED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    if ok {
        return;
    }
    let allowed = ALLOWED.get_or_init(|| {
        std::env::var("POP3_FUZZ_ALLOW")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    });
    if allowed.iter().any(|a| a == id) || ALLOWED_HERE.with(|a| a.borrow().iter().any(|a| a == id))
    {
        return;
    }
    panic!("finding {id}: {}", message());
}

/// Asserts that a display form holds no control characters (J-01).
pub fn assert_printable(what: &str, shown: &str) {
    assert!(
        !shown.chars().any(char::is_control),
        "{what} shows a control character: {shown:?}"
    );
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_base64(line: &[u8]) -> bool {
    line.iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// The checking driver.
#[derive(Debug)]
pub struct Driver {
    /// The client under test.
    pub client: Client,
    /// Its settings.
    pub config: Config,
    /// Feed through `input_buffer`/`commit_input`.
    pub via_buffer: bool,
    /// Check the receive buffer's size at every rest (calls `input_buffer`, which may compact it).
    pub check_buffer: bool,
    /// Every event, body chunks merged.
    pub events: Vec<Ev>,
    /// Every transmitted byte.
    pub wire: Vec<u8>,
    /// Transmitted lines (commands and SASL answers).
    pub lines_sent: usize,
    /// The error, once `poll` failed.
    pub error: Option<Error>,
    /// The last resting output.
    pub rest: Option<Rest>,
    /// The driver finished a TLS handshake that the client asked for (or the session started on TLS).
    pub tls_up: bool,
    /// A login command was answered `+OK`.
    pub login_ok: bool,
    /// Byte strings that must never be written before TLS when TLS is required (passwords).
    pub secrets: Vec<Vec<u8>>,
    /// Results of every `send`, in order (`Ok(id)` or the error), for comparing runs.
    pub send_results: Vec<Result<u64, SendError>>,
    queued: VecDeque<Sent>,
    in_flight: VecDeque<Sent>,
    next_id: u64,
    strict_tls: bool,
    greeting_seen: bool,
    eof_sent: bool,
    closed_seen: bool,
    stls_count: usize,
    stls_waiting: bool,
    credentials_on_wire: bool,
    last_stls: Option<u64>,
    max_wanted: usize,
    last_fed: usize,
    fed_since_rest: usize,
    sends_since_rest: usize,
}

impl Driver {
    /// A driver around a fresh client.
    pub fn new(config: Config, via_buffer: bool) -> Self {
        Self {
            client: Client::new(config.clone()),
            strict_tls: !config.tls_active && !config.allow_plaintext_credentials,
            tls_up: config.tls_active,
            // `input_buffer` offers 8 KiB at first and grows up to `read_size` (whichever is larger).
            max_wanted: config.read_size.max(8 * 1024),
            config,
            via_buffer,
            check_buffer: true,
            events: Vec::new(),
            wire: Vec::new(),
            lines_sent: 0,
            error: None,
            rest: None,
            login_ok: false,
            secrets: Vec::new(),
            send_results: Vec::new(),
            queued: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_id: 0,
            greeting_seen: false,
            eof_sent: false,
            closed_seen: false,
            stls_count: 0,
            stls_waiting: false,
            credentials_on_wire: false,
            last_stls: None,
            last_fed: 0,
            fed_since_rest: 0,
            sends_since_rest: 0,
        }
    }

    /// Whether the session is over (closed or failed).
    pub fn finished(&self) -> bool {
        matches!(self.rest, Some(Rest::Closed | Rest::Failed))
    }

    /// Sends a command and polls to rest. Checks that a refused command changes nothing.
    pub fn send(&mut self, command: Command<'_>) -> Result<CommandId, SendError> {
        let kind = Kind::of(&command);
        let expect = expect_line(&command, &self.config);
        let multiline = match &command {
            Command::List(n) | Command::Uidl(n) => n.is_none(),
            Command::Lang(t) => t.is_none(),
            Command::Retr(_) | Command::Top { .. } | Command::Capa => true,
            Command::Raw { multiline, .. } => *multiline,
            _ => false,
        };
        let outstanding = self.client.outstanding();
        let state = self.client.state();
        let raw_keyword = match &command {
            Command::Raw { line, .. } => Some(
                line.trim_start_matches([' ', '\t'])
                    .split([' ', '\t'])
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
            ),
            _ => None,
        };
        let result = self.client.send(command);
        if let (Some(keyword), Ok(_)) = (&raw_keyword, &result) {
            finding(
                "raw-leading-space",
                ![
                    "USER", "PASS", "APOP", "RPOP", "AUTH", "STLS", "QUIT", "UTF8",
                ]
                .contains(&keyword.as_str()),
                || {
                    format!(
                        "a raw command whose first word is {keyword} was accepted (leading whitespace)"
                    )
                },
            );
        }
        if kind.credential() && self.strict_tls && !self.tls_up {
            assert!(
                result.is_err(),
                "{kind:?} accepted before TLS although TLS is required"
            );
        }
        match &result {
            Ok(id) => {
                assert_eq!(
                    id.get(),
                    self.next_id,
                    "command ids grow by one per command"
                );
                self.next_id += 1;
                assert!(!self.finished(), "a finished session accepted a command");
                self.accept(id.get(), kind, multiline, expect);
            }
            Err(e) => {
                assert_eq!(
                    self.client.outstanding(),
                    outstanding,
                    "a refused command ({e}) changed the queue"
                );
                assert_eq!(
                    self.client.state(),
                    state,
                    "a refused command changed the state"
                );
                if self.finished() {
                    assert_eq!(*e, SendError::Closed, "a finished session refused with {e}");
                }
                assert_printable("SendError", &e.to_string());
            }
        }
        self.send_results.push(result.clone().map(|id| id.get()));
        self.drive();
        result
    }

    fn accept(&mut self, id: u64, kind: Kind, multiline: bool, expect: Expect) {
        let deferred = match &expect {
            Expect::Auth {
                name,
                initial: Some(ir),
                inline_allowed,
            } => (!(*inline_allowed && auth_fits(name, ir))).then(|| ir.clone()),
            _ => None,
        };
        self.queued.push_back(Sent {
            id,
            kind,
            multiline,
            expect,
            deferred,
            answers: 0,
            cancels: 0,
            line_len: 0,
        });
        self.sends_since_rest += 1;
    }

    /// Feeds server bytes (whole, or through `input_buffer` in `read_size` pieces) and polls to rest after each.
    pub fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.via_buffer {
            let mut rest = bytes;
            while !rest.is_empty() {
                let buf = self.client.input_buffer();
                assert!(
                    !buf.is_empty(),
                    "input_buffer returned no space (read_size {})",
                    self.config.read_size
                );
                let n = buf.len().min(rest.len()).min(self.config.read_size);
                buf[..n].copy_from_slice(&rest[..n]);
                self.client.commit_input(n);
                rest = &rest[n..];
                self.fed(n);
                self.drive();
            }
        } else {
            self.max_wanted = self.max_wanted.max(bytes.len());
            self.client.handle_input(bytes);
            self.fed(bytes.len());
            self.drive();
        }
    }

    fn fed(&mut self, n: usize) {
        self.last_fed = n;
        self.fed_since_rest += n;
    }

    /// The connection closed.
    pub fn eof(&mut self) {
        self.eof_sent = true;
        self.client.handle_eof();
        self.drive();
    }

    /// The driver finished a TLS handshake: only counts as such when the client asked for it.
    pub fn tls_established(&mut self) {
        let asked = self.rest == Some(Rest::StartTls);
        let recapa = self.client.handle_tls_established();
        if asked {
            self.tls_up = true;
            self.stls_waiting = false;
            assert!(
                self.client.is_tls_active(),
                "TLS not active after the handshake"
            );
            assert!(
                self.client.capabilities().is_none(),
                "capabilities learned in clear survived STLS (RFC 2595 §4)"
            );
            if let Some(id) = recapa {
                assert!(self.config.recapa_after_tls);
                assert_eq!(id.get(), self.next_id);
                self.next_id += 1;
                self.accept(
                    id.get(),
                    Kind::Capa,
                    true,
                    Expect::Exact(b"CAPA\r\n".to_vec()),
                );
            }
        } else {
            assert!(
                recapa.is_none(),
                "handle_tls_established without StartTls queued a command"
            );
        }
        self.drive();
    }

    /// Polls until the client rests, checking each output.
    pub fn drive(&mut self) {
        if let Some(error) = &self.error {
            assert_eq!(
                self.client.poll().err().as_ref(),
                Some(error),
                "error not sticky"
            );
            return;
        }
        let budget = 64 + 4 * self.fed_since_rest + 16 * self.sends_since_rest;
        let mut outputs = 0;
        loop {
            outputs += 1;
            assert!(
                outputs <= budget,
                "poll did not rest within {budget} outputs (fed {} bytes, sent {} commands since the last rest)",
                self.fed_since_rest,
                self.sends_since_rest
            );
            match self.client.poll() {
                Err(error) => return self.on_error(error),
                Ok(Output::Transmit(t)) => {
                    let bytes = t.bytes().to_vec();
                    let sensitive = t.is_sensitive();
                    let shown = t.redacted().to_string();
                    let debug = format!("{t:?}");
                    // A transmit is all the pending output, offered until consumed. This driver writes it in two
                    // parts, as a socket that takes only some of it would: the rest must be offered again, alone.
                    let part = bytes.len() / 2;
                    if part > 0 {
                        self.client.consume_output(part);
                        assert!(
                            self.client.wants_write(),
                            "output lost after a partial write"
                        );
                        match self.client.poll() {
                            Ok(Output::Transmit(rest)) => assert_eq!(
                                rest.bytes(),
                                &bytes[part..],
                                "the rest of a partial write is not offered again as it was"
                            ),
                            other => panic!("after a partial write, poll gave {other:?}"),
                        }
                    }
                    self.client.consume_output(bytes.len() - part);
                    assert!(
                        !self.client.wants_write(),
                        "output left after consuming it all"
                    );
                    self.on_transmit(&bytes, sensitive, &shown, &debug);
                }
                Ok(Output::Event(event)) => {
                    assert_printable("an event's Debug", &format!("{event:?}"));
                    let ev = event.into_owned();
                    self.on_event(ev);
                }
                Ok(Output::NeedInput) => return self.on_rest(Rest::NeedInput),
                Ok(Output::Idle) => return self.on_rest(Rest::Idle),
                Ok(Output::StartTls) => return self.on_rest(Rest::StartTls),
                Ok(Output::Closed) => return self.on_rest(Rest::Closed),
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        assert!(!self.closed_seen, "an error after Closed: {error}");
        assert_printable("an error's Display", &error.to_string());
        assert_printable("an error's Debug", &format!("{error:?}"));
        // Bytes are unsolicited only when no command that was written awaits its answer (B-06).
        if matches!(error, Error::Unsolicited { .. }) {
            assert!(
                self.in_flight.is_empty(),
                "Unsolicited while {} command(s) await an answer",
                self.in_flight.len()
            );
        }
        self.error = Some(error.clone());
        self.rest = Some(Rest::Failed);
        self.queued.clear();
        // Sticky: the same error, whatever the driver does next.
        assert_eq!(
            self.client.poll().err(),
            Some(error.clone()),
            "error not sticky"
        );
        assert_eq!(self.client.state(), State::Closed);
        assert_eq!(self.client.error(), Some(&error));
        assert_eq!(
            self.client.send(Command::Noop).err(),
            Some(SendError::Closed),
            "a failed session accepted a command"
        );
        self.client.handle_input(b"+OK\r\n");
        assert!(self.client.handle_tls_established().is_none());
        assert_eq!(
            self.client.poll().err(),
            Some(error.clone()),
            "error not sticky"
        );
        self.client.handle_eof();
        assert_eq!(self.client.poll().err(), Some(error), "error not sticky");
    }

    fn on_rest(&mut self, rest: Rest) {
        let again = match self.client.poll() {
            Ok(Output::NeedInput) => Rest::NeedInput,
            Ok(Output::Idle) => Rest::Idle,
            Ok(Output::StartTls) => Rest::StartTls,
            Ok(Output::Closed) => Rest::Closed,
            other => panic!("resting output {rest:?} did not repeat: {other:?}"),
        };
        assert_eq!(again, rest, "resting output did not repeat");
        if self.closed_seen {
            assert_eq!(rest, Rest::Closed, "the session came back after Closed");
        }
        if self.eof_sent {
            if rest == Rest::StartTls {
                finding("eof-starttls", false, || {
                    "after EOF while STLS awaited its handshake, poll asks for the handshake instead of Closed".into()
                });
            } else {
                assert_eq!(
                    rest,
                    Rest::Closed,
                    "after EOF the session must be closed or failed"
                );
            }
        }
        match rest {
            Rest::Idle => {
                assert_eq!(
                    self.client.outstanding(),
                    0,
                    "Idle with commands outstanding"
                );
                assert!(
                    self.queued.is_empty() && self.in_flight.is_empty(),
                    "Idle, but commands were never answered: {:?} {:?}",
                    self.queued,
                    self.in_flight
                );
            }
            Rest::NeedInput => {
                assert!(
                    !self.greeting_seen || !self.in_flight.is_empty(),
                    "NeedInput with nothing in flight"
                );
            }
            Rest::StartTls => {
                assert!(self.stls_waiting, "StartTls without an accepted STLS");
                assert!(
                    matches!(self.events.last(), Some(Ev::Done { id }) if self.stls_id() == Some(id.get())),
                    "StartTls must follow STLS's +OK"
                );
            }
            Rest::Closed => {
                assert_eq!(self.client.state(), State::Closed);
                self.closed_seen = true;
                self.queued.clear();
            }
            Rest::Failed => unreachable!(),
        }
        if self.check_buffer {
            let spare = self.client.input_buffer().len();
            let bound = self.config.max_line_len + self.max_wanted + 64;
            assert!(
                spare <= bound,
                "receive buffer grew to {spare} octets (bound {bound})"
            );
        }
        self.rest = Some(rest);
        self.fed_since_rest = 0;
        self.sends_since_rest = 0;
    }

    fn stls_id(&self) -> Option<u64> {
        self.last_stls
    }

    /// The oldest in-flight command's kind and whether it is multi-line.
    pub fn front(&self) -> Option<(Kind, bool)> {
        self.in_flight.front().map(|s| (s.kind, s.multiline))
    }

    /// Whether TLS is required by the configuration (neither implicit TLS nor plaintext credentials allowed).
    pub fn strict_tls(&self) -> bool {
        self.strict_tls
    }

    fn on_transmit(&mut self, bytes: &[u8], sensitive: bool, shown: &str, debug: &str) {
        assert!(!self.closed_seen, "transmit after Closed");
        assert!(
            !self.stls_waiting,
            "transmit while STLS awaits its answer or the handshake (C-01): {shown}"
        );
        assert!(bytes.ends_with(b"\r\n"), "transmit does not end in CRLF");
        assert_printable("Transmit::redacted", shown);
        assert_printable("Transmit Debug", debug);
        // The markup (`Transmit(…)`, `<redacted>`, ` | ` between lines) is not the secret, even when a secret happens
        // to look like it.
        let unmark = |t: &str| t.replace("<redacted>", "\u{0}");
        let debug_body = debug
            .strip_prefix("Transmit(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or(debug);
        for secret in &self.secrets {
            let s = unmark(&String::from_utf8_lossy(secret));
            if s.contains(" | ") {
                continue;
            }
            assert!(
                !unmark(shown).contains(&*s) && !unmark(debug_body).contains(&*s),
                "redacted form shows a secret"
            );
        }
        if self.strict_tls && !self.tls_up {
            for secret in &self.secrets {
                assert!(
                    !contains(bytes, secret),
                    "a secret went out before TLS: {shown}"
                );
            }
        }
        let lines: Vec<&[u8]> = bytes
            .split_inclusive(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r\n").expect("every line ends in CRLF"))
            .collect();
        for line in &lines {
            assert!(
                !line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)),
                "CR, LF or NUL inside a transmitted line"
            );
        }
        self.wire.extend_from_slice(bytes);
        self.lines_sent += lines.len();

        if let Some(front) = self.in_flight.front_mut() {
            if front.kind == Kind::Auth {
                // A SASL answer: one line, base64 or `*`, sensitive unless it is the cancel.
                assert_eq!(lines.len(), 1, "a SASL answer must be one line");
                let line = lines[0];
                assert!(self.tls_up || !self.strict_tls, "SASL answer before TLS");
                if line == b"*" {
                    assert!(!sensitive);
                    front.cancels += 1;
                    assert_eq!(front.cancels, 1, "AUTH cancelled twice");
                    return;
                } else {
                    assert!(is_base64(line), "SASL answer is not base64");
                    assert!(sensitive, "SASL answer not marked sensitive");
                    assert_eq!(shown, "<redacted>", "SASL answer shown");
                    if front.answers == 0 {
                        if let Some(ir) = front.deferred.take() {
                            assert_eq!(
                                line,
                                BASE64.encode(&ir).as_bytes(),
                                "deferred initial response wrong"
                            );
                        }
                    }
                }
                front.answers += 1;
                let limit = self.config.max_sasl_steps.min(5);
                assert!(
                    front.answers <= limit,
                    "{} SASL answers (limit {limit})",
                    front.answers
                );
                return;
            }
        }

        // A raw command the caller sent may be a lone `*` too; only a `*` nobody queued is a stray cancel.
        let queued_star = self
            .queued
            .front()
            .is_some_and(|sent| matches!(&sent.expect, Expect::Exact(line) if line == b"*\r\n"));
        if lines == [b"*"] && !queued_star {
            finding("sasl-cancel-after-parse", false, || {
                "the `*` cancelling an AUTH exchange went out after the exchange had ended".into()
            });
            return;
        }
        let pipelined = lines.len() > 1 || !self.in_flight.is_empty();
        let pipelining = self.config.pipelining == pop3_proto::Pipelining::Auto
            && self
                .client
                .capabilities()
                .is_some_and(Capabilities::pipelining);
        if pipelined {
            assert!(pipelining, "pipelined without PIPELINING: {shown}");
        }
        let mut any_credential = false;
        for line in &lines {
            let mut sent = self
                .queued
                .pop_front()
                .unwrap_or_else(|| panic!("a line nobody sent: {}", String::from_utf8_lossy(line)));
            let full = [*line, b"\r\n"].concat();
            assert!(full.len() <= 255, "command line longer than 255 octets");
            self.check_line(&mut sent, &full);
            let alone = if pipelining {
                sent.kind.strict_barrier()
            } else {
                sent.kind.barrier()
            };
            if alone {
                assert!(
                    lines.len() == 1 && self.in_flight.is_empty(),
                    "{:?} not sent alone",
                    sent.kind
                );
            }
            if let Some(last) = self.in_flight.back() {
                assert!(
                    !last.kind.strict_barrier() && last.kind != Kind::Quit,
                    "{:?} sent behind {:?}",
                    sent.kind,
                    last.kind
                );
            }
            if sent.kind.credential() {
                assert!(
                    self.tls_up || !self.strict_tls,
                    "credential line before TLS: {shown}"
                );
                self.credentials_on_wire = true;
            }
            if matches!(sent.kind, Kind::Pass | Kind::Apop | Kind::Rpop)
                || (sent.kind == Kind::Auth && full.iter().filter(|&&b| b == b' ').count() == 2)
            {
                any_credential = true;
            }
            if sent.kind == Kind::Stls {
                assert!(!self.credentials_on_wire, "STLS after credentials (A-15)");
                assert_eq!(self.stls_count, 0, "a second STLS (A-14)");
                assert!(!self.config.tls_active, "STLS on implicit TLS (A-14)");
                self.stls_count += 1;
                self.stls_waiting = true;
                self.last_stls = Some(sent.id);
            }
            if sent.kind.transaction_only() {
                // Behind a PASS or APOP still unanswered, only read-only commands, and only when pipelining:
                // after a refused login the server answers them -ERR and nothing changes.
                let behind_login = pipelining
                    && !matches!(sent.kind, Kind::Dele | Kind::Rset)
                    && self
                        .in_flight
                        .iter()
                        .any(|s| matches!(s.kind, Kind::Pass | Kind::Apop));
                assert!(
                    self.login_ok || behind_login,
                    "{:?} before a successful login (D-04)",
                    sent.kind
                );
            }
            self.in_flight.push_back(sent);
        }
        if self.in_flight.len() > 1 {
            let bytes: usize = self.wire_lens();
            assert!(
                bytes <= self.config.max_in_flight_bytes,
                "{bytes} octets in flight (max_in_flight_bytes {})",
                self.config.max_in_flight_bytes
            );
        }
        assert_eq!(
            sensitive, any_credential,
            "sensitivity of {shown:?} is wrong"
        );
    }

    fn wire_lens(&self) -> usize {
        self.in_flight.iter().map(|s| s.line_len).sum()
    }

    fn check_line(&self, sent: &mut Sent, full: &[u8]) {
        sent.line_len = full.len();
        match &sent.expect {
            Expect::Exact(line) => assert_eq!(full, &line[..], "encoded {:?} wrongly", sent.kind),
            Expect::Apop(user) => {
                let rest = full
                    .strip_prefix(b"APOP ")
                    .and_then(|r| r.strip_prefix(&user[..]))
                    .and_then(|r| r.strip_prefix(b" "))
                    .and_then(|r| r.strip_suffix(b"\r\n"))
                    .expect("APOP line malformed");
                assert!(
                    rest.len() == 32
                        && rest
                            .iter()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)),
                    "APOP digest malformed"
                );
            }
            Expect::Auth {
                name,
                initial,
                inline_allowed,
            } => {
                let head = format!("AUTH {name}");
                let inline = initial
                    .as_ref()
                    .filter(|ir| *inline_allowed && auth_fits(name, ir));
                let expected = match inline {
                    Some(ir) if ir.is_empty() => format!("{head} =\r\n"),
                    Some(ir) => format!("{head} {}\r\n", BASE64.encode(ir)),
                    None => format!("{head}\r\n"),
                };
                assert_eq!(String::from_utf8_lossy(full), expected, "AUTH line wrong");
            }
        }
    }

    fn on_event(&mut self, ev: Ev) {
        assert!(!self.closed_seen, "event after Closed: {ev:?}");
        let max = self.config.max_line_len;
        if let Ev::Greeting { reply, .. } = &ev {
            let text = &reply.text;
            assert!(!self.greeting_seen, "two greetings");
            assert!(self.events.is_empty(), "greeting not first");
            assert!(text.len() <= max, "greeting text over max_line_len");
            self.greeting_seen = true;
            return self.push(ev);
        }
        assert!(self.greeting_seen, "event before the greeting: {ev:?}");
        let id = ev.id().expect("command event").get();
        let front = self
            .in_flight
            .front()
            .unwrap_or_else(|| panic!("event for nothing in flight: {ev:?}"));
        assert_eq!(
            front.id, id,
            "event not attributed to the oldest in-flight command"
        );
        let kind = front.kind;
        match &ev {
            Ev::Ok { reply, .. } | Ev::Err { reply, .. } => {
                assert!(reply.text.len() <= max, "status text over max_line_len");
            }
            Ev::Stat { .. } => assert_eq!(kind, Kind::Stat),
            Ev::Scan { msg, .. } => {
                assert_eq!(kind, Kind::List);
                assert!(*msg >= 1, "scan listing for message 0");
            }
            Ev::UniqueId { msg, uid, .. } => {
                assert_eq!(kind, Kind::Uidl);
                assert!(*msg >= 1, "unique-id listing for message 0");
                assert!(
                    (1..=70).contains(&uid.len())
                        && uid.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                    "unique-id {uid:?} is not 1..=70 printable ASCII"
                );
            }
            Ev::Capabilities { capabilities, .. } => {
                assert_eq!(kind, Kind::Capa);
                assert!(capabilities.iter().count() <= self.config.max_capabilities);
                for mechanism in capabilities.sasl_mechanisms() {
                    assert!(
                        (1..=20).contains(&mechanism.len())
                            && mechanism.bytes().all(|b| b.is_ascii_uppercase()
                                || b.is_ascii_digit()
                                || b == b'-'
                                || b == b'_'),
                        "SASL mechanism name {mechanism:?}"
                    );
                }
                assert_eq!(
                    self.client.capabilities(),
                    Some(capabilities),
                    "Capabilities event differs from capabilities()"
                );
            }
            Ev::Line { line, .. } => {
                assert_eq!(kind, Kind::Lang);
                assert!(line.len() <= max);
            }
            Ev::Body { chunk: data, .. } => {
                assert!(
                    matches!(kind, Kind::Retr | Kind::Top | Kind::Raw) && front.multiline,
                    "body for {kind:?}"
                );
                assert!(!data.is_empty(), "empty body chunk");
                let bound = max + self.last_fed + 8;
                assert!(
                    data.len() <= bound,
                    "body chunk of {} octets (bound {bound})",
                    data.len()
                );
            }
            Ev::AuthCancelled { .. } => assert_eq!(kind, Kind::Auth),
            Ev::AuthFailureDetails { details, .. } => {
                assert_eq!(kind, Kind::Auth);
                assert!(details.len() <= max);
            }
            _ => {}
        }
        if let Ev::Ok { .. } = &ev {
            if kind.logs_in() {
                assert!(
                    self.tls_up || !self.strict_tls,
                    "logged in before TLS although TLS is required"
                );
                self.login_ok = true;
            }
        }
        if ev.finishes().is_some() {
            let done = self.in_flight.pop_front().expect("front exists");
            if done.kind == Kind::Stls && matches!(ev, Ev::Err { .. }) {
                self.stls_waiting = false;
            }
            if done.kind == Kind::Capa && matches!(ev, Ev::Done { .. }) {
                assert!(self.client.capabilities().is_some());
            }
        }
        self.push(ev);
    }

    fn push(&mut self, ev: Ev) {
        if let (
            Ev::Body { id, chunk: data },
            Some(Ev::Body {
                id: last,
                chunk: merged,
            }),
        ) = (&ev, self.events.last_mut())
        {
            if id == last {
                merged.extend_from_slice(data);
                return;
            }
        }
        self.events.push(ev);
    }
}

/// Whether an initial response fits on the AUTH line (RFC 2449 §4, RFC 5034 §4).
pub fn auth_fits(name: &str, ir: &[u8]) -> bool {
    let encoded = if ir.is_empty() {
        1
    } else {
        BASE64.encode(ir).len()
    };
    "AUTH ".len() + name.len() + 1 + encoded + 2 <= 255
}
