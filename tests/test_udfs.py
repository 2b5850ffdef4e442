"""Worksheet functions called directly, with the values classic xlwings hands over.

Classic UDFs receive floats for integers (``64483.0``), datetimes for dates, None for empty
cells and COM error codes for error cells; ranges arrive as 2-D lists (``ndim=2``).
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import pytest

from xlsheets import udfs

HEADERS = ["Claim ID", "Patient ID", "DOS", "Payer", "Dx1", "Dx2", "CPT1",
           "Disc Disorder Confirmed", "Laterality", "Trauma"]
NA = -2146826246  # COM code of #N/A


def row(claim="C1", dos=dt.datetime(2026, 3, 10), dx1="M54.17", dx2=None, cpt=99214.0,
        disc="N", side="R", trauma="N"):
    return [claim, "P1", dos, "Aetna", dx1, dx2, cpt, disc, side, trauma]


def test_clean_claim_is_ok_with_classic_values():
    assert udfs.claim_status([HEADERS], [row()]) == "OK"


def test_worst_finding_in_a_few_words():
    text = udfs.claim_status([HEADERS], [row(disc="Y")])
    assert text == "ERROR S301: disc disorder confirmed - use M51.17"


def test_header_and_row_as_flat_lists_and_columns():
    # a 1-row range may come as a flat list; a column range as [[a], [b], ...]
    assert udfs.claim_status(HEADERS, row(disc="Y")).startswith("ERROR S301")
    column = [[h] for h in HEADERS]
    assert udfs.claim_status(column, [[v] for v in row(disc="Y")]).startswith("ERROR S301")


def test_serial_date_and_float_code_are_read():
    # 46091 is 2026-03-10; 'm5417 ' is M54.17
    assert udfs.claim_status([HEADERS], [row(dos=46091.0, dx1="m5417 ", disc="Y")]).startswith("ERROR S301")


def test_error_cell_becomes_a_finding_not_a_crash():
    text = udfs.claim_status([HEADERS], [row(dx2=NA)])
    assert text.startswith("ERROR E101") and "#N/A" in text  # a diagnosis not read: not checked


def test_blank_row_gives_blank_cell():
    assert udfs.claim_status([HEADERS], [[None] * len(HEADERS)]) == ""


def test_unusable_headers_are_explained():
    text = udfs.claim_status([["a", "b"]], [[1, 2]])
    assert text.startswith("xlsheets:") and "header row" in text


def test_never_raises_into_excel(monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("disk on fire")
    udfs.reset()  # nothing cached: the failure happens on this call
    monkeypatch.setattr(udfs._state, "get_validator", boom)
    assert udfs.claim_status([HEADERS], [row()]) == "xlsheets failed: RuntimeError: disk on fire"
    assert udfs.claim_findings([HEADERS], [row()]) == [["xlsheets failed: RuntimeError: disk on fire"]]


def test_claim_findings_spills_rule_severity_message_suggestion():
    table = udfs.claim_findings([HEADERS], [row(dx2="M51.17", disc="Y")])
    assert table[0] == ["Rule", "Severity", "Message", "Suggestion"]
    rules = {r[0]: r for r in table[1:]}
    assert rules["S301"][1] == "error" and rules["S301"][3] == "M51.17"
    assert "Excludes1" in rules["X201"][2]
    assert all(len(r) == 4 for r in table)


def test_claim_findings_of_a_clean_claim():
    assert udfs.claim_findings([HEADERS], [row()])[1][1:3] == ["ok", "No problems found."]


def test_status_table_one_status_per_data_row():
    table = [HEADERS, row("C1", disc="Y"), [None] * len(HEADERS), row("C2"), row("C3", dx1="M54.1")]
    out = udfs.claim_status_table(table)
    assert len(out) == 4 and all(len(r) == 1 for r in out)
    assert out[0][0].startswith("ERROR S301")
    assert out[1][0] == ""
    assert out[2][0] == "OK"
    assert out[3][0].startswith("ERROR C102")  # M54.1 is a header code


def test_status_table_line_level_reports_on_the_row_concerned():
    head = ["Claim ID", "DOS", "Dx1", "CPT", "Modifier", "Units", "Dx Pointer", "Laterality",
            "Nerve Root Level", "Conservative Care Weeks"]
    table = [head,
             ["C9", 46091, "M54.16", 64483.0, "RT", 1.0, "A", "R", "L4-L5", 8.0],
             ["C9", 46091, "M54.16", 64484.0, "RT", 1.0, "A", "R", "L4-L5", 8.0],
             ["C10", 46091, "M54.16", 64484.0, "RT", 1.0, "A", "R", "L4-L5", 8.0]]
    out = udfs.claim_status_table(table)
    # C9 has the primary 64483 with its add-on: fine; C10's add-on has no primary (C111)
    assert out[0][0] != out[2][0]
    assert "C111" in out[2][0] and "C111" not in out[0][0] and "C111" not in out[1][0]


def test_status_table_needs_header_and_data():
    assert udfs.claim_status_table([HEADERS])[0][0].startswith("xlsheets:")


def test_icd_lookups_with_classic_values():
    assert udfs.icd_title("M5417") == "Radiculopathy, lumbosacral region"
    assert udfs.icd_title(None) == ""
    assert udfs.icd_dotted(" m5417 ") == "M54.17"
    assert udfs.icd_electronic("M54.17") == "M5417"
    # M54.5 became a header on 2021-10-01
    assert udfs.icd_billable("M54.5", dt.datetime(2021, 6, 1)) is True
    assert udfs.icd_billable("M54.5", dt.datetime(2022, 1, 10)) is False
    assert udfs.icd_valid("M54.50", 44348.0) is False  # 2021-06-01: not yet effective
    assert udfs.icd_valid("M54.50", dt.datetime(2022, 1, 10)) is True
    assert udfs.icd_valid("hello") is False
    # Valid = in force that day, as the rules say: M54.5 was deleted as a code on 2021-10-01
    # (C103); M54.1 has always been a header that needs more characters (C102, still valid).
    assert udfs.icd_valid("M54.5", dt.datetime(2022, 1, 10)) is False
    assert udfs.icd_valid("M54.5", dt.datetime(2021, 6, 1)) is True
    assert udfs.icd_valid("M51.37", "2025-01-10") is False
    assert udfs.icd_valid("M54.1", "2026-03-10") is True and udfs.icd_billable("M54.1", "2026-03-10") is False
    assert udfs.icd_valid("S34.21XB", "2026-03-10") is False
    # A date no loaded release covers: say so, rather than FALSE.
    assert "no loaded ICD-10-CM release covers 2030-01-10" in udfs.icd_valid("M54.50", "2030-01-10")
    assert "no loaded ICD-10-CM release covers 2030-01-10" in udfs.icd_billable("M54.50", "2030-01-10")
    assert udfs.icd_billable("M54.17") is True  # today's date by default


def test_icd_excludes1():
    note = udfs.icd_excludes1("M54.17", "M51.17")
    assert note.startswith("M54.1 Excludes1:") and "M51.1-" in note
    assert udfs.icd_excludes1("M51.17", "M54.17") == note
    assert udfs.icd_excludes1("M54.17", "G89.29") == ""
    assert udfs.icd_excludes1("M54.17", None) == ""


def test_icd_bad_inputs_read_as_text():
    assert udfs.icd_title(NA) == "xlsheets: the code cell holds the Excel error #N/A"
    assert udfs.icd_title("hello") == "xlsheets: 'hello' is not an ICD-10-CM code"
    assert "not a real calendar date" in udfs.icd_billable("M54.17", "13/45/2026")


def test_config_found_like_the_cli(tmp_path, monkeypatch):
    (tmp_path / "xlsheets.toml").write_text('ignore = ["S301"]\n')
    monkeypatch.chdir(tmp_path)
    udfs.reset()
    try:
        assert udfs.claim_status([HEADERS], [row(disc="Y")]) == "OK"
        (tmp_path / "xlsheets.toml").write_text("ignore = [\n")
        udfs.reset()
        assert udfs.claim_status([HEADERS], [row()]).startswith("xlsheets: configuration error")
    finally:
        udfs.reset()


def test_module_imports_and_works_without_xlwings():
    code = textwrap.dedent("""
        import sys
        sys.modules["xlwings"] = None  # import xlwings -> ImportError
        import xlsheets.udfs as u
        print(u.claim_status([["dx1", "dos"]], [["M54.1", 46091]]))
        print(u.icd_dotted("M5417"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()[:2]
    assert first.startswith("ERROR C102: ") and "M54.1" in first
    assert second == "M54.17"


def test_import_is_light():
    """Excel waits while the module imports: no code set, config or plugin load at import."""
    code = ("import sys, xlsheets.udfs as u, xlsheets.codes.icd10cm as c; "
            "print(c._codeset is None, u._state.validator is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True True", out.stdout + out.stderr


def test_recalculation_reuses_unchanged_rows_and_sees_edits():
    """Excel recalculates the whole table after an edit: unchanged rows come from the cache,
    the edited row is checked again, and batch rules still see every row."""
    udfs.reset()
    table = [HEADERS] + [row(claim=f"C{i}") for i in range(3)]
    first = udfs.claim_status_table(table)
    assert len(udfs._state.rows) == 3
    table[2] = row(claim="C1", disc="Y")
    second = udfs.claim_status_table(table)
    assert second[0] == first[0] and second[2] == first[2]
    assert second[1][0].startswith("ERROR S301") and not first[1][0].startswith("ERROR S301")
    assert len(udfs._state.rows) == 4



def test_ncci_pair_reads_cells_as_excel_gives_them(tmp_path, monkeypatch):
    """NCCI_PAIR through the Python call (the classic path hands floats and datetimes)."""
    import datetime as dt
    from pathlib import Path
    from xlsheets.ncci import import_files, reset_ncci
    fix = Path(__file__).parent / "fixtures" / "ncci"
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path))
    import_files([fix / "sample-not-cms-data_ptp-practitioner-2026q1.zip"], tmp_path)
    udfs.reset()
    try:
        text = udfs.ncci_pair(62323.0, "77003", dt.datetime(2026, 3, 10))
        assert text.startswith("77003 is column 2 of 62323") and "modifier indicator 0" in text
        assert udfs.ncci_pair("20552", "20553", dt.datetime(2026, 3, 10)) == ""  # deleted 2020-01-01
        assert udfs.ncci_pair("20552", "20553", dt.datetime(2019, 5, 1)).startswith("20553 is column 2")
        assert udfs.ncci_pair("62321", "76942", dt.datetime(2026, 3, 10)) == ""  # effective 2026-04-01
        assert udfs.ncci_pair("abc", "77003") == "xlsheets: 'abc' is not a CPT/HCPCS code"
        assert udfs.ncci_pair("62323", "77003", "13/45/2026").startswith("xlsheets: date of service")
    finally:
        reset_ncci()
        udfs.reset()


def test_status_table_settles_an_add_on_by_the_patients_other_row_and_reruns_the_same(tmp_path, monkeypatch):
    """CLAIM_STATUS_TABLE with the NCCI AOC file loaded: 64484 on one row and its primary 64483 on
    the same patient's other row that date is not an error (N503 looks at the date); another
    patient's lone 64484 is. A recalculation (rows from the cache) says the same."""
    from pathlib import Path
    from xlsheets.ncci import import_files, reset_ncci
    fix = Path(__file__).parent / "fixtures" / "ncci"
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path))
    import_files([fix / "sample-not-cms-data_aoc-2026q1.txt"], tmp_path)
    udfs.reset()
    table = [["claim_id", "patient_id", "dos", "payer", "dx1", "cpt1"],
             ["A1", "P1", "2026-03-10", "Aetna", "M54.17", "64483-RT"],
             ["A2", "P1", "2026-03-10", "Aetna", "M54.17", "64484-RT"],
             ["B1", "P2", "2026-03-10", "Aetna", "M54.17", "64484-RT"]]
    try:
        for _ in range(2):
            statuses = [row[0] for row in udfs.claim_status_table(table)]
            assert not statuses[1].startswith("ERROR"), statuses
            assert statuses[2].startswith("ERROR N503"), statuses
    finally:
        reset_ncci()
        udfs.reset()
