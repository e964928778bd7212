//! `HOSTILE-COVERAGE.md` at the root of the workspace says which tests cover each case of the hostile-server
//! catalogue (`pop3-testkit/hostile-cases.txt`). It is rendered here from the tests themselves, so it cannot go
//! stale: a test covers a case when it carries the case's id, in its name (`fn g04_dot_stuffing`) or in a comment
//! (`/// ... (E-05)` above it, `// B-06: ...` inside it, `//! ...` for a whole file). This test fails when the
//! file differs from the rendering (printing the new content; `POP3_UPDATE_COVERAGE=1` writes it), when a test
//! names an id the catalogue does not have, and when a case has neither a test nor a reason for having none.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// One catalogue entry.
struct Case {
    id: String,
    title: String,
    /// Why no test covers it, for a case without one.
    uncovered_because: Option<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit lives in the workspace")
        .to_path_buf()
}

fn catalogue() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile-cases.txt");
    let text = fs::read_to_string(&path).expect("the catalogue");
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split('\t');
            let id = fields.next().expect("an id").to_owned();
            assert!(is_id(id.as_bytes()), "{path:?}: not a case id: {id:?}");
            Case {
                id,
                title: fields.next().expect("a title").to_owned(),
                uncovered_because: fields.next().map(str::to_owned),
            }
        })
        .collect()
}

/// `X-NN` with X in A..=J.
fn is_id(bytes: &[u8]) -> bool {
    bytes.len() == 4
        && (b'A'..=b'J').contains(&bytes[0])
        && bytes[1] == b'-'
        && bytes[2..].iter().all(u8::is_ascii_digit)
}

/// The case ids a line mentions: `E-05`, `A-07a` (a variant of A-07), and ranges such as `B-01…B-06`.
fn ids_in(line: &str) -> Vec<String> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let ends_number = bytes.get(at + 4).is_none_or(|b| !b.is_ascii_digit());
        if !(starts_word && ends_number && is_id(&bytes[at..at + 4])) {
            at += 1;
            continue;
        }
        let id = &line[at..at + 4];
        found.push(id.to_owned());
        let mut next = at + 4;
        while bytes.get(next).is_some_and(u8::is_ascii_lowercase) {
            next += 1;
        }
        for range in ["…", "..", "–"] {
            let rest = &line[next..];
            let Some(end) = rest.strip_prefix(range) else {
                continue;
            };
            let end_id = end.get(..4).unwrap_or_default();
            if is_id(end_id.as_bytes()) && end_id.as_bytes()[0] == id.as_bytes()[0] {
                let first: u32 = id[2..].parse().expect("digits");
                let last: u32 = end_id[2..].parse().expect("digits");
                found.extend((first + 1..=last).map(|n| format!("{}-{n:02}", &id[..1])));
                next += range.len() + 4;
            }
        }
        at = next;
    }
    found
}

/// `fn NAME` at the start of a line (after visibility and `async`), and the name.
fn declared_fn(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub ", "async "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The id a test's name starts with: `g04_dot_stuffing` covers G-04.
fn id_in_name(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let named = b.len() > 4
        && (b'a'..=b'j').contains(&b[0])
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'_';
    named.then(|| format!("{}-{}", name[..1].to_ascii_uppercase(), &name[1..3]))
}

/// The test sources: every file under a `tests` directory but their helper modules, the shared scenarios, the fuzz harness's checks, and
/// the `#[cfg(test)]` part of every other source file. Paths relative to the workspace root.
fn test_sources(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("a readable workspace") {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    let this_file = Path::new(file!()).file_name().expect("a file name");
    let mut sources = Vec::new();
    for path in files {
        let relative = path.strip_prefix(root).expect("under the root");
        let shown = relative.to_string_lossy().replace('\\', "/");
        if path.file_name() == Some(this_file) {
            continue;
        }
        let text = fs::read_to_string(&path).expect("a readable source");
        let in_dir = |name: &str| relative.components().any(|c| c.as_os_str() == name);
        if in_dir("tests") && (in_dir("support") || in_dir("common")) {
            // Helpers shared by tests: a case they mention is covered by the tests that use them.
            continue;
        }
        let whole = in_dir("tests")
            || shown == "pop3-testkit/src/scenarios.rs"
            || shown.starts_with("fuzz/src/");
        if whole {
            sources.push((shown, text));
        } else if let Some(at) = text.find("#[cfg(test)]") {
            sources.push((shown, text[at..].to_owned()));
        }
    }
    sources.sort();
    sources
}

/// Which tests carry which ids: id → set of `file::function` (or `file` for a file-level comment).
fn coverage(sources: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut covered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in sources {
        let lines: Vec<&str> = text.lines().collect();
        let fns: Vec<(usize, &str)> = lines
            .iter()
            .enumerate()
            .filter_map(|(n, line)| declared_fn(line).map(|name| (n, name)))
            .collect();
        let owner = |name: &str| format!("{file}::{name}");
        for &(_, name) in &fns {
            if let Some(id) = id_in_name(name) {
                covered.entry(id).or_default().insert(owner(name));
            }
        }
        for (n, line) in lines.iter().enumerate() {
            let ids = ids_in(line);
            if ids.is_empty() {
                continue;
            }
            let trimmed = line.trim_start();
            let next_fn = fns.iter().find(|&&(at, _)| at >= n).map(|&(_, name)| name);
            let enclosing = fns
                .iter()
                .rev()
                .find(|&&(at, _)| at <= n)
                .map(|&(_, name)| name);
            let holder = if trimmed.starts_with("//!") {
                file.clone()
            } else if trimmed.starts_with("///") || trimmed.starts_with("#[") {
                next_fn.map_or_else(|| file.clone(), owner)
            } else {
                enclosing.or(next_fn).map_or_else(|| file.clone(), owner)
            };
            for id in ids {
                covered.entry(id).or_default().insert(holder.clone());
            }
        }
    }
    covered
}

fn render(cases: &[Case], covered: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from(
        "# Hostile-server cases and the tests that cover them\n\n\
         Generated by `pop3-testkit/tests/hostile_coverage.rs` from the case list in \
         `pop3-testkit/hostile-cases.txt` and the case ids that tests carry in their names or comments; that test \
         fails when this file is out of date (`POP3_UPDATE_COVERAGE=1 cargo test -p pop3-testkit --test \
         hostile_coverage` rewrites it). Functions of `pop3-testkit/src/scenarios.rs` run once per driver \
         (pop3-blocking, pop3-async-std, pop3-tokio) from each driver's `tests/scenarios.rs`; `fuzz/src` holds the \
         invariants the fuzz targets check on every input.\n\n\
         | Case | Title | Covered by |\n|---|---|---|\n",
    );
    let mut count = 0;
    for case in cases {
        let tests = covered.get(&case.id);
        let cell = match (tests, &case.uncovered_because) {
            (Some(tests), _) => {
                count += 1;
                let names: Vec<String> = tests.iter().map(|t| format!("`{t}`")).collect();
                names.join("<br>")
            }
            (None, Some(why)) => format!("not covered: {why}"),
            (None, None) => "not covered".to_owned(),
        };
        let title = case.title.replace('|', "\\|");
        writeln!(out, "| {} | {title} | {cell} |", case.id).expect("writing to a String");
    }
    writeln!(out, "\n{count} of {} cases covered.", cases.len()).expect("writing to a String");
    out
}

#[test]
fn ids_are_found_in_their_spellings() {
    assert_eq!(ids_in("(A-12, E-05, E-06)"), ["A-12", "E-05", "E-06"]);
    assert_eq!(ids_in("A-09b and A-07a"), ["A-09", "A-07"]);
    assert_eq!(ids_in("B-01…B-03, B-08"), ["B-01", "B-02", "B-03", "B-08"]);
    assert!(ids_in("SCRAM-SHA-256, RFC-1939, XA-01, A-012").is_empty());
    assert_eq!(id_in_name("g04_dot_stuffing").as_deref(), Some("G-04"));
    assert_eq!(id_in_name("go4_x"), None);
    assert_eq!(
        declared_fn("    pub fn scripted_alpn<A: Adapter>("),
        Some("scripted_alpn")
    );
}

#[test]
fn hostile_coverage_table_is_up_to_date() {
    let root = workspace_root();
    let cases = catalogue();
    let covered = coverage(&test_sources(&root));

    let known: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let unknown: Vec<String> = covered
        .iter()
        .filter(|(id, _)| !known.contains(id.as_str()))
        .map(|(id, tests)| format!("{id} (in {tests:?})"))
        .collect();
    assert!(
        unknown.is_empty(),
        "tests name cases the catalogue does not have: {unknown:?}"
    );
    let unexplained: Vec<&str> = cases
        .iter()
        .filter(|c| !covered.contains_key(&c.id) && c.uncovered_because.is_none())
        .map(|c| c.id.as_str())
        .collect();
    let stale: Vec<&str> = cases
        .iter()
        .filter(|c| covered.contains_key(&c.id) && c.uncovered_because.is_some())
        .map(|c| c.id.as_str())
        .collect();

    let rendered = render(&cases, &covered);
    let path = root.join("HOSTILE-COVERAGE.md");
    let current = fs::read_to_string(&path).unwrap_or_default();
    if current != rendered {
        if std::env::var_os("POP3_UPDATE_COVERAGE").is_some() {
            fs::write(&path, &rendered).expect("writing HOSTILE-COVERAGE.md");
        } else {
            panic!(
                "HOSTILE-COVERAGE.md is out of date; run with POP3_UPDATE_COVERAGE=1 to write it. New content:\n\n{rendered}"
            );
        }
    }
    assert!(
        unexplained.is_empty(),
        "cases with no test and no reason in hostile-cases.txt: {unexplained:?}"
    );
    assert!(
        stale.is_empty(),
        "cases that have tests but still give a reason for having none: {stale:?}"
    );
}
