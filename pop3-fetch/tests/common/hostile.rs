//! A small POP3 server for misbehaviour no real server shows on purpose: it runs on a [`ScriptedServer`]'s
//! `Serve` step, keeps its mailbox across connections (so a fetcher can be run against it again and again),
//! and sends each message's RETR answer exactly as the test wrote it — dot-stuffed or not, cut off, or
//! another size than LIST says.

use std::sync::{Arc, Mutex};

use pop3_memserver::{Answer, LineHandler, Script, ScriptedServer};

/// Message 1 of the log server: a lone `.` line in its body, which a broken server does not dot-stuff.
pub const LOG: &[u8] = b"Subject: log\r\n\r\nstart of log\r\n.\r\n+OK 2 messages\r\nend of log\r\n";
/// What a client that trusts the framing takes for message 1.
pub const LOG_TRUNCATED: &[u8] = b"Subject: log\r\n\r\nstart of log\r\n";
/// Message 2 of the log server.
pub const SECOND: &[u8] = b"Subject: second\r\n\r\nthe real message 2\r\n";
/// Message 3 of the log server.
pub const THIRD: &[u8] = b"Subject: third\r\n\r\nmessage 3\r\n";

/// A pipelining server whose message 1 (UID u1) is [`LOG`], sent without dot-stuffing, followed by [`SECOND`]
/// (u2) and [`THIRD`] (u3).
pub fn log_server() -> Hostile {
    Hostile::start(
        vec![
            Msg::unstuffed("u1", LOG),
            Msg::exact("u2", SECOND),
            Msg::exact("u3", THIRD),
        ],
        Offers::default(),
    )
}

/// One message of a [`Hostile`] server.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Its UIDL, if the server gives one.
    pub uid: Option<String>,
    /// The size LIST gives.
    pub listed: u64,
    /// What RETR sends between `+OK` and the final `.` line, as is (no dot-stuffing added).
    pub wire: Vec<u8>,
    /// What RETR sends instead when the client has not said UTF8 (a downgrading server), if anything else.
    pub without_utf8: Option<Vec<u8>>,
    /// Close the connection half-way through this message's RETR answer, this many more times.
    pub cut: u32,
    /// Deleted by a QUIT.
    pub gone: bool,
}

impl Msg {
    /// A well-behaved message: LIST gives its size, RETR sends it dot-stuffed.
    pub fn exact(uid: &str, data: &[u8]) -> Self {
        Self {
            uid: Some(uid.to_owned()),
            listed: data.len() as u64,
            wire: stuff(data),
            without_utf8: None,
            cut: 0,
            gone: false,
        }
    }

    /// A message the server sends without dot-stuffing (a lone `.` line then ends it early).
    pub fn unstuffed(uid: &str, data: &[u8]) -> Self {
        Self {
            wire: data.to_vec(),
            ..Self::exact(uid, data)
        }
    }
}

/// What a [`Hostile`] server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offers {
    /// `PIPELINING` in CAPA.
    pub pipelining: bool,
    /// UIDL answered.
    pub uidl: bool,
    /// `UTF8` in CAPA and the command accepted.
    pub utf8: bool,
}

impl Default for Offers {
    fn default() -> Self {
        Self {
            pipelining: true,
            uidl: true,
            utf8: false,
        }
    }
}

/// The server: user `demo`, password `demo`, USER/PASS in clear.
pub struct Hostile {
    pub server: ScriptedServer,
    pub mailbox: Arc<Mutex<Vec<Msg>>>,
}

impl Hostile {
    pub fn start(messages: Vec<Msg>, offers: Offers) -> Self {
        Self::start_with_capa(messages, offers, &[])
    }

    /// With extra CAPA lines.
    pub fn start_with_capa(messages: Vec<Msg>, offers: Offers, extra_capa: &[&str]) -> Self {
        let mailbox = Arc::new(Mutex::new(messages));
        let shared = Arc::clone(&mailbox);
        let extra: Vec<String> = extra_capa.iter().map(|s| (*s).to_owned()).collect();
        let server = ScriptedServer::start(
            Script::new()
                .server("+OK hostile POP3 server ready\r\n")
                .serve(move || session(Arc::clone(&shared), offers, extra.clone())),
        )
        .unwrap();
        Self { server, mailbox }
    }

    /// `pop://demo@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("pop://demo@127.0.0.1:{}", self.server.addr().port())
    }

    /// Every command line each connection sent, in order.
    pub fn commands(&self) -> Vec<Vec<String>> {
        self.server
            .transcripts()
            .iter()
            .map(|t| {
                String::from_utf8_lossy(t)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    /// UIDs still on the server.
    pub fn remaining(&self) -> Vec<String> {
        self.mailbox
            .lock()
            .unwrap()
            .iter()
            .filter(|m| !m.gone)
            .map(|m| m.uid.clone().unwrap_or_default())
            .collect()
    }
}

/// Dot-stuffs a message the way RFC 1939 asks (for CRLF messages).
pub fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn session(mailbox: Arc<Mutex<Vec<Msg>>>, offers: Offers, extra: Vec<String>) -> LineHandler {
    // Message numbers are fixed when the session starts.
    let visible: Vec<usize> = mailbox
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.gone)
        .map(|(i, _)| i)
        .collect();
    let mut deleted = vec![false; visible.len()];
    let mut logged_in = false;
    let mut utf8 = false;
    Box::new(move |line: &[u8]| {
        let line = String::from_utf8_lossy(line).into_owned();
        let mut words = line.split(' ');
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        let arg: Option<usize> = words.next().and_then(|w| w.parse().ok());
        let index = arg.filter(|&n| n >= 1 && n <= visible.len() && !deleted[n - 1]);
        let ok = |text: &str| Answer::Send(format!("+OK {text}\r\n").into_bytes());
        let err = |text: &str| Answer::Send(format!("-ERR {text}\r\n").into_bytes());
        let mut mailbox = mailbox.lock().unwrap();
        match verb.as_str() {
            "CAPA" => {
                let mut text = String::from("+OK\r\nUSER\r\nTOP\r\n");
                if offers.uidl {
                    text.push_str("UIDL\r\n");
                }
                if offers.pipelining {
                    text.push_str("PIPELINING\r\n");
                }
                if offers.utf8 {
                    text.push_str("UTF8\r\n");
                }
                for line in &extra {
                    text.push_str(line);
                    text.push_str("\r\n");
                }
                text.push_str(".\r\n");
                Answer::Send(text.into_bytes())
            }
            "UTF8" if offers.utf8 && !logged_in => {
                utf8 = true;
                ok("UTF8 enabled")
            }
            "USER" => ok("send PASS"),
            "PASS" if line == "PASS demo" => {
                logged_in = true;
                ok("logged in")
            }
            "PASS" => err("[AUTH] wrong password"),
            "QUIT" => {
                if logged_in {
                    for (i, &d) in deleted.iter().enumerate() {
                        if d {
                            mailbox[visible[i]].gone = true;
                        }
                    }
                }
                Answer::SendThenClose(b"+OK bye\r\n".to_vec())
            }
            _ if !logged_in => err("log in first"),
            "NOOP" | "RSET" => ok(""),
            "LIST" | "UIDL" if arg.is_none() => {
                if verb == "UIDL" && !offers.uidl {
                    return err("no UIDL here");
                }
                let mut text = String::from("+OK\r\n");
                for (i, &at) in visible.iter().enumerate() {
                    if deleted[i] {
                        continue;
                    }
                    let m = &mailbox[at];
                    if verb == "LIST" {
                        text.push_str(&format!("{} {}\r\n", i + 1, m.listed));
                    } else if let Some(uid) = &m.uid {
                        text.push_str(&format!("{} {uid}\r\n", i + 1));
                    }
                }
                text.push_str(".\r\n");
                Answer::Send(text.into_bytes())
            }
            "RETR" | "TOP" => {
                let Some(n) = index else {
                    return err("no such message");
                };
                let m = &mut mailbox[visible[n - 1]];
                let wire = match (&m.without_utf8, utf8) {
                    (Some(other), false) => other.clone(),
                    _ => m.wire.clone(),
                };
                let body = if verb == "TOP" {
                    let end = wire
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(wire.len(), |p| p + 4);
                    wire[..end].to_vec()
                } else {
                    wire
                };
                let mut answer = b"+OK\r\n".to_vec();
                if verb == "RETR" && m.cut > 0 {
                    m.cut -= 1;
                    answer.extend_from_slice(&body[..body.len() / 2]);
                    return Answer::SendThenClose(answer);
                }
                answer.extend_from_slice(&body);
                answer.extend_from_slice(b".\r\n");
                Answer::Send(answer)
            }
            "DELE" => match index {
                Some(n) => {
                    deleted[n - 1] = true;
                    ok("deleted")
                }
                None => err("no such message"),
            },
            _ => err("unknown command"),
        }
    })
}
