//! A complete blocking POP3 client over `std::net` and rustls.
//!
//! Every protocol decision is made by [`pop3_proto`](proto), and what each call means by [`pop3_client`], the layer
//! every driver shares; this crate is the blocking driver: it opens sockets, runs TLS, applies time limits and
//! moves bytes. [`Session`] has one method per POP3 command, as Python's `poplib` does; each returns `Result<T>`
//! (the session's methods are documented as `D::Call<'_, T>`, which is `Result<T>` here).
//!
//! ```no_run
//! use pop3_blocking::{Security, Session};
//!
//! # fn main() -> Result<(), pop3_blocking::Error> {
//! let mut session = Session::builder("pop.example.com").security(Security::Implicit).connect()?;
//! session.login("user", "secret")?;
//! let stat = session.stat()?;
//! for msg in 1..=stat.count {
//!     let message = session.retr(msg)?;
//!     println!("message {msg}: {} octets", message.len());
//! }
//! session.quit()?;
//! # Ok(())
//! # }
//! ```
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

mod driver;
mod transport;

pub use driver::Blocking;
pub use pop3_client::{
    ALPN_POP3, Capabilities, Capability, Error, Listing, LoginMethod, Mechanism, OwnedResponseCode,
    Part, RawResponse, Result, ScanListing, Security, ServerError, ServerRefusal, Stat, Timeouts,
    TlsInfo, TlsOptions, UniqueIdListing, choose_login, proto, rustls,
};
pub use transport::{CustomStream, Stream};

/// A POP3 session over a blocking connection; see [`pop3_client::Session`] for every method.
pub type Session = pop3_client::Session<Blocking>;

/// Settings for a blocking connection; `connect` opens it.
pub type Builder = pop3_client::Builder<Blocking>;
