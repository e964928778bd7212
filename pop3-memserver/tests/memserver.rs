//! MemServer against a raw socket client.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use common::{Client, connect};
use md5::{Digest, Md5};
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

fn config() -> ServerConfig {
    ServerConfig::default().with_user("demo", "demo")
}

fn server(mailbox: Mailbox) -> MemServer {
    MemServer::start(config(), mailbox).unwrap()
}

#[test]
fn basic_session() {
    let mailbox = Mailbox::sample();
    let srv = server(mailbox.clone());
    let mut c = connect(srv.addr());
    let greeting = c.line();
    assert!(greeting.starts_with("+OK "), "{greeting}");
    assert!(greeting.ends_with("@memserver>"), "{greeting}");

    assert_eq!(c.cmd("STAT"), "-ERR command not valid in this state");
    c.login("demo", "demo");
    let total = mailbox.total_size();
    assert_eq!(c.cmd("STAT"), format!("+OK 5 {total}"));

    assert!(c.cmd("LIST").starts_with("+OK 5 messages"));
    let lines = c.body_lines();
    assert_eq!(lines.len(), 5);
    for (i, (line, m)) in lines.iter().zip(mailbox.messages()).enumerate() {
        assert_eq!(*line, format!("{} {}", i + 1, m.len()));
    }
    assert_eq!(
        c.cmd("LIST 2"),
        format!("+OK 2 {}", mailbox.messages()[1].len())
    );
    assert_eq!(c.cmd("LIST 6"), "-ERR no such message");
    assert_eq!(c.cmd("LIST 0"), "-ERR no such message");
    assert_eq!(c.cmd("LIST x"), "-ERR invalid message number");

    assert!(c.cmd("UIDL").starts_with("+OK"));
    let uids = c.body_lines();
    for (i, (line, m)) in uids.iter().zip(mailbox.messages()).enumerate() {
        assert_eq!(*line, format!("{} {}", i + 1, m.uid()));
    }
    assert_eq!(c.cmd("UIDL 3"), "+OK 3 sample-3");

    // RETR: byte-exact after un-stuffing, including the dot lines and 8-bit.
    for (i, m) in mailbox.messages().iter().enumerate() {
        assert_eq!(
            c.cmd(&format!("RETR {}", i + 1)),
            format!("+OK {} octets", m.len())
        );
        assert_eq!(c.body(), m.data(), "message {}", i + 1);
    }

    // TOP 3 2: headers, blank line, two body lines.
    assert!(c.cmd("TOP 3 2").starts_with("+OK"));
    let top = c.body();
    let data = mailbox.messages()[2].data();
    let hdr_end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut expected = data[..hdr_end].to_vec();
    let mut body_lines = data[hdr_end..].split_inclusive(|&b| b == b'\n');
    expected.extend_from_slice(body_lines.next().unwrap());
    expected.extend_from_slice(body_lines.next().unwrap());
    assert_eq!(top, expected);
    assert!(c.cmd("TOP 1 0").starts_with("+OK"));
    assert!(c.body().ends_with(b"\r\n\r\n"));
    assert!(c.cmd("TOP 1 1000").starts_with("+OK"));
    assert_eq!(c.body(), mailbox.messages()[0].data());
    assert!(c.cmd("TOP 1").starts_with("-ERR"));

    assert_eq!(c.cmd("NOOP"), "+OK");
    assert_eq!(c.cmd("XYZZY"), "-ERR unknown command");
    assert!(c.cmd("UTF8").starts_with("-ERR"));
    assert!(c.cmd("LANG").starts_with("-ERR"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let mut rest = Vec::new();
    c.into_inner().read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let stats = srv.stats();
    assert_eq!(stats.sessions, 1);
    assert!(stats.commands >= 20);
    assert!(stats.body_bytes as usize > total);
}

#[test]
fn dele_quit_persists_and_rset_undoes() {
    let mailbox = Mailbox::generated(5, 2000, 5, 3);
    let srv = server(mailbox.clone());

    // Session 1: delete 2 and 4, RSET, delete 3, drop without QUIT: nothing.
    let mut c = connect(srv.addr());
    c.line();
    c.login("demo", "demo");
    assert_eq!(c.cmd("DELE 2"), "+OK message 2 deleted");
    assert_eq!(c.cmd("DELE 2"), "-ERR message already deleted");
    assert_eq!(c.cmd("RETR 2"), "-ERR message already deleted");
    assert_eq!(c.cmd("LIST 2"), "-ERR message already deleted");
    assert!(c.cmd("DELE 4").starts_with("+OK"));
    assert_eq!(c.cmd("STAT"), format!("+OK 3 {}", 3 * 2000));
    assert!(c.cmd("LIST").starts_with("+OK 3 messages"));
    assert_eq!(c.body_lines(), ["1 2000", "3 2000", "5 2000"]);
    assert!(c.cmd("RSET").starts_with("+OK"));
    assert_eq!(c.cmd("STAT"), format!("+OK 5 {}", 5 * 2000));
    assert!(c.cmd("DELE 3").starts_with("+OK"));
    drop(c);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(srv.mailbox().len(), 5);

    // Session 2: delete 1 and 5, QUIT: applied.
    let mut c = connect(srv.addr());
    c.line();
    c.login("demo", "demo");
    assert!(c.cmd("DELE 1").starts_with("+OK"));
    assert!(c.cmd("DELE 5").starts_with("+OK"));
    assert_eq!(c.cmd("QUIT"), "+OK memserver signing off (3 messages left)");

    // Session 3 sees messages 2, 3, 4 renumbered 1..3, with their UIDs.
    let mut c = connect(srv.addr());
    c.line();
    c.login("demo", "demo");
    assert_eq!(c.cmd("STAT"), format!("+OK 3 {}", 3 * 2000));
    assert!(c.cmd("UIDL").starts_with("+OK"));
    let uids: Vec<String> = mailbox.messages()[1..4]
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}", i + 1, m.uid()))
        .collect();
    assert_eq!(c.body_lines(), uids);
    assert!(c.cmd("RETR 1").starts_with("+OK"));
    assert_eq!(c.body(), mailbox.messages()[1].data());
    assert_eq!(srv.mailbox().messages(), &mailbox.messages()[1..4]);
}

#[test]
fn concurrent_sessions_same_user() {
    let srv = server(Mailbox::generated(4, 500, 0, 1));
    let mut a = connect(srv.addr());
    let mut b = connect(srv.addr());
    a.line();
    b.line();
    a.login("demo", "demo");
    b.login("demo", "demo");
    assert!(a.cmd("DELE 1").starts_with("+OK"));
    assert!(b.cmd("DELE 2").starts_with("+OK"));
    assert!(a.cmd("QUIT").starts_with("+OK"));
    // b's snapshot is unaffected by a's update.
    assert!(b.cmd("STAT").starts_with("+OK 3 "));
    assert!(b.cmd("QUIT").starts_with("+OK"));
    assert_eq!(srv.mailbox().len(), 2);
}

#[test]
fn auth_errors_and_mechanisms() {
    let srv = server(Mailbox::sample());
    let mut c = connect(srv.addr());
    let greeting = c.line();
    let ts = &greeting[greeting.find('<').unwrap()..];

    assert!(c.cmd("CAPA").starts_with("+OK"));
    let caps = c.body_lines();
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "RESP-CODES",
        "PIPELINING",
        "AUTH-RESP-CODE",
        "SASL PLAIN",
    ] {
        assert!(caps.iter().any(|c| c == cap), "{cap} missing from {caps:?}");
    }
    assert!(caps.iter().any(|c| c.starts_with("IMPLEMENTATION ")));
    assert!(!caps.iter().any(|c| c == "STLS"));

    assert_eq!(c.cmd("PASS demo"), "-ERR USER first");
    assert!(c.cmd("USER demo").starts_with("+OK"));
    assert_eq!(c.cmd("PASS wrong"), "-ERR [AUTH] invalid credentials");
    assert!(c.cmd("USER nobody").starts_with("+OK"));
    assert_eq!(c.cmd("PASS demo"), "-ERR [AUTH] invalid credentials");
    assert_eq!(
        c.cmd("APOP demo 0123456789abcdef0123456789abcdef"),
        "-ERR [AUTH] invalid credentials"
    );
    let plain = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain(b"\0demo\0nope"))),
        "-ERR [AUTH] invalid credentials"
    );
    assert_eq!(
        c.cmd("AUTH PLAIN !!!"),
        "-ERR invalid base64 in SASL response"
    );
    assert_eq!(
        c.cmd("AUTH CRAM-MD5"),
        "-ERR unsupported authentication mechanism"
    );
    assert_eq!(c.cmd("AUTH PLAIN"), "+ ");
    assert_eq!(c.cmd("*"), "-ERR authentication cancelled");
    assert_eq!(c.cmd("AUTH PLAIN"), "+ ");
    assert!(
        c.cmd(&plain(b"demo\0demo\0demo"))
            .starts_with("+OK maildrop has 5")
    );
    assert_eq!(c.cmd("USER demo"), "-ERR command not valid in this state");
    drop(c);

    // APOP with the digest of the greeting's timestamp.
    let mut c = connect(srv.addr());
    let greeting = c.line();
    let ts2 = &greeting[greeting.find('<').unwrap()..];
    assert_ne!(ts, ts2, "timestamps must be unique");
    let digest: String = Md5::digest(format!("{ts2}demo").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(c.cmd(&format!("APOP demo {digest}")).starts_with("+OK"));
    drop(c);

    // AUTH PLAIN with an initial response.
    let mut c = connect(srv.addr());
    c.line();
    assert!(
        c.cmd(&format!("auth plain {}", plain(b"\0demo\0demo")))
            .starts_with("+OK")
    );
}

#[test]
fn toggles_disable_commands() {
    let mut cfg = config();
    cfg.uidl = false;
    cfg.top = false;
    cfg.apop = false;
    cfg.user_pass = false;
    cfg.pipelining = false;
    let srv = MemServer::start(cfg, Mailbox::sample()).unwrap();
    let mut c = connect(srv.addr());
    assert!(!c.line().contains('<'));
    assert!(c.cmd("CAPA").starts_with("+OK"));
    let caps = c.body_lines();
    for cap in ["TOP", "UIDL", "USER", "PIPELINING"] {
        assert!(!caps.iter().any(|c| c == cap), "{cap} in {caps:?}");
    }
    assert!(c.cmd("USER demo").starts_with("-ERR"));
    assert!(c.cmd("APOP demo 0123").starts_with("-ERR"));
    let plain = base64::engine::general_purpose::STANDARD.encode(b"\0demo\0demo");
    assert!(c.cmd(&format!("AUTH PLAIN {plain}")).starts_with("+OK"));
    assert_eq!(c.cmd("UIDL"), "-ERR unknown command");
    assert_eq!(c.cmd("TOP 1 1"), "-ERR unknown command");
    // Pipelined commands are still answered, one flush each.
    c.send(b"NOOP\r\nSTAT\r\nNOOP\r\n");
    assert_eq!(c.line(), "+OK");
    assert!(c.line().starts_with("+OK 5 "));
    assert_eq!(c.line(), "+OK");
}

#[test]
fn pipelined_commands_in_one_write() {
    let mailbox = Mailbox::generated(20, 3000, 10, 9);
    let srv = server(mailbox.clone());
    let mut c = connect(srv.addr());
    c.line();
    let mut batch = b"USER demo\r\nPASS demo\r\nSTAT\r\n".to_vec();
    for i in 1..=20 {
        batch.extend_from_slice(format!("RETR {i}\r\n").as_bytes());
    }
    batch.extend_from_slice(b"LIST 3\r\nDELE 1\r\nUIDL 20\r\nQUIT\r\n");
    c.send(&batch);
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK maildrop has 20"));
    assert_eq!(c.line(), "+OK 20 60000");
    for m in mailbox.messages() {
        assert_eq!(c.line(), "+OK 3000 octets");
        assert_eq!(c.body(), m.data());
    }
    assert_eq!(c.line(), "+OK 3 3000");
    assert!(c.line().starts_with("+OK"));
    assert_eq!(c.line(), format!("+OK 20 {}", mailbox.messages()[19].uid()));
    assert!(c.line().starts_with("+OK memserver signing off (19"));
}

#[test]
fn lf_only_mode() {
    let mut cfg = config();
    cfg.lf_only = true;
    let mailbox = Mailbox::sample();
    let srv = MemServer::start(cfg, mailbox.clone()).unwrap();
    let sock = TcpStream::connect(srv.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut w = sock.try_clone().unwrap();
    let mut r = BufReader::new(sock);
    w.write_all(b"USER demo\nPASS demo\nRETR 3\nQUIT\n")
        .unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert!(!all.contains(&b'\r'));
    let msg = mailbox.messages()[2].data();
    let lf: Vec<u8> = String::from_utf8_lossy(msg)
        .replace("\r\n", "\n")
        .into_bytes();
    let text = String::from_utf8(all).unwrap();
    assert!(
        text.contains(&format!("+OK {} octets\n", lf.len())),
        "{text}"
    );
    assert!(text.contains("\n..hidden files"));
    assert!(text.contains("\n..\nThe line above"));
    let start = text.find("octets\n").unwrap() + "octets\n".len();
    let mut body = String::new();
    for line in text[start..].split_inclusive('\n') {
        if line == ".\n" {
            break;
        }
        body.push_str(line.strip_prefix('.').unwrap_or(line));
    }
    assert_eq!(body.as_bytes(), lf);
    drop(r);
}

#[test]
fn long_line_rejected() {
    let srv = server(Mailbox::new());
    let mut c = connect(srv.addr());
    c.line();
    c.send(&vec![b'A'; 20_000]);
    assert_eq!(c.line(), "-ERR line too long");
}

#[test]
fn drop_closes_sessions() {
    let srv = server(Mailbox::sample());
    let mut c = connect(srv.addr());
    c.line();
    let addr = srv.addr();
    drop(srv);
    let mut rest = Vec::new();
    let mut s = c.into_inner();
    s.read_to_end(&mut rest).unwrap();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[test]
fn many_concurrent_sessions() {
    let srv = server(Mailbox::generated(3, 1000, 5, 2));
    let clients: Vec<Client<TcpStream>> = (0..300)
        .map(|_| {
            let mut c = connect(srv.addr());
            c.line();
            c
        })
        .collect();
    for mut c in clients {
        c.login("demo", "demo");
        assert!(c.cmd("RETR 2").starts_with("+OK 1000"));
        assert_eq!(c.body().len(), 1000);
    }
    assert_eq!(srv.stats().sessions, 300);
}
