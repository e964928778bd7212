//! perdition, a POP3 proxy, in front of the [`popa3d`](super::popa3d) instance: its own greeting, CAPA and
//! TLS (STLS offered, STLS forced, POP3S) before login, the backend's answers after it.

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use super::fixture::{Fixture, Ports, Running};
use super::instance::{self, Instance};
use super::popa3d::{self, Popa3d};
use super::{Mailbox, Mode, Profile, StrictPort};

/// What perdition 2.2 offers (Debian 12), in front of popa3d.
pub(crate) const PROFILE: Profile = Profile {
    name: "perdition (proxy)",
    package: "perdition",
    version: "2.2-3.2+b1",
    capa: Some(&["UIDL", "USER", "STLS"]),
    sasl: &[],
    apop: false,
    modes: &[Mode::Plaintext, Mode::StartTls, Mode::Implicit],
    strict_port: StrictPort::RefusesPass,
    proxy_for: Some(popa3d::PROFILE.name),
    ..popa3d::PROFILE
};

const PERDITION: &str = "/usr/sbin/perdition.pop3";

/// The running proxies.
#[derive(Debug)]
pub(crate) struct Perdition {
    running: Running,
    backend: &'static Popa3d,
}

impl Perdition {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Perdition> = OnceLock::new();
        Self::start_once(&SHARED)
    }
}

impl Fixture for Perdition {
    const PROFILE: &'static Profile = &PROFILE;

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let binary = instance::require_executable("perdition", Path::new(PERDITION));
        let backend = Popa3d::shared();
        let instance = Instance::new("perdition")?;
        let empty = instance.path("empty.conf");
        crate::write_file(&empty, b"", 0o644)?;
        let ports = Ports::with_tls(instance::free_ports()?);
        for (ssl_mode, (name, port)) in ["tls_listen", "ssl_listen", "tls_listen_force"]
            .into_iter()
            .zip(ports.named())
        {
            // It daemonizes: stopped by the PID it writes.
            let pid_file = instance.pid_file(name);
            let tls = |f: &str| instance.path(&format!("tls/{f}"));
            instance::run(
                Command::new(&binary)
                    .arg("-f")
                    .arg(&empty)
                    .args(["--protocol", "POP3", "--map_library=", "--no_lookup"])
                    .args([
                        "--bind_address",
                        "127.0.0.1",
                        "--listen_port",
                        &port.to_string(),
                    ])
                    .args([
                        "--outgoing_server",
                        &format!("127.0.0.1:{}", backend.plain_port()),
                    ])
                    .arg("--pid_file")
                    .arg(&pid_file)
                    .args(["--ssl_mode", ssl_mode])
                    .arg("--ssl_cert_file")
                    .arg(tls("cert.pem"))
                    .arg("--ssl_key_file")
                    .arg(tls("key.pem"))
                    .arg("--ssl_ca_chain_file")
                    .arg(tls("ca.pem")),
            )?;
        }
        ports.wait_ready(|_| String::new())?;
        Ok(Self {
            running: Running::new(instance, ports, started),
            backend,
        })
    }

    fn running(&self) -> &Running {
        &self.running
    }

    fn make_mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        // The mailbox lives on the backend; what the proxy relays is what popa3d serves.
        self.backend.make_mailbox(prefix, messages)
    }
}
