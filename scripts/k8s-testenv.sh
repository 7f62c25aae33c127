#!/usr/bin/env bash
# shellcheck disable=SC2317  # many functions only run through traps, poll and wait_for
# A real Kubernetes control plane (v1.20.2) for tests, built from Debian's archive.
#
#   scripts/k8s-testenv.sh build          build/fetch the binaries into the cache (once)
#   scripts/k8s-testenv.sh up DIR         etcd + kube-apiserver + kube-controller-manager on
#                                         127.0.0.1; writes DIR/kubeconfig and DIR/bin/kubectl
#   scripts/k8s-testenv.sh down DIR       stop what `up` started, remove DIR (idempotent)
#   scripts/k8s-testenv.sh status DIR     show processes, ports, health; exit 0 when healthy
#   scripts/k8s-testenv.sh env DIR        print `export KUBECONFIG=...` lines (eval them)
#   scripts/k8s-testenv.sh selftest DIR   check the running control plane end to end
#   scripts/k8s-testenv.sh apt-uri        print the Debian archive URI the build fetches from
#                                         (scripts/cluster-e2e.sh fetches containerd the same way)
#   scripts/k8s-testenv.sh restart-apiserver DIR [SECONDS]
#                                         stop kube-apiserver, keep it down SECONDS (default 0),
#                                         start it again; returns when /readyz answers
#
# See docs/k8s-testenv.md. Everything listens on 127.0.0.1 only; nothing it starts talks to
# any other address. Needs root for `build` (apt, /var/cache) and on a fresh machine for the
# package installs; `up`/`down` only need a built cache and a writable DIR.
#
# Environment:
#   SPIDERPOOL_K8S_CACHE        cache root (default /var/cache/spiderpool-rs); binaries go to
#                               $SPIDERPOOL_K8S_CACHE/k8s-v1.20.2/bin, the Go work dir to .../work
#   SPIDERPOOL_K8S_KEEP_WORK=1  keep the work dir (sources, GOCACHE) after a successful build
#   SPIDERPOOL_K8S_APT_URI      Debian archive URI (default: the first one in this machine's
#                               apt sources)
#   SPIDERPOOL_K8S_DEB_VERSION  version of Debian's `kubernetes` source package to build
#   SPIDERPOOL_K8S_STOP_TIMEOUT seconds `down` waits after SIGTERM before SIGKILL (default 15)
#   SPIDERPOOL_K8S_UP_TIMEOUT   seconds `up` waits for each component (default 120)
set -euo pipefail

readonly K8S_VERSION=1.20.2
readonly DEB_VERSION=${SPIDERPOOL_K8S_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}
# Kubernetes 1.20 is built with Go 1.15 (a Go >= 1.16 build crashes on custom-resource writes).
readonly GO_SUITE=bullseye GO_PKGS=(golang-1.15-go golang-1.15-src) GO_DIR=usr/lib/go-1.15
readonly K8S_SUITE=bookworm ETCD_PKG=etcd-server ETCD_SERIES=3.4.
readonly KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
readonly BINARIES=(etcd "${KUBE_CMDS[@]}")
readonly CACHE_ROOT=${SPIDERPOOL_K8S_CACHE:-/var/cache/spiderpool-rs}
readonly CACHE=$CACHE_ROOT/k8s-v$K8S_VERSION
readonly BIN=$CACHE/bin WORK=$CACHE/work
readonly STOP_TIMEOUT=${SPIDERPOOL_K8S_STOP_TIMEOUT:-15}
readonly UP_TIMEOUT=${SPIDERPOOL_K8S_UP_TIMEOUT:-120}
# Services only exist as API objects here (no kube-proxy in `up`); first address is the
# `kubernetes` service's ClusterIP.
readonly SERVICE_CIDR=10.96.0.0/12 SERVICE_IP=10.96.0.1
# Components `up` starts, in start order (`down` stops them in reverse).
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager)
readonly MARKER=.spiderpool-k8s-testenv

# Never let a proxy setting send loopback traffic elsewhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

say() { printf 'k8s-testenv: %s\n' "$*" >&2; }
die() { printf 'k8s-testenv: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

usage() { sed -n '/^# A real Kubernetes/,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------- packages

# Install missing Debian packages (root only); quiet when everything is there.
ensure_pkgs() {
  local need=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ "${#need[@]}" -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing packages: ${need[*]} (run as root or install them)"
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# The Debian archive URI from this machine's own apt sources (deb822 or one-line format),
# skipping the security archive. Nothing in this script names a host.
apt_uri() {
  if [ -n "${SPIDERPOOL_K8S_APT_URI:-}" ]; then echo "$SPIDERPOOL_K8S_APT_URI"; return; fi
  local uri='' f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk 'BEGIN{RS=""}
      { types=""; uris=""; suites=""; enabled="yes"
        n=split($0, L, "\n")
        for (i=1; i<=n; i++) {
          if (L[i] ~ /^Types:/)   { types=L[i] }
          if (L[i] ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", L[i]); uris=L[i] }
          if (L[i] ~ /^Suites:/)  { suites=L[i] }
          if (L[i] ~ /^Enabled:[ \t]*no/) { enabled="no" }
        }
        split(uris, U, /[ \t]+/)
        if (enabled=="yes" && types ~ /(^|[ \t:])deb([ \t]|$)/ && suites !~ /-security/ && U[1] != "") { print U[1]; exit }
      }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -E 's/\[[^]]*\]//' | awk '$1=="deb" && $3 !~ /-security/ {print $2; exit}')
  fi
  [ -n "$uri" ] || die "no Debian archive found in /etc/apt/sources* (set SPIDERPOOL_K8S_APT_URI)"
  echo "${uri%/}"
}

# ---------------------------------------------------------------- binaries

# bin_ok DIR NAME: the binary exists and reports the expected version.
bin_ok() {
  local d=$1 n=$2 out
  [ -x "$d/$n" ] || return 1
  case $n in
    etcd) out=$("$d/etcd" --version 2>/dev/null) || return 1
          grep -q "^etcd Version: ${ETCD_SERIES//./\\.}" <<<"$out" ;;
    kubectl) out=$("$d/kubectl" version --client --short 2>/dev/null) || return 1
             grep -qx "Client Version: v$K8S_VERSION" <<<"$out" ;;
    *) out=$("$d/$n" --version 2>/dev/null) || return 1
       grep -qx "Kubernetes v$K8S_VERSION" <<<"$out" ;;
  esac
}

cache_ok() {
  local n
  for n in "${BINARIES[@]}"; do bin_ok "$1" "$n" || return 1; done
}

cmd_build() {
  if cache_ok "$BIN"; then say "binaries cached in $BIN"; return 0; fi
  [ "$(id -u)" = 0 ] || die "build needs root (apt-get, dpkg -x)"
  ensure_pkgs ca-certificates curl openssl
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.build.lock"
  if ! flock -n 8; then
    say "another build holds $CACHE/.build.lock; waiting"
    flock 8
  fi
  if cache_ok "$BIN"; then say "binaries cached in $BIN (built meanwhile)"; return 0; fi
  local t0 tmp
  t0=$(now)
  rm -rf "$CACHE"/bin.tmp.* "$CACHE"/bin.old.*
  tmp=$CACHE/bin.tmp.$$
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  build_into "$tmp"
  local n t
  t=$(now)
  for n in "${BINARIES[@]}"; do
    bin_ok "$tmp" "$n" || die "built $n does not report the expected version"
  done
  say "all binaries report their versions ($(since "$t") s)"
  # Atomic: the cache's bin/ only ever appears complete.
  if [ -e "$BIN" ]; then mv "$BIN" "$CACHE/bin.old.$$"; fi
  mv "$tmp" "$BIN"
  rm -rf "$CACHE/bin.old.$$"
  trap - EXIT
  if [ "${SPIDERPOOL_K8S_KEEP_WORK:-0}" != 1 ]; then
    t=$(now)
    rm -rf "$WORK"
    say "removed the work dir $WORK ($(since "$t") s)"
  fi
  say "built ${BINARIES[*]} into $BIN in $(since "$t0") s"
  "$BIN/kube-apiserver" --version >&2
  "$BIN/etcd" --version | head -1 >&2
}

# build_into OUT: fetch with a private apt configuration, build with Go 1.15 in GOPATH mode.
build_into() {
  local out=$1 uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg signed=''
  local W=$WORK log=$WORK/build.log
  uri=$(apt_uri)
  [ -r "$keyring" ] && signed="[signed-by=$keyring] "
  # Keep downloads, apt lists and GOCACHE across an interrupted build; sources are re-extracted.
  mkdir -p "$W"/apt/lists/partial "$W"/apt/cache/archives/partial "$W"/apt/sources.list.d \
           "$W"/apt/preferences.d "$W"/dl "$W"/gocache
  rm -rf "${W:?}"/root "${W:?}"/gopath "${W:?}"/bin "${W:?}"/tmp
  mkdir -p "$W/tmp"
  : > "$log"
  cat > "$W/apt/sources.list" <<EOF
deb ${signed}$uri $GO_SUITE main
deb ${signed}$uri $K8S_SUITE main
deb-src ${signed}$uri $K8S_SUITE main
EOF
  local apt=(apt-get -q -o "Dir::Etc::SourceList=$W/apt/sources.list"
    -o "Dir::Etc::SourceParts=$W/apt/sources.list.d" -o "Dir::Etc::PreferencesParts=$W/apt/preferences.d"
    -o "Dir::Etc::Preferences=$W/apt/preferences" -o "Dir::State::Lists=$W/apt/lists"
    -o "Dir::Cache=$W/apt/cache" -o Acquire::Languages=none)
  # apt drops to the _apt user for downloads; let it write our private dirs.
  if id _apt >/dev/null 2>&1; then chown -R _apt:root "$W/apt/lists/partial" "$W/apt/cache/archives/partial" "$W/dl"; fi

  local t
  t=$(now); say "apt (private config, $GO_SUITE + $K8S_SUITE): update"
  "${apt[@]}" update >>"$log" 2>&1 || { tail -20 "$log" >&2; die "private apt-get update failed (log: $log)"; }
  say "apt: download ${GO_PKGS[*]} ($GO_SUITE), $ETCD_PKG ($K8S_SUITE), source kubernetes=$DEB_VERSION"
  local p pkgs=()
  for p in "${GO_PKGS[@]}"; do pkgs+=("$p/$GO_SUITE"); done
  ( cd "$W/dl" && rm -f ./*.deb && "${apt[@]}" download "${pkgs[@]}" "$ETCD_PKG/$K8S_SUITE" ) >>"$log" 2>&1 ||
    { tail -20 "$log" >&2; die "apt-get download failed (log: $log)"; }
  # The source is kept from an interrupted build only if it is the wanted version.
  if [ ! -f "$W/dl/kubernetes_$DEB_VERSION.dsc" ] || ! ls "$W"/dl/kubernetes_*.orig.tar.* >/dev/null 2>&1; then
    rm -f "$W"/dl/kubernetes_*
    ( cd "$W/dl" && "${apt[@]}" source --download-only "kubernetes=$DEB_VERSION" ) >>"$log" 2>&1 ||
      { tail -20 "$log" >&2; die "apt-get source kubernetes=$DEB_VERSION failed (log: $log; is that version still in $K8S_SUITE? set SPIDERPOOL_K8S_DEB_VERSION)"; }
  fi
  say "apt: done in $(since "$t") s"

  t=$(now); say "unpacking Go 1.15, etcd and the Kubernetes source"
  mkdir -p "$W/root"
  for p in "$W"/dl/*.deb; do dpkg -x "$p" "$W/root"; done
  [ -x "$W/root/$GO_DIR/bin/go" ] || die "no go in $W/root/$GO_DIR"
  [ -x "$W/root/usr/bin/etcd" ] || die "no etcd in the $ETCD_PKG package"
  local src=$W/gopath/src/k8s.io/kubernetes
  mkdir -p "$src"
  # The Debian source package's .orig holds the upstream tree with vendor/ (Debian's patches
  # are not applied: these are test binaries of upstream v1.20.2).
  local orig
  orig=$(find "$W/dl" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -1)
  tar -xf "$orig" -C "$src" --strip-components=1
  [ -f "$src/cmd/kube-apiserver/apiserver.go" ] || die "unexpected layout of the kubernetes source"
  say "unpacked in $(since "$t") s"

  # GOTMPDIR: the go command's temporary build dirs stay in the work dir too (a killed build
  # would otherwise leave them in /tmp).
  export GOROOT=$W/root/$GO_DIR GOPATH=$W/gopath GOCACHE=$W/gocache GOTMPDIR=$W/tmp GO111MODULE=off \
         CGO_ENABLED=0 GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local
  export PATH=$GOROOT/bin:$PATH
  "$GOROOT/bin/go" version >&2
  cd "$src"

  t=$(now); say "generating pkg/generated/openapi with the vendored openapi-gen"
  mkdir -p "$W/bin"
  go build -o "$W/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen >>"$log" 2>&1 ||
    { tail -30 "$log" >&2; die "building openapi-gen failed"; }
  # Every package tagged for openapi-gen (vendor/k8s.io/* link to staging/; follow them).
  local dirs
  dirs=$(find -L . \( -path ./_output -o -path ./.git -o -path ./docs -o -path ./test \
           -o -path ./third_party -o -path ./staging \) -prune -o -name '*.go' -print |
    grep -v -E '^\./vendor/k8s\.io/(code-generator|sample-apiserver)/' |
    { xargs grep -l -- '+k8s:openapi-gen=' || true; } |
    xargs -n1 dirname | sort -u | sed 's#^\./#k8s.io/kubernetes/#' | paste -sd,)
  [ -n "$dirs" ] || die "found no packages tagged for openapi-gen"
  "$W/bin/openapi-gen" -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi -h hack/boilerplate/boilerplate.generatego.txt \
    -r "$W/api-rules-violations.report" >>"$log" 2>&1 ||
    { tail -30 "$log" >&2; die "openapi-gen failed"; }
  [ -s pkg/generated/openapi/zz_generated.openapi.go ] || die "openapi-gen wrote nothing"
  say "openapi generated in $(since "$t") s"

  t=$(now); say "go build ${KUBE_CMDS[*]} (GOPATH mode, CGO_ENABLED=0; several minutes)"
  local v=k8s.io/kubernetes/vendor/k8s.io/component-base/version
  local c=k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version
  local ldf="-s -w" x
  for x in "$v" "$c"; do
    ldf+=" -X $x.gitVersion=v$K8S_VERSION -X $x.gitMajor=1 -X $x.gitMinor=20 -X $x.gitTreeState=archive"
  done
  local pkgs_go=()
  for p in "${KUBE_CMDS[@]}"; do pkgs_go+=("./cmd/$p"); done
  go build -ldflags "$ldf" -o "$out/" "${pkgs_go[@]}" >>"$log" 2>&1 ||
    { tail -40 "$log" >&2; die "go build failed (log: $log)"; }
  say "go build in $(since "$t") s"
  cp "$W/root/usr/bin/etcd" "$out/etcd"
  {
    echo "kubernetes v$K8S_VERSION from Debian source package kubernetes $DEB_VERSION ($K8S_SUITE)"
    echo "built with $("$GOROOT/bin/go" version) from ${GO_PKGS[*]} ($GO_SUITE), GOPATH mode, CGO_ENABLED=0"
    echo "etcd from $(cd "$W/dl" && ls ${ETCD_PKG}_*.deb)"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } > "$out/BUILD-INFO"
  cd /
}

ensure_built() {
  cache_ok "$BIN" && return 0
  say "no usable binaries in $BIN: building them first (one-off, several minutes)"
  ( cmd_build )
  cache_ok "$BIN" || die "build did not produce usable binaries in $BIN"
}

# ---------------------------------------------------------------- processes

# pid_of DIR NAME: the pid in DIR/NAME.pid if that process is still the one `up` started
# (its argv[0] is our binary and its command line names DIR; pids are reused).
pid_of() {
  local d=$1 n=$2 pid cmd
  [ -f "$d/$n.pid" ] || return 1
  pid=$(cat "$d/$n.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  # a zombie is gone already
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  cmd=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
  [ "$(basename -- "$(head -1 <<<"$cmd")")" = "$n" ] || return 1
  grep -qF -- "$d/" <<<"$cmd" || return 1
  if [ -f "$d/$n.start" ]; then
    [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$(cat "$d/$n.start")" ] || return 1
  fi
  echo "$pid"
}

# stop_one DIR NAME: SIGTERM, wait, SIGKILL. Fails only if the process survives SIGKILL.
stop_one() {
  local d=$1 n=$2 pid i
  if pid=$(pid_of "$d" "$n"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      pid_of "$d" "$n" >/dev/null || break
      sleep 0.1
    done
    if pid_of "$d" "$n" >/dev/null; then
      say "$n (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do pid_of "$d" "$n" >/dev/null || break; sleep 0.1; done
      if pid_of "$d" "$n" >/dev/null; then say "$n (pid $pid) survives SIGKILL"; return 1; fi
    fi
  fi
  rm -f "$d/$n.pid" "$d/$n.start"
}

stop_all() {
  local d=$1 i rc=0
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_one "$d" "${COMPONENTS[i]}" || rc=1; done
  return $rc
}

# start NAME ARGS...: start detached (own session, stdin closed, the script's saved stdout/stderr
# (fds 6, 7) and lock (fd 9) not inherited — a caller piping `up` into `tail` must see EOF —, a clean environment: no proxy,
# KUBECONFIG, ETCD_* or GO* settings of the caller leak in), log to DIR/logs/NAME.log.
start() {
  local n=$1; shift
  setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "${PROC_ENV[@]}" "$BIN/$n" "$@" \
    </dev/null >"$D/logs/$n.log" 2>&1 6>&- 7>&- 9>&- &
  local pid=$!
  echo "$pid" > "$D/$n.pid"
  local i
  for ((i = 0; i < 20; i++)); do
    [ -r "/proc/$pid/stat" ] && [ "$(tr '\0' '\n' < "/proc/$pid/cmdline" | head -1)" = "$BIN/$n" ] && break
    sleep 0.05
  done
  awk '{print $22}' "/proc/$pid/stat" > "$D/$n.start" 2>/dev/null || true
  STARTED+=("$n")
}

# log_tail FAILED OTHERS...: a long tail of the component that failed, a short one of the rest.
log_tail() {
  local failed=$1 n lines
  shift
  for n in "$failed" "$@"; do
    if [ -z "$n" ] || [ ! -s "$D/logs/$n.log" ]; then continue; fi
    if [ "$n" = "$failed" ]; then lines=40; else lines=8; fi
    printf -- '----- last %d lines of %s -----\n' "$lines" "$D/logs/$n.log" >&2
    tail -n "$lines" "$D/logs/$n.log" >&2
  done
}

# wait_for WHAT NAME CMD...: poll CMD until it succeeds; fail if NAME's process died or on timeout.
wait_for() {
  local what=$1 n=$2; shift 2
  local deadline=$((SECONDS + UP_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    pid_of "$D" "$n" >/dev/null || { FAILED=$n; die "$n exited while waiting for $what"; }
    sleep 0.2
  done
  FAILED=$n
  die "timed out after ${UP_TIMEOUT}s waiting for $what"
}

# ---------------------------------------------------------------- ports

# A port nothing on this machine uses now (any TCP socket, v4 or v6), below the ephemeral range
# so outgoing connections never take it, and not one chosen in this run already.
port_used() {
  local hex
  hex=$(printf ':%04X ' "$1")
  grep -qF -- "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
  grep -qw -- "$1" <<<" ${CHOSEN_PORTS:-} " && return 0
  return 1
}

listening() {
  awk -v p="$(printf ':%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6
}

pick_port() {
  local lo=20000 hi ep p i
  ep=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  hi=$((ep - 1))
  [ "$hi" -gt 30000 ] || hi=30000
  for ((i = 0; i < 500; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    if ! port_used "$p"; then CHOSEN_PORTS+=" $p"; echo "$p"; return 0; fi
  done
  die "no free port found in $lo-$hi"
}

# ---------------------------------------------------------------- up

abs_dir() {
  [ -n "${1:-}" ] || die "missing DIR argument"
  local d
  d=$(realpath -m -- "$1")
  [ "$d" != / ] || die "refusing DIR=/"
  echo "$d"
}

gen_pki() {
  local p=$D/pki
  mkdir -p "$p"
  (
    umask 077
    cd "$p"
    # ECDSA P-256 everywhere: generating RSA keys took a noticeable part of `up`.
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=spiderpool-testenv-ca" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    openssl req "${ec[@]}" -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:::1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f apiserver.csr ca.srl
    # Static bearer tokens: the admin (system:masters), kube-controller-manager (its own
    # bootstrap RBAC role) and a user without any RBAC binding.
    local admin kcm nobody
    admin=$(openssl rand -hex 24); kcm=$(openssl rand -hex 24); nobody=$(openssl rand -hex 24)
    {
      echo "$admin,testenv-admin,testenv-admin,system:masters"
      echo "$kcm,system:kube-controller-manager,system:kube-controller-manager"
      echo "$nobody,testenv-unprivileged,testenv-unprivileged"
    } > tokens.csv
    echo "$admin" > admin.token
    echo "$kcm" > kube-controller-manager.token
    echo "$nobody" > unprivileged.token
  ) || die "openssl failed"
  if [ ! -s "$p/apiserver.crt" ] || [ ! -s "$p/sa.pub" ]; then die "certificates were not generated"; fi
}

# write_kubeconfig FILE TOKEN
write_kubeconfig() {
  local ca
  ca=$(base64 -w0 < "$D/pki/ca.crt")
  (
    umask 077
    cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: spiderpool-testenv
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: user
  user:
    token: $2
contexts:
- name: spiderpool-testenv
  context:
    cluster: spiderpool-testenv
    user: user
current-context: spiderpool-testenv
EOF
  )
}

up_failed() {
  local rc=$?
  trap - EXIT
  # A signal can land while a probe runs with its output sent to /dev/null: talk to the
  # original stdout/stderr.
  exec 1>&6 2>&7
  [ "$rc" -ne 0 ] || return 0
  say "up failed; stopping what it started"
  local n others=()
  for n in "${STARTED[@]}"; do [ "$n" = "${FAILED:-}" ] || others+=("$n"); done
  log_tail "${FAILED:-}" "${others[@]}"
  stop_all "$D" || true
  say "logs are kept in $D/logs; \`$0 down $D\` removes them"
  exit "$rc"
}

cmd_up() {
  D=$(abs_dir "${1:-}")
  local t0
  t0=$(now)
  ensure_pkgs openssl curl
  ensure_built
  local n
  for n in "${COMPONENTS[@]}"; do
    if pid_of "$D" "$n" >/dev/null; then die "$D is already up ($n running); \`down\` it first"; fi
  done
  if [ -d "$D" ] && [ -n "$(ls -A "$D")" ] && [ ! -f "$D/$MARKER" ]; then
    die "$D is not empty and not a k8s-testenv directory"
  fi
  if [ -f "$D/$MARKER" ]; then rm -rf "$D"; fi   # stale state of an earlier run
  mkdir -p "$D/logs" "$D/bin"
  echo "k8s v$K8S_VERSION test environment; remove with: $0 down $D" > "$D/$MARKER"
  exec 6>&1 7>&2
  STARTED=()
  PROC_ENV=()
  FAILED=''
  trap up_failed EXIT

  gen_pki
  ln -sfn "$BIN/kubectl" "$D/bin/kubectl"

  # Ports: chosen and bound under one machine-wide lock, so concurrent `up`s never pick the
  # same port; the lock is held only until etcd and the apiserver listen.
  local lockdir=/run/lock
  [ -w "$lockdir" ] || lockdir=${TMPDIR:-/tmp}
  exec 9>"$lockdir/spiderpool-k8s-testenv.ports.lock"
  flock -w 120 9 || die "could not take $lockdir/spiderpool-k8s-testenv.ports.lock"
  CHOSEN_PORTS=''
  ETCD_PORT=$(pick_port); CHOSEN_PORTS+=" $ETCD_PORT"
  ETCD_PEER_PORT=$(pick_port); CHOSEN_PORTS+=" $ETCD_PEER_PORT"
  API_PORT=$(pick_port); CHOSEN_PORTS+=" $API_PORT"
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" > "$D/ports"

  # etcd 3.4 refuses to start on architectures other than amd64 and ppc64le without this (and
  # warns about the variable where it is not needed).
  case $(uname -m) in
    x86_64 | ppc64le) ;;
    *) PROC_ENV=(ETCD_UNSUPPORTED_ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)") ;;
  esac
  local t
  t=$(now)
  start etcd --name testenv --data-dir "$D/etcd" --logger zap --log-level warn \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "testenv=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --unsafe-no-fsync
  wait_for "etcd /health" etcd etcd_healthy
  PROC_ENV=()
  say "etcd ready on 127.0.0.1:$ETCD_PORT in $(since "$t") s"

  # --advertise-address=127.0.0.1: accepted by 1.20, but the apiserver's endpoint reconciler
  # would then try to write 127.0.0.1 into the `kubernetes` Endpoints, which validation
  # rejects (loopback). There is no kubelet or kube-proxy in `up`, so nothing could use those
  # endpoints anyway: --endpoint-reconciler-type=none, and no address but loopback appears.
  t=$(now)
  start_apiserver
  wait_for "kube-apiserver to listen on 127.0.0.1:$API_PORT" kube-apiserver listening "$API_PORT"
  flock -u 9; exec 9>&-
  wait_for "kube-apiserver /readyz" kube-apiserver apiserver_ready
  say "kube-apiserver ready on https://127.0.0.1:$API_PORT in $(since "$t") s"

  write_kubeconfig "$D/kubeconfig" "$(cat "$D/pki/admin.token")"
  write_kubeconfig "$D/kube-controller-manager.kubeconfig" "$(cat "$D/pki/kube-controller-manager.token")"
  write_kubeconfig "$D/unprivileged.kubeconfig" "$(cat "$D/pki/unprivileged.token")"

  t=$(now)
  start kube-controller-manager \
    --kubeconfig="$D/kube-controller-manager.kubeconfig" \
    --leader-elect=false --port=0 --secure-port=0 --cert-dir="$D/pki" \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$D/pki/sa.key" --root-ca-file="$D/pki/ca.crt" \
    --cluster-signing-cert-file="$D/pki/ca.crt" --cluster-signing-key-file="$D/pki/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-name=spiderpool-testenv --profiling=false
  wait_for "namespace default and service account default/default" kube-controller-manager default_sa_ready
  say "kube-controller-manager running; default service account has its token after $(since "$t") s"

  {
    echo "export KUBECONFIG=$D/kubeconfig"
    echo "export PATH=\"$D/bin:\$PATH\""
    echo "export SPIDERPOOL_K8S_TESTENV=$D"
    echo "export SPIDERPOOL_K8S_APISERVER=https://127.0.0.1:$API_PORT"
  } > "$D/env"
  trap - EXIT
  say "up in $(since "$t0") s: KUBECONFIG=$D/kubeconfig (kubectl: $D/bin/kubectl)"
}

# start_apiserver: kube-apiserver of $D on $ETCD_PORT/$API_PORT (`up`, `restart-apiserver`).
start_apiserver() {
  start kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --cert-dir="$D/pki" \
    --tls-cert-file="$D/pki/apiserver.crt" --tls-private-key-file="$D/pki/apiserver.key" \
    --client-ca-file="$D/pki/ca.crt" --token-auth-file="$D/pki/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$D/pki/sa.pub" --service-account-signing-key-file="$D/pki/sa.key" \
    --kubelet-preferred-address-types=InternalIP --profiling=false
}

# restart-apiserver DIR [SECONDS]: stop kube-apiserver (as `down` stops it), leave it down for
# SECONDS (default 0), start it again with the same flags and ports, return when /readyz answers.
# Fault tests use it: clients see refused connections, then a fresh watch cache (a watch resumed
# from an older resourceVersion gets 410 Gone).
cmd_restart_apiserver() {
  D=$(abs_dir "${1:-}")
  local pause=${2:-0} t0
  [[ $pause =~ ^[0-9]+([.][0-9]+)?$ ]] || die "SECONDS must be a number, not '$pause'"
  if [ ! -f "$D/$MARKER" ] || [ ! -f "$D/env" ]; then die "$D is not up"; fi
  load_ports || die "$D has no ports file"
  pid_of "$D" etcd >/dev/null || die "etcd of $D is not running"
  t0=$(now)
  stop_one "$D" kube-apiserver || die "could not stop kube-apiserver of $D"
  say "kube-apiserver stopped after $(since "$t0") s; down for ${pause} s"
  sleep "$pause"
  exec 6>&1 7>&2
  STARTED=()
  PROC_ENV=()
  FAILED=''
  mv -f "$D/logs/kube-apiserver.log" "$D/logs/kube-apiserver.log.$(date +%s)" 2>/dev/null || true
  start_apiserver
  wait_for "kube-apiserver /readyz" kube-apiserver apiserver_ready
  say "kube-apiserver restarted: ready $(since "$t0") s after the stop began"
}

etcd_healthy() {
  curl -fsS --noproxy '*' --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'
}

apiserver_ready() {
  [ "$(curl -fsS --noproxy '*' --max-time 3 --cacert "$D/pki/ca.crt" \
      -H "Authorization: Bearer $(cat "$D/pki/admin.token")" \
      "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null)" = ok ]
}

# Pods can be created once the default service account exists and has its token secret.
default_sa_ready() {
  local s
  s=$("$BIN/kubectl" --kubeconfig "$D/kubeconfig" --request-timeout=5s \
       get sa default -n default -o 'jsonpath={.secrets[0].name}') && [ -n "$s" ]
}

# ---------------------------------------------------------------- down, status, env

cmd_down() {
  local d t0
  d=$(abs_dir "${1:-}")
  t0=$(now)
  if [ ! -e "$d" ]; then say "$d: already down"; return 0; fi
  if [ ! -f "$d/$MARKER" ]; then
    ls "$d"/*.pid >/dev/null 2>&1 && die "$d has pid files but is not a k8s-testenv directory"
    say "$d: not a k8s-testenv directory, nothing to stop"; return 0
  fi
  stop_all "$d" || die "could not stop everything in $d; state kept"
  rm -rf -- "$d"
  say "down in $(since "$t0") s ($d removed)"
}

load_ports() {
  [ -f "$D/ports" ] || return 1
  ETCD_PORT=$(sed -n 's/^ETCD_PORT=//p' "$D/ports")
  ETCD_PEER_PORT=$(sed -n 's/^ETCD_PEER_PORT=//p' "$D/ports")
  API_PORT=$(sed -n 's/^APISERVER_PORT=//p' "$D/ports")
}

cmd_status() {
  D=$(abs_dir "${1:-}")
  [ -f "$D/$MARKER" ] || { echo "$D: down"; return 1; }
  local n pid rss total=0 ok=0
  load_ports || true
  echo "$D"
  for n in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$D" "$n"); then
      rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
      total=$((total + rss))
      printf '  %-24s running  pid %-8s rss %4d MiB\n' "$n" "$pid" $((rss / 1024))
    else
      printf '  %-24s stopped\n' "$n"; ok=1
    fi
  done
  printf '  %-24s %d MiB\n' "total rss" $((total / 1024))
  if [ -n "${API_PORT:-}" ]; then
    echo "  etcd         http://127.0.0.1:$ETCD_PORT (peer $ETCD_PEER_PORT)"
    if apiserver_ready; then echo "  apiserver    https://127.0.0.1:$API_PORT  readyz ok"
    else echo "  apiserver    https://127.0.0.1:$API_PORT  NOT ready"; ok=1; fi
    echo "  kubeconfig   $D/kubeconfig"
  fi
  return $ok
}

cmd_env() {
  D=$(abs_dir "${1:-}")
  [ -f "$D/env" ] || die "$D is not up"
  cat "$D/env"
}

# ---------------------------------------------------------------- selftest

cmd_selftest() {
  D=$(abs_dir "${1:-}")
  [ -f "$D/env" ] || die "$D is not up"
  load_ports
  local K=("$D/bin/kubectl" --kubeconfig "$D/kubeconfig" --request-timeout=15s)
  local U=("$D/bin/kubectl" --kubeconfig "$D/unprivileged.kubeconfig" --request-timeout=15s)
  local ns=testenv-selftest passed=0 failed=0 t0 out
  t0=$(now)
  pass() { passed=$((passed + 1)); echo "PASS $*"; }
  fail() { failed=$((failed + 1)); echo "FAIL $*"; }
  # poll SECONDS CMD...: until CMD succeeds
  poll() {
    local s=$1 i; shift
    for ((i = 0; i < s * 4; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    return 1
  }

  "${K[@]}" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  "${K[@]}" delete crd widgets.testenv.spiderpool.test --ignore-not-found >/dev/null 2>&1 || true

  if apiserver_ready; then pass "apiserver /readyz ok"; else fail "apiserver /readyz"; fi
  out=$("${K[@]}" version --short 2>&1 | grep Server || true)
  if [ "$out" = "Server Version: v$K8S_VERSION" ]; then pass "server version v$K8S_VERSION"; else fail "server version: $out"; fi
  out=$("${K[@]}" get service kubernetes -n default -o 'jsonpath={.spec.clusterIP}' 2>&1 || true)
  if [ "$out" = "$SERVICE_IP" ]; then pass "service default/kubernetes has ClusterIP $SERVICE_IP"
  else fail "service default/kubernetes: $out"; fi
  # The apiserver publishes no address for itself (no endpoint reconciler): nothing but
  # loopback is ever handed to a client.
  out=$("${K[@]}" get endpoints kubernetes -n default --ignore-not-found -o 'jsonpath={.subsets}' 2>&1 || true)
  if [ -z "$out" ]; then pass "no endpoints published for service default/kubernetes"
  else fail "kubernetes endpoints: $out"; fi

  if "${K[@]}" create namespace "$ns" >/dev/null && "${K[@]}" get namespace "$ns" >/dev/null; then
    pass "namespace $ns created"
  else fail "create namespace"; fi

  if poll 30 sa_has_token "$ns"; then pass "service account $ns/default has a token (token controller)"
  else fail "no token for $ns/default"; fi
  # That token authenticates (403 = known but not allowed; 401 would be a bad signature).
  local sa_token code
  sa_token=$("${K[@]}" get secret -n "$ns" \
    "$("${K[@]}" get sa default -n "$ns" -o 'jsonpath={.secrets[0].name}' 2>/dev/null)" \
    -o 'jsonpath={.data.token}' 2>/dev/null | base64 -d 2>/dev/null || true)
  code=$(curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$D/pki/ca.crt" \
    -H "Authorization: Bearer $sa_token" "https://127.0.0.1:$API_PORT/api/v1/namespaces/$ns/secrets" || true)
  if [ "$code" = 403 ]; then pass "service account token authenticates (RBAC then denies: 403)"
  else fail "service account token request got $code"; fi

  # A small CRD and an object of it.
  if "${K[@]}" apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.testenv.spiderpool.test
spec:
  group: testenv.spiderpool.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
          status:
            type: object
            properties:
              seen: {type: boolean}
EOF
  then pass "CRD applied"; else fail "CRD apply"; fi
  if "${K[@]}" wait --for condition=established --timeout=30s crd/widgets.testenv.spiderpool.test >/dev/null
  then pass "CRD established"; else fail "CRD not established"; fi
  "${K[@]}" create configmap widget-owner -n "$ns" >/dev/null 2>&1 || true
  local owner_uid
  owner_uid=$("${K[@]}" get configmap widget-owner -n "$ns" -o 'jsonpath={.metadata.uid}' 2>/dev/null || true)
  if poll 20 "${K[@]}" apply -f - <<EOF
apiVersion: testenv.spiderpool.test/v1
kind: Widget
metadata:
  name: w1
  namespace: $ns
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: widget-owner, uid: "$owner_uid"}
spec:
  size: 3
EOF
  then pass "custom object created"; else fail "custom object create"; fi
  out=$("${K[@]}" get widget w1 -n "$ns" -o 'jsonpath={.spec.size}' 2>&1 || true)
  if [ "$out" = 3 ]; then pass "custom object read back"; else fail "custom object read: $out"; fi
  if ! "${K[@]}" apply -f - >/dev/null 2>&1 <<EOF
apiVersion: testenv.spiderpool.test/v1
kind: Widget
metadata: {name: w-bad, namespace: $ns}
spec: {size: 0}
EOF
  then pass "CRD schema validation rejects size 0"; else fail "invalid custom object accepted"; fi
  # kubectl 1.20 has no --subresource: patch /status directly.
  if curl -fsS --noproxy '*' --max-time 10 --cacert "$D/pki/ca.crt" -X PATCH \
       -H "Authorization: Bearer $(cat "$D/pki/admin.token")" -H 'Content-Type: application/merge-patch+json' \
       -d '{"status":{"seen":true}}' \
       "https://127.0.0.1:$API_PORT/apis/testenv.spiderpool.test/v1/namespaces/$ns/widgets/w1/status" >/dev/null
  then pass "custom object status subresource patched"; else fail "status patch"; fi

  # A Deployment: kube-controller-manager makes its ReplicaSet and Pods (Pending: no node).
  if "${K[@]}" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $ns}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: "testenv.invalid/none:0"}
EOF
  then pass "deployment created"; else fail "deployment create"; fi
  if poll 60 rs_of_deploy "$ns" web; then pass "ReplicaSet created by the deployment controller"
  else fail "no ReplicaSet for deployment web"; fi
  if poll 60 pods_pending "$ns" 2; then pass "2 Pods created by the replicaset controller (Pending)"
  else fail "pods: $("${K[@]}" get pods -n "$ns" -o wide 2>&1)"; fi

  # RBAC: a user without bindings is denied, gets in after a RoleBinding, and only there.
  out=$("${U[@]}" get pods -n "$ns" 2>&1 || true)
  if grep -q 'Forbidden\|forbidden' <<<"$out"; then pass "RBAC denies testenv-unprivileged"
  else fail "unprivileged user not denied: $out"; fi
  code=$(curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$D/pki/ca.crt" \
    "https://127.0.0.1:$API_PORT/api/v1/namespaces/$ns/pods" || true)
  if [ "$code" = 403 ]; then pass "anonymous request denied (403)"; else fail "anonymous request got $code"; fi
  code=$(curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$D/pki/ca.crt" \
    -H "Authorization: Bearer wrong-token" "https://127.0.0.1:$API_PORT/api/v1/namespaces" || true)
  if [ "$code" = 401 ]; then pass "bad token rejected (401)"; else fail "bad token got $code"; fi
  if ! "${K[@]}" create role pod-reader -n "$ns" --verb=get,list --resource=pods >/dev/null ||
     ! "${K[@]}" create rolebinding pod-reader -n "$ns" --role=pod-reader --user=testenv-unprivileged >/dev/null; then
    fail "create role/rolebinding"
  fi
  if poll 20 "${U[@]}" get pods -n "$ns"; then pass "RoleBinding grants testenv-unprivileged pods in $ns"
  else fail "RoleBinding did not grant access"; fi
  out=$("${U[@]}" get pods -n default 2>&1 || true)
  if grep -q 'Forbidden\|forbidden' <<<"$out"; then pass "RBAC still denies testenv-unprivileged in default"
  else fail "unprivileged user not denied in default: $out"; fi

  # Garbage collector: deleting owners removes dependents (pods, replicasets, custom objects).
  "${K[@]}" delete deployment web -n "$ns" --cascade=background >/dev/null 2>&1 ||
    "${K[@]}" delete deployment web -n "$ns" >/dev/null
  if poll 60 no_pods "$ns"; then pass "garbage collector removed the ReplicaSet and Pods"
  else fail "dependents of deployment web remain"; fi
  "${K[@]}" delete configmap widget-owner -n "$ns" >/dev/null || true
  # The collector picks up a new resource type on its next discovery sync (every 30 s).
  if poll 90 widget_gone "$ns"; then pass "garbage collector removed the custom object owned by a ConfigMap"
  else fail "custom object w1 not collected"; fi

  # Every socket of every process `up` started is on loopback (after all the traffic above).
  out=$(foreign_sockets)
  if [ -z "$out" ]; then pass "all sockets of etcd, kube-apiserver, kube-controller-manager are loopback"
  else fail "sockets off loopback:"; echo "$out"; fi

  "${K[@]}" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  "${K[@]}" delete crd widgets.testenv.spiderpool.test --wait=false >/dev/null 2>&1 || true
  echo "selftest took $(since "$t0") s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# foreign_sockets: every TCP/UDP socket (v4 and v6) held by the processes of $D whose local or
# remote address is neither loopback nor unset (0.0.0.0/:: remote = listening); empty if none.
foreign_sockets() {
  local n pid fd link inodes=''
  for n in "${COMPONENTS[@]}"; do
    pid=$(pid_of "$D" "$n") || { echo "$n not running"; continue; }
    for fd in /proc/"$pid"/fd/*; do
      link=$(readlink "$fd" 2>/dev/null) || continue
      case $link in socket:\[*) link=${link#socket:\[}; inodes+=" ${link%\]}" ;; esac
    done
  done
  [ -n "$inodes" ] || return 0
  awk -v inodes="$inodes" '
    BEGIN { n = split(inodes, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    function ok(addr,   h) {
      h = substr(addr, 1, index(addr, ":") - 1)
      if (h ~ /^0+$/) return 1                                   # unset / any (listening)
      if (length(h) == 8) return substr(h, 7, 2) == "7F"        # 127.0.0.0/8 (little-endian)
      if (h == "00000000000000000000000001000000") return 1     # ::1
      if (h ~ /^0000000000000000FFFF0000/) return substr(h, 31, 2) == "7F"   # ::ffff:127.x
      return 0
    }
    FNR > 1 && ($10 in want) && !(ok($2) && ok($3)) { print FILENAME ": " $2 " -> " $3 }
  ' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6
}

sa_has_token() {
  local s
  s=$("$D/bin/kubectl" --kubeconfig "$D/kubeconfig" get sa default -n "$1" -o 'jsonpath={.secrets[0].name}') &&
    [ -n "$s" ] && "$D/bin/kubectl" --kubeconfig "$D/kubeconfig" get secret "$s" -n "$1" -o 'jsonpath={.data.token}' | grep -q .
}
rs_of_deploy() {
  "$D/bin/kubectl" --kubeconfig "$D/kubeconfig" get rs -n "$1" \
    -o 'jsonpath={range .items[*]}{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}{"\n"}{end}' |
    grep -qx "Deployment/$2"
}
pods_pending() {
  local n
  n=$("$D/bin/kubectl" --kubeconfig "$D/kubeconfig" get pods -n "$1" \
    -o 'jsonpath={range .items[*]}{.metadata.ownerReferences[0].kind}:{.status.phase}{"\n"}{end}' |
    grep -cx 'ReplicaSet:Pending')
  [ "$n" -eq "$2" ]
}
no_pods() {
  local out
  out=$("$D/bin/kubectl" --kubeconfig "$D/kubeconfig" get pods,rs -n "$1" -o name) && [ -z "$out" ]
}
widget_gone() {
  local out
  out=$("$D/bin/kubectl" --kubeconfig "$D/kubeconfig" get widgets -n "$1" -o name) && [ -z "$out" ]
}

# ---------------------------------------------------------------- main

main() {
  # Turn signals into exits so the EXIT traps run: `up` stops what it started, `build` removes
  # its temporary bin dir.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local cmd=${1:-help}
  shift || true
  case $cmd in
    build) cmd_build ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    selftest) cmd_selftest "$@" ;;
    restart-apiserver) cmd_restart_apiserver "$@" ;;
    apt-uri) apt_uri ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

# One line: bash has read all of it before running, so editing this file while a command runs
# cannot make bash execute half-read text.
main "$@"; exit
