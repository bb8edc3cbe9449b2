#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""test_layers.py - core/'s layering, as docs/architecture.md's module map
states it: every file of core/ has a layer in the map, and no file
includes a header of a higher layer (no arrow back up).  Prints the
cmocka-style summary lines deploy/test-all.sh counts."""
import glob
import os
import re
import sys

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
order = ["base", "config", "services", "model", "stores", "admission", "pipeline"]
doc = open(os.path.join(top, "docs", "architecture.md"), encoding="utf-8").read()
layer = {}
for m in re.finditer(r"^\| (\w+) \| `([a-z0-9_]+)\.[ch]`( \+ `[a-z0-9_.]+`)?", doc, re.M):
    if m.group(1) in order:
        layer[m.group(2)] = order.index(m.group(1))
# headers without a .c of their own belong to their module's layer
layer.setdefault("dedup_slots", layer.get("dedup", 0))
layer.setdefault("gwctx", order.index("pipeline"))
layer.setdefault("gateway", order.index("pipeline"))

failures = []
passed = 0


def check(name, ok, why):
    global passed
    print("[ RUN      ] " + name)
    if ok:
        passed += 1
        print("[       OK ] " + name)
    else:
        failures.append(name)
        print(why)
        print("[  FAILED  ] " + name)


files = sorted(glob.glob(os.path.join(top, "core", "*.[ch]")))
mods = {os.path.basename(f)[:-2] for f in files}
missing = sorted(m for m in mods if m not in layer)
check("every_core_file_has_a_layer", not missing,
      "not in docs/architecture.md's module map: " + ", ".join(missing))
ups = []
for f in files:
    mod = os.path.basename(f)[:-2]
    for inc in re.findall(r'#include "([a-z0-9_]+)\.h"', open(f, encoding="utf-8").read()):
        if mod in layer and inc in layer and layer[inc] > layer[mod]:
            ups.append("%s (%s) includes %s.h (%s)" % (os.path.basename(f), order[layer[mod]],
                                                       inc, order[layer[inc]]))
check("no_include_runs_back_up", not ups, "\n".join(ups))
check("the_map_names_only_files_that_exist", all(m in mods for m in layer),
      "in the map but not in core/: " + ", ".join(sorted(m for m in layer if m not in mods)))

print("[==========] %d test(s) run." % (passed + len(failures)))
print("[  PASSED  ] %d test(s)." % passed)
if failures:
    print("[  FAILED  ] %d test(s), listed below:" % len(failures))
    for n in failures:
        print("[  FAILED  ] " + n)
sys.exit(1 if failures else 0)
