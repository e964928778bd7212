//! The same conversations against every server of [`servers`](crate::servers), in every mode it offers, with
//! expectations derived from its [`Profile`].
//!
//! An adapter runs them all with one line (after implementing the traits of [`crate::scenarios`](mod@crate::scenarios)):
//!
//! ```text
//! pop3_testkit::server_scenarios!(Blocking);
//! ```
//!
//! which expands to one module per server and one `#[test]` per scenario in it (`mailutils::login`, …).

use std::time::Duration;

use super::corpus::{self, HARD_8BIT, HARD_BIG};
use super::{Mailbox, Mode, PopServer, Profile, StrictPort};
use crate::scenarios::{
    Adapter, ConnectSpec, CountingSink, ErrorKind, Security, SessionUnderTest, Timeouts,
    assert_insecure_credentials, assert_is_server, assert_same_bytes, assert_server, connect, err,
    ok, show,
};

/// Failed logins take up to 5 s on these servers (popa3d 2 s, solid-pop3d and perdition 3 s, Courier 5 s), and a
/// 5 MB message crosses TLS in a debug build: every limit is generous.
fn timeouts() -> Timeouts {
    let scale = Timeouts::default()
        .response
        .unwrap_or(Duration::from_secs(2))
        .as_secs()
        .max(2)
        / 2;
    Timeouts::all(Duration::from_secs(15 * scale))
}

/// A session to `server` in `mode`: TLS verified against the server's test CA for `localhost`, credentials in
/// clear allowed only in [`Mode::Plaintext`].
fn spec(server: &dyn PopServer, port: u16, security: Security) -> ConnectSpec {
    ConnectSpec::new("localhost", port, security)
        .connect_to(([127, 0, 0, 1], port).into())
        .ca_pem(server.ca_pem())
        .timeouts(timeouts())
}

fn mode_spec(server: &dyn PopServer, mode: Mode) -> ConnectSpec {
    let port = server.port(mode);
    match mode {
        Mode::Plaintext => spec(server, port, Security::Plaintext).allow_plaintext_credentials(),
        Mode::StartTls => spec(server, port, Security::StartTls),
        Mode::Implicit => spec(server, port, Security::Implicit),
    }
}

/// A logged-in session in `mode`, checking that `login` chose the method the profile predicts.
#[track_caller]
fn logged_in<A: Adapter>(
    adapter: &A,
    server: &dyn PopServer,
    mode: Mode,
    mailbox: &Mailbox,
) -> A::Session {
    let profile = server.profile();
    let mut s = connect(adapter, &mode_spec(server, mode));
    assert_eq!(
        s.is_encrypted(),
        mode != Mode::Plaintext,
        "{}: encryption in {}",
        profile.name,
        mode.name()
    );
    if profile.utf8_downgrade {
        // Without UTF8 the server replaces messages with 8-bit headers by a notice.
        ok(s.utf8(), format_args!("{}: UTF8", profile.name));
    }
    let method = ok(
        s.login(&mailbox.user, &mailbox.password),
        format_args!("{}: login in {}", profile.name, mode.name()),
    );
    assert_eq!(
        method,
        profile.expected_login(),
        "{}: login() in {} chose {method}",
        profile.name,
        mode.name()
    );
    s
}

fn small(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    messages[..HARD_BIG].to_vec()
}

/// Whether `greeting` carries an RFC 1939 APOP timestamp (`<…@…>`).
fn has_apop_timestamp(greeting: &[u8]) -> bool {
    let Some(open) = greeting.iter().position(|&b| b == b'<') else {
        return false;
    };
    greeting[open..]
        .iter()
        .position(|&b| b == b'>')
        .is_some_and(|close| greeting[open..open + close].contains(&b'@'))
}

/// The greeting (APOP timestamp or not) and CAPA (or its absence) are as the profile says, in clear and in
/// every TLS mode.
pub fn greeting_and_capa<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    for &mode in profile.modes {
        let mut s = connect(adapter, &mode_spec(server, mode));
        let what = format!("{} in {}", profile.name, mode.name());
        assert_eq!(
            has_apop_timestamp(&s.greeting()),
            profile.apop,
            "{what}: APOP timestamp in greeting {:?}",
            show(&s.greeting())
        );
        match profile.capa {
            None => assert_is_server(&err(s.capa(), &what), &what),
            Some(_) => {
                let caps = ok(s.capa(), format_args!("{what}: CAPA"));
                let listed = |name: &str| match name {
                    "TOP" => caps.top(),
                    "UIDL" => caps.uidl(),
                    "USER" => caps.user(),
                    "STLS" => caps.stls(),
                    "PIPELINING" => caps.pipelining(),
                    "RESP-CODES" => caps.resp_codes(),
                    "UTF8" => caps.utf8(),
                    other => panic!("no accessor for capability {other}"),
                };
                for name in ["TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "UTF8"] {
                    assert_eq!(
                        listed(name),
                        profile.advertises(name),
                        "{what}: {name} in {caps:?}"
                    );
                }
                // STLS is offered in clear only (and not again once TLS is up).
                assert_eq!(
                    caps.stls(),
                    profile.advertises("STLS") && mode == Mode::Plaintext,
                    "{what}: STLS in {caps:?}"
                );
                let mut sasl: Vec<&str> = caps.sasl_mechanisms().collect();
                sasl.sort_unstable();
                let mut expected = profile.sasl.to_vec();
                if mode != Mode::Plaintext {
                    expected.extend(profile.sasl_with_tls);
                }
                expected.sort_unstable();
                assert_eq!(sasl, expected, "{what}: SASL mechanisms");
            }
        }
        ok(s.quit(), format_args!("{what}: QUIT"));
    }
}

/// `login()` picks the method the profile predicts (the strongest offered) in every mode, and the mailbox is
/// there.
pub fn login<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    for &mode in profile.modes {
        let mailbox = server.mailbox("login", &small(&corpus::hard_messages())[..2]);
        let mut s = logged_in(adapter, server, mode, &mailbox);
        let stat = ok(s.stat(), "STAT");
        assert_eq!(stat.count, 2, "{} in {}", profile.name, mode.name());
        assert_eq!(
            stat.octets,
            mailbox.sizes.iter().sum::<u64>(),
            "{}: STAT octets",
            profile.name
        );
        ok(s.quit(), "QUIT");
    }
}

/// Every hard message (lone dots, 8-bit headers and bodies, a 5,000-character line, a header-only message, no
/// final newline, 5 MB) comes back byte for byte as the server stores it, in every mode; LIST sizes are the
/// profile's; pipelined RETR of the small ones gives the same bytes.
pub fn messages_byte_exact<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    let messages = corpus::hard_messages();
    for &mode in profile.modes {
        let what = format!("{} in {}", profile.name, mode.name());
        let mailbox = server.mailbox("exact", &messages);
        let mut s = logged_in(adapter, server, mode, &mailbox);
        let sizes: Vec<u64> = ok(s.list(), format_args!("{what}: LIST"))
            .iter()
            .map(|scan| scan.octets)
            .collect();
        assert_eq!(sizes, mailbox.sizes, "{what}: LIST sizes");
        let uids = ok(s.uidl(), format_args!("{what}: UIDL"));
        let listing = ok(s.listing(), format_args!("{what}: LIST and UIDL together"));
        let expected: Vec<(u64, u64, Option<String>)> = uids
            .iter()
            .zip(&sizes)
            .map(|(u, &octets)| (u.msg, octets, Some(u.uid.clone())))
            .collect();
        let got: Vec<(u64, u64, Option<String>)> = listing
            .into_iter()
            .map(|l| (l.msg, l.octets, l.uid))
            .collect();
        assert_eq!(got, expected, "{what}: listing()");
        for (i, served) in mailbox.served.iter().enumerate().take(HARD_BIG) {
            let msg = i as u64 + 1;
            let got = ok(s.retr(msg), format_args!("{what}: RETR {msg}"));
            assert_same_bytes(&got, served, &format!("{what}: RETR {msg}"));
        }
        let mut sink = CountingSink::default();
        let big = HARD_BIG as u64 + 1;
        let written = ok(
            s.retr_to(big, &mut sink),
            format_args!("{what}: RETR {big} streamed"),
        );
        let expected = CountingSink::of(&mailbox.served[HARD_BIG]);
        assert_eq!(
            (written, sink.octets, sink.fnv),
            (expected.octets, expected.octets, expected.fnv),
            "{what}: 5 MB"
        );
        let numbers: Vec<u64> = (1..=HARD_BIG as u64).collect();
        let batch = ok(s.retr_many(&numbers), format_args!("{what}: RETR of many"));
        for (i, got) in batch.into_iter().enumerate() {
            let got = ok(got, format_args!("{what}: RETR {} in a batch", i + 1));
            assert_same_bytes(
                &got,
                &mailbox.served[i],
                &format!("{what}: batched RETR {}", i + 1),
            );
        }
        ok(s.quit(), "QUIT");
    }
}

/// The header of `served` including the empty line after it (the whole message when it has no body).
fn header_of(served: &[u8]) -> &[u8] {
    served
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(served, |at| &served[..at + 4])
}

/// TOP with 0 and 3 lines gives the header and the first body lines of what RETR gives (Mailutils adds an
/// empty line after the header when lines > 0); UIDL gives one distinct id per message, the same in the next
/// session.
pub fn top_and_uidl<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    let mode = profile.modes[0];
    let what = profile.name;
    let mailbox = server.mailbox("top", &small(&corpus::hard_messages()));
    let mut s = logged_in(adapter, server, mode, &mailbox);
    for (i, served) in mailbox.served.iter().enumerate() {
        let msg = i as u64 + 1;
        let header = header_of(served);
        assert_same_bytes(
            &ok(s.top(msg, 0), "TOP n 0"),
            header,
            &format!("{what}: TOP {msg} 0"),
        );
        let body_lines: Vec<&[u8]> = served[header.len()..]
            .split_inclusive(|&b| b == b'\n')
            .take(3)
            .collect();
        let mut expected = header.to_vec();
        if profile.top_adds_blank_line {
            expected.extend_from_slice(b"\r\n");
        }
        expected.extend(body_lines.concat());
        if header.len() == served.len() {
            // A header-only message: nothing after it.
            expected.truncate(header.len() + if profile.top_adds_blank_line { 2 } else { 0 });
        }
        assert_same_bytes(
            &ok(s.top(msg, 3), "TOP n 3"),
            &expected,
            &format!("{what}: TOP {msg} 3"),
        );
    }
    let uids = ok(s.uidl(), format_args!("{what}: UIDL"));
    assert_eq!(uids.len(), mailbox.served.len(), "{what}: UIDL entries");
    let mut distinct: Vec<&str> = uids.iter().map(|u| u.uid.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        uids.len(),
        "{what}: UIDs not distinct: {uids:?}"
    );
    ok(s.quit(), "QUIT");
    let mut s = logged_in(adapter, server, mode, &mailbox);
    assert_eq!(
        ok(s.uidl(), "UIDL again"),
        uids,
        "{what}: UIDs changed between sessions"
    );
    ok(s.quit(), "QUIT");
}

/// DELE then RSET keeps everything; DELE then QUIT removes exactly the deleted messages, in every mode.
pub fn dele_rset_quit<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    for &mode in profile.modes {
        let what = format!("{} in {}", profile.name, mode.name());
        let mailbox = server.mailbox("dele", &small(&corpus::hard_messages()));
        let n = mailbox.served.len() as u64;
        let mut s = logged_in(adapter, server, mode, &mailbox);
        let uids = ok(s.uidl(), "UIDL");
        ok(s.dele(1), "DELE 1");
        assert_eq!(ok(s.stat(), "STAT").count, n - 1, "{what}: STAT after DELE");
        ok(s.rset(), "RSET");
        assert_eq!(ok(s.stat(), "STAT").count, n, "{what}: STAT after RSET");
        // Pipelined where the server says PIPELINING, one by one elsewhere.
        for outcome in ok(s.dele_many(&[1, 3]), "DELE 1, DELE 3") {
            ok(outcome, format_args!("{what}: DELE in a batch"));
        }
        ok(s.quit(), "QUIT");

        let mut s = logged_in(adapter, server, mode, &mailbox);
        assert_eq!(ok(s.stat(), "STAT").count, n - 2, "{what}: STAT after QUIT");
        let kept: Vec<String> = uids
            .iter()
            .filter(|u| u.msg != 1 && u.msg != 3)
            .map(|u| u.uid.clone())
            .collect();
        let now: Vec<String> = ok(s.uidl(), "UIDL").into_iter().map(|u| u.uid).collect();
        assert_eq!(now, kept, "{what}: the UIDs left");
        assert_same_bytes(
            &ok(s.retr(1), "RETR 1"),
            &mailbox.served[1],
            &format!("{what}: RETR 1 after DELE"),
        );
        assert_same_bytes(
            &ok(s.retr(2), "RETR 2"),
            &mailbox.served[3],
            &format!("{what}: RETR 2 after DELE"),
        );
        ok(s.quit(), "QUIT");
    }
}

/// Credentials in clear are refused by the client without the opt-in; `StartTlsIfAvailable` upgrades exactly
/// where STLS is offered; a server without STLS fails a
/// `StartTls` connection with a typed error; a port that requires STLS refuses credentials in clear as its
/// profile says ([`StrictPort`]), and works after STLS.
pub fn tls_policy<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    let mailbox = server.mailbox("tls", &small(&corpus::hard_messages())[..1]);
    let port = server.port(Mode::Plaintext);
    let mut s = connect(adapter, &spec(server, port, Security::Plaintext));
    assert_insecure_credentials(
        &err(s.login(&mailbox.user, &mailbox.password), "login in clear"),
        profile.name,
    );
    ok(s.quit(), "QUIT");

    // STLS where offered (CAPA says so), plaintext where not, including servers without CAPA.
    let if_available =
        spec(server, port, Security::StartTlsIfAvailable).allow_plaintext_credentials();
    let mut s = connect(adapter, &if_available);
    assert_eq!(
        s.is_encrypted(),
        profile.modes.contains(&Mode::StartTls),
        "{}: StartTlsIfAvailable",
        profile.name
    );
    ok(
        s.login(&mailbox.user, &mailbox.password),
        "login with StartTlsIfAvailable",
    );
    ok(s.quit(), "QUIT");

    if !profile.modes.contains(&Mode::StartTls) {
        let e = adapter
            .connect(&spec(server, port, Security::StartTls))
            .err()
            .unwrap_or_else(|| {
                panic!(
                    "{}: STLS required but the connection succeeded",
                    profile.name
                )
            });
        assert!(
            matches!(e.kind, ErrorKind::TlsUnavailable { .. }),
            "{}: expected TlsUnavailable, got {e}",
            profile.name
        );
    }

    if let Some(strict) = server.strict_port() {
        let what = format!("{}: port that requires STLS", profile.name);
        let in_clear = spec(server, strict, Security::Plaintext).allow_plaintext_credentials();
        let mut s = connect(adapter, &in_clear);
        let login = s.login(&mailbox.user, &mailbox.password);
        if profile.strict_port == StrictPort::ChallengeResponseOnly {
            let method = ok(login, format_args!("{what}: login in clear"));
            assert!(
                profile.sasl.contains(&method.as_str())
                    && !["PLAIN", "LOGIN"].contains(&method.as_str()),
                "{what}: login() in clear used {method}"
            );
        } else {
            assert_is_server(&err(login, &what), &what);
        }
        drop(s);
        let mut s = connect(adapter, &in_clear);
        let user = s.user(&mailbox.user);
        if profile.strict_port == StrictPort::RefusesPass {
            ok(user, format_args!("{what}: USER"));
            assert_is_server(
                &err(s.pass(&mailbox.password), &what),
                &format!("{what}: PASS"),
            );
        } else {
            assert_is_server(&err(user, &what), &format!("{what}: USER"));
        }
        drop(s);
        let mut s = connect(adapter, &spec(server, strict, Security::StartTls));
        assert!(s.is_encrypted(), "{what}: not encrypted after STLS");
        ok(
            s.login(&mailbox.user, &mailbox.password),
            format_args!("{what}: login after STLS"),
        );
        assert_eq!(ok(s.stat(), "STAT").count, 1, "{what}");
        ok(s.quit(), "QUIT");
    }
}

/// A wrong password is a `-ERR` (a typed server error); the right one then works.
pub fn wrong_password<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    let mode = profile.modes[0];
    let mailbox = server.mailbox("wrongpw", &small(&corpus::hard_messages())[..1]);
    let mut s = connect(adapter, &mode_spec(server, mode));
    let e = err(
        s.login(&mailbox.user, "not-the-password"),
        "login with a wrong password",
    );
    assert_is_server(&e, profile.name);
    drop(s);
    let mut s = logged_in(adapter, server, mode, &mailbox);
    assert_eq!(ok(s.stat(), "STAT").count, 1, "{}", profile.name);
    ok(s.quit(), "QUIT");
}

/// A second session on a mailbox in use: refused with `[IN-USE]` where the profile says the server locks
/// mailboxes, let in otherwise; after the first QUIT the mailbox is free again.
pub fn second_session<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    let mode = profile.modes[0];
    let mailbox = server.mailbox("inuse", &small(&corpus::hard_messages())[..2]);
    let mut first = logged_in(adapter, server, mode, &mailbox);
    let mut second = connect(adapter, &mode_spec(server, mode));
    let outcome = second.login(&mailbox.user, &mailbox.password);
    if profile.exclusive_mailbox {
        assert_server(&err(outcome, "second login"), Some("IN-USE"), profile.name);
    } else {
        ok(outcome, format_args!("{}: second session", profile.name));
        assert_eq!(ok(second.stat(), "STAT").count, 2);
        ok(second.quit(), "QUIT");
    }
    ok(first.quit(), "QUIT");
    let mut third = logged_in(adapter, server, mode, &mailbox);
    assert_eq!(ok(third.stat(), "STAT").count, 2);
    ok(third.quit(), "QUIT");
}

/// `UTF8` is accepted only where the profile says so; a server that downgrades 8-bit headers serves a
/// generated notice instead of the message until the client says `UTF8`.
pub fn utf8<A: Adapter>(adapter: &A, server: &dyn PopServer) {
    let profile = server.profile();
    let mode = profile.modes[0];
    let messages = small(&corpus::hard_messages());
    let mailbox = server.mailbox("utf8", &messages);
    let mut s = connect(adapter, &mode_spec(server, mode));
    let answer = s.utf8();
    if profile.utf8 {
        ok(answer, format_args!("{}: UTF8", profile.name));
    } else {
        assert_is_server(&err(answer, "UTF8"), profile.name);
    }
    ok(s.login(&mailbox.user, &mailbox.password), "login");
    let msg = HARD_8BIT as u64 + 1;
    assert_same_bytes(
        &ok(s.retr(msg), "RETR"),
        &mailbox.served[HARD_8BIT],
        &format!("{}: 8-bit message", profile.name),
    );
    ok(s.quit(), "QUIT");

    if profile.utf8_downgrade {
        let mut s = connect(adapter, &mode_spec(server, mode));
        ok(
            s.login(&mailbox.user, &mailbox.password),
            "login without UTF8",
        );
        let got = ok(s.retr(msg), "RETR without UTF8");
        assert!(
            got != mailbox.served[HARD_8BIT]
                && crate::scenarios::contains(&got, b"Content-Type: message/global"),
            "{}: without UTF8 the 8-bit message should come as a notice, got {}",
            profile.name,
            show(&got[..got.len().min(300)])
        );
        ok(s.quit(), "QUIT");
    }
}

/// The profile's own claims agree with each other (so the table and the scenarios cannot disagree).
pub fn profile_is_consistent(profile: &Profile) {
    assert!(!profile.modes.is_empty(), "{}: no modes", profile.name);
    assert_eq!(
        profile.modes[0],
        Mode::Plaintext,
        "{}: the plain port comes first",
        profile.name
    );
    assert_eq!(
        profile.advertises("STLS"),
        profile.modes.contains(&Mode::StartTls),
        "{}: STLS",
        profile.name
    );
    assert!(
        profile.strict_port == StrictPort::None || profile.modes.contains(&Mode::StartTls),
        "{}: strict port",
        profile.name
    );
    assert!(
        !profile.utf8_downgrade || profile.utf8,
        "{}: UTF8",
        profile.name
    );
}

/// Expands to one module per server (`mailutils`, `cyrus`, `courier`, `popa3d`, `solid_pop3d`, `perdition`) with one `#[test]`
/// per scenario of [`servers::scenarios`](crate::servers::scenarios), for the adapter value given.
#[macro_export]
macro_rules! server_scenarios {
    ($adapter:expr) => {
        $crate::server_scenarios! { @servers $adapter; mailutils, cyrus, courier, popa3d, solid_pop3d, perdition }
    };
    (@servers $adapter:expr; $($server:ident),*) => {
        $(
            mod $server {
                #[allow(unused_imports)]
                use super::*;
                $crate::server_scenarios! { @tests $adapter; $server;
                    greeting_and_capa,
                    login,
                    messages_byte_exact,
                    top_and_uidl,
                    dele_rset_quit,
                    tls_policy,
                    wrong_password,
                    second_session,
                    utf8,
                }
            }
        )*
    };
    (@tests $adapter:expr; $server:ident; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::servers::scenarios::$name(&$adapter, $crate::servers::$server());
            }
        )*
    };
}
