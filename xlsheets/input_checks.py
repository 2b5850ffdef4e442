"""The E1xx findings: what xlsheets itself says when it could not fully read or check a claim.

They are not rules (no plugin registers them: the reader gives E101 and E103, the engine E102),
but they appear in every output beside rule findings, so they are documented the same way, as
:class:`~xlsheets.rule.Rule` objects without a check, and ``xlsheets explain E102`` and
``xlsheets rules`` show them with the rules.
"""
from __future__ import annotations

import inspect

from .claims import UNREADABLE_CELL, UNUSED_CODES
from .engine import RULE_FAILED
from .findings import Severity
from .rule import Rule

__all__ = ["INPUT_CHECKS", "input_check"]

_E = Severity.ERROR
_W = Severity.WARNING


def _doc(text: str) -> str:
    return inspect.cleandoc(text)


INPUT_CHECKS: tuple[Rule, ...] = (
    Rule(
        id=UNREADABLE_CELL, name="unreadable_cell", severity=_E, check=None, plugin="xlsheets (input)",
        reference="xlsheets input rules", source="xlsheets/claims.py",
        summary="A cell could not be read; its value was ignored.",
        severities=(("in a column that decides what is billed (codes, modifiers, pointers, units, payer, "
                     "date) or a formula saved without its value, in any column", _E),
                    ("in a documentation column (the fact is then taken as not documented)", _W)),
        doc=_doc("""A cell could not be read; its value was ignored.

        Why: a claim with a cell xlsheets could not read was not fully checked, so it must not look
        ready to submit. Excel errors (#N/A, #REF!), text in a number column, a formula saved without
        its calculated value (recalculate and save in Excel), a diagnosis pointer to a diagnosis the
        claim does not list, a nerve-root level that names no spine level and similar all land here.
        Bad: Dx 1 = #N/A ; Units = "two" ; a formula cell never calculated ; Dx Pointer C with one diagnosis
        Good: Dx 1 = M54.17 ; Units = 2
        Fix: correct the cell (the message names the column and row), or recalculate and save."""),
    ),
    Rule(
        id=RULE_FAILED, name="rule_failed", severity=_E, check=None, plugin="xlsheets (engine)",
        reference="xlsheets engine", source="xlsheets/engine.py",
        summary="A rule or plugin failed on this claim, or a configured plugin did not load.",
        severities=(("by default: the claim was not fully checked", _E),
                    ('when the configuration lowers it: [severity] E102 = "warning"', _W)),
        doc=_doc("""A rule or plugin failed on this claim, or a configured plugin did not load.

        Why: the claim was not checked by that rule, so it cannot be called ready; the other rules
        still ran. The message names the rule, its plugin, the file and line and the error.
        Bad: a payer plugin raising KeyError on a claim without a payer
        Good: every rule runs to the end on every claim
        Fix: fix the plugin (xlsheets plugins test), or add the rule to ignore in the configuration."""),
    ),
    Rule(
        id=UNUSED_CODES, name="codes_in_unread_column", severity=_W, check=None, plugin="xlsheets (input)",
        reference="xlsheets input rules (column names)", source="xlsheets/claims.py",
        summary="A column xlsheets does not read holds what looks like diagnosis or procedure codes.",
        doc=_doc("""A column xlsheets does not read holds what looks like diagnosis or procedure codes.

        Why: codes in a column xlsheets does not know were not checked at all; a renamed export
        column ("Pt Problem A") would otherwise pass silently.
        Bad: a column 'Pt Problem A' holding M54.17
        Good: the column named 'Dx 1', or mapped: [columns] "Pt Problem A" = "dx1"
        Fix: rename the column or map it under [columns] in xlsheets.toml."""),
    ),
)


def input_check(rule_id: str) -> Rule | None:
    """The documentation of E101, E102 or E103; None for any other ID."""
    rule_id = rule_id.strip().upper()
    return next((r for r in INPUT_CHECKS if r.id == rule_id), None)
