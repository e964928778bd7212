//! `cargo fuzz run scripted_session`; without libFuzzer (stable): `cargo run --bin scripted_session -- <files or directories>` replays inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pop3_fuzz::scripted_session(data));

#[cfg(not(fuzzing))]
fn main() {
    pop3_fuzz::replay_main(pop3_fuzz::scripted_session);
}
