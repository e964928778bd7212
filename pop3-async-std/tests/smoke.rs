//! Smoke tests against the in-process `MemServer` and `ScriptedServer`: plaintext, STLS, implicit TLS,
//! byte-exact RETR, pipelined batches, `-ERR` recovery, sinks, time limits, cancellation, another runtime.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_std::task::block_on;
use futures_io::AsyncWrite;
use pop3_async_std::{
    Builder, Error, LoginMethod, OwnedResponseCode, Part, Security, Session, Timeouts,
};
use pop3_memserver::tls::TestPki;
use pop3_memserver::{LatencyProxy, Mailbox, MemServer, Script, ScriptedServer, ServerConfig};
use pop3_testkit::smoke::{self, server};

fn plain(server: &MemServer) -> Builder {
    smoke::plain(server)
}

#[test]
fn plaintext_session_lists_and_retrieves_byte_exact() {
    let mailbox = Mailbox::generated(5, 20_000, 10, 7);
    let server = server(mailbox.clone());
    block_on(async {
        let mut session = plain(&server).connect().await.unwrap();
        assert!(!session.is_encrypted());
        assert!(session.tls_info().is_none());
        assert!(session.greeting().starts_with(b"POP3 memserver ready"));
        assert_eq!(
            session.login("alice", "secret").await.unwrap(),
            LoginMethod::Apop
        );
        assert_eq!(session.state(), pop3_async_std::proto::State::Transaction);

        let stat = session.stat().await.unwrap();
        assert_eq!(stat.count, 5);
        assert_eq!(stat.octets, mailbox.total_size() as u64);
        let list = session.list().await.unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(session.list_one(2).await.unwrap(), list[1]);
        let uidl = session.uidl().await.unwrap();
        assert_eq!(uidl[2].uid, mailbox.messages()[2].uid());
        assert_eq!(session.uidl_one(3).await.unwrap(), uidl[2]);
        for (i, message) in mailbox.messages().iter().enumerate() {
            let got = session.retr(i as u64 + 1).await.unwrap();
            assert_eq!(got, message.data(), "message {}", i + 1);
        }
        let mut sink = Vec::new();
        let written = session.retr_to(4, &mut sink).await.unwrap();
        assert_eq!(written, sink.len() as u64);
        assert_eq!(sink, mailbox.messages()[3].data());
        let top = session.top(1, 0).await.unwrap();
        assert!(top.ends_with(b"\r\n\r\n"), "header and the empty line");
        session.noop().await.unwrap();
        session.quit().await.unwrap();
        assert!(matches!(
            session.noop().await,
            Err(Error::Closed(Some("QUIT was sent")))
        ));
    });
}

#[test]
fn stls_with_the_test_ca() {
    let pki = TestPki::generate();
    let mailbox = Mailbox::sample();
    let server = MemServer::start(
        ServerConfig::default()
            .with_user("alice", "secret")
            .with_stls(pki.server_config()),
        mailbox.clone(),
    )
    .unwrap();
    block_on(async {
        let mut session = Session::builder("localhost")
            .port(server.addr().port())
            .security(Security::StartTls)
            .tls(smoke::trusting(&pki))
            .connect()
            .await
            .unwrap();
        assert!(session.is_encrypted());
        let info = session.tls_info().unwrap();
        assert!(info.version.is_some());
        assert_eq!(info.peer_certificates.len(), 1);
        assert!(session.channel_binding().is_some(), "TLS 1.3 exporter");
        // Capabilities were asked again over TLS, and no longer offer STLS.
        assert!(!session.capabilities().unwrap().stls());
        smoke::retrieve_all_and_quit(&mut session, &mailbox).await;
    });
}

#[test]
fn stls_required_but_not_offered_sends_no_credentials() {
    let server = server(Mailbox::sample());
    block_on(async {
        let result = Session::builder("localhost")
            .port(server.addr().port())
            .security(Security::StartTls)
            .connect()
            .await;
        assert!(
            matches!(result, Err(Error::TlsUnavailable(_))),
            "{result:?}"
        );
    });
}

#[test]
fn implicit_tls_verifies_the_host_name() {
    let pki = TestPki::generate();
    let server = smoke::implicit_tls_server(&pki);
    let tls = || smoke::trusting(&pki);
    block_on(async {
        let mut session = Session::connect_tls(
            "localhost",
            server.addr().port(),
            tls(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(session.is_encrypted());
        assert_eq!(
            session.login("alice", "secret").await.unwrap(),
            LoginMethod::Apop
        );
        assert_eq!(session.stat().await.unwrap().count, 5);
        session.quit().await.unwrap();

        // The certificate is not valid for this name.
        let wrong = Session::builder("wrong.example")
            .port(server.addr().port())
            .tls(tls())
            .connect_stream(
                async_std::net::TcpStream::connect(server.addr())
                    .await
                    .unwrap(),
            )
            .await;
        assert!(matches!(wrong, Err(Error::Tls(_))), "{wrong:?}");
    });
}

#[test]
fn plaintext_credentials_are_refused_by_default() {
    let server = server(Mailbox::sample());
    block_on(async {
        let mut session =
            Session::connect("127.0.0.1", server.addr().port(), Duration::from_secs(5))
                .await
                .unwrap();
        let refused = session.user("alice").await;
        assert!(matches!(refused, Err(Error::Misuse(_))), "{refused:?}");
        // Nothing was sent; the session goes on.
        session.capa().await.unwrap();
        session.quit().await.unwrap();
    });
}

#[test]
fn server_errors_leave_the_session_usable() {
    let server = server(Mailbox::sample());
    block_on(async {
        let mut session = plain(&server).connect().await.unwrap();
        session.user("alice").await.unwrap();
        let wrong = session.pass("wrong").await.unwrap_err();
        let refusal = wrong.server_error().expect("a -ERR");
        assert_eq!(refusal.code(), Some(&OwnedResponseCode::Auth));
        assert_eq!(refusal.text(), b"invalid credentials");
        assert!(wrong.is_recoverable());

        session.user("alice").await.unwrap();
        session.pass("secret").await.unwrap();
        let missing = session.retr(99).await.unwrap_err();
        assert!(matches!(&missing, Error::Server(e) if e.text() == b"no such message"));
        assert!(matches!(session.retr(0).await, Err(Error::Misuse(_))));
        assert_eq!(session.stat().await.unwrap().count, 5);
        assert_eq!(
            session.retr(1).await.unwrap(),
            Mailbox::sample().messages()[0].data()
        );
        session.quit().await.unwrap();
    });
}

#[test]
fn batches_are_pipelined() {
    let mailbox = Mailbox::generated(12, 3_000, 5, 3);
    let server = server(mailbox.clone());
    let delay = Duration::from_millis(40);
    let proxy = LatencyProxy::start(server.addr(), delay).unwrap();
    block_on(async {
        let mut session = Session::builder("127.0.0.1")
            .port(proxy.addr().port())
            .security(Security::Plaintext)
            .allow_plaintext_credentials()
            .connect()
            .await
            .unwrap();
        session.login("alice", "secret").await.unwrap();
        assert!(session.capabilities().unwrap().pipelining());

        let msgs: Vec<u64> = (1..=12).chain([99]).collect();
        let mut got = vec![Vec::new(); 13];
        let mut ended = 0;
        let mut refused = 0;
        let start = Instant::now();
        session
            .retr_many(&msgs, |msg, part| {
                let slot = if msg == 99 { 12 } else { msg as usize - 1 };
                match part {
                    Part::Data(data) => got[slot].extend_from_slice(data),
                    Part::End => ended += 1,
                    Part::Refused(_) => refused += 1,
                    _ => unreachable!(),
                }
                Ok(())
            })
            .await
            .unwrap();
        let elapsed = start.elapsed();
        assert_eq!((ended, refused), (12, 1));
        for (i, message) in mailbox.messages().iter().enumerate() {
            assert_eq!(got[i], message.data(), "message {}", i + 1);
        }
        // One command at a time would take 13 round trips (over 1 s); pipelined it is a few.
        assert!(elapsed < delay * 2 * 6, "took {elapsed:?}");

        let outcomes = session.dele_many(&[1, 2, 99]).await.unwrap();
        assert!(outcomes[0].is_ok() && outcomes[1].is_ok());
        assert!(outcomes[2].is_err());
        assert_eq!(session.stat().await.unwrap().count, 10);
        session.rset().await.unwrap();
        assert_eq!(session.stat().await.unwrap().count, 12);
        session.quit().await.unwrap();
    });
}

/// A sink that accepts `limit` octets, then fails (or, if `stall`, never completes a write again).
struct TestSink {
    taken: usize,
    limit: usize,
    stall: bool,
}

impl AsyncWrite for TestSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.taken >= self.limit {
            if self.stall {
                return Poll::Pending;
            }
            return Poll::Ready(Err(io::Error::other("disk full")));
        }
        let n = buf.len().min(self.limit - self.taken);
        self.taken += n;
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A sink that is not ready every other time it is asked, and then takes at most 7 octets: what a slow pipe or a
/// throttled writer does.
#[derive(Default)]
struct Trickle {
    taken: Vec<u8>,
    ready: bool,
}

impl AsyncWrite for Trickle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.ready = !self.ready;
        if !self.ready {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = buf.len().min(7);
        self.taken.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn retr_to_a_sink_taking_a_few_octets_at_a_time_gets_each_once_in_order() {
    let mailbox = Mailbox::generated(2, 40_000, 20, 11);
    let server = server(mailbox.clone());
    block_on(async {
        let mut session = plain(&server).connect().await.unwrap();
        session.login("alice", "secret").await.unwrap();
        for msg in 1..=2 {
            let mut sink = Trickle::default();
            let written = session.retr_to(msg, &mut sink).await.unwrap();
            assert_eq!(written, sink.taken.len() as u64);
            assert!(
                sink.taken == mailbox.messages()[msg as usize - 1].data(),
                "message {msg} differs"
            );
        }
        session.quit().await.unwrap();
    });
}

#[test]
fn failing_sink_and_size_limit_leave_the_session_usable() {
    let mailbox = Mailbox::generated(3, 200_000, 2, 1);
    let server = server(mailbox.clone());
    block_on(async {
        let mut session = plain(&server)
            .max_message_size(100_000)
            .connect()
            .await
            .unwrap();
        session.login("alice", "secret").await.unwrap();
        let mut sink = TestSink {
            taken: 0,
            limit: 1000,
            stall: false,
        };
        let failed = session.retr_to(1, &mut sink).await;
        assert!(
            matches!(&failed, Err(Error::Sink(e)) if e.to_string() == "disk full"),
            "{failed:?}"
        );
        assert!(matches!(
            session.retr(2).await,
            Err(Error::TooLarge { limit: 100_000 })
        ));
        let mut sink = Vec::new();
        session.retr_to(3, &mut sink).await.unwrap();
        assert_eq!(sink, mailbox.messages()[2].data());
        session.quit().await.unwrap();
    });
}

#[test]
fn a_cancelled_command_closes_the_session() {
    // Big enough that the RETR is mid-body when it is cancelled.
    let server = server(Mailbox::generated(2, 8_000_000, 2, 5));
    block_on(async {
        let mut session = plain(&server).connect().await.unwrap();
        session.login("alice", "secret").await.unwrap();

        // A future created and dropped before its first poll sent nothing: no harm done.
        drop(session.noop());
        session.noop().await.unwrap();

        // The sink takes 100 000 octets, then never finishes a write: the RETR is stuck in the middle of the
        // body until the caller's own timeout drops its future.
        let mut sink = TestSink {
            taken: 0,
            limit: 100_000,
            stall: true,
        };
        let cancelled =
            async_std::future::timeout(Duration::from_millis(300), session.retr_to(1, &mut sink))
                .await;
        assert!(cancelled.is_err(), "the timeout fired first");
        assert_eq!(sink.taken, 100_000);

        // The rest of message 1 is still on the wire: the session must not let STAT read it.
        let next = session.stat().await;
        assert!(
            matches!(
                next,
                Err(Error::Closed(Some("a previous command was cancelled")))
            ),
            "{next:?}"
        );
        assert!(matches!(session.retr(2).await, Err(Error::Closed(_))));
        assert!(matches!(session.quit().await, Err(Error::Closed(_))));
    });
}

#[test]
fn a_cancelled_read_closes_the_session() {
    // The server answers STAT only after two seconds; the caller gives up after 100 ms.
    let server = ScriptedServer::start(smoke::late_stat_answer()).unwrap();
    block_on(async {
        let mut session = Session::builder("127.0.0.1")
            .port(server.addr().port())
            .security(Security::Plaintext)
            .connect()
            .await
            .unwrap();
        // Authorization would refuse STAT before sending it: use a raw line, which the core lets through.
        let first =
            async_std::future::timeout(Duration::from_millis(100), session.raw("STAT", false))
                .await;
        assert!(first.is_err());
        // Without the busy flag, NOOP would read "+OK 1 100" and take it for its own answer.
        let next = session.raw("NOOP", false).await;
        assert!(matches!(next, Err(Error::Closed(Some(_)))), "{next:?}");
    });
}

#[test]
fn time_limits_report_timeouts_and_close() {
    let script = Script::new()
        .server("+OK ready\r\n")
        .client("NOOP")
        .stall_forever();
    let server = ScriptedServer::start(script).unwrap();
    block_on(async {
        let mut timeouts = Timeouts::all(Duration::from_secs(5));
        timeouts.read = Some(Duration::from_millis(200));
        let mut session = Session::builder("127.0.0.1")
            .port(server.addr().port())
            .security(Security::Plaintext)
            .timeouts(timeouts)
            .connect()
            .await
            .unwrap();
        let start = Instant::now();
        let result = session.raw("NOOP", false).await;
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(matches!(
            session.raw("NOOP", false).await,
            Err(Error::Closed(Some("timed out")))
        ));
    });
}

#[test]
fn a_response_deadline_bounds_a_dripping_server() {
    let script = Script::new().server("+OK ready\r\n").client("NOOP").step(
        pop3_memserver::Step::SendSlowly(
            b"+OK a very slow answer indeed\r\n".to_vec(),
            Duration::from_millis(50),
        ),
    );
    let server = ScriptedServer::start(script).unwrap();
    block_on(async {
        let timeouts =
            Timeouts::all(Duration::from_secs(1)).with_response(Some(Duration::from_millis(400)));
        let mut session = Session::builder("127.0.0.1")
            .port(server.addr().port())
            .security(Security::Plaintext)
            .timeouts(timeouts)
            .connect()
            .await
            .unwrap();
        let result = session.raw("NOOP", false).await;
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
    });
}

#[test]
fn the_trace_redacts_credentials() {
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let trace = Shared::default();
    let server = server(Mailbox::sample());
    block_on(async {
        let mut session = plain(&server)
            .debug_level(1)
            .trace_to(trace.clone())
            .connect()
            .await
            .unwrap();
        session.user("alice").await.unwrap();
        session.pass("secret").await.unwrap();
        session.set_debuglevel(2);
        session.retr(1).await.unwrap();
        session.set_debuglevel(0);
        session.noop().await.unwrap();
        session.quit().await.unwrap();
    });
    let text = String::from_utf8(trace.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("C: USER alice"), "{text}");
    assert!(text.contains("C: PASS <redacted>"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("octets>"), "level 2 shows body sizes: {text}");
    assert!(!text.contains("NOOP"), "level 0 is silent: {text}");
}

#[test]
fn runs_under_smol_with_its_own_socket_type() {
    let mailbox = Mailbox::generated(3, 50_000, 5, 9);
    let server = server(mailbox.clone());
    smol::block_on(async {
        let stream = smol::net::TcpStream::connect(server.addr()).await.unwrap();
        let mut session: Session = Session::builder("127.0.0.1")
            .security(Security::Plaintext)
            .allow_plaintext_credentials()
            .timeout(Duration::from_secs(10))
            .connect_stream(stream)
            .await
            .unwrap();
        smoke::retrieve_all_and_quit(&mut session, &mailbox).await;
    });
}

#[test]
fn connects_over_ipv6_when_the_machine_has_it() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"+OK IPv6 ready\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(stream.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "QUIT\r\n");
        stream.write_all(b"+OK bye\r\n").unwrap();
    });
    block_on(async {
        let mut session = Session::connect("[::1]", port, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(session.greeting(), b"IPv6 ready");
        session.quit().await.unwrap();
    });
    server.join().unwrap();
}

#[test]
fn futures_are_send_and_errors_are_pop3_blockings() {
    fn assert_send<T: Send>(_: &T) {}
    let server = server(Mailbox::sample());
    block_on(async {
        let mut session = plain(&server).connect().await.unwrap();
        {
            let mut sink = Vec::new();
            let future = session.retr_to(1, &mut sink);
            assert_send(&future);
        }
        // The session can move to another task.
        let handle = async_std::task::spawn(async move {
            session.login("alice", "secret").await.unwrap();
            session.stat().await.unwrap().count
        });
        assert_eq!(handle.await, 5);
    });
}
