"""Qualified Excludes1 references: "(E08-E13 with .42)" names E08.42-E13.42, not every diabetes code.

Checked against the codes' own titles (the tabular's words, not the parser's logic): a diabetes
code is excluded by G63 (polyneuropathy in diseases classified elsewhere) exactly when its title
says polyneuropathy, and so on for the other qualified notes of the spine families.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from xlsheets.codes import icd10cm
from xlsheets.codes.importer import UnparsedQualifier, parse_refs, parse_tabular

REPO = Path(__file__).resolve().parents[1]
DOS = date(2026, 4, 1)


@pytest.fixture(scope="module")
def cs():
    return icd10cm.CodeSet()


def _billable(cs, *categories):
    return [c for c in sorted(cs._win) if c[:3] in categories and cs.billable(c, DOS)]


DIABETES = tuple(f"E{n:02d}" for n in range(8, 14))


@pytest.mark.parametrize("holder, words", [
    ("G63", ("polyneuropathy",)),  # (E08-E13 with .42)
    ("G59", ("mononeuropathy",)),  # (E08-E13 with .41)
    ("G54.5", ("amyotrophy",)),  # (E08-E13 with .44)
    ("G99.0", ("autonomic",)),  # (E08-E13 with .43)
])
def test_diabetes_pairs_follow_the_qualifier(cs, holder, words):
    excluded, spared = [], []
    for e in _billable(cs, *DIABETES):
        p = cs.pair(holder, e)
        (excluded if p is not None and p.kind == "excludes1" else spared).append(e)
    assert excluded, f"no true pair left for {holder}"
    for e in excluded:
        assert any(w in cs.title(e).lower() for w in words), (holder, e, cs.title(e))
    for e in spared:
        assert not any(w in cs.title(e).lower() for w in words), (holder, e, cs.title(e))


def test_lumbar_disc_pairs_of_s33(cs):
    """S33.0's "(M51.- with fifth character 6)" names the lumbar M51 codes and narrows S33's
    unqualified "(M51.-)" for the S33.0 codes; either order gives the same answer."""
    lumbar = cs.pair("S33.0XXA", "M51.16")
    assert lumbar.carrier == "S33.0" and "fifth character 6" in lumbar.note
    assert cs.pair("M51.16", "S33.0XXA") == lumbar
    assert cs.pair("S33.0XXA", "M51.17").kind == "excludes2"  # not S33's Excludes1 (M51.-)
    assert cs.pair("M51.17", "S33.0XXA").kind == "excludes2"


def _x201(*pairs):
    """Claim ID -> whether X201 fires, for one two-code claim per pair, validated as a user's rows."""
    from xlsheets.engine import Validator

    header = ["claim_id", "dos", "dx1", "dx2"]
    rows = [[f"C{i}", "2026-03-10", a, b] for i, (a, b) in enumerate(pairs)]
    return {r.claim_id: any(f.rule == "X201" for f in r.findings) for r in Validator().validate_rows(header, rows)}


def test_a_nearer_qualified_note_narrows_the_category_note_for_the_codes_under_it():
    """S33 excludes "(M51.-)", S33.0 only "(M51.- with fifth character 6)" (lumbar): a traumatic
    lumbar disc rupture with a thoracic disc displacement is not an Excludes1 pair; S33's other
    codes keep its note as written. S23 / S23.0 ("with fifth character 4", thoracic) likewise."""
    got = _x201(("S33.0XXA", "M51.26"), ("S33.0XXA", "M51.24"), ("S23.0XXA", "M51.24"),
                   ("S23.0XXA", "M51.26"), ("S33.5XXA", "M51.24"), ("M51.24", "S33.0XXA"))
    assert got == {"C0": True, "C1": False, "C2": True, "C3": False, "C4": True, "C5": False}


def test_cli_pair_says_the_category_note_is_narrowed():
    done = _cli("--pair", "S33.0XXA", "M51.24")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Excludes1" in done.stdout and "Excludes2" in done.stdout.splitlines()[0]
    assert ("S33's Excludes1 note \"nontraumatic rupture or displacement of lumbar intervertebral disc NOS "
            "(M51.-)\" does not apply to S33.0XXA: S33.0's note") in done.stdout
    assert "(M51.- with fifth character 6)\" narrows it, and does not name M51.24" in done.stdout
    data = json.loads(_cli("--pair", "S33.0XXA", "M51.24", "--format", "json").stdout)
    assert [(n["code"], n["carrier"], n["by"]) for n in data[0]["narrowed"]] == [("S33.0XXA", "S33", "S33.0")]
    kept = _cli("--pair", "S33.5XXA", "M51.24").stdout
    assert kept.startswith("S33.5XXA + M51.24: Excludes1\n  note at S33 ") and "narrows" not in kept


@pytest.mark.parametrize("a, b, kind", [
    ("G63", "E11.9", None),
    ("G63", "E11.42", "excludes1"),
    ("G63", "E10.42", "excludes1"),
    ("G59", "E11.42", None),
    ("G59", "E13.41", "excludes1"),
    ("R44.0", "F11.151", "excludes1"),  # (F11-F19 with fifth to sixth characters 51)
    ("R44.0", "F11.150", None),
    ("F07.81", "S06.0X1A", "excludes1"),  # (S06.0X- with seventh character A)
    ("F07.81", "S06.0X1D", None),
    ("V00.218A", "V01.99XA", "excludes1"),  # (V01-V09 with 5th character 9)
    ("R47.01", "I69.320", "excludes1"),  # (I69. with final characters -20)
    ("R47.01", "I69.20", None),
    ("S51.011A", "S52.501B", "excludes1"),  # (S52.- with open fracture 7th character)
    ("S51.011A", "S52.501A", None),
])
def test_qualified_forms(cs, a, b, kind):
    p = cs.pair(a, b)
    got = p.kind if p is not None and p.kind == "excludes1" else None
    assert got == kind, (a, b, p)


_TABULAR = None
if importlib.util.find_spec("simple_icd_10_cm") is not None:
    _TABULAR = Path(importlib.util.find_spec("simple_icd_10_cm").submodule_search_locations[0],
                    "data", "icd10c-tabular-April-1-2026.xml")


@pytest.mark.skipif(_TABULAR is None, reason="simple-icd-10-cm (the CMS FY2026 tabular) not installed")
def test_every_qualifier_of_the_fy2026_tabular_is_read():
    stats: dict[str, int] = {}
    tree = parse_tabular(_TABULAR, strict=True, stats=stats)  # raises on a qualifier it cannot read
    assert stats["unparsed"] == 0
    assert stats["qualified excludes1"] == 47 and stats["qualified excludes2"] == 18
    assert stats["qualified"] == 189  # all note kinds (use additional code, code first, ...)
    g63 = tree["names"].index("G63")
    refs = [r for i, k, t, r in tree["notes"] if i == g63 and "E08-E13" in t]
    assert refs == [["E08.42", "E09.42", "E10.42", "E11.42", "E13.42"]]


def test_an_unknown_qualifier_fails_the_strict_parse_and_is_counted_otherwise(tmp_path):
    names = sorted(["E08", "E08.42", "E08.9", "E11", "E11.42", "E11.9"])
    assert parse_refs("x (E08-E11 with .42)", names) == ["E08.42", "E11.42"]
    with pytest.raises(UnparsedQualifier):
        parse_refs("x (E08-E11 with complications)", names)
    xml = tmp_path / "t.xml"
    xml.write_text(
        "<ICD10CM.tabular><version>2099</version><chapter><name>4</name><desc>Endocrine</desc>"
        "<section id='E08-E13'><desc>Diabetes</desc>"
        "<diag><name>E11</name><desc>Type 2</desc><diag><name>E11.9</name><desc>no complications</desc></diag></diag>"
        "<diag><name>G63</name><desc>Polyneuropathy</desc>"
        "<excludes1><note>diabetes (E11 with lucky sixth sense)</note></excludes1></diag>"
        "</section></chapter></ICD10CM.tabular>", encoding="utf-8")
    with pytest.raises(UnparsedQualifier, match="lucky sixth sense"):
        parse_tabular(xml, strict=True)
    stats: dict[str, int] = {}
    tree = parse_tabular(xml, stats=stats)  # a user's import: the whole range, and counted
    assert stats["unparsed"] == 1 and tree["notes"][0][3] == ["E11"]


def _cli(*args):
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(REPO / ".no-imports"))
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", "codes", *args],
                          capture_output=True, text=True, env=env, cwd=REPO)


def test_cli_pair_g63():
    none = _cli("--pair", "G63", "E11.9")
    assert none.returncode == 0 and "Excludes1" not in none.stdout, none.stdout + none.stderr
    yes = _cli("--pair", "G63", "E11.42")
    assert yes.returncode == 0 and "Excludes1" in yes.stdout and "E08-E13 with .42" in yes.stdout
