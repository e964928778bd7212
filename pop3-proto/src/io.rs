//! Writing the pending output to an [`std::io::Write`] (the `std` feature), for blocking and non-blocking sockets
//! alike.

use std::io;

use crate::client::Client;

impl Client {
    /// Writes the pending output to `writer` and consumes what it took, then flushes it. Returns how many octets
    /// were written.
    ///
    /// A partial write is followed by another, until all is written or the writer would block: then the octets it
    /// took are consumed and their count returned, and the rest stays pending (offered again by
    /// [`poll`](Client::poll), written by the next call once the socket is writable). When nothing at all could be
    /// written, the [`io::ErrorKind::WouldBlock`] error is returned as is. Interrupted writes are retried.
    ///
    /// # Errors
    /// What `writer` returned, except `Interrupted`, and `WouldBlock` after some octets were written;
    /// [`io::ErrorKind::WriteZero`] if it accepted nothing without an error.
    pub fn write_output<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<usize> {
        let mut written = 0;
        while self.wants_write() {
            match writer.write(self.pending_output()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.consume_output(n);
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && written > 0 => {
                    return Ok(written);
                }
                Err(e) => return Err(e),
            }
        }
        writer.flush()?;
        Ok(written)
    }
}
