"""Cross-check the bundled FY2026 data against simple-icd-10-cm 1.5.0's own API.

simple-icd-10-cm is a test dependency (``pip install xlsheets[test]``); CI installs it, so this
module imports it directly instead of skipping.
"""

from __future__ import annotations

from datetime import date

import pytest
import simple_icd_10_cm as sicd

from xlsheets.codes import icd10cm

# The April 1 2026 update is what simple-icd-10-cm 1.5.0 carries.
APRIL_2026 = date(2026, 4, 1)


@pytest.fixture(scope="module")
def cs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("XLSHEETS_DATA_DIR", str(tmp_path_factory.mktemp("nodata")))
    icd10cm.reset_codeset()
    yield icd10cm.get_codeset()
    mp.undo()
    icd10cm.reset_codeset()


@pytest.fixture(scope="module")
def all_codes():
    # a few sections share their name with a category (B99, T07, ...): keep every code once
    return sorted({c for c in sicd.get_all_codes(with_dots=True) if sicd.is_category_or_subcategory(c)})


def test_every_code_billability_matches(cs, all_codes):
    assert len(all_codes) > 90_000
    wrong = [c for c in all_codes if cs.billable(c, APRIL_2026) != sicd.is_leaf(c)]
    assert wrong == []


def _squash(s: str | None) -> str | None:
    return None if s is None else "".join(s.split())


def test_every_code_title_matches(cs, all_codes):
    # simple-icd-10-cm keeps the XML's layout tabs inside some 7th-character meanings
    # ("involvement/\tadvanced dry stage"); we collapse whitespace. Compare exactly otherwise.
    wrong = []
    for c in all_codes:
        theirs, ours = sicd.get_description(c), cs.title(c)
        if ("\t" in theirs or "\n" in theirs) and _squash(ours) == _squash(theirs):
            continue
        if ours != theirs:
            wrong.append((c, ours, theirs))
    assert wrong == []


def test_billable_count_matches_leaf_count(cs, all_codes):
    leaves = sum(1 for c in all_codes if sicd.is_leaf(c))
    assert sum(1 for c in cs._win if cs.billable(c, APRIL_2026)) == leaves


def test_chapters_and_sections_titles(cs):
    for c in sicd.get_all_codes(with_dots=True):
        if sicd.is_chapter_or_block(c) and not sicd.is_category_or_subcategory(c):
            assert cs._tree().titles[cs._tree().index[c]] == sicd.get_description(c)


def test_excludes_notes_match(cs, all_codes):
    """Every Excludes1/Excludes2 note simple-icd-10-cm reports for a code is stored at that code."""
    tree = cs._tree()
    for c in all_codes:
        i = tree.index.get(c)
        if i is None:
            continue  # generated 7th-character codes carry no notes of their own
        own = tree.notes.get(i, [])
        assert [t for k, t, _ in own if k == "excludes1"] == [" ".join(x.split()) for x in sicd.get_excludes1(c)], c
        assert [t for k, t, _ in own if k == "excludes2"] == [" ".join(x.split()) for x in sicd.get_excludes2(c)], c


def test_seventh_characters_match(cs):
    for c in ["S34.21", "S32.001", "T36.0X1", "M80.08", "S72.001"]:
        want = [k for k in sicd.get_children(c)] if sicd.is_valid_item(c) else []
        assert sorted(cs.seventh_character(c)) == sorted(want), c
