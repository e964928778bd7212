//! The session: one connection, the protocol core, and the poplib-style methods.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use pop3_proto::{
    Capabilities, Client, Command, CommandId, Event, Mechanism, MsgNum, Output, SendError,
};

use crate::error::{Error, Result, ServerError, ServerRefusal};
use crate::listing::{Entries, Listing, ListingCollector, ListingPart, line, scan, unique_id};
use crate::settings::{Security, Settings, Timeouts};
use crate::tls::{TlsInfo, TlsOptions};
use crate::trace::Trace;
use crate::transport::{CustomStream, Stream, Transport, unwrap_tls_error};

/// Settings for a connection; [`Builder::connect`] opens it.
#[derive(Debug)]
pub struct Builder {
    settings: Settings,
}

impl Builder {
    /// Settings for `host` with implicit TLS on port 995, verified certificates, and default limits.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            settings: Settings::new(host.into()),
        }
    }

    crate::builder_setters!();

    /// Opens a TCP connection (IPv4 or IPv6, each resolved address in turn) and sets up the session.
    ///
    /// # Errors
    /// The connection, TLS, the greeting or STLS failed.
    pub fn connect(self) -> Result<Session> {
        let addrs = (self.settings.lookup_host(), self.settings.port()).to_socket_addrs()?;
        let mut last_error = None;
        for addr in addrs {
            let attempt = match self.settings.timeouts.connect {
                Some(limit) => TcpStream::connect_timeout(&addr, limit),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return self.establish(Box::new(stream));
                }
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                    last_error = Some(Error::Timeout("connecting"))
                }
                Err(error) => last_error = Some(Error::Io(error)),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                "host has no address",
            ))
        }))
    }

    /// Sets up the session over a stream the caller opened: a proxy tunnel, a Unix socket, a test pipe. The host
    /// given to [`Builder::new`] is still the name TLS verifies.
    ///
    /// # Errors
    /// TLS, the greeting or STLS failed.
    pub fn connect_stream<S: Read + Write + Send + fmt::Debug + 'static>(
        self,
        stream: S,
    ) -> Result<Session> {
        self.establish(Box::new(CustomStream(stream)))
    }

    fn establish(self, stream: Box<dyn Stream>) -> Result<Session> {
        let settings = self.settings;
        stream.set_write_timeout(settings.timeouts.write)?;
        let tls_config = match settings.security {
            Security::Plaintext => None,
            _ => Some(settings.tls.client_config()?),
        };
        let mut session = Session {
            client: Client::new(settings.core_config()),
            transport: Transport::Plain(stream),
            host: settings.host,
            tls_config,
            tls_options: settings.tls,
            timeouts: settings.timeouts,
            read_timeout_set: None,
            max_message_size: settings.max_message_size,
            max_listing_entries: settings.max_listing_entries,
            trace: settings.trace,
            broken: None,
        };
        if settings.security == Security::Implicit {
            session.handshake()?;
        }
        session.read_greeting()?;
        match settings.security {
            Security::StartTls => session.stls()?,
            Security::StartTlsIfAvailable => {
                // A `-ERR` to CAPA means "no STLS"; a failed connection fails the connect.
                let offered = match session.capa() {
                    Ok(caps) => caps.stls(),
                    Err(Error::Server(_)) => false,
                    Err(other) => return Err(other),
                };
                if offered {
                    match session.stls() {
                        Ok(()) | Err(Error::TlsUnavailable(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            Security::Implicit | Security::Plaintext => {}
        }
        Ok(session)
    }
}

/// A scan listing: a message and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanListing {
    /// The message number.
    pub msg: u64,
    /// Its size in octets, as the server counts it.
    pub octets: u64,
}

/// A unique-id listing: a message and its UIDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueIdListing {
    /// The message number.
    pub msg: u64,
    /// The unique id: 1 to 70 printable ASCII characters. Not safe as a file name as it is (it may hold `/`).
    pub uid: String,
}

/// A drop listing: what STAT says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Messages in the maildrop, not counting deleted ones.
    pub count: u64,
    /// Their total size in octets.
    pub octets: u64,
}

/// A piece of one message in [`Session::retr_many`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Part<'a> {
    /// The next octets of the message, dot-unstuffed.
    Data(&'a [u8]),
    /// The message is complete.
    End,
    /// The server refused this message (`-ERR`); the others go on.
    Refused(ServerError),
}

/// The answer to a raw command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status line's text after `+OK`.
    pub text: Vec<u8>,
    /// The multi-line body, dot-unstuffed, if the command was declared multi-line.
    pub body: Vec<u8>,
}

/// A POP3 session over a blocking connection. Each method sends one command (or a pipelined batch) and returns
/// when its answer is complete. A `-ERR` comes back as [`Error::Server`] and leaves the session usable; a
/// protocol violation, timeout or I/O error closes it, and every later call says so.
#[derive(Debug)]
pub struct Session {
    client: Client,
    transport: Transport,
    host: String,
    tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// What `tls_config` is built from when STLS is asked for on a session that started in plaintext.
    tls_options: TlsOptions,
    timeouts: Timeouts,
    /// The read timeout last set on the socket.
    read_timeout_set: Option<Option<Duration>>,
    max_message_size: u64,
    max_listing_entries: u64,
    trace: Trace,
    broken: Option<&'static str>,
}

impl Session {
    /// Settings for a connection to `host`; see [`Builder`].
    pub fn builder(host: impl Into<String>) -> Builder {
        Builder::new(host)
    }

    /// Connects without TLS, as poplib's `POP3(host, port, timeout)`. Credentials then need
    /// [`Builder::allow_plaintext_credentials`]; prefer [`Session::connect_tls`].
    ///
    /// # Errors
    /// The connection or the greeting failed.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self> {
        Builder::new(host)
            .port(port)
            .security(Security::Plaintext)
            .timeout(timeout)
            .connect()
    }

    /// Connects with implicit TLS, as poplib's `POP3_SSL(host, port, context=…, timeout)`.
    ///
    /// # Errors
    /// The connection, TLS or the greeting failed.
    pub fn connect_tls(host: &str, port: u16, tls: TlsOptions, timeout: Duration) -> Result<Self> {
        Builder::new(host)
            .port(port)
            .security(Security::Implicit)
            .tls(tls)
            .timeout(timeout)
            .connect()
    }

    /// The greeting's text after `+OK` (poplib's `getwelcome`).
    pub fn greeting(&self) -> &[u8] {
        self.client.greeting().unwrap_or_default()
    }

    /// The protocol state (RFC 1939 §3).
    pub fn state(&self) -> pop3_proto::State {
        self.client.state()
    }

    /// The capabilities from the last CAPA, if any (forgotten and asked again after STLS).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.client.capabilities()
    }

    /// What TLS negotiated, read from the connection; `None` without TLS.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.transport.tls_info()
    }

    /// Whether the connection is encrypted now.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// RFC 9266 `tls-exporter` channel binding for SCRAM `-PLUS`, when TLS 1.3 is up.
    pub fn channel_binding(&self) -> Option<pop3_proto::ChannelBinding> {
        self.transport.channel_binding()
    }

    /// Sets the protocol trace level (poplib's `set_debuglevel`): 0 off, 1 commands and status lines, 2 every
    /// event. Passwords, APOP digests and SASL messages are always redacted.
    pub fn set_debuglevel(&mut self, level: u8) {
        self.trace.level = level;
    }

    /// CAPA (RFC 2449). Also kept for [`Session::capabilities`].
    ///
    /// # Errors
    /// `-ERR` if the server has no CAPA, or any session error.
    pub fn capa(&mut self) -> Result<Capabilities> {
        let mut capabilities = None;
        self.run(Command::Capa, |event| {
            if let Event::Capabilities {
                capabilities: caps, ..
            } = event
            {
                capabilities = Some(Capabilities::clone(caps));
            }
            Ok(())
        })?;
        Ok(capabilities.unwrap_or_default())
    }

    /// STLS (RFC 2595): upgrades to TLS, then asks CAPA again over it.
    ///
    /// # Errors
    /// [`Error::TlsUnavailable`] on `-ERR` (the session stays in plaintext and usable only if the caller decides
    /// so); TLS errors close the session.
    pub fn stls(&mut self) -> Result<()> {
        if self.tls_config.is_none() {
            self.tls_config = Some(self.tls_options.client_config()?);
        }
        match self.run(Command::Stls, |_| Ok(())) {
            Err(Error::Server(refusal)) => {
                Err(Error::TlsUnavailable(ServerRefusal::Refused(refusal)))
            }
            Err(other) => Err(other),
            // The core now asks for the handshake, then queues CAPA.
            Ok(()) => self.drive(Target::Rest, |_| Ok(())),
        }
    }

    /// USER (RFC 1939 §7).
    ///
    /// # Errors
    /// `-ERR`, a refused argument, or a session error.
    pub fn user(&mut self, name: &str) -> Result<()> {
        self.run(Command::User(name), |_| Ok(()))
    }

    /// PASS (RFC 1939 §7).
    ///
    /// # Errors
    /// `-ERR` (wrong password: see the code), a refused argument, or a session error.
    pub fn pass(&mut self, password: &str) -> Result<()> {
        self.run(Command::Pass(password), |_| Ok(()))
    }

    /// APOP (RFC 1939 §7), using the greeting's timestamp.
    ///
    /// # Errors
    /// No valid timestamp in the greeting, `-ERR`, or a session error.
    pub fn apop(&mut self, user: &str, password: &str) -> Result<()> {
        self.run(Command::Apop { user, password }, |_| Ok(()))
    }

    /// RPOP (RFC 1081), after USER.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn rpop(&mut self, user: &str) -> Result<()> {
        self.run(Command::Rpop(user), |_| Ok(()))
    }

    /// AUTH (RFC 5034) with a SASL mechanism. A SCRAM mechanism given an empty nonce gets a random one here.
    ///
    /// # Errors
    /// `-ERR` (with the OAuth error details in the text when the server sent some), a cancelled exchange, a
    /// server that failed to prove itself (SCRAM), or a session error.
    pub fn auth(&mut self, mut mechanism: Mechanism) -> Result<()> {
        if let Mechanism::ScramSha1 { nonce, .. } | Mechanism::ScramSha256 { nonce, .. } =
            &mut mechanism
        {
            if nonce.is_empty() {
                *nonce = vec![0; 24];
                Transport::random(nonce)?;
            }
        }
        let mut details = None;
        let result = self.run(Command::Auth(mechanism), |event| {
            if let Event::AuthFailureDetails { details: d, .. } = event {
                details = Some(d.to_vec());
            }
            Ok(())
        });
        match (result, details) {
            (Err(Error::Server(error)), Some(details)) => {
                Err(Error::Server(error.with_details(&details)))
            }
            (result, _) => result,
        }
    }

    /// Logs in with the strongest method the server offers: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, APOP, PLAIN,
    /// then USER/PASS. Never falls back to a weaker method after a failure. Returns the method used.
    ///
    /// # Errors
    /// As the method chosen.
    pub fn login(&mut self, user: &str, password: &str) -> Result<&'static str> {
        if self.client.capabilities().is_none() {
            match self.capa() {
                Ok(_) | Err(Error::Server(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let sasl = |name: &str| {
            self.client
                .capabilities()
                .is_some_and(|caps| caps.supports_sasl(name))
        };
        let mechanism = if sasl("SCRAM-SHA-256") {
            Some(Mechanism::scram_sha256(user, password, Vec::new()))
        } else if sasl("SCRAM-SHA-1") {
            Some(Mechanism::scram_sha1(user, password, Vec::new()))
        } else if sasl("CRAM-MD5") {
            Some(Mechanism::cram_md5(user, password))
        } else {
            None
        };
        if let Some(mechanism) = mechanism {
            let name = mechanism.name();
            return self.auth(mechanism).map(|()| name);
        }
        if self.client.apop_timestamp().is_some() {
            return self.apop(user, password).map(|()| "APOP");
        }
        if sasl("PLAIN") {
            return self
                .auth(Mechanism::plain(user, password))
                .map(|()| "PLAIN");
        }
        self.user(user)?;
        self.pass(password).map(|()| "USER")
    }

    /// STAT (RFC 1939 §5).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn stat(&mut self) -> Result<Stat> {
        let mut stat = None;
        self.run(Command::Stat, |event| {
            if let Event::Stat { count, octets, .. } = *event {
                stat = Some(Stat { count, octets });
            }
            Ok(())
        })?;
        stat.ok_or(Error::Closed(Some("no STAT answer")))
    }

    /// LIST (RFC 1939 §5): every message and its size.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn list(&mut self) -> Result<Vec<ScanListing>> {
        let mut entries = Entries::new(self.max_listing_entries);
        self.run(Command::List(None), |event| entries.take(event, scan))?;
        Ok(entries.into_vec())
    }

    /// LIST n (RFC 1939 §5).
    ///
    /// # Errors
    /// Message 0, `-ERR` (no such message), or a session error.
    pub fn list_one(&mut self, msg: u64) -> Result<ScanListing> {
        let mut listing = None;
        self.run(
            Command::List(Some(MsgNum::new(msg).map_err(SendError::from)?)),
            |event| {
                if let Event::Scan { msg, octets, .. } = *event {
                    listing = Some(ScanListing { msg, octets });
                }
                Ok(())
            },
        )?;
        listing.ok_or(Error::Closed(Some("no LIST answer")))
    }

    /// UIDL (RFC 1939 §7): every message and its unique id.
    ///
    /// # Errors
    /// `-ERR` (the server has no UIDL) or a session error.
    pub fn uidl(&mut self) -> Result<Vec<UniqueIdListing>> {
        let mut entries = Entries::new(self.max_listing_entries);
        self.run(Command::Uidl(None), |event| entries.take(event, unique_id))?;
        Ok(entries.into_vec())
    }

    /// UIDL n (RFC 1939 §7).
    ///
    /// # Errors
    /// Message 0, `-ERR`, or a session error.
    pub fn uidl_one(&mut self, msg: u64) -> Result<UniqueIdListing> {
        let mut listing = None;
        self.run(
            Command::Uidl(Some(MsgNum::new(msg).map_err(SendError::from)?)),
            |event| {
                if let Event::UniqueId { msg, uid, .. } = *event {
                    listing = Some(UniqueIdListing {
                        msg,
                        uid: uid.to_owned(),
                    });
                }
                Ok(())
            },
        )?;
        listing.ok_or(Error::Closed(Some("no UIDL answer")))
    }

    /// RETR (RFC 1939 §5) into memory, up to [`Builder::max_message_size`].
    ///
    /// # Errors
    /// Message 0, `-ERR`, [`Error::TooLarge`], or a session error.
    pub fn retr(&mut self, msg: u64) -> Result<Vec<u8>> {
        let mut sink = LimitedVec::new(self.max_message_size);
        self.retr_to(msg, &mut sink).map_err(|e| sink.explain(e))?;
        Ok(sink.bytes)
    }

    /// RETR (RFC 1939 §5), streamed into `sink` in constant memory. Returns the octets written.
    ///
    /// # Errors
    /// Message 0, `-ERR`, [`Error::Sink`] if `sink` failed (the session stays usable), or a session error.
    pub fn retr_to(&mut self, msg: u64, sink: &mut impl Write) -> Result<u64> {
        self.body(
            Command::Retr(MsgNum::new(msg).map_err(SendError::from)?),
            sink,
        )
    }

    /// TOP (RFC 1939 §7): the header and the first `lines` body lines, into memory.
    ///
    /// # Errors
    /// As [`Session::retr`].
    pub fn top(&mut self, msg: u64, lines: u64) -> Result<Vec<u8>> {
        let mut sink = LimitedVec::new(self.max_message_size);
        self.top_to(msg, lines, &mut sink)
            .map_err(|e| sink.explain(e))?;
        Ok(sink.bytes)
    }

    /// TOP (RFC 1939 §7), streamed into `sink`.
    ///
    /// # Errors
    /// As [`Session::retr_to`].
    pub fn top_to(&mut self, msg: u64, lines: u64, sink: &mut impl Write) -> Result<u64> {
        self.body(
            Command::Top {
                msg: MsgNum::new(msg).map_err(SendError::from)?,
                lines,
            },
            sink,
        )
    }

    /// DELE (RFC 1939 §5): marks a message; QUIT commits, RSET undoes.
    ///
    /// # Errors
    /// Message 0, `-ERR`, or a session error.
    pub fn dele(&mut self, msg: u64) -> Result<()> {
        self.run(
            Command::Dele(MsgNum::new(msg).map_err(SendError::from)?),
            |_| Ok(()),
        )
    }

    /// RSET (RFC 1939 §5): unmarks every deleted message.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn rset(&mut self) -> Result<()> {
        self.run(Command::Rset, |_| Ok(()))
    }

    /// NOOP (RFC 1939 §5).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn noop(&mut self) -> Result<()> {
        self.run(Command::Noop, |_| Ok(()))
    }

    /// QUIT (RFC 1939 §6): in Transaction, commits deletions. The connection is closed afterwards, whatever the
    /// answer, and every later call is refused.
    ///
    /// # Errors
    /// `-ERR` (in Transaction: deletions may not have been committed) or a session error.
    pub fn quit(&mut self) -> Result<()> {
        let result = self.run(Command::Quit, |_| Ok(()));
        self.broken.get_or_insert("QUIT was sent");
        self.transport.close();
        result
    }

    /// UTF8 (RFC 6856 §2).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn utf8(&mut self) -> Result<()> {
        self.run(Command::Utf8, |_| Ok(()))
    }

    /// LANG (RFC 6856 §3): with a tag, switches the server's language; without, lists the languages.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn lang(&mut self, tag: Option<&str>) -> Result<Vec<Vec<u8>>> {
        let mut entries = Entries::new(self.max_listing_entries);
        self.run(Command::Lang(tag), |event| entries.take(event, line))?;
        Ok(entries.into_vec())
    }

    /// Sends any other command line. The caller says whether a `+OK` answer is multi-line. Commands that change
    /// the session state (USER, PASS, APOP, AUTH, STLS, QUIT…) must use their own methods.
    ///
    /// # Errors
    /// A refused line, `-ERR`, or a session error.
    pub fn raw(&mut self, line: &str, multiline: bool) -> Result<RawResponse> {
        let mut response = RawResponse {
            text: Vec::new(),
            body: Vec::new(),
        };
        let limit = self.max_message_size;
        self.run(Command::Raw { line, multiline }, |event| {
            match event {
                Event::Ok { reply, .. } => response.text = reply.text.to_vec(),
                Event::Body { chunk, .. } => {
                    if (response.body.len() + chunk.len()) as u64 > limit {
                        return Err(Error::TooLarge { limit });
                    }
                    response.body.extend_from_slice(chunk);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(response)
    }

    /// RETR for many messages, pipelined when the server allows it. `on_part` gets each message's data in order,
    /// then [`Part::End`], or [`Part::Refused`] for a message the server would not give.
    ///
    /// # Errors
    /// A message number of 0, [`Error::Sink`] if `on_part` failed (every response is still read to its end), or
    /// a session error.
    pub fn retr_many(
        &mut self,
        msgs: &[u64],
        mut on_part: impl FnMut(u64, Part<'_>) -> io::Result<()>,
    ) -> Result<()> {
        let commands = msgs
            .iter()
            .map(|&msg| MsgNum::new(msg).map(Command::Retr))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SendError::from)?;
        self.batch(msgs, commands, |msg, event| match event {
            Event::Body { chunk, .. } => on_part(msg, Part::Data(chunk)),
            Event::Done { .. } => on_part(msg, Part::End),
            Event::Err { reply, .. } => on_part(msg, Part::Refused(ServerError::from_reply(reply))),
            _ => Ok(()),
        })
    }

    /// DELE for many messages, pipelined when the server allows it. Returns each message's outcome.
    ///
    /// # Errors
    /// A message number of 0, or a session error.
    pub fn dele_many(&mut self, msgs: &[u64]) -> Result<Vec<std::result::Result<(), ServerError>>> {
        let commands = msgs
            .iter()
            .map(|&msg| MsgNum::new(msg).map(Command::Dele))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SendError::from)?;
        // Each command ends with exactly one `Done` or `Err`, in the order sent, so the outcomes line up with
        // `msgs` even when a number repeats.
        let mut outcomes = Vec::with_capacity(msgs.len());
        self.batch(msgs, commands, |_, event| {
            match event {
                Event::Done { .. } => outcomes.push(Ok(())),
                Event::Err { reply, .. } => outcomes.push(Err(ServerError::from_reply(reply))),
                _ => {}
            }
            Ok(())
        })?;
        Ok(outcomes)
    }

    /// LIST and UIDL together, pipelined when the server allows it: every message with its size and, if the server
    /// answers UIDL, its unique id. One round trip instead of two, which is what a fetcher asks first.
    ///
    /// # Errors
    /// `-ERR` to LIST, or a session error. A `-ERR` to UIDL (a server without it) only leaves every `uid` empty.
    pub fn listing(&mut self) -> Result<Vec<Listing>> {
        let mut collector = ListingCollector::new(self.max_listing_entries);
        self.batch(
            &[ListingPart::List, ListingPart::Uidl],
            vec![Command::List(None), Command::Uidl(None)],
            |part, event| {
                collector.add(part, event);
                Ok(())
            },
        )?;
        collector.finish()
    }

    /// Queues every command, then drives until the last is answered, handing each event to `on_event` with the
    /// owner given for its command (`owners[i]` for `commands[i]`).
    fn batch<T: Copy>(
        &mut self,
        owners: &[T],
        commands: Vec<Command<'_>>,
        mut on_event: impl FnMut(T, &Event<'_>) -> io::Result<()>,
    ) -> Result<()> {
        self.check_open()?;
        let mut first = None;
        let mut last = None;
        for command in commands {
            match self.client.send(command) {
                Ok(id) => {
                    first.get_or_insert(id);
                    last = Some(id);
                }
                Err(refused) => {
                    // Answer what was already queued, so no later call reads it as its own.
                    if let Some(last) = last {
                        self.drive(Target::Command(last), |_| Ok(()))?;
                    }
                    return Err(refused.into());
                }
            }
        }
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(());
        };
        let mut sink_error = None;
        self.drive(Target::Command(last), |event| {
            // Ids are handed out one after another, so an event's owner is found by subtraction.
            let index = event.id().and_then(|id| id.get().checked_sub(first.get()));
            if let (None, Some(owner)) = (&sink_error, index.and_then(|i| owners.get(i as usize))) {
                sink_error = on_event(*owner, event).err();
            }
            Ok(())
        })?;
        sink_error.map_or(Ok(()), |e| Err(Error::Sink(e)))
    }

    fn body(&mut self, command: Command<'_>, sink: &mut impl Write) -> Result<u64> {
        let mut written = 0u64;
        let mut sink_error = None;
        self.run(command, |event| {
            if let (Event::Body { chunk, .. }, None) = (event, &sink_error) {
                match sink.write_all(chunk) {
                    Ok(()) => written += chunk.len() as u64,
                    Err(error) => sink_error = Some(error),
                }
            }
            Ok(())
        })?;
        match sink_error {
            Some(error) => Err(Error::Sink(error)),
            None => Ok(written),
        }
    }

    /// Sends one command and drives until it is answered. `-ERR` becomes [`Error::Server`].
    fn run(
        &mut self,
        command: Command<'_>,
        mut on_event: impl FnMut(&Event<'_>) -> Result<()>,
    ) -> Result<()> {
        self.check_open()?;
        let id = self.client.send(command)?;
        let mut refusal = None;
        let mut handler_error = None;
        self.drive(Target::Command(id), |event| {
            if let Event::Err { id: err_id, reply } = event {
                if *err_id == id {
                    refusal = Some(ServerError::from_reply(reply));
                }
            }
            if handler_error.is_none() && event.id() == Some(id) {
                handler_error = on_event(event).err();
            }
            Ok(())
        })?;
        if let Some(refusal) = refusal {
            return Err(Error::Server(refusal));
        }
        handler_error.map_or(Ok(()), Err)
    }

    fn check_open(&self) -> Result<()> {
        match self.broken {
            Some(why) => Err(Error::Closed(Some(why))),
            None => Ok(()),
        }
    }

    fn read_greeting(&mut self) -> Result<()> {
        let mut refusal = None;
        self.drive(Target::Greeting, |event| {
            if let Event::Greeting { ok: false, reply } = event {
                refusal = Some(ServerError::from_reply(reply));
            }
            Ok(())
        })?;
        match refusal {
            Some(refusal) => {
                self.broken = Some("the server refused the session");
                Err(Error::Server(refusal))
            }
            None => Ok(()),
        }
    }

    fn handshake(&mut self) -> Result<()> {
        let config = self
            .tls_config
            .clone()
            .ok_or(Error::Closed(Some("no TLS configuration")))?;
        let deadline = self.timeouts.response.map(|limit| Instant::now() + limit);
        // The handshake sets its own socket timeouts.
        self.read_timeout_set = None;
        self.transport
            .start_tls(config, &self.host, deadline, self.timeouts.read)?;
        self.trace.note(format_args!(
            "TLS established: {:?}",
            self.transport.tls_info().map(|i| i.version)
        ));
        Ok(())
    }

    /// Runs the core until `target` finishes (or, for `None`, until the greeting arrived), writing what it asks
    /// and reading what it needs. Any failure here ends the session.
    fn drive(
        &mut self,
        target: Target,
        on_event: impl FnMut(&Event<'_>) -> Result<()>,
    ) -> Result<()> {
        let result = self.pump(target, on_event);
        if let Err(error) = &result {
            if !error.is_recoverable() {
                self.broken.get_or_insert(match error {
                    Error::Timeout(_) => "timed out",
                    Error::Protocol(_) => "the server broke the protocol",
                    Error::Tls(_) => "TLS failed",
                    _ => "the connection failed",
                });
            }
        }
        result
    }

    fn pump(
        &mut self,
        target: Target,
        mut on_event: impl FnMut(&Event<'_>) -> Result<()>,
    ) -> Result<()> {
        let deadline = self.timeouts.response.map(|limit| Instant::now() + limit);
        loop {
            match self.client.poll()? {
                Output::Transmit(transmit) => {
                    self.trace.sent(&transmit);
                    let written = self
                        .transport
                        .write_all(transmit.bytes())
                        .and_then(|()| self.transport.flush());
                    written.map_err(|e| timeout_or(e, "writing to the server"))?;
                }
                Output::Event(event) => {
                    self.trace.received(&event);
                    let finished = match target {
                        Target::Greeting => matches!(event, Event::Greeting { .. }),
                        Target::Command(target) => event.finishes() == Some(target),
                        Target::Rest => false,
                    };
                    on_event(&event)?;
                    if finished {
                        return Ok(());
                    }
                }
                Output::NeedInput => {
                    let remaining = match deadline {
                        Some(deadline) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                return Err(Error::Timeout("waiting for the server's response"));
                            }
                            Some(self.timeouts.read.map_or(left, |read| read.min(left)))
                        }
                        None => self.timeouts.read,
                    };
                    // One system call per change, not per read: the limit only moves near the deadline.
                    if self.read_timeout_set != Some(remaining) {
                        self.transport.set_read_timeout(remaining)?;
                        self.read_timeout_set = Some(remaining);
                    }
                    let buffer = self.client.input_buffer();
                    match self.transport.read(buffer) {
                        Ok(0) => self.client.handle_eof(),
                        Ok(n) => self.client.commit_input(n),
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                            self.client.handle_eof()
                        }
                        Err(error) => return Err(timeout_or(error, "waiting for the server")),
                    }
                }
                Output::StartTls => {
                    self.handshake()?;
                    if let Some(capa) = self.client.handle_tls_established() {
                        self.drive_nested(capa)?;
                    }
                }
                Output::Idle => {
                    return match target {
                        Target::Command(_) => {
                            Err(Error::Closed(Some("the response never finished")))
                        }
                        Target::Greeting | Target::Rest => Ok(()),
                    };
                }
                Output::Closed => {
                    return match target {
                        Target::Greeting | Target::Rest => Ok(()),
                        Target::Command(_) => Err(Error::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ))),
                    };
                }
            }
        }
    }

    /// Drives the CAPA the core queues after STLS, so capabilities are known before the caller goes on.
    fn drive_nested(&mut self, capa: CommandId) -> Result<()> {
        self.pump(Target::Command(capa), |_| Ok(()))
    }
}

/// When [`Session::drive`] may return.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Once the greeting arrived.
    Greeting,
    /// Once this command finished.
    Command(CommandId),
    /// Once nothing is left to do (after STLS: the handshake and the new CAPA).
    Rest,
}

fn timeout_or(error: io::Error, doing: &'static str) -> Error {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout(doing),
        _ => unwrap_tls_error(error),
    }
}

/// A `Vec` sink that refuses to grow past a limit.
struct LimitedVec {
    bytes: Vec<u8>,
    limit: u64,
}

impl LimitedVec {
    fn new(limit: u64) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
        }
    }

    /// Turns the sink's own refusal back into [`Error::TooLarge`].
    fn explain(&self, error: Error) -> Error {
        match error {
            Error::Sink(inner) if inner.kind() == io::ErrorKind::FileTooLarge => {
                Error::TooLarge { limit: self.limit }
            }
            other => other,
        }
    }
}

impl Write for LimitedVec {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            return Err(io::ErrorKind::FileTooLarge.into());
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
