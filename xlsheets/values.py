"""Cell values as Excel, openpyxl, CSV and xlwings hand them over, normalised in one place.

Every reader delivers something different for the same cell: classic xlwings gives floats
(``72148.0``) and datetimes, xlwings Lite gives ints and serial dates, openpyxl gives error
strings (``"#N/A"``), classic UDFs may give COM error codes, and CSV gives text. Rules must never
see any of that, so each value is read here once, and what cannot be read is reported as a
:class:`Unreadable` value that the claim parser turns into a finding.
"""
from __future__ import annotations

import datetime as _dt
import re

__all__ = [
    "Unreadable",
    "Uncalculated",
    "uncalculated_reason",
    "excel_error",
    "clean_text",
    "code_text",
    "read_date",
    "date_order_of",
    "DATE_ORDERS",
    "read_flag",
    "read_number",
]

EXCEL_ERRORS = frozenset(
    {"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#GETTING_DATA",
     "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#N/A!"}
)
# COM error codes (CVErr) that classic xlwings UDFs receive for error cells.
COM_ERRORS = {
    -2146826281: "#DIV/0!",
    -2146826246: "#N/A",
    -2146826259: "#NAME?",
    -2146826288: "#NULL!",
    -2146826252: "#NUM!",
    -2146826265: "#REF!",
    -2146826273: "#VALUE!",
}

_EXCEL_EPOCH = _dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 given Excel's 1900 leap-year bug
_MAX_SERIAL = 2958465  # 9999-12-31
_INVISIBLE = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u200b\u200c\u200d\ufeff\u3000"), " ")


class Unreadable:
    """A cell whose value cannot be used; ``reason`` is shown to the user, quoting only the cell."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unreadable({self.reason!r})"

    def __bool__(self) -> bool:  # an unreadable fact counts as not documented
        return False


class Uncalculated(str):
    """A formula cell saved without its result: a file written by a program (openpyxl writing
    ``=TODAY()``) and never opened in Excel has the formula but no value to read.

    The readers deliver this marker instead of a blank, so the claim parser reports the cell
    (E101, an error) rather than treating it as empty. It is the formula's text (``"=TODAY()"``),
    so reports and JSON that copy input cells show what the cell holds; it is never "" (blank).
    """

    __slots__ = ()

    def __new__(cls, formula: str = ""):
        text = (formula or "").strip().lstrip("=")
        return super().__new__(cls, "=" + text if text else "=(formula)")


def uncalculated_reason(value: Uncalculated) -> str:
    """The message part for an uncalculated formula cell, quoting the formula shortened."""
    return f"the cell holds the formula {_quote(str(value))}, which was never calculated, so it has no value"


# The file was saved by a program that writes formulas without calculating them.
UNCALCULATED_FIX = ("open the file in Excel and save it (that calculates the formulas), or export "
                    "the sheet with values instead of formulas")


def excel_error(value: object) -> str | None:
    """The Excel error a value stands for (``"#N/A"``), or None."""
    if isinstance(value, str):
        text = value.strip().upper()
        return text if text in EXCEL_ERRORS else None
    if isinstance(value, int) and not isinstance(value, bool) and value in COM_ERRORS:
        return COM_ERRORS[value]
    if isinstance(value, dict) and value.get("type") == "Error":  # Office.js error object
        kind = str(value.get("errorType") or "")
        message = str(value.get("message") or "").strip().upper()
        return _OFFICE_JS_ERRORS.get(kind) or (message if message in EXCEL_ERRORS else "#" + (kind or "ERROR"))
    return None


# Office.js names an error cell's type; the cell shows the Excel text, which is what users know.
_OFFICE_JS_ERRORS = {
    "NotAvailable": "#N/A", "Value": "#VALUE!", "Ref": "#REF!", "Div0": "#DIV/0!", "Name": "#NAME?",
    "Num": "#NUM!", "Null": "#NULL!", "GettingData": "#GETTING_DATA", "Spill": "#SPILL!",
    "Calc": "#CALC!", "Field": "#FIELD!", "Blocked": "#BLOCKED!", "Connect": "#CONNECT!",
    "Busy": "#BUSY!", "Unknown": "#UNKNOWN!",
}


_PLAIN = (str, bool, int, float, _dt.datetime, _dt.date, _dt.time, _dt.timedelta, dict)


def plain_value(value: object) -> object:
    """A cell value of a type the parser knows, or :class:`Unreadable`.

    The readers only ever give str, numbers, bools, dates and None; a caller of the Python API
    (``Validator.validate_rows``) may pass anything. An object of another type is read as its
    text; one whose text cannot be had (``__str__`` raises, or gives no string) is unreadable,
    an E101 on the claim, never an exception out of the validator. Subclasses of the plain
    types become the plain type, so no overridden method of theirs runs later.
    """
    try:
        if isinstance(value, _PLAIN):
            if isinstance(value, (Uncalculated, _dt.date, _dt.time, _dt.timedelta, dict)):
                return value
            if isinstance(value, str):
                return str.__str__(value)
            if isinstance(value, bool):
                return bool(value)
            if isinstance(value, int):
                return int.__index__(value)
            return float.__float__(value)
        text = str(value)
        if type(text) is not str:
            raise TypeError("__str__ returned a non-string")
        return text
    except Exception:
        return Unreadable(f"the value (of type {type(value).__name__}) cannot be read as text")


def clean_text(value: object) -> str:
    """Text of a cell with non-breaking and zero-width spaces folded and ends trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        text = text.translate(_INVISIBLE)
    return text.strip()


def code_text(value: object) -> str:
    """A code cell as text: ``72148.0`` -> ``72148``, ``" m54.17\\u00a0"`` -> ``M54.17``."""
    return clean_text(value).upper()


_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$")
_SLASHED = re.compile(r"^(\d{1,2})[-/](\d{1,2})[-/](\d{2}|\d{4})(?:[ T].*)?$")  # month or day first
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})(?:[ T].*)?$")  # always day first
DATE_ORDERS = ("MDY", "DMY")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_NAMED = re.compile(r"^(\d{1,2})[- ]([A-Za-z]{3})[A-Za-z]*[- ,]+(\d{4})$")


def read_date(value: object, order: str = "MDY") -> _dt.date | Unreadable | None:
    """A date of service from any cell form; None when blank.

    Accepted: date/datetime, Excel serial numbers (int, float or numeric text), ``2026-03-10``,
    ``03/10/2026`` and ``3/10/26`` (month first by default, as US claims are written; ``order``
    "DMY" reads them day first), ``10.03.2026`` (the dotted form is always day first, as European
    exports write it), ``20260310``, ``10-Mar-2026``. A slash date that cannot be read in the
    column's order (``25/03/2026`` in a month-first column) is unreadable, never guessed.
    """
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    err = excel_error(value)
    if err:
        return Unreadable(f"the date cell holds the Excel error {err}")
    if isinstance(value, bool):
        return Unreadable(f"{value!r} is not a date")
    if isinstance(value, (int, float)):
        return _from_serial(value)
    text = clean_text(value)
    if not text:
        return None
    try:
        m = _ISO.match(text)
        if m:
            return _dt.date(int(m[1]), int(m[2]), int(m[3]))
        m = _DOTTED.match(text)
        if m:
            return _dt.date(_year(m[3]), int(m[2]), int(m[1]))
        m = _SLASHED.match(text)
        if m:
            first, second = int(m[1]), int(m[2])
            day_first = order == "DMY"
            if (first if day_first else second) <= 31 and (second if day_first else first) > 12 \
                    and (first if day_first else second) <= 12:
                written = "month first" if day_first else "day first"
                column = "day first" if day_first else "month first"
                return Unreadable(f"{_quote(text)} can only be {written}, but this column's dates are "
                                  f"read {column}; write it as {_iso_hint(m, not day_first)} to be sure")
            month, day = (second, first) if day_first else (first, second)
            return _dt.date(_year(m[3]), month, day)
        m = _COMPACT.match(text)
        if m:
            return _dt.date(int(m[1]), int(m[2]), int(m[3]))
        m = _NAMED.match(text)
        if m and m[2].lower() in _MONTHS:
            return _dt.date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))
    except ValueError:
        return Unreadable(f"{_quote(text)} is not a real calendar date")
    try:
        return _from_serial(float(text))
    except ValueError:
        return Unreadable(f"{_quote(text)} is not a date (use 2026-03-10 or 03/10/2026)")


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _iso_hint(m, day_first: bool) -> str:
    """The ISO spelling of a slash date read the other way round (for messages)."""
    day, month = (int(m[1]), int(m[2])) if day_first else (int(m[2]), int(m[1]))
    try:
        return _dt.date(_year(m[3]), month, day).isoformat()
    except ValueError:
        return "YYYY-MM-DD"


def date_order_of(value: object) -> str | None:
    """"DMY" or "MDY" when a slash or dash date can only be read one way (``25/03/2026``,
    ``03/25/2026``); None for other cells and for dates that read both ways (``03/10/2026``)."""
    if type(value) is not str:
        return None
    m = _SLASHED.match(value.strip())
    if not m:
        return None
    first, second = int(m[1]), int(m[2])
    if 12 < first <= 31 and 1 <= second <= 12:
        return "DMY"
    if 12 < second <= 31 and 1 <= first <= 12:
        return "MDY"
    return None


def reads_both_ways(value: object) -> bool:
    """True for a slash or dash date that is a date month first and day first (``03/10/2026``):
    which one it is depends on the column's other dates."""
    if type(value) is not str:
        return False
    m = _SLASHED.match(value.strip())
    return bool(m) and 1 <= int(m[1]) <= 12 and 1 <= int(m[2]) <= 12 and m[1] != m[2]


def _from_serial(number: float) -> _dt.date | Unreadable:
    if number != number or not 1 <= number <= _MAX_SERIAL:  # NaN or out of Excel's range
        return Unreadable(f"{number!r} is not a date")
    return _EXCEL_EPOCH + _dt.timedelta(days=int(number))


_YES = frozenset({"Y", "YES", "TRUE", "1", "X", "T", "\u2713", "\u2714", "1.0"})
_NO = frozenset({"N", "NO", "FALSE", "0", "F", "0.0", "-", "NONE", "NA", "N/A"})


def read_flag(value: object) -> bool | Unreadable:
    """Y/N cell: True when documented yes; blank or no is False (not documented)."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not excel_error(value):
        return value != 0
    err = excel_error(value)
    if err:
        return Unreadable(f"the cell holds the Excel error {err}")
    written = clean_text(value)
    text = written.upper()
    if text in _YES:
        return True
    if text in _NO or not text:
        return False
    return Unreadable(f"{_quote(written)} is not Y or N")


_NUMBER = re.compile(r"^[~<>=]*\s*(\d+(?:\.\d+)?)\s*[a-z. ]*$", re.IGNORECASE)


def read_number(value: object) -> float | Unreadable | None:
    """A count or duration (``6``, ``6.0``, ``"6 weeks"``); None when blank."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Unreadable(f"{value!r} is not a number")
    if isinstance(value, (int, float)) and not excel_error(value):
        if value != value:
            return Unreadable(f"{value!r} is not a usable number")
        if value < 0:
            return Unreadable(f"{value:g} is negative; a count or duration is 0 or more")
        return float(value)
    err = excel_error(value)
    if err:
        return Unreadable(f"the cell holds the Excel error {err}")
    text = clean_text(value)
    if not text:
        return None
    m = _NUMBER.match(text)
    if m:
        return float(m[1])
    if _NUMBER.match(text.lstrip("-\u2212 ")):  # -3: a number, but not a count
        return Unreadable(f"{_quote(text)} is negative; a count or duration is 0 or more")
    return Unreadable(f"{_quote(text)} is not a number")


def _quote(text: str, limit: int = 40) -> str:
    """Quote a cell's text for a message, shortened: messages quote only the cell in question."""
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return repr(text)
