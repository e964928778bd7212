//! Proves the fixture: a real Dovecot answers on loopback, users and mail are set up,
//! every advertised login path works, TLS verifies against the test CA, and cleanup
//! leaves nothing behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use pop3_testkit::{
    Dovecot, SAMPLE_8BIT, SAMPLE_BIG, SAMPLE_DOTS, SAMPLE_EMPTY_BODY, SAMPLE_NO_FINAL_NEWLINE,
    SAMPLE_PLAIN, TestUser, sample_messages,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

/// A line-oriented POP3 session over any stream, for these tests only.
struct Session<S: Read + Write> {
    io: BufReader<S>,
}

impl<S: Read + Write> Session<S> {
    fn new(stream: S) -> Self {
        Self {
            io: BufReader::new(stream),
        }
    }

    fn line(&mut self) -> String {
        let mut buf = Vec::new();
        self.io
            .read_until(b'\n', &mut buf)
            .expect("read from server");
        assert!(buf.ends_with(b"\r\n"), "line without CRLF: {buf:?}");
        buf.truncate(buf.len() - 2);
        String::from_utf8(buf).expect("status line is UTF-8")
    }

    fn send(&mut self, command: &str) {
        let stream = self.io.get_mut();
        stream.write_all(command.as_bytes()).unwrap();
        stream.write_all(b"\r\n").unwrap();
        stream.flush().unwrap();
    }

    fn cmd(&mut self, command: &str) -> String {
        self.send(command);
        self.line()
    }

    fn ok(&mut self, command: &str) -> String {
        let reply = self.cmd(command);
        assert!(reply.starts_with("+OK"), "{command} -> {reply}\n{}", log());
        reply
    }

    /// Reads a dot-terminated body and undoes dot-stuffing; returns the raw bytes.
    fn multiline(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            self.io
                .read_until(b'\n', &mut buf)
                .expect("read from server");
            assert!(!buf.is_empty(), "EOF inside a multi-line response");
            if buf == b".\r\n" {
                return out;
            }
            let line = if buf.starts_with(b".") {
                &buf[1..]
            } else {
                &buf[..]
            };
            out.extend_from_slice(line);
        }
    }
}

fn log() -> String {
    let path = Dovecot::shared().log_path();
    format!(
        "--- Dovecot log {} ---\n{}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default()
    )
}

fn connect() -> Session<TcpStream> {
    let d = Dovecot::shared();
    let tcp = TcpStream::connect((d.host(), d.pop3_port())).expect("connect to plain port");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Session::new(tcp)
}

fn login(user: &TestUser) -> Session<TcpStream> {
    let mut s = connect();
    assert!(s.line().starts_with("+OK"));
    s.ok(&format!("USER {}", user.name));
    s.ok(&format!("PASS {}", user.password));
    s
}

fn tls_config(ca: Option<&[u8]>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        roots.add(CertificateDer::from(ca.to_vec())).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls_session(
    tcp: TcpStream,
    name: &str,
    ca: Option<&[u8]>,
) -> Session<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(tls_config(ca), server_name).unwrap();
    Session::new(rustls::StreamOwned::new(conn, tcp))
}

#[test]
fn greeting_has_apop_timestamp() {
    let mut s = connect();
    let greeting = s.line();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let start = greeting.find('<').expect("APOP timestamp");
    let stamp = &greeting[start..];
    assert!(stamp.ends_with('>') && stamp.contains('@'), "{greeting}");
    s.ok("QUIT");
}

#[test]
fn capa_lists_sasl_mechanisms_and_stls() {
    let mut s = connect();
    s.line();
    s.ok("CAPA");
    let capa = String::from_utf8(s.multiline()).unwrap();
    let lines: Vec<&str> = capa.lines().collect();
    for needed in ["TOP", "UIDL", "USER", "STLS", "PIPELINING", "RESP-CODES"] {
        assert!(lines.contains(&needed), "{needed} missing from {capa}");
    }
    let sasl = lines
        .iter()
        .find(|l| l.starts_with("SASL "))
        .unwrap_or_else(|| panic!("no SASL line in {capa}"));
    for mech in [
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "OAUTHBEARER",
        "XOAUTH2",
    ] {
        assert!(sasl.split(' ').any(|m| m == mech), "{mech} missing: {sasl}");
    }
}

#[test]
fn user_pass_stat_list_and_retr_match_the_messages() {
    let messages = sample_messages();
    let user = Dovecot::shared().user("stat", &messages);
    let mut s = login(&user);

    let total: usize = messages.iter().map(Vec::len).sum();
    assert_eq!(s.ok("STAT"), format!("+OK {} {total}", messages.len()));

    s.ok("LIST");
    let list = String::from_utf8(s.multiline()).unwrap();
    let sizes: Vec<String> = list.lines().map(str::to_owned).collect();
    let expected: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}", i + 1, m.len()))
        .collect();
    assert_eq!(sizes, expected, "messages are numbered in the given order");

    for i in [
        SAMPLE_PLAIN,
        SAMPLE_DOTS,
        SAMPLE_8BIT,
        SAMPLE_EMPTY_BODY,
        SAMPLE_BIG,
    ] {
        s.ok(&format!("RETR {}", i + 1));
        assert!(s.multiline() == messages[i], "RETR {} differs", i + 1);
    }
    s.ok(&format!("RETR {}", SAMPLE_NO_FINAL_NEWLINE + 1));
    let mut with_crlf = messages[SAMPLE_NO_FINAL_NEWLINE].clone();
    with_crlf.extend_from_slice(b"\r\n");
    assert_eq!(s.multiline(), with_crlf, "Dovecot appends CRLF");

    s.ok("UIDL");
    let uidl = String::from_utf8(s.multiline()).unwrap();
    for (i, line) in uidl.lines().enumerate() {
        let (n, uid) = line.split_once(' ').unwrap();
        assert_eq!(n, (i + 1).to_string());
        assert_eq!(uid.len(), 16, "%08Xu%08Xv: {uid}");
    }
    s.ok("QUIT");
}

#[test]
fn fresh_users_log_in_immediately() {
    let d = Dovecot::shared();
    for _ in 0..10 {
        let user = d.user("fresh", &[]);
        let mut s = login(&user);
        assert_eq!(s.ok("STAT"), "+OK 0 0");
    }
    let custom = d.user_with_password("Custom Name", "with space & symbols!", &[]);
    assert!(custom.name.starts_with("custom-name-"), "{}", custom.name);
    login(&custom).ok("QUIT");
}

#[test]
fn wrong_password_is_refused() {
    let user = Dovecot::shared().user("wrong", &[]);
    let mut s = connect();
    s.line();
    s.ok(&format!("USER {}", user.name));
    let started = Instant::now();
    let reply = s.cmd("PASS not-the-password");
    assert!(reply.starts_with("-ERR"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn dele_in_one_mailbox_leaves_others_alone() {
    let d = Dovecot::shared();
    let messages = sample_messages()[..2].to_vec();
    let a = d.user("dele", &messages);
    let b = d.user("dele", &messages);
    assert_ne!(a.name, b.name);

    let mut s = login(&a);
    s.ok("DELE 1");
    s.ok("QUIT");
    assert!(login(&a).ok("STAT").starts_with("+OK 1 "));
    assert!(login(&b).ok("STAT").starts_with("+OK 2 "));
}

#[test]
fn apop_login() {
    let user = Dovecot::shared().user("apop", &sample_messages()[..1]);
    let mut s = connect();
    let greeting = s.line();
    let stamp = &greeting[greeting.find('<').unwrap()..];
    let digest = Md5::digest(format!("{stamp}{}", user.password).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    s.ok(&format!("APOP {} {hex}", user.name));
    assert!(s.ok("STAT").starts_with("+OK 1 "));
}

#[test]
fn sasl_plain_login() {
    let user = Dovecot::shared().user("plain", &[]);
    let mut s = connect();
    s.line();
    let ir = B64.encode(format!("\0{}\0{}", user.name, user.password));
    s.ok(&format!("AUTH PLAIN {ir}"));
}

#[test]
fn oauthbearer_and_xoauth2() {
    let user = Dovecot::shared().user("oauth", &sample_messages()[..1]);
    let oauthbearer =
        |token: &str| B64.encode(format!("n,a={},\x01auth=Bearer {token}\x01\x01", user.name));
    let xoauth2 =
        |token: &str| B64.encode(format!("user={}\x01auth=Bearer {token}\x01\x01", user.name));

    let mut s = connect();
    s.line();
    s.ok(&format!(
        "AUTH OAUTHBEARER {}",
        oauthbearer(&user.oauth_token())
    ));
    assert!(s.ok("STAT").starts_with("+OK 1 "));

    let mut s = connect();
    s.line();
    s.ok(&format!("AUTH XOAUTH2 {}", xoauth2(&user.oauth_token())));

    // Expired: RFC 7628 error challenge, then failure after the client's dummy response.
    let mut s = connect();
    s.line();
    let challenge = s.cmd(&format!(
        "AUTH OAUTHBEARER {}",
        oauthbearer(&user.expired_oauth_token())
    ));
    let json = B64
        .decode(challenge.strip_prefix("+ ").expect(&challenge))
        .unwrap();
    assert!(String::from_utf8(json).unwrap().contains("invalid_token"));
    assert!(s.cmd("AQ==").starts_with("-ERR"));

    let mut s = connect();
    s.line();
    let reply = s.cmd(&format!(
        "AUTH XOAUTH2 {}",
        xoauth2(&user.expired_oauth_token())
    ));
    assert!(reply.starts_with("+ "), "{reply}");
    assert!(s.cmd("").starts_with("-ERR"));
}

#[test]
fn pop3s_verifies_against_the_test_ca_only() {
    let d = Dovecot::shared();
    let from_pem = CertificateDer::from_pem_slice(d.ca_pem().as_bytes()).unwrap();
    assert_eq!(from_pem.as_ref(), d.ca_der());
    assert_eq!(std::fs::read_to_string(d.ca_path()).unwrap(), d.ca_pem());

    for name in ["localhost", "127.0.0.1"] {
        let tcp = TcpStream::connect((d.host(), d.pop3s_port())).unwrap();
        let mut s = tls_session(tcp, name, Some(d.ca_der()));
        let greeting = s.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        s.ok("QUIT");
    }

    // Without the test CA the handshake must fail.
    let tcp = TcpStream::connect((d.host(), d.pop3s_port())).unwrap();
    let mut untrusting = tls_session(tcp, "localhost", None);
    let mut buf = [0u8; 1];
    let err = untrusting.io.get_mut().read(&mut buf).unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[test]
fn stls_upgrade_on_the_plain_port() {
    let d = Dovecot::shared();
    let user = d.user("stls", &sample_messages()[..1]);
    let mut plain = connect();
    plain.line();
    plain.ok("STLS");
    let tcp = plain.io.into_inner();
    let mut s = tls_session(tcp, "localhost", Some(d.ca_der()));
    s.ok(&format!("USER {}", user.name));
    s.ok(&format!("PASS {}", user.password));
    assert!(s.ok("STAT").starts_with("+OK 1 "));
}

#[test]
fn ipv6_loopback_listeners() {
    let d = Dovecot::shared();
    if !d.has_ipv6() {
        eprintln!("no IPv6 loopback on this machine; Dovecot listens on 127.0.0.1 only");
        return;
    }
    let tcp = TcpStream::connect((Ipv6Addr::LOCALHOST, d.pop3_port())).unwrap();
    assert!(Session::new(tcp).line().starts_with("+OK"));
    let tcp = TcpStream::connect((Ipv6Addr::LOCALHOST, d.pop3s_port())).unwrap();
    let mut s = tls_session(tcp, "::1", Some(d.ca_der()));
    assert!(s.line().starts_with("+OK"));
}

#[test]
fn separate_instance_starts_and_cleans_up_on_drop() {
    let started = Instant::now();
    let d = Dovecot::start();
    let wall = started.elapsed();
    eprintln!(
        "Dovecot::start(): {:?} wall, {:?} measured by the fixture",
        wall,
        d.startup_time()
    );
    let dir = d.log_path().parent().unwrap().to_path_buf();
    let master = read_pid(&dir.join("run/master.pid"));
    let port = d.pop3_port();
    let user = d.user("own", &sample_messages()[..1]);
    let mut s = Session::new(TcpStream::connect((d.host(), port)).unwrap());
    s.line();
    s.ok(&format!("USER {}", user.name));
    s.ok(&format!("PASS {}", user.password));
    drop(s);
    drop(d);
    assert_gone(master, &dir);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open"
    );
}

/// Run in a child process by `no_orphan_after_sigkill`; returns at once otherwise.
#[test]
fn child_process_helper() {
    if std::env::var_os("POP3_TESTKIT_CHILD").is_none() {
        return;
    }
    let d = Dovecot::shared();
    println!("READY {}", d.log_path().parent().unwrap().display());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

/// Runs `child_process_helper` in a child process with `dovecot` replaced by `binary`
/// and returns (success, combined output).
fn child_with_dovecot(binary: &str) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("POP3_TESTKIT_CHILD", "1")
        .env("POP3_TESTKIT_DOVECOT", binary)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn missing_dovecot_fails_with_install_hint() {
    let (ok, out) = child_with_dovecot("/nonexistent/dovecot");
    assert!(!ok, "must fail, not skip:\n{out}");
    assert!(out.contains("Dovecot is not installed"), "{out}");
    assert!(out.contains("scripts/install-test-deps.sh"), "{out}");
}

#[test]
fn dovecot_exiting_at_start_up_fails_with_its_output() {
    let (ok, out) = child_with_dovecot("/bin/false");
    assert!(!ok, "must fail:\n{out}");
    assert!(out.contains("Dovecot exited during start-up"), "{out}");
}

#[test]
fn no_orphan_after_sigkill() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("POP3_TESTKIT_CHILD", "1")
        .env_remove("POP3_TESTKIT_KEEP")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let dir = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        // libtest may print "test child_process_helper ... " before it on the same line.
        if let Some((_, dir)) = line.trim().split_once("READY ") {
            break PathBuf::from(dir);
        }
    };
    let master = read_pid(&dir.join("run/master.pid"));
    assert!(master.is_some());
    child.kill().unwrap(); // SIGKILL: no destructor, no atexit, only the kernel closing fds.
    child.wait().unwrap();
    assert_gone(master, &dir);
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("State:"))
            .is_some_and(|st| !st.trim_start().starts_with(['Z', 'X']))
    })
}

fn assert_gone(master: Option<u32>, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let keep = std::env::var_os("POP3_TESTKIT_KEEP").is_some();
    while (master.is_some_and(alive) || (!keep && dir.exists())) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(pid) = master {
        assert!(!alive(pid), "Dovecot master {pid} still running");
    }
    if std::env::var_os("POP3_TESTKIT_KEEP").is_none() {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}
