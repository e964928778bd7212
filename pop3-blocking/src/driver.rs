//! The blocking driver: the loop that moves bytes between the conversation and the connection, with socket time
//! limits.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use pop3_session::{Action, Connect, ConnectStream, Driver, Error, Operation, Result, Settings};

use crate::transport::{Stream, Transport};

/// The blocking driver: a connection over `std::net` (or a caller's `Read + Write`), TLS by rustls, and socket
/// time limits. Sessions name it as [`Session`](crate::Session).
#[derive(Debug)]
pub struct Blocking {
    transport: Transport,
    /// The read timeout last set on the socket: one system call per change, not per read.
    read_timeout_set: Option<Option<Duration>>,
}

impl Blocking {
    fn establish(settings: Settings, stream: Box<dyn Stream>) -> Result<crate::Session> {
        stream.set_write_timeout(settings.timeouts().write)?;
        let security = settings.security();
        let driver = Self {
            transport: Transport::Plain(stream),
            read_timeout_set: None,
        };
        let mut session = crate::Session::new(settings, driver)?;
        session.set_up(security)?;
        Ok(session)
    }

    fn read(&mut self, buffer: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        if self.read_timeout_set != Some(timeout) {
            self.transport.set_read_timeout(timeout)?;
            self.read_timeout_set = Some(timeout);
        }
        loop {
            match self.transport.read(buffer) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                other => return other,
            }
        }
    }
}

impl Driver for Blocking {
    type Call<'a, T: 'a>
        = Result<T>
    where
        Self: 'a;
    type Sink<'s>
        = dyn Write + 's
    where
        Self: 's;

    fn call<'a, O: Operation + 'a>(
        session: &'a mut crate::Session,
        mut op: O,
        mut sink: Option<&'a mut (dyn Write + 'a)>,
    ) -> Result<O::Output> {
        let (conversation, driver) = session.parts();
        let read_limit = conversation.timeouts().read;
        conversation.begin(&mut op)?;
        loop {
            let outcome = match conversation.step(&mut op)? {
                Action::Continue => continue,
                Action::Write(bytes) => {
                    let octets = bytes.len();
                    match (driver.transport.write_all(bytes))
                        .and_then(|()| driver.transport.flush())
                    {
                        Ok(()) => {
                            conversation.written(octets);
                            Ok(())
                        }
                        Err(error) => Err(Error::from_io(error, "writing to the server")),
                    }
                }
                Action::Read { timeout } => match driver.read(conversation.input_buffer(), timeout)
                {
                    Ok(octets) => {
                        conversation.received(octets);
                        Ok(())
                    }
                    Err(error) => Err(Error::from_io(error, "waiting for the server")),
                },
                Action::Handshake {
                    config,
                    name,
                    timeout,
                } => {
                    // The handshake sets its own socket timeouts.
                    driver.read_timeout_set = None;
                    let deadline = timeout.map(|limit| Instant::now() + limit);
                    (driver
                        .transport
                        .start_tls(config, name, deadline, read_limit))
                    .map(|()| conversation.handshake_done())
                }
                Action::Deliver(chunk) => {
                    if let Some(Err(error)) = sink.as_deref_mut().map(|s| s.write_all(chunk)) {
                        conversation.sink_failed(error);
                    }
                    Ok(())
                }
                Action::Close => {
                    driver.transport.close();
                    Ok(())
                }
                Action::Done => return conversation.finish(op),
            };
            if let Err(error) = outcome {
                return Err(conversation.fail(error));
            }
        }
    }

    fn tls_connection(&self) -> Option<&pop3_session::rustls::ClientConnection> {
        self.transport.tls_connection()
    }
}

impl Connect for Blocking {
    /// Opens a TCP connection (each resolved address in turn, IPv4 or IPv6) and sets up the session.
    fn connect(settings: Settings) -> Result<crate::Session> {
        let addrs = (settings.lookup_host(), settings.port()).to_socket_addrs()?;
        let limit = settings.timeouts().connect;
        let mut last_error = None;
        for addr in addrs {
            let attempt = match limit {
                Some(limit) => TcpStream::connect_timeout(&addr, limit),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Self::establish(settings, Box::new(stream));
                }
                Err(error) => last_error = Some(Error::from_io(error, "connecting")),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                "host has no address",
            ))
        }))
    }
}

/// A [`Stream`]: a [`TcpStream`] the caller opened (through a proxy, say), which gets the read and write limits,
/// or any `Read + Write` wrapped in [`CustomStream`](crate::CustomStream) (a Unix socket, a test pipe), to which only the
/// per-response limit applies.
impl<S: Stream + 'static> ConnectStream<S> for Blocking {
    fn connect_stream(settings: Settings, stream: S) -> Result<crate::Session> {
        Self::establish(settings, Box::new(stream))
    }
}
