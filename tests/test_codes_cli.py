"""``xlsheets codes ...`` output (xlsheets.codes.show.main)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from xlsheets.codes import icd10cm
from xlsheets.codes.show import main

FIX = Path(__file__).parent / "fixtures" / "cms2021"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path))
    icd10cm.reset_codeset()
    yield tmp_path
    icd10cm.reset_codeset()


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    rc = main(list(argv), out=out)
    return rc, out.getvalue()


def test_lookup():
    rc, text = run("M54.17", "--dos", "2026-03-10")
    assert rc == 0
    lines = text.splitlines()
    assert lines[0] == "M54.17  Radiculopathy, lumbosacral region"
    assert lines[1] == "  on 2026-03-10: VALID (billable)"
    assert "  billable: 2015-10-01 to 2027-03-31" in lines
    assert "  under: M54.1 > M54 > M50-M54 > 13" in lines
    at_m541 = lines.index("  notes at M54.1 (subcategory):")
    assert "    Excludes1: radiculopathy with lumbar and other intervertebral disc disorder (M51.1-)" in lines[at_m541:]
    assert lines.index("  notes at M54 (category):") > at_m541
    assert "  notes at M50-M54 (section):" in lines


def test_chapter_notes_are_counted_and_shown_only_when_asked():
    """The chapter's own notes (the same for every code of chapter 13) would bury the code's."""
    rc, text = run("M54.17", "--dos", "2026-03-10")
    assert "Excludes2: neoplasms (C00-D49)" not in text
    assert "  chapter 13: 11 more notes for the whole chapter (--all-notes shows them)" in text.splitlines()
    rc, text = run("M54.17", "--dos", "2026-03-10", "--all-notes")
    lines = text.splitlines()
    assert "  notes at 13 (chapter):" in lines and "    Excludes2: neoplasms (C00-D49)" in lines
    assert "--all-notes shows them" not in text


def test_lookup_header_and_dates():
    rc, text = run("M5137", "--dos", "2025-01-10", "--kind", "excludes1")
    assert rc == 0
    assert "NOT_ON_DATE" in text and "2015-10-01 to 2024-09-30" in text and "M51.370" in text
    assert "Excludes2" not in text


def test_lookup_unknown():
    rc, text = run("M54.19X", "--dos", "2026-03-10")
    assert rc == 1
    assert "UNKNOWN" in text and "did you mean: M54.10" in text


def test_pair():
    rc, text = run("--pair", "M54.17", "M51.17")
    assert rc == 0
    assert text.splitlines() == [
        "M54.17 + M51.17: Excludes1",
        "  note at M54.1 (applies to M54.17): radiculopathy with lumbar and other intervertebral disc disorder (M51.1-)",
        "  names M51.17; not coded together, unless the conditions are unrelated (guideline I.A.12.a)",
    ]
    rc, text = run("--pair", "M54.41", "M54.17")
    assert rc == 0 and "no Excludes1 or Excludes2 note" in text


def test_pair_json():
    rc, text = run("--pair", "G89.29", "M54.17", "--json")
    assert json.loads(text) == [{
        "a": "G89.29", "b": "M54.17", "relation": "excludes2", "carrier": "G89",
        "note": "spine pain (M54.-)", "other": "M54.17",
    }]


def test_lookup_json():
    rc, text = run("S34.21", "--dos", "2026-03-10", "--format", "json")
    [d] = json.loads(text)
    assert d["status"] == "NEEDS_7TH" and d["seventh_choices"] == ["S34.21XA", "S34.21XD", "S34.21XS"]


def test_usage_errors(capsys):
    assert run()[0] == 2
    assert run("M54.17", "--dos", "2026-13-01")[0] == 2
    assert run("import", "only-one-file")[0] == 2


def test_import_and_coverage(data_dir):
    rc, text = run("import", str(FIX / "icd10cm-order-Jan-2021_M51_M54.txt"),
                   str(FIX / "icd10cm_tabular_2021_M51_M54.xml"), "--effective", "2027-10-01")
    assert rc == 0, text
    assert "68 codes" in text and "2027-10-01 to 2028-09-29" in text
    rc, text = run("coverage")
    assert "ICD-10-CM (CMS MCE FY2016-FY2027H1): 2015-10-01 to 2027-03-31 (bundled;" in text
    assert "2027-10-01 to 2028-09-29" in text
    assert "files: icd10cm-order-Jan-2021_M51_M54.txt, icd10cm_tabular_2021_M51_M54.xml" in text  # which files
    assert "CPT/HCPCS deleted-code history (built in)" in text  # every list in force
    rc, text = run("M54.5", "--dos", "2027-11-01")
    assert rc == 0 and "VALID" in text


def test_import_bad_file(tmp_path):
    bad = tmp_path / "order.txt"
    bad.write_text("not an order file\n")
    rc, text = run("import", str(bad), str(FIX / "icd10cm_tabular_2021_M51_M54.xml"), "--effective", "2027-10-01")
    assert rc == 1 and "import failed" in text


def test_json_is_a_list_whatever_the_number_of_codes_and_windows_match_the_text():
    rc, one = run("M54.17", "--dos", "2026-03-10", "--format", "json")
    rc, two = run("M54.17", "M51.17", "--dos", "2026-03-10", "--format", "json")
    assert isinstance(json.loads(one), list) and len(json.loads(two)) == 2
    [d] = json.loads(one)
    assert d["valid_windows"] == [["2015-10-01", "2027-03-31"]]  # the text says "billable: 2015-10-01 to 2027-03-31"
    assert d["notes_not_shown"] == 11 and {n["level"] for n in d["notes"]} == {"subcategory", "category", "section"}


def test_old_json_flag_still_works_but_is_not_advertised(capsys):
    rc, text = run("M54.17", "--dos", "2026-03-10", "--json")
    assert rc == 0 and json.loads(text)[0]["code"] == "M54.17"
    with pytest.raises(SystemExit):
        run("--help")
    assert "--json" not in capsys.readouterr().out


@pytest.mark.parametrize("dos", ["03/10/2026", "3/10/26", "10.03.2026", "20260310", "10-Mar-2026"])
def test_dos_in_every_form_the_sheet_accepts(dos):
    rc, text = run("M54.17", "--dos", dos)
    assert rc == 0 and "  on 2026-03-10: VALID (billable)" in text.splitlines()


def test_dos_day_first_when_the_configuration_says_so(tmp_path):
    cfg = tmp_path / "xlsheets.toml"
    cfg.write_text('date_order = "DMY"\n')
    rc, text = run("M54.17", "--dos", "10/03/2026", "--config", str(cfg))
    assert rc == 0 and "  on 2026-03-10: VALID (billable)" in text.splitlines()
    rc, text = run("M54.17", "--dos", "03/25/2026", "--config", str(cfg))
    assert rc == 2
