#!/usr/bin/env bash
# Runs every check and test of nodehealth, on a fresh machine as on a warm one:
# installs and caches what is missing (kube-apiserver, etcd, helm, kubectl), brings the local
# control plane up (and down again if it started it), then fmt, clippy, unit and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build outputs live outside the repo so a fresh checkout (as CI makes) starts warm.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nodehealth/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

started=
if ! scripts/cluster.sh status >/dev/null 2>&1; then
  scripts/cluster.sh up
  started=1
fi
cleanup() { if [ -n "$started" ]; then scripts/cluster.sh down; fi; }
trap cleanup EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== tests (unit + end-to-end on the local control plane)"
if command -v cargo-nextest >/dev/null 2>&1; then
  # nextest does not run doctests; run them first so the summary of every test closes the log.
  cargo test --locked --doc
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
