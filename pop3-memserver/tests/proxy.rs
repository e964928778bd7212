//! LatencyProxy adds latency but keeps bytes, order and throughput.

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::connect;
use pop3_memserver::{LatencyProxy, Mailbox, MemServer, ServerConfig};

#[test]
fn adds_delay_to_each_round_trip() {
    let delay = Duration::from_millis(20);
    let srv = MemServer::start(
        ServerConfig::default().with_user("demo", "demo"),
        Mailbox::generated(10, 50_000, 5, 4),
    )
    .unwrap();
    let proxy = LatencyProxy::start(srv.addr(), delay).unwrap();
    assert_eq!(proxy.delay(), delay);

    let mut direct = connect(srv.addr());
    direct.line();
    let start = Instant::now();
    for _ in 0..5 {
        assert_eq!(direct.cmd("NOOP"), "-ERR command not valid in this state");
    }
    let direct_rtt = start.elapsed() / 5;

    let mut c = connect(proxy.addr());
    let t0 = Instant::now();
    assert!(c.line().starts_with("+OK"));
    assert!(t0.elapsed() >= delay, "greeting came too early");
    let start = Instant::now();
    for _ in 0..5 {
        assert_eq!(c.cmd("NOOP"), "-ERR command not valid in this state");
    }
    let rtt = start.elapsed() / 5;
    assert!(rtt >= 2 * delay, "rtt {rtt:?}");
    assert!(rtt >= direct_rtt + 2 * delay - Duration::from_millis(1));
    assert!(rtt < 2 * delay + Duration::from_millis(500), "rtt {rtt:?}");

    // Pipelined: ten RETRs cost about one round trip, bytes intact.
    c.login("demo", "demo");
    let mailbox = srv.mailbox();
    let start = Instant::now();
    let batch: String = (1..=10).map(|i| format!("RETR {i}\r\n")).collect();
    c.send(batch.as_bytes());
    for m in mailbox.messages() {
        assert!(c.line().starts_with("+OK"));
        assert_eq!(c.body(), m.data());
    }
    let elapsed = start.elapsed();
    assert!(elapsed >= 2 * delay);
    assert!(
        elapsed < 10 * 2 * delay,
        "{elapsed:?}: pipelining through the proxy is serialised"
    );
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let mut rest = Vec::new();
    c.into_inner().read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn counts_the_servers_turns_to_speak() {
    let srv = MemServer::start(
        ServerConfig::default().with_user("demo", "demo"),
        Mailbox::generated(3, 500, 0, 1),
    )
    .unwrap();
    let proxy = LatencyProxy::start(srv.addr(), Duration::from_millis(2)).unwrap();
    let mut c = connect(proxy.addr());
    assert!(c.line().starts_with("+OK"), "the greeting: one");
    assert!(c.cmd("NOOP").starts_with("-ERR"), "an answer: two");
    // Three commands in one write, answered together: one more.
    c.send(b"USER demo\r\nPASS demo\r\nSTAT\r\n");
    for _ in 0..3 {
        assert!(c.line().starts_with("+OK"));
    }
    assert_eq!(proxy.take_round_trips(), 3);
    assert!(c.cmd("QUIT").starts_with("+OK"));
    assert_eq!(proxy.take_round_trips(), 1, "counting starts again");
}

#[test]
fn refuses_non_loopback_targets() {
    let target = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 110));
    assert!(LatencyProxy::start(target, Duration::ZERO).is_err());
}

#[test]
fn drop_closes_proxied_connections() {
    let srv = MemServer::start(ServerConfig::default(), Mailbox::new()).unwrap();
    let proxy = LatencyProxy::start(srv.addr(), Duration::from_millis(1)).unwrap();
    let mut c = connect(proxy.addr());
    c.line();
    drop(proxy);
    let mut rest = Vec::new();
    c.into_inner().read_to_end(&mut rest).unwrap();
}
