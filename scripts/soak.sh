#!/usr/bin/env bash
# The long runs before a release: the CI safety net (.ci/safety-net.sh) at
# soak sizes. Run from anywhere: `bash scripts/soak.sh`. Needs nightly.
#
#   SOAK_MINUTES=30   minutes per fuzz target (3 targets), default 30
#   SOAK_STRESS=50    size factor of the stress tests (EPOCHMAP_STRESS), default 50
#
# What it runs, in order (about 1.5 h + 3 x SOAK_MINUTES on 2 cores):
#   1. each fuzz target for SOAK_MINUTES under AddressSanitizer, with the
#      corpus kept in fuzz/corpus/<target>/ (so successive soaks build on it);
#   2. Miri over the maps' test files (behaviour suite, proptest model with
#      PROPTEST_CASES=8, stress tests at their Miri sizes) and the unit tests,
#      built from the crate itself (NET_HARNESS=0: proptest is a
#      dev-dependency);
#   3. the stress tests at EPOCHMAP_STRESS=SOAK_STRESS under ThreadSanitizer,
#      then under AddressSanitizer (tests/stress_shard.rs scales with it;
#      tests/stress_atomic.rs has fixed sizes);
#   4. the stress tests at the same size in a plain release build, and the
#      fuzz regression tests.
# It stops at nothing: every stage runs, and the summary at the end says which
# failed (exit status 1 if any). A crash input is in fuzz/artifacts/<target>/;
# fuzz/README.md says how to replay and minimise it.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${SOAK_MINUTES:-30}"
stress="${SOAK_STRESS:-50}"
status=0

FUZZ_SECONDS=$((minutes * 60)) \
    NET_HARNESS=0 \
    MIRI_TESTS="--lib --test shard_map --test atomic_map --test behaviour --test model --test stress_shard --test stress_atomic" \
    PROPTEST_CASES="${PROPTEST_CASES:-8}" \
    EPOCHMAP_STRESS="$stress" \
    bash .ci/safety-net.sh || status=1

echo
echo "== soak: stress tests at EPOCHMAP_STRESS=$stress, release build ($(date -u +%T))"
stress_tests=()
for f in tests/stress*.rs; do
    [ -e "$f" ] && stress_tests+=(--test "$(basename "$f" .rs)")
done
if [ -f tests/fuzz_regressions.rs ]; then
    stress_tests+=(--test fuzz_regressions)
fi
start=$SECONDS
EPOCHMAP_STRESS="$stress" CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
    cargo test --release "${stress_tests[@]}" || status=1
echo "== soak: release stress took $((SECONDS - start))s"

exit $status
