//! The command line: one clap definition, from which `--help`, the usage errors and the shell completions all
//! come.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args as ClapArgs, CommandFactory, Parser};

use crate::errors::Failure;

/// What `--help` says after the options: the URL forms, the accounts file, what identifies an account, and the
/// exit codes.
const AFTER_HELP: &str = "\
URL (RFC 2384, plus pops:// for implicit TLS on port 995):
  pop://USER@HOST[:PORT]               STLS required; best login method the server offers
  pop://USER;AUTH=+APOP@HOST           APOP (also +USER for USER/PASS, * for the best one)
  pop://USER;AUTH=SCRAM-SHA-256@HOST   a SASL mechanism: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
                                       SCRAM-SHA-256, XOAUTH2, OAUTHBEARER
  pops://USER@HOST[:PORT]              TLS from the first byte (POP3S)
  Percent-encode special characters in USER (user@example.org -> user%40example.org).

ACCOUNTS FILE (--config, default ~/.config/pop3-fetch/accounts.toml), one table per account:
  [accounts.work]
  url = \"pops://alice@pop.example.org\"
  passwordeval = \"pass show mail/work\"   # or password_env = \"NAME\", or asked for on a terminal
  maildir = \"~/Mail/work\"                # or mbox = \"FILE\", or mda = \"procmail -d alice\"
  delete = true                          # default: keep mail on the server
  skipsize = \"10M\"                       # also: killsize, keep_crlf, trace_header, identity,
                                         # ca_file, tls = \"required\"|\"if-available\"|\"none\",
                                         # allow_plaintext_credentials, state_file, timeout
  A `password = \"...\"` is accepted only if the file is private (chmod 600).

ACCOUNT IDENTITY: what pop3-fetch remembers (the state file, the Maildir file names) belongs to an
  identity, by default USER@HOST with the host lower-cased; port and scheme do not count. The same
  server reached under two names (localhost and 127.0.0.1) is two identities, each fetching every
  message once: give both the same `identity` (or --identity) to share one. --refetch fetches every
  message on the server again, on purpose.

EXIT CODES (sysexits.h; with several accounts, the code of the first one that failed, in file order):
  0  success                64 EX_USAGE      bad command line
  69 EX_UNAVAILABLE  network, TLS or protocol trouble, also a message whose size is not what LIST said
  74 EX_IOERR        a local file or the MDA failed, another run holds the account's lock
  75 EX_TEMPFAIL     the server refused: mailbox in use, login delay, a command refused
  77 EX_NOPERM       authentication failed
  78 EX_CONFIG       the accounts file is wrong or not private, or the server and the settings do
                     not fit (an ;AUTH= mechanism it does not offer, TLS it requires, pop:// on a
                     POP3S port)";

/// pop3-fetch: fetch mail from POP3 servers into a Maildir, an mbox or a mail delivery agent.
///
/// Nothing is lost and nothing is fetched twice, even if the program is killed. Mail stays on the server
/// unless --delete is given, and is deleted only once the stored copy is proven durable.
#[derive(Debug, Default, Parser)]
#[command(
    name = "pop3-fetch",
    version,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub(crate) struct Args {
    /// The server and account (see URL below); or use the accounts file with --account or --all
    #[arg(value_name = "URL")]
    pub(crate) url: Option<String>,

    #[command(flatten)]
    pub(crate) accounts: AccountArgs,

    #[command(flatten)]
    pub(crate) output: OutputArgs,

    #[command(flatten)]
    pub(crate) what: WhatArgs,

    #[command(flatten)]
    pub(crate) secrets: SecretArgs,

    #[command(flatten)]
    pub(crate) security: SecurityArgs,

    #[command(flatten)]
    pub(crate) other: OtherArgs,
}

/// Accounts.
#[derive(Debug, Default, ClapArgs)]
#[command(next_help_heading = "Accounts")]
pub(crate) struct AccountArgs {
    /// The accounts file [default: $XDG_CONFIG_HOME/pop3-fetch/accounts.toml or ~/.config/…]
    #[arg(long, short = 'C', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Fetch this account of the accounts file (repeatable)
    #[arg(
        long = "account",
        short = 'a',
        value_name = "NAME",
        conflicts_with = "url"
    )]
    pub(crate) names: Vec<String>,
    /// Fetch every account of the accounts file
    #[arg(long, conflicts_with_all = ["url", "names"])]
    pub(crate) all: bool,
    /// How many accounts to fetch at the same time
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) jobs: u16,
    /// What the fetch state of the URL's account belongs to (see ACCOUNT IDENTITY; default USER@HOST)
    #[arg(long, value_name = "NAME", requires = "url")]
    pub(crate) identity: Option<String>,
}

/// Where messages go.
#[derive(Debug, Default, ClapArgs)]
#[command(next_help_heading = "Delivery (default: --maildir ~/Maildir)")]
pub(crate) struct OutputArgs {
    /// Deliver into the Maildir DIR (created if missing)
    #[arg(long, value_name = "DIR", group = "destination")]
    pub(crate) maildir: Option<PathBuf>,
    /// Append to the mbox FILE (mboxrd; fcntl and dotlock locks, as mutt and procmail take)
    #[arg(long, value_name = "FILE", group = "destination")]
    pub(crate) mbox: Option<PathBuf>,
    /// Give each message, complete, to COMMAND on its standard input (run by /bin/sh, e.g. "procmail" or
    /// "dovecot-lda -d alice"); a message counts as delivered only when COMMAND exits 0
    #[arg(long, value_name = "COMMAND", group = "destination")]
    pub(crate) mda: Option<String>,
    /// Deliver with the wire's CRLF line endings instead of LF (the mbox is always LF)
    #[arg(long)]
    pub(crate) keep_crlf: bool,
    /// Put a `Received:` trace header on top of each delivered message
    #[arg(long)]
    pub(crate) trace_header: bool,
    /// Where to remember fetched messages [default: DIR/.pop3-fetch-state.IDENTITY, FILE.pop3-fetch-state…
    /// next to an mbox, ~/.local/state/pop3-fetch/… with an MDA]
    #[arg(long, value_name = "PATH")]
    pub(crate) state_file: Option<PathBuf>,
}

/// Which messages.
#[derive(Debug, Default, ClapArgs)]
#[command(
    next_help_heading = "What to fetch (default: every message not fetched before, left on the server)"
)]
pub(crate) struct WhatArgs {
    /// Delete from the server every message whose stored copy is proven durable
    #[arg(long)]
    pub(crate) delete: bool,
    /// Leave messages bigger than SIZE on the server without fetching them (SIZE: bytes, or with k or M)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) skip_size: Option<u64>,
    /// Delete messages bigger than SIZE from the server UNREAD (never fetched, never stored)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) kill_size: Option<u64>,
    /// Fetch every message on the server again, even those fetched before
    #[arg(long)]
    pub(crate) refetch: bool,
    /// Only say what is new and how big; fetch, write and delete nothing
    #[arg(long, short = 's', conflicts_with = "dry_run")]
    pub(crate) status: bool,
    /// Log in and say, message by message, what a run would fetch, skip and delete; change nothing
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
}

/// Passwords and tokens.
#[derive(Debug, Default, ClapArgs)]
#[command(
    next_help_heading = "Password (never on the command line; default: $POP3_PASSWORD, else a prompt)"
)]
pub(crate) struct SecretArgs {
    /// Read the password from the environment variable NAME
    #[arg(long, value_name = "NAME")]
    pub(crate) password_env: Option<String>,
    /// Run COMMAND (by /bin/sh) and use the first line it prints as the password, e.g. "pass show mail"
    #[arg(long, value_name = "COMMAND", conflicts_with = "password_env")]
    pub(crate) password_command: Option<String>,
    /// Log in with the OAuth 2.0 token in the environment variable NAME (OAUTHBEARER or XOAUTH2)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["password_env", "password_command"])]
    pub(crate) oauth_token_env: Option<String>,
    /// Refused: a password on the command line shows in process listings
    #[arg(long, short = 'p', hide = true, num_args = 0..=1, value_name = "PASSWORD")]
    pub(crate) password: Option<Option<String>>,
}

/// TLS.
#[derive(Debug, Default, ClapArgs)]
#[command(next_help_heading = "Security (pop:// requires STLS, pops:// is TLS from the start)")]
pub(crate) struct SecurityArgs {
    /// Trust only the CA certificates in this PEM file
    #[arg(long, value_name = "PATH")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Use STLS when offered; without it, stop before the password is sent unless
    /// --allow-plaintext-credentials is given too (INSECURE: an attacker can remove the offer)
    #[arg(long)]
    pub(crate) starttls_if_available: bool,
    /// No TLS at all (needs --allow-plaintext-credentials too; INSECURE)
    #[arg(long, conflicts_with = "starttls_if_available")]
    pub(crate) plaintext: bool,
    /// Allow the password to travel without TLS
    #[arg(long)]
    pub(crate) allow_plaintext_credentials: bool,
}

/// Everything else.
#[derive(Debug, Default, ClapArgs)]
#[command(next_help_heading = "Other")]
pub(crate) struct OtherArgs {
    /// Time limit for connecting and for each read or write [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: Option<u64>,
    /// Time limit for a whole answer (greeting, TLS handshake, one batch of messages up to 16 MiB or one
    /// bigger message) [default: ten times --timeout]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) response_timeout: Option<u64>,
    /// No progress display and no informational lines
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Print the protocol trace on standard error (passwords redacted)
    #[arg(long)]
    pub(crate) debug: bool,
    /// Start a built-in demo server with STLS on 127.0.0.1 and fetch from it into a new temporary Maildir
    #[arg(long, conflicts_with_all = ["url", "names", "all"])]
    pub(crate) demo: bool,
    /// Print the completion script for SHELL and exit
    #[arg(long, value_name = "SHELL")]
    pub(crate) completions: Option<clap_complete::Shell>,
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// A Maildir.
    Maildir(PathBuf),
    /// An mbox file.
    Mbox(PathBuf),
    /// A command that reads one message on its standard input.
    Mda(String),
}

impl OutputArgs {
    /// The destination given on the command line, if any.
    pub(crate) fn destination(&self) -> Option<Output> {
        self.maildir
            .clone()
            .map(Output::Maildir)
            .or_else(|| self.mbox.clone().map(Output::Mbox))
            .or_else(|| self.mda.clone().map(Output::Mda))
    }
}

/// What the command line asks for, or the text to print and the exit code when it asks for nothing to run
/// (`--help`, `--version`, a usage error).
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, Failure> {
    let args = Args::try_parse_from(args).map_err(|e| {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                Failure::Shown(e.render().to_string())
            }
            _ => Failure::Usage(
                e.render()
                    .to_string()
                    .trim_start_matches("error: ")
                    .trim_end()
                    .to_owned(),
            ),
        }
    })?;
    validate(&args)?;
    Ok(args)
}

/// What clap's declarations cannot say.
fn validate(a: &Args) -> Result<(), Failure> {
    if a.secrets.password.is_some() {
        return Err(Failure::Usage(
            "there is no --password option: a password on the command line shows in process listings. Set \
             POP3_PASSWORD, use --password-env NAME or --password-command COMMAND, or type it at the prompt"
                .into(),
        ));
    }
    let accounts = a.accounts.all || !a.accounts.names.is_empty();
    if !a.other.demo && a.other.completions.is_none() && a.url.is_none() && !accounts {
        return Err(Failure::Usage(
            "missing the server URL, e.g. pop3-fetch pops://user@pop.example.org, or --all / --account NAME \
             for the accounts file (see --help)"
                .into(),
        ));
    }
    if a.security.plaintext && !a.security.allow_plaintext_credentials {
        return Err(Failure::Usage(
            "--plaintext sends your password and mail in clear; add --allow-plaintext-credentials if you \
             really mean it"
                .into(),
        ));
    }
    Ok(())
}

/// Writes the completion script for `shell` to standard output.
pub(crate) fn completions(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Args::command(),
        "pop3-fetch",
        &mut std::io::stdout(),
    );
}

/// A size in bytes: `1000`, `10k` (KiB), `5M` (MiB), `1G` (GiB).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{text:?} is not a size (say 1000, 10k or 5M)")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (say 1000, 10k or 5M)"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too big"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Args, Failure> {
        parse(
            std::iter::once("pop3-fetch")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    #[test]
    fn the_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn typical_command_lines() {
        let a = parse_strs(&[
            "--mbox",
            "/tmp/m",
            "--delete",
            "pops://u@h",
            "--timeout",
            "5",
        ])
        .unwrap();
        assert_eq!(a.output.destination(), Some(Output::Mbox("/tmp/m".into())));
        assert!(a.what.delete);
        assert_eq!(a.url.as_deref(), Some("pops://u@h"));
        assert_eq!(a.other.timeout, Some(5));
        assert!(
            matches!(parse_strs(&["--help"]), Err(Failure::Shown(help)) if help.contains("EX_TEMPFAIL"))
        );
        assert!(parse_strs(&["--demo"]).unwrap().other.demo);
        let a = parse_strs(&[
            "--all",
            "-j",
            "2",
            "--skip-size",
            "10k",
            "--kill-size",
            "5M",
        ])
        .unwrap();
        assert!(a.accounts.all);
        assert_eq!(a.accounts.jobs, 2);
        assert_eq!(a.what.skip_size, Some(10 * 1024));
        assert_eq!(a.what.kill_size, Some(5 << 20));
        let a = parse_strs(&["-a", "work", "--account", "home", "--status"]).unwrap();
        assert_eq!(a.accounts.names, ["work", "home"]);
        assert!(a.what.status);
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["pop://u@h", "pop://v@h"],
            &["--maildir", "a", "--mbox", "b", "pop://u@h"],
            &["--mda", "procmail", "--mbox", "b", "pop://u@h"],
            &["--plaintext", "pop://u@h"],
            &[
                "--plaintext",
                "--starttls-if-available",
                "--allow-plaintext-credentials",
                "pop://u@h",
            ],
            &["--password", "x", "pop://u@h"],
            &["--timeout", "0", "pop://u@h"],
            &["--response-timeout", "0", "pop://u@h"],
            &["--bogus", "pop://u@h"],
            &["--demo", "pop://u@h"],
            &["--all", "pop://u@h"],
            &["--status", "--dry-run", "pop://u@h"],
            &["--skip-size", "lots", "pop://u@h"],
            &["--jobs", "0", "--all"],
            &["--password-env", "A", "--oauth-token-env", "B", "pop://u@h"],
        ] {
            let result = parse_strs(bad);
            assert!(
                matches!(result, Err(Failure::Usage(_))),
                "{bad:?}: {result:?}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("10k"), Ok(10240));
        assert_eq!(parse_size("5 MiB"), Ok(5 << 20));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
