//! The session: one connection, the protocol core, and the poplib-style methods, as `async fn`s.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::io::prelude::{ReadExt as _, WriteExt as _};
use async_std::net::{TcpStream, ToSocketAddrs as _};
use futures_io::{AsyncRead, AsyncWrite};
use pop3_proto::{
    Capabilities, Client, Command, CommandId, Event, Mechanism, MsgNum, Output, SendError,
};

use crate::transport::{self, Transport, io_error};
use crate::{
    Error, Listing, Part, RawResponse, Result, ScanListing, Security, ServerError, ServerRefusal,
    Stat, Timeouts, TlsInfo, TlsOptions, UniqueIdListing,
};
use pop3_blocking::listing::{Entries, ListingCollector, ListingPart, line, scan, unique_id};
use pop3_blocking::settings::Settings;
use pop3_blocking::trace::Trace;

/// Why a session refuses every call after a command's future was dropped before it finished.
const CANCELLED: &str = "a previous command was cancelled";

/// Runs `future` within `limit`, if there is one; running out is an [`io::ErrorKind::TimedOut`] error.
async fn within<T>(
    limit: Option<Duration>,
    future: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        Some(limit) => async_std::io::timeout(limit, future).await,
        None => future.await,
    }
}

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

    pop3_blocking::builder_setters!();

    /// Resolves the host (without blocking the executor) and opens a TCP connection to each address in turn,
    /// IPv4 or IPv6, then sets up the session. The connect time limit applies to the name lookup and to each
    /// address.
    ///
    /// # Errors
    /// The name lookup, the connection, TLS, the greeting or STLS failed.
    pub async fn connect(self) -> Result<Session<TcpStream>> {
        let target = (self.settings.lookup_host(), self.settings.port());
        let addrs = within(self.settings.timeouts.connect, target.to_socket_addrs())
            .await
            .map_err(|e| io_error(e, "resolving the host name"))?;
        let mut last_error = None;
        for addr in addrs {
            match within(self.settings.timeouts.connect, TcpStream::connect(addr)).await {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return self.establish(stream).await;
                }
                Err(error) => last_error = Some(io_error(error, "connecting")),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                "host has no address",
            ))
        }))
    }

    /// Sets up the session over a stream the caller opened: a proxy tunnel, a Unix socket, a test pipe, or a
    /// socket of another futures-io runtime (smol's `Async<TcpStream>`). The host given to [`Builder::new`] is
    /// still the name TLS verifies.
    ///
    /// # Errors
    /// TLS, the greeting or STLS failed.
    pub async fn connect_stream<S>(self, stream: S) -> Result<Session<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.establish(stream).await
    }

    async fn establish<S>(self, stream: S) -> Result<Session<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.settings;
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
            max_message_size: settings.max_message_size,
            max_listing_entries: settings.max_listing_entries,
            trace: settings.trace,
            broken: None,
            busy: false,
        };
        if settings.security == Security::Implicit {
            session.handshake().await?;
        }
        session.read_greeting().await?;
        match settings.security {
            Security::StartTls => session.stls().await?,
            Security::StartTlsIfAvailable => {
                // A `-ERR` to CAPA means "no STLS"; a failed connection fails the connect.
                let offered = match session.capa().await {
                    Ok(caps) => caps.stls(),
                    Err(Error::Server(_)) => false,
                    Err(other) => return Err(other),
                };
                if offered {
                    match session.stls().await {
                        Ok(()) | Err(Error::TlsUnavailable(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            _ => {}
        }
        Ok(session)
    }
}

/// A POP3 session over an async connection. Each method sends one command (or a pipelined batch) and completes
/// when its answer is complete. A `-ERR` comes back as [`Error::Server`] and leaves the session usable; a
/// protocol violation, timeout or I/O error closes it, and every later call says so.
///
/// `S` is the byte stream: async-std's [`TcpStream`] from [`Session::connect`] and [`Builder::connect`], or any
/// `futures_io::AsyncRead + AsyncWrite + Unpin + Send` given to [`Builder::connect_stream`].
///
/// # Cancellation
///
/// Dropping a method's future before it completes (a `select!`, a `timeout` around it, a cancelled task) leaves
/// the server's answer half read, or the command half written. The session then refuses every later call with
/// `Error::Closed(Some("a previous command was cancelled"))`, so no later command can ever read an earlier
/// command's bytes; connect again. A future dropped before its first poll has sent nothing and changes nothing.
/// Give the session a [`Timeouts`] instead of wrapping calls in a timeout where possible: its limits end the
/// session the same way, but report [`Error::Timeout`].
pub struct Session<S = TcpStream> {
    client: Client,
    transport: Transport<S>,
    host: String,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    /// What `tls_config` is built from when STLS is asked for on a session that started in plaintext.
    tls_options: TlsOptions,
    timeouts: Timeouts,
    max_message_size: u64,
    max_listing_entries: u64,
    trace: Trace,
    broken: Option<&'static str>,
    /// Set while a command is being driven; still set when the future driving it was dropped.
    busy: bool,
}

impl<S> fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.host)
            .field("state", &self.client.state())
            .field("transport", &self.transport)
            .field("timeouts", &self.timeouts)
            .field("broken", &self.broken)
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl Session<TcpStream> {
    /// Settings for a connection to `host`; see [`Builder`].
    pub fn builder(host: impl Into<String>) -> Builder {
        Builder::new(host)
    }

    /// Connects without TLS, as poplib's `POP3(host, port, timeout)`. Credentials then need
    /// [`Builder::allow_plaintext_credentials`]; prefer [`Session::connect_tls`].
    ///
    /// # Errors
    /// The connection or the greeting failed.
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self> {
        Builder::new(host)
            .port(port)
            .security(Security::Plaintext)
            .timeout(timeout)
            .connect()
            .await
    }

    /// Connects with implicit TLS, as poplib's `POP3_SSL(host, port, context=…, timeout)`.
    ///
    /// # Errors
    /// The connection, TLS or the greeting failed.
    pub async fn connect_tls(
        host: &str,
        port: u16,
        tls: TlsOptions,
        timeout: Duration,
    ) -> Result<Self> {
        Builder::new(host)
            .port(port)
            .security(Security::Implicit)
            .tls(tls)
            .timeout(timeout)
            .connect()
            .await
    }
}

/// Writes the bodies of one command into the caller's sink, keeping the first failure.
struct BodySink<'a, W: ?Sized> {
    writer: &'a mut W,
    written: u64,
    error: Option<io::Error>,
}

/// The sink type of calls without one.
type NoSink = BodySink<'static, async_std::io::Sink>;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
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
        self.transport.is_tls()
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
    pub async fn capa(&mut self) -> Result<Capabilities> {
        let mut capabilities = None;
        self.run(Command::Capa, |event| {
            if let Event::Capabilities {
                capabilities: caps, ..
            } = event
            {
                capabilities = Some(Capabilities::clone(caps));
            }
            Ok(())
        })
        .await?;
        Ok(capabilities.unwrap_or_default())
    }

    /// STLS (RFC 2595): upgrades to TLS, then asks CAPA again over it.
    ///
    /// # Errors
    /// [`Error::TlsUnavailable`] on `-ERR` (the session stays in plaintext and usable only if the caller decides
    /// so); TLS errors close the session.
    pub async fn stls(&mut self) -> Result<()> {
        if self.tls_config.is_none() {
            self.tls_config = Some(self.tls_options.client_config()?);
        }
        match self.run(Command::Stls, |_| Ok(())).await {
            Err(Error::Server(refusal)) => {
                Err(Error::TlsUnavailable(ServerRefusal::Refused(refusal)))
            }
            Err(other) => Err(other),
            // The core now asks for the handshake, then queues CAPA.
            Ok(()) => {
                self.drive(Target::Rest, |_| Ok(()), None::<&mut NoSink>)
                    .await
            }
        }
    }

    /// USER (RFC 1939 §7).
    ///
    /// # Errors
    /// `-ERR`, a refused argument, or a session error.
    pub async fn user(&mut self, name: &str) -> Result<()> {
        self.run(Command::User(name), |_| Ok(())).await
    }

    /// PASS (RFC 1939 §7).
    ///
    /// # Errors
    /// `-ERR` (wrong password: see the code), a refused argument, or a session error.
    pub async fn pass(&mut self, password: &str) -> Result<()> {
        self.run(Command::Pass(password), |_| Ok(())).await
    }

    /// APOP (RFC 1939 §7), using the greeting's timestamp.
    ///
    /// # Errors
    /// No valid timestamp in the greeting, `-ERR`, or a session error.
    pub async fn apop(&mut self, user: &str, password: &str) -> Result<()> {
        self.run(Command::Apop { user, password }, |_| Ok(())).await
    }

    /// RPOP (RFC 1081), after USER.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn rpop(&mut self, user: &str) -> Result<()> {
        self.run(Command::Rpop(user), |_| Ok(())).await
    }

    /// AUTH (RFC 5034) with a SASL mechanism. A SCRAM mechanism given an empty nonce gets 24 random octets from
    /// the rustls crypto provider here.
    ///
    /// # Errors
    /// `-ERR` (with the OAuth error details when the server sent some), a cancelled exchange, a server that failed
    /// to prove itself (SCRAM), or a session error.
    pub async fn auth(&mut self, mut mechanism: Mechanism) -> Result<()> {
        if let Mechanism::ScramSha1 { nonce, .. } | Mechanism::ScramSha256 { nonce, .. } =
            &mut mechanism
        {
            if nonce.is_empty() {
                *nonce = vec![0; 24];
                transport::random(self.tls_config.as_deref(), nonce)?;
            }
        }
        let mut details = None;
        let result = self
            .run(Command::Auth(mechanism), |event| {
                if let Event::AuthFailureDetails { details: d, .. } = event {
                    details = Some(d.to_vec());
                }
                Ok(())
            })
            .await;
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
    pub async fn login(&mut self, user: &str, password: &str) -> Result<&'static str> {
        if self.client.capabilities().is_none() {
            match self.capa().await {
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
        let plain = sasl("PLAIN");
        if let Some(mechanism) = mechanism {
            let name = mechanism.name();
            return self.auth(mechanism).await.map(|()| name);
        }
        if self.client.apop_timestamp().is_some() {
            return self.apop(user, password).await.map(|()| "APOP");
        }
        if plain {
            return self
                .auth(Mechanism::plain(user, password))
                .await
                .map(|()| "PLAIN");
        }
        self.user(user).await?;
        self.pass(password).await.map(|()| "USER")
    }

    /// STAT (RFC 1939 §5).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn stat(&mut self) -> Result<Stat> {
        let mut stat = None;
        self.run(Command::Stat, |event| {
            if let Event::Stat { count, octets, .. } = *event {
                stat = Some(Stat { count, octets });
            }
            Ok(())
        })
        .await?;
        stat.ok_or(Error::Closed(Some("no STAT answer")))
    }

    /// LIST (RFC 1939 §5): every message and its size.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn list(&mut self) -> Result<Vec<ScanListing>> {
        let mut entries = Entries::new(self.max_listing_entries);
        self.run(Command::List(None), |event| entries.take(event, scan))
            .await?;
        Ok(entries.into_vec())
    }

    /// LIST n (RFC 1939 §5).
    ///
    /// # Errors
    /// Message 0, `-ERR` (no such message), or a session error.
    pub async fn list_one(&mut self, msg: u64) -> Result<ScanListing> {
        let mut listing = None;
        let command = Command::List(Some(msg_num(msg)?));
        self.run(command, |event| {
            if let Event::Scan { msg, octets, .. } = *event {
                listing = Some(ScanListing { msg, octets });
            }
            Ok(())
        })
        .await?;
        listing.ok_or(Error::Closed(Some("no LIST answer")))
    }

    /// UIDL (RFC 1939 §7): every message and its unique id.
    ///
    /// # Errors
    /// `-ERR` (the server has no UIDL) or a session error.
    pub async fn uidl(&mut self) -> Result<Vec<UniqueIdListing>> {
        let mut entries = Entries::new(self.max_listing_entries);
        self.run(Command::Uidl(None), |event| entries.take(event, unique_id))
            .await?;
        Ok(entries.into_vec())
    }

    /// UIDL n (RFC 1939 §7).
    ///
    /// # Errors
    /// Message 0, `-ERR`, or a session error.
    pub async fn uidl_one(&mut self, msg: u64) -> Result<UniqueIdListing> {
        let mut listing = None;
        let command = Command::Uidl(Some(msg_num(msg)?));
        self.run(command, |event| {
            if let Event::UniqueId { msg, uid, .. } = *event {
                listing = Some(UniqueIdListing {
                    msg,
                    uid: uid.to_owned(),
                });
            }
            Ok(())
        })
        .await?;
        listing.ok_or(Error::Closed(Some("no UIDL answer")))
    }

    /// RETR (RFC 1939 §5) into memory, up to [`Builder::max_message_size`].
    ///
    /// # Errors
    /// Message 0, `-ERR`, [`Error::TooLarge`] (the rest is read and dropped; the session stays usable), or a
    /// session error.
    pub async fn retr(&mut self, msg: u64) -> Result<Vec<u8>> {
        self.body_in_memory(Command::Retr(msg_num(msg)?)).await
    }

    /// RETR (RFC 1939 §5), streamed into `sink` in constant memory (one receive buffer, [`Config::read_size`](pop3_proto::Config::read_size)).
    /// Returns the octets written. The sink is not flushed or closed.
    ///
    /// # Errors
    /// Message 0, `-ERR`, [`Error::Sink`] if `sink` failed (the rest of the message is read and dropped, so the
    /// session stays usable), or a session error.
    pub async fn retr_to<W>(&mut self, msg: u64, sink: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.body(Command::Retr(msg_num(msg)?), sink).await
    }

    /// TOP (RFC 1939 §7): the header and the first `lines` body lines, into memory.
    ///
    /// # Errors
    /// As [`Session::retr`].
    pub async fn top(&mut self, msg: u64, lines: u64) -> Result<Vec<u8>> {
        let msg = msg_num(msg)?;
        self.body_in_memory(Command::Top { msg, lines }).await
    }

    /// TOP (RFC 1939 §7), streamed into `sink`.
    ///
    /// # Errors
    /// As [`Session::retr_to`].
    pub async fn top_to<W>(&mut self, msg: u64, lines: u64, sink: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let msg = msg_num(msg)?;
        self.body(Command::Top { msg, lines }, sink).await
    }

    /// DELE (RFC 1939 §5): marks a message; QUIT commits, RSET undoes.
    ///
    /// # Errors
    /// Message 0, `-ERR`, or a session error.
    pub async fn dele(&mut self, msg: u64) -> Result<()> {
        self.run(Command::Dele(msg_num(msg)?), |_| Ok(())).await
    }

    /// RSET (RFC 1939 §5): unmarks every deleted message.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn rset(&mut self) -> Result<()> {
        self.run(Command::Rset, |_| Ok(())).await
    }

    /// NOOP (RFC 1939 §5).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn noop(&mut self) -> Result<()> {
        self.run(Command::Noop, |_| Ok(())).await
    }

    /// QUIT (RFC 1939 §6): in Transaction, commits deletions. The session is closed afterwards, and the connection
    /// shut down (TLS `close_notify` included) as far as the write time limit allows.
    ///
    /// # Errors
    /// `-ERR` (in Transaction: deletions may not have been committed) or a session error.
    pub async fn quit(&mut self) -> Result<()> {
        let result = self.run(Command::Quit, |_| Ok(())).await;
        if self.broken.is_none() {
            self.broken = Some("QUIT was sent");
            // Best effort: the answer is in, and a peer that is gone has nothing to lose.
            let transport = &mut self.transport;
            let close = std::future::poll_fn(|cx| Pin::new(&mut *transport).poll_close(cx));
            let _ = within(self.timeouts.write, close).await;
        }
        result
    }

    /// UTF8 (RFC 6856 §2).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn utf8(&mut self) -> Result<()> {
        self.run(Command::Utf8, |_| Ok(())).await
    }

    /// LANG (RFC 6856 §3): with a tag, switches the server's language; without, lists the languages.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub async fn lang(&mut self, tag: Option<&str>) -> Result<Vec<Vec<u8>>> {
        let mut entries = Entries::new(self.max_listing_entries);
        self.run(Command::Lang(tag), |event| entries.take(event, line))
            .await?;
        Ok(entries.into_vec())
    }

    /// Sends any other command line. The caller says whether a `+OK` answer is multi-line. Commands that change
    /// the session state (USER, PASS, APOP, AUTH, STLS, QUIT…) must use their own methods.
    ///
    /// # Errors
    /// A refused line, `-ERR`, [`Error::TooLarge`] for a body past [`Builder::max_message_size`], or a session
    /// error.
    pub async fn raw(&mut self, line: &str, multiline: bool) -> Result<RawResponse> {
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
        })
        .await?;
        Ok(response)
    }

    /// RETR for many messages, pipelined when the server allows it (RFC 2449 PIPELINING), one at a time
    /// otherwise. `on_part` gets each message's data in order, then [`Part::End`], or [`Part::Refused`] for a
    /// message the server would not give. Memory stays constant whatever the sizes.
    ///
    /// # Errors
    /// A message number of 0, [`Error::Sink`] if `on_part` failed (every response is still read to its end), or
    /// a session error.
    pub async fn retr_many(
        &mut self,
        msgs: &[u64],
        mut on_part: impl FnMut(u64, Part<'_>) -> io::Result<()>,
    ) -> Result<()> {
        let commands = msgs
            .iter()
            .map(|&msg| msg_num(msg).map(Command::Retr))
            .collect::<Result<Vec<_>>>()?;
        self.batch(msgs, commands, |msg, event| match event {
            Event::Body { chunk, .. } => on_part(msg, Part::Data(chunk)),
            Event::Done { .. } => on_part(msg, Part::End),
            Event::Err { reply, .. } => on_part(msg, Part::Refused(ServerError::from_reply(reply))),
            _ => Ok(()),
        })
        .await
    }

    /// DELE for many messages, pipelined when the server allows it. Returns each message's outcome.
    ///
    /// # Errors
    /// A message number of 0, or a session error.
    pub async fn dele_many(
        &mut self,
        msgs: &[u64],
    ) -> Result<Vec<std::result::Result<(), ServerError>>> {
        let commands = msgs
            .iter()
            .map(|&msg| msg_num(msg).map(Command::Dele))
            .collect::<Result<Vec<_>>>()?;
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
        })
        .await?;
        Ok(outcomes)
    }

    /// LIST and UIDL together, pipelined when the server allows it: every message with its size and, if the server
    /// answers UIDL, its unique id. One round trip instead of two, which is what a fetcher asks first.
    ///
    /// # Errors
    /// `-ERR` to LIST, or a session error. A `-ERR` to UIDL (a server without it) only leaves every `uid` empty.
    pub async fn listing(&mut self) -> Result<Vec<Listing>> {
        let mut collector = ListingCollector::new(self.max_listing_entries);
        self.batch(
            &[ListingPart::List, ListingPart::Uidl],
            vec![Command::List(None), Command::Uidl(None)],
            |part, event| {
                collector.add(part, event);
                Ok(())
            },
        )
        .await?;
        collector.finish()
    }

    /// Queues every command, then drives until the last is answered, handing each event to `on_event` with the
    /// owner given for its command (`owners[i]` for `commands[i]`).
    async fn batch<T: Copy>(
        &mut self,
        owners: &[T],
        commands: Vec<Command<'_>>,
        mut on_event: impl FnMut(T, &Event<'_>) -> io::Result<()>,
    ) -> Result<()> {
        self.check_open()?;
        let mut owner_of = HashMap::with_capacity(owners.len());
        let mut last = None;
        let mut refused = None;
        for (command, &owner) in commands.into_iter().zip(owners) {
            match self.client.send(command) {
                Ok(id) => {
                    owner_of.insert(id, owner);
                    last = Some(id);
                }
                Err(error) => {
                    // Drive what was queued, so nothing is left for the next call to read.
                    refused = Some(error);
                    break;
                }
            }
        }
        let mut sink_error = None;
        if let Some(last) = last {
            self.drive(
                Target::Command(last),
                |event| {
                    if sink_error.is_none() {
                        if let Some(&owner) = event.id().and_then(|id| owner_of.get(&id)) {
                            sink_error = on_event(owner, event).err();
                        }
                    }
                    Ok(())
                },
                None::<&mut NoSink>,
            )
            .await?;
        }
        if let Some(refused) = refused {
            return Err(Error::Misuse(refused));
        }
        sink_error.map_or(Ok(()), |e| Err(Error::Sink(e)))
    }

    async fn body_in_memory(&mut self, command: Command<'_>) -> Result<Vec<u8>> {
        let limit = self.max_message_size;
        let mut body = Vec::new();
        self.run(command, |event| {
            if let Event::Body { chunk, .. } = event {
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(Error::TooLarge { limit });
                }
                body.extend_from_slice(chunk);
            }
            Ok(())
        })
        .await?;
        Ok(body)
    }

    async fn body<W>(&mut self, command: Command<'_>, sink: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut sink = BodySink {
            writer: sink,
            written: 0,
            error: None,
        };
        self.run_command(command, |_| Ok(()), Some(&mut sink))
            .await?;
        match sink.error {
            Some(error) => Err(Error::Sink(error)),
            None => Ok(sink.written),
        }
    }

    /// Sends one command and drives until it is answered. `-ERR` becomes [`Error::Server`].
    async fn run(
        &mut self,
        command: Command<'_>,
        on_event: impl FnMut(&Event<'_>) -> Result<()>,
    ) -> Result<()> {
        self.run_command(command, on_event, None::<&mut NoSink>)
            .await
    }

    /// Sends one command and drives until it is answered, handing its own events (no one else's) to `on_event`
    /// and its body to `sink`. The first handler error is returned once the response has been read to its end.
    async fn run_command<W>(
        &mut self,
        command: Command<'_>,
        mut on_event: impl FnMut(&Event<'_>) -> Result<()>,
        sink: Option<&mut BodySink<'_, W>>,
    ) -> Result<()>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.check_open()?;
        let id = self.client.send(command)?;
        let mut refusal = None;
        let mut handler_error = None;
        self.drive(
            Target::Command(id),
            |event| {
                if event.id() != Some(id) {
                    return Ok(());
                }
                if let Event::Err { reply, .. } = event {
                    refusal = Some(ServerError::from_reply(reply));
                }
                if handler_error.is_none() {
                    handler_error = on_event(event).err();
                }
                Ok(())
            },
            sink,
        )
        .await?;
        if let Some(refusal) = refusal {
            return Err(Error::Server(refusal));
        }
        handler_error.map_or(Ok(()), Err)
    }

    /// Refuses to go on after a failure, an end, or a cancelled command.
    fn check_open(&mut self) -> Result<()> {
        if self.busy {
            self.broken.get_or_insert(CANCELLED);
        }
        match self.broken {
            Some(why) => Err(Error::Closed(Some(why))),
            None => Ok(()),
        }
    }

    async fn read_greeting(&mut self) -> Result<()> {
        let mut refusal = None;
        self.drive(
            Target::Greeting,
            |event| {
                if let Event::Greeting { ok: false, reply } = event {
                    refusal = Some(ServerError::from_reply(reply));
                }
                Ok(())
            },
            None::<&mut NoSink>,
        )
        .await?;
        match refusal {
            Some(refusal) => {
                self.broken = Some("the server refused the session");
                Err(Error::Server(refusal))
            }
            None => Ok(()),
        }
    }

    async fn handshake(&mut self) -> Result<()> {
        let config = self
            .tls_config
            .clone()
            .ok_or(Error::Closed(Some("no TLS configuration")))?;
        // The whole handshake (two round trips at most) must fit in one read limit and in the response limit.
        let limit = match (self.timeouts.read, self.timeouts.response) {
            (Some(read), Some(response)) => Some(read.min(response)),
            (read, response) => read.or(response),
        };
        within(limit, self.transport.start_tls(config, &self.host))
            .await
            .map_err(|e| io_error(e, "during the TLS handshake"))?;
        self.trace.note(format_args!(
            "TLS established: {:?}",
            self.transport.tls_info().map(|i| i.version)
        ));
        Ok(())
    }

    /// Runs the core until `target` is reached, writing what it asks and reading what it needs. Any failure here
    /// ends the session, and so does dropping the future before it completes (the busy flag stays set).
    async fn drive<W>(
        &mut self,
        target: Target,
        on_event: impl FnMut(&Event<'_>) -> Result<()>,
        sink: Option<&mut BodySink<'_, W>>,
    ) -> Result<()>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.busy = true;
        let result = self.pump(target, on_event, sink).await;
        self.busy = false;
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

    async fn pump<W>(
        &mut self,
        target: Target,
        mut on_event: impl FnMut(&Event<'_>) -> Result<()>,
        mut sink: Option<&mut BodySink<'_, W>>,
    ) -> Result<()>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let deadline = self.timeouts.response.map(|limit| Instant::now() + limit);
        loop {
            let transport = &mut self.transport;
            match self.client.poll()? {
                Output::Transmit(transmit) => {
                    self.trace.sent(&transmit);
                    let bytes = transmit.bytes();
                    let write = async {
                        transport.write_all(bytes).await?;
                        transport.flush().await
                    };
                    within(self.timeouts.write, write)
                        .await
                        .map_err(|e| io_error(e, "writing to the server"))?;
                }
                Output::Event(event) => {
                    self.trace.received(&event);
                    let finished = match target {
                        Target::Greeting => matches!(event, Event::Greeting { .. }),
                        Target::Command(target) => event.finishes() == Some(target),
                        Target::Rest => false,
                    };
                    if let (Event::Body { id, chunk }, Some(sink), Target::Command(target)) =
                        (&event, sink.as_deref_mut(), target)
                    {
                        if *id == target && sink.error.is_none() {
                            match sink.writer.write_all(chunk).await {
                                Ok(()) => sink.written += chunk.len() as u64,
                                Err(error) => sink.error = Some(error),
                            }
                        }
                    }
                    on_event(&event)?;
                    if finished {
                        return Ok(());
                    }
                }
                Output::NeedInput => {
                    let limit = match deadline {
                        Some(deadline) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                return Err(Error::Timeout("waiting for the server's response"));
                            }
                            Some(self.timeouts.read.map_or(left, |read| read.min(left)))
                        }
                        None => self.timeouts.read,
                    };
                    let buffer = self.client.input_buffer();
                    match within(limit, transport.read(buffer)).await {
                        Ok(0) => self.client.handle_eof(),
                        Ok(n) => self.client.commit_input(n),
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                            self.client.handle_eof();
                        }
                        Err(error) => return Err(io_error(error, "waiting for the server")),
                    }
                }
                Output::StartTls => {
                    self.handshake().await?;
                    // The CAPA the core queues now is driven by this same loop, before the caller goes on.
                    self.client.handle_tls_established();
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

fn msg_num(msg: u64) -> Result<MsgNum> {
    MsgNum::new(msg).map_err(|e| Error::Misuse(SendError::from(e)))
}
