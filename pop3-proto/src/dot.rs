//! Incremental dot-unstuffing of multi-line bodies (RFC 1939 §3), across any chunk boundaries.
//!
//! The only state carried between calls is whether the next octet starts a line. Ambiguous tails (`\r`, `\r\n`,
//! `.`, `.\r`) are left in the caller's buffer until more input decides them, so every emitted piece is one
//! contiguous run of the input: unstuffing only ever removes a line's first octet.

use alloc::boxed::Box;

use memchr::memmem::Finder;
use once_cell::race::OnceBox;

/// What to do with the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Drop `skip` octets (a stuffed dot), then deliver the next `len` octets as body data. Consume both.
    Data { skip: usize, len: usize },
    /// The terminating line: consume `len` octets; the body is complete.
    End { len: usize },
    /// Nothing can be decided until more input arrives.
    NeedInput,
}

/// The body decoder for one multi-line response.
#[derive(Debug)]
pub(crate) struct Unstuffer {
    at_line_start: bool,
    lf_only: bool,
}

/// Finders for a line break followed by a dot, built once per process: they are the same for every client, and
/// at over 500 octets they would be the largest part of an idle one.
#[derive(Debug)]
pub(crate) struct DotFinders {
    crlf: Finder<'static>,
    lf: Finder<'static>,
}

impl DotFinders {
    fn new() -> Self {
        Self {
            crlf: Finder::new(b"\r\n."),
            lf: Finder::new(b"\n."),
        }
    }

    /// The finders every client shares.
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceBox<DotFinders> = OnceBox::new();
        SHARED.get_or_init(|| Box::new(Self::new()))
    }
}

impl Unstuffer {
    /// A decoder positioned right after the status line, which ends in a line break: `+OK\r\n.\r\n` is an empty
    /// body, so the first octet starts a line.
    pub(crate) fn new(lf_only: bool) -> Self {
        Self {
            at_line_start: true,
            lf_only,
        }
    }

    /// Decides what the front of `buf` is.
    pub(crate) fn step(&mut self, buf: &[u8], finders: &DotFinders) -> Step {
        let mut skip = 0;
        if self.at_line_start {
            match buf {
                [] | [b'.'] | [b'.', b'\r'] => return Step::NeedInput,
                [b'.', b'\r', b'\n', ..] => return Step::End { len: 3 },
                [b'.', b'\n', ..] if self.lf_only => return Step::End { len: 2 },
                [b'.', ..] => skip = 1,
                _ => {}
            }
            self.at_line_start = false;
        }
        let rest = &buf[skip..];
        let (finder, break_len) = if self.lf_only {
            (&finders.lf, 1)
        } else {
            (&finders.crlf, 2)
        };
        let len = match finder.find(rest) {
            Some(at) => {
                self.at_line_start = true;
                at + break_len
            }
            None => rest.len() - self.undecided_tail(rest),
        };
        if skip + len == 0 {
            return Step::NeedInput;
        }
        Step::Data { skip, len }
    }

    /// How many octets at the end of `rest` could begin a line break followed by a dot.
    fn undecided_tail(&self, rest: &[u8]) -> usize {
        match rest {
            [.., b'\r', b'\n'] if !self.lf_only => 2,
            [.., b'\r'] if !self.lf_only => 1,
            [.., b'\n'] if self.lf_only => 1,
            _ => 0,
        }
    }
}

/// Dot-stuffs `body` and appends the terminator, as a server would send it (for tests and fuzzing).
pub fn stuff(body: &[u8]) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n' && out.ends_with(b"\r\n");
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Feeds `wire` in pieces of `piece` octets and returns the body and whether the end was found.
    fn decode(wire: &[u8], piece: usize, lf_only: bool) -> (Vec<u8>, bool) {
        let finders = DotFinders::shared();
        let mut unstuffer = Unstuffer::new(lf_only);
        let (mut buf, mut body, mut fed) = (Vec::new(), Vec::new(), 0);
        loop {
            match unstuffer.step(&buf, finders) {
                Step::Data { skip, len } => {
                    body.extend_from_slice(&buf[skip..skip + len]);
                    buf.drain(..skip + len);
                }
                Step::End { len } => {
                    buf.drain(..len);
                    return (body, true);
                }
                Step::NeedInput if fed == wire.len() => return (body, false),
                Step::NeedInput => {
                    let n = piece.min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn stuffed_lines_lose_one_dot_at_every_split() {
        let wire = b"..body with a single dot first\r\n...triple dots...\r\n..\r\nend\r\n.\r\n";
        for piece in 1..wire.len() {
            assert_eq!(
                decode(wire, piece, false),
                (
                    b".body with a single dot first\r\n..triple dots...\r\n.\r\nend\r\n".to_vec(),
                    true
                ),
                "piece {piece}"
            );
        }
    }

    #[test]
    fn empty_body_ends_at_once() {
        assert_eq!(decode(b".\r\n", 1, false), (Vec::new(), true));
    }

    #[test]
    fn bare_lf_dot_is_data_in_crlf_mode() {
        let wire = b"line\n.\n+OK injected\r\nmore\r\n.\r\n";
        assert_eq!(
            decode(wire, 3, false),
            (b"line\n.\n+OK injected\r\nmore\r\n".to_vec(), true)
        );
    }

    #[test]
    fn lf_mode_ends_at_a_bare_lf_dot() {
        assert_eq!(decode(b"a\n..b\n.\n", 2, true), (b"a\n.b\n".to_vec(), true));
    }

    #[test]
    fn truncated_body_is_not_complete() {
        assert_eq!(
            decode(b"line\r\n.", 1, false),
            (b"line\r\n".to_vec(), false)
        );
    }

    #[test]
    fn stuff_round_trips() {
        for body in [&b""[..], b".", b"a\r\n.\r\nb", b"\r\n..\r\n", b"no newline"] {
            let (decoded, ended) = decode(&stuff(body), 1, false);
            assert!(ended);
            let mut expected = body.to_vec();
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(decoded, expected);
        }
    }
}
