//! Operations of one command: the command, and a collector that makes its events into a result.

use pop3_proto::{Capabilities, Client, Command, CommandId, Event};

use super::{Exchange, Flow};
use crate::error::{Error, Result, ServerError};
use crate::listing::{self, Entries, ScanListing, UniqueIdListing};

/// Makes the events of one successful answer into a result.
pub(crate) trait Collect: Send {
    type Output;

    /// Takes an event between `+OK` and the end: [`Flow::Continue`], or [`Flow::Deliver`] for a body chunk that goes
    /// to the caller's sink.
    fn take(&mut self, event: &Event<'_>) -> Flow;

    /// Adds what the collector learnt to a `-ERR` (OAuth error details).
    fn refine(&mut self, refusal: ServerError) -> ServerError {
        refusal
    }

    fn finish(self) -> Result<Self::Output>;
}

/// One command and its collector.
pub(crate) struct Single<'c, C> {
    command: Option<Result<Command<'c>>>,
    id: Option<CommandId>,
    /// `-ERR`, or a wrong answer (then the events before it are dropped with the collector).
    failure: Option<Error>,
    collector: C,
}

impl<'c, C: Collect> Single<'c, C> {
    pub(crate) fn new(command: Result<Command<'c>>, collector: C) -> Self {
        Self {
            command: Some(command),
            id: None,
            failure: None,
            collector,
        }
    }
}

impl<C: Collect> Exchange for Single<'_, C> {
    type Output = C::Output;

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        let command = self
            .command
            .take()
            .ok_or(Error::Closed(Some("the command was already sent")))??;
        self.id = Some(client.send(command)?);
        Ok(Flow::Continue)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        if event.id() != self.id {
            return Flow::Continue;
        }
        match event {
            Event::Err { reply, .. } => {
                let refusal = self.collector.refine(ServerError::from_reply(reply));
                self.failure = Some(Error::Server(refusal));
                Flow::Finished
            }
            Event::Invalid { error, .. } => {
                self.failure = Some(Error::Invalid(error.clone()));
                Flow::Finished
            }
            Event::Done { .. } => Flow::Finished,
            other => self.collector.take(other),
        }
    }

    fn finish(self) -> Result<C::Output> {
        match self.failure {
            Some(failure) => Err(failure),
            None => self.collector.finish(),
        }
    }
}

/// Nothing beyond `+OK` (USER, PASS, DELE, NOOP…).
pub(crate) struct Nothing;

impl Collect for Nothing {
    type Output = ();
    fn take(&mut self, _: &Event<'_>) -> Flow {
        Flow::Continue
    }
    fn finish(self) -> Result<()> {
        Ok(())
    }
}

/// STAT's drop listing.
#[derive(Default)]
pub(crate) struct Stat(Option<listing::Stat>);

impl Collect for Stat {
    type Output = listing::Stat;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        if let Event::Stat { count, octets, .. } = *event {
            self.0 = Some(listing::Stat { count, octets });
        }
        Flow::Continue
    }
    fn finish(self) -> Result<listing::Stat> {
        self.0.ok_or(Error::Closed(Some("no STAT answer")))
    }
}

/// The one entry of `LIST n` or `UIDL n`.
pub(crate) struct One<T> {
    entry: Option<T>,
    of: fn(&Event<'_>) -> Option<T>,
    missing: &'static str,
}

impl<T: Send> Collect for One<T> {
    type Output = T;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        if self.entry.is_none() {
            self.entry = (self.of)(event);
        }
        Flow::Continue
    }
    fn finish(self) -> Result<T> {
        self.entry.ok_or(Error::Closed(Some(self.missing)))
    }
}

/// `LIST n`'s one scan listing.
pub(crate) type ListOne = One<ScanListing>;
/// `UIDL n`'s one unique-id listing.
pub(crate) type UidlOne = One<UniqueIdListing>;

impl ListOne {
    pub(crate) fn new() -> Self {
        Self {
            entry: None,
            of: listing::scan,
            missing: "no LIST answer",
        }
    }
}

impl UidlOne {
    pub(crate) fn new() -> Self {
        Self {
            entry: None,
            of: listing::unique_id,
            missing: "no UIDL answer",
        }
    }
}

/// A whole listing read into memory, bounded in entries.
pub(crate) struct Listed<T> {
    entries: Entries<T>,
    entry: fn(&Event<'_>) -> Option<T>,
    too_long: Option<Error>,
}

impl<T> Listed<T> {
    fn new(limit: u64, entry: fn(&Event<'_>) -> Option<T>) -> Self {
        Self {
            entries: Entries::new(limit),
            entry,
            too_long: None,
        }
    }
}

impl<T: Send> Collect for Listed<T> {
    type Output = Vec<T>;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        if let Err(error) = self.entries.take(event, self.entry) {
            self.too_long.get_or_insert(error);
        }
        Flow::Continue
    }
    fn finish(self) -> Result<Vec<T>> {
        match self.too_long {
            Some(error) => Err(error),
            None => Ok(self.entries.into_vec()),
        }
    }
}

/// LIST's scan listings.
pub(crate) type ListAll = Listed<ScanListing>;
/// UIDL's unique-id listings.
pub(crate) type UidlAll = Listed<UniqueIdListing>;
/// LANG's lines.
pub(crate) type Lang = Listed<Vec<u8>>;

impl ListAll {
    pub(crate) fn bounded(limit: u64) -> Self {
        Self::new(limit, listing::scan)
    }
}

impl UidlAll {
    pub(crate) fn bounded(limit: u64) -> Self {
        Self::new(limit, listing::unique_id)
    }
}

impl Lang {
    pub(crate) fn bounded(limit: u64) -> Self {
        Self::new(limit, listing::line)
    }
}

/// CAPA's capabilities.
#[derive(Default)]
pub(crate) struct Capa(Option<Capabilities>);

impl Collect for Capa {
    type Output = Capabilities;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        if let Event::Capabilities { capabilities, .. } = event {
            self.0 = Some(Capabilities::clone(capabilities));
        }
        Flow::Continue
    }
    fn finish(self) -> Result<Capabilities> {
        Ok(self.0.unwrap_or_default())
    }
}

/// A body read into memory, up to a limit.
pub(crate) struct Memory {
    bytes: Vec<u8>,
    limit: u64,
    too_large: bool,
}

impl Memory {
    pub(crate) fn bounded(limit: u64) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            too_large: false,
        }
    }

    /// Appends a chunk, unless the whole would pass the limit; then the rest of the body is dropped.
    fn push(&mut self, chunk: &[u8]) {
        if self.too_large || (self.bytes.len() + chunk.len()) as u64 > self.limit {
            self.too_large = true;
        } else {
            self.bytes.extend_from_slice(chunk);
        }
    }
}

impl Collect for Memory {
    type Output = Vec<u8>;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        if let Event::Body { chunk, .. } = event {
            self.push(chunk);
        }
        Flow::Continue
    }
    fn finish(self) -> Result<Vec<u8>> {
        if self.too_large {
            return Err(Error::TooLarge { limit: self.limit });
        }
        Ok(self.bytes)
    }
}

/// A body handed to the caller's sink; the result is the octets delivered.
#[derive(Default)]
pub(crate) struct Streamed(u64);

impl Collect for Streamed {
    type Output = u64;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        match event {
            Event::Body { chunk, .. } => {
                self.0 += chunk.len() as u64;
                Flow::Deliver
            }
            _ => Flow::Continue,
        }
    }
    fn finish(self) -> Result<u64> {
        Ok(self.0)
    }
}

/// The answer to a raw command: the status text and, if multi-line, the body.
pub(crate) struct Raw {
    text: Vec<u8>,
    body: Memory,
}

impl Raw {
    pub(crate) fn bounded(limit: u64) -> Self {
        Self {
            text: Vec::new(),
            body: Memory::bounded(limit),
        }
    }
}

impl Collect for Raw {
    type Output = listing::RawResponse;
    fn take(&mut self, event: &Event<'_>) -> Flow {
        match event {
            Event::Ok { reply, .. } => self.text = reply.text.to_vec(),
            Event::Body { chunk, .. } => self.body.push(chunk),
            _ => {}
        }
        Flow::Continue
    }
    fn finish(self) -> Result<listing::RawResponse> {
        Ok(listing::RawResponse {
            text: self.text,
            body: self.body.finish()?,
        })
    }
}

/// AUTH: nothing on success; on `-ERR`, the OAuth error details the server sent before it.
#[derive(Default)]
pub(crate) struct Auth(Option<Vec<u8>>);

impl Collect for Auth {
    type Output = ();
    fn take(&mut self, event: &Event<'_>) -> Flow {
        if let Event::AuthFailureDetails { details, .. } = event {
            self.0 = Some(details.to_vec());
        }
        Flow::Continue
    }
    fn refine(&mut self, refusal: ServerError) -> ServerError {
        match self.0.take() {
            Some(details) => refusal.with_details(&details),
            None => refusal,
        }
    }
    fn finish(self) -> Result<()> {
        Ok(())
    }
}

/// QUIT: the session ends whatever the answer, and the driver closes the connection.
pub(crate) struct Quit(Single<'static, Nothing>);

impl Quit {
    pub(crate) fn new() -> Self {
        Self(Single::new(Ok(Command::Quit), Nothing))
    }
}

impl Exchange for Quit {
    type Output = ();
    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        self.0.start(client)
    }
    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        self.0.on_event(event)
    }
    fn closes_session(&self) -> bool {
        true
    }
    fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// An operation with QUIT queued behind it: when the server pipelines, QUIT travels in the same write as the
/// operation's last commands, so ending the session costs no round trip of its own. The session ends whatever the
/// answers; QUIT's `-ERR` (the server could not apply the deletions) is the result's error.
pub(crate) struct ThenQuit<O> {
    inner: O,
    inner_finished: bool,
    quit: Quit,
    quit_finished: bool,
}

impl<O> ThenQuit<O> {
    pub(crate) fn new(inner: O) -> Self {
        Self {
            inner,
            inner_finished: false,
            quit: Quit::new(),
            quit_finished: false,
        }
    }

    fn flow(&self) -> Flow {
        if self.inner_finished && self.quit_finished {
            Flow::Finished
        } else {
            Flow::Continue
        }
    }
}

impl<O: Exchange> Exchange for ThenQuit<O> {
    type Output = O::Output;

    fn start(&mut self, client: &mut Client) -> Result<Flow> {
        self.inner_finished = self.inner.start(client)? == Flow::Finished;
        self.quit.start(client)?;
        Ok(Flow::Continue)
    }

    fn on_event(&mut self, event: &Event<'_>) -> Flow {
        if event.id().is_some() && event.id() == self.quit.0.id {
            self.quit_finished |= self.quit.on_event(event) == Flow::Finished;
            return self.flow();
        }
        match self.inner.on_event(event) {
            Flow::Finished => {
                self.inner_finished = true;
                self.flow()
            }
            other => other,
        }
    }

    fn resume(&mut self, client: &mut Client) -> Result<Flow> {
        self.inner_finished = self.inner.resume(client)? == Flow::Finished;
        Ok(self.flow())
    }

    fn closes_session(&self) -> bool {
        true
    }

    fn finish(self) -> Result<O::Output> {
        let output = self.inner.finish();
        self.quit.finish()?;
        output
    }
}
