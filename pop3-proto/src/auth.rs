//! A running AUTH exchange as the client sees it: which answer each server challenge gets (RFC 5034 §4).

use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::Error;
use crate::sasl::{Exchange, SaslError};

pub(crate) struct SaslRun {
    pub(crate) exchange: Exchange,
    /// The initial response, when it could not go on the AUTH line: the answer to the first challenge.
    deferred: Option<Vec<u8>>,
    steps: usize,
    pub(crate) cancelled: bool,
}

impl fmt::Debug for SaslRun {
    // The deferred initial response holds the credentials (a PLAIN password, an OAuth token).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslRun")
            .field("exchange", &self.exchange)
            .field("deferred", &self.deferred.as_ref().map(|_| "<redacted>"))
            .field("steps", &self.steps)
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

/// What the client writes in answer to a challenge.
pub(crate) enum Answer {
    /// The base64 line, CRLF included: a secret.
    Response(Vec<u8>),
    /// `*`: the client cannot answer and cancels the exchange.
    Cancel(SaslError),
}

impl SaslRun {
    pub(crate) fn new(exchange: Exchange, deferred: Option<Vec<u8>>) -> Self {
        Self {
            exchange,
            deferred,
            steps: 0,
            cancelled: false,
        }
    }

    /// The answer to one challenge (the text after `+ `, still base64).
    ///
    /// # Errors
    /// [`Error::UnexpectedContinuation`] for a challenge after the client cancelled.
    pub(crate) fn answer(&mut self, challenge: &[u8], max_steps: usize) -> Result<Answer, Error> {
        if self.cancelled {
            return Err(Error::UnexpectedContinuation);
        }
        self.steps += 1;
        let response = if self.steps > max_steps {
            Err(SaslError::TooManySteps)
        } else if let Some(initial) = self.deferred.take() {
            Ok(initial)
        } else {
            self.exchange.step(challenge)
        };
        Ok(match response {
            Ok(response) => {
                let mut line = BASE64.encode(response).into_bytes();
                line.extend_from_slice(b"\r\n");
                Answer::Response(line)
            }
            Err(reason) => {
                self.cancelled = true;
                Answer::Cancel(reason)
            }
        })
    }
}
