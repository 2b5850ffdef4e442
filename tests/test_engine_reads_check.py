"""A ``reads`` promise is kept, or fails loudly (issue 10, item 9).

A rule that declares ``reads`` has its findings reused for claims with the same values of those
fields. In checking mode (the case runner: ``xlsheets plugins test``, ``xlsheets.testing``, and
so the built-in rules' cases suite) every field the rule asks the frozen claim for is recorded,
and one outside ``reads`` is a failure naming the rule, its file and line, and the field.
Outside checking mode a plugin rule is watched on its first runs: caught, it is no longer reused.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from xlsheets import cli
from xlsheets.config import Config
from xlsheets.engine import Validator
from xlsheets.plugins import load_plugins
from xlsheets.testing import run_cases_file

ROOT = Path(__file__).resolve().parent.parent

# Acme reviews radiculopathy, but only for Acme: the rule reads claim.payer (line 13) while it
# declares reads=("diagnoses",) (the decorator, line 5).
LEAKY = '''\
"""Acme Health: radiculopathy is reviewed."""
import xlsheets


@xlsheets.rule("ACME101", severity="warning", dx=("M54.1",), reads=("diagnoses",),
               reference="Acme policy 7")
def acme_radiculopathy(claim, ctx):
    """Acme reviews radiculopathy codes.

    Why: Acme policy 7.
    Fix: attach the notes.
    """
    if claim.payer.lower().startswith("acme"):
        yield ctx.finding("Acme reviews radiculopathy", codes=claim.dx_with_prefix("M54.1"))


@xlsheets.hookimpl
def xlsheets_rules():
    return [acme_radiculopathy]
'''
KEPT = LEAKY.replace('reads=("diagnoses",)', 'reads=("diagnoses", "payer")')

CASES = '''\
[defaults]
dos = "2026-03-10"

[[case]]
name = "Acme claim"
row = {claim_id = "A1", payer = "Acme Health", dx1 = "M54.16"}
expect = ["ACME101"]

[[case]]
name = "same code, another payer"
row = {claim_id = "B1", payer = "Northwind", dx1 = "M54.16"}
expect_not = ["ACME101"]
'''


def write_plugin(folder: Path, text: str, name: str = "acme") -> Path:
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    (folder / f"{name}.cases.toml").write_text(CASES, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A practice folder: no configuration from elsewhere, no installed plugins."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "userconfig"))
    monkeypatch.setenv("XLSHEETS_NO_ENTRY_POINTS", "1")
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    (tmp_path / "plugins").mkdir()
    return tmp_path


# --- the case runner ----------------------------------------------------------------------
def test_plugins_test_fails_a_rule_that_reads_outside_its_reads(home, capsys):
    write_plugin(home / "plugins", LEAKY)
    code = cli.main(["plugins", "test", "plugins/acme.py"])
    out = capsys.readouterr().out
    assert code == 1
    expected = (f"rule ACME101 ({Path('plugins/acme.py')}, line 5) declares reads=('diagnoses',) but "
                "read claim.payer (line 13); add 'payer' to reads or remove reads")
    assert expected in out
    assert "FAIL  Acme claim" in out
    # reuse stopped as soon as it was caught: the other payer's claim did not get Acme's finding
    assert "PASS  same code, another payer" in out


def test_run_cases_file_reports_the_broken_promise(tmp_path):
    plugin = write_plugin(tmp_path, LEAKY)
    report = run_cases_file(tmp_path / "acme.cases.toml", plugin=plugin)
    assert not report.ok
    (failure,) = report.failures
    assert f"({plugin}, line 5)" in failure and "read claim.payer (line 13)" in failure
    assert "case 'Acme claim'" in failure


def test_a_plugin_that_keeps_its_promise_passes(home, capsys):
    write_plugin(home / "plugins", KEPT)
    assert cli.main(["plugins", "test", "plugins/acme.py"]) == 0
    assert "2 of 2 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("cases_file", sorted((ROOT / "tests" / "cases").glob("*.toml"))
                         + sorted((ROOT / "plugins").glob("*.cases.toml")), ids=lambda p: p.name)
def test_built_in_rules_and_example_plugins_keep_their_reads(cases_file):
    plugin = None
    if cases_file.parent.name == "plugins":
        plugin = cases_file.with_name(cases_file.name.replace(".cases.toml", ".py"))
    report = run_cases_file(cases_file, plugin=plugin)
    assert not [f for f in report.failures if "declares reads=" in f]


# --- what counts as a read ------------------------------------------------------------------
def checked(tmp_path, body: str, reads: tuple, header: list, rows: list, **config):
    """Validate rows in checking mode with one plugin rule; (validator, results)."""
    source = (f'import xlsheets\n\n@xlsheets.rule("PRB101", severity="warning", dx=("M54",), reads={reads!r})\n'
              'def probe(claim, ctx):\n    """Probe."""\n'
              + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
              + "\n\n@xlsheets.hookimpl\ndef xlsheets_rules():\n    return [probe]\n")
    (tmp_path / "probe.py").write_text(source, encoding="utf-8")
    v = Validator(Config(plugins=["probe"], **config), host=load_plugins([tmp_path], entry_points=False, cache=False),
                  check_reads=True)
    return v, v.validate_rows(header, rows)


HEADER = ["Claim ID", "Patient", "DOS", "Payer", "POS", "Dx 1", "CPT", "Red Flags", "Telehealth"]
ROW = ["C1", "P1", "2026-03-10", "Acme", "11", "M54.16", "72148-95", "N", "N"]


def fields(v):
    return sorted((x.kind, x.field) for x in v.reads_violations)


def test_columns_are_recorded_by_name_through_yes_number_text_and_known(tmp_path):
    v, _ = checked(tmp_path, '''
        if claim.yes("red_flags") or claim.number("symptom_weeks") or claim.text("laterality"):
            return
        if claim.known("trauma") or "spinal_region" in claim.facts:
            return
        ''', ("diagnoses",), HEADER, [ROW])
    assert fields(v) == [("attribute", "present"), ("column", "laterality"), ("column", "red_flags"),
                         ("column", "spinal_region"), ("column", "symptom_weeks")]


def test_is_telehealth_reads_the_column_the_pos_and_the_procedures(tmp_path):
    v, _ = checked(tmp_path, "return [] if claim.is_telehealth else None", ("diagnoses", "telehealth"),
                   HEADER, [["C1", "P1", "2026-03-10", "Acme", "11", "M54.16", "72148", "N", "N"]])
    assert fields(v) == [("attribute", "pos"), ("attribute", "procedures")]


def test_ids_and_cells_as_written_are_never_reusable(tmp_path):
    v, _ = checked(tmp_path, '''
        return [ctx.finding(f"{claim.claim_id} {claim.patient_id} {claim.dx_cells} {len(claim.problems)}")]
        ''', ("diagnoses",), HEADER, [ROW])
    assert fields(v) == [("attribute", "claim_id"), ("attribute", "dx_cells"),
                         ("attribute", "patient_id"), ("attribute", "problems")]
    messages = " ".join(x.message() for x in v.reads_violations)
    assert "read claim.dx_cells" in messages and "M5417" in messages and "reads cannot name it" in messages


def test_the_whole_facts_mapping_and_ctx_payer_count(tmp_path):
    v, _ = checked(tmp_path, '''
        if ctx.payer == "acme" and len(claim.facts) > 0:
            return
        ''', ("diagnoses",), HEADER, [ROW])
    assert fields(v) == [("column", "*"), ("context", "payer")]


def test_what_the_engine_reads_does_not_count(tmp_path):
    """ctx.finding reads the claim's rows (and its payer when claim= is given), rows are moved
    by the engine, ctx.settings and ctx.codes are part of the memo's signature."""
    v, results = checked(tmp_path, '''
        if ctx.settings_for(claim) is ctx.settings and ctx.codes and claim.row and claim.rows:
            yield ctx.finding("x", codes=list(claim.diagnoses), claim=claim)
        ''', ("diagnoses",), HEADER, [ROW, ["C2", *ROW[1:]]])
    assert v.reads_violations == []
    assert [[f.rows for f in r.findings if f.rule == "PRB101"] for r in results] == [[(2,)], [(3,)]]


def test_a_rule_that_breaks_its_promise_can_still_not_change_the_claim(tmp_path):
    _, results = checked(tmp_path, 'claim.facts["red_flags"] = True', ("diagnoses", "red_flags"), HEADER, [ROW])
    (e102,) = [f for f in results[0].findings if f.rule == "E102"]
    assert "tried to change the claim" in e102.message


# --- at run time, without checking mode -----------------------------------------------------
def test_a_plugin_rule_caught_at_run_time_is_no_longer_reused(tmp_path):
    (tmp_path / "acme.py").write_text(LEAKY, encoding="utf-8")
    v = Validator(Config(plugins=["acme"]), host=load_plugins([tmp_path], entry_points=False, cache=False))
    header = ["Claim ID", "DOS", "Payer", "Dx 1"]
    rows = [["A1", "2026-03-10", "Acme Health", "M54.16"],
            ["B1", "2026-03-10", "Northwind", "M54.16"],
            ["A2", "2026-03-10", "Acme Health", "M54.16"],
            ["B2", "2026-03-10", "Northwind", "M54.16"]]
    results = v.validate_rows(header, rows)
    acme = [[str(f.severity) for f in r.findings if f.rule == "ACME101"] for r in results]
    assert acme == [["warning", "info"], [], ["warning"], []]  # said once, on the claim where caught
    note = next(f for f in results[0].findings if f.rule == "ACME101" and str(f.severity) == "info")
    assert "read claim.payer (line 13)" in note.message and "no" in note.message
    assert [x.field for x in v.reads_violations] == ["payer"]


def test_normal_validation_records_nothing_for_built_in_rules():
    v = Validator(Config())
    v.validate_rows(["Claim ID", "DOS", "Dx 1", "CPT"], [["C1", "2026-03-10", "M54.16", "72148"]])
    assert v._memos and all(m.audit == 0 for m in v._memos.values())
    assert v.reads_violations == []


# --- the example plugins are plain code ---------------------------------------------------------
@pytest.mark.parametrize("plugin", sorted((ROOT / "plugins").glob("*.py")), ids=lambda p: p.name)
def test_example_plugins_have_no_caches_of_their_own(plugin):
    """What an administrator copies: reads is the engine's cache; no lru_cache, no hand-made one."""
    text = plugin.read_text(encoding="utf-8")
    assert "lru_cache" not in text and "functools" not in text and "cache" not in text.lower()
