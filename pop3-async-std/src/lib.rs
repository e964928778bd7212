//! A complete async POP3 client for async-std, and for any runtime whose sockets implement `futures-io`.
//!
//! Every protocol decision is made by [`pop3_proto`](proto) and what each call means by [`pop3_client`], the layer every
//! driver shares; this crate is the futures-io driver: the connection, TLS over it (futures-rustls) and a timer.
//! [`Session`] has one `async` method per POP3 command (documented as returning `D::Call<'_, T>`, which is a
//! `Send` future of `Result<T>` here):
//!
//! ```no_run
//! use pop3_async_std::{Security, Session};
//!
//! # async fn demo() -> Result<(), pop3_async_std::Error> {
//! let mut session = Session::builder("pop.example.com").security(Security::Implicit).connect().await?;
//! session.login("user", "secret").await?;
//! let stat = session.stat().await?;
//! for msg in 1..=stat.count {
//!     let message = session.retr(msg).await?;
//!     println!("message {msg}: {} octets", message.len());
//! }
//! session.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # async-std is discontinued
//!
//! async-std is no longer developed upstream (RUSTSEC-2025-0052 marks it unmaintained); its authors point to
//! smol. This crate keeps working on it, as its default `async-std` feature, for the applications that run on it.
//! Without that feature (`default-features = false`) the crate is runtime-neutral: [`Builder::connect_stream`]
//! takes any `futures_io::AsyncRead + AsyncWrite + Unpin + Send` stream (smol's `Async<TcpStream>`, a proxy
//! tunnel, an in-memory pipe), and time limits use the [`Timer`] you name ([`SessionWith`], [`BuilderWith`]). New applications on tokio should use
//! `pop3-tokio`.
//!
//! # Time limits
//!
//! [`Timeouts`] bounds the connection (name lookup and each address), each read and each write, and every whole
//! response (the greeting, or one command's complete answer, body included), so a server that drips a byte at a
//! time cannot hold a call longer than that. A limit that passes is [`Error::Timeout`], and closes the session.
//!
//! # Cancellation
//!
//! Dropping a method's future before it completes (it lost a `select!`, a timeout around it fired, its task was
//! cancelled) may leave a command half written or its answer half read. The session then refuses every later
//! call with `Error::Closed(Some("a previous command was cancelled"))`. A future dropped before its first poll has
//! done nothing. Prefer [`Timeouts`] to a timeout around a call: the result is the same closed session, but
//! reported as [`Error::Timeout`].
//!
//! # Memory
//!
//! A session holds one receive buffer of [`Config::read_size`](proto::Config::read_size) octets (64 KiB by
//! default) and streams bodies of any size through it. Lower `read_size` for many mostly idle sessions; keep it
//! high for bulk downloads (the `idle_sessions` example measures both).
//!
//! # poplib mapping
//!
//! | poplib | here |
//! |---|---|
//! | `POP3(host, port, timeout)` | [`Session::connect`] or [`Session::builder`] with [`Security::Plaintext`] |
//! | `POP3_SSL(host, port, context=…, timeout)` | [`Session::connect_tls`] with [`TlsOptions`] |
//! | `set_debuglevel`, `getwelcome`, `capa` | [`Session::set_debuglevel`], [`Session::greeting`], [`Session::capa`] |
//! | `user`, `pass_`, `apop`, `rpop` | [`Session::user`], [`Session::pass`], [`Session::apop`], [`Session::rpop`] |
//! | `stat`, `list`, `retr`, `dele`, `rset`, `noop`, `quit` | same names ([`Session::list_one`] for `list(n)`) |
//! | `top`, `uidl`, `utf8`, `stls` | same names ([`Session::uidl_one`] for `uidl(n)`) |
//! | `error_proto` | [`Error`] |
#![forbid(unsafe_code)]

#[cfg(feature = "async-std")]
mod runtime;
mod transport;

use std::time::Duration;

pub use pop3_client::{
    ALPN_POP3, Capabilities, Capability, Error, Listing, LoginMethod, Mechanism, OwnedResponseCode,
    Part, RawResponse, Result, ScanListing, Security, ServerError, ServerRefusal, Stat, Timeouts,
    TlsInfo, TlsOptions, UniqueIdListing, choose_login, proto, rustls,
};
#[cfg(feature = "async-std")]
pub use runtime::AsyncStd;
pub use transport::{Stream, Transport};

/// The timer a session's time limits use: async-std's ([`AsyncStd`], with the default feature), or any other
/// runtime's.
pub trait Timer: Send + 'static {
    /// Completes after `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
}

/// A POP3 session on async-std; see [`pop3_client::Session`] for every method.
#[cfg(feature = "async-std")]
pub type Session = SessionWith<AsyncStd>;

/// Settings for a session on async-std; `connect` or `connect_stream` opens it.
#[cfg(feature = "async-std")]
pub type Builder = BuilderWith<AsyncStd>;

/// A POP3 session over a futures-io stream, with the timer `Tm`.
pub type SessionWith<Tm> = pop3_client::Session<pop3_client::Async<Transport<Tm>>>;

/// Settings for a session with the timer `Tm`; `connect_stream` opens it.
pub type BuilderWith<Tm> = pop3_client::Builder<pop3_client::Async<Transport<Tm>>>;
