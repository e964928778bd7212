//! The pipelining queue: commands waiting to be released, commands in flight, and the rule that releases them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use crate::event::{CommandId, Transmit};
use crate::output::Outgoing;
use crate::state::Verb;

/// A command accepted by `send`, waiting to be released.
pub(crate) struct Queued {
    pub(crate) id: CommandId,
    pub(crate) verb: Verb,
    pub(crate) multiline: bool,
    /// The message number a `LIST n` or `UIDL n` asks about.
    pub(crate) asked: Option<u64>,
    pub(crate) line: Vec<u8>,
    /// Where a credential starts in `line`.
    pub(crate) secret_from: Option<usize>,
}

impl fmt::Debug for Queued {
    // The line may hold a password or an APOP digest: shown as a trace shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = Transmit {
            bytes: &self.line,
            redact_from: self.secret_from,
            segments: &[],
            offset: 0,
        };
        f.debug_struct("Queued")
            .field("id", &self.id)
            .field("line", &format_args!("{}", shown.redacted()))
            .finish_non_exhaustive()
    }
}

/// A command released to the output, its response not complete yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    pub(crate) id: CommandId,
    pub(crate) verb: Verb,
    pub(crate) multiline: bool,
    pub(crate) asked: Option<u64>,
    len: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Pipeline {
    queue: VecDeque<Queued>,
    in_flight: VecDeque<InFlight>,
    /// Octets of the in-flight command lines, bounded by `max_in_flight_bytes` while pipelining.
    in_flight_bytes: usize,
}

impl Pipeline {
    pub(crate) fn push(&mut self, command: Queued) {
        self.queue.push_back(command);
    }

    /// Commands in flight plus those waiting to be released.
    pub(crate) fn outstanding(&self) -> usize {
        self.in_flight.len() + self.queue.len()
    }

    /// The oldest command in flight: the one the next response answers.
    pub(crate) fn front(&self) -> Option<InFlight> {
        self.in_flight.front().copied()
    }

    pub(crate) fn in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    pub(crate) fn quit_in_flight(&self) -> bool {
        self.in_flight.iter().any(|c| c.verb == Verb::Quit)
    }

    /// The response to the oldest in-flight command is complete.
    pub(crate) fn finish_front(&mut self) {
        if let Some(done) = self.in_flight.pop_front() {
            self.in_flight_bytes -= done.len;
        }
    }

    /// Forgets commands not yet released: the session ended.
    pub(crate) fn drop_queued(&mut self) {
        self.queue.clear();
    }

    /// The verbs in flight and queued, oldest first.
    pub(crate) fn verbs(&self) -> impl Iterator<Item = Verb> + '_ {
        self.in_flight
            .iter()
            .map(|c| c.verb)
            .chain(self.queue.iter().map(|c| c.verb))
    }

    /// Moves queued commands to the output as far as the policy allows: with `pipelining`, commands follow each
    /// other up to `max_in_flight_bytes` and only strict barriers go out alone; without it, barriers and
    /// credentials always go out alone.
    pub(crate) fn release(
        &mut self,
        pipelining: bool,
        max_in_flight_bytes: usize,
        out: &mut Outgoing,
    ) {
        let alone = |verb: Verb, secret: bool| {
            if pipelining {
                verb.is_strict_barrier()
            } else {
                verb.is_barrier() || secret
            }
        };
        while let Some(next) = self.queue.front() {
            let next_alone = alone(next.verb, next.secret_from.is_some());
            let may_go = match self.in_flight.back() {
                None => !next_alone || out.is_empty(),
                Some(last) => {
                    pipelining
                        && !next_alone
                        && !last.verb.is_strict_barrier()
                        && last.verb != Verb::Quit
                        && self.in_flight_bytes + next.line.len() <= max_in_flight_bytes
                }
            };
            if !may_go {
                break;
            }
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            out.push_line(next.id, &next.line, next.secret_from);
            self.in_flight_bytes += next.line.len();
            self.in_flight.push_back(InFlight {
                id: next.id,
                verb: next.verb,
                multiline: next.multiline,
                asked: next.asked,
                len: next.line.len(),
            });
            if next_alone {
                break;
            }
        }
    }
}
