#!/usr/bin/env bash
# Scale: nodehealth against Prometheus on the same simulated fleet of N Radix validators.
#
#   scripts/bench-scale.sh N [SECONDS] [--policies-of K] [--shards S] [--period S] [--ready-timeout S] [--skip-prometheus]
#
#   N               validators (simulated nodes, pods, Prometheus targets)
#   SECONDS         how long each system is sampled (default 120)
#   --policies-of K one NodeHealth per K pods (selected by an extra label) instead of one for all
#   --shards S      S operator processes, one per shard (--shard k --total-shards S), sampled side
#                   by side; above 1 it needs --policies-of (default 1)
#   --period S      probe period and scrape interval, seconds (default 15)
#   --ready-timeout S  how long to wait for N/N healthy before sampling anyway (default 300)
#   --skip-prometheus  do not run Prometheus (no Prometheus line, no ratios)
#
# Prints one JSON line per system (nodehealth, prometheus; with --shards S above 1, one per shard
# and one for the shards together instead of nodehealth's), one with the ratios, and a markdown
# table on stdout; progress on stderr. The logic is the bench binary benches/scale.rs (run with
# `cargo bench --bench scale`); this script only prepares: the local control plane
# (scripts/cluster.sh; stopped again if this script started it), Debian's prometheus package if
# `prometheus` is missing and not skipped (its service is not started), and the release build.
# Everything the bench starts is stopped, on failure and on Ctrl-C too.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bench-scale] %s\n' "$*" >&2; }
die() { printf '[bench-scale] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '4,14s/^# \{0,1\}//p' "$0" >&2; exit 2; }

n= seconds= bench_args=() shards=1 policies_of= skip_prometheus=
while [ $# -gt 0 ]; do
  case "$1" in
    --policies-of|--shards|--period|--ready-timeout)
      [ $# -ge 2 ] || usage
      [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 takes a positive integer, not '$2'"
      case "$1" in --shards) shards=$2 ;; --policies-of) policies_of=$2 ;; esac
      bench_args+=("$1" "$2"); shift 2 ;;
    --skip-prometheus) skip_prometheus=1; bench_args+=("$1"); shift ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *)
      [[ $1 =~ ^[1-9][0-9]*$ ]] || die "N and SECONDS are positive integers, not '$1'"
      if [ -z "$n" ]; then n=$1; elif [ -z "$seconds" ]; then seconds=$1; else usage; fi
      shift ;;
  esac
done
[ -n "$n" ] || usage
seconds=${seconds:-120}
# The bench checks these too; failing here spares the build.
if [ "$shards" -gt 1 ]; then
  [ -n "$policies_of" ] || die "--shards $shards needs --policies-of K: with a single NodeHealth only one shard would have work"
  [ $(( (n + policies_of - 1) / policies_of )) -ge "$shards" ] \
    || die "--shards $shards needs at least $shards NodeHealths: N=$n with --policies-of $policies_of makes $(( (n + policies_of - 1) / policies_of ))"
fi

# Build outputs live outside the repo, as for scripts/test.sh.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nodehealth/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

work=$(mktemp -d "${TMPDIR:-/tmp}/nodehealth-bench-scale.XXXXXX")
cluster_started=
cargo_pid=
kubeconfig=

# The bench writes `PID NAME` lines to $work/pids: itself ("bench") first, then each process it
# starts. It stops them itself on failure and on SIGINT/SIGTERM; this is the net for a bench
# that was killed outright.
listed() { awk -v name="$1" '$2 == name {print $1}' "$work/pids" 2>/dev/null || true; }
runs() { kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"; }

forward_signal() {
  local pid
  for pid in $(listed bench); do kill -TERM "$pid" 2>/dev/null || true; done
}

cleanup() {
  local rc=$? pid name i
  trap '' INT TERM
  # A bench tearing down after a signal deletes up to N pods: give it time.
  if [ -n "$cargo_pid" ]; then
    for i in $(seq 1 600); do kill -0 "$cargo_pid" 2>/dev/null || break; sleep 0.5; done
  fi
  while read -r pid name; do
    [ "$name" = bench ] && continue
    if runs "$pid" "$name"; then
      log "stopping leftover $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do runs "$pid" "$name" || break; sleep 0.2; done
      runs "$pid" "$name" && kill -KILL "$pid" 2>/dev/null || true
    fi
  done < <(cat "$work/pids" 2>/dev/null || true)
  # The bench deletes $work/footprint once it has cleaned the control plane.
  if [ -s "$work/footprint" ] && [ -n "$kubeconfig" ]; then
    log "the bench left $(cut -d' ' -f1 "$work/footprint") behind: deleting it"
    cargo bench --locked --bench scale -- --cleanup "$work/footprint" \
      --kubeconfig "$kubeconfig" --work-dir "$work" || true
  fi
  rm -rf "$work/tsdb"
  if [ -n "$cluster_started" ]; then
    log "stopping the control plane this run started"
    scripts/cluster.sh down || true
  fi
  log "logs: $work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Step 1: the control plane, Prometheus, the build.
if ! scripts/cluster.sh status >/dev/null 2>&1; then
  cluster_started=1
  scripts/cluster.sh up
fi
kubeconfig=$(scripts/cluster.sh env | sed -n 's/^export KUBECONFIG=//p')
[ -f "$kubeconfig" ] || die "scripts/cluster.sh env gave no kubeconfig"

prometheus_args=()
if [ -n "$skip_prometheus" ]; then
  :
elif ! command -v prometheus >/dev/null; then
  [ "$(id -u)" = 0 ] || die "prometheus is missing: install Debian's prometheus package (needs root)"
  # Debian's package enables and starts a prometheus service; the bench runs its own process
  # on its own port and storage, so keep the package's service from starting: policy-rc.d
  # exit 101 ("action forbidden") is what invoke-rc.d and deb-systemd-invoke ask.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  log "installing Debian's prometheus package"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || { [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install prometheus failed"; }
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  # Where systemd runs, the unit is still enabled for the next boot: disable it.
  if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
[ -n "$skip_prometheus" ] || prometheus_args=(--prometheus "$(command -v prometheus)")

log "building the release binaries and the bench"
cargo build --release --bins --locked
cargo bench --locked --bench scale --no-run

# Steps 2-7: the bench. In the background so that a signal reaches this script's trap at once
# (a foreground child would delay it), which forwards it to the bench.
trap forward_signal INT TERM
cargo bench --locked --bench scale -- "$n" "$seconds" "${bench_args[@]}" \
  --kubeconfig "$kubeconfig" --work-dir "$work" "${prometheus_args[@]}" &
cargo_pid=$!
rc=0
wait "$cargo_pid" || rc=$?
# `wait` returns early when a trapped signal arrives: wait again until the bench is done.
while kill -0 "$cargo_pid" 2>/dev/null; do rc=0; wait "$cargo_pid" || rc=$?; done
exit "$rc"
