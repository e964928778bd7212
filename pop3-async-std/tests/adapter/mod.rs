//! The async-std client behind the testkit's adapter traits, shared by the test files that run testkit scenarios.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_std::net::TcpStream;
use async_std::task::block_on;
use pop3_async_std::{Error, Part, Security, ServerRefusal, Session, Timeouts, TlsOptions};
use pop3_testkit::scenarios::{
    self, Adapter, Capabilities, ConnectSpec, ErrorKind, Listed, Mechanism, RawReply,
    RetrManyCollector, Scan, SessionUnderTest, Stat, TestError, TestResult, UniqueId,
};

/// The async-std adapter.
pub(crate) struct AsyncStd;

/// Classifies an error in the adapter-neutral terms of the scenarios.
fn classify(error: Error) -> TestError {
    let code = |e: &pop3_async_std::ServerError| {
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

fn check<T>(result: pop3_async_std::Result<T>) -> TestResult<T> {
    result.map_err(classify)
}

/// An async session, wrapped to implement the testkit's synchronous trait.
pub(crate) struct Driven(Session);

/// The scenarios' synchronous sink as a `futures_io::AsyncWrite`: each write completes at once.
struct SyncSink<'a>(&'a mut dyn Write);

impl futures_io::AsyncWrite for SyncSink<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().0.write(buf))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Adapter for AsyncStd {
    type Session = Driven;

    fn connect(&self, spec: &ConnectSpec) -> TestResult<Driven> {
        let mut timeouts = Timeouts::default();
        timeouts.connect = spec.timeouts.connect;
        timeouts.read = spec.timeouts.read;
        timeouts.write = spec.timeouts.read;
        timeouts.response = spec.timeouts.response;
        let mut builder = Session::builder(&spec.host)
            .port(spec.port)
            .security(match spec.security {
                scenarios::Security::Implicit => Security::Implicit,
                scenarios::Security::StartTls => Security::StartTls,
                scenarios::Security::StartTlsIfAvailable => Security::StartTlsIfAvailable,
                scenarios::Security::Plaintext => Security::Plaintext,
            })
            .timeouts(timeouts)
            .debug_level(spec.debug_level);
        if let Some(pem) = &spec.ca_pem {
            builder = builder.tls(check(TlsOptions::default().ca_pem(pem))?);
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
        block_on(async {
            match spec.connect_to {
                None => check(builder.connect().await).map(Driven),
                Some(addr) => {
                    let connect = TcpStream::connect(addr);
                    let stream = match spec.timeouts.connect {
                        Some(limit) => async_std::io::timeout(limit, connect).await,
                        None => connect.await,
                    };
                    let stream = check(stream.map_err(Error::Io))?;
                    check(builder.connect_stream(stream).await).map(Driven)
                }
            }
        })
    }
}

impl SessionUnderTest for Driven {
    fn greeting(&self) -> Vec<u8> {
        self.0.greeting().to_vec()
    }

    fn is_encrypted(&self) -> bool {
        self.0.is_encrypted()
    }

    fn tls_alpn(&self) -> Option<Vec<u8>> {
        self.0.tls_info().and_then(|info| info.alpn)
    }

    fn capa(&mut self) -> TestResult<Capabilities> {
        check(block_on(self.0.capa()))
    }

    fn stls(&mut self) -> TestResult<()> {
        check(block_on(self.0.stls()))
    }

    fn login(&mut self, user: &str, password: &str) -> TestResult<String> {
        check(block_on(self.0.login(user, password))).map(str::to_owned)
    }

    fn user(&mut self, name: &str) -> TestResult<()> {
        check(block_on(self.0.user(name)))
    }

    fn pass(&mut self, password: &str) -> TestResult<()> {
        check(block_on(self.0.pass(password)))
    }

    fn apop(&mut self, user: &str, password: &str) -> TestResult<()> {
        check(block_on(self.0.apop(user, password)))
    }

    fn auth(&mut self, mechanism: Mechanism) -> TestResult<()> {
        check(block_on(self.0.auth(mechanism)))
    }

    fn stat(&mut self) -> TestResult<Stat> {
        check(block_on(self.0.stat())).map(|s| Stat {
            count: s.count,
            octets: s.octets,
        })
    }

    fn list(&mut self) -> TestResult<Vec<Scan>> {
        check(block_on(self.0.list())).map(|list| {
            list.into_iter()
                .map(|s| Scan {
                    msg: s.msg,
                    octets: s.octets,
                })
                .collect()
        })
    }

    fn list_one(&mut self, msg: u64) -> TestResult<Scan> {
        check(block_on(self.0.list_one(msg))).map(|s| Scan {
            msg: s.msg,
            octets: s.octets,
        })
    }

    fn uidl(&mut self) -> TestResult<Vec<UniqueId>> {
        check(block_on(self.0.uidl())).map(|list| {
            list.into_iter()
                .map(|u| UniqueId {
                    msg: u.msg,
                    uid: u.uid,
                })
                .collect()
        })
    }

    fn uidl_one(&mut self, msg: u64) -> TestResult<UniqueId> {
        check(block_on(self.0.uidl_one(msg))).map(|u| UniqueId {
            msg: u.msg,
            uid: u.uid,
        })
    }

    fn listing(&mut self) -> TestResult<Vec<Listed>> {
        check(block_on(self.0.listing())).map(|listing| {
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
        check(block_on(self.0.retr(msg)))
    }

    fn retr_to(&mut self, msg: u64, sink: &mut dyn Write) -> TestResult<u64> {
        check(block_on(self.0.retr_to(msg, &mut SyncSink(sink))))
    }

    fn top(&mut self, msg: u64, lines: u64) -> TestResult<Vec<u8>> {
        check(block_on(self.0.top(msg, lines)))
    }

    fn dele(&mut self, msg: u64) -> TestResult<()> {
        check(block_on(self.0.dele(msg)))
    }

    fn rset(&mut self) -> TestResult<()> {
        check(block_on(self.0.rset()))
    }

    fn noop(&mut self) -> TestResult<()> {
        check(block_on(self.0.noop()))
    }

    fn quit(&mut self) -> TestResult<()> {
        check(block_on(self.0.quit()))
    }

    fn utf8(&mut self) -> TestResult<()> {
        check(block_on(self.0.utf8()))
    }

    fn raw(&mut self, line: &str, multiline: bool) -> TestResult<RawReply> {
        check(block_on(self.0.raw(line, multiline))).map(|r| RawReply {
            text: r.text,
            body: r.body,
        })
    }

    fn retr_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<Vec<u8>>>> {
        let mut collector = RetrManyCollector::new();
        check(block_on(self.0.retr_many(msgs, |_, part| {
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
        check(block_on(self.0.dele_many(msgs))).map(|outcomes| {
            outcomes
                .into_iter()
                .map(|o| o.map_err(|e| classify(Error::Server(e))))
                .collect()
        })
    }
}
