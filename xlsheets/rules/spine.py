"""S3xx: spine coding. Radiculopathy (M54.1x), its region, and what documentation says it is.

Built from the article the product grew from, corrected against the official guidelines: the
chronic-pain suggestion (S305) has no official time frame behind it, so it is information only
and configurable.
"""
from __future__ import annotations

import re

from ..codes import cpt
from ..hookspecs import hookimpl
from ..rule import rule

RADICULOPATHY = ("M54.1",)
# Radiculopathy by region -> the disc-disorder-with-radiculopathy code of that region.
DISC_WITH_RADICULOPATHY = {
    "M54.12": "M50.1-", "M54.13": "M50.13", "M54.14": "M51.14",
    "M54.15": "M51.15", "M54.16": "M51.16", "M54.17": "M51.17",
}
# Radiculopathy by region -> spondylosis with radiculopathy of that region.
SPONDYLOSIS_WITH_RADICULOPATHY = {
    "M54.11": "M47.21", "M54.12": "M47.22", "M54.13": "M47.23", "M54.14": "M47.24",
    "M54.15": "M47.25", "M54.16": "M47.26", "M54.17": "M47.27", "M54.18": "M47.28",
}
ESI = frozenset(cpt.ESI_INTERLAMINAR) | frozenset(cpt.ESI_TRANSFORAMINAL)
UNSPECIFIED_SIDE = {"M54.30": ("M54.31", "M54.32"), "M54.40": ("M54.41", "M54.42")}


def _radiculopathy(claim):
    return [d for d in claim.diagnoses if d.startswith("M54.1") and len(d) == 6]


@rule("S301", severity="error", dx=RADICULOPATHY, needs=("disc_disorder_confirmed",),
      reference="ICD-10-CM tabular M54.1 Excludes1 (M50.1-, M51.1-)")
def radiculopathy_with_disc_disorder(claim, ctx):
    """Radiculopathy (M54.1x) coded while imaging confirms a disc disorder as the cause.

    Why: M54.1 excludes radiculopathy with a disc disorder; when a disc disorder causes it, the
    combination code of the disc chapter is the right one, and M54.1x is denied.
    Bad: M54.17 with disc disorder confirmed
    Good: M51.17 (lumbosacral disc disorder with radiculopathy)
    Fix: replace M54.1x with the disc-disorder code of the same region (M51.16 / M51.17).
    """
    if not claim.yes("disc_disorder_confirmed"):
        return
    for code in _radiculopathy(claim):
        fix = DISC_WITH_RADICULOPATHY.get(code, "M51.16 / M51.17")
        yield ctx.finding(
            f"{code} (radiculopathy) is coded but a disc disorder is confirmed as the cause; code the "
            f"disc disorder with radiculopathy instead ({fix}).",
            codes=[code], suggestion=fix, brief="disc disorder confirmed")


_LEVEL = re.compile(r"([CTLS])\s*(\d{1,2})", re.I)


def level_region(text: str) -> str | None:
    """``"lumbar"`` for levels within L1-L4 (L4-L5 included), ``"lumbosacral"`` for S levels
    (L5-S1, S1) without a higher lumbar level, None when ambiguous (L5 alone) or mixed."""
    region = _REGIONS.get(text, _REGIONS)
    if region is _REGIONS:
        region = _level_region(text)
        if len(_REGIONS) < 10_000:
            _REGIONS[text] = region
    return region


_REGIONS: dict[str, str | None] = {}  # level text -> region: sheets repeat a few level texts


def _level_region(text: str) -> str | None:
    levels = {(m[1].upper(), int(m[2])) for m in _LEVEL.finditer(text)}
    lumbar = any(seg == "L" and 1 <= n <= 4 for seg, n in levels)
    sacral = any(seg == "S" for seg, n in levels)
    if lumbar and not sacral:
        return "lumbar"
    if sacral and not lumbar:
        return "lumbosacral"
    return None


SPINE = tuple(f"M{n}" for n in range(40, 55))  # dorsopathies: where region-specific codes live
_REGION_WORDS = (("lumbosacral", re.compile(r"\blumbosacral region")),
                 ("sacral", re.compile(r"\bsacral and sacrococcygeal region")),
                 ("lumbar", re.compile(r"(?<![a-z])lumbar region")))  # not "thoracolumbar region"
_REGION_OF_LEVEL = {"lumbar": "lumbar", "lumbosacral": "lumbosacral"}


def code_region(title: str | None) -> str | None:
    """``lumbar``, ``lumbosacral`` or ``sacral`` from a code's tabular title
    ("Radiculopathy, lumbar region"), else None. Thoracolumbar is not lumbar."""
    for region, pattern in _REGION_WORDS:
        if title and pattern.search(title):
            return region
    return None


def _without(title: str, words: re.Pattern) -> str:
    return " ".join(words.sub(" ", title.lower()).replace(",", " ").split())


def counterpart(cs, code: str, region: str, dos) -> tuple[str, ...]:
    """The codes of the same category and meaning for another region (M51.16 -> M51.17; M48.061
    -> M48.07; M48.07 -> M48.061, M48.062), from the titles: the same words with the region
    swapped; failing that the code whose words this code's start with, or those starting with
    this code's words."""
    key = (id(cs), code, region, dos)
    hit = _COUNTERPARTS.get(key, _COUNTERPARTS)
    if hit is _COUNTERPARTS:
        hit = ()
        title = cs.title(code, dos) or ""
        mine = code_region(title)
        if mine:
            own_words = dict(_REGION_WORDS)[mine]
            want_words = dict(_REGION_WORDS)[region]
            base = _without(title, own_words)
            best, longer = (-1, ""), []
            for other in cs.billable_children(code[:3], dos):
                t = cs.title(other, dos) or ""
                if code_region(t) != region:
                    continue
                words = _without(t, want_words)
                score = 10_000 if words == base else (len(words) if base.startswith(words) else -1)
                if score > best[0]:
                    best = (score, other)
                if words.startswith(base):
                    longer.append(other)
            hit = (best[1],) if best[0] >= 0 else tuple(longer)
        if len(_COUNTERPARTS) > 10_000:
            _COUNTERPARTS.clear()
        _COUNTERPARTS[key] = hit
    return hit


_COUNTERPARTS: dict[tuple, tuple[str, ...]] = {}
_CODE_REGIONS: dict[tuple, str | None] = {}


def _region_of(cs, code: str, dos) -> str | None:
    key = (id(cs), code)
    if key not in _CODE_REGIONS:
        if len(_CODE_REGIONS) > 50_000:
            _CODE_REGIONS.clear()
        _CODE_REGIONS[key] = code_region(cs.title(code, dos))
    return _CODE_REGIONS[key]


@rule("S302", severity="warning", dx=SPINE, needs=("nerve_root_level",),
      reads=("diagnoses", "nerve_root_level", "dos"),
      reference="ICD-10-CM M40-M54 region subclassification (lumbar / lumbosacral / sacral)")
def level_contradicts_region(claim, ctx):
    """The documented nerve-root level contradicts the region of a region-specific spine code.

    Why: lumbar codes (M54.16, M51.16, M51.26, M51.36x, M47.26, M47.816, M43.16, M48.06x, ...)
    and lumbosacral codes (M54.17, M51.17, M51.27, M51.37x, M47.27, M47.817, M43.17, M48.07, ...)
    differ by level: L1-L4 (L4-L5 included) are lumbar; L5-S1 and S1 are lumbosacral. A sacral
    code (M54.18) does not fit lumbar levels either. L5 alone is ambiguous and left alone. The
    region comes from each code's tabular title, so every region-specific code is covered.
    Bad: M54.17 with level L4-L5 ; M54.16 with L5-S1 ; M51.26 with L5-S1 ; M47.817 with L3-L4
    Good: M54.16 with L4-L5 ; M54.17 with L5-S1 ; M51.27 with L5-S1
    Fix: use the code of the documented region.
    """
    level = claim.text("nerve_root_level")
    documented = _REGION_OF_LEVEL.get(level_region(level) or "")
    if documented is None:
        return
    cs, dos = ctx.codes, claim.dos
    for code in claim.diagnoses:
        if not code.startswith(SPINE):
            continue
        region = _region_of(cs, code, dos)
        if region is None or region == documented or (region == "sacral" and documented == "lumbosacral"):
            continue
        fixes = counterpart(cs, code, documented, dos) if dos is not None else ()
        if any(f in claim.diagnoses for f in fixes):
            continue  # both regions coded: S303's question (payer policy), not a contradiction
        fix = " / ".join(fixes) or None
        yield ctx.finding(
            f"{code} ({region}) is coded but the documented level {level} is {documented}"
            + (f"; use {fix}." if fix else f"; use the {documented} code."),
            codes=[code], suggestion=fix, brief=f"level {level} is {documented}")


@rule("S303", severity="warning", dx=("M54.16", "M54.17"), reads=("diagnoses", "payer"),
      severities={"to verify the payer's policy": "warning",
                  "when a payer plugin (or pair_policy_default) says deny": "error"},
      reference="payer policy")
def lumbar_and_lumbosacral(claim, ctx):
    """M54.16 and M54.17 on the same claim: payers differ; verify the payer's policy.

    Why: some payers accept both regions on one claim when both are documented, others deny the
    pair as overlapping. A payer plugin can decide (allow: nothing; deny: error); without one,
    this is a warning to verify.
    Bad: M54.16 and M54.17 for a payer that denies the pair
    Good: the single code of the documented region
    Fix: check the payer's policy; code only the documented region.
    """
    if "M54.16" not in claim.diagnoses or "M54.17" not in claim.diagnoses:
        return
    answer = ctx.pair_policy("M54.16", "M54.17", claim) or ctx.settings.get("pair_policy_default", "review")
    if answer == "allow":
        return
    if answer == "deny":
        yield ctx.finding(f"{claim.payer or 'This payer'} does not accept M54.16 with M54.17 on one claim; "
                          "keep the code of the documented region.", codes=["M54.16", "M54.17"],
                          severity="error", suggestion="M54.16 / M54.17 (one of them)",
                          brief="payer denies M54.16 with M54.17")
    else:
        yield ctx.finding("M54.16 and M54.17 are both coded: verify the payer's policy on reporting "
                          "lumbar and lumbosacral radiculopathy together.", codes=["M54.16", "M54.17"],
                          suggestion="verify payer policy", brief="verify payer policy (M54.16 + M54.17)")


@rule("S304", severity="error", dx=RADICULOPATHY, needs=("trauma",),
      reference="ICD-10-CM M54.1 Excludes1 (injury of nerve root, S34.2-); guideline I.C.19")
def traumatic_radiculopathy(claim, ctx):
    """Trauma documented while a radiculopathy code (non-traumatic) is used.

    Why: M54.1x describes non-traumatic radiculopathy; nerve-root injury is coded in chapter 19
    with a 7th character for the encounter.
    Bad: M54.16 with trauma = Y
    Good: S34.21XA (injury of nerve root of lumbar spine, initial encounter)
    Fix: code the injury (S34.21- lumbar, S34.22- sacral) with its 7th character (A, D or S).
    """
    if not claim.yes("trauma"):
        return
    for code in _radiculopathy(claim):
        fix = "S34.22XA" if code == "M54.18" else "S34.21XA"
        yield ctx.finding(
            f"Trauma is documented, but {code} is for non-traumatic radiculopathy; code the nerve-root "
            f"injury instead ({fix}, with the 7th character A initial, D subsequent or S sequela).",
            codes=[code], suggestion=fix, brief=f"traumatic: use {fix}")


@rule("S305", severity="info", needs=("symptom_weeks",), setting="chronic_pain_suggestion",
      reference="ICD-10-CM Official Guidelines I.C.6.b.4 (chronic pain)")
def chronic_pain_suggestion(claim, ctx):
    """Long-standing symptoms without G89.29: a suggestion, not a requirement.

    Why: the article this product grew from suggests G89.29 after 12 weeks. The official guideline
    (I.C.6.b.4) sets no time frame for chronic pain, and G89 codes are used when the encounter is
    for pain control or management. Information only; the threshold is the setting
    ``chronic_pain_weeks`` and ``chronic_pain_suggestion = false`` turns it off.
    Bad: symptoms 16 weeks, pain-management encounter, no G89.29
    Good: G89.29 added when the provider documents chronic pain
    Fix: consider G89.29 if the provider documents chronic pain.
    """
    weeks = claim.number("symptom_weeks")
    if weeks is None:
        return None
    threshold = float(ctx.settings.get("chronic_pain_weeks", 12))
    if weeks < threshold or claim.dx_with_prefix("G89.2"):
        return None
    return [ctx.finding(
        f"Symptoms for {weeks:g} weeks (threshold {threshold:g}, a practice setting): consider G89.29 "
        "if the provider documents chronic pain. The official guideline (I.C.6.b.4) sets no time "
        "frame for chronic pain; G89 codes are used when the encounter is for pain management.",
        suggestion="G89.29", brief="consider G89.29")]


@rule("S306", severity="warning", dx=("G89",), needs=("pain_management_encounter",),
      reference="ICD-10-CM Official Guidelines I.C.6.b.1")
def pain_code_first(claim, ctx):
    """A G89 pain code first-listed while the encounter is not for pain management.

    Why: G89 codes are not assigned (let alone first) when the definitive diagnosis is known,
    unless the encounter is for pain control or management (a spinal injection, say), in which
    case G89 is listed first.
    Bad: G89.29, M51.17 for an office visit about the disc disorder
    Good: M51.17, G89.29 ; or G89.29 first for a pain-management injection
    Fix: list the definitive diagnosis first.
    """
    if not claim.diagnoses or not claim.diagnoses[0].startswith("G89"):
        return
    if claim.yes("pain_management_encounter"):
        return
    if claim.has_procedure(ESI | frozenset(cpt.TRIGGER_POINT)):
        return  # an injection encounter is for pain management (the guideline's own example)
    first = claim.diagnoses[0]
    others = [d for d in claim.diagnoses[1:] if not d.startswith("G89")]
    yield ctx.finding(
        f"{first} is listed first but the encounter is not documented as being for pain management; "
        "list the definitive diagnosis first.",
        codes=[first], suggestion=(f"list {others[0]} first" if others else "sequence the definitive diagnosis first"),
        brief=f"{first} should not be first")


@rule("S307", severity="error", dx=("M47.81",), reads=("diagnoses",),
      reference="ICD-10-CM M47.81- (without myelopathy or radiculopathy)")
def spondylosis_without_radiculopathy(claim, ctx):
    """Spondylosis *without* radiculopathy (M47.81x) on the same claim as a radiculopathy code.

    Why: the two statements contradict each other. If spondylosis causes the radiculopathy, the
    combination code M47.2x says both.
    Bad: M47.816 with M54.16
    Good: M47.26 (spondylosis with radiculopathy, lumbar)
    Fix: replace both with M47.2x of the region.
    """
    radic = _radiculopathy(claim)
    if not radic:
        return
    for code in claim.dx_with_prefix("M47.81"):
        fix = SPONDYLOSIS_WITH_RADICULOPATHY.get(radic[0], "M47.2x")
        yield ctx.finding(
            f"{code} says spondylosis without radiculopathy, but {radic[0]} (radiculopathy) is also "
            f"coded; if spondylosis causes the radiculopathy, use {fix}.",
            codes=[code, radic[0]], suggestion=fix, brief=f"{code} contradicts {radic[0]}")


@rule("S308", severity="warning", reference="ICD-10-CM guideline I.B.1 (code to the highest specificity)")
def structural_cause_not_coded(claim, ctx):
    """A structural cause confirmed by imaging but not coded.

    Why: confirmed spondylolisthesis (M43.1-) or spinal stenosis with neurogenic claudication
    (M48.062) supports medical necessity for injections and imaging; leaving it out invites denials.
    Bad: spondylolisthesis confirmed, no M43.1x code
    Good: M43.17 (spondylolisthesis, lumbosacral) ; M48.062 for stenosis with claudication
    Fix: add the specific code.
    """
    out = []
    if claim.yes("spondylolisthesis_confirmed") and not claim.dx_with_prefix("M43.1"):
        region = level_region(claim.text("nerve_root_level"))
        fix = "M43.16" if region == "lumbar" else "M43.17"
        out.append(ctx.finding(f"Spondylolisthesis is confirmed but not coded; add {fix} (or the code of the documented region).",
                               suggestion=fix, brief=f"add {fix}"))
    if claim.yes("stenosis_claudication") and "M48.062" not in claim.diagnoses:
        out.append(ctx.finding("Lumbar stenosis with neurogenic claudication is documented but not coded; add M48.062.",
                               suggestion="M48.062", brief="add M48.062"))
    return out


SIDED = SPINE + tuple(f"G{n}" for n in range(54, 60)) + ("M79",)  # spine, nerve roots/plexus, limb pain
_SIDE_WORDS = {"R": re.compile(r"\bright\b"), "L": re.compile(r"\bleft\b"), "B": re.compile(r"\bbilateral\b")}
_SIDE_NAME = {"R": "right", "L": "left", "B": "bilateral"}


def code_side(title: str | None) -> str | None:
    """``R``, ``L`` or ``B`` when a code's title names a side ("Sciatica, right side"), else None."""
    t = (title or "").lower()
    found = [side for side, pattern in _SIDE_WORDS.items() if pattern.search(t)]
    return found[0] if len(found) == 1 else None


def side_counterpart(cs, code: str, side: str, dos) -> str | None:
    """The code of the same category with the other side in its title (M54.41 -> M54.42)."""
    key = (id(cs), code, side, dos)
    hit = _SIDE_COUNTERPARTS.get(key, _SIDE_COUNTERPARTS)
    if hit is _SIDE_COUNTERPARTS:
        hit = None
        title = (cs.title(code, dos) or "").lower()
        mine = code_side(title)
        if mine:
            want = _SIDE_WORDS[mine].sub(_SIDE_NAME[side], title)
            for other in cs.billable_children(code[:3], dos):
                t = (cs.title(other, dos) or "").lower()
                if t == want or (side == "B" and t == want.replace(" side", "").replace("limb", "limbs")):
                    hit = other
                    break
        if len(_SIDE_COUNTERPARTS) > 10_000:
            _SIDE_COUNTERPARTS.clear()
        _SIDE_COUNTERPARTS[key] = hit
    return hit


_SIDE_COUNTERPARTS: dict[tuple, str | None] = {}
_CODE_SIDES: dict[tuple, str | None] = {}


@rule("S309", severity="warning", dx=SIDED, needs=("laterality",), reads=("diagnoses", "laterality", "dos"),
      reference="ICD-10-CM guideline I.B.13 (laterality)")
def unspecified_side(claim, ctx):
    """Laterality is documented but the unspecified-side code is used, or a side code contradicts it.

    Why: when the side is documented, the code for that side is required; unspecified codes
    draw denials from payers that edit for specificity, and a code for the other side than the
    record says (M54.41 right with laterality L) is simply wrong. The side of a code comes from
    its tabular title (spine, nerve-root and limb-pain codes).
    Bad: M54.40 with laterality R ; M54.41 (right) with laterality L ; G57.01 (right) with L
    Good: M54.41 (right) ; M54.42 (left) ; both for bilateral
    Fix: use the code of the documented side.
    """
    side = claim.text("laterality")
    if side not in ("L", "R", "B"):
        return
    cs, dos = ctx.codes, claim.dos
    for code in claim.diagnoses:
        pair = UNSPECIFIED_SIDE.get(code)
        if pair:
            right, left = pair
            fix = {"R": right, "L": left, "B": f"{right} and {left}"}[side]
            yield ctx.finding(f"{code} is the unspecified-side code but laterality {side} is documented; use {fix}.",
                              codes=[code], suggestion=fix, brief=f"use {fix}")
            continue
        if not code.startswith(SIDED):
            continue
        key = (id(cs), code)
        if key not in _CODE_SIDES:
            _CODE_SIDES[key] = code_side(cs.title(code, dos))
        mine = _CODE_SIDES[key]
        if mine is None or mine == side or mine == "B" or dos is None:
            continue
        if side == "B":  # one side coded, both documented: the bilateral code, or the other side too
            fix = side_counterpart(cs, code, "B", dos)
            other = side_counterpart(cs, code, "L" if mine == "R" else "R", dos)
            if fix is None and (other is None or other in claim.diagnoses):
                continue
            fix = fix or f"{code} and {other}"
        else:
            fix = side_counterpart(cs, code, side, dos)
        yield ctx.finding(
            f"{code} is for the {_SIDE_NAME[mine]} side but laterality {side} ({_SIDE_NAME[side]}) is documented"
            + (f"; use {fix}." if fix else "; use the code of the documented side."),
            codes=[code], suggestion=fix, brief=f"{code} is {_SIDE_NAME[mine]}, documented {_SIDE_NAME[side]}")


PAIN_PROCEDURES = ESI | frozenset(cpt.TRIGGER_POINT) | frozenset(cpt.NERVE_BLOCKS)


@rule("S310", severity="warning", dx=("G89",), reads=("diagnoses", "procedures", "pain_management_encounter"),
      reference="ICD-10-CM Official Guidelines I.C.6.b.1.a (G89 first for pain management)")
def pain_code_not_first(claim, ctx):
    """The encounter is for pain management, a G89 code is coded, but it is not first-listed.

    Why: when the encounter is for pain control or management (an epidural steroid injection,
    a nerve block, a trigger point injection: the guideline's own example is a spinal
    injection), the G89 code is sequenced first and the underlying condition after it.
    Bad: M51.17, G89.29 with 64483 ; M54.50, G89.4 with pain-management encounter = Y
    Good: G89.29, M51.17 with 64483
    Fix: list the G89 code first.
    """
    if not claim.diagnoses or claim.diagnoses[0].startswith("G89"):
        return
    if not (claim.yes("pain_management_encounter") or claim.has_procedure(PAIN_PROCEDURES)):
        return
    pain = claim.dx_with_prefix("G89")
    why = ("the encounter is for pain management" if claim.yes("pain_management_encounter")
           else f"{claim.procedures_in(PAIN_PROCEDURES)[0].code} is a pain-management procedure")
    yield ctx.finding(
        f"{pain[0]} is coded but not listed first, and {why}; list the G89 code first, then "
        f"{claim.diagnoses[0]}.", codes=[pain[0], claim.diagnoses[0]], suggestion=f"list {pain[0]} first",
        brief=f"list {pain[0]} first")


RULES = [radiculopathy_with_disc_disorder, level_contradicts_region, lumbar_and_lumbosacral,
         traumatic_radiculopathy, chronic_pain_suggestion, pain_code_first,
         spondylosis_without_radiculopathy, structural_cause_not_coded, unspecified_side, pain_code_not_first]


@hookimpl
def xlsheets_rules():
    return RULES
