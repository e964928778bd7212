//! The output buffer: command bytes waiting to be written, which command each belongs to, and where secrets start.

use alloc::vec::Vec;
use core::fmt;

use crate::event::{CommandId, Transmit};

/// Where one command's bytes (a command line, or its answer to a SASL challenge) end in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) end: usize,
    pub(crate) id: CommandId,
    /// Where a credential starts within it, if it carries one.
    pub(crate) secret_from: Option<usize>,
}

/// Bytes owed to the server, `written..buf.len()` still to go.
#[derive(Default)]
pub(crate) struct Outgoing {
    buf: Vec<u8>,
    written: usize,
    /// One per command line or answer, in order; those before `first_segment` are written.
    segments: Vec<Segment>,
    first_segment: usize,
    /// The end of the last answer to a SASL challenge: while it is not written, no more input is parsed, so that
    /// what is written never depends on how the server's bytes were split.
    answer_end: usize,
    /// The newest command whose bytes are all written.
    sent_through: Option<CommandId>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("pending", &self.transmit())
            .field("sent_through", &self.sent_through)
            .finish_non_exhaustive()
    }
}

impl Outgoing {
    /// Whether every byte has been written.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.written == self.buf.len()
    }

    /// Octets not yet written.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Whether an answer to a SASL challenge is still unwritten.
    #[inline]
    pub(crate) fn owes_answer(&self) -> bool {
        self.answer_end > self.written
    }

    pub(crate) fn sent_through(&self) -> Option<CommandId> {
        self.sent_through
    }

    /// Appends a command line; a credential starts at `secret_from` within it.
    pub(crate) fn push_line(&mut self, id: CommandId, line: &[u8], secret_from: Option<usize>) {
        let secret_from = secret_from.map(|from| self.buf.len() + from);
        self.push(id, line, secret_from);
    }

    /// Appends the answer to a SASL challenge: `secret` unless it is the `*` that cancels.
    pub(crate) fn push_answer(&mut self, id: CommandId, answer: &[u8], secret: bool) {
        let secret_from = secret.then_some(self.buf.len());
        self.push(id, answer, secret_from);
        self.answer_end = self.buf.len();
    }

    fn push(&mut self, id: CommandId, bytes: &[u8], secret_from: Option<usize>) {
        self.buf.extend_from_slice(bytes);
        self.segments.push(Segment {
            end: self.buf.len(),
            id,
            secret_from,
        });
    }

    /// What is still to be written.
    pub(crate) fn transmit(&self) -> Transmit<'_> {
        let segments = &self.segments[self.first_segment..];
        Transmit {
            bytes: &self.buf[self.written..],
            redact_from: segments
                .iter()
                .find_map(|segment| segment.secret_from)
                .map(|from| from.saturating_sub(self.written)),
            segments,
            offset: self.written,
        }
    }

    /// `n` more octets were written (at most what is pending).
    pub(crate) fn consume(&mut self, n: usize) {
        self.written += n.min(self.len());
        while let Some(segment) = self.segments.get(self.first_segment) {
            if segment.end > self.written {
                break;
            }
            self.sent_through = Some(segment.id);
            self.first_segment += 1;
        }
        if self.is_empty() {
            // Everything written: start over, so the buffer never grows past one batch and secrets do not linger.
            self.buf.fill(0);
            self.buf.clear();
            self.written = 0;
            self.segments.clear();
            self.first_segment = 0;
            self.answer_end = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    fn id(n: u64) -> CommandId {
        CommandId::new(n)
    }

    #[test]
    fn a_trace_hides_each_credential_to_the_end_of_its_line_and_shows_the_commands_behind_it() {
        let mut out = Outgoing::default();
        out.push_line(id(1), b"USER alice\r\n", None);
        out.push_line(id(2), b"PASS s3cret\r\n", Some(5));
        out.push_line(id(3), b"STAT\r\n", None);
        out.push_answer(id(4), b"c2VjcmV0\r\n", true);
        out.push_line(id(5), b"QUIT\r\n", None);
        let all = out.transmit();
        assert_eq!(
            all.redacted().to_string(),
            "USER alice | PASS <redacted> | STAT | <redacted> | QUIT"
        );
        assert!(all.is_sensitive());
        // Written up to the middle of the password: what is left of it stays hidden.
        out.consume(12 + 7);
        let rest = out.transmit();
        assert_eq!(rest.bytes(), b"cret\r\nSTAT\r\nc2VjcmV0\r\nQUIT\r\n");
        assert_eq!(
            rest.redacted().to_string(),
            "<redacted> | STAT | <redacted> | QUIT"
        );
    }
}
