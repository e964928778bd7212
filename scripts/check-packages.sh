#!/usr/bin/env bash
# Checks the publishable crates as crates.io and distribution packagers will see them:
#  1. `cargo publish --dry-run` of all of them together: each is packaged and built from its .crate file, the
#     others resolved from their fresh .crate files (nothing is uploaded; the crates.io index must be reachable
#     to resolve the other dependencies);
#  2. each .crate unpacked alone, outside the workspace, and `cargo test` run in it, as a packager does;
#  3. the licence texts are inside every package.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# In dependency order.
crates=(pop3-proto pop3-session pop3-blocking pop3-tokio pop3-async-std)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
target=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')

packages=()
for crate in "${crates[@]}"; do packages+=(-p "$crate"); done
# The dry run unpacks each fresh .crate into cargo's registry cache under its name and version, and a later run
# reuses what is there: with the version unchanged, that is an earlier tree's source. Clear our own crates from
# the local overlays (never from a real registry's cache) so that every run builds what is packaged now.
for crate in "${crates[@]}"; do
    for cached in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version"; do
        case "$cached" in
            */index.crates.io-*/*) ;;
            *) [ -d "$cached" ] && rm -rf "$cached" ;;
        esac
    done
done
# Cargo takes a registry crate's build for immutable, so the dry run builds in a target directory of its own,
# emptied first: an earlier run's builds of the same versions would be reused.
dry_run_target="$target/publish-dry-run"
rm -rf "$dry_run_target"
# Likewise the packages' own test builds: unpacked files keep the tarball's old times, so cargo would take an
# earlier run's test binaries (built in another temporary directory) for current.
rm -rf "$target/package-tests"
# --allow-dirty: the check is about what the packages hold, so it also runs before a commit.
CARGO_TARGET_DIR="$dry_run_target" cargo publish --dry-run --allow-dirty "${packages[@]}"
# The same packages again as files to unpack (the dry run keeps its own out of sight); built above already.
cargo package --no-verify --allow-dirty "${packages[@]}"

unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
patches=()
for crate in "${crates[@]}"; do
    tar -xzf "$target/package/$crate-$version.crate" -C "$unpacked"
    # The packages depend on each other by version; until they are on crates.io, point those versions here.
    patches+=(--config "patch.crates-io.$crate.path=\"$unpacked/$crate-$version\"")
done

for crate in "${crates[@]}"; do
    dir="$unpacked/$crate-$version"
    for licence in LICENSE-MIT LICENSE-APACHE; do
        if ! cmp -s "$dir/$licence" "$licence"; then
            echo "check-packages: $crate's package lacks $licence" >&2
            exit 1
        fi
    done
    echo "check-packages: cargo test in the unpacked $crate-$version.crate"
    targets=()
    if [ "$crate" = pop3-session ]; then
        # Its doc examples run on pop3-blocking, a path-only dev-dependency that cargo leaves out of the package
        # (a version would make a publish cycle). They run in the workspace (scripts/test.sh), and in step 2 for
        # pop3-blocking's own docs; here everything else runs.
        echo "check-packages: pop3-session: doctests skipped here: they need pop3-blocking, not in the package"
        targets=(--all-targets)
    fi
    # (cargo warns about the patches a crate does not use.)
    (cd "$dir" && CARGO_TARGET_DIR="$target/package-tests" cargo test "${patches[@]}" "${targets[@]}")
done
echo "check-packages: ${crates[*]}: packaged, verified, tested alone"
