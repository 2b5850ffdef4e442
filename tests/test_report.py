"""The report workbook: opened with openpyxl as a reviewer's Excel would open it."""
from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from xlsheets.cli import main
from xlsheets.report import STATUS_COLOURS

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "templates" / "sample_claims.xlsx"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    source = folder / "claims.xlsx"
    shutil.copy(SAMPLE, source)
    before = source.read_bytes()
    out = folder / "report.xlsx"
    assert main(["validate", str(source), "-o", str(out)]) == 1
    assert source.read_bytes() == before  # input untouched
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp file left
    return openpyxl.load_workbook(out)


def _col(ws, name):
    return next(c.column for c in ws[1] if c.value == name)


def test_sheets(report):
    assert report.sheetnames == ["Claims", "Findings", "Summary"]


def test_claims_sheet_keeps_input_and_adds_status_and_findings(report):
    ws = report["Claims"]
    # the sample has the template's own "Status" formula column: ours are named apart
    status, findings = _col(ws, "xlsheets status"), _col(ws, "Findings")
    assert findings == status + 1 and _col(ws, "Status") < status
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref.startswith("A1:") and ws.auto_filter.ref.endswith("34")
    by_id = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    ok = by_id["C-OK-001"]
    bad = by_id["C-S301-019"]
    warn = by_id["C-S303-021"]
    assert ws.cell(ok, status).value == "OK"
    assert ws.cell(bad, status).value == "Error"
    assert "ERROR S301: disc disorder confirmed - use M51.17" in ws.cell(bad, findings).value
    assert ws.cell(warn, status).value == "Warning"
    # colour by severity
    assert ws.cell(bad, status).fill.fgColor.rgb.endswith(STATUS_COLOURS["error"][0])
    assert ws.cell(warn, status).fill.fgColor.rgb.endswith(STATUS_COLOURS["warning"][0])
    assert ws.cell(ok, status).fill.fgColor.rgb.endswith(STATUS_COLOURS["ok"][0])
    # input values come through with their types (dates stay dates)
    assert ws.cell(ok, 3).is_date and ws.cell(ok, 6).value == "M51.17"
    # the input's own formula column is not carried over as live formulas
    assert not any(isinstance(c.value, str) and c.value.startswith("=")
                   for row in ws.iter_rows(min_row=2) for c in row)


def test_findings_sheet_links_each_finding_to_its_claim_row(report):
    ws = report["Findings"]
    assert [c.value for c in ws[1]][:6] == ["Row", "Claim ID", "Payer", "Rule", "Severity", "Message"]
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) >= 26  # every faulty sample claim
    s301 = next(r for r in rows if r[3].value == "S301")
    assert s301[1].value == "C-S301-019"
    assert s301[0].hyperlink.location == "'Claims'!A20"
    assert str(s301[0].value) == "20"
    assert s301[4].value == "error"


def test_summary_counts_and_chart(report):
    ws = report["Summary"]
    cells = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert cells["OK"] == 5
    assert cells["S301"] == 1 and cells["D406"] == 1
    assert "Aetna" in cells and "Medicare" in cells
    charts = ws._charts
    assert len(charts) == 1
    assert charts[0].tagname == "barChart"


def test_formula_text_in_input_is_neutralised(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Claim ID,DOS,Dx1,CPT1\n=HYPERLINK(\"http://x\"),2026-03-10,M54.1,99213\n")
    out = tmp_path / "out.xlsx"
    assert main(["validate", str(src), "-o", str(out)]) == 1
    ws = openpyxl.load_workbook(out)["Claims"]
    assert ws["A2"].value == "'=HYPERLINK(\"http://x\")" and ws["A2"].data_type == "s"


def test_failed_report_leaves_previous_output_alone(tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    src.write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10,M54.1,99213\n")
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"previous report")
    import xlsheets.report as report_module

    def broken(self):
        raise OSError("disk full")
    monkeypatch.setattr(report_module._Report, "_summary_sheet", broken)
    assert main(["validate", str(src), "-o", str(out)]) == 2
    assert out.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
