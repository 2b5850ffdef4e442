"""The imported NCCI edits: compact files in the user data folder, and lookups by date of service.

Each import of one kind (PTP, MUE or AOC), setting (practitioner or outpatient hospital) and
quarter is one file, ``ncci/<setting>/<kind>-<quarter>.bin`` under the data folder
(``XLSHEETS_DATA_DIR`` or the user data folder): a small JSON header (source files, quarter,
effective dates, row count, the rationale texts) followed by fixed-width arrays sorted by code
pair. Codes are 5 letters or digits, packed base 36 into 26 bits, so a pair is one 64-bit key
and a lookup is a bisect over an ``array('Q')``: a few million PTP edits load with one read per
array (no dict of millions is built), take about 14 bytes each, and work the same in Pyodide.

Dates are days since 1970-01-01 (uint16; 0xFFFF = no deletion date). An edit is in force on a
date of service from its effective date up to, not including, its deletion date.

A date of service is checked against the newest imported quarter that starts on or before it (the
PTP and AOC files carry every edit with its own dates, so older dates of service are covered), or
the oldest quarter for dates before every import.
"""
from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import itertools
import json
import operator
import os
import re
import sys
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

from .files import NcciFileError, Source, code_text, date_of, open_sources
from ..words import plural

__all__ = ["KINDS", "SETTINGS", "KIND_LABEL", "SETTING_LABEL", "EditSet", "NcciData", "PtpEdit",
           "MueEdit", "AocEdit", "get_ncci", "reset_ncci", "import_files", "loaded_sets", "folder_sets",
           "ncci_folder", "pack", "unpack", "NcciFileError"]

KINDS = ("ptp", "mue", "aoc")
SETTINGS = ("practitioner", "hospital")
KIND_LABEL = {"ptp": "PTP (procedure-to-procedure)", "mue": "MUE (units)", "aoc": "AOC (add-on codes)"}
SETTING_LABEL = {"practitioner": "practitioner", "hospital": "outpatient hospital"}
MAGIC = b"XLSNCCI1"
FORMAT = 1
NO_DATE = 0xFFFF
_EPOCH = _dt.date(1970, 1, 1).toordinal()
_SHIFT = 26  # bits per packed code: 36**5 < 2**26
MODIFIER_MEANING = {0: "not allowed", 1: "allowed", 9: "not applicable"}
MAI_MEANING = {1: "Line Edit", 2: "Date of Service Edit: Policy", 3: "Date of Service Edit: Clinical"}
ANSWERS_KEPT = 100_000  # lookups an EditSet remembers (a few MB at most)
_UNSEEN = object()
AOC_TYPE_MEANING = {1: "only with a listed primary code",
                    2: "no primary code list; the contractor decides",
                    3: "listed primary codes; the contractor may accept others"}


# --- codes and dates --------------------------------------------------------------------------
def pack(code: str) -> int | None:
    """``62323`` -> an int below 2**26 (base 36; the order of the codes is kept); None if not a code."""
    if len(code) != 5 or not code.isalnum() or not code.isascii():
        return None
    return int(code.upper(), 36)


def unpack(value: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(5):
        value, rest = divmod(value, 36)
        out.append(digits[rest])
    return "".join(reversed(out))


_LOW = (1 << _SHIFT) - 1  # the second code of a key


def _aoc_primary(key: int) -> str | None:
    """The primary code of an AOC key (add-on << _SHIFT | primary + 1), None when none is listed."""
    primary = key & _LOW
    return unpack(primary - 1) if primary else None


def _day(d: _dt.date) -> int:
    return d.toordinal() - _EPOCH


def _date(day: int) -> _dt.date | None:
    return None if day == NO_DATE else _dt.date.fromordinal(day + _EPOCH)


def _iso(day: int) -> str | None:
    d = _date(day)
    return d.isoformat() if d else None


# --- what a lookup gives ----------------------------------------------------------------------
class PtpEdit(NamedTuple):
    column1: str
    column2: str
    effective: _dt.date
    deletion: _dt.date | None
    modifier: int  # 0 not allowed, 1 allowed, 9 not applicable
    prior_1996: bool
    rationale: str

    def in_force(self, dos: _dt.date) -> bool:
        return self.effective <= dos and (self.deletion is None or dos < self.deletion)

    def to_dict(self) -> dict:
        return {"column1": self.column1, "column2": self.column2,
                "effective": self.effective.isoformat(),
                "deletion": self.deletion.isoformat() if self.deletion else None,
                "modifier_indicator": self.modifier, "modifier_meaning": MODIFIER_MEANING[self.modifier],
                "in_existence_prior_to_1996": self.prior_1996, "rationale": self.rationale}


class MueEdit(NamedTuple):
    code: str
    value: int
    mai: int  # 1 line, 2 date of service (policy), 3 date of service (clinical)
    rationale: str

    def to_dict(self) -> dict:
        return {"code": self.code, "mue": self.value, "mai": self.mai,
                "mai_meaning": MAI_MEANING[self.mai], "rationale": self.rationale}


class AocEdit(NamedTuple):
    addon: str
    primary: str | None  # None: no listed primary (type 2)
    type: int
    effective: _dt.date | None
    deletion: _dt.date | None
    primary_deletion: _dt.date | None
    addon_deletion: _dt.date | None
    notes: str

    def in_force(self, dos: _dt.date) -> bool:
        return ((self.effective is None or self.effective <= dos)
                and (self.deletion is None or dos < self.deletion))

    def to_dict(self) -> dict:
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {"addon": self.addon, "primary": self.primary, "type": self.type,
                "type_meaning": AOC_TYPE_MEANING[self.type], "effective": iso(self.effective),
                "deletion": iso(self.deletion), "primary_deletion": iso(self.primary_deletion),
                "addon_deletion": iso(self.addon_deletion), "notes": self.notes}


# --- one imported file ------------------------------------------------------------------------
class EditSet:
    """One imported kind/setting/quarter: its description at once, its arrays on first lookup."""

    origin = "data folder"  # or the installed data wheel's name (loaded_sets sets it)

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta
        self.kind: str = meta["kind"]
        self.setting: str = meta["setting"]
        self.quarter: str = meta["quarter"]
        self.start = _dt.date.fromisoformat(meta["quarter_start"])
        # Every finding's reference names the set: made once, not per finding.
        self.name = f"NCCI {self.kind.upper()} {SETTING_LABEL[self.setting]} {self.quarter}"
        self._arrays: dict[str, array] | None = None
        self._lock = threading.Lock()
        # Answers already looked up: a workbook asks about the same few hundred codes and
        # pairs over and over, and a lookup makes named tuples and dates each time.
        self._answers: dict[tuple, object] = {}

    def describe(self) -> dict:
        """What status, the JSON ``codesets`` and the report say about it."""
        m = self.meta
        return {"name": self.name,
                "kind": f"ncci-{self.kind}", "setting": self.setting, "quarter": self.quarter,
                "from": m["quarter_start"], "to": m["quarter_end"], "files": list(m["files"]),
                "rows": m["rows"], "edits_effective_from": m.get("effective_from"),
                "edits_effective_to": m.get("effective_to"), "imported": m.get("imported"),
                "source": str(self.path), "origin": self.origin}

    @property
    def arrays(self) -> dict[str, array]:
        if self._arrays is None:
            with self._lock:
                if self._arrays is None:
                    self._arrays = _read_arrays(self.path, self.meta)
        return self._arrays

    # PTP
    def ptp(self, column1: str, column2: str) -> list[PtpEdit]:
        """Every edit with these codes in these columns (in force or not)."""
        a, b = pack(column1), pack(column2)
        if a is None or b is None:
            return []
        arrays = self.arrays
        keys = arrays["key"]
        key = a << _SHIFT | b
        i = bisect.bisect_left(keys, key)
        out = []
        strings = self.meta["strings"]
        while i < len(keys) and keys[i] == key:
            info = arrays["info"][i]
            out.append(PtpEdit(column1, column2, _date(arrays["effective"][i]), _date(arrays["deletion"][i]),
                               info & 0xF, bool(info & 0x10), strings[info >> 5]))
            i += 1
        return out

    def _remember(self, key: tuple, answer):
        if len(self._answers) >= ANSWERS_KEPT:
            self._answers.clear()  # a simple bound; the next lookups refill it
        self._answers[key] = answer
        return answer

    def ptp_in_force(self, code_a: str, code_b: str, dos: _dt.date) -> PtpEdit | None:
        """The edit in force on ``dos`` between two codes, either way round, or None."""
        key = ("ptp", code_a, code_b)
        edits = self._answers.get(key)
        if edits is None:
            edits = self._remember(key, self._ptp_either_way(code_a, code_b))
        if edits:
            day = _day(dos)
            for effective, deletion, c1, c2, info in edits:
                if effective <= day < deletion:
                    return PtpEdit(c1, c2, _date(effective), _date(deletion), info & 0xF, bool(info & 0x10),
                                   self.meta["strings"][info >> 5])
        return None

    def _ptp_either_way(self, code_a: str, code_b: str) -> tuple:
        """(effective day, deletion day, column 1, column 2, info) of every edit between two codes
        in either order; () for the usual answer, none."""
        a, b = pack(code_a), pack(code_b)
        if a is None or b is None or a == b:
            return ()
        arrays = self.arrays
        keys, effective, deletion, info = arrays["key"], arrays["effective"], arrays["deletion"], arrays["info"]
        out = []
        for key, c1, c2 in ((a << _SHIFT | b, code_a, code_b), (b << _SHIFT | a, code_b, code_a)):
            i = bisect.bisect_left(keys, key)
            while i < len(keys) and keys[i] == key:
                out.append((effective[i], deletion[i], c1, c2, info[i]))
                i += 1
        return tuple(out)

    # MUE
    def mue(self, code: str) -> MueEdit | None:
        """The MUE of a code, or None."""
        key = ("mue", code)
        answer = self._answers.get(key, _UNSEEN)
        if answer is _UNSEEN:
            answer = self._remember(key, self._mue(code))
        return answer

    def _mue(self, code: str) -> MueEdit | None:
        c = pack(code)
        if c is None:
            return None
        arrays = self.arrays
        codes = arrays["code"]
        i = bisect.bisect_left(codes, c)
        if i == len(codes) or codes[i] != c:
            return None
        return MueEdit(code, arrays["value"][i], arrays["mai"][i], self.meta["strings"][arrays["rationale"][i]])

    # AOC
    def addon(self, code: str) -> tuple[AocEdit, ...]:
        """The AOC rows of an add-on code (one per listed primary), or () when it is none."""
        key = ("aoc", code)
        answer = self._answers.get(key, _UNSEEN)
        if answer is _UNSEEN:
            answer = self._remember(key, self._addon(code))
        return answer

    def _addon(self, code: str) -> tuple[AocEdit, ...]:
        c = pack(code)
        if c is None:
            return ()
        arrays = self.arrays
        keys = arrays["key"]
        i = bisect.bisect_left(keys, c << _SHIFT)
        end = c + 1 << _SHIFT
        out = []
        strings = self.meta["strings"]
        while i < len(keys) and keys[i] < end:
            out.append(AocEdit(code, _aoc_primary(keys[i]), arrays["type"][i],
                               _date(arrays["effective"][i]), _date(arrays["deletion"][i]),
                               _date(arrays["primary_deletion"][i]), _date(arrays["addon_deletion"][i]),
                               strings[arrays["notes"][i]]))
            i += 1
        return tuple(out)


def _read_header(f, path: Path) -> dict:
    if f.read(len(MAGIC)) != MAGIC:
        raise NcciFileError(f"{path} is not an xlsheets NCCI file; import the CMS files again.")
    size = int.from_bytes(f.read(4), "little")
    meta = json.loads(f.read(size).decode("utf-8"))
    if meta.get("format") != FORMAT:
        raise NcciFileError(f"{path} was written by another version of xlsheets; import the CMS files again.")
    return meta


def _read_arrays(path: Path, meta: dict) -> dict[str, array]:
    with open(path, "rb") as f:
        _read_header(f, path)
        out = {}
        for name, typecode, count in meta["arrays"]:
            values = array(typecode)
            values.fromfile(f, count)  # straight into the array: no intermediate bytes object
            if meta["byteorder"] != sys.byteorder:
                values.byteswap()
            out[name] = values
    return out


def _write(path: Path, meta: dict, arrays: dict[str, array]) -> Path:
    """Write to a temporary name next to ``path``; the caller moves it into place."""
    meta = {**meta, "format": FORMAT, "byteorder": sys.byteorder,
            "arrays": [[name, a.typecode, len(a)] for name, a in arrays.items()]}
    head = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + len(head).to_bytes(4, "little") + head)
            for a in arrays.values():
                a.tofile(f)
    except BaseException:
        _remove(tmp)  # a full disk, Ctrl-C: no half-written file is left behind
        raise
    return tmp


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


# --- the data folder --------------------------------------------------------------------------
def ncci_folder(data_dir: str | os.PathLike | None = None) -> Path:
    from ..codes.importer import user_data_dir
    return user_data_dir(data_dir) / "ncci"


def folder_sets(data_dir: str | os.PathLike | None = None) -> list[EditSet]:
    """The sets imported into the data folder (headers read, arrays not)."""
    return _sets_in(ncci_folder(data_dir))


def loaded_sets(data_dir: str | os.PathLike | None = None) -> list[EditSet]:
    """Every set in use, by setting, kind and quarter: the data folder's, and an installed NCCI
    data wheel's (xlwings Lite's only source, :mod:`xlsheets.ncci.wheel`) for any kind, setting
    and quarter the data folder does not have."""
    out = folder_sets(data_dir)
    from .wheel import installed_folder
    package = installed_folder()
    if package is not None:
        have = {(s.setting, s.kind, s.quarter) for s in out}
        for s in _sets_in(package.folder):
            if (s.setting, s.kind, s.quarter) not in have:
                s.origin = package.origin
                out.append(s)
        out.sort(key=lambda s: (SETTINGS.index(s.setting), KINDS.index(s.kind), s.start))
    return out


def _sets_in(folder: Path) -> list[EditSet]:
    out = []
    for setting in SETTINGS:
        for path in sorted((folder / setting).glob("*.bin")):
            try:
                with open(path, "rb") as f:
                    out.append(EditSet(path, _read_header(f, path)))
            except (OSError, ValueError, KeyError, NcciFileError):
                continue  # an unreadable leftover; status lists what loads
    out.sort(key=lambda s: (SETTINGS.index(s.setting), KINDS.index(s.kind), s.start))
    return out


class NcciData:
    """The sets of one setting (practitioner or hospital): which one is in force on a date."""

    def __init__(self, setting: str, sets: list[EditSet]):
        self.setting = setting
        self.by_kind = {kind: [s for s in sets if s.kind == kind and s.setting == setting] for kind in KINDS}

    def loaded(self, kind: str) -> bool:
        return bool(self.by_kind[kind])

    def for_dos(self, kind: str, dos: _dt.date | None) -> EditSet | None:
        sets = self.by_kind[kind]
        if not sets:
            return None
        if dos is None:
            return sets[-1]
        chosen = sets[0]
        for s in sets:
            if s.start <= dos:
                chosen = s
        return chosen

    def describe(self) -> list[dict]:
        return [s.describe() for kind in KINDS for s in self.by_kind[kind]]


def in_force_for(settings_list) -> list[dict]:
    """Descriptions of the imported sets for the ``ncci_files`` settings given (each once)."""
    out, seen = [], set()
    for settings in settings_list:
        try:
            data = get_ncci(settings.get("ncci_files") or "practitioner")
        except ValueError:
            continue
        if data.setting not in seen:
            seen.add(data.setting)
            out += data.describe()
    return out


_CACHE: dict[tuple, NcciData] = {}
_CACHE_LOCK = threading.Lock()


def get_ncci(setting: str = "practitioner", data_dir: str | os.PathLike | None = None) -> NcciData:
    """The imported sets of a setting; read once per process and data folder (the arrays load on
    first lookup). ``setting`` "hospital" (or "outpatient_hospital") picks the hospital files."""
    quick = (setting, data_dir, os.environ.get("XLSHEETS_DATA_DIR"))  # rules ask claim after claim
    data = _CACHE.get(quick)
    if data is None:
        with _CACHE_LOCK:
            key = (str(ncci_folder(data_dir)), normalise_setting(setting))
            data = _CACHE.get(key)
            if data is None:
                data = _CACHE[key] = NcciData(key[1], loaded_sets(data_dir))
            _CACHE[quick] = data
    return data


def reset_ncci() -> None:
    """Forget what was read (after an import, in this process)."""
    _CACHE.clear()


def normalise_setting(value: object) -> str:
    text = re.sub(r"[^a-z]", "", str(value or "practitioner").lower())
    if text in ("hospital", "outpatienthospital", "outpatient", "opps", "facility"):
        return "hospital"
    if text in ("practitioner", "professional", "physician"):
        return "practitioner"
    raise ValueError(f"ncci_files must be 'practitioner' or 'outpatient_hospital', not {value!r}")


# --- importing --------------------------------------------------------------------------------
_PART = re.compile(r"[-_ ]f(\d{1,2})(?=[._ \]-]|$)", re.I)
_QUARTER = re.compile(r"(20\d\d)\s*[-_ ]?\s*q([1-4])(?![0-9])", re.I)
_VERSION = re.compile(r"(?<![a-z0-9])v(\d{2})(\d)(?:r\d)?(?![0-9])", re.I)  # ccipra-v321r0, v321: 32.1 = 2026 Q2
_MDY = re.compile(r"(\d{1,2})[-_/.](\d{1,2})[-_/.](20\d\d)")
_ISOISH = re.compile(r"(20\d\d)[-_]?(\d{2})[-_]?(\d{2})")
_NAMED = re.compile(r"(january|february|march|april|may|june|july|august|september|october|november|"
                    r"december)\s+(\d{1,2}),?\s+(20\d\d)", re.I)
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]


def quarter_of(d: _dt.date) -> str:
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[_dt.date, _dt.date]:
    m = re.fullmatch(r"(\d{4})\s*-?\s*Q([1-4])", quarter.strip(), re.I)
    if not m:
        raise ValueError(f"quarter {quarter!r}: write it like 2026Q1")
    year, q = int(m[1]), int(m[2])
    start = _dt.date(year, 3 * q - 2, 1)
    end = _dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - _dt.timedelta(days=1)
    return start, end


def _quarter_from_hints(hints: Iterable[str]) -> str | None:
    for text in hints:
        m = _QUARTER.search(text)
        if m:
            return f"{m[1]}Q{m[2]}"
        m = _VERSION.search(text)
        if m and int(m[2]) <= 3:
            return f"{1994 + int(m[1])}Q{int(m[2]) + 1}"
        for pattern, order in ((_NAMED, "named"), (_MDY, "mdy"), (_ISOISH, "ymd")):
            m = pattern.search(text)
            if not m:
                continue
            try:
                if order == "named":
                    d = _dt.date(int(m[3]), _MONTHS.index(m[1].lower()) + 1, int(m[2]))
                elif order == "mdy":
                    d = _dt.date(int(m[3]), int(m[1]), int(m[2]))
                else:
                    d = _dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                continue
            return quarter_of(d)
    return None


def _check_one_quarter(group: list[Source]) -> None:
    """Parts of one table from two CMS downloads (f1 of v320, f2 of v321) would be stored as one
    quarter's edits: refused, naming each file's quarter."""
    by_quarter: dict[str, list[str]] = {}
    for source in group:
        found = _quarter_from_hints(source.hints)
        if found:
            by_quarter.setdefault(found, []).append(source.name)
    if len(by_quarter) > 1:
        listed = "; ".join(f"{q}: {', '.join(names)}" for q, names in sorted(by_quarter.items()))
        raise NcciFileError(f"the files come from different quarters ({listed}); nothing was imported. "
                            "Import the files of one CMS download together (or say the quarter with --quarter).")


def _setting_of(source: Source) -> str | None:
    if source.setting:
        return source.setting
    text = " ".join(source.hints[:2]).lower()
    if "ccioph" in text or "hospital" in text or "ophs" in text:
        return "hospital"
    if "ccipra" in text or "practitioner" in text:
        return "practitioner"
    return None


def import_files(paths: list[str | os.PathLike], data_dir: str | os.PathLike | None = None,
                 quarter: str | None = None, setting: str | None = None,
                 today: _dt.date | None = None, replace: bool = False) -> list[dict]:
    """Import CMS NCCI files (zips, text, CSV, xlsx); returns what was stored, one dict per set.

    Everything is read and checked before anything takes over, so a refused file
    (:class:`NcciFileError`, naming the file and line) leaves what was imported before untouched,
    and no temporary file stays behind. The PTP parts (f1-f4) of one setting become one set and
    must start at f1 with no gap; importing a quarter again replaces it, but a PTP set is not
    replaced by fewer parts than it has unless ``replace`` says so (a part imported alone would
    otherwise drop the edits of the others without a word).
    """
    chosen = normalise_setting(setting) if setting else None
    built: list[tuple[Path, Path, dict, dict | None, list[str]]] = []  # ..., the import's notes (not stored)
    try:
        with contextlib.ExitStack() as stack:
            sources, skipped = open_sources(list(paths), stack)
            groups: dict[tuple[str, str], list[Source]] = {}
            for source in sources:
                found = _setting_of(source)
                if found == "dme":
                    raise NcciFileError(f"{source.name} is the DME supplier MUE file; xlsheets checks "
                                        "practitioner or outpatient hospital claims. Import the "
                                        "practitioner (or outpatient hospital) MUE file.")
                groups.setdefault((source.kind, chosen or found or "practitioner"), []).append(source)
            for (kind, set_setting), group in groups.items():
                group = _in_part_order(kind, group)
                if kind == "ptp":
                    arrays, strings, span = _parse_ptp(group)
                elif kind == "mue":
                    arrays, strings, span = _parse_mue(group)
                else:
                    arrays, strings, span = _parse_aoc(group)
                notes = [n for s in group for n in s.notes] + _never_in_force(kind, arrays)
                hints = [h for s in group for h in s.hints]
                if quarter is None:
                    _check_one_quarter(group)
                q = quarter or _quarter_from_hints(hints)
                if q is None and span[1]:  # no quarter in the names: the newest effective date's
                    q = quarter_of(span[1])
                    notes.append(f"{', '.join(s.name for s in group)}: no quarter in the file name or its "
                                 f"first lines, so it is taken from the newest effective date ({span[1].isoformat()}): "
                                 f"{q}. If that is wrong, import again with --quarter (e.g. --quarter 2026Q2).")
                if q is None:
                    raise NcciFileError(f"{group[0].name}: the quarter cannot be told from the file name or "
                                        "its first lines; say it: xlsheets ncci import FILE --quarter 2026Q1")
                start, end = quarter_bounds(q)
                q = quarter_of(start)
                parts = [s.part for s in group] if kind == "ptp" and group[0].part is not None else None
                target = ncci_folder(data_dir) / set_setting / f"{kind}-{q}.bin"
                before = _replaced(target)
                if kind == "ptp" and before and not replace:
                    _check_not_fewer_parts(group, parts, before, set_setting, q)
                meta = {"kind": kind, "setting": set_setting, "quarter": q, "quarter_start": start.isoformat(),
                        "quarter_end": end.isoformat(), "files": [s.name for s in group], "parts": parts,
                        "rows": len(next(iter(arrays.values()))), "strings": strings,
                        "effective_from": span[0].isoformat() if span[0] else None,
                        "effective_to": span[1].isoformat() if span[1] else None,
                        "imported": (today or _dt.date.today()).isoformat()}
                built.append((target, _write(target, meta, arrays), meta, before, notes))
        for target, tmp, *_rest in built:  # all read and written: now they take over
            os.replace(tmp, target)
    except BaseException:
        for _target, tmp, *_rest in built:
            _remove(tmp)  # a refusal after some sets were written: none of them is left over
        raise
    reset_ncci()
    return [{**EditSet(target, meta).describe(), "parts": meta["parts"], "replaced": before,
             "skipped": skipped, "notes": notes} for target, _tmp, meta, before, notes in built]


def _never_in_force(kind: str, arrays: dict) -> list[str]:
    """What the import says about edits whose deletion date is before their effective date:
    never in force, so never applied. Not refused (a CMS file may hold such a row, and the
    rest of the file is good), but said, with the first few pairs, so a damaged file is seen."""
    if "effective" not in arrays:  # MUE: no edit dates
        return []
    eff, dele, keys = arrays["effective"], arrays["deletion"], arrays["key"]
    # deletion < effective, compared in C (3.5 million rows); NO_DATE (none) is the largest day
    bad = list(itertools.compress(range(len(eff)), map(operator.lt, dele, eff)))
    if not bad:
        return []

    def pair(i):
        first = unpack(keys[i] >> _SHIFT)
        if kind == "aoc":
            codes = f"add-on {first} with primary {_aoc_primary(keys[i]) or '(none)'}"
        else:
            codes = f"{first}/{unpack(keys[i] & _LOW)}"
        return f"{codes} (effective {_date(eff[i]).isoformat()}, deleted {_date(dele[i]).isoformat()})"
    shown = ", ".join(pair(i) for i in bad[:3]) + (f" and {len(bad) - 3:,} more" if len(bad) > 3 else "")
    return [f"{plural(len(bad), 'edit')} deleted before {'they take' if len(bad) != 1 else 'it takes'} "
            f"effect, so never in force and never applied: {shown}. If the file was edited or damaged, "
            "download it again from CMS."]


def part_text(parts: list[int]) -> str:
    """[1, 2, 3] -> "f1-f3"; [1, 3] -> "f1, f3"."""
    if len(parts) > 1 and parts == list(range(parts[0], parts[-1] + 1)):
        return f"f{parts[0]}-f{parts[-1]}"
    return ", ".join(f"f{n}" for n in parts)


def _parts_of(files: list[str], parts) -> list[int] | None:
    """The parts a stored set was imported from (older sets did not record them: their names)."""
    if parts is not None:
        return list(parts)
    found = [_PART.search(name.rsplit(": ", 1)[-1]) for name in files]
    return [int(m[1]) for m in found] if found and all(found) else None


def _replaced(target: Path) -> dict | None:
    """What an import into ``target`` replaces: its files, parts, rows and import date; or None."""
    if not target.is_file():
        return None
    try:
        with open(target, "rb") as f:
            meta = _read_header(f, target)
    except (OSError, ValueError, KeyError, NcciFileError):
        return None  # an unreadable leftover: replacing it loses nothing
    files = list(meta.get("files", []))
    return {"files": files, "parts": _parts_of(files, meta.get("parts")), "rows": meta.get("rows"),
            "imported": meta.get("imported")}


def _import_command(group: list[Source], upto: int) -> str:
    """The command that imports every part of the download the group's files come from."""
    name = group[0].name.split(": ", 1)
    if len(name) == 2 and name[0].lower().endswith(".zip"):
        return f"xlsheets ncci import {name[0]} (the zip of the whole download, or every part in it)"
    base = name[-1].rsplit(" [", 1)[0]
    m = _PART.search(base)
    if not m:
        return "xlsheets ncci import FILE-f1 FILE-f2 ... (every part of the download)"
    names = [f"{base[:m.start(1)]}{n}{base[m.end(1):]}" for n in range(1, max(upto, 2) + 1)]
    return f"xlsheets ncci import {' '.join(names)} ... (every part of the download)"


def _check_not_fewer_parts(group: list[Source], parts: list[int] | None, before: dict, setting: str,
                           quarter: str) -> None:
    had = before["parts"] or [None] * max(len(before["files"]), 1)
    now = parts or [None]
    if len(now) >= len(had):
        return
    had_text = part_text(before["parts"]) if before["parts"] else f"{len(had)} files"
    now_text = part_text(parts) if parts else "1 file"
    rows = f"{before['rows']:,} rows, " if isinstance(before.get("rows"), int) else ""
    raise NcciFileError(
        f"{', '.join(s.name for s in group)}: the PTP {SETTING_LABEL[setting]} set for {quarter} is "
        f"loaded from {len(had)} parts ({had_text}: {rows}{', '.join(before['files'])}); this import "
        f"has {len(now)} ({now_text}) and would drop the edits of the others. Import every part "
        f"together: {_import_command(group, max(p or 0 for p in had) or len(had))}; or, to replace "
        "the set with these parts only, add --replace. Nothing was imported; what was loaded "
        "before is kept.")


def _in_part_order(kind: str, group: list[Source]) -> list[Source]:
    if kind != "ptp":
        if len(group) > 1:
            names = ", ".join(s.name for s in group)
            raise NcciFileError(f"two {kind.upper()} files of the same setting in one import ({names}); "
                                "import one at a time.")
        return group
    for s in group:
        m = None
        for hint in s.hints[:2]:
            m = _PART.search(hint) or m
        s.part = int(m[1]) if m else None
    if len(group) == 1 and group[0].part is None:
        return group  # one PTP file not named as a part: the whole set
    if any(s.part is None for s in group):
        names = ", ".join(s.name for s in group if s.part is None)
        raise NcciFileError(f"several PTP files in one import, but {names} is not named as a part "
                            "(-f1, -f2, ...); import the parts of one CMS download together.")
    group = sorted(group, key=lambda s: s.part)
    parts = [s.part for s in group]
    if len(set(parts)) != len(parts):
        raise NcciFileError("the same PTP part was given twice: " + ", ".join(s.name for s in group))
    missing = sorted(set(range(1, parts[-1] + 1)) - set(parts))
    if missing:
        given = ", ".join(f"{s.name} (f{s.part})" for s in group)
        raise NcciFileError(
            f"PTP part{'s' if len(missing) > 1 else ''} {', '.join(f'f{n}' for n in missing)} missing: "
            f"given {given}. The parts of one CMS download are imported together, in one command: "
            f"{_import_command(group, parts[-1])}. Nothing was "
            "imported; what was loaded before is kept.")
    return group


def _need(source: Source, fields: tuple[str, ...]) -> int:
    return max(source.columns[f] for f in fields if source.columns.get(f) is not None) + 1


def _bad(source: Source, line: int, what: str) -> NcciFileError:
    return NcciFileError(f"{source.where(line)}: {what}. The file is damaged or truncated, or not "
                         "the CMS file; nothing was imported and what was loaded before is kept.")


def _short_fields(source: Source, line: int, cells: list, need: int) -> NcciFileError:
    return _bad(source, line, f"{len(cells)} fields where an NCCI {source.kind.upper()} row has {need}")


def _blank(cells: list) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _full_rows(source: Source, need: int):
    """The source's (line, cells) with every field a row of its kind has; blank lines are
    skipped (",,,," too, as Excel writes empty rows into a CSV) and a short line refuses the
    file, naming the line."""
    for line, cells in source.rows:
        first = cells[0] if cells else None
        if len(cells) < need or not first or (type(first) is str and first[:1].isspace()):  # look further
            if _blank(cells):
                continue
            if len(cells) < need:
                raise _short_fields(source, line, cells, need)
        yield line, cells


class _Days:
    """Date cells -> day numbers, each distinct cell text converted once."""

    def __init__(self):
        self.seen: dict = {}

    def __call__(self, value, source: Source, line: int, what: str, required: bool = False) -> int:
        try:
            return self.seen[value]
        except (KeyError, TypeError):
            pass
        d = date_of(value)
        if isinstance(d, str):
            raise _bad(source, line, f"{what} {d[:20]!r} is not a date (CMS writes YYYYMMDD, '*' for none)")
        if d is None:
            if required:
                raise _bad(source, line, f"{what} is empty")
            day = NO_DATE
        else:
            day = _day(d)
            if not 0 <= day < NO_DATE:
                raise _bad(source, line, f"{what} {d.isoformat()} is out of range")
        try:
            self.seen[value] = day
        except TypeError:
            pass
        return day


def _code(value, source: Source, line: int, what: str) -> int:
    if type(value) is str and len(value) == 5 and value.isalnum() and value.isascii():
        return int(value.upper(), 36)
    text = code_text(value)
    if text is None:
        if value is None or not str(value).strip():
            raise _bad(source, line, f"{what} is empty, where a CPT/HCPCS code belongs (5 letters or digits)")
        raise _bad(source, line, f"{what} {str(value)[:20]!r} is not a CPT/HCPCS code (5 letters or digits)")
    return int(text, 36)


def _span(days: array) -> tuple[_dt.date | None, _dt.date | None]:
    real = [d for d in (min(days, default=NO_DATE), max((d for d in days if d != NO_DATE), default=NO_DATE))]
    return _date(real[0]) if real[0] != NO_DATE else None, _date(real[1]) if real[1] != NO_DATE else None


def _parse_ptp(group: list[Source]):
    keys, eff, dele, info = array("Q"), array("H"), array("H"), array("H")
    strings: dict[str, int] = {}
    days = _Days()
    for source in group:
        c = source.columns
        i1, i2, ie, idl, im = c["col1"], c["col2"], c["effective"], c["deletion"], c["modifier"]
        ip, ir = c.get("prior"), c.get("rationale")
        need = _need(source, ("col1", "col2", "effective", "deletion", "modifier", "prior", "rationale"))
        count = 0
        for line, cells in _full_rows(source, need):
            keys.append(_code(cells[i1], source, line, "the column 1 code") << _SHIFT
                        | _code(cells[i2], source, line, "the column 2 code"))
            eff.append(days(cells[ie], source, line, "the effective date", required=True))
            dele.append(days(cells[idl], source, line, "the deletion date"))
            mod = cells[im]
            mod = mod.strip() if isinstance(mod, str) else str(int(mod)) if isinstance(mod, (int, float)) else ""
            if mod not in ("0", "1", "9"):
                raise _bad(source, line, f"the modifier indicator {mod[:10]!r} is not 0, 1 or 9")
            prior = ip is not None and isinstance(cells[ip], str) and cells[ip].strip() == "*"
            text = cells[ir] if ir is not None else ""
            text = text.strip() if isinstance(text, str) else "" if text is None else str(text)
            index = strings.get(text)
            if index is None:
                index = strings[text] = len(strings)
                if index >= 1 << 11:
                    raise _bad(source, line, "more distinct rationales than any CMS file has")
            info.append(int(mod) | (0x10 if prior else 0) | index << 5)
            count += 1
        if not count:
            raise NcciFileError(f"{source.name}: the header is there but no edits follow; the file is "
                                "truncated. Download it again.")
    order = _sorted_order(keys)
    if order is not None:
        keys, eff, dele, info = (array(a.typecode, (a[i] for i in order)) for a in (keys, eff, dele, info))
    return {"key": keys, "effective": eff, "deletion": dele, "info": info}, list(strings), _span(eff)


def _sorted_order(keys: array) -> list[int] | None:
    """None when the keys are in order already (CMS sorts by column 1, column 2); else the order."""
    if all(a <= b for a, b in zip(keys, keys[1:])):
        return None
    return sorted(range(len(keys)), key=keys.__getitem__)


def _parse_mue(group: list[Source]):
    source = group[0]
    c = source.columns
    need = _need(source, ("code", "value", "mai", "rationale"))
    found: dict[int, tuple[int, int, int]] = {}
    strings: dict[str, int] = {}
    for line, cells in _full_rows(source, need):
        code = _code(cells[c["code"]], source, line, "the code")
        raw = cells[c["value"]]
        try:
            value = int(float(raw)) if not isinstance(raw, str) else int(raw.strip())
        except (TypeError, ValueError):
            raise _bad(source, line, f"the MUE value {str(raw)[:20]!r} is not a whole number") from None
        if not 0 <= value < 1 << 31:
            raise _bad(source, line, f"the MUE value {value} is out of range")
        mai_text = str(cells[c["mai"]] if cells[c["mai"]] is not None else "").strip()
        if not mai_text or mai_text[0] not in "123":
            raise _bad(source, line, f"the MUE adjudication indicator {mai_text[:30]!r} is not 1, 2 or 3")
        text = cells[c["rationale"]] if c.get("rationale") is not None else ""
        text = str(text).strip() if text is not None else ""
        index = strings.setdefault(text, len(strings))
        found.setdefault(code, (value, int(mai_text[0]), index))
    if not found:
        raise NcciFileError(f"{source.name}: the header is there but no MUE rows follow; the file is "
                            "truncated. Download it again.")
    codes = sorted(found)
    arrays = {"code": array("I", codes), "value": array("I", (found[k][0] for k in codes)),
              "mai": array("B", (found[k][1] for k in codes)), "rationale": array("H", (found[k][2] for k in codes))}
    return arrays, list(strings), (None, None)


_NO_PRIMARY = re.compile(r"^(|\*|N/?A|NONE|([A-Z])\2{4})$")


def _parse_aoc(group: list[Source]):
    source = group[0]
    c = source.columns
    need = _need(source, tuple(c))
    rows = []
    strings: dict[str, int] = {}
    days = _Days()

    def day_of(cells, name, line, what):
        index = c.get(name)
        return NO_DATE if index is None else days(cells[index], source, line, what)

    for line, cells in _full_rows(source, need):
        addon = _code(cells[c["addon"]], source, line, "the add-on code")
        raw = cells[c["primary"]]
        text = str(raw).strip().upper() if raw is not None else ""
        primary = 0 if _NO_PRIMARY.match(text) else _code(raw, source, line, "the primary code") + 1
        kind = str(cells[c["type"]] if cells[c["type"]] is not None else "").strip()
        kind = kind[:-2] if kind.endswith(".0") else kind
        if kind not in ("1", "2", "3"):
            raise _bad(source, line, f"the AOC edit type {kind[:10]!r} is not 1, 2 or 3")
        note = cells[c["notes"]] if c.get("notes") is not None else ""
        note = str(note).strip() if note is not None else ""
        rows.append((addon << _SHIFT | primary, day_of(cells, "effective", line, "the edit effective date"),
                     day_of(cells, "deletion", line, "the edit deletion date"),
                     day_of(cells, "primary_deletion", line, "the primary code deletion date"),
                     day_of(cells, "addon_deletion", line, "the add-on code deletion date"),
                     int(kind), strings.setdefault(note, len(strings))))
    if not rows:
        raise NcciFileError(f"{source.name}: the header is there but no AOC rows follow; the file is "
                            "truncated. Download it again.")
    rows.sort()
    arrays = {"key": array("Q", (r[0] for r in rows)), "effective": array("H", (r[1] for r in rows)),
              "deletion": array("H", (r[2] for r in rows)), "primary_deletion": array("H", (r[3] for r in rows)),
              "addon_deletion": array("H", (r[4] for r in rows)), "type": array("B", (r[5] for r in rows)),
              "notes": array("H", (r[6] for r in rows))}
    return arrays, list(strings), _span(arrays["effective"])
