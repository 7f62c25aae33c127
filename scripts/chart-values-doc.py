#!/usr/bin/env python3
"""The values table of docs/install.md, generated from charts/spiderpool/values.yaml.

usage: chart-values-doc.py (--check | --write) VALUES_YAML DOC_MD

Every value carries a `# -- description` comment on the lines above its key. A key
with such a comment is one row (its default printed as JSON, whole lists and maps
included); a key without one is a section and its children are rows. A scalar value
without a description is an error, so a new value cannot go undocumented. The table
sits between `<!-- values-table:begin -->` and `<!-- values-table:end -->` in DOC_MD:
--check fails when it differs (scripts/chart-check.sh runs it), --write rewrites it.
Needs PyYAML (the kubernetes-validate venv of scripts/chart-check.sh has it).
"""
import difflib
import json
import re
import sys

import yaml

BEGIN, END = "<!-- values-table:begin -->", "<!-- values-table:end -->"
KEY = re.compile(r"^( *)([A-Za-z0-9_]+):(.*)$")


def documented_keys(text):
    """{dotted.key: description} of every key with a `# --` comment above it."""
    docs, stack, pending = {}, [], None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("# --"):
            pending = s[4:].strip()
            continue
        if s.startswith("#") and pending is not None:
            pending += " " + s[1:].strip()
            continue
        m = KEY.match(line)
        if not m:
            if s and not s.startswith("-") and not s.startswith("#"):
                raise SystemExit(f"values.yaml:{n}: cannot read {line!r}")
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        if pending is not None:
            docs[".".join(k for _, k in stack)] = pending
            pending = None
    return docs


def rows(values, docs, prefix=""):
    out = []
    for key, value in values.items():
        path = prefix + key
        if path in docs:
            out.append((path, value, docs[path]))
        elif isinstance(value, dict) and value:
            out += rows(value, docs, path + ".")
        else:
            raise SystemExit(f"values.yaml: {path} has no `# --` description")
    return out


def table(values_path):
    text = open(values_path).read()
    docs = documented_keys(text)
    lines = ["| value | default | description |", "|---|---|---|"]
    for path, value, doc in rows(yaml.safe_load(text), docs):
        default = json.dumps(value, separators=(",", ":"))
        doc = doc.replace("|", "\\|")
        lines.append(f"| `{path}` | `{default}` | {doc} |")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("--check", "--write"):
        raise SystemExit(__doc__)
    mode, values_path, doc_path = sys.argv[1:]
    doc = open(doc_path).read()
    try:
        head, rest = doc.split(BEGIN + "\n", 1)
        current, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{doc_path}: no {BEGIN} ... {END} section")
    want = table(values_path)
    if mode == "--write":
        open(doc_path, "w").write(head + BEGIN + "\n" + want + END + tail)
    elif current != want:
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(True), want.splitlines(True), doc_path, "generated from " + values_path))
        raise SystemExit(f"{doc_path}: the values table differs from {values_path}; "
                         f"run: python3 scripts/chart-values-doc.py --write {values_path} {doc_path}")


if __name__ == "__main__":
    main()
