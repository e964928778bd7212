//! A deliberately naive raw POP3 client for testing the servers: it knows
//! nothing about POP3 beyond lines and the dot-terminated multi-line format.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

pub struct Client<S: Read + Write> {
    r: BufReader<S>,
}

pub fn connect(addr: SocketAddr) -> Client<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Client::new(s)
}

pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Completes a TLS handshake over `sock`, returning the stream or the error.
pub fn tls_handshake(
    sock: TcpStream,
    config: Arc<ClientConfig>,
    name: &str,
) -> Result<TlsStream, std::io::Error> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

impl<S: Read + Write> Client<S> {
    pub fn new(s: S) -> Self {
        Self {
            r: BufReader::with_capacity(64 * 1024, s),
        }
    }

    pub fn into_inner(self) -> S {
        assert!(self.r.buffer().is_empty(), "unread buffered data");
        self.r.into_inner()
    }

    pub fn send(&mut self, data: &[u8]) {
        let s = self.r.get_mut();
        s.write_all(data).unwrap();
        s.flush().unwrap();
    }

    /// Reads one line including CRLF.
    pub fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).unwrap();
        line
    }

    /// Reads one line, asserting CRLF, returning it without the CRLF.
    pub fn line(&mut self) -> String {
        let line = self.raw_line();
        assert!(line.ends_with(b"\r\n"), "not CRLF-terminated: {line:?}");
        String::from_utf8(line[..line.len() - 2].to_vec()).unwrap()
    }

    pub fn cmd(&mut self, cmd: &str) -> String {
        self.send(format!("{cmd}\r\n").as_bytes());
        self.line()
    }

    /// Reads a multi-line body up to the "." line, removing dot-stuffing.
    pub fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = self.raw_line();
            assert!(line.ends_with(b"\r\n"), "bad line {line:?}");
            if line == b".\r\n" {
                return out;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            out.extend_from_slice(line);
        }
    }

    pub fn body_lines(&mut self) -> Vec<String> {
        String::from_utf8(self.body())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        assert!(self.cmd(&format!("USER {user}")).starts_with("+OK"));
        let r = self.cmd(&format!("PASS {pass}"));
        assert!(r.starts_with("+OK"), "{r}");
    }
}
