# Shared by scripts/bench-ipam.sh and scripts/bench-coordinator.sh (sourced):
# one hyperfine timing in the node namespace, and the statistics over its rounds.
# Both read the caller's SPB_NODE, SPB_WORK, WARMUP and RUNS when called.

# time_in_node NAME JSON PREPARE CLEANUP CMD [HYPERFINE-ARGS...]: hyperfine
# times CMD (a shell command line; with -N among HYPERFINE-ARGS a program and
# its arguments, run without a shell, as PREPARE and CLEANUP then are) in the
# node namespace, PREPARE before and CLEANUP after every run (not timed), and
# exports its runs to JSON.
time_in_node() {
    nsenter --net="/var/run/netns/$SPB_NODE" hyperfine --style basic \
        --warmup "$WARMUP" --runs "$RUNS" \
        --prepare "$3" --cleanup "$4" \
        --command-name "$1" --export-json "$2" "${@:6}" \
        "$5" >&2
}

# build_feed DIR -> the path of scripts/bench-feed.c built into DIR, or
# nothing when it cannot be built here (not x86_64, no C compiler).
build_feed() {
    local src
    src=$(dirname "${BASH_SOURCE[0]}")/bench-feed.c
    [[ $(uname -m) == x86_64 ]] && command -v cc >/dev/null || return 0
    cc -O2 -nostdlib -static -fno-stack-protector -o "$1/bench-feed" "$src" >&2 || return 0
    echo "$1/bench-feed"
}

# stats KEY -> "median mean stddev min max" in ms over every round's runs
# ($SPB_WORK/KEY-round*.json).
stats() {
    jq -rs '[.[].results[0].times[]] | sort | map(. * 1000) as $t | ($t | length) as $n
        | ($t | add / $n) as $mean
        | [ (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
            $mean, ((($t | map((. - $mean) * (. - $mean)) | add) / $n) | sqrt),
            $t[0], $t[-1] ] | @tsv' "$SPB_WORK/$1"-round*.json
}

# choose_harness: for HARNESS=feed, builds bench-feed into $SPB_WORK and sets
# FEED and HF_ARGS=(-N) (time_in_node's extra arguments); where it cannot be
# built, says so and falls back to HARNESS=shell (HF_ARGS empty).
choose_harness() {
    HF_ARGS=()
    [[ $HARNESS == feed ]] || return 0
    FEED=$(build_feed "$SPB_WORK")
    if [[ -n $FEED ]]; then
        HF_ARGS=(-N)
    else
        echo "bench-feed cannot be built here (x86_64 and cc needed): the shell harness is used" >&2
        HARNESS=shell
    fi
}
