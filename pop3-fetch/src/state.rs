//! The fetch state: which messages of one account are safely stored, so a later run fetches only new ones and
//! deletes only what it holds.
//!
//! # File format
//!
//! A text file, replaced atomically (written to `NAME.tmp`, fsynced, renamed over `NAME`, directory fsynced):
//!
//! ```text
//! pop3-fetch state 3
//! account alice@mail.example.org
//! server pop3-capabilities 2 implicit 995 PIPELINING mail.example.org
//! appending 1234                                        (mbox only, while an append is in progress: where
//! pending 1234 567 9f86d081884c7d65 600 600 sample-7      it started, and one line per message written but
//! pending 1801 120 0a1b2c3d4e5f6071 98 98 sample-8        not yet confirmed)
//! stored 600 600 sample-1
//! stored 4120 4067 hdr 5d41402abc4b2a76b9719d911017c592
//! ```
//!
//! Each `stored LISTED SAVED KEY` line holds one message key (see [`crate::fetch`] for how keys are made from
//! UIDL) and two sizes: `LISTED`, what the server's LIST said when the message was fetched, and `SAVED`, the size
//! of the copy stored, counted as the server counts (see [`Sizes`]). They differ only when the server sent
//! something else than it announced; such a copy is never a reason to delete the message from the server. The
//! key is the rest of the line: a unique id as the server sent it (printable ASCII, so never a line break), or a
//! synthetic key with a space in it (`<uid> #2` for the second message with a duplicated UID, `hdr <hash>` for a
//! message without a UID), which no real UID can equal.
//!
//! The `server` line is what the last session learnt of the server that the next one may use before the server's
//! CAPA is answered ([`pop3_blocking::KnownCapabilities`]' text form: whether it pipelines, whether it offers
//! UTF8), so that the next run sends CAPA, the login and the listing in one write. It is a hint: the library uses
//! it only for the same host, port and security, the live CAPA overrides it, and nothing security-related is in
//! it.
//!
//! Version 2 files (without `server`) and version 1 files (`pop3-fetch state 1`, `seen KEY` lines without sizes)
//! are still read. Version 1 messages are not fetched again, but as nothing says what was stored, they are never
//! deleted (a warning says so); such keys are written back as `stored - - KEY`.
//!
//! A file lock on `NAME.lock` (`flock`, released by the kernel however the process ends) keeps two runs for
//! the same account from working at once.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use pop3_blocking::KnownCapabilities;
use sha2::{Digest, Sha256};

use crate::fault;

const MAGIC: &str = "pop3-fetch state 3";
/// The format before the server's capabilities were remembered; still read.
const MAGIC_V2: &str = "pop3-fetch state 2";
/// The format before sizes were recorded; still read.
const MAGIC_V1: &str = "pop3-fetch state 1";

/// What was known about a stored message when it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// The size the server's LIST gave.
    pub(crate) listed: u64,
    /// The size of the copy stored, in the server's terms: the octets RETR delivered (CRLF line endings,
    /// dot-unstuffed), not counting a final CRLF the server added to a message that ended without one.
    pub(crate) saved: u64,
}

impl Sizes {
    /// Whether the stored copy is what the server announced.
    pub(crate) fn matched(self) -> bool {
        self.listed == self.saved
    }
}

/// What the state says about a message the server lists now with a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// Not stored (or the key now names a message of another size: a reused UID): fetch it.
    New,
    /// Stored, and the server's message is the one stored: it may be deleted.
    Stored,
    /// Stored, but the copy differs from what the server lists, or an older version recorded it without its
    /// size: not fetched again, and never deleted.
    Kept,
}

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
    /// The message's sizes (unknown in version 1 files).
    pub(crate) sizes: Option<Sizes>,
}

/// The state of one account, in memory; [`State::save`] makes it durable.
#[derive(Debug)]
pub(crate) struct State {
    path: PathBuf,
    account: String,
    /// Stored keys; `None` for a key a version 1 file recorded without sizes.
    seen: BTreeMap<String, Option<Sizes>>,
    pending: Vec<Pending>,
    appending: Option<u64>,
    /// What the last session learnt of the server, for the next one.
    server: Option<KnownCapabilities>,
    dirty: bool,
    /// No state file existed when this was loaded.
    new: bool,
}

impl State {
    /// Loads the state at `path`, or an empty one if there is none.
    ///
    /// # Errors
    /// The file cannot be read, is damaged or not a state file (`InvalidData`), or belongs to another account.
    pub(crate) fn load(path: &Path, account: &str) -> io::Result<Self> {
        let mut state = Self {
            path: path.to_owned(),
            account: account.to_owned(),
            seen: BTreeMap::new(),
            pending: Vec::new(),
            appending: None,
            server: None,
            dirty: false,
            new: false,
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                state.new = true;
                return Ok(state);
            }
            Err(e) => return Err(e),
        };
        let invalid = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let mut lines = BufReader::new(file).lines();
        let version = match lines.next().transpose()?.as_deref() {
            Some(MAGIC) => 3,
            Some(MAGIC_V2) => 2,
            Some(MAGIC_V1) => 1,
            None => return Err(invalid("the file is empty".to_owned())),
            Some(_) => return Err(invalid("not a pop3-fetch state file".to_owned())),
        };
        for line in lines {
            let line = line?;
            if let (Some(key), 1) = (line.strip_prefix("seen "), version) {
                state.seen.insert(key.to_owned(), None);
            } else if let Some(rest) = line.strip_prefix("stored ") {
                let (sizes, key) =
                    parse_stored(rest).ok_or_else(|| invalid(format!("bad line {line:?}")))?;
                state.seen.insert(key.to_owned(), sizes);
            } else if let Some(owner) = line.strip_prefix("account ") {
                if owner != account {
                    // Not damage: the file is fine, it is someone else's.
                    return Err(io::Error::other(format!(
                        "{}: this state belongs to account {owner}, not {account}; give another --state-file",
                        path.display()
                    )));
                }
            } else if let Some(offset) = line.strip_prefix("appending ") {
                state.appending = Some(
                    offset
                        .parse()
                        .map_err(|_| invalid(format!("bad line {line:?}")))?,
                );
            } else if let (Some(known), 3) = (line.strip_prefix("server "), version) {
                state.server = Some(
                    known
                        .parse()
                        .map_err(|_| invalid(format!("bad line {line:?}")))?,
                );
            } else if let Some(rest) = line.strip_prefix("pending ") {
                state.pending.push(
                    parse_pending(rest, version)
                        .ok_or_else(|| invalid(format!("bad line {line:?}")))?,
                );
            } else if !line.is_empty() {
                return Err(invalid(format!("unknown line {line:?}")));
            }
        }
        Ok(state)
    }

    /// Whether a message with this key is recorded as stored.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.seen.contains_key(key)
    }

    /// What the state says about the message with this key that the server now lists with `listed` octets.
    pub(crate) fn known(&self, key: &str, listed: u64) -> Known {
        match self.seen.get(key) {
            None => Known::New,
            Some(None) => Known::Kept,
            // The server now agrees with the stored copy.
            Some(Some(sizes)) if sizes.saved == listed => Known::Stored,
            // The same message as before, but the copy differs from it.
            Some(Some(sizes)) if sizes.listed == listed => Known::Kept,
            // Another message under a known key.
            Some(Some(_)) => Known::New,
        }
    }

    /// Records a message as safely stored (in memory until [`State::save`]).
    pub(crate) fn insert(&mut self, key: &str, sizes: Option<Sizes>) {
        if self.seen.get(key) != Some(&sizes) {
            self.seen.insert(key.to_owned(), sizes);
            self.dirty = true;
        }
    }

    /// Forgets a key (the message is gone from the server).
    pub(crate) fn remove(&mut self, key: &str) {
        if self.seen.remove(key).is_some() {
            self.dirty = true;
        }
    }

    /// Keeps only the keys `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.seen.len();
        self.seen.retain(|key, _| keep(key));
        self.dirty |= self.seen.len() != before;
    }

    /// How many keys were recorded without sizes (by a version 1 state file).
    pub(crate) fn unsized_keys(&self) -> usize {
        self.seen.values().filter(|s| s.is_none()).count()
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

    /// What the last session learnt of the server.
    pub(crate) fn server(&self) -> Option<&KnownCapabilities> {
        self.server.as_ref()
    }

    /// Records what this session learnt of the server (nothing, if it learnt nothing: the last hint stays).
    pub(crate) fn set_server(&mut self, known: Option<KnownCapabilities>) {
        if known.is_some() && self.server != known {
            self.server = known;
            self.dirty = true;
        }
    }

    /// Whether no state file existed when this state was loaded.
    pub(crate) fn is_new(&self) -> bool {
        self.new
    }

    /// Whether something changed since the last [`State::save`] (or the load).
    pub(crate) fn changed(&self) -> bool {
        self.dirty
    }

    /// Where an unconfirmed mbox append started, if one is in progress.
    pub(crate) fn appending(&self) -> Option<u64> {
        self.appending
    }

    /// Records (or, with `None`, clears) where an mbox append starts.
    pub(crate) fn set_appending(&mut self, offset: Option<u64>) {
        if self.appending != offset {
            self.appending = offset;
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
        if let Some(known) = &self.server {
            text.push_str(&format!("server {known}\n"));
        }
        if let Some(offset) = self.appending {
            text.push_str(&format!("appending {offset}\n"));
        }
        for p in &self.pending {
            let key = p.key.as_deref().map_or_else(|| "-".to_owned(), encode_key);
            let sizes = p
                .sizes
                .map_or_else(|| "- -".to_owned(), |s| format!("{} {}", s.listed, s.saved));
            text.push_str(&format!(
                "pending {} {} {} {sizes} {key}\n",
                p.offset, p.len, p.digest
            ));
        }
        for (key, sizes) in &self.seen {
            match sizes {
                Some(s) => text.push_str(&format!("stored {} {} {key}\n", s.listed, s.saved)),
                None => text.push_str(&format!("stored - - {key}\n")),
            }
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

/// A `stored` line's sizes (`- -`: unknown, from a version 1 file) and key.
fn parse_stored(rest: &str) -> Option<(Option<Sizes>, &str)> {
    let mut fields = rest.splitn(3, ' ');
    let sizes = match (fields.next()?, fields.next()?) {
        ("-", "-") => None,
        (listed, saved) => Some(Sizes {
            listed: listed.parse().ok()?,
            saved: saved.parse().ok()?,
        }),
    };
    let key = fields.next().filter(|k| !k.is_empty())?;
    Some((sizes, key))
}

fn parse_pending(rest: &str, version: u32) -> Option<Pending> {
    let mut fields = rest.split(' ');
    let offset = fields.next()?.parse().ok()?;
    let len = fields.next()?.parse().ok()?;
    let digest = fields.next()?.to_owned();
    let sizes = match version {
        1 => None,
        _ => match (fields.next()?, fields.next()?) {
            ("-", "-") => None,
            (listed, saved) => Some(Sizes {
                listed: listed.parse().ok()?,
                saved: saved.parse().ok()?,
            }),
        },
    };
    let key = match fields.next()? {
        "-" => None,
        encoded => Some(decode_key(encoded)?),
    };
    fields.next().is_none().then_some(Pending {
        offset,
        len,
        digest,
        key,
        sizes,
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
        let exact = Sizes {
            listed: 600,
            saved: 600,
        };
        let short = Sizes {
            listed: 600,
            saved: 412,
        };
        state.insert("a", Some(exact));
        state.insert("b #2", Some(short));
        state.set_pending(vec![
            Pending {
                offset: 10,
                len: 20,
                digest: "abcd".into(),
                key: Some("x y/z".into()),
                sizes: Some(exact),
            },
            Pending {
                offset: 30,
                len: 5,
                digest: "ef".into(),
                key: None,
                sizes: None,
            },
        ]);
        state.save().unwrap();
        let loaded = State::load(&path, "u@h").unwrap();
        assert!(loaded.contains("a") && loaded.contains("b #2"));
        assert_eq!(loaded.known("a", 600), Known::Stored);
        assert_eq!(loaded.known("a", 601), Known::New, "a reused UID");
        assert_eq!(loaded.known("b #2", 600), Known::Kept, "the copy is short");
        assert_eq!(
            loaded.known("b #2", 412),
            Known::Stored,
            "the server now agrees"
        );
        assert_eq!(loaded.known("c", 600), Known::New);
        assert_eq!(loaded.pending()[0].sizes, Some(exact));
        assert_eq!(loaded.pending()[0].key.as_deref(), Some("x y/z"));
        assert_eq!(loaded.pending()[1].key, None);
        assert_eq!(loaded.pending()[1].offset, 30);
        let other = State::load(&path, "other@h").unwrap_err();
        assert_ne!(other.kind(), io::ErrorKind::InvalidData, "not damage");
        assert!(
            other.to_string().contains("belongs to account u@h"),
            "{other}"
        );
        let lock = RunLock::acquire(&path).unwrap();
        assert_eq!(
            RunLock::acquire(&path).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(lock);
        RunLock::acquire(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn version_1_keys_are_known_but_never_deletable_and_survive_a_save() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-state-v1-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        fs::write(
            &path,
            "pop3-fetch state 1\naccount u@h\npending 0 10 ab x\nseen old-1\nseen hdr 0a1b\n",
        )
        .unwrap();
        let mut state = State::load(&path, "u@h").unwrap();
        assert_eq!(state.known("old-1", 600), Known::Kept);
        assert_eq!(state.known("hdr 0a1b", 0), Known::Kept);
        assert_eq!(state.pending()[0].sizes, None);
        assert_eq!(state.unsized_keys(), 2);
        state.insert(
            "new-1",
            Some(Sizes {
                listed: 5,
                saved: 5,
            }),
        );
        state.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("pop3-fetch state 3\n"), "{text}");
        assert!(text.contains("stored - - hdr 0a1b\n"), "{text}");
        let reloaded = State::load(&path, "u@h").unwrap();
        assert_eq!(reloaded.known("hdr 0a1b", 0), Known::Kept);
        assert_eq!(reloaded.known("new-1", 5), Known::Stored);

        fs::write(&path, "").unwrap();
        let error = State::load(&path, "u@h").unwrap_err();
        assert!(error.to_string().contains("is empty"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
    #[test]
    fn the_server_hint_is_kept_across_runs_and_version_2_files_are_still_read() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-state-v3-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        fs::write(&path, "pop3-fetch state 2\naccount u@h\nstored 5 5 a\n").unwrap();
        let mut state = State::load(&path, "u@h").unwrap();
        assert_eq!(state.server(), None);
        assert_eq!(state.known("a", 5), Known::Stored);

        let hint: KnownCapabilities = "pop3-capabilities 2 implicit 995 PIPELINING h"
            .parse()
            .unwrap();
        state.set_server(Some(hint.clone()));
        assert!(state.changed());
        state.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "pop3-fetch state 3\naccount u@h\nserver pop3-capabilities 2 implicit 995 PIPELINING h\nstored 5 5 a\n"
        );
        let mut reloaded = State::load(&path, "u@h").unwrap();
        assert_eq!(reloaded.server(), Some(&hint));
        reloaded.set_server(None);
        assert!(
            !reloaded.changed(),
            "a session that learnt nothing keeps the hint"
        );
        reloaded.set_server(Some(hint));
        assert!(!reloaded.changed(), "the same hint is no change");

        for bad in [
            "pop3-fetch state 3\naccount u@h\nserver pop3-capabilities 9 implicit 995 - h\n",
            "pop3-fetch state 2\naccount u@h\nserver pop3-capabilities 2 implicit 995 - h\n",
        ] {
            fs::write(&path, bad).unwrap();
            let error = State::load(&path, "u@h").unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
