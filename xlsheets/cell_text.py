"""Text that xlsheets writes into a cell: never a live formula, never over Excel's limit.

Every cell xlsheets writes (the report's sheets, the worksheet functions' results, the "Validate
sheet" script in Excel) gets its text from here, so one rule holds everywhere:

* Text that a spreadsheet would run as a formula gets a leading apostrophe (:func:`neutralize`).
  No report cell is written as a formula, but such text turns live the moment a user saves the
  sheet as CSV and opens it again, or edits the cell: ``=HYPERLINK(...)`` becomes a link,
  ``+CMD|' /C CALC'!A0`` a DDE command. The apostrophe is the OWASP-recommended defence: it
  survives CSV, it is visible (the reader sees the text was neutralised) and Excel shows the
  rest as text. Numbers stay numbers (``-5``), and text that is only a number (``"-5"``) is
  left alone since it cannot run.
* Text longer than a cell holds (32,767 characters) is shortened and says so at its end
  (:func:`cell_text`): a cell never silently loses its last characters, not even the one an
  apostrophe pushed over the limit.

Pure Python with no imports from the rest of xlsheets, so Pyodide code (the Excel script) can
use it alone.
"""
from __future__ import annotations

import re

__all__ = ["neutralize", "cell_text", "EXCEL_CELL_CHARS", "FORMULA_START"]

EXCEL_CELL_CHARS = 32_767  # the most characters an Excel cell holds
# What makes Excel, LibreOffice or Google Sheets treat text as a formula: = + - @ at the start,
# also after leading blanks or line ends (CSV import strips them), and their full-width forms
# (typed with an East Asian input method, Excel reads them as = + - @).
FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_LEADING = " \t\r\n\x0b\x0c\u00a0\u3000"
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def neutralize(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; other values as
    they are (numbers, dates, None, plain text)."""
    if isinstance(value, str) and value and _runs(value):
        return "'" + value
    return value


def _runs(text: str) -> bool:
    if text[0] in _LEADING:
        if text[0] in "\t\r":  # a TAB or CR at the start is itself a formula trigger (OWASP)
            return True
        text = text.lstrip(_LEADING)
        if not text:
            return False
    return text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text)


def cell_text(value: object, limit: int = EXCEL_CELL_CHARS) -> str:
    """The text of a value for a cell: neutralised and, when longer than ``limit``, shortened
    with a note at its end saying how long the whole text was. None is ""."""
    if value is None:
        return ""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # an object that cannot say what it is: a cell still gets text
        text = f"({type(value).__name__} value that cannot be shown as text)"
    text = neutralize(text)
    if len(text) <= limit:
        return text
    note = f" [shortened by xlsheets: {len(text):,} characters do not fit in a cell]"
    return text[:max(limit - len(note), 0)] + note[:limit]
