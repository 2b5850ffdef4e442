"""Faulty plugins, written as real files into a plugin folder: each fault is isolated and named
(file and line) in a finding or a load failure, and the other rules are unaffected."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from xlsheets.config import Config
from xlsheets.engine import Validator

HEADER = ["Claim ID", "Patient ID", "DOS", "Payer", "Dx1", "Dx2", "CPT1"]
ROW = ["C1", "P1", "2026-03-10", "Acme", "M54.16", "M54.17", "97110"]

GOOD = '''\
"""A healthy plugin: its rule must keep working next to broken ones."""
import xlsheets

@xlsheets.rule("ZZG101", severity="info", dx=("M54",))
def always_here(claim, ctx):
    """Fires on every M54 claim.

    Why: proves the other rules still run.
    """
    yield ctx.finding("good plugin ran", codes=[d for d in claim.diagnoses if d.startswith("M54")])

@xlsheets.hookimpl
def xlsheets_rules():
    return [always_here]
'''

RULE_FAULTS = {
    "raises": ("ZZR101", "    raise ValueError('bad plugin logic')\n", "ValueError: bad plugin logic"),
    "wrongtype": ("ZZW101", "    return ['not a finding']\n", "returned str"),
    "recursion": ("ZZC101", "    def deeper(n):\n        return deeper(n + 1)\n    return deeper(0)\n",
                  "RecursionError"),
    "mutates": ("ZZM101", "    claim.diagnoses.append('Z00.00')\n    return []\n", "change the claim"),
    "replaces": ("ZZP101", "    claim.payer = 'Someone else'\n    return []\n", "change the claim"),
}


def rule_plugin(rule_id: str, body: str) -> str:
    return (f'"""A plugin whose rule is broken."""\nimport xlsheets\n\n'
            f'@xlsheets.rule("{rule_id}", severity="error", dx=("M54",))\n'
            f'def broken(claim, ctx):\n    """Broken on purpose.\n\n    Why: a test.\n    """\n{body}\n'
            f'@xlsheets.hookimpl\ndef xlsheets_rules():\n    return [broken]\n')


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


def validator(folder: Path, *enabled: str) -> Validator:
    return Validator(Config().with_overrides(plugin_dirs=[folder], plugins=list(enabled)))


def findings(v: Validator, row=ROW):
    (result,) = v.validate_rows(HEADER, [row])
    return result.findings


@pytest.fixture(scope="module")
def baseline():
    """Built-in findings on the sample row, without any plugin."""
    return sorted((f.rule, f.message) for f in Validator(Config()).validate_rows(HEADER, [ROW])[0].findings)


def builtin_only(found):
    return sorted((f.rule, f.message) for f in found if not f.rule.startswith(("ZZ", "E102")))


@pytest.mark.parametrize("name", sorted(RULE_FAULTS))
def test_broken_rule_is_isolated_and_named(tmp_path, baseline, name):
    rule_id, body, expected = RULE_FAULTS[name]
    path = write(tmp_path, name, rule_plugin(rule_id, body))
    write(tmp_path, "good", GOOD)
    v = validator(tmp_path, name, "good")
    assert not v.host.failures, v.host.failures
    found = findings(v)
    failed = [f for f in found if f.rule == "E102"]
    assert len(failed) == 1, [f.message for f in found]
    message = failed[0].message
    assert rule_id in message and name in message and expected in message and str(path) in message
    assert failed[0].rows == (2,)
    if name in ("raises", "recursion", "mutates"):
        assert ", line " in message  # the line in the plugin's file where it went wrong
    # the finding's reference is the rule's own file and line, for the other faults too (a
    # wrong return type or a replaced attribute is only seen after the rule returned)
    assert failed[0].reference.startswith(f"{path}:")
    assert any(f.rule == "ZZG101" for f in found), "the healthy plugin's rule must still run"
    assert builtin_only(found) == baseline, "built-in rules must see the claim unchanged"


def test_a_mutating_rule_cannot_leak_its_change_to_the_next_claim(tmp_path):
    write(tmp_path, "mutates", rule_plugin("ZZM101", RULE_FAULTS["mutates"][1]))
    v = validator(tmp_path, "mutates")
    results = v.validate_rows(HEADER, [ROW, ["C2", *ROW[1:]]])
    assert all("Z00.00" not in f.codes for r in results for f in r.findings)
    assert [sum(f.rule == "E102" for f in r.findings) for r in results] == [1, 1]


def test_pair_policy_that_raises_falls_back_and_is_named(tmp_path, baseline):
    path = write(tmp_path, "badpolicy", '''\
        """A pair policy that crashes."""
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_pair_policy(code_a, code_b, claim, settings):
            return settings["missing"]
        ''')
    v = validator(tmp_path, "badpolicy")
    found = findings(v)
    assert builtin_only(found) == baseline  # S303 falls back to its default answer
    failed = [f.message for f in found if f.rule == "E102"]
    assert len(failed) == 1 and "badpolicy" in failed[0] and "KeyError" in failed[0]
    assert f"{path}, line 6" in failed[0]


@pytest.mark.parametrize("name,text,expected", [
    ("importfails", '"""Fails on import."""\nimport xlsheets\n\nraise RuntimeError("no database")\n',
     ["line 4", "RuntimeError: no database", "skipped"]),
    ("syntaxerror", '"""Broken syntax."""\nimport xlsheets\n\ndef f(:\n    pass\n',
     ["line 4", "syntax error"]),
    ("misspelt", '"""Misspelt hook."""\nimport xlsheets\n\n@xlsheets.hookimpl\ndef xlsheets_rule():\n    return []\n',
     ["line 4", "unknown hook 'xlsheets_rule'", "did you mean 'xlsheets_rules'"]),
    ("badarg", '"""Misspelt argument."""\nimport xlsheets\n\n@xlsheets.hookimpl\n'
               'def xlsheets_pair_policy(code_a, code_b, claim, setting):\n    return None\n',
     ["line 4", "'setting'", "did you mean 'settings'"]),
    ("importsexit", '"""Calls sys.exit on import."""\nimport sys\nsys.exit(3)\n', ["SystemExit"]),
])
def test_plugin_that_cannot_load_is_skipped_with_file_and_line(tmp_path, baseline, name, text, expected):
    path = write(tmp_path, name, text)
    write(tmp_path, "good", GOOD)
    v = validator(tmp_path, name, "good")
    failures = {f.name: f for f in v.host.failures}
    assert set(failures) == {name}, failures
    message = failures[name].message
    assert all(e in message for e in expected), message
    assert str(path) in message or str(path) == failures[name].source
    found = findings(v)
    assert any(f.rule == "ZZG101" for f in found)
    assert builtin_only(found) == baseline


def test_broken_plugin_reaches_the_cli_as_a_message_not_a_traceback(tmp_path, capsys):
    """`xlsheets validate` stops before checking (exit 2) and says which plugin failed to load."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from test_io_reader import make_xlsx, sheet_xml, simple_rows
    from xlsheets.cli import main
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write(plugins, "syntaxerror", '"""x"""\ndef f(:\n')
    book = make_xlsx(tmp_path / "c.xlsx", {"Claims": sheet_xml(simple_rows([HEADER, ROW]))})
    code = main(["validate", str(book), "--plugins-dir", str(plugins)])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.out + out.err
    assert "syntaxerror" in out.out + out.err
