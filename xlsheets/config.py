"""Settings from TOML: rule selection, severities, thresholds, payer sections, plugin folders.

Found the way ruff and pytest find theirs, first match wins: ``--config PATH``; the
``XLSHEETS_CONFIG`` environment variable; the nearest ``xlsheets.toml`` (or ``pyproject.toml``
with a ``[tool.xlsheets]`` table) in the workbook's folder or one of its parents; the same in the
current folder and its parents; ``xlsheets.toml`` in the user's config folder. In one folder,
``xlsheets.toml`` wins over ``pyproject.toml``. Every output names the file used (or "built-in
defaults"), so a run never uses a configuration nobody sees.

Example::

    select = ["ALL"]            # rule IDs or prefixes; the more specific entry wins (as in ruff)
    ignore = ["S305"]
    plugin_dirs = ["plugins"]   # relative to this file; only these folders are ever loaded
    plugins = []                # plugins enabled for every payer
    electronic_format = false   # C110: codes written without the decimal point (837)
    date_order = "MDY"          # slash dates 03/10/2026: "MDY" (US, default) or "DMY"

    [columns]                   # a sheet's own headers -> the columns xlsheets reads
    "Pt Dx A" = "dx1"
    "Svc Dt" = "dos"

    [severity]
    X201 = "warning"

    [settings]
    esi_conservative_care_weeks = 4

    [payers.medicare]
    match = ["medicare", "medicare part b", "mcr*"]
    plugins = ["medicare_esi", "pt_progress"]
    [payers.medicare.settings]
    pt_progress_visits = 10
"""
from __future__ import annotations

import difflib
import fnmatch
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .findings import Severity

__all__ = ["Config", "PayerPolicy", "ConfigError", "load_config", "find_config", "DEFAULT_SETTINGS",
           "describe_config", "config_line", "config_from_dict", "check_settings", "check_plugin_settings",
           "check_setting_names"]

# Thresholds and switches of the core rules; plugins add their own defaults through a hook.
DEFAULT_SETTINGS: dict[str, Any] = {
    "esi_conservative_care_weeks": 4,  # Medicare ESI LCDs (L39240 family)
    "esi_symptom_weeks": 4,  # Medicare ESI LCDs: pain for at least 4 weeks (D401)
    "mri_conservative_care_weeks": 6,  # ACR criteria used by commercial reviewers
    "tpi_covered_diagnoses": ["M79.1"],  # D406: covered codes (prefixes); G44.2 per one secondary source
    "chronic_pain_weeks": 12,  # the article's threshold for S305; no official time frame
    "chronic_pain_suggestion": True,  # S305 as info; false turns the suggestion off
    "electronic_format": False,  # C110
    "pair_policy_default": "review",  # S303 when no payer plugin decides
    "plugin_rule_seconds": 10,  # a plugin rule running longer is stopped, then off (command line)
    "plugin_import_seconds": 30,  # a plugin taking longer to import is not loaded (command line)
}

# Settings that take more than their default's type says: (test, what the value must be).
_SETTING_RANGES: dict[str, tuple[Any, str]] = {
    "plugin_rule_seconds": (lambda v: v > 0, "a number of seconds greater than 0, e.g. 10"),
    "plugin_import_seconds": (lambda v: v > 0, "a number of seconds greater than 0, e.g. 30"),
    "pair_policy_default": (lambda v: v in ("allow", "deny", "review"), '"allow", "deny" or "review"'),
}

_TOP_KEYS = {"select", "ignore", "plugin_dirs", "plugins", "electronic_format", "severity",
             "settings", "payers", "columns", "date_order"}
_PAYER_KEYS = {"match", "plugins", "select", "ignore", "severity", "settings"}
_RULE_ID = re.compile(r"^(ALL|[A-Z]{1,4}[0-9]{0,4})$")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


@dataclass
class PayerPolicy:
    name: str
    match: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def matches(self, payer: str) -> bool:
        key = _payer_key(payer)
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.match)


@dataclass
class Config:
    select: list[str] = field(default_factory=lambda: ["ALL"])
    ignore: list[str] = field(default_factory=list)
    plugin_dirs: list[Path] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    payers: list[PayerPolicy] = field(default_factory=list)
    source: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)  # sheet header -> canonical column
    date_order: str = "MDY"  # slash dates: month first (US) or "DMY"
    cli_plugins: list[str] = field(default_factory=list)  # the --plugin names (also in plugins)

    def payer_policy(self, payer: str) -> PayerPolicy | None:
        """The payer section matching a claim's payer cell (case-insensitive), if any."""
        if not payer:
            return None
        for policy in self.payers:
            if policy.matches(payer):
                return policy
        return None

    def with_overrides(self, select=None, ignore=None, plugin_dirs=None, plugins=None,
                       electronic_format=None) -> "Config":
        """Command-line options layered on top of the file."""
        cfg = Config(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        cfg.settings = dict(self.settings)
        if select:
            cfg.select = list(select)
        if ignore:
            cfg.ignore = [*self.ignore, *ignore]
        if plugin_dirs:
            cfg.plugin_dirs = [*self.plugin_dirs, *(Path(p).resolve() for p in plugin_dirs)]
        if plugins:
            cfg.plugins = [*self.plugins, *plugins]
            cfg.cli_plugins = [*self.cli_plugins, *plugins]
        if electronic_format is not None:
            cfg.settings["electronic_format"] = electronic_format
        return cfg


def describe_config(cfg: "Config") -> dict:
    """What every output says about the configuration: the file used (or "built-in defaults")
    and the plugins in force for each payer section (besides the built-in rules)."""
    plugins = {"all payers": list(dict.fromkeys(cfg.plugins))}
    for policy in cfg.payers:
        plugins[policy.name] = list(dict.fromkeys([*cfg.plugins, *policy.plugins]))
    return {"file": str(cfg.source) if cfg.source else "built-in defaults",
            "plugins": plugins, "date_order": cfg.date_order, "columns": dict(cfg.columns)}


def config_line(described: dict) -> str:
    """One line for the top of the text output."""
    parts = []
    for payer, names in described["plugins"].items():
        if names or payer == "all payers":
            parts.append(f"{payer}: {', '.join(names) if names else 'built-in rules only'}")
    return f"Configuration: {described['file']}. Plugins: {'; '.join(parts)}."


def rule_selected(rule_id: str, select: list[str], ignore: list[str]) -> bool:
    """Ruff-style selection: the longest matching prefix decides; on a tie, ignore wins."""
    best_select = max((len(p) if p != "ALL" else 0 for p in select if p == "ALL" or rule_id.startswith(p)), default=-1)
    best_ignore = max((len(p) if p != "ALL" else 0 for p in ignore if p == "ALL" or rule_id.startswith(p)), default=-1)
    return best_select >= 0 and best_select > best_ignore


def _payer_key(text: str) -> str:
    return " ".join(str(text).lower().split())


def find_config(explicit: str | os.PathLike | None = None, cwd: Path | None = None,
                near: str | os.PathLike | None = None) -> Path | None:
    """The configuration file to use, or None for the defaults; ``near`` is the workbook."""
    if explicit:
        return _named_file(Path(explicit), "--config names")
    env = os.environ.get("XLSHEETS_CONFIG")
    if env:
        return _named_file(Path(env), "XLSHEETS_CONFIG names")
    starts = []
    if near is not None:
        starts.append(Path(near).resolve().parent)
    starts.append((cwd or Path.cwd()).resolve())
    for start in starts:
        found = _nearest(start)
        if found is not None:
            return found
    user = _user_config_dir() / "xlsheets.toml"
    return user if user.is_file() else None


def _named_file(path: Path, named: str) -> Path:
    """A configuration file named on the command line or in XLSHEETS_CONFIG, which must be a
    regular file: a folder, a device or a pipe is said to be one."""
    import stat
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ConfigError(f"{named} {path}, which does not exist") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{named} {path}, which is a folder; name the file in it, e.g. "
                          f"{path / 'xlsheets.toml'}")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{named} {path}, which is not a regular file (a device or a pipe); "
                          "name an xlsheets.toml file")
    return path


def _nearest(start: Path) -> Path | None:
    """The nearest xlsheets.toml, or pyproject.toml with [tool.xlsheets], in ``start`` or above."""
    for folder in (start, *start.parents):
        candidate = folder / "xlsheets.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_tool_section(candidate):
            return candidate
    return None


def _user_config_dir() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", Path.home())) / "xlsheets"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "xlsheets"


def _has_tool_section(path: Path) -> bool:
    try:
        return "xlsheets" in tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def load_config(explicit: str | os.PathLike | None = None, cwd: Path | None = None,
                near: str | os.PathLike | None = None) -> Config:
    """Find and read the configuration; defaults when there is none. ``near``: the workbook
    being validated (its folder and parents are searched first)."""
    path = find_config(explicit, cwd, near)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("xlsheets", {})
    return config_from_dict(data, path)


def config_from_dict(data: Mapping[str, Any], source: Path | None = None) -> Config:
    where = str(source) if source else "configuration"
    base = source.parent if source else Path.cwd()
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known keys: {', '.join(sorted(_TOP_KEYS))}")
    cfg = Config(source=source)
    cfg.select = _rule_list(data.get("select", ["ALL"]), where, "select")
    cfg.ignore = _rule_list(data.get("ignore", []), where, "ignore")
    cfg.plugin_dirs = [(base / p).resolve() for p in _str_list(data.get("plugin_dirs", []), where, "plugin_dirs")]
    cfg.plugins = _str_list(data.get("plugins", []), where, "plugins")
    cfg.severity = _severities(data.get("severity", {}), where, "severity")
    cfg.settings.update(check_settings(_table(data.get("settings", {}), where, "settings"), where))
    if "electronic_format" in data:
        value = data["electronic_format"]
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: electronic_format = {_toml(value)}: electronic_format must be "
                              "true or false (without quotes)")
        cfg.settings["electronic_format"] = value
    cfg.columns = _columns(data.get("columns", {}), where)
    if "date_order" in data:
        order = str(data["date_order"]).strip().upper()
        if order not in ("MDY", "DMY"):
            raise ConfigError(f"{where}: date_order must be \"MDY\" (03/10/2026 is March 10, as US "
                              f"claims are written) or \"DMY\" (10/03/2026 is March 10), not {data['date_order']!r}")
        cfg.date_order = order
    for name, section in _table(data.get("payers", {}), where, "payers").items():
        sect_where = f"{where} [payers.{name}]"
        section = _table(section, where, f"payers.{name}")
        unknown = set(section) - _PAYER_KEYS
        if unknown:
            raise ConfigError(f"{sect_where}: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"known keys: {', '.join(sorted(_PAYER_KEYS))}")
        match = [_payer_key(m) for m in _str_list(section.get("match", []), sect_where, "match")]
        cfg.payers.append(PayerPolicy(
            name=name,
            match=match or [_payer_key(name)],
            plugins=_str_list(section.get("plugins", []), sect_where, "plugins"),
            select=_rule_list(section.get("select", []), sect_where, "select"),
            ignore=_rule_list(section.get("ignore", []), sect_where, "ignore"),
            severity=_severities(section.get("severity", {}), sect_where, "severity"),
            settings=check_settings(_table(section.get("settings", {}), sect_where, "settings"),
                                    where, f"payers.{name}.settings"),
        ))
    return cfg


def check_settings(settings: Mapping[str, Any], where: str, section: str = "settings",
                   defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``settings`` checked against the type of each one's default (``defaults``: the core's
    DEFAULT_SETTINGS, or a plugin's ``xlsheets_default_settings``); ConfigError naming
    ``where`` (the file) and the key for a value of the wrong type or out of range.

    A switch takes true or false (``"false"`` in quotes is text, and would count as true); a
    number takes a finite number, not below 0 when its default is not (weeks, visits, seconds);
    text takes text; a list a list. Keys without a default are left for their plugin: only once
    the plugins are loaded is every setting known (``Validator`` calls check_plugin_settings and
    check_setting_names)."""
    defaults = DEFAULT_SETTINGS if defaults is None else defaults
    out = dict(settings)
    for key, value in settings.items():
        if key in defaults:
            _check_setting(key, value, defaults[key], where, section)
    return out


def check_plugin_settings(cfg: "Config", declared: Mapping[str, tuple[Any, str]]) -> None:
    """The configuration's settings (top level and each payer's) checked against the types
    plugins declare: ``declared`` maps a setting to (its default from the plugin's
    ``xlsheets_default_settings``, the plugin's name). ConfigError naming the file, the key
    and the plugin, as for the core's settings."""
    where = str(cfg.source) if cfg.source else "configuration"
    sections = [("settings", cfg.settings)] + [(f"payers.{p.name}.settings", p.settings) for p in cfg.payers]
    for section, settings in sections:
        for key, value in settings.items():
            if key in declared and key not in DEFAULT_SETTINGS:
                default, plugin = declared[key]
                try:
                    _check_setting(key, value, default, where, section)
                except ConfigError as exc:
                    raise ConfigError(f"{exc} (a setting of plugin {plugin})") from None


def check_rule_ids(cfg: "Config", known) -> None:
    """Every rule ID (or prefix) in ``select``, ``ignore`` and ``[severity]``, top level and per
    payer, must name a rule that exists (``known``: the built-in rules and every loaded plugin's):
    ``[severity] X299 = "warning"`` would change nothing, and ``select = ["S30"]`` misspelt as
    ``["S39"]`` would run no rule at all, both without a word. ConfigError naming the file, the
    section and each such entry, with the nearest rule ID."""
    where = str(cfg.source) if cfg.source else "configuration"
    known = sorted(set(known))
    sections = [("", cfg.select, cfg.ignore, cfg.severity)] + [
        (f"[payers.{p.name}] ", p.select, p.ignore, p.severity) for p in cfg.payers]
    unknown = []
    for section, select, ignore, severity in sections:
        for key, entries in (("select", select), ("ignore", ignore), ("severity", list(severity))):
            for entry in entries:
                if entry == "ALL" or any(rule_id.startswith(entry) for rule_id in known):
                    continue
                close = difflib.get_close_matches(entry, known, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]}?" if close else "no rule ID is close to it."
                unknown.append(f"{section}{key}: {entry!r} is not a rule ID, nor the start of one; {hint}")
    if unknown:
        raise ConfigError(f"{where}: " + " ".join(unknown) + " An entry that names no rule changes "
                          "nothing (or, in select, leaves rules out); 'xlsheets rules' lists every rule.")


def check_setting_names(cfg: "Config", known, failed=()) -> None:
    """Every key of ``[settings]`` and of each payer's settings must be a setting someone
    declares (``known``: DEFAULT_SETTINGS and every loaded plugin's ``xlsheets_default_settings``):
    a misspelt ``esi_conservative_care_week = 8`` would otherwise be read by no rule, which would
    keep its default without a word. ConfigError naming the file, the section and each such
    key, with the nearest known setting. ``failed``: plugins that failed to load without stopping
    the run (an installed plugin nobody enables), whose settings cannot be known; the message
    names them. The caller does not check at all while a configured plugin is missing or failed:
    that problem is already said, and its settings cannot be told from misspellings."""
    where = str(cfg.source) if cfg.source else "configuration"
    known = sorted(set(known))
    sections = [("settings", cfg.settings)] + [(f"payers.{p.name}.settings", p.settings) for p in cfg.payers]
    unknown = []
    for section, settings in sections:
        for key, value in settings.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]}?" if close else "no known setting has a name close to it."
                unknown.append(f"[{section}] {key} = {_toml(value)}: no built-in rule or loaded plugin "
                               f"has a setting of that name; {hint}")
    if not unknown:
        return
    note = "".join(f" Plugin {name} was not loaded, so its settings are not known: if the key is "
                   f"one of its, fix the plugin ('xlsheets plugins' shows what is wrong)." for name in failed)
    raise ConfigError(f"{where}: " + " ".join(unknown) + " A setting no rule reads would be ignored; "
                      "check the spelling ('xlsheets plugins' lists each plugin's settings). A plugin's "
                      "own settings must be declared, with their defaults, in its "
                      "xlsheets_default_settings, and the plugin loaded (plugin_dirs, or given to "
                      "xlsheets.configure in Excel)." + note)


def _check_setting(key: str, value: Any, default: Any, where: str, section: str) -> None:
    def bad(must: str) -> ConfigError:
        return ConfigError(f"{where}: [{section}] {key} = {_toml(value)}: {key} must be {must}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            hint = f" (without quotes: {key} = {value.strip().lower()})" if isinstance(value, str) and \
                value.strip().lower() in ("true", "false") else ""
            raise bad(f"true or false{hint}")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"a number, e.g. {key} = {default}" + (" (without quotes)" if isinstance(value, str) else ""))
        if not math.isfinite(value):
            raise bad("a finite number")
        if default >= 0 and value < 0:
            raise bad("a number of 0 or more")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise bad(f'text, e.g. {key} = "{default}"')
    elif isinstance(default, (list, tuple)):
        if not isinstance(value, list):
            raise bad("a list, e.g. [\"a\", \"b\"]")
    elif isinstance(default, dict):
        if not isinstance(value, dict):
            raise bad("a table")
    extra = _SETTING_RANGES.get(key)
    if extra is not None and not extra[0](value):
        raise bad(extra[1])


def _toml(value: Any) -> str:
    """A value as it is written in TOML (for messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value[:60].replace('"', '\\"') + '"'
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    return repr(value)[:60]


def _columns(value, where) -> dict[str, str]:
    """``[columns]``: each sheet header must name a column xlsheets reads."""
    from .claims import CANONICAL_COLUMNS, canonical_column
    out = {}
    for header, name in _table(value, where, "columns").items():
        canonical = canonical_column(name) if isinstance(name, str) else None
        if canonical is None:
            close = difflib.get_close_matches(str(name).lower(), CANONICAL_COLUMNS, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else \
                "; the columns are listed in the README (dx1..dx12, cpt1..cpt12, dos, payer, ...)"
            raise ConfigError(f"{where}: [columns] {header!r} = {name!r}: {name!r} is not a column "
                              f"xlsheets reads{hint}")
        out[header] = canonical
    return out


def _table(value, where, key) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} must be a table, got {type(value).__name__}")
    return dict(value)


def _str_list(value, where, key) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return list(value)


def _rule_list(value, where, key) -> list[str]:
    items = [v.strip().upper() for v in _str_list(value, where, key)]
    bad = [v for v in items if not _RULE_ID.match(v)]
    if bad:
        raise ConfigError(f"{where}: {key} has {', '.join(bad)}, which is not a rule ID or prefix "
                          f"(e.g. S301, S3, D, ALL)")
    return items


def _severities(value, where, key) -> dict[str, Severity]:
    out = {}
    for rule_id, sev in _table(value, where, key).items():
        try:
            out[rule_id.upper()] = Severity.parse(sev)
        except ValueError as exc:
            raise ConfigError(f"{where}: [{key}] {rule_id}: {exc}") from None
    return out
