//! Delivery to a mail delivery agent (procmail, maildrop, dovecot-lda): each message is handed to a new run of a
//! shell command on its standard input, and only its exit status 0 makes the message count as stored.
//!
//! The message is first spooled complete into a file next to the state file (under the account's run lock), and
//! the MDA reads that file: it never sees part of a message, even if pop3-fetch is killed while the message
//! arrives (a pipe would give it an early end of input, and procmail would deliver the fragment). The MDA is
//! responsible for storing the message durably before it exits 0 (procmail, maildrop and dovecot-lda fsync).
//! pop3-fetch records the message in the state file at once, before the next message, so a crash delivers a
//! message twice only if it falls between the MDA's start and that record: no program can tell whether an
//! MDA it lost track of delivered. A message whose MDA failed is not recorded, stays on the server and is
//! delivered by a later run. Nothing is deleted from the server before its MDA has exited 0 and the state says
//! so.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::fault;
use crate::lf::CrlfToLf;
use crate::state::{Sizes, State};

/// The MDA command of one account.
#[derive(Debug)]
pub(crate) struct Mda {
    command: String,
    spool: PathBuf,
    lf: Option<CrlfToLf>,
    current: Option<BufWriter<File>>,
    outcomes: Vec<(u64, io::Result<()>)>,
}

impl Mda {
    /// Delivery by `command` (run by `/bin/sh -c`), spooling each message in `spool`, with CRLF turned into LF
    /// if `lf`. Creates nothing yet.
    pub(crate) fn new(command: &str, spool: &Path, lf: bool) -> Self {
        Self {
            command: command.to_owned(),
            spool: spool.to_owned(),
            lf: lf.then(CrlfToLf::default),
            current: None,
            outcomes: Vec::new(),
        }
    }

    /// Starts a message: empties the spool file.
    ///
    /// # Errors
    /// The spool file cannot be created.
    pub(crate) fn begin(&mut self) -> io::Result<()> {
        self.discard();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.spool)?;
        if let Some(lf) = &mut self.lf {
            *lf = CrlfToLf::default();
        }
        self.current = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    /// Adds message data to the spool.
    ///
    /// # Errors
    /// No message was started, or the write failed.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let file = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("no message started"))?;
        match &mut self.lf {
            Some(lf) => lf.write(data, file),
            None => file.write_all(data),
        }
    }

    /// Runs the MDA on the complete message and waits for it; if it exits 0, records `key` as stored in `state`
    /// at once. The outcome is reported by [`Mda::sync`].
    ///
    /// # Errors
    /// No message was started, the spool cannot be read, or the state cannot be saved.
    pub(crate) fn finish(
        &mut self,
        token: u64,
        key: Option<&str>,
        sizes: Sizes,
        state: &mut State,
    ) -> io::Result<()> {
        let mut file = self
            .current
            .take()
            .ok_or_else(|| io::Error::other("no message started"))?;
        if let Some(lf) = &mut self.lf {
            lf.finish(&mut file)?;
        }
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        fault::step("mda: run");
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::from(file))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status();
        let outcome = match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(io::Error::other(format!(
                "the MDA `{}` failed ({status})",
                self.command
            ))),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("starting the MDA `{}`: {e}", self.command),
            )),
        };
        if let (Ok(()), Some(key)) = (&outcome, key) {
            fault::step("mda: record the delivered message");
            state.insert(key, Some(sizes));
            state.save()?;
        }
        self.outcomes.push((token, outcome));
        Ok(())
    }

    /// The outcome of every message finished since the last call.
    pub(crate) fn sync(&mut self) -> Vec<(u64, io::Result<()>)> {
        self.discard();
        std::mem::take(&mut self.outcomes)
    }

    /// Drops an incomplete message: the MDA never sees it.
    pub(crate) fn discard(&mut self) {
        self.current = None;
    }
}

impl Drop for Mda {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool);
    }
}
