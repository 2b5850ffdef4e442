"""Inputs xlsheets could not fully read never look OK (issue 10): a CSV quote that swallows the
rows after it, formula cells saved without their values, and ``xlsheets template`` over an
existing file. Each problem is run as a user meets it: the command line on a file made here."""
from __future__ import annotations

import datetime as dt
import json
import re
import zipfile

import openpyxl
import pytest

from xlsheets.cli import main
from xlsheets.io import atomic_output

HEAD = "Claim No,Svc Date,Payor,ICD1,ICD2,Procedure 1,Side"


def row(n: int) -> str:
    return f"K{n:04d},11/{n % 28 + 1:02d}/2025,Cigna,M51.16,,99213,L"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def validate_json(capsys, path, *extra):
    code, out, err = run(capsys, "validate", path, "--format", "json", *extra)
    assert "Traceback" not in err
    return code, json.loads(out), err


# --- CSV: a stray quote ------------------------------------------------------------------------
def test_a_stray_quote_that_swallows_a_thousand_rows_is_refused(tmp_path, capsys):
    lines = [HEAD] + [row(n) for n in range(1, 1002)]
    lines[2] = lines[2].replace(",M51.16,", ',"M51.16,')  # line 3 of 1,002: the quote never closes
    path = tmp_path / "march_claims.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.xlsx"
    code, out, err = run(capsys, "validate", path, "-o", report)
    assert code == 2, out
    assert "march_claims.csv: line 3:" in err
    assert 'a quote (") opens a cell that runs over the next 999 lines' in err
    assert "look like rows of their own" in err and "stray quote" in err
    assert "Traceback" not in err and not report.exists()


def test_a_quote_closed_by_another_quote_further_down_is_refused(tmp_path, capsys):
    lines = [HEAD] + [row(n) for n in range(1, 8)]
    lines[3] = lines[3].replace(",Cigna,", ',"Cigna,')  # opens on line 4 ...
    lines[6] = lines[6] + ',"see chart"'                 # ... and the next quote closes it on line 7
    path = tmp_path / "claims.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _out, err = run(capsys, "validate", path)
    assert code == 2
    assert "claims.csv: line 4:" in err and "next 3 lines, which look like rows" in err


def test_a_quote_still_open_at_the_end_of_the_file_is_refused(tmp_path, capsys):
    path = tmp_path / "claims.csv"
    path.write_text(f"{HEAD},Note\n{row(1)},\n{row(2)},\"Patient reports pain in the left leg\n"
                    "after lifting at work\n", encoding="utf-8")
    code, _out, err = run(capsys, "validate", path)
    assert code == 2
    assert "claims.csv: line 3:" in err and "end of the file without closing" in err


def test_a_run_away_quote_longer_than_any_cell_is_refused_with_its_line(tmp_path, capsys):
    lines = [HEAD + ",Note"] + [row(n) + "," + "x" * 200 for n in range(1, 8000)]
    lines[5] = lines[5].replace(",Cigna,", ',"Cigna,')
    path = tmp_path / "claims.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _out, err = run(capsys, "validate", path)
    assert code == 2
    assert "claims.csv: line 6:" in err and "without closing" in err and "stray quote" in err


@pytest.mark.parametrize("where", ["middle", "last"])
def test_notes_of_a_few_lines_in_quoted_cells_are_read(tmp_path, capsys, where):
    note = ('"Pain radiates to the left leg, worse when sitting.\n'
            'PT for 6 weeks, NSAIDs, no relief.\nMRI ordered, follow-up in 2 weeks."')
    rows = [f"{row(1)},{note}", f"{row(2)},", f"{row(3)},\"Two lines:\nseen, improving\""]
    if where == "last":
        rows.reverse()
    path = tmp_path / "notes.csv"
    path.write_text("\n".join([HEAD + ",Note", *rows]) + "\n", encoding="utf-8")
    code, data, err = validate_json(capsys, path)
    assert code == 0, err
    assert data["summary"]["claims"] == 3
    assert [c["claim_id"] for c in data["claims"]] == (["K0001", "K0002", "K0003"] if where == "middle"
                                                       else ["K0003", "K0002", "K0001"])
    assert {c["status"] for c in data["claims"]} == {"ok"}


@pytest.mark.parametrize("where", ["payer", "unread column"])
def test_a_quote_that_swallows_one_claim_is_refused(tmp_path, capsys, where):
    """A quote closed on the next line: that line (a claim with two errors) became part of a
    cell, and the run said OK for the rest. One line is enough when it holds a claim's date and
    codes, in a column xlsheets reads or in one it does not."""
    if where == "payer":
        text = ('claim_id,dos,dx1,cpt1,payer\nQ1,2026-03-10,M54.50,99213,"Blue ""Cross\n'
                'Q2,2026-03-10,M54.5,99201,Aetna"\nQ3,2026-03-11,M54.50,99213,Aetna\n')
    else:
        text = ('claim_id,dos,dx1,cpt1,notes,payer\nQ1,2026-03-10,M54.50,99213,"call ""back,Aetna\n'
                'Q2,2026-03-10,M54.5,99201,"fine",Aetna\nQ3,2026-03-11,M54.50,99213,ok,Aetna\n')
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "validate", path, "--format", "json")
    assert code == 2 and out == ""
    assert "export.csv: line 2: a quote (\") opens a cell that runs over the next 1 line, which looks like a row" in err
    assert "Traceback" not in err


def test_addresses_and_notes_of_two_lines_in_quoted_cells_are_read(tmp_path, capsys):
    """Lines a person types (with dates and codes in them) are not rows of the file."""
    path = tmp_path / "addresses.csv"
    path.write_text('claim_id,dos,dx1,cpt1,address,payer\n'
                    'Q1,2026-03-10,M54.50,99213,"12 Main St\nSpringfield, IL 62704",Aetna\n'
                    'Q2,2026-03-11,M54.50,99213,"PO Box 5\nSuite 100, 2nd floor, 2026-03-11",Aetna\n'
                    'Q3,2026-03-11,M54.50,99213,"hx:\n2025-12-01, M51.26, 72148, MRI done",Aetna\n'
                    'Q4,2026-03-11,M54.50,99213,"12 Main St, Suite 4\nSpringfield, IL 62704, 03/10/2026, M54",Aetna\n'
                    'Q5,2026-03-11,M54.50,99213,"prior visit:\n03/01/2026,M54.16,99213",Aetna\n', encoding="utf-8")
    code, data, err = validate_json(capsys, path)
    assert code == 0, err
    assert [c["claim_id"] for c in data["claims"]] == ["Q1", "Q2", "Q3", "Q4", "Q5"]


# --- formulas saved without their values -----------------------------------------------------------
FORMULA_HEAD = ["Claim No", "Svc Date", "Payor", "ICD1", "Procedure 1", "Mod 1", "Units",
                "Diagnosis Pointer", "Radicular Pain", "Conservative Care Weeks", "Side"]
GOOD = ["K1", dt.date(2025, 11, 14), "Cigna", "M51.16", "64483", "LT", 1, "A", "Y", 8, "L"]


def formula_workbook(path, column: str, formula: str, strip_empty_v: bool = False):
    """Two claims written by openpyxl; row 2 has ``formula`` in ``column``, never calculated."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Claims"
    ws.append(FORMULA_HEAD)
    first = list(GOOD)
    first[FORMULA_HEAD.index(column)] = formula
    ws.append(first)
    ws.append(["K2", *GOOD[1:]])
    wb.save(path)
    if strip_empty_v:  # as other programs write it: <f>..</f> and no <v> at all
        rewrite_sheet(path, lambda xml: xml.replace(b"<v />", b"").replace(b"<v/>", b""))
    return path


def rewrite_sheet(path, change):
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    parts["xl/worksheets/sheet1.xml"] = change(parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


READERS = ["auto", "xlsxstream", "openpyxl", "calamine"]


@pytest.fixture(params=READERS)
def reader(request, monkeypatch):
    if request.param == "auto":
        monkeypatch.delenv("XLSHEETS_READER", raising=False)
    else:
        monkeypatch.setenv("XLSHEETS_READER", request.param)
    return request.param


@pytest.mark.parametrize("column, formula", [
    ("Svc Date", "=DATE(2025,11,14)"),
    ("ICD1", '=UPPER("m51.16")'),
    ("Procedure 1", '="644"&"83"'),
    ("Payor", "=Payers!B2"),
    ("Claim No", '="K"&ROW()'),
    ("Mod 1", '=IF(TRUE,"LT","RT")'),
    ("Units", "=1+0"),
    ("Diagnosis Pointer", '=CHAR(65)'),
    ("Radicular Pain", '=IF(1,"Y","N")'),
    ("Conservative Care Weeks", "=4*2"),
    ("Side", '=LEFT("Left",1)'),
])
def test_a_formula_never_calculated_is_an_error_in_every_kind_of_column(tmp_path, capsys, reader,
                                                                       column, formula):
    path = formula_workbook(tmp_path / "from_a_program.xlsx", column, formula)
    code, data, err = validate_json(capsys, path)
    assert code == 1, err
    first, second = data["claims"]
    assert first["status"] == "error"
    e101 = [f for f in first["findings"] if f["rule"] == "E101"]
    assert len(e101) == 1, first["findings"]
    f = e101[0]
    assert f["severity"] == "error" and f["rows"] == [2]
    assert f"column '{column}', row 2" in f["message"]
    assert "formula" in f["message"] and "never calculated" in f["message"]
    assert formula[:20] in f["message"]
    assert "open the file in Excel and save it" in f["suggestion"]
    assert not any("date of service is blank" in g["message"] for g in first["findings"])
    assert second["status"] == "ok", second["findings"]  # the calculated claim is unaffected


@pytest.mark.parametrize("strip_empty_v", [False, True], ids=["empty-v", "no-v"])
def test_an_uncalculated_date_of_service_is_not_called_missing(tmp_path, capsys, reader, strip_empty_v):
    path = formula_workbook(tmp_path / "claims.xlsx", "Svc Date", "=TODAY()", strip_empty_v)
    code, out, _err = run(capsys, "validate", path)
    assert code == 1
    assert re.search(r"row 2 +K1 +ERROR E101: unreadable Svc Date: the cell holds the formula '=TODAY\(\)', "
                     r"which was never calculated", out), out
    assert "date of service missing" not in out and "is blank" not in out


def test_an_empty_text_result_is_a_blank_cell_not_an_uncalculated_one(tmp_path, capsys, monkeypatch):
    """Excel saves a formula whose result is "" as <v></v> of type str: calculated, and blank."""
    path = formula_workbook(tmp_path / "claims.xlsx", "ICD1", '=IF(1,"","")')
    rewrite_sheet(path, lambda xml: xml.replace(b'<c r="D2"><f>', b'<c r="D2" t="str"><f>')
                  .replace(b'"")</f><v /></c>', b'"")</f><v></v></c>'))
    assert b'<c r="D2" t="str"><f>IF(1,"","")</f><v></v></c>' in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    for reader in READERS:
        if reader == "auto":
            monkeypatch.delenv("XLSHEETS_READER", raising=False)
        else:
            monkeypatch.setenv("XLSHEETS_READER", reader)
        code, data, _ = validate_json(capsys, path)
        first = data["claims"][0]
        assert [f["rule"] for f in first["findings"] if f["rule"] == "E101"] == [], reader
        assert any(f["rule"] == "C112" for f in first["findings"]), reader  # no diagnosis: blank


def test_formulas_saved_with_their_values_are_read_as_values(tmp_path, capsys, reader):
    """What Excel saves: the formula and its cached result; the result is what counts."""
    path = formula_workbook(tmp_path / "claims.xlsx", "ICD1", '=UPPER("m51.16")')
    rewrite_sheet(path, lambda xml: xml.replace(b'<c r="D2"><f>', b'<c r="D2" t="str"><f>')
                  .replace(b'")</f><v /></c>', b'")</f><v>M51.16</v></c>'))
    assert b'<c r="D2" t="str"><f>UPPER("m51.16")</f><v>M51.16</v></c>' in zipfile.ZipFile(path).read(
        "xl/worksheets/sheet1.xml")
    code, data, err = validate_json(capsys, path)
    assert code == 0, err
    assert [c["status"] for c in data["claims"]] == ["ok", "ok"]


def test_the_fast_and_the_xml_paths_of_the_streaming_reader_agree_on_formula_cells(tmp_path):
    from xlsheets.io import open_sheet
    from xlsheets.values import Uncalculated
    path = formula_workbook(tmp_path / "claims.xlsx", "ICD1", "M51.16")
    mixed = (b'<row r="4"><c r="A4" t="inlineStr"><is><t>K3</t></is></c>'
             b'<c r="B4"><f>TODAY()</f></c>'                               # no value: uncalculated
             b'<c r="C4" t="str"><f>IF(1,"","")</f><v></v></c>'            # "" : blank
             b'<c r="D4" t="str"><f>UPPER("a")</f><v>A</v></c>'            # a value
             b'<c r="E4"><f t="shared" si="0"/><v></v></c>'                # empty number: uncalculated
             b'<c r="F4" t="b"><f>TRUE()</f><v></v></c>'                   # empty boolean: uncalculated
             b'<c r="G4"><f>1+1</f><v>2</v></c>'
             b'<c r="H4" t="str"><f>X&amp;Y</f></c></row>')
    rewrite_sheet(path, lambda xml: xml.replace(b"</sheetData>", mixed + b"</sheetData>"))
    with open_sheet(path, reader="xlsxstream") as sheet:
        fast = list(sheet.rows)[-1]
    rewrite_sheet(path, lambda xml: xml.replace(b'<row r="2"', b'<!-- XML parser --><row r="2"'))
    with open_sheet(path, reader="xlsxstream") as sheet:
        tree = list(sheet.rows)[-1]
    expected = ["K3", "=TODAY()", None, "A", "=(formula)", "=TRUE()", 2, "=X&Y"]
    for values in (fast, tree):
        assert values == expected
        assert [type(v) is Uncalculated for v in values] == [False, True, False, False, True, True, False, True]


def test_uncalculated_cells_pass_through_the_reading_process_and_into_the_report(tmp_path, capsys,
                                                                                 monkeypatch):
    monkeypatch.setenv("XLSHEETS_READ_AHEAD", "1")  # rows travel pickled from a child process
    monkeypatch.setenv("XLSHEETS_READER", "xlsxstream")
    path = formula_workbook(tmp_path / "claims.xlsx", "ICD1", '=UPPER("m51.16")')
    report = tmp_path / "report.xlsx"
    code, data, err = validate_json(capsys, path, "-o", report)
    assert code == 1, err
    assert data["claims"][0]["status"] == "error"
    ws = openpyxl.load_workbook(report)["Claims"]
    icd1 = next(c.column for c in ws[1] if c.value == "ICD1")
    assert ws.cell(2, icd1).value == "'=UPPER(\"m51.16\")"  # shown as text, never a live formula
    assert ws.cell(2, icd1).data_type == "s"
    assert ws.cell(3, icd1).value == "M51.16"


def test_the_template_status_formulas_do_not_make_claims_of_empty_rows(tmp_path, capsys):
    """A template filled in by a program: its Status formulas are never calculated either."""
    path = tmp_path / "filled.xlsx"
    assert run(capsys, "template", path, "--rows", "30")[0] == 0
    wb = openpyxl.load_workbook(path)
    ws = wb["Claims"]
    header = [c.value for c in ws[1]]
    for r, claim in ((2, "T1"), (3, "T2")):
        ws.cell(r, header.index("claim_id") + 1, claim)
        ws.cell(r, header.index("dos") + 1, dt.date(2025, 10, 20))
        ws.cell(r, header.index("dx1") + 1, "M51.16")
        ws.cell(r, header.index("cpt1") + 1, "99213")
    wb.save(path)
    code, data, err = validate_json(capsys, path)
    assert [c["claim_id"] for c in data["claims"]] == ["T1", "T2"], err
    assert not any(f["rule"] == "E101" for c in data["claims"] for f in c["findings"])


# --- xlsheets template never overwrites by accident ------------------------------------------------
def test_template_refuses_an_existing_file_unless_forced(tmp_path, capsys):
    path = tmp_path / "intake.xlsx"
    path.write_bytes(b"my own work")
    code, out, err = run(capsys, "template", path)
    assert code == 2 and "--force" in err and "already exists" in err and "Template written" not in out
    assert path.read_bytes() == b"my own work"
    code, out, err = run(capsys, "template", path, "--force")
    assert code == 0, err
    assert openpyxl.load_workbook(path).sheetnames[0] == "Claims"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake.xlsx"]  # no temporary file left


def test_a_file_appearing_while_the_template_is_written_is_kept(tmp_path):
    path = tmp_path / "intake.xlsx"
    with pytest.raises(FileExistsError):
        with atomic_output(path, replace=False) as tmp:
            tmp.write_bytes(b"new template")
            path.write_bytes(b"written meanwhile")
    assert path.read_bytes() == b"written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake.xlsx"]
    with atomic_output(tmp_path / "fresh.xlsx", replace=False) as tmp:
        tmp.write_bytes(b"new")
    assert (tmp_path / "fresh.xlsx").read_bytes() == b"new"
