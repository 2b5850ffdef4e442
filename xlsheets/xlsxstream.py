"""A pure-Python streaming reader for .xlsx/.xlsm sheets: rows straight from the zipped XML.

Why: openpyxl's read-only mode builds a cell object per cell and is slow (about 20 s for
100,000 rows x 26 columns); python-calamine is fast but compiled (not allowed in xlwings Lite)
and loads a whole sheet. This reader feeds the sheet XML, decompressed in 1 MB blocks, to the C
XML pull parser of the standard library and turns each finished ``<row>`` into a list of values,
so memory stays flat whatever the number of rows.

Values are what openpyxl (``data_only=True``) gives, the reference the tests compare against:
cached values, not formulas; ints and floats; datetimes (or times/timedeltas) for cells whose
style has a date format (built-in 14-22, 45-47 or a custom code with d/m/y/h/s, judged by
openpyxl's own functions); True/False; error text such as ``"#N/A"``; None for empty cells. A
row missing from the XML (sparse sheet) comes out as an empty list so row numbers stay right.
One difference: a formula saved without its value (written by a program, never calculated),
which openpyxl gives as None, is an :class:`~xlsheets.values.Uncalculated` marker here.

Safety: every part is read through a byte counter with a cap and a compression-ratio check, and
a DOCTYPE anywhere in a part is refused (no entity can be declared without one).
"""
from __future__ import annotations

import datetime as _dt
import posixpath
import re
import zipfile
from typing import Iterator, NamedTuple
from xml.etree.ElementTree import XMLPullParser, ParseError, fromstring

from .values import Uncalculated

__all__ = ["XlsxReader", "ColumnLayout", "calamine_value", "has_uncalculated", "malformed_text"]

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_STRICT_MAIN = "{http://purl.oclc.org/ooxml/spreadsheetml/main}"
_BLOCK = 1 << 20


class XlsxReader:
    """One workbook opened from a ``zipfile.ZipFile``: sheet names, then rows of a sheet."""

    def __init__(self, zf: zipfile.ZipFile, display_name: str = "", limits: dict | None = None):
        self.zf = zf
        self.name = display_name or (zf.filename or "workbook")
        limits = limits or {}
        self.max_part_bytes = limits.get("max_part_bytes", 4 << 30)
        self.max_ratio = limits.get("max_ratio", 200)
        self.ratio_exempt = limits.get("ratio_exempt_bytes", 16 << 20)
        self.max_columns = limits.get("max_columns", 16_384)
        self.max_rows = limits.get("max_rows", 1_048_576)
        self._sheets: list[tuple[str, str]] | None = None
        self._styles_read = False
        self._strings: list[str] | None = None
        self._date_styles: set[int] = set()
        self._timedelta_styles: set[int] = set()
        self._number_formats: dict[int, str] = {}  # style index -> format code, when not General
        self._epoch = None
        self._workbook_part = "xl/workbook.xml"

    # --- workbook structure -------------------------------------------------------------
    def sheet_names(self) -> list[str]:
        return [name for name, _ in self._sheet_parts()]

    def _sheet_parts(self) -> list[tuple[str, str]]:
        if self._sheets is None:
            self._workbook_part = self._office_document()
            rels = self._relationships(self._workbook_part)
            root = self._small_xml(self._workbook_part)
            ns = _STRICT_MAIN if root.tag.startswith(_STRICT_MAIN) else _MAIN
            pr = root.find(f"{ns}workbookPr")
            from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH
            date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
            self._epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
            sheets = []
            for el in root.iter(f"{ns}sheet"):
                rid = el.get(f"{_REL}id") or el.get("{http://purl.oclc.org/ooxml/officeDocument/relationships}id")
                target, kind = rels.get(rid, (None, ""))
                if target and kind.endswith("/worksheet") and target in self.zf.NameToInfo:
                    sheets.append((el.get("name", ""), target))
            self._sheets = sheets
        return self._sheets

    def _office_document(self) -> str:
        try:
            rels = self._relationships("")
        except KeyError:
            return "xl/workbook.xml"
        for target, kind in rels.values():
            if kind.endswith("/officeDocument"):
                return target
        return "xl/workbook.xml"

    def _relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """rId -> (part name in the zip, relationship type) for a part ("" = the package)."""
        folder, base = posixpath.split(part)
        rels_name = posixpath.join(folder, "_rels", base + ".rels") if part else "_rels/.rels"
        if rels_name not in self.zf.NameToInfo:
            if part:
                return {}
            raise KeyError(rels_name)
        out = {}
        for el in self._small_xml(rels_name).iter(f"{_PKG_REL}Relationship"):
            target = el.get("Target", "")
            if el.get("TargetMode") == "External":
                continue
            name = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
            out[el.get("Id")] = (name, el.get("Type", ""))
        return out

    def _small_xml(self, part: str):
        data = self._read_all(part, limit=64 << 20)
        _refuse_doctype(data, self.name, part)
        return fromstring(data)

    def _read_all(self, part: str, limit: int) -> bytes:
        info = self.zf.getinfo(part)
        if info.file_size > limit:
            from .io import InputError
            raise InputError(f"{self.name}: part {part} is {info.file_size >> 20} MB, too large "
                             "for its kind; refused as unsafe.")
        with self.zf.open(info) as f:
            return f.read(limit + 1)[:limit]

    # --- shared strings and styles ------------------------------------------------------
    def _load_tables(self) -> None:
        if self._strings is not None:
            return
        self._sheet_parts()
        strings: list[str] = []
        styles_part = None
        for target, kind in self._relationships(self._workbook_part).values():
            if kind.endswith("/sharedStrings") and target in self.zf.NameToInfo:
                strings = self._read_shared_strings(target)
            elif kind.endswith("/styles") and target in self.zf.NameToInfo:
                styles_part = target
        self._strings = strings
        if styles_part and not self._styles_read:
            self._read_styles(styles_part)
            self._styles_read = True

    def _read_shared_strings(self, part: str) -> list[str]:
        out: list[str] = []
        append = out.append
        for wrap_open, chunk in self._blocks(part, b"si", b"sst"):
            if malformed_text(chunk):
                refuse_malformed_text(self.name, part)
            for el in fromstring(wrap_open + chunk + b"</xlsheets-wrap>"):
                append(_string_item(el).replace("x005F_", ""))
        return out

    def _read_styles(self, part: str) -> None:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
        root = self._small_xml(part)
        ns = _STRICT_MAIN if root.tag.startswith(_STRICT_MAIN) else _MAIN
        custom = {}
        for fmt in root.iter(f"{ns}numFmt"):
            try:
                custom[int(fmt.get("numFmtId", "-1"))] = fmt.get("formatCode", "")
            except ValueError:
                continue
        xfs = root.find(f"{ns}cellXfs")
        if xfs is None:
            return
        for index, xf in enumerate(xfs.findall(f"{ns}xf")):
            try:
                fmt_id = int(xf.get("numFmtId", "0"))
            except ValueError:
                continue
            code = custom.get(fmt_id, BUILTIN_FORMATS.get(fmt_id))
            if code and code != "General":
                self._number_formats[index] = code
            if is_date_format(code):
                self._date_styles.add(index)
            if is_timedelta_format(code):
                self._timedelta_styles.add(index)

    # --- layout -------------------------------------------------------------------------
    def layout(self, sheet: str, sample_bytes: int = 1 << 20) -> "ColumnLayout":
        """The sheet's column widths (``<cols>``) and, per column, the number format most of
        its first cells use: what the report copies so the claims look as they did. Only the
        start of the part is read (the widths come before the rows)."""
        parts = dict(self._sheet_parts())
        if sheet not in parts:
            raise KeyError(sheet)
        for target, kind in self._relationships(self._workbook_part).values():
            if kind.endswith("/styles") and target in self.zf.NameToInfo and not self._styles_read:
                self._read_styles(target)
        self._styles_read = True
        with self.zf.open(parts[sheet]) as f:
            head = f.read(sample_bytes)
        _refuse_doctype(head[:65536], self.name, parts[sheet])
        widths: dict[int, float] = {}
        cols = _COLS.search(head)
        for m in _COL.finditer(cols.group(0) if cols else b""):
            attrs = dict(_ATTR.findall(m.group(1)))
            try:
                low, high = int(attrs[b"min"]), int(attrs[b"max"])
                width = float(attrs[b"width"])
            except (KeyError, ValueError):
                continue
            if attrs.get(b"hidden") in (b"1", b"true"):
                width = 0.0
            for index in range(max(low, 1) - 1, min(high, low + 16_384)):
                widths[index] = width
        counts: dict[int, dict[str, int]] = {}
        for letters, style in _STYLED_CELL.findall(head[head.find(b"<sheetData"):]):
            code = self._number_formats.get(int(style))
            if code:
                try:
                    col = _column_index(letters)
                except ValueError:
                    continue
                per = counts.setdefault(col, {})
                per[code] = per.get(code, 0) + 1
        formats = {col: max(per, key=per.get) for col, per in counts.items()}
        return ColumnLayout(widths, formats)

    # --- rows ---------------------------------------------------------------------------
    def rows(self, sheet: str) -> Iterator[list[object]]:
        """Every row of a sheet from row 1, values as openpyxl gives them (see module doc)."""
        parts = dict(self._sheet_parts())
        if sheet not in parts:
            raise KeyError(sheet)
        self._load_tables()
        return self._rows(parts[sheet])

    def rows_of_block(self, wrap_open: bytes, chunk: bytes, first_row: int) -> Iterator[list[object]]:
        """Rows of a piece of a sheet's ``<sheetData>`` (whole ``<row>`` elements), from sheet
        row ``first_row`` on: the chunked calamine reader hands over the pieces calamine would
        misread (error cells, formulas without values, far-flung cells)."""
        self._load_tables()
        return self._rows("", blocks=[(wrap_open, chunk)], next_row=first_row)

    def _rows(self, part: str, blocks=None, next_row: int = 1) -> Iterator[list[object]]:
        """Rows of one sheet part. Each block of rows takes the fast path (regular expressions
        over the bytes, for the plain layout Excel, xlsxwriter and openpyxl write) when it can;
        a row the pattern does not fully account for is parsed by the XML parser instead."""
        from openpyxl.utils.datetime import from_excel
        strings = self._strings
        n_strings = len(strings)
        date_styles, td_styles, epoch = self._date_styles, self._timedelta_styles, self._epoch
        max_columns = self.max_columns
        columns: dict = {}

        def column_of(letters) -> int:
            index = columns.get(letters)
            if index is None:
                index = 0
                text = letters.decode("ascii", "replace") if isinstance(letters, bytes) else letters
                for ch in text.upper():
                    if not "A" <= ch <= "Z":
                        raise ValueError(f"bad cell reference {text[:20]!r}")
                    index = index * 26 + ord(ch) - 64
                index -= 1
                if not 0 <= index < max_columns:
                    raise ValueError(f"cell reference {text[:20]!r} is beyond Excel's last column")
                columns[letters] = index
            return index

        def number(text, style):
            value = float(text) if (b"." in text or b"E" in text or b"e" in text) else int(text)
            if style and style in date_styles:
                try:
                    return from_excel(value, epoch, timedelta=style in td_styles)
                except (OverflowError, ValueError):
                    return "#VALUE!"  # as openpyxl: a date outside Excel's range
            return value

        date_style_ids = {str(i).encode() for i in date_styles}

        def shared(text):
            i = int(text)
            return strings[i] if 0 <= i < n_strings else None

        def fast_row(body: bytes) -> list[object] | None:
            """Values of a row body, or None when the pattern did not account for every cell."""
            values: list[object] = []
            cells = _CELL.findall(body)
            if len(cells) != body.count(b"<c"):
                return None
            for letters, style, kind, v, inline in cells:
                col = columns.get(letters)
                if col is None:
                    col = column_of(letters)
                if kind == b"s":
                    try:
                        value = strings[int(v)] if v else None
                    except IndexError:
                        value = None
                elif not kind or kind == b"n":
                    if not v:
                        value = None
                    elif style in date_style_ids:
                        value = number(v, int(style))
                    else:
                        value = float(v) if (b"." in v or b"E" in v or b"e" in v) else int(v)
                elif kind == b"inlineStr":
                    value = _text(inline) if b"&" in inline or b"\r" in inline else inline.decode()
                elif kind == b"b":
                    value = bool(int(v)) if v else None
                elif kind == b"d":
                    from openpyxl.utils.datetime import from_ISO8601
                    value = from_ISO8601(_text(v)) if v else None
                else:  # "str" (formula text result), "e" (error such as #N/A)
                    value = _text(v) or None
                n = len(values)
                if col == n:
                    values.append(value)
                elif col > n:
                    values.extend([None] * (col - n))
                    values.append(value)
                else:
                    values[col] = value
            return values

        def mark_uncalculated(body: bytes, values: list[object]) -> list[object] | None:
            """The fast row with its formulas saved without a value marked; None (the XML
            parser reads the row) when the plain pattern does not account for every one."""
            cells = _FAST_FORMULA.findall(body)
            if len(cells) != body.count(b"<f"):
                return None
            for letters, attrs, formula, v_element, v in cells:
                if v or (v_element and _TEXT_TYPE.search(attrs)):
                    continue  # a value, or a formula whose result is "" (calculated, and blank)
                values[column_of(letters)] = Uncalculated(_text(formula))
            return values

        def tree_row(el, ns) -> list[object]:
            c_tag, v_tag, is_tag, t_tag, f_tag = f"{ns}c", f"{ns}v", f"{ns}is", f"{ns}t", f"{ns}f"
            values: list[object] = []
            col = -1
            for c in el:
                if c.tag != c_tag:
                    continue
                ref = c.get("r")
                col = column_of(ref.rstrip("0123456789")) if ref else col + 1
                kind = c.get("t", "n")
                if kind == "inlineStr":
                    node = c.find(is_tag)
                    value = _string_item(node) if node is not None else None
                else:
                    text = c.findtext(v_tag)
                    if not text:
                        value = None
                        # a formula saved without its result (no <v>, or an empty one where the
                        # result is not text): a program wrote it and nothing calculated it
                        if (text is None or kind != "str") and (f := c.find(f_tag)) is not None:
                            value = Uncalculated(f.text or "")
                    elif kind == "n":
                        value = number(text.encode(), int(c.get("s") or 0))
                    elif kind == "s":
                        value = shared(text)
                    elif kind == "b":
                        value = bool(int(text))
                    elif kind == "d":
                        from openpyxl.utils.datetime import from_ISO8601
                        value = from_ISO8601(text)
                    else:
                        value = text
                n = len(values)
                if col == n:
                    values.append(value)
                elif col > n:
                    values.extend([None] * (col - n))
                    values.append(value)
                else:
                    values[col] = value
            return values

        for wrap_open, chunk in (blocks if blocks is not None else self._blocks(part, b"row", b"sheetData")):
            uncalculated = False
            if wrap_open.startswith(b"<xlsheets-wrap") and b"<row" in chunk[:5] and not (
                    b"<!--" in chunk or b"<![CDATA[" in chunk or b"<?" in chunk):
                items = _ROW.findall(chunk)  # (attributes, body) per row
                if len(items) != chunk.count(b"<row"):
                    items = None
                uncalculated = b"<f" in chunk and _formula_without_value(chunk)
            else:
                items = None
            if items is None:  # unusual layout: the XML parser reads the whole block
                if malformed_text(chunk):
                    refuse_malformed_text(self.name, part)
                root = fromstring(wrap_open + chunk + b"</xlsheets-wrap>")
                items = [(None, el) for el in root]
            for attrs, body in items:
                if attrs is None:  # a parsed element
                    el = body
                    tag = el.tag
                    ns = tag[:tag.index("}") + 1] if tag.startswith("{") else ""
                    if tag != f"{ns}row":
                        continue
                    r = el.get("r")
                    values = None
                else:
                    m = _ROW_NUMBER.search(attrs)
                    r = m.group(1) if m else None
                    values = fast_row(body) if body else []
                    if values and uncalculated and b"<f" in body:
                        values = mark_uncalculated(body, values)
                    if values is None:
                        raw = b"<row" + attrs + b">" + body + b"</row>"
                        if malformed_text(raw):
                            refuse_malformed_text(self.name, part)
                        el = fromstring(wrap_open + raw + b"</xlsheets-wrap>")[0]
                        tag = el.tag
                        ns = tag[:tag.index("}") + 1] if tag.startswith("{") else ""
                number_ = int(r) if r else next_row
                if number_ > self.max_rows:
                    from .io import InputError
                    raise InputError(f"{self.name}: a row numbered {number_:,} is beyond Excel's "
                                     f"last row ({self.max_rows:,}); the file was not written by "
                                     "Excel. Split the claims into smaller workbooks.")
                if number_ < next_row:
                    raise ValueError(f"row {number_} comes after row {next_row - 1}")
                while next_row < number_:  # rows absent from the XML are empty
                    yield []
                    next_row += 1
                next_row = number_ + 1
                yield values if values is not None else tree_row(el, ns)

    def checked_blocks(self, part: str, encoding: bool = True) -> Iterator[bytes]:
        """The part's unpacked XML a block at a time, ending with ``b""``; every reader of a part
        goes through here, so each refuses the same things as it reads: a DOCTYPE or entity, an
        encoding the block parsers cannot read, and more bytes than the limits allow (a zip bomb)."""
        from .io import InputError
        info = self.zf.getinfo(part)
        produced = 0
        with self.zf.open(info) as f:
            first = True
            while True:
                block = f.read(_BLOCK)
                if first:
                    _refuse_doctype(block[:65536], self.name, part)
                    if encoding:
                        _check_encoding(block, self.name, part)
                    first = False
                elif b"<!DOCTYPE" in block or b"<!ENTITY" in block:
                    _refuse_doctype(block, self.name, part)
                produced += len(block)
                if produced > self.max_part_bytes or (
                        produced > self.ratio_exempt and produced > self.max_ratio * max(info.compress_size, 1)):
                    raise InputError(f"{self.name}: part {part} unpacks to more than its declared "
                                     "size allows; refused as unsafe (a zip bomb?).")
                yield block
                if not block:
                    return

    def _blocks(self, part: str, item: bytes, container: bytes):
        """The part's ``item`` elements (rows, shared strings), parsed a block at a time.

        The decompressed XML is cut after the last complete ``</item>`` of each 1 MB block; the
        cut text is wrapped in an element carrying the part's namespace declarations and parsed
        by the C parser in one call, which is several times faster than a pull parser's events.
        """
        started = False
        wrap_open = b""
        end_tag = close_container = b""
        buf = b""
        for block in self.checked_blocks(part):
            buf += block
            if not started:
                root = _ROOT_TAG.search(buf)
                m = re.search(rb"<([A-Za-z_][\w.-]*:)?" + item + rb"[\s/>]", buf) if root else None
                if m is None:
                    if not block:
                        return
                    continue
                prefix = m.group(1) or b""
                decls = b" ".join(_NS_DECL.findall(root.group(0)))
                wrap_open = b"<xlsheets-wrap " + decls + b">"
                end_tag = b"</" + prefix + item + b">"
                close_container = b"</" + prefix + container + b">"
                buf = buf[m.start():]
                started = True
            done = close_container in buf
            if done or not block:
                cut = buf.find(close_container)
                chunk, buf = (buf[:cut] if cut >= 0 else buf), b""
            else:
                cut = buf.rfind(end_tag)
                if cut < 0:
                    continue
                cut += len(end_tag)
                chunk, buf = buf[:cut], buf[cut:]
            if chunk.strip():
                yield wrap_open, chunk
            if done or not block:
                return

    def _iter_elements(self, part: str, row_tags: tuple[str, ...] | None = None):
        """Finished elements of a part, parsed in blocks; for sheets only ``<row>`` elements.

        Elements are detached as soon as they are handed out, so memory does not grow with the
        part's size. The caller clears what it keeps.
        """
        parser = XMLPullParser(events=("start", "end"))
        parents: list = []
        for block in self.checked_blocks(part, encoding=False):  # the pull parser reads the declaration
            if block:
                parser.feed(block)
            else:
                parser.close()
            for event, el in parser.read_events():
                if event == "start":
                    parents.append(el)
                    continue
                parents.pop()
                if row_tags is None:
                    yield el
                    if parents and len(parents) == 1:
                        parents[0].remove(el)  # detach direct children of the root
                elif el.tag in row_tags:
                    yield el
                    if parents:
                        parents[-1].remove(el)
            if not block:
                break

    def close(self) -> None:
        self._strings = None


class ColumnLayout(NamedTuple):
    """Column widths (characters) and number format codes of a sheet, by 0-based column."""

    widths: dict
    formats: dict


_COLS = re.compile(rb"<(?:[\w.-]+:)?cols\b.*?</(?:[\w.-]+:)?cols>", re.S)
_COL = re.compile(rb"<(?:[\w.-]+:)?col\b([^>]*)/?>")
_ATTR = re.compile(rb'([\w:]+)\s*=\s*["\']([^"\']*)["\']')
_STYLED_CELL = re.compile(rb'<(?:[\w.-]+:)?c r="([A-Z]{1,3})\d+" s="(\d+)"')


def _column_index(letters: bytes) -> int:
    index = 0
    for ch in letters.decode("ascii"):
        index = index * 26 + ord(ch) - 64
    if not 1 <= index <= 16_384:
        raise ValueError(letters)
    return index - 1


def _string_item(el) -> str:
    """Text of a shared or inline string (``<si>``/``<is>``): plain text plus rich-text runs,
    leaving out phonetic guides (``<rPh>``), as openpyxl does."""
    parts = []
    for child in el:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for t in child:
                if t.tag.rsplit("}", 1)[-1] == "t":
                    parts.append(t.text or "")
    return "".join(parts)


_P = rb"(?:[\w.-]+:)?"  # a namespace prefix
_TEXT_MARKUP = re.compile(  # an element (or comment) inside a <t> or <v>: only text belongs there
    rb"<" + _P + rb"[tv](?:\s[^>]*?)?(?<!/)>[^<]*<(?!/" + _P + rb"[tv]\b|!\[CDATA\[)")
_TEXT_ORDER = re.compile(  # <t> after a <t> or a rich-text run <r>: one plain text, then runs
    rb"</" + _P + rb"[tr]\s*>\s*<" + _P + rb"t[\s>/]")
_RUN_IN_RUN = re.compile(
    rb"<" + _P + rb"r(?:\s[^>]*?)?(?<!/)>(?:[^<]|<(?!/?" + _P + rb"r[\s>/]))*<" + _P + rb"r[\s>/]")


# The same, for XML whose spreadsheet elements carry no prefix (what every writer produces):
# literal starts let the regular expression engine skip ahead, several times faster.
_PLAIN_CHECKS = tuple(re.compile(p) for p in (
    rb"<t>[^<]*<(?!/t>|!\[CDATA\[)", rb"<t\s[^>]*(?<!/)>[^<]*<(?!/t>|!\[CDATA\[)", rb"<v>[^<]*<(?!/v>)",
    rb"</t>\s*<t[\s>/]", rb"</r>\s*<t[\s>/]"))
_PREFIXED_MAIN = re.compile(  # the spreadsheet namespace bound to a prefix: <x:t> may follow
    rb"""xmlns:[\w.-]+\s*=\s*["'](?:http://schemas\.openxmlformats\.org/spreadsheetml/2006/main"""
    rb"""|http://purl\.oclc\.org/ooxml/spreadsheetml/main)["']""")


def malformed_text(data: bytes, prefixed: bool | None = None) -> bool:
    """Whether XML holds a text (shared or inline string, cell value) in a shape Excel never
    writes and readers read differently: an element inside ``<t>`` or ``<v>``, a second
    ``<t>``, a ``<t>`` after a rich-text run, a run inside a run. python-calamine, openpyxl and
    this reader would each give a different text for the same cell, so such a file is refused
    as damaged whichever reader its size picks. ``prefixed``: whether the part binds the
    spreadsheet namespace to a prefix (None: judged from ``data``)."""
    if b"<" not in data:
        return False
    if prefixed is None:
        prefixed = _PREFIXED_MAIN.search(data) is not None
    runs = b"<r>" in data or b":r>" in data or b"<r " in data
    if not prefixed:
        return any(rx.search(data) for rx in _PLAIN_CHECKS) or (runs and bool(_RUN_IN_RUN.search(data)))
    return bool(_TEXT_MARKUP.search(data) or _TEXT_ORDER.search(data)
                or runs and _RUN_IN_RUN.search(data))


def refuse_malformed_text(name: str, part: str) -> None:
    """Raise the InputError for a part where :func:`malformed_text` found a text Excel never writes."""
    from .io import InputError
    raise InputError(f"{name} is damaged: part {part} has a text cell holding markup Excel never "
                     "writes there (an element inside a text, or text pieces out of order), which "
                     "readers would read differently. Open it in Excel and save it again, or "
                     "export the claims again.")


def _refuse_doctype(data: bytes, name: str, part: str) -> None:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        from .io import InputError
        raise InputError(f"{name}: part {part} declares a DOCTYPE or an XML entity, which Excel "
                         "never writes; refused as unsafe (entity expansion or external entity "
                         "attack). Re-save the workbook in Excel.")


# The plain layout of rows and cells, attributes in the order Excel writes them (r, s, t).
_ROW = re.compile(rb"<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.S)
_ROW_NUMBER = re.compile(rb"""(?:^|\s)r\s*=\s*["'](\d+)["']""")
_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"(?: s="(\d+)")?(?: t="(\w+)")?(?: (?![rst]=)[\w:]+="[^"]*")*\s*'
    rb'(?:/>|>(?:<f\b[^>]*?(?:/>|>[^<]*</f>))?(?:<v>([^<]*)</v>|<is><t\b[^>]*>([^<]*)</t></is>)?</c>)')
# A formula cell without a value: nothing, <v/> or <v></v> between the formula and </c> (any
# namespace prefix). An empty <v> is a real "" when the cell's type is str (a formula giving "").
_NO_VALUE = re.compile(
    rb"(?:</(?:[\w.-]+:)?f>|<(?:[\w.-]+:)?f\b[^>]*/>)\s*"
    rb"(<(?:[\w.-]+:)?v\s*/>|<(?:[\w.-]+:)?v>\s*</(?:[\w.-]+:)?v>)?\s*</(?:[\w.-]+:)?c>")
# Formula cells in the plain layout of the fast path: (column, attributes, formula, <v>, value).
_FAST_FORMULA = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"([^>]*)>(?:<f\b[^>]*/>|<f\b[^>]*>([^<]*)</f>)(<v>([^<]*)</v>)?</c>')
_CELL_OPEN = re.compile(rb"<(?:[\w.-]+:)?c\b[^>]*>")
_TEXT_TYPE = re.compile(rb"""\st\s*=\s*["']str["']""")


def _formula_without_value(data: bytes) -> bool:
    """Whether sheet XML holds a formula cell saved without its value. Errs on the side of yes
    (the caller then reads more carefully), never of no."""
    for m in _NO_VALUE.finditer(data):
        if m.group(1) is None:
            return True  # no <v> at all
        opens = list(_CELL_OPEN.finditer(data, max(0, m.start() - 4096), m.start()))
        cell = opens[-1] if opens else None
        if (cell is None or cell.group(0).endswith(b"/>") or b"</" in data[cell.end():m.start()]
                or not _TEXT_TYPE.search(cell.group(0))):
            return True  # an empty <v> where the result is not text (or the cell is not found)
    return False


def has_uncalculated(source) -> bool:
    """Whether sheet XML (bytes, or a binary file read in 1 MB blocks) may hold a formula cell
    saved without its value: readers that cannot tell such a cell from a blank one
    (python-calamine) are then not used, and openpyxl looks closer."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return (b"<f" in source or b":f" in source) and _formula_without_value(bytes(source))
    tail = b""
    while block := source.read(_BLOCK):
        data = tail + block
        if (b"<f" in data or b":f" in data) and _formula_without_value(data):
            return True
        tail = data[-8192:]
    return False


_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _text(raw: bytes) -> str:
    """XML character data as the parser would give it: line ends folded, entities replaced."""
    text = raw.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    return text


def _entity(m) -> str:
    name = m.group(1)
    if name[0] == "#":
        return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))
    return _ENTITIES[name]


_ROOT_TAG = re.compile(rb"<[A-Za-z_][^\s>/?!]*[^>]*>")  # the first element's start tag
_NS_DECL = re.compile(rb"""xmlns(?::[\w.-]+)?\s*=\s*(?:"[^"]*"|'[^']*')""")


def _check_encoding(head: bytes, name: str, part: str) -> None:
    """Excel writes UTF-8; the block cutting relies on it, so anything else is refused."""
    decl = re.match(rb"""\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)""", head)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (decl and decl.group(1).lower() not in (b"utf-8", b"utf8")):
        from .io import InputError
        raise InputError(f"{name}: part {part} is not UTF-8 encoded, which Excel always uses. "
                         "Open the file in Excel and save it again.")


def calamine_value(value: object) -> object:
    """A python-calamine cell as openpyxl gives it: "" is an empty cell (None), whole floats
    become ints (Excel writes whole numbers without a decimal point, and openpyxl reads them
    as ints), dates become datetimes."""
    if value == "":
        return None
    if type(value) is float:
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if type(value) is _dt.date:
        return _dt.datetime(value.year, value.month, value.day)
    return value


# Parse errors surface to xlsheets.io as damaged-file messages.
ParseError = ParseError
