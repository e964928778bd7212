//! A transcript runner: drives a [`Client`] through a `C:`/`S:` session and checks it gives the same result
//! however the server's bytes are cut into reads.
//!
//! A transcript is one line per protocol line, leading blanks ignored:
//!
//! ```text
//! S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>   server line, CRLF appended
//! C: APOP mrose c4c9334bac560ecc979e58001b3e22fb               client line, CRLF appended
//! S~ +OK\n1 a\n                                                raw server bytes, nothing appended
//! -- tls --                                                    the TLS handshake happens here
//! ```
//!
//! `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN` are unescaped in every line. The transcript is causal: the server
//! sends what follows a `C:` line only after the client wrote that line, and what follows `-- tls --` only after
//! the handshake. The end of the transcript is the server closing the connection.
//!
//! The application's side is a [`Session`]: commands sent before the first poll, and batches of commands sent
//! each time the client says [`Output::Idle`]. [`Session::replay`] runs the session with every server turn in one
//! read, byte by byte, and split in two at every point, and asserts that all replays agree on the normalized
//! events, the bytes written (as [`Transmit`](pop3_proto::Transmit)s), the send results, the state changes and
//! the error.

// Each test file uses a different part of the runner.
#![allow(dead_code, unused_imports)]

mod events;
pub(crate) mod scram;

use pop3_proto::{Capability, Client, Command, Config, Error, Escaped, Output, SendError, State};

pub(crate) use events::{
    Code, Ev, body, capabilities, done, err, err_with, greeting, greeting_with, id, invalid, line,
    malformed, ok, ok_with, scan, stat, uid,
};

enum Item {
    Server(Vec<u8>),
    Client(Vec<u8>),
    Tls,
}

/// What the server sends and what the client must write, in order.
#[derive(Default)]
pub(crate) struct Transcript {
    items: Vec<Item>,
}

impl Transcript {
    /// Parses the `S:` / `S~` / `C:` / `-- tls --` form described in the module docs.
    pub(crate) fn parse(text: &str) -> Self {
        let mut transcript = Self::default();
        for line in text.lines().map(str::trim_start).filter(|l| !l.is_empty()) {
            if line == "-- tls --" {
                transcript = transcript.tls();
                continue;
            }
            let (tag, rest) = line.split_at(line.len().min(2));
            let mut bytes = unescape(rest.strip_prefix(' ').unwrap_or(rest));
            match tag {
                "S:" | "C:" => bytes.extend_from_slice(b"\r\n"),
                "S~" => {}
                _ => panic!(
                    "transcript line must start with `S:`, `S~`, `C:` or be `-- tls --`: {line}"
                ),
            }
            transcript = if tag == "C:" {
                transcript.client(bytes)
            } else {
                transcript.server(bytes)
            };
        }
        transcript
    }

    /// Appends raw server bytes.
    pub(crate) fn server(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.items.push(Item::Server(bytes.as_ref().to_vec()));
        self
    }

    /// Appends raw client bytes.
    pub(crate) fn client(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.items.push(Item::Client(bytes.as_ref().to_vec()));
        self
    }

    /// Marks the TLS handshake.
    pub(crate) fn tls(mut self) -> Self {
        self.items.push(Item::Tls);
        self
    }
}

impl From<&str> for Transcript {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<&String> for Transcript {
    fn from(text: &String) -> Self {
        Self::parse(text)
    }
}

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'0') => 0,
            Some(b'\\') => b'\\',
            Some(b'x') => {
                let hex = [bytes.next().unwrap_or(b'?'), bytes.next().unwrap_or(b'?')];
                let hex = std::str::from_utf8(&hex).unwrap_or("??");
                u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape \\x{hex}"))
            }
            other => panic!("bad escape \\{:?}", other.map(char::from)),
        });
    }
    out
}

/// The transcript flattened: one server stream and one client stream, with the points where each side waits.
struct Wire {
    server: Vec<u8>,
    client: Vec<u8>,
    client_lines: Vec<ClientLine>,
    /// Per `-- tls --`: (server octets before it, client octets before it).
    handshakes: Vec<(usize, usize)>,
}

impl Wire {
    fn new(transcript: &Transcript) -> Self {
        let mut wire = Self {
            server: Vec::new(),
            client: Vec::new(),
            client_lines: Vec::new(),
            handshakes: Vec::new(),
        };
        for item in &transcript.items {
            match item {
                Item::Server(bytes) => wire.server.extend_from_slice(bytes),
                Item::Client(bytes) => {
                    let start = wire.client.len();
                    wire.client.extend_from_slice(bytes);
                    wire.client_lines.push(ClientLine {
                        server_before: wire.server.len(),
                        tls_before: wire.handshakes.len(),
                        start,
                        end: wire.client.len(),
                    });
                }
                Item::Tls => wire.handshakes.push((wire.server.len(), wire.client.len())),
            }
        }
        wire
    }

    /// How far the server has sent, once the client wrote `written` octets and `handshakes` handshakes ran.
    fn sent_by_server(&self, written: usize, handshakes: usize) -> usize {
        let waiting_for_client = self.client_lines.iter().find(|l| l.end > written);
        let waiting_for_tls = self.handshakes.get(handshakes);
        [
            waiting_for_client.map(|l| l.server_before),
            waiting_for_tls.map(|h| h.0),
        ]
        .into_iter()
        .flatten()
        .fold(self.server.len(), usize::min)
    }

    /// The next client line as text, for messages.
    fn expected_after(&self, written: usize) -> String {
        let end = (written + 60).min(self.client.len());
        format!("{}", Escaped::new(&self.client[written..end]))
    }
}

/// A `C:` line and where the transcript puts it.
struct ClientLine {
    /// Server octets before it.
    server_before: usize,
    /// TLS handshakes before it.
    tls_before: usize,
    /// Where it lies in the client stream.
    start: usize,
    end: usize,
}

/// How the server's bytes are cut into reads (within what the server has sent so far).
#[derive(Clone, Debug)]
enum Chunking {
    Whole,
    ByteByByte,
    SplitAt(usize),
    Pieces(Vec<usize>),
    /// Byte by byte, and the client's output written one octet per write: a socket that takes one octet at a
    /// time.
    OctetsBothWays,
}

/// The result of a replay.
#[derive(Debug)]
pub(crate) struct Run {
    /// Events, adjacent body chunks of one command merged.
    pub(crate) events: Vec<Ev>,
    /// Each [`Output::Transmit`] in its redacted trace form (`STAT | LIST`, `PASS <redacted>`).
    pub(crate) transmits: Vec<String>,
    /// What each `send` returned, in order: the command id or the refusal.
    pub(crate) sends: Vec<Result<u64, SendError>>,
    /// The error `poll` ended with.
    pub(crate) error: Option<Error>,
    /// `Client::state` after each poll, repeats left out: `[Greeting, Authorization, Transaction, …]`.
    pub(crate) states: Vec<State>,
    /// The client as the run left it, for further questions.
    pub(crate) client: Client,
}

impl Run {
    /// The events of command `id`.
    pub(crate) fn of(&self, id: u64) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| e.id() == Some(events::id(id)))
            .cloned()
            .collect()
    }

    /// The merged body of command `id`.
    pub(crate) fn body(&self, id: u64) -> &[u8] {
        self.events
            .iter()
            .find_map(|e| match e {
                Ev::Body { id: i, chunk } if i.get() == id => Some(&chunk[..]),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no body for command {id} in {:#?}", self.events))
    }

    /// The state the run ended in.
    pub(crate) fn state(&self) -> State {
        *self.states.last().expect("at least the first state")
    }

    /// The capabilities that answered CAPA command `id`.
    pub(crate) fn capabilities(&self, id: u64) -> Vec<Capability> {
        self.events
            .iter()
            .find_map(|e| match e {
                Ev::Capabilities {
                    id: i,
                    capabilities,
                } if i.get() == id => Some(capabilities.iter().cloned().collect()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no capabilities for command {id} in {:#?}", self.events))
    }
}

/// The application's side of a session.
#[derive(Clone)]
pub(crate) struct Session<'a> {
    config: Config,
    at_start: Vec<Command<'a>>,
    when_idle: Vec<Vec<Command<'a>>>,
}

/// A session with [`Config::default`], except that credentials may go in clear as in the RFC examples.
pub(crate) fn session<'a>() -> Session<'a> {
    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    Session {
        config,
        at_start: Vec::new(),
        when_idle: Vec::new(),
    }
}

impl<'a> Session<'a> {
    /// Changes the configuration.
    pub(crate) fn config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Commands sent before the client is first polled, before any server byte.
    pub(crate) fn at_start(mut self, commands: impl IntoIterator<Item = Command<'a>>) -> Self {
        self.at_start.extend(commands);
        self
    }

    /// Commands sent together the next time the client is idle (one batch per idle).
    pub(crate) fn when_idle(mut self, commands: impl IntoIterator<Item = Command<'a>>) -> Self {
        self.when_idle.push(commands.into_iter().collect());
        self
    }

    /// Replays the transcript with every server turn in one read, byte by byte, byte by byte with the client's
    /// output written one octet at a time, and split in two at every point (at 64 spread points for transcripts
    /// over 4 KiB), asserts that all replays agree, and returns the first.
    ///
    /// The one difference allowed: [`Error::Unsolicited`] shows the bytes that had arrived when it was raised,
    /// so a split replay may show a prefix of what the one-piece replay shows.
    #[track_caller]
    pub(crate) fn replay(&self, transcript: impl Into<Transcript>) -> Run {
        let wire = Wire::new(&transcript.into());
        let whole = self.run(&wire, &Chunking::Whole);
        let len = wire.server.len();
        let splits: Vec<usize> = if len <= 4096 {
            (1..len).collect()
        } else {
            (1..=64).map(|i| i * len / 65).collect()
        };
        let others = [Chunking::ByteByByte, Chunking::OctetsBothWays]
            .into_iter()
            .chain(splits.into_iter().map(Chunking::SplitAt));
        for chunking in others {
            let other = self.run(&wire, &chunking);
            let same_error = match (&whole.error, &other.error) {
                (
                    Some(Error::Unsolicited { data: all }),
                    Some(Error::Unsolicited { data: part }),
                ) => !part.as_bytes().is_empty() && all.as_bytes().starts_with(part.as_bytes()),
                (a, b) => a == b,
            };
            assert!(
                same_error,
                "{chunking:?}: error {:?}, in one piece {:?}",
                other.error, whole.error
            );
            assert_eq!(
                other.events, whole.events,
                "{chunking:?}: events differ from the one-piece replay"
            );
            // Partial writes offer the rest of the output again: only the bytes written are comparable.
            if !matches!(chunking, Chunking::OctetsBothWays) {
                assert_eq!(
                    other.transmits, whole.transmits,
                    "{chunking:?}: writes differ"
                );
            }
            assert_eq!(
                other.sends, whole.sends,
                "{chunking:?}: send results differ"
            );
            assert_eq!(
                other.states, whole.states,
                "{chunking:?}: state changes differ"
            );
        }
        whole
    }

    /// Replays with every server turn in one read only: for the cases where the split is the point (the
    /// STARTTLS injection cases B-01…B-04 put their bytes in the same read as the `+OK` on purpose).
    #[track_caller]
    pub(crate) fn replay_in_one_piece(&self, transcript: impl Into<Transcript>) -> Run {
        self.run(&Wire::new(&transcript.into()), &Chunking::Whole)
    }

    /// Replays with reads of the given sizes (then the rest of each turn in one read).
    #[track_caller]
    pub(crate) fn replay_in_pieces(
        &self,
        transcript: impl Into<Transcript>,
        pieces: &[usize],
    ) -> Run {
        self.run(
            &Wire::new(&transcript.into()),
            &Chunking::Pieces(pieces.to_vec()),
        )
    }

    #[track_caller]
    fn run(&self, wire: &Wire, chunking: &Chunking) -> Run {
        let mut client = Client::new(self.config.clone());
        let (mut events, mut transmits, mut sends, mut error) =
            (Vec::new(), Vec::new(), Vec::new(), None);
        let mut states = Vec::new();
        let mut batches = self.when_idle.iter();
        let (mut fed, mut written, mut handshakes, mut reads) = (0, 0, 0, 0);
        let (mut eof, mut idle_at_end) = (false, false);
        for command in &self.at_start {
            sends.push(client.send(command.clone()).map(|id| id.get()));
        }
        let mut budget = 1000 + 20 * (wire.server.len() + wire.client.len());
        loop {
            budget -= 1;
            assert!(budget > 0, "{chunking:?}: the client does not settle");
            let sent_by_server = wire.sent_by_server(written, handshakes);
            // The next read: what the server has sent so far, cut where the chunking says.
            let read_end = match chunking {
                Chunking::Whole => sent_by_server,
                Chunking::ByteByByte | Chunking::OctetsBothWays => fed + 1,
                Chunking::SplitAt(at) if fed < *at => *at,
                Chunking::SplitAt(_) => sent_by_server,
                Chunking::Pieces(pieces) => pieces
                    .get(reads)
                    .map_or(sent_by_server, |&n| fed + n.max(1)),
            }
            .min(sent_by_server);
            note_state(&mut states, client.state());
            let output = match client.poll() {
                Ok(output) => output,
                Err(e) => {
                    assert_eq!(client.poll().err(), Some(e.clone()), "errors are sticky");
                    error = Some(e);
                    break;
                }
            };
            match output {
                Output::Transmit(transmit) => {
                    let bytes = transmit.bytes();
                    assert!(
                        wire.client.get(written..written + bytes.len()) == Some(bytes),
                        "{chunking:?}: client wrote `{}`, the transcript expects `{}`",
                        Escaped::new(bytes),
                        wire.expected_after(written),
                    );
                    let taken = match chunking {
                        Chunking::OctetsBothWays => 1,
                        _ => bytes.len(),
                    };
                    let end = written + taken;
                    for line in wire
                        .client_lines
                        .iter()
                        .filter(|l| l.start < end && l.end > written)
                    {
                        assert!(
                            line.server_before <= fed && line.tls_before <= handshakes,
                            "{chunking:?}: client wrote `{}` before reading the server lines that precede it",
                            Escaped::new(bytes),
                        );
                    }
                    transmits.push(transmit.redacted().to_string());
                    client.consume_output(taken);
                    written = end;
                }
                Output::Event(event) => events::push_merged(&mut events, event.into_owned()),
                // Bytes the server sent before waiting are read before anything else happens, even when the
                // client is idle or about to start TLS: that is how unsolicited and injected bytes show.
                Output::NeedInput | Output::Idle | Output::StartTls if fed < sent_by_server => {
                    client.handle_input(&wire.server[fed..read_end]);
                    fed = read_end;
                    reads += 1;
                }
                Output::NeedInput => {
                    assert!(
                        written == wire.client.len() && handshakes == wire.handshakes.len() && !eof,
                        "{chunking:?}: client waits for the server, the transcript waits for `{}`",
                        wire.expected_after(written),
                    );
                    client.handle_eof();
                    eof = true;
                }
                Output::StartTls => {
                    assert!(
                        wire.handshakes.get(handshakes) == Some(&(fed, written)),
                        "{chunking:?}: client starts TLS where the transcript has no `-- tls --`",
                    );
                    handshakes += 1;
                    client.handle_tls_established();
                }
                Output::Idle => match batches.next() {
                    Some(batch) => {
                        for command in batch {
                            sends.push(client.send(command.clone()).map(|id| id.get()));
                        }
                    }
                    None => {
                        idle_at_end = true;
                        break;
                    }
                },
                Output::Closed => break,
            }
        }
        assert!(
            written == wire.client.len(),
            "{chunking:?}: the session ended ({error:?}) before the client wrote `{}`",
            wire.expected_after(written),
        );
        assert!(
            !idle_at_end || fed == wire.server.len(),
            "{chunking:?}: the session went idle with server lines never read"
        );
        note_state(&mut states, client.state());
        Run {
            events,
            transmits,
            sends,
            error,
            states,
            client,
        }
    }
}

fn note_state(states: &mut Vec<State>, state: State) {
    if states.last() != Some(&state) {
        states.push(state);
    }
}
