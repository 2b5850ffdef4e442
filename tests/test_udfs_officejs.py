"""Both registration paths without Excel.

Office.js (xlwings Lite): payloads as the add-in sends them go through
``xlwings.server.custom_functions_call``; ``custom_functions_meta`` is what Excel registers.
Classic (Windows): xlwings' own ``generate_vba_wrapper`` writes the VBA that "Import Functions"
puts in the workbook. Each runs in a subprocess, because which decorators ``xlwings.func`` is
gets decided when xlwings is first imported (XLWINGS_ON_SERVER must be set before that).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("xlwings")

OFFICEJS = textwrap.dedent("""
    import asyncio, json, sys
    import xlwings  # decorators are now the Office.js ones
    from xlwings.server import custom_functions_call, custom_functions_meta
    import xlsheets.udfs as module
    base = {"client": "Office.js", "caller_address": "[Claims.xlsx]Claims!Z2", "session_id": "s1",
            "culture_info_name": "en-US", "date_format": "M/d/yyyy", "version": "0.37.8",
            "runtime": "1.4"}
    calls = json.load(sys.stdin)
    results = [asyncio.run(custom_functions_call({**base, "func_name": name, "args": args}, module))
               for name, args in calls]
    print(json.dumps({"results": results, "meta": custom_functions_meta(module)}))
""")

HEAD = ["claim_id", "patient_id", "dos", "payer", "dx1", "dx2", "cpt1", "disc_disorder_confirmed",
        "laterality"]
NA = {"type": "Error", "errorType": "NotAvailable", "message": "#N/A"}
REF = {"type": "Error", "basicType": "Error", "basicValue": "#REF!", "errorType": "Ref"}
# Office.js: every argument is 2-D, integers are ints, dates are serial numbers, empty is null.
CALLS = [
    ("claim_status", [[HEAD], [["C1", "P1", 46091, "Aetna", "M54.17", None, 64483, "Y", "R"]]]),
    ("claim_status", [[HEAD], [["C2", "P1", 46091, "Aetna", "M54.17", None, 99214, "N", "R"]]]),
    ("claim_status", [[HEAD], [["C3", "P1", NA, "Aetna", "M54.17", None, 99214, "N", "R"]]]),
    ("claim_findings", [[HEAD], [["C1", "P1", 46091, "Aetna", "M54.17", "M51.17", 64483, "Y", "R"]]]),
    ("claim_status_table", [[HEAD,
                             ["C1", "P1", 46091, "Aetna", "M54.17", None, 64483, "Y", "R"],
                             [None] * 9,
                             ["C2", "P2", 46091, "Aetna", "M54.17", None, 99214, "N", "R"]]]),
    ("icd_title", [[["M5417"]], [[None]]]),
    ("icd_valid", [[["M54.5"]], [[44571]]]),   # 2022-01-10: M54.5 was deleted as a code (C103)
    ("icd_billable", [[["M54.5"]], [[44571]]]),
    ("icd_billable", [[["M54.5"]], [[44348]]]),  # 2021-06-01
    ("icd_electronic", [[["m54.17"]]]),
    ("icd_dotted", [[["M5417"]]]),
    ("icd_excludes1", [[["M54.17"]], [["M51.17"]]]),
    ("icd_title", [[[NA]]]),
    ("claim_status", [[["a", "b"]], [[1, 2]]]),
    ("claim_status", [[HEAD], [["C4", "P1", 46091, "Aetna", "M51.17", NA, 99214, "N", "R"]]]),
    ("icd_valid", [[[NA]], [[46091]]]),
    ("icd_billable", [[[REF]]]),
    ("icd_title", [[["M5417"]], [[NA]]]),
    ("icd_excludes1", [[["M54.17"]], [[REF]]]),
    ("icd_dotted", [[[None]]]),
]
FUNCTIONS = {"CLAIM_STATUS", "CLAIM_FINDINGS", "CLAIM_STATUS_TABLE", "ICD_TITLE", "ICD_VALID",
             "ICD_BILLABLE", "ICD_ELECTRONIC", "ICD_DOTTED", "ICD_EXCLUDES1", "NCCI_PAIR"}


@pytest.fixture(scope="module")
def officejs():
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial"}
    out = subprocess.run([sys.executable, "-c", OFFICEJS], input=json.dumps(CALLS), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_officejs_claim_functions(officejs):
    r = officejs["results"]
    assert r[0] == [["ERROR S301: disc disorder confirmed - use M51.17"]]
    assert r[1] == [["OK"]]
    assert r[2][0][0].startswith("ERROR C109")  # the date cell held #N/A: date missing
    findings = r[3]
    assert findings[0] == ["Rule", "Severity", "Message", "Suggestion"]
    assert {row[0] for row in findings[1:]} >= {"S301", "X201"}


def test_officejs_status_table_spills_one_column(officejs):
    table = officejs["results"][4]
    assert [len(row) for row in table] == [1, 1, 1]
    assert table[0][0].startswith("ERROR S301")
    assert table[1][0] == ""
    assert table[2][0] == "OK"


def test_officejs_icd_functions(officejs):
    r = officejs["results"]
    assert r[5] == [["Radiculopathy, lumbosacral region"]]
    assert r[6] == [[False]] and r[7] == [[False]] and r[8] == [[True]]
    assert r[9] == [["M5417"]] and r[10] == [["M54.17"]]
    assert r[11][0][0].startswith("M54.1 Excludes1:")
    assert r[19] == [[""]]  # an empty cell is blank


def test_officejs_error_cells_are_named_by_every_icd_function(officejs):
    """xlwings' default conversion would turn the error object into None (a blank cell);
    the functions take their arguments raw, so the cell says which error it was given."""
    r = officejs["results"]
    assert r[12] == [["xlsheets: the code cell holds the Excel error #N/A"]]
    assert r[15] == [["xlsheets: the code cell holds the Excel error #N/A"]]  # not FALSE
    assert r[16] == [["xlsheets: the code cell holds the Excel error #REF!"]]
    assert r[17] == [["xlsheets: date of service: the date cell holds the Excel error #N/A"]]
    assert r[18] == [["xlsheets: the code cell holds the Excel error #REF!"]]


def test_officejs_failure_is_text_not_value_error(officejs):
    assert officejs["results"][13][0][0].startswith("xlsheets: the header row has no diagnosis")


def test_officejs_error_cell_in_a_row_is_named(officejs):
    text = officejs["results"][14][0][0]
    assert text.startswith("ERROR E101") and "#N/A" in text and "NotAvailable" not in text


def test_officejs_metadata_lists_every_function_with_help(officejs):
    funcs = {f["name"]: f for f in officejs["meta"]["functions"]}
    assert set(funcs) == FUNCTIONS
    for f in funcs.values():
        assert f["description"] and not f["description"].startswith("Python function")
        for p in f["parameters"]:
            assert p["description"] and not p["description"].startswith("Positional argument"), (f["name"], p)
    assert [p["name"] for p in funcs["ICD_TITLE"]["parameters"]] == ["code", "dos"]
    assert funcs["ICD_TITLE"]["parameters"][1].get("optional") is True
    assert "optional" not in funcs["ICD_TITLE"]["parameters"][0]
    assert not any(f["options"].get("volatile") for f in funcs.values())


CLASSIC = textwrap.dedent("""
    import io, sys, types
    # xlwings.udfs (classic, BSD) imports pywin32 at import time; stand-ins let it load here.
    for name in ("pythoncom", "pywintypes", "win32com", "win32com.client"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["pythoncom"].CoInitialize = lambda: None
    sys.modules["win32com.client"].Dispatch = None
    import xlwings, xlwings.udfs as classic
    xlwings.func, xlwings.arg, xlwings.ret = classic.xlfunc, classic.xlarg, classic.xlret
    import xlsheets.udfs as module
    out = io.StringIO()
    book = types.SimpleNamespace(Name="Claims.xlsm", FullName="C:\\\\Claims.xlsm")
    classic.generate_vba_wrapper("xlsheets.udfs", module, out, book)
    print(out.getvalue())
    print("CONVERT", module.claim_status_table.__xlfunc__["args"][0]["options"].get("convert"))
""")


def test_classic_import_functions_writes_a_vba_wrapper_per_function():
    out = subprocess.run([sys.executable, "-c", CLASSIC], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    vba = out.stdout
    for name in FUNCTIONS:
        assert f"Function {name.lower()}(" in vba
    assert "Function icd_title(code, Optional dos)" in vba
    assert "Function claim_status(headers, row)" in vba
    assert 'XLPy.CallUDF("xlsheets.udfs", "claim_status_table", Array(table)' in vba
    assert "Application.Volatile" not in vba
    assert "CONVERT raw" in vba  # ranges reach us unconverted (xlsheets.values reads them)


NCCI_CALLS = [
    ("ncci_pair", [[["62323"]], [[77003]], [[46091]]]),      # 2026-03-10, a number as Excel sends it
    ("ncci_pair", [[["77003"]], [["62323-59"]], [[None]]]),  # either order, a modifier on the code
    ("ncci_pair", [[["62323"]], [["99213"]], [[46091]]]),    # no edit: empty
    ("ncci_pair", [[["6232"]], [["77003"]], [[46091]]]),
    ("ncci_pair", [[[REF]], [["77003"]], [[46091]]]),
    ("ncci_pair", [[[None]], [["77003"]], [[46091]]]),
    ("claim_status_table", [[["claim_id", "patient_id", "dos", "dx1", "cpt1", "cpt2"],
                             ["A1", "P1", 46091, "M54.17", 62323, 77003],
                             ["A2", "P2", 46091, "M54.17", 62323, None],
                             ["A3", "P2", 46091, "M54.17", 77003, None]]]),
    ("claim_status", [[["claim_id", "dos", "dx1", "cpt1"]], [["A1", 46091, "M54.17", "64483-RT x2"]]]),
]


def test_officejs_ncci_pair_and_claim_status_with_imported_files(tmp_path):
    from pathlib import Path
    from xlsheets.ncci import import_files
    fix = Path(__file__).parent / "fixtures" / "ncci"
    import_files([fix / "sample-not-cms-data_ptp-practitioner-2026q1.zip",
                  fix / "sample-not-cms-data_mue-practitioner-2026q1.csv"], tmp_path / "data")
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "XLSHEETS_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", OFFICEJS], input=json.dumps(NCCI_CALLS), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["results"]
    assert r[0][0][0].startswith("77003 is column 2 of 62323") and "modifier indicator 0" in r[0][0][0]
    assert "NCCI PTP practitioner 2026Q1" in r[0][0][0]
    assert r[1][0][0].startswith("77003 is column 2 of 62323")
    assert r[2] == [[""]]
    assert r[3] == [["xlsheets: '6232' is not a CPT/HCPCS code"]]
    assert r[4] == [["xlsheets: the code cell holds the Excel error #REF!"]]
    assert r[5] == [[""]]
    table = [row[0] for row in r[6]]
    assert table[0].startswith("ERROR N501")          # the pair on one claim
    assert table[1] == "OK" and table[2].startswith("ERROR N501")  # across the patient's rows
    assert r[7][0][0].startswith("ERROR N502")


def test_officejs_ncci_pair_without_files_says_how_to_load(tmp_path):
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "XLSHEETS_DATA_DIR": str(tmp_path / "none")}
    out = subprocess.run([sys.executable, "-c", OFFICEJS], input=json.dumps(NCCI_CALLS[:1]), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0][0][0] == (
        "xlsheets: no NCCI PTP file is loaded: import the CMS files with 'xlsheets ncci import "
        "FILE...', then restart Excel (xlwings Lite: add the NCCI data wheel, 'xlsheets ncci wheel', "
        "to the requirements.txt tab)")
