//! The cases of HOSTILE-CASES.md that the core alone decides (bytes in; events, errors and bytes out), each
//! named after its catalogue entry. TLS, sockets, timeouts and adapter behaviour are tested in the adapters.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use pop3_proto::{
    ArgumentError, Capability, Client, Command, Config, Error, Event, InvalidReply, LineEndings,
    Mechanism, MsgNum, Output, SaslError, SendError, State,
};
use support::scram::{Hash, scram};
use support::{
    Code, Ev, Transcript, body, capabilities, done, err, greeting, greeting_with, id, malformed,
    ok, scan, session, stat, uid,
};

fn msg(n: u64) -> MsgNum {
    MsgNum::new(n).unwrap()
}

fn login() -> [Command<'static>; 2] {
    [Command::User("mrose"), Command::Pass("secret")]
}

/// A session that logs in with commands 0 and 1; its transcripts start with [`LOGIN`].
fn logged_in<'a>() -> support::Session<'a> {
    session().when_idle(login())
}

const LOGIN: &str = "
    S: +OK ready
    C: USER mrose
    S: +OK
    C: PASS secret
    S: +OK
";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// The server bytes an error quotes.
fn excerpt(error: &Option<Error>) -> &[u8] {
    match error {
        Some(Error::MalformedStatus { line }) => line.as_bytes(),
        Some(Error::Unsolicited { data }) => data.as_bytes(),
        other => panic!("no excerpt in {other:?}"),
    }
}

// D. Session integrity, tampering, desynchronisation

#[test]
fn d01_scan_listing_after_the_greeting_is_unsolicited() {
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK 2 messages (320 octets)
        S: 1 120
        S: 2 200
        S: .
        ",
    );
    assert_eq!(run.events, [greeting("2 messages (320 octets)")]);
    assert!(matches!(run.error, Some(Error::Unsolicited { .. })));
    assert!(excerpt(&run.error).starts_with(b"1"));
    assert!(
        run.sends.is_empty(),
        "the extra lines never reach a command"
    );
    assert!(run.transmits.is_empty());
}

#[test]
fn d02_unstuffed_terminator_then_a_forged_response_is_unsolicited() {
    // The message ends early (undetectable in-band); what follows is not taken as DELE's answer.
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Dele(msg(1))])
        .replay(&format!(
            "{LOGIN}
            C: RETR 1
            S: +OK
            S: Subject: x
            S:
            S: hello
            S: .
            S: +OK forged
            S: rest
            S: .
            "
        ));
    assert_eq!(
        run.of(2),
        [ok(2, ""), body(2, "Subject: x\r\n\r\nhello\r\n"), done(2)]
    );
    assert!(excerpt(&run.error).starts_with(b"+OK forged"));
    assert_eq!(run.sends.len(), 3, "DELE is never sent");
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn d02_forged_response_read_after_the_next_command_breaks_the_session_at_its_next_line() {
    // Had the forged bytes arrived only after DELE was written, nothing could tell them from DELE's answer;
    // the session still breaks at the first line that is not a status line.
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Dele(msg(1))])
        .replay(&format!(
            "{LOGIN}
            C: RETR 1
            S: +OK
            S: hello
            S: .
            C: DELE 1
            S: +OK forged
            S: rest
            S: .
            "
        ));
    assert_eq!(run.of(3), [ok(3, "forged"), done(3)]);
    assert!(excerpt(&run.error).starts_with(b"rest"));
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn d03_bare_lf_dot_line_does_not_end_a_crlf_body() {
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .replay(&format!(
            r"{LOGIN}
        C: RETR 1
        S: +OK
        S~ line\n.\n+OK injected\r\nmore\r\n.\r\n
        "
        ));
    assert_eq!(run.body(2), b"line\n.\n+OK injected\r\nmore\r\n");
    assert_eq!(run.of(2).last(), Some(&done(2)));
    assert_eq!(run.error, None);
}

#[test]
fn d04_transaction_only_after_our_own_login() {
    // After STLS, the server claims the session is already authenticated: the client stays in AUTHORIZATION
    // and refuses TRANSACTION commands.
    let run = session()
        .config(|c| c.allow_plaintext_credentials = false)
        .when_idle([Command::Stls])
        .when_idle([Command::User("u")])
        .when_idle([Command::Stat, Command::Retr(msg(1))])
        .replay(
            "
            S: +OK ready
            C: STLS
            S: +OK
            -- tls --
            C: CAPA
            S: +OK
            S: .
            C: USER u
            S: -ERR already authenticated
            ",
        );
    assert_eq!(run.of(2), [err(2, "already authenticated")]);
    let refused = SendError::WrongState {
        command: "STAT",
        state: State::Authorization,
    };
    assert_eq!(run.sends[2], Err(refused));
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn d05_the_command_decides_single_or_multi_line() {
    let run = logged_in()
        .when_idle([Command::List(Some(msg(1)))])
        .when_idle([Command::List(None)])
        .when_idle([Command::Uidl(Some(msg(1)))])
        .when_idle([Command::Raw {
            line: "XTND XLST",
            multiline: true,
        }])
        .when_idle([Command::Raw {
            line: "X-PING",
            multiline: false,
        }])
        .replay(&format!(
            "{LOGIN}
            C: LIST 1
            S: +OK 1 100
            C: LIST
            S: +OK
            S: 1 100
            S: .
            C: UIDL 1
            S: +OK 1 abc
            C: XTND XLST
            S: +OK
            S: a raw line
            S: .
            C: X-PING
            S: +OK pong
            "
        ));
    assert_eq!(run.of(2), [ok(2, "1 100"), scan(2, 1, 100), done(2)]);
    assert_eq!(run.of(3), [ok(3, ""), scan(3, 1, 100), done(3)]);
    assert_eq!(run.of(4), [ok(4, "1 abc"), uid(4, 1, "abc"), done(4)]);
    assert_eq!(run.of(5), [ok(5, ""), body(5, "a raw line\r\n"), done(5)]);
    assert_eq!(run.of(6), [ok(6, "pong"), done(6)]);
}

#[test]
fn d05_multi_line_answer_to_a_single_line_command_is_unsolicited() {
    // curl issue #740 the other way round: no hang, an error at the first extra line.
    let run = logged_in().when_idle([Command::Noop]).replay(&format!(
        "{LOGIN}
        C: NOOP
        S: +OK
        S: 1 abc
        S: .
        "
    ));
    assert_eq!(run.of(2), [ok(2, ""), done(2)]);
    assert!(excerpt(&run.error).starts_with(b"1 abc"));
}

#[test]
fn d06_error_in_the_middle_of_a_mixed_pipeline() {
    let run = logged_in()
        .when_idle([Command::Capa])
        .when_idle([
            Command::Stat,
            Command::List(Some(msg(9))),
            Command::Uidl(None),
            Command::Retr(msg(1)),
        ])
        .replay(&format!(
            "{LOGIN}
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: STAT
            C: LIST 9
            C: UIDL
            C: RETR 1
            S: +OK 1 5
            S: -ERR no such message
            S: +OK
            S: 1 abc
            S: .
            S: +OK
            S: one
            S: .
            "
        ));
    assert_eq!(run.transmits[3], "STAT | LIST 9 | UIDL | RETR 1");
    assert_eq!(run.of(4), [err(4, "no such message")]);
    assert_eq!(run.of(5), [ok(5, ""), uid(5, 1, "abc"), done(5)]);
    assert_eq!(run.of(6), [ok(6, ""), body(6, "one\r\n"), done(6)]);
    assert_eq!(run.state(), State::Transaction);
}

// G. Framing and parsing robustness

#[test]
fn g01_status_indicator_must_be_exactly_ok_or_err() {
    let run = session()
        .when_idle([Command::Capa])
        .replay("S: +Do you even care?");
    assert!(matches!(run.error, Some(Error::MalformedStatus { .. })));
    assert_eq!(excerpt(&run.error), b"+Do you even care?");
    assert!(run.events.is_empty() && run.transmits.is_empty());

    // Inside a multi-line answer, a line starting with `+` is data.
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK ready
        C: CAPA
        S: +OK
        S: +Like... honestly?
        S: .
        ",
    );
    assert_eq!(
        run.capabilities(0),
        [Capability::Other {
            name: "+LIKE...".into(),
            args: b"honestly?".to_vec()
        }]
    );
}

#[test]
fn g02_status_line_of_2048_octets_is_read_and_of_2049_refused() {
    let longest = format!("+OK {}", "a".repeat(2042));
    let run = session().replay(&format!("S: {longest}"));
    assert_eq!(
        run.events.len(),
        1,
        "2048 octets with CRLF fit the default limit"
    );
    let run = session().replay(&format!("S: {longest}a"));
    assert_eq!(run.error, Some(Error::LineTooLong { limit: 2048 }));
    assert!(run.events.is_empty());
}

#[test]
fn g02_status_line_over_a_configured_512_is_refused() {
    // RFC 2449 §4's 512 octets, CRLF included.
    let line = format!("+OK {}", "a".repeat(506));
    let run = session()
        .config(|c| c.max_line_len = 512)
        .replay(&format!("S: {line}"));
    assert_eq!(run.error, None);
    let run = session()
        .config(|c| c.max_line_len = 512)
        .replay(&format!("S: {line}a"));
    assert_eq!(run.error, Some(Error::LineTooLong { limit: 512 }));
}

#[test]
fn g02_line_dripped_without_an_end_is_cut_at_the_limit() {
    let run = session().replay(Transcript::default().server("+OK ".repeat(10_000)));
    assert_eq!(run.error, Some(Error::LineTooLong { limit: 2048 }));
}

#[test]
fn g03_long_lines_in_a_body_are_streamed() {
    // A 1 MiB line, then a 1 MiB line whose CRLF comes only before the terminator: bodies have no line limit.
    let long_line = "x".repeat(1 << 20);
    let transcript = Transcript::parse(LOGIN)
        .client("RETR 1\r\n")
        .server(format!("+OK\r\n{long_line}\r\n{long_line}\r\n.\r\n"));
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .replay(transcript);
    assert_eq!(run.body(2).len(), 2 * (1 << 20) + 4);
    assert_eq!(run.of(2).last(), Some(&done(2)));
}

#[test]
fn g04_dot_stuffed_lines_lose_one_dot() {
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Capa])
        .replay(&format!(
            "{LOGIN}
            C: RETR 1
            S: +OK
            S: ..body with a single dot first
            S: ...triple dots...
            S: ..
            S: .
            C: CAPA
            S: +OK
            S: ..X-DOT
            S: .
            "
        ));
    assert_eq!(
        run.body(2),
        b".body with a single dot first\r\n..triple dots...\r\n.\r\n"
    );
    assert_eq!(
        run.capabilities(3),
        [Capability::Other {
            name: ".X-DOT".into(),
            args: Vec::new()
        }]
    );
}

#[test]
fn g05_empty_multi_line_answers_end_at_once() {
    let run = logged_in()
        .when_idle([Command::List(None)])
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Capa])
        .replay(&format!(
            "{LOGIN}
            C: LIST
            S: +OK 0 messages:
            S: .
            C: RETR 1
            S: +OK but no messages
            S: .
            C: CAPA
            S: +OK list of capabilities
            S:
            S: .
            "
        ));
    assert_eq!(run.of(2), [ok(2, "0 messages:"), done(2)]);
    assert_eq!(run.of(3), [ok(3, "but no messages"), done(3)]);
    assert_eq!(
        run.of(4),
        [ok(4, "list of capabilities"), capabilities(4, []), done(4)]
    );
}

#[test]
fn g06_status_line_endings_on_a_crlf_server() {
    // Status and listing lines may end in a bare LF; a bare CR stays in the text; a listing ends only at CRLF.
    let run = logged_in()
        .when_idle([Command::Stat])
        .when_idle([Command::Noop])
        .when_idle([Command::Noop])
        .when_idle([Command::Uidl(None)])
        .replay(&format!(
            r"{LOGIN}
            C: STAT
            S~ +OK 2 320\n
            C: NOOP
            S~ +OK done\r\r\n
            C: NOOP
            S~ +OK a\rb\r\n
            C: UIDL
            S~ +OK\n1 a\n2 b\n.\n
            "
        ));
    assert_eq!(run.of(2), [ok(2, "2 320"), stat(2, 2, 320), done(2)]);
    assert_eq!(run.of(3), [ok(3, "done\r"), done(3)]);
    assert_eq!(run.of(4), [ok(4, "a\rb"), done(4)]);
    // Only a CRLF-ended dot ends a listing on a CRLF server: the bare-LF `.` is data, and malformed.
    // The listing then never ends: the connection closes in the middle of it.
    assert_eq!(run.of(5), [ok(5, ""), uid(5, 1, "a"), uid(5, 2, "b")]);
    assert_eq!(run.error, Some(Error::UnexpectedEof));
    assert!(!run.client.is_lf_only());
}

#[test]
fn g06_lf_only_server_is_detected_from_its_greeting() {
    let run = logged_in().when_idle([Command::Retr(msg(1))]).replay(
        r"
        S~ +OK ready\n
        C: USER mrose
        S~ +OK\n
        C: PASS secret
        S~ +OK\n
        C: RETR 1
        S~ +OK\nline\n..dot\n.\n
        ",
    );
    assert!(run.client.is_lf_only());
    assert_eq!(run.of(2), [ok(2, ""), body(2, "line\n.dot\n"), done(2)]);
}

#[test]
fn g06_crlf_framing_forced_on_an_lf_server_never_ends_a_body_at_a_bare_lf() {
    let run = logged_in()
        .config(|c| c.line_endings = LineEndings::Crlf)
        .when_idle([Command::Retr(msg(1))])
        .replay(
            r"
            S~ +OK ready\n
            C: USER mrose
            S~ +OK\n
            C: PASS secret
            S~ +OK\n
            C: RETR 1
            S~ +OK\nline\n.\n
            ",
        );
    assert!(!run.client.is_lf_only());
    assert_eq!(run.body(2), b"line\n.\n");
    assert_eq!(run.error, Some(Error::UnexpectedEof));
}

#[test]
fn g07_eof_before_the_terminator() {
    for (rest, partial) in [
        ("S~ +OK\\r\\nline\\r\\n.", &b"line\r\n"[..]),
        ("S~ +OK\\r\\nline", b"line"),
        ("S: +OK", b""),
    ] {
        let run = logged_in()
            .when_idle([Command::Retr(msg(1))])
            .replay(&format!("{LOGIN}\nC: RETR 1\n{rest}"));
        assert_eq!(run.error, Some(Error::UnexpectedEof), "{rest}");
        let received: Vec<u8> = run
            .of(2)
            .iter()
            .flat_map(|e| match e {
                Ev::Body { chunk, .. } => chunk.clone(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(received, partial, "{rest}");
        assert!(!run.of(2).contains(&done(2)), "never a clean end: {rest}");
    }
}

#[test]
fn g07_eof_mid_greeting_and_mid_listing() {
    let run = session().replay("S~ +OK rea");
    assert_eq!(run.error, Some(Error::UnexpectedEof));
    let run = logged_in()
        .when_idle([Command::Uidl(None)])
        .replay(&format!(
            "{LOGIN}
        C: UIDL
        S: +OK UIDL listing follows
        S: 1 uniqueid001
        "
        ));
    assert_eq!(run.error, Some(Error::UnexpectedEof));
    assert_eq!(run.of(2).last(), Some(&uid(2, 1, "uniqueid001")));
}

#[test]
fn g08_nul_bytes() {
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Noop])
        .when_idle([Command::Uidl(None)])
        .replay(&format!(
            r"{LOGIN}
            C: RETR 1
            S: +OK
            S: a\0b
            S: .
            C: NOOP
            S: +OK hi\0there
            C: UIDL
            S: +OK
            S: 1 abc\0def
            S: .
            "
        ));
    assert_eq!(run.body(2), b"a\0b\r\n");
    assert_eq!(run.of(3), [ok(3, "hi\0there"), done(3)]);
    assert_eq!(run.of(4), [ok(4, ""), malformed(4, b"1 abc\0def")]);
    assert_eq!(run.error, None);
}

#[test]
fn g09_eight_bit_and_invalid_utf8_is_kept_as_bytes() {
    let run = logged_in()
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Capa])
        .when_idle([Command::Dele(msg(1))])
        .when_idle([Command::Uidl(None)])
        .replay(&format!(
            r"{LOGIN}
            C: RETR 1
            S: +OK
            S: caf\xe9 \xff\xfe\x80
            S: .
            C: CAPA
            S: +OK
            S: IMPLEMENTATION caf\xe9
            S: .
            C: DELE 1
            S: -ERR \xc7\xeb\xca\xb9
            C: UIDL
            S: +OK
            S: 1 \xff\xfe
            S: .
            "
        ));
    assert_eq!(run.body(2), b"caf\xe9 \xff\xfe\x80\r\n");
    assert_eq!(
        run.capabilities(3),
        [Capability::Implementation(b"caf\xe9".to_vec())]
    );
    assert_eq!(
        run.of(4),
        [Ev::Err {
            id: id(4),
            reply: pop3_proto::OwnedReply {
                code: None,
                text: b"\xc7\xeb\xca\xb9".to_vec()
            }
        }]
    );
    assert_eq!(run.of(5), [ok(5, ""), malformed(5, b"1 \xff\xfe")]);
}

#[test]
fn g10_capa_content_is_typed_whatever_its_spelling() {
    let run = session().when_idle([Command::Capa]).replay(
        r"
        S: +OK ready
        C: CAPA
        S: +OK
        S: LOGIN-DELAY 15 USER
        S: LOGIN-DELAY 15
        S: EXPIRE NEVER USER
        S: EXPIRE 0
        S: EXPIRE 1337
        S: UTF8 USER
        S: LANG
        S: AUTH-RESP-CODE
        S: IMPLEMENTATION Shlemazle Plotz
        S: top
        S: Top
        S: uidl\x20\x20\t
        S: SASL\tPLAIN\tLOGIN
        S: SASL
        S: X-UNKNOWN\tsome args
        S: .
        ",
    );
    assert_eq!(
        run.capabilities(0),
        [
            Capability::LoginDelay {
                seconds: Some(15),
                per_user: true
            },
            Capability::LoginDelay {
                seconds: Some(15),
                per_user: false
            },
            Capability::Expire {
                days: None,
                per_user: true
            },
            Capability::Expire {
                days: Some(0),
                per_user: false
            },
            Capability::Expire {
                days: Some(1337),
                per_user: false
            },
            Capability::Utf8 { user: true },
            Capability::Lang,
            Capability::AuthRespCode,
            Capability::Implementation(b"Shlemazle Plotz".to_vec()),
            Capability::Top,
            Capability::Top,
            Capability::Uidl,
            Capability::Sasl(vec!["PLAIN".into(), "LOGIN".into()]),
            Capability::Sasl(vec![]),
            Capability::Other {
                name: "X-UNKNOWN".into(),
                args: b"some args".to_vec()
            },
        ]
    );
    // Duplicates: the first line wins.
    let capabilities = run.client.capabilities().unwrap();
    assert_eq!(capabilities.login_delay(), Some(15));
    assert_eq!(capabilities.expire(), Some(None));
    assert_eq!(
        capabilities.sasl_mechanisms().collect::<Vec<_>>(),
        ["PLAIN", "LOGIN"]
    );
}

#[test]
fn g10_capa_of_ten_thousand_lines_keeps_the_first_ones() {
    let lines: String = (0..10_000).map(|i| format!("X-CAP-{i}\r\n")).collect();
    let transcript = Transcript::parse("S: +OK ready\nC: CAPA")
        .server(format!("+OK\r\n{lines}.\r\n"))
        .client("LANG\r\n")
        .server("+OK\r\n.\r\n");
    let run = session()
        .when_idle([Command::Capa])
        .when_idle([Command::Lang(None)])
        .replay(transcript);
    let kept = run.capabilities(0);
    assert_eq!(kept.len(), Config::default().max_capabilities);
    assert_eq!(
        kept.last(),
        Some(&Capability::Other {
            name: "X-CAP-255".into(),
            args: Vec::new()
        })
    );
    assert_eq!(run.of(1), [ok(1, ""), done(1)], "the session goes on");
}

#[test]
fn g11_response_codes_are_advisory() {
    let run = logged_in()
        .when_idle([Command::Noop])
        .when_idle([Command::Dele(msg(1))])
        .when_idle([Command::Dele(msg(2))])
        .when_idle([Command::Dele(msg(3))])
        .when_idle([Command::Dele(msg(4))])
        .replay(
            "
            S: +OK [in-use] POP3 server ready.
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: NOOP
            S: +OK [sys/perm] perm alert
            C: DELE 1
            S: -ERR [SYS/TEMP] x
            C: DELE 2
            S: -ERR [SYS/PERM
            C: DELE 3
            S: -ERR []
            C: DELE 4
            S: -ERR [SYS/TEMP/EXTRA] x
            ",
        );
    let with = |code, text: &str| (Some(code), text.as_bytes().to_vec());
    let replies: Vec<(Option<Code>, Vec<u8>)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Greeting { reply, .. } | Ev::Ok { reply, .. } | Ev::Err { reply, .. } => {
                Some((reply.code.clone(), reply.text.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        replies,
        [
            with(Code::InUse, "POP3 server ready."),
            (None, b"".to_vec()),
            (None, b"".to_vec()),
            with(Code::SysPerm, "perm alert"),
            with(Code::SysTemp, "x"),
            (None, b"[SYS/PERM".to_vec()),
            (None, b"[]".to_vec()),
            with(Code::Other(b"SYS/TEMP/EXTRA".to_vec()), "x"),
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn g12_auth_listing_is_not_sent_and_plus_lines_in_data_are_data() {
    // The RFC 1734 mechanism listing (`AUTH` alone) is not a command of this client: AUTH must be typed.
    let run = session()
        .when_idle([Command::Raw {
            line: "AUTH",
            multiline: true,
        }])
        .replay("S: +OK ready");
    assert_eq!(run.sends, [Err(SendError::UseTypedCommand("AUTH"))]);
    // A multi-line answer whose lines start with `+` is data, and an empty one ends at once.
    let run = logged_in()
        .when_idle([Command::Raw {
            line: "XTND AUTHLIST",
            multiline: true,
        }])
        .when_idle([Command::Raw {
            line: "XTND AUTHLIST",
            multiline: true,
        }])
        .when_idle([Command::Raw {
            line: "XTND AUTHLIST",
            multiline: true,
        }])
        .replay(&format!(
            "{LOGIN}
            C: XTND AUTHLIST
            S: +OK list of auth mechanism
            S: SASL PLAIN LOGIN
            S: +APOP
            S: .
            C: XTND AUTHLIST
            S: +OK
            S: .
            C: XTND AUTHLIST
            S: -ERR no such command
            "
        ));
    assert_eq!(run.body(2), b"SASL PLAIN LOGIN\r\n+APOP\r\n");
    assert_eq!(run.of(3), [ok(3, ""), done(3)]);
    assert_eq!(run.of(4), [err(4, "no such command")]);
}

// H. Numbers, sizes, listings

#[test]
fn h01_stat_drop_listing_is_parsed_strictly() {
    for (answer, parsed) in [
        ("2 320", Some((2, 320))),
        ("2 320 extra", Some((2, 320))),
        (
            "4294967296 18446744073709551615",
            Some((4_294_967_296, u64::MAX)),
        ),
        ("two 320", None),
        ("2", None),
        ("99999999999999999999 1", None),
    ] {
        let run = logged_in()
            .when_idle([Command::Stat])
            .replay(&format!("{LOGIN}\nC: STAT\nS: +OK {answer}"));
        match parsed {
            Some((count, octets)) => assert_eq!(run.of(2)[1], stat(2, count, octets)),
            // One well-framed line: STAT fails, the session goes on.
            None => {
                assert_eq!(
                    run.of(2),
                    [ok(2, answer), malformed(2, answer.as_bytes())],
                    "{answer}"
                );
                assert_eq!(run.error, None, "{answer}");
            }
        }
    }
}

#[test]
fn h02_scan_listings_are_parsed_strictly() {
    let run = logged_in()
        .when_idle([Command::List(None)])
        .replay(&format!(
            "{LOGIN}
        C: LIST
        S: +OK
        S: 001 100
        S: 2 4294967400
        S: 9 5
        S: .
        "
        ));
    // Large and zero-padded: reported as the server said them.
    assert_eq!(
        run.of(2),
        [
            ok(2, ""),
            scan(2, 1, 100),
            scan(2, 2, 4_294_967_400),
            scan(2, 9, 5),
            done(2)
        ]
    );
    for bad in [
        "-1 100",
        "1 -5",
        "+1 100",
        "0 100",
        "1 0x10",
        "1  100",
        "1\\t100",
        "1 100000000000000000000",
    ] {
        let run = logged_in()
            .when_idle([Command::List(None)])
            .replay(&format!("{LOGIN}\nC: LIST\nS: +OK\nS: {bad}\nS: ."));
        let quoted = bad.replace("\\t", "\t");
        assert_eq!(
            run.of(2),
            [ok(2, ""), malformed(2, quoted.as_bytes())],
            "{bad}"
        );
        let run = logged_in()
            .when_idle([Command::List(Some(msg(1)))])
            .replay(&format!("{LOGIN}\nC: LIST 1\nS: +OK {bad}"));
        assert_eq!(
            run.of(2),
            [ok(2, &quoted), malformed(2, quoted.as_bytes())],
            "{bad}"
        );
        assert_eq!(run.error, None, "{bad}");
    }
}

#[test]
fn h03_sizes_that_lie_do_not_frame_the_body() {
    let body_300 = "y".repeat(298);
    let run = logged_in()
        .when_idle([Command::List(Some(msg(1)))])
        .when_idle([Command::Retr(msg(1))])
        .when_idle([Command::Retr(msg(2))])
        .replay(&format!(
            "{LOGIN}
            C: LIST 1
            S: +OK 1 100
            C: RETR 1
            S: +OK 100 octets
            S: {body_300}
            S: .
            C: RETR 2
            S: +OK 999999999999 octets
            S: short
            S: .
            "
        ));
    assert_eq!(run.body(3).len(), 300);
    assert_eq!(run.body(4), b"short\r\n");
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn h04_listings_of_thirty_thousand_messages() {
    // Every replay of this transcript feeds a LIST and a UIDL of 30 000 lines, once of them octet by octet.
    const N: u64 = 30_000;
    let list: String = (1..=N).map(|n| format!("{n} {}\r\n", n * 7)).collect();
    let uidl: String = (1..=N).map(|n| format!("{n} uid-{n}\r\n")).collect();
    let transcript = Transcript::parse(LOGIN)
        .client("LIST\r\n")
        .server(format!("+OK {N} messages\r\n{list}.\r\n"))
        .client("UIDL\r\n")
        .server(format!("+OK\r\n{uidl}.\r\n"));
    let run = logged_in()
        .when_idle([Command::List(None)])
        .when_idle([Command::Uidl(None)])
        .replay(transcript);
    let scans = run.of(2);
    assert_eq!(scans.len() as u64, N + 2);
    assert_eq!(scans[N as usize], scan(2, N, N * 7));
    let uids = run.of(3);
    assert_eq!(uids.len() as u64, N + 2);
    assert_eq!(uids[N as usize], uid(3, N, &format!("uid-{N}")));
}

#[test]
fn h05_unique_ids_are_printable_and_bounded() {
    let longest = "u".repeat(70);
    let run = logged_in()
        .when_idle([Command::Uidl(None)])
        .replay(&format!(
            r"{LOGIN}
        C: UIDL
        S: +OK
        S: 1 ../../../.ssh/authorized_keys
        S: 2 a/b
        S: 3 C:\\x
        S: 4 {longest}
        S: 5 a/b
        S: .
        "
        ));
    // Never a path: the core hands the UID over as it came; the same UID on two messages is reported as is.
    assert_eq!(
        run.of(2)[1..6],
        [
            uid(2, 1, "../../../.ssh/authorized_keys"),
            uid(2, 2, "a/b"),
            uid(2, 3, "C:\\x"),
            uid(2, 4, &longest),
            uid(2, 5, "a/b"),
        ]
    );
    let too_long = "u".repeat(71);
    for bad in [
        "1 ",
        &format!("1 {too_long}"),
        "1 abc def",
        r"1\tabc",
        r"1 abc\0def",
    ] {
        let run = logged_in()
            .when_idle([Command::Uidl(None)])
            .replay(&format!("{LOGIN}\nC: UIDL\nS: +OK\nS: {bad}\nS: ."));
        assert!(
            matches!(
                run.of(2)[..],
                [
                    _,
                    Ev::Invalid {
                        error: InvalidReply::MalformedListing { .. },
                        ..
                    }
                ]
            ),
            "{bad}: {:?}",
            run.of(2)
        );
        assert_eq!(run.error, None, "{bad}");
    }
    let huge = "u".repeat(10_000);
    let run = logged_in()
        .when_idle([Command::Uidl(Some(msg(1)))])
        .replay(&format!("{LOGIN}\nC: UIDL 1\nS: +OK 1 {huge}"));
    assert_eq!(run.error, Some(Error::LineTooLong { limit: 2048 }));
}

#[test]
fn h06_top_returns_what_the_server_sends_and_missing_commands_are_not_fatal() {
    let run = logged_in()
        .when_idle([Command::Top {
            msg: msg(1),
            lines: 0,
        }])
        .when_idle([Command::Top {
            msg: msg(1),
            lines: 5,
        }])
        .when_idle([Command::Uidl(None)])
        .replay(&format!(
            "{LOGIN}
            C: TOP 1 0
            S: +OK
            S: Subject: the whole message
            S:
            S: body line
            S: .
            C: TOP 1 5
            S: -ERR
            C: UIDL
            S: -ERR
            "
        ));
    assert_eq!(
        run.body(2),
        b"Subject: the whole message\r\n\r\nbody line\r\n"
    );
    assert_eq!(run.of(3), [err(3, "")]);
    assert_eq!(run.of(4), [err(4, "")]);
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn h07_errors_for_missing_messages_keep_the_session() {
    let run = logged_in()
        .when_idle([Command::List(Some(msg(852)))])
        .when_idle([Command::Retr(msg(855))])
        .when_idle([Command::Quit])
        .replay(&format!(
            "{LOGIN}
            C: LIST 852
            S: -ERR no such message
            C: RETR 855
            S: -ERR no such message
            C: QUIT
            S: +OK
            "
        ));
    assert_eq!(run.of(2), [err(2, "no such message")]);
    assert_eq!(run.of(3), [err(3, "no such message")]);
    assert_eq!(run.of(4), [ok(4, ""), done(4)]);
}

/// The peak resident memory of this process, where the OS reports it.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn h08_five_gib_message_is_streamed_in_constant_memory() {
    // The server's bytes are generated as the client asks for them: 81 920 blocks of 65 537 octets, each
    // holding one dot-stuffed line, so the body is exactly 5 GiB after unstuffing.
    const BLOCKS: u64 = 81_920;
    const BLOCK: usize = 65_537;
    let mut block = b"..stuffed line\r\n".to_vec();
    while block.len() < BLOCK - 2 {
        block.push(b"abcdefghijklmnopqrstuvwxyz"[block.len() % 26]);
    }
    block.extend_from_slice(b"\r\n");
    let login: [&[u8]; 3] = [b"+OK ready\r\n", b"+OK\r\n", b"+OK\r\n"];
    let mut wire = login
        .into_iter()
        .chain([&b"+OK 5368709120 octets\r\n"[..]])
        .chain(std::iter::repeat_n(&block[..], BLOCKS as usize))
        .chain([&b".\r\n"[..]])
        .peekable();
    let mut offset = 0; // into the wire piece in front

    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    let read_size = config.read_size;
    let mut client = Client::new(config);
    client.send(Command::User("mrose")).unwrap();
    client.send(Command::Pass("secret")).unwrap();
    let mut received: u64 = 0;
    let mut chunks: u64 = 0;
    let mut retr = None;
    loop {
        match client.poll().expect("a well-formed message") {
            Output::Event(Event::Body { id, chunk }) => {
                assert_eq!(Some(id), retr);
                assert!(
                    chunk.len() <= read_size + 3,
                    "a chunk of {} octets",
                    chunk.len()
                );
                received += chunk.len() as u64;
                chunks += 1;
            }
            Output::Event(Event::Done { id }) if Some(id) == retr => break,
            Output::Transmit(transmit) => {
                let written = transmit.bytes().len();
                client.consume_output(written);
            }
            Output::Event(_) => {}
            Output::Idle => retr = Some(client.send(Command::Retr(msg(1))).unwrap()),
            Output::NeedInput => {
                let buffer = client.input_buffer();
                assert!(
                    buffer.len() <= read_size + 3,
                    "the receive buffer grew to {}",
                    buffer.len()
                );
                let piece = wire
                    .peek()
                    .expect("the client reads no further than the terminator");
                let n = buffer.len().min(piece.len() - offset);
                buffer[..n].copy_from_slice(&piece[offset..offset + n]);
                offset += n;
                if offset == piece.len() {
                    wire.next();
                    offset = 0;
                }
                client.commit_input(n);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(received, 5 << 30);
    assert!(chunks >= received / read_size as u64);
    assert!(wire.next().is_none(), "the whole message was read");
    assert_eq!(client.state(), State::Transaction);
    if let Some(peak) = peak_resident_bytes() {
        assert!(
            peak < 1 << 30,
            "the process peaked at {peak} resident octets"
        );
    }
}

// F. Authentication

#[test]
fn f01_apop_only_with_a_valid_msg_id_timestamp() {
    for (greeting, timestamp) in [
        (
            "POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
            Some("<1896.697170952@dbc.mtview.ca.us>"),
        ),
        (r"hi <\xfc@x> <1@a.b>", Some("<1@a.b>")),
        ("hi <1@a.b> (see <http://x>)", Some("<1@a.b>")),
        ("E.Novation POP3 server ready <a.b.c>", None),
        ("hi <a b@c>", None),
        ("<@>", None),
        (r"<\x01@a>", None),
    ] {
        let transcript = match timestamp {
            Some(timestamp) => {
                let digest: String = Md5::digest(format!("{timestamp}tanstaaf"))
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("S: +OK {greeting}\nC: APOP mrose {digest}\nS: +OK")
            }
            None => format!("S: +OK {greeting}"),
        };
        let run = session()
            .when_idle([Command::Apop {
                user: "mrose",
                password: "tanstaaf",
            }])
            .replay(&transcript);
        match timestamp {
            Some(timestamp) => {
                assert_eq!(run.client.apop_timestamp(), Some(timestamp.as_bytes()));
                assert_eq!(run.state(), State::Transaction, "{greeting}");
            }
            None => {
                assert_eq!(run.client.apop_timestamp(), None, "{greeting}");
                assert_eq!(
                    run.sends,
                    [Err(SendError::Argument(ArgumentError::NoApopTimestamp))]
                );
            }
        }
    }
}

#[test]
fn f02_pathological_greetings_are_refused_by_the_line_limit_or_scanned_once() {
    // Each greeting is 200 000 octets; with the limit raised, the byte-by-byte replay feeds them one octet at a
    // time, so a client that rescanned the line (or the timestamp candidates) per octet would not finish.
    let greetings = [
        format!("+OK <{}", "@".repeat(200_000)),
        format!("+OK <{}", "a@".repeat(100_000)),
        format!("+OK {}a@b", "<".repeat(200_000)),
    ];
    for greeting in &greetings {
        let run = session().replay(&format!("S: {greeting}"));
        assert_eq!(run.error, Some(Error::LineTooLong { limit: 2048 }));

        let run = session()
            .config(|c| c.max_line_len = 1 << 20)
            .when_idle([Command::Apop {
                user: "mrose",
                password: "tanstaaf",
            }])
            .replay(&format!("S: {greeting}"));
        assert_eq!(
            run.client.greeting().map(<[u8]>::len),
            Some(greeting.len() - 4)
        );
        assert_eq!(run.client.apop_timestamp(), None);
        assert_eq!(
            run.sends,
            [Err(SendError::Argument(ArgumentError::NoApopTimestamp))]
        );
    }
}

#[test]
fn f04_sasl_mechanisms_match_whole_tokens() {
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK ready
        C: CAPA
        S: +OK
        S: SASL ANONYMOUS APOP AUTH=CRAM-MD5 AUTH=CRAM-SHA1 CRAM- CRAM_MD5 LOGICRAM-MD5 LOPGIN plain
        S: .
        ",
    );
    let capabilities = run.client.capabilities().unwrap();
    for absent in ["CRAM-MD5", "LOGIN", "CRAM-SHA1"] {
        assert!(!capabilities.supports_sasl(absent), "{absent}");
    }
    assert!(capabilities.supports_sasl("PLAIN") && capabilities.supports_sasl("anonymous"));
}

#[test]
fn f05_undecodable_challenge_is_cancelled_and_the_session_goes_on() {
    let run = session()
        .when_idle([Command::Auth(Mechanism::cram_md5(
            "tim",
            "tanstaaftanstaaf",
        ))])
        .when_idle([Command::Auth(Mechanism::login("tim", "secret"))])
        .replay(
            "
            S: +OK ready
            C: AUTH CRAM-MD5
            S: + Rubbish
            C: *
            S: -ERR AUTH exchange cancelled by client
            C: AUTH LOGIN
            S: + VXNlcm5hbWU6
            C: dGlt
            S: + UGFzc3dvcmQ6
            C: c2VjcmV0
            S: +OK
            ",
        );
    assert_eq!(
        run.of(0),
        [
            Ev::AuthCancelled {
                id: id(0),
                reason: SaslError::MalformedChallenge
            },
            err(0, "AUTH exchange cancelled by client"),
        ]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn f06_short_challenge_with_a_bare_lf() {
    let run = session()
        .when_idle([Command::Auth(Mechanism::cram_md5(
            "tim",
            "tanstaaftanstaaf",
        ))])
        .replay(
            r"
            S: +OK ready
            C: AUTH CRAM-MD5
            S~ +\n
            C: *
            S: -ERR cancelled
            ",
        );
    assert_eq!(
        run.of(0)[0],
        Ev::AuthCancelled {
            id: id(0),
            reason: SaslError::MalformedChallenge
        }
    );
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn f07_non_base64_first_challenge_is_cancelled_where_the_mechanism_needs_it() {
    // PLAIN ignores the text of its first challenge (see rfc5034.rs); CRAM-MD5 and SCRAM cannot.
    let run = session()
        .config(|c| c.sasl_initial_response = false)
        .when_idle([Command::Auth(Mechanism::cram_md5(
            "tim",
            "tanstaaftanstaaf",
        ))])
        .when_idle([Command::Auth(Mechanism::scram_sha256(
            "user",
            "pencil",
            b"nonce".to_vec(),
        ))])
        .replay(
            "
            S: +OK ready
            C: AUTH CRAM-MD5
            S: + Ready for additional text
            C: *
            S: -ERR cancelled
            C: AUTH SCRAM-SHA-256
            S: +
            C: biwsbj11c2VyLHI9Ym05dVkyVT0=
            S: + Ready for additional text
            C: *
            S: -ERR cancelled
            ",
        );
    let cancelled = |n| Ev::AuthCancelled {
        id: id(n),
        reason: SaslError::MalformedChallenge,
    };
    assert_eq!(run.of(0)[0], cancelled(0));
    assert_eq!(run.of(1)[0], cancelled(1));
}

#[test]
fn f08_hostile_challenges_are_bounded() {
    // A 1 MiB challenge is over the line limit; with the limit raised it is refused by the SASL layer's own
    // bound; padding only and invalid characters are refused too.
    let huge = "A".repeat(1 << 20);
    let run = session()
        .when_idle([Command::Auth(Mechanism::cram_md5(
            "tim",
            "tanstaaftanstaaf",
        ))])
        .replay(&format!("S: +OK ready\nC: AUTH CRAM-MD5\nS: + {huge}"));
    assert_eq!(run.error, Some(Error::LineTooLong { limit: 2048 }));

    for challenge in [huge.as_str(), "====", "!!!!", "QQ=\\x00="] {
        let run = session()
            .config(|c| c.max_line_len = 2 << 20)
            .when_idle([Command::Auth(Mechanism::cram_md5(
                "tim",
                "tanstaaftanstaaf",
            ))])
            .replay(&format!(
                "
                S: +OK ready
                C: AUTH CRAM-MD5
                S: + {challenge}
                C: *
                S: -ERR cancelled
                "
            ));
        assert_eq!(
            run.of(0)[0],
            Ev::AuthCancelled {
                id: id(0),
                reason: SaslError::MalformedChallenge
            }
        );
    }
}

#[test]
fn f12_challenges_that_never_end() {
    // PLAIN has said all it has: the next challenge is cancelled, and one after the cancel is fatal.
    let run = session()
        .when_idle([Command::Auth(Mechanism::plain("mrose", "secret"))])
        .replay(
            "
            S: +OK ready
            C: AUTH PLAIN AG1yb3NlAHNlY3JldA==
            S: +
            C: *
            S: +
            ",
        );
    assert_eq!(
        run.of(0),
        [Ev::AuthCancelled {
            id: id(0),
            reason: SaslError::UnexpectedChallenge
        }]
    );
    assert_eq!(run.error, Some(Error::UnexpectedContinuation));
    assert_eq!(run.transmits, ["AUTH PLAIN <redacted>", "*"]);
}

#[test]
fn f13_scram_server_final_without_a_verifier_is_cancelled() {
    let nonce = b"client nonce bytes";
    let exchange = scram(Hash::Sha256, "pencil", &b64(nonce), b"salt", 2);
    let run = session()
        .when_idle([Command::Auth(Mechanism::scram_sha256(
            "user",
            "pencil",
            nonce.to_vec(),
        ))])
        .replay(&format!(
            "
            S: +OK ready
            C: AUTH SCRAM-SHA-256 {}
            S: + {}
            C: {}
            S: + {}
            C: *
            S: -ERR
            ",
            b64(exchange.client_first),
            b64(exchange.server_first),
            b64(exchange.client_final),
            b64("x=no verifier here"),
        ));
    assert_eq!(
        run.of(0)[0],
        Ev::AuthCancelled {
            id: id(0),
            reason: SaslError::MalformedChallenge
        }
    );
    assert_eq!(run.state(), State::Authorization);
}

// C. Client-originated injection and write hygiene

/// Sends `commands` to a client that has its greeting and checks that each is refused and nothing is written.
fn refused_before_anything_is_queued(commands: Vec<Command<'_>>) -> Vec<SendError> {
    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    let mut client = Client::new(config);
    client.handle_input(b"+OK ready <1@a.b>\r\n");
    assert!(matches!(client.poll(), Ok(Output::Event(_))));
    let refusals = commands
        .into_iter()
        .map(|command| client.send(command).expect_err("refused"))
        .collect();
    assert_eq!(client.outstanding(), 0);
    assert!(
        matches!(client.poll(), Ok(Output::Idle)),
        "nothing to write"
    );
    refusals
}

#[test]
fn c03_line_breaks_and_nul_in_credentials_are_refused() {
    let forbidden = SendError::Argument(ArgumentError::ForbiddenByte);
    let refusals = refused_before_anything_is_queued(vec![
        Command::User("user\rFRIGGING_cmd"),
        Command::Pass("pw\nDELE 1"),
        Command::Pass("p\0w"),
        Command::Apop {
            user: "mrose",
            password: "pw\r\nDELE 1",
        },
        Command::Rpop("user\n"),
    ]);
    assert!(refusals.iter().all(|r| *r == forbidden), "{refusals:?}");
    let sasl = SendError::Argument(ArgumentError::Sasl(SaslError::InvalidCredential));
    let refusals = refused_before_anything_is_queued(vec![
        Command::Auth(Mechanism::plain("user\r\nDELE 1", "pw")),
        Command::Auth(Mechanism::plain("user", "pw\0")),
        Command::Auth(Mechanism::login("user", "pw\n")),
        Command::Auth(Mechanism::xoauth2("user", "token\x01auth=x")),
    ]);
    assert!(refusals.iter().all(|r| *r == sasl), "{refusals:?}");
}

#[test]
fn c04_line_breaks_in_other_arguments_are_refused() {
    let refusals = refused_before_anything_is_queued(vec![
        Command::Raw {
            line: "NOOP\r\nDELE 1",
            multiline: false,
        },
        Command::Lang(Some("en\r\n")),
        Command::Apop {
            user: "mr ose",
            password: "x",
        },
        Command::Raw {
            line: "",
            multiline: false,
        },
    ]);
    assert_eq!(
        refusals,
        [
            SendError::Argument(ArgumentError::ForbiddenByte),
            SendError::Argument(ArgumentError::ForbiddenByte),
            SendError::Argument(ArgumentError::Malformed),
            SendError::Argument(ArgumentError::Malformed),
        ]
    );
    assert_eq!(MsgNum::new(0), Err(ArgumentError::ZeroMessageNumber));
}

#[test]
fn c05_command_lines_over_255_octets_are_refused_but_sasl_goes_two_step() {
    let name = "a".repeat(300);
    let refusals = refused_before_anything_is_queued(vec![
        Command::User(&name),
        Command::Raw {
            line: &name,
            multiline: false,
        },
    ]);
    assert!(
        refusals
            .iter()
            .all(|r| *r == SendError::Argument(ArgumentError::TooLong))
    );

    let token = "t".repeat(1000);
    let response = b64(format!("user=u\x01auth=Bearer {token}\x01\x01"));
    let run = session()
        .when_idle([Command::Auth(Mechanism::xoauth2("u", token.as_str()))])
        .replay(&format!(
            "
            S: +OK ready
            C: AUTH XOAUTH2
            S: +
            C: {response}
            S: +OK
            "
        ));
    assert_eq!(run.state(), State::Transaction);
}

// I. Connection lifecycle

#[test]
fn i04_err_greeting_closes_without_sending_anything() {
    for greeting in [
        "-ERR Permission denied - do not try again",
        "-ERR [SYS/PERM] go away",
        "-ERR [SYS/TEMP] try later",
        "-ERR <1896.697170952@dbc.mtview.ca.us> no",
        r"-ERR \x1b[31;1;4mPOP3\x1b[0m server ready.",
    ] {
        let run = session()
            .at_start([Command::Capa])
            .when_idle([Command::Stls])
            .replay(&format!("S: {greeting}"));
        assert!(
            matches!(run.events[..], [Ev::Greeting { ok: false, .. }]),
            "{greeting}"
        );
        assert!(run.transmits.is_empty(), "{greeting}");
        assert_eq!(run.state(), State::Closed);
    }
    let run = session().replay("S: -ERR [SYS/PERM] go away");
    assert_eq!(run.events, [greeting_with(false, Code::SysPerm, "go away")]);
    let mut client = run.client;
    assert_eq!(client.send(Command::Quit), Err(SendError::Closed));
}

#[test]
fn i05_quit_answers_all_close_the_session() {
    for answer in [
        "-ERR please stay",
        "-ERR [sys/perm] perm alert",
        "+OK [sys/perm] perm alert",
    ] {
        let run = session()
            .when_idle([Command::Quit])
            .replay(&format!("S: +OK ready\nC: QUIT\nS: {answer}"));
        assert_eq!(run.state(), State::Closed, "{answer}");
        assert_eq!(run.error, None);
    }
    // In UPDATE, -ERR means deletions may not be committed: QUIT's own error says so.
    let run = logged_in()
        .when_idle([Command::Dele(msg(1))])
        .when_idle([Command::Quit])
        .replay(&format!(
            "{LOGIN}
            C: DELE 1
            S: +OK
            C: QUIT
            S: -ERR some deleted messages not removed
            "
        ));
    assert_eq!(run.of(3), [err(3, "some deleted messages not removed")]);
    assert_eq!(
        run.states[2..],
        [State::Transaction, State::Update, State::Closed]
    );
    // A server that says +OK and keeps talking is not listened to.
    let run = session().when_idle([Command::Quit]).replay(
        "
        S: +OK ready
        C: QUIT
        S: +OK bye
        S: +OK still here
        ",
    );
    assert_eq!(run.state(), State::Closed);
    assert_eq!(run.error, None);
}

// Beyond the catalogue

#[test]
fn gibberish_and_other_protocols_greetings_are_refused() {
    for greeting in [
        r"S~ \x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
        "S: * OK [CAPABILITY IMAP4rev1] ready",
        "S: 220 mail.example.org ESMTP",
        "S: +",
        "S:",
    ] {
        let run = session().when_idle([Command::Capa]).replay(greeting);
        assert!(
            matches!(run.error, Some(Error::MalformedStatus { .. })),
            "{greeting}"
        );
        assert!(run.transmits.is_empty());
    }
}

#[test]
fn response_with_nothing_in_flight_is_unsolicited() {
    let run = logged_in().when_idle([Command::Noop]).replay(&format!(
        "{LOGIN}
        C: NOOP
        S: +OK
        S: +OK nobody asked
        "
    ));
    assert_eq!(run.of(2), [ok(2, ""), done(2)]);
    assert!(excerpt(&run.error).starts_with(b"+OK nobody asked"));
}

#[test]
fn errors_are_sticky() {
    let mut client = Client::new(Config::default());
    client.handle_input(b"+OK ready\r\n+OK unsolicited\r\n");
    assert!(matches!(client.poll(), Ok(Output::Event(_))));
    let error = client.poll().unwrap_err();
    assert!(matches!(error, Error::Unsolicited { .. }));
    for _ in 0..3 {
        assert_eq!(client.poll().unwrap_err(), error);
    }
    client.handle_input(b"+OK more\r\n");
    client.handle_eof();
    assert_eq!(client.handle_tls_established(), None);
    assert_eq!(client.poll().unwrap_err(), error);
    assert_eq!(client.error(), Some(&error));
    assert_eq!(client.state(), State::Closed);
    assert_eq!(client.send(Command::Capa), Err(SendError::Closed));
}

#[test]
fn j01_server_text_is_escaped_and_capped_when_shown() {
    let hostile = format!("\\x1b[31;1;4mPOP3\\x1b[0m {}", "x".repeat(1500));
    let run = session().replay(&format!("S: *OK {hostile}"));
    let shown = run.error.as_ref().unwrap().to_string();
    assert!(
        shown.starts_with(r"malformed status line: *OK \x1b[31;1;4mPOP3\x1b[0m xxx"),
        "{shown}"
    );
    // J-04: 1,500 octets of server text make an error message of under 300.
    assert!(!shown.contains('\x1b') && shown.len() < 300, "{shown}");

    let run = session().replay(&format!("S: -ERR {hostile}"));
    let Some(Ev::Greeting { reply, .. }) = run.events.first() else {
        panic!("{:?}", run.events)
    };
    assert!(
        reply.text.starts_with(b"\x1b[31;1;4mPOP3"),
        "raw bytes stay available"
    );
}
