//! What a connection is made of before it is opened: security, time limits, TLS and protocol settings.

use std::sync::Arc;
use std::time::Duration;

use pop3_proto::Config;

use crate::tls::TlsOptions;
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

/// Everything a [`Builder`](crate::Builder) holds, read by a driver when it opens a connection.
///
/// A handle: the values sit behind one `Arc`, and every session opened with them keeps that `Arc` rather than a
/// copy of each, so that a poller's thousands of idle sessions hold one set of settings. A builder changed after
/// it was cloned copies them first.
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) shared: Arc<Shared>,
}

/// The values behind [`Settings`].
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) security: Security,
    pub(crate) tls: TlsOptions,
    pub(crate) timeouts: Timeouts,
    pub(crate) config: Config,
    pub(crate) max_message_size: u64,
    pub(crate) max_listing_entries: u64,
    pub(crate) utf8_when_offered: bool,
    pub(crate) login_method: Option<crate::LoginMethod>,
    pub(crate) known_capabilities: Option<crate::KnownCapabilities>,
    pub(crate) trace: Trace,
}

impl Settings {
    /// See [`Shared::new`].
    pub(crate) fn new(host: String) -> Self {
        Self {
            shared: Arc::new(Shared::new(host)),
        }
    }

    /// The values, to change: copied first if another builder or a session shares them.
    pub(crate) fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// The host as given: the name TLS verifies.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.shared.port()
    }

    /// The host as name lookup wants it: an IPv6 literal without its brackets.
    pub fn lookup_host(&self) -> &str {
        let host = self.host();
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// How the connection is protected.
    pub fn security(&self) -> Security {
        self.shared.security
    }

    /// The time limits.
    pub fn timeouts(&self) -> Timeouts {
        self.shared.timeouts
    }
}

impl Shared {
    /// Implicit TLS on port 995, verified certificates, and default limits.
    pub(crate) fn new(host: String) -> Self {
        Self {
            host,
            port: None,
            security: Security::Implicit,
            tls: TlsOptions::default(),
            timeouts: Timeouts::default(),
            config: Config::default(),
            max_message_size: 256 * 1024 * 1024,
            max_listing_entries: 1_000_000,
            utf8_when_offered: false,
            login_method: None,
            known_capabilities: None,
            trace: Trace::default(),
        }
    }

    /// The port to connect to.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// The core's settings for this connection: whether TLS is on from the start is not the caller's to set.
    pub(crate) fn core_config(&self) -> Config {
        let mut config = self.config.clone();
        config.tls_active = self.security == Security::Implicit;
        let pipelines = self
            .remembered()
            .is_some_and(crate::KnownCapabilities::pipelining);
        if pipelines && config.pipelining == pop3_proto::Pipelining::Auto {
            config.pipelining = pop3_proto::Pipelining::Remembered;
        }
        config
    }

    /// When the login says UTF8: only if asked, and then without waiting for CAPA if this server is remembered
    /// not to offer it.
    pub(crate) fn utf8_step(&self) -> crate::op::Utf8 {
        if !self.utf8_when_offered {
            return crate::op::Utf8::Never;
        }
        let known_without = self.remembered().is_some_and(|known| !known.utf8());
        crate::op::Utf8::WhenOffered {
            wait_for_capa: !known_without,
        }
    }

    /// The remembered capabilities, if they were learnt from the server these settings talk to.
    fn remembered(&self) -> Option<&crate::KnownCapabilities> {
        self.known_capabilities
            .as_ref()
            .filter(|known| known.is_for(&self.host, self.port(), self.security))
    }
}
