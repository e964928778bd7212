//! A first pass against a real Dovecot.

use pop3_blocking::{Security, Session, TlsOptions};
use pop3_testkit::{Dovecot, sample_messages};

#[test]
fn stls_login_stat_retr_against_dovecot() {
    let dovecot = Dovecot::shared();
    let messages = sample_messages();
    let user = dovecot.user("smoke", &messages[..3]);
    let mut session = Session::builder("localhost")
        .port(dovecot.pop3_port())
        .security(Security::StartTls)
        .tls(
            TlsOptions::default()
                .ca_pem(dovecot.ca_pem().as_bytes())
                .unwrap(),
        )
        .debug_level(2)
        .connect()
        .unwrap();
    assert!(session.is_encrypted());
    let method = session.login(&user.name, &user.password).unwrap();
    assert_eq!(method, "SCRAM-SHA-256");
    let stat = session.stat().unwrap();
    assert_eq!(stat.count, 3);
    for (i, expected) in messages[..3].iter().enumerate() {
        let got = session.retr(i as u64 + 1).unwrap();
        assert_eq!(&got, expected, "message {}", i + 1);
    }
    let uidl = session.uidl().unwrap();
    assert_eq!(uidl.len(), 3);
    session.quit().unwrap();
}
