//! Seed inputs built from realistic sessions (RFC 1939/2449/2595/5034 examples, curl's and EAST's POP3 test
//! scripts, the cases of HOSTILE-CASES.md), encoded in the targets' input layouts.
//!
//! `tests/regressions.rs` replays all of them on every `cargo test`; with `POP3_FUZZ_WRITE_SEEDS=1` it also writes
//! them to `corpus/<target>/seed-<name>` (the checked-in corpus is then minimized with `cargo fuzz cmin`).

use crate::input::{CmdSpec, ConfigSpec, Encode, MechSpec, Writer};
use crate::{GREETING, Listing, Move, Op, write_turns};

/// A seed: target, name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

const CAPA: &[u8] = b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN SCRAM-SHA-256 CRAM-MD5\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\nPIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n.\r\n";
const CAPA_STLS: &[u8] = b"+OK\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\nPIPELINING\r\n.\r\n";
const LIST: &[u8] = b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n";
const UIDL: &[u8] = b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n";
const RETR: &[u8] = b"+OK 120 octets\r\nFrom: a@example.org\r\nSubject: dots\r\n\r\n..leading dot\r\n...\r\n..\r\nend\r\n.\r\n";

fn w() -> Writer {
    Writer::new()
}

fn ops(config: [u8; 4], prelude: u8, ops: &[Op]) -> Vec<u8> {
    let mut w = w();
    ConfigSpec(config).encode(&mut w);
    w.byte(prelude);
    for op in ops {
        op.encode(&mut w);
    }
    w.finish()
}

fn feed(b: &[u8]) -> Op {
    Op::Feed(b.to_vec())
}

fn send(c: CmdSpec) -> Op {
    Op::Send(c)
}

const PLAIN: u8 = ConfigSpec::PLAINTEXT;

fn client_input() -> Vec<Seed> {
    use CmdSpec::*;
    let mut seeds = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| seeds.push(("client_input", name.to_owned(), bytes));
    add(
        "rfc1939-session",
        ops(
            [PLAIN, 7, 0, 0],
            0,
            &[
                feed(GREETING),
                send(Capa),
                feed(CAPA),
                send(User("mrose".into())),
                feed(b"+OK mrose is a real hoopy frood\r\n"),
                send(Pass("secret".into())),
                feed(b"+OK mrose's maildrop has 2 messages (320 octets)\r\n"),
                send(Stat),
                send(List(None)),
                send(Uidl(None)),
                feed(b"+OK 2 320\r\n"),
                feed(LIST),
                feed(UIDL),
                send(Retr(1)),
                feed(RETR),
                send(Top(2, 0)),
                feed(b"+OK\r\nSubject: x\r\n\r\n.\r\n"),
                send(Dele(1)),
                feed(b"+OK message 1 deleted\r\n"),
                send(Quit),
                feed(b"+OK dewey POP3 server signing off (1 messages left)\r\n"),
            ],
        ),
    );
    add(
        "stls-session",
        ops(
            [0, 6, 0, 0],
            0,
            &[
                feed(b"+OK POP3 ready\r\n"),
                send(Capa),
                feed(CAPA_STLS),
                send(Stls),
                feed(b"+OK Begin TLS negotiation\r\n"),
                Op::Tls,
                feed(CAPA),
                send(User("u".into())),
                feed(b"+OK\r\n"),
                send(Pass("p".into())),
                feed(b"+OK\r\n"),
                send(Stat),
                feed(b"+OK 0 0\r\n"),
                send(Quit),
                feed(b"+OK bye\r\n"),
            ],
        ),
    );
    add(
        "stls-injection",
        ops(
            [0, 6, 0, 0],
            0,
            &[
                feed(b"+OK POP3 ready\r\n"),
                send(Stls),
                feed(b"+OK Begin fake TLS negotiation now.\r\n+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n"),
            ],
        ),
    );
    add(
        "auth-plain-bare-lf",
        ops(
            [ConfigSpec::TLS, 6, 0, 2],
            0,
            &[
                feed(b"+OK ready\n"),
                send(Auth(MechSpec {
                    kind: 0,
                    custom: None,
                })),
                feed(b"+ \n"),
                feed(b"+OK\n"),
                send(List(None)),
                feed(b"+OK\n1 10\n.\n"),
                send(Retr(1)),
                feed(b"+OK\nline\n..stuffed\n.\n"),
            ],
        ),
    );
    add(
        "alphabet-soup",
        ops(
            [PLAIN | ConfigSpec::VIA_BUFFER, 1, 3, 0x11],
            3,
            &[
                send(Retr(1)),
                Op::FeedAlpha(vec![0, 4, 2, 20, 2, 13, 20, 2, 3, 2, 14]),
                send(Uidl(None)),
                Op::FeedAlpha(vec![27, 6, 4, 20, 2, 3, 2]),
                Op::Eof,
            ],
        ),
    );
    add(
        "err-greeting",
        ops(
            [0; 4],
            0,
            &[
                feed(b"-ERR [SYS/PERM] Permission denied - do not try again\r\n"),
                send(Capa),
            ],
        ),
    );
    add(
        "unsolicited",
        ops(
            [0; 4],
            1,
            &[feed(
                b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
            )],
        ),
    );
    add(
        "long-line",
        ops([0, 0, 4, 0], 1, &[send(Capa), feed(&[b'x'; 600])]),
    );
    let continuations: [&[Op]; 7] = [
        &[
            send(Capa),
            feed(CAPA),
            send(User("u".into())),
            feed(b"+OK\r\n"),
        ],
        &[
            send(Stat),
            feed(b"+OK 2 320\r\n"),
            send(List(Some(2))),
            feed(b"+OK 2 200\r\n"),
            send(Quit),
            feed(b"+OK\r\n"),
        ],
        &[
            send(Stat),
            send(List(None)),
            send(Uidl(None)),
            feed(b"+OK 2 320\r\n"),
            feed(LIST),
            feed(UIDL),
        ],
        &[feed(b"\r\n.\r\n"), send(Noop), feed(b"+OK\r\n")],
        &[
            Op::Tls,
            feed(CAPA),
            send(User("u".into())),
            feed(b"+OK\r\n"),
            Op::Eof,
        ],
        &[
            feed(b"+ cj1ibTl1WTJVPTNyZmNOSFlKWTFaVnZXVnM3aixzPVFTWENSK1E2c2VrOGJmOTIsaT00MDk2\r\n"),
            feed(b"+OK\r\n"),
        ],
        &[
            feed(b"2 200\r\n.\r\n"),
            send(Uidl(Some(1))),
            feed(b"+OK 1 abc\r\n"),
        ],
    ];
    for (i, ops_) in continuations.iter().enumerate() {
        let prelude = i as u8 + 1;
        add(
            &format!("prelude-{}", crate::PRELUDES[usize::from(prelude)]),
            ops([PLAIN, 6, 0, 0], prelude, ops_),
        );
    }
    seeds
}

fn chunking() -> Vec<Seed> {
    use CmdSpec::*;
    let mut seeds = Vec::new();
    let mut session =
        |name: &str, config: [u8; 4], batches: &[&[CmdSpec]], pieces: &[u8], turns: &[&[u8]]| {
            let mut w = w();
            ConfigSpec(config).encode(&mut w);
            w.byte(batches.len() as u8);
            for batch in batches {
                w.byte(batch.len() as u8 - 1);
                for c in *batch {
                    c.encode(&mut w);
                }
            }
            w.short(pieces);
            write_turns(&mut w, turns);
            seeds.push(("chunking", name.to_owned(), w.finish()));
        };
    session(
        "pipelined-session",
        [PLAIN, 6, 0, 0],
        &[
            &[Capa, User("mrose".into()), Pass("pw".into())],
            &[Stat, List(None), Uidl(None)],
            &[Retr(1), Quit],
        ],
        &[0, 4, 12, 1, 63],
        &[
            GREETING,
            CAPA,
            b"+OK\r\n",
            b"+OK logged in\r\n",
            b"+OK 2 320\r\n",
            LIST,
            UIDL,
            RETR,
            b"+OK bye\r\n",
        ],
    );
    session(
        "sasl-and-errors",
        [ConfigSpec::TLS, 6, 0, 0],
        &[
            &[Auth(MechSpec {
                kind: 1,
                custom: None,
            })],
            &[Retr(9)],
            &[List(Some(1))],
        ],
        &[2, 5],
        &[
            b"+OK ready\r\n",
            b"+ VXNlcm5hbWU6\r\n",
            b"+ UGFzc3dvcmQ6\r\n",
            b"+OK\r\n",
            b"-ERR [SYS/TEMP] no such message\r\n",
            b"+OK 1 4294967400\r\n",
        ],
    );
    seeds
}

fn dot_roundtrip() -> Vec<Seed> {
    let bodies: [(&str, &[u8]); 6] = [
        (
            "message",
            b"From: a@example.org\r\nSubject: x\r\n\r\n.leading\r\n..two\r\n.\r\nend\r\n",
        ),
        ("empty", b""),
        ("dot", b"."),
        ("crlf-dot-crlf", b"\r\n.\r\n"),
        ("no-final-newline", b"a\r\nb"),
        ("bare-lf-dot", b"line\n.\n+OK injected\r\nmore\r\n"),
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(i, (name, body))| {
            let mut w = w();
            // Even seeds CRLF, odd ones an LF-only server.
            w.byte(i as u8 | if i % 2 == 1 { 8 } else { 0 })
                .byte(i as u8)
                .short(&[0, 1, 2, 7])
                .raw(body);
            ("dot_roundtrip", (*name).to_owned(), w.finish())
        })
        .collect()
}

fn scripted_session() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |name: &str, flags: u8, turns: &[&[u8]]| {
        let mut w = w();
        // Pieces of 15 bytes: "+OK Begin TLS\r\n" arrives alone, so what follows it waits for the handshake.
        w.byte(flags)
            .short(if flags & 8 != 0 { &[14] } else { &[] });
        write_turns(&mut w, turns);
        seeds.push(("scripted_session", name.to_owned(), w.finish()));
    };
    let tail: [&[u8]; 5] = [b"+OK 2 320\r\n", LIST, UIDL, RETR, b"+OK bye\r\n"];
    let with = |head: &[&'static [u8]]| -> Vec<&'static [u8]> {
        head.iter().copied().chain(tail).collect()
    };
    add(
        "user-pass",
        0,
        &with(&[
            GREETING,
            CAPA_STLS,
            b"+OK Begin TLS\r\n",
            CAPA,
            b"+OK\r\n",
            b"+OK\r\n",
        ]),
    );
    add(
        "apop",
        1 | 4,
        &with(&[
            GREETING,
            CAPA_STLS,
            b"+OK Begin TLS\r\n",
            CAPA,
            b"+OK\r\n",
            b"+OK\r\n",
        ]),
    );
    add(
        "auth-plain",
        2,
        &with(&[
            GREETING,
            CAPA_STLS,
            b"+OK Begin TLS\r\n",
            CAPA,
            b"+OK\r\n",
            b"+OK\r\n",
        ]),
    );
    add(
        "stls-refused",
        4,
        &[
            b"+OK POP3 server ready.\r\n",
            CAPA,
            b"-ERR STARTTLS not supported.\r\n",
            b"+OK bye\r\n",
        ],
    );
    add(
        "capa-refused",
        4,
        &[
            b"+OK curl POP3 server ready to serve \r\n",
            b"-ERR Not implemented\r\n",
            b"-ERR no\r\n",
        ],
    );
    add(
        "stls-injection",
        0,
        &[
            GREETING,
            CAPA_STLS,
            b"+OK Begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n",
        ],
    );
    add(
        "stls-late-injection",
        8,
        &[
            GREETING,
            CAPA_STLS,
            b"+OK Begin TLS\r\n",
            b"+OK\r\nSASL PLAIN\r\n.\r\n",
        ],
    );
    add(
        "stls-pipelined-answers",
        4,
        &[
            GREETING,
            CAPA_STLS,
            b"-ERR currently unavailable\r\n+OK user accepted\r\n+OK authenticated\r\n",
        ],
    );
    seeds
}

fn listings() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |name: &str, config: [u8; 4], listings: &[Listing]| {
        let mut w = w();
        ConfigSpec(config).encode(&mut w);
        for l in listings {
            l.encode(&mut w);
        }
        seeds.push(("listings", name.to_owned(), w.finish()));
    };
    add(
        "typical",
        [0, 6, 0, 0],
        &[
            Listing::Capa(vec![
                b"TOP".to_vec(),
                b"SASL PLAIN SCRAM-SHA-256".to_vec(),
                b"LOGIN-DELAY 15 USER".to_vec(),
                b"EXPIRE NEVER".to_vec(),
                b".HIDDEN".to_vec(),
                b"".to_vec(),
            ]),
            Listing::Stat(2, 320),
            Listing::List(vec![(1, 120), (2, 4_294_967_400)]),
            Listing::Uidl(vec![
                (1, b"whqtswO00WBw418f9t5JxYwZ".to_vec()),
                (2, b".dot".to_vec()),
            ]),
            Listing::ListOne(1, 120),
            Listing::UidlOne(2, b"QhdPYR:00WBw1Ph7x7  ".to_vec()),
        ],
    );
    add(
        "hostile",
        [0, 6, 0, 0],
        &[
            Listing::Raw(0, false, b"+OK\r\n-1 100\r\n.\r\n".to_vec()),
            Listing::Raw(1, false, b"+OK\r\n1 \r\n1 ../../x\r\n.\r\n".to_vec()),
            Listing::Raw(3, false, b"+OK 99999999999999999999 1\r\n".to_vec()),
            Listing::Raw(2, true, vec![0, 2, 19, 4, 17, 2, 3, 2]),
            Listing::Raw(6, false, b"+OK\r\nen English\r\n..dot\r\n.\r\n".to_vec()),
        ],
    );
    add(
        "zero-message",
        [0, 6, 0, 0],
        &[Listing::List(vec![(1, 1), (0, 100)])],
    );
    add(
        "long-uid",
        [0, 6, 0, 0],
        &[Listing::Uidl(vec![
            (3, vec![b'x'; 70]),
            (4, vec![b'y'; 71]),
        ])],
    );
    seeds
}

fn sasl() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |name: String, kind: u8, flags: u8, moves: &[Move]| {
        let mut w = w();
        MechSpec { kind, custom: None }.encode(&mut w);
        w.byte(flags).byte(8).byte(63);
        for m in moves {
            m.encode(&mut w);
        }
        seeds.push(("sasl", name, w.finish()));
    };
    for (kind, name) in MechSpec::NAMES.iter().enumerate() {
        let honest = vec![Move::Honest; 6];
        add(format!("honest-{name}"), kind as u8, 0, &honest);
        add(format!("honest-two-step-{name}"), kind as u8, 1, &honest);
    }
    add("scram-plus".into(), 4 | 8, 0, &vec![Move::Honest; 4]);
    add(
        "scram-ok-without-signature".into(),
        4,
        0,
        &[Move::Honest, Move::Ok],
    );
    add(
        "scram-forged-signature".into(),
        3,
        0,
        &[Move::Honest, Move::Corrupt(5, 1), Move::Ok],
    );
    add(
        "oauthbearer-failure".into(),
        6,
        0,
        &[
            Move::Challenge(br#"{"status":"invalid_token","scope":"mail"}"#.to_vec()),
            Move::Err,
        ],
    );
    add(
        "cram-rubbish".into(),
        2,
        0,
        &[Move::Raw(b"+ Rubbish\r\n".to_vec()), Move::Err],
    );
    add("endless".into(), 0, 1, &vec![Move::Empty; 12]);
    seeds
}

fn apop_timestamp() -> Vec<Seed> {
    let greetings: [(&str, &[u8]); 8] = [
        (
            "rfc1939",
            b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
        ),
        ("no-at", b"E.Novation POP3 server ready <a.b.c>"),
        ("skip-non-ascii", b"hi <\xfc@x> <1@a.b>"),
        ("second-bracket", b"hi <1@a.b> (see <http://x>)"),
        ("space", b"hi <a b@c>"),
        ("short", b"<@>"),
        ("control", b"<\x01@a>"),
        ("nested", b"<<<a@b>"),
    ];
    let mut seeds: Vec<Seed> = greetings
        .iter()
        .map(|(name, g)| {
            (
                "apop_timestamp",
                (*name).to_owned(),
                [&[0u8, 0][..], g].concat(),
            )
        })
        .collect();
    let mut many_ats = vec![2u8, 2, b'+', b'O', b'K', b' ', b'<'];
    many_ats.extend(std::iter::repeat_n(b'@', 60_000));
    seeds.push(("apop_timestamp", "many-ats".into(), many_ats));
    let mut many_opens = vec![0u8, 2];
    many_opens.extend(std::iter::repeat_n(b'<', 60_000));
    many_opens.extend_from_slice(b"a@b>");
    seeds.push(("apop_timestamp", "many-opens".into(), many_opens));
    seeds.push((
        "apop_timestamp",
        "alphabet".into(),
        vec![1, 0, 0, 3, 2, 4, 8, 1],
    ));
    seeds.push((
        "apop_timestamp",
        "err-greeting".into(),
        [&[2u8, 0][..], b"-ERR <1@a.b>\r\n"].concat(),
    ));
    seeds
}

fn command_encode() -> Vec<Seed> {
    use CmdSpec::*;
    let mut seeds = Vec::new();
    let mut add = |name: &str, flags: u8, commands: &[CmdSpec]| {
        let mut w = w();
        w.byte(flags);
        for c in commands {
            c.encode(&mut w);
        }
        seeds.push(("command_encode", name.to_owned(), w.finish()));
    };
    add(
        "authorization",
        0,
        &[
            Capa,
            User("user\rFRIGGING_cmd".into()),
            User("a".repeat(248)),
            User("a".repeat(249)),
            Pass("pw\nDELE 1".into()),
            Pass("pass with spaces".into()),
            Apop("mrose".into(), "tanstaaf".into()),
            Apop("m rose".into(), "x".into()),
            Lang(Some("en".into())),
            Lang(Some("e n".into())),
            Utf8,
            Raw("XTND XLST".into(), true),
            Raw("user x".into(), false),
            Stls,
            Quit,
        ],
    );
    add(
        "transaction",
        1,
        &[
            Stat,
            List(None),
            List(Some(u64::MAX)),
            Retr(1),
            Dele(4_294_967_296),
            Noop,
            Rset,
            Top(1, 0),
            Uidl(Some(7)),
            Raw("X".repeat(253), false),
            Raw("X".repeat(254), false),
            Quit,
        ],
    );
    let long = MechSpec {
        kind: 0,
        custom: Some(("u".repeat(100), "p".repeat(120), String::new())),
    };
    add(
        "auth-long-ir",
        2,
        &[
            Auth(long),
            Auth(MechSpec {
                kind: 4,
                custom: None,
            }),
        ],
    );
    add(
        "auth-all",
        4,
        &(0..8u8)
            .map(|k| {
                Auth(MechSpec {
                    kind: k,
                    custom: None,
                })
            })
            .collect::<Vec<_>>(),
    );
    seeds
}

/// Inputs that reproduce findings not fixed yet (written to `regressions/<target>/open-<name>`).
pub fn open_findings() -> Vec<Seed> {
    let mut listing = w();
    ConfigSpec([0, 6, 0, 0]).encode(&mut listing);
    Listing::BareLfDot(vec![(1, 120)]).encode(&mut listing);
    let login = CmdSpec::Auth(MechSpec {
        kind: 1,
        custom: None,
    });
    vec![
        (
            "client_input",
            "sasl-cancel-after-parse".into(),
            ops(
                [ConfigSpec::TLS, 6, 0, 0],
                1,
                &[
                    send(login),
                    feed(b"+ VXNlcm5hbWU6\r\n"),
                    feed(b"+ UGFzc3dvcmQ6\r\n"),
                    feed(b"+ \r\n-ERR AUTH exchange cancelled\r\n"),
                ],
            ),
        ),
        ("listings", "listing-bare-lf-dot".into(), listing.finish()),
    ]
}

/// Inputs of findings that have been fixed in pop3-proto (written to `regressions/<target>/fixed-<name>`); they
/// must pass.
pub fn fixed_findings() -> Vec<Seed> {
    let mut raw = w();
    raw.byte(0);
    CmdSpec::Raw(" PASS hunter2".into(), false).encode(&mut raw);
    vec![
        (
            "client_input",
            "eof-starttls".into(),
            ops([0, 6, 0, 0], 5, &[Op::Eof]),
        ),
        ("command_encode", "raw-leading-space".into(), raw.finish()),
    ]
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    [
        client_input(),
        chunking(),
        dot_roundtrip(),
        scripted_session(),
        listings(),
        sasl(),
        apop_timestamp(),
        command_encode(),
    ]
    .concat()
}
