"""``xlsheets template OUT.xlsx``: the claims template workbook (``templates/claims.xlsx``).

A billing person starts from this file: canonical column headers, dropdowns for Y/N and
laterality, date formats, a status formula per row and one fast whole-table status formula,
colours on the status, and an Instructions sheet saying how to get the functions into Excel and
what each column means. ``tools/make_sample.py`` fills the same layout with sample claims.
An existing file is never replaced unless ``--force`` is given (exit 2 otherwise).

Formulas are written as array (CSE) formulas: a file written outside Excel carries no
dynamic-array metadata, and an array formula is the form every Excel version evaluates without
implicit intersection (no ``@`` inserted), so ranges reach Python whole.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

__all__ = ["main", "build_template", "COLUMNS", "CLAIMS_SHEET", "DATA_ROWS"]

CLAIMS_SHEET = "Claims"
STATUS_SHEET = "Status (fast)"
DATA_ROWS = 200  # rows prepared with formulas and dropdowns

# (canonical column, kind, what it means) - kinds: text, date, code, flag, side, number
COLUMNS: list[tuple[str, str, str]] = [
    ("claim_id", "text", "Claim identifier (as in your practice-management system)."),
    ("patient_id", "text", "Patient identifier; lets xlsheets see a patient's other claims (session limits)."),
    ("dos", "date", "Date of service, e.g. 2026-03-10. Decides which code set applies."),
    ("payer", "text", "Payer name or ID (Medicare, Aetna, ...); selects the payer policy."),
    ("pos", "text", "Place of service: 11 office, 02 or 10 telehealth, 22 outpatient hospital, ..."),
    ("dx1", "code", "First-listed ICD-10-CM diagnosis, e.g. M54.17 (M5417 and m54.17 are read too)."),
    ("dx2", "code", "Second ICD-10-CM diagnosis."),
    ("dx3", "code", "Third ICD-10-CM diagnosis."),
    ("dx4", "code", "Fourth ICD-10-CM diagnosis."),
    ("cpt1", "code", "CPT/HCPCS code with modifiers and units, e.g. 64483-RT, 97110x2, 99214-25."),
    ("cpt2", "code", "Second CPT/HCPCS code (add-on codes such as 64484 go with their primary)."),
    ("cpt3", "code", "Third CPT/HCPCS code."),
    ("laterality", "side", "Side of symptoms or procedure: L left, R right, B bilateral."),
    ("nerve_root_level", "text", "Documented nerve root level(s): L5-S1, L4-L5, S1, L4, L5."),
    ("symptom_weeks", "number", "How many weeks the symptoms have lasted."),
    ("conservative_care_weeks", "number", "Weeks of documented conservative care (PT, NSAIDs, activity modification)."),
    ("trauma", "flag", "Y when the condition was caused by an injury."),
    ("disc_disorder_confirmed", "flag", "Y when imaging confirms a disc disorder as the cause."),
    ("spondylolisthesis_confirmed", "flag", "Y when imaging confirms slippage (spondylolisthesis) as the cause."),
    ("stenosis_claudication", "flag", "Y when stenosis with neurogenic claudication is documented."),
    ("radiating_pain", "flag", "Y when radiating (radicular) pain is documented."),
    ("slr_positive", "flag", "Y when the straight-leg-raise test is positive."),
    ("reflex_changes", "flag", "Y when reflex changes are documented."),
    ("sensory_deficit", "flag", "Y when a sensory deficit is documented."),
    ("motor_weakness", "flag", "Y when motor weakness is documented."),
    ("telehealth", "flag", "Y for a telehealth encounter (POS 02/10 or modifier 95/93 also count)."),
    ("myofascial_pain", "flag", "Y when myofascial pain is documented (trigger point injections)."),
    ("pain_management_encounter", "flag", "Y when the encounter is for pain control or management."),
    ("functional_progress_weeks", "number", "Weeks since the last documented functional progress note (therapy)."),
    ("pt_visits_since_progress", "number", "Treatment days since the last therapy progress report."),
]

INSTRUCTIONS = [
    "How to use this workbook",
    "",
    "1. Type or paste one claim per row on the Claims sheet, starting in row 2. Leave a column blank "
    "when the fact is not documented; delete a column you never fill in (rules needing it are then skipped).",
    "2. The Status column shows OK, or the worst problem of the claim in a few words "
    "(e.g. ERROR S301: disc disorder confirmed - use M51.17). ERROR means the claim will be rejected "
    "or denied as it stands; WARNING: review before submitting; INFO: a suggestion.",
    "3. For long sheets use the 'Status (fast)' sheet: one CLAIM_STATUS_TABLE formula checks the whole "
    "table in one call (also for exports with one service line per row).",
    "4. Other functions: CLAIM_FINDINGS(headers, row) lists every finding; ICD_TITLE, ICD_VALID, "
    "ICD_BILLABLE (code, date of service), ICD_ELECTRONIC, ICD_DOTTED (code) and ICD_EXCLUDES1(code, code).",
    "",
    "Getting the functions into Excel (pick one)",
    "",
    "A. xlwings Lite (Excel on Windows, macOS or the web; no Python install): Home > Add-ins, search "
    "'xlwings Lite', add it. Paste the two files of the xlsheets 'lite' folder (or what  xlsheets lite  "
    "writes) into its requirements.txt and main.py tabs, then restart. The formulas calculate; settings "
    "and plugins are pasted into main.py (docs/excel.md).",
    "B. Desktop Excel on Windows with Python: pip install \"xlsheets[excel]\", then  xlwings addin install. "
    "In Excel: xlwings ribbon > UDF Modules: xlsheets.udfs > Import Functions. Save as .xlsm if asked.",
    "Validate sheet (the whole sheet at once, with a Findings and a Summary sheet): in xlwings Lite pick "
    "'Validate sheet' in the add-in's script list and Run. Classic xlwings: a button whose macro is  "
    "RunPython \"import xlsheets.sheet_script as s; s.main()\"  (docs/excel.md).",
    "",
    "Before a batch goes out, the whole workbook can also be checked from a terminal, with a report: "
    "xlsheets validate claims.xlsx -o report.xlsx",
    "",
    "What each column means",
]


def _col(index: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(index)


def build_template(rows: list[list] | None = None, data_rows: int = DATA_ROWS):
    """The template workbook (openpyxl); ``rows`` pre-fills claims (the sample workbook)."""
    from openpyxl import Workbook
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.formula import ArrayFormula

    from .report import STATUS_COLOURS

    rows = rows or []
    data_rows = max(data_rows, len(rows))
    last_row = data_rows + 1
    wb = Workbook()
    ws = wb.active
    ws.title = CLAIMS_SHEET
    n = len(COLUMNS)
    last_col = _col(n)
    status_col = _col(n + 1)
    head_font = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="D9D9D9")
    for c, (name, _kind, _doc) in enumerate(COLUMNS, 1):
        cell = ws.cell(1, c, name)
        cell.font, cell.fill = head_font, head_fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[_col(c)].width = 11 if _kind in ("flag", "number") else 13
    status = ws.cell(1, n + 1, "Status")
    status.font, status.fill = head_font, head_fill
    ws.column_dimensions[status_col].width = 60
    ws.row_dimensions[1].height = 45
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{status_col}{last_row}"

    for r, values in enumerate(rows, 2):
        for c, value in enumerate(values, 1):
            if value is not None and value != "":
                ws.cell(r, c, value)
    for r in range(2, last_row + 1):
        ws.cell(r, 3).number_format = "yyyy-mm-dd"
        ref = f"{status_col}{r}"
        ws[ref] = ArrayFormula(ref, f"=CLAIM_STATUS($A$1:${last_col}$1,A{r}:{last_col}{r})")

    def add_list(kind: str, options: str, prompt: str):
        cols = [_col(c) for c, (_n, k, _d) in enumerate(COLUMNS, 1) if k == kind]
        dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True,
                            showErrorMessage=True, errorTitle="xlsheets", error=prompt)
        for c in cols:
            dv.add(f"{c}2:{c}{last_row}")
        ws.add_data_validation(dv)

    add_list("flag", "Y,N", "Use Y (documented) or N; leave blank when not documented.")
    add_list("side", "L,R,B", "Use L (left), R (right) or B (bilateral).")
    dates = DataValidation(type="date", operator="greaterThan", formula1="42278", allow_blank=True,
                           showErrorMessage=True, errorTitle="xlsheets",
                           error="Enter a date of service on or after 2015-10-01 (ICD-10-CM).")
    dates.add(f"C2:C{last_row}")
    ws.add_data_validation(dates)
    numbers = DataValidation(type="decimal", operator="between", formula1="0", formula2="520",
                             allow_blank=True, showErrorMessage=True, errorTitle="xlsheets",
                             error="Enter a number of weeks or visits (0-520).")
    for c, (_n, k, _d) in enumerate(COLUMNS, 1):
        if k == "number":
            numbers.add(f"{_col(c)}2:{_col(c)}{last_row}")
    ws.add_data_validation(numbers)

    status_range = f"{status_col}2:{status_col}{last_row}"
    for word, key in (("ERROR", "error"), ("WARNING", "warning"), ("INFO", "info"), ("OK", "ok")):
        fill, font = STATUS_COLOURS[key]
        ws.conditional_formatting.add(status_range, FormulaRule(
            formula=[f'LEFT({status_col}2,{len(word)})="{word}"'],
            fill=PatternFill("solid", fgColor=fill, bgColor=fill), font=Font(color=font)))

    fast = wb.create_sheet(STATUS_SHEET)
    fast["A1"] = "Status of each row of the Claims sheet (one call for the whole table)"
    fast["A1"].font = head_font
    fast.column_dimensions["A"].width = 80
    fast_ref = f"A2:A{last_row}"
    fast["A2"] = ArrayFormula(fast_ref, f"=CLAIM_STATUS_TABLE({CLAIMS_SHEET}!A1:{last_col}{last_row})")
    for word, key in (("ERROR", "error"), ("WARNING", "warning"), ("INFO", "info"), ("OK", "ok")):
        fill, font = STATUS_COLOURS[key]
        fast.conditional_formatting.add(fast_ref, FormulaRule(
            formula=[f'LEFT(A2,{len(word)})="{word}"'],
            fill=PatternFill("solid", fgColor=fill, bgColor=fill), font=Font(color=font)))

    info = wb.create_sheet("Instructions")
    info.column_dimensions["A"].width = 30
    info.column_dimensions["B"].width = 100
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, text in enumerate(INSTRUCTIONS, 1):
        cell = info.cell(r, 1, text)
        if r == 1 or text in ("Getting the functions into Excel (pick one)", "What each column means"):
            cell.font = Font(bold=True, size=12 if r > 1 else 14)
        elif text:
            # one paragraph across both columns, wrapped, tall enough for its lines
            info.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
            cell.alignment = wrap
            info.row_dimensions[r].height = 15 * (len(text) // 115 + 1)
    info.page_setup.fitToWidth, info.page_setup.fitToHeight = 1, 0
    info.sheet_properties.pageSetUpPr.fitToPage = True
    r = len(INSTRUCTIONS) + 1
    info.cell(r, 1, "Column").font = head_font
    info.cell(r, 2, "Meaning").font = head_font
    for name, kind, doc in COLUMNS:
        r += 1
        info.cell(r, 1, name)
        info.cell(r, 2, doc + {"flag": " (Y/N)", "date": "", "number": ""}.get(kind, "")).alignment = wrap
    wb.properties.creator = "xlsheets"
    wb.properties.created = wb.properties.modified = _dt.datetime(2026, 1, 1)
    return wb


def _exists(out: Path) -> int:
    print(f"xlsheets: {out} already exists and was left as it is. Choose another name, or pass "
          "--force to replace it with an empty template.", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xlsheets template",
                                     description="Write the claims template workbook.")
    parser.add_argument("output", help="where to write it, e.g. claims.xlsx")
    parser.add_argument("--rows", type=int, default=DATA_ROWS, help="rows prepared with formulas")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    args = parser.parse_args(argv)
    from .io import atomic_output
    out = Path(args.output)
    if out.suffix.lower() != ".xlsx":
        print(f"xlsheets: the template must be an .xlsx file, e.g. claims.xlsx (got {out.name})", file=sys.stderr)
        return 2
    if not out.resolve().parent.is_dir():
        print(f"xlsheets: the folder {out.resolve().parent} does not exist", file=sys.stderr)
        return 2
    if out.is_dir():
        print(f"xlsheets: {out} is a folder; give a file name, e.g. {out / 'claims.xlsx'}", file=sys.stderr)
        return 2
    if (out.exists() or out.is_symlink()) and not args.force:
        return _exists(out)
    try:
        with atomic_output(out, replace=args.force) as tmp:
            build_template(data_rows=args.rows).save(tmp)
    except FileExistsError:  # it appeared while the template was being written
        return _exists(out)
    print(f"Template written to {out}")
    return 0
