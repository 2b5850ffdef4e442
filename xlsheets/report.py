"""The report workbook of ``xlsheets validate -o report.xlsx``, for the people who read it.

A billing manager opens it to decide what gets fixed before a batch goes out, and often prints it.
Four sheets, in the order they are read:

* **Summary**: a headline in plain words ("31 claims: 15 will be rejected, 10 to review, 6
  ready"), findings by rule with the rule's name, count, share and what to do, a chart of the top
  rules labelled by name, claims by configured payer with the spellings each one matched, and
  how the claims were checked: what could not be checked (a run with skipped plugins says NOT
  FULLY CHECKED in red at the top; rules that could not run and why; plugins that failed or are
  missing; columns not used), the configuration, plugins and code sets in force;
* **Claims**: the input's claims with their row numbers, column widths and number formats; the
  claim ID first, then Status and Findings (one finding per line, wrapped, rows as tall as their
  findings), the other input columns after them. Status is never pushed off the page by a wide
  sheet. Colours by severity, frozen header and claim ID, filters, and print titles repeating
  the header row and the claim ID column. The input's own Status formula column (the
  template's ``CLAIM_STATUS``, which outside Excel can only show ``#NAME?``) is left out, and
  the Summary says so;
* **Findings**: one row per finding; its row number is a number (sorts right) linked to the claim;
* **Rules**: a legend of every rule that fired: ID, name, severity, what it checks, how to fix.

Every text cell is written through :func:`xlsheets.cell_text.cell_text`, the one place where
text is made safe (no text from the input can become a live formula or link) and fitted to
Excel's cell limit. Writer: XlsxWriter (pure Python) in constant-memory mode, rows in order, so
memory stays flat; the report costs little more than XlsxWriter writing the same cells
(benchmarks/bench_excel.py prints both). The file appears atomically.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import math
from pathlib import Path

from .cell_text import cell_text  # the one way text gets into a cell: neutralised, never cut silently
from .words import plural

__all__ = ["write_report", "cell_text", "STATUS_COLOURS", "SHEETS"]

# status -> (fill, font): Excel's own "Bad", "Neutral", "Good" styles, and a blue for info.
STATUS_COLOURS = {
    "error": ("FFC7CE", "9C0006"),
    "warning": ("FFEB9C", "9C5700"),
    "info": ("DDEBF7", "1F4E78"),
    "ok": ("C6EFCE", "006100"),
}
STATUS_LABEL = {"error": "Error", "warning": "Warning", "info": "Info", "ok": "OK"}
SHEETS = ("Summary", "Claims", "Findings", "Rules")
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
MAX_LINKS = 65_000  # Excel keeps at most 65,530 hyperlinks per sheet; later rows get plain numbers
TOP_RULES = 10  # bars in the chart
STATUS_HEADERS = ("status", "xlsheets status", "claim status")  # the input's own status column
FINDINGS_COLUMNS = [("Row", 6), ("Claim ID", 12), ("Payer", 12), ("Severity", 8), ("Rule", 6),
                    ("Rule name", 16), ("Message", 46), ("What to do", 26), ("Codes", 10),
                    ("Reference", 20)]  # 162 characters: printed one page wide at a readable size
FINDINGS_WIDTH = 64  # the Claims sheet's Findings column
LINE_HEIGHT = 15  # points per line of Calibri 11
SAMPLE_ROWS = 200  # rows looked at to size columns the input gives no width for


def write_report(result, output, tmpdir=None) -> int:
    """Write the report of a finished batch (``batch.BatchResult``) to ``output``, atomically.
    ``tmpdir``: the run's private folder (:mod:`xlsheets.tempfiles`) for XlsxWriter's sheet
    files (claim data) and the unfinished report; without it, a folder made here. Returns how
    many input columns did not fit in the Claims sheet (the Summary lists them)."""
    import xlsxwriter
    from .io import atomic_output
    from .tempfiles import run_folder

    with contextlib.ExitStack() as stack:
        if tmpdir is None:
            tmpdir = stack.enter_context(run_folder(near=output))
        tmp = stack.enter_context(atomic_output(output, folder=tmpdir))
        wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False,
                                            "tmpdir": str(tmpdir)})
        report = _Report(wb, result)
        try:
            report.write()
        finally:
            wb.close()
    return len(report.plan.cut)


# Words of rule function names that read wrong when only capitalised ("Ptp pair").
NAME_WORDS = {"ptp": "PTP", "mue": "MUE", "aoc": "AOC", "ncci": "NCCI", "addon": "add-on", "pt": "PT"}


def rule_name(rule_id: str, rule) -> str:
    """A rule's name in words: ``header_code`` -> "Header code", ``ptp_pair`` -> "PTP pair"."""
    if rule is None:
        return rule_id
    name = " ".join(NAME_WORDS.get(word, word) for word in rule.name.split("_") if word)
    return name[:1].upper() + name[1:] if name else rule_id


def _lines(text: str, width: float) -> int:
    """Lines a wrapped cell of ``width`` characters needs for ``text`` (an estimate on the
    safe side, about one character per width unit: LibreOffice's stand-in for Calibri is wider
    than Calibri, and a cut-off finding is worse than a little white space)."""
    per_line = max(int(width * 1.05), 1)
    return sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))


class _Report:
    def __init__(self, wb, result):
        self.wb, self.result = wb, result
        self.s = result.summary
        self.claims_name = _sheet_name(result.sheet or "Claims")
        host = getattr(result.validator, "host", None)
        from .input_checks import INPUT_CHECKS  # E101-E103 are documented as rules are
        # An ID with a claim part and a batch part (N501-N503) is described by its first, the
        # claim part: its docstring carries the Why and the Fix; the batch part's adds the rest.
        self.rules = {}
        for r in (*getattr(host, "rules", ()), *INPUT_CHECKS):
            self.rules.setdefault(r.id, r)
        self.plan = claims_columns(list(result.header), getattr(result, "header_map", None))
        add = wb.add_format
        self.head = add({"bold": True, "bg_color": "#D9D9D9", "border": 1, "text_wrap": True,
                         "valign": "top"})
        self.top = add({"valign": "top"})
        self.wrap = add({"valign": "top", "text_wrap": True})
        self.link = add({"font_color": "#0563C1", "underline": 1, "valign": "top"})
        self.title = add({"bold": True, "font_size": 16})
        self.headline = add({"bold": True, "font_size": 13})
        self.section = add({"bold": True, "font_size": 12, "font_color": "#1F4E78"})
        self.percent = add({"num_format": "0%", "valign": "top"})
        self.alarm = add({"bold": True, "text_wrap": True, "valign": "top",
                          "bg_color": "#" + STATUS_COLOURS["error"][0],
                          "font_color": "#" + STATUS_COLOURS["error"][1]})
        self.status = {s: add({"bg_color": "#" + fill, "font_color": "#" + font, "valign": "top",
                               "bold": s == "error"})
                       for s, (fill, font) in STATUS_COLOURS.items()}
        self.status_wrap = {s: add({"bg_color": "#" + fill, "font_color": "#" + font,
                                    "valign": "top", "text_wrap": True})
                            for s, (fill, font) in STATUS_COLOURS.items()}

    def write(self) -> None:
        self._summary_sheet()
        self._claims_sheet()
        self._findings_sheet()
        self._rules_sheet()

    def _text(self, ws, row: int, col: int, value, fmt=None) -> None:
        ws.write_string(row, col, cell_text(value), fmt)

    # --- summary --------------------------------------------------------------------------
    def _summary_sheet(self) -> None:
        s, ws = self.s, self.wb.add_worksheet("Summary")
        _printable(ws, None)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 40)
        ws.set_column(2, 3, 10)
        ws.set_column(4, 4, 14)  # "error/warning" for a rule whose cases differ
        ws.set_column(5, 5, 55)
        ws.hide_gridlines(2)
        text = self._text
        text(ws, 0, 0, "xlsheets validation report", self.title)
        where = Path(s["source"]).name + (f", sheet {s['sheet']}" if s["sheet"] else "")
        text(ws, 1, 0, f"{where}: {plural(s['claims'], 'claim')} in {plural(s['rows'], 'row')}")
        row = 3
        banner = _banner(s)
        if banner:  # said where it is seen first: this was not a full check
            ws.merge_range(row, 0, row, 5, cell_text(banner), self.alarm)
            ws.set_row(row, LINE_HEIGHT * _lines(banner, 150))
            row += 2
        text(ws, row, 0, headline(s), self.headline)
        row += 1
        for key, words in (("error", "Error: will be rejected as they stand; fix before submitting"),
                           ("warning", "Warning: to review; a coder should look before submitting"),
                           ("info", "Info: a suggestion only; ready to submit"),
                           ("ok", "OK: no findings; ready to submit")):
            row += 1
            ws.merge_range(row, 0, row, 1, cell_text(words), self.status[key])
            ws.write_number(row, 2, s["by_status"][key], self.top)
        row = self._findings_by_rule(ws, row + 2)
        row = self._payers(ws, row + 2)
        row = self._how_checked(ws, row + 2)

    def _findings_by_rule(self, ws, row: int) -> int:
        s, text = self.s, self._text
        total = sum(s["by_rule"].values())
        if not total:
            text(ws, row, 0, "Findings by rule", self.section)
            text(ws, row + 1, 0, "No rule found anything.")
            return row + 1
        shown = min(TOP_RULES, len(s["by_rule"]))
        chart_rows = math.ceil((90 + 28 * shown) / 20) + 1
        chart_at = row
        row += chart_rows + 1
        text(ws, row, 0, "Findings by rule", self.section)
        row += 1
        for c, name in enumerate(("Rule", "What it checks", "Findings", "Share", "Severity",
                                  "What to do")):
            text(ws, row, c, name, self.head)
        first = row + 1
        for rule_id, n in s["by_rule"].items():
            row += 1
            r = self.rules.get(rule_id)
            label = f"{rule_id} {rule_name(rule_id, r)}"
            summary = r.summary if r else ""
            fix = (r.section("Fix") if r else "") or ""
            sev = str(r.severity) if r else ""
            text(ws, row, 0, label, self.wrap)
            text(ws, row, 1, summary, self.wrap)
            ws.write_number(row, 2, n, self.top)
            ws.write_number(row, 3, n / total, self.percent)
            text(ws, row, 4, r.severity_names() if r else "", self.status.get(sev, self.top))
            text(ws, row, 5, fix, self.wrap)
            ws.set_row(row, LINE_HEIGHT * max(_lines(label, 34), _lines(summary, 40), _lines(fix, 55)))
        last = row
        chart = self.wb.add_chart({"type": "bar"})
        chart.add_series({
            "name": "Findings",
            "categories": ["Summary", first, 0, first + shown - 1, 0],
            "values": ["Summary", first, 2, first + shown - 1, 2],
            "fill": {"color": "#C0504D"},
            "data_labels": {"value": True},
        })
        more = f" (of {last - first + 1})" if last - first + 1 > shown else ""
        chart.set_title({"name": f"Top {shown} rules by findings{more}", "name_font": {"size": 12}})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True, "num_font": {"size": 9}})
        top = max(s["by_rule"].values())
        chart.set_x_axis({"major_unit": max(1, -(-top // 6)), "num_format": "0", "min": 0,
                          "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
        chart.set_size({"width": 720, "height": 90 + 28 * shown})
        ws.insert_chart(chart_at, 0, chart, {"object_position": 3})
        return row

    def _payers(self, ws, row: int) -> int:
        text = self._text
        groups = self.s.get("payer_groups", ())
        sections = any(g["configured"] for g in groups)
        text(ws, row, 0, "Claims by payer" + ("" if sections else
                                              " (no payer sections are configured: grouped by name)"),
             self.section)
        row += 1
        for c, name in enumerate(("Payer", "Spellings in the sheet", "Claims", "Errors",
                                  "Warnings")):
            text(ws, row, c, name, self.head)
        for group in groups:
            row += 1
            name = group["payer"] + ("" if group["configured"] or not sections else " (no payer section)")
            spellings = ", ".join(group["spellings"])
            text(ws, row, 0, name, self.wrap)
            text(ws, row, 1, spellings, self.wrap)
            for c, key in enumerate(("claims", "error", "warning"), 2):
                ws.write_number(row, c, group.get(key, 0), self.top)
            ws.set_row(row, LINE_HEIGHT * max(_lines(name, 34), _lines(spellings, 40)))
        return row

    def _how_checked(self, ws, row: int) -> int:
        """What could not be checked first, then the configuration, plugins and code sets in
        force: what a reader needs to trust the counts above. Returns the last row written."""
        s, text = self.s, self._text
        config = s.get("config") or {}
        gaps = []  # (title, [(what, why)])
        if s.get("rules_not_run"):
            gaps.append(("Rules that could not run (the sheet lacks their columns)",
                         [(f"{rule} {rule_name(rule, self.rules.get(rule))}",
                           "needs " + ", ".join(cols)) for rule, cols in s["rules_not_run"].items()]))
        for group in s.get("rules_without_data") or ():
            gaps.append(("Rules that could not run (their data is not loaded)",
                         [(", ".join(group["rules"]), group["reason"])]))
        if s.get("ncci_behind"):
            gaps.append(("NCCI edits older than some dates of service",
                         [(g["set"], g["message"]) for g in s["ncci_behind"]]))
        if s.get("rules_switched_off"):
            gaps.append(("Rules switched off during the run (the claims they did not check say so)",
                         list(s["rules_switched_off"].items())))
        for title, key in (("Plugins that failed to load", "plugins_failed"),
                           ("Plugins configured but not found", "plugins_missing")):
            if s.get(key):
                gaps.append((title, [(p["plugin"], p["message"]) for p in s[key]]))
        if s.get("columns_not_used"):
            gaps.append(("Columns not used",
                         [(str(name), "xlsheets read nothing from this column: rename it, or map it "
                                      "under [columns] in xlsheets.toml, if it holds claim data")
                          for name in s["columns_not_used"]]))
        dropped = [self.result.header[i] for i in self.plan.dropped]
        if dropped:
            gaps.append(("Left out of the Claims sheet",
                         [(str(name), "the input's own status formulas, which show #NAME? outside "
                                      "Excel with xlsheets; the Status column replaces them")
                          for name in dropped]))
        if self.plan.cut:
            cut = self.plan.cut
            first = self.result.header[cut[0]]
            gaps.append((f"{plural(len(cut), 'input column')} left out of the Claims sheet",
                         [(f"{len(cut):,} column{'s' if len(cut) != 1 else ''}, from input column "
                           f"{_letters(cut[0])} ({str(first)[:40] if first is not None else 'no header'!r}) on",
                           f"an Excel sheet has {EXCEL_MAX_COLUMNS:,} columns; Status and Findings come "
                           "first, so these input columns did not fit. Every claim was still "
                           "validated; the input file has them all")]))
        for note in s.get("date_notes") or ():
            gaps.append(("Dates", [(note, "")]))
        if s.get("sheets_not_checked"):
            gaps.append(("Sheets not checked", [(note, "") for note in s["sheets_not_checked"]]))
        text(ws, row, 0, "What could not be checked", self.section)
        if not gaps:
            row += 1
            text(ws, row, 0, "Nothing: every configured rule ran, and every column was read.")
        for title, items in gaps:
            row += 1
            ws.merge_range(row, 0, row, 5, cell_text(title), self.head)
            for what, why in items:
                row += 1
                text(ws, row, 0, what, self.wrap)
                if why:
                    ws.merge_range(row, 1, row, 5, cell_text(why), self.wrap)
                    ws.set_row(row, LINE_HEIGHT * max(_lines(why, 120), _lines(what, 34)))
        row += 2
        text(ws, row, 0, "Configuration, plugins and code sets", self.section)
        row += 1
        text(ws, row, 0, "Configuration", self.head)
        text(ws, row, 1, str(config.get("file", "built-in defaults")))
        for payer, names in (config.get("plugins") or {}).items():
            row += 1
            text(ws, row, 0, f"Plugins: {payer}")
            text(ws, row, 1, ", ".join(names) if names else "built-in rules only")
        if config.get("date_order"):
            row += 1
            text(ws, row, 0, "Slash dates read")
            text(ws, row, 1, "month first (MM/DD/YYYY)" if config["date_order"] == "MDY"
                 else "day first (DD/MM/YYYY)")
        for entry in self.result.codesets():
            row += 1
            ncci = str(entry.get("kind", "")).startswith("ncci") if isinstance(entry, dict) else False
            text(ws, row, 0, "NCCI edits" if ncci else ("CPT/HCPCS list" if isinstance(entry, dict)
                                                        and entry.get("kind") == "cpt_hcpcs" else "Code set"),
                 self.top)  # beside its wrapped description, not under it
            line = cell_text(_describe_codeset(entry))
            ws.merge_range(row, 1, row, 5, line, self.wrap)
            ws.set_row(row, LINE_HEIGHT * _lines(line, 120))  # a long line wraps: room for it
        return row

    # --- claims ---------------------------------------------------------------------------
    def _claims_sheet(self) -> None:
        r = self.result
        ws = self.wb.add_worksheet(self.claims_name)
        header = list(r.header)
        plan = self.plan
        status_col, findings_col = plan.status, plan.findings
        head_row = r.header_row - 1  # 0-based
        layout = getattr(r, "layout", None)
        widths = dict(layout.widths) if layout is not None else {}
        formats = dict(layout.formats) if layout is not None else {}
        sample = self._sample_widths(header)
        # one format per output column: its number format, top-aligned (rows get tall)
        col_fmt, date_fmt = {}, {}
        for out, source in plan.inputs:
            code = formats.get(source)
            col_fmt[out] = self.wb.add_format({"num_format": code, "valign": "top"}) if code else self.top
            date_fmt[out] = col_fmt[out] if code else self.wb.add_format(
                {"num_format": "yyyy-mm-dd", "valign": "top"})
            width = widths.get(source)
            ws.set_column(out, out, width if width is not None else sample.get(source, 12))
        ws.set_column(status_col, status_col, 9)
        ws.set_column(findings_col, findings_col, FINDINGS_WIDTH)
        head_lines = 1
        for out, source in plan.inputs:
            value = header[source] if source < len(header) else None
            width = widths.get(source) or sample.get(source, 12)
            head_lines = max(head_lines, _lines(cell_text(value), max(width - 1, 1)))
            self._text(ws, head_row, out, value, self.head)
        self._text(ws, head_row, status_col, "Status", self.head)
        self._text(ws, head_row, findings_col, "Findings", self.head)
        ws.set_row(head_row, LINE_HEIGHT * head_lines + 2)
        ws.freeze_panes(head_row + 1, status_col + 1)  # header, claim ID and Status stay in view
        _printable(ws, head_row, fit=False)  # too wide to fit: printed across pages
        ws.repeat_columns(0, status_col)
        last = head_row
        verdicts = _row_verdicts(r.records(), r.findings)
        verdict = next(verdicts, None)
        write_string, write_number, write_datetime, write_boolean = (
            ws.write_string, ws.write_number, ws.write_datetime, ws.write_boolean)
        inputs = [(out, source, col_fmt[out], date_fmt[out]) for out, source in plan.inputs]
        status_fmt, status_wrap = self.status, self.status_wrap
        seen: dict[str, str] = {}  # input text -> its cell text
        for row, values in r.rows():
            if row > EXCEL_MAX_ROWS:  # a CSV longer than a sheet: the rest is in the JSON output
                break
            while verdict is not None and verdict[0] < row:
                verdict = next(verdicts, None)
            i = row - 1
            if verdict is not None and verdict[0] == row:
                _, status, text, lines = verdict
                if text:
                    if lines > 1:
                        ws.set_row(i, LINE_HEIGHT * lines)
                    write_string(i, findings_col, text, status_wrap[status])
                write_string(i, status_col, STATUS_LABEL[status], status_fmt[status])
            n = len(values)
            for out, source, fmt, dfmt in inputs:
                if source >= n:
                    continue
                value = values[source]
                if value is None:
                    continue
                kind = type(value)
                if kind is str:
                    text = seen.get(value)  # codes, payers, Y/N repeat down a sheet
                    if text is None:
                        text = cell_text(value)
                        if len(seen) < 50_000:
                            seen[value] = text
                    write_string(i, out, text, fmt)
                elif kind is int or kind is float:
                    if value == value and value not in (_INF, _NINF):
                        write_number(i, out, value, fmt)
                elif kind is bool:
                    write_boolean(i, out, value, fmt)
                elif isinstance(value, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
                    write_datetime(i, out, value, dfmt)
                elif isinstance(value, (int, float)):
                    write_number(i, out, value, fmt)
                else:
                    write_string(i, out, cell_text(value), fmt)
            last = i
        ws.autofilter(head_row, 0, max(last, head_row), plan.width - 1)

    def _sample_widths(self, header) -> dict:
        """Column widths from the header and the first rows' contents (for columns the input
        gives no width, such as every CSV column)."""
        lengths = {c: len(cell_text(v)) for c, v in enumerate(header)}
        for n, (_row, values) in enumerate(self.result.rows()):
            if n >= SAMPLE_ROWS:
                break
            for c, v in enumerate(values):
                if v is not None:
                    size = 10 if isinstance(v, (_dt.date, _dt.time, _dt.timedelta)) else len(cell_text(v))
                    if size > lengths.get(c, 0):
                        lengths[c] = size
        return {c: min(max(n + 2, 8), 40) for c, n in lengths.items()}

    # --- findings -------------------------------------------------------------------------
    def _findings_sheet(self) -> None:
        ws = self.wb.add_worksheet("Findings")
        text = self._text
        for c, (name, width) in enumerate(FINDINGS_COLUMNS):
            text(ws, 0, c, name, self.head)
            ws.set_column(c, c, width)
        ws.freeze_panes(1, 2)
        _printable(ws, 0)
        ws.repeat_columns(0, 1)
        i = dropped = 0
        target = self.claims_name.replace("'", "''")
        widths = [w for _n, w in FINDINGS_COLUMNS]
        items = self.result.findings.items
        cells = {}  # finding number -> its cells' texts and height, worked out once
        for claim_id, rows, payer, _patient, found in self.result.records():
            claim_id, payer = cell_text(claim_id), cell_text(payer)
            payer_lines = _lines(payer, widths[2])
            for n, f_rows in sorted(found, key=lambda nf: -items[nf[0]][1]):
                if i >= EXCEL_MAX_ROWS - 2:
                    dropped += 1  # the sheet is full; the JSON output has every finding
                    continue
                i += 1
                row = (f_rows or rows or (None,))[0]
                if row and i <= MAX_LINKS:
                    ws.write_url(i, 0, f"internal:'{target}'!A{row}", self.link, string=str(row),
                                 tip="Go to the claim")
                    ws.write_number(i, 0, row, self.link)  # the link stays; the cell is a number
                elif row:
                    ws.write_number(i, 0, row, self.top)
                c = cells.get(n)
                if c is None:
                    c = cells[n] = self._finding_cells(items[n], widths)
                sev, rule, name, message, todo, codes, reference, lines = c
                ws.write_string(i, 1, claim_id, self.top)
                ws.write_string(i, 2, payer, self.wrap)
                ws.write_string(i, 3, sev, self.status[sev])
                ws.write_string(i, 4, rule, self.top)
                ws.write_string(i, 5, name, self.wrap)
                ws.write_string(i, 6, message, self.wrap)
                ws.write_string(i, 7, todo, self.wrap)
                ws.write_string(i, 8, codes, self.wrap)
                ws.write_string(i, 9, reference, self.wrap)
                if lines > 1 or payer_lines > 1:
                    ws.set_row(i, LINE_HEIGHT * max(lines, payer_lines))
        if dropped:
            text(ws, i + 1, 0, f"... {dropped:,} more findings do not fit in a sheet; "
                               "use --format json for all of them.")
        ws.autofilter(0, 0, max(i, 1), len(FINDINGS_COLUMNS) - 1)

    def _finding_cells(self, item: tuple, widths: list) -> tuple:
        """A finding's texts on the Findings sheet and the lines they need (per distinct
        finding: sheets repeat findings thousands of times)."""
        rule, sev, message, codes, suggestion, reference, _column, _brief = item
        name = rule_name(rule, self.rules.get(rule))
        message, todo, reference = cell_text(message), cell_text(suggestion), cell_text(reference)
        lines = max(_lines(message, widths[6]), _lines(todo, widths[7]), _lines(name, widths[5]),
                    _lines(reference, widths[9]), len(codes) // 2 + 1)
        return (_SEVERITY_TEXT[sev], cell_text(rule), cell_text(name), message, todo,
                cell_text(", ".join(codes)), reference, lines)

    # --- rules ----------------------------------------------------------------------------
    def _rules_sheet(self) -> None:
        ws = self.wb.add_worksheet("Rules")
        text = self._text
        columns = [("Rule", 7), ("Name", 24), ("Severity", 9), ("Findings", 9),
                   ("What it checks", 50), ("How to fix", 50), ("Reference", 28), ("From", 16)]
        for c, (name, width) in enumerate(columns):
            text(ws, 0, c, name, self.head)
            ws.set_column(c, c, width)
        ws.freeze_panes(1, 1)
        _printable(ws, 0)
        row = 0
        for rule_id, n in sorted(self.s["by_rule"].items()):
            row += 1
            r = self.rules.get(rule_id)
            sev = str(r.severity) if r else ""
            summary = r.summary if r else ""
            fix = (r.section("Fix") if r else "") or ""
            text(ws, row, 0, rule_id, self.top)
            text(ws, row, 1, rule_name(rule_id, r), self.wrap)
            text(ws, row, 2, r.severity_names() if r else "", self.status.get(sev, self.top))
            ws.write_number(row, 3, n, self.top)
            text(ws, row, 4, summary, self.wrap)
            text(ws, row, 5, fix, self.wrap)
            text(ws, row, 6, r.reference if r else "", self.wrap)
            text(ws, row, 7, ("built-in" if r.trusted else r.plugin) if r else "", self.wrap)
            ws.set_row(row, LINE_HEIGHT * max(_lines(summary, 50), _lines(fix, 50),
                                              _lines(r.reference if r else "", 28)))
        ws.autofilter(0, 0, max(row, 1), len(columns) - 1)


_INF, _NINF = float("inf"), float("-inf")
_SEVERITY_TEXT = {3: "error", 2: "warning", 1: "info"}


def _severities():
    from .findings import Severity
    return {int(s): s for s in Severity}


_SEVERITIES = _severities()


class ClaimsColumns:
    """Where each column of the Claims sheet comes from: the claim ID first, then Status and
    Findings (never pushed off a wide sheet), then the other input columns in their order; the
    input's own status column is left out."""

    def __init__(self, claim_id, status, findings, inputs, dropped, width, cut=()):
        self.claim_id, self.status, self.findings = claim_id, status, findings
        self.inputs = inputs  # [(output column, input column)]
        self.dropped = dropped  # input columns left out (the input's own status formulas)
        self.width = width
        self.cut = list(cut)  # input columns past Excel's last column: reported, not written


def claims_columns(header: list, header_map=None) -> ClaimsColumns:
    id_index = None
    if header_map is not None:
        id_index = next((i for i, canon, _t in header_map.columns if canon == "claim_id"), None)
        unused = {i for i, _t in header_map.unused}
    else:
        unused = set(range(len(header)))
    dropped = [i for i, v in enumerate(header)
               if i in unused and isinstance(v, str) and " ".join(v.lower().split()) in STATUS_HEADERS]
    inputs = []
    out = 0
    if id_index is not None:
        inputs.append((0, id_index))
        out = 1
    status, findings = out, out + 1
    out += 2
    cut = []
    for i in range(len(header)):
        if i == id_index or i in dropped:
            continue
        if out >= EXCEL_MAX_COLUMNS:  # Status and Findings come first, so only inputs can be cut
            cut.append(i)
            continue
        inputs.append((out, i))
        out += 1
    return ClaimsColumns(0 if id_index is not None else None, status, findings, inputs, dropped, out, cut)


def _letters(index: int) -> str:
    """Excel's letters of a 0-based column index: 0 -> A, 16384 -> XFE."""
    letters, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def headline(s: dict) -> str:
    """"31 claims: 15 will be rejected, 10 to review, 6 ready", in plain words. Claims whose
    check was incomplete are never called ready."""
    by = s["by_status"]
    ready = by["ok"] + by["info"]
    parts = []
    if by["error"]:
        parts.append(f"{by['error']:,} will be rejected")
    if by["warning"]:
        parts.append(f"{by['warning']:,} to review")
    complete = not s.get("plugins_skipped")
    if ready:
        parts.append(f"{ready:,} ready" if complete else f"{ready:,} without findings, but not fully checked")
    claims = s["claims"]
    text = f"{claims:,} claim{'' if claims == 1 else 's'}: " + (", ".join(parts) or "none")
    # Every rule listed below as not run: for missing columns and for data not loaded (NCCI).
    not_run = set(s.get("rules_not_run") or ())
    not_run.update(rule for group in s.get("rules_without_data") or () for rule in group["rules"])
    if not_run:
        n = len(not_run)
        text += f" ({n} rule{'' if n == 1 else 's'} could not run: see below)"
    return text


def _banner(s: dict) -> str:
    from .batch import skipped_banner
    return skipped_banner(s)


# Field names of the JSON codesets entries as a manager reads them on the Summary.
_CODESET_WORDS = {"from": "for dates of service from", "edits_effective_from": "edits effective from",
                  "edits_effective_to": "to"}


def _describe_codeset(entry) -> str:
    """One line for a code set, whatever fields it has (name, dates, source...), in plain words."""
    if not isinstance(entry, dict):
        return str(entry)
    name = entry.get("name", "")
    rest = [f"{_CODESET_WORDS.get(k, k.replace('_', ' '))} {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in entry.items() if k not in ("name", "kind") and v not in (None, "", [], {})]
    return name + (f" ({', '.join(rest)})" if rest else "")


def _printable(ws, header_row, fit: bool = True) -> None:
    """Landscape, one page wide, header repeated: a report gets printed."""
    ws.set_landscape()
    if fit:
        ws.fit_to_pages(1, 0)
    ws.set_paper(9)  # A4; Letter users' Excel rescales
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    if header_row is not None:
        ws.repeat_rows(header_row)


def _row_verdicts(records, table):
    """(sheet row, status, findings cell text, its lines) for every row of every claim, in row
    order, from the spooled records; each distinct finding's text is made once."""
    from .findings import Finding
    items = table.items
    texts: dict[int, tuple[str, int]] = {}  # finding number -> (cell text, lines)
    for _claim_id, rows, _payer, _patient, found in records:
        per_row = {r: [] for r in rows}
        for n, f_rows in found:
            for r in (f_rows or rows):
                if r in per_row:
                    per_row[r].append(n)
        for r in sorted(per_row):
            numbers = sorted(per_row[r], key=lambda n: -items[n][1])
            if not numbers:
                yield r, "ok", "", 0
                continue
            parts, lines = [], 0
            for n in numbers:
                t = texts.get(n)
                if t is None:
                    rule, sev, message, codes, suggestion, reference, column, brief = items[n]
                    short = cell_text(Finding(rule, _SEVERITIES[sev], message, codes, suggestion,
                                              reference, (), column, brief).short())
                    t = texts[n] = (short, _lines(short, FINDINGS_WIDTH))
                parts.append(t[0])
                lines += t[1]
            yield r, _SEVERITY_TEXT[items[numbers[0]][1]], cell_text("\n".join(parts)), lines


def _sheet_name(name: str) -> str:
    """A valid, different-from-ours sheet name (31 characters, no []:*?/\\)."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")[:31] or "Claims"
    return clean if clean.lower() not in ("findings", "summary", "rules") else "Claims"
