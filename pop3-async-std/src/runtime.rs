//! async-std: its timer, its name lookup and its TCP sockets.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use async_std::net::{TcpStream, ToSocketAddrs as _};
use pop3_session::{AsyncConnect, FromStream};

use crate::{Timer, Transport};

/// async-std's timers. They run on the `async-io` reactor thread, so they also work under smol or
/// `futures::executor::block_on`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Timer for AsyncStd {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        async_std::task::sleep(duration)
    }
}

impl AsyncConnect for Transport<AsyncStd> {
    async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs().await?.collect())
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::from_stream(stream))
    }
}
