//! GNU Mailutils pop3d: inetd-style under socat, virtual users from a passwd file, Maildir mailboxes, one
//! listener per TLS mode (STLS offered, STLS required, POP3S).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::fixture::{Fixture, Ports, Running};
use super::instance::{self, Instance};
use super::{Mailbox, Mode, Profile, Store, StrictPort, corpus};

/// What Mailutils 3.15 offers (Debian 12).
pub(crate) const PROFILE: Profile = Profile {
    name: "GNU Mailutils pop3d",
    package: "mailutils-pop3d",
    version: "1:3.15-4",
    capa: Some(&["TOP", "UIDL", "RESP-CODES", "PIPELINING", "USER", "STLS"]),
    sasl: &[],
    sasl_with_tls: &[],
    apop: true,
    modes: &[Mode::Plaintext, Mode::StartTls, Mode::Implicit],
    strict_port: StrictPort::RefusesUser,
    utf8: false,
    utf8_downgrade: false,
    store: Store::Maildir,
    writes_uidl_header: true,
    loses_header_only_message: true,
    top_adds_blank_line: true,
    exclusive_mailbox: true,
    list_counts_added_crlf: false,
    proxy_for: None,
};

const POP3D: &str = "/usr/sbin/pop3d";
const POPAUTH: &str = "/usr/bin/popauth";

/// The running instance.
#[derive(Debug)]
pub(crate) struct Mailutils {
    running: Running,
    /// Serialises edits of the passwd and APOP files.
    users: Mutex<Vec<(String, String)>>,
}

impl Mailutils {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Mailutils> = OnceLock::new();
        Self::start_once(&SHARED)
    }

    fn home(&self, user: &str) -> PathBuf {
        self.running.instance.path("home").join(user)
    }

    /// The stored message files of `user`, in the server's order (by the leading number of the name).
    fn stored(&self, user: &str) -> io::Result<Vec<Vec<u8>>> {
        let inbox = self.home(user).join("INBOX");
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(inbox.join(sub))? {
                let path = entry?.path();
                let key: u64 = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.split('.').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u64::MAX);
                files.push((key, path));
            }
        }
        files.sort();
        files.into_iter().map(|(_, p)| fs::read(p)).collect()
    }
}

fn config_text(dir: &Path, tls_mode: &str) -> String {
    let d = dir.display();
    format!(
        "# A private test instance written by pop3-testkit.\n\
         auth {{ authorization virtdomain; authentication generic; }};\n\
         virtdomain {{ passwd-dir \"{d}/passwd\"; }};\n\
         apop-database-file \"{d}/apop.db\";\n\
         mandatory-locking {{ enable true; lock-directory \"{d}/lock\"; }};\n\
         tls {{ ssl-certificate-file \"{d}/tls/chain.pem\"; ssl-key-file \"{d}/tls/key.pem\"; }};\n\
         tls-mode {tls_mode};\n"
    )
}

fn write_apop_db(instance: &Instance, users: &[(String, String)]) -> io::Result<()> {
    let text: String = users.iter().map(|(u, p)| format!("{u} {p}\n")).collect();
    let source = instance.path("apop.txt");
    crate::write_file(&source, text.as_bytes(), 0o600)?;
    // Built beside and renamed into place: a login running meanwhile reads the old or the new database.
    let next = instance.path("apop.db.next");
    let _ = fs::remove_file(&next);
    instance::run(
        std::process::Command::new(POPAUTH)
            .arg("-c")
            .arg("-f")
            .arg(&source)
            .arg("-o")
            .arg(&next)
            .args(["-P", "600"]),
    )?;
    fs::rename(&next, instance.path("apop.db"))
}

impl Fixture for Mailutils {
    const PROFILE: &'static Profile = &PROFILE;

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let pop3d = instance::require_executable("GNU Mailutils pop3d", Path::new(POP3D));
        instance::require_executable("GNU Mailutils popauth", Path::new(POPAUTH));
        let instance = Instance::new("mailutils")?;
        for dir in ["passwd", "home"] {
            fs::create_dir(instance.path(dir))?;
        }
        instance::make_dir_owned(&instance.path("lock"), 0o1777, (0, 0))?;
        crate::write_file(&instance.path("passwd/localhost"), b"", 0o644)?;
        write_apop_db(&instance, &[])?;

        let ports = Ports::with_tls(instance::free_ports()?);
        for (tls_mode, (mode, port)) in ["ondemand", "connection", "required"]
            .into_iter()
            .zip(ports.named())
        {
            let config = instance.path(&format!("{mode}.conf"));
            crate::write_file(
                &config,
                config_text(instance.dir(), tls_mode).as_bytes(),
                0o644,
            )?;
            instance.socat(
                mode,
                port,
                &format!(
                    "{} --inetd --config-file={}",
                    pop3d.display(),
                    config.display()
                ),
            )?;
        }
        ports.wait_ready(|mode| instance.log(mode))?;
        Ok(Self {
            running: Running::new(instance, ports, started),
            users: Mutex::new(Vec::new()),
        })
    }

    fn running(&self) -> &Running {
        &self.running
    }

    fn make_mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        let user = self.running.user_name(prefix);
        let password = instance::random_password();
        let make = || -> io::Result<Mailbox> {
            let owner = (65534, 65534);
            let home = self.home(&user);
            instance::make_dir_owned(&home, 0o700, owner)?;
            instance::write_maildir(&home.join("INBOX"), messages, owner)?;
            {
                let mut users = self
                    .users
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                users.push((user.clone(), password.clone()));
                let hash = instance::run(
                    std::process::Command::new("openssl").args(["passwd", "-6", &password]),
                )?;
                let hash = String::from_utf8_lossy(&hash).trim().to_owned();
                let line = format!("{user}:{hash}:65534:65534::{}:/bin/sh\n", home.display());
                let passwd = self.running.instance.path("passwd/localhost");
                let mut text = fs::read(&passwd)?;
                text.extend_from_slice(line.as_bytes());
                crate::write_file(&passwd, &text, 0o644)?;
                write_apop_db(&self.running.instance, &users)?;
            }
            // The first UIDL writes an X-UIDL header into every message: do it now, so that what the tests see
            // is what the server keeps from then on.
            instance::pop3_setup_session(
                self.running.ports.plain(),
                &[
                    (&format!("USER {user}"), false),
                    (&format!("PASS {password}"), false),
                    ("UIDL", true),
                    ("QUIT", false),
                ],
            )?;
            let stored = self.stored(&user)?;
            if stored.len() != messages.len() {
                return Err(io::Error::other(format!(
                    "{} messages stored, {} seeded",
                    stored.len(),
                    messages.len()
                )));
            }
            for (i, (message, stored)) in messages.iter().zip(&stored).enumerate() {
                let message = corpus::to_lf(message);
                let header_only = !message.windows(2).any(|w| w == b"\n\n");
                let lost = header_only
                    && stored.starts_with(b"X-UIDL: ")
                    && stored.ends_with(b"\n\n")
                    && stored.iter().filter(|&&b| b == b'\n').count() == 2;
                if !(inserted_uidl_header(&message, stored).is_some()
                    || lost && PROFILE.loses_header_only_message)
                {
                    return Err(io::Error::other(format!(
                        "message {} is stored as neither the seeded message plus one X-UIDL header nor as the profile \
                         says: {:?}",
                        i + 1,
                        String::from_utf8_lossy(&stored[..stored.len().min(200)])
                    )));
                }
            }
            let served: Vec<Vec<u8>> = stored.iter().map(|s| corpus::to_wire(s)).collect();
            let sizes = stored
                .iter()
                .zip(&served)
                .map(|(m, s)| PROFILE.listed_size(m, s))
                .collect();
            Ok(Mailbox {
                user: user.clone(),
                password: password.clone(),
                served,
                sizes,
            })
        };
        make().map_err(|e| io::Error::other(format!("{user}: {e}")))
    }
}

/// The stored form of `message` after Mailutils' first UIDL: the message with one `X-UIDL:` header line
/// inserted. Returns the inserted line, or `None` if the stored form is anything else.
pub(crate) fn inserted_uidl_header(message_lf: &[u8], stored: &[u8]) -> Option<Vec<u8>> {
    let extra = stored.len().checked_sub(message_lf.len())?;
    let start = (0..=message_lf.len()).find(|&i| message_lf.get(i) != stored.get(i))?;
    let line = &stored[start..start + extra];
    (line.starts_with(b"X-UIDL: ")
        && line.ends_with(b"\n")
        && stored[..start] == message_lf[..start]
        && stored[start + extra..] == message_lf[start..])
        .then(|| line.to_vec())
}
