"""Run a cases file: claim rows with the rule IDs they must (and must not) raise.

A cases file is how a rule, built-in or from a plugin, proves what it does. It is plain TOML, so
a practice administrator can write one next to their plugin::

    [config]                      # optional: same keys as xlsheets.toml
    plugins = ["medicare_esi"]
    [defaults]                    # columns every row gets unless it sets them
    dos = "2026-03-10"
    payer = "Medicare"

    [[case]]
    name = "fifth ESI in 12 months"
    rows = [ {claim_id = "A1", patient_id = "P1", cpt1 = "64483-RT"}, ... ]   # or row = {...}
    expect = ["MED105"]           # rule IDs that must appear (in any claim of the case)
    expect_not = ["S303"]         # rule IDs that must not appear
    expect_on = { A5 = ["MED105"] }       # per claim ID
    expect_not_on = { A4 = ["MED105"] }
    severity = { MED105 = "error" }       # severity every finding of that rule must have
    absent = ["symptom_weeks"]    # columns this case's sheet lacks, even if [defaults] has them

Each case is validated as its own workbook (its rows together, so batch rules see them all).
Headers are the row keys, canonical names or aliases, in order of first appearance; a default
column is added where the rows do not name the same column themselves.

From pytest, in a few lines::

    from xlsheets.testing import assert_cases
    def test_my_plugin():
        assert_cases("plugins/acme.cases.toml", plugin="plugins/acme.py")

or one test per case with ``@pytest.mark.parametrize("case", cases(PATH, plugin=...))`` and
``case.check()`` in the test body.

Every mistake in the file is reported with the file and the case name, never silently passed:
an unknown key or column, a case without expectations, a rule ID that no loaded rule has (a
typo would make ``expect_not`` pass for nothing), a plugin that does not load, a rule that
crashes (E102) while the case does not expect it, and a rule that declares ``reads`` but reads
another field of the claim (its findings would be reused for claims that differ in that field):
the cases run in checking mode, which records what each such rule reads (xlsheets.readcheck).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .claims import HeaderMap
from .config import Config, ConfigError, config_from_dict
from .engine import RULE_FAILED, ClaimResult, Validator
from .findings import Finding, Severity
from .plugins import PluginHost
from .rule import RULE_ID

__all__ = ["CasesReport", "CaseResult", "CasesFileError", "run_cases_file", "assert_cases",
           "cases", "cases_file_for"]

_TOP_KEYS = {"config", "defaults", "case"}
_CASE_KEYS = {"name", "row", "rows", "expect", "expect_not", "expect_on", "expect_not_on",
              "severity", "absent", "note"}
_EXPECTATIONS = ("expect", "expect_not", "expect_on", "expect_not_on", "severity")
# Findings the engine itself makes, not a rule: always allowed in expectations.
_ENGINE_IDS = {"E101", RULE_FAILED}


class CasesFileError(ValueError):
    """A cases file that cannot be run as written; the message names the file (and case)."""


@dataclass
class CaseResult:
    """One case: did it pass, what was wrong, and what the rules found."""

    name: str
    problems: list[str] = field(default_factory=list)
    findings: list[tuple[str, Finding]] = field(default_factory=list)  # (claim ID, finding)

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class CasesReport:
    """The outcome of a cases file: ``failures`` reads as a list of plain sentences."""

    path: Path
    plugin: Path | None = None
    results: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # problems of the whole file

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.passed for r in self.results) and bool(self.results)

    @property
    def failures(self) -> list[str]:
        out = list(self.errors)
        for r in self.results:
            out.extend(f"{self.path}: case {r.name!r}: {p}" for p in r.problems)
        return out

    def summary(self) -> str:
        if self.errors:
            return f"{self.path}: could not run ({len(self.errors)} problem(s))"
        return f"{self.path}: {self.passed} of {self.total} cases passed"


# --- loading ----------------------------------------------------------------------------
def cases_file_for(plugin: str | Path) -> Path:
    """``plugins/acme.py`` -> ``plugins/acme.cases.toml``."""
    plugin = Path(plugin)
    return plugin.with_name(plugin.stem + ".cases.toml")


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CasesFileError(f"{path}: cases file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CasesFileError(f"{path}: cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CasesFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        config_like = sorted(unknown & {"select", "ignore", "plugins", "plugin_dirs", "payers",
                                        "settings", "severity", "electronic_format"})
        hint = (f"; configuration goes under [config], e.g. [config.{config_like[0]}]"
                if config_like else "")
        raise CasesFileError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
                             f"a cases file has [config], [defaults] and [[case]] sections{hint}")
    if not isinstance(data.get("case", []), list) or not data.get("case"):
        raise CasesFileError(f"{path}: no cases: add [[case]] sections with rows and expectations")
    for key in ("config", "defaults"):
        if not isinstance(data.get(key, {}), dict):
            raise CasesFileError(f"{path}: {key} must be a section ([{key}])")
    return data


def _config(data: dict, path: Path, plugin: Path | None) -> Config:
    section = data.get("config", {})
    try:
        cfg = config_from_dict(section, path)
    except ConfigError as exc:
        raise CasesFileError(f"{path} [config]: {exc}") from None
    if plugin is not None:
        names_plugins = "plugins" in section or any(
            isinstance(p, dict) and "plugins" in p for p in section.get("payers", {}).values())
        if not names_plugins:  # the plugin under test is enabled for every payer
            cfg.plugins = [*cfg.plugins, plugin.stem]
    return cfg


def _host(cfg: Config, plugin: Path | None, path: Path) -> PluginHost:
    """A fresh host: built-in rules, the [config] plugin folders, and the plugin under test.

    Entry-point plugins are left out so that a case gives the same result on every machine.
    """
    host = PluginHost()
    for folder in cfg.plugin_dirs:
        host.load_folder(folder)
    if plugin is not None:
        loaded = {Path(p.source).resolve() for p in host.plugins.values()}
        if plugin.resolve() not in loaded:
            host.load_file(plugin)
    host.load_builtins()
    host.finish()
    if plugin is not None:
        failed = [f for f in host.failures if Path(f.source).resolve() == plugin.resolve()
                  or f.name == plugin.stem]
        if failed:
            raise CasesFileError(f"plugin {plugin.name} was not loaded: {failed[0].message}")
        if not plugin.is_file():
            raise CasesFileError(f"plugin file {plugin} not found")
    return host


# --- running ----------------------------------------------------------------------------
def run_cases_file(path: str | Path, plugin: str | Path | None = None) -> CasesReport:
    """Run every case of a cases file; problems are collected, never raised.

    ``plugin`` is the plugin file under test: it is loaded from its own path and enabled for all
    payers, unless the file's [config] names plugins itself (``plugins`` or a payer's ``plugins``).
    """
    path = Path(path)
    plugin_path = Path(plugin) if plugin is not None else None
    report = CasesReport(path, plugin_path)
    try:
        data = _read(path)
        cfg = _config(data, path, plugin_path)
        host = _host(cfg, plugin_path, path)
    except CasesFileError as exc:
        report.errors.append(str(exc))
        return report
    # Checking mode: a rule with ``reads`` that reads anything else of the claim is a failure of
    # the case where it first did (xlsheets.readcheck).
    try:
        validator = Validator(cfg, host=host, check_reads=True)
    except ConfigError as exc:  # a setting of the wrong type, or one nobody declares
        report.errors.append(f"{path} [config]: {exc}")
        return report
    known = {r.id for r in host.rules} | _ENGINE_IDS
    defaults = data.get("defaults", {})
    for index, case in enumerate(data["case"], 1):
        before = len(validator.reads_violations)
        result = _run_case(validator, known, defaults, case, index)
        result.problems.extend(v.message() for v in validator.reads_violations[before:])
        report.results.append(result)
    return report


def _run_case(validator: Validator, known: set[str], defaults: dict, case: Any, index: int) -> CaseResult:
    if not isinstance(case, dict):
        return CaseResult(f"#{index}", [f"case #{index} must be a table of keys"])
    name = str(case.get("name") or f"#{index}")
    result = CaseResult(name)
    try:
        rows = _case_rows(case)
        expect = _ids(case, "expect", known)
        expect_not = _ids(case, "expect_not", known)
        expect_on = _per_claim(case, "expect_on", known)
        expect_not_on = _per_claim(case, "expect_not_on", known)
        severity = _severities(case, known)
        header, values = _sheet(rows, _without(defaults, case.get("absent", []), rows))
    except CasesFileError as exc:
        result.problems.append(str(exc))
        return result
    claim_results = validator.validate_rows(header, values)
    found = [(r.claim_id, f) for r in claim_results for f in r.findings]
    result.findings = found
    fired = {f.rule for _, f in found}
    problems = result.problems

    everything = _describe(found) if found else "no findings"

    for rule_id in expect:
        if rule_id not in fired:
            problems.append(f"expected {rule_id}, but it did not fire; found: {everything}")
    for rule_id in expect_not:
        if rule_id in fired:
            problems.append(f"expected no {rule_id}, but found: "
                            f"{_describe([x for x in found if x[1].rule == rule_id])}")
    by_claim = _by_claim(claim_results)
    for claim_id, ids in expect_on.items():
        if claim_id not in by_claim:
            problems.append(f"expect_on names claim {claim_id!r}, which is not in the case's rows "
                            f"(claims: {', '.join(by_claim) or 'none'})")
            continue
        on = {f.rule for f in by_claim[claim_id]}
        for rule_id in ids:
            if rule_id not in on:
                mine = [(claim_id, f) for f in by_claim[claim_id]]
                problems.append(f"expected {rule_id} on claim {claim_id}, but it did not fire there; "
                                f"claim {claim_id} has: {_describe(mine) if mine else 'no findings'}")
    for claim_id, ids in expect_not_on.items():
        if claim_id not in by_claim:
            problems.append(f"expect_not_on names claim {claim_id!r}, which is not in the case's rows "
                            f"(claims: {', '.join(by_claim) or 'none'})")
            continue
        for rule_id in ids:
            hits = [(claim_id, f) for f in by_claim[claim_id] if f.rule == rule_id]
            if hits:
                problems.append(f"expected no {rule_id} on claim {claim_id}, but found: {_describe(hits)}")
    for rule_id, sev in severity.items():
        hits = [(c, f) for c, f in found if f.rule == rule_id]
        if not hits:
            problems.append(f"expected {rule_id} as {sev}, but it did not fire; found: {everything}")
        for c, f in hits:
            if f.severity != sev:
                problems.append(f"expected {rule_id} as {sev}, but it is {f.severity}: {_describe([(c, f)])}")
    expected_anywhere = expect | set(severity) | {i for ids in expect_on.values() for i in ids}
    if RULE_FAILED not in expected_anywhere:
        for c, f in found:
            if f.rule == RULE_FAILED:
                problems.append(f"a rule crashed on claim {c or '?'}: {f.message}")
    return result


def _describe(found: list[tuple[str, Finding]]) -> str:
    return "; ".join(f"[{c}] {f.short()}" if c else f.short() for c, f in found)


def _by_claim(results: list[ClaimResult]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for r in results:
        out.setdefault(r.claim_id, []).extend(r.findings)
    return out


# --- reading one case -------------------------------------------------------------------
def _case_rows(case: dict) -> list[dict]:
    unknown = set(case) - _CASE_KEYS
    if unknown:
        raise CasesFileError(f"unknown key(s) {', '.join(sorted(unknown))}; "
                             f"a case may have {', '.join(sorted(_CASE_KEYS))}")
    if not any(k in case for k in _EXPECTATIONS):
        raise CasesFileError("no expectations: add expect, expect_not, expect_on, expect_not_on "
                             "or severity")
    if ("row" in case) == ("rows" in case):
        raise CasesFileError("give either row = {...} (one claim) or rows = [{...}, ...] (a workbook)")
    rows = [case["row"]] if "row" in case else case["rows"]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise CasesFileError("rows must be a list of tables like {claim_id = \"A1\", dx1 = \"M54.17\"}")
    return rows


def _canonical(key: str) -> str:
    header = HeaderMap.from_row([key])
    if not header.columns:
        raise CasesFileError(f"column {key!r} is not a column xlsheets reads (see the column list "
                             "in the guide); check the spelling")
    return header.columns[0][1]


def _sheet(rows: list[dict], defaults: dict) -> tuple[list[str], list[list[Any]]]:
    """Header and value rows of one case: the rows' keys first, then the defaults they lack."""
    headers: list[str] = []
    canon: dict[str, str] = {}  # canonical -> header that names it
    for row in rows:
        for key in row:
            c = _canonical(key)
            if c in canon and canon[c] != key:
                raise CasesFileError(f"columns {canon[c]!r} and {key!r} are the same column; use one name")
            if c not in canon:
                canon[c] = key
                headers.append(key)
    default_for: dict[str, Any] = {}
    for key, value in defaults.items():
        c = _canonical(key)
        if c not in canon:
            canon[c] = key
            headers.append(key)
            default_for[key] = value
        elif canon[c] == key:
            default_for[key] = value
    values = []
    for row in rows:
        values.append([_cell(row[h]) if h in row else _cell(default_for.get(h)) for h in headers])
    return headers, values


def _without(defaults: dict, absent: Any, rows: list[dict]) -> dict:
    """The defaults minus the columns a case says its sheet does not have."""
    if isinstance(absent, str):
        absent = [absent]
    if not isinstance(absent, list) or not all(isinstance(a, str) for a in absent):
        raise CasesFileError("absent must be a list of column names, like [\"symptom_weeks\"]")
    gone = {_canonical(a) for a in absent}
    for row in rows:
        clash = [k for k in row if _canonical(k) in gone]
        if clash:
            raise CasesFileError(f"column {clash[0]!r} is listed in absent but a row sets it")
    return {k: v for k, v in defaults.items() if _canonical(k) not in gone}


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _ids(case: dict, key: str, known: set[str]) -> set[str]:
    value = case.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CasesFileError(f"{key} must be a list of rule IDs, like [\"S301\"]")
    out = set()
    for v in value:
        rule_id = v.strip().upper()
        if not (RULE_ID.match(rule_id) or rule_id in _ENGINE_IDS):
            raise CasesFileError(f"{key}: {v!r} is not a rule ID (like S301 or ACME101)")
        if rule_id not in known:
            raise CasesFileError(f"{key}: no loaded rule has the ID {rule_id}; check the spelling, "
                                 "and that the plugin defining it is the one under test")
        out.add(rule_id)
    return out


def _per_claim(case: dict, key: str, known: set[str]) -> dict[str, set[str]]:
    value = case.get(key, {})
    if not isinstance(value, dict):
        raise CasesFileError(f"{key} must be a table of claim ID to rule IDs, like {{ A1 = [\"S301\"] }}")
    return {str(claim_id): _ids({key: ids}, key, known) for claim_id, ids in value.items()}


def _severities(case: dict, known: set[str]) -> dict[str, Severity]:
    value = case.get("severity", {})
    if not isinstance(value, dict):
        raise CasesFileError("severity must be a table like { S301 = \"error\" }")
    out = {}
    for rule_id, sev in value.items():
        (rule_id,) = _ids({"severity": [rule_id]}, "severity", known)
        try:
            out[rule_id] = Severity.parse(sev)
        except ValueError as exc:
            raise CasesFileError(f"severity {rule_id}: {exc}") from None
    return out


# --- pytest -----------------------------------------------------------------------------
def assert_cases(path: str | Path, plugin: str | Path | None = None) -> CasesReport:
    """Run a cases file and fail (AssertionError) with every failure listed."""
    report = run_cases_file(path, plugin)
    if not report.ok:
        failures = report.failures or [f"{report.path}: no cases were run"]
        raise AssertionError(report.summary() + "\n" + "\n".join(f"- {f}" for f in failures))
    return report


@dataclass
class _CaseCheck:
    """One case as a pytest parameter; ``check()`` fails with the case's problems."""

    name: str
    problems: list[str]

    def check(self) -> None:
        if self.problems:
            raise AssertionError("\n".join(self.problems))

    def __repr__(self) -> str:
        return self.name


def cases(path: str | Path, plugin: str | Path | None = None) -> Iterator:
    """pytest params, one per case (id = case name); use ``case.check()`` in the test."""
    import pytest

    report = run_cases_file(path, plugin)
    if report.errors or not report.results:
        yield pytest.param(_CaseCheck(str(path), report.failures or ["no cases"]), id=Path(path).name)
        return
    prefix = f"{report.path}: case "
    for r in report.results:
        problems = [f"{prefix}{r.name!r}: {p}" for p in r.problems]
        yield pytest.param(_CaseCheck(r.name, problems), id=r.name)
