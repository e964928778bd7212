//! Logging in with the strongest method the server offers, chosen in one place for every driver and for
//! applications (pop3-fetch asks [`choose_login`] too).

use std::fmt;

use pop3_proto::{Capabilities, Client, Command, CommandId, Event, Mechanism};

use super::{Exchange, Flow};
use crate::error::{Error, Result, ServerError};

/// A way to log in with a user name and a password, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LoginMethod {
    /// SASL SCRAM-SHA-256 (RFC 7677): the password never crosses the wire and the server proves it knows it.
    ScramSha256,
    /// SASL SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// SASL CRAM-MD5 (RFC 2195): a challenge and response.
    CramMd5,
    /// APOP (RFC 1939 §7): an MD5 digest of the greeting's timestamp and the password.
    Apop,
    /// SASL PLAIN (RFC 4616): the password itself, as USER/PASS sends it, in one round trip.
    Plain,
    /// USER and PASS (RFC 1939 §7).
    UserPass,
}

impl LoginMethod {
    /// The method's name as the server knows it (`USER` for USER/PASS).
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::CramMd5 => "CRAM-MD5",
            Self::Apop => "APOP",
            Self::Plain => "PLAIN",
            Self::UserPass => "USER",
        }
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The strongest method offered: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5 (each if CAPA lists it under SASL), APOP (if
/// the greeting carried a timestamp), PLAIN, then USER/PASS. `capabilities` is `None` when the server has no CAPA.
///
/// A caller must not fall back to a weaker method after a failure: a wrong password fails every method alike, and
/// an attacker who can make the strong one fail would otherwise get the weak one.
pub fn choose_login(capabilities: Option<&Capabilities>, apop_timestamp: bool) -> LoginMethod {
    let sasl = |name: &str| capabilities.is_some_and(|caps| caps.supports_sasl(name));
    if sasl("SCRAM-SHA-256") {
        LoginMethod::ScramSha256
    } else if sasl("SCRAM-SHA-1") {
        LoginMethod::ScramSha1
    } else if sasl("CRAM-MD5") {
        LoginMethod::CramMd5
    } else if apop_timestamp {
        LoginMethod::Apop
    } else if sasl("PLAIN") {
        LoginMethod::Plain
    } else {
        LoginMethod::UserPass
    }
}

/// When to say UTF8 (RFC 6856) before the login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf8 {
    Never,
    /// When the live CAPA offers it. `wait_for_capa` is false when an earlier session learnt that this server does
    /// not offer UTF8: a login pipelined behind CAPA then need not wait for CAPA's answer to know.
    WhenOffered {
        wait_for_capa: bool,
    },
}

/// The method a login uses on `client` now: `chosen`, else the strongest the capabilities known and the greeting
/// offer.
pub(crate) fn login_method(chosen: Option<LoginMethod>, client: &Client) -> LoginMethod {
    chosen.unwrap_or_else(|| choose_login(client.capabilities(), client.apop_timestamp().is_some()))
}

/// Asks CAPA if the capabilities are not known yet, then logs in with [`choose_login`]'s method.
pub(crate) struct Login<'c> {
    user: &'c str,
    password: &'c str,
    /// A fresh nonce for SCRAM, made before the exchange since random bytes come from the TLS provider.
    nonce: Vec<u8>,
    utf8: Utf8,
    method: Option<LoginMethod>,
    /// The method the caller chose, if any, instead of the strongest offered.
    chosen: Option<LoginMethod>,
    /// The CAPA asked first, or the login's last command.
    waiting_for: Option<CommandId>,
    /// The login's first command.
    first_login: Option<CommandId>,
    details: Option<Vec<u8>>,
    refusal: Option<ServerError>,
}

impl<'c> Login<'c> {
    pub(crate) fn new(user: &'c str, password: &'c str, nonce: Vec<u8>, utf8: Utf8) -> Self {
        Self {
            user,
            password,
            nonce,
            utf8,
            method: None,
            chosen: None,
            waiting_for: None,
            first_login: None,
            details: None,
            refusal: None,
        }
    }

    /// Logs in with `method` instead of the strongest offered.
    pub(crate) fn with_method(mut self, method: Option<LoginMethod>) -> Self {
        self.chosen = method;
        self
    }

    fn send_login(&mut self, client: &mut Client) -> Result<Flow> {
        let method = login_method(self.chosen, client);
        self.method = Some(method);
        let (user, password) = (self.user, self.password);
        let sasl = |mechanism| Command::Auth(mechanism);
        let commands = match method {
            LoginMethod::ScramSha256 => {
                vec![sasl(Mechanism::scram_sha256(
                    user,
                    password,
                    self.nonce.clone(),
                ))]
            }
            LoginMethod::ScramSha1 => {
                vec![sasl(Mechanism::scram_sha1(
                    user,
                    password,
                    self.nonce.clone(),
                ))]
            }
            LoginMethod::CramMd5 => vec![sasl(Mechanism::cram_md5(user, password))],
            LoginMethod::Apop => vec![Command::Apop { user, password }],
            LoginMethod::Plain => vec![sasl(Mechanism::plain(user, password))],
            // PASS may travel behind USER: a server that refuses USER refuses PASS too, and the caller sees
            // USER's refusal.
            LoginMethod::UserPass => vec![Command::User(user), Command::Pass(password)],
        };
        // RFC 6856 allows UTF8 only before login. A refusal is not the login's failure: messages may then come
        // down-converted, which a caller that checks sizes will see.
        if self.utf8 != Utf8::Never && client.capabilities().is_some_and(|caps| caps.utf8()) {
            client.send(Command::Utf8)?;
        }
        for command in commands {
            let id = client.send(command)?;
            self.first_login.get_or_insert(id);
            self.waiting_for = Some(id);
        }
        Ok(Flow::Continue)
    }
}

impl Login<'_> {
    /// Whether `id` is one of the login's own commands (sent after UTF8, if that was sent).
    fn is_login_command(&self, id: CommandId) -> bool {
        self.first_login.is_some_and(|first| id >= first)
    }
}

impl Exchange for Login<'_> {
    type Output = LoginMethod;

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        if client.capabilities().is_some() {
            return self.send_login(client);
        }
        self.waiting_for = Some(client.send(Command::Capa)?);
        // With the method named by the caller, nothing in CAPA's answer changes what is sent: when the server is
        // remembered to pipeline, the login goes at once, behind CAPA. (UTF8 must wait for CAPA to offer it, unless
        // the server is remembered not to.)
        let waits = matches!(
            self.utf8,
            Utf8::WhenOffered {
                wait_for_capa: true
            }
        );
        if self.chosen.is_some() && !waits && client.pipelines() {
            return self.send_login(client);
        }
        Ok(Flow::Continue)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        match event {
            // A CAPA refused only means no capabilities; a UTF8 refused, no UTF8.
            Event::Err { id, reply } if self.method.is_some() && self.is_login_command(*id) => {
                self.refusal.get_or_insert_with(|| {
                    let refusal = ServerError::from_reply(reply);
                    match &self.details {
                        Some(details) => refusal.with_details(details),
                        None => refusal,
                    }
                });
            }
            Event::AuthFailureDetails { details, .. } => self.details = Some(details.to_vec()),
            _ => {}
        }
        match (event.finishes(), self.method) {
            (Some(id), None) if Some(id) == self.waiting_for => Flow::Resume,
            (Some(id), Some(_)) if Some(id) == self.waiting_for => Flow::Finished,
            _ => Flow::Continue,
        }
    }

    fn resume(&mut self, client: &mut Client) -> Result<Flow> {
        self.send_login(client)
    }

    fn finish(self) -> Result<LoginMethod> {
        match (self.refusal, self.method) {
            (Some(refusal), _) => Err(Error::Server(refusal)),
            (None, Some(method)) => Ok(method),
            (None, None) => Err(Error::Closed(Some("no login was sent"))),
        }
    }
}

/// Logs in, then runs `then`: behind the credentials in the same write when the server pipelines and the login is
/// USER/PASS or APOP (one line each, answered `+OK` or `-ERR`), else once the login succeeded. A failed login ends
/// the operation with its own error at once; the answers to commands queued behind it (`-ERR`, which change
/// nothing) are read and dropped by the next call.
pub(crate) struct LoginThen<'c, O> {
    login: Login<'c>,
    /// Whether the login's last command is answered.
    login_done: bool,
    then: O,
    then_started: bool,
    then_finished: bool,
}

impl<'c, O> LoginThen<'c, O> {
    pub(crate) fn new(login: Login<'c>, then: O) -> Self {
        Self {
            login,
            login_done: false,
            then,
            then_started: false,
            then_finished: false,
        }
    }
}

impl<O: Exchange> LoginThen<'_, O> {
    /// Queues `then` behind the login's commands if the core may pipeline it there.
    fn start_behind_login(&mut self, client: &mut Client) -> Result<Flow> {
        let one_line = matches!(
            self.login.method,
            Some(LoginMethod::UserPass | LoginMethod::Apop)
        );
        if one_line && client.pipelines() {
            self.then_started = true;
            self.then_finished = self.then.start(client)? == Flow::Finished;
        }
        Ok(Flow::Continue)
    }
}

impl<O: Exchange> Exchange for LoginThen<'_, O> {
    type Output = (LoginMethod, O::Output);

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        self.login.start(client)?;
        if self.login.method.is_some() {
            return self.start_behind_login(client);
        }
        Ok(Flow::Continue)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        if !self.login_done {
            return match self.login.on_event(event) {
                Flow::Finished if self.login.refusal.is_some() => Flow::Finished,
                Flow::Finished => {
                    self.login_done = true;
                    match (self.then_started, self.then_finished) {
                        (false, _) => Flow::Resume,
                        (true, true) => Flow::Finished,
                        (true, false) => Flow::Continue,
                    }
                }
                other => other,
            };
        }
        self.then.on_event(event)
    }

    fn resume(&mut self, client: &mut Client) -> Result<Flow> {
        if !self.login_done {
            // The CAPA asked before the login is answered: the login goes now.
            self.login.resume(client)?;
            return self.start_behind_login(client);
        }
        if !self.then_started {
            self.then_started = true;
            return self.then.start(client);
        }
        self.then.resume(client)
    }

    fn closes_session(&self) -> bool {
        self.then.closes_session()
    }

    fn finish(self) -> Result<(LoginMethod, O::Output)> {
        let method = self.login.finish()?;
        Ok((method, self.then.finish()?))
    }
}
