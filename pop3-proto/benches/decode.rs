//! In-core decode speed: RETR, TOP and listings through `Client`, each next to a bare `memchr::memmem` scan of
//! the same bytes for `\n.`, the least work any POP3 client must do to find the end of a body.
//!
//! Bodies are measured two ways. `retr_buffered` times the decode alone, of a response already in the client's
//! buffer: the counterpart of `scan_baseline`. `retr` feeds the response a `Config::read_size` at a time through
//! `input_buffer`, so it also pays for copying every octet into the client's buffer, which a socket read does in
//! a real driver; its counterpart is `copy_and_scan_baseline`.
//!
//! Run with `cargo bench -p pop3-proto --bench decode`.

use divan::Bencher;
use divan::counter::BytesCount;
use pop3_proto::{Client, Command, Config, Event, LineEndings, MsgNum, Output};

fn main() {
    divan::main();
}

/// A deterministic generator, so every run measures the same bytes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

const BODY_SIZE: usize = 8 * 1024 * 1024;

/// A body of text lines of 40 to 76 characters; `dot_percent` of them start with a dot.
fn text_body(dot_percent: u64, line_break: &[u8]) -> Vec<u8> {
    let mut rng = Lcg(7);
    let mut body = Vec::with_capacity(BODY_SIZE + 100);
    while body.len() < BODY_SIZE {
        if rng.next() % 100 < dot_percent {
            body.push(b'.');
        }
        let len = 40 + rng.next() % 37;
        for _ in 0..len {
            let c = rng.next() % 30;
            body.push(if c < 4 { b' ' } else { b'a' + (c % 26) as u8 });
        }
        body.extend_from_slice(line_break);
    }
    body
}

/// Base64 in lines of 998 characters (the RFC 5322 maximum), as some mailers send attachments.
fn long_base64_body() -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = Lcg(11);
    let mut body = Vec::with_capacity(BODY_SIZE + 1000);
    while body.len() < BODY_SIZE {
        for _ in 0..998 {
            body.push(ALPHABET[(rng.next() % 64) as usize]);
        }
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// What the server sends for a RETR of `body`: dot-stuffed, then the terminator.
fn wire(body: &[u8], lf_only: bool) -> Vec<u8> {
    let (line_break, terminator): (&[u8], &[u8]) = if lf_only {
        (b"\n", b".\n")
    } else {
        (b"\r\n", b".\r\n")
    };
    let mut out = Vec::with_capacity(body.len() + body.len() / 32);
    out.extend_from_slice(b"+OK message follows");
    out.extend_from_slice(line_break);
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(terminator);
    out
}

struct Workload {
    name: &'static str,
    lf_only: bool,
    wire: Vec<u8>,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "plain text",
            lf_only: false,
            wire: wire(&text_body(0, b"\r\n"), false),
        },
        Workload {
            name: "5% dot lines",
            lf_only: false,
            wire: wire(&text_body(5, b"\r\n"), false),
        },
        Workload {
            name: "long base64 lines",
            lf_only: false,
            wire: wire(&long_base64_body(), false),
        },
        Workload {
            name: "LF-only, 5% dot lines",
            lf_only: true,
            wire: wire(&text_body(5, b"\n"), true),
        },
    ]
}

/// A client in the Transaction state, as if logged in, with LF-only framing when asked.
fn logged_in(lf_only: bool) -> Client {
    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    config.line_endings = if lf_only {
        LineEndings::Lf
    } else {
        LineEndings::Crlf
    };
    let mut client = Client::new(config);
    client.handle_input(b"+OK ready\r\n");
    client.send(Command::User("u")).unwrap();
    drain(&mut client);
    client.handle_input(b"+OK\r\n");
    client.send(Command::Pass("p")).unwrap();
    drain(&mut client);
    client.handle_input(b"+OK\r\n");
    drain(&mut client);
    client
}

fn drain(client: &mut Client) -> usize {
    let mut body = 0;
    loop {
        match client.poll().unwrap() {
            Output::Event(Event::Body { chunk, .. }) => body += chunk.len(),
            Output::Transmit(transmit) => {
                let written = transmit.bytes().len();
                client.consume_output(written);
            }
            Output::Event(_) => {}
            _ => return body,
        }
    }
}

/// Feeds `wire` the way a driver reading a socket would: straight into the client's buffer, a read at a time.
fn decode(mut client: Client, wire: &[u8]) -> usize {
    let mut body = 0;
    let mut fed = 0;
    while fed < wire.len() {
        let buffer = client.input_buffer();
        let n = buffer.len().min(wire.len() - fed);
        buffer[..n].copy_from_slice(&wire[fed..fed + n]);
        client.commit_input(n);
        fed += n;
        body += drain(&mut client);
    }
    body
}

/// What the baselines look for: a line break followed by a dot, for CRLF and LF-only bodies alike.
const SCAN_NEEDLE: &[u8] = b"\n.";

fn memmem_scan(wire: &[u8]) -> usize {
    memchr::memmem::find_iter(wire, SCAN_NEEDLE).count()
}

/// A logged-in client that has sent `RETR 1` and waits for the answer.
fn awaiting_retr(lf_only: bool) -> Client {
    let mut client = logged_in(lf_only);
    client.send(Command::Retr(MsgNum::new(1).unwrap())).unwrap();
    drain(&mut client);
    client
}

#[divan::bench(args = workloads())]
fn retr(bencher: Bencher<'_, '_>, workload: &Workload) {
    bencher
        .counter(BytesCount::new(workload.wire.len()))
        .with_inputs(|| awaiting_retr(workload.lf_only))
        .bench_local_values(|client| decode(client, &workload.wire));
}

/// Decoding alone: the whole response is already in the client's buffer (setup, not timed), as after one large
/// read, so this is the parse and nothing else, and the direct counterpart of `scan_baseline`. One input per
/// sample keeps those bytes as warm in cache as the baseline's.
#[divan::bench(args = workloads(), sample_size = 1, sample_count = 200)]
fn retr_buffered(bencher: Bencher<'_, '_>, workload: &Workload) {
    bencher
        .counter(BytesCount::new(workload.wire.len()))
        .with_inputs(|| {
            let mut client = awaiting_retr(workload.lf_only);
            client.handle_input(&workload.wire);
            client
        })
        .bench_local_values(|mut client| {
            let body = drain(&mut client);
            (client, body)
        });
}

#[divan::bench(args = workloads())]
fn scan_baseline(bencher: Bencher<'_, '_>, workload: &Workload) {
    bencher
        .counter(BytesCount::new(workload.wire.len()))
        .bench_local(|| memmem_scan(divan::black_box(&workload.wire)));
}

/// A logged-in client that has sent a TOP of message 1 that covers the whole body, and waits for the answer.
fn awaiting_top() -> Client {
    let mut client = logged_in(false);
    let top = Command::Top {
        msg: MsgNum::new(1).unwrap(),
        lines: 1_000_000,
    };
    client.send(top).unwrap();
    drain(&mut client);
    client
}

#[divan::bench]
fn top_of_5_percent_dots(bencher: Bencher<'_, '_>) {
    let wire = wire(&text_body(5, b"\r\n"), false);
    bencher
        .counter(BytesCount::new(wire.len()))
        .with_inputs(awaiting_top)
        .bench_local_values(|client| decode(client, &wire));
}

/// As `retr_buffered`, for TOP; its baseline is `scan_baseline`'s "5% dot lines".
#[divan::bench(sample_size = 1, sample_count = 200)]
fn top_of_5_percent_dots_buffered(bencher: Bencher<'_, '_>) {
    let wire = wire(&text_body(5, b"\r\n"), false);
    bencher
        .counter(BytesCount::new(wire.len()))
        .with_inputs(|| {
            let mut client = awaiting_top();
            client.handle_input(&wire);
            client
        })
        .bench_local_values(|mut client| {
            let body = drain(&mut client);
            (client, body)
        });
}

const LISTING_ENTRIES: u64 = 100_000;

fn listing(uidl: bool) -> Vec<u8> {
    let mut out = b"+OK listing follows\r\n".to_vec();
    for msg in 1..=LISTING_ENTRIES {
        if uidl {
            out.extend_from_slice(format!("{msg} {:016X}{:08X}\r\n", msg * 7919, msg).as_bytes());
        } else {
            out.extend_from_slice(format!("{msg} {}\r\n", 1000 + msg * 37 % 100_000).as_bytes());
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn decode_listing(bencher: Bencher<'_, '_>, command: Command<'static>, wire: &[u8]) {
    bencher
        .counter(BytesCount::new(wire.len()))
        .with_inputs(|| {
            let mut client = logged_in(false);
            client.send(command.clone()).unwrap();
            drain(&mut client);
            client
        })
        .bench_local_values(|mut client| {
            let mut entries = 0u64;
            let mut fed = 0;
            while fed < wire.len() {
                let buffer = client.input_buffer();
                let n = buffer.len().min(wire.len() - fed);
                buffer[..n].copy_from_slice(&wire[fed..fed + n]);
                client.commit_input(n);
                fed += n;
                loop {
                    match client.poll().unwrap() {
                        Output::Event(Event::Scan { .. } | Event::UniqueId { .. }) => entries += 1,
                        Output::Transmit(transmit) => {
                            let written = transmit.bytes().len();
                            client.consume_output(written);
                        }
                        Output::Event(_) => {}
                        _ => break,
                    }
                }
            }
            assert_eq!(entries, LISTING_ENTRIES);
        });
}

#[divan::bench]
fn list_100k(bencher: Bencher<'_, '_>) {
    decode_listing(bencher, Command::List(None), &listing(false));
}

#[divan::bench]
fn uidl_100k(bencher: Bencher<'_, '_>) {
    decode_listing(bencher, Command::Uidl(None), &listing(true));
}

/// The scan of the LIST (`uidl = false`) or UIDL (`true`) listing's bytes.
#[divan::bench(args = [false, true])]
fn listing_scan_baseline(bencher: Bencher<'_, '_>, uidl: bool) {
    let wire = listing(uidl);
    bencher
        .counter(BytesCount::new(wire.len()))
        .bench_local(|| memmem_scan(divan::black_box(&wire)));
}

/// The scan plus the copy a socket read makes anyway: the least a client reading into its own buffer can do.
#[divan::bench(args = workloads())]
fn copy_and_scan_baseline(bencher: Bencher<'_, '_>, workload: &Workload) {
    let finder = memchr::memmem::Finder::new(SCAN_NEEDLE);
    let mut buffer = vec![0u8; Config::default().read_size];
    bencher
        .counter(BytesCount::new(workload.wire.len()))
        .bench_local(|| {
            let mut found = 0;
            for piece in divan::black_box(&workload.wire).chunks(buffer.len()) {
                buffer[..piece.len()].copy_from_slice(piece);
                found += finder.find_iter(&buffer[..piece.len()]).count();
            }
            found
        });
}
