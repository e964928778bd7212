//! The POP3 client layer, written once for every driver.
//!
//! ```text
//!  pop3-proto      the protocol as a state machine (no_std, no I/O): bytes in, commands and events out
//!  pop3-client     this crate: what each call means, written once — operations (command → typed result,
//!                  pipelined batches, the LIST+UIDL merge), the login choice, the builder and settings, the
//!                  error type, the redacted trace, TLS settings, and the async driving loop
//!  drivers         pop3-blocking (std::net), pop3-async-std (futures-io), pop3-tokio (tokio): each only the
//!                  connection, TLS over it, and its runtime's timer
//! ```
//!
//! Applications use a driver crate, which names this crate's [`Session`] and [`Builder`] for its own
//! connection type (`pop3_blocking::Session`, `pop3_tokio::Session`). Everything a session returns — results,
//! [`Error`], listings — is defined here, so code that handles them is the same for every driver.
//!
//! # Writing a driver
//!
//! A driver implements [`Driver`]: for each call it takes an [`Operation`] and loops on
//! [`Conversation::step`], doing what each [`Action`] says with its connection (write, read with a time limit,
//! run the TLS handshake, write a body chunk to the caller's sink, close), until [`Action::Done`]. An async
//! runtime needs even less: implement [`AsyncIo`] (and [`AsyncConnect`] to open TCP connections) and use
//! [`Async`], whose loop is written here once.
//!
//! # Adding a command
//!
//! The command's encoding and its answer's parsing go in `pop3-proto`; its operation (what the answer's events
//! make) and its method go here. Every driver has it then.
#![forbid(unsafe_code)]

mod asynchronous;
mod builder;
mod conversation;
mod error;
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
pub use listing::{Listing, Part, RawResponse, ScanListing, Stat, UniqueIdListing};
pub use op::{LoginMethod, Operation, choose_login};
pub use pop3_proto as proto;
pub use pop3_proto::{Capabilities, Capability, Mechanism, OwnedResponseCode};
pub use rustls;
pub use session::{Connect, ConnectStream, Driver, Session};
pub use settings::{Security, Settings, Timeouts};
pub use tls::{ALPN_POP3, TlsInfo, TlsOptions};
