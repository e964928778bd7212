//! The protocol trace (poplib's `set_debuglevel`), with every secret redacted by the core.
//!
//! Shared by both clients (hidden from the docs): trace writes are synchronous, since a trace goes to a log or a
//! terminal and a line is small.

use std::fmt;
use std::io::Write;

use pop3_proto::{Escaped, Event, Transmit};

/// Where trace lines go and how many.
#[derive(Default)]
pub struct Trace {
    /// 0 off, 1 commands and status lines, 2 every event.
    pub level: u8,
    /// Where lines go; `None` sends them to the `log` facade (target `pop3`).
    pub writer: Option<Box<dyn Write + Send>>,
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
    fn line(&mut self, args: fmt::Arguments<'_>) {
        match &mut self.writer {
            // A failing trace writer must not fail the session.
            Some(writer) => drop(writeln!(writer, "{args}")),
            None => log::debug!(target: "pop3", "{args}"),
        }
    }

    /// A command line as sent, credentials redacted.
    pub fn sent(&mut self, transmit: &Transmit<'_>) {
        if self.level >= 1 {
            self.line(format_args!("C: {}", transmit.redacted()));
        }
    }

    /// A status line at level 1; at level 2 every event (bodies by size only).
    pub fn received(&mut self, event: &Event<'_>) {
        match event {
            _ if self.level == 0 => {}
            Event::Greeting { ok, reply } => {
                let status = if *ok { "+OK" } else { "-ERR" };
                self.line(format_args!("S: {status} {reply}"));
            }
            Event::Ok { reply, .. } => self.line(format_args!("S: +OK {reply}")),
            Event::Err { reply, .. } => self.line(format_args!("S: -ERR {reply}")),
            _ if self.level < 2 => {}
            Event::Body { chunk, .. } => self.line(format_args!("S: <{} octets>", chunk.len())),
            Event::Line { line, .. } => self.line(format_args!("S: {}", Escaped::new(line))),
            other => self.line(format_args!("S: {other:?}")),
        }
    }

    /// Anything else worth a line at level 1.
    pub fn note(&mut self, args: fmt::Arguments<'_>) {
        if self.level >= 1 {
            self.line(format_args!("-- {args}"));
        }
    }
}
