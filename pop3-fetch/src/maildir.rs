//! Maildir delivery (<https://cr.yp.to/proto/maildir.html>), crash-safe and recoverable.
//!
//! Each message is written to `tmp/NAME`, fsynced, renamed to `new/NAME`, and `new/` is fsynced (once per
//! batch of messages, before the batch is recorded in the state file). The fsync and the rename run on a few
//! threads, so that the fsyncs of several messages share the disk's journal commits. `NAME` is a
//! unique Maildir name that also records which account and message the file holds:
//!
//! ```text
//! 1700000000.M123456P4242Q7.myhost,A=1f2e3d4c5b6a,U=sample-7
//! ```
//!
//! * `A=` is a 48-bit hash of the account identity, so several accounts can share one Maildir;
//! * `W=` (in `new/` and `cur/` only) is the message's size on the wire, as [`crate::size_check`] counts it
//!   (Dovecot's name for the same thing): a file delivered with LF line endings is smaller than the message the
//!   server lists, and this is what a run that finds it after a crash compares with LIST;
//! * `U=` is the message key (its UIDL), with every byte other than ASCII letters, digits and `-_.+=@` written
//!   `%XX` (a UID may hold `/`, which must never reach a path); a key whose encoding would exceed 100 characters
//!   is stored as `H=` and a 128-bit hash instead; a message without a key has neither.
//!
//! The UID is never used as a file name by itself. Mail readers keep the part before `:` when they move a file
//! from `new/` to `cur/`, so [`Maildir::scan`] finds the keys of every message this program delivered in
//! `new/` and `cur/`, even if the state file was not updated before a crash.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fault;
use crate::lf::CrlfToLf;
use crate::state::{digest_hex, encode_key, sync_dir};

/// The `Q` counter of unique names, shared by every Maildir this process opens.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Threads that fsync and rename finished messages. fsync waits for the disk, not the CPU; several at once
/// share one journal commit, which makes a mailbox of small messages several times faster to store.
const COMMIT_THREADS: usize = 16;

/// Longest encoded key kept readable in a file name; longer keys are hashed.
const MAX_ENCODED_KEY: usize = 100;

/// A message file of this account found in `new/` or `cur/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its size: the octets RETR delivered.
    pub(crate) octets: u64,
    /// Whether it ends with CRLF (see [`crate::size_check`]).
    pub(crate) ends_with_crlf: bool,
    /// The message's size in the server's terms, from the `W=` in its name (absent in names written by
    /// versions that kept the wire form, whose file size is that size).
    pub(crate) wire: Option<u64>,
}

impl Found {
    /// The size of the copy in the server's terms, given what LIST says.
    pub(crate) fn saved(self, listed: u64) -> u64 {
        self.wire.unwrap_or_else(|| {
            crate::size_check::saved_size(listed, self.octets, self.ends_with_crlf)
        })
    }
}

/// Keys found in the Maildir's file names, with what their files hold (a key may have several files: a server
/// that reused a UID).
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    keys: HashMap<String, Vec<Found>>,
    digests: HashMap<String, Vec<Found>>,
}

impl Recovered {
    /// The files of the messages with this key in the Maildir.
    pub(crate) fn get(&self, key: &str) -> &[Found] {
        self.keys
            .get(key)
            .or_else(|| self.digests.get(&digest_hex(key.as_bytes())))
            .map_or(&[], Vec::as_slice)
    }

    /// How many keyed files were found.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len() + self.digests.len()
    }
}

/// A stored message file's size and ending.
fn examine(path: &Path, wire: Option<u64>) -> io::Result<Found> {
    let file = File::open(path)?;
    let octets = file.metadata()?.len();
    let mut tail = [0u8; 2];
    let ends_with_crlf =
        octets >= 2 && file.read_exact_at(&mut tail, octets - 2).is_ok() && tail == *b"\r\n";
    Ok(Found {
        octets,
        ends_with_crlf,
        wire,
    })
}

/// A message being written to `tmp/`.
#[derive(Debug)]
struct Current {
    file: BufWriter<File>,
    name: String,
}

/// A finished message on its way from `tmp/` to `new/`.
#[derive(Debug)]
struct Job {
    token: u64,
    file: BufWriter<File>,
    tmp: PathBuf,
    new: PathBuf,
}

impl Job {
    /// Steps 3 and 4: flush and fsync the file, rename it into `new/`.
    fn run(self) -> io::Result<()> {
        let result = (|| {
            fault::step("maildir: flush and fsync tmp file");
            let file = self.file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            drop(file);
            fault::step("maildir: rename tmp file into new/");
            fs::rename(&self.tmp, &self.new)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }
}

/// The commit threads.
#[derive(Debug)]
struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    results: mpsc::Receiver<(u64, io::Result<()>)>,
    in_flight: usize,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Pool {
    fn new() -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let (done, results) = mpsc::channel();
        let workers = (0..COMMIT_THREADS)
            .map(|_| {
                let queue = Arc::clone(&queue);
                let done = done.clone();
                thread::spawn(move || {
                    loop {
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = job else { break };
                        let token = job.token;
                        if done.send((token, job.run())).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        Self {
            jobs: Some(jobs),
            results,
            in_flight: 0,
            workers,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A Maildir opened for delivery for one account.
#[derive(Debug)]
pub(crate) struct Maildir {
    root: PathBuf,
    host: String,
    tag: String,
    lf: Option<CrlfToLf>,
    current: Option<Current>,
    pool: Pool,
}

impl Maildir {
    /// The Maildir at `root` for the account tagged `account_tag`, delivering with LF line endings if `lf`.
    /// Creates nothing (see [`Maildir::create`]).
    ///
    /// # Errors
    /// `root` or one of its subdirectories exists and is not a directory.
    pub(crate) fn new(root: &Path, account_tag: &str, lf: bool) -> io::Result<Self> {
        for dir in [
            root.to_owned(),
            root.join("new"),
            root.join("cur"),
            root.join("tmp"),
        ] {
            if dir.exists() && !dir.is_dir() {
                return Err(io::Error::other(format!(
                    "{} exists and is not a directory",
                    dir.display()
                )));
            }
        }
        Ok(Self {
            root: root.to_owned(),
            host: maildir_hostname(),
            tag: account_tag.to_owned(),
            lf: lf.then(CrlfToLf::default),
            current: None,
            pool: Pool::new(),
        })
    }

    /// The Maildir's path.
    pub(crate) fn path(&self) -> &Path {
        &self.root
    }

    /// Creates the Maildir's directories, if missing.
    ///
    /// # Errors
    /// The directories cannot be created.
    pub(crate) fn create(&self) -> io::Result<()> {
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        let existed = self.root.join("new").is_dir();
        for sub in ["tmp", "new", "cur"] {
            builder.create(self.root.join(sub))?;
        }
        if !existed {
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Finds the keys of this account's messages in `new/` and `cur/` (none if the Maildir does not exist yet),
    /// with their files' sizes. Changes nothing.
    ///
    /// # Errors
    /// A directory or file cannot be read.
    pub(crate) fn scan(&self) -> io::Result<Recovered> {
        let marker = format!(",A={}", self.tag);
        let mut found = Recovered::default();
        for sub in ["new", "cur"] {
            let entries = match fs::read_dir(self.root.join(sub)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let Some(at) = name.find(&marker) else {
                    continue;
                };
                let rest = &name[at + marker.len()..];
                let rest = rest.split(':').next().unwrap_or_default();
                let field = |prefix: &str| rest.split(',').find_map(|f| f.strip_prefix(prefix));
                let wire = field("W=").and_then(|w| w.parse().ok());
                if let Some(key) = field("U=").and_then(crate::state::decode_key) {
                    found
                        .keys
                        .entry(key)
                        .or_default()
                        .push(examine(&entry.path(), wire)?);
                } else if let Some(digest) = field("H=") {
                    found
                        .digests
                        .entry(digest.to_owned())
                        .or_default()
                        .push(examine(&entry.path(), wire)?);
                }
            }
        }
        Ok(found)
    }

    /// Removes this account's leftovers in `tmp/`: messages that never completed. Only under the run lock, which
    /// guarantees that no other run of this account is writing them.
    ///
    /// # Errors
    /// The directory cannot be read or a file removed.
    pub(crate) fn clean_tmp(&self) -> io::Result<()> {
        let marker = format!(",A={}", self.tag);
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().contains(&marker) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Starts a message: creates `tmp/NAME`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub(crate) fn begin(&mut self, key: Option<&str>) -> io::Result<()> {
        self.discard();
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut name = format!(
            "{}.M{}P{}Q{}.{},A={}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            seq,
            self.host,
            self.tag
        );
        if let Some(key) = key {
            let encoded = encode_key(key);
            if encoded.len() <= MAX_ENCODED_KEY {
                name.push_str(",U=");
                name.push_str(&encoded);
            } else {
                name.push_str(",H=");
                name.push_str(&digest_hex(key.as_bytes()));
            }
        }
        if let Some(lf) = &mut self.lf {
            *lf = CrlfToLf::default();
        }
        fault::step("maildir: create tmp file");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.root.join("tmp").join(&name))?;
        self.current = Some(Current {
            file: BufWriter::with_capacity(64 * 1024, file),
            name,
        });
        Ok(())
    }

    /// Appends message data to the current file.
    ///
    /// # Errors
    /// The write failed, or no message was started.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let current = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("no message started"))?;
        match &mut self.lf {
            Some(lf) => lf.write(data, &mut current.file),
            None => current.file.write_all(data),
        }
    }

    /// Finishes the current message, whose size in the server's terms is `wire`: hands it to a commit thread,
    /// which flushes and fsyncs it and renames it to `new/NAME,W=wire`. [`Maildir::sync`] reports the outcome.
    ///
    /// # Errors
    /// No message was started, or the commit threads are gone.
    pub(crate) fn finish(&mut self, token: u64, wire: u64) -> io::Result<()> {
        let Some(mut current) = self.current.take() else {
            return Err(io::Error::other("no message started"));
        };
        if let Some(lf) = &mut self.lf {
            lf.finish(&mut current.file)?;
        }
        let job = Job {
            token,
            file: current.file,
            tmp: self.root.join("tmp").join(&current.name),
            new: self
                .root
                .join("new")
                .join(format!("{},W={wire}", current.name)),
        };
        let sender = self
            .pool
            .jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("no commit threads"))?;
        sender
            .send(job)
            .map_err(|_| io::Error::other("the commit threads stopped"))?;
        self.pool.in_flight += 1;
        Ok(())
    }

    /// Waits for every finished message to be in `new/`, then fsyncs `new/` (step 5). Returns each message's
    /// outcome by token; only the successful ones may be recorded as stored.
    ///
    /// # Errors
    /// The fsync of `new/` failed (then none may be recorded: the renames may not survive a power failure).
    pub(crate) fn sync(&mut self) -> io::Result<Vec<(u64, io::Result<()>)>> {
        let mut outcomes = Vec::with_capacity(self.pool.in_flight);
        while self.pool.in_flight > 0 {
            let outcome = self
                .pool
                .results
                .recv()
                .map_err(|_| io::Error::other("the commit threads stopped"))?;
            self.pool.in_flight -= 1;
            outcomes.push(outcome);
        }
        if outcomes.iter().any(|(_, r)| r.is_ok()) {
            fault::step("maildir: fsync new/");
            sync_dir(&self.root.join("new"))?;
        }
        Ok(outcomes)
    }

    /// Drops the message being written, if any (the server refused it, or the run is failing).
    pub(crate) fn discard(&mut self) {
        if let Some(current) = self.current.take() {
            drop(current.file);
            let _ = fs::remove_file(self.root.join("tmp").join(&current.name));
        }
    }
}

/// The host name for unique names, with `/`, `:` and `,` written as `\057`, `\072` and `\054`.
fn maildir_hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let raw = raw.trim();
    let raw = if raw.is_empty() { "localhost" } else { raw };
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            ',' => out.push_str("\\054"),
            c if c.is_ascii_graphic() => out.push(c),
            _ => out.push('_'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_keys_and_recover() {
        let root =
            std::env::temp_dir().join(format!("pop3-fetch-maildir-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let mut md = Maildir::new(&root, "abc123", false).unwrap();
        assert!(
            !root.exists(),
            "nothing is created before a message is ready"
        );
        assert_eq!(md.scan().unwrap().len(), 0);
        md.create().unwrap();
        let long = "x/".repeat(35);
        for key in ["a/b:c,d", long.as_str(), "plain"] {
            md.begin(Some(key)).unwrap();
            md.write(b"Subject: hi\r\n\r\n").unwrap();
            md.finish(1, 15).unwrap();
        }
        md.begin(None).unwrap();
        md.finish(2, 0).unwrap();
        let outcomes = md.sync().unwrap();
        assert_eq!(outcomes.len(), 4);
        assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
        // An unfinished message of this account and a stranger's message.
        md.begin(Some("unfinished")).unwrap();
        fs::write(root.join("new/1.M1P1Q1.other,A=ffffff,U=stranger"), b"").unwrap();
        // A reader moved one message to cur/.
        let moved = fs::read_dir(root.join("new"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| n.contains(",U=plain,"))
            .unwrap();
        fs::rename(
            root.join("new").join(&moved),
            root.join("cur").join(format!("{moved}:2,S")),
        )
        .unwrap();
        for entry in fs::read_dir(root.join("new")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(!name.contains('/') && !name[..].contains(":"), "{name}");
        }
        let found = md.scan().unwrap();
        let hi = Found {
            octets: 15,
            ends_with_crlf: true,
            wire: Some(15),
        };
        assert_eq!(found.get("a/b:c,d"), [hi]);
        assert_eq!(found.get(&long), [hi]);
        assert_eq!(found.get("plain"), [hi]);
        assert_eq!(found.get("unfinished"), []);
        assert_eq!(found.get("stranger"), []);
        assert_eq!(found.len(), 3);
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 1);
        md.clean_tmp().unwrap();
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        md.discard();
        fs::remove_dir_all(&root).unwrap();
    }
}
