"""Rows become claims the way a billing person typed them, and nothing a cell holds makes it fail."""
import datetime as dt

import pytest

from xlsheets.claims import HeaderMap, claims_from_rows, parse_procedures, parse_row


def claim_of(header, row):
    return parse_row(HeaderMap.from_row(header), row, 2)


@pytest.mark.parametrize("header, canonical", [
    ("Date of Service", "dos"), ("DOS", "dos"), ("date_of-service", "dos"), ("Service Date", "dos"),
    ("Dx 1", "dx1"), ("ICD1", "dx1"), ("Diagnosis 2", "dx2"), ("dx_12", "dx12"),
    ("CPT", "procedures"), ("CPT 1", "cpt1"), ("Claim #", "claim_id"), ("Claim ID", "claim_id"),
    ("Payer", "payer"), ("Insurance", "payer"), ("Place of Service", "pos"),
    ("Nerve Root Level", "nerve_root_level"), ("Conservative-Care Weeks", "conservative_care_weeks"),
    ("SLR", "slr_positive"), ("Diagnoses", "diagnoses"), ("Dx Pointer", "dx_pointer"),
])
def test_header_aliases_map_to_canonical_columns(header, canonical):
    assert HeaderMap.from_row(["Claim ID", header]).present >= {canonical}


def test_unknown_columns_are_ignored_and_listed():
    hm = HeaderMap.from_row(["Claim ID", "Notes to self", "DOS", "Dx1"])
    assert hm.unknown == ["Notes to self"]
    assert hm.present == {"claim_id", "dos", "dx1"}


@pytest.mark.parametrize("written", ["M54.17", "M5417", "m54.17 ", "\u00a0M54.17\u00a0", " m5417"])
def test_diagnosis_forms_all_mean_the_same_code(written):
    assert list(claim_of(["dos", "dx1"], ["2026-03-10", written]).diagnoses) == ["M54.17"]


def test_diagnoses_in_one_list_cell_keep_their_order():
    claim = claim_of(["dos", "Diagnoses"], ["2026-03-10", "M54.17, G89.29; m51.16"])
    assert list(claim.diagnoses) == ["M54.17", "G89.29", "M51.16"]


@pytest.mark.parametrize("value, expected", [
    (dt.date(2026, 3, 10), dt.date(2026, 3, 10)),
    (dt.datetime(2026, 3, 10, 9, 30), dt.date(2026, 3, 10)),
    (46091, dt.date(2026, 3, 10)),  # Excel serial (xlwings Lite hands over ints)
    (46091.0, dt.date(2026, 3, 10)),  # classic UDFs hand over floats
    ("2026-03-10", dt.date(2026, 3, 10)),
    ("03/10/2026", dt.date(2026, 3, 10)),
    ("3/10/26", dt.date(2026, 3, 10)),
    ("10-Mar-2026", dt.date(2026, 3, 10)),
])
def test_dates_of_service_in_every_form(value, expected):
    assert claim_of(["dos", "dx1"], [value, "M54.17"]).dos == expected


def test_unreadable_date_is_marked_not_raised():
    claim = claim_of(["dos", "dx1"], ["13/45/2026", "M54.17"])
    assert claim.dos is None and claim.dos_unreadable


@pytest.mark.parametrize("cell, expected", [
    ("64483-RT", [("64483", ("RT",), 1.0)]),
    ("97110x2", [("97110", (), 2.0)]),
    ("99214-25", [("99214", ("25",), 1.0)]),
    (72148.0, [("72148", (), 1.0)]),
    (72148, [("72148", (), 1.0)]),
    ("64483-RT, 64484-RT", [("64483", ("RT",), 1.0), ("64484", ("RT",), 1.0)]),
    ("64483 LT 59", [("64483", ("LT", "59"), 1.0)]),
    ("97140 x3; g0283", [("97140", (), 3.0), ("G0283", (), 1.0)]),
    ("97110 x 2", [("97110", (), 2.0)]),
    # units written onto the code or onto the last modifier
    ("64483x2-RT", [("64483", ("RT",), 2.0)]),
    ("64483-RTx2", [("64483", ("RT",), 2.0)]),
    ("64483-RT-59x2, 64484-XS", [("64483", ("RT", "59"), 2.0), ("64484", ("XS",), 1.0)]),
    ("0275T", [("0275T", (), 1.0)]),
])
def test_procedures_with_modifiers_and_units(cell, expected):
    assert [(p.code, p.modifiers, p.units) for p in parse_procedures(cell)] == expected


def test_absent_column_is_unknown_blank_cell_is_not_documented():
    with_column = claim_of(["dos", "dx1", "trauma"], ["2026-03-10", "M54.17", None])
    without = claim_of(["dos", "dx1"], ["2026-03-10", "M54.17"])
    assert with_column.known("trauma") and not with_column.yes("trauma")
    assert not without.known("trauma")


@pytest.mark.parametrize("cell", ["#N/A", "#VALUE!", -2146826246, {"type": "Error", "errorType": "NotAvailable"}])
def test_excel_error_cells_become_findings_naming_the_column(cell):
    claim = claim_of(["Claim ID", "DOS", "Dx 1"], ["C1", "2026-03-10", cell])
    assert [p.rule for p in claim.problems] == ["E101"]
    assert "'Dx 1'" in claim.problems[0].message and "row 2" in claim.problems[0].message
    assert list(claim.diagnoses) == []


@pytest.mark.parametrize("cell,shown", [
    ({"type": "Error", "errorType": "NotAvailable", "message": "#N/A"}, "#N/A"),
    ({"type": "Error", "errorType": "Div0"}, "#DIV/0!"),
    ({"type": "Error", "errorType": "Value", "basicType": "Value"}, "#VALUE!"),
    ({"type": "Error", "errorType": "SomethingNew", "message": "#SPILL!"}, "#SPILL!"),
    (-2146826246, "#N/A"),
])
def test_error_cells_are_named_as_excel_shows_them(cell, shown):
    claim = claim_of(["Claim ID", "DOS", "CPT"], ["C1", "2026-03-10", cell])
    assert f"the cell holds the Excel error {shown}." in claim.problems[0].message


def test_unreadable_flag_quotes_only_that_cell():
    claim = claim_of(["claim_id", "patient_id", "trauma"], ["C1", "SECRET-PATIENT", "maybe"])
    message = claim.problems[0].message
    assert "'maybe'" in message and "SECRET-PATIENT" not in message


def test_numbers_typed_with_words():
    claim = claim_of(["conservative_care_weeks", "symptom_weeks"], ["6 weeks", 12.0])
    assert claim.number("conservative_care_weeks") == 6.0 and claim.number("symptom_weeks") == 12.0


def test_blank_rows_are_skipped_and_rows_keep_sheet_numbers():
    rows = [["C1", "2026-03-10", "M54.17"], [None, "", "  "], ["C2", "2026-03-11", "M51.17"]]
    claims = list(claims_from_rows(["claim_id", "dos", "dx1"], rows, first_row=5))
    assert [(c.claim_id, c.rows) for c in claims] == [("C1", (5,)), ("C2", (7,))]


def test_line_level_rows_group_into_claims():
    header = ["Claim ID", "DOS", "Dx 1", "Dx 2", "CPT", "Modifier 1", "Units", "Dx Pointer"]
    rows = [
        ["C1", "2026-03-10", "M54.17", "G89.29", "64483", "RT", 1, "A"],
        ["C1", "2026-03-10", None, None, "64484", "RT", 1, "A"],
        ["C2", "2026-03-11", "M51.16", None, "97110", None, 2, "1"],
    ]
    claims = list(claims_from_rows(header, rows, first_row=2))
    assert HeaderMap.from_row(header).line_level
    assert [c.rows for c in claims] == [(2, 3), (4,)]
    first = claims[0]
    assert [(p.code, p.modifiers, p.row, p.pointers) for p in first.procedures] == [
        ("64483", ("RT",), 2, (0,)), ("64484", ("RT",), 3, (0,))]
    assert list(first.diagnoses) == ["M54.17", "G89.29"]
    assert claims[1].procedures[0].units == 2


def test_claim_level_sheet_with_repeated_ids_is_not_merged():
    rows = [["C1", "2026-03-10", "M54.17", "64483-RT"], ["C1", "2026-03-10", "M51.17", "62323"]]
    assert len(list(claims_from_rows(["claim_id", "dos", "dx1", "cpt1"], rows))) == 2


@pytest.mark.parametrize("level", ["foo", "?", "L9-L10", "N/A", "lumbar"])
def test_a_nerve_root_level_that_names_no_spine_level_is_said_not_passed_over(level):
    """S302 compares the level with the codes' region; a level it cannot read must not let the
    claim pass as if nothing contradicted them (it read OK, while a blank level gets D405)."""
    from xlsheets.engine import Validator
    [result] = Validator().validate_rows(["Claim ID", "DOS", "Dx1", "CPT1", "Side", "Nerve Root Level"],
                                         [["A1", "2026-03-10", "M54.17", "64483-RT", "R", level]])
    [unreadable] = [f for f in result.findings if f.rule == "E101"]
    assert unreadable.severity.name == "WARNING" and result.status != "ok"
    assert f"{level!r} is not a nerve-root level" in unreadable.message and "Nerve Root Level" in unreadable.message


@pytest.mark.parametrize("level", ["L5-S1", "L4-5", "l4-l5", "S1", "L4, L5", "C5-C6", "T12-L1", "L5/S1 right",
                                   "L5-S1 at 45 deg", "L4-5 post 20 wks", "L-5", "Rt L5", "L5S1", "L4L5",
                                   "SI joint", "right sacroiliac", "Coccyx"])
def test_nerve_root_levels_as_written_in_records_are_read(level):
    from xlsheets.engine import Validator
    [result] = Validator().validate_rows(["Claim ID", "DOS", "Dx1", "CPT1", "Side", "Nerve Root Level"],
                                         [["A1", "2026-03-10", "M51.17", "64483-RT", "R", level]])
    assert "E101" not in {f.rule for f in result.findings}


@pytest.mark.parametrize("weeks, said", [("four", "no documented conservative care"), ("", "no documented conservative care"),
                                         (2, "2 weeks of documented conservative care")])
def test_d401_says_care_not_documented_rather_than_0_weeks(weeks, said):
    """A weeks cell that is blank or cannot be read (E101 says which) is care not documented:
    D401 said "0 weeks of documented conservative care", as if the record said none."""
    from xlsheets.engine import Validator
    header = ["Claim ID", "DOS", "Dx1", "CPT1", "Side", "Nerve Root Level", "Conservative Care Weeks"]
    esi, mri = Validator().validate_rows(header, [["A1", "2026-03-10", "M51.17", "64483-RT", "R", "L5-S1", weeks],
                                                  ["A2", "2026-03-10", "M51.17", "72148", "R", "L5-S1", weeks]])
    [on_esi] = [f.message for f in esi.findings if f.rule == "D401"]
    [on_mri] = [f.message for f in mri.findings if f.rule == "D401"]
    assert f"64483 with {said} (at least 4 weeks required)" in on_esi
    assert f"72148 with {said}; 6 weeks are expected" in on_mri
    assert "0 weeks" not in on_esi + on_mri


def test_a_diagnosis_pointer_past_the_claims_diagnoses_is_an_error_on_its_line():
    """Pointer C on a claim that lists one diagnosis points at nothing (the line is rejected):
    E101 on that line's row. Pointers within the diagnoses, on any line, are fine."""
    from xlsheets.engine import Validator
    header = ["Claim ID", "DOS", "Dx1", "Dx2", "CPT", "Dx Pointer"]
    bad, good = Validator().validate_rows(header, [
        ["A1", "2026-03-10", "M54.17", "", "64483-RT", "A"], ["A1", "2026-03-10", "", "", "99213-25", "C"],
        ["B1", "2026-03-10", "M54.17", "M51.17", "64483-RT", "A"], ["B1", "2026-03-10", "", "", "99213-25", "B"]])
    [e101] = [f for f in bad.findings if f.rule == "E101"]
    assert e101.severity.name == "ERROR" and e101.rows == (3,) and bad.status == "error"
    assert "diagnosis pointer C of 99213 points to the claim's diagnosis 3, but the claim has 1 diagnosis" in e101.message
    assert "E101" not in {f.rule for f in good.findings}


def test_a_pointer_to_a_diagnosis_box_after_a_blank_one_is_not_past_the_diagnoses():
    """Dx 3 is box C even when Dx 2 is blank: pointer C names it (it got a false E101)."""
    from xlsheets.engine import Validator
    findings = Validator().validate_row(["Claim ID", "DOS", "Dx1", "Dx2", "Dx3", "CPT1", "Dx Pointer"],
                                        ["G1", "2026-03-10", "M54.16", "", "G89.29", "99213", "C"], 2)
    assert "E101" not in {f.rule for f in findings}
    findings = Validator().validate_row(["Claim ID", "DOS", "Dx1", "Dx2", "Dx3", "CPT1", "Dx Pointer"],
                                        ["G2", "2026-03-10", "M54.16", "", "G89.29", "99213", "D"], 2)
    assert [f.rule for f in findings if f.rule == "E101"] == ["E101"]
    findings = Validator().validate_row(["Claim ID", "DOS", "Diagnoses", "CPT1", "Dx Pointer"],
                                        ["G3", "2026-03-10", "M54.16, G89.29", "99213", "B"], 2)
    assert "E101" not in {f.rule for f in findings}  # a one-cell list of diagnoses counts as written


def test_a_pointer_past_the_diagnoses_on_a_one_claim_per_row_sheet_is_an_error_in_excel_too():
    """The worksheet function checks one row at a time: the same E101 as the command line."""
    from xlsheets.engine import Validator
    findings = Validator().validate_row(["Claim ID", "DOS", "Dx1", "CPT1", "Dx Pointer"],
                                        ["A1", "2026-03-10", "M54.17", "99213", "B"], 2)
    assert [f.rule for f in findings] == ["E101"] and "pointer B of 99213" in findings[0].message
