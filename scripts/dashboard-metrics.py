#!/usr/bin/env python3
"""Every metric a Grafana dashboard queries is in the given /metrics scrapes.

  dashboard-metrics.py DASHBOARD.json SCRAPE.txt...

Reads every panel's `targets[].expr` (rows' nested panels too), takes the metric
names in them (`spiderpool_...`), and the sample names of the Prometheus/OpenMetrics
text scrapes (`name{...} value` or `name value`). Prints each queried name with the
scrape it was found in; exits 1 naming every name found in none. Used by
scripts/cluster-e2e.sh on the running agent's and controller's /metrics; the
same rule runs in `cargo test` (spiderpool-bin/tests/dashboard_metrics.rs).
"""
import json
import re
import sys

NAME = re.compile(r"\bspiderpool_[a-z0-9_]+\b")


def exprs(panels):
    for p in panels:
        for t in p.get("targets", []):
            if t.get("expr"):
                yield t["expr"]
        yield from exprs(p.get("panels", []))


def samples(path):
    names = set()
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    dash = json.load(open(argv[0]))
    wanted = sorted({n for e in exprs(dash.get("panels", [])) for n in NAME.findall(e)})
    if not wanted:
        raise SystemExit(f"{argv[0]}: no spiderpool_ metric in any panel")
    scrapes = {p: samples(p) for p in argv[1:]}
    missing = []
    for n in wanted:
        where = [p for p, s in scrapes.items() if n in s]
        if where:
            print(f"ok      {n}  ({where[0]})")
        else:
            missing.append(n)
            print(f"MISSING {n}")
    if missing:
        raise SystemExit(f"{len(missing)} of {len(wanted)} metrics the dashboard queries are not exported")
    print(f"all {len(wanted)} metrics the dashboard queries are exported")


if __name__ == "__main__":
    main(sys.argv[1:])
