"""Findings: what a rule says about a claim, and the status a claim gets from them.

A finding is the unit every output is built from (cell text, JSON, report rows), so it carries
everything a billing person needs to act on it without opening the documentation.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Iterable, NamedTuple


class Severity(IntEnum):
    """How bad a finding is. Ordered, so the worst finding of a claim is ``max()``."""

    INFO = 1  # a suggestion
    WARNING = 2  # review before submitting
    ERROR = 3  # the claim will be rejected or denied as it stands

    def __str__(self) -> str:
        return _SEVERITY_TEXT[self._value_]  # every finding of every output: no enum lookups

    @classmethod
    def parse(cls, value: "str | Severity") -> "Severity":
        """Read a severity from configuration text (``"error"``, ``"Warning"``...)."""
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {value!r}: use one of error, warning, info"
            ) from None


_SEVERITY_TEXT = {s.value: s.name.lower() for s in Severity}


class Finding(NamedTuple):
    """One problem (or suggestion) about one claim. Immutable; a NamedTuple because claims
    produce many and a tuple is the cheapest immutable record Python builds."""

    rule: str
    severity: Severity
    message: str
    codes: tuple[str, ...] = ()
    suggestion: str | None = None
    reference: str | None = None
    rows: tuple[int, ...] = ()  # sheet rows the finding concerns (line-level sheets)
    column: str | None = None  # canonical column, when one cell is at fault
    brief: str | None = None  # a few words for a cell; the message when absent

    def to_dict(self) -> dict:
        data = {
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "codes": list(self.codes),
            "suggestion": self.suggestion,
            "reference": self.reference,
        }
        if self.rows:
            data["rows"] = list(self.rows)
        if self.column:
            data["column"] = self.column
        return data

    def short(self) -> str:
        """A few words for a cell: ``ERROR S301: disc disorder confirmed - use M51.17``."""
        what = self.brief or self.message
        text = f"{str(self.severity).upper()} {self.rule}: {what}"
        if self.suggestion and self.suggestion not in what:  # "use S34.21XA - use S34.21XA" reads badly
            text += f" - use {self.suggestion}" if _is_code_list(self.suggestion) else f" - {self.suggestion}"
        return text


def _is_code_list(text: str) -> bool:
    return all(part.strip() and len(part.strip()) <= 8 and " " not in part.strip() for part in text.split("/"))


STATUS_OK = "ok"


def status_of(findings: Iterable[Finding]) -> str:
    """A claim's status is its worst severity, or ``"ok"``."""
    worst = max((f.severity for f in findings), default=None)
    return STATUS_OK if worst is None else str(worst)


def worst(findings: Iterable[Finding]) -> Finding | None:
    """The finding a cell shows: highest severity first, then catalogue order."""
    best: Finding | None = None
    for f in findings:
        if best is None or f.severity > best.severity:
            best = f
    return best


def worst_by_row(rows: Iterable[int], findings: Iterable[Finding]) -> dict[int, Finding | None]:
    """The finding each row of a claim shows: a claim of service lines spans rows, and a finding
    that names rows belongs to those rows only (one naming none, to every row of the claim)."""
    rows = tuple(rows)
    per_row: dict[int, list[Finding]] = {r: [] for r in rows}
    for f in findings:
        for r in (f.rows or rows):
            if r in per_row:
                per_row[r].append(f)
    return {r: worst(found) for r, found in per_row.items()}
