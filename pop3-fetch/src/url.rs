//! POP URLs (RFC 2384), plus `pops://` for implicit TLS.
//!
//! ```text
//! pop://user@host[:port]                  strongest method the server offers (Session::login)
//! pop://user;AUTH=*@host[:port]           the same
//! pop://user;AUTH=+APOP@host[:port]       APOP
//! pop://user;AUTH=+USER@host[:port]       USER/PASS (an extension of this program)
//! pop://user;AUTH=SCRAM-SHA-256@host      that SASL mechanism (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
//!                                         SCRAM-SHA-256, XOAUTH2, OAUTHBEARER)
//! pops://user@host                        the same over implicit TLS, port 995
//! ```
//!
//! The user name and the auth type are percent-decoded (`%40` is `@`). A password in the URL is refused: it
//! would end up in shell history and process listings.

use std::fmt;

/// How to authenticate, from the URL's `;AUTH=` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthSpec {
    /// No `;AUTH=`, or `;AUTH=*`: the strongest method the server offers.
    Any,
    /// `;AUTH=+APOP`.
    Apop,
    /// `;AUTH=+USER`: USER and PASS.
    User,
    /// `;AUTH=<SASL mechanism>`, upper-cased.
    Sasl(String),
}

/// SASL mechanisms this program can use.
pub(crate) const SASL_MECHANISMS: &[&str] = &[
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "XOAUTH2",
    "OAUTHBEARER",
];

/// A parsed POP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PopUrl {
    /// `pops://`: TLS from the first byte.
    pub(crate) implicit_tls: bool,
    /// The user name, percent-decoded.
    pub(crate) user: String,
    /// How to log in.
    pub(crate) auth: AuthSpec,
    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub(crate) host: String,
    /// The port (110 for `pop://`, 995 for `pops://` unless given).
    pub(crate) port: u16,
}

impl PopUrl {
    /// Parses a `pop://` or `pops://` URL.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (implicit_tls, rest) = if let Some(rest) = strip_prefix_ci(text, "pop://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "pops://") {
            (true, rest)
        } else {
            return Err(format!(
                "{text:?} is not a POP URL: expected pop://user@host or pops://user@host"
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if let Some(bad) = rest.find(['/', '?', '#']) {
            return Err(format!(
                "unexpected {:?} in the POP URL: a POP URL has no path, query or fragment",
                &rest[bad..bad + 1]
            ));
        }
        let Some(at) = rest.rfind('@') else {
            return Err("the POP URL needs a user name: pop://USER@host".to_owned());
        };
        let (userinfo, hostport) = (&rest[..at], &rest[at + 1..]);
        if userinfo.contains(':') {
            return Err(
                "do not put a password in the URL (it would show in process listings and shell history): \
                 set POP3_PASSWORD, use --password-env NAME, or type it at the prompt"
                    .to_owned(),
            );
        }
        let (user, auth) = match userinfo.find(';') {
            None => (userinfo, None),
            Some(semi) => (&userinfo[..semi], Some(&userinfo[semi + 1..])),
        };
        let user = percent_decode(user).map_err(|e| format!("user name: {e}"))?;
        if user.is_empty() {
            return Err("the POP URL needs a user name: pop://USER@host".to_owned());
        }
        let auth = match auth {
            None => AuthSpec::Any,
            Some(param) => {
                let value = strip_prefix_ci(param, "auth=").ok_or_else(|| {
                    format!("unknown URL parameter {param:?}: only ;AUTH= is allowed")
                })?;
                parse_auth(&percent_decode(value).map_err(|e| format!("AUTH type: {e}"))?)?
            }
        };
        let (host, port) = split_host_port(hostport)?;
        let port = match port {
            Some(port) => port,
            None if implicit_tls => 995,
            None => 110,
        };
        Ok(Self {
            implicit_tls,
            user,
            auth,
            host,
            port,
        })
    }

    /// The account this URL names, `user@host` (host lower-cased): the identity the fetch state belongs to.
    /// The port and the scheme are left out so that `pop://` on 110 and `pops://` on 995 share one state.
    pub(crate) fn account(&self) -> String {
        format!("{}@{}", self.user, self.host.to_ascii_lowercase())
    }
}

impl fmt::Display for PopUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.implicit_tls { "pops" } else { "pop" };
        write!(f, "{scheme}://{}", percent_encode_user(&self.user))?;
        match &self.auth {
            AuthSpec::Any => {}
            AuthSpec::Apop => f.write_str(";AUTH=+APOP")?,
            AuthSpec::User => f.write_str(";AUTH=+USER")?,
            AuthSpec::Sasl(name) => write!(f, ";AUTH={name}")?,
        }
        if self.host.contains(':') {
            write!(f, "@[{}]:{}", self.host, self.port)
        } else {
            write!(f, "@{}:{}", self.host, self.port)
        }
    }
}

fn parse_auth(value: &str) -> Result<AuthSpec, String> {
    let upper = value.to_ascii_uppercase();
    match upper.as_str() {
        "*" => Ok(AuthSpec::Any),
        "+APOP" => Ok(AuthSpec::Apop),
        "+USER" => Ok(AuthSpec::User),
        name if SASL_MECHANISMS.contains(&name) => Ok(AuthSpec::Sasl(upper)),
        _ => Err(format!(
            "unsupported AUTH type {value:?}: use *, +APOP, +USER or one of {}",
            SASL_MECHANISMS.join(", ")
        )),
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let Some(end) = v6.find(']') else {
            return Err(format!("unclosed '[' in host {hostport:?}"));
        };
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| {
                format!("unexpected {after:?} after the IPv6 address in {hostport:?}")
            })?),
        };
        let host = &v6[..end];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        (host, port)
    } else {
        match hostport.rfind(':') {
            Some(colon) => (&hostport[..colon], Some(&hostport[colon + 1..])),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("the POP URL has no host".to_owned());
    }
    if host.contains(':') && !hostport.starts_with('[') {
        return Err(format!(
            "write an IPv6 address in brackets: pop://user@[{host}]"
        ));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    {
        return Err(format!("invalid host name {host:?}"));
    }
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => Some(port),
            _ => return Err(format!("invalid port {text:?}")),
        },
    };
    Ok((host.to_owned(), port))
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub(crate) fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

fn percent_encode_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> PopUrl {
        PopUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn plain_user_and_host() {
        let u = url("pop://alice@mail.example.org");
        assert_eq!(u.user, "alice");
        assert_eq!(u.host, "mail.example.org");
        assert_eq!(u.port, 110);
        assert!(!u.implicit_tls);
        assert_eq!(u.auth, AuthSpec::Any);
        assert_eq!(u.account(), "alice@mail.example.org");
    }

    #[test]
    fn pops_defaults_to_995() {
        let u = url("POPS://bob@Example.COM/");
        assert!(u.implicit_tls);
        assert_eq!(u.port, 995);
        assert_eq!(u.account(), "bob@example.com");
    }

    #[test]
    fn auth_types() {
        assert_eq!(url("pop://u;AUTH=*@h").auth, AuthSpec::Any);
        assert_eq!(url("pop://u;auth=+apop@h").auth, AuthSpec::Apop);
        assert_eq!(url("pop://u;AUTH=+USER@h").auth, AuthSpec::User);
        assert_eq!(
            url("pop://u;AUTH=scram-sha-256@h:1100").auth,
            AuthSpec::Sasl("SCRAM-SHA-256".into())
        );
        assert_eq!(
            url("pop://u;AUTH=XOAUTH2@h").auth,
            AuthSpec::Sasl("XOAUTH2".into())
        );
        assert!(PopUrl::parse("pop://u;AUTH=GSSAPI@h").is_err());
        assert!(PopUrl::parse("pop://u;FOO=bar@h").is_err());
    }

    #[test]
    fn percent_decoding_of_user() {
        let u = url("pop://first.last%40example.org;AUTH=%2BAPOP@pop.example.org:1110");
        assert_eq!(u.user, "first.last@example.org");
        assert_eq!(u.auth, AuthSpec::Apop);
        assert_eq!(u.port, 1110);
        // An unescaped '@' in the user part: the last '@' separates the host.
        assert_eq!(url("pop://a@b@host").user, "a@b");
        assert_eq!(url("pop://%C3%A9mile@h").user, "émile");
        assert!(PopUrl::parse("pop://bad%zz@h").is_err());
        assert!(PopUrl::parse("pop://bad%4@h").is_err());
        assert!(PopUrl::parse("pop://%FF@h").is_err());
    }

    #[test]
    fn ipv6_and_ports() {
        let u = url("pop://u@[::1]:2110");
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 2110);
        assert_eq!(url("pops://u@[2001:db8::1]").port, 995);
        assert!(PopUrl::parse("pop://u@::1").is_err());
        assert!(PopUrl::parse("pop://u@[::1").is_err());
        assert!(PopUrl::parse("pop://u@[nothex]").is_err());
        assert!(PopUrl::parse("pop://u@h:0").is_err());
        assert!(PopUrl::parse("pop://u@h:70000").is_err());
        assert!(PopUrl::parse("pop://u@h:").is_err());
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "imap://u@h",
            "pop:/u@h",
            "pop://h",
            "pop://@h",
            "pop://u@",
            "pop://u:secret@h",
            "pop://u@h/INBOX",
            "pop://u@h?x",
            "pop://u@h#x",
            "pop://u@ho st",
        ] {
            assert!(PopUrl::parse(bad).is_err(), "{bad} should be rejected");
        }
        let e = PopUrl::parse("pop://u:secret@h").unwrap_err();
        assert!(e.contains("password"), "{e}");
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "pop://alice@mail.example.org:110",
            "pops://first.last%40example.org;AUTH=+APOP@[::1]:995",
            "pop://u;AUTH=SCRAM-SHA-256@h:1100",
        ] {
            let u = url(text);
            assert_eq!(u.to_string(), text);
            assert_eq!(url(&u.to_string()), u);
        }
    }
}
