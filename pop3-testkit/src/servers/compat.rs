//! The README's compatibility table, rendered from the profiles; a test keeps the README in step.

use super::{Mode, Profile, StrictPort, profiles};

/// The Markdown table of every server, its version and what the scenarios check against it.
pub fn compatibility_table() -> String {
    let mut out = String::from(
        "| server | Debian package | modes tested | `login()` uses | CAPA | TOP, UIDL | store, as served | quirks covered |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for profile in profiles() {
        out.push_str(&row(profile));
    }
    out
}

fn row(p: &Profile) -> String {
    let mut modes: Vec<&str> = p.modes.iter().map(|m| m.name()).collect();
    if p.strict_port != StrictPort::None {
        modes.push("STLS-required port");
    }
    let capa = match p.capa {
        None => "none (`-ERR`)".to_owned(),
        Some(list) => {
            let mut caps: Vec<String> = list.iter().map(|c| (*c).to_owned()).collect();
            if !p.sasl.is_empty() {
                caps.push(format!("SASL {}", p.sasl.join(" ")));
            }
            if !p.sasl_with_tls.is_empty() {
                caps.push(format!("(over TLS also {})", p.sasl_with_tls.join(" ")));
            }
            caps.join(" ")
        }
    };
    let mut quirks = Vec::new();
    if let Some(backend) = p.proxy_for {
        quirks.push(format!("proxy in front of {backend}"));
    }
    if p.writes_uidl_header {
        quirks.push("first UIDL writes `X-UIDL:` into messages".to_owned());
    }
    if p.loses_header_only_message {
        quirks.push("that UIDL reduces a header-only message to its `X-UIDL:` line".to_owned());
    }
    if p.top_adds_blank_line {
        quirks.push("TOP adds an empty line".to_owned());
    }
    if p.exclusive_mailbox {
        quirks.push("`[IN-USE]` for a second session".to_owned());
    }
    if p.utf8_downgrade {
        quirks.push("8-bit headers need `UTF8`".to_owned());
    }
    match p.strict_port {
        StrictPort::RefusesPass => quirks.push("strict port takes USER, refuses PASS".to_owned()),
        StrictPort::ChallengeResponseOnly => {
            quirks.push("strict port allows challenge-response SASL in clear".to_owned());
        }
        StrictPort::None | StrictPort::RefusesUser => {}
    }
    if !p.modes.contains(&Mode::StartTls) {
        quirks.push("no TLS".to_owned());
    }
    format!(
        "| {} | `{}` {} | {} | {} | {} | yes | {} | {} |\n",
        p.name,
        p.package,
        p.version,
        modes.join(", "),
        p.expected_login(),
        capa,
        p.store.name(),
        if quirks.is_empty() {
            "–".to_owned()
        } else {
            quirks.join("; ")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str =
        "<!-- compatibility table: generated from pop3-testkit's server profiles -->\n";
    const END: &str = "<!-- end of compatibility table -->";

    #[test]
    fn readme_table_matches_the_profiles() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find(BEGIN)
            .expect("README has the compatibility table marker")
            + BEGIN.len();
        let end = readme[start..]
            .find(END)
            .expect("README has the end marker")
            + start;
        assert_eq!(
            &readme[start..end],
            compatibility_table(),
            "README.md's compatibility table differs from the profiles; replace it with:\n{}",
            compatibility_table()
        );
    }

    #[test]
    fn profiles_are_consistent() {
        for profile in profiles() {
            crate::servers::scenarios::profile_is_consistent(profile);
        }
    }
}
