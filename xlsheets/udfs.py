"""Excel worksheet functions: the module a user names in the xlwings add-in or imports in xlwings Lite.

One module serves both ways Excel calls Python (see docs/excel.md):

* classic xlwings UDFs (Windows desktop Excel): values arrive as floats, datetimes, None and COM
  error codes;
* Office.js custom functions (xlwings Lite, in Pyodide): ints, serial dates, None for empty and
  error cells.

``xlsheets.values`` reads every one of those forms, so the functions here only adapt shapes: a
range in, text or a 2-D list out. Three promises hold for every function:

* nothing raises into Excel: a failure is readable text in the cell (Office.js would otherwise
  show a bare ``#VALUE!``);
* the code sets, configuration and plugins load once per process, on the first call, never at
  import: Excel waits while this module imports;
* xlwings is optional: without it the decorators do nothing and the functions are plain Python.
"""
from __future__ import annotations

import datetime as _dt
import functools
import sys
import threading

try:  # decorators: classic on Windows, Office.js when XLWINGS_ON_SERVER=true, no-ops elsewhere
    from xlwings import arg, func, ret
except ImportError:  # pragma: no cover - exercised by test_udfs_without_xlwings in a subprocess
    def func(f=None, **_kwargs):
        return f if f is not None else (lambda g: g)

    def arg(*_args, **_kwargs):
        return lambda g: g

    def ret(*_args, **_kwargs):
        return lambda g: g

from .cell_text import cell_text
from .claims import claims_from_rows, is_blank_row, parse_row
from .engine import collector_paused
from .findings import worst, worst_by_row

__all__ = [
    "claim_status", "claim_findings", "claim_status_table", "icd_title", "icd_valid",
    "icd_billable", "icd_electronic", "icd_dotted", "icd_excludes1", "ncci_pair",
]

OK = "OK"
ROW_CACHE_SIZE = 20_000  # rows remembered between recalculations (about 1 KB each)
FINDINGS_HEADER = ["Rule", "Severity", "Message", "Suggestion"]
_HEADERS_DOC = "The header row of the claims table (claim_id, dos, dx1, cpt1, ...)."
_ROW_DOC = "One claim row, in the same column order as the headers."
_CODE_DOC = "An ICD-10-CM code, with or without the dot (M54.17 or M5417)."
_DOS_DOC = "Date of service (optional; today when left out)."


# --- shared state, loaded on first use ------------------------------------------------------
class _State:
    """The validator (configuration + plugins) and a cache of header maps, built once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.validator = None
        self.headers: dict[tuple, object] = {}
        # (header map, *row values) -> (claim or None, claim-rule findings, status): Excel
        # recalculates whole tables after every edit; rows it saw before are not parsed or
        # checked again. The claim is kept only when a batch rule (history) needs it again.
        self.rows: dict[tuple, tuple] = {}
        # An error finding every claim gets when a plugin failed to load or a configured plugin
        # is missing (the command line stops, exit 2): a cell must not read OK without its rules.
        self.plugin_problem = None

    def get_validator(self):
        if self.validator is None:
            with self.lock:
                if self.validator is None:
                    from .inline import make_validator
                    from .plugins import not_loaded_finding, plugin_problems
                    validator = make_validator()  # xlsheets.configure(), or found as the CLI finds it
                    self.plugin_problem = not_loaded_finding(plugin_problems(validator.config, validator.host),
                                                             "restart Excel")
                    self.validator = validator
        return self.validator

    def with_plugin_problem(self, findings, rows) -> tuple:
        """The claim's findings, the plugin problem (if any) first: it is what the cell shows."""
        if self.plugin_problem is None:
            return tuple(findings)
        return (self.plugin_problem._replace(rows=tuple(rows)), *findings)

    def validated(self, hmap, values: list, row: int | None) -> tuple:
        """(claim, claim-rule findings, status text) of one row; from the cache when the row is
        unchanged. The claim is None unless a batch rule needs it; a blank row is (None, None, "")."""
        try:
            key = (id(hmap), *values)
            hit = self.rows.get(key)
        except TypeError:  # an unhashable cell (an error object): validate, don't cache
            key = hit = None
        if hit is None:
            hit = self._validate(hmap, values, row, key)
        return hit

    def _validate(self, hmap, values: list, row: int | None, key) -> tuple:
        if is_blank_row(values):
            hit = _BLANK
        else:
            validator = self.get_validator()
            claim = parse_row(hmap, values, row)
            findings = self.with_plugin_problem(validator.validate_claim(claim), claim.rows)
            top = worst(findings)
            # Few objects kept per row: the collector walks whatever a 10,000-row table leaves.
            hit = (claim if validator.in_batch(claim) else None, findings,
                   OK if top is None else top.short())
        if key is not None:
            if len(self.rows) >= ROW_CACHE_SIZE:
                self.rows.clear()  # simple bound; a table recalculation refills it
            self.rows[key] = hit
        return hit

    def header_map(self, header: list):
        key = tuple(header)
        hmap = self.headers.get(key)
        if hmap is None:
            hmap = self.get_validator().header_map(header)  # the configuration's [columns]
            if len(self.headers) > 256:
                self.headers.clear()
            self.headers[key] = hmap
        return hmap


_state = _State()
_BLANK = (None, None, "")


def reset() -> None:
    """Forget the loaded configuration and plugins (after editing xlsheets.toml; tests)."""
    global _state
    _state = _State()


class _Problem(Exception):
    """A problem with the arguments, worded for the person who typed the formula."""


def _message(exc: BaseException) -> str:
    if isinstance(exc, _Problem):
        return f"xlsheets: {exc}"
    from .config import ConfigError
    if isinstance(exc, ConfigError):
        return f"xlsheets: configuration error: {exc}"
    return f"xlsheets failed: {type(exc).__name__}: {exc}"


def _never_raise(table: bool = False):
    """Turn any exception into text in the cell (a 1x1 table for spilling functions)."""
    def wrap(f):
        @functools.wraps(f)
        def safe(*args):
            try:
                return _cell_texts(f(*args))
            except Exception as exc:  # the cell shows what went wrong, Excel never sees it
                text = cell_text(_message(exc))
                return [[text]] if table else text
        return safe
    return wrap


def _cell_texts(result):
    """Every text a function returns into cells through :func:`xlsheets.cell_text.cell_text`
    (neutralised, never over a cell's limit); numbers, booleans and blanks as they are."""
    if isinstance(result, str):
        return cell_text(result)
    if isinstance(result, list):
        return [[cell_text(v) if isinstance(v, str) else v for v in row] if isinstance(row, list)
                else (cell_text(row) if isinstance(row, str) else row) for row in result]
    return result


# --- argument shapes --------------------------------------------------------------------------
# Every argument is taken "raw", ranges and single cells alike. Ranges, for speed: xlwings' own
# conversion checks every cell (on CPython it tries an import per cell) and costs 1-2 s per
# 10,000-row table; xlsheets.values reads every cell form itself. Single cells, for truth: the
# default conversion turns an Office.js error object (#N/A) into None, so ICD_TITLE would show a
# blank where the classic path names the error. What raw hands over: classic, a scalar or
# tuples of tuples (floats, datetimes, None, COM error ints); Office.js, the 2-D JSON list (ints,
# serial dates, None, error dicts; a single cell is unwrapped to its value).
# Pyodide >= 0.28 turns JS null into a JsNull object rather than None: mapped back here.
_IN_PYODIDE = sys.platform == "emscripten"


def _js_null_to_none(row: list) -> list:
    return [None if type(v).__name__ == "JsNull" else v for v in row]


def _cells(value) -> list:
    """A row or column range (any nesting) as a flat list of cell values."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        return [value]
    out = []
    for item in value:
        if isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return _js_null_to_none(out) if _IN_PYODIDE else out


def _table(value) -> list[list]:
    if not isinstance(value, (list, tuple)):
        return [[value]]
    if value and not isinstance(value[0], (list, tuple)):
        value = [value]  # a 1-D list: a single row
    if _IN_PYODIDE:
        return [_js_null_to_none(r) for r in value]
    return [r if isinstance(r, list) else list(r) for r in value]


def _date_arg(dos) -> _dt.date:
    from .values import Unreadable, read_date
    if isinstance(dos, (list, tuple)):
        dos = _cells(dos)[0] if _cells(dos) else None
    if dos is None or dos == "":
        return _dt.date.today()
    got = read_date(dos)
    if isinstance(got, Unreadable):
        raise _Problem(f"date of service: {got.reason}")
    return got


def _code_cell(code):
    """The one cell a code argument is (the first of a range); an Excel error in it is named."""
    from .values import excel_error
    if isinstance(code, (list, tuple)):
        cells = _cells(code)
        code = cells[0] if cells else None
    err = excel_error(code)
    if err:
        raise _Problem(f"the code cell holds the Excel error {err}")
    return code


def _code_arg(code) -> str | None:
    """Normalised code, None for a blank cell; a readable problem for anything else."""
    from .codes.icd10cm import normalize
    from .values import clean_text
    text = clean_text(_code_cell(code))
    if not text:
        return None
    n = normalize(text)
    if n is None:
        raise _Problem(f"{text[:20]!r} is not an ICD-10-CM code")
    return n


def _code_or_none(code) -> str | None:
    """For the TRUE/FALSE functions: text that is not a code shape is simply not valid (None),
    but an error cell is named, as everywhere: FALSE would hide that the cell is broken."""
    _code_cell(code)
    try:
        return _code_arg(code)
    except _Problem:
        return None


def _header_map(headers):
    cells = _cells(headers)
    if not cells:
        raise _Problem("give the header row as the first argument")
    hmap = _state.header_map(cells)
    if not hmap.recognisable:
        raise _Problem("the header row has no diagnosis or procedure column (dx1, cpt1, diagnoses...)")
    return hmap


def _row_findings(headers, row):
    """Findings of one claim row; None for a blank row."""
    cells = _cells(row)
    _claim, findings, _status = _state.validated(_header_map(headers).settle_date_order([cells]), cells, None)
    return None if findings is None else list(findings)


# --- claim functions --------------------------------------------------------------------------
@func
@arg("headers", "raw", doc=_HEADERS_DOC)
@arg("row", "raw", doc=_ROW_DOC)
@_never_raise()
def claim_status(headers, row):
    """The claim's status: OK, or its worst finding in a few words."""
    cells = _cells(row)
    return _state.validated(_header_map(headers).settle_date_order([cells]), cells, None)[2]


@func
@arg("headers", "raw", doc=_HEADERS_DOC)
@arg("row", "raw", doc=_ROW_DOC)
@_never_raise(table=True)
def claim_findings(headers, row):
    """Every finding of the claim, spilled: rule, severity, message, suggestion."""
    findings = _row_findings(headers, row)
    if findings is None:
        return [["", "", "", ""]]
    if not findings:
        return [FINDINGS_HEADER, ["", "ok", "No problems found.", ""]]
    ordered = sorted(findings, key=lambda f: -f.severity)
    return [FINDINGS_HEADER] + [
        [f.rule, str(f.severity), f.message, f.suggestion or ""] for f in ordered
    ]


@func
@arg("table", "raw", doc="The whole claims table, header row first (one row per claim or per service line).")
@_never_raise(table=True)
def claim_status_table(table):
    """One status per data row of a claims table (fast: one call for the whole sheet)."""
    with collector_paused():
        return _status_table(table)


def _status_table(table):
    rows = _table(table)
    if len(rows) < 2:
        raise _Problem("give the table with its header row and at least one data row")
    hmap = _header_map(rows[0]).settle_date_order(rows[1:])  # 25/03/2026 anywhere: day first
    if hmap.line_level:
        return _line_statuses(hmap, rows[1:])
    return _row_statuses(hmap, rows[1:])


def _row_statuses(hmap, data: list) -> list[list[str]]:
    """One claim per row. Unchanged rows come from the cache; batch rules always rerun."""
    validated = _state.validated
    run = _state.get_validator().run()
    out = []
    held = []  # (output row, result) of claims a batch rule may add findings to
    for index, values in enumerate(data):
        hit = validated(hmap, values, index + 2)
        out.append([hit[2]])
        if hit[0] is not None:
            result = run.add_checked(hit[0], hit[1])
            if result is not None:
                held.append((out[-1], result))
    if held:
        run.finish()  # batch rules (a patient's other claims) append to the results
        for cell, result in held:
            top = worst(result.findings)
            cell[0] = OK if top is None else top.short()
    return out


def _line_statuses(hmap, data: list) -> list[list[str]]:
    """Service lines grouped into claims; each row shows the worst finding on that row."""
    out = [[""] for _ in data]  # blank rows stay blank
    run = _state.get_validator().run()
    # Sheet-relative numbering: the header is row 1, data starts at row 2.
    results = [run.add(claim) for claim in claims_from_rows(hmap, data, 2)]
    run.finish()  # batch rules (a patient's other claims) append to the results
    for result in results:
        if _state.plugin_problem is not None:
            result.findings[:0] = _state.with_plugin_problem((), result.rows)
        for r, top in worst_by_row(result.rows, result.findings).items():
            out[r - 2][0] = OK if top is None else top.short()
    return out


# --- ICD-10-CM lookups ------------------------------------------------------------------------
def _codeset():
    from .codes.icd10cm import get_codeset
    return get_codeset()


@func
@arg("code", "raw", doc=_CODE_DOC)
@arg("dos", "raw", doc=_DOS_DOC)
@_never_raise()
def icd_title(code, dos=None):
    """The ICD-10-CM title of a code."""
    n = _code_arg(code)
    if n is None:
        return ""
    return _codeset().title(n, _date_arg(dos)) or f"{n}: not an ICD-10-CM code"


@func
@arg("code", "raw", doc=_CODE_DOC)
@arg("dos", "raw", doc=_DOS_DOC)
@_never_raise()
def icd_valid(code, dos=None):
    """TRUE when the code is in force on the date of service: billable, or a header that needs
    more characters. FALSE when it is deleted or not yet effective that day (as rule C103 says)."""
    n = _code_or_none(code)
    if not n:
        return False
    return _codeset().check(n, _covered_date(dos)).status in ("VALID", "HEADER", "NEEDS_7TH")


@func
@arg("code", "raw", doc=_CODE_DOC)
@arg("dos", "raw", doc=_DOS_DOC)
@_never_raise()
def icd_billable(code, dos=None):
    """TRUE when the code is billable on the date of service (complete, valid that day)."""
    n = _code_or_none(code)
    return bool(n) and _codeset().billable(n, _covered_date(dos))


def _covered_date(dos):
    """The date of service, when a loaded code set covers it; else a readable problem (FALSE
    would claim to know what no loaded release says)."""
    day = _date_arg(dos)
    if not _codeset().covers(day):
        raise _Problem(f"no loaded ICD-10-CM release covers {day.isoformat()}; "
                       "import a newer one (xlsheets codes import)")
    return day


@func
@arg("code", "raw", doc=_CODE_DOC)
@_never_raise()
def icd_electronic(code):
    """The code as electronic claims (837) carry it, without the dot: M5417."""
    n = _code_arg(code)
    return "" if n is None else n.replace(".", "")


@func
@arg("code", "raw", doc=_CODE_DOC)
@_never_raise()
def icd_dotted(code):
    """The code with its dot, upper case: M54.17."""
    n = _code_arg(code)
    return "" if n is None else n


@func
@arg("code_a", "raw", doc="The first ICD-10-CM code.")
@arg("code_b", "raw", doc="The second ICD-10-CM code.")
@_never_raise()
def icd_excludes1(code_a, code_b):
    """The Excludes1 note that forbids coding the two together, or empty."""
    a, b = _code_arg(code_a), _code_arg(code_b)
    if a is None or b is None:
        return ""
    note = _codeset().pair(a, b)
    if note is None or note.kind != "excludes1":
        return ""
    return f"{note.carrier} Excludes1: {note.note}"


# --- NCCI edits -------------------------------------------------------------------------------
def _procedure_arg(code) -> str | None:
    """A CPT/HCPCS code from a cell (``62323``, 62323 as a number, ``62323-59``); None if blank."""
    from .ncci.files import code_text
    from .values import clean_text
    code = _code_cell(code)
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        found = code_text(code)
    else:
        text = clean_text(code)
        if not text:
            return None
        found = code_text(text.split("-")[0])
    if found is None:
        raise _Problem(f"{clean_text(code)[:20]!r} is not a CPT/HCPCS code")
    return found


@func
@arg("code_a", "raw", doc="A CPT/HCPCS code (62323).")
@arg("code_b", "raw", doc="Another CPT/HCPCS code (77003).")
@arg("dos", "raw", doc=_DOS_DOC)
@_never_raise()
def ncci_pair(code_a, code_b, dos=None):
    """The NCCI PTP edit in force between two procedure codes on the date of service, or empty."""
    from .ncci.store import MODIFIER_MEANING, get_ncci
    a, b = _procedure_arg(code_a), _procedure_arg(code_b)
    if a is None or b is None:
        return ""
    day = _date_arg(dos)
    setting = _state.get_validator().config.settings.get("ncci_files") or "practitioner"
    edit_set = get_ncci(setting).for_dos("ptp", day)
    if edit_set is None:
        raise _Problem("no NCCI PTP file is loaded: import the CMS files with 'xlsheets ncci import "
                       "FILE...', then restart Excel (xlwings Lite: add the NCCI data wheel, "
                       "'xlsheets ncci wheel', to the requirements.txt tab)")
    edit = edit_set.ptp_in_force(a, b, day)
    if edit is None:
        return ""
    deleted = f", deleted {edit.deletion.isoformat()}" if edit.deletion else ""
    rationale = f"; {edit.rationale}" if edit.rationale else ""
    # Indicator 9: the edit is listed but does not apply; no code is denied (as xlsheets ncci --pair says).
    denied = ("the edit does not apply, neither code is denied" if edit.modifier == 9
              else "denied with it, CO-236")
    return (f"{edit.column2} is column 2 of {edit.column1} ({denied}): modifier indicator "
            f"{edit.modifier} ({MODIFIER_MEANING[edit.modifier]}){rationale}; effective "
            f"{edit.effective.isoformat()}{deleted} [{edit_set.describe()['name']}]")
