//! Progress display: one bar per account on a terminal (indicatif), nothing otherwise (cron mails what a
//! program prints).

use std::io::IsTerminal;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Every bar of the run, so that several accounts fetched at once each keep a line.
static BARS: LazyLock<MultiProgress> =
    LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));

/// Runs `print` with the bars hidden, so that a line of output does not tear them.
pub(crate) fn suspend<R>(print: impl FnOnce() -> R) -> R {
    BARS.suspend(print)
}

/// Counts messages and bytes, and shows them on standard error.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    total_msgs: u64,
    msgs: u64,
    bytes: u64,
    started: Instant,
}

impl Progress {
    /// A display that draws a bar labelled `label` if standard error is a terminal, nothing if not or if
    /// `quiet`.
    pub(crate) fn new(quiet: bool, label: Option<&str>) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let style = ProgressStyle::with_template(
                "{prefix}[{bar:24}] {msg}  {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}  {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
            let bar = BARS.add(ProgressBar::new(0).with_style(style));
            if let Some(label) = label {
                bar.set_prefix(format!("{label} "));
            }
            bar
        });
        Self {
            bar,
            total_msgs: 0,
            msgs: 0,
            bytes: 0,
            started: Instant::now(),
        }
    }

    /// Starts counting towards these totals.
    pub(crate) fn start(&mut self, total_msgs: u64, total_bytes: u64) {
        self.total_msgs = total_msgs;
        self.started = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_length(total_bytes);
            bar.set_message(format!("0/{total_msgs} messages"));
            bar.reset_elapsed();
        }
    }

    /// Counts received message octets.
    pub(crate) fn add_bytes(&mut self, n: usize) {
        self.bytes += n as u64;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }

    /// Counts a message stored.
    pub(crate) fn message_done(&mut self) {
        self.msgs += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}/{} messages", self.msgs, self.total_msgs));
        }
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
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            BARS.remove(&bar);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
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
