//! A complete non-blocking POP3 fetch on mio, driving `pop3_proto::Client` directly: CAPA, USER/PASS, STAT,
//! every message by pipelined RETRs, QUIT.
//!
//! The loop keeps no buffer of its own: unwritten command bytes stay in the client (a `Transmit` is offered again
//! until consumed) and the socket is read straight into the client's input buffer. One inactivity timer covers
//! both directions, as the crate documentation's "Deadlines" section prescribes.
//!
//! ```text
//! cargo run -p pop3-proto --example mio -- 127.0.0.1:110 user password
//! ```
//!
//! Plain TCP only, to stay short; a TLS layer would sit between the socket and the same calls.

use std::io::{self, Read as _};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use pop3_proto::{Client, Command, CommandId, Config, Event, MsgNum, Output, OwnedEvent};

/// What a fetch did: how much, when, and how often the socket refused output (for tests and benchmarks).
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// Messages fetched.
    pub(crate) messages: usize,
    /// Body octets delivered, dot-unstuffed.
    pub(crate) octets: u64,
    /// When the first RETR's first byte was handed to the socket, and when the last RETR finished: the fetch
    /// time, told by `Transmit::commands` and the finishing event.
    pub(crate) retr_started: Option<Instant>,
    pub(crate) retr_finished: Option<Instant>,
    /// Writes that took only part of the pending output.
    pub(crate) partial_writes: usize,
    /// Writes refused outright (`WouldBlock`).
    pub(crate) blocked_writes: usize,
}

/// Where the session's own commands stand.
#[derive(Default)]
struct Progress {
    pass: Option<CommandId>,
    /// The RETR commands' ids: message `n` is fetched by `first_retr + n - 1`.
    first_retr: Option<CommandId>,
    last_retr: Option<CommandId>,
    fetched: Fetched,
}

const SERVER: Token = Token(0);

/// Fetches every message over `socket` (connected, non-blocking), handing each piece of message `i` (from 0) to
/// `on_body(i, piece)`. `timeout` bounds silence: no byte read or written for that long while the server owes an
/// answer or output is pending.
pub(crate) fn fetch(
    mut socket: TcpStream,
    user: &str,
    password: &str,
    config: Config,
    timeout: Duration,
    mut on_body: impl FnMut(usize, &[u8]),
) -> io::Result<Fetched> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(8);
    let mut interest = Interest::READABLE;
    poll.registry().register(&mut socket, SERVER, interest)?;

    let mut client = Client::new(config);
    let mut progress = Progress::default();
    client.send(Command::Capa).map_err(protocol)?;
    client.send(Command::User(user)).map_err(protocol)?;
    progress.pass = Some(client.send(Command::Pass(password)).map_err(protocol)?);

    let mut readable = true; // mio is edge-triggered: read until WouldBlock after each readiness event.
    let mut last_progress = Instant::now();
    loop {
        // Drive the client until it rests or the socket stops taking output.
        loop {
            match client.poll().map_err(protocol)? {
                Output::Transmit(transmit) => {
                    if progress.fetched.retr_started.is_none()
                        && transmit
                            .commands()
                            .any(|id| Some(id) == progress.first_retr)
                    {
                        progress.fetched.retr_started = Some(Instant::now());
                    }
                    match client.write_output(&mut socket) {
                        Ok(n) => {
                            last_progress = Instant::now();
                            if client.wants_write() {
                                progress.fetched.partial_writes += usize::from(n > 0);
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            progress.fetched.blocked_writes += 1;
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                // Bodies are the bulk: stored straight from the client's buffer. Other events are few and small;
                // their owned form lets the handler send commands.
                Output::Event(Event::Body { id, chunk }) => {
                    let first = progress.first_retr.map_or(0, CommandId::get);
                    let index = usize::try_from(id.get() - first).map_err(protocol)?;
                    progress.fetched.octets += chunk.len() as u64;
                    on_body(index, chunk);
                }
                Output::Event(event) => {
                    let event = event.into_owned();
                    on_event(&mut client, event, &mut progress)?;
                }
                Output::NeedInput | Output::Idle => break,
                Output::StartTls => unreachable!("this example does not send STLS"),
                Output::Closed => return Ok(progress.fetched),
            }
        }

        // Read once, then drive again: the client consumes what it parsed before the next read.
        if readable {
            match socket.read(client.input_buffer()) {
                Ok(0) => client.handle_eof(),
                Ok(n) => {
                    client.commit_input(n);
                    last_progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            continue;
        }

        // Wait for readiness. Read interest always (an idle server may close); write interest while output waits.
        let wanted = if client.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if wanted != interest {
            interest = wanted;
            poll.registry().reregister(&mut socket, SERVER, interest)?;
        }
        let timed = client.wants_write() || client.awaiting_response();
        let left = timeout.saturating_sub(last_progress.elapsed());
        if timed && left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server went silent",
            ));
        }
        poll.poll(&mut events, timed.then_some(left))?;
        readable |= events.iter().any(|e| e.is_readable() || e.is_read_closed());
    }
}

/// The session's logic: STAT once logged in, RETR every message it counts, then QUIT.
fn on_event(client: &mut Client, event: OwnedEvent, progress: &mut Progress) -> io::Result<()> {
    match event {
        OwnedEvent::Done { id } if Some(id) == progress.pass => {
            client.send(Command::Stat).map_err(protocol)?;
        }
        OwnedEvent::Stat { count, .. } => {
            for n in 1..=count {
                let id = client.send(Command::Retr(msg(n)?)).map_err(protocol)?;
                progress.first_retr.get_or_insert(id);
                progress.last_retr = Some(id);
            }
            client.send(Command::Quit).map_err(protocol)?;
        }
        OwnedEvent::Done { id }
            if progress.first_retr <= Some(id) && Some(id) <= progress.last_retr =>
        {
            progress.fetched.messages += 1;
            if Some(id) == progress.last_retr {
                progress.fetched.retr_finished = Some(Instant::now());
            }
        }
        OwnedEvent::Err { reply, .. } => {
            return Err(io::Error::other(format!("server refused: {reply}")));
        }
        OwnedEvent::Invalid { error, .. } => return Err(protocol(error)),
        _ => {}
    }
    Ok(())
}

fn msg(n: u64) -> io::Result<MsgNum> {
    MsgNum::new(n).map_err(protocol)
}

fn protocol(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

#[allow(dead_code)] // Tests include this file for `fetch`.
fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, user, password] = &args[..] else {
        eprintln!("usage: mio HOST:PORT USER PASSWORD");
        std::process::exit(2);
    };
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_nonblocking(true)?;
    let mut config = Config::default();
    config.allow_plaintext_credentials = true; // the example speaks plain TCP
    let stream = TcpStream::from_std(stream);
    let fetched = fetch(
        stream,
        user,
        password,
        config,
        Duration::from_secs(30),
        |_, _| {},
    )?;
    println!("{} messages, {} octets", fetched.messages, fetched.octets);
    Ok(())
}
