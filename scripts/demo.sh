#!/usr/bin/env bash
# The main job on a fresh machine: the local control plane, a simulated Radix validator fleet
# behind real pods, the nodehealth operator, and an example NodeHealth converging; then one
# validator stalls and the verdict changes. Everything is left running, with how to look around
# and how to tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nodehealth/target}
CACHE=${NODEHEALTH_CACHE:-$HOME/.cache/nodehealth}
DEMO=$CACHE/demo
NS=${DEMO_NAMESPACE:-validators}
FIRST_IP=${DEMO_FIRST_IP:-127.0.1.1}
COUNT=${DEMO_VALIDATORS:-5}
HTTP=${DEMO_OPERATOR_ADDR:-127.0.0.1:8080}

say() { printf '\n== %s\n' "$*"; }
# Waits up to $1 seconds for the command after it to succeed (polling, with a deadline).
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 1
  done
}

scripts/cluster.sh up
eval "$(scripts/cluster.sh env)"
say "building nodehealth and nodehealth-sim (release)"
cargo build --release --locked --bins
BIN=$CARGO_TARGET_DIR/release
mkdir -p "$DEMO"
for p in sim operator; do
  if [ -f "$DEMO/$p.pid" ] && kill -0 "$(cat "$DEMO/$p.pid")" 2>/dev/null; then kill "$(cat "$DEMO/$p.pid")"; fi
done
wait_until 10 bash -c "! curl -s http://$HTTP/livez"

say "starting $COUNT simulated Radix validators from $FIRST_IP"
: >"$DEMO/sim.out"
setsid nohup "$BIN/nodehealth-sim" --profile radix --first-ip "$FIRST_IP" --count "$COUNT" --admin-addr 127.0.0.1:0 \
  >"$DEMO/sim.out" 2>"$DEMO/sim.log" </dev/null &
echo $! >"$DEMO/sim.pid"
wait_until 30 test -s "$DEMO/sim.out"
ADMIN=$(head -n1 "$DEMO/sim.out" | jq -r .admin)

say "playing the kubelet: 2 nodes and $COUNT validator pods in namespace $NS"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$NS" create serviceaccount default --dry-run=client -o yaml | kubectl apply -f - >/dev/null
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
base=${FIRST_IP%.*}; last=${FIRST_IP##*.}
for n in 0 1; do
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: demo-node-$n, labels: {kubernetes.io/hostname: demo-node-$n}}
EOF
done
for i in $(seq 0 $((COUNT - 1))); do
  ip="$base.$((last + i))"
  kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: validator-$i, labels: {app.kubernetes.io/name: babylon-node}}
spec:
  nodeName: demo-node-$((i % 2))
  automountServiceAccountToken: false
  containers:
  - name: node
    image: radixdlt/babylon-node:simulated
    ports: [{name: system-api, containerPort: 3334}, {name: prometheus, containerPort: 3335}]
EOF
  kubectl -n "$NS" patch pod "validator-$i" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$ip\",\"podIPs\":[{\"ip\":\"$ip\"}],\"startTime\":\"$now\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" >/dev/null
done
kubectl -n "$NS" get pods -o wide

say "starting the operator (nodehealth run), its endpoints on http://$HTTP"
kubectl apply --server-side -f crds/nodehealth.io_nodehealths.yaml >/dev/null
kubectl wait --for condition=established crd/nodehealths.nodehealth.io --timeout=30s >/dev/null
setsid nohup "$BIN/nodehealth" run --kubeconfig "$KUBECONFIG" --http-addr "$HTTP" \
  >"$DEMO/operator.log" 2>&1 </dev/null &
echo $! >"$DEMO/operator.pid"
wait_until 30 curl -fs "http://$HTTP/readyz"
curl -s "http://$HTTP/health" | jq -c .
echo "(one replica here; with more, the holder of this Lease is the one that writes and acts)"
wait_until 30 kubectl -n default get lease nodehealth-shard-0
kubectl -n default get lease nodehealth-shard-0 -o custom-columns=LEASE:.metadata.name,HOLDER:.spec.holderIdentity,SHARDS:'.metadata.annotations.nodehealth\.io/total-shards'

say "applying examples/radix-validators.yaml (probe period, window and remediation ladder shortened for the demo)"
kubectl -n "$NS" apply -f examples/radix-validators.yaml
kubectl -n "$NS" patch nodehealth validators --type merge -p '{"spec":{
  "probe":{"period": "2s"},"assessment":{"observedRateWindow": "20s"},
  "remediation":{"actions":[{"action":"Cordon","after":"10s"},{"action":"RestartPod","after":"20s"}],
                 "startupGrace": "0s","minInterval": "5s","dryRun":true}}}' >/dev/null
wait_until 60 bash -c "kubectl -n $NS get nh validators -o jsonpath='{.status.ready}' | grep -qx '$COUNT/$COUNT'"
kubectl -n "$NS" get nodehealth

STALL="$base.$((last + 1))"
say "validator-1 ($STALL) falls behind, syncing at 30x real time; then it stalls"
curl -fsS -X POST "http://$ADMIN/validators/$STALL/mode" -d '{"mode":"catching_up","rate":30,"behind_seconds":3600}' >/dev/null
wait_until 60 bash -c "kubectl -n $NS get nh validators -o jsonpath='{.status.pods[0].syncState}' | grep -qx Syncing"
kubectl -n "$NS" get nodehealth -o wide
curl -fsS -X POST "http://$ADMIN/validators/$STALL/mode" -d '{"mode":"stalled"}' >/dev/null
echo "(the stalled node keeps reporting its last progress rate; the operator measures its own)"
wait_until 90 bash -c "kubectl -n $NS get nh validators -o jsonpath='{.status.pods[0].syncState}' | grep -qx OutOfSync"
kubectl -n "$NS" get nodehealth -o wide
kubectl -n "$NS" get nodehealth validators -o jsonpath='{range .status.pods[0]}{.name}: {.status} {.syncState} factor={.healthFactor} (node reports {.reportedHealthFactor}){"\n"}{range .reasons[*]}  - {@}{"\n"}{end}{end}'
kubectl -n "$NS" get events --field-selector reason=PodUnhealthy -o custom-columns=REASON:.reason,MESSAGE:.message 2>/dev/null \
  || kubectl -n "$NS" get events

say "remediation in dry run: the ladder would cordon validator-1's node, then restart it (nothing is touched)"
wait_until 90 bash -c "kubectl -n $NS get nh validators -o jsonpath='{.status.remediation.lastRemediation.action}' | grep -qx RestartPod"
kubectl -n "$NS" get nodehealth -o wide
kubectl -n "$NS" get events -o custom-columns=REASON:.reason,MESSAGE:.message | grep -E '^(REASON|Would)' || true
kubectl -n "$NS" get nh validators -o jsonpath='{range .status.conditions[?(@.type=="RemediationAllowed")]}RemediationAllowed={.status} ({.reason}): {.message}{"\n"}{end}'

say "a mistake, made on purpose: a policy whose selector has a typo"
kubectl -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: nodehealth.io/v1alpha1
kind: NodeHealth
metadata: {name: typo}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: babylon-nod}}
  profile: radix
  probe: {health: {port: system-api}, metrics: {port: prometheus}}
YAML
wait_until 30 bash -c "kubectl -n $NS get events --field-selector reason=NoPodsSelected -o name | grep -q ."
kubectl -n "$NS" get nodehealth typo
echo "(an empty STATUS, Healthy Unknown; the event says why:)"
kubectl -n "$NS" get events --field-selector reason=NoPodsSelected -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message

cat <<TXT

Everything is still running. Look around:
  eval "\$(scripts/cluster.sh env)"
  kubectl -n $NS get nh -o wide; kubectl -n $NS describe nh validators
  curl -s http://$HTTP/health | jq .;  curl -s http://$HTTP/metrics | grep nodehealth_pod
  curl -s http://$ADMIN/validators | jq .        # the simulator's admin API
  curl -X POST http://$ADMIN/validators/$STALL/mode -d '{"mode":"synced"}'   # heal validator-1
  $BIN/nodehealth probe --health http://$STALL:3334/system/health --metrics http://$STALL:3335/prometheus/metrics
Tear down:
  kill \$(cat $DEMO/operator.pid) \$(cat $DEMO/sim.pid); scripts/cluster.sh down
TXT
