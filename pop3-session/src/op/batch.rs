//! Operations of many commands sent together (pipelined when the server allows it), each event handed on with the
//! owner of the command it answers.

use std::io;

use pop3_proto::{Client, Command, CommandId, Event, MsgNum, SendError};

use super::{Exchange, Flow};
use crate::error::{Error, Result, ServerError};
use crate::listing::{Listing, ListingCollector, ListingPart, Part};

/// Takes the events of a batch, each with its command's owner.
pub(crate) trait Each<T>: Send {
    type Output;
    fn event(&mut self, owner: T, event: &Event<'_>);
    fn finish(self) -> Result<Self::Output>;
}

/// Commands sent together; `owners[i]` owns `commands[i]`.
pub(crate) struct Batch<'c, T, E> {
    commands: Vec<Command<'c>>,
    owners: Vec<T>,
    first: Option<CommandId>,
    last: Option<CommandId>,
    /// A command the core refused after earlier ones were queued: the error once those are answered.
    refused: Option<SendError>,
    each: E,
}

impl<'c, T, E> Batch<'c, T, E> {
    fn new(owners: Vec<T>, commands: Vec<Command<'c>>, each: E) -> Self {
        Self {
            commands,
            owners,
            first: None,
            last: None,
            refused: None,
            each,
        }
    }
}

/// One command per message; a message number of 0 refuses the whole batch before anything is sent.
fn per_message(
    msgs: &[u64],
    command: fn(MsgNum) -> Command<'static>,
) -> Result<Vec<Command<'static>>> {
    msgs.iter()
        .map(|&msg| MsgNum::new(msg).map(command))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Misuse(SendError::from(e)))
}

impl<T: Copy + Send, E: Each<T>> Exchange for Batch<'_, T, E> {
    type Output = E::Output;

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        for command in self.commands.drain(..) {
            match client.send(command) {
                Ok(id) => {
                    self.first.get_or_insert(id);
                    self.last = Some(id);
                }
                // What was already queued is still answered, so no later call reads it as its own.
                Err(refused) if self.last.is_some() => {
                    self.refused = Some(refused);
                    break;
                }
                Err(refused) => return Err(refused.into()),
            }
        }
        Ok(if self.last.is_none() {
            Flow::Finished
        } else {
            Flow::Continue
        })
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        let (Some(first), Some(id)) = (self.first, event.id()) else {
            return Flow::Continue;
        };
        // Ids are handed out one after another, so an event's owner is found by subtraction.
        let owner = id
            .get()
            .checked_sub(first.get())
            .and_then(|i| self.owners.get(usize::try_from(i).ok()?));
        if let Some(&owner) = owner {
            self.each.event(owner, event);
        }
        if event.finishes().is_some() && event.finishes() == self.last {
            Flow::Finished
        } else {
            Flow::Continue
        }
    }

    fn finish(self) -> Result<E::Output> {
        match self.refused {
            Some(refused) => Err(refused.into()),
            None => self.each.finish(),
        }
    }
}

/// RETR of many messages, each part handed to the caller's function.
pub(crate) type RetrMany<F> = Batch<'static, u64, Parts<F>>;

/// Hands each message's parts to the caller; after its first failure, the rest of every answer is read and dropped.
pub(crate) struct Parts<F> {
    on_part: F,
    failed: Option<io::Error>,
}

impl<F: FnMut(u64, Part<'_>) -> io::Result<()> + Send> Each<u64> for Parts<F> {
    type Output = ();
    fn event(&mut self, msg: u64, event: &Event<'_>) {
        if self.failed.is_some() {
            return;
        }
        let part = match event {
            Event::Body { chunk, .. } => Part::Data(chunk),
            Event::Done { .. } => Part::End,
            Event::Err { reply, .. } => Part::Refused(ServerError::from_reply(reply)),
            _ => return,
        };
        self.failed = (self.on_part)(msg, part).err();
    }
    fn finish(self) -> Result<()> {
        self.failed.map_or(Ok(()), |e| Err(Error::Sink(e)))
    }
}

impl<F> RetrMany<F> {
    pub(crate) fn retr(msgs: &[u64], on_part: F) -> Result<Self> {
        Ok(Batch::new(
            msgs.to_vec(),
            per_message(msgs, Command::Retr)?,
            Parts {
                on_part,
                failed: None,
            },
        ))
    }
}

/// DELE of many messages: each one's outcome, in order.
pub(crate) type DeleMany = Batch<'static, u64, Outcomes>;

/// Each command ends with exactly one `Done` or `Err`, in the order sent, so the outcomes line up with the
/// messages even when a number repeats.
#[derive(Default)]
pub(crate) struct Outcomes(Vec<std::result::Result<(), ServerError>>);

impl Each<u64> for Outcomes {
    type Output = Vec<std::result::Result<(), ServerError>>;
    fn event(&mut self, _: u64, event: &Event<'_>) {
        match event {
            Event::Done { .. } => self.0.push(Ok(())),
            Event::Err { reply, .. } => self.0.push(Err(ServerError::from_reply(reply))),
            _ => {}
        }
    }
    fn finish(self) -> Result<Self::Output> {
        Ok(self.0)
    }
}

impl DeleMany {
    pub(crate) fn dele(msgs: &[u64]) -> Result<Self> {
        Ok(Batch::new(
            msgs.to_vec(),
            per_message(msgs, Command::Dele)?,
            Outcomes::default(),
        ))
    }
}

/// LIST and UIDL together, merged by message number.
pub(crate) type ListingBoth = Batch<'static, ListingPart, ListingCollector>;

impl Each<ListingPart> for ListingCollector {
    type Output = Vec<Listing>;
    fn event(&mut self, part: ListingPart, event: &Event<'_>) {
        self.add(part, event);
    }
    fn finish(self) -> Result<Vec<Listing>> {
        Self::finish(self)
    }
}

impl ListingBoth {
    pub(crate) fn both(limit: u64) -> Self {
        Batch::new(
            vec![ListingPart::List, ListingPart::Uidl],
            vec![Command::List(None), Command::Uidl(None)],
            ListingCollector::new(limit),
        )
    }
}

/// Asks CAPA first when the capabilities are not known, so that a batch is pipelined whenever the server allows it
/// without the caller having to know that pipelining depends on CAPA (RFC 2449 §6.6).
pub(crate) struct WithCapabilities<O> {
    inner: O,
    capa: Option<CommandId>,
    ask: bool,
}

impl<O> WithCapabilities<O> {
    pub(crate) fn new(inner: O, ask: bool) -> Self {
        Self {
            inner,
            capa: None,
            ask,
        }
    }
}

impl<O: Exchange> Exchange for WithCapabilities<O> {
    type Output = O::Output;

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        if self.ask && client.capabilities().is_none() {
            self.capa = Some(client.send(Command::Capa)?);
            return Ok(Flow::Continue);
        }
        self.ask = false;
        self.inner.start(client)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        match self.capa {
            // Answered either way: a server without CAPA only means no pipelining.
            Some(capa) if event.finishes() == Some(capa) => Flow::Resume,
            Some(capa) if event.id() == Some(capa) => Flow::Continue,
            _ => self.inner.on_event(event),
        }
    }

    fn resume(&mut self, client: &mut Client) -> Result<Flow> {
        if self.capa.take().is_some() {
            return self.inner.start(client);
        }
        self.inner.resume(client)
    }

    fn closes_session(&self) -> bool {
        self.inner.closes_session()
    }

    fn finish(self) -> Result<O::Output> {
        self.inner.finish()
    }
}
