"""Every hook and every rule documents itself; `xlsheets rules` and `xlsheets explain` show it."""
import inspect
import json

import pytest

from xlsheets import hookspecs
from xlsheets.cli import main
from xlsheets.plugins import BUILTIN_MODULES, load_plugins

CATALOGUE = [f"C1{n:02d}" for n in range(1, 15)] + ["X201", "X202", "X203"] + \
    [f"S3{n:02d}" for n in range(1, 11)] + [f"D40{n}" for n in range(1, 7)] + ["N501", "N502", "N503"]
HOOKS = [name for name in dir(hookspecs) if name.startswith("xlsheets_")]
BUILTIN = [r for r in load_plugins().rules if r.plugin in BUILTIN_MODULES]


def test_the_core_has_exactly_the_catalogue_ids():
    assert list(dict.fromkeys(r.id for r in BUILTIN)) == CATALOGUE


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_says_when_it_runs_and_what_it_returns(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Called" in doc, f"{hook}: say when it is called"
    assert ":returns:" in doc, f"{hook}: say what it returns"
    for arg in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f":param {arg}:" in doc, f"{hook}: document {arg}"


@pytest.mark.parametrize("rule", BUILTIN, ids=lambda r: r.id)
def test_every_rule_documents_why_a_bad_and_a_good_example_and_a_reference(rule):
    assert rule.summary and rule.summary.endswith(".")
    for heading in ("Why", "Bad", "Good"):
        assert rule.section(heading), f"{rule.id}: missing '{heading}:' section"
    assert rule.reference, f"{rule.id}: missing reference"


def test_rules_command_lists_every_rule(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for rule_id in CATALOGUE:
        assert f"\n{rule_id} " in "\n" + out


def test_rules_command_as_json(capsys):
    assert main(["rules", "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    s301 = next(r for r in rules if r["id"] == "S301")
    assert s301["severity"] == "error" and s301["needs"] == ["disc_disorder_confirmed"]


def test_explain_prints_one_rule(capsys):
    assert main(["explain", "s301"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("S301  Radiculopathy (M54.1x) coded while imaging confirms a disc disorder")
    assert "Bad: M54.17 with disc disorder confirmed" in out and "M51.17" in out


def test_explain_unknown_rule_is_a_usage_error(capsys):
    assert main(["explain", "S399"]) == 2
    assert "no rule or input check 'S399'; did you mean S309?" in capsys.readouterr().err
