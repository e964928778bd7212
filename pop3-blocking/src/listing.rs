//! LIST and UIDL answered together: what a mail fetcher asks first.

use std::collections::HashMap;

use pop3_proto::Event;

use crate::error::{Error, Result, ServerError};

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

/// Collects the events of a LIST and a UIDL sent together (shared by both clients; not an API of its own).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct ListingCollector {
    scans: Vec<(u64, u64)>,
    uids: HashMap<u64, String>,
    list_refused: Option<ServerError>,
}

impl ListingCollector {
    /// Takes one event of `part`.
    pub fn add(&mut self, part: ListingPart, event: &Event<'_>) {
        match (part, event) {
            (ListingPart::List, Event::Scan { msg, octets, .. }) => {
                self.scans.push((*msg, *octets));
            }
            (ListingPart::List, Event::Err { reply, .. }) => {
                self.list_refused = Some(ServerError::from_reply(reply));
            }
            (ListingPart::Uidl, Event::UniqueId { msg, uid, .. }) => {
                self.uids.insert(*msg, (*uid).to_owned());
            }
            _ => {}
        }
    }

    /// Every message LIST named, in LIST's order, with its UID if UIDL gave one.
    ///
    /// # Errors
    /// [`Error::Server`] if LIST was refused; a refused UIDL only leaves the UIDs out.
    pub fn finish(mut self) -> Result<Vec<Listing>> {
        if let Some(refusal) = self.list_refused {
            return Err(Error::Server(refusal));
        }
        Ok(self
            .scans
            .into_iter()
            .map(|(msg, octets)| Listing {
                msg,
                octets,
                uid: self.uids.remove(&msg),
            })
            .collect())
    }
}
