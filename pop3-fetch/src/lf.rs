//! CRLF → LF on delivery: local mail tools (mutt, procmail, Dovecot's Maildir) expect LF line endings, the wire
//! has CRLF. The size check counts the wire form (see [`crate::size_check`]); this runs after it, on the way to
//! the file.

use std::io::{self, Write};

/// Turns every CRLF into LF in a message that arrives in pieces; a lone CR is kept.
#[derive(Debug, Default)]
pub(crate) struct CrlfToLf {
    /// The previous piece ended with a CR, not yet written: it goes if the next piece starts with LF.
    pending_cr: bool,
}

impl CrlfToLf {
    /// Writes `data` converted to `out`.
    ///
    /// # Errors
    /// A write failed.
    pub(crate) fn write(&mut self, mut data: &[u8], out: &mut impl Write) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.pending_cr) && data[0] != b'\n' {
            out.write_all(b"\r")?;
        }
        while let Some(at) = memchr::memchr(b'\r', data) {
            match data.get(at + 1) {
                Some(b'\n') => {
                    out.write_all(&data[..at])?;
                    data = &data[at + 1..];
                }
                Some(_) => {
                    out.write_all(&data[..=at])?;
                    data = &data[at + 1..];
                }
                None => {
                    out.write_all(&data[..at])?;
                    self.pending_cr = true;
                    return Ok(());
                }
            }
        }
        out.write_all(data)
    }

    /// Ends the message: a CR at its very end is kept.
    ///
    /// # Errors
    /// A write failed.
    pub(crate) fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        if std::mem::take(&mut self.pending_cr) {
            out.write_all(b"\r")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(pieces: &[&[u8]]) -> Vec<u8> {
        let mut lf = CrlfToLf::default();
        let mut out = Vec::new();
        for piece in pieces {
            lf.write(piece, &mut out).unwrap();
        }
        lf.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn crlf_becomes_lf_wherever_the_pieces_split() {
        let message = b"Subject: a\r\n\r\nline\rwith CR\r\n\r\nend\r\n\r";
        let expected = b"Subject: a\n\nline\rwith CR\n\nend\n\r".to_vec();
        assert_eq!(convert(&[message]), expected);
        for cut in 0..message.len() {
            let (a, b) = message.split_at(cut);
            assert_eq!(convert(&[a, b"", b]), expected, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = message.chunks(1).collect();
        assert_eq!(convert(&bytes), expected);
        assert_eq!(convert(&[b"\r", b"\r", b"\n"]), b"\r\n");
    }
}
