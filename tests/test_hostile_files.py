"""Hostile and broken input files: each is refused with a plain message (exit 2), no traceback,
nothing written; or, where the brief says so, read and turned into findings.

Every file is generated here (zipfile + hand-written XML), none is committed.
"""
from __future__ import annotations

import pyexpat
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest

from test_io_reader import (HEADER, MAIN, cell, make_xlsx, row_xml, sheet_xml, simple_rows)
from xlsheets.io import InputError, open_sheet

READERS = ["xlsxstream", "openpyxl"]
try:
    import python_calamine  # noqa: F401
    READERS.append("calamine")
except ImportError:
    pass

BILLION_LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10)) + "]>")


def good_workbook(path: Path, rows: int = 3) -> Path:
    data = [HEADER] + [[f"C{i}", "2026-03-10", "M54.17", None, "64483"] for i in range(rows)]
    return make_xlsx(path, {"Claims": sheet_xml(simple_rows(data))})


def refused(path: Path, reader: str | None = None) -> str:
    """The InputError message for a file, reading every row (errors may come mid-stream)."""
    with pytest.raises(InputError) as info:
        with open_sheet(path, reader=reader) as sheet:
            for _ in sheet.rows:
                pass
    return str(info.value)


def cli(path: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    """``xlsheets validate PATH -o report.xlsx``: exit code and stderr; asserts no traceback
    and that nothing was written next to the report."""
    from xlsheets.cli import main
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    code = main(["validate", str(path), "-o", str(out_dir / "report.xlsx")])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    if code == 2:
        assert list(out_dir.iterdir()) == [], "a refused input must leave no output"
    return code, captured.err


# --- XML entities ---------------------------------------------------------------------------
def _lol_workbook(tmp_path) -> Path:
    sx = sheet_xml(simple_rows([HEADER, ["x"]])).replace("<worksheet", BILLION_LAUGHS + "\n<worksheet")
    return make_xlsx(tmp_path / "lol.xlsx", {"Claims": sx.replace(">x<", ">&lol9;<")})


def _xxe_workbook(tmp_path, part: str = "xl/sharedStrings.xml") -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    sst = (f'<?xml version="1.0"?>\n{xxe}<sst xmlns="{MAIN}" count="2" uniqueCount="2">'
           f'<si><t>Dx1</t></si><si><t>&xxe;</t></si></sst>')
    rows = [row_xml(1, [cell("A1", 0, kind="s")]), row_xml(2, [cell("A2", 1, kind="s")])]
    return make_xlsx(tmp_path / "xxe.xlsx", {"Claims": sheet_xml(rows)}, shared=["Dx1", "x"],
                     replace={part: sst})


@pytest.mark.parametrize("reader", READERS)
def test_billion_laughs_is_refused_by_every_reader(tmp_path, reader):
    message = refused(_lol_workbook(tmp_path), reader)
    assert "DOCTYPE" in message and "xl/worksheets/sheet1.xml" in message and "unsafe" in message


@pytest.mark.parametrize("reader", READERS)
def test_external_entity_is_refused_and_never_read(tmp_path, reader):
    message = refused(_xxe_workbook(tmp_path), reader)
    assert "DOCTYPE" in message and "TOPSECRET" not in message


def test_doctype_in_a_part_nobody_reads_is_refused_too(tmp_path):
    core = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><cp:coreProperties '
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"/>')
    path = good_workbook(tmp_path / "w.xlsx")
    path = make_xlsx(path, {"Claims": sheet_xml(simple_rows([HEADER, ["C1"]]))},
                     extra={"docProps/core.xml": core})
    assert "docProps/core.xml" in refused(path)


def test_doctype_hidden_after_comments_is_found(tmp_path):
    sx = sheet_xml(simple_rows([HEADER, ["x"]])).replace(
        "<worksheet", "<!-- a comment -->\n<?pi x?>\n" + BILLION_LAUGHS + "<worksheet")
    assert "DOCTYPE" in refused(make_xlsx(tmp_path / "c.xlsx", {"Claims": sx}), "xlsxstream")


@pytest.mark.skipif(pyexpat.version_info < (2, 4, 0), reason="expat without amplification limits")
def test_openpyxl_alone_does_not_expand_entities(tmp_path):
    """What openpyxl does without our check (defusedxml is not installed): the standard
    library's expat >= 2.4 stops entity amplification and never resolves external entities.
    Our DOCTYPE refusal does not depend on this."""
    from openpyxl.xml import DEFUSEDXML
    if not DEFUSEDXML:
        with pytest.raises(Exception, match="amplification"):
            wb = openpyxl.load_workbook(_lol_workbook(tmp_path), read_only=True)
            list(wb.active.iter_rows(values_only=True))
    with pytest.raises(Exception, match="entity"):
        openpyxl.load_workbook(_xxe_workbook(tmp_path), read_only=True)


def test_hostile_xml_through_the_cli(tmp_path, capsys):
    code, err = cli(_lol_workbook(tmp_path), tmp_path, capsys)
    assert code == 2 and "DOCTYPE" in err


# --- zip containers -------------------------------------------------------------------------
def test_zip_bomb_by_compression_ratio_is_refused_before_reading(tmp_path):
    filler = " " * (24 << 20)  # 24 MB of spaces compress about 1000:1
    sx = sheet_xml(simple_rows([HEADER, ["C1"]])).replace("<sheetData>", "<sheetData>" + filler)
    path = make_xlsx(tmp_path / "bomb.xlsx", {"Claims": sx})
    assert path.stat().st_size < 200_000
    message = refused(path)
    assert "compressed" in message and "zip bomb" in message


def test_declared_size_over_the_cap_is_refused(tmp_path, monkeypatch):
    from xlsheets import io
    monkeypatch.setattr(io, "MAX_PART_BYTES", 2000)
    path = good_workbook(tmp_path / "w.xlsx", rows=100)
    assert "would unpack to" in refused(path)


def _patch_sizes(path: Path, member: str, new_size: int) -> None:
    """Rewrite a member's uncompressed size in the local header and the central directory."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    pos = 0
    while (pos := data.find(b"PK\x03\x04", pos)) >= 0:
        n, e = struct.unpack_from("<HH", data, pos + 26)
        if data[pos + 30:pos + 30 + n] == name:
            struct.pack_into("<I", data, pos + 22, new_size)
        pos += 4
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + n] == name:
            struct.pack_into("<I", data, pos + 24, new_size)
        pos += 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("reader", READERS)
def test_member_lying_about_its_size_is_refused(tmp_path, reader):
    path = good_workbook(tmp_path / "w.xlsx", rows=200)
    _patch_sizes(path, "xl/worksheets/sheet1.xml", 300)
    assert "damaged" in refused(path, reader)


def test_streaming_reader_counts_what_it_unpacks(tmp_path):
    from xlsheets.xlsxstream import XlsxReader
    path = good_workbook(tmp_path / "w.xlsx", rows=200)
    with zipfile.ZipFile(path) as zf:
        book = XlsxReader(zf, limits={"max_part_bytes": 5000})
        with pytest.raises(InputError, match="zip bomb"):
            list(book.rows("Claims"))


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_workbook(tmp_path, capsys, cut):
    path = good_workbook(tmp_path / "w.xlsx", rows=300)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    assert "damaged or incomplete" in refused(path)
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "damaged or incomplete" in err and "w.xlsx" in err


@pytest.mark.parametrize("reader", READERS)
def test_corrupt_sheet_data_is_refused(tmp_path, capsys, reader, monkeypatch):
    path = good_workbook(tmp_path / "w.xlsx", rows=2000)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    n, e = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + n + e
    for i in range(start + info.compress_size // 2, start + info.compress_size // 2 + 64):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    assert "damaged" in refused(path, reader)
    monkeypatch.setenv("XLSHEETS_READER", reader)
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "damaged" in err


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    assert "not an Excel workbook" in refused(path)


def test_binary_workbook_xlsb_says_so(tmp_path):
    path = tmp_path / "claims.xlsb"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.bin", b"\x83\x01\x00")
    message = refused(path)
    assert ".xlsb" in message and "Save As" in message


# --- not a workbook at all ------------------------------------------------------------------
def _ole(path: Path, stream_name: str) -> Path:
    sector = bytearray(512 * 4)
    sector[:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    sector[1024:1024 + 2 * len(stream_name)] = stream_name.encode("utf-16-le")
    path.write_bytes(bytes(sector))
    return path


def test_password_protected_workbook_says_so(tmp_path, capsys):
    path = _ole(tmp_path / "locked.xlsx", "EncryptedPackage")
    message = refused(path)
    assert "password-protected" in message and ".xls format" not in message
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "password" in err


def test_old_binary_xls_says_so(tmp_path):
    message = refused(_ole(tmp_path / "old.xls", "Workbook"))
    assert "Excel 97-2003" in message and "Save As" in message and "password" not in message


def test_csv_renamed_xlsx(tmp_path, capsys):
    path = tmp_path / "claims.xlsx"
    path.write_text("Claim ID,Dx1\nC1,M54.17\n")
    assert "Rename it to claims.csv" in refused(path)
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "claims.csv" in err


def test_workbook_renamed_csv(tmp_path):
    path = good_workbook(tmp_path / "w.xlsx").rename(tmp_path / "w.csv")
    assert "Rename it to w.xlsx" in refused(path)


@pytest.mark.parametrize("content,expected", [
    (b"", "is empty (0 bytes)"),
    (b"\x00\x01\x02binary\xff" * 50, "unsupported file type"),
])
def test_empty_or_binary_file(tmp_path, content, expected):
    path = tmp_path / "claims.dat"
    path.write_bytes(content)
    assert expected in refused(path)


# --- workbooks without usable claims --------------------------------------------------------
def test_empty_workbook(tmp_path, capsys):
    path = make_xlsx(tmp_path / "empty.xlsx", {"Sheet1": sheet_xml([])})
    assert "empty" in refused(path)
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "no claims to check" in err


def test_workbook_without_sheets(tmp_path):
    assert "no worksheets" in refused(make_xlsx(tmp_path / "none.xlsx", {}))


def test_sheet_without_a_recognisable_header(tmp_path, capsys):
    rows = simple_rows([["Name", "Amount"], ["Smith", 120]])
    path = make_xlsx(tmp_path / "money.xlsx", {"Money": sheet_xml(rows)})
    message = refused(path)
    assert "no claims header" in message and "'Money'" in message and "Dx1" in message
    code, _ = cli(path, tmp_path, capsys)
    assert code == 2


def test_merged_header_cells_are_refused_naming_the_column(tmp_path, capsys):
    rows = [row_xml(1, [cell("A1", "Claim ID"), cell("B1", "DOS"), cell("C1", "Diagnosis codes")]),
            row_xml(2, [cell("A2", "C1"), cell("B2", "2026-03-10"), cell("C2", "M54.17"), cell("D2", "M51.16")])]
    sx = sheet_xml(rows, tail='<mergeCells count="1"><mergeCell ref="C1:E1"/></mergeCells>')
    path = make_xlsx(tmp_path / "merged.xlsx", {"Claims": sx})
    message = refused(path)
    assert "column D" in message and "Merged header" in message and "row 2" in message
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "column D" in err


# --- read, not refused ----------------------------------------------------------------------
def test_cached_formula_errors_become_findings_not_refusals(tmp_path, capsys):
    import xlsheets
    rows = [row_xml(1, [cell("A1", "Claim ID"), cell("B1", "DOS"), cell("C1", "Dx1"), cell("D1", "CPT1")]),
            row_xml(2, [cell("A2", "C1"), cell("B2", "2026-03-10"),
                        '<c r="C2" t="e"><f>VLOOKUP(A2,Codes!A:B,2,0)</f><v>#N/A</v></c>',
                        cell("D2", "64483")])]
    path = make_xlsx(tmp_path / "errors.xlsx", {"Claims": sheet_xml(rows)})
    with open_sheet(path) as sheet:
        assert sheet.reader == "xlsxstream"
        results = xlsheets.validate_rows(sheet.header, sheet.rows, first_row=sheet.first_row)
    messages = [f.message for r in results for f in r.findings]
    assert any("#N/A" in m and "Dx1" in m for m in messages), messages
    code, err = cli(path, tmp_path, capsys)
    assert code in (0, 1), err


def test_sheet_at_excels_row_limit_streams(tmp_path):
    rows = simple_rows([HEADER, ["C1", "2026-03-10", "M54.17"]])
    rows.append(row_xml(1_048_576, [cell("A1048576", "CLAST"), cell("C1048576", "M51.16")]))
    path = make_xlsx(tmp_path / "full.xlsx", {"Claims": sheet_xml(rows)})
    import xlsheets
    with open_sheet(path, reader="xlsxstream") as sheet:
        claims = list(xlsheets.claims_from_rows(sheet.header, sheet.rows, sheet.first_row))
    assert [(c.claim_id, c.rows) for c in claims] == [("C1", (2,)), ("CLAST", (1_048_576,))]


def test_sheet_over_excels_row_limit_is_refused(tmp_path, capsys):
    rows = simple_rows([HEADER, ["C1", "2026-03-10", "M54.17"]])
    rows.append(row_xml(1_048_577, [cell("A1048577", "CX")]))
    path = make_xlsx(tmp_path / "over.xlsx", {"Claims": sheet_xml(rows)})
    assert "1,048,576" in refused(path, "xlsxstream")
    code, err = cli(path, tmp_path, capsys)
    assert code == 2 and "1,048,576" in err


def test_cell_beyond_the_last_column_is_refused(tmp_path):
    rows = simple_rows([HEADER]) + [row_xml(2, [cell("A2", "C1"), cell("XFE2", "x")])]
    path = make_xlsx(tmp_path / "wide.xlsx", {"Claims": sheet_xml(rows)})
    assert "last column" in refused(path, "xlsxstream")


def test_non_utf8_sheet_xml_is_refused(tmp_path):
    sx = sheet_xml(simple_rows([HEADER, ["C1"]])).replace('encoding="UTF-8"', 'encoding="UTF-16"')
    path = make_xlsx(tmp_path / "u16.xlsx", {"Claims": sx})
    message = refused(path, "xlsxstream")
    assert "UTF-8" in message or "damaged" in message


def test_tiny_sparse_file_with_a_far_cell_is_not_given_to_calamine(tmp_path, monkeypatch):
    """calamine allocates the whole rectangle: one cell at XFD1048576 would cost gigabytes."""
    monkeypatch.delenv("XLSHEETS_READER", raising=False)
    rows = simple_rows([HEADER, ["C1"]]) + [row_xml(1_048_576, [cell("XFD1048576", "x")])]
    path = make_xlsx(tmp_path / "far.xlsx", {"Claims": sheet_xml(rows)})
    assert path.stat().st_size < 5000
    with open_sheet(path) as sheet:
        assert sheet.reader == "xlsxstream"
        assert sum(1 for _ in sheet.rows) == 1_048_576 - 1
