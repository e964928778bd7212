//! A secret never appears in `{:?}`: not in a queued command, not in unwritten output, not in a deferred SASL
//! initial response, in any of the forms it takes on the way to the wire.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use pop3_proto::{Client, Command, Config, Mechanism, Output};

const PASSWORD: &str = "hunter2-correct-horse";
const TOKEN: &str = "ya29.bearer-token-do-not-log";
const TIMESTAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";

fn config() -> Config {
    let mut config = Config::default();
    config.allow_plaintext_credentials = true;
    config
}

/// Every form of `secret` that could leak: as text, base64 (alone and inside a SASL message), and as the decimal
/// bytes a derived `Debug` of a `Vec<u8>` prints.
fn forms(secret: &str, sasl_message: Option<&[u8]>) -> Vec<String> {
    let decimal = |bytes: &[u8]| {
        bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut forms = vec![
        secret.to_owned(),
        STANDARD.encode(secret),
        decimal(secret.as_bytes()),
    ];
    if let Some(message) = sasl_message {
        forms.push(STANDARD.encode(message));
        forms.push(decimal(message));
        forms.push(decimal(STANDARD.encode(message).as_bytes()));
    }
    forms
}

#[track_caller]
fn assert_hidden(client: &Client, secrets: &[String]) {
    let shown = format!("{client:?} {client:#?}");
    for secret in secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "{secret:?} shown in {shown}"
        );
    }
}

/// Polls until the client rests, leaving any output unwritten.
fn poll_to_rest(client: &mut Client) {
    for _ in 0..16 {
        match client.poll().expect("no protocol error") {
            Output::Event(_) => {}
            _ => return,
        }
    }
}

#[test]
fn a_queued_password_is_not_shown() {
    let mut client = Client::new(config());
    client.send(Command::User("mrose")).unwrap();
    client.send(Command::Pass(PASSWORD)).unwrap();
    assert_hidden(&client, &forms(PASSWORD, None));
    client.handle_input(b"+OK ready\r\n");
    poll_to_rest(&mut client);
    assert_hidden(&client, &forms(PASSWORD, None));
}

#[test]
fn an_apop_digest_in_the_output_is_not_shown() {
    let mut client = Client::new(config());
    client.handle_input(format!("+OK POP3 server ready {TIMESTAMP}\r\n").as_bytes());
    poll_to_rest(&mut client);
    client
        .send(Command::Apop {
            user: "mrose",
            password: PASSWORD,
        })
        .unwrap();
    let Ok(Output::Transmit(transmit)) = client.poll() else {
        panic!("APOP not released");
    };
    assert!(transmit.is_sensitive());
    let digest: String = Md5::digest(format!("{TIMESTAMP}{PASSWORD}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        String::from_utf8_lossy(transmit.bytes()).contains(&digest),
        "the test looks for the digest actually sent"
    );
    let mut secrets = forms(PASSWORD, None);
    secrets.extend(forms(&digest, None));
    assert_hidden(&client, &secrets);
}

#[test]
fn a_bearer_token_is_not_shown_inline_or_deferred() {
    let message = format!("user=mrose\x01auth=Bearer {TOKEN}\x01\x01");
    for inline in [true, false] {
        let mut config = config();
        config.sasl_initial_response = inline;
        let mut client = Client::new(config);
        client.handle_input(b"+OK ready\r\n");
        poll_to_rest(&mut client);
        client
            .send(Command::Auth(Mechanism::xoauth2("mrose", TOKEN)))
            .unwrap();
        let secrets = forms(TOKEN, Some(message.as_bytes()));
        assert_hidden(&client, &secrets);
        // Released: the AUTH line (with the token, inline) waits in the output buffer.
        let Ok(Output::Transmit(_)) = client.poll() else {
            panic!("AUTH not released");
        };
        assert_hidden(&client, &secrets);
        if !inline {
            // The first challenge gets the deferred initial response.
            client.handle_input(b"+ \r\n");
            poll_to_rest(&mut client);
            assert_hidden(&client, &secrets);
        }
    }
}
