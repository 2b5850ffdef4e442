#!/usr/bin/env python3
"""Excludes1 pairs over every pair of billable spine-related codes, against a baseline checkout.

The families the audit of issue 11 checked: M40-M54, G54-G59, G63, G89, M79, M96, S33, S34 and
E08-E13, billable on 2026-04-01. Prints how many pairs are Excludes1 here and (``--baseline DIR``,
another checkout such as the previous main) there, which pairs were added or dropped, and the
note each dropped pair had been blamed on. A dropped pair must come from a qualified note
("(E08-E13 with .42)") whose qualifier does not select the code; an added pair is a regression.

Run: ``python benchmarks/excludes_pairs.py [--baseline DIR]``.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ([f"M{n}" for n in range(40, 55)] + [f"G{n}" for n in range(54, 60)]
            + ["G63", "G89", "M79", "M96", "S33", "S34"] + [f"E{n:02d}" for n in range(8, 14)])

_PAIRS = r"""
import json, sys
sys.path.insert(0, {repo!r})
from datetime import date
from xlsheets.codes.icd10cm import CodeSet
cs, day = CodeSet(), date(2026, 4, 1)
codes = sorted(c for c in cs._win if c[:3] in {families!r} and cs.billable(c, day))
out = {{}}
for i, a in enumerate(codes):
    for b in codes[i + 1:]:
        p = cs.pair(a, b)
        if p is not None and p.kind == "excludes1":
            out[a + " " + b] = p.carrier + ": " + p.note
print(json.dumps({{"codes": len(codes), "pairs": out}}))
"""


def pairs(repo: Path) -> dict:
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(REPO / ".bench-empty-data"))
    script = _PAIRS.format(repo=str(repo), families=FAMILIES)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main() -> int:
    here = pairs(REPO)
    n = here["codes"]
    print(f"{n} billable codes, {n * (n - 1) // 2:,} pairs, {len(here['pairs']):,} Excludes1 pairs")
    if "--baseline" in sys.argv:
        base = pairs(Path(sys.argv[sys.argv.index("--baseline") + 1]).resolve())
        added = sorted(set(here["pairs"]) - set(base["pairs"]))
        dropped = sorted(set(base["pairs"]) - set(here["pairs"]))
        print(f"baseline: {len(base['pairs']):,} Excludes1 pairs; added {len(added)}, dropped {len(dropped)}")
        for note, k in collections.Counter(base["pairs"][p] for p in dropped).most_common():
            print(f"  dropped {k:4} blamed on {note}")
        for p in added[:20]:
            print(f"  ADDED {p}: {here['pairs'][p]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
