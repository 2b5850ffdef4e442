"""One command-line language: the conventions every subcommand shares, and how CI runs the tests.

Commands run as a user runs them: ``python -m xlsheets.cli ...`` in a subprocess."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from xlsheets.cli import UsageError, parse_cli_date, plural

ROOT = Path(__file__).resolve().parent.parent


def xlsheets(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", *map(str, argv)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("text, order", [
    ("2026-03-10", "MDY"), ("03/10/2026", "MDY"), ("3/10/26", "MDY"), ("10/03/2026", "DMY"),
    ("10.03.2026", "MDY"), ("20260310", "MDY"), ("10-Mar-2026", "MDY"), ("46091", "MDY"),
])
def test_a_date_on_the_command_line_is_read_as_the_sheet_reads_it(text, order):
    assert parse_cli_date(text, order) == date(2026, 3, 10)


def test_a_date_that_contradicts_the_date_order_is_refused_in_plain_words():
    with pytest.raises(UsageError, match=r"--dos: '25/03/2026' can only be day first"):
        parse_cli_date("25/03/2026", "MDY")
    with pytest.raises(UsageError, match="not a date"):
        parse_cli_date("soon", "MDY")


def test_counts_read_as_english():
    assert [plural(n, "claim") for n in (0, 1, 2, 1000)] == ["0 claims", "1 claim", "2 claims", "1,000 claims"]


def test_the_readme_test_command_is_what_ci_runs():
    """The README says what `bash .ci/run` runs; the script's last line is exactly that."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    said = re.search(r"then runs `([^`]+)`", readme)[1]
    assert run.rstrip().splitlines()[-1] == f'{said} "$@"'
    assert "bash .ci/run" in readme


def test_ci_installs_only_into_its_own_venv():
    """Every pip, build and test command in .ci/run comes after the venv is first on PATH, and
    setup-extra (called from it) uses whatever python3 is first, i.e. the venv's."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    venv_on_path = next(i for i, line in enumerate(lines) if line.startswith('export PATH="$VIRTUAL_ENV/bin:'))
    for i, line in enumerate(lines):
        if re.search(r"\bpip\b|pytest|setup-extra", line) and not line.lstrip().startswith("#"):
            assert i > venv_on_path, f".ci/run line {i + 1} runs before the venv is on PATH: {line}"
    assert "--user" not in "\n".join(lines) and "sudo" not in "\n".join(lines).replace("sudo apt install python3-venv", "")


def test_a_bad_date_is_a_usage_error_with_exit_2_and_no_traceback():
    done = xlsheets("codes", "M54.17", "--dos", "31/31/2026")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "--dos" in done.stderr


# --- validate: counts, zero counts, files that are not spreadsheets -----------------------------
def test_one_claim_reads_one_claim_and_every_payer_count_is_there(tmp_path):
    sheet = tmp_path / "claims.csv"
    sheet.write_text("Claim ID,DOS,Payer,Dx1,CPT1,Disc Disorder Confirmed\nC1,03/10/2026,Aetna,M51.17,99214,Y\n")
    done = xlsheets("validate", sheet)
    assert done.returncode == 0, done.stderr
    assert "1 claim in 1 row (" in done.stdout and "1 claims" not in done.stdout
    done = xlsheets("validate", sheet, "--format", "json")
    import json
    summary = json.loads(done.stdout)["summary"]
    assert summary["by_payer"] == {"Aetna": {"claims": 1, "error": 0, "warning": 0, "info": 0, "ok": 1}}


def test_validate_a_document_says_it_is_not_a_spreadsheet():
    done = xlsheets("validate", ROOT / "README.md")
    assert done.returncode == 2
    assert "README.md is not a spreadsheet" in done.stderr and "Traceback" not in done.stderr


# --- explain knows every ID an output can show ---------------------------------------------------
BROKEN_PLUGIN = '''"""A payer plugin with one rule that crashes (E102) and one that works."""
import xlsheets

@xlsheets.rule("ZZB101", severity="error", dx=("M54",))
def crashes(claim, ctx):
    """Crashes on every M54 claim.

    Why: to see E102.
    """
    raise KeyError("payer")

@xlsheets.hookimpl
def xlsheets_rules():
    return [crashes]
'''


def test_every_id_in_a_validate_output_can_be_explained(tmp_path):
    """E101 (an unreadable cell), E102 (a plugin rule that crashes), E103 (codes in a column not
    read), plugin and built-in rules: each ID the JSON shows, `explain` explains (exit 0)."""
    import json
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "zzbroken.py").write_text(BROKEN_PLUGIN)
    sheet = tmp_path / "claims.csv"
    sheet.write_text("Claim ID,DOS,Payer,Dx1,Dx2,CPT1,Units,Pt Problem A,Conservative Care Weeks\n"
                     "C1,03/10/2026,Aetna,M54.17,#N/A,64483,1,M51.17,2\n"
                     "C2,03/10/2026,Aetna,M54.16,M54.17,72148,two,,1\n")
    args = ["--plugins-dir", plugins, "--plugin", "zzbroken", "--plugin", "medicare_esi",
            "--plugins-dir", ROOT / "plugins"]
    done = xlsheets("validate", sheet, "--format", "json", *args)
    assert done.returncode == 1, done.stderr
    ids = {f["rule"] for c in json.loads(done.stdout)["claims"] for f in c["findings"]}
    assert {"E101", "E102", "E103", "D401", "S303"} <= ids, ids
    done = xlsheets("explain", *sorted(ids), "--format", "json", *args)
    assert done.returncode == 0, done.stderr
    assert sorted({r["id"] for r in json.loads(done.stdout)}) == sorted(ids)
    text = xlsheets("explain", "E102", *args).stdout
    assert text.startswith("E102  A rule or plugin failed") and "Why:" in text


def test_rules_lists_every_id_explain_knows():
    import json
    listed = [r["id"] for r in json.loads(xlsheets("rules", "--format", "json").stdout)]
    assert {"C101", "X201", "S301", "D401", "E101", "E102", "E103"} <= set(listed)
    done = xlsheets("explain", *listed)
    assert done.returncode == 0, done.stderr


def test_an_unknown_id_says_what_is_known_and_where_plugin_rules_come_from():
    done = xlsheets("explain", "MED101")
    assert done.returncode == 2
    assert "No loaded plugin has rules starting MED" in done.stderr and "--plugins-dir" in done.stderr
    assert xlsheets("explain", "MED101", "--plugins-dir", ROOT / "plugins").returncode == 0


# --- severity per case, as the rule object declares it -------------------------------------------
def test_d401_says_error_on_an_injection_and_warning_on_an_mri_and_validate_agrees(tmp_path):
    import json
    rules = {r["id"]: r for r in json.loads(xlsheets("rules", "--format", "json").stdout)}
    cases = {c["severity"]: c["when"] for c in rules["D401"]["severities"]}
    assert set(cases) == {"error", "warning"} and "MRI" in cases["warning"] and "injection" in cases["error"]
    text = xlsheets("rules").stdout
    d401 = text[text.index("\nD401 "):].splitlines()[1:4]
    assert d401[0].startswith("D401  error/warning")
    assert any(line.strip().startswith("warning on a lumbar MRI") for line in d401)
    explained = xlsheets("explain", "D401").stdout
    assert "Severity:  error on an epidural steroid injection\n           warning on a lumbar MRI" in explained
    sheet = tmp_path / "claims.csv"
    sheet.write_text("Claim ID,DOS,Dx1,CPT1,Conservative Care Weeks,Laterality,Nerve Root Level\n"
                     "ESI,2026-03-10,M51.17,64483,1,R,L5\nMRI,2026-03-10,M51.17,72148,1,,\n")
    claims = json.loads(xlsheets("validate", sheet, "--format", "json").stdout)["claims"]
    got = {c["claim_id"]: [f["severity"] for f in c["findings"] if f["rule"] == "D401"] for c in claims}
    assert got == {"ESI": ["error"], "MRI": ["warning"]}


def test_every_builtin_rule_that_sets_a_finding_severity_declares_its_cases():
    """A check that passes severity= to ctx.finding gives more than one severity: the rule
    object must say when, or `rules` and `explain` would say one severity for all."""
    import inspect
    from xlsheets.plugins import BUILTIN_MODULES, load_plugins
    for r in load_plugins().rules:
        body = inspect.getsource(r.check).split("\ndef ", 1)[1]  # the check, not its @rule line
        if r.plugin in BUILTIN_MODULES and "severity=" in body:
            assert len(r.severities) >= 2, f"{r.id} sets a finding's severity but declares no severities"


# --- every --help reads as one tool -------------------------------------------------------------
HELPS = [["validate"], ["rules"], ["explain"], ["codes"], ["codes", "import"], ["codes", "coverage"],
         ["codes", "import-hcpcs"], ["codes", "import-cpt"],
         ["ncci"], ["ncci", "import"], ["ncci", "status"], ["plugins"], ["plugins", "new"],
         ["plugins", "test"], ["template"], ["lite"]]
RESULTS = [["validate"], ["rules"], ["explain"], ["codes"], ["codes", "import"], ["codes", "coverage"],
           ["codes", "import-hcpcs"], ["codes", "import-cpt"],
           ["ncci"], ["ncci", "import"], ["ncci", "status"], ["plugins"], ["plugins", "test"]]


def test_every_command_is_listed_and_its_help_ends_with_its_exit_status():
    from xlsheets.cli import SUBCOMMANDS
    top = xlsheets("--help")
    assert top.returncode == 0 and "--format text|json" in top.stdout and "Exit status:" in top.stdout
    assert {h[0] for h in HELPS} == set(SUBCOMMANDS)
    for argv in HELPS:
        done = xlsheets(*argv, "--help")
        assert done.returncode == 0, (argv, done.stderr)
        assert done.stdout.startswith(f"usage: xlsheets {' '.join(argv)}"), argv
        tail = done.stdout[done.stdout.rindex("\nexit status:"):]
        assert "\n  0  " in tail and "\n  2  " in tail, argv
        if argv in RESULTS:
            assert "--format {text,json" in done.stdout, argv
        assert "--json" not in done.stdout, argv  # the old codes flag works, hidden


def test_codes_import_and_plugins_test_speak_json_too(tmp_path):
    import json
    import os
    fix = ROOT / "tests" / "fixtures" / "cms2021"
    env = {**os.environ, "XLSHEETS_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "codes", "import",
                           str(fix / "icd10cm-order-Jan-2021_M51_M54.txt"),
                           str(fix / "icd10cm_tabular_2021_M51_M54.xml"), "--effective", "10/01/2027",
                           "--format", "json"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout)
    assert imported["imported"] is True and imported["codes"] == 68 and imported["effective"] == "2027-10-01"
    done = xlsheets("plugins", "test", ROOT / "plugins" / "medicare_esi.py", "--format", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"] and report["passed"] == report["total"] == len(report["cases"])


def test_an_id_with_a_claim_rule_and_a_batch_rule_explains_both():
    """N501 is one rule for a claim and one for a patient's claims on one date: both are shown."""
    import json
    listed = json.loads(xlsheets("rules", "--format", "json").stdout)
    twice = sorted({r["id"] for r in listed if sum(x["id"] == r["id"] for x in listed) > 1})
    assert twice  # N501, N502 today
    for rule_id in twice:
        explained = json.loads(xlsheets("explain", rule_id, "--format", "json").stdout)
        assert len(explained) == sum(r["id"] == rule_id for r in listed)
        assert {r["scope"] for r in explained} == {r["scope"] for r in listed if r["id"] == rule_id}
