//! Command lines from typed commands: arguments checked, credentials marked so that traces can hide them.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::apop;
use crate::auth::SaslRun;
use crate::command::{Command, LineBuilder, MAX_COMMAND_LINE, check_text};
use crate::error::ArgumentError;
use crate::sasl::Exchange;

/// A command line ready to queue.
pub(crate) struct Encoded {
    pub(crate) line: Vec<u8>,
    /// Where a credential starts in `line`.
    pub(crate) secret_from: Option<usize>,
    /// For AUTH: the exchange the client runs with the server's challenges.
    pub(crate) sasl: Option<SaslRun>,
}

impl From<Vec<u8>> for Encoded {
    fn from(line: Vec<u8>) -> Self {
        Self {
            line,
            secret_from: None,
            sasl: None,
        }
    }
}

/// Encodes `command`. APOP needs the greeting's timestamp; AUTH puts its initial response on the line when
/// `initial_response_inline` allows it and it fits.
pub(crate) fn encode(
    command: Command<'_>,
    apop_timestamp: Option<&[u8]>,
    initial_response_inline: bool,
) -> Result<Encoded, ArgumentError> {
    let line = match command {
        Command::Apop { user, password } => {
            let timestamp = apop_timestamp.ok_or(ArgumentError::NoApopTimestamp)?;
            check_text(password.as_bytes())?;
            let digest = apop::digest(timestamp, password.as_bytes());
            let line = LineBuilder::new("APOP")
                .word(user.as_bytes())?
                .arg(&digest)?
                .finish()?;
            let secret_from = line.len() - 2 - digest.len();
            return Ok(secret(line, secret_from));
        }
        Command::Auth(mechanism) => {
            mechanism.validate().map_err(ArgumentError::Sasl)?;
            let mut exchange = Exchange::new(mechanism);
            let head = LineBuilder::new("AUTH").word(exchange.name().as_bytes())?;
            let initial = exchange.initial_response();
            let inline = initial.as_ref().and_then(|ir| {
                let encoded = if ir.is_empty() {
                    String::from("=")
                } else {
                    BASE64.encode(ir)
                };
                let fits = head.len() + 1 + encoded.len() + 2 <= MAX_COMMAND_LINE;
                (initial_response_inline && fits).then_some(encoded)
            });
            let (line, secret_from) = match &inline {
                Some(encoded) => {
                    let line = head.arg(encoded.as_bytes())?.finish()?;
                    let from = line.len() - 2 - encoded.len();
                    (line, Some(from))
                }
                None => (head.finish()?, None),
            };
            let deferred = if inline.is_some() { None } else { initial };
            return Ok(Encoded {
                line,
                secret_from,
                sasl: Some(SaslRun::new(exchange, deferred)),
            });
        }
        Command::User(name) => LineBuilder::new("USER").arg(name.as_bytes())?.finish()?,
        Command::Pass(password) => {
            return Ok(secret(
                LineBuilder::new("PASS")
                    .arg(password.as_bytes())?
                    .finish()?,
                5,
            ));
        }
        Command::Rpop(user) => {
            return Ok(secret(
                LineBuilder::new("RPOP").arg(user.as_bytes())?.finish()?,
                5,
            ));
        }
        Command::Stls => LineBuilder::new("STLS").finish()?,
        Command::Capa => LineBuilder::new("CAPA").finish()?,
        Command::Quit => LineBuilder::new("QUIT").finish()?,
        Command::Stat => LineBuilder::new("STAT").finish()?,
        Command::List(None) => LineBuilder::new("LIST").finish()?,
        Command::List(Some(msg)) => LineBuilder::new("LIST").number(msg.get()).finish()?,
        Command::Retr(msg) => LineBuilder::new("RETR").number(msg.get()).finish()?,
        Command::Dele(msg) => LineBuilder::new("DELE").number(msg.get()).finish()?,
        Command::Noop => LineBuilder::new("NOOP").finish()?,
        Command::Rset => LineBuilder::new("RSET").finish()?,
        Command::Top { msg, lines } => LineBuilder::new("TOP")
            .number(msg.get())
            .number(lines)
            .finish()?,
        Command::Uidl(None) => LineBuilder::new("UIDL").finish()?,
        Command::Uidl(Some(msg)) => LineBuilder::new("UIDL").number(msg.get()).finish()?,
        Command::Utf8 => LineBuilder::new("UTF8").finish()?,
        Command::Lang(None) => LineBuilder::new("LANG").finish()?,
        Command::Lang(Some(tag)) => LineBuilder::new("LANG").word(tag.as_bytes())?.finish()?,
        Command::Raw { line, .. } => {
            check_text(line.as_bytes())?;
            let mut bytes = Vec::from(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            if bytes.len() > MAX_COMMAND_LINE {
                return Err(ArgumentError::TooLong);
            }
            bytes
        }
    };
    Ok(line.into())
}

fn secret(line: Vec<u8>, secret_from: usize) -> Encoded {
    Encoded {
        line,
        secret_from: Some(secret_from),
        sasl: None,
    }
}
