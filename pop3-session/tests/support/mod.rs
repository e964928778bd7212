//! In-memory TLS handshakes between a client configuration made by `TlsOptions` and a rustls server, so a test
//! sees the exact rustls outcome without sockets.
// Each test file uses part of this module.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use pop3_session::TlsOptions;
use pop3_session::rustls::pki_types::ServerName;
use pop3_session::rustls::{self, ClientConfig, ClientConnection, ServerConfig, ServerConnection};

/// The crate is built without a provider feature in its tests; the process default is used then.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The client configuration `options` describe.
pub fn client_config(options: &TlsOptions) -> Arc<ClientConfig> {
    install_provider();
    options.client_config().expect("client configuration")
}

/// Runs a handshake for `host` between `options`' client configuration and `server`; the client's verdict.
pub fn handshake(
    options: &TlsOptions,
    host: &str,
    server: Arc<ServerConfig>,
) -> Result<(), rustls::Error> {
    connect(client_config(options), host, server).map(drop)
}

/// Runs a handshake for `host` between `config` and `server`, and hands back the client's side (with the
/// server's post-handshake messages, such as session tickets, processed).
pub fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    server: Arc<ServerConfig>,
) -> Result<ClientConnection, rustls::Error> {
    let name = ServerName::try_from(host.to_owned()).expect("host name");
    let mut client = ClientConnection::new(config, name)?;
    let mut server = ServerConnection::new(server).expect("server connection");
    for _ in 0..20 {
        let mut to_server = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut to_server).expect("client write");
        }
        let mut input = &to_server[..];
        while !input.is_empty() {
            server.read_tls(&mut input).expect("server read");
            if let Err(e) = server.process_new_packets() {
                panic!("the server failed first ({e}); the test wants the client's verdict");
            }
        }
        let mut to_client = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut to_client).expect("server write");
        }
        let mut input = &to_client[..];
        while !input.is_empty() {
            client.read_tls(&mut input).expect("client read");
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(client);
        }
    }
    panic!("the handshake made no progress");
}
