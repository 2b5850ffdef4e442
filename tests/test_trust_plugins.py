"""No false OK (issue 10, items 4 and 5): plugin problems stop the run, ``--skip-broken-plugins``
says so everywhere and never exits 0, and a rule that raises (E102) is an error by default.

Each test runs the command line (or the worksheet functions) on a CSV written in tmp_path with an
xlsheets.toml given by ``--config`` and a plugin folder in tmp_path, and checks the exit code, the
claim's status and what the message says (file, line, "did you mean").
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import openpyxl
import pytest

from xlsheets.cli import main

HEAD = "Visit ID,Service Date,Insurance,ICD 1,ICD 2,CPT 1"
CLEAN = "V-1,2026-03-10,Harbor Mutual,M51.17,,99214"  # no finding from the built-in rules
ELSEWHERE = "V-3,2026-03-10,Kite Health,M51.17,,99214"  # the same, for a payer no payer section names
PAIR = "V-2,2026-03-10,Harbor Mutual,M54.16,M54.17,99214"  # S303 asks the pair policy

# A working plugin: its name is what a misspelt configuration entry should be matched with.
KESTREL = '''
"""Kestrel Health: a working plugin."""
import xlsheets

@xlsheets.rule("KST101", severity="info", dx=["M51.1"])
def lumbar_disc(claim, ctx):
    """Notes lumbar disc disorders (a test rule)."""
    yield ctx.finding("Kestrel reviews lumbar disc claims")

@xlsheets.hookimpl
def xlsheets_rules():
    return [lumbar_disc]
'''

# A misspelt hook name (its @hookimpl is on line 9).
OSPREY_MISSPELT = '''
"""Osprey Care: the hook is misspelt."""
import xlsheets

@xlsheets.rule("OSP101", severity="error", dx=["M51.1"])
def osprey(claim, ctx):
    """Osprey denies lumbar disc claims (a test rule)."""
    yield ctx.finding("Osprey denies it")

@xlsheets.hookimpl
def xlsheets_rulez():
    return [osprey]
'''

# A rule that raises on line 7 for every lumbar disc claim.
HERON_RAISES = '''
"""Heron Mutual: a rule that breaks."""
import xlsheets

@xlsheets.rule("HRN101", dx=["M51.1"])
def heron(claim, ctx):
    """Breaks on lumbar disc claims (a test rule)."""
    weeks = {}["conservative_weeks"]
    yield ctx.finding(f"{weeks}")

@xlsheets.hookimpl
def xlsheets_rules():
    return [heron]
'''

# A pair policy that raises on line 7.
EGRET_POLICY = '''
"""Egret Plans: a pair policy that breaks."""
import xlsheets

@xlsheets.hookimpl
def xlsheets_pair_policy(code_a, code_b, claim, settings):
    return settings["egret_answer"].lower()
'''


@pytest.fixture(autouse=True)
def _no_stray_configuration(tmp_path, monkeypatch):
    """Only the configuration a test writes may be found."""
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "user-config"))
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def claims_csv(tmp_path, *rows: str) -> Path:
    return write(tmp_path / "visits.csv", "\n".join([HEAD, *rows]) + "\n")


def config(tmp_path, text: str) -> Path:
    return write(tmp_path / "setup" / "xlsheets.toml", text)


def plugin(tmp_path, name: str, code: str, folder: str = "setup/payer_plugins") -> Path:
    return write(tmp_path / folder / f"{name}.py", code)


def cli(capsys, *argv):
    code = main([*map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def validate_json(capsys, *argv):
    code, out, err = cli(capsys, "validate", *argv, "--format", "json")
    assert out, err
    data = json.loads(out)
    return code, {c["claim_id"]: c for c in data["claims"]}, data["summary"]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --- plugin problems stop the run ------------------------------------------------------------
def test_misspelt_hook_in_a_configured_plugin_folder_stops_before_any_claim(tmp_path, capsys):
    plugin(tmp_path, "kestrel_health", KESTREL)
    broken = plugin(tmp_path, "osprey_care", OSPREY_MISSPELT)
    cfg = config(tmp_path, '''
        plugin_dirs = ["payer_plugins"]
        [payers.osprey]
        match = ["harbor*"]
        plugins = ["osprey_care"]
        ''')
    path = claims_csv(tmp_path, CLEAN)
    code, out, err = cli(capsys, "validate", path, "--config", cfg)
    assert code == 2
    assert out == ""  # no claim was reported, none read OK
    assert f"{broken}, line 9: unknown hook 'xlsheets_rulez'; did you mean 'xlsheets_rules'?" in err
    assert "--skip-broken-plugins" in err and "Traceback" not in err


def test_syntax_error_in_a_plugins_dir_plugin_stops_the_run_with_file_and_line(tmp_path, capsys):
    folder = tmp_path / "extra"
    broken = write(folder / "plover_ppo.py", '"""Plover PPO."""\nimport xlsheets\n\ndef rules(:\n    pass\n')
    path = claims_csv(tmp_path, CLEAN)
    code, out, err = cli(capsys, "validate", path, "--plugins-dir", folder)
    assert code == 2 and out == ""
    assert f"plugin plover_ppo ({broken}) was not loaded: {broken}, line 4: syntax error" in err
    assert "was skipped" not in err and "nothing was checked" in err  # the run stops: it does not skip


def test_plugin_name_misspelt_at_the_top_level_stops_the_run(tmp_path, capsys):
    plugin(tmp_path, "kestrel_health", KESTREL)
    cfg = config(tmp_path, '''
        plugin_dirs = ["payer_plugins"]
        plugins = ["kestrel_heath"]
        ''')
    path = claims_csv(tmp_path, CLEAN)
    code, out, err = cli(capsys, "validate", path, "--config", cfg)
    assert code == 2 and out == ""
    line = line_of(cfg, "kestrel_heath")
    assert f"{cfg}, line {line} (top level): plugin 'kestrel_heath' is enabled for all payers" in err
    assert "did you mean 'kestrel_health'?" in err


def test_plugin_name_misspelt_under_a_payer_names_the_payer_section(tmp_path, capsys):
    plugin(tmp_path, "kestrel_health", KESTREL)
    cfg = config(tmp_path, '''
        plugin_dirs = ["payer_plugins"]
        plugins = ["kestrel_health"]

        [payers.harbor_mutual]
        match = ["harbor mutual"]
        plugins = [
            "kestrel_health",
            "kestrell_health_extra",
        ]
        ''')
    path = claims_csv(tmp_path, CLEAN)
    code, out, err = cli(capsys, "validate", path, "--config", cfg)
    assert code == 2 and out == ""
    line = line_of(cfg, "kestrell_health_extra")
    assert (f"{cfg}, line {line} ([payers.harbor_mutual]): plugin 'kestrell_health_extra' is enabled "
            "for payer harbor_mutual") in err
    assert "did you mean 'kestrel_health'?" in err
    assert "kestrel_health'" not in err.split("did you mean")[0]  # the loaded one is not reported


def test_plugin_name_given_with_dash_dash_plugin_that_no_plugin_has(tmp_path, capsys):
    folder = tmp_path / "payer_plugins"
    plugin(tmp_path, "kestrel_health", KESTREL, folder="payer_plugins")
    path = claims_csv(tmp_path, CLEAN)
    code, out, err = cli(capsys, "validate", path, "--plugins-dir", folder, "--plugin", "kestral")
    assert code == 2 and out == ""
    assert "--plugin kestral: plugin 'kestral' is enabled for all payers" in err
    assert "did you mean 'kestrel_health'?" in err


def test_configured_name_with_no_plugin_folder_at_all_says_so(tmp_path, capsys):
    cfg = config(tmp_path, 'plugins = ["sandpiper_select"]\n')
    code, _out, err = cli(capsys, "validate", claims_csv(tmp_path, CLEAN), "--config", cfg)
    assert code == 2
    assert "no plugin is loaded at all: name the plugin folder in plugin_dirs" in err


def test_a_working_setup_still_exits_0(tmp_path, capsys):
    """The check stops broken setups only: the same files, spelt right, validate as before."""
    plugin(tmp_path, "kestrel_health", KESTREL)
    cfg = config(tmp_path, 'plugin_dirs = ["payer_plugins"]\nplugins = ["kestrel_health"]\n')
    code, claims, summary = validate_json(capsys, claims_csv(tmp_path, CLEAN), "--config", cfg)
    assert code == 0, summary
    assert claims["V-1"]["status"] == "info"  # KST101 ran
    assert summary["plugins_skipped"] == [] and summary["plugins_missing"] == []


# --- --skip-broken-plugins --------------------------------------------------------------------
def _broken_setup(tmp_path):
    plugin(tmp_path, "kestrel_health", KESTREL)
    plugin(tmp_path, "osprey_care", OSPREY_MISSPELT)
    return config(tmp_path, '''
        plugin_dirs = ["payer_plugins"]
        plugins = ["kestrel_health"]
        [payers.harbor]
        match = ["harbor*"]
        plugins = ["osprey_care", "egret_plan"]
        ''')


def test_skip_broken_plugins_text_output_says_so_first_and_exits_3(tmp_path, capsys):
    cfg = _broken_setup(tmp_path)
    code, out, err = cli(capsys, "validate", claims_csv(tmp_path, ELSEWHERE), "--config", cfg,
                         "--skip-broken-plugins")
    assert code == 3, err  # no claim has an error, but not every configured rule ran
    first = out.splitlines()[0]
    assert first.startswith("NOT FULLY CHECKED") and "osprey_care" in first and "egret_plan" in first
    assert "Plugins that failed to load:" in out and "unknown hook 'xlsheets_rulez'" in out
    assert "Plugins configured but not found:" in out and "'egret_plan'" in out


def test_skip_broken_plugins_json_summary_lists_failed_missing_and_skipped(tmp_path, capsys):
    cfg = _broken_setup(tmp_path)
    code, claims, summary = validate_json(capsys, claims_csv(tmp_path, ELSEWHERE), "--config", cfg,
                                          "--skip-broken-plugins")
    assert code == 3
    assert claims["V-3"]["status"] == "info"  # its payer's plugins all ran (KST101)
    assert summary["plugins_skipped"] == ["osprey_care", "egret_plan"]
    assert [p["plugin"] for p in summary["plugins_failed"]] == ["osprey_care"]
    missing = summary["plugins_missing"]
    assert [(m["plugin"], m["configured_in"], m["line"]) for m in missing] == [
        ("egret_plan", "[payers.harbor]", line_of(cfg, "egret_plan"))]


def test_skip_broken_plugins_claims_whose_payer_runs_a_skipped_plugin_are_not_ready(tmp_path, capsys):
    """A claim whose payer section enables the skipped plugins was not checked by their rules:
    it gets E102 naming them, in the JSON and the report (it read OK or info before). A claim
    of another payer was checked by all its rules and keeps its status."""
    cfg = _broken_setup(tmp_path)
    report = tmp_path / "out" / "report.xlsx"
    report.parent.mkdir()
    args = [claims_csv(tmp_path, CLEAN, ELSEWHERE), "--config", cfg, "--skip-broken-plugins"]
    code, claims, _summary = validate_json(capsys, *args)
    assert code == 1
    harbor = claims["V-1"]
    assert harbor["status"] == "error"
    failed = harbor["findings"][0]
    assert failed["rule"] == "E102" and failed["severity"] == "error" and failed["rows"] == harbor["rows"]
    assert "osprey_care" in failed["message"] and "egret_plan" in failed["message"]
    assert "not checked by that plugin's rules" in failed["message"]
    assert claims["V-3"]["status"] == "info" and "E102" not in {f["rule"] for f in claims["V-3"]["findings"]}
    code, _out, err = cli(capsys, "validate", *args, "-o", report)
    assert code == 1, err
    ws = openpyxl.load_workbook(report, read_only=True)["Claims"]
    rows = [[str(c) for c in row if c is not None] for row in ws.iter_rows(values_only=True)]
    [v1] = [r for r in rows if "V-1" in r]
    assert not [c for c in v1 if c.startswith("OK")] and [c for c in v1 if "E102" in c]


def test_skip_broken_plugins_still_exits_1_when_a_claim_has_an_error(tmp_path, capsys):
    cfg = _broken_setup(tmp_path)
    error_row = "V-9,2026-03-10,Harbor Mutual,M54.5,,99214"  # M54.5 is not billable: C103
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, error_row), "--config", cfg,
                                           "--skip-broken-plugins")
    assert code == 1 and claims["V-9"]["status"] == "error"


def test_skip_broken_plugins_report_summary_sheet_says_so(tmp_path, capsys):
    cfg = _broken_setup(tmp_path)
    report = tmp_path / "out" / "report.xlsx"
    report.parent.mkdir()
    code, _out, err = cli(capsys, "validate", claims_csv(tmp_path, ELSEWHERE), "--config", cfg,
                          "--skip-broken-plugins", "-o", report)
    assert code == 3, err
    ws = openpyxl.load_workbook(report, read_only=True)["Summary"]
    cells = [str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    top = [c for c in cells[:6] if c.startswith("NOT FULLY CHECKED")]
    assert top and "osprey_care" in top[0] and "egret_plan" in top[0]
    assert "Plugins configured but not found" in cells and "egret_plan" in cells


def test_rules_and_explain_stop_too_unless_skipping(tmp_path, capsys):
    cfg = _broken_setup(tmp_path)
    code, out, err = cli(capsys, "rules", "--config", cfg)
    assert code == 2 and out == "" and "unknown hook 'xlsheets_rulez'" in err
    code, out, err = cli(capsys, "explain", "S301", "--config", cfg)
    assert code == 2 and out == "" and "'egret_plan'" in err
    code, out, err = cli(capsys, "rules", "--config", cfg, "--skip-broken-plugins")
    assert code == 3 and "KST101" in out and "NOT FULLY CHECKED" in err
    code, out, err = cli(capsys, "explain", "S301", "--config", cfg, "--skip-broken-plugins")
    assert code == 3 and out.startswith("S301")


def test_plugins_command_shows_the_same_missing_message(tmp_path, capsys):
    """`xlsheets plugins` and `validate` word a missing plugin with the same function."""
    cfg = _broken_setup(tmp_path)
    code, out, _err = cli(capsys, "plugins", "--config", cfg)
    assert code == 1
    assert "MISSING egret_plan" in out and "([payers.harbor]): plugin 'egret_plan'" in out


# --- E102 is an error by default ---------------------------------------------------------------
def test_a_rule_that_raises_makes_the_claim_an_error(tmp_path, capsys):
    src = plugin(tmp_path, "heron_mutual", HERON_RAISES)
    cfg = config(tmp_path, 'plugin_dirs = ["payer_plugins"]\nplugins = ["heron_mutual"]\n')
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, CLEAN), "--config", cfg)
    assert code == 1
    claim = claims["V-1"]
    assert claim["status"] == "error"
    failed = [f for f in claim["findings"] if f["rule"] == "E102"]
    assert failed and failed[0]["severity"] == "error"
    assert f"{src}, line 7: KeyError" in failed[0]["message"]
    assert "not fully checked" in failed[0]["message"]


# A batch rule (it checks claims together) that breaks on the second claim it looks at.
EGRET_BATCH_RAISES = '''
"""Egret Plan: a batch rule that breaks."""
import xlsheets

@xlsheets.rule("EGR101", scope="batch", procedures={"99214"})
def visits(claims, ctx):
    """Breaks while counting a patient's visits (a test rule)."""
    for number, claim in enumerate(claims):
        if number == 1:
            raise KeyError("visits")
        yield claim, ctx.finding("first visit", claim=claim)

@xlsheets.hookimpl
def xlsheets_rules():
    return [visits]
'''


def test_a_batch_rule_that_raises_leaves_none_of_its_claims_ready(tmp_path, capsys):
    """A batch rule that fails checked none of the claims it was given: each gets E102, not
    only the first (the others read OK before); a claim without its codes is not concerned."""
    src = plugin(tmp_path, "egret_plan", EGRET_BATCH_RAISES)
    cfg = config(tmp_path, 'plugin_dirs = ["payer_plugins"]\nplugins = ["egret_plan"]\n')
    rows = [CLEAN.replace("V-1", f"V-{n}") for n in (1, 2, 3)] + ["V-4,2026-03-10,Harbor Mutual,M51.17,,97110"]
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, *rows), "--config", cfg)
    assert code == 1
    for claim_id in ("V-1", "V-2", "V-3"):
        claim = claims[claim_id]
        assert claim["status"] == "error", claim_id
        [failed] = [f for f in claim["findings"] if f["rule"] == "E102"]
        assert f"{src}, line {line_of(src, 'raise KeyError')}: KeyError" in failed["message"] and "not fully checked" in failed["message"]
        assert failed["rows"] == claim["rows"]
        assert not [f for f in claim["findings"] if f["rule"] == "EGR101"]  # what it gave before failing is not kept
    assert claims["V-4"]["status"] == "ok"  # 97110 alone: the rule was not given it


def test_e102_can_be_lowered_in_the_configuration(tmp_path, capsys):
    plugin(tmp_path, "heron_mutual", HERON_RAISES)
    cfg = config(tmp_path, '''
        plugin_dirs = ["payer_plugins"]
        plugins = ["heron_mutual"]
        [severity]
        E102 = "warning"
        ''')
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, CLEAN), "--config", cfg)
    assert code == 0
    assert claims["V-1"]["status"] == "warning"


def test_e102_can_be_lowered_for_one_payer_only(tmp_path, capsys):
    plugin(tmp_path, "heron_mutual", HERON_RAISES)
    cfg = config(tmp_path, '''
        plugin_dirs = ["payer_plugins"]
        plugins = ["heron_mutual"]
        [payers.lenient]
        match = ["lenient*"]
        [payers.lenient.severity]
        E102 = "warning"
        ''')
    rows = [CLEAN, "V-3,2026-03-10,Lenient Life,M51.17,,99214"]
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, *rows), "--config", cfg)
    assert code == 1
    assert claims["V-1"]["status"] == "error"
    assert claims["V-3"]["status"] == "warning"


def test_a_pair_policy_that_raises_is_an_error_too(tmp_path, capsys):
    src = plugin(tmp_path, "egret_plans", EGRET_POLICY)
    cfg = config(tmp_path, 'plugin_dirs = ["payer_plugins"]\nplugins = ["egret_plans"]\n')
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, PAIR), "--config", cfg)
    assert code == 1
    claim = claims["V-2"]
    assert claim["status"] == "error"
    failed = next(f for f in claim["findings"] if f["rule"] == "E102")
    assert failed["severity"] == "error" and f"{src}, line 6: KeyError" in failed["message"]


def test_a_pair_policy_answer_that_is_not_allow_deny_or_review_is_said(tmp_path, capsys):
    """"allow-ish" was dropped without a word (the default decided): now it is an E102 naming
    the plugin and the answer, and S303 still asks for review as the default does."""
    plugin(tmp_path, "egret_plans", '''
"""Egret Plans: a pair policy with a typo in its answer."""
import xlsheets

@xlsheets.hookimpl
def xlsheets_pair_policy(code_a, code_b, claim, settings):
    return "allow-ish"
''')
    cfg = config(tmp_path, 'plugin_dirs = ["payer_plugins"]\nplugins = ["egret_plans"]\n')
    code, claims, _summary = validate_json(capsys, claims_csv(tmp_path, PAIR), "--config", cfg)
    assert code == 1
    rules = {f["rule"]: f for f in claims["V-2"]["findings"]}
    assert "S303" in rules and rules["E102"]["severity"] == "error"
    assert "egret_plans" in rules["E102"]["message"] and "answered 'allow-ish'" in rules["E102"]["message"]


# --- worksheet functions -----------------------------------------------------------------------
@pytest.fixture
def fresh_udfs():
    from xlsheets import udfs
    udfs.reset()
    yield udfs
    udfs.reset()


def test_worksheet_functions_show_the_broken_plugin_not_ok(tmp_path, monkeypatch, fresh_udfs):
    cfg = _broken_setup(tmp_path)
    monkeypatch.setenv("XLSHEETS_CONFIG", str(cfg))
    header = HEAD.split(",")
    row = CLEAN.split(",")
    status = fresh_udfs.claim_status(header, row)
    assert status.startswith("ERROR E102") and "osprey_care" in status and "egret_plan" in status
    table = fresh_udfs.claim_status_table([header, row, PAIR.split(",")])
    assert all(cell[0].startswith("ERROR E102") for cell in table)
    findings = fresh_udfs.claim_findings(header, row)
    assert findings[1][0] == "E102" and "unknown hook 'xlsheets_rulez'" in findings[1][2]


def test_worksheet_functions_line_level_table_shows_the_broken_plugin(tmp_path, monkeypatch, fresh_udfs):
    cfg = _broken_setup(tmp_path)
    monkeypatch.setenv("XLSHEETS_CONFIG", str(cfg))
    table = [["Claim ID", "DOS", "Payer", "Dx1", "CPT", "Units"],
             ["L-1", "2026-03-10", "Harbor Mutual", "M51.17", "99214", 1],
             ["L-1", "2026-03-10", "Harbor Mutual", "M51.17", "97110", 1]]
    statuses = fresh_udfs.claim_status_table(table)
    assert [s[0].split(":")[0] for s in statuses] == ["ERROR E102", "ERROR E102"]


def test_worksheet_functions_read_ok_when_plugins_are_fine(tmp_path, monkeypatch, fresh_udfs):
    plugin(tmp_path, "kestrel_health", KESTREL)
    cfg = config(tmp_path, 'plugin_dirs = ["payer_plugins"]\nplugins = ["kestrel_health"]\n')
    monkeypatch.setenv("XLSHEETS_CONFIG", str(cfg))
    assert fresh_udfs.claim_status(HEAD.split(","), "V-4,2026-03-10,Harbor Mutual,M48.061,,99214".split(",")) == "OK"
