//! `cargo fuzz run dot_roundtrip`; without libFuzzer (stable): `cargo run --bin dot_roundtrip -- <files or directories>` replays inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pop3_fuzz::dot_roundtrip(data));

#[cfg(not(fuzzing))]
fn main() {
    pop3_fuzz::replay_main(pop3_fuzz::dot_roundtrip);
}
