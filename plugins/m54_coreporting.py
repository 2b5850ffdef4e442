"""Co-reporting M54.16 (lumbar) with M54.17 (lumbosacral radiculopathy): each payer's answer.

Payers differ: some accept both codes on one claim when both regions are documented, others deny
the pair as overlapping. The core rule S303 asks the payer's plugins; this plugin answers from the
setting ``m54_coreporting``:
    "allow"   S303 says nothing
    "deny"    S303 is an error: the payer denies the pair
    "review"  S303 is a warning: verify the payer's policy (the default, as without the plugin)

Enable it for every payer and set the answer per payer::

    plugins = ["m54_coreporting"]
    [payers.medicare]
    match = ["medicare*"]
    [payers.medicare.settings]
    m54_coreporting = "deny"
    [payers.aetna.settings]
    m54_coreporting = "allow"

Rules (prefix MCR):
    MCR101  the setting has a value other than allow, deny or review (the plugin then leaves S303
            to its default, and says so on the claims it concerns).

References: ICD-10-CM M54.16 / M54.17; the payer's published coding policy.
"""
from __future__ import annotations

import xlsheets

PAIR = frozenset({"M54.16", "M54.17"})
ANSWERS = ("allow", "deny", "review")
SETTING = "m54_coreporting"


def answer(settings) -> str | None:
    """The setting as allow/deny/review, or None when it holds something else."""
    value = str(settings.get(SETTING, "review")).strip().lower()
    return value if value in ANSWERS else None


@xlsheets.hookimpl
def xlsheets_pair_policy(code_a, code_b, claim, settings):
    if {code_a, code_b} != PAIR:
        return None  # another pair: not ours to decide
    return answer(settings)


# reads: the rule looks only at the codes and the payer's name, so its answer is reused for
# every claim with the same ones (it runs once per combination, not once per claim).
@xlsheets.rule("MCR101", severity="warning", dx=tuple(PAIR), reads=("diagnoses", "payer"),
               reference="xlsheets configuration")
def setting_unreadable(claim, ctx):
    """The m54_coreporting setting is not allow, deny or review.

    Why: a misspelt setting would otherwise silently leave S303 to its default.
    Bad: m54_coreporting = "alow"
    Good: m54_coreporting = "allow"
    Fix: correct the setting in xlsheets.toml ([settings] or the payer's settings).
    """
    dx = claim.diagnoses
    if "M54.16" in dx and "M54.17" in dx and answer(ctx.settings) is None:
        value = ctx.settings.get(SETTING)
        yield ctx.finding(
            f"The setting {SETTING} = {value!r} for {claim.payer or 'this payer'} is not allow, deny "
            "or review, so S303 used its default.", suggestion="fix the setting in xlsheets.toml",
            brief=f"setting {SETTING} = {value!r} unknown")


@xlsheets.hookimpl
def xlsheets_default_settings():
    return {SETTING: "review"}


@xlsheets.hookimpl
def xlsheets_rules():
    return [setting_unreadable]
