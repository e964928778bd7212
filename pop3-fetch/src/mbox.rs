//! mbox delivery in the `mboxrd` format, streamed, crash-safe and recoverable.
//!
//! # Format
//!
//! Each message becomes `From SENDER DATE\n`, its lines with CRLF turned into LF, a final line break if it had
//! none, and an empty line. SENDER is the address in `Return-Path:` (or `MAILER-DAEMON`), DATE the delivery time
//! in `asctime` form (UTC). Lines matching `^>*From ` get one more `>` (mboxrd), so a reader that removes one `>`
//! from such lines gets the message back exactly (up to the line endings).
//!
//! Before the first entry of a run, a file whose last line has no line break gets one, and a file that does not
//! end with an empty line gets one too (as mutt and procmail do): otherwise the new `From ` line would be glued
//! to the old message's last line and mail readers would see one message fewer.
//!
//! # Streaming in constant memory
//!
//! A message goes to the file as RETR delivers it: only its header is held (up to [`MAX_HEADER`], to find the
//! sender for the `From ` line), and the quoting and line-ending conversion are done on the fly, so a message of
//! any size costs a few hundred KiB. A message that does not complete (the connection broke, the server refused
//! it) is cut off again: the file is truncated to where its entry began.
//!
//! Entries are written piecewise and rolled back by truncation, so pop3-fetch holds the locks mutt and procmail
//! take (an `fcntl` lock and the dotlock `FILE.lock`, see [`crate::mbox_lock`]) from the first byte of a group
//! of messages until the group is confirmed, and while it truncates what an interrupted run left. Programs that
//! honour neither lock must not write the mbox while pop3-fetch runs. A dotlock left by a crash is removed by
//! the next run (its process is gone).
//!
//! # Crash safety
//!
//! Messages are appended in groups (up to 4 MiB, or the end of a batch of RETRs). Before the first byte of a
//! group, the state file records where the group starts (`appending OFFSET`). When the group is complete, the
//! state records one `pending OFFSET LEN DIGEST LISTED SAVED KEY` line per entry, the mbox is fsynced, and then
//! the keys move to `stored` and the `appending` and `pending` lines are dropped. On the next run, a leftover
//! group is resolved in order: an entry found complete at its offset with the right hash counts as stored; what
//! follows the last such entry was written by the interrupted run and is truncated away (if it starts with a
//! `From ` line; otherwise the mbox was changed by someone else and is left alone, with a warning), and those
//! messages are fetched again.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::fault;
use crate::mbox_lock::MboxLock;
use crate::state::{Pending, Sizes, State, digest_hex, parent, sync_dir};

/// Largest group of messages appended before the group is confirmed (fsync and state update).
const GROUP_BYTES: u64 = 4 << 20;

/// Most header octets held to find the sender; a longer header gets `MAILER-DAEMON`.
const MAX_HEADER: usize = 64 * 1024;

/// Output buffered before a write to the file.
const WRITE_BUFFER: usize = 256 * 1024;

/// A message written and waiting for its group to be confirmed.
#[derive(Debug)]
struct Queued {
    token: u64,
    pending: Pending,
}

/// The entry being written.
#[derive(Debug)]
struct Entry {
    /// Where it starts in the file.
    offset: u64,
    /// The header collected so far, until the `From ` line is written.
    header: Option<Vec<u8>>,
    quoter: Quoter,
    hasher: Sha256,
    len: u64,
}

/// An mbox opened for delivery. Nothing is created or written until the first message arrives.
#[derive(Debug)]
pub(crate) struct Mbox {
    path: PathBuf,
    file: Option<File>,
    /// Entry octets not yet written to the file.
    out: Vec<u8>,
    /// The file's length, as far as this run wrote it.
    end: u64,
    current: Option<Entry>,
    /// Where the unconfirmed group starts, once recorded in the state.
    group_start: Option<u64>,
    queued: Vec<Queued>,
    committed: Vec<u64>,
    /// Held from the start of a group until it is confirmed.
    lock: Option<MboxLock>,
}

impl Mbox {
    /// An mbox at `path`; checks that it can be one, creates nothing.
    ///
    /// # Errors
    /// `path` exists and is not a regular file, or its directory does not exist.
    pub(crate) fn new(path: &Path) -> io::Result<Self> {
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(io::Error::other("it exists and is not a regular file"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !parent(path).is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("the directory {} does not exist", parent(path).display()),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
        Ok(Self {
            path: path.to_owned(),
            file: None,
            out: Vec::new(),
            end: 0,
            current: None,
            group_start: None,
            queued: Vec::new(),
            committed: Vec::new(),
            lock: None,
        })
    }

    /// The mbox's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens (creating if needed) the file for appending.
    fn file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let existed = self.path.exists();
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&self.path)?;
            if !existed {
                sync_dir(parent(&self.path))?;
            }
            self.end = file.metadata()?.len();
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Resolves an append left unconfirmed by a crash (see the module documentation). Returns a note for the
    /// user when something was done.
    ///
    /// # Errors
    /// The mbox or the state cannot be read or written.
    pub(crate) fn recover(&self, state: &mut State) -> io::Result<Option<String>> {
        let pending = state.pending().to_vec();
        let Some(start) = state.appending().or(pending.first().map(|p| p.offset)) else {
            return Ok(None);
        };
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                state.set_pending(Vec::new());
                state.set_appending(None);
                state.save()?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let _lock = MboxLock::acquire(&self.path, &file)?;
        let len = file.metadata()?.len();
        let mut verified_end = start;
        for p in &pending {
            let end = p.offset + p.len;
            if p.offset != verified_end || len < end {
                break;
            }
            let mut entry = vec![0; usize::try_from(p.len).map_err(io::Error::other)?];
            file.read_exact_at(&mut entry, p.offset)?;
            if digest_hex(&entry) != p.digest {
                break;
            }
            if let Some(key) = &p.key {
                state.insert(key, p.sizes);
            }
            verified_end = end;
        }
        let mut note = None;
        if len > verified_end {
            let mut head = [0u8; 5];
            file.seek(SeekFrom::Start(verified_end))?;
            let ours = file.read_exact(&mut head).is_ok() && &head == b"From ";
            note = Some(if ours {
                fault::step("mbox: truncate an unconfirmed append");
                file.set_len(verified_end)?;
                file.sync_all()?;
                format!(
                    "removed {} octet(s) of unconfirmed messages from the end of {} (left by an interrupted \
                     run); they will be fetched again",
                    len - verified_end,
                    self.path.display()
                )
            } else {
                format!(
                    "{} changed since an interrupted run; that run's last messages will be fetched again",
                    self.path.display()
                )
            });
        }
        state.set_pending(Vec::new());
        state.set_appending(None);
        state.save()?;
        Ok(note)
    }

    /// Starts a message. The first one of a group records in `state` where the group starts.
    ///
    /// # Errors
    /// The file cannot be opened or written, or the state cannot be saved.
    pub(crate) fn begin(&mut self, state: &mut State) -> io::Result<()> {
        if self.current.is_some() {
            self.discard()?;
        }
        if self.group_start.is_none() {
            let path = self.path.clone();
            let lock = MboxLock::acquire(&path, self.file()?)?;
            self.lock = Some(lock);
            // Another program may have appended since the file was opened.
            self.end = self.file()?.metadata()?.len();
            self.end_previous_message()?;
            state.set_appending(Some(self.end));
            state.save()?;
            self.group_start = Some(self.end);
        }
        self.current = Some(Entry {
            offset: self.end + self.out.len() as u64,
            header: Some(Vec::new()),
            quoter: Quoter::default(),
            hasher: Sha256::new(),
            len: 0,
        });
        Ok(())
    }

    /// Makes sure the file ends with a line break and an empty line, so the next `From ` line starts a message.
    fn end_previous_message(&mut self) -> io::Result<()> {
        let end = self.end;
        let file = self.file()?;
        let mut tail = [0u8; 2];
        let have = end.min(2) as usize;
        file.read_exact_at(&mut tail[..have], end - have as u64)?;
        let padding: &[u8] = match &tail[..have] {
            [] | [b'\n', b'\n'] => b"",
            [b'\n'] | [_, b'\n'] => b"\n",
            _ => b"\n\n",
        };
        if !padding.is_empty() {
            fault::step("mbox: end the last message with an empty line");
            file.write_all(padding)?;
            self.end += padding.len() as u64;
        }
        Ok(())
    }

    /// Adds message data.
    ///
    /// # Errors
    /// No message was started, or a write failed.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let entry = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("no message started"))?;
        let mut sink = EntrySink {
            out: &mut self.out,
            hasher: &mut entry.hasher,
            len: &mut entry.len,
        };
        match &mut entry.header {
            Some(header) => {
                header.extend_from_slice(data);
                if header_complete(header) || header.len() > MAX_HEADER {
                    let header = entry.header.take().unwrap_or_default();
                    write_from_line(&mut sink, &header)?;
                    entry.quoter.push(&header, &mut sink)?;
                }
            }
            None => entry.quoter.push(data, &mut sink)?,
        }
        self.spill()
    }

    /// Writes the buffered output to the file once there is enough of it.
    fn spill(&mut self) -> io::Result<()> {
        if self.out.len() >= WRITE_BUFFER {
            self.flush_out()?;
        }
        Ok(())
    }

    fn flush_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let file = self.file()?;
        fault::step("mbox: write entries");
        file.write_all(&out)?;
        self.end += out.len() as u64;
        self.out = out;
        self.out.clear();
        Ok(())
    }

    /// Completes the current message. It is stored durably when its group is confirmed: here, once the group
    /// holds [`GROUP_BYTES`], or at [`Mbox::sync`].
    ///
    /// # Errors
    /// No message was started, or a write or the group's confirmation failed.
    pub(crate) fn finish(
        &mut self,
        token: u64,
        key: Option<&str>,
        sizes: Sizes,
        state: &mut State,
    ) -> io::Result<()> {
        let mut entry = self
            .current
            .take()
            .ok_or_else(|| io::Error::other("no message started"))?;
        let mut sink = EntrySink {
            out: &mut self.out,
            hasher: &mut entry.hasher,
            len: &mut entry.len,
        };
        if let Some(header) = entry.header.take() {
            write_from_line(&mut sink, &header)?;
            entry.quoter.push(&header, &mut sink)?;
        }
        entry.quoter.finish(&mut sink)?;
        self.queued.push(Queued {
            token,
            pending: Pending {
                offset: entry.offset,
                len: entry.len,
                digest: hex(&entry.hasher.finalize()),
                key: key.map(str::to_owned),
                sizes: Some(sizes),
            },
        });
        self.spill()?;
        let start = self.group_start.unwrap_or(self.end);
        if self.end + self.out.len() as u64 - start >= GROUP_BYTES {
            self.confirm_group(state)?;
        }
        Ok(())
    }

    /// Confirms the group written so far and records it in `state`; returns the tokens of every message
    /// stored since the last call.
    ///
    /// # Errors
    /// A write or fsync failed.
    pub(crate) fn sync(&mut self, state: &mut State) -> io::Result<Vec<u64>> {
        if self.current.is_some() {
            self.discard()?;
        }
        self.confirm_group(state)?;
        Ok(std::mem::take(&mut self.committed))
    }

    /// The confirmation, in the order the module documentation gives.
    fn confirm_group(&mut self, state: &mut State) -> io::Result<()> {
        if self.group_start.is_none() {
            return Ok(());
        }
        self.flush_out()?;
        let queued = std::mem::take(&mut self.queued);
        state.set_pending(queued.iter().map(|q| q.pending.clone()).collect());
        state.save()?;
        if let Some(file) = &self.file {
            fault::step("mbox: fsync the mbox");
            file.sync_data()?;
        }
        for q in &queued {
            if let Some(key) = &q.pending.key {
                state.insert(key, q.pending.sizes);
            }
        }
        state.set_pending(Vec::new());
        state.set_appending(None);
        state.save()?;
        self.group_start = None;
        self.lock = None;
        self.committed.extend(queued.iter().map(|q| q.token));
        Ok(())
    }

    /// Drops the message being written: what of it reached the file is truncated away.
    ///
    /// # Errors
    /// The truncation failed.
    pub(crate) fn discard(&mut self) -> io::Result<()> {
        let Some(entry) = self.current.take() else {
            return Ok(());
        };
        if entry.offset >= self.end {
            self.out.truncate((entry.offset - self.end) as usize);
            return Ok(());
        }
        self.out.clear();
        let file = self.file()?;
        fault::step("mbox: truncate an incomplete message");
        file.set_len(entry.offset)?;
        self.end = entry.offset;
        Ok(())
    }
}

/// Where entry octets go: the output buffer, the entry's hash and its length.
struct EntrySink<'a> {
    out: &'a mut Vec<u8>,
    hasher: &'a mut Sha256,
    len: &'a mut u64,
}

impl Write for EntrySink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        self.hasher.update(buf);
        *self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the header (the start of a message) has ended: an empty line was seen.
fn header_complete(data: &[u8]) -> bool {
    data.starts_with(b"\r\n")
        || data.starts_with(b"\n")
        || data.windows(2).any(|w| w == b"\n\n")
        || data.windows(3).any(|w| w == b"\n\r\n")
}

/// `From SENDER DATE` for a message whose header (or start) is `header`.
fn write_from_line(out: &mut impl Write, header: &[u8]) -> io::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    from_line(out, header, now)
}

fn from_line(out: &mut impl Write, header: &[u8], unix_time: u64) -> io::Result<()> {
    writeln!(
        out,
        "From {} {}",
        envelope_sender(header),
        asctime(unix_time)
    )
}

const FROM: &[u8] = b"From ";

/// Turns a message into the body of an mboxrd entry as it streams by, in constant memory: CRLF becomes LF, lines
/// matching `>*From ` get one more `>`, and [`Quoter::finish`] ends the last line and adds the separator line.
#[derive(Debug)]
struct Quoter {
    /// At the start of a line, matching `>*From `.
    line_start: bool,
    /// `>` seen at the start of the line, not written yet.
    quotes: u64,
    /// Octets of `From ` matched after them, not written yet.
    matched: usize,
    /// A CR not written yet: dropped if LF follows.
    cr: bool,
}

impl Default for Quoter {
    fn default() -> Self {
        Self {
            line_start: true,
            quotes: 0,
            matched: 0,
            cr: false,
        }
    }
}

impl Quoter {
    fn push(&mut self, mut data: &[u8], out: &mut impl Write) -> io::Result<()> {
        while let Some(&first) = data.first() {
            if self.cr {
                self.cr = false;
                if first != b'\n' {
                    out.write_all(b"\r")?;
                }
            }
            if self.line_start {
                if self.matched == 0 && first == b'>' {
                    self.quotes += 1;
                    data = &data[1..];
                    continue;
                }
                if first == FROM[self.matched] {
                    self.matched += 1;
                    data = &data[1..];
                    if self.matched == FROM.len() {
                        out.write_all(b">")?;
                        self.flush_prefix(out)?;
                        self.line_start = false;
                    }
                    continue;
                }
                self.flush_prefix(out)?;
                self.line_start = false;
            }
            match data.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    out.write_all(data)?;
                    data = &[];
                }
                Some(i) => {
                    out.write_all(&data[..i])?;
                    if data[i] == b'\n' {
                        out.write_all(b"\n")?;
                        self.line_start = true;
                    } else {
                        self.cr = true;
                    }
                    data = &data[i + 1..];
                }
            }
        }
        Ok(())
    }

    /// Writes the held `>`s and the part of `From ` matched.
    fn flush_prefix(&mut self, out: &mut impl Write) -> io::Result<()> {
        const QUOTES: [u8; 512] = [b'>'; 512];
        while self.quotes > 0 {
            let n = self.quotes.min(QUOTES.len() as u64);
            out.write_all(&QUOTES[..n as usize])?;
            self.quotes -= n;
        }
        out.write_all(&FROM[..self.matched])?;
        self.matched = 0;
        Ok(())
    }

    /// Ends the message: a final line break if it had none (a CR at its very end is dropped, as before an LF),
    /// then the empty separator line.
    fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.cr = false;
        if !self.line_start || self.quotes > 0 || self.matched > 0 {
            self.flush_prefix(out)?;
            out.write_all(b"\n")?;
        }
        self.line_start = true;
        out.write_all(b"\n")
    }
}

/// Formats one whole mboxrd entry: the `From ` line, the message with LF line endings and `>*From ` lines
/// quoted, a final line break, and the empty separator line.
#[cfg(test)]
pub(crate) fn mboxrd_entry(message: &[u8], unix_time: u64) -> Vec<u8> {
    let mut out = Vec::new();
    from_line(&mut out, message, unix_time).unwrap();
    let mut quoter = Quoter::default();
    quoter.push(message, &mut out).unwrap();
    quoter.finish(&mut out).unwrap();
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
pub(crate) fn asctime(secs: u64) -> String {
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
    fn streaming_in_any_pieces_gives_the_same_entry() {
        let msg: &[u8] = b"Return-Path: <a@b>\r\nSubject: x\r\n\r\nFrom here\r\n>>From there\r\n\r\nFro\r\nm\r\nFrom\rX\r\n>>>\r\nend\r";
        let whole = {
            let mut out = Vec::new();
            let mut q = Quoter::default();
            q.push(msg, &mut out).unwrap();
            q.finish(&mut out).unwrap();
            out
        };
        assert_eq!(
            whole,
            b"Return-Path: <a@b>\nSubject: x\n\n>From here\n>>>From there\n\nFro\nm\nFrom\rX\n>>>\nend\n\n"
        );
        for a in 0..=msg.len() {
            for b in a..=msg.len() {
                let mut out = Vec::new();
                let mut q = Quoter::default();
                for piece in [&msg[..a], &msg[a..b], &msg[b..]] {
                    q.push(piece, &mut out).unwrap();
                }
                q.finish(&mut out).unwrap();
                assert_eq!(out, whole, "split at {a} and {b}");
            }
        }
    }

    fn read_state(path: &Path) -> State {
        State::load(path, "u@h").unwrap()
    }

    const SIZES: Sizes = Sizes {
        listed: 10,
        saved: 10,
    };

    #[test]
    fn an_mbox_without_final_newline_gets_an_empty_line_before_the_first_entry() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-mbox-pad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for (old, padded) in [
            (&b""[..], &b""[..]),
            (
                b"From x\n\nold body without final newline",
                b"From x\n\nold body without final newline\n\n",
            ),
            (b"From x\n\nold body\n", b"From x\n\nold body\n\n"),
            (b"From x\n\nold body\n\n", b"From x\n\nold body\n\n"),
        ] {
            let path = dir.join("mbox");
            fs::write(&path, old).unwrap();
            let state_path = dir.join("state");
            remove(&state_path);
            let mut state = read_state(&state_path);
            let mut mbox = Mbox::new(&path).unwrap();
            mbox.begin(&mut state).unwrap();
            mbox.write(b"Subject: new\r\n\r\nnew body\r\n").unwrap();
            mbox.finish(1, Some("k"), SIZES, &mut state).unwrap();
            assert_eq!(mbox.sync(&mut state).unwrap(), vec![1]);
            let text = fs::read(&path).unwrap();
            assert!(
                text.starts_with(padded),
                "{:?}",
                text.escape_ascii().to_string()
            );
            assert!(text[padded.len()..].starts_with(b"From MAILER-DAEMON "));
            assert!(text.ends_with(b"\nSubject: new\n\nnew body\n\n"));
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_incomplete_message_is_truncated_away_and_nothing_is_created_before_a_message() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-mbox-cut-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mbox");
        remove(&path);
        let state_path = dir.join("state");
        remove(&state_path);
        let mut state = read_state(&state_path);
        let mut mbox = Mbox::new(&path).unwrap();
        assert!(!path.exists());
        mbox.begin(&mut state).unwrap();
        mbox.write(b"Subject: one\r\n\r\nbody\r\n").unwrap();
        mbox.finish(1, Some("k1"), SIZES, &mut state).unwrap();
        mbox.begin(&mut state).unwrap();
        // More than the write buffer, so part of it reaches the file before it is dropped.
        mbox.write(b"Subject: two\r\n\r\n").unwrap();
        mbox.write(&vec![b'x'; WRITE_BUFFER + 10]).unwrap();
        assert!(fs::metadata(&path).unwrap().len() > WRITE_BUFFER as u64);
        mbox.discard().unwrap();
        assert_eq!(mbox.sync(&mut state).unwrap(), vec![1]);
        assert!(
            fs::read(&path)
                .unwrap()
                .ends_with(b"Subject: one\n\nbody\n\n")
        );
        assert!(state.contains("k1") && !state.contains("k2"));
        assert_eq!(state.appending(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unconfirmed_group_is_resolved_by_the_next_run() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-mbox-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mbox");
        remove(&path);
        let state_path = dir.join("state");
        remove(&state_path);
        let mut state = read_state(&state_path);
        let mut mbox = Mbox::new(&path).unwrap();
        mbox.begin(&mut state).unwrap();
        mbox.write(b"Subject: one\r\n\r\nbody\r\n").unwrap();
        mbox.finish(1, Some("k1"), SIZES, &mut state).unwrap();
        assert!(!state.contains("k1"), "not before the group is confirmed");
        assert_eq!(mbox.sync(&mut state).unwrap(), vec![1]);
        assert!(state.contains("k1"));
        let good_len = fs::metadata(&path).unwrap().len();

        // A crash in the middle of a group of two: the first complete, the second torn.
        let two = mboxrd_entry(b"Subject: two\r\n\r\nbody two\r\n", 0);
        let three = mboxrd_entry(b"Subject: three\r\n\r\nbody three\r\n", 0);
        let pending = vec![
            Pending {
                offset: good_len,
                len: two.len() as u64,
                digest: digest_hex(&two),
                key: Some("k2".into()),
                sizes: Some(SIZES),
            },
            Pending {
                offset: good_len + two.len() as u64,
                len: three.len() as u64,
                digest: digest_hex(&three),
                key: Some("k3".into()),
                sizes: Some(SIZES),
            },
        ];
        state.set_appending(Some(good_len));
        state.set_pending(pending.clone());
        state.save().unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&two).unwrap();
        f.write_all(&three[..three.len() / 2]).unwrap();
        let note = Mbox::new(&path).unwrap().recover(&mut state).unwrap();
        assert!(note.unwrap().contains("unconfirmed"));
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            good_len + two.len() as u64
        );
        assert!(state.contains("k2") && !state.contains("k3"));
        assert!(state.pending().is_empty() && state.appending().is_none());

        // A crash after the group started, before any entry was confirmed: everything after the start goes.
        state.set_appending(Some(good_len + two.len() as u64));
        state.save().unwrap();
        f.write_all(&three[..10]).unwrap();
        let note = Mbox::new(&path).unwrap().recover(&mut state).unwrap();
        assert!(note.unwrap().contains("unconfirmed"));
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            good_len + two.len() as u64
        );

        // A crash after a complete append, before the state said so.
        state.set_appending(Some(good_len + two.len() as u64));
        state.set_pending(pending[1..].to_vec());
        state.save().unwrap();
        f.write_all(&three).unwrap();
        assert_eq!(Mbox::new(&path).unwrap().recover(&mut state).unwrap(), None);
        assert!(state.contains("k3"));
        let reloaded = read_state(&state_path);
        assert!(reloaded.contains("k1") && reloaded.contains("k2") && reloaded.contains("k3"));
        assert!(reloaded.pending().is_empty() && reloaded.appending().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
