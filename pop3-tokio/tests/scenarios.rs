//! The shared integration scenarios of `pop3_testkit::scenarios` (real Dovecot and scripted hostile servers), run
//! against the tokio driver: each call's future runs to completion with `block_on` of one multi-threaded runtime,
//! whose workers drive the sockets and timers of every test's sessions.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use pop3_testkit::adapter::pop3_session::Async;
use pop3_testkit::adapter::{ClientAdapter, SyncDriver};
use pop3_tokio::{Result, Session, Transport};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

/// The tokio driver, as the scenarios run it.
struct Tokio;

impl SyncDriver for Tokio {
    type Driver = Async<Transport>;
    type Stream = TcpStream;

    fn wait<'a, T: 'a>(call: Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>) -> Result<T> {
        RUNTIME.block_on(call)
    }

    fn adopt(tcp: std::net::TcpStream) -> io::Result<TcpStream> {
        let _runtime = RUNTIME.enter();
        tcp.set_nonblocking(true)?;
        TcpStream::from_std(tcp)
    }

    fn retr_to(session: &mut Session, msg: u64, sink: &mut (dyn Write + Send)) -> Result<u64> {
        RUNTIME.block_on(session.retr_to(msg, &mut SyncSink(sink)))
    }
}

/// The scenarios' synchronous sink as a tokio `AsyncWrite`: each write completes at once.
struct SyncSink<'a>(&'a mut (dyn Write + Send));

impl tokio::io::AsyncWrite for SyncSink<'_> {
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

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

pop3_testkit::all_scenarios!(ClientAdapter::<Tokio>::new());

// The same driver against six more real servers, each in every mode it offers (`pop3_testkit::servers`).
pop3_testkit::server_scenarios!(ClientAdapter::<Tokio>::new());
