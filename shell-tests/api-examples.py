#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""api-examples.py - the example answers of docs/api.md, for t0300.

Each example answer in docs/api.md is a ```json fenced block right after a
marker line

    <!-- answer: NAME STATUS -->

(NAME a unique word, STATUS the HTTP status that answer comes with).

  api-examples.py names DOC            one "NAME STATUS" line per example
  api-examples.py show DOC NAME        the example's JSON
  api-examples.py compare DOC NAME     compares the real answer (stdin) with
                                       the example; prints every difference
                                       and exits 1 when there is one

The comparison is of shapes and fixed values: both sides are JSON with the
same key sets (recursively, arrays element by element with equal lengths),
the same JSON types everywhere, and equal values for the keys whose value is
a constant of the API (status, duplicate, type, title, decision, verdict,
...; a reason that is a code such as "out-of-scope", not explain's
sentences; summary counts; the message of a created/duplicate/aggregated
answer).  Names, fingerprints, timestamps and counts differ from run to run
and are compared by type only.
"""
import json
import re
import sys

MARKER = re.compile(r"^<!-- answer: ([A-Za-z0-9_.-]+) ([0-9]{3}) -->\s*$")
FIXED = {"status", "duplicate", "reason", "type", "title", "member", "state", "opened",
         "resolved", "escalated", "index", "instance", "redis", "kubernetes",
         "circuit_breaker", "decision", "verdict"}
# reason is a code ("out-of-scope") in the signal answers, a sentence naming
# the request in explain's: fixed only when documented as a code
CODE = re.compile(r"^[a-z][a-z-]*$")
FIXED_MESSAGE_STATUSES = {"created", "duplicate", "aggregated"}


def examples(path):
    """{name: (status, json text)} in document order; exits on a bad block."""
    out = {}
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        i += 1
        if not m:
            continue
        name, status = m.group(1), int(m.group(2))
        if i >= len(lines) or lines[i].strip() != "```json":
            sys.exit(f"{path}: example {name}: the marker is not followed by a ```json block")
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        if name in out:
            sys.exit(f"{path}: example {name} appears twice")
        text = "\n".join(body)
        try:
            json.loads(text)
        except ValueError as e:
            sys.exit(f"{path}: example {name} is not valid JSON: {e}")
        out[name] = (status, text)
    return out


def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def compare(doc, real, where, diffs, fixed_all=False):
    if jtype(doc) != jtype(real):
        diffs.append(f"{where}: documented as {jtype(doc)} {json.dumps(doc)}, "
                     f"sent {jtype(real)} {json.dumps(real)}")
        return
    if isinstance(doc, dict):
        missing = sorted(set(doc) - set(real))
        extra = sorted(set(real) - set(doc))
        if missing:
            diffs.append(f"{where}: documented but not sent: {', '.join(missing)}")
        if extra:
            diffs.append(f"{where}: sent but not documented: {', '.join(extra)}")
        fixed_message = doc.get("status") in FIXED_MESSAGE_STATUSES
        for k in doc:
            if k not in real:
                continue
            sub = f"{where}.{k}"
            if isinstance(doc[k], (dict, list)):
                compare(doc[k], real[k], sub, diffs, fixed_all or k == "summary")
            else:
                compare(doc[k], real[k], sub, diffs)
                fixed = fixed_all or k in FIXED or (k == "message" and fixed_message)
                if k == "reason" and isinstance(doc[k], str) and not CODE.match(doc[k]):
                    fixed = fixed_all
                if fixed and jtype(doc[k]) == jtype(real[k]) and doc[k] != real[k]:
                    diffs.append(f"{sub}: documented {json.dumps(doc[k])}, sent "
                                 f"{json.dumps(real[k])}")
    elif isinstance(doc, list):
        if len(doc) != len(real):
            diffs.append(f"{where}: documented {len(doc)} elements, sent {len(real)}")
            return
        for n, (d, r) in enumerate(zip(doc, real)):
            compare(d, r, f"{where}[{n}]", diffs, fixed_all)
            if fixed_all and not isinstance(d, (dict, list)) and d != r:
                diffs.append(f"{where}[{n}]: documented {json.dumps(d)}, sent {json.dumps(r)}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, path = sys.argv[1], sys.argv[2]
    ex = examples(path)
    if cmd == "names":
        for name, (status, _) in ex.items():
            print(name, status)
        return 0
    if len(sys.argv) != 4 or sys.argv[3] not in ex:
        sys.exit(f"no example named {sys.argv[3:]!r} in {path}")
    status, text = ex[sys.argv[3]]
    if cmd == "show":
        print(text)
        return 0
    if cmd == "compare":
        raw = sys.stdin.read()
        try:
            real = json.loads(raw)
        except ValueError as e:
            print(f"the real answer is not JSON ({e}): {raw!r}")
            return 1
        diffs = []
        compare(json.loads(text), real, "$", diffs)
        for d in diffs:
            print(d)
        return 1 if diffs else 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
