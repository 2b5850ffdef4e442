"""X2xx: ICD-10-CM instructional notes (Excludes1, Excludes2, code first), for every chapter.

Data-driven: the notes come from the CMS tabular file, and a note applies to every descendant of
the code that carries it (M54.17 inherits M54.1's Excludes1 note naming M51.1-).
"""
from __future__ import annotations

from ..hookspecs import hookimpl
from ..rule import rule

EXCLUDES1_EXCEPTION = (
    "Excludes1 codes are not reported together, except when the two conditions are unrelated "
    "(ICD-10-CM guideline I.A.12.a)."
)


_PAIR_CACHE: dict[tuple, object] = {}  # (code set, a, b) -> PairNote | None; claims repeat pairs
_TITLE_CACHE: dict[tuple, bool] = {}
_CLAIM_CACHE: dict[tuple, tuple] = {}  # (code set, diagnoses) -> relations


def _relations(claim, ctx):
    """(a, b, PairNote) for each pair of distinct known codes with an Excludes note, once per claim."""
    cs = ctx.codes
    claim_key = (id(cs), claim.diagnoses)
    hit = _CLAIM_CACHE.get(claim_key)
    if hit is not None:
        return hit
    known = []
    for d in dict.fromkeys(claim.diagnoses):  # notes say nothing about unknown codes
        key = (id(cs), d)
        ok = _TITLE_CACHE.get(key)
        if ok is None:
            ok = _TITLE_CACHE[key] = cs.title(d) is not None
        if ok:
            known.append(d)
    hit = []
    for i, a in enumerate(known):
        for b in known[i + 1:]:
            key = (id(cs), a, b)
            pair = _PAIR_CACHE.get(key, _PAIR_CACHE)
            if pair is _PAIR_CACHE:
                if len(_PAIR_CACHE) > 200_000:
                    _PAIR_CACHE.clear()
                pair = _PAIR_CACHE[key] = cs.pair(a, b)
            if pair is not None:
                hit.append((a, b, pair))
    if len(_CLAIM_CACHE) > 100_000:
        _CLAIM_CACHE.clear()
    _CLAIM_CACHE[claim_key] = hit = tuple(hit)
    return hit


def _join_note(items) -> str:
    """Note lines as one sentence: "underlying disease, such as: neoplasm (C00-D49)"."""
    out = ""
    for item in items:
        out += ("" if not out else " " if out.endswith(":") else "; ") + item
    return out


def _quote(pair) -> str:
    # Chapter-level notes carry the chapter number ("13"): say "chapter 13", not "13".
    where = f"chapter {pair.carrier}" if pair.carrier.isdigit() else pair.carrier
    return f"{where} says \"{pair.kind.capitalize()}: {pair.note}\""


@rule("X201", severity="error", reads=("diagnoses",), reference="ICD-10-CM Official Guidelines I.A.12.a (Excludes1)")
def excludes1(claim, ctx):
    """Two codes on the claim form an Excludes1 pair.

    Why: an Excludes1 note means "not coded here": the two conditions cannot occur together, so
    payers deny the pair. The exception: the conditions are unrelated (guideline I.A.12.a); a
    policy may downgrade this rule to a warning for that reason (``[severity] X201 = "warning"``).
    Bad: M54.17 with M51.17 (M54.1 excludes radiculopathy with lumbar disc disorder, M51.1-)
    Good: M51.17 alone
    Fix: keep the code the documentation supports; document why if the conditions are unrelated.
    """
    for a, b, pair in _relations(claim, ctx):
        if pair.kind == "excludes1":
            yield ctx.finding(
                f"{a} and {b} form an Excludes1 pair: {_quote(pair)}. {EXCLUDES1_EXCEPTION}",
                codes=[a, b],
                # Notes often exclude each other both ways (M54.1 / M51.1): which code stays is
                # the documentation's call, not the note's.
                suggestion=f"keep {a} or {b}, whichever the documentation supports, "
                           "or document that the conditions are unrelated",
                brief=f"{a} and {b} are Excludes1")


@rule("X202", severity="info", reads=("diagnoses",), reference="ICD-10-CM Official Guidelines I.A.12.b (Excludes2)")
def excludes2(claim, ctx):
    """Two codes on the claim form an Excludes2 pair (allowed together).

    Why: Excludes2 means "not included here": the patient may have both conditions, and both may
    be coded. Shown as information so the coder confirms both are documented.
    Bad: (nothing wrong) G89.29 with M54.17
    Good: G89.29 with M54.17, both documented
    Fix: none needed when both conditions are documented.
    """
    for a, b, pair in _relations(claim, ctx):
        if pair.kind == "excludes2":
            yield ctx.finding(
                f"{a} and {b} form an Excludes2 pair ({_quote(pair)}): both may be coded when both "
                "conditions are documented.", codes=[a, b], brief=f"{a} and {b}: Excludes2")


@rule("X203", severity="error", reads=("diagnoses",), reference="ICD-10-CM Official Guidelines I.A.13 (etiology/manifestation)")
def manifestation_first(claim, ctx):
    """A manifestation code is listed first.

    Why: codes titled "in diseases classified elsewhere", and codes with a "code first" note,
    describe a manifestation; the underlying condition must be sequenced first, and a claim with
    a manifestation code first-listed is rejected.
    Bad: G55 first (nerve root compression in diseases classified elsewhere)
    Good: C79.51 (the underlying neoplasm) first, then G55
    Fix: list the underlying condition first.
    """
    if not claim.diagnoses:
        return
    first = claim.diagnoses[0]
    cs = ctx.codes
    if cs.is_manifestation(first):
        underlying = list(cs.code_first(first) or ())
        yield ctx.finding(
            f"{first} is a manifestation code and cannot be listed first; code the underlying "
            "condition first." + (f" Its note says: code first {_join_note(underlying[:2])}." if underlying else ""),
            codes=[first], suggestion="list the underlying condition first",
            brief=f"{first} cannot be first")


RULES = [excludes1, excludes2, manifestation_first]


@hookimpl
def xlsheets_rules():
    return RULES
