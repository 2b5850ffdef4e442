"""``xlsheets ncci``: import the CMS NCCI files, show what is loaded, look an edit up.

    xlsheets ncci import FILE... [--quarter 2026Q1] [--setting practitioner|outpatient_hospital] [--replace]
    xlsheets ncci status
    xlsheets ncci wheel [--out FOLDER] [--setting ...] [--all-quarters]   (for xlwings Lite)
    xlsheets ncci --pair 62323 77003 [--dos 2026-03-10]
    xlsheets ncci --mue 64483 [--dos 2026-03-10]
    xlsheets ncci --addon 64484 [--dos 2026-03-10]

Every form takes ``--format text|json`` (JSON is always a list) and ``--data-dir DIR`` (default:
``XLSHEETS_DATA_DIR`` or the user data folder).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from ..cli import UsageError, add_format_option, config_date_order, exit_codes_epilog, parse_cli_date, print_json
from . import store
from .files import NcciFileError, code_text
from .wheel import DISTRIBUTION, size_text

EXIT_CODES = {0: "done (a pair with no edit is an answer too)",
              1: "a file was refused (nothing was imported; what was loaded before is kept), or "
                 "no NCCI file of that kind is loaded to answer from (wheel: none imported to pack)",
              2: "usage error"}
HOW_TO_LOAD = ("Download the NCCI files from cms.gov (PTP, MUE and add-on code edits for "
               "practitioners) and run: xlsheets ncci import FILE...")


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=exit_codes_epilog(EXIT_CODES))
    add_format_option(p)
    p.add_argument("--data-dir", help="data folder (default: XLSHEETS_DATA_DIR or the user data folder)")
    return p


def main(argv: list[str]) -> int:
    if argv and argv[0] == "import":
        return _import(argv[1:])
    if argv and argv[0] == "status":
        return _status(argv[1:])
    if argv and argv[0] == "wheel":
        return _wheel(argv[1:])
    return _lookup(argv)


def _setting_option(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--setting", choices=["practitioner", "outpatient_hospital"], default=None, help=help_text)


def _import(argv: list[str]) -> int:
    p = _parser("xlsheets ncci import", "Import NCCI edit files downloaded from cms.gov: zip archives, "
                "or the tab-delimited text, CSV or xlsx files inside them. The PTP parts (f1, f2, ...) of "
                "a download are given together, in one command; importing a quarter again replaces "
                "it, but not with fewer PTP parts than it has unless --replace is given.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--quarter", help="the quarter the files are for, e.g. 2026Q1 (default: told from "
                   "the file names, their first lines or the newest effective date)")
    _setting_option(p, "which files these are (default: told from the file, else practitioner)")
    p.add_argument("--replace", action="store_true",
                   help="replace an imported PTP set of the same quarter and setting even with fewer "
                        "parts than it has (without it, that import is refused: the parts left out "
                        "would no longer be checked)")
    args = p.parse_args(argv)
    if args.quarter:
        try:
            store.quarter_bounds(args.quarter)
        except ValueError as exc:
            raise UsageError(f"--quarter: {exc}") from None
    try:
        done = store.import_files(args.files, args.data_dir, quarter=args.quarter, setting=args.setting,
                                  replace=args.replace)
    except NcciFileError as exc:
        print(f"xlsheets ncci import: {exc}", file=sys.stderr)
        if args.format == "json":
            print_json([])
        return 1
    if args.format == "json":
        print_json(done)
        return 0
    for s in done:
        print(f"imported {s['name']}: {s['rows']:,} rows from {', '.join(s['files'])}")
        print(f"  used for dates of service from {s['from']} (quarter {s['quarter']}, to {s['to']})"
              + (f"; edits effective {s['edits_effective_from']} to {s['edits_effective_to']}"
                 if s.get("edits_effective_from") else ""))
        if s.get("parts"):
            print(f"  PTP parts imported: {store.part_text(s['parts'])}. CMS splits the PTP edits into "
                  "parts (-f1, -f2, ...); every part of the download must be imported together, in one "
                  "command: a part left out is not checked.")
        if s.get("replaced"):
            r = s["replaced"]
            print(f"  replaces the {s['quarter']} set imported {r['imported'] or '(date unknown)'} from "
                  f"{', '.join(r['files'])}")
        for note in s.get("notes") or ():
            print(f"  note: {note}")
        print(f"  stored in {s['source']}")
    skipped = done[0]["skipped"] if done else []
    if skipped:
        print("skipped: " + ", ".join(skipped))
    return 0


def _status(argv: list[str]) -> int:
    p = _parser("xlsheets ncci status", "Show the NCCI edit files that are loaded.")
    args = p.parse_args(argv)
    sets = [s.describe() for s in store.loaded_sets(args.data_dir)]
    if args.format == "json":
        print_json(sets)
        return 0
    if not sets:
        print(f"No NCCI edits are loaded (looked in {store.ncci_folder(args.data_dir)}, and no "
              f"{DISTRIBUTION} package is installed). Rules N501-N503 do not run until they are.\n"
              + HOW_TO_LOAD)
        return 0
    for s in sets:
        print(f"{s['name']}: {s['rows']:,} rows, dates of service from {s['from']}; "
              f"imported {s['imported']} from {', '.join(s['files'])}; from the {s['origin']}")
    missing = [f"{store.KIND_LABEL[k]} ({store.SETTING_LABEL[st]})" for st in store.SETTINGS
               for k in store.KINDS if any(x["setting"] == st for x in sets)
               and not any(x["setting"] == st and x["kind"] == f"ncci-{k}" for x in sets)]
    if missing:
        rules = "the rule for it does not run" if len(missing) == 1 else "the rules for them do not run"
        print("Not loaded: " + ", ".join(missing) + f"; {rules}.")
    return 0


def _wheel(argv: list[str]) -> int:
    p = _parser("xlsheets ncci wheel", "Pack the NCCI edits imported here into a data wheel for xlwings "
                "Lite (Excel on the Mac and the web), which has no data folder: host the wheel on an "
                "HTTPS server with CORS and add its address to the requirements.txt tab "
                "(xlsheets lite --ncci-wheel-url URL). Rebuild it after each quarter's import.")
    p.add_argument("--out", default=".", metavar="FOLDER", help="where to write the wheel (default: here)")
    _setting_option(p, "only the sets of this setting (default: every imported setting)")
    p.add_argument("--all-quarters", action="store_true",
                   help="every imported quarter (default: the newest of each kind and setting; the PTP "
                        "and AOC files list older edits with their dates)")
    args = p.parse_args(argv)
    from .wheel import build_wheel
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    setting = store.normalise_setting(args.setting) if args.setting else None
    try:
        done = build_wheel(out, args.data_dir, setting=setting, all_quarters=args.all_quarters)
    except NcciFileError as exc:
        print(f"xlsheets ncci wheel: {exc}", file=sys.stderr)
        if args.format == "json":
            print_json([])
        return 1
    except OSError as exc:
        raise UsageError(f"cannot write the wheel into {out}: {exc.strerror or exc}") from None
    done["requirements_line"] = f"https://YOUR-SERVER/FOLDER/{done['name']}"
    if args.format == "json":
        print_json([done])
        return 0
    print(f"wrote {done['wheel']} ({size_text(done['bytes'])}; {size_text(done['unpacked_bytes'])} "
          f"installed), {DISTRIBUTION} {done['version']}, with:")
    for s in done["sets"]:
        print(f"  {s['name']}: {s['rows']:,} rows from {', '.join(s['files'])}")
    print("For xlwings Lite: put the file on an HTTPS server that sends CORS headers, then add its "
          "address as a line of the requirements.txt tab (or: xlsheets lite --ncci-wheel-url URL):")
    print(f"  {done['requirements_line']}")
    print("Restart xlwings Lite. Each new quarter: import the CMS files, build the wheel again, host "
          "it and change that line to the new file's address.")
    return 0


def _lookup(argv: list[str]) -> int:
    p = _parser("xlsheets ncci", "Look up the NCCI edit in force on a date of service "
                "(or: xlsheets ncci import FILE... / xlsheets ncci status / xlsheets ncci wheel).")
    p.add_argument("--pair", nargs=2, metavar=("CODE_A", "CODE_B"), help="the PTP edit between two codes")
    p.add_argument("--mue", metavar="CODE", help="the MUE (units) of a code")
    p.add_argument("--addon", metavar="CODE", help="the add-on code edit of a code and its primaries")
    p.add_argument("--dos", help="date of service (default: today), as the sheet writes it")
    p.add_argument("--config", help="configuration file (its date_order and ncci_files setting)")
    _setting_option(p, "practitioner or outpatient hospital files (default: the configuration's "
                    "ncci_files, else practitioner)")
    args = p.parse_args(argv)
    if not (args.pair or args.mue or args.addon):
        raise UsageError("give --pair CODE_A CODE_B, --mue CODE or --addon CODE "
                         "(or the commands import and status)")
    from ..config import load_config
    config = load_config(args.config)
    dos = parse_cli_date(args.dos, config_date_order(args.config)) if args.dos else _dt.date.today()
    setting = args.setting or config.settings.get("ncci_files") or "practitioner"
    try:
        data = store.get_ncci(setting, args.data_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    answers, texts, rc = [], [], 0
    for kind, codes in (("ptp", args.pair), ("mue", [args.mue] if args.mue else None),
                        ("aoc", [args.addon] if args.addon else None)):
        if not codes:
            continue
        option = {"ptp": "--pair", "mue": "--mue", "aoc": "--addon"}[kind]
        codes = [_code_arg(c, option) for c in codes]
        edit_set = data.for_dos(kind, dos)
        if edit_set is None:
            texts.append(f"No NCCI {store.KIND_LABEL[kind]} file is loaded for "
                         f"{store.SETTING_LABEL[data.setting]} claims. {HOW_TO_LOAD}")
            rc = 1
            continue
        source = edit_set.name
        if kind == "ptp":
            found = edit_set.ptp(*codes) + edit_set.ptp(codes[1], codes[0])
            answers += [{**e.to_dict(), "in_force": e.in_force(dos), "dos": dos.isoformat(), "set": source}
                        for e in found]
            texts.append(_pair_text(codes, found, dos, source))
        elif kind == "mue":
            edit = edit_set.mue(codes[0])
            if edit:
                answers.append({**edit.to_dict(), "dos": dos.isoformat(), "set": source})
            texts.append(f"{codes[0]}: MUE {edit.value} unit{'' if edit.value == 1 else 's'}, MAI {edit.mai} ({store.MAI_MEANING[edit.mai]})"
                         + (f"; rationale: {edit.rationale}" if edit.rationale else "") + f"  [{source}]"
                         if edit else f"{codes[0]}: no MUE in {source}.")
        else:
            rows = edit_set.addon(codes[0])
            answers += [{**e.to_dict(), "in_force": e.in_force(dos), "dos": dos.isoformat(), "set": source}
                        for e in rows]
            texts.append(_addon_text(codes[0], rows, dos, source))
    if args.format == "json":
        print_json(answers)
    else:
        print("\n".join(texts))
    return rc


def _code_arg(text: str, option: str) -> str:
    """A code as NCCI_PAIR reads it (``62323``, ``62323-59``); anything else is a usage error."""
    found = code_text(text.strip().split("-")[0]) if text.strip() else None
    if found is None:
        raise UsageError(f"{option}: {text.strip()[:20]!r} is not a CPT/HCPCS code (5 letters or digits, "
                         "e.g. 62323)")
    return found


def _pair_text(codes: list[str], found: list, dos: _dt.date, source: str) -> str:
    a, b = codes
    if not found:
        return f"{a} + {b}: no PTP edit between these codes in {source}."
    lines = []
    for e in sorted(found, key=lambda e: (not e.in_force(dos), e.effective)):
        until = f"deleted {e.deletion.isoformat()}" if e.deletion else "no deletion date"
        if not e.in_force(dos):
            when = (f"deleted {e.deletion.isoformat()}" if e.deletion and e.deletion <= dos
                    else f"effective from {e.effective.isoformat()}")
            lines.append(f"{e.column1} + {e.column2}: a PTP edit (column 1 code {e.column1}, column 2 code "
                         f"{e.column2}) that is not in force on {dos.isoformat()} ({when}): it does not "
                         "deny either code on that date")
        elif e.modifier == 9:
            lines.append(f"{e.column1} + {e.column2}: a PTP edit (column 1 code {e.column1}, column 2 code "
                         f"{e.column2}) with modifier indicator 9: it does not apply, neither code is "
                         f"denied (in force on {dos.isoformat()})")
        else:
            lines.append(f"{e.column1} + {e.column2}: column 2 code {e.column2} is denied with column 1 code "
                         f"{e.column1} (in force on {dos.isoformat()})")
        nine = "; the edit does not apply" if e.modifier == 9 and not e.in_force(dos) else ""
        lines.append(f"  modifier indicator {e.modifier} ({store.MODIFIER_MEANING[e.modifier]}{nine}); "
                     f"effective {e.effective.isoformat()}, {until}")
        if e.rationale:
            lines.append(f"  rationale: {e.rationale}")
    lines.append(f"  [{source}]")
    return "\n".join(lines)


def _addon_text(code: str, rows: list, dos: _dt.date, source: str) -> str:
    if not rows:
        return f"{code}: not an add-on code in {source}."
    current = [r for r in rows if r.in_force(dos)] or rows
    kind = current[0].type
    primaries = sorted({r.primary for r in current if r.primary})
    text = f"{code}: add-on code, AOC edit type {kind} ({store.AOC_TYPE_MEANING[kind]})"
    if primaries:
        text += f"; primary codes: {', '.join(primaries)}"
    if not any(r.in_force(dos) for r in rows):
        text += f" (no AOC edit in force on {dos.isoformat()})"
    return text + f"  [{source}]"
