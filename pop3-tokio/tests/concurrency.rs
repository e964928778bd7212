//! A thousand sessions open at once, each in its own task of a runtime with two worker threads: the sessions
//! are futures, not threads, and move freely between the workers.

use std::sync::Arc;
use std::time::Duration;

use pop3_memserver::{Mailbox, MemServer, ServerConfig};
use pop3_tokio::{Security, Session};
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;

const SESSIONS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sessions_on_two_worker_threads() {
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
    let builder = Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .timeout(Duration::from_secs(60));

    // At most 64 connecting at a time: a burst of SYNs overflows MemServer's accept queue (backlog 128), and a
    // connection dropped there waits for a greeting that never comes. Opened sessions stay open until every one
    // is open (the barrier), then all retrieve a message and quit concurrently.
    let connecting = Arc::new(Semaphore::new(64));
    let all_open = Arc::new(Barrier::new(SESSIONS));
    let mut tasks = JoinSet::new();
    for i in 0..SESSIONS {
        let (builder, connecting, all_open) =
            (builder.clone(), connecting.clone(), all_open.clone());
        let expected = mailbox.messages()[i % 3].data().to_vec();
        tasks.spawn(async move {
            let permit = connecting.acquire().await.unwrap();
            let opened = async {
                let mut session = builder.connect().await?;
                session.login("demo", "demo").await?;
                let count = session.stat().await?.count;
                Ok::<_, pop3_tokio::Error>((session, count))
            }
            .await;
            drop(permit);
            // Even a session that failed waits here, so that the others are not left waiting for it.
            all_open.wait().await;
            let (mut session, count) = opened?;
            let message = session.retr(i as u64 % 3 + 1).await?;
            session.quit().await?;
            Ok::<_, pop3_tokio::Error>((i, count, message == expected))
        });
    }
    let mut finished = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, count, intact) = joined
            .unwrap()
            .unwrap_or_else(|e| panic!("a session failed: {e}"));
        assert_eq!(count, 3, "session {i}");
        assert!(intact, "session {i} got another message");
        finished += 1;
    }
    assert_eq!(finished, SESSIONS);
    assert_eq!(server.stats().sessions, SESSIONS as u64);
}
