"""N5xx: CMS NCCI edits: procedure pairs (PTP), units (MUE) and add-on codes (AOC).

The edits come from the CMS files the practice imported (``xlsheets ncci import``); none ship
with xlsheets. Without them these rules do not run, and every output says so once with how to
load them. The claims are not marked unready for it: NCCI edits are an extra check a practice
chooses to load, like a payer plugin it has not installed (docs/ncci.md).

The setting ``ncci_files`` picks the practitioner files (default) or ``outpatient_hospital``.
Each finding's reference names the NCCI file set and quarter it was checked against.

N501 and N502 come in two parts: a claim rule (the lines of one claim) and a batch rule (the
claims of one patient on one date of service: NCCI edits apply to a provider's services to a
patient on a date, whichever claim carries them). The batch part only reports what no single
claim shows, so one problem gives one finding.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import operator
import sys
from collections import defaultdict

from ..hookspecs import hookimpl
from ..ncci.store import KIND_LABEL, MAI_MEANING, SETTING_LABEL, get_ncci
from ..rule import rule
from ..words import plural

SETTING = "ncci_files"
# NCCI-associated modifiers (NCCI Policy Manual ch. I): anatomic, global surgery, other.
ASSOCIATED_MODIFIERS = frozenset({
    "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
    "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "RC",
    "LM", "RI", "24", "25", "57", "58", "78", "79", "27", "59", "91", "XE", "XS", "XP", "XU"})
# From this date an NCCI-associated modifier may be on either code of a PTP pair (CMS, July 2019).
EITHER_CODE_FROM = _dt.date(2019, 7, 1)
HOW_TO_LOAD = ("Download the NCCI edit files from cms.gov and load them with: "
               "xlsheets ncci import FILE... (see xlsheets ncci status)")
if sys.platform == "emscripten":  # xlwings Lite: no data folder, only requirements.txt
    HOW_TO_LOAD = ("In xlwings Lite: import the NCCI files from cms.gov on a computer with xlsheets, "
                   "build the data wheel (xlsheets ncci wheel) and add its address to the "
                   "requirements.txt tab (docs/ncci.md)")


def _ncci(settings):
    return get_ncci(settings.get(SETTING) or "practitioner")


def _needs(kind: str):
    """The ``available`` check of a rule: None when the files of ``kind`` are loaded."""
    def available(settings) -> str | None:
        try:
            data = _ncci(settings)
        except ValueError as exc:
            return f"{exc}. {HOW_TO_LOAD}"
        if data.loaded(kind):
            return None
        if not any(data.loaded(k) for k in KIND_LABEL):  # one sentence for the three rules
            return (f"no NCCI edit files (PTP, MUE, AOC) are loaded for {SETTING_LABEL[data.setting]} "
                    f"claims, so the NCCI edits were not checked. {HOW_TO_LOAD}")
        return (f"no NCCI {KIND_LABEL[kind]} file is loaded for {SETTING_LABEL[data.setting]} "
                f"claims. {HOW_TO_LOAD}")
    return available


def aoc_loaded(settings) -> bool:
    """True when an AOC file is loaded: N503 then checks add-on codes instead of C111."""
    try:
        return _ncci(settings).loaded("aoc")
    except ValueError:
        return False


def ptp_decides_guidance(settings, guide, injection, dos) -> bool:
    """True when N501 decides the imaging-guidance line C114 would report (C114 then stands
    down: one problem, one finding): the loaded PTP file has an edit in force for the two codes,
    and N501 denies the guidance line, or the guidance line itself carries an NCCI-associated
    modifier (the biller's statement that it guided a distinct procedure, which N501 accepts).
    A modifier only on the injection, such as its side (64483-RT, which D404 asks for), says
    nothing about the guidance: C114 still reports guidance the injection's code includes."""
    try:
        edit_set = _ncci(settings).for_dos("ptp", dos)
    except ValueError:
        return False
    if edit_set is None:
        return False
    if _denied_lines(edit_set, [(guide, injection)], dos):  # N501 reports the pair
        return True
    # Not denied: indicator 9, or 1 passed by a modifier, which counts here only on the guidance
    edit = edit_set.ptp_in_force(guide.code, injection.code, dos)
    return edit is not None and edit.modifier == 1 and not ASSOCIATED_MODIFIERS.isdisjoint(guide.modifiers)


def _reference(edit_set, extra: str = "") -> str:
    return f"CMS {edit_set.name}" + (f"; {extra}" if extra else "")


# --- N501 PTP ----------------------------------------------------------------------------------
def _bypassed(edit, col1_line, col2_line, dos) -> bool:
    """Modifier indicator 1: an NCCI-associated modifier on the column 2 code (or, from
    2019-07-01, on either code) allows the pair when the documentation supports it."""
    if edit.modifier != 1:
        return edit.modifier == 9
    if not ASSOCIATED_MODIFIERS.isdisjoint(col2_line.modifiers):
        return True
    return dos >= EITHER_CODE_FROM and not ASSOCIATED_MODIFIERS.isdisjoint(col1_line.modifiers)


def _denied_lines(edit_set, line_pairs, dos):
    """{id of a denied column 2 line: (line, [(edit, column 1 line)])} for pairs of lines (of one
    claim, or of two claims of one patient and date)."""
    denied: dict[int, tuple] = {}
    for p, q in line_pairs:
        if p.code == q.code:
            continue
        edit = edit_set.ptp_in_force(p.code, q.code, dos)
        if edit is None:
            continue
        col1, col2 = (p, q) if edit.column1 == p.code else (q, p)
        if _bypassed(edit, col1, col2, dos):
            continue
        denied.setdefault(id(col2), (col2, []))[1].append((edit, col1))
    return denied


def _evaluation_and_management(code: str) -> bool:
    """An E/M code (99202-99499): with it, modifier 25 is the NCCI-associated modifier."""
    return code.isdigit() and 99202 <= int(code) <= 99499


def _ptp_message(col2, pairs, dos, other: str = "") -> tuple[str, str, str]:
    edit = pairs[0][0]
    col1_codes = list(dict.fromkeys(e.column1 for e, _ in pairs))
    with_ = " and ".join(col1_codes)
    # The E/M that takes modifier 25: the column 2 code, or (from 2019-07-01) a column 1 code.
    em = col2.code if _evaluation_and_management(col2.code) else next(
        (c for c in col1_codes if _evaluation_and_management(c) and dos >= EITHER_CODE_FROM), None)
    if edit.modifier == 0:
        why = "modifier indicator 0: no modifier allows the pair"
        fix = f"remove {col2.code}"
    elif em is not None:
        why = ("modifier indicator 1: modifier 25 on the E/M allows the pair when the documentation "
               "shows a significant, separately identifiable E/M service")
        fix = (f"if the E/M is significant and separately identifiable, add 25 to {em}; "
               f"else remove {col2.code}")
    else:
        why = ("modifier indicator 1: an NCCI-associated modifier (59, XE, XS, XP, XU, an anatomic "
               "modifier such as RT/LT, or 25 on an E/M) allows the pair when the documentation "
               "shows a separate service")
        fix = f"if documented as a separate service, add XS, XU or 59 to {col2.code}; else remove it"
        if dos < EITHER_CODE_FROM:  # a modifier on column 1 did not count yet: say so, it is on the claim
            on_col1 = [f"{'/'.join(sorted(ASSOCIATED_MODIFIERS.intersection(line.modifiers)))} on {line.code}"
                       for _e, line in pairs if not ASSOCIATED_MODIFIERS.isdisjoint(line.modifiers)]
            if on_col1:
                why += (f"; before {EITHER_CODE_FROM.isoformat()} it must be on the column 2 code "
                        f"{col2.code}: the {', '.join(dict.fromkeys(on_col1))} does not count")
    rationale = f" Rationale: {edit.rationale}." if edit.rationale else ""
    message = (f"{col2.code} is the column 2 code of an NCCI PTP edit with {with_}{other} on the same "
               f"date of service: {col2.code} is denied (CARC CO-236; the patient cannot be billed "
               f"for it). {why[0].upper() + why[1:]}.{rationale}")
    return message, fix, f"{col2.code} bundled into {col1_codes[0]} (NCCI PTP)"


@rule("N501", severity="error", reads=("procedures", "dos"), available=_needs("ptp"),
      reference="CMS NCCI procedure-to-procedure (PTP) edits; CARC CO-236")
def ptp_pair(claim, ctx):
    """Two procedures form an NCCI PTP edit in force on the date of service.

    Why: Medicare contractors and commercial scrubbers deny the column 2 code of a PTP pair
    billed for one patient on one date (CARC CO-236, which the patient cannot be billed for).
    Modifier indicator 0: no modifier allows the pair. Indicator 1: an NCCI-associated modifier
    (anatomic E1-E4, FA, F1-F9, TA, T1-T9, LT, RT, LC, LD, RC, LM, RI; global 24, 25, 57, 58, 78,
    79; other 27, 59, 91, XE, XS, XP, XU) on the column 2 code allows it when documented; from
    2019-07-01 the modifier may be on either code. Indicator 9: the edit does not apply. Only
    edits in force on the date of service count (effective on or before it, deleted after it).
    Checked across the lines of a claim and across a patient's claims on the same date.
    Needs the NCCI PTP file: xlsheets ncci import FILE...
    Bad: 62323 with 77003 (indicator 0); 64483 with 20552 and no modifier (indicator 1)
    Good: 62323 alone; 64483 with 20552-XS when a separate site is documented
    Fix: remove the column 2 code, or add the modifier the documentation supports.
    """
    dos = claim.dos
    if dos is None or len(claim.procedures) < 2:
        return None
    edit_set = _ncci(ctx.settings).for_dos("ptp", dos)
    lines = claim.procedures
    out = []
    for col2, pairs in _denied_lines(edit_set, itertools.combinations(lines, 2), dos).values():
        message, fix, brief = _ptp_message(col2, pairs, dos)
        out.append(ctx.finding(message, codes=[pairs[0][0].column1, col2.code], suggestion=fix,
                               rows=[col2.row] if col2.row else None, reference=_reference(edit_set, "CARC CO-236"),
                               brief=brief))
    return out


_PATIENT_DAY = operator.attrgetter("patient_id", "dos")


def _same_patient_and_day(claims):
    """Groups of two or more claims with procedures of one patient on one date of service, in
    sheet order (the engine hands these parts only claims that share the key with another)."""
    groups: dict = {}
    for claim in claims:
        if claim.procedures:
            groups.setdefault(_PATIENT_DAY(claim), []).append(claim)
    return [g for g in groups.values() if len(g) > 1]


def _claim_name(claim) -> str:
    rows = claim.rows
    where = f"row {rows[0]}" if len(rows) == 1 else f"rows {rows[0]}-{rows[-1]}" if rows else ""
    return f"claim {claim.claim_id or '(no ID)'}" + (f" ({where})" if where else "")


@rule("N501", severity="error", scope="batch", reads=("procedures", "dos"), group_by=("patient_id", "dos"),
      available=_needs("ptp"),
      reference="CMS NCCI procedure-to-procedure (PTP) edits; CARC CO-236")
def ptp_pair_across_claims(claims, ctx):
    """Two procedures form an NCCI PTP edit across two claims of one patient on one date.

    Why: PTP edits apply to a patient's services on a date of service, whichever claim carries
    them; the claim rule N501 covers the lines of one claim, this part the patient's other claims.
    Bad: claim A1 with 62323 and claim A2 with 77003, same patient, same date
    Good: the two services on different dates, or the modifier the documentation supports
    """
    for group in _same_patient_and_day(claims):
        data = _ncci(ctx.settings_for(group[0]))
        dos = group[0].dos
        edit_set = data.for_dos("ptp", dos)
        reported: set[int] = set()
        for a, b in itertools.combinations(group, 2):
            denied = _denied_lines(edit_set, itertools.product(a.procedures, b.procedures), dos)
            for col2, pairs in denied.values():
                owner, other = (b, a) if any(col2 is q for q in b.procedures) else (a, b)
                if id(col2) in reported:
                    continue
                reported.add(id(col2))
                message, fix, brief = _ptp_message(col2, pairs, dos, f" (on {_claim_name(other)})")
                yield owner, ctx.finding(
                    message, codes=[pairs[0][0].column1, col2.code], suggestion=fix,
                    rows=[col2.row] if col2.row else owner.rows, claim=owner,
                    reference=_reference(edit_set, "CARC CO-236"), brief=brief)


# --- N502 MUE ----------------------------------------------------------------------------------
def _mue_text(code, units, edit, scope: str) -> str:
    if edit.mai == 1:
        tail = ("MAI 1, a line edit: a line with more units is denied. Report medically necessary "
                "further units on separate lines with the modifier the documentation supports.")
    elif edit.mai == 2:
        tail = ("MAI 2, a date of service edit (policy): units over it are denied and this denial "
                "cannot be appealed.")
    else:
        tail = ("MAI 3, a date of service edit (clinical): units over it are denied; documentation "
                "of medical necessity may overturn the denial on appeal.")
    return (f"{code}: {plural(units, 'unit')} {scope}, more than its NCCI MUE of {edit.value} ({tail})")


@rule("N502", severity="error", reads=("procedures", "dos"), available=_needs("mue"),
      reference="CMS NCCI medically unlikely edits (MUE)")
def mue_units(claim, ctx):
    """More units of a code than its NCCI medically unlikely edit (MUE) allows.

    Why: an MUE is the most units of a code one provider reports for one patient on one date.
    MUE adjudication indicator (MAI) 1 counts the units on each claim line; MAI 2 and 3 add up the
    units of the code over every line on the date of service. MAI 2 (policy) denials cannot be
    appealed; MAI 3 (clinical) denials may be overturned with documentation.
    Needs the NCCI MUE file: xlsheets ncci import FILE...
    Bad: 64483x2 where its MUE is 1 (MAI 2); 97110x8 where it is 6 (MAI 3)
    Good: 64483 with 64484 for the second level
    Fix: bill the units the MUE allows, or document medical necessity (MAI 3) for an appeal.
    """
    dos = claim.dos
    if dos is None or not claim.procedures:
        return None
    edit_set = _ncci(ctx.settings).for_dos("mue", dos)
    out = []
    by_code = defaultdict(list)
    for line in claim.procedures:
        by_code[line.code].append(line)
    for code, lines in by_code.items():
        edit = edit_set.mue(code)
        if edit is None:
            continue
        reference = _reference(edit_set, MAI_MEANING[edit.mai])
        if edit.mai == 1:
            for line in lines:
                if line.units > edit.value:
                    out.append(ctx.finding(_mue_text(code, line.units, edit, "on one line"), codes=[code],
                                           suggestion=f"at most {edit.value} on a line", reference=reference,
                                           rows=[line.row] if line.row else None,
                                           brief=f"{code} units over MUE {edit.value}"))
            continue
        total = sum(line.units for line in lines)
        if total > edit.value:
            rows = sorted({line.row for line in lines if line.row}) or None
            out.append(ctx.finding(_mue_text(code, total, edit, "on the date of service"), codes=[code],
                                   suggestion=f"at most {edit.value} for the date", reference=reference,
                                   rows=rows, brief=f"{code} units over MUE {edit.value}"))
    return out


@rule("N502", severity="error", scope="batch", reads=("procedures", "dos"), group_by=("patient_id", "dos"),
      available=_needs("mue"),
      reference="CMS NCCI medically unlikely edits (MUE)")
def mue_units_across_claims(claims, ctx):
    """The units of a code over a patient's claims on one date exceed its MUE (MAI 2 and 3).

    Why: date of service MUEs (MAI 2 and 3) count every line of the code on the date, whichever
    claim carries it; the claim rule N502 covers one claim, this part the patient's other claims.
    Bad: claim A1 with 64483 and claim A2 with 64483, same patient and date, MUE 1 (MAI 2)
    Good: one claim with 64483 and 64484
    """
    for group in _same_patient_and_day(claims):
        dos = group[0].dos
        edit_set = _ncci(ctx.settings_for(group[0])).for_dos("mue", dos)
        units_by_claim = []  # each claim's units per code
        totals = defaultdict(float)  # the date's units per code, over the group's claims
        for claim in group:
            units = defaultdict(float)
            for line in claim.procedures:
                units[line.code] += line.units
                totals[line.code] += line.units
            units_by_claim.append((claim, units))
        for code in sorted(totals):
            edit = edit_set.mue(code)
            if edit is None or edit.mai == 1 or totals[code] <= edit.value:
                continue
            per_claim = [(c, units.get(code, 0.0)) for c, units in units_by_claim]
            if any(units > edit.value for _c, units in per_claim):
                continue  # the claim rule reported it on that claim
            running = 0.0
            for claim, units in per_claim:
                running += units
                if units and running > edit.value:
                    others = ", ".join(_claim_name(c) for c, u in per_claim if u and c is not claim)
                    yield claim, ctx.finding(
                        _mue_text(code, running, edit, f"on the date of service with {others}"),
                        codes=[code], suggestion=f"at most {edit.value} for the date", claim=claim,
                        reference=_reference(edit_set, MAI_MEANING[edit.mai]),
                        brief=f"{code} units over MUE {edit.value} (with other claims)")
                    break


# --- N503 AOC ----------------------------------------------------------------------------------
# The claim part and the batch part of N503 report the same cases.
AOC_SEVERITIES = {"for AOC edit type 1 (only with a listed primary)": "error",
                  "for types 2 and 3 (the contractor decides, or may accept other primaries)": "warning"}


def _addon_findings(ctx, claim, present: set, others=()) -> list:
    """N503's findings for the add-on codes of ``claim``: those without one of their primary
    codes among ``present`` (the claim's codes, or also those of ``others``, the patient's other
    claims that date)."""
    dos = claim.dos
    edit_set = _ncci(ctx.settings_for(claim)).for_dos("aoc", dos)
    out = []
    for code in dict.fromkeys(line.code for line in claim.procedures):
        rows = [r for r in edit_set.addon(code) if r.in_force(dos)]
        if not rows:
            continue
        primaries = sorted({r.primary for r in rows if r.primary
                            and (r.primary_deletion is None or dos < r.primary_deletion)})
        if present.intersection(primaries):
            continue
        kind = min(r.type for r in rows)
        where = "on the claim"
        if others:
            names = [_claim_name(c) for c in others]
            where += f" or on {', '.join(names)}, the patient's other claim{'s' if len(names) > 1 else ''} that date"
        listed = ", ".join(primaries[:8]) + (f" (+{len(primaries) - 8} more)" if len(primaries) > 8 else "")
        if kind == 1:
            message = (f"Add-on code {code} needs one of its primary codes ({listed}) {where}; "
                       "without one it is denied (NCCI AOC edit type 1).")
            severity = None
        elif kind == 2:
            message = (f"Add-on code {code} has no primary code that CMS lists {where} "
                       f"(NCCI AOC edit type 2: {'no list; ' if not primaries else ''}the contractor "
                       "decides which primary codes it goes with). Check the payer's list.")
            severity = "warning"
        else:
            message = (f"Add-on code {code} is billed without one of the primary codes CMS lists "
                       f"({listed}) {where}; NCCI AOC edit type 3: the contractor may accept others. "
                       "Check that the primary billed is one the payer accepts.")
            severity = "warning"
        row_list = sorted({line.row for line in claim.procedures if line.code == code and line.row})
        out.append(ctx.finding(message, codes=[code], severity=severity, rows=row_list or None, claim=claim,
                               suggestion=" / ".join(primaries[:3]) or "check the payer's primary codes",
                               reference=_reference(edit_set, f"AOC edit type {kind}"),
                               brief=f"{code} without its primary (NCCI AOC type {kind})"))
    return out


@rule("N503", severity="error", reads=("procedures", "dos"), available=_needs("aoc"),
      severities=AOC_SEVERITIES,
      reference="CMS NCCI add-on code (AOC) edits")
def addon_code(claim, ctx):
    """An add-on code billed without one of its primary codes on the date (NCCI add-on code edits).

    Why: an add-on code is paid only with a primary procedure for the same patient on the same
    date of service. AOC edit type 1: only with a primary code CMS lists (an error without one);
    type 2: CMS lists none and the contractor decides (a warning to check the payer's list);
    type 3: CMS lists primaries and contractors may accept others (a warning). The primary may
    be on the claim or on the patient's other claim that date (the table and the batch command
    see those). When an AOC file is loaded this rule replaces C111, so an add-on problem gives
    one finding.
    Needs the NCCI AOC file: xlsheets ncci import FILE...
    Bad: 64484 without 64483 (type 1)
    Good: 64483 + 64484; or 64483 on one claim and 64484 on the patient's other claim that date
    Fix: add the primary procedure that was performed, or bill the primary code instead.
    """
    if claim.dos is None or not claim.procedures:
        return None
    return _addon_findings(ctx, claim, {line.code for line in claim.procedures})


@rule("N503", severity="error", scope="batch", reads=("procedures", "dos"), group_by=("patient_id", "dos"),
      group_decides=True, available=_needs("aoc"),
      severities=AOC_SEVERITIES,
      reference="CMS NCCI add-on code (AOC) edits")
def addon_code_across_claims(claims, ctx):
    """An add-on code without a primary code on any of the patient's claims that date.

    Why: the AOC edits look for the primary among the patient's services on the date of
    service, whichever claim carries it. For claims of one patient and date this part decides
    N503 in place of the claim rule: an add-on whose primary is on the other claim is not denied.
    Bad: claim A1 with 64484 and claim A2 with 99213, same patient and date (type 1)
    Good: claim A1 with 64483 and claim A2 with 64484, same patient and date
    """
    for group in _same_patient_and_day(claims):
        present = {line.code for claim in group for line in claim.procedures}
        for claim in group:
            for finding in _addon_findings(ctx, claim, present, [c for c in group if c is not claim]):
                yield claim, finding


RULES = [ptp_pair, ptp_pair_across_claims, mue_units, mue_units_across_claims, addon_code,
         addon_code_across_claims]


@hookimpl
def xlsheets_rules():
    return RULES


@hookimpl
def xlsheets_default_settings():
    return {SETTING: "practitioner"}
