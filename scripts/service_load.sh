#!/usr/bin/env bash
# Load test of examples/session_service, one store after another, with wrk.
#
#   scripts/service_load.sh [STORE...]        (default: mutex shard atomic)
#
# For each store: start the release build of the example on 127.0.0.1 (an
# ephemeral port, read back from its LISTENING line), prefill it, warm up,
# run wrk with scripts/service_load.lua for a fixed duration, stop the service
# with SIGTERM, and finally print requests/s and latency percentiles of every
# store side by side. With REPEATS > 1 the stores run in rounds, each round
# in a rotated order (mutex shard atomic, shard atomic mutex, ...), so that
# slow drifts of a shared machine hit every store alike, and the table shows,
# per store, the median over its runs of each figure, the range of req/s, and
# the paired ratio of req/s to the first store within each round.
#
# Environment (defaults in brackets):
#   DURATION [10s]       wrk duration of each measured run
#   WARMUP [2s]          wrk duration of the discarded warm-up run ("0" skips)
#   REPEATS [1]          measured runs per store
#   WRK_THREADS [1]      wrk -t
#   CONNECTIONS [32]     wrk -c
#   SERVER_THREADS [nproc]  tokio worker threads of the service
#   PREFILL [10000]      sessions created before the run (ids 1..PREFILL)
#   LIST_LIMIT [100]     limit of the listing requests
#   SERVER_CPUS, WRK_CPUS  optional taskset CPU lists to pin each side
#   NICE                 optional niceness for both sides (e.g. -10, as root),
#                        to shield the measurement from other work on the box
#   OUT [target/service_load]  where logs and results.txt go
#
# wrk and the service share the machine: the figures measure the whole
# system, load generator included. Everything stays on 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPEATS=${REPEATS:-1}
WRK_THREADS=${WRK_THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_THREADS=${SERVER_THREADS:-$(nproc)}
PREFILL=${PREFILL:-10000}
LIST_LIMIT=${LIST_LIMIT:-100}
SERVER_CPUS=${SERVER_CPUS:-}
WRK_CPUS=${WRK_CPUS:-}
NICE=${NICE:-}
OUT=${OUT:-target/service_load}
export PREFILL LIST_LIMIT

if [ "$#" -gt 0 ]; then STORES=("$@"); else STORES=(mutex shard atomic); fi
for s in "${STORES[@]}"; do
  case "$s" in mutex|shard|atomic) ;; *) echo "unknown store: $s" >&2; exit 2 ;; esac
done
case "$REPEATS" in ''|*[!0-9]*|0) echo "REPEATS must be a positive integer" >&2; exit 2 ;; esac

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

echo "== building the example (release)" >&2
cargo build --release --quiet --bin session_service
BIN=target/release/session_service
mkdir -p "$OUT"

pin() { # pin CPU_LIST CMD...: CMD under the requested taskset and niceness
  local cpus=$1; shift
  local pre=()
  if [ -n "$NICE" ]; then pre+=(nice -n "$NICE"); fi
  if [ -n "$cpus" ]; then pre+=(taskset -c "$cpus"); fi
  "${pre[@]}" "$@"
}

CLK_TCK=$(getconf CLK_TCK)
# server_ticks: user + system CPU time of the service so far, in clock ticks.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    local status=0
    wait "$SERVER_PID" || status=$?
    if [ "$status" -ne 0 ]; then
      echo "service $SERVER_PID exited with status $status after SIGTERM" >&2
    fi
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# run_one STORE RUN: appends the RESULT line of one measured run to $RESULTS.
# (Not in a subshell, so that the EXIT trap knows the server's pid.)
run_one() {
  local store=$1 run=$2 log="$OUT/server-$1-$2.log" addr="" i
  local cmd=("$BIN" --store "$store" --port 0 --prefill "$PREFILL" --threads "$SERVER_THREADS")
  if [ -n "$SERVER_CPUS" ]; then cmd=(taskset -c "$SERVER_CPUS" "${cmd[@]}"); fi
  if [ -n "$NICE" ]; then cmd=(nice -n "$NICE" "${cmd[@]}"); fi
  # Created first: the background job opens it asynchronously.
  : >"$log"
  # Started directly (nice and taskset exec the service), so $! is the service.
  "${cmd[@]}" >"$log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 300); do
    addr=$(sed -n 's/^LISTENING \(http:\/\/127\.0\.0\.1:[0-9]*\) .*/\1/p' "$log" || true)
    [ -n "$addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "service did not start" >&2; cat "$log" >&2; exit 1; }
  if [ "$WARMUP" != "0" ]; then
    pin "$WRK_CPUS" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" \
      -s scripts/service_load.lua "$addr" >/dev/null
  fi
  # The 1-minute load average before the run: other work on the machine.
  local load cpu0 cpu1 requests cpu_us
  load=$(cut -d' ' -f1 /proc/loadavg)
  # The service's CPU time (user + system, in clock ticks) around the run:
  # CPU per request depends far less on the machine's other load than req/s.
  cpu0=$(server_ticks)
  pin "$WRK_CPUS" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s scripts/service_load.lua "$addr" >"$OUT/wrk-$store-$run.txt"
  cpu1=$(server_ticks)
  stop_server
  requests=$(sed -n 's/^RESULT requests=\([0-9]*\) .*/\1/p' "$OUT/wrk-$store-$run.txt")
  cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="${requests:-0}" \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print 0 }')
  grep '^RESULT ' "$OUT/wrk-$store-$run.txt" \
    | sed "s/^RESULT /RESULT store=$store run=$run /; s/\$/ server_cpu_us_per_req=$cpu_us loadavg_before=$load/" \
    | tee -a "$RESULTS" >&2
}

echo "== $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" >&2
echo "== wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP), service threads $SERVER_THREADS," \
  "prefill $PREFILL, list limit $LIST_LIMIT, repeats $REPEATS," \
  "pinning server=${SERVER_CPUS:-none} wrk=${WRK_CPUS:-none}, nice ${NICE:-0}" >&2

RESULTS="$OUT/results.txt"
: >"$RESULTS"
for run in $(seq 1 "$REPEATS"); do
  # Rotate the order every round (abc, bca, cab, ...), so that a machine
  # whose load drifts during the measurement favours no store.
  n=${#STORES[@]}
  for k in $(seq 0 $((n - 1))); do
    store=${STORES[$(((run - 1 + k) % n))]}
    echo "== run $run/$REPEATS: $store" >&2
    run_one "$store" "$run"
  done
done

# median STORE FIELD: the median over the runs of STORE of FIELD=... (the
# lower middle value for an even count).
median() {
  grep "store=$1 " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$2=//p" | sort -n \
    | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# range STORE FIELD: min-max over the runs.
range() {
  grep "store=$1 " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$2=//p" | sort -n \
    | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'
}
# total STORE FIELD: the sum over the runs.
total() {
  grep "store=$1 " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$2=//p" | awk '{ t += $1 } END { print t + 0 }'
}
# ratio STORE FIELD: the median over rounds of STORE's FIELD divided by the
# first store's FIELD in the same round (paired, so that load drifts of a
# shared machine cancel out).
ratio() {
  awk -v s="store=$1" -v b="store=${STORES[0]}" -v f="$2=" '
    { st = ""; r = ""; v = "" }
    { for (i = 1; i <= NF; i++) {
        if ($i ~ /^store=/) st = $i
        if ($i ~ /^run=/) r = $i
        if (index($i, f) == 1) v = substr($i, length(f) + 1) } }
    st == s { mine[r] = v }
    st == b { base[r] = v }
    END { n = 0; for (r in mine) if ((r in base) && base[r] > 0) q[++n] = mine[r] / base[r]
          for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (q[j] < q[i]) { t = q[i]; q[i] = q[j]; q[j] = t }
          if (n) printf "%.2f", q[int((n + 1) / 2)]; else printf "-" }' "$RESULTS"
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

printf '\n%-8s %10s %15s %9s %9s %9s %8s %8s %8s %9s %8s %7s %7s\n' \
  store "req/s" "req/s range" "x ${STORES[0]}" "cpu us/rq" "x ${STORES[0]}" \
  "p50 ms" "p90 ms" "p99 ms" "p99.9 ms" "max ms" non2xx sockerr
for store in "${STORES[@]}"; do
  printf '%-8s %10s %15s %9s %9s %9s %8s %8s %8s %9s %8s %7s %7s\n' "$store" \
    "$(median "$store" rps)" "$(range "$store" rps)" "$(ratio "$store" rps)" \
    "$(median "$store" server_cpu_us_per_req)" "$(ratio "$store" server_cpu_us_per_req)" \
    "$(ms "$(median "$store" p50_us)")" "$(ms "$(median "$store" p90_us)")" \
    "$(ms "$(median "$store" p99_us)")" "$(ms "$(median "$store" p999_us)")" \
    "$(ms "$(median "$store" max_us)")" \
    "$(total "$store" non2xx)" "$(total "$store" socket_errors)"
done
echo "(each figure is the median over $REPEATS run(s) of that store, taken separately;"
echo " 'x ${STORES[0]}': median over rounds of the figure to its left / ${STORES[0]}'s in the same round;"
echo " cpu us/rq: the service's CPU time (user+sys) per request during the measured run;"
echo " non2xx and sockerr are totals; every run is in $RESULTS)"
