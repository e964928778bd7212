//! The fetch state: which messages of one account are safely stored, so a later run fetches only new ones.
//!
//! # File format
//!
//! A text file, replaced atomically (written to `NAME.tmp`, fsynced, renamed over `NAME`, directory fsynced):
//!
//! ```text
//! pop3-fetch state 1
//! account alice@mail.example.org
//! pending 1234 567 9f86d081884c7d65 sample-7          (mbox only, while an append is in progress:
//! pending 1801 120 0a1b2c3d4e5f60718 sample-8           one line per message appended in one go)
//! seen sample-1
//! seen sample-2
//! ```
//!
//! Each `seen` line holds one message key (see [`crate::fetch`] for how keys are made from UIDL): a unique id
//! as the server sent it (printable ASCII, so never a line break), or a synthetic key with a space in it
//! (`<uid> #2` for the second message with a duplicated UID, `hdr <hash>` for a message without a UID), which no
//! real UID can equal.
//!
//! A file lock on `NAME.lock` (`flock`, released by the kernel however the process ends) keeps two runs for
//! the same account from working at once.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fault;

const MAGIC: &str = "pop3-fetch state 1";

/// One message of an mbox append that was started but not yet confirmed (see [`crate::mbox`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Where the entry starts in the mbox.
    pub(crate) offset: u64,
    /// The length of the entry appended.
    pub(crate) len: u64,
    /// Hex SHA-256 prefix of the entry.
    pub(crate) digest: String,
    /// The message key, if it has one.
    pub(crate) key: Option<String>,
}

/// The state of one account, in memory; [`State::save`] makes it durable.
#[derive(Debug)]
pub(crate) struct State {
    path: PathBuf,
    account: String,
    seen: BTreeSet<String>,
    pending: Vec<Pending>,
    dirty: bool,
}

impl State {
    /// Loads the state at `path`, or an empty one if there is none.
    ///
    /// # Errors
    /// The file cannot be read, is not a state file, or belongs to another account.
    pub(crate) fn load(path: &Path, account: &str) -> io::Result<Self> {
        let mut state = Self {
            path: path.to_owned(),
            account: account.to_owned(),
            seen: BTreeSet::new(),
            pending: Vec::new(),
            dirty: false,
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(state),
            Err(e) => return Err(e),
        };
        let invalid = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let mut lines = BufReader::new(file).lines();
        if lines.next().transpose()?.as_deref() != Some(MAGIC) {
            return Err(invalid("not a pop3-fetch state file".to_owned()));
        }
        for line in lines {
            let line = line?;
            if let Some(key) = line.strip_prefix("seen ") {
                state.seen.insert(key.to_owned());
            } else if let Some(owner) = line.strip_prefix("account ") {
                if owner != account {
                    return Err(invalid(format!(
                        "this state belongs to account {owner}, not {account}; give another --state-file"
                    )));
                }
            } else if let Some(rest) = line.strip_prefix("pending ") {
                state.pending.push(
                    parse_pending(rest).ok_or_else(|| invalid(format!("bad line {line:?}")))?,
                );
            } else if !line.is_empty() {
                return Err(invalid(format!("unknown line {line:?}")));
            }
        }
        Ok(state)
    }

    /// Whether the message with this key is safely stored.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.seen.contains(key)
    }

    /// Records a message as safely stored (in memory until [`State::save`]).
    pub(crate) fn insert(&mut self, key: &str) {
        if self.seen.insert(key.to_owned()) {
            self.dirty = true;
        }
    }

    /// Forgets a key (the message is gone from the server).
    pub(crate) fn remove(&mut self, key: &str) {
        if self.seen.remove(key) {
            self.dirty = true;
        }
    }

    /// Keeps only the keys `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.seen.len();
        self.seen.retain(|key| keep(key));
        self.dirty |= self.seen.len() != before;
    }

    /// How many keys are recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    /// The unconfirmed mbox appends, in mbox order.
    pub(crate) fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// Sets (or, with an empty list, clears) the unconfirmed mbox appends.
    pub(crate) fn set_pending(&mut self, pending: Vec<Pending>) {
        if self.pending != pending {
            self.pending = pending;
            self.dirty = true;
        }
    }

    /// Writes the state if it changed: to `NAME.tmp`, fsync, rename over `NAME`, fsync the directory.
    ///
    /// # Errors
    /// Any of those steps failed; the old state file is then still intact.
    pub(crate) fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut text = String::with_capacity(64 + self.seen.len() * 24);
        text.push_str(MAGIC);
        text.push('\n');
        text.push_str("account ");
        text.push_str(&self.account);
        text.push('\n');
        for p in &self.pending {
            let key = p.key.as_deref().map_or_else(|| "-".to_owned(), encode_key);
            text.push_str(&format!(
                "pending {} {} {} {key}\n",
                p.offset, p.len, p.digest
            ));
        }
        for key in &self.seen {
            text.push_str("seen ");
            text.push_str(key);
            text.push('\n');
        }
        let tmp = with_suffix(&self.path, ".tmp");
        fault::step("state: write temporary file");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        fault::step("state: fsync temporary file");
        file.sync_all()?;
        drop(file);
        fault::step("state: rename over the state file");
        fs::rename(&tmp, &self.path)?;
        fault::step("state: fsync directory");
        sync_dir(parent(&self.path))?;
        self.dirty = false;
        Ok(())
    }
}

fn parse_pending(rest: &str) -> Option<Pending> {
    let mut fields = rest.split(' ');
    let offset = fields.next()?.parse().ok()?;
    let len = fields.next()?.parse().ok()?;
    let digest = fields.next()?.to_owned();
    let key = match fields.next()? {
        "-" => None,
        encoded => Some(decode_key(encoded)?),
    };
    fields.next().is_none().then_some(Pending {
        offset,
        len,
        digest,
        key,
    })
}

/// Holds the per-account lock for the life of the run.
#[derive(Debug)]
pub(crate) struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock `NAME.lock` next to the state file `NAME`, without waiting.
    ///
    /// # Errors
    /// Another run holds it (`WouldBlock`), or the file cannot be opened.
    pub(crate) fn acquire(state_path: &Path) -> io::Result<Self> {
        let path = with_suffix(state_path, ".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another pop3-fetch is running for this account (lock {} is held); \
                     wait for it to finish",
                    path.display()
                ),
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, making the renames and creations in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Encodes a message key for a file name or a state field: ASCII letters, digits and `-_.+=@` stay, every
/// other byte becomes `%XX`. The result never holds `/`, `:`, `,`, a space or a line break.
pub(crate) fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.+=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`encode_key`].
pub(crate) fn decode_key(text: &str) -> Option<String> {
    crate::url::percent_decode(text).ok()
}

/// A short hex digest (128 bits of SHA-256) of `data`.
pub(crate) fn digest_hex(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_encoding_is_file_name_safe_and_reversible() {
        for key in [
            "sample-1",
            "a/b:c,d e%f",
            "AAAA+/==",
            "uid #2",
            "hdr 0123abcd",
            "~!\"#$&'()*;<>?[\\]^`{|}",
        ] {
            let encoded = encode_key(key);
            assert!(!encoded.contains(['/', ':', ',', ' ', '\n']), "{encoded}");
            assert_eq!(decode_key(&encoded).as_deref(), Some(key));
        }
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir =
            std::env::temp_dir().join(format!("pop3-fetch-state-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let mut state = State::load(&path, "u@h").unwrap();
        assert_eq!(state.len(), 0);
        state.insert("a");
        state.insert("b #2");
        state.set_pending(vec![
            Pending {
                offset: 10,
                len: 20,
                digest: "abcd".into(),
                key: Some("x y/z".into()),
            },
            Pending {
                offset: 30,
                len: 5,
                digest: "ef".into(),
                key: None,
            },
        ]);
        state.save().unwrap();
        let loaded = State::load(&path, "u@h").unwrap();
        assert!(loaded.contains("a") && loaded.contains("b #2"));
        assert_eq!(loaded.pending()[0].key.as_deref(), Some("x y/z"));
        assert_eq!(loaded.pending()[1].key, None);
        assert_eq!(loaded.pending()[1].offset, 30);
        assert!(State::load(&path, "other@h").is_err());
        let lock = RunLock::acquire(&path).unwrap();
        assert_eq!(
            RunLock::acquire(&path).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(lock);
        RunLock::acquire(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
