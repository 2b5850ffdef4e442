"""The report workbook: opened with openpyxl as a reviewer's Excel would open it."""
from __future__ import annotations

import datetime as dt
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
    from xlsheets.ncci import reset_ncci
    with pytest.MonkeyPatch.context() as mp:  # no NCCI files, whatever this machine has imported
        mp.setenv("XLSHEETS_DATA_DIR", str(tmp_path_factory.mktemp("nodata")))
        reset_ncci()
        assert main(["validate", str(source), "-o", str(out)]) == 1
    reset_ncci()
    assert source.read_bytes() == before  # input untouched
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp file left
    return openpyxl.load_workbook(out)


def _col(ws, name, row=1):
    return next(c.column for c in ws[row] if c.value == name)


def _cells(ws):
    return [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]


def test_sheets_summary_first(report):
    assert report.sheetnames == ["Summary", "Claims", "Findings", "Rules"]


def test_claims_sheet_status_right_after_claim_id_and_input_status_column_dropped(report):
    ws = report["Claims"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["claim_id", "Status", "Findings"]
    # the template's own Status formula column (only #NAME? outside Excel) is left out
    assert header.count("Status") == 1 and "xlsheets status" not in header
    assert header[3:6] == ["patient_id", "dos", "payer"]  # the other input columns, in order
    by_id = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    ok, bad, warn = by_id["C-OK-001"], by_id["C-S301-019"], by_id["C-S303-021"]
    assert bad == 20  # rows keep their input row numbers
    assert ws.cell(ok, 2).value == "OK"
    assert ws.cell(bad, 2).value == "Error"
    assert "ERROR S301: disc disorder confirmed - use M51.17" in ws.cell(bad, 3).value
    assert ws.cell(warn, 2).value == "Warning"
    assert ws.cell(bad, 2).fill.fgColor.rgb.endswith(STATUS_COLOURS["error"][0])
    assert ws.cell(warn, 2).fill.fgColor.rgb.endswith(STATUS_COLOURS["warning"][0])
    assert ws.cell(ok, 2).fill.fgColor.rgb.endswith(STATUS_COLOURS["ok"][0])
    # input values keep their types and number formats (dates stay dates)
    dos = _col(ws, "dos")
    assert ws.cell(ok, dos).is_date and ws.cell(ok, dos).number_format == "yyyy-mm-dd"
    assert ws.cell(ok, _col(ws, "dx1")).value == "M51.17"
    assert not any(isinstance(c, str) and c.startswith("=") for c in _cells(ws))
    # the Summary says the input's Status column was left out, and why
    summary = _cells(report["Summary"])
    assert "Left out of the Claims sheet" in summary and "Status" in summary


def test_claims_sheet_one_finding_per_line_wrapped_with_fitting_row_height(report):
    ws = report["Claims"]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "C-X203-018")
    cell = ws.cell(row, 3)
    assert cell.value.split("\n")[0].startswith("ERROR X201") and "\nERROR X203" in cell.value
    assert cell.alignment.wrap_text and cell.alignment.vertical == "top"
    assert ws.row_dimensions[row].height >= 15 * 3  # two findings, one of them over two lines
    assert ws.row_dimensions[1].height and ws.row_dimensions[1].height >= 15  # header fits


def test_claims_sheet_frozen_filtered_and_printable(report):
    ws = report["Claims"]
    assert ws.freeze_panes == "C2"  # header row, claim ID and Status stay in view
    assert ws.auto_filter.ref.startswith("A1:") and ws.auto_filter.ref.endswith("34")
    assert ws.print_title_rows == "$1:$1" and ws.print_title_cols == "$A:$B"
    assert ws.page_setup.orientation == "landscape"


def test_claims_sheet_keeps_the_inputs_column_widths(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Claims"
    ws.append(["Claim ID", "DOS", "Payer", "Dx1", "CPT1", "Charge"])
    ws.append(["W-1", dt.datetime(2026, 3, 10), "UnitedHealthcare", "M54.17", "99213", 125.5])
    ws.append(["W-2", dt.datetime(2026, 3, 11), "Aetna", "M54.1", "99213", 80])
    ws.column_dimensions["A"].width = 21
    ws.column_dimensions["C"].width = 27
    ws.column_dimensions["F"].width = 14
    for r in (2, 3):
        ws.cell(r, 2).number_format = "mm/dd/yyyy"
        ws.cell(r, 6).number_format = "#,##0.00"
    src, out = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    wb.save(src)
    assert main(["validate", str(src), "-o", str(out)]) == 1
    claims = openpyxl.load_workbook(out)["Claims"]
    assert [c.value for c in claims[1]] == ["Claim ID", "Status", "Findings", "DOS", "Payer", "Dx1",
                                            "CPT1", "Charge"]
    width = {c: claims.column_dimensions[c].width for c in "ADEH"}
    assert width["A"] == pytest.approx(21, abs=1) and width["E"] == pytest.approx(27, abs=1)
    assert width["H"] == pytest.approx(14, abs=1)
    assert claims["D2"].number_format == "mm/dd/yyyy" and claims["H2"].number_format == "#,##0.00"
    assert claims["H2"].value == 125.5 and claims["C3"].value.startswith("ERROR C102")


def test_findings_sheet_numeric_row_links_and_wrapped_text(report):
    ws = report["Findings"]
    header = [c.value for c in ws[1]]
    assert header[:7] == ["Row", "Claim ID", "Payer", "Severity", "Rule", "Rule name", "Message"]
    assert "What to do" in header
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) >= 26  # every faulty sample claim
    s301 = next(r for r in rows if r[4].value == "S301")
    assert s301[1].value == "C-S301-019"
    assert s301[0].value == 20 and isinstance(s301[0].value, int)  # a number: sorts right
    assert s301[0].hyperlink.location == "'Claims'!A20"
    assert s301[3].value == "error"
    assert s301[5].value == "Radiculopathy with disc disorder"
    message = s301[header.index("Message")]
    assert message.alignment.wrap_text and "M51.17" in message.value
    assert ws.column_dimensions["G"].width >= 40  # the message column is wide enough to read
    assert ws.freeze_panes == "C2" and ws.print_title_rows == "$1:$1"


def test_summary_headline_rule_names_and_chart(report):
    ws = report["Summary"]
    cells = _cells(ws)
    # no NCCI files here: the N rules, listed under what could not be checked, are counted
    assert "33 claims: 17 will be rejected, 10 to review, 6 ready (3 rules could not run: see below)" in cells
    # findings by rule: the name, the count, the share, what to do
    row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "C102 Header code")
    assert "not billable" in ws.cell(row, 2).value
    assert ws.cell(row, 3).value == 1  # M54.1; M54.5 on 2022-01-10 is C103 alone (one problem, one finding)
    assert ws.cell(row, 4).value == pytest.approx(1 / 29) and ws.cell(row, 4).number_format == "0%"
    assert ws.cell(row, 6).value.startswith("choose the billable child")
    assert "S301 Radiculopathy with disc disorder" in cells
    charts = ws._charts
    assert len(charts) == 1 and charts[0].tagname == "barChart"
    categories = charts[0].series[0].cat.numRef or charts[0].series[0].cat.strRef
    assert categories.f.startswith("Summary!$A$")  # bars labelled with the rule names
    # how it was checked: configuration, plugins and code sets in force
    assert "Configuration" in cells and "built-in defaults" in cells
    assert any(isinstance(c, str) and c.startswith("ICD-10-CM") for c in cells)
    assert "Columns not used" in cells
    # each code set's label sits beside its wrapped description, not below it
    labels = [ws.cell(r, 1) for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value in ("Code set", "CPT/HCPCS list")]
    assert labels and all(c.alignment.vertical == "top" for c in labels)


def test_rules_sheet_is_a_legend_of_the_rules_that_fired(report):
    ws = report["Rules"]
    assert [c.value for c in ws[1]][:6] == ["Rule", "Name", "Severity", "Findings", "What it checks",
                                            "How to fix"]
    rules = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert len(rules) == 28 and "C102" in rules and "D406" in rules
    assert rules["C102"][1] == "Header code" and rules["C102"][2] == "error" and rules["C102"][3] == 1
    assert rules["C102"][5].startswith("choose the billable child")


def test_claims_by_configured_payer_with_the_spellings_matched(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Claim ID,DOS,Dx1,CPT1,Payer\n"
                   "H1,2026-03-10,M54.1,99213,HUMANA\nH2,2026-03-10,M54.17,99213,Humana\n"
                   "H3,2026-03-10,M54.17,99213,Humana Gold Plus\nA1,2026-03-10,M54.17,99213,Aetna\n")
    cfg = tmp_path / "xlsheets.toml"
    cfg.write_text('[payers.humana]\nmatch = ["humana*"]\n')
    out = tmp_path / "out.xlsx"
    assert main(["validate", str(src), "--config", str(cfg), "-o", str(out)]) == 1
    ws = openpyxl.load_workbook(out)["Summary"]
    rows = {r[0]: r for r in ws.iter_rows(values_only=True) if r[0]}
    assert rows["humana"][1] == "HUMANA, Humana, Humana Gold Plus" and rows["humana"][2] == 3
    assert rows["humana"][3] == 1  # H1's M54.1 is not billable
    assert rows["Aetna (no payer section)"][2] == 1


def test_formula_text_in_input_is_neutralised(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Claim ID,DOS,Dx1,CPT1\n=HYPERLINK(\"http://x\"),2026-03-10,M54.1,99213\n")
    out = tmp_path / "out.xlsx"
    assert main(["validate", str(src), "-o", str(out)]) == 1
    wb = openpyxl.load_workbook(out)
    ws = wb["Claims"]
    assert ws["A2"].value == "'=HYPERLINK(\"http://x\")" and ws["A2"].data_type == "s"
    assert wb["Findings"]["B2"].value == "'=HYPERLINK(\"http://x\")"


def test_failed_report_leaves_previous_output_alone(tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    src.write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10,M54.1,99213\n")
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"previous report")
    import xlsheets.report as report_module

    def broken(self):
        raise OSError("disk full")
    monkeypatch.setattr(report_module._Report, "_rules_sheet", broken)
    assert main(["validate", str(src), "-o", str(out)]) == 2
    assert out.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
