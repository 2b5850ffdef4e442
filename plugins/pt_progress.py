"""Physical therapy progress documentation: Medicare's rules and the commercial payers' rule.

Payers: any payer with physical therapy claims. Which rules apply to a claim depends on the
setting ``pt_payer_type``:
    "auto" (default)  Medicare rules when the payer's name starts with "medicare", else commercial
    "medicare"        Medicare rules (PT101, PT102, PT103)
    "commercial"      the functional-progress rule (PT104)
Set it per payer when the name does not tell (a Medicare Advantage plan that follows its own
commercial policy, or a payer ID like "MCR B")::

    plugins = ["pt_progress"]          # every payer
    [payers.advantage]
    match = ["medicare advantage*"]
    [payers.advantage.settings]
    pt_payer_type = "commercial"

Rules (prefix PT), on claims with physical therapy codes (97110, 97112, 97116, 97012, 97014,
97035, 97140, 97530, 97161-97164, G0283):
    PT101  Medicare: more than 10 treatment days since the last progress report
           (column ``pt_visits_since_progress``, this visit included).
    PT102  Medicare: plan of care older than 90 days and not recertified
           (column ``plan_of_care_days``: days since the plan was certified).
    PT103  Medicare: 97014 billed; Medicare does not recognise it, bill G0283.
    PT104  other payers: no measurable functional progress documented for more than N weeks
           (column ``functional_progress_weeks``; N is 6 by default, 4 to 6).
A rule whose column the sheet lacks does not run (unknown is not an error); a blank cell in a
present column counts as not documented, except for PT101/PT102/PT104 which then say nothing
(an empty count is not a count).

Settings (override in ``[settings]`` or ``[payers.NAME.settings]``):
    pt_payer_type = "auto"
    pt_progress_visits = 10             PT101
    pt_recert_days = 90                 PT102
    pt_functional_progress_weeks = 6    PT104; values outside 4-6 are brought back to 4 or 6

References: Medicare Benefit Policy Manual, chapter 15, section 220.3 (progress report at least
once every 10 treatment days) and 220.1.3 (plan of care certified at least every 90 days);
CMS HCPCS G0283 (unattended electrical stimulation, in place of 97014 for Medicare).
"""
from __future__ import annotations

import xlsheets
from xlsheets.codes import cpt

PT = frozenset(cpt.PT_CODES)
MEDICARE_REF = "Medicare Benefit Policy Manual ch.15 §220.3 (progress reports), §220.1.3 (certification)"


def is_medicare(claim, ctx) -> bool:
    """Medicare rules apply: by setting, or by the payer's name when the setting is "auto"."""
    kind = str(ctx.settings.get("pt_payer_type", "auto")).strip().lower()
    if kind in ("medicare", "commercial"):
        return kind == "medicare"
    return claim.payer.strip().lower().startswith("medicare")


def _pt(claim):
    return [p.code for p in claim.procedures_in(PT)]


@xlsheets.rule("PT101", severity="error", procedures=PT, needs=("pt_visits_since_progress",),
               reads=("procedures", "payer", "pt_visits_since_progress"), reference=MEDICARE_REF)
def progress_report_due(claim, ctx):
    """Medicare: more than 10 treatment days since the last progress report.

    Why: Medicare requires a progress report at least once every 10 treatment days; visits after
    the 10th without one are denied on review. Setting ``pt_progress_visits``.
    Bad: treatment days since progress report 12
    Good: 10 or fewer, or a progress report at this visit (0 or 1)
    Fix: write the progress report (it can be done at this visit) before billing further visits.
    """
    if not is_medicare(claim, ctx):
        return
    limit = float(ctx.settings.get("pt_progress_visits", 10))
    visits = claim.number("pt_visits_since_progress")
    if visits is not None and visits > limit:
        yield ctx.finding(
            f"{visits:g} treatment days since the last progress report; Medicare requires one at least "
            f"every {limit:g} treatment days.", codes=_pt(claim),
            suggestion="write a progress report", brief=f"progress report overdue ({visits:g} visits)")


@xlsheets.rule("PT102", severity="error", procedures=PT, needs=("plan_of_care_days",),
               reads=("procedures", "payer", "plan_of_care_days"), reference=MEDICARE_REF)
def plan_of_care_recertification(claim, ctx):
    """Medicare: plan of care older than 90 days without recertification.

    Why: the physician or NPP must recertify the plan of care at least every 90 days; visits after
    it lapses are not covered. Setting ``pt_recert_days``.
    Bad: plan of care days 104
    Good: plan of care days 60, or recertified (the column counts from the latest certification)
    Fix: have the plan of care recertified and count from the new date.
    """
    if not is_medicare(claim, ctx):
        return
    limit = float(ctx.settings.get("pt_recert_days", 90))
    days = claim.number("plan_of_care_days")
    if days is not None and days > limit:
        yield ctx.finding(
            f"The plan of care was certified {days:g} days ago; Medicare requires recertification at "
            f"least every {limit:g} days.", codes=_pt(claim),
            suggestion="recertify the plan of care", brief=f"plan of care {days:g} days old")


@xlsheets.rule("PT103", severity="error", procedures={"97014"}, reads=("procedures", "payer"),
               reference="CMS HCPCS G0283; Medicare does not recognise CPT 97014")
def medicare_97014(claim, ctx):
    """Medicare: 97014 billed; Medicare pays unattended electrical stimulation as G0283.

    Why: Medicare does not recognise 97014 and denies it.
    Bad: 97014 to Medicare
    Good: G0283
    Fix: replace 97014 with G0283 on Medicare claims.
    """
    if not is_medicare(claim, ctx):
        return
    rows = [p.row for p in claim.procedures_in({"97014"}) if p.row] or None
    yield ctx.finding("Medicare does not recognise 97014; bill unattended electrical stimulation as G0283.",
                      codes=["97014"], suggestion="G0283", rows=rows, brief="97014 not recognised")


def progress_weeks(ctx) -> float:
    """The functional-progress interval, kept within 4-6 weeks."""
    try:
        weeks = float(ctx.settings.get("pt_functional_progress_weeks", 6))
    except (TypeError, ValueError):
        weeks = 6.0
    return min(max(weeks, 4.0), 6.0)


@xlsheets.rule("PT104", severity="error", procedures=PT, needs=("functional_progress_weeks",),
               reads=("procedures", "payer", "functional_progress_weeks"),
               reference="commercial payer therapy policies (measurable progress every 4-6 weeks)")
def functional_progress(claim, ctx):
    """Other payers: no measurable functional progress documented for more than 6 weeks.

    Why: commercial payers continue therapy only while it shows measurable functional
    improvement, documented every 4 to 6 weeks depending on the payer. Setting
    ``pt_functional_progress_weeks`` (4-6).
    Bad: weeks since functional progress 8
    Good: 4
    Fix: document measurable functional progress (scores, range of motion, function) now.
    """
    if is_medicare(claim, ctx):
        return
    limit = progress_weeks(ctx)
    weeks = claim.number("functional_progress_weeks")
    if weeks is not None and weeks > limit:
        yield ctx.finding(
            f"{weeks:g} weeks since measurable functional progress was documented; "
            f"{claim.payer or 'this payer'} expects it at least every {limit:g} weeks.",
            codes=_pt(claim), suggestion="document functional progress",
            brief=f"no functional progress for {weeks:g} weeks")


@xlsheets.hookimpl
def xlsheets_default_settings():
    return {"pt_payer_type": "auto", "pt_progress_visits": 10, "pt_recert_days": 90,
            "pt_functional_progress_weeks": 6}


@xlsheets.hookimpl
def xlsheets_rules():
    return [progress_report_due, plan_of_care_recertification, medicare_97014, functional_progress]
