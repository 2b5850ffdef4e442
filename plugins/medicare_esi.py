"""Medicare epidural steroid injections (ESI): what the LCDs cover.

Payers: Medicare (Part B and the MACs that adopted the ESI LCDs). Enable it for them only::

    [payers.medicare]
    match = ["medicare*"]
    plugins = ["medicare_esi"]

Rules (prefix MED):
    MED101  62320/62322 (interlaminar without imaging guidance): not covered; use 62321/62323.
    MED102  more than one spinal region injected in one session.
    MED103  transforaminal: more than 2 levels in one session.
    MED104  interlaminar: more than 1 level in one session.
    MED105  pain for less than 4 weeks (``symptom_weeks``).
    MED106  more than 4 sessions in one region in a rolling 12 months (the patient's rows).

Two LCD requirements are already core rules and are not repeated here: at least 4 weeks of
failed conservative care is D401 (setting ``esi_conservative_care_weeks``, 4 by default), and
64484 only with 64483 is C111 (add-on without its primary).

How levels are counted (MED103/MED104), the largest of:
    * the codes: per side, the primary code's units plus the add-on code's units; a line with
      modifier 50 counts on both sides, a line without RT/LT counts on every side. Bilateral
      injections at one level therefore count as one level, as the LCD counts them.
    * the ``nerve_root_level`` cell: each item separated by a comma, semicolon, "and" or "&" is
      one level; ``L4-L5`` (an interspace) is one level, ``L4, L5`` two.
    * the ``esi_levels`` column, when the sheet has it.

Sessions (MED106): a session is a date of service with ESI codes for a patient; its region is
cervical/thoracic (62320, 62321, 64479, 64480) or lumbar/sacral (62322, 62323, 64483, 64484).
A session counts against another when it lies less than 12 months before it (a session exactly a
year or more earlier does not count). Rows without a patient ID or date are not counted.

Settings (override in ``[payers.NAME.settings]``):
    esi_min_pain_weeks = 4           MED105
    esi_transforaminal_max_levels = 2   MED103
    esi_interlaminar_max_levels = 1     MED104
    esi_sessions_per_region = 4      MED106

References: LCD L39240 "Epidural Steroid Injections for Pain Management" with billing article
A58993, and the sibling LCDs (e.g. L39242 with A58745), effective 2021-12-05.
"""
from __future__ import annotations

import datetime as dt
import re

import xlsheets
from xlsheets.codes import cpt
from xlsheets.history import rolling_12_months

REFERENCE = "Medicare LCD L39240 / A58993 (and sibling LCDs, e.g. L39242 / A58745)"

CERVICAL_THORACIC = frozenset({"62320", "62321", "64479", "64480"})
LUMBAR_SACRAL = frozenset({"62322", "62323", "64483", "64484"})
REGION_NAMES = {"cervical/thoracic": CERVICAL_THORACIC, "lumbar/sacral": LUMBAR_SACRAL}
REGION_OF = {code: name for name, members in REGION_NAMES.items() for code in members}
TRANSFORAMINAL = frozenset(cpt.ESI_TRANSFORAMINAL)
INTERLAMINAR = frozenset(cpt.ESI_INTERLAMINAR)
ESI = TRANSFORAMINAL | INTERLAMINAR

_LEVEL = re.compile(r"\b([CTLS])\s*(\d{1,2})\b", re.I)
_ITEM_SPLIT = re.compile(r"[,;&+]|\band\b", re.I)


def level_regions(text: str) -> tuple[str, ...]:
    """The regions a ``nerve_root_level`` cell names (C/T cervical-thoracic, L/S lumbar-sacral)."""
    found: list[str] = []
    for seg, _n in _LEVEL.findall(text):
        name = "cervical/thoracic" if seg.upper() in "CT" else "lumbar/sacral"
        if name not in found:
            found.append(name)
    return tuple(found)


def _regions(claim) -> list[str]:
    """The spinal regions a claim's ESI codes and documented levels point to, each once."""
    found = [REGION_OF[p.code] for p in claim.procedures if p.code in REGION_OF]
    found += level_regions(claim.text("nerve_root_level"))
    return list(dict.fromkeys(found))


def documented_levels(text: str) -> int:
    """``"L4-L5"`` -> 1, ``"L4, L5"`` -> 2, ``"L3-L4; L4-L5 and L5-S1"`` -> 3."""
    items = {tuple(_LEVEL.findall(item.upper())) for item in _ITEM_SPLIT.split(text)}
    return len({i for i in items if i})


def coded_levels(procedures) -> int:
    """Levels injected per side from units, counting an add-on's units as extra levels."""
    per_side = {"RT": 0.0, "LT": 0.0}
    unsided = 0.0
    for proc in procedures:
        mods = set(proc.modifiers)
        if "50" in mods or {"RT", "LT"} <= mods:
            per_side["RT"] += proc.units
            per_side["LT"] += proc.units
        elif "RT" in mods or "LT" in mods:
            per_side["RT" if "RT" in mods else "LT"] += proc.units
        else:
            unsided += proc.units
    return int(max(per_side.values()) + unsided)


def _levels(claim, procedures) -> tuple[int, str]:
    """The level count and where it came from, for the message."""
    levels, source = coded_levels(procedures), "from the codes and units"
    text = claim.text("nerve_root_level")
    if text:
        documented = documented_levels(text)
        if documented > levels:
            levels, source = documented, f"documented levels {text}"
    column = claim.number("esi_levels")
    if column is not None and column > levels:
        levels, source = int(column), "from the ESI levels column"
    return levels, source


def _rows(procs):
    return [p.row for p in procs if p.row] or None


# reads: each rule names what it looks at, so its findings are reused for claims that agree on it.
@xlsheets.rule("MED101", severity="error", procedures=cpt.ESI_WITHOUT_IMAGING, reads=("procedures",),
               reference=REFERENCE)
def without_imaging(claim, ctx):
    """Interlaminar ESI coded without imaging guidance (62320/62322): not covered by Medicare.

    Why: the LCDs cover epidural steroid injections only under imaging guidance (fluoroscopy or
    CT); 62320 and 62322 are the codes without it.
    Bad: 62322
    Good: 62323 (with imaging guidance, when it was used)
    Fix: if imaging guidance was used, code 62321/62323; otherwise the injection is not covered.
    """
    for proc in claim.procedures_in(cpt.ESI_WITHOUT_IMAGING):
        fix = "62321" if proc.code == "62320" else "62323"
        yield ctx.finding(
            f"Medicare covers epidural steroid injections only with imaging guidance; {proc.code} is "
            f"the code without it. If guidance was used, code {fix}.",
            codes=[proc.code], suggestion=fix, rows=_rows([proc]), brief="ESI without imaging guidance")


@xlsheets.rule("MED102", severity="error", procedures=ESI, reads=("procedures", "nerve_root_level"),
               reference=REFERENCE)
def one_region(claim, ctx):
    """More than one spinal region injected in one session.

    Why: the LCDs allow one spinal region (cervical/thoracic or lumbar/sacral) per session.
    Bad: 64483 with 64479 on one date ; 64483 with level C5-C6
    Good: 64483 and 64484 (both lumbar/sacral)
    Fix: bill one region per session; check the documented levels.
    """
    regions = _regions(claim)
    if len(regions) > 1:
        codes = [p.code for p in claim.procedures_in(ESI)]
        yield ctx.finding(
            f"Injections in more than one spinal region in one session ({' and '.join(regions)}); "
            "Medicare covers one region per session.",
            codes=codes, suggestion="one region per session", brief="more than one spinal region")


@xlsheets.rule("MED103", severity="error", procedures=TRANSFORAMINAL,
               reads=("procedures", "nerve_root_level", "esi_levels"), reference=REFERENCE)
def transforaminal_levels(claim, ctx):
    """Transforaminal ESI at more than 2 levels in one session.

    Why: the LCDs allow at most two levels per session for transforaminal injections
    (unilateral or bilateral). Setting ``esi_transforaminal_max_levels``.
    Bad: 64483-RT with 64484-RT x2 (three levels on the right)
    Good: 64483-50 with 64484-50 (two levels, both sides)
    Fix: inject at most two levels per session.
    """
    limit = int(ctx.settings.get("esi_transforaminal_max_levels", 2))
    procs = claim.procedures_in(TRANSFORAMINAL)
    levels, source = _levels(claim, procs)
    if levels > limit:
        yield ctx.finding(
            f"Transforaminal ESI at {levels} levels ({source}); Medicare covers at most {limit} "
            "levels per session.", codes=sorted({p.code for p in procs}), rows=_rows(procs),
            suggestion=f"at most {limit} levels", brief=f"{levels} transforaminal levels > {limit}")


@xlsheets.rule("MED104", severity="error", procedures=INTERLAMINAR,
               reads=("procedures", "nerve_root_level", "esi_levels"), reference=REFERENCE)
def interlaminar_levels(claim, ctx):
    """Interlaminar ESI at more than 1 level in one session.

    Why: the LCDs allow one interlaminar level per session. Setting ``esi_interlaminar_max_levels``.
    Bad: 62323 x2 ; 62323 with levels L4-L5, L5-S1
    Good: 62323 at L5-S1
    Fix: inject one interlaminar level per session.
    """
    limit = int(ctx.settings.get("esi_interlaminar_max_levels", 1))
    procs = claim.procedures_in(INTERLAMINAR)
    levels, source = _levels(claim, procs) if not claim.has_procedure(TRANSFORAMINAL) else (
        coded_levels(procs), "from the codes and units")
    if levels > limit:
        yield ctx.finding(
            f"Interlaminar ESI at {levels} levels ({source}); Medicare covers {limit} level per session.",
            codes=sorted({p.code for p in procs}), rows=_rows(procs),
            suggestion=f"at most {limit} level", brief=f"{levels} interlaminar levels > {limit}")


@xlsheets.rule("MED105", severity="error", procedures=ESI, needs=("symptom_weeks",),
               reads=("procedures", "symptom_weeks"), reference=REFERENCE)
def pain_duration(claim, ctx):
    """ESI for pain documented for less than 4 weeks.

    Why: the LCDs require pain for at least 4 weeks (radicular pain, or spinal stenosis symptoms)
    before an injection. A blank cell counts as not documented. Setting ``esi_min_pain_weeks``.
    Bad: 64483 with symptom weeks 2
    Good: 64483 with symptom weeks 6
    Fix: document the duration of pain, or defer the injection.
    """
    need = float(ctx.settings.get("esi_min_pain_weeks", 4))
    weeks = claim.number("symptom_weeks")
    if weeks is None or weeks < need:
        said = "not documented" if weeks is None else f"{weeks:g} weeks"
        yield ctx.finding(
            f"Pain duration is {said}; Medicare covers an epidural steroid injection after at least "
            f"{need:g} weeks of pain.", codes=[p.code for p in claim.procedures_in(ESI)],
            suggestion=f"document at least {need:g} weeks of pain", brief=f"pain {said}, {need:g} weeks needed")


@xlsheets.rule("MED106", severity="error", scope="batch", procedures=ESI, reference=REFERENCE)
def sessions_per_year(claims, ctx):
    """More than 4 ESI sessions in one spinal region in a rolling 12 months.

    Why: the LCDs cover at most four sessions per region in a rolling 12 months. The count uses
    the patient's rows in the same workbook, so validate the whole year's claims together.
    Setting ``esi_sessions_per_region``.
    Bad: a fifth lumbar ESI session for one patient within 12 months
    Good: sessions 13 months apart
    Fix: check the patient's history; the fifth session in 12 months is not covered.
    """
    # (patient, region) -> {date: [claims]}, in one pass over the claims
    sessions: dict[tuple[str, str], dict[dt.date, list]] = {}
    for claim in claims:
        if not claim.patient_id or claim.dos is None:
            continue  # unknown history: not counted
        for region in _code_regions(claim):
            sessions.setdefault((claim.patient_id, region), {}).setdefault(claim.dos, []).append(claim)
    for (_patient, region), by_date in sessions.items():
        for day, window in rolling_12_months(by_date):
            for claim in by_date[day]:
                # each claim's own payer settings: a workbook may mix payers
                limit = int(ctx.settings_for(claim).get("esi_sessions_per_region", 4))
                if len(window) <= limit:
                    continue
                earlier = ", ".join(d.isoformat() for d in window[:-1])
                yield claim, ctx.finding(
                    f"ESI session {len(window)} in the {region} region for this patient within "
                    f"12 months (earlier: {earlier}); Medicare covers at most {limit}.",
                    codes=[p.code for p in claim.procedures_in(REGION_NAMES[region])], claim=claim,
                    suggestion="check the patient's injection history",
                    brief=f"ESI session {len(window)} in 12 months > {limit}")


def _code_regions(claim) -> set[str]:
    return {REGION_OF[p.code] for p in claim.procedures if p.code in REGION_OF}


@xlsheets.hookimpl
def xlsheets_default_settings():
    return {"esi_min_pain_weeks": 4, "esi_transforaminal_max_levels": 2,
            "esi_interlaminar_max_levels": 1, "esi_sessions_per_region": 4}


@xlsheets.hookimpl
def xlsheets_rules():
    return [without_imaging, one_region, transforaminal_levels, interlaminar_levels,
            pain_duration, sessions_per_year]
