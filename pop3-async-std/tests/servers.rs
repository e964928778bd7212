//! The scenarios of `pop3_testkit::servers` (GNU Mailutils, popa3d, solid-pop3d, perdition, each in every mode
//! it offers) run against the async-std client. The servers come from `scripts/install-test-deps.sh`.

mod adapter;

pop3_testkit::server_scenarios!(adapter::AsyncStd);
