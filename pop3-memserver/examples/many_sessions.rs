//! Opens many concurrent sessions against `MemServer` to check that
//! per-connection threads stay cheap (needs about 3 file descriptors per
//! session, so raise `ulimit -n` for large counts).
//!
//! `cargo run --release -p pop3-memserver --example many_sessions -- [SESSIONS]`
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

use pop3_memserver::{Mailbox, MemServer, ServerConfig};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let server = MemServer::start(
        ServerConfig::default().with_user("demo", "demo"),
        Mailbox::generated(10, 10_000, 2, 1),
    )
    .expect("start");
    let start = Instant::now();
    let mut clients: Vec<BufReader<TcpStream>> = (0..n)
        .map(|_| {
            let mut r = BufReader::new(TcpStream::connect(server.addr()).expect("connect"));
            let mut line = String::new();
            r.read_line(&mut line).expect("greeting");
            assert!(line.starts_with("+OK"));
            r
        })
        .collect();
    let opened = start.elapsed();
    for r in &mut clients {
        r.get_mut()
            .write_all(b"USER demo\r\nPASS demo\r\nSTAT\r\n")
            .expect("write");
    }
    for r in &mut clients {
        for _ in 0..3 {
            let mut line = String::new();
            r.read_line(&mut line).expect("reply");
            assert!(line.starts_with("+OK"), "{line}");
        }
    }
    println!(
        "{n} concurrent sessions: opened in {opened:?}, all logged in after {:?}; {:?}",
        start.elapsed(),
        server.stats()
    );
}
