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
# "-" or ".-" marks "and all its descendants"; "A-B" is a range ("S32.1--S32.9" too).
_CODE = r"(?:[A-Z][0-9][0-9A-Z]|QA0)(?:\.[0-9A-Z]{1,4})?"
_REF = re.compile(r"(?<![A-Za-z0-9])(" + _CODE + r")(?:(\.?-{1,2})(" + _CODE + r")?(?:\.?-)?)?(?![A-Za-z0-9])")
_PARENS = re.compile(r"\(([^()]*)\)")


class UnparsedQualifier(ValueError):
    """A note names codes "with" a qualifier this parser does not understand.

    The build stops on it: dropping the qualifier would make the note name the whole range
    (G63 "(E08-E13 with .42)" would exclude every diabetes code), a false Excludes1.
    """


class _Index:
    """What reference expansion needs to know about a tree: sorted code names, which codes
    have children, and each leaf's 7th-character table (inherited from its ancestors)."""

    def __init__(self, names: list[str], has_child: set[str] | None = None,
                 seventh: dict[str, dict[str, str]] | None = None):
        self.names = names
        self.has_child = has_child if has_child is not None else {
            n[:-1].rstrip(".") for n in names if len(n) > 3}
        self.seventh = seventh or {}

    def under(self, prefix: str) -> list[str]:
        i = bisect_left(self.names, prefix)
        out = []
        while i < len(self.names) and self.names[i].startswith(prefix):
            out.append(self.names[i])
            i += 1
        return out


# Qualifiers CMS writes after "with" inside a reference group. Positions count the characters of
# the code without its dot (M51.16: M=1 ... 6=5th). Every form found in the FY2026 tabular:
#   ".42"  ".51-.52"  ".61-"  ".14, .24, .94"  "final characters .00 or .01"   -> from the 4th
#   "final characters -23"                                    -> any 4th, then from the 5th
#   "fifth character 4"  "5th character .6"  "fifth-character 1"  "sixth character 1-4"
#   "fifth or sixth character 1-4 or 6"  "fifth to sixth characters 51"  "7th character B or C"
#   "final character 6"                                        -> the last character of a code
#   "open fracture 7th character"                              -> the 7th characters meaning that
#   "fifth or sixth character to indicate intent"              -> 1-4 (T51-T65: accidental,
#                                                                 self-harm, assault, undetermined)
_ORD = {"fourth": 4, "4th": 4, "fifth": 5, "5th": 5, "sixth": 6, "six": 6, "6th": 6, "seventh": 7, "7th": 7}
_ORD_RE = r"(?:fourth|4th|fifth|5th|sixth|six|6th|seventh|7th)"
_WORD_VALUES = {"to indicate intent": "1-4"}
_SUFFIXES = re.compile(r"^(?:final characters?\s+)?((?:[.-][0-9A-Z]+-?(?:\s*-\s*\.[0-9A-Z]+)?)(?:\s*(?:,|\.|or)\s*[.-]?[0-9A-Z]+-?)*)$")
_POSITIONAL = re.compile(
    r"^(?P<a>" + _ORD_RE + r")(?:\s+(?P<op>or|to)\s+(?P<b>" + _ORD_RE + r"))?[\s-]+characters?\s+(?P<v>.+)$")
_FINAL = re.compile(r"^final character\s+(?P<v>[0-9A-Z])$")
_MEANING = re.compile(r"^(?P<m>[a-z ]+?)\s+(?P<a>" + _ORD_RE + r")\s+character$")


def _values(text: str) -> list[str]:
    """ "1-4 or 6" -> ["1", "2", "3", "4", "6"]; "B or C" -> ["B", "C"]; ".6" -> ["6"]."""
    text = _WORD_VALUES.get(text, text)
    out: list[str] = []
    for part in re.split(r"\s*(?:,|\bor\b)\s*", text):
        part = part.strip().lstrip(".")
        m = re.fullmatch(r"([0-9])-([0-9])", part)
        if m:
            out.extend(str(d) for d in range(int(m[1]), int(m[2]) + 1))
        elif re.fullmatch(r"[0-9A-Z]+", part):
            out.append(part)
        else:
            raise UnparsedQualifier(text)
    return out


def _suffix_values(text: str) -> list[tuple[int, str]]:
    """Suffix forms as (first position, characters): ".42" -> (4, "42"); "-23" -> (5, "23");
    ".51-.52" -> (4, "51"), (4, "52"); ".61-" -> (4, "61")."""
    out: list[tuple[int, str]] = []
    for part in re.split(r"\s*(?:,|\bor\b|\.\s)\s*", text):
        part = part.strip()
        m = re.fullmatch(r"\.([0-9]+)\s*-\s*\.([0-9]+)", part)
        if m and len(m[1]) == len(m[2]):
            out.extend((4, str(v).zfill(len(m[1]))) for v in range(int(m[1]), int(m[2]) + 1))
            continue
        m = re.fullmatch(r"([.-]?)([0-9A-Z]+)-?", part)
        if not m:
            raise UnparsedQualifier(text)
        out.append((5 if m[1] == "-" else 4, m[2]))
    return out


def _qualifier(text: str, index: _Index) -> list[tuple[Any, ...]]:
    """A qualifier as alternatives: ("at", position, chars) | ("final", chars) | ("meaning", words)."""
    q = " ".join(text.split()).strip(" ,;")
    m = _SUFFIXES.match(q)
    if m:
        return [("at", pos, v) for pos, v in _suffix_values(m[1])]
    m = _POSITIONAL.match(q)
    if m:
        a = _ORD[m["a"]]
        values = _values(m["v"])
        if m["op"] == "to":  # "fifth to sixth characters 51": one string from the 5th on
            return [("at", a, v) for v in values]
        spots = [a] + ([_ORD[m["b"]]] if m["b"] else [])
        return [("at", pos, v) for pos in spots for v in values]
    m = _FINAL.match(q)
    if m:
        return [("final", m["v"])]
    m = _MEANING.match(q)
    if m and _ORD[m["a"]] == 7:
        return [("meaning", m["m"])]
    raise UnparsedQualifier(q)


def _undot(code: str) -> str:
    return code.replace(".", "")


def _select(bases: list[str], alternatives: list[tuple[Any, ...]], index: _Index) -> list[str]:
    """Prefixes of the codes under ``bases`` that a qualifier selects (a code matches a prefix)."""
    out: list[str] = []
    for base in bases:
        under = index.under(base)
        for alt in alternatives:
            if alt[0] == "at" and alt[1] <= 6:
                _, pos, chars = alt
                stop = pos - 1 + len(chars)
                for n in under:
                    u = _undot(n)
                    if len(u) >= stop and u[pos - 1:stop] == chars:
                        out.append(dotted(u[:stop]))
            elif alt[0] == "final":
                out.extend(n for n in under if n not in index.has_child and n.endswith(alt[1]))
            else:  # a 7th character: the complete codes, generated from each leaf's table
                for n in under:
                    table = index.seventh.get(n)
                    if not table or n in index.has_child:
                        continue
                    if alt[0] == "at":
                        chars = [alt[2]] if alt[2] in table else []
                    else:
                        chars = [c for c, meaning in table.items() if alt[1] in meaning.lower()]
                    stem = _undot(n).ljust(6, "X")
                    out.extend(dotted(stem + c) for c in chars)
    return out


def parse_refs(text: str, names: "list[str] | _Index", stats: dict[str, int] | None = None) -> list[str]:
    """Code references in a note, expanded to dotted prefixes that exist in the tree.

    Only text inside parentheses is read: that is where CMS puts references, and reading the
    whole sentence would turn words such as "vitamin B12" into codes. ``names`` is the sorted
    list of code names of the tree (used to validate references and expand ranges), or an index
    of the tree (needed for 7th-character qualifiers).

    A group such as "(E08-E13 with .42)" names only the codes its qualifier selects (E08.42,
    E09.42, ...). A qualifier that cannot be read raises :class:`UnparsedQualifier`; ``stats``
    counts the qualified groups read.
    """
    index = names if isinstance(names, _Index) else _Index(names)
    out: list[str] = []
    for group in _PARENS.findall(text):
        head, sep, qual = _split_with(group)
        bases = _bases(head, index.names)
        if sep and bases:
            out.extend(_select(bases, _qualifier(qual, index), index))
            if stats is not None:
                stats["qualified"] = stats.get("qualified", 0) + 1
        else:
            out.extend(bases)
    # de-duplicate, keep order (stable output for a deterministic build)
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def qualified_bases(text: str, names: list[str]) -> list[str]:
    """The ranges a note names with a qualifier, as written before "with": "(M51.- with fifth
    character 6)" -> ["M51"]; "(V01-V09 with 5th character 9)" -> ["V01", ..., "V09"].

    ``CodeSet`` needs them at lookup time: such a note narrows the same range named without a
    qualifier by a note farther up the tree (see ``CodeSet._excludes_notes``).
    """
    out: list[str] = []
    for group in _PARENS.findall(text):
        head, sep, _qual = _split_with(group)
        if sep:
            out.extend(_bases(head, names))
    return out


def _bases(head: str, names: list[str]) -> list[str]:
    """Code references of a group's text before any "with", expanded to existing prefixes."""
    bases: list[str] = []
    for m in _REF.finditer(head):
        lo, _dash, hi = m.group(1), m.group(2), m.group(3)
        if hi:  # a range such as M50-M54 or R07.1-R07.9
            bases.extend(_expand_range(lo, hi, names))
        elif _known_prefix(lo, names):
            bases.append(lo)
    return bases


def _split_with(group: str) -> tuple[str, str, str]:
    """ "E08-E13 with .42" -> ("E08-E13", "with", ".42"); no "with": (group, "", "")."""
    m = re.search(r"(?<![a-z])with\b", group)
    if m is None:
        return group, "", ""
    return group[: m.start()], "with", group[m.end():]


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


_QUALIFIER_TEXT = re.compile(r"(?<![a-z])with\b[^()]*\)")


def _leaf_tables(names, parents, kinds, seventh) -> dict[str, dict[str, str]]:
    """Code name -> the 7th-character table that applies to it (its own or an ancestor's)."""
    own = {i: t for i, t in seventh}
    out: dict[str, dict[str, str]] = {}
    for i, k in enumerate(kinds):
        if k not in "dp":
            continue
        j = i
        while j >= 0 and j not in own:
            j = parents[j]
        if j >= 0:
            out[names[i]] = own[j]
    return out


def parse_tabular(path: str | os.PathLike[str], strict: bool = False,
                  stats: dict[str, int] | None = None) -> dict[str, Any]:
    """Parse a CMS tabular XML file into the xlsheets tree format.

    ``strict`` (the bundled build): a reference qualifier that cannot be read stops the parse
    (:class:`UnparsedQualifier`). Otherwise (a user's import of a newer release) the group
    names its whole range and ``stats["unparsed"]`` counts it, for the import summary to say.
    ``stats`` receives ``qualified`` (qualified groups read) and ``unparsed``.

    Returns a JSON-able dict: ``names``/``parents``/``titles``/``kinds`` (parallel lists in
    document order; kinds: c=chapter, s=section, d=diag, p=placeholder diag), ``notes``
    (``[node, kind, text, refs]``; every note stored once, at the node that carries it) and
    ``seventh`` (``[node, {char: meaning}]``).
    """
    stats = {} if stats is None else stats
    stats.setdefault("qualified", 0)
    stats.setdefault("unparsed", 0)
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
    index = _Index(code_names, {names[p] for p in parents if p >= 0}, _leaf_tables(names, parents, kinds, seventh))
    notes = []
    for i, kind, t in raw_notes:
        try:
            before = stats["qualified"]
            refs = parse_refs(t, index, stats)
            if stats["qualified"] > before:
                stats[f"qualified {kind}"] = stats.get(f"qualified {kind}", 0) + stats["qualified"] - before
        except UnparsedQualifier as e:
            if strict:
                raise UnparsedQualifier(f"{names[i]} {kind} note {t!r}: qualifier {e} not understood") from None
            stats["unparsed"] = stats.get("unparsed", 0) + 1  # the group names its whole range
            refs = parse_refs(_QUALIFIER_TEXT.sub(")", t), index)
        notes.append([i, kind, t, refs])
    shared = _share_refs(notes)
    return {
        "format": FORMAT_VERSION,
        "version": version,
        "names": names,
        "parents": parents,
        "titles": titles,
        "kinds": "".join(kinds),
        "notes": notes,
        "shared_refs": shared,
        "seventh": seventh,
    }


def _share_refs(notes: list[list[Any]]) -> list[list[str]]:
    """Store each long reference list once: many notes repeat one qualified group (92 say "(T36-T50
    with fifth or sixth character 5)", 1,310 codes). Such a note's refs become an index into the
    returned list; this keeps the bundled tree small to load."""
    seen: dict[tuple[str, ...], int] = {}
    count: dict[tuple[str, ...], int] = {}
    for n in notes:
        if len(n[3]) >= 8:
            key = tuple(n[3])
            count[key] = count.get(key, 0) + 1
    shared: list[list[str]] = []
    for n in notes:
        key = tuple(n[3])
        if count.get(key, 0) > 1:
            if key not in seen:
                seen[key] = len(shared)
                shared.append(n[3])
            n[3] = seen[key]
    return shared


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
    stats: dict[str, int] = {}
    tree = parse_tabular(tabular_path, stats=stats)
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
        "qualified_refs": stats["qualified"],
        "unparsed_qualifiers": stats["unparsed"],
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

