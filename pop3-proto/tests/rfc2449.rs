//! RFC 2449: CAPA, response codes and pipelining, as transcripts.

mod support;

use pop3_proto::{Capability, Command, Mechanism, MsgNum, Pipelining, State};
use support::{
    Code, Ev, body, capabilities, done, err, err_with, greeting_with, ok, ok_with, scan, session,
    stat,
};

fn msg(n: u64) -> MsgNum {
    MsgNum::new(n).unwrap()
}

fn login() -> [Command<'static>; 2] {
    [Command::User("mrose"), Command::Pass("secret")]
}

#[test]
fn capa_lists_typed_capabilities_and_keeps_unknown_ones() {
    // §6's example, plus an unknown capability and the empty line some servers send.
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK POP3 server ready
        C: CAPA
        S: +OK Capability list follows
        S: TOP
        S: USER
        S: SASL CRAM-MD5 KERBEROS_V4
        S: RESP-CODES
        S: LOGIN-DELAY 900
        S: PIPELINING
        S: EXPIRE 60
        S: UIDL
        S:
        S: IMPLEMENTATION Shlemazle-Plotz-v302
        S: X-EXPERIMENTAL a  b
        S: .
        ",
    );
    let expected = [
        Capability::Top,
        Capability::User,
        Capability::Sasl(vec!["CRAM-MD5".into(), "KERBEROS_V4".into()]),
        Capability::RespCodes,
        Capability::LoginDelay {
            seconds: Some(900),
            per_user: false,
        },
        Capability::Pipelining,
        Capability::Expire {
            days: Some(60),
            per_user: false,
        },
        Capability::Uidl,
        Capability::Implementation(b"Shlemazle-Plotz-v302".to_vec()),
        Capability::Other {
            name: "X-EXPERIMENTAL".into(),
            args: b"a  b".to_vec(),
        },
    ];
    assert_eq!(run.capabilities(0), expected);
    assert_eq!(
        run.events[1..],
        [
            ok(0, "Capability list follows"),
            capabilities(0, expected.clone()),
            done(0)
        ]
    );
    let kept = run.client.capabilities().expect("kept by the client");
    assert!(kept.pipelining() && kept.resp_codes() && kept.top() && kept.uidl() && kept.user());
    assert!(kept.supports_sasl("cram-md5") && !kept.supports_sasl("PLAIN"));
    assert_eq!(kept.login_delay(), Some(900));
    assert_eq!(kept.expire(), Some(Some(60)));
}

#[test]
fn capa_refused_leaves_the_capabilities_unknown() {
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK POP3 server ready
        C: CAPA
        S: -ERR unknown command
        ",
    );
    assert_eq!(run.events[1..], [err(0, "unknown command")]);
    assert!(run.client.capabilities().is_none());
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn login_refused_with_response_codes() {
    // §8 (IN-USE, LOGIN-DELAY), RFC 3206 (SYS/TEMP, SYS/PERM, AUTH): codes are matched case-insensitively, unknown
    // ones are kept as sent, and a malformed one stays in the text. (HOSTILE F-11)
    let mut session = session();
    for _ in 0..7 {
        session = session.when_idle(login());
    }
    let run = session.replay(
        "
        S: +OK POP3 server ready
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [IN-USE] Do you have another POP session running?
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [login-delay] wait 900 seconds between logins
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [SYS/TEMP] disk quota check failed, try later
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [Sys/Perm] account disabled
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [AUTH] invalid password
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [SYS/TEMP/EXTRA] hierarchical and unknown
        C: USER mrose
        S: +OK
        C: PASS secret
        S: -ERR [SYS/PERM no closing bracket
        ",
    );
    let refusals: Vec<&Ev> = run
        .events
        .iter()
        .filter(|e| matches!(e, Ev::Err { .. }))
        .collect();
    assert_eq!(
        refusals,
        [
            &err_with(1, Code::InUse, "Do you have another POP session running?"),
            &err_with(3, Code::LoginDelay, "wait 900 seconds between logins"),
            &err_with(5, Code::SysTemp, "disk quota check failed, try later"),
            &err_with(7, Code::SysPerm, "account disabled"),
            &err_with(9, Code::Auth, "invalid password"),
            &err_with(
                11,
                Code::Other(b"SYS/TEMP/EXTRA".to_vec()),
                "hierarchical and unknown"
            ),
            &err(13, "[SYS/PERM no closing bracket"),
        ]
    );
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn response_code_on_ok_is_informational() {
    let run = session().when_idle(login()).replay(
        "
        S: +OK [IN-USE] POP3 server ready
        C: USER mrose
        S: +OK
        C: PASS secret
        S: +OK [SYS/TEMP] maildrop opened read-only
        ",
    );
    assert_eq!(
        run.events[0],
        greeting_with(true, Code::InUse, "POP3 server ready")
    );
    assert_eq!(
        run.events[3..],
        [
            ok_with(1, Code::SysTemp, "maildrop opened read-only"),
            done(1)
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn pipelined_commands_go_out_together_once_capa_lists_pipelining() {
    // CAPA, STAT and LIST are sent together: CAPA goes alone because pipelining is not known yet, then STAT
    // and LIST go in one write.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Capa, Command::Stat, Command::List(None)])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: STAT
            C: LIST
            S: +OK 2 320
            S: +OK 2 messages
            S: 1 120
            S: 2 200
            S: .
            ",
        );
    assert_eq!(
        run.transmits,
        ["USER mrose", "PASS <redacted>", "CAPA", "STAT | LIST"]
    );
    assert_eq!(
        run.events[8..],
        [
            ok(3, "2 320"),
            stat(3, 2, 320),
            done(3),
            ok(4, "2 messages"),
            scan(4, 1, 120),
            scan(4, 2, 200),
            done(4),
        ]
    );
}

#[test]
fn without_pipelining_each_command_waits_for_its_response() {
    let run = session()
        .when_idle(login())
        .when_idle([Command::Capa, Command::Stat, Command::List(None)])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: CAPA
            S: +OK
            S: TOP
            S: .
            C: STAT
            S: +OK 2 320
            C: LIST
            S: +OK
            S: .
            ",
        );
    assert_eq!(
        run.transmits,
        ["USER mrose", "PASS <redacted>", "CAPA", "STAT", "LIST"]
    );
}

#[test]
fn pipelined_retr_with_an_error_in_the_middle() {
    // HOSTILE D-06: responses are matched to commands in order; the -ERR ends only RETR 2.
    let run = session()
        .when_idle(login())
        .when_idle([Command::Capa])
        .when_idle([
            Command::Retr(msg(1)),
            Command::Retr(msg(2)),
            Command::Retr(msg(3)),
        ])
        .when_idle([Command::Stat])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: RETR 1
            C: RETR 2
            C: RETR 3
            S: +OK message 1
            S: one
            S: .
            S: -ERR no such message
            S: +OK message 3
            S: ..three
            S: .
            C: STAT
            S: +OK 2 8
            ",
        );
    assert_eq!(run.transmits[3..], ["RETR 1 | RETR 2 | RETR 3", "STAT"]);
    assert_eq!(
        run.events[8..16],
        [
            ok(3, "message 1"),
            body(3, "one\r\n"),
            done(3),
            err(4, "no such message"),
            ok(5, "message 3"),
            body(5, ".three\r\n"),
            done(5),
            ok(6, "2 8"),
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn credentials_travel_together_and_quit_follows_the_batch_while_pipelining() {
    // Once the server said PIPELINING, USER and PASS go in one write, the first Transaction commands behind them,
    // and QUIT behind the last batch: a poll in three round trips counting the greeting. (HOSTILE C-02)
    let run = session()
        .when_idle([Command::Capa])
        .when_idle([
            Command::User("mrose"),
            Command::Pass("secret"),
            Command::Stat,
            Command::Uidl(None),
        ])
        .when_idle([Command::List(None), Command::Quit])
        .replay(
            "
            S: +OK POP3 server ready
            C: CAPA
            S: +OK
            S: PIPELINING
            S: USER
            S: .
            C: USER mrose
            C: PASS secret
            C: STAT
            C: UIDL
            S: +OK
            S: +OK maildrop locked
            S: +OK 0 0
            S: +OK
            S: .
            C: LIST
            C: QUIT
            S: +OK
            S: .
            S: +OK bye
            ",
        );
    assert_eq!(
        run.transmits,
        [
            "CAPA",
            "USER mrose | PASS <redacted> | STAT | UIDL",
            "LIST | QUIT"
        ]
    );
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn commands_behind_a_failed_login_are_refused_and_change_nothing() {
    // The login's refusal comes first; STAT and UIDL queued behind it are answered -ERR, and the session is back
    // in the Authorization state, ready for another try.
    let run = session()
        .when_idle([Command::Capa])
        .when_idle([
            Command::User("mrose"),
            Command::Pass("wrong"),
            Command::Stat,
            Command::Uidl(None),
        ])
        .when_idle([Command::Quit])
        .replay(
            "
            S: +OK POP3 server ready
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: USER mrose
            C: PASS wrong
            C: STAT
            C: UIDL
            S: +OK
            S: -ERR [AUTH] invalid password
            S: -ERR not logged in
            S: -ERR not logged in
            C: QUIT
            S: +OK bye
            ",
        );
    assert_eq!(
        run.events[4..9],
        [
            ok(1, ""),
            done(1),
            err_with(2, Code::Auth, "invalid password"),
            err(3, "not logged in"),
            err(4, "not logged in"),
        ]
    );
    assert_eq!(
        run.transmits[1..],
        ["USER mrose | PASS <redacted> | STAT | UIDL", "QUIT"]
    );
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn nothing_is_queued_behind_a_login_without_pipelining() {
    // Before the server said PIPELINING (here: it never answered CAPA), STAT waits for the login's answer.
    let mut client = pop3_proto::Client::new({
        let mut config = pop3_proto::Config::default();
        config.allow_plaintext_credentials = true;
        config
    });
    client.send(Command::User("mrose")).unwrap();
    client.send(Command::Pass("secret")).unwrap();
    assert!(client.send(Command::Stat).is_err());
}

#[test]
fn stls_and_auth_go_out_alone_while_pipelining_and_apop_follows() {
    // Each is sent with a LANG before it: STLS and AUTH wait until LANG is answered and go out alone; APOP is one
    // line answered +OK or -ERR, so it travels with the LANG.
    // (HOSTILE C-02)
    let run = session()
        .when_idle([Command::Capa])
        .when_idle([Command::Lang(None), Command::Stls])
        .when_idle([
            Command::Lang(None),
            Command::Apop {
                user: "mrose",
                password: "tanstaaf",
            },
        ])
        .when_idle([
            Command::Lang(None),
            Command::Auth(Mechanism::plain("mrose", "secret")),
        ])
        .replay(
            "
            S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
            C: CAPA
            S: +OK
            S: PIPELINING
            S: STLS
            S: .
            C: LANG
            S: +OK
            S: .
            C: STLS
            S: +OK
            -- tls --
            C: CAPA
            S: +OK
            S: PIPELINING
            S: SASL PLAIN
            S: .
            C: LANG
            C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
            S: +OK
            S: .
            S: -ERR [AUTH] no
            C: LANG
            S: +OK
            S: .
            C: AUTH PLAIN AG1yb3NlAHNlY3JldA==
            S: +OK
            ",
        );
    assert_eq!(
        run.transmits,
        [
            "CAPA",
            "LANG",
            "STLS",
            "CAPA",
            "LANG | APOP mrose <redacted>",
            "LANG",
            "AUTH PLAIN <redacted>"
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn pipelining_never_sends_one_command_at_a_time() {
    let run = session()
        .config(|c| c.pipelining = Pipelining::Never)
        .when_idle(login())
        .when_idle([Command::Capa, Command::Stat, Command::Noop])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: STAT
            S: +OK 0 0
            C: NOOP
            S: +OK
            ",
        );
    assert_eq!(
        run.transmits,
        ["USER mrose", "PASS <redacted>", "CAPA", "STAT", "NOOP"]
    );
    assert!(run.client.capabilities().unwrap().pipelining());
}

#[test]
fn pipelining_window_bounds_the_octets_in_flight() {
    // max_in_flight_bytes = 16 holds two `RETR n\r\n` (8 octets each); the third goes when the first is answered.
    let run = session()
        .config(|c| c.max_in_flight_bytes = 16)
        .when_idle(login())
        .when_idle([Command::Capa])
        .when_idle([
            Command::Retr(msg(1)),
            Command::Retr(msg(2)),
            Command::Retr(msg(3)),
        ])
        .replay(
            "
            S: +OK POP3 server ready
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: RETR 1
            C: RETR 2
            S: +OK
            S: one
            S: .
            C: RETR 3
            S: +OK
            S: two
            S: .
            S: +OK
            S: three
            S: .
            ",
        );
    assert_eq!(run.transmits[3..], ["RETR 1 | RETR 2", "RETR 3"]);
    assert_eq!(
        (run.body(3), run.body(4), run.body(5)),
        (&b"one\r\n"[..], &b"two\r\n"[..], &b"three\r\n"[..])
    );
}

#[test]
fn remembered_pipelining_sends_capa_and_the_login_in_one_write_until_capa_answers() {
    // The caller remembers PIPELINING from an earlier session: CAPA, the credentials and STAT go in one write.
    // This session's CAPA then says no PIPELINING, so from there on each command waits for its answer.
    let run = session()
        .config(|c| c.pipelining = Pipelining::Remembered)
        .when_idle([
            Command::Capa,
            Command::User("mrose"),
            Command::Pass("secret"),
            Command::Stat,
        ])
        .when_idle([Command::Noop, Command::Quit])
        .replay(
            "
            S: +OK POP3 server ready
            C: CAPA
            C: USER mrose
            C: PASS secret
            C: STAT
            S: +OK
            S: USER
            S: .
            S: +OK
            S: +OK maildrop locked
            S: +OK 0 0
            C: NOOP
            S: +OK
            C: QUIT
            S: +OK bye
            ",
        );
    assert_eq!(
        run.transmits,
        ["CAPA | USER mrose | PASS <redacted> | STAT", "NOOP", "QUIT"]
    );
    assert_eq!(run.state(), State::Closed);
}
