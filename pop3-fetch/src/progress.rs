//! Progress display: a one-line bar on a terminal, an occasional plain line otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the bar is redrawn.
const BAR_INTERVAL: Duration = Duration::from_millis(100);
/// How often a plain progress line is printed when standard error is not a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// Counts messages and bytes, and shows them on standard error.
#[derive(Debug)]
pub(crate) struct Progress {
    mode: Mode,
    total_msgs: u64,
    total_bytes: u64,
    msgs: u64,
    bytes: u64,
    started: Instant,
    last_shown: Instant,
    bar_visible: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Bar,
    Lines,
}

impl Progress {
    /// A display that draws a bar if standard error is a terminal, plain lines if not, nothing if `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        let now = Instant::now();
        Self {
            mode,
            total_msgs: 0,
            total_bytes: 0,
            msgs: 0,
            bytes: 0,
            started: now,
            last_shown: now,
            bar_visible: false,
        }
    }

    /// Starts counting towards these totals.
    pub(crate) fn start(&mut self, total_msgs: u64, total_bytes: u64) {
        self.total_msgs = total_msgs;
        self.total_bytes = total_bytes;
        self.started = Instant::now();
        self.last_shown = self.started;
    }

    /// Counts received message octets.
    pub(crate) fn add_bytes(&mut self, n: usize) {
        self.bytes += n as u64;
        self.tick(false);
    }

    /// Counts a message stored.
    pub(crate) fn message_done(&mut self) {
        self.msgs += 1;
        self.tick(self.msgs == self.total_msgs);
    }

    /// Messages stored so far.
    pub(crate) fn messages(&self) -> u64 {
        self.msgs
    }

    /// Octets received so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Time since [`Progress::start`].
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Removes the bar, so that ordinary output can follow.
    pub(crate) fn clear(&mut self) {
        if self.bar_visible {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.bar_visible = false;
        }
    }

    fn tick(&mut self, force: bool) {
        let interval = match self.mode {
            Mode::Quiet => return,
            Mode::Bar => BAR_INTERVAL,
            Mode::Lines => LINE_INTERVAL,
        };
        let now = Instant::now();
        if !force && now.duration_since(self.last_shown) < interval {
            return;
        }
        self.last_shown = now;
        let rate = rate(self.bytes, now.duration_since(self.started));
        match self.mode {
            Mode::Bar => {
                const WIDTH: u64 = 24;
                let filled = (self.bytes.min(self.total_bytes) * WIDTH)
                    .checked_div(self.total_bytes)
                    .unwrap_or(WIDTH);
                let bar: String = (0..WIDTH)
                    .map(|i| if i < filled { '#' } else { '-' })
                    .collect();
                eprint!(
                    "\r\x1b[2K[{bar}] {}/{} messages  {} / {}  {rate}",
                    self.msgs,
                    self.total_msgs,
                    human_bytes(self.bytes),
                    human_bytes(self.total_bytes)
                );
                let _ = std::io::stderr().flush();
                self.bar_visible = true;
            }
            Mode::Lines if !force => eprintln!(
                "progress: {}/{} messages, {} of {}, {rate}",
                self.msgs,
                self.total_msgs,
                human_bytes(self.bytes),
                human_bytes(self.total_bytes)
            ),
            Mode::Lines | Mode::Quiet => {}
        }
    }
}

/// `12.3 KiB`-style sizes.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1.2 MiB/s`-style rates.
pub(crate) fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "-".to_owned();
    }
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(rate(2048, Duration::from_secs(2)), "1.0 KiB/s");
    }
}
