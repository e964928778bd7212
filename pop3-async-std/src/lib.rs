//! A complete async POP3 client for async-std, and for any runtime whose sockets implement `futures-io`.
//!
//! Every protocol decision is made by [`pop3_proto`]; this crate is a thin async driver of it, with the same
//! methods, types, errors and security defaults as the blocking client, `pop3-blocking`, each method an
//! `async fn`:
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
//! # Shared with pop3-blocking
//!
//! [`Error`], [`ServerError`], [`Code`], [`ServerRefusal`], [`TlsOptions`], [`TlsInfo`], [`Security`],
//! [`Timeouts`] and the listing types are pop3-blocking's own, re-exported: they hold no I/O, and one error type
//! serves an application that uses both clients. The driving loop, TLS over `futures-rustls`, the time limits and
//! the trace are this crate's.
//!
//! # Runtimes
//!
//! [`Session::connect`] and [`Builder::connect`] open an async-std [`TcpStream`](async_std::net::TcpStream),
//! resolving the name without blocking the executor and trying each address (IPv4 and IPv6) in turn.
//! [`Builder::connect_stream`] takes any `futures_io::AsyncRead + AsyncWrite + Unpin + Send` stream instead:
//! smol's sockets, a proxy tunnel, an in-memory pipe. Time limits use async-std's timers, which run on the
//! `async-io` reactor thread, so they also work under smol or `futures::executor::block_on`.
//!
//! # Time limits
//!
//! [`Timeouts`] bounds the connection (name lookup and each address), each read and each write, and every whole
//! response (the greeting, or one command's complete answer, body included), so a server that drips a byte at a
//! time cannot hold a call longer than that. The TLS handshake must fit in both the read and the response limit.
//! A limit that passes is [`Error::Timeout`], and closes the session. The limits apply to every stream, custom
//! ones included.
//!
//! # Cancellation
//!
//! Dropping a method's future before it completes (it lost a `select!`, a timeout around it fired, its task was
//! cancelled) may leave a command half written or its answer half read. The session then refuses every later
//! call with `Error::Closed(Some("a previous command was cancelled"))`: no command can read the bytes of an earlier
//! one, and no guess is made about how much of the old answer is still on the way. A future dropped before its
//! first poll has done nothing and costs nothing. Prefer [`Timeouts`] to a timeout around a call: the result is the
//! same closed session, but reported as [`Error::Timeout`].
//!
//! # Memory
//!
//! A session holds one receive buffer of [`Config::read_size`](pop3_proto::Config::read_size) octets (64 KiB by
//! default) and streams bodies of any size through it ([`Session::retr_to`], [`Session::retr_many`]). Measured
//! with the `idle_sessions` example (1,000 idle sessions on one thread, the server in another process), an idle
//! plaintext session costs about 74 KiB with the default and 10 KiB with `read_size` 4096; over TLS, 88 KiB and
//! 29 KiB. Lower `read_size` for many mostly idle sessions; keep it high for bulk downloads.
//!
//! # Security defaults
//!
//! - [`Security::Implicit`] TLS on port 995 unless told otherwise; certificates and host names always verified.
//! - [`Security::StartTls`] never falls back to plaintext; [`Security::StartTlsIfAvailable`] must be asked for.
//! - Credentials over plaintext are refused unless [`Builder::allow_plaintext_credentials`] is called.
//! - The protocol trace redacts passwords, APOP digests and SASL messages.
//!
//! # poplib mapping
//!
//! | poplib | here |
//! |---|---|
//! | `POP3(host, port, timeout)` | [`Session::connect`] or [`Session::builder`] with [`Security::Plaintext`] |
//! | `POP3_SSL(host, port, context=…, timeout)` | [`Session::connect_tls`] with [`TlsOptions`] |
//! | `set_debuglevel` | [`Session::set_debuglevel`] |
//! | `getwelcome` | [`Session::greeting`] |
//! | `capa` | [`Session::capa`] |
//! | `user`, `pass_`, `apop`, `rpop` | [`Session::user`], [`Session::pass`], [`Session::apop`], [`Session::rpop`] |
//! | `stat`, `list`, `retr`, `dele`, `rset`, `noop`, `quit` | same names ([`Session::list_one`] for `list(n)`) |
//! | `top`, `uidl`, `utf8`, `stls` | same names ([`Session::uidl_one`] for `uidl(n)`) |
//! | `error_proto` | [`Error`] |
#![forbid(unsafe_code)]

mod session;
mod transport;

pub use pop3_blocking::{
    ALPN_POP3, Code, Error, Listing, Part, RawResponse, Result, ScanListing, Security, ServerError,
    ServerRefusal, Stat, Timeouts, TlsInfo, TlsOptions, UniqueIdListing,
};
pub use pop3_proto as proto;
pub use pop3_proto::{Capabilities, Capability, Mechanism};
pub use session::{Builder, Session};
