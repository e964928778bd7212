//! Helpers shared by the end-to-end tests: run the real binary, read Maildirs and mboxes back, and a hostile
//! server ([`hostile`]).
#![allow(dead_code, unreachable_pub)]

pub mod hostile;

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pop3-fetch");

/// A fresh, empty directory for one test (removed when dropped unless the test failed).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pop3-fetch-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A MemServer with user demo/demo offering STLS with a fresh test CA, whose PEM is written to `ca`.
pub fn stls_server(mailbox: Mailbox, ca: &Path) -> MemServer {
    stls_server_with(ServerConfig::default(), mailbox, ca)
}

/// Like [`stls_server`], starting from `config`.
pub fn stls_server_with(config: ServerConfig, mailbox: Mailbox, ca: &Path) -> MemServer {
    let pki = TestPki::generate();
    fs::write(ca, pki.ca.cert_pem()).unwrap();
    MemServer::start(
        config
            .with_user("demo", "demo")
            .with_stls(pki.server_config()),
        mailbox,
    )
    .unwrap()
}

/// The URL of a MemServer for user demo.
pub fn url(server: &MemServer) -> String {
    format!("pop://demo@127.0.0.1:{}", server.addr().port())
}

/// The arguments of a fetch from `server` into the Maildir `maildir`, trusting the CA in `ca`: `options`, then
/// `--maildir`, `--ca-file` and the URL.
pub fn maildir_args(
    options: &[&str],
    maildir: &Path,
    ca: &Path,
    server: &MemServer,
) -> Vec<String> {
    let mut args: Vec<String> = options.iter().map(|&option| option.to_owned()).collect();
    args.extend([
        "--maildir".to_owned(),
        maildir.to_str().unwrap().to_owned(),
        "--ca-file".to_owned(),
        ca.to_str().unwrap().to_owned(),
        url(server),
    ]);
    args
}

/// A `pop3-fetch` command with a clean environment (password `password`, no terminal input).
pub fn command(password: &str, args: &[impl AsRef<OsStr>]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("POP3_FETCH_ABORT_AT")
        .env_remove("POP3_FETCH_TRACE_STEPS")
        .env("POP3_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `pop3-fetch` to completion.
pub fn run(password: &str, args: &[impl AsRef<OsStr>]) -> Output {
    command(password, args).output().unwrap()
}

/// Runs `pop3-fetch` and asserts it succeeded; returns its standard output.
pub fn run_ok(password: &str, args: &[impl AsRef<OsStr> + fmt::Debug]) -> String {
    let out = run(password, args);
    assert!(
        out.status.success(),
        "pop3-fetch {args:?} failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The messages in the Maildir's `new/` and `cur/` in the server's form, sorted: pop3-fetch delivers with LF
/// line endings, and the messages in the tests have CRLF throughout, so each LF is turned back into CRLF (a file
/// delivered with `--keep-crlf` is left as it is).
pub fn maildir_messages(dir: &Path) -> Vec<Vec<u8>> {
    sorted(maildir_files(dir).into_iter().map(|file| crlf(&file)))
}

/// The files in the Maildir's `new/` and `cur/` exactly as delivered, sorted.
pub fn maildir_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            messages.push(fs::read(entry.unwrap().path()).unwrap());
        }
    }
    messages.sort();
    messages
}

/// Every LF not preceded by CR becomes CRLF.
pub fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Names of the files in the Maildir's `tmp/`.
pub fn maildir_tmp(dir: &Path) -> Vec<String> {
    fs::read_dir(dir.join("tmp"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The messages of a mailbox, sorted.
pub fn sorted(messages: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = messages.into_iter().collect();
    messages.sort();
    messages
}

/// The messages of a MemServer mailbox, sorted.
pub fn mailbox_messages(mailbox: &Mailbox) -> Vec<Vec<u8>> {
    sorted(mailbox.messages().iter().map(|m| m.data().to_vec()))
}

/// Reads an mboxrd file back: each message with `>` removed from `>+From ` lines and LF turned back into
/// CRLF (the messages in the tests are CRLF throughout), sorted.
pub fn mbox_messages(path: &Path) -> Vec<Vec<u8>> {
    let data = fs::read(path).unwrap_or_default();
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if lines.last() == Some(&&b""[..]) {
        lines.pop();
    }
    for line in lines {
        if line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            continue;
        }
        let msg = current
            .as_mut()
            .expect("mbox does not start with a From line");
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        let line = if quotes > 0 && line[quotes..].starts_with(b"From ") {
            &line[1..]
        } else {
            line
        };
        msg.extend_from_slice(line);
        msg.extend_from_slice(b"\r\n");
    }
    if let Some(m) = current.take() {
        messages.push(m);
    }
    // Every entry ends with the separator line, turned into a CRLF above.
    for m in &mut messages {
        assert!(m.ends_with(b"\r\n"), "entry without separator line");
        m.truncate(m.len() - 2);
    }
    messages.sort();
    messages
}
