//! Mailbox contents: messages with stable unique IDs, plus deterministic
//! generators so tests and benchmarks get realistic mail without fixtures.

use std::fmt::Write as _;
use std::sync::Arc;

use md5::{Digest, Md5};

/// One message in a [`Mailbox`]: its raw bytes (as stored in the maildrop,
/// normally with CRLF line endings and *not* dot-stuffed) and its UID.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    uid: String,
    data: Arc<[u8]>,
}

impl Message {
    /// Creates a message with an explicit UID.
    ///
    /// # Panics
    ///
    /// If `uid` is empty, longer than 70 octets or contains characters
    /// outside 0x21..=0x7E: RFC 1939 forbids such UIDs and a test server
    /// that sent one would only confuse the client under test.
    pub fn new(uid: impl Into<String>, data: impl Into<Arc<[u8]>>) -> Self {
        let uid = uid.into();
        assert!(
            !uid.is_empty() && uid.len() <= 70 && uid.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "invalid POP3 UID {uid:?}"
        );
        Self {
            uid,
            data: data.into(),
        }
    }

    /// The unique ID reported by `UIDL`.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The raw message bytes, exactly what a client must reconstruct after
    /// removing the dot-stuffing from a `RETR` response.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The raw bytes as a shared buffer (cheap to clone).
    pub fn shared_data(&self) -> Arc<[u8]> {
        Arc::clone(&self.data)
    }

    /// The message size in octets, as reported by `LIST` in CRLF mode.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the message has no bytes at all (legal, if odd).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies can be megabytes; print only the shape.
        f.debug_struct("Message")
            .field("uid", &self.uid)
            .field("len", &self.data.len())
            .finish()
    }
}

/// An ordered list of messages; message number `n` (1-based) is the `n-1`th.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    messages: Vec<Message>,
}

impl Mailbox {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a message whose UID is derived from its position and content,
    /// so it is stable across runs and unique within the mailbox.
    #[must_use]
    pub fn with_message(mut self, data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        let digest = Md5::digest(&data);
        let mut uid = format!("{:08x}-", self.messages.len() + 1);
        for b in &digest[..8] {
            let _ = write!(uid, "{b:02x}");
        }
        self.messages.push(Message::new(uid, data));
        self
    }

    /// Appends a message with an explicit UID (see [`Message::new`]).
    #[must_use]
    pub fn with_message_uid(mut self, uid: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.messages.push(Message::new(uid, data.into()));
        self
    }

    /// Appends a prepared [`Message`].
    pub fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// The messages, in message-number order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The number of messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are no messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Total size in octets, as `STAT` reports it in CRLF mode.
    pub fn total_size(&self) -> usize {
        self.messages.iter().map(Message::len).sum()
    }

    /// Generates `count` realistic, deterministic plain-text messages of
    /// `size` octets each.
    ///
    /// Each message has typical headers (Received, Date, From, To, Subject,
    /// Message-ID, MIME) and a body of CRLF-terminated lines of about 76
    /// characters; `dot_line_percent` percent of the body lines start with
    /// `.` (some are a lone `.`), which exercises dot-stuffing. The same
    /// `seed` always yields byte-identical mail, so benchmarks are
    /// comparable. The size is exact unless `size` is smaller than the
    /// headers, in which case the message is just the headers and an empty
    /// body.
    pub fn generated(count: usize, size: usize, dot_line_percent: u8, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let messages = (0..count)
            .map(|i| {
                let data = generate_message(&mut rng, i, size, dot_line_percent.min(100), seed);
                Message::new(format!("g{seed:x}-{:08}", i + 1), data)
            })
            .collect();
        Self { messages }
    }

    /// A small, friendly demo mailbox of five realistic messages: a welcome
    /// note, a meeting invitation, a message quoting an SMTP session (lines
    /// starting with `.`, including a lone `.`), a UTF-8 message sent as
    /// 8-bit bytes, and a multipart message with a small attachment.
    pub fn sample() -> Self {
        SAMPLE
            .iter()
            .enumerate()
            .fold(Self::new(), |mb, (i, text)| {
                mb.with_message_uid(format!("sample-{}", i + 1), crlf(text))
            })
    }
}

impl From<Vec<Message>> for Mailbox {
    fn from(messages: Vec<Message>) -> Self {
        Self { messages }
    }
}

impl FromIterator<Message> for Mailbox {
    fn from_iter<I: IntoIterator<Item = Message>>(iter: I) -> Self {
        Self {
            messages: iter.into_iter().collect(),
        }
    }
}

/// Converts the LF-only source text of the sample messages to CRLF.
fn crlf(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 30);
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// SplitMix64: tiny, fast and good enough for making text; avoids a `rand`
/// dependency and guarantees the same output on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x5eed_0f90_935e_1200)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "meeting",
    "project",
    "report",
    "schedule",
    "please",
    "review",
    "attached",
    "draft",
    "budget",
    "quarter",
    "team",
    "update",
    "thanks",
    "regards",
    "server",
    "migration",
    "weekend",
    "deadline",
    "customer",
    "feedback",
    "release",
    "notes",
    "coffee",
    "tomorrow",
    "morning",
    "afternoon",
    "office",
    "remote",
    "agenda",
    "minutes",
    "decision",
    "follow",
    "up",
    "on",
    "and",
    "with",
    "for",
    "about",
    "we",
    "should",
    "could",
    "would",
    "a",
    "an",
    "is",
    "are",
    "was",
    "will",
    "be",
    "to",
    "of",
    "in",
    "it",
    "that",
    "this",
    "our",
    "your",
    "new",
    "latest",
    "version",
    "mailbox",
    "delivery",
    "invoice",
    "payment",
    "travel",
    "plans",
    "conference",
    "slides",
    "question",
    "answer",
    "issue",
    "fixed",
    "tested",
    "deployed",
    "backup",
    "storage",
];

const PEOPLE: &[(&str, &str)] = &[
    ("Alice Martin", "alice@example.org"),
    ("Bob Keller", "bob.keller@example.com"),
    ("Carol Nguyen", "carol@example.net"),
    ("Dmitri Ivanov", "dmitri.ivanov@example.org"),
    ("Emma Schulz", "emma.schulz@example.de"),
    ("Farid Haddad", "farid@example.com"),
];

const DAYS: &[&str] = &["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 5322 date for `secs` seconds after the Unix epoch (UTC).
fn rfc5322_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn words_line(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
    let start = out.len();
    while out.len() - start < len {
        if out.len() > start {
            out.push(b' ');
        }
        out.extend_from_slice(rng.pick(WORDS).as_bytes());
    }
    out.truncate(start + len);
    if len > 0 && out[start + len - 1] == b' ' {
        out[start + len - 1] = b'.';
    }
}

fn generate_message(rng: &mut Rng, index: usize, size: usize, dot_pct: u8, seed: u64) -> Vec<u8> {
    let (from_name, from_addr) = PEOPLE[rng.below(PEOPLE.len())];
    // 2024-01-01 plus roughly an hour per message, jittered.
    let date_str = rfc5322_date(1_704_067_200 + index as u64 * 3_600 + rng.below(3_000) as u64);
    let id = rng.next();
    let ip = 1 + rng.below(250);
    let mut subject = Vec::new();
    let subject_len = 20 + rng.below(30);
    words_line(rng, &mut subject, subject_len);
    let mut subject = String::from_utf8(subject).unwrap_or_default();
    let domain = from_addr.split('@').nth(1).unwrap_or("example.org");
    let headers = |subject: &str| {
        format!(
            "Return-Path: <{from_addr}>\r\n\
             Received: from mail.{domain} (mail.{domain} [192.0.2.{ip}])\r\n\
             \tby mx.example.net with ESMTPS id {id:016x}\r\n\
             \tfor <demo@example.net>; {date_str}\r\n\
             Date: {date_str}\r\n\
             From: {from_name} <{from_addr}>\r\n\
             To: Demo User <demo@example.net>\r\n\
             Subject: {subject}\r\n\
             Message-ID: <{id:016x}.{index}.{seed:x}@{domain}>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n"
        )
    };
    let mut msg = headers(&subject);
    if size == msg.len() + 1 {
        // No body line can be a single octet (CRLF alone is two): make the
        // subject one character longer instead so the size stays exact.
        subject.push('!');
        msg = headers(&subject);
    }
    let mut msg = msg.into_bytes();
    msg.reserve(size.saturating_sub(msg.len()));
    while msg.len() < size {
        let remaining = size - msg.len();
        let dot = rng.below(100) < usize::from(dot_pct);
        // Every line costs its text plus CRLF. Lines are 60..=76 characters
        // until the last one, which takes up exactly what is left (at least
        // 3 octets are left whenever remaining > 80, so it never gets stuck).
        let len = if remaining <= 80 {
            remaining - 2
        } else if dot && rng.below(4) == 0 {
            1
        } else {
            60 + rng.below(17)
        };
        if dot && len == 1 {
            // A lone "." — the line a broken un-stuffer mistakes for the end
            // of the message.
            msg.push(b'.');
        } else if dot && len >= 2 && rng.below(3) == 0 {
            msg.extend_from_slice(b"..");
            words_line(rng, &mut msg, len - 2);
        } else if dot && len >= 2 {
            msg.push(b'.');
            words_line(rng, &mut msg, len - 1);
        } else {
            words_line(rng, &mut msg, len);
        }
        msg.extend_from_slice(b"\r\n");
    }
    msg
}

const SAMPLE: &[&str] = &[
    "Return-Path: <welcome@example.org>
Date: Mon, 06 Jan 2025 09:00:00 +0000
From: Example Mail Team <welcome@example.org>
To: Demo User <demo@example.net>
Subject: Welcome to your new mailbox
Message-ID: <welcome-0001@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hi Demo,

welcome to your new mailbox! This message was served by pop3-memserver,
a small in-memory POP3 server used to test and benchmark POP3 clients.

Have a nice day,
The Example Mail Team
",
    "Return-Path: <alice@example.org>
Date: Tue, 07 Jan 2025 14:32:10 +0100
From: Alice Martin <alice@example.org>
To: Demo User <demo@example.net>
Cc: Bob Keller <bob.keller@example.com>
Subject: Planning meeting on Thursday
Message-ID: <20250107143210.4711@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello Demo,

could we meet on Thursday at 10:00 to go through the release plan?
Agenda:
  1. status of the migration
  2. open questions from the customer
  3. dates for the next release

Bob will bring the slides.

Thanks,
Alice
",
    "Return-Path: <carol@mail.example.net>
Date: Wed, 08 Jan 2025 08:15:42 -0500
From: Carol Nguyen <carol@mail.example.net>
To: Demo User <demo@example.net>
Subject: Re: that strange SMTP log
Message-ID: <c0ffee.42@mail.example.net>
In-Reply-To: <question-7@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Here is the session you asked about. Note the lines that start with a
dot: the server must stuff them and your client must remove the extra dot.

  DATA
  354 End data with <CR><LF>.<CR><LF>
.hidden files are listed with ls -a
..and this line starts with two dots
.
The line above is a single dot, which is NOT the end of this message.
...

Cheers,
Carol
",
    "Return-Path: <emma.schulz@example.de>
Date: Thu, 09 Jan 2025 18:05:00 +0100
From: =?UTF-8?Q?Emma_Schulz?= <emma.schulz@example.de>
To: Demo User <demo@example.net>
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=
Message-ID: <gruesse-2025@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hallo Demo,

viele Grüße aus Köln! Das Wetter ist schön, der Kaffee süß.
Ça va? Nos vemos mañana. Привет! こんにちは 👋

Bis bald,
Emma
",
    "Return-Path: <farid@example.com>
Date: Fri, 10 Jan 2025 11:11:11 +0000
From: Farid Haddad <farid@example.com>
To: Demo User <demo@example.net>
Subject: Invoice 2025-001
Message-ID: <invoice-2025-001@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"=-=-=boundary-42\"

This is a multi-part message in MIME format.

--=-=-=boundary-42
Content-Type: text/plain; charset=us-ascii

Hi, please find the invoice attached. Payment within 30 days.

Best regards,
Farid

--=-=-=boundary-42
Content-Type: text/csv; name=\"invoice-2025-001.csv\"
Content-Disposition: attachment; filename=\"invoice-2025-001.csv\"
Content-Transfer-Encoding: base64

aXRlbSxxdWFudGl0eSxwcmljZQpjb25zdWx0aW5nLDEwLDEyMC4wMApzdXBwb3J0LDEsNTAuMDAK
--=-=-=boundary-42--
",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_is_deterministic_and_exact() {
        let a = Mailbox::generated(20, 5000, 10, 7);
        let b = Mailbox::generated(20, 5000, 10, 7);
        assert_eq!(a, b);
        for m in a.messages() {
            assert_eq!(m.len(), 5000);
            assert!(m.data().ends_with(b"\r\n"));
            // Every LF is part of a CRLF.
            for (i, &c) in m.data().iter().enumerate() {
                if c == b'\n' {
                    assert_eq!(m.data()[i - 1], b'\r');
                }
            }
        }
        let dots = a
            .messages()
            .iter()
            .flat_map(|m| m.data().split(|&b| b == b'\n'))
            .filter(|l| l.starts_with(b"."))
            .count();
        assert!(dots > 50, "{dots}");
        assert_ne!(a, Mailbox::generated(20, 5000, 10, 8));
    }

    #[test]
    fn generated_sizes_edge_cases() {
        for size in [0, 1, 100, 600, 601, 602, 603, 700, 781, 782, 783] {
            let mb = Mailbox::generated(3, size, 50, 1);
            for m in mb.messages() {
                let header_len = m.data().windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                assert_eq!(m.len(), size.max(header_len), "size {size}");
            }
        }
    }

    #[test]
    fn sample_has_dots_and_8bit() {
        let mb = Mailbox::sample();
        assert_eq!(mb.len(), 5);
        assert!(
            mb.messages()
                .iter()
                .any(|m| m.data().windows(5).any(|w| w == b"\r\n.\r\n"))
        );
        assert!(
            mb.messages()
                .iter()
                .any(|m| m.data().iter().any(|&b| b >= 0x80))
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_704_067_200),
            "Mon, 01 Jan 2024 00:00:00 +0000"
        );
    }
}
