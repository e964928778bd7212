//! The mailbox every server is seeded with, and what each store format makes of it on the wire.
//!
//! Messages are written as a mail delivery agent would store them (LF line endings; in mbox, `From ` lines of
//! the body quoted as `>From ` and a blank line after each message); what RETR must return is computed from
//! those stored bytes, per store format.

use crate::{SAMPLE_BIG, SAMPLE_DOTS, SAMPLE_NO_FINAL_NEWLINE, sample_messages};

/// Index in [`hard_messages`] of the message with `From ` lines in its body (mbox quoting).
pub const HARD_FROM_LINES: usize = 0;
/// Index of the message with lone `.` lines.
pub const HARD_DOTS: usize = 1;
/// Index of the message with raw 8-bit (UTF-8) headers and 8-bit bodies.
pub const HARD_8BIT: usize = 2;
/// Index of the message with a line of 5,000 characters.
pub const HARD_LONG_LINE: usize = 3;
/// Index of the message that is only a header.
pub const HARD_HEADER_ONLY: usize = 4;
/// Index of the message without a final newline.
pub const HARD_NO_FINAL_NEWLINE: usize = 5;
/// Index of the 5 MiB message (the last).
pub const HARD_BIG: usize = 6;

/// The same mailbox for every server, in CRLF form (what a client would ideally receive).
pub fn hard_messages() -> Vec<Vec<u8>> {
    let samples = sample_messages();
    vec![
        from_lines(),
        samples[SAMPLE_DOTS].clone(),
        eight_bit_headers(),
        long_line(),
        header_only(),
        samples[SAMPLE_NO_FINAL_NEWLINE].clone(),
        samples[SAMPLE_BIG].clone(),
    ]
}

fn crlf(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [l.as_bytes(), b"\r\n"].concat())
        .collect()
}

fn from_lines() -> Vec<u8> {
    crlf(&[
        "From: Alice Example <alice@example.org>",
        "To: Bob Example <bob@example.net>",
        "Subject: Lines that an mbox must quote",
        "Date: Tue, 14 May 2024 09:12:45 +0200",
        "Message-ID: <from-lines@example.org>",
        "",
        "Hi Bob,",
        "",
        "From the top: this line starts with From and a space.",
        "From: not a header, but it looks like one",
        "Fromage is French for cheese (no space, never quoted).",
        "",
        "Alice",
    ])
}

fn eight_bit_headers() -> Vec<u8> {
    let mut out = crlf(&[
        "From: Jürgen Müller <juergen@example.de>",
        "To: Zoë <zoe@example.net>",
        "Subject: Grüße aus Köln — 東京 📬",
        "Date: Thu, 16 May 2024 08:00:00 +0200",
        "Message-ID: <8bit-headers@example.de>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Grüße aus Köln — 東京 — Ελληνικά.",
    ]);
    out.extend_from_slice(b"Latin-1 in a UTF-8 body: Gr\xfc\xdfe \xa9 2024\r\n");
    out
}

fn long_line() -> Vec<u8> {
    let mut out = crlf(&[
        "From: Long Liner <long@example.org>",
        "To: bob@example.net",
        "Subject: One line of 5000 characters",
        "Date: Fri, 17 May 2024 12:00:00 +0000",
        "Message-ID: <long-line@example.org>",
        "",
    ]);
    let line: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\nAfter the long line.\r\n");
    out
}

fn header_only() -> Vec<u8> {
    crlf(&[
        "From: Header Only <header@example.org>",
        "To: bob@example.net",
        "Subject: Nothing but a header",
        "Date: Sun, 19 May 2024 23:59:59 -0700",
        "Message-ID: <header-only@example.org>",
    ])
}

/// CRLF → LF: the form a Unix mail store holds.
pub fn to_lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < message.len() {
        if message[i] == b'\r' && message.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(message[i]);
        i += 1;
    }
    out
}

/// LF → CRLF, adding a final CRLF when the text lacks one: what a server serving a file sends.
pub fn to_wire(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 30 + 2);
    for &b in stored {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quotes body lines that start with `From ` as `>From ` (mboxo, as an MDA delivering to mbox does).
fn mbox_quote(message_lf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message_lf.len() + 16);
    for line in message_lf.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    out
}

/// The envelope line that starts each message of an mbox.
const MBOX_FROM_LINE: &[u8] = b"From sender@example.org Tue Nov 14 22:13:20 2023\n";

/// An mbox holding `messages` (CRLF form): envelope line, quoted message ending in a newline, blank line.
pub fn mbox(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        out.extend_from_slice(MBOX_FROM_LINE);
        out.extend_from_slice(&mbox_stored(message));
        out.extend_from_slice(b"\n");
    }
    out
}

/// One message as an mbox holds it (quoted, ending in a newline), without envelope and separator.
pub fn mbox_stored(message: &[u8]) -> Vec<u8> {
    let mut stored = mbox_quote(&to_lf(message));
    if !stored.ends_with(b"\n") {
        stored.push(b'\n');
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_has_every_hard_case() {
        let m = hard_messages();
        assert_eq!(m.len(), HARD_BIG + 1);
        assert!(m[HARD_FROM_LINES].windows(7).any(|w| w == b"\r\nFrom "));
        assert!(m[HARD_DOTS].windows(5).any(|w| w == b"\r\n.\r\n"));
        let headers_end = m[HARD_8BIT]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        assert!(
            m[HARD_8BIT][..headers_end].iter().any(|&b| b >= 0x80),
            "8-bit header"
        );
        assert!(
            m[HARD_8BIT][headers_end..].contains(&0xfc),
            "Latin-1 body byte"
        );
        assert!(
            m[HARD_LONG_LINE]
                .split(|&b| b == b'\n')
                .any(|l| l.len() == 5001)
        );
        assert!(!m[HARD_HEADER_ONLY].windows(4).any(|w| w == b"\r\n\r\n"));
        assert!(!m[HARD_NO_FINAL_NEWLINE].ends_with(b"\n"));
        assert_eq!(m[HARD_BIG].len(), crate::SAMPLE_BIG_LEN);
    }

    #[test]
    fn store_forms() {
        assert_eq!(to_lf(b"a\r\nb\rc\r\n"), b"a\nb\rc\n");
        assert_eq!(to_wire(b"a\nb"), b"a\r\nb\r\n");
        assert_eq!(to_wire(b"a\n"), b"a\r\n");
        assert_eq!(
            mbox(&[b"Subject: x\r\n\r\nFrom here\r\nFromage".to_vec()]),
            b"From sender@example.org Tue Nov 14 22:13:20 2023\nSubject: x\n\n>From here\nFromage\n\n"
        );
    }
}
