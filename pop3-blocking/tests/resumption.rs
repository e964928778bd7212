//! Sessions opened from one builder share one TLS configuration, so the second resumes the first one's TLS
//! session (a poller's every contact after the first skips the full handshake).

use pop3_blocking::{Security, Session, TlsOptions};
use pop3_testkit::Dovecot;

#[test]
fn a_second_session_from_one_builder_resumes_tls() {
    let dovecot = Dovecot::shared();
    let user = dovecot.user("resume", &[b"Subject: hi\r\n\r\nhello\r\n".to_vec()]);
    let builder = Session::builder(dovecot.host())
        .port(dovecot.pop3s_port())
        .security(Security::Implicit)
        .tls(
            TlsOptions::default()
                .ca_pem(dovecot.ca_pem().as_bytes())
                .unwrap(),
        );
    let mut resumed = Vec::new();
    for _ in 0..3 {
        let mut session = builder.connect().expect("connect");
        session.login(&user.name, &user.password).expect("login");
        assert_eq!(session.stat().expect("STAT").count, 1);
        resumed.push(session.tls_info().expect("TLS is up").resumed);
        session.quit().expect("QUIT");
    }
    assert_eq!(
        resumed,
        [false, true, true],
        "only the first handshake is a full one"
    );

    // A builder of its own shares nothing: a full handshake again.
    let other = Session::builder(dovecot.host())
        .port(dovecot.pop3s_port())
        .tls(
            TlsOptions::default()
                .ca_pem(dovecot.ca_pem().as_bytes())
                .unwrap(),
        )
        .connect()
        .expect("connect");
    assert!(!other.tls_info().expect("TLS is up").resumed);
}
