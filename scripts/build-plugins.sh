#!/usr/bin/env bash
# Builds the CNI plugins `spiderpool` and `coordinator` as the images ship them:
# Cargo.toml's [profile.plugins] (whole-program optimisation) and glibc linked
# statically (`-C target-feature=+crt-static`, a static-pie). A runtime starts
# one plugin process per CNI command, so their start-up is on every pod's path:
# measured here, static linking takes ~0.6 ms off each command (no dynamic
# loader, no shared-library relocations) and the plugins no longer depend on
# the node's glibc (docs/performance.md, "The plugin alone ...").
#
#   scripts/build-plugins.sh [cargo build options]
#
# httparse (hyper's parser) is built without its SIMD paths
# (`httparse_disable_simd`, read by its build script): they pick an
# implementation at run time through std's CPU feature detection, whose
# `cpuid` instructions trap to the hypervisor on a VM (~8 µs each here),
# ~70 µs per plugin process to parse one ~150-byte answer head.
#
# `--target` is explicit so that build scripts and proc macros stay dynamic
# (RUSTFLAGS then applies to the target crates only). Prints the directory the
# two binaries are in: <target dir>/<host triple>/plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$triple" ] || { echo "build-plugins: no host triple from rustc -vV" >&2; exit 1; }
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static --cfg httparse_disable_simd=\"1\"" \
  cargo build --profile plugins --target "$triple" -p spiderpool-bin \
  --bin spiderpool --bin coordinator "$@" >&2
dir="${CARGO_TARGET_DIR:-target}/$triple/plugins"
for b in spiderpool coordinator; do
  ldd "$dir/$b" 2>&1 | grep -q 'statically linked' || {
    echo "build-plugins: $dir/$b is not statically linked: $(ldd "$dir/$b" 2>&1 | head -3)" >&2
    exit 1
  }
done
echo "$dir"
