"""A setting nobody declares is a configuration error, not a silent pass.

``esi_conservative_care_week = 8`` (the s missing) used to be read by no rule: D401 kept its
default of 4 weeks and no output said so. Once the plugins are loaded every setting is known (the
core's DEFAULT_SETTINGS and each loaded plugin's ``xlsheets_default_settings``), so any other key
in ``[settings]`` or ``[payers.NAME.settings]`` stops the run (exit 2) naming the file, the
section, the key and the nearest known setting. While a configured plugin is missing or failed
to load its settings cannot be known: then only that plugin problem is reported.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"


def validate(folder: Path, toml: str, *args) -> subprocess.CompletedProcess:
    (folder / "xlsheets.toml").write_text(textwrap.dedent(toml))
    claims = folder / "claims.csv"
    claims.write_text("Claim ID,DOS,Payer,Dx1,CPT1\nC1,2026-03-10,Medicare,M54.17,64483-RT\n")
    env = {**os.environ, "XLSHEETS_NO_ENTRY_POINTS": "1"}
    env.pop("XLSHEETS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", str(claims), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=folder)


def test_a_misspelt_setting_stops_the_run_with_the_nearest_name(tmp_path):
    done = validate(tmp_path, """
        [settings]
        esi_conservative_care_week = 8
        """, "--format", "json")
    assert done.returncode == 2 and done.stdout == ""  # nothing was checked with the default
    assert str(tmp_path / "xlsheets.toml") in done.stderr
    assert "[settings] esi_conservative_care_week = 8" in done.stderr
    assert "did you mean esi_conservative_care_weeks?" in done.stderr
    assert "xlsheets_default_settings" in done.stderr  # where a plugin declares its own
    assert "configuration error" in done.stderr and "Traceback" not in done.stderr


def test_a_misspelt_payer_setting_of_a_plugin_is_named_with_its_section(tmp_path):
    done = validate(tmp_path, f"""
        plugin_dirs = ["{PLUGINS}"]
        [payers.medicare]
        plugins = ["pt_progress"]
        [payers.medicare.settings]
        pt_progres_visits = 12
        """)
    assert done.returncode == 2 and done.stdout == ""
    assert "[payers.medicare.settings] pt_progres_visits = 12" in done.stderr
    assert "did you mean pt_progress_visits?" in done.stderr


def test_every_unknown_key_is_named_at_once(tmp_path):
    done = validate(tmp_path, """
        [settings]
        chronic_pain_week = 10
        [payers.medicare.settings]
        mri_conservative_care_wks = 3
        """)
    assert done.returncode == 2
    assert "chronic_pain_week = 10" in done.stderr and "did you mean chronic_pain_weeks?" in done.stderr
    assert "mri_conservative_care_wks = 3" in done.stderr
    assert "did you mean mri_conservative_care_weeks?" in done.stderr


def test_a_key_close_to_nothing_says_so(tmp_path):
    done = validate(tmp_path, """
        [settings]
        zzqx = 1
        """)
    assert done.returncode == 2 and "[settings] zzqx = 1" in done.stderr
    assert "did you mean" not in done.stderr and "no known setting has a name close to it" in done.stderr


def test_a_plugins_declared_settings_are_accepted(tmp_path):
    done = validate(tmp_path, f"""
        plugin_dirs = ["{PLUGINS}"]
        [settings]
        esi_conservative_care_weeks = 8
        [payers.medicare]
        plugins = ["pt_progress", "medicare_esi"]
        [payers.medicare.settings]
        pt_progress_visits = 12
        esi_min_pain_weeks = 6
        tpi_sessions_per_year = 2
        ncci_files = "practitioner"
        """, "--format", "json")
    assert done.returncode in (0, 1), done.stderr  # checked: the settings of trigger_point count
    assert json.loads(done.stdout)["summary"]["claims"] == 1  # although it is not enabled here


def test_a_plugins_setting_without_its_plugin_loaded_is_refused(tmp_path):
    """pt_progress_visits is pt_progress's; with no plugin folder no rule would ever read it."""
    done = validate(tmp_path, """
        [settings]
        pt_progress_visits = 12
        """)
    assert done.returncode == 2 and "[settings] pt_progress_visits = 12" in done.stderr
    assert "and the plugin loaded (plugin_dirs" in done.stderr


def test_the_settings_of_a_missing_plugin_leave_only_the_plugin_problem(tmp_path):
    toml = """
        [payers.medicare]
        plugins = ["acme"]
        [payers.medicare.settings]
        acme_care_weeks = 4
        """
    done = validate(tmp_path, toml)
    assert done.returncode == 2
    assert "plugin 'acme' is enabled for payer medicare, but no plugin of that name is loaded" in done.stderr
    assert "acme_care_weeks" not in done.stderr and "configuration error" not in done.stderr

    done = validate(tmp_path, toml, "--skip-broken-plugins", "--format", "json")
    assert done.returncode in (1, 3), done.stderr  # checked without acme, and said
    summary = json.loads(done.stdout)["summary"]
    assert summary["plugins_skipped"] == ["acme"]
    assert "acme_care_weeks" not in done.stderr


def test_the_settings_of_a_plugin_that_failed_to_load_leave_only_its_failure(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "acme.py").write_text("import xlsheets\n\ndef oops(:\n    pass\n")
    done = validate(tmp_path, """
        plugin_dirs = ["plugins"]
        plugins = ["acme"]
        [settings]
        acme_care_weeks = 4
        """)
    assert done.returncode == 2 and "plugin acme" in done.stderr and "line 3: syntax error" in done.stderr
    assert "acme_care_weeks" not in done.stderr and "configuration error" not in done.stderr


def test_a_new_plugin_from_the_template_declares_what_it_reads(tmp_path):
    """`xlsheets plugins new` writes a plugin whose setting can be set in xlsheets.toml."""
    env = {**os.environ, "XLSHEETS_NO_ENTRY_POINTS": "1"}
    made = subprocess.run([sys.executable, "-m", "xlsheets.cli", "plugins", "new", "acme", "--dir",
                           str(tmp_path / "plugins")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    done = validate(tmp_path, """
        plugin_dirs = ["plugins"]
        plugins = ["acme"]
        [settings]
        acme_care_weeks = 4
        """)
    assert done.returncode in (0, 1), done.stderr


# Every setting the engine, the built-in rules, the example plugins and the plugin template read
# by name, e.g. ctx.settings.get("pt_recert_days", 90) or settings["acme_care_weeks"].
_READ = re.compile(r"""settings(?:_for\([^)]*\))?(?:\.get\(|\[)\s*["']([\w${}]+)["']""")


@pytest.mark.parametrize("name", sorted(p.stem for p in PLUGINS.glob("*.py")) + ["from the template"])
def test_every_setting_a_plugin_reads_is_declared(name, tmp_path):
    """Read by name in the plugin's code -> declared by its xlsheets_default_settings (or a
    core setting): else setting it in xlsheets.toml would be refused as unknown."""
    from xlsheets.config import DEFAULT_SETTINGS
    from xlsheets.plugin_kit import new_plugin
    from xlsheets.plugins import PluginHost
    path = PLUGINS / f"{name}.py" if name != "from the template" else new_plugin("acme", tmp_path)[0]
    host = PluginHost()
    host.load_file(path)
    assert not host.failures, host.failures
    text = path.read_text(encoding="utf-8")
    read = set(_READ.findall(text.replace("SETTING)", f"{_constant(text)!r})")))
    assert read, "no setting found: the pattern no longer matches how plugins read settings"
    assert read <= set(host.plugins[path.stem].settings) | set(DEFAULT_SETTINGS)


def test_every_setting_xlsheets_reads_is_declared():
    from xlsheets.config import DEFAULT_SETTINGS
    from xlsheets.plugins import load_plugins
    host = load_plugins(entry_points=False, cache=False)
    known = set(DEFAULT_SETTINGS) | set(host.default_settings)
    read = set()
    for path in (ROOT / "xlsheets").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("SETTING)", f"{_constant(text)!r})")
        read |= set(_READ.findall(text))
    read |= {r.setting for r in host.rules if r.setting}  # @rule(setting=...): on/off switches
    assert read and read <= known, sorted(read - known)


def _constant(text: str) -> str | None:
    found = re.search(r"""^SETTING = ["'](\w+)["']""", text, re.M)
    return found.group(1) if found else None


def test_a_cases_file_with_a_misspelt_setting_fails_naming_it(tmp_path):
    """`xlsheets plugins test`: a [config] key no rule reads is an error of the cases file, not
    cases that pass with the default."""
    cases = tmp_path / "pt_progress.cases.toml"
    cases.write_text(textwrap.dedent("""
        [config]
        settings = { pt_progress_visit = 4 }
        [[case]]
        name = "visit 5"
        row = { cpt1 = "97110", visit_number = 5 }
        expect = []
        """))
    (tmp_path / "pt_progress.py").write_text((PLUGINS / "pt_progress.py").read_text(encoding="utf-8"))
    env = {**os.environ, "XLSHEETS_NO_ENTRY_POINTS": "1"}
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "plugins", "test", str(tmp_path / "pt_progress.py")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in out
    assert "pt_progress_visit = 4" in out and "did you mean pt_progress_visits?" in out


def test_configure_in_process_gives_the_same_message(monkeypatch, tmp_path):
    """xlsheets.configure(settings=...) then a worksheet function (classic xlwings calls the
    function directly) and xlsheets.validate: the configuration error, never a crash."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XLSHEETS_NO_ENTRY_POINTS", "1")
    import xlsheets
    from xlsheets import inline, udfs
    from xlsheets.config import ConfigError
    try:
        xlsheets.configure(settings={"settings": {"esi_conservative_care_week": 8}})
        cell = udfs.claim_status([["dx1", "cpt1"]], [["M54.17", "64483"]])
        assert cell.startswith("xlsheets: configuration error: xlsheets.configure(settings=...): "
                               "[settings] esi_conservative_care_week = 8"), cell
        assert "did you mean esi_conservative_care_weeks?" in cell
        with pytest.raises(ConfigError, match="did you mean esi_conservative_care_weeks"):
            xlsheets.validate({"dx1": "M54.17", "cpt1": "64483"})
    finally:
        inline.reset()


def test_an_installed_plugin_that_failed_is_named_beside_the_unknown_key(tmp_path):
    """An installed (entry-point) plugin nobody enables that fails to import does not stop the
    run, so an unknown key is still refused; the message names the plugin whose settings
    could not be known."""
    site = tmp_path / "site"
    dist = site / "acme_policy-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-policy\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[xlsheets]\nacme = acme_policy_not_there\n")
    (tmp_path / "xlsheets.toml").write_text("[settings]\nacme_care_weeks = 4\n")
    (tmp_path / "claims.csv").write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10,M54.17,64483\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("XLSHEETS_NO_ENTRY_POINTS", None)
    env.pop("XLSHEETS_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", "claims.csv"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "[settings] acme_care_weeks = 4" in done.stderr
    assert "Plugin acme was not loaded, so its settings are not known" in done.stderr
