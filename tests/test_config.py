"""Configuration: rule selection like ruff, severities, thresholds, payer sections, plugin folders."""
import textwrap

import pytest

import xlsheets
from xlsheets.config import ConfigError, load_config, rule_selected
from xlsheets.engine import Validator

RADICULOPATHY_WITH_DISC = {"claim_id": "C1", "dos": "2026-03-10", "payer": "Aetna", "dx1": "M54.17",
                           "dx2": "M51.17", "disc_disorder_confirmed": "Y"}


def write(tmp_path, text, name="xlsheets.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("rule_id, select, ignore, expected", [
    ("S301", ["ALL"], [], True),
    ("S301", ["ALL"], ["S"], False),
    ("S301", ["ALL"], ["S3"], False),
    ("S301", ["S301"], ["S"], True),  # the more specific entry wins
    ("S302", ["S301"], ["S"], False),
    ("S301", ["S"], ["S301"], False),
    ("C101", ["S", "D"], [], False),
])
def test_selection_the_more_specific_prefix_wins(rule_id, select, ignore, expected):
    assert rule_selected(rule_id, select, ignore) is expected


def rules_fired(config, row):
    return {f.rule for f in xlsheets.validate(row, config=config)}


def test_ignore_and_severity_override_from_file(tmp_path):
    cfg = load_config(write(tmp_path, """
        ignore = ["S3"]
        [severity]
        X201 = "warning"
    """))
    findings = xlsheets.validate(RADICULOPATHY_WITH_DISC, config=cfg)
    assert "S301" not in {f.rule for f in findings}
    assert [str(f.severity) for f in findings if f.rule == "X201"] == ["warning"]


def test_payer_section_matches_case_insensitively_with_aliases(tmp_path):
    cfg = load_config(write(tmp_path, """
        [payers.medicare]
        match = ["medicare", "medicare part b", "mcr*"]
        ignore = ["X201"]
    """))
    for payer in ("MEDICARE", "Medicare  Part B", "MCR-Novitas"):
        assert "X201" not in rules_fired(cfg, {**RADICULOPATHY_WITH_DISC, "payer": payer}), payer
    assert "X201" in rules_fired(cfg, {**RADICULOPATHY_WITH_DISC, "payer": "Aetna"})


def test_thresholds_are_settings_and_payers_override_them(tmp_path):
    cfg = load_config(write(tmp_path, """
        [settings]
        esi_conservative_care_weeks = 6
        [payers.aetna.settings]
        esi_conservative_care_weeks = 3
    """))
    row = {"dos": "2026-03-10", "dx1": "M51.17", "cpt1": "64483-RT", "conservative_care_weeks": 4,
           "nerve_root_level": "L5-S1"}
    assert "D401" in rules_fired(cfg, {**row, "payer": "BCBS"})
    assert "D401" not in rules_fired(cfg, {**row, "payer": "Aetna"})
    assert "D401" not in rules_fired(None, {**row, "payer": "BCBS"})  # default 4 weeks


def test_pyproject_tool_section_is_found(tmp_path):
    write(tmp_path, """
        [project]
        name = "claims"
        [tool.xlsheets]
        ignore = ["X202"]
    """, name="pyproject.toml")
    assert load_config(cwd=tmp_path).ignore == ["X202"]


def test_no_configuration_means_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing"))
    cfg = load_config(cwd=tmp_path)
    assert cfg.select == ["ALL"] and cfg.plugin_dirs == [] and cfg.source is None


@pytest.mark.parametrize("text, message", [
    ("selct = ['S']", "unknown key(s) selct"),
    ("select = ['S30X1']", "S30X1, which is not a rule ID or prefix"),
    ("[severity]\nX201 = 'fatal'", "unknown severity 'fatal'"),
    ("[payers.medicare]\nplugin = ['x']", "[payers.medicare]: unknown key(s) plugin"),
    ("select = [", "not valid TOML"),
])
def test_configuration_mistakes_name_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_plugin_folder_is_loaded_only_when_configuration_names_it(tmp_path, monkeypatch):
    """A workbook received by mail must not run code that sits next to it."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    marker = tmp_path / "ran.txt"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    Validator(load_config()).validate_row(["dos", "dx1"], ["2026-03-10", "M54.17"])
    assert not marker.exists()
    cfg = load_config(write(tmp_path, 'plugin_dirs = ["plugins"]'))
    Validator(cfg)
    assert marker.exists()


@pytest.mark.parametrize("text, message", [
    ("[severity]\nX299 = 'warning'", "severity: 'X299' is not a rule ID, nor the start of one; did you mean X20"),
    ("select = ['S39']", "select: 'S39' is not a rule ID, nor the start of one"),
    ("[payers.medicare]\nignore = ['D499']", "[payers.medicare] ignore: 'D499' is not a rule ID"),
])
def test_a_rule_id_no_rule_has_is_refused_before_any_claim(tmp_path, text, message):
    """A severity for a rule that does not exist changed nothing, and a misspelt select ran no
    rule at all, without a word: the configuration is refused, naming the file and the entry."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        Validator(load_config(path))
    assert message in str(err.value) and str(path) in str(err.value)


def test_rule_id_prefixes_and_the_input_checks_are_known(tmp_path):
    path = write(tmp_path, "select = ['C1', 'X', 'E101', 'N5']\nignore = ['S303']\n[severity]\nE102 = 'warning'\nN501 = 'warning'")
    Validator(load_config(path))  # no ConfigError
