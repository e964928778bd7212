//! UIDs that look like paths never become paths: the fetcher files each message under a name of its own making
//! in `new/`, the UID encoded into one component of that name, distinct UIDs giving distinct encodings that
//! decode back to exactly the UID (so a run without the state file recognises every message). (J-03, H-05)
//!
//! NUL and the empty UID cannot reach the encoder: the protocol layer refuses such a UIDL line first (H-05, tested
//! in `pop3-proto`). Every other case of the catalogue is a legal UID and is served here by a real server.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use pop3_memserver::Mailbox;

/// Legal UIDs (1–70 octets of 0x21–0x7E) chosen to break a careless file-name encoder: path traversal, both
/// separators, drive letters, a reserved Windows device name in two cases, 70 dots, and UIDs that equal
/// another's encoding.
const HOSTILE_UIDS: &[&str] = &[
    "../",
    "/",
    "\\",
    ":",
    "..",
    ".",
    "CON",
    "con",
    "../../../.ssh/authorized_keys",
    "a/b",
    "a%2Fb",
    "a%252Fb",
    "C:\\x",
    "new/x",
    "%00",
    "U=x,H=y",
];

fn hostile_mailbox() -> Mailbox {
    let seventy_dots = ".".repeat(70);
    let mut uids: Vec<&str> = HOSTILE_UIDS.to_vec();
    uids.push(&seventy_dots);
    let mut mailbox = Mailbox::new();
    for (n, uid) in uids.iter().enumerate() {
        let message = format!(
            "From: a@example.org\r\nSubject: message {n}\r\nMessage-ID: <uid-{n}@example.org>\r\n\r\nUID {uid}\r\n"
        );
        mailbox = mailbox.with_message_uid(*uid, message.into_bytes());
    }
    mailbox
}

/// Every path under `dir`, relative to it.
fn all_paths(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn hostile_uids_stay_inside_one_file_name_and_stay_distinct() {
    let dir = TempDir::new("hostile-uids");
    let ca = dir.join("ca.pem");
    let mailbox = hostile_mailbox();
    let server = stls_server(mailbox.clone(), &ca);
    let maildir = dir.join("Maildir");
    let args = maildir_args(&[], &maildir, &ca, &server);
    let out = run_ok("demo", &args);
    assert!(out.contains(&format!("{} new", mailbox.len())), "{out}");
    assert_eq!(maildir_messages(&maildir), mailbox_messages(&mailbox));

    // Nothing was created anywhere but the Maildir's own files: no directory named after a UID, nothing outside.
    let state = ".pop3-fetch-state.demo@127.0.0.1";
    let mut names = Vec::new();
    for path in all_paths(dir.path()) {
        let parts: Vec<_> = path.iter().map(|p| p.to_str().unwrap()).collect();
        match parts[..] {
            ["ca.pem"] | ["Maildir"] | ["Maildir", "tmp" | "new" | "cur"] => {}
            // The state file and its lock.
            ["Maildir", name] if name.strip_suffix(".lock").unwrap_or(name) == state => {}
            ["Maildir", "new", name] => names.push(name.to_owned()),
            _ => panic!("unexpected path {path:?}"),
        }
    }
    assert_eq!(names.len(), mailbox.len(), "{names:?}");

    // One key per name, each a distinct encoding made of file-name-safe characters only.
    let mut keys = HashSet::new();
    for name in &names {
        // `:` starts the Maildir info part, which mail readers rewrite.
        assert!(
            !name.contains(['/', '\\', '\0', ':']),
            "a separator, a NUL or a colon in {name:?}"
        );
        assert!(!name.starts_with('.'), "a hidden file: {name:?}");
        let key = name
            .split(',')
            .find_map(|field| field.strip_prefix("U="))
            .unwrap_or_else(|| panic!("no key in {name:?}"));
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+=@%".contains(&b)),
            "unsafe characters in the key of {name:?}"
        );
        assert!(keys.insert(key.to_owned()), "two UIDs encoded as {key:?}");
    }

    // Without the state file, the keys in the names are all there is: decoded, they must give back every UID
    // exactly, or a message would be fetched twice.
    fs::remove_file(maildir.join(state)).unwrap();
    let out = run_ok("demo", &args);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(maildir_messages(&maildir), mailbox_messages(&mailbox));
}
