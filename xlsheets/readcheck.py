"""Hold a rule to its ``reads`` promise: record which claim fields it actually asked for.

A rule that declares ``reads=("diagnoses",)`` has its findings reused for every claim with the
same diagnoses (xlsheets.engine, ``_Memo``). If it also looks at ``claim.payer``, another payer's
claims get its findings, silently. So, while such a rule runs in checking mode, the claim it is
given is a :class:`RecordingClaim`: the same object with its class switched (no copy), which
notes every data field the rule reads, and whose ``facts`` notes every documentation column
asked for (``claim.yes("red_flags")``, ``claim.number(...)``, ``claim.text(...)``,
``claim.facts[...]``); ``claim.known(...)`` reads ``present``, ``claim.is_telehealth`` reads the
``telehealth`` column, ``pos`` and ``procedures``. Whatever is outside ``reads`` is a
:class:`ReadsViolation`, named with the rule, the file and line of the rule, the field, and the
line that read it.

What counts:
    * ``rows`` does not: the engine moves reused findings to each claim's own rows.
    * ``claim_id``, ``patient_id``, ``problems`` and ``dx_cells`` always do, and ``reads`` cannot
      name them: a finding quoting one claim's ID, or a code as that claim's cell wrote it
      (``M5417`` or ``M54.17``, in which column), would be wrong on the other claims.
      ``diagnoses`` is the normalised codes only; a rule that depends on the spelling (C110,
      the electronic format) declares no ``reads``.
    * ``ctx.payer`` reads ``payer`` (it is the claim's payer); ``ctx.settings`` and ``ctx.codes``
      do not (payers share findings only when their settings agree).
    * Reads made by a plugin's pair policy, which the rule asked, do not: a run that asked a pair
      policy is never reused.

Who checks: the case runner (xlsheets.testing, ``Validator(check_reads=True)``) checks every
rule with ``reads`` on every run; ordinary validation checks only plugin rules, on the first runs
of each memo (``_Memo.AUDITED``), and stops reusing a rule it catches. Recording happens only
while a checked rule runs, on a claim switched to :class:`RecordingClaim` for that run:
everything else runs on the plain frozen claim at full speed.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Callable, NamedTuple

from .claims import Claim, ClaimIsReadOnly, FrozenClaim
from .rule import READABLE_FACTS, READABLE_FIELDS, Rule

__all__ = ["ReadsViolation", "RecordingClaim", "record", "violations"]

_IGNORED = frozenset(("rows", "read_only"))  # the engine's own, not facts about the claim
_FIELDS = frozenset(Claim.__slots__) - _IGNORED  # the data attributes a rule may read
ALL_FACTS = "*"  # the facts mapping as a whole (iterated, compared, copied)
_WHY_NOT = {
    "dx_cells": "a finding that depends on how a code was written (M54.17 or M5417) or in which "
                "column cannot be reused for another claim; 'diagnoses' holds the codes without "
                "their spelling",
}
_state = threading.local()  # .recorder: the _Recorder of the rule running here, or None


class ReadsViolation(NamedTuple):
    """A rule with ``reads`` read something else of the claim."""

    rule: str
    source: str  # file:line of the rule's check function
    declared: tuple[str, ...]
    field: str  # an attribute name, a column name, or ALL_FACTS
    kind: str  # "attribute" (claim.X), "column" (a documentation column) or "context" (ctx.payer)
    line: int | None = None  # the line of the rule's file that read it

    @property
    def declarable(self) -> bool:
        return self.field in (READABLE_FACTS if self.kind == "column" else READABLE_FIELDS)

    def message(self) -> str:
        """``rule PT104 (plugins/pt_progress.py, line 120) declares reads=(...) but read
        claim.payer (line 131); add 'payer' to reads or remove reads``."""
        file, line = _split_source(self.source)
        if self.kind == "attribute":
            what = f"claim.{self.field}"
        elif self.kind == "context":
            what = f"ctx.{self.field}"
        elif self.field == ALL_FACTS:
            what = "all of claim.facts"
        else:
            what = f"the column {self.field!r}"
        at = f" (line {self.line})" if self.line is not None else ""
        if self.declarable:
            fix = f"add {self.field!r} to reads or remove reads"
        else:
            why = _WHY_NOT.get(self.field, "a finding that depends on it cannot be reused for another claim")
            fix = f"reads cannot name it ({why}); remove reads"
        return (f"rule {self.rule} ({file}, line {line}) declares reads={self.declared!r} "
                f"but read {what}{at}; {fix}")


class _Recorder:
    __slots__ = ("file", "seen")

    def __init__(self, file: str):
        self.file = file
        self.seen: dict[tuple[str, str], int | None] = {}  # (kind, field) -> first line

    def note(self, kind: str, name: str) -> None:
        key = (kind, name)
        if key not in self.seen:
            self.seen[key] = self._line()

    def _line(self) -> int | None:
        """The line of the rule's own file that made the access (a helper of the plugin counts)."""
        frame = sys._getframe(3)
        for _ in range(40):
            if frame is None:
                return None
            if frame.f_code.co_filename == self.file:
                return frame.f_lineno
            frame = frame.f_back
        return None


class _RecordingFacts(Mapping):
    """The claim's facts, noting each column asked for; read-only like the mapping it wraps."""

    __slots__ = ("_facts", "_recorder")

    def __init__(self, facts: Mapping, recorder: _Recorder):
        self._facts = facts
        self._recorder = recorder

    def __getitem__(self, key):
        self._recorder.note("column", key)
        return self._facts[key]

    def get(self, key, default=None):
        self._recorder.note("column", key)
        return self._facts.get(key, default)

    def __contains__(self, key) -> bool:
        self._recorder.note("column", key)
        return key in self._facts

    def __iter__(self):
        self._recorder.note("column", ALL_FACTS)
        return iter(self._facts)

    def __len__(self) -> int:
        self._recorder.note("column", ALL_FACTS)
        return len(self._facts)

    def __eq__(self, other) -> bool:
        self._recorder.note("column", ALL_FACTS)
        return dict(self._facts) == other

    __hash__ = None

    def copy(self) -> dict:
        self._recorder.note("column", ALL_FACTS)
        return dict(self._facts)

    def __repr__(self) -> str:
        return repr(self._facts)

    def _refuse(self, *args, **kwargs):
        raise ClaimIsReadOnly("rules must only read the claim (tried to change its facts)")

    __setitem__ = __delitem__ = pop = popitem = update = setdefault = clear = _refuse


class RecordingClaim(FrozenClaim):
    """A frozen claim that notes, while a checked rule runs, each data field asked for."""

    __slots__ = ()

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        recorder = _state.__dict__.get("recorder")
        if recorder is not None and name in _FIELDS:
            if name == "facts":
                return _RecordingFacts(value, recorder)
            recorder.note("attribute", name)
        return value


def _context_getattribute(self, name: str):
    # ctx.payer is the claim's payer, normalised: the memo key does not hold it either.
    if name == "payer":
        recorder = _state.__dict__.get("recorder")
        if recorder is not None:
            recorder.note("context", name)
    return object.__getattribute__(self, name)


_RECORDING_CONTEXTS: dict[type, type] = {}


def _recording_context(cls: type) -> type:
    """A subclass of the engine's Context, same slots, that notes reads of ``ctx.payer``."""
    sub = _RECORDING_CONTEXTS.get(cls)
    if sub is None:
        sub = _RECORDING_CONTEXTS[cls] = type(f"Recording{cls.__name__}", (cls,), {
            "__slots__": (), "__getattribute__": _context_getattribute})
    return sub


def record(claim: Claim, rule: Rule, run: Callable[[], object], ctx: object = None) -> dict[tuple[str, str], int | None]:
    """Call ``run()`` (which runs ``rule`` on the frozen ``claim`` with ``ctx``) and return what
    it read: ``(kind, field) -> line``. The claim is a RecordingClaim (and the context records
    ``ctx.payer``) only meanwhile."""
    code = getattr(rule.check, "__code__", None)
    recorder = _Recorder(code.co_filename if code is not None else _split_source(rule.source)[0])
    previous = _state.__dict__.get("recorder")
    before = type(claim)
    object.__setattr__(claim, "__class__", RecordingClaim)
    ctx_class = type(ctx)
    if ctx is not None:
        object.__setattr__(ctx, "__class__", _recording_context(ctx_class))
    _state.recorder = recorder
    try:
        run()
    finally:
        _state.recorder = previous
        object.__setattr__(claim, "__class__", before)
        if ctx is not None:
            object.__setattr__(ctx, "__class__", ctx_class)
    return recorder.seen


def violations(rule: Rule, seen: dict[tuple[str, str], int | None]) -> list[ReadsViolation]:
    """What the rule read outside its ``reads``, in the order it read it."""
    allowed = set(rule.reads)
    return [ReadsViolation(rule.id, rule.source, rule.reads, name, kind, line)
            for (kind, name), line in seen.items() if name not in allowed]


def _split_source(source: str) -> tuple[str, str]:
    """``/abs/plugins/acme.py:120`` -> (``plugins/acme.py``, ``120``): relative to the current
    folder when the file is under it."""
    file, _, line = source.rpartition(":")
    if not file or not line.isdigit():
        return source, "?"
    try:
        rel = os.path.relpath(file)
        if not rel.startswith(".."):
            file = rel
    except ValueError:  # another drive (Windows)
        pass
    return file, line
