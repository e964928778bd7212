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
//! # Durability: the order of steps, and why a crash at any point is safe
//!
//! For each new message (Maildir):
//!
//! 1. create `tmp/NAME` — NAME is unique and carries the account tag and the key (see [`crate::maildir`]);
//! 2. write the message as RETR streams it;
//! 3. flush and fsync the file;
//! 4. rename it to `new/NAME` (3 and 4 run on a few threads, so that fsyncs share journal commits);
//!
//! after every batch of up to 256 messages (one pipelined RETR batch), and so before any DELE:
//!
//! 5. wait until every message of the batch is through 4, then fsync `new/`;
//! 6. write the state file: temporary file, fsync, rename over the old one, fsync the directory;
//!
//! at the end, only with `--delete`:
//!
//! 7. DELE every message whose key is in the state (or that was stored in this run);
//! 8. QUIT, which makes the server apply the deletions; then the deleted keys are dropped from the state.
//!
//! A crash before step 4 leaves only a file in `tmp/`, which the next run removes (the run lock guarantees
//! nobody else writes this account's `tmp/` files); the message is still on the server and not in the state, so
//! it is fetched again — once. After step 4 the message is in `new/` (complete: it was fsynced before the
//! rename). Before step 6 the state does not list it, but the next run finds its key in the file name in `new/`
//! or `cur/` and adds it to the state before deciding what to fetch: it is not fetched again. DELE (7) is sent
//! only for messages already in the state, i.e. after 5 and 6; a crash between 7 and 8 ends the session without
//! QUIT, and RFC 1939 then requires the server to delete nothing. A crash after the server applied QUIT leaves
//! keys in the state for messages no longer on the server; each run drops keys absent from the server's
//! listing. For an mbox, see [`crate::mbox`]: the state records the append before it happens, and the next run
//! checks whether it completed.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use pop3_blocking::{Error, Mechanism, Part, Security, Session, Timeouts, TlsOptions};

use crate::cli::Output;
use crate::errors::{self, Failure, Target};
use crate::fault;
use crate::maildir::{Maildir, Recovered};
use crate::mbox::Mbox;
use crate::progress::{Progress, human_bytes, rate};
use crate::state::{RunLock, State, digest_hex, encode_key, with_suffix};
use crate::url::{AuthSpec, PopUrl};

/// Messages per pipelined RETR batch; the state file is written after each.
const BATCH: usize = 256;

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

/// Everything one run needs.
#[derive(Debug)]
pub(crate) struct Config {
    /// The server and account.
    pub(crate) url: PopUrl,
    /// How the connection is protected.
    pub(crate) security: Security,
    /// Allow credentials without TLS.
    pub(crate) allow_plaintext_credentials: bool,
    /// Trusted roots.
    pub(crate) tls: TlsOptions,
    /// Connect, read and write time limit.
    pub(crate) timeout: Duration,
    /// Where messages go.
    pub(crate) output: Output,
    /// `--state-file`.
    pub(crate) state_file: Option<PathBuf>,
    /// `--delete`.
    pub(crate) delete: bool,
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
    /// Where they went.
    pub(crate) destination: PathBuf,
}

/// Informational output (standard output, unless quiet) and warnings (standard error, always).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Log {
    quiet: bool,
}

impl Log {
    /// A log that prints informational lines unless `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    /// An informational line.
    pub(crate) fn info(self, line: impl std::fmt::Display) {
        if !self.quiet {
            println!("{line}");
        }
    }

    /// A warning.
    pub(crate) fn warn(self, line: impl std::fmt::Display) {
        eprintln!("pop3-fetch: warning: {line}");
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
}

impl Store {
    fn begin(&mut self, key: Option<&str>) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.begin(key),
            Self::Mbox(m) => {
                m.begin();
                Ok(())
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.write(data),
            Self::Mbox(m) => m.write(data),
        }
    }

    /// Completes the current message; it is stored durably by the next [`Store::sync`] (the mbox may already
    /// store it here, when its group is full).
    fn finish(&mut self, token: u64, key: Option<&str>, state: &mut State) -> io::Result<()> {
        match self {
            Self::Maildir(m) => m.finish(token),
            Self::Mbox(m) => m.finish(token, key, state),
        }
    }

    /// Makes every finished message durable; returns each one's outcome. The mbox records the keys of what it
    /// stored in `state` itself; for the Maildir, the caller does.
    fn sync(&mut self, state: &mut State) -> io::Result<Vec<(u64, io::Result<()>)>> {
        match self {
            Self::Maildir(m) => m.sync(),
            Self::Mbox(m) => Ok(m.sync(state)?.into_iter().map(|t| (t, Ok(()))).collect()),
        }
    }

    fn discard(&mut self) {
        match self {
            Self::Maildir(m) => m.discard(),
            Self::Mbox(m) => m.discard(),
        }
    }
}

/// Runs one fetch.
///
/// # Errors
/// See [`Failure`].
pub(crate) fn run(cfg: &Config, log: Log) -> Result<Summary, Failure> {
    let url = &cfg.url;
    let account = url.account();
    let tag = digest_hex(account.as_bytes())[..12].to_owned();
    let state_name = format!(".pop3-fetch-state.{}", encode_key(&account));

    // Local side first: a problem there should not cost a login.
    let (mut store, state_path, destination) = match &cfg.output {
        Output::Maildir(dir) => {
            let maildir = Maildir::open(dir, &tag).map_err(|e| {
                Failure::local(format!("opening the Maildir {}", dir.display()), &e)
            })?;
            let state = cfg
                .state_file
                .clone()
                .unwrap_or_else(|| dir.join(&state_name));
            (Store::Maildir(maildir), state, dir.clone())
        }
        Output::Mbox(file) => {
            let mbox = Mbox::open(file)
                .map_err(|e| Failure::local(format!("opening the mbox {}", file.display()), &e))?;
            let state = cfg
                .state_file
                .clone()
                .unwrap_or_else(|| with_suffix(file, &state_name));
            (Store::Mbox(mbox), state, file.clone())
        }
    };
    let _lock = RunLock::acquire(&state_path).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => Failure::Local(e.to_string()),
        _ => Failure::local(format!("locking {}", state_path.display()), &e),
    })?;
    let mut state = State::load(&state_path, &account)
        .map_err(|e| Failure::local("reading the state file", &e))?;
    let recovered = match &store {
        Store::Maildir(m) => m
            .recover()
            .map_err(|e| Failure::local(format!("scanning {}", m.path().display()), &e))?,
        Store::Mbox(m) => {
            if let Some(note) = m
                .recover(&mut state)
                .map_err(|e| Failure::local(format!("checking {}", m.path().display()), &e))?
            {
                log.warn(note);
            }
            Recovered::default()
        }
    };

    // Connect and log in.
    let target = Target {
        host: url.host.clone(),
        port: url.port,
        implicit_tls: url.implicit_tls,
    };
    let mut builder = Session::builder(url.host.clone())
        .port(url.port)
        .security(cfg.security)
        .tls(cfg.tls.clone())
        .timeouts(Timeouts::all(cfg.timeout).with_response(None));
    if cfg.allow_plaintext_credentials {
        builder = builder.allow_plaintext_credentials();
    }
    if cfg.debug {
        builder = builder.debug_level(1).trace_to(io::stderr());
    }
    let mut session = builder
        .connect()
        .map_err(|e| errors::connection(e, &target))?;
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
        None => log.warn(format!(
            "the connection to {target} is NOT encrypted: your password and mail travel in clear"
        )),
    }
    let method = authenticate(&mut session, cfg, &target)?;
    log.info(format!("Logged in as {} ({method})", url.user));

    // What is there, and what is new.
    match session.capa() {
        Ok(_) | Err(Error::Server(_)) => {}
        Err(e) => return Err(errors::session(e, "CAPA", &target)),
    }
    let msgs = list_messages(&mut session, &target, log)?;
    let mut from_files = 0;
    for key in msgs.iter().filter_map(|m| m.key.as_deref()) {
        if !state.contains(key) && recovered.contains(key) {
            state.insert(key);
            from_files += 1;
        }
    }
    if from_files > 0 {
        log.info(format!(
            "Recovered {from_files} message(s) stored by an interrupted run (found in {})",
            destination.display()
        ));
    }
    let listed: HashSet<&str> = msgs.iter().filter_map(|m| m.key.as_deref()).collect();
    state.retain(|key| listed.contains(key));
    state
        .save()
        .map_err(|e| Failure::local("writing the state file", &e))?;
    let new: Vec<&Msg> = msgs
        .iter()
        .filter(|m| m.key.as_deref().is_none_or(|k| !state.contains(k)))
        .collect();
    let new_bytes: u64 = new.iter().map(|m| m.size).sum();
    log.info(format!(
        "{} message(s) on the server, {} new ({})",
        msgs.len(),
        new.len(),
        human_bytes(new_bytes)
    ));

    // Fetch.
    let mut progress = Progress::new(cfg.quiet);
    progress.start(new.len() as u64, new_bytes);
    let mut stored: HashSet<u64> = HashSet::new();
    let mut refused = Vec::new();
    for batch in new.chunks(BATCH) {
        let nums: Vec<u64> = batch.iter().map(|m| m.num).collect();
        let keys: HashMap<u64, Option<&str>> =
            batch.iter().map(|m| (m.num, m.key.as_deref())).collect();
        let mut current = None;
        let result = session.retr_many(&nums, |num, part| {
            let key = keys.get(&num).copied().flatten();
            match part {
                Part::Data(data) => {
                    if current != Some(num) {
                        store.begin(key)?;
                        current = Some(num);
                    }
                    store.write(data)?;
                    progress.add_bytes(data.len());
                }
                Part::End => {
                    if current != Some(num) {
                        store.begin(key)?; // an empty message
                    }
                    current = None;
                    store.finish(num, key, &mut state)?;
                    progress.message_done();
                }
                Part::Refused(error) => {
                    if current == Some(num) {
                        store.discard();
                        current = None;
                    }
                    refused.push((num, error));
                }
                _ => {}
            }
            Ok(())
        });
        if result.is_err() {
            store.discard();
        }
        // Whatever happened, record what reached the disk.
        let mut store_error = None;
        match store.sync(&mut state) {
            Ok(outcomes) => {
                for (num, outcome) in outcomes {
                    match outcome {
                        Ok(()) => {
                            if let Some(key) = keys.get(&num).copied().flatten() {
                                state.insert(key);
                            }
                            stored.insert(num);
                        }
                        Err(e) => {
                            store_error.get_or_insert(e);
                        }
                    }
                }
            }
            Err(e) => store_error = Some(e),
        }
        let saved = state.save();
        if let Err(error) = result {
            progress.clear();
            return Err(errors::session(error, "RETR", &target));
        }
        if let Some(e) = store_error {
            progress.clear();
            return Err(Failure::local(
                format!("storing a message in {}", destination.display()),
                &e,
            ));
        }
        saved.map_err(|e| Failure::local("writing the state file", &e))?;
    }
    progress.clear();
    for (num, error) in &refused {
        log.warn(format!("the server would not give message {num}: {error}"));
    }

    // Delete what is safely stored, then QUIT.
    let mut deleted = 0;
    if cfg.delete {
        let doomed: Vec<&Msg> = msgs
            .iter()
            .filter(|m| {
                stored.contains(&m.num) || m.key.as_deref().is_some_and(|k| state.contains(k))
            })
            .collect();
        let nums: Vec<u64> = doomed.iter().map(|m| m.num).collect();
        fault::step("DELE");
        let outcomes = session
            .dele_many(&nums)
            .map_err(|e| errors::session(e, "DELE", &target))?;
        for (msg, outcome) in doomed.iter().zip(&outcomes) {
            if let Err(error) = outcome {
                log.warn(format!(
                    "the server would not delete message {}: {error}",
                    msg.num
                ));
            }
        }
        fault::step("QUIT");
        session.quit().map_err(|e| {
            errors::session(
                e,
                "QUIT (deletions may not have been applied; the next run retries them)",
                &target,
            )
        })?;
        fault::step("state: forget deleted messages");
        for (msg, outcome) in doomed.iter().zip(&outcomes) {
            if outcome.is_ok() {
                deleted += 1;
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

    Ok(Summary {
        on_server: msgs.len() as u64,
        fetched: progress.messages(),
        bytes: progress.bytes(),
        elapsed: progress.elapsed(),
        deleted,
        refused: refused.len() as u64,
        destination,
    })
}

impl Summary {
    /// The closing line.
    pub(crate) fn line(&self) -> String {
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
            let mechanism = if name == "OAUTHBEARER" {
                Mechanism::oauthbearer(user, token.as_str())
            } else {
                Mechanism::xoauth2(user, token.as_str())
            };
            session
                .auth(mechanism)
                .map_err(|e| errors::login(e, user, &name, target, login_delay(session)))?;
            Ok(name)
        }
        Secret::Password(password) => {
            let password = password.as_str();
            match &cfg.url.auth {
                AuthSpec::Any => session
                    .login(user, password)
                    .map(|method| method.name().to_owned())
                    .map_err(|e| {
                        errors::login(
                            e,
                            user,
                            "the best method offered",
                            target,
                            login_delay(session),
                        )
                    }),
                AuthSpec::Apop => session
                    .apop(user, password)
                    .map(|()| "APOP".to_owned())
                    .map_err(|e| errors::login(e, user, "APOP", target, login_delay(session))),
                AuthSpec::User => session
                    .user(user)
                    .and_then(|()| session.pass(password))
                    .map(|()| "USER/PASS".to_owned())
                    .map_err(|e| errors::login(e, user, "USER/PASS", target, login_delay(session))),
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
                    session
                        .auth(mechanism)
                        .map(|()| name.clone())
                        .map_err(|e| errors::login(e, user, name, target, login_delay(session)))
                }
            }
        }
    }
}

/// The LOGIN-DELAY the server announced, in seconds, if any.
fn login_delay(session: &Session) -> Option<u64> {
    session.capabilities().and_then(|caps| caps.login_delay())
}

/// LIST, UIDL (and TOP for messages without a UID), turned into keyed messages.
fn list_messages(session: &mut Session, target: &Target, log: Log) -> Result<Vec<Msg>, Failure> {
    // One round trip for both when the server pipelines; a server without UIDL only leaves the UIDs out.
    let listing = session
        .listing()
        .map_err(|e| errors::session(e, "LIST", target))?;
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
