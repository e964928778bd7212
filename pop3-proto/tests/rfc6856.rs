//! RFC 6856: the UTF8 and LANG commands and capabilities, as transcripts.

mod support;

use pop3_proto::{Capability, Command, SendError, State};
use support::{Code, done, err, err_with, line, ok, session};

#[test]
fn capa_advertises_utf8_and_lang() {
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK ready
        C: CAPA
        S: +OK
        S: UTF8 USER
        S: LANG
        S: .
        ",
    );
    assert_eq!(
        run.capabilities(0),
        [Capability::Utf8 { user: true }, Capability::Lang]
    );
    let capabilities = run.client.capabilities().unwrap();
    assert!(capabilities.utf8() && capabilities.lang());
}

#[test]
fn utf8_then_login_with_a_utf8_user_name() {
    // §2: UTF8 in the AUTHORIZATION state, then a UTF-8 user name (the `UTF8 USER` capability).
    let run = session()
        .when_idle([Command::Utf8])
        .when_idle([Command::User("José"), Command::Pass("contraseña")])
        .replay(
            "
            S: +OK ready
            C: UTF8
            S: +OK I only speak UTF-8 now
            C: USER José
            S: +OK
            C: PASS contraseña
            S: +OK maildrop ready
            ",
        );
    assert_eq!(run.events[1..3], [ok(0, "I only speak UTF-8 now"), done(0)]);
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn utf8_goes_out_alone_and_only_before_login() {
    let run = session()
        .when_idle([Command::Capa])
        .when_idle([Command::Utf8, Command::Lang(None)])
        .when_idle([Command::User("mrose"), Command::Pass("secret")])
        .when_idle([Command::Utf8])
        .replay(
            "
            S: +OK ready
            C: CAPA
            S: +OK
            S: PIPELINING
            S: UTF8
            S: .
            C: UTF8
            S: +OK
            C: LANG
            S: +OK
            S: .
            C: USER mrose
            C: PASS secret
            S: +OK
            S: +OK
            ",
        );
    // USER and PASS travel together since the server pipelines; UTF8 still goes out alone.
    assert_eq!(
        run.transmits,
        ["CAPA", "UTF8", "LANG", "USER mrose | PASS <redacted>"]
    );
    assert_eq!(
        run.sends.last(),
        Some(&Err(SendError::WrongState {
            command: "UTF8",
            state: State::Transaction
        }))
    );
}

#[test]
fn lang_lists_the_languages() {
    // §3: a LANG listing; each line is handed out whole, dot-unstuffed.
    let run = session().when_idle([Command::Lang(None)]).replay(
        "
        S: +OK ready
        C: LANG
        S: +OK Language listing follows:
        S: en English
        S: en-boont English Boontling dialect
        S: de Deutsch
        S: it Italiano
        S: es Español
        S: sv Svenska
        S: ..x-dot a tag that starts with a dot
        S: .
        ",
    );
    assert_eq!(
        run.events[1..],
        [
            ok(0, "Language listing follows:"),
            line(0, "en English"),
            line(0, "en-boont English Boontling dialect"),
            line(0, "de Deutsch"),
            line(0, "it Italiano"),
            line(0, "es Español"),
            line(0, "sv Svenska"),
            line(0, ".x-dot a tag that starts with a dot"),
            done(0),
        ]
    );
}

#[test]
fn lang_changes_the_language_or_refuses_an_unknown_one() {
    // §3, in both states.
    let run = session()
        .when_idle([Command::Lang(Some("es"))])
        .when_idle([Command::User("mrose"), Command::Pass("secret")])
        .when_idle([Command::Lang(Some("uga"))])
        .replay(
            "
            S: +OK ready
            C: LANG es
            S: +OK es Idioma cambiado
            C: USER mrose
            S: +OK
            C: PASS secret
            S: +OK
            C: LANG uga
            S: -ERR es Idioma <<UGA>> no es conocido
            ",
        );
    assert_eq!(run.events[1..3], [ok(0, "es Idioma cambiado"), done(0)]);
    assert_eq!(
        run.events.last(),
        Some(&err(3, "es Idioma <<UGA>> no es conocido"))
    );
    assert_eq!(run.state(), State::Transaction);
}

#[test]
fn lang_tag_with_a_space_or_line_break_is_refused() {
    let run = session()
        .when_idle([
            Command::Lang(Some("en us")),
            Command::Lang(Some("en\r\nDELE 1")),
            Command::Lang(Some("")),
        ])
        .replay("S: +OK ready");
    assert!(run.sends.iter().all(Result::is_err), "{:?}", run.sends);
    assert!(run.transmits.is_empty());
}

#[test]
fn utf8_response_code_is_typed() {
    // §5: the UTF8 response code.
    let run = session().when_idle([Command::User("José")]).replay(
        "
        S: +OK ready
        C: USER José
        S: -ERR [UTF8] issue the UTF8 command first
        ",
    );
    assert_eq!(
        run.events[1],
        err_with(0, Code::Utf8, "issue the UTF8 command first")
    );
}
