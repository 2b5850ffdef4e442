"""Reading claim sheets: the streaming xlsx reader against openpyxl, CSV forms, header finding.

``make_xlsx`` writes workbooks part by part (zipfile + hand-written XML), so the tests control
exactly what the reader meets; test_hostile_files.py builds its broken files with it too.
"""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest

from xlsheets.io import InputError, open_sheet

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
# cellXfs: 0 general, 1 built-in date 14, 2 custom "dd/mm/yyyy" (164), 3 custom "0.00" (165),
# 4 built-in time 20 (h:mm), 5 built-in [h]:mm:ss 46
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{MAIN}"><numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>
<numFmt numFmtId="165" formatCode="0.00"/></numFmts>
<fonts count="1"><font/></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf/></cellStyleXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles><cellXfs count="6"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>
<xf numFmtId="164" applyNumberFormat="1"/><xf numFmtId="165" applyNumberFormat="1"/>
<xf numFmtId="20" applyNumberFormat="1"/><xf numFmtId="46" applyNumberFormat="1"/></cellXfs>
</styleSheet>"""


def cell(ref: str, value, style: int | None = None, kind: str | None = None) -> str:
    """One ``<c>`` element; strings inline unless kind="s" (then value is the index)."""
    s = f' s="{style}"' if style is not None else ""
    r = f' r="{ref}"' if ref else ""
    if value is None:
        return f"<c{r}{s}/>"
    if kind == "inlineStr" or (kind is None and isinstance(value, str)):
        return f'<c{r}{s} t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
    if isinstance(value, bool):
        return f'<c{r}{s} t="b"><v>{int(value)}</v></c>'
    if kind:
        return f'<c{r}{s} t="{kind}"><v>{escape(str(value))}</v></c>'
    return f"<c{r}{s}><v>{value}</v></c>"


def row_xml(number: int | None, cells: list[str]) -> str:
    r = f' r="{number}"' if number else ""
    return f"<row{r}>{''.join(cells)}</row>"


def sheet_xml(rows: list[str], tail: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}" '
            f'xmlns:r="{REL}"><sheetData>{"".join(rows)}</sheetData>{tail}</worksheet>')


def simple_rows(values: list[list[object]]) -> list[str]:
    """Rows of values written with cell references, inline strings, None skipped."""
    out = []
    for r, vals in enumerate(values, 1):
        out.append(row_xml(r, [cell(f"{col_letter(c)}{r}", v) for c, v in enumerate(vals) if v is not None]))
    return out


def col_letter(index: int) -> str:
    s, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        s = chr(65 + rem) + s
    return s


def make_xlsx(path: Path, sheets: dict[str, str], shared: list[str] | None = None,
              styles: str = STYLES, extra: dict[str, bytes | str] | None = None,
              replace: dict[str, bytes | str] | None = None, date1904: bool = False,
              compression=zipfile.ZIP_DEFLATED) -> Path:
    """A workbook from sheet XML texts (name -> worksheet XML), as Excel lays it out."""
    parts: dict[str, bytes | str] = {}
    overrides = [f'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>',
                 '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>']
    rels = [f'<Relationship Id="rIdS" Type="{REL}/styles" Target="styles.xml"/>']
    entries = []
    for i, (name, xml) in enumerate(sheets.items(), 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = xml
        overrides.append(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
        rels.append(f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>')
        entries.append(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>')
    if shared is not None:
        items = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in shared)
        parts["xl/sharedStrings.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns="{MAIN}" '
                                         f'count="{len(shared)}" uniqueCount="{len(shared)}">{items}</sst>')
        overrides.append('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
        rels.append(f'<Relationship Id="rIdSS" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>')
    pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    parts["xl/workbook.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?>\n<workbook xmlns="{MAIN}" '
                                f'xmlns:r="{REL}">{pr}<sheets>{"".join(entries)}</sheets></workbook>')
    parts["xl/_rels/workbook.xml.rels"] = f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="{PKG}">{"".join(rels)}</Relationships>'
    parts["xl/styles.xml"] = styles
    parts["_rels/.rels"] = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="{PKG}">'
                            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    parts["[Content_Types].xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>' + "".join(overrides) + "</Types>")
    parts.update(replace or {})
    parts.update(extra or {})
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def openpyxl_rows(path: Path, sheet: str | None = None) -> list[list[object]]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        return [trim(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def trim(row) -> list[object]:
    row = list(row)
    while row and row[-1] is None:
        row.pop()
    return row


def stream_rows(path: Path, sheet: str | None = None) -> list[list[object]]:
    from xlsheets.xlsxstream import XlsxReader
    with zipfile.ZipFile(path) as zf:
        book = XlsxReader(zf)
        return [trim(r) for r in book.rows(sheet or book.sheet_names()[0])]


HEADER = ["Claim ID", "DOS", "Dx1", "Dx2", "CPT1", "Units", "Trauma"]


# --- the streaming reader gives what openpyxl gives ----------------------------------------
def test_every_cell_type_matches_openpyxl(tmp_path):
    shared = ["Claim ID", "DOS", "Dx1", "Dx2", "CPT1", "Units", "Trauma", "M54.17", "a &amp; b <x>"]
    rows = [
        row_xml(1, [cell(f"{col_letter(i)}1", i, kind="s") for i in range(7)]),
        row_xml(2, [cell("A2", "C1"), cell("B2", 46091, style=1), cell("C2", 7, kind="s"),
                    cell("D2", "#N/A", kind="e"), cell("E2", "72148", kind="str"),
                    cell("F2", 2.5), cell("G2", True)]),
        # custom date format, a time, a duration, a number format that is not a date, booleans
        row_xml(3, [cell("A3", "C2"), cell("B3", 46091.5, style=2), cell("C3", 0.75, style=4),
                    cell("D3", 1.25, style=5), cell("E3", 64483, style=3), cell("F3", "1E3"),
                    cell("G3", False)]),
        # a sparse row: only column E, and cells without an r attribute
        row_xml(5, [cell("E5", "x")]),
        row_xml(6, [cell("", "no ref 1"), cell("", 42), cell("", 8, kind="s")]),
        # an empty <v>, an error string, a formula with its cached value
        row_xml(7, ['<c r="A7"><v></v></c>', cell("B7", "#DIV/0!", kind="e"),
                    '<c r="C7"><f>1+1</f><v>2</v></c>', '<c r="D7" t="str"><f>A1</f><v>Claim ID</v></c>',
                    '<c r="E7" t="inlineStr"><is><r><t>rich </t></r><r><rPr/><t>text</t></r></is></c>']),
    ]
    path = make_xlsx(tmp_path / "types.xlsx", {"Claims": sheet_xml(rows)}, shared=shared)
    ours, ref = stream_rows(path), openpyxl_rows(path)
    assert ours == ref
    # spot checks of what a claim parser relies on
    assert ours[1][1] == dt.datetime(2026, 3, 10) and ours[1][3] == "#N/A" and ours[1][6] is True
    assert ours[2][1] == dt.datetime(2026, 3, 10, 12) and ours[2][4] == 64483
    assert ours[3] == []  # row 4 is absent from the XML: an empty row keeps numbering
    assert ours[6][2] == 2 and ours[6][4] == "rich text" and ours[0][8:] == []


def test_date1904_workbooks_match_openpyxl(tmp_path):
    rows = [row_xml(1, [cell("A1", "DOS"), cell("B1", "Dx1")]),
            row_xml(2, [cell("A2", 44629, style=1), cell("B2", "M54.17")])]
    path = make_xlsx(tmp_path / "mac.xlsx", {"S": sheet_xml(rows)}, date1904=True)
    assert stream_rows(path) == openpyxl_rows(path)
    assert stream_rows(path)[1][0] == dt.datetime(2026, 3, 10)


def test_generated_workbook_matches_openpyxl(tmp_path):
    """A workbook written by xlsxwriter (shared strings, formats) reads the same both ways."""
    import xlsxwriter
    path = tmp_path / "gen.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Claims")
    date_fmt = wb.add_format({"num_format": "mm/dd/yyyy"})
    ws.write_row(0, 0, HEADER)
    for r in range(1, 300):
        ws.write_row(r, 0, [f"C{r}", None, "M54.17" if r % 2 else "M51.16", None if r % 3 else "G89.29",
                            64483 + r % 2, r % 4, r % 5 == 0])
        ws.write_datetime(r, 1, dt.datetime(2026, 1, 1) + dt.timedelta(days=r), date_fmt)
    ws.write_formula(301, 0, "=NA()", None, "#N/A")
    ws.write_string(302, 2, "=cmd|' /C calc'!A0")
    wb.close()
    ours = stream_rows(path)
    assert ours == openpyxl_rows(path)
    assert ours[301][0] == "#N/A" and ours[302][2].startswith("=cmd")


# --- open_sheet ---------------------------------------------------------------------------
def test_open_sheet_finds_header_below_title_rows_and_skips_other_sheets(tmp_path):
    notes = sheet_xml(simple_rows([["Read me"], ["This workbook holds claims"]]))
    claims = sheet_xml(simple_rows([["March claims export"], [], HEADER, ["C1", "2026-03-10", "M54.17"]]))
    path = make_xlsx(tmp_path / "w.xlsx", {"Notes": notes, "Claims": claims})
    with open_sheet(path, reader="xlsxstream") as sheet:
        assert (sheet.name, sheet.header_row, sheet.reader) == ("Claims", 3, "xlsxstream")
        assert sheet.header == HEADER
        assert [r[:3] for r in sheet.rows] == [["C1", "2026-03-10", "M54.17"]]


def test_open_sheet_by_name_and_unknown_name(tmp_path):
    data = sheet_xml(simple_rows([HEADER, ["C9"]]))
    path = make_xlsx(tmp_path / "w.xlsx", {"Jan": data, "Feb": data})
    with open_sheet(path, sheet="feb") as sheet:
        assert sheet.name == "Feb"
    with pytest.raises(InputError, match="no sheet named 'Mar'.*'Jan', 'Feb'"):
        with open_sheet(path, sheet="Mar"):
            pass


@pytest.mark.parametrize("reader", ["openpyxl", "xlsxstream"])
def test_readers_agree_through_open_sheet(tmp_path, reader):
    rows = simple_rows([HEADER, ["C1", None, "M54.17"], [], ["C3", None, None, None, 64483]])
    path = make_xlsx(tmp_path / "w.xlsx", {"Claims": sheet_xml(rows)})
    with open_sheet(path, reader=reader) as sheet:
        got = [trim(r) for r in sheet.rows]
    assert got == [["C1", None, "M54.17"], [], ["C3", None, None, None, 64483]]


def _csv(tmp_path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("data,delimiter", [
    ("\ufeffClaim ID,DOS,Dx1\r\nC1,03/10/2026,M54.17\r\n".encode("utf-8"), "BOM comma"),
    ("Claim ID;DOS;Dx1\nC1;03/10/2026;M54.17\n".encode("utf-8"), "semicolon"),
    ("Claim ID\tDOS\tDx1\nC1\t03/10/2026\tM54.17\n".encode("utf-8"), "tab"),
    ("Claim ID,DOS,Dx1\nC1,03/10/2026,\"M54.17\"\n".encode("cp1252"), "plain"),
])
def test_csv_forms(tmp_path, data, delimiter):
    path = _csv(tmp_path, "claims.csv", data)
    with open_sheet(path) as sheet:
        assert sheet.reader == "csv" and sheet.header == ["Claim ID", "DOS", "Dx1"]
        assert list(sheet.rows) == [["C1", "03/10/2026", "M54.17"]], delimiter


def test_csv_cp1252_text_is_decoded_not_lost(tmp_path):
    path = _csv(tmp_path, "claims.txt", "Claim ID,Provider,Dx1\nC1,Dr Müller – spine,M54.17\n".encode("cp1252"))
    with open_sheet(path) as sheet:
        assert next(sheet.rows)[1] == "Dr Müller – spine"


def test_csv_empty_cells_are_none(tmp_path):
    path = _csv(tmp_path, "c.csv", b"Claim ID,Dx1,Dx2\nC1,M54.17,\n")
    with open_sheet(path) as sheet:
        assert next(sheet.rows) == ["C1", "M54.17", None]


def test_unusual_but_valid_xml_layouts_match_openpyxl(tmp_path):
    """Prefixed namespaces, other attribute orders, whitespace, comments and CDATA take the
    XML-parser path and still give openpyxl's values."""
    prefixed = (f'<?xml version="1.0" encoding="UTF-8"?>\n<x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
                '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Dx1</x:t></x:is></x:c></x:row>'
                '<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>M54.17</x:t></x:is></x:c>'
                '<x:c r="B2" s="1"><x:v>46091</x:v></x:c></x:row></x:sheetData></x:worksheet>')
    odd = sheet_xml([
        row_xml(1, [cell("A1", "Dx1"), cell("B1", "Notes")]),
        '<row r="2">\n  <c t="s" r="A2"><v>0</v></c>\n  <c s="1" r="B2"><v>46091</v></c>\n</row>',
        '<row r="3"><!-- <c r="A3"><v>99</v></c> --><c r="B3" t="inlineStr"><is><t><![CDATA[a<b]]></t></is></c></row>',
        '<row r="4"><c r="A4" t="str"><v>x &amp; y &#10;z\r\nw</v></c><c r="B4" t="inlineStr" cm="1"><is><t>&lt;ok&gt;</t></is></c></row>',
        '<row r="5" spans="1:2"/>',
        '<row r="6"><c r="A6" t="e" vm="1"><v>#REF!</v></c></row>',
    ])
    path = make_xlsx(tmp_path / "odd.xlsx", {"P": prefixed, "O": odd}, shared=["M51.16"])
    for name in ("P", "O"):
        assert stream_rows(path, name) == openpyxl_rows(path, name)
    got = stream_rows(path, "O")
    assert got[2] == [None, "a<b"] and got[3] == ["x & y \nz\nw", "<ok>"] and got[5] == ["#REF!"]


def test_calamine_reader_agrees_when_installed(tmp_path):
    pytest.importorskip("python_calamine")
    rows = simple_rows([HEADER, ["C1", None, "M54.17", "#N/A", 64483, 2, True], [],
                        ["C3", None, None, None, 64483.5]])
    rows[1] = rows[1].replace("</row>", cell("B2", 46091, style=1) + "</row>")
    path = make_xlsx(tmp_path / "w.xlsx", {"Claims": sheet_xml(rows)})
    with open_sheet(path, reader="calamine") as sheet:
        got = [trim(r) for r in sheet.rows]
    with open_sheet(path, reader="xlsxstream") as sheet:
        assert got == [trim(r) for r in sheet.rows]
    assert got[0][1] == dt.datetime(2026, 3, 10) and got[0][4] == 64483 and type(got[0][4]) is int


def test_large_files_are_read_by_calamine_in_slices_or_streamed(tmp_path, monkeypatch):
    """Above the in-memory limit calamine reads a slice of rows at a time; with huge shared
    strings (parsed again per slice) or without calamine, the streaming reader does."""
    from xlsheets import io, calamine_chunks
    monkeypatch.delenv("XLSHEETS_READER", raising=False)
    monkeypatch.setattr(io, "CALAMINE_MAX_FILE_BYTES", 0)
    path = make_xlsx(tmp_path / "w.xlsx", {"Claims": sheet_xml(simple_rows([HEADER, ["C1"]]))})
    pytest.importorskip("python_calamine")
    with open_sheet(path) as sheet:
        assert sheet.reader == "calamine-chunks" and list(sheet.rows)[0][0] == "C1"
    monkeypatch.setattr(calamine_chunks, "MAX_SHARED_STRINGS_BYTES", -1)
    with open_sheet(path) as sheet:
        assert sheet.reader == "xlsxstream"
    monkeypatch.setitem(__import__("sys").modules, "python_calamine", None)  # as in Pyodide
    monkeypatch.setattr(calamine_chunks, "MAX_SHARED_STRINGS_BYTES", 1 << 30)
    with open_sheet(path) as sheet:
        assert sheet.reader == "xlsxstream"


def test_calamine_slices_give_the_streaming_readers_values(tmp_path, monkeypatch):
    """Slices of a few rows each, some holding what calamine misreads (an error cell, a
    formula saved without its value, a cell beyond column ZZ), others plain; shared strings,
    dates, gaps between rows and rows not starting in column A: row for row, value for value,
    the same as the streaming reader."""
    pytest.importorskip("python_calamine")
    from xlsheets import calamine_chunks
    from xlsheets.values import Uncalculated
    monkeypatch.setattr(calamine_chunks, "SLICE_BYTES", 600)
    monkeypatch.setattr(calamine_chunks, "FIRST_SLICE_BYTES", 300)
    rows = [row_xml(1, [cell(f"{col_letter(c)}1", v) for c, v in enumerate(HEADER)])]
    number = 2
    for i in range(60):
        cells = [cell(f"A{number}", f"C{i}"), cell(f"B{number}", 46091 + i, style=1),
                 cell(f"C{number}", 0, kind="s"), cell(f"E{number}", 64483 + i % 3)]
        if i == 17:
            cells.append(cell(f"F{number}", "#N/A", kind="e"))
        if i == 33:
            cells.append(f'<c r="F{number}"><f>TODAY()</f></c>')
        if i == 41:
            cells.append(cell(f"AAB{number}", "far"))
        if i == 50:
            cells = cells[1:]  # a row not starting in column A
        rows.append(row_xml(number, cells))
        number += 1 if i % 7 else 3  # gaps: rows absent from the XML are empty rows
    path = make_xlsx(tmp_path / "w.xlsx", {"Claims": sheet_xml(rows)}, shared=["M54.17"])
    read_by_calamine = []
    slice_book = calamine_chunks._slice_book
    monkeypatch.setattr(calamine_chunks, "_slice_book",
                        lambda *a: read_by_calamine.append(1) or slice_book(*a))
    with open_sheet(path, reader="calamine-chunks") as sheet:
        got = [trim(r) for r in sheet.rows]
    assert len(read_by_calamine) > 5  # most slices; the odd ones went to the streaming reader
    with open_sheet(path, reader="xlsxstream") as sheet:
        want = [trim(r) for r in sheet.rows]
    assert got == want and len(got) > 60
    assert any(v == "#N/A" for r in got for v in r)
    assert any(isinstance(v, Uncalculated) for r in got for v in r)
    assert got[0][1] == dt.datetime(2026, 3, 10) and got[0][2] == "M54.17"


def test_error_cells_are_never_read_by_calamine(tmp_path, monkeypatch):
    """calamine turns #N/A into an empty cell; the claim parser must see the error."""
    pytest.importorskip("python_calamine")
    monkeypatch.delenv("XLSHEETS_READER", raising=False)
    rows = simple_rows([HEADER, ["C1"]])
    rows[1] = rows[1].replace("</row>", cell("C2", "#N/A", kind="e") + "</row>")
    path = make_xlsx(tmp_path / "w.xlsx", {"Claims": sheet_xml(rows)})
    with open_sheet(path) as sheet:
        assert sheet.reader == "xlsxstream" and next(sheet.rows)[2] == "#N/A"
    clean = make_xlsx(tmp_path / "c.xlsx", {"Claims": sheet_xml(simple_rows([HEADER, ["C1"]]))})
    with open_sheet(clean) as sheet:
        assert sheet.reader == "calamine"


def test_csv_with_a_runaway_quote_is_refused_with_the_line(tmp_path):
    path = _csv(tmp_path, "c.csv", b'Claim ID,Dx1\nC1,"M54.17\n' + b"x" * (1 << 20) + b"\n")
    with pytest.raises(InputError, match="line .*stray quote"):
        with open_sheet(path) as sheet:
            list(sheet.rows)
