#!/usr/bin/env bash
# Spiderpool's Cilium quick start, reproduced on this machine in network
# namespaces with the embedded store (no cluster). See docs/quickstart.md.
#
#   outside (10.7.212.101/24) ── lan (gateway 10.6.0.1/16, 10.7.212.1/24) ── node ens192 (10.6.0.100/16)
#                                                                            ├─ nginx-1: eth0 (ptp, 10.244.1.11), net1 (macvlan + spiderpool + coordinator)
#                                                                            └─ nginx-2: eth0 (ptp, 10.244.1.12), net1 (...)
#
# Usage: sudo bash scripts/quickstart.sh [--keep] [--no-build]
#   --keep      leave everything in place to look around (prints how)
#   --no-build  use binaries already built (QUICKSTART_PROFILE=debug uses
#               target/debug, as scripts/test.sh does after `cargo test`)
# Everything it creates (namespaces, the agent, its socket and data) is removed
# at the end unless --keep. Traffic only flows between these namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

keep=0; build=1
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    --no-build) build=0 ;;
    *) echo "usage: $0 [--keep] [--no-build]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (network namespaces)" >&2; exit 1; }

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

say "installing what the quick start needs"
need=()
for p in iproute2 iputils-ping nftables containernetworking-plugins python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "$build" = 1 ]; then
  say "building spiderpool, coordinator, spiderpool-agent, spiderpoolctl (release)"
  cargo build -q --release -p spiderpool-bin
fi
bin="$root/target/${QUICKSTART_PROFILE:-release}"
ctl="$bin/spiderpoolctl"
cni_path="$bin:/usr/lib/cni:/opt/cni/bin"

tag="qs$$"
ns_out="sp-out-$tag"; ns_lan="sp-lan-$tag"; ns_node="sp-node-$tag"
pods=(nginx-1 nginx-2)
work=$(mktemp -d /tmp/spiderpool-quickstart.XXXXXX)
socket=/var/run/spidernet/spiderpool.sock
agent_pid=""
server_pids=()

cleanup() {
  local rc=$?
  if [ "$keep" = 1 ]; then
    echo; echo "kept: namespaces $ns_out $ns_lan $ns_node sp-<pod>-$tag, agent pid $agent_pid, data $work"
    exit $rc
  fi
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for p in "${pods[@]}"; do
    # As in Kubernetes: the pod is deleted (its addresses are released), then
    # the runtime tears its networks down.
    [ -n "$agent_pid" ] && "$ctl" --socket "$socket" delete pod "$p" -n default >/dev/null 2>&1 || true
    if [ -e "/var/run/netns/sp-$p-$tag" ]; then
      ip netns exec "$ns_node" "$ctl" cni del --conf "$work/nad.json" --netns "/var/run/netns/sp-$p-$tag" \
        --ifname net1 --container-id "ctr-$p-$tag" --args "K8S_POD_NAMESPACE=default;K8S_POD_NAME=$p" \
        --cni-path "$cni_path" --cache-dir "$work/cache" >/dev/null 2>&1 || true
      ip netns exec "$ns_node" "$ctl" cni del --conf "$work/eth0-$p.json" --netns "/var/run/netns/sp-$p-$tag" \
        --ifname eth0 --container-id "ctr-$p-$tag" --cni-path "$cni_path" --cache-dir "$work/cache" >/dev/null 2>&1 || true
      ip netns del "sp-$p-$tag" 2>/dev/null || true
    fi
  done
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  for n in "$ns_out" "$ns_lan" "$ns_node"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

if [ -S "$socket" ] && "$ctl" --socket "$socket" get sp >/dev/null 2>&1; then
  echo "quickstart: an agent already answers on $socket; stop it first" >&2
  exit 1
fi

say "network: outside host, LAN gateway 10.6.0.1, node with ens192"
for n in "$ns_out" "$ns_lan" "$ns_node"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n "$ns_out" link add eth0 type veth peer name to-out netns "$ns_lan"
ip -n "$ns_out" addr add 10.7.212.101/24 dev eth0
ip -n "$ns_out" link set eth0 up
ip -n "$ns_out" route add default via 10.7.212.1
ip -n "$ns_lan" addr add 10.7.212.1/24 dev to-out
ip -n "$ns_lan" link set to-out up
ip -n "$ns_node" link add ens192 type veth peer name to-node netns "$ns_lan"
ip -n "$ns_node" addr add 10.6.0.100/16 dev ens192
ip -n "$ns_node" link set ens192 up
ip -n "$ns_node" route add default via 10.6.0.1
ip -n "$ns_lan" addr add 10.6.0.1/16 dev to-node
ip -n "$ns_lan" link set to-node up
ip netns exec "$ns_lan" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$ns_node" sysctl -qw net.ipv4.ip_forward=1
# The node masquerades pod traffic leaving through ens192, as Cilium does; a
# service address answers on the node.
ip netns exec "$ns_node" nft add table ip qsnat
ip netns exec "$ns_node" nft 'add chain ip qsnat post { type nat hook postrouting priority 100 ; }'
ip netns exec "$ns_node" nft 'add rule ip qsnat post ip saddr 10.244.0.0/16 oifname "ens192" masquerade'
ip -n "$ns_node" addr add 10.233.0.10/32 dev lo

say "spiderpool-agent on $socket (embedded store in $work/data)"
ip netns exec "$ns_node" "$bin/spiderpool-agent" --node-name node1 --socket "$socket" \
  --data-dir "$work/data" --release-journal "$work/journal.jsonl" --health-port 0 \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do
  "$ctl" --socket "$socket" get sp >/dev/null 2>&1 && break
  sleep 0.1
done

say "applying the quick start's SpiderIPPool and SpiderMultusConfig"
show "$ctl" --socket "$socket" apply -f scripts/quickstart/resources.yaml
show "$ctl" --socket "$socket" get sp
# render-nad takes only SMCs: feed it the SMC document alone.
python3 - "$work" <<'PY'
import sys
docs = open("scripts/quickstart/resources.yaml").read().split("\n---\n")
smc = [d for d in docs if "kind: SpiderMultusConfig" in d][0]
open(sys.argv[1] + "/smc.yaml", "w").write(smc)
PY
"$ctl" render-nad -f "$work/smc.yaml" -o json >"$work/nad.json"
echo "NetworkAttachmentDefinition macvlan-ens192 config:"
python3 -c 'import json,sys; print(json.dumps(json.loads(json.load(open(sys.argv[1]))["spec"]["config"]), indent=2))' "$work/nad.json"

n=10
for p in "${pods[@]}"; do
  n=$((n + 1))
  pod_ns="sp-$p-$tag"
  say "pod $p: eth0 from ptp (Cilium's role), net1 from macvlan + spiderpool + coordinator"
  ip netns add "$pod_ns"; ip -n "$pod_ns" link set lo up
  uid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  cat >"$work/pod-$p.yaml" <<POD
apiVersion: v1
kind: Pod
metadata:
  name: $p
  namespace: default
  uid: $uid
  labels: {app: nginx}
  annotations:
    k8s.v1.cni.cncf.io/networks: macvlan-ens192
spec:
  nodeName: node1
POD
  "$ctl" --socket "$socket" apply -f "$work/pod-$p.yaml" >/dev/null
  cat >"$work/eth0-$p.json" <<CONF
{"cniVersion":"1.0.0","name":"cilium-standin","plugins":[{"type":"ptp","ipMasq":false,"mtu":1500,
 "ipam":{"type":"static","addresses":[{"address":"10.244.1.$n/24","gateway":"10.244.1.1"}],"routes":[{"dst":"0.0.0.0/0"}]}}]}
CONF
  ip netns exec "$ns_node" "$ctl" cni add --conf "$work/eth0-$p.json" --netns "/var/run/netns/$pod_ns" \
    --ifname eth0 --container-id "ctr-$p-$tag" --cni-path "$cni_path" --cache-dir "$work/cache" >/dev/null
  ip netns exec "$ns_node" "$ctl" cni add --conf "$work/nad.json" --netns "/var/run/netns/$pod_ns" \
    --ifname net1 --container-id "ctr-$p-$tag" \
    --args "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$p;K8S_POD_UID=$uid" \
    --cni-path "$cni_path" --cache-dir "$work/cache" >"$work/result-$p.json"
  # The pod serves HTTP on its addresses, as nginx would.
  ip netns exec "$pod_ns" python3 -m http.server 80 --bind 0.0.0.0 >/dev/null 2>&1 &
  server_pids+=($!)
done

say "who holds which IP"
show "$ctl" --socket "$socket" get se

fail=0
for p in "${pods[@]}"; do
  pod_ns="sp-$p-$tag"
  ip4=$(ip -n "$pod_ns" -4 -o addr show dev net1 | awk '{print $4}' | cut -d/ -f1)
  say "pod $p (net1 $ip4): rules and routes"
  show ip -n "$pod_ns" rule
  show ip -n "$pod_ns" route
  show ip -n "$pod_ns" route show table 100
  show ip -n "$pod_ns" route show table 101
  say "pod $p: traffic"
  check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then echo "ok    $what"; else echo "FAIL  $what"; fail=1; fi; }
  check "pod -> node 10.6.0.100 (through eth0)" ip netns exec "$pod_ns" ping -c1 -W1 10.6.0.100
  check "pod -> service 10.233.0.10 (through eth0)" ip netns exec "$pod_ns" ping -c1 -W1 10.233.0.10
  for _ in $(seq 1 30); do
    ip netns exec "$ns_out" bash -c "exec 3<>/dev/tcp/$ip4/80" 2>/dev/null && break
    sleep 0.1
  done
  check "outside 10.7.212.101 -> $ip4:80 (HTTP, reply back over net1)" \
    ip netns exec "$ns_out" bash -c "exec 3<>/dev/tcp/$ip4/80; printf 'GET / HTTP/1.0\r\n\r\n' >&3; head -1 <&3 | grep -q ' 200 '"
  check "pod -> outside 10.7.212.101 (through eth0, node masquerades)" \
    ip netns exec "$pod_ns" ping -c1 -W1 10.7.212.101
done

say "done"
if [ "$fail" = 0 ]; then echo "every check passed"; else echo "some checks FAILED (agent log: $work/agent.log)"; fi
[ "$keep" = 1 ] || echo "removing everything (use --keep to look around)"
exit "$fail"
