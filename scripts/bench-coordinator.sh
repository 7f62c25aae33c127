#!/usr/bin/env bash
# Whole-process benchmark of the `coordinator` CNI plugin against Debian's `sbr`
# plugin (the nearest standard plugin: it also builds a per-interface policy
# routing table), in the same namespace setup, timed with hyperfine.
#
# What it measures: one plugin process (ADD, DEL or CHECK on `net1`), nothing
# else.
# Before every timed run (warm-up runs included) hyperfine's --prepare builds a
# fresh pod namespace exactly as the netns test harness does
# (spiderpool-bin/tests/netns/mod.rs): `eth0` from Debian's ptp plugin
# (10.244.1.5/24, standing in for Cilium) and `net1` from Debian's macvlan plugin
# with static IPAM (10.6.212.200/16, default route via 10.6.0.1) on the node's
# underlay veth; the plugin under test gets macvlan's result as prevResult. For a
# DEL run, prepare also runs the same plugin's ADD; for a CHECK run it runs the
# ADD and gives CHECK the ADD's result as prevResult. The node, LAN router and
# client namespaces are built once per script run.
#
# The plugins run in the node namespace, as a runtime runs them: hyperfine itself
# is started with `nsenter --net=<node netns>` (network namespace only, so no
# `ip netns exec` cost is inside the timing and namespaces created by prepare are
# visible to this script's cleanup).
#
# The coordinator runs in overlay mode without an agent socket (netconf only):
# the agent round trip is not part of the figure.
#
# How a timed run starts the plugin (--harness), as in scripts/bench-ipam.sh:
# `feed` (the default where it can be built) is `hyperfine -N` running
# scripts/bench-feed.c, which opens the config as stdin and execs the plugin
# with exactly the CNI environment (and PATH), as a runtime does; `shell` (the
# only harness before 2026-12-05) is hyperfine's shell running
# `CNI_...=... PLUGIN < config`.
#
# Usage (as root):
#   scripts/bench-coordinator.sh [--runs N] [--warmup N] [--rounds R] [--no-build]
#                                [--coordinator PATH  (a prebuilt binary; no build)]
#                                [--harness feed|shell]
# Defaults: 3 rounds of 30 runs (+3 warm-up) for each plugin and command; the
# rounds alternate the plugins so drifting background load hits both alike.
# Output: a table of medians over all runs and the ratios (our median / sbr
# median); hyperfine's JSON exports land in a temporary directory that is
# printed (and kept).
#
# Everything happens in namespaces this script creates (names carry $$); an EXIT
# trap deletes all of them. The root namespace's routes and rules are never
# touched. No traffic is sent.

set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

CNI_DIR=${CNI_PLUGIN_DIR:-/usr/lib/cni}
POD_ETH0_IP=10.244.1.5
POD_NET1_IP=10.6.212.200
NODE_IP=10.6.0.100
LAN_GW=10.6.0.1
CLIENT_IP=10.7.0.2
SERVICE_IP=10.233.0.10
SERVICE_CIDR=10.233.0.0/18
POD_CIDR=10.244.0.0/16
HOST_RULE_TABLE=500

# --- state shared with the prepare/cleanup sub-commands (through the environment)
: "${SPB_TAG:=$$}"
SPB_CLIENT="spb-cl-$SPB_TAG"
SPB_LAN="spb-lan-$SPB_TAG"
SPB_NODE="spb-node-$SPB_TAG"
SPB_POD="spb-pod-$SPB_TAG"
SPB_NODE_NIC="e$SPB_TAG"
SPB_CID=$(printf '%064x' "$SPB_TAG")
SPB_CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-$SPB_TAG"

die() {
    echo "bench-coordinator: $*" >&2
    exit 1
}

# Runs one CNI plugin in the node namespace: cni PLUGIN_PATH COMMAND IFNAME < config
cni() {
    local plugin=$1 command=$2 ifname=$3
    ip netns exec "$SPB_NODE" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        CNI_COMMAND="$command" CNI_CONTAINERID="$SPB_CID" \
        CNI_NETNS="/var/run/netns/$SPB_POD" CNI_IFNAME="$ifname" \
        CNI_ARGS="$SPB_CNI_ARGS" CNI_PATH="$CNI_DIR" "$plugin"
}

ptp_conf() {
    cat <<EOF
{"cniVersion": "1.0.0", "name": "overlay", "type": "ptp", "ipMasq": false, "mtu": 1500,
 "ipam": {"type": "static", "addresses": [{"address": "$POD_ETH0_IP/24", "gateway": "10.244.1.1"}],
          "routes": [{"dst": "0.0.0.0/0"}]}}
EOF
}

macvlan_conf() {
    cat <<EOF
{"cniVersion": "1.0.0", "name": "macvlan-underlay", "type": "macvlan",
 "master": "$SPB_NODE_NIC", "mode": "bridge",
 "ipam": {"type": "static", "addresses": [{"address": "$POD_NET1_IP/16", "gateway": "$LAN_GW"}],
          "routes": [{"dst": "0.0.0.0/0", "gw": "$LAN_GW"}]}}
EOF
}

# The netconf of the plugin under test, with prevResult = macvlan's result.
plugin_conf() {
    local plugin=$1 prev=$2
    case $plugin in
    coordinator)
        jq -c --argjson prev "$prev" --arg log "$SPB_WORK/coordinator.log" \
            --arg svc "$SERVICE_CIDR" --arg pod "$POD_CIDR" \
            '{cniVersion: "1.0.0", name: "macvlan-underlay", type: "coordinator",
              mode: "overlay", serviceCIDR: [$svc], overlayPodCIDR: [$pod], hijackCIDR: [],
              logOptions: {logFile: $log}, prevResult: $prev}' <<<'null'
        ;;
    sbr)
        jq -c --argjson prev "$prev" \
            '{cniVersion: "1.0.0", name: "macvlan-underlay", type: "sbr", prevResult: $prev}' <<<'null'
        ;;
    *) die "unknown plugin $plugin" ;;
    esac
}

plugin_path() {
    case $1 in
    coordinator) echo "$SPB_COORD" ;;
    sbr) echo "$CNI_DIR/sbr" ;;
    *) die "unknown plugin $1" ;;
    esac
}

# Removes the pod namespace and whatever the plugins left on the node, and waits
# until the kernel has really torn the old pod's links down (namespace deletion
# is asynchronous; ptp's host route to the pod must be gone before the next ADD).
reset_pod() {
    ip netns del "$SPB_POD" 2>/dev/null || true
    while ip -n "$SPB_NODE" rule del pref 1000 from all lookup "$HOST_RULE_TABLE" 2>/dev/null; do :; done
    ip -n "$SPB_NODE" route flush table "$HOST_RULE_TABLE" 2>/dev/null || true
    local i
    for i in $(seq 1 500); do
        if [[ -z $(ip -n "$SPB_NODE" route show "$POD_ETH0_IP/32") ]] &&
            [[ -z $(ip -n "$SPB_NODE" -o link show type veth 2>/dev/null | grep -v "$SPB_NODE_NIC" || true) ]]; then
            return 0
        fi
        sleep 0.01
    done
    die "the previous pod's links did not disappear from $SPB_NODE"
}

# Fresh pod: eth0 from ptp, net1 from macvlan; writes $SPB_WORK/<plugin>.json.
# With COMMAND=DEL, also runs the plugin's ADD so the DEL has something to undo;
# with COMMAND=CHECK, runs the ADD and writes $SPB_WORK/<plugin>-check.json (the
# same netconf, prevResult = the ADD's result).
prepare() {
    local plugin=$1 command=$2 prev conf
    reset_pod
    ip netns add "$SPB_POD"
    ip -n "$SPB_POD" link set lo up
    cni "$CNI_DIR/ptp" ADD eth0 < <(ptp_conf) >/dev/null
    prev=$(cni "$CNI_DIR/macvlan" ADD net1 < <(macvlan_conf))
    conf=$(plugin_conf "$plugin" "$prev")
    printf '%s' "$conf" >"$SPB_WORK/$plugin.json"
    case $command in
    DEL)
        cni "$(plugin_path "$plugin")" ADD net1 <"$SPB_WORK/$plugin.json" >/dev/null ||
            die "$plugin ADD (prepare of DEL) failed"
        ;;
    CHECK)
        cni "$(plugin_path "$plugin")" ADD net1 <"$SPB_WORK/$plugin.json" >"$SPB_WORK/$plugin-result.json" ||
            die "$plugin ADD (prepare of CHECK) failed"
        jq -c --slurpfile r "$SPB_WORK/$plugin-result.json" '. + {prevResult: $r[0]}' \
            "$SPB_WORK/$plugin.json" >"$SPB_WORK/$plugin-check.json" ||
            die "$plugin: could not build CHECK's config"
        ;;
    esac
}

# The config file a timed COMMAND of PLUGIN reads.
conf_for() {
    if [[ $2 == CHECK ]]; then echo "$SPB_WORK/$1-check.json"; else echo "$SPB_WORK/$1.json"; fi
}

# --- sub-commands run by hyperfine (inside the node namespace)
case ${1:-} in
__prepare)
    prepare "$2" "$3"
    exit 0
    ;;
__reset)
    reset_pod
    exit 0
    ;;
esac

# --- main
SPB_COORD=
RUNS=30
WARMUP=3
ROUNDS=3
BUILD=1
HARNESS=feed
while [[ $# -gt 0 ]]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --coordinator) SPB_COORD=$2; BUILD=0; shift 2 ;;
    --harness) HARNESS=$2; shift 2 ;;
    -h | --help) sed -n '2,46p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done

[[ $HARNESS == feed || $HARNESS == shell ]] || die "--harness: feed or shell, not $HARNESS"
[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
for tool in ip jq nsenter; do
    command -v "$tool" >/dev/null || die "$tool not installed"
done
for p in ptp macvlan static sbr; do
    [[ -x $CNI_DIR/$p ]] || die "$CNI_DIR/$p missing (apt install containernetworking-plugins)"
done
if ! command -v hyperfine >/dev/null; then
    echo "installing hyperfine" >&2
    apt-get install -y hyperfine >/dev/null || die "could not install hyperfine"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $BUILD == 1 ]]; then
    (cd "$ROOT" && cargo build --release -p spiderpool-bin --bin coordinator) ||
        die "cargo build failed"
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
: "${SPB_COORD:=$TARGET/release/coordinator}"
[[ -x $SPB_COORD ]] || die "$SPB_COORD missing (build it or drop --no-build)"

SPB_WORK=$(mktemp -d /tmp/bench-coordinator.XXXXXX)
export SPB_TAG SPB_WORK SPB_COORD

cleanup() {
    local ns
    for ns in "$SPB_POD" "$SPB_NODE" "$SPB_LAN" "$SPB_CLIENT"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}
[[ -n ${SPB_KEEP:-} ]] || trap cleanup EXIT

# The LAN as in the harness: client -- lan router -- node (underlay veth).
for ns in "$SPB_CLIENT" "$SPB_LAN" "$SPB_NODE"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$SPB_CLIENT" link add "c$SPB_TAG" type veth peer name "cl$SPB_TAG" netns "$SPB_LAN"
ip -n "$SPB_CLIENT" addr add "$CLIENT_IP/24" dev "c$SPB_TAG"
ip -n "$SPB_CLIENT" link set "c$SPB_TAG" up
ip -n "$SPB_CLIENT" route add default via 10.7.0.1
ip -n "$SPB_LAN" addr add 10.7.0.1/24 dev "cl$SPB_TAG"
ip -n "$SPB_LAN" link set "cl$SPB_TAG" up
ip -n "$SPB_NODE" link add "$SPB_NODE_NIC" type veth peer name "el$SPB_TAG" netns "$SPB_LAN"
ip -n "$SPB_NODE" addr add "$NODE_IP/16" dev "$SPB_NODE_NIC"
ip -n "$SPB_NODE" link set "$SPB_NODE_NIC" up
ip -n "$SPB_NODE" route add default via "$LAN_GW"
ip -n "$SPB_LAN" addr add "$LAN_GW/16" dev "el$SPB_TAG"
ip -n "$SPB_LAN" link set "el$SPB_TAG" up
ip netns exec "$SPB_LAN" sysctl -q -w net.ipv4.ip_forward=1
ip netns exec "$SPB_NODE" sysctl -q -w net.ipv4.ip_forward=1
ip -n "$SPB_NODE" addr add "$SERVICE_IP/32" dev lo
ip netns exec "$SPB_NODE" nft add table inet spoof
ip netns exec "$SPB_NODE" nft "add chain inet spoof podspoof { type filter hook forward priority 0 ; policy accept ; }"
ip netns exec "$SPB_NODE" nft "add rule inet spoof podspoof iifname \"veth*\" ip saddr != $POD_CIDR drop"

# Sanity: each plugin's ADD really builds its policy table here, and DEL undoes it.
for plugin in coordinator sbr; do
    prepare "$plugin" ADD
    cni "$(plugin_path "$plugin")" ADD net1 <"$SPB_WORK/$plugin.json" >/dev/null ||
        die "$plugin ADD failed (sanity run)"
    rules=$(ip -n "$SPB_POD" rule)
    grep -q "from $POD_NET1_IP lookup" <<<"$rules" ||
        die "$plugin ADD did not add 'from $POD_NET1_IP lookup <table>':
$rules"
    prepare "$plugin" CHECK
    cni "$(plugin_path "$plugin")" CHECK net1 <"$SPB_WORK/$plugin-check.json" >/dev/null ||
        die "$plugin CHECK failed (sanity run)"
    cni "$(plugin_path "$plugin")" DEL net1 <"$SPB_WORK/$plugin.json" >/dev/null ||
        die "$plugin DEL failed (sanity run)"
    # sbr's DEL removes the rules of net1's addresses; the coordinator's DEL, like
    # Spiderpool's, leaves the pod side to the namespace's deletion and removes
    # only host-side state (host veth, legacy host rules), none of which overlay
    # mode creates for this pod.
    if [[ $plugin == sbr ]] && ip -n "$SPB_POD" rule | grep -q "from $POD_NET1_IP lookup"; then
        die "$plugin DEL left the rule for $POD_NET1_IP"
    fi
done
reset_pod

choose_harness

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
# Rounds alternate the four benchmarks, so a change in the machine's background
# load hits every plugin alike; the figures pool the runs of all rounds.
for round in $(seq 1 "$ROUNDS"); do
    for command in ADD DEL CHECK; do
        for plugin in coordinator sbr; do
            json="$SPB_WORK/$plugin-$command-round$round.json"
            env="CNI_COMMAND=$command CNI_CONTAINERID=$SPB_CID CNI_NETNS=/var/run/netns/$SPB_POD"
            env+=" CNI_IFNAME=net1 CNI_ARGS='$SPB_CNI_ARGS' CNI_PATH=$CNI_DIR"
            if [[ $HARNESS == feed ]]; then
                cmd="$FEED $(conf_for "$plugin" "$command") $(plugin_path "$plugin") $env PATH=/usr/sbin:/usr/bin:/sbin:/bin"
            else
                cmd="$env $(plugin_path "$plugin") < $(conf_for "$plugin" "$command") > /dev/null"
            fi
            echo "== round $round: $plugin $command" >&2
            time_in_node "$plugin $command" "$json" "$SELF __prepare $plugin $command" "$SELF __reset" "$cmd" "${HF_ARGS[@]}"
        done
    done
done

echo
echo "rounds: $ROUNDS x $RUNS runs (+ $WARMUP warm-up) per plugin and command, $HARNESS harness; times in ms;"
echo "hyperfine JSON in $SPB_WORK"
echo
echo "| command | plugin | median | mean ± σ | min | max |"
echo "|---|---|---|---|---|---|"
declare -A MEDIAN
for command in ADD DEL CHECK; do
    for plugin in coordinator sbr; do
        read -r med mean sd min max < <(stats "$plugin-$command")
        MEDIAN[$plugin-$command]=$med
        printf '| %s | %s | %.2f | %.2f ± %.2f | %.2f | %.2f |\n' \
            "$command" "$plugin" "$med" "$mean" "$sd" "$min" "$max"
    done
done
echo
for command in ADD DEL CHECK; do
    ratio=$(jq -n --argjson a "${MEDIAN[coordinator-$command]}" --argjson b "${MEDIAN[sbr-$command]}" '$a / $b')
    printf '%s ratio (coordinator median / sbr median): %.2f\n' "$command" "$ratio"
done
