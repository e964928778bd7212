//! Cyrus pop3d: Cyrus' master process with its own configuration, users in a private sasldb (secrets kept
//! retrievable, so SCRAM, CRAM and APOP work), mailboxes made and filled over IMAP as the admin.

use std::fs;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::fixture::{Fixture, Ports, Running};
use super::instance::{self, Instance};
use super::{Mailbox, Mode, Profile, Store, StrictPort, expected_mailbox};

/// What Cyrus pop3d 3.6.1 offers (Debian 12).
pub(crate) const PROFILE: Profile = Profile {
    name: "Cyrus pop3d",
    package: "cyrus-pop3d",
    version: "3.6.1-4+deb12u5",
    capa: Some(&["TOP", "UIDL", "PIPELINING", "RESP-CODES", "USER", "STLS"]),
    sasl: &[
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "DIGEST-MD5",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
    ],
    sasl_with_tls: &["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"],
    apop: true,
    modes: &[Mode::Plaintext, Mode::StartTls, Mode::Implicit],
    strict_port: StrictPort::ChallengeResponseOnly,
    utf8: false,
    utf8_downgrade: false,
    store: Store::CrlfFiles,
    writes_uidl_header: false,
    loses_header_only_message: false,
    top_adds_blank_line: false,
    exclusive_mailbox: false,
    list_counts_added_crlf: false,
    proxy_for: None,
};

const MASTER: &str = "/usr/lib/cyrus/bin/master";
const CTL_CYRUSDB: &str = "/usr/lib/cyrus/bin/ctl_cyrusdb";
const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";
const ADMIN: &str = "cyrus";

/// The running instance.
#[derive(Debug)]
pub(crate) struct Cyrus {
    /// Its strict port is the `pop3strict` service: `pop3strict_allowplaintext: no`.
    running: Running,
    /// The admin's IMAP session that makes every mailbox, one at a time. Mailboxes made at once by two
    /// freshly forked imapd processes got the same storage (two tests each saw the other's messages): one
    /// long-lived session avoids that, and a STATUS after each APPEND checks it.
    admin: Mutex<Imap>,
}

impl Cyrus {
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<Cyrus> = OnceLock::new();
        Self::start_once(&SHARED)
    }
}

impl Fixture for Cyrus {
    const PROFILE: &'static Profile = &PROFILE;

    fn start() -> io::Result<Self> {
        let started = Instant::now();
        let bin = |package: &str, name: &str| {
            instance::require_executable(
                "Cyrus",
                &instance::servers_root()
                    .join(package)
                    .join("usr/lib/cyrus/bin")
                    .join(name),
            )
        };
        let pop3d = bin("cyrus-pop3d", "pop3d");
        let imapd = bin("cyrus-imapd", "imapd");
        for tool in [MASTER, CTL_CYRUSDB, SASLPASSWD2] {
            instance::require_executable("Cyrus", Path::new(tool));
        }
        let cyrus = instance::account_ids("cyrus").unwrap_or_else(|| {
            panic!(
                "pop3-testkit: the account cyrus is missing; {}",
                instance::INSTALL_HINT
            )
        });

        let instance = Instance::new("cyrus")?;
        let dir = instance.dir().to_path_buf();
        for sub in ["conf", "spool", "proc", "lock", "socket"] {
            instance::make_dir_owned(&dir.join(sub), 0o750, cyrus)?;
        }
        std::os::unix::fs::chown(instance.path("tls/key.pem"), Some(cyrus.0), Some(cyrus.1))?;
        let config = instance.path("imapd.conf");
        let d = dir.display();
        let imapd_conf = format!(
            "configdirectory: {d}/conf\n\
             partition-default: {d}/spool\n\
             proc_path: {d}/proc\n\
             mboxname_lockpath: {d}/lock\n\
             idlesocket: {d}/socket/idle\n\
             notifysocket: {d}/socket/notify\n\
             lmtpsocket: {d}/socket/lmtp\n\
             servername: localhost\n\
             admins: {ADMIN}\n\
             unixhierarchysep: no\n\
             allowplaintext: yes\n\
             allowapop: yes\n\
             popminpoll: 0\n\
             munge8bit: no\n\
             sasl_pwcheck_method: auxprop\n\
             sasl_auxprop_plugin: sasldb\n\
             sasl_sasldb_path: {d}/sasldb2\n\
             sasl_mech_list: {}\n\
             tls_server_cert: {d}/tls/chain.pem\n\
             tls_server_key: {d}/tls/key.pem\n\
             syslog_prefix: pop3-testkit\n\
             pop3strict_allowplaintext: no\n",
            PROFILE.sasl.join(" ")
        );
        instance::write_owned(&config, imapd_conf.as_bytes(), 0o644, cyrus)?;
        let admin_password = instance::random_password();
        add_sasl_user(&instance, ADMIN, &admin_password, cyrus)?;

        let [plain_port, pop3s_port, strict_port, imap_port] = instance::free_ports()?;
        let c = config.display();
        // master does not pass its -C on: every service names the configuration itself.
        let cyrus_conf = format!(
            "START {{\n  recover cmd=\"{CTL_CYRUSDB} -r -C {c}\"\n}}\n\
             SERVICES {{\n\
             \x20 imap cmd=\"{imapd} -C {c}\" listen=\"127.0.0.1:{imap_port}\" prefork=0\n\
             \x20 pop3 cmd=\"{pop3d} -C {c}\" listen=\"127.0.0.1:{plain_port}\" prefork=0\n\
             \x20 pop3s cmd=\"{pop3d} -s -C {c}\" listen=\"127.0.0.1:{pop3s_port}\" prefork=0\n\
             \x20 pop3strict cmd=\"{pop3d} -C {c}\" listen=\"127.0.0.1:{strict_port}\" prefork=0\n\
             }}\n\
             EVENTS {{\n}}\n",
            imapd = imapd.display(),
            pop3d = pop3d.display(),
        );
        let master_conf = instance.path("cyrus.conf");
        instance::write_owned(&master_conf, cyrus_conf.as_bytes(), 0o644, cyrus)?;
        // master daemonizes (-d): stopped by the PID it writes; it stops its children.
        let pid_file = instance.pid_file("master");
        instance::run(
            Command::new(MASTER)
                .arg("-C")
                .arg(&config)
                .arg("-M")
                .arg(&master_conf)
                .arg("-p")
                .arg(&pid_file)
                .arg("-d"),
        )?;
        let ports = Ports::with_tls([plain_port, pop3s_port, strict_port]);
        ports.wait_ready(|_| String::new())?;
        // IMAP greets with `* OK`: only the TCP accept is awaited here.
        instance::wait_ready(imap_port, true, String::new)?;
        let mut admin = Imap::connect(imap_port)?;
        admin.command(&format!("LOGIN {ADMIN} {admin_password}"))?;
        Ok(Self {
            running: Running::new(instance, ports, started),
            admin: Mutex::new(admin),
        })
    }

    fn running(&self) -> &Running {
        &self.running
    }

    fn make_mailbox(&self, prefix: &str, messages: &[Vec<u8>]) -> io::Result<Mailbox> {
        // A dot separates the levels of Cyrus' mailbox names.
        let user = self.running.user_name(prefix).replace('.', "-");
        let password = instance::random_password();
        let cyrus = instance::account_ids("cyrus")
            .ok_or_else(|| io::Error::other("account cyrus vanished"))?;
        add_sasl_user(&self.running.instance, &user, &password, cyrus)?;
        let mut imap = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        imap.command(&format!("CREATE user.{user}"))?;
        imap.command(&format!("SETACL user.{user} {ADMIN} lrswipkxtecda"))?;
        if !messages.is_empty() {
            imap.append(&format!("user.{user}"), messages)?;
        }
        let status = imap.command(&format!("STATUS user.{user} (MESSAGES)"))?;
        if !status.contains(&format!("(MESSAGES {})", messages.len())) {
            return Err(io::Error::other(format!(
                "user.{user} should hold {} messages: {}",
                messages.len(),
                status.trim_end()
            )));
        }
        Ok(expected_mailbox(&PROFILE, user, password, messages))
    }
}

/// Adds `name` to the instance's sasldb with a plaintext secret (what SCRAM, CRAM and APOP need).
fn add_sasl_user(
    instance: &Instance,
    name: &str,
    password: &str,
    owner: (u32, u32),
) -> io::Result<()> {
    let db = instance.path("sasldb2");
    instance::run_with_input(
        Command::new(SASLPASSWD2)
            .args(["-p", "-c", "-f"])
            .arg(&db)
            .args(["-u", "localhost", name]),
        password.as_bytes(),
    )?;
    std::os::unix::fs::chown(&db, Some(owner.0), Some(owner.1))?;
    fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o640))
}

/// Just enough IMAP to make and fill a mailbox as the admin: tagged commands and one MULTIAPPEND with
/// non-synchronising literals (LITERAL+).
#[derive(Debug)]
struct Imap {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    tag: u32,
}

impl Imap {
    fn connect(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut imap = Self {
            reader: BufReader::new(stream.try_clone()?),
            stream,
            tag: 0,
        };
        let greeting = imap.line()?;
        if !greeting.starts_with("* OK") {
            return Err(io::Error::other(format!("IMAP greeting {greeting:?}")));
        }
        Ok(imap)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::other("IMAP connection closed"));
        }
        Ok(line)
    }

    /// Sends a command; returns its untagged answers.
    fn send(&mut self, bytes: &[u8]) -> io::Result<String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.stream.write_all(format!("{tag} ").as_bytes())?;
        self.stream.write_all(bytes)?;
        self.stream.write_all(b"\r\n")?;
        let mut untagged = String::new();
        loop {
            let line = self.line()?;
            let Some(status) = line.strip_prefix(&format!("{tag} ")) else {
                untagged.push_str(&line);
                continue;
            };
            if status.starts_with("OK") {
                return Ok(untagged);
            }
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            return Err(io::Error::other(format!(
                "IMAP {shown}…: {}",
                line.trim_end()
            )));
        }
    }

    fn command(&mut self, command: &str) -> io::Result<String> {
        self.send(command.as_bytes())
    }

    fn append(&mut self, mailbox: &str, messages: &[Vec<u8>]) -> io::Result<String> {
        let mut command = format!("APPEND {mailbox}").into_bytes();
        for message in messages {
            command.extend_from_slice(format!(" {{{}+}}\r\n", message.len()).as_bytes());
            command.extend_from_slice(message);
        }
        self.send(&command)
    }
}
