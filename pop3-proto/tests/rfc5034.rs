//! RFC 5034: AUTH, with the mechanisms' own test vectors (RFC 4616, RFC 2195, RFC 5802, RFC 7677, RFC 7628).

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pop3_proto::{Command, Error, Mechanism, SaslError, State};
use support::scram::{Hash, Scram, scram};
use support::{Ev, done, err, id, ok, session};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

#[test]
fn auth_plain_with_an_initial_response() {
    // RFC 5034 §6: authzid "test", user "test", password "test". (HOSTILE F-10)
    let run = session()
        .when_idle([Command::Auth(Mechanism::Plain {
            authzid: "test".into(),
            user: "test".into(),
            password: "test".into(),
        })])
        .replay(
            "
            S: +OK POP3 server ready
            C: AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=
            S: +OK Maildrop locked and ready
            ",
        );
    assert_eq!(
        run.events[1..],
        [ok(0, "Maildrop locked and ready"), done(0)]
    );
    assert_eq!(run.transmits, ["AUTH PLAIN <redacted>"]);
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn auth_plain_goes_two_step_when_the_line_would_exceed_255_octets() {
    // `AUTH PLAIN ` + 240 base64 octets + CRLF is 253 octets and fits; 244 base64 octets would make 257.
    for (password_len, inline) in [(177, true), (178, false)] {
        let password = "p".repeat(password_len);
        let response = b64(format!("\0u\0{password}"));
        let transcript = if inline {
            format!(
                "
                S: +OK ready
                C: AUTH PLAIN {response}
                S: +OK
                "
            )
        } else {
            format!(
                "
                S: +OK ready
                C: AUTH PLAIN
                S: +
                C: {response}
                S: +OK
                "
            )
        };
        let run = session()
            .when_idle([Command::Auth(Mechanism::plain("u", password))])
            .replay(&transcript);
        assert_eq!(response.len(), if inline { 240 } else { 244 });
        assert_eq!(run.state(), State::Transaction);
    }
}

#[test]
fn auth_plain_goes_two_step_when_initial_responses_are_off() {
    // The first challenge is empty (`+ `); some servers put text there, which PLAIN ignores (HOSTILE F-07).
    for challenge in ["+ ", "+", "+ Ready for additional text"] {
        let run = session()
            .config(|c| c.sasl_initial_response = false)
            .when_idle([Command::Auth(Mechanism::plain("mrose", "secret"))])
            .replay(&format!(
                "
                S: +OK ready
                C: AUTH PLAIN
                S: {challenge}
                C: AG1yb3NlAHNlY3JldA==
                S: +OK
                "
            ));
        assert_eq!(run.transmits, ["AUTH PLAIN", "<redacted>"]);
        assert_eq!(run.events[1..], [ok(0, ""), done(0)]);
    }
}

#[test]
fn auth_external_with_an_empty_initial_response() {
    // RFC 5034 §4: an empty initial response is sent as `=`. (HOSTILE F-10)
    let run = session()
        .when_idle([Command::Auth(Mechanism::external(""))])
        .replay(
            "
            S: +OK ready
            C: AUTH EXTERNAL =
            S: +OK welcome, certificate holder
            ",
        );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn auth_login_answers_the_user_then_the_password() {
    let run = session()
        .when_idle([Command::Auth(Mechanism::login("mrose", "secret"))])
        .replay(
            "
            S: +OK ready
            C: AUTH LOGIN
            S: + VXNlcm5hbWU6
            C: bXJvc2U=
            S: + UGFzc3dvcmQ6
            C: c2VjcmV0
            S: +OK logged in
            ",
        );
    assert_eq!(run.transmits, ["AUTH LOGIN", "<redacted>", "<redacted>"]);
    assert_eq!(run.events[1..], [ok(0, "logged in"), done(0)]);
}

#[test]
fn auth_cram_md5_with_the_rfc_2195_example() {
    let challenge = b64("<1896.697170952@postoffice.reston.mci.net>");
    let response = b64("tim b913a602c7eda7a495b4e6e7334d3890");
    let run = session()
        .when_idle([Command::Auth(Mechanism::cram_md5(
            "tim",
            "tanstaaftanstaaf",
        ))])
        .replay(&format!(
            "
            S: +OK ready
            C: AUTH CRAM-MD5
            S: + {challenge}
            C: {response}
            S: +OK CRAM authentication successful
            "
        ));
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn auth_cram_md5_with_an_undecodable_challenge_is_cancelled() {
    // HOSTILE F-05: the client answers `*`, says why, and the server's -ERR ends the command.
    for challenge in ["Rubbish", "not base64!", "===="] {
        let run = session()
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
                S: -ERR AUTH exchange cancelled by client
                "
            ));
        assert_eq!(
            run.events[1..],
            [
                Ev::AuthCancelled {
                    id: id(0),
                    reason: SaslError::MalformedChallenge
                },
                err(0, "AUTH exchange cancelled by client"),
            ],
            "{challenge}"
        );
        assert_eq!(run.state(), State::Authorization);
    }
}

/// An exchange with a cheap iteration count, and the command that runs the client side of it.
fn cheap_scram_sha256() -> (Scram, Command<'static>) {
    let nonce_bytes = b"client nonce bytes";
    let exchange = scram(Hash::Sha256, "pencil", &b64(nonce_bytes), b"salt", 2);
    let command = Command::Auth(Mechanism::scram_sha256(
        "user",
        "pencil",
        nonce_bytes.to_vec(),
    ));
    (exchange, command)
}

#[test]
fn auth_scram_sha_256_with_the_rfc_7677_example() {
    // RFC 7677 §3: user "user", password "pencil". The RFC's client nonce is printable already; the library
    // base64-encodes the nonce bytes it is given, so it is given the bytes that nonce decodes to.
    let nonce = "rOprNGfwEbeRWgbNEkqO";
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let rfc = scram(Hash::Sha256, "pencil", nonce, &salt, 4096);
    assert_eq!(
        rfc.client_final,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "the test's own SCRAM agrees with the RFC"
    );
    assert_eq!(
        rfc.server_final,
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    let mechanism = Mechanism::scram_sha256("user", "pencil", STANDARD.decode(nonce).unwrap());
    let run = session()
        .when_idle([Command::Auth(mechanism)])
        .replay(&format!(
            "
        S: +OK ready
        C: AUTH SCRAM-SHA-256 {}
        S: + {}
        C: {}
        S: + {}
        C:
        S: +OK
        ",
            b64(rfc.client_first),
            b64(rfc.server_first),
            b64(rfc.client_final),
            b64(rfc.server_final),
        ));
    assert_eq!(run.events[1..], [ok(0, ""), done(0)]);
    assert_eq!(
        run.transmits,
        ["AUTH SCRAM-SHA-256 <redacted>", "<redacted>", "<redacted>"]
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn auth_scram_sha_1_two_step() {
    // The client-first message answers the server's empty first challenge.
    let nonce_bytes = b"sha-1 nonce";
    let exchange = scram(Hash::Sha1, "pencil", &b64(nonce_bytes), b"salt", 3);
    let run = session()
        .config(|c| c.sasl_initial_response = false)
        .when_idle([Command::Auth(Mechanism::scram_sha1(
            "user",
            "pencil",
            nonce_bytes.to_vec(),
        ))])
        .replay(&format!(
            "
            S: +OK ready
            C: AUTH SCRAM-SHA-1
            S: +
            C: {}
            S: + {}
            C: {}
            S: + {}
            C:
            S: +OK
            ",
            b64(exchange.client_first),
            b64(exchange.server_first),
            b64(exchange.client_final),
            b64(exchange.server_final),
        ));
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn auth_scram_with_a_wrong_server_signature_is_cancelled() {
    // HOSTILE F-13: a server that does not know the password cannot sign; the client cancels.
    let (exchange, command) = cheap_scram_sha256();
    let forged = scram(
        Hash::Sha256,
        "not pencil",
        &b64(b"client nonce bytes"),
        b"salt",
        2,
    );
    assert_ne!(forged.server_final, exchange.server_final);
    let run = session().when_idle([command]).replay(&format!(
        "
        S: +OK ready
        C: AUTH SCRAM-SHA-256 {}
        S: + {}
        C: {}
        S: + {}
        C: *
        S: -ERR cancelled
        ",
        b64(exchange.client_first),
        b64(exchange.server_first),
        b64(exchange.client_final),
        b64(forged.server_final),
    ));
    assert_eq!(
        run.events[1..],
        [
            Ev::AuthCancelled {
                id: id(0),
                reason: SaslError::ServerSignatureMismatch
            },
            err(0, "cancelled"),
        ]
    );
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn auth_scram_accepted_after_a_wrong_signature_is_fatal() {
    // HOSTILE F-13: authentication failed regardless of the server's +OK.
    let (exchange, command) = cheap_scram_sha256();
    let run = session().when_idle([command]).replay(&format!(
        "
        S: +OK ready
        C: AUTH SCRAM-SHA-256 {}
        S: + {}
        C: {}
        S: + {}
        C: *
        S: +OK welcome anyway
        ",
        b64(exchange.client_first),
        b64(exchange.server_first),
        b64(exchange.client_final),
        b64("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ));
    assert_eq!(
        run.error,
        Some(Error::ServerNotAuthenticated(SaslError::ServerNotVerified))
    );
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn auth_scram_ok_without_server_final_is_fatal() {
    let (exchange, command) = cheap_scram_sha256();
    let run = session().when_idle([command]).replay(&format!(
        "
        S: +OK ready
        C: AUTH SCRAM-SHA-256 {}
        S: + {}
        C: {}
        S: +OK I never prove anything
        ",
        b64(exchange.client_first),
        b64(exchange.server_first),
        b64(exchange.client_final),
    ));
    assert_eq!(
        run.error,
        Some(Error::ServerNotAuthenticated(SaslError::ServerNotVerified))
    );
    assert!(
        !run.events.iter().any(|e| matches!(e, Ev::Ok { .. })),
        "no +OK reaches the application: {:?}",
        run.events
    );
    assert_eq!(run.state(), State::Closed);
}

#[test]
fn auth_scram_server_error_is_reported() {
    let (exchange, command) = cheap_scram_sha256();
    let run = session().when_idle([command]).replay(&format!(
        "
        S: +OK ready
        C: AUTH SCRAM-SHA-256 {}
        S: + {}
        C: {}
        S: + {}
        C: *
        S: -ERR [AUTH] invalid proof
        ",
        b64(exchange.client_first),
        b64(exchange.server_first),
        b64(exchange.client_final),
        b64("e=invalid-proof"),
    ));
    assert_eq!(
        run.events[1],
        Ev::AuthCancelled {
            id: id(0),
            reason: SaslError::ServerError("invalid-proof".into())
        }
    );
}

#[test]
fn never_ending_challenges_are_cut_at_max_sasl_steps() {
    // HOSTILE F-12 with Config::max_sasl_steps = 1: LOGIN's second challenge is one too many.
    let run = session()
        .config(|c| c.max_sasl_steps = 1)
        .when_idle([Command::Auth(Mechanism::login("mrose", "secret"))])
        .replay(
            "
            S: +OK ready
            C: AUTH LOGIN
            S: + VXNlcm5hbWU6
            C: bXJvc2U=
            S: + UGFzc3dvcmQ6
            C: *
            S: -ERR cancelled
            ",
        );
    assert_eq!(
        run.events[1..],
        [
            Ev::AuthCancelled {
                id: id(0),
                reason: SaslError::TooManySteps
            },
            err(0, "cancelled"),
        ]
    );
    assert_eq!(run.transmits, ["AUTH LOGIN", "<redacted>", "*"]);
}

#[test]
fn oauthbearer_failure_is_acknowledged_and_its_details_reported() {
    // RFC 7628 §3.2.3 and §4.3, HOSTILE F-09: the client answers the error challenge with a single 0x01.
    let details = r#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
    let run = session()
        .when_idle([Command::Auth(Mechanism::oauthbearer(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        ))])
        .replay(&format!(
            "
            S: +OK ready
            C: AUTH OAUTHBEARER {}
            S: + {}
            C: AQ==
            S: -ERR Authentication failed
            ",
            b64("n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"),
            b64(details),
        ));
    assert_eq!(
        run.events[1..],
        [
            Ev::AuthFailureDetails {
                id: id(0),
                details: details.as_bytes().to_vec()
            },
            err(0, "Authentication failed"),
        ]
    );
    assert_eq!(run.state(), State::Authorization);
}

#[test]
fn xoauth2_failure_is_acknowledged_with_an_empty_line() {
    let details = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    let run = session()
        .when_idle([Command::Auth(Mechanism::xoauth2(
            "someuser@example.com",
            "ya29.token",
        ))])
        .replay(&format!(
            "
            S: +OK ready
            C: AUTH XOAUTH2 {}
            S: + {}
            C:
            S: -ERR [AUTH] Invalid credentials
            ",
            b64("user=someuser@example.com\x01auth=Bearer ya29.token\x01\x01"),
            b64(details),
        ));
    assert_eq!(
        run.events[1..],
        [
            Ev::AuthFailureDetails {
                id: id(0),
                details: details.as_bytes().to_vec()
            },
            support::err_with(0, support::Code::Auth, "Invalid credentials"),
        ]
    );
}
