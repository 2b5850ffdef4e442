"""xlwings Lite runs what a user installs: the built wheel, in Pyodide, under Node.js.

The way a Lite user gets there: `xlsheets lite` writes main.py and requirements.txt, settings and
a plugin are pasted into main.py as docs/excel.md says, micropip installs requirements.txt (the
xlsheets line naming the wheel built from this checkout, every dependency resolved from the
package index), main.py is imported, and every function is called through xlwings' own
``custom_functions_call`` with payloads as the add-in sends them: numbers, serial dates, null and
error objects, handed over as JavaScript objects. Two Pyodides: the 0.27 line xlwings Lite names
and the newest on npm (see .ci/setup-extra). Needs Node.js and the package index; under CI=true
a missing Node fails instead of skipping.

The NCCI edits take the practice's route too: the sample CMS-layout fixtures are imported into a
data folder with `xlsheets ncci import`, packed with `xlsheets ncci wheel`, and the bundle is
written with `xlsheets lite --ncci-wheel-url` naming that file as if hosted; micropip installs it
with the rest, and NCCI_PAIR and CLAIM_STATUS_TABLE answer from it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_lite import ACME, HEAD, SETTINGS, TABLE, pasted_main

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "pyodide"
VERSIONS = ("0.27.7", "314.0.8")  # keep in step with .ci/setup-extra

if shutil.which("node") is None:
    if os.environ.get("CI") == "true":
        pytest.fail("Node.js is missing: .ci/setup-extra installs it; the Pyodide test must run in CI",
                    pytrace=False)
    pytestmark = pytest.mark.skip(reason="Node.js is not installed (.ci/setup-extra installs it)")

NA = {"type": "Error", "basicType": "Error", "basicValue": "#N/A", "errorType": "NotAvailable"}
BASE = {"client": "Office.js", "caller_address": "[Claims.xlsx]Claims!Z2", "session_id": "s1",
        "culture_info_name": "en-US", "date_format": "M/d/yyyy", "version": "0.37.8", "runtime": "1.4"}


def fn(name, *args):
    return {"kind": "function", "payload": {**BASE, "func_name": name, "args": list(args)}}


# Every function, with the argument forms Office.js sends (2-D, ints, serial dates, null, errors).
CALLS = [
    fn("claim_status_table", TABLE),
    fn("claim_status", [HEAD], [TABLE[1]]),
    fn("claim_findings", [HEAD], [["C9", "P9", 46091, "Aetna", "M54.17", "M51.17", 64483]]),
    fn("claim_status", [HEAD], [["C8", "P8", NA, "Aetna", "M54.17", None, 99214]]),
    fn("icd_title", [["M5417"]], [[None]]),
    fn("icd_title", [[NA]]),
    fn("icd_valid", [["M54.5"]], [[44571]]),  # 2022-01-10: M54.5 deleted
    fn("icd_billable", [["M54.5"]], [[44348]]),  # 2021-06-01
    fn("icd_electronic", [["m54.17"]]),
    fn("icd_dotted", [["M5417"]]),
    fn("icd_excludes1", [["M54.17"]], [["M51.17"]]),
    fn("icd_dotted", [[None]]),
    fn("ncci_pair", [["62323"]], [[77003]], [[46091]]),  # no NCCI files in a fresh Lite
    {"kind": "script", "name": "validate_sheet", "book": {
        "client": "Office.js", "version": "0.37.8", "names": [],
        "book": {"name": "Claims.xlsx", "active_sheet_index": 0, "selection": "A1"},
        "sheets": [{"name": "Claims", "values": TABLE, "pictures": [], "tables": [], "charts": [], "shapes": []}]}},
]
FUNCTIONS = {"CLAIM_STATUS", "CLAIM_FINDINGS", "CLAIM_STATUS_TABLE", "ICD_TITLE", "ICD_VALID",
             "ICD_BILLABLE", "ICD_ELECTRONIC", "ICD_DOTTED", "ICD_EXCLUDES1", "NCCI_PAIR"}


def big_table(rows: int = 10_000) -> list:
    """A 10,000-row claims table, Office.js style: mostly clean, some faulty, some blank cells."""
    dx = ["M51.16", "M54.17", "M54.50", "M47.816", "M54.16", "M51.17"]
    cpt = [99214, 64483, 72148, 97110, 20552, 62323]
    table = [HEAD]
    for i in range(rows):
        table.append([f"C{i}", f"P{i % 3000}", 46000 + i % 90, ["Aetna", "Medicare", "Acme Health"][i % 3],
                      dx[i % 6], None if i % 4 else dx[(i + 1) % 6], cpt[i % 6]])
    return table


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel under test: XLSHEETS_WHEEL (the release workflow's built wheel), else one built
    from this checkout."""
    given = os.environ.get("XLSHEETS_WHEEL")
    if given:
        assert Path(given).is_file() and given.endswith("-py3-none-any.whl"), given
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)]
    done = subprocess.run([*build, "--no-isolation"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # setuptools not in this environment: build in an isolated one
        done = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (built,) = out.glob("xlsheets-*.whl")
    assert built.name.endswith("-py3-none-any.whl"), "the xlsheets wheel must be pure Python"
    return built


def run_in_pyodide(version: str, wheel: Path, tmp_path: Path, calls: list, big=None, bundle=None,
                   hosted=()) -> dict:
    """One xlwings Lite session: ``bundle`` (default: main.py with SETTINGS and the Acme plugin),
    ``hosted`` wheels standing for the files its requirements.txt addresses name."""
    base = HERE / version
    pyodide = base / "node_modules" / "pyodide"
    assert (pyodide / "pyodide.mjs").is_file(), f"Pyodide {version} is missing: run .ci/setup-extra"
    micropip = sorted((base / "wheels").glob("micropip-*.whl"))
    assert micropip, f"micropip for Pyodide {version} is missing: run .ci/setup-extra"
    bundle = bundle or pasted_main(tmp_path / "bundle", SETTINGS, [("acme", ACME)])
    calls_file = tmp_path / "calls.json"
    calls_file.write_text(json.dumps({"calls": calls, "big": big}), encoding="utf-8")
    done = subprocess.run(["node", str(HERE / "run.mjs"), str(pyodide), str(HERE / "lite_session.py"),
                           str(bundle), str(micropip[-1]), str(wheel), str(calls_file), *map(str, hosted)],
                          capture_output=True, text=True, timeout=600)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line is not None, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module", params=VERSIONS)
def lite(request, wheel, tmp_path_factory):
    return run_in_pyodide(request.param, wheel, tmp_path_factory.mktemp("lite"), CALLS)


def ok(result):
    assert "ok" in result, result
    return result["ok"]


def test_micropip_installs_the_wheel_and_its_dependencies_from_the_index(lite):
    assert lite["platform"] == "emscripten"
    installed = lite["installed"]
    for name in ("xlsheets", "pluggy", "openpyxl", "et-xmlfile", "xlsxwriter", "xlwings"):
        assert name in installed, (name, sorted(installed))
    import xlsheets
    assert installed["xlsheets"] == xlsheets.__version__
    assert lite["functions"] and set(lite["functions"]) == FUNCTIONS


def test_every_function_answers_through_xlwings_in_pyodide(lite):
    r = [ok(x) for x in lite["results"]]
    table = [row[0] for row in r[0]]
    assert table[0].startswith("WARNING ACME101")  # the plugin pasted into main.py
    assert table[1] == "OK"                         # its broken reads promise caught
    assert table[2].startswith("ERROR S303")        # the pasted settings: deny for Acme
    assert table[3].startswith("ERROR E102") and "ACME102" in table[3]
    assert r[1] == [[table[0]]]
    assert r[2][0] == ["Rule", "Severity", "Message", "Suggestion"]
    assert "X201" in {row[0] for row in r[2][1:]}  # M54.17 with M51.17: Excludes1
    assert r[3][0][0].startswith("ERROR C109")    # #N/A in the date cell: no usable date
    assert r[4] == [["Radiculopathy, lumbosacral region"]]  # null dos: today
    assert r[5] == [["xlsheets: the code cell holds the Excel error #N/A"]]
    assert r[6] == [[False]] and r[7] == [[True]]
    assert r[8] == [["M5417"]] and r[9] == [["M54.17"]]
    assert r[10][0][0].startswith("M54.1 Excludes1:")
    assert r[11] == [[""]]
    actions = r[13]["actions"]  # Validate sheet: the status column, Findings, Summary
    status = next(a for a in actions if a["func"] == "setValues" and a["sheet_position"] == 0)
    assert [row[0] for row in status["values"]] == ["xlsheets status", *table]
    assert [a["args"][1] for a in actions if a["func"] == "addSheet"] == ["Findings", "Summary"]
    assert r[12][0][0].startswith("xlsheets: no NCCI PTP file is loaded")
    assert "'xlsheets ncci wheel', to the requirements.txt tab" in r[12][0][0]
    # The Summary says once that N501-N503 did not run, and how a Lite user gets the edits.
    said = [v for a in actions if a["func"] == "setValues" for row in a["values"] for v in row
            if isinstance(v, str) and v.startswith("N501, N502, N503 could not run")]
    assert len(said) == 1 and "build the data wheel (xlsheets ncci wheel)" in said[0], said


def test_pyodide_gives_the_same_answers_as_cpython(lite, tmp_path):
    """The same main.py, the same payloads, through xlwings on CPython."""
    from test_lite import call
    bundle = pasted_main(tmp_path / "bundle", SETTINGS, [("acme", ACME)])
    at = [i for i, c in enumerate(CALLS) if c["kind"] == "function"]
    here = call(bundle, [(CALLS[i]["payload"]["func_name"], CALLS[i]["payload"]["args"]) for i in at], tmp_path)
    assert [ok(lite["results"][i]) for i in at] == here


# --- the NCCI edits, as a practice gets them into xlwings Lite -----------------------------------
FIX = ROOT / "tests" / "fixtures" / "ncci"
NCCI_HEAD = ["claim_id", "patient_id", "dos", "dx1", "cpt1", "cpt2"]
NCCI_CALLS = [
    fn("ncci_pair", [["62323"]], [[77003]], [[46091]]),  # 2026-03-10
    fn("claim_status_table", [NCCI_HEAD,
                              ["A1", "P1", 46091, "M54.17", 62323, 77003],  # the pair on one claim
                              ["A2", "P2", 46091, "M54.17", 62323, None],   # ... across P2's rows
                              ["A3", "P2", 46091, "M54.17", 77003, None],
                              ["A4", "P4", 46091, "M54.17", 99214, None]]),
    fn("claim_status", [["claim_id", "dos", "dx1", "cpt1"]], [["B1", 46091, "M54.17", "64483-RT x2"]]),
    fn("ncci_pair", [["62323"]], [["99213"]], [[46091]]),  # no edit between them: empty
]


def cli(*argv, env):
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def ncci_wheel(tmp_path_factory) -> Path:
    """The data wheel as a practice makes it: import the CMS files, then xlsheets ncci wheel."""
    tmp = tmp_path_factory.mktemp("ncci")
    env = {**os.environ, "XLSHEETS_DATA_DIR": str(tmp / "data")}
    done = cli("ncci", "import", FIX / "sample-not-cms-data_ptp-practitioner-2026q1.zip",
               FIX / "sample-not-cms-data_mue-practitioner-2026q1.csv", FIX / "sample-not-cms-data_aoc-2026q1.txt",
               env=env)
    assert done.returncode == 0, done.stderr
    done = cli("ncci", "wheel", "--out", tmp / "wheel", env=env)
    assert done.returncode == 0, done.stderr
    (built,) = (tmp / "wheel").glob("*.whl")
    assert built.name == "xlsheets_ncci_data-2026.1-py3-none-any.whl"
    return built


def ncci_bundle(folder: Path, ncci_wheel: Path) -> Path:
    return pasted_main(folder, "", [], "--ncci-wheel-url", f"https://files.example-practice.org/ncci/{ncci_wheel.name}")


@pytest.fixture(scope="module", params=VERSIONS)
def lite_ncci(request, wheel, ncci_wheel, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lite-ncci")
    return run_in_pyodide(request.param, wheel, tmp, NCCI_CALLS, bundle=ncci_bundle(tmp / "bundle", ncci_wheel),
                          hosted=[ncci_wheel])


def test_micropip_installs_the_ncci_data_wheel_and_the_functions_apply_its_edits(lite_ncci):
    assert lite_ncci["installed"].get("xlsheets-ncci-data") == "2026.1", sorted(lite_ncci["installed"])
    r = [ok(x) for x in lite_ncci["results"]]
    pair = r[0][0][0]
    assert pair.startswith("77003 is column 2 of 62323 (denied with it, CO-236): modifier indicator 0"), pair
    assert pair.endswith("[NCCI PTP practitioner 2026Q1]")
    table = [row[0] for row in r[1]]
    assert table[0].startswith("ERROR N501") and "77003" in table[0]
    assert table[1] == "OK" and table[2].startswith("ERROR N501")  # across the patient's two rows
    assert table[3] == "OK"
    assert r[2][0][0].startswith("ERROR N502")  # 2 units of 64483 over its MUE
    assert r[3] == [[""]]
    # The edits came from the installed package: Lite has no data folder.
    sets = lite_ncci["ncci"]
    assert [s["kind"] for s in sets] == ["ncci-ptp", "ncci-mue", "ncci-aoc"]
    assert {s["origin"] for s in sets} == {"data wheel xlsheets-ncci-data 2026.1"}
    assert all("site-packages/xlsheets_ncci_data/practitioner/" in s["source"] for s in sets)


@pytest.fixture(scope="module")
def ncci_site(ncci_wheel, tmp_path_factory) -> Path:
    """The same data wheel pip-installed for CPython (into a target folder)."""
    from test_ncci_wheel import install
    return install(ncci_wheel, tmp_path_factory.mktemp("site"))


def test_pyodide_gives_the_same_ncci_answers_as_cpython_with_the_wheel_installed(lite_ncci, ncci_wheel, ncci_site,
                                                                                 tmp_path):
    from test_lite import call
    site = ncci_site
    bundle = ncci_bundle(tmp_path / "bundle", ncci_wheel)
    here = call(bundle, [(c["payload"]["func_name"], c["payload"]["args"]) for c in NCCI_CALLS], tmp_path, site=site)
    assert [ok(x) for x in lite_ncci["results"]] == here
