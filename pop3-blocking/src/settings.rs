//! What a connection is made of before it is opened: security, time limits, TLS and protocol settings.
//!
//! Both clients' builders hold one [`Settings`] and get their setters from [`crate::builder_setters!`], so the two
//! builders cannot drift apart; only opening the connection differs between them.

use std::time::Duration;

use pop3_proto::Config;

use crate::TlsOptions;
use crate::trace::Trace;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Security {
    /// TLS from the first byte (POP3S, port 995). Recommended (RFC 8314).
    #[default]
    Implicit,
    /// Plain connection upgraded with STLS (port 110). STLS is sent whatever CAPA says, and any failure ends the
    /// session: there is no fallback to plaintext.
    StartTls,
    /// STLS if the server advertises it, plaintext otherwise. An attacker can strip it; use only where you
    /// accept that.
    StartTlsIfAvailable,
    /// No TLS (port 110). Credentials are refused unless allowed by name.
    Plaintext,
}

impl Security {
    /// The registered port: 995 for implicit TLS, 110 otherwise.
    pub fn default_port(self) -> u16 {
        if self == Self::Implicit { 995 } else { 110 }
    }
}

/// Time limits. `None` waits forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// For the TCP connection to open.
    pub connect: Option<Duration>,
    /// For any one read to return something.
    pub read: Option<Duration>,
    /// For any one write to complete.
    pub write: Option<Duration>,
    /// For a whole response (the greeting, or one command's complete answer, bodies included): a server dripping
    /// a byte at a time cannot hold the caller longer than this. Raise it for very large messages on slow links.
    pub response: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::all(Duration::from_secs(60)).with_response(Some(Duration::from_secs(600)))
    }
}

impl Timeouts {
    /// The same limit for connect, read and write, and ten times it for a whole response.
    pub fn all(limit: Duration) -> Self {
        Self {
            connect: Some(limit),
            read: Some(limit),
            write: Some(limit),
            response: Some(limit * 10),
        }
    }

    /// This set with another whole-response limit.
    pub fn with_response(mut self, limit: Option<Duration>) -> Self {
        self.response = limit;
        self
    }
}

/// Everything a builder holds. Shared by both clients; not an API of its own.
#[doc(hidden)]
#[derive(Debug)]
pub struct Settings {
    pub host: String,
    pub port: Option<u16>,
    pub security: Security,
    pub tls: TlsOptions,
    pub timeouts: Timeouts,
    pub config: Config,
    pub max_message_size: u64,
    pub max_listing_entries: u64,
    pub trace: Trace,
}

impl Settings {
    /// Implicit TLS on port 995, verified certificates, and default limits.
    pub fn new(host: String) -> Self {
        Self {
            host,
            port: None,
            security: Security::Implicit,
            tls: TlsOptions::default(),
            timeouts: Timeouts::default(),
            config: Config::default(),
            max_message_size: 256 * 1024 * 1024,
            max_listing_entries: 1_000_000,
            trace: Trace::default(),
        }
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// The host as name lookup wants it: an IPv6 literal without its brackets.
    pub fn lookup_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// The core's settings for this connection: whether TLS is on from the start is not the caller's to set.
    pub fn core_config(&self) -> Config {
        let mut config = self.config.clone();
        config.tls_active = self.security == Security::Implicit;
        config
    }
}

/// The setters of a builder whose settings are in a field `settings: Settings`.
#[doc(hidden)]
#[macro_export]
macro_rules! builder_setters {
    () => {
        /// The port; by default 995 for implicit TLS and 110 otherwise.
        pub fn port(mut self, port: u16) -> Self {
            self.settings.port = Some(port);
            self
        }

        /// How to protect the connection.
        pub fn security(mut self, security: $crate::Security) -> Self {
            self.settings.security = security;
            self
        }

        /// TLS settings (trusted roots, client certificate, or a whole rustls configuration).
        pub fn tls(mut self, tls: $crate::TlsOptions) -> Self {
            self.settings.tls = tls;
            self
        }

        /// Time limits. They apply to any stream, [`Builder::connect_stream`]'s included.
        pub fn timeouts(mut self, timeouts: $crate::Timeouts) -> Self {
            self.settings.timeouts = timeouts;
            self
        }

        /// One time limit for connect, read and write (poplib's `timeout`), ten times it for a whole response.
        pub fn timeout(self, limit: ::std::time::Duration) -> Self {
            self.timeouts($crate::Timeouts::all(limit))
        }

        /// Allow sending credentials over a connection without TLS. They, and all mail, travel in clear.
        pub fn allow_plaintext_credentials(mut self) -> Self {
            self.settings.config.allow_plaintext_credentials = true;
            self
        }

        /// Protocol settings (limits, pipelining, line endings, the receive buffer's size). `tls_active` is
        /// managed by the session.
        pub fn config(mut self, config: $crate::proto::Config) -> Self {
            self.settings.config = config;
            self
        }

        /// Largest message [`Session::retr`] and [`Session::top`] read into memory; the `_to` methods stream any
        /// size.
        pub fn max_message_size(mut self, octets: u64) -> Self {
            self.settings.max_message_size = octets;
            self
        }

        /// Most entries a listing read into memory may have ([`Session::list`], [`Session::uidl`],
        /// [`Session::listing`], [`Session::lang`]); 1,000,000 by default. A server that never ends its listing
        /// then costs a bounded amount of memory.
        pub fn max_listing_entries(mut self, entries: u64) -> Self {
            self.settings.max_listing_entries = entries;
            self
        }

        /// Protocol trace level, as poplib's `set_debuglevel`: 0 off, 1 commands and status lines, 2 every event.
        pub fn debug_level(mut self, level: u8) -> Self {
            self.settings.trace.level = level;
            self
        }

        /// Writes the trace here instead of to the `log` facade (target `pop3`), a line at a time as it happens.
        pub fn trace_to(mut self, writer: impl ::std::io::Write + Send + 'static) -> Self {
            self.settings.trace.writer = Some(Box::new(writer));
            self
        }
    };
}
