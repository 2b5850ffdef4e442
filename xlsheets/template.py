"""``xlsheets template OUT.xlsx``: the claims template workbook (``templates/claims.xlsx``).

A billing person starts from this file: canonical column headers, dropdowns for Y/N and
laterality, date formats, a status formula per row and one fast whole-table status formula,
colours on the status, and an Instructions sheet saying how to get the functions into Excel and
what each column means. ``tools/make_sample.py`` fills the same layout with sample claims.
An existing file is never replaced unless ``--force`` is given (exit 2 otherwise).
``--classic`` writes the same workbook as a macro-enabled .xlsm with a "Validate sheet" button
(``xlsheets.classic_template``).

Formulas are written as array (CSE) formulas: a file written outside Excel carries no
dynamic-array metadata, and an array formula is the form every Excel version evaluates without
implicit intersection (no ``@`` inserted), so ranges reach Python whole.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

__all__ = ["main", "build_template", "payer_choices", "COLUMNS", "CLAIMS_SHEET", "DATA_ROWS"]

CLAIMS_SHEET = "Claims"
STATUS_SHEET = "Status (fast)"
INSTRUCTIONS_SHEET = "Instructions"
DATA_ROWS = 200  # rows prepared with formulas and dropdowns

MAX_CODES = 12  # dx1..dx12 and cpt1..cpt12: the 12 diagnoses and 12 service lines of a CMS-1500

# (canonical column, kind, what it means) - kinds: text, date, payer, pos, dx, cpt, flag, side, number.
# A whole professional claim: the claim, its 12 diagnoses (CMS-1500 item 21 A-L), its procedures
# with modifiers and units (item 24), and every documentation fact a rule reads (domain.md section 2).
COLUMNS: list[tuple[str, str, str]] = [
    ("claim_id", "text", "Claim identifier (as in your practice-management system)."),
    ("patient_id", "text", "Patient identifier; lets xlsheets see a patient's other claims (session limits)."),
    ("dos", "date", "Date of service, e.g. 2026-03-10 or 03/10/2026. Decides which code set applies."),
    ("payer", "payer", "Payer name or ID (Medicare, Aetna, ...); selects the payer policy."),
    ("pos", "pos", "Place of service (CMS code): 11 office, 02 or 10 telehealth, 22 on-campus outpatient "
                   "hospital, 24 ambulatory surgical center, ... (the Lists sheet has every code)."),
    ("dx1", "dx", "First-listed ICD-10-CM diagnosis, e.g. M54.17 (M5417 and m54.17 are read too)."),
    *[(f"dx{n}", "dx", f"ICD-10-CM diagnosis {n} (CMS-1500 item 21, letter {'ABCDEFGHIJKL'[n - 1]}).")
      for n in range(2, MAX_CODES + 1)],
    ("cpt1", "cpt", "CPT/HCPCS code with its modifiers and units, e.g. 64483-RT, 97110x2, 99214-25."),
    *[(f"cpt{n}", "cpt", f"CPT/HCPCS code {n} with modifiers and units (add-on codes such as 64484 go "
                         "with their primary).") for n in range(2, MAX_CODES + 1)],
    ("laterality", "side", "Side of symptoms or procedure: L left, R right, B bilateral."),
    ("nerve_root_level", "text", "Documented nerve root level(s): L5-S1, L4-L5, S1, L4, L5."),
    ("symptom_weeks", "number", "How many weeks the symptoms have lasted."),
    ("conservative_care_weeks", "number", "Weeks of documented conservative care (PT, NSAIDs, activity modification)."),
    ("red_flags", "flag", "Y when red flags are documented (cancer history, fever, progressive deficit, ...)."),
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
    ("esi_levels", "number", "Number of levels injected in the ESI session (when not clear from the nerve root level)."),
    ("functional_progress_weeks", "number", "Weeks since the last documented functional progress note (therapy)."),
    ("pt_visits_since_progress", "number", "Treatment days since the last therapy progress report."),
    ("plan_of_care_days", "number", "Days since the therapy plan of care was certified or recertified."),
]
# Header colours by group, so a 50-column sheet reads as claim / diagnoses / procedures / facts.
_GROUP_FILL = {"text": "D9D9D9", "date": "D9D9D9", "payer": "D9D9D9", "pos": "D9D9D9",
               "dx": "DDEBF7", "cpt": "E2EFDA"}
_FACT_FILL = "FFF2CC"
FIRST_SERVICE_DATE = _dt.date(2015, 10, 1)  # ICD-10-CM: no earlier date of service is checked
LISTS_SHEET = "Lists"

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
    "ICD_BILLABLE (code, date of service), ICD_ELECTRONIC, ICD_DOTTED (code), ICD_EXCLUDES1(code, code) and "
    "NCCI_PAIR(code, code, date of service): the NCCI procedure-pair edit in force, once the NCCI files are "
    "imported (xlsheets ncci import).",
    "",
    "Getting the functions into Excel (pick one)",
    "",
    "A. xlwings Lite (Excel on Windows, macOS or the web; no Python install): Home > Add-ins, search "
    "'xlwings Lite', add it. Paste the two files of the xlsheets 'lite' folder (or what  xlsheets lite  "
    "writes) into its requirements.txt and main.py tabs, then restart. The formulas calculate; settings "
    "and plugins are pasted into main.py (docs/excel.md).",
    "B. Desktop Excel on Windows with Python: pip install \"xlsheets[excel]\", then  xlwings addin install. "
    "Work in claims.xlsm, the classic template (xlsheets template --classic claims.xlsm  writes it with "
    "claims.py beside it). In Excel: xlwings ribbon > UDF Modules: xlsheets.udfs > Import Functions.",
    "Validate sheet (the whole sheet at once, with a Findings and a Summary sheet): in xlwings Lite pick "
    "'Validate sheet' in the add-in's script list and Run. Classic xlwings: in claims.xlsm press "
    "Validate Claims at the top of this sheet, or the Validate sheet button at the right end of the Claims "
    "header row (right of Status); claims.py must sit "
    "next to the workbook, under the same name (docs/excel.md). The VBA module in claims.xlsm is xlwings' "
    "own (BSD 3-clause licence, Copyright (C) 2014-present Zoomer Analytics; the licence heads the module).",
    "",
    "Before a batch goes out, the whole workbook can also be checked from a terminal, with a report: "
    "xlsheets validate claims.xlsx -o report.xlsx",
    "",
    "What each column means",
]


def _col(index: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(index)


def _excel_serial(day: _dt.date) -> int:
    return (day - _dt.date(1899, 12, 30)).days


def _prompt(name: str, kind: str, doc: str) -> str:
    """The input message Excel shows on a selected cell (at most 255 characters)."""
    extra = {"flag": " Y or N; blank = not documented.", "side": " Pick L, R or B.",
             "pos": "", "payer": "", "number": " A number (0-520); blank = not documented."}.get(kind, "")
    return (doc + extra)[:255]


def build_template(rows: list[list] | None = None, data_rows: int = DATA_ROWS, payers: list[str] | None = None):
    """The template workbook (openpyxl); ``rows`` pre-fills claims (the sample workbook).

    ``payers``: the payer names of the configuration's [payers] sections, offered in the payer
    dropdown (other names are still accepted, with a warning); none: the cell only prompts.
    Every column has an input prompt saying what goes in it; the dropdowns (Y/N, L/R/B, place of
    service, payer) and the date and number checks say the same in their error messages.
    """
    from openpyxl import Workbook
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.formula import ArrayFormula

    from .codes.pos import PLACES_OF_SERVICE
    from .codes.pos import SOURCE as POS_SOURCE
    from .report import STATUS_COLOURS

    rows = rows or []
    payers = list(dict.fromkeys(p for p in (payers or []) if p))
    data_rows = max(data_rows, len(rows))
    last_row = data_rows + 1
    wb = Workbook()
    ws = wb.active
    ws.title = CLAIMS_SHEET
    n = len(COLUMNS)
    last_col = _col(n)
    status_col = _col(n + 1)
    head_font = Font(bold=True)
    for c, (name, kind, _doc) in enumerate(COLUMNS, 1):
        cell = ws.cell(1, c, name)
        fill = _GROUP_FILL.get(kind, _FACT_FILL)
        cell.font, cell.fill = head_font, PatternFill("solid", fgColor=fill)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[_col(c)].width = {"flag": 11, "number": 11, "side": 10, "pos": 7,
                                               "dx": 9, "cpt": 10}.get(kind, 13)
    status = ws.cell(1, n + 1, "Status")
    status.font, status.fill = head_font, PatternFill("solid", fgColor="D9D9D9")
    ws.column_dimensions[status_col].width = 60
    ws.row_dimensions[1].height = 45
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{status_col}{last_row}"
    ws.page_setup.orientation = "landscape"  # printed: the claim ID and the headers on every page
    ws.print_title_rows, ws.print_title_cols = "1:1", "A:A"

    index = {name: c for c, (name, _k, _d) in enumerate(COLUMNS, 1)}
    for r, values in enumerate(rows, 2):
        for c, value in enumerate(values, 1):
            if value is not None and value != "":
                ws.cell(r, c, value)
    dos_col, pos_col = index["dos"], index["pos"]
    for r in range(2, last_row + 1):
        ws.cell(r, dos_col).number_format = "yyyy-mm-dd"
        ws.cell(r, pos_col).number_format = "@"  # 02 stays 02, and matches the list
        ref = f"{status_col}{r}"
        ws[ref] = ArrayFormula(ref, f"=CLAIM_STATUS($A$1:${last_col}$1,A{r}:{last_col}{r})")

    # The Lists sheet: what the place-of-service and payer dropdowns offer, with their meaning.
    lists = wb.create_sheet(LISTS_SHEET)
    for c, (title, width) in enumerate((("POS", 7), ("Place of service (CMS)", 60), ("", 3),
                                        ("Payer", 30)), 1):
        lists.cell(1, c, title or None).font = head_font
        lists.column_dimensions[_col(c)].width = width
    for r, (code, name) in enumerate(PLACES_OF_SERVICE.items(), 2):
        lists.cell(r, 1, code).number_format = "@"
        lists.cell(r, 2, name)
    pos_last = len(PLACES_OF_SERVICE) + 1
    source = lists.cell(pos_last + 2, 2, f"Source: {POS_SOURCE}")
    source.font, source.alignment = Font(italic=True), Alignment(wrap_text=True, vertical="top")
    lists.row_dimensions[pos_last + 2].height = 30
    lists.freeze_panes = "A2"
    lists.page_setup.fitToWidth, lists.page_setup.fitToHeight = 1, 0
    lists.sheet_properties.pageSetUpPr.fitToPage = True
    for r, payer in enumerate(payers, 2):
        lists.cell(r, 4, payer)
    if not payers:
        lists.cell(2, 4, "(no [payers] in a configuration when this template was written)").font = Font(italic=True)

    def column_range(name: str) -> str:
        return f"{_col(index[name])}2:{_col(index[name])}{last_row}"

    def validate(name: str, kind: str, doc: str, error: str | None = None, style: str = "stop", **rule):
        dv = DataValidation(allow_blank=True, showInputMessage=True, promptTitle=name[:32],
                            prompt=_prompt(name, kind, doc), **rule)
        if error:
            dv.showErrorMessage, dv.errorStyle, dv.errorTitle, dv.error = True, style, "xlsheets", error[:255]
        dv.add(column_range(name))
        ws.add_data_validation(dv)

    first = FIRST_SERVICE_DATE.isoformat()
    for name, kind, doc in COLUMNS:
        if kind == "flag":
            validate(name, kind, doc, "Use Y (documented) or N; leave blank when not documented.",
                     type="list", formula1='"Y,N"')
        elif kind == "side":
            validate(name, kind, doc, "Use L (left), R (right) or B (bilateral).", type="list", formula1='"L,R,B"')
        elif kind == "pos":
            validate(name, kind, doc, "Use a CMS place-of-service code (the Lists sheet has them all), "
                     "e.g. 11 office, 02 or 10 telehealth, 22 outpatient hospital.",
                     type="list", formula1=f"{LISTS_SHEET}!$A$2:$A${pos_last}")
        elif kind == "payer" and payers:
            validate(name, kind, doc + " The list holds the payers of your xlsheets.toml.",
                     "This payer is not in the [payers] of xlsheets.toml, so only the general rules "
                     "apply to it. Keep it anyway?", style="warning",
                     type="list", formula1=f"{LISTS_SHEET}!$D$2:$D${len(payers) + 1}")
        elif kind == "date":
            # inclusive, as the message says: 2015-10-01 itself is accepted
            validate(name, kind, doc, f"Enter a date of service on or after {first} (ICD-10-CM).",
                     type="date", operator="greaterThanOrEqual", formula1=str(_excel_serial(FIRST_SERVICE_DATE)))
        elif kind == "number":
            validate(name, kind, doc, "Enter a number of weeks, days or visits from 0 to 520.",
                     type="decimal", operator="between", formula1="0", formula2="520")
        else:  # text and codes: a prompt saying what goes in, no restriction on what is typed
            validate(name, kind, doc)

    status_range = f"{status_col}2:{status_col}{last_row}"
    for word, key in (("ERROR", "error"), ("WARNING", "warning"), ("INFO", "info"), ("OK", "ok")):
        fill, font = STATUS_COLOURS[key]
        ws.conditional_formatting.add(status_range, FormulaRule(
            formula=[f'LEFT({status_col}2,{len(word)})="{word}"'],
            fill=PatternFill("solid", fgColor=fill, bgColor=fill), font=Font(color=font)))

    fast = wb.create_sheet(STATUS_SHEET, 1)
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

    info = wb.create_sheet(INSTRUCTIONS_SHEET, 2)
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
        info.cell(r, 1, name).alignment = Alignment(vertical="top")
        meaning = doc + {"flag": " (Y/N)"}.get(kind, "")
        info.cell(r, 2, meaning).alignment = wrap
        if len(meaning) > 110:  # wrapped: tall enough not to run into the next row
            info.row_dimensions[r].height = 15 * (len(meaning) // 110 + 1)
    wb.properties.creator = "xlsheets"
    wb.properties.created = wb.properties.modified = _dt.datetime(2026, 1, 1)
    return wb


def _exists(out: Path) -> int:
    print(f"xlsheets: {out} already exists and was left as it is. Choose another name, or pass "
          "--force to replace it with an empty template.", file=sys.stderr)
    return 2


def payer_choices(config) -> list[str]:
    """The payer names a configuration's [payers] sections match, as a dropdown offers them:
    every ``match`` entry without wildcards (``"medicare part b"`` -> "Medicare Part B")."""
    names = []
    for policy in getattr(config, "payers", ()):
        for pattern in policy.match:
            if not any(ch in pattern for ch in "*?[") and policy.matches(pattern.title()):
                names.append(pattern.title())
    return list(dict.fromkeys(names))


EXIT_CODES = {0: "the template was written",
              2: "nothing was written: the file exists (use --force), the name is not .xlsx (with "
                 "--classic: not .xlsm, or not a Python module name), the folder does not exist, the "
                 "configuration cannot be read, or --classic without xlwings installed"}


def main(argv: list[str]) -> int:
    from .cli import exit_codes_epilog
    parser = argparse.ArgumentParser(
        prog="xlsheets template", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write the claims template workbook: every column of a professional claim\n"
                    "(dx1-dx12, cpt1-cpt12, the documentation facts), input prompts and dropdowns,\n"
                    "and the status formulas. The payer dropdown lists the payers of the\n"
                    "configuration found for it (as validate finds it: --config, or xlsheets.toml\n"
                    "near the new file or the current folder).\n\n"
                    "--classic writes a macro-enabled .xlsm for classic xlwings on Windows, with a\n"
                    "Validate sheet button, and the Python file it runs beside it (claims.xlsm and\n"
                    "claims.py: keep them together, under the same name).",
        epilog=exit_codes_epilog(EXIT_CODES))
    parser.add_argument("output", help="where to write it, e.g. claims.xlsx (with --classic: claims.xlsm)")
    parser.add_argument("--rows", type=int, default=DATA_ROWS, help="rows prepared with formulas")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    parser.add_argument("--config", help="configuration file whose [payers] fill the payer dropdown")
    parser.add_argument("--classic", action="store_true",
                        help="a macro-enabled .xlsm with a Validate sheet button (classic xlwings, Windows)")
    args = parser.parse_args(argv)
    from .config import ConfigError, load_config
    from .io import atomic_output
    out = Path(args.output)
    suffix = ".xlsm" if args.classic else ".xlsx"
    if out.suffix.lower() != suffix:
        kind = "the classic template must be an .xlsm file, e.g. claims.xlsm" if args.classic else \
            "the template must be an .xlsx file, e.g. claims.xlsx (--classic writes an .xlsm)"
        print(f"xlsheets: {kind} (got {out.name})", file=sys.stderr)
        return 2
    if not out.resolve().parent.is_dir():
        print(f"xlsheets: the folder {out.resolve().parent} does not exist", file=sys.stderr)
        return 2
    if out.is_dir():
        print(f"xlsheets: {out} is a folder; give a file name, e.g. {out / ('claims' + suffix)}", file=sys.stderr)
        return 2
    if args.classic:
        from . import classic_template as classic
        problem = classic.module_name_problem(out)
        if problem:
            print(f"xlsheets: {problem}", file=sys.stderr)
            return 2
        companion = classic.companion_path(out)
        for path in (out, companion):
            if (path.exists() or path.is_symlink()) and not args.force:
                return _exists(path)
        try:
            vba, xlwings_version = classic.vba_project()
        except classic.ClassicTemplateError as exc:
            print(f"xlsheets: {exc}", file=sys.stderr)
            return 2
    elif (out.exists() or out.is_symlink()) and not args.force:
        return _exists(out)
    try:
        config = load_config(args.config, near=out)
    except ConfigError as exc:
        print(f"xlsheets: configuration error: {exc}", file=sys.stderr)
        return 2
    payers = payer_choices(config)
    try:
        if args.classic:
            classic.save_classic(build_template(data_rows=args.rows, payers=payers), out, vba, replace=args.force)
        else:
            with atomic_output(out, replace=args.force) as tmp:
                build_template(data_rows=args.rows, payers=payers).save(tmp)
    except FileExistsError:  # it appeared while the template was being written
        return _exists(next((p for p in (out, companion) if p.exists()), out) if args.classic else out)
    print(f"Template written to {out}")
    if args.classic:
        print(f"Its Validate sheet button runs {companion.name}, written beside it: keep the two together "
              f"under the same name. The VBA module is xlwings {xlwings_version}'s: the Python that Excel "
              "runs needs xlwings (the same version for the worksheet functions).")
    if payers:
        print(f"Payer dropdown: {', '.join(payers)} (from {config.source})")
    else:
        print("Payer dropdown: none (no configuration with [payers] found); the payer column only "
              "prompts. Write the template again once xlsheets.toml has your payers.")
    return 0
