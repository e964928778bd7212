//! The byte pipe under a session: the caller's stream, or TLS over it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;

use crate::{Error, Result, TlsInfo};

/// The connection, before or after TLS.
pub(crate) enum Transport<S> {
    Plain(S),
    /// Boxed: a rustls connection is large, and most of a plaintext session's memory would be this variant.
    Tls(Box<TlsStream<S>>),
    /// Only while the handshake owns the stream, or after it failed or was cancelled.
    Gone,
}

impl<S> fmt::Debug for Transport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Plain",
            Self::Tls(_) => "Tls",
            Self::Gone => "Gone",
        })
    }
}

impl<S> Transport<S> {
    fn connection(&self) -> Option<&ClientConnection> {
        match self {
            Self::Tls(tls) => Some(tls.get_ref().1),
            _ => None,
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    pub(crate) fn tls_info(&self) -> Option<TlsInfo> {
        let connection = self.connection()?;
        Some(TlsInfo {
            version: connection.protocol_version(),
            cipher_suite: connection.negotiated_cipher_suite(),
            alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: connection
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        })
    }

    /// RFC 9266 `tls-exporter` channel binding, only on TLS 1.3 (where it is defined without extra conditions).
    pub(crate) fn channel_binding(&self) -> Option<pop3_proto::ChannelBinding> {
        let connection = self.connection()?;
        if connection.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return None;
        }
        let data = connection
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
            .ok()?;
        Some(pop3_proto::ChannelBinding {
            kind: "tls-exporter",
            data: data.to_vec(),
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport<S> {
    /// Runs the TLS handshake on the plain stream. The session keeps no read-ahead of its own (the protocol core
    /// refuses any byte after STLS's `+OK`), so nothing sent in clear can leak into TLS. If the handshake fails or
    /// its future is dropped, the stream is gone with it.
    pub(crate) async fn start_tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        host: &str,
    ) -> io::Result<()> {
        let name = server_name(host)?;
        let Self::Plain(stream) = std::mem::replace(self, Self::Gone) else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS is already active",
            ));
        };
        let tls = futures_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await?;
        *self = Self::Tls(Box::new(tls));
        Ok(())
    }
}

/// The name a certificate must carry: the configured host, never anything the server said.
fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Fills `buf` with random bytes from a rustls crypto provider (for SCRAM nonces): the session's own, else the
/// process default, else the one chosen by cargo features.
pub(crate) fn random(config: Option<&rustls::ClientConfig>, buf: &mut [u8]) -> Result<()> {
    let provider = match config {
        Some(config) => config.crypto_provider().clone(),
        None => match rustls::crypto::CryptoProvider::get_default() {
            Some(provider) => provider.clone(),
            None => feature_provider()?,
        },
    };
    provider
        .secure_random
        .fill(buf)
        .map_err(|_| Error::Tls(rustls::Error::FailedToGetRandomBytes))
}

fn feature_provider() -> Result<Arc<rustls::crypto::CryptoProvider>> {
    #[cfg(feature = "ring")]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[allow(unreachable_code)]
    Err(Error::Tls(rustls::Error::General(
        "no rustls crypto provider: enable ring or aws-lc-rs".into(),
    )))
}

/// rustls reports handshake and record failures as `io::Error`s wrapping a `rustls::Error`; surface those as TLS
/// errors so a caller can tell a bad certificate from a dropped connection. Time limits become
/// [`Error::Timeout`].
pub(crate) fn io_error(error: io::Error, doing: &'static str) -> Error {
    if matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return Error::Timeout(doing);
    }
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Error::Tls(tls.clone()),
        None => Error::Io(error),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Self::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Self::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Self::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_close(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
            Self::Gone => Poll::Ready(Ok(())),
        }
    }
}
