//! An honest SASL server for every mechanism the client ships, written from the RFCs independently of the crate.
//!
//! It reads what the client transmitted and produces the next correct server line. It checks the client's
//! messages while the whole exchange has been honest (a wrong client message is then a client bug), and records
//! whether it ever delivered a valid SCRAM server signature, which is the only way a SCRAM exchange may succeed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::driver::initial_response;
use crate::input::{CB_DATA, MechSpec};

/// The SCRAM server nonce suffix.
pub const SERVER_NONCE: &str = "3rfcNHYJY1ZVvWVs7j";
/// The CRAM-MD5 challenge (RFC 2195 §2's example).
pub const CRAM_CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).expect("any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn hi(self, password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut out = [0; 20];
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, i, &mut out);
                out.to_vec()
            }
            Self::Sha256 => {
                let mut out = [0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, i, &mut out);
                out.to_vec()
            }
        }
    }
}

/// A client message as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// Decoded base64 (an empty line is an empty message).
    Data(Vec<u8>),
    /// `*`.
    Cancel,
    /// Not base64.
    Garbage,
}

/// The honest server for one AUTH exchange.
#[derive(Debug)]
pub struct SaslServer {
    spec: MechSpec,
    /// Messages received from the client so far (the inline initial response first, if any).
    pub received: Vec<ClientMsg>,
    lines_seen: usize,
    started: bool,
    /// Whether every server line so far came from [`SaslServer::honest`].
    pub all_honest: bool,
    /// An honest `+OK` was produced.
    pub sent_success: bool,
    /// A valid SCRAM server-final was produced.
    pub proof_delivered: bool,
    iterations: u32,
    salt: Vec<u8>,
    server_first: Option<String>,
}

impl SaslServer {
    /// A server for `spec`, using `iterations` (1..) for SCRAM.
    pub fn new(spec: MechSpec, iterations: u32, salt: Vec<u8>) -> Self {
        Self {
            spec,
            received: Vec::new(),
            lines_seen: 0,
            started: false,
            all_honest: true,
            sent_success: false,
            proof_delivered: false,
            iterations: iterations.max(1),
            salt: if salt.is_empty() {
                b"salt".to_vec()
            } else {
                salt
            },
            server_first: None,
        }
    }

    /// Takes in the lines the client wrote since the last call.
    pub fn observe(&mut self, wire: &[u8]) {
        let lines: Vec<&[u8]> = wire
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        for line in &lines[self.lines_seen.min(lines.len())..] {
            if let Some(rest) = line.strip_prefix(b"AUTH ") {
                self.started = true;
                if let Some(sp) = rest.iter().position(|&b| b == b' ') {
                    let ir = &rest[sp + 1..];
                    self.received.push(if ir == b"=" {
                        ClientMsg::Data(Vec::new())
                    } else {
                        decode(ir)
                    });
                }
            } else if self.started {
                self.received.push(if *line == b"*" {
                    ClientMsg::Cancel
                } else {
                    decode(line)
                });
            }
        }
        self.lines_seen = lines.len();
    }

    fn expect(&self, what: &str, got: &[u8], want: &[u8]) -> bool {
        if self.all_honest {
            assert_eq!(
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(want),
                "client sent a wrong {what} in an honest exchange"
            );
        }
        got == want
    }

    /// The next line an honest server sends.
    pub fn honest(&mut self) -> Vec<u8> {
        let (user, secret, _) = self.spec.credentials();
        let n = self.received.len();
        let last = self.received.last().cloned();
        if last == Some(ClientMsg::Cancel) {
            return b"-ERR AUTH exchange cancelled by client\r\n".to_vec();
        }
        let data = match last {
            Some(ClientMsg::Data(d)) => Some(d),
            Some(ClientMsg::Garbage) => {
                assert!(!self.all_honest, "client sent a non-base64 SASL line");
                return b"-ERR bad base64\r\n".to_vec();
            }
            _ => None,
        };
        let ok = |s: &mut Self| {
            s.sent_success = true;
            b"+OK authenticated\r\n".to_vec()
        };
        let fail = b"-ERR [AUTH] authentication failed\r\n".to_vec();
        match self.spec.index() {
            // One-message mechanisms: PLAIN, XOAUTH2, OAUTHBEARER, EXTERNAL.
            0 | 5 | 6 | 7 => match data {
                None => b"+ \r\n".to_vec(),
                Some(msg) => {
                    let want = initial_response(&self.spec.mechanism()).unwrap_or_default();
                    if self.expect("message", &msg, &want) {
                        ok(self)
                    } else {
                        fail
                    }
                }
            },
            // LOGIN.
            1 => match (n, data) {
                (0, _) => b"+ VXNlcm5hbWU6\r\n".to_vec(),
                (1, Some(msg)) => {
                    self.expect("LOGIN user", &msg, user.as_bytes());
                    b"+ UGFzc3dvcmQ6\r\n".to_vec()
                }
                (_, Some(msg)) => {
                    if self.expect("LOGIN password", &msg, secret.as_bytes()) {
                        ok(self)
                    } else {
                        fail
                    }
                }
                _ => fail,
            },
            // CRAM-MD5.
            2 => match data {
                None => format!("+ {}\r\n", BASE64.encode(CRAM_CHALLENGE)).into_bytes(),
                Some(msg) => {
                    let mut mac = Hmac::<Md5>::new_from_slice(secret.as_bytes()).expect("any key");
                    mac.update(CRAM_CHALLENGE);
                    let digest: String = mac
                        .finalize()
                        .into_bytes()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let want = format!("{user} {digest}");
                    if self.expect("CRAM-MD5 response", &msg, want.as_bytes()) {
                        ok(self)
                    } else {
                        fail
                    }
                }
            },
            // SCRAM.
            _ => self.scram(data),
        }
    }

    fn scram(&mut self, data: Option<Vec<u8>>) -> Vec<u8> {
        let hash = if self.spec.index() == 3 {
            Hash::Sha1
        } else {
            Hash::Sha256
        };
        let fail = b"-ERR [AUTH] authentication failed\r\n".to_vec();
        let Some(msg) = data else {
            return b"+ \r\n".to_vec();
        };
        let want_first = initial_response(&self.spec.mechanism()).unwrap_or_default();
        match &self.server_first {
            None => {
                // client-first.
                if !self.expect("SCRAM client-first", &msg, &want_first) {
                    return fail;
                }
                let bare_at = want_first
                    .windows(3)
                    .position(|w| w == b",n=")
                    .map_or(0, |p| p + 1);
                let cnonce = String::from_utf8_lossy(&want_first[bare_at..])
                    .split(",r=")
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let sf = format!(
                    "r={cnonce}{SERVER_NONCE},s={},i={}",
                    BASE64.encode(&self.salt),
                    self.iterations
                );
                self.server_first = Some(sf.clone());
                format!("+ {}\r\n", BASE64.encode(sf)).into_bytes()
            }
            Some(sf) if !self.proof_delivered => {
                // client-final: c=<gs2+cb>,r=<nonce>,p=<proof>
                let text = String::from_utf8_lossy(&msg).into_owned();
                let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
                    assert!(!self.all_honest, "client-final without proof");
                    return fail;
                };
                let gs2_end = want_first
                    .windows(2)
                    .position(|w| w == b",,")
                    .map_or(0, |p| p + 2);
                let mut cbind = want_first[..gs2_end].to_vec();
                if self.spec.binding() {
                    cbind.extend_from_slice(CB_DATA);
                }
                let nonce = sf
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("r=");
                let want_without_proof = format!("c={},r={nonce}", BASE64.encode(&cbind));
                if !self.expect(
                    "SCRAM client-final",
                    without_proof.as_bytes(),
                    want_without_proof.as_bytes(),
                ) {
                    return fail;
                }
                let (_, secret, _) = self.spec.credentials();
                let auth_message = format!(
                    "{},{sf},{without_proof}",
                    String::from_utf8_lossy(&want_first[gs2_end..])
                );
                let salted = hash.hi(secret.as_bytes(), &self.salt, self.iterations);
                let client_key = hash.hmac(&salted, b"Client Key");
                let stored_key = hash.h(&client_key);
                let client_signature = hash.hmac(&stored_key, auth_message.as_bytes());
                let want_proof: Vec<u8> = client_key
                    .iter()
                    .zip(&client_signature)
                    .map(|(k, s)| k ^ s)
                    .collect();
                if !self.expect(
                    "SCRAM proof",
                    proof.as_bytes(),
                    BASE64.encode(&want_proof).as_bytes(),
                ) {
                    return fail;
                }
                let server_key = hash.hmac(&salted, b"Server Key");
                let signature = hash.hmac(&server_key, auth_message.as_bytes());
                self.proof_delivered = true;
                format!(
                    "+ {}\r\n",
                    BASE64.encode(format!("v={}", BASE64.encode(signature)))
                )
                .into_bytes()
            }
            Some(_) => {
                // The empty answer to server-final.
                if self.expect("answer to server-final", &msg, b"") {
                    self.sent_success = true;
                    b"+OK authenticated\r\n".to_vec()
                } else {
                    fail
                }
            }
        }
    }

    /// Challenges an honest exchange needs, with or without the inline initial response.
    pub fn steps_needed(&self, inline: bool) -> usize {
        match self.spec.index() {
            0 | 5 | 6 | 7 => usize::from(!inline),
            1 => 2,
            2 => 1,
            _ => 2 + usize::from(!inline),
        }
    }
}

fn decode(line: &[u8]) -> ClientMsg {
    BASE64
        .decode(line)
        .map_or(ClientMsg::Garbage, ClientMsg::Data)
}
