//! Setting a session up: the greeting, then TLS as [`Security`] says; and STLS asked for later.

use pop3_proto::{Client, Command, CommandId, Event};

use super::single::{Nothing, Single};
use super::{Exchange, Flow};
use crate::error::{Error, Result, ServerError, ServerRefusal};
use crate::settings::Security;

/// Where the setup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    /// CAPA, to learn whether STLS is offered ([`Security::StartTlsIfAvailable`]).
    Capa(CommandId),
    Stls(CommandId),
}

/// Waits for the greeting, then upgrades to TLS as `security` says. With implicit TLS the driver sets TLS up
/// before the first byte is read.
pub(crate) struct Greeting {
    security: Security,
    stage: Stage,
    error: Option<Error>,
}

impl Greeting {
    pub(crate) fn new(security: Security) -> Self {
        Self {
            security,
            stage: Stage::Greeting,
            error: None,
        }
    }
}

impl Exchange for Greeting {
    type Output = ();

    fn handshake_first(&self) -> bool {
        self.security == Security::Implicit
    }

    fn start(&mut self, _: &mut Client) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        match (self.stage, event) {
            (Stage::Greeting, Event::Greeting { ok: false, reply }) => {
                self.error = Some(Error::Server(ServerError::from_reply(reply)));
                Flow::Finished
            }
            (Stage::Greeting, Event::Greeting { ok: true, .. }) => match self.security {
                Security::StartTls | Security::StartTlsIfAvailable => Flow::Resume,
                Security::Implicit | Security::Plaintext => Flow::Finished,
            },
            // A `-ERR` to CAPA means "no STLS".
            (Stage::Capa(id), Event::Done { id: done } | Event::Err { id: done, .. })
                if *done == id =>
            {
                Flow::Resume
            }
            (Stage::Stls(id), Event::Err { id: refused, reply }) if *refused == id => {
                // Only a caller who asked for TLS whatever happens gets the refusal as an error.
                if self.security == Security::StartTls {
                    let refusal = ServerRefusal::Refused(ServerError::from_reply(reply));
                    self.error = Some(Error::TlsUnavailable(refusal));
                }
                Flow::Finished
            }
            // On `+OK` the core asks for the handshake, then asks CAPA again over TLS: the call ends with that
            // CAPA's answer.
            _ => Flow::Continue,
        }
    }

    fn resume(&mut self, client: &mut Client) -> Result<Flow> {
        let stls_wanted = match (self.stage, self.security) {
            (Stage::Greeting, Security::StartTlsIfAvailable) => {
                self.stage = Stage::Capa(client.send(Command::Capa)?);
                return Ok(Flow::Continue);
            }
            (Stage::Capa(_), _) => client.capabilities().is_some_and(|caps| caps.stls()),
            _ => true,
        };
        if !stls_wanted {
            return Ok(Flow::Finished);
        }
        self.stage = Stage::Stls(client.send(Command::Stls)?);
        Ok(Flow::Continue)
    }

    fn finish(self) -> Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

/// STLS asked for by the caller: upgrades to TLS, then asks CAPA again over it.
pub(crate) struct StartTls(Single<'static, Nothing>);

impl StartTls {
    pub(crate) fn new() -> Self {
        Self(Single::new(Ok(Command::Stls), Nothing))
    }
}

impl Exchange for StartTls {
    type Output = ();

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        self.0.start(client)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        match self.0.on_event(event) {
            // On `+OK`, TLS and the CAPA over it follow; the call ends with that CAPA's answer.
            Flow::Finished if matches!(event, Event::Done { .. }) => Flow::Continue,
            flow => flow,
        }
    }

    fn finish(self) -> Result<()> {
        self.0.finish().map_err(|error| match error {
            Error::Server(refusal) => Error::TlsUnavailable(ServerRefusal::Refused(refusal)),
            other => other,
        })
    }
}
