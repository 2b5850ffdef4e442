"""xlsheets: catch spine-claim coding errors in Excel claim worksheets before submission.

Public API::

    import xlsheets
    findings = xlsheets.validate({"dos": "2026-03-10", "dx1": "M54.17", "disc_disorder_confirmed": "Y"})
    results = xlsheets.validate_rows(header_row, rows)      # a whole sheet, batch rules included
    xlsheets.configure(settings=TOML_TEXT, plugins=[...])   # no files (xlwings Lite's main.py)

Plugins import only this package: ``xlsheets.hookimpl``, ``xlsheets.rule``, ``xlsheets.Finding``.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from .claims import Claim, HeaderMap, Procedure, claims_from_rows, parse_row
from .config import Config, ConfigError, load_config
from .engine import ClaimResult, Context, Validator
from .findings import Finding, Severity, status_of
from .hookspecs import hookimpl
from .inline import configure, make_validator
from .rule import Rule, rule

__version__ = "0.1.0"
__all__ = [
    "validate", "validate_rows", "Validator", "Claim", "Procedure", "Finding", "Severity",
    "ClaimResult", "Context", "Rule", "rule", "hookimpl", "Config", "ConfigError", "load_config",
    "HeaderMap", "claims_from_rows", "parse_row", "status_of", "configure", "__version__",
]

_default: Validator | None = None


def _validator(config: Config | None) -> Validator:
    global _default
    if config is not None:
        return Validator(config)
    if _default is None:
        _default = make_validator()
    return _default


def validate(claim: Mapping[str, object] | Claim, config: Config | None = None) -> list[Finding]:
    """Findings for one claim, given as a Claim or as ``{column: value}`` (headers as in a sheet)."""
    v = _validator(config)
    if isinstance(claim, Claim):
        return v.validate_claim(claim)
    return v.validate_row(list(claim.keys()), list(claim.values()))


def validate_rows(header_row: Sequence[object], rows: Iterable[Sequence[object]],
                  config: Config | None = None, first_row: int = 2) -> list[ClaimResult]:
    """Every claim of a sheet (header row + value rows), batch rules included."""
    return _validator(config).validate_rows(header_row, rows, first_row)
