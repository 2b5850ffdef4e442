"""D4xx: documentation behind high-cost services (injections, advanced imaging, EMG/NCS).

These services are paid only when the record shows they were needed. Thresholds are policy
settings (``esi_conservative_care_weeks``, ``mri_conservative_care_weeks``), not constants.
A documentation column that is absent means "unknown": the rule does not run.
"""
from __future__ import annotations

from ..codes import cpt
from ..hookspecs import hookimpl
from ..rule import rule

ESI = frozenset(cpt.ESI_INTERLAMINAR) | frozenset(cpt.ESI_TRANSFORAMINAL)
TRANSFORAMINAL = frozenset(cpt.ESI_TRANSFORAMINAL)
INTERLAMINAR = frozenset(cpt.ESI_INTERLAMINAR)
IMAGING = frozenset(cpt.LUMBAR_ADVANCED_IMAGING)
EMG = frozenset(cpt.EMG_NCS)
TPI = frozenset(cpt.TRIGGER_POINT)
OBJECTIVE = ("reflex_changes", "sensory_deficit", "motor_weakness")
SIDE_MODIFIERS = frozenset(("RT", "LT", "50"))
TRIAD_SERVICES = ESI | EMG | IMAGING  # services that need the radiculopathy triad (D402)
EXAM_SERVICES = ESI | IMAGING | TPI  # services questioned after a telehealth-only exam (D403)
LEVEL_SERVICES = ESI | EMG  # services that need a documented level (D405)


def _rows(procs):
    return [p.row for p in procs if p.row] or None


@rule("D401", severity="error", procedures=ESI | IMAGING, needs=("conservative_care_weeks",),
      severities={"on an epidural steroid injection": "error",
                  "on a lumbar MRI (no red flags documented)": "warning"},
      reads=("procedures", "conservative_care_weeks", "red_flags", "symptom_weeks", "present"),
      reference="Medicare ESI LCD L39240/L39242 (4 weeks of pain, 4 weeks of care); ACR Appropriateness Criteria, low back pain (6 weeks)")
def conservative_care(claim, ctx):
    """An epidural steroid injection or lumbar MRI without enough documented conservative care.

    Why: Medicare's ESI LCDs require at least 4 weeks of failed conservative care (physical
    therapy, NSAIDs, activity modification), and pain that has lasted at least 4 weeks
    (``symptom_weeks``, checked when the sheet has that column); commercial reviewers apply the
    ACR criteria, 6 weeks of care before lumbar MRI unless red flags are present. The article
    says 4-6 weeks. All are settings (``esi_conservative_care_weeks``, ``esi_symptom_weeks``,
    ``mri_conservative_care_weeks``).
    Bad: 64483 with conservative care 2 weeks ; 64483 with pain for 3 weeks ; 72148 with 3 weeks of care
    Good: 64483 with 6 weeks of care and 8 weeks of pain documented
    Fix: document the conservative care (type, dates, response) and the pain's onset, or defer the service.
    """
    weeks = claim.number("conservative_care_weeks")
    documented = 0.0 if weeks is None else weeks
    # A blank or unreadable cell (E101 says which) is no documented care, not "0 weeks".
    care = "no documented conservative care" if weeks is None else f"{weeks:g} weeks of documented conservative care"
    esi = claim.procedures_in(ESI)
    if esi:
        need = float(ctx.settings.get("esi_conservative_care_weeks", 4))
        need_pain = float(ctx.settings.get("esi_symptom_weeks", 4))
        pain = claim.number("symptom_weeks")
        short = []
        if documented < need:
            short.append(f"{care} (at least {need:g} weeks required)")
        if claim.known("symptom_weeks") and (pain is None or pain < need_pain):
            short.append(("no documented pain duration" if pain is None else f"pain for {pain:g} weeks")
                         + f" (at least {need_pain:g} weeks of pain required)")
        if short:
            yield ctx.finding(
                f"Epidural steroid injection {esi[0].code} with " + " and ".join(short) + ".",
                codes=[p.code for p in esi], rows=_rows(esi),
                suggestion=(f"document at least {need:g} weeks of conservative care" if documented < need
                            else f"document at least {need_pain:g} weeks of pain"),
                brief=(_care_brief(weeks, need) if documented < need
                       else "pain " + (f"{pain:g}" if pain is not None else "not documented") + f" < {need_pain:g} weeks"))
    mri = claim.procedures_in(IMAGING)
    if mri and not claim.yes("red_flags"):
        need = float(ctx.settings.get("mri_conservative_care_weeks", 6))
        if documented < need:
            yield ctx.finding(
                f"Lumbar MRI {mri[0].code} with {care}; "
                f"{need:g} weeks are expected first unless red flags are documented.",
                codes=[p.code for p in mri], rows=_rows(mri), severity="warning",
                suggestion=f"document {need:g} weeks of conservative care or the red flags",
                brief=_care_brief(weeks, need))


def _care_brief(weeks: float | None, need: float) -> str:
    return "conservative care not documented" if weeks is None else f"conservative care {weeks:g} < {need:g} weeks"


@rule("D402", severity="warning", dx=("M54.1",), needs=("radiating_pain", "slr_positive"),
      reads=("diagnoses", "procedures", "present", "radiating_pain", "slr_positive", *OBJECTIVE),
      reference="Medicare ESI LCD L39240 (radicular pain with objective findings)")
def radiculopathy_triad(claim, ctx):
    """Radiculopathy coded for an ESI, EMG/NCS or MRI without the documented triad.

    Why: reviewers accept radiculopathy when the record shows radiating pain, an objective finding
    (reflex change, sensory deficit or motor weakness) and a positive provocation test (straight
    leg raise). Missing parts are the commonest reason injections are denied on review.
    Bad: M54.17 + 64483 with radiating pain only
    Good: radiating pain + diminished ankle reflex + positive SLR
    Fix: document the missing findings.
    """
    services = claim.procedures_in(TRIAD_SERVICES)
    if not services:
        return
    radic = claim.dx_with_prefix("M54.1")
    if not claim.present.intersection(OBJECTIVE):
        return  # objective findings not recorded in this sheet: unknown
    missing = []
    if not claim.yes("radiating_pain"):
        missing.append("radiating pain")
    if not any(claim.yes(c) for c in OBJECTIVE):
        missing.append("an objective finding (reflex change, sensory deficit or motor weakness)")
    if not claim.yes("slr_positive"):
        missing.append("a positive straight-leg raise")
    if missing:
        yield ctx.finding(
            f"{radic[0]} with {services[0].code}: the radiculopathy triad is incomplete; missing "
            + ", ".join(missing) + ".",
            codes=[radic[0], services[0].code], rows=_rows(services),
            suggestion="document " + "; ".join(missing), brief="radiculopathy triad incomplete")


@rule("D403", severity="warning", procedures=EXAM_SERVICES,
      reference="advisory: payer reviewers and telehealth exam limits (no regulation)")
def telehealth_without_exam(claim, ctx):
    """A telehealth encounter without objective findings on a claim with imaging or injections.

    Why: a video visit cannot document reflexes or strength reliably; imaging and injections
    ordered from it without an in-person exam are questioned on review. Advisory only.
    Bad: POS 02, 72148, no objective findings
    Good: an in-person exam documenting the findings
    Fix: document objective findings from an in-person exam.
    """
    if not claim.is_telehealth:  # the common case: no generator, nothing else looked at
        return None
    if not any(claim.known(c) for c in (*OBJECTIVE, "slr_positive")):
        return None
    if any(claim.yes(c) for c in (*OBJECTIVE, "slr_positive")):
        return None
    services = claim.procedures_in(EXAM_SERVICES)
    return [ctx.finding(
        f"Telehealth encounter with {services[0].code} but no objective exam findings documented.",
        codes=[p.code for p in services], rows=_rows(services),
        suggestion="document an in-person exam", brief="telehealth without exam findings")]


@rule("D404", severity="error", procedures=ESI, reads=("procedures", "laterality"),
      reference="Medicare ESI LCD billing article A58993; CPT modifier rules (RT/LT/50)")
def injection_laterality(claim, ctx):
    """Transforaminal ESI without laterality; or RT/LT/50 on an interlaminar ESI.

    Why: transforaminal injections (64479-64484) are side-specific and need RT, LT or 50 (or a
    documented side); interlaminar injections (62320-62323) are midline and take no side modifier.
    Bad: 64483 with no side ; 62323-RT
    Good: 64483-RT ; 62323
    Fix: add the side modifier to the transforaminal code; remove it from the interlaminar code.
    """
    side = claim.text("laterality")
    for proc in claim.procedures:
        if proc.code not in ESI:
            continue
        mods = set(proc.modifiers)
        if proc.code in TRANSFORAMINAL and not mods & SIDE_MODIFIERS and side not in ("L", "R", "B"):
            yield ctx.finding(f"Transforaminal injection {proc.code} has no side: add RT, LT or 50.",
                              codes=[proc.code], rows=_rows([proc]), suggestion=f"{proc.code}-RT / {proc.code}-LT / {proc.code}-50",
                              brief=f"{proc.code} needs RT/LT/50")
        elif proc.code in INTERLAMINAR and mods & SIDE_MODIFIERS:
            bad = sorted(mods & SIDE_MODIFIERS)
            yield ctx.finding(f"Interlaminar injection {proc.code} takes no side modifier; remove {', '.join(bad)}.",
                              codes=[proc.code], rows=_rows([proc]), suggestion=proc.code,
                              brief=f"remove {'/'.join(bad)} from {proc.code}")


@rule("D405", severity="warning", procedures=LEVEL_SERVICES, needs=("nerve_root_level",),
      reference="Medicare ESI LCD L39240 (level documented); AANEM EMG/NCS guidance")
def level_documented(claim, ctx):
    """The nerve-root level is not documented for an ESI or EMG/NCS.

    Why: the level injected or studied must be in the record; it also decides M54.16 vs M54.17.
    Bad: 64483 with no level
    Good: 64483 with level L5-S1
    Fix: document the level.
    """
    if claim.text("nerve_root_level"):
        return
    services = claim.procedures_in(LEVEL_SERVICES)
    yield ctx.finding(f"{services[0].code}: the nerve-root level is not documented.",
                      codes=[p.code for p in services], rows=_rows(services),
                      suggestion="document the level (e.g. L5-S1)", brief="level not documented")


def covered_prefixes(setting) -> tuple[str, ...]:
    """``tpi_covered_diagnoses`` as code prefixes: ``["M79.1-", "G44.2"]`` -> ("M79.1", "G44.2")."""
    items = [setting] if isinstance(setting, str) else list(setting or ())
    return tuple(str(i).strip().upper().rstrip("-").rstrip(".") for i in items if str(i).strip())


@rule("D406", severity="error", procedures=TPI, reads=("diagnoses", "procedures", "myofascial_pain"),
      reference="Medicare trigger point injection LCDs and billing articles (e.g. A59480, 2024-04-01): covered diagnosis codes")
def trigger_point_diagnosis(claim, ctx):
    """Trigger point injection without a covered diagnosis code (myalgia, M79.1-).

    Why: coverage is by diagnosis code: the Medicare billing articles list myalgia (M79.1-); one
    secondary source adds tension-type headache (G44.2-), to verify with the payer. Myofascial
    pain documented but not coded is still denied: code it. The covered list is the setting
    ``tpi_covered_diagnoses`` (default ``["M79.1"]``).
    Bad: 20552 with M54.16 only ; 20552 with myofascial pain documented and no M79.1x code
    Good: 20552 with M79.18
    Fix: code the myalgia (M79.1-) the record documents, or do not bill the injection.
    """
    covered = covered_prefixes(ctx.settings.get("tpi_covered_diagnoses", ["M79.1"]))
    if not covered or claim.dx_with_prefix(*covered):
        return
    services = claim.procedures_in(TPI)
    listing = ", ".join(f"{c}-" for c in covered)
    if claim.yes("myofascial_pain"):
        text = (f"Trigger point injection {services[0].code}: myofascial pain is documented but not coded; "
                f"coverage is by diagnosis code ({listing}): code it.")
    else:
        text = f"Trigger point injection {services[0].code} without a covered diagnosis code ({listing})."
    yield ctx.finding(text, codes=[p.code for p in services], rows=_rows(services),
                      suggestion=f"code the documented myalgia ({listing})",
                      brief="trigger point injection without a covered diagnosis")


RULES = [conservative_care, radiculopathy_triad, telehealth_without_exam, injection_laterality,
         level_documented, trigger_point_diagnosis]


@hookimpl
def xlsheets_rules():
    return RULES
