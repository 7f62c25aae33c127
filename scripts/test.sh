#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine and runs every test.
# This is exactly what CI runs (.ci/run calls it). Steps: deps, fmt, clippy,
# tests, Helm chart, one-node cluster end to end, images, docs, bench build,
# dependency-boundary check, fuzz smoke.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export RUSTFLAGS=${RUSTFLAGS:-}

step "system packages"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=()
  for p in iproute2 iputils-ping nftables containernetworking-plugins python3-venv busybox-static openssl binutils; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
else
  echo "not root or no apt-get: skipping system packages"
fi

step "rust toolchain components"
command -v cargo >/dev/null || { echo "cargo not found: install rustup first" >&2; exit 1; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked >/dev/null

step "kubernetes test control plane (scripts/k8s-testenv.sh: built once per machine, then cached)"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash scripts/k8s-testenv.sh build
  K8S_DIR=$(mktemp -d /tmp/spiderpool-test-k8s.XXXXXX)
  rmdir "$K8S_DIR"
  trap 'bash scripts/k8s-testenv.sh down "$K8S_DIR" >/dev/null 2>&1 || true' EXIT
  bash scripts/k8s-testenv.sh up "$K8S_DIR"
  export SPIDERPOOL_TEST_KUBECONFIG="$K8S_DIR/kubeconfig"
else
  echo "skipped: the Kubernetes tests need root and apt-get (they print why they skip)"
fi

step "cargo test"
cargo test --workspace --locked

step "quick start (debug binaries from cargo test)"
if [ "$(id -u)" = 0 ]; then
  QUICKSTART_PROFILE=debug bash scripts/quickstart.sh --no-build
else
  echo "skipped: the quick start needs root (network namespaces)"
fi

step "Helm chart (scripts/chart-check.sh: lint, kubernetes-validate, dry-run=server, install/upgrade/uninstall)"
bash scripts/chart-check.sh
# Every flag the chart passes is one the binaries know (cargo test built them).
bash scripts/chart-check.sh flags target/debug

step "the CNI plugins as images ship them (scripts/build-plugins.sh: [profile.plugins], glibc static)"
PLUGIN_DIR=$(bash scripts/build-plugins.sh --locked)

step "one-node cluster end to end (scripts/cluster-e2e.sh: kubelet, containerd, kube-proxy, helm install, pods)"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash scripts/cluster-e2e.sh --bin-dir target/debug --plugin-dir "$PLUGIN_DIR"
else
  echo "skipped: the cluster end to end needs root and apt-get (namespaces, a kubelet)"
fi

step "images (scripts/build-images.sh from the debug binaries of cargo test)"
if [ "$(id -u)" = 0 ]; then
  IMAGES_DIR=$(mktemp -d /tmp/spiderpool-test-images.XXXXXX)
  bash scripts/build-images.sh --bin-dir target/debug --out "$IMAGES_DIR" --smoke \
    || { rm -rf "$IMAGES_DIR"; exit 1; }
  # The plugins as images ship them, packed beside the debug agent and run in the
  # image's chroot.
  bash scripts/build-images.sh --bin-dir target/debug --plugin-dir "$PLUGIN_DIR" \
    --out "$IMAGES_DIR" --smoke agent || { rm -rf "$IMAGES_DIR"; exit 1; }
  rm -rf "$IMAGES_DIR"
else
  echo "skipped: the image smoke test needs root (chroot)"
fi

step "bench build"
cargo bench --workspace --locked --no-run >/dev/null 2>&1 || cargo bench --workspace --locked --no-run

step "spiderpool-core has no I/O dependencies"
bad=$(cargo tree -p spiderpool-core -e normal --prefix none --locked | grep -E '^(tokio|kube|kube-[a-z]+|rtnetlink|netlink-[a-z-]+|nix) ' || true)
if [ -n "$bad" ]; then echo "forbidden dependencies in spiderpool-core:"; echo "$bad"; exit 1; fi
echo "ok"

step "fuzz smoke (cargo-fuzz, -s none, bounded)"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-10}"

step "all checks passed"
