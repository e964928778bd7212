//! What went wrong, said for a person, with the exit code that goes with it.

use std::fmt;
use std::io;

use pop3_blocking::{Error, OwnedResponseCode as Code, ServerError};
use rustls::CertificateError;

/// A failure that ends the run (or, for [`Failure::Shown`], the text that replaces it).
///
/// Exit codes follow `sysexits.h`, as mail tools do (a caller such as an MTA or a cron wrapper tells a temporary
/// failure, 75, from a permanent one).
#[derive(Debug)]
pub(crate) enum Failure {
    /// Not a failure: `--help` or `--version`, whose text is printed on standard output (exit code 0).
    Shown(String),
    /// Bad command line (EX_USAGE, 64).
    Usage(String),
    /// A bad or insecure accounts file (EX_CONFIG, 78).
    Config(String),
    /// Network, TLS, timeout or protocol trouble (EX_UNAVAILABLE, 69).
    Network(String),
    /// Authentication failed (EX_NOPERM, 77).
    Auth(String),
    /// The server refused: mailbox in use, login delay, a command answered `-ERR` (EX_TEMPFAIL, 75).
    Refused(String),
    /// A local file could not be read or written, or the MDA failed (EX_IOERR, 74).
    Local(String),
    /// The server and the settings do not fit (EX_CONFIG, 78): it lacks what they ask for (a SASL mechanism), or
    /// requires what they leave out (TLS), or the URL names the wrong kind of port (POP3S with `pop://`).
    Unsupported(String),
}

impl Failure {
    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Shown(_) => 0,
            Self::Usage(_) => 64,
            Self::Network(_) => 69,
            Self::Local(_) => 74,
            Self::Refused(_) => 75,
            Self::Auth(_) => 77,
            Self::Config(_) | Self::Unsupported(_) => 78,
        }
    }

    /// A local I/O failure while doing `what`.
    pub(crate) fn local(what: impl fmt::Display, error: &io::Error) -> Self {
        Self::Local(format!("{what}: {error}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shown(m)
            | Self::Usage(m)
            | Self::Config(m)
            | Self::Network(m)
            | Self::Auth(m)
            | Self::Refused(m)
            | Self::Local(m)
            | Self::Unsupported(m) => f.write_str(m),
        }
    }
}

/// Where the program was connecting, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Host as given.
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
    /// Implicit TLS (`pops://`).
    pub(crate) implicit_tls: bool,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Explains an error while connecting, setting up TLS or reading the greeting; also the fallback for errors at
/// any later point that are not the server's `-ERR`.
pub(crate) fn connection(error: Error, target: &Target) -> Failure {
    match error {
        Error::Io(e) => Failure::Network(io_error(&e, target)),
        Error::Timeout(what) => Failure::Network(timed_out(what, target)),
        Error::Tls(rustls::Error::InvalidCertificate(reason)) => Failure::Network(format!(
            "the certificate of {target} was rejected: {}",
            certificate(&reason, &target.host)
        )),
        Error::Tls(e) => {
            let hint = if target.implicit_tls {
                " (is this a POP3S port? for a plain POP3 port with STLS, use pop:// instead of pops://)"
            } else {
                ""
            };
            Failure::Network(format!("TLS with {target} failed: {e}{hint}"))
        }
        Error::TlsUnavailable(refusal) => Failure::Network(format!(
            "{target}: TLS is required but the server {refusal}. pop:// requires STLS so that your password \
             and mail never travel in clear. Use pops:// if the server offers POP3S (port 995); \
             --starttls-if-available accepts an unencrypted connection when STLS is missing (insecure)"
        )),
        Error::Protocol(e) => Failure::Network(format!(
            "{target} broke the POP3 protocol: {e} (is this a POP3 server?)"
        )),
        Error::Server(refusal) => refused("the server refused the session", &refusal),
        Error::Misuse(e) => Failure::Usage(format!("cannot send the command: {e}")),
        Error::Sink(e) => Failure::local("writing a message", &e),
        Error::TooLarge { limit } => {
            Failure::Local(format!("a message is larger than {limit} octets"))
        }
        Error::Closed(why) => Failure::Network(format!(
            "the connection to {target} closed unexpectedly{}",
            why.map(|w| format!(" ({w})")).unwrap_or_default()
        )),
        other => Failure::Network(format!("{target}: {other}")),
    }
}

/// What a timeout means, and which limit to raise.
fn timed_out(what: &str, target: &Target) -> String {
    let limit = if what == "connecting" {
        "the server did not answer in time (raise the limit with --timeout SECONDS)"
    } else {
        "the server did not answer in time: each read may wait --timeout SECONDS, and a whole answer (the \
         greeting, the TLS handshake, a batch of messages) --response-timeout SECONDS; raise the latter for \
         very large messages on slow links"
    };
    format!("timed out {what} ({target}): {limit}")
}

/// What the login errors are explained with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginFacts {
    /// The LOGIN-DELAY the server announced, in seconds.
    pub(crate) login_delay: Option<u64>,
    /// Whether the connection is encrypted.
    pub(crate) encrypted: bool,
}

/// Whether a login refusal on a connection in clear says that TLS is needed (`[SYS/PERM]`, or words such as
/// Dovecot's "Plaintext authentication disallowed on non-secure (SSL/TLS) connections").
fn asks_for_tls(refusal: &ServerError) -> bool {
    let text = String::from_utf8_lossy(refusal.text()).to_ascii_lowercase();
    matches!(refusal.code(), Some(Code::SysPerm))
        || ["tls", "ssl", "encrypt", "secure", "plaintext", "cleartext"]
            .iter()
            .any(|word| text.contains(word))
}

/// A server that requires TLS before login, told to a run that did not use it.
pub(crate) fn tls_required(target: &Target, why: &str) -> Failure {
    Failure::Unsupported(format!(
        "{target} requires TLS before login ({why}), and this connection is not encrypted: nothing secret was \
         accepted in clear. Use pop:// without --plaintext (STLS) or pops://"
    ))
}

/// Explains an error during login.
pub(crate) fn login(
    error: Error,
    user: &str,
    method: &str,
    target: &Target,
    facts: LoginFacts,
) -> Failure {
    let login_delay = facts.login_delay;
    match error {
        Error::Server(refusal) if !facts.encrypted && asks_for_tls(&refusal) => {
            tls_required(target, &format!("it answered {refusal}"))
        }
        Error::Server(refusal) => match refusal.code() {
            None | Some(Code::Auth) => Failure::Auth(format!(
                "login as {user} with {method} failed: {refusal}. Check the user name and the password \
                 (or token)"
            )),
            Some(Code::LoginDelay) if login_delay.is_some() => {
                let secs = login_delay.unwrap_or_default();
                match refused(&format!("login as {user} was refused"), &refusal) {
                    Failure::Refused(text) => Failure::Refused(format!(
                        "{text} (the server allows one login every {secs} seconds)"
                    )),
                    other => other,
                }
            }
            Some(_) => refused(&format!("login as {user} was refused"), &refusal),
        },
        Error::Misuse(e) => Failure::Auth(format!("cannot log in with {method}: {e}")),
        Error::Protocol(e) => Failure::Auth(format!("authentication with {method} failed: {e}")),
        other => connection(other, target),
    }
}

/// Explains an error that ended the session in the middle of the work: what was being done, what is already safe,
/// and that a rerun continues.
pub(crate) fn interrupted(error: Error, doing: &str, target: &Target, saved: u64) -> Failure {
    use pop3_blocking::proto::Error as Proto;
    let progress = format!(
        "{saved} message(s) were saved in this run and are recorded; run pop3-fetch again to continue"
    );
    match error {
        Error::Server(_) | Error::Sink(_) | Error::Misuse(_) => session(error, doing, target),
        Error::Timeout(what) => Failure::Network(format!(
            "{} during {doing}. {progress}",
            timed_out(what, target)
        )),
        Error::Io(e) => Failure::Network(format!(
            "the connection to {target} was lost during {doing} ({e}). {progress}"
        )),
        Error::Protocol(Proto::UnexpectedEof) | Error::Closed(_) => Failure::Network(format!(
            "the connection to {target} was lost during {doing} (the server closed it in the middle of an \
             answer). {progress}"
        )),
        Error::Protocol(e) => Failure::Network(format!(
            "{target} broke the POP3 protocol during {doing}: {e}. {progress}"
        )),
        other => match connection(other, target) {
            Failure::Network(text) => {
                Failure::Network(format!("{text} (during {doing}). {progress}"))
            }
            failure => failure,
        },
    }
}

/// Explains an error after login (LIST, UIDL, RETR, DELE, QUIT…).
pub(crate) fn session(error: Error, doing: &str, target: &Target) -> Failure {
    match error {
        Error::Server(refusal) => refused(&format!("the server refused {doing}"), &refusal),
        Error::Sink(e) => Failure::local("storing a message", &e),
        other => connection(other, target),
    }
}

/// A `-ERR` with advice for its response code.
pub(crate) fn refused(what: &str, error: &ServerError) -> Failure {
    let advice = match error.code() {
        Some(Code::InUse) => {
            " — the mailbox is in use by another session (another mail client is probably connected); \
             try again when it has finished"
        }
        Some(Code::LoginDelay) => {
            " — the server allows logins only every so often; wait a few minutes before trying again"
        }
        Some(Code::SysTemp) => " — a temporary problem on the server; try again later",
        Some(Code::SysPerm) => " — a permanent problem on the server; contact the mail provider",
        _ => "",
    };
    Failure::Refused(format!("{what}: {error}{advice}"))
}

fn io_error(e: &io::Error, target: &Target) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => format!(
            "cannot connect to {target}: connection refused (is the server running, and is the port right?)"
        ),
        K::HostUnreachable | K::NetworkUnreachable => {
            format!("cannot connect to {target}: {e} (check the network)")
        }
        K::ConnectionReset | K::UnexpectedEof | K::ConnectionAborted | K::BrokenPipe => {
            let hint = if target.implicit_tls {
                " (if this port expects STLS, use pop:// instead of pops://)"
            } else {
                ""
            };
            format!("the connection to {target} was closed by the server: {e}{hint}")
        }
        _ if e.to_string().contains("lookup") => {
            format!("cannot resolve the host name {:?}: {e}", target.host)
        }
        _ => format!("cannot connect to {target}: {e}"),
    }
}

/// Which certificate check failed, in words.
fn certificate(reason: &CertificateError, host: &str) -> String {
    let what = match reason {
        CertificateError::UnknownIssuer => {
            "it is not signed by a trusted certificate authority; if the \
                                             server uses a private CA, trust it with --ca-file PATH"
                .to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "it is not valid for the host name {host:?}; connect with a name the certificate lists"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check this computer's clock)".to_owned()
        }
        CertificateError::Revoked => "it has been revoked".to_owned(),
        CertificateError::BadSignature => "its signature does not verify".to_owned(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not meant for TLS servers".to_owned()
        }
        _ => "it did not pass verification".to_owned(),
    };
    format!("{what} (rustls: {reason})")
}
