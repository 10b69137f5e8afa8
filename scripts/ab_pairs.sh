#!/usr/bin/env bash
# A/B of two crisis-suite binaries in alternating pairs, for a few scenarios:
#
#   scripts/ab_pairs.sh OLD_BIN NEW_BIN PAIRS SCENARIOS OUTDIR [MAPS]
#   python3 scripts/ab_pairs.py OUTDIR
#
# Build each binary with `cargo bench --bench crisis --no-run` at its commit
# and copy `target/release/deps/crisis-<hash>` aside (each records its commit
# in results.json). Runs `--threads 1,2` with MAPS (default
# atomic,dashmap,papaya,scc) into OUTDIR/{old,new}-N.
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") pairs=$3 scenarios=$4 out=$5
maps=${6:-atomic,dashmap,papaya,scc}
mkdir -p "$out"
out=$(realpath "$out")
cd "$(dirname "$0")/../benches"
for i in $(seq 1 "$pairs"); do
    "$old" --scenario "$scenarios" --threads 1,2 --map "$maps" --out "$out/old-$i" >/dev/null
    "$new" --scenario "$scenarios" --threads 1,2 --map "$maps" --out "$out/new-$i" >/dev/null
done
