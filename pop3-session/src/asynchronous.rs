//! The driving loop of every async driver, written once over [`AsyncIo`]: an async runtime brings its streams,
//! TLS over them and its timer; the loop, the time limits and the cancellation rule are here.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::conversation::Action;
use crate::error::{Error, Result};
use crate::op::Operation;
use crate::session::{Connect, ConnectStream, Driver, Session};
use crate::settings::Settings;

/// What an async runtime gives a session: a connection (plain, then maybe TLS), a way to write into the caller's
/// sink, and a timer. Every future must be `Send`, so sessions run on multi-threaded executors.
pub trait AsyncIo: Send + Sized {
    /// Where `retr_to` and `top_to` write: the runtime's async writer, as a trait object.
    type Sink<'s>: ?Sized + Send + 's;

    /// Reads what is there into `buf` (0 at the end of the stream).
    fn read(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Writes all of `bytes` and flushes.
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// Runs the TLS handshake over the plain connection, keeping no plaintext read-ahead.
    fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// The TLS connection, once TLS is up.
    fn tls_connection(&self) -> Option<&rustls::ClientConnection>;

    /// Ends the connection: TLS `close_notify` first, best effort.
    fn close(&mut self) -> impl Future<Output = ()> + Send;

    /// Writes `bytes[*written..]` to the caller's sink, adding what it wrote to `written`; ready once all of
    /// `bytes` is written (and flushed, if the runtime's writers want that).
    ///
    /// A poll rather than a future: the loop would hold a future of the sink's type across an `await`, and rustc
    /// before 1.92 cannot prove that loop's future `Send` (the crates claim 1.85). Polled by hand, a body chunk
    /// costs no allocation.
    fn poll_write_to_sink(
        sink: &mut Self::Sink<'_>,
        cx: &mut Context<'_>,
        bytes: &[u8],
        written: &mut usize,
    ) -> Poll<io::Result<()>>;

    /// Completes after `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
}

/// An [`AsyncIo`] that opens TCP connections with its runtime.
pub trait AsyncConnect: AsyncIo {
    /// Resolves `host` without blocking the executor.
    fn resolve(host: &str, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// Opens a TCP connection (with `TCP_NODELAY`: commands are small and pipelined).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self>> + Send;
}

/// An [`AsyncIo`] made from a stream the caller opened.
pub trait FromStream<S> {
    /// Wraps `stream`.
    fn from_stream(stream: S) -> Self;
}

/// The async driver over any [`AsyncIo`].
#[derive(Debug)]
pub struct Async<T>(T);

impl<T: AsyncIo> Driver for Async<T> {
    type Call<'a, R: 'a>
        = Pin<Box<dyn Future<Output = Result<R>> + Send + 'a>>
    where
        Self: 'a;
    type Sink<'s>
        = T::Sink<'s>
    where
        Self: 's;

    fn call<'a, O: Operation + 'a>(
        session: &'a mut Session<Self>,
        op: O,
        sink: Option<&'a mut T::Sink<'a>>,
    ) -> Self::Call<'a, O::Output> {
        Box::pin(run(session, op, sink))
    }

    fn tls_connection(&self) -> Option<&rustls::ClientConnection> {
        self.0.tls_connection()
    }
}

impl<T: AsyncConnect + 'static> Connect for Async<T> {
    fn connect(settings: Settings) -> Self::Call<'static, Session<Self>> {
        Box::pin(async move {
            let limit = settings.timeouts().connect;
            let addrs = within::<T, _>(limit, T::resolve(settings.lookup_host(), settings.port()))
                .await
                .map_err(|e| Error::from_io(e, "resolving the host name"))?;
            let mut last_error = None;
            for addr in addrs {
                match within::<T, _>(limit, T::connect(addr)).await {
                    Ok(io) => return set_up(settings, io).await,
                    Err(error) => last_error = Some(Error::from_io(error, "connecting")),
                }
            }
            Err(last_error.unwrap_or_else(|| {
                Error::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    "host has no address",
                ))
            }))
        })
    }
}

impl<S: Send + 'static, T: AsyncIo + FromStream<S> + 'static> ConnectStream<S> for Async<T> {
    fn connect_stream(settings: Settings, stream: S) -> Self::Call<'static, Session<Self>> {
        Box::pin(set_up(settings, T::from_stream(stream)))
    }
}

async fn set_up<T: AsyncIo>(settings: Settings, io: T) -> Result<Session<Async<T>>> {
    let security = settings.security();
    let mut session = Session::new(settings, Async(io))?;
    session.set_up(security).await?;
    Ok(session)
}

/// Runs `future` within `limit`, if there is one; running out is an [`io::ErrorKind::TimedOut`] error. The timer
/// is only made if the future is not ready at once.
async fn within<T: AsyncIo, R>(
    limit: Option<Duration>,
    future: impl Future<Output = io::Result<R>>,
) -> io::Result<R> {
    let Some(limit) = limit else {
        return future.await;
    };
    let mut future = pin!(future);
    if let Poll::Ready(ready) = poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await {
        return ready;
    }
    let mut sleep = pin!(T::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(ready) = future.as_mut().poll(cx) {
            return Poll::Ready(ready);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// The loop: does what each action says until the operation is done.
async fn run<T: AsyncIo, O: Operation>(
    session: &mut Session<Async<T>>,
    mut op: O,
    mut sink: Option<&mut T::Sink<'_>>,
) -> Result<O::Output> {
    let (conversation, Async(io)) = session.parts();
    let timeouts = conversation.timeouts();
    conversation.begin(&mut op)?;
    loop {
        let outcome = match conversation.step(&mut op)? {
            Action::Continue => continue,
            Action::Write(bytes) => {
                let octets = bytes.len();
                match within::<T, _>(timeouts.write, io.write_all(bytes)).await {
                    Ok(()) => {
                        conversation.written(octets);
                        Ok(())
                    }
                    Err(error) => Err(Error::from_io(error, "writing to the server")),
                }
            }
            Action::Read { timeout } => {
                match within::<T, _>(timeout, io.read(conversation.input_buffer())).await {
                    Ok(octets) => {
                        conversation.received(octets);
                        Ok(())
                    }
                    Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                        conversation.received(0);
                        Ok(())
                    }
                    Err(error) => Err(Error::from_io(error, "waiting for the server")),
                }
            }
            Action::Handshake {
                config,
                name,
                timeout,
            } => {
                // Boxed: a handshake holds a whole TLS connection in the making, and unboxed it would make every
                // call's future (allocated per call) several times larger, for the one call in a session that
                // sets TLS up.
                let handshake: Pin<Box<dyn Future<Output = io::Result<()>> + Send + '_>> =
                    Box::pin(io.start_tls(config, name));
                match within::<T, _>(timeout, handshake).await {
                    Ok(()) => {
                        conversation.handshake_done();
                        Ok(())
                    }
                    Err(error) => Err(Error::from_io(error, "during the TLS handshake")),
                }
            }
            Action::Deliver(chunk) => {
                if let Some(sink) = sink.as_deref_mut() {
                    let mut written = 0;
                    let write = poll_fn(|cx| T::poll_write_to_sink(sink, cx, chunk, &mut written));
                    if let Err(error) = write.await {
                        conversation.sink_failed(error);
                    }
                }
                Ok(())
            }
            Action::Close => {
                io.close().await;
                Ok(())
            }
            Action::Done => return conversation.finish(op),
        };
        if let Err(error) = outcome {
            return Err(conversation.fail(error));
        }
    }
}
