//! The byte pipe under a session: plain TCP, TLS over it, or a caller's own stream.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pop3_session::rustls::pki_types::ServerName;
use pop3_session::rustls::{ClientConfig, ClientConnection, StreamOwned};
use pop3_session::{Error, Result};

/// A byte stream a session can run over. Implemented for [`TcpStream`]; wrap any other `Read + Write` (a SOCKS or
/// HTTP proxy tunnel, an in-memory pipe) with [`CustomStream`].
pub trait Stream: Read + Write + Send + fmt::Debug {
    /// Limits how long one read may block; `None` blocks forever.
    ///
    /// # Errors
    /// As the socket's own call.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Limits how long one write may block; `None` blocks forever.
    ///
    /// # Errors
    /// As the socket's own call.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Self::set_write_timeout(self, timeout)
    }
}

/// Any `Read + Write` as a [`Stream`]. Timeouts cannot be set on it, so only the session's per-response deadline,
/// checked between reads, applies: give the stream its own timeouts if it can block forever.
#[derive(Debug)]
pub struct CustomStream<S>(pub S);

impl<S: Read> Read for CustomStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for CustomStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write + Send + fmt::Debug> Stream for CustomStream<S> {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

/// The connection, before or after TLS.
#[derive(Debug)]
pub(crate) enum Transport {
    Plain(Box<dyn Stream>),
    Tls(Box<StreamOwned<ClientConnection, Box<dyn Stream>>>),
    /// Only while swapping one for the other.
    Gone,
}

impl Transport {
    fn socket(&self) -> Option<&dyn Stream> {
        match self {
            Self::Plain(stream) => Some(stream.as_ref()),
            Self::Tls(tls) => Some(tls.sock.as_ref()),
            Self::Gone => None,
        }
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket()
            .map_or(Ok(()), |s| s.set_read_timeout(timeout))
    }

    /// Runs the TLS handshake on the current plain stream. The session keeps no read-ahead of its own (the
    /// protocol core refuses any byte after STLS's `+OK`), so nothing sent in clear can leak into TLS.
    ///
    /// Each read waits at most `read`, and the whole handshake ends by `deadline`, so a server that stalls or
    /// drips handshake bytes cannot hold the caller longer than that.
    pub(crate) fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        deadline: Option<Instant>,
        read: Option<Duration>,
    ) -> Result<()> {
        let Self::Plain(stream) = std::mem::replace(self, Self::Gone) else {
            return Err(Error::Closed(Some("TLS is already active")));
        };
        let connection = ClientConnection::new(config, name)?;
        let mut tls = Box::new(StreamOwned::new(connection, stream));
        tls.sock.set_read_timeout(read)?;
        while tls.conn.is_handshaking() {
            let mut io = Bounded {
                stream: tls.sock.as_mut(),
                deadline,
                read,
            };
            tls.conn
                .complete_io(&mut io)
                .map_err(|error| Error::from_io(error, "during the TLS handshake"))?;
        }
        *self = Self::Tls(tls);
        Ok(())
    }

    /// Ends the connection: TLS says `close_notify` first (best effort: the session is over either way), then the
    /// stream is dropped, which closes a socket.
    pub(crate) fn close(&mut self) {
        if let Self::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        *self = Self::Gone;
    }

    pub(crate) fn tls_connection(&self) -> Option<&ClientConnection> {
        match self {
            Self::Tls(tls) => Some(&tls.conn),
            _ => None,
        }
    }
}

/// A stream whose reads give up at a deadline (for the TLS handshake, which does several reads in one call).
struct Bounded<'a> {
    stream: &'a mut dyn Stream,
    deadline: Option<Instant>,
    read: Option<Duration>,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream
                .set_read_timeout(Some(self.read.map_or(left, |read| read.min(left))))?;
        }
        self.stream.read(buf)
    }
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buf),
            Self::Tls(tls) => tls.read(buf),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(buf),
            Self::Tls(tls) => tls.write(buf),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(stream) => stream.flush(),
            Self::Tls(tls) => tls.flush(),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}
