#!/usr/bin/env bash
# IPAM benchmark: our `spiderpool` IPAM plugin (talking to a running
# spiderpool-agent on the embedded store) against Debian's `host-local`, same
# machine, same run. See docs/performance.md, "IPAM: spiderpool vs host-local".
#
# (1) Whole process, chain macvlan + IPAM: hyperfine times `macvlan ADD`,
#     `macvlan DEL` and `macvlan CHECK` SEPARATELY (one process each; macvlan
#     execs the IPAM plugin). Before every timed ADD, --prepare builds a fresh
#     pod namespace (after releasing the previous pod's address with a DEL);
#     before every timed DEL, prepare also runs the ADD; before every timed
#     CHECK it runs the ADD and writes CHECK's config with that ADD's result as
#     prevResult. Ratio of medians: spiderpool / host-local.
# (1b) Whole process, the IPAM plugin alone: the same three commands timed as
#     one `spiderpool` or `host-local` process (CNI_COMMAND set, the network
#     config on stdin, as macvlan execs it), so the figure is the IPAM job only
#     (macvlan's link work, the same for both, is not in it). Prepare builds a
#     fresh pod namespace with a down macvlan `net1` (what macvlan has made
#     when it calls IPAM); before DEL and CHECK it runs the plugin's ADD.
#     How a timed command starts the plugin (--harness): `feed` (the default
#     where it can be built) is `hyperfine -N` running scripts/bench-feed.c, a
#     program without libc that opens the config as stdin and execs the plugin
#     with exactly the CNI environment, as a runtime execs a plugin; `shell`
#     (the only harness before 2026-12-05, kept to compare with older
#     figures) is hyperfine's shell running `env -i CNI_...=... PLUGIN <
#     config`, ~1.5 ms of shell and `env` in every run.
#     The same runs also time the harness alone: the same command with NOOP
#     instead of the plugin, under the same prepare and cleanup, where NOOP is
#     a program that only exits (built here from three instructions on
#     x86_64, so it has no libc start-up; /bin/true elsewhere, whose start-up
#     is then left out of both net figures). Each plugin's median is also
#     reported net of the harness's (the harness is in every timed command
#     but in neither plugin).
# (2) 200 concurrent ADDs of the IPAM plugin alone (CNI_COMMAND=ADD, 200
#     processes started at once, distinct container IDs and pod names, one pool
#     / one range of 254 addresses): total wall time from the first start to the
#     last exit, and a duplicate check on the returned addresses (a duplicate
#     stops the script; failed ADDs are counted and reported, one message shown).
#     Every address is released (DEL, not timed) between rounds.
#
# The agent runs in the node namespace with its own socket and data directory
# (temp dir); the pool is applied through `spiderpoolctl apply`. host-local's
# dataDir is a temp dir; it returns the same default route via the gateway
# as the pool does, so macvlan configures the same things for both. The
# agent's embedded store makes each answer durable (one fsync shared by the
# requests that finished meanwhile); host-local writes one file per IP (no
# fsync).
#
# Usage (as root):
#   scripts/bench-ipam.sh [--runs N] [--warmup N] [--rounds R] [--conc-rounds R]
#                         [--parts chain,alone,conc] [--harness feed|shell] [--no-build]
# Defaults: 2 rounds of 20 runs (+2 warm-up) per plugin and command, 3 rounds of
# the concurrent test per plugin, all three parts. Release binaries (cargo
# build --release; CARGO_TARGET_DIR picks the target directory).
#
# Everything happens in namespaces this script creates (names carry $$); an EXIT
# trap stops the agent and deletes the namespaces and the temp dir (unless
# SPB_KEEP is set). The root namespace's routes are never touched. No traffic.

set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

CNI_DIR=${CNI_PLUGIN_DIR:-/usr/lib/cni}
SUBNET=10.6.0.0/16
RANGE_START=10.6.1.1
RANGE_END=10.6.1.254
GATEWAY=10.6.0.1
POOL=bench-v4
CONC=200

: "${SPB_TAG:=$$}"
SPB_NODE="spi-node-$SPB_TAG"
SPB_POD="spi-pod-$SPB_TAG"
SPB_NIC="u$SPB_TAG"
SPB_CID="bench-$SPB_TAG"
SPB_CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-$SPB_TAG;K8S_POD_UID=uid-bench-$SPB_TAG"

die() {
    echo "bench-ipam: $*" >&2
    exit 1
}

# cni PLUGIN COMMAND CONTAINER_ID CNI_ARGS < config  (in the node namespace when
# not already there)
cni() {
    local plugin=$1 command=$2 cid=$3 args=$4
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        CNI_COMMAND="$command" CNI_CONTAINERID="$cid" \
        CNI_NETNS="/var/run/netns/$SPB_POD" CNI_IFNAME=net1 \
        CNI_ARGS="$args" CNI_PATH="$SPB_CNI_PATH" "$plugin"
}

ipam_conf() {
    case $1 in
    spiderpool)
        cat <<EOF
{"type": "spiderpool", "default_ipv4_ippool": ["$POOL"],
 "ipam_unix_socket_path": "$SPB_WORK/agent.sock",
 "log_file_path": "$SPB_WORK/spiderpool-ipam.log",
 "release_journal_path": "$SPB_WORK/journal.jsonl"}
EOF
        ;;
    host-local)
        cat <<EOF
{"type": "host-local", "dataDir": "$SPB_WORK/host-local",
 "ranges": [[{"subnet": "$SUBNET", "rangeStart": "$RANGE_START", "rangeEnd": "$RANGE_END", "gateway": "$GATEWAY"}]],
 "routes": [{"dst": "0.0.0.0/0", "gw": "$GATEWAY"}]}
EOF
        ;;
    *) die "unknown IPAM $1" ;;
    esac
}

write_confs() {
    local p
    for p in spiderpool host-local; do
        cat >"$SPB_WORK/macvlan-$p.json" <<EOF
{"cniVersion": "1.0.0", "name": "bench-ipam", "type": "macvlan", "master": "$SPB_NIC", "mode": "bridge",
 "ipam": $(ipam_conf "$p")}
EOF
    done
}

# The process a timed command of chain P runs in MODE: macvlan (chain) or the
# IPAM plugin itself (alone).
runner() {
    if [[ $2 == chain ]]; then
        echo "$CNI_DIR/macvlan"
    elif [[ $1 == spiderpool ]]; then
        echo "$SPB_BIN/spiderpool"
    else
        echo "$CNI_DIR/host-local"
    fi
}

# Releases the pod's address (DEL of the mode the pod was prepared in) and
# removes its namespace.
reset_pod() {
    local p=$1 mode
    if [[ -e /var/run/netns/$SPB_POD ]]; then
        mode=$(cat "$SPB_WORK/pod-mode" 2>/dev/null || echo chain)
        cni "$(runner "$p" "$mode")" DEL "$SPB_CID" "$SPB_CNI_ARGS" <"$SPB_WORK/macvlan-$p.json" >/dev/null ||
            die "$mode $p DEL (reset) failed"
        ip netns del "$SPB_POD"
    fi
}

# A fresh pod namespace for COMMAND of P in MODE (chain: empty, as the runtime
# makes it; alone: with the down macvlan net1 that macvlan has made when it
# calls IPAM), with the ADD done before DEL and CHECK.
prepare() {
    local p=$1 command=$2 mode=${3:-chain} run
    reset_pod "$p"
    ip netns add "$SPB_POD"
    echo "$mode" >"$SPB_WORK/pod-mode"
    if [[ $mode == alone ]]; then
        ip link add "m$SPB_TAG" link "$SPB_NIC" type macvlan mode bridge
        ip link set "m$SPB_TAG" netns "$SPB_POD"
        ip -n "$SPB_POD" link set "m$SPB_TAG" name net1
    fi
    run=$(runner "$p" "$mode")
    case $command in
    DEL)
        cni "$run" ADD "$SPB_CID" "$SPB_CNI_ARGS" <"$SPB_WORK/macvlan-$p.json" >/dev/null ||
            die "$mode $p ADD (prepare of DEL) failed"
        ;;
    CHECK)
        # CHECK's config is the network's with the ADD's result as prevResult.
        cni "$run" ADD "$SPB_CID" "$SPB_CNI_ARGS" <"$SPB_WORK/macvlan-$p.json" \
            >"$SPB_WORK/result-$p.json" || die "$mode $p ADD (prepare of CHECK) failed"
        jq --slurpfile r "$SPB_WORK/result-$p.json" '. + {prevResult: $r[0]}' \
            "$SPB_WORK/macvlan-$p.json" >"$SPB_WORK/check-$p.json" ||
            die "$mode $p: could not build CHECK's config"
        ;;
    esac
}

# The config file a timed COMMAND of chain P reads.
conf_for() {
    if [[ $2 == CHECK ]]; then echo "$SPB_WORK/check-$1.json"; else echo "$SPB_WORK/macvlan-$1.json"; fi
}

# --- sub-commands run by hyperfine (inside the node namespace)
case ${1:-} in
__prepare)
    prepare "$2" "$3" "${4:-chain}"
    exit 0
    ;;
__reset)
    reset_pod "$2"
    exit 0
    ;;
__add)
    cni "$(runner "$2" "${3:-chain}")" ADD "$SPB_CID" "$SPB_CNI_ARGS" <"$SPB_WORK/macvlan-$2.json"
    exit
    ;;
__check)
    cni "$(runner "$2" "${3:-chain}")" CHECK "$SPB_CID" "$SPB_CNI_ARGS" <"$SPB_WORK/check-$2.json"
    exit
    ;;
esac

RUNS=20
WARMUP=2
ROUNDS=2
CONC_ROUNDS=3
PARTS=chain,alone,conc
HARNESS=feed
BUILD=1
while [[ $# -gt 0 ]]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --conc-rounds) CONC_ROUNDS=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --harness) HARNESS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
part() { [[ ,$PARTS, == *,$1,* ]]; }
[[ $HARNESS == feed || $HARNESS == shell ]] || die "--harness: feed or shell, not $HARNESS"
for x in ${PARTS//,/ }; do
    [[ $x == chain || $x == alone || $x == conc ]] || die "--parts: unknown part $x (chain, alone, conc)"
done

[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
for tool in ip jq nsenter; do
    command -v "$tool" >/dev/null || die "$tool not installed"
done
for p in macvlan host-local; do
    [[ -x $CNI_DIR/$p ]] || die "$CNI_DIR/$p missing (apt install containernetworking-plugins)"
done
if ! command -v hyperfine >/dev/null; then
    echo "installing hyperfine" >&2
    apt-get install -y hyperfine >/dev/null || die "could not install hyperfine"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $BUILD == 1 ]]; then
    (cd "$ROOT" && cargo build --release -p spiderpool-bin) || die "cargo build failed"
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
for b in spiderpool spiderpool-agent spiderpoolctl; do
    [[ -x $BIN/$b ]] || die "$BIN/$b missing (build it or drop --no-build)"
done

SPB_WORK=$(mktemp -d /tmp/bench-ipam.XXXXXX)
# host-local and spiderpool side by side; macvlan finds its IPAM plugin here.
SPB_CNI_PATH="$BIN:$CNI_DIR"
SPB_BIN=$BIN
export SPB_TAG SPB_WORK SPB_CNI_PATH SPB_BIN
AGENT_PID=

cleanup() {
    if [[ -n $AGENT_PID ]]; then
        kill "$AGENT_PID" 2>/dev/null || true
        wait "$AGENT_PID" 2>/dev/null || true
    fi
    ip netns del "$SPB_POD" 2>/dev/null || true
    ip netns del "$SPB_NODE" 2>/dev/null || true
    rm -rf "$SPB_WORK"
}
[[ -n ${SPB_KEEP:-} ]] || trap cleanup EXIT

ip netns add "$SPB_NODE"
ip -n "$SPB_NODE" link set lo up
# macvlan needs a master link; a veth pair inside the node namespace (no dummy module needed).
ip -n "$SPB_NODE" link add "$SPB_NIC" type veth peer name "p$SPB_TAG"
ip -n "$SPB_NODE" link set "p$SPB_TAG" up
ip -n "$SPB_NODE" link set "$SPB_NIC" up
ip -n "$SPB_NODE" addr add 10.6.0.100/16 dev "$SPB_NIC"
mkdir -p "$SPB_WORK/host-local"
write_confs

ip netns exec "$SPB_NODE" "$BIN/spiderpool-agent" --node-name node1 \
    --socket "$SPB_WORK/agent.sock" --data-dir "$SPB_WORK/data" \
    --release-journal "$SPB_WORK/journal.jsonl" --health-port 0 \
    >"$SPB_WORK/agent.log" 2>&1 &
AGENT_PID=$!
ctl() { "$BIN/spiderpoolctl" --socket "$SPB_WORK/agent.sock" "$@"; }
for _ in $(seq 1 100); do
    ctl get sp >/dev/null 2>&1 && break
    sleep 0.1
done
ctl get sp >/dev/null 2>&1 || die "the agent did not answer (log: $(cat "$SPB_WORK/agent.log"))"
cat >"$SPB_WORK/pool.yaml" <<EOF
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: $POOL
spec:
  gateway: $GATEWAY
  ips:
  - $RANGE_START-$RANGE_END
  subnet: $SUBNET
EOF
ctl apply -f "$SPB_WORK/pool.yaml" >/dev/null || die "spiderpoolctl apply of the pool failed"

# The harness's do-nothing program (see (1b) above).
NOOP=/bin/true
if [[ $(uname -m) == x86_64 ]] && command -v cc >/dev/null; then
    printf '.globl _start\n_start:\n mov $60, %%eax\n xor %%edi, %%edi\n syscall\n' >"$SPB_WORK/noop.s"
    cc -nostdlib -static -o "$SPB_WORK/noop" "$SPB_WORK/noop.s" && NOOP=$SPB_WORK/noop
fi
"$NOOP" || die "$NOOP failed"
choose_harness
echo "harness: $HARNESS, do-nothing program: $NOOP" >&2

# timed COMMAND PROG CONF -> the command line hyperfine times: PROG run as a
# CNI plugin for COMMAND, CONF on its stdin, in the pod's namespace and the
# harness chosen.
timed() {
    local env="CNI_COMMAND=$1 CNI_CONTAINERID=$SPB_CID CNI_NETNS=/var/run/netns/$SPB_POD CNI_IFNAME=net1"
    env+=" CNI_ARGS='$SPB_CNI_ARGS' CNI_PATH=$SPB_CNI_PATH PATH=/usr/sbin:/usr/bin:/sbin:/bin"
    if [[ $HARNESS == feed ]]; then
        echo "$FEED $3 $2 $env"
    else
        echo "env -i $env $2 < $3 > /dev/null"
    fi
}

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
# Sanity: in each mode, each plugin's ADD gives an address (chain: on net1),
# CHECK passes, DEL releases it.
for mode in chain alone; do
    part "$mode" || continue
    for p in spiderpool host-local; do
        nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __prepare "$p" ADD "$mode"
        nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __add "$p" "$mode" >"$SPB_WORK/sanity-$p.json" ||
            die "$mode $p ADD failed (sanity run)"
        if [[ $mode == chain ]]; then
            ip -n "$SPB_POD" -4 -o addr show dev net1 | grep -q "inet 10.6.1." ||
                die "macvlan+$p ADD left no 10.6.1.x address on net1: $(cat "$SPB_WORK/sanity-$p.json")"
        else
            jq -e '.ips[0].address | startswith("10.6.1.")' "$SPB_WORK/sanity-$p.json" >/dev/null ||
                die "$p ADD returned no 10.6.1.x address: $(cat "$SPB_WORK/sanity-$p.json")"
        fi
        nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __prepare "$p" CHECK "$mode"
        nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __check "$p" "$mode" >"$SPB_WORK/sanity-check-$p.out" 2>&1 ||
            die "$mode $p CHECK failed (sanity run): $(cat "$SPB_WORK/sanity-check-$p.out")"
        nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __reset "$p"
    done
done

# label MODE P -> how the tables name a chain or a plugin alone.
label() { if [[ $1 == chain ]]; then echo "macvlan + $2"; else echo "$2 alone"; fi; }

for round in $(seq 1 "$ROUNDS"); do
    for mode in chain alone; do
        part "$mode" || continue
        for command in ADD DEL CHECK; do
            # The harness: what every timed command runs besides the plugin.
            if [[ $mode == alone ]]; then
                echo "== round $round: harness $command" >&2
                time_in_node "harness $command" "$SPB_WORK/$mode-harness-$command-round$round.json" \
                    "$SELF __prepare host-local $command $mode" "$SELF __reset host-local" \
                    "$(timed "$command" "$NOOP" "$(conf_for host-local "$command")")" "${HF_ARGS[@]}"
            fi
            for p in spiderpool host-local; do
                json="$SPB_WORK/$mode-$p-$command-round$round.json"
                echo "== round $round: $(label "$mode" "$p") $command" >&2
                time_in_node "$(label "$mode" "$p") $command" "$json" \
                    "$SELF __prepare $p $command $mode" "$SELF __reset $p" \
                    "$(timed "$command" "$(runner "$p" "$mode")" "$(conf_for "$p" "$command")")" "${HF_ARGS[@]}"
            done
        done
    done
done
nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __reset spiderpool
nsenter --net="/var/run/netns/$SPB_NODE" "$SELF" __reset host-local

# --- (2) concurrent IPAM-only ADDs
# conc_round PLUGIN ROUND -> "wall_seconds failed_adds duplicates"; dies on duplicates.
ip netns add "$SPB_POD"
conc_round() {
    local p=$1 round=$2 dir="$SPB_WORK/conc-$1-$2" i start end
    mkdir -p "$dir"
    # An IPAM plugin reads the whole network config (its keys are under `ipam`).
    cp "$SPB_WORK/macvlan-$p.json" "$dir/conf.json"
    local plugin=$BIN/spiderpool
    [[ $p == host-local ]] && plugin=$CNI_DIR/host-local
    local pids=()
    start=$(date +%s.%N)
    for i in $(seq 1 "$CONC"); do
        cni "$plugin" ADD "c$round-$i-$SPB_TAG" "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p$round-$i;K8S_POD_UID=uid-$round-$i-$SPB_TAG" \
            <"$dir/conf.json" >"$dir/add-$i.json" 2>"$dir/add-$i.err" &
        pids+=($!)
    done
    local failed=0 pid
    for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
    end=$(date +%s.%N)
    # A failed ADD is reported (count and first message), not fatal: the figure
    # must show it. Duplicates among the successful ADDs are fatal.
    if [[ $failed != 0 ]]; then
        echo "   $p round $round: $failed of $CONC ADDs failed, e.g. $(cat "$dir"/add-*.json "$dir"/add-*.err |
            grep -m1 -i '"msg"')" >&2
    fi
    jq -r '.ips[]?.address' "$dir"/add-*.json 2>/dev/null | sort >"$dir/addresses"
    local total dup
    total=$(wc -l <"$dir/addresses")
    dup=$(uniq -d "$dir/addresses" | wc -l)
    [[ $total == $((CONC - failed)) ]] || die "$p round $round: $total addresses for $((CONC - failed)) successful ADDs"
    [[ $dup == 0 ]] || die "$p round $round: $dup duplicate addresses: $(uniq -d "$dir/addresses" | head)"
    # Release everything (not timed) so the next round starts from an empty pool.
    for i in $(seq 1 "$CONC"); do
        cni "$plugin" DEL "c$round-$i-$SPB_TAG" "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p$round-$i;K8S_POD_UID=uid-$round-$i-$SPB_TAG" \
            <"$dir/conf.json" >/dev/null 2>&1 &
        if ((i % 20 == 0)); then wait; fi
    done
    wait
    awk -v a="$start" -v b="$end" -v f="$failed" -v d="$dup" 'BEGIN { printf "%.3f %d %d", b - a, f, d }' 
}
declare -A CONC_TIMES CONC_FAILED
part conc || CONC_ROUNDS=0
for round in $(seq 1 "$CONC_ROUNDS"); do
    for p in spiderpool host-local; do
        echo "== concurrent round $round: $CONC x $p ADD" >&2
        read -r t failed dup < <(conc_round "$p" "$round") || true
        [[ -n ${t:-} ]] || die "concurrent round $round of $p did not finish (see above)"
        CONC_TIMES[$p]+="$t "
        CONC_FAILED[$p]+="$failed "
        printf '   %.3f s, %d ADDs failed, %d distinct addresses, %d duplicates\n' \
            "$t" "$failed" "$((CONC - failed))" "$dup" >&2
    done
done

for mode in chain alone; do
    part "$mode" || continue
    echo
    if [[ $mode == chain ]]; then
        echo "(1) macvlan + IPAM, whole process, ADD, DEL and CHECK timed separately;"
    else
        echo "(1b) the IPAM plugin alone, whole process, ADD, DEL and CHECK timed separately;"
    fi
    echo "    $ROUNDS rounds x $RUNS runs (+ $WARMUP warm-up) per plugin and command, $HARNESS harness; times in ms"
    echo
    echo "| command | what runs | median | mean ± σ | min | max |"
    echo "|---|---|---|---|---|---|"
    declare -A MEDIAN=()
    for command in ADD DEL CHECK; do
        for p in spiderpool host-local; do
            read -r med mean sd min max < <(stats "$mode-$p-$command")
            MEDIAN[$p-$command]=$med
            printf '| %s | %s | %.2f | %.2f ± %.2f | %.2f | %.2f |\n' \
                "$command" "$(label "$mode" "$p")" "$med" "$mean" "$sd" "$min" "$max"
        done
    done
    echo
    for command in ADD DEL CHECK; do
        ratio=$(jq -n --argjson a "${MEDIAN[spiderpool-$command]}" --argjson b "${MEDIAN[host-local-$command]}" '$a / $b')
        printf '%s %s ratio (spiderpool median / host-local median): %.2f\n' "$mode" "$command" "$ratio"
    done
    [[ $mode == alone ]] || continue
    echo
    echo "    net of the harness ($NOOP; each median minus the harness median of the same command):"
    echo
    echo "| command | harness median | spiderpool net | host-local net | net ratio |"
    echo "|---|---|---|---|---|"
    for command in ADD DEL CHECK; do
        read -r h _ < <(stats "$mode-harness-$command")
        jq -rn --argjson h "$h" --argjson a "${MEDIAN[spiderpool-$command]}" \
            --argjson b "${MEDIAN[host-local-$command]}" --arg c "$command" \
            '"| \($c) | \($h * 100 | round / 100) | \(($a - $h) * 100 | round / 100) | \(($b - $h) * 100 | round / 100) | \((($a - $h) / ($b - $h)) * 100 | round / 100) |"'
    done
done
part conc || exit 0
echo
echo "(2) $CONC concurrent IPAM-only ADDs on one pool/range, wall time per round (s); 0 duplicates in every round"
echo "    (a duplicate stops the script); failed ADDs per round listed"
echo
echo "| IPAM | wall time per round (s) | median (s) | failed ADDs per round |"
echo "|---|---|---|---|"
for p in spiderpool host-local; do
    med=$(tr ' ' '\n' <<<"${CONC_TIMES[$p]}" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
    printf '| %s | %s| %.3f | %s|\n' "$p" "${CONC_TIMES[$p]}" "$med" "${CONC_FAILED[$p]}"
done
