#!/usr/bin/env bash
# The main job on a fresh machine: the local control plane, a simulated validator fleet, and a
# live verdict on it. Leaves everything running and says how to look around and tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nodehealth/target}
CACHE=${NODEHEALTH_CACHE:-$HOME/.cache/nodehealth}
DEMO=$CACHE/demo
FIRST_IP=${DEMO_FIRST_IP:-127.0.1.1}
COUNT=${DEMO_VALIDATORS:-5}

scripts/cluster.sh up
eval "$(scripts/cluster.sh env)"
echo "== building nodehealth and nodehealth-sim"
cargo build --release --locked --bins
BIN=$CARGO_TARGET_DIR/release
mkdir -p "$DEMO"

if [ -f "$DEMO/sim.pid" ] && kill -0 "$(cat "$DEMO/sim.pid")" 2>/dev/null; then
  kill "$(cat "$DEMO/sim.pid")"; sleep 0.5
fi
echo "== starting $COUNT simulated Radix validators from $FIRST_IP"
setsid nohup "$BIN/nodehealth-sim" --profile radix --first-ip "$FIRST_IP" --count "$COUNT" --admin-addr 127.0.0.1:0 \
  >"$DEMO/sim.out" 2>"$DEMO/sim.log" </dev/null &
echo $! >"$DEMO/sim.pid"
for _ in $(seq 1 50); do [ -s "$DEMO/sim.out" ] && break; sleep 0.1; done
ADMIN=$(head -n1 "$DEMO/sim.out" | jq -r .admin)
echo "simulator admin API: http://$ADMIN/validators"

IP=$FIRST_IP
echo "== every validator, probed once by 'nodehealth probe':"
base=${FIRST_IP%.*}; last=${FIRST_IP##*.}
for i in $(seq 0 $((COUNT - 1))); do
  ip="$base.$((last + i))"
  printf '%s: ' "$ip"
  "$BIN/nodehealth" probe --health "http://$ip:3334/system/health" --metrics "http://$ip:3335/prometheus/metrics" -o json \
    | jq -c '{status, syncState, healthFactor}' || true
done

echo "== switching $IP to stalled (ledger stops, the node keeps reporting its last rate)"
curl -fsS -X POST "http://$ADMIN/validators/$IP/mode" -d '{"mode":"syncing","rate":30,"behind_seconds":600}' >/dev/null
sleep 2
curl -fsS -X POST "http://$ADMIN/validators/$IP/mode" -d '{"mode":"stalled"}' >/dev/null
echo "== probing it twice 5 s apart: the node still reports its old rate, the operator observes 0"
"$BIN/nodehealth" probe --health "http://$IP:3334/system/health" --metrics "http://$IP:3335/prometheus/metrics" --window 5 || true

cat <<TXT

The control plane and the simulator are still running. Look around:
  eval "\$(scripts/cluster.sh env)"; kubectl get ns
  curl -s http://$ADMIN/validators | jq .
  $BIN/nodehealth probe --health http://$IP:3334/system/health --metrics http://$IP:3335/prometheus/metrics
Tear down:
  kill \$(cat $DEMO/sim.pid); scripts/cluster.sh down
TXT
