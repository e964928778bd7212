#!/usr/bin/env bash
# Supply-chain checks (policy in deny.toml):
#  - licences, duplicate versions and sources with cargo-deny: offline, always, failing CI;
#  - async-std (RUSTSEC-2025-0052, unmaintained) reachable only through pop3-async-std's `async-std` feature:
#    offline, always;
#  - RustSec advisories with cargo-deny: needs the advisory database, so it runs where that can be fetched and
#    says it skipped, and why, where it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo deny --version >/dev/null 2>&1; then
    # About 3½ minutes of CPU (8 wall-clock minutes on a busy 2-core machine), once per machine.
    cargo install --locked cargo-deny@0.20.2
fi

cargo deny check licenses bans sources

# The unmaintained async-std must stay behind its feature: no other published crate, and not pop3-async-std
# without its default features, may reach it.
reaches_async_std() {
    local tree
    tree=$(cargo tree --edges normal,build --prefix none "$@")
    grep -q '^async-std v' <<<"$tree"
}
if reaches_async_std -p pop3-proto -p pop3-session -p pop3-blocking -p pop3-tokio; then
    echo "supply chain: async-std is reachable from a crate other than pop3-async-std" >&2
    exit 1
fi
if reaches_async_std -p pop3-async-std --no-default-features --features ring,webpki-roots; then
    echo "supply chain: pop3-async-std reaches async-std without its async-std feature" >&2
    exit 1
fi
if ! reaches_async_std -p pop3-async-std; then
    echo "supply chain: the async-std check has gone stale: pop3-async-std no longer reaches async-std" >&2
    exit 1
fi
echo "supply chain: async-std (RUSTSEC-2025-0052) only behind pop3-async-std's async-std feature"

# The advisory database is a git repository; where it cannot be cloned, say so instead of passing silently.
if cargo deny fetch db >/dev/null 2>&1; then
    cargo deny check advisories
else
    echo "supply chain: advisories SKIPPED: the RustSec advisory database cannot be fetched from this machine;" \
        "run 'cargo deny check advisories' (or this script) where it can"
fi
