//! What is the tokio driver's own, against the in-process `MemServer` and `ScriptedServer`: sessions moving
//! between the worker threads of a multi-threaded runtime, what dropping a call's future does, streaming into
//! tokio writers, and sessions over streams the caller opened. Every POP3 behaviour (each command, TLS, hostile
//! servers, time limits) is in the shared scenarios of `tests/scenarios.rs`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, Script, ScriptedServer};
use pop3_testkit::smoke::{self, server};
use pop3_tokio::{Builder, Error, Security, Session};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn plain(server: &MemServer) -> Builder {
    smoke::plain(server)
}

/// Whether `result` is the refusal of a session whose earlier call was dropped half-way.
fn is_cancelled<T>(result: &pop3_tokio::Result<T>) -> bool {
    matches!(
        result,
        Err(Error::Closed(Some("a previous command was cancelled")))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_in_spawned_tasks_on_worker_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let mailbox = Mailbox::generated(4, 30_000, 5, 3);
    let server = server(mailbox.clone());
    let builder = plain(&server);
    let test_thread = std::thread::current().id();

    let connecting = builder.connect();
    assert_send(&connecting);
    let mut session = connecting.await.unwrap();
    {
        let mut sink = Vec::new();
        let retrieving = session.retr_to(1, &mut sink);
        assert_send(&retrieving);
    }
    // A connected session moves into a task.
    let moved = tokio::spawn(async move {
        session.login("alice", "secret").await.unwrap();
        let count = session.stat().await.unwrap().count;
        session.quit().await.unwrap();
        count
    });
    assert_eq!(moved.await.unwrap(), 4);

    // Sessions opened in tasks, yielding between commands so that the scheduler may move them between workers.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8_u64 {
        let builder = builder.clone();
        tasks.spawn(async move {
            let mut session = builder.connect().await?;
            session.login("alice", "secret").await?;
            tokio::task::yield_now().await;
            let message = session.retr(i % 4 + 1).await?;
            tokio::task::yield_now().await;
            session.quit().await?;
            let worker = std::thread::current().id();
            Ok::<_, Error>((i, message, worker))
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, message, worker) = joined.unwrap().unwrap();
        assert_eq!(
            message,
            mailbox.messages()[i as usize % 4].data(),
            "task {i}"
        );
        assert_ne!(worker, test_thread, "task {i} ran on a worker");
        done += 1;
    }
    assert_eq!(done, 8);
    assert_eq!(server.stats().sessions, 9);
}

/// A tokio sink that takes `limit` octets, then never completes a write again.
struct StallingSink {
    taken: usize,
    limit: usize,
}

impl AsyncWrite for StallingSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.taken >= self.limit {
            return Poll::Pending;
        }
        let n = buf.len().min(self.limit - self.taken);
        self.taken += n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_retr_cut_short_by_a_timeout_closes_the_session() {
    let mailbox = Mailbox::generated(2, 8_000_000, 2, 5);
    let server = server(mailbox);
    let mut session = plain(&server).connect().await.unwrap();
    session.login("alice", "secret").await.unwrap();

    // The sink takes 100 000 octets of the 8 MB message and then never finishes a write: the RETR is stuck in the
    // middle of the body until the timeout drops its future.
    let mut sink = StallingSink {
        taken: 0,
        limit: 100_000,
    };
    let cut = tokio::time::timeout(Duration::from_secs(1), session.retr_to(1, &mut sink)).await;
    assert!(cut.is_err(), "the timeout fired first");
    assert_eq!(sink.taken, 100_000);

    // Most of message 1 is still on the wire: no later command may read it as its own answer.
    let next = session.stat().await;
    assert!(is_cancelled(&next), "{next:?}");
    let retr = session.retr(2).await;
    assert!(is_cancelled(&retr), "{retr:?}");
    let quit = session.quit().await;
    assert!(is_cancelled(&quit), "{quit:?}");
}

#[tokio::test]
async fn a_command_that_lost_a_select_closes_the_session() {
    // The server answers STAT only after two seconds; the select gives up after 100 ms.
    let server = ScriptedServer::start(smoke::late_stat_answer()).unwrap();
    let mut session = Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .connect()
        .await
        .unwrap();
    // Authorization would refuse STAT before sending it: a raw line goes through.
    tokio::select! {
        answer = session.raw("STAT", false) => panic!("the server stalls, yet STAT was answered: {answer:?}"),
        () = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
    // Had NOOP been sent, it would have read "+OK 1 100" as its own answer.
    let next = session.raw("NOOP", false).await;
    assert!(is_cancelled(&next), "{next:?}");
    assert_eq!(
        server.client_bytes(),
        b"STAT\r\n",
        "nothing sent after STAT"
    );
}

#[tokio::test]
async fn a_call_dropped_before_its_first_poll_changes_nothing() {
    let script = Script::new()
        .server("+OK ready\r\n")
        .client("NOOP")
        .server("+OK\r\n")
        .client("QUIT")
        .server("+OK bye\r\n");
    let server = ScriptedServer::start_once(script).unwrap();
    let mut session = Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();

    // Made and dropped.
    drop(session.raw("STAT", false));
    // Made, and dropped by a biased select whose first branch is ready at once.
    tokio::select! {
        biased;
        () = std::future::ready(()) => {}
        answer = session.raw("LIST", true) => panic!("the second branch ran: {answer:?}"),
    }

    // Before login, NOOP is not allowed: a raw line goes through.
    session.raw("NOOP", false).await.unwrap();
    session.quit().await.unwrap();
    server.wait_done(Duration::from_secs(5)).unwrap();
    assert_eq!(server.client_bytes(), b"NOOP\r\nQUIT\r\n");
}

#[tokio::test]
async fn retr_to_streams_byte_exact_into_a_file_and_a_vec() {
    // Large messages with many lines starting with a dot, so that unstuffing crosses read boundaries.
    let mailbox = Mailbox::generated(3, 1_500_000, 20, 7);
    let server = server(mailbox.clone());
    let mut session = plain(&server).connect().await.unwrap();
    session.login("alice", "secret").await.unwrap();

    let path = std::env::temp_dir().join(format!("pop3-tokio-smoke-{}.eml", std::process::id()));
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    let written = session.retr_to(1, &mut file).await.unwrap();
    // A tokio file writes in the background: flush before reading it back.
    file.flush().await.unwrap();
    drop(file);
    let on_disk = tokio::fs::read(&path).await.unwrap();
    tokio::fs::remove_file(&path).await.unwrap();
    assert_eq!(written, on_disk.len() as u64);
    assert!(
        on_disk == mailbox.messages()[0].data(),
        "message 1 differs on disk"
    );

    let mut memory = Vec::new();
    let written = session.retr_to(2, &mut memory).await.unwrap();
    assert_eq!(written, memory.len() as u64);
    assert!(memory == mailbox.messages()[1].data(), "message 2 differs");

    let mut header = Vec::new();
    session.top_to(3, 0, &mut header).await.unwrap();
    let data = mailbox.messages()[2].data();
    let end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        header,
        &data[..end],
        "TOP 3 0 is the header and the empty line"
    );
    session.quit().await.unwrap();
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

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn retr_to_a_sink_taking_a_few_octets_at_a_time_gets_each_once_in_order() {
    let mailbox = Mailbox::generated(2, 40_000, 20, 11);
    let server = server(mailbox.clone());
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
}

#[tokio::test]
async fn connect_stream_over_an_in_memory_duplex() {
    let mailbox = Mailbox::generated(3, 40_000, 10, 9);
    let server = server(mailbox.clone());
    // The session's stream is one end of an in-memory pipe; a task tunnels the other end to the server.
    let (session_end, mut tunnel_end) = tokio::io::duplex(4096);
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let tunnel =
        tokio::spawn(async move { tokio::io::copy_bidirectional(&mut tunnel_end, &mut tcp).await });

    let mut session = Session::builder("127.0.0.1")
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .timeout(Duration::from_secs(10))
        .connect_stream(session_end)
        .await
        .unwrap();
    assert!(!session.is_encrypted());
    smoke::retrieve_all_and_quit(&mut session, &mailbox).await;
    drop(session);
    // The session closed its end; the tunnel sees the end of both directions.
    tokio::time::timeout(Duration::from_secs(5), tunnel)
        .await
        .expect("the tunnel ends once the session closed its end")
        .unwrap()
        .ok();
    assert_eq!(server.stats().sessions, 1);
}

#[tokio::test]
async fn connect_stream_over_tcp_verifies_tls_against_the_builders_name() {
    let pki = TestPki::generate();
    let server = smoke::implicit_tls_server(&pki);
    let tls = || smoke::trusting(&pki);
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut session = Session::builder("localhost")
        .security(Security::Implicit)
        .tls(tls())
        .timeout(Duration::from_secs(10))
        .connect_stream(stream)
        .await
        .unwrap();
    assert!(session.is_encrypted());
    assert!(session.tls_info().unwrap().version.is_some());
    session.login("alice", "secret").await.unwrap();
    assert_eq!(session.stat().await.unwrap().count, 5);
    session.quit().await.unwrap();

    // The certificate is not valid for this name, whatever address the stream reaches.
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let wrong = Session::builder("wrong.example")
        .security(Security::Implicit)
        .tls(tls())
        .timeout(Duration::from_secs(10))
        .connect_stream(stream)
        .await;
    assert!(matches!(wrong, Err(Error::Tls(_))), "{wrong:?}");
}
