"""Time the xlsx readers on a generated claims workbook: openpyxl read-only (the baseline),
xlsheets.xlsxstream (the pure-Python reader), and python-calamine when installed: whole sheet
(as xlsheets reads files up to 8 MB) and a slice at a time (xlsheets.calamine_chunks, for larger
files; its peak memory stays flat where the whole-sheet reader's grows with the rows).

    python benchmarks/bench_readers.py [--rows 100000] [--keep PATH]

Prints seconds, rows/s, peak memory (the reading process's peak RSS, and its growth while
reading) and each reader's speed as a ratio to openpyxl. Each reader runs in its own child
process so one reader's memory does not count against the next.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = ["Claim ID", "Patient ID", "DOS", "Payer", "POS", "Dx1", "Dx2", "Dx3", "Dx4", "CPT1",
          "CPT2", "CPT3", "Modifier1", "Units", "Laterality", "Symptom weeks",
          "Conservative care weeks", "Trauma", "Radiating pain", "SLR positive",
          "Reflex changes", "Sensory deficit", "Motor weakness", "Red flags", "Provider", "Notes"]
DX = ["M54.16", "M54.17", "M51.16", "M51.17", "M54.50", "M48.062", "M47.816", "M54.2", "M50.120",
      "S33.5XXA", "M54.5", "G89.29", "#N/A"]
CPT = ["64483", "64484", "62323", "72148", "97110", "97140", "99214", "20552", "95886", None]


def make_workbook(path: Path, rows: int, seed: int = 1, inline: bool = False) -> None:
    """A claim sheet of ``rows`` rows x 26 columns, written by xlsxwriter as Excel would
    (shared strings, date-formatted serials, numbers, Y/N flags, blanks, an #N/A per row or so).
    ``inline`` writes inline strings in constant memory (as openpyxl write-only does): needed
    for very large sheets, since the shared-string mode holds the workbook in memory."""
    import xlsxwriter
    rnd = random.Random(seed)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": inline})
    ws = wb.add_worksheet("Claims")
    date_fmt = wb.add_format({"num_format": "mm/dd/yyyy"})
    ws.write_row(0, 0, HEADER)
    start = dt.date(2025, 10, 1)
    for r in range(1, rows + 1):
        dos = start + dt.timedelta(days=rnd.randrange(300))
        row = [f"CLM{r:07d}", f"P{rnd.randrange(rows // 3 + 1):06d}", None, rnd.choice(["Medicare", "Aetna", "BCBS"]),
               rnd.choice([11, 22, 24]), *(rnd.choice(DX) for _ in range(4)),
               *(rnd.choice(CPT) for _ in range(3)), rnd.choice(["RT", "LT", "50", None]),
               rnd.randint(1, 3), rnd.choice(["L", "R", "B"]), rnd.randint(0, 20), rnd.randint(0, 12),
               *(rnd.choice(["Y", "N", None]) for _ in range(7)), f"Dr {rnd.randrange(40)}",
               rnd.choice(["", "follow-up", "new patient"])]
        ws.write_row(r, 0, row)
        ws.write_datetime(r, 2, dt.datetime.combine(dos, dt.time()), date_fmt)
    wb.close()


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, since ru_maxrss survives exec (it would report the
    parent's peak, e.g. the workbook generator's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(reader: str, path: str) -> dict:
    """Run in a child: read every row with one reader, report time and memory."""
    base_rss = _peak_rss_mb()
    start = time.perf_counter()
    rows = cells = 0
    if reader == "openpyxl":
        import openpyxl
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for row in wb.worksheets[0].iter_rows(values_only=True):
            rows += 1
            cells += sum(v is not None for v in row)
        wb.close()
    elif reader == "calamine-chunks":  # what xlsheets uses for large files: a slice at a time
        from xlsheets.io import open_sheet
        with open_sheet(path, reader="calamine-chunks") as sheet:
            rows, cells = 1, sum(v is not None for v in sheet.header)  # rows after the header
            for row in sheet.rows:
                rows += 1
                cells += sum(v is not None for v in row)
    elif reader == "calamine":
        from python_calamine import CalamineWorkbook
        sheet = CalamineWorkbook.from_path(path).get_sheet_by_index(0)
        for row in sheet.iter_rows():
            rows += 1
            cells += sum(v != "" for v in row)
    else:
        import zipfile
        from xlsheets.xlsxstream import XlsxReader
        with zipfile.ZipFile(path) as zf:
            book = XlsxReader(zf)
            for row in book.rows(book.sheet_names()[0]):
                rows += 1
                cells += sum(v is not None for v in row)
    seconds = time.perf_counter() - start
    rss = _peak_rss_mb()
    return {"reader": reader, "seconds": seconds, "rows": rows, "cells": cells,
            "peak_rss_mb": rss, "rss_growth_mb": rss - base_rss}


def _run_child(reader: str, path: Path) -> dict | None:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(path)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"{reader}: failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", help="write the workbook here and keep it")
    parser.add_argument("--inline", action="store_true", help="inline strings (constant memory)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(*args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or Path(tmp) / "claims.xlsx")
        t = time.perf_counter()
        make_workbook(path, args.rows, inline=args.inline)
        print(f"workbook: {args.rows:,} rows x {len(HEADER)} columns, "
              f"{'inline' if args.inline else 'shared'} strings, "
              f"{path.stat().st_size / 2**20:.1f} MB, generated in {time.perf_counter() - t:.1f} s")
        readers = ["openpyxl", "xlsxstream"]
        try:
            import python_calamine  # noqa: F401
            readers += ["calamine", "calamine-chunks"]
        except ImportError:
            print("calamine: not installed (pip install python-calamine to include it)")
        results = [r for r in (_run_child(name, path) for name in readers) if r]
        base = next((r for r in results if r["reader"] == "openpyxl"), None)
        print(f"{'reader':<11} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} "
              f"{'(growth)':>9} {'x openpyxl':>11}")
        for r in results:
            ratio = base["seconds"] / r["seconds"] if base else float("nan")
            print(f"{r['reader']:<11} {r['seconds']:8.2f} {r['rows'] / r['seconds']:10,.0f} "
                  f"{r['peak_rss_mb']:12.1f} {r['rss_growth_mb']:9.1f} {ratio:10.1f}x")
        cells = {r["reader"]: r["cells"] for r in results}
        if len(set(cells.values())) > 1:
            print(f"WARNING: readers saw different numbers of non-empty cells: {cells}")


if __name__ == "__main__":
    main()
