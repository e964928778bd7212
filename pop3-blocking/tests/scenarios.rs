//! The shared integration scenarios of `pop3_testkit::scenarios`, run against the blocking adapter.

mod adapter;

pop3_testkit::all_scenarios!(adapter::Blocking);
