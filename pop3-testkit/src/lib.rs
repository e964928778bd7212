//! Integration-test support: a private, real Dovecot POP3 server on loopback.
//!
//! [`Dovecot::shared`] starts one Dovecot instance per test process (on first use) with
//! its own configuration, sockets, logs and mail under a temporary directory, listening
//! on free ports of `127.0.0.1` (and `::1` where the machine has IPv6):
//!
//! * a plain POP3 port that also offers `STLS` ([`Dovecot::pop3_port`]),
//! * an implicit-TLS POP3S port ([`Dovecot::pop3s_port`]),
//! * a certificate signed by a CA made for the test ([`Dovecot::ca_pem`]), valid for
//!   `localhost`, `127.0.0.1` and `::1`,
//! * SASL `PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 OAUTHBEARER XOAUTH2`, `USER`/`PASS`
//!   and APOP (the greeting carries an APOP timestamp).
//!
//! Each test makes its own mailbox with [`Dovecot::user`], so tests that delete
//! messages don't disturb each other.
//!
//! [`scenarios`](mod@scenarios) holds the client adapters' shared integration tests, against this server
//! and against scripted hostile servers: an adapter implements two traits and calls
//! [`all_scenarios!`] once. [`adapter`] is that adapter for every driver of `pop3-session`: a driver's test
//! file only says how one of its calls runs to its result.
//!
//! [`servers`] runs six more real servers privately (GNU Mailutils, Cyrus, Courier, popa3d, solid-pop3d and the
//! perdition proxy), each with a profile of what it offers; [`server_scenarios!`] runs the same conversations
//! against each of them.
//!
//! [`smoke`] holds what the async drivers' own smoke tests share against pop3-memserver.
//!
//! The tests **fail** (panic) when Dovecot is not installed: run
//! `scripts/install-test-deps.sh` as root (Debian/Ubuntu) first.
//!
//! # Cleanup
//!
//! Dovecot runs in the foreground (`dovecot -F`) as a child of the test process, next to a
//! tiny `sh` watchdog whose standard input is a pipe held by the test process. However the
//! test process ends (normal exit, panic, `SIGINT`, `SIGKILL`), the kernel closes that pipe;
//! the watchdog then stops Dovecot and deletes the temporary directory. Both run in their
//! own process groups so that a Ctrl-C at the terminal reaches only the test process.
//! Each start also stops Dovecot instances left behind by test processes that no longer
//! exist. Set `POP3_TESTKIT_KEEP=1` to keep the directory (config, logs, mail) for
//! inspection.
//!
//! # Privileges and environment
//!
//! As root (CI), Dovecot runs its mail processes as `nobody:nogroup`, which owns the
//! mailboxes. As another user, every Dovecot process runs as that user (no `chroot`).
//!
//! * `POP3_TESTKIT_KEEP=1`: keep the instance directory after the process ends.
//! * `POP3_TESTKIT_DOVECOT=/path/to/dovecot`: use that executable instead of the one in
//!   `PATH`, `/usr/sbin` or `/usr/local/sbin`.
//!
//! # Known behaviour of Dovecot 2.3
//!
//! * A failed authentication is answered after about 0.5 s (Dovecot's failure-flush timer;
//!   `auth_failure_delay = 0` cannot remove it in 2.3.19). The per-IP escalating penalty
//!   (up to 15 s) is disabled.
//! * A message without a final line ending is sent with CRLF appended, so RETR yields 2
//!   octets more than LIST reported for it.

pub mod adapter;
mod jwt;
mod messages;
pub mod scenarios;
pub mod servers;
pub mod smoke;
mod tls;

use std::fmt;
use std::fs;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

pub use messages::{
    SAMPLE_8BIT, SAMPLE_BIG, SAMPLE_BIG_LEN, SAMPLE_DOTS, SAMPLE_EMPTY_BODY,
    SAMPLE_NO_FINAL_NEWLINE, SAMPLE_PLAIN, sample_messages,
};

/// Issuer (`iss` claim) that the server accepts in OAuth 2.0 bearer tokens.
pub const OAUTH_ISSUER: &str = "pop3-testkit";

/// Prefix of the temporary directories this crate creates.
const DIR_PREFIX: &str = "pop3-testkit-";
/// How many times a start is tried when the chosen ports were taken meanwhile.
const START_ATTEMPTS: u32 = 5;
/// How long one start attempt may take before it is given up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

const INSTALL_HINT: &str = "run `scripts/install-test-deps.sh` as root (installs dovecot-core \
                            and dovecot-pop3d on Debian/Ubuntu) and run the tests again";

/// Stops Dovecot (`$1`) once standard input reaches EOF, then removes the directory `$2`.
const WATCHDOG_SCRIPT: &str = r#"
read -r _line || :
kill -TERM "$1" 2>/dev/null
i=0
while [ "$i" -lt 100 ]; do
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
  case "$state" in ''|Z|X) break ;; esac
  sleep 0.05
  i=$((i + 1))
done
kill -KILL "$1" 2>/dev/null
if [ -z "${POP3_TESTKIT_KEEP:-}" ]; then
  rm -rf "$2" 2>/dev/null || { sleep 0.5; rm -rf "$2" 2>/dev/null; }
fi
"#;

/// A private Dovecot POP3 server on loopback; see the [crate documentation](crate).
///
/// Get the per-process instance with [`Dovecot::shared`], or a separate one that stops
/// when dropped with [`Dovecot::start`].
pub struct Dovecot {
    host: String,
    pop3_port: u16,
    pop3s_port: u16,
    ipv6: bool,
    ca_pem: String,
    ca_der: Vec<u8>,
    ca_path: PathBuf,
    dir: PathBuf,
    log_path: PathBuf,
    startup_time: Duration,
    oauth_key: [u8; 32],
    mail_owner: Option<(u32, u32)>,
    next_user: AtomicU32,
    server: Child,
    watchdog: Child,
    watchdog_pipe: Option<ChildStdin>,
}

impl fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dovecot")
            .field("host", &self.host)
            .field("pop3_port", &self.pop3_port)
            .field("pop3s_port", &self.pop3s_port)
            .field("ipv6", &self.ipv6)
            .field("dir", &self.dir)
            .field("pid", &self.server.id())
            .finish_non_exhaustive()
    }
}

impl Dovecot {
    /// The instance shared by all tests of this process, started on first use.
    ///
    /// It stays up until the process exits (see *Cleanup* in the crate docs).
    ///
    /// # Panics
    ///
    /// If Dovecot is not installed or does not start; the message says why.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<Dovecot> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    /// Starts a separate instance, stopped (and its directory removed) when dropped.
    ///
    /// Prefer [`Dovecot::shared`]; use this for tests that need a server of their own.
    ///
    /// # Panics
    ///
    /// If Dovecot is not installed or does not start; the message says why.
    pub fn start() -> Self {
        let started = Instant::now();
        let dovecot = find_dovecot().unwrap_or_else(|| {
            panic!(
                "pop3-testkit: Dovecot is not installed (no `dovecot` executable in PATH, \
                 /usr/sbin or /usr/local/sbin, or at $POP3_TESTKIT_DOVECOT); the POP3 \
                 integration tests need a real Dovecot server: {INSTALL_HINT}"
            )
        });
        sweep_stale_instances();
        let tls = tls::generate().expect("pop3-testkit: generating test certificates failed");
        let mut oauth_key = [0u8; 32];
        random_bytes(&mut oauth_key);

        let mut last_error = String::new();
        for attempt in 0..START_ATTEMPTS {
            match try_start(&dovecot, &tls, &oauth_key) {
                Ok(mut instance) => {
                    instance.startup_time = started.elapsed();
                    return instance;
                }
                Err(StartFailure::Retry(why)) => {
                    last_error = why;
                    thread::sleep(Duration::from_millis(50 * u64::from(attempt + 1)));
                }
                Err(StartFailure::Fatal(why)) => panic!("pop3-testkit: {why}"),
            }
        }
        panic!("pop3-testkit: Dovecot did not start after {START_ATTEMPTS} attempts: {last_error}")
    }

    /// The address to connect to: always `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port of plain POP3 (offers `STLS`), on `127.0.0.1` and, if [`has_ipv6`](Self::has_ipv6),
    /// on `::1`.
    pub fn pop3_port(&self) -> u16 {
        self.pop3_port
    }

    /// Port of POP3 over implicit TLS, on `127.0.0.1` and, if [`has_ipv6`](Self::has_ipv6),
    /// on `::1`.
    pub fn pop3s_port(&self) -> u16 {
        self.pop3s_port
    }

    /// Whether the server also listens on `::1` (false only on machines without IPv6
    /// loopback).
    pub fn has_ipv6(&self) -> bool {
        self.ipv6
    }

    /// PEM of the CA that signed the server certificate; trust only this in tests.
    ///
    /// The server certificate is valid for `localhost`, `127.0.0.1` and `::1`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// DER of the same CA certificate as [`ca_pem`](Self::ca_pem).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Path of a file holding [`ca_pem`](Self::ca_pem).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Path of Dovecot's log file: print it when a test fails.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// How long this instance took to start: from the call of [`start`](Self::start) (or
    /// the first [`shared`](Self::shared)) until Dovecot answered on all its listeners.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// Creates a new user `name_prefix-N` with a random password and a mailbox that
    /// holds `messages` in this order (message 1 is `messages[0]`).
    ///
    /// The prefix is lower-cased and characters other than `a-z 0-9 . _ -` become `-`.
    /// The user can log in at once with any mechanism.
    ///
    /// # Panics
    ///
    /// If the files cannot be written.
    pub fn user(&self, name_prefix: &str, messages: &[Vec<u8>]) -> TestUser {
        let mut secret = [0u8; 9];
        random_bytes(&mut secret);
        let password = format!(
            "pw-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        self.user_with_password(name_prefix, &password, messages)
    }

    /// Like [`user`](Self::user) with a chosen password.
    ///
    /// # Panics
    ///
    /// If `password` is empty or contains `:` or control characters (which the server's
    /// password file cannot hold), or if the files cannot be written.
    pub fn user_with_password(
        &self,
        name_prefix: &str,
        password: &str,
        messages: &[Vec<u8>],
    ) -> TestUser {
        assert!(
            !password.is_empty()
                && !password.contains(':')
                && !password.chars().any(char::is_control),
            "pop3-testkit: a password must be non-empty without ':' or control characters"
        );
        let n = self.next_user.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("{}-{n}", sanitize_prefix(name_prefix));
        let home = self.dir.join("home").join(&name);
        let maildir = home.join("Maildir");
        self.create_mailbox(&home, &maildir, messages)
            .unwrap_or_else(|e| panic!("pop3-testkit: creating mailbox of {name} failed: {e}"));

        // One password file per user: a new file is read at the first lookup, whereas
        // Dovecot re-reads a changed file at most once a second.
        let passwd_dir = self.dir.join("passwd.d");
        let tmp = passwd_dir.join(format!(".{name}.tmp"));
        write_file(
            &tmp,
            format!("{name}:{{PLAIN}}{password}::::::\n").as_bytes(),
            0o644,
        )
        .and_then(|()| fs::rename(&tmp, passwd_dir.join(&name)))
        .unwrap_or_else(|e| panic!("pop3-testkit: writing password of {name} failed: {e}"));

        TestUser {
            name,
            password: password.to_owned(),
            maildir,
            oauth_key: self.oauth_key,
        }
    }

    fn create_mailbox(&self, home: &Path, maildir: &Path, messages: &[Vec<u8>]) -> io::Result<()> {
        for dir in [home.to_path_buf(), maildir.to_path_buf()]
            .into_iter()
            .chain(["cur", "new", "tmp"].map(|d| maildir.join(d)))
        {
            make_dir(&dir, 0o700)?;
            self.chown(&dir)?;
        }
        for (i, message) in messages.iter().enumerate() {
            // Dovecot numbers new mail in the order of the leading timestamp of the names.
            let file = maildir
                .join("new")
                .join(format!("{}.M{i}P1.pop3-testkit", 1_600_000_000 + i));
            write_file(&file, message, 0o600)?;
            self.chown(&file)?;
        }
        Ok(())
    }

    fn chown(&self, path: &Path) -> io::Result<()> {
        match self.mail_owner {
            Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
            None => Ok(()),
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog stop Dovecot and remove the directory.
        drop(self.watchdog_pipe.take());
        let _ = self.watchdog.wait();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A mailbox on the test server, made by [`Dovecot::user`].
#[derive(Clone)]
pub struct TestUser {
    /// Login name (lower case, unique within the server).
    pub name: String,
    /// Password, stored in plain form so that APOP, CRAM-MD5 and SCRAM work too.
    pub password: String,
    maildir: PathBuf,
    oauth_key: [u8; 32],
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("name", &self.name)
            .field("password", &self.password)
            .field("maildir", &self.maildir)
            .finish_non_exhaustive()
    }
}

impl TestUser {
    /// A valid OAuth 2.0 bearer token (HS256 JWT, `kid` `default`, `iss` [`OAUTH_ISSUER`],
    /// `sub` the user name) that expires in one hour; for `AUTH OAUTHBEARER` and `XOAUTH2`.
    pub fn oauth_token(&self) -> String {
        let now = unix_now();
        jwt::hs256(&self.oauth_key, &self.name, OAUTH_ISSUER, now, now + 3600)
    }

    /// A correctly signed token for this user that expired an hour ago; the server rejects
    /// it with the RFC 7628 JSON error challenge.
    pub fn expired_oauth_token(&self) -> String {
        let now = unix_now();
        jwt::hs256(
            &self.oauth_key,
            &self.name,
            OAUTH_ISSUER,
            now - 7200,
            now - 3600,
        )
    }

    /// The user's Maildir (with `cur`, `new` and `tmp`), to check on disk what the server did.
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }
}

enum StartFailure {
    /// Worth another attempt on other ports.
    Retry(String),
    Fatal(String),
}

/// Files and processes of one start attempt; removes them when dropped unless disarmed.
struct Attempt {
    dir: PathBuf,
    server: Option<Child>,
    watchdog: Option<Child>,
    keep_dir: bool,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        if !self.keep_dir && std::env::var_os("POP3_TESTKIT_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn try_start(
    dovecot: &Path,
    tls: &tls::TlsMaterial,
    oauth_key: &[u8; 32],
) -> Result<Dovecot, StartFailure> {
    let io_fatal = |what: &str, e: io::Error| StartFailure::Fatal(format!("{what}: {e}"));
    let dir = create_instance_dir().map_err(|e| io_fatal("creating the temporary directory", e))?;
    let mut attempt = Attempt {
        dir: dir.clone(),
        server: None,
        watchdog: None,
        keep_dir: false,
    };
    let mail_owner = mail_owner(&dir);
    let ipv6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
    let (pop3_port, pop3s_port) =
        free_port_pair(ipv6).map_err(|e| io_fatal("finding free ports", e))?;

    let layout = Layout::new(&dir);
    write_instance_files(
        &layout,
        tls,
        oauth_key,
        mail_owner.as_ref(),
        ipv6,
        pop3_port,
        pop3s_port,
    )
    .map_err(|e| io_fatal("writing Dovecot's files", e))?;

    let stderr =
        fs::File::create(&layout.stderr).map_err(|e| io_fatal("creating stderr file", e))?;
    let server = Command::new(dovecot)
        .arg("-F")
        .arg("-c")
        .arg(&layout.config)
        .stdin(Stdio::null())
        .stdout(
            stderr
                .try_clone()
                .map_err(|e| io_fatal("duplicating a file handle", e))?,
        )
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| io_fatal(&format!("running {}", dovecot.display()), e))?;
    let server_pid = server.id();
    attempt.server = Some(server);
    let mut watchdog = Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("pop3-testkit-watchdog")
        .arg(server_pid.to_string())
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| io_fatal("running the /bin/sh watchdog", e))?;
    let watchdog_pipe = watchdog.stdin.take();
    attempt.watchdog = Some(watchdog);

    let server = attempt.server.as_mut().expect("server was just stored");
    if let Err(failure) = wait_ready(server, pop3_port, pop3s_port, ipv6) {
        let log = layout.diagnostics();
        return Err(match failure {
            Ready::Exited(status) if log.contains("Address already in use") => {
                StartFailure::Retry(format!("ports were taken ({status}):\n{log}"))
            }
            Ready::Exited(status) => {
                // Keep the files for inspection; the next start sweeps them away.
                attempt.keep_dir = true;
                StartFailure::Fatal(format!(
                    "Dovecot exited during start-up ({status}). If it is not fully installed, \
                     {INSTALL_HINT}.\nConfig: {}\n{log}",
                    layout.config.display()
                ))
            }
            Ready::TimedOut(why) => {
                StartFailure::Retry(format!("Dovecot did not answer in time ({why}):\n{log}"))
            }
        });
    }

    // Success: the processes and the directory now belong to the `Dovecot` value.
    let server = attempt.server.take().expect("server was stored");
    let watchdog = attempt.watchdog.take().expect("watchdog was stored");
    attempt.keep_dir = true;
    Ok(Dovecot {
        host: Ipv4Addr::LOCALHOST.to_string(),
        pop3_port,
        pop3s_port,
        ipv6,
        ca_pem: tls.ca_pem.clone(),
        ca_der: tls.ca_der.clone(),
        ca_path: layout.ca,
        dir: attempt.dir.clone(),
        log_path: layout.log,
        startup_time: Duration::ZERO,
        oauth_key: *oauth_key,
        mail_owner,
        next_user: AtomicU32::new(0),
        server,
        watchdog,
        watchdog_pipe,
    })
}

/// Paths inside an instance directory.
struct Layout {
    config: PathBuf,
    log: PathBuf,
    stderr: PathBuf,
    ca: PathBuf,
    root: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Self {
        Self {
            config: dir.join("dovecot.conf"),
            log: dir.join("dovecot.log"),
            stderr: dir.join("dovecot.stderr"),
            ca: dir.join("tls").join("ca.pem"),
            root: dir.to_path_buf(),
        }
    }

    /// Dovecot's stderr and log, for error messages.
    fn diagnostics(&self) -> String {
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- {} ---\n{}--- {} ---\n{}",
            self.stderr.display(),
            read(&self.stderr),
            self.log.display(),
            read(&self.log)
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn write_instance_files(
    layout: &Layout,
    tls: &tls::TlsMaterial,
    oauth_key: &[u8; 32],
    mail_owner: Option<&(u32, u32)>,
    ipv6: bool,
    pop3_port: u16,
    pop3s_port: u16,
) -> io::Result<()> {
    let dir = &layout.root;
    for sub in [
        "run",
        "state",
        "tls",
        "home",
        "passwd.d",
        "oauth2-keys/default/HS256",
    ] {
        let path = dir.join(sub);
        fs::create_dir_all(&path)?;
    }
    // Dovecot's unprivileged processes (auth runs as `dovecot`, mail as the mail owner)
    // must reach their files whatever the umask.
    for sub in [
        "",
        "tls",
        "home",
        "passwd.d",
        "oauth2-keys",
        "oauth2-keys/default",
        "oauth2-keys/default/HS256",
    ] {
        fs::set_permissions(dir.join(sub), fs::Permissions::from_mode(0o755))?;
    }
    write_file(
        &dir.join("owner.pid"),
        std::process::id().to_string().as_bytes(),
        0o644,
    )?;
    write_file(&layout.ca, tls.ca_pem.as_bytes(), 0o644)?;
    write_file(
        &dir.join("tls/server.pem"),
        tls.server_cert_pem.as_bytes(),
        0o644,
    )?;
    write_file(
        &dir.join("tls/server.key"),
        tls.server_key_pem.as_bytes(),
        0o600,
    )?;
    let key = base64::engine::general_purpose::STANDARD.encode(oauth_key);
    write_file(
        &dir.join("oauth2-keys/default/HS256/default"),
        key.as_bytes(),
        0o644,
    )?;
    write_file(
        &dir.join("oauth2.conf"),
        format!(
            "introspection_mode = local\n\
             local_validation_key_dict = fs:posix:prefix={d}/oauth2-keys/\n\
             username_attribute = sub\n\
             issuers = {OAUTH_ISSUER}\n",
            d = dir.display()
        )
        .as_bytes(),
        0o644,
    )?;
    let config = dovecot_config(dir, mail_owner, ipv6, pop3_port, pop3s_port);
    write_file(&layout.config, config.as_bytes(), 0o644)?;
    if std::env::var_os("POP3_TESTKIT_KEEP").is_some() {
        write_file(&dir.join("keep"), b"", 0o644)?;
    }
    Ok(())
}

fn dovecot_config(
    dir: &Path,
    mail_owner: Option<&(u32, u32)>,
    ipv6: bool,
    pop3_port: u16,
    pop3s_port: u16,
) -> String {
    let d = dir.display();
    let listen = if ipv6 { "127.0.0.1, ::1" } else { "127.0.0.1" };
    let dh = Path::new("/usr/share/dovecot/dh.pem");
    let ssl_dh = if dh.exists() {
        format!("ssl_dh = <{}\n", dh.display())
    } else {
        String::new()
    };
    // `chroot` needs root: as another user, services must not chroot.
    let (uid, gid, unprivileged, no_chroot) = match mail_owner {
        Some(&(uid, gid)) => (uid, gid, String::new(), ""),
        None => {
            // Not root: every Dovecot process runs as the current user.
            let (uid, gid) = owner_of(dir).unwrap_or((0, 0));
            let user = user_name(uid).unwrap_or_else(|| uid.to_string());
            let group = group_name(gid).unwrap_or_else(|| gid.to_string());
            (
                uid,
                gid,
                format!(
                    "default_internal_user = {user}\n\
                     default_internal_group = {group}\n\
                     default_login_user = {user}\n\
                     service auth-worker {{\n  user = $default_internal_user\n}}\n\
                     service ipc {{\n  chroot =\n}}\n\
                     service old-stats {{\n  chroot =\n}}\n\
                     service aggregator {{\n  chroot =\n}}\n"
                ),
                "  chroot =\n",
            )
        }
    };
    format!(
        "# Written by pop3-testkit: a private test instance, not the system Dovecot.\n\
         instance_name = pop3-testkit-{pid}\n\
         base_dir = {d}/run\n\
         state_dir = {d}/state\n\
         log_path = {d}/dovecot.log\n\
         protocols = pop3\n\
         listen = {listen}\n\
         ssl = yes\n\
         ssl_cert = <{d}/tls/server.pem\n\
         ssl_key = <{d}/tls/server.key\n\
         {ssl_dh}\
         ssl_min_protocol = TLSv1.2\n\
         disable_plaintext_auth = no\n\
         auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 apop oauthbearer xoauth2\n\
         auth_failure_delay = 0 secs\n\
         auth_verbose = yes\n\
         pop3_uidl_format = %08Xu%08Xv\n\
         mail_location = maildir:~/Maildir\n\
         mail_fsync = never\n\
         first_valid_uid = 1\n\
         {unprivileged}\
         protocol pop3 {{\n  mail_max_userip_connections = 100\n}}\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%Lu {d}/passwd.d/%Lu\n}}\n\
         passdb {{\n  driver = oauth2\n  mechanisms = oauthbearer xoauth2\n  args = {d}/oauth2.conf\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = username_format=%Lu {d}/passwd.d/%Lu\n  \
         default_fields = uid={uid} gid={gid} home={d}/home/%Lu\n}}\n\
         # No per-IP escalating delay after failed logins (tests fail logins on purpose).\n\
         service anvil {{\n{no_chroot}  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n\
         # One login process serves every connection: a new process (and TLS context) per connection made\n\
         # handshakes miss the tests' 2 s limits when many tests connect at once, and one TLS context lets a\n\
         # client resume its TLS sessions, as it can with a production server.\n\
         service pop3-login {{\n{no_chroot}  service_count = 0\n  process_min_avail = 1\n  process_limit = 1\n  inet_listener pop3 {{\n    port = {pop3_port}\n  }}\n  \
         inet_listener pop3s {{\n    port = {pop3s_port}\n    ssl = yes\n  }}\n}}\n",
        pid = std::process::id(),
    )
}

enum Ready {
    Exited(ExitStatus),
    TimedOut(String),
}

/// Waits until Dovecot greets on the plain port and accepts TCP on every listener.
fn wait_ready(
    server: &mut Child,
    pop3_port: u16,
    pop3s_port: u16,
    ipv6: bool,
) -> Result<(), Ready> {
    let deadline = Instant::now() + START_TIMEOUT;
    let v4 = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = |port| SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let mut pending = vec![v4(pop3_port), v4(pop3s_port)];
    if ipv6 {
        pending.extend([v6(pop3_port), v6(pop3s_port)]);
    }
    let mut last_error = String::from("no connection attempt yet");
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(Ready::Exited(status));
        }
        if Instant::now() > deadline {
            return Err(Ready::TimedOut(last_error));
        }
        let addr = pending[0];
        match probe(addr, addr.port() == pop3_port) {
            Ok(()) => {
                pending.remove(0);
                if pending.is_empty() {
                    return Ok(());
                }
            }
            Err(e) => {
                last_error = format!("{addr}: {e}");
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn probe(addr: SocketAddr, expect_greeting: bool) -> io::Result<()> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    if !expect_greeting {
        return Ok(());
    }
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let _ = (&stream).write_all(b"QUIT\r\n");
    if line.starts_with("+OK") {
        Ok(())
    } else {
        Err(io::Error::other(format!("unexpected greeting {line:?}")))
    }
}

/// Two distinct ports free on 127.0.0.1 (and on ::1 when `ipv6`).
fn free_port_pair(ipv6: bool) -> io::Result<(u16, u16)> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..50 {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = v4.local_addr()?.port();
        if ipv6 {
            match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
                Ok(v6) => held.push(v6),
                Err(_) => continue,
            }
        }
        held.push(v4);
        ports.push(port);
        if ports.len() == 2 {
            return Ok((ports[0], ports[1]));
        }
    }
    Err(io::Error::other("no free port pair found"))
}

/// The `dovecot` executable: `$POP3_TESTKIT_DOVECOT` if set, else from `PATH` or the
/// usual sbin directories.
fn find_dovecot() -> Option<PathBuf> {
    let executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(chosen) = std::env::var_os("POP3_TESTKIT_DOVECOT") {
        let chosen = PathBuf::from(chosen);
        return executable(&chosen).then_some(chosen);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("dovecot"))
        .find(|candidate| executable(candidate))
}

/// Where instance directories go: the temp dir if its path is short and plain enough
/// for Dovecot's config syntax and unix socket paths, else `/tmp`.
fn temp_root() -> PathBuf {
    let tmp = std::env::temp_dir();
    let plain = tmp.to_str().is_some_and(|s| {
        s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    });
    if plain { tmp } else { PathBuf::from("/tmp") }
}

fn create_instance_dir() -> io::Result<PathBuf> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let root = temp_root();
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut r = [0u8; 3];
        random_bytes(&mut r);
        let name = format!(
            "{DIR_PREFIX}{}-{seq}-{:02x}{:02x}{:02x}",
            std::process::id(),
            r[0],
            r[1],
            r[2]
        );
        let dir = root.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Stops Dovecot instances (and the other servers' instances) whose test process is gone (for the rare case
/// where the watchdog could not do it) and removes their directories.
fn sweep_stale_instances() {
    let Ok(entries) = fs::read_dir(temp_root()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        let Some(owner) = is_ours.then(|| read_pid(&dir.join("owner.pid"))).flatten() else {
            continue;
        };
        if process_alive(owner) {
            continue;
        }
        if let Some(master) = read_pid(&dir.join("run/master.pid")) {
            if process_alive(master) {
                if process_comm(master).as_deref() == Some("dovecot") {
                    let _ = Command::new("kill")
                        .arg(master.to_string())
                        .stderr(Stdio::null())
                        .status();
                }
                // Don't wait for it: its directory goes at a later start.
                continue;
            }
        }
        if !dir.join("keep").exists() {
            // The other servers' instances say how to stop what they started (their watchdog normally does).
            if dir.join("stop.sh").exists() {
                let _ = Command::new("/bin/sh")
                    .arg(dir.join("stop.sh"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` exists and is not a zombie (Linux `/proc`).
fn process_alive(pid: u32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .is_some_and(|s| !matches!(s.trim_start().chars().next(), Some('Z' | 'X')))
}

fn process_comm(pid: u32) -> Option<String> {
    Some(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim()
            .to_owned(),
    )
}

/// uid/gid to own mailboxes when running as root (`nobody`/`nogroup`), else `None`
/// (Dovecot then runs everything as the current user).
fn mail_owner(dir: &Path) -> Option<(u32, u32)> {
    let (uid, _) = owner_of(dir)?;
    if uid != 0 {
        return None;
    }
    let nobody = lookup_id("/etc/passwd", "nobody", 2).unwrap_or(65534);
    let nogroup = lookup_id("/etc/group", "nogroup", 2)
        .or_else(|| lookup_id("/etc/group", "nobody", 2))
        .unwrap_or(65534);
    Some((nobody, nogroup))
}

fn owner_of(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = fs::metadata(path).ok()?;
    Some((m.uid(), m.gid()))
}

/// Field `field` (0-based) of the line for `name` in a passwd/group style file.
fn lookup_id(file: &str, name: &str, field: usize) -> Option<u32> {
    fs::read_to_string(file).ok()?.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name))
            .then(|| fields.get(field)?.parse().ok())
            .flatten()
    })
}

/// Name for the numeric id `id` (field 2) in a passwd/group style file.
fn lookup_name(file: &str, id: u32) -> Option<String> {
    fs::read_to_string(file).ok()?.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2)?.parse::<u32>().ok()? == id).then(|| fields[0].to_owned())
    })
}

fn user_name(uid: u32) -> Option<String> {
    lookup_name("/etc/passwd", uid)
}

fn group_name(gid: u32) -> Option<String> {
    lookup_name("/etc/group", gid)
}

fn sanitize_prefix(prefix: &str) -> String {
    let cleaned: String = prefix
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "user".to_owned()
    } else {
        cleaned
    }
}

fn make_dir(path: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    fs::write(path, contents)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn random_bytes(buf: &mut [u8]) {
    use std::io::Read as _;
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("pop3-testkit: reading /dev/urandom failed");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_sanitized() {
        assert_eq!(sanitize_prefix("Dele Test/1"), "dele-test-1");
        assert_eq!(sanitize_prefix(""), "user");
        assert_eq!(sanitize_prefix("a.b_c-d"), "a.b_c-d");
    }

    #[test]
    fn config_mentions_ports_and_mechanisms() {
        let c = dovecot_config(Path::new("/tmp/x"), Some(&(65534, 65534)), true, 1110, 1995);
        assert!(c.contains("port = 1110"));
        assert!(c.contains("port = 1995"));
        assert!(c.contains("listen = 127.0.0.1, ::1"));
        assert!(c.contains("scram-sha-256 apop oauthbearer xoauth2"));
        assert!(!c.contains("default_internal_user"));
    }
}
