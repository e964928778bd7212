//! mbox delivery in the `mboxrd` format, crash-safe and recoverable.
//!
//! # Format
//!
//! Each message becomes `From SENDER DATE\n`, its lines with CRLF turned into LF, a final line break if it had
//! none, and an empty line. SENDER is the address in `Return-Path:` (or `MAILER-DAEMON`), DATE the delivery time
//! in `asctime` form (UTC). Lines matching `^>*From ` get one more `>` (mboxrd), so a reader that removes one `>`
//! from such lines gets the message back exactly (up to the line endings).
//!
//! # Appending without locks
//!
//! The mbox is opened with `O_APPEND`, and messages are added in groups (up to 4 MiB, or the end of a batch
//! of RETRs) by one `write_all` of the complete entries, then one `fdatasync`. No dotlock or `fcntl` lock is taken, so no lock can be left behind by a crash; in exchange,
//! no other program may *rewrite* the mbox (a mail reader expunging messages) while pop3-fetch runs. Other
//! appenders are tolerated, but a crash right after pop3-fetch's append then cannot always be verified (see
//! below) and that message is fetched again.
//!
//! # Crash safety
//!
//! Before the append, the state file records one `pending OFFSET LEN DIGEST KEY` line per entry (where it will
//! start, its length and hash, the message key) and is replaced atomically and fsynced. After the append and its
//! fsync, the keys move to `seen` and the `pending` lines are dropped (state saved again). On the next run,
//! leftover `pending` lines are resolved in order: an entry found complete at its OFFSET with the right hash
//! counts as stored; a torn prefix of an entry at the end of the file is truncated away (so the next entry does
//! not merge into a partial line) and that message, like any not found, is fetched again. A crash before the
//! first state save leaves nothing appended; a crash after the second leaves nothing pending.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fault;
use crate::state::{Pending, State, digest_hex, parent, sync_dir};

/// Largest group of messages appended (and fsynced) in one go.
const GROUP_BYTES: usize = 4 << 20;

/// A message formatted and waiting in the current group.
#[derive(Debug)]
struct Queued {
    token: u64,
    len: u64,
    digest: String,
    key: Option<String>,
}

/// An mbox opened for delivery.
#[derive(Debug)]
pub(crate) struct Mbox {
    path: PathBuf,
    buf: Vec<u8>,
    started: bool,
    group: Vec<u8>,
    queued: Vec<Queued>,
    committed: Vec<u64>,
}

impl Mbox {
    /// Opens (creating if needed) the mbox at `path`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let existed = path.exists();
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        if !existed {
            sync_dir(parent(path))?;
        }
        Ok(Self {
            path: path.to_owned(),
            buf: Vec::new(),
            started: false,
            group: Vec::new(),
            queued: Vec::new(),
            committed: Vec::new(),
        })
    }

    /// The mbox's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves appends left unconfirmed by a crash (see the module documentation). Returns a note for the
    /// user when something was done.
    ///
    /// # Errors
    /// The mbox or the state cannot be read or written.
    pub(crate) fn recover(&self, state: &mut State) -> io::Result<Option<String>> {
        let pending = state.pending().to_vec();
        if pending.is_empty() {
            return Ok(None);
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        let len = file.metadata()?.len();
        let mut note = None;
        for p in &pending {
            let end = p.offset + p.len;
            if len >= end {
                let mut entry = vec![0; usize::try_from(p.len).map_err(io::Error::other)?];
                file.seek(SeekFrom::Start(p.offset))?;
                file.read_exact(&mut entry)?;
                if digest_hex(&entry) != p.digest {
                    note = Some(format!(
                        "cannot verify the last append to {} (another program changed the mbox); \
                         the messages of the interrupted run will be fetched again",
                        self.path.display()
                    ));
                    break;
                }
                if let Some(key) = &p.key {
                    state.insert(key);
                }
            } else {
                if len > p.offset {
                    let mut head = [0u8; 5];
                    file.seek(SeekFrom::Start(p.offset))?;
                    let torn = file.read_exact(&mut head).is_ok() && &head == b"From ";
                    note = Some(if torn {
                        fault::step("mbox: truncate a torn append");
                        file.set_len(p.offset)?;
                        file.sync_all()?;
                        format!(
                            "removed an incomplete message from the end of {} (left by an interrupted run); \
                             it will be fetched again",
                            self.path.display()
                        )
                    } else {
                        format!(
                            "{} changed since an interrupted run; that run's last messages will be fetched again",
                            self.path.display()
                        )
                    });
                }
                break;
            }
        }
        state.set_pending(Vec::new());
        state.save()?;
        Ok(note)
    }

    /// Starts a message.
    pub(crate) fn begin(&mut self) {
        self.buf.clear();
        self.started = true;
    }

    /// Adds message data (held in memory until the message's group is appended).
    ///
    /// # Errors
    /// No message was started.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.started {
            return Err(io::Error::other("no message started"));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Completes the current message: formats it and queues it for the next group append, which happens
    /// here once the group holds [`GROUP_BYTES`], or at [`Mbox::sync`].
    ///
    /// # Errors
    /// No message was started, or a group append failed.
    pub(crate) fn finish(
        &mut self,
        token: u64,
        key: Option<&str>,
        state: &mut State,
    ) -> io::Result<()> {
        if !std::mem::take(&mut self.started) {
            return Err(io::Error::other("no message started"));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let entry = mboxrd_entry(&self.buf, now);
        self.buf = Vec::new();
        self.queued.push(Queued {
            token,
            len: entry.len() as u64,
            digest: digest_hex(&entry),
            key: key.map(str::to_owned),
        });
        self.group.extend_from_slice(&entry);
        if self.group.len() >= GROUP_BYTES {
            self.append_group(state)?;
        }
        Ok(())
    }

    /// Appends the queued messages durably and records them in `state`; returns the tokens of every message
    /// stored since the last call.
    ///
    /// # Errors
    /// A write or fsync failed.
    pub(crate) fn sync(&mut self, state: &mut State) -> io::Result<Vec<u64>> {
        self.append_group(state)?;
        Ok(std::mem::take(&mut self.committed))
    }

    /// The append itself, in the order the module documentation gives.
    fn append_group(&mut self, state: &mut State) -> io::Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let group = std::mem::take(&mut self.group);
        let queued = std::mem::take(&mut self.queued);
        let mut file = OpenOptions::new().append(true).open(&self.path)?;
        let mut offset = file.metadata()?.len();
        let pending = queued
            .iter()
            .map(|q| {
                let p = Pending {
                    offset,
                    len: q.len,
                    digest: q.digest.clone(),
                    key: q.key.clone(),
                };
                offset += q.len;
                p
            })
            .collect();
        state.set_pending(pending);
        state.save()?;
        fault::step("mbox: append the entries");
        file.write_all(&group)?;
        fault::step("mbox: fsync the mbox");
        file.sync_data()?;
        for q in &queued {
            if let Some(key) = &q.key {
                state.insert(key);
            }
        }
        state.set_pending(Vec::new());
        state.save()?;
        self.committed.extend(queued.iter().map(|q| q.token));
        Ok(())
    }

    /// Drops the message being collected (complete messages stay queued).
    pub(crate) fn discard(&mut self) {
        self.buf = Vec::new();
        self.started = false;
    }
}

/// Formats one mboxrd entry: the `From ` line, the message with LF line endings and `>*From ` lines quoted, a
/// final line break, and the empty separator line.
pub(crate) fn mboxrd_entry(message: &[u8], unix_time: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 40 + 80);
    out.extend_from_slice(b"From ");
    out.extend_from_slice(envelope_sender(message).as_bytes());
    out.push(b' ');
    out.extend_from_slice(asctime(unix_time).as_bytes());
    out.push(b'\n');
    let mut lines = message.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() && lines.peek().is_none() {
            break; // the message ended with a line break
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let unquoted = &line[line.iter().take_while(|&&b| b == b'>').count()..];
        if unquoted.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The address in the header's `Return-Path:`, or `MAILER-DAEMON`.
fn envelope_sender(message: &[u8]) -> String {
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > 12 && line[..12].eq_ignore_ascii_case(b"return-path:") {
            let value = String::from_utf8_lossy(&line[12..]);
            let address = value.trim().trim_start_matches('<').trim_end_matches('>');
            if !address.is_empty()
                && address.len() <= 254
                && address.chars().all(|c| c.is_ascii_graphic())
            {
                return address.to_owned();
            }
            break;
        }
    }
    "MAILER-DAEMON".to_owned()
}

/// `Thu Jan  1 00:00:00 1970` for a Unix time (UTC).
fn asctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn remove(path: &Path) {
        let _ = fs::remove_file(path);
    }

    fn body(entry: &[u8]) -> &[u8] {
        let first = entry.iter().position(|&b| b == b'\n').unwrap();
        &entry[first + 1..]
    }

    #[test]
    fn from_lines_are_quoted_mboxrd_style() {
        let msg = b"Subject: x\r\n\r\nFrom here\r\n>From there\r\n>>From everywhere\r\nFromage\r\n From not\r\nfrom lower\r\n";
        let entry = mboxrd_entry(msg, 0);
        assert_eq!(
            body(&entry),
            b"Subject: x\n\n>From here\n>>From there\n>>>From everywhere\nFromage\n From not\nfrom lower\n\n"
        );
    }

    #[test]
    fn unquoting_gives_the_message_back() {
        let msg = b"A: b\n\nFrom x\n>From y\n>>>From z\n>Fro\n";
        let entry = mboxrd_entry(msg, 0);
        let mut back = Vec::new();
        for line in body(&entry).split(|&b| b == b'\n') {
            let quotes = line.iter().take_while(|&&b| b == b'>').count();
            if quotes > 0 && line[quotes..].starts_with(b"From ") {
                back.extend_from_slice(&line[1..]);
            } else {
                back.extend_from_slice(line);
            }
            back.push(b'\n');
        }
        // The entry ends with the message's own line break plus the separator line.
        assert!(back.ends_with(b"\n\n\n"));
        back.truncate(back.len() - 2);
        assert_eq!(back, msg);
    }

    #[test]
    fn final_line_break_and_empty_message() {
        assert_eq!(
            body(&mboxrd_entry(b"A: b\r\n\r\nno newline", 0)),
            b"A: b\n\nno newline\n\n"
        );
        assert_eq!(body(&mboxrd_entry(b"", 0)), b"\n");
        assert_eq!(body(&mboxrd_entry(b"\r\n", 0)), b"\n\n");
    }

    #[test]
    fn from_line_sender_and_date() {
        let entry = mboxrd_entry(
            b"Return-Path: <alice@example.org>\r\nSubject: s\r\n\r\nhi\r\n",
            0,
        );
        assert!(entry.starts_with(b"From alice@example.org Thu Jan  1 00:00:00 1970\n"));
        let entry = mboxrd_entry(
            b"Subject: s\r\n\r\nReturn-Path: <not@header>\r\n",
            1_700_000_000,
        );
        assert!(
            entry.starts_with(b"From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n"),
            "{}",
            String::from_utf8_lossy(&entry)
        );
        let entry = mboxrd_entry(b"Return-Path: <>\r\n\r\n", 0);
        assert!(entry.starts_with(b"From MAILER-DAEMON "));
    }

    #[test]
    fn torn_append_is_truncated_and_complete_ones_recovered() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-mbox-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mbox");
        remove(&path);
        let state_path = dir.join("state");
        remove(&state_path);
        let mut state = State::load(&state_path, "u@h").unwrap();
        let mut mbox = Mbox::open(&path).unwrap();
        mbox.begin();
        mbox.write(b"Subject: one\r\n\r\nbody\r\n").unwrap();
        mbox.finish(1, Some("k1"), &mut state).unwrap();
        assert!(!state.contains("k1"), "not before the group is appended");
        assert_eq!(mbox.sync(&mut state).unwrap(), vec![1]);
        assert!(state.contains("k1"));
        let good_len = fs::metadata(&path).unwrap().len();

        // Simulate a crash in the middle of a group of two: the first complete, the second torn.
        let two = mboxrd_entry(b"Subject: two\r\n\r\nbody two\r\n", 0);
        let three = mboxrd_entry(b"Subject: three\r\n\r\nbody three\r\n", 0);
        let pending = |key2: &str, key3: &str| {
            vec![
                Pending {
                    offset: good_len,
                    len: two.len() as u64,
                    digest: digest_hex(&two),
                    key: Some(key2.into()),
                },
                Pending {
                    offset: good_len + two.len() as u64,
                    len: three.len() as u64,
                    digest: digest_hex(&three),
                    key: Some(key3.into()),
                },
            ]
        };
        state.set_pending(pending("k2", "k3"));
        state.save().unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&two).unwrap();
        f.write_all(&three[..three.len() / 2]).unwrap();
        let note = mbox.recover(&mut state).unwrap();
        assert!(note.unwrap().contains("incomplete"));
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            good_len + two.len() as u64
        );
        assert!(state.contains("k2") && !state.contains("k3"));
        assert!(state.pending().is_empty());

        // A crash after a complete append, before the state said so.
        state.set_pending(pending("k2", "k3")[1..].to_vec());
        f.write_all(&three).unwrap();
        assert_eq!(mbox.recover(&mut state).unwrap(), None);
        assert!(state.contains("k3"));
        // Reloading gives the same.
        let reloaded = State::load(&state_path, "u@h").unwrap();
        assert!(reloaded.contains("k1") && reloaded.contains("k2") && reloaded.contains("k3"));
        assert!(reloaded.pending().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
