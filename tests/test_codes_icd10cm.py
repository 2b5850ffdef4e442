"""ICD-10-CM code set: normalisation, validity by date, 7th characters, notes, Excludes pairs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from xlsheets.codes import icd10cm
from xlsheets.codes.icd10cm import (
    BAD_7TH,
    HEADER,
    NEEDS_7TH,
    NOT_ON_DATE,
    UNKNOWN,
    VALID,
    dotted,
    electronic,
    get_codeset,
    normalize,
)

D2026 = date(2026, 3, 10)


@pytest.fixture(scope="module")
def cs(tmp_path_factory):
    # an empty data folder: no imported releases leak in from the user's machine
    mp = pytest.MonkeyPatch()
    mp.setenv("XLSHEETS_DATA_DIR", str(tmp_path_factory.mktemp("nodata")))
    icd10cm.reset_codeset()
    yield get_codeset()
    mp.undo()
    icd10cm.reset_codeset()


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, want",
    [
        ("M54.17", "M54.17"),
        ("M5417", "M54.17"),
        ("m54.17 ", "M54.17"),
        ("\u00a0M54.17\u00a0", "M54.17"),
        ("M54\u00a0.17", "M54.17"),
        ("M54.\u200b17", "M54.17"),
        ("QA0.0101", "QA0.0101"),
        ("QA00101", "QA0.0101"),
        ("S3421XA", "S34.21XA"),
        ("O9A.11", "O9A.11"),
        ("M54", "M54"),
        ("M54.", "M54"),
        ("z3a.20", "Z3A.20"),
    ],
)
def test_normalize_accepts(raw, want):
    assert normalize(raw) == want


@pytest.mark.parametrize(
    "raw", ["", "  ", None, 5417, "M5", "ABC", "NOS", "M54.17.1", "M54.123456", "54.17", "M54-17", "M54 17", "N/A"]
)
def test_normalize_rejects(raw):
    assert normalize(raw) is None


def test_electronic_and_dotted():
    assert electronic("M54.17") == "M5417"
    assert electronic("m5417") == "M5417"
    assert dotted("M5417") == "M54.17"
    assert electronic("bad code") is None


# --- validity by date --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day, count",
    [(date(2023, 10, 1), 74_044), (date(2024, 10, 1), 74_260), (date(2025, 10, 1), 74_719), (date(2026, 10, 1), 74_879)],
)
def test_valid_code_counts_per_date(cs, day, count):
    assert sum(1 for c in cs._win if cs.billable(c, day)) == count


def test_coverage(cs):
    assert cs.covers(date(2015, 10, 1)) and cs.covers(date(2027, 3, 31))
    assert not cs.covers(date(2015, 9, 30)) and not cs.covers(date(2027, 4, 1))
    [bundled] = cs.coverage()
    assert bundled["name"] == "ICD-10-CM (CMS MCE FY2016-FY2027H1)" and bundled["source"] == "bundled"
    assert (bundled["from"], bundled["to"]) == ("2015-10-01", "2027-03-31")
    assert "FY2026" in bundled["version"] and "icd10c-tabular-April-1-2026.xml" in bundled["files"]


def test_m545_header_since_fy2022(cs):
    assert cs.billable("M54.5", date(2021, 6, 1))
    assert cs.check("M54.5", date(2021, 6, 1)).status == VALID
    assert not cs.billable("M54.5", date(2021, 10, 1))
    chk = cs.check("M54.5", date(2022, 1, 10))
    assert chk.status == NOT_ON_DATE
    assert chk.children == ("M54.50", "M54.51", "M54.59")
    assert chk.valid_windows == ((date(2015, 10, 1), date(2021, 9, 30)),)
    assert cs.billable_children("M54.5", date(2026, 1, 1)) == ["M54.50", "M54.51", "M54.59"]


def test_m5450_not_before_fy2022(cs):
    assert not cs.billable("M54.50", date(2021, 6, 1))
    assert cs.check("M54.50", date(2021, 6, 1)).status == NOT_ON_DATE
    assert cs.billable("M54.50", date(2021, 10, 1))


def test_m5137_until_fy2024(cs):
    assert cs.billable("M51.37", date(2024, 6, 1))
    assert cs.billable("M51.37", date(2024, 9, 30))
    assert not cs.billable("M51.37", date(2025, 1, 10))
    chk = cs.check("M51.37", date(2025, 1, 10))
    assert chk.status == NOT_ON_DATE
    assert chk.valid_windows[-1][1] == date(2024, 9, 30)
    assert "M51.370" in chk.children


def test_header(cs):
    chk = cs.check("M54.1", D2026)
    assert chk.status == HEADER
    assert chk.children[0] == "M54.10" and "M54.17" in chk.children
    assert cs.exists("M54.1", D2026) and not cs.billable("M54.1", D2026)


def test_billable_accepts_electronic_form(cs):
    assert cs.billable("M5417", D2026)
    assert cs.check("m5417", D2026).status == VALID


def test_qa0(cs):
    assert cs.billable("QA0.0101", date(2026, 1, 15))
    assert cs.check("QA0.0101", date(2026, 1, 15)).status == VALID
    assert not cs.billable("QA0.0101", date(2025, 1, 15))


def test_seventh_character(cs):
    assert cs.seventh_character("S34.21") == {
        "S34.21XA": "initial encounter",
        "S34.21XD": "subsequent encounter",
        "S34.21XS": "sequela",
    }
    assert cs.billable("S34.21XA", D2026)
    assert not cs.billable("S34.21XB", D2026)
    chk = cs.check("S34.21", D2026)
    assert chk.status == NEEDS_7TH and chk.seventh_choices == ("S34.21XA", "S34.21XD", "S34.21XS")
    bad = cs.check("S34.21XB", D2026)
    assert bad.status == BAD_7TH and "S34.21XA" in bad.seventh_choices
    assert cs.title("S34.21XA") == "Injury of nerve root of lumbar spine, initial encounter"
    assert cs.ancestors("S34.21XA")[:3] == ["S34.21", "S34.2", "S34"]


def test_unknown_with_suggestions(cs):
    chk = cs.check("M54.19X", D2026)
    assert chk.status == UNKNOWN
    assert "M54.17" in chk.suggestions and "M54.18" in chk.suggestions
    assert cs.suggest("M5417") == [] or "M54.17" not in cs.suggest("M5417")  # itself is not a suggestion
    assert "M54.17" in cs.suggest("M54.71")  # transposed
    assert "M54.17" in cs.suggest("M54.1")[:10] or "M54.17" in cs.suggest("M54.177")  # extra character
    assert "M54.50" in cs.suggest("M54.5O", D2026)  # letter O for zero
    assert "M51.16" in cs.suggest("M5I.16")  # letter I for one
    assert cs.check("not a code", D2026).status == UNKNOWN


def test_titles_and_ancestors(cs):
    assert cs.title("M54.17") == "Radiculopathy, lumbosacral region"
    assert cs.ancestors("M54.17") == ["M54.1", "M54", "M50-M54", "13"]
    assert cs.title("X99.999") is None


def test_valid_windows(cs):
    assert cs.valid_windows("M54.17") == [(date(2015, 10, 1), date(2027, 3, 31))]
    assert cs.valid_windows("M54.1") == []


# --- notes -------------------------------------------------------------------------------------


def test_notes_inherited(cs):
    ex1 = cs.notes("M54.17", "excludes1")
    assert any(n.carrier == "M54.1" and "M51.1" in n.refs for n in ex1)
    assert any(n.carrier == "M50-M54" for n in ex1)  # section notes apply too
    kinds = {n.kind for n in cs.notes("M54.17")}
    assert {"excludes1", "excludes2", "inclusionTerm", "notes"} <= kinds


@pytest.mark.parametrize(
    "a, b, kind, carrier",
    [
        ("M54.17", "M51.17", "excludes1", "M54.1"),
        ("M51.17", "M54.17", "excludes1", "M54.1"),
        ("M54.16", "M51.16", "excludes1", "M51.1"),  # both name each other; M51.1 names M54.16 exactly
        ("M51.16", "M54.16", "excludes1", "M51.1"),
        ("M54.12", "M47.22", "excludes1", "M54.1"),
        ("M54.17", "M47.27", "excludes1", "M54.1"),
        ("G89.29", "G89.4", "excludes1", "G89.2"),
        ("G89.29", "M54.17", "excludes2", "G89"),
        ("M5417", "m5117", "excludes1", "M54.1"),
    ],
)
def test_pairs(cs, a, b, kind, carrier):
    p = cs.pair(a, b)
    assert p is not None and p.kind == kind and p.carrier == carrier
    assert p.note in [n.text for n in cs.notes(carrier, kind)]


def test_pair_note_text_and_other(cs):
    p = cs.pair("M54.17", "M51.17")
    assert p.note == "radiculopathy with lumbar and other intervertebral disc disorder (M51.1-)"
    assert p.other == "M51.17"


@pytest.mark.parametrize("a, b", [("M54.41", "M54.17"), ("M54.42", "M54.16"), ("M54.17", "M54.17"), ("M54.17", "junk")])
def test_no_excludes1(cs, a, b):
    p = cs.pair(a, b)
    assert p is None or p.kind != "excludes1"


def test_ref_parsing_forms():
    from xlsheets.codes.importer import parse_refs

    names = sorted(["M50", "M51", "M51.1", "M51.16", "M52", "M53", "M54", "E08", "E08.0", "R07.1", "R07.2", "R07.9", "G89.4"])
    assert parse_refs("x (M51.1-)", names) == ["M51.1"]
    assert parse_refs("x (M50-M54)", names) == ["M50", "M51", "M52", "M53", "M54"]
    assert parse_refs("x (E08.-)", names) == ["E08"]
    assert parse_refs("x (G89.4)", names) == ["G89.4"]
    assert parse_refs("x (R07.1-R07.9)", names) == ["R07.1", "R07.2", "R07.9"]
    assert parse_refs("x (G89.4, M51.1-)", names) == ["G89.4", "M51.1"]
    assert parse_refs("vitamin B12 deficiency", names) == []


# --- manifestation, code first ------------------------------------------------------------------


def test_manifestation(cs):
    assert cs.is_manifestation("G63")  # polyneuropathy in diseases classified elsewhere
    assert cs.is_manifestation("M49.86")
    assert cs.is_manifestation("G55")  # nerve root compressions in diseases classified elsewhere
    assert cs.is_manifestation("G99.2")  # myelopathy in diseases classified elsewhere
    assert not cs.is_manifestation("M54.17")
    # sequencing hints ("code first any associated ...", section-level notes) are not manifestations
    assert not cs.is_manifestation("S32.001A")
    assert not cs.is_manifestation("T36.0X1A")
    assert cs.code_first("S32.001A")
    assert cs.code_first("G63")
    assert cs.code_first("M54.17") == []


def test_check_is_cached(cs):
    assert cs.check("M54.17", D2026) is cs.check("M54.17", D2026)
    d = cs.check("M54.5", date(2022, 1, 10)).to_dict()
    assert d["status"] == "NOT_ON_DATE" and d["valid_windows"] == [["2015-10-01", "2021-09-30"]]


def test_get_codeset_is_shared(cs):
    assert get_codeset() is cs


# --- properties ---------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="AMQSZ0159X. \u00a0amx-", max_size=10))
def test_normalize_is_idempotent_and_round_trips(raw):
    n = normalize(raw)
    if n is not None:
        assert normalize(n) == n
        assert dotted(electronic(n)) == n
        assert "." not in electronic(n)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=75_000), st.dates(min_value=date(2015, 10, 1), max_value=date(2027, 3, 31)))
def test_billable_agrees_with_check_and_windows(cs, i, day):
    code = sorted(cs._win)[i % len(cs._win)]
    b = cs.billable(code, day)
    assert (cs.check(code, day).status == VALID) == b
    assert b == any(f <= day <= t for f, t in cs.valid_windows(code))


_SPINE = ["M54.16", "M54.17", "M51.16", "M51.17", "M47.26", "M47.27", "M47.816", "M54.41", "M54.42", "M54.50",
          "G89.29", "G89.4", "M48.062", "M43.17", "M79.18", "S34.21XA", "R52", "F45.41", "M46.46", "M79.2"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_SPINE), st.sampled_from(_SPINE))
def test_pair_is_symmetric(cs, a, b):
    p, q = cs.pair(a, b), cs.pair(b, a)
    assert (p is None) == (q is None)
    if p is not None:
        assert (p.kind, p.carrier, p.note, p.other) == (q.kind, q.carrier, q.note, q.other)
        assert p.other in (a, b)


def test_xml_parse_error_in_cli(tmp_path, monkeypatch):
    import io

    from xlsheets.codes.show import main

    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path))
    bad = tmp_path / "t.xml"
    bad.write_text("<ICD10CM.tabular><chapter>")
    order = Path(__file__).parent / "fixtures" / "cms2021" / "icd10cm-order-Jan-2021_M51_M54.txt"
    out = io.StringIO()
    assert main(["import", str(order), str(bad), "--effective", "2027-10-01"], out=out) == 1
    assert "not well-formed" in out.getvalue()


def test_pair_notes_lists_both_directions(cs):
    carriers = {(p.kind, p.carrier) for p in cs.pair_notes("M54.16", "M51.16")}
    assert carriers == {("excludes1", "M54.1"), ("excludes1", "M51.1")}
    assert cs.pair_notes("M54.41", "M54.17") == []
