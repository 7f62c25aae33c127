#!/usr/bin/env bash
# Load figure of IP garbage collection with the real processes: 10 agents x
# 100 pods (+ 50 live pods) get addresses through spiderpool-agent
# --store kubernetes; a spiderpool-controller with --gc=true is running; the
# 1000 pods are deleted at once without CNI DEL. Prints the time until every
# deleted pod's address is free, and the number of live addresses released
# (see docs/performance.md). The collector touches every pool of the
# cluster, so this always runs on a cluster of its own
# (scripts/k8s-testenv.sh up in a temp dir, stopped afterwards).
#
# Usage: scripts/bench-k8s-gc.sh
# Settings (environment): GC_LOAD_AGENTS (10), GC_LOAD_PODS (per agent, 100),
#   GC_LOAD_LIVE (50). The build is the debug profile, as the tests'.
set -euo pipefail
cd "$(dirname "$0")/.."

own=$(mktemp -d /tmp/k8s-gcload.XXXX)
trap 'scripts/k8s-testenv.sh down "$own" >/dev/null 2>&1 || true' EXIT
scripts/k8s-testenv.sh up "$own" >&2
echo "# $(date -u +%FT%TZ) $(nproc) cores; agents=${GC_LOAD_AGENTS:-10} pods=${GC_LOAD_PODS:-100} live=${GC_LOAD_LIVE:-50}"
SPIDERPOOL_TEST_KUBECONFIG=$own/kubeconfig cargo test -q -p spiderpool-bin --test k8s_gc_load \
    -- --ignored --nocapture --test-threads=1 2>&1 | grep -E '^\||panicked|Error|ADD '
