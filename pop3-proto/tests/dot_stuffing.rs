//! Property: whatever the message and however the server's bytes are cut into reads, a RETR of the
//! dot-stuffed message gives back the message (RFC 1939 §3), with CRLF appended when it did not end in one, as
//! [`pop3_proto::stuff`] documents for a server that must end the last line before the terminator.

mod support;

use pop3_proto::{Command, MsgNum};
use proptest::prelude::*;
use support::{Ev, Transcript, done, session};

/// Messages made mostly of the octets that matter to dot-stuffing.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let octet = prop_oneof![
        4 => Just(b'.'),
        4 => Just(b'\r'),
        4 => Just(b'\n'),
        1 => Just(b'a'),
        1 => Just(0xff),
        1 => any::<u8>(),
    ];
    prop::collection::vec(octet, 0..300)
}

/// The session: log in, RETR 1, and the server sends `message` dot-stuffed.
fn retr_of(message: &[u8]) -> (support::Session<'static>, Transcript) {
    let transcript = Transcript::parse(
        "
        S: +OK ready
        C: USER mrose
        S: +OK
        C: PASS secret
        S: +OK
        C: RETR 1
        S: +OK
        ",
    )
    .server(pop3_proto::stuff(message));
    let session = session()
        .when_idle([Command::User("mrose"), Command::Pass("secret")])
        .when_idle([Command::Retr(MsgNum::new(1).unwrap())]);
    (session, transcript)
}

/// What RETR 1 delivered.
fn body_of(run: &support::Run) -> Vec<u8> {
    assert_eq!(run.error, None);
    assert_eq!(run.of(2).last(), Some(&done(2)));
    run.of(2)
        .into_iter()
        .flat_map(|e| match e {
            Ev::Body { chunk, .. } => chunk,
            _ => Vec::new(),
        })
        .collect()
}

proptest! {
    #[test]
    fn retr_of_a_stuffed_message_gives_the_message_back(
        message in message(),
        reads in prop::collection::vec(1usize..9, 0..80),
    ) {
        let mut expected = message.clone();
        if !expected.is_empty() && !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        let (session, transcript) = retr_of(&message);
        let run = session.replay_in_pieces(transcript, &reads);
        prop_assert_eq!(body_of(&run), expected);
    }
}

#[test]
fn retr_of_messages_made_of_dots_and_line_breaks() {
    // Terminators and stuffed dots at every split point (the full replay).
    for message in [
        &b""[..],
        b".",
        b"..\r\n",
        b"\r\n.\r\n",
        b"a\r\n.\r\nb",
        b"a\n.\n",
        b"\r",
        b"\r\r\n.",
        b".\r\n.\r\n.",
    ] {
        let mut expected = message.to_vec();
        if !expected.is_empty() && !expected.ends_with(b"\r\n") {
            expected.extend_from_slice(b"\r\n");
        }
        let (session, transcript) = retr_of(message);
        assert_eq!(
            body_of(&session.replay(transcript)),
            expected,
            "{message:?}"
        );
    }
}
