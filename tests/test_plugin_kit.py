"""`xlsheets plugins` (list), `plugins new` and `plugins test`, run as a user runs them."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from xlsheets import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "plugins"

GOOD = '''
"""Acme: payer rules for Acme Health."""
import xlsheets

@xlsheets.rule("ACME101", procedures={"97014"})
def no_97014(claim, ctx):
    """97014 is not covered by Acme."""
    yield ctx.finding("not covered", codes=["97014"], suggestion="G0283")

@xlsheets.hookimpl
def xlsheets_rules():
    return [no_97014]
'''

# Broken plugin files, and the line the message must name.
BROKEN = {
    "syntax": ("import xlsheets\n\ndef xlsheets_rules(:\n    return []\n", 3, "syntax error"),
    "raises": ("import xlsheets\nLIMIT = int('six')\n", 2, "ValueError: invalid literal"),
    "misspelt": ("import xlsheets\n\n@xlsheets.hookimpl\ndef xlsheets_rule():\n    return []\n", 3,
                 "unknown hook 'xlsheets_rule'; did you mean 'xlsheets_rules'?"),
    "undecorated": ("import xlsheets\n\ndef xlsheets_rules():\n    return []\n", 3,
                    "is not decorated with @hookimpl"),
    "badid": ('import xlsheets\n\n@xlsheets.rule("acme1")\ndef r(claim, ctx):\n    """x"""\n', 3,
              "rule ID 'acme1' must be 1-4 capital letters and 3 digits"),
    "nodoc": ('import xlsheets\n\n@xlsheets.rule("NODC101")\ndef r(claim, ctx):\n    return []\n', 3,
              "rule NODC101 has no docstring"),
    "builtin_prefix": ('import xlsheets\n\n@xlsheets.rule("S901")\ndef r(claim, ctx):\n    """x"""\n\n'
                       '@xlsheets.hookimpl\ndef xlsheets_rules():\n    return [r]\n', 3,
                       "uses the built-in prefix 'S'"),
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A practice folder: no configuration from elsewhere, no installed plugins."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "userconfig"))
    monkeypatch.setenv("XLSHEETS_NO_ENTRY_POINTS", "1")
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    (tmp_path / "plugins").mkdir()
    return tmp_path


def run(capsys, *argv):
    code = cli.main(["plugins", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- listing ----------------------------------------------------------------------------
def test_list_shows_rules_hooks_payers_and_source(home, capsys):
    source = write(home / "plugins" / "acme.py", GOOD)
    write(home / "xlsheets.toml", """
        plugin_dirs = ["plugins"]
        [payers.acme]
        match = ["acme*"]
        plugins = ["acme"]
        """)
    code, out, _ = run(capsys)
    assert code == 0
    assert f"acme  ({source})" in out
    assert "Acme: payer rules for Acme Health." in out
    assert "enabled for: acme" in out
    assert "hooks: xlsheets_rules" in out
    assert "ACME101  error   97014 is not covered by Acme." in out
    assert "1 plugin(s) loaded, 0 failed" in out


def test_list_says_when_a_plugin_is_not_enabled_and_when_enabled_for_all(home, capsys):
    write(home / "plugins" / "acme.py", GOOD)
    code, out, _ = run(capsys, "--plugins-dir", "plugins")
    assert code == 0 and "enabled for: none: not enabled" in out
    write(home / "xlsheets.toml", 'plugin_dirs = ["plugins"]\nplugins = ["acme"]\n')
    code, out, _ = run(capsys)
    assert "enabled for: all payers" in out


def test_list_json(home, capsys):
    write(home / "plugins" / "acme.py", GOOD)
    write(home / "plugins" / "broken.py", BROKEN["syntax"][0])
    code, out, _ = run(capsys, "--plugins-dir", "plugins", "--format", "json")
    data = json.loads(out)
    assert code == 1
    (acme,) = data["plugins"]
    assert acme["name"] == "acme" and acme["hooks"] == ["xlsheets_rules"] and acme["payers"] == []
    assert acme["rules"] == [{"id": "ACME101", "severity": "error", "scope": "claim",
                              "summary": "97014 is not covered by Acme."}]
    assert [f["name"] for f in data["failed"]] == ["broken"]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_list_shows_broken_plugins_with_file_and_line(home, capsys, name):
    text, line, reason = BROKEN[name]
    path = write(home / "plugins" / f"{name}.py", text)
    write(home / "plugins" / "acme.py", GOOD)
    code, out, _ = run(capsys, "--plugins-dir", "plugins")
    assert code == 1
    assert f"NOT LOADED {name}  ({path})" in out
    message = out.split(f"NOT LOADED {name}")[1]
    assert f"{path}, line {line}" in message or f"{path}:{line}" in message, message
    assert reason in message
    assert "acme  (" in out, "the good plugin must still load"
    assert "Traceback" not in out


def test_list_flags_a_plugin_the_configuration_enables_but_nobody_loads(home, capsys):
    write(home / "plugins" / "medicare_esi.py", GOOD.replace("ACME", "MED"))
    write(home / "xlsheets.toml", """
        plugin_dirs = ["plugins"]
        [payers.medicare]
        plugins = ["medicare_es"]
        """)
    code, out, _ = run(capsys)
    assert code == 1
    assert "MISSING medicare_es" in out and "payer medicare" in out


def test_list_the_shipped_examples(home, capsys):
    code, out, _ = run(capsys, "--plugins-dir", str(EXAMPLES))
    assert code == 0
    for name in ("m54_coreporting", "pt_progress", "medicare_esi", "trigger_point", "commercial_mri"):
        assert f"\n{name}  ({EXAMPLES / name}.py)" in out
    assert "MED106   error   More than 4 ESI sessions in one spinal region in a rolling 12 months.  [patient history]" in out
    assert "hooks: xlsheets_default_settings, xlsheets_pair_policy, xlsheets_rules" in out


# --- new --------------------------------------------------------------------------------
def test_new_writes_a_plugin_whose_cases_pass(home, capsys):
    code, out, _ = run(capsys, "new", "acme_health")
    assert code == 0
    plugin, cases = home / "plugins" / "acme_health.py", home / "plugins" / "acme_health.cases.toml"
    assert plugin.is_file() and cases.is_file()
    assert "ACME101" in plugin.read_text() and "xlsheets plugins test plugins/acme_health.py" in out
    code, out, _ = run(capsys, "test", "plugins/acme_health.py")
    assert code == 0, out
    assert "4 of 4 cases passed" in out


def test_new_refuses_to_overwrite(home, capsys):
    (home / "plugins" / "acme.cases.toml").write_text("# mine\n")
    code, _, err = run(capsys, "new", "acme")
    assert code == 2 and "already exists; nothing was written" in err
    assert not (home / "plugins" / "acme.py").exists()
    assert (home / "plugins" / "acme.cases.toml").read_text() == "# mine\n"


@pytest.mark.parametrize("argv, message", [
    (["Acme"], "cannot be a plugin name"),
    (["acme-health"], "cannot be a plugin name"),
    (["import"], "cannot be a plugin name"),
    (["../evil"], "cannot be a plugin name"),
    (["acme", "--prefix", "S"], "not C, X, S, D or E"),
    (["acme", "--prefix", "TOOLONG"], "1-4 capital letters"),
])
def test_new_validates_the_name(home, capsys, argv, message):
    code, _, err = run(capsys, "new", *argv)
    assert code == 2 and message in err
    assert list((home / "plugins").iterdir()) == []


def test_new_uses_the_configured_folder_and_prefix(home, capsys):
    write(home / "xlsheets.toml", 'plugin_dirs = ["payer_rules"]\n')
    code, out, _ = run(capsys, "new", "blue_cross", "--prefix", "bcx")
    assert code == 0
    text = (home / "payer_rules" / "blue_cross.py").read_text()
    assert '"BCX101"' in text and '"BCX102"' in text
    code, out, _ = run(capsys)
    assert "blue_cross  (" in out and "BCX101" in out


# --- test -------------------------------------------------------------------------------
def test_test_reports_each_case_and_fails_with_exit_1(home, capsys):
    write(home / "plugins" / "acme.py", GOOD)
    write(home / "plugins" / "acme.cases.toml", """
        [defaults]
        dos = "2026-03-10"
        dx1 = "M54.16"
        [[case]]
        name = "97014 flagged"
        row = { claim_id = "A1", cpt1 = "97014" }
        expect = ["ACME101"]
        [[case]]
        name = "G0283 flagged too (wrong)"
        row = { claim_id = "A2", cpt1 = "G0283" }
        expect = ["ACME101"]
        """)
    code, out, _ = run(capsys, "test", "plugins/acme.py")
    assert code == 1
    assert "PASS  97014 flagged" in out
    assert "FAIL  G0283 flagged too (wrong)" in out
    assert "expected ACME101, but it did not fire; found: no findings" in out
    assert "1 of 2 cases passed" in out


def test_test_of_a_broken_plugin(home, capsys):
    path = write(home / "plugins" / "acme.py", BROKEN["raises"][0])
    write(home / "plugins" / "acme.cases.toml", '[[case]]\nrow = { cpt1 = "97014" }\nexpect = ["S301"]\n')
    code, out, _ = run(capsys, "test", "plugins/acme.py")
    assert code == 1
    assert f"ERROR plugin acme.py was not loaded: {path}, line 2: could not be loaded: ValueError" in out


def test_test_without_files(home, capsys):
    code, _, err = run(capsys, "test", "plugins/nothere.py")
    assert code == 2 and "plugins/nothere.py not found" in err
    write(home / "plugins" / "acme.py", GOOD)
    code, _, err = run(capsys, "test", "plugins/acme.py")
    assert code == 2 and "no cases file plugins/acme.cases.toml" in err


@pytest.mark.parametrize("name", ["m54_coreporting", "pt_progress", "medicare_esi", "trigger_point",
                                  "commercial_mri"])
def test_test_the_shipped_examples(capsys, name, monkeypatch):
    monkeypatch.setenv("XLSHEETS_NO_ENTRY_POINTS", "1")
    code, out, _ = run(capsys, "test", str(EXAMPLES / f"{name}.py"))
    assert code == 0, out
    assert "FAIL" not in out and "cases passed" in out


# --- the guide --------------------------------------------------------------------------
def _blocks(language: str) -> list[str]:
    import re
    text = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    return [b for lang, b in re.findall(r"```(\w*)\n(.*?)```", text, re.S) if lang == language]


def test_the_guide_step_by_step(home, capsys):
    """Copy the guide's file, configuration and cases; add its second rule; test; validate."""
    import xlsheets
    python, toml = _blocks("python"), _blocks("toml")
    first, second = python[0], python[1]
    plugin = home / "plugins" / "acme.py"
    plugin.write_text(first, encoding="utf-8")
    (home / "xlsheets.toml").write_text(toml[0], encoding="utf-8")
    (home / "plugins" / "acme.cases.toml").write_text(toml[1], encoding="utf-8")
    code, out, _ = run(capsys)
    assert code == 0 and "enabled for: acme" in out and "ACME101" in out
    code, out, _ = run(capsys, "test", "plugins/acme.py")
    assert code == 0 and "2 of 2 cases passed" in out, out
    # the second rule replaces the file's closing xlsheets_rules, as the guide says
    plugin.write_text(first[:first.index("@xlsheets.hookimpl")] + second, encoding="utf-8")
    (home / "xlsheets.toml").write_text(toml[0] + "\n" + toml[2], encoding="utf-8")
    with (home / "plugins" / "acme.cases.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[case]]\nname = "care blank"\nrow = { claim_id = "A3", cpt1 = "72148", '
                 'conservative_care_weeks = "" }\nexpect = ["ACME102"]\n')
    code, out, _ = run(capsys, "test", "plugins/acme.py")
    assert code == 0 and "3 of 3 cases passed" in out, out
    header = ["claim_id", "dos", "payer", "dx1", "cpt1", "conservative_care_weeks"]
    rows = [["A1", "03/10/2026", "Acme Health PPO", "M54.50", "97014", ""],
            ["A2", "03/10/2026", "Blue Shield", "M54.50", "97014", ""],
            ["A3", "03/10/2026", "ACME HMO", "M54.50", "72148", "5"],   # 4 weeks for Acme
            ["A4", "03/10/2026", "ACME HMO", "M54.50", "72148", "3"]]
    results = xlsheets.validate_rows(header, rows, config=xlsheets.load_config())
    found = {r.claim_id: {f.rule for f in r.findings} for r in results}
    assert "ACME101" in found["A1"] and "ACME101" not in found["A2"]
    assert "ACME102" not in found["A3"] and "ACME102" in found["A4"]
