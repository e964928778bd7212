//! popa3d: inetd-style under socat, system users through PAM, mbox mailboxes in `/var/mail` (compiled in).
//! No TLS, no CAPA, no APOP: the plainest server there is.

use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use super::fixture::{Fixture, Ports, Running};
use super::instance::{self, Instance};
use super::{Mailbox, Mode, Profile, Store, StrictPort, corpus, expected_mailbox};

/// What popa3d 1.0.3 offers (Debian 12).
pub(crate) const PROFILE: Profile = Profile {
    name: "popa3d",
    package: "popa3d",
    version: "1.0.3-1.1",
    capa: None,
    sasl: &[],
    sasl_with_tls: &[],
    apop: false,
    modes: &[Mode::Plaintext],
    strict_port: StrictPort::None,
    utf8: false,
    utf8_downgrade: false,
    store: Store::Mbox,
    writes_uidl_header: false,
    loses_header_only_message: false,
    top_adds_blank_line: false,
    exclusive_mailbox: false,
    list_counts_added_crlf: true,
    proxy_for: None,
};

/// The running instance.
#[derive(Debug)]
pub(crate) struct Popa3d {
    running: Running,
}

impl Popa3d {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Popa3d> = OnceLock::new();
        Self::start_once(&SHARED)
    }

    pub(crate) fn plain_port(&self) -> u16 {
        self.running.ports.plain()
    }
}

impl Fixture for Popa3d {
    const PROFILE: &'static Profile = &PROFILE;

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let binary = instance::servers_root().join("popa3d/usr/sbin/popa3d");
        let binary = instance::require_executable("popa3d", &binary);
        assert!(
            instance::account_ids("popa3d").is_some() && Path::new("/var/lib/popa3d").is_dir(),
            "pop3-testkit: popa3d's account or /var/lib/popa3d is missing; {}",
            instance::INSTALL_HINT
        );
        let instance = Instance::new("popa3d")?;
        let [port] = instance::free_ports()?;
        instance.socat("popa3d", port, &binary.display().to_string())?;
        let ports = Ports::Plaintext(port);
        ports.wait_ready(|_| instance.log("popa3d"))?;
        Ok(Self {
            running: Running::new(instance, ports, started),
        })
    }

    fn running(&self) -> &Running {
        &self.running
    }

    /// A new system user with `/var/mail/NAME` holding `messages`; both removed at the end.
    fn make_mailbox(&self, _prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        let instance = &self.running.instance;
        let user = instance::unique_account_name("pk", self.running.next_user());
        let password = instance::random_password();
        let owner =
            instance::system_account(instance, &user, &password, Path::new("/nonexistent"))?;
        let spool = Path::new("/var/mail").join(&user);
        instance.on_stop(&format!(
            "rm -f {} {}.lock",
            spool.display(),
            spool.display()
        ));
        instance::write_owned(&spool, &corpus::mbox(messages), 0o660, owner)?;
        Ok(expected_mailbox(&PROFILE, user, password, messages))
    }
}
