"""The example plugins in plugins/: every case of their cases files passes through the shipped
runner, each loads cleanly as a drop-in file, owns its own prefix and documents itself."""
from __future__ import annotations

from pathlib import Path

import pytest

import xlsheets
from xlsheets.plugins import load_plugins
from xlsheets.testing import cases, cases_file_for

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
EXAMPLES = ["m54_coreporting", "pt_progress", "medicare_esi", "trigger_point", "commercial_mri"]
PREFIXES = {"m54_coreporting": "MCR", "pt_progress": "PT", "medicare_esi": "MED",
            "trigger_point": "TPI", "commercial_mri": "MRI"}


@pytest.mark.parametrize("case", [p for name in EXAMPLES
                                  for p in cases(cases_file_for(PLUGINS / f"{name}.py"),
                                                 plugin=PLUGINS / f"{name}.py")])
def test_example_case(case):
    case.check()


@pytest.fixture(scope="module")
def host():
    return load_plugins([PLUGINS], entry_points=False, cache=False)


def test_all_examples_load_as_a_folder(host):
    assert host.failures == []
    assert set(EXAMPLES) <= set(host.plugins)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_owns_its_prefix_and_documents_itself(host, name):
    plugin = host.plugins[name]
    assert plugin.rules, f"{name} has no rules"
    assert {r.id.rstrip('0123456789') for r in plugin.rules} == {PREFIXES[name]}
    for section in ("Payers", "Rules", "References"):
        assert section in plugin.doc, f"{name}'s docstring lacks {section}"
    for r in plugin.rules:
        assert r.reference, f"{r.id} has no reference"
        assert r.section("Why") and r.section("Fix"), f"{r.id} lacks Why/Fix"
        # cheap: every rule declares a trigger, so the engine skips claims it cannot fire on
        assert not r.always, f"{r.id} runs on every claim; declare dx= or procedures="
        assert r.id in (PLUGINS / f"{name}.cases.toml").read_text(), f"{r.id} has no case"


def test_plugins_do_nothing_unless_enabled():
    """Loaded from the folder but enabled for no payer: the core's answers are unchanged."""
    cfg = xlsheets.Config(plugin_dirs=[PLUGINS])
    row = {"claim_id": "A1", "dos": "2026-03-10", "payer": "Medicare", "dx1": "M54.16", "dx2": "M54.17",
           "cpt1": "62322", "cpt2": "97014"}
    rules = {f.rule for f in xlsheets.validate(row, cfg)}
    assert "S303" in rules
    assert not rules & {"MED101", "PT103", "MCR101"}
    enabled = xlsheets.validate(row, cfg.with_overrides(plugins=["medicare_esi", "pt_progress",
                                                                 "m54_coreporting"]))
    assert {"MED101", "PT103"} <= {f.rule for f in enabled}
