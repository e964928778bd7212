//! Message numbers checked against the question and against the maildrop: an answer about another message, or a
//! listing out of order or beyond the maildrop, must not reach a caller that deletes by number.

use crate::error::InvalidReply;
use crate::state::Verb;

/// What the session knows about message numbering. Numbers stay fixed for the whole session (RFC 1939 §4): DELE
/// marks a message deleted without renumbering the others, so the highest valid number is the count STAT reports
/// plus the messages deleted before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbering {
    /// The highest message number, once a STAT answered.
    highest: Option<u64>,
    /// Messages marked deleted; `None` once a raw command may have deleted some without the client knowing.
    deleted: Option<u64>,
}

impl Default for Numbering {
    fn default() -> Self {
        Self {
            highest: None,
            deleted: Some(0),
        }
    }
}

impl Numbering {
    /// A `+OK` to `verb` arrived (for STAT, with its count).
    pub(crate) fn note_ok(&mut self, verb: Verb, stat_count: Option<u64>) {
        match verb {
            Verb::Stat => {
                self.highest = stat_count
                    .zip(self.deleted)
                    .and_then(|(count, deleted)| count.checked_add(deleted));
            }
            Verb::Dele => self.deleted = self.deleted.map(|n| n + 1),
            Verb::Rset => self.deleted = Some(0),
            Verb::Raw => {
                self.deleted = None;
            }
            _ => {}
        }
    }

    /// Checks one scan or unique-id listing: the number asked about (`LIST n`), the previous entry of a full
    /// listing, and the maildrop's size.
    #[inline]
    pub(crate) fn check(
        &self,
        asked: Option<u64>,
        previous: Option<u64>,
        msg: u64,
    ) -> Result<(), InvalidReply> {
        if let Some(asked) = asked.filter(|&asked| asked != msg) {
            return Err(InvalidReply::WrongMessage {
                asked,
                answered: msg,
            });
        }
        if let Some(previous) = previous.filter(|&previous| msg <= previous) {
            return Err(InvalidReply::OutOfOrder { previous, msg });
        }
        if let Some(count) = self.highest.filter(|&count| msg > count) {
            return Err(InvalidReply::BeyondCount { msg, count });
        }
        Ok(())
    }
}
