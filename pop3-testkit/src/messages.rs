//! Sample RFC 5322 messages that exercise the awkward corners of POP3 transfers.

/// Index in [`sample_messages`] of a short, ordinary text message.
pub const SAMPLE_PLAIN: usize = 0;
/// Index in [`sample_messages`] of the message whose body has lines starting with `.`,
/// including a line that is exactly `.` (needs dot-stuffing on the wire).
pub const SAMPLE_DOTS: usize = 1;
/// Index in [`sample_messages`] of the MIME message with raw 8-bit Latin-1 and UTF-8 parts.
pub const SAMPLE_8BIT: usize = 2;
/// Index in [`sample_messages`] of the message without a final line ending.
///
/// Dovecot appends CRLF to it on RETR, so RETR yields 2 octets more than LIST reports.
pub const SAMPLE_NO_FINAL_NEWLINE: usize = 3;
/// Index in [`sample_messages`] of the message with headers and an empty body.
pub const SAMPLE_EMPTY_BODY: usize = 4;
/// Index in [`sample_messages`] of the 5 MiB message, the last one: all the small
/// samples are `&sample_messages()[..SAMPLE_BIG]`.
pub const SAMPLE_BIG: usize = 5;

/// Size in octets of the message at [`SAMPLE_BIG`].
pub const SAMPLE_BIG_LEN: usize = 5 * 1024 * 1024;

/// A few realistic RFC 5322 messages with CRLF line endings, always the same bytes.
///
/// In this order (see the `SAMPLE_*` index constants):
/// 0. a short plain-text message;
/// 1. a body with lines starting with `.`, `..` and a line that is exactly `.`;
/// 2. a `multipart/mixed` message with raw 8-bit Latin-1 and UTF-8 text parts;
/// 3. a message whose last line has no CRLF;
/// 4. a message with headers and an empty body;
/// 5. a 5 MiB (exactly [`SAMPLE_BIG_LEN`] octets) message of numbered lines, every
///    100th line starting with `.`.
///
/// Each user made with all of them takes 5 MiB of disk; `&sample_messages()[..SAMPLE_BIG]`
/// are the small ones.
pub fn sample_messages() -> Vec<Vec<u8>> {
    vec![
        plain(),
        dots(),
        eight_bit(),
        no_final_newline(),
        empty_body(),
        big(),
    ]
}

fn crlf(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn plain() -> Vec<u8> {
    crlf(&[
        "Return-Path: <alice@example.org>",
        "From: Alice Example <alice@example.org>",
        "To: Bob Example <bob@example.net>",
        "Subject: Lunch on Thursday?",
        "Date: Tue, 14 May 2024 09:12:45 +0200",
        "Message-ID: <20240514091245.4711@mail.example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Hi Bob,",
        "",
        "are you free for lunch on Thursday? The new place on Main Street",
        "opens at noon.",
        "",
        "Alice",
    ])
}

fn dots() -> Vec<u8> {
    crlf(&[
        "From: Dot Tester <dots@example.org>",
        "To: bob@example.net",
        "Subject: Lines that start with dots",
        "Date: Wed, 15 May 2024 17:03:00 +0000",
        "Message-ID: <dots-1@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "The next line is a single dot:",
        ".",
        "..two dots at the start",
        ".one dot at the start",
        "...",
        ". a dot and a space",
        "",
        ".",
        "The line before the blank one was also a single dot.",
        "Last line.",
    ])
}

fn eight_bit() -> Vec<u8> {
    let mut out = crlf(&[
        "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>",
        "To: bob@example.net",
        "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=",
        "Date: Thu, 16 May 2024 08:00:00 +0200",
        "Message-ID: <8bit-1@example.de>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"=-sep-8bit\"",
        "",
        "This is a multi-part message in MIME format.",
        "",
        "--=-sep-8bit",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: 8bit",
        "",
    ]);
    // "Grüße aus Köln, schöne Grüße!" in Latin-1.
    out.extend_from_slice(b"Gr\xfc\xdfe aus K\xf6ln, sch\xf6ne Gr\xfc\xdfe! \xa9 2024\r\n");
    out.extend_from_slice(&crlf(&[
        "",
        "--=-sep-8bit",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Grüße aus Köln — 東京 — Ελληνικά — emoji 📬",
        "",
        "--=-sep-8bit--",
    ]));
    out
}

fn no_final_newline() -> Vec<u8> {
    let mut out = crlf(&[
        "From: Terse <terse@example.org>",
        "To: bob@example.net",
        "Subject: No newline at the end",
        "Date: Fri, 17 May 2024 12:00:00 +0000",
        "Message-ID: <nonl-1@example.org>",
        "",
        "First line.",
    ]);
    out.extend_from_slice(b"This last line has no line ending");
    out
}

fn big() -> Vec<u8> {
    let mut out = crlf(&[
        "From: Bulk Sender <bulk@example.org>",
        "To: bob@example.net",
        "Subject: A large message",
        "Date: Sat, 18 May 2024 06:30:00 +0000",
        "Message-ID: <big-1@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
    ]);
    let mut n: u32 = 0;
    while out.len() < SAMPLE_BIG_LEN {
        n += 1;
        let lead = if n % 100 == 0 { "." } else { "" };
        let line = format!(
            "{lead}Line {n:07}: the quick brown fox jumps over the lazy dog 0123456789\r\n"
        );
        out.extend_from_slice(line.as_bytes());
    }
    // Trim to the exact size while keeping a final CRLF.
    out.truncate(SAMPLE_BIG_LEN - 2);
    out.extend_from_slice(b"\r\n");
    out
}

fn empty_body() -> Vec<u8> {
    crlf(&[
        "From: Nobody Home <empty@example.org>",
        "To: bob@example.net",
        "Subject: Empty body",
        "Date: Sun, 19 May 2024 23:59:59 -0700",
        "Message-ID: <empty-1@example.org>",
        "",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let m = sample_messages();
        assert_eq!(m.len(), 6);
        assert!(m[SAMPLE_DOTS].windows(5).any(|w| w == b"\r\n.\r\n"));
        assert!(m[SAMPLE_8BIT].contains(&0xfc));
        assert!(std::str::from_utf8(&m[SAMPLE_8BIT]).is_err());
        assert!(!m[SAMPLE_NO_FINAL_NEWLINE].ends_with(b"\n"));
        assert_eq!(m[SAMPLE_BIG].len(), SAMPLE_BIG_LEN);
        assert!(m[SAMPLE_EMPTY_BODY].ends_with(b"\r\n\r\n"));
        assert_eq!(sample_messages(), m, "deterministic");
        for msg in &m {
            // Every LF is part of a CRLF and vice versa.
            for (i, &b) in msg.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(msg[i - 1], b'\r');
                }
                if b == b'\r' {
                    assert_eq!(msg[i + 1], b'\n');
                }
            }
        }
    }
}
