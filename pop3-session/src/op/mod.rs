//! Operations: each POP3 exchange a session offers, as an I/O-free value that sends its commands into the core,
//! takes the events answering them, and makes the typed result. Written once; every driver runs them through
//! [`Conversation`](crate::Conversation) without knowing what they are.

mod batch;
mod login;
mod setup;
mod single;

pub(crate) use batch::{DeleMany, ListingBoth, RetrMany, WithCapabilities};
pub(crate) use login::{Login, LoginThen, Utf8, login_method};
pub use login::{LoginMethod, choose_login};
pub(crate) use setup::{Greeting, StartTls};
pub(crate) use single::{
    Auth, Capa, Lang, ListAll, ListOne, Memory, Nothing, Quit, Raw, Single, Stat, Streamed,
    ThenQuit, UidlAll, UidlOne,
};

pub(crate) use sealed::{Exchange, Flow};

/// A POP3 exchange a session runs: its commands, the events answering them, its result. The set of operations is
/// this crate's own: drivers run them (see [`Driver`](crate::Driver)) but cannot make new ones, so a new command is
/// added here and in the core, and reaches every driver at once.
pub trait Operation: Exchange {}

impl<T: Exchange> Operation for T {}

// A sealed trait: public so that `Operation` may name it, in a private module so that no other crate can.
#[allow(unreachable_pub)]
mod sealed {
    use pop3_proto::{Client, Event};

    use crate::error::Result;

    /// What an operation wants after taking an event.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Flow {
        /// Nothing; poll on.
        Continue,
        /// This event is a body chunk for the caller's sink.
        Deliver,
        /// Call [`Exchange::resume`] before polling on: the operation sends more commands.
        Resume,
        /// Every command of the operation is answered.
        Finished,
    }

    /// The operation's side of the exchange; see [`Operation`](super::Operation).
    pub trait Exchange: Send {
        /// What the exchange returns.
        type Output;

        /// Whether TLS must be set up before anything else (implicit TLS).
        fn handshake_first(&self) -> bool {
            false
        }

        /// Queues the first commands (nothing, to wait for the greeting). [`Flow::Finished`] if there is nothing
        /// to wait for (an empty batch).
        fn start(&mut self, client: &mut Client) -> Result<Flow>;

        /// Takes one event. Errors the server caused in one answer are kept for [`Exchange::finish`], since the
        /// rest of the answer must still be read.
        fn on_event(&mut self, event: &Event<'_>) -> Flow;

        /// Queues the next commands after [`Flow::Resume`].
        fn resume(&mut self, _client: &mut Client) -> Result<Flow> {
            Ok(Flow::Finished)
        }

        /// Whether the session ends with this exchange (QUIT): the driver then closes the connection.
        fn closes_session(&self) -> bool {
            false
        }

        /// The result, once every answer is in.
        fn finish(self) -> Result<Self::Output>;
    }
}
