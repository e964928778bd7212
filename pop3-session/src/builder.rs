//! The builder every driver shares: one set of setters, one [`Settings`], any number of sessions.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use pop3_proto::Config;

use crate::session::{Connect, ConnectStream, Driver, Session};
use crate::settings::{Security, Settings, Timeouts};
use crate::tls::TlsOptions;

/// Settings for a connection; `connect` opens one. A builder is `Clone` and `connect` borrows it, so one
/// configuration opens as many sessions as a poller needs.
///
/// `D` is the driver (`pop3_blocking::Blocking`, `pop3_tokio::Tokio`, …); each driver crate names it for you
/// (`pop3_blocking::Session::builder`).
pub struct Builder<D> {
    settings: Settings,
    driver: PhantomData<fn() -> D>,
}

impl<D> Clone for Builder<D> {
    fn clone(&self) -> Self {
        Self {
            settings: self.settings.clone(),
            driver: PhantomData,
        }
    }
}

impl<D> fmt::Debug for Builder<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Builder").field(&self.settings).finish()
    }
}

impl<D> Builder<D> {
    /// Settings for `host` with implicit TLS on port 995, verified certificates, and default limits.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            settings: Settings::new(host.into()),
            driver: PhantomData,
        }
    }

    /// What this builder holds.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The port; by default 995 for implicit TLS and 110 otherwise.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.settings.shared_mut().port = Some(port);
        self
    }

    /// How to protect the connection.
    #[must_use]
    pub fn security(mut self, security: Security) -> Self {
        self.settings.shared_mut().security = security;
        self
    }

    /// TLS settings (trusted roots, client certificate, or a whole rustls configuration).
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.settings.shared_mut().tls = tls;
        self
    }

    /// Time limits. They apply to any stream, a caller-supplied one included.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.settings.shared_mut().timeouts = timeouts;
        self
    }

    /// One time limit for connect, read and write (poplib's `timeout`), ten times it for a whole response.
    #[must_use]
    pub fn timeout(self, limit: Duration) -> Self {
        self.timeouts(Timeouts::all(limit))
    }

    /// Allow sending credentials over a connection without TLS. They, and all mail, travel in clear.
    #[must_use]
    pub fn allow_plaintext_credentials(mut self) -> Self {
        self.settings
            .shared_mut()
            .config
            .allow_plaintext_credentials = true;
        self
    }

    /// Protocol settings (limits, pipelining, line endings, the receive buffer's size). `tls_active` is
    /// managed by the session.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.settings.shared_mut().config = config;
        self
    }

    /// Largest message `retr` and `top` read into memory; the `_to` methods stream any size.
    #[must_use]
    pub fn max_message_size(mut self, octets: u64) -> Self {
        self.settings.shared_mut().max_message_size = octets;
        self
    }

    /// Most entries a listing read into memory may have (`list`, `uidl`, `listing`, `lang`); 1,000,000 by default.
    /// A server that never ends its listing then costs a bounded amount of memory.
    #[must_use]
    pub fn max_listing_entries(mut self, entries: u64) -> Self {
        self.settings.shared_mut().max_listing_entries = entries;
        self
    }

    /// Say UTF8 (RFC 6856) before logging in whenever the server offers it, so that messages and server text
    /// arrive as sent: a server that offers UTF8 may otherwise replace a message with 8-bit headers by a
    /// generated notice (Courier does). For fetchers that store messages as they are.
    #[must_use]
    pub fn utf8_when_offered(mut self) -> Self {
        self.settings.shared_mut().utf8_when_offered = true;
        self
    }

    /// Log in with this method instead of the strongest one offered ([`choose_login`](crate::choose_login)). For a
    /// poller over TLS that values round trips: USER/PASS (or APOP) travel behind one another and the first
    /// commands behind them when the server pipelines, where SCRAM takes three round trips of its own. The server
    /// refuses a method it does not offer; credentials in clear still need
    /// [`Builder::allow_plaintext_credentials`].
    #[must_use]
    pub fn login_method(mut self, method: crate::LoginMethod) -> Self {
        self.settings.shared_mut().login_method = Some(method);
        self
    }

    /// Start each session with what an earlier one learnt of this server ([`Session::known_capabilities`]), so
    /// that it pipelines from its first command: with a [login method](Builder::login_method) named, CAPA, the
    /// credentials and the first commands go in one write. Used only if it was learnt from the same host, port
    /// and security; re-checked against the session's own CAPA as soon as that is answered; never used for
    /// anything security-related (STLS and the SASL offers come from the live session alone).
    ///
    /// [`Session::known_capabilities`]: crate::Session::known_capabilities
    #[must_use]
    pub fn known_capabilities(mut self, known: crate::KnownCapabilities) -> Self {
        self.settings.shared_mut().known_capabilities = Some(known);
        self
    }

    /// Protocol trace level, as poplib's `set_debuglevel`: 0 off, 1 commands and status lines, 2 every event.
    #[must_use]
    pub fn debug_level(mut self, level: u8) -> Self {
        self.settings.shared_mut().trace.level = level;
        self
    }

    /// Writes the trace here instead of to the `log` facade (target `pop3`), a line at a time as it happens.
    /// Sessions opened from clones of this builder share the writer, a whole line at a time.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # use pop3_blocking::{Security, Session};
    /// // poplib's set_debuglevel(1), printed to stderr rather than to a logger.
    /// let builder = Session::builder("pop.example.com").debug_level(1).trace_to(std::io::stderr());
    /// let mut session = builder.connect()?;
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn trace_to(mut self, writer: impl std::io::Write + Send + 'static) -> Self {
        self.settings.shared_mut().trace.set_writer(writer);
        self
    }
}

impl<D: Connect> Builder<D> {
    /// Resolves the host and opens a TCP connection to each address in turn (IPv4 or IPv6), then sets up the
    /// session: TLS, the greeting, STLS as [`Security`] says. The connect limit applies to the lookup and to each
    /// address.
    ///
    /// # Errors
    /// The lookup, the connection, TLS, the greeting or STLS failed.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use pop3_blocking::{Security, Session};
    ///
    /// let builder = Session::builder("pop.example.com").security(Security::StartTls).port(110);
    /// for _poll in 0..3 {
    ///     let mut session = builder.connect()?; // later sessions resume TLS
    ///     session.login("alice", "secret")?;
    ///     session.quit()?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connect(&self) -> D::Call<'static, Session<D>> {
        D::connect(self.settings.clone())
    }
}

impl<D: Driver> Builder<D> {
    /// Sets up the session over a stream the caller opened: a proxy tunnel, a Unix socket, a test pipe. The host
    /// given to [`Builder::new`] is still the name TLS verifies.
    ///
    /// # Errors
    /// TLS, the greeting or STLS failed.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use std::net::TcpStream;
    /// use pop3_blocking::Session;
    ///
    /// // A connection opened some other way (here a local port forward, as `ssh -L 9950:pop.example.com:995` opens).
    /// let stream = TcpStream::connect("127.0.0.1:9950")?;
    /// let mut session = Session::builder("pop.example.com").connect_stream(stream)?; // TLS verifies pop.example.com
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn connect_stream<S>(&self, stream: S) -> D::Call<'static, Session<D>>
    where
        D: ConnectStream<S>,
    {
        D::connect_stream(self.settings.clone(), stream)
    }
}
