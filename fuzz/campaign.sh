#!/usr/bin/env bash
# One recorded libFuzzer campaign of one target (fuzz/README.md, "Campaigns"): runs it RUNS times
# (10 million by default) from its checked-in inputs and a work corpus kept between campaigns,
# minimizes what it covered into fuzz/corpus/<target>/, and prints the row for the README's table.
# A crash stops it with libFuzzer's report; the input is in fuzz/artifacts/<target>/.
#
# Usage: fuzz/campaign.sh <target> [runs]     (needs cargo-fuzz and a nightly toolchain)
set -euo pipefail

target=${1:?usage: fuzz/campaign.sh <target> [runs]}
runs=${2:-10000000}
root=$(cd "$(dirname "$0")/.." && pwd)
# The sanitizer build rebuilds every dependency: keep it apart from the main build.
build=${NODEHEALTH_FUZZ_TARGET_DIR:-$HOME/.cache/nodehealth/target-fuzz-san}
work=${NODEHEALTH_FUZZ_WORK:-$HOME/.cache/nodehealth/fuzz-work}/$target
log=$work.log
# A Radix page with its health body fits in 8 KiB; the other targets' inputs are single bodies.
case $target in
    exposition | readers) max_len=8192 ;;
    *) max_len=4096 ;;
esac
fuzz=(cargo +nightly fuzz)
opts=(-O -a --target-dir "$build")

cd "$root"
mkdir -p "$work"
# New inputs go to the first folder (the work corpus); the checked-in ones are read only.
inputs=("$work")
for folder in seeds regressions corpus; do
    [ -d "fuzz/$folder/$target" ] && inputs+=("fuzz/$folder/$target")
done

echo "[campaign] $target: $runs runs from ${inputs[*]}; log in $log" >&2
start=$(date +%s)
nice -n 10 "${fuzz[@]}" run "${opts[@]}" "$target" "${inputs[@]}" -- \
    -runs="$runs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || {
    echo "[campaign] $target failed; the end of $log:" >&2
    tail -40 "$log" >&2
    exit 1
}
seconds=$(($(date +%s) - start))
stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$log"; }

# Minimize to one input per set of covered edges (hit counts aside: `-use_counters=0` keeps a
# third of what plain cmin keeps, with the same edges).
out=fuzz/corpus/$target
mkdir -p "$out"
cp -n "$work"/* "$out"/
nice -n 10 "${fuzz[@]}" cmin "${opts[@]}" "$target" "$out" -- -max_len="$max_len" -use_counters=0 >"$work.cmin.log" 2>&1
files=$(find "$out" -type f | wc -l)
kib=$(du -sk "$out" | cut -f1)

echo "| \`$target\` | $(stat number_of_executed_units) | $seconds | $(stat average_exec_per_sec) | $(stat peak_rss_mb) | $files ($kib KiB) | 0 |"
