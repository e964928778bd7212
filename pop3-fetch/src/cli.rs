//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::errors::Failure;

/// `--help`.
pub(crate) const HELP: &str = "\
pop3-fetch: fetch mail from a POP3 server into a Maildir or an mbox.
Nothing is lost and nothing is fetched twice, even if the program is killed.

USAGE:
    pop3-fetch [OPTIONS] URL
    pop3-fetch --demo

URL (RFC 2384, plus pops:// for implicit TLS on port 995):
    pop://USER@HOST[:PORT]                 STLS required; best login method the server offers
    pop://USER;AUTH=*@HOST                 the same
    pop://USER;AUTH=+APOP@HOST             APOP
    pop://USER;AUTH=+USER@HOST             USER/PASS
    pop://USER;AUTH=SCRAM-SHA-256@HOST     a SASL mechanism: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
                                           SCRAM-SHA-256, XOAUTH2, OAUTHBEARER
    pops://USER@HOST[:PORT]                TLS from the first byte (POP3S)
    Percent-encode special characters in USER (user@example.org -> user%40example.org).

OUTPUT (default: --maildir ~/Maildir):
    --maildir DIR          deliver into the Maildir DIR (created if missing)
    --mbox FILE            append to the mbox FILE (mboxrd format; no other program may rewrite it
                           while pop3-fetch runs)
    --state-file PATH      where to remember fetched messages (default: DIR/.pop3-fetch-state.USER@HOST,
                           or FILE.pop3-fetch-state.USER@HOST next to the mbox)

WHAT TO FETCH:
    (default)              leave mail on the server; fetch only messages not fetched before (by UIDL)
    --delete               delete from the server every message that is safely stored

PASSWORD AND TOKENS (never on the command line):
    POP3_PASSWORD          environment variable holding the password
    --password-env NAME    read the password from environment variable NAME instead
                           (otherwise, on a terminal, you are asked for it without echo)
    --oauth-token-env NAME log in with the OAuth 2.0 token in environment variable NAME, using
                           OAUTHBEARER or XOAUTH2 (whichever the server offers; OAUTHBEARER first)

SECURITY:
    --ca-file PATH         trust only the CA certificates in this PEM file (for a private CA)
    --starttls-if-available  use STLS when offered; when not, stop before the password is sent,
                           unless --allow-plaintext-credentials is given too (INSECURE: an attacker
                           can remove the offer)
    --plaintext --allow-plaintext-credentials
                           no TLS at all: password and mail travel in clear (INSECURE; both flags
                           are required)

OTHER:
    --timeout SECONDS      time limit for connecting and for each read or write (default 60)
    --response-timeout SECONDS
                           time limit for a whole answer: the greeting, the TLS handshake, one
                           batch of messages (up to 16 MiB, or one bigger message); default ten
                           times --timeout. Raise it for very large messages on slow links
    -q, --quiet            no progress display and no informational lines
    --debug                print the protocol trace on standard error (passwords redacted)
    --demo                 start a built-in demo server with STLS on 127.0.0.1 and fetch from it
                           into a new temporary Maildir
    -h, --help             this text
    -V, --version          the version

EXIT CODES:
    0 success   1 usage or configuration   2 network, TLS or protocol (also: a message whose size
    is not what the server announced)   3 authentication failed   4 the server refused (mailbox in
    use, login delay, command refused)   5 local file error   6 the server and the settings do not
    fit (an ;AUTH= mechanism it does not offer, TLS it requires, pop:// on a POP3S port)
";

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// A Maildir.
    Maildir(PathBuf),
    /// An mbox file.
    Mbox(PathBuf),
}

/// The parsed command line.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// The POP URL.
    pub(crate) url: Option<String>,
    /// `--demo`.
    pub(crate) demo: bool,
    /// `--maildir` or `--mbox`.
    pub(crate) output: Option<Output>,
    /// `--state-file`.
    pub(crate) state_file: Option<PathBuf>,
    /// `--delete`.
    pub(crate) delete: bool,
    /// `--starttls-if-available`.
    pub(crate) starttls_if_available: bool,
    /// `--plaintext`.
    pub(crate) plaintext: bool,
    /// `--allow-plaintext-credentials`.
    pub(crate) allow_plaintext_credentials: bool,
    /// `--ca-file`.
    pub(crate) ca_file: Option<PathBuf>,
    /// `--password-env`.
    pub(crate) password_env: Option<String>,
    /// `--oauth-token-env`.
    pub(crate) oauth_token_env: Option<String>,
    /// `--timeout`, seconds.
    pub(crate) timeout: Option<u64>,
    /// `--response-timeout`, seconds.
    pub(crate) response_timeout: Option<u64>,
    /// `--quiet`.
    pub(crate) quiet: bool,
    /// `--debug`.
    pub(crate) debug: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
    /// Print [`HELP`].
    Help,
    /// Print the version.
    Version,
    /// Fetch (or run the demo).
    Run(Args),
}

/// Parses the arguments (without the program name).
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Failure> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Failure::Usage(format!("{e} (see pop3-fetch --help)"));
    let mut parser = lexopt::Parser::from_args(args);
    let mut a = Args::default();
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("demo") => a.demo = true,
            Long("maildir") => set_output(
                &mut a,
                Output::Maildir(parser.value().map_err(usage)?.into()),
            )?,
            Long("mbox") => {
                set_output(&mut a, Output::Mbox(parser.value().map_err(usage)?.into()))?
            }
            Long("state-file") => a.state_file = Some(parser.value().map_err(usage)?.into()),
            Long("delete") => a.delete = true,
            Long("starttls-if-available") => a.starttls_if_available = true,
            Long("plaintext") => a.plaintext = true,
            Long("allow-plaintext-credentials") => a.allow_plaintext_credentials = true,
            Long("ca-file") => a.ca_file = Some(parser.value().map_err(usage)?.into()),
            Long("password-env") => a.password_env = Some(string(parser.value().map_err(usage)?)?),
            Long("oauth-token-env") => {
                a.oauth_token_env = Some(string(parser.value().map_err(usage)?)?)
            }
            Long("timeout") => a.timeout = Some(seconds(&mut parser, "--timeout")?),
            Long("response-timeout") => {
                a.response_timeout = Some(seconds(&mut parser, "--response-timeout")?)
            }
            Short('q') | Long("quiet") => a.quiet = true,
            Long("debug") => a.debug = true,
            Long("password") | Short('p') => {
                return Err(Failure::Usage(
                    "there is no --password option: a password on the command line shows in process \
                     listings. Set POP3_PASSWORD, use --password-env NAME, or type it at the prompt"
                        .into(),
                ));
            }
            Value(v) if a.url.is_none() => a.url = Some(string(v)?),
            Value(v) => {
                return Err(Failure::Usage(format!(
                    "unexpected argument {:?}: give one URL",
                    v.to_string_lossy()
                )));
            }
            _ => return Err(usage(arg.unexpected())),
        }
    }
    if a.demo && a.url.is_some() {
        return Err(Failure::Usage("--demo takes no URL".into()));
    }
    if !a.demo && a.url.is_none() {
        return Err(Failure::Usage(
            "missing the server URL, e.g. pop3-fetch pops://user@pop.example.org (see --help)"
                .into(),
        ));
    }
    if a.plaintext && a.starttls_if_available {
        return Err(Failure::Usage(
            "--plaintext and --starttls-if-available contradict each other".into(),
        ));
    }
    if a.plaintext && !a.allow_plaintext_credentials {
        return Err(Failure::Usage(
            "--plaintext sends your password and mail in clear; add --allow-plaintext-credentials \
             if you really mean it"
                .into(),
        ));
    }
    if a.password_env.is_some() && a.oauth_token_env.is_some() {
        return Err(Failure::Usage(
            "give either --password-env or --oauth-token-env, not both".into(),
        ));
    }
    Ok(Command::Run(a))
}

fn set_output(a: &mut Args, output: Output) -> Result<(), Failure> {
    if a.output.is_some() {
        return Err(Failure::Usage(
            "give only one of --maildir and --mbox".into(),
        ));
    }
    a.output = Some(output);
    Ok(())
}

/// A time limit in whole seconds, at least 1.
fn seconds(parser: &mut lexopt::Parser, option: &str) -> Result<u64, Failure> {
    use lexopt::ValueExt;
    let usage = |e: lexopt::Error| Failure::Usage(format!("{option}: {e} (see pop3-fetch --help)"));
    let secs: u64 = parser.value().map_err(usage)?.parse().map_err(usage)?;
    if secs == 0 {
        return Err(Failure::Usage(format!(
            "{option} must be at least 1 second"
        )));
    }
    Ok(secs)
}

fn string(value: OsString) -> Result<String, Failure> {
    value
        .into_string()
        .map_err(|v| Failure::Usage(format!("{:?} is not valid UTF-8", v.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, Failure> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn typical_command_lines() {
        let Command::Run(a) = parse_strs(&[
            "--mbox",
            "/tmp/m",
            "--delete",
            "pops://u@h",
            "--timeout",
            "5",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(a.output, Some(Output::Mbox("/tmp/m".into())));
        assert!(a.delete);
        assert_eq!(a.url.as_deref(), Some("pops://u@h"));
        assert_eq!(a.timeout, Some(5));
        assert!(matches!(parse_strs(&["--help"]), Ok(Command::Help)));
        assert!(matches!(parse_strs(&["--demo"]), Ok(Command::Run(a)) if a.demo));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["pop://u@h", "pop://v@h"],
            &["--maildir", "a", "--mbox", "b", "pop://u@h"],
            &["--plaintext", "pop://u@h"],
            &["--password", "x", "pop://u@h"],
            &["--timeout", "0", "pop://u@h"],
            &["--response-timeout", "0", "pop://u@h"],
            &["--bogus", "pop://u@h"],
            &["--demo", "pop://u@h"],
        ] {
            let result = parse_strs(bad);
            assert!(
                matches!(result, Err(Failure::Usage(_))),
                "{bad:?}: {result:?}"
            );
        }
    }
}
