//! Measures how fast a raw client can pull a generated mailbox from
//! `MemServer` with pipelined `RETR`s, to check the server is never the
//! bottleneck of a client benchmark.
//!
//! `cargo run --release -p pop3-memserver --example retr_throughput -- [MESSAGES] [SIZE] [tls]`
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, ServerConfig};
use rustls::pki_types::ServerName;

fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let tls = args.next().as_deref() == Some("tls");

    let pki = TestPki::generate();
    let mut config = ServerConfig::default().with_user("demo", "demo");
    if tls {
        config = config.with_implicit_tls(pki.server_config());
    }
    let mailbox = Mailbox::generated(messages, size, 2, 1);
    let server = MemServer::start(config, mailbox).expect("start");

    let sock = TcpStream::connect(server.addr()).expect("connect");
    let mut stream: Box<dyn ReadWrite> = if tls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(pki.ca.root_store())
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(
            Arc::new(client),
            ServerName::try_from("localhost").expect("name"),
        )
        .expect("client");
        Box::new(rustls::StreamOwned::new(conn, sock))
    } else {
        Box::new(sock)
    };

    let mut cmds = b"USER demo\r\nPASS demo\r\n".to_vec();
    for i in 1..=messages {
        cmds.extend_from_slice(format!("RETR {i}\r\n").as_bytes());
    }
    cmds.extend_from_slice(b"QUIT\r\n");

    let start = Instant::now();
    // Commands are small; the server reads them while the client reads the
    // responses, so writing everything first cannot deadlock here (the
    // server only blocks writing once the client stops reading, and the
    // command batch fits the socket buffers for reasonable message counts).
    stream.write_all(&cmds).expect("write");
    stream.flush().expect("flush");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}: {messages} x {size} B: {:.1} MB in {:.3} s = {:.0} MB/s ({:.0} msgs/s); server stats {:?}",
        if tls { "TLS" } else { "plain" },
        total as f64 / 1e6,
        secs,
        total as f64 / 1e6 / secs,
        messages as f64 / secs,
        server.stats()
    );
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
