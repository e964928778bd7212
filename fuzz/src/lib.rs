//! The fuzz harness for `pop3-proto`, shared by the libFuzzer targets in `fuzz_targets/` and by
//! `tests/regressions.rs`, which replays the corpora and crash inputs on stable Rust.
//!
//! Each target is one function taking the raw fuzz input. The inputs are decoded by hand-written
//! [`arbitrary::Arbitrary`] impls with a fixed layout (see [`input`]), so that the seed corpora can be generated
//! from readable Rust ([`seeds`]) and stay meaningful across `arbitrary` versions. Every client is driven through
//! [`driver::Driver`], which checks the crate's documented invariants on every output.

pub mod driver;
pub mod input;
pub mod sasl_server;
pub mod seeds;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use pop3_proto::{
    Command, CommandId, Config, Error, Excerpt, InvalidReply, LineEndings, Mechanism, MsgNum,
    State, stuff,
};

use driver::{Driver, Ev, Kind, Rest};
use input::{
    CmdSpec, ConfigSpec, Encode, MechSpec, POP3_ALPHABET, READ_SIZES, Writer, byte, into_alphabet,
    long, number, short,
};
use sasl_server::SaslServer;

/// The greeting most scripts start with (RFC 1939 §7's APOP example).
pub const GREETING: &[u8] = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";
/// The password of the scripted logins; it must never be on the wire before TLS when TLS is required.
pub const PASSWORD: &str = "s3cr3t-P4ssw0rd";

/// A target: the raw fuzz input in, a panic on a finding.
pub type Target = fn(&[u8]);

/// The targets, by name, for the replay test.
pub const TARGETS: [(&str, Target); 8] = [
    ("client_input", client_input),
    ("chunking", chunking),
    ("dot_roundtrip", dot_roundtrip),
    ("scripted_session", scripted_session),
    ("listings", listings),
    ("sasl", sasl),
    ("apop_timestamp", apop_timestamp),
    ("command_encode", command_encode),
];

/// With `POP3_FUZZ_TRACE` set, prints what a run did (for looking at seeds and crashes).
pub fn trace(target: &str, d: &Driver) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("POP3_FUZZ_TRACE").is_some()) {
        eprintln!(
            "[{target}] wire: {:?}\n  events: {:?}\n  rest: {:?} error: {:?} login_ok: {} tls_up: {}",
            String::from_utf8_lossy(&d.wire),
            d.events,
            d.rest,
            d.error,
            d.login_ok,
            d.tls_up
        );
    }
}

/// Logs in with USER/PASS against canned `+OK`s.
fn login(d: &mut Driver) {
    if d.send(Command::User("mrose")).is_ok() {
        d.feed(b"+OK mrose is a real hoopy frood\r\n");
    }
    if d.send(Command::Pass(PASSWORD)).is_ok() {
        d.feed(b"+OK mrose's maildrop has 2 messages (320 octets)\r\n");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Scripts: server turns released in step with the client's lines

/// The server side of a scripted session. Turn 0 is the greeting; turn `i` may only be sent once the client has
/// written `i` lines (commands or SASL answers), so a script never answers a command before it was sent.
#[derive(Debug)]
pub struct Server {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    fed: usize,
}

impl Server {
    /// A server that will send `turns`.
    pub fn new(turns: &[Vec<u8>]) -> Self {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for turn in turns {
            bytes.extend_from_slice(turn);
            ends.push(bytes.len());
        }
        Self {
            bytes,
            ends,
            fed: 0,
        }
    }

    fn unlocked(&self, lines: usize) -> usize {
        match self.ends.len() {
            0 => 0,
            n => self.ends[lines.min(n - 1)],
        }
    }

    /// Bytes the server may send now.
    pub fn available(&self, lines: usize) -> usize {
        self.unlocked(lines).saturating_sub(self.fed)
    }

    /// The next at most `max` bytes the server may send.
    pub fn take(&mut self, lines: usize, max: usize) -> &[u8] {
        let n = self.available(lines).min(max.max(1));
        let start = self.fed;
        self.fed += n;
        &self.bytes[start..start + n]
    }
}

/// What the application does at the points where a real one would act.
pub trait Policy {
    /// Before the first poll.
    fn start(&mut self, _d: &mut Driver) {}
    /// At `Idle` (and, for eager policies, at every rest). Returns whether it did anything.
    fn idle(&mut self, d: &mut Driver) -> bool;
    /// At `StartTls`.
    fn start_tls(&mut self, d: &mut Driver, _server: &mut Server) {
        d.tls_established();
    }
    /// Size of the next piece of server bytes.
    fn piece(&mut self) -> usize;
}

/// Runs a scripted session to its end: server bytes at `NeedInput`, the policy at `Idle` and `StartTls`, EOF when
/// the script is exhausted.
pub fn run(d: &mut Driver, server: &mut Server, policy: &mut dyn Policy) {
    policy.start(d);
    d.drive();
    for _ in 0..100_000 {
        match d.rest {
            None => d.drive(),
            Some(Rest::Closed | Rest::Failed) => return,
            Some(Rest::StartTls) => policy.start_tls(d, server),
            Some(Rest::Idle) => {
                if !policy.idle(d) {
                    if server.available(d.lines_sent) > 0 {
                        let piece = policy.piece();
                        let bytes = server.take(d.lines_sent, piece).to_vec();
                        d.feed(&bytes);
                    } else {
                        d.eof();
                    }
                }
            }
            Some(Rest::NeedInput) => {
                if server.available(d.lines_sent) > 0 {
                    let piece = policy.piece();
                    let bytes = server.take(d.lines_sent, piece).to_vec();
                    d.feed(&bytes);
                } else {
                    d.eof();
                }
            }
        }
    }
    panic!("scripted session did not end");
}

fn turns(u: &mut Unstructured<'_>, alphabet: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut turns = Vec::new();
    while !u.is_empty() && turns.len() < 64 {
        let mapped = byte(u) & 1 == 1;
        let raw = long(u);
        turns.push(if mapped {
            into_alphabet(raw, alphabet)
        } else {
            raw.to_vec()
        });
    }
    turns
}

/// Writes turns in the layout [`turns`] reads (unmapped).
pub fn write_turns(w: &mut Writer, turns: &[&[u8]]) {
    for t in turns {
        w.byte(0).long(t);
    }
}

fn pieces(u: &mut Unstructured<'_>) -> Vec<usize> {
    short(u).iter().map(|&b| usize::from(b % 64) + 1).collect()
}

struct Pieces {
    sizes: Vec<usize>,
    at: usize,
}

impl Pieces {
    fn next(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let n = self.sizes[self.at % self.sizes.len()];
        self.at += 1;
        n
    }
}

// ---------------------------------------------------------------------------------------------------------------
// (1) client_input

/// One step of the `client_input` target: tag byte `% 8` — 0–1 send, 2–3 feed raw bytes (long), 4–5 feed
/// alphabet-mapped bytes (short), 6 TLS established, 7 EOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `send` a command.
    Send(CmdSpec),
    /// Raw server bytes.
    Feed(Vec<u8>),
    /// Bytes mapped onto [`POP3_ALPHABET`].
    FeedAlpha(Vec<u8>),
    /// The driver finished the TLS handshake.
    Tls,
    /// The server closed the connection.
    Eof,
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match byte(u) % 8 {
            0 | 1 => Self::Send(CmdSpec::arbitrary(u)?),
            2 | 3 => Self::Feed(long(u).to_vec()),
            4 | 5 => Self::FeedAlpha(short(u).to_vec()),
            6 => Self::Tls,
            _ => Self::Eof,
        })
    }
}

impl Encode for Op {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Send(c) => {
                w.byte(0);
                c.encode(w);
            }
            Self::Feed(b) => {
                w.byte(2).long(b);
            }
            Self::FeedAlpha(b) => {
                w.byte(4).short(b);
            }
            Self::Tls => {
                w.byte(6);
            }
            Self::Eof => {
                w.byte(7);
            }
        }
    }
}

/// Where `client_input` starts before applying its operations (byte `% 8`).
pub const PRELUDES: [&str; 8] = [
    "fresh",
    "greeted",
    "logged-in",
    "logged-in-pipelining",
    "mid-retr",
    "starting-tls",
    "mid-auth",
    "mid-list",
];

fn prelude(d: &mut Driver, which: u8) {
    if which == 0 {
        return;
    }
    d.feed(GREETING);
    match which {
        2 => login(d),
        3 => {
            login(d);
            if d.send(Command::Capa).is_ok() {
                d.feed(b"+OK\r\nPIPELINING\r\nUIDL\r\nTOP\r\nRESP-CODES\r\n.\r\n");
            }
        }
        4 => {
            login(d);
            if d.send(Command::Retr(MsgNum::new(1).expect("1"))).is_ok() {
                d.feed(b"+OK 120 octets\r\nSubject: hi\r\n\r\n..dot");
            }
        }
        5 if d.send(Command::Stls).is_ok() => d.feed(b"+OK Begin TLS negotiation\r\n"),
        6 => {
            let _ = d.send(Command::Auth(Mechanism::scram_sha256(
                "user",
                "pencil",
                b"nonce".to_vec(),
            )));
        }
        7 => {
            login(d);
            if d.send(Command::List(None)).is_ok() {
                d.feed(b"+OK 2 messages\r\n1 120\r\n");
            }
        }
        _ => {}
    }
}

/// Target (1): configuration, a prelude that reaches a deep state, then operations (send, feed raw or
/// alphabet-mapped bytes, TLS established, EOF), and a final EOF. Every output is checked by the [`Driver`].
pub fn client_input(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let spec = ConfigSpec([byte(&mut u), byte(&mut u), byte(&mut u), byte(&mut u)]);
    let which = byte(&mut u) % 8;
    let mut d = Driver::new(spec.config(), spec.via_buffer());
    d.drive();
    prelude(&mut d, which);
    let mut ops = 0;
    while !u.is_empty() && ops < 512 {
        ops += 1;
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        match op {
            Op::Send(c) => {
                if let Some(command) = c.command() {
                    let _ = d.send(command);
                }
            }
            Op::Feed(b) => d.feed(&b),
            Op::FeedAlpha(b) => d.feed(&into_alphabet(&b, POP3_ALPHABET)),
            Op::Tls => d.tls_established(),
            Op::Eof => d.eof(),
        }
    }
    d.eof();
    trace("client_input", &d);
}

// ---------------------------------------------------------------------------------------------------------------
// (2) chunking

struct Batches {
    batches: Vec<Vec<CmdSpec>>,
    next: usize,
    pieces: Pieces,
}

impl Policy for Batches {
    fn start(&mut self, d: &mut Driver) {
        self.idle(d);
    }
    fn idle(&mut self, d: &mut Driver) -> bool {
        let Some(batch) = self.batches.get(self.next) else {
            return false;
        };
        self.next += 1;
        for c in batch {
            if let Some(command) = c.command() {
                let _ = d.send(command);
            }
        }
        true
    }
    fn piece(&mut self) -> usize {
        self.pieces.next()
    }
}

/// The observable result of a run, for comparison.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Events, body chunks merged.
    pub events: Vec<Ev>,
    /// Bytes written.
    pub wire: Vec<u8>,
    /// The error, if any.
    pub error: Option<Error>,
    /// What `send` returned, in order.
    pub sends: Vec<Result<u64, pop3_proto::SendError>>,
    /// The final state.
    pub state: State,
}

fn chunk_run(
    config: &Config,
    via_buffer: bool,
    batches: &[Vec<CmdSpec>],
    turns: &[Vec<u8>],
    sizes: Vec<usize>,
) -> Outcome {
    let mut d = Driver::new(config.clone(), via_buffer);
    let mut server = Server::new(turns);
    let mut policy = Batches {
        batches: batches.to_vec(),
        next: 0,
        pieces: Pieces { sizes, at: 0 },
    };
    run(&mut d, &mut server, &mut policy);
    trace("chunking", &d);
    Outcome {
        state: d.client.state(),
        events: d.events,
        wire: d.wire,
        error: d.error,
        sends: d.send_results,
    }
}

/// Whether `other` stopped at `Unsolicited` on server bytes that the whole-turn run read later, as the answer to a
/// command it sent in the meantime (B-06 the other way round): a turn is released once the client wrote enough
/// lines, and a piece that spans two turns can deliver the next one before the client has anything in flight.
/// Up to that point the two runs must agree: `other`'s events, wire bytes and `send` results are a prefix of the
/// whole run's (its last body chunk may be cut short).
fn caught_early(whole: &Outcome, other: &Outcome) -> bool {
    if !matches!(other.error, Some(Error::Unsolicited { .. })) {
        return false;
    }
    let prefix_events = match other.events.split_last() {
        None => true,
        Some((last, rest)) => {
            whole.events.starts_with(rest)
                && whole
                    .events
                    .get(rest.len())
                    .is_some_and(|next| match (last, next) {
                        (
                            Ev::Body { id, chunk: data },
                            Ev::Body {
                                id: id2,
                                chunk: data2,
                            },
                        ) => id == id2 && data2.starts_with(data),
                        _ => last == next,
                    })
        }
    };
    prefix_events && whole.wire.starts_with(&other.wire) && whole.sends.starts_with(&other.sends)
}

/// Target (2): the same causal script, fed once turn by turn in whole pieces and once split at arbitrary points
/// (and once byte by byte), must give the same events (body chunks merged), bytes written, `send` results, final
/// error and state. STLS is left out (bytes after its `+OK` are an injection in one run and TLS data in the other,
/// B-01/B-05), and a whole-piece run that ends in `Unsolicited` is not compared: a server answering a command
/// that was not sent yet can only be caught when its bytes arrive early (B-06). For the same reason a split run
/// may catch such bytes where the whole-turn run did not; see [`caught_early`].
pub fn chunking(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let spec = ConfigSpec([byte(&mut u), byte(&mut u), byte(&mut u), byte(&mut u)]);
    let mut config = spec.config();
    config.read_size = config.read_size.max(64);
    let nbatches = byte(&mut u) % 8;
    let mut batches = Vec::new();
    for _ in 0..nbatches {
        let n = byte(&mut u) % 4 + 1;
        let mut batch = Vec::new();
        for _ in 0..n {
            match CmdSpec::arbitrary(&mut u) {
                Ok(CmdSpec::Stls) | Err(_) => batch.push(CmdSpec::Noop),
                Ok(c) => batch.push(c),
            }
        }
        batches.push(batch);
    }
    let sizes = pieces(&mut u);
    let turns = turns(&mut u, POP3_ALPHABET);

    let whole = chunk_run(&config, false, &batches, &turns, Vec::new());
    if matches!(whole.error, Some(Error::Unsolicited { .. })) {
        return;
    }
    let split = chunk_run(&config, spec.via_buffer(), &batches, &turns, sizes);
    same_outcome(&whole, &split, "split at arbitrary points");
    let bytewise = chunk_run(&config, false, &batches, &turns, vec![1]);
    same_outcome(&whole, &bytewise, "fed byte by byte");
}

fn same_outcome(whole: &Outcome, other: &Outcome, how: &str) {
    if whole == other || caught_early(whole, other) {
        return;
    }
    // Finding `sasl-cancel-after-parse`: whether the `*` of a cancelled AUTH goes out depends on segmentation.
    // Everything but the `*\r\n` lines of the wire.
    fn without_cancel(o: &Outcome) -> Outcome {
        let wire: Vec<u8> = o
            .wire
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| *l != b"*\r\n")
            .flatten()
            .copied()
            .collect();
        Outcome {
            events: o.events.clone(),
            wire,
            error: o.error.clone(),
            sends: o.sends.clone(),
            state: o.state,
        }
    }
    if without_cancel(whole) == without_cancel(other) {
        driver::finding("sasl-cancel-after-parse", false, || {
            format!("{how}: the AUTH cancel `*` was written in one run and not in the other")
        });
        return;
    }
    assert_eq!(whole, other, "{how}");
}

// ---------------------------------------------------------------------------------------------------------------
// (3) dot_roundtrip

struct Fixed {
    commands: Vec<Command<'static>>,
    next: usize,
    pieces: Pieces,
}

impl Policy for Fixed {
    fn idle(&mut self, d: &mut Driver) -> bool {
        let Some(c) = self.commands.get(self.next) else {
            return false;
        };
        self.next += 1;
        let _ = d.send(c.clone());
        true
    }
    fn piece(&mut self) -> usize {
        self.pieces.next()
    }
}

/// Dot-stuffs for an LF-only server: a line starts after every LF, and the terminator is `.` LF.
pub fn stuff_lf(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(b".\n");
    out
}

/// Target (3): `flags` (bit 0 TOP instead of RETR, bit 1 text after `+OK`, bit 2 feed via `input_buffer`, bit 3 an
/// LF-only server, detected from its greeting, with LF stuffing),
/// `read_size` choice, piece sizes, then the body (rest of the input). `stuff(body)` answering RETR under that
/// chunking must give back the body (plus the CRLF `stuff` adds to an unterminated last line), and a NOOP queued
/// behind it must get its own `+OK` (the terminator was consumed exactly).
pub fn dot_roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let flags = byte(&mut u);
    let read = byte(&mut u);
    let sizes = pieces(&mut u);
    let body = u.take_rest();

    let lf = flags & 8 != 0;
    let mut config = Config::default();
    config.tls_active = true;
    config.line_endings = if lf {
        LineEndings::Detect
    } else {
        LineEndings::Crlf
    };
    config.read_size = READ_SIZES[usize::from(read) % READ_SIZES.len()];
    let mut d = Driver::new(config, flags & 4 != 0);
    let one = MsgNum::new(1).expect("1");
    let retr = if flags & 1 == 1 {
        Command::Top {
            msg: one,
            lines: 10,
        }
    } else {
        Command::Retr(one)
    };
    let (eol, greeting, stuffed): (&[u8], &[u8], Vec<u8>) = if lf {
        (b"\n", b"+OK POP3 ready\n", stuff_lf(body))
    } else {
        (b"\r\n", GREETING, stuff(body))
    };
    let status: &[u8] = if flags & 2 != 0 {
        b"+OK message follows"
    } else {
        b"+OK"
    };
    let turns = vec![
        greeting.to_vec(),
        [b"+OK", eol].concat(),
        [b"+OK", eol].concat(),
        [status, eol, &stuffed].concat(),
        [b"+OK noop", eol].concat(),
    ];
    let mut policy = Fixed {
        commands: vec![
            Command::User("u"),
            Command::Pass(PASSWORD),
            retr,
            Command::Noop,
        ],
        next: 0,
        pieces: Pieces { sizes, at: 0 },
    };
    let mut server = Server::new(&turns);
    run(&mut d, &mut server, &mut policy);
    trace("dot_roundtrip", &d);
    assert_eq!(d.client.is_lf_only(), lf, "line endings not detected");

    let mut expected = body.to_vec();
    if !expected.is_empty() && !expected.ends_with(eol) {
        expected.extend_from_slice(eol);
    }
    assert!(d.error.is_none(), "error: {:?}", d.error);
    let got: Vec<u8> = d
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Body { id, chunk } if id.get() == 2 => Some(chunk.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(got, expected, "dot-stuffing did not round-trip");
    assert!(
        d.events.contains(&Ev::Done {
            id: CommandId::new(2)
        }),
        "RETR not done"
    );
    assert!(
        d.events.contains(&Ev::Done {
            id: CommandId::new(3)
        }),
        "NOOP after RETR not answered"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// (4) scripted_session

struct Login {
    method: u8,
    eager: bool,
    inject: bool,
    step: usize,
    stls_sent: bool,
    pieces: Pieces,
}

impl Login {
    fn try_credentials(&mut self, d: &mut Driver) {
        // A careless application: try to log in whenever it can. Before TLS every attempt must be refused.
        let _ = d.send(Command::User("mrose"));
        let _ = d.send(Command::Pass(PASSWORD));
        let _ = d.send(Command::Apop {
            user: "mrose",
            password: PASSWORD,
        });
        let _ = d.send(Command::Auth(Mechanism::plain("mrose", PASSWORD)));
        let _ = d.send(Command::Rpop("mrose"));
    }
}

impl Policy for Login {
    fn start(&mut self, d: &mut Driver) {
        if self.eager {
            self.try_credentials(d);
        }
        let _ = d.send(Command::Capa);
    }

    fn idle(&mut self, d: &mut Driver) -> bool {
        if !d.tls_up {
            if self.eager {
                self.try_credentials(d);
            }
            if !self.stls_sent {
                self.stls_sent = true;
                let _ = d.send(Command::Stls);
                return true;
            }
            // STLS was refused: give up (A-01, A-02), without a second STLS.
            if self.step == 0 {
                self.step = 1;
                let _ = d.send(Command::Stls);
                let _ = d.send(Command::Quit);
                return true;
            }
            return false;
        }
        self.step += 1;
        let one = MsgNum::new(1).expect("1");
        let command = match (self.method, self.step) {
            (0, 1) => Command::User("mrose"),
            (0, 2) => Command::Pass(PASSWORD),
            (1, 1) => Command::Apop {
                user: "mrose",
                password: PASSWORD,
            },
            (2, 1) => Command::Auth(Mechanism::plain("mrose", PASSWORD)),
            (_, 1) => Command::Auth(Mechanism::scram_sha256(
                "mrose",
                PASSWORD,
                b"scripted-nonce".to_vec(),
            )),
            (_, 3) => Command::Stat,
            (_, 4) => Command::List(None),
            (_, 5) => Command::Uidl(None),
            (_, 6) => Command::Retr(one),
            (_, 7) => Command::Quit,
            (_, 2) => Command::Noop,
            _ => return false,
        };
        let _ = d.send(command);
        true
    }

    fn start_tls(&mut self, d: &mut Driver, server: &mut Server) {
        if self.eager {
            self.try_credentials(d);
        }
        if self.inject && server.available(d.lines_sent) > 0 {
            // Plaintext arriving between STLS's +OK and the handshake (B-05 as seen by the core).
            let bytes = server.take(d.lines_sent, usize::MAX).to_vec();
            d.feed(&bytes);
            assert!(
                matches!(d.error, Some(Error::DataAfterStls)),
                "bytes before the handshake were not refused: {:?}",
                d.error
            );
            return;
        }
        d.tls_established();
    }

    fn piece(&mut self) -> usize {
        self.pieces.next()
    }
}

/// Target (4): a login flow that requires TLS (no implicit TLS, no plaintext credentials): CAPA, STLS, handshake,
/// then USER/PASS, APOP, AUTH PLAIN or AUTH SCRAM-SHA-256, then a few TRANSACTION commands, against server turns
/// from the input (curl-fuzzer style). Policy byte: bits 0–1 login method, bit 2 try credentials at every
/// opportunity, bit 3 deliver pending bytes before the handshake, bit 4 feed via `input_buffer`, bit 5 no re-CAPA,
/// bit 6 never pipeline; then piece sizes, then turns. No credential byte may be written, and no login succeed,
/// before the handshake the client asked for.
pub fn scripted_session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let flags = byte(&mut u);
    let sizes = pieces(&mut u);
    let turns = turns(&mut u, POP3_ALPHABET);
    let mut config = Config::default();
    config.recapa_after_tls = flags & 32 == 0;
    if flags & 64 != 0 {
        config.pipelining = pop3_proto::Pipelining::Never;
    }
    let mut d = Driver::new(config, flags & 16 != 0);
    d.secrets = vec![PASSWORD.as_bytes().to_vec()];
    let mut policy = Login {
        method: flags & 3,
        eager: flags & 4 != 0,
        inject: flags & 8 != 0,
        step: 0,
        stls_sent: false,
        pieces: Pieces { sizes, at: 0 },
    };
    let mut server = Server::new(&turns);
    run(&mut d, &mut server, &mut policy);
    trace("scripted_session", &d);
    if !d.tls_up {
        assert!(
            !contains_any(&d.wire, &[b"USER", b"PASS", b"APOP", b"AUTH", b"RPOP"]),
            "credential command on the wire without TLS"
        );
        assert!(!d.login_ok);
    }
}

fn contains_any(haystack: &[u8], needles: &[&[u8]]) -> bool {
    needles.iter().any(|n| driver::contains(haystack, n))
}

// ---------------------------------------------------------------------------------------------------------------
// (5) listings

/// A response the `listings` target sends, with the command that asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// `LIST`: scan listings `(msg, octets)`.
    List(Vec<(u64, u64)>),
    /// `UIDL`: unique-id listings `(msg, uid)`.
    Uidl(Vec<(u64, Vec<u8>)>),
    /// `CAPA`: capability lines.
    Capa(Vec<Vec<u8>>),
    /// `STAT`: `+OK count octets`.
    Stat(u64, u64),
    /// `LIST n`: `+OK n octets`.
    ListOne(u64, u64),
    /// `UIDL n`: `+OK n uid`.
    UidlOne(u64, Vec<u8>),
    /// A command (`% 7`: LIST, UIDL, CAPA, STAT, LIST 1, UIDL 1, LANG) answered with raw bytes, alphabet-mapped when
    /// the flag is set.
    Raw(u8, bool, Vec<u8>),
    /// `LIST` answered with these scan listings, then a `.` line ended by a bare LF, then `99 1` and the real
    /// terminator: in CRLF mode only `CRLF . CRLF` ends a multi-line response (HOSTILE-CASES decision 2, G-06).
    BareLfDot(Vec<(u64, u64)>),
}

/// The alphabet for raw listing responses.
pub const LISTING_ALPHABET: &[&[u8]] = &[
    b"+OK",
    b"-ERR",
    b"\r\n",
    b".",
    b" ",
    b"0",
    b"1",
    b"7",
    b"9",
    b"a",
    b"Z",
    b"~",
    b"\t",
    b"\n",
    b"\r",
    b"\0",
    b"\xff",
    b"-",
    b"+",
    b"SASL",
    b"PIPELINING",
    b"LOGIN-DELAY",
    b"EXPIRE",
    b"USER",
    b"NEVER",
    b"IMPLEMENTATION",
    b"18446744073709551615",
    b"18446744073709551616",
    b"..",
    b"\r\n.\r\n",
];

impl<'a> Arbitrary<'a> for Listing {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = |u: &mut Unstructured<'a>| usize::from(byte(u) % 16);
        Ok(match byte(u) % 8 {
            0 => Self::List((0..count(u)).map(|_| (number(u), number(u))).collect()),
            1 => Self::Uidl(
                (0..count(u))
                    .map(|_| (number(u), short(u).to_vec()))
                    .collect(),
            ),
            2 => Self::Capa((0..count(u)).map(|_| short(u).to_vec()).collect()),
            3 => Self::Stat(number(u), number(u)),
            4 => Self::ListOne(number(u), number(u)),
            5 => Self::UidlOne(number(u), short(u).to_vec()),
            6 => Self::Raw(byte(u), byte(u) & 1 == 1, long(u).to_vec()),
            _ => Self::BareLfDot((0..count(u)).map(|_| (number(u), number(u))).collect()),
        })
    }
}

impl Encode for Listing {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::List(v) => {
                w.byte(0).byte(v.len() as u8);
                for (m, o) in v {
                    w.number(*m).number(*o);
                }
            }
            Self::Uidl(v) => {
                w.byte(1).byte(v.len() as u8);
                for (m, uid) in v {
                    w.number(*m).short(uid);
                }
            }
            Self::Capa(v) => {
                w.byte(2).byte(v.len() as u8);
                for l in v {
                    w.short(l);
                }
            }
            Self::Stat(a, b) => {
                w.byte(3).number(*a).number(*b);
            }
            Self::ListOne(a, b) => {
                w.byte(4).number(*a).number(*b);
            }
            Self::UidlOne(a, uid) => {
                w.byte(5).number(*a).short(uid);
            }
            Self::Raw(c, mapped, b) => {
                w.byte(6).byte(*c).byte(u8::from(*mapped)).long(b);
            }
            Self::BareLfDot(v) => {
                w.byte(7).byte(v.len() as u8);
                for (m, o) in v {
                    w.number(*m).number(*o);
                }
            }
        }
    }
}

fn valid_uid(uid: &[u8]) -> bool {
    (1..=70).contains(&uid.len()) && uid.iter().all(|&b| (0x21..=0x7e).contains(&b))
}

/// Dot-stuffs one line (RFC 1939 §3).
fn stuffed(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 3);
    if line.first() == Some(&b'.') {
        out.push(b'.');
    }
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
    out
}

/// The reference model of one listing answer: entries up to the first fault, then that fault (RFC 1939 §5, §7:
/// numbers ≥ 1, rising strictly, the one asked about, not above the maildrop's highest number).
struct Expected {
    highest: Option<u64>,
    last: Option<u64>,
    events: Vec<Ev>,
    failed: bool,
}

impl Expected {
    fn new(highest: Option<u64>) -> Self {
        Self {
            highest,
            last: None,
            events: Vec::new(),
            failed: false,
        }
    }

    /// One entry: `parsed` is `None` when the line (shown as `line`) is malformed.
    fn entry(&mut self, line: &[u8], asked: Option<u64>, parsed: Option<(u64, Ev)>) {
        if self.failed {
            return;
        }
        let fault = match parsed {
            None => Some(InvalidReply::MalformedListing {
                line: Excerpt::new(line),
            }),
            Some((msg, _)) if asked.is_some_and(|a| a != msg) => Some(InvalidReply::WrongMessage {
                asked: asked.unwrap_or_default(),
                answered: msg,
            }),
            Some((msg, _)) if self.last.is_some_and(|p| msg <= p) => {
                Some(InvalidReply::OutOfOrder {
                    previous: self.last.unwrap_or_default(),
                    msg,
                })
            }
            Some((msg, _)) if self.highest.is_some_and(|h| msg > h) => {
                Some(InvalidReply::BeyondCount {
                    msg,
                    count: self.highest.unwrap_or_default(),
                })
            }
            Some((msg, event)) => {
                self.last = Some(msg);
                self.events.push(event);
                None
            }
        };
        if let Some(error) = fault {
            self.failed = true;
            self.events.push(Ev::Invalid {
                id: CommandId::new(0),
                error,
            });
        }
    }
}

/// What the client must report for a generated listing, given the highest message number a STAT reported: the
/// events after `+OK` (ending in `Invalid` when the answer is at fault), or `None` when the target only checks
/// invariants.
fn listing_response(
    l: &Listing,
    highest: Option<u64>,
) -> (Command<'static>, Vec<u8>, Option<Vec<Ev>>) {
    let one = MsgNum::new(1).expect("1");
    let mut expected = Expected::new(highest);
    let uid_line = |m: u64, uid: &[u8]| -> (Vec<u8>, Option<(u64, Ev)>) {
        let uid: Vec<u8> = uid
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b'x' } else { b })
            .collect();
        let mut trimmed = &uid[..];
        while let [rest @ .., b' '] = trimmed {
            trimmed = rest;
        }
        let parsed = (m >= 1 && valid_uid(trimmed)).then(|| {
            let event = Ev::UniqueId {
                id: CommandId::new(0),
                msg: m,
                uid: String::from_utf8_lossy(trimmed).into_owned(),
            };
            (m, event)
        });
        ([format!("{m} ").as_bytes(), &uid].concat(), parsed)
    };
    let scan = |m: u64, o: u64| {
        (m >= 1).then(|| {
            let event = Ev::Scan {
                id: CommandId::new(0),
                msg: m,
                octets: o,
            };
            (m, event)
        })
    };
    match l {
        Listing::List(v) => {
            let mut r = b"+OK scan listing follows\r\n".to_vec();
            for (m, o) in v {
                let line = format!("{m} {o}");
                r.extend_from_slice(line.as_bytes());
                r.extend_from_slice(b"\r\n");
                expected.entry(line.as_bytes(), None, scan(*m, *o));
            }
            r.extend_from_slice(b".\r\n");
            (Command::List(None), r, Some(expected.events))
        }
        Listing::Uidl(v) => {
            let mut r = b"+OK\r\n".to_vec();
            for (m, uid) in v {
                let (line, parsed) = uid_line(*m, uid);
                r.extend_from_slice(&stuffed(&line));
                expected.entry(&line, None, parsed);
            }
            r.extend_from_slice(b".\r\n");
            (Command::Uidl(None), r, Some(expected.events))
        }
        Listing::Capa(lines) => {
            let mut r = b"+OK Capability list follows\r\n".to_vec();
            for line in lines {
                let line: Vec<u8> = line
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                    .collect();
                r.extend_from_slice(&stuffed(&line));
            }
            r.extend_from_slice(b".\r\n");
            (Command::Capa, r, None)
        }
        Listing::Stat(c, o) => (
            Command::Stat,
            format!("+OK {c} {o}\r\n").into_bytes(),
            Some(vec![Ev::Stat {
                id: CommandId::new(0),
                count: *c,
                octets: *o,
            }]),
        ),
        Listing::ListOne(m, o) => {
            let line = format!("{m} {o}");
            expected.entry(line.as_bytes(), Some(1), scan(*m, *o));
            (
                Command::List(Some(one)),
                format!("+OK {line}\r\n").into_bytes(),
                Some(expected.events),
            )
        }
        Listing::UidlOne(m, uid) => {
            let (line, parsed) = uid_line(*m, uid);
            expected.entry(&line, Some(1), parsed);
            (
                Command::Uidl(Some(one)),
                [b"+OK ", &line[..], b"\r\n"].concat(),
                Some(expected.events),
            )
        }
        Listing::BareLfDot(v) => {
            let mut r = b"+OK\r\n".to_vec();
            for (m, o) in v {
                r.extend_from_slice(format!("{} {o}\r\n", (*m).max(1)).as_bytes());
            }
            r.extend_from_slice(b".\n99 1\r\n.\r\n");
            (Command::List(None), r, None)
        }
        Listing::Raw(c, mapped, bytes) => {
            let command = match c % 7 {
                0 => Command::List(None),
                1 => Command::Uidl(None),
                2 => Command::Capa,
                3 => Command::Stat,
                4 => Command::List(Some(one)),
                5 => Command::Uidl(Some(one)),
                _ => Command::Lang(None),
            };
            let r = if *mapped {
                into_alphabet(bytes, LISTING_ALPHABET)
            } else {
                bytes.clone()
            };
            (command, r, None)
        }
    }
}

fn with_id(events: &[Ev], id: CommandId) -> Vec<Ev> {
    events
        .iter()
        .map(|e| match e.clone() {
            Ev::Scan { msg, octets, .. } => Ev::Scan { id, msg, octets },
            Ev::UniqueId { msg, uid, .. } => Ev::UniqueId { id, msg, uid },
            Ev::Stat { count, octets, .. } => Ev::Stat { id, count, octets },
            Ev::Invalid { error, .. } => Ev::Invalid { id, error },
            other => other,
        })
        .collect()
}

/// Target (5): configuration, then responses: generated LIST/UIDL/STAT/CAPA answers (whose events are known, so the
/// client must report exactly them, or fail that command with `Invalid` exactly at the first malformed, repeated,
/// descending, mismatched or out-of-range entry, the session going on) and raw ones (only the invariants). Every Scan and UniqueId event is checked by the driver: msg ≥ 1, uid 1..=70 printable.
pub fn listings(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let spec = ConfigSpec([byte(&mut u), byte(&mut u), byte(&mut u), byte(&mut u)]);
    let mut config = spec.config();
    config.tls_active = true;
    let strict = config.max_line_len >= 2048 && config.max_capabilities >= 256;
    let mut d = Driver::new(config, spec.via_buffer());
    d.drive();
    d.feed(GREETING);
    login(&mut d);
    let mut n = 0;
    // The highest message number, by the last STAT answered with `+OK` (nothing is deleted here).
    let mut highest = None;
    while !u.is_empty() && n < 32 && d.rest == Some(Rest::Idle) {
        n += 1;
        let Ok(listing) = Listing::arbitrary(&mut u) else {
            break;
        };
        let (command, response, expected) = listing_response(&listing, highest);
        let is_stat = matches!(command, Command::Stat);
        let Ok(id) = d.send(command) else { break };
        let before = d.events.len();
        d.feed(&response);
        if is_stat
            && d.events[before..]
                .iter()
                .any(|e| matches!(e, Ev::Ok { .. }))
        {
            highest = d.events[before..].iter().find_map(|e| match e {
                Ev::Stat { count, .. } => Some(*count),
                _ => None,
            });
        }
        if let Listing::BareLfDot(v) = &listing {
            if !d.client.is_lf_only() {
                let done_early = d.events[before..]
                    .iter()
                    .filter(|e| matches!(e, Ev::Scan { .. }))
                    .count()
                    == v.len()
                    && d.events[before..].contains(&Ev::Done { id });
                driver::finding("listing-bare-lf-dot", !done_early, || {
                    "a LIST response ended at a `.` line with a bare LF in CRLF mode".into()
                });
            }
            continue;
        }
        if matches!(listing, Listing::Raw(..)) || !strict || d.client.is_lf_only() {
            continue;
        }
        let got: Vec<Ev> = d.events[before..]
            .iter()
            .filter(|e| !matches!(e, Ev::Ok { .. } | Ev::Done { .. }))
            .cloned()
            .collect();
        match (&listing, expected) {
            (Listing::Capa(lines), _) => {
                let Some(Ev::Capabilities { capabilities, .. }) = got.first() else {
                    panic!("no capabilities: {got:?} {:?}", d.error);
                };
                let non_empty = lines
                    .iter()
                    .filter(|l| {
                        let l: Vec<u8> = l
                            .iter()
                            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                            .collect();
                        !l.trim_ascii().is_empty()
                    })
                    .count();
                assert_eq!(
                    capabilities.iter().count(),
                    non_empty,
                    "capability lines lost"
                );
            }
            (_, Some(expected)) => {
                assert_eq!(got, with_id(&expected, id), "listing misparsed");
                assert!(d.error.is_none(), "a well-framed listing ended the session");
            }
            (_, None) => {}
        }
    }
    d.eof();
    trace("listings", &d);
}

// ---------------------------------------------------------------------------------------------------------------
// (6) sasl

/// One server move in the `sasl` target (tag `% 7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// What an honest server says next.
    Honest,
    /// Raw bytes.
    Raw(Vec<u8>),
    /// `+ <base64 of these bytes>`.
    Challenge(Vec<u8>),
    /// `+OK`.
    Ok,
    /// `-ERR`.
    Err,
    /// The honest line with one byte changed.
    Corrupt(u8, u8),
    /// `+ ` (empty challenge).
    Empty,
}

impl<'a> Arbitrary<'a> for Move {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match byte(u) % 7 {
            0 => Self::Honest,
            1 => Self::Raw(long(u).to_vec()),
            2 => Self::Challenge(short(u).to_vec()),
            3 => Self::Ok,
            4 => Self::Err,
            5 => Self::Corrupt(byte(u), byte(u)),
            _ => Self::Empty,
        })
    }
}

impl Encode for Move {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Honest => {
                w.byte(0);
            }
            Self::Raw(b) => {
                w.byte(1).long(b);
            }
            Self::Challenge(b) => {
                w.byte(2).short(b);
            }
            Self::Ok => {
                w.byte(3);
            }
            Self::Err => {
                w.byte(4);
            }
            Self::Corrupt(at, x) => {
                w.byte(5).byte(*at).byte(*x);
            }
            Self::Empty => {
                w.byte(6);
            }
        }
    }
}

/// Whether two `+ <base64>` lines carry the same challenge, read as RFC 5034 allows (surrounding whitespace
/// ignored, padding optional), and, for a SCRAM server-final, the same signature (its base64 padding is optional
/// too).
fn same_challenge(a: &[u8], b: &[u8]) -> bool {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let payload = |line: &[u8]| {
        let text = line.strip_prefix(b"+ ")?.strip_suffix(b"\n")?;
        let text = text.strip_suffix(b"\r").unwrap_or(text).trim_ascii();
        if text.contains(&b'\n') {
            return None;
        }
        engine.decode(text).ok()
    };
    let meaning = |p: Vec<u8>| {
        let signature = p
            .split(|&b| b == b',')
            .next()
            .and_then(|f| f.strip_prefix(b"v="))
            .and_then(|sig| engine.decode(sig).ok());
        match signature {
            Some(sig) => [b"v=".as_slice(), &sig].concat(),
            None => p,
        }
    };
    match (payload(a), payload(b)) {
        (Some(x), Some(y)) => meaning(x) == meaning(y),
        _ => false,
    }
}

/// Target (6): mechanism spec, flags (bit 0 no initial response, bit 1 feed via `input_buffer`), `max_sasl_steps`,
/// SCRAM iteration count (1–256), then server moves. The client must never answer with more than one line or
/// more than the step limit, must reach TRANSACTION after an all-honest exchange, and a SCRAM `+OK` must never
/// log in unless a valid server signature was delivered.
pub fn sasl(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(spec) = MechSpec::arbitrary(&mut u) else {
        return;
    };
    let flags = byte(&mut u);
    let steps = byte(&mut u);
    let iterations = u32::from(byte(&mut u)) + 1;
    let mut config = Config::default();
    config.tls_active = true;
    config.sasl_initial_response = flags & 1 == 0;
    config.max_sasl_steps = usize::from(steps % 10);
    let mut d = Driver::new(config.clone(), flags & 2 != 0);
    // Only the default secret is distinctive enough to look for: an arbitrary one may be part of the public text
    // (a mechanism name, the user name, a keyword).
    if spec.custom.is_none() {
        d.secrets = vec![spec.credentials().1.into_bytes()];
    }
    d.drive();
    d.feed(b"+OK POP3 server ready\r\n");
    let mechanism = spec.mechanism();
    let scram = mechanism.is_scram();
    let valid = mechanism.validate().is_ok();
    let inline = config.sasl_initial_response
        && driver::initial_response(&mechanism)
            .is_some_and(|ir| driver::auth_fits(mechanism.name(), &ir));
    let Ok(id) = d.send(Command::Auth(mechanism)) else {
        assert!(!valid, "valid mechanism refused");
        return;
    };
    let mut server = SaslServer::new(spec, iterations, b"fuzz-salt".to_vec());
    for _ in 0..24 {
        if d.rest != Some(Rest::NeedInput) {
            break;
        }
        server.observe(&d.wire);
        let line = match Move::arbitrary(&mut u).unwrap_or(Move::Honest) {
            Move::Honest => server.honest(),
            other => {
                server.all_honest = false;
                match other {
                    Move::Raw(b) => b,
                    Move::Challenge(b) => format!("+ {}\r\n", BASE64.encode(b)).into_bytes(),
                    Move::Ok => b"+OK\r\n".to_vec(),
                    Move::Err => b"-ERR\r\n".to_vec(),
                    Move::Corrupt(at, x) => {
                        let was_proof = server.proof_delivered;
                        let honest = server.honest();
                        let mut line = honest.clone();
                        let at = usize::from(at) % line.len().max(1);
                        if let Some(b) = line.get_mut(at) {
                            *b ^= x.max(1);
                        }
                        // A corrupted signature is no proof, unless the change is one the client rightly
                        // ignores (e.g. CR turned into other trailing whitespace).
                        server.proof_delivered =
                            was_proof || (server.proof_delivered && same_challenge(&honest, &line));
                        line
                    }
                    _ => b"+ \r\n".to_vec(),
                }
            }
        };
        d.feed(&line);
    }
    let logged_in = d.events.contains(&Ev::Done { id })
        && d.events
            .iter()
            .any(|e| matches!(e, Ev::Ok { id: i, .. } if *i == id));
    if scram && logged_in {
        assert!(
            server.proof_delivered,
            "SCRAM +OK accepted without a valid server signature"
        );
    }
    if logged_in && !d.finished() {
        assert_eq!(d.client.state(), State::Transaction);
    } else if !logged_in && d.error.is_none() {
        assert_ne!(d.client.state(), State::Transaction);
    }
    if server.all_honest && server.sent_success && valid {
        let needed = server.steps_needed(inline);
        if needed <= config.max_sasl_steps {
            assert!(
                logged_in,
                "an honest exchange failed: {:?} {:?}",
                d.events, d.error
            );
        }
    }
    if d.rest == Some(Rest::NeedInput) {
        d.eof();
    }
    trace("sasl", &d);
}

// ---------------------------------------------------------------------------------------------------------------
// (7) apop_timestamp

/// The APOP greeting alphabet.
pub const APOP_ALPHABET: &[&[u8]] = &[
    b"<", b">", b"@", b"a", b".", b" ", b"\x01", b"\xfc", b"1", b"\t", b"<1@a>", b"\x7f",
];

/// The first RFC 822 msg-id in `text`, as RFC 1939 §7 and the crate's docs define it: `<`, then 7-bit printable
/// octets without `<`, `>` or SP containing an `@`, then `>`, at least five octets in all. Written independently:
/// scans back from each `>`.
pub fn reference_timestamp(text: &[u8]) -> Option<&[u8]> {
    for (j, &b) in text.iter().enumerate() {
        if b != b'>' {
            continue;
        }
        let mut has_at = false;
        let mut i = j;
        while i > 0 {
            i -= 1;
            match text[i] {
                b'<' => {
                    if has_at && j - i + 1 >= 5 {
                        return Some(&text[i..=j]);
                    }
                    break;
                }
                b'>' => break,
                b'@' => has_at = true,
                0x21..=0x7e => {}
                _ => break,
            }
        }
    }
    None
}

/// Target (7): flags (bit 0 map onto [`APOP_ALPHABET`], bit 1 the input is the whole greeting line), a
/// `max_line_len` choice, then the greeting text. `apop_timestamp` must equal [`reference_timestamp`], and
/// `Command::Apop` must be accepted exactly when there is one, with the RFC 1939 digest on the wire. Runs in
/// linear time (libFuzzer's `-timeout` catches a slow input).
pub fn apop_timestamp(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let flags = byte(&mut u);
    let line_len = byte(&mut u);
    let text = u.take_rest();
    let text = if flags & 1 == 1 {
        into_alphabet(text, APOP_ALPHABET)
    } else {
        text.to_vec()
    };
    let line = if flags & 2 != 0 {
        text
    } else {
        [b"+OK ", &text[..], b"\r\n"].concat()
    };
    let mut config = Config::default();
    config.tls_active = true;
    config.max_line_len = [2048, 512, 65536, 64][usize::from(line_len) % 4];
    let mut d = Driver::new(config, false);
    d.drive();
    d.feed(&line);
    let greeting_ok = matches!(d.events.first(), Some(Ev::Greeting { ok: true, .. }));
    let timestamp = d.client.apop_timestamp().map(<[u8]>::to_vec);
    if let Some(greeting) = d.client.greeting() {
        assert_eq!(
            d.client.apop_timestamp(),
            reference_timestamp(greeting),
            "APOP timestamp differs from the reference"
        );
    } else {
        assert!(timestamp.is_none());
    }
    let result = d.send(Command::Apop {
        user: "mrose",
        password: "tanstaaf",
    });
    match (&timestamp, greeting_ok && d.error.is_none()) {
        (Some(ts), true) => {
            assert!(
                result.is_ok(),
                "APOP refused with a valid timestamp: {result:?}"
            );
            let mut md5 = Md5::new();
            md5.update(ts);
            md5.update(b"tanstaaf");
            let hex: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                String::from_utf8_lossy(&d.wire),
                format!("APOP mrose {hex}\r\n"),
                "APOP digest wrong"
            );
        }
        _ => assert!(result.is_err(), "APOP accepted without a valid timestamp"),
    }
    trace("apop_timestamp", &d);
}

// ---------------------------------------------------------------------------------------------------------------
// (8) command_encode

/// Whether the arguments of `c` are acceptable, by RFC 1939 §3 and RFC 2449 §4 as the crate documents them:
/// non-empty, no CR, LF or NUL, single words without SP or TAB where the grammar has one word, and at most 255
/// octets with CRLF. `None` when argument validity is not what decides (state, TLS policy).
pub fn reference_arguments(c: &CmdSpec, greeting_has_timestamp: bool) -> Option<bool> {
    let text = |s: &str| !s.is_empty() && !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    let word = |s: &str| text(s) && !s.contains([' ', '\t']);
    let fits = |len: usize| len + 2 <= 255;
    Some(match c {
        CmdSpec::User(s) => text(s) && fits(5 + s.len()),
        CmdSpec::Pass(s) => text(s) && fits(5 + s.len()),
        CmdSpec::Rpop(s) => text(s) && fits(5 + s.len()),
        CmdSpec::Apop(user, pw) => {
            greeting_has_timestamp && word(user) && text(pw) && fits(5 + user.len() + 1 + 32)
        }
        CmdSpec::Lang(Some(tag)) => word(tag) && fits(5 + tag.len()),
        CmdSpec::Raw(line, _) => {
            let keyword = line
                .trim_start_matches([' ', '\t'])
                .split([' ', '\t'])
                .next()
                .unwrap_or_default();
            let typed = [
                "USER", "PASS", "APOP", "RPOP", "AUTH", "STLS", "QUIT", "UTF8",
            ]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(keyword));
            if typed {
                return None;
            }
            text(line) && fits(line.len())
        }
        CmdSpec::Auth(m) => m.mechanism().validate().is_ok(),
        _ => true,
    })
}

/// Target (8): setup flags (bit 0 log in first, bit 1 plaintext credentials instead of implicit TLS, bit 2 no SASL
/// initial response, bit 3 greeting without an APOP timestamp), then commands. Each is refused by `send` or goes
/// out as exactly its own line (checked by the driver: CRLF-terminated, no other CR/LF/NUL, ≤ 255 octets, equal to
/// the independently built encoding); argument errors happen exactly when [`reference_arguments`] says so.
pub fn command_encode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let flags = byte(&mut u);
    let mut config = Config::default();
    if flags & 2 != 0 {
        config.allow_plaintext_credentials = true;
    } else {
        config.tls_active = true;
    }
    config.sasl_initial_response = flags & 4 == 0;
    let mut d = Driver::new(config, false);
    d.drive();
    let with_ts = flags & 8 == 0;
    d.feed(if with_ts {
        GREETING
    } else {
        b"+OK POP3 server ready\r\n"
    });
    if flags & 1 != 0 {
        login(&mut d);
    }
    let mut n = 0;
    while !u.is_empty() && n < 16 && !d.finished() {
        n += 1;
        let Ok(spec) = CmdSpec::arbitrary(&mut u) else {
            break;
        };
        let Some(command) = spec.command() else {
            // Message number 0: `MsgNum` cannot express it (RFC 1939 §4).
            continue;
        };
        let result = d.send(command);
        match (&result, reference_arguments(&spec, with_ts)) {
            (Ok(_), Some(valid)) => assert!(valid, "{spec:?} accepted"),
            (Err(pop3_proto::SendError::Argument(e)), Some(valid)) => {
                assert!(!valid, "{spec:?} refused: {e}")
            }
            (Err(pop3_proto::SendError::UseTypedCommand(_)), _) => {
                assert!(matches!(spec, CmdSpec::Raw(..)));
            }
            _ => {}
        }
        // Answer so the session is idle again: refuse logins and STLS so the state stays; give AUTH one empty
        // challenge first, so a deferred initial response goes out (C-05).
        let mut challenged = false;
        for _ in 0..8 {
            if d.rest != Some(Rest::NeedInput) {
                break;
            }
            let answer: &[u8] = match d.front() {
                Some((Kind::Auth, _)) if !challenged => {
                    challenged = true;
                    b"+ \r\n"
                }
                Some((Kind::Pass | Kind::Apop | Kind::Rpop | Kind::Auth | Kind::Stls, _)) => {
                    b"-ERR no\r\n"
                }
                Some((Kind::Stat, _)) => b"+OK 1 100\r\n",
                Some((Kind::List, false)) => b"+OK 1 100\r\n",
                Some((Kind::Uidl, false)) => b"+OK 1 uid-1\r\n",
                Some((_, true)) => b"+OK\r\n.\r\n",
                _ => b"+OK\r\n",
            };
            d.feed(answer);
        }
    }
    trace("command_encode", &d);
}

// ---------------------------------------------------------------------------------------------------------------
// Replay

/// The files under `path` (itself if it is a file), sorted.
pub fn inputs(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `main` of a target built without libFuzzer: replays every file named on the command line (or in the
/// directories named there) through `target`.
pub fn replay_main(target: fn(&[u8])) {
    let mut count = 0;
    for arg in std::env::args_os().skip(1) {
        for file in inputs(std::path::Path::new(&arg)) {
            let data = std::fs::read(&file).expect("readable input");
            eprintln!("replaying {}", file.display());
            target(&data);
            count += 1;
        }
    }
    eprintln!("{count} inputs replayed without a finding");
}
