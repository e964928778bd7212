//! RFC 1939's own examples, replayed as transcripts: one test per example.
//!
//! The examples in §§5–7 start in the TRANSACTION state; their transcripts log in with USER/PASS first (commands 0
//! and 1), so the example's own commands are numbered from 2.

mod support;

use pop3_proto::{Command, MsgNum, State};
use support::{body, done, err, greeting, ok, scan, session, stat, uid};

fn msg(n: u64) -> MsgNum {
    MsgNum::new(n).unwrap()
}

fn login() -> [Command<'static>; 2] {
    [Command::User("mrose"), Command::Pass("secret")]
}

#[test]
fn greeting_opens_the_authorization_state() {
    // §4: "An example might be: S: +OK POP3 server ready".
    let run = session().replay(
        "
        S: +OK POP3 server ready
        ",
    );
    assert_eq!(run.events, [greeting("POP3 server ready")]);
    assert_eq!(run.states, [State::Greeting, State::Authorization]);
    assert!(run.transmits.is_empty());
    assert_eq!(run.client.greeting(), Some(&b"POP3 server ready"[..]));
}

#[test]
fn quit_in_authorization_signs_off_without_update() {
    // §4, QUIT.
    let run = session().when_idle([Command::Quit]).replay(
        "
        S: +OK POP3 server ready
        C: QUIT
        S: +OK dewey POP3 server signing off
        ",
    );
    assert_eq!(
        run.events[1..],
        [ok(0, "dewey POP3 server signing off"), done(0)]
    );
    assert_eq!(
        run.states,
        [State::Greeting, State::Authorization, State::Closed]
    );
}

#[test]
fn stat_of_a_two_message_maildrop() {
    // §5, STAT.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Stat])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: STAT
            S: +OK 2 320
            ",
        );
    assert_eq!(run.events[5..], [ok(2, "2 320"), stat(2, 2, 320), done(2)]);
    assert_eq!(run.state(), State::Transaction);
    assert_eq!(run.transmits, ["USER mrose", "PASS <redacted>", "STAT"]);
}

#[test]
fn list_of_all_messages_of_one_and_of_a_missing_one() {
    // §5, LIST: the three exchanges of the example.
    let run = session()
        .when_idle(login())
        .when_idle([Command::List(None)])
        .when_idle([Command::List(Some(msg(2)))])
        .when_idle([Command::List(Some(msg(3)))])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: LIST
            S: +OK 2 messages (320 octets)
            S: 1 120
            S: 2 200
            S: .
            C: LIST 2
            S: +OK 2 200
            C: LIST 3
            S: -ERR no such message, only 2 messages in maildrop
            ",
        );
    assert_eq!(
        run.events[5..],
        [
            ok(2, "2 messages (320 octets)"),
            scan(2, 1, 120),
            scan(2, 2, 200),
            done(2),
            ok(3, "2 200"),
            scan(3, 2, 200),
            done(3),
            err(4, "no such message, only 2 messages in maildrop"),
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn retr_of_a_dot_stuffed_message() {
    // §5, RETR, with a message for "<the POP3 server sends the entire message here>".
    let run = session()
        .when_idle(login())
        .when_idle([Command::Retr(msg(1))])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: RETR 1
            S: +OK 120 octets
            S: From: dewey@dbc.mtview.ca.us
            S: Subject: dots
            S:
            S: ..a line that starts with a dot
            S: ...
            S: ..
            S: end
            S: .
            ",
        );
    assert_eq!(
        run.events[5..],
        [
            ok(2, "120 octets"),
            body(
                2,
                "From: dewey@dbc.mtview.ca.us\r\nSubject: dots\r\n\r\n.a line that starts with a dot\r\n..\r\n.\r\nend\r\n"
            ),
            done(2),
        ]
    );
}

#[test]
fn dele_of_a_message_and_of_a_deleted_one() {
    // §5, DELE.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Dele(msg(1))])
        .when_idle([Command::Dele(msg(2))])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: DELE 1
            S: +OK message 1 deleted
            C: DELE 2
            S: -ERR message 2 already deleted
            ",
        );
    assert_eq!(
        run.events[5..],
        [
            ok(2, "message 1 deleted"),
            done(2),
            err(3, "message 2 already deleted"),
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn noop_in_transaction() {
    // §5, NOOP.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Noop])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: NOOP
            S: +OK
            ",
        );
    assert_eq!(run.events[5..], [ok(2, ""), done(2)]);
}

#[test]
fn rset_unmarks_deleted_messages() {
    // §5, RSET.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Rset])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: RSET
            S: +OK maildrop has 2 messages (320 octets)
            ",
        );
    assert_eq!(
        run.events[5..],
        [ok(2, "maildrop has 2 messages (320 octets)"), done(2)]
    );
}

#[test]
fn quit_in_transaction_goes_through_update() {
    // §6, QUIT, with both of the example's answers.
    for answer in [
        "dewey POP3 server signing off (maildrop empty)",
        "dewey POP3 server signing off (2 messages left)",
    ] {
        let run = session()
            .when_idle(login())
            .when_idle([Command::Quit])
            .replay(&format!(
                "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: QUIT
            S: +OK {answer}
            "
            ));
        assert_eq!(run.events[5..], [ok(2, answer), done(2)]);
        assert_eq!(
            run.states,
            [
                State::Greeting,
                State::Authorization,
                State::Transaction,
                State::Update,
                State::Closed
            ]
        );
    }
}

#[test]
fn top_of_a_message_and_of_a_missing_one() {
    // §7, TOP.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Top {
            msg: msg(1),
            lines: 10,
        }])
        .when_idle([Command::Top {
            msg: msg(100),
            lines: 3,
        }])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: TOP 1 10
            S: +OK
            S: Subject: headers, a blank line and the first lines
            S:
            S: line 1
            S: .
            C: TOP 100 3
            S: -ERR no such message
            ",
        );
    assert_eq!(
        run.events[5..],
        [
            ok(2, ""),
            body(
                2,
                "Subject: headers, a blank line and the first lines\r\n\r\nline 1\r\n"
            ),
            done(2),
            err(3, "no such message"),
        ]
    );
}

#[test]
fn uidl_of_all_messages_of_one_and_of_a_missing_one() {
    // §7, UIDL.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Uidl(None)])
        .when_idle([Command::Uidl(Some(msg(2)))])
        .when_idle([Command::Uidl(Some(msg(3)))])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            C: PASS secret
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: UIDL
            S: +OK
            S: 1 whqtswO00WBw418f9t5JxYwZ
            S: 2 QhdPYR:00WBw1Ph7x7
            S: .
            C: UIDL 2
            S: +OK 2 QhdPYR:00WBw1Ph7x7
            C: UIDL 3
            S: -ERR no such message, only 2 messages in maildrop
            ",
        );
    assert_eq!(
        run.events[5..],
        [
            ok(2, ""),
            uid(2, 1, "whqtswO00WBw418f9t5JxYwZ"),
            uid(2, 2, "QhdPYR:00WBw1Ph7x7"),
            done(2),
            ok(3, "2 QhdPYR:00WBw1Ph7x7"),
            uid(3, 2, "QhdPYR:00WBw1Ph7x7"),
            done(3),
            err(4, "no such message, only 2 messages in maildrop"),
        ]
    );
}

#[test]
fn user_refused_then_accepted() {
    // §7, USER.
    let run = session()
        .when_idle([Command::User("frated")])
        .when_idle([Command::User("mrose")])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER frated
            S: -ERR sorry, no mailbox for frated here
            C: USER mrose
            S: +OK mrose is a real hoopy frood
            ",
        );
    assert_eq!(
        run.events[1..],
        [
            err(0, "sorry, no mailbox for frated here"),
            ok(1, "mrose is a real hoopy frood"),
            done(1),
        ]
    );
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn pass_refused_on_a_locked_maildrop_then_accepted() {
    // §7, PASS: both of the example's answers, one login after the other.
    let run = session().when_idle(login()).when_idle(login()).replay(
        "
        S: +OK POP3 server ready
        C: USER mrose
        S: +OK mrose is a real hoopy frood
        C: PASS secret
        S: -ERR maildrop already locked
        C: USER mrose
        S: +OK mrose is a real hoopy frood
        C: PASS secret
        S: +OK mrose's maildrop has 2 messages (320 octets)
        ",
    );
    assert_eq!(
        run.events[1..],
        [
            ok(0, "mrose is a real hoopy frood"),
            done(0),
            err(1, "maildrop already locked"),
            ok(2, "mrose is a real hoopy frood"),
            done(2),
            ok(3, "mrose's maildrop has 2 messages (320 octets)"),
            done(3),
        ]
    );
    assert_eq!(
        run.states,
        [State::Greeting, State::Authorization, State::Transaction]
    );
    assert_eq!(
        run.transmits,
        [
            "USER mrose",
            "PASS <redacted>",
            "USER mrose",
            "PASS <redacted>"
        ]
    );
}

#[test]
fn apop_with_the_greeting_timestamp() {
    // §7, APOP: the digest of "<1896.697170952@dbc.mtview.ca.us>tanstaaf".
    let run = session()
        .when_idle([Command::Apop {
            user: "mrose",
            password: "tanstaaf",
        }])
        .replay(
            "
            S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
            C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
            S: +OK maildrop has 1 message (369 octets)
            ",
        );
    assert_eq!(
        run.events,
        [
            greeting("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
            ok(0, "maildrop has 1 message (369 octets)"),
            done(0),
        ]
    );
    assert_eq!(run.transmits, ["APOP mrose <redacted>"]);
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn example_session() {
    // §10, with messages of the sizes LIST announces.
    let (line_1, line_2) = ("x".repeat(102), ".".repeat(182));
    let message_1 = format!("Subject: one\r\n\r\n{line_1}\r\n");
    let message_2 = format!("Subject: two\r\n\r\n{line_2}\r\n");
    assert_eq!((message_1.len(), message_2.len()), (120, 200));
    let run = session()
        .when_idle([Command::Apop {
            user: "mrose",
            password: "tanstaaf",
        }])
        .when_idle([Command::Stat])
        .when_idle([Command::List(None)])
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Dele(msg(1))])
        .when_idle([Command::Retr(msg(2))])
        .when_idle([Command::Dele(msg(2))])
        .when_idle([Command::Quit])
        .replay(&format!(
            "
            S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
            C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
            S: +OK mrose's maildrop has 2 messages (320 octets)
            C: STAT
            S: +OK 2 320
            C: LIST
            S: +OK 2 messages (320 octets)
            S: 1 120
            S: 2 200
            S: .
            C: RETR 1
            S: +OK 120 octets
            S: Subject: one
            S:
            S: {line_1}
            S: .
            C: DELE 1
            S: +OK message 1 deleted
            C: RETR 2
            S: +OK 200 octets
            S: Subject: two
            S:
            S: .{line_2}
            S: .
            C: DELE 2
            S: +OK message 2 deleted
            C: QUIT
            S: +OK dewey POP3 server signing off (maildrop empty)
            "
        ));
    assert_eq!(
        run.events,
        [
            greeting("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
            ok(0, "mrose's maildrop has 2 messages (320 octets)"),
            done(0),
            ok(1, "2 320"),
            stat(1, 2, 320),
            done(1),
            ok(2, "2 messages (320 octets)"),
            scan(2, 1, 120),
            scan(2, 2, 200),
            done(2),
            ok(3, "120 octets"),
            body(3, message_1.as_str()),
            done(3),
            ok(4, "message 1 deleted"),
            done(4),
            ok(5, "200 octets"),
            body(5, message_2.as_str()),
            done(5),
            ok(6, "message 2 deleted"),
            done(6),
            ok(7, "dewey POP3 server signing off (maildrop empty)"),
            done(7),
        ]
    );
    assert_eq!(
        run.states,
        [
            State::Greeting,
            State::Authorization,
            State::Transaction,
            State::Update,
            State::Closed
        ]
    );
}
