//! Courier pop3d: couriertcpd listeners (STLS offered, STLS required, POP3S) and authdaemond with virtual users
//! (userdb), all in one private mount namespace, because libcourierauth and authdaemond have their paths
//! (`/etc/courier`, `/run/courier/authdaemon`) compiled in.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::fixture::{Fixture, Ports, Running};
use super::instance::{self, Instance};
use super::{Mailbox, Mode, Profile, Store, StrictPort, expected_mailbox};

/// What Courier pop3d 1.0.16 offers (Debian 12).
pub(crate) const PROFILE: Profile = Profile {
    name: "Courier pop3d",
    package: "courier-pop",
    version: "1.0.16-3+b6",
    capa: Some(&["TOP", "USER", "PIPELINING", "UIDL", "UTF8", "STLS"]),
    sasl: &["PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1", "CRAM-SHA256"],
    sasl_with_tls: &[],
    apop: false,
    modes: &[Mode::Plaintext, Mode::StartTls, Mode::Implicit],
    strict_port: StrictPort::RefusesUser,
    utf8: true,
    utf8_downgrade: true,
    store: Store::Maildir,
    writes_uidl_header: false,
    loses_header_only_message: false,
    top_adds_blank_line: false,
    exclusive_mailbox: false,
    list_counts_added_crlf: false,
    proxy_for: None,
};

const AUTHDAEMOND: &str = "/usr/lib/courier/courier-authlib/authdaemond";
const MAKEUSERDB: &str = "/usr/sbin/makeuserdb";
const USERDBPW: &str = "/usr/sbin/userdbpw";
const MECHANISMS: &str = "PLAIN LOGIN CRAM-MD5 CRAM-SHA1 CRAM-SHA256";

/// The running instance.
#[derive(Debug)]
pub(crate) struct Courier {
    running: Running,
    /// Serialises edits of the userdb.
    userdb: Mutex<String>,
}

impl Courier {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Courier> = OnceLock::new();
        Self::start_once(&SHARED)
    }

    fn home(&self, user: &str) -> PathBuf {
        self.running.instance.path("home").join(user)
    }
}

impl Fixture for Courier {
    const PROFILE: &'static Profile = &PROFILE;

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let base = instance::servers_root().join("courier-base");
        let pop = instance::servers_root().join("courier-pop");
        let couriertcpd =
            instance::require_executable("Courier", &base.join("usr/sbin/couriertcpd"));
        let couriertls = instance::require_executable("Courier", &base.join("usr/bin/couriertls"));
        let login = instance::require_executable(
            "Courier",
            &pop.join("usr/lib/courier/courier/courierpop3login"),
        );
        let pop3d = instance::require_executable(
            "Courier",
            &pop.join("usr/lib/courier/courier/courierpop3d"),
        );
        for tool in [AUTHDAEMOND, MAKEUSERDB, USERDBPW] {
            instance::require_executable("Courier's authentication library", Path::new(tool));
        }
        let courier = instance::account_ids("courier").unwrap_or_else(|| {
            panic!(
                "pop3-testkit: the account courier is missing; {}",
                instance::INSTALL_HINT
            )
        });

        let instance = Instance::new("courier")?;
        let etc = instance.path("etc/courier");
        instance::make_dir_owned(&etc, 0o755, (0, 0))?;
        crate::write_file(
            &etc.join("authdaemonrc"),
            b"authmodulelist=\"authuserdb\"\ndaemons=3\nauthdaemonvar=/run/courier/authdaemon\n",
            0o644,
        )?;
        crate::write_file(&etc.join("userdb"), b"", 0o600)?;
        instance::run(Command::new(MAKEUSERDB).arg("-f").arg(etc.join("userdb")))?;
        instance::make_dir_owned(&instance.path("run/authdaemon"), 0o750, courier)?;
        instance::make_dir_owned(&instance.path("home"), 0o755, (0, 0))?;
        // couriertls runs as courier after STLS: the key must be readable by it.
        let certfile = instance.path("tls/key-cert-ca.pem");
        std::os::unix::fs::chown(&certfile, Some(courier.0), Some(courier.1))?;
        let dh = instance.path("tls/dh.pem");
        instance::run(
            Command::new("openssl")
                .args([
                    "genpkey",
                    "-genparam",
                    "-algorithm",
                    "DH",
                    "-pkeyopt",
                    "group:ffdhe2048",
                    "-out",
                ])
                .arg(&dh),
        )?;
        std::os::unix::fs::chown(&dh, Some(courier.0), Some(courier.1))?;

        let mut script = format!(
            "set -e\n\
             mkdir -p /run/courier/authdaemon\n\
             mount --bind {etc} /etc/courier\n\
             mount --bind {run} /run/courier/authdaemon\n",
            etc = etc.display(),
            run = instance.path("run/authdaemon").display()
        );
        let ports = Ports::with_tls(instance::free_ports()?);
        for ((env, tls_wrapper), (name, port)) in [
            ("POP3_STARTTLS=YES POP3_TLS_REQUIRED=0", false),
            ("POP3_TLS=1 POP3_STARTTLS=NO", true),
            ("POP3_STARTTLS=YES POP3_TLS_REQUIRED=1", false),
        ]
        .into_iter()
        .zip(ports.named())
        {
            let pid_file = instance.pid_file(name);
            let wrapper = if tls_wrapper {
                format!("{} -server -tcpd ", couriertls.display())
            } else {
                String::new()
            };
            script.push_str(&format!(
                "env -i POP3AUTH=\"{MECHANISMS}\" {env} COURIERTLS={tls} TLS_CERTFILE={cert} TLS_DHPARAMS={dh} \
                 TLS_VERIFYPEER=NONE {tcpd} -pid={pid} -address=127.0.0.1 -maxprocs=100 -maxperip=100 \
                 -nodnslookup -noidentlookup -stderr={log} {port} {wrapper}{login} {pop3d} Maildir\n",
                tls = couriertls.display(),
                cert = certfile.display(),
                dh = dh.display(),
                tcpd = couriertcpd.display(),
                pid = pid_file.display(),
                log = instance.path(&format!("{name}.log")).display(),
                login = login.display(),
                pop3d = pop3d.display(),
            ));
        }
        script.push_str(&format!("exec {AUTHDAEMOND}\n"));
        // authdaemond leaves the process group it was started in: stop it by the PID it writes.
        instance.on_stop(&format!(
            "kill -TERM $(cat {}/pid) 2>/dev/null",
            instance.path("run/authdaemon").display()
        ));
        let script_path = instance.path("run.sh");
        crate::write_file(&script_path, script.as_bytes(), 0o755)?;
        instance.spawn(
            "authdaemond",
            Command::new("unshare")
                .args(["-m", "--propagation", "private", "/bin/sh"])
                .arg(&script_path),
        )?;
        ports.wait_ready(|name| {
            format!("{}\n{}", instance.log("authdaemond"), instance.log(name))
        })?;
        Ok(Self {
            running: Running::new(instance, ports, started),
            userdb: Mutex::new(String::new()),
        })
    }

    fn running(&self) -> &Running {
        &self.running
    }

    fn make_mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        let user = self.running.user_name(prefix);
        let password = instance::random_password();
        let owner = (65534, 65534);
        let home = self.home(&user);
        instance::make_dir_owned(&home, 0o700, owner)?;
        instance::write_maildir(&home.join("Maildir"), messages, owner)?;
        let hash = |flag: &str| -> io::Result<String> {
            let out = instance::run_with_input(
                Command::new(USERDBPW).arg(flag),
                format!("{password}\n").as_bytes(),
            )?;
            Ok(String::from_utf8_lossy(&out).trim().to_owned())
        };
        let line = format!(
            "{user}\tuid=65534|gid=65534|home={h}|mail={h}/Maildir|systempw={}|hmac-md5pw={}|hmac-sha1pw={}|hmac-sha256pw={}\n",
            hash("-md5")?,
            hash("-hmac-md5")?,
            hash("-hmac-sha1")?,
            hash("-hmac-sha256")?,
            h = home.display(),
        );
        let mut userdb = self
            .userdb
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        userdb.push_str(&line);
        let file = self.running.instance.path("etc/courier/userdb");
        crate::write_file(&file, userdb.as_bytes(), 0o600)?;
        instance::run(Command::new(MAKEUSERDB).arg("-f").arg(&file))?;
        Ok(expected_mailbox(&PROFILE, user, password, messages))
    }
}
