"""C1xx: code validity. Is each code real, billable, and valid on the date of service?

Validity is judged against the code set in force on the claim's date of service, never another
year's: when no loaded code set covers the date, C108 says so instead of guessing.
"""
from __future__ import annotations

from datetime import date

from ..codes import cpt
from ..codes.icd10cm import electronic
from ..codes.proclists import get_procedure_codes
from ..hookspecs import hookimpl
from ..rule import rule
from .ncci import aoc_loaded, ptp_decides_guidance

ICD_GUIDE = "ICD-10-CM Official Guidelines I.A / CMS code files"


def _listing(codes, limit: int = 6) -> str:
    codes = list(codes)
    text = ", ".join(codes[:limit])
    return text + (f" (+{len(codes) - limit} more)" if len(codes) > limit else "")


def _problems(claim, ctx, dated: bool = False):
    """(code, check) for each diagnosis that is not billable on the claim's date of service.

    Usually there are none, and a billable code costs one dict lookup; only the others get the
    full check (status, children, suggestions). Without a usable date (C108/C109 report that),
    date-dependent rules (``dated``) check nothing, and the others check on the newest covered
    date: unknown codes and missing 7th characters do not depend on the date.
    """
    cs = ctx.codes
    dos = claim.dos if claim.dos is not None and cs.covers(claim.dos) else None
    if dos is None:
        if dated:
            return ()
        dos = _newest_date(cs)
    out = []
    for code in claim.diagnoses:
        key = (id(cs), code, dos)  # sheets repeat codes and dates: each pair is checked once
        check = _CHECKS.get(key, _CHECKS)
        if check is _CHECKS:
            check = None if cs.billable(code, dos) else cs.check(code, dos)
            if len(_CHECKS) > 100_000:
                _CHECKS.clear()
            _CHECKS[key] = check
        if check is not None:
            out.append((code, check))
    return out


_CHECKS: dict[tuple, object] = {}  # (code set, code, date) -> its check, or None when billable


def _newest_date(cs):
    newest = _NEWEST.get(id(cs))
    if newest is None:
        newest = _NEWEST[id(cs)] = max(date.fromisoformat(c["to"]) for c in cs.coverage() if c.get("to"))
    return newest


_NEWEST: dict[int, object] = {}


@rule("C101", severity="error", reads=("diagnoses", "dos"), reference=ICD_GUIDE)
def unknown_code(claim, ctx):
    """An ICD-10-CM code that does not exist in any code set.

    Why: a code that was never valid is rejected by every clearinghouse. Usually a typo: a letter
    O for a zero, a transposed digit, an extra character.
    Bad: M54.19X
    Good: M54.17 (or the code the documentation supports)
    Fix: correct the code; xlsheets lists near matches.
    """
    out = []
    for code, check in _problems(claim, ctx):
        if check.status == "UNKNOWN":
            near = list(check.suggestions or ())
            out.append(ctx.finding(
                f"{code} is not an ICD-10-CM code." + (f" Did you mean {_listing(near, 4)}?" if near else ""),
                codes=[code], suggestion=" / ".join(near[:3]) or None, brief=f"unknown code {code}"))
    return out


@rule("C102", severity="error", reads=("diagnoses", "dos"), reference="ICD-10-CM Official Guidelines I.B.7 (level of detail)")
def header_code(claim, ctx):
    """A code that exists but is not billable: a header that needs more characters.

    Why: only codes at the highest level of detail may be reported; a category or subcategory
    header is rejected. A code that was billable before the date of service and is a header on
    it (M54.5 from 2021-10-01 on) is C103's instead: one problem, one finding.
    Bad: M54.1 ; M54 ; M67.A on 2026-12-01 (a FY2027 header)
    Good: M54.16 or M54.17
    Fix: choose the billable child the documentation supports.
    """
    out = []
    for code, check in _problems(claim, ctx, dated=True):
        # One problem, one finding: a code that was billable once and is a header on the date
        # (M54.5 since 2021-10-01) is C103's, with the same children as its fix.
        if check.status == "HEADER":
            children = list(check.children or ())
            out.append(ctx.finding(
                f"{code} is a header, not a billable code; it needs more characters."
                + (f" Billable codes under it: {_listing(children)}." if children else ""),
                codes=[code], suggestion=" / ".join(children[:4]) or None,
                brief=f"{code} not billable"))
    return out


@rule("C103", severity="error", reads=("diagnoses", "dos"), reference="CMS ICD-10-CM code files (effective dates)")
def not_valid_on_date(claim, ctx):
    """A code that is not valid on the date of service: deleted, or not yet in effect.

    Why: codes are effective October 1 (and April 1) each year; a deleted code, or a new code
    used before its effective date, is rejected. A code that exists only in another year's code
    set is real, not unknown: the finding says when it was (or will be) valid.
    Bad: M54.5 on 2022-01-10 (a header since 2021-10-01); M54.50 on 2021-06-01; M51.37 on
    2025-01-10; S63.14 on 2023-08-01 (deleted 2017-10-01); M67.A on 2023-08-01 (FY2027)
    Good: M54.50 on 2022-01-10; M54.5 on 2021-06-01; M51.370 on 2025-01-10
    Fix: use the code in force on the date of service.
    """
    out = []
    for code, check in _problems(claim, ctx, dated=True):
        if check.status == "NOT_ON_DATE":
            out.append(_not_on_date(code, check, claim.dos))
    return [ctx.finding(text, codes=[code], suggestion=fix, brief=brief) for code, text, fix, brief in out]


def _spans(windows) -> str:
    return "; ".join(f"{a} to {b}" for a, b in windows)


def _not_on_date(code, check, dos):
    """(code, message, fix, brief) for C103: billable on other dates, a header now, or a code of
    another year's code set only."""
    day = dos.isoformat()
    windows = list(check.valid_windows or ())
    children = list(check.children or ())
    fix = " / ".join(children[:4]) or None
    if windows and children and windows[-1][1] < dos:
        since = date.fromordinal(windows[-1][1].toordinal() + 1).isoformat()
        return (code, f"{code} is not billable on {day}: it has been a header since {since} "
                f"(billable {_spans(windows)}). Use a billable code under it: {_listing(children)}.",
                fix, f"{code} a header since {since}")
    if windows:
        return (code, f"{code} is not valid on {day}: it is valid {_spans(windows)}."
                + (f" Codes in force on that date: {_listing(children)}." if children else ""),
                fix, f"{code} not valid on {day}")
    spans = list(check.header_windows or ())
    if spans:
        when = "until" if spans[-1][1] < dos else "from"
        edge = spans[-1][1] if when == "until" else spans[0][0]
        return (code, f"{code} is not in the ICD-10-CM code set on {day}: it is a header (not billable "
                f"itself) in the code sets of {_spans(spans)}.",
                None, f"{code} not in the code set on {day} ({when} {edge.isoformat()})")
    return (code, f"{code} is not valid on {day}: no code under it is valid on that date.",
            None, f"{code} not valid on {day}")


@rule("C104", severity="error", reads=("diagnoses", "dos"), reference="ICD-10-CM Official Guidelines I.B.3 (7th characters)")
def seventh_character(claim, ctx):
    """A 7th character missing or invalid for its category.

    Why: injury codes (chapter 19) and others need a 7th character (A initial, D subsequent,
    S sequela...), with X placeholders to fill empty positions; without it the code is invalid.
    Bad: S34.21 ; S34.21XB
    Good: S34.21XA (initial encounter)
    Fix: add the 7th character the encounter calls for.
    """
    out = []
    for code, check in _problems(claim, ctx):
        if check.status in ("NEEDS_7TH", "BAD_7TH"):
            choices = list(check.seventh_choices or ())
            what = "needs a 7th character" if check.status == "NEEDS_7TH" else "has a 7th character its category does not allow"
            out.append(ctx.finding(
                f"{code} {what}." + (f" Valid: {_listing(choices)}." if choices else ""),
                codes=[code], suggestion=" / ".join(choices[:3]) or None,
                brief=f"{code} {what}"))
    return out


_WELL_FORMED: dict[str, bool] = {}


def _well_formed(code: str) -> bool:
    ok = _WELL_FORMED.get(code)
    if ok is None:
        ok = cpt.is_well_formed(code)
        if len(_WELL_FORMED) < 100_000:
            _WELL_FORMED[code] = ok
    return ok


@rule("C105", severity="error", reads=("procedures", "dos"), reference="CPT/HCPCS Level II code format; imported code lists")
def malformed_procedure(claim, ctx):
    """A CPT or HCPCS code that is not well formed, or not in an imported code list; a line of 0 units.

    Why: CPT codes are five characters (four digits and a digit, F, T or U); HCPCS Level II codes
    are a letter and four digits. Anything else is rejected at the clearinghouse. Where the user
    imported a code list (CMS's HCPCS Level II annual file, a licensed CPT file: ``xlsheets codes
    import-hcpcs`` / ``import-cpt``), a code of the family it covers that it does not list is
    unknown too; without a list only the shape can be checked. A service line bills 1 unit or
    more (CMS-1500 item 24G, 837P SV104): a line of 0 units is rejected too, and no MUE can
    check it.
    Bad: 7214 ; ABCDE ; G9876 when the imported HCPCS file does not list it ; 97110x0 ; a Units cell of 0
    Good: 72148 ; G0283 ; 97110x2
    Fix: correct the code; enter the units performed.
    """
    out = []
    lists = get_procedure_codes()
    for proc in claim.procedures:
        if not _well_formed(proc.code):
            out.append(ctx.finding(
                f"{proc.code!s} is not a valid CPT/HCPCS code (expected 5 characters like 72148 or G0283).",
                codes=[proc.code], rows=[proc.row] if proc.row else None,
                brief=f"malformed code {proc.code}"))
        elif claim.dos is not None:
            verdict = lists.verdict(proc.code, claim.dos)
            if verdict is not None and verdict.kind == "unknown":
                out.append(ctx.finding(
                    f"{proc.code} is not in the imported code list {verdict.source}.",
                    codes=[proc.code], rows=[proc.row] if proc.row else None,
                    brief=f"unknown code {proc.code}"))
        if proc.units == 0:
            out.append(ctx.finding(
                f"{proc.code} is billed with 0 units: a claim line bills 1 unit or more (CMS-1500 item 24G), "
                "so the line is rejected.",
                codes=[proc.code], rows=[proc.row] if proc.row else None,
                suggestion=f"enter the units of {proc.code} performed (1 or more), or remove the line",
                brief=f"{proc.code} with 0 units"))
    return out


@rule("C106", severity="error", reads=("procedures", "dos"),
      reference="AMA CPT annual updates (code deletions); CMS HCPCS annual file; imported code lists")
def deleted_procedure(claim, ctx):
    """A CPT/HCPCS code that was deleted before the date of service, or not yet in effect.

    Why: deleted codes are rejected, and so are codes used before their effective date. Built in:
    the deletions a spine or therapy practice still meets (99201 on 2021-01-01, 62310-62319 and
    97001-97004 on 2017-01-01, 95900-95904 on 2013-01-01, ...) with their replacements and the
    annual update each comes from. An imported list (``xlsheets codes import-hcpcs`` /
    ``import-cpt``) adds the dates of every code it lists.
    Bad: 99201 on 2022-03-01 ; 62311 on 2018-05-01 ; 62323 on 2016-06-01
    Good: 99202 ; 62323 on 2018-05-01
    Fix: use the code in force on the date of service (the replacement named).
    """
    if claim.dos is None:
        return
    lists = get_procedure_codes()
    day = claim.dos.isoformat()
    for proc in claim.procedures:
        verdict = lists.verdict(proc.code, claim.dos)
        if verdict is None or verdict.kind == "unknown":
            continue
        rows = [proc.row] if proc.row else None
        if verdict.kind == "deleted":
            yield ctx.finding(
                f"{proc.code} was deleted on {verdict.since.isoformat()} ({verdict.source}) and cannot be "
                f"billed for {day}." + (f" Use {verdict.replacement}." if verdict.replacement else ""),
                codes=[proc.code], suggestion=verdict.replacement, rows=rows, brief=f"{proc.code} deleted")
        else:
            yield ctx.finding(
                f"{proc.code} is not valid on {day}: it took effect on {verdict.since.isoformat()} ({verdict.source}).",
                codes=[proc.code], rows=rows, brief=f"{proc.code} not yet valid on {day}")


@rule("C107", severity="warning", reads=("diagnoses",), reference="CMS-1500 / 837P diagnosis list")
def duplicate_diagnosis(claim, ctx):
    """The same diagnosis listed twice on one claim.

    Why: duplicates waste one of the twelve diagnosis slots and some clearinghouses reject them.
    Bad: M54.17, G89.29, M54.17
    Good: M54.17, G89.29
    Fix: remove the repeated code.
    """
    out = []
    seen = set()
    for code in claim.diagnoses:
        if code in seen:
            out.append(ctx.finding(f"{code} is listed more than once.", codes=[code],
                              suggestion="remove the duplicate", brief=f"{code} listed twice"))
        seen.add(code)
    return out


@rule("C108", severity="warning", reads=("diagnoses", "dos"), reference="CMS ICD-10-CM releases")
def no_code_set(claim, ctx):
    """No loaded ICD-10-CM code set covers the date of service.

    Why: codes change every October 1 (and April 1); checking a claim against another year's
    code set would give wrong answers, so xlsheets says it cannot check instead.
    Bad: a date of service after the newest bundled data (2027-03-31)
    Good: import the CMS release for that year: xlsheets codes import ORDER_FILE TABULAR_XML --effective DATE
    Fix: import the CMS release that covers the date.
    """
    if claim.dos is not None and claim.diagnoses and not ctx.codes.covers(claim.dos):
        cov = ctx.codes.coverage()
        last = max((c["to"] for c in cov), default="?")
        yield ctx.finding(
            f"No loaded ICD-10-CM code set covers {claim.dos.isoformat()} (data ends {last}); the "
            "diagnosis codes were not checked for that date. Import the CMS release for that year "
            "with 'xlsheets codes import'.",
            codes=list(claim.diagnoses), suggestion="xlsheets codes import ORDER_FILE TABULAR_XML --effective DATE",
            brief=f"no code set for {claim.dos.isoformat()}")


@rule("C109", severity="error", reference="CMS-1500 item 24A / 837P DTP*472",
      severities={"when the date is blank or cannot be read": "error",
                  "when the sheet has no date-of-service column": "warning"})
def date_of_service(claim, ctx):
    """The date of service is missing or cannot be read.

    Why: every service line needs a date; codes are valid by date, so nothing date-dependent can
    be checked without one.
    Bad: 13/45/2026 ; blank
    Good: 2026-03-10 or 03/10/2026
    Fix: enter the date of service.
    """
    if claim.dos is not None:
        return None  # the common case, checked on every claim: no generator for it
    if claim.dos_unreadable:
        reason = claim.facts.get("dos_text", "unreadable")
        return [ctx.finding(f"The date of service cannot be read: {reason}.", column="dos",
                            suggestion="enter the date as 2026-03-10 or 03/10/2026",
                            brief="date of service unreadable")]
    if claim.known("dos"):
        return [ctx.finding("The date of service is blank.", column="dos",
                            suggestion="enter the date of service", brief="date of service missing")]
    # An absent column means the date is unknown, not missing from the claim (domain §2):
    # review, not an error.
    return [ctx.finding("The sheet has no date-of-service column, so codes could not be checked by date.",
                        column="dos", severity="warning", suggestion="add a 'Date of Service' column",
                        brief="no date of service")]


@rule("C110", severity="warning", setting="electronic_format", reference="ASC X12 837P: ICD-10-CM codes without the decimal point")
def electronic_format(claim, ctx):
    """A diagnosis written with a decimal point where the electronic (837) format is configured.

    Why: electronic claims carry codes without the decimal point (M5417); some clearinghouse
    uploads reject the dotted form. Off unless ``electronic_format = true``.
    Bad: M54.17
    Good: M5417
    Fix: write the code without the decimal point.
    """
    for code, (_column, raw) in zip(claim.diagnoses, claim.dx_cells):
        if "." in raw:
            yield ctx.finding(f"{raw} has a decimal point; the electronic format is {electronic(code)}.",
                              codes=[code], suggestion=electronic(code), brief=f"write {electronic(code)}")


@rule("C111", severity="error", procedures=tuple(cpt.ADDON_PRIMARIES), reads=("procedures",),
      reference="CPT add-on code conventions; NCCI Policy Manual ch. I")
def addon_without_primary(claim, ctx):
    """An add-on code billed without its primary procedure on the claim.

    Why: add-on codes (each additional level, each additional study) are only paid with their
    primary code on the same claim.
    Bad: 64484 without 64483; 64480 without 64479; 95886 without one of 95907-95913
    Good: 64483 + 64484
    Fix: add the primary procedure, or bill the primary code instead of the add-on.
    When an NCCI add-on code file is loaded, N503 checks add-on codes from it instead (for a
    payer that runs N503; one that ignores N503 keeps this check).
    """
    if aoc_loaded(ctx.settings) and ctx.runs("N503"):
        return None  # N503 has the full CMS list: one finding per problem
    codes = {p.code for p in claim.procedures}
    for proc in claim.procedures:
        primaries = cpt.ADDON_PRIMARIES.get(proc.code)
        if primaries and not codes & set(primaries):
            wanted = sorted(primaries)
            yield ctx.finding(
                f"Add-on code {proc.code} needs its primary procedure on the same claim "
                f"({_listing(wanted, 7)}).",
                codes=[proc.code], suggestion=" / ".join(wanted[:3]), rows=[proc.row] if proc.row else None,
                brief=f"{proc.code} without primary {wanted[0]}")


@rule("C112", severity="error", reads=("diagnoses", "present"),
      reference="CMS-1500 item 21 / 837P HI segment (at least one diagnosis)")
def no_diagnosis(claim, ctx):
    """No diagnosis code could be read for the claim.

    Why: a professional claim needs at least one ICD-10-CM code (CMS-1500 item 21, the 837P HI
    segment); without one it is rejected, and none of the diagnosis rules could check anything.
    Bad: every diagnosis cell blank, or holding only Excel errors; a sheet without a diagnosis column
    Good: M54.17 in the first diagnosis column
    Fix: enter the diagnosis codes, or map the sheet's diagnosis column (see ``[columns]`` in the
    configuration).
    """
    if claim.diagnoses:
        return None  # the common case: no generator for it
    if not claim.present & _DX_COLUMNS:
        return [ctx.finding("The sheet has no diagnosis column that xlsheets recognises, so no diagnosis "
                            "code was read for this claim and none could be checked.",
                            suggestion="name the column Dx 1 (or Diagnoses), or map it under [columns] "
                            "in xlsheets.toml", brief="no diagnosis column")]
    return [ctx.finding("No diagnosis code could be read for this claim: its diagnosis cells are blank "
                        "or unreadable. A claim needs at least one ICD-10-CM code.",
                        suggestion="enter the diagnosis codes", brief="no diagnosis")]


@rule("C113", severity="error", reads=("procedures", "present"),
      reference="837P loop 2400 (at least one service line) / CMS-1500 item 24")
def no_procedure(claim, ctx):
    """The sheet has procedure columns, but this claim has no procedure.

    Why: a professional claim needs at least one service line with a CPT/HCPCS code; without one it
    is rejected, and none of the procedure rules could check anything.
    Bad: every procedure cell of the claim blank, or holding only Excel errors
    Good: 64483-RT in the first procedure column
    Fix: enter the procedure codes of the claim.
    """
    if claim.procedures or not claim.present & _CPT_COLUMNS:
        return None
    return [ctx.finding("The claim has no procedure: its procedure cells are blank or unreadable. "
                        "A claim needs at least one CPT/HCPCS service line.",
                        suggestion="enter the procedure codes", brief="no procedure")]


@rule("C114", severity="error", procedures=tuple(cpt.IMAGING_GUIDANCE), reads=("procedures", "dos"),
      reference="CPT 2011 (64479-64484) and 2017 (62320-62327): imaging guidance included; NCCI PTP edits")
def guidance_included(claim, ctx):
    """Imaging guidance billed with an injection whose code already includes it.

    Why: the transforaminal codes (64479-64484, since 2011) and the interlaminar codes with
    imaging (62321, 62323, 62325, 62327, since 2017) include fluoroscopy or CT guidance; NCCI
    bundles 77003 and 77012 into them, so the guidance line is denied.
    Bad: 64483 + 77003 ; 62323 + 77012
    Good: 64483 alone ; 62322 (without imaging) when no guidance was used
    Fix: remove the imaging guidance line.
    Where the payer runs N501 and the loaded NCCI PTP file has an edit for the pair, N501
    decides it (one finding per problem) when it denies the guidance line or the guidance line
    carries an NCCI-associated modifier (59, XS...); the injection's side modifier alone (RT,
    LT) does not make the guidance separately billable, so C114 still reports it then.
    """
    if claim.dos is None:
        return
    for inj in claim.procedures:
        since = cpt.GUIDANCE_INCLUDED_SINCE.get(inj.code)
        if since is None or claim.dos < since:
            continue
        for guide in claim.procedures:
            if guide.code in cpt.IMAGING_GUIDANCE and not (
                    ctx.runs("N501") and ptp_decides_guidance(ctx.settings, guide, inj, claim.dos)):
                yield ctx.finding(
                    f"Imaging guidance {guide.code} is included in {inj.code} (since {since.isoformat()}) "
                    "and is not billed separately; the line will be denied.",
                    codes=[guide.code, inj.code], suggestion=f"remove {guide.code}",
                    rows=[guide.row] if guide.row else None, brief=f"{guide.code} included in {inj.code}")
        return  # one finding per guidance line, against the first injection that includes it


_DX_COLUMNS = frozenset(("diagnoses", *(f"dx{i}" for i in range(1, 13))))
_CPT_COLUMNS = frozenset(("procedures", *(f"cpt{i}" for i in range(1, 13))))


RULES = [unknown_code, header_code, not_valid_on_date, seventh_character, malformed_procedure,
         deleted_procedure, duplicate_diagnosis, no_code_set, date_of_service, electronic_format,
         addon_without_primary, no_diagnosis, no_procedure, guidance_included]


@hookimpl
def xlsheets_rules():
    return RULES
