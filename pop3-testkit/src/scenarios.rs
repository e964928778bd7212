//! Integration scenarios written once and run against every POP3 client adapter.
//!
//! An adapter's test file implements [`Adapter`] (how to connect) and [`SessionUnderTest`] (one method per POP3
//! command, synchronous, errors classified as [`ErrorKind`]) and then calls [`all_scenarios!`](crate::all_scenarios)
//! once, which expands to one `#[test]` per scenario:
//!
//! ```text
//! struct Blocking;
//! impl pop3_testkit::scenarios::Adapter for Blocking { /* ... */ }
//! pop3_testkit::all_scenarios!(Blocking);
//! ```
//!
//! Every driver of `pop3-session` shares one adapter, [`ClientAdapter`](crate::adapter::ClientAdapter): its test
//! file only says, with [`SyncDriver`](crate::adapter::SyncDriver), how a call runs to its result (an async
//! driver's with its runtime's `block_on`).
//!
//! Two kinds of scenarios:
//!
//! * `dovecot_*` run against the real server of [`Dovecot::shared`]: every command, every login method, TLS
//!   with the test CA, byte-exact bodies, large mailboxes, pipelining, deletion semantics.
//! * `scripted_*` run against a [`ScriptedServer`] playing a fixed, often hostile conversation (the cases of
//!   `HOSTILE-CASES.md`: STARTTLS stripping and injection, bad certificates, stalls, connections cut at every
//!   point). They also check what the client sent, byte for byte, so "no credentials were sent" is a fact of
//!   the wire and not of the client's own bookkeeping.
//!
//! Each scenario is a plain generic function that panics when the adapter misbehaves. Time limits in these
//! scenarios are at most [`TEST_TIMEOUT`].

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use pop3_memserver::tls::{self as certs, TestCa, TestCert, TestPki};
use pop3_memserver::{Script, ScriptedServer};
pub use pop3_proto::{Capabilities, Mechanism, SendError};

use crate::{
    Dovecot, SAMPLE_8BIT, SAMPLE_BIG, SAMPLE_BIG_LEN, SAMPLE_DOTS, SAMPLE_EMPTY_BODY,
    SAMPLE_NO_FINAL_NEWLINE, SAMPLE_PLAIN, TestUser, sample_messages,
};

/// The longest time limit any scenario sets, and the default of [`Timeouts`].
pub const TEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How much later than its limit a timeout may fire in these scenarios (a loaded test machine); a client that
/// hangs instead would take many times longer.
const SLACK: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------------------------
// The adapter-neutral interface
// ---------------------------------------------------------------------------------------------------------------

/// How the connection is protected; the same four choices every adapter offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (POP3S).
    Implicit,
    /// STLS right after the greeting; any failure ends the session, never a plaintext fallback.
    StartTls,
    /// STLS if CAPA advertises it, plaintext otherwise.
    StartTlsIfAvailable,
    /// No TLS.
    Plaintext,
}

/// Time limits of a connection. `None` waits forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the TCP connection to open.
    pub connect: Option<Duration>,
    /// For any one read (and write) to make progress.
    pub read: Option<Duration>,
    /// For a whole response (the greeting, or one command's or one batch's complete answer).
    pub response: Option<Duration>,
}

impl Timeouts {
    /// The same limit for everything.
    pub const fn all(limit: Duration) -> Self {
        Self {
            connect: Some(limit),
            read: Some(limit),
            response: Some(limit),
        }
    }

    /// This set with another whole-response limit.
    #[must_use]
    pub const fn with_response(mut self, limit: Duration) -> Self {
        self.response = Some(limit);
        self
    }
}

impl Default for Timeouts {
    /// [`TEST_TIMEOUT`] for everything, multiplied by `$POP3_TESTKIT_TIMEOUT_SCALE` (a whole number, default 1)
    /// for machines so overloaded that a real server cannot answer within 2 s. Scenarios that test time limits
    /// set their own and are not scaled.
    fn default() -> Self {
        let scale = std::env::var("POP3_TESTKIT_TIMEOUT_SCALE")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1);
        Self::all(TEST_TIMEOUT * scale)
    }
}

/// A shared, growable buffer that an adapter writes its protocol trace into.
#[derive(Clone, Default)]
pub struct TraceBuffer(Arc<Mutex<Vec<u8>>>);

impl TraceBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for TraceBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for TraceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("TraceBuffer").field("len", &len).finish()
    }
}

/// Everything an adapter needs to open one session.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// The server's name: resolved to connect (unless [`connect_to`](Self::connect_to) is set) and always the
    /// name the TLS certificate must carry. An IPv6 literal is given without brackets (`::1`).
    pub host: String,
    /// The port.
    pub port: u16,
    /// Open the TCP connection to this address instead of resolving `host` (which is still the name TLS
    /// verifies). The blocking adapter opens the socket itself and hands it over (`connect_stream`).
    pub connect_to: Option<SocketAddr>,
    /// How the connection is protected.
    pub security: Security,
    /// Trust only the CA certificates in this PEM text; `None` means the adapter's default roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Allow credentials over a connection without TLS.
    pub allow_plaintext_credentials: bool,
    /// Largest message `retr`/`top` may read into memory; `None` for the adapter's default.
    pub max_message_size: Option<u64>,
    /// Most entries a listing read into memory may have; `None` for the adapter's default.
    pub max_listing_entries: Option<u64>,
    /// Protocol trace level (poplib's `set_debuglevel`): 0 off, 1 commands and status lines, 2 everything.
    pub debug_level: u8,
    /// Where the trace goes (required for `debug_level > 0` to be observable).
    pub trace: Option<TraceBuffer>,
}

impl ConnectSpec {
    /// `host:port` with `security`, the adapter's default roots and [`Timeouts::default`].
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        Self {
            host: host.into(),
            port,
            connect_to: None,
            security,
            ca_pem: None,
            timeouts: Timeouts::default(),
            allow_plaintext_credentials: false,
            max_message_size: None,
            max_listing_entries: None,
            debug_level: 0,
            trace: None,
        }
    }

    /// The shared Dovecot as `localhost`, on the port that suits `security`, trusting its test CA.
    pub fn dovecot(security: Security) -> Self {
        let d = Dovecot::shared();
        let port = if security == Security::Implicit {
            d.pop3s_port()
        } else {
            d.pop3_port()
        };
        Self::new("localhost", port, security).ca_pem(d.ca_pem())
    }

    /// Trust only this CA.
    #[must_use]
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca_pem = Some(pem.as_ref().to_vec());
        self
    }

    /// Trust the adapter's default roots.
    #[must_use]
    pub fn default_roots(mut self) -> Self {
        self.ca_pem = None;
        self
    }

    /// Another host name (connecting and verifying).
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Connect to `addr`, verify the certificate against the host name.
    #[must_use]
    pub fn connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }

    /// Time limits.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Allow credentials in clear.
    #[must_use]
    pub fn allow_plaintext_credentials(mut self) -> Self {
        self.allow_plaintext_credentials = true;
        self
    }

    /// Limit in-memory retrieval.
    #[must_use]
    pub fn max_message_size(mut self, octets: u64) -> Self {
        self.max_message_size = Some(octets);
        self
    }

    /// Limit the entries of listings read into memory.
    #[must_use]
    pub fn max_listing_entries(mut self, entries: u64) -> Self {
        self.max_listing_entries = Some(entries);
        self
    }

    /// Trace at `level` into `buffer`.
    #[must_use]
    pub fn trace(mut self, level: u8, buffer: &TraceBuffer) -> Self {
        self.debug_level = level;
        self.trace = Some(buffer.clone());
        self
    }
}

/// What went wrong, in the terms every adapter must be able to report.
///
/// The mapping an adapter implements:
/// * `Io`: the connection failed (refused, reset, closed outside a response, unreachable).
/// * `Tls`: certificate verification or the TLS handshake failed.
/// * `Timeout`: a configured time limit passed.
/// * `Protocol`: the core ([`pop3_proto::Error`]) says the server broke the protocol; the adapter passes that
///   error along when it has it.
/// * `Server`: the server answered `-ERR`; `code` is the RFC 2449/3206 response code in upper case without
///   brackets (`"AUTH"`, `"SYS/PERM"`, `"IN-USE"`, ...), or as sent for unknown codes.
/// * `TlsUnavailable`: TLS was required and STLS was refused (`code` as for `Server`) or not offered.
/// * `Misuse`: refused before sending (wrong state, bad argument, credentials in clear).
/// * `TooLarge`: a message or a listing read into memory exceeded the configured limit.
/// * `Sink`: the caller's sink failed while a message streamed into it.
/// * `Closed`: the session already failed or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection failed.
    Io,
    /// TLS failed.
    Tls,
    /// A time limit passed.
    Timeout,
    /// The server broke the protocol.
    Protocol(Option<pop3_proto::Error>),
    /// `-ERR`.
    Server {
        /// The response code, upper case, without brackets.
        code: Option<String>,
    },
    /// TLS required but refused or not offered.
    TlsUnavailable {
        /// The response code of the STLS refusal, if any.
        code: Option<String>,
    },
    /// A well-framed but wrong answer: only that command failed.
    Invalid(pop3_proto::InvalidReply),
    /// Refused before sending.
    Misuse(Option<SendError>),
    /// Message or listing larger than the in-memory limit.
    TooLarge,
    /// The caller's sink failed.
    Sink,
    /// The session is closed.
    Closed,
}

/// An adapter's error, classified, with the server's text when there is one.
#[derive(Debug, Clone)]
pub struct TestError {
    /// The classification.
    pub kind: ErrorKind,
    /// The `-ERR` text (after the code) for `Server` and `TlsUnavailable`; empty otherwise.
    pub text: Vec<u8>,
    /// The OAuth error details (RFC 7628 JSON) the server sent before its `-ERR`, if any.
    pub details: Option<Vec<u8>>,
    /// The adapter's own message for the error (its `Display`).
    pub message: String,
}

impl TestError {
    /// An error of `kind` with the adapter's message.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            text: Vec::new(),
            details: None,
            message: message.to_string(),
        }
    }

    /// With the server's `-ERR` text.
    #[must_use]
    pub fn with_text(mut self, text: &[u8]) -> Self {
        self.text = text.to_vec();
        self
    }

    /// With OAuth error details.
    #[must_use]
    pub fn with_details(mut self, details: Option<&[u8]>) -> Self {
        self.details = details.map(<[u8]>::to_vec);
        self
    }

    /// The response code of a `Server` or `TlsUnavailable` error.
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Server { code } | ErrorKind::TlsUnavailable { code } => code.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TestError {}

/// The result type of [`SessionUnderTest`].
pub type TestResult<T> = Result<T, TestError>;

/// STAT's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Messages not marked deleted.
    pub count: u64,
    /// Their total size.
    pub octets: u64,
}

/// One LIST line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Message number.
    pub msg: u64,
    /// Size as the server counts it.
    pub octets: u64,
}

/// One UIDL line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueId {
    /// Message number.
    pub msg: u64,
    /// Unique id.
    pub uid: String,
}

/// One message of LIST and UIDL asked together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Message number.
    pub msg: u64,
    /// Size as the server counts it.
    pub octets: u64,
    /// Unique id, if UIDL gave one.
    pub uid: Option<String>,
}

/// A raw command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// The status line's text after `+OK`.
    pub text: Vec<u8>,
    /// The dot-unstuffed body of a multi-line answer.
    pub body: Vec<u8>,
}

/// A connected session, one method per POP3 command, as each adapter offers them (an async adapter runs each
/// future to completion). Every method returns when the command's answer is complete.
pub trait SessionUnderTest {
    /// The greeting's text after `+OK`.
    fn greeting(&self) -> Vec<u8>;
    /// Whether the connection is encrypted now (from the transport, not the configuration).
    fn is_encrypted(&self) -> bool;
    /// The ALPN protocol the server selected, if TLS is up and it selected one.
    fn tls_alpn(&self) -> Option<Vec<u8>>;
    /// The session's `{:?}`.
    fn debug_text(&self) -> String;

    /// CAPA.
    fn capa(&mut self) -> TestResult<Capabilities>;
    /// STLS (then CAPA again over TLS).
    fn stls(&mut self) -> TestResult<()>;
    /// Logs in with the strongest method the server offers; returns the method's name (`"SCRAM-SHA-256"`,
    /// `"APOP"`, `"USER"`, ...).
    fn login(&mut self, user: &str, password: &str) -> TestResult<String>;
    /// USER.
    fn user(&mut self, name: &str) -> TestResult<()>;
    /// PASS.
    fn pass(&mut self, password: &str) -> TestResult<()>;
    /// APOP with the greeting's timestamp.
    fn apop(&mut self, user: &str, password: &str) -> TestResult<()>;
    /// AUTH with a SASL mechanism.
    fn auth(&mut self, mechanism: Mechanism) -> TestResult<()>;

    /// STAT.
    fn stat(&mut self) -> TestResult<Stat>;
    /// LIST.
    fn list(&mut self) -> TestResult<Vec<Scan>>;
    /// LIST n.
    fn list_one(&mut self, msg: u64) -> TestResult<Scan>;
    /// UIDL.
    fn uidl(&mut self) -> TestResult<Vec<UniqueId>>;
    /// UIDL n.
    fn uidl_one(&mut self, msg: u64) -> TestResult<UniqueId>;
    /// LIST and UIDL together (pipelined when the server allows it).
    fn listing(&mut self) -> TestResult<Vec<Listed>>;
    /// RETR into memory.
    fn retr(&mut self, msg: u64) -> TestResult<Vec<u8>>;
    /// RETR streamed into `sink`; returns the octets written.
    fn retr_to(&mut self, msg: u64, sink: &mut (dyn Write + Send)) -> TestResult<u64>;
    /// TOP into memory.
    fn top(&mut self, msg: u64, lines: u64) -> TestResult<Vec<u8>>;
    /// DELE.
    fn dele(&mut self, msg: u64) -> TestResult<()>;
    /// RSET.
    fn rset(&mut self) -> TestResult<()>;
    /// NOOP.
    fn noop(&mut self) -> TestResult<()>;
    /// QUIT.
    fn quit(&mut self) -> TestResult<()>;
    /// UTF8.
    fn utf8(&mut self) -> TestResult<()>;
    /// Any other command line; `multiline` says whether a `+OK` answer has a body.
    fn raw(&mut self, line: &str, multiline: bool) -> TestResult<RawReply>;

    /// RETR of many messages, pipelined when the server allows it. One entry per requested message, in order:
    /// its bytes, or the `-ERR` for it as a `Server` error. [`RetrManyCollector`] builds this from a streaming
    /// callback.
    fn retr_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<Vec<u8>>>>;
    /// DELE of many messages, pipelined when the server allows it. One entry per requested message, in order.
    fn dele_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<()>>>;
}

/// A client adapter under test: opens sessions (from several threads at once in the fault-injection scenarios).
pub trait Adapter: Sync {
    /// Its session.
    type Session: SessionUnderTest;

    /// Connects as `spec` says: TCP, TLS if asked, the greeting, and STLS if asked.
    ///
    /// # Errors
    /// Any failure of those, classified.
    fn connect(&self, spec: &ConnectSpec) -> TestResult<Self::Session>;
}

/// Builds [`SessionUnderTest::retr_many`]'s answer from the parts a streaming `retr_many` hands out in order
/// (data of the current message, then its end or its refusal).
#[derive(Debug, Default)]
pub struct RetrManyCollector {
    done: Vec<TestResult<Vec<u8>>>,
    current: Vec<u8>,
}

impl RetrManyCollector {
    /// Nothing collected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next octets of the current message.
    pub fn data(&mut self, chunk: &[u8]) {
        self.current.extend_from_slice(chunk);
    }

    /// The current message is complete.
    pub fn end(&mut self) {
        self.done.push(Ok(std::mem::take(&mut self.current)));
    }

    /// The server refused the current message.
    pub fn refused(&mut self, error: TestError) {
        assert!(
            self.current.is_empty(),
            "a refused message must not have delivered data first"
        );
        self.done.push(Err(error));
    }

    /// The outcomes, one per message.
    pub fn finish(self) -> Vec<TestResult<Vec<u8>>> {
        assert!(
            self.current.is_empty(),
            "retr_many returned Ok with a message still incomplete"
        );
        self.done
    }
}

/// A sink that only counts and fingerprints what it is given (for streaming large messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountingSink {
    /// Octets written.
    pub octets: u64,
    /// FNV-1a of the octets written.
    pub fnv: u64,
}

impl CountingSink {
    /// Nothing written yet.
    pub const fn new() -> Self {
        Self {
            octets: 0,
            fnv: FNV_OFFSET,
        }
    }

    /// What a `CountingSink` holds after `bytes` were written to it.
    pub fn of(bytes: &[u8]) -> Self {
        let mut sink = Self::new();
        sink.add(bytes);
        sink
    }

    fn add(&mut self, bytes: &[u8]) {
        self.octets += bytes.len() as u64;
        for &b in bytes {
            self.fnv = (self.fnv ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
}

impl Default for CountingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.add(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A sink that fails every write after the first `budget` octets.
#[derive(Debug)]
struct FailingSink {
    budget: usize,
}

impl Write for FailingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other("disk full (test sink)"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Expands to one `#[test]` per named scenario, each calling `pop3_testkit::scenarios::<name>(&adapter)`.
///
/// ```text
/// pop3_testkit::scenarios!(MyAdapter; dovecot_user_pass, scripted_no_greeting_timeout);
/// ```
#[macro_export]
macro_rules! scenarios {
    (@tests $adapter:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::scenarios::$name(&$adapter);
            }
        )*
    };
    (@names $adapter:expr; $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
    ($adapter:expr; $($name:ident),* $(,)?) => {
        $crate::scenarios! { @tests $adapter; $($name),* }
    };
}

/// Expands to one `#[test]` per scenario of [`scenarios`](mod@crate::scenarios), for the adapter value given.
///
/// ```text
/// pop3_testkit::all_scenarios!(MyAdapter);
/// ```
#[macro_export]
macro_rules! all_scenarios {
    ($adapter:expr) => {
        $crate::all_scenarios! { @list tests $adapter }
    };
    (@names) => {
        $crate::all_scenarios!(@list names ())
    };
    (@list $mode:ident $adapter:expr) => {
        $crate::scenarios! { @$mode $adapter;
            dovecot_greeting_and_capa,
            dovecot_user_pass,
            dovecot_apop,
            dovecot_auth_plain,
            dovecot_auth_login,
            dovecot_auth_cram_md5,
            dovecot_auth_scram_sha1,
            dovecot_auth_scram_sha256,
            dovecot_auth_xoauth2,
            dovecot_auth_oauthbearer,
            dovecot_oauthbearer_expired_token,
            dovecot_xoauth2_expired_token,
            dovecot_login_picks_strongest,
            dovecot_wrong_password,
            dovecot_wrong_password_sasl,
            dovecot_implicit_tls,
            dovecot_certificate_names,
            dovecot_tls_verification_failures,
            dovecot_every_command,
            dovecot_failing_sink,
            dovecot_messages_byte_exact,
            dovecot_big_message,
            dovecot_too_large_then_stream,
            dovecot_thousand_messages,
            dovecot_pipelined_batches,
            dovecot_dele_rset_quit,
            dovecot_no_commit_without_quit,
            dovecot_plaintext_credentials_refused,
            dovecot_plaintext_opt_in,
            dovecot_starttls_if_available,
            dovecot_ipv6,
            dovecot_trace_redacts_secrets,
            dovecot_no_second_stls,
            scripted_stls_refused,
            scripted_stls_refused_with_code,
            scripted_stls_ok_then_plaintext,
            scripted_stls_ok_then_silence,
            scripted_stls_ok_then_close,
            scripted_injection_after_stls,
            scripted_injection_in_later_segment,
            scripted_stls_err_with_pipelined_answers,
            scripted_no_second_stls,
            scripted_capabilities_after_tls,
            scripted_plaintext_credentials_not_sent,
            scripted_bad_certificates,
            scripted_alpn,
            scripted_client_hello,
            scripted_cross_protocol_greeting,
            scripted_unsolicited_and_desync,
            scripted_no_transaction_without_auth,
            scripted_login_no_downgrade,
            scripted_fragmented_responses,
            scripted_lf_only_server,
            scripted_listing_without_uidl,
            scripted_listing_limit,
            scripted_batches_learn_pipelining,
            scripted_wrong_answers_fail_only_their_command,
            scripted_secrets_not_in_debug,
            scripted_framing_after_stls,
            scripted_empty_answers,
            scripted_quit_answers,
            scripted_no_greeting_timeout,
            scripted_drip_feed_timeout,
            scripted_tls_handshake_drip_feed,
            scripted_timeout_mid_session,
            scripted_close_mid_greeting,
            scripted_close_mid_capa,
            scripted_close_mid_uidl,
            scripted_close_mid_retr,
            scripted_close_after_pass,
            scripted_reset_mid_retr,
            scripted_tls_truncation_mid_retr,
            scripted_err_greeting,
            scripted_err_in_pipeline,
            scripted_closed_after_protocol_error,
            fault_close_at_every_offset,
            fault_stall_at_every_offset,
            scripted_alpn_unoffered_protocol,
            scripted_certificate_checks_beyond_trust,
            scripted_tls_version_floor,
            scripted_stalled_reader_timeout,
        }
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

#[track_caller]
pub(crate) fn ok<T>(result: TestResult<T>, what: impl fmt::Display) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: unexpected error {error}"),
    }
}

#[track_caller]
pub(crate) fn err<T>(result: TestResult<T>, what: impl fmt::Display) -> TestError {
    match result {
        Ok(_) => panic!(
            "{what}: expected an error, got Ok({})",
            std::any::type_name::<T>()
        ),
        Err(error) => error,
    }
}

#[track_caller]
pub(crate) fn connect<A: Adapter>(adapter: &A, spec: &ConnectSpec) -> A::Session {
    match adapter.connect(spec) {
        Ok(session) => session,
        Err(error) => panic!(
            "connecting to {}:{} ({:?}) failed: {error}",
            spec.host, spec.port, spec.security
        ),
    }
}

#[track_caller]
fn connect_err<A: Adapter>(adapter: &A, spec: &ConnectSpec) -> TestError {
    match adapter.connect(spec) {
        Ok(_) => panic!(
            "connecting to {}:{} ({:?}) should have failed",
            spec.host, spec.port, spec.security
        ),
        Err(error) => error,
    }
}

#[track_caller]
pub(crate) fn assert_server(error: &TestError, code: Option<&str>, what: &str) {
    assert!(
        matches!(&error.kind, ErrorKind::Server { code: got } if got.as_deref() == code),
        "{what}: expected a -ERR with code {code:?}, got {error}"
    );
}

#[track_caller]
pub(crate) fn assert_is_server(error: &TestError, what: &str) {
    assert!(
        matches!(error.kind, ErrorKind::Server { .. }),
        "{what}: expected a -ERR, got {error}"
    );
}

#[track_caller]
fn assert_misuse(error: &TestError, what: &str) {
    assert!(
        matches!(error.kind, ErrorKind::Misuse(_)),
        "{what}: expected Misuse, got {error}"
    );
}

#[track_caller]
pub(crate) fn assert_insecure_credentials(error: &TestError, what: &str) {
    assert!(
        matches!(
            error.kind,
            ErrorKind::Misuse(Some(SendError::InsecureCredentials) | None)
        ),
        "{what}: expected Misuse(InsecureCredentials), got {error}"
    );
}

#[track_caller]
fn assert_tls(error: &TestError, what: &str) {
    assert!(
        matches!(error.kind, ErrorKind::Tls),
        "{what}: expected a TLS error, got {error}"
    );
}

#[track_caller]
fn assert_closed(error: &TestError, what: &str) {
    assert!(
        matches!(error.kind, ErrorKind::Closed),
        "{what}: expected Closed, got {error}"
    );
}

/// The connection was lost in the middle of a response: an I/O error, or the core's "closed mid-response".
#[track_caller]
fn assert_connection_lost(error: &TestError, what: &str) {
    assert!(
        matches!(
            error.kind,
            ErrorKind::Io | ErrorKind::Protocol(Some(pop3_proto::Error::UnexpectedEof) | None)
        ),
        "{what}: expected a lost connection (Io or Protocol(UnexpectedEof)), got {error}"
    );
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn fresh_nonce() -> Vec<u8> {
    let mut nonce = vec![0; 24];
    crate::random_bytes(&mut nonce);
    nonce
}

fn total_octets(messages: &[Vec<u8>]) -> u64 {
    messages.iter().map(|m| m.len() as u64).sum()
}

/// Compares two messages, saying where they differ instead of dumping them.
#[track_caller]
pub(crate) fn assert_same_bytes(got: &[u8], expected: &[u8], what: &str) {
    if got != expected {
        let at = got
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(expected.len()));
        let from = at.saturating_sub(20);
        panic!(
            "{what}: {} octets, expected {}; first difference at {at}: got {:?}, expected {:?}",
            got.len(),
            expected.len(),
            show(&got[from..got.len().min(at + 20)]),
            show(&expected[from..expected.len().min(at + 20)]),
        );
    }
}

/// The bytes Dovecot delivers for a message file (it adds CRLF to a last line without one).
fn as_delivered(message: &[u8]) -> Vec<u8> {
    let mut out = message.to_vec();
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What TOP n `lines` should return for a CRLF message: the header, the blank line, `lines` body lines.
fn top_of(message: &[u8], lines: usize) -> Vec<u8> {
    let delivered = as_delivered(message);
    let header_end = delivered
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(delivered.len(), |at| at + 4);
    let mut end = header_end;
    for _ in 0..lines {
        match delivered[end..].windows(2).position(|w| w == b"\r\n") {
            Some(at) => end += at + 2,
            None => {
                end = delivered.len();
                break;
            }
        }
    }
    delivered[..end].to_vec()
}

/// A new Dovecot user holding `messages`.
fn dovecot_user(prefix: &str, messages: &[Vec<u8>]) -> TestUser {
    Dovecot::shared().user(prefix, messages)
}

/// A session over STLS, logged in with USER/PASS.
#[track_caller]
fn dovecot_session<A: Adapter>(adapter: &A, user: &TestUser) -> A::Session {
    let mut session = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    ok(session.user(&user.name), "USER");
    ok(session.pass(&user.password), "PASS");
    session
}

/// `count` small, distinct messages, some with dot-stuffed lines.
fn numbered_messages(count: usize) -> Vec<Vec<u8>> {
    (1..=count)
        .map(|n| {
            let mut m = format!(
                "From: bulk{n}@example.org\r\nTo: bob@example.net\r\nSubject: message {n}\r\n\
                 Message-ID: <bulk-{n}@example.org>\r\n\r\n"
            );
            for line in 0..(n % 7 + 1) {
                if line % 3 == 2 {
                    m.push_str(".\r\n");
                }
                m.push_str(&format!("line {line} of message {n}\r\n"));
            }
            m.into_bytes()
        })
        .collect()
}

/// Everything `server` has received, once it stopped growing for a while (the client's writes, all made before
/// the call under test returned, have then been read by the server's thread).
fn settled_client_bytes(server: &ScriptedServer) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut last = server.client_bytes();
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        let now = server.client_bytes();
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
    last
}

/// Asserts the client sent exactly `expected`, optionally followed by a polite `QUIT`.
#[track_caller]
fn assert_sent(server: &ScriptedServer, expected: &[u8], what: &str) {
    let polite = [expected, b"QUIT\r\n"].concat();
    let acceptable = |sent: &[u8]| sent == expected || sent == polite;
    // Wait for the expected bytes (the server's thread may be slow to read them), then make sure nothing
    // else follows.
    let deadline = Instant::now() + Duration::from_secs(1);
    while !acceptable(&server.client_bytes()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let sent = settled_client_bytes(server);
    assert!(
        acceptable(&sent),
        "{what}: the client sent {:?}, expected exactly {:?}",
        show(&sent),
        show(expected)
    );
}

/// Asserts the client sent exactly `expected` in clear and then nothing but TLS records (its side of a handshake
/// the server never completed).
#[track_caller]
fn assert_sent_then_handshake(server: &ScriptedServer, expected: &[u8], what: &str) {
    let sent = settled_client_bytes(server);
    assert!(
        sent.starts_with(expected),
        "{what}: the client sent {:?}, expected {:?} first",
        show(&sent),
        show(expected)
    );
    let mut rest = &sent[expected.len()..];
    while !rest.is_empty() {
        let well_formed = rest.len() >= 5
            && matches!(rest[0], 0x14..=0x16)
            && rest[1] == 3
            && rest.len() >= 5 + usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        assert!(
            well_formed,
            "{what}: after {:?} the client sent something other than TLS records: {:?}",
            show(expected),
            show(rest)
        );
        rest = &rest[5 + usize::from(u16::from_be_bytes([rest[3], rest[4]]))..];
    }
}

const SCRIPT_USER: &str = "u";
const SCRIPT_PASSWORD: &str = "s3cret-pw";
const GREETING: &str = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";
const CAPA_PLAIN: &str =
    "+OK list of capabilities\r\nTOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n.\r\n";

fn scripted(script: Script) -> ScriptedServer {
    ScriptedServer::start(script).expect("starting a scripted server")
}

fn scripted_spec(server: &ScriptedServer, security: Security) -> ConnectSpec {
    ConnectSpec::new("127.0.0.1", server.addr().port(), security)
}

/// The greeting, CAPA and a USER/PASS login, as [`scripted_login`] performs it.
fn logged_in_script() -> Script {
    Script::new()
        .server(GREETING)
        .client("CAPA")
        .server(CAPA_PLAIN)
        .client(format!("USER {SCRIPT_USER}"))
        .server("+OK\r\n")
        .client(format!("PASS {SCRIPT_PASSWORD}"))
        .server("+OK maildrop locked and ready\r\n")
}

const LOGGED_IN_BYTES: &str = "CAPA\r\nUSER u\r\nPASS s3cret-pw\r\n";

#[track_caller]
fn scripted_login(session: &mut impl SessionUnderTest) {
    ok(session.capa(), "CAPA");
    ok(session.user(SCRIPT_USER), "USER");
    ok(session.pass(SCRIPT_PASSWORD), "PASS");
}

/// A plaintext session to `server` with credentials allowed, logged in.
#[track_caller]
fn scripted_plain_session<A: Adapter>(adapter: &A, server: &ScriptedServer) -> A::Session {
    let spec = scripted_spec(server, Security::Plaintext).allow_plaintext_credentials();
    let mut session = connect(adapter, &spec);
    scripted_login(&mut session);
    session
}

/// Every credential-carrying command is refused before sending.
#[track_caller]
fn assert_every_credential_refused(session: &mut impl SessionUnderTest, what: &str) {
    let (user, password) = (SCRIPT_USER, SCRIPT_PASSWORD);
    assert_insecure_credentials(&err(session.user(user), "USER"), what);
    assert_insecure_credentials(&err(session.pass(password), "PASS"), what);
    assert_insecure_credentials(&err(session.apop(user, password), "APOP"), what);
    for mechanism in [
        Mechanism::plain(user, password),
        Mechanism::login(user, password),
        Mechanism::cram_md5(user, password),
        Mechanism::scram_sha1(user, password, fresh_nonce()),
        Mechanism::scram_sha256(user, password, fresh_nonce()),
        Mechanism::xoauth2(user, password),
        Mechanism::oauthbearer(user, password),
    ] {
        let name = mechanism.name();
        assert_insecure_credentials(&err(session.auth(mechanism), name), what);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios against the real Dovecot
// ---------------------------------------------------------------------------------------------------------------

const DOVECOT_MECHANISMS: [&str; 7] = [
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "OAUTHBEARER",
    "XOAUTH2",
];

/// The greeting carries an APOP timestamp; CAPA in clear lists STLS, USER and every SASL mechanism; STLS makes
/// the session encrypted and CAPA is asked again over TLS.
pub fn dovecot_greeting_and_capa<A: Adapter>(adapter: &A) {
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::Plaintext));
    assert!(!s.is_encrypted(), "plaintext session reports encryption");
    assert_eq!(s.tls_alpn(), None);
    let greeting = s.greeting();
    assert!(
        greeting.starts_with(b"Dovecot") && contains(&greeting, b"<") && greeting.ends_with(b">"),
        "greeting {:?}",
        show(&greeting)
    );
    let caps = ok(s.capa(), "CAPA");
    assert!(caps.stls(), "STLS not advertised in clear: {caps:?}");
    assert!(caps.user() && caps.top() && caps.uidl(), "{caps:?}");
    assert!(caps.pipelining() && caps.resp_codes(), "{caps:?}");
    for mechanism in DOVECOT_MECHANISMS {
        assert!(
            caps.supports_sasl(mechanism),
            "{mechanism} missing: {caps:?}"
        );
    }
    ok(s.quit(), "QUIT");

    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    assert!(s.is_encrypted(), "STLS session not encrypted");
    let caps = ok(s.capa(), "CAPA over TLS");
    assert!(caps.supports_sasl("SCRAM-SHA-256"), "{caps:?}");
    ok(s.quit(), "QUIT");
}

/// USER/PASS over STLS, STAT, QUIT.
pub fn dovecot_user_pass<A: Adapter>(adapter: &A) {
    let messages = &sample_messages()[..3];
    let user = dovecot_user("userpass", messages);
    let mut s = dovecot_session(adapter, &user);
    assert_eq!(
        ok(s.stat(), "STAT"),
        Stat {
            count: 3,
            octets: total_octets(messages)
        }
    );
    ok(s.quit(), "QUIT");
}

/// APOP with the greeting's timestamp.
pub fn dovecot_apop<A: Adapter>(adapter: &A) {
    let user = dovecot_user("apop", &sample_messages()[..2]);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    ok(s.apop(&user.name, &user.password), "APOP");
    assert_eq!(ok(s.stat(), "STAT").count, 2);
    ok(s.quit(), "QUIT");
}

#[track_caller]
fn auth_scenario<A: Adapter>(adapter: &A, mechanism: impl FnOnce(&TestUser) -> Mechanism) {
    let messages = &sample_messages()[..2];
    let user = dovecot_user("auth", messages);
    let mechanism = mechanism(&user);
    let name = mechanism.name();
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    ok(s.auth(mechanism), format_args!("AUTH {name}"));
    assert_eq!(
        ok(s.stat(), "STAT after AUTH"),
        Stat {
            count: 2,
            octets: total_octets(messages)
        },
        "AUTH {name}"
    );
    ok(s.quit(), "QUIT");
}

/// AUTH PLAIN.
pub fn dovecot_auth_plain<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| Mechanism::plain(&u.name, &u.password));
}

/// AUTH LOGIN.
pub fn dovecot_auth_login<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| Mechanism::login(&u.name, &u.password));
}

/// AUTH CRAM-MD5.
pub fn dovecot_auth_cram_md5<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| Mechanism::cram_md5(&u.name, &u.password));
}

/// AUTH SCRAM-SHA-1 (the server's signature is verified by the core).
pub fn dovecot_auth_scram_sha1<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| {
        Mechanism::scram_sha1(&u.name, &u.password, fresh_nonce())
    });
}

/// AUTH SCRAM-SHA-256.
pub fn dovecot_auth_scram_sha256<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| {
        Mechanism::scram_sha256(&u.name, &u.password, fresh_nonce())
    });
}

/// AUTH XOAUTH2 with a valid token.
pub fn dovecot_auth_xoauth2<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| Mechanism::xoauth2(&u.name, u.oauth_token()));
}

/// AUTH OAUTHBEARER with a valid token.
pub fn dovecot_auth_oauthbearer<A: Adapter>(adapter: &A) {
    auth_scenario(adapter, |u| {
        Mechanism::oauthbearer(&u.name, u.oauth_token())
    });
}

#[track_caller]
fn expired_token_scenario<A: Adapter>(
    adapter: &A,
    mechanism: impl Fn(&TestUser, String) -> Mechanism,
) {
    let user = dovecot_user("expired", &sample_messages()[..1]);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    let expired = mechanism(&user, user.expired_oauth_token());
    let name = expired.name();
    let e = err(
        s.auth(expired),
        format_args!("AUTH {name} with an expired token"),
    );
    assert_is_server(&e, name);
    let details = e
        .details
        .as_deref()
        .unwrap_or_else(|| panic!("AUTH {name}: no error details in {e}"));
    let details = String::from_utf8_lossy(details);
    assert!(
        details.starts_with('{') && details.contains("\"status\""),
        "AUTH {name}: details are not the RFC 7628 JSON: {details}"
    );
    // A refused AUTH leaves the session usable: the valid token now works.
    ok(
        s.auth(mechanism(&user, user.oauth_token())),
        format_args!("AUTH {name} after a refusal"),
    );
    assert_eq!(ok(s.stat(), "STAT").count, 1);
    ok(s.quit(), "QUIT");
}

/// OAUTHBEARER with an expired token: `-ERR` with the RFC 7628 JSON details; then the valid token works.
pub fn dovecot_oauthbearer_expired_token<A: Adapter>(adapter: &A) {
    expired_token_scenario(adapter, |u, token| Mechanism::oauthbearer(&u.name, token));
}

/// XOAUTH2 with an expired token: `-ERR` with the JSON details; then the valid token works.
pub fn dovecot_xoauth2_expired_token<A: Adapter>(adapter: &A) {
    expired_token_scenario(adapter, |u, token| Mechanism::xoauth2(&u.name, token));
}

/// `login` picks SCRAM-SHA-256, the strongest mechanism Dovecot offers.
pub fn dovecot_login_picks_strongest<A: Adapter>(adapter: &A) {
    let user = dovecot_user("login", &sample_messages()[..1]);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    let method = ok(s.login(&user.name, &user.password), "login");
    assert_eq!(method, "SCRAM-SHA-256");
    assert_eq!(ok(s.stat(), "STAT").count, 1);
    ok(s.quit(), "QUIT");
}

/// A wrong password is `-ERR [AUTH]`; the session stays usable and the right password then works. (F-11)
pub fn dovecot_wrong_password<A: Adapter>(adapter: &A) {
    let user = dovecot_user("wrongpw", &sample_messages()[..1]);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    ok(s.user(&user.name), "USER");
    let e = err(s.pass("not-the-password"), "PASS with a wrong password");
    assert_server(&e, Some("AUTH"), "wrong password");
    assert!(!e.text.is_empty(), "no -ERR text: {e}");
    ok(s.user(&user.name), "USER again");
    ok(s.pass(&user.password), "PASS again");
    assert_eq!(ok(s.stat(), "STAT").count, 1);
    ok(s.quit(), "QUIT");
}

/// Wrong passwords through SASL (SCRAM-SHA-256, CRAM-MD5) are `-ERR [AUTH]`; the session stays usable.
pub fn dovecot_wrong_password_sasl<A: Adapter>(adapter: &A) {
    let user = dovecot_user("wrongsasl", &sample_messages()[..1]);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    for mechanism in [
        Mechanism::scram_sha256(&user.name, "wrong", fresh_nonce()),
        Mechanism::cram_md5(&user.name, "wrong"),
    ] {
        let name = mechanism.name();
        let e = err(
            s.auth(mechanism),
            format_args!("AUTH {name}, wrong password"),
        );
        assert_server(&e, Some("AUTH"), name);
    }
    assert_eq!(
        ok(s.login(&user.name, &user.password), "login"),
        "SCRAM-SHA-256"
    );
    assert_eq!(ok(s.stat(), "STAT").count, 1);
    ok(s.quit(), "QUIT");
}

/// Implicit TLS (POP3S) with the test CA: encrypted from the start, login works. (A-11)
pub fn dovecot_implicit_tls<A: Adapter>(adapter: &A) {
    let user = dovecot_user("pop3s", &sample_messages()[..2]);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::Implicit));
    assert!(s.is_encrypted(), "POP3S session not encrypted");
    assert!(s.greeting().starts_with(b"Dovecot"));
    ok(s.login(&user.name, &user.password), "login");
    assert_eq!(ok(s.stat(), "STAT").count, 2);
    ok(s.quit(), "QUIT");
}

/// The certificate is valid for `localhost` and `127.0.0.1`; both verify, with STLS and with implicit TLS.
pub fn dovecot_certificate_names<A: Adapter>(adapter: &A) {
    for host in ["localhost", "127.0.0.1"] {
        for security in [Security::Implicit, Security::StartTls] {
            let spec = ConnectSpec::dovecot(security).host(host);
            let mut s = connect(adapter, &spec);
            assert!(s.is_encrypted(), "{host} {security:?}");
            ok(s.capa(), format_args!("CAPA via {host} {security:?}"));
            ok(s.quit(), "QUIT");
        }
    }
}

/// A name the certificate does not carry fails verification, and so does a certificate no trusted root
/// vouches for (the adapter's default roots instead of the test CA). (A-12)
pub fn dovecot_tls_verification_failures<A: Adapter>(adapter: &A) {
    for security in [Security::Implicit, Security::StartTls] {
        let port = ConnectSpec::dovecot(security).port;
        let wrong_name = ConnectSpec::dovecot(security)
            .host("wrong.example")
            .connect_to(SocketAddr::from(([127, 0, 0, 1], port)));
        let e = connect_err(adapter, &wrong_name);
        assert_tls(
            &e,
            &format!("host name not in the certificate ({security:?})"),
        );

        let untrusted = ConnectSpec::dovecot(security).default_roots();
        let e = connect_err(adapter, &untrusted);
        assert_tls(
            &e,
            &format!("certificate from an unknown CA ({security:?})"),
        );
    }
}

/// Every command against a small mailbox, with `-ERR` answers that leave the session usable (H-07), a refused
/// message number 0, UTF8 (which Dovecot does not support, and which is refused before sending after login),
/// raw commands, DELE/RSET, and QUIT closing the session.
pub fn dovecot_every_command<A: Adapter>(adapter: &A) {
    let messages = &sample_messages()[..SAMPLE_BIG];
    let user = dovecot_user("every", messages);
    let mut s = connect(adapter, &ConnectSpec::dovecot(Security::StartTls));
    assert_is_server(&err(s.utf8(), "UTF8"), "UTF8 (Dovecot has none)");
    ok(s.user(&user.name), "USER after a refused UTF8");
    ok(s.pass(&user.password), "PASS");
    assert_misuse(&err(s.utf8(), "UTF8 in TRANSACTION"), "UTF8 after login");
    let count = messages.len() as u64;

    assert_eq!(
        ok(s.stat(), "STAT"),
        Stat {
            count,
            octets: total_octets(messages)
        }
    );
    let list = ok(s.list(), "LIST");
    let expected: Vec<Scan> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Scan {
            msg: i as u64 + 1,
            octets: m.len() as u64,
        })
        .collect();
    assert_eq!(list, expected);
    assert_eq!(ok(s.list_one(2), "LIST 2"), expected[1]);
    assert_is_server(&err(s.list_one(99), "LIST 99"), "LIST 99");

    let uidl = ok(s.uidl(), "UIDL");
    assert_eq!(uidl.len(), messages.len());
    for (i, entry) in uidl.iter().enumerate() {
        assert_eq!(entry.msg, i as u64 + 1);
        assert_eq!(entry.uid.len(), 16, "%08Xu%08Xv: {entry:?}");
    }
    let mut uids: Vec<&str> = uidl.iter().map(|e| e.uid.as_str()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), messages.len(), "UIDs are not unique: {uidl:?}");
    assert_eq!(ok(s.uidl_one(3), "UIDL 3"), uidl[2]);
    assert_is_server(&err(s.uidl_one(99), "UIDL 99"), "UIDL 99");
    let together: Vec<Listed> = expected
        .iter()
        .zip(&uidl)
        .map(|(scan, entry)| Listed {
            msg: scan.msg,
            octets: scan.octets,
            uid: Some(entry.uid.clone()),
        })
        .collect();
    assert_eq!(ok(s.listing(), "LIST and UIDL together"), together);

    assert_same_bytes(&ok(s.retr(1), "RETR 1"), &messages[0], "RETR 1");
    let mut sink = Vec::new();
    let written = ok(s.retr_to(2, &mut sink), "RETR 2 streamed");
    assert_eq!(written, sink.len() as u64);
    assert_same_bytes(&sink, &messages[1], "RETR 2 streamed");
    assert_is_server(&err(s.retr(99), "RETR 99"), "RETR 99");
    assert_misuse(&err(s.retr(0), "RETR 0"), "RETR 0");

    for lines in [0, 1, 3] {
        let top = ok(s.top(1, lines), format_args!("TOP 1 {lines}"));
        assert_same_bytes(
            &top,
            &top_of(&messages[0], lines as usize),
            &format!("TOP 1 {lines}"),
        );
    }

    ok(s.noop(), "NOOP");

    let raw = ok(s.raw("LIST 1", false), "raw LIST 1");
    assert_eq!(raw.text, format!("1 {}", messages[0].len()).into_bytes());
    assert!(raw.body.is_empty());
    let raw = ok(s.raw("UIDL", true), "raw UIDL");
    let expected_body: String = uidl
        .iter()
        .map(|e| format!("{} {}\r\n", e.msg, e.uid))
        .collect();
    assert_eq!(show(&raw.body), show(expected_body.as_bytes()));
    assert_misuse(&err(s.raw("PASS x", false), "raw PASS"), "raw PASS");

    ok(s.dele(1), "DELE 1");
    assert_eq!(ok(s.stat(), "STAT after DELE").count, count - 1);
    assert_is_server(&err(s.retr(1), "RETR of a deleted message"), "RETR 1");
    assert_is_server(&err(s.dele(1), "DELE twice"), "DELE 1 twice");
    ok(s.rset(), "RSET");
    assert_eq!(ok(s.stat(), "STAT after RSET").count, count);
    let caps = ok(s.capa(), "CAPA in TRANSACTION");
    assert!(caps.top());

    ok(s.quit(), "QUIT");
    assert_closed(&err(s.noop(), "NOOP after QUIT"), "NOOP after QUIT");
    assert_closed(&err(s.stat(), "STAT after QUIT"), "STAT after QUIT");
}

/// A sink that fails mid-message is reported as `Sink`; the rest of the answer is read and the session goes on.
pub fn dovecot_failing_sink<A: Adapter>(adapter: &A) {
    let messages = sample_messages();
    let user = dovecot_user(
        "sink",
        &[messages[SAMPLE_PLAIN].clone(), messages[SAMPLE_BIG].clone()],
    );
    let mut s = dovecot_session(adapter, &user);
    for (msg, budget) in [(1, 10), (2, 100_000), (2, 0)] {
        let e = err(
            s.retr_to(msg, &mut FailingSink { budget }),
            format_args!("RETR {msg} into a sink failing after {budget} octets"),
        );
        assert!(matches!(e.kind, ErrorKind::Sink), "expected Sink, got {e}");
        ok(s.noop(), "NOOP after a failed sink");
    }
    assert_same_bytes(
        &ok(s.retr(1), "RETR 1"),
        &messages[SAMPLE_PLAIN],
        "RETR 1 after sink failures",
    );
    ok(s.quit(), "QUIT");
}

/// Dot-stuffed, 8-bit, no-final-newline and empty-body messages come back byte-exact. Dovecot appends CRLF to
/// the message without a final line ending, so RETR gives 2 octets more than LIST.
pub fn dovecot_messages_byte_exact<A: Adapter>(adapter: &A) {
    let messages = &sample_messages()[..SAMPLE_BIG];
    let user = dovecot_user("exact", messages);
    let mut s = dovecot_session(adapter, &user);
    for (i, message) in messages.iter().enumerate() {
        let msg = i as u64 + 1;
        let expected = if i == SAMPLE_NO_FINAL_NEWLINE {
            [&message[..], b"\r\n"].concat()
        } else {
            message.clone()
        };
        let got = ok(s.retr(msg), format_args!("RETR {msg}"));
        assert_same_bytes(&got, &expected, &format!("RETR {msg}"));
        let mut sink = CountingSink::new();
        ok(
            s.retr_to(msg, &mut sink),
            format_args!("RETR {msg} streamed"),
        );
        assert_eq!(sink, CountingSink::of(&expected), "RETR {msg} streamed");
    }
    let dots = ok(s.retr(SAMPLE_DOTS as u64 + 1), "RETR dots");
    assert!(contains(&dots, b"\r\n.\r\n") && contains(&dots, b"\r\n..two dots"));
    let eight_bit = ok(s.retr(SAMPLE_8BIT as u64 + 1), "RETR 8bit");
    assert!(contains(&eight_bit, b"Gr\xfc\xdfe aus K\xf6ln"));
    assert!(contains(&eight_bit, "東京".as_bytes()));
    let empty = ok(s.retr(SAMPLE_EMPTY_BODY as u64 + 1), "RETR empty body");
    assert!(empty.ends_with(b"\r\n\r\n"));

    let n = SAMPLE_NO_FINAL_NEWLINE as u64 + 1;
    let listed = ok(s.list_one(n), "LIST of the no-final-newline message").octets;
    assert_eq!(listed, messages[SAMPLE_NO_FINAL_NEWLINE].len() as u64);
    let delivered = ok(s.retr(n), "RETR of the no-final-newline message");
    assert_eq!(delivered.len() as u64, listed + 2);
    assert!(delivered.ends_with(b"This last line has no line ending\r\n"));
    ok(s.quit(), "QUIT");
}

/// The 5 MiB message, into memory and streamed, byte-exact.
pub fn dovecot_big_message<A: Adapter>(adapter: &A) {
    let messages = sample_messages();
    let big = &messages[SAMPLE_BIG];
    let user = dovecot_user("big", &[messages[SAMPLE_PLAIN].clone(), big.clone()]);
    let mut s = dovecot_session(adapter, &user);
    assert_eq!(ok(s.list_one(2), "LIST 2").octets, SAMPLE_BIG_LEN as u64);
    let got = ok(s.retr(2), "RETR of 5 MiB");
    assert_same_bytes(&got, big, "RETR of 5 MiB");
    let mut sink = CountingSink::new();
    let written = ok(s.retr_to(2, &mut sink), "RETR of 5 MiB streamed");
    assert_eq!(written, SAMPLE_BIG_LEN as u64);
    assert_eq!(sink, CountingSink::of(big));
    assert_same_bytes(&ok(s.retr(1), "RETR 1"), &messages[SAMPLE_PLAIN], "RETR 1");
    ok(s.quit(), "QUIT");
}

/// With a 1 MiB in-memory limit, RETR of the 5 MiB message is `TooLarge` and the session stays usable; the
/// streaming form still gets all of it.
pub fn dovecot_too_large_then_stream<A: Adapter>(adapter: &A) {
    let messages = sample_messages();
    let big = &messages[SAMPLE_BIG];
    let user = dovecot_user("toolarge", &[messages[SAMPLE_PLAIN].clone(), big.clone()]);
    let spec = ConnectSpec::dovecot(Security::StartTls).max_message_size(1024 * 1024);
    let mut s = connect(adapter, &spec);
    ok(s.user(&user.name), "USER");
    ok(s.pass(&user.password), "PASS");
    let e = err(s.retr(2), "RETR over the limit");
    assert!(
        matches!(e.kind, ErrorKind::TooLarge),
        "expected TooLarge, got {e}"
    );
    ok(s.noop(), "NOOP after TooLarge");
    let mut sink = CountingSink::new();
    ok(s.retr_to(2, &mut sink), "streamed RETR");
    assert_eq!(sink, CountingSink::of(big));
    assert_same_bytes(&ok(s.retr(1), "RETR 1"), &messages[SAMPLE_PLAIN], "RETR 1");
    ok(s.quit(), "QUIT");
}

/// A 1000-message mailbox: STAT, LIST and UIDL complete and right; all 1000 retrieved in one pipelined batch,
/// byte-exact; half deleted in one batch. (H-04)
pub fn dovecot_thousand_messages<A: Adapter>(adapter: &A) {
    let messages = numbered_messages(1000);
    let user = dovecot_user("thousand", &messages);
    let mut s = dovecot_session(adapter, &user);
    assert_eq!(
        ok(s.stat(), "STAT"),
        Stat {
            count: 1000,
            octets: total_octets(&messages)
        }
    );
    let list = ok(s.list(), "LIST");
    assert_eq!(list.len(), 1000);
    for (i, (scan, message)) in list.iter().zip(&messages).enumerate() {
        assert_eq!(
            *scan,
            Scan {
                msg: i as u64 + 1,
                octets: message.len() as u64
            }
        );
    }
    let uidl = ok(s.uidl(), "UIDL");
    assert_eq!(uidl.len(), 1000);
    let mut uids: Vec<&str> = uidl.iter().map(|e| e.uid.as_str()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 1000, "UIDs not unique");

    let all: Vec<u64> = (1..=1000).collect();
    let bodies = ok(s.retr_many(&all), "retr_many of 1000");
    assert_eq!(bodies.len(), 1000);
    for (i, (body, message)) in bodies.into_iter().zip(&messages).enumerate() {
        let body = ok(body, format_args!("message {}", i + 1));
        assert_same_bytes(&body, message, &format!("retr_many message {}", i + 1));
    }

    let even: Vec<u64> = (1..=1000).filter(|n| n % 2 == 0).collect();
    let outcomes = ok(s.dele_many(&even), "dele_many of 500");
    assert_eq!(outcomes.len(), 500);
    for (msg, outcome) in even.iter().zip(outcomes) {
        ok(outcome, format_args!("DELE {msg}"));
    }
    assert_eq!(ok(s.stat(), "STAT after dele_many").count, 500);
    ok(s.rset(), "RSET");
    assert_eq!(ok(s.stat(), "STAT after RSET").count, 1000);
    ok(s.quit(), "QUIT");
}

/// Pipelined batches with a `-ERR` in the middle: only that message fails, in its place; empty batches and
/// message 0 are handled before sending.
pub fn dovecot_pipelined_batches<A: Adapter>(adapter: &A) {
    let messages = &sample_messages()[..3];
    let user = dovecot_user("batches", messages);
    let mut s = dovecot_session(adapter, &user);

    let got = ok(s.retr_many(&[1, 99, 3, 2]), "retr_many [1, 99, 3, 2]");
    assert_eq!(got.len(), 4);
    let mut got = got.into_iter();
    for (msg, expected) in [(1, Some(0)), (99, None), (3, Some(2)), (2, Some(1))] {
        let outcome = got.next().expect("four outcomes");
        match expected {
            Some(i) => assert_same_bytes(
                &ok(outcome, format_args!("message {msg}")),
                &messages[i],
                &format!("retr_many message {msg}"),
            ),
            None => assert_is_server(&err(outcome, "message 99"), "RETR 99 in a batch"),
        }
    }
    assert!(ok(s.retr_many(&[]), "empty retr_many").is_empty());
    assert_misuse(&err(s.retr_many(&[1, 0]), "retr_many with 0"), "message 0");
    assert!(ok(s.dele_many(&[]), "empty dele_many").is_empty());

    let outcomes = ok(s.dele_many(&[1, 99, 3]), "dele_many [1, 99, 3]");
    assert_eq!(outcomes.len(), 3);
    ok(outcomes[0].clone(), "DELE 1");
    assert_is_server(&err(outcomes[1].clone(), "DELE 99"), "DELE 99");
    ok(outcomes[2].clone(), "DELE 3");
    let again = ok(s.dele_many(&[2, 2]), "dele_many [2, 2]");
    assert_eq!(again.len(), 2);
    ok(again[0].clone(), "the first DELE 2");
    assert_is_server(&err(again[1].clone(), "DELE 2 twice"), "the second DELE 2");
    ok(s.rset(), "RSET");
    ok(s.dele_many(&[1, 3]), "dele_many [1, 3]")
        .into_iter()
        .for_each(|outcome| ok(outcome, "DELE"));
    assert_eq!(ok(s.stat(), "STAT").count, 1);
    ok(s.quit(), "QUIT");

    let mut s = dovecot_session(adapter, &user);
    assert_eq!(ok(s.stat(), "STAT in a new session").count, 1);
    assert_same_bytes(&ok(s.retr(1), "RETR 1"), &messages[1], "the survivor");
    ok(s.quit(), "QUIT");
}

/// DELE marks, RSET unmarks, QUIT commits: a second session sees the right STAT, numbering and UIDs.
pub fn dovecot_dele_rset_quit<A: Adapter>(adapter: &A) {
    let messages = &sample_messages()[..4];
    let user = dovecot_user("delerset", messages);
    let mut s = dovecot_session(adapter, &user);
    let uidl = ok(s.uidl(), "UIDL");
    ok(s.dele(1), "DELE 1");
    assert_eq!(ok(s.stat(), "STAT").count, 3);
    ok(s.rset(), "RSET");
    assert_eq!(
        ok(s.stat(), "STAT after RSET"),
        Stat {
            count: 4,
            octets: total_octets(messages)
        }
    );
    ok(s.dele(1), "DELE 1");
    ok(s.dele(3), "DELE 3");
    ok(s.quit(), "QUIT");

    let mut s = dovecot_session(adapter, &user);
    let survivors = [messages[1].clone(), messages[3].clone()];
    assert_eq!(
        ok(s.stat(), "STAT in the second session"),
        Stat {
            count: 2,
            octets: total_octets(&survivors)
        }
    );
    assert_same_bytes(
        &ok(s.retr(1), "RETR 1"),
        &as_delivered(&survivors[0]),
        "new message 1",
    );
    assert_same_bytes(
        &ok(s.retr(2), "RETR 2"),
        &as_delivered(&survivors[1]),
        "new message 2",
    );
    let after = ok(s.uidl(), "UIDL in the second session");
    assert_eq!(
        after.iter().map(|e| e.uid.as_str()).collect::<Vec<_>>(),
        [uidl[1].uid.as_str(), uidl[3].uid.as_str()],
        "UIDs survive renumbering"
    );
    ok(s.quit(), "QUIT");
}

/// A session that deletes and then goes away without QUIT commits nothing.
pub fn dovecot_no_commit_without_quit<A: Adapter>(adapter: &A) {
    let messages = &sample_messages()[..3];
    let user = dovecot_user("noquit", messages);
    let mut s = dovecot_session(adapter, &user);
    ok(s.dele(1), "DELE 1");
    ok(s.dele(2), "DELE 2");
    drop(s);
    let mut s = dovecot_session(adapter, &user);
    assert_eq!(ok(s.stat(), "STAT after a session without QUIT").count, 3);
    ok(s.quit(), "QUIT");
}

/// Without TLS and without the opt-in, every credential command is refused before sending (nothing about them
/// reaches the trace); the session stays usable, STLS is still possible afterwards, and login then works.
pub fn dovecot_plaintext_credentials_refused<A: Adapter>(adapter: &A) {
    let user = dovecot_user("cleartext", &sample_messages()[..1]);
    let trace = TraceBuffer::new();
    let spec = ConnectSpec::dovecot(Security::Plaintext).trace(1, &trace);
    let mut s = connect(adapter, &spec);
    assert!(!s.is_encrypted());
    ok(s.capa(), "CAPA");
    assert_insecure_credentials(&err(s.user(&user.name), "USER"), "USER in clear");
    assert_insecure_credentials(&err(s.pass(&user.password), "PASS"), "PASS in clear");
    assert_insecure_credentials(
        &err(s.apop(&user.name, &user.password), "APOP"),
        "APOP in clear",
    );
    assert_insecure_credentials(
        &err(
            s.auth(Mechanism::plain(&user.name, &user.password)),
            "AUTH PLAIN",
        ),
        "AUTH PLAIN in clear",
    );
    assert_insecure_credentials(
        &err(s.login(&user.name, &user.password), "login"),
        "login in clear",
    );
    let text = trace.text();
    assert!(
        !text.contains(&user.name) && !text.contains(&user.password),
        "credentials reached the wire (trace: {text})"
    );
    ok(s.capa(), "CAPA after refusals");
    ok(s.stls(), "STLS after refused credentials");
    assert!(s.is_encrypted());
    ok(s.login(&user.name, &user.password), "login over TLS");
    assert_eq!(ok(s.stat(), "STAT").count, 1);
    ok(s.quit(), "QUIT");
}

/// With the opt-in, USER/PASS works in clear, and the session says it is not encrypted. (A-11, A-13)
pub fn dovecot_plaintext_opt_in<A: Adapter>(adapter: &A) {
    let user = dovecot_user("optin", &sample_messages()[..2]);
    let spec = ConnectSpec::dovecot(Security::Plaintext).allow_plaintext_credentials();
    let mut s = connect(adapter, &spec);
    ok(s.user(&user.name), "USER");
    ok(s.pass(&user.password), "PASS");
    assert_eq!(ok(s.stat(), "STAT").count, 2);
    assert!(!s.is_encrypted());
    assert_eq!(s.tls_alpn(), None);
    ok(s.quit(), "QUIT");
}

/// `StartTlsIfAvailable` upgrades when the server offers STLS.
pub fn dovecot_starttls_if_available<A: Adapter>(adapter: &A) {
    let user = dovecot_user("ifavail", &sample_messages()[..1]);
    let mut s = connect(
        adapter,
        &ConnectSpec::dovecot(Security::StartTlsIfAvailable),
    );
    assert!(s.is_encrypted(), "STLS offered but not used");
    ok(s.login(&user.name, &user.password), "login");
    ok(s.quit(), "QUIT");
}

/// IPv6 loopback (`::1`, in the certificate), with STLS and implicit TLS; skipped without IPv6.
pub fn dovecot_ipv6<A: Adapter>(adapter: &A) {
    let d = Dovecot::shared();
    if !d.has_ipv6() {
        eprintln!("no IPv6 loopback on this machine: skipped");
        return;
    }
    let user = dovecot_user("ipv6", &sample_messages()[..1]);
    for security in [Security::StartTls, Security::Implicit] {
        let mut s = connect(adapter, &ConnectSpec::dovecot(security).host("::1"));
        assert!(s.is_encrypted());
        ok(s.user(&user.name), "USER");
        ok(s.pass(&user.password), "PASS");
        assert_eq!(ok(s.stat(), "STAT over IPv6").count, 1);
        ok(s.quit(), "QUIT");
    }
}

/// The protocol trace shows commands but never a password, a SASL exchange or an APOP digest. (J-02)
pub fn dovecot_trace_redacts_secrets<A: Adapter>(adapter: &A) {
    let user = dovecot_user("trace", &sample_messages()[..1]);
    let trace = TraceBuffer::new();
    let spec = ConnectSpec::dovecot(Security::StartTls).trace(2, &trace);
    let mut s = connect(adapter, &spec);
    ok(s.user(&user.name), "USER");
    ok(s.pass(&user.password), "PASS");
    ok(s.retr(1), "RETR 1");
    ok(s.quit(), "QUIT");
    let mut s = connect(adapter, &spec);
    ok(
        s.auth(Mechanism::plain(&user.name, &user.password)),
        "AUTH PLAIN",
    );
    ok(s.quit(), "QUIT");
    let mut s = connect(adapter, &spec);
    ok(s.apop(&user.name, &user.password), "APOP");
    ok(s.quit(), "QUIT");
    let mut s = connect(adapter, &spec);
    ok(s.login(&user.name, &user.password), "login (SCRAM)");
    ok(s.quit(), "QUIT");

    let text = trace.text();
    assert!(
        text.contains(&user.name),
        "the trace does not show commands: {text}"
    );
    assert!(
        !text.contains(&user.password),
        "password in the trace: {text}"
    );
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD
        .encode(format!("\0{}\0{}", user.name, user.password));
    assert!(!text.contains(&plain), "AUTH PLAIN response in the trace");
    let digest_like = text.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        w.len() == 32
            && w.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    assert!(!digest_like, "an APOP digest in the trace: {text}");
}

/// STLS is refused before sending once TLS is up (STLS or implicit) and after credentials were sent.
/// (A-14, A-15)
pub fn dovecot_no_second_stls<A: Adapter>(adapter: &A) {
    let user = dovecot_user("stlstwice", &sample_messages()[..1]);
    for security in [Security::StartTls, Security::Implicit] {
        let mut s = connect(adapter, &ConnectSpec::dovecot(security));
        assert_misuse(
            &err(s.stls(), "STLS on a TLS session"),
            &format!("{security:?}"),
        );
        ok(s.capa(), "CAPA after a refused STLS");
        ok(s.quit(), "QUIT");
    }
    let spec = ConnectSpec::dovecot(Security::Plaintext).allow_plaintext_credentials();
    let mut s = connect(adapter, &spec);
    ok(s.user(&user.name), "USER");
    ok(s.pass(&user.password), "PASS");
    assert_misuse(&err(s.stls(), "STLS after login"), "STLS after login");
    assert!(!s.is_encrypted());
    ok(s.quit(), "QUIT");
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios against scripted (hostile or broken) servers
// ---------------------------------------------------------------------------------------------------------------

/// STLS refused, whether or not CAPA advertised it, or CAPA failed: `StartTls` aborts with `TlsUnavailable`
/// after one STLS; `StartTlsIfAvailable` stays in plaintext, says so, and never sends a credential. (A-01,
/// A-02, A-03, A-04, A-08, A-09b, A-10, A-11)
pub fn scripted_stls_refused<A: Adapter>(adapter: &A) {
    for refusal in ["-ERR STARTTLS not supported.\r\n", "-ERR not available\r\n"] {
        let server = scripted(
            Script::new()
                .server(GREETING)
                .client("STLS")
                .server(refusal)
                .stall_forever(),
        );
        let e = connect_err(adapter, &scripted_spec(&server, Security::StartTls));
        assert!(
            matches!(e.kind, ErrorKind::TlsUnavailable { code: None }),
            "STLS refused: expected TlsUnavailable, got {e}"
        );
        assert_sent(&server, b"STLS\r\n", "StartTls, STLS refused");
        assert_eq!(server.connections(), 1, "the client retried");
    }

    let stripped = "+OK list of capabilities\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5 GSSAPI EXTERNAL\r\n\
                    RESP-CODES\r\nLOGIN-DELAY 900\r\nPIPELINING\r\nUIDL\r\n.\r\n";
    let offered = "+OK list of capabilities\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\n.\r\n";
    let cases: [(&str, Script, &[u8]); 3] = [
        (
            "STLS stripped from CAPA",
            Script::new()
                .server(GREETING)
                .client("CAPA")
                .server(stripped),
            b"CAPA\r\n",
        ),
        (
            "STLS advertised, then refused",
            Script::new()
                .server(GREETING)
                .client("CAPA")
                .server(offered)
                .client("STLS")
                .server("-ERR STARTTLS not supported.\r\n"),
            b"CAPA\r\nSTLS\r\n",
        ),
        (
            "CAPA refused",
            Script::new()
                .server(GREETING)
                .client("CAPA")
                .server("-ERR Not implemented\r\n"),
            b"CAPA\r\n",
        ),
    ];
    for (what, script, expected) in cases {
        let server = scripted(script.client("CAPA").server(CAPA_PLAIN).stall_forever());
        let spec = scripted_spec(&server, Security::StartTlsIfAvailable);
        let mut s = connect(adapter, &spec);
        assert!(!s.is_encrypted(), "{what}: reports encryption");
        assert_eq!(s.tls_alpn(), None, "{what}");
        assert_every_credential_refused(&mut s, what);
        ok(s.capa(), format_args!("{what}: CAPA"));
        assert_sent(&server, &[expected, b"CAPA\r\n"].concat(), what);
        assert_eq!(server.connections(), 1, "{what}: the client reconnected");
    }
}

/// STLS refused with a response code: the code reaches the caller, upper case, and there is no retry. (A-05)
pub fn scripted_stls_refused_with_code<A: Adapter>(adapter: &A) {
    for (refusal, code) in [
        ("-ERR [SYS/PERM] perm alert\r\n", "SYS/PERM"),
        ("-ERR [sys/perm] perm alert\r\n", "SYS/PERM"),
        ("-ERR [SYS/TEMP] try later\r\n", "SYS/TEMP"),
    ] {
        let server = scripted(
            Script::new()
                .server(GREETING)
                .client("STLS")
                .server(refusal)
                .stall_forever(),
        );
        let e = connect_err(adapter, &scripted_spec(&server, Security::StartTls));
        assert!(
            matches!(e.kind, ErrorKind::TlsUnavailable { .. }),
            "{refusal:?}: expected TlsUnavailable, got {e}"
        );
        assert_eq!(e.code(), Some(code), "{refusal:?}: {e}");
        assert_sent(&server, b"STLS\r\n", refusal);
        assert_eq!(server.connections(), 1);
    }
}

/// `+OK` to STLS, then the server goes on in plaintext: the handshake fails, the session is not used. (A-06)
pub fn scripted_stls_ok_then_plaintext<A: Adapter>(adapter: &A) {
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK [SYS/PERM] perm alert\r\n")
            .stall(Duration::from_millis(50))
            .server("-ERR unknown command\r\n")
            .stall_forever(),
    );
    let e = connect_err(adapter, &scripted_spec(&server, Security::StartTls));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Tls | ErrorKind::Protocol(Some(pop3_proto::Error::DataAfterStls))
        ),
        "expected a TLS failure, got {e}"
    );
    assert_sent_then_handshake(&server, b"STLS\r\n", "plaintext after STLS");
}

/// `+OK` to STLS, then silence: the handshake is bounded by the response time limit. Also silence on an
/// implicit-TLS port. (A-07a, I-01 for TLS)
pub fn scripted_stls_ok_then_silence<A: Adapter>(adapter: &A) {
    let limit = Duration::from_millis(400);
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTls)
        .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(limit));
    let started = Instant::now();
    let e = connect_err(adapter, &spec);
    let took = started.elapsed();
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "silent STLS handshake: expected Timeout, got {e}"
    );
    assert!(took >= limit && took < limit + SLACK, "took {took:?}");
    assert_sent_then_handshake(&server, b"STLS\r\n", "silent STLS handshake");

    let server = scripted(Script::new().stall_forever());
    let pki = TestPki::generate();
    let spec = scripted_spec(&server, Security::Implicit)
        .ca_pem(pki.ca.cert_pem())
        .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(limit));
    let started = Instant::now();
    let e = connect_err(adapter, &spec);
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "silent POP3S handshake: expected Timeout, got {e}"
    );
    assert!(started.elapsed() < limit + SLACK);
}

/// `+OK` to STLS, then FIN or RST: a handshake error, no plaintext continuation. (A-07b, A-07c)
pub fn scripted_stls_ok_then_close<A: Adapter>(adapter: &A) {
    for reset in [false, true] {
        let script = Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .stall(Duration::from_millis(50));
        let server = scripted(if reset {
            script.reset()
        } else {
            script.close()
        });
        let e = connect_err(adapter, &scripted_spec(&server, Security::StartTls));
        assert!(
            matches!(e.kind, ErrorKind::Io | ErrorKind::Tls),
            "STLS then {}: expected an I/O or TLS error, got {e}",
            if reset { "RST" } else { "FIN" }
        );
        assert_sent_then_handshake(&server, b"STLS\r\n", "STLS then close");
    }
}

/// Bytes after the STLS `+OK`, in the same segment: complete responses, a downgrading CAPA, a partial line,
/// garbage. The session fails before the handshake; nothing else is sent. (B-01, B-02, B-03, B-04, B-07)
pub fn scripted_injection_after_stls<A: Adapter>(adapter: &A) {
    let injections: [&[u8]; 4] = [
        b"+OK Begin fake TLS negotiation now.\r\n+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n",
        b"+OK Begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n",
        b"+OK Begin TLS\r\n+OK X",
        b"+OK Begin fake TLS negotiation now.\r\n\xb9\xb3\xb9\xb2\xb3\xb9\xb2\xb3",
    ];
    let pki = TestPki::generate();
    for injection in injections {
        let server = scripted(
            Script::new()
                .server(GREETING)
                .client("STLS")
                .server(injection)
                .stall_forever(),
        );
        let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
        let e = connect_err(adapter, &spec);
        assert!(
            matches!(
                e.kind,
                ErrorKind::Protocol(Some(pop3_proto::Error::DataAfterStls) | None)
            ),
            "injection {:?}: expected Protocol(DataAfterStls), got {e}",
            show(injection)
        );
        assert_sent(&server, b"STLS\r\n", &show(injection));
    }
}

/// Injected bytes in a later segment reach the TLS layer as records and fail the handshake. (B-05)
pub fn scripted_injection_in_later_segment<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .stall(Duration::from_millis(50))
            .server("+OK\r\nSASL PLAIN\r\n.\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
    let e = connect_err(adapter, &spec);
    assert!(
        matches!(
            e.kind,
            ErrorKind::Tls | ErrorKind::Protocol(Some(pop3_proto::Error::DataAfterStls))
        ),
        "expected a TLS failure, got {e}"
    );
    assert_sent_then_handshake(&server, b"STLS\r\n", "late injection");
}

/// `-ERR` to STLS followed by answers to commands not yet sent: an error, and nothing else sent. (B-06)
pub fn scripted_stls_err_with_pipelined_answers<A: Adapter>(adapter: &A) {
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("STLS")
            .server("-ERR currently unavailable\r\n+OK user accepted\r\n+OK authenticated\r\n")
            .stall_forever(),
    );
    let e = connect_err(adapter, &scripted_spec(&server, Security::StartTls));
    assert!(
        matches!(
            e.kind,
            ErrorKind::TlsUnavailable { .. } | ErrorKind::Protocol(_)
        ),
        "expected TlsUnavailable or a protocol error, got {e}"
    );
    assert_sent(&server, b"STLS\r\n", "pipelined answers to STLS");
}

/// A post-TLS CAPA that still lists STLS, and STLS listed on an implicit-TLS port: no STLS is sent. (A-14,
/// B-08)
pub fn scripted_no_second_stls<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let capa_with_stls = "+OK\r\nUSER\r\nSTLS\r\nSASL SCRAM-SHA-256\r\nUIDL\r\nTOP\r\n.\r\n";
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .start_tls(pki.server_config())
            .client("CAPA")
            .server(capa_with_stls)
            .client("CAPA")
            .server(capa_with_stls)
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    assert!(s.is_encrypted());
    assert_misuse(&err(s.stls(), "second STLS"), "second STLS");
    assert!(ok(s.capa(), "CAPA").stls());
    assert_misuse(&err(s.stls(), "third STLS"), "STLS after CAPA");
    assert_sent(&server, b"STLS\r\nCAPA\r\nCAPA\r\n", "STLS then TLS");

    let server = scripted(
        Script::new()
            .start_tls(pki.server_config())
            .server(GREETING)
            .client("CAPA")
            .server(capa_with_stls)
            .client("USER u")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Implicit).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    assert!(s.is_encrypted());
    assert!(ok(s.capa(), "CAPA").stls());
    assert_misuse(&err(s.stls(), "STLS on POP3S"), "STLS on POP3S");
    ok(s.user("u"), "USER");
    assert_sent(&server, b"CAPA\r\nUSER u\r\n", "POP3S");
}

/// Capabilities learned in clear are forgotten at STLS: the login method is chosen from the CAPA read over TLS
/// (here USER/PASS, though the clear CAPA offered SASL PLAIN); a CAPA that fails after TLS leaves the session
/// usable. (B-08, B-09)
pub fn scripted_capabilities_after_tls<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let greeting = "+OK POP3 server ready\r\n";
    let before = "+OK\r\nSTLS\r\nPIPELINING\r\nSASL PLAIN\r\nUSER\r\nEXPIRE 0\r\nLOGIN-DELAY 900\r\n\
                  IMPLEMENTATION evil\r\n.\r\n";
    let server = scripted(
        Script::new()
            .server(greeting)
            .client("CAPA")
            .server(before)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .start_tls(pki.server_config())
            .client("CAPA")
            .server("+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n")
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\r\n")
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTlsIfAvailable).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    assert!(s.is_encrypted());
    assert_eq!(ok(s.login(SCRIPT_USER, SCRIPT_PASSWORD), "login"), "USER");
    assert_sent(
        &server,
        format!("CAPA\r\nSTLS\r\nCAPA\r\nUSER {SCRIPT_USER}\r\nPASS {SCRIPT_PASSWORD}\r\n")
            .as_bytes(),
        "login after STLS",
    );

    let server = scripted(
        Script::new()
            .server(greeting)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .start_tls(pki.server_config())
            .client("CAPA")
            .server("-ERR\r\n")
            .client("CAPA")
            .server("-ERR not now\r\n")
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    assert!(s.is_encrypted());
    assert_is_server(&err(s.capa(), "CAPA after TLS"), "CAPA refused after TLS");
    ok(s.user(SCRIPT_USER), "USER over TLS");
}

/// In plaintext without the opt-in, `login` and every credential command are refused and nothing of them is
/// on the wire. (A-10, A-13)
pub fn scripted_plaintext_credentials_not_sent<A: Adapter>(adapter: &A) {
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("CAPA")
            .server("+OK\r\nUSER\r\nSASL SCRAM-SHA-256 CRAM-MD5 PLAIN\r\nPIPELINING\r\n.\r\n")
            .client("QUIT")
            .server("+OK bye\r\n")
            .stall_forever(),
    );
    let mut s = connect(adapter, &scripted_spec(&server, Security::Plaintext));
    ok(s.capa(), "CAPA");
    assert_insecure_credentials(
        &err(s.login(SCRIPT_USER, SCRIPT_PASSWORD), "login"),
        "login in clear",
    );
    assert_every_credential_refused(&mut s, "plaintext");
    ok(s.quit(), "QUIT");
    assert_sent(&server, b"CAPA\r\nQUIT\r\n", "plaintext without opt-in");
}

/// Self-signed, unknown-CA, wrong-host and expired certificates fail with a TLS error, on POP3S and after
/// STLS; no application byte is sent, and there is no fallback connection. (A-12, E-05, E-06)
pub fn scripted_bad_certificates<A: Adapter>(adapter: &A) {
    let ca = TestCa::new();
    let bad: [(&str, TestCert); 4] = [
        ("self-signed", certs::self_signed_leaf()),
        ("unknown CA", certs::unknown_ca_leaf()),
        ("wrong host", ca.wrong_host_leaf()),
        ("expired", ca.expired_leaf()),
    ];
    for (what, cert) in &bad {
        let server = scripted(
            Script::new()
                .start_tls(cert.server_config())
                .server(GREETING)
                .stall_forever(),
        );
        let spec = scripted_spec(&server, Security::Implicit).ca_pem(ca.cert_pem());
        let e = connect_err(adapter, &spec);
        assert_tls(&e, &format!("POP3S with a {what} certificate"));
        assert_sent(&server, b"", what);
        assert_eq!(server.connections(), 1, "{what}: the client reconnected");

        // The greeting names the wrong host's name: the configured name is still the one verified (E-06).
        let server = scripted(
            Script::new()
                .server("+OK other.example POP3 server ready\r\n")
                .client("STLS")
                .server("+OK Begin TLS\r\n")
                .start_tls(cert.server_config())
                .client("CAPA")
                .server(CAPA_PLAIN)
                .stall_forever(),
        );
        let spec = scripted_spec(&server, Security::StartTls).ca_pem(ca.cert_pem());
        let e = connect_err(adapter, &spec);
        assert_tls(&e, &format!("STLS with a {what} certificate"));
        assert_sent(&server, b"STLS\r\n", what);
        assert_eq!(server.connections(), 1, "{what}: the client reconnected");
    }
}

/// The client offers ALPN `pop3`: a server selecting it reports it; a server without ALPN still works and reports
/// none (E-03); a server that speaks only another protocol refuses the handshake (ALPACA defence).
pub fn scripted_alpn<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let alpn = |protocols: &[&[u8]]| {
        pki.server
            .server_config_with_alpn(protocols.iter().map(|p| p.to_vec()).collect())
    };
    for (protocols, expected) in [
        (&[&b"pop3"[..]][..], Some(b"pop3".to_vec())),
        (&[][..], None),
        (&[&b"imap"[..], &b"pop3"[..]][..], Some(b"pop3".to_vec())),
    ] {
        let server = scripted(
            Script::new()
                .start_tls(alpn(protocols))
                .server(GREETING)
                .client("CAPA")
                .server(CAPA_PLAIN)
                .stall_forever(),
        );
        let spec = scripted_spec(&server, Security::Implicit).ca_pem(pki.ca.cert_pem());
        let mut s = connect(adapter, &spec);
        assert_eq!(s.tls_alpn(), expected, "server ALPN {protocols:?}");
        ok(s.capa(), "CAPA");

        let server = scripted(
            Script::new()
                .server(GREETING)
                .client("STLS")
                .server("+OK\r\n")
                .start_tls(alpn(protocols))
                .client("CAPA")
                .server(CAPA_PLAIN)
                .stall_forever(),
        );
        let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
        let s = connect(adapter, &spec);
        assert_eq!(s.tls_alpn(), expected, "STLS, server ALPN {protocols:?}");
    }

    let server = scripted(
        Script::new()
            .start_tls(alpn(&[b"imap"]))
            .server(GREETING)
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Implicit).ca_pem(pki.ca.cert_pem());
    assert_tls(
        &connect_err(adapter, &spec),
        "a server speaking only imap must not accept a pop3 client",
    );
}

/// The ClientHello offers exactly ALPN `pop3`, carries SNI for a DNS name and none for an IP literal, and asks
/// for no early data; on POP3S and after STLS alike. (E-01, E-09)
pub fn scripted_client_hello<A: Adapter>(adapter: &A) {
    for security in [Security::Implicit, Security::StartTls] {
        for (host, sni) in [("localhost", Some("localhost")), ("127.0.0.1", None)] {
            let script = if security == Security::Implicit {
                Script::new()
            } else {
                Script::new()
                    .server(GREETING)
                    .client("STLS")
                    .server("+OK Begin TLS\r\n")
            };
            // The server reads the ClientHello, then hangs up: the client's handshake fails at once.
            let server = scripted(script.stall(Duration::from_millis(100)).close());
            let spec = scripted_spec(&server, security)
                .host(host)
                .connect_to(server.addr());
            let e = connect_err(adapter, &spec);
            assert!(
                matches!(e.kind, ErrorKind::Io | ErrorKind::Tls),
                "{security:?} {host}: {e}"
            );
            let sent = settled_client_bytes(&server);
            let plain: &[u8] = if security == Security::Implicit {
                b""
            } else {
                b"STLS\r\n"
            };
            assert!(sent.starts_with(plain), "{}", show(&sent));
            let hello = parse_client_hello(&sent[plain.len()..]).unwrap_or_else(|| {
                panic!(
                    "{security:?} {host}: no ClientHello in {}",
                    show(&sent[plain.len()..])
                )
            });
            assert_eq!(
                hello.alpn,
                Some(vec![b"pop3".to_vec()]),
                "{security:?} {host}: ALPN"
            );
            assert_eq!(hello.sni.as_deref(), sni, "{security:?} {host}: SNI");
            assert!(!hello.early_data, "{security:?} {host}: early data offered");
        }
    }
}

/// A TLS endpoint of another protocol (valid certificate): its greeting is not `+OK`, so the connection fails
/// before any command. (E-04, and the same in clear)
pub fn scripted_cross_protocol_greeting<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    for greeting in [
        "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n",
        "220 mail.example.org ESMTP\r\n",
    ] {
        for security in [Security::Implicit, Security::Plaintext] {
            let script = if security == Security::Implicit {
                Script::new().start_tls(pki.server_config())
            } else {
                Script::new()
            };
            let server = scripted(script.server(greeting).stall_forever());
            let spec = scripted_spec(&server, security).ca_pem(pki.ca.cert_pem());
            let e = connect_err(adapter, &spec);
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::Protocol(Some(pop3_proto::Error::MalformedStatus { .. }) | None)
                ),
                "{greeting:?} ({security:?}): expected Protocol(MalformedStatus), got {e}"
            );
            assert_sent(&server, b"", greeting);
        }
    }
}

/// Data nobody asked for, and bodies that try to end early, never desynchronise the session: unsolicited bytes
/// after the greeting or after a complete answer are a protocol error before the next command is sent (so a
/// forged `+OK` never "confirms" a DELE); a bare-LF `.` line is data; a multi-line answer to a single-line raw
/// command ends in that error, not a hang. (D-01, D-02, D-03, D-05)
pub fn scripted_unsolicited_and_desync<A: Adapter>(adapter: &A) {
    // D-01: listing lines after the greeting, in the same segment.
    let server = scripted(
        Script::new()
            .server("+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext).allow_plaintext_credentials();
    let outcome = adapter
        .connect(&spec)
        .and_then(|mut s| s.capa().and(s.user(SCRIPT_USER)));
    let e = err(outcome, "commands after an unsolicited listing");
    assert!(
        matches!(e.kind, ErrorKind::Protocol(_)),
        "unsolicited listing: expected a protocol error, got {e}"
    );
    let sent = settled_client_bytes(&server);
    assert!(
        sent.is_empty() || sent == b"CAPA\r\n",
        "sent {}",
        show(&sent)
    );

    // D-02: an unstuffed terminator ends the message early; the forged rest is not an answer to DELE.
    let server = scripted(
        logged_in_script()
            .client("RETR 1")
            .server("+OK\r\nSubject: x\r\n\r\nhello\r\n.\r\n+OK forged\r\nrest\r\n.\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    assert_eq!(
        show(&ok(s.retr(1), "RETR cut short by the server")),
        show(b"Subject: x\r\n\r\nhello\r\n")
    );
    let e = err(s.dele(1), "DELE after forged data");
    assert!(
        matches!(
            e.kind,
            ErrorKind::Protocol(Some(pop3_proto::Error::Unsolicited { .. }) | None)
        ),
        "expected Protocol(Unsolicited), got {e}"
    );
    assert_closed(&err(s.noop(), "NOOP after"), "after forged data");
    assert_sent(
        &server,
        format!("{LOGGED_IN_BYTES}RETR 1\r\n").as_bytes(),
        "no DELE after forged data",
    );

    // D-03: a bare-LF `.` line is data in a CRLF session.
    let body = "line\n.\n+OK injected\r\nmore\r\n";
    let server = scripted(
        logged_in_script()
            .client("RETR 1")
            .server(format!("+OK\r\n{body}.\r\n"))
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    assert_eq!(
        show(&ok(s.retr(1), "RETR with bare LF")),
        show(body.as_bytes())
    );
    ok(s.noop(), "NOOP after a bare-LF body");

    // D-05: a multi-line answer to a command declared single-line.
    let server = scripted(
        logged_in_script()
            .client("XTND XLST")
            .server("+OK here it comes\r\nline\r\n.\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let reply = ok(s.raw("XTND XLST", false), "raw single-line command");
    assert_eq!(show(&reply.text), "here it comes");
    let e = err(s.noop(), "NOOP after an unexpected body");
    assert!(matches!(e.kind, ErrorKind::Protocol(_)), "{e}");
}

/// A refused USER after STLS leaves the session in AUTHORIZATION: transaction commands are refused before
/// sending, whatever the server hints. (D-04)
pub fn scripted_no_transaction_without_auth<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("STLS")
            .server("+OK Begin TLS\r\n")
            .start_tls(pki.server_config())
            .client("CAPA")
            .server("+OK\r\nUSER\r\nUIDL\r\n.\r\n")
            .client(format!("USER {SCRIPT_USER}"))
            .server("-ERR already authenticated, go ahead\r\n")
            .client("QUIT")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    assert_is_server(&err(s.user(SCRIPT_USER), "USER"), "USER refused");
    assert_misuse(&err(s.stat(), "STAT"), "STAT without login");
    assert_misuse(&err(s.retr(1), "RETR"), "RETR without login");
    assert_misuse(&err(s.dele_many(&[1]), "dele_many"), "DELE without login");
    ok(s.quit(), "QUIT");
    assert_sent(
        &server,
        format!("STLS\r\nCAPA\r\nUSER {SCRIPT_USER}\r\nQUIT\r\n").as_bytes(),
        "no TRANSACTION command",
    );
}

/// `login` never falls back to a weaker method after the chosen one failed (APOP, CRAM-MD5 → no USER/PASS);
/// a challenge that is not base64 is cancelled with `*`. (F-03, F-05)
pub fn scripted_login_no_downgrade<A: Adapter>(adapter: &A) {
    let cases = [
        (
            "APOP refused",
            Script::new()
                .server(GREETING)
                .client("CAPA")
                .server("+OK\r\nUSER\r\nTOP\r\n.\r\n")
                .client_any()
                .server("-ERR [AUTH] authentication failed\r\n"),
            "APOP u ",
        ),
        (
            "CRAM-MD5 refused",
            Script::new()
                .server("+OK POP3 server ready\r\n")
                .client("CAPA")
                .server("+OK\r\nSASL CRAM-MD5\r\nUSER\r\n.\r\n")
                .client("AUTH CRAM-MD5")
                .server("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n")
                .client_any()
                .server("-ERR [AUTH] authentication failed\r\n"),
            // base64 of "u <digest>"
            "AUTH CRAM-MD5\r\ndSB",
        ),
    ];
    for (what, script, expected_start) in cases {
        let server = scripted(script.client("QUIT").server("+OK bye\r\n").stall_forever());
        let spec = scripted_spec(&server, Security::Plaintext).allow_plaintext_credentials();
        let mut s = connect(adapter, &spec);
        let e = err(s.login(SCRIPT_USER, SCRIPT_PASSWORD), what);
        assert_server(&e, Some("AUTH"), what);
        ok(s.quit(), "QUIT");
        let sent = settled_client_bytes(&server);
        let text = String::from_utf8_lossy(&sent);
        let after_capa = text.strip_prefix("CAPA\r\n").unwrap_or(&text);
        assert!(
            after_capa.starts_with(expected_start),
            "{what}: sent {}",
            show(&sent)
        );
        assert!(
            !text.contains("USER") && !text.contains("PASS") && !text.contains(SCRIPT_PASSWORD),
            "{what}: fell back to a weaker method: {}",
            show(&sent)
        );
        assert!(text.ends_with("QUIT\r\n"), "{what}: {}", show(&sent));
    }

    let server = scripted(
        Script::new()
            .server("+OK POP3 server ready\r\n")
            .client("AUTH CRAM-MD5")
            .server("+ Not base64!\r\n")
            .client("*")
            .server("-ERR AUTH exchange cancelled by client\r\n")
            .client("QUIT")
            .server("+OK bye\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext).allow_plaintext_credentials();
    let mut s = connect(adapter, &spec);
    let e = err(
        s.auth(Mechanism::cram_md5(SCRIPT_USER, SCRIPT_PASSWORD)),
        "CRAM-MD5 with a garbage challenge",
    );
    assert_is_server(&e, "cancelled CRAM-MD5");
    ok(s.quit(), "QUIT after a cancelled AUTH");
    assert_sent(
        &server,
        b"AUTH CRAM-MD5\r\n*\r\nQUIT\r\n",
        "cancelled CRAM-MD5",
    );
}

/// Every response delivered one byte per segment (greeting, CAPA, UIDL, a body with NUL bytes and dot-stuffing,
/// a status line claiming 1 TB): the results are those of unsplit responses, and a declared size is never
/// trusted. (G-00, G-04, G-08, H-03)
pub fn scripted_fragmented_responses<A: Adapter>(adapter: &A) {
    let drip = Duration::from_millis(1);
    let body = b"Subject: x\r\n\r\nA\0B\r\n..C\r\n.\r\n";
    let server = scripted(
        Script::new()
            .server_slowly(GREETING, drip)
            .client("CAPA")
            .server_slowly(CAPA_PLAIN, drip)
            .client(format!("USER {SCRIPT_USER}"))
            .server_slowly("+OK\r\n", drip)
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server_slowly("+OK\r\n", drip)
            .client("UIDL")
            .server_slowly(
                "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
                drip,
            )
            .client("RETR 1")
            .server_slowly([&b"+OK 999999999999 octets\r\n"[..], body].concat(), drip)
            .client("LIST")
            .server_slowly("+OK\r\n1 4294967400\r\n2 10\r\n.\r\n", drip)
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext)
        .allow_plaintext_credentials()
        .max_message_size(64);
    let mut s = connect(adapter, &spec);
    assert_eq!(
        show(&s.greeting()),
        show(&GREETING.as_bytes()[4..GREETING.len() - 2])
    );
    scripted_login(&mut s);
    assert_eq!(
        ok(s.uidl(), "UIDL"),
        [
            UniqueId {
                msg: 1,
                uid: "whqtswO00WBw418f9t5JxYwZ".into()
            },
            UniqueId {
                msg: 2,
                uid: "QhdPYR:00WBw1Ph7x7".into()
            }
        ]
    );
    assert_eq!(
        show(&ok(s.retr(1), "RETR 1")),
        show(b"Subject: x\r\n\r\nA\0B\r\n.C\r\n")
    );
    assert_eq!(
        ok(s.list(), "LIST"),
        [
            Scan {
                msg: 1,
                octets: 4_294_967_400
            },
            Scan { msg: 2, octets: 10 }
        ]
    );
}

/// A server that ends every line with a bare LF (detected from its greeting): listings and bodies are read in
/// LF mode. (G-06)
pub fn scripted_lf_only_server<A: Adapter>(adapter: &A) {
    let server = scripted(
        Script::new()
            .server("+OK LF-only server ready\n")
            .client("CAPA")
            .server("+OK\nUSER\nUIDL\n.\n")
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\n")
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server("+OK\n")
            .client("UIDL")
            .server("+OK\n1 a\n2 b\n.\n")
            .client("RETR 1")
            .server("+OK\nSubject: x\n\nline one\n..dotted\n.\n")
            .client("STAT")
            .server("+OK 2 320\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    assert_eq!(
        ok(s.uidl(), "UIDL"),
        [
            UniqueId {
                msg: 1,
                uid: "a".into()
            },
            UniqueId {
                msg: 2,
                uid: "b".into()
            }
        ]
    );
    assert_eq!(
        show(&ok(s.retr(1), "RETR 1")),
        show(b"Subject: x\n\nline one\n.dotted\n")
    );
    assert_eq!(
        ok(s.stat(), "STAT"),
        Stat {
            count: 2,
            octets: 320
        }
    );
}

/// QUIT answered `-ERR` (in AUTHORIZATION, or in TRANSACTION: deletions may not be committed) is reported with
/// its code and ends the session; QUIT answered `+OK` returns at once even if the server never closes; over
/// TLS a missing `close_notify` after QUIT's `+OK` is tolerated. (I-05, E-08)
pub fn scripted_quit_answers<A: Adapter>(adapter: &A) {
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("QUIT")
            .server("-ERR please stay\r\n")
            .stall_forever(),
    );
    let mut s = connect(adapter, &scripted_spec(&server, Security::Plaintext));
    assert_server(
        &err(s.quit(), "QUIT refused"),
        None,
        "QUIT in AUTHORIZATION",
    );
    assert_closed(&err(s.capa(), "CAPA after QUIT"), "CAPA after QUIT");

    let server = scripted(
        logged_in_script()
            .client("DELE 1")
            .server("+OK\r\n")
            .client("QUIT")
            .server("-ERR [SYS/PERM] perm alert\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    ok(s.dele(1), "DELE 1");
    assert_server(
        &err(s.quit(), "QUIT refused in TRANSACTION"),
        Some("SYS/PERM"),
        "QUIT in TRANSACTION",
    );
    assert_closed(&err(s.noop(), "NOOP after QUIT"), "NOOP after QUIT");

    let server = scripted(
        logged_in_script()
            .client("QUIT")
            .server("+OK [SYS/PERM] perm alert\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let started = Instant::now();
    ok(s.quit(), "QUIT answered +OK by a server that stays");
    assert!(
        started.elapsed() < SLACK,
        "QUIT waited for the server to close: {:?}",
        started.elapsed()
    );
    // The client ends the connection itself after QUIT, with the session still alive (as poplib's `quit` does).
    if let Err(e) = server.wait_done(TEST_TIMEOUT) {
        panic!("the connection stayed open after QUIT: {e}");
    }
    drop(s);

    let pki = TestPki::generate();
    let server = scripted(
        Script::new()
            .start_tls(pki.server_config())
            .server(GREETING)
            .client("QUIT")
            .server("+OK bye\r\n")
            .close(),
    );
    let spec = scripted_spec(&server, Security::Implicit).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    ok(s.quit(), "QUIT over TLS without close_notify");
}

/// LIST and UIDL asked together: a server without UIDL (`-ERR`) gives sizes without UIDs; a refused LIST is the
/// call's error, and the UIDL answer queued behind it is still read, so the next command gets its own answer.
pub fn scripted_listing_without_uidl<A: Adapter>(adapter: &A) {
    let server = scripted(
        logged_in_script()
            .client("LIST")
            .server("+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n")
            .client("UIDL")
            .server("-ERR no UIDL here\r\n")
            .client("LIST")
            .server("-ERR [SYS/TEMP] try again later\r\n")
            .client("UIDL")
            .server("+OK\r\n1 uid-1\r\n.\r\n")
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let listed = |msg, octets| Listed {
        msg,
        octets,
        uid: None,
    };
    assert_eq!(
        ok(s.listing(), "LIST and a refused UIDL"),
        [listed(1, 120), listed(2, 200)]
    );
    assert_server(
        &err(s.listing(), "a refused LIST"),
        Some("SYS/TEMP"),
        "LIST refused",
    );
    ok(s.noop(), "NOOP after the refused LIST");
}

/// A listing longer than the configured limit (a server that never ends its LIST) ends in `TooLarge` after the
/// rest of the answer was read, for LIST, UIDL and both together; the session stays usable, in step with the server.
pub fn scripted_listing_limit<A: Adapter>(adapter: &A) {
    let three = "+OK\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n";
    let server = scripted(
        logged_in_script()
            .client("LIST")
            .server(three)
            .client("UIDL")
            .server("+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n")
            .client("LIST")
            .server(three)
            .client("UIDL")
            .server("+OK\r\n1 a\r\n.\r\n")
            .client("LIST")
            .server("+OK\r\n1 100\r\n2 200\r\n.\r\n")
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext)
        .allow_plaintext_credentials()
        .max_listing_entries(2);
    let mut s = connect(adapter, &spec);
    scripted_login(&mut s);
    let too_large = |e: TestError, what: &str| {
        assert!(matches!(e.kind, ErrorKind::TooLarge), "{what}: {e}");
    };
    too_large(err(s.list(), "LIST of 3"), "LIST of 3 with a limit of 2");
    too_large(err(s.uidl(), "UIDL of 3"), "UIDL of 3 with a limit of 2");
    too_large(err(s.listing(), "LIST of 3 and UIDL"), "LIST and UIDL");
    assert_eq!(
        ok(s.list(), "LIST of 2"),
        [
            Scan {
                msg: 1,
                octets: 100
            },
            Scan {
                msg: 2,
                octets: 200
            }
        ]
    );
    ok(s.noop(), "NOOP after the limits");
}

/// Empty multi-line answers end at once: an empty LIST, UIDL and message, a CAPA with an empty line, a raw
/// multi-line command with an empty body; a `-ERR` to a raw multi-line command has no body. (G-05, D-05)
pub fn scripted_empty_answers<A: Adapter>(adapter: &A) {
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("CAPA")
            .server("+OK list of capabilities\r\n\r\nUSER\r\n.\r\n")
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\r\n")
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server("+OK\r\n")
            .client("LIST")
            .server("+OK 0 messages:\r\n.\r\n")
            .client("UIDL")
            .server("+OK but no messages\r\n.\r\n")
            .client("RETR 1")
            .server("+OK 0 octets\r\n.\r\n")
            .client("XLIST")
            .server("+OK\r\n.\r\n")
            .client("XFAIL")
            .server("-ERR no such command\r\n")
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext).allow_plaintext_credentials();
    let mut s = connect(adapter, &spec);
    let caps = ok(s.capa(), "CAPA with an empty line");
    assert!(caps.user(), "{caps:?}");
    ok(s.user(SCRIPT_USER), "USER");
    ok(s.pass(SCRIPT_PASSWORD), "PASS");
    assert!(ok(s.list(), "empty LIST").is_empty());
    assert!(ok(s.uidl(), "empty UIDL").is_empty());
    assert!(ok(s.retr(1), "empty RETR").is_empty());
    assert_eq!(
        ok(s.raw("XLIST", true), "empty raw body"),
        RawReply {
            text: Vec::new(),
            body: Vec::new()
        }
    );
    assert_is_server(&err(s.raw("XFAIL", true), "raw -ERR"), "raw -ERR");
    ok(s.noop(), "NOOP");
}

/// A ClientHello's extensions, as far as the scenarios check them.
#[derive(Debug)]
struct ClientHello {
    /// The version field of the ClientHello itself (0x0303 for every modern client).
    legacy_version: u16,
    /// The supported_versions extension.
    versions: Vec<u16>,
    sni: Option<String>,
    alpn: Option<Vec<Vec<u8>>>,
    early_data: bool,
}

/// Parses the first TLS record of `bytes` as a ClientHello.
fn parse_client_hello(bytes: &[u8]) -> Option<ClientHello> {
    fn u16_at(b: &[u8], at: usize) -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    }
    if bytes.first() != Some(&0x16) {
        return None;
    }
    let record = bytes.get(5..5 + u16_at(bytes, 3)?)?;
    if record.first() != Some(&1) {
        return None;
    }
    let len = usize::from(record[1]) << 16 | u16_at(record, 2)?;
    let hello = record.get(4..4 + len)?;
    let mut at = 2 + 32;
    at += 1 + usize::from(*hello.get(at)?);
    at += 2 + u16_at(hello, at)?;
    at += 1 + usize::from(*hello.get(at)?);
    let extensions = hello.get(at + 2..at + 2 + u16_at(hello, at)?)?;
    let mut parsed = ClientHello {
        legacy_version: u16::from_be_bytes([*hello.first()?, *hello.get(1)?]),
        versions: Vec::new(),
        sni: None,
        alpn: None,
        early_data: false,
    };
    let mut at = 0;
    while at < extensions.len() {
        let kind = u16_at(extensions, at)?;
        let data = extensions.get(at + 4..at + 4 + u16_at(extensions, at + 2)?)?;
        at += 4 + data.len();
        match kind {
            0x0000 => {
                let name = data.get(5..5 + u16_at(data, 3)?)?;
                parsed.sni = Some(String::from_utf8_lossy(name).into_owned());
            }
            0x0010 => {
                let mut list = data.get(2..2 + u16_at(data, 0)?)?;
                let mut protocols = Vec::new();
                while let Some((&n, rest)) = list.split_first() {
                    protocols.push(rest.get(..usize::from(n))?.to_vec());
                    list = &rest[usize::from(n)..];
                }
                parsed.alpn = Some(protocols);
            }
            0x002a => parsed.early_data = true,
            0x002b => {
                let list = data.get(1..1 + usize::from(*data.first()?))?;
                parsed.versions = list
                    .chunks_exact(2)
                    .map(|v| u16::from_be_bytes([v[0], v[1]]))
                    .collect();
            }
            _ => {}
        }
    }
    Some(parsed)
}

/// A server that accepts and says nothing: the greeting times out. (I-01)
pub fn scripted_no_greeting_timeout<A: Adapter>(adapter: &A) {
    let limit = Duration::from_millis(400);
    let server = scripted(Script::new().stall_forever());
    let spec = scripted_spec(&server, Security::Plaintext)
        .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(limit));
    let started = Instant::now();
    let e = connect_err(adapter, &spec);
    let took = started.elapsed();
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "expected Timeout, got {e}"
    );
    assert!(took >= limit && took < limit + SLACK, "took {took:?}");
}

/// A server dripping one byte every 100 ms, faster than the read timeout: the whole-response limit (1 s)
/// still ends it. (I-02)
pub fn scripted_drip_feed_timeout<A: Adapter>(adapter: &A) {
    let limit = Duration::from_secs(1);
    let server = scripted(
        Script::new()
            .server_slowly(
                "+OK a very slow server that sends one byte at a time forever and ever\r\n",
                Duration::from_millis(100),
            )
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext)
        .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(limit));
    let started = Instant::now();
    let e = connect_err(adapter, &spec);
    let took = started.elapsed();
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "expected Timeout, got {e}"
    );
    assert!(took >= limit && took < limit + SLACK, "took {took:?}");
}

/// A server dripping the first TLS record one byte every 50 ms: the handshake is bounded by the whole-response
/// limit, not only by the per-read timeout. (I-02 and A-07 for TLS)
pub fn scripted_tls_handshake_drip_feed<A: Adapter>(adapter: &A) {
    let limit = Duration::from_millis(600);
    let mut record = b"\x16\x03\x03\x40\x00".to_vec();
    record.extend_from_slice(&[0; 60]);
    let pki = TestPki::generate();
    for security in [Security::Implicit, Security::StartTls] {
        let script = if security == Security::Implicit {
            Script::new()
        } else {
            // The pause keeps the first dripped byte out of the read that gets the `+OK`.
            Script::new()
                .server(GREETING)
                .client("STLS")
                .server("+OK Begin TLS\r\n")
                .stall(Duration::from_millis(50))
        };
        let server = scripted(
            script
                .server_slowly(&record, Duration::from_millis(50))
                .stall_forever(),
        );
        let spec = scripted_spec(&server, security)
            .ca_pem(pki.ca.cert_pem())
            .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(limit));
        let started = Instant::now();
        let e = connect_err(adapter, &spec);
        let took = started.elapsed();
        assert!(
            matches!(e.kind, ErrorKind::Timeout),
            "{security:?}: expected Timeout, got {e}"
        );
        assert!(
            took >= limit && took < limit + SLACK,
            "{security:?}: took {took:?}"
        );
    }
}

/// A response that never comes, mid-session: `Timeout`, and then the session is closed (a late answer must
/// never be taken for the next command's). (I-01 mid-session)
pub fn scripted_timeout_mid_session<A: Adapter>(adapter: &A) {
    let limit = Duration::from_millis(300);
    let server = scripted(logged_in_script().client("NOOP").stall_forever());
    let spec = scripted_spec(&server, Security::Plaintext)
        .allow_plaintext_credentials()
        .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(limit));
    let mut s = connect(adapter, &spec);
    scripted_login(&mut s);
    let started = Instant::now();
    let e = err(s.noop(), "NOOP never answered");
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "expected Timeout, got {e}"
    );
    assert!(started.elapsed() < limit + SLACK);
    assert_closed(
        &err(s.stat(), "STAT after a timeout"),
        "STAT after a timeout",
    );
    assert_sent(
        &server,
        format!("{LOGGED_IN_BYTES}NOOP\r\n").as_bytes(),
        "after a timeout",
    );
}

/// The connection closes in the middle of the greeting. (I-03)
pub fn scripted_close_mid_greeting<A: Adapter>(adapter: &A) {
    for partial in ["+OK POP3 ser", "+OK POP3 server ready\r"] {
        let server = scripted(Script::new().server(partial).close());
        let e = connect_err(adapter, &scripted_spec(&server, Security::Plaintext));
        assert_connection_lost(&e, &format!("greeting cut after {partial:?}"));
    }
    let server = scripted(Script::new().close());
    let e = connect_err(adapter, &scripted_spec(&server, Security::Plaintext));
    assert_connection_lost(&e, "closed before the greeting");
}

/// The connection closes in the middle of CAPA; the session is then closed. With `StartTlsIfAvailable` the
/// CAPA is part of connecting, and its failure (closed, or timed out) fails the connection rather than handing
/// out a dead session. (I-03, G-07)
pub fn scripted_close_mid_capa<A: Adapter>(adapter: &A) {
    let cut = || {
        scripted(
            Script::new()
                .server(GREETING)
                .client("CAPA")
                .server("+OK\r\nTOP\r\nSTLS\r\n")
                .close(),
        )
    };
    let server = cut();
    let mut s = connect(adapter, &scripted_spec(&server, Security::Plaintext));
    assert_connection_lost(&err(s.capa(), "CAPA cut"), "CAPA cut");
    assert_closed(&err(s.capa(), "CAPA after"), "CAPA after a lost connection");

    let server = cut();
    let e = connect_err(
        adapter,
        &scripted_spec(&server, Security::StartTlsIfAvailable),
    );
    assert_connection_lost(&e, "StartTlsIfAvailable, CAPA cut");

    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("CAPA")
            .server("+OK\r\nTOP\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTlsIfAvailable)
        .timeouts(Timeouts::all(TEST_TIMEOUT).with_response(Duration::from_millis(300)));
    let e = connect_err(adapter, &spec);
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "StartTlsIfAvailable, CAPA never finished: expected Timeout, got {e}"
    );
}

/// The connection closes after the first UIDL line. (I-03)
pub fn scripted_close_mid_uidl<A: Adapter>(adapter: &A) {
    let server = scripted(
        logged_in_script()
            .client("UIDL")
            .server("+OK UIDL listing follows\r\n1 uniqueid001\r\n")
            .close(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    assert_connection_lost(&err(s.uidl(), "UIDL cut"), "UIDL cut");
    assert_closed(&err(s.stat(), "STAT after"), "STAT after a lost connection");
}

/// The connection closes in the middle of a message, at several points: RETR, streamed RETR, TOP and
/// `retr_many` all fail; none returns the truncated message as a success. (I-03, G-07)
pub fn scripted_close_mid_retr<A: Adapter>(adapter: &A) {
    let tails = [
        "",
        "Subject: hi\r\n\r\npartial",
        "Subject: hi\r\n\r\nline\r\n",
        "Subject: hi\r\n\r\nline\r\n.",
        "Subject: hi\r\n\r\nline\r\n.\r",
    ];
    for tail in tails {
        for method in ["retr", "retr_to", "top", "retr_many"] {
            let command = if method == "top" { "TOP 1 5" } else { "RETR 1" };
            let server = scripted(
                logged_in_script()
                    .client(command)
                    .server(format!("+OK 120 octets\r\n{tail}"))
                    .close(),
            );
            let mut s = scripted_plain_session(adapter, &server);
            let what = format!("{method} cut after {tail:?}");
            let e = match method {
                "retr" => err(s.retr(1), &what),
                "retr_to" => err(s.retr_to(1, &mut Vec::new()), &what),
                "top" => err(s.top(1, 5), &what),
                _ => err(s.retr_many(&[1]), &what),
            };
            assert_connection_lost(&e, &what);
            assert_closed(&err(s.noop(), "NOOP after"), &what);
        }
    }
}

/// The server closes right after `+OK` to PASS: the next command fails with a typed error, then `Closed`.
/// (I-03)
pub fn scripted_close_after_pass<A: Adapter>(adapter: &A) {
    let server = scripted(logged_in_script().close());
    let mut s = scripted_plain_session(adapter, &server);
    let e = err(s.stat(), "STAT after the server closed");
    assert_connection_lost(&e, "STAT after the server closed");
    assert_closed(&err(s.noop(), "NOOP after"), "NOOP after a lost connection");
}

/// A TCP reset in the middle of a message. (I-03, A-07c for a live session)
pub fn scripted_reset_mid_retr<A: Adapter>(adapter: &A) {
    let server = scripted(
        logged_in_script()
            .client("RETR 1")
            .server("+OK\r\nSubject: hi\r\n\r\nline\r\n")
            .stall(Duration::from_millis(20))
            .reset(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let e = err(s.retr(1), "RETR reset");
    assert_connection_lost(&e, "RETR reset");
    assert_closed(&err(s.noop(), "NOOP after"), "NOOP after a reset");
}

/// Over TLS, a message cut by a TCP close without `close_notify` (truncation attack), or by a `close_notify`
/// before the terminator, is an error, not a short message.
pub fn scripted_tls_truncation_mid_retr<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    for notify in [false, true] {
        let script = Script::new()
            .start_tls(pki.server_config())
            .server(GREETING)
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\r\n")
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server("+OK\r\n")
            .client("RETR 1")
            .server("+OK\r\nSubject: hi\r\n\r\nline\r\n")
            .stall(Duration::from_millis(20));
        let script = if notify {
            script.close_notify().close()
        } else {
            script.close()
        };
        let server = scripted(script);
        let spec = scripted_spec(&server, Security::Implicit).ca_pem(pki.ca.cert_pem());
        let mut s = connect(adapter, &spec);
        ok(s.user(SCRIPT_USER), "USER");
        ok(s.pass(SCRIPT_PASSWORD), "PASS");
        let what = if notify {
            "close_notify mid-RETR"
        } else {
            "TCP close mid-RETR over TLS"
        };
        let e = err(s.retr(1), what);
        assert!(
            matches!(
                e.kind,
                ErrorKind::Io
                    | ErrorKind::Tls
                    | ErrorKind::Protocol(Some(pop3_proto::Error::UnexpectedEof) | None)
            ),
            "{what}: expected a lost connection, got {e}"
        );
        assert_closed(&err(s.noop(), "NOOP after"), what);
    }
}

/// A `-ERR` greeting: the code and text reach the caller (escaped in messages), nothing is sent, not even
/// STLS. (I-04, J-01)
pub fn scripted_err_greeting<A: Adapter>(adapter: &A) {
    for (greeting, code) in [
        ("-ERR Permission denied - do not try again\r\n", None),
        ("-ERR [SYS/TEMP] too busy, try later\r\n", Some("SYS/TEMP")),
        (
            "-ERR [SYS/PERM] \x1b[31;1;4mPOP3\x1b[0m go away <1.2@x>\r\n",
            Some("SYS/PERM"),
        ),
    ] {
        for security in [Security::Plaintext, Security::StartTls] {
            let server = scripted(Script::new().server(greeting).stall_forever());
            let e = connect_err(adapter, &scripted_spec(&server, security));
            assert_server(&e, code, &format!("{greeting:?} with {security:?}"));
            assert!(!e.text.is_empty(), "no text: {e}");
            assert!(
                !e.message.contains('\x1b'),
                "raw escape sequence in the error message: {:?}",
                e.message
            );
            assert_sent(&server, b"", greeting);
        }
    }
}

/// A `-ERR` in the middle of a pipelined batch fails only that message (the server answers only after all the
/// commands arrived, which proves they were pipelined). (H-07, pipelining)
pub fn scripted_err_in_pipeline<A: Adapter>(adapter: &A) {
    let server = scripted(
        logged_in_script()
            .client("RETR 1")
            .client("RETR 2")
            .client("RETR 3")
            .server(
                "+OK\r\nSubject: one\r\n\r\n..dot\r\n.\r\n-ERR no such message\r\n\
                 +OK\r\nSubject: three\r\n\r\nbody\r\n.\r\n",
            )
            .client("DELE 1")
            .client("DELE 2")
            .client("DELE 3")
            .server("+OK\r\n-ERR [IN-USE] locked\r\n+OK\r\n")
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let got = ok(s.retr_many(&[1, 2, 3]), "retr_many");
    assert_eq!(got.len(), 3);
    assert_eq!(
        show(&ok(got[0].clone(), "RETR 1")),
        show(b"Subject: one\r\n\r\n.dot\r\n")
    );
    assert_server(&err(got[1].clone(), "RETR 2"), None, "RETR 2");
    assert_eq!(
        show(&ok(got[2].clone(), "RETR 3")),
        show(b"Subject: three\r\n\r\nbody\r\n")
    );
    let outcomes = ok(s.dele_many(&[1, 2, 3]), "dele_many");
    assert_eq!(outcomes.len(), 3);
    ok(outcomes[0].clone(), "DELE 1");
    assert_server(
        &err(outcomes[1].clone(), "DELE 2"),
        Some("IN-USE"),
        "DELE 2",
    );
    ok(outcomes[2].clone(), "DELE 3");
    ok(s.noop(), "NOOP after the batches");
    assert_sent(
        &server,
        format!(
            "{LOGGED_IN_BYTES}RETR 1\r\nRETR 2\r\nRETR 3\r\nDELE 1\r\nDELE 2\r\nDELE 3\r\nNOOP\r\n"
        )
        .as_bytes(),
        "pipelined batches",
    );
}

/// After a protocol violation the session refuses every further command without sending it.
pub fn scripted_closed_after_protocol_error<A: Adapter>(adapter: &A) {
    let server = scripted(
        logged_in_script()
            .client("NOOP")
            .server("HELLO there\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let e = err(s.noop(), "NOOP answered with garbage");
    assert!(
        matches!(
            e.kind,
            ErrorKind::Protocol(Some(pop3_proto::Error::MalformedStatus { .. }) | None)
        ),
        "expected Protocol(MalformedStatus), got {e}"
    );
    assert_closed(&err(s.stat(), "STAT after"), "STAT after a protocol error");
    assert_closed(&err(s.retr(1), "RETR after"), "RETR after a protocol error");
    assert_closed(&err(s.quit(), "QUIT after"), "QUIT after a protocol error");
    assert_sent(
        &server,
        format!("{LOGGED_IN_BYTES}NOOP\r\n").as_bytes(),
        "after a protocol error",
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Fault injection over a complete recorded session
// ---------------------------------------------------------------------------------------------------------------

/// The UIDs of the fault-injection mailbox.
const FAULT_UIDS: [&str; 2] = ["fault-uid-0001", "fault-uid-0002"];

/// The second message of the fault-injection mailbox (never retrieved).
const FAULT_SECOND: &[u8] = b"Subject: two\r\n\r\nsecond\r\n";

/// The message RETR 1 returns in the fault-injection session: about 1.4 KiB (1422 octets), with lines that must be dot-stuffed
/// on the wire (a lone dot, two dots, a leading dot, three dots).
fn fault_message() -> Vec<u8> {
    let mut m = String::from(
        "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: fault injection\r\n\
         Message-ID: <fault-1@example.org>\r\n\r\n",
    );
    for n in 0..36 {
        match n % 6 {
            0 => m.push_str(".\r\n"),
            1 => m.push_str(&format!("..line {n} starts with two dots\r\n")),
            2 => m.push_str(&format!(".line {n} starts with one dot\r\n")),
            3 => m.push_str("...\r\n"),
            _ => m.push_str(&format!(
                "line {n} of the body, long enough that the whole message is about 1.5 KiB\r\n"
            )),
        }
    }
    m.push_str("last line\r\n");
    m.into_bytes()
}

/// `message` as a server sends it: every line starting with `.` gets another one.
fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

/// The server side of the fault-injection session as (client line the server waits for, server bytes) turns:
/// greeting, CAPA (USER, UIDL, TOP; no PIPELINING), USER/PASS, STAT, LIST, UIDL, RETR 1, DELE 1, QUIT.
fn fault_turns() -> Vec<(Option<String>, Vec<u8>)> {
    let message = fault_message();
    let (l1, l2) = (message.len(), FAULT_SECOND.len());
    let mut retr = format!("+OK {l1} octets\r\n").into_bytes();
    retr.extend_from_slice(&dot_stuffed(&message));
    retr.extend_from_slice(b".\r\n");
    let turn = |client: Option<&str>, server: &[u8]| (client.map(str::to_owned), server.to_vec());
    vec![
        turn(None, GREETING.as_bytes()),
        turn(
            Some("CAPA"),
            b"+OK Capability list follows\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n",
        ),
        turn(Some(&format!("USER {SCRIPT_USER}")), b"+OK\r\n"),
        turn(
            Some(&format!("PASS {SCRIPT_PASSWORD}")),
            b"+OK maildrop locked and ready\r\n",
        ),
        turn(Some("STAT"), format!("+OK 2 {}\r\n", l1 + l2).as_bytes()),
        turn(
            Some("LIST"),
            format!("+OK 2 messages\r\n1 {l1}\r\n2 {l2}\r\n.\r\n").as_bytes(),
        ),
        turn(
            Some("UIDL"),
            format!("+OK\r\n1 {}\r\n2 {}\r\n.\r\n", FAULT_UIDS[0], FAULT_UIDS[1]).as_bytes(),
        ),
        turn(Some("RETR 1"), &retr),
        turn(Some("DELE 1"), b"+OK message 1 deleted\r\n"),
        turn(Some("QUIT"), b"+OK dewey POP3 server signing off\r\n"),
    ]
}

/// The script that plays `turns` after `prefix` but stops after `budget` server bytes: it still waits for the
/// client line of the turn it is cut in, sends what is left of the budget, then ends with `end` (a close, a
/// stall). With the whole budget it plays every turn and then `end`.
fn fault_script(
    prefix: Script,
    turns: &[(Option<String>, Vec<u8>)],
    mut budget: usize,
    end: fn(Script) -> Script,
) -> Script {
    let mut script = prefix;
    for (client, server) in turns {
        if let Some(line) = client {
            script = script.client(line);
        }
        let n = budget.min(server.len());
        if n > 0 {
            script = script.server(&server[..n]);
        }
        budget -= n;
        if n < server.len() {
            break;
        }
    }
    end(script)
}

/// Where a faulted session stopped.
struct FaultStop<S> {
    /// The call that failed.
    call: &'static str,
    /// Its error.
    error: TestError,
    /// How long it took.
    took: Duration,
    /// The session, unless connecting failed.
    session: Option<S>,
}

/// Runs the fault-injection session against `spec`. Every call that succeeds must return exactly the expected
/// data (panics otherwise); the first failing call ends the run and is returned.
fn fault_session<A: Adapter>(
    adapter: &A,
    spec: &ConnectSpec,
    what: &str,
) -> Result<(), Box<FaultStop<A::Session>>> {
    let message = fault_message();
    let (l1, l2) = (message.len() as u64, FAULT_SECOND.len() as u64);
    let started = Instant::now();
    let mut s = match adapter.connect(spec) {
        Ok(s) => s,
        Err(error) => {
            return Err(Box::new(FaultStop {
                call: "connect",
                error,
                took: started.elapsed(),
                session: None,
            }));
        }
    };
    assert_eq!(
        show(&s.greeting()),
        show(GREETING["+OK ".len()..].trim_end().as_bytes()),
        "{what}: greeting"
    );
    assert_eq!(
        s.is_encrypted(),
        spec.security == Security::Implicit,
        "{what}: encryption"
    );
    macro_rules! call {
        ($name:expr, $result:expr) => {{
            let started = Instant::now();
            match $result {
                Ok(value) => value,
                Err(error) => {
                    return Err(Box::new(FaultStop {
                        call: $name,
                        error,
                        took: started.elapsed(),
                        session: Some(s),
                    }));
                }
            }
        }};
    }
    let caps = call!("CAPA", s.capa());
    assert!(
        caps.user() && caps.uidl() && caps.top() && !caps.pipelining() && !caps.stls(),
        "{what}: CAPA returned {caps:?}"
    );
    call!("USER", s.user(SCRIPT_USER));
    call!("PASS", s.pass(SCRIPT_PASSWORD));
    let stat = call!("STAT", s.stat());
    assert_eq!(
        stat,
        Stat {
            count: 2,
            octets: l1 + l2
        },
        "{what}: STAT"
    );
    let list = call!("LIST", s.list());
    assert_eq!(
        list,
        [Scan { msg: 1, octets: l1 }, Scan { msg: 2, octets: l2 }],
        "{what}: LIST"
    );
    let uidl = call!("UIDL", s.uidl());
    let expected: Vec<UniqueId> = (1..)
        .zip(FAULT_UIDS)
        .map(|(msg, uid)| UniqueId {
            msg,
            uid: uid.to_owned(),
        })
        .collect();
    assert_eq!(uidl, expected, "{what}: UIDL");
    let got = call!("RETR 1", s.retr(1));
    assert_same_bytes(&got, &message, &format!("{what}: RETR 1"));
    call!("DELE 1", s.dele(1));
    call!("QUIT", s.quit());
    Ok(())
}

/// How many faulted sessions run at once. A stalled run spends nearly all its time waiting for its time limit, so
/// running every offset one after the other would take minutes.
const FAULT_WORKERS: usize = 16;

/// Calls `run` once for every offset in `0..=total`, [`FAULT_WORKERS`] at a time. After a panic in one run, the
/// other workers stop taking new offsets, and the panic is propagated.
fn for_every_offset(total: usize, run: impl Fn(usize) + Sync) {
    struct StopOnPanic<'a>(&'a AtomicBool);
    impl Drop for StopOnPanic<'_> {
        fn drop(&mut self) {
            if thread::panicking() {
                self.0.store(true, Ordering::Relaxed);
            }
        }
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    thread::scope(|scope| {
        for _ in 0..FAULT_WORKERS {
            scope.spawn(|| {
                let _stop = StopOnPanic(&failed);
                while !failed.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k > total {
                        break;
                    }
                    run(k);
                }
            });
        }
    });
}

/// How a fault ends the server's side of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// It closes the connection (over TLS: the TCP connection, without `close_notify`).
    Close,
    /// It stops writing and keeps the connection open.
    Stall,
}

/// Runs the fault-injection session once for every byte offset `k` from 0 to the transcript's length, over plain
/// TCP and over implicit TLS, against a server that plays the first `k` bytes of the transcript (through TLS when
/// it is on) and then commits `fault`. See [`fault_at_offset`] for what each run must show.
fn fault_at_every_offset<A: Adapter>(
    adapter: &A,
    fault: Fault,
    limit: Duration,
    expect: fn(&ErrorKind) -> bool,
) {
    let turns = fault_turns();
    let total: usize = turns.iter().map(|(_, server)| server.len()).sum();
    let pki = TestPki::generate();
    for security in [Security::Plaintext, Security::Implicit] {
        for_every_offset(total, |k| {
            let what = format!("{security:?}, {fault:?} after {k} of {total} server bytes");
            let run = FaultRun {
                security,
                fault,
                turns: &turns,
                k,
                pki: &pki,
                expect,
            };
            // A time limit that ran out before the server even reached the fault is the machine being slow (the
            // runs share it with each other and with the rest of the suite): try that offset again with more time.
            let mut too_slow = String::new();
            for scale in [1, 4, 16] {
                match fault_at_offset(adapter, &run, limit * scale, &what) {
                    Ok(()) => return,
                    Err(server_saw) => too_slow = server_saw,
                }
            }
            panic!(
                "{what}: timed out before the server reached the fault, even with 16 times the limit: {too_slow}"
            );
        });
    }
}

/// One faulted run of [`fault_at_every_offset`].
struct FaultRun<'a> {
    security: Security,
    fault: Fault,
    turns: &'a [(Option<String>, Vec<u8>)],
    /// Server bytes before the fault.
    k: usize,
    pki: &'a TestPki,
    /// The error kinds a cut session may end with.
    expect: fn(&ErrorKind) -> bool,
}

/// Runs `run` with `limit` for each read and response. Only the uncut transcript may succeed, with every answer
/// exactly as sent. Otherwise every call before the first failing one returned exactly the expected data (no
/// truncated answer ever passes as a success), the failing call returned a typed error that `run.expect` allows
/// (never a `-ERR`, which a cut cannot produce) within `limit` plus [`SLACK`] (for a stall, no earlier than
/// `limit`), and the next call is refused as `Closed`. The server checks the client's lines as well. Panics on
/// any of that; returns what the server saw when the client timed out before the server reached the fault.
fn fault_at_offset<A: Adapter>(
    adapter: &A,
    run: &FaultRun<'_>,
    limit: Duration,
    what: &str,
) -> Result<(), String> {
    let total: usize = run.turns.iter().map(|(_, server)| server.len()).sum();
    let prefix = if run.security == Security::Implicit {
        Script::new().start_tls(run.pki.server_config())
    } else {
        Script::new()
    };
    let end = match run.fault {
        Fault::Close => Script::close,
        Fault::Stall => Script::stall_forever,
    };
    let server = scripted(fault_script(prefix, run.turns, run.k, end));
    let spec = scripted_spec(&server, run.security)
        .ca_pem(run.pki.ca.cert_pem())
        .allow_plaintext_credentials()
        .timeouts(Timeouts {
            connect: Some(TEST_TIMEOUT),
            read: Some(limit),
            response: Some(limit),
        });
    let timed_out = match fault_session(adapter, &spec, what) {
        Ok(()) => {
            assert_eq!(run.k, total, "{what}: the whole session succeeded");
            false
        }
        Err(stop) => {
            let stop = *stop;
            let (e, call) = (&stop.error, stop.call);
            assert!(run.k < total, "{what}: {call} failed: {e}");
            assert!((run.expect)(&e.kind), "{what}: {call} returned {e}");
            assert!(
                stop.took < limit + SLACK,
                "{what}: {call} took {:?}",
                stop.took
            );
            if run.fault == Fault::Stall {
                assert!(
                    stop.took + Duration::from_millis(10) >= limit,
                    "{what}: {call} gave up early, after {:?}",
                    stop.took
                );
            }
            if let Some(mut s) = stop.session {
                assert_closed(
                    &err(s.noop(), format!("{what}: NOOP after {call}")),
                    &format!("{what}: NOOP after {call} failed"),
                );
            }
            e.kind == ErrorKind::Timeout
        }
    };
    match server.wait_done(TEST_TIMEOUT) {
        Ok(()) => Ok(()),
        Err(server_saw) if timed_out => Err(server_saw),
        Err(server_saw) => panic!("{what}: the server saw {server_saw}"),
    }
}

/// Fault injection over a complete recorded session (greeting, CAPA, USER/PASS, STAT, LIST, UIDL, RETR of a
/// 1.4 KiB dot-stuffed message, DELE, QUIT), plain and TLS: for EVERY byte offset the server closes the
/// connection there. Every cut session ends in Io, Protocol, Closed or Timeout (the 2 s limit is only a safety
/// net: the server closes, so every run ends at once). (I-03 at every offset)
pub fn fault_close_at_every_offset<A: Adapter>(adapter: &A) {
    fault_at_every_offset(adapter, Fault::Close, TEST_TIMEOUT, |kind| {
        matches!(
            kind,
            ErrorKind::Io | ErrorKind::Protocol(_) | ErrorKind::Closed | ErrorKind::Timeout
        )
    });
}

/// The session of [`fault_close_at_every_offset`], plain and TLS, against a server that stalls (stops writing,
/// keeps the connection open) at EVERY byte offset: the call in progress ends in `Timeout` no earlier than the
/// 150 ms response (and read) limit and within a second of it, never in a hang.
pub fn fault_stall_at_every_offset<A: Adapter>(adapter: &A) {
    fault_at_every_offset(adapter, Fault::Stall, Duration::from_millis(150), |kind| {
        matches!(kind, ErrorKind::Timeout)
    });
}

/// A batch is pipelined whenever the server allows it, without the caller asking CAPA first: the client asks it
/// once, before its first batch. A server that refuses CAPA is not asked again, and gets one command at a time.
pub fn scripted_batches_learn_pipelining<A: Adapter>(adapter: &A) {
    let login = || {
        Script::new()
            .server(GREETING)
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\r\n")
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server("+OK maildrop locked and ready\r\n")
    };
    let answers = "+OK\r\none\r\n.\r\n+OK\r\ntwo\r\n.\r\n";
    let log_in = |server: &ScriptedServer| {
        let spec = scripted_spec(server, Security::Plaintext).allow_plaintext_credentials();
        let mut session = connect(adapter, &spec);
        ok(session.user(SCRIPT_USER), "USER");
        ok(session.pass(SCRIPT_PASSWORD), "PASS");
        session
    };
    let bodies = |got: Vec<TestResult<Vec<u8>>>| -> Vec<Vec<u8>> {
        got.into_iter().map(|part| ok(part, "a message")).collect()
    };

    // The server reads both RETRs before it answers either: a client that waited for the first answer would
    // stall here until its time limit.
    let server = scripted(
        login()
            .client("CAPA")
            .server("+OK\r\nUSER\r\nPIPELINING\r\n.\r\n")
            .client("RETR 1")
            .client("RETR 2")
            .server(answers)
            .client("DELE 1")
            .client("DELE 2")
            .server("+OK\r\n+OK\r\n")
            .stall_forever(),
    );
    let mut s = log_in(&server);
    let got = bodies(ok(s.retr_many(&[1, 2]), "retr_many without CAPA first"));
    assert_eq!(got, [b"one\r\n".to_vec(), b"two\r\n".to_vec()]);
    for outcome in ok(s.dele_many(&[1, 2]), "dele_many, pipelined, CAPA known") {
        ok(outcome, "DELE");
    }
    assert_sent(
        &server,
        b"USER u\r\nPASS s3cret-pw\r\nCAPA\r\nRETR 1\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\n",
        "CAPA once, then each batch in one go",
    );

    // No CAPA: one command at a time, and CAPA is not asked again for the next batch.
    let server = scripted(
        login()
            .client("CAPA")
            .server("-ERR unknown command\r\n")
            .client("RETR 1")
            .server("+OK\r\none\r\n.\r\n")
            .client("RETR 2")
            .server("+OK\r\ntwo\r\n.\r\n")
            .client("RETR 2")
            .server("+OK\r\ntwo\r\n.\r\n")
            .stall_forever(),
    );
    let mut s = log_in(&server);
    let got = bodies(ok(s.retr_many(&[1, 2]), "retr_many, server without CAPA"));
    assert_eq!(got, [b"one\r\n".to_vec(), b"two\r\n".to_vec()]);
    let again = bodies(ok(s.retr_many(&[2]), "a second batch"));
    assert_eq!(again, [b"two\r\n".to_vec()]);
    assert_sent(
        &server,
        b"USER u\r\nPASS s3cret-pw\r\nCAPA\r\nRETR 1\r\nRETR 2\r\nRETR 2\r\n",
        "CAPA asked once, batches unpipelined",
    );
}

/// What a server says after its handshake: the greeting on POP3S, the answer to the second CAPA after STLS.
fn after_handshake(script: Script, security: Security) -> Script {
    if security == Security::Implicit {
        script.server(GREETING)
    } else {
        script.client("CAPA").server(CAPA_PLAIN)
    }
}

/// A server whose ServerHello selects ALPN `imap` although the client offered only `pop3` (a TLS 1.2 ServerHello,
/// rewritten in flight: rustls cannot be configured to do it). The client aborts the handshake, on POP3S and after
/// STLS, before any command; the same server without the rewrite is accepted. (E-02)
pub fn scripted_alpn_unoffered_protocol<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let selecting_pop3 = || {
        pki.server
            .tls12_server_config_with_alpn(vec![b"pop3".to_vec()])
    };
    for security in [Security::Implicit, Security::StartTls] {
        let before_tls = || {
            if security == Security::Implicit {
                Script::new()
            } else {
                Script::new()
                    .server(GREETING)
                    .client("STLS")
                    .server("+OK Begin TLS\r\n")
            }
        };
        let plain: &[u8] = if security == Security::Implicit {
            b""
        } else {
            b"STLS\r\n"
        };

        let honest = scripted(
            after_handshake(before_tls().start_tls(selecting_pop3()), security).stall_forever(),
        );
        let spec = scripted_spec(&honest, security).ca_pem(pki.ca.cert_pem());
        let s = connect(adapter, &spec);
        assert_eq!(s.tls_alpn().as_deref(), Some(&b"pop3"[..]), "{security:?}");

        let server = scripted(
            after_handshake(
                before_tls().start_tls_selecting_alpn(selecting_pop3(), "imap"),
                security,
            )
            .stall_forever(),
        );
        let spec = scripted_spec(&server, security).ca_pem(pki.ca.cert_pem());
        let e = connect_err(adapter, &spec);
        assert_tls(&e, &format!("{security:?}: ServerHello selecting imap"));
        assert!(
            e.message.contains("SelectedUnofferedApplicationProtocol"),
            "{security:?}: the error should name the unoffered protocol: {e}"
        );
        assert_sent(&server, plain, "no command after a refused handshake");
        assert_eq!(
            server.connections(),
            1,
            "{security:?}: the client reconnected"
        );
    }
}

/// Certificates a trusted CA issued but that are still unacceptable: not valid yet, an extended key usage without
/// `serverAuth`, a wildcard two labels above the host (`*.example.org` for `a.b.example.org`), a NUL inside the
/// subjectAltName (`localhost\0.attacker.example` for `localhost`). Each fails with a TLS error naming the
/// reason, on POP3S and after STLS, with no command sent and no second connection; a one-label wildcard match is
/// accepted, so the refusal is about the depth. (E-05)
pub fn scripted_certificate_checks_beyond_trust<A: Adapter>(adapter: &A) {
    let ca = TestCa::new();
    let bad: [(&str, &str, TestCert, &str); 4] = [
        (
            "not yet valid",
            "localhost",
            ca.not_yet_valid_leaf(),
            "not valid yet",
        ),
        (
            "without serverAuth",
            "localhost",
            ca.client_auth_only_leaf(),
            "extended key usage",
        ),
        (
            "wildcard two labels deep",
            "a.b.example.org",
            ca.issue(&["*.example.org"]),
            "not valid for name",
        ),
        (
            "NUL in the name",
            "localhost",
            ca.issue(&["localhost\0.attacker.example"]),
            "not valid for name",
        ),
    ];
    for (what, host, cert, reason) in &bad {
        for security in [Security::Implicit, Security::StartTls] {
            let (script, plain): (Script, &[u8]) = if security == Security::Implicit {
                (Script::new(), b"")
            } else {
                let stls = Script::new()
                    .server(GREETING)
                    .client("STLS")
                    .server("+OK Begin TLS\r\n");
                (stls, b"STLS\r\n")
            };
            let server = scripted(
                after_handshake(script.start_tls(cert.server_config()), security).stall_forever(),
            );
            let spec = scripted_spec(&server, security)
                .host(*host)
                .connect_to(server.addr())
                .ca_pem(ca.cert_pem());
            let e = connect_err(adapter, &spec);
            assert_tls(&e, &format!("{security:?}, a certificate {what}"));
            assert!(
                e.message.contains(reason),
                "{security:?}, a certificate {what}: the error should say {reason:?}: {e}"
            );
            assert!(
                !e.message.chars().any(char::is_control),
                "{security:?}, a certificate {what}: the certificate's bytes reach the message unescaped: {:?}",
                e.message
            );
            assert_sent(&server, plain, what);
            assert_eq!(server.connections(), 1, "{what}: the client reconnected");
        }
    }

    let server = scripted(
        Script::new()
            .start_tls(ca.issue(&["*.example.org"]).server_config())
            .server(GREETING)
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Implicit)
        .host("b.example.org")
        .connect_to(server.addr())
        .ca_pem(ca.cert_pem());
    let s = connect(adapter, &spec);
    assert!(s.is_encrypted(), "a one-label wildcard match");
}

/// A hand-written TLS 1.1 ServerHello (what a server limited to TLS 1.1 answers to any ClientHello): version
/// 3.2, a fixed random, no session id, `TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA`, no compression, no extensions.
fn tls11_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x5a; 32]);
    body.extend_from_slice(&[0x00, 0xc0, 0x13, 0x00]);
    let mut handshake = vec![0x02, 0x00, 0x00, u8::try_from(body.len()).expect("short")];
    handshake.extend_from_slice(&body);
    let mut record = vec![
        0x16,
        0x03,
        0x02,
        0x00,
        u8::try_from(handshake.len()).expect("short"),
    ];
    record.extend_from_slice(&handshake);
    record
}

/// TLS 1.2 is the floor: the ClientHello offers only TLS 1.2 and 1.3 and no early data, a server that answers
/// with TLS 1.1 is refused with an error saying so, and the client does not try again at a lower version (or at
/// all): the server sees one connection. On POP3S and after STLS. (E-09, A-12)
pub fn scripted_tls_version_floor<A: Adapter>(adapter: &A) {
    for security in [Security::Implicit, Security::StartTls] {
        let (script, plain): (Script, &[u8]) = if security == Security::Implicit {
            (Script::new(), b"")
        } else {
            let stls = Script::new()
                .server(GREETING)
                .client("STLS")
                .server("+OK Begin TLS\r\n");
            (stls, b"STLS\r\n")
        };
        // The ClientHello arrives first (recorded as it is: the server does no TLS), then the old ServerHello.
        let server = scripted(
            script
                .stall(Duration::from_millis(100))
                .server(tls11_server_hello())
                .stall_forever(),
        );
        let spec = scripted_spec(&server, security);
        let e = connect_err(adapter, &spec);
        assert_tls(&e, &format!("{security:?}: a TLS 1.1 server"));
        assert!(
            e.message.contains("ServerDoesNotSupportTls12Or13"),
            "{security:?}: the error should say the version is too old: {e}"
        );
        // Give a retrying client the time to come back.
        thread::sleep(Duration::from_millis(300));
        assert_eq!(server.connections(), 1, "{security:?}: the client retried");
        assert_sent_then_handshake(&server, plain, "TLS 1.1 refused");
        let sent = server.client_bytes();
        let hello = parse_client_hello(&sent[plain.len()..]).expect("a ClientHello");
        assert_eq!(hello.legacy_version, 0x0303, "{security:?}: legacy version");
        let mut versions = hello.versions.clone();
        versions.sort_unstable();
        assert_eq!(versions, [0x0303, 0x0304], "{security:?}: offered versions");
        assert!(!hello.early_data, "{security:?}: early data offered");
    }
}

/// A server that stops reading (its receive buffer shrunk to 4 KiB) while the client pipelines a batch of
/// 100,000 DELE or RETR commands, and never answers: each batch ends in a timeout within the configured limits,
/// no hang, and the session is closed. The client never has more than its in-flight window unanswered, so the
/// server is not made to buffer the whole batch. A write that cannot fit in the buffers, a single SASL line of
/// 8 MiB (an XOAUTH2 token that size), ends in a timeout too, long before the server would read again. (I-06)
pub fn scripted_stalled_reader_timeout<A: Adapter>(adapter: &A) {
    let limits = Timeouts::all(Duration::from_millis(500)).with_response(Duration::from_secs(1));
    // The write limit applies to each write's progress (a driver may make several writes of one line), and the
    // 8 MiB are encoded first: the bound is that the call ends while the server still does not read.
    let deaf = Duration::from_secs(10);
    let server = scripted(
        Script::new()
            .server(GREETING)
            .client("CAPA")
            .server("+OK\r\nUSER\r\nSASL XOAUTH2\r\n.\r\n")
            .client("AUTH XOAUTH2")
            .server("+ \r\n")
            .stop_reading(deaf)
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::Plaintext)
        .allow_plaintext_credentials()
        .timeouts(limits);
    let mut s = connect(adapter, &spec);
    ok(s.capa(), "CAPA");
    let token = "t".repeat(8 << 20);
    let started = Instant::now();
    let e = err(
        s.auth(Mechanism::xoauth2(SCRIPT_USER, token)),
        "an 8 MiB line to a server that stopped reading",
    );
    let took = started.elapsed();
    assert!(
        matches!(e.kind, ErrorKind::Timeout),
        "a write that cannot complete: expected Timeout, got {e}"
    );
    assert!(
        took < deaf - SLACK,
        "the write ended after {took:?}, when the server read again, not by the client's limit"
    );
    assert_closed(
        &err(s.noop(), "NOOP after the timeout"),
        "after a write timeout",
    );
    drop((s, server));

    let pause = Duration::from_millis(2500);
    let msgs: Vec<u64> = (1..=100_000).collect();
    for batch in ["DELE", "RETR"] {
        let server = scripted(logged_in_script().stop_reading(pause).stall_forever());
        let spec = scripted_spec(&server, Security::Plaintext)
            .allow_plaintext_credentials()
            .timeouts(limits);
        let mut s = connect(adapter, &spec);
        scripted_login(&mut s);
        let started = Instant::now();
        let e = if batch == "DELE" {
            err(
                s.dele_many(&msgs),
                "dele_many to a server that stopped reading",
            )
        } else {
            err(
                s.retr_many(&msgs),
                "retr_many to a server that stopped reading",
            )
        };
        let took = started.elapsed();
        assert!(
            matches!(e.kind, ErrorKind::Timeout),
            "{batch}: expected Timeout, got {e}"
        );
        assert!(
            took <= Duration::from_secs(1) + SLACK,
            "{batch}: the timeout took {took:?}"
        );
        assert_closed(&err(s.noop(), "NOOP after the timeout"), batch);
        drop(s);

        // Once the server reads again, it finds at most the client's window of commands (16 KiB), not 1.3 MB.
        thread::sleep(pause.saturating_sub(started.elapsed()));
        let sent = settled_client_bytes(&server);
        let batch_bytes = sent.len() - LOGGED_IN_BYTES.len();
        assert!(
            sent.starts_with(LOGGED_IN_BYTES.as_bytes())
                && sent[LOGGED_IN_BYTES.len()..].starts_with(format!("{batch} 1\r\n").as_bytes()),
            "{batch}: {}",
            show(&sent[..sent.len().min(200)])
        );
        assert!(
            batch_bytes <= 17 * 1024,
            "{batch}: {batch_bytes} octets of commands went to a server that answered none"
        );
    }
}

#[track_caller]
fn assert_invalid(
    error: &TestError,
    what: &str,
    expected: impl Fn(&pop3_proto::InvalidReply) -> bool,
) {
    assert!(
        matches!(&error.kind, ErrorKind::Invalid(reply) if expected(reply)),
        "{what}: expected that invalid answer, got {error}"
    );
}

/// Answers are checked against their questions, and a wrong answer that is still well framed fails only its
/// command: `LIST 1` answered for message 99, a STAT of `+OK seven 1800`, a listing that goes back, repeats or
/// passes the count STAT gave, a malformed entry — each is a typed error, and the next command is answered.
pub fn scripted_wrong_answers_fail_only_their_command<A: Adapter>(adapter: &A) {
    use pop3_proto::InvalidReply;
    let server = scripted(
        logged_in_script()
            .client("LIST 1")
            .server("+OK 99 1024\r\n")
            .client("UIDL 1")
            .server("+OK 99 abc\r\n")
            .client("STAT")
            .server("+OK seven 1800\r\n")
            .client("STAT")
            .server("+OK 7\r\n")
            .client("STAT")
            .server("+OK 2 320\r\n")
            .client("LIST")
            .server("+OK\r\n2 200\r\n1 120\r\n.\r\n")
            .client("UIDL")
            .server("+OK\r\n1 a\r\n1 b\r\n.\r\n")
            .client("LIST")
            .server("+OK\r\n1 120\r\n2 200\r\n3 50\r\n.\r\n")
            .client("LIST")
            .server("+OK\r\n1 120\r\nnot an entry\r\n.\r\n")
            .client("LIST")
            .client("UIDL")
            .server("+OK\r\n1 120\r\n2 200\r\n.\r\n+OK\r\n1 a b\r\n2 c\r\n.\r\n")
            .client("LIST 2")
            .server("+OK 2 200\r\n")
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let mut s = scripted_plain_session(adapter, &server);
    let e = err(s.list_one(1), "LIST 1 answered for 99");
    assert_invalid(&e, "LIST 1", |r| {
        matches!(
            r,
            InvalidReply::WrongMessage {
                asked: 1,
                answered: 99
            }
        )
    });
    let e = err(s.uidl_one(1), "UIDL 1 answered for 99");
    assert_invalid(&e, "UIDL 1", |r| {
        matches!(
            r,
            InvalidReply::WrongMessage {
                asked: 1,
                answered: 99
            }
        )
    });
    for what in ["+OK seven 1800", "+OK 7"] {
        let e = err(s.stat(), what);
        assert_invalid(&e, what, |r| {
            matches!(r, InvalidReply::MalformedListing { .. })
        });
    }
    assert_eq!(ok(s.stat(), "STAT").count, 2);
    let e = err(s.list(), "a LIST that goes back");
    assert_invalid(&e, "LIST 2, 1", |r| {
        matches!(
            r,
            InvalidReply::OutOfOrder {
                previous: 2,
                msg: 1
            }
        )
    });
    let e = err(s.uidl(), "a UIDL that repeats a number");
    assert_invalid(&e, "UIDL 1, 1", |r| {
        matches!(
            r,
            InvalidReply::OutOfOrder {
                previous: 1,
                msg: 1
            }
        )
    });
    let e = err(s.list(), "a LIST beyond the count STAT gave");
    assert_invalid(&e, "LIST 3 of 2", |r| {
        matches!(r, InvalidReply::BeyondCount { msg: 3, .. })
    });
    let e = err(s.list(), "a LIST with a malformed entry");
    assert_invalid(&e, "LIST entry", |r| {
        matches!(r, InvalidReply::MalformedListing { .. })
    });
    let e = err(s.listing(), "LIST and UIDL, the UIDL malformed");
    assert_invalid(&e, "UIDL entry", |r| {
        matches!(r, InvalidReply::MalformedListing { .. })
    });
    let scan = ok(s.list_one(2), "LIST 2 after all that");
    assert_eq!((scan.msg, scan.octets), (2, 200));
    ok(s.noop(), "NOOP: the session went on");
    assert_sent(
        &server,
        format!(
            "{LOGGED_IN_BYTES}LIST 1\r\nUIDL 1\r\nSTAT\r\nSTAT\r\nSTAT\r\nLIST\r\nUIDL\r\nLIST\r\nLIST\r\n\
             LIST\r\nUIDL\r\nLIST 2\r\nNOOP\r\n"
        )
        .as_bytes(),
        "every command answered in turn",
    );
}

/// `{:?}` of a session never shows a credential: not a password queued behind an unanswered USER, not an APOP
/// digest, not a bearer token (sent with AUTH, or held back until the server's `+`).
pub fn scripted_secrets_not_in_debug<A: Adapter>(adapter: &A) {
    const TOKEN: &str = "ya29.secret-bearer-token";
    let long_token = format!("{TOKEN}-{}", "x".repeat(300));
    let digest = {
        use md5::{Digest, Md5};
        let mut md5 = Md5::new();
        md5.update(b"<1896.697170952@dbc.mtview.ca.us>");
        md5.update(SCRIPT_PASSWORD.as_bytes());
        md5.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    // CAPA without PIPELINING, so what follows an unanswered command stays queued in the client.
    let capa = "+OK\r\nUSER\r\nSASL XOAUTH2\r\n.\r\n";
    let limit = Duration::from_millis(300);
    type Call<'a, S> = &'a dyn Fn(&mut S) -> TestResult<()>;
    let cases: [(&str, Call<'_, A::Session>); 4] = [
        ("login with PASS queued", &|s| {
            s.login(SCRIPT_USER, SCRIPT_PASSWORD).map(drop)
        }),
        ("APOP", &|s| s.apop(SCRIPT_USER, SCRIPT_PASSWORD)),
        ("AUTH XOAUTH2", &|s| {
            s.auth(Mechanism::xoauth2(SCRIPT_USER, TOKEN))
        }),
        ("AUTH XOAUTH2, response held back", &|s| {
            s.auth(Mechanism::xoauth2(SCRIPT_USER, long_token.as_str()))
        }),
    ];
    for (what, call) in cases {
        let server = scripted(
            Script::new()
                .server(GREETING)
                .client("CAPA")
                .server(capa)
                .stall_forever(),
        );
        let spec = scripted_spec(&server, Security::Plaintext)
            .allow_plaintext_credentials()
            .timeouts(Timeouts {
                connect: Some(TEST_TIMEOUT),
                read: Some(limit),
                response: Some(limit),
            });
        let mut s = connect(adapter, &spec);
        ok(s.capa(), "CAPA");
        let e = err(call(&mut s), what);
        assert!(matches!(e.kind, ErrorKind::Timeout), "{what}: {e}");
        let shown = s.debug_text();
        for secret in [SCRIPT_PASSWORD, digest.as_str(), TOKEN] {
            assert!(
                !shown.contains(secret),
                "{what}: {{:?}} shows a secret: {shown}"
            );
        }
        assert!(
            shown.contains("Conversation"),
            "{what}: the Debug output is the session's: {shown}"
        );
    }
}

/// Nothing learnt from cleartext frames encrypted bytes: a greeting whose CR was stripped (LF-only framing in
/// clear) does not make the session after STLS take a bare-LF `.` line inside a message for its end.
pub fn scripted_framing_after_stls<A: Adapter>(adapter: &A) {
    let pki = TestPki::generate();
    let message = "Subject: x\r\n\r\nbefore\n.\nafter\r\n";
    let server = scripted(
        Script::new()
            .server("+OK ready, CR stripped\n")
            .client("STLS")
            .server("+OK go ahead\n")
            .start_tls(pki.server_config())
            .client("CAPA")
            .server("+OK\r\nUSER\r\n.\r\n")
            .client(format!("USER {SCRIPT_USER}"))
            .server("+OK\r\n")
            .client(format!("PASS {SCRIPT_PASSWORD}"))
            .server("+OK\r\n")
            .client("RETR 1")
            .server(format!("+OK\r\n{message}.\r\n"))
            .client("NOOP")
            .server("+OK\r\n")
            .stall_forever(),
    );
    let spec = scripted_spec(&server, Security::StartTls).ca_pem(pki.ca.cert_pem());
    let mut s = connect(adapter, &spec);
    assert!(s.is_encrypted());
    ok(s.user(SCRIPT_USER), "USER");
    ok(s.pass(SCRIPT_PASSWORD), "PASS");
    assert_eq!(
        show(&ok(s.retr(1), "RETR with a bare-LF dot line")),
        show(message.as_bytes()),
        "the message ends at its CRLF terminator, not at the bare-LF dot line"
    );
    ok(s.noop(), "NOOP: the next answer is read as its own");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every public scenario function is in `all_scenarios!`, and nothing else is.
    #[test]
    fn all_scenarios_lists_every_scenario() {
        let listed: &[&str] = crate::all_scenarios!(@names);
        let source = include_str!("scenarios.rs");
        let defined: Vec<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("pub fn "))
            .filter_map(|rest| rest.split_once("<A: Adapter>").map(|(name, _)| name))
            .collect();
        let mut listed_sorted = listed.to_vec();
        listed_sorted.sort_unstable();
        let mut defined_sorted = defined.clone();
        defined_sorted.sort_unstable();
        assert_eq!(listed_sorted, defined_sorted);
        assert!(listed.len() >= 50, "{}", listed.len());
    }

    #[test]
    fn top_of_cuts_after_the_header_and_n_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\nthree\r\n";
        assert_eq!(top_of(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top_of(m, 2), b"A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\n");
        assert_eq!(top_of(m, 9), m);
        assert_eq!(top_of(b"A: 1\r\n\r\nlast", 5), b"A: 1\r\n\r\nlast\r\n");
    }

    #[test]
    fn counting_sink_and_collector() {
        let mut sink = CountingSink::new();
        sink.write_all(b"hello ").unwrap();
        sink.write_all(b"world").unwrap();
        assert_eq!(sink, CountingSink::of(b"hello world"));
        assert_ne!(sink, CountingSink::of(b"hello worle"));

        let mut c = RetrManyCollector::new();
        c.data(b"a");
        c.data(b"b");
        c.end();
        c.refused(TestError::new(ErrorKind::Server { code: None }, "no"));
        c.end();
        let got = c.finish();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap(), b"ab");
        assert!(got[1].is_err());
        assert!(got[2].as_ref().unwrap().is_empty());
    }

    #[test]
    fn numbered_messages_are_distinct_crlf_messages() {
        let m = numbered_messages(30);
        assert_eq!(m.len(), 30);
        assert!(m.iter().any(|m| contains(m, b"\r\n.\r\n")));
        let mut sorted = m.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 30);
    }
}
