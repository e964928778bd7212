//! The non-blocking mio example (`examples/mio.rs`) fetches a real Dovecot mailbox, gets through a server that
//! stops reading while a large pipelined batch is written (partial writes and `WouldBlock`), and times out on one
//! that never reads again.

#[path = "../examples/mio.rs"]
mod example;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use pop3_proto::Config;
use pop3_testkit::{Dovecot, sample_messages};
use socket2::{Domain, Socket, Type};

/// Fetches with the example, keeping the messages.
fn fetch_all(
    socket: mio::net::TcpStream,
    user: &str,
    password: &str,
    config: Config,
    timeout: Duration,
) -> std::io::Result<(example::Fetched, Vec<Vec<u8>>)> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let fetched = example::fetch(socket, user, password, config, timeout, |i, piece| {
        if messages.len() <= i {
            messages.resize(i + 1, Vec::new());
        }
        messages[i].extend_from_slice(piece);
    })?;
    assert_eq!(fetched.messages, messages.len(), "every message finished");
    assert!(fetched.retr_started.is_some() && fetched.retr_finished >= fetched.retr_started);
    Ok((fetched, messages))
}

fn config() -> Config {
    let mut config = Config::default();
    config.allow_plaintext_credentials = true; // loopback, plain TCP
    config
}

/// A non-blocking mio stream to `addr`, its send buffer made small when `small_buffer` so that writes block soon.
fn connect(addr: SocketAddr, small_buffer: bool) -> mio::net::TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if small_buffer {
        socket.set_send_buffer_size(4096).unwrap();
    }
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    mio::net::TcpStream::from_std(TcpStream::from(socket))
}

#[test]
fn fetches_a_dovecot_mailbox() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let user = dovecot.user("mio", &messages);
    let addr: SocketAddr = format!("{}:{}", dovecot.host(), dovecot.pop3_port())
        .parse()
        .unwrap();
    let (_, fetched) = fetch_all(
        connect(addr, false),
        &user.name,
        &user.password,
        config(),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{e}; Dovecot's log: {}", dovecot.log_path().display()));
    assert_eq!(fetched.len(), messages.len());
    for (got, sent) in fetched.iter().zip(&messages) {
        // Dovecot ends a last line that has no line ending.
        let mut delivered = sent.clone();
        if !delivered.ends_with(b"\r\n") {
            delivered.extend_from_slice(b"\r\n");
        }
        assert!(
            got == &delivered,
            "a message differs ({} octets, {} expected)",
            got.len(),
            delivered.len()
        );
    }
}

/// The message a [`stalling_server`] sends for number `n`.
fn message(n: usize) -> Vec<u8> {
    format!("Subject: message {n}\r\n\r\nbody of message {n}\r\n").into_bytes()
}

/// A POP3 server that speaks just enough for the example and, after answering STAT, reads nothing for `stall`
/// while the client writes its RETRs; its receive buffer is small, so they do not fit. Serves one connection.
fn stalling_server(count: usize, stall: Duration) -> SocketAddr {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(1).unwrap();
    let listener = TcpListener::from(socket);
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        out.write_all(b"+OK ready\r\n").unwrap();
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            let answer = match line
                .trim_end()
                .split_once(' ')
                .unwrap_or((line.trim_end(), ""))
            {
                ("CAPA", _) => b"+OK\r\nPIPELINING\r\n.\r\n".to_vec(),
                ("USER" | "PASS", _) => b"+OK\r\n".to_vec(),
                ("STAT", _) => format!("+OK {count} {}\r\n", count * 40).into_bytes(),
                ("RETR", n) => {
                    let n: usize = n.parse().unwrap();
                    [&b"+OK\r\n"[..], &message(n), b".\r\n"].concat()
                }
                ("QUIT", _) => {
                    out.write_all(b"+OK bye\r\n").unwrap();
                    return;
                }
                _ => b"-ERR unknown\r\n".to_vec(),
            };
            out.write_all(&answer).unwrap();
            if line.starts_with("STAT") {
                thread::sleep(stall);
            }
            line.clear();
        }
    });
    addr
}

#[test]
fn gets_through_a_server_that_stops_reading_while_a_large_batch_is_written() {
    const COUNT: usize = 5000;
    let addr = stalling_server(COUNT, Duration::from_millis(300));
    let mut config = config();
    // Room for the whole batch (about 55 KiB of RETR lines), far more than the sockets' buffers hold.
    config.max_in_flight_bytes = 256 * 1024;
    let (fetched, messages) = fetch_all(
        connect(addr, true),
        "u",
        "p",
        config,
        Duration::from_secs(20),
    )
    .expect("the fetch completes once the server reads again");
    // A partial write is one that ended in `WouldBlock` after the socket took some octets.
    assert!(
        fetched.partial_writes > 0,
        "the socket never refused output: {} blocked, {} partial writes",
        fetched.blocked_writes,
        fetched.partial_writes
    );
    eprintln!(
        "{} partial writes, {} writes refused outright",
        fetched.partial_writes, fetched.blocked_writes
    );
    assert_eq!(messages.len(), COUNT);
    for (i, got) in messages.iter().enumerate() {
        assert_eq!(got, &message(i + 1), "message {}", i + 1);
    }
}

#[test]
fn times_out_on_a_server_that_never_reads_again() {
    let addr = stalling_server(5000, Duration::from_secs(30));
    let mut config = config();
    config.max_in_flight_bytes = 256 * 1024;
    let started = Instant::now();
    let error = fetch_all(
        connect(addr, true),
        "u",
        "p",
        config,
        Duration::from_millis(500),
    )
    .expect_err("a server that stops reading for good cannot finish the fetch");
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
}
