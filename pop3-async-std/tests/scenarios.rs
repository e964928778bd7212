//! The shared integration scenarios of `pop3_testkit::scenarios` (real Dovecot and scripted hostile servers), run
//! against the async-std adapter. The scenario traits are synchronous: each call runs one `async fn` to completion
//! with `async_std::task::block_on`.

mod adapter;

pop3_testkit::all_scenarios!(adapter::AsyncStd);
