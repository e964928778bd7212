//! One fetch run: connect, log in, find new messages, store them durably, optionally delete, QUIT.
//!
//! # Message keys
//!
//! Each message on the server gets a *key* that says whether it was fetched before:
//!
//! * its UIDL unique id, as the server sent it;
//! * for the `j`-th message (`j` ≥ 2, in message-number order) whose UIDL repeats one already listed in the
//!   same session, `"<uid> #j"`. RFC 1939 forbids duplicate UIDs, but some servers send them. Every copy is
//!   fetched once, and fetching one copy never marks another as seen. The rule is positional: if copies
//!   disappear from the server and new ones with the same UID arrive between runs, a new copy can take the
//!   position (and so the key) of one fetched before and be skipped. Only servers that break RFC 1939 are
//!   affected;
//! * for a message without a UIDL entry (the server has no UIDL, or left that message out), `"hdr <hash>"`,
//!   128 bits of SHA-256 of its header as `TOP n 0` returns it (repeats get `#j` as above);
//! * if the server has neither UIDL nor TOP, no key: such messages are fetched on every run, so use
//!   `--delete` with such a server (a warning says so).
//!
//! UIDs are printable ASCII without spaces, so the synthetic keys (which contain a space) never equal a real
//! UID.
//!
//! # What may be deleted
//!
//! A key alone does not prove that the message on the server is the one stored: a server may reuse a UID for
//! another message, and without UIDL two messages may share a header. So the state records, with each key, the
//! size LIST gave and the size of the copy stored (see [`crate::state`] and [`crate::size_check`]). `--delete`
//! deletes a message only if this run stored it and its size matched, or if the server's size for it now equals
//! the size of the copy stored before. A message listed under a known key with another size is a different
//! message: it is fetched again. A copy whose size differed from LIST is kept, and its message stays on the
//! server.
//!
//! # Durability: the order of steps, and why a crash at any point is safe
//!
//! Nothing is created (Maildir, mbox, lock file, state file) before the server has been reached and there is
//! something to write. Then, for each new message (Maildir):
//!
//! 1. create `tmp/NAME` — NAME is unique and carries the account tag and the key (see [`crate::maildir`]);
//! 2. write the message as RETR streams it, counting its octets;
//! 3. flush and fsync the file;
//! 4. rename it to `new/NAME` (3 and 4 run on a few threads, so that fsyncs share journal commits);
//!
//! after every batch of up to 256 messages or 16 MiB (one pipelined RETR batch), and so before any DELE:
//!
//! 5. wait until every message of the batch is through 4, then fsync `new/`;
//! 6. write the state file (keys and sizes): temporary file, fsync, rename over the old one, fsync the directory;
//!
//! at the end, only with `--delete`:
//!
//! 7. DELE every message the state shows stored with the size the server lists now (see above);
//! 8. QUIT, which makes the server apply the deletions; then the deleted keys are dropped from the state.
//!
//! A crash before step 4 leaves only a file in `tmp/`, which the next run removes (the run lock guarantees
//! nobody else writes this account's `tmp/` files); the message is still on the server and not in the state, so
//! it is fetched again — once. After step 4 the message is in `new/` (complete: it was fsynced before the
//! rename). Before step 6 the state does not list it, but the next run finds its key in the file name in `new/`
//! or `cur/`, takes the file's size as the stored size, and adds it to the state before deciding what to fetch:
//! it is not fetched again, and deleted later only if that size is the server's. DELE (7) is sent only for
//! messages already in the state, i.e. after 5 and 6; a crash between 7 and 8 ends the session without QUIT,
//! and RFC 1939 then requires the server to delete nothing. A crash after the server applied QUIT leaves keys in
//! the state for messages no longer on the server; each run drops keys absent from the server's listing. For an
//! mbox, see [`crate::mbox`]: the state records where the append starts and, before confirming it, each entry
//! with its sizes; the next run checks what completed.
//!
//! # When the server misbehaves
//!
//! * A message whose size differs from LIST (see [`crate::size_check`]) is stored, never deleted, and ends the
//!   run: the answers after it may be shifted, so nothing later on that connection is trusted.
//! * A connection lost in the middle of a batch keeps every message completed before it; the error says during
//!   which command and how many were saved, and the next run continues.
//! * Every answer has a time limit as a whole (`--response-timeout`), not only each read, so a server that sends
//!   a byte now and then cannot hold the run and its lock forever.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use pop3_blocking::proto::State as ProtocolState;
use pop3_blocking::{
    Capability, Error, KnownCapabilities, Listing, LoginMethod, Mechanism, Part, Security, Session,
    Timeouts, TlsOptions,
};

use crate::cli::Output;
use crate::errors::{self, Failure, Target};
use crate::fault;
use crate::maildir::{Maildir, Recovered};
use crate::mbox::Mbox;
use crate::mda::Mda;
use crate::progress::{Progress, human_bytes, rate};
use crate::size_check::Received;
use crate::state::{Known, RunLock, Sizes, State, digest_hex, encode_key, with_suffix};
use crate::trace;
use crate::url::{AuthSpec, PopUrl};

/// Most messages per pipelined RETR batch; the state file is written after each.
const BATCH: usize = 256;

/// Most octets (by LIST) per batch, beyond its first message: the per-response limit covers a whole batch.
const BATCH_BYTES: u64 = 16 << 20;

/// How long `pop://` waits for the greeting before it checks whether the port speaks TLS instead.
const GREETING_PATIENCE: Duration = Duration::from_secs(3);

/// What proves who we are.
#[derive(Clone)]
pub(crate) enum Secret {
    /// A password.
    Password(String),
    /// An OAuth 2.0 bearer token.
    OAuthToken(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Password(<redacted>)",
            Self::OAuthToken(_) => "OAuthToken(<redacted>)",
        })
    }
}

/// What a run does once it knows what is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Fetch, store, delete as configured.
    Fetch,
    /// Say what is new and how big; change nothing.
    Status,
    /// Say message by message what a run would do; change nothing.
    DryRun,
}

/// Everything one run needs.
#[derive(Debug)]
pub(crate) struct Config {
    /// The server and account.
    pub(crate) url: PopUrl,
    /// What the state belongs to (see [`crate::url::PopUrl::account`] for the default).
    pub(crate) account: String,
    /// How the connection is protected.
    pub(crate) security: Security,
    /// Allow credentials without TLS.
    pub(crate) allow_plaintext_credentials: bool,
    /// Trusted roots.
    pub(crate) tls: TlsOptions,
    /// Connect, read and write time limit.
    pub(crate) timeout: Duration,
    /// Time limit for a whole answer (the greeting, the TLS handshake, one batch of RETRs).
    pub(crate) response_timeout: Duration,
    /// Where messages go.
    pub(crate) output: Output,
    /// `--state-file`.
    pub(crate) state_file: Option<PathBuf>,
    /// `--delete`.
    pub(crate) delete: bool,
    /// Messages bigger than this stay on the server, unfetched.
    pub(crate) skip_size: Option<u64>,
    /// Messages bigger than this are deleted unread (new ones only; stored ones follow `delete`).
    pub(crate) kill_size: Option<u64>,
    /// Deliver with LF line endings (Maildir and MDA; the mbox always is).
    pub(crate) lf: bool,
    /// Put a `Received:` header on top of each message.
    pub(crate) trace_header: bool,
    /// Fetch, or only look.
    pub(crate) mode: Mode,
    /// Fetch every message again, whatever the state says.
    pub(crate) refetch: bool,
    /// Password or token.
    pub(crate) secret: Secret,
    /// No progress display and no informational lines.
    pub(crate) quiet: bool,
    /// Protocol trace on standard error.
    pub(crate) debug: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    /// Messages on the server.
    pub(crate) on_server: u64,
    /// Messages fetched now.
    pub(crate) fetched: u64,
    /// Octets fetched now.
    pub(crate) bytes: u64,
    /// Time spent fetching.
    pub(crate) elapsed: Duration,
    /// Messages deleted from the server.
    pub(crate) deleted: u64,
    /// Messages the server would not give.
    pub(crate) refused: u64,
    /// New messages left on the server for their size.
    pub(crate) skipped: u64,
    /// New messages deleted unread for their size.
    pub(crate) killed: u64,
    /// Where they went.
    pub(crate) destination: PathBuf,
    /// In a status or dry run: what was found, instead of what was done.
    pub(crate) status: Option<String>,
}

/// Informational output (standard output, unless quiet) and warnings (standard error, always); each line
/// starts with the account's name when several are fetched at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Log<'a> {
    quiet: bool,
    label: Option<&'a str>,
}

impl<'a> Log<'a> {
    /// A log that prints informational lines unless `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        Self { quiet, label: None }
    }

    /// The same log, for the account `label`.
    pub(crate) fn labelled(self, label: &'a str) -> Self {
        Self {
            label: Some(label),
            ..self
        }
    }

    /// The account's name, if lines carry it.
    pub(crate) fn label(self) -> Option<&'a str> {
        self.label
    }

    /// An informational line.
    pub(crate) fn info(self, line: impl std::fmt::Display) {
        if !self.quiet {
            crate::progress::suspend(|| match self.label {
                Some(label) => println!("[{label}] {line}"),
                None => println!("{line}"),
            });
        }
    }

    /// A warning.
    pub(crate) fn warn(self, line: impl std::fmt::Display) {
        crate::progress::suspend(|| match self.label {
            Some(label) => eprintln!("pop3-fetch: [{label}] warning: {line}"),
            None => eprintln!("pop3-fetch: warning: {line}"),
        });
    }
}

/// One message on the server.
#[derive(Debug)]
struct Msg {
    num: u64,
    size: u64,
    key: Option<String>,
}

enum Store {
    Maildir(Maildir),
    Mbox(Mbox),
    Mda(Mda),
}

impl Store {
    /// Creates the Maildir (the mbox file is created by its first message; an MDA needs nothing).
    fn create(&self) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.create(),
            Self::Mbox(_) | Self::Mda(_) => Ok(()),
        }
    }

    fn begin(&mut self, key: Option<&str>, state: &mut State) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.begin(key),
            Self::Mbox(m) => m.begin(state),
            Self::Mda(m) => m.begin(),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.write(data),
            Self::Mbox(m) => m.write(data),
            Self::Mda(m) => m.write(data),
        }
    }

    /// Completes the current message; it is stored durably by the next [`Store::sync`] (the mbox may already
    /// store it here, when its group is full).
    fn finish(
        &mut self,
        token: u64,
        key: Option<&str>,
        sizes: Sizes,
        state: &mut State,
    ) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.finish(token, sizes.saved),
            Self::Mbox(m) => m.finish(token, key, sizes, state),
            Self::Mda(m) => m.finish(token, key, sizes, state),
        }
    }

    /// Makes every finished message durable; returns each one's outcome. The mbox records the keys of what it
    /// stored in `state` itself; for the Maildir, the caller does.
    fn sync(&mut self, state: &mut State) -> io::Result<Vec<(u64, io::Result<()>)>> {
        match self {
            Self::Maildir(m) => m.sync(),
            Self::Mbox(m) => Ok(m.sync(state)?.into_iter().map(|t| (t, Ok(()))).collect()),
            Self::Mda(m) => Ok(m.sync()),
        }
    }

    /// Drops the message being written.
    fn discard(&mut self) -> io::Result<()> {
        match self {
            Self::Maildir(m) => {
                m.discard();
                Ok(())
            }
            Self::Mbox(m) => m.discard(),
            Self::Mda(m) => {
                m.discard();
                Ok(())
            }
        }
    }

    /// Keys of messages already in the store that the state may not know (Maildir file names).
    fn scan(&self) -> io::Result<Recovered> {
        match self {
            Self::Maildir(m) => m.scan(),
            Self::Mbox(_) | Self::Mda(_) => Ok(Recovered::default()),
        }
    }
}

/// The local side of a run: the store, the state file and, once something is to be written, the run lock.
struct Local {
    store: Store,
    state_path: PathBuf,
    destination: PathBuf,
    account: String,
    lock: Option<RunLock>,
}

impl Local {
    /// Checks the paths, creating nothing.
    fn new(cfg: &Config, account: &str) -> Result<Self, Failure> {
        let tag = digest_hex(account.as_bytes())[..12].to_owned();
        let state_name = format!(".pop3-fetch-state.{}", encode_key(account));
        let (store, state_path, destination) = match &cfg.output {
            Output::Maildir(dir) => {
                let maildir = Maildir::new(dir, &tag, cfg.lf).map_err(|e| {
                    Failure::local(format!("using the Maildir {}", dir.display()), &e)
                })?;
                let state = cfg
                    .state_file
                    .clone()
                    .unwrap_or_else(|| dir.join(&state_name));
                (Store::Maildir(maildir), state, dir.clone())
            }
            Output::Mbox(file) => {
                let mbox = Mbox::new(file).map_err(|e| {
                    Failure::local(format!("using the mbox {}", file.display()), &e)
                })?;
                let state = cfg
                    .state_file
                    .clone()
                    .unwrap_or_else(|| with_suffix(file, &state_name));
                (Store::Mbox(mbox), state, file.clone())
            }
            Output::Mda(command) => {
                let state = cfg.state_file.clone().ok_or_else(|| {
                    Failure::Usage("delivery to an MDA needs a state file".into())
                })?;
                let spool = with_suffix(&state, ".spool");
                let mda = Mda::new(command, &spool, cfg.lf);
                (
                    Store::Mda(mda),
                    state,
                    PathBuf::from(format!("| {command}")),
                )
            }
        };
        Ok(Self {
            store,
            state_path,
            destination,
            account: account.to_owned(),
            lock: None,
        })
    }

    /// Reads the state file; a damaged one stops the run with the way forward.
    fn load_state(&self) -> Result<State, Failure> {
        State::load(&self.state_path, &self.account).map_err(|e| {
            if e.kind() != io::ErrorKind::InvalidData {
                return Failure::local("reading the state file", &e);
            }
            let path = self.state_path.display();
            let rebuild = match self.store {
                Store::Maildir(_) => format!(
                    "the next run rebuilds it from the file names in {}, so the messages stored there are not \
                     fetched again (messages deleted or moved out of it are fetched again if they are still on \
                     the server, and none is deleted from the server unless its stored copy has the server's size)",
                    self.destination.display()
                ),
                Store::Mbox(_) => format!(
                    "an mbox cannot be searched for what was stored, so the next run fetches every message still \
                     on the server again and {} may get duplicates",
                    self.destination.display()
                ),
                Store::Mda(_) => "the next run delivers every message still on the server again".to_owned(),
            };
            Failure::Local(format!(
                "the state file is damaged: {e}. To go on, move it away (mv '{path}' '{path}.damaged') and run \
                 again: {rebuild}"
            ))
        })
    }

    /// Before the first write: creates the store, takes the run lock, reads the state again under it (another
    /// run may have changed it meanwhile) and resolves what an interrupted run left.
    fn prepare(&mut self, log: Log<'_>) -> Result<State, Failure> {
        self.store
            .create()
            .map_err(|e| Failure::local(format!("creating {}", self.destination.display()), &e))?;
        if let Store::Mda(_) = self.store {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(crate::state::parent(&self.state_path))
                .map_err(|e| {
                    Failure::local(
                        format!("creating the directory of {}", self.state_path.display()),
                        &e,
                    )
                })?;
        }
        let lock = RunLock::acquire(&self.state_path).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => Failure::Local(e.to_string()),
            _ => Failure::local(format!("locking {}", self.state_path.display()), &e),
        })?;
        self.lock = Some(lock);
        let mut state = self.load_state()?;
        match &self.store {
            Store::Maildir(m) => m
                .clean_tmp()
                .map_err(|e| Failure::local(format!("cleaning {}/tmp", m.path().display()), &e))?,
            Store::Mda(_) => {}
            Store::Mbox(m) => {
                if let Some(note) = m
                    .recover(&mut state)
                    .map_err(|e| Failure::local(format!("checking {}", m.path().display()), &e))?
                {
                    log.warn(note);
                }
            }
        }
        Ok(state)
    }
}

/// Which messages to fetch, once the state has taken in what the store holds.
struct Plan<'a> {
    new: Vec<&'a Msg>,
    /// Keys found in Maildir file names that the state did not list.
    adopted: usize,
}

impl<'a> Plan<'a> {
    /// Adds to `state` the messages the store holds but the state does not list (an interrupted run, a state
    /// file that was lost), forgets keys the server no longer lists, and picks what to fetch.
    ///
    /// A file is taken for the message only if the state knows nothing of its key, or if the file has the size
    /// the server now lists (the state knew an older message under that key: a reused UID). A file of another
    /// size than the server's is still taken for a key the state does not know, but as a copy that differs, so
    /// its message is never deleted.
    ///
    /// With `refetch`, every message is new and nothing is adopted.
    fn make(msgs: &'a [Msg], state: &mut State, found: &Recovered, refetch: bool) -> Self {
        let mut adopted = 0;
        for msg in msgs.iter().filter(|_| !refetch) {
            let Some(key) = msg.key.as_deref() else {
                continue;
            };
            if state.known(key, msg.size) != Known::New {
                continue;
            }
            let sizes = found.get(key).iter().map(|file| Sizes {
                listed: msg.size,
                saved: file.saved(msg.size),
            });
            let chosen = match sizes.clone().find(|s| s.matched()) {
                Some(exact) => Some(exact),
                None if !state.contains(key) => sizes.clone().next(),
                None => None,
            };
            if let Some(sizes) = chosen {
                state.insert(key, Some(sizes));
                adopted += 1;
            }
        }
        let listed: HashSet<&str> = msgs.iter().filter_map(|m| m.key.as_deref()).collect();
        state.retain(|key| listed.contains(key));
        let new = msgs
            .iter()
            .filter(|m| {
                refetch
                    || m.key
                        .as_deref()
                        .is_none_or(|k| state.known(k, m.size) == Known::New)
            })
            .collect();
        Self { new, adopted }
    }
}

/// The first message this run received with another size than LIST gave.
#[derive(Debug, Clone, Copy)]
struct Mismatch {
    num: u64,
    sizes: Sizes,
    received: u64,
}

/// Runs one fetch.
///
/// # Errors
/// See [`Failure`].
pub(crate) fn run(cfg: &Config, log: Log<'_>) -> Result<Summary, Failure> {
    let url = &cfg.url;
    let account = cfg.account.clone();

    // Local side first, creating nothing: a problem there should not cost a login.
    let mut local = Local::new(cfg, &account)?;
    let mut state = local.load_state()?;
    let state_was_new = state.is_new();

    // Connect and log in.
    let target = Target {
        host: url.host.clone(),
        port: url.port,
        implicit_tls: url.implicit_tls,
    };
    let mut early = early_pipelining(cfg, state.server());
    let (mut session, method, listing) = loop {
        match log_in_and_list(cfg, &target, log, early.take())? {
            Contact::Done(session, method, listing) => break (session, method, listing),
            Contact::Stale(mut session) => {
                log.info(format!(
                    "{target} now offers UTF8, which must be said before logging in: connecting again to say it"
                ));
                if let Err(error) = session.quit() {
                    log.warn(format!("QUIT failed ({error})"));
                }
            }
        }
    };
    log.info(format!("Logged in as {} ({method})", url.user));
    let learnt = session.known_capabilities();

    // What is there, and what is new.
    let msgs = list_messages(&mut session, listing, &target, log)?;
    let scan = |local: &Local| {
        local
            .store
            .scan()
            .map_err(|e| Failure::local(format!("scanning {}", local.destination.display()), &e))
    };
    let mut plan = Plan::make(&msgs, &mut state, &scan(&local)?, cfg.refetch);
    let mut sized = BySize::split(&plan.new, cfg);
    let deletable = |state: &State| {
        msgs.iter().any(|m| {
            m.key
                .as_deref()
                .is_some_and(|k| state.known(k, m.size) == Known::Stored)
        })
    };
    let server_changed = !state_was_new && learnt.is_some() && state.server() != learnt.as_ref();
    let must_write = cfg.mode == Mode::Fetch
        && (!sized.fetch.is_empty()
            || !sized.kill.is_empty()
            || server_changed
            || state.changed()
            || state.appending().is_some()
            || !state.pending().is_empty()
            || (cfg.delete && deletable(&state)));
    if must_write {
        state = local.prepare(log)?;
        state.set_server(learnt);
        plan = Plan::make(&msgs, &mut state, &scan(&local)?, cfg.refetch);
        sized = BySize::split(&plan.new, cfg);
        state
            .save()
            .map_err(|e| Failure::local("writing the state file", &e))?;
    }
    let destination = local.destination.clone();
    if plan.adopted > 0 {
        log.info(if state_was_new {
            format!(
                "There was no state file: rebuilt it from {}, where {} message(s) of this account were found by \
                 their file names; they are not fetched again",
                destination.display(),
                plan.adopted
            )
        } else {
            format!(
                "Recovered {} message(s) stored by an interrupted run (found in {})",
                plan.adopted,
                destination.display()
            )
        });
    } else if state_was_new && matches!(local.store, Store::Mbox(_)) && has_content(&destination) {
        log.warn(format!(
            "there is no state file for {account} next to {}, which already holds mail: messages fetched before \
             are fetched again (an mbox is not searched for them)",
            destination.display()
        ));
    }
    let BySize {
        fetch: new,
        skip,
        kill,
    } = sized;
    let new_bytes: u64 = new.iter().map(|m| m.size).sum();
    let found = format!(
        "{} message(s) on the server, {} new ({}){}{}",
        msgs.len(),
        new.len(),
        human_bytes(new_bytes),
        if skip.is_empty() {
            String::new()
        } else {
            format!(
                ", {} bigger than the skip size left on the server ({})",
                skip.len(),
                human_bytes(skip.iter().map(|m| m.size).sum())
            )
        },
        if kill.is_empty() {
            String::new()
        } else {
            format!(
                ", {} bigger than the kill size to delete unread ({})",
                kill.len(),
                human_bytes(kill.iter().map(|m| m.size).sum())
            )
        },
    );
    if cfg.mode != Mode::Fetch {
        if cfg.mode == Mode::DryRun {
            let what = |m: &Msg| {
                format!(
                    "message {} ({}{})",
                    m.num,
                    human_bytes(m.size),
                    m.key
                        .as_deref()
                        .map(|k| format!(", {k}"))
                        .unwrap_or_default()
                )
            };
            for m in &new {
                log.info(format!("would fetch {}", what(m)));
            }
            for m in &skip {
                log.info(format!(
                    "would leave {} on the server: bigger than the skip size",
                    what(m)
                ));
            }
            for m in &kill {
                log.info(format!(
                    "would delete {} unread: bigger than the kill size",
                    what(m)
                ));
            }
            if cfg.delete {
                for m in msgs.iter().filter(|m| {
                    m.key
                        .as_deref()
                        .is_some_and(|k| state.known(k, m.size) == Known::Stored)
                }) {
                    log.info(format!("would delete {}: stored before", what(m)));
                }
            }
        }
        if let Err(error) = session.quit() {
            log.warn(format!("QUIT failed ({error})"));
        }
        return Ok(Summary {
            on_server: msgs.len() as u64,
            destination,
            status: Some(found),
            ..Summary::default()
        });
    }
    log.info(&found);

    // Fetch.
    let mut progress = Progress::new(cfg.quiet, log.label());
    progress.start(new.len() as u64, new_bytes);
    let mut verified: HashSet<u64> = HashSet::new();
    let mut saved = 0u64;
    let mut refused = Vec::new();
    let mut mismatch: Option<Mismatch> = None;
    let store = &mut local.store;
    // QUIT does not travel with the last RETRs, although it would commit nothing: Dovecot 2.3 behind TLS was seen
    // to end the connection in the middle of a large last message when QUIT arrived with the RETRs.
    for batch in batches(&new) {
        let nums: Vec<u64> = batch.iter().map(|m| m.num).collect();
        let by_num: HashMap<u64, &Msg> = batch.iter().map(|m| (m.num, *m)).collect();
        let mut current: Option<(u64, Received)> = None;
        let mut sizes: HashMap<u64, Sizes> = HashMap::new();
        let mut done = 0usize;
        let on_part = |num, part: Part<'_>| -> io::Result<()> {
            // After a mismatch, later answers may belong to other commands: none is stored.
            if mismatch.is_some() {
                return Ok(());
            }
            let msg = by_num[&num];
            let key = msg.key.as_deref();
            match part {
                Part::Data(data) => {
                    if current.is_none_or(|(n, _)| n != num) {
                        store.begin(key, &mut state)?;
                        if cfg.trace_header {
                            store.write(trace::received(url, key).as_bytes())?;
                        }
                        current = Some((num, Received::default()));
                    }
                    if let Some((_, received)) = &mut current {
                        received.add(data);
                    }
                    store.write(data)?;
                    progress.add_bytes(data.len());
                }
                Part::End => {
                    let received = match current.take() {
                        Some((n, received)) if n == num => received,
                        _ => {
                            store.begin(key, &mut state)?; // an empty message
                            if cfg.trace_header {
                                store.write(trace::received(url, key).as_bytes())?;
                            }
                            Received::default()
                        }
                    };
                    let message_sizes = received.sizes(msg.size);
                    if !message_sizes.matched() {
                        mismatch = Some(Mismatch {
                            num,
                            sizes: message_sizes,
                            received: received.octets(),
                        });
                    }
                    store.finish(num, key, message_sizes, &mut state)?;
                    sizes.insert(num, message_sizes);
                    done += 1;
                    progress.message_done();
                }
                Part::Refused(error) => {
                    if current.take().is_some() {
                        store.discard()?;
                    }
                    refused.push((num, error));
                    done += 1;
                }
                _ => {}
            }
            Ok(())
        };
        let result = session.retr_many(&nums, on_part);
        let discarded = if current.is_some() || result.is_err() {
            store.discard()
        } else {
            Ok(())
        };
        // Whatever happened, record what reached the disk.
        let mut store_error = discarded.err();
        match store.sync(&mut state) {
            Ok(outcomes) => {
                for (num, outcome) in outcomes {
                    match outcome {
                        Ok(()) => {
                            let message_sizes = sizes[&num];
                            if let Some(key) = by_num[&num].key.as_deref() {
                                state.insert(key, Some(message_sizes));
                            }
                            if message_sizes.matched() {
                                verified.insert(num);
                            }
                            saved += 1;
                        }
                        Err(e) => {
                            store_error.get_or_insert(e);
                        }
                    }
                }
            }
            Err(e) => store_error = Some(e),
        }
        let state_saved = state.save();
        if let Err(error) = result {
            progress.clear();
            let doing = match batch.get(done) {
                Some(msg) => format!(
                    "RETR of message {} ({} of {} new)",
                    msg.num,
                    new.iter().position(|m| m.num == msg.num).unwrap_or(0) + 1,
                    new.len()
                ),
                None => "RETR".to_owned(),
            };
            return Err(errors::interrupted(error, &doing, &target, saved));
        }
        if let Some(e) = store_error {
            progress.clear();
            return Err(Failure::local(
                format!("storing a message in {}", destination.display()),
                &e,
            ));
        }
        state_saved.map_err(|e| Failure::local("writing the state file", &e))?;
        if let Some(m) = mismatch {
            progress.clear();
            // The session's framing cannot be trusted: no QUIT, no DELE; dropping the connection commits nothing.
            drop(session);
            let msg = by_num[&m.num];
            return Err(Failure::Network(format!(
                "message {}{} is not what the server announced: LIST said {} octets, RETR delivered {}. The copy \
                 received is kept in {}, and the message stays on the server: it is not deleted while the two \
                 differ. The answers after it may be shifted, so the run stopped here with {saved} message(s) \
                 saved; run pop3-fetch again to fetch the rest",
                m.num,
                msg.key
                    .as_deref()
                    .map(|k| format!(" ({k})"))
                    .unwrap_or_default(),
                m.sizes.listed,
                m.received,
                destination.display()
            )));
        }
    }
    progress.clear();
    for (num, error) in &refused {
        log.warn(format!("the server would not give message {num}: {error}"));
    }

    // Delete what is safely stored, then QUIT.
    let mut deleted = 0;
    let mut killed = 0;
    if cfg.delete || !kill.is_empty() {
        let (mut doomed, kept): (Vec<&Msg>, Vec<&Msg>) = msgs
            .iter()
            .filter(|_| cfg.delete)
            .filter(|m| {
                verified.contains(&m.num) || m.key.as_deref().is_some_and(|k| state.contains(k))
            })
            .partition(|m| {
                verified.contains(&m.num)
                    || m.key
                        .as_deref()
                        .is_some_and(|k| state.known(k, m.size) == Known::Stored)
            });
        if !kept.is_empty() {
            log.warn(format!(
                "{} message(s) stay on the server although a copy is stored: the copy's size is not the size the \
                 server lists ({}), or an older version of pop3-fetch recorded it without its size",
                kept.len(),
                kept.iter()
                    .take(5)
                    .map(|m| format!("message {}", m.num))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let stored = doomed.len();
        doomed.extend(kill.iter().copied());
        let nums: Vec<u64> = doomed.iter().map(|m| m.num).collect();
        // QUIT travels with the DELEs: the deletions take effect only once it is answered (RFC 1939 §6), and
        // nothing else is left to ask.
        fault::step("DELE and QUIT");
        let outcomes = session.dele_many_and_quit(&nums).map_err(|e| {
            errors::interrupted(
                e,
                "DELE and QUIT (deletions may not have been applied; the next run retries them)",
                &target,
                saved,
            )
        })?;
        for (msg, outcome) in doomed.iter().zip(&outcomes) {
            if let Err(error) = outcome {
                log.warn(format!(
                    "the server would not delete message {}: {error}",
                    msg.num
                ));
            }
        }
        fault::step("state: forget deleted messages");
        for (i, (msg, outcome)) in doomed.iter().zip(&outcomes).enumerate() {
            if outcome.is_ok() {
                if i < stored {
                    deleted += 1;
                } else {
                    killed += 1;
                }
                if let Some(key) = &msg.key {
                    state.remove(key);
                }
            }
        }
        state
            .save()
            .map_err(|e| Failure::local("writing the state file", &e))?;
    } else if let Err(error) = session.quit() {
        log.warn(format!(
            "QUIT failed ({error}); every message was already stored"
        ));
    }
    let unsized_keys = state.unsized_keys();
    if unsized_keys > 0 && cfg.delete {
        log.warn(format!(
            "{unsized_keys} message(s) were recorded by an older version of pop3-fetch without their size and are \
             never deleted by --delete; delete them on the server by other means once you have checked them"
        ));
    }

    Ok(Summary {
        on_server: msgs.len() as u64,
        fetched: progress.messages(),
        bytes: progress.bytes(),
        elapsed: progress.elapsed(),
        deleted,
        refused: refused.len() as u64,
        skipped: skip.len() as u64,
        killed,
        destination,
        status: None,
    })
}

/// The new messages sorted by the size limits: to fetch, to leave on the server (`skip_size`), to delete
/// unread (`kill_size`, which wins over `skip_size`).
struct BySize<'m> {
    fetch: Vec<&'m Msg>,
    skip: Vec<&'m Msg>,
    kill: Vec<&'m Msg>,
}

impl<'m> BySize<'m> {
    fn split(new: &[&'m Msg], cfg: &Config) -> Self {
        let over = |limit: Option<u64>, m: &Msg| limit.is_some_and(|limit| m.size > limit);
        let mut sorted = Self {
            fetch: Vec::new(),
            skip: Vec::new(),
            kill: Vec::new(),
        };
        for &m in new {
            if over(cfg.kill_size, m) {
                sorted.kill.push(m);
            } else if over(cfg.skip_size, m) {
                sorted.skip.push(m);
            } else {
                sorted.fetch.push(m);
            }
        }
        sorted
    }
}

/// Splits the new messages into pipelined batches of at most [`BATCH`] messages and [`BATCH_BYTES`] octets
/// (a bigger message is a batch of its own).
fn batches<'a, 'm>(new: &'a [&'m Msg]) -> Vec<&'a [&'m Msg]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, msg) in new.iter().enumerate() {
        if i > start && (i - start == BATCH || bytes.saturating_add(msg.size) > BATCH_BYTES) {
            out.push(&new[start..i]);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(msg.size);
    }
    if start < new.len() {
        out.push(&new[start..]);
    }
    out
}

/// Whether a file has any content.
fn has_content(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Opens the session: TCP, TLS as configured, the greeting, CAPA, and `UTF8` when the server offers it; with
/// `early` (see [`early_pipelining`]) it stops after the greeting, and CAPA travels with the login. A `pop://`
/// URL pointed at a POP3S port is recognised (see [`speaks_tls`]); credentials in clear are refused unless
/// allowed by name.
fn connect(
    cfg: &Config,
    target: &Target,
    log: Log<'_>,
    early: Option<&KnownCapabilities>,
) -> Result<Session, Failure> {
    let url = &cfg.url;
    let builder = || {
        let mut builder = Session::builder(url.host.clone())
            .port(url.port)
            .security(cfg.security)
            .tls(cfg.tls.clone())
            .timeouts(Timeouts::all(cfg.timeout).with_response(Some(cfg.response_timeout)));
        if let Some(method) = one_line_login(cfg) {
            builder = builder.login_method(method);
        }
        if let Some(known) = early {
            builder = builder.known_capabilities(known.clone());
        }
        if cfg.allow_plaintext_credentials {
            builder = builder.allow_plaintext_credentials();
        }
        if cfg.debug {
            builder = builder.debug_level(1).trace_to(io::stderr());
        }
        builder
    };
    let connected = if url.implicit_tls {
        builder().connect()
    } else {
        // Wait a little for the greeting; a port that stays silent may be waiting for a TLS ClientHello.
        let (sender, receiver) = mpsc::channel();
        let attempt = builder();
        std::thread::spawn(move || {
            let _ = sender.send(attempt.connect());
        });
        match receiver.recv_timeout(GREETING_PATIENCE.min(cfg.timeout)) {
            Ok(result) => result,
            Err(_) if speaks_tls(cfg) => {
                return Err(Failure::Unsupported(format!(
                    "{target} sent no POP3 greeting but answers a TLS handshake: it is a POP3S port (implicit \
                     TLS). Use {} instead of pop://",
                    PopUrl {
                        implicit_tls: true,
                        ..url.clone()
                    }
                )));
            }
            Err(_) => receiver
                .recv()
                .unwrap_or_else(|_| Err(Error::Closed(Some("the connecting thread stopped")))),
        }
    };
    let mut session = connected.map_err(|e| errors::connection(e, target))?;
    match session.tls_info() {
        Some(info) => log.info(format!(
            "Connected to {target} with {} ({}), certificate verified",
            info.version
                .map_or_else(|| "TLS".to_owned(), |v| format!("{v:?}").replace('_', ".")),
            if url.implicit_tls {
                "implicit TLS"
            } else {
                "STLS"
            }
        )),
        None if !cfg.allow_plaintext_credentials => {
            return Err(Failure::Network(format!(
                "{target} does not offer STLS (or refused it), so the connection is not encrypted, and \
                 --starttls-if-available alone does not send a password in clear: add --allow-plaintext-credentials to accept that \
                 (insecure), or use pops:// if the server offers POP3S"
            )));
        }
        None => log.warn(format!(
            "the connection to {target} is NOT encrypted: your password and mail travel in clear"
        )),
    }
    if early.is_some() {
        // CAPA goes with the login and the listing; the server is remembered not to offer UTF8, and the
        // connection is encrypted, so XTLSREQUIRED does not matter.
        return Ok(session);
    }
    if session.capabilities().is_none() {
        match session.capa() {
            Ok(_) | Err(Error::Server(_)) => {}
            Err(e) => return Err(errors::connection(e, target)),
        }
    }
    let caps = session.capabilities();
    if !session.is_encrypted()
        && caps.is_some_and(|c| {
            c.iter()
                .any(|c| matches!(c, Capability::Other { name, .. } if name == "XTLSREQUIRED"))
        })
    {
        return Err(errors::tls_required(target, "its CAPA lists XTLSREQUIRED"));
    }
    if caps.is_some_and(|c| c.utf8()) {
        // RFC 6856: without UTF8, a server may replace a message with 8-bit headers by a downgraded notice.
        match session.utf8() {
            Ok(()) => {}
            Err(Error::Server(refusal)) => log.warn(format!(
                "the server offers UTF8 but refused it ({refusal}); messages with 8-bit headers may arrive altered"
            )),
            Err(e) => return Err(errors::connection(e, target)),
        }
    }
    Ok(session)
}

/// How the first contact ended.
enum Contact {
    /// Logged in and listed: the method used and the listing.
    Done(Session, String, Vec<Listing>),
    /// Logged in on the strength of remembered capabilities that no longer hold: the server now offers UTF8,
    /// which must be said before the login (a server may otherwise alter messages with 8-bit headers).
    Stale(Session),
}

/// The login the URL names, when it is one line answered `+OK` or `-ERR` (USER/PASS, APOP): the logins that may
/// travel in one write with CAPA and the listing.
fn one_line_login(cfg: &Config) -> Option<LoginMethod> {
    match (&cfg.secret, &cfg.url.auth) {
        (Secret::Password(_), AuthSpec::User) => Some(LoginMethod::UserPass),
        (Secret::Password(_), AuthSpec::Apop) => Some(LoginMethod::Apop),
        _ => None,
    }
}

/// What the last run learnt of the server, when it lets this run send CAPA, the login and the listing in one
/// write: the server pipelined and did not offer UTF8 (which must precede the login), the connection is implicit
/// TLS (in clear, CAPA must be read first for XTLSREQUIRED; with STLS, what was learnt before TLS is forgotten),
/// and the URL names a one-line login (the strongest method offered needs the live CAPA's SASL list, which is
/// never taken from memory).
fn early_pipelining<'s>(
    cfg: &Config,
    remembered: Option<&'s KnownCapabilities>,
) -> Option<&'s KnownCapabilities> {
    let url = &cfg.url;
    remembered.filter(|known| {
        known.pipelining()
            && !known.utf8()
            && cfg.security == Security::Implicit
            && known.is_for(&url.host, url.port, cfg.security)
            && one_line_login(cfg).is_some()
    })
}

/// Connects, logs in as the URL and the secret say and lists the mailbox (LIST and UIDL). The listing travels
/// behind a one-line login when the server pipelines, and with `early` CAPA travels with both: the whole first
/// contact after the greeting is one round trip.
fn log_in_and_list(
    cfg: &Config,
    target: &Target,
    log: Log<'_>,
    early: Option<&KnownCapabilities>,
) -> Result<Contact, Failure> {
    let mut session = connect(cfg, target, log, early)?;
    let pipelines = early.is_some() || session.capabilities().is_some_and(|caps| caps.pipelining());
    let one_line = !matches!(cfg.url.auth, AuthSpec::Sasl(_))
        && matches!(
            session.login_method(),
            LoginMethod::UserPass | LoginMethod::Apop
        );
    let (method, listing) = match &cfg.secret {
        Secret::Password(password) if one_line && pipelines => {
            let user = cfg.url.user.as_str();
            match session.login_and_listing(user, password.as_str()) {
                Ok((method, listing)) => (method_label(method), listing),
                Err(e) => {
                    return Err(match (e, session.state()) {
                        (e, ProtocolState::Transaction) => errors::session(e, "LIST", target),
                        (e @ (Error::Server(_) | Error::Misuse(_)), _) => errors::login(
                            e,
                            user,
                            method_name(&cfg.url.auth),
                            target,
                            login_facts(&session),
                        ),
                        (e, _) => errors::session(e, "the login and LIST", target),
                    });
                }
            }
        }
        _ => {
            let method = authenticate(&mut session, cfg, target)?;
            if !pipelines {
                // RFC 2449 §5: a server may list PIPELINING only once logged in.
                match session.capa() {
                    Ok(_) | Err(Error::Server(_)) => {}
                    Err(e) => return Err(errors::session(e, "CAPA", target)),
                }
            }
            let listing = session
                .listing()
                .map_err(|e| errors::session(e, "LIST", target))?;
            (method, listing)
        }
    };
    if early.is_some() && session.capabilities().is_some_and(|caps| caps.utf8()) {
        return Ok(Contact::Stale(session));
    }
    Ok(Contact::Done(session, method, listing))
}

/// How a login the URL asks for is named in messages.
fn method_name(auth: &AuthSpec) -> &'static str {
    match auth {
        AuthSpec::User => "USER/PASS",
        AuthSpec::Apop => "APOP",
        _ => "the best method offered",
    }
}

/// How the method used is named in the log.
fn method_label(method: LoginMethod) -> String {
    match method {
        LoginMethod::UserPass => "USER/PASS".to_owned(),
        method => method.name().to_owned(),
    }
}

/// Whether the configured host and port answer a TLS handshake (a POP3S port): checked on a second
/// connection, with a short limit, when `pop://` got no greeting in time.
fn speaks_tls(cfg: &Config) -> bool {
    let limit = cfg.timeout.min(Duration::from_secs(5));
    let probe = Session::builder(cfg.url.host.clone())
        .port(cfg.url.port)
        .security(Security::Implicit)
        .tls(cfg.tls.clone())
        .timeouts(Timeouts::all(limit).with_response(Some(limit)))
        .connect();
    match probe {
        Ok(_) => true,
        Err(Error::Tls(e)) => matches!(
            e,
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::AlertReceived(_)
                | rustls::Error::PeerIncompatible(_)
        ),
        Err(_) => false,
    }
}

impl Summary {
    /// The closing line.
    pub(crate) fn line(&self) -> String {
        if let Some(status) = &self.status {
            return status.clone();
        }
        let mut line = if self.fetched == 0 {
            format!(
                "No new messages ({} on the server) for {}",
                self.on_server,
                self.destination.display()
            )
        } else {
            format!(
                "Fetched {} message(s) of {} on the server, {} in {:.2} s ({}) into {}",
                self.fetched,
                self.on_server,
                human_bytes(self.bytes),
                self.elapsed.as_secs_f64(),
                rate(self.bytes, self.elapsed),
                self.destination.display()
            )
        };
        if self.deleted > 0 {
            line.push_str(&format!("; deleted {} from the server", self.deleted));
        }
        if self.refused > 0 {
            line.push_str(&format!("; {} refused by the server", self.refused));
        }
        if self.skipped > 0 {
            line.push_str(&format!(
                "; {} left on the server for their size",
                self.skipped
            ));
        }
        if self.killed > 0 {
            line.push_str(&format!("; {} deleted unread for their size", self.killed));
        }
        line
    }
}

/// Logs in as the URL and the secret say. Returns the method used.
fn authenticate(session: &mut Session, cfg: &Config, target: &Target) -> Result<String, Failure> {
    let user = cfg.url.user.as_str();
    match &cfg.secret {
        Secret::OAuthToken(token) => {
            if session.capabilities().is_none() {
                match session.capa() {
                    Ok(_) | Err(Error::Server(_)) => {}
                    Err(e) => return Err(errors::connection(e, target)),
                }
            }
            let offers = |name: &str| {
                session
                    .capabilities()
                    .is_some_and(|caps| caps.supports_sasl(name))
            };
            let name = match &cfg.url.auth {
                AuthSpec::Sasl(name) if name == "OAUTHBEARER" || name == "XOAUTH2" => name.clone(),
                AuthSpec::Any if offers("OAUTHBEARER") => "OAUTHBEARER".to_owned(),
                AuthSpec::Any if offers("XOAUTH2") => "XOAUTH2".to_owned(),
                AuthSpec::Any => {
                    return Err(Failure::Auth(format!(
                        "{target} offers neither OAUTHBEARER nor XOAUTH2, so the OAuth token cannot be used"
                    )));
                }
                _ => {
                    return Err(Failure::Usage(
                        "--oauth-token-env needs ;AUTH=OAUTHBEARER, ;AUTH=XOAUTH2 or no AUTH in the URL".into(),
                    ));
                }
            };
            require_sasl(session, &name, target)?;
            let mechanism = if name == "OAUTHBEARER" {
                Mechanism::oauthbearer(user, token.as_str())
            } else {
                Mechanism::xoauth2(user, token.as_str())
            };
            session
                .auth(mechanism)
                .map_err(|e| errors::login(e, user, &name, target, login_facts(session)))?;
            Ok(name)
        }
        Secret::Password(password) => {
            let password = password.as_str();
            match &cfg.url.auth {
                // The method named by the URL is the builder's (see `connect`).
                AuthSpec::Any | AuthSpec::Apop | AuthSpec::User => {
                    let name = method_name(&cfg.url.auth);
                    session
                        .login(user, password)
                        .map(method_label)
                        .map_err(|e| errors::login(e, user, name, target, login_facts(session)))
                }
                AuthSpec::Sasl(name) => {
                    let mechanism = match name.as_str() {
                        "PLAIN" => Mechanism::plain(user, password),
                        "LOGIN" => Mechanism::login(user, password),
                        "CRAM-MD5" => Mechanism::cram_md5(user, password),
                        "SCRAM-SHA-1" => Mechanism::scram_sha1(user, password, Vec::new()),
                        "SCRAM-SHA-256" => Mechanism::scram_sha256(user, password, Vec::new()),
                        _ => {
                            return Err(Failure::Usage(format!(
                                ";AUTH={name} needs a token: give --oauth-token-env NAME"
                            )));
                        }
                    };
                    require_sasl(session, name, target)?;
                    session
                        .auth(mechanism)
                        .map(|()| name.clone())
                        .map_err(|e| errors::login(e, user, name, target, login_facts(session)))
                }
            }
        }
    }
}

/// What login errors are explained with: the LOGIN-DELAY the server announced, and whether TLS is on.
fn login_facts(session: &Session) -> errors::LoginFacts {
    errors::LoginFacts {
        login_delay: session.capabilities().and_then(|caps| caps.login_delay()),
        encrypted: session.is_encrypted(),
    }
}

/// Refuses a SASL mechanism the server's CAPA does not offer, before anything secret is sent. A server
/// without CAPA gets the benefit of the doubt.
fn require_sasl(session: &Session, name: &str, target: &Target) -> Result<(), Failure> {
    let Some(caps) = session.capabilities() else {
        return Ok(());
    };
    if caps.supports_sasl(name) {
        return Ok(());
    }
    let offered: Vec<&str> = caps.sasl_mechanisms().collect();
    Err(Failure::Unsupported(format!(
        "{target} does not offer the SASL mechanism {name} that ;AUTH={name} asks for (it offers {}); \
         choose one of those, or leave ;AUTH= out to use the best method offered",
        if offered.is_empty() {
            "none".to_owned()
        } else {
            offered.join(", ")
        }
    )))
}

/// LIST, UIDL (and TOP for messages without a UID), turned into keyed messages.
fn list_messages(
    session: &mut Session,
    listing: Vec<Listing>,
    target: &Target,
    log: Log<'_>,
) -> Result<Vec<Msg>, Failure> {
    // A server without UIDL only leaves the UIDs out.
    let any_uid = listing.iter().any(|l| l.uid.is_some());
    let mut msgs = Vec::with_capacity(listing.len());
    let mut top_works = true;
    let (mut hashed, mut unkeyed) = (0, 0);
    for scan in listing {
        let mut key = scan.uid;
        if key.is_none() && top_works {
            match session.top(scan.msg, 0) {
                Ok(header) => {
                    key = Some(format!("hdr {}", digest_hex(&header)));
                    hashed += 1;
                }
                Err(Error::Server(_)) => top_works = false,
                Err(e) => return Err(errors::session(e, "TOP", target)),
            }
        }
        if key.is_none() {
            unkeyed += 1;
        }
        msgs.push(Msg {
            num: scan.msg,
            size: scan.octets,
            key,
        });
    }
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut duplicates = 0;
    for msg in &mut msgs {
        if let Some(key) = &mut msg.key {
            let count = seen.entry(key.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                duplicates += 1;
                *key = format!("{key} #{count}");
            }
        }
    }
    if !any_uid && hashed + unkeyed > 0 {
        log.warn(
            "the server has no UIDL; messages are recognised by a hash of their header (TOP n 0)",
        );
    } else if hashed > 0 {
        log.warn(format!(
            "the server's UIDL listing left out {hashed} message(s); they are recognised by a hash of their header"
        ));
    }
    if duplicates > 0 {
        log.warn(format!(
            "the server lists {duplicates} duplicate unique id(s) (against RFC 1939); each copy is fetched once"
        ));
    }
    if unkeyed > 0 {
        log.warn(format!(
            "{unkeyed} message(s) cannot be told apart (no UIDL and no TOP): they are fetched on every run; \
             use --delete with this server"
        ));
    }
    Ok(msgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(sizes: &[u64]) -> Vec<Msg> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Msg {
                num: i as u64 + 1,
                size,
                key: None,
            })
            .collect()
    }

    fn batch_lengths(sizes: &[u64]) -> Vec<usize> {
        let all = msgs(sizes);
        let refs: Vec<&Msg> = all.iter().collect();
        batches(&refs).iter().map(|b| b.len()).collect()
    }

    #[test]
    fn batches_are_bounded_by_count_and_octets() {
        assert_eq!(batch_lengths(&[]), Vec::<usize>::new());
        assert_eq!(batch_lengths(&[10; 600]), [256, 256, 88]);
        let mib = 1 << 20;
        // 16 MiB fit; the 17th MiB starts a new batch; a message bigger than the limit is a batch of its own.
        assert_eq!(batch_lengths(&[mib; 17]), [16, 1]);
        assert_eq!(batch_lengths(&[1, 40 * mib, 1, 1]), [1, 1, 2]);
    }
}
