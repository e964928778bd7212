//! The server side of SCRAM (RFC 5802 §3), computed independently of the library with the same formulas.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// One SCRAM exchange for user "user", computed here with RFC 5802 §3's formulas, for servers other than the
/// RFC's examples (and fewer PBKDF2 iterations, so that every replay of the transcript stays fast).
pub(crate) struct Scram {
    pub(crate) client_first: String,
    pub(crate) server_first: String,
    pub(crate) client_final: String,
    pub(crate) server_final: String,
}

#[derive(Clone, Copy)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        match self {
            Self::Sha1 => {
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn h(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
        }
    }

    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                pbkdf2::pbkdf2_hmac_array::<sha1::Sha1, 20>(password, salt, iterations).to_vec()
            }
            Self::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password, salt, iterations).to_vec()
            }
        }
    }
}

pub(crate) fn scram(
    hash: Hash,
    password: &str,
    client_nonce: &str,
    salt: &[u8],
    iterations: u32,
) -> Scram {
    let client_first_bare = format!("n=user,r={client_nonce}");
    let nonce = format!("{client_nonce}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    let server_first = format!("r={nonce},s={},i={iterations}", b64(salt));
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let salted_password = hash.hi(password.as_bytes(), salt, iterations);
    let client_key = hash.hmac(&salted_password, b"Client Key");
    let client_signature = hash.hmac(&hash.h(&client_key), auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hash.hmac(&salted_password, b"Server Key");
    let server_signature = hash.hmac(&server_key, auth_message.as_bytes());
    Scram {
        client_first: format!("n,,{client_first_bare}"),
        server_first,
        client_final: format!("{without_proof},p={}", b64(proof)),
        server_final: format!("v={}", b64(server_signature)),
    }
}
