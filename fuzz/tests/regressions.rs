//! Replays every seed, every corpus file and every regression input through the harness, on stable and without
//! libFuzzer, so the invariants the fuzzers check run in `cargo test` too.
//!
//! Inputs in `regressions/<target>/` named `open-<finding id>[--<note>]` reproduce a finding that is not fixed yet:
//! they must still fail (so the test notices when a fix lands and the file should be renamed `fixed-…`). Any other
//! file there must pass.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use pop3_fuzz::{TARGETS, inputs, seeds};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target(name: &str) -> fn(&[u8]) {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"))
        .1
}

#[test]
fn seeds_pass() {
    for (name, seed, bytes) in seeds::all() {
        eprintln!("seed {name}/{seed}");
        target(name)(&bytes);
    }
}

#[test]
fn write_seeds() {
    if std::env::var_os("POP3_FUZZ_WRITE_SEEDS").is_none() {
        return;
    }
    for (name, seed, bytes) in seeds::all() {
        let dir = root().join("corpus").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{seed}")), bytes).unwrap();
    }
    for (prefix, findings) in [
        ("open", seeds::open_findings()),
        ("fixed", seeds::fixed_findings()),
    ] {
        for (name, finding, bytes) in findings {
            let dir = root().join("regressions").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{prefix}-{finding}")), bytes).unwrap();
        }
    }
}

/// The ids of the findings recorded as open: `regressions/<target>/open-<id>[--<note>]`.
fn open_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for (name, _) in TARGETS {
        for file in inputs(&root().join("regressions").join(name)) {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(rest) = file_name.strip_prefix("open-") {
                ids.push(rest.split("--").next().unwrap().to_owned());
            }
        }
    }
    ids
}

#[test]
fn corpus_passes() {
    // Corpus files were collected while the open findings were allowed; they must pass every other check.
    pop3_fuzz::driver::allow_findings(&open_ids());
    let mut count = 0;
    for (name, run) in TARGETS {
        for file in inputs(&root().join("corpus").join(name)) {
            run(&std::fs::read(&file).unwrap());
            count += 1;
        }
    }
    eprintln!("{count} corpus inputs replayed");
}

#[test]
fn regressions() {
    let mut open = Vec::new();
    for (name, run) in TARGETS {
        for file in inputs(&root().join("regressions").join(name)) {
            let data = std::fs::read(&file).unwrap();
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            if file_name.starts_with("open-") {
                let failed = catch_unwind(AssertUnwindSafe(|| run(&data))).is_err();
                assert!(
                    failed,
                    "{name}/{file_name} no longer fails: the finding is fixed, rename it to fixed-…"
                );
                open.push(format!("{name}/{file_name}"));
            } else {
                run(&data);
            }
        }
    }
    eprintln!("open findings still reproducing: {open:?}");
}
