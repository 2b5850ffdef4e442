"""Run the rules on claims: pick the rules for a claim's payer, run them, isolate failures.

For each payer the engine prepares a plan once (settings, selected rules, severity overrides,
rules indexed by their triggers), so a claim only meets the rules that can fire on it. A rule
that raises, returns the wrong thing or changes the claim is isolated: the other rules still
run and a finding (E102) names the rule, its plugin and the error. E102 is an error by default:
the claim was not fully checked. ``[severity] E102 = "warning"`` (top level or per payer) lowers it.
"""
from __future__ import annotations

import contextlib
import fnmatch
import gc
import operator
import signal
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from .claims import UNREADABLE_CELL, UNUSED_CODES, Claim, ClaimIsReadOnly, HeaderMap, claims_from_rows, parse_row
from .codes.icd10cm import get_codeset
from .config import (DEFAULT_SETTINGS, Config, PayerPolicy, check_plugin_settings, check_rule_ids,
                     check_setting_names, rule_selected)
from .findings import Finding, Severity, status_of
from .plugins import PluginHost, load_plugins, plugin_problems, where_of
from . import readcheck
from .readcheck import ReadsViolation
from .rule import READABLE_FIELDS, Rule

__all__ = ["Validator", "ClaimResult", "BatchRun", "Context", "RULE_FAILED", "RuleTimeout"]

RULE_FAILED = "E102"
_CODE = operator.itemgetter(0)  # Procedure.code


class RuleTimeout(Exception):
    """A plugin rule ran longer than its time limit (an endless loop) and was stopped."""
_PAIR_ANSWERS = ("allow", "deny", "review")


class Context:
    """What a rule's check gets besides the claim: settings, code sets, findings, payer policy."""

    __slots__ = ("settings", "payer", "rule", "_plan", "_validator", "_claim", "_extra", "_asked")

    def __init__(self, validator: "Validator", plan: "_Plan"):
        self._validator = validator
        self._plan = plan
        self.settings = plan.settings
        self.payer = plan.payer
        self.rule: Rule | None = None
        self._claim: Claim | None = None
        self._extra: tuple[Finding, ...] = ()  # failures of hooks a rule called (pair policies)
        self._asked = False  # a plugin's pair policy answered: the findings depend on the plugin

    @property
    def codes(self):
        """The ICD-10-CM code set (loaded on first use)."""
        return get_codeset()

    def finding(self, message: str, *, codes: Iterable[str] = (), suggestion: str | None = None,
                severity: str | Severity | None = None, rows: Iterable[int] | None = None,
                reference: str | None = None, brief: str | None = None,
                column: str | None = None, claim: Claim | None = None) -> Finding:
        """A finding of the running rule; severity defaults to the rule's (or the configured one).

        ``claim`` names the claim in batch rules; it decides the rows the finding is reported on.
        """
        rule = self.rule
        plan = self._plan if claim is None or claim is self._claim else self._validator._plan_for(claim.payer)
        sev = plan.severity.get(rule.id)
        if sev is None:
            sev = Severity.parse(severity) if severity is not None else rule.severity
        if rows is None:
            target = claim if claim is not None else self._claim
            rows = target.rows if target is not None else ()
        return Finding(rule=rule.id, severity=sev, message=message, codes=tuple(codes),
                       suggestion=suggestion, reference=reference or rule.reference or None,
                       rows=tuple(rows), column=column, brief=brief)

    def runs(self, rule_id: str) -> bool:
        """True when this payer's checks include rule ``rule_id`` (a rule that leaves a problem to
        another, as C111 to N503, asks first)."""
        return rule_id in self._plan.enabled

    def pair_policy(self, code_a: str, code_b: str, claim: Claim) -> str | None:
        """Ask the payer's plugins whether two codes may go together: allow / deny / review."""
        return self._validator._pair_policy(self, code_a, code_b, claim)

    def settings_for(self, claim: Claim) -> dict[str, Any]:
        """The settings in force for one claim's payer (batch rules see several payers)."""
        if claim is self._claim:
            return self.settings
        return self._validator._plan_for(claim.payer).settings

    def by_patient(self, claims: Iterable[Claim]) -> dict[str, list[Claim]]:
        """Claims grouped by patient, each list in date-of-service order (batch rules)."""
        groups: dict[str, list[Claim]] = defaultdict(list)
        for claim in claims:
            if claim.patient_id:
                groups[claim.patient_id].append(claim)
        for group in groups.values():
            group.sort(key=lambda c: (c.dos is None, c.dos or 0))
        return groups


@dataclass(eq=False)  # one object per payer (and the payers sharing it): hashed by identity
class _Plan:
    payer: str
    policy: PayerPolicy | None
    settings: dict[str, Any]
    severity: dict[str, Any]
    plugins: frozenset[str]
    always: list[Rule]
    by_code: dict[str, list[Rule]]
    by_prefix: dict[str, list[Rule]]
    prefix_lengths: tuple[int, ...]
    batch: list[Rule]
    order: dict[str, int]
    context: "Context | None" = None  # reused claim after claim (reset per claim)
    by_id: dict = field(default_factory=dict)  # rule ID -> rule, of the rules with triggers
    enabled: frozenset = frozenset()  # IDs of every rule this payer runs
    pair_policies: list = field(default_factory=list)  # (plugin name, function), in call order
    # What a rule with ``reads`` may depend on besides those fields (settings, severities):
    # payers that agree on it share remembered findings.
    signature: str = ""
    candidates: dict = field(default_factory=dict)  # (procedure codes, diagnoses, columns) -> (memos, rules)
    rule_sets: dict = field(default_factory=dict)  # (triggered rule IDs, columns) -> (memos, rules)
    batch_candidates: dict = field(default_factory=dict)
    # No batch rule has a trigger (the NCCI parts): every claim meets all of ``batch``, so
    # batch_rules_for needs no per-claim key.
    batch_untriggered: bool = False
    # And each reads only what a ClaimResult holds of its claim, grouped (the NCCI parts): a
    # claim is kept for them as its result alone.
    batch_by_result: bool = False


class _Memo:
    """Rules that declared the same claim fields (``reads``), with the findings they gave for
    each combination of those fields: claims with the same codes (and date) get them again
    without running the rules (the findings move to the claim's own row)."""

    __slots__ = ("rules", "key", "results", "audit")
    LIMIT = 50_000  # combinations remembered per memo
    AUDITED = 20  # first runs of a memo with plugin rules whose reads are recorded (readcheck)

    def __init__(self, fields: tuple[str, ...], rules: list[Rule], audit: int = 0):
        self.rules = rules
        self.key = _key_of(fields)
        self.results: dict[object, tuple[Finding, ...]] = {}
        # Runs still to check against the rules' reads: -1 always (checking mode), 0 never.
        self.audit = audit


@dataclass(slots=True, eq=False)
class ClaimResult:
    """What the outputs need of a validated claim: where it is and what was found. With its
    date of service and procedures, what the NCCI parts read across claims: the result is all a
    claim is kept as until the end of the workbook."""

    claim_id: str
    rows: tuple[int, ...]
    payer: str
    patient_id: str
    findings: list[Finding]
    dos: Any = None  # datetime.date, or None when blank or unreadable
    procedures: tuple = ()

    @property
    def row(self) -> int | None:
        return self.rows[0] if self.rows else None

    @property
    def status(self) -> str:
        return status_of(self.findings)


class Validator:
    """Validates claims with the built-in rules and the configured plugins."""

    def __init__(self, config: Config | None = None, host: PluginHost | None = None,
                 profile: bool = False, check_reads: bool = False):
        self.config = config or Config()
        self.host = host or load_plugins(self.config.plugin_dirs,
                                         import_seconds=self.config.settings.get("plugin_import_seconds", 30))
        # Settings of the loaded plugins are typed as strictly as the core's (ConfigError).
        declared = {key: (value, p.name) for p in self.host.plugins.values() for key, value in p.settings.items()}
        check_plugin_settings(self.config, declared)
        # Now every setting is known, a key nobody declares is a misspelling (ConfigError);
        # unless a configured plugin is missing or failed: that is said, its keys cannot be known.
        if not plugin_problems(self.config, self.host):
            check_setting_names(self.config, {*DEFAULT_SETTINGS, *declared},
                                failed=[f.name for f in self.host.failures])
            if not self.host.failures:  # a plugin that failed to load: its rule IDs are not known
                check_rule_ids(self.config, {*(r.id for r in self.host.rules), UNREADABLE_CELL,
                                             RULE_FAILED, UNUSED_CODES})
        self._plans: dict[str, _Plan] = {}
        self._memos: dict[tuple[str, tuple[str, ...]], _Memo] = {}  # (plan signature, rule IDs) -> memo
        self.profile: dict[str, list[float]] | None = defaultdict(lambda: [0.0, 0]) if profile else None
        self.skipped: dict[str, tuple[str, ...]] = {}  # rule ID -> missing columns
        self.unavailable: dict[str, str] = {}  # rule ID -> why its data is not loaded (NCCI)
        # The plugin rule running (None between plugin rules) and a count of plugin rule calls:
        # the watchdog sees a call outlive its ticks without a clock read per call.
        self._running: Rule | None = None
        self._calls = 0
        # Checking mode (the case runner): every rule with reads is held to them on every run.
        # Otherwise only plugin rules, on their memo's first runs. A rule caught reading more
        # is listed here and its findings are no longer reused.
        self.check_reads = check_reads
        self.reads_violations: list[ReadsViolation] = []
        self._no_reuse: set[str] = set()  # IDs of rules that broke their reads
        # Rules (and pair policies) stopped by the watchdog, switched off for the rest of the
        # run: ID -> what happened the time it was stopped (row, limit). Each later claim the
        # rule would have checked gets an E102 saying it was not checked.
        self.switched_off: dict[str, str] = {}

    @contextlib.contextmanager
    def watchdog(self, seconds: float | None = None):
        """Stop a plugin rule that runs longer than ``seconds`` (an endless loop), as a failure.

        A timer signal checks, a few times per limit (at least once a second), whether the same
        plugin rule call is still running, and since when. Only where signals can do that: the
        main thread, on systems with ``setitimer`` (the command line on Linux and macOS);
        elsewhere this does nothing.
        """
        limit = float(seconds if seconds is not None else self.config.settings.get("plugin_rule_seconds", 10))
        if limit <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
            yield
            return

        seen = [-1, 0.0]  # the call seen running at the last tick, and when it was first seen

        def check(_signum, _frame):
            if self._running is None or self._calls != seen[0]:
                seen[0], seen[1] = self._calls, time.monotonic()  # a new call: its clock starts
            elif time.monotonic() - seen[1] > limit:
                self._running = None
                raise RuleTimeout(f"it ran for more than {limit:g} s and was stopped")

        tick = min(1.0, limit / 4)
        previous = signal.signal(signal.SIGALRM, check)
        signal.setitimer(signal.ITIMER_REAL, tick, tick)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, previous)

    # --- public API -----------------------------------------------------------------
    def validate_claim(self, claim: Claim) -> list[Finding]:
        """Claim-scope findings for one claim (batch rules need a batch: use run())."""
        plan = self._plan_for(claim.payer)
        return self._run_claim_rules(plan, claim)

    def header_map(self, header_row) -> HeaderMap:
        """The header row read with this configuration's ``[columns]`` and ``date_order``."""
        if isinstance(header_row, HeaderMap):
            return header_row
        return HeaderMap.from_row(header_row, self.config.columns, self.config.date_order)

    def validate_rows(self, header_row, rows, first_row: int = 2) -> list[ClaimResult]:
        """Every claim of a sheet, batch rules included."""
        rows = rows if isinstance(rows, list) else list(rows)
        header = self.header_map(header_row).settle_date_order(rows, first_row)
        with collector_paused():
            run = self.run()
            results = [run.add(claim) for claim in claims_from_rows(header, rows, first_row)]
            run.finish()
        return results

    def validate_row(self, header_row, row, row_number: int | None = None) -> list[Finding]:
        header = self.header_map(header_row).settle_date_order([row], row_number or 2)
        return self.validate_claim(parse_row(header, row, row_number))

    def run(self) -> "BatchRun":
        return BatchRun(self)

    def settings_in_use(self) -> list[dict[str, Any]]:
        """The settings of every payer seen so far (the defaults when none): which NCCI files
        were in force, for the outputs."""
        plans = list({id(p): p for p in self._plans.values()}.values()) or [self._plan_for("")]
        return [p.settings for p in plans]

    def in_batch(self, claim: Claim) -> bool:
        """True when a batch rule (a check across claims, like history) would see this claim."""
        plan = self._plan_for(claim.payer)
        return bool(plan.batch) and bool(self.batch_rules_for(plan, claim))

    # --- plans ----------------------------------------------------------------------
    def _plan_for(self, payer: str) -> _Plan:
        plan = self._plans.get(payer)  # the payer cell as written: one lookup per claim
        if plan is None:
            key = payer.strip().lower()
            plan = self._plans.get(key) or self._make_plan(key)
            self._plans[key] = self._plans[payer] = plan
        return plan

    def _make_plan(self, payer: str) -> _Plan:
        cfg = self.config
        policy = cfg.payer_policy(payer)
        enabled = {n for n, p in self.host.plugins.items() if p.builtin}
        enabled.update(cfg.plugins)
        select, ignore = list(cfg.select), list(cfg.ignore)
        severity = dict(cfg.severity)
        settings = {**self.host.default_settings, **cfg.settings}
        if policy:
            enabled.update(policy.plugins)
            select += policy.select
            ignore += policy.ignore
            severity.update(policy.severity)
            settings.update(policy.settings)
        always, batch = [], []
        by_code: dict[str, list[Rule]] = defaultdict(list)
        by_prefix: dict[str, list[Rule]] = defaultdict(list)
        order = {}
        for index, rule in enumerate(self.host.rules):
            order[rule.id] = index
            if rule.plugin not in enabled or not rule_selected(rule.id, select, ignore):
                continue
            if rule.payers and not _payer_allowed(rule.payers, payer, policy):
                continue
            if rule.setting and not settings.get(rule.setting):
                continue
            if rule.available is not None:
                missing = rule.available(settings)
                if missing:  # its data is not loaded: said once in every output, not per claim
                    self.unavailable.setdefault(rule.id, missing)
                    continue
            if rule.scope == "batch":
                batch.append(rule)
            elif rule.always:
                always.append(rule)
            else:
                for code in rule.procedures:
                    by_code[code].append(rule)
                for prefix in rule.dx_prefixes:
                    by_prefix[prefix].append(rule)
        lengths = tuple(sorted({len(p) for p in by_prefix}))
        plan = _Plan(payer, policy, settings, severity, frozenset(enabled), always, dict(by_code),
                     dict(by_prefix), lengths, batch, order)
        plan.batch_untriggered = all(r.always for r in batch)
        plan.batch_by_result = plan.batch_untriggered and all(
            r.group_by and _grouping((r.reads, r.group_by)).by_result for r in batch)
        plan.by_id = {r.id: r for group in (*by_code.values(), *by_prefix.values()) for r in group}
        plan.pair_policies = self.host.implementations("xlsheets_pair_policy", plan.plugins)
        plan.context = Context(self, plan)
        plan.enabled = frozenset(r.id for r in (*always, *plan.by_id.values(), *batch))
        # A rule may defer to another (C111 to N503 when the AOC file is loaded): payers that
        # run different rules do not share remembered findings.
        plan.signature = repr((sorted(settings.items()), sorted(severity.items()), sorted(plan.enabled)))
        return plan

    def _candidates(self, plan: _Plan, claim: Claim) -> tuple[list[_Memo], list[Rule]]:
        """Rules that can fire on this claim, those with ``reads`` apart; cached by the claim's
        codes (sheets repeat combinations), and prepared once per set of triggered rules."""
        key = (tuple(map(_CODE, claim.procedures)), claim.diagnoses, claim.present)
        hit = plan.candidates.get(key)
        if hit is None:
            if len(plan.candidates) > 50_000:
                plan.candidates.clear()
            triggered = self._triggered_ids(plan, claim)
            hit = plan.rule_sets.get((triggered, claim.present))
            if hit is None:
                hit = plan.rule_sets[(triggered, claim.present)] = self._prepare(plan, triggered, claim.present)
            plan.candidates[key] = hit
        return hit

    def _triggered_ids(self, plan: _Plan, claim: Claim) -> tuple[str, ...]:
        """IDs of the triggered rules (besides those that always run), in a fixed order."""
        extra: set[str] = set()
        if plan.by_code:
            for proc in claim.procedures:
                for rule in plan.by_code.get(proc.code, ()):
                    extra.add(rule.id)
        if plan.by_prefix:
            for dx in claim.diagnoses:
                for n in plan.prefix_lengths:
                    for rule in plan.by_prefix.get(dx[:n], ()):
                        extra.add(rule.id)
        return tuple(sorted(extra))

    def _prepare(self, plan: _Plan, triggered: tuple[str, ...], present: frozenset[str]):
        """(memos, rules) for a set of triggered rules: in catalogue order, without the rules
        whose columns the sheet lacks, and the rules with ``reads`` grouped into memos."""
        rules = []
        for rule in sorted(plan.always + [plan.by_id[i] for i in triggered], key=lambda r: plan.order[r.id]):
            if rule.needs and not present.issuperset(rule.needs):
                # The sheet lacks a column the rule reads: the fact is unknown, stay silent.
                self.skipped.setdefault(rule.id, tuple(c for c in rule.needs if c not in present))
            else:
                rules.append(rule)
        memos = []
        if self.profile is None:  # a profile times every rule on every claim
            groups: dict[tuple[str, ...], list[Rule]] = {}
            no_reuse = self._no_reuse
            for rule in rules:
                if rule.reads and rule.id not in no_reuse:
                    groups.setdefault(rule.reads, []).append(rule)
            for fields, group in groups.items():
                ids = tuple(r.id for r in group)
                memo = self._memos.get((plan.signature, ids))
                if memo is None:
                    audit = -1 if self.check_reads else _Memo.AUDITED if not all(r.trusted for r in group) else 0
                    memo = self._memos[(plan.signature, ids)] = _Memo(fields, group, audit)
                memos.append(memo)
            rules = [r for r in rules if not r.reads or r.id in no_reuse]
        return memos, rules

    # --- running --------------------------------------------------------------------
    def _run_claim_rules(self, plan: _Plan, claim: Claim) -> list[Finding]:
        claim.freeze()
        findings: list[Finding] = list(claim.problems)
        ctx = plan.context
        ctx._claim = claim
        ctx._extra = ()
        memos, rules = self._candidates(plan, claim)
        reused = False
        rows = claim.rows
        for memo in memos:
            found = memo.results.get(memo.key(claim)) if len(rows) <= 1 else None
            if found is None:
                found = self._run_memo(memo, ctx, claim)
            elif found and found[0].rows != rows:
                found = [f._replace(rows=rows) for f in found]  # another claim's findings, moved here
            if found:
                findings.extend(found)
                reused = True
        self._run_rules(rules, ctx, claim, findings)
        if ctx._extra:
            findings.extend(ctx._extra)
        if reused and len(findings) > len(claim.problems) + 1:
            findings.sort(key=lambda f: plan.order.get(f.rule, -1))  # catalogue order, as if run in turn
        return findings

    def _run_rules(self, rules: list[Rule], ctx: Context, claim: Claim, findings: list[Finding]) -> None:
        if self.profile is not None:
            for rule in rules:
                ctx.rule = rule
                findings.extend(self._call_timed(rule, ctx, claim))
            return
        for rule in rules:
            ctx.rule = rule
            if rule.trusted:
                # Built-in rules: no type or mutation guard; failures are still isolated.
                try:
                    out = rule.check(claim, ctx)  # a list, a generator, or None
                    if out:
                        findings.extend(out)
                except Exception as exc:
                    findings.append(self._failure(rule, exc, claim))
                continue
            # Plugin rules: the guards of _call_timed, inline (this runs for every claim).
            if rule.id in self.switched_off:
                findings.append(self._not_checked(rule, claim))
                continue
            self._calls += 1
            self._running = rule
            try:
                out = rule.check(claim, ctx)
                if out is not None:
                    out = list(out)
                    for item in out:
                        if type(item) is not Finding:
                            raise _not_a_finding(item)
                    findings.extend(out)
            except Exception as exc:  # includes RecursionError and RuleTimeout
                findings.append(self._failure(rule, exc, claim))
            self._running = None

    def _run_memo(self, memo: _Memo, ctx: Context, claim: Claim) -> list[Finding]:
        """Run the rules of a memo and remember their findings for claims with the same fields
        (the reuse itself is in _run_claim_rules)."""
        if memo.audit:
            return self._run_memo_checked(memo, ctx, claim)
        rows = claim.rows
        found: list[Finding] = []
        if len(rows) > 1:  # findings of a multi-row claim may point at single rows: not reusable
            self._run_rules(memo.rules, ctx, claim, found)
            return found
        ctx._asked = False
        self._run_rules(memo.rules, ctx, claim, found)
        # Not reusable: a plugin's pair policy decided (it may read anything), or a finding
        # points at other rows than the claim's.
        if not ctx._asked and all(f.rows == rows for f in found):
            if len(memo.results) >= memo.LIMIT:
                memo.results.clear()
            memo.results[memo.key(claim)] = tuple(found)
        return found

    def _run_memo_checked(self, memo: _Memo, ctx: Context, claim: Claim) -> list[Finding]:
        """_run_memo, one rule at a time, recording what each rule (all of them in checking
        mode, else the plugin rules) reads of the claim. A rule that read outside its reads is
        reported and no longer reused; this run's findings are not remembered."""
        if memo.audit > 0:
            memo.audit -= 1
        rows = claim.rows
        found: list[Finding] = []
        asked = False
        broken: list[ReadsViolation] = []
        for rule in memo.rules:
            ctx._asked = False
            if rule.trusted and not self.check_reads:
                self._run_rules([rule], ctx, claim, found)
            else:
                seen = readcheck.record(claim, rule, lambda: self._run_rules([rule], ctx, claim, found), ctx)
                if not ctx._asked:  # a run that asked a pair policy is never reused
                    broken += readcheck.violations(rule, seen)
            asked = asked or ctx._asked
        ctx._asked = asked
        if broken:
            self._reads_broken(broken, claim, found)
        elif len(rows) <= 1 and not asked and all(f.rows == rows for f in found):
            if len(memo.results) >= memo.LIMIT:
                memo.results.clear()
            memo.results[memo.key(claim)] = tuple(found)
        return found

    def _reads_broken(self, broken: list[ReadsViolation], claim: Claim, found: list[Finding]) -> None:
        """Rules that read outside their reads: listed, run for every claim from now on, and,
        outside checking mode (where the case runner reports them), said on this claim."""
        known = {(v.rule, v.kind, v.field) for v in self.reads_violations}
        new = [v for v in broken if (v.rule, v.kind, v.field) not in known]
        self.reads_violations += new
        rules = {v.rule for v in broken} - self._no_reuse
        if rules:
            self._no_reuse |= rules
            for plan in self._plans.values():  # prepared again, without reusing these rules
                plan.candidates.clear()
                plan.rule_sets.clear()
            self._memos = {k: m for k, m in self._memos.items() if not rules.intersection(k[1])}
        if self.check_reads:
            return
        by_rule: dict[str, list[ReadsViolation]] = {}
        for v in new:
            by_rule.setdefault(v.rule, []).append(v)
        for rule_id, said in by_rule.items():
            found.append(Finding(
                rule=rule_id, severity=Severity.INFO,
                message=(f"The plugin's {'. Also '.join(v.message() for v in said)}. xlsheets now runs "
                         f"{rule_id} on every claim instead of reusing its findings, so this and the "
                         "other claims were checked as written; tell whoever maintains the plugin."),
                suggestion="fix the plugin's reads", reference=said[0].source, rows=claim.rows,
                brief=f"{rule_id} reads more than it declares"))

    def batch_rules_for(self, plan: _Plan, claim: Claim) -> list[Rule]:
        """Batch rules whose triggers this claim matches (cached like the claim rules)."""
        if plan.batch_untriggered:
            return plan.batch
        key = (tuple(map(_CODE, claim.procedures)), claim.diagnoses)
        rules = plan.batch_candidates.get(key)
        if rules is None:
            if len(plan.batch_candidates) > 50_000:
                plan.batch_candidates.clear()
            rules = plan.batch_candidates[key] = [r for r in plan.batch if _triggered(r, claim)]
        return rules

    def _call_timed(self, rule: Rule, ctx: Context, claim: Claim) -> list[Finding]:
        """One rule with every guard, its time added to the profile (``--profile``)."""
        if rule.id in self.switched_off:
            return [self._not_checked(rule, claim)]
        start = time.perf_counter()
        try:
            self._calls += 1
            self._running = rule
            produced = rule.check(claim, ctx)
            out = [] if produced is None else list(produced)
            self._running = None
            for item in out:
                if type(item) is not Finding:
                    raise _not_a_finding(item)
        except Exception as exc:  # includes RecursionError and RuleTimeout
            self._running = None
            out = [self._failure(rule, exc, claim)]
        slot = self.profile[rule.id]
        slot[0] += time.perf_counter() - start
        slot[1] += 1
        return out

    def _switch_off(self, rule_id: str, exc: BaseException, claim: Claim | None) -> None:
        """After its first timeout a rule (or pair policy) runs no more in this run: each call
        would wait the whole limit again (10,000 claims x 10 s is 28 hours)."""
        if rule_id in self.switched_off:
            return
        row = f" on row {claim.rows[0]}" if claim is not None and claim.rows else ""
        self.switched_off[rule_id] = f"it was stopped{row} ({exc})"
        self._no_reuse.add(rule_id)  # remembered findings would hide that it no longer runs
        for plan in self._plans.values():
            plan.candidates.clear()
            plan.rule_sets.clear()
        self._memos = {k: m for k, m in self._memos.items() if rule_id not in k[1]}

    def _not_checked(self, rule: Rule, claim: Claim) -> Finding:
        plugin = self.host.plugin_of(rule)
        owner = f"plugin {rule.plugin} ({plugin.source})" if plugin and not plugin.builtin else "xlsheets"
        return Finding(
            rule=RULE_FAILED, severity=self._failure_severity(claim),
            message=(f"Rule {rule.id} of {owner} did not check this claim: {self.switched_off[rule.id]}, "
                     "so it was switched off for the rest of the run. This claim was not fully "
                     f"checked by {rule.id}; the other rules ran. Fix the plugin, or add \"{rule.id}\" "
                     "to ignore in the configuration."),
            codes=(), suggestion=f"fix or ignore {rule.id}", reference=rule.source,
            rows=claim.rows, brief=f"rule {rule.id} not run (switched off)")

    def _failure(self, rule: Rule, exc: BaseException, claim: Claim | None) -> Finding:
        plugin = self.host.plugin_of(rule)
        owner = f"plugin {rule.plugin} ({plugin.source})" if plugin and not plugin.builtin else "xlsheets"
        where = where_of(exc, rule)
        if isinstance(exc, RuleTimeout):
            self._switch_off(rule.id, exc, claim)
            what = (f"was stopped: {where}{exc}. It is switched off for the rest of the run (the "
                    "claims it would have checked say so)")
        elif isinstance(exc, ClaimIsReadOnly) or _is_mutation(exc):
            what = f"tried to change the claim it was given ({where}{_short(exc)}); rules may only read it"
        else:
            what = f"failed: {where}{type(exc).__name__}: {_short(exc)}"
        return Finding(
            rule=RULE_FAILED,
            severity=self._failure_severity(claim),
            message=(f"Rule {rule.id} of {owner} {what}. This claim was not fully checked by "
                     f"{rule.id}; the other rules ran. To silence it, add \"{rule.id}\" to ignore "
                     "in the configuration or fix the plugin."),
            codes=(),
            suggestion=f"fix or ignore {rule.id}",
            reference=rule.source,
            rows=claim.rows if claim is not None else (),
            brief=f"rule {rule.id} failed",
        )

    def _failure_severity(self, claim: Claim | None) -> Severity:
        """E102's severity: error (the claim was not fully checked) unless the configuration
        lowers it, ``[severity] E102 = ...`` at the top level or in the claim's payer section."""
        severity = (self._plan_for(claim.payer) if claim is not None else None)
        table = severity.severity if severity is not None else self.config.severity
        return table.get(RULE_FAILED, Severity.ERROR)

    def _pair_policy(self, ctx: Context, code_a: str, code_b: str, claim: Claim) -> str | None:
        plan = ctx._plan
        for name, func in plan.pair_policies:
            ctx._asked = True
            key = f"pair policy of {name}"
            if key in self.switched_off:
                ctx._extra += (self._hook_failure(name, func, None, claim),)
                continue
            running = self._running
            self._calls += 1
            self._running = ctx.rule  # the watchdog stops a pair policy that hangs, too
            try:
                answer = func(code_a=code_a, code_b=code_b, claim=claim, settings=plan.settings)
            except Exception as exc:  # the others still decide; the author learns what broke
                if isinstance(exc, RuleTimeout):
                    self._switch_off(key, exc, claim)
                ctx._extra += (self._hook_failure(name, func, exc, claim),)
                continue
            finally:
                self._calls += 1
                self._running = running
            if answer is None:
                continue
            text = str(answer).strip().lower()
            if text in _PAIR_ANSWERS:
                return text
            # An answer that is none of the three is a plugin bug, said like a failure.
            ctx._extra += (self._hook_failure(name, func, None, claim, answer=answer),)
        return None

    def _hook_failure(self, plugin_name: str, func, exc: BaseException | None, claim: Claim,
                      answer: object = None) -> Finding:
        """E102 for a pair policy that failed (``exc``), that gave an ``answer`` that is not
        allow, deny, review or None, or that was switched off (neither)."""
        plugin = self.host.plugins.get(plugin_name)
        source = plugin.source if plugin else plugin_name
        if answer is not None:
            what = (f"answered {_short(answer)!r}, which is not one of \"allow\", \"deny\", \"review\" "
                    f"or None ({func.__code__.co_filename}, function {func.__name__})")
        elif exc is None:
            what = (f"was not asked: {self.switched_off[f'pair policy of {plugin_name}']}, so it was "
                    "switched off for the rest of the run")
        else:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == func.__code__.co_filename]
            where = f"{frames[-1].filename}, line {frames[-1].lineno}: " if frames else ""
            what = f"failed: {where}{type(exc).__name__}: {_short(exc)}"
            if isinstance(exc, RuleTimeout):
                what += "; it is switched off for the rest of the run"
        return Finding(
            rule=RULE_FAILED, severity=self._failure_severity(claim),
            message=(f"The pair policy of plugin {plugin_name} ({source}) {what}. Its answer was "
                     "ignored; the other plugins and the default decided."),
            suggestion=f"fix plugin {plugin_name}", reference=f"{func.__code__.co_filename}:{func.__code__.co_firstlineno}",
            rows=claim.rows, brief=f"plugin {plugin_name} failed")

    def _run_batch_rule(self, rule: Rule, plan: _Plan, claims: list[Claim]):
        if rule.id in self.switched_off:
            return [(c, self._not_checked(rule, c)) for c in claims]
        ctx = Context(self, plan)
        ctx.rule = rule
        try:
            self._calls += 1
            self._running = None if rule.trusted else rule
            pairs = list(rule.check(claims, ctx) or [])
            self._running = None
            for pair in pairs:
                if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], Finding)):
                    raise TypeError(f"a batch rule must yield (claim, finding) pairs, not {_short(pair)!r}")
            return pairs
        except Exception as exc:
            # The rule checks its claims together: none of them was checked by it.
            self._running = None
            first = [(c, self._failure(rule, exc, c)) for c in claims[:1]]
            if isinstance(exc, RuleTimeout):  # now switched off: the others say so
                return first + [(c, self._not_checked(rule, c)) for c in claims[1:]]
            failed = first[0][1]
            return first + [(c, failed._replace(rows=c.rows, severity=self._failure_severity(c))) for c in claims[1:]]


class BatchRun:
    """One workbook's validation: claim rules as claims stream in, batch rules at the end."""

    def __init__(self, validator: Validator):
        self.validator = validator
        self._pending: dict[str, tuple[Rule, _Plan, list[Claim]]] = {}
        self._results: dict[int, ClaimResult] = {}
        # (reads, group_by) -> ([results], [rests] or None), in the order added: the claims a
        # grouped rule may see. A rest is what the rule reads that the result lacks (None: the
        # result holds it all). Groups are found in finish(), once it is known which share.
        self._groups: dict[tuple, tuple[list, list | None]] = {}
        self._keep_result: dict[_Plan, Any] = {}  # plan with batch_by_result -> what keeps a result
        self._views: dict[tuple, list] = {}  # (reads, group_by) -> views of the grouped claims
        self._recipes: dict[int, tuple] = {}  # id(list of batch rules) -> what _keep does (_recipe)
        self._last_held: Claim | None = None  # the claim just added, when a batch rule kept it
        self._last_rules: list[Rule] = []  # and the batch rules it met (for holds())
        self.changed: set[int] = set()  # after finish(): ids of the results it changed

    def add(self, claim: Claim) -> ClaimResult:
        """Validate one claim with the claim rules and keep it for the batch rules."""
        v = self.validator
        plan = v._plan_for(claim.payer)
        result = ClaimResult(claim.claim_id, claim.rows, claim.payer, claim.patient_id,
                             v._run_claim_rules(plan, claim), claim.dos, claim.procedures)
        if plan.batch:
            if plan.batch_by_result:  # the NCCI parts: one append per claim, nothing to copy
                (self._keep_result.get(plan) or self._result_keeper(plan))(result)
                self._last_held, self._last_rules = claim, plan.batch
            else:
                self._keep(plan, claim, result, v.batch_rules_for(plan, claim))
        return result

    def add_checked(self, claim: Claim, findings: Iterable[Finding]) -> ClaimResult | None:
        """A claim whose claim rules already ran (a worksheet recalculating rows it saw before):
        only the batch rules still need it. Returns its result when a batch rule may add to it,
        else None (the caller's findings are complete)."""
        plan = self.validator._plan_for(claim.payer)
        rules = self.validator.batch_rules_for(plan, claim.freeze()) if plan.batch else ()
        if not rules:
            return None
        result = ClaimResult(claim.claim_id, claim.rows, claim.payer, claim.patient_id, list(findings),
                             claim.dos, claim.procedures)
        self._keep(plan, claim, result, rules)
        return result

    def _keep(self, plan: _Plan, claim: Claim, result: ClaimResult, rules: list[Rule]) -> None:
        """Keep the claim (or what its batch rules read of it) until finish().

        This runs on every claim of a workbook, so what can be decided per list of rules is
        decided once (_recipe) and a claim only does the appends.
        """
        recipe = self._recipes.get(id(rules))
        if recipe is None:
            recipe = self._recipe(plan, rules)
        _rules, whole, views, grouped = recipe
        held = None
        if whole:
            self._results[id(claim)] = held = result
            for kept in whole:
                kept.append(claim)
        for cls, fields_of, lists in views:
            view = tuple.__new__(cls, fields_of(claim))  # only the fields the rules read
            self._results[id(view)] = held = result
            for kept in lists:
                kept.append(view)
        for grouping, keep_result, keep_rest in grouped:
            keep_result(result)
            if keep_rest is not None:
                keep_rest(grouping.rest_of(claim))
            held = result
        self._last_held = claim if held is not None else None
        self._last_rules = rules

    def _result_keeper(self, plan: _Plan):
        """What add() calls with each result of a batch_by_result plan: its rules are pending
        from now on (the first claim's plan runs a rule, as in _recipe), and the result is
        appended to the groups of each (reads, group_by) they read."""
        grouped = (self._recipes.get(id(plan.batch)) or self._recipe(plan, plan.batch))[3]
        appends = [keep_result for _grouping, keep_result, _keep_rest in grouped]
        keep = appends[0] if len(appends) == 1 else (lambda result: [a(result) for a in appends])
        self._keep_result[plan] = keep
        return keep

    def _recipe(self, plan: _Plan, rules: list[Rule]) -> tuple:
        """What _keep does for a claim meeting ``rules``: the pending lists that take the whole
        claim, the views to make (one per reads, appended to every rule reading those fields),
        and the groups to append to (one per (reads, group_by)). Made once per list of rules
        (the lists are cached per plan) until finish(); the recipe holds the list, so its id is
        not reused while the recipe is."""
        whole, views, grouped = [], {}, {}
        for rule in rules:
            kept = self._pending.get(rule.id)
            if kept is None:  # the first claim's plan runs the rule, as before
                kept = self._pending[rule.id] = (rule, plan, [])
            if not rule.reads:
                whole.append(kept[2])
                continue
            spec = (rule.reads, rule.group_by)
            if rule.group_by:
                if spec not in grouped:
                    grouping = _grouping(spec)
                    results, rests = self._groups.setdefault(spec, ([], None if grouping.by_result else []))
                    grouped[spec] = (grouping, results.append, None if rests is None else rests.append)
            else:
                _key_of, fields_of, cls = _keeping(spec)
                views.setdefault(spec, (cls, fields_of, []))[2].append(kept[2])
        recipe = self._recipes[id(rules)] = (rules, tuple(whole), tuple(views.values()), tuple(grouped.values()))
        return recipe

    def _grouped(self, spec) -> list:
        """Views of the claims that share a group with another claim, in sheet order (made once
        per (reads, group_by), for every rule that asks)."""
        made = self._views.get(spec)
        if made is None:
            grouping = _grouping(spec)
            cls = _keeping(spec)[2]
            results, rests = self._groups.get(spec) or ([], None)
            made = []
            for index in grouping.shared(results, rests):
                result = results[index]
                view = tuple.__new__(cls, grouping.fields_of(result, None if rests is None else rests[index]))
                self._results[id(view)] = result
                made.append(view)
            made.sort(key=_first_row)
            self._views[spec] = made
        return made

    def _runs(self, rule: Rule, claim) -> bool:
        """Whether the payer of ``claim`` (or a view of it) runs ``rule`` (plans are cached)."""
        return rule in self.validator._plan_for(claim.payer).batch

    def holds(self, claim: Claim) -> bool:
        """True when a batch rule may still append findings to the result of ``claim``, the
        claim just added (the caller then holds the result back until finish()). A claim kept
        only for grouped rules is not held when its group key has a blank: it shares nothing."""
        if claim is not self._last_held:
            return False
        _rules, whole, views, grouped = self._recipes[id(self._last_rules)]
        return bool(whole or views) or any(_filled(kept[0].key_of(claim)) for kept in grouped)

    def finish(self) -> list[tuple[ClaimResult, Finding]]:
        """Run batch rules; their findings are appended to the results already returned.

        ``changed`` then holds the ids of the results finish() changed (findings added, or a
        claim part's findings settled by a ``group_decides`` part): a caller that stored the
        others before need not store them again."""
        added = []
        changed = self.changed = set()
        # One run per rule over every payer it is enabled for: a patient's history spans them;
        # ctx.settings_for(claim) gives each claim's own payer settings.
        for rule, plan, claims in self._pending.values():
            if rule.group_by:  # only the claims that share a group with another claim
                # Groups are shared by every rule reading the same fields: a claim whose payer
                # does not run this rule is seen (its codes count), never reported on.
                claims = self._grouped((rule.reads, rule.group_by))
                if not claims:
                    continue
                if rule.group_decides:  # this part's findings replace the claim part's
                    for claim in claims:
                        if not self._runs(rule, claim):
                            continue
                        result = self._results[id(claim)]
                        kept = [f for f in result.findings if f.rule != rule.id]
                        if len(kept) != len(result.findings):
                            result.findings = kept
                            changed.add(id(result))
            for claim, finding in self.validator._run_batch_rule(rule, plan, claims):
                result = self._results.get(id(claim))
                if result is not None and self._runs(rule, claim):
                    result.findings.append(finding)
                    added.append((result, finding))
                    changed.add(id(result))
        self._last_held, self._last_rules = None, []
        self._pending.clear()
        self._results.clear()
        self._groups.clear()
        self._views.clear()
        self._recipes.clear()
        self._keep_result.clear()
        return added


def _first_row(claim) -> int:
    return claim.rows[0] if claim.rows else 0


_VIEW_FIELDS = ("claim_id", "patient_id", "payer", "rows")
_KEEPING: dict[tuple, tuple] = {}


def _keeping(spec: tuple[tuple[str, ...], tuple[str, ...]]):
    """(group key getter, fields getter, view class) for a batch rule's (reads, group_by). A view is
    a named tuple of the fields the rule reads, kept to the end of the workbook instead of the
    claim."""
    made = _KEEPING.get(spec)
    if made is None:
        reads, group_by = spec
        fields = _VIEW_FIELDS + tuple(f for f in reads if f not in _VIEW_FIELDS)
        cls = NamedTuple("ClaimView", [(f, object) for f in fields])
        get = operator.attrgetter(*fields)
        key_of = _tuple_getter(group_by) if group_by else None
        made = _KEEPING[spec] = (key_of, get, cls)
    return made


_RESULT_FIELDS = ("claim_id", "patient_id", "payer", "rows", "dos", "procedures")  # a ClaimResult's


class _Grouping:
    """How claims are kept for a grouped batch rule's (reads, group_by), and grouped at the end.

    A claim is kept as its result plus its rest: the fields the rule reads or groups by that
    a ClaimResult does not hold (none for the NCCI parts: the result alone is kept). finish()
    finds the claims whose key another claim has too, and only for those puts a view together.
    """

    def __init__(self, spec: tuple[tuple[str, ...], tuple[str, ...]]):
        reads, group_by = spec
        key_of, _fields_of, cls = _keeping(spec)
        fields = cls._fields
        rest = tuple(dict.fromkeys(f for f in (*fields, *group_by) if f not in _RESULT_FIELDS))
        self.key_of = key_of  # claim -> key
        self.by_result = not rest
        self.rest_of = _tuple_getter(rest) if rest else None
        at = {f: (True, f) if f in _RESULT_FIELDS else (False, rest.index(f)) for f in (*fields, *group_by)}
        self._fields = tuple(at[f] for f in fields)
        self._key = tuple(at[f] for f in group_by)
        if self.by_result:  # attribute getters, in C
            self.fields_of = lambda result, rest, get=operator.attrgetter(*fields): get(result)
            self._keys = lambda results, rests, get=_tuple_getter(group_by): map(get, results)
        else:
            self.fields_of = lambda result, rest: self._pick(self._fields, result, rest)
            self._keys = lambda results, rests: map(lambda r, s: self._pick(self._key, r, s), results, rests)

    @staticmethod
    def _pick(source: tuple, result: ClaimResult, rest: tuple) -> tuple:
        return tuple(getattr(result, f) if on_result else rest[f] for on_result, f in source)

    def shared(self, results: list, rests: list | None) -> list[int]:
        """Indexes of the kept claims whose key (with no blank) another claim has too, in the
        order added. In C but for the few that share: a dict of each key's last index, whose
        values miss exactly the claims with a key seen again later."""
        keys = list(self._keys(results, rests))
        last = dict(zip(keys, range(len(keys))))
        if len(last) == len(keys):
            return []
        shared = {i for i in set(range(len(keys))).difference(last.values()) if _filled(keys[i])}
        shared.update([last[keys[i]] for i in shared])
        return sorted(shared)


def _tuple_getter(names: tuple[str, ...]):
    """object -> the tuple of those attributes (operator.attrgetter, but a tuple for one name too)."""
    return operator.attrgetter(*names) if len(names) > 1 else (lambda obj, f=names[0]: (getattr(obj, f),))


def _filled(key: tuple) -> bool:
    """A group key with no blank part: a blank patient or date shares nothing."""
    return all(key)


_GROUPING: dict[tuple, _Grouping] = {}


def _grouping(spec: tuple[tuple[str, ...], tuple[str, ...]]) -> _Grouping:
    made = _GROUPING.get(spec)
    if made is None:
        made = _GROUPING[spec] = _Grouping(spec)
    return made


@contextlib.contextmanager
def collector_paused():
    """Pause Python's cycle collector during one bounded piece of work (a sheet in memory).

    Validating makes many small objects that form no cycles, and batch rules keep claims alive
    until the end; the collector would walk them again and again (a quarter of the time of a
    10,000-row table). Whatever is collectable is collected after the work, as usual. Not for
    streaming a file of unknown size: there garbage with cycles (a plugin's) would pile up.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _key_of(fields: tuple[str, ...]):
    """A function: claim -> the values of ``fields`` (claim attributes, then facts), hashable."""
    attributes = tuple(f for f in fields if f in READABLE_FIELDS)
    facts = tuple(f for f in fields if f not in READABLE_FIELDS)
    if not facts:
        return operator.attrgetter(*attributes)
    get = operator.attrgetter(*attributes) if attributes else (lambda claim: None)
    return lambda claim: (get(claim), *map(claim.facts.get, facts))


def _not_a_finding(item: object) -> TypeError:
    return TypeError(f"it returned {type(item).__name__} {_short(item)!r}, not a finding made "
                     "with ctx.finding(...)")


def _triggered(rule: Rule, claim: Claim) -> bool:
    if rule.always:
        return True
    if rule.procedures and any(p.code in rule.procedures for p in claim.procedures):
        return True
    return bool(rule.dx_prefixes) and any(d.startswith(rule.dx_prefixes) for d in claim.diagnoses)


def _payer_allowed(patterns: tuple[str, ...], payer: str, policy: PayerPolicy | None) -> bool:
    names = {payer} | ({policy.name.lower()} if policy else set())
    return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)


def _is_mutation(exc: BaseException) -> bool:
    """Errors raised by trying to change a read-only claim's tuples or mapping."""
    text = str(exc)
    return isinstance(exc, (TypeError, AttributeError)) and (
        "'mappingproxy' object" in text or ("'tuple' object" in text and ("assignment" in text or "attribute" in text)))


def _short(value: object, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
