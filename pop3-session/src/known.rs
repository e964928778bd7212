//! Capabilities remembered across sessions, by the caller's choice: what lets a poller's next contact with a
//! server pipeline from its first command instead of waiting for CAPA.

use std::fmt;
use std::str::FromStr;

use crate::settings::Security;

/// What a server advertised that the next session with it may use before its own CAPA is answered: whether it
/// pipelines (RFC 2449 §6.6), and whether it offered UTF8 (RFC 6856), which a session that says UTF8 when offered
/// must otherwise wait for CAPA to learn before it logs in. Tied to the host, port and security it was learnt
/// with, and used only by a session to the same. Nothing security-related is kept: STLS and the SASL mechanisms
/// always come from the live session, and the live CAPA decides as soon as it is answered.
///
/// Its text form (`Display`, `FromStr`) is stable, one line, for a caller's state file:
/// `pop3-capabilities 2 <security> <port> <flags> <host>`, where `<flags>` is `PIPELINING`, `UTF8`,
/// `PIPELINING,UTF8` or `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCapabilities {
    host: String,
    port: u16,
    security: Security,
    pipelining: bool,
    utf8: bool,
}

const MAGIC: &str = "pop3-capabilities";
const VERSION: &str = "2";

impl KnownCapabilities {
    pub(crate) fn new(
        host: &str,
        port: u16,
        security: Security,
        pipelining: bool,
        utf8: bool,
    ) -> Self {
        Self {
            host: host.to_owned(),
            port,
            security,
            pipelining,
            utf8,
        }
    }

    /// The host it was learnt from, as the session was given it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port it was learnt on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How that connection was protected.
    pub fn security(&self) -> Security {
        self.security
    }

    /// Whether the server listed PIPELINING.
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }

    /// Whether the server listed UTF8.
    pub fn utf8(&self) -> bool {
        self.utf8
    }

    /// Whether this was learnt from the server a session with these settings talks to: only then does
    /// [`Builder::known_capabilities`](crate::Builder::known_capabilities) use it.
    pub fn is_for(&self, host: &str, port: u16, security: Security) -> bool {
        self.host == host && self.port == port && self.security == security
    }
}

fn security_name(security: Security) -> &'static str {
    match security {
        Security::Implicit => "implicit",
        Security::StartTls => "starttls",
        Security::StartTlsIfAvailable => "starttls-if-available",
        Security::Plaintext => "plaintext",
    }
}

impl fmt::Display for KnownCapabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = match (self.pipelining, self.utf8) {
            (true, true) => "PIPELINING,UTF8",
            (true, false) => "PIPELINING",
            (false, true) => "UTF8",
            (false, false) => "-",
        };
        write!(
            f,
            "{MAGIC} {VERSION} {} {} {flags} {}",
            security_name(self.security),
            self.port,
            self.host
        )
    }
}

/// A line that is not [`KnownCapabilities`]' text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseKnownCapabilitiesError;

impl fmt::Display for ParseKnownCapabilitiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a `pop3-capabilities 2` line")
    }
}

impl std::error::Error for ParseKnownCapabilitiesError {}

impl FromStr for KnownCapabilities {
    type Err = ParseKnownCapabilitiesError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let mut words = line.trim_end_matches(['\r', '\n']).splitn(6, ' ');
        let mut next = || words.next().ok_or(ParseKnownCapabilitiesError);
        if next()? != MAGIC || next()? != VERSION {
            return Err(ParseKnownCapabilitiesError);
        }
        let security = match next()? {
            "implicit" => Security::Implicit,
            "starttls" => Security::StartTls,
            "starttls-if-available" => Security::StartTlsIfAvailable,
            "plaintext" => Security::Plaintext,
            _ => return Err(ParseKnownCapabilitiesError),
        };
        let port = next()?.parse().map_err(|_| ParseKnownCapabilitiesError)?;
        let (pipelining, utf8) = match next()? {
            "PIPELINING,UTF8" => (true, true),
            "PIPELINING" => (true, false),
            "UTF8" => (false, true),
            "-" => (false, false),
            _ => return Err(ParseKnownCapabilitiesError),
        };
        let host = next()?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(ParseKnownCapabilitiesError);
        }
        Ok(Self::new(host, port, security, pipelining, utf8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Shared;
    use pop3_proto::Pipelining;

    #[test]
    fn only_what_was_learnt_from_the_same_server_is_used() {
        let pipelining_with = |known: KnownCapabilities| {
            let mut settings = Shared::new("127.0.0.1".into());
            settings.security = Security::Plaintext;
            settings.port = Some(1100);
            settings.known_capabilities = Some(known);
            settings.core_config().pipelining
        };
        let known = |host: &str, port, security, pipelining| {
            KnownCapabilities::new(host, port, security, pipelining, false)
        };
        let same = known("127.0.0.1", 1100, Security::Plaintext, true);
        assert_eq!(pipelining_with(same), Pipelining::Remembered);
        for other in [
            known("127.0.0.2", 1100, Security::Plaintext, true),
            known("127.0.0.1", 1101, Security::Plaintext, true),
            known("127.0.0.1", 1100, Security::StartTls, true),
            known("127.0.0.1", 1100, Security::Plaintext, false),
        ] {
            assert_eq!(pipelining_with(other.clone()), Pipelining::Auto, "{other}");
        }
    }

    #[test]
    fn the_text_form_round_trips_and_refuses_other_lines() {
        let known = KnownCapabilities::new("pop.example.com", 995, Security::Implicit, true, false);
        let line = known.to_string();
        assert_eq!(
            line,
            "pop3-capabilities 2 implicit 995 PIPELINING pop.example.com"
        );
        assert_eq!(line.parse::<KnownCapabilities>(), Ok(known));
        for (pipelining, utf8, flags) in [
            (true, true, "PIPELINING,UTF8"),
            (false, true, "UTF8"),
            (false, false, "-"),
        ] {
            let other = KnownCapabilities::new("[::1]", 110, Security::Plaintext, pipelining, utf8);
            let line = other.to_string();
            assert_eq!(
                line,
                format!("pop3-capabilities 2 plaintext 110 {flags} [::1]")
            );
            assert_eq!(line.parse(), Ok(other));
        }
        for bad in [
            "",
            "pop3-capabilities 1 implicit 995 PIPELINING host",
            "pop3-capabilities 3 implicit 995 PIPELINING host",
            "pop3-capabilities 2 implicit 99999 PIPELINING host",
            "pop3-capabilities 2 implicit 995 SASL host",
            "pop3-capabilities 2 implicit 995 UTF8,PIPELINING host",
            "pop3-capabilities 2 tls 995 PIPELINING host",
            "pop3-capabilities 2 implicit 995 PIPELINING",
            "pop3-capabilities 2 implicit 995 PIPELINING two hosts",
        ] {
            assert!(bad.parse::<KnownCapabilities>().is_err(), "{bad:?}");
        }
    }
}
