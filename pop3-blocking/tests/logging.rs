//! The protocol trace reaches the `log` facade without `set_debuglevel`: `RUST_LOG=pop3=debug` shows commands and
//! status lines (credentials redacted), `pop3=trace` every event, and a quieter filter nothing at all.

use std::sync::Mutex;
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};
use pop3_blocking::{Security, Session};
use pop3_memserver::{Mailbox, MemServer, ServerConfig};

/// Keeps every record the filter lets through.
struct Captured(Mutex<Vec<(Level, String)>>);

impl Log for Captured {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "pop3" && metadata.level() <= log::max_level()
    }
    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = (record.level(), record.args().to_string());
            self.0.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

static LOGGER: Captured = Captured(Mutex::new(Vec::new()));

fn session_lines(filter: LevelFilter) -> Vec<(Level, String)> {
    log::set_max_level(filter);
    LOGGER.0.lock().unwrap().clear();
    let mailbox = Mailbox::generated(2, 300, 0, 7);
    let server = MemServer::start(
        ServerConfig::default().with_user("alice", "s3cret"),
        mailbox,
    )
    .unwrap();
    let mut session = Session::builder("127.0.0.1")
        .port(server.addr().port())
        .security(Security::Plaintext)
        .allow_plaintext_credentials()
        .timeout(Duration::from_secs(10))
        .connect()
        .unwrap();
    session.user("alice").unwrap();
    session.pass("s3cret").unwrap();
    session.retr(1).unwrap();
    session.quit().unwrap();
    std::mem::take(&mut *LOGGER.0.lock().unwrap())
}

#[test]
fn the_trace_follows_the_log_filter_and_never_shows_a_password() {
    log::set_logger(&LOGGER).unwrap();

    let debug = session_lines(LevelFilter::Debug);
    let texts: Vec<&str> = debug.iter().map(|(_, text)| text.as_str()).collect();
    assert!(texts.contains(&"C: USER alice"), "{texts:#?}");
    assert!(texts.contains(&"C: PASS <redacted>"), "{texts:#?}");
    assert!(texts.contains(&"C: RETR 1"), "{texts:#?}");
    assert!(texts.iter().any(|t| t.starts_with("S: +OK")), "{texts:#?}");
    assert!(debug.iter().all(|(level, _)| *level == Level::Debug));
    assert!(
        !texts.iter().any(|t| t.contains("octets>")),
        "bodies are trace-level: {texts:#?}"
    );

    let trace = session_lines(LevelFilter::Trace);
    assert!(
        trace
            .iter()
            .any(|(level, text)| *level == Level::Trace && text.starts_with("S: <")),
        "body chunks at trace level: {trace:#?}"
    );

    for (_, text) in debug.iter().chain(&trace) {
        assert!(
            !text.contains("s3cret"),
            "a password reached the log: {text}"
        );
    }
    assert!(
        session_lines(LevelFilter::Info).is_empty(),
        "nothing at info and above"
    );
}
