"""Hardening, wave 2 (issue 15): the hostile inputs of an independent audit, each reproduced as
the audit ran it (the command line as a subprocess where a failure would kill the process), and
the class it belongs to closed in the mechanism.

Every file is generated here, none is committed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import pytest

from test_io_reader import HEADER, MAIN, cell, make_xlsx, row_xml, sheet_xml, simple_rows
from xlsheets.io import InputError, open_sheet

READERS = ["xlsxstream", "openpyxl"]
try:
    import python_calamine  # noqa: F401
    READERS += ["calamine", "calamine-chunks"]  # whole sheet (small files), slices (large)
except ImportError:
    pass


def validate(*args, env=None, timeout=120, cwd=None) -> subprocess.CompletedProcess:
    """``xlsheets validate ...`` as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)


def refused(path: Path, reader: str | None = None) -> str:
    with pytest.raises(InputError) as info:
        with open_sheet(path, reader=reader) as sheet:
            for _ in sheet.rows:
                pass
    return str(info.value)


def _shared_header_book(path: Path, sst: str | None = None, sheet_extra: tuple[str, str] = ("", ""),
                        row2: str | None = None) -> Path:
    """A small claims workbook whose header comes from the shared strings."""
    rows = [row_xml(1, [cell("A1", 0, kind="s"), cell("B1", 1, kind="s"), cell("C1", 2, kind="s"),
                        cell("D1", 3, kind="s")]),
            row2 or row_xml(2, [cell("A2", "C1"), cell("B2", "2026-03-10"), cell("C2", "M54.17"),
                                cell("D2", "64483")])]
    sx = sheet_xml(rows).replace("<sheetData>", sheet_extra[0] + "<sheetData>")
    sx = sx.replace("</sheetData>", "</sheetData>" + sheet_extra[1])
    replace = {"xl/sharedStrings.xml": sst} if sst else {}
    return make_xlsx(path, {"Claims": sx}, shared=["Claim ID", "DOS", "Dx1", "CPT1"], replace=replace)


# --- 1. what a workbook claims is checked before any reader sees it ----------------------------
def _lying_sst(count: str = "4000000000", unique: str = "4000000000") -> str:
    items = "".join(f"<si><t>{t}</t></si>" for t in ("Claim ID", "DOS", "Dx1", "CPT1"))
    return f'<?xml version="1.0"?><sst xmlns="{MAIN}" count="{count}" uniqueCount="{unique}">{items}</sst>'


@pytest.mark.parametrize("reader", [None, *READERS])
def test_a_small_file_claiming_four_billion_strings_is_refused_not_fatal(tmp_path, reader):
    """The audit's file: 2.5 KB, sharedStrings count="4000000000". python-calamine (picked for
    small files) allocated 96 GB and the process aborted with exit 134 and no message."""
    book = _shared_header_book(tmp_path / "claims.xlsx", _lying_sst())
    assert book.stat().st_size < 4000
    env = {"XLSHEETS_READER": reader} if reader else {}
    done = validate(book, "--format", "json", env=env)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "sharedStrings.xml" in done.stderr and "4,000,000,000" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_claims_check_does_not_depend_on_the_file_size(tmp_path, monkeypatch):
    """Were calamine allowed to read large files too, the check still comes first: it is part
    of opening any workbook, not of choosing the reader."""
    import xlsheets.io as io_mod
    monkeypatch.setattr(io_mod, "CALAMINE_MAX_FILE_BYTES", 1 << 40)
    rows = [f"<si><t>pad {i}</t></si>" for i in range(60_000)]
    sst = _lying_sst().replace("</sst>", "".join(rows) + "</sst>")
    book = _shared_header_book(tmp_path / "big.xlsx", sst)
    assert "4,000,000,000" in refused(book)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("claim, expected", [
    (("", ""), None),  # the plain workbook reads
    (('<dimension ref="A1:XFD1048576"/>', ""), None),  # Excel's whole sheet is a legal claim
    (('<dimension ref="A1:ZZZZ99999999"/>', ""), "not a cell of an Excel sheet"),
    (('<cols><col min="1" max="4000000000" width="9"/></cols>', ""), "beyond Excel's last column"),
    (("", '<mergeCells count="4000000000"><mergeCell ref="A1:B1"/></mergeCells>'),
     "more than the whole workbook"),
])
def test_sheet_extents_are_checked_the_same_for_every_reader(tmp_path, reader, claim, expected):
    book = _shared_header_book(tmp_path / "w.xlsx", sheet_extra=claim)
    if expected is None:
        with open_sheet(book, reader=reader) as sheet:
            assert [r[:3] for r in sheet.rows][0] == ["C1", "2026-03-10", "M54.17"]
    else:
        assert expected in refused(book, reader)


def test_row_spans_past_the_last_column_are_refused(tmp_path):
    row2 = row_xml(2, [cell("A2", "C1"), cell("C2", "M54.17")]).replace("<row r=\"2\">", '<row r="2" spans="1:4000000000">')
    book = _shared_header_book(tmp_path / "w.xlsx", row2=row2)
    for reader in READERS:
        assert "beyond Excel's last column" in refused(book, reader)


@pytest.mark.parametrize("reader", READERS)
def test_styles_claiming_billions_of_formats_are_refused(tmp_path, reader):
    import re
    from test_io_reader import STYLES
    styles = re.sub(r'count="\d+"', 'count="4000000000"', STYLES)
    book = make_xlsx(tmp_path / "s.xlsx", {"Claims": sheet_xml(simple_rows([HEADER, ["C1"]]))}, styles=styles)
    assert "styles.xml" in refused(book, reader)


# --- 8. inputs that never end; readers agree; damaged containers ------------------------------
def test_a_csv_that_links_to_dev_zero_is_refused_at_once(tmp_path):
    link = tmp_path / "claims.csv"
    link.symlink_to("/dev/zero")
    start = time.monotonic()
    done = validate(link, "--format", "json", timeout=60)
    assert done.returncode == 2 and time.monotonic() - start < 30
    assert "is a device, not a file" in done.stderr and "/dev/zero" in done.stderr
    assert done.stdout == ""


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "claims.csv"
    os.mkfifo(fifo)
    done = validate(fifo, timeout=60)
    assert done.returncode == 2 and "named pipe (FIFO)" in done.stderr


def test_a_link_to_a_regular_file_is_read(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10,M54.17,64483-RT\n")
    (tmp_path / "link.csv").symlink_to(real)
    done = validate(tmp_path / "link.csv", "--format", "json")
    assert done.returncode in (0, 1) and json.loads(done.stdout)["summary"]["claims"] == 1


def test_a_100_mb_line_of_52_million_fields_is_refused_in_seconds(tmp_path):
    """The audit's CSV: the csv module split the whole line into a list and the run was killed
    after 150 s. A CSV is held to a sheet's 16,384 columns as each line is met."""
    path = tmp_path / "wide.csv"
    with open(path, "w") as f:
        f.write("Claim ID,DOS,Dx1,CPT1\n")
        f.write("," * 52_000_000 + "\n")
    start = time.monotonic()
    done = validate(path, "--format", "json", timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr[-300:]
    assert "line 2 has 52,000,001 cells" in done.stderr and "16,384" in done.stderr
    assert elapsed < 30, elapsed


@pytest.mark.parametrize("cells, ok", [(16_384, True), (16_385, False), (20_006, False)])
def test_csv_column_limit_is_a_sheets(tmp_path, cells, ok):
    path = tmp_path / "c.csv"
    header = ["Claim ID", "DOS", "Dx1", "CPT1"] + [f"X{i}" for i in range(cells - 4)]
    path.write_text(",".join(header) + "\nC1,2026-03-10,M54.17,64483-RT\n")
    if ok:
        with open_sheet(path) as sheet:
            assert len(sheet.header) == cells
    else:
        assert f"has {cells:,} cells, more than an Excel sheet's 16,384 columns" in refused(path)


def test_quoted_commas_do_not_count_as_columns(tmp_path):
    path = tmp_path / "q.csv"
    note = '"' + "a," * 20_000 + '"'
    path.write_text(f"Claim ID,DOS,Dx1,CPT1,Notes\nC1,2026-03-10,M54.17,64483-RT,{note}\n")
    with open_sheet(path) as sheet:
        rows = list(sheet.rows)
    assert rows[0][4].count(",") == 20_000


def test_a_csv_cell_longer_than_any_cell_is_refused_plainly(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10," + "A" * 3_000_000 + ",64483\n")
    message = refused(path)
    assert "line 2 has a cell of more than" in message and "32,767" in message


NESTED = {  # (inner XML of a string item, refused?)
    "element inside a text": ("<t>A<t>B</t>C</t>", True),
    "bold tag inside a text": ("<t>A<b>B</b>C</t>", True),
    "two texts": ("<t>A</t><t>B</t>", True),
    "text after a run": ("<r><t>A</t></r><t>B</t>", True),
    "run inside a run": ("<r><r><t>A</t></r><t>B</t></r>", True),
    "text, then a run (as Excel writes)": ("<t>A</t><r><t>B</t></r>", False),
    "phonetic guide": ('<t>A</t><rPh sb="0" eb="1"><t>X</t></rPh>', False),
}


@pytest.mark.parametrize("where", ["inline", "shared"])
@pytest.mark.parametrize("name", list(NESTED))
def test_readers_agree_on_malformed_nested_text(tmp_path, name, where):
    """The audit saw calamine, openpyxl and the streaming reader give three different texts for
    one cell ("AB", "B", "A"); which one a user got depended on the file's size."""
    inner, bad = NESTED[name]
    if where == "inline":
        sst = None
        c = f'<c r="C2" t="inlineStr"><is>{inner}</is></c>'
    else:
        items = "".join(f"<si><t>{t}</t></si>" for t in ("Claim ID", "DOS", "Dx1", "CPT1"))
        sst = f'<?xml version="1.0"?><sst xmlns="{MAIN}" count="5" uniqueCount="5">{items}<si>{inner}</si></sst>'
        c = '<c r="C2" t="s"><v>4</v></c>'
    row2 = row_xml(2, [cell("A2", "C1"), cell("B2", "2026-03-10")]).replace("</row>", c + "</row>")
    book = _shared_header_book(tmp_path / "n.xlsx", sst, row2=row2)
    results = set()
    for reader in READERS:
        try:
            with open_sheet(book, reader=reader) as sheet:
                results.add(repr([r[2] for r in sheet.rows]))
        except InputError as exc:
            assert "damaged" in str(exc) and "markup Excel never writes" in str(exc)
            results.add("refused")
    assert len(results) == 1, results
    assert (results == {"refused"}) == bad


@pytest.mark.parametrize("reader", [None, *READERS])
def test_duplicate_zip_entry_names_are_refused_as_damaged(tmp_path, reader):
    book = _shared_header_book(tmp_path / "d.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is told to write
        with zipfile.ZipFile(book, "a") as zf:
            zf.writestr("xl/worksheets/sheet1.xml", sheet_xml(simple_rows([HEADER, ["OTHER"]])))
    env = {"XLSHEETS_READER": reader} if reader else {}
    done = validate(book, env=env)
    assert done.returncode == 2 and "damaged" in done.stderr and "appears twice" in done.stderr


def test_part_names_differing_only_in_case_are_duplicates(tmp_path):
    book = _shared_header_book(tmp_path / "d.xlsx")
    with zipfile.ZipFile(book, "a") as zf:
        zf.writestr("xl/worksheets/Sheet1.xml", sheet_xml(simple_rows([HEADER, ["OTHER"]])))
    assert "appears twice" in refused(book)


# --- 9. fail early, and say it plainly ---------------------------------------------------------
def test_an_unwritable_output_folder_is_found_before_validating(tmp_path):
    """The audit got a raw OSError after the whole JSON had been printed."""
    book = _shared_header_book(tmp_path / "claims.xlsx")
    done = validate(book, "--format", "json", "-o", "/proc/xlsheets-report.xlsx")
    assert done.returncode == 2
    assert done.stdout == ""  # nothing validated, nothing printed
    assert "cannot be written to" in done.stderr and "Traceback" not in done.stderr
    assert "OSError" not in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_found_before_validating(tmp_path):
    book = _shared_header_book(tmp_path / "claims.xlsx")
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    try:
        done = validate(book, "-o", out / "r.xlsx")
    finally:
        out.chmod(0o755)
    assert done.returncode == 2 and "cannot be written to" in done.stderr and done.stdout == ""


def test_an_output_that_is_a_device_is_refused(tmp_path):
    book = _shared_header_book(tmp_path / "claims.xlsx")
    link = tmp_path / "r.xlsx"
    link.symlink_to("/dev/null")
    done = validate(book, "-o", link)
    assert done.returncode == 2 and "is a device, not a file" in done.stderr


class Hostile:
    """An object whose text cannot be had."""

    def __str__(self):
        raise RuntimeError("no text for you")

    __repr__ = __format__ = __str__


@pytest.mark.parametrize("column", ["Claim ID", "DOS", "Dx1", "CPT1", "Payer"])
def test_an_object_whose_str_raises_becomes_E101_not_an_exception(column):
    from xlsheets.engine import Validator
    header = ["Claim ID", "DOS", "Dx1", "CPT1", "Payer"]
    row = ["C1", "2026-03-10", "M54.17", "64483-RT", "Acme"]
    row[header.index(column)] = Hostile()
    [result] = Validator().validate_rows(header, [row])
    unreadable = [f for f in result.findings if f.rule == "E101"]
    assert len(unreadable) == 1 and column in unreadable[0].message
    assert "Hostile" in unreadable[0].message and "cannot be read as text" in unreadable[0].message


def test_a_hostile_header_cell_names_no_column():
    from xlsheets.engine import Validator
    [result] = Validator().validate_rows([Hostile(), "DOS", "Dx1", "CPT1"], [["x", "2026-03-10", "M54.17", "64483-RT"]])
    assert result.status in ("ok", "info", "warning", "error")  # validated, did not raise


@pytest.mark.parametrize("boundary", [65536, 65536 + (1 << 20)])  # the head's end, a block's end
def test_a_text_cut_by_a_read_block_is_not_taken_for_markup(tmp_path, boundary):
    """The whole-sheet check reads a 64 KB head, then 1 MB blocks; a piece ending inside a text
    ("<t>N<" of "<t>N</t>") is judged with the next block, not refused as damaged."""
    pytest.importorskip("python_calamine")
    for pad in range(0, 400):
        rows = [row_xml(1, [cell(f"{c}1", h) for c, h in zip("ABCD", HEADER)])]
        rows += [row_xml(r, [cell(f"A{r}", "P" * (pad if r == 2 else 0) + f"C{r}"), cell(f"B{r}", "N"),
                             cell(f"C{r}", "M54.17"), cell(f"D{r}", "99213")])
                 for r in range(2, 16_000)]
        xml = sheet_xml(rows).encode()
        inside = xml.rfind(b"<t", 0, boundary) > xml.rfind(b"</t>", 0, boundary)
        if inside and xml[boundary - 1:boundary] != b">":
            break
    assert inside
    path = make_xlsx(tmp_path / "big.xlsx", {"Claims": xml.decode()})
    with open_sheet(path, reader="calamine") as sheet:
        assert sum(1 for _ in sheet.rows) == 15_998


def test_a_cell_whose_text_looks_like_a_claim_is_just_text(tmp_path):
    """Only attributes are claims: a note reading count="9999999999" or spans="1:99999" is read."""
    note = 'count="9999999999" spans="1:99999" <dimension ref="ZZZZ1"/>'
    header = ["Claim ID", "DOS", "Dx1", "CPT1", "Notes"]
    book = make_xlsx(tmp_path / "t.xlsx", {"Claims": sheet_xml(simple_rows([header, ["C1", None, "M54.17", None, note]]))},
                     shared=["unused", note])
    for reader in READERS:
        with open_sheet(book, reader=reader) as sheet:
            assert list(sheet.rows)[0][-1] == note
