#![doc = include_str!("../README.md")]
//!
//! # Reference
//!
//! Every method of [`Session`] is documented on [`pop3_session::Session`], the session every driver shares; here
//! each returns `Result<T>` (it is written `D::Call<'_, T>` there). Settings are on [`Builder`], TLS choices on
//! [`TlsOptions`], what can fail on [`Error`].
//!
//! ## Security defaults
//!
//! - [`Security::Implicit`] TLS on port 995 unless told otherwise; certificates and host names always verified.
//! - [`Security::StartTls`] never falls back to plaintext; [`Security::StartTlsIfAvailable`] must be asked for.
//! - Credentials over plaintext are refused unless [`Builder::allow_plaintext_credentials`] is called.
//! - The protocol trace redacts passwords, APOP digests and SASL messages.
//!
//! ## poplib mapping
//!
//! | poplib | here |
//! |---|---|
//! | `POP3(host, port, timeout)` | [`Session::connect`] or [`Session::builder`] with [`Security::Plaintext`] |
//! | `POP3_SSL(host, port, context=…, timeout)` | [`Session::connect_tls`] with [`TlsOptions`], or [`Session::builder`] |
//! | `set_debuglevel` | [`Session::set_debuglevel`] |
//! | `getwelcome` | [`Session::greeting`] |
//! | `capa` | [`Session::capa`] |
//! | `stls` | [`Session::stls`] (or [`Security::StartTls`] when connecting) |
//! | `user`, `pass_`, `apop`, `rpop` | [`Session::user`], [`Session::pass`], [`Session::apop`], [`Session::rpop`]; [`Session::login`] picks the best |
//! | `stat`, `list()`, `list(n)` | [`Session::stat`], [`Session::list`], [`Session::list_one`] |
//! | `uidl()`, `uidl(n)` | [`Session::uidl`], [`Session::uidl_one`] |
//! | `retr`, `top` | [`Session::retr`], [`Session::top`] (streaming: [`Session::retr_to`], [`Session::top_to`]) |
//! | `dele`, `rset`, `noop`, `quit` | [`Session::dele`], [`Session::rset`], [`Session::noop`], [`Session::quit`] |
//! | `utf8` | [`Session::utf8`] |
//! | `error_proto` | [`Error`] |
//! | — | [`Session::listing`], [`Session::retr_many`], [`Session::dele_many`]: pipelined batches |
//!
//! ## Cargo features
//!
//! One crypto provider and at least one source of roots are needed for TLS (a caller-supplied
//! `rustls::ClientConfig` brings its own).
//!
#![doc = document_features::document_features!()]
#![forbid(unsafe_code)]

mod driver;
mod transport;

pub use driver::Blocking;
pub use pop3_session::api::*;
pub use transport::{CustomStream, Stream};

/// A POP3 session over a blocking connection; see [`pop3_session::Session`] for every method.
pub type Session = pop3_session::Session<Blocking>;

/// Settings for a blocking connection; `connect` opens it.
pub type Builder = pop3_session::Builder<Blocking>;
