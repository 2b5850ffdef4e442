"""CPT / HCPCS codes by date of service: the built-in history, and code lists a user imports.

Built in (facts, no descriptors): the deleted codes a spine or therapy practice still meets,
with their replacements and the annual update each fact comes from, and the dates the
replacements took effect (``HISTORY``, ``INTRODUCED``). That is all xlsheets can know without a
code list: other codes are checked for their shape only (rule C105).

Imported: CMS's HCPCS Level II annual file (public; the fixed-width ``HCPC<year>_..._ANWEB``
text file, or its spreadsheet form with the CMS column names), or a practice's licensed CPT file
(CSV or xlsx with a code column and effective / termination date columns). Only codes and dates
are kept: descriptors are never read into memory for storage, never written and never printed
(CPT descriptors are AMA copyright). Imports are stored in the user data folder (``cpt/``),
like ICD-10-CM releases, and from then on C105 and C106 know every code of the families the list
covers (Level II letters A-V; CPT numbers and F/T/U codes): a code missing from the list is
unknown, a terminated one is deleted, one used before its effective date is not yet valid.

Standard library only (openpyxl for .xlsx, already a dependency).
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from .importer import user_data_dir

__all__ = ["HISTORY", "INTRODUCED", "Verdict", "ProcedureCodes", "get_procedure_codes",
           "reset_procedure_codes", "import_list", "list_imports", "remove_import", "read_code_list"]

D = _dt.date
FORMAT_VERSION = 1


class Fact(NamedTuple):
    """A deleted code: the first date it is no longer valid, what replaced it, and the source."""

    deleted: D
    replacement: str
    source: str


def _facts(codes: Iterable[str], deleted: D, replacement: str, source: str) -> dict[str, Fact]:
    return {c: Fact(deleted, replacement, source) for c in codes}


# Deleted codes a spine or therapy practice still meets (AMA CPT annual changes).
HISTORY: dict[str, Fact] = {
    **_facts(["62310"], D(2017, 1, 1), "62320 / 62321", "AMA CPT 2017 annual changes"),
    **_facts(["62311"], D(2017, 1, 1), "62322 / 62323", "AMA CPT 2017 annual changes"),
    **_facts(["62318"], D(2017, 1, 1), "62324 / 62325", "AMA CPT 2017 annual changes"),
    **_facts(["62319"], D(2017, 1, 1), "62326 / 62327", "AMA CPT 2017 annual changes"),
    **_facts(["97001"], D(2017, 1, 1), "97161 / 97162 / 97163", "AMA CPT 2017 annual changes"),
    **_facts(["97002"], D(2017, 1, 1), "97164", "AMA CPT 2017 annual changes"),
    **_facts(["97003"], D(2017, 1, 1), "97165 / 97166 / 97167", "AMA CPT 2017 annual changes"),
    **_facts(["97004"], D(2017, 1, 1), "97168", "AMA CPT 2017 annual changes"),
    **_facts(["22851"], D(2017, 1, 1), "22853 / 22854 / 22859", "AMA CPT 2017 annual changes"),
    **_facts(["95900", "95903", "95904"], D(2013, 1, 1), "95907-95913", "AMA CPT 2013 annual changes"),
    **_facts(["64622"], D(2012, 1, 1), "64635", "AMA CPT 2012 annual changes"),
    **_facts(["64623"], D(2012, 1, 1), "64636", "AMA CPT 2012 annual changes"),
    **_facts(["64626"], D(2012, 1, 1), "64633", "AMA CPT 2012 annual changes"),
    **_facts(["64627"], D(2012, 1, 1), "64634", "AMA CPT 2012 annual changes"),
    **_facts(["97762"], D(2018, 1, 1), "97763", "AMA CPT 2018 annual changes"),
    **_facts(["97532"], D(2020, 1, 1), "97129 / 97130", "AMA CPT 2020 annual changes"),
    **_facts(["99241"], D(2023, 1, 1), "99242-99245 (Medicare: an office visit 99202-99215; it has not "
             "paid consultation codes since 2010)", "AMA CPT 2023 annual changes"),
    **_facts(["99251"], D(2023, 1, 1), "99252-99255 (Medicare: a hospital visit; it has not paid "
             "consultation codes since 2010)", "AMA CPT 2023 annual changes"),
    **_facts(["99201"], D(2021, 1, 1), "99202", "AMA CPT 2021 annual changes"),
}


def _span(a: int, b: int) -> list[str]:
    return [str(n) for n in range(a, b + 1)]


# Replacement codes: the first date they are valid (the same annual updates).
INTRODUCED: dict[str, tuple[D, str]] = {
    **{c: (D(2017, 1, 1), "AMA CPT 2017 annual changes") for c in _span(62320, 62327) + _span(97161, 97168)},
    **{c: (D(2017, 1, 1), "AMA CPT 2017 annual changes") for c in ("22853", "22854", "22859")},
    **{c: (D(2013, 1, 1), "AMA CPT 2013 annual changes") for c in _span(95907, 95913)},
    **{c: (D(2012, 1, 1), "AMA CPT 2012 annual changes") for c in _span(64633, 64636)},
    "97763": (D(2018, 1, 1), "AMA CPT 2018 annual changes"),
    **{c: (D(2020, 1, 1), "AMA CPT 2020 annual changes") for c in ("97129", "97130")},
}


# ---------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Why a procedure code is not valid on a date: ``deleted`` (``since`` is the first invalid
    day), ``not_yet`` (``since`` is its effective date) or ``unknown`` (not in a loaded list that
    covers its family). ``source`` names the fact's annual update or the imported file."""

    kind: str
    code: str
    since: D | None
    replacement: str | None
    source: str


def family(code: str) -> str:
    """``hcpcs`` for Level II codes (a letter and four digits), ``cpt`` for the others."""
    return "hcpcs" if code[:1].isalpha() else "cpt"


# ---------------------------------------------------------------------------------------------
# Reading user files (codes and dates only)
# ---------------------------------------------------------------------------------------------

_CODE = re.compile(r"[0-9]{4}[0-9FTU]|[A-V][0-9]{4}")
# CMS HCPCS contractor record (HCPC<year>_recordlayout.txt), 1-based: HCPC 1-5, sequence 6-10,
# record ID 11 (3 first line of a procedure, 4 its continuation, 7/8 modifiers), code added
# date 267-274, action effective date 275-282, termination date 283-290, action code 291.
_FIXED = {"code": (0, 5), "recid": (10, 11), "added": (266, 274), "action_eff": (274, 282),
          "term": (282, 290), "action": (290, 291)}
_HEADER_NAMES = {
    "code": ("hcpc", "hcpcs", "hcpcs code", "hcpcs/cpt code", "cpt", "cpt code", "code", "procedure code"),
    "added": ("add dt", "add_dt", "add date", "code added date", "effective date", "effective",
              "eff date", "start date", "begin date", "effective_date"),
    "term": ("term dt", "term_dt", "termination date", "term date", "deleted", "deletion date",
             "end date", "termination_date", "expiration date"),
    "recid": ("recid", "rec id", "record id"),
    "action": ("action cd", "action_cd", "action code"),
}


def _date(text: Any) -> D | None:
    """``20230101``, ``2023-01-01``, ``01/01/2023`` or an Excel date; blank / ``*`` -> None."""
    if text is None:
        return None
    if isinstance(text, _dt.datetime):
        return text.date()
    if isinstance(text, D):
        return text
    s = str(text).strip()
    if s in ("", "*", "0", "00000000"):
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"):
        try:
            return _dt.datetime.strptime(s, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"not a date: {s!r}")


def _fixed_width(lines: list[str]) -> list[tuple[str, D | None, D | None]] | None:
    """Rows of the CMS fixed-width annual file, or None when the text is not in that layout."""
    records = [ln.ljust(320) for ln in lines if len(ln) >= 11 and ln[10] in "3478"]
    firsts = [ln for ln in records if ln[10] == "3" and _CODE.fullmatch(ln[0:5])]
    if not firsts or not any(ln[266:274].strip() for ln in firsts) or \
            len(records) < len([ln for ln in lines if ln.strip()]) // 2:
        return None
    out = []
    for ln in firsts:  # continuation lines (4) and modifiers (7, 8) carry no code dates
        term = _date(ln[282:290])
        out.append((ln[0:5], _date(ln[266:274]), term + _dt.timedelta(days=1) if term else None))
    return out


def _by_header(rows: list[list[Any]], where: str) -> list[tuple[str, D | None, D | None]]:
    """Rows of a table with a header row (found by its column names, below any title lines)."""
    for h, row in enumerate(rows[:50]):
        names = [str(c or "").strip().lower().replace("\n", " ") for c in row]
        col = {k: next((i for i, n in enumerate(names) if n in opts), None) for k, opts in _HEADER_NAMES.items()}
        if col["code"] is not None and (col["added"] is not None or col["term"] is not None):
            break
    else:
        raise ValueError(f"{where}: no header row with a code column (HCPC, CPT or Code) and an effective "
                         "or termination date column (ADD DT / TERM DT, Effective Date / Termination Date)")
    # CMS's TERM DT (and a termination, end or expiration date) is the last valid day; a
    # "deleted" / "deletion date" column gives the first day the code is no longer valid.
    last_day = col["term"] is not None and not str(rows[h][col["term"]]).strip().lower().startswith("delet")
    out = []
    for n, row in enumerate(rows[h + 1:], start=h + 2):
        cell = lambda k: row[col[k]] if col[k] is not None and col[k] < len(row) else None  # noqa: E731
        code = str(cell("code") or "").strip().upper()
        if not code:
            continue
        if col["recid"] is not None and str(cell("recid") or "").strip() not in ("", "3"):
            continue  # continuation and modifier lines of the CMS file
        if not _CODE.fullmatch(code):
            if len(code) == 2:
                continue  # a modifier row
            raise ValueError(f"{where}, line {n}: {code[:12]!r} is not a CPT/HCPCS code")
        try:
            added, term = _date(cell("added")), _date(cell("term"))
        except ValueError as e:
            raise ValueError(f"{where}, line {n}: {e}") from None
        out.append((code, added, term + _dt.timedelta(days=1) if term and last_day else term))
    return out


def read_code_list(path: str | os.PathLike[str]) -> list[tuple[str, D | None, D | None]]:
    """(code, effective date, first date no longer valid) for every code of a user's list.

    Formats: the CMS HCPCS annual file (fixed-width text, or xlsx/csv with its column names
    ``HCPC``, ``ADD DT``, ``TERM DT``); a CPT list as CSV/TSV/xlsx with a code column and effective /
    termination (or deletion) date columns. Descriptor columns are skipped, never kept.
    """
    p = Path(path)
    where = p.name
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
        out = _by_header(rows, where)
    else:
        text = p.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        fixed = _fixed_width(lines)
        if fixed is not None:
            out = fixed
        else:
            sample = "\n".join(lines[:20])
            delim = "\t" if sample.count("\t") > sample.count(",") else ","
            out = _by_header(list(csv.reader(lines, delimiter=delim)), where)
    if not out:
        raise ValueError(f"{where}: no CPT/HCPCS codes found")
    return out


# ---------------------------------------------------------------------------------------------
# The per-user store
# ---------------------------------------------------------------------------------------------


def _folder(data_dir=None) -> Path:
    return user_data_dir(data_dir) / "cpt"


def import_list(path: str | os.PathLike[str], kind: str | None = None, name: str | None = None,
                data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Import a code list (see :func:`read_code_list`) into the user data folder.

    ``kind`` (``hcpcs`` or ``cpt``) says which code families the list covers; by default the
    families its codes belong to. ``name`` (default: the file name) keys the import: importing
    again under the same name replaces it. Written atomically; returns a summary.
    """
    rows = read_code_list(path)
    families = sorted({family(c) for c, _, _ in rows}) if kind is None else [kind]
    if any(f not in ("hcpcs", "cpt") for f in families):
        raise ValueError(f"kind must be 'hcpcs' or 'cpt', not {kind!r}")
    src = Path(path).name
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", name or Path(path).stem)[:80] or "list"
    dates = [d for _, a, t in rows for d in (a, t) if d]
    data = {
        "format": FORMAT_VERSION, "source": src, "families": families,
        "imported": _dt.date.today().isoformat(),
        "codes": sorted([c, a.isoformat() if a else "", t.isoformat() if t else ""] for c, a, t in rows),
    }
    folder = _folder(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.json.gz"
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(json.dumps(data, separators=(",", ":")).encode("utf-8"))
    os.replace(tmp, target)
    reset_procedure_codes()
    return {"path": str(target), "source": src, "families": families, "codes": len(rows),
            "terminated": sum(1 for _, _, t in rows if t),
            "from": min(dates).isoformat() if dates else None, "to": max(dates).isoformat() if dates else None}


def list_imports(data_dir=None) -> list[Path]:
    folder = _folder(data_dir)
    return sorted(folder.glob("*.json.gz")) if folder.is_dir() else []


def remove_import(name: str, data_dir=None) -> bool:
    p = _folder(data_dir) / f"{name}.json.gz"
    if p.exists():
        p.unlink()
        reset_procedure_codes()
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------


class ProcedureCodes:
    """The built-in history plus the imported lists. ``verdict(code, dos)`` is the rules' question."""

    def __init__(self, imports: Iterable[tuple[Path, dict[str, Any]]] = ()):
        self.lists: list[dict[str, Any]] = []
        self.damaged: list[tuple[str, str]] = []  # (path, why): said in coverage(), never silent
        self._dates: dict[str, tuple[D | None, D | None, str]] = {}  # code -> (effective, deleted, file)
        self._covered: dict[str, str] = {}  # family -> file that lists it
        for path, data in imports:
            src = f"{data.get('source', path.name)} (imported, {path})"
            for c, a, t in data["codes"]:
                self._dates[c] = (D.fromisoformat(a) if a else None, D.fromisoformat(t) if t else None, src)
            for f in data.get("families", ()):
                self._covered[f] = src
            self.lists.append({"path": str(path), "data": data})

    def verdict(self, code: str, dos: D) -> Verdict | None:
        """None when nothing is known against ``code`` on ``dos``; else why it is not valid."""
        hit = self._dates.get(code)
        if hit is not None:
            eff, gone, src = hit
            if gone is not None and dos >= gone:
                fact = HISTORY.get(code)
                return Verdict("deleted", code, gone, fact.replacement if fact else None, src)
            if eff is not None and dos < eff:
                return Verdict("not_yet", code, eff, None, src)
            return None
        fact = HISTORY.get(code)
        if fact is not None and dos >= fact.deleted:
            return Verdict("deleted", code, fact.deleted, fact.replacement, fact.source)
        new = INTRODUCED.get(code)
        if new is not None and dos < new[0]:
            return Verdict("not_yet", code, new[0], None, new[1])
        src = self._covered.get(family(code))
        if src is not None and fact is None and new is None:
            return Verdict("unknown", code, None, None, src)
        return None

    def coverage(self) -> list[dict[str, Any]]:
        """The CPT/HCPCS knowledge in force, for the JSON's ``codesets`` and the report."""
        out = [{
            "kind": "cpt_hcpcs", "name": "CPT/HCPCS deleted-code history (built in)",
            "version": "AMA CPT annual changes 2012-2023",
            "from": min(f.deleted for f in HISTORY.values()).isoformat(),
            "to": max(f.deleted for f in HISTORY.values()).isoformat(),
            "source": "bundled", "codes": len(HISTORY) + len(INTRODUCED),
        }]
        for path, why in self.damaged:
            out.append({"kind": "cpt_hcpcs", "name": "CPT/HCPCS code list NOT LOADED (damaged import)",
                        "version": None, "from": None, "to": None, "source": f"{path}: {why}"})
        for item in self.lists:
            d = item["data"]
            dates = [x for _, a, t in d["codes"] for x in (a, t) if x]
            out.append({
                "kind": "cpt_hcpcs",
                "name": ("HCPCS Level II" if d.get("families") == ["hcpcs"] else "CPT" if d.get("families") == ["cpt"]
                         else "CPT/HCPCS") + " code list (imported)",
                "version": f"imported {d.get('imported', '')}",
                "from": min(dates) if dates else None, "to": max(dates) if dates else None,
                "source": f"{d.get('source')} ({item['path']})", "files": [d.get("source")],
                "codes": len(d["codes"]),
            })
        return out


_codes: ProcedureCodes | None = None
_lock = threading.Lock()


def get_procedure_codes() -> ProcedureCodes:
    """The shared instance: built-in history plus the user's imports (a damaged file is skipped)."""
    global _codes
    if _codes is None:
        with _lock:
            if _codes is None:
                loaded, damaged = [], []
                for p in list_imports():
                    try:
                        with gzip.open(p, "rt", encoding="utf-8") as f:
                            data = json.load(f)
                        if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
                            raise ValueError("not an xlsheets code list")
                        loaded.append((p, data))
                    except (OSError, ValueError, EOFError) as e:
                        damaged.append((str(p), f"cannot be read ({e}); import the list again"))
                codes = ProcedureCodes(loaded)
                codes.damaged = damaged
                _codes = codes
    return _codes


def reset_procedure_codes() -> None:
    global _codes
    with _lock:
        _codes = None
