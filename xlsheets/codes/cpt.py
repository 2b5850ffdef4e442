"""CPT / HCPCS Level II facts the rules need: code shape, categories, add-on relations, deletions.

CPT descriptors are AMA copyright: none are shipped here. Code numbers, their categories,
add-on/primary relations and deletion dates are facts. A user with a CPT licence may load their
own descriptor file (``load_descriptors``) for display.
"""

from __future__ import annotations

import csv
import os
import re
from datetime import date
from typing import Any

from .proclists import HISTORY

__all__ = [
    "normalize", "is_well_formed", "category", "deleted", "is_addon", "load_descriptors",
    "describe", "ESI_INTERLAMINAR", "ESI_WITHOUT_IMAGING", "ESI_WITH_IMAGING", "ESI_TRANSFORAMINAL",
    "ESI_TRANSFORAMINAL_PRIMARY", "ESI_TRANSFORAMINAL_ADDON", "ESI", "LUMBAR_ADVANCED_IMAGING",
    "EMG_NCS", "NCS", "NEEDLE_EMG", "PT_CODES", "TRIGGER_POINT", "EM_OFFICE", "ADDON_PRIMARIES", "DELETED",
]


def _span(a: int, b: int) -> frozenset[str]:
    return frozenset(str(n) for n in range(a, b + 1))


# CPT Category I (4 digits + digit), II (F), III (T), PLA (U); HCPCS Level II: letter + 4 digits.
_SHAPE = re.compile(r"[0-9]{4}[0-9FTU]|[A-V][0-9]{4}")


def normalize(value: Any) -> str | None:
    """Code text from a cell: ``72148``, ``72148.0`` (Excel number), `` 0275t`` -> upper case."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    s = str(value).replace("\u00a0", " ").strip().upper()
    return s or None


def is_well_formed(code: Any) -> bool:
    """Shape check only (rule C105): ``72148``, ``0275T``, ``3074F``, ``G0283`` yes; ``7214``, ``ABCDE`` no."""
    s = normalize(code)
    return s is not None and _SHAPE.fullmatch(s) is not None


# --- categories ------------------------------------------------------------------------------

ESI_INTERLAMINAR = frozenset({"62320", "62321", "62322", "62323"})  # 62320/1 cervical-thoracic, 62322/3 lumbar-sacral
ESI_WITHOUT_IMAGING = frozenset({"62320", "62322"})
ESI_WITH_IMAGING = ESI_INTERLAMINAR - ESI_WITHOUT_IMAGING
# The rule range 64479-64484 as policies quote it; assigned codes are 64479, 64480, 64483, 64484.
ESI_TRANSFORAMINAL = _span(64479, 64484)
ESI_TRANSFORAMINAL_PRIMARY = frozenset({"64479", "64483"})  # single level: cervical/thoracic, lumbar/sacral
ESI_TRANSFORAMINAL_ADDON = frozenset({"64480", "64484"})  # each additional level
ESI = ESI_INTERLAMINAR | ESI_TRANSFORAMINAL

LUMBAR_ADVANCED_IMAGING = frozenset({"72148", "72149", "72158"})  # lumbar MRI without / with / without+with

NEEDLE_EMG = _span(95860, 95872) | _span(95885, 95887)
NCS = _span(95907, 95913)
EMG_NCS = NEEDLE_EMG | NCS

PT_CODES = frozenset(
    {"97110", "97112", "97116", "97012", "97014", "97035", "97140", "97530", "G0283"}
) | _span(97161, 97164)

TRIGGER_POINT = frozenset({"20552", "20553"})

# Imaging guidance (fluoroscopy 77003, CT 77012) and the injection codes that include it (C114):
# CPT bundled it into 64479-64484 on 2011-01-01 and into the with-imaging codes of 62320-62327
# when they replaced 62310-62319 on 2017-01-01; NCCI's PTP edits deny the pair.
IMAGING_GUIDANCE = frozenset({"77003", "77012"})
GUIDANCE_INCLUDED_SINCE: dict[str, date] = {
    **dict.fromkeys(("64479", "64480", "64483", "64484"), date(2011, 1, 1)),
    **dict.fromkeys(("62321", "62323", "62325", "62327"), date(2017, 1, 1)),
}

# Nerve blocks and facet injections: with an ESI or a trigger point injection, an encounter for
# pain control (guideline I.C.6.b.1.a names spinal injections as its example; rule S310).
NERVE_BLOCKS = _span(64400, 64530) | _span(64490, 64495) | _span(64633, 64636)

EM_OFFICE = _span(99202, 99205) | _span(99211, 99215)

# add-on code -> the primary codes it must be reported with (rule C111)
ADDON_PRIMARIES: dict[str, frozenset[str]] = {
    "64480": frozenset({"64479"}),
    "64484": frozenset({"64483"}),
    "95885": NCS,
    "95886": NCS,
    "95887": NCS,
    "64462": frozenset({"64461"}),
    "64634": frozenset({"64633"}),
    "64636": frozenset({"64635"}),
    "22614": frozenset({"22600", "22610", "22612", "22630", "22633"}),
    "22632": frozenset({"22630"}),
    "22634": frozenset({"22633"}),
    "63048": frozenset({"63047"}),
    "99417": frozenset({"99205", "99215"}),
    "G2211": EM_OFFICE,
}

# deleted code -> (first date it is no longer valid, replacement); the dated facts with their
# sources, and imported code lists, are in proclists (rules C105/C106 ask it)
DELETED: dict[str, tuple[date, str]] = {c: (f.deleted, f.replacement) for c, f in HISTORY.items()}

_CATEGORIES: list[tuple[str, frozenset[str]]] = [
    ("em_office", EM_OFFICE),
    ("esi_interlaminar", ESI_INTERLAMINAR),
    ("esi_transforaminal", ESI_TRANSFORAMINAL),
    ("lumbar_advanced_imaging", LUMBAR_ADVANCED_IMAGING),
    ("emg_ncs", EMG_NCS),
    ("physical_therapy", PT_CODES),
    ("trigger_point", TRIGGER_POINT),
]


def category(code: Any) -> str | None:
    """``em_office``, ``esi_interlaminar``, ``esi_transforaminal``, ``lumbar_advanced_imaging``,
    ``emg_ncs``, ``physical_therapy``, ``trigger_point``, or None."""
    s = normalize(code)
    for name, members in _CATEGORIES:
        if s in members:
            return name
    return None


def is_addon(code: Any) -> bool:
    return normalize(code) in ADDON_PRIMARIES


def deleted(code: Any, dos: date) -> tuple[date, str] | None:
    """(deletion date, replacement) when ``code`` is deleted on ``dos`` (rule C106), else None."""
    hit = DELETED.get(normalize(code) or "")
    if hit is not None and dos >= hit[0]:
        return hit
    return None


# --- user-supplied descriptors (display only) --------------------------------------------------

_descriptors: dict[str, str] = {}


def load_descriptors(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a licensed descriptor file (CSV: code, description; a header row is skipped).

    Kept in memory for display only; returns the mapping.
    """
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f):
            if len(row) < 2:
                continue
            code = normalize(row[0])
            if code and is_well_formed(code):
                out[code] = row[1].strip()
    _descriptors.clear()
    _descriptors.update(out)
    return out


def describe(code: Any) -> str | None:
    """The user's own descriptor for ``code`` if they loaded one, else None."""
    return _descriptors.get(normalize(code) or "")
