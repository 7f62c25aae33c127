#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time on stable Rust (no
# sanitizer), starting from the committed seeds plus a local corpus.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 10)
#
# Builds all targets once (release, with debug assertions and overflow checks),
# then runs each with a writable corpus fuzz/corpus/<target> and the read-only
# seeds fuzz/seeds/<target>. Output of each run goes to
# fuzz/artifacts/smoke-<target>.log; crashing inputs land in fuzz/artifacts/<target>/.
# Prints one summary line per target; exits non-zero (after printing the log
# tail) if any target crashes, times out, runs out of memory or fails to run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

secs=${1:-10}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]  (a positive integer, got '$secs')" >&2
  exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz 0.13" >&2
  cargo install cargo-fuzz --locked --version '^0.13'
fi

# No sanitizer (stable rustc), optimised, but with debug assertions and
# overflow checks so that arithmetic bugs in spiderpool-core are caught.
build_flags=(--sanitizer none --release --debug-assertions --fuzz-dir fuzz)

echo "fuzz-smoke: building all targets"
cargo fuzz build "${build_flags[@]}"

mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets found in fuzz/" >&2
  exit 1
fi

failed=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  # Not inside $artifacts: cargo fuzz reports the newest file there as the crash.
  log="fuzz/artifacts/smoke-$t.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")

  # The exit status is taken directly from cargo fuzz (no pipe), so a crash
  # is never masked by a filter.
  status=0
  cargo fuzz run "${build_flags[@]}" "$t" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$log" 2>&1 || status=$?

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus_size=$(find "$corpus" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    printf 'fuzz-smoke: %-12s ok      %10s execs (%s/s) in %ss, corpus %s files\n' \
      "$t" "${execs:-?}" "${speed:-?}" "$secs" "$corpus_size"
  else
    printf 'fuzz-smoke: %-12s FAILED  exit %s after %s execs; log %s\n' \
      "$t" "$status" "${execs:-?}" "$log"
    echo "---- $log: the failure ----"
    grep -m 1 -B 2 -A 12 -E "panicked at|ERROR: libFuzzer|==[0-9]+== ERROR" "$log" || true
    echo "---- $log: last 30 lines ----"
    tail -n 30 "$log"
    echo "----"
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz-smoke: FAILED targets: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets passed (${secs}s each)"
