//! The RFC 1939 session states and the one table that moves between them.
//!
//! Everything that decides a state lives here (after h11's "rule 1"): which command is legal in which state, and
//! which response moves the session on. Transitions fire when a response arrives, never when a command is sent.

/// Where a POP3 session is (RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Connected; waiting for the server's greeting.
    Greeting,
    /// The client must identify itself (USER/PASS, APOP, AUTH), and may use STLS, CAPA, UTF8.
    Authorization,
    /// The maildrop is locked and open: STAT, LIST, RETR, DELE and the rest.
    Transaction,
    /// QUIT was sent from Transaction; the server is committing deletions.
    Update,
    /// The session is over (QUIT answered, greeting refused, connection closed, or a fatal error).
    Closed,
}

/// Every command keyword the client knows. The state machine reasons about these, never about raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    User,
    Pass,
    Apop,
    Rpop,
    Auth,
    Stls,
    Capa,
    Quit,
    Stat,
    List,
    Retr,
    Dele,
    Noop,
    Rset,
    Top,
    Uidl,
    Utf8,
    Lang,
    Raw,
}

impl Verb {
    /// The keyword as written on the wire.
    pub(crate) const fn keyword(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Pass => "PASS",
            Self::Apop => "APOP",
            Self::Rpop => "RPOP",
            Self::Auth => "AUTH",
            Self::Stls => "STLS",
            Self::Capa => "CAPA",
            Self::Quit => "QUIT",
            Self::Stat => "STAT",
            Self::List => "LIST",
            Self::Retr => "RETR",
            Self::Dele => "DELE",
            Self::Noop => "NOOP",
            Self::Rset => "RSET",
            Self::Top => "TOP",
            Self::Uidl => "UIDL",
            Self::Utf8 => "UTF8",
            Self::Lang => "LANG",
            Self::Raw => "raw command",
        }
    }

    /// Commands that carry a credential: never over plaintext unless allowed, never pipelined.
    pub(crate) const fn carries_credentials(self) -> bool {
        matches!(
            self,
            Self::User | Self::Pass | Self::Apop | Self::Rpop | Self::Auth
        )
    }

    /// Commands whose response decides the next state, so nothing may be queued behind them until it arrives.
    pub(crate) const fn decides_state(self) -> bool {
        matches!(
            self,
            Self::Pass | Self::Apop | Self::Rpop | Self::Auth | Self::Stls
        )
    }

    /// Commands that go out alone: nothing else in flight before them, nothing released after them until their
    /// response arrives (RFC 2449 §6.6 leaves pipelining across these to chance; RFC 2595 §4 forbids it for STLS).
    pub(crate) const fn is_barrier(self) -> bool {
        matches!(
            self,
            Self::User
                | Self::Pass
                | Self::Apop
                | Self::Rpop
                | Self::Auth
                | Self::Stls
                | Self::Quit
                | Self::Utf8
        )
    }
}

/// Whether `verb` may be sent in `state` (RFC 1939 §§4–7, RFC 2449 §5, RFC 2595 §4, RFC 6856 §§2–3).
pub(crate) const fn allowed(verb: Verb, state: State) -> bool {
    use Verb::*;
    match state {
        State::Authorization => matches!(
            verb,
            User | Pass | Apop | Rpop | Auth | Stls | Capa | Quit | Utf8 | Lang | Raw
        ),
        State::Transaction => matches!(
            verb,
            Stat | List | Retr | Dele | Noop | Rset | Top | Uidl | Capa | Quit | Lang | Raw
        ),
        State::Greeting | State::Update | State::Closed => false,
    }
}

/// The state after the response to `verb` arrived in `state`, `ok` telling whether it was `+OK`.
pub(crate) const fn after_response(verb: Verb, ok: bool, state: State) -> State {
    match (verb, ok) {
        (Verb::Pass | Verb::Apop | Verb::Rpop | Verb::Auth, true) => State::Transaction,
        (Verb::Quit, _) => State::Closed,
        _ => state,
    }
}

/// The state after the greeting arrived.
pub(crate) const fn after_greeting(ok: bool) -> State {
    if ok {
        State::Authorization
    } else {
        State::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_commands_are_refused_before_login() {
        for verb in [
            Verb::Stat,
            Verb::List,
            Verb::Retr,
            Verb::Dele,
            Verb::Noop,
            Verb::Rset,
            Verb::Top,
            Verb::Uidl,
        ] {
            assert!(!allowed(verb, State::Authorization), "{verb:?}");
            assert!(allowed(verb, State::Transaction), "{verb:?}");
        }
    }

    #[test]
    fn login_commands_and_stls_are_refused_after_login() {
        for verb in [
            Verb::User,
            Verb::Pass,
            Verb::Apop,
            Verb::Rpop,
            Verb::Auth,
            Verb::Stls,
            Verb::Utf8,
        ] {
            assert!(allowed(verb, State::Authorization), "{verb:?}");
            assert!(!allowed(verb, State::Transaction), "{verb:?}");
        }
    }

    #[test]
    fn nothing_is_allowed_once_the_session_ends() {
        for state in [State::Greeting, State::Update, State::Closed] {
            assert!(!allowed(Verb::Quit, state));
            assert!(!allowed(Verb::Raw, state));
        }
    }

    #[test]
    fn successful_login_enters_transaction_and_quit_always_closes() {
        assert_eq!(
            after_response(Verb::Pass, true, State::Authorization),
            State::Transaction
        );
        assert_eq!(
            after_response(Verb::Pass, false, State::Authorization),
            State::Authorization
        );
        assert_eq!(
            after_response(Verb::Quit, false, State::Update),
            State::Closed
        );
        assert_eq!(
            after_response(Verb::Dele, true, State::Transaction),
            State::Transaction
        );
    }
}
