//! The transcript runner itself: a transcript the client does not follow must fail.

mod support;

use pop3_proto::Command;
use support::session;

#[test]
#[should_panic(expected = "the transcript expects `NOOP")]
fn a_different_client_line_fails() {
    session().when_idle([Command::Capa]).replay(
        "
        S: +OK ready
        C: NOOP
        S: +OK
        ",
    );
}

#[test]
#[should_panic(expected = "client waits for the server, the transcript waits for `CAPA")]
fn a_pipelined_transcript_fails_for_a_client_that_does_not_pipeline() {
    session().when_idle([Command::Capa, Command::Capa]).replay(
        "
        S: +OK ready
        C: CAPA
        C: CAPA
        S: +OK
        S: .
        S: +OK
        S: .
        ",
    );
}

#[test]
#[should_panic(expected = "before reading the server lines that precede it")]
fn a_client_that_pipelines_fails_a_transcript_without_pipelining() {
    session()
        .when_idle([Command::Capa])
        .when_idle([Command::Lang(None), Command::Lang(None)])
        .replay(
            "
            S: +OK ready
            C: CAPA
            S: +OK
            S: PIPELINING
            S: .
            C: LANG
            S: +OK
            S: .
            C: LANG
            S: +OK
            S: .
            ",
        );
}

#[test]
#[should_panic(expected = "before the client wrote `QUIT")]
fn a_client_line_never_written_fails() {
    session().when_idle([Command::Capa]).replay(
        "
        S: +OK ready
        C: CAPA
        S: +OK
        S: .
        C: QUIT
        S: +OK
        ",
    );
}

#[test]
fn every_replay_sees_the_same_session() {
    // The runner's own bookkeeping: in-flight bytes are only read once the client wrote what precedes them.
    let run = session().when_idle([Command::Capa]).replay(
        "
        S: +OK ready
        C: CAPA
        S: +OK
        S: TOP
        S: .
        ",
    );
    assert_eq!(run.transmits, ["CAPA"]);
    assert_eq!(run.events.len(), 4);
}
