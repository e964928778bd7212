//! The connection under a session: the caller's futures-io stream, or TLS over it, behind one type so that a
//! session's type does not depend on the stream's.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use pop3_session::rustls::pki_types::ServerName;
use pop3_session::rustls::{ClientConfig, ClientConnection};
use pop3_session::{AsyncIo, FromStream};

use crate::Timer;

/// A byte stream a session can run over: any futures-io stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// The connection, before or after TLS, with the timer `Tm` for its time limits.
pub struct Transport<Tm> {
    state: State,
    timer: PhantomData<fn() -> Tm>,
}

enum State {
    Plain(Box<dyn Stream>),
    /// Boxed: a rustls connection is large, and most of a plaintext session's memory would be this variant.
    Tls(Box<TlsStream<Box<dyn Stream>>>),
    /// Only while the handshake owns the stream, or after it failed, was cancelled or the session ended.
    Gone,
}

impl<Tm> fmt::Debug for Transport<Tm> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Plain(_) => "Plain",
            State::Tls(_) => "Tls",
            State::Gone => "Gone",
        })
    }
}

impl<Tm, S: Stream + 'static> FromStream<S> for Transport<Tm> {
    fn from_stream(stream: S) -> Self {
        Self {
            state: State::Plain(Box::new(stream)),
            timer: PhantomData,
        }
    }
}

impl State {
    fn stream(&mut self) -> io::Result<Pin<&mut (dyn AsyncReadWrite + '_)>> {
        match self {
            Self::Plain(stream) => Ok(Pin::new(stream)),
            Self::Tls(tls) => Ok(Pin::new(tls)),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

/// Both halves, as one trait object.
trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

/// Writes all of `bytes`, then flushes.
async fn write_all<W: AsyncWrite + ?Sized>(
    mut writer: Pin<&mut W>,
    bytes: &[u8],
) -> io::Result<()> {
    let mut written = 0;
    poll_fn(|cx| poll_write_all(writer.as_mut(), cx, bytes, &mut written)).await
}

/// Writes `bytes[*written..]`, counting in `written`, then flushes.
fn poll_write_all<W: AsyncWrite + ?Sized>(
    mut writer: Pin<&mut W>,
    cx: &mut Context<'_>,
    bytes: &[u8],
    written: &mut usize,
) -> Poll<io::Result<()>> {
    while *written < bytes.len() {
        match ready!(writer.as_mut().poll_write(cx, &bytes[*written..]))? {
            0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            n => *written += n,
        }
    }
    writer.poll_flush(cx)
}

impl<Tm: Timer> AsyncIo for Transport<Tm> {
    type Sink<'s> = dyn AsyncWrite + Unpin + Send + 's;

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut stream = self.state.stream()?;
        poll_fn(|cx| stream.as_mut().poll_read(cx, buf)).await
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_all(self.state.stream()?, bytes).await
    }

    async fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        let State::Plain(stream) = std::mem::replace(&mut self.state, State::Gone) else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS is already active",
            ));
        };
        let tls = futures_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await?;
        self.state = State::Tls(Box::new(tls));
        Ok(())
    }

    fn tls_connection(&self) -> Option<&ClientConnection> {
        match &self.state {
            State::Tls(tls) => Some(tls.get_ref().1),
            _ => None,
        }
    }

    async fn close(&mut self) {
        if let Ok(mut stream) = self.state.stream() {
            let _ = poll_fn(|cx| stream.as_mut().poll_close(cx)).await;
        }
        self.state = State::Gone;
    }

    fn poll_write_to_sink(
        sink: &mut Self::Sink<'_>,
        cx: &mut Context<'_>,
        bytes: &[u8],
        written: &mut usize,
    ) -> Poll<io::Result<()>> {
        poll_write_all(Pin::new(sink), cx, bytes, written)
    }

    fn sleep(duration: std::time::Duration) -> impl Future<Output = ()> + Send {
        Tm::sleep(duration)
    }
}
