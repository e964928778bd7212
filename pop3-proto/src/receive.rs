//! The receive buffer: where the server's bytes land, how lines are cut from them, and which line endings frame
//! them.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::config::LineEndings;
use crate::error::Error;

/// The first read size; reads grow from here (see [`Receiver::input_buffer`]).
const MIN_READ: usize = 8 * 1024;

/// Bytes received and not yet consumed, between `start` and `end` of `buf`.
pub(crate) struct Receiver {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Octets after `start` already searched for a line end without finding one, so that a long line arriving
    /// in small reads is scanned once rather than once per read.
    line_scanned: usize,
    /// Whether the last line taken ended in CRLF rather than a bare LF.
    line_had_cr: bool,
    /// How much [`Receiver::input_buffer`] offers next: it starts small and doubles while reads fill it, up to
    /// the configured read size, so an idle session holds little and a bulk transfer reads in large pieces.
    read_hint: usize,
    /// How much the last [`Receiver::input_buffer`] offered, to tell a full read from a short one.
    offered: usize,
    framing: Framing,
}

/// The line endings that frame responses: decided by configuration, or detected from the first status line.
#[derive(Debug, Clone, Copy)]
struct Framing {
    lf_only: bool,
    /// The next status line decides `lf_only` ([`LineEndings::Detect`]).
    detecting: bool,
}

impl Framing {
    fn configured(line_endings: LineEndings) -> Self {
        Self {
            lf_only: line_endings == LineEndings::Lf,
            detecting: line_endings == LineEndings::Detect,
        }
    }
}

impl fmt::Debug for Receiver {
    // The buffer holds mail; its size is what helps when debugging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("buffered", &(self.end - self.start))
            .field("capacity", &self.buf.len())
            .field("read_hint", &self.read_hint)
            .field("framing", &self.framing)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    pub(crate) fn new(line_endings: LineEndings) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            end: 0,
            line_scanned: 0,
            line_had_cr: false,
            read_hint: MIN_READ,
            offered: 0,
            framing: Framing::configured(line_endings),
        }
    }

    /// Framing starts over from the configuration: after STLS nothing learnt from cleartext bytes may decide
    /// how encrypted bytes are framed.
    pub(crate) fn restart_framing(&mut self, line_endings: LineEndings) {
        self.framing = Framing::configured(line_endings);
    }

    /// A status line was just taken: in detect mode, the first one decides the framing. A server that ends it in
    /// a bare LF is an LF-only server.
    pub(crate) fn note_status_line(&mut self) {
        if self.framing.detecting {
            self.framing = Framing {
                lf_only: !self.line_had_cr,
                detecting: false,
            };
        }
    }

    #[inline]
    pub(crate) fn lf_only(&self) -> bool {
        self.framing.lf_only
    }

    #[inline]
    pub(crate) fn line_had_cr(&self) -> bool {
        self.line_had_cr
    }

    /// Whether received bytes wait to be parsed.
    #[inline]
    pub(crate) fn has_data(&self) -> bool {
        self.end > self.start
    }

    /// The bytes received and not yet consumed.
    #[inline]
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Where [`Receiver::unread`] starts, for ranges into [`Receiver::bytes`].
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.start
    }

    /// Bytes at a range handed out earlier; valid until the buffer is compacted.
    #[inline]
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Consumes `n` unread octets.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.start += n;
    }

    /// Drops everything unread.
    pub(crate) fn discard(&mut self) {
        self.start = self.end;
        self.line_scanned = 0;
    }

    /// Space to read into, growing the read size while reads fill it. Compacts only if `may_compact` (no range
    /// into the buffer is held).
    pub(crate) fn input_buffer(&mut self, may_compact: bool) -> &mut [u8] {
        let wanted = self.read_hint;
        self.offered = wanted;
        self.input_buffer_sized(wanted, may_compact)
    }

    pub(crate) fn input_buffer_sized(&mut self, wanted: usize, may_compact: bool) -> &mut [u8] {
        if self.start > 0 && may_compact {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + wanted.max(1);
        if self.buf.len() < needed {
            self.buf.resize(needed, 0);
        }
        &mut self.buf[self.end..needed]
    }

    /// Marks `n` octets of the last input buffer as received.
    pub(crate) fn commit(&mut self, n: usize, read_size: usize) {
        self.end = (self.end + n).min(self.buf.len());
        if self.offered > 0 && n >= self.offered {
            self.read_hint = (self.read_hint * 2).min(read_size.max(MIN_READ));
        }
        self.offered = 0;
    }

    /// An idle session keeps no receive buffer, not even one of the first read's size: thousands of idle
    /// sessions then cost little. The price is one allocation per command answered while idle in between.
    pub(crate) fn release_if_idle(&mut self) {
        if !self.has_data() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
            self.line_scanned = 0;
            self.read_hint = MIN_READ;
        }
    }

    /// Takes one line (without its ending) if a whole one is there.
    ///
    /// # Errors
    /// [`Error::LineTooLong`] when `max_line_len` octets hold no line end: framing is lost.
    #[inline]
    pub(crate) fn take_line(&mut self, max_line_len: usize) -> Result<Option<Range<usize>>, Error> {
        let available = &self.buf[self.start..self.end];
        let window = &available[..available.len().min(max_line_len)];
        let from = self.line_scanned.min(window.len());
        let Some(lf) = memchr::memchr(b'\n', &window[from..]).map(|at| from + at) else {
            self.line_scanned = window.len();
            if available.len() >= max_line_len {
                return Err(Error::LineTooLong {
                    limit: max_line_len,
                });
            }
            return Ok(None);
        };
        self.line_scanned = 0;
        let start = self.start;
        let mut end = start + lf;
        self.line_had_cr = end > start && self.buf[end - 1] == b'\r';
        if self.line_had_cr {
            end -= 1;
        }
        self.start += lf + 1;
        Ok(Some(start..end))
    }

    #[cfg(test)]
    pub(crate) fn line_scanned(&self) -> usize {
        self.line_scanned
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}
