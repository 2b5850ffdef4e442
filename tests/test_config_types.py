"""Configuration values are typed strictly when the configuration loads (issue 15, item 6):
the run stops with exit 2 naming the file and the key, before any claim is checked, instead of
reading "false" as true or turning one bad number into an E102 on every claim."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xlsheets.config import ConfigError, check_settings, config_from_dict

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def validate(folder: Path, *args, env=None) -> subprocess.CompletedProcess:
    claims = folder / "claims.csv"
    claims.write_text("Claim ID,DOS,Payer,Dx1,CPT1\nC1,2026-03-10,Medicare,M54.17,64483-RT\n")
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", str(claims), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


BAD = [
    ('electronic_format = "false"', "electronic_format", "true or false"),
    ('[settings]\nelectronic_format = "false"', "electronic_format", "true or false"),
    ('[settings]\nplugin_rule_seconds = "ten"', "plugin_rule_seconds", "a number"),
    ("[settings]\nplugin_rule_seconds = nan", "plugin_rule_seconds", "finite"),
    ("[settings]\nplugin_rule_seconds = inf", "plugin_rule_seconds", "finite"),
    ("[settings]\nplugin_rule_seconds = -5", "plugin_rule_seconds", "0 or more"),
    ("[settings]\nplugin_rule_seconds = 0", "plugin_rule_seconds", "greater than 0"),
    ('[settings]\nesi_conservative_care_weeks = "four"', "esi_conservative_care_weeks", "a number"),
    ("[settings]\nchronic_pain_weeks = true", "chronic_pain_weeks", "a number"),
    ('[settings]\npair_policy_default = "maybe"', "pair_policy_default", '"allow", "deny" or "review"'),
    ('[payers.medicare]\n[payers.medicare.settings]\nchronic_pain_suggestion = "no"',
     "payers.medicare.settings] chronic_pain_suggestion", "true or false"),
]


@pytest.mark.parametrize("toml, key, must", BAD)
def test_a_mistyped_setting_stops_the_run_naming_file_and_key(tmp_path, toml, key, must):
    (tmp_path / "xlsheets.toml").write_text(toml + "\n")
    done = validate(tmp_path, "--format", "json")
    assert done.returncode == 2, done.stdout[-300:]
    assert done.stdout == ""  # no claim was checked
    assert str(tmp_path / "xlsheets.toml") in done.stderr and key in done.stderr and must in done.stderr
    assert "E102" not in done.stderr and "Traceback" not in done.stderr


def test_well_typed_settings_load():
    cfg = config_from_dict({"electronic_format": True, "settings": {
        "plugin_rule_seconds": 2.5, "esi_conservative_care_weeks": 6, "pair_policy_default": "deny"}})
    assert cfg.settings["electronic_format"] is True and cfg.settings["plugin_rule_seconds"] == 2.5


def test_check_settings_is_callable_on_a_dict_with_a_source_name():
    """What xlsheets.configure() and other callers use: a dict and where it came from."""
    with pytest.raises(ConfigError, match=r"^main\.py: \[settings\] plugin_rule_seconds = nan"):
        check_settings({"plugin_rule_seconds": math.nan}, "main.py")
    assert check_settings({"unknown_plugin_key": "x"}, "main.py") == {"unknown_plugin_key": "x"}


def test_configure_goes_through_the_same_checks():
    import xlsheets
    from xlsheets import inline
    try:
        xlsheets.configure(settings={"electronic_format": "false"})
        with pytest.raises(ConfigError, match="electronic_format must be true or false"):
            inline.configured()
    finally:
        inline.reset()


def test_a_plugins_settings_are_typed_by_its_default_settings(tmp_path):
    """pt_progress declares pt_progress_visits = 10 through xlsheets_default_settings: "ten" is
    a configuration error naming the plugin, not a failure of its rule on every claim."""
    (tmp_path / "xlsheets.toml").write_text(textwrap.dedent(f"""
        plugin_dirs = ["{PLUGINS}"]
        plugins = ["pt_progress"]
        [payers.medicare.settings]
        pt_progress_visits = "ten"
        """))
    done = validate(tmp_path, "--format", "json")
    assert done.returncode == 2 and done.stdout == ""
    assert "pt_progress_visits" in done.stderr and "a number" in done.stderr
    assert "plugin pt_progress" in done.stderr and "payers.medicare.settings" in done.stderr


def test_a_plugin_setting_of_the_right_type_runs(tmp_path):
    (tmp_path / "xlsheets.toml").write_text(textwrap.dedent(f"""
        plugin_dirs = ["{PLUGINS}"]
        plugins = ["pt_progress"]
        [settings]
        pt_progress_visits = 12
        """))
    done = validate(tmp_path, "--format", "json")
    assert done.returncode in (0, 1), done.stderr


@pytest.mark.parametrize("how", ["env", "option"])
def test_a_config_path_that_is_a_folder_says_it_is_a_folder(tmp_path, how):
    folder = tmp_path / "conf"
    folder.mkdir()
    if how == "env":
        done = validate(tmp_path, env={"XLSHEETS_CONFIG": str(folder)})
    else:
        done = validate(tmp_path, "--config", folder)
    assert done.returncode == 2 and "is a folder" in done.stderr and str(folder) in done.stderr
