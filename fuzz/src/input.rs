//! The fuzz inputs: small structures decoded from the raw fuzz bytes, and a [`Writer`] that encodes them back, so
//! seed corpora and regression inputs can be written as readable Rust (see `seeds.rs`).
//!
//! The structures implement [`arbitrary::Arbitrary`] by hand instead of with `#[derive(Arbitrary)]`. The derive
//! reads collection lengths from the *end* of the input and picks enum variants from four-byte words, which makes
//! hand-made seeds impractical and ties the meaning of every corpus file to the `arbitrary` version. The layout
//! here is fixed, documented and total (every byte string decodes; missing bytes read as zero):
//!
//! - a byte is one byte; a flag is the low bit of a byte; a choice among `n` is a byte modulo `n`;
//! - a short string is a length byte and that many bytes (UTF-8 decoded lossily where a `&str` is needed);
//! - a long byte string is a little-endian `u16` length and that many bytes (fewer if the input ends);
//! - a number is one byte `0..=0xfb` taken as is, or `0xfc`/`0xfd`/`0xfe` followed by a little-endian
//!   `u16`/`u32`/`u64`, or `0xff` for `u64::MAX`.

use arbitrary::{Arbitrary, Result, Unstructured};
use pop3_proto::{ChannelBinding, Command, Config, LineEndings, Mechanism, MsgNum, Pipelining};

/// One byte, 0 once the input is exhausted.
pub fn byte(u: &mut Unstructured<'_>) -> u8 {
    u8::arbitrary(u).unwrap_or(0)
}

/// Up to `n` bytes (fewer if the input ends).
pub fn take<'a>(u: &mut Unstructured<'a>, n: usize) -> &'a [u8] {
    let n = n.min(u.len());
    u.bytes(n).unwrap_or(&[])
}

/// A length byte, then that many bytes.
pub fn short<'a>(u: &mut Unstructured<'a>) -> &'a [u8] {
    let n = usize::from(byte(u));
    take(u, n)
}

/// A short byte string as text.
pub fn short_str(u: &mut Unstructured<'_>) -> String {
    String::from_utf8_lossy(short(u)).into_owned()
}

/// A `u16` length, then that many bytes.
pub fn long<'a>(u: &mut Unstructured<'a>) -> &'a [u8] {
    let n = usize::from(u16::from_le_bytes([byte(u), byte(u)]));
    take(u, n)
}

/// A number, small ones in one byte.
pub fn number(u: &mut Unstructured<'_>) -> u64 {
    match byte(u) {
        b @ 0..=0xfb => u64::from(b),
        0xfc => u64::from(u16::arbitrary(u).unwrap_or(0)),
        0xfd => u64::from(u32::arbitrary(u).unwrap_or(0)),
        0xfe => u64::arbitrary(u).unwrap_or(0),
        0xff => u64::MAX,
    }
}

/// Encodes values in the layout above.
#[derive(Debug, Default, Clone)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }
    /// One byte.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }
    /// Raw bytes, no length.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    /// A short string (at most 255 bytes).
    pub fn short(&mut self, bytes: &[u8]) -> &mut Self {
        let n = u8::try_from(bytes.len()).expect("short strings are at most 255 bytes");
        self.0.push(n);
        self.raw(bytes)
    }
    /// A long byte string (at most 65535 bytes).
    pub fn long(&mut self, bytes: &[u8]) -> &mut Self {
        let n = u16::try_from(bytes.len()).expect("long strings are at most 65535 bytes");
        self.raw(&n.to_le_bytes()).raw(bytes)
    }
    /// A number.
    pub fn number(&mut self, n: u64) -> &mut Self {
        if n <= 0xfb {
            self.byte(n as u8)
        } else if let Ok(n) = u16::try_from(n) {
            self.byte(0xfc).raw(&n.to_le_bytes())
        } else if let Ok(n) = u32::try_from(n) {
            self.byte(0xfd).raw(&n.to_le_bytes())
        } else if n == u64::MAX {
            self.byte(0xff)
        } else {
            self.byte(0xfe).raw(&n.to_le_bytes())
        }
    }
    /// The encoded input.
    pub fn finish(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// Values that can be written back in the layout their `Arbitrary` impl reads.
pub trait Encode {
    /// Appends the encoding of `self`.
    fn encode(&self, w: &mut Writer);
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration

/// The client settings a fuzz input chooses, in four bytes.
///
/// Byte 0 is flags: bit 0 `tls_active`, bit 1 `allow_plaintext_credentials`, bit 2 *not*
/// `sasl_initial_response`, bit 3 *not* `recapa_after_tls`, bit 4 `Pipelining::Never`, bit 5 feed through
/// `input_buffer`/`commit_input` instead of `handle_input`, bits 6–7 line endings (Detect, Crlf, Lf, Detect).
/// Byte 1 picks `read_size`, byte 2 `max_line_len`, byte 3 `max_sasl_steps` (low nibble) and
/// `max_capabilities` / `max_in_flight_bytes` (high nibble); all-zero bytes give the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConfigSpec(pub [u8; 4]);

/// Choices for [`Config::read_size`].
pub const READ_SIZES: [usize; 8] = [1, 2, 3, 7, 16, 64, 512, 65536];
/// Choices for [`Config::max_line_len`].
pub const LINE_LENS: [usize; 8] = [2048, 2048, 512, 255, 64, 16, 5, 65536];

impl ConfigSpec {
    /// Flags for `tls_active`.
    pub const TLS: u8 = 1;
    /// Flags for `allow_plaintext_credentials`.
    pub const PLAINTEXT: u8 = 2;
    /// Flag: no SASL initial response.
    pub const NO_IR: u8 = 4;
    /// Flag: no CAPA after STLS.
    pub const NO_RECAPA: u8 = 8;
    /// Flag: never pipeline.
    pub const NO_PIPELINING: u8 = 16;
    /// Flag: feed through `input_buffer`.
    pub const VIA_BUFFER: u8 = 32;
    /// Line endings: CRLF.
    pub const CRLF: u8 = 64;
    /// Line endings: LF.
    pub const LF: u8 = 128;

    /// The settings.
    pub fn config(&self) -> Config {
        let [flags, read, line, misc] = self.0;
        let mut config = Config::default();
        config.tls_active = flags & Self::TLS != 0;
        config.allow_plaintext_credentials = flags & Self::PLAINTEXT != 0;
        config.sasl_initial_response = flags & Self::NO_IR == 0;
        config.recapa_after_tls = flags & Self::NO_RECAPA == 0;
        if flags & Self::NO_PIPELINING != 0 {
            config.pipelining = Pipelining::Never;
        }
        config.line_endings = match flags >> 6 {
            1 => LineEndings::Crlf,
            2 => LineEndings::Lf,
            _ => LineEndings::Detect,
        };
        config.read_size = READ_SIZES[usize::from(read) % READ_SIZES.len()];
        config.max_line_len = LINE_LENS[usize::from(line) % LINE_LENS.len()];
        config.max_sasl_steps =
            [8, 0, 1, 2, 3, 4, 5, 6, 7, 9, 8, 8, 8, 8, 8, 8][usize::from(misc & 0x0f)];
        config.max_capabilities = [256, 0, 1, 3][usize::from(misc >> 4) & 3];
        config.max_in_flight_bytes = [4096, 4096, 6, 64][usize::from(misc >> 6) & 3];
        config
    }

    /// Whether the driver feeds through `input_buffer`/`commit_input`.
    pub fn via_buffer(&self) -> bool {
        self.0[0] & Self::VIA_BUFFER != 0
    }
}

impl<'a> Arbitrary<'a> for ConfigSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self([byte(u), byte(u), byte(u), byte(u)]))
    }
}

impl Encode for ConfigSpec {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

/// A SASL mechanism with credentials: a kind byte (`% 8`: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256,
/// XOAUTH2, OAUTHBEARER, EXTERNAL; bit 3 adds channel binding to SCRAM; bit 4 reads custom credentials), then,
/// with bit 4, three short strings (user, secret, extra: nonce, authzid or host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MechSpec {
    /// The kind byte.
    pub kind: u8,
    /// Custom user, secret and extra string; default credentials when `None`.
    pub custom: Option<(String, String, String)>,
}

/// Default SASL user.
pub const SASL_USER: &str = "user";
/// Default SASL password or token.
pub const SASL_SECRET: &str = "pencil-Secret-42";
/// Default SCRAM nonce bytes (base64-encoded by the client).
pub const SASL_NONCE: &[u8] = b"fuzz-nonce-0123456789";
/// Channel-binding data for the `-PLUS` variants.
pub const CB_DATA: &[u8] = b"channel-binding-data";

impl MechSpec {
    /// Mechanism names by kind.
    pub const NAMES: [&'static str; 8] = [
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "XOAUTH2",
        "OAUTHBEARER",
        "EXTERNAL",
    ];

    /// The kind index, 0..8.
    pub fn index(&self) -> usize {
        usize::from(self.kind % 8)
    }

    /// Whether this is a SCRAM mechanism with channel binding.
    pub fn binding(&self) -> bool {
        matches!(self.index(), 3 | 4) && self.kind & 8 != 0
    }

    /// (user, secret, extra).
    pub fn credentials(&self) -> (String, String, String) {
        match &self.custom {
            Some(c) => c.clone(),
            None => (
                SASL_USER.into(),
                SASL_SECRET.into(),
                match self.index() {
                    3 | 4 => String::from_utf8_lossy(SASL_NONCE).into_owned(),
                    6 => "pop.example.org".into(),
                    _ => String::new(),
                },
            ),
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        let (user, secret, extra) = self.credentials();
        let nonce = extra.clone().into_bytes();
        let mechanism = match self.index() {
            0 => Mechanism::Plain {
                authzid: if self.custom.is_some() {
                    extra
                } else {
                    String::new()
                },
                user,
                password: secret,
            },
            1 => Mechanism::login(user, secret),
            2 => Mechanism::cram_md5(user, secret),
            3 => Mechanism::scram_sha1(user, secret, nonce),
            4 => Mechanism::scram_sha256(user, secret, nonce),
            5 => Mechanism::xoauth2(user, secret),
            6 => Mechanism::OAuthBearer {
                user,
                token: secret,
                host: (!extra.is_empty()).then_some(extra),
                port: Some(110),
            },
            _ => Mechanism::external(extra),
        };
        if self.binding() {
            mechanism.with_binding(ChannelBinding {
                kind: "tls-exporter",
                data: CB_DATA.to_vec(),
            })
        } else {
            mechanism
        }
    }
}

impl<'a> Arbitrary<'a> for MechSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let kind = byte(u);
        let custom = (kind & 16 != 0).then(|| (short_str(u), short_str(u), short_str(u)));
        Ok(Self { kind, custom })
    }
}

impl Encode for MechSpec {
    fn encode(&self, w: &mut Writer) {
        let kind = if self.custom.is_some() {
            self.kind | 16
        } else {
            self.kind & !16
        };
        w.byte(kind);
        if let Some((a, b, c)) = &self.custom {
            w.short(a.as_bytes())
                .short(b.as_bytes())
                .short(c.as_bytes());
        }
    }
}

/// A command to send: a tag byte (`% 19`, in the order of the variants) and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // The variants mirror `pop3_proto::Command`.
pub enum CmdSpec {
    User(String),
    Pass(String),
    Apop(String, String),
    Rpop(String),
    Auth(MechSpec),
    Stls,
    Capa,
    Quit,
    Stat,
    List(Option<u64>),
    Retr(u64),
    Dele(u64),
    Noop,
    Rset,
    Top(u64, u64),
    Uidl(Option<u64>),
    Utf8,
    Lang(Option<String>),
    Raw(String, bool),
}

impl CmdSpec {
    const COUNT: u8 = 19;

    /// The command, borrowing from `self`; `None` for a message number of 0, which `MsgNum` cannot express.
    pub fn command(&self) -> Option<Command<'_>> {
        let msg = |n: u64| MsgNum::new(n).ok();
        Some(match self {
            Self::User(s) => Command::User(s),
            Self::Pass(s) => Command::Pass(s),
            Self::Apop(user, password) => Command::Apop { user, password },
            Self::Rpop(s) => Command::Rpop(s),
            Self::Auth(m) => Command::Auth(m.mechanism()),
            Self::Stls => Command::Stls,
            Self::Capa => Command::Capa,
            Self::Quit => Command::Quit,
            Self::Stat => Command::Stat,
            Self::List(None) => Command::List(None),
            Self::List(Some(n)) => Command::List(Some(msg(*n)?)),
            Self::Retr(n) => Command::Retr(msg(*n)?),
            Self::Dele(n) => Command::Dele(msg(*n)?),
            Self::Noop => Command::Noop,
            Self::Rset => Command::Rset,
            Self::Top(n, lines) => Command::Top {
                msg: msg(*n)?,
                lines: *lines,
            },
            Self::Uidl(None) => Command::Uidl(None),
            Self::Uidl(Some(n)) => Command::Uidl(Some(msg(*n)?)),
            Self::Utf8 => Command::Utf8,
            Self::Lang(tag) => Command::Lang(tag.as_deref()),
            Self::Raw(line, multiline) => Command::Raw {
                line,
                multiline: *multiline,
            },
        })
    }

    fn tag(&self) -> u8 {
        match self {
            Self::User(_) => 0,
            Self::Pass(_) => 1,
            Self::Apop(..) => 2,
            Self::Rpop(_) => 3,
            Self::Auth(_) => 4,
            Self::Stls => 5,
            Self::Capa => 6,
            Self::Quit => 7,
            Self::Stat => 8,
            Self::List(_) => 9,
            Self::Retr(_) => 10,
            Self::Dele(_) => 11,
            Self::Noop => 12,
            Self::Rset => 13,
            Self::Top(..) => 14,
            Self::Uidl(_) => 15,
            Self::Utf8 => 16,
            Self::Lang(_) => 17,
            Self::Raw(..) => 18,
        }
    }
}

fn opt_number(u: &mut Unstructured<'_>) -> Option<u64> {
    (byte(u) & 1 == 1).then(|| number(u))
}

fn write_opt_number(w: &mut Writer, n: Option<u64>) {
    match n {
        Some(n) => w.byte(1).number(n),
        None => w.byte(0),
    };
}

impl<'a> Arbitrary<'a> for CmdSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match byte(u) % Self::COUNT {
            0 => Self::User(short_str(u)),
            1 => Self::Pass(short_str(u)),
            2 => Self::Apop(short_str(u), short_str(u)),
            3 => Self::Rpop(short_str(u)),
            4 => Self::Auth(MechSpec::arbitrary(u)?),
            5 => Self::Stls,
            6 => Self::Capa,
            7 => Self::Quit,
            8 => Self::Stat,
            9 => Self::List(opt_number(u)),
            10 => Self::Retr(number(u)),
            11 => Self::Dele(number(u)),
            12 => Self::Noop,
            13 => Self::Rset,
            14 => Self::Top(number(u), number(u)),
            15 => Self::Uidl(opt_number(u)),
            16 => Self::Utf8,
            17 => Self::Lang((byte(u) & 1 == 1).then(|| short_str(u))),
            _ => Self::Raw(short_str(u), byte(u) & 1 == 1),
        })
    }
}

impl Encode for CmdSpec {
    fn encode(&self, w: &mut Writer) {
        w.byte(self.tag());
        match self {
            Self::User(s) | Self::Pass(s) | Self::Rpop(s) => {
                w.short(s.as_bytes());
            }
            Self::Apop(a, b) => {
                w.short(a.as_bytes()).short(b.as_bytes());
            }
            Self::Auth(m) => m.encode(w),
            Self::List(n) | Self::Uidl(n) => write_opt_number(w, *n),
            Self::Retr(n) | Self::Dele(n) => {
                w.number(*n);
            }
            Self::Top(n, l) => {
                w.number(*n).number(*l);
            }
            Self::Lang(None) => {
                w.byte(0);
            }
            Self::Lang(Some(tag)) => {
                w.byte(1).short(tag.as_bytes());
            }
            Self::Raw(line, multiline) => {
                w.short(line.as_bytes()).byte(u8::from(*multiline));
            }
            Self::Stls
            | Self::Capa
            | Self::Quit
            | Self::Stat
            | Self::Noop
            | Self::Rset
            | Self::Utf8 => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Alphabets

/// Maps each byte onto a token of `table` (`byte % len`), so a few fuzz bytes spell protocol text.
pub fn into_alphabet(bytes: &[u8], table: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        out.extend_from_slice(table[usize::from(b) % table.len()]);
    }
    out
}

/// The server side of POP3: status indicators, line ends, dots, digits, codes, SASL continuations.
pub const POP3_ALPHABET: &[&[u8]] = &[
    b"+OK",
    b"-ERR",
    b"\r\n",
    b".",
    b" ",
    b"0",
    b"1",
    b"2",
    b"9",
    b"[IN-USE]",
    b"+ ",
    b"\r",
    b"\n",
    b"..",
    b"\r\n.\r\n",
    b"[SYS/TEMP]",
    b"<1896.697170952@dbc.mtview.ca.us>",
    b"PIPELINING",
    b"SASL PLAIN SCRAM-SHA-256",
    b"STLS",
    b"a",
    b"\0",
    b"\xff",
    b"=",
    b"dj1",
    b"4294967296",
    b"18446744073709551616",
    b"+OK\r\n",
    b"-ERR\r\n",
    b"+OK 2 320\r\n",
    b"1 whqtswO00WBw418f9t5JxYwZ\r\n",
    b"\t",
];
