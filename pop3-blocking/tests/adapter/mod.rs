//! The blocking client behind the testkit's adapter traits, shared by the test files that run testkit scenarios.

use std::io::Write;
use std::net::TcpStream;

use pop3_blocking::{Error, Part, Security, ServerRefusal, Session, Timeouts, TlsOptions};
use pop3_testkit::scenarios::{
    self, Adapter, Capabilities, ConnectSpec, ErrorKind, Listed, Mechanism, RawReply,
    RetrManyCollector, Scan, SessionUnderTest, Stat, TestError, TestResult, UniqueId,
};

/// The blocking adapter.
pub(crate) struct Blocking;

/// Classifies a blocking error in the adapter-neutral terms of the scenarios.
fn classify(error: Error) -> TestError {
    let code = |e: &pop3_blocking::ServerError| {
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

fn check<T>(result: pop3_blocking::Result<T>) -> TestResult<T> {
    result.map_err(classify)
}

/// A blocking session, wrapped to implement the testkit's trait.
pub(crate) struct Blocked(Session);

impl Adapter for Blocking {
    type Session = Blocked;

    fn connect(&self, spec: &ConnectSpec) -> TestResult<Blocked> {
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
        match spec.connect_to {
            None => check(builder.connect()).map(Blocked),
            Some(addr) => {
                let connect = match spec.timeouts.connect {
                    Some(limit) => TcpStream::connect_timeout(&addr, limit),
                    None => TcpStream::connect(addr),
                };
                let stream = check(connect.map_err(Error::Io))?;
                stream
                    .set_read_timeout(spec.timeouts.read)
                    .and_then(|()| stream.set_write_timeout(spec.timeouts.read))
                    .map_err(|e| classify(Error::Io(e)))?;
                check(builder.connect_stream(stream)).map(Blocked)
            }
        }
    }
}

impl SessionUnderTest for Blocked {
    fn greeting(&self) -> Vec<u8> {
        Session::greeting(&self.0).to_vec()
    }

    fn is_encrypted(&self) -> bool {
        Session::is_encrypted(&self.0)
    }

    fn tls_alpn(&self) -> Option<Vec<u8>> {
        self.0.tls_info().and_then(|info| info.alpn)
    }

    fn capa(&mut self) -> TestResult<Capabilities> {
        check(Session::capa(&mut self.0))
    }

    fn stls(&mut self) -> TestResult<()> {
        check(Session::stls(&mut self.0))
    }

    fn login(&mut self, user: &str, password: &str) -> TestResult<String> {
        check(Session::login(&mut self.0, user, password)).map(str::to_owned)
    }

    fn user(&mut self, name: &str) -> TestResult<()> {
        check(Session::user(&mut self.0, name))
    }

    fn pass(&mut self, password: &str) -> TestResult<()> {
        check(Session::pass(&mut self.0, password))
    }

    fn apop(&mut self, user: &str, password: &str) -> TestResult<()> {
        check(Session::apop(&mut self.0, user, password))
    }

    fn auth(&mut self, mechanism: Mechanism) -> TestResult<()> {
        check(Session::auth(&mut self.0, mechanism))
    }

    fn stat(&mut self) -> TestResult<Stat> {
        check(Session::stat(&mut self.0)).map(|s| Stat {
            count: s.count,
            octets: s.octets,
        })
    }

    fn list(&mut self) -> TestResult<Vec<Scan>> {
        check(Session::list(&mut self.0)).map(|list| {
            list.into_iter()
                .map(|s| Scan {
                    msg: s.msg,
                    octets: s.octets,
                })
                .collect()
        })
    }

    fn list_one(&mut self, msg: u64) -> TestResult<Scan> {
        check(Session::list_one(&mut self.0, msg)).map(|s| Scan {
            msg: s.msg,
            octets: s.octets,
        })
    }

    fn uidl(&mut self) -> TestResult<Vec<UniqueId>> {
        check(Session::uidl(&mut self.0)).map(|list| {
            list.into_iter()
                .map(|u| UniqueId {
                    msg: u.msg,
                    uid: u.uid,
                })
                .collect()
        })
    }

    fn uidl_one(&mut self, msg: u64) -> TestResult<UniqueId> {
        check(Session::uidl_one(&mut self.0, msg)).map(|u| UniqueId {
            msg: u.msg,
            uid: u.uid,
        })
    }

    fn listing(&mut self) -> TestResult<Vec<Listed>> {
        check(Session::listing(&mut self.0)).map(|listing| {
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
        check(Session::retr(&mut self.0, msg))
    }

    fn retr_to(&mut self, msg: u64, mut sink: &mut dyn Write) -> TestResult<u64> {
        check(Session::retr_to(&mut self.0, msg, &mut sink))
    }

    fn top(&mut self, msg: u64, lines: u64) -> TestResult<Vec<u8>> {
        check(Session::top(&mut self.0, msg, lines))
    }

    fn dele(&mut self, msg: u64) -> TestResult<()> {
        check(Session::dele(&mut self.0, msg))
    }

    fn rset(&mut self) -> TestResult<()> {
        check(Session::rset(&mut self.0))
    }

    fn noop(&mut self) -> TestResult<()> {
        check(Session::noop(&mut self.0))
    }

    fn quit(&mut self) -> TestResult<()> {
        check(Session::quit(&mut self.0))
    }

    fn utf8(&mut self) -> TestResult<()> {
        check(Session::utf8(&mut self.0))
    }

    fn raw(&mut self, line: &str, multiline: bool) -> TestResult<RawReply> {
        check(Session::raw(&mut self.0, line, multiline)).map(|r| RawReply {
            text: r.text,
            body: r.body,
        })
    }

    fn retr_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<Vec<u8>>>> {
        let mut collector = RetrManyCollector::new();
        check(Session::retr_many(&mut self.0, msgs, |_, part| {
            match part {
                Part::Data(chunk) => collector.data(chunk),
                Part::End => collector.end(),
                Part::Refused(e) => collector.refused(classify(Error::Server(e))),
                other => panic!("unknown part {other:?}"),
            }
            Ok(())
        }))?;
        Ok(collector.finish())
    }

    fn dele_many(&mut self, msgs: &[u64]) -> TestResult<Vec<TestResult<()>>> {
        check(Session::dele_many(&mut self.0, msgs)).map(|outcomes| {
            outcomes
                .into_iter()
                .map(|o| o.map_err(|e| classify(Error::Server(e))))
                .collect()
        })
    }
}
