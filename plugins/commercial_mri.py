"""Commercial lumbar MRI: 6 weeks of conservative care first, unless red flags.

Payers: commercial payers whose imaging reviewers apply the ACR Appropriateness Criteria for low
back pain (prior authorisation is refused without them). Not Medicare: its advanced-imaging AUC
programme was rescinded. Enable it per payer::

    [payers.aetna]
    plugins = ["commercial_mri"]

Rules (prefix MRI):
    MRI101  lumbar MRI (72148, 72149, 72158) with less than 6 weeks of documented conservative
            care and no red flags documented (column ``red_flags`` = Y: cancer history, fever,
            progressive neurological deficit, cauda equina signs, significant trauma...).
The rule needs both columns, ``conservative_care_weeks`` and ``red_flags``; without them it does
not run (unknown is not an error). A blank conservative-care cell counts as 0 weeks.

The core rule D401 already warns about the same situation for every payer; for the payers that
enable this plugin it becomes an error, because they refuse the authorisation.

Settings (override in ``[settings]`` or ``[payers.NAME.settings]``):
    mri_conservative_care_weeks = 6    MRI101; the same setting as the core rule D401, so one
                                       value per payer governs both

References: ACR Appropriateness Criteria, Low Back Pain (variant 1: uncomplicated low back pain
without red flags, imaging not indicated before 6 weeks of conservative management).
"""
from __future__ import annotations

import xlsheets
from xlsheets.codes import cpt

MRI = frozenset(cpt.LUMBAR_ADVANCED_IMAGING)


@xlsheets.rule("MRI101", severity="error", procedures=MRI, needs=("conservative_care_weeks", "red_flags"),
               reads=("procedures", "payer", "conservative_care_weeks", "red_flags"),
               reference="ACR Appropriateness Criteria: Low Back Pain")
def care_before_mri(claim, ctx):
    """Lumbar MRI before 6 weeks of conservative care, with no red flags documented.

    Why: commercial imaging reviewers apply the ACR criteria: uncomplicated low back pain is not
    imaged before 6 weeks of conservative care unless red flags are present. Setting
    ``mri_conservative_care_weeks`` (shared with D401).
    Bad: 72148 with 3 weeks of conservative care, red flags N
    Good: 72148 with 6 weeks ; or red flags Y
    Fix: document the conservative care or the red flag, or defer the MRI.
    """
    if claim.yes("red_flags"):
        return
    need = float(ctx.settings.get("mri_conservative_care_weeks", 6))
    weeks = claim.number("conservative_care_weeks") or 0.0
    if weeks < need:
        procs = claim.procedures_in(MRI)
        yield ctx.finding(
            f"Lumbar MRI {procs[0].code} after {weeks:g} weeks of conservative care and no red flags; "
            f"{claim.payer or 'this payer'} expects {need:g} weeks first.",
            codes=[p.code for p in procs], rows=[p.row for p in procs if p.row] or None,
            suggestion=f"document {need:g} weeks of conservative care or the red flags",
            brief=f"MRI after {weeks:g} weeks of care, no red flags")


@xlsheets.hookimpl
def xlsheets_rules():
    return [care_before_mri]
