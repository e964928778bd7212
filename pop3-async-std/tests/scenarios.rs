//! The shared integration scenarios of `pop3_testkit::scenarios` (real Dovecot and scripted hostile servers), run
//! against the async-std driver: each call's future runs to completion with `async_std::task::block_on`.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_std::net::TcpStream;
use async_std::task::block_on;
use pop3_async_std::{AsyncStd, Result, Session, Transport};
use pop3_testkit::adapter::pop3_session::Async;
use pop3_testkit::adapter::{ClientAdapter, SyncDriver};

/// The async-std driver, as the scenarios run it.
struct OnAsyncStd;

impl SyncDriver for OnAsyncStd {
    type Driver = Async<Transport<AsyncStd>>;
    type Stream = TcpStream;

    fn wait<'a, T: 'a>(call: Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>) -> Result<T> {
        block_on(call)
    }

    fn adopt(tcp: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream::from(tcp))
    }

    fn retr_to(session: &mut Session, msg: u64, sink: &mut (dyn Write + Send)) -> Result<u64> {
        block_on(session.retr_to(msg, &mut SyncSink(sink)))
    }
}

/// The scenarios' synchronous sink as a `futures_io::AsyncWrite`: each write completes at once.
struct SyncSink<'a>(&'a mut (dyn Write + Send));

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

pop3_testkit::all_scenarios!(ClientAdapter::<OnAsyncStd>::new());

// The same driver against six more real servers, each in every mode it offers (`pop3_testkit::servers`).
pop3_testkit::server_scenarios!(ClientAdapter::<OnAsyncStd>::new());
