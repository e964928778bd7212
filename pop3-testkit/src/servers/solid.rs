//! solid-pop3d: inetd-style under socat (never with a terminal or file on stdin: it would become a daemon on
//! every address), system users through PAM, APOP secrets in `~/.spop3d`, mbox mailboxes in the state
//! directory.

use std::fmt::Write as _;
use std::io;
use std::sync::OnceLock;
use std::time::Instant;

use super::fixture::{Fixture, Ports, Running};
use super::instance::{self, Instance};
use super::{Mailbox, Mode, Profile, Store, StrictPort, corpus, expected_mailbox};

/// What solid-pop3d 0.15 offers (Debian 12).
pub(crate) const PROFILE: Profile = Profile {
    name: "solid-pop3d",
    package: "solid-pop3d",
    version: "0.15-31",
    capa: None,
    sasl: &[],
    sasl_with_tls: &[],
    apop: true,
    modes: &[Mode::Plaintext],
    strict_port: StrictPort::None,
    utf8: false,
    utf8_downgrade: false,
    store: Store::MboxWithSeparator,
    writes_uidl_header: false,
    loses_header_only_message: false,
    top_adds_blank_line: false,
    exclusive_mailbox: false,
    list_counts_added_crlf: true,
    proxy_for: None,
};

/// The running instance.
#[derive(Debug)]
pub(crate) struct SolidPop3d {
    running: Running,
}

impl SolidPop3d {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<SolidPop3d> = OnceLock::new();
        Self::start_once(&SHARED)
    }
}

impl Fixture for SolidPop3d {
    const PROFILE: &'static Profile = &PROFILE;

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let binary = instance::servers_root().join("solid-pop3d/usr/sbin/solid-pop3d");
        let binary = instance::require_executable("solid-pop3d", &binary);
        assert!(
            instance::account_ids("spop3d").is_some(),
            "pop3-testkit: solid-pop3d's account spop3d is missing; {}",
            instance::INSTALL_HINT
        );
        let instance = Instance::new("solid-pop3d")?;
        let mail_gid = instance::group_id("mail").unwrap_or(8);
        // It dot-locks MBOX.lock as the user: the directory must be writable for the group.
        instance::make_dir_owned(&instance.path("mail"), 0o2775, (0, mail_gid))?;
        instance::make_dir_owned(&instance.path("home"), 0o755, (0, 0))?;
        let config = instance.path("solid-pop3d.conf");
        let text = format!(
            "<Global>\n\
             \tMailDropName \"{}/mail/%s\"\n\
             \tMailDropType mailbox\n\
             \tAllowAPOP yes\n\
             \tAPOPServerName \"localhost\"\n\
             \tUserOverride yes\n\
             \tAddBulletins no\n\
             \tWrongCommandsLimit 0\n\
             \tLogStatistics no\n\
             </Global>\n",
            instance.dir().display()
        );
        crate::write_file(&config, text.as_bytes(), 0o644)?;
        let [port] = instance::free_ports()?;
        instance.socat(
            "solid-pop3d",
            port,
            &format!("{} -f {}", binary.display(), config.display()),
        )?;
        let ports = Ports::Plaintext(port);
        ports.wait_ready(|_| instance.log("solid-pop3d"))?;
        Ok(Self {
            running: Running::new(instance, ports, started),
        })
    }

    fn running(&self) -> &Running {
        &self.running
    }

    fn make_mailbox(&self, _prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        let instance = &self.running.instance;
        let user = instance::unique_account_name("ps", self.running.next_user());
        let password = instance::random_password();
        let home = instance.path("home").join(&user);
        let owner = instance::system_account(instance, &user, &password, &home)?;
        instance::make_dir_owned(&home, 0o700, owner)?;
        // pop_auth(1)'s "encryption": every byte inverted, hex-encoded.
        let secret = password.bytes().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{:02x}", !b);
            hex
        });
        instance::write_owned(
            &home.join(".spop3d"),
            format!("APOPSecret {secret}\n").as_bytes(),
            0o600,
            owner,
        )?;
        let spool = instance.path("mail").join(&user);
        instance::write_owned(&spool, &corpus::mbox(messages), 0o660, owner)?;
        Ok(expected_mailbox(&PROFILE, user, password, messages))
    }
}
