#!/usr/bin/env bash
# The nightly safety net of epochmap's CI: fuzzing, Miri and the sanitizers.
#
# Called by .ci/run; runs alone too: `bash .ci/safety-net.sh`. Needs a
# nightly toolchain and installs it when missing, with what else it needs
# (cargo-fuzz; nightly's miri and rust-src components). With CI=true, a
# nightly that cannot be installed, or any stage skipped for any reason
# (NET_SKIP included), fails the run: CI must never pass silently without
# its safety net. Outside CI those only print a warning and the summary
# shows the skipped stages.
#
# Stages (each timed; a summary is printed at the end):
#   1. fuzz      each cargo-fuzz target for $FUZZ_SECONDS seconds (default 60)
#                under AddressSanitizer; any crash, hang (-timeout) or leak of
#                a value fails the run, and the crashing input is left in
#                fuzz/artifacts/<target>/ (replay: see fuzz/README.md).
#   2. miri      the ShardMap and AtomicPtrMap test subsets ($MIRI_TESTS)
#                under Miri, at the small sizes the tests pick under cfg(miri).
#   3. tsan      the stress tests ($STRESS_TESTS) under ThreadSanitizer.
#   4. asan      the same under AddressSanitizer.
# Sizes are chosen so that the whole net stays under ~15 minutes on 2 cores
# (the figures are in the summary; longer runs: scripts/soak.sh).
#
# Knobs (environment): FUZZ_SECONDS, MIRI_TESTS, MIRI_GROUPS (a split of
# MIRI_TESTS into groups run in parallel, `;`-separated), STRESS_TESTS,
# EPOCHMAP_STRESS (stress test size factor), NET_SKIP (space-separated
# stage names to skip, e.g. NET_SKIP="tsan asan").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_TARGETS="${FUZZ_TARGETS:-iter_delete model closures}"
# Miri: the single- and two-thread tests of both maps, the crate's unit tests
# (`unit`: src/lib.rs's #[cfg(test)] modules) and the fuzz engines on small
# generated inputs (`fuzz_replay`); see the harness below. The proptest model
# suite and the behaviour suite are left out: under Miri they take tens of
# minutes (scripts/soak.sh runs them).
MIRI_TESTS="${MIRI_TESTS:---test unit --test shard_map --test atomic_map --test fuzz_replay}"
# Sanitizers: every stress test file (tests/stress*.rs) by default, and the
# fuzz engines' replay (fuzz/tests/replay.rs, through the harness below).
if [ -z "${STRESS_TESTS:-}" ]; then
    STRESS_TESTS=""
    [ "${NET_HARNESS:-1}" = 0 ] || STRESS_TESTS=" --test fuzz_replay"
    for f in tests/stress*.rs; do
        [ -e "$f" ] && STRESS_TESTS+=" --test $(basename "$f" .rs)"
    done
fi
NET_SKIP=" ${NET_SKIP:-} "
HOST=x86_64-unknown-linux-gnu

net_start=$SECONDS
summary=()
failed=()
t0=$SECONDS
current=""
begin() {
    current=$1
    t0=$SECONDS
    echo
    echo "== safety net: $1 ($(date -u +%T))"
}
end() { # end <status>
    summary+=("$(printf '%-6s %-8s %5ss' "$current" "$1" "$((SECONDS - t0))")")
    if [ "$1" = FAILED ]; then failed+=("$current"); fi
}
strict=0
[ "${CI:-}" = true ] && strict=1
skipped() { # skipped <stage> <why>: a failure under CI=true
    summary+=("$(printf '%-6s %-8s %5s   (%s)' "$1" skipped - "$2")")
    echo "== safety net: $1 skipped: $2"
    if [ "$strict" = 1 ]; then failed+=("$1 (skipped under CI=true)"); fi
}
wants() { [[ "$NET_SKIP" != *" $1 "* ]]; }
run_stage() { # run_stage <name> <what> <command...>: records ok/FAILED, never exits
    begin "$1"
    echo "   ($2)"
    shift 2
    if "$@"; then end ok; else end FAILED; fi
}

print_summary() {
    echo
    echo "== safety net summary (total $((SECONDS - net_start))s, $(nproc) cores)"
    printf '%s\n' "${summary[@]}"
}

# --- toolchain ---------------------------------------------------------------
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "safety net: no nightly toolchain; installing one"
    if ! rustup toolchain install nightly --profile minimal; then
        if [ "$strict" = 1 ]; then
            echo "safety net FAILED: no nightly toolchain, and it could not be installed (CI=true)"
            exit 1
        fi
        echo "safety net: WARNING: no nightly toolchain; fuzzing, Miri and sanitizers NOT run."
        exit 0
    fi
fi
rustc +nightly --version

have_component() { rustup component list --toolchain nightly --installed 2>/dev/null | grep -q "^$1"; }
components_ok=1
if ! have_component miri || ! have_component rust-src; then
    echo "installing nightly's miri and rust-src components"
    rustup component add --toolchain nightly miri rust-src || components_ok=0
fi
have_component rust-src || components_ok=0

# --- 1. fuzzing ----------------------------------------------------------------
fuzz_all() {
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        echo "installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi
    # Smaller garbage bags and unbounded collection in crossbeam-epoch, as in
    # crossbeam's own sanitizer runs: freed memory gets reused sooner, so a
    # use after free shows up sooner.
    local -x RUSTFLAGS="${RUSTFLAGS:-} --cfg crossbeam_sanitize"
    (cd fuzz && cargo +nightly fuzz build) || return 1
    # The targets run in parallel, as many at a time as there are cores:
    # each still gets a core for its $FUZZ_SECONDS.
    local t status=0 jobs
    jobs=$(nproc)
    local -a pids=() names=()
    for t in $FUZZ_TARGETS; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
        echo "-- fuzz $t for ${FUZZ_SECONDS}s ($(date -u +%T))"
        mkdir -p "fuzz/corpus/$t"
        # -timeout: an input running 30 s is a hang (a deadlock) and fails.
        # -detect_leaks=0: libFuzzer's per-input leak check re-runs every
        # input that ends with more allocations than frees, and with epoch
        # reclamation every input does (garbage is freed later), so it would
        # scan the heap after each run: 20x fewer executions. The targets
        # count their values' drops themselves, and LeakSanitizer still
        # checks the whole process at exit.
        (cd fuzz && exec cargo +nightly fuzz run "$t" -- \
            -max_total_time="$FUZZ_SECONDS" -timeout=30 -rss_limit_mb=4096 \
            -detect_leaks=0 -print_final_stats=1) > "$root/target/fuzz-$t.log" 2>&1 &
        pids+=($!)
        names+=("$t")
    done
    local i
    for i in "${!pids[@]}"; do
        t=${names[$i]}
        if ! wait "${pids[$i]}"; then
            status=1
            echo "FUZZ TARGET $t FAILED; the end of its log (full log: target/fuzz-$t.log):"
            tail -n 60 "target/fuzz-$t.log"
            ls -l "fuzz/artifacts/$t" 2>/dev/null || true
        fi
        grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec' \
            "target/fuzz-$t.log" | sed "s/^/   $t: /" || true
    done
    return $status
}
mkdir -p target
if wants fuzz; then
    run_stage fuzz "$FUZZ_TARGETS, ${FUZZ_SECONDS}s each" fuzz_all
else
    skipped fuzz NET_SKIP
fi

# --- the test harness crate for Miri and the sanitizers ----------------------------
# `cargo test` builds every dev-dependency of the crate for any test target
# (criterion, proptest, tokio, axum, ... for the benches and the service
# example), and under Miri or a sanitizer with -Zbuild-std that build is most
# of the stage's time. The tests that run here need none of them, so they are
# compiled from a generated crate, target/net-harness, whose dependencies are
# epochmap itself and epochmap's own [dependencies] (copied from Cargo.toml,
# versions pinned by a copy of Cargo.lock): the integration tests are its
# [[test]] targets (their `mod common;` still resolves to tests/common/, and
# the test kit tests/kit is a dependency, with its `maps` feature), and
# src/lib.rs is its `unit` test target, which runs the crate's unit tests;
# fuzz/tests/replay.rs is its `fuzz_replay` target: the fuzz engines (the
# iterate-while-deleting threaded mode above all) on generated inputs and the
# seed corpus, so the sanitizers and Miri see them too.
# NET_HARNESS=0 runs the tests from the crate itself instead (with all its
# dev-dependencies; `--test unit` then means `--lib`): scripts/soak.sh does,
# to run every test file.
harness=target/net-harness
manifest="$harness/Cargo.toml"
if [ "${NET_HARNESS:-1}" = 0 ]; then
    manifest=Cargo.toml
    MIRI_TESTS="${MIRI_TESTS/--test unit/--lib}"
    MIRI_TESTS="${MIRI_TESTS/--test fuzz_replay/}"
fi
make_harness() { # make_harness <test file stem>...
    [ "$manifest" = Cargo.toml ] && return 0
    mkdir -p "$harness"
    {
        echo '[package]'
        echo 'name = "epochmap-net-harness"'
        echo 'version = "0.0.0"'
        grep -m1 '^edition' Cargo.toml
        echo 'publish = false'
        echo 'autotests = false'
        echo '[workspace]'
        echo '[dependencies]'
        echo "epochmap = { path = \"$root\" }"
        echo "epochmap-fuzz = { path = \"$root/fuzz\", default-features = false }"
        echo "epochmap-testkit = { path = \"$root/tests/kit\", features = [\"maps\"] }"
        sed -n '/^\[dependencies\]/,/^\[/{/^\[/d;p}' Cargo.toml
        echo '[[test]]'
        echo 'name = "unit"'
        echo "path = \"$root/src/lib.rs\""
        echo '[[test]]'
        echo 'name = "fuzz_replay"'
        echo "path = \"$root/fuzz/tests/replay.rs\""
        local t
        for t in "$@"; do
            [ "$t" = unit ] || [ "$t" = fuzz_replay ] && continue
            echo '[[test]]'
            echo "name = \"$t\""
            echo "path = \"$root/tests/$t.rs\""
        done
    } > "$harness/Cargo.toml"
    # fuzz/Cargo.lock pins epochmap's dependencies and the fuzz crate's.
    cp fuzz/Cargo.lock "$harness/Cargo.lock"
}
# `--test a --test b` -> `a b`
stems() { local w out=""; for w in "$@"; do [ "$w" = --test ] || out+=" $w"; done; echo "$out"; }

# --- 2. Miri -------------------------------------------------------------------
# crossbeam-epoch needs three Miri flags:
#  -Zmiri-tree-borrows: its tagged `Atomic`/`Shared` pointers and the
#    intrusive lists of the collector re-derive references in ways that
#    Stacked Borrows rejects but the newer Tree Borrows model (the one Miri
#    is moving to) accepts;
#  -Zmiri-ignore-leaks: the global collector's garbage bags and the
#    participants of exited threads are still allocated when the test
#    process exits (by design: nothing frees a static collector);
#  -Zmiri-permissive-provenance: it packs tags into pointer bits and turns
#    integers back into pointers (int-to-ptr casts), which Miri's default
#    strict provenance refuses.
# Miri runs one interpreter thread per process, so the test targets run as
# $MIRI_JOBS groups in parallel (each `cargo miri test` with its own target
# dir: the build is seconds, the interpretation minutes). The default split
# puts atomic_map, about two thirds of the time, alone in one group; a
# MIRI_TESTS override runs as one group unless MIRI_GROUPS says otherwise
# (groups separated by `;`).
MIRI_DEFAULT_GROUPS="--test atomic_map; --test unit --test shard_map --test fuzz_replay"
miri_all() {
    cargo +nightly miri setup >/dev/null
    # shellcheck disable=SC2046,SC2086 # lists of cargo arguments
    make_harness $(stems $MIRI_TESTS $STRESS_TESTS)
    local groups="${MIRI_GROUPS:-}"
    if [ -z "$groups" ]; then
        if [ "$MIRI_TESTS" = "--test unit --test shard_map --test atomic_map --test fuzz_replay" ]; then
            groups="$MIRI_DEFAULT_GROUPS"
        else
            groups="$MIRI_TESTS"
        fi
    fi
    if [ "$manifest" = Cargo.toml ]; then
        groups="${groups//--test unit/--lib}"
        groups="${groups//--test fuzz_replay/}"
    fi
    local -a pids=() logs=() what=()
    local i=0 g status=0
    IFS=';' read -ra parts <<< "$groups"
    for g in "${parts[@]}"; do
        [ -n "${g// /}" ] || continue
        logs+=("target/miri-group-$i.log")
        what+=("$g")
        echo "   group $i:$g (log: ${logs[$i]})"
        # shellcheck disable=SC2086 # a list of cargo arguments
        MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks -Zmiri-permissive-provenance ${MIRIFLAGS:-}" \
            cargo +nightly miri test --manifest-path "$manifest" \
            --target-dir "target/miri-$i" $g > "${logs[$i]}" 2>&1 &
        pids+=($!)
        i=$((i + 1))
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            echo "-- miri group $i (${what[$i]# }): ok"
            grep -E '^ +Running|^test result' "${logs[$i]}" | sed 's/^/   /' || true
        else
            status=1
            echo "-- MIRI GROUP $i (${what[$i]# }) FAILED; its log:"
            cat "${logs[$i]}"
        fi
    done
    return $status
}
if ! wants miri; then
    skipped miri NET_SKIP
elif [ "$components_ok" = 1 ] && have_component miri; then
    run_stage miri "$MIRI_TESTS" miri_all
else
    skipped miri "nightly's miri/rust-src components could not be installed"
fi

# --- 3./4. sanitizers on the stress tests -------------------------------------------
# -Zbuild-std rebuilds std with the sanitizer (mandatory for TSan: an
# uninstrumented std hides its synchronisation and reports false races);
# RUSTDOCFLAGS is set like RUSTFLAGS so that doctests, if any run, link.
# Release profile with debug assertions (the maps' invariant checks) and
# `--cfg crossbeam_sanitize` (small garbage bags, see above); each sanitizer
# has its own target dir, as their builds cannot share artifacts.
sanitizer() { # sanitizer <thread|address>
    local flags="-Zsanitizer=$1 --cfg crossbeam_sanitize"
    # shellcheck disable=SC2086 # STRESS_TESTS is a list of cargo arguments
    RUSTFLAGS="$flags" RUSTDOCFLAGS="$flags" \
        CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
        CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
        TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" \
        ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}" \
        cargo +nightly test -Zbuild-std --target "$HOST" --release \
        --manifest-path "$manifest" \
        --target-dir "target/san-$1" $STRESS_TESTS -- --test-threads=1
}
for san in thread address; do
    name=$([ $san = thread ] && echo tsan || echo asan)
    if ! wants $name; then
        skipped $name NET_SKIP
    elif [ -z "$STRESS_TESTS" ]; then
        skipped $name "no tests/stress*.rs"
    elif [ "$components_ok" = 1 ]; then
        # shellcheck disable=SC2046,SC2086
        make_harness $(stems $MIRI_TESTS $STRESS_TESTS)
        run_stage $name "$STRESS_TESTS" sanitizer $san
    else
        skipped $name "nightly's rust-src component could not be installed"
    fi
done

print_summary
if [ ${#failed[@]} -gt 0 ]; then
    echo "safety net FAILED: ${failed[*]}"
    exit 1
fi
echo "safety net: all stages passed"
