//! `--demo`: a built-in POP3 server with STLS, and a fetch from it into a new temporary Maildir.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pop3_blocking::{Security, TlsOptions};
use pop3_memserver::tls::TestPki;
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

use crate::cli::{Args, Output};
use crate::errors::Failure;
use crate::fetch::{self, Config, Log, Mode, Secret};
use crate::url::PopUrl;

/// Runs the demo.
///
/// # Errors
/// The demo server cannot start, or the fetch fails.
pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let started = Instant::now();
    let pki = TestPki::generate();
    let mailbox = Mailbox::sample();
    let count = mailbox.len();
    let server = MemServer::start(
        ServerConfig::default()
            .with_user("demo", "demo")
            .with_stls(pki.server_config()),
        mailbox,
    )
    .map_err(|e| Failure::local("starting the demo server", &e))?;
    let port = server.addr().port();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let maildir =
        std::env::temp_dir().join(format!("pop3-fetch-demo-{}-{nanos:x}", std::process::id()));
    println!("pop3-fetch demo");
    println!(
        "  Started a demo POP3 server on 127.0.0.1:{port} (pop3-memserver) with {count} sample messages, \
         user demo, password demo."
    );
    println!(
        "  It offers STLS with a certificate from a throw-away test CA made just now; this run trusts that CA \
         and nothing else, so the password and the mail travel encrypted even on loopback."
    );
    println!("  Maildir: {}", maildir.display());
    println!();

    let url = PopUrl::parse(&format!("pop://demo@127.0.0.1:{port}")).map_err(Failure::Usage)?;
    let tls = TlsOptions::default()
        .ca_pem(pki.ca.cert_pem().as_bytes())
        .map_err(|e| Failure::Local(format!("the demo CA: {e}")))?;
    let config = Config {
        url: url.clone(),
        security: Security::StartTls,
        allow_plaintext_credentials: false,
        tls,
        timeout: Duration::from_secs(10),
        response_timeout: Duration::from_secs(100),
        account: url.account(),
        output: Output::Maildir(maildir.clone()),
        state_file: None,
        delete: false,
        skip_size: None,
        kill_size: None,
        lf: true,
        trace_header: false,
        mode: Mode::Fetch,
        refetch: false,
        secret: Secret::Password("demo".to_owned()),
        quiet: args.other.quiet,
        debug: args.other.debug,
    };
    let log = Log::new(args.other.quiet);
    println!(
        "Fetching, as `pop3-fetch --maildir {} --ca-file <demo CA> {}` would:",
        maildir.display(),
        config.url
    );
    let summary = fetch::run(&config, log)?;
    println!("{}", summary.line());
    println!();
    println!(
        "Running the same command again: messages already fetched are remembered by their UIDL."
    );
    let again = fetch::run(&config, log)?;
    println!("{}", again.line());
    println!();
    println!("Messages in {}:", maildir.join("new").display());
    for (i, subject) in subjects(&maildir.join("new")).iter().enumerate() {
        println!("  {}. {subject}", i + 1);
    }
    println!();
    println!(
        "Demo finished in {:.2} s. The Maildir stays for you to look at; remove it with: rm -r {}",
        started.elapsed().as_secs_f64(),
        maildir.display()
    );
    Ok(())
}

/// The decoded Subject of every message in `dir`, in delivery order.
fn subjects(dir: &Path) -> Vec<String> {
    let mut files: Vec<(Vec<u64>, PathBuf)> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    // secs.M<usec>P<pid>Q<seq>.host…: order by the numbers.
                    let order = name
                        .split(|c: char| !c.is_ascii_digit())
                        .take(4)
                        .map(|n| n.parse().unwrap_or(0))
                        .collect();
                    (order, e.path())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|(_, path)| {
            fs::read(path)
                .ok()
                .and_then(|m| subject(&m))
                .unwrap_or_else(|| "(no subject)".to_owned())
        })
        .collect()
}

/// The message's Subject header, unfolded and with RFC 2047 encoded words decoded.
fn subject(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let mut value = None::<String>;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line),
            Some(_) => break,
            None => {
                if line.len() > 8 && line[..8].eq_ignore_ascii_case("subject:") {
                    value = Some(line[8..].trim().to_owned());
                }
            }
        }
    }
    value.map(|v| decode_words(&v))
}

/// Decodes RFC 2047 encoded words in UTF-8, US-ASCII or ISO-8859-1; leaves anything else as it is.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let decoded = candidate[2..].split_once('?').and_then(|(charset, tail)| {
            let (encoding, tail) = tail.split_once('?')?;
            let end = tail.find("?=")?;
            let bytes = match encoding {
                "Q" | "q" => q_decode(&tail[..end])?,
                "B" | "b" => b_decode(&tail[..end])?,
                _ => return None,
            };
            let text = match charset.to_ascii_uppercase().as_str() {
                "UTF-8" | "US-ASCII" => String::from_utf8_lossy(&bytes).into_owned(),
                "ISO-8859-1" | "LATIN1" => bytes.iter().map(|&b| char::from(b)).collect(),
                _ => return None,
            };
            let consumed = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
            Some((text, consumed))
        });
        match decoded {
            Some((text, consumed)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[consumed..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

fn q_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn b_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_decoded() {
        assert_eq!(
            subject(b"From: a\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n\r\nSubject: no\r\n").unwrap(),
            "Grüße aus Köln"
        );
        assert_eq!(
            subject(b"Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= =?utf-8?b?IGF1cw==?= x\r\n\r\n").unwrap(),
            "Grüße aus x"
        );
        assert_eq!(
            subject(b"Subject: long\r\n folded\r\nTo: b\r\n\r\n").unwrap(),
            "long folded"
        );
        assert_eq!(subject(b"To: b\r\n\r\nSubject: body\r\n"), None);
        assert_eq!(decode_words("a =?x?y"), "a =?x?y");
    }
}
