//! A thousand sessions at once on one thread: async-std's `block_on` polls every session's future on the test
//! thread (the I/O reactor runs on its own thread and only wakes them).

use std::thread;
use std::time::Duration;

use async_std::task::block_on;
use futures::future::join_all;
use futures::stream::{self, StreamExt as _};
use pop3_async_std::{Security, Session};
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

const SESSIONS: usize = 1000;

#[test]
fn a_thousand_concurrent_sessions_on_one_thread() {
    // Two descriptors per session in this process (client and in-process server), plus slack.
    let limit = rlimit::increase_nofile_limit(4 * SESSIONS as u64 + 256).unwrap();
    assert!(
        limit >= 2 * SESSIONS as u64 + 64,
        "open-file limit {limit} too low; run `ulimit -n 4096`"
    );
    let mailbox = Mailbox::generated(3, 4_000, 5, 11);
    let server = MemServer::start(
        ServerConfig::default().with_user("demo", "demo"),
        mailbox.clone(),
    )
    .unwrap();
    let port = server.addr().port();
    let me = thread::current().id();

    block_on(async {
        // At most 64 connecting at a time: a burst of SYNs overflows MemServer's accept queue (backlog 128),
        // and a connection dropped there waits for a greeting that never comes. Opened sessions stay open.
        let opened: Vec<_> = stream::iter((0..SESSIONS).map(|_| async move {
            let mut session = Session::builder("127.0.0.1")
                .port(port)
                .security(Security::Plaintext)
                .allow_plaintext_credentials()
                .timeout(Duration::from_secs(60))
                .connect()
                .await?;
            session.login("demo", "demo").await?;
            let count = session.stat().await?.count;
            assert_eq!(thread::current().id(), me, "polled on the test thread");
            Ok::<_, pop3_async_std::Error>((session, count))
        }))
        .buffer_unordered(64)
        .collect()
        .await;
        let mut sessions = Vec::with_capacity(SESSIONS);
        for (i, result) in opened.into_iter().enumerate() {
            let (session, count) = result.unwrap_or_else(|e| panic!("session {i}: {e}"));
            assert_eq!(count, 3);
            sessions.push(session);
        }
        // All are open at once; now all retrieve a message and quit concurrently.
        let done = join_all(sessions.iter_mut().enumerate().map(|(i, session)| {
            let expected = mailbox.messages()[i % 3].data();
            async move {
                let message = session.retr(i as u64 % 3 + 1).await?;
                assert_eq!(message, expected);
                assert_eq!(thread::current().id(), me);
                session.quit().await
            }
        }))
        .await;
        for (i, result) in done.into_iter().enumerate() {
            result.unwrap_or_else(|e| panic!("session {i}: {e}"));
        }
    });
    assert_eq!(server.stats().sessions, SESSIONS as u64);
}
