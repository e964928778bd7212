#!/bin/sh
# pop3-fetch next to mpop and getmail on the same mailbox of a private Dovecot: byte-for-byte comparison of what
# each delivers into a Maildir, and the wall time of each (see pop3-fetch/examples/compare.rs).
#
# Needs Dovecot (sh scripts/install-test-deps.sh) and: apt-get install mpop getmail6 strace. Run as root (the
# tools themselves run as nobody: getmail refuses to deliver as root).
#
#   sh pop3-fetch/compare-fetchers.sh [--runs N] [--only small|big] [--count-fsyncs]
#   sh pop3-fetch/compare-fetchers.sh --round-trips [--rtt MS] [--runs N]   (round trips counted at a proxy)
#
# On a shared machine, `chrt -f 10 sh pop3-fetch/compare-fetchers.sh …` keeps compilers from skewing the times.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p pop3-fetch --bin pop3-fetch --example compare
exec target/release/examples/compare --bin target/release/pop3-fetch "$@"
