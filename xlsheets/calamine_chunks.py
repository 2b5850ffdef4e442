"""Large workbooks read by python-calamine a slice of rows at a time: its speed, flat memory.

Why: calamine (compiled, CPython only; never in Pyodide) reads a sheet about 2x faster than
the pure-Python :mod:`xlsheets.xlsxstream`, but python-calamine has no streaming interface: it
loads the whole sheet, about 2.5 KB per row of 26 columns (250 MB for 100,000 rows, gigabytes
for a million; benchmarks/bench_readers.py prints both ways' peak memory). So the sheet's XML
is decompressed in 1 MB blocks and cut at row boundaries into slices of about 4 MB (some
3,300 rows of 26 columns; smaller slices were no slower, and use less memory); each slice becomes a small
in-memory workbook (the original's workbook, styles and shared-strings parts, the slice as the
sheet) that calamine reads on its own. Memory stays at one slice whatever the number of rows.

calamine reads error cells (``#N/A``) as blanks and a formula saved without its value as a
blank, and allocates a slice's whole rectangle; a slice holding any of these (or far-apart
cells) is read by :mod:`xlsheets.xlsxstream` instead, so values are the same whichever reader
read them. Every safety check of the streaming reader applies: the produced bytes against the
part's declared size and compression ratio, no DOCTYPE anywhere, and a slice holding a text in
a shape Excel never writes (which readers read differently) is refused, as
``io._check_sheets_whole`` refuses it for whole-sheet readers; the sheet's stated extent is
not carried into slices (calamine would size its table by it).
"""
from __future__ import annotations

import io
import re
import zipfile
from typing import Iterator

__all__ = ["CalamineChunks", "SLICE_BYTES", "MAX_SHARED_STRINGS_BYTES"]

SLICE_BYTES = 4 << 20  # XML per slice: ~3,300 rows of 26 columns
FIRST_SLICE_BYTES = 1 << 20  # the header is looked for in the first rows: keep that quick
# Each slice's workbook carries the shared strings, which calamine parses again per slice; above
# this size that repeated work would cost more than calamine saves, and the streaming reader is
# used (io._choose_reader).
MAX_SHARED_STRINGS_BYTES = 4 << 20
_CARRIED = ("[Content_Types].xml", "_rels/.rels")
_ROW_NUMBER = re.compile(rb'<row r="(\d+)"')
_FAR_COLUMN = re.compile(rb'<c r="[A-Z]{3}')
_EMPTY_SHEET = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b'<sheetData/></worksheet>')


class CalamineChunks:
    """The reader object of ``io.open_sheet`` for large workbooks: ``sheet_names()``, ``rows()``."""

    def __init__(self, zf: zipfile.ZipFile, display_name: str, limits: dict):
        from .xlsxstream import XlsxReader
        self.zf, self.name = zf, display_name
        self.stream = XlsxReader(zf, display_name, limits=limits)  # structure, and odd slices

    def sheet_names(self) -> list[str]:
        return self.stream.sheet_names()

    def close(self) -> None:
        self.stream.close()

    def rows(self, sheet: str) -> Iterator[list[object]]:
        parts = dict(self.stream._sheet_parts())
        if sheet not in parts:
            raise KeyError(sheet)
        return self._rows(sheet, parts[sheet], set(parts.values()))

    # --- slices -------------------------------------------------------------------------
    def _slices(self, part: str) -> Iterator[tuple[bytes, bytes]]:
        """(head, rows) per slice: the sheet's start tag and namespaces, and whole rows."""
        head = None
        blocks: list[bytes] = []  # joined once a slice is big enough (no quadratic copying)
        size = 0
        target = FIRST_SLICE_BYTES
        for block in self.stream.checked_blocks(part):
            if head is None:
                blocks.append(block)
                buf = b"".join(blocks)
                start = buf.find(b"<sheetData>")
                if start < 0:
                    if b"<sheetData/>" in buf or not block:
                        return  # an empty sheet
                    blocks = [buf]
                    continue
                root = re.search(rb"<worksheet\b[^>]*>", buf)
                head = root.group(0) if root else b"<worksheet>"
                block = buf[start + len(b"<sheetData>"):]
                blocks, size = [], 0
            # "</sheetData>" may straddle two blocks: look at the seam too
            seam = (blocks[-1][-16:] if blocks else b"") + block[:16]
            last = b"</sheetData>" in seam or b"</sheetData>" in block or not block
            blocks.append(block)
            size += len(block)
            if size < target and not last:
                continue
            buf = b"".join(blocks)
            if last:
                end = buf.find(b"</sheetData>")
                if end < 0:
                    raise ValueError("the sheet data ends without </sheetData>")
                buf = buf[:end]
            pos = 0
            while len(buf) - pos >= target:
                cut = buf.rfind(b"</row>", pos, pos + target)
                if cut < 0:  # a row longer than a slice
                    cut = buf.find(b"</row>", pos + target)
                    if cut < 0:
                        break
                cut += len(b"</row>")
                yield head, buf[pos:cut]
                pos = cut
                target = SLICE_BYTES
            if last:
                if buf[pos:].strip():
                    yield head, buf[pos:]
                return
            rest = buf[pos:]
            blocks, size = [rest], len(rest)

    def _rows(self, sheet: str, part: str, sheet_parts: set) -> Iterator[list[object]]:
        from python_calamine import CalamineWorkbook
        from .xlsxstream import (calamine_value, has_uncalculated, malformed_text,
                                 refuse_malformed_text, _NS_DECL, _PREFIXED_MAIN)
        carried = self._carried_parts(part, sheet_parts)
        next_row = 1
        for head, rows_xml in self._slices(part):
            numbers = _ROW_NUMBER.findall(rows_xml[:200]), _ROW_NUMBER.findall(rows_xml[-100_000:])
            if not numbers[0] or not numbers[1]:
                odd = True  # rows without numbers: the streaming reader counts them
            else:
                first, last = int(numbers[0][0]), int(numbers[1][-1])
                odd = (first < next_row or (last - first + 1) * 702 > 20_000_000
                       or b't="e"' in rows_xml or _FAR_COLUMN.search(rows_xml) is not None
                       or b"<row " != rows_xml.lstrip()[:5]
                       or ((b"<f" in rows_xml) and has_uncalculated(rows_xml)))
            if odd:
                wrap = b"<xlsheets-wrap " + b" ".join(_NS_DECL.findall(head)) + b">"
                for values in self.stream.rows_of_block(wrap, rows_xml.lstrip(), next_row):
                    next_row += 1
                    yield values
                continue
            # texts readers disagree on (as io._check_sheets_whole); namespaces are in the head
            if malformed_text(rows_xml, _PREFIXED_MAIN.search(head) is not None):
                refuse_malformed_text(self.name, part)
            book = _slice_book(carried, part, head, rows_xml)
            data = CalamineWorkbook.from_filelike(io.BytesIO(book)).get_sheet_by_name(sheet)
            del book
            start = data.start
            if start is None:
                continue
            while next_row <= start[0]:  # rows before the slice's first cell are empty
                yield []
                next_row += 1
            pad = [None] * start[1]
            for values in data.to_python(skip_empty_area=True):  # from the first cell on
                # calamine_value, inlined for the common case: text ("" is an empty cell)
                yield pad + [(v or None) if v.__class__ is str else calamine_value(v) for v in values]
                next_row += 1

    def _carried_parts(self, part: str, sheet_parts: set) -> dict[str, bytes]:
        """The parts every slice's workbook carries: all but worksheets (empty ones stand in)
        and large parts calamine does not read (pictures, printer settings)."""
        from .xlsxstream import _refuse_doctype
        carried = {}
        for info in self.zf.infolist():
            name = info.filename
            if name == part:
                continue
            if name in sheet_parts:
                carried[name] = _EMPTY_SHEET
            elif (name in _CARRIED or name.startswith("xl/") and name.count("/") == 1
                  or name.startswith("xl/_rels/") or name.startswith("xl/theme/")):
                if info.file_size > 64 << 20:
                    raise ValueError(f"part {name} is too large to carry")
                data = self.zf.read(name)
                if name.endswith((".xml", ".rels")):
                    _refuse_doctype(data[:65536], self.name, name)
                carried[name] = data
        return carried


def _slice_book(carried: dict[str, bytes], part: str, head: bytes, rows_xml: bytes) -> bytes:
    """A workbook (zip, stored) whose sheet ``part`` holds just ``rows_xml``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in carried.items():
            z.writestr(name, data)
        z.writestr(part, b"".join((head, b"<sheetData>", rows_xml, b"</sheetData></worksheet>")))
    return out.getvalue()
