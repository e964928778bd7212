//! The optional `Received:` trace header (RFC 5321 §4.4), as fetchmail and getmail write it: which server the
//! message came from, over what, when, and under which unique id. Off by default, since it changes the message.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::url::PopUrl;

/// The header for a message fetched now from `url` under `key`, with CRLF line endings (it goes through the
/// same line-ending conversion as the message).
pub(crate) fn received(url: &PopUrl, key: Option<&str>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let local = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "localhost".to_owned());
    let with = if url.implicit_tls { "POP3S" } else { "POP3" };
    // A key is printable ASCII; the synthetic ones hold a space and are no atom, so they are left out.
    let id = key
        .filter(|k| !k.contains([' ', '(', ')', ';', '<', '>']))
        .map(|k| format!(" id {k}"))
        .unwrap_or_default();
    format!(
        "Received: from {} (port {})\r\n\tby {local} (pop3-fetch) with {with}{id}\r\n\tfor <{}>; {}\r\n",
        url.host,
        url.port,
        url.user.replace(['\r', '\n', '>'], ""),
        rfc5322_date(now)
    )
}

/// `Sat, 5 Dec 2026 15:20:00 +0000`.
fn rfc5322_date(secs: u64) -> String {
    let asctime = crate::mbox::asctime(secs);
    let parts: Vec<&str> = asctime.split_whitespace().collect();
    match parts[..] {
        [weekday, month, day, time, year] => {
            format!("{weekday}, {day} {month} {year} {time} +0000")
        }
        _ => asctime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_server_id_and_date() {
        assert_eq!(
            rfc5322_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        let url = PopUrl::parse("pops://alice@pop.example.org").unwrap();
        let header = received(&url, Some("uid-7"));
        assert!(
            header.starts_with("Received: from pop.example.org (port 995)\r\n\tby "),
            "{header}"
        );
        assert!(
            header.contains("(pop3-fetch) with POP3S id uid-7\r\n\tfor <alice>; "),
            "{header}"
        );
        assert!(header.ends_with(" +0000\r\n"));
        assert!(!received(&url, Some("hdr 0123")).contains(" id "));
    }
}
