"""Rules that declare ``reads`` have their findings reused across claims: the reuse must never
change what a claim gets (rows, severity per payer, order, plugin answers, multi-row claims)."""
import textwrap

import pytest

import xlsheets
from xlsheets.config import Config, PayerPolicy
from xlsheets.engine import Validator
from xlsheets.plugins import load_plugins
from xlsheets.rule import RuleDefinitionError, rule

HEADER = ["Claim ID", "Patient", "DOS", "Payer", "Dx 1", "Dx 2", "CPT"]


def findings_by_row(results):
    return {r.row: [(f.rule, str(f.severity), f.rows) for f in r.findings] for r in results}


def test_reused_findings_land_on_each_claims_own_row():
    rows = [["C1", "P1", "2022-01-10", "Aetna", "M54.5", None, "99213"],
            ["C2", "P2", "2022-01-10", "Aetna", "M54.5", None, "99213"],
            ["C3", "P3", "2022-01-10", "Aetna", "M54.50", None, "99213"]]
    got = findings_by_row(Validator(Config()).validate_rows(HEADER, rows))
    assert got[2] == [("C103", "error", (2,))]  # one problem, one finding: not C102 too
    assert got[3] == [("C103", "error", (3,))]
    assert got[4] == []


def test_same_codes_under_two_payers_keep_each_payers_severity():
    cfg = Config(payers=[PayerPolicy("lenient", match=["lenient"], severity={"X201": "warning"})])
    rows = [["C1", "P1", "2026-03-10", "Strict", "M54.17", "M51.17", "99213"],
            ["C2", "P2", "2026-03-10", "Lenient", "M54.17", "M51.17", "99213"],
            ["C3", "P3", "2026-03-10", "Strict", "M54.17", "M51.17", "99213"]]
    results = Validator(cfg).validate_rows(HEADER, rows)
    x201 = [next(f.severity for f in r.findings if f.rule == "X201") for r in results]
    assert [str(s) for s in x201] == ["error", "warning", "error"]


def test_findings_stay_in_catalogue_order_when_some_are_reused():
    # C101 (reused) comes before S301 (always run); X201 (reused) sits between C1xx and S3xx.
    claim = {"DOS": "2026-03-10", "Dx 1": "M54.17", "Dx 2": "M51.17", "Dx 3": "M54.99X",
             "Disc Disorder Confirmed": "Y", "CPT": "99213"}
    first = [f.rule for f in xlsheets.validate(claim)]
    again = [f.rule for f in xlsheets.validate(claim)]  # now from the remembered findings
    assert first == again
    assert first.index("C101") < first.index("X201") < first.index("S301")


def test_a_pair_policy_that_reads_the_claim_is_asked_for_every_claim(tmp_path):
    (tmp_path / "by_fact.py").write_text(textwrap.dedent('''
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_pair_policy(code_a, code_b, claim, settings):
            return "deny" if claim.yes("red_flags") else "allow"

        @xlsheets.rule("BF101", severity="error", reads=("diagnoses",))
        def pair_denied(claim, ctx):
            """Denied pairs (reads only the diagnoses, but asks the payer's pair policy)."""
            d = claim.diagnoses
            if len(d) > 1 and ctx.pair_policy(d[0], d[1], claim) == "deny":
                yield ctx.finding("denied", codes=d[:2])

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [pair_denied]
        '''))
    v = Validator(Config(plugins=["by_fact"]), host=load_plugins([tmp_path], cache=False))
    header = HEADER + ["Red Flags"]
    rows = [["C1", "P1", "2026-03-10", "A", "M54.50", "I10", "99213", "Y"],
            ["C2", "P2", "2026-03-10", "A", "M54.50", "I10", "99213", "N"],
            ["C3", "P3", "2026-03-10", "A", "M54.50", "I10", "99213", "Y"]]
    fired = [any(f.rule == "BF101" for f in r.findings) for r in v.validate_rows(header, rows)]
    assert fired == [True, False, True]


def test_service_lines_keep_the_rows_they_concern():
    header = ["Claim ID", "DOS", "Dx", "CPT", "Units"]
    rows = [["C1", "2026-03-10", "M51.17", "99213", 1],
            ["C1", "2026-03-10", "M51.17", "7214", 1],   # malformed, on the claim's second line
            ["C2", "2026-03-10", "M51.17", "7214", 1]]
    results = Validator(Config()).validate_rows(header, rows)
    c105 = {r.claim_id: [f.rows for f in r.findings if f.rule == "C105"] for r in results}
    assert c105 == {"C1": [(3,)], "C2": [(4,)]}


def test_reads_must_name_claim_fields_and_the_error_says_where():
    with pytest.raises(RuleDefinitionError, match=r"test_engine_reuse.py:\d+: rule ZZ101: reads must list"):
        @rule("ZZ101", reads=("facts",))
        def bad(claim, ctx):
            """Reads something that is not a claim field."""
    with pytest.raises(RuleDefinitionError, match="a batch rule's reads lists claim fields"):
        @rule("ZZ102", reads=("laterality",), scope="batch")
        def batch(claims, ctx):
            """A batch rule keeps a view of claim fields, not documentation columns."""
