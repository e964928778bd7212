//! Independent POP3 implementations besides Dovecot, each run as a private instance on loopback, each with a
//! [`Profile`] of what it offers and how it stores mail.
//!
//! Every server is started on first use, once per test process ([`mailutils`], [`popa3d`], [`solid_pop3d`],
//! [`perdition`], [`courier`], [`cyrus`]); different servers start in parallel when tests of several run at once. A
//! server that is not installed makes the test **fail** with a message that says to run
//! `scripts/install-test-deps.sh`.
//!
//! [`scenarios`](mod@scenarios) runs the same conversations against each of them, with expectations derived
//! from the profile; an adapter instantiates them with [`server_scenarios!`](crate::server_scenarios).

mod compat;
pub mod corpus;
mod courier;
mod cyrus;
mod fixture;
mod instance;
mod mailutils;
mod perdition;
mod popa3d;
pub mod scenarios;
mod solid;

use std::fmt;
use std::time::Duration;

pub use compat::compatibility_table;

/// How a session is protected, as far as the server is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// No TLS; the client must opt in to credentials in clear.
    Plaintext,
    /// STLS on the plain port.
    StartTls,
    /// TLS from the first byte (POP3S).
    Implicit,
}

impl Mode {
    /// The name used in tables and failure messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::StartTls => "STLS",
            Self::Implicit => "POP3S",
        }
    }
}

/// How the server keeps messages, which decides what RETR returns for the stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// One file per message (LF endings): served with LF→CRLF and a CRLF added after a last line without one.
    Maildir,
    /// One mbox file: `>From ` quoting is served as stored; the blank separator line is not part of a message,
    /// except after a message that is only a header, where it is read as the header's end.
    Mbox,
    /// Files holding the message with CRLF endings (Cyrus' spool): served as stored, with a CRLF added after a
    /// last line without one.
    CrlfFiles,
    /// mbox, but the blank separator line is served as the last line of every message (solid-pop3d).
    MboxWithSeparator,
}

impl Store {
    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Maildir => "Maildir",
            Self::Mbox => "mbox",
            Self::MboxWithSeparator => "mbox (+ separator line)",
            Self::CrlfFiles => "Cyrus spool (CRLF)",
        }
    }
}

/// A port that wants STLS before credentials, and what it does with credentials sent in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictPort {
    /// The server has no such port.
    None,
    /// `-ERR` to `USER` and to every login.
    RefusesUser,
    /// `+OK` to `USER`, `-ERR` to the `PASS` that follows (the password has crossed the wire by then).
    RefusesPass,
    /// `USER` and the mechanisms that send the password (PLAIN, LOGIN) are withdrawn; challenge-response
    /// mechanisms still work in clear, so `login()` succeeds with one of them.
    ChallengeResponseOnly,
}

/// What a server offers and how it behaves, as far as the scenarios depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The implementation's name.
    pub name: &'static str,
    /// The Debian package it comes from.
    pub package: &'static str,
    /// The package version the profile was written against.
    pub version: &'static str,
    /// The capabilities CAPA lists before login, in clear; `None` when CAPA is answered with `-ERR`.
    pub capa: Option<&'static [&'static str]>,
    /// The SASL mechanisms CAPA lists.
    pub sasl: &'static [&'static str],
    /// The mechanisms CAPA lists in addition once TLS is up (channel binding).
    pub sasl_with_tls: &'static [&'static str],
    /// Whether the greeting carries an APOP timestamp (and APOP works).
    pub apop: bool,
    /// The modes it serves on its ordinary ports.
    pub modes: &'static [Mode],
    /// Its port that requires TLS before credentials, and how that port refuses them in clear.
    pub strict_port: StrictPort,
    /// Whether `UTF8` is accepted (RFC 6856).
    pub utf8: bool,
    /// Whether a message with raw 8-bit headers is replaced by a generated notice unless the client said `UTF8`.
    pub utf8_downgrade: bool,
    /// How it stores mail.
    pub store: Store,
    /// Whether the first UIDL writes an `X-UIDL:` header into each stored message (Mailutils).
    pub writes_uidl_header: bool,
    /// Whether that first UIDL replaces a message that is only a header (no empty line) by the `X-UIDL:` header
    /// alone, losing the original header (Mailutils 3.15).
    pub loses_header_only_message: bool,
    /// Whether `TOP n m` with m > 0 adds an empty line after the header (Mailutils).
    pub top_adds_blank_line: bool,
    /// Whether a second session on a logged-in mailbox is refused with `[IN-USE]`.
    pub exclusive_mailbox: bool,
    /// Whether LIST counts the CRLF the server adds to a message without a final newline.
    pub list_counts_added_crlf: bool,
    /// Whether it is a proxy, and in front of what.
    pub proxy_for: Option<&'static str>,
}

impl Profile {
    /// The method `login()` must choose: the strongest the server offers, in the clients' order
    /// (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, APOP, PLAIN, USER).
    pub fn expected_login(&self) -> &'static str {
        ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"]
            .into_iter()
            .find(|m| self.sasl.contains(m))
            .or(self.apop.then_some("APOP"))
            .or(self.sasl.contains(&"PLAIN").then_some("PLAIN"))
            .unwrap_or("USER")
    }

    /// Whether CAPA lists `name`.
    pub fn advertises(&self, name: &str) -> bool {
        self.capa.is_some_and(|c| c.contains(&name))
    }

    /// What RETR must return for a message stored from `message` (CRLF form), in this server's store.
    pub fn served_form(&self, message: &[u8]) -> Vec<u8> {
        match self.store {
            Store::Maildir => corpus::to_wire(&corpus::to_lf(message)),
            Store::Mbox => {
                let stored = corpus::mbox_stored(message);
                let mut served = corpus::to_wire(&stored);
                if !stored.windows(2).any(|w| w == b"\n\n") {
                    served.extend_from_slice(b"\r\n");
                }
                served
            }
            Store::CrlfFiles => {
                let mut served = message.to_vec();
                if !served.ends_with(b"\r\n") {
                    served.extend_from_slice(b"\r\n");
                }
                served
            }
            Store::MboxWithSeparator => {
                let mut served = corpus::to_wire(&corpus::mbox_stored(message));
                served.extend_from_slice(b"\r\n");
                served
            }
        }
    }

    /// The size LIST must report for a message that RETR serves as `served`, stored from `message`.
    pub fn listed_size(&self, message: &[u8], served: &[u8]) -> u64 {
        let added = matches!(self.store, Store::Maildir | Store::CrlfFiles)
            && !message.ends_with(b"\n")
            && !self.list_counts_added_crlf;
        served.len() as u64 - if added { 2 } else { 0 }
    }
}

/// A mailbox made on a server for one test.
#[derive(Clone)]
pub struct Mailbox {
    /// Login name.
    pub user: String,
    /// Password (retrievable by the server where APOP or CRAM need it).
    pub password: String,
    /// What RETR must return for each message, in order, computed from what the server stores.
    pub served: Vec<Vec<u8>>,
    /// What LIST must report for each message.
    pub sizes: Vec<u64>,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("user", &self.user)
            .field("messages", &self.served.len())
            .finish_non_exhaustive()
    }
}

/// A private server instance the scenarios can talk to.
pub trait PopServer: Sync + fmt::Debug {
    /// What it offers.
    fn profile(&self) -> &'static Profile;
    /// The port serving `mode` on 127.0.0.1 (one of [`Profile::modes`]).
    fn port(&self, mode: Mode) -> u16;
    /// The port that requires STLS before credentials, unless [`Profile::strict_port`] is `None`.
    fn strict_port(&self) -> Option<u16>;
    /// PEM of the CA that signed its certificate (valid for `localhost` and `127.0.0.1`).
    fn ca_pem(&self) -> &str;
    /// A new user whose mailbox holds `messages` (CRLF form), in this order.
    fn mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> Mailbox;
    /// How long the start took (from the first use until every port greeted).
    fn startup_time(&self) -> Duration;
}

/// Builds a [`Mailbox`] whose expectations follow from the profile and the stored messages.
fn expected_mailbox(
    profile: &Profile,
    user: String,
    password: String,
    messages: &[Vec<u8>],
) -> Mailbox {
    let served: Vec<Vec<u8>> = messages.iter().map(|m| profile.served_form(m)).collect();
    let sizes = messages
        .iter()
        .zip(&served)
        .map(|(m, s)| profile.listed_size(m, s))
        .collect();
    Mailbox {
        user,
        password,
        served,
        sizes,
    }
}

/// GNU Mailutils pop3d, started on first use.
pub fn mailutils() -> &'static dyn PopServer {
    mailutils::Mailutils::shared()
}

/// popa3d, started on first use.
pub fn popa3d() -> &'static dyn PopServer {
    popa3d::Popa3d::shared()
}

/// solid-pop3d, started on first use.
pub fn solid_pop3d() -> &'static dyn PopServer {
    solid::SolidPop3d::shared()
}

/// perdition in front of a popa3d of its own, started on first use.
pub fn perdition() -> &'static dyn PopServer {
    perdition::Perdition::shared()
}

/// Courier pop3d, started on first use.
pub fn courier() -> &'static dyn PopServer {
    courier::Courier::shared()
}

/// Cyrus pop3d, started on first use.
pub fn cyrus() -> &'static dyn PopServer {
    cyrus::Cyrus::shared()
}

/// Every server's profile, in the order of the compatibility table.
pub fn profiles() -> [&'static Profile; 6] {
    [
        &mailutils::PROFILE,
        &cyrus::PROFILE,
        &courier::PROFILE,
        &popa3d::PROFILE,
        &solid::PROFILE,
        &perdition::PROFILE,
    ]
}

/// The installed version of a server's Debian package: from the version file the install script writes beside
/// an unpacked package, else from dpkg. `None` when it is not installed.
pub fn installed_version(package: &str) -> Option<String> {
    let unpacked = instance::servers_root().join(package).join(".complete");
    if let Ok(version) = std::fs::read_to_string(unpacked) {
        return Some(version.trim().to_owned());
    }
    let out = instance::run(std::process::Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${Version}",
        package,
    ]))
    .ok()?;
    let version = String::from_utf8(out).ok()?;
    (!version.is_empty()).then_some(version)
}
