"""xlwings Lite speed: the built wheel in Pyodide (Node.js) against CPython, in the same run.

For each Pyodide that .ci/setup-extra put in tests/pyodide/ (the 0.27 line xlwings Lite names,
and the newest on npm), and for CPython as the baseline:

* micropip install of the `xlsheets lite` requirements.txt (the xlsheets line naming the wheel
  built from this checkout; every dependency from PyPI) - Pyodide only;
* import of the generated main.py, and the first function call (CLAIM_STATUS);
* CLAIM_STATUS_TABLE on a 10,000-row table through custom_functions_call, cold and warm;
* the "Validate sheet" script on a 10,000-row workbook through custom_scripts_call.

Run: python benchmarks/bench_lite.py [--rows 10000]   (needs Node.js, network to PyPI)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "pyodide"
HEAD = ["claim_id", "patient_id", "dos", "payer", "dx1", "dx2", "cpt1", "laterality", "disc_disorder_confirmed"]
BASE = {"client": "Office.js", "caller_address": "[Claims.xlsx]Claims!Z2", "session_id": "s1",
        "culture_info_name": "en-US", "date_format": "M/d/yyyy", "version": "0.37.8", "runtime": "1.4"}


def table(rows: int) -> list:
    dx = ["M51.16", "M54.17", "M54.50", "M47.816", "M54.16", "M51.17", "M48.062", "G89.29"]
    cpt = [99214, 64483, 72148, 97110, 20552, 62323, 64484, 99213]
    out = [HEAD]
    for i in range(rows):
        out.append([f"C{i}", f"P{i % 3000}", 46000 + i % 90, ["Aetna", "Medicare", "Cigna"][i % 3], dx[i % 8],
                    None if i % 4 else dx[(i + 3) % 8], cpt[i % 8], ["R", "L", None][i % 3], ["Y", "N", None][i % 3]])
    return out


def book(values: list) -> dict:
    return {"client": "Office.js", "version": "0.37.8", "names": [],
            "book": {"name": "Claims.xlsx", "active_sheet_index": 0, "selection": "A1"},
            "sheets": [{"name": "Claims", "values": values, "pictures": [], "tables": [], "charts": [], "shapes": []}]}


CPYTHON = textwrap.dedent("""
    import asyncio, importlib, json, sys, time
    t0 = time.perf_counter()
    sys.path.insert(0, sys.argv[1])
    main = importlib.import_module("main")
    import xlwings as xw
    from xlwings.server import custom_functions_call, custom_scripts_call
    given = json.load(open(sys.argv[2]))
    timings = {"import_main": time.perf_counter() - t0}
    t = time.perf_counter()
    asyncio.run(custom_functions_call(given["calls"][0]["payload"], main))
    timings["first_call"] = time.perf_counter() - t
    t = time.perf_counter()
    cold = asyncio.run(custom_functions_call(given["big"], main))
    timings["table_10000_cold"] = time.perf_counter() - t
    t = time.perf_counter()
    asyncio.run(custom_functions_call(json.load(open(sys.argv[2]))["big"], main))
    timings["table_10000_warm"] = time.perf_counter() - t
    t = time.perf_counter()
    b = xw.Book(json=given["big_book"])
    asyncio.run(custom_scripts_call(main, "validate_sheet", typehint_to_value={xw.Book: b}))
    timings["validate_sheet_10000"] = time.perf_counter() - t
    timings["validate_sheet_10000_actions"] = len(b.json()["actions"])
    print("RESULT " + json.dumps({"timings": timings}))
""")


def result_of(done) -> dict:
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    return json.loads(line[len("RESULT "):])["timings"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "XLSHEETS_NO_ENTRY_POINTS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "wheel"), str(ROOT)],
                       check=True, capture_output=True)
        (wheel,) = (tmp / "wheel").glob("xlsheets-*.whl")
        subprocess.run([sys.executable, "-m", "xlsheets.cli", "lite", str(tmp / "bundle")], check=True,
                       capture_output=True)
        values = table(args.rows)
        calls = {"calls": [{"kind": "function", "payload": {**BASE, "func_name": "claim_status",
                                                            "args": [[HEAD], [values[1]]]}}],
                 "big": {**BASE, "func_name": "claim_status_table", "args": [values]},
                 "big_book": book(values)}
        (tmp / "calls.json").write_text(json.dumps(calls))
        rows = {}
        rows["CPython " + sys.version.split()[0]] = result_of(subprocess.run(
            [sys.executable, "-c", CPYTHON, str(tmp / "bundle"), str(tmp / "calls.json")],
            capture_output=True, text=True, env=env, cwd=tmp))
        for base in sorted(HERE.glob("*/node_modules/pyodide")):
            version = base.parent.parent.name
            micropip = sorted((base.parent.parent / "wheels").glob("micropip-*.whl"))
            started = time.perf_counter()
            done = subprocess.run(["node", str(HERE / "run.mjs"), str(base), str(HERE / "lite_session.py"),
                                   str(tmp / "bundle"), str(micropip[-1]), str(wheel), str(tmp / "calls.json")],
                                  capture_output=True, text=True, cwd=tmp)
            timings = result_of(done)
            timings["whole_session"] = time.perf_counter() - started
            rows[f"Pyodide {version}"] = timings
    keys = ["pyodide_load", "micropip_install", "import_main", "first_call", "table_10000_cold",
            "table_10000_warm", "validate_sheet_10000"]
    base = rows[next(iter(rows))]
    print(f"{args.rows:,} rows; seconds (ratio to CPython in brackets)\n")
    print(f"{'':<26}" + "".join(f"{name:>24}" for name in rows))
    for key in keys:
        cells = []
        for timings in rows.values():
            value = timings.get(key)
            if value is None:
                cells.append(f"{'-':>24}")
            else:
                ratio = f" ({value / base[key]:.1f}x)" if base.get(key) else ""
                cells.append(f"{value:>16.3f}{ratio:>8}")
        print(f"{key:<26}" + "".join(cells))
    print(f"\nValidate sheet sent {base['validate_sheet_10000_actions']} actions back to Excel.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
