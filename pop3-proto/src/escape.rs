//! A safe display form for server-controlled bytes.

use core::fmt;

/// Server text made safe to print: at most a fixed number of octets, with control characters, non-ASCII octets and
/// backslashes escaped as `\xNN`, so a hostile server cannot move a terminal's cursor or forge log lines.
///
/// Servers send Latin-1 and worse, so text is kept as bytes; this is the only form that reaches a screen.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    limit: usize,
}

impl<'a> Escaped<'a> {
    /// How many octets of server text are shown before the rest is elided.
    pub const DEFAULT_LIMIT: usize = 512;

    /// Escapes `bytes`, showing at most [`Escaped::DEFAULT_LIMIT`] octets of them.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self::with_limit(bytes, Self::DEFAULT_LIMIT)
    }

    /// Escapes `bytes`, showing at most `limit` octets of them.
    pub fn with_limit(bytes: &'a [u8], limit: usize) -> Self {
        Self { bytes, limit }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.bytes[..self.bytes.len().min(self.limit)];
        for &b in shown {
            match b {
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => fmt::Write::write_char(f, char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        if shown.len() < self.bytes.len() {
            write!(f, "...({} more octets)", self.bytes.len() - shown.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn terminal_escapes_are_neutralised() {
        let text = b"\x1b[31;1;4mPOP3\x1b[0m caf\xe9 \\ ok";
        assert_eq!(
            Escaped::new(text).to_string(),
            "\\x1b[31;1;4mPOP3\\x1b[0m caf\\xe9 \\\\ ok"
        );
    }

    #[test]
    fn long_text_is_capped() {
        let text = [b'a'; 20];
        assert_eq!(
            Escaped::with_limit(&text, 4).to_string(),
            "aaaa...(16 more octets)"
        );
    }
}
