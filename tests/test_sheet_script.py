"""The "Validate sheet" script, without Excel, through xlwings' remote-book interface.

A workbook as the add-in describes it (``xw.Book(json=...)``) goes through
``custom_scripts_call`` with the main.py that `xlsheets lite` writes, as xlwings Lite runs a
script; the test reads the actions the script sends back to Excel: which cells, which sheets,
and that nothing outside its own column and sheets is written.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from test_lite import run_cli

pytest.importorskip("xlwings")

RUNNER = textwrap.dedent("""
    import asyncio, importlib, json, sys
    sys.path.insert(0, sys.argv[1])
    import xlwings as xw
    from xlwings.server import custom_scripts_call, custom_scripts_meta
    main = importlib.import_module("main")
    out = []
    for book_json in json.load(sys.stdin):
        book = xw.Book(json=book_json)
        try:
            asyncio.run(custom_scripts_call(main, "validate_sheet", typehint_to_value={xw.Book: book}))
            out.append({"actions": book.json()["actions"]})
        except Exception as exc:
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps({"runs": out, "meta": custom_scripts_meta(main)}))
""")

HEAD = ["claim_id", "patient_id", "dos", "payer", "dx1", "dx2", "cpt1", "disc_disorder_confirmed"]
ROWS = [["C1", "P1", 46091, "Aetna", "M54.17", None, 64483, "Y"],
        ['=HYPERLINK("http://x","y")', "P2", 46091, "Aetna", "M54.17", None, 99214, "Y"],
        [None] * 8,
        ["C3", "P3", 46091, "Aetna", "M54.16", "M54.17", 99214, None]]


def sheet(name, values):
    return {"name": name, "values": values, "pictures": [], "tables": [], "charts": [], "shapes": []}


def book(*sheets, active=0):
    return {"client": "Office.js", "version": "0.37.8",
            "book": {"name": "Claims.xlsx", "active_sheet_index": active, "selection": "A1"},
            "names": [], "sheets": list(sheets)}


@pytest.fixture(scope="module")
def lite_main(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lite")
    assert run_cli("lite", str(folder)).returncode == 0
    return folder


def run(lite_main, tmp_path, *books):
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "XLSHEETS_NO_ENTRY_POINTS": "1", "XDG_CONFIG_HOME": str(tmp_path / "nocfg")}
    env.pop("XLSHEETS_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(lite_main)], input=json.dumps(list(books)),
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def writes(actions, position):
    return [a for a in actions if a["sheet_position"] == position and a["func"] in ("setValues", "setFormula")]


def test_the_script_is_listed_for_the_add_in(lite_main, tmp_path):
    meta = run(lite_main, tmp_path)["meta"]
    assert [m["function_name"] for m in meta] == ["validate_sheet"] and meta[0]["name"] == "Validate sheet"


def test_a_sheet_button_registers_the_same_script(tmp_path):
    """docs/excel.md: one line at the end of main.py ties the script to a shape on the sheet."""
    assert run_cli("lite", str(tmp_path / "lite")).returncode == 0
    main_py = tmp_path / "lite" / "main.py"
    main_py.write_text(main_py.read_text() + 'validate_sheet = xlsheets.sheet_script.sheet_button("[ValidateButton]Claims!M1")\n')
    result = run(tmp_path / "lite", tmp_path, book(sheet("Claims", [HEAD, *ROWS])))
    (meta,) = result["meta"]
    assert meta["button"] == "[ValidateButton]Claims!M1" and meta["name"] == "Validate sheet"
    assert writes(result["runs"][0]["actions"], 0)[0]["values"][0] == ["xlsheets status"]


def test_first_run_writes_a_status_column_findings_and_summary_and_nothing_else(lite_main, tmp_path):
    (result,) = run(lite_main, tmp_path, book(sheet("Claims", [HEAD, *ROWS]), sheet("Notes", [["my notes"]])))["runs"]
    actions = result["actions"]
    # On the claims sheet: one write, the column right of the table, values only.
    (status,) = writes(actions, 0)
    assert status["func"] == "setValues" and (status["start_row"], status["start_column"]) == (0, len(HEAD))
    assert status["column_count"] == 1
    column = [row[0] for row in status["values"]]
    assert column[0] == "xlsheets status"
    assert column[1].startswith("ERROR S301") and column[3] == "" and column[4].startswith("WARNING")
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in column)
    assert not writes(actions, 1)  # the user's Notes sheet: untouched
    added = [a["args"][1] for a in actions if a["func"] == "addSheet"]
    assert added == ["Findings", "Summary"]
    assert not [a for a in actions if a["func"] in ("sheetDelete", "sheetClear", "rangeClear", "rangeClearContents")]
    # Findings: one row per finding, the row number linking to the claim's row.
    values = next(a for a in writes(actions, 2) if a["start_row"] == 2)["values"]
    assert values[0] == ["Row", "Claim", "Payer", "Rule", "Severity", "Message", "Codes", "Suggestion"]
    by_rule = {(r[0], r[3]) for r in values[1:]}
    assert (2, "S301") in by_rule and (3, "S301") in by_rule
    claim_ids = {r[1] for r in values[1:]}
    assert "'=HYPERLINK(\"http://x\",\"y\")" in claim_ids  # the claim ID stays text
    (links,) = [a for a in actions if a["func"] == "setFormula"]
    assert links["sheet_position"] == 2 and links["start_column"] == 0 and links["start_row"] == 3
    assert links["values"][0] == ['=HYPERLINK("#\'Claims\'!A2",2)']
    assert len(links["values"]) == len(values) - 1
    # Summary: counts and a chart of findings by rule.
    summary = writes(actions, 3)[0]["values"]
    start = summary.index(["Claims by status", "Claims"])
    assert summary[start + 1:start + 5] == [["error", 2], ["warning", 1], ["info", 0], ["ok", 0]]
    start = summary.index(["Findings by rule", "Findings"])
    assert ["S301", 2] in summary[start:]
    assert summary[1][0] == "3 claims in 4 rows (one claim per row)"
    (chart,) = [a for a in actions if a["func"] == "addChart"]
    assert chart["args"][1] == "BarClustered" and chart["args"][2] == "Summary"


def test_a_rerun_replaces_what_it_wrote_and_only_that(lite_main, tmp_path):
    (first,) = run(lite_main, tmp_path, book(sheet("Claims", [HEAD, *ROWS])))["runs"]
    status = writes(first["actions"], 0)[0]["values"]
    # The workbook after the first run, one claim row fewer, and a user's own "Summary" sheet.
    claims = [row + status[i] for i, row in enumerate([HEAD, *ROWS])]
    claims[4] = [None] * (len(HEAD) + 1)
    rerun = book(sheet("Claims", claims), sheet("Findings", [["xlsheets: findings ..."]]),
                 sheet("Summary", [["Q3 budget"]]), sheet("xlsheets Summary", [["xlsheets: summary ..."]]))
    (second,) = run(lite_main, tmp_path, rerun)["runs"]
    actions = second["actions"]
    (col,) = writes(actions, 0)
    assert col["start_column"] == len(HEAD)  # the same column, not one further right
    assert [r[0] for r in col["values"]][4] == ""  # the removed claim leaves no stale status
    deleted = [a["sheet_position"] for a in actions if a["func"] == "sheetDelete"]
    assert deleted == [3, 1]  # its own xlsheets Summary and Findings, last first; not the user's Summary
    assert not writes(actions, 1)  # the user's Summary (position 1 once Findings is gone): untouched
    assert [a["args"][1] for a in actions if a["func"] == "addSheet"] == ["Findings", "xlsheets Summary"]


def test_the_active_sheet_decides_and_a_title_row_above_the_header_is_fine(lite_main, tmp_path):
    titled = [["Claims for March", None], [None, None], HEAD, *ROWS]
    (result,) = run(lite_main, tmp_path,
                    book(sheet("Instructions", [["How to use"]]), sheet("March", titled), active=1))["runs"]
    (status,) = writes(result["actions"], 1)
    assert status["start_row"] == 2 and status["values"][1][0].startswith("ERROR S301")


def test_a_line_level_sheet_is_grouped_into_claims(lite_main, tmp_path):
    head = ["Claim ID", "Patient", "DOS", "Payer", "Dx 1", "CPT/HCPCS", "Modifier", "Units"]
    lines = [head, ["A1", "P1", 46091, "Aetna", "M51.16", 64483, "RT", 1],
             ["A1", "P1", 46091, "Aetna", "M51.16", 64484, "RT", 1],
             ["B1", "P2", 46091, "Aetna", "M51.16", 64484, "RT", 1]]
    (result,) = run(lite_main, tmp_path, book(sheet("Export", lines)))["runs"]
    column = [r[0] for r in writes(result["actions"], 0)[0]["values"]]
    assert column[3].startswith("ERROR C111")  # 64484 without its primary, on its own line
    assert not column[1].startswith("ERROR C111") and not column[2].startswith("ERROR C111")
    summary = writes(result["actions"], 2)[0]["values"]
    assert summary[1][0] == "2 claims in 3 rows (one service line per row)"


def test_no_claims_table_is_said_in_plain_words(lite_main, tmp_path):
    (result,) = run(lite_main, tmp_path, book(sheet("Budget", [["Item", "Cost"], ["Rent", 100]])))["runs"]
    assert "no claims table" in result["error"] and "Budget" in result["error"]


def test_a_misspelt_setting_stops_the_script_with_the_configuration_error(tmp_path):
    """main.py's settings with a key no rule reads: the script writes nothing and says which key,
    with the nearest known name (as the command line does), instead of checking with a default."""
    from test_lite import pasted_main
    folder = pasted_main(tmp_path / "lite", "\n[settings]\nchronic_pain_week = 8\n", [])
    (result,) = run(folder, tmp_path, book(sheet("Claims", [HEAD, *ROWS])))["runs"]
    assert "actions" not in result
    assert "[settings] chronic_pain_week = 8" in result["error"]
    assert "did you mean chronic_pain_weeks?" in result["error"]


def test_the_summary_says_when_claims_are_dated_after_the_newest_ncci_quarter(lite_main, tmp_path, monkeypatch):
    """The sample NCCI sets are 2026Q1 (to 2026-03-31). A claim of 2026-05-04 was checked
    against them: the Summary says so under Not checked, as `xlsheets validate` does; a sheet
    within the quarter says nothing of it."""
    from test_ncci import AOC, MUE, PTP_ZIP, xlsheets
    data = tmp_path / "data"
    assert xlsheets("ncci", "import", PTP_ZIP, MUE, AOC, data_dir=data)[0] == 0
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(data))
    head = ["claim_id", "patient_id", "dos", "payer", "dx1", "cpt1"]
    march = ["A1", "P1", 46091, "Aetna", "M54.17", "64483-RT"]  # 2026-03-10
    may = ["A2", "P2", 46146, "Aetna", "M54.17", "64483-RT"]  # 2026-05-04
    later, within = run(lite_main, tmp_path, book(sheet("Claims", [head, march, may])),
                        book(sheet("Claims", [head, march])))["runs"]

    def not_checked(result):
        summary = writes(result["actions"], 2)[0]["values"]  # Claims, Findings, Summary
        return [row[0] for row in summary[summary.index(["Not checked", ""]) + 1:]]

    lines = not_checked(later)
    behind = [line for line in lines if line.startswith("NCCI edits older than some dates of service")]
    assert len(behind) == 3, lines
    assert all("is for dates of service to 2026-03-31" in line and "2026-05-04" in line for line in behind)
    assert not any("NCCI" in line for line in not_checked(within)), not_checked(within)
