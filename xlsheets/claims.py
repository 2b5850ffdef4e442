"""Claims from worksheet rows: header matching, value normalisation, service-line grouping.

A sheet reaches us as a header row and value rows. ``HeaderMap`` is built once per sheet (the
header decides which parser reads each column), then every row becomes a :class:`Claim`. What
cannot be read becomes a finding on the claim (``claim.problems``), never an exception: a
billing person must get a status for every row.

An absent column means the fact is unknown (rules that need it stay silent); a present but blank
cell means "not documented". ``Claim.known()`` tells the two apart.
"""
from __future__ import annotations

import datetime as _dt
import re
from types import MappingProxyType
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

from .codes.icd10cm import normalize as normalize_icd
from .findings import Finding, Severity
from .values import (Unreadable, plain_value, _quote, clean_text, code_text, date_order_of, excel_error, read_date,
                     reads_both_ways,
                     read_flag, read_number)
from .values import UNCALCULATED_FIX, Uncalculated, uncalculated_reason
from .words import number, plural

__all__ = ["Claim", "ClaimIsReadOnly", "Procedure", "HeaderMap", "claims_from_rows", "parse_row", "FLAG_COLUMNS",
           "NUMBER_COLUMNS", "CANONICAL_COLUMNS", "header_key", "UNREADABLE_CELL"]

UNREADABLE_CELL = "E101"  # rule ID of "a cell could not be read"
MAX_CODES = 12

FLAG_COLUMNS = (
    "trauma", "disc_disorder_confirmed", "spondylolisthesis_confirmed", "stenosis_claudication",
    "radiating_pain", "slr_positive", "reflex_changes", "sensory_deficit", "motor_weakness",
    "telehealth", "myofascial_pain", "pain_management_encounter", "red_flags",
    "imaging_guidance",
)
NUMBER_COLUMNS = (
    "symptom_weeks", "conservative_care_weeks", "functional_progress_weeks",
    "pt_visits_since_progress", "plan_of_care_days", "units", "esi_levels",
)

# Canonical name -> aliases (matched after header_key()). dx1..dx12/cpt1..cpt12 are generated.
_ALIASES: dict[str, tuple[str, ...]] = {
    "claim_id": ("claim", "claimid", "claimno", "claimnumber", "claim#", "encounter", "encounterid",
                 "encounterno", "encounternumber", "encounter#", "ticket", "ticket#", "ticketnumber", "visitid", "visit#",
                 "visitnumber", "claimref"),
    "patient_id": ("patient", "patientid", "mrn", "patientno", "patientnumber", "account",
                   "accountnumber", "patientaccount", "patientaccountnumber", "acct", "acct#",
                   "acctno", "account#", "patientacct", "chart", "chartnumber", "memberid",
                   "medicalrecordnumber", "patient#"),
    "dos": ("dos", "dateofservice", "servicedate", "date", "dosfrom", "fromdate", "fromdos",
            "visitdate", "dateofsvc", "svcdate", "dateofservicefrom", "servicedatefrom",
            "servicefromdate", "dosstart", "fromdateofservice", "servicefrom"),
    "payer": ("payer", "payor", "insurance", "insurer", "carrier", "plan", "payername", "payerid",
              "primaryinsurance", "primarypayer", "insurancename", "financialclass",
              "primaryinsurancename", "primarycarrier", "insurancecarrier", "insuranceplan",
              "planname", "primarypayor", "payorname"),
    "pos": ("pos", "placeofservice", "poscode"),
    "diagnoses": ("diagnoses", "diagnosis", "diagnosiscodes", "dxcodes", "dx", "icd", "icd10",
                  "icdcodes", "icd10codes", "icd10cm", "diagnosiscode", "icd10cmcodes",
                  "diagnosislist"),
    "procedures": ("procedures", "procedure", "procedurecodes", "cpt", "cptcode", "cptcodes",
                   "hcpcs", "cpthcpcs", "hcpcscpt", "cpthcpcscode", "hcpcscode", "proccode",
                   "procedurecode", "servicecode", "cptorhcpcs", "billingcode", "chargecode"),
    "modifiers": ("modifiers", "modifier", "mods", "mod"),
    "units": ("units", "unit", "qty", "quantity", "daysunits", "daysorunits", "serviceunits",
              "unitsdays", "unitcount"),
    "dx_pointer": ("dxpointer", "diagnosispointer", "pointer", "dxptr", "diagptr", "icdpointer",
                   "pointers"),
    "laterality": ("laterality", "side"),
    "nerve_root_level": ("nerverootlevel", "nerverootlevels", "rootlevel", "level", "levels",
                         "spinallevel", "spinallevels"),
    "symptom_weeks": ("symptomweeks", "weeksofsymptoms", "symptomduration", "painweeks",
                      "durationweeks", "symptomdurationweeks"),
    "conservative_care_weeks": ("conservativecareweeks", "conservativecare", "ccweeks",
                                "weeksofconservativecare", "conservativeweeks"),
    "trauma": ("trauma", "injury", "traumatic"),
    "disc_disorder_confirmed": ("discdisorderconfirmed", "discconfirmed", "discdisorder"),
    "spondylolisthesis_confirmed": ("spondylolisthesisconfirmed", "spondylolisthesis"),
    "stenosis_claudication": ("stenosisclaudication", "neurogenicclaudication",
                              "stenosiswithclaudication"),
    "radiating_pain": ("radiatingpain", "radicularpain"),
    "slr_positive": ("slrpositive", "slr", "straightlegraise", "positiveslr"),
    "reflex_changes": ("reflexchanges", "reflexchange", "reflexes"),
    "sensory_deficit": ("sensorydeficit", "sensoryloss", "sensory"),
    "motor_weakness": ("motorweakness", "weakness", "motordeficit"),
    "telehealth": ("telehealth", "telemedicine", "virtual"),
    "functional_progress_weeks": ("functionalprogressweeks", "weekssinceprogress",
                                  "progressweeks"),
    "pt_visits_since_progress": ("ptvisitssinceprogress", "visitssinceprogress",
                                 "treatmentdayssinceprogress"),
    "plan_of_care_days": ("planofcaredays", "daysincerecert", "planofcareage",
                          "dayssinceplanofcare"),
    "myofascial_pain": ("myofascialpain", "myofascial"),
    "pain_management_encounter": ("painmanagementencounter", "painmanagement",
                                  "paincontrolencounter"),
    "red_flags": ("redflags", "redflag"),
    "imaging_guidance": ("imagingguidance", "guidance", "fluoroscopy"),
    "spinal_region": ("spinalregion", "region"),
    "esi_levels": ("esilevels", "injectionlevels"),
}
# Exports name the first diagnoses by rank ("Primary Dx", "Secondary Diagnosis").
_RANKS = ("primary", "secondary", "tertiary", "quaternary")
for _i in range(1, MAX_CODES + 1):
    _ALIASES[f"dx{_i}"] = (
        f"dx{_i}", f"icd{_i}", f"diagnosis{_i}", f"diag{_i}", f"dxcode{_i}",
        f"icd10{_i}" if _i > 1 else "icd101", f"diagnosiscode{_i}", f"icd10code{_i}", f"icdcode{_i}",
        f"icd10cm{_i}", f"icd10cmcode{_i}", f"dx{_i}code", f"diag{_i}code", f"diagnosis{_i}code",
        f"icd{_i}code", f"diagcode{_i}", f"dxcd{_i}",
        *((f"{_RANKS[_i - 1]}dx", f"{_RANKS[_i - 1]}diagnosis", f"{_RANKS[_i - 1]}diag",
           f"{_RANKS[_i - 1]}icd", f"{_RANKS[_i - 1]}diagnosiscode", f"{_RANKS[_i - 1]}dxcode")
          if _i <= len(_RANKS) else ()),
        *(("principaldiagnosis", "principaldx", "principaldiag", "firstlisteddiagnosis",
           "firstlisteddx") if _i == 1 else ()))
    _ALIASES[f"cpt{_i}"] = (f"cpt{_i}", f"procedure{_i}", f"proc{_i}", f"hcpcs{_i}", f"px{_i}",
                            f"cptcode{_i}", f"procedurecode{_i}", f"line{_i}cpt", f"proccode{_i}",
                            f"cpt{_i}code", f"proc{_i}code", f"procedure{_i}code", f"cpthcpcs{_i}",
                            f"hcpcscode{_i}", f"hcpcs{_i}code", f"servicecode{_i}", f"cpthcpcscode{_i}")
for _i in range(1, 5):
    _ALIASES[f"modifier{_i}"] = (f"modifier{_i}", f"mod{_i}", f"modifiercode{_i}", f"cptmodifier{_i}",
                                 f"mod{_i}code")

CANONICAL_COLUMNS = tuple(_ALIASES)
_DX_COLUMNS = tuple(f"dx{i}" for i in range(1, MAX_CODES + 1))
_CPT_COLUMNS = tuple(f"cpt{i}" for i in range(1, MAX_CODES + 1))
_MODIFIER_COLUMNS = tuple(f"modifier{i}" for i in range(1, 5))
_HEADER_STRIP = re.compile(r"[\s\-_#.:/()\[\]*]+")


_PLAIN_TYPES = frozenset((str, int, float, bool, type(None), _dt.datetime, _dt.date, _dt.time,
                          _dt.timedelta, Uncalculated))


def header_key(text: object) -> str:
    """Header text reduced for matching: case, spaces, dashes and underscores do not count."""
    if text is not None and type(text) not in _PLAIN_TYPES:
        text = plain_value(text)
        if isinstance(text, Unreadable):
            return ""  # a header cell that cannot be read names no column
    raw = clean_text(text).lower()
    key = _HEADER_STRIP.sub("", raw)
    if raw.endswith("#") and key:
        key += "#"  # "Claim #" -> claim#
    return key


_LOOKUP: dict[str, str] = {}
for _canon, _aliases in _ALIASES.items():
    for _alias in (header_key(_canon), *_aliases):
        _LOOKUP.setdefault(_alias, _canon)


class Procedure(NamedTuple):
    """One CPT/HCPCS line: ``64483-RT`` -> code 64483, modifiers (RT,), units 1. Immutable."""

    code: str
    modifiers: tuple[str, ...] = ()
    units: float = 1
    row: int | None = None  # its sheet row on line-level sheets; None where the claim's row is its row
    pointers: tuple[int, ...] = ()  # 0-based indexes into the claim's diagnoses

    def __str__(self) -> str:
        text = self.code + "".join(f"-{m}" for m in self.modifiers)
        return text + (f"x{number(self.units, grouped=False)}" if self.units != 1 else "")


class ClaimIsReadOnly(TypeError):
    """Raised when a rule tries to change the claim it was given."""


@dataclass(slots=True, eq=False)
class Claim:
    """One claim, with the facts the sheet documents about it."""

    claim_id: str = ""
    patient_id: str = ""
    payer: str = ""
    dos: _dt.date | None = None
    pos: str = ""
    diagnoses: list[str] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    present: frozenset[str] = frozenset()
    rows: tuple[int, ...] = ()
    problems: list[Finding] = field(default_factory=list)
    dx_cells: list[tuple[str, str]] = field(default_factory=list)  # (column, as written) per diagnosis
    dos_unreadable: bool = False
    read_only: bool = False

    def freeze(self) -> "Claim":
        """Make the claim read-only before rules see it: a plugin that tries to change it fails
        (and is reported) instead of corrupting what other rules read. Cheap: no copies; lists
        become tuples, the facts a read-only mapping, and attribute writes raise."""
        if not self.read_only:
            self.diagnoses = tuple(self.diagnoses)
            self.procedures = tuple(self.procedures)
            self.facts = MappingProxyType(self.facts)
            self.dx_cells = tuple(self.dx_cells)
            self.problems = tuple(self.problems)
            self.read_only = True
            object.__setattr__(self, "__class__", FrozenClaim)  # attribute writes now raise
        return self


    # --- facts -------------------------------------------------------------------------
    def known(self, column: str) -> bool:
        """True when the sheet has this column (even if this row leaves it blank)."""
        return column in self.present

    def yes(self, column: str) -> bool:
        """True when the fact is documented as yes."""
        return self.facts.get(column) is True

    def number(self, column: str) -> float | None:
        """The number documented, or None when blank, unreadable or the column is absent."""
        value = self.facts.get(column)
        return value if isinstance(value, float) else None

    def text(self, column: str) -> str:
        value = self.facts.get(column)
        return value if isinstance(value, str) else ""

    # --- codes -------------------------------------------------------------------------
    @property
    def row(self) -> int | None:
        return self.rows[0] if self.rows else None

    def has_procedure(self, codes: Iterable[str] | frozenset[str] | set[str]) -> bool:
        return any(p.code in codes for p in self.procedures)

    def procedures_in(self, codes: Iterable[str] | frozenset[str] | set[str]) -> list[Procedure]:
        return [p for p in self.procedures if p.code in codes]

    def dx_with_prefix(self, *prefixes: str) -> list[str]:
        return [d for d in self.diagnoses if d.startswith(prefixes)]

    @property
    def is_telehealth(self) -> bool:
        """Telehealth per the column, POS 02/10, or modifier 95/93 (GT, FQ)."""
        if self.facts.get("telehealth") is True or self.pos in _TELEHEALTH_POS:
            return True
        for p in self.procedures:
            if p.modifiers and not _TELEHEALTH_MODIFIERS.isdisjoint(p.modifiers):
                return True
        return False


_TELEHEALTH_POS = frozenset(("02", "10", "2"))
_TELEHEALTH_MODIFIERS = frozenset(("95", "93", "GT", "FQ"))


class FrozenClaim(Claim):
    """A claim after ``freeze()``: the same object, now refusing attribute writes.

    Switching the class (rather than checking a flag in ``Claim.__setattr__``) keeps parsing,
    which sets attributes many times per row, at full speed.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise ClaimIsReadOnly(f"rules must only read the claim (tried to set {name})")

    def __delattr__(self, name: str) -> None:
        raise ClaimIsReadOnly(f"rules must only read the claim (tried to delete {name})")


# --- parsing of code cells -------------------------------------------------------------
_DX_SPLIT = re.compile(r"[,;|\n\r\t ]+")
_PROC_SPLIT = re.compile(r"[,;|\n\r]+")
_PROC_TOKEN = re.compile(r"[\s\-:]+")
_UNITS = re.compile(r"^(?:[X*]|UNITS?=?)(\d{1,3}(?:\.\d+)?)$|^\((\d{1,3})\)$")
_SPACED_UNITS = re.compile(r"\s+([X*])\s+(\d{1,3})$")
# units written onto a code or a modifier: "64483x2-RT", "64483-RTx2"
_ATTACHED_UNITS = re.compile(r"^([A-Z0-9]{5}|[A-Z0-9]{2})([X*])(\d{1,3})$")


def split_diagnoses(text: str) -> list[str]:
    return [t for t in _DX_SPLIT.split(text) if t]


def parse_procedures(value: object, row: int | None = None) -> list[Procedure]:
    """``"64483-RT, 64484-RT"``, ``"97110x2"``, ``"99214-25"``, ``72148.0`` -> procedures.

    Within one entry, a 5-character token starts a procedure, 2-character tokens are modifiers
    and ``x2``/``*2``/``(2)`` are units.
    """
    text = code_text(value)
    out: list[Procedure] = []
    for chunk in _PROC_SPLIT.split(text):
        chunk = _SPACED_UNITS.sub(r" \1\2", chunk.strip())  # "97110 x 2" -> "97110 x2"
        if not chunk:
            continue
        # "97110X2" written without a separator
        m = re.match(r"^([A-Z0-9]{5})([X*])(\d{1,3})$", chunk)
        if m:
            out.append(Procedure(m[1], (), float(m[3]), row))
            continue
        code: str | None = None
        mods: list[str] = []
        units = 1.0
        tokens = []
        for token in _PROC_TOKEN.split(chunk):
            attached = _ATTACHED_UNITS.match(token)
            if attached and (len(attached[1]) == 5 or tokens):
                tokens += [attached[1], attached[2] + attached[3]]
            else:
                tokens.append(token)
        for token in tokens:
            if not token:
                continue
            if token.endswith(".0") and token[:-2].isdigit():
                token = token[:-2]  # a number Excel stored as float, inside a text list
            unit_match = _UNITS.match(token)
            if unit_match and code is not None:
                units = float(unit_match[1] or unit_match[2])
            elif len(token) == 2 and code is not None:
                mods.append(token)
            else:
                if code is not None:
                    out.append(Procedure(code, tuple(mods), units, row))
                code, mods, units = token, [], 1.0
        if code is not None:
            out.append(Procedure(code, tuple(mods), units, row))
    return out


def _modifier_tokens(value: object) -> tuple[str, ...]:
    return tuple(t for t in re.split(r"[\s,;\-:/]+", code_text(value)) if t)


def _pointer_indexes(value: object) -> tuple[int, ...] | Unreadable:
    """Diagnosis pointer ``A``, ``AB``, ``A,C``, ``1``, ``1,2`` -> 0-based indexes."""
    text = code_text(value)
    if not text:
        return ()
    out = []
    for token in re.split(r"[\s,;\-:/]+", text):
        if not token:
            continue
        if token.isascii() and token.isdigit():  # int() refuses some unicode digits (⓼)
            n = int(token)
            if 1 <= n <= MAX_CODES:
                out.append(n - 1)
                continue
            # "12" could be two pointers "1,2" written together
            if all(c in "123456789" for c in token):
                out.extend(int(c) - 1 for c in token)
                continue
            return Unreadable(f"diagnosis pointer {_quote(text)} is outside 1-12")
        elif token.isalpha() and all("A" <= c <= "L" for c in token):
            out.extend(ord(c) - 65 for c in token)
        else:
            return Unreadable(f"diagnosis pointer {_quote(text)} is not A-L or 1-12")
    return tuple(out)


# --- header map and row parsing ---------------------------------------------------------
@dataclass
class HeaderMap:
    """Which canonical column each position of the header row holds."""

    columns: list[tuple[int, str, str]]  # (index, canonical, header text as written)
    present: frozenset[str]
    unknown: list[str]  # headers that matched nothing (ignored)
    line_level: bool
    recognisable: bool  # has at least one diagnosis or procedure column
    line_fields: bool = False  # modifier, units or pointer columns present
    # The columns of each kind, (index, canonical, header text), so each parser runs in one loop.
    dx_columns: tuple = ()
    cpt_columns: tuple = ()
    date_columns: tuple = ()
    flag_columns: tuple = ()
    number_columns: tuple = ()
    modifier_columns: tuple = ()
    pointer_columns: tuple = ()
    text_columns: tuple = ()
    width: int = 0  # shorter rows are padded with blanks to this length
    unused: tuple = ()  # (index, header text) of the columns no canonical name took
    date_order: str = "MDY"  # how slash dates of the date-of-service column are read
    date_note: str = ""  # why the column is read day first, when the values decided it
    _variants: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_row(cls, header_row: Sequence[object], columns: "Mapping[str, str] | None" = None,
                 date_order: str = "MDY") -> "HeaderMap":
        """``columns`` maps a sheet's own headers to canonical names (``[columns]`` in the
        configuration), for headers no alias covers; ``date_order`` is the configured order of
        slash dates ("MDY" or "DMY")."""
        own = {header_key(k): canonical_column(v) or v for k, v in (columns or {}).items()}
        columns_found = []
        seen: set[str] = set()
        unknown = []
        unused = []
        for index, cell in enumerate(header_row):
            if cell is not None and type(cell) not in _PLAIN_TYPES:
                cell = plain_value(cell)  # a header cell that cannot be read names no column
            text = clean_text(cell) if not isinstance(cell, Unreadable) else ""
            if not text:
                continue
            key = header_key(text)
            canonical = own.get(key) or _LOOKUP.get(key)
            if canonical is None or canonical in seen:
                unknown.append(text)
                unused.append((index, text))
                continue
            seen.add(canonical)
            columns_found.append((index, canonical, text))
        columns = columns_found
        present = frozenset(seen)
        has_code_columns = bool(present & {"diagnoses", "procedures", *_DX_COLUMNS, *_CPT_COLUMNS})
        line_level = (
            "claim_id" in present
            and "procedures" in present
            and not present & set(_CPT_COLUMNS)
            and bool(present & {"units", "dx_pointer", "modifiers", *_MODIFIER_COLUMNS})
        )
        line_fields = bool(present & {"units", "dx_pointer", "modifiers", *_MODIFIER_COLUMNS})
        kinds = [tuple(c for c in columns if _kind(c[1]) == kind) for kind in range(_KINDS)]
        width = max((*(i for i, _, _ in columns), *(i for i, _ in unused)), default=-1) + 1
        return cls(columns, present, unknown, line_level, has_code_columns, line_fields, *kinds, width,
                   tuple(unused), date_order)

    def with_date_order(self, order: str, note: str = "") -> "HeaderMap":
        """The same header with its dates read in ``order``; one object per order, so caches
        keyed by the header map stay valid."""
        if order == self.date_order and note == self.date_note:
            return self
        key = (order, note)
        variant = self._variants.get(key)
        if variant is None:
            variant = self._variants[key] = replace(self, date_order=order, date_note=note, _variants={})
        return variant

    def settle_date_order(self, rows: Iterable[Sequence[object]], first_row: int = 2) -> "HeaderMap":
        """Decide how the date column's slash dates are read, from the rows given (a sample or
        the whole sheet): a column whose dates include one that can only be day first
        (25/03/2026) and none that can only be month first is read day first as a whole."""
        if not self.date_columns:
            return self
        index, _canon, text = self.date_columns[0]
        day_first = month_first = None
        for offset, values in enumerate(rows):
            if index >= len(values):
                continue
            order = date_order_of(values[index])
            if order == "DMY" and day_first is None:
                day_first = (first_row + offset, values[index])
            elif order == "MDY" and month_first is None:
                month_first = (first_row + offset, values[index])
            if day_first and month_first:
                break
        # Only evidence for the other order, and none against it, turns the column.
        other, evidence, against = (("DMY", day_first, month_first) if self.date_order == "MDY"
                                    else ("MDY", month_first, day_first))
        if not evidence or against:
            return self
        row, value = evidence
        words, form = ("day first", "DD/MM/YYYY") if other == "DMY" else ("month first", "MM/DD/YYYY")
        return self.with_date_order(other, f"Dates in column {text!r} are read {words} ({form}): row "
                                           f"{row} has {clean_text(value)!r}, which can only be {words}.")

    def date_order_open(self, rows: Iterable[Sequence[object]]) -> bool:
        """True when the rows given leave the date column's order open: some slash dates read
        both ways (03/10/2026) and none can only be one way. A later row may still decide it."""
        if not self.date_columns:
            return False
        index = self.date_columns[0][0]
        cells = [values[index] for values in rows if index < len(values)]
        return any(map(reads_both_ways, cells)) and not any(map(date_order_of, cells))

    @property
    def columns_not_used(self) -> list[str]:
        """Headers of the columns xlsheets reads nothing from (reported in every output)."""
        return [text for _index, text in self.unused]


def canonical_column(name: object) -> str | None:
    """The canonical column a name or alias stands for (``"Dx 2"`` -> ``dx2``), or None."""
    return _LOOKUP.get(header_key(name))



def _problem(column: str, header: str, row: int | None, reason: str, severity=None,
             suggestion: str = "correct the cell"):
    """E101. An error where the cell decides what is billed or which rules apply (codes,
    modifiers, pointers, payer): the claim was not fully checked and must not look ready. A
    warning for documentation facts, which are then taken as not documented."""
    where = f"column {header!r}" + (f", row {row}" if row else "")
    if severity is None:
        severity = Severity.ERROR if column in _CLAIM_DATA_COLUMNS else Severity.WARNING
    return Finding(
        rule=UNREADABLE_CELL,
        severity=severity,
        message=f"Could not read {where}: {reason}. The value was ignored.",
        suggestion=suggestion,
        reference="xlsheets input rules",
        rows=(row,) if row else (),
        column=column,
        brief=f"unreadable {header}: {reason}",
    )


_CLAIM_DATA_COLUMNS = frozenset(("diagnoses", "procedures", "modifiers", "dx_pointer", "units", "payer",
                                 "dos", *_DX_COLUMNS, *_CPT_COLUMNS, *_MODIFIER_COLUMNS))


# Column kinds, decided once per header so each cell needs one comparison to find its parser.
_DX, _CPT, _DOS, _FLAG, _NUMBER, _MODIFIER, _POINTER, _TEXT = range(8)  # HeaderMap's field order
_KINDS = 8
_CACHE_LIMIT = 50_000  # distinct cell texts remembered per cache (sheets repeat codes a lot)
_CACHE_TEXT = 256  # longer cells are not codes: never cached, and clipped (caches downstream)


def _clip(text: str, limit: int = 40) -> str:
    """A code token as kept on the claim: junk text of a Dx/CPT cell (a pasted note, 32,000
    characters) is shortened, so no cache keyed by codes grows by the cell's size."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
_dx_cache: dict[tuple[str, str], tuple] = {}  # (column, cell) -> ((normalised, (column, as written)), ...)
_proc_cache: dict[tuple[str, int | None], tuple[Procedure, ...]] = {}  # (cell, line row) -> procedures
_flag_cache: dict[object, bool] = {None: False, "": False, "Y": True, "N": False, "y": True,
                                   "n": False, "Yes": True, "No": False, "YES": True, "NO": False,
                                   True: True, False: False}
_date_caches: dict[str, dict[object, _dt.date]] = {"MDY": {}, "DMY": {}}  # per date order


def _kind(canon: str) -> int:
    if canon == "diagnoses" or (canon.startswith("dx") and canon[2:].isdigit()):
        return _DX
    if canon == "procedures" or canon in _CPT_COLUMNS:
        return _CPT
    if canon == "dos":
        return _DOS
    if canon in FLAG_COLUMNS:
        return _FLAG
    if canon in NUMBER_COLUMNS:
        return _NUMBER
    if canon == "modifiers" or canon in _MODIFIER_COLUMNS:
        return _MODIFIER
    if canon == "dx_pointer":
        return _POINTER
    return _TEXT


def _diagnosis_cell(value: object, canon: str) -> tuple[tuple[str, tuple[str, str]], ...]:
    """(normalised code, (column, as written)) for each code of a cell; cached, so a row
    allocates nothing for codes the sheet used before."""
    if type(value) is not str:
        value = code_text(value)  # numbers, dates, odd objects: cache by their text
    hit = _dx_cache.get((canon, value))
    if hit is None:
        cell = code_text(value)
        parts = [cell] if canon != "diagnoses" else split_diagnoses(cell)
        hit = tuple((normalize_icd(p) or _clip(p), (canon, _clip(p))) for p in parts if p)
        if len(_dx_cache) < _CACHE_LIMIT and len(value) <= _CACHE_TEXT:
            _dx_cache[(canon, value)] = hit
    return hit


def _procedure_cell(value: object, row: int | None) -> tuple[Procedure, ...]:
    """Procedures of a cell; ``row`` only on line-level sheets (elsewhere the claim's row is
    the procedure's row), so one-claim-per-row sheets share the cached tuples."""
    key = (value if type(value) is str else code_text(value), row)
    hit = _proc_cache.get(key)
    if hit is None:
        hit = tuple(p._replace(code=_clip(p.code)) for p in parse_procedures(value, row))
        if len(_proc_cache) < _CACHE_LIMIT and len(key[0]) <= _CACHE_TEXT:
            _proc_cache[key] = hit
    return hit


def _plain_values(header: HeaderMap, values: Sequence[object], row: int | None, claim: Claim) -> list:
    """The row with every value of another type made plain (``values.plain_value``); one that
    cannot be read is None, and an E101 on the claim when its column is read."""
    read = {index: (canon, text) for index, canon, text in header.columns}
    out = []
    for index, value in enumerate(values):
        if value is not None and type(value) not in _PLAIN_TYPES:
            value = plain_value(value)
            if isinstance(value, Unreadable):
                if index in read:
                    canon, text = read[index]
                    claim.problems.append(_problem(canon, text, row, value.reason))
                value = None
        out.append(value)
    return out


def parse_row(header: HeaderMap, values: Sequence[object], row: int | None = None) -> Claim:
    """One worksheet row -> one claim (a service line when the sheet is line-level).

    Column by column, each kind of column with its own parser; repeated cell texts (codes,
    Y/N, dates) come from caches.
    """
    claim = Claim(present=header.present, rows=(row,) if row else ())
    facts = claim.facts
    if not _PLAIN_TYPES.issuperset(map(type, values)):
        values = _plain_values(header, values, row, claim)
    if len(values) < header.width:
        values = [*values, *([None] * (header.width - len(values)))]
    for index, canon, text in header.flag_columns:
        value = values[index]
        flag = _flag_cache.get(value) if type(value) is str or value is None else None
        if flag is None:
            flag = read_flag(value) if type(value) is not Uncalculated else _uncalculated(claim, value, canon, text, row)
            if isinstance(flag, Unreadable):
                if type(value) is not Uncalculated:  # that one is reported already
                    claim.problems.append(_problem(canon, text, row, flag.reason))
                flag = False
        facts[canon] = flag
    for index, canon, text in header.number_columns:
        value = values[index]
        if type(value) is float and value >= 0:
            facts[canon] = value
        elif type(value) is int and value >= 0:  # xlwings Lite and the readers give whole numbers
            facts[canon] = float(value)
        elif value is not None and value != "":
            if type(value) is Uncalculated:
                _uncalculated(claim, value, canon, text, row)
                continue
            number = read_number(value)
            if isinstance(number, Unreadable):
                claim.problems.append(_problem(canon, text, row, number.reason))
            elif number is not None:
                facts[canon] = number
    diagnoses, dx_cells = claim.diagnoses, claim.dx_cells
    for index, canon, text in header.dx_columns:
        value = values[index]
        if value is None or value == "":
            continue
        if type(value) is str and value[:1] != "#":
            codes = _dx_cache.get((canon, value)) or _diagnosis_cell(value, canon)
        elif _error_cell(claim, value, canon, text, row):
            continue
        else:
            codes = _diagnosis_cell(value, canon)
        for code, cell in codes:
            diagnoses.append(code)
            dx_cells.append(cell)
    line_row = row if header.line_level else None
    for index, canon, text in header.cpt_columns:
        value = values[index]
        if value is None or value == "":
            continue
        if (type(value) is not str or value[:1] == "#") and _error_cell(claim, value, canon, text, row):
            continue
        claim.procedures.extend(_procedure_cell(value, line_row))
    for index, canon, text in header.text_columns:
        value = values[index]
        if value is None or value == "":
            continue
        if (type(value) is not str or value[:1] == "#") and _error_cell(claim, value, canon, text, row):
            continue
        cell = value.strip() if type(value) is str and value.isascii() else clean_text(value)
        if canon == "claim_id":
            claim.claim_id = cell
        elif canon == "patient_id":
            claim.patient_id = cell
        elif canon == "payer":
            claim.payer = cell
        elif canon == "pos":
            claim.pos = cell.zfill(2) if cell.isdigit() and len(cell) == 1 else cell
        else:
            facts[canon] = cell if canon != "laterality" else _laterality(cell)
            if canon == "nerve_root_level" and not _is_level(cell):
                claim.problems.append(_problem(
                    canon, text, row, f"{cell!r} is not a nerve-root level (write it like L5-S1, L4-L5, S1 or "
                    "C5-C6), so the checks of the level (S302) could not use it", suggestion="correct the level"))
    for index, canon, text in header.date_columns:
        value = values[index]
        if value is None or value == "":
            continue
        date_cache = _date_caches[header.date_order]
        dos = date_cache.get(value) if type(value) in (str, int) else None
        if dos is None:
            dos = read_date(value, header.date_order) if type(value) is not Uncalculated else \
                _uncalculated(claim, value, canon, text, row)
            if isinstance(dos, Unreadable):
                claim.dos_unreadable = True
                facts["dos_text"] = dos.reason
                continue
            if dos is not None and len(date_cache) < _CACHE_LIMIT and type(value) in (int, str):
                date_cache[value] = dos
        claim.dos = dos
    for index, canon, text in header.modifier_columns:
        value = values[index]
        if value is None or value == "":
            continue
        if _error_cell(claim, value, canon, text, row):
            continue
        facts[canon] = _modifier_tokens(value)
    for index, canon, text in header.pointer_columns:
        value = values[index]
        if value is None or value == "":
            continue
        if type(value) is Uncalculated:
            _uncalculated(claim, value, canon, text, row)
            continue
        pointers = _pointer_indexes(value)
        if isinstance(pointers, Unreadable):
            claim.problems.append(_problem(canon, text, row, pointers.reason))
        else:
            facts[canon] = pointers
    for index, text in header.unused:
        value = values[index]
        if value is None or value == "":
            continue
        shape = _unused_code(value, text)
        if shape is not None:
            claim.problems.append(_unused_column_problem(header, text, row, *shape))
    if header.line_fields:
        _apply_line_fields(claim)
    if header.pointer_columns and not header.line_level:  # the row is the claim (lines: claims_from_rows)
        _check_pointers(header, claim)
    return claim


UNUSED_CODES = "E103"  # rule ID of "a column xlsheets does not read holds codes"
_DX_HINTS = ("dx", "diag", "icd")
_CPT_HINTS = ("cpt", "hcpcs", "proc", "px", "servicecode", "chargecode", "billingcode")
_CPT_SHAPE = re.compile(r"^(?:[0-9]{4}[0-9FTU]|[A-V][0-9]{4})(?:[-\s][A-Z0-9]{2})*$")
_unused_cache: dict[tuple[str, str], tuple[str, str] | None] = {}


def _unused_code(value: object, header: str) -> tuple[str, str] | None:
    """("ICD-10-CM" or "CPT/HCPCS", the code) when a cell of a column xlsheets does not read
    holds something shaped like a code; None otherwise. A real ICD-10-CM code counts in any
    column; other code shapes only under a header that names codes (a ZIP code is not a CPT)."""
    text = code_text(value)
    key = (header, text)
    if key in _unused_cache:
        return _unused_cache[key]
    hkey = header_key(header)
    found = None
    for token in (t for t in re.split(r"[,;|\n]+", text) if t.strip()):
        token = token.strip()
        dx = normalize_icd(token)
        if dx is not None and (any(h in hkey for h in _DX_HINTS) or _icd_known(dx)):
            found = ("ICD-10-CM", dx)
            break
        if _CPT_SHAPE.match(token) and any(h in hkey for h in _CPT_HINTS):
            found = ("CPT/HCPCS", token)
            break
    if len(_unused_cache) < _CACHE_LIMIT and len(text) <= _CACHE_TEXT:
        _unused_cache[key] = found
    return found


def _icd_known(code: str) -> bool:
    from .codes.icd10cm import get_codeset
    cs = get_codeset()
    return bool(cs.valid_windows(code)) or cs.title(code) is not None


def _unused_column_problem(header: HeaderMap, text: str, row: int | None, kind: str, code: str) -> Finding:
    target = _free_column(header, "dx" if kind == "ICD-10-CM" else "cpt")
    return Finding(
        rule=UNUSED_CODES,
        severity=Severity.WARNING,
        message=(f"Column {text!r} is not one xlsheets reads, but it holds {code}, which looks like "
                 f"{'an' if kind == 'ICD-10-CM' else 'a'} {kind} code: it was not checked. Rename the column (e.g. {target!r}) or map it "
                 f"in xlsheets.toml: [columns] \"{text}\" = \"{target}\"."),
        codes=(code,),
        suggestion=f'map the column: [columns] "{text}" = "{target}"',
        reference="xlsheets input rules (column names)",
        rows=(row,) if row else (),
        column=text,
        brief=f"column {text} not read",
    )


def _free_column(header: HeaderMap, kind: str) -> str:
    for i in range(1, MAX_CODES + 1):
        if f"{kind}{i}" not in header.present:
            return f"{kind}{i}"
    return "diagnoses" if kind == "dx" else "procedures"


def _error_cell(claim: Claim, value: object, canon: str, header: str, row: int | None) -> bool:
    """True (and a problem on the claim) when the cell holds an Excel error such as #N/A, or a
    formula that was never calculated."""
    err = excel_error(value)
    if err:
        claim.problems.append(_problem(canon, header, row, f"the cell holds the Excel error {err}"))
    elif type(value) is Uncalculated:
        _uncalculated(claim, value, canon, header, row)
        return True
    return bool(err)


def _uncalculated(claim: Claim, value: Uncalculated, canon: str, header: str, row: int | None) -> Unreadable:
    """E101, an error in any column: a formula cell saved without its value was not read, so
    the claim was not fully checked (it is never taken as blank)."""
    reason = uncalculated_reason(value)
    claim.problems.append(_problem(canon, header, row, reason, Severity.ERROR, UNCALCULATED_FIX))
    return Unreadable(reason)


def _laterality(text: str) -> str:
    t = text.strip().upper()
    return _SIDES.get(t, t)


_SIDES = {"LEFT": "L", "RIGHT": "R", "BILATERAL": "B", "BOTH": "B", "LT": "L", "RT": "R", "BIL": "B", "50": "B"}


# A level is a region letter that starts a word (not the t of "at 45"), then its number: L5, L-5, l 4.
_SPINE_LEVEL = re.compile(r"(?<![A-Za-z])([CTLS])[-\s]?(\d{1,2})(?!\d)", re.I)
_SEGMENTS = {"C": 8, "T": 12, "L": 5, "S": 5}  # nerve roots per region (C1-C8, T1-T12, L1-L5, S1-S5)
_SPINE_PLACE = re.compile(r"\b(?:SI|sacroiliac|coccyx|coccygeal)\b", re.I)
_levels_read: dict[str, bool] = {}


def _is_level(text: str) -> bool:
    """Whether a nerve-root level cell names spine levels (``L5-S1``, ``L4-5``, ``S1``,
    ``L4, L5``), each one that exists, or the place of a joint injection (``SI joint``,
    ``coccyx``). Anything else (``foo``, ``?``, ``L9``) is said (E101),
    or the level checks would pass the claim as if no level contradicted its codes."""
    known = _levels_read.get(text)
    if known is None:
        found = _SPINE_LEVEL.findall(text)
        if found:
            known = all(1 <= int(n) <= _SEGMENTS[seg.upper()] for seg, n in found)
        else:  # the place of a joint or coccyx injection, written in the same column
            known = bool(_SPINE_PLACE.search(text))
        if len(_levels_read) < _CACHE_LIMIT and len(text) <= _CACHE_TEXT:
            _levels_read[text] = known
    return known


def _apply_line_fields(claim: Claim) -> None:
    """Modifier, units and pointer columns belong to the row's procedure(s)."""
    facts = claim.facts
    mods = facts.pop("modifiers", ())
    for name in _MODIFIER_COLUMNS:
        mods += facts.pop(name, ())
    units = facts.pop("units", None)
    pointers = facts.pop("dx_pointer", ())
    if not claim.procedures or not (mods or units is not None or pointers):
        return
    one = len(claim.procedures) == 1
    claim.procedures = [
        Procedure(p.code, tuple(dict.fromkeys(p.modifiers + mods)),
                  units if units is not None and one else p.units, p.row, pointers or p.pointers)
        for p in claim.procedures
    ]


def _merge_line(claim: Claim, line: Claim) -> None:
    """Fold one service line into its claim: procedures add up, diagnoses are the union."""
    claim.rows += line.rows
    claim.procedures.extend(line.procedures)
    claim.problems.extend(line.problems)
    for code, cell in zip(line.diagnoses, line.dx_cells):
        if code not in claim.diagnoses:
            claim.diagnoses.append(code)
            claim.dx_cells.append(cell)
    for name, value in line.facts.items():
        if name not in claim.facts or claim.facts[name] in (False, None, ""):
            claim.facts[name] = value
    for attr in ("patient_id", "payer", "pos"):
        if not getattr(claim, attr):
            setattr(claim, attr, getattr(line, attr))
    if claim.dos is None and not claim.dos_unreadable:
        claim.dos, claim.dos_unreadable = line.dos, line.dos_unreadable


def is_blank_row(values: Sequence[object]) -> bool:
    """True when no cell has a value. A formula never calculated has none (the template's Status
    formulas on empty rows); in a column the parser reads it still makes a claim (claims_from_rows)."""
    for v in values:
        if v is not None and (not isinstance(v, str) or v.strip()) and type(v) is not Uncalculated:
            return False
    return True


def _uncalculated_in(header: HeaderMap, values: Sequence[object]) -> bool:
    """A formula never calculated in a column the parser reads: the row may hold a claim."""
    width = len(values)
    return any(index < width and type(values[index]) is Uncalculated for index, _, _ in header.columns)


def claims_from_rows(
    header_row: Sequence[object] | HeaderMap,
    rows: Iterable[Sequence[object]],
    first_row: int = 2,
) -> Iterator[Claim]:
    """Claims from value rows; rows are numbered as in the sheet (header on ``first_row - 1``).

    Blank rows are skipped. On line-level sheets consecutive rows with the same claim ID (and
    date of service) form one claim, listing the sheet rows it spans.
    """
    header = header_row if isinstance(header_row, HeaderMap) else HeaderMap.from_row(header_row)
    pending: Claim | None = None
    for offset, values in enumerate(rows):
        if is_blank_row(values) and not _uncalculated_in(header, values):
            continue
        line = parse_row(header, values, first_row + offset)
        if not header.line_level:
            yield line
            continue
        if pending is not None and line.claim_id and line.claim_id == pending.claim_id and (
            line.dos is None or pending.dos is None or line.dos == pending.dos
        ):
            _merge_line(pending, line)
            continue
        if pending is not None:
            if header.pointer_columns:
                _check_pointers(header, pending)
            yield pending
        pending = line
    if pending is not None:
        if header.pointer_columns:
            _check_pointers(header, pending)
        yield pending


def _check_pointers(header: HeaderMap, claim: Claim) -> None:
    """E101 (an error: the line would be rejected) for a diagnosis pointer past the claim's
    diagnoses, pointer C on a claim with one diagnosis: it points at nothing. Known only once
    the claim's lines are together; a claim with no diagnosis at all gets C112 instead."""
    if not claim.diagnoses:  # no diagnosis at all: C112 says so
        return
    # A pointer names a diagnosis box (Dx 3 is C even when Dx 2 is blank): count the boxes used.
    count = max([len(claim.diagnoses), *(int(column[2:]) for column, _text in claim.dx_cells
                                          if column[:2] == "dx" and column[2:].isdigit())])
    _index, canon, text = header.pointer_columns[0]
    for proc in claim.procedures:
        beyond = [i for i in proc.pointers if i >= count]
        if beyond:
            claim.problems.append(_problem(
                canon, text, proc.row or claim.row,
                f"diagnosis pointer {', '.join(chr(65 + i) for i in beyond)} of {proc.code} points to the "
                f"claim's diagnosis {', '.join(str(i + 1) for i in beyond)}, but the claim has "
                f"{plural(count, 'diagnosis', 'diagnoses')}", suggestion="point to a diagnosis the claim lists"))
