//! The locks mail programs take on an mbox before they change it: an `fcntl` write lock on the file and a
//! dotlock, `FILE.lock` (mutt and procmail take both). pop3-fetch holds them while it appends one group of
//! messages (see [`crate::mbox`]) and while it truncates what an interrupted run left, so that a mail reader
//! never rewrites the file under it and never sees half a message.
//!
//! Both are tried without waiting, and released again if the other is busy, so that a program taking them in the
//! other order cannot deadlock with us; the attempts repeat for [`PATIENCE`]. A dotlock left by a crash is
//! removed if the process it names is gone, or if it is older than [`STALE`] (what procmail and liblockfile do).
//!
//! `fcntl` locks belong to the process, not to a thread, so two accounts of one run that deliver into the same
//! mbox first take turns through an in-process lock ([`HELD`]). One limit remains, from POSIX: when one of them
//! closes the file, the process's `fcntl` lock goes, even if the other holds it at that moment; the dotlock stays.
//! Programs that honour only the `fcntl` lock should not share an mbox with several accounts of one run.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rustix::fs::{FlockOperation, fcntl_lock};

use crate::state::with_suffix;

/// How long to keep trying before giving up.
const PATIENCE: Duration = Duration::from_secs(60);

/// A dotlock older than this is taken to be left by a crash.
const STALE: Duration = Duration::from_secs(300);

/// The mboxes this process holds locked (by their dotlock path).
static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Marks `dotlock` as held by this process; `false` if another thread holds it.
fn hold(dotlock: &Path) -> bool {
    HELD.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(dotlock.to_owned())
}

fn unhold(dotlock: &Path) {
    if let Some(held) = HELD.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
        held.remove(dotlock);
    }
}

/// Both locks, held; dropping it releases them.
///
/// `fcntl` locks belong to the process and go when it closes *any* descriptor of the file, so the mbox module
/// keeps its one descriptor open while a lock is held; the lock holds a duplicate of it.
#[derive(Debug)]
pub(crate) struct MboxLock {
    file: File,
    dotlock: PathBuf,
}

impl MboxLock {
    /// Takes both locks on the mbox at `path`, open as `file`.
    ///
    /// # Errors
    /// Another program holds a lock for longer than [`PATIENCE`], or the dotlock cannot be created.
    pub(crate) fn acquire(path: &Path, file: &File) -> io::Result<Self> {
        let file = file.try_clone()?;
        let dotlock = with_suffix(path, ".lock");
        let deadline = SystemTime::now() + PATIENCE;
        let mut pause = Duration::from_millis(20);
        loop {
            if hold(&dotlock) {
                match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
                    Ok(()) => match take_dotlock(&dotlock) {
                        Ok(true) => return Ok(Self { file, dotlock }),
                        Ok(false) => {
                            let _ = fcntl_lock(&file, FlockOperation::Unlock);
                        }
                        Err(e) => {
                            let _ = fcntl_lock(&file, FlockOperation::Unlock);
                            unhold(&dotlock);
                            return Err(io::Error::new(
                                e.kind(),
                                format!("creating the dotlock {}: {e}", dotlock.display()),
                            ));
                        }
                    },
                    Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::ACCESS => {}
                    Err(e) => {
                        unhold(&dotlock);
                        return Err(e.into());
                    }
                }
                unhold(&dotlock);
            }
            if SystemTime::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is locked by another program (fcntl lock or {}) for more than {} s",
                        path.display(),
                        dotlock.display(),
                        PATIENCE.as_secs()
                    ),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

impl Drop for MboxLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.dotlock);
        let _ = fcntl_lock(&self.file, FlockOperation::Unlock);
        unhold(&self.dotlock);
    }
}

/// Creates the dotlock holding our process id; `false` if another process holds it.
fn take_dotlock(dotlock: &Path) -> io::Result<bool> {
    for _ in 0..2 {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(dotlock)
        {
            Ok(mut file) => {
                writeln!(file, "{}", std::process::id())?;
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !is_stale(dotlock) {
                    return Ok(false);
                }
                let _ = fs::remove_file(dotlock);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Whether a dotlock was left by a process that is gone, or is too old to be held by a live one.
fn is_stale(dotlock: &Path) -> bool {
    let old = fs::metadata(dotlock)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age > STALE);
    let gone = fs::read_to_string(dotlock)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| {
            pid != rustix::process::getpid()
                && rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
        });
    old || gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotlock_of_a_dead_process_is_taken_over_and_released() {
        let dir = std::env::temp_dir().join(format!("pop3-fetch-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mbox = dir.join("mbox");
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&mbox)
            .unwrap();
        // A dead process: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(dir.join("mbox.lock"), format!("{dead}\n")).unwrap();
        {
            let _lock = MboxLock::acquire(&mbox, &file).unwrap();
            let held = fs::read_to_string(dir.join("mbox.lock")).unwrap();
            assert_eq!(held.trim(), std::process::id().to_string());
            // Our own live dotlock is not stale: a second taker in this process would wait.
            assert!(!take_dotlock(&dir.join("mbox.lock")).unwrap());
        }
        assert!(!dir.join("mbox.lock").exists(), "released on drop");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_threads_of_one_process_take_turns() {
        let dir =
            std::env::temp_dir().join(format!("pop3-fetch-lock-threads-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mbox = dir.join("mbox");
        let open = || {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&mbox)
                .unwrap()
        };
        let first = MboxLock::acquire(&mbox, &open()).unwrap();
        let (file, path) = (open(), mbox.clone());
        let second = std::thread::spawn(move || MboxLock::acquire(&path, &file).map(drop));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !second.is_finished(),
            "the second thread must wait for the first"
        );
        drop(first);
        second.join().unwrap().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
