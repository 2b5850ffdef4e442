"""Real plugin files with the mistakes administrators make: each gets a message naming file and line."""
import textwrap

import pytest

from xlsheets.config import Config
from xlsheets.engine import Validator
from xlsheets.plugins import load_plugins

GOOD = '''
"""A good plugin next to the broken ones: it must still load and run."""
import xlsheets

@xlsheets.rule("GOOD101", severity="warning", dx=["M54.17"])
def flag_m5417(claim, ctx):
    """Flags M54.17 (a test rule)."""
    yield ctx.finding("M54.17 seen", codes=["M54.17"])

@xlsheets.hookimpl
def xlsheets_rules():
    return [flag_m5417]
'''

BROKEN = {
    "misspelled_hook": ('''
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_rule():
            return []
        ''', "misspelled_hook.py, line 4: unknown hook 'xlsheets_rule'; did you mean 'xlsheets_rules'?"),
    "misspelled_argument": ('''
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_pair_policy(code_a, code_b, claim, setting):
            return None
        ''', "misspelled_argument.py, line 4: hook 'xlsheets_pair_policy' has argument 'setting', "
             "which it is not given; did you mean 'settings'?"),
    "syntax_error": ('''
        import xlsheets

        def broken(:
            pass
        ''', "syntax_error.py, line 4: syntax error: invalid syntax."),
    "import_error": ('''
        import xlsheets
        import a_module_that_is_not_installed
        ''', "import_error.py, line 3: could not be loaded: ModuleNotFoundError: "
             "No module named 'a_module_that_is_not_installed'."),
    "not_decorated": ('''
        import xlsheets

        def xlsheets_rules():
            return []
        ''', "not_decorated.py, line 4: function 'xlsheets_rules' is not decorated with @hookimpl"),
    "core_prefix": ('''
        import xlsheets

        @xlsheets.rule("S399")
        def steal(claim, ctx):
            """Uses a core prefix."""
            return []

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [steal]
        ''', "rule ID S399 uses the built-in prefix 'S'; a plugin owns its own prefix"),
    "no_docstring": ('''
        import xlsheets

        @xlsheets.rule("NOD101")
        def undocumented(claim, ctx):
            return []
        ''', "no_docstring.py:4: rule NOD101 has no docstring"),
    "procedures_as_text": ('''
        import xlsheets

        @xlsheets.rule("PTX101", procedures="64483")
        def injection(claim, ctx):
            """Reads procedures as a text (it would never run)."""
            return []
        ''', "procedures_as_text.py:4: rule PTX101: procedures is a list, like procedures={\"64483\"}, "
             "not the text '64483'"),
    "dx_as_text": ('''
        import xlsheets

        @xlsheets.rule("DTX101", dx="M54.50")
        def back_pain(claim, ctx):
            """Reads dx as a text (it would run on every M code)."""
            return []
        ''', "dx_as_text.py:4: rule DTX101: dx is a list, like dx={\"M54.16\"}, not the text 'M54.50'"),
    "dx_without_dot": ('''
        import xlsheets

        @xlsheets.rule("DND101", dx=["M5416"])
        def radiculopathy(claim, ctx):
            """Writes the code as an 837 file does (it would never match)."""
            return []
        ''', "dx_without_dot.py:4: rule DND101: dx lists ICD-10-CM codes or their beginnings as claims "
             "hold them, with the dot and capital letters (M54, M54.1, M54.16), not 'M5416' (write 'M54.16')"),
    "procedure_with_modifier": ('''
        import xlsheets

        @xlsheets.rule("PWM101", procedures=["64483-RT"])
        def right_side(claim, ctx):
            """Writes a modifier into the trigger (it would never match)."""
            return []
        ''', "procedure_with_modifier.py:4: rule PWM101: procedures lists CPT/HCPCS codes of 5 "
             "characters, capital letters and no modifier (64483, 0275T, G0283), not '64483-RT'"),
    "wrong_return": ('''
        import xlsheets

        @xlsheets.hookimpl
        def xlsheets_rules():
            return "NOPE101"
        ''', "xlsheets_rules must return a list of rules, not str."),
}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "good.py").write_text(GOOD)
    for name, (source, _message) in BROKEN.items():
        # a blank first line, as many files start with a comment or docstring: lines count from 1
        (folder / f"{name}.py").write_text("\n" + textwrap.dedent(source).lstrip("\n"))
    return load_plugins([folder], cache=False)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_plugin_is_skipped_with_a_message_naming_file_and_line(host, name):
    failures = {f.name: f.message for f in host.failures}
    assert name in failures, f"{name} should have failed to load"
    assert BROKEN[name][1] in failures[name]
    assert failures[name].endswith("The plugin was skipped.")
    assert name not in host.plugins


def test_good_plugin_still_loads_and_runs_beside_broken_ones(host):
    assert "good" in host.plugins and [r.id for r in host.plugins["good"].rules] == ["GOOD101"]
    v = Validator(Config(plugins=["good"]), host=host)
    rules = {f.rule for f in v.validate_row(["dos", "dx1"], ["2026-03-10", "M54.17"])}
    assert "GOOD101" in rules


def test_plugin_rules_run_only_for_payers_that_enable_them(host):
    from xlsheets.config import PayerPolicy
    cfg = Config(payers=[PayerPolicy("acme", match=["acme*"], plugins=["good"])])
    v = Validator(cfg, host=host)
    fired = lambda payer: {f.rule for f in v.validate_row(["dos", "payer", "dx1"], ["2026-03-10", payer, "M54.17"])}
    assert "GOOD101" in fired("ACME Health")
    assert "GOOD101" not in fired("Medicare")


def test_duplicate_rule_id_names_both_owners(tmp_path):
    for name in ("first", "second"):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent('''
            import xlsheets

            @xlsheets.rule("DUP101")
            def r(claim, ctx):
                """A rule."""
                return []

            @xlsheets.hookimpl
            def xlsheets_rules():
                return [r]
            '''))
    host = load_plugins([tmp_path], cache=False)
    assert [f.name for f in host.failures] == ["second"]
    assert "rule ID DUP101 is already used by first" in host.failures[0].message


def test_plugin_that_raises_while_validating_is_isolated_and_named(tmp_path):
    (tmp_path / "fragile.py").write_text(textwrap.dedent('''
        import xlsheets

        @xlsheets.rule("FRA101", dx=["M54.1"])
        def divide(claim, ctx):
            """Fails on every radiculopathy claim."""
            return [1 / 0]

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [divide]
        '''))
    host = load_plugins([tmp_path], cache=False)
    v = Validator(Config(plugins=["fragile"]), host=host)
    findings = v.validate_row(["dos", "dx1", "dx2"], ["2026-03-10", "M54.17", "M51.17"])
    failure = next(f for f in findings if f.rule == "E102")
    assert "Rule FRA101 of plugin fragile" in failure.message
    assert "fragile.py, line 7: ZeroDivisionError: division by zero" in failure.message
    assert 'add "FRA101" to ignore' in failure.message
    assert "X201" in {f.rule for f in findings}  # the other rules still ran


def test_missing_plugin_folder_is_reported_not_fatal(tmp_path):
    host = load_plugins([tmp_path / "nope"], cache=False)
    assert "plugin folder not found" in host.failures[0].message
    assert host.rules  # built-ins still there


def test_packaged_plugin_is_found_through_the_xlsheets_entry_point_group(tmp_path, monkeypatch):
    """A plugin installed with pip registers under the ``xlsheets`` entry-point group."""
    (tmp_path / "acme_policy.py").write_text(textwrap.dedent('''
        import xlsheets

        @xlsheets.rule("ACME101", severity="warning", procedures=["97014"])
        def no_97014(claim, ctx):
            """Acme does not cover 97014."""
            yield ctx.finding("Acme does not cover 97014", codes=["97014"], suggestion="G0283")

        @xlsheets.hookimpl
        def xlsheets_rules():
            return [no_97014]
        '''))
    dist = tmp_path / "acme_policy-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-policy\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[xlsheets]\nacme = acme_policy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = load_plugins(cache=False)
    assert host.plugins["acme"].kind == "entrypoint"
    v = Validator(Config(plugins=["acme"]), host=host)
    findings = v.validate_row(["dos", "dx1", "cpt1"], ["2026-03-10", "M54.50", "97014"])
    assert [f.suggestion for f in findings if f.rule == "ACME101"] == ["G0283"]


def test_triggers_given_as_generators_are_kept_not_used_up():
    """The check of the triggers must not empty a generator: the rule would then have no trigger
    and run on every claim."""
    from xlsheets.rule import rule

    def check(claim, ctx):
        """A test rule."""
        return []
    made = rule("GEN101", dx=(c for c in ["M54.16"]), procedures=iter(["64483"]),
                reads=(f for f in ["diagnoses", "procedures"]))(check)
    assert made.dx_prefixes == ("M54.16",) and made.procedures == frozenset({"64483"})
    assert made.reads == ("diagnoses", "procedures")


def test_a_grouped_batch_rule_must_say_what_it_reads():
    """Without reads a grouped batch rule was never run (no view to group), without a word."""
    from xlsheets.rule import RuleDefinitionError, rule

    def check(claims, ctx):
        """A test rule."""
        return []
    with pytest.raises(RuleDefinitionError, match="group_by is for a batch rule that lists the claim fields it reads"):
        rule("GRP101", scope="batch", procedures={"99213"}, group_by=("patient_id",))(check)
