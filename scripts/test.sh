#!/usr/bin/env bash
# Runs the whole test suite: every workspace crate (unit, integration against a private Dovecot on loopback,
# scripted hostile servers, doctests) and the fuzz corpus replayed as regression tests on stable.
set -euo pipefail
cd "$(dirname "$0")/.."

# Dovecot and the other test servers from Debian's packages; the tests fail (not skip) without them.
if [ "$(id -u)" = 0 ]; then
    sh scripts/install-test-deps.sh
elif ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    echo "Dovecot is missing: run 'sudo sh scripts/install-test-deps.sh' first (it installs the other test servers too)" >&2
    exit 1
fi

# Time limits in the shared scenarios stretch on a loaded machine; the timeout tests themselves are unaffected.
export POP3_TESTKIT_TIMEOUT_SCALE="${POP3_TESTKIT_TIMEOUT_SCALE:-5}"

cargo test --workspace --all-targets
cargo test --workspace --doc
cargo test --manifest-path fuzz/Cargo.toml
