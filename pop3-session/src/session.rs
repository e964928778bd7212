//! The session every driver offers, written once: one method per POP3 command, as Python's `poplib` has, plus
//! login, pipelined batches and streaming. What a call returns depends on the driver: the result itself in a
//! blocking driver, a future of it in an async one ([`Driver::Call`]).

use std::time::Duration;

use pop3_proto::{Capabilities, ChannelBinding, Command, Mechanism, MsgNum, SendError, State};

use crate::builder::Builder;
use crate::conversation::Conversation;
use crate::error::{Error, Result, ServerError};
use crate::listing::{Listing, Part, RawResponse, ScanListing, Stat, UniqueIdListing};
use crate::op::{self, LoginMethod, Operation, Single};
use crate::settings::{Security, Settings};
use crate::tls::{self, TlsInfo, TlsOptions};

/// How a driver runs operations: the loop that moves bytes between the [`Conversation`] and its connection.
///
/// A driver is the connection (plain or TLS), the loop and the timer, nothing else: every protocol decision, every
/// result and error is this crate's. `pop3-blocking` implements it with `std::net`; [`Async`](crate::Async) with
/// any [`AsyncIo`](crate::AsyncIo) (futures-io or tokio streams).
pub trait Driver: Sized + Send {
    /// What a call returns: `Result<T>` for a blocking driver, a future of `Result<T>` for an async one.
    type Call<'a, T: 'a>
    where
        Self: 'a;

    /// Where `retr_to` and `top_to` write: `dyn std::io::Write` for a blocking driver, the runtime's async writer
    /// for an async one.
    type Sink<'s>: ?Sized
    where
        Self: 's;

    /// Runs `op` on `session`, delivering body chunks to `sink` if the operation streams one.
    fn call<'a, O: Operation + 'a>(
        session: &'a mut Session<Self>,
        op: O,
        sink: Option<&'a mut Self::Sink<'a>>,
    ) -> Self::Call<'a, O::Output>;

    /// The TLS connection, once TLS is up (for what it negotiated and for channel binding).
    fn tls_connection(&self) -> Option<&rustls::ClientConnection>;
}

/// A driver that opens its own TCP connections.
pub trait Connect: Driver {
    /// Resolves, connects and sets the session up as `settings` say.
    fn connect(settings: Settings) -> Self::Call<'static, Session<Self>>;
}

/// A driver that runs over a stream of type `S` the caller opened.
pub trait ConnectStream<S>: Driver {
    /// Sets the session up over `stream` as `settings` say.
    fn connect_stream(settings: Settings, stream: S) -> Self::Call<'static, Session<Self>>;
}

/// A POP3 session: one connection, the protocol core, and a method per command.
///
/// Each method sends its command (or a pipelined batch) and completes when the answer is complete. A `-ERR`
/// comes back as [`Error::Server`] and leaves the session usable, as do the other errors
/// [`Error::is_recoverable`] names; a protocol violation, a time limit, an I/O or TLS failure closes it, and every
/// later call returns [`Error::Closed`] saying why.
///
/// In a blocking driver each method returns `Result<T>`; in an async driver, a future of it (`D::Call<'_, T>` is
/// that type). Dropping an async call's future half-way closes the session: no later command can read the
/// bytes of an earlier one, and no guess is made about how much of the old answer is still on the way. A
/// future dropped before its first poll has done nothing.
#[derive(Debug)]
pub struct Session<D> {
    conversation: Conversation,
    driver: D,
}

fn msg_num(msg: u64) -> Result<MsgNum> {
    MsgNum::new(msg).map_err(|e| Error::Misuse(SendError::from(e)))
}

impl<D: Driver> Session<D> {
    /// A session over `driver`'s connection, before the greeting (for drivers: [`Connect::connect`] and
    /// [`ConnectStream::connect_stream`] then run [`Session::set_up`]).
    ///
    /// # Errors
    /// The TLS settings cannot make a configuration.
    pub fn new(settings: Settings, driver: D) -> Result<Self> {
        Ok(Self {
            conversation: Conversation::new(settings)?,
            driver,
        })
    }

    /// Reads the greeting and sets TLS up as `security` says (for drivers, after [`Session::new`]).
    pub fn set_up(&mut self, security: Security) -> D::Call<'_, ()> {
        D::call(self, op::Greeting::new(security), None)
    }

    /// The conversation and the driver, apart (for drivers).
    pub fn parts(&mut self) -> (&mut Conversation, &mut D) {
        (&mut self.conversation, &mut self.driver)
    }

    fn run<'a, O: Operation + 'a>(&'a mut self, op: O) -> D::Call<'a, O::Output> {
        D::call(self, op, None)
    }

    /// Runs a batch, asking CAPA first if the capabilities are not known yet, so that it is pipelined whenever
    /// the server allows it.
    /// A batch refused before it was made (a message number of 0) sends nothing, not even CAPA.
    fn run_batch<'a, O: Operation + 'a>(&'a mut self, op: Result<O>) -> D::Call<'a, O::Output> {
        match op {
            Ok(op) => {
                let ask = self.conversation.probe_capabilities();
                self.run(op::WithCapabilities::new(op, ask))
            }
            Err(error) => self.run(Err::<O, _>(error)),
        }
    }

    /// Settings for a connection to `host`; see [`Builder`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use std::time::Duration;
    /// use pop3_blocking::{Security, Session};
    ///
    /// let builder = Session::builder("pop.example.com").security(Security::Implicit).timeout(Duration::from_secs(30));
    /// let mut session = builder.connect()?; // a builder opens as many sessions as asked
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(host: impl Into<String>) -> Builder<D> {
        Builder::new(host)
    }

    /// The greeting's text after `+OK` (poplib's `getwelcome`).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// println!("{}", String::from_utf8_lossy(session.greeting()));
    /// # Ok(()) }
    /// ```
    pub fn greeting(&self) -> &[u8] {
        self.conversation.client().greeting().unwrap_or_default()
    }

    /// The protocol state (RFC 1939 §3).
    pub fn state(&self) -> State {
        self.conversation.client().state()
    }

    /// The capabilities from the last CAPA, if any (forgotten and asked again after STLS).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.conversation.client().capabilities()
    }

    /// What TLS negotiated, read from the connection; `None` without TLS.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// if let Some(tls) = session.tls_info() {
    ///     println!("{:?} {:?}, resumed: {}", tls.version, tls.cipher_suite, tls.resumed);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.driver.tls_connection().map(TlsInfo::of)
    }

    /// Whether the connection is encrypted now.
    pub fn is_encrypted(&self) -> bool {
        self.driver.tls_connection().is_some()
    }

    /// RFC 9266 `tls-exporter` channel binding for SCRAM `-PLUS`, when TLS 1.3 is up.
    pub fn channel_binding(&self) -> Option<ChannelBinding> {
        self.driver.tls_connection().and_then(tls::channel_binding)
    }

    /// Sets the protocol trace level (poplib's `set_debuglevel`): 0 off, 1 commands and status lines, 2 every
    /// event. Passwords, APOP digests and SASL messages are always redacted.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// session.set_debuglevel(1); // commands and status lines, to the `log` facade at info
    /// session.noop()?;
    /// session.set_debuglevel(0);
    /// # Ok(()) }
    /// ```
    pub fn set_debuglevel(&mut self, level: u8) {
        self.conversation.set_debuglevel(level);
    }

    /// CAPA (RFC 2449). Also kept for [`Session::capabilities`].
    ///
    /// # Errors
    /// `-ERR` if the server has no CAPA, or any session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// let capabilities = session.capa()?;
    /// println!("pipelining: {}, UIDL: {}", capabilities.pipelining(), capabilities.uidl());
    /// # Ok(()) }
    /// ```
    pub fn capa(&mut self) -> D::Call<'_, Capabilities> {
        self.run(Single::new(Ok(Command::Capa), op::Capa::default()))
    }

    /// STLS (RFC 2595): upgrades to TLS, then asks CAPA again over it.
    ///
    /// # Errors
    /// [`Error::TlsUnavailable`] on `-ERR` (the session stays in plaintext, usable if the caller decides so); TLS
    /// errors close the session.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use pop3_blocking::{Security, Session};
    ///
    /// // `Security::StartTls` does this when connecting; here it is by hand, on port 110.
    /// let mut session = Session::builder("pop.example.com").security(Security::Plaintext).connect()?;
    /// session.stls()?; // a refusal is Error::TlsUnavailable, and nothing secret has been sent
    /// assert!(session.is_encrypted());
    /// session.login("alice", "secret")?;
    /// # Ok(()) }
    /// ```
    pub fn stls(&mut self) -> D::Call<'_, ()> {
        self.run(op::StartTls::new())
    }

    /// USER (RFC 1939 §7).
    ///
    /// # Errors
    /// `-ERR`, a refused argument, or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// session.user("alice")?;
    /// session.pass("secret")?;
    /// # Ok(()) }
    /// ```
    pub fn user<'a>(&'a mut self, name: &'a str) -> D::Call<'a, ()> {
        self.run(Single::new(Ok(Command::User(name)), op::Nothing))
    }

    /// PASS (RFC 1939 §7).
    ///
    /// # Errors
    /// `-ERR` (wrong password: see the code), a refused argument, or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// session.user("alice")?;
    /// session.pass("secret")?;
    /// # Ok(()) }
    /// ```
    pub fn pass<'a>(&'a mut self, password: &'a str) -> D::Call<'a, ()> {
        self.run(Single::new(Ok(Command::Pass(password)), op::Nothing))
    }

    /// APOP (RFC 1939 §7), with the greeting's timestamp.
    ///
    /// # Errors
    /// No valid timestamp in the greeting, `-ERR`, or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// session.apop("alice", "secret")?; // needs a timestamp in the greeting
    /// # Ok(()) }
    /// ```
    pub fn apop<'a>(&'a mut self, user: &'a str, password: &'a str) -> D::Call<'a, ()> {
        self.run(Single::new(
            Ok(Command::Apop { user, password }),
            op::Nothing,
        ))
    }

    /// RPOP (RFC 1081), after USER.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    pub fn rpop<'a>(&'a mut self, user: &'a str) -> D::Call<'a, ()> {
        self.run(Single::new(Ok(Command::Rpop(user)), op::Nothing))
    }

    /// AUTH (RFC 5034) with a SASL mechanism. A SCRAM mechanism given an empty nonce gets a random one here.
    ///
    /// # Errors
    /// `-ERR` (with the OAuth error details when the server sent some), a cancelled exchange, a server that failed
    /// to prove itself (SCRAM), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// use pop3_blocking::Mechanism;
    ///
    /// // An OAuth 2.0 access token (Gmail, Outlook), as SASL XOAUTH2.
    /// let token = "ya29.a0Af…";
    /// session.auth(Mechanism::XOAuth2 { user: "alice@example.com".into(), token: token.into() })?;
    /// # Ok(()) }
    /// ```
    pub fn auth(&mut self, mut mechanism: Mechanism) -> D::Call<'_, ()> {
        let command = match &mut mechanism {
            Mechanism::ScramSha1 { nonce, .. } | Mechanism::ScramSha256 { nonce, .. }
                if nonce.is_empty() =>
            {
                self.conversation.nonce().map(|fresh| *nonce = fresh)
            }
            _ => Ok(()),
        };
        let command = command.map(|()| Command::Auth(mechanism));
        self.run(Single::new(command, op::Auth::default()))
    }

    /// Logs in with the strongest method the server offers ([`choose_login`](crate::choose_login)), asking CAPA
    /// first if the capabilities are not known, and saying UTF8 first if [`Builder::utf8_when_offered`] asks for
    /// it. Never falls back to a weaker method after a failure. Returns the method used.
    ///
    /// # Errors
    /// As the method chosen.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// let method = session.login("alice", "secret")?;
    /// println!("logged in with {method:?}");
    /// # Ok(()) }
    /// ```
    pub fn login<'a>(&'a mut self, user: &'a str, password: &'a str) -> D::Call<'a, LoginMethod> {
        let login = self.login_op(user, password);
        self.run(login)
    }

    /// The method [`Session::login`] would use now: the one named with [`Builder::login_method`], else the strongest
    /// offered by the capabilities known so far (none before CAPA is answered) and the greeting. For a caller that
    /// must know whether the login is one line, which may carry the first commands behind it.
    pub fn login_method(&self) -> LoginMethod {
        op::login_method(
            self.conversation.settings().login_method,
            self.conversation.client(),
        )
    }

    /// What this session learnt of the server that the next one may use before its own CAPA is answered (whether
    /// it pipelines), for [`Builder::known_capabilities`]; its text form is meant for a state file. `None` until
    /// CAPA was answered.
    pub fn known_capabilities(&self) -> Option<crate::KnownCapabilities> {
        self.conversation.known_capabilities()
    }

    /// Logs in as [`Session::login`] does and asks STAT: when the server pipelines and the login is USER/PASS or
    /// APOP, STAT travels behind the credentials, so the login and the first answer take one round trip. What a
    /// poller asks first.
    ///
    /// # Errors
    /// The login's failure comes first, as [`Session::login`]'s (STAT, answered `-ERR` behind a refused login,
    /// changed nothing); then STAT's.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// let (_method, stat) = session.login_and_stat("alice", "secret")?;
    /// println!("{} messages", stat.count);
    /// # Ok(()) }
    /// ```
    pub fn login_and_stat<'a>(
        &'a mut self,
        user: &'a str,
        password: &'a str,
    ) -> D::Call<'a, (LoginMethod, Stat)> {
        let stat = Single::new(Ok(Command::Stat), op::Stat::default());
        let login = self.login_op(user, password);
        self.run(op::LoginThen::new(login, stat))
    }

    /// Logs in as [`Session::login`] does and asks the listing as [`Session::listing`] does (LIST and UIDL): when
    /// the server pipelines and the login is USER/PASS or APOP, both travel behind the credentials, so the login
    /// and the listing take one round trip. What a fetcher asks first.
    ///
    /// # Errors
    /// The login's failure comes first, as [`Session::login`]'s (LIST and UIDL, answered `-ERR` behind a refused
    /// login, changed nothing); then the listing's.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// let (_method, listing) = session.login_and_listing("alice", "secret")?;
    /// println!("{} messages", listing.len());
    /// # Ok(()) }
    /// ```
    pub fn login_and_listing<'a>(
        &'a mut self,
        user: &'a str,
        password: &'a str,
    ) -> D::Call<'a, (LoginMethod, Vec<Listing>)> {
        let listing = op::ListingBoth::both(self.conversation.settings().max_listing_entries);
        let login = self.login_op(user, password);
        self.run(op::LoginThen::new(login, listing))
    }

    /// As [`Session::login_and_listing`], with QUIT behind the listing: a poll that only looks (nothing is
    /// deleted) ends in the same write. With the server known to pipeline ([`Builder::known_capabilities`]) and
    /// USER/PASS named ([`Builder::login_method`]), the whole session after the greeting is one round trip, the
    /// fewest POP3 allows. The session is over afterwards, whatever the outcome.
    ///
    /// # Errors
    /// As [`Session::login_and_listing`]; then QUIT's `-ERR`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// let (_method, listing) = session.login_listing_and_quit("alice", "secret")?;
    /// println!("{} messages", listing.len());
    /// # Ok(()) }
    /// ```
    pub fn login_listing_and_quit<'a>(
        &'a mut self,
        user: &'a str,
        password: &'a str,
    ) -> D::Call<'a, (LoginMethod, Vec<Listing>)> {
        let listing = op::ListingBoth::both(self.conversation.settings().max_listing_entries);
        let login = self.login_op(user, password);
        self.run(op::LoginThen::new(login, op::ThenQuit::new(listing)))
    }

    fn login_op<'a>(&self, user: &'a str, password: &'a str) -> op::Login<'a> {
        let nonce = self.conversation.nonce().unwrap_or_default();
        let settings = self.conversation.settings();
        op::Login::new(user, password, nonce, settings.utf8_step())
            .with_method(settings.login_method)
    }

    /// STAT (RFC 1939 §5).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let stat = session.stat()?;
    /// println!("{} messages, {} octets", stat.count, stat.octets);
    /// # Ok(()) }
    /// ```
    pub fn stat(&mut self) -> D::Call<'_, Stat> {
        self.run(Single::new(Ok(Command::Stat), op::Stat::default()))
    }

    /// LIST (RFC 1939 §5): every message and its size.
    ///
    /// # Errors
    /// `-ERR`, a listing over [`Builder::max_listing_entries`], or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// for entry in session.list()? {
    ///     println!("message {}: {} octets", entry.msg, entry.octets);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(&mut self) -> D::Call<'_, Vec<ScanListing>> {
        let collector = op::ListAll::bounded(self.conversation.settings().max_listing_entries);
        self.run(Single::new(Ok(Command::List(None)), collector))
    }

    /// LIST n (RFC 1939 §5).
    ///
    /// # Errors
    /// Message 0, `-ERR` (no such message), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let entry = session.list_one(1)?;
    /// println!("message 1: {} octets", entry.octets);
    /// # Ok(()) }
    /// ```
    pub fn list_one(&mut self, msg: u64) -> D::Call<'_, ScanListing> {
        let command = msg_num(msg).map(|msg| Command::List(Some(msg)));
        self.run(Single::new(command, op::ListOne::new()))
    }

    /// UIDL (RFC 1939 §7): every message and its unique id.
    ///
    /// # Errors
    /// `-ERR` (the server has no UIDL), a listing over [`Builder::max_listing_entries`], or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let seen: std::collections::HashSet<String> = Default::default(); // ids stored in an earlier session
    /// for entry in session.uidl()? {
    ///     if !seen.contains(&entry.uid) {
    ///         println!("message {} is new", entry.msg);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn uidl(&mut self) -> D::Call<'_, Vec<UniqueIdListing>> {
        let collector = op::UidlAll::bounded(self.conversation.settings().max_listing_entries);
        self.run(Single::new(Ok(Command::Uidl(None)), collector))
    }

    /// UIDL n (RFC 1939 §7).
    ///
    /// # Errors
    /// Message 0, `-ERR`, or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let entry = session.uidl_one(1)?;
    /// println!("message 1 is {}", entry.uid);
    /// # Ok(()) }
    /// ```
    pub fn uidl_one(&mut self, msg: u64) -> D::Call<'_, UniqueIdListing> {
        let command = msg_num(msg).map(|msg| Command::Uidl(Some(msg)));
        self.run(Single::new(command, op::UidlOne::new()))
    }

    /// RETR (RFC 1939 §5) into memory, up to [`Builder::max_message_size`].
    ///
    /// # Errors
    /// Message 0, `-ERR`, [`Error::TooLarge`] (the session stays usable: stream it with
    /// [`retr_to`](Self::retr_to)), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let message = session.retr(1)?;
    /// std::fs::write("1.eml", &message)?;
    /// # Ok(()) }
    /// ```
    pub fn retr(&mut self, msg: u64) -> D::Call<'_, Vec<u8>> {
        let body = op::Memory::bounded(self.conversation.settings().max_message_size);
        self.run(Single::new(msg_num(msg).map(Command::Retr), body))
    }

    /// RETR (RFC 1939 §5), streamed into `sink` in constant memory. Returns the octets written.
    ///
    /// # Errors
    /// Message 0, `-ERR`, [`Error::Sink`] if `sink` failed (the rest of the answer is read; the session stays
    /// usable), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let mut file = std::fs::File::create("1.eml")?;
    /// let octets = session.retr_to(1, &mut file)?; // any size, constant memory
    /// file.sync_all()?;
    /// println!("{octets} octets stored");
    /// # Ok(()) }
    /// ```
    pub fn retr_to<'a>(&'a mut self, msg: u64, sink: &'a mut D::Sink<'a>) -> D::Call<'a, u64> {
        let op = Single::new(msg_num(msg).map(Command::Retr), op::Streamed::default());
        D::call(self, op, Some(sink))
    }

    /// TOP (RFC 1939 §7): the header and the first `lines` body lines, into memory.
    ///
    /// # Errors
    /// As [`Session::retr`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let header = session.top(1, 0)?; // the header and no body line
    /// let subject = header.split(|&b| b == b'\n').find(|line| line.starts_with(b"Subject:"));
    /// # Ok(()) }
    /// ```
    pub fn top(&mut self, msg: u64, lines: u64) -> D::Call<'_, Vec<u8>> {
        let body = op::Memory::bounded(self.conversation.settings().max_message_size);
        let command = msg_num(msg).map(|msg| Command::Top { msg, lines });
        self.run(Single::new(command, body))
    }

    /// TOP (RFC 1939 §7), streamed into `sink`.
    ///
    /// # Errors
    /// As [`Session::retr_to`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let mut preview = Vec::new();
    /// session.top_to(1, 10, &mut preview)?; // the header and the first 10 body lines
    /// # Ok(()) }
    /// ```
    pub fn top_to<'a>(
        &'a mut self,
        msg: u64,
        lines: u64,
        sink: &'a mut D::Sink<'a>,
    ) -> D::Call<'a, u64> {
        let command = msg_num(msg).map(|msg| Command::Top { msg, lines });
        D::call(
            self,
            Single::new(command, op::Streamed::default()),
            Some(sink),
        )
    }

    /// DELE (RFC 1939 §5): marks a message; QUIT commits, RSET undoes.
    ///
    /// # Errors
    /// Message 0, `-ERR`, or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// session.dele(1)?; // marked
    /// session.quit()?; // deleted now
    /// # Ok(()) }
    /// ```
    pub fn dele(&mut self, msg: u64) -> D::Call<'_, ()> {
        self.run(Single::new(msg_num(msg).map(Command::Dele), op::Nothing))
    }

    /// RSET (RFC 1939 §5): unmarks every deleted message.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// session.dele(1)?;
    /// session.rset()?; // message 1 is kept after all
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn rset(&mut self) -> D::Call<'_, ()> {
        self.run(Single::new(Ok(Command::Rset), op::Nothing))
    }

    /// NOOP (RFC 1939 §5).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// session.noop()?; // keeps an idle session from timing out on the server
    /// # Ok(()) }
    /// ```
    pub fn noop(&mut self) -> D::Call<'_, ()> {
        self.run(Single::new(Ok(Command::Noop), op::Nothing))
    }

    /// QUIT (RFC 1939 §6): in Transaction, commits deletions. The connection is closed afterwards, whatever the
    /// answer, and every later call is refused.
    ///
    /// # Errors
    /// `-ERR` (in Transaction: deletions may not have been committed) or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// session.dele(1)?;
    /// session.quit()?; // the server deletes message 1 now
    /// # Ok(()) }
    /// ```
    pub fn quit(&mut self) -> D::Call<'_, ()> {
        self.run(op::Quit::new())
    }

    /// UTF8 (RFC 6856 §2), before logging in: the server then sends messages and text as UTF-8, unchanged. A
    /// server that offers it may otherwise replace a message with 8-bit headers by a notice (Courier does); a
    /// fetcher that stores messages as sent should say UTF8 whenever [`Capabilities::utf8`] is set, or let
    /// [`Session::login`] do it ([`Builder::utf8_when_offered`]).
    ///
    /// # Errors
    /// `-ERR` or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// if session.capa()?.utf8() {
    ///     session.utf8()?;
    /// }
    /// session.login("alice", "secret")?;
    /// # Ok(()) }
    /// ```
    pub fn utf8(&mut self) -> D::Call<'_, ()> {
        self.run(Single::new(Ok(Command::Utf8), op::Nothing))
    }

    /// LANG (RFC 6856 §3): with a tag, switches the server's language; without, lists the languages.
    ///
    /// # Errors
    /// `-ERR` or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// for language in session.lang(None)? {
    ///     println!("{}", String::from_utf8_lossy(&language));
    /// }
    /// session.lang(Some("de"))?;
    /// # Ok(()) }
    /// ```
    pub fn lang<'a>(&'a mut self, tag: Option<&'a str>) -> D::Call<'a, Vec<Vec<u8>>> {
        let collector = op::Lang::bounded(self.conversation.settings().max_listing_entries);
        self.run(Single::new(Ok(Command::Lang(tag)), collector))
    }

    /// Sends any other command line. The caller says whether a `+OK` answer is multi-line. Commands that change
    /// the session state (USER, PASS, APOP, AUTH, STLS, QUIT…) must use their own methods.
    ///
    /// # Errors
    /// A refused line, `-ERR`, or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let answer = session.raw("XTND XMIT", false)?;
    /// println!("{}", String::from_utf8_lossy(&answer.text));
    /// # Ok(()) }
    /// ```
    pub fn raw<'a>(&'a mut self, line: &'a str, multiline: bool) -> D::Call<'a, RawResponse> {
        let collector = op::Raw::bounded(self.conversation.settings().max_message_size);
        self.run(Single::new(Ok(Command::Raw { line, multiline }), collector))
    }

    /// RETR for many messages, pipelined when the server allows it (CAPA is asked first if the capabilities are
    /// not known yet, once per session). `on_part` gets each message's data in order,
    /// then [`Part::End`], or [`Part::Refused`] for a message the server would not give.
    ///
    /// # Errors
    /// A message number of 0 (nothing is sent), [`Error::Sink`] if `on_part` failed (every response is still read
    /// to its end), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// use std::io::Write as _;
    /// use pop3_blocking::Part;
    ///
    /// let mut files = std::collections::HashMap::new();
    /// session.retr_many(&[1, 2, 3], |msg, part| {
    ///     match part {
    ///         Part::Data(bytes) => files.entry(msg).or_insert_with(Vec::new).write_all(bytes)?,
    ///         Part::End => println!("message {msg} complete"),
    ///         Part::Refused(error) => println!("message {msg} refused: {error}"),
    ///         _ => {}
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn retr_many<'a, F>(&'a mut self, msgs: &[u64], on_part: F) -> D::Call<'a, ()>
    where
        F: FnMut(u64, Part<'_>) -> std::io::Result<()> + Send + 'a,
    {
        self.run_batch(op::RetrMany::retr(msgs, on_part))
    }

    /// As [`Session::retr_many`], with QUIT behind the last RETR: a fetch that leaves the messages on the server
    /// ends in the same write as its commands. The session is over afterwards, whatever the outcome.
    ///
    /// RFC 1939 allows it, but a server may end the connection as soon as it has read QUIT: Dovecot 2.3 behind TLS
    /// was seen to cut a large last message that way (in 2 of 25 runs of one fetch that stores as it reads; with
    /// QUIT sent apart, never). The cut is reported as an error, never as a short message; where that matters more
    /// than one round trip, use [`Session::retr_many`] and then [`Session::quit`], as pop3-fetch does.
    ///
    /// # Errors
    /// As [`Session::retr_many`]; then QUIT's `-ERR`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let mut octets = 0;
    /// session.retr_many_and_quit(&[1, 2], |_, part| {
    ///     if let pop3_blocking::Part::Data(bytes) = part {
    ///         octets += bytes.len();
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn retr_many_and_quit<'a, F>(&'a mut self, msgs: &[u64], on_part: F) -> D::Call<'a, ()>
    where
        F: FnMut(u64, Part<'_>) -> std::io::Result<()> + Send + 'a,
    {
        self.run_batch(op::RetrMany::retr(msgs, on_part).map(op::ThenQuit::new))
    }

    /// DELE for many messages, pipelined when the server allows it (see [`Session::retr_many`]). Returns each message's outcome, in order.
    ///
    /// # Errors
    /// A message number of 0 (nothing is sent), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let outcomes = session.dele_many(&[1, 2, 3])?;
    /// for (msg, outcome) in [1, 2, 3].iter().zip(outcomes) {
    ///     if let Err(refused) = outcome {
    ///         println!("message {msg} stays: {refused}");
    ///     }
    /// }
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn dele_many(
        &mut self,
        msgs: &[u64],
    ) -> D::Call<'_, Vec<std::result::Result<(), ServerError>>> {
        self.run_batch(op::DeleMany::dele(msgs))
    }

    /// DELE for many messages, then QUIT, pipelined together when the server allows it: the deletions and the end
    /// of the session take one round trip. Returns each message's outcome, in order; the server applies the
    /// deletions only once QUIT is answered `+OK`, which this call waits for. The session is over afterwards,
    /// whatever the outcome.
    ///
    /// # Errors
    /// A message number of 0 (nothing is sent, and the session stays open), QUIT refused (the server could not
    /// remove the messages: none of them is deleted), or a session error.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// let outcomes = session.dele_many_and_quit(&[1, 2, 3])?;
    /// assert!(outcomes.iter().all(Result::is_ok), "every message deleted");
    /// # Ok(()) }
    /// ```
    pub fn dele_many_and_quit(
        &mut self,
        msgs: &[u64],
    ) -> D::Call<'_, Vec<std::result::Result<(), ServerError>>> {
        self.run_batch(op::DeleMany::dele(msgs).map(op::ThenQuit::new))
    }

    /// LIST and UIDL together, pipelined when the server allows it (see [`Session::retr_many`]): every message with its size and, if the
    /// server answers UIDL, its unique id. One round trip instead of two, which is what a fetcher asks first.
    ///
    /// # Errors
    /// `-ERR` to LIST, or a session error. A `-ERR` to UIDL (a server without it) only leaves every `uid` empty.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// # let mut session = pop3_blocking::Session::builder("pop.example.com").connect()?;
    /// # session.login("alice", "secret")?;
    /// for entry in session.listing()? {
    ///     println!("message {}: {} octets, id {:?}", entry.msg, entry.octets, entry.uid);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn listing(&mut self) -> D::Call<'_, Vec<Listing>> {
        let listing = op::ListingBoth::both(self.conversation.settings().max_listing_entries);
        self.run_batch(Ok(listing))
    }
}

impl<D: Connect> Session<D> {
    /// Connects without TLS, as poplib's `POP3(host, port, timeout)`. Credentials then need
    /// [`Builder::allow_plaintext_credentials`]; prefer [`Session::connect_tls`].
    ///
    /// # Errors
    /// The connection or the greeting failed.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use std::time::Duration;
    /// use pop3_blocking::Session;
    ///
    /// // poplib's POP3("localhost", 110, 30): no TLS, so only for a server on this machine.
    /// let mut session = Session::connect("localhost", 110, Duration::from_secs(30))?;
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn connect(host: &str, port: u16, timeout: Duration) -> D::Call<'static, Self> {
        D::connect(
            Builder::<D>::new(host)
                .port(port)
                .security(Security::Plaintext)
                .timeout(timeout)
                .settings()
                .clone(),
        )
    }

    /// Connects with implicit TLS, as poplib's `POP3_SSL(host, port, context=…, timeout)`.
    ///
    /// # Errors
    /// The connection, TLS or the greeting failed.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # fn main() -> pop3_blocking::Result<()> {
    /// use std::time::Duration;
    /// use pop3_blocking::{Session, TlsOptions};
    ///
    /// // poplib's POP3_SSL("pop.example.com", 995, timeout=30).
    /// let mut session = Session::connect_tls("pop.example.com", 995, TlsOptions::default(), Duration::from_secs(30))?;
    /// session.quit()?;
    /// # Ok(()) }
    /// ```
    pub fn connect_tls(
        host: &str,
        port: u16,
        tls: TlsOptions,
        timeout: Duration,
    ) -> D::Call<'static, Self> {
        D::connect(
            Builder::<D>::new(host)
                .port(port)
                .security(Security::Implicit)
                .tls(tls)
                .timeout(timeout)
                .settings()
                .clone(),
        )
    }
}

/// An operation that may have been refused before it was made: the refusal is its result, through the same
/// call, so every method has one return type.
impl<O: Operation> op::Exchange for Result<O> {
    type Output = O::Output;
    fn start(&mut self, client: &mut pop3_proto::Client) -> Result<op::Flow> {
        match self {
            Ok(op) => op.start(client),
            Err(error) => Err(std::mem::replace(error, Error::Closed(None))),
        }
    }
    fn on_event(&mut self, event: &pop3_proto::Event<'_>) -> op::Flow {
        match self {
            Ok(op) => op.on_event(event),
            Err(_) => op::Flow::Finished,
        }
    }
    fn resume(&mut self, client: &mut pop3_proto::Client) -> Result<op::Flow> {
        match self {
            Ok(op) => op.resume(client),
            Err(_) => Ok(op::Flow::Finished),
        }
    }
    fn finish(self) -> Result<O::Output> {
        self.and_then(O::finish)
    }
}
