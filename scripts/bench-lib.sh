# Shared by scripts/bench-ipam.sh and scripts/bench-coordinator.sh (sourced):
# one hyperfine timing in the node namespace, and the statistics over its rounds.
# Both read the caller's SPB_NODE, SPB_WORK, WARMUP and RUNS when called.

# time_in_node NAME JSON PREPARE CLEANUP CMD: hyperfine times CMD (a shell
# command line) in the node namespace, PREPARE before and CLEANUP after every
# run (not timed), and exports its runs to JSON.
time_in_node() {
    nsenter --net="/var/run/netns/$SPB_NODE" hyperfine --style basic \
        --warmup "$WARMUP" --runs "$RUNS" \
        --prepare "$3" --cleanup "$4" \
        --command-name "$1" --export-json "$2" \
        "$5" >&2
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
