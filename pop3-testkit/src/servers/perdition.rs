//! perdition, a POP3 proxy, in front of the [`popa3d`](super::popa3d) instance: its own greeting, CAPA and
//! TLS (STLS offered, STLS forced, POP3S) before login, the backend's answers after it.

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::instance::{self, Instance};
use super::popa3d::{self, Popa3d};
use super::{Mailbox, Mode, PopServer, Profile, StrictPort};

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
    instance: Instance,
    backend: &'static Popa3d,
    plain_port: u16,
    pop3s_port: u16,
    strict_port: u16,
    startup_time: Duration,
}

impl Perdition {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Perdition> = OnceLock::new();
        SHARED.get_or_init(|| {
            Self::start().unwrap_or_else(|e| panic!("pop3-testkit: perdition: {e}"))
        })
    }

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let binary = instance::require_executable("perdition", Path::new(PERDITION));
        let backend = Popa3d::shared();
        let instance = Instance::new("perdition")?;
        let empty = instance.path("empty.conf");
        crate::write_file(&empty, b"", 0o644)?;
        let mut ports = Vec::new();
        let free = instance::free_ports::<3>()?;
        for ((name, ssl_mode), port) in [
            ("plain", "tls_listen"),
            ("pop3s", "ssl_listen"),
            ("strict", "tls_listen_force"),
        ]
        .into_iter()
        .zip(free)
        {
            let pid_file = instance.path(&format!("{name}.pid"));
            // It daemonizes: stop it by the PID it writes.
            instance.on_stop(&format!(
                "kill -TERM $(cat {}) 2>/dev/null",
                pid_file.display()
            ));
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
            ports.push((name, port));
        }
        for &(name, port) in &ports {
            instance::wait_ready(port, name == "pop3s", String::new)?;
        }
        Ok(Self {
            instance,
            backend,
            plain_port: ports[0].1,
            pop3s_port: ports[1].1,
            strict_port: ports[2].1,
            startup_time: started.elapsed(),
        })
    }
}

impl PopServer for Perdition {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn port(&self, mode: Mode) -> u16 {
        match mode {
            Mode::Plaintext | Mode::StartTls => self.plain_port,
            Mode::Implicit => self.pop3s_port,
        }
    }

    fn strict_port(&self) -> Option<u16> {
        Some(self.strict_port)
    }

    fn ca_pem(&self) -> &str {
        self.instance.ca_pem()
    }

    fn mailbox(&self, _prefix: &str, messages: &[Vec<u8>]) -> Mailbox {
        // The mailbox lives on the backend; what the proxy relays is what popa3d serves.
        self.backend
            .make_mailbox(messages)
            .unwrap_or_else(|e| panic!("pop3-testkit: perdition's backend mailbox: {e}"))
    }

    fn startup_time(&self) -> Duration {
        self.startup_time
    }
}
