//! The RFC 1939 session states and the one table that moves between them.
//!
//! Everything that decides a state lives here (after h11's "rule 1"): which command is legal in which state, and
//! which response moves the session on. Transitions fire when a response arrives, never when a command is sent.
//! `docs/states.md` draws the same table; a unit test keeps the two in sync.

use crate::error::SendError;

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

    /// Commands that go out alone even when the server pipelines: STLS (RFC 2595 §4 forbids anything behind it),
    /// AUTH (a command behind it would be read as the answer to a SASL challenge), RPOP and UTF8 (their answers
    /// change how what follows is understood).
    pub(crate) const fn is_strict_barrier(self) -> bool {
        matches!(self, Self::Rpop | Self::Auth | Self::Stls | Self::Utf8)
    }

    /// Commands that may be queued behind a PASS or APOP whose answer is still to come, when the server pipelines:
    /// none of them changes anything if the login fails (the server answers `-ERR`), and QUIT then only ends a
    /// session that never logged in.
    pub(crate) const fn may_follow_login(self) -> bool {
        matches!(
            self,
            Self::Stat | Self::List | Self::Uidl | Self::Top | Self::Retr | Self::Noop | Self::Quit
        )
    }

    /// Commands that go out alone when the server does not pipeline: nothing else in flight before them, nothing
    /// released after them until their response arrives. When it does (RFC 2449 §6.6), only the
    /// [strict barriers](Self::is_strict_barrier) still go out alone: USER, PASS and APOP follow each other and
    /// the first commands of the Transaction state, and QUIT follows the last batch.
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

/// What the session has done that decides which sends are still safe: TLS, STLS and credentials. These are part of
/// the state table because they refuse commands exactly as states do, and change only with it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flags {
    /// The transport is encrypted (implicit TLS, or STLS completed).
    pub(crate) tls_active: bool,
    /// STLS was queued once; it is never sent twice.
    pub(crate) stls_tried: bool,
    /// A credential was queued; STLS after it would protect nothing.
    pub(crate) credentials_sent: bool,
    /// The server accepted STLS and the handshake has not finished: no byte may be read or written in clear.
    pub(crate) starting_tls: bool,
}

impl Flags {
    /// Refuses a command these flags rule out (RFC 2595 §4, and plaintext credentials unless allowed).
    pub(crate) fn check(
        self,
        verb: Verb,
        allow_plaintext_credentials: bool,
    ) -> Result<(), SendError> {
        if verb.carries_credentials() && !self.tls_active && !allow_plaintext_credentials {
            return Err(SendError::InsecureCredentials);
        }
        if verb == Verb::Stls {
            if self.tls_active {
                return Err(SendError::StlsNotAllowed("TLS is already active"));
            } else if self.stls_tried {
                return Err(SendError::StlsNotAllowed("STLS was already sent"));
            } else if self.credentials_sent {
                return Err(SendError::StlsNotAllowed("credentials were already sent"));
            }
        }
        Ok(())
    }

    /// Notes a command accepted by `send`.
    pub(crate) fn queued(&mut self, verb: Verb) {
        self.credentials_sent |= verb.carries_credentials();
        self.stls_tried |= verb == Verb::Stls;
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
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Write as _;

    extern crate std;

    const VERBS: [Verb; 19] = [
        Verb::User,
        Verb::Pass,
        Verb::Apop,
        Verb::Rpop,
        Verb::Auth,
        Verb::Stls,
        Verb::Capa,
        Verb::Quit,
        Verb::Stat,
        Verb::List,
        Verb::Retr,
        Verb::Dele,
        Verb::Noop,
        Verb::Rset,
        Verb::Top,
        Verb::Uidl,
        Verb::Utf8,
        Verb::Lang,
        Verb::Raw,
    ];

    /// Where `verb` stands in [`VERBS`]; the match makes a new verb a compile error here until it is listed.
    const fn position(verb: Verb) -> usize {
        match verb {
            Verb::User => 0,
            Verb::Pass => 1,
            Verb::Apop => 2,
            Verb::Rpop => 3,
            Verb::Auth => 4,
            Verb::Stls => 5,
            Verb::Capa => 6,
            Verb::Quit => 7,
            Verb::Stat => 8,
            Verb::List => 9,
            Verb::Retr => 10,
            Verb::Dele => 11,
            Verb::Noop => 12,
            Verb::Rset => 13,
            Verb::Top => 14,
            Verb::Uidl => 15,
            Verb::Utf8 => 16,
            Verb::Lang => 17,
            Verb::Raw => 18,
        }
    }

    #[test]
    fn every_verb_is_listed_once() {
        for (i, verb) in VERBS.into_iter().enumerate() {
            assert_eq!(position(verb), i, "{verb:?}");
        }
    }

    const STATES: [State; 5] = [
        State::Greeting,
        State::Authorization,
        State::Transaction,
        State::Update,
        State::Closed,
    ];

    /// The answers to the commands of `verbs` in `from` that lead elsewhere, as diagram edges.
    fn response_edges(from: State, verbs: &[Verb], out: &mut String) {
        let mut edges: Vec<(State, bool, Vec<&str>)> = Vec::new();
        for &verb in verbs {
            let to_ok = after_response(verb, true, from);
            let to_err = after_response(verb, false, from);
            let answers = if to_ok == to_err {
                [(to_ok, false)].to_vec()
            } else {
                [(to_ok, true)].to_vec()
            };
            for (to, only_ok) in answers {
                if to == from {
                    continue;
                }
                match edges.iter_mut().find(|(t, o, _)| *t == to && *o == only_ok) {
                    Some((_, _, names)) => names.push(verb.keyword()),
                    None => edges.push((to, only_ok, [verb.keyword()].to_vec())),
                }
            }
        }
        for (to, only_ok, names) in edges {
            let answer = if only_ok { "+OK to" } else { "any answer to" };
            let _ = writeln!(
                out,
                "    {from:?} --> {to:?}: {answer} {}",
                names.join(", ")
            );
        }
    }

    /// `docs/states.md`, rendered from the functions above.
    fn states_md() -> String {
        let mut out = String::new();
        out.push_str(
            "# Session states\n\n\
             Generated from `src/state.rs` by its unit test `states_md_matches_the_table`, which fails when the two \
             differ;\nregenerate with `POP3_WRITE_STATES_MD=1 cargo test -p pop3-proto --lib states_md`.\n\n\
             States change when a response arrives, except for QUIT in Transaction, whose sending already means \
             Update.\nAny state goes to Closed on a protocol error or when the connection ends.\n\n\
             ```mermaid\nstateDiagram-v2\n    [*] --> Greeting\n",
        );
        for ok in [true, false] {
            let to = after_greeting(ok);
            let answer = if ok { "+OK" } else { "-ERR" };
            let _ = writeln!(out, "    Greeting --> {to:?}: {answer} greeting");
        }
        let allowed_in = |state| {
            VERBS
                .into_iter()
                .filter(move |&verb| allowed(verb, state))
                .collect::<Vec<_>>()
        };
        response_edges(
            State::Authorization,
            &allowed_in(State::Authorization),
            &mut out,
        );
        let transaction: Vec<Verb> = allowed_in(State::Transaction)
            .into_iter()
            .filter(|&verb| verb != Verb::Quit)
            .collect();
        response_edges(State::Transaction, &transaction, &mut out);
        out.push_str("    Transaction --> Update: QUIT sent\n");
        response_edges(State::Update, &[Verb::Quit], &mut out);
        out.push_str("    Closed --> [*]\n```\n\n## Commands\n\n");
        out.push_str(
            "`send` refuses a command whose state does not allow it. A barrier goes out alone, with nothing else in \
             flight;\na command that decides the state holds back everything queued behind it until its answer \
             arrives.\n\n| command |",
        );
        for state in STATES {
            let _ = write!(out, " {state:?} |");
        }
        out.push_str(" barrier | decides the state |\n|---|");
        out.push_str(&":-:|".repeat(STATES.len() + 2));
        out.push('\n');
        let mark = |yes: bool| if yes { "yes" } else { "–" };
        for verb in VERBS {
            let _ = write!(out, "| {} |", verb.keyword());
            for state in STATES {
                let _ = write!(out, " {} |", mark(allowed(verb, state)));
            }
            let _ = writeln!(
                out,
                " {} | {} |",
                mark(verb.is_barrier()),
                mark(verb.decides_state())
            );
        }
        out
    }

    #[test]
    fn states_md_matches_the_table() {
        let rendered = states_md();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/states.md");
        if std::env::var_os("POP3_WRITE_STATES_MD").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "docs/states.md is out of date; regenerate it with \
             `POP3_WRITE_STATES_MD=1 cargo test -p pop3-proto --lib states_md`"
        );
    }

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
