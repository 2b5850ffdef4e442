"""NCCI edits as a user gets them: ``xlsheets ncci import`` of CMS-layout files, status, lookups,
refused files, and what ``xlsheets validate`` says with and without them.

The fixtures in tests/fixtures/ncci are samples in the CMS layouts (preamble lines, ``*``
deletion dates, two PTP parts, a zip), not CMS data: their names say so.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

FIX = Path(__file__).parent / "fixtures" / "ncci"
PTP_ZIP = FIX / "sample-not-cms-data_ptp-practitioner-2026q1.zip"
PTP_F1 = FIX / "sample-not-cms-data_ccipra-2026q1-f1.txt"
PTP_F2 = FIX / "sample-not-cms-data_ccipra-2026q1-f2.txt"
MUE = FIX / "sample-not-cms-data_mue-practitioner-2026q1.csv"
AOC = FIX / "sample-not-cms-data_aoc-2026q1.txt"


def xlsheets(*argv, data_dir, cwd=None):
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, "-m", "xlsheets.cli", *map(str, argv)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    rc, out, err = xlsheets("ncci", "import", PTP_ZIP, MUE, AOC, data_dir=folder)
    assert rc == 0, err
    return folder


def test_the_zip_holds_the_text_fixtures():
    """The zip is the two PTP parts as they are (plus a read-me that is not NCCI data)."""
    with zipfile.ZipFile(PTP_ZIP) as z:
        assert z.read(PTP_F1.name) == PTP_F1.read_bytes()
        assert z.read(PTP_F2.name) == PTP_F2.read_bytes()


def test_import_then_status(tmp_path):
    folder = tmp_path / "data"
    rc, out, err = xlsheets("ncci", "import", PTP_ZIP, MUE, AOC, data_dir=folder)
    assert rc == 0, err
    assert "imported NCCI PTP practitioner 2026Q1: 13 rows" in out  # both parts, one set
    assert "README-sample.txt" in out and "skipped" in out
    rc, out, _ = xlsheets("ncci", "status", "--format", "json", data_dir=folder)
    sets = json.loads(out)
    assert [s["kind"] for s in sets] == ["ncci-ptp", "ncci-mue", "ncci-aoc"]
    ptp = sets[0]
    assert ptp["quarter"] == "2026Q1" and ptp["from"] == "2026-01-01" and ptp["to"] == "2026-03-31"
    assert [f.rsplit(": ", 1)[-1] for f in ptp["files"]] == [PTP_F1.name, PTP_F2.name]
    assert ptp["rows"] == 13 and ptp["edits_effective_to"] == "2026-04-01"
    rc, out, _ = xlsheets("ncci", "status", data_dir=folder)
    assert "NCCI MUE practitioner 2026Q1: 11 rows" in out


def test_pair_lookup_says_column_2_modifier_rationale_and_dates(data):
    rc, out, _ = xlsheets("ncci", "--pair", "77003", "62323", "--dos", "03/10/2026", data_dir=data)
    assert rc == 0
    assert "column 2 code 77003 is denied with column 1 code 62323 (in force on 2026-03-10)" in out
    assert "modifier indicator 0 (not allowed); effective 2017-01-01, no deletion date" in out
    assert "rationale: Sample: imaging guidance included in the injection" in out
    rc, out, _ = xlsheets("ncci", "--pair", "20552", "20553", "--dos", "2026-03-10", "--format", "json",
                          data_dir=data)
    [edit] = json.loads(out)
    assert edit["column2"] == "20553" and edit["deletion"] == "2020-01-01" and edit["in_force"] is False
    rc, out, _ = xlsheets("ncci", "--pair", "99213", "62323", "--format", "json", data_dir=data)
    assert rc == 0 and json.loads(out) == []


def test_mue_and_addon_lookups(data):
    rc, out, _ = xlsheets("ncci", "--mue", "64483", data_dir=data)
    assert rc == 0 and "64483: MUE 1 unit, MAI 2" in out
    rc, out, _ = xlsheets("ncci", "--mue", "97110", "--format", "json", data_dir=data)
    assert json.loads(out)[0]["mue"] == 6 and json.loads(out)[0]["mai"] == 3
    rc, out, _ = xlsheets("ncci", "--addon", "64484", data_dir=data)
    assert "AOC edit type 1" in out and "64483" in out


def test_lookup_without_files_says_how_to_load(tmp_path):
    rc, out, _ = xlsheets("ncci", "--pair", "62323", "77003", data_dir=tmp_path)
    assert rc == 1 and "xlsheets ncci import" in out
    rc, out, _ = xlsheets("ncci", "status", data_dir=tmp_path)
    assert rc == 0 and "No NCCI edits are loaded" in out


def test_a_pair_edit_not_in_force_does_not_say_denied(data):
    rc, out, _ = xlsheets("ncci", "--pair", "20552", "20553", "--dos", "2026-03-10", data_dir=data)
    assert rc == 0 and "is denied" not in out
    assert "not in force on 2026-03-10 (deleted 2020-01-01)" in out
    rc, out, _ = xlsheets("ncci", "--pair", "62323", "64483", "--dos", "2026-03-10", data_dir=data)
    assert rc == 0 and "is denied" not in out
    assert "not in force on 2026-03-10" in out and "modifier indicator 9 (not applicable; the edit does not apply)" in out
    rc, out, _ = xlsheets("ncci", "--pair", "20552", "20553", "--dos", "2019-05-01", data_dir=data)
    assert "column 2 code 20553 is denied with column 1 code 20552 (in force on 2019-05-01)" in out


@pytest.mark.parametrize("argv", [["--pair", "6232", "77003"], ["--pair", "62323", "abc"], ["--mue", "6448"],
                                  ["--addon", "64484x"]])
def test_a_lookup_of_something_that_is_not_a_code_is_a_usage_error(data, argv):
    """As NCCI_PAIR says: not 'no edit between these codes' for a code that cannot have one."""
    rc, out, err = xlsheets("ncci", *argv, data_dir=data)
    bad = argv[2] if argv[0] == "--pair" and argv[1].isdigit() and len(argv[1]) == 5 else argv[1]
    assert rc == 2 and out == "" and f"{argv[0]}: {bad!r} is not a CPT/HCPCS code" in err
    assert "Traceback" not in err
    rc, out, _ = xlsheets("ncci", "--pair", "77003", "62323-59", data_dir=data)
    assert rc == 0 and "column 2 code 77003" in out  # a modifier on the code, as a sheet writes it


def test_bad_date_is_a_usage_error(data):
    rc, _, err = xlsheets("ncci", "--pair", "62323", "77003", "--dos", "13/45/2026", data_dir=data)
    assert rc == 2 and "--dos" in err


def test_same_quarter_again_replaces_it(data, tmp_path):
    """A complete re-import (every part again, here changed) replaces the set and says so."""
    changed = tmp_path / PTP_F2.name
    changed.write_text(PTP_F2.read_text().replace("\t1\tSample", "\t0\tSample", 1))
    rc, out, err = xlsheets("ncci", "import", PTP_F1, changed, data_dir=data)
    assert rc == 0, err
    assert "replaces the 2026Q1 set imported" in out and "PTP parts imported: f1-f2" in out
    rc, out, _ = xlsheets("ncci", "status", "--format", "json", data_dir=data)
    ptp = [s for s in json.loads(out) if s["kind"] == "ncci-ptp"]
    assert len(ptp) == 1 and ptp[0]["files"] == [PTP_F1.name, changed.name] and ptp[0]["rows"] == 13


def test_one_part_does_not_replace_a_set_of_more_parts(data, tmp_path):
    """f1 alone (as a file or a zip) over the 2-part set would drop f2's edits without a word:
    refused, nothing changes; --replace says it is meant."""
    before = _status(data)
    only_f1 = tmp_path / "ptp-f1-only.zip"
    with zipfile.ZipFile(only_f1, "w") as z:
        z.write(PTP_F1, PTP_F1.name)
    for given in (PTP_F1, only_f1):
        rc, out, err = xlsheets("ncci", "import", given, data_dir=data)
        assert rc == 1 and out == ""
        assert "loaded from 2 parts (f1-f2: 13 rows" in err and "this import has 1 (f1)" in err
        assert "--replace" in err and "nothing was imported" in err.lower()
        assert f"xlsheets ncci import {PTP_F1.name} {PTP_F2.name}" in err or only_f1.name in err
        assert _status(data) == before
    assert not list((data / "ncci").rglob("*.tmp"))
    rc, out, err = xlsheets("ncci", "import", PTP_F1, "--replace", data_dir=data)
    assert rc == 0, err
    assert "PTP parts imported: f1." in out and "every part of the download must be imported together" in out
    [ptp] = [s for s in _status(data) if s["kind"] == "ncci-ptp"]
    assert ptp["rows"] == 8 and ptp["files"] == [PTP_F1.name]


def test_other_quarters_stay(data, tmp_path):
    rc, _, err = xlsheets("ncci", "import", MUE, "--quarter", "2026Q2", data_dir=data)
    assert rc == 0, err
    rc, out, _ = xlsheets("ncci", "status", "--format", "json", data_dir=data)
    assert [s["quarter"] for s in json.loads(out) if s["kind"] == "ncci-mue"] == ["2026Q1", "2026Q2"]


# --- refused files: file and line named, nothing already loaded lost -------------------------
def _status(folder):
    return json.loads(xlsheets("ncci", "status", "--format", "json", data_dir=folder)[1])


def test_truncated_file_is_refused_naming_file_and_line(data, tmp_path):
    before = _status(data)
    cut = tmp_path / "sample-not-cms-data_ccipra-2026q1-f2.txt"
    text = PTP_F2.read_text()
    cut.write_text(text[: text.rindex("\t9")])  # the last row cut inside its fields
    rc, out, err = xlsheets("ncci", "import", PTP_F1, cut, data_dir=data)
    assert rc == 1
    assert f"{cut.name}, line 10:" in err and "fields" in err
    assert "nothing was imported" in err
    assert _status(data) == before


def _sample_part_with(tmp_path, row_start: str, changed: str):
    """The sample PTP part f1 with one row's start rewritten (the rest as it is, CRLF, cp1252)."""
    text = PTP_F1.read_text(encoding="cp1252")
    assert row_start in text
    part = tmp_path / PTP_F1.name
    part.write_text(text.replace(row_start, changed), encoding="cp1252", newline="")
    return part


def test_an_edit_deleted_before_it_takes_effect_is_named_at_import(tmp_path):
    """Never in force, so never applied: imported (the rest of the file is good) but said, with
    its codes and dates, in the text and the JSON."""
    part = _sample_part_with(tmp_path, "22551\t22554\t\t20110101\t*\t", "22551\t22554\t\t20110101\t20050101\t")
    rc, out, err = xlsheets("ncci", "import", part, data_dir=tmp_path / "d")
    assert rc == 0, err
    assert ("note: 1 edit deleted before it takes effect, so never in force and never applied: "
            "22551/22554 (effective 2011-01-01, deleted 2005-01-01)") in out, out
    rc, out, err = xlsheets("ncci", "import", PTP_F1, "--format", "json", data_dir=tmp_path / "e")
    assert rc == 0 and json.loads(out)[0]["notes"] == [], out


def test_a_last_line_cut_inside_its_rationale_is_named_at_import(tmp_path):
    """A download cut short inside the last row's rationale still reads as an edit: imported,
    but the import says the last line has no line ending and shows it (text and JSON), for the
    tab-delimited PTP part and for the MUE CSV. A file that ends with its line ending says nothing."""
    text = PTP_F2.read_text(encoding="cp1252")
    cut = tmp_path / PTP_F2.name
    cut.write_text(text.rstrip("\r\n")[:-5], encoding="cp1252", newline="")
    last = text.rstrip("\r\n").count("\n") + 1
    rc, out, err = xlsheets("ncci", "import", PTP_F1, cut, "--format", "json", data_dir=tmp_path / "d")
    assert rc == 0, err
    [note] = json.loads(out)[0]["notes"]
    assert note.startswith(f"{cut.name}, line {last}, the last, has no line ending. If the download was cut short, "
                           "that edit is incomplete"), note
    assert "download the file again" in note
    mue_text = MUE.read_text(encoding="cp1252")
    mue = tmp_path / MUE.name
    mue.write_text(mue_text.rstrip("\r\n")[:-3], encoding="cp1252", newline="")
    rc, out, err = xlsheets("ncci", "import", mue, data_dir=tmp_path / "e")
    assert rc == 0, err
    assert f"note: {mue.name}, line {mue_text.rstrip(chr(13) + chr(10)).count(chr(10)) + 1}, the last, has no line ending" in out, out
    rc, out, err = xlsheets("ncci", "import", PTP_F1, PTP_F2, MUE, "--format", "json", data_dir=tmp_path / "f")
    assert rc == 0 and [s["notes"] for s in json.loads(out)] == [[], []], out


def test_damaged_code_is_refused(data, tmp_path):
    bad = tmp_path / "sample-not-cms-data_ccipra-2026q1-f1.txt"
    bad.write_text(PTP_F1.read_text().replace("62323\t77003", "6232\t77003"))
    rc, _, err = xlsheets("ncci", "import", bad, data_dir=data)
    assert rc == 1 and f"{bad.name}, line 9: the column 1 code '6232' is not a CPT/HCPCS code" in err


def test_bad_modifier_indicator_and_date_are_refused(tmp_path):
    bad = tmp_path / "ptp.txt"
    bad.write_text(PTP_F1.read_text().replace("\t0\tSample: mutually", "\t5\tSample: mutually"))
    rc, _, err = xlsheets("ncci", "import", bad, data_dir=tmp_path / "d")
    assert rc == 1 and "ptp.txt, line 7: the modifier indicator '5' is not 0, 1 or 9" in err
    bad.write_text(PTP_F1.read_text().replace("20110101", "20111301", 1))
    rc, _, err = xlsheets("ncci", "import", bad, data_dir=tmp_path / "d")
    assert rc == 1 and "line 7: the effective date '20111301' is not a date" in err


def test_a_missing_ptp_part_is_refused(tmp_path):
    f3 = tmp_path / "sample-not-cms-data_ccipra-2026q1-f3.txt"
    f3.write_bytes(PTP_F2.read_bytes())
    rc, _, err = xlsheets("ncci", "import", PTP_F1, f3, data_dir=tmp_path / "d")
    assert rc == 1 and "PTP part f2 missing" in err
    assert "f{" not in err  # the part numbers are written out
    assert ("xlsheets ncci import sample-not-cms-data_ccipra-2026q1-f1.txt sample-not-cms-data_ccipra-2026q1-f2.txt "
            "sample-not-cms-data_ccipra-2026q1-f3.txt ...") in err


def test_ptp_parts_that_do_not_start_at_f1_are_refused(data):
    """f2 alone is not a PTP set: f1's edits would be missing, and claims would pass them."""
    before = _status(data)
    rc, out, err = xlsheets("ncci", "import", PTP_F2, data_dir=data)
    assert rc == 1 and out == ""
    assert f"PTP part f1 missing: given {PTP_F2.name} (f2)" in err
    assert f"xlsheets ncci import {PTP_F1.name} {PTP_F2.name} ..." in err
    assert _status(data) == before


def test_a_refused_import_leaves_no_temporary_file(data, tmp_path):
    """The MUE file is read and written first; the AOC file after it is refused: the MUE's
    temporary file goes too, and what was loaded stays."""
    before = _status(data)
    bad = tmp_path / "aoc-2026q1.txt"
    bad.write_text(AOC.read_text().replace("\t1\t", "\t7\t", 1))
    rc, _, err = xlsheets("ncci", "import", MUE, bad, data_dir=data)
    assert rc == 1 and "the AOC edit type '7' is not 1, 2 or 3" in err
    assert [p.name for p in (data / "ncci").rglob("*") if p.is_file() and not p.name.endswith(".bin")] == []
    assert _status(data) == before


def test_wrong_file_is_refused(tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,dx1,cpt1\nA1,M54.17,64483\n")
    rc, _, err = xlsheets("ncci", "import", claims, data_dir=tmp_path / "d")
    assert rc == 1 and "claims.csv: no NCCI edits found" in err


def test_ten_million_lines_that_are_not_ncci_are_refused_at_once(tmp_path):
    big = tmp_path / "big.txt"
    line = b"this is not an NCCI file\tat all\t12345\n"
    with open(big, "wb") as f:
        block = line * 100_000
        for _ in range(100):
            f.write(block)
    start = time.monotonic()
    rc, _, err = xlsheets("ncci", "import", big, data_dir=tmp_path / "d")
    assert rc == 1 and "big.txt: no NCCI edits found" in err
    assert time.monotonic() - start < 10  # the header is looked for in the first lines only


def test_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    bomb = tmp_path / "ncci.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("ccipra-v321r0-f1.txt", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(100):  # 100 MB of zeros, about 100 KB compressed
                f.write(chunk)
    rc, _, err = xlsheets("ncci", "import", bomb, data_dir=tmp_path / "d")
    assert rc == 1 and "zip bomb" in err


def test_zip_with_duplicate_entries_is_refused(tmp_path):
    dup = tmp_path / "ncci.zip"
    with zipfile.ZipFile(dup, "w") as z:
        z.writestr(PTP_F1.name, PTP_F1.read_bytes())
        with pytest.warns(UserWarning):
            z.writestr(PTP_F1.name, PTP_F2.read_bytes())
    rc, _, err = xlsheets("ncci", "import", dup, data_dir=tmp_path / "d")
    assert rc == 1 and "two entries named" in err


def test_mue_in_an_xlsx_inside_a_zip(tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["SAMPLE IN THE CMS LAYOUT - NOT CMS DATA"])
    ws.append([])
    ws.append(["HCPCS/CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator",
               "MUE Rationale"])
    ws.append(["64483", 1, "2 Date of Service Edit: Policy", "Sample"])
    ws.append([97110, 6, "3 Date of Service Edit: Clinical", "Sample"])
    sheet = tmp_path / "MCR_MUE_PractitionerServices_Eff_04-01-2026.xlsx"
    book.save(sheet)
    archive = tmp_path / "mue.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(sheet, sheet.name)
    rc, out, err = xlsheets("ncci", "import", archive, "--format", "json", data_dir=tmp_path / "d")
    assert rc == 0, err
    [done] = json.loads(out)
    assert done["quarter"] == "2026Q2" and done["rows"] == 2  # the quarter from the file name
    rc, out, _ = xlsheets("ncci", "--mue", "97110", "--format", "json", data_dir=tmp_path / "d")
    assert json.loads(out)[0]["mue"] == 6


SPLIT_HEADER = [["Column 1", "Column 2", "*=in existence", "Effective", "Deletion", "Modifier", "PTP Edit"],
                ["", "", "prior to 1996", "Date", "Date *=no data",
                 "0=not allowed 1=allowed 9=not applicable", "Rationale"]]


def _split_header_rows():
    lines = PTP_F1.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Column 1"))
    return lines[:at], [line.split("\t") for line in lines[at + 1:] if line]


@pytest.mark.parametrize("suffix", [".txt", ".xlsx"])
def test_a_header_split_over_two_rows_is_read_as_one(tmp_path, suffix):
    """Row A alone already names the PTP columns; row B (no codes) is the rest of the header,
    not a data row to refuse, and gives the rationale column."""
    preamble, data_rows = _split_header_rows()
    path = tmp_path / f"sample-not-cms-data_ccipra-2026q1-f1{suffix}"
    if suffix == ".txt":
        path.write_text("\n".join(preamble + ["\t".join(r) for r in SPLIT_HEADER + data_rows]) + "\n")
    else:
        import openpyxl
        book = openpyxl.Workbook()
        for row in [[line] for line in preamble] + SPLIT_HEADER + data_rows:
            book.active.append(row)
        book.save(path)
    rc, out, err = xlsheets("ncci", "import", path, data_dir=tmp_path / "d")
    assert rc == 0, err
    assert "PTP practitioner 2026Q1: 8 rows" in out
    rc, out, _ = xlsheets("ncci", "--pair", "62323", "77003", "--dos", "2026-03-10", data_dir=tmp_path / "d")
    assert "rationale: Sample: imaging guidance included in the injection" in out


def test_a_one_row_header_keeps_its_first_data_row(tmp_path):
    """The row after a one-row header is data when it has its codes: it is not eaten as header."""
    preamble, data_rows = _split_header_rows()
    path = tmp_path / "sample-not-cms-data_ccipra-2026q1-f1.txt"
    header = "\t".join(["Column 1", "Column 2", "*=in existence prior to 1996", "Effective Date", "Deletion Date",
                        "Modifier", "PTP Edit Rationale"])
    path.write_text("\n".join(preamble + [header] + ["\t".join(r) for r in data_rows]) + "\n")
    rc, out, err = xlsheets("ncci", "import", path, "--format", "json", data_dir=tmp_path / "d")
    assert rc == 0, err
    assert json.loads(out)[0]["rows"] == 8


def _mue_book(path, rows=(("64483", 1, "2 Date of Service Edit: Policy", "Sample"),)):
    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["SAMPLE IN THE CMS LAYOUT - NOT CMS DATA"])
    book.active.append(["HCPCS/CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator",
                        "MUE Rationale"])
    for row in rows:
        book.active.append(list(row))
    book.save(path)


def test_one_table_in_two_formats_is_read_once_and_the_other_named(tmp_path):
    """CMS offers the MUE file as .csv and .xlsx, a PTP part as .txt and .xlsx: in one zip, or
    given side by side, the text one is read and the other is named as skipped."""
    sheet = tmp_path / (MUE.stem + ".xlsx")
    _mue_book(sheet)
    f1_sheet = tmp_path / (PTP_F1.stem + ".xlsx")
    _mue_book(f1_sheet)  # what it holds does not matter: it is not opened
    archive = tmp_path / "both.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (sheet, MUE, f1_sheet, PTP_F1, PTP_F2):
            z.write(path, path.name)
    rc, out, err = xlsheets("ncci", "import", archive, data_dir=tmp_path / "d")
    assert rc == 0, err
    assert "NCCI MUE practitioner 2026Q1: 11 rows from both.zip: " + MUE.name in out
    assert "NCCI PTP practitioner 2026Q1: 13 rows" in out
    assert f"both.zip: {sheet.name} (the same table as {MUE.name}, in another format" in out
    assert f"both.zip: {f1_sheet.name} (the same table as {PTP_F1.name}" in out
    rc, out, err = xlsheets("ncci", "import", sheet, MUE, data_dir=tmp_path / "e")
    assert rc == 0, err
    assert f"11 rows from {MUE.name}" in out and f"skipped: {sheet.name} (the same table as {MUE.name}" in out


def test_two_different_tables_of_one_kind_are_still_refused(tmp_path):
    other = tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.xlsx"
    _mue_book(other)
    rc, _, err = xlsheets("ncci", "import", MUE, other, data_dir=tmp_path / "d")
    assert rc == 1 and "two MUE files of the same setting" in err


def test_a_folder_an_empty_file_and_a_zip_of_read_mes_say_what_they_are(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "ccipra-v321r0.zip").write_bytes(b"")
    rc, _, err = xlsheets("ncci", "import", folder, data_dir=tmp_path / "d")
    assert rc == 1 and f"{folder} is a folder; give the files in it" in err and "ccipra-v321r0.zip" in err
    empty = tmp_path / "ccipra-v321r0-f1.txt"
    empty.write_bytes(b"")
    rc, _, err = xlsheets("ncci", "import", empty, data_dir=tmp_path / "d")
    assert rc == 1 and "ccipra-v321r0-f1.txt is empty (0 bytes)" in err and "60 lines" not in err
    readme = tmp_path / "readme.zip"
    with zipfile.ZipFile(readme, "w") as z:
        z.writestr("README.txt", "read me")
        z.writestr("policy.pdf", b"%PDF")
    rc, _, err = xlsheets("ncci", "import", readme, data_dir=tmp_path / "d")
    assert rc == 1 and "readme.zip: no NCCI edits found: it holds policy.pdf, README.txt" in err
    with zipfile.ZipFile(readme, "w"):
        pass
    rc, _, err = xlsheets("ncci", "import", readme, data_dir=tmp_path / "d")
    assert rc == 1 and "readme.zip is an empty zip archive" in err


# --- validate with and without the files ------------------------------------------------------
CLAIMS = """claim_id,patient_id,dos,payer,dx1,cpt1,cpt2
A1,P1,2026-03-10,Aetna,M54.17,62323,77003
A2,P2,2026-03-10,Aetna,M54.17,64484-RT,
"""


def test_validate_names_the_ncci_files_and_finds_the_edits(data, tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS)
    rc, out, _ = xlsheets("validate", claims, "--format", "json", data_dir=data)
    result = json.loads(out)
    ncci = [c for c in result["codesets"] if c.get("kind", "").startswith("ncci")]
    assert [c["name"] for c in ncci] == ["NCCI PTP practitioner 2026Q1", "NCCI MUE practitioner 2026Q1",
                                         "NCCI AOC practitioner 2026Q1"]
    a1, a2 = result["claims"]
    [n501] = [f for f in a1["findings"] if f["rule"] == "N501"]
    assert "77003 is the column 2 code" in n501["message"] and "CO-236" in n501["message"]
    assert "2026Q1" in n501["reference"]
    assert [f["rule"] for f in a2["findings"] if f["rule"] in ("C111", "N503")] == ["N503"]
    assert result["summary"]["rules_without_data"] == []
    rc, out, _ = xlsheets("validate", claims, data_dir=data)
    assert out.splitlines()[1].startswith("Code sets: ICD-10-CM") and out.splitlines()[2].startswith("NCCI edits: NCCI PTP practitioner 2026Q1")


def test_validate_without_files_says_once_that_n_rules_could_not_run(tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS)
    rc, out, _ = xlsheets("validate", claims, data_dir=tmp_path / "none")
    assert out.count("xlsheets ncci import") == 1
    assert "N501, N502, N503: no NCCI edit files" in out
    assert "C111" in out  # the built-in add-on pairs still check 64484
    rc, out, _ = xlsheets("validate", claims, "--format", "json", data_dir=tmp_path / "none")
    summary = json.loads(out)["summary"]
    [group] = summary["rules_without_data"]
    assert group["rules"] == ["N501", "N502", "N503"] and "xlsheets ncci import" in group["reason"]
    # the report's headline counts them with the rules it lists below as lacking columns
    listed = len(summary["rules_not_run"]) + 3
    import openpyxl
    rc, _, err = xlsheets("validate", claims, "-o", tmp_path / "r.xlsx", data_dir=tmp_path / "none")
    cells = [c for row in openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True)
             for c in row if isinstance(c, str)]
    assert any(c.endswith(f"({listed} rules could not run: see below)") for c in cells), cells[:5]


def test_addon_with_its_primary_on_the_patients_other_claim_is_not_denied(data, tmp_path):
    """N503 looks for the primary among the patient's claims that date, as the AOC edits do;
    the status of the add-on's claim follows (no error left over from the claim rule)."""
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1\n"
                      "A1,P1,2026-03-10,Aetna,M54.17,64483-RT\n"
                      "A2,P1,2026-03-10,Aetna,M54.17,64484-RT\n"
                      "B1,P2,2026-03-10,Aetna,M54.17,99213\n"
                      "B2,P2,2026-03-10,Aetna,M54.17,64484-RT\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data)
    result = json.loads(out)
    by_id = {c["claim_id"]: c for c in result["claims"]}
    assert [f["rule"] for f in by_id["A2"]["findings"] if f["rule"] in ("N503", "C111")] == []
    [n503] = [f for f in by_id["B2"]["findings"] if f["rule"] == "N503"]
    assert n503["severity"] == "error" and "claim B1 (row 4)" in n503["message"], n503["message"]
    assert by_id["B2"]["status"] == "error"
    assert result["summary"]["by_rule"].get("N503") == 1


def test_a_payer_that_ignores_a_rule_gets_no_finding_of_its_batch_part(data, tmp_path):
    """Claims of one patient and date are grouped for every NCCI batch part at once; a claim whose
    payer ignores N502 is not counted or reported by N502's batch part."""
    (tmp_path / "xlsheets.toml").write_text('[payers.acme]\nmatch = ["acme"]\nignore = ["N502"]\n')
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1\n"
                      "A1,P1,2026-03-10,Acme,M54.17,64483-RT\n"
                      "A2,P1,2026-03-10,Acme,M54.17,64483-LT\n"
                      "B1,P2,2026-03-10,Aetna,M54.17,64483-RT\n"
                      "B2,P2,2026-03-10,Aetna,M54.17,64483-LT\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data, cwd=tmp_path)
    by_id = {c["claim_id"]: c for c in json.loads(out)["claims"]}
    assert [f["rule"] for c in ("A1", "A2") for f in by_id[c]["findings"] if f["rule"] == "N502"] == []
    assert [f["rule"] for f in by_id["B2"]["findings"] if f["rule"] == "N502"] == ["N502"]


def test_line_level_finding_is_on_the_column_2_row(data, tmp_path):
    claims = tmp_path / "lines.csv"
    claims.write_text("claim_id,dos,dx1,cpt,modifier,units\n"
                      "L1,2026-03-10,M54.17,77003,,1\nL1,2026-03-10,M54.17,99213,25,1\n"
                      "L1,2026-03-10,M54.17,62323,,1\n")
    rc, out, _ = xlsheets("validate", claims, "--format", "json", data_dir=data)
    [claim] = json.loads(out)["claims"]
    [n501] = [f for f in claim["findings"] if f["rule"] == "N501"]
    assert n501["rows"] == [2]  # 77003, the code that is denied


def test_report_summary_names_the_ncci_files(data, tmp_path):
    import openpyxl
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS)
    rc, _, err = xlsheets("validate", claims, "-o", tmp_path / "report.xlsx", data_dir=data)
    ws = openpyxl.load_workbook(tmp_path / "report.xlsx")["Summary"]
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert any(c.startswith("NCCI PTP practitioner 2026Q1") and "f1.txt" in c for c in cells)
    rc, _, err = xlsheets("validate", claims, "-o", tmp_path / "report2.xlsx", data_dir=tmp_path / "none")
    ws = openpyxl.load_workbook(tmp_path / "report2.xlsx")["Summary"]
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert sum("xlsheets ncci import" in c for c in cells) == 1


def test_report_describes_a_two_part_rule_by_its_claim_part_with_what_to_do(data, tmp_path):
    """N501 and N503 have a claim part and a batch part under one ID: the report's Summary names
    the rule and says what to do from the claim part, which documents the fix."""
    import openpyxl
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS)
    rc, _, err = xlsheets("validate", claims, "-o", tmp_path / "report.xlsx", data_dir=data)
    rows = {row[0]: row for row in openpyxl.load_workbook(tmp_path / "report.xlsx")["Summary"].iter_rows(values_only=True)
            if isinstance(row[0], str) and row[0][:4] in ("N501", "N503")}
    assert set(rows) == {"N501 PTP pair", "N503 Add-on code"}, rows
    severity = openpyxl.load_workbook(tmp_path / "report.xlsx")["Summary"].column_dimensions["E"].width
    assert rows["N503 Add-on code"][4] == "error/warning" and severity >= len("error/warning"), severity
    assert all(row[5] and row[5].startswith(("remove the column 2 code", "add the primary")) for row in rows.values()), rows


def test_c114_leaves_pairs_the_ptp_file_covers_to_n501(data, tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,dos,dx1,cpt1,cpt2\nA1,2026-03-10,M54.17,62323,77003\n"
                      "A2,2026-03-10,M54.17,62323,77012\n")
    rc, out, _ = xlsheets("validate", claims, "--format", "json", data_dir=data)
    a1, a2 = json.loads(out)["claims"]
    assert [f["rule"] for f in a1["findings"] if f["rule"] in ("C114", "N501")] == ["N501"]
    # the sample PTP file has no 62323/77012 edit: C114 still says it
    assert [f["rule"] for f in a2["findings"] if f["rule"] in ("C114", "N501")] == ["C114"]


def _validated(tmp_path, csv_text: str, data_dir):
    """(exit status, the JSON's claims) of ``xlsheets validate`` on a claims CSV."""
    claims = tmp_path / "claims.csv"
    claims.write_text(csv_text)
    rc, out, _ = xlsheets("validate", claims, "--format", "json", data_dir=data_dir)
    return rc, json.loads(out)["claims"]


def test_c114_still_reports_guidance_that_only_the_injections_side_modifier_lets_past_n501(tmp_path):
    """With a guidance edit of modifier indicator 1, an NCCI-associated modifier on either code
    passes N501 (from 2019-07-01). The side of the injection (64483-RT, which D404 asks for)
    does not make its imaging guidance billable: C114 still says the guidance is included, so
    loading the PTP file never turns that claim OK. XS on the guidance line itself says it
    guided a distinct procedure: N501 accepts it, and C114 leaves it to N501."""
    part = _sample_part_with(tmp_path, "64483\t77003\t\t20110101\t*\t0\t", "64483\t77003\t\t20110101\t*\t1\t")
    folder = tmp_path / "data"
    rc, _, err = xlsheets("ncci", "import", part, data_dir=folder)
    assert rc == 0, err
    rc, claims = _validated(tmp_path, "claim_id,dos,dx1,cpt1,cpt2\n"
                                      "A1,2026-03-10,M54.17,64483-RT,77003\n"
                                      "A2,2026-03-10,M54.17,64483-RT,77003-XS\n"
                                      "A3,2026-03-10,M54.17,64483-RT,77003-RT\n", folder)
    found = {c["claim_id"]: ([f["rule"] for f in c["findings"] if f["rule"] in ("C114", "N501")], c["status"])
             for c in claims}
    assert found["A1"] == (["C114"], "error"), found
    assert found["A2"][0] == [], found
    # RT on the guidance line is an NCCI-associated modifier too: the biller's call, as N501 takes it
    assert found["A3"][0] == [], found


def test_units_read_as_written_in_the_mue_message_and_negative_units_are_named(data, tmp_path):
    """A billing person reads the units the sheet holds: 99,999,999,999 (not 1e+11), 7.5; a
    negative count is said to be negative, not "not a number"."""
    rc, claims = _validated(tmp_path, "claim_id,dos,dx1,cpt1,units\n"
                                      "U1,2026-03-10,M54.17,64483-RT,99999999999\n"
                                      "U2,2026-03-10,M54.17,97110,7.5\n"
                                      "U3,2026-03-10,M54.17,97110,-3\n", data)
    messages = {c["claim_id"]: [f["message"] for f in c["findings"]] for c in claims}
    assert any(m.startswith("64483: 99,999,999,999 units on the date of service") for m in messages["U1"]), messages
    assert any(m.startswith("97110: 7.5 units on the date of service, more than its NCCI MUE of 6")
               for m in messages["U2"]), messages
    assert any("'-3' is negative; a count or duration is 0 or more" in m for m in messages["U3"]), messages
    assert rc == 1


def test_before_2019_07_the_message_says_why_the_modifier_on_column_1_does_not_count(data, tmp_path):
    """A biller who sees 59 on the claim learns that, before 2019-07-01, it had to be on the
    column 2 code; from then on it counts on either code (no finding)."""
    rc, (a1, a2) = _validated(tmp_path, "claim_id,dos,dx1,cpt1,cpt2\nA1,2019-03-01,M54.17,64483-59,20552\n"
                                        "A2,2019-07-01,M54.17,64483-59,20552\n", data)
    [n501] = [f for f in a1["findings"] if f["rule"] == "N501"]
    assert ("before 2019-07-01 it must be on the column 2 code 20552: the 59 on 64483 does not count"
            in n501["message"]), n501["message"]
    assert not [f for f in a2["findings"] if f["rule"] == "N501"]


def test_held_results_are_frozen_out_of_the_collector_and_unfrozen_after(data, tmp_path, monkeypatch):
    """With the NCCI batch parts every result is held to the end; the batch run freezes what is
    alive every so many held results (the collector would walk them all again and again) and
    unfreezes it when the run ends. The findings are the same either way."""
    import gc
    from xlsheets import batch
    from xlsheets.engine import Validator
    from xlsheets.ncci import reset_ncci
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(data))
    reset_ncci()
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1,cpt2\n" + "".join(
        f"A{n},P{n // 2},2026-03-10,Aetna,M54.17,{'62323' if n % 2 else '77003'},64484-RT\n" for n in range(40)))

    def findings(per_freeze):
        monkeypatch.setattr(batch._HeldFromCollector, "HELD_PER_FREEZE", per_freeze)
        with batch.run_batch(claims, Validator()) as result:
            frozen_during = gc.get_freeze_count()
            found = [(r.claim_id, f.rule, f.message) for r in result.results() for f in r.findings]
        return found, frozen_during

    try:
        plain, frozen_plain = findings(10**9)
        frozen, frozen_during = findings(7)
    finally:
        reset_ncci()
    assert frozen == plain and any(rule == "N501" for _c, rule, _m in plain)
    assert frozen_plain == 0 and frozen_during > 0
    assert gc.get_freeze_count() == 0


def test_a_payer_that_ignores_the_n_rules_keeps_the_built_in_checks_they_stand_in_for(data, tmp_path):
    """C111 and C114 stand down for N503 and N501 only where those run: a payer that ignores
    them is not left less checked because the NCCI files are loaded."""
    (tmp_path / "xlsheets.toml").write_text('[payers.acme]\nmatch = ["acme"]\nignore = ["N501", "N503"]\n')
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1,cpt2\n"
                      "A1,P1,2026-03-10,Acme,M54.17,62323,77003\n"
                      "A2,P2,2026-03-10,Acme,M54.17,64484-RT,\n"
                      "B1,P3,2026-03-10,Aetna,M54.17,62323,77003\n"
                      "B2,P4,2026-03-10,Aetna,M54.17,64484-RT,\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data, cwd=tmp_path)
    rules = {c["claim_id"]: sorted(f["rule"] for f in c["findings"] if f["rule"][0] in "CN" and f["rule"] in
                                   ("C111", "C114", "N501", "N503")) for c in json.loads(out)["claims"]}
    assert rules == {"A1": ["C114"], "A2": ["C111"], "B1": ["N501"], "B2": ["N503"]}, rules


def test_a_claim_whose_payer_ignores_n503_still_carries_the_primary_for_the_patients_other_claim(data, tmp_path):
    """The patient's claims that date are seen whatever each payer runs; only the reporting
    follows the payer: 64483 on the Acme claim is the primary of 64484 on the Aetna claim."""
    (tmp_path / "xlsheets.toml").write_text('[payers.acme]\nmatch = ["acme"]\nignore = ["N503"]\n')
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1\n"
                      "X1,P9,2026-03-10,Acme,M54.17,64483-RT\n"
                      "X2,P9,2026-03-10,Aetna,M54.17,64484-RT\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data, cwd=tmp_path)
    found = [(c["claim_id"], f["rule"]) for c in json.loads(out)["claims"] for f in c["findings"]
             if f["rule"] in ("N503", "C111")]
    assert found == [], found


def test_an_e_m_pair_suggests_modifier_25_on_the_e_m(data, tmp_path):
    """With an E/M in a modifier-indicator-1 pair the NCCI-associated modifier is 25 on the E/M,
    not 59/XS on the procedure; other pairs keep the XS/XU/59 advice."""
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1,cpt2\n"
                      "A1,P1,2026-03-10,Aetna,M54.17,64483,99214\n"
                      "A2,P2,2026-03-10,Aetna,M54.17,64483,20552\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data)
    fixes = {c["claim_id"]: [f["suggestion"] for f in c["findings"] if f["rule"] == "N501"]
             for c in json.loads(out)["claims"]}
    assert fixes["A1"] == ["if the E/M is significant and separately identifiable, add 25 to 99214; else remove 99214"]
    assert fixes["A2"] == ["if documented as a separate service, add XS, XU or 59 to 20552; else remove it"]


def test_claims_dated_after_the_newest_quarter_are_said_to_be_checked_against_it(data, tmp_path):
    """The sample sets are 2026Q1 (to 2026-03-31): a claim of 2026-05-04 was checked against
    them, and every output says so once; claims within the quarter say nothing of it."""
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1\n"
                      "A1,P1,2026-03-10,Aetna,M54.17,64483-RT\n"
                      "A2,P2,2026-05-04,Aetna,M54.17,64483-RT\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data)
    behind = json.loads(out)["summary"]["ncci_behind"]
    assert sorted(g["set"] for g in behind) == ["NCCI AOC practitioner 2026Q1", "NCCI MUE practitioner 2026Q1",
                                                "NCCI PTP practitioner 2026Q1"]
    assert all(g["quarter_end"] == "2026-03-31" and g["latest_dos"] == "2026-05-04" for g in behind)
    rc, out, err = xlsheets("validate", claims, "-o", tmp_path / "r.xlsx", data_dir=data)
    assert out.count("is for dates of service to 2026-03-31") == 3 and "NCCI edits older than" in out
    import openpyxl
    cells = [c for row in openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True)
             for c in row if isinstance(c, str)]
    assert "NCCI edits older than some dates of service" in cells
    claims.write_text("claim_id,patient_id,dos,payer,dx1,cpt1\nA1,P1,2026-03-10,Aetna,M54.17,64483-RT\n")
    rc, out, err = xlsheets("validate", claims, "--format", "json", data_dir=data)
    assert json.loads(out)["summary"]["ncci_behind"] == []


def test_a_zip_whose_compressed_data_is_damaged_is_refused_naming_the_entry(data, tmp_path):
    """A flipped byte inside an entry's deflated data (zlib cannot inflate it): refused like a
    bad checksum, naming the archive entry, exit 1, and what was loaded stays."""
    archive = tmp_path / "ncci.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(PTP_F1.name, PTP_F1.read_bytes() * 40)
    raw = bytearray(archive.read_bytes())
    start = 30 + len(PTP_F1.name)  # the first entry's data, after its local header
    for i in range(start + 10, start + 40):
        raw[i] ^= 0xFF
    archive.write_bytes(bytes(raw))
    before = _status(data)
    rc, out, err = xlsheets("ncci", "import", archive, data_dir=data)
    assert rc == 1 and out == "", err
    assert f"{PTP_F1.name} is damaged or truncated" in err and "Download it again." in err
    assert "Traceback" not in err and _status(data) == before


def test_a_damaged_xlsx_says_to_download_it_again_not_to_export_claims(tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["HCPCS/CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator",
                        "MUE Rationale"])
    book.active.append(["64483", 1, "2 Date of Service Edit: Policy", "Sample"])
    sheet = tmp_path / "MCR_MUE_PractitionerServices_Eff_04-01-2026.xlsx"
    book.save(sheet)
    with zipfile.ZipFile(sheet) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    damaged = tmp_path / "damaged-mue.xlsx"
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    raw = bytearray(damaged.read_bytes())
    at = raw.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml") + 5
    raw[at] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    rc, _, err = xlsheets("ncci", "import", damaged, data_dir=tmp_path / "d")
    assert rc == 1 and "damaged-mue.xlsx" in err and "Download it again." in err
    assert "export the claims" not in err.lower() and "save it again" not in err


def test_empty_rows_excel_writes_at_the_end_of_a_csv_are_skipped(tmp_path):
    mue = tmp_path / "sample-not-cms-data_mue-practitioner-2026q1.csv"
    text = (FIX / "sample-not-cms-data_mue-practitioner-2026q1.csv").read_text(encoding="utf-8")
    mue.write_text(text.rstrip("\r\n") + "\n,,,\n\" \",,,\n,,,\n", encoding="utf-8")
    rc, out, err = xlsheets("ncci", "import", mue, "--format", "json", data_dir=tmp_path / "d")
    assert rc == 0, err
    rc, whole, _ = xlsheets("ncci", "import", FIX / mue.name, "--format", "json", data_dir=tmp_path / "e")
    assert json.loads(out)[0]["rows"] == json.loads(whole)[0]["rows"] > 0


def test_ncci_pair_of_an_indicator_9_edit_does_not_say_denied(tmp_path, monkeypatch):
    """Indicator 9: the edit is listed but does not apply; NCCI_PAIR said "denied with it, CO-236"."""
    from xlsheets import udfs
    from xlsheets.ncci import import_files, reset_ncci
    part = _sample_part_with(tmp_path, "64483\t62323\t\t20170101\t20170101\t9\t", "64483\t62323\t\t20170101\t*\t9\t")
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path / "d"))
    import_files([part], tmp_path / "d")
    udfs.reset()
    try:
        text = udfs.ncci_pair("64483", "62323", "2026-03-10")
        assert "modifier indicator 9" in text and "the edit does not apply, neither code is denied" in text
        assert "CO-236" not in text and "denied with it" not in text
    finally:
        reset_ncci()
        udfs.reset()


def test_ptp_parts_of_two_quarters_are_refused(tmp_path):
    """f1 of one download with f2 of the next was stored as one quarter without a word."""
    f1, f2 = tmp_path / "ccipra-v320r0-f1.txt", tmp_path / "ccipra-v321r0-f2.txt"
    f1.write_bytes(PTP_F1.read_bytes())
    f2.write_bytes(PTP_F2.read_bytes())
    rc, out, err = xlsheets("ncci", "import", f1, f2, data_dir=tmp_path / "d")
    assert rc == 1 and out == ""
    assert "different quarters (2026Q1: ccipra-v320r0-f1.txt; 2026Q2: ccipra-v321r0-f2.txt)" in err
    assert not (tmp_path / "d" / "ncci" / "practitioner").exists() or not list((tmp_path / "d" / "ncci" / "practitioner").glob("*.bin"))


@pytest.mark.parametrize("name, quarter, note", [("ptp-v321-f1.txt", "2026Q2", False),
                                                 ("ptp-edits-f1.txt", "2026Q1", True)])
def test_the_quarter_from_a_short_version_name_or_else_said_how_it_was_found(tmp_path, name, quarter, note):
    """v321 without r0 is version 32.1 (2026Q2). With nothing in the name, the quarter of the
    newest effective date is used, and the output says so (it was silent)."""
    part = tmp_path / name
    part.write_bytes(PTP_F1.read_bytes())
    rc, out, err = xlsheets("ncci", "import", part, "--format", "json", data_dir=tmp_path / "d")
    assert rc == 0, err
    [done] = json.loads(out)
    if note:
        assert [n for n in done["notes"] if "no quarter in the file name" in n and "--quarter" in n]
    else:
        assert done["quarter"] == quarter and not [n for n in done["notes"] if "no quarter" in n]
