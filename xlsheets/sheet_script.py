"""The "Validate sheet" script: check the claims table of the open workbook and write the results
into it, for a manager who wants the whole sheet checked without a terminal or a saved file.

One function, two ways to run it (docs/excel.md):

* xlwings Lite: ``validate_sheet`` is an ``@script``; the runtime hands in the workbook
  (``main.py`` imports it, so it appears in the add-in's script list);
* classic xlwings (Windows): a button's macro calls ``RunPython "import xlsheets.sheet_script as
  s; s.main()"``, and ``main()`` runs the same code on ``xw.Book.caller()``.

It reads the claims table of the active sheet, found as the command line finds a sheet's table
(the header row among the first rows, line-level sheets grouped into claims); when the active
sheet has none (the Instructions sheet, its own Findings sheet), the first sheet that has one.
It writes only what is its own, values and never formulas into the claims sheet:

* a column headed "xlsheets status" right of the table: each row's worst finding, or OK;
* a "Findings" sheet: one row per finding, the row number a link to the claim's row;
* a "Summary" sheet: claims by status, findings by severity, rule and payer, a chart of findings
  by rule, and what could not be checked (rules without their columns, plugins that failed).

Run again, it replaces exactly these. A sheet of the user's called "Findings" or "Summary" is
never touched (its own are marked in A1); every text it writes is neutralised (cell_text), so
a claim ID such as ``=HYPERLINK(...)`` stays text. The checking itself is the worksheet
functions' validator (``xlsheets.configure()`` settings and plugins included) and the batch
summary's counts.
"""
from __future__ import annotations

import datetime as _dt

try:  # Lite: the Office.js @script; classic Windows: a VBA Sub; elsewhere: no-op
    import xlwings as xw
    from xlwings import script
except ImportError:  # pragma: no cover - the script needs xlwings; the module still imports
    xw = None

    def script(f=None, **_kwargs):
        return f if f is not None else (lambda g: g)

from .cell_text import cell_text

__all__ = ["validate_sheet", "validate_book", "sheet_button", "main", "STATUS_HEADER", "FINDINGS_SHEET", "SUMMARY_SHEET"]

STATUS_HEADER = "xlsheets status"
FINDINGS_SHEET = "Findings"
SUMMARY_SHEET = "Summary"
MARK = "xlsheets"  # A1 of the sheets this script writes starts with it: how it knows its own
FINDINGS_HEADER = ["Row", "Claim", "Payer", "Rule", "Severity", "Message", "Codes", "Suggestion"]
FINDINGS_WIDTHS = [7, 16, 18, 8, 9, 90, 18, 30]  # characters, so the sheets read without resizing
SUMMARY_WIDTHS = [60, 10]


class SheetProblem(Exception):
    """The workbook has nothing this script can check; the message says what to do."""


if xw is not None:
    @script(name="Validate sheet")
    def validate_sheet(book: xw.Book):
        """Check the claims on the active sheet; write a status column, Findings and Summary."""
        validate_book(book)
else:  # pragma: no cover
    def validate_sheet(book):
        validate_book(book)


def sheet_button(button: str):
    """``validate_sheet`` run by a sheet button in xlwings Lite, e.g. in main.py
    ``validate_sheet = sheet_button("[ValidateButton]Claims!M1")``: the shape's name, then the
    cell its hyperlink points to (xlwings Lite's way of tying a shape to a script)."""
    @script(name="Validate sheet", button=button)
    def validate_sheet(book: xw.Book):
        """Check the claims on the active sheet; write a status column, Findings and Summary."""
        validate_book(book)
    return validate_sheet


def main() -> None:
    """Classic xlwings: ``RunPython "import xlsheets.sheet_script as s; s.main()"``."""
    validate_book(xw.Book.caller())


def validate_book(book) -> dict:
    """Validate the claims table of ``book`` (an xlwings Book) and write the results into it.
    Returns the summary counts (what the Summary sheet shows)."""
    sheet, values, top, left = _claims_sheet(book)
    found = _find_table(values, sheet.name)
    header_index, header = found
    status_col = _status_column(header, values, header_index)
    keep = [i for i in range(len(header)) if i != status_col]  # its own column is not claim data
    table_header = [header[i] for i in keep]
    data = [[row[i] if i < len(row) else None for i in keep] for row in values[header_index + 1:]]
    header_row = top + header_index  # the sheet's row number of the header
    outcome = _validate(table_header, data, header_row + 1)
    _write_status(sheet, outcome, values, header_index, status_col, top, left, header_row)
    findings_name, summary_name = _own_sheets(book)
    _write_findings(_added(book, findings_name), sheet.name, outcome)
    _write_summary(_added(book, summary_name), sheet.name, outcome)
    return outcome["summary"]


# --- reading ------------------------------------------------------------------------------------
def _claims_sheet(book):
    """(sheet, its values as rows, row and column of the first value) to check."""
    active = book.sheets.active
    candidates = [active] + [s for s in book.sheets if s.name != active.name]
    for sheet in candidates:
        if _is_own(sheet):
            continue
        values, top, left = _values(sheet)
        if _header_index(values) is not None:
            return sheet, values, top, left
    raise SheetProblem(
        f"xlsheets: no claims table on sheet {active.name!r} or any other sheet: the header row "
        "needs a diagnosis or procedure column (dx1, cpt1, Primary Dx, CPT/HCPCS, ...).")


def _values(sheet):
    used = sheet.used_range
    raw = used.raw_value
    if not isinstance(raw, (list, tuple)):
        raw = [[raw]]
    elif raw and not isinstance(raw[0], (list, tuple)):
        raw = [raw]
    from .udfs import _IN_PYODIDE, _js_null_to_none  # an empty cell may arrive as JS null
    rows = [_js_null_to_none(r) if _IN_PYODIDE else list(r) for r in raw]
    return rows, used.row, used.column


def _header_index(values):
    """Index of the header row among the values, as the command line finds it; None if none."""
    from .io import HEADER_SCAN_ROWS
    from .claims import HeaderMap
    best, best_score = None, 0
    for index, row in enumerate(values[:HEADER_SCAN_ROWS]):
        cells = [c for c in row if not (isinstance(c, str) and c.strip().lower() == STATUS_HEADER)]
        header = HeaderMap.from_row(cells)
        if header.recognisable and len(header.present) > best_score:
            best, best_score = index, len(header.present)
    return best


def _find_table(values, name):
    index = _header_index(values)
    header = list(values[index])
    while header and (header[-1] is None or header[-1] == ""):
        header.pop()
    return index, header


def _status_column(header, values, header_index) -> int:
    """Index (in the values) of the status column: this script's own, when it wrote one, else
    the first column right of the table whose cells are all empty."""
    for i, cell in enumerate(header):
        if isinstance(cell, str) and cell.strip().lower() == STATUS_HEADER:
            return i
    col = len(header)
    while any(col < len(row) and row[col] not in (None, "") for row in values[header_index:]):
        col += 1
    return col


def _is_own(sheet) -> bool:
    try:
        first = sheet.range("A1").value
    except Exception:
        return False
    return isinstance(first, str) and first.startswith(MARK)


# --- checking -----------------------------------------------------------------------------------
def _validate(header, data, first_row) -> dict:
    """Per row status, the claim results and the summary, by the worksheet functions' validator."""
    from . import udfs
    from .batch import _Tally, ncci_behind, rules_without_data
    from .claims import claims_from_rows
    from .findings import worst_by_row
    state = udfs._state
    validator = state.get_validator()
    hmap = validator.header_map(header).settle_date_order(data)
    run = validator.run()
    results, latest = [], None  # latest: the latest date of service (past the NCCI quarter?)
    for claim in claims_from_rows(hmap, data, first_row):
        if claim.dos is not None and (latest is None or claim.dos > latest):
            latest = claim.dos
        results.append(run.add(claim))
    run.finish()  # batch rules (a patient's other claims) add to the results
    tally = _Tally()
    status = {}
    for result in results:
        if state.plugin_problem is not None:
            result.findings[:0] = state.with_plugin_problem((), result.rows)
        tally.add(result)
        for r, top in worst_by_row(result.rows, result.findings).items():
            status[r] = "OK" if top is None else top.short()
    from .ncci.store import in_force_for
    from .plugins import plugin_problems
    summary = {
        "claims": len(results), "rows": len(data), "line_level": hmap.line_level,
        "by_status": {k: tally.by_status.get(k, 0) for k in ("error", "warning", "info", "ok")},
        "by_severity": {k: tally.by_severity.get(k, 0) for k in ("error", "warning", "info")},
        "by_rule": dict(sorted(tally.by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_payer": {p: dict(c) for p, c in sorted(tally.by_payer.items())},
        "rules_not_run": {r: list(c) for r, c in sorted(validator.skipped.items())},
        "columns_not_used": list(hmap.columns_not_used),
        "plugin_problems": [p.text() for p in plugin_problems(validator.config, validator.host)],
        "rules_without_data": rules_without_data(validator),  # the NCCI edits, when not loaded
        "ncci_behind": ncci_behind(in_force_for(validator.settings_in_use()), latest),
    }
    return {"status": status, "results": results, "summary": summary, "first_row": first_row}


# --- writing ------------------------------------------------------------------------------------
def _write_status(sheet, outcome, values, header_index, status_col, top, left, header_row) -> None:
    """The status column: header, then one value per row down to the last row this column ever
    held (a shorter table than last time leaves no stale statuses)."""
    last_row = top + len(values) - 1
    column = [[STATUS_HEADER]] + [[cell_text(outcome["status"].get(r, ""))]
                                  for r in range(header_row + 1, last_row + 1)]
    col = left + status_col
    sheet.range((header_row, col), (header_row + len(column) - 1, col)).value = column


def _own_sheets(book) -> tuple[str, str]:
    """The names of the Findings and Summary sheets to write, after deleting this script's own
    ones from the last run (marked in A1). A user's sheet of that name is left alone: ours is
    then "xlsheets <name>". Deleted from the last one back, so no sheet moves before its turn."""
    sheets = {s.name: s for s in book.sheets}
    names, old = [], []
    for name in (FINDINGS_SHEET, SUMMARY_SHEET):
        target = name
        if name in sheets and not _is_own(sheets[name]):
            target = f"xlsheets {name}"
        if target in sheets:
            if not _is_own(sheets[target]):
                raise SheetProblem(f"xlsheets: sheets {name!r} and {target!r} are both yours; rename "
                                   "one so that xlsheets can write its results")
            old.append(sheets[target])
        names.append(target)
    for own in sorted(old, key=lambda s: -s.index):
        own.delete()
    return names[0], names[1]


def _added(book, name):
    return book.sheets.add(name, after=book.sheets[len(book.sheets) - 1])


def _quoted(sheet_name: str) -> str:
    return "'" + sheet_name.replace("'", "''") + "'"


def _write_findings(sheet, claims_sheet: str, outcome) -> None:
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    rows, links = [], []
    for result in outcome["results"]:
        for f in sorted(result.findings, key=lambda f: -f.severity):
            row = (f.rows or result.rows or (None,))[0]
            rows.append([row, cell_text(result.claim_id), cell_text(result.payer), f.rule, str(f.severity),
                         cell_text(f.message), cell_text(", ".join(f.codes)), cell_text(f.suggestion or "")])
            links.append(row)
    title = (f"{MARK}: findings on sheet {claims_sheet}, {len(rows):,} in {outcome['summary']['claims']:,} "
             f"claims (Validate sheet, {stamp}). Click a row number to go to the claim.")
    _widths(sheet, FINDINGS_WIDTHS)
    sheet.range("A1").value = cell_text(title)
    sheet.range("A3").value = [FINDINGS_HEADER] + (rows or [["", "", "", "", "", "No findings.", "", ""]])
    if rows:  # the row numbers as links to the claim rows (formulas of this sheet only)
        target = _quoted(claims_sheet)
        sheet.range((4, 1), (3 + len(rows), 1)).formula = [
            [f'=HYPERLINK("#{target}!A{r}",{r})' if r else ""] for r in links]


def _widths(sheet, widths) -> None:
    for index, width in enumerate(widths, 1):
        sheet.range((1, index)).column_width = width


def _write_summary(sheet, claims_sheet: str, outcome) -> None:
    s = outcome["summary"]
    layout = "one service line per row" if s["line_level"] else "one claim per row"
    lines = [[cell_text(f"{MARK}: summary of sheet {claims_sheet}"), None],
             [f"{s['claims']:,} claims in {s['rows']:,} rows ({layout})", None],
             [None, None], ["Claims by status", "Claims"]]
    lines += [[k, v] for k, v in s["by_status"].items()]
    lines += [[None, None], ["Findings by severity", "Findings"]]
    lines += [[k, v] for k, v in s["by_severity"].items()]
    lines += [[None, None], ["Findings by rule", "Findings"]]
    rule_start = len(lines) + 1  # the sheet row of the first rule (the chart's data)
    lines += [[k, v] for k, v in s["by_rule"].items()] or [["(none)", 0]]
    rule_end = len(lines)
    lines += [[None, None], ["Claims by payer", "Claims"]]
    lines += [[cell_text(p), c.get("claims", 0)] for p, c in s["by_payer"].items()]
    unchecked = [f"{rule} could not run: the sheet has no {', '.join(cols)} column"
                 for rule, cols in s["rules_not_run"].items()]
    unchecked += s["plugin_problems"]
    unchecked += [f"{', '.join(g['rules'])} could not run: {g['reason']}" for g in s["rules_without_data"]]
    unchecked += [f"NCCI edits older than some dates of service: {g['message']}" for g in s["ncci_behind"]]
    if s["columns_not_used"]:
        unchecked.append("Columns not used (xlsheets read nothing from them): "
                         + ", ".join(str(c) for c in s["columns_not_used"]))
    lines += [[None, None], ["Not checked", None]]
    lines += [[cell_text(text), None] for text in unchecked] or [["Every rule ran.", None]]
    _widths(sheet, SUMMARY_WIDTHS)
    sheet.range("A1").value = lines
    if s["by_rule"]:
        chart = sheet.charts.add(left=420, top=10, width=420, height=300)  # right of columns A-B
        chart.chart_type = "bar_clustered"
        chart.set_source_data(sheet.range((rule_start, 1), (rule_end, 2)))
