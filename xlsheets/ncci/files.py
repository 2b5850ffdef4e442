"""Read the NCCI files CMS publishes: find the header, tell the kind, yield checked rows.

CMS files carry copyright and disclaimer lines above the header row, so the header is found by
its column names (in the first :data:`HEADER_SCAN_LINES` lines) and the kind is told from them:

* PTP: ``Column 1 | Column 2 | *=in existence prior to 1996 | Effective Date |
  Deletion Date *=no data | Modifier 0=not allowed 1=allowed 9=not applicable | PTP Edit Rationale``
* MUE: ``HCPCS/CPT Code | Practitioner Services MUE Values | MUE Adjudication Indicator |
  MUE Rationale`` (``Outpatient Hospital Services MUE Values`` in the hospital file)
* AOC: primary code, add-on code, AOC edit type, primary and add-on code deletion dates, edit
  effective and deletion dates, special instruction notes.

Files come from outside and are not trusted: a zip is checked (member count, duplicate names,
encryption, declared sizes and compression ratio, one level of nesting) before anything is
decompressed; a text file with NUL bytes, lines longer than any CMS line or no NCCI header in
its first lines is refused at once (a 10-million-line file that is not NCCI costs nothing).
Every problem is an :class:`NcciFileError` naming the file and the line.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as _dt
import io
import itertools
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

__all__ = ["NcciFileError", "Source", "open_sources", "code_text", "date_of", "HEADER_SCAN_LINES"]

HEADER_SCAN_LINES = 60  # CMS preambles are a few lines; the header comes well before this
MAX_LINE_CHARS = 64 << 10  # the longest CMS line (a rationale, a note) is far shorter
MAX_MEMBERS = 1000
MAX_MEMBER_BYTES = 2 << 30  # a PTP part is a few hundred MB unpacked
MAX_TOTAL_BYTES = 6 << 30
MAX_RATIO = 200  # tab-delimited edits compress 5-20x; deflate bombs reach ~1000x
RATIO_EXEMPT_BYTES = 16 << 20
TEXT_SUFFIXES = (".txt", ".csv", ".tsv")
SHEET_SUFFIXES = (".xlsx", ".xlsm")
_CODE = re.compile(r"[0-9A-Z]{5}")
_YMD = re.compile(r"(\d{4})(\d{2})(\d{2})")


class NcciFileError(Exception):
    """A file that cannot be imported; the message names the file (and line) and what to do."""


@dataclass
class Source:
    """One table of edits found in a file: where it is, its kind, its columns, its rows."""

    name: str  # as shown to the user: "ptp.zip: ccipra-v321r0-f1.txt"
    kind: str  # "ptp", "mue" or "aoc"
    columns: dict[str, int]  # field -> column index
    rows: Iterator[tuple[int, list]]  # (line or row number, cells) after the header
    line_word: str = "line"  # "line" for text files, "row" for sheets
    setting: str | None = None  # "practitioner" / "hospital" when the file tells
    hints: list[str] = field(default_factory=list)  # file names and preamble text (quarter, dates)
    part: int | None = None  # PTP part number (f1..f4)
    notes: list[str] = field(default_factory=list)  # what the import should say, found while reading

    def where(self, line: int) -> str:
        return f"{self.name}, {self.line_word} {line}"


# --- header recognition ---------------------------------------------------------------------
def _key(cell: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(cell).lower()) if cell is not None else ""


def _find(keys: list[str], test) -> int | None:
    for i, k in enumerate(keys):
        if k and test(k):
            return i
    return None


def recognise(cells: list) -> tuple[str, dict[str, int], str | None] | None:
    """(kind, field -> column, setting) when ``cells`` is an NCCI header row; else None."""
    keys = [_key(c) for c in cells]
    col1 = _find(keys, lambda k: k.startswith("column1"))
    col2 = _find(keys, lambda k: k.startswith("column2"))
    if col1 is not None and col2 is not None:
        cols = {"col1": col1, "col2": col2,
                "prior": _find(keys, lambda k: "prior" in k and "1996" in k),
                "effective": _find(keys, lambda k: k.startswith("effective")),
                "deletion": _find(keys, lambda k: k.startswith("deletion")),
                "modifier": _find(keys, lambda k: k.startswith("modifier")),
                "rationale": _find(keys, lambda k: "rationale" in k)}
        if None in (cols["effective"], cols["deletion"], cols["modifier"]):
            return None
        return "ptp", cols, None
    value = _find(keys, lambda k: "mue" in k and "value" in k)
    mai = _find(keys, lambda k: "adjudication" in k)
    code = _find(keys, lambda k: "hcpcs" in k or "cptcode" in k)
    if value is not None and mai is not None and code is not None:
        head = keys[value]
        setting = ("hospital" if "hospital" in head or "facility" in head else
                   "dme" if "dme" in head or "supplier" in head else
                   "practitioner" if "practitioner" in head else None)
        return "mue", {"code": code, "value": value, "mai": mai,
                       "rationale": _find(keys, lambda k: "rationale" in k)}, setting
    addon = _find(keys, lambda k: "addon" in k and "deletion" not in k and "type" not in k)
    primary = _find(keys, lambda k: "primary" in k and "deletion" not in k)
    kind = _find(keys, lambda k: "type" in k)
    if addon is not None and primary is not None and kind is not None:
        return "aoc", {"primary": primary, "addon": addon, "type": kind,
                       "primary_deletion": _find(keys, lambda k: "primary" in k and "deletion" in k),
                       "addon_deletion": _find(keys, lambda k: "addon" in k and "deletion" in k),
                       "effective": _find(keys, lambda k: "effective" in k),
                       "deletion": _find(keys, lambda k: "deletion" in k and "primary" not in k
                                         and "addon" not in k),
                       "notes": _find(keys, lambda k: "note" in k or "instruction" in k)}, None
    return None


def _joined(cells: list, nxt: list) -> list[str]:
    width = max(len(cells), len(nxt))
    return [f"{cells[j] if j < len(cells) and cells[j] is not None else ''} "
            f"{nxt[j] if j < len(nxt) and nxt[j] is not None else ''}" for j in range(width)]


def _header_in(lines: list[tuple[int, list]]) -> tuple[int, tuple, int] | None:
    """(index in ``lines``, recognised header, rows it spans) for the first header; a header
    split over two rows (``Effective`` / ``Date``) is joined cell by cell."""
    for i, (_n, cells) in enumerate(lines):
        found = recognise(cells)
        if found:
            return i, found, 1
        if i + 1 < len(lines) and any(_key(c).startswith("column") for c in cells):
            found = recognise(_joined(cells, lines[i + 1][1]))
            if found:
                return i, found, 2
    return None


_CODE_FIELDS = {"ptp": ("col1", "col2"), "mue": ("code",), "aoc": ("addon", "primary")}


def _header_continued(cells: list, nxt: list, found: tuple) -> tuple | None:
    """The header joined with the row after it, when that row is the rest of a header split over
    two rows (``Column 1 | ... | Effective`` above ``| ... | Date``); else None.

    The first row alone may already be recognised, so the next row decides: where a data row
    has a code, it has none (empty or words), and both rows together are a header of the same
    kind. A data row always has its codes, so it is never taken for a header."""
    kind, columns, _setting = found
    if all(c is None or not str(c).strip() for c in nxt):
        return None
    for name in _CODE_FIELDS[kind]:
        index = columns.get(name)
        if index is not None and index < len(nxt) and code_text(nxt[index]) is not None:
            return None
    joined = recognise(_joined(cells, nxt))
    return joined if joined and joined[0] == kind else None


# --- cell values ------------------------------------------------------------------------------
def code_text(value: object) -> str | None:
    """A CPT/HCPCS code from a cell (``62323``, ``62323.0`` from a sheet, ``0001U``), or None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:05d}"
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    return text if _CODE.fullmatch(text) else None


def date_of(value: object) -> _dt.date | None | str:
    """A CMS date cell: ``20260101`` (also as a number), a sheet date, ``2026-01-01``;
    None for ``*`` or blank (no date); the text itself when it is not a date."""
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if value is not None else ""
    if not text or text == "*":
        return None
    m = _YMD.fullmatch(text)
    if m:
        try:
            return _dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return text
    from ..values import Unreadable, read_date
    got = read_date(text)
    return text if got is None or isinstance(got, Unreadable) else got


# --- opening files ----------------------------------------------------------------------------
def open_sources(paths: list[str | os.PathLike], stack: contextlib.ExitStack) -> tuple[list[Source], list[str]]:
    """Every NCCI table in the given files (zips opened, members read); and the names of zip
    members that were skipped because they hold no NCCI edits (a read-me, a PDF).

    A file given by name that holds no NCCI table is refused."""
    sources: list[Source] = []
    skipped: list[str] = []
    given = [Path(p) for p in paths]
    best: dict[str, Path] = {}  # name stem -> the file of that stem to read (one format per table)
    for path in given:
        if path.is_dir():
            raise NcciFileError(_a_folder(path))
        if not path.is_file():
            raise NcciFileError(f"{path}: not found. Check the path of the file you downloaded.")
        stem = _stem(path.name)
        if _is_table(path.name) and (stem not in best or _format_rank(path.name) < _format_rank(best[stem].name)):
            best[stem] = path
    for path in given:
        kept = best.get(_stem(path.name))
        if kept is not None and kept != path:
            skipped.append(_same_table(path.name, kept.name))
            continue
        if path.stat().st_size == 0:
            raise NcciFileError(f"{path.name} is empty (0 bytes): the download did not finish or the "
                                "file was overwritten. Download it again.")
        before = len(skipped)
        found = _open_path(path, path.name, stack, skipped, depth=0)
        if not found:
            raise NcciFileError(_not_ncci(path.name, skipped[before:]))
        sources.extend(found)
    return sources, skipped


# One table, two formats (CMS offers the MUE file as .csv and .xlsx; a PTP part as .txt and
# .xlsx): the text file is read, the other is skipped and named.
_FORMAT_RANK = {".txt": 0, ".csv": 0, ".tsv": 0, ".xlsx": 1, ".xlsm": 1}


def _is_table(name: str) -> bool:
    return Path(name).suffix.lower() in _FORMAT_RANK


def _stem(name: str) -> str:
    return str(Path(name).with_suffix("")).lower() if _is_table(name) else name.lower()


def _format_rank(name: str) -> tuple[str, int]:
    return _stem(name), _FORMAT_RANK.get(Path(name).suffix.lower(), 0)


def _same_table(shown: str, kept: str) -> str:
    return f"{shown} (the same table as {kept.rsplit(': ', 1)[-1]}, in another format; that one was read)"


def _a_folder(path: Path) -> str:
    files = sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    listed = ", ".join(files[:12]) + (f" and {len(files) - 12} more" if len(files) > 12 else "")
    return (f"{path} is a folder; give the files in it (the zips as downloaded, or the .txt, .csv "
            f"and .xlsx files in them): " + (f"it holds {listed}." if files else "it is empty."))


def _not_ncci(name: str, skipped: list[str] = ()) -> str:
    if skipped:
        held = [s.split(": ", 1)[-1].replace(" (not NCCI edits)", "") for s in skipped]
        return (f"{name}: no NCCI edits found: it holds " + ", ".join(held)
                + ", none of them a PTP, MUE or AOC table. Import the zip of the NCCI edits as "
                "downloaded from cms.gov, or the .txt, .csv or .xlsx file inside it.")
    return (f"{name}: no NCCI edits found: no header row with the CMS column names ('Column 1', "
            "'Column 2', ... for PTP; 'HCPCS/CPT Code', '... MUE Values', 'MUE Adjudication "
            "Indicator' for MUE; primary code, add-on code and AOC edit type for AOC) in its first "
            f"{HEADER_SCAN_LINES} lines. Import the PTP, MUE or AOC file as downloaded from cms.gov.")


def _open_path(path: Path, name: str, stack, skipped: list[str], depth: int) -> list[Source]:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):
        try:
            zf = stack.enter_context(zipfile.ZipFile(path))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise NcciFileError(f"{name} is damaged or incomplete (not a readable zip: {exc}). "
                                "Download it again.") from None
        names = set(zf.NameToInfo)
        if "xl/workbook.xml" in names or any(n.endswith("/workbook.xml") for n in names):
            return _sheet_sources(path, name, stack)
        return _zip_sources(zf, name, stack, skipped, depth)
    if path.suffix.lower() in SHEET_SUFFIXES:
        raise NcciFileError(f"{name} is not a readable Excel workbook (damaged or incomplete). "
                            "Download it again.")
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise NcciFileError(f"{name} is an old .xls workbook; open it in Excel and save it as .xlsx, "
                            "or import the tab-delimited .txt file of the same download.")
    source = _text_source(stack.enter_context(open(path, "rb")), name)
    return [source] if source else []


def _zip_sources(zf: zipfile.ZipFile, name: str, stack, skipped: list[str], depth: int) -> list[Source]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise NcciFileError(f"{name} holds {len(infos):,} files, more than any CMS download; refused as unsafe.")
    seen: set[str] = set()
    total = 0
    for info in infos:
        if info.filename in seen:
            raise NcciFileError(f"{name} holds two entries named {info.filename!r}; a damaged or "
                                "tampered archive is refused. Download it again.")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise NcciFileError(f"{name}: {info.filename} is encrypted; CMS files are not. Download it again.")
        total += info.file_size
        if info.file_size > MAX_MEMBER_BYTES or (
                info.file_size > RATIO_EXEMPT_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise NcciFileError(f"{name}: {info.filename} would unpack to {info.file_size:,} bytes from "
                                f"{info.compress_size:,} (more than a CMS file, or compressed beyond "
                                f"{MAX_RATIO}:1); refused as unsafe (a zip bomb?).")
    if not any(not i.is_dir() for i in infos):
        raise NcciFileError(f"{name} is an empty zip archive (it holds no files). Download it again.")
    if total > MAX_TOTAL_BYTES:
        raise NcciFileError(f"{name} would unpack to {total / 2**30:.1f} GB, more than any CMS download; "
                            "refused as unsafe (a zip bomb?).")
    out: list[Source] = []
    taken: dict[str, str] = {}  # name stem -> the member of that stem read (one format per table)
    for info in sorted(infos, key=lambda i: (_format_rank(i.filename), i.filename)):
        member = info.filename
        shown = f"{name}: {member}"
        low = member.lower()
        if info.is_dir() or "__macosx" in low:
            continue
        if _is_table(member) and _stem(member) in taken:
            skipped.append(_same_table(shown, taken[_stem(member)]))
            continue
        if low.endswith(".zip"):
            if depth >= 1:
                skipped.append(f"{shown} (a zip inside a zip inside a zip)")
                continue
            tmp = _extract(zf, info, shown, stack)
            found = _open_path(tmp, shown, stack, skipped, depth + 1)
        elif low.endswith(SHEET_SUFFIXES):
            tmp = _extract(zf, info, shown, stack)
            found = _sheet_sources(tmp, shown, stack)
        elif low.endswith(TEXT_SUFFIXES):
            found = []
            handle = stack.enter_context(_guarded_member(zf, info, shown))
            source = _text_source(handle, shown)
            if source:
                found = [source]
        else:
            found = []
        if found:
            out.extend(found)
            if _is_table(member):
                taken[_stem(member)] = member
        elif not info.file_size:
            skipped.append(f"{shown} (empty)")
        else:
            skipped.append(f"{shown} (not NCCI edits)")
    return out


@contextlib.contextmanager
def _guarded_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str):
    try:
        handle = zf.open(info)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise NcciFileError(f"{shown} cannot be read ({exc}); the archive is damaged. Download it again.") from None
    try:
        yield _Counted(handle, info.file_size, shown)
    finally:
        handle.close()


class _Counted(io.RawIOBase):
    """A zip member that may not unpack to more than it declares (a lying header)."""

    def __init__(self, raw, limit: int, shown: str):
        self.raw, self.left, self.shown = raw, limit, shown

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(min(len(buffer), max(self.left, 0) + 1))
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise NcciFileError(f"{self.shown} is damaged or truncated ({exc}). Download it again.") from None
        self.left -= len(data)
        if self.left < 0:
            raise NcciFileError(f"{self.shown} unpacks to more than its archive entry declares; "
                                "refused as unsafe (a zip bomb?).")
        buffer[:len(data)] = data
        return len(data)


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, stack) -> Path:
    """A member copied to a temporary file (sheets and nested zips need to seek)."""
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="xlsheets-ncci-"))
    target = Path(folder) / ("member" + Path(info.filename).suffix.lower())
    with _guarded_member(zf, info, shown) as src, open(target, "wb") as dst:
        shutil.copyfileobj(io.BufferedReader(src, 1 << 20), dst, 1 << 20)
    return target


# --- text files (tab-delimited or CSV) --------------------------------------------------------
def _text_source(raw, name: str) -> Source | None:
    """The NCCI table of a text file, or None when its first lines hold no NCCI header."""
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw, 1 << 20)
    head = buffered.peek(64 << 10)[: 64 << 10]
    if b"\0" in head:
        return None  # binary: not a text file at all
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            encoding = "cp1252"  # CMS writes the copyright sign in Windows-1252
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")
    lines: list[tuple[int, list]] = []
    hints = [name]
    for number in range(1, HEADER_SCAN_LINES + 1):
        line = text.readline(MAX_LINE_CHARS)
        if not line:
            break
        if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
            return None  # no CMS line is this long: not an NCCI file
        cells = _split(line)
        lines.append((number, cells))
        found = _header_in(lines[-2:])
        if found:
            _index, header, span = found
            # The header ends on this line (a two-row header started on the one before).
            hints += [" ".join(str(c) for c in cells) for _n, cells in lines[:-span]]
            pending = []
            if span == 1:  # the next line may be the header's second row
                nxt = text.readline(MAX_LINE_CHARS)
                joined = _header_continued(cells, _split(nxt), header) if nxt else None
                if joined:
                    header, number = joined, number + 1
                elif nxt:
                    pending = [nxt]
            kind, columns, setting = header
            notes: list[str] = []
            return Source(name, kind, columns,
                          _text_rows(text, _delimiter_of(line), number + 1, name, pending, notes),
                          "line", setting, hints, notes=notes)
    return None


def _delimiter_of(line: str) -> str:
    return "\t" if "\t" in line else ","


def _split(line: str) -> list:
    line = line.rstrip("\r\n")
    if "\t" in line:
        return line.split("\t")
    if "," in line:
        try:
            return next(csv.reader([line]))
        except (csv.Error, StopIteration):
            return [line]
    return [line]


def _text_rows(text, delimiter: str, first: int, name: str, pending: list[str],
               notes: list[str]) -> Iterator[tuple[int, list]]:
    """The rows after the header, from line ``first``; ``pending`` is a line already read.
    A last line without a line ending goes into ``notes`` (see _unended)."""
    lines = itertools.chain(pending, text)
    if delimiter == "\t":
        number, line = first - 1, "\n"
        for line in lines:
            number += 1
            if len(line) >= MAX_LINE_CHARS:
                raise NcciFileError(f"{name}, line {number}: the line is longer than any NCCI line; "
                                    "the file is damaged.")
            if "\0" in line:
                raise NcciFileError(f"{name}, line {number}: binary data in a text file; the file is damaged.")
            yield number, line.rstrip("\r\n").split("\t")
        if not line.endswith(("\n", "\r")):
            notes.append(_unended(name, number, line))
        return
    last = ["\n"]

    def remembered():
        for line in lines:
            last[0] = line
            yield line
    reader = csv.reader(remembered(), delimiter=delimiter)
    try:
        for cells in reader:
            yield first - 1 + reader.line_num, cells
    except csv.Error as exc:
        raise NcciFileError(f"{name}, line {first + reader.line_num}: {exc}; the file is damaged.") from None
    if not last[0].endswith(("\n", "\r")):
        notes.append(_unended(name, first - 1 + reader.line_num, last[0]))


def _unended(name: str, number: int, line: str) -> str:
    """The note for a last line with no line ending. A download cut short ends that way, and the
    cut row may still read as an edit (its rationale cut), so it is said; not refused, because
    a whole file may also just lack the final line ending."""
    shown = " ".join(line.split())  # tabs as spaces: shown as it reads
    shown = shown if len(shown) <= 70 else shown[:70] + "..."
    return (f"{name}, line {number:,}, the last, has no line ending. If the download was cut short, "
            f'that edit is incomplete (it reads "{shown}"): download the file again from CMS and '
            "import it again.")


# --- workbooks --------------------------------------------------------------------------------
def _sheet_sources(path: Path, name: str, stack) -> list[Source]:
    from ..io import InputError, _checked_zip, _stream_limits
    from ..xlsxstream import XlsxReader
    try:
        zf = stack.enter_context(_checked_zip(path))
        book = XlsxReader(zf, name, limits=_stream_limits())
        stack.callback(book.close)
        sheets = book.sheet_names()
    except InputError as exc:
        raise NcciFileError(_cms_advice(str(exc).replace(path.name, name, 1))) from None
    except Exception as exc:  # a damaged workbook part
        raise NcciFileError(f"{name} is damaged ({type(exc).__name__}: {exc}). Download it again.") from None
    out = []
    for sheet in sheets:
        rows = _guarded_rows(book.rows(sheet), name, sheet)
        lines: list[tuple[int, list]] = []
        for number, cells in rows:
            lines.append((number, cells))
            found = _header_in(lines[-2:])
            if found:
                _index, header, span = found
                hints = [name, sheet] + [" ".join(str(c) for c in cells if c is not None)
                                         for _n, cells in lines[:-span]]
                body = rows
                if span == 1:  # the next row may be the header's second row
                    nxt = next(rows, None)
                    joined = _header_continued(cells, nxt[1], header) if nxt else None
                    if joined:
                        header = joined
                    elif nxt:
                        body = itertools.chain([nxt], rows)
                kind, columns, setting = header
                out.append(Source(f"{name} [{sheet}]", kind, columns, body, "row", setting, hints))
                break
            if number >= HEADER_SCAN_LINES:
                break
    return out


def _guarded_rows(rows, name: str, sheet: str) -> Iterator[tuple[int, list]]:
    number = 0
    try:
        for cells in rows:
            number += 1
            yield number, cells
    except NcciFileError:
        raise
    except Exception as exc:
        raise NcciFileError(_cms_advice(f"{name} [{sheet}], row {number + 1}: the sheet is damaged "
                                        f"({type(exc).__name__}: {exc}). Download it again.")) from None


# What the claims reader tells a user to do with a damaged workbook; a CMS file is downloaded again.
_CLAIMS_ADVICE = re.compile(r"\s*(?:Open (?:it|the file) in Excel and save it again(?:, or export the claims "
                            r"again)?|Export the claims again(?: from the source system)?)\.")


def _cms_advice(message: str) -> str:
    """A reader's message about a damaged workbook, with the advice for an NCCI file."""
    message = _CLAIMS_ADVICE.sub("", message)
    return message if message.rstrip().endswith("Download it again.") else message.rstrip() + " Download it again."
