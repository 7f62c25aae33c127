#!/usr/bin/env bash
# Benchmark of spiderpool-agent --store kubernetes as processes against a real
# API server: 1, 4 and 10 agents (distinct node names) x 100 concurrent pod
# ADDs each, on one pool and on 10 pools, group commit against
# --group-commit=false in the same run. Prints a Markdown table (see
# docs/performance.md, "Agents on Kubernetes").
#
# Usage: scripts/bench-k8s-agents.sh [KUBECONFIG]
#   Without KUBECONFIG it starts its own cluster (scripts/k8s-testenv.sh up)
#   in a temp dir and stops it afterwards.
# Settings (environment): BENCH_AGENTS ("1 4 10"), BENCH_PODS (100),
#   BENCH_POOLS ("1 10"), BENCH_MODES ("group per-write"),
#   BENCH_ADD_TIMEOUT (120 s; an ADD not answered by then counts as failed).
# The build is the debug profile, as the tests'.
set -euo pipefail
cd "$(dirname "$0")/.."

own=""
if [ $# -ge 1 ]; then
    kubeconfig=$1
else
    own=$(mktemp -d /tmp/k8s-bench.XXXX)
    trap 'scripts/k8s-testenv.sh down "$own" >/dev/null 2>&1 || true' EXIT
    scripts/k8s-testenv.sh up "$own" >&2
    kubeconfig=$own/kubeconfig
fi

echo "# $(date -u +%FT%TZ) $(nproc) cores; agents=${BENCH_AGENTS:-1 4 10} pods=${BENCH_PODS:-100} pools=${BENCH_POOLS:-1 10} modes=${BENCH_MODES:-group per-write}"
SPIDERPOOL_TEST_KUBECONFIG=$kubeconfig cargo test -q -p spiderpool-bin --test k8s_agent_bench \
    -- --ignored --nocapture --test-threads=1 2>&1 | grep -E '^(\||first failure)'
