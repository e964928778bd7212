#![doc = include_str!("../README.md")]
//!
//! # Reference
//!
//! Every method of [`Session`] is documented on [`pop3_session::Session`], the session every driver shares; here
//! each returns a `Send` future of `Result<T>` (it is written `D::Call<'_, T>` there). Settings are on
//! [`Builder`], TLS choices on [`TlsOptions`], what can fail on [`Error`].
//!
//! ## async-std is discontinued
//!
//! async-std is no longer developed upstream (RUSTSEC-2025-0052 marks it unmaintained); its authors point to
//! smol. This crate keeps working on it, as its default `async-std` feature, for the applications that run on it.
//! Without that feature (`default-features = false`) the crate is runtime-neutral: [`Builder::connect_stream`]
//! takes any `futures_io::AsyncRead + AsyncWrite + Unpin + Send` stream (smol's `Async<TcpStream>`, a proxy
//! tunnel, an in-memory pipe), and time limits use the [`Timer`] you name ([`SessionWith`], [`BuilderWith`]). New applications on tokio should use
//! `pop3-tokio`.
//!
//! ## Time limits
//!
//! [`Timeouts`] bounds the connection (name lookup and each address), each read and each write, and every whole
//! response (the greeting, or one command's complete answer, body included), so a server that drips a byte at a
//! time cannot hold a call longer than that. A limit that passes is [`Error::Timeout`], and closes the session.
//!
//! ## Cancellation
//!
//! Dropping a method's future before it completes (it lost a `select!`, a timeout around it fired, its task was
//! cancelled) may leave a command half written or its answer half read. The session then refuses every later
//! call with `Error::Closed(Some("a previous command was cancelled"))`. A future dropped before its first poll has
//! done nothing. Prefer [`Timeouts`] to a timeout around a call: the result is the same closed session, but
//! reported as [`Error::Timeout`].
//!
//! ## Memory
//!
//! A session holds one receive buffer of [`Config::read_size`](proto::Config::read_size) octets (64 KiB by
//! default) and streams bodies of any size through it. Lower `read_size` for many mostly idle sessions; keep it
//! high for bulk downloads (the `idle_sessions` example measures both).
//!
//! ## poplib mapping
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
//! | `stls` | [`Session::stls`] (or [`Security::StartTls`] when connecting) |
//! | — | [`Session::listing`], [`Session::retr_many`], [`Session::dele_many`]: pipelined batches |
//!
//! ## Cargo features
//!
#![doc = document_features::document_features!()]
#![forbid(unsafe_code)]

#[cfg(feature = "async-std")]
mod runtime;
mod transport;

use std::time::Duration;

pub use pop3_session::api::*;
#[cfg(feature = "async-std")]
pub use runtime::AsyncStd;
pub use transport::{Stream, Transport};

/// The timer a session's time limits use: async-std's ([`AsyncStd`], with the default feature), or any other
/// runtime's.
pub trait Timer: Send + 'static {
    /// Completes after `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
}

/// A POP3 session on async-std; see [`pop3_session::Session`] for every method.
#[cfg(feature = "async-std")]
pub type Session = SessionWith<AsyncStd>;

/// Settings for a session on async-std; `connect` or `connect_stream` opens it.
#[cfg(feature = "async-std")]
pub type Builder = BuilderWith<AsyncStd>;

/// A POP3 session over a futures-io stream, with the timer `Tm`.
pub type SessionWith<Tm> = pop3_session::Session<pop3_session::Async<Transport<Tm>>>;

/// Settings for a session with the timer `Tm`; `connect_stream` opens it.
pub type BuilderWith<Tm> = pop3_session::Builder<pop3_session::Async<Transport<Tm>>>;
