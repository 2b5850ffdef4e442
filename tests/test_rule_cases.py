"""The built-in rule catalogue (domain.md §3) against one cases file per rule ID.

tests/cases/<RULE>.toml holds claims a billing expert would write for that rule: the catalogue's
own examples, the claims where it must stay silent, and the values people actually type. The
runner (xlsheets.testing) gives one test per case; the checks below make sure no rule is left
without a file that shows it firing and staying quiet, and that the messages say what the
catalogue promises (the runner checks rule IDs and severities, not wording).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from pathlib import Path

import pytest

from xlsheets.config import Config, config_from_dict
from xlsheets.findings import Severity
from xlsheets.engine import Validator
from xlsheets.plugins import PluginHost
from xlsheets.ncci import import_files, reset_ncci
from xlsheets.testing import cases

CASES = Path(__file__).parent / "cases"
FILES = sorted(CASES.glob("*.toml"))
NCCI_SAMPLES = sorted((Path(__file__).parent / "fixtures" / "ncci").glob("sample-not-cms-data_*"))


@contextlib.contextmanager
def _data_dir(path: str):
    """The N rules' cases run with the sample NCCI files imported; the others with none (as on a
    fresh install, and whatever the machine running the tests has imported)."""
    old = os.environ.get("XLSHEETS_DATA_DIR")
    os.environ["XLSHEETS_DATA_DIR"] = path
    reset_ncci()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("XLSHEETS_DATA_DIR", None)
        else:
            os.environ["XLSHEETS_DATA_DIR"] = old
        reset_ncci()


_WITH_NCCI = tempfile.mkdtemp(prefix="xlsheets-ncci-cases-")
_WITHOUT = tempfile.mkdtemp(prefix="xlsheets-no-data-")
import_files([p for p in NCCI_SAMPLES if not p.name.endswith("-f1.txt") and not p.name.endswith("-f2.txt")],
             _WITH_NCCI)


def _cases_of(path: Path) -> list:
    with _data_dir(_WITH_NCCI if path.stem.startswith("N") else _WITHOUT):
        return list(cases(path))


def _builtin_ids() -> list[str]:
    host = PluginHost()
    host.load_builtins()
    host.finish()
    return sorted({r.id for r in host.rules})  # N501/N502 have a claim and a batch part


BUILTIN = _builtin_ids()


@pytest.mark.parametrize(
    "case", [pytest.param(*p.values, id=f"{f.stem}: {p.id}") for f in FILES for p in _cases_of(f)],
)
def test_case(case):
    case.check()


@pytest.mark.parametrize("rule_id", BUILTIN)
def test_every_rule_has_firing_and_silent_cases(rule_id):
    path = CASES / f"{rule_id}.toml"
    assert path.is_file(), f"no cases file for {rule_id}: add tests/cases/{rule_id}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))

    def fires(case):
        return (rule_id in case.get("expect", []) or rule_id in case.get("severity", {})
                or any(rule_id in ids for ids in case.get("expect_on", {}).values()))

    def silent(case):
        return (rule_id in case.get("expect_not", [])
                or any(rule_id in ids for ids in case.get("expect_not_on", {}).values()))

    assert any(fires(c) for c in data["case"]), f"{path.name}: no case where {rule_id} fires"
    assert any(silent(c) for c in data["case"]), f"{path.name}: no case where {rule_id} must not fire"


def test_catalogue_is_complete():
    """Exactly the catalogue of domain.md §3, one cases file each, and no stray files."""
    catalogue = ([f"C{n}" for n in range(101, 115)] + [f"X{n}" for n in range(201, 204)]
                 + [f"S{n}" for n in range(301, 311)] + [f"D{n}" for n in range(401, 407)]
                 + ["N501", "N502", "N503"])
    assert BUILTIN == sorted(catalogue)
    assert [f.stem for f in FILES] == sorted(catalogue)


# --- what the messages must say --------------------------------------------------------------
def _findings(row: dict, cfg: Config | None = None, rule_id: str | None = None):
    header = list(row)
    results = Validator(cfg or Config()).validate_rows(header, [[row[h] for h in header]])
    found = [f for r in results for f in r.findings]
    return [f for f in found if f.rule == rule_id] if rule_id else found


def _one(row: dict, rule_id: str, cfg: Config | None = None):
    hits = _findings(row, cfg, rule_id)
    assert len(hits) == 1, f"expected one {rule_id}, got {hits or _findings(row, cfg)}"
    return hits[0]


def test_c101_suggests_near_matches():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.19X"}, "C101")
    assert "Did you mean M54.1" in f.message and f.suggestion.startswith("M54.1")


def test_c102_lists_billable_children():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.4"}, "C102")
    assert all(c in f.message for c in ("M54.40", "M54.41", "M54.42"))


def test_c103_for_a_former_code_that_is_a_header_now_gives_its_children_as_the_fix():
    f = _one({"claim_id": "A1", "dos": "2022-01-10", "dx1": "M54.5"}, "C103")
    assert "since 2021-10-01" in f.message and f.suggestion == "M54.50 / M54.51 / M54.59"
    assert not _findings({"claim_id": "A1", "dos": "2022-01-10", "dx1": "M54.5"}, rule_id="C102")


def test_c103_gives_the_window_of_a_code_of_another_year():
    f = _one({"claim_id": "A1", "dos": "2023-08-01", "dx1": "S63.14"}, "C103")
    assert "2015-10-01 to 2017-09-30" in f.message
    f = _one({"claim_id": "A1", "dos": "2023-08-01", "dx1": "M67.A"}, "C103")
    assert "2026-10-01 to 2027-03-31" in f.message


def test_c104_lists_valid_seventh_characters():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "S34.21"}, "C104")
    assert all(c in f.message for c in ("S34.21XA", "S34.21XD", "S34.21XS"))


def test_c106_names_the_replacement():
    f = _one({"claim_id": "A1", "dos": "2022-03-01", "dx1": "M54.17", "cpt1": "99201"}, "C106")
    assert f.suggestion == "99202"


def test_c108_says_what_to_import():
    f = _one({"claim_id": "A1", "dos": "2027-06-01", "dx1": "M54.17"}, "C108")
    assert "2027-03-31" in f.message and "xlsheets codes import" in f.message


def test_c110_off_by_default_and_on_when_configured():
    row = {"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17"}
    assert not _findings(row, rule_id="C110")
    f = _one(row, "C110", config_from_dict({"electronic_format": True}))
    assert f.suggestion == "M5417"


def test_x201_quotes_the_note_and_the_exception():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17", "dx2": "M51.17"}, "X201")
    assert "M51.1-" in f.message  # the note M54.17 inherits from M54.1
    assert "unrelated" in f.message and "I.A.12.a" in f.message


def test_x201_quotes_the_note_that_names_the_code():
    """M14's "(E08-E13 with .61-)" names E11.618; M14.6's nearer "(E08-E13 with .610)" does not."""
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M14.611", "dx2": "E11.618"}, "X201")
    assert 'M14 says "Excludes1: diabetes mellitus (E08-E13 with .61-)"' in f.message
    assert ".610" not in f.message


def test_x201_suggestion_leaves_the_choice_to_the_documentation():
    """M54.1 and M51.1 exclude each other: the note alone cannot say which code stays."""
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17", "dx2": "M51.17"}, "X201")
    assert "M54.17" in f.suggestion and "M51.17" in f.suggestion and "unrelated" in f.suggestion


def test_x202_names_a_chapter_note_as_a_chapter():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17", "dx2": "S34.21XA"}, "X202")
    assert 'chapter 13 says "Excludes2' in f.message


def test_x203_quotes_the_code_first_note_as_a_sentence():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "G55", "dx2": "C79.51"}, "X203")
    assert "code first underlying disease, such as: neoplasm (C00-D49)" in f.message


def test_x201_downgraded_by_policy():
    cfg = config_from_dict({"severity": {"X201": "warning"}})
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17", "dx2": "M51.17"}, "X201", cfg)
    assert f.severity == Severity.WARNING


def test_s303_says_verify_payer_policy():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.16", "dx2": "M54.17"}, "S303")
    assert "verify the payer's policy" in f.message


def test_s305_cites_the_guideline_without_time_frame():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17", "symptom_weeks": 16}, "S305")
    assert "I.C.6.b.4" in f.message and "no time frame" in f.message
    assert "pain management" in f.message


def test_s304_suggests_injury_code_with_seventh_character():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.16", "trauma": "Y"}, "S304")
    assert f.suggestion == "S34.21XA"


def test_c111_reported_on_the_add_on_row_of_a_line_level_sheet():
    """domain §2: an add-on whose primary is missing from the claim's rows is reported on its row."""
    header = ["Claim ID", "DOS", "Dx 1", "CPT", "Units"]
    rows = [["L1", "03/10/2026", "M54.17", "99214", 1],
            ["L1", "03/10/2026", "", "72148", 1],
            ["L1", "03/10/2026", "", "64484-RT", 1]]
    results = Validator(Config()).validate_rows(header, rows)
    hits = [f for r in results for f in r.findings if f.rule == "C111"]
    assert len(results) == 1 and len(hits) == 1
    assert hits[0].rows == (4,) and "64483" in hits[0].message


def test_s302_suggests_the_code_of_the_documented_region_for_every_spine_code():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M51.26", "nerve_root_level": "L5-S1"}, "S302")
    assert f.suggestion == "M51.27" and "lumbosacral" in f.message
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M48.07", "nerve_root_level": "L4-L5"}, "S302")
    assert f.suggestion == "M48.061 / M48.062"


def test_s309_names_the_code_of_the_documented_side():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.41", "laterality": "L"}, "S309")
    assert f.suggestion == "M54.42" and "right" in f.message


def test_s310_says_why_the_encounter_is_for_pain_management():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M51.17", "dx2": "G89.29", "cpt1": "64493"}, "S310")
    assert "64493" in f.message and f.suggestion == "list G89.29 first"


def test_d401_gives_the_medicare_pain_duration():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.17", "cpt1": "64483-RT", "laterality": "R",
              "nerve_root_level": "L5-S1", "conservative_care_weeks": 6, "symptom_weeks": 2}, "D401")
    assert "pain for 2 weeks" in f.message and "at least 4 weeks of pain" in f.message


def test_d406_says_to_code_documented_myofascial_pain():
    f = _one({"claim_id": "A1", "dos": "2026-03-10", "dx1": "M54.16", "cpt1": "20552", "myofascial_pain": "Y"}, "D406")
    assert "code it" in f.message and "M79.1-" in f.message


def test_c114_is_reported_on_the_guidance_line():
    header = ["Claim ID", "DOS", "Dx 1", "CPT", "Modifier 1"]
    rows = [["L1", "03/10/2026", "M54.17", "64483", "RT"], ["L1", "03/10/2026", "", "77003", ""]]
    results = Validator(Config()).validate_rows(header, rows)
    (hit,) = [f for r in results for f in r.findings if f.rule == "C114"]
    assert hit.rows == (3,) and hit.suggestion == "remove 77003" and "included in 64483" in hit.message
