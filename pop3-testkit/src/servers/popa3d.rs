//! popa3d: inetd-style under socat, system users through PAM, mbox mailboxes in `/var/mail` (compiled in).
//! No TLS, no CAPA, no APOP: the plainest server there is.

use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::instance::{self, Instance};
use super::{Mailbox, Mode, PopServer, Profile, Store, StrictPort, corpus, expected_mailbox};

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
    instance: Instance,
    port: u16,
    startup_time: Duration,
    next_user: AtomicU32,
}

impl Popa3d {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Popa3d> = OnceLock::new();
        SHARED.get_or_init(|| Self::start().unwrap_or_else(|e| panic!("pop3-testkit: popa3d: {e}")))
    }

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
        instance::wait_ready(port, false, || instance.log("popa3d"))?;
        Ok(Self {
            instance,
            port,
            startup_time: started.elapsed(),
            next_user: AtomicU32::new(0),
        })
    }

    /// A new system user with `/var/mail/NAME` holding `messages`; both removed at the end.
    pub(crate) fn make_mailbox(&self, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        let n = self.next_user.fetch_add(1, Ordering::Relaxed) + 1;
        let user = instance::unique_account_name("pk", n);
        let password = instance::random_password();
        let owner =
            instance::system_account(&self.instance, &user, &password, Path::new("/nonexistent"))?;
        let spool = Path::new("/var/mail").join(&user);
        self.instance.on_stop(&format!(
            "rm -f {} {}.lock",
            spool.display(),
            spool.display()
        ));
        instance::write_owned(&spool, &corpus::mbox(messages), 0o660, owner)?;
        Ok(expected_mailbox(&PROFILE, user, password, messages))
    }

    pub(crate) fn plain_port(&self) -> u16 {
        self.port
    }
}

impl PopServer for Popa3d {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn port(&self, mode: Mode) -> u16 {
        assert_eq!(mode, Mode::Plaintext, "popa3d has no TLS");
        self.port
    }

    fn strict_port(&self) -> Option<u16> {
        None
    }

    fn ca_pem(&self) -> &str {
        self.instance.ca_pem()
    }

    fn mailbox(&self, _prefix: &str, messages: &[Vec<u8>]) -> Mailbox {
        self.make_mailbox(messages)
            .unwrap_or_else(|e| panic!("pop3-testkit: popa3d mailbox: {e}"))
    }

    fn startup_time(&self) -> Duration {
        self.startup_time
    }
}
