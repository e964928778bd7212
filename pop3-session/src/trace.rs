//! The protocol trace, with every secret redacted by the core.
//!
//! Two audiences, one source: the `log` facade always receives the trace (target `pop3`; commands and status
//! lines at `debug`, every other event at `trace`), so `RUST_LOG=pop3=debug` shows a session without touching
//! code; and poplib's `set_debuglevel` (with an optional writer) prints it whatever the logger does.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use log::Level;
use pop3_proto::{Escaped, Event, Transmit};

/// Where trace lines go and how many.
#[derive(Default, Clone)]
pub(crate) struct Trace {
    /// poplib's debug level: 0 off, 1 commands and status lines, 2 every event.
    pub(crate) level: u8,
    /// Where level-selected lines go; `None` sends them to the `log` facade at `info`.
    writer: Option<Arc<Mutex<dyn Write + Send>>>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("level", &self.level)
            .field("writer", &self.writer.is_some())
            .finish()
    }
}

impl Trace {
    pub(crate) fn set_writer(&mut self, writer: impl Write + Send + 'static) {
        self.writer = Some(Arc::new(Mutex::new(writer)));
    }

    /// Whether a line of this detail (1 or 2) goes anywhere; formatting costs nothing when it does not.
    fn wanted(&self, detail: u8) -> bool {
        self.level >= detail || log::log_enabled!(target: "pop3", level_of(detail))
    }

    fn line(&self, detail: u8, args: fmt::Arguments<'_>) {
        if self.level >= detail {
            match &self.writer {
                // A failing trace writer must not fail the session; a poisoned one still takes lines.
                Some(writer) => {
                    let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
                    drop(writeln!(writer, "{args}"));
                    return;
                }
                None => {
                    log::info!(target: "pop3", "{args}");
                    return;
                }
            }
        }
        log::log!(target: "pop3", level_of(detail), "{args}");
    }

    /// A command line as sent, credentials redacted.
    pub(crate) fn sent(&self, transmit: &Transmit<'_>) {
        if self.wanted(1) {
            self.line(1, format_args!("C: {}", transmit.redacted()));
        }
    }

    /// A status line at detail 1; every other event at detail 2 (bodies by size only).
    pub(crate) fn received(&self, event: &Event<'_>) {
        let detail = match event {
            Event::Greeting { .. } | Event::Ok { .. } | Event::Err { .. } => 1,
            _ => 2,
        };
        if !self.wanted(detail) {
            return;
        }
        match event {
            Event::Greeting { ok, reply } => {
                let status = if *ok { "+OK" } else { "-ERR" };
                self.line(1, format_args!("S: {status} {reply}"));
            }
            Event::Ok { reply, .. } => self.line(1, format_args!("S: +OK {reply}")),
            Event::Err { reply, .. } => self.line(1, format_args!("S: -ERR {reply}")),
            Event::Body { chunk, .. } => self.line(2, format_args!("S: <{} octets>", chunk.len())),
            Event::Line { line, .. } => self.line(2, format_args!("S: {}", Escaped::new(line))),
            other => self.line(2, format_args!("S: {other:?}")),
        }
    }

    /// Anything else worth a line at detail 1.
    pub(crate) fn note(&self, args: fmt::Arguments<'_>) {
        if self.wanted(1) {
            self.line(1, format_args!("-- {args}"));
        }
    }
}

fn level_of(detail: u8) -> Level {
    if detail <= 1 {
        Level::Debug
    } else {
        Level::Trace
    }
}
