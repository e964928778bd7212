//! What every private server instance shares: a state directory, free loopback ports, processes started in
//! their own process group, TLS material from the test CA, waiting for the greeting, and a watchdog that
//! stops everything (and removes system accounts made for the test) however the test process ends.

use std::fs;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::corpus;
use crate::tls;

/// The hint every "server missing" panic carries.
pub(crate) const INSTALL_HINT: &str =
    "run `sh scripts/install-test-deps.sh` as root (Debian 12) and run the tests again";

/// Where the install script unpacks the servers that conflict with Dovecot.
pub(crate) fn servers_root() -> PathBuf {
    std::env::var_os("POP3_TESTKIT_SERVERS_ROOT")
        .map_or_else(|| PathBuf::from("/opt/pop3-testkit"), PathBuf::from)
}

/// `path` if it is an executable file, else a panic that says to run the install script.
pub(crate) fn require_executable(server: &str, path: &Path) -> PathBuf {
    let executable =
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    assert!(
        executable,
        "pop3-testkit: {server} is not installed ({} is missing); {INSTALL_HINT}",
        path.display()
    );
    path.to_path_buf()
}

/// How long a server may take to greet after its start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `sh stop.sh` (then removes the directory) once its standard input reaches EOF: when the instance is
/// dropped or the test process ends in any way.
const WATCHDOG_SCRIPT: &str = r#"
read -r _line || :
sh "$1/stop.sh" >/dev/null 2>&1
if [ -z "${POP3_TESTKIT_KEEP:-}" ]; then
  rm -rf "$1" 2>/dev/null || { sleep 0.5; rm -rf "$1" 2>/dev/null; }
fi
"#;

/// One private server instance: its directory, its processes, and what stops them.
pub(crate) struct Instance {
    dir: PathBuf,
    children: Mutex<Vec<Child>>,
    watchdog: Child,
    watchdog_pipe: Mutex<Option<ChildStdin>>,
    tls: tls::TlsMaterial,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// A fresh state directory `pop3-testkit-NAME-…` (mode 0755) with the test CA's files under `tls/`.
    pub(crate) fn new(name: &str) -> io::Result<Self> {
        crate::sweep_stale_instances();
        let dir = crate::create_instance_dir()?;
        let dir = {
            // The Dovecot sweeper recognises this prefix; keep the server's name visible too.
            let named = dir.with_file_name(format!(
                "{}-{name}",
                dir.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("instance")
            ));
            fs::rename(&dir, &named)?;
            named
        };
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        crate::write_file(
            &dir.join("owner.pid"),
            std::process::id().to_string().as_bytes(),
            0o644,
        )?;
        crate::write_file(&dir.join("stop.sh"), b"", 0o644)?;
        let tls = tls::generate().map_err(io::Error::other)?;
        let tls_dir = dir.join("tls");
        fs::create_dir(&tls_dir)?;
        fs::set_permissions(&tls_dir, fs::Permissions::from_mode(0o755))?;
        crate::write_file(&tls_dir.join("ca.pem"), tls.ca_pem.as_bytes(), 0o644)?;
        crate::write_file(
            &tls_dir.join("cert.pem"),
            tls.server_cert_pem.as_bytes(),
            0o644,
        )?;
        // Owner-only: Mailutils refuses a key that others can read.
        crate::write_file(
            &tls_dir.join("key.pem"),
            tls.server_key_pem.as_bytes(),
            0o600,
        )?;
        let chain = format!("{}{}", tls.server_cert_pem, tls.ca_pem);
        crate::write_file(&tls_dir.join("chain.pem"), chain.as_bytes(), 0o644)?;
        let all = format!(
            "{}{}{}",
            tls.server_key_pem, tls.server_cert_pem, tls.ca_pem
        );
        crate::write_file(&tls_dir.join("key-cert-ca.pem"), all.as_bytes(), 0o600)?;

        let mut watchdog = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("pop3-testkit-watchdog")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = watchdog.stdin.take();
        Ok(Self {
            dir,
            children: Mutex::new(Vec::new()),
            watchdog,
            watchdog_pipe: Mutex::new(pipe),
            tls,
        })
    }

    /// The state directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path inside the state directory.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// PEM of the test CA.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.tls.ca_pem
    }

    /// Adds a shell command to what the watchdog runs at the end (in the order added).
    pub(crate) fn on_stop(&self, command: &str) {
        let append = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(self.dir.join("stop.sh"))?;
            writeln!(f, "{command}")
        };
        append().unwrap_or_else(|e| {
            panic!("pop3-testkit: writing {}/stop.sh: {e}", self.dir.display())
        });
    }

    /// A file for a daemon's PID, named `NAME.pid`: the daemon it names is stopped at the end. For servers that
    /// leave the process group they were started in.
    pub(crate) fn pid_file(&self, name: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.pid"));
        self.on_stop(&format!("kill -TERM $(cat {}) 2>/dev/null", path.display()));
        path
    }

    /// Spawns `command` in a process group of its own with output to `LOG.log`; the group is stopped at the
    /// end, and the process is killed when the instance is dropped.
    pub(crate) fn spawn(&self, log: &str, command: &mut Command) -> io::Result<u32> {
        let out = fs::File::create(self.dir.join(format!("{log}.log")))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        self.on_stop(&format!("kill -TERM -{pid} 2>/dev/null"));
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(child);
        Ok(pid)
    }

    /// Serves `command` inetd-style on `127.0.0.1:port` under socat: every connection gets a fresh process
    /// whose standard input and output are the TCP socket.
    pub(crate) fn socat(&self, log: &str, port: u16, command: &str) -> io::Result<u32> {
        let socat = require_executable("socat", Path::new("/usr/bin/socat"));
        self.spawn(
            log,
            Command::new(socat)
                .arg(format!("TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
                .arg(format!("EXEC:{command},nofork")),
        )
    }

    /// Reads the contents of a log file made by [`spawn`](Self::spawn) (for failure messages).
    pub(crate) fn log(&self, log: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{log}.log"))).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(
            self.watchdog_pipe
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        let _ = self.watchdog.wait();
        for child in self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter_mut()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `N` distinct ports free on 127.0.0.1 right now (the caller binds them soon after).
pub(crate) fn free_ports<const N: usize>() -> io::Result<[u16; N]> {
    // All held at once, so that the kernel cannot hand out the same port twice.
    let held = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&held) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// Waits until `127.0.0.1:port` greets with `+OK`, then says QUIT. With `tls`, only waits for the TCP accept
/// (the greeting comes after a handshake).
pub(crate) fn wait_ready(port: u16, tls: bool, why_not: impl Fn() -> String) -> io::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        match crate::probe(addr, !tls) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(io::Error::other(format!(
                    "port {port} never greeted: {e}\n{}",
                    why_not()
                )));
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Runs a command to completion; its failure (with stderr) becomes an error.
pub(crate) fn run(command: &mut Command) -> io::Result<Vec<u8>> {
    let output = command.stdin(Stdio::null()).output()?;
    standard_output(command, output)
}

/// Runs a command with `input` on its standard input.
pub(crate) fn run_with_input(command: &mut Command, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("piped").write_all(input)?;
    let output = child.wait_with_output()?;
    standard_output(command, output)
}

/// What `command` printed, if it succeeded; else an error with what it said on standard error.
fn standard_output(command: &Command, output: Output) -> io::Result<Vec<u8>> {
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// A random password of letters and digits (system tools take it without quoting).
pub(crate) fn random_password() -> String {
    let mut bytes = [0u8; 12];
    crate::random_bytes(&mut bytes);
    let alphabet = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

/// uid and gid of a passwd/group entry, via `getent`.
pub(crate) fn account_ids(name: &str) -> Option<(u32, u32)> {
    let out = run(Command::new("getent").args(["passwd", name])).ok()?;
    let line = String::from_utf8(out).ok()?;
    let fields: Vec<&str> = line.trim().split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// gid of a group, via `getent`.
pub(crate) fn group_id(name: &str) -> Option<u32> {
    let out = run(Command::new("getent").args(["group", name])).ok()?;
    String::from_utf8(out)
        .ok()?
        .trim()
        .split(':')
        .nth(2)?
        .parse()
        .ok()
}

/// Writes `contents` to `path` with `mode`, owned by `owner` (uid, gid).
pub(crate) fn write_owned(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> io::Result<()> {
    crate::write_file(path, contents, mode)?;
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1))
}

/// Creates the directory `path` with `mode`, owned by `owner` (uid, gid).
pub(crate) fn make_dir_owned(path: &Path, mode: u32, owner: (u32, u32)) -> io::Result<()> {
    fs::create_dir_all(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1))
}

/// Makes a Maildir at `dir` owned by `owner` holding `messages` (stored with LF endings) in `new/`, named so that
/// the servers, which order by the leading number, serve them in the given order.
pub(crate) fn write_maildir(dir: &Path, messages: &[Vec<u8>], owner: (u32, u32)) -> io::Result<()> {
    for sub in ["", "new", "cur", "tmp"] {
        make_dir_owned(&dir.join(sub), 0o700, owner)?;
    }
    for (i, message) in messages.iter().enumerate() {
        let name = format!("{}.M{i}P1.pop3-testkit", 1_600_000_000 + i);
        write_owned(
            &dir.join("new").join(name),
            &corpus::to_lf(message),
            0o600,
            owner,
        )?;
    }
    Ok(())
}

/// A system account for servers that authenticate through PAM (popa3d, solid-pop3d): made with `useradd`,
/// given `password` with `chpasswd`, and deleted by the instance's watchdog at the end.
pub(crate) fn system_account(
    instance: &Instance,
    name: &str,
    password: &str,
    home: &Path,
) -> io::Result<(u32, u32)> {
    run(Command::new("useradd")
        .args([
            "--system",
            "-M",
            "-g",
            "mail",
            "-s",
            "/usr/sbin/nologin",
            "-d",
        ])
        .arg(home)
        .arg(name))?;
    instance.on_stop(&format!("userdel {name} 2>/dev/null"));
    run_with_input(
        &mut Command::new("chpasswd"),
        format!("{name}:{password}\n").as_bytes(),
    )?;
    account_ids(name)
        .ok_or_else(|| io::Error::other(format!("account {name} not found after useradd")))
}

/// A name for a system account unique on this machine: `prefix` + process id + sequence (at most 32 chars).
pub(crate) fn unique_account_name(prefix: &str, seq: u32) -> String {
    format!("{prefix}{}x{seq}", std::process::id())
}

/// A minimal POP3 conversation in clear for fixture set-up (never for what a test checks): sends each command,
/// reads its status line and, for `+OK` answers to `multiline` commands, the body up to the lone dot.
pub(crate) fn pop3_setup_session(port: u16, commands: &[(&str, bool)]) -> io::Result<()> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    for &(command, multiline) in commands {
        (&stream).write_all(format!("{command}\r\n").as_bytes())?;
        line.clear();
        reader.read_line(&mut line)?;
        if !line.starts_with("+OK") {
            let shown = command.split(' ').next().unwrap_or(command);
            return Err(io::Error::other(format!(
                "{shown} during set-up: {}",
                line.trim_end()
            )));
        }
        if multiline {
            loop {
                let mut body = Vec::new();
                if reader.read_until(b'\n', &mut body)? == 0 {
                    return Err(io::Error::other("EOF in a multi-line answer"));
                }
                if body == b".\r\n" {
                    break;
                }
            }
        }
    }
    Ok(())
}
