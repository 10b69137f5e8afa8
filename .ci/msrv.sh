#!/usr/bin/env bash
# Checks the library's MSRV claim (`rust-version` in Cargo.toml): the library,
# with every feature, builds with that toolchain.
#
# Only the library is checked: tests, benches and examples use the latest
# stable toolchain (criterion, proptest, tokio and the peer maps need newer
# compilers), so the check runs on a copy of the package whose manifest keeps
# the library's own sections and drops the dev-dependencies and targets. Its
# lock file is resolved by the current cargo with MSRV-aware resolution
# (versions that declare a newer rust-version are avoided where possible), as
# a user on the old toolchain would resolve it.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "msrv: no rust-version in Cargo.toml"; exit 1; }
rustup toolchain list | grep -q "^$msrv" ||
    rustup toolchain install "$msrv" --profile minimal
copy=target/msrv
rm -rf "$copy"
mkdir -p "$copy"
cp -r src README.md "$copy"/
# Keep the library's sections, drop dev-dependencies, targets and profiles.
awk '
    /^\[/ {
        name = $0; gsub(/[][ ]/, "", name)
        keep = (name == "package" || name == "lib" || name == "features" ||
                name == "dependencies" || name == "lints.rust" ||
                name == "package.metadata.docs.rs")
    }
    keep { print }
' Cargo.toml > "$copy/Cargo.toml"
echo '[workspace]' >> "$copy/Cargo.toml"
(
    cd "$copy"
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet
    cargo "+$msrv" --version
    cargo "+$msrv" check --lib --all-features --target-dir ../msrv-target
)
echo "msrv: the library builds with Rust $msrv"
