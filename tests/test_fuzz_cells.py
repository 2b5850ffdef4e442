"""Property tests: no cell value, whatever Excel, xlwings, Office.js or a CSV hands over, makes
the value readers, the claim parser or the validator raise; every non-blank row gets a status.

Example counts are kept modest so the suite stays fast; benchmarks/fuzz.py runs the long fuzz.
"""
from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlsheets.claims import HeaderMap, claims_from_rows, is_blank_row, parse_row
from xlsheets.codes.icd10cm import normalize
from xlsheets.config import Config
from xlsheets.engine import Validator
from xlsheets.values import COM_ERRORS, EXCEL_ERRORS, Unreadable, read_date, read_flag, read_number

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CODE_LIKE = ["M54.17", "m5417", "M54.16 M54.17", "M51.16;G89.29", "S33.5XXA", "M4806", "M48.062",
             "64483-RT", "64484-RT,64484-LT", "97110x2", "99214-25", "72148.0", "62323", "20552",
             "Y", "N", "yes", "X", "6 weeks", "12", "-", "N/A", "A", "AB", "1,2", "13", "RT", "50",
             "03/10/2026", "2026-03-10", "31/02/2026", "46091", "\u00a0M54.17\u200b", "L", "B",
             "Medicare", "11", "02", "=HYPERLINK(\"x\")", "", "\u24fc\u2778", "\u0663", "\u00b2"]
EXCEL_ERROR_TEXT = sorted(EXCEL_ERRORS)

cell_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),                                         # huge and negative included
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from(sorted(COM_ERRORS)),                   # classic xlwings error codes
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=3e6),                 # serial-date-looking numbers
    st.datetimes(), st.dates(), st.times(),
    st.text(),                                             # any unicode, control chars included
    st.text(alphabet=st.characters(max_codepoint=0x7f), max_size=12),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=3),
    st.sampled_from(EXCEL_ERROR_TEXT),
    st.sampled_from(CODE_LIKE),
    st.builds(lambda kind: {"type": "Error", "errorType": kind, "message": "x"},
              st.sampled_from(["NotAvailable", "Value", "Div0", "", None])),  # Office.js errors
    st.builds(lambda: {"type": "Double", "basicValue": 1.0}),
)

HEADERS = ["Claim ID", "Patient ID", "DOS", "Payer", "POS", "Dx1", "Dx2", "Dx3", "Dx4", "Dx12",
           "Diagnosis codes", "CPT1", "CPT2", "CPT", "Modifier", "Modifier1", "Units", "Dx pointer",
           "Laterality", "Nerve root level", "Symptom weeks", "Conservative care weeks", "Trauma",
           "Radiating pain", "SLR positive", "Red flags", "Telehealth", "Imaging guidance",
           "Plan of care days", "ESI levels", "Notes", "Something else", ""]
headers = st.one_of(
    st.lists(st.sampled_from(HEADERS), min_size=1, max_size=14),
    st.just(["Claim ID", "Patient ID", "DOS", "Payer", "CPT", "Modifier", "Units", "Dx pointer",
             "Dx1", "Dx2"]),  # line-level
    st.lists(st.one_of(st.sampled_from(HEADERS), cell_values), max_size=8),
)


def _rows(width: int):
    return st.lists(st.lists(cell_values, min_size=0, max_size=width + 2), max_size=8)


sheets = headers.flatmap(lambda h: st.tuples(st.just(h), _rows(len(h))))


@FAST
@given(cell_values)
def test_value_readers_never_raise(value):
    d = read_date(value)
    assert d is None or isinstance(d, (dt.date, Unreadable))
    f = read_flag(value)
    assert isinstance(f, (bool, Unreadable))
    n = read_number(value)
    assert n is None or isinstance(n, Unreadable) or (isinstance(n, float) and n == n and n >= 0)


@FAST
@given(cell_values)
def test_icd10_normalize_never_raises_and_is_idempotent(value):
    code = normalize(value)
    assert code is None or isinstance(code, str)
    if code is not None:
        assert normalize(code) == code


@FAST
@given(headers, st.lists(cell_values, max_size=16), st.integers(min_value=1, max_value=1_048_576))
def test_parse_row_never_raises(header_row, values, row):
    header = HeaderMap.from_row(header_row)
    claim = parse_row(header, values, row)
    assert all(isinstance(d, str) for d in claim.diagnoses)
    # A service line's procedures carry its row; on one-claim-per-row sheets the claim's row is theirs.
    assert all(p.row == (row if header.line_level else None) for p in claim.procedures)
    assert claim.rows == (row,)


@FAST
@given(sheets)
def test_every_non_blank_row_belongs_to_exactly_one_claim(sheet):
    header_row, rows = sheet
    claims = list(claims_from_rows(header_row, rows, first_row=2))
    covered = [r for c in claims for r in c.rows]
    expected = [i + 2 for i, values in enumerate(rows) if not is_blank_row(values)]
    assert sorted(covered) == expected


def test_unicode_digits_in_a_pointer_are_a_finding_not_a_crash():
    """Found by benchmarks/fuzz.py: '\u24fc' passes str.isdigit() but int() refuses it."""
    claim = parse_row(HeaderMap.from_row(["Claim ID", "CPT", "Dx pointer", "Dx1"]),
                      ["C1", "64483", "\u24fc\u2778", "M54.17"], 2)
    assert [f.rule for f in claim.problems] == ["E101"]


_VALIDATOR = Validator(Config())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets)
def test_validate_rows_gives_every_non_blank_row_a_status(sheet):
    header_row, rows = sheet
    results = _VALIDATOR.validate_rows(header_row, rows, first_row=2)
    covered = sorted(r for res in results for r in res.rows)
    assert covered == [i + 2 for i, values in enumerate(rows) if not is_blank_row(values)]
    for res in results:
        assert res.status in ("ok", "info", "warning", "error")
        # a rule that crashed is reported as E102; none of the built-ins may crash
        crashed = [f.message for f in res.findings if f.rule == "E102"]
        assert not crashed, crashed


def test_long_junk_in_code_cells_is_clipped_not_cached_whole():
    """Found by benchmarks/fuzz.py: 32,000-character Dx/CPT cells (a pasted note) made the
    code caches hold gigabytes; codes on the claim are clipped and long cells are not cached."""
    import tracemalloc
    header = ["Claim ID", "DOS", "Dx1", "CPT1"]
    _VALIDATOR.validate_rows(header, [["C0", "2026-03-10", "M54.17", "64483"]])
    rows = [[f"C{i}", "2026-03-10", f"note {i}_" + "x" * 20_000, f"{i}" + "z" * 20_000] for i in range(200)]
    tracemalloc.start()
    results = _VALIDATOR.validate_rows(header, rows)
    del rows
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert kept < 2_000_000, f"{kept:,} bytes kept for 200 rows"  # 8 MB of cell text went in
    assert all(len(code) <= 40 for r in results for f in r.findings for code in f.codes)
    assert any("is not an ICD-10-CM code" in f.message for f in results[0].findings)
