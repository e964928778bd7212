//! Session settings: limits, tolerances and policy switches.

/// How the server ends its lines.
///
/// RFC 1939 requires CRLF everywhere, and only `CRLF . CRLF` ends a multi-line response. A few servers send bare LF
/// throughout; in [`LineEndings::Lf`] mode a line that is a lone `.` ended by LF also ends a response. That mode
/// lets a server that does not dot-stuff a bare-LF `.` line truncate a message, which is why it is never chosen for
/// a server that spoke CRLF in its greeting.
///
/// Status lines accept a bare LF ending in every mode. Multi-line listings (CAPA, LIST, UIDL, LANG) accept bare-LF
/// lines too, but in CRLF mode only a CRLF-ended `.` line ends them, as for bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LineEndings {
    /// Use [`LineEndings::Lf`] if the greeting line ends in a bare LF, else [`LineEndings::Crlf`].
    #[default]
    Detect,
    /// Strict RFC 1939 framing: bodies end only at `\r\n.\r\n`.
    Crlf,
    /// LF-only server: bodies also end at `\n.\n`, and a bare LF starts a new line for dot-unstuffing.
    Lf,
}

/// Whether commands may be sent before the previous response has arrived (RFC 2449 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pipelining {
    /// Pipeline when the server's CAPA lists `PIPELINING`.
    #[default]
    Auto,
    /// Never pipeline, whatever the server says. For servers that advertise it and break under it.
    Never,
    /// Pipeline from the first command, since the caller remembers from an earlier session that this server lists
    /// `PIPELINING`; once this session's first CAPA is answered, as [`Pipelining::Auto`] (a refused CAPA means no
    /// pipelining). Nothing else is taken on trust: the capabilities stay unknown until CAPA answers. A poller that
    /// names its login method then sends CAPA, the credentials and its first commands in one write.
    Remembered,
}

/// Settings for a [`Client`](crate::Client). Start from [`Config::default`] and change what you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Longest status, capability or listing line accepted, CRLF included. RFC 2449 §4 allows 512 octets for a
    /// response's first line; the default is the same 2048 that Python's poplib settled on after CVE-2013-1752,
    /// because real servers exceed 512 in error texts. Message bodies are streamed and never subject to it.
    pub max_line_len: usize,
    /// The largest read the client asks for, and so the bound on the receive buffer while a body of any size
    /// streams through. Reads start at 8 KiB and double while the server fills them; an idle session frees the
    /// buffer ([`Client::release_idle_buffer`](crate::Client::release_idle_buffer)).
    pub read_size: usize,
    /// Line-ending policy for framing.
    pub line_endings: LineEndings,
    /// Pipelining policy.
    pub pipelining: Pipelining,
    /// Most command octets in flight at once while pipelining: enough for about 1,500 RETR lines, so a 20 ms
    /// round trip does not throttle a mailbox of small messages, yet small next to the socket buffers, so a
    /// blocking driver that writes everything before it reads cannot deadlock with the server.
    pub max_in_flight_bytes: usize,
    /// Whether the transport is already encrypted when the session starts (implicit TLS, POP3S). Turns off STLS
    /// and allows credentials.
    pub tls_active: bool,
    /// Allow USER/PASS, APOP, RPOP and AUTH over a connection that is not encrypted. Off by default: credentials
    /// and mail would travel in clear.
    pub allow_plaintext_credentials: bool,
    /// Send a SASL initial response on the AUTH line when it fits (RFC 5034 §4); otherwise wait for the first
    /// empty challenge ("two-step").
    pub sasl_initial_response: bool,
    /// Most server challenges answered in one AUTH exchange before the client cancels it with `*`.
    pub max_sasl_steps: usize,
    /// Issue CAPA again after STLS completes (RFC 2595 §4 says SHOULD).
    pub recapa_after_tls: bool,
    /// Most capability lines kept from one CAPA response; later lines are read and ignored.
    pub max_capabilities: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_line_len: 2048,
            read_size: 256 * 1024,
            line_endings: LineEndings::Detect,
            pipelining: Pipelining::Auto,
            max_in_flight_bytes: 16 * 1024,
            tls_active: false,
            allow_plaintext_credentials: false,
            sasl_initial_response: true,
            max_sasl_steps: 8,
            recapa_after_tls: true,
            max_capabilities: 256,
        }
    }
}
