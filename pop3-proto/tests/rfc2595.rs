//! RFC 2595 §4: STLS, and the STARTTLS injection cases of HOSTILE-CASES.md (B-01…B-06, B-08).

mod support;

use pop3_proto::{Capability, Client, Command, Config, Error, Output, SendError, State};
use support::{capabilities, done, err, ok, session};

/// A client that wants TLS before credentials: the library's default.
fn strict<'a>() -> support::Session<'a> {
    session().config(|c| c.allow_plaintext_credentials = false)
}

#[test]
fn stls_then_capa_again_over_tls() {
    // RFC 2595 §4 / RFC 5034 §6: capabilities learned in clear are forgotten, CAPA is re-issued over TLS, and
    // credentials may go once TLS is up. The cleartext PIPELINING is not used after TLS (HOSTILE B-08).
    let run = strict()
        .when_idle([Command::Capa])
        .when_idle([Command::Stls])
        .when_idle([Command::User("mrose"), Command::Pass("secret")])
        .when_idle([Command::Stat, Command::Noop])
        .replay(
            "
            S: +OK pop.example.com BlurdyBlurp POP3 server ready
            C: CAPA
            S: +OK List of capabilities follows
            S: SASL PLAIN
            S: STLS
            S: PIPELINING
            S: IMPLEMENTATION evil
            S: .
            C: STLS
            S: +OK Begin TLS negotiation now
            -- tls --
            C: CAPA
            S: +OK List of capabilities follows
            S: SASL PLAIN EXTERNAL
            S: USER
            S: IMPLEMENTATION BlurdyBlurp POP3 server
            S: .
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: STAT
            S: +OK 0 0
            C: NOOP
            S: +OK
            ",
        );
    let after_tls = [
        Capability::Sasl(vec!["PLAIN".into(), "EXTERNAL".into()]),
        Capability::User,
        Capability::Implementation(b"BlurdyBlurp POP3 server".to_vec()),
    ];
    assert_eq!(
        run.events[4..9],
        [
            ok(1, "Begin TLS negotiation now"),
            done(1),
            ok(2, "List of capabilities follows"),
            capabilities(2, after_tls.clone()),
            done(2),
        ]
    );
    assert_eq!(
        run.transmits,
        [
            "CAPA",
            "STLS",
            "CAPA",
            "USER mrose",
            "PASS <redacted>",
            "STAT",
            "NOOP"
        ]
    );
    assert!(run.client.is_tls_active());
    assert_eq!(
        run.client
            .capabilities()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        after_tls.iter().collect::<Vec<_>>()
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn stls_without_recapa_forgets_the_capabilities() {
    let run = strict()
        .config(|c| c.recapa_after_tls = false)
        .when_idle([Command::Capa])
        .when_idle([Command::Stls])
        .replay(
            "
            S: +OK ready
            C: CAPA
            S: +OK
            S: STLS
            S: PIPELINING
            S: .
            C: STLS
            S: +OK Begin TLS negotiation
            -- tls --
            ",
        );
    assert!(run.client.is_tls_active());
    assert_eq!(run.client.capabilities(), None);
    assert_eq!(run.transmits, ["CAPA", "STLS"]);
}

#[test]
fn start_tls_repeats_until_the_handshake_and_holds_back_commands() {
    let mut config = Config::default();
    config.recapa_after_tls = false;
    let mut client = Client::new(config);
    client.handle_input(b"+OK ready\r\n");
    assert!(matches!(client.poll(), Ok(Output::Event(_))));
    client.send(Command::Stls).unwrap();
    assert_eq!(
        client.send(Command::Capa),
        Err(SendError::OutcomePending {
            command: "CAPA",
            pending: "STLS"
        })
    );
    let Ok(Output::Transmit(transmit)) = client.poll() else {
        panic!("STLS is written")
    };
    assert_eq!(transmit.bytes(), b"STLS\r\n");
    client.consume_output(6);
    client.handle_input(b"+OK Begin TLS negotiation\r\n");
    assert!(matches!(client.poll(), Ok(Output::Event(_)))); // Ok
    assert!(matches!(client.poll(), Ok(Output::Event(_)))); // Done
    for _ in 0..3 {
        assert!(matches!(client.poll(), Ok(Output::StartTls)));
    }
    // A command sent now is queued but not written before the handshake.
    client.send(Command::Capa).unwrap();
    for _ in 0..3 {
        assert!(matches!(client.poll(), Ok(Output::StartTls)));
    }
    assert!(!client.is_tls_active());
    assert_eq!(client.handle_tls_established(), None);
    assert!(client.is_tls_active());
    let Ok(Output::Transmit(transmit)) = client.poll() else {
        panic!("CAPA is written after the handshake")
    };
    assert_eq!(transmit.bytes(), b"CAPA\r\n");
    client.consume_output(6);
    assert!(matches!(client.poll(), Ok(Output::NeedInput)));
    // A second handshake report changes nothing.
    assert_eq!(client.handle_tls_established(), None);
    assert!(matches!(client.poll(), Ok(Output::NeedInput)));
}

#[test]
fn stls_with_responses_injected_in_the_same_read_is_refused() {
    // B-01 (complete responses), B-02 (an injected CAPA), B-03 (a partial line), B-04 (garbage): whatever
    // follows the `+OK` in the same read fails the session before any handshake.
    for injected in [
        r"+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n",
        r"+OK\r\nSASL PLAIN\r\n.\r\n",
        r"+OK X",
        r"\xb9\xb3\xb9\xb2\xb3\xb9\xb2",
    ] {
        let run = strict()
            .when_idle([Command::Stls])
            .replay_in_one_piece(&format!(
                r"
            S: +OK POP3 server ready.
            C: STLS
            S~ +OK Begin fake TLS negotiation now.\r\n{injected}
            "
            ));
        assert_eq!(run.error, Some(Error::DataAfterStls), "{injected}");
        assert_eq!(run.events.len(), 1, "only the greeting: {:?}", run.events);
        assert!(!run.client.is_tls_active());
        assert_eq!(run.state(), State::Closed);
        assert_eq!(run.transmits, ["STLS"]);
    }
}

#[test]
fn bytes_arriving_before_the_handshake_are_refused() {
    // B-05 at the core: the `+OK` came alone, then plaintext arrives while the driver should be in the handshake.
    for zero_copy in [false, true] {
        let mut client = Client::new(Config::default());
        client.handle_input(b"+OK ready\r\n");
        let _greeting = client.poll();
        client.send(Command::Stls).unwrap();
        let _stls = client.poll();
        client.consume_output(b"STLS\r\n".len());
        client.handle_input(b"+OK Begin TLS\r\n");
        while !matches!(client.poll(), Ok(Output::StartTls)) {}
        let injected = b"+OK\r\nSASL PLAIN\r\n.\r\n";
        if zero_copy {
            client.input_buffer()[..injected.len()].copy_from_slice(injected);
            client.commit_input(injected.len());
        } else {
            client.handle_input(injected);
        }
        assert_eq!(client.poll().err(), Some(Error::DataAfterStls));
        assert_eq!(client.handle_tls_established(), None);
        assert_eq!(client.poll().err(), Some(Error::DataAfterStls));
        assert!(!client.is_tls_active());
        assert_eq!(client.send(Command::Capa), Err(SendError::Closed));
    }
}

#[test]
fn stls_refused_by_the_server_leaves_authorization_without_retry() {
    // A-02: the server refuses; the session stays in Authorization, STLS is not tried again, and credentials
    // still do not go in clear.
    let run = strict()
        .when_idle([Command::Stls])
        .when_idle([Command::Stls, Command::User("mrose")])
        .replay(
            "
            S: +OK POP3 server ready.
            C: STLS
            S: -ERR STARTTLS not supported.
            ",
        );
    assert_eq!(run.events[1..], [err(0, "STARTTLS not supported.")]);
    assert_eq!(
        run.sends,
        [
            Ok(0),
            Err(SendError::StlsNotAllowed("STLS was already sent")),
            Err(SendError::InsecureCredentials),
        ]
    );
    assert_eq!(run.state(), State::Authorization);
    assert!(!run.client.is_tls_active());
}

#[test]
fn stls_is_refused_twice_after_user_and_on_implicit_tls() {
    // A-14, A-15: never a second STLS, never STLS after a credential, never STLS on implicit TLS.
    let twice = strict()
        .when_idle([Command::Stls])
        .when_idle([Command::Stls])
        .replay(
            "
        S: +OK ready
        C: STLS
        S: +OK go ahead
        -- tls --
        C: CAPA
        S: +OK
        S: STLS
        S: .
        ",
        );
    assert_eq!(
        twice.sends[1],
        Err(SendError::StlsNotAllowed("TLS is already active"))
    );

    let after_user = session()
        .when_idle([Command::User("mrose")])
        .when_idle([Command::Stls])
        .replay(
            "
        S: +OK ready
        C: USER mrose
        S: +OK
        ",
        );
    assert_eq!(
        after_user.sends[1],
        Err(SendError::StlsNotAllowed("credentials were already sent"))
    );

    let implicit = strict()
        .config(|c| c.tls_active = true)
        .when_idle([Command::Stls, Command::User("mrose")])
        .replay(
            "
            S: +OK ready
            C: USER mrose
            S: +OK
            ",
        );
    assert_eq!(
        implicit.sends,
        [
            Err(SendError::StlsNotAllowed("TLS is already active")),
            Ok(0)
        ]
    );
}

#[test]
fn stls_refused_then_pipelined_answers_to_commands_not_sent() {
    // B-06: the server answers commands the client never sent.
    let run = strict().when_idle([Command::Stls]).replay(
        "
        S: +OK ready
        C: STLS
        S: -ERR currently unavailable
        S: +OK user accepted
        S: +OK authenticated
        ",
    );
    assert_eq!(run.events[1..], [err(0, "currently unavailable")]);
    assert!(
        matches!(run.error, Some(Error::Unsolicited { .. })),
        "{:?}",
        run.error
    );
    assert_eq!(run.transmits, ["STLS"]);
}

#[test]
fn stls_answered_with_a_malformed_status_is_fatal() {
    // G-01: `+Okay` is not `+OK`.
    let run = strict().when_idle([Command::Stls]).replay(
        "
        S: +OK ready
        C: STLS
        S: +Okay, do your thing.
        ",
    );
    assert!(
        matches!(run.error, Some(Error::MalformedStatus { .. })),
        "{:?}",
        run.error
    );
    assert!(!run.client.is_tls_active());
}

#[test]
fn credentials_wait_for_tls_by_default() {
    // A-10 at the core: every login command is refused in clear unless allowed.
    let run = strict()
        .when_idle([
            Command::User("mrose"),
            Command::Pass("secret"),
            Command::Apop {
                user: "mrose",
                password: "tanstaaf",
            },
            Command::Rpop("mrose"),
            Command::Auth(pop3_proto::Mechanism::plain("mrose", "secret")),
        ])
        .replay(
            "
            S: +OK ready <1896.697170952@dbc.mtview.ca.us>
            ",
        );
    assert!(
        run.sends
            .iter()
            .all(|s| *s == Err(SendError::InsecureCredentials))
    );
    assert!(run.transmits.is_empty());
}

#[test]
fn capa_refused_after_tls_leaves_the_capabilities_unknown() {
    // B-09: the cleartext list is not kept as a fallback.
    let run = strict()
        .when_idle([Command::Capa])
        .when_idle([Command::Stls])
        .replay(
            "
        S: +OK ready
        C: CAPA
        S: +OK
        S: STLS
        S: SASL PLAIN
        S: .
        C: STLS
        S: +OK
        -- tls --
        C: CAPA
        S: -ERR
        ",
        );
    assert_eq!(run.of(2), [err(2, "")]);
    assert_eq!(run.client.capabilities(), None);
}
