//! Unit tests of the client that need its private parts (the receive buffer's capacity).

use super::*;

#[test]
fn a_line_arriving_octet_by_octet_is_scanned_once() {
    // Each read resumes the search for the line end where the last one stopped: linear, not quadratic, in
    // the length of a line dripped in small reads (relevant once `max_line_len` is raised).
    let mut client = Client::new(Config {
        max_line_len: 1 << 20,
        ..Config::default()
    });
    for (i, &octet) in b"+OK a greeting sent one octet at a time"
        .iter()
        .enumerate()
    {
        client.handle_input(&[octet]);
        assert!(matches!(client.poll(), Ok(Output::NeedInput)));
        assert_eq!(client.rx.line_scanned(), i + 1);
    }
    client.handle_input(b"\r\n");
    assert!(matches!(
        client.poll(),
        Ok(Output::Event(Event::Greeting { ok: true, .. }))
    ));
    assert_eq!(client.rx.line_scanned(), 0);
}

/// A client fed `+OK ready`, then CAPA sent.
fn capa_sent() -> (Client, CommandId) {
    let mut client = Client::new(Config::default());
    client.handle_input(b"+OK ready\r\n");
    assert!(matches!(
        client.poll(),
        Ok(Output::Event(Event::Greeting { .. }))
    ));
    let capa = client.send(Command::Capa).unwrap();
    let Ok(Output::Transmit(transmit)) = client.poll() else {
        panic!("CAPA not written");
    };
    let octets = transmit.bytes().len();
    client.consume_output(octets);
    (client, capa)
}

/// Polls until the answer to `id` is complete, as a session layer does before it stops polling.
fn poll_until_done(client: &mut Client, id: CommandId) {
    loop {
        match client.poll() {
            Ok(Output::Event(Event::Done { id: done })) if done == id => return,
            Ok(Output::Event(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_session_answered_and_released_holds_no_receive_buffer() {
    let (mut client, capa) = capa_sent();
    assert!(
        client.rx.capacity() > 0,
        "the greeting was read into a buffer"
    );
    client.handle_input(b"+OK\r\nUIDL\r\n.\r\n");
    poll_until_done(&mut client, capa);
    client.release_idle_buffer();
    assert_eq!(client.rx.capacity(), 0);
    // The next answer is read into a fresh buffer.
    let capa = client.send(Command::Capa).unwrap();
    assert!(matches!(client.poll(), Ok(Output::Transmit(_))));
    client.consume_output(6);
    client.handle_input(b"+OK again\r\nTOP\r\n.\r\n");
    poll_until_done(&mut client, capa);
    assert!(
        client
            .capabilities()
            .is_some_and(|caps| caps.top() && !caps.uidl())
    );
    // Polling on to Idle releases it too.
    assert!(matches!(client.poll(), Ok(Output::Idle)));
    assert_eq!(client.rx.capacity(), 0);
}

#[test]
fn the_receive_buffer_is_kept_while_an_answer_is_awaited_or_bytes_are_unparsed() {
    let (mut client, capa) = capa_sent();
    // CAPA is in flight: its answer will need the buffer.
    client.release_idle_buffer();
    assert!(client.rx.capacity() > 0);
    // Answered, with the start of something unsolicited behind it: those bytes are the next call's to read.
    client.handle_input(b"+OK\r\n.\r\n-ERR bye");
    poll_until_done(&mut client, capa);
    client.release_idle_buffer();
    assert!(client.rx.has_data());
    assert!(client.rx.capacity() > 0);
}
