//! The accounts file: TOML, one `[accounts.NAME]` table per account.
//!
//! ```toml
//! [accounts.work]
//! url = "pops://alice@pop.example.org"
//! passwordeval = "pass show mail/work"
//! maildir = "~/Mail/work"
//! delete = true
//! skipsize = "10M"
//! ```
//!
//! Unknown keys are refused (a misspelt `delete` must not silently keep mail, nor a misspelt `skipsize` fetch a
//! huge one). A `password` in the file is accepted only if the file is private: readable by its owner alone.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::{Output, parse_size};
use crate::errors::Failure;
use crate::setup::{PasswordSource, Settings, TlsMode, home};

/// The file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    accounts: BTreeMap<String, Account>,
}

/// A size: a number of bytes, or a string such as `"10M"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// One account, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Account {
    url: String,
    identity: Option<String>,
    #[serde(default)]
    tls: TlsMode,
    #[serde(default)]
    allow_plaintext_credentials: bool,
    ca_file: Option<PathBuf>,
    maildir: Option<PathBuf>,
    mbox: Option<PathBuf>,
    mda: Option<String>,
    state_file: Option<PathBuf>,
    #[serde(default)]
    delete: bool,
    skipsize: Option<Size>,
    killsize: Option<Size>,
    #[serde(default)]
    keep_crlf: bool,
    #[serde(default)]
    trace_header: bool,
    password: Option<String>,
    #[serde(alias = "password_command")]
    passwordeval: Option<String>,
    password_env: Option<String>,
    oauth_token_env: Option<String>,
    timeout: Option<u64>,
    response_timeout: Option<u64>,
}

/// Where the accounts file is when `--config` does not say: `$XDG_CONFIG_HOME/pop3-fetch/accounts.toml`, or
/// `~/.config/pop3-fetch/accounts.toml`.
pub(crate) fn default_path() -> Result<PathBuf, Failure> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home()?.join(".config"),
    };
    Ok(base.join("pop3-fetch").join("accounts.toml"))
}

/// Reads the accounts file: every account by name, in name order.
///
/// # Errors
/// [`Failure::Config`]: the file cannot be read, is not valid, or holds a password without being private.
pub(crate) fn load(path: &Path) -> Result<Vec<(String, Settings)>, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Config(format!("cannot read the accounts file {shown}: {e}")))?;
    let file: File = toml::from_str(&text)
        .map_err(|e| Failure::Config(format!("the accounts file {shown} is not valid: {e}")))?;
    if file.accounts.is_empty() {
        return Err(Failure::Config(format!(
            "the accounts file {shown} defines no account (add an [accounts.NAME] table)"
        )));
    }
    if let Some((name, _)) = file.accounts.iter().find(|(_, a)| a.password.is_some()) {
        let mode = std::fs::metadata(path)
            .map_err(|e| Failure::Config(format!("cannot read the accounts file {shown}: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Failure::Config(format!(
                "the accounts file {shown} holds a password (account {name}) but other users can read it \
                 (mode {:03o}): make it private (chmod 600 '{shown}'), or use passwordeval or password_env instead",
                mode & 0o777
            )));
        }
    }
    file.accounts
        .into_iter()
        .map(|(name, account)| {
            let settings = account
                .settings()
                .map_err(|e| Failure::Config(format!("{shown}, account {name}: {e}")))?;
            Ok((name, settings))
        })
        .collect()
}

impl Account {
    fn settings(self) -> Result<Settings, String> {
        let destinations = [
            self.maildir.is_some(),
            self.mbox.is_some(),
            self.mda.is_some(),
        ];
        if destinations.iter().filter(|&&d| d).count() > 1 {
            return Err("give only one of maildir, mbox and mda".into());
        }
        let sources = [
            self.password.is_some(),
            self.passwordeval.is_some(),
            self.password_env.is_some(),
            self.oauth_token_env.is_some(),
        ];
        if sources.iter().filter(|&&s| s).count() > 1 {
            return Err(
                "give only one of password, passwordeval, password_env and oauth_token_env".into(),
            );
        }
        if self.timeout == Some(0) || self.response_timeout == Some(0) {
            return Err("time limits must be at least 1 second".into());
        }
        let size = |size: Option<Size>| match size {
            None => Ok(None),
            Some(Size::Bytes(n)) => Ok(Some(n)),
            Some(Size::Text(text)) => parse_size(&text).map(Some),
        };
        let output = if let Some(dir) = self.maildir {
            Some(Output::Maildir(expand(dir)?))
        } else if let Some(file) = self.mbox {
            Some(Output::Mbox(expand(file)?))
        } else {
            self.mda.map(Output::Mda)
        };
        Ok(Settings {
            url: self.url,
            identity: self.identity,
            tls: self.tls,
            allow_plaintext_credentials: self.allow_plaintext_credentials,
            ca_file: self.ca_file.map(expand).transpose()?,
            output,
            state_file: self.state_file.map(expand).transpose()?,
            delete: self.delete,
            skip_size: size(self.skipsize)?,
            kill_size: size(self.killsize)?,
            keep_crlf: self.keep_crlf,
            trace_header: self.trace_header,
            password: if let Some(password) = self.password {
                PasswordSource::Given(password)
            } else if let Some(command) = self.passwordeval {
                PasswordSource::Command(command)
            } else if let Some(name) = self.password_env {
                PasswordSource::Env(name)
            } else if let Some(name) = self.oauth_token_env {
                PasswordSource::OAuthEnv(name)
            } else {
                PasswordSource::Default
            },
            timeout: self.timeout,
            response_timeout: self.response_timeout,
        })
    }
}

/// `~/x` → `$HOME/x`.
fn expand(path: PathBuf) -> Result<PathBuf, String> {
    match path.strip_prefix("~") {
        Ok(rest) => home()
            .map(|home| home.join(rest))
            .map_err(|e| e.to_string()),
        Err(_) => Ok(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(name: &str, text: &str, mode: u32) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("pop3-fetch-accounts-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn several_accounts_each_with_its_delivery() {
        let path = write(
            "ok",
            r#"
            [accounts.work]
            url = "pops://alice@pop.example.org"
            passwordeval = "pass show work"
            maildir = "/m/work"
            delete = true
            skipsize = "10k"
            killsize = 5000000

            [accounts.home]
            url = "pop://bob@127.0.0.1:1110"
            identity = "bob@localhost"
            mda = "procmail -d bob"
            tls = "if-available"
            keep_crlf = true
            "#,
            0o644,
        );
        let accounts = load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let names: Vec<&str> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["home", "work"]);
        let (home, work) = (&accounts[0].1, &accounts[1].1);
        assert_eq!(work.output, Some(Output::Maildir("/m/work".into())));
        assert!(work.delete);
        assert_eq!(work.skip_size, Some(10240));
        assert_eq!(work.kill_size, Some(5_000_000));
        assert!(matches!(&work.password, PasswordSource::Command(c) if c == "pass show work"));
        assert_eq!(home.output, Some(Output::Mda("procmail -d bob".into())));
        assert_eq!(home.identity.as_deref(), Some("bob@localhost"));
        assert_eq!(home.tls, TlsMode::IfAvailable);
        assert!(home.keep_crlf && !home.delete);
    }

    #[test]
    fn a_password_only_in_a_private_file() {
        let text = "[accounts.a]\nurl = \"pop://u@h\"\npassword = \"hunter2\"\n";
        let open = write("open", text, 0o640);
        let refused = load(&open).unwrap_err();
        std::fs::remove_file(&open).unwrap();
        assert!(
            matches!(&refused, Failure::Config(m) if m.contains("chmod 600") && m.contains("mode 640")),
            "{refused:?}"
        );
        assert!(!refused.to_string().contains("hunter2"));
        let private = write("private", text, 0o600);
        let accounts = load(&private).unwrap();
        std::fs::remove_file(&private).unwrap();
        assert!(matches!(&accounts[0].1.password, PasswordSource::Given(p) if p == "hunter2"));
        assert!(!format!("{accounts:?}").contains("hunter2"));
    }

    #[test]
    fn mistakes_are_refused() {
        for (name, text) in [
            ("typo", "[accounts.a]\nurl = \"pop://u@h\"\ndelet = true\n"),
            (
                "two",
                "[accounts.a]\nurl = \"pop://u@h\"\nmaildir = \"x\"\nmbox = \"y\"\n",
            ),
            (
                "size",
                "[accounts.a]\nurl = \"pop://u@h\"\nskipsize = \"big\"\n",
            ),
            ("none", "# nothing\n"),
            (
                "tls",
                "[accounts.a]\nurl = \"pop://u@h\"\ntls = \"maybe\"\n",
            ),
        ] {
            let path = write(name, text, 0o600);
            let result = load(&path);
            std::fs::remove_file(&path).unwrap();
            assert!(
                matches!(result, Err(Failure::Config(_))),
                "{name}: {result:?}"
            );
        }
    }
}
