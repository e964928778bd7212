//! From what the user said (the command line, or one account of the accounts file) to a run [`Config`]: the
//! TLS mode, the destination, the identity and the password.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use pop3_blocking::{Security, TlsOptions};

use crate::cli::{Args, Output};
use crate::errors::Failure;
use crate::fetch::{Config, Log, Mode, Secret};
use crate::url::{AuthSpec, PopUrl};

/// How the connection is to be protected, beyond what the URL's scheme says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TlsMode {
    /// `pop://` requires STLS, `pops://` is TLS from the start.
    #[default]
    Required,
    /// STLS when offered (`--starttls-if-available`).
    IfAvailable,
    /// No TLS (`--plaintext`).
    None,
}

/// Where the password comes from.
#[derive(Clone, Default)]
pub(crate) enum PasswordSource {
    /// `$POP3_PASSWORD`, else a prompt on a terminal.
    #[default]
    Default,
    /// An environment variable named explicitly.
    Env(String),
    /// The first line a shell command prints (`passwordeval`).
    Command(String),
    /// The accounts file itself (only a private one).
    Given(String),
    /// An OAuth 2.0 token in this environment variable.
    OAuthEnv(String),
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("Default"),
            Self::Env(name) => write!(f, "Env({name:?})"),
            Self::Command(command) => write!(f, "Command({command:?})"),
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::OAuthEnv(name) => write!(f, "OAuthEnv({name:?})"),
        }
    }
}

/// One account as the user described it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// The POP URL.
    pub(crate) url: String,
    /// What the fetch state belongs to (default: the URL's `user@host`).
    pub(crate) identity: Option<String>,
    /// TLS beyond the scheme.
    pub(crate) tls: TlsMode,
    /// Send credentials without TLS.
    pub(crate) allow_plaintext_credentials: bool,
    /// A private CA.
    pub(crate) ca_file: Option<PathBuf>,
    /// Where messages go (default `~/Maildir`).
    pub(crate) output: Option<Output>,
    /// The state file (default next to the destination).
    pub(crate) state_file: Option<PathBuf>,
    /// Delete what is stored.
    pub(crate) delete: bool,
    /// Leave bigger messages on the server.
    pub(crate) skip_size: Option<u64>,
    /// Delete bigger messages unread.
    pub(crate) kill_size: Option<u64>,
    /// Deliver CRLF as on the wire.
    pub(crate) keep_crlf: bool,
    /// Add a `Received:` header.
    pub(crate) trace_header: bool,
    /// The password.
    pub(crate) password: PasswordSource,
    /// Seconds for connecting and each read or write.
    pub(crate) timeout: Option<u64>,
    /// Seconds for a whole answer.
    pub(crate) response_timeout: Option<u64>,
}

/// What holds for every account of one run (the command line).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOptions {
    /// Fetch, or only look.
    pub(crate) mode: Mode,
    /// Fetch everything again.
    pub(crate) refetch: bool,
    /// No progress, no informational lines.
    pub(crate) quiet: bool,
    /// Protocol trace.
    pub(crate) debug: bool,
}

impl RunOptions {
    /// The run-wide part of the command line.
    pub(crate) fn from_args(args: &Args) -> Self {
        Self {
            mode: if args.what.status {
                Mode::Status
            } else if args.what.dry_run {
                Mode::DryRun
            } else {
                Mode::Fetch
            },
            refetch: args.what.refetch,
            quiet: args.other.quiet,
            debug: args.other.debug,
        }
    }
}

impl Settings {
    /// The account the command line describes (a URL and options).
    pub(crate) fn from_args(args: &Args) -> Self {
        let s = &args.security;
        let p = &args.secrets;
        Self {
            url: args.url.clone().unwrap_or_default(),
            identity: args.accounts.identity.clone(),
            tls: if s.plaintext {
                TlsMode::None
            } else if s.starttls_if_available {
                TlsMode::IfAvailable
            } else {
                TlsMode::Required
            },
            allow_plaintext_credentials: s.allow_plaintext_credentials,
            ca_file: s.ca_file.clone(),
            output: args.output.destination(),
            state_file: args.output.state_file.clone(),
            delete: args.what.delete,
            skip_size: args.what.skip_size,
            kill_size: args.what.kill_size,
            keep_crlf: args.output.keep_crlf,
            trace_header: args.output.trace_header,
            password: if let Some(name) = &p.oauth_token_env {
                PasswordSource::OAuthEnv(name.clone())
            } else if let Some(name) = &p.password_env {
                PasswordSource::Env(name.clone())
            } else if let Some(command) = &p.password_command {
                PasswordSource::Command(command.clone())
            } else {
                PasswordSource::Default
            },
            timeout: args.other.timeout,
            response_timeout: args.other.response_timeout,
        }
    }

    /// Command-line options that apply to every account of the file too (they win over the file).
    pub(crate) fn override_from(&mut self, args: &Args) {
        if let Some(output) = args.output.destination() {
            self.output = Some(output);
        }
        self.delete |= args.what.delete;
        self.keep_crlf |= args.output.keep_crlf;
        self.trace_header |= args.output.trace_header;
        if args.what.skip_size.is_some() {
            self.skip_size = args.what.skip_size;
        }
        if args.what.kill_size.is_some() {
            self.kill_size = args.what.kill_size;
        }
        if args.other.timeout.is_some() {
            self.timeout = args.other.timeout;
        }
        if args.other.response_timeout.is_some() {
            self.response_timeout = args.other.response_timeout;
        }
    }

    /// The run configuration, with the password read (which may ask on the terminal: call it from one thread
    /// at a time).
    pub(crate) fn resolve(&self, run: RunOptions, log: Log<'_>) -> Result<Config, Failure> {
        let url = PopUrl::parse(&self.url).map_err(Failure::Usage)?;
        let (security, allow_plaintext_credentials) = match (url.implicit_tls, self.tls) {
            (true, TlsMode::Required) => (Security::Implicit, false),
            (true, _) => {
                return Err(Failure::Usage(
                    "pops:// is TLS from the start: --plaintext and --starttls-if-available (tls = \"none\" or \
                     \"if-available\") do not apply"
                        .into(),
                ));
            }
            (false, TlsMode::None) => {
                log.warn("no TLS: the password and every message travel in clear");
                (Security::Plaintext, true)
            }
            (false, TlsMode::IfAvailable) => {
                if self.allow_plaintext_credentials {
                    log.warn(
                        "STLS if available, credentials in clear allowed: if the server does not offer STLS (or \
                         an attacker hides the offer), the password and mail travel in clear",
                    );
                }
                (
                    Security::StartTlsIfAvailable,
                    self.allow_plaintext_credentials,
                )
            }
            (false, TlsMode::Required) => (Security::StartTls, self.allow_plaintext_credentials),
        };
        let tls = match &self.ca_file {
            Some(path) => TlsOptions::default().ca_file(path).map_err(|e| {
                Failure::Usage(format!("cannot use the CA file {}: {e}", path.display()))
            })?,
            None => TlsOptions::default(),
        };
        let output = match &self.output {
            Some(output) => output.clone(),
            None => Output::Maildir(home()?.join("Maildir")),
        };
        let state_file = match (&self.state_file, &output) {
            (Some(path), _) => Some(path.clone()),
            (None, Output::Mda(_)) => Some(state_dir()?.join(format!(
                ".pop3-fetch-state.{}",
                crate::state::encode_key(&self.identity(&url))
            ))),
            (None, _) => None,
        };
        let secret = self.secret(&url)?;
        let timeout = self.timeout.unwrap_or(60);
        Ok(Config {
            account: self.identity(&url),
            url,
            security,
            allow_plaintext_credentials,
            tls,
            timeout: Duration::from_secs(timeout),
            response_timeout: Duration::from_secs(self.response_timeout.unwrap_or(timeout * 10)),
            output,
            state_file,
            delete: self.delete,
            skip_size: self.skip_size,
            kill_size: self.kill_size,
            lf: !self.keep_crlf,
            trace_header: self.trace_header,
            secret,
            mode: run.mode,
            refetch: run.refetch,
            quiet: run.quiet,
            debug: run.debug,
        })
    }

    fn identity(&self, url: &PopUrl) -> String {
        self.identity.clone().unwrap_or_else(|| url.account())
    }

    /// The password or token: from the file, a command, the environment, or asked for on the terminal.
    fn secret(&self, url: &PopUrl) -> Result<Secret, Failure> {
        let oauth = matches!(&url.auth, AuthSpec::Sasl(m) if m == "XOAUTH2" || m == "OAUTHBEARER");
        match &self.password {
            PasswordSource::OAuthEnv(name) => {
                return match std::env::var(name) {
                    Ok(token) if !token.is_empty() => Ok(Secret::OAuthToken(token)),
                    _ => Err(Failure::Usage(format!(
                        "--oauth-token-env {name}: the environment variable {name} is not set"
                    ))),
                };
            }
            _ if oauth => {
                return Err(Failure::Usage(
                    "this AUTH type needs an OAuth token: give --oauth-token-env NAME (oauth_token_env)".into(),
                ));
            }
            PasswordSource::Given(password) => return Ok(Secret::Password(password.clone())),
            PasswordSource::Command(command) => return password_from_command(command),
            PasswordSource::Env(name) => {
                return match std::env::var(name) {
                    Ok(password) => Ok(Secret::Password(password)),
                    Err(std::env::VarError::NotUnicode(_)) => Err(Failure::Usage(format!(
                        "the environment variable {name} is not valid UTF-8"
                    ))),
                    Err(std::env::VarError::NotPresent) => Err(Failure::Usage(format!(
                        "--password-env {name}: the environment variable {name} is not set"
                    ))),
                };
            }
            PasswordSource::Default => {}
        }
        match std::env::var("POP3_PASSWORD") {
            Ok(password) => return Ok(Secret::Password(password)),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::Usage(
                    "the environment variable POP3_PASSWORD is not valid UTF-8".into(),
                ));
            }
            Err(std::env::VarError::NotPresent) => {}
        }
        if std::io::stdin().is_terminal() {
            return rpassword::prompt_password(format!("Password for {}: ", url.account()))
                .map(Secret::Password)
                .map_err(|e| Failure::local("reading the password", &e));
        }
        Err(Failure::Usage(
            "no password: set POP3_PASSWORD (or use --password-env NAME or --password-command COMMAND), or run \
             on a terminal to be asked"
                .into(),
        ))
    }
}

/// Runs `command` by `/bin/sh` and takes the first line of what it prints (as mpop's `passwordeval` does; `pass`
/// prints other fields on the lines after).
fn password_from_command(command: &str) -> Result<Secret, Failure> {
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::local(format!("running the password command `{command}`"), &e))?;
    if !output.status.success() {
        return Err(Failure::Config(format!(
            "the password command `{command}` failed ({})",
            output.status
        )));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| {
        Failure::Config(format!(
            "the password command `{command}` printed something that is not UTF-8"
        ))
    })?;
    let password = text.lines().next().unwrap_or_default();
    if password.is_empty() {
        return Err(Failure::Config(format!(
            "the password command `{command}` printed no password"
        )));
    }
    Ok(Secret::Password(password.to_owned()))
}

/// `$HOME`.
pub(crate) fn home() -> Result<PathBuf, Failure> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home)),
        _ => Err(Failure::Usage(
            "HOME is not set: give --maildir DIR, --mbox FILE or --mda COMMAND, and --config FILE"
                .into(),
        )),
    }
}

/// Where state files of MDA deliveries go: `$XDG_STATE_HOME/pop3-fetch`, or `~/.local/state/pop3-fetch`.
fn state_dir() -> Result<PathBuf, Failure> {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join("pop3-fetch")),
        _ => Ok(home()?.join(".local/state/pop3-fetch")),
    }
}
