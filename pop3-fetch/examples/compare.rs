//! pop3-fetch next to mpop and getmail: the same mailbox on the same private Dovecot (pop3-testkit), fetched
//! over POP3S into a fresh Maildir by each, in turn; every delivered message compared byte for byte, and the
//! wall time of each whole run (start to exit: connect, TLS, login, fetch, fsync, state) measured.
//!
//! ```text
//! sh pop3-fetch/compare-fetchers.sh            # builds, then runs this with the release binary
//! cargo run --release -p pop3-fetch --example compare -- [--runs N] [--only small|big] [--count-fsyncs]
//! sh pop3-fetch/compare-fetchers.sh --round-trips [--rtt MS] [--runs N]
//! ```
//!
//! `--round-trips` runs each tool through a [`LatencyProxy`] that adds half of `--rtt` (default 20 ms) each way
//! in front of Dovecot's POP3S port and counts the round trips (the server's turns to speak, TLS handshake
//! included): a first fetch of 10 messages into a fresh Maildir, then a rerun with nothing new.
//!
//! Every tool keeps mail on the server and adds no header (mpop `received_header off`, getmail `received` and
//! `delivered_to` off); headers a tool adds anyway would be removed before the comparison (everything above the
//! first line of the message as sent). getmail refuses to deliver as root, so all three run as `nobody`.
//! Within each round the order of the tools rotates; the report gives the median, the spread, and the median of
//! the per-round ratios (each measured in the same round, under the same load).

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pop3_memserver::LatencyProxy;
use pop3_testkit::{Dovecot, TestUser};

const NOBODY: u32 = 65534;

struct Options {
    runs: usize,
    only: Option<String>,
    count_fsyncs: bool,
    round_trips: bool,
    rtt: Duration,
    bin: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        runs: 5,
        only: None,
        count_fsyncs: false,
        round_trips: false,
        rtt: Duration::from_millis(20),
        bin: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/release/pop3-fetch"
        )),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => options.runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--only" => options.only = args.next(),
            "--count-fsyncs" => options.count_fsyncs = true,
            "--round-trips" => options.round_trips = true,
            "--rtt" => {
                let ms = args.next().and_then(|n| n.parse().ok()).expect("--rtt MS");
                options.rtt = Duration::from_millis(ms);
            }
            "--bin" => options.bin = args.next().expect("--bin PATH").into(),
            other => panic!("unknown argument {other}"),
        }
    }
    options.bin = options.bin.canonicalize().unwrap_or(options.bin);
    options
}

/// `count` messages of about `size` octets, CRLF, each starting with its own Message-ID line.
fn messages(tag: &str, count: usize, size: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut m = format!(
                "Message-ID: <{tag}.{i}@bench.example>\r\nFrom: Sender <sender@example.org>\r\nTo: \
                 rcpt@example.org\r\nSubject: {tag} message {i}\r\nDate: Sat, 5 Dec 2026 12:00:00 +0000\r\n\r\n"
            )
            .into_bytes();
            let mut line = 0u64;
            while m.len() < size {
                // Varied text, with the occasional line that needs dot-stuffing or mboxrd quoting.
                let text = match line % 50 {
                    7 => ".a line starting with a dot".to_owned(),
                    23 => "From the mbox point of view, this line needs quoting".to_owned(),
                    _ => format!("{tag} {i} line {line:06} {}", "lorem ipsum dolor sit amet ".repeat(2)),
                };
                m.extend_from_slice(text.as_bytes());
                m.extend_from_slice(b"\r\n");
                line += 1;
            }
            m
        })
        .collect()
}

/// What a tool should deliver for a message: LF line endings.
fn as_lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for (i, &b) in message.iter().enumerate() {
        if !(b == b'\r' && message.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// A delivered message without the headers the tool put above it.
fn without_added_headers(message: &[u8]) -> Vec<u8> {
    let at = message
        .windows(12)
        .position(|w| w == b"Message-ID: ")
        .unwrap_or(0);
    message[at..].to_vec()
}

struct Tool {
    name: &'static str,
    command: fn(&Setup, &Path) -> Command,
}

struct Setup {
    bin: PathBuf,
    port: u16,
    ca: PathBuf,
    user: String,
    password: String,
}

fn pop3_fetch(s: &Setup, work: &Path) -> Command {
    pop3_fetch_with(s, work, "")
}

/// pop3-fetch with USER/PASS named, so that a rerun sends CAPA, the login and the listing in one write.
fn pop3_fetch_user(s: &Setup, work: &Path) -> Command {
    pop3_fetch_with(s, work, ";AUTH=+USER")
}

/// pop3-fetch with `auth` (an `;AUTH=` part) in its URL.
fn pop3_fetch_with(s: &Setup, work: &Path, auth: &str) -> Command {
    let mut cmd = Command::new(&s.bin);
    cmd.args(["--quiet", "--maildir"])
        .arg(work.join("Maildir"))
        .arg("--state-file")
        .arg(work.join("state"))
        .arg("--ca-file")
        .arg(&s.ca)
        .arg(format!("pops://{}{auth}@127.0.0.1:{}", s.user, s.port))
        .env("POP3_PASSWORD", &s.password);
    cmd
}

fn mpop(s: &Setup, work: &Path) -> Command {
    let rc = work.join("mpoprc");
    fs::write(
        &rc,
        format!(
            "account bench\nhost 127.0.0.1\nport {}\nuser {}\npassword {}\ntls on\ntls_starttls off\n\
             tls_trust_file {}\ndelivery maildir {}\nkeep on\nonly_new on\nreceived_header off\nuidls_file {}\n",
            s.port,
            s.user,
            s.password,
            s.ca.display(),
            work.join("Maildir").display(),
            work.join("uidls").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("mpop");
    cmd.arg("-q").arg("-C").arg(&rc).arg("bench");
    cmd
}

fn getmail(s: &Setup, work: &Path) -> Command {
    let rc = work.join("getmailrc");
    fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\nport = {}\nusername = {}\n\
             password = {}\nca_certs = {}\n\n[destination]\ntype = Maildir\npath = {}/\n\n[options]\n\
             verbose = 0\nread_all = false\ndelete = false\nreceived = false\ndelivered_to = false\n",
            s.port,
            s.user,
            s.password,
            s.ca.display(),
            work.join("Maildir").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("getmail");
    cmd.arg("--getmaildir").arg(work).arg("--rcfile").arg(&rc);
    cmd
}

const TOOLS: [Tool; 3] = [
    Tool {
        name: "pop3-fetch",
        command: pop3_fetch,
    },
    Tool {
        name: "mpop",
        command: mpop,
    },
    Tool {
        name: "getmail",
        command: getmail,
    },
];

/// A fresh work directory with an empty Maildir, owned by `nobody`.
fn fresh(work: &Path) {
    let _ = fs::remove_dir_all(work);
    for sub in ["", "Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"] {
        let dir = work.join(sub);
        fs::create_dir_all(&dir).unwrap();
        chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
}

/// Runs the tool as `nobody` and returns its wall time.
fn timed(mut cmd: Command, work: &Path, strace: bool) -> (Duration, String) {
    for entry in fs::read_dir(work).unwrap() {
        chown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    if strace {
        let program = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
        let envs: Vec<_> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        cmd = Command::new("strace");
        cmd.args([
            "-f",
            "-qq",
            "-c",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,msync",
        ])
        .arg(program)
        .args(args)
        .envs(envs);
    }
    cmd.uid(NOBODY)
        .gid(NOBODY)
        .env("HOME", work)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Under strace, getmail's parent may give up waiting for its (slowed) delivery child: the counts still show.
    assert!(
        strace || out.status.success(),
        "{cmd:?} failed: {}\n{stderr}",
        out.status
    );
    (elapsed, stderr)
}

/// The messages in the Maildir, without added headers, sorted.
fn delivered(maildir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(maildir.join(sub)).unwrap() {
            out.push(without_added_headers(
                &fs::read(entry.unwrap().path()).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn bench(
    dovecot: &Dovecot,
    options: &Options,
    root: &Path,
    label: &str,
    count: usize,
    size: usize,
) {
    let messages = messages(label, count, size);
    let user: TestUser = dovecot.user(&format!("bench-{label}"), &messages);
    let mut expected: Vec<Vec<u8>> = messages.iter().map(|m| as_lf(m)).collect();
    expected.sort();
    let ca = root.join("ca.pem");
    fs::write(&ca, dovecot.ca_pem()).unwrap();
    fs::set_permissions(&ca, fs::Permissions::from_mode(0o644)).unwrap();
    let setup = Setup {
        bin: options.bin.clone(),
        port: dovecot.pop3s_port(),
        ca,
        user: user.name.clone(),
        password: user.password.clone(),
    };
    let total: usize = messages.iter().map(Vec::len).sum();
    println!(
        "\n## {label}: {count} messages, {:.1} MiB in all, into a Maildir",
        total as f64 / (1 << 20) as f64
    );
    if options.count_fsyncs {
        for tool in &TOOLS {
            let work = root.join(format!("{}-strace", tool.name));
            fresh(&work);
            let (_, stderr) = timed((tool.command)(&setup, &work), &work, true);
            println!("\n{} under strace -f -c:\n{stderr}", tool.name);
            let _ = fs::remove_dir_all(&work);
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); TOOLS.len()];
    for round in 0..options.runs {
        let mut line = format!("round {}:", round + 1);
        for k in 0..TOOLS.len() {
            let t = (round + k) % TOOLS.len();
            let tool = &TOOLS[t];
            let work = root.join(tool.name);
            fresh(&work);
            let (elapsed, _) = timed((tool.command)(&setup, &work), &work, false);
            let got = delivered(&work.join("Maildir"));
            assert!(
                got == expected,
                "{}: the delivered messages differ from the server's ({} delivered, {} expected)",
                tool.name,
                got.len(),
                expected.len()
            );
            times[t].push(elapsed.as_secs_f64());
            line.push_str(&format!("  {} {:.3} s", tool.name, elapsed.as_secs_f64()));
            let _ = fs::remove_dir_all(&work);
        }
        println!("{line}   (all {count} messages byte-identical for every tool)");
    }
    println!(
        "\n| tool | median wall time | min – max | pop3-fetch ÷ tool (median of per-round ratios) |"
    );
    println!("|---|---|---|---|");
    for (t, tool) in TOOLS.iter().enumerate() {
        let mut ratios: Vec<f64> = times[0].iter().zip(&times[t]).map(|(a, b)| a / b).collect();
        let (min, max) = times[t]
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!(
            "| {} | {:.3} s | {:.3} – {:.3} s | {:.2} |",
            tool.name,
            median(&mut times[t].clone()),
            min,
            max,
            median(&mut ratios)
        );
    }
}

/// Round trips and wall time of a first fetch and of a rerun with nothing new, each tool through a counting
/// proxy with `options.rtt` of round-trip time.
fn round_trips(dovecot: &Dovecot, options: &Options, root: &Path) {
    let count = 10;
    let messages = messages("rtt", count, 10 * 1024);
    let user: TestUser = dovecot.user("bench-rtt", &messages);
    let mut expected: Vec<Vec<u8>> = messages.iter().map(|m| as_lf(m)).collect();
    expected.sort();
    let ca = root.join("ca.pem");
    fs::write(&ca, dovecot.ca_pem()).unwrap();
    fs::set_permissions(&ca, fs::Permissions::from_mode(0o644)).unwrap();
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], dovecot.pop3s_port()));
    let proxy = LatencyProxy::start(target, options.rtt / 2).unwrap();
    let setup = Setup {
        bin: options.bin.clone(),
        port: proxy.addr().port(),
        ca,
        user: user.name.clone(),
        password: user.password.clone(),
    };
    let tools = [
        (
            "pop3-fetch (strongest login: SCRAM-SHA-256)",
            pop3_fetch as fn(&Setup, &Path) -> Command,
        ),
        ("pop3-fetch `;AUTH=+USER`", pop3_fetch_user),
        ("mpop", mpop),
        ("getmail", getmail),
    ];
    println!(
        "\n## Round trips: {count} messages of 10 KiB over POP3S, {} ms round trip, {} runs each",
        options.rtt.as_millis(),
        options.runs
    );
    println!(
        "\n| tool | first fetch: round trips | first fetch: median wall time | nothing new: round trips | \
         nothing new: median wall time |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, command) in tools {
        // Per session kind: the wall times, and the round trips (the same in every run, or the run stops).
        let mut sessions: [(Vec<f64>, Option<u64>); 2] = Default::default();
        for _ in 0..options.runs {
            let work = root.join("rtt");
            fresh(&work);
            for (kind, (times, trips)) in sessions.iter_mut().enumerate() {
                proxy.take_round_trips();
                let (elapsed, _) = timed(command(&setup, &work), &work, false);
                let counted = proxy.take_round_trips();
                assert!(
                    trips.is_none_or(|t| t == counted),
                    "{name}: {counted} round trips, {trips:?} in an earlier run"
                );
                *trips = Some(counted);
                times.push(elapsed.as_secs_f64());
                if kind == 0 {
                    assert!(
                        delivered(&work.join("Maildir")) == expected,
                        "{name}: the delivered messages differ from the server's"
                    );
                }
            }
            assert!(
                delivered(&work.join("Maildir")) == expected,
                "{name}: the rerun changed the Maildir"
            );
            let _ = fs::remove_dir_all(&work);
        }
        let [(first, first_trips), (again, again_trips)] = &mut sessions;
        println!(
            "| {name} | {} | {:.0} ms | {} | {:.0} ms |",
            first_trips.unwrap_or_default(),
            median(first) * 1000.0,
            again_trips.unwrap_or_default(),
            median(again) * 1000.0
        );
    }
}

fn main() {
    let options = options();
    assert!(
        options.bin.exists(),
        "{} does not exist: cargo build --release -p pop3-fetch first",
        options.bin.display()
    );
    let dovecot = Dovecot::shared();
    let root = std::env::temp_dir().join(format!("pop3-fetch-compare-{}", std::process::id()));
    fs::create_dir_all(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    println!(
        "pop3-fetch {} / {} / {}",
        options.bin.display(),
        version("mpop", "--version"),
        version("getmail", "--version")
    );
    if options.round_trips {
        round_trips(dovecot, &options, &root);
    } else if options.only.as_deref() != Some("big") {
        bench(dovecot, &options, &root, "small", 1000, 10 * 1024);
    }
    if !options.round_trips && options.only.as_deref() != Some("small") {
        bench(dovecot, &options, &root, "big", 20, 5 << 20);
    }
    let _ = fs::remove_dir_all(&root);
}

fn version(program: &str, flag: &str) -> String {
    Command::new(program)
        .arg(flag)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}
