//! The write side and time for non-blocking drivers: output offered until consumed, readiness, the response
//! timer's condition, which commands a write carries, and `write_output` against a socket that takes little.

use std::io::{self, Write};

use pop3_proto::{Client, Command, CommandId, Config, Output};

fn logged_in_with_pipelining() -> Client {
    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    let mut client = Client::new(config);
    assert!(
        client.wants_read() && client.awaiting_response(),
        "the greeting is owed"
    );
    assert!(!client.wants_write());
    client.handle_input(b"+OK ready\r\n");
    client.send(Command::Capa).unwrap();
    client.send(Command::User("u")).unwrap();
    client.send(Command::Pass("p")).unwrap();
    for answer in [&b"+OK\r\nPIPELINING\r\n.\r\n"[..], b"+OK\r\n", b"+OK\r\n"] {
        drive(&mut client, usize::MAX);
        client.handle_input(answer);
    }
    drive(&mut client, usize::MAX);
    assert!(!client.wants_read() && !client.wants_write() && !client.awaiting_response());
    client
}

/// Polls until the client rests, writing at most `per_write` octets per transmit; returns what was written.
fn drive(client: &mut Client, per_write: usize) -> Vec<u8> {
    let mut written = Vec::new();
    loop {
        match client.poll().unwrap() {
            Output::Transmit(transmit) => {
                let n = transmit.bytes().len().min(per_write);
                written.extend_from_slice(&transmit.bytes()[..n]);
                client.consume_output(n);
            }
            Output::Event(_) => {}
            _ => return written,
        }
    }
}

#[test]
fn a_transmit_repeats_until_consumed_and_partial_writes_resume_where_they_stopped() {
    let mut client = logged_in_with_pipelining();
    let stat = client.send(Command::Stat).unwrap();
    let noop = client.send(Command::Noop).unwrap();
    let Ok(Output::Transmit(transmit)) = client.poll() else {
        panic!("nothing to write")
    };
    assert_eq!(transmit.bytes(), b"STAT\r\nNOOP\r\n");
    assert_eq!(transmit.commands().collect::<Vec<_>>(), [stat, noop]);
    assert_eq!(transmit.completed_by(5).count(), 0);
    assert_eq!(transmit.completed_by(6).collect::<Vec<_>>(), [stat]);
    // Not consumed: offered again, whole.
    let Ok(Output::Transmit(again)) = client.poll() else {
        panic!("the output was dropped")
    };
    assert_eq!(again.bytes(), b"STAT\r\nNOOP\r\n");
    assert!(client.wants_write() && client.wants_read() && !client.awaiting_response());
    client.consume_output(4);
    assert_eq!(
        client.sent_through(),
        Some(CommandId::new(2)),
        "PASS was the last one sent in full"
    );
    let Ok(Output::Transmit(rest)) = client.poll() else {
        panic!("the rest was dropped")
    };
    assert_eq!(rest.bytes(), b"\r\nNOOP\r\n");
    assert_eq!(rest.completed_by(2).collect::<Vec<_>>(), [stat]);
    client.consume_output(2);
    assert_eq!(client.sent_through(), Some(stat));
    client.consume_output(100);
    assert_eq!(client.sent_through(), Some(noop));
    assert!(!client.wants_write() && client.awaiting_response());
    client.handle_input(b"+OK 0 0\r\n+OK\r\n");
    drive(&mut client, usize::MAX);
    assert!(
        !client.wants_read() && !client.awaiting_response(),
        "idle: nothing owed"
    );
}

#[test]
fn answers_are_parsed_while_later_commands_wait_to_be_written() {
    let mut client = logged_in_with_pipelining();
    let first = client.send(Command::Noop).unwrap();
    let Ok(Output::Transmit(_)) = client.poll() else {
        panic!("NOOP not released")
    };
    client.consume_output(6);
    client.send(Command::Noop).unwrap();
    let Ok(Output::Transmit(_)) = client.poll() else {
        panic!("the second NOOP not released")
    };
    // The socket takes nothing more, yet the first answer arrives and is handed out.
    client.handle_input(b"+OK\r\n");
    let mut finished = Vec::new();
    loop {
        match client.poll().unwrap() {
            Output::Event(event) => finished.extend(event.finishes()),
            Output::Transmit(transmit) => {
                assert_eq!(transmit.bytes(), b"NOOP\r\n");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(finished, [first]);
}

/// A socket that takes `per_write` octets at one call in three and would block at the others.
struct Choked {
    wire: Vec<u8>,
    per_write: usize,
    calls: usize,
}

impl Write for Choked {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 != 1 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = bytes.len().min(self.per_write);
        self.wire.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_output_consumes_what_the_socket_took_and_reports_would_block() {
    let mut client = logged_in_with_pipelining();
    for n in 1..=3 {
        client
            .send(Command::Retr(pop3_proto::MsgNum::new(n).unwrap()))
            .unwrap();
    }
    let mut socket = Choked {
        wire: Vec::new(),
        per_write: 4,
        calls: 0,
    };
    let Ok(Output::Transmit(_)) = client.poll() else {
        panic!("nothing released")
    };
    let mut calls = Vec::new();
    while client.wants_write() {
        calls.push(client.write_output(&mut socket).map_err(|e| e.kind()));
    }
    assert_eq!(socket.wire, b"RETR 1\r\nRETR 2\r\nRETR 3\r\n");
    assert_eq!(
        calls.first(),
        Some(&Ok(4)),
        "a partial write, then WouldBlock"
    );
    assert!(calls.contains(&Err(io::ErrorKind::WouldBlock)));
    assert_eq!(
        client.write_output(&mut socket).ok(),
        Some(0),
        "nothing pending"
    );
}
