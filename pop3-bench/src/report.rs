//! Statistics and markdown output.

use std::fmt::Write as _;
use std::time::Duration;

use crate::clients::Measurement;
use crate::memory::{SessionsReport, StreamReport};

/// One client's runs in one workload.
#[derive(Debug)]
pub(crate) struct Row {
    name: String,
    /// Each run's figures, with the raw client's fetch time of the same run.
    runs: Vec<(Measurement, Duration)>,
}

impl Row {
    pub(crate) fn new(name: String) -> Self {
        Self {
            name,
            runs: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, m: Measurement, raw_fetch: Duration) {
        self.runs.push((m, raw_fetch));
    }
}

/// One workload's results.
#[derive(Debug)]
pub(crate) struct Table {
    /// The 1-minute load average when the measured runs started and ended.
    pub(crate) load: (f64, f64),
    pub(crate) title: String,
    /// Unstuffed message octets per run.
    pub(crate) octets: u64,
    /// Wire octets per run (the raw client's count).
    pub(crate) wire: u64,
    pub(crate) rows: Vec<Row>,
}

/// The 1-minute load average (`/proc/loadavg`), or NaN.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The median (mean of the two middle values for an even count) and the minimum.
fn median_min(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0])
}

/// `12 KiB`, `5 MiB`, or plain octets.
pub(crate) fn octets(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

fn ms(secs: f64) -> String {
    if secs >= 10.0 {
        format!("{:.0}", secs * 1e3)
    } else {
        format!("{:.1}", secs * 1e3)
    }
}

impl Table {
    pub(crate) fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "#### {}\n\n{:.1} MB of messages per run ({:.1} MB on the wire). Fetch = every RETR from the \
             first command byte to the last body octet, on a logged-in session; × raw = this client's fetch \
             time divided by the raw client's in the same run (median of runs, with the range), and min/min compares the best runs. 1-minute load \
             average {:.1} at the start, {:.1} at the end ({} CPUs).\n",
            self.title,
            self.octets as f64 / 1e6,
            self.wire as f64 / 1e6,
            self.load.0,
            self.load.1,
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        let _ = writeln!(
            s,
            "| client | runs | setup median (ms) | fetch median (ms) | fetch min (ms) | MB/s (median) | × raw median | × raw range | × raw (min/min) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let raw_min = self.rows.first().map_or(f64::NAN, |raw| {
            median_min(
                raw.runs
                    .iter()
                    .map(|(m, _)| m.fetch.as_secs_f64())
                    .collect(),
            )
            .1
        });
        for row in &self.rows {
            let secs = |f: fn(&Measurement) -> Duration| -> Vec<f64> {
                row.runs.iter().map(|(m, _)| f(m).as_secs_f64()).collect()
            };
            let (setup, _) = median_min(secs(|m| m.setup));
            let (fetch, fetch_min) = median_min(secs(|m| m.fetch));
            let ratios: Vec<f64> = row
                .runs
                .iter()
                .map(|(m, raw)| m.fetch.as_secs_f64() / raw.as_secs_f64())
                .collect();
            let max_ratio = ratios.iter().copied().fold(f64::NAN, f64::max);
            let (ratio, min_ratio) = median_min(ratios);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2}–{:.2} | {:.2} |",
                row.name,
                row.runs.len(),
                ms(setup),
                ms(fetch),
                ms(fetch_min),
                self.octets as f64 / 1e6 / fetch,
                ratio,
                min_ratio,
                max_ratio,
                fetch_min / raw_min
            );
        }
        s
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The 1 GiB streaming table.
pub(crate) fn stream_table(reports: &[StreamReport]) -> String {
    let mut s = String::new();
    let reset = reports.iter().all(|r| r.peak_reset);
    let _ = writeln!(
        s,
        "#### Peak RSS streaming one 1 GiB message into a sink with `retr_to`\n\n\
         One client-only child process per client (default `Config`), the server in another process. \
         Baseline = VmRSS once logged in, idle, right before RETR. Peak = VmHWM after streaming; {}.\n",
        if reset {
            "it was reset (`/proc/self/clear_refs` = 5) at the baseline, so it covers the streaming only"
        } else {
            "it could not be reset, so it covers the whole process life"
        }
    );
    let _ = writeln!(
        s,
        "| client | octets | MB/s | VmRSS at start (MiB) | baseline VmRSS (MiB) | peak VmHWM (MiB) | VmRSS after (MiB) | **peak − baseline (MiB)** |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {} | {} | {} | **{}** |",
            if r.client == "async" {
                "pop3-async-std `retr_to` → `async_std::io::sink()`"
            } else {
                "pop3-blocking `retr_to` → `io::sink()`"
            },
            r.bytes,
            r.bytes as f64 / 1e6 / r.secs,
            mib(r.start.rss_kib),
            mib(r.idle.rss_kib),
            mib(r.after.hwm_kib),
            mib(r.after.rss_kib),
            mib(r.after.hwm_kib.saturating_sub(r.idle.rss_kib))
        );
    }
    s
}

/// The idle-sessions table.
pub(crate) fn sessions_table(reports: &[SessionsReport], servers: usize, nofile: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#### Memory per idle session of the async drivers (plaintext, logged in; pop3-async-std on async-std, \
         pop3-tokio on a current-thread tokio runtime)\n\n\
         Client-only child process (one descriptor per session); the sessions are spread over {servers} \
         MemServer processes, because a MemServer holds two descriptors per connection and the hard open-file \
         limit here is {nofile}. Baseline = RSS with the runtime started and one session opened and closed; \
         per session = (RSS idle − baseline) / sessions.\n"
    );
    let _ = writeln!(
        s,
        "| driver | sessions | `read_size` | open + login (s) | baseline RSS (MiB) | RSS idle (MiB) | per session (KiB) | `size_of::<Session>()` (B) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {} | {:.1} | {} |",
            r.driver,
            r.sessions,
            octets(r.read_size as u64),
            r.open_secs,
            mib(r.baseline.rss_kib),
            mib(r.idle.rss_kib),
            r.idle.rss_kib.saturating_sub(r.baseline.rss_kib) as f64 / r.sessions as f64,
            r.session_size
        );
    }
    s
}
