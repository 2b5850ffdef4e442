#!/usr/bin/env python3
"""Benchmark the bundled ICD-10-CM code set against simple-icd-10-cm, side by side.

Measures, in one run: cold load time and peak memory (each in a fresh subprocess), validity
lookups per second, Excludes1 pair checks per second, bundled data size, and the ratios.
simple-icd-10-cm has no date-of-service validity nor pair check, so its side uses the closest
thing its API offers (``is_valid_item`` + ``is_leaf``; walking ``get_ancestors`` and parsing
``get_excludes1`` text).

Targets: load <= 0.5 s and <= 80 MB, >= 3x faster and <= 1/3 memory vs simple-icd-10-cm,
>= 1,000,000 lookups/s, >= 300,000 pair checks/s, data <= 5 MB.

Run: ``python benchmarks/bench_codes.py`` (needs ``pip install simple-icd-10-cm==1.5.0``).
``--baseline DIR`` also loads another checkout's code set (e.g. ``/work/main`` or a ``git
worktree`` of the previous commit) in the same run, alternating, and prints the ratios: a data
change must not make the cold load more than 10% slower or bigger.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Cold load: import, first check (validity), first title/notes (tree) and first pair.
_LOAD_OURS = r"""
import resource, sys, time, json
sys.path.insert(0, {repo!r})
from datetime import date
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
from xlsheets.codes.icd10cm import get_codeset
cs = get_codeset()
cs.check("M54.17", date(2026, 3, 10)); cs.title("M54.17"); cs.pair("M54.17", "M51.17")
dt = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": dt, "rss_kb": after - before}}))
"""

_LOAD_SICD = r"""
import resource, sys, time, json, warnings
warnings.simplefilter("ignore")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
import simple_icd_10_cm as s
s.is_leaf("M54.17"); s.get_description("M54.17"); s.get_excludes1("M54.1")
dt = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "rss_kb": after - before}))
"""


def _cold(script: str, runs: int = 3) -> dict[str, float]:
    """Best of ``runs`` fresh interpreters (time), max of their memory."""
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(REPO / ".bench-empty-data"))
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    kb = max(r["rss_kb"] for r in results)
    if sys.platform == "darwin":  # ru_maxrss is bytes there
        kb /= 1024
    return {"seconds": min(r["seconds"] for r in results), "mb": kb / 1024}


def _rate(fn, items, min_seconds: float = 0.5) -> float:
    n, total, t0 = 0, 0.0, time.perf_counter()
    while total < min_seconds:
        t = time.perf_counter()
        fn(items)
        total += time.perf_counter() - t
        n += len(items)
    return n / total


def _compare(baseline: Path, rounds: int = 5) -> None:
    """Cold load of this checkout vs ``baseline``, alternating so both see the same machine load."""
    ours, base = [], []
    for _ in range(rounds):
        ours.append(_cold(_LOAD_OURS.format(repo=str(REPO)), 1))
        base.append(_cold(_LOAD_OURS.format(repo=str(baseline)), 1))
    o_s, b_s = min(r["seconds"] for r in ours), min(r["seconds"] for r in base)
    o_mb, b_mb = max(r["mb"] for r in ours), max(r["mb"] for r in base)
    print(f"\n{'cold load vs baseline':28}{'this':>10}{'baseline':>10}{'ratio':>8}  (target <= 1.10)")
    print(f"{'  seconds (best of ' + str(rounds) + ')':28}{o_s:>10.3f}{b_s:>10.3f}{o_s / b_s:>8.2f}")
    print(f"{'  peak RSS MB (max)':28}{o_mb:>10.1f}{b_mb:>10.1f}{o_mb / b_mb:>8.2f}")


def main() -> int:
    if "--baseline" in sys.argv:
        _compare(Path(sys.argv[sys.argv.index("--baseline") + 1]).resolve())
        return 0
    sys.path.insert(0, str(REPO))
    os.environ["XLSHEETS_DATA_DIR"] = str(REPO / ".bench-empty-data")
    import warnings

    warnings.simplefilter("ignore")
    from xlsheets.codes.icd10cm import get_codeset

    print("cold load (fresh subprocess, best of 3)...", flush=True)
    ours_load = _cold(_LOAD_OURS.format(repo=str(REPO)))
    sicd_load = _cold(_LOAD_SICD)

    import simple_icd_10_cm as sicd

    cs = get_codeset()
    rng = random.Random(2026)
    every = sorted(cs._win)
    codes = rng.sample(every, 5000) + ["M54.17", "M54.5", "M54.1", "M51.37", "S34.21XA", "M54.19X"] * 50
    rng.shuffle(codes)
    dos = date(2026, 3, 10)

    def ours_lookup(items):
        b = cs.billable
        for c in items:
            b(c, dos)

    def sicd_lookup(items):
        v, leaf = sicd.is_valid_item, sicd.is_leaf
        for c in items:
            v(c) and leaf(c)

    spine = ["M54.16", "M54.17", "M51.16", "M51.17", "M47.26", "M47.27", "M54.41", "M54.42", "G89.29", "G89.4",
             "M48.062", "M43.17", "M79.18", "M54.50", "S34.21XA", "M51.36", "M47.816", "M54.12", "M50.12", "R52"]
    pool = spine + rng.sample([c for c in every if cs.billable(c, dos)], 2000)
    pairs = [(rng.choice(pool), rng.choice(pool)) for _ in range(20_000)]
    pairs += [("M54.17", "M51.17"), ("G89.29", "G89.4"), ("M54.12", "M47.22")] * 1000
    rng.shuffle(pairs)

    def ours_pair(items):
        p = cs.pair
        for a, b in items:
            p(a, b)

    ref = re.compile(r"\(([^()]*)\)")
    code = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?")

    def sicd_ex1(a: str, b: str) -> bool:
        for x in [a] + sicd.get_ancestors(a):
            for note in sicd.get_excludes1(x):
                for grp in ref.findall(note):
                    if any(b.startswith(r) for r in code.findall(grp)):
                        return True
        return False

    def sicd_pair(items):
        for a, b in items:
            sicd_ex1(a, b) or sicd_ex1(b, a)

    print("lookups and pair checks...", flush=True)
    # first pass on a fresh code set: per-code profiles are built as codes are first seen
    from xlsheets.codes.icd10cm import CodeSet

    fresh = CodeSet()
    fresh.pair("M54.17", "M51.17")  # load the tree outside the timing
    t = time.perf_counter()
    for a, b in pairs:
        fresh.pair(a, b)
    first_pass = len(pairs) / (time.perf_counter() - t)
    ours_pair(pairs)  # warm the per-code profiles, as a batch run does after its first claims
    look_o, look_s = _rate(ours_lookup, codes), _rate(sicd_lookup, codes)
    pair_o, pair_s = _rate(ours_pair, pairs), _rate(sicd_pair, pairs[:3000], 0.3)

    data = REPO / "xlsheets" / "codes" / "data"
    ours_mb = sum(p.stat().st_size for p in data.glob("*.gz")) / 1e6
    sdir = Path(sicd.__file__).parent / "data"
    sicd_mb = sum(p.stat().st_size for p in sdir.iterdir() if p.suffix in (".xml", ".txt")) / 1e6

    rows = [
        ("cold load (s)", ours_load["seconds"], sicd_load["seconds"], "<= 0.5", ours_load["seconds"] <= 0.5),
        ("cold load peak RSS (MB)", ours_load["mb"], sicd_load["mb"], "<= 80", ours_load["mb"] <= 80),
        ("validity lookups/s", look_o, look_s, ">= 1,000,000", look_o >= 1_000_000),
        ("Excludes1 pair checks/s", pair_o, pair_s, ">= 300,000", pair_o >= 300_000),
        ("data size (MB)", ours_mb, sicd_mb, "<= 5", ours_mb <= 5),
    ]
    print(f"\n{'metric':28}{'xlsheets':>16}{'simple-icd-10-cm':>18}{'ratio':>10}  {'target':>14}")
    for name, o, s, target, ok in rows:
        ratio = (s / o) if ("s)" in name or "MB" in name) else (o / s)
        fmt = (lambda v: f"{v:,.0f}") if "/s" in name else (lambda v: f"{v:,.3f}")
        print(f"{name:28}{fmt(o):>16}{fmt(s):>18}{ratio:>9.1f}x  {target:>14} {'ok' if ok else 'MISSED'}")
    print(f"{'  (first pass, cold caches)':28}{first_pass:>16,.0f}")
    faster = sicd_load["seconds"] / ours_load["seconds"]
    leaner = ours_load["mb"] / sicd_load["mb"]
    print(f"\nload {faster:.1f}x faster (target >= 3x): {'ok' if faster >= 3 else 'MISSED'}; "
          f"memory {leaner:.2f} of simple-icd-10-cm's (target <= 0.33): {'ok' if leaner <= 1 / 3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
