//! A complete blocking POP3 client over `std::net` and rustls.
//!
//! Every protocol decision is made by [`pop3_proto`]; this crate opens sockets, runs TLS, applies time limits,
//! moves bytes, and offers one method per POP3 command, as Python's `poplib` does.
//!
//! ```no_run
//! use pop3_blocking::{Session, Security};
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

mod error;
#[doc(hidden)]
pub mod listing;
mod session;
#[doc(hidden)]
pub mod settings;
mod tls;
#[doc(hidden)]
pub mod trace;
mod transport;

pub use error::{Code, Error, Result, ServerError, ServerRefusal};
pub use listing::Listing;
pub use pop3_proto as proto;
pub use pop3_proto::{Capabilities, Capability, Mechanism};
pub use session::{Builder, Part, RawResponse, ScanListing, Session, Stat, UniqueIdListing};
pub use settings::{Security, Timeouts};
pub use tls::{ALPN_POP3, TlsInfo, TlsOptions};
pub use transport::{CustomStream, Stream};
