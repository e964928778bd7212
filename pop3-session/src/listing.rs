//! What listings are made of (STAT, LIST, UIDL, both together, LANG), and collecting them into memory, each bounded
//! in entries: a server that never ends its listing gets an error, not all the memory.

use std::collections::HashMap;

use pop3_proto::Event;

use crate::error::{Error, Result, ServerError};

/// A scan listing: a message and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanListing {
    /// The message number.
    pub msg: u64,
    /// Its size in octets, as the server counts it.
    pub octets: u64,
}

/// A unique-id listing: a message and its UIDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueIdListing {
    /// The message number.
    pub msg: u64,
    /// The unique id: 1 to 70 printable ASCII characters. Not safe as a file name as it is (it may hold `/`).
    pub uid: String,
}

/// The answer to a raw command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status line's text after `+OK`.
    pub text: Vec<u8>,
    /// The multi-line body, dot-unstuffed, if the command was declared multi-line.
    pub body: Vec<u8>,
}

/// A piece of one message in [`Session::retr_many`](crate::Session::retr_many).
#[derive(Debug)]
#[non_exhaustive]
pub enum Part<'a> {
    /// The next octets of the message, dot-unstuffed.
    Data(&'a [u8]),
    /// The message is complete.
    End,
    /// The server refused this message (`-ERR`); the others go on.
    Refused(ServerError),
}

/// A drop listing: what STAT says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Messages in the maildrop, not counting deleted ones.
    pub count: u64,
    /// Their total size in octets.
    pub octets: u64,
}

/// The entries of one listing answer, at most `limit` of them.
#[derive(Debug)]
pub(crate) struct Entries<T> {
    items: Vec<T>,
    limit: u64,
}

impl<T> Entries<T> {
    /// No entries yet; at most `limit` to come.
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            items: Vec::new(),
            limit,
        }
    }

    /// Adds what `entry` makes of `event`, if anything.
    ///
    /// # Errors
    /// [`Error::ListingTooLong`] once `limit` entries are held; the caller reads the rest of the answer and drops it.
    pub(crate) fn take(
        &mut self,
        event: &Event<'_>,
        entry: impl FnOnce(&Event<'_>) -> Option<T>,
    ) -> Result<()> {
        let Some(item) = entry(event) else {
            return Ok(());
        };
        if self.items.len() as u64 >= self.limit {
            return Err(Error::ListingTooLong { limit: self.limit });
        }
        self.items.push(item);
        Ok(())
    }

    /// The entries, in the server's order.
    pub(crate) fn into_vec(self) -> Vec<T> {
        self.items
    }
}

/// A LIST entry.
pub(crate) fn scan(event: &Event<'_>) -> Option<ScanListing> {
    match *event {
        Event::Scan { msg, octets, .. } => Some(ScanListing { msg, octets }),
        _ => None,
    }
}

/// A UIDL entry.
pub(crate) fn unique_id(event: &Event<'_>) -> Option<UniqueIdListing> {
    match *event {
        Event::UniqueId { msg, uid, .. } => Some(UniqueIdListing {
            msg,
            uid: uid.to_owned(),
        }),
        _ => None,
    }
}

/// A line of a multi-line LANG answer.
pub(crate) fn line(event: &Event<'_>) -> Option<Vec<u8>> {
    match event {
        Event::Line { line, .. } => Some(line.to_vec()),
        _ => None,
    }
}

/// One message of [`Session::listing`](crate::Session::listing): LIST's size and, if the server answered UIDL, its
/// unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The message number.
    pub msg: u64,
    /// Its size in octets, as the server counts it.
    pub octets: u64,
    /// Its unique id (1 to 70 printable ASCII characters); `None` if the server refused UIDL or left this
    /// message out of it. Not safe as a file name as it is (it may hold `/`).
    pub uid: Option<String>,
}

/// Which command of the pair an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListingPart {
    List,
    Uidl,
}

/// Collects the events of a LIST and a UIDL sent together, at most `limit` entries of each.
#[derive(Debug)]
pub(crate) struct ListingCollector {
    scans: Entries<ScanListing>,
    uids: Entries<UniqueIdListing>,
    list_refused: Option<ServerError>,
    /// A listing too long, or a wrong answer to either command.
    failed: Option<Error>,
}

impl ListingCollector {
    /// Nothing collected yet.
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            scans: Entries::new(limit),
            uids: Entries::new(limit),
            list_refused: None,
            failed: None,
        }
    }

    /// Takes one event of `part`.
    pub(crate) fn add(&mut self, part: ListingPart, event: &Event<'_>) {
        let taken = match (part, event) {
            // A malformed UIDL is not a missing one: without sound UIDs, no listing at all.
            (_, Event::Invalid { error, .. }) => Err(Error::Invalid(error.clone())),
            (ListingPart::List, Event::Err { reply, .. }) => {
                self.list_refused = Some(ServerError::from_reply(reply));
                Ok(())
            }
            (ListingPart::List, _) => self.scans.take(event, scan),
            (ListingPart::Uidl, _) => self.uids.take(event, unique_id),
        };
        if let Err(error) = taken {
            self.failed.get_or_insert(error);
        }
    }

    /// Every message LIST named, in LIST's order, with its UID if UIDL gave one.
    ///
    /// # Errors
    /// [`Error::Server`] if LIST was refused, [`Error::ListingTooLong`] if either answer had too many entries,
    /// [`Error::Invalid`] if either was wrong; a refused UIDL only leaves the UIDs out.
    pub(crate) fn finish(self) -> Result<Vec<Listing>> {
        if let Some(refusal) = self.list_refused {
            return Err(Error::Server(refusal));
        }
        if let Some(error) = self.failed {
            return Err(error);
        }
        let mut uids: HashMap<u64, String> = self
            .uids
            .into_vec()
            .into_iter()
            .map(|entry| (entry.msg, entry.uid))
            .collect();
        Ok(self
            .scans
            .into_vec()
            .into_iter()
            .map(|scan| Listing {
                msg: scan.msg,
                octets: scan.octets,
                uid: uids.remove(&scan.msg),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use pop3_proto::{Client, Command, Config, Output};

    use super::*;

    /// Polls to rest, handing every event to `on_event`.
    fn rest(client: &mut Client, mut on_event: impl FnMut(&Event<'_>)) {
        loop {
            match client.poll().unwrap() {
                Output::Event(event) => on_event(&event),
                Output::Transmit(transmit) => {
                    let written = transmit.bytes().len();
                    client.consume_output(written);
                }
                _ => return,
            }
        }
    }

    /// Logs a client in, then feeds it the answers to LIST and UIDL and collects the events as `listing()` does.
    fn collect(list_answer: &[u8], uidl_answer: &[u8], limit: u64) -> Result<Vec<Listing>> {
        let mut config = Config::default();
        config.allow_plaintext_credentials = true;
        let mut client = Client::new(config);
        client.handle_input(b"+OK ready\r\n");
        for command in [Command::User("u"), Command::Pass("p")] {
            client.send(command).unwrap();
            rest(&mut client, |_| {});
            client.handle_input(b"+OK\r\n");
            rest(&mut client, |_| {});
        }
        let list = client.send(Command::List(None)).unwrap();
        client.send(Command::Uidl(None)).unwrap();
        rest(&mut client, |_| {});
        let mut collector = ListingCollector::new(limit);
        for answer in [list_answer, uidl_answer] {
            client.handle_input(answer);
            rest(&mut client, |event| {
                let part = if event.id() == Some(list) {
                    ListingPart::List
                } else {
                    ListingPart::Uidl
                };
                collector.add(part, event);
            });
        }
        collector.finish()
    }

    fn entry(msg: u64, octets: u64, uid: Option<&str>) -> Listing {
        Listing {
            msg,
            octets,
            uid: uid.map(str::to_owned),
        }
    }

    #[test]
    fn uids_join_by_message_number_and_a_message_uidl_left_out_has_none() {
        let listing = collect(
            b"+OK\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n",
            b"+OK\r\n1 a\r\n3 c\r\n9 stray\r\n.\r\n",
            10,
        );
        assert_eq!(
            listing.unwrap(),
            [
                entry(1, 100, Some("a")),
                entry(2, 200, None),
                entry(3, 300, Some("c"))
            ]
        );
    }

    #[test]
    fn a_refused_uidl_leaves_uids_out_and_a_refused_list_is_the_error() {
        let listing = collect(b"+OK\r\n1 100\r\n.\r\n", b"-ERR no UIDL\r\n", 10);
        assert_eq!(listing.unwrap(), [entry(1, 100, None)]);
        let refused = collect(b"-ERR [SYS/TEMP] later\r\n", b"+OK\r\n1 a\r\n.\r\n", 10);
        assert!(matches!(refused, Err(Error::Server(_))), "{refused:?}");
    }

    #[test]
    fn a_wrong_uidl_fails_the_listing_rather_than_leaving_uids_out() {
        let listing = collect(
            b"+OK\r\n1 100\r\n2 200\r\n.\r\n",
            b"+OK\r\n2 b\r\n1 a\r\n.\r\n",
            10,
        );
        assert!(matches!(listing, Err(Error::Invalid(_))), "{listing:?}");
    }

    #[test]
    fn either_answer_past_the_limit_is_an_error() {
        let long = b"+OK\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n";
        let short_uidl = b"+OK\r\n1 a\r\n.\r\n";
        assert!(matches!(
            collect(long, short_uidl, 2),
            Err(Error::ListingTooLong { limit: 2 })
        ));
        assert!(matches!(
            collect(
                b"+OK\r\n1 100\r\n.\r\n",
                b"+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n",
                2
            ),
            Err(Error::ListingTooLong { limit: 2 })
        ));
        assert_eq!(collect(long, short_uidl, 3).unwrap().len(), 3);
    }
}
