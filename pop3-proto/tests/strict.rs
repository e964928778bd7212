//! Strict, not brittle: answers are checked against their questions; a fault confined to one well-framed response
//! fails that command and the session goes on, a fault that breaks framing ends it; and after STLS nothing learnt
//! from cleartext frames encrypted bytes. Every transcript is replayed whole, byte by byte and split at every point.

mod support;

use pop3_proto::{Command, Error, InvalidReply, MsgNum, State};
use support::{body, done, invalid, malformed, ok, scan, session, stat, uid};

fn msg(n: u64) -> MsgNum {
    MsgNum::new(n).unwrap()
}

/// A session that logs in with commands 0 and 1; its transcripts start with [`LOGIN`].
fn logged_in<'a>() -> support::Session<'a> {
    session().when_idle([Command::User("mrose"), Command::Pass("secret")])
}

const LOGIN: &str = "
    S: +OK ready
    C: USER mrose
    S: +OK
    C: PASS secret
    S: +OK
";

// Answers checked against questions.

#[test]
fn list_n_answered_for_another_message_fails_that_command_only() {
    let run = logged_in()
        .when_idle([Command::List(Some(msg(1)))])
        .when_idle([Command::Uidl(Some(msg(1)))])
        .when_idle([Command::Uidl(Some(msg(1)))])
        .replay(&format!(
            "{LOGIN}
            C: LIST 1
            S: +OK 99 1024
            C: UIDL 1
            S: +OK 99 abc
            C: UIDL 1
            S: +OK 1 abc
            "
        ));
    let wrong = InvalidReply::WrongMessage {
        asked: 1,
        answered: 99,
    };
    assert_eq!(run.of(2), [ok(2, "99 1024"), invalid(2, wrong.clone())]);
    assert_eq!(run.of(3), [ok(3, "99 abc"), invalid(3, wrong)]);
    assert_eq!(run.of(4), [ok(4, "1 abc"), uid(4, 1, "abc"), done(4)]);
    assert_eq!(run.error, None);
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn a_listing_out_of_order_fails_and_is_read_to_its_end() {
    for (entries, previous, at) in [
        ("1 10\\r\\n2 20\\r\\n2 20\\r\\n3 30", 2, 2),
        ("1 10\\r\\n3 30\\r\\n2 20\\r\\n4 40", 3, 2),
    ] {
        let run = logged_in()
            .when_idle([Command::List(None)])
            .when_idle([Command::Noop])
            .replay(&format!(
                "{LOGIN}
                C: LIST
                S: +OK
                S~ {entries}\\r\\n
                S: .
                C: NOOP
                S: +OK
                "
            ));
        assert_eq!(
            run.of(2),
            [
                ok(2, ""),
                scan(2, 1, 10),
                scan(2, previous, previous * 10),
                invalid(2, InvalidReply::OutOfOrder { previous, msg: at }),
            ],
            "{entries}"
        );
        assert_eq!(run.of(3), [ok(3, ""), done(3)], "{entries}");
        assert_eq!(run.error, None);
    }
}

#[test]
fn a_listing_beyond_the_count_stat_reported_fails() {
    let run = logged_in()
        .when_idle([Command::Stat])
        .when_idle([Command::Uidl(None)])
        .when_idle([Command::List(Some(msg(3)))])
        .replay(&format!(
            "{LOGIN}
            C: STAT
            S: +OK 2 300
            C: UIDL
            S: +OK
            S: 1 a
            S: 2 b
            S: 3 c
            S: .
            C: LIST 3
            S: +OK 3 100
            "
        ));
    let beyond = InvalidReply::BeyondCount { msg: 3, count: 2 };
    assert_eq!(
        run.of(3),
        [
            ok(3, ""),
            uid(3, 1, "a"),
            uid(3, 2, "b"),
            invalid(3, beyond.clone())
        ]
    );
    assert_eq!(run.of(4), [ok(4, "3 100"), invalid(4, beyond)]);
    assert_eq!(run.error, None);
}

#[test]
fn deletion_does_not_renumber_so_stat_after_dele_still_bounds_correctly() {
    // Three messages; after DELE 1, STAT counts two, yet message 3 keeps its number (RFC 1939 §5).
    let run = logged_in()
        .when_idle([Command::Dele(msg(1))])
        .when_idle([Command::Stat])
        .when_idle([Command::List(None)])
        .when_idle([Command::Rset])
        .when_idle([Command::Stat])
        .when_idle([Command::List(None)])
        .replay(&format!(
            "{LOGIN}
            C: DELE 1
            S: +OK message 1 deleted
            C: STAT
            S: +OK 2 200
            C: LIST
            S: +OK
            S: 2 100
            S: 3 100
            S: .
            C: RSET
            S: +OK
            C: STAT
            S: +OK 3 300
            C: LIST
            S: +OK
            S: 1 100
            S: 2 100
            S: 3 100
            S: 4 100
            S: .
            "
        ));
    assert_eq!(run.of(3), [ok(3, "2 200"), stat(3, 2, 200), done(3)]);
    assert_eq!(
        run.of(4),
        [ok(4, ""), scan(4, 2, 100), scan(4, 3, 100), done(4)]
    );
    assert_eq!(
        run.of(7).last(),
        Some(&invalid(7, InvalidReply::BeyondCount { msg: 4, count: 3 }))
    );
}

#[test]
fn a_raw_command_makes_the_count_unknown() {
    // A raw command may have deleted messages the client cannot count, so a later STAT no longer bounds LIST.
    let run = logged_in()
        .when_idle([Command::Raw {
            line: "XDELE 1",
            multiline: false,
        }])
        .when_idle([Command::Stat])
        .when_idle([Command::List(None)])
        .replay(&format!(
            "{LOGIN}
            C: XDELE 1
            S: +OK
            C: STAT
            S: +OK 1 100
            C: LIST
            S: +OK
            S: 2 100
            S: .
            "
        ));
    assert_eq!(run.of(4), [ok(4, ""), scan(4, 2, 100), done(4)]);
}

// Recoverable: one well-framed response.

#[test]
fn a_malformed_stat_fails_stat_and_the_deletions_already_made_survive() {
    for answer in ["seven 1800", "7"] {
        let run = logged_in()
            .when_idle([Command::Dele(msg(1))])
            .when_idle([Command::Stat])
            .when_idle([Command::Quit])
            .replay(&format!(
                "{LOGIN}
                C: DELE 1
                S: +OK
                C: STAT
                S: +OK {answer}
                C: QUIT
                S: +OK bye, 1 message deleted
                "
            ));
        assert_eq!(
            run.of(3),
            [ok(3, answer), malformed(3, answer.as_bytes())],
            "{answer}"
        );
        assert_eq!(run.of(4), [ok(4, "bye, 1 message deleted"), done(4)]);
        assert_eq!(run.error, None);
        assert_eq!(run.state(), State::Closed);
    }
}

#[test]
fn a_malformed_entry_fails_the_listing_and_the_next_command_goes_on() {
    let run = logged_in()
        .when_idle([Command::Uidl(None)])
        .when_idle([Command::Retr(msg(2))])
        .replay(&format!(
            "{LOGIN}
            C: UIDL
            S: +OK
            S: 1 abc
            S: 2 a stray space
            S: 3 ghi
            S: .
            C: RETR 2
            S: +OK
            S: hello
            S: .
            "
        ));
    assert_eq!(
        run.of(2),
        [
            ok(2, ""),
            uid(2, 1, "abc"),
            malformed(2, b"2 a stray space")
        ]
    );
    assert_eq!(run.of(3), [ok(3, ""), body(3, "hello\r\n"), done(3)]);
    assert_eq!(run.error, None);
}

#[test]
fn pipelined_commands_after_an_invalid_answer_keep_their_own_answers() {
    let run = logged_in()
        .when_idle([Command::Capa])
        .when_idle([
            Command::Stat,
            Command::List(Some(msg(1))),
            Command::Dele(msg(1)),
        ])
        .replay(&format!(
            "{LOGIN}
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: STAT
            C: LIST 1
            C: DELE 1
            S: +OK 1
            S: +OK 2 100
            S: +OK deleted
            "
        ));
    assert_eq!(run.of(3), [ok(3, "1"), malformed(3, b"1")]);
    assert_eq!(
        run.of(4),
        [
            ok(4, "2 100"),
            invalid(
                4,
                InvalidReply::WrongMessage {
                    asked: 1,
                    answered: 2
                }
            )
        ]
    );
    assert_eq!(run.of(5), [ok(5, "deleted"), done(5)]);
}

// Fatal: framing is lost.

#[test]
fn a_line_over_the_limit_inside_a_listing_is_fatal() {
    let long = "u".repeat(3000);
    let run = logged_in()
        .when_idle([Command::Uidl(None)])
        .replay(&format!("{LOGIN}\nC: UIDL\nS: +OK\nS: 1 {long}\nS: ."));
    assert_eq!(run.error, Some(Error::LineTooLong { limit: 2048 }));
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn a_multi_line_answer_where_one_line_was_due_is_fatal() {
    // STAT's answer is one line; the lines after it answer nothing.
    let run = logged_in()
        .when_idle([Command::Stat])
        .replay(&format!("{LOGIN}\nC: STAT\nS: +OK 1 100\nS: 1 100\nS: ."));
    assert_eq!(run.of(2), [ok(2, "1 100"), stat(2, 1, 100), done(2)]);
    assert!(
        matches!(run.error, Some(Error::Unsolicited { .. })),
        "{:?}",
        run.error
    );
}

#[test]
fn a_single_line_where_a_listing_was_due_cannot_be_resynchronised() {
    // `LIST` answered as if it were `LIST 1`: the next answer is read as a listing entry, and the listing never
    // ends.
    let run = logged_in()
        .when_idle([Command::List(None)])
        .replay(&format!("{LOGIN}\nC: LIST\nS: +OK 1 100\nS: +OK"));
    assert_eq!(run.error, Some(Error::UnexpectedEof));
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn eof_inside_a_listing_is_fatal_even_after_a_fault() {
    let run = logged_in()
        .when_idle([Command::List(None)])
        .replay(&format!("{LOGIN}\nC: LIST\nS: +OK\nS: x y\nS: 2 100"));
    assert_eq!(run.error, Some(Error::UnexpectedEof));
    assert_eq!(run.of(2), [ok(2, "")]);
}

// After STLS, framing starts over from encrypted bytes.

#[test]
fn lf_framing_detected_in_clear_does_not_survive_stls() {
    // An attacker strips the CR from the cleartext greeting. Over TLS the server speaks CRLF, so a bare-LF `.`
    // line inside the message is data, not the end of it.
    let run = session()
        .config(|c| c.allow_plaintext_credentials = false)
        .when_idle([Command::Stls])
        .when_idle([Command::User("mrose"), Command::Pass("secret")])
        .when_idle([Command::Retr(msg(1))])
        .replay(
            r"
            S~ +OK ready\n
            C: STLS
            S~ +OK go ahead\n
            -- tls --
            C: CAPA
            S: +OK
            S: USER
            S: .
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: RETR 1
            S: +OK
            S~ line\n.\n+OK not a response\r\n
            S: .
            ",
        );
    assert_eq!(run.error, None);
    assert_eq!(run.body(4), b"line\n.\n+OK not a response\r\n");
    assert!(!run.client.is_lf_only());
}

#[test]
fn an_lf_only_server_is_detected_again_over_tls() {
    let run = session()
        .config(|c| c.allow_plaintext_credentials = false)
        .config(|c| c.recapa_after_tls = false)
        .when_idle([Command::Stls])
        .when_idle([Command::User("mrose"), Command::Pass("secret")])
        .when_idle([Command::Retr(msg(1))])
        .replay(
            r"
            S: +OK ready
            C: STLS
            S: +OK go ahead
            -- tls --
            C: USER mrose
            S~ +OK\n
            C: PASS secret
            S~ +OK\n
            C: RETR 1
            S~ +OK\nline\n.\n
            ",
        );
    assert_eq!(run.error, None);
    assert_eq!(run.body(3), b"line\n");
    assert!(run.client.is_lf_only());
}
