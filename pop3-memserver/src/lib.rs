//! In-process POP3 servers for testing and benchmarking the POP3 client crates.
//!
//! This crate is deliberately written without using `pop3-proto`: it is the
//! *other side* of the conversation, so a bug shared with the client code
//! could otherwise hide itself. Everything here listens on loopback only.
//!
//! * [`MemServer`] — a fast, RFC 1939 / RFC 2449 conforming server that
//!   serves a [`Mailbox`] held in memory (USER/PASS, APOP, SASL PLAIN, STLS,
//!   implicit TLS, pipelining).
//! * [`ScriptedServer`] — replays a fixed [`Script`] of bytes, stalls, closes
//!   and resets, for tests of how a client copes with broken or hostile
//!   servers, and records everything the client sent. Its [`Step::Serve`]
//!   step hands every later client line to a [`Responder`]'s handler, for a
//!   hostile server that must follow whatever the client asks.
//! * [`LatencyProxy`] — a TCP proxy that delays every chunk by a fixed time,
//!   so pipelining and round-trip behaviour can be measured on loopback.
//! * [`tls`] — throw-away certificate authorities and good and bad server
//!   certificates, with ready `rustls` server configurations.
//!
//! Every accepted connection runs on its own thread with a small stack, so a
//! test can open thousands of sessions cheaply.
#![forbid(unsafe_code)]

mod mailbox;
mod net;
mod proxy;
mod scripted;
mod server;
pub mod tls;

pub use mailbox::{Mailbox, Message};
pub use proxy::LatencyProxy;
pub use scripted::{Answer, LineHandler, Responder, Script, ScriptedServer, Step};
pub use server::{MemServer, ServerConfig, Stats};
