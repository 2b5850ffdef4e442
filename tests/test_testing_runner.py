"""The cases-file runner (xlsheets.testing): right verdicts, readable failures, no silent passes."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from xlsheets.testing import assert_cases, cases, cases_file_for, run_cases_file

PLUGIN = '''
"""Test plugin: flags 97014 and counts sessions per patient."""
import xlsheets

@xlsheets.rule("TST101", severity="error", procedures={"97014"})
def no_97014(claim, ctx):
    """97014 is not covered: bill G0283."""
    yield ctx.finding("97014 is not covered", codes=["97014"], suggestion="G0283")

@xlsheets.rule("TST102", severity="warning", scope="batch", procedures={"20552"})
def too_many(claims, ctx):
    """More than 2 trigger point sessions for one patient."""
    for patient, group in ctx.by_patient(claims).items():
        for claim in group[2:]:
            yield claim, ctx.finding(f"session {group.index(claim) + 1} for {patient}", claim=claim)

@xlsheets.rule("TST103", procedures={"99213"})
def crashes(claim, ctx):
    """Always crashes."""
    raise KeyError("oops")

@xlsheets.hookimpl
def xlsheets_rules():
    return [no_97014, too_many, crashes]
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def plugin(tmp_path):
    return write(tmp_path, "tst.py", PLUGIN)


def test_builtin_rule_case_passes_and_counts(tmp_path):
    path = write(tmp_path, "core.cases.toml", """
        [defaults]
        dos = "2026-03-10"
        payer = "Aetna"
        [[case]]
        name = "disc disorder confirmed"
        row = { claim_id = "A1", dx1 = "M54.17", disc_disorder_confirmed = "Y" }
        expect = ["S301"]
        severity = { S301 = "error" }
        [[case]]
        name = "not confirmed"
        row = { claim_id = "A2", "Dx 1" = "M54.17", disc_disorder_confirmed = "N" }
        expect_not = ["S301"]
        """)
    report = run_cases_file(path)
    assert (report.passed, report.total, report.failures) == (2, 2, [])
    assert report.ok


def test_failure_names_case_and_shows_what_was_found(tmp_path):
    path = write(tmp_path, "core.cases.toml", """
        [defaults]
        dos = "2026-03-10"
        [[case]]
        name = "expects the wrong thing"
        row = { claim_id = "A1", dx1 = "M54.17", disc_disorder_confirmed = "Y" }
        expect = ["S302"]
        expect_not = ["S301"]
        severity = { S301 = "warning" }
        """)
    report = run_cases_file(path)
    assert report.passed == 0 and not report.ok
    text = "\n".join(report.failures)
    assert "case 'expects the wrong thing': expected S302, but it did not fire" in text
    assert "expected no S301, but found: [A1] ERROR S301: disc disorder confirmed - use M51.17" in text
    assert "expected S301 as warning, but it is error" in text
    assert str(path) in report.failures[0]


def test_per_claim_expectations_on_a_workbook(tmp_path, plugin):
    path = write(tmp_path, "tst.cases.toml", """
        [defaults]
        dos = "2026-03-10"
        dx1 = "M79.18"
        [[case]]
        name = "third session of P1 only"
        rows = [
          { claim_id = "A1", patient_id = "P1", cpt1 = "20552" },
          { claim_id = "A2", patient_id = "P1", cpt1 = "20552", dos = "2026-04-10" },
          { claim_id = "A3", patient_id = "P1", cpt1 = "20552", dos = "2026-05-10" },
          { claim_id = "B1", patient_id = "P2", cpt1 = "20552" },
        ]
        expect_on = { A3 = ["TST102"] }
        expect_not_on = { A1 = ["TST102"], A2 = ["TST102"], B1 = ["TST102"] }
        [[case]]
        name = "wrong claim expected"
        rows = [
          { claim_id = "A1", patient_id = "P1", cpt1 = "20552" },
          { claim_id = "A2", patient_id = "P1", cpt1 = "20552" },
          { claim_id = "A3", patient_id = "P1", cpt1 = "20552" },
        ]
        expect_on = { A1 = ["TST102"], ZZ = ["TST102"] }
        expect_not_on = { A3 = ["TST102"] }
        """)
    report = run_cases_file(path, plugin=plugin)
    assert [r.passed for r in report.results] == [True, False]
    text = "\n".join(report.failures)
    assert "expected TST102 on claim A1, but it did not fire there; claim A1 has: no findings" in text
    assert "expect_on names claim 'ZZ', which is not in the case's rows (claims: A1, A2, A3)" in text
    assert "expected no TST102 on claim A3, but found: [A3] WARNING TST102: session 3 for P1" in text


def test_plugin_enabled_for_all_payers_unless_config_says_otherwise(tmp_path, plugin):
    everyone = write(tmp_path, "tst.cases.toml", """
        [[case]]
        name = "any payer"
        row = { claim_id = "A1", dos = "2026-03-10", payer = "Whoever", cpt1 = "97014" }
        expect = ["TST101"]
        """)
    assert run_cases_file(everyone, plugin=plugin).ok
    one_payer = write(tmp_path, "other.cases.toml", """
        [config.payers.medicare]
        match = ["medicare*"]
        plugins = ["tst"]
        [[case]]
        name = "medicare"
        row = { claim_id = "A1", dos = "2026-03-10", payer = "Medicare Part B", cpt1 = "97014" }
        expect = ["TST101"]
        [[case]]
        name = "commercial"
        row = { claim_id = "A2", dos = "2026-03-10", payer = "Aetna", cpt1 = "97014" }
        expect_not = ["TST101"]
        """)
    report = run_cases_file(one_payer, plugin=plugin)
    assert report.ok, report.failures


def test_crashing_rule_fails_a_case_that_does_not_expect_it(tmp_path, plugin):
    path = write(tmp_path, "tst.cases.toml", """
        [[case]]
        name = "office visit"
        row = { claim_id = "A1", dos = "2026-03-10", cpt1 = "99213" }
        expect_not = ["TST101"]
        """)
    report = run_cases_file(path, plugin=plugin)
    assert not report.ok
    assert "a rule crashed on claim A1: Rule TST103 of plugin tst" in report.failures[0]
    assert "KeyError" in report.failures[0]


@pytest.mark.parametrize("text, message", [
    ("[[case]\nname = 'x'", "not valid TOML"),
    ("[cases]\nname = 'x'", "unknown section(s) cases"),
    ("[payers.medicare]\nplugins = ['x']", "configuration goes under [config], e.g. [config.payers]"),
    ("[defaults]\ndos = '2026-03-10'", "no cases"),
    ("[config]\nselekt = ['S']\n[[case]]\nrow={dx1='M54.17'}\nexpect=['S301']", "[config]: "),
])
def test_file_errors_are_reported_with_the_file(tmp_path, text, message):
    path = write(tmp_path, "bad.cases.toml", text)
    report = run_cases_file(path)
    assert not report.ok and report.total == 0
    assert report.failures[0].startswith(str(path)) and message in report.failures[0]


@pytest.mark.parametrize("case, message", [
    ('name = "no exp"\nrow = { dx1 = "M54.17" }', "no expectations"),
    ('name = "typo key"\nrow = { dx1 = "M54.17" }\nexpects = ["S301"]', "unknown key(s) expects"),
    ('name = "typo rule"\nrow = { dx1 = "M54.17" }\nexpect_not = ["S399"]', "no loaded rule has the ID S399"),
    ('name = "typo column"\nrow = { dx1 = "M54.17", symtom_weeks = 3 }\nexpect_not = ["S301"]',
     "column 'symtom_weeks' is not a column xlsheets reads"),
    ('name = "both"\nrow = { dx1 = "M54.17" }\nrows = [{ dx1 = "M54.17" }]\nexpect = ["S301"]',
     "either row"),
    ('name = "same column twice"\nrows = [{ dx1 = "M54.17" }, { "Dx 1" = "M54.16" }]\nexpect = ["S301"]',
     "same column"),
])
def test_case_errors_name_the_file_and_case(tmp_path, case, message):
    path = write(tmp_path, "bad.cases.toml", "[[case]]\n" + case + "\n")
    report = run_cases_file(path)
    assert report.total == 1 and report.passed == 0
    name = case.split('"')[1]
    assert report.failures[0].startswith(f"{path}: case {name!r}: ")
    assert message in report.failures[0]


def test_plugin_that_does_not_load_is_reported(tmp_path):
    broken = write(tmp_path, "broken.py", "import xlsheets\ndef oops(:\n")
    path = write(tmp_path, "broken.cases.toml", '[[case]]\nrow = { cpt1 = "97014" }\nexpect = ["S301"]\n')
    report = run_cases_file(path, plugin=broken)
    assert not report.ok
    assert f"plugin broken.py was not loaded: {broken}, line 2: syntax error" in report.failures[0]


def test_defaults_fill_rows_and_rows_override(tmp_path):
    path = write(tmp_path, "core.cases.toml", """
        [defaults]
        dos = "2026-03-10"
        disc_disorder_confirmed = "Y"
        dx1 = "M54.17"
        [[case]]
        name = "default applies"
        row = { claim_id = "A1" }
        expect = ["S301"]
        [[case]]
        name = "row overrides default through an alias"
        row = { claim_id = "A2", "Disc confirmed" = "N" }
        expect_not = ["S301"]
        """)
    report = run_cases_file(path)
    assert report.ok, report.failures


def test_assert_cases_raises_with_every_failure(tmp_path):
    path = write(tmp_path, "core.cases.toml", """
        [[case]]
        name = "wrong"
        row = { claim_id = "A1", dos = "2026-03-10", dx1 = "M54.17" }
        expect = ["S301"]
        """)
    with pytest.raises(AssertionError, match="0 of 1 cases passed(.|\n)*case 'wrong': expected S301"):
        assert_cases(path)


def test_cases_yields_one_pytest_param_per_case(tmp_path):
    path = write(tmp_path, "core.cases.toml", """
        [[case]]
        name = "right"
        row = { claim_id = "A1", dos = "2026-03-10", dx1 = "M54.17", disc_disorder_confirmed = "Y" }
        expect = ["S301"]
        [[case]]
        name = "wrong"
        row = { claim_id = "A1", dos = "2026-03-10", dx1 = "M54.17" }
        expect = ["S301"]
        """)
    params = list(cases(path))
    assert [p.id for p in params] == ["right", "wrong"]
    params[0].values[0].check()
    with pytest.raises(AssertionError, match="case 'wrong': expected S301"):
        params[1].values[0].check()


def test_cases_file_for_plugin():
    assert cases_file_for("plugins/acme.py") == Path("plugins/acme.cases.toml")


def test_absent_removes_a_default_column_so_the_rule_cannot_run(tmp_path):
    path = write(tmp_path, "core.cases.toml", """
        [defaults]
        dos = "2026-03-10"
        dx1 = "M54.17"
        disc_disorder_confirmed = "Y"
        [[case]]
        name = "column absent: unknown"
        row = { claim_id = "A1" }
        absent = ["Disc confirmed"]
        expect_not = ["S301"]
        [[case]]
        name = "absent column set by a row"
        row = { claim_id = "A1", disc_disorder_confirmed = "Y" }
        absent = ["disc_disorder_confirmed"]
        expect_not = ["S301"]
        """)
    report = run_cases_file(path)
    assert [r.passed for r in report.results] == [True, False]
    assert "listed in absent but a row sets it" in report.failures[0]
