//! Server capabilities from CAPA (RFC 2449 §6, RFC 2595 §4, RFC 5034 §3, RFC 6856 §§2–3).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::escape::Escaped;
use crate::response::parse_number;

/// One capability line, typed where the RFCs define it; unknown ones are kept.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capability {
    /// `TOP`.
    Top,
    /// `USER`: USER/PASS login is allowed.
    User,
    /// `SASL mech…`: the AUTH mechanisms, upper-cased.
    Sasl(Vec<String>),
    /// `RESP-CODES`: `-ERR` lines may carry `[CODE]`s.
    RespCodes,
    /// `LOGIN-DELAY n [USER]`: minimum seconds between logins; `per_user` when the value may change after login.
    LoginDelay {
        /// Seconds, when the server said a valid number.
        seconds: Option<u64>,
        /// Whether the server said `USER` (the value may differ per user).
        per_user: bool,
    },
    /// `PIPELINING`: the server processes commands in order without waiting (RFC 2449 §6.6).
    Pipelining,
    /// `EXPIRE days|NEVER [USER]`: how long the server keeps retrieved messages.
    Expire {
        /// Days; `None` for `NEVER` or an unparsable value.
        days: Option<u64>,
        /// Whether the server said `USER`.
        per_user: bool,
    },
    /// `UIDL`.
    Uidl,
    /// `IMPLEMENTATION text`: free text, kept as bytes.
    Implementation(Vec<u8>),
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `UTF8 [USER]` (RFC 6856 §2).
    Utf8 {
        /// Whether UTF-8 user names and passwords are also supported.
        user: bool,
    },
    /// `LANG` (RFC 6856 §3).
    Lang,
    /// `AUTH-RESP-CODE` (RFC 3206): `-ERR [AUTH]` tells bad credentials from system problems.
    AuthRespCode,
    /// Any other capability: its name upper-cased and the rest of the line.
    Other {
        /// The capability name, upper-cased.
        name: String,
        /// Its arguments as sent.
        args: Vec<u8>,
    },
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Implementation(text) => f
                .debug_tuple("Implementation")
                .field(&Escaped::new(text))
                .finish(),
            Self::Other { name, args } => f
                .debug_struct("Other")
                .field("name", name)
                .field("args", &Escaped::new(args))
                .finish(),
            Self::Top => f.write_str("Top"),
            Self::User => f.write_str("User"),
            Self::Sasl(mechanisms) => f.debug_tuple("Sasl").field(mechanisms).finish(),
            Self::RespCodes => f.write_str("RespCodes"),
            Self::LoginDelay { seconds, per_user } => f
                .debug_struct("LoginDelay")
                .field("seconds", seconds)
                .field("per_user", per_user)
                .finish(),
            Self::Pipelining => f.write_str("Pipelining"),
            Self::Expire { days, per_user } => f
                .debug_struct("Expire")
                .field("days", days)
                .field("per_user", per_user)
                .finish(),
            Self::Uidl => f.write_str("Uidl"),
            Self::Stls => f.write_str("Stls"),
            Self::Utf8 { user } => f.debug_struct("Utf8").field("user", user).finish(),
            Self::Lang => f.write_str("Lang"),
            Self::AuthRespCode => f.write_str("AuthRespCode"),
        }
    }
}

fn is_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// Splits on spaces and tabs, skipping empty words.
fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(is_space).filter(|w| !w.is_empty())
}

/// A SASL mechanism name (RFC 4422 §3.1): 1 to 20 of `A-Z 0-9 - _`.
fn is_mechanism_name(word: &[u8]) -> bool {
    (1..=20).contains(&word.len())
        && word
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Capability {
    /// Parses one CAPA line; `None` for an empty line, which some servers send and RFC 2449 does not forbid.
    pub(crate) fn parse(line: &[u8]) -> Option<Self> {
        let line = line.trim_ascii();
        let name_end = line.iter().position(is_space).unwrap_or(line.len());
        let (name, args) = (&line[..name_end], line[name_end..].trim_ascii());
        if name.is_empty() {
            return None;
        }
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        let says_user = || words(args).any(|w| w.eq_ignore_ascii_case(b"USER"));
        let first_number = || words(args).next().and_then(parse_number);
        Some(if is("TOP") {
            Self::Top
        } else if is("USER") {
            Self::User
        } else if is("SASL") {
            Self::Sasl(
                words(args)
                    .filter(|w| is_mechanism_name(w))
                    .map(|w| String::from_utf8_lossy(w).to_ascii_uppercase())
                    .collect(),
            )
        } else if is("RESP-CODES") {
            Self::RespCodes
        } else if is("LOGIN-DELAY") {
            Self::LoginDelay {
                seconds: first_number(),
                per_user: says_user(),
            }
        } else if is("PIPELINING") {
            Self::Pipelining
        } else if is("EXPIRE") {
            Self::Expire {
                days: first_number(),
                per_user: says_user(),
            }
        } else if is("UIDL") {
            Self::Uidl
        } else if is("IMPLEMENTATION") {
            Self::Implementation(args.into())
        } else if is("STLS") {
            Self::Stls
        } else if is("UTF8") {
            Self::Utf8 { user: says_user() }
        } else if is("LANG") {
            Self::Lang
        } else if is("AUTH-RESP-CODE") {
            Self::AuthRespCode
        } else {
            Self::Other {
                name: String::from_utf8_lossy(name).to_ascii_uppercase(),
                args: args.into(),
            }
        })
    }
}

/// What a server said in answer to CAPA. Queries return the first matching line, so duplicates are harmless.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    entries: Vec<Capability>,
}

impl FromIterator<Capability> for Capabilities {
    /// Capabilities as a CAPA answer listing these lines in this order would give them.
    fn from_iter<I: IntoIterator<Item = Capability>>(lines: I) -> Self {
        Self {
            entries: lines.into_iter().collect(),
        }
    }
}

impl Capabilities {
    pub(crate) const EMPTY: Self = Self {
        entries: Vec::new(),
    };

    pub(crate) fn push(&mut self, capability: Capability) {
        self.entries.push(capability);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every capability, in the server's order.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.entries.iter()
    }

    fn has(&self, wanted: &Capability) -> bool {
        self.entries.iter().any(|c| c == wanted)
    }

    /// `PIPELINING` was advertised.
    pub fn pipelining(&self) -> bool {
        self.has(&Capability::Pipelining)
    }

    /// `STLS` was advertised.
    pub fn stls(&self) -> bool {
        self.has(&Capability::Stls)
    }

    /// `TOP` was advertised.
    pub fn top(&self) -> bool {
        self.has(&Capability::Top)
    }

    /// `UIDL` was advertised.
    pub fn uidl(&self) -> bool {
        self.has(&Capability::Uidl)
    }

    /// `USER` was advertised.
    pub fn user(&self) -> bool {
        self.has(&Capability::User)
    }

    /// `RESP-CODES` was advertised.
    pub fn resp_codes(&self) -> bool {
        self.has(&Capability::RespCodes)
    }

    /// `UTF8` was advertised.
    pub fn utf8(&self) -> bool {
        self.entries
            .iter()
            .any(|c| matches!(c, Capability::Utf8 { .. }))
    }

    /// `LANG` was advertised.
    pub fn lang(&self) -> bool {
        self.has(&Capability::Lang)
    }

    /// The SASL mechanisms advertised, upper-cased, in the server's order.
    pub fn sasl_mechanisms(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter_map(|c| match c {
                Capability::Sasl(mechanisms) => Some(mechanisms.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
    }

    /// Whether `mechanism` is advertised, compared as a whole token, case-insensitively (so `AUTH=CRAM-MD5` or
    /// `LOGICRAM-MD5` never count as `CRAM-MD5`).
    pub fn supports_sasl(&self, mechanism: &str) -> bool {
        self.sasl_mechanisms()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    /// The `LOGIN-DELAY` seconds, if advertised.
    pub fn login_delay(&self) -> Option<u64> {
        self.entries.iter().find_map(|c| match c {
            Capability::LoginDelay { seconds, .. } => *seconds,
            _ => None,
        })
    }

    /// The `EXPIRE` capability: `Some(None)` for `NEVER`, `Some(Some(days))`, or `None` if not advertised.
    pub fn expire(&self) -> Option<Option<u64>> {
        self.entries.iter().find_map(|c| match c {
            Capability::Expire { days, .. } => Some(*days),
            _ => None,
        })
    }

    /// The `IMPLEMENTATION` text, if advertised.
    pub fn implementation(&self) -> Option<&[u8]> {
        self.entries.iter().find_map(|c| match c {
            Capability::Implementation(text) => Some(text.as_slice()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn parse_all(lines: &[&[u8]]) -> Capabilities {
        let mut caps = Capabilities::default();
        for cap in lines.iter().filter_map(|l| Capability::parse(l)) {
            caps.push(cap);
        }
        caps
    }

    #[test]
    fn every_rfc_2449_capability_is_typed() {
        let caps = parse_all(&[
            b"TOP",
            b"USER",
            b"SASL CRAM-MD5 KERBEROS_V4",
            b"RESP-CODES",
            b"LOGIN-DELAY 900",
            b"PIPELINING",
            b"EXPIRE 60",
            b"UIDL",
            b"IMPLEMENTATION Shlemazle-Plotz-v302",
            b"X-UNKNOWN a b",
        ]);
        assert!(caps.top() && caps.user() && caps.resp_codes() && caps.pipelining() && caps.uidl());
        assert!(!caps.stls());
        assert_eq!(
            caps.sasl_mechanisms().collect::<Vec<_>>(),
            vec!["CRAM-MD5", "KERBEROS_V4"]
        );
        assert_eq!(caps.login_delay(), Some(900));
        assert_eq!(caps.expire(), Some(Some(60)));
        assert_eq!(caps.implementation(), Some(&b"Shlemazle-Plotz-v302"[..]));
        assert!(
            caps.iter()
                .any(|c| matches!(c, Capability::Other { name, .. } if name == "X-UNKNOWN"))
        );
    }

    #[test]
    fn arguments_variants_lowercase_and_whitespace() {
        assert_eq!(
            Capability::parse(b"login-delay 15 USER"),
            Some(Capability::LoginDelay {
                seconds: Some(15),
                per_user: true
            })
        );
        assert_eq!(
            Capability::parse(b"EXPIRE NEVER"),
            Some(Capability::Expire {
                days: None,
                per_user: false
            })
        );
        assert_eq!(
            Capability::parse(b"UTF8 USER  \t"),
            Some(Capability::Utf8 { user: true })
        );
        assert_eq!(Capability::parse(b"   "), None);
        assert_eq!(Capability::parse(b"SASL"), Some(Capability::Sasl(vec![])));
        assert_eq!(
            Capability::parse(b"pipelining\t"),
            Some(Capability::Pipelining)
        );
    }

    #[test]
    fn sasl_mechanisms_match_whole_tokens_only() {
        let caps = parse_all(&[
            b"SASL ANONYMOUS APOP AUTH=CRAM-MD5 AUTH=CRAM-SHA1 CRAM- CRAM_MD5 LOGICRAM-MD5 LOPGIN",
        ]);
        assert!(!caps.supports_sasl("CRAM-MD5"));
        assert!(!caps.supports_sasl("LOGIN"));
        assert!(caps.supports_sasl("anonymous"));
    }
}
