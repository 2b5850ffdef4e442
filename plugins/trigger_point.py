"""Trigger point injections (20552, 20553): what the Medicare LCDs cover.

Payers: Medicare (the MAC LCDs for trigger point injections effective 2024-04-01); other payers
that follow them can enable it too::

    [payers.medicare]
    match = ["medicare*"]
    plugins = ["trigger_point"]

Rules (prefix TPI):
    TPI101  more than 3 sessions in a rolling 12 months for one patient (the patient's rows).
    TPI102  no myalgia diagnosis (M79.1-) on the claim: the covered diagnoses are narrow.
    TPI103  modifier 50 on a trigger point code: the codes count muscles, not sides.

The core rule D406 (no documented myofascial pain or myalgia code) still runs for every payer;
TPI102 is stricter: the LCDs want the myalgia code itself.

Sessions (TPI101): a session is a date of service with 20552/20553 for a patient. A session
counts against another when it lies less than 12 months before it. Rows without a patient ID or
date are not counted.

Settings (override in ``[payers.NAME.settings]``):
    tpi_sessions_per_year = 3      TPI101

References: Medicare LCDs "Trigger Point Injections" (MAC LCDs effective 2024-04-01) and their
billing articles.
"""
from __future__ import annotations

import datetime as dt

import xlsheets
from xlsheets.codes import cpt
from xlsheets.history import rolling_12_months

REFERENCE = "Medicare LCDs for trigger point injections (effective 2024-04-01)"
TPI = frozenset(cpt.TRIGGER_POINT)
MYALGIA = "M79.1"


def _rows(procs):
    return [p.row for p in procs if p.row] or None


@xlsheets.rule("TPI101", severity="error", scope="batch", procedures=TPI, reference=REFERENCE)
def sessions_per_year(claims, ctx):
    """More than 3 trigger point injection sessions for one patient in a rolling 12 months.

    Why: the LCDs cover at most three sessions in a rolling 12 months. The count uses the
    patient's rows in the same workbook. Setting ``tpi_sessions_per_year``.
    Bad: a fourth session within 12 months
    Good: sessions spread over more than a year
    Fix: check the patient's history; the fourth session in 12 months is not covered.
    """
    for _patient, group in ctx.by_patient(claims).items():
        sessions: dict[dt.date, list] = {}
        for claim in group:
            if claim.dos is not None:
                sessions.setdefault(claim.dos, []).append(claim)
        for day, window in rolling_12_months(sessions):
            for claim in sessions[day]:
                # each claim's own payer settings: a workbook may mix payers
                limit = int(ctx.settings_for(claim).get("tpi_sessions_per_year", 3))
                if len(window) <= limit:
                    continue
                earlier = ", ".join(d.isoformat() for d in window[:-1])
                yield claim, ctx.finding(
                    f"Trigger point injection session {len(window)} for this patient within "
                    f"12 months (earlier: {earlier}); at most {limit} are covered.",
                    codes=[p.code for p in claim.procedures_in(TPI)], claim=claim,
                    suggestion="check the patient's injection history",
                    brief=f"TPI session {len(window)} in 12 months > {limit}")


@xlsheets.rule("TPI102", severity="error", procedures=TPI, reads=("diagnoses", "procedures"),
               reference=REFERENCE)
def myalgia_required(claim, ctx):
    """Trigger point injection without a myalgia diagnosis (M79.1-).

    Why: the LCDs cover trigger point injections for myofascial pain coded as myalgia; other
    diagnoses alone (low back pain, radiculopathy) are not covered for 20552/20553.
    Bad: 20552 with M54.50 only
    Good: 20552 with M79.18 (myalgia, other site)
    Fix: add the myalgia code the record supports (M79.10, M79.11, M79.12, M79.18).
    """
    if not claim.dx_with_prefix(MYALGIA):
        procs = claim.procedures_in(TPI)
        yield ctx.finding(
            "Trigger point injection without a myalgia diagnosis (M79.1-); the covered diagnoses are "
            "myalgia codes.", codes=[p.code for p in procs], rows=_rows(procs),
            suggestion="M79.18 / M79.11 / M79.12 / M79.10", brief="no myalgia diagnosis (M79.1-)")


@xlsheets.rule("TPI103", severity="error", procedures=TPI, reads=("procedures",), reference=REFERENCE)
def no_bilateral_modifier(claim, ctx):
    """Modifier 50 on a trigger point injection.

    Why: 20552 (one or two muscles) and 20553 (three or more) count muscles, wherever they are;
    modifier 50 (bilateral) does not apply and the line is denied.
    Bad: 20553-50
    Good: 20553
    Fix: remove modifier 50; choose the code by the number of muscles injected.
    """
    for proc in claim.procedures_in(TPI):
        if "50" in proc.modifiers:
            yield ctx.finding(
                f"{proc.code} is billed with modifier 50; trigger point codes count muscles, not sides.",
                codes=[proc.code], rows=_rows([proc]), suggestion=f"{proc.code} without modifier 50",
                brief="modifier 50 on a trigger point code")


@xlsheets.hookimpl
def xlsheets_default_settings():
    return {"tpi_sessions_per_year": 3}


@xlsheets.hookimpl
def xlsheets_rules():
    return [sessions_per_year, myalgia_required, no_bilateral_modifier]
