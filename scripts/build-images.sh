#!/usr/bin/env bash
# OCI image archives of spiderpool-agent and spiderpool-controller, assembled from built
# binaries with no base image, no registry and no container tool (docker, podman and
# buildah are not needed): each image is one layer holding the binaries, the shared
# libraries `ldd` names for them (glibc, libgcc_s, libm, the loader) and, in the agent,
# a static busybox for the chart's init container (sh, cp, mv, chmod, sync).
#
#   scripts/build-images.sh [options] [agent] [controller]     (default: both)
#     --bin-dir DIR    binaries to pack (default target/release: cargo build --release)
#     --plugin-dir DIR where the CNI plugins `spiderpool` and `coordinator` come from
#                      (default: --bin-dir); the directory scripts/build-plugins.sh prints
#                      (whole-program optimised, glibc static: faster to start, no
#                      dependency on the node's glibc; docs/performance.md)
#     --out DIR        where the archives go (default target/images)
#     --registry R     image names are R/spiderpool-agent:TAG ... (default localhost/spiderpool-rs,
#                      the chart's default registry and repository prefix)
#     --tag TAG        (default: the workspace version, the chart's appVersion)
#     --no-strip       keep debug sections (by default they are stripped from the copies)
#     --smoke          also unpack each image and run its binaries (`--version`) and the
#                      agent's init-container commands in a chroot (needs root)
#     --skip-undeclared  skip (saying so) an image whose binary is not a bin target of the
#                      workspace (`cargo metadata`), e.g. the controller before it exists
#
# Import into containerd and install the chart with them:
#   ctr -n k8s.io images import target/images/spiderpool-agent-0.1.0.oci.tar
#   helm install spiderpool charts/spiderpool -n kube-system \
#     --set spiderpoolAgent.image.pullPolicy=Never --set spiderpoolController.image.pullPolicy=Never
#
# Every archive is checked after it is written (scripts/oci-image.py check: OCI layout,
# digests and sizes of index, manifest, config and layer, diff_ids, the binaries present),
# and the checker must refuse corrupted copies of the first one (oci-image.py selftest).
# Agent image: runs as root (host socket, CNI and data directories). Controller image:
# user 65532:65532, no shell.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'build-images: %s\n' "$*" >&2; }
die() { printf 'build-images: error: %s\n' "$*" >&2; exit 1; }

BIN_DIR=target/release OUT=target/images REGISTRY=localhost/spiderpool-rs STRIP=--strip SMOKE=0
SKIP_UNDECLARED=0 PLUGIN_DIR=
TAG=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
WHICH=()
while [ $# -gt 0 ]; do
  case $1 in
    --bin-dir) BIN_DIR=${2:?--bin-dir DIR}; shift ;;
    --plugin-dir) PLUGIN_DIR=${2:?--plugin-dir DIR}; shift ;;
    --out) OUT=${2:?--out DIR}; shift ;;
    --registry) REGISTRY=${2:?--registry R}; shift ;;
    --tag) TAG=${2:?--tag TAG}; shift ;;
    --no-strip) STRIP= ;;
    --smoke) SMOKE=1 ;;
    --skip-undeclared) SKIP_UNDECLARED=1 ;;
    agent | controller) WHICH+=("$1") ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
  shift
done
[ ${#WHICH[@]} -gt 0 ] || WHICH=(agent controller)
: "${PLUGIN_DIR:=$BIN_DIR}"
[ -n "$TAG" ] || die "no version in Cargo.toml [workspace.package]"
command -v ldd >/dev/null || die "ldd not found (Debian: libc-bin)"
[ -z "$STRIP" ] || command -v strip >/dev/null || die "strip not found (Debian: binutils), or pass --no-strip"
mkdir -p "$OUT"

# busybox for the agent image: Debian's busybox-static (scripts/test.sh installs it).
busybox() {
  local b
  for b in /bin/busybox /usr/bin/busybox; do
    [ -x "$b" ] && { echo "$b"; return; }
  done
  die "no busybox: apt-get install busybox-static"
}

# Unpack IMAGE.tar's layer into a temp dir and run each command in a chroot there:
# through the image's /bin/sh when it has one, else as a plain word list.
smoke() {
  local tar=$1 root rc=0 cmd out
  shift
  root=$(mktemp -d)
  python3 - "$tar" "$root" <<'PY'
import json, sys, tarfile
tar, root = sys.argv[1:3]
with tarfile.open(tar) as tf:
    index = json.load(tf.extractfile("index.json"))
    man = json.load(tf.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
    layer = tf.extractfile("blobs/sha256/" + man["layers"][0]["digest"][7:])
    with tarfile.open(fileobj=layer, mode="r|") as l:
        if hasattr(tarfile, "data_filter"):
            l.extractall(root, filter="tar")
        else:
            l.extractall(root)
PY
  for cmd in "$@"; do
    if [ -x "$root/bin/sh" ]; then
      out=$(chroot "$root" /bin/sh -ec "$cmd" 2>&1) || rc=1
    else
      # shellcheck disable=SC2086  # a word list on purpose
      out=$(chroot "$root" $cmd 2>&1) || rc=1
    fi
    [ "$rc" -eq 0 ] || { printf '%s\n' "$out" >&2; rm -rf "$root"; die "smoke: $tar: '$cmd' failed"; }
  done
  rm -rf "$root"
  say "smoke: $tar: $# commands ran in a chroot of the image"
}

build_one() {
  local what=$1 name tar bins=() user args=() b
  case $what in
    agent) bins=(spiderpool-agent spiderpool coordinator spiderpoolctl) user=0:0
      args=(--busybox "$(busybox)") ;;
    controller) bins=(spiderpool-controller) user=65532:65532 ;;
  esac
  local dir
  for b in "${bins[@]}"; do
    dir=$BIN_DIR
    case $b in spiderpool | coordinator) dir=$PLUGIN_DIR ;; esac
    [ -x "$dir/$b" ] || die "$dir/$b: missing (cargo build --release -p spiderpool-bin, or --bin-dir / --plugin-dir)"
    args+=("$dir/$b=/usr/bin/$b")
  done
  name=$REGISTRY/spiderpool-$what:$TAG
  tar=$OUT/spiderpool-$what-$TAG.oci.tar
  python3 scripts/oci-image.py build "$tar" "$name" --user "$user" --entrypoint "/usr/bin/${bins[0]}" \
    $STRIP "${args[@]}"
  local paths=()
  for b in "${bins[@]}"; do paths+=("/usr/bin/$b"); done
  [ "$what" = agent ] && paths+=(/bin/sh /bin/cp /bin/mv /bin/chmod /bin/sync)
  python3 scripts/oci-image.py check "$tar" "$name" "${paths[@]}"
  if [ "$SMOKE" = 1 ]; then
    local cmds=()
    for b in "${bins[@]}"; do
      # The CNI plugins answer VERSION without a config; the daemons and the CLI --version.
      case $b in
        spiderpool | coordinator) cmds+=("true | CNI_COMMAND=VERSION /usr/bin/$b") ;;
        *) cmds+=("/usr/bin/$b --version") ;;
      esac
    done
    # What the chart's install-cni init container does, inside the image.
    [ "$what" = agent ] && cmds+=("cp /usr/bin/spiderpool /tmp/.s.new && chmod 0755 /tmp/.s.new && sync && mv -f /tmp/.s.new /tmp/spiderpool && rm /tmp/spiderpool")
    smoke "$tar" "${cmds[@]}"
  fi
}

# Names of the workspace's bin targets.
declared_bins() {
  cargo metadata --no-deps --format-version 1 --offline 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"]:
            print(t["name"])'
}

start=$(date +%s)
declared="" built=()
[ "$SKIP_UNDECLARED" = 1 ] && declared=$(declared_bins)
for w in "${WHICH[@]}"; do
  main_bin=spiderpool-$w
  if [ "$SKIP_UNDECLARED" = 1 ] && ! grep -qx "$main_bin" <<<"$declared"; then
    say "skipped: $w image: the workspace has no $main_bin binary yet"
    continue
  fi
  build_one "$w"
  built+=("$w")
done
# The checker itself: it must refuse corrupted copies of an archive it accepted.
[ ${#built[@]} -eq 0 ] || python3 scripts/oci-image.py selftest "$OUT/spiderpool-${built[0]}-$TAG.oci.tar" >/dev/null
say "done in $(($(date +%s) - start)) s: ${built[*]:-no image} in $OUT"
