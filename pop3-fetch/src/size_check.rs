//! Checking each message against the size the server announced for it.
//!
//! RFC 1939 §5 defines LIST's size as exact: the octets of the message with CRLF line endings, before
//! dot-stuffing, which is what RETR delivers after dot-unstuffing. What real servers do:
//!
//! * Dovecot, Courier and GNU Mailutils (Maildir) count the LF→CRLF conversion, so their sizes are exact; Dovecot
//!   adds a CRLF to a message whose file lacks a final line break without counting it (2 octets more than LIST);
//! * Courier, to a client that has not said `UTF8`, replaces a message with raw 8-bit headers by a generated
//!   notice of another size (the fetcher says `UTF8` when it is offered, so it gets the message itself);
//! * Mailutils writes an `X-UIDL:` header into a message the first time UIDL is asked, after LIST counted it;
//! * mbox servers count what they send: popa3d its `>From ` quoting, solid-pop3d the blank separator line it
//!   serves as part of every message.
//!
//! A message whose size differs is kept (stored as the server sent it) but never deleted from the server while
//! the two differ, and the run stops after it: if the difference comes from broken framing (a server that did not
//! dot-stuff a lone `.` line ends the message early and its rest becomes the next answer), every answer after it
//! is shifted, and nothing received later on that connection can be trusted. The only difference accepted as
//! exact is the final CRLF a server adds to a message that ends without one, which RFC 1939 requires before the
//! terminating `.` line and which Dovecot leaves out of its count.
//!
//! The price: a server whose sizes are wrong for many messages (none of those above) needs one run per such
//! message, each storing one and stopping. Nothing is lost or deleted on the way, and each run says why it
//! stopped.

use crate::state::Sizes;

/// Counts a message's octets as they arrive and remembers how it ends.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Received {
    octets: u64,
    last_two: [u8; 2],
}

impl Received {
    /// Adds a piece of the message.
    pub(crate) fn add(&mut self, data: &[u8]) {
        self.octets += data.len() as u64;
        match data {
            [] => {}
            [b] => self.last_two = [self.last_two[1], *b],
            [.., a, b] => self.last_two = [*a, *b],
        }
    }

    /// The message's sizes, given what LIST said.
    pub(crate) fn sizes(self, listed: u64) -> Sizes {
        Sizes {
            listed,
            saved: saved_size(
                listed,
                self.octets,
                self.octets >= 2 && self.last_two == *b"\r\n",
            ),
        }
    }

    /// Octets received.
    pub(crate) fn octets(self) -> u64 {
        self.octets
    }
}

/// The size of a stored copy in the server's terms: `received`, except that a final CRLF beyond the listed size
/// is the line break the server added (see the module documentation).
pub(crate) fn saved_size(listed: u64, received: u64, ends_with_crlf: bool) -> u64 {
    if ends_with_crlf && received == listed.saturating_add(2) {
        listed
    } else {
        received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(pieces: &[&[u8]]) -> Received {
        let mut r = Received::default();
        for p in pieces {
            r.add(p);
        }
        r
    }

    #[test]
    fn exact_sizes_match_whatever_the_pieces() {
        let r = received(&[b"Subject: a\r", b"\n", b"", b"\r\nbody\r\n"]);
        assert_eq!(r.octets(), 20);
        assert!(r.sizes(20).matched());
        assert!(!r.sizes(21).matched());
    }

    #[test]
    fn only_an_added_final_crlf_is_forgiven() {
        // Dovecot: a file without a final line break, LIST 16, RETR 18 ending in CRLF.
        let r = received(&[b"Subject: a\r\n\r\nbo", b"dy", b"\r", b"\n"]);
        assert_eq!(r.octets(), 20);
        assert_eq!(
            r.sizes(18),
            Sizes {
                listed: 18,
                saved: 18
            }
        );
        // Two octets more that are not a final CRLF, or four more: a mismatch.
        let r = received(&[b"Subject: a\r\n\r\nbody\r\nxy"]);
        assert_eq!(
            r.sizes(20),
            Sizes {
                listed: 20,
                saved: 22
            }
        );
        let r = received(&[b"Subject: a\r\n\r\nbody\r\n"]);
        assert!(!r.sizes(16).matched());
        // A truncated message never looks complete.
        let r = received(&[b"Subject: a\r\n"]);
        assert_eq!(
            r.sizes(40),
            Sizes {
                listed: 40,
                saved: 12
            }
        );
    }
}
