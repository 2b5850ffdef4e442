"""The rule object, and the ``@rule`` decorator that built-ins and plugins both use.

A rule says what it needs (diagnosis prefixes or procedure codes that trigger it, columns it
reads) so the engine can skip it on claims where it cannot fire; that is where most of the speed
comes from. Its docstring is its documentation, shown by ``xlsheets explain ID``::

    @rule("ACME101", severity="error", procedures={"97014"}, reference="Acme policy 12")
    def acme_no_97014(claim, ctx):
        '''97014 is not covered by Acme: bill G0283.

        Why: Acme follows Medicare for unattended electrical stimulation.
        Bad: 97014
        Good: G0283
        '''
        yield ctx.finding("Acme does not cover 97014", codes=["97014"], suggestion="G0283")
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from .claims import FLAG_COLUMNS, NUMBER_COLUMNS
from .findings import Severity

__all__ = ["Rule", "rule", "RuleDefinitionError", "RULE_ID"]

RULE_ID = re.compile(r"^[A-Z]{1,4}[0-9]{3}$")
CPT_CODE = re.compile(r"^(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$")  # 64483, 0275T, 1036F, G0283
DX_PREFIX = re.compile(r"^[A-Z](?:[0-9](?:[0-9A-Z](?:\.[0-9A-Z]{0,4})?)?)?$")  # M, M5, M54, M54.1, M54.16
SCOPES = ("claim", "batch")
# What a rule may declare in ``reads``: claim fields, and the documentation columns (the facts
# ``claim.yes/number/text`` look up). All hashable, and the same for equal claims.
READABLE_FIELDS = ("diagnoses", "procedures", "dos", "dos_unreadable", "pos", "payer", "present")
READABLE_FACTS = FLAG_COLUMNS + NUMBER_COLUMNS + ("laterality", "nerve_root_level", "spinal_region")


class RuleDefinitionError(ValueError):
    """A rule declared wrongly; the message names the file and line of the rule."""


@dataclass(eq=False)
class Rule:
    id: str
    name: str
    severity: Severity
    summary: str
    doc: str
    check: Callable
    reference: str = ""
    dx_prefixes: tuple[str, ...] = ()
    procedures: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()
    payers: tuple[str, ...] = ()
    scope: str = "claim"
    # batch rules: claims are kept only where they share these fields with another claim
    group_by: tuple[str, ...] = ()
    # a grouped batch rule that decides its rule ID for the claims of a group: the claim part's
    # findings on those claims are replaced by this part's (N503: the primary on another claim)
    group_decides: bool = False
    setting: str = ""  # a setting that must be true for the rule to run (e.g. electronic_format)
    reads: tuple[str, ...] = ()  # the only claim fields the check reads: findings can be reused
    # settings -> None when the data the rule checks against is there, else why it is not
    available: Callable[[dict], str | None] | None = None
    source: str = ""  # file:line of the check function
    plugin: str = ""  # filled in when registered
    trusted: bool = False  # built-in: run without the guards plugins get
    # (when, severity) for a rule whose findings differ in severity by case, e.g. D401: error on
    # an injection, warning on an MRI. Empty: every finding has ``severity``.
    severities: tuple[tuple[str, Severity], ...] = ()

    @property
    def always(self) -> bool:
        """True when the rule has no trigger and runs on every claim."""
        return not self.dx_prefixes and not self.procedures

    def section(self, heading: str) -> str:
        """One documentation section (``Why``, ``Bad``, ``Good``, ``Fix``), or ''."""
        m = re.search(rf"^{heading}:\s*(.*?)(?=^\w[\w ]*:|\Z)", self.doc, re.M | re.S)
        return " ".join(m.group(1).split()) if m else ""

    def severity_cases(self) -> list[tuple[str, Severity]]:
        """(when, severity) of every kind of finding the rule gives; one ("", severity) pair for
        a rule whose findings all have the same severity."""
        return list(self.severities) or [("", self.severity)]

    def severity_names(self) -> str:
        """'error', or 'error/warning' for a rule whose findings differ by case (worst first)."""
        levels = sorted({sev for _, sev in self.severity_cases()}, reverse=True)
        return "/".join(map(str, levels))

    def severity_text(self) -> str:
        """'error' or, for a rule with cases, 'error when ...; warning when ...'."""
        if not self.severities:
            return str(self.severity)
        return "; ".join(f"{sev} {when}" for when, sev in self.severities)

    def describe(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "severity": str(self.severity),
            "severities": [{"when": when, "severity": str(sev)} for when, sev in self.severity_cases()],
            "summary": self.summary,
            "scope": self.scope,
            "plugin": self.plugin,
            "reference": self.reference,
            "triggers": {"diagnoses": list(self.dx_prefixes), "procedures": sorted(self.procedures)},
            "needs": list(self.needs),
            "reads": list(self.reads),
            "source": self.source,
        }


def rule(
    id: str,
    *,
    severity: str | Severity = "error",
    name: str | None = None,
    reference: str = "",
    dx: Iterable[str] = (),
    procedures: Iterable[str] = (),
    needs: Iterable[str] = (),
    payers: Iterable[str] = (),
    scope: str = "claim",
    group_by: Iterable[str] = (),
    group_decides: bool = False,
    setting: str = "",
    reads: Iterable[str] = (),
    severities: dict[str, str] | None = None,
    available: Callable[[dict], str | None] | None = None,
) -> Callable[[Callable], Rule]:
    """Turn a check function into a :class:`Rule`.

    The check takes ``(claim, ctx)`` and yields findings made with ``ctx.finding(...)``. A
    ``scope="batch"`` rule takes ``(claims, ctx)`` instead, sees every claim of the workbook that
    its triggers match (a patient's other rows), and yields ``(claim, finding)`` pairs.
    ``dx`` (code prefixes) and ``procedures`` (codes) are triggers: the rule runs only on claims
    that have one of them. ``needs`` lists columns it reads: when the sheet lacks one, the rule
    does not run (the fact is unknown) and the report says so once. ``setting`` names a setting
    that switches the rule on (the rule is skipped while it is false). ``available`` is for
    rules that check against data a user loads (the NCCI edits): a function of the payer's
    settings that returns None when the data is there, else a sentence saying what is missing
    and how to load it; the rule then does not run and every output says so once.

    A rule may come in two parts under one ID, a claim rule and a batch rule of the same plugin
    (NCCI edits on one claim, and across a patient's claims on the same date of service).

    ``severities`` is for a rule whose findings differ in severity (``ctx.finding(severity=...)``):
    when -> severity, one entry per case, ``severity`` among them, e.g. ``{"when an injection
    lacks the weeks": "error", "when an MRI does": "warning"}``. ``xlsheets rules`` and
    ``explain`` show every case.

    ``reads`` (optional, a promise) names the only claim fields and documentation columns the
    check looks at, from ``READABLE_FIELDS`` and ``READABLE_FACTS``, e.g. ``("diagnoses", "dos")``
    or ``("procedures", "laterality")``. A check that asks ``claim.known(...)`` also reads
    ``present``. The check must then depend on nothing
    else of the claim or payer (``ctx.settings`` and ``ctx.codes`` are fine; asking a plugin's
    pair policy is detected) and must not mention the claim's rows. The engine runs such a rule
    once per distinct combination of those fields and settings, and gives every other claim with
    the same values the same findings on its own row: sheets repeat code combinations, so this
    is where code-set rules get their speed. The case runner (``xlsheets plugins test``,
    xlsheets.testing) holds the check to its promise: it records what the claim is asked for
    and fails a case in which the check read anything else (xlsheets.readcheck). A claim's ID,
    patient, problems and cells as written (``dx_cells``) can never be in ``reads``.

    A batch rule's ``group_by`` (claim fields, e.g. ``("patient_id", "dos")``) says it only looks
    at claims that share those values with another claim (blank values share nothing): the engine
    then hands it just those groups' claims, in sheet order, and keeps no other claim for it.
    With ``group_decides=True`` such a rule decides its rule ID for those claims: what the claim
    rule of the same ID found on them is dropped and this part's findings stand instead. It is
    for a check whose answer a patient's other claims can change, not only add to (an add-on
    code whose primary is on the patient's other claim that day, N503).

    A batch rule's ``reads`` (claim fields only) means the engine keeps, until the end of the
    workbook, a small view of each claim with those fields (and ``claim_id``, ``patient_id``,
    ``payer``, ``rows``) instead of the whole claim: a batch rule that sees every claim then costs
    little memory. Reading any other field of a view fails loudly (E102).
    """

    def wrap(func: Callable) -> Rule:
        source = _source_of(func)
        # Each list read once (a generator is used up by the first look), then checked and kept.
        lists = {what: value if isinstance(value, str) else tuple(value) for what, value in
                 (("dx", dx), ("procedures", procedures), ("needs", needs), ("payers", payers), ("group_by", group_by))}
        fields = reads if isinstance(reads, str) else tuple(reads)
        if not isinstance(id, str) or not RULE_ID.match(id):
            raise RuleDefinitionError(
                f"{source}: rule ID {id!r} must be 1-4 capital letters and 3 digits, like ACME101")
        if scope not in SCOPES:
            raise RuleDefinitionError(f"{source}: rule {id}: scope must be 'claim' or 'batch', not {scope!r}")
        try:
            sev = Severity.parse(severity)
        except ValueError as exc:
            raise RuleDefinitionError(f"{source}: rule {id}: {exc}") from None
        unknown = [f for f in fields if f not in READABLE_FIELDS and f not in READABLE_FACTS]
        if scope == "batch" and any(f not in READABLE_FIELDS for f in fields):
            raise RuleDefinitionError(f"{source}: rule {id}: a batch rule's reads lists claim fields "
                                      f"({', '.join(READABLE_FIELDS)}), not documentation columns")
        if unknown or isinstance(fields, str):
            raise RuleDefinitionError(
                f"{source}: rule {id}: reads must list claim fields ({', '.join(READABLE_FIELDS)}) "
                f"or documentation columns ({', '.join(READABLE_FACTS)}), not {fields!r}")
        try:
            cases = tuple((str(when).strip(), Severity.parse(level)) for when, level in (severities or {}).items())
        except ValueError as exc:
            raise RuleDefinitionError(f"{source}: rule {id}: severities: {exc}") from None
        if cases and (len(cases) < 2 or sev not in {c[1] for c in cases} or not all(w for w, _ in cases)):
            raise RuleDefinitionError(
                f"{source}: rule {id}: severities lists two or more cases (when -> severity), "
                f"one of them with the rule's severity {sev}, e.g. {{\"when ...\": \"{sev}\", "
                "\"when ...\": \"warning\"}")
        _check_triggers(source, id, **lists)
        if lists["group_by"] and (scope != "batch" or not fields):
            raise RuleDefinitionError(
                f"{source}: rule {id}: group_by is for a batch rule that lists the claim fields it reads, "
                "e.g. scope=\"batch\", reads=(\"procedures\", \"dos\"), group_by=(\"patient_id\", \"dos\")")
        if group_decides and (scope != "batch" or not group_by):
            raise RuleDefinitionError(f"{source}: rule {id}: group_decides is for a batch rule with group_by")
        doc = inspect.getdoc(func) or ""
        if not doc.strip():
            raise RuleDefinitionError(
                f"{source}: rule {id} has no docstring; its first line is the summary users see")
        return Rule(
            id=id,
            name=name or func.__name__,
            severity=sev,
            summary=doc.strip().splitlines()[0].strip(),
            doc=doc,
            check=func,
            reference=reference,
            dx_prefixes=lists["dx"],
            procedures=frozenset(lists["procedures"]),
            needs=lists["needs"],
            payers=tuple(p.lower() for p in lists["payers"]),
            scope=scope,
            group_by=lists["group_by"],
            group_decides=bool(group_decides),
            setting=setting,
            reads=tuple(sorted(set(fields))),  # one spelling per set: rules group by it
            available=available,
            source=source,
            severities=cases,
        )

    return wrap


_EXAMPLES = {"dx": '{"M54.16"}', "procedures": '{"64483"}', "needs": '("laterality",)',
             "payers": '("medicare",)', "group_by": '("patient_id", "dos")'}


def _check_triggers(source: str, id: str, **lists) -> None:
    """Refuse triggers a rule could never match. A plain text where a list belongs is read
    character by character (procedures="64483" is the codes 6, 4, 8, 3), so the rule would never
    run, or run on every claim (dx="M54.50" matches every M code), without a word. A code in
    another shape than the claims' (M5416, 64483-RT) never matches either."""
    for what, value in lists.items():
        if isinstance(value, str):
            raise RuleDefinitionError(
                f"{source}: rule {id}: {what} is a list, like {what}={_EXAMPLES[what]}, not the text "
                f"{value!r}: a text is read one character at a time, so the rule would not do what "
                "it says")
    for code in lists["procedures"]:
        if not isinstance(code, str) or not CPT_CODE.match(code):
            raise RuleDefinitionError(
                f"{source}: rule {id}: procedures lists CPT/HCPCS codes of 5 characters, capital "
                f"letters and no modifier (64483, 0275T, G0283), not {code!r}: claims never have it")
    for prefix in lists["dx"]:
        if not isinstance(prefix, str) or not DX_PREFIX.match(prefix):
            hint = ""
            if isinstance(prefix, str) and DX_PREFIX.match(prefix.upper()[:3] + "." + prefix.upper()[3:]):
                hint = f" (write {prefix.upper()[:3] + '.' + prefix.upper()[3:]!r})"
            elif isinstance(prefix, str) and DX_PREFIX.match(prefix.upper()):
                hint = f" (write {prefix.upper()!r})"
            raise RuleDefinitionError(
                f"{source}: rule {id}: dx lists ICD-10-CM codes or their beginnings as claims hold "
                f"them, with the dot and capital letters (M54, M54.1, M54.16), not {prefix!r}{hint}: "
                "no claim's code would begin with it")


def _source_of(func: Callable) -> str:
    try:
        code = func.__code__
        return f"{code.co_filename}:{code.co_firstlineno}"
    except AttributeError:
        return repr(func)
