#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions run through traps
# A one-node Kubernetes cluster end to end: `helm install` the chart on a real kubelet and
# watch pods get their underlay addresses (issue 13 item 3; docs/testing.md "One-node
# cluster end to end").
#
#   scripts/cluster-e2e.sh [--keep] [--bin-dir DIR] [--plugin-dir DIR]
#                                                     build, run every check, tear down
#   scripts/cluster-e2e.sh down WORKDIR               tear down what a --keep run left
#
#   --keep        leave the cluster running after the checks; the last two lines printed are
#                 `KUBECONFIG=<admin kubeconfig>` and `teardown: <command>`
#   --bin-dir DIR spiderpool binaries for the images (default target/debug; scripts/test.sh
#                 runs it after `cargo test`, which built them)
#   --plugin-dir DIR  the CNI plugins for the agent image (default: --bin-dir; scripts/test.sh
#                 passes the static, optimised ones scripts/build-plugins.sh makes)
#   --stage node  stop once the node is Ready (no chart, no checks); with --keep: a bare
#                 one-node cluster to try things on
#
# Topology (every namespace created here; nothing leaves them and loopback):
#
#   outside 10.7.212.101/24 ── lan: bridge br0 (gateway 10.6.0.1/16) + 10.7.212.1/24
#                                         │
#   node: ens192 10.6.212.132/16 ── containerd, kubelet, kube-proxy, and the control plane
#         (etcd, kube-apiserver, kube-controller-manager of scripts/k8s-testenv.sh, plus
#         kube-scheduler) on the node namespace's loopback;
#         pods: macvlan (master ens192) + spiderpool + coordinator (underlay)
#
# The node also has a mount namespace of its own, in which the paths a node shares
# with the machine are private: /run/spidernet (the agent socket, which the coordinator
# plugin reads at its fixed path), /var/log/spidernet (the CNI plugins' logs at their
# default paths), /var/log/pods, /var/log/containers and
# /var/lib/kubelet/device-plugins (the kubelet's fixed paths), /var/lib/cni (libcni's
# result cache) and /run/containerd (containerd 1.6's shim sockets). kubelet, containerd and kube-proxy run inside both namespaces; the kubelet
# with AWS_EC2_METADATA_DISABLED=true and its pods in the cgroup /<prefix>.
#
# Caches (under $SPIDERPOOL_CACHE, default /var/cache/spiderpool-rs): Kubernetes binaries
# (scripts/k8s-testenv.sh build), helm (scripts/chart-check.sh tools), and Debian's
# containerd + runc fetched with a private apt configuration (never the system's sources)
# and unpacked with dpkg -x into containerd-bookworm/.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly ROOT=$PWD
readonly CACHE_ROOT=${SPIDERPOOL_CACHE:-${SPIDERPOOL_K8S_CACHE:-/var/cache/spiderpool-rs}}
readonly K8S_BIN=$CACHE_ROOT/k8s-v1.20.2/bin
# The scripts it calls find the same caches.
export SPIDERPOOL_CACHE=$CACHE_ROOT SPIDERPOOL_K8S_CACHE=$CACHE_ROOT
readonly RT_DIR=$CACHE_ROOT/containerd-bookworm RT_SUITE=bookworm RT_PKGS=(containerd runc)
readonly NODE_IP=10.6.212.132 GATEWAY=10.6.0.1 OUTSIDE_IP=10.7.212.101 NODE=e2e-node
readonly SERVICE_CIDR=10.96.0.0/12 APISERVER_SVC_PORT=6443
# kube-proxy's --cluster-cidr (kubeadm's podSubnet). The underlay pods' addresses are outside
# it, so kube-proxy masquerades their service traffic to the node address and the endpoint's
# reply returns through the node (the coordinator routes the node's IPs via veth0), as on a
# Spiderpool macvlan-only cluster.
readonly CLUSTER_CIDR=10.244.0.0/16
readonly RELEASE=spiderpool RELEASE_NS=kube-system
readonly BUSYBOX_IMAGE=localhost/spiderpool-e2e/busybox:1
# Processes this script starts itself (scripts/k8s-testenv.sh starts the control plane).
readonly PROCS=(kube-proxy kubelet kube-scheduler containerd forward-apiserver forward-host)
readonly SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
# Paths a node's processes use whatever their flags say; private to the node's mount namespace.
readonly SHARED_DIRS=(/run/spidernet /var/log/spidernet /var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd)

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost,10.0.0.0/8 no_proxy=127.0.0.1,localhost,10.0.0.0/8

say() { printf 'cluster-e2e: %s\n' "$*" >&2; }
die() { printf 'cluster-e2e: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- state of one run

# load_state W: the names of run W (written by new_state).
load_state() {
  W=$1
  [ -f "$W/state" ] || die "$W is not a cluster-e2e work directory"
  # shellcheck source=/dev/null
  . "$W/state"
}

new_state() {
  W=$(mktemp -d /tmp/spiderpool-e2e.XXXXXX)
  chmod 0755 "$W"
  local id
  id=$(basename "$W" | sed 's/.*\.//' | tr '[:upper:]' '[:lower:]')
  PFX=spe2e-$id
  {
    echo "PFX=$PFX"
    echo "NS_NODE=$PFX-node NS_LAN=$PFX-lan NS_OUT=$PFX-out"
    echo "RUN=/run/$PFX"
    echo "HELM=$HELM"
  } > "$W/state"
  load_state "$W"
  mkdir -p "$W/logs" "$W/node" "$RUN"
}

# in_node CMD...: CMD in the node's network and mount namespaces.
in_node() { nsenter --net="/run/netns/$NS_NODE" --mount="$W/mnt/ns" -- "$@"; }
# k ARGS...: kubectl against the cluster (from inside the node's network namespace).
k() { nsenter --net="/run/netns/$NS_NODE" -- "$K8S_BIN/kubectl" --kubeconfig "$W/cp/kubeconfig" --request-timeout=30s "$@"; }
helm_() { nsenter --net="/run/netns/$NS_NODE" -- env KUBECONFIG="$W/cp/kubeconfig" HELM_CACHE_HOME="$W/helm/cache" \
  HELM_CONFIG_HOME="$W/helm/config" HELM_DATA_HOME="$W/helm/data" "$HELM" "$@"; }

# start NAME CMD...: detached, own session, log in $W/logs/NAME.log, pid in $W/NAME.pid.
start() {
  local n=$1; shift
  setsid "$@" </dev/null >"$W/logs/$n.log" 2>&1 6>&- 7>&- &
  echo $! > "$W/$n.pid"
}

# pid_of NAME: the pid of NAME if it still runs what we started (its command line names $W).
pid_of() {
  local pid
  [ -f "$W/$1.pid" ] || return 1
  pid=$(cat "$W/$1.pid")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$W" || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}

stop_proc() {
  local pid i
  pid=$(pid_of "$1") || { rm -f "$W/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do pid_of "$1" >/dev/null || break; sleep 0.1; done
  pid_of "$1" >/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$W/$1.pid"
}

# poll SECONDS CMD...: until CMD succeeds.
poll() {
  local s=$1 i; shift
  for ((i = 0; i < s * 2; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

# ---------------------------------------------------------------- prerequisites

ensure_pkgs() {
  local need=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ "${#need[@]}" -eq 0 ] && return 0
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# Debian's containerd and runc, downloaded with a private apt configuration and unpacked
# into $RT_DIR (the machine's packages and apt sources are not touched).
ensure_runtime() {
  if [ -x "$RT_DIR/root/usr/bin/containerd" ] && [ -f "$RT_DIR/.complete" ]; then return 0; fi
  local t0 uri A keyring=/usr/share/keyrings/debian-archive-keyring.gpg signed=''
  t0=$(now)
  uri=$(bash scripts/k8s-testenv.sh apt-uri)
  [ -r "$keyring" ] && signed="[signed-by=$keyring] "
  rm -rf "$RT_DIR"
  A=$RT_DIR/apt
  mkdir -p "$A"/lists/partial "$A"/cache/archives/partial "$A"/sources.list.d "$A"/preferences.d "$RT_DIR/dl"
  echo "deb ${signed}$uri $RT_SUITE main" > "$A/sources.list"
  local apt=(apt-get -q -o "Dir::Etc::SourceList=$A/sources.list" -o "Dir::Etc::SourceParts=$A/sources.list.d"
    -o "Dir::Etc::PreferencesParts=$A/preferences.d" -o "Dir::Etc::Preferences=$A/preferences"
    -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o Acquire::Languages=none)
  if id _apt >/dev/null 2>&1; then chown -R _apt:root "$A/lists/partial" "$A/cache/archives/partial" "$RT_DIR/dl"; fi
  say "fetching ${RT_PKGS[*]} ($RT_SUITE) with a private apt configuration into $RT_DIR"
  "${apt[@]}" update > "$RT_DIR/apt.log" 2>&1 || { tail "$RT_DIR/apt.log" >&2; die "private apt-get update failed"; }
  local p pkgs=()
  for p in "${RT_PKGS[@]}"; do pkgs+=("$p/$RT_SUITE"); done
  (cd "$RT_DIR/dl" && "${apt[@]}" download "${pkgs[@]}") >> "$RT_DIR/apt.log" 2>&1 ||
    { tail "$RT_DIR/apt.log" >&2; die "apt-get download ${RT_PKGS[*]} failed"; }
  for p in "$RT_DIR"/dl/*.deb; do dpkg -x "$p" "$RT_DIR/root"; done
  rm -rf "$A" "$RT_DIR/dl"
  if [ ! -x "$RT_DIR/root/usr/bin/containerd" ] || [ ! -x "$RT_DIR/root/usr/sbin/runc" ]; then
    die "no containerd or runc in the downloaded packages"
  fi
  "$RT_DIR/root/usr/bin/containerd" --version >&2
  touch "$RT_DIR/.complete"
  say "containerd and runc cached in $(since "$t0") s"
}

prerequisites() {
  [ "$(id -u)" = 0 ] || die "run as root (network and mount namespaces, a kubelet)"
  [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] ||
    die "/sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), not cgroup v1: the kubelet of Kubernetes 1.20 needs cgroup v1"
  ensure_pkgs iproute2 iptables python3 busybox-static containernetworking-plugins openssl curl util-linux binutils
  ensure_runtime
  bash scripts/k8s-testenv.sh build
  local out
  out=$(bash scripts/chart-check.sh tools) || die "scripts/chart-check.sh tools failed"
  HELM=$(sed -n 's/^HELM=//p' <<<"$out")
  [ -x "$HELM" ] || die "no helm from scripts/chart-check.sh tools"
  if [ ! -x "$BIN_DIR/spiderpool-agent" ] || [ ! -x "$BIN_DIR/spiderpool-controller" ]; then
    die "$BIN_DIR has no spiderpool-agent/spiderpool-controller (cargo build -p spiderpool-bin, or --bin-dir)"
  fi
}

# ---------------------------------------------------------------- the node

network() {
  local n
  for n in "$NS_OUT" "$NS_LAN" "$NS_NODE"; do ip netns add "$n"; ip -n "$n" link set lo up; done
  ip -n "$NS_LAN" link add br0 type bridge
  ip -n "$NS_LAN" addr add "$GATEWAY/16" dev br0
  ip -n "$NS_LAN" link set br0 up
  ip -n "$NS_NODE" link add ens192 type veth peer name node1 netns "$NS_LAN"
  ip -n "$NS_LAN" link set node1 master br0 up
  ip -n "$NS_NODE" addr add "$NODE_IP/16" dev ens192
  ip -n "$NS_NODE" link set ens192 up
  ip -n "$NS_NODE" route add default via "$GATEWAY"
  ip -n "$NS_OUT" link add eth0 type veth peer name to-out netns "$NS_LAN"
  ip -n "$NS_OUT" addr add "$OUTSIDE_IP/24" dev eth0
  ip -n "$NS_OUT" link set eth0 up
  ip -n "$NS_OUT" route add default via 10.7.212.1
  ip -n "$NS_LAN" addr add 10.7.212.1/24 dev to-out
  ip -n "$NS_LAN" link set to-out up
  ip netns exec "$NS_LAN" sysctl -qw net.ipv4.ip_forward=1
  # kube-proxy's DNAT of pod traffic that the coordinator sends to the node through veth0.
  ip netns exec "$NS_NODE" sysctl -qw net.ipv4.ip_forward=1
}

# A mount namespace for the node, kept by a bind mount of its nsfs file; the node's
# private paths are mounted in it only.
mount_ns() {
  mkdir -p "$W/mnt"
  mount --bind "$W/mnt" "$W/mnt"
  mount --make-private "$W/mnt"
  touch "$W/mnt/ns"
  unshare --mount="$W/mnt/ns" --propagation slave true
  local d created=''
  for d in "${SHARED_DIRS[@]}"; do
    if [ ! -d "$d" ]; then mkdir -p "$d"; created+=" $d"; fi
    mkdir -p "$W/node/shared$d"
    in_node mount --bind "$W/node/shared$d" "$d"
  done
  echo "CREATED_DIRS='$created'" >> "$W/state"
}

save_sysctls() {
  local k
  for k in "${SYSCTLS[@]}"; do echo "$k $(cat "/proc/sys/$k")"; done > "$W/sysctl-saved"
}

control_plane() {
  local t0
  t0=$(now)
  nsenter --net="/run/netns/$NS_NODE" -- bash scripts/k8s-testenv.sh up "$W/cp" 2> "$W/logs/k8s-testenv-up.log" ||
    { tail -20 "$W/logs/k8s-testenv-up.log" >&2; die "control plane did not come up"; }
  API_PORT=$(sed -n 's/^APISERVER_PORT=//p' "$W/cp/ports")
  echo "API_PORT=$API_PORT" >> "$W/state"
  start kube-scheduler nsenter --net="/run/netns/$NS_NODE" -- "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$W/cp/kubeconfig" --leader-elect=false --port=0 --secure-port=0
  say "control plane (etcd, kube-apiserver on 127.0.0.1:$API_PORT of the node namespace, controller-manager, scheduler) in $(since "$t0") s"
}

images() {
  local t0
  t0=$(now)
  mkdir -p "$W/images"
  bash scripts/build-images.sh --bin-dir "$BIN_DIR" --plugin-dir "$PLUGIN_DIR" --out "$W/images" \
    > "$W/logs/build-images.log" 2>&1 ||
    { tail -20 "$W/logs/build-images.log" >&2; die "scripts/build-images.sh failed"; }
  # The pods' image (busybox httpd) and the sandbox ("pause") image: busybox, whose entrypoint
  # sleeps until it is stopped.
  printf '#!/bin/sh\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait $!; done\n' > "$W/pause.sh"
  chmod 0755 "$W/pause.sh"
  python3 scripts/oci-image.py build "$W/images/busybox.oci.tar" "$BUSYBOX_IMAGE" \
    --busybox "$(command -v busybox)" --entrypoint /pause "$W/pause.sh=/pause" > /dev/null
  say "images built in $(since "$t0") s"
}

containerd_config() {
  local rt=$RT_DIR/root
  mkdir -p "$W/node/cni-bin" "$W/node/cni-conf" "$W/node/data"
  # The reference plugins (Debian's containernetworking-plugins) next to ours.
  cp /usr/lib/cni/macvlan /usr/lib/cni/loopback "$W/node/cni-bin/"
  cat > "$W/node/containerd.toml" <<TOML
version = 2
root = "$W/node/containerd-root"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$RUN/containerd.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$W/node/containerd-opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$BUSYBOX_IMAGE"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE (missing on these machines)
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "$rt/usr/sbin/runc"
          Root = "$RUN/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$W/node/cni-bin"
      conf_dir = "$W/node/cni-conf"
      max_conf_num = 1
TOML
  # The node's default network (docs/install.md "Macvlan only"): macvlan on ens192, addresses
  # from spiderpool, routes from the coordinator in underlay mode.
  cat > "$W/node/cni-conf/10-macvlan.conflist" <<JSON
{
  "cniVersion": "0.3.1",
  "name": "macvlan-ens192",
  "plugins": [
    {"type": "macvlan", "master": "ens192", "mode": "bridge",
     "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"],
              "release_journal_path": "$W/node/data/release-journal.jsonl"}},
    {"type": "coordinator", "mode": "underlay", "tunePodRoutes": true}
  ]
}
JSON
}

# The kubelet's pods go to the cgroup /$PFX of every v1 hierarchy (it must exist).
cgroups() {
  local d
  for d in /sys/fs/cgroup/*/; do
    [ -L "${d%/}" ] && continue
    mkdir -p "$d$PFX" 2>/dev/null || true
  done
}

node() {
  local t0 rt=$RT_DIR/root ctr
  t0=$(now)
  containerd_config
  start containerd nsenter --net="/run/netns/$NS_NODE" --mount="$W/mnt/ns" -- \
    env -i PATH="$rt/usr/bin:$rt/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "$rt/usr/bin/containerd" --config "$W/node/containerd.toml"
  poll 20 test -S "$RUN/containerd.sock" || die "containerd did not start ($W/logs/containerd.log)"
  ctr=("$rt/usr/bin/ctr" --address "$RUN/containerd.sock" -n k8s.io)
  local f
  for f in "$W"/images/*.oci.tar; do in_node "${ctr[@]}" images import "$f" >> "$W/logs/ctr-import.log" 2>&1 ||
    die "ctr images import $f failed ($W/logs/ctr-import.log)"; done
  say "containerd up, images imported in $(since "$t0") s"
  save_sysctls
  cgroups
  : > "$W/node/resolv.conf"
  start kubelet nsenter --net="/run/netns/$NS_NODE" --mount="$W/mnt/ns" -- \
    env -i PATH="$rt/usr/bin:$rt/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin" AWS_EC2_METADATA_DISABLED=true \
    "$K8S_BIN/kubelet" --kubeconfig="$W/cp/kubeconfig" --hostname-override="$NODE" --node-ip="$NODE_IP" \
    --address="$NODE_IP" --port=10250 --read-only-port=0 --healthz-bind-address=127.0.0.1 --healthz-port=10248 \
    --container-runtime=remote --container-runtime-endpoint="unix://$RUN/containerd.sock" --runtime-request-timeout=2m \
    --cgroup-driver=cgroupfs --cgroup-root="/$PFX" --fail-swap-on=false \
    --root-dir="$W/node/kubelet" --cert-dir="$W/node/kubelet/pki" --volume-plugin-dir="$W/node/kubelet/volume-plugins" \
    --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
    --eviction-hard='memory.available<50Mi,nodefs.available<1%,imagefs.available<1%' \
    --anonymous-auth=true --authorization-mode=AlwaysAllow --cluster-domain=cluster.local \
    --resolv-conf="$W/node/resolv.conf" --v=2
  start kube-proxy nsenter --net="/run/netns/$NS_NODE" --mount="$W/mnt/ns" -- \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    "$K8S_BIN/kube-proxy" --kubeconfig="$W/cp/kubeconfig" --hostname-override="$NODE" --proxy-mode=iptables \
    --cluster-cidr="$CLUSTER_CIDR" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
  node_ready() { [ "$(k get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
  poll 120 node_ready || { tail -30 "$W/logs/kubelet.log" >&2; die "node $NODE not Ready"; }
  say "kubelet: node $NODE Ready $(since "$t0") s after containerd started"
}

# The `kubernetes` Service: the API server listens on loopback only, so a forwarder on the
# node address is its endpoint (kube-proxy DNATs 10.96.0.1:443 there); in-cluster clients
# (agent, controller, init Job) then work as on any cluster. The coordinator reconciler finds
# the service CIDR in kubeadm's ConfigMap, as on a kubeadm cluster.
cluster_services() {
  start forward-apiserver nsenter --net="/run/netns/$NS_NODE" -- python3 "$ROOT/scripts/cluster-e2e/forward.py" \
    "$NODE_IP:$APISERVER_SVC_PORT" "127.0.0.1:$API_PORT" --port-file "$W/forward-apiserver.port"
  poll 10 test -s "$W/forward-apiserver.port" || die "forwarder for the kubernetes Service did not start"
  k apply -f - > /dev/null <<YAML
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: "$NODE_IP"}]
  ports: [{name: https, port: $APISERVER_SVC_PORT, protocol: TCP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kubeadm-config, namespace: kube-system}
data:
  ClusterConfiguration: |
    apiVersion: kubeadm.k8s.io/v1beta2
    kind: ClusterConfiguration
    kubernetesVersion: v1.20.2
    networking:
      serviceSubnet: $SERVICE_CIDR
      dnsDomain: cluster.local
YAML
  # The kubeconfig --keep prints: the machine's loopback, forwarded into the node namespace.
  start forward-host python3 "$ROOT/scripts/cluster-e2e/forward.py" "127.0.0.1:0" "127.0.0.1:$API_PORT" \
    --target-netns "/run/netns/$NS_NODE" --port-file "$W/forward-host.port"
  poll 10 test -s "$W/forward-host.port" || die "forwarder for the host kubeconfig did not start"
  sed "s#https://127.0.0.1:$API_PORT#https://127.0.0.1:$(cat "$W/forward-host.port")#" "$W/cp/kubeconfig" > "$W/kubeconfig"
  chmod 0600 "$W/kubeconfig"
}

# ---------------------------------------------------------------- teardown

# down W: remove everything run W made; idempotent, also after a partial setup.
cmd_down() {
  load_state "$1"
  # Teardown goes on past any failure: each step is independent.
  set +e
  local t0 rt=$RT_DIR/root
  t0=$(now)
  # 1. Pods first, while kubelet, containerd and the agent still run: CNI DEL frees addresses.
  if pid_of kubelet >/dev/null && [ -f "$W/cp/kubeconfig" ]; then
    k delete deployment,service --all -n default --wait=false > /dev/null 2>&1 || true
    helm_ uninstall "$RELEASE" -n "$RELEASE_NS" --wait --timeout 60s > /dev/null 2>&1 || true
    poll 60 no_pods || say "pods still there after 60 s; stopping anyway"
  fi
  # 2. Node processes, then the leftover containers, then containerd and its shims.
  local n
  for n in "${PROCS[@]}"; do [ "$n" = containerd ] || stop_proc "$n"; done
  if pid_of containerd > /dev/null; then
    local ctr=("$rt/usr/bin/ctr" --address "$RUN/containerd.sock" -n k8s.io) t
    for t in $(in_node "${ctr[@]}" tasks ls -q 2>/dev/null); do in_node "${ctr[@]}" tasks kill -s SIGKILL "$t" > /dev/null 2>&1; done
    sleep 1
    for t in $(in_node "${ctr[@]}" tasks ls -q 2>/dev/null); do in_node "${ctr[@]}" tasks delete -f "$t" > /dev/null 2>&1; done
    stop_proc containerd
  fi
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN/containerd.sock" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  # 3. The control plane.
  if [ -d "$W/cp" ]; then bash scripts/k8s-testenv.sh down "$W/cp" 2> /dev/null; fi
  # 4. Mounts: the node's mount namespace goes with its last process and its nsfs bind.
  grep -oE " ($W|$RUN)[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # 5. Cgroups, sysctls, namespaces, directories.
  local d
  for d in /sys/fs/cgroup/*/"$PFX"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  if [ -f "$W/sysctl-saved" ]; then
    while read -r n v; do echo "$v" > "/proc/sys/$n" 2>/dev/null || true; done < "$W/sysctl-saved"
  fi
  for n in "$NS_OUT" "$NS_LAN" "$NS_NODE"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$RUN"
  # Mount points this run created on the machine, unless another run still mounts over them
  # in its own node (its /run/spe2e-* directory exists).
  if ! compgen -G "/run/spe2e-*" > /dev/null; then
    for d in ${CREATED_DIRS:-}; do rmdir "$d" 2>/dev/null || true; done
  fi
  rm -rf "$W"
  say "torn down in $(since "$t0") s"
}

no_pods() { [ -z "$(k get pods -A -o name 2>/dev/null)" ]; }

# ---------------------------------------------------------------- main

# shellcheck source=scripts/cluster-e2e/checks.sh
. "$ROOT/scripts/cluster-e2e/checks.sh"

on_exit() {
  local rc=$?
  trap - EXIT
  # A signal can land while a probe runs with its output sent to /dev/null: talk to the
  # original stdout/stderr (saved by cmd_run).
  exec 1>&6 2>&7
  # --keep keeps a cluster whose checks failed too (to look at it); a signal tears down.
  if [ "$KEEP" = 1 ] && [ "$rc" -lt 128 ] && [ -f "$W/kubeconfig" ]; then
    echo "KUBECONFIG=$W/kubeconfig"
    echo "teardown: bash $ROOT/scripts/cluster-e2e.sh down $W"
    exit "$rc"
  fi
  [ "$rc" = 0 ] || { say "FAILED (exit $rc); logs:"; ls "$W/logs" >&2 2>/dev/null || true; save_logs; }
  local w=$W
  cmd_down "$W"
  leftovers "$w" || rc=1
  exit "$rc"
}

# leftovers W: nothing of run W remains (namespaces, mounts, cgroups, processes, directories);
# names what does and fails otherwise.
leftovers() {
  local w=$1 left=''
  left+=$(ip netns list | grep -F "$PFX-" || true)
  left+=$(grep -F -e "$w" -e "$RUN" /proc/mounts || true)
  left+=$(ls -d /sys/fs/cgroup/*/"$PFX" 2>/dev/null || true)
  left+=$(pgrep -af -- "$w" | grep -v "pgrep" || true)
  left+=$(ls -d "$w" "$RUN" 2>/dev/null || true)
  if [ -n "$left" ]; then say "teardown left behind:"; printf '%s\n' "$left" >&2; return 1; fi
  say "teardown complete: no namespace, mount, cgroup, process or directory of $PFX left"
}

# On failure the logs are copied out of the work directory before it is removed.
save_logs() {
  local keep=/tmp/spiderpool-e2e-logs-${PFX#spe2e-}
  cp -r "$W/logs" "$keep" 2>/dev/null && say "logs kept in $keep"
}

cmd_run() {
  KEEP=0 BIN_DIR=target/debug PLUGIN_DIR= STAGE=all
  while [ $# -gt 0 ]; do
    case $1 in
      --keep) KEEP=1 ;;
      --bin-dir) BIN_DIR=${2:?--bin-dir DIR}; shift ;;
      --plugin-dir) PLUGIN_DIR=${2:?--plugin-dir DIR}; shift ;;
      --stage) STAGE=${2:?}; shift ;;
      *) die "unknown argument $1 (see the header of $0)" ;;
    esac
    shift
  done
  BIN_DIR=$(realpath "$BIN_DIR")
  PLUGIN_DIR=$(realpath "${PLUGIN_DIR:-$BIN_DIR}")
  local t0 t
  t0=$(now)
  prerequisites
  say "prerequisites (packages, caches, helm) in $(since "$t0") s"
  trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
  exec 6>&1 7>&2
  new_state
  trap on_exit EXIT
  say "work directory $W, names $PFX-*"
  network
  mount_ns
  control_plane
  images
  node
  cluster_services
  say "cluster up $(since "$t0") s after the start"
  [ "$STAGE" = node ] && return 0
  t=$(now)
  checks
  say "checks took $(since "$t") s; $PASSED passed, $FAILED failed; $(since "$t0") s in all"
  [ "$FAILED" -eq 0 ]
}

main() {
  case ${1:-} in
    down)
      [ -n "${2:-}" ] || die "usage: $0 down WORKDIR"
      local w
      w=$(realpath "$2")
      cmd_down "$w"
      leftovers "$w" ;;
    -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) cmd_run "$@" ;;
  esac
}

main "$@"; exit
