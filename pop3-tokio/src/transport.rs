//! The connection under a session: a tokio stream, or TLS over it, behind one type so that a session's type does
//! not depend on the stream's.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pop3_session::rustls::pki_types::ServerName;
use pop3_session::rustls::{ClientConfig, ClientConnection};
use pop3_session::{AsyncConnect, AsyncIo, FromStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A byte stream a session can run over: any tokio stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// The connection, before or after TLS.
pub enum Transport {
    /// Plain bytes.
    Plain(Box<dyn Stream>),
    /// TLS over them. Boxed: a rustls connection is large, and most of a plaintext session's memory would be this.
    Tls(Box<TlsStream<Box<dyn Stream>>>),
    /// Only while the handshake owns the stream, or after it failed, was cancelled or the session ended.
    Gone,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Plain",
            Self::Tls(_) => "Tls",
            Self::Gone => "Gone",
        })
    }
}

impl<S: Stream + 'static> FromStream<S> for Transport {
    fn from_stream(stream: S) -> Self {
        Self::Plain(Box::new(stream))
    }
}

impl AsyncIo for Transport {
    type Sink<'s> = dyn AsyncWrite + Unpin + Send + 's;

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buf).await,
            Self::Tls(tls) => tls.read(buf).await,
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(stream) => write_all(stream, bytes).await,
            Self::Tls(tls) => write_all(tls, bytes).await,
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        let connector = tokio_rustls::TlsConnector::from(config);
        match std::mem::replace(self, Self::Gone) {
            Self::Plain(stream) => {
                *self = Self::Tls(Box::new(connector.connect(name, stream).await?));
                Ok(())
            }
            _ => Err(io::Error::other("TLS is already active")),
        }
    }

    fn tls_connection(&self) -> Option<&ClientConnection> {
        match self {
            Self::Tls(tls) => Some(tls.get_ref().1),
            _ => None,
        }
    }

    async fn close(&mut self) {
        if let Self::Tls(tls) = self {
            let _ = tls.shutdown().await;
        }
        *self = Self::Gone;
    }

    fn poll_write_to_sink(
        sink: &mut Self::Sink<'_>,
        cx: &mut Context<'_>,
        bytes: &[u8],
        written: &mut usize,
    ) -> Poll<io::Result<()>> {
        // As `AsyncWriteExt::write_all`: no flush.
        while *written < bytes.len() {
            match ready!(Pin::new(&mut *sink).poll_write(cx, &bytes[*written..]))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => *written += n,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

async fn write_all<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W, bytes: &[u8]) -> io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

impl AsyncConnect for Transport {
    async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::from_stream(stream))
    }
}
