"""The committed templates match their generators, and the template is what a biller needs."""
from __future__ import annotations

import sys
from pathlib import Path

import openpyxl

from xlsheets.cli import main
from xlsheets.template import COLUMNS, build_template

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))


def _content(path):
    """What matters in a workbook: values and formulas, formats, validations, conditional formats."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        cells = {}
        for row in ws.iter_rows():
            for c in row:
                value = c.value
                if hasattr(value, "text"):  # ArrayFormula
                    value = ("array", value.ref, value.text)
                if value is not None or c.number_format != "General":
                    cells[c.coordinate] = (value, c.number_format)
        dvs = sorted((dv.type, dv.formula1, str(dv.sqref)) for dv in ws.data_validations.dataValidation)
        cfs = sorted((str(rng.sqref), tuple(r.formula)) for rng in ws.conditional_formatting for r in rng.rules)
        out[ws.title] = (cells, dvs, cfs, ws.freeze_panes, ws.auto_filter.ref)
    return out


def test_committed_template_matches_generator(tmp_path):
    out = tmp_path / "claims.xlsx"
    assert main(["template", str(out)]) == 0
    assert _content(out) == _content(ROOT / "templates" / "claims.xlsx")


def test_committed_sample_matches_generator(tmp_path):
    import make_sample
    out = tmp_path / "sample.xlsx"
    assert make_sample.main([str(out)]) == 0
    assert _content(out) == _content(ROOT / "templates" / "sample_claims.xlsx")


def test_template_layout(tmp_path):
    path = tmp_path / "t.xlsx"
    build_template().save(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Claims", "Status (fast)", "Instructions"]
    ws = wb["Claims"]
    header = [c.value for c in ws[1]]
    assert header[:len(COLUMNS)] == [name for name, _k, _d in COLUMNS] and header[-1] == "Status"
    status = ws.cell(2, len(header)).value
    assert status.text == "=CLAIM_STATUS($A$1:$AD$1,A2:AD2)"
    table = wb["Status (fast)"]["A2"].value
    assert table.text == "=CLAIM_STATUS_TABLE(Claims!A1:AD201)" and table.ref == "A2:A201"
    lists = {dv.formula1: str(dv.sqref) for dv in ws.data_validations.dataValidation if dv.type == "list"}
    assert "Q2:Q201" in lists['"Y,N"'] and lists['"L,R,B"'] == "M2:M201"
    assert ws["C2"].number_format == "yyyy-mm-dd"
    rules = [r.formula[0] for rng in ws.conditional_formatting for r in rng.rules]
    assert 'LEFT(AE2,5)="ERROR"' in rules and 'LEFT(AE2,2)="OK"' in rules
    text = " ".join(str(c.value) for row in wb["Instructions"].iter_rows() for c in row if c.value)
    assert "xlwings Lite" in text and "Import Functions" in text
    for name, _k, _d in COLUMNS:
        assert name in text


def test_template_headers_are_all_recognised():
    from xlsheets.claims import HeaderMap
    hmap = HeaderMap.from_row([name for name, _k, _d in COLUMNS])
    assert hmap.unknown == [] and len(hmap.present) == len(COLUMNS)


def test_template_refuses_other_formats(tmp_path, capsys):
    assert main(["template", str(tmp_path / "t.csv")]) == 2
