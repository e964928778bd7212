//! Listings read into memory (LIST, UIDL, both together, LANG), each bounded in entries: a server that never
//! ends its listing gets an error, not all the memory. Shared by both clients.

use std::collections::HashMap;

use pop3_proto::Event;

use crate::error::{Error, Result, ServerError};
use crate::{ScanListing, UniqueIdListing};

/// The entries of one listing answer, at most `limit` of them.
#[doc(hidden)]
#[derive(Debug)]
pub struct Entries<T> {
    items: Vec<T>,
    limit: u64,
}

impl<T> Entries<T> {
    /// No entries yet; at most `limit` to come.
    pub fn new(limit: u64) -> Self {
        Self {
            items: Vec::new(),
            limit,
        }
    }

    /// Adds what `entry` makes of `event`, if anything.
    ///
    /// # Errors
    /// [`Error::ListingTooLong`] once `limit` entries are held; the caller reads the rest of the answer and drops it.
    pub fn take(
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
    pub fn into_vec(self) -> Vec<T> {
        self.items
    }
}

/// A LIST entry.
#[doc(hidden)]
pub fn scan(event: &Event<'_>) -> Option<ScanListing> {
    match *event {
        Event::Scan { msg, octets, .. } => Some(ScanListing { msg, octets }),
        _ => None,
    }
}

/// A UIDL entry.
#[doc(hidden)]
pub fn unique_id(event: &Event<'_>) -> Option<UniqueIdListing> {
    match *event {
        Event::UniqueId { msg, uid, .. } => Some(UniqueIdListing {
            msg,
            uid: uid.to_owned(),
        }),
        _ => None,
    }
}

/// A line of a multi-line LANG answer.
#[doc(hidden)]
pub fn line(event: &Event<'_>) -> Option<Vec<u8>> {
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
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingPart {
    List,
    Uidl,
}

/// Collects the events of a LIST and a UIDL sent together, at most `limit` entries of each.
#[doc(hidden)]
#[derive(Debug)]
pub struct ListingCollector {
    scans: Entries<ScanListing>,
    uids: Entries<UniqueIdListing>,
    list_refused: Option<ServerError>,
    too_long: Option<Error>,
}

impl ListingCollector {
    /// Nothing collected yet.
    pub fn new(limit: u64) -> Self {
        Self {
            scans: Entries::new(limit),
            uids: Entries::new(limit),
            list_refused: None,
            too_long: None,
        }
    }

    /// Takes one event of `part`.
    pub fn add(&mut self, part: ListingPart, event: &Event<'_>) {
        let taken = match (part, event) {
            (ListingPart::List, Event::Err { reply, .. }) => {
                self.list_refused = Some(ServerError::from_reply(reply));
                Ok(())
            }
            (ListingPart::List, _) => self.scans.take(event, scan),
            (ListingPart::Uidl, _) => self.uids.take(event, unique_id),
        };
        if let Err(error) = taken {
            self.too_long.get_or_insert(error);
        }
    }

    /// Every message LIST named, in LIST's order, with its UID if UIDL gave one.
    ///
    /// # Errors
    /// [`Error::Server`] if LIST was refused, [`Error::ListingTooLong`] if either answer was; a refused UIDL only
    /// leaves the UIDs out.
    pub fn finish(self) -> Result<Vec<Listing>> {
        if let Some(refusal) = self.list_refused {
            return Err(Error::Server(refusal));
        }
        if let Some(error) = self.too_long {
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
