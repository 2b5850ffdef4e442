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
        dvs = sorted((str(dv.type), str(dv.formula1), str(dv.sqref), dv.operator or "", dv.prompt or "",
                      dv.error or "") for dv in ws.data_validations.dataValidation)
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
    from openpyxl.utils import get_column_letter
    path = tmp_path / "t.xlsx"
    build_template().save(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Claims", "Status (fast)", "Instructions", "Lists"]
    ws = wb["Claims"]
    header = [c.value for c in ws[1]]
    assert header[:len(COLUMNS)] == [name for name, _k, _d in COLUMNS] and header[-1] == "Status"
    last, status_col = get_column_letter(len(COLUMNS)), get_column_letter(len(COLUMNS) + 1)
    status = ws.cell(2, len(header)).value
    assert status.text == f"=CLAIM_STATUS($A$1:${last}$1,A2:{last}2)"
    table = wb["Status (fast)"]["A2"].value
    assert table.text == f"=CLAIM_STATUS_TABLE(Claims!A1:{last}201)" and table.ref == "A2:A201"
    col = {name: get_column_letter(i) for i, name in enumerate(header, 1)}
    lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
    assert lists[f"{col['trauma']}2:{col['trauma']}201"] == '"Y,N"'
    assert lists[f"{col['laterality']}2:{col['laterality']}201"] == '"L,R,B"'
    assert ws["C2"].number_format == "yyyy-mm-dd" and ws[f"{col['pos']}2"].number_format == "@"
    rules = [r.formula[0] for rng in ws.conditional_formatting for r in rng.rules]
    assert f'LEFT({status_col}2,5)="ERROR"' in rules and f'LEFT({status_col}2,2)="OK"' in rules
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


# --- a whole professional claim ----------------------------------------------------------------
# Every documentation column of the claim worksheet (shared domain notes, section 2).
DOMAIN_FACTS = ["laterality", "nerve_root_level", "symptom_weeks", "conservative_care_weeks", "trauma",
                "disc_disorder_confirmed", "spondylolisthesis_confirmed", "stenosis_claudication",
                "radiating_pain", "slr_positive", "reflex_changes", "sensory_deficit", "motor_weakness",
                "telehealth", "functional_progress_weeks", "pt_visits_since_progress", "myofascial_pain",
                "pain_management_encounter"]


def _written(tmp_path, *argv, folder=None):
    import subprocess
    folder = folder or tmp_path
    out = folder / "claims.xlsx"
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "template", str(out), *argv],
                          capture_output=True, text=True, timeout=120, cwd=folder)
    assert done.returncode == 0, done.stderr
    return openpyxl.load_workbook(out), done.stdout


def test_the_template_holds_twelve_diagnoses_twelve_procedures_and_every_fact(tmp_path):
    wb, _ = _written(tmp_path)
    header = [c.value for c in wb["Claims"][1]]
    for n in range(1, 13):
        assert f"dx{n}" in header and f"cpt{n}" in header
    assert [h for h in DOMAIN_FACTS if h not in header] == []
    assert "red_flags" in header  # D401 reads it


def test_every_column_prompts_and_every_dropdown_says_what_it_wants(tmp_path):
    wb, _ = _written(tmp_path)
    ws = wb["Claims"]
    prompted = {}
    for dv in ws.data_validations.dataValidation:
        assert dv.showInputMessage and dv.prompt and dv.promptTitle, dv.sqref
        prompted[str(dv.sqref).split(":")[0].rstrip("0123456789")] = dv
    header = [c.value for c in ws[1]][:len(COLUMNS)]
    from openpyxl.utils import get_column_letter
    assert sorted(prompted) == sorted(get_column_letter(i) for i in range(1, len(header) + 1))
    for dv in prompted.values():
        if dv.type == "list":
            assert dv.showErrorMessage and dv.error


def test_place_of_service_offers_the_cms_codes(tmp_path):
    wb, _ = _written(tmp_path)
    ws = wb["Claims"]
    pos = next(dv for dv in ws.data_validations.dataValidation if dv.promptTitle == "pos")
    assert pos.type == "list" and pos.formula1.startswith("Lists!$A$2:$A$")
    last = int(pos.formula1.rsplit("$", 1)[1])
    codes = [wb["Lists"].cell(r, 1).value for r in range(2, last + 1)]
    assert {"02", "10", "11", "19", "21", "22", "23", "24", "31", "99"} <= set(codes)
    assert all(isinstance(c, str) and len(c) == 2 for c in codes)
    names = {wb["Lists"].cell(r, 1).value: wb["Lists"].cell(r, 2).value for r in range(2, last + 1)}
    assert names["11"] == "Office" and names["10"] == "Telehealth Provided in Patient's Home"


def test_payer_dropdown_lists_the_payers_of_the_configuration_found(tmp_path):
    (tmp_path / "xlsheets.toml").write_text(
        '[payers.medicare]\nmatch = ["medicare", "medicare part b", "mcr*"]\n[payers.aetna]\n')
    wb, out = _written(tmp_path)
    payer = next(dv for dv in wb["Claims"].data_validations.dataValidation if dv.promptTitle == "payer")
    assert payer.type == "list" and payer.errorStyle == "warning"  # another payer is still allowed
    last = int(payer.formula1.rsplit("$", 1)[1])
    assert [wb["Lists"].cell(r, 4).value for r in range(2, last + 1)] == ["Medicare", "Medicare Part B", "Aetna"]
    assert "Payer dropdown: Medicare, Medicare Part B, Aetna" in out


def test_without_a_configuration_the_payer_column_prompts_and_says_why_there_is_no_list(tmp_path):
    wb, out = _written(tmp_path)
    payer = next(dv for dv in wb["Claims"].data_validations.dataValidation if dv.promptTitle == "payer")
    assert payer.type is None and payer.prompt
    assert "Payer dropdown: none" in out


def test_the_date_check_accepts_its_first_day_as_its_message_says(tmp_path):
    wb, _ = _written(tmp_path)
    dos = next(dv for dv in wb["Claims"].data_validations.dataValidation if dv.type == "date")
    assert "on or after 2015-10-01" in dos.error
    assert dos.operator == "greaterThanOrEqual" and int(dos.formula1) == 42278  # 2015-10-01
    numbers = [dv for dv in wb["Claims"].data_validations.dataValidation if dv.type == "decimal"]
    assert numbers and all(dv.operator == "between" and "from 0 to 520" in dv.error for dv in numbers)


def test_a_full_claim_typed_into_the_template_is_read_to_its_twelfth_code(tmp_path):
    """dx12 and cpt12 are read: a bad code there is found, as a user filling the sheet sees it."""
    import json
    import subprocess
    wb, _ = _written(tmp_path)
    ws = wb["Claims"]
    col = {c.value: c.column for c in ws[1]}
    ws.cell(2, col["claim_id"], "C1")
    ws.cell(2, col["dos"], "03/10/2026")
    ws.cell(2, col["pos"], "11")
    for n, code in enumerate(["M51.16", "M54.50", "G89.29", "M79.18", "M25.551", "M25.552", "M62.830",
                              "M54.6", "M54.2", "R20.2", "R29.898", "M54.19X"], 1):
        ws.cell(2, col[f"dx{n}"], code)
    for n in range(1, 12):
        ws.cell(2, col[f"cpt{n}"], ["99214", "97110x2", "97140", "97112", "97530", "97535", "97010",
                                    "97014", "97035", "97018", "97124"][n - 1])
    ws.cell(2, col["cpt12"], "7214")
    path = tmp_path / "filled.xlsx"
    wb.save(path)
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", str(path), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    findings = json.loads(done.stdout)["claims"][0]["findings"]
    assert any(f["rule"] == "C101" and "M54.19X" in f["codes"] for f in findings)
    assert any(f["rule"] == "C105" and "7214" in f["codes"] for f in findings)
