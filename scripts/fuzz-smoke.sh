#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time on stable Rust (no sanitizer).
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version '^0.13' >/dev/null
fi
targets=$(cargo fuzz list --fuzz-dir fuzz)
cargo fuzz build -s none --fuzz-dir fuzz -O >/dev/null 2>&1 || cargo fuzz build -s none --fuzz-dir fuzz -O
for t in $targets; do
  echo "fuzz target $t: ${secs}s"
  mkdir -p "fuzz/corpus/$t"
  cargo fuzz run -s none --fuzz-dir fuzz -O "$t" "fuzz/corpus/$t" fuzz/seeds/"$t" -- \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|Done|ERROR|panicked' || true
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then echo "fuzz target $t failed" >&2; exit 1; fi
done
