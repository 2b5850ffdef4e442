"""The report workbook of ``xlsheets validate -o report.xlsx``.

Three sheets, for the revenue-cycle manager who decides what gets fixed before a batch goes out:

* the claims, as they were, with Status and Findings columns added, coloured by severity, header
  frozen and filters on (rows keep their input row numbers, so "row 57" means the same in both);
* Findings: one row per finding, its row number linked to the claim row;
* Summary: counts by status, severity, rule and payer, a bar chart of findings by rule, and what
  could not be checked (rules lacking columns, plugins that failed to load or are configured but
  not found; a run with ``--skip-broken-plugins`` says so in red at the top).

Writer: XlsxWriter (pure Python, py3-none-any) in constant-memory mode: issue 4's measurement
put it at about 10 s per 100,000 claim rows against 16 s for openpyxl's write-only mode; it keeps
memory flat and supports everything the report needs (charts, hyperlinks, filters, print setup).
benchmarks/bench_excel.py times the report part of ``validate -o``. Input cells pass through ``io.neutralize`` and are written with ``write_string``, so
no text from the input can become a live formula or link. The file appears atomically.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

__all__ = ["write_report", "STATUS_COLOURS"]

# status -> (fill, font): Excel's own "Bad", "Neutral", "Good" styles, and a blue for info.
STATUS_COLOURS = {
    "error": ("FFC7CE", "9C0006"),
    "warning": ("FFEB9C", "9C5700"),
    "info": ("DDEBF7", "1F4E78"),
    "ok": ("C6EFCE", "006100"),
}
STATUS_LABEL = {"error": "Error", "warning": "Warning", "info": "Info", "ok": "OK"}
_RANK = {"info": 1, "warning": 2, "error": 3}
EXCEL_MAX_ROWS = 1_048_576
MAX_LINKS = 65_000  # Excel keeps at most 65,530 hyperlinks per sheet; later rows get plain numbers
FINDINGS_COLUMNS = ["Row", "Claim ID", "Payer", "Rule", "Severity", "Message", "Codes",
                    "Suggestion", "Reference"]


def write_report(result, output) -> None:
    """Write the report of a finished batch (``batch.BatchResult``) to ``output``, atomically."""
    import xlsxwriter
    from .io import atomic_output

    with atomic_output(output) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
        try:
            _Report(wb, result).write()
        finally:
            wb.close()


class _Report:
    def __init__(self, wb, result):
        self.wb, self.result = wb, result
        self.claims_name = _sheet_name(result.sheet or "Claims")
        self.bold = wb.add_format({"bold": True, "bg_color": "#D9D9D9", "border": 1, "text_wrap": True,
                                   "valign": "top"})
        self.date = wb.add_format({"num_format": "yyyy-mm-dd"})
        self.link = wb.add_format({"font_color": "#0563C1", "underline": 1})
        self.status = {s: wb.add_format({"bg_color": "#" + fill, "font_color": "#" + font})
                       for s, (fill, font) in STATUS_COLOURS.items()}
        self.findings_fmt = {s: wb.add_format({"bg_color": "#" + fill, "font_color": "#" + font,
                                               "text_wrap": False})
                             for s, (fill, font) in STATUS_COLOURS.items()}
        self.title = wb.add_format({"bold": True, "font_size": 14})

    def write(self) -> None:
        self._claims_sheet()
        self._findings_sheet()
        self._summary_sheet()

    # --- claims ---------------------------------------------------------------------------
    def _claims_sheet(self) -> None:
        from .io import neutralize
        r = self.result
        ws = self.wb.add_worksheet(self.claims_name)
        header = list(r.header)
        width = len(header)
        status_col, findings_col = width, width + 1
        head_row = r.header_row - 1  # 0-based
        for c, value in enumerate(header):
            ws.write_string(head_row, c, _text(neutralize(value)), self.bold)
        taken = {str(h).strip().lower() for h in header if h is not None}
        for col, label in ((status_col, "Status"), (findings_col, "Findings")):
            # the template's own Status formula column must not be confused with ours
            label = label if label.lower() not in taken else f"xlsheets {label.lower()}"
            ws.write_string(head_row, col, label, self.bold)
        ws.freeze_panes(head_row + 1, 0)
        _printable(ws, head_row, fit=False)  # too wide to fit: printed across pages
        for c in range(width):
            ws.set_column(c, c, 12)
        ws.set_column(status_col, status_col, 10)
        ws.set_column(findings_col, findings_col, 70)
        last = head_row
        verdicts = _row_verdicts(r.results())
        verdict = next(verdicts, None)
        for row, values in r.rows():
            if row > EXCEL_MAX_ROWS:  # a CSV longer than a sheet: the rest is in the JSON output
                break
            while verdict is not None and verdict[0] < row:
                verdict = next(verdicts, None)
            i = row - 1
            for c, value in enumerate(values[:width] if len(values) > width else values):
                self._cell(ws, i, c, neutralize(value))
            if verdict is not None and verdict[0] == row:
                _, status, texts = verdict
                ws.write_string(i, status_col, STATUS_LABEL[status], self.status[status])
                if texts:
                    ws.write_string(i, findings_col, "\n".join(texts)[:32000], self.findings_fmt[status])
            last = i
        ws.autofilter(head_row, 0, max(last, head_row), findings_col)

    def _cell(self, ws, i, c, value) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            ws.write_boolean(i, c, value)
        elif isinstance(value, (int, float)):
            if value == value and abs(value) != float("inf"):
                ws.write_number(i, c, value)
        elif isinstance(value, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
            ws.write_datetime(i, c, value, self.date)
        else:
            ws.write_string(i, c, _text(value)[:32767])

    # --- findings -------------------------------------------------------------------------
    def _findings_sheet(self) -> None:
        from .io import neutralize
        ws = self.wb.add_worksheet("Findings")
        for c, name in enumerate(FINDINGS_COLUMNS):
            ws.write_string(0, c, name, self.bold)
        ws.freeze_panes(1, 0)
        _printable(ws, 0)
        for c, w in enumerate([7, 14, 16, 7, 9, 90, 18, 28, 40]):
            ws.set_column(c, c, w)
        i = 0
        dropped = 0
        target = self.claims_name.replace("'", "''")
        for result in self.result.results():
            for f in sorted(result.findings, key=lambda f: -f.severity):
                if i >= EXCEL_MAX_ROWS - 2:
                    dropped += 1  # the sheet is full; the JSON output has every finding
                    continue
                i += 1
                row = (f.rows or result.rows or (None,))[0]
                if row and i <= MAX_LINKS:
                    ws.write_url(i, 0, f"internal:'{target}'!A{row}", self.link, string=str(row),
                                 tip="Go to the claim row")
                elif row:
                    ws.write_number(i, 0, row)
                ws.write_string(i, 1, _text(neutralize(result.claim_id)))
                ws.write_string(i, 2, _text(neutralize(result.payer)))
                ws.write_string(i, 3, f.rule)
                sev = str(f.severity)
                ws.write_string(i, 4, sev, self.status[sev])
                ws.write_string(i, 5, f.message[:32767])
                ws.write_string(i, 6, ", ".join(f.codes))
                ws.write_string(i, 7, _text(neutralize(f.suggestion or "")))
                ws.write_string(i, 8, f.reference or "")
        if dropped:
            ws.write_string(i + 1, 0, f"... {dropped:,} more findings do not fit in a sheet; "
                                      "use --format json for all of them.")
        ws.autofilter(0, 0, max(i, 1), len(FINDINGS_COLUMNS) - 1)

    # --- summary --------------------------------------------------------------------------
    def _severity_counts(self, ws, row: int, title: str, unit: str, counts: dict, keys) -> int:
        """A small coloured table of counts by severity; returns its last row."""
        ws.write_string(row, 0, title, self.bold)
        ws.write_string(row, 1, unit, self.bold)
        for key in keys:
            row += 1
            ws.write_string(row, 0, STATUS_LABEL[key], self.status[key])
            ws.write_number(row, 1, counts[key])
        return row

    def _how_checked(self, ws, row: int, s: dict) -> int:
        """Configuration, plugins per payer, columns not read, how dates were read: what a
        reader needs to trust the counts above. Returns the last row written."""
        config = s.get("config") or {}
        ws.write_string(row, 0, "Configuration", self.bold)
        ws.write_string(row, 1, str(config.get("file", "built-in defaults")))
        for payer, names in (config.get("plugins") or {}).items():
            row += 1
            ws.write_string(row, 0, f"Plugins: {payer}")
            ws.write_string(row, 1, ", ".join(names) if names else "built-in rules only")
        if s.get("columns_not_used"):
            row += 2
            ws.write_string(row, 0, "Columns not used", self.bold)
            ws.write_string(row, 1, "xlsheets read nothing from these columns: rename them, or map "
                                    "them under [columns] in xlsheets.toml, if they hold claim data")
            for name in s["columns_not_used"]:
                row += 1
                ws.write_string(row, 0, str(name))
        for note in s.get("date_notes") or ():
            row += 2
            ws.write_string(row, 0, "Dates", self.bold)
            ws.write_string(row, 1, note)
        return row

    def _summary_sheet(self) -> None:
        s = self.result.summary
        ws = self.wb.add_worksheet("Summary")
        _printable(ws, None)
        ws.set_column(0, 0, 28)
        ws.set_column(1, 4, 11)
        ws.write_string(0, 0, "xlsheets validation report", self.title)
        ws.write_string(1, 0, f"{Path(s['source']).name}" + (f", sheet {s['sheet']}" if s["sheet"] else ""))
        ws.write_string(2, 0, f"{s['claims']:,} claims in {s['rows']:,} rows")
        if s.get("plugins_skipped"):  # said where it is seen first: this was not a full check
            from .batch import skipped_banner
            ws.write_string(3, 0, skipped_banner(s), self.wb.add_format(
                {"bold": True, "bg_color": "#" + STATUS_COLOURS["error"][0],
                 "font_color": "#" + STATUS_COLOURS["error"][1]}))
        row = self._severity_counts(ws, 4, "Claims by status", "Claims", s["by_status"],
                                    ("error", "warning", "info", "ok"))
        row = self._severity_counts(ws, row + 2, "Findings by severity", "Findings", s["by_severity"],
                                    ("error", "warning", "info"))
        row += 2
        ws.write_string(row, 0, "Findings by rule", self.bold)
        ws.write_string(row, 1, "Findings", self.bold)
        first_rule = row + 1
        for rule, n in s["by_rule"].items():
            row += 1
            ws.write_string(row, 0, rule)
            ws.write_number(row, 1, n)
        last_rule = row
        row += 2
        ws.write_string(row, 0, "Payer", self.bold)
        for c, name in enumerate(("Claims", "Errors", "Warnings", "Info", "OK"), 1):
            ws.write_string(row, c, name, self.bold)
        for payer, counts in s["by_payer"].items():
            row += 1
            ws.write_string(row, 0, payer)
            for c, key in enumerate(("claims", "error", "warning", "info", "ok"), 1):
                ws.write_number(row, c, counts.get(key, 0))
        row = self._how_checked(ws, row + 2, s)
        if s["rules_not_run"]:
            row += 2
            ws.write_string(row, 0, "Rules that could not run", self.bold)
            ws.write_string(row, 1, "Missing columns", self.bold)
            for rule, cols in s["rules_not_run"].items():
                row += 1
                ws.write_string(row, 0, rule)
                ws.write_string(row, 1, ", ".join(cols))
        for title, key in (("Plugins that failed to load", "plugins_failed"),
                           ("Plugins configured but not found", "plugins_missing")):
            if s.get(key):
                row += 2
                ws.write_string(row, 0, title, self.bold)
                for p in s[key]:
                    row += 1
                    ws.write_string(row, 0, p["plugin"])
                    ws.write_string(row, 1, p["message"][:32767])
        if last_rule >= first_rule:
            chart = self.wb.add_chart({"type": "bar"})
            chart.add_series({
                "name": "Findings by rule",
                "categories": ["Summary", first_rule, 0, last_rule, 0],
                "values": ["Summary", first_rule, 1, last_rule, 1],
                "fill": {"color": "#C0504D"},
                "data_labels": {"value": True},
            })
            chart.set_title({"name": "Findings by rule"})
            chart.set_legend({"none": True})
            chart.set_y_axis({"reverse": True})
            chart.set_x_axis({"major_unit": max(1, -(-max(s["by_rule"].values()) // 8)), "num_format": "0",
                              "min": 0})
            chart.set_size({"width": 560, "height": max(260, 22 * (last_rule - first_rule + 1) + 90)})
            ws.insert_chart(4, 7, chart)


def _printable(ws, header_row, fit: bool = True) -> None:
    """Landscape, one page wide, header repeated: a report gets printed."""
    ws.set_landscape()
    if fit:
        ws.fit_to_pages(1, 0)
    ws.set_paper(9)  # A4; Letter users' Excel rescales
    if header_row is not None:
        ws.repeat_rows(header_row)


def _row_verdicts(results):
    """(sheet row, status, finding texts) for every row of every claim, in row order."""
    for result in results:
        per_row = {r: [] for r in result.rows}
        for f in result.findings:
            for r in (f.rows or result.rows):
                if r in per_row:
                    per_row[r].append(f)
        for r in sorted(per_row):
            found = sorted(per_row[r], key=lambda f: -f.severity)
            status = str(found[0].severity) if found else "ok"
            yield r, status, [f.short() for f in found]


def _text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _sheet_name(name: str) -> str:
    """A valid, different-from-ours sheet name (31 characters, no []:*?/\\)."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")[:31] or "Claims"
    return clean if clean.lower() not in ("findings", "summary") else "Claims"
