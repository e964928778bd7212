#![doc = include_str!("../README.md")]
//!
//! # Reference
//!
//! [`Session`] has every call, each with an example; [`Builder`] every setting; [`Error`] what can fail and
//! what to do then; [`TlsOptions`] the TLS choices (a private CA, a client certificate, a caller's own
//! `rustls::ClientConfig`, re-exported as [`rustls`]).
//!
//! ## Cargo features
//!
//! Drivers forward these; one crypto provider and at least one source of roots are needed for TLS unless the
//! caller supplies a `rustls::ClientConfig` (or installs a process-wide crypto provider).
//!
#![doc = document_features::document_features!()]
//!
//! ## Writing a driver
//!
//! A driver implements [`Driver`]: for each call it takes an [`Operation`] and loops on
//! [`Conversation::step`], doing what each [`Action`] says with its connection (write, read with a time limit,
//! run the TLS handshake, write a body chunk to the caller's sink, close), until [`Action::Done`]. An async
//! runtime needs even less: implement [`AsyncIo`] (and [`AsyncConnect`] to open TCP connections) and use
//! [`Async`], whose loop is written here once.
//!
//! ## Adding a command
//!
//! The command's encoding and its answer's parsing go in `pop3-proto`; its operation (what the answer's events
//! make) and its method go here. Every driver has it then.
#![forbid(unsafe_code)]

mod asynchronous;
mod builder;
mod conversation;
mod error;
mod known;
mod listing;
mod op;
mod session;
mod settings;
mod tls;
mod trace;

pub use asynchronous::{Async, AsyncConnect, AsyncIo, FromStream};
pub use builder::Builder;
pub use conversation::{Action, Conversation};
pub use error::{Error, Result, ServerError, ServerRefusal};
pub use known::{KnownCapabilities, ParseKnownCapabilitiesError};
pub use listing::{Listing, Part, RawResponse, ScanListing, Stat, UniqueIdListing};
pub use op::{LoginMethod, Operation, choose_login};
pub use pop3_proto as proto;
pub use pop3_proto::{Capabilities, Capability, Mechanism, OwnedResponseCode};
pub use rustls;
pub use session::{Connect, ConnectStream, Driver, Session};
pub use settings::{Security, Settings, Timeouts};
pub use tls::{ALPN_POP3, TlsInfo, TlsOptions};

/// What every driver crate re-exports beside its own `Session` and `Builder`, so that an application names the
/// same types whichever driver it uses.
pub mod api {
    pub use crate::{
        ALPN_POP3, Capabilities, Capability, Error, KnownCapabilities, Listing, LoginMethod,
        Mechanism, OwnedResponseCode, Part, RawResponse, Result, ScanListing, Security,
        ServerError, ServerRefusal, Stat, Timeouts, TlsInfo, TlsOptions, UniqueIdListing,
        choose_login, proto, rustls,
    };
}
