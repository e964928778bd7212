//! What every server fixture does the same way once its server runs: starting it once per test process,
//! waiting for its ports, numbering its users and answering [`PopServer`] from its profile, ports and instance.
//! Each fixture writes only what is its own: how its server is configured and started, and how a mailbox is
//! made on it.

use std::fmt;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::instance::{self, Instance};
use super::{Mailbox, Mode, PopServer, Profile};

/// Where a server listens on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ports {
    /// One port, in clear: the server has no TLS.
    Plaintext(u16),
    /// STLS offered on `plain`, TLS from the first byte on `pop3s`, STLS required before credentials on
    /// `strict`.
    WithTls { plain: u16, pop3s: u16, strict: u16 },
}

impl Ports {
    /// The ports of a server with TLS, in the order of [`named`](Self::named).
    pub(crate) fn with_tls([plain, pop3s, strict]: [u16; 3]) -> Self {
        Self::WithTls {
            plain,
            pop3s,
            strict,
        }
    }

    /// Each port with the name its listener's files and logs go by: `plain`, then `pop3s` and `strict`.
    pub(crate) fn named(self) -> Vec<(&'static str, u16)> {
        match self {
            Self::Plaintext(plain) => vec![("plain", plain)],
            Self::WithTls {
                plain,
                pop3s,
                strict,
            } => vec![("plain", plain), ("pop3s", pop3s), ("strict", strict)],
        }
    }

    /// The port on which sessions start in clear.
    pub(crate) fn plain(self) -> u16 {
        self.named()[0].1
    }

    /// Waits until every port greets (a POP3S one: until it accepts); `why_not` gives what the named port's
    /// server logged, for the error.
    pub(crate) fn wait_ready(self, why_not: impl Fn(&str) -> String) -> io::Result<()> {
        for (name, port) in self.named() {
            instance::wait_ready(port, name == "pop3s", || why_not(name))?;
        }
        Ok(())
    }
}

/// A started server: its instance, where it listens, how long the start took, and its users' numbers.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) instance: Instance,
    pub(crate) ports: Ports,
    startup_time: Duration,
    next_user: AtomicU32,
}

impl Running {
    /// The server of `instance`, listening on `ports`, whose start began at `started` and is complete now.
    pub(crate) fn new(instance: Instance, ports: Ports, started: Instant) -> Self {
        Self {
            instance,
            ports,
            startup_time: started.elapsed(),
            next_user: AtomicU32::new(0),
        }
    }

    /// A number no earlier user of this server had: 1, 2, …, for names unique within the instance.
    pub(crate) fn next_user(&self) -> u32 {
        self.next_user.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A new user's name: the test's `prefix`, made safe for a login name, and the next number.
    pub(crate) fn user_name(&self, prefix: &str) -> String {
        format!("{}-{}", crate::sanitize_prefix(prefix), self.next_user())
    }
}

/// A fixture that runs one server: [`PopServer`] follows from this.
pub(crate) trait Fixture: Sync + fmt::Debug + Sized + 'static {
    /// What the server offers.
    const PROFILE: &'static Profile;

    /// Configures and starts the server, returning once every port greets.
    fn start() -> io::Result<Self>;

    /// The started server.
    fn running(&self) -> &Running;

    /// A new user whose mailbox holds `messages` (CRLF form), in this order; `prefix` names the test.
    fn make_mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox>;

    /// The fixture kept in `cell`, started on first use: once per test process. A start that fails fails the
    /// test that wanted the server.
    fn start_once(cell: &'static OnceLock<Self>) -> &'static Self {
        cell.get_or_init(|| {
            Self::start().unwrap_or_else(|e| panic!("pop3-testkit: {}: {e}", Self::PROFILE.name))
        })
    }
}

impl<F: Fixture> PopServer for F {
    fn profile(&self) -> &'static Profile {
        F::PROFILE
    }

    fn port(&self, mode: Mode) -> u16 {
        match (self.running().ports, mode) {
            (Ports::Plaintext(plain), _) => {
                assert_eq!(mode, Mode::Plaintext, "{} has no TLS", F::PROFILE.name);
                plain
            }
            (Ports::WithTls { plain, .. }, Mode::Plaintext | Mode::StartTls) => plain,
            (Ports::WithTls { pop3s, .. }, Mode::Implicit) => pop3s,
        }
    }

    fn strict_port(&self) -> Option<u16> {
        match self.running().ports {
            Ports::Plaintext(_) => None,
            Ports::WithTls { strict, .. } => Some(strict),
        }
    }

    fn ca_pem(&self) -> &str {
        self.running().instance.ca_pem()
    }

    fn mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> Mailbox {
        self.make_mailbox(prefix, messages)
            .unwrap_or_else(|e| panic!("pop3-testkit: {} mailbox: {e}", F::PROFILE.name))
    }

    fn startup_time(&self) -> Duration {
        self.running().startup_time
    }
}
