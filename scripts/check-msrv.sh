#!/usr/bin/env bash
# Builds each crate that claims a minimum Rust version, with all its tests and examples, on exactly that version,
# and runs its unit tests there, so the claim in its Cargo.toml (`rust-version`) cannot rot: the libraries on the
# workspace's, pop3-fetch on its own. The integration suites (real servers) already ran on stable in
# scripts/test.sh; what differs between compilers is what compiles, which this checks for every target.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Time limits in the shared scenarios stretch on a loaded machine; the timeout tests themselves are unaffected.
export POP3_TESTKIT_TIMEOUT_SCALE="${POP3_TESTKIT_TIMEOUT_SCALE:-5}"

crates=(pop3-proto pop3-session pop3-blocking pop3-tokio pop3-async-std pop3-fetch)
target="${CARGO_TARGET_DIR:-target}/msrv"

rust_version() {
    sed -n 's/^rust-version = "\(.*\)"$/\1/p' "$1"
}

declare -A by_version=()
for crate in "${crates[@]}"; do
    claimed=$(rust_version "$crate/Cargo.toml")
    if [ -z "$claimed" ]; then
        grep -q '^rust-version.workspace = true$' "$crate/Cargo.toml" \
            || { echo "msrv: $crate claims no rust-version" >&2; exit 1; }
        claimed=$(rust_version Cargo.toml)
    fi
    by_version[$claimed]+=" -p $crate"
done

for version in "${!by_version[@]}"; do
    if ! rustup run "$version" rustc --version >/dev/null 2>&1; then
        rustup toolchain install "$version" --profile minimal
    fi
    echo "msrv: Rust $version:${by_version[$version]}"
    # shellcheck disable=SC2086 # the package list is meant to split
    CARGO_TARGET_DIR="$target" cargo "+$version" build --all-targets ${by_version[$version]}
    for crate in ${by_version[$version]}; do
        [ "$crate" = -p ] && continue
        # The unit tests: a library's, or a binary's (pop3-fetch has no library).
        kinds=()
        [ -f "$crate/src/lib.rs" ] && kinds+=(--lib)
        [ -f "$crate/src/main.rs" ] && kinds+=(--bins)
        CARGO_TARGET_DIR="$target" cargo "+$version" test -p "$crate" "${kinds[@]}"
    done
done
