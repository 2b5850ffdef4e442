"""Reading claim sheets safely (xlsx, xlsm, csv) and writing outputs atomically.

Workbooks and CSV files come from outside and are never trusted: a file is checked for what it
really is (by its first bytes, not its name), a workbook's zip container for size and
compression ratio before anything is decompressed, and every XML part for a DOCTYPE (entity
expansion and external entities need one) before any XML parser sees it. Whatever is unusable
becomes an :class:`InputError` whose message says what is wrong, where and what to do; the CLI
prints it and exits 2.

Rows are streamed: a sheet of a million rows is never held in memory. The reader is the pure
Python :mod:`xlsheets.xlsxstream` by default, python-calamine (optional, compiled) for files
small enough to hold in memory, and CSV files are read as text.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import itertools
import os
import pickle
import re
import signal
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .cell_text import EXCEL_CELL_CHARS, neutralize  # noqa: F401  (neutralize: re-exported)
from .claims import HeaderMap, is_blank_row

__all__ = ["InputError", "Sheet", "open_sheet", "check_output_path", "atomic_output",
           "neutralize", "sheet_layout", "EXCEL_MAX_ROWS", "HEADER_SCAN_ROWS"]

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
HEADER_SCAN_ROWS = 20          # the header row is looked for in the first rows of each sheet
MAX_ZIP_MEMBERS = 10_000
# A sheet of Excel's full 1,048,576 rows x 26 columns is about 1.5 GB of XML; 4 GB per part and
# 8 GB in all leave room while stopping a declared "petabyte" part before it is opened.
MAX_PART_BYTES = 4 << 30
MAX_TOTAL_BYTES = 8 << 30
# Real sheet XML compresses 5-30x (at most ~60x for a sheet repeating one value); deflate bombs
# reach ~1000x. Small parts are exempt: a few MB cannot hurt whatever their ratio.
MAX_RATIO = 200
RATIO_EXEMPT_BYTES = 16 << 20
PROLOG_SCAN_BYTES = 64 << 10
CALAMINE_MAX_FILE_BYTES = 8 << 20  # see _choose_reader
CALAMINE_MAX_CELLS = 2_000_000

OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
# Text files that are documents or settings, never a claims export: said so, not read as CSV.
DOCUMENT_SUFFIXES = (".md", ".markdown", ".rst", ".html", ".htm", ".json", ".toml", ".yaml", ".yml",
                     ".ini", ".cfg", ".xml", ".py", ".log", ".rtf")


class InputError(Exception):
    """An input the user must fix: the message says what is wrong, where, and what to do."""


@dataclass
class Sheet:
    """One claim sheet, opened: its header and its value rows, streamed."""

    path: Path
    name: str                    # sheet name ("" for CSV)
    header: list[object]         # the header row's values
    header_row: int              # 1-based sheet row number of the header
    rows: Iterator[list[object]] # value rows after the header (first is sheet row header_row+1)
    reader: str                  # "xlsxstream", "openpyxl", "calamine" or "csv"
    other_claim_sheets: tuple[str, ...] = ()  # later sheets with a claims header, not read

    @property
    def first_row(self) -> int:
        """Sheet row number of the first value row (``claims_from_rows(..., first_row=)``)."""
        return self.header_row + 1


# --- opening ----------------------------------------------------------------------------
@contextlib.contextmanager
def open_sheet(path, sheet: str | None = None, reader: str | None = None,
               columns: dict[str, str] | None = None) -> Iterator[Sheet]:
    """Open the claim sheet of a workbook or CSV file; the file is closed on exit.

    ``sheet`` names the sheet; without it the first sheet whose header is recognisable is used.
    ``reader`` forces one reader ("xlsxstream", "openpyxl", "calamine"), for tests and
    benchmarks. ``columns``: the configuration's own header names (``[columns]``), which count
    when the header row is looked for. Iterating ``Sheet.rows`` may also raise InputError (a part that turns out to be
    damaged or oversized halfway through).
    """
    path = Path(path)
    kind = _kind_of(path)
    with contextlib.ExitStack() as stack:
        if kind == "csv":
            result = _open_csv(path, stack, columns)
        else:
            result = _open_workbook(path, sheet, reader, stack, columns)
        yield result


def _kind_of(path: Path) -> str:
    """"xlsx" or "csv", judged by content; InputError for anything else."""
    if not path.exists():
        raise InputError(f"{path}: file not found. Check the name and folder.")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a file. Give the workbook's file name.")
    try:
        head = _read_head(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}). Check that the file is "
                         "not open elsewhere and that you may read it.") from None
    suffix = path.suffix.lower()
    if not head:
        raise InputError(f"{path.name} is empty (0 bytes). Export the claims again.")
    if head.startswith(OLE_SIGNATURE):
        raise InputError(_ole_message(path))
    if head.startswith(ZIP_SIGNATURES):
        if suffix in CSV_SUFFIXES:
            raise InputError(f"{path.name} is an Excel workbook, not a text file, despite its "
                             f"name. Rename it to {path.stem}.xlsx.")
        return "xlsx"
    if suffix == ".xls":
        raise InputError(f"{path.name}: not a readable workbook. In Excel use File > Save As > "
                         "Excel Workbook (.xlsx).")
    if suffix in EXCEL_SUFFIXES:
        if _looks_like_text(path):
            raise InputError(f"{path.name} is a text (CSV) file, not an Excel workbook, despite its "
                             f"name. Rename it to {path.stem}.csv, or open it in Excel and save "
                             "it as an Excel Workbook (.xlsx).")
        raise InputError(f"{path.name} is not an Excel workbook (it does not start like one; it "
                         "may be damaged or only partly downloaded). Export or copy it again.")
    if suffix in DOCUMENT_SUFFIXES:
        raise InputError(f"{path.name} is not a spreadsheet (a {suffix} text file). Give a claims "
                         "workbook (.xlsx, .xlsm) or a CSV file (.csv).")
    if suffix in CSV_SUFFIXES or _looks_like_text(path):
        return "csv"
    raise InputError(f"{path.name} is not a spreadsheet (unsupported file type). Use an Excel "
                     "workbook (.xlsx, .xlsm) or a CSV file (.csv).")


def _read_head(path: Path) -> bytes:
    """The first 8 bytes of a regular file; InputError for anything else (a device such as
    /dev/zero, a FIFO, a socket), which could be read for ever. Links are followed: a link to
    a regular file is fine. Opened without blocking, so a FIFO with no writer cannot hang."""
    refuse_unless_regular(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else meanwhile
            refuse_unless_regular(path, force=True)
        return os.read(fd, 8)
    finally:
        os.close(fd)


def refuse_unless_regular(path, what: str = "input", force: bool = False) -> None:
    """InputError unless ``path`` (links followed) is a regular file: xlsheets reads only files,
    never devices, pipes or sockets, whose data may never end."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # not there: the caller says so in its own words
    if stat.S_ISREG(mode) and not force:
        return
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a folder"
            if stat.S_ISDIR(mode) else "not a regular file")
    link = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    if what == "output":
        raise InputError(f"The output {path}{link} is {kind}, not a file; xlsheets writes only "
                         "regular files. Give a file name, e.g. report.xlsx.")
    raise InputError(f"{path}{link} is {kind}, not a file; xlsheets reads only regular files "
                     f"as its {what}. Save it to a file and give that file's name.")


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as f:
        chunk = f.read(4096)
    if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    return b"\x00" not in chunk and sum(b < 9 or 13 < b < 32 for b in chunk) <= len(chunk) // 100


def _ole_message(path: Path) -> str:
    """An OLE compound file is either an encrypted OOXML workbook or an old binary .xls."""
    needle = "EncryptedPackage".encode("utf-16-le")
    found = False
    with open(path, "rb") as f:
        tail = b""
        for _ in range(256):  # the directory sits somewhere in the first 256 MB in practice
            block = f.read(1 << 20)
            if not block:
                break
            if needle in tail + block:
                found = True
                break
            tail = block[-len(needle):]
    if found:
        return (f"{path.name} is password-protected (encrypted), so it cannot be read. In Excel "
                "open it, then File > Info > Protect Workbook > Encrypt with Password, clear the "
                "password and save; or save an unprotected copy.")
    return (f"{path.name} is an old binary Excel 97-2003 workbook (.xls format), which is not "
            "supported. In Excel use File > Save As > Excel Workbook (.xlsx).")


# --- workbooks --------------------------------------------------------------------------
def _open_workbook(path: Path, sheet: str | None, reader: str | None,
                   stack: contextlib.ExitStack, columns: dict[str, str] | None = None) -> Sheet:
    zf = stack.enter_context(_checked_zip(path))
    reader = reader or _choose_reader(path, zf)
    if reader not in ("xlsxstream", "calamine-chunks"):  # those two check as they read
        _check_sheets_whole(path, zf)
    if reader == "calamine" and _any_uncalculated(zf):
        reader = "xlsxstream"  # calamine would read formulas without values as blank cells
    if reader == "calamine":
        source = _CalamineBook(path)
    elif reader == "calamine-chunks":
        from .calamine_chunks import CalamineChunks
        source = CalamineChunks(zf, path.name, limits=_stream_limits())
    elif reader == "openpyxl":
        source = _OpenpyxlBook(path, zf)
    else:
        from .xlsxstream import XlsxReader
        source = XlsxReader(zf, path.name, limits=_stream_limits())
        reader = "xlsxstream"
    stack.callback(source.close)
    try:
        names = source.sheet_names()
    except InputError:
        raise
    except Exception as exc:  # a damaged workbook part or relationship
        raise _damaged(path, exc) from None
    if not names:
        raise InputError(f"{path.name} has no worksheets. Export the claims again.")
    if sheet is not None:
        if sheet not in names:
            match = [n for n in names if n.strip().lower() == sheet.strip().lower()]
            if len(match) != 1:
                raise InputError(f"{path.name} has no sheet named {sheet!r}; its sheets are "
                                 f"{', '.join(map(repr, names))}.")
            sheet = match[0]
        candidates = [sheet]
    else:
        candidates = names
    looked, empty = [], []
    for name in candidates:
        rows = _guarded(path, name, source.rows(name))
        stack.callback(_close_quietly, rows)
        found = _find_header(rows, columns)
        if not found:
            (looked if found is None else empty).append(name)
            continue
        header_row, header, buffered = found
        _check_unlabelled_columns(path, name, header, header_row, buffered)
        others = () if sheet is not None else _claim_sheets(path, source, names[names.index(name) + 1:], columns)
        return Sheet(path, name, header, header_row, _chain(buffered, rows), reader, others)
    if not looked:
        which = f"sheet {empty[0]!r} is" if len(empty) == 1 else "all its sheets are"
        raise InputError(f"{path.name}: {which} empty; there are no claims to check. Check that "
                         "you picked the right workbook (or name the sheet with --sheet).")
    where = f"sheet {looked[0]!r}" if len(looked) == 1 else "sheets " + ", ".join(map(repr, looked))
    raise InputError(
        f"{path.name}: no claims header found in {where} (looked at the first {HEADER_SCAN_ROWS} "
        "rows). The header row needs at least a diagnosis or procedure column, e.g. 'Dx1' or "
        "'CPT'; see the claims template (xlsheets template).")


def _claim_sheets(path: Path, source, names: list[str], columns) -> tuple[str, ...]:
    """Which of these sheets have a claims header too: without --sheet only the first is
    checked, and the outputs must say the others were not (claims for April on their own sheet
    would otherwise go unchecked without a word). A sheet that cannot be read is left out."""
    found = []
    for name in names:
        rows = None
        try:
            rows = _guarded(path, name, source.rows(name))
            header = _find_header(rows, columns)
            if header and _claims_like(header[1], columns):
                found.append(name)
        except Exception:  # damaged or odd: this is only a note about sheets not checked
            pass
        finally:
            if rows is not None:
                _close_quietly(rows)
    return tuple(found)


def _claims_like(header: list, columns) -> bool:
    """A header with a date of service and a code column: claims, not a lookup list (CPT Code,
    Description) or a summary (Payer, CPT, Count) that a note would wrongly call unchecked."""
    present = HeaderMap.from_row(header, columns).present
    return "dos" in present and any(c.startswith(("dx", "cpt")) or c in ("diagnoses", "procedures")
                                    for c in present)


def sheet_layout(path, sheet: str):
    """The input sheet's column widths and number formats (:class:`xlsxstream.ColumnLayout`),
    which the report copies; empty for CSV files and for anything unreadable (the report then
    sizes columns by their contents, which loses nothing)."""
    from .xlsxstream import ColumnLayout, XlsxReader
    path = Path(path)
    if not sheet or _kind_of(path) != "xlsx":
        return ColumnLayout({}, {})
    try:
        with _checked_zip(path) as zf:
            return XlsxReader(zf, path.name, limits=_stream_limits()).layout(sheet)
    except Exception:  # the rows were read; the look of the columns is a nicety
        return ColumnLayout({}, {})


def _choose_reader(path: Path, zf: zipfile.ZipFile) -> str:
    """calamine when installed, the file is small and no cell holds an error; else streaming.

    calamine holds a whole sheet in memory (roughly 20x the file size), but reads 2-4x faster.
    Up to 8 MB of workbook and 2 million cells (about 77,000 rows of 26 columns, some 150 MB)
    that fits the 300 MB budget of a validate run; above it streaming keeps memory flat.
    calamine turns error cells (#N/A) into empty ones, which would hide them from the claim
    parser, so a workbook with any error cell is read by the streaming reader; so is one with a
    formula saved without its value (calamine gives an empty cell, the streaming reader a
    :class:`~xlsheets.values.Uncalculated` marker).
    """
    if os.environ.get("XLSHEETS_READER"):
        return os.environ["XLSHEETS_READER"]
    try:
        import python_calamine  # noqa: F401
    except ImportError:
        return "xlsxstream"  # Pyodide, or a platform without its wheel: the pure-Python reader
    if path.stat().st_size > CALAMINE_MAX_FILE_BYTES:
        from .calamine_chunks import MAX_SHARED_STRINGS_BYTES
        shared = sum(i.file_size for i in zf.infolist() if i.filename.lower().endswith("sharedstrings.xml"))
        return "calamine-chunks" if shared <= MAX_SHARED_STRINGS_BYTES else "xlsxstream"
    for info in zf.infolist():
        if info.filename.startswith("xl/worksheets/") and not _calamine_fits(zf, info):
            return "xlsxstream"
    return "calamine"


def _check_sheets_whole(path: Path, zf: zipfile.ZipFile) -> None:
    """Every sheet part read whole for what it claims and for texts readers disagree on, before
    a reader that trusts the sheet's own structure (python-calamine, openpyxl) is given it. The
    streaming reader checks each row itself as it reads."""
    total = sum(i.file_size for i in zf.infolist())
    try:
        for info in zf.infolist():
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                with zf.open(info) as f:
                    head = f.read(PROLOG_SCAN_BYTES)
                    _check_rest(path, info.filename, f, head, total, sheet=True)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise _damaged(path, exc) from None


def _any_uncalculated(zf: zipfile.ZipFile) -> bool:
    """Whether a sheet may hold a formula without its value; a damaged part counts as yes (the
    streaming reader then says what is damaged)."""
    from .xlsxstream import has_uncalculated
    try:
        for info in zf.infolist():
            if info.filename.startswith("xl/worksheets/"):
                with zf.open(info) as f:
                    if has_uncalculated(f):
                        return True
    except Exception:
        return True
    return False


_LAST_ROW = re.compile(rb"<row\b[^>]*?\sr=\"(\d+)\"")


def _calamine_fits(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """False when a sheet has an error cell, a formula without its value, or a large extent.

    calamine allocates the sheet's whole rectangle, so a tiny file with one cell at row
    1,048,576 would cost gigabytes: the extent (last row x widest column) is capped at
    CALAMINE_MAX_CELLS.
    """
    if info.file_size > 256 << 20:
        return False
    with zf.open(info) as f:
        xml = f.read()
    if b't="e"' in xml or re.search(rb'<c r="[A-Z]{3}', xml):
        return False
    if b"<f" in xml or b":f" in xml:
        from .xlsxstream import has_uncalculated
        if has_uncalculated(xml):
            return False
    tail = xml.rfind(b"<row ")
    last = _LAST_ROW.match(xml, tail) if tail >= 0 else None
    if tail >= 0 and last is None:
        return False  # rows without numbers: let the streaming reader count them
    width = 702 if re.search(rb'<c r="[A-Z]{2}', xml) else 26
    return (int(last.group(1)) if last else 0) * width <= CALAMINE_MAX_CELLS


def _stream_limits() -> dict:
    return {"max_part_bytes": MAX_PART_BYTES, "max_ratio": MAX_RATIO,
            "ratio_exempt_bytes": RATIO_EXEMPT_BYTES, "max_rows": EXCEL_MAX_ROWS,
            "max_columns": EXCEL_MAX_COLUMNS}


@contextlib.contextmanager
def _checked_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """The workbook's zip, after checking sizes, ratios and that no XML part has a DOCTYPE."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path.name} is damaged or incomplete (not a readable zip: {exc}). It "
                         "may have been only partly copied or downloaded; export it again.") from None
    try:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise InputError(f"{path.name} holds {len(infos)} parts, more than any workbook "
                             f"needs ({MAX_ZIP_MEMBERS}); it is refused as unsafe.")
        names = {i.filename for i in infos}
        if len(names) != len(infos) or len({n.lower() for n in names}) != len(names):
            seen: set[str] = set()
            twice = next(n for n in (i.filename for i in infos) if n.lower() in seen or seen.add(n.lower()))
            raise InputError(f"{path.name} is damaged: the part {twice} appears twice in the zip "
                             "container (readers would disagree about which one counts). Open it "
                             "in Excel and save it again, or export the claims again.")
        if "xl/workbook.bin" in names:
            raise InputError(f"{path.name} is an Excel Binary Workbook (.xlsb), which is not "
                             "supported. In Excel use File > Save As > Excel Workbook (.xlsx).")
        if "xl/workbook.xml" not in names and not any(n.endswith("workbook.xml") for n in names):
            raise InputError(f"{path.name} is a zip file but not an Excel workbook (no workbook "
                             "part). Check that you picked the claims workbook.")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise InputError(f"{path.name}: part {info.filename} is encrypted; save an "
                                 "unprotected copy of the workbook.")
            total += info.file_size
            _check_sizes(path, info.filename, info.file_size, info.compress_size)
        if total > MAX_TOTAL_BYTES:
            raise InputError(f"{path.name} would unpack to {total / 2**30:.1f} GB, more than "
                             f"{MAX_TOTAL_BYTES >> 30} GB; it is refused as unsafe (a zip bomb?). "
                             "Split the claims into smaller workbooks.")
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                _check_part(path, zf, info, total)
    except InputError:
        zf.close()
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        zf.close()
        raise _damaged(path, exc) from None
    try:
        yield zf
    finally:
        zf.close()


def _check_sizes(path: Path, part: str, size: int, compressed: int) -> None:
    if size > MAX_PART_BYTES:
        raise InputError(f"{path.name}: part {part} would unpack to {size / 2**30:.1f} GB, more "
                         f"than the {MAX_PART_BYTES >> 30} GB limit; refused as unsafe (a zip "
                         "bomb?). Split the claims into smaller workbooks.")
    if size > RATIO_EXEMPT_BYTES and size > MAX_RATIO * max(compressed, 1):
        raise InputError(f"{path.name}: part {part} is compressed {size // max(compressed, 1)}:1, "
                         f"far more than real workbooks (limit {MAX_RATIO}:1); refused as unsafe "
                         "(a zip bomb?). Export the claims again from the source system.")


_PROLOG_SKIP = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)


def _check_part(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, total: int) -> None:
    """One XML part, before any reader sees it: its prolog (no DOCTYPE) and what it claims.

    Readers size their tables from what a file says: python-calamine reserves memory for the
    shared-strings table's ``count`` (a 2.5 KB file claiming 4,000,000,000 strings made it ask
    for 96 GB and abort the process). So every count, dimension and column span a part states
    is checked against what the workbook can hold, here, for every reader and any file size:
    no element takes fewer than 4 bytes, and no sheet reaches past Excel's last row or column.
    Parts other than sheets are read whole (their counts may sit anywhere, and their strings
    are checked for markup Excel never writes inside a text, on which readers disagree);
    sheets are read as far as their claims go (the start, before the rows), and their cells
    are checked by whichever reader reads them.
    """
    sheet = info.filename.startswith(("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/"))
    with zf.open(info) as f:
        head = f.read(PROLOG_SCAN_BYTES)
        _check_prolog(path, info, head)
        _check_claims(path, info.filename, head, total, sheet)
        if sheet:
            return
        _check_rest(path, info.filename, f, head, total, sheet=False)


def _check_rest(path: Path, part: str, f, head: bytes, total: int, sheet: bool) -> None:
    """The rest of a part after ``head``, block by block (blocks overlap by 64 KB so a text
    cut at a block's end is judged whole): its counts, its texts, and for sheets its extent."""
    from .xlsxstream import _PREFIXED_MAIN, malformed_text, refuse_malformed_text
    prefixed = _PREFIXED_MAIN.search(head) is not None
    block = f.read(1 << 20)
    if malformed_text(head if not block else head[:head.rfind(b">") + 1], prefixed):
        refuse_malformed_text(path.name, part)
    tail = head
    while block:
        data = tail[-65536:] + block
        _check_claims(path, part, data, total, sheet)
        block = f.read(1 << 20)
        judged = data if not block else data[:data.rfind(b">") + 1]
        prefixed = prefixed or _PREFIXED_MAIN.search(data) is not None
        if malformed_text(judged, prefixed):
            refuse_malformed_text(path.name, part)
        tail = data


# What a part claims, as attributes (each found by a literal start, then checked to be inside a
# tag, not in a cell's text): item counts (count, uniqueCount), a row's column span, a column
# range, a sheet's dimension.
_COUNT_CLAIM = re.compile(rb"""ount\s*=\s*["']\s*(\d+)""")
_SPANS = re.compile(rb"""spans\s*=\s*["'][\d\s]*:\s*(\d+)""")
_COL_MAX = re.compile(rb"""<col\s[^>]*?\bmax\s*=\s*["']\s*(\d+)""")
_DIMENSION = re.compile(rb"""dimension\b[^>]*?\sref\s*=\s*["']([^"']*)["']""")
_REFERENCE = re.compile(r"^\$?([A-Za-z]{1,4})\$?(\d{1,8})$")


def _in_tag(data: bytes, at: int) -> bool:
    return data.rfind(b"<", 0, at) > data.rfind(b">", 0, at)


def _check_claims(path: Path, part: str, data: bytes, total: int, sheet: bool) -> None:
    """Refuse counts larger than the workbook's bytes can hold and sheet extents (dimension,
    row spans, column ranges) past Excel's last row or column."""
    for m in _COUNT_CLAIM.finditer(data):
        n = int(m.group(1))
        if n * 4 > total and _in_tag(data, m.start(1)):
            name = data[data.rfind(b" ", 0, m.start()) + 1:m.start()].decode("ascii", "replace") + "ount"
            raise InputError(
                f"{path.name}: part {part} claims {name}=\"{n:,}\" items, more than the whole "
                f"workbook ({total:,} bytes unpacked) can hold; the file was not written by Excel "
                "and is refused as unsafe. Open it in Excel and save it again, or export the "
                "claims again.")
    if not sheet:
        return
    for rx in (_SPANS, _COL_MAX):
        for m in rx.finditer(data):
            if int(m.group(1)) > EXCEL_MAX_COLUMNS and _in_tag(data, m.start(1)):
                raise InputError(f"{path.name}: part {part} claims column {int(m.group(1)):,}, beyond "
                                 f"Excel's last column ({EXCEL_MAX_COLUMNS:,}, XFD); the file was not "
                                 "written by Excel. Open it in Excel and save it again.")
    for m in _DIMENSION.finditer(data):
        if not _in_tag(data, m.start(1)):
            continue
        for ref in m.group(1).decode("ascii", "replace").split(":"):
            cell = _REFERENCE.match(ref.strip())
            col = _column_number(cell.group(1)) if cell else 0
            if cell is None or not 1 <= col <= EXCEL_MAX_COLUMNS or not 1 <= int(cell.group(2)) <= EXCEL_MAX_ROWS:
                raise InputError(f"{path.name}: part {part} claims the sheet reaches {ref.strip()[:20]!r}, "
                                 "which is not a cell of an Excel sheet (past its last row or "
                                 "column); the file was not written by Excel. Open it in Excel and "
                                 "save it again.")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _check_prolog(path: Path, info: zipfile.ZipInfo, head: bytes) -> None:
    """Refuse a DOCTYPE: without one no XML entity can be declared, so no expansion bomb and no
    external entity (XXE) can reach any parser (ours, openpyxl's or calamine's)."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", "replace").encode("utf-8", "replace")
    pos = 0
    while True:
        m = _PROLOG_SKIP.match(head, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
    rest = head[pos:].lstrip()
    if rest[:9].upper() == b"<!DOCTYPE" or b"<!DOCTYPE" in head[:pos + 9] or b"<!ENTITY" in rest[:256]:
        raise InputError(f"{path.name}: part {info.filename} declares a DOCTYPE, which Excel never "
                         "writes; XML entities are refused as unsafe (entity expansion or "
                         "external entity attack). Re-save the workbook in Excel.")
    if not rest and info.file_size > PROLOG_SCAN_BYTES:
        raise InputError(f"{path.name}: part {info.filename} starts with over "
                         f"{PROLOG_SCAN_BYTES >> 10} KB of non-content; refused as unsafe.")


def _damaged(path: Path, exc: BaseException, sheet: str | None = None) -> InputError:
    where = path.name + (f", sheet {sheet!r}" if sheet else "")
    detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return InputError(f"{where}: the workbook is damaged or incomplete ({detail}). Open it in "
                      "Excel and save it again, or export the claims again.")


def _guarded(path: Path, sheet: str, rows: Iterator[list[object]]) -> Iterator[list[object]]:
    """Rows, with a reader's low-level failures turned into InputError naming file and sheet."""
    number = 0
    try:
        for number, row in enumerate(rows, 1):
            if number > EXCEL_MAX_ROWS:
                raise InputError(f"{path.name}, sheet {sheet!r}: more than Excel's "
                                 f"{EXCEL_MAX_ROWS:,} rows; the file was not written by Excel. "
                                 "Split the claims into smaller workbooks.")
            yield row
    except InputError:
        raise
    except (GeneratorExit, KeyboardInterrupt):
        raise
    except MemoryError:
        raise InputError(f"{path.name}, sheet {sheet!r}: ran out of memory near row {number}. "
                         "Split the claims into smaller workbooks.") from None
    except Exception as exc:
        raise _damaged(path, exc, sheet) from None


def _close_quietly(gen) -> None:
    try:
        gen.close()
    except Exception:
        pass


def _find_header(rows: Iterator[list[object]], columns: dict[str, str] | None = None):
    """(header row number, header values, rows after it already read) or None.

    The header is the row, among the first HEADER_SCAN_ROWS, with the most recognised columns.
    Returns False (not None) when those rows are all blank: an empty sheet.
    """
    buffered = list(itertools.islice(rows, HEADER_SCAN_ROWS))
    if all(is_blank_row(r) for r in buffered):
        return False
    best, best_score = None, 0
    for index, values in enumerate(buffered):
        header = HeaderMap.from_row(values, columns)
        if header.recognisable and len(header.present) > best_score:
            best, best_score = index, len(header.present)
    if best is None:
        return None
    return best + 1, list(buffered[best]), buffered[best + 1:]


def _check_unlabelled_columns(path: Path, sheet: str, header: list[object], header_row: int,
                              buffered: list[list[object]]) -> None:
    """Refuse values under a blank header cell: merged header cells leave the merged-over
    columns blank, and their values would be silently ignored (a lost diagnosis)."""
    blank = {i for i, v in enumerate(header) if v is None or (isinstance(v, str) and not v.strip())}
    width = len(header)
    for offset, values in enumerate(buffered):
        for i, v in enumerate(values):
            if (i in blank or i >= width) and not is_blank_row((v,)):
                labelled = [i2 for i2 in range(i) if i2 not in blank and i2 < width]
                after = f" (right of {header[labelled[-1]]!r})" if labelled else ""
                raise InputError(
                    f"{path.name}{', sheet ' + repr(sheet) if sheet else ''}: column "
                    f"{_column_letter(i)}{after} has values (row {header_row + 1 + offset}) but no "
                    f"header in row {header_row}, so they would be ignored. Merged header cells "
                    "cause this: unmerge them and give every column its own header (e.g. Dx1, "
                    "Dx2), or delete the column.")


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _chain(buffered: list[list[object]], rest: Iterator[list[object]]) -> Iterator[list[object]]:
    yield from buffered
    buffered.clear()
    yield from rest


class _OpenpyxlBook:
    """openpyxl in read-only mode: the reference reader (slow, but what everybody trusts).

    openpyxl gives None for a formula saved without its value, like a blank cell; a sheet that
    may hold one (see ``xlsxstream.has_uncalculated``) is read a second time with formulas, in
    step, so such a cell becomes an :class:`~xlsheets.values.Uncalculated` marker.
    """

    def __init__(self, path: Path, zf: zipfile.ZipFile | None = None):
        self.path, self.zf, self.formulas = path, zf, None
        self.wb = self._load(data_only=True)

    def _load(self, data_only: bool):
        import warnings
        import openpyxl
        try:
            with warnings.catch_warnings():  # openpyxl's style warnings mean nothing to users
                warnings.simplefilter("ignore")
                return openpyxl.load_workbook(self.path, read_only=True, data_only=data_only, keep_links=False)
        except InputError:
            raise
        except Exception as exc:
            raise _damaged(self.path, exc) from None

    def sheet_names(self) -> list[str]:
        return [ws.title for ws in self.wb.worksheets]

    def rows(self, name: str) -> Iterator[list[object]]:
        ws = self.wb[name]
        if not self._may_be_uncalculated(ws):
            for row in ws.iter_rows(values_only=True):
                yield list(row)
            return
        from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula
        from .values import Uncalculated
        if self.formulas is None:
            self.formulas = self._load(data_only=False)
        pairs = itertools.zip_longest(ws.iter_rows(), self.formulas[name].iter_rows(values_only=True),
                                      fillvalue=())
        for cells, formulas in pairs:
            row = []
            for cell, formula in itertools.zip_longest(cells, formulas):
                value = getattr(cell, "value", None)
                # no value and not an empty text result ("" is saved as an empty <v> of type str)
                if value is None and getattr(cell, "data_type", None) != "str":
                    if isinstance(formula, ArrayFormula):
                        value = Uncalculated(formula.text or "")
                    elif isinstance(formula, DataTableFormula):
                        value = Uncalculated("TABLE()")
                    elif isinstance(formula, str) and formula.startswith("="):
                        value = Uncalculated(formula)
                row.append(value)
            yield row

    def _may_be_uncalculated(self, ws) -> bool:
        part = getattr(ws, "_worksheet_path", None)  # openpyxl's name for the sheet's zip part
        if self.zf is None or part is None:
            return True  # cannot look: read the slow, careful way
        part = part.lstrip("/")
        if part not in self.zf.NameToInfo:
            return True
        from .xlsxstream import has_uncalculated
        with self.zf.open(part) as f:
            return has_uncalculated(f)

    def close(self) -> None:
        self.wb.close()
        if self.formulas is not None:
            self.formulas.close()


class _CalamineBook:
    """python-calamine (optional, compiled): fastest, holds a whole sheet in memory."""

    def __init__(self, path: Path):
        from python_calamine import CalamineWorkbook
        self.path = path
        try:
            self.wb = CalamineWorkbook.from_path(str(path))
        except Exception as exc:
            raise _damaged(path, exc) from None

    def sheet_names(self) -> list[str]:
        return [s.name for s in self.wb.sheets_metadata if str(s.typ).lower().endswith("worksheet")] \
            if hasattr(self.wb, "sheets_metadata") else list(self.wb.sheet_names)

    def rows(self, name: str) -> Iterator[list[object]]:
        from .xlsxstream import calamine_value
        sheet = self.wb.get_sheet_by_name(name)
        start = getattr(sheet, "start", None)
        if start is None:
            return
        first_col = start[1]  # iter_rows starts at row 1 but at the first used column
        for row in sheet.iter_rows():
            yield [None] * first_col + [calamine_value(v) for v in row]

    def close(self) -> None:
        close = getattr(self.wb, "close", None)
        if close:
            close()


# --- CSV --------------------------------------------------------------------------------
_DELIMITERS = (",", ";", "\t")


def _open_csv(path: Path, stack: contextlib.ExitStack, columns: dict[str, str] | None = None) -> Sheet:
    encoding = _csv_encoding(path)
    f = stack.enter_context(open(path, "r", encoding=encoding, errors="replace", newline=""))
    sample = f.read(64 << 10)
    f.seek(0)
    delimiter = _sniff_delimiter(sample)
    csv.field_size_limit(1 << 20)
    reader = csv.reader(_bounded_lines(path, f, delimiter), delimiter=delimiter)
    rows = _csv_rows(path, reader, delimiter, encoding)
    stack.callback(_close_quietly, rows)
    found = _find_header(rows, columns)
    if found is False:
        raise InputError(f"{path.name} is empty; there are no claims to check.")
    if found is None:
        raise InputError(
            f"{path.name}: no claims header found in the first {HEADER_SCAN_ROWS} rows. The header "
            "row needs at least a diagnosis or procedure column, e.g. 'Dx1' or 'CPT'.")
    header_row, header, buffered = found
    _check_unlabelled_columns(path, "", header, header_row, buffered)
    return Sheet(path, "", header, header_row, _chain(buffered, rows), "csv")


CSV_MAX_LINE_CHARS = 64 << 20  # far above any claims row; a line longer is not an export


def _bounded_lines(path: Path, f, delimiter: str) -> Iterator[str]:
    """The file's lines, with a CSV held to a workbook's limits before the csv module splits
    them: a line of more than Excel's 16,384 cells is refused when it is met, before 52 million
    fields of one 100 MB line become a list, and no line is read past 64 MB."""
    number = 0
    while line := f.readline(CSV_MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > EXCEL_MAX_COLUMNS:
            if len(line) > CSV_MAX_LINE_CHARS:
                raise InputError(f"{path.name}: line {number:,} is longer than "
                                 f"{CSV_MAX_LINE_CHARS >> 20} MB, which no claims export is; the "
                                 "file is refused. Check that you picked the claims file.")
            if line.count(delimiter) >= EXCEL_MAX_COLUMNS and _cells_in(line, delimiter) > EXCEL_MAX_COLUMNS:
                raise _too_wide(path, number, _cells_in(line, delimiter))
        yield line


_QUOTED = re.compile(r'"[^"]*"')


def _cells_in(line: str, delimiter: str) -> int:
    """Cells of one line (delimiters outside quoted text, plus one); a quote left open makes
    the rest one cell, as the csv module reads it."""
    outside = _QUOTED.sub("", line)
    cut = outside.find('"')
    return (outside if cut < 0 else outside[:cut]).count(delimiter) + 1


def _too_wide(path: Path, line: int, cells: int) -> InputError:
    return InputError(f"{path.name}: line {line:,} has {cells:,} cells, more than an Excel sheet's "
                      f"{EXCEL_MAX_COLUMNS:,} columns; the file is refused. Check the delimiter "
                      "and that you picked the claims file.")


def _csv_rows(path: Path, reader, delimiter: str = ",", encoding: str = "utf-8") -> Iterator[list[object]]:
    """Values of each CSV record; a record over several lines is checked for a stray quote.

    A quote (") at the start of a cell opens a quoted cell that runs to the next quote, across
    line ends: one stray quote turns the rest of the file into one cell, and the claims in it
    would vanish. The csv module's own parse is kept; what is judged is its result: a cell
    whose lines look like rows of their own (the number of cells of the widest record so far)
    is refused, as is a quote still open at the end of the file. A note of a few lines of prose
    in a quoted cell is fine.
    """
    line = widest = 0  # physical lines read so far; cells of the widest one-line record
    start = 1
    row: list[str] = []
    try:
        for row in reader:
            end = reader.line_num
            if len(row) > EXCEL_MAX_COLUMNS:
                raise _too_wide(path, line + 1, len(row))
            if end - line > 1:
                _check_swallowed(path, row, line + 1, end, delimiter, widest)
            elif len(row) > widest:
                widest = len(row)
            start, line = line + 1, end
            yield [v if v != "" else None for v in row]
    except csv.Error as exc:
        if "field larger than field limit" in str(exc) and reader.line_num - line <= 1:
            raise InputError(f"{path.name}: line {line + 1:,} has a cell of more than "
                             f"{csv.field_size_limit():,} characters (an Excel cell holds "
                             f"{EXCEL_CELL_CHARS:,}); the file is refused. Check that you picked "
                             "the claims file.") from None
        if "field larger than field limit" in str(exc):  # a quote that never closes, most likely
            raise InputError(
                f"{path.name}: line {line + 1}: a quote (\") opens a cell that runs over more than "
                f"{max(reader.line_num - line - 1, 1):,} lines without closing. Probably a stray "
                "quote; fix or remove it and save again.") from None
        raise InputError(f"{path.name}, line {reader.line_num}: not readable as CSV ({exc}). "
                         "Check for a stray quote character in that line.") from None
    if any("\n" in v or "\r" in v for v in row) and _open_at_end(path, encoding, delimiter, start):
        first, _ = _spanning_cell(row, start)
        lines = reader.line_num - first
        runs = f"runs over the next {lines:,} line{'s' if lines != 1 else ''} to" if lines else "runs to"
        raise InputError(f"{path.name}: line {first}: a quote (\") opens a cell that {runs} the end "
                         "of the file without closing. Probably a stray quote; fix or remove it "
                         "and save again.")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _spanning_cell(row: list[str], start: int) -> tuple[int, int]:
    """(line where the longest multi-line cell starts, its index) of a record from ``start``."""
    best = max(range(len(row)), key=lambda i: row[i].count("\n") + row[i].count("\r"))
    return start + sum(len(_LINE_BREAK.findall(v)) for v in row[:best]), best


def _check_swallowed(path: Path, row: list[str], start: int, end: int, delimiter: str,
                     widest: int) -> None:
    """Refuse a record whose multi-line cell holds lines shaped like the sheet's rows."""
    first, index = _spanning_cell(row, start)
    lines = _LINE_BREAK.split(row[index])[1:]  # the first piece is the rest of the opening line
    if not lines:
        return
    parsed = []
    for text in lines:
        try:
            parsed.append(next(csv.reader([text], delimiter=delimiter), []))
        except csv.Error:
            parsed.append([])
    counts = [len(cells) if not _prose(cells) else 0 for cells in parsed]
    width = widest if widest > 1 else max(set(counts), key=counts.count)
    claim_like = sum(not _prose(cells) and _claim_like(cells, width) for cells in parsed)
    rows = sum(c == width for c in counts) if width >= 2 else 0
    # Two lines of rows are evidence in a sheet of 3 or more columns; a wide sheet needs one; so
    # does any line holding a claim's data (a date and a code): one claim swallowed is one lost.
    if rows >= 3 or (rows >= 2 and width >= 3) or (rows >= 1 and width >= 6) or claim_like:
        swallowed = end - first
        look = "which look like rows of their own" if swallowed != 1 else "which looks like a row of its own"
        raise InputError(
            f"{path.name}: line {first}: a quote (\") opens a cell that runs over the next "
            f"{swallowed:,} line{'s' if swallowed != 1 else ''}, {look}. "
            "Probably a stray quote; fix or remove it and save again.")


_DATE_SHAPE = re.compile(r"^\s*(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4})(?:[ T].*)?$")
_CODE_SHAPE = re.compile(r"^\s*(?:[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?|[0-9]{4}[0-9A-Z]|[A-V][0-9]{4})"
                         r"(?:[-\s][A-Z0-9]{2})*\s*$", re.I)


def _claim_like(cells: list[str], width: int) -> bool:
    """A line written as the file's rows are: about as many cells as a row (the quote may close
    before its end), none starting with a space (a person types "2026-03-01, M51.26" in a note),
    a date and a diagnosis or procedure code. Not a line of an address or a note."""
    return (len(cells) >= max(3, width - 2) and not any(c[:1].isspace() for c in cells)
            and any(map(_DATE_SHAPE.match, cells)) and any(map(_CODE_SHAPE.match, cells)))


def _prose(cells: list[str]) -> bool:
    """Cells of a line of a note rather than of a claim row: most hold several words."""
    return sum(len(c.split()) > 1 for c in cells) * 2 > len(cells)


def _open_at_end(path: Path, encoding: str, delimiter: str, start: int) -> bool:
    """Whether the record starting on line ``start`` (the last one) leaves a quote open: the
    csv module's strict mode, on just that record, says so."""
    with open(path, "r", encoding=encoding, errors="replace", newline="") as f:
        reader = csv.reader(itertools.islice(f, start - 1, None), delimiter=delimiter, strict=True)
        try:
            next(reader, None)
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
    return False


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 (Excel's "CSV" export)."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := f.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def _sniff_delimiter(sample: str) -> str:
    """The delimiter giving the most columns, consistently, over the first lines."""
    lines = sample.splitlines()[:HEADER_SCAN_ROWS] or [""]
    best, best_score = ",", (0, 0)
    for d in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=d) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        widest = max(counts)
        score = (sum(c == widest for c in counts) if widest > 1 else 0, widest)
        if score > best_score:
            best, best_score = d, score
    return best


# --- outputs ----------------------------------------------------------------------------
def check_output_path(input_path, output_path) -> None:
    """Refuse an output that would overwrite the input (links resolved) or has no folder."""
    src, out = Path(input_path), Path(output_path)
    same = False
    try:
        same = out.exists() and src.exists() and os.path.samefile(src, out)
    except OSError:
        pass
    if same or src.resolve() == out.resolve():
        raise InputError(f"The output {out} is the input file itself; xlsheets never changes your "
                         "workbook. Choose another output name, e.g. "
                         f"{src.stem}_checked{out.suffix or '.xlsx'}.")
    if out.is_dir():
        raise InputError(f"The output {out} is a folder; give a file name, e.g. "
                         f"{out / (src.stem + '_checked.xlsx')}.")
    folder = out.resolve().parent
    if not folder.is_dir():
        raise InputError(f"The output folder {folder} does not exist. Create it or choose "
                         "another output path.")
    if os.path.lexists(out) and not os.path.isfile(out):
        refuse_unless_regular(out, what="output")
    try:  # found now, before validating, not after the whole run: can a file be made there?
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".xlsheets-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"The output folder {folder} cannot be written to ({exc.strerror or exc}). "
                         "Choose a folder you may write to, e.g. your Documents folder.") from None


@contextlib.contextmanager
def atomic_output(path, replace: bool = True, folder=None) -> Iterator[Path]:
    """A temporary path next to ``path`` (or in ``folder``, the run's private folder on the same
    disk, see :mod:`xlsheets.tempfiles`); renamed onto it on success, removed on any failure.

    An interrupted or failed run (KeyboardInterrupt included) leaves no partial output, and an
    existing file at ``path`` stays as it was until the new one is complete. With
    ``replace=False`` an existing file is never replaced: FileExistsError instead, even when
    the file appears while the output is being written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=folder or path.resolve().parent, prefix=f".{path.stem}.",
                               suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual mode
        yield tmp_path
        if replace:
            os.replace(tmp_path, path)
        else:
            _place_new(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _place_new(tmp_path: Path, path: Path) -> None:
    """Move a finished file to ``path`` only if nothing is there (a hard link is atomic)."""
    try:
        os.link(tmp_path, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: check, then rename
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.replace(tmp_path, path)
        return
    tmp_path.unlink()


# --- read-ahead: the reader on the other core ---------------------------------------------------
READ_AHEAD_MIN_BYTES = 2_000_000  # below this, starting a process costs more than it saves
_CHUNK_ROWS = 500  # ~125 KB pickled: several fit in the pipe, so the reader runs ahead


def _send(raw, item) -> None:
    """One pickled chunk, written whole: with a wide pipe the child then runs ahead of the
    parent instead of taking turns with it."""
    view = memoryview(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
    while view:
        view = view[raw.write(view):]


def _widen_pipe(fd: int) -> None:
    """Ask Linux for a 1 MB pipe (64 KB by default); harmless where that is not possible."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def read_ahead(path, rows: Iterator[list[object]]) -> Iterator[list[object]]:
    """The same rows, read by a forked child process while this one validates.

    Reading an xlsx is pure-Python work that takes as long as validating it; on two cores the
    two overlap. Rows travel pickled in chunks through a pipe; a reading error in the child
    arrives as the same InputError here. Used for large files on systems with ``fork`` (the
    command line on Linux and macOS); elsewhere, or for small files, the rows pass through.
    ``XLSHEETS_READ_AHEAD=0`` turns it off, ``=1`` forces it (tests).
    """
    force = os.environ.get("XLSHEETS_READ_AHEAD")
    big = Path(path).stat().st_size >= READ_AHEAD_MIN_BYTES if force is None else force == "1"
    if not big or not hasattr(os, "fork"):
        yield from rows
        return
    try:
        read_end, write_end = os.pipe()
    except OSError:  # no pipes to spare: read here
        yield from rows
        return
    _widen_pipe(write_end)
    try:
        pid = os.fork()
    except OSError:  # no process to spare (limits, sandbox): read here
        os.close(read_end)
        os.close(write_end)
        yield from rows
        return
    if pid == 0:  # the child: read, send, exit without running the parent's cleanup
        os.close(read_end)
        code = 0
        try:
            with os.fdopen(write_end, "wb", buffering=0) as out:
                chunk = []
                try:
                    for row in rows:
                        chunk.append(row)
                        if len(chunk) >= _CHUNK_ROWS:
                            _send(out, chunk)
                            chunk = []
                    if chunk:
                        _send(out, chunk)
                    _send(out, None)
                except InputError as exc:
                    _send(out, chunk)  # the rows read before the problem still count
                    _send(out, ("error", str(exc)))
                except BaseException as exc:  # anything else: the parent reports it
                    _send(out, chunk)
                    _send(out, ("error", f"{Path(path).name}: could not be read: "
                                         f"{type(exc).__name__}: {exc}"))
        except BaseException:  # the parent went away (broken pipe): nothing to tell
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    finished = False
    try:
        with os.fdopen(read_end, "rb", buffering=1 << 20) as inp:
            while True:
                try:
                    chunk = pickle.load(inp)
                except EOFError:
                    raise InputError(f"{Path(path).name}: the reading process stopped unexpectedly; "
                                     "run again with XLSHEETS_READ_AHEAD=0 to read in one process.") from None
                if chunk is None:
                    finished = True
                    return
                if isinstance(chunk, tuple):
                    raise InputError(chunk[1])
                yield from chunk
    finally:
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
