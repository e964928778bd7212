//! `cargo fuzz run listings`; without libFuzzer (stable): `cargo run --bin listings -- <files or directories>` replays inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pop3_fuzz::listings(data));

#[cfg(not(fuzzing))]
fn main() {
    pop3_fuzz::replay_main(pop3_fuzz::listings);
}
