#![doc = include_str!("../README.md")]
//!
//! # Reference
//!
//! Every method of [`Session`] is documented on [`pop3_session::Session`], the session every driver shares; here
//! each returns a `Send` future of `Result<T>` (it is written `D::Call<'_, T>` there). Settings are on
//! [`Builder`], TLS choices on [`TlsOptions`], what can fail on [`Error`].
//!
//! ## Time limits
//!
//! [`Timeouts`] bounds the connection (name lookup and each address), each read and each write, and every whole
//! response, with tokio's timer (so a session needs a runtime with the time driver enabled). A limit that passes
//! is [`Error::Timeout`], and closes the session.
//!
//! ## Cancellation
//!
//! Dropping a method's future before it completes (it lost a `select!`, `tokio::time::timeout` fired, its task was
//! aborted) may leave a command half written or its answer half read. The session then refuses every later call
//! with `Error::Closed(Some("a previous command was cancelled"))`. A future dropped before its first poll has done
//! nothing. Prefer [`Timeouts`] to a timeout around a call: the result is the same closed session, but reported as
//! [`Error::Timeout`].
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

mod transport;

pub use pop3_session::api::*;
pub use transport::{Stream, Transport};

/// A POP3 session on tokio; see [`pop3_session::Session`] for every method.
pub type Session = pop3_session::Session<pop3_session::Async<Transport>>;

/// Settings for a session on tokio; `connect` or `connect_stream` opens it.
pub type Builder = pop3_session::Builder<pop3_session::Async<Transport>>;
