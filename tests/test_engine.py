"""The Python API and the engine: findings, status, pair policies, batch rules, skipped rules."""
import re
import textwrap

import xlsheets
from xlsheets.config import Config, PayerPolicy
from xlsheets.engine import Validator
from xlsheets.findings import Severity, status_of
from xlsheets.plugins import load_plugins

HEADER = ["Claim ID", "Patient", "DOS", "Payer", "Dx 1", "Dx 2", "CPT"]


def test_validate_one_claim_as_a_mapping():
    findings = xlsheets.validate({"DOS": "2026-03-10", "Dx 1": "M54.17", "Disc Disorder Confirmed": "Y"})
    s301 = next(f for f in findings if f.rule == "S301")
    assert s301.severity is Severity.ERROR
    assert s301.codes == ("M54.17",) and s301.suggestion == "M51.17" and s301.reference
    assert s301.short() == "ERROR S301: disc disorder confirmed - use M51.17"
    assert status_of(findings) == "error"


def test_clean_claim_is_ok():
    findings = xlsheets.validate({"DOS": "2026-03-10", "Dx 1": "M51.17", "CPT": "99213"})
    assert findings == [] and status_of(findings) == "ok"


def test_validate_rows_numbers_claims_as_in_the_sheet():
    rows = [["C1", "P1", "2026-03-10", "Aetna", "M54.17", "M51.17", "99213"],
            ["C2", "P2", "2026-03-10", "Aetna", "M51.17", None, "99213"]]
    results = xlsheets.validate_rows(HEADER, rows)
    assert [(r.claim_id, r.row, r.status) for r in results] == [("C1", 2, "error"), ("C2", 3, "ok")]
    assert results[0].findings[0].rows == (2,)


def test_rules_that_need_an_absent_column_are_listed_once_as_skipped():
    v = Validator(Config())
    v.validate_rows(["dos", "dx1"], [["2026-03-10", "M54.17"]] * 3)
    assert v.skipped["S301"] == ("disc_disorder_confirmed",)


def plugin_folder(tmp_path, name, source):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return load_plugins([tmp_path], cache=False)


def test_pair_policy_hook_decides_s303_for_the_payers_that_enable_it(tmp_path):
    host = plugin_folder(tmp_path, "deny_both", '''
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_pair_policy(code_a, code_b, claim, settings):
            return settings.get("m54_policy")

        @xlsheets.hookimpl
        def xlsheets_default_settings():
            return {"m54_policy": "deny"}
        ''')
    cfg = Config(payers=[PayerPolicy("strict", match=["strict*"], plugins=["deny_both"]),
                         PayerPolicy("lenient", match=["lenient"], plugins=["deny_both"],
                                     settings={"m54_policy": "allow"})])
    v = Validator(cfg, host=host)

    def s303(payer):
        findings = v.validate_row(["dos", "payer", "dx1", "dx2"], ["2026-03-10", payer, "M54.16", "M54.17"])
        return [str(f.severity) for f in findings if f.rule == "S303"]

    assert s303("Strict Health") == ["error"]
    assert s303("Lenient") == []
    assert s303("Other") == ["warning"]  # no plugin decides: verify payer policy


def test_batch_rule_sees_a_patients_other_rows(tmp_path):
    host = plugin_folder(tmp_path, "visits", '''
        import xlsheets

        @xlsheets.rule("VIS101", scope="batch", procedures=["20552"])
        def third_visit(claims, ctx):
            """Flags the third trigger point session of a patient."""
            for patient, visits in ctx.by_patient(claims).items():
                for claim in visits[2:]:
                    yield claim, ctx.finding("third session", claim=claim)

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [third_visit]
        ''')
    v = Validator(Config(plugins=["visits"]), host=host)
    header = ["claim_id", "patient_id", "dos", "dx1", "cpt1"]
    rows = [["A1", "P1", "2026-01-05", "M79.18", "20552"], ["B1", "P2", "2026-01-06", "M79.18", "20552"],
            ["A2", "P1", "2026-02-05", "M79.18", "20552"], ["A3", "P1", "2026-03-05", "M79.18", "20552"]]
    results = v.validate_rows(header, rows)
    flagged = {r.claim_id: [f.rule for f in r.findings] for r in results}
    assert flagged == {"A1": [], "B1": [], "A2": [], "A3": ["VIS101"]}
    assert results[3].findings[0].rows == (5,)


def test_plugin_that_replaces_part_of_the_claim_is_undone_and_named(tmp_path):
    host = plugin_folder(tmp_path, "meddler", '''
        import xlsheets

        @xlsheets.rule("MED901", dx=["M54"])
        def swap(claim, ctx):
            """Tries to rewrite the diagnoses."""
            claim.diagnoses = ("M51.17",)
            return []

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [swap]
        ''')
    v = Validator(Config(plugins=["meddler"]), host=host)
    findings = v.validate_row(["dos", "dx1", "disc_disorder_confirmed"], ["2026-03-10", "M54.17", "Y"])
    failure = next(f for f in findings if f.rule == "E102")
    assert "tried to change the claim" in failure.message and "meddler" in failure.message
    assert "S301" in {f.rule for f in findings}  # later rules saw the original M54.17


def test_profile_counts_time_per_rule():
    v = Validator(Config(), profile=True)
    v.validate_rows(["dos", "dx1"], [["2026-03-10", "M54.17"]] * 5)
    seconds, calls = v.profile["C101"]
    assert calls == 5 and seconds >= 0


def test_batch_rule_uses_each_claims_own_payer_settings():
    """A workbook mixing payers: each claim's history limit is its own payer's."""
    from pathlib import Path
    plugins = Path(__file__).resolve().parent.parent / "plugins"
    cfg = Config(plugin_dirs=[plugins], payers=[
        PayerPolicy("medicare", match=["medicare"], plugins=["trigger_point"]),
        PayerPolicy("advantage", match=["advantage"], plugins=["trigger_point"],
                    settings={"tpi_sessions_per_year": 4})])
    v = Validator(cfg, host=load_plugins([plugins]))
    header = ["claim_id", "patient_id", "payer", "dos", "dx1", "cpt1", "myofascial_pain"]
    rows = [[f"{p}{i}", p, payer, f"2026-0{i}-10", "M79.18", "20552", "Y"]
            for p, payer in (("A", "Medicare"), ("B", "Advantage")) for i in range(1, 5)]
    flagged = {r.claim_id for r in v.validate_rows(header, rows) if any(f.rule == "TPI101" for f in r.findings)}
    assert flagged == {"A4"}


def test_pair_policy_that_raises_is_reported_and_the_default_decides(tmp_path):
    host = plugin_folder(tmp_path, "shaky_policy", '''
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_pair_policy(code_a, code_b, claim, settings):
            return {}["missing"]
        ''')
    v = Validator(Config(plugins=["shaky_policy"]), host=host)
    findings = v.validate_row(["dos", "dx1", "dx2"], ["2026-03-10", "M54.16", "M54.17"])
    failure = next(f for f in findings if f.rule == "E102")
    assert "pair policy of plugin shaky_policy" in failure.message
    assert "shaky_policy.py, line 6: KeyError" in failure.message
    assert [str(f.severity) for f in findings if f.rule == "S303"] == ["warning"]


def test_endless_plugin_rule_is_stopped_and_named(tmp_path):
    """A plugin rule stuck in a loop must not hang a batch run: the watchdog stops it."""
    host = plugin_folder(tmp_path, "spin", '''
        import xlsheets

        @xlsheets.rule("SPIN101", dx=["M54.1"])
        def spin(claim, ctx):
            """Never returns."""
            while True:
                pass

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [spin]
        ''')
    v = Validator(Config(plugins=["spin"]), host=host)
    with v.watchdog(0.3):
        results = v.validate_rows(["claim_id", "dos", "dx1"], [["C1", "2026-03-10", "M54.17"],
                                                                ["C2", "2026-03-10", "M51.17"]])
    stopped = [f for f in results[0].findings if f.rule == "E102"]
    assert len(stopped) == 1 and "ran for more than 0.3 s and was stopped" in stopped[0].message
    assert re.search(r"spin\.py, line [78]: ", stopped[0].message)  # inside the loop
    assert results[1].findings == []


def test_a_batch_rule_with_reads_gets_views_of_those_fields_and_reading_more_fails_loudly():
    """A batch rule that declares reads keeps a small view of each claim (those fields, and
    claim_id, patient_id, payer, rows) to the end of the workbook instead of the claim."""
    from xlsheets.engine import RULE_FAILED, Validator
    from xlsheets.plugins import PluginHost
    from xlsheets.rule import rule
    import types
    seen = []

    @rule("VW101", scope="batch", reads=("procedures",))
    def narrow(claims, ctx):
        """Sees views of the claims."""
        for c in claims:
            seen.append((c.claim_id, c.patient_id, c.rows, tuple(p.code for p in c.procedures)))
        yield claims[-1], ctx.finding("last claim", claim=claims[-1])

    @rule("VW102", scope="batch", reads=("procedures",))
    def reads_more(claims, ctx):
        """Reads a field it did not declare."""
        return [(c, ctx.finding(str(c.diagnoses), claim=c)) for c in claims]

    module = types.ModuleType("views")
    module.xlsheets_rules = xlsheets.hookimpl(lambda: [narrow, reads_more])
    host = PluginHost()
    host.add(module, "views", "folder", "views.py")
    host.load_builtins()
    host.finish()
    results = Validator(Config(plugins=["views"]), host=host).validate_rows(["claim_id", "patient_id", "dx1", "cpt1"],
                                                 [["A1", "P1", "M54.17", "64483"], ["A2", "P2", "M54.16", "72148"]])
    assert seen == [("A1", "P1", (2,), ("64483",)), ("A2", "P2", (3,), ("72148",))]
    assert [f.rule for f in results[1].findings if f.rule == "VW101"] == ["VW101"]
    failed = [f for r in results for f in r.findings if f.rule == RULE_FAILED]
    assert failed and "VW102" in failed[0].message and "diagnoses" in failed[0].message


def test_a_grouped_batch_rule_sees_only_claims_that_share_its_fields():
    """group_by: the rule gets only claims sharing those values with another claim (blank values
    share nothing), in sheet order."""
    from xlsheets.plugins import PluginHost
    from xlsheets.rule import rule
    import types
    seen = []

    @rule("GB101", scope="batch", reads=("dos",), group_by=("patient_id", "dos"))
    def same_day(claims, ctx):
        """Sees the claims of a patient on one date, when there are two or more."""
        seen.append([c.claim_id for c in claims])
        return []

    module = types.ModuleType("grouped")
    module.xlsheets_rules = xlsheets.hookimpl(lambda: [same_day])
    host = PluginHost()
    host.add(module, "grouped", "folder", "grouped.py")
    host.load_builtins()
    host.finish()
    Validator(Config(plugins=["grouped"]), host=host).validate_rows(
        ["claim_id", "patient_id", "dos", "dx1"],
        [["A1", "P1", "2026-03-10", "M54.17"], ["A2", "P2", "2026-03-10", "M54.17"],
         ["A3", "P1", "2026-03-11", "M54.17"], ["A4", "P1", "2026-03-10", "M54.17"],
         ["A5", "", "2026-03-10", "M54.17"], ["A6", "", "2026-03-10", "M54.17"],
         ["A7", "P2", "2026-03-10", "M54.17"], ["A8", "P1", "2026-03-10", "M54.17"],
         ["A9", "P3", "2026-03-10", "M54.17"]])
    # Two shared keys, one of them three times, interleaved: every member once, in sheet order.
    assert seen == [["A1", "A2", "A4", "A7", "A8"]]


def test_batch_rules_of_every_kind_in_one_plan_see_the_claims_fields_and_report_on_them():
    """A grouped rule reading several fields, a rule with views and a triggered rule that gets
    whole claims, in one plan: each sees the claims' own values (the engine keeps a grouped claim
    as its result plus the fields the result and key lack) and its findings land on its claims."""
    from xlsheets.plugins import PluginHost
    from xlsheets.rule import rule
    import types
    seen = {}

    @rule("GB102", scope="batch", reads=("procedures", "pos", "dos"), group_by=("patient_id", "dos"))
    def grouped(claims, ctx):
        """Sees a patient's claims on one date, with their place of service and codes."""
        seen["GB102"] = [(c.claim_id, c.patient_id, c.payer, c.rows, str(c.dos), c.pos,
                          tuple(p.code for p in c.procedures)) for c in claims]
        return [(c, ctx.finding(f"grouped {c.claim_id}", claim=c)) for c in claims]

    @rule("VW103", scope="batch", reads=("procedures",))
    def viewed(claims, ctx):
        """Sees views of every claim."""
        seen["VW103"] = [c.claim_id for c in claims]
        return [(claims[0], ctx.finding("first", claim=claims[0]))]

    @rule("WH101", scope="batch", procedures={"72148"})
    def whole(claims, ctx):
        """Sees the whole claims that have an MRI."""
        seen["WH101"] = [(c.claim_id, c.diagnoses) for c in claims]
        return [(c, ctx.finding("mri", claim=c)) for c in claims]

    module = types.ModuleType("kinds")
    module.xlsheets_rules = xlsheets.hookimpl(lambda: [grouped, viewed, whole])
    host = PluginHost()
    host.add(module, "kinds", "folder", "kinds.py")
    host.load_builtins()
    host.finish()
    results = Validator(Config(plugins=["kinds"]), host=host).validate_rows(
        ["claim_id", "patient_id", "payer", "dos", "pos", "dx1", "cpt1"],
        [["A1", "P1", "Acme", "2026-03-10", "11", "M54.17", "64483"],
         ["A2", "P2", "Acme", "2026-03-10", "11", "M54.16", "72148"],
         ["A3", "P1", "Other", "2026-03-10", "22", "M54.16", "72148"],
         ["A4", "", "Acme", "2026-03-10", "11", "M54.17", "64483"]])
    assert seen["GB102"] == [("A1", "P1", "Acme", (2,), "2026-03-10", "11", ("64483",)),
                             ("A3", "P1", "Other", (4,), "2026-03-10", "22", ("72148",))]
    assert seen["VW103"] == ["A1", "A2", "A3", "A4"]
    assert seen["WH101"] == [("A2", ("M54.16",)), ("A3", ("M54.16",))]
    mine = [[f.message for f in r.findings if f.rule in ("GB102", "VW103", "WH101")] for r in results]
    assert mine == [["grouped A1", "first"], ["mri"], ["grouped A3", "mri"], []]


def test_a_grouped_rule_reading_what_results_hold_sees_the_claims_of_every_payer_that_runs_it():
    """A grouped rule that reads only the date and procedures (as the NCCI parts do) keeps each
    claim as its result alone. Payer Acme runs only that rule; payer Other runs a triggered
    rule too, so its claims are kept the general way. Both kinds of claim land in the same
    groups, with their own values, and each gets the findings on its own row."""
    from xlsheets.plugins import PluginHost
    from xlsheets.rule import rule
    import types
    seen = []

    @rule("GB103", scope="batch", reads=("procedures", "dos"), group_by=("patient_id", "dos"))
    def same_day(claims, ctx):
        """Sees a patient's claims on one date, with their codes."""
        seen.append([(c.claim_id, c.payer, c.rows, str(c.dos), tuple(str(p) for p in c.procedures))
                     for c in claims])
        return [(c, ctx.finding(f"same day {c.claim_id}", claim=c)) for c in claims]

    @rule("WH102", scope="batch", procedures={"72148"})
    def mri(claims, ctx):
        """Sees the whole claims that have an MRI."""
        return []

    module = types.ModuleType("mixed")
    module.xlsheets_rules = xlsheets.hookimpl(lambda: [same_day, mri])
    host = PluginHost()
    host.add(module, "mixed", "folder", "mixed.py")
    host.load_builtins()
    host.finish()
    config = Config(plugins=["mixed"], payers=[PayerPolicy("acme", match=["acme"], ignore=["WH102"])])
    results = Validator(config, host=host).validate_rows(
        ["claim_id", "patient_id", "payer", "dos", "dx1", "cpt1"],
        [["A1", "P1", "Acme", "2026-03-10", "M54.17", "64483x2"],
         ["A2", "P1", "Other", "2026-03-10", "M54.16", "72148"],
         ["A3", "P1", "Acme", "2026-03-11", "M54.17", "64483"],
         ["A4", "P2", "Acme", "2026-03-10", "M54.17", "64483"],
         ["A5", "", "Acme", "2026-03-10", "M54.17", "64483"],
         ["A6", "", "Other", "2026-03-10", "M54.17", "64483"],
         ["A7", "P1", "Other", "2026-03-10", "M54.17", "97110-GP"]])
    assert seen == [[("A1", "Acme", (2,), "2026-03-10", ("64483x2",)),
                     ("A2", "Other", (3,), "2026-03-10", ("72148",)),
                     ("A7", "Other", (8,), "2026-03-10", ("97110-GP",))]]
    mine = [[(f.message, f.rows) for f in r.findings if f.rule == "GB103"] for r in results]
    assert mine == [[("same day A1", (2,))], [("same day A2", (3,))], [], [], [], [],
                    [("same day A7", (8,))]]
