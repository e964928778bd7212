//! End-to-end tests of the accounts file against a real Dovecot (pop3-testkit): several accounts in one run,
//! each delivery kind (Maildir, mbox, MDA), size limits, keep and delete, a failing account among good ones, and
//! `kill -9` in the middle of a multi-account run followed by a rerun.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pop3_testkit::{Dovecot, SAMPLE_BIG, SAMPLE_NO_FINAL_NEWLINE, TestUser, sample_messages};

/// What RETR gives for these sample messages: Dovecot ends the one without a final line break with CRLF.
fn as_retrieved(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = messages.to_vec();
    if let Some(m) = out.get_mut(SAMPLE_NO_FINAL_NEWLINE) {
        m.extend_from_slice(b"\r\n");
    }
    sorted(out)
}

/// Messages left in the user's mailbox on the server. Dovecot may be moving files from `new/` to `cur/` (or
/// expunging them) at the same time, so a listing whose file vanished before it was read is taken again.
fn server_files(user: &TestUser) -> Vec<Vec<u8>> {
    let read = || -> std::io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(user.maildir().join(sub))? {
                out.push(fs::read(entry?.path())?);
            }
        }
        Ok(out)
    };
    loop {
        match read() {
            Ok(files) => return files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("reading the server's mailbox: {e}"),
        }
    }
}

/// An `[accounts.NAME]` table for a Dovecot user.
fn account(name: &str, dovecot: &Dovecot, user: &TestUser, lines: &[String]) -> String {
    let mut table = format!(
        "[accounts.{name}]\nurl = \"pop://{}@127.0.0.1:{}\"\nca_file = \"{}\"\n",
        user.name,
        dovecot.pop3_port(),
        dovecot.ca_path().display()
    );
    for line in lines {
        table.push_str(line);
        table.push('\n');
    }
    table
}

/// Writes the accounts file, private.
fn accounts_file(dir: &TempDir, tables: &[String]) -> PathBuf {
    let path = dir.join("accounts.toml");
    fs::write(&path, tables.join("\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// An MDA that stores each message as a file in `dir` (written under a temporary name, then renamed).
fn mda_into(dir: &Path) -> String {
    fs::create_dir_all(dir).unwrap();
    format!(
        "mda = 'f=$(mktemp {0}/.tmp.XXXXXX) && cat > \"$f\" && mv \"$f\" \"$f.eml\"'",
        dir.display()
    )
}

/// The messages an MDA stored with [`mda_into`], sorted.
fn mda_messages(dir: &Path) -> Vec<Vec<u8>> {
    sorted(
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| fs::read(p).unwrap()),
    )
}

/// Removes a leading `Received:` header (with its continuation lines).
fn without_trace(message: &[u8]) -> Vec<u8> {
    assert!(
        message.starts_with(b"Received: from 127.0.0.1 (port "),
        "no trace header"
    );
    let mut rest = message;
    loop {
        let end = rest.iter().position(|&b| b == b'\n').unwrap() + 1;
        rest = &rest[end..];
        if !rest.starts_with(b"\t") && !rest.starts_with(b" ") {
            return rest.to_vec();
        }
    }
}

#[test]
fn accounts_file_with_every_delivery_kind_size_limits_keep_and_delete() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let small = &messages[..SAMPLE_BIG];
    let (u_maildir, u_mbox, u_mda) = (
        dovecot.user("acc-maildir", &messages),
        dovecot.user("acc-mbox", small),
        dovecot.user("acc-mda", &messages),
    );
    let dir = TempDir::new("accounts");
    let (maildir, mbox, mda_dir) = (dir.join("Maildir"), dir.join("mbox"), dir.join("mda"));
    fs::write(
        dir.join("mbox-password"),
        format!("{}\nsecond line\n", u_mbox.password),
    )
    .unwrap();
    let config = accounts_file(
        &dir,
        &[
            // Keep, leave the 5 MiB message on the server, LF line endings.
            account(
                "maildir",
                dovecot,
                &u_maildir,
                &[
                    format!("maildir = \"{}\"", maildir.display()),
                    "password_env = \"MAILDIR_PASSWORD\"".into(),
                    "skipsize = \"1M\"".into(),
                ],
            ),
            // Delete, a trace header, the password from a command.
            account(
                "mbox",
                dovecot,
                &u_mbox,
                &[
                    format!("mbox = \"{}\"", mbox.display()),
                    format!(
                        "passwordeval = \"cat {}\"",
                        dir.join("mbox-password").display()
                    ),
                    "delete = true".into(),
                    "trace_header = true".into(),
                ],
            ),
            // Delete, the 5 MiB message deleted unread, the wire's CRLF kept, the password in the private file.
            account(
                "mda",
                dovecot,
                &u_mda,
                &[
                    mda_into(&mda_dir),
                    format!("state_file = \"{}\"", dir.join("mda.state").display()),
                    format!("password = \"{}\"", u_mda.password),
                    "delete = true".into(),
                    "killsize = 1048576".into(),
                    "keep_crlf = true".into(),
                ],
            ),
            // A wrong password: this account fails, the others do not notice.
            account(
                "wrong",
                dovecot,
                &u_maildir,
                &[
                    format!("maildir = \"{}\"", dir.join("Other").display()),
                    "password = \"not-the-password\"".into(),
                ],
            ),
        ],
    );
    let config_arg = config.display().to_string();
    let all = |extra: &[&str]| {
        let mut cmd = command(
            "",
            &[&["--config", &config_arg, "--jobs", "3"], extra].concat(),
        );
        cmd.env_remove("POP3_PASSWORD")
            .env("MAILDIR_PASSWORD", &u_maildir.password);
        cmd.output().unwrap()
    };

    // What a status run sees, changing nothing.
    let out = all(&["--all", "--status"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("maildir: 6 message(s) on the server, 5 new (")
            && stdout.contains(", 1 bigger than the skip size left on the server (5.0 MiB)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mda: 6 message(s) on the server, 5 new")
            && stdout.contains("1 bigger than the kill size"),
        "{stdout}"
    );
    assert!(!maildir.exists() && !mbox.exists() && mda_messages(&mda_dir).is_empty());

    // The run: three accounts succeed, one fails with EX_NOPERM, each gets its summary line.
    let out = all(&["--all"]);
    let (stdout, errors) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(77), "{stdout}\n{errors}");
    assert!(errors.contains("pop3-fetch: wrong: error: "), "{errors}");
    for line in [
        "maildir: Fetched 5 message(s) of 6 on the server",
        "mbox: Fetched 5 message(s) of 5 on the server",
        "mda: Fetched 5 message(s) of 6 on the server",
        "; 1 left on the server for their size",
        "; deleted 5 from the server; 1 deleted unread for their size",
    ] {
        assert!(stdout.contains(line), "{line:?} missing in:\n{stdout}");
    }

    // Maildir: LF line endings, the big message left on the server, nothing deleted.
    let files = maildir_files(&maildir);
    assert!(
        files.iter().all(|f| !f.windows(2).any(|w| w == b"\r\n")),
        "CRLF in a Maildir file"
    );
    assert_eq!(maildir_messages(&maildir), as_retrieved(small));
    assert_eq!(server_files(&u_maildir).len(), 6);
    // mbox: each message once, under its trace header; the server emptied.
    let entries: Vec<Vec<u8>> = mbox_messages(&mbox)
        .iter()
        .map(|m| without_trace(m))
        .collect();
    assert_eq!(sorted(entries), as_retrieved(small));
    assert!(server_files(&u_mbox).is_empty());
    // MDA: the wire form exactly; the big message deleted unread, never delivered.
    assert_eq!(mda_messages(&mda_dir), as_retrieved(small));
    assert!(server_files(&u_mda).is_empty());
    assert!(
        !dir.join("mda.state.spool").exists(),
        "the spool is removed"
    );

    // Again: nothing new anywhere, nothing delivered twice, the big message still on the server.
    let out = all(&["--account", "maildir", "--account", "mbox", "-a", "mda"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", stderr(&out));
    assert!(
        stdout.contains("maildir: No new messages (6 on the server)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mbox: No new messages (0 on the server)"),
        "{stdout}"
    );
    assert_eq!(maildir_messages(&maildir), as_retrieved(small));
    assert_eq!(mbox_messages(&mbox).len(), small.len());
    assert_eq!(mda_messages(&mda_dir).len(), small.len());
    assert_eq!(server_files(&u_maildir).len(), 6);

    // --refetch, on purpose: the Maildir gets every small message a second time.
    let out = all(&["--account", "maildir", "--refetch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(maildir_files(&maildir).len(), 2 * small.len());

    // A dry run names each message and changes nothing.
    let out = all(&["--account", "maildir", "--dry-run", "--delete"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("would leave message ") && stdout.contains(" (5.0 MiB, "),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("would delete message").count(),
        5,
        "{stdout}"
    );
    assert_eq!(server_files(&u_maildir).len(), 6);
}

#[test]
fn a_password_in_a_readable_accounts_file_is_refused() {
    let dir = TempDir::new("accounts-open");
    let path = dir.join("accounts.toml");
    fs::write(
        &path,
        "[accounts.a]\nurl = \"pop://u@127.0.0.1:9\"\npassword = \"secret-pw\"\n",
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run("", &["--config", path.to_str().unwrap(), "--all"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("secret-pw"));
    let out = run("", &["--config", path.to_str().unwrap(), "--account", "b"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
}

/// Numbered messages of about 10 KiB, each with its own Message-ID.
fn numbered(account: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut m = format!(
                "From: sender@example.org\r\nTo: {account}@example.org\r\nSubject: {account} {i}\r\n\
                 Message-ID: <{account}.{i}@test>\r\n\r\n"
            );
            for line in 0..160 {
                m.push_str(&format!("{account} message {i} line {line:04} ....................................\r\n"));
            }
            m.into_bytes()
        })
        .collect()
}

/// How often each exact message occurs (a torn copy counts as another message, not as this one).
fn counted(messages: Vec<Vec<u8>>) -> BTreeMap<Vec<u8>, usize> {
    let mut out = BTreeMap::new();
    for m in messages {
        *out.entry(m).or_insert(0) += 1;
    }
    out
}

/// The Subject of a message, to name it in a failure.
fn subject(message: &[u8]) -> String {
    String::from_utf8_lossy(message)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn kill_9_in_the_middle_of_a_multi_account_run_then_rerun() {
    let dovecot = Dovecot::shared();
    const N: usize = 400;
    let users: Vec<(&str, TestUser, Vec<Vec<u8>>)> = ["maildir", "mbox", "mda"]
        .into_iter()
        .map(|name| {
            let messages = numbered(name, N);
            (
                name,
                dovecot.user(&format!("kill-{name}"), &messages),
                messages,
            )
        })
        .collect();
    let dir = TempDir::new("accounts-kill");
    let (maildir, mbox, mda_dir) = (dir.join("Maildir"), dir.join("mbox"), dir.join("mda"));
    let destination = |name: &str| match name {
        "maildir" => format!("maildir = \"{}\"", maildir.display()),
        "mbox" => format!("mbox = \"{}\"", mbox.display()),
        _ => mda_into(&mda_dir),
    };
    let tables: Vec<String> = users
        .iter()
        .map(|(name, user, _)| {
            account(
                name,
                dovecot,
                user,
                &[
                    destination(name),
                    format!(
                        "state_file = \"{}\"",
                        dir.join(&format!("{name}.state")).display()
                    ),
                    format!("password = \"{}\"", user.password),
                    "delete = true".into(),
                ],
            )
        })
        .collect();
    let config = accounts_file(&dir, &tables);
    // Each store's messages in the server's form (delivery turned CRLF into LF).
    let stored = |name: &str| match name {
        "maildir" => maildir_messages(&maildir),
        "mbox" => mbox_messages(&mbox),
        _ => mda_messages(&mda_dir).iter().map(|m| crlf(m)).collect(),
    };
    // After every run, killed or not: whatever left the server is stored.
    let check_nothing_lost = |when: &str| {
        for (name, user, messages) in &users {
            let on_server = counted(server_files(user).iter().map(|m| crlf(m)).collect());
            let local = counted(stored(name));
            for m in messages {
                assert!(
                    on_server.contains_key(m) || local.contains_key(m),
                    "{when}: {name}: {:?} was deleted from the server but is not stored",
                    subject(m)
                );
            }
        }
    };

    // Kill as soon as an account not yet caught half-way has stored something (each kill lands in the middle of
    // some account's fetch, whatever the machine's speed), until every account has been; then let runs finish.
    let mut interrupted = 0;
    let mut seen_partial: BTreeMap<&str, bool> = BTreeMap::new();
    for round in 0..40 {
        let mut child = Command::new(BIN)
            .args([
                "--config",
                config.to_str().unwrap(),
                "--all",
                "--jobs",
                "3",
                "--quiet",
            ])
            .env_remove("POP3_FETCH_ABORT_AT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let uncaught: Vec<&str> = users
            .iter()
            .map(|(name, _, _)| *name)
            .filter(|name| !seen_partial.get(name).copied().unwrap_or(false))
            .collect();
        let before: Vec<usize> = uncaught.iter().map(|name| stored(name).len()).collect();
        let watch = Instant::now();
        while !uncaught.is_empty()
            && watch.elapsed() < Duration::from_secs(30)
            && child.try_wait().unwrap().is_none()
            && uncaught
                .iter()
                .zip(&before)
                .all(|(name, &had)| stored(name).len() == had)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        if uncaught.is_empty() {
            child.wait().unwrap();
        }
        let delay_ms = watch.elapsed().as_millis();
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
        // An MDA started before the kill finishes on its own; give it a moment.
        let settle = Instant::now();
        while settle.elapsed() < Duration::from_secs(2)
            && fs::read_dir(&mda_dir).is_ok_and(|mut d| {
                d.any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".tmp"))
            })
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        check_nothing_lost(&format!("round {round}, killed after {delay_ms} ms"));
        for (name, user, _) in &users {
            let (stored, left) = (stored(name).len(), server_files(user).len());
            eprintln!(
                "round {round}, after {delay_ms} ms: {name}: {stored} stored, {left} on the server"
            );
            *seen_partial.entry(name).or_default() |= stored > 0 && left > 0;
        }
        if users
            .iter()
            .all(|(_, user, _)| server_files(user).is_empty())
        {
            break;
        }
    }
    assert!(
        interrupted > 0,
        "no kill landed in the middle of a run: make the mailboxes bigger"
    );
    assert!(
        seen_partial.values().all(|&partial| partial),
        "not every account was killed in the middle of its fetch: {seen_partial:?}"
    );

    // The rerun finishes everything.
    let out = run(
        "",
        &["--config", config.to_str().unwrap(), "--all", "--jobs", "3"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    check_nothing_lost("after the rerun");
    for (name, user, messages) in &users {
        assert!(
            server_files(user).is_empty(),
            "{name}: messages left on the server"
        );
        let local = counted(stored(name));
        assert_eq!(
            local.keys().collect::<Vec<_>>(),
            counted(messages.clone()).keys().collect::<Vec<_>>(),
            "{name}: the messages stored are not the server's"
        );
        let twice: Vec<_> = local
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(m, n)| (subject(m), *n))
            .collect();
        eprintln!("{name}: {} message(s) stored twice: {twice:?}", twice.len());
        if *name == "mda" {
            // An MDA that was running when its parent was killed delivers, unrecorded: that one message may come
            // again (see src/mda.rs). Never more than one extra copy per kill (kills that land at the same
            // message each add one).
            let extra: usize = twice.iter().map(|(_, n)| n - 1).sum();
            assert!(
                extra <= interrupted,
                "{name}: {extra} extra copies after {interrupted} kills: {twice:?}"
            );
        } else {
            assert!(twice.is_empty(), "{name}: delivered twice: {twice:?}");
        }
    }
    // The Maildir and mbox hold the messages byte for byte (LF turned back into CRLF for the comparison).
    assert_eq!(maildir_messages(&maildir), sorted(users[0].2.clone()));
    assert_eq!(mbox_messages(&mbox), sorted(users[1].2.clone()));
    assert!(
        !dir.join("mbox.lock").exists(),
        "the rerun released the dotlock"
    );
}

#[test]
fn one_server_under_two_names_shares_an_identity_only_when_told() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let small = &messages[..SAMPLE_BIG];
    let user = dovecot.user("acc-identity", small);
    let dir = TempDir::new("accounts-identity");
    let maildir = dir.join("Maildir");
    let table = |name: &str, host: &str, identity: Option<&str>| {
        let mut table = format!(
            "[accounts.{name}]\nurl = \"pop://{}@{host}:{}\"\nca_file = \"{}\"\nmaildir = \"{}\"\npassword = \"{}\"\n",
            user.name,
            dovecot.pop3_port(),
            dovecot.ca_path().display(),
            maildir.display(),
            user.password
        );
        if let Some(identity) = identity {
            table.push_str(&format!("identity = \"{identity}\"\n"));
        }
        table
    };
    // The same account named twice, once as localhost and once as 127.0.0.1, with one identity: one fetch.
    let shared = accounts_file(
        &dir,
        &[
            table("by-name", "localhost", Some("me@this-server")),
            table("by-address", "127.0.0.1", Some("me@this-server")),
        ],
    );
    let config = shared.to_str().unwrap().to_owned();
    for name in ["by-name", "by-address"] {
        let out = run("", &["--config", &config, "--account", name]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
    assert_eq!(maildir_messages(&maildir), as_retrieved(small));
    // Without the identity, the two names are two accounts: the second fetches everything again (what --help
    // warns of).
    let split = accounts_file(
        &dir,
        &[
            table("by-name", "localhost", None),
            table("by-address", "127.0.0.1", None),
        ],
    );
    let config = split.to_str().unwrap().to_owned();
    let out = run("", &["--config", &config, "--all", "--jobs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(maildir_files(&maildir).len(), 3 * small.len());
}
