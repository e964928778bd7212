//! The shared integration scenarios of `pop3_testkit::scenarios` (real Dovecot and scripted hostile servers), run
//! against the blocking driver: a call returns its result.

use std::io::{self, Write};
use std::net::TcpStream;

use pop3_blocking::{Result, Session};
use pop3_testkit::adapter::{ClientAdapter, SyncDriver};

/// The blocking driver, as the scenarios run it.
struct Blocking;

impl SyncDriver for Blocking {
    type Driver = pop3_blocking::Blocking;
    type Stream = TcpStream;

    fn wait<'a, T: 'a>(call: Result<T>) -> Result<T> {
        call
    }

    fn adopt(tcp: TcpStream) -> io::Result<TcpStream> {
        Ok(tcp)
    }

    fn retr_to(session: &mut Session, msg: u64, mut sink: &mut (dyn Write + Send)) -> Result<u64> {
        session.retr_to(msg, &mut sink)
    }
}

pop3_testkit::all_scenarios!(ClientAdapter::<Blocking>::new());

// The same driver against six more real servers, each in every mode it offers (`pop3_testkit::servers`).
pop3_testkit::server_scenarios!(ClientAdapter::<Blocking>::new());
