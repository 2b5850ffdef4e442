"""Read CMS ICD-10-CM release files and store them as xlsheets code-set data.

Two users of this module:

* ``tools/build_codesets.py`` parses the bundled FY2026 tabular XML with :func:`parse_tabular`
  at build time, so the bundled data and an imported release share one format.
* A user who downloaded a newer CMS release (order file + tabular XML) imports it with
  :func:`import_release`; it is stored in the per-user data folder and used for dates of
  service on or after its effective date (see ``icd10cm.CodeSet``).

Standard library only: this runs on user machines.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from bisect import bisect_left
from pathlib import Path
from typing import Any

# Note kinds as the CMS tabular XML spells them. sevenChrDef is handled apart (a char table).
NOTE_KINDS = (
    "includes",
    "inclusionTerm",
    "excludes1",
    "excludes2",
    "codeFirst",
    "useAdditionalCode",
    "codeAlso",
    "notes",
    "sevenChrNote",
)

FORMAT_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Code references inside note text
# ---------------------------------------------------------------------------------------------

# A referenced code: letter, digit (or the QA0 family), alnum, then optional .xxxx. A trailing
# "-" or ".-" marks "and all its descendants"; "A-B" is a range.
_CODE = r"(?:[A-Z][0-9][0-9A-Z]|QA0)(?:\.[0-9A-Z]{1,4})?"
_REF = re.compile(r"(?<![A-Za-z0-9])(" + _CODE + r")(?:(\.?-)(" + _CODE + r")?(?:\.?-)?)?(?![A-Za-z0-9])")
_PARENS = re.compile(r"\(([^()]*)\)")


def parse_refs(text: str, names: list[str]) -> list[str]:
    """Code references in a note, expanded to dotted prefixes that exist in the tree.

    Only text inside parentheses is read: that is where CMS puts references, and reading the
    whole sentence would turn words such as "vitamin B12" into codes. ``names`` is the sorted
    list of code names of the tree (used to validate references and expand ranges).
    """
    out: list[str] = []
    for group in _PARENS.findall(text):
        for m in _REF.finditer(group):
            lo, dash, hi = m.group(1), m.group(2), m.group(3)
            if hi:  # a range such as M50-M54 or R07.1-R07.9
                out.extend(_expand_range(lo, hi, names))
            elif _known_prefix(lo, names):
                out.append(lo)
    # de-duplicate, keep order (stable output for a deterministic build)
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def _known_prefix(prefix: str, names: list[str]) -> bool:
    i = bisect_left(names, prefix)
    return i < len(names) and names[i].startswith(prefix)


def _expand_range(lo: str, hi: str, names: list[str]) -> list[str]:
    """All tree codes of lo's length between lo and hi (inclusive, by the code's own order)."""
    width = len(lo)
    i = bisect_left(names, lo)
    out = []
    while i < len(names):
        n = names[i]
        if n[: len(hi)] > hi:
            break
        if len(n) == width:
            out.append(n)
        i += 1
    return out


# ---------------------------------------------------------------------------------------------
# Tabular XML
# ---------------------------------------------------------------------------------------------


def _text(el: ET.Element | None) -> str:
    return " ".join((el.text or "").split()) if el is not None else ""


def parse_tabular(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CMS tabular XML file into the xlsheets tree format.

    Returns a JSON-able dict: ``names``/``parents``/``titles``/``kinds`` (parallel lists in
    document order; kinds: c=chapter, s=section, d=diag, p=placeholder diag), ``notes``
    (``[node, kind, text, refs]``; every note stored once, at the node that carries it) and
    ``seventh`` (``[node, {char: meaning}]``).
    """
    root = ET.parse(path).getroot()
    names: list[str] = []
    parents: list[int] = []
    titles: list[str] = []
    kinds: list[str] = []
    raw_notes: list[tuple[int, str, str]] = []
    seventh: list[list[Any]] = []
    taken: set[str] = set()

    # A section may share its id with a code (section "T07" holds category T07): the code keeps
    # the name, the section becomes "T07-T07" so that names stay unique.
    diag_names = {_text(d.find("name")) for d in root.iter("diag")}

    def add(name: str, parent: int, title: str, kind: str) -> int:
        if kind in "cs" and (name in diag_names or name in taken):
            name = f"{name}-{name}"
        taken.add(name)
        names.append(name)
        parents.append(parent)
        titles.append(title)
        kinds.append(kind)
        return len(names) - 1

    def read_notes(el: ET.Element, idx: int) -> None:
        for sub in el:
            if sub.tag in NOTE_KINDS:
                for n in sub.findall("note"):
                    t = _text(n)
                    if t:
                        raw_notes.append((idx, sub.tag, t))
            elif sub.tag == "sevenChrDef":
                table: dict[str, str] = {}
                last = None
                for ext in sub:
                    if ext.tag == "extension":
                        last = ext.get("char", "")
                        table[last] = _text(ext)
                    elif ext.tag == "note" and last is not None:
                        table[last] += "/" + _text(ext)
                seventh.append([idx, table])

    def walk(el: ET.Element, parent: int) -> None:
        for sub in el:
            if sub.tag == "section":
                idx = add(sub.get("id", ""), parent, _text(sub.find("desc")), "s")
                read_notes(sub, idx)
                walk(sub, idx)
            elif sub.tag == "diag":
                kind = "p" if sub.get("placeholder") == "true" else "d"
                idx = add(_text(sub.find("name")), parent, _text(sub.find("desc")), kind)
                read_notes(sub, idx)
                walk(sub, idx)

    version = _text(root.find("version"))
    for ch in root.findall("chapter"):
        idx = add(_text(ch.find("name")), -1, _text(ch.find("desc")), "c")
        read_notes(ch, idx)
        walk(ch, idx)

    code_names = sorted(n for n, k in zip(names, kinds) if k in "dp")
    notes = [[i, kind, t, parse_refs(t, code_names)] for i, kind, t in raw_notes]
    return {
        "format": FORMAT_VERSION,
        "version": version,
        "names": names,
        "parents": parents,
        "titles": titles,
        "kinds": "".join(kinds),
        "notes": notes,
        "seventh": seventh,
    }


# ---------------------------------------------------------------------------------------------
# Order file
# ---------------------------------------------------------------------------------------------


def dotted(code: str) -> str:
    """``M5417`` -> ``M54.17`` (order files carry codes without the dot)."""
    return code if len(code) <= 3 else code[:3] + "." + code[3:]


def parse_order_file(path: str | os.PathLike[str]) -> list[tuple[str, bool, str, str]]:
    """Rows of a CMS order file: (dotted code, billable, short title, long title).

    Fixed width, 1-based: cols 1-5 order number, 7-13 code without dot, 15 ``0`` header /
    ``1`` billable, 17-76 short title, 78- long title.
    """
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if len(line) < 16 or not line[:5].strip().isdigit():
                continue
            code = line[6:13].strip()
            flag = line[14:15]
            if flag not in ("0", "1"):
                raise ValueError(f"{path}: not a CMS order file (column 15 is {flag!r})")
            rows.append((dotted(code), flag == "1", line[16:76].strip(), line[77:].strip()))
    if not rows:
        raise ValueError(f"{path}: no order-file rows found")
    return rows


# ---------------------------------------------------------------------------------------------
# Per-user store of imported releases
# ---------------------------------------------------------------------------------------------


def user_data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder for imported releases: argument, else ``XLSHEETS_DATA_DIR``, else the platform's
    per-user data folder (stdlib only, no platformdirs dependency)."""
    if override:
        return Path(override)
    env = os.environ.get("XLSHEETS_DATA_DIR")
    if env:
        return Path(env)
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "xlsheets"


def _release_dir(base: Path) -> Path:
    return base / "icd10cm"


def import_release(
    order_path: str | os.PathLike[str],
    tabular_path: str | os.PathLike[str],
    effective: _dt.date,
    data_dir: str | os.PathLike[str] | None = None,
    until: _dt.date | None = None,
) -> dict[str, Any]:
    """Import a CMS release (order file + tabular XML) effective from ``effective``.

    It covers dates of service from ``effective`` to ``until`` (default: one year, a CMS fiscal
    year); a later import takes over from its own effective date. The release is written atomically as ``icd10cm/release-YYYYMMDD.json.gz`` in the data
    folder; importing again with the same date replaces it. Returns a summary dict.
    """
    if not isinstance(effective, _dt.date):
        raise TypeError("effective must be a datetime.date")
    if until is None:
        until = effective + _dt.timedelta(days=364)
    if until < effective:
        raise ValueError("until is before effective")
    rows = parse_order_file(order_path)
    tree = parse_tabular(tabular_path)
    base = user_data_dir(data_dir)
    folder = _release_dir(base)
    folder.mkdir(parents=True, exist_ok=True)
    eff = effective.strftime("%Y%m%d")
    release = {
        "format": FORMAT_VERSION,
        "effective": eff,
        "until": until.strftime("%Y%m%d"),
        "source_order": Path(order_path).name,
        "source_tabular": Path(tabular_path).name,
        "codes": [[c, int(b), long or short] for c, b, short, long in rows],
        "tree": tree,
    }
    target = folder / f"release-{eff}.json.gz"
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(json.dumps(release, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    os.replace(tmp, target)
    try:  # a codeset already loaded in this process must see the new release
        from . import icd10cm

        icd10cm.reset_codeset()
    except ImportError:  # pragma: no cover
        pass
    billable = sum(1 for r in rows if r[1])
    return {
        "effective": effective.isoformat(),
        "until": until.isoformat(),
        "path": str(target),
        "codes": len(rows),
        "billable": billable,
        "headers": len(rows) - billable,
        "tabular_version": tree["version"],
        "notes": len(tree["notes"]),
    }


def list_releases(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Imported releases, oldest first: ``{"effective": date, "path": Path}``."""
    folder = _release_dir(user_data_dir(data_dir))
    out = []
    if folder.is_dir():
        for p in sorted(folder.glob("release-*.json.gz")):
            stamp = p.name[len("release-") : -len(".json.gz")]
            try:
                eff = _dt.datetime.strptime(stamp, "%Y%m%d").date()
            except ValueError:
                continue
            out.append({"effective": eff, "path": p})
    return out


def remove_release(effective: _dt.date, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Delete the release imported for ``effective``; True when one was removed."""
    p = _release_dir(user_data_dir(data_dir)) / f"release-{effective:%Y%m%d}.json.gz"
    if p.exists():
        p.unlink()
        try:
            from . import icd10cm

            icd10cm.reset_codeset()
        except ImportError:  # pragma: no cover
            pass
        return True
    return False


def load_release(path: str | os.PathLike[str]) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)

