# shellcheck shell=bash
# shellcheck disable=SC2317  # small predicates defined inside a check, run through poll
# The checks of scripts/cluster-e2e.sh (sourced by it; uses its k, helm_, in_node, poll, say).
# Each check prints `PASS ...` or `FAIL ...`; the run fails when one fails.

PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
# check WHAT CMD...: PASS when CMD succeeds, else FAIL with its output.
check() {
  local what=$1 out; shift
  if out=$("$@" 2>&1); then pass "$what"; else fail "$what"; printf '%s\n' "$out" | tail -15 | sed 's/^/     /'; fi
}

# The seed's objects (scripts/quickstart/resources.yaml): one document by kind.
seed_doc() {
  python3 - "$1" <<'PY'
import sys
docs = open("scripts/quickstart/resources.yaml").read().split("\n---\n")
print([d for d in docs if f"kind: {sys.argv[1]}\n" in d][0])
PY
}

helm_values() {
  cat > "$W/values.yaml" <<YAML
# The one-node macvlan-only shape (charts/spiderpool/ci/macvlan-ipv4-values.yaml) with
# SpiderMultusConfig, metrics, and the node's private paths.
global:
  cniBinHostPath: $W/node/cni-bin
  cniConfHostPath: $W/node/cni-conf
  agentDataHostPath: $W/node/data
ipam:
  enableIPv6: false
  spiderSubnet:
    enable: false
coordinator:
  mode: underlay
  podCIDRType: none
spiderpoolAgent:
  image: {pullPolicy: Never}
  prometheus: {enabled: true}
spiderpoolController:
  replicas: 1
  image: {pullPolicy: Never}
  prometheus: {enabled: true}
YAML
}

check_install() {
  local t0
  t0=$(now)
  helm_values
  check "helm install $RELEASE (agent, controller, init Job)" \
    helm_ install "$RELEASE" "$ROOT/charts/spiderpool" -n "$RELEASE_NS" -f "$W/values.yaml" --wait --timeout 240s
  check "agent DaemonSet Ready" k -n "$RELEASE_NS" rollout status ds/spiderpool-agent --timeout=120s
  check "controller Deployment Ready" k -n "$RELEASE_NS" rollout status deploy/spiderpool-controller --timeout=120s
  coordinator_synced() { [ "$(k get spidercoordinator default -o 'jsonpath={.status.phase}')" = Synced ]; }
  check "SpiderCoordinator default Synced (service CIDR $SERVICE_CIDR)" poll 60 coordinator_synced
  say "installed and Ready in $(since "$t0") s"
}

in_range() {
  local ip=$1 last
  [[ $ip =~ ^10\.6\.212\.([0-9]+)$ ]] || return 1
  last=${BASH_REMATCH[1]}
  [ "$last" -ge 200 ] && [ "$last" -le 240 ]
}

web_pods() { k get pods -n default -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}'; }

check_pods() {
  seed_doc SpiderIPPool > "$W/pool.yaml"
  check "kubectl apply the seed's SpiderIPPool 10-6-v4" k apply -f "$W/pool.yaml"
  check "kubectl create deployment web (2 busybox httpd pods)" k create deployment web -n default \
    --image="$BUSYBOX_IMAGE" --replicas=2 -- sh -c 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'
  check "both pods Running" k -n default rollout status deploy/web --timeout=180s
  local name ip n=0
  while read -r name ip; do
    [ -n "$name" ] || continue
    n=$((n + 1))
    if in_range "$ip"; then pass "pod $name has $ip (10.6.212.200-240)"; else fail "pod $name has '$ip', not in 10.6.212.200-240"; fi
    check "the agent announced $ip (the plugin handed it over on the announce socket)" poll 20 agent_announced "$ip"
  done < <(web_pods)
  [ "$n" = 2 ] || fail "expected 2 web pods, found $n"
}

# agent_announced IP: the agent's log has its `announced` line for IP.
agent_announced() {
  k -n "$RELEASE_NS" logs ds/spiderpool-agent -c spiderpool-agent | grep 'announced' | grep -qF "$1"
}

check_endpoints() {
  local out head want="NAME INTERFACE IPV4POOL IPV4 IPV6POOL IPV6 NODE" name ip
  out=$(k get se -n default 2>&1) || true
  printf '%s\n' "$out"
  head=$(head -1 <<<"$out" | tr -s ' ')
  if [ "$head" = "$want" ]; then pass "kubectl get se: the seed's columns"; else fail "kubectl get se columns: '$head', want '$want'"; fi
  while read -r name ip; do
    [ -n "$name" ] || continue
    if tr -s ' ' <<<"$out" | sed 's/ $//' | grep -qxF "$name eth0 10-6-v4 $ip/16 $NODE"; then
      pass "kubectl get se: $name eth0 10-6-v4 $ip/16 $NODE"
    else fail "kubectl get se: no row '$name eth0 10-6-v4 $ip/16 ... $NODE'"; fi
  done < <(web_pods)
}

route_via_veth0() { k exec -n default "$1" -- ip route get "$2" | grep -q 'dev veth0'; }

# busybox's static wget crashes without NSS (glibc): HTTP by hand through nc.
http_from_pod() {
  k exec -n default "$1" -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 80" | tail -1 | grep -q '^web-'
}

http_from_outside() {
  ip netns exec "$NS_OUT" bash -c "exec 3<>/dev/tcp/$1/80 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3" | grep -q "$2"
}

check_traffic() {
  local name ip cip
  while read -r name ip; do
    [ -n "$name" ] || continue
    check "outside $OUTSIDE_IP -> $name $ip:80 (HTTP over the underlay)" poll 20 http_from_outside "$ip" "$name"
  done < <(web_pods)
  check "kubectl expose deployment web (ClusterIP)" k expose deployment web -n default --port=80
  cip=$(k get service web -n default -o 'jsonpath={.spec.clusterIP}')
  while read -r name ip; do
    [ -n "$name" ] || continue
    check "pod $name routes ClusterIP $cip through veth0" route_via_veth0 "$name" "$cip"
    check "pod $name -> service web $cip:80 (kube-proxy) answers from a web pod" poll 20 http_from_pod "$name" "$cip"
  done < <(web_pods)
}

denied_reviews() {
  scrape 5721 "$W/metrics-now.txt" &&
    awk '/^spiderpool_controller_webhook_requests_total\{/ && /hook="validate"/ && /result="denied"/ {n += $NF} END {print n + 0}' "$W/metrics-now.txt"
}

# An invalid pool is refused by the validating webhook: the reason is one only the webhook
# checks (the CRD schema knows nothing of subnets), and the controller counts the denial.
check_webhook() {
  local out before after
  before=$(denied_reviews) || before=""
  if out=$(k apply -f - 2>&1 <<'YAML'
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata: {name: e2e-invalid}
spec:
  subnet: 10.6.0.0/16
  ips: [10.7.0.10-10.7.0.20]
YAML
  ); then
    fail "an invalid SpiderIPPool (ips outside its subnet) was accepted"
    k delete spiderippool e2e-invalid > /dev/null 2>&1 || true
    return
  fi
  after=$(denied_reviews) || after=""
  if grep -q 'not in subnet' <<<"$out" && [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ]; then
    pass "the webhook refuses an invalid SpiderIPPool ($(tail -1 <<<"$out" | cut -c1-140); denied reviews $before -> $after)"
  else fail "invalid SpiderIPPool refused, but not by the webhook (denied reviews $before -> $after): $out"; fi
}

nad_rendered() {
  k get network-attachment-definitions.k8s.cni.cncf.io macvlan-ens192 -n default -o 'jsonpath={.spec.config}' |
    python3 -c 'import json,sys; c=json.load(sys.stdin); p=c["plugins"]; assert p[0]["type"]=="macvlan" and p[0]["master"]=="ens192", c'
}

check_nad() {
  check "NAD CRD installed" k apply -f "$ROOT/spiderpool-k8s/testdata/k8s.cni.cncf.io_network-attachment-definitions.yaml"
  k wait --for condition=established --timeout=30s crd/network-attachment-definitions.k8s.cni.cncf.io > /dev/null 2>&1 || true
  seed_doc SpiderMultusConfig > "$W/smc.yaml"
  check "kubectl apply the seed's SpiderMultusConfig macvlan-ens192" k apply -f "$W/smc.yaml"
  check "the controller renders NAD default/macvlan-ens192 (macvlan on ens192)" poll 60 nad_rendered
}

pool_empty() { [ "$(k get spiderippool 10-6-v4 -o 'jsonpath={.status.allocatedIPCount}')" = 0 ]; }
no_web_pods() { [ -z "$(web_pods)" ]; }

check_scale_down() {
  check "scale deployment web to 0" k scale deployment web -n default --replicas=0
  check "the pods are gone" poll 90 no_web_pods
  check "pool 10-6-v4 allocatedIPCount back to 0" poll 60 pool_empty
  if [ -z "$(k get se -n default -o name 2>/dev/null)" ]; then pass "no SpiderEndpoint left"; else fail "SpiderEndpoints left: $(k get se -n default -o name)"; fi
}

# Every kind the chart renders (helm template), by label of the release.
release_leftovers() {
  k get daemonsets,deployments,jobs,services,configmaps,secrets,serviceaccounts,roles,rolebindings -A \
    -l "app.kubernetes.io/instance=$RELEASE" -o name 2>&1
  k get clusterroles,clusterrolebindings,validatingwebhookconfigurations,mutatingwebhookconfigurations \
    -l "app.kubernetes.io/instance=$RELEASE" -o name 2>&1
  k get validatingwebhookconfigurations,mutatingwebhookconfigurations -o name 2>&1 | grep spiderpool || true
  k get pods -n "$RELEASE_NS" -o name 2>&1 | grep spiderpool || true
}

cni_version() { echo '{}' | CNI_COMMAND=VERSION "$W/node/cni-bin/$1" | grep -q cniVersion; }

check_uninstall() {
  check "helm uninstall $RELEASE" helm_ uninstall "$RELEASE" -n "$RELEASE_NS" --wait --timeout 120s
  local left
  release_gone() { [ -z "$(release_leftovers)" ]; }
  poll 60 release_gone || true
  left=$(release_leftovers)
  if [ -z "$left" ]; then pass "helm uninstall left no object of the release (webhook configurations included)"
  else fail "left after helm uninstall:"; printf '     %s\n' "$left"; fi
  check "the node's spiderpool plugin still runs (CNI VERSION)" cni_version spiderpool
  check "the node's coordinator plugin still runs (CNI VERSION)" cni_version coordinator
  if k apply -f - > /dev/null 2>&1 <<'YAML'
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata: {name: e2e-after-uninstall}
spec: {subnet: 10.8.0.0/16, ips: [10.8.0.10]}
YAML
  then pass "no webhook left in the way: SpiderIPPools can still be written"; k delete spiderippool e2e-after-uninstall > /dev/null 2>&1 || true
  else fail "writing a SpiderIPPool after uninstall failed (a webhook left behind?)"; fi
}

checks() {
  check_install
  check_pods
  check_endpoints
  check_traffic
  check_metrics
  check_webhook
  check_nad
  check_scale_down
  if [ "$KEEP" = 1 ]; then
    say "--keep: the release stays installed; deployment web back to 2 replicas"
    check "scale deployment web back to 2 (--keep)" k scale deployment web -n default --replicas=2
    check "both pods Running again" k -n default rollout status deploy/web --timeout=180s
  else
    check_uninstall
  fi
}

# /metrics of the running agent and controller (both in the node's network, ports of the
# chart's defaults), and every metric charts/spiderpool/dashboards/spiderpool.json queries
# among them. Taken while the pods and the pool exist, so the per-pool and per-review series
# have been created.
scrape() { nsenter --net="/run/netns/$NS_NODE" -- curl -fsS --max-time 5 "http://$NODE_IP:$1/metrics" > "$2"; }

check_metrics() {
  check "scrape the agent's /metrics ($NODE_IP:5711)" scrape 5711 "$W/metrics-agent.txt"
  check "scrape the controller's /metrics ($NODE_IP:5721)" scrape 5721 "$W/metrics-controller.txt"
  check "every metric the Grafana dashboard queries is exported by the running agent or controller" \
    python3 "$ROOT/scripts/dashboard-metrics.py" "$ROOT/charts/spiderpool/dashboards/spiderpool.json" \
    "$W/metrics-agent.txt" "$W/metrics-controller.txt"
}
