#!/usr/bin/env bash
# Measures nodehealth-sim's memory: VmRSS of one process serving COUNT validators (default 1000),
# idle and after one scrape of every validator's health and metrics endpoints.
#
# Usage: scripts/sim-memory.sh [COUNT] [PROFILE]   (env: SIM_BIN to skip the build, PARALLEL=8)
set -euo pipefail

count=${1:-1000}
profile=${2:-radix}
parallel=${PARALLEL:-8}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nodehealth/target}
if [ -z "${SIM_BIN:-}" ]; then
  cargo build --quiet --bin nodehealth-sim
  SIM_BIN=$CARGO_TARGET_DIR/debug/nodehealth-sim
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A random range, so that this can run beside tests; retried when a port is taken (exit code 3).
for attempt in 1 2 3 4 5; do
  first_ip="127.$((10 + RANDOM % 240)).$((RANDOM % 256)).1"
  "$SIM_BIN" --profile "$profile" --count "$count" --first-ip "$first_ip" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 600); do
    [ -s "$work/out" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$work/out" ] && break
  rc=0; wait "$pid" || rc=$?; pid=
  if [ "$rc" -ne 3 ]; then echo "nodehealth-sim failed (exit $rc):" >&2; tail -5 "$work/err" >&2; exit 1; fi
done
[ -n "$pid" ] || { echo "no free range after 5 attempts" >&2; exit 1; }

rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
mib() { awk -v kb="$1" 'BEGIN {printf "%.1f MiB", kb / 1024}'; }
urls() {
  python3 - "$first_ip" "$count" "$profile" <<'PY'
import ipaddress, sys
first, count, profile = ipaddress.IPv4Address(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
paths = {"radix": ((3334, "/system/health"), (3335, "/prometheus/metrics")),
         "zksync": ((3081, "/health"), (3322, "/metrics"))}[profile]
for i in range(count):
    for port, path in paths:
        print(f"http://{first + i}:{port}{path}")
PY
}

sleep 1
idle=$(rss VmRSS)
start=$(date +%s.%N)
# One curl per request (a probe opens a connection per scrape); only the status codes are kept.
urls | xargs -P "$parallel" -n 50 sh -c \
  'for u; do curl --silent --noproxy "*" --max-time 10 -o /dev/null -w "%{http_code}\n" "$u"; done' sh \
  >"$work/codes"
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
scraped=$(rss VmRSS)
peak=$(rss VmHWM)
fds=$(ls "/proc/$pid/fd" | wc -l)

echo "nodehealth-sim --profile $profile --count $count ($(head -c 200 "$work/out"))"
echo "idle:                 VmRSS $idle kB ($(mib "$idle")), $fds open files"
echo "after one scrape:     VmRSS $scraped kB ($(mib "$scraped")), peak VmHWM $peak kB ($(mib "$peak"))"
ok=$(grep -c '^200$' "$work/codes" || true)
echo "scrape:               $ok of $((2 * count)) requests answered 200, in ${elapsed}s ($parallel in parallel)"
echo "per validator (idle): $(awk -v kb="$idle" -v n="$count" 'BEGIN {printf "%.1f kB", kb / n}')"
