//! The one [`Adapter`] every driver of `pop3-session` runs the scenarios through.
//!
//! Every driver offers the same [`Session`], [`Builder`] and [`Error`]; they differ only in what a call returns
//! (`D::Call<'_, T>`: the result itself, or a future of it), in the sink `retr_to` writes into, and in the stream
//! `connect_stream` takes. A driver's test file says how with [`SyncDriver`], in a few lines, and hands
//! [`ClientAdapter`] to [`all_scenarios!`](crate::all_scenarios):
//!
//! ```text
//! struct Blocking;
//! impl pop3_testkit::adapter::SyncDriver for Blocking {
//!     type Driver = pop3_blocking::Blocking;
//!     type Stream = std::net::TcpStream;
//!     fn wait<'a, T: 'a>(call: pop3_blocking::Result<T>) -> pop3_blocking::Result<T> { call }
//!     /* adopt, retr_to */
//! }
//! pop3_testkit::all_scenarios!(pop3_testkit::adapter::ClientAdapter::<Blocking>::new());
//! ```

use std::fmt;
use std::io::{self, Write};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpStream};

use pop3_session::{
    Builder, Connect, ConnectStream, Driver, Error, Part, Result, ServerError, ServerRefusal,
    Session,
};

/// The client layer [`SyncDriver`]'s signatures name, for a driver crate's test that does not depend on it
/// directly (an async driver is `pop3_session::Async<Transport>`).
pub use pop3_session;

use crate::scenarios::{
    self, Adapter, Capabilities, ConnectSpec, ErrorKind, Listed, Mechanism, RawReply,
    RetrManyCollector, Scan, SessionUnderTest, Stat, TestError, TestResult, UniqueId,
};

/// What the scenarios need to know of a driver to run it synchronously, one call at a time.
pub trait SyncDriver: 'static {
    /// The driver under test.
    type Driver: Connect + ConnectStream<Self::Stream> + fmt::Debug + 'static;

    /// The stream `connect_stream` takes when a scenario opens the TCP connection itself (to verify TLS against
    /// another name than the address it connects to).
    type Stream;

    /// Runs one call to its result: the call itself for a blocking driver, `block_on` of it for an async one.
    ///
    /// # Errors
    /// The call's own.
    fn wait<'a, T: 'a>(call: <Self::Driver as Driver>::Call<'a, T>) -> Result<T>;

    /// The driver's stream over a TCP connection the scenario opened.
    ///
    /// # Errors
    /// The stream cannot be made (a runtime refused the socket).
    fn adopt(tcp: TcpStream) -> io::Result<Self::Stream>;

    /// `retr_to` into a synchronous sink, adapted to the sink the driver takes.
    ///
    /// # Errors
    /// The call's own.
    fn retr_to(
        session: &mut Session<Self::Driver>,
        msg: u64,
        sink: &mut (dyn Write + Send),
    ) -> Result<u64>;
}

/// The scenarios' [`Adapter`] for the driver `S` names.
pub struct ClientAdapter<S>(PhantomData<fn() -> S>);

impl<S> ClientAdapter<S> {
    /// The adapter.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<S> Default for ClientAdapter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> fmt::Debug for ClientAdapter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientAdapter<{}>", std::any::type_name::<S>())
    }
}

impl<S: SyncDriver> Adapter for ClientAdapter<S> {
    type Session = ClientSession<S>;

    fn connect(&self, spec: &ConnectSpec) -> TestResult<ClientSession<S>> {
        let builder = builder::<S::Driver>(spec)?;
        let session = match spec.connect_to {
            None => S::wait(builder.connect()),
            Some(addr) => open(addr, &spec.timeouts)
                .and_then(S::adopt)
                .map_err(|e| Error::from_io(e, "connecting"))
                .and_then(|stream| S::wait(builder.connect_stream(stream))),
        };
        check(session).map(|session| ClientSession(session, PhantomData))
    }
}

/// The builder `spec` describes.
fn builder<D>(spec: &ConnectSpec) -> TestResult<Builder<D>> {
    let mut timeouts = pop3_session::Timeouts::default();
    timeouts.connect = spec.timeouts.connect;
    timeouts.read = spec.timeouts.read;
    timeouts.write = spec.timeouts.read;
    timeouts.response = spec.timeouts.response;
    let mut builder = Builder::<D>::new(&spec.host)
        .port(spec.port)
        .security(match spec.security {
            scenarios::Security::Implicit => pop3_session::Security::Implicit,
            scenarios::Security::StartTls => pop3_session::Security::StartTls,
            scenarios::Security::StartTlsIfAvailable => pop3_session::Security::StartTlsIfAvailable,
            scenarios::Security::Plaintext => pop3_session::Security::Plaintext,
        })
        .timeouts(timeouts)
        .debug_level(spec.debug_level);
    if let Some(pem) = &spec.ca_pem {
        builder = builder.tls(check(pop3_session::TlsOptions::default().ca_pem(pem))?);
    }
    if spec.allow_plaintext_credentials {
        builder = builder.allow_plaintext_credentials();
    }
    if let Some(limit) = spec.max_message_size {
        builder = builder.max_message_size(limit);
    }
    if let Some(limit) = spec.max_listing_entries {
        builder = builder.max_listing_entries(limit);
    }
    if let Some(trace) = &spec.trace {
        builder = builder.trace_to(trace.clone());
    }
    Ok(builder)
}

/// A TCP connection to `addr` within the connect limit, with the read limit on the socket: a blocking driver
/// cannot set limits on a stream it was handed, and an async one does not block on the socket.
fn open(addr: SocketAddr, timeouts: &scenarios::Timeouts) -> io::Result<TcpStream> {
    let tcp = match timeouts.connect {
        Some(limit) => TcpStream::connect_timeout(&addr, limit)?,
        None => TcpStream::connect(addr)?,
    };
    tcp.set_read_timeout(timeouts.read)?;
    tcp.set_write_timeout(timeouts.read)?;
    Ok(tcp)
}

/// Classifies an error in the adapter-neutral terms of the scenarios.
fn classify(error: Error) -> TestError {
    let code = |e: &ServerError| {
        e.code().map(|code| {
            let shown = code.to_string();
            shown
                .strip_prefix('[')
                .and_then(|c| c.strip_suffix(']'))
                .unwrap_or(&shown)
                .to_owned()
        })
    };
    let kind = match &error {
        Error::Io(_) => ErrorKind::Io,
        Error::Tls(_) => ErrorKind::Tls,
        Error::Timeout(_) => ErrorKind::Timeout,
        Error::Protocol(inner) => ErrorKind::Protocol(Some(inner.clone())),
        Error::Server(e) => ErrorKind::Server { code: code(e) },
        Error::TlsUnavailable(ServerRefusal::Refused(e)) => {
            ErrorKind::TlsUnavailable { code: code(e) }
        }
        Error::TlsUnavailable(_) => ErrorKind::TlsUnavailable { code: None },
        Error::Misuse(inner) => ErrorKind::Misuse(Some(inner.clone())),
        Error::Invalid(inner) => ErrorKind::Invalid(inner.clone()),
        Error::TooLarge { .. } | Error::ListingTooLong { .. } => ErrorKind::TooLarge,
        Error::Sink(_) => ErrorKind::Sink,
        Error::Closed(_) => ErrorKind::Closed,
        other => panic!("unclassified error: {other}"),
    };
    let server = error.server_error();
    let text = server.map(|e| e.text().to_vec()).unwrap_or_default();
    let details = server.and_then(|e| e.details().map(<[u8]>::to_vec));
    TestError::new(kind, &error)
        .with_text(&text)
        .with_details(details.as_deref())
}

fn check<T>(result: Result<T>) -> TestResult<T> {
    result.map_err(classify)
}

/// A session of the driver `S` names, each call run to its result.
pub struct ClientSession<S: SyncDriver>(Session<S::Driver>, PhantomData<fn() -> S>);

impl<S: SyncDriver> fmt::Debug for ClientSession<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession").finish_non_exhaustive()
    }
}

impl<S: SyncDriver> SessionUnderTest for ClientSession<S> {
    fn greeting(&self) -> Vec<u8> {
        self.0.greeting().to_vec()
    }

    fn is_encrypted(&self) -> bool {
        self.0.is_encrypted()
    }

    fn debug_text(&self) -> String {
        format!("{:?}", self.0)
    }

    fn tls_alpn(&self) -> Option<Vec<u8>> {
        self.0.tls_info().and_then(|info| info.alpn)
    }

    fn capa(&mut self) -> TestResult<Capabilities> {
        check(S::wait(self.0.capa()))
    }

    fn stls(&mut self) -> TestResult<()> {
        check(S::wait(self.0.stls()))
    }

    fn login(&mut self, user: &str, password: &str) -> TestResult<String> {
        check(S::wait(self.0.login(user, password))).map(|method| method.name().to_owned())
    }

    fn user(&mut self, name: &str) -> TestResult<()> {
        check(S::wait(self.0.user(name)))
    }

    fn pass(&mut self, password: &str) -> TestResult<()> {
        check(S::wait(self.0.pass(password)))
    }

    fn apop(&mut self, user: &str, password: &str) -> TestResult<()> {
        check(S::wait(self.0.apop(user, password)))
    }

    fn auth(&mut self, mechanism: Mechanism) -> TestResult<()> {
        check(S::wait(self.0.auth(mechanism)))
    }

    fn stat(&mut self) -> TestResult<Stat> {
        check(S::wait(self.0.stat())).map(|s| Stat {
            count: s.count,
            octets: s.octets,
        })
    }

    fn list(&mut self) -> TestResult<Vec<Scan>> {
        check(S::wait(self.0.list())).map(|list| {
            list.into_iter()
                .map(|s| Scan {
                    msg: s.msg,
                    octets: s.octets,
                })
                .collect()
        })
    }

    fn list_one(&mut self, msg: u64) -> TestResult<Scan> {
        check(S::wait(self.0.list_one(msg))).map(|s| Scan {
            msg: s.msg,
            octets: s.octets,
        })
    }

    fn uidl(&mut self) -> TestResult<Vec<UniqueId>> {
        check(S::wait(self.0.uidl())).map(|list| {
            list.into_iter()
                .map(|u| UniqueId {
                    msg: u.msg,
                    uid: u.uid,
                })
                .collect()
        })
    }

    fn uidl_one(&mut self, msg: u64) -> TestResult<UniqueId> {
        check(S::wait(self.0.uidl_one(msg))).map(|u| UniqueId {
            msg: u.msg,
            uid: u.uid,
        })
    }

    fn listing(&mut self) -> TestResult<Vec<Listed>> {
        check(S::wait(self.0.listing())).map(|listing| {
            listing
                .into_iter()
                .map(|l| Listed {
                    msg: l.msg,
                    octets: l.octets,
                    uid: l.uid,
                })
                .collect()
        })
    }

    fn retr(&mut self, msg: u64) -> TestResult<Vec<u8>> {
        check(S::wait(self.0.retr(msg)))
    }

    fn retr_to(&mut self, msg: u64, sink: &mut (dyn Write + Send)) -> TestResult<u64> {
        check(S::retr_to(&mut self.0, msg, sink))
    }

    fn top(&mut self, msg: u64, lines: u64) -> TestResult<Vec<u8>> {
        check(S::wait(self.0.top(msg, lines)))
    }

    fn dele(&mut self, msg: u64) -> TestResult<()> {
        check(S::wait(self.0.dele(msg)))
    }

    fn rset(&mut self) -> TestResult<()> {
        check(S::wait(self.0.rset()))
    }

    fn noop(&mut self) -> TestResult<()> {
        check(S::wait(self.0.noop()))
    }

    fn quit(&mut self) -> TestResult<()> {
        check(S::wait(self.0.quit()))
    }

    fn utf8(&mut self) -> TestResult<()> {
        check(S::wait(self.0.utf8()))
    }

    fn raw(&mut self, line: &str, multiline: bool) -> TestResult<RawReply> {
        check(S::wait(self.0.raw(line, multiline))).map(|r| RawReply {
            text: r.text,
            body: r.body,
        })
    }

    fn retr_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<Vec<u8>>>> {
        let mut collector = RetrManyCollector::new();
        check(S::wait(self.0.retr_many(msgs, |_, part| {
            match part {
                Part::Data(chunk) => collector.data(chunk),
                Part::End => collector.end(),
                Part::Refused(e) => collector.refused(classify(Error::Server(e))),
                other => panic!("unknown part {other:?}"),
            }
            Ok(())
        })))?;
        Ok(collector.finish())
    }

    fn dele_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<()>>> {
        check(S::wait(self.0.dele_many(msgs))).map(|outcomes| {
            outcomes
                .into_iter()
                .map(|o| o.map_err(|e| classify(Error::Server(e))))
                .collect()
        })
    }
}
