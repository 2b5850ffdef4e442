"""``xlsheets codes ...``: look codes up, check Excludes pairs, import CMS releases.

The main CLI dispatches ``xlsheets codes <args>`` to :func:`main`. Forms::

    xlsheets codes M54.17 [M51.17 ...] [--dos 03/10/2026] [--kind excludes1] [--all-notes] [--format json]
    xlsheets codes --pair M54.17 M51.17
    xlsheets codes 99201 [--dos DATE]        (a CPT/HCPCS code: what the history and imported lists say)
    xlsheets codes import ORDER.txt TABULAR.xml --effective 2026-10-01 [--until DATE] [--data-dir DIR]
    xlsheets codes import-hcpcs HCPC2026_JAN_ANWEB.txt [--name NAME] [--data-dir DIR]
    xlsheets codes import-cpt MY_LICENSED_CPT.csv [--name NAME] [--data-dir DIR]
    xlsheets codes coverage [--format json]

Dates are read as the sheet reads them (xlsheets.cli.parse_cli_date, with the configuration's
``date_order``). JSON is always a list, one object per answer.

Exit codes: 0 done (a pair without relation is a normal answer), 1 a looked-up code is unknown
or an import failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TextIO

from . import icd10cm

_KIND_LABEL = {
    "excludes1": "Excludes1",
    "excludes2": "Excludes2",
    "includes": "Includes",
    "inclusionTerm": "Inclusion terms",
    "codeFirst": "Code first",
    "useAdditionalCode": "Use additional code",
    "codeAlso": "Code also",
    "notes": "Notes",
    "sevenChrNote": "7th character",
}


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() returns 2 and tests can run it."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Usage(f"{self.prog}: error: {message}")


EXIT_CODES = {0: "done: every code looked up is known (a pair with no relation is an answer too)",
              1: "a looked-up code is unknown, or an import failed",
              2: "usage: a bad option, date or configuration"}


def _parser(prog: str, description: str, exit_codes: dict[int, str] = EXIT_CODES) -> "_Parser":
    from ..cli import exit_codes_epilog
    return _Parser(prog=prog, description=description, epilog=exit_codes_epilog(exit_codes),
                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _dates(a, *names: str) -> None:
    """Turn the date options of ``a`` (text as typed) into dates, with the configuration's
    date_order, as the sheet's date cells are read."""
    from ..cli import UsageError, config_date_order, parse_cli_date
    order = None
    for name in names:
        text = getattr(a, name)
        if text is None:
            continue
        order = order or config_date_order(getattr(a, "config", None))
        try:
            setattr(a, name, parse_cli_date(text, order, option="--" + name.replace("_", "-")))
        except UsageError as e:
            raise _Usage(f"{_PROG}: error: {e}") from None


_PROG = "xlsheets codes"

# Where an inherited note sits, named by the shape of the code, section or chapter carrying it.
def _level(carrier: str, code: str) -> str:
    if carrier == code:
        return "code"
    if carrier.isdigit():
        return "chapter"
    if "-" in carrier:
        return "section"
    return "category" if len(carrier) == 3 else "subcategory"


def _fmt_windows(windows) -> str:
    if not windows:
        return "never billable"
    return ", ".join(f"{f.isoformat()} to {t.isoformat()}" for f, t in windows)


def describe_code(code: str, dos: date, kind: str | None = None,
                  all_notes: bool = False) -> tuple[str, dict, bool]:
    """Text and JSON for one code on one date; the flag says whether the code is known.

    Notes are grouped by where they sit (the code, its subcategory and category, its section);
    the chapter's own notes (the same dozen for every code of the chapter) only with
    ``all_notes``, and otherwise counted, so that nothing is dropped without a word."""
    cs = icd10cm.get_codeset()
    chk = cs.check(code, dos)
    n = chk.code or code
    lines = [f"{n}  {chk.title or '(no title)'}"]
    verdict = {
        icd10cm.VALID: "billable",
        icd10cm.HEADER: "not billable: a header, use a more specific code",
        icd10cm.NOT_ON_DATE: "not valid on this date",
        icd10cm.NEEDS_7TH: "needs a 7th character",
        icd10cm.BAD_7TH: "invalid 7th character",
        icd10cm.UNKNOWN: "unknown code",
    }[chk.status]
    lines.append(f"  on {dos.isoformat()}: {chk.status.value} ({verdict})")
    if not cs.covers(dos):
        lines.append("  warning: no loaded code set covers this date; import a newer CMS release")
    known = chk.status is not icd10cm.UNKNOWN
    if known:
        lines.append(f"  billable: {_fmt_windows(cs.valid_windows(n))}")  # = JSON valid_windows
        anc = cs.ancestors(n)
        if anc:
            lines.append(f"  under: {' > '.join(anc)}")
    if chk.header_windows:
        lines.append(f"  a header (not billable itself) in the code sets of: {_fmt_windows(chk.header_windows)}")
    if chk.children:
        lines.append(f"  billable codes under it: {', '.join(chk.children)}")
    if chk.seventh_choices:
        lines.append(f"  7th character choices: {', '.join(chk.seventh_choices)}")
    if chk.suggestions:
        lines.append(f"  did you mean: {', '.join(chk.suggestions)}")
    windows = cs.valid_windows(n) if known else []
    every_note = cs.notes(n, kind) if known else []
    notes = [nt for nt in every_note if all_notes or _level(nt.carrier, n) != "chapter"]
    hidden = len(every_note) - len(notes)
    for carrier in dict.fromkeys(nt.carrier for nt in notes):  # nearest first, as cs.notes gives them
        level = _level(carrier, n)
        lines.append(f"  notes at {carrier} ({'this code' if level == 'code' else level}):")
        lines += [f"    {_KIND_LABEL.get(nt.kind, nt.kind)}: {nt.text}" for nt in notes if nt.carrier == carrier]
    if hidden:
        chapter = next(nt.carrier for nt in every_note if _level(nt.carrier, n) == "chapter")
        lines.append(f"  chapter {chapter}: {hidden} more note{'s' if hidden != 1 else ''} for the whole chapter "
                     "(--all-notes shows them)")
    data = chk.to_dict()
    data["valid_windows"] = [[f.isoformat(), t.isoformat()] for f, t in windows]  # as the text says
    data["notes"] = [nt._asdict() | {"refs": list(nt.refs), "level": _level(nt.carrier, n)} for nt in notes]
    data["notes_not_shown"] = hidden
    data["manifestation"] = cs.is_manifestation(n) if known else False
    return "\n".join(lines), data, known


def _is_procedure(code: str, dos: date) -> bool:
    """A CPT/HCPCS-shaped code that is no ICD-10-CM code (G0283 has the shape of both)."""
    from . import cpt
    if not cpt.is_well_formed(code):
        return False
    return icd10cm.normalize(code) is None or icd10cm.get_codeset().check(code, dos).status is icd10cm.UNKNOWN


def describe_procedure(code: str, dos: date) -> tuple[str, dict, bool]:
    """Text and JSON for a CPT/HCPCS code on a date: what the built-in history and the imported
    lists say (never a descriptor: CPT descriptors are AMA copyright)."""
    from . import cpt
    from .proclists import get_procedure_codes
    c = cpt.normalize(code) or code
    v = get_procedure_codes().verdict(c, dos)
    status = {None: "NO_KNOWN_PROBLEM", "deleted": "DELETED", "not_yet": "NOT_YET_VALID", "unknown": "UNKNOWN"}[
        v.kind if v else None]
    lines = [f"{c}  CPT/HCPCS code (no descriptor is shipped)", f"  on {dos.isoformat()}: {status}"]
    if v is not None and v.kind == "deleted":
        lines.append(f"  deleted on {v.since.isoformat()} ({v.source})" + (f"; use {v.replacement}" if v.replacement else ""))
    elif v is not None and v.kind == "not_yet":
        lines.append(f"  in effect from {v.since.isoformat()} ({v.source})")
    elif v is not None:
        lines.append(f"  not in the imported code list {v.source}")
    else:
        lines.append("  nothing loaded says otherwise (without an imported code list only the built-in "
                     "deletions are known; see xlsheets codes coverage)")
    data = {"raw": code, "code": c, "kind": "cpt_hcpcs", "dos": dos.isoformat(), "status": status,
            "since": v.since.isoformat() if v and v.since else None,
            "replacement": v.replacement if v else None, "source": v.source if v else None}
    return "\n".join(lines), data, not (v is not None and v.kind == "unknown")


def describe_pair(a: str, b: str) -> tuple[str, dict]:
    """Text and JSON for the Excludes relation between two codes."""
    cs = icd10cm.get_codeset()
    na, nb = icd10cm.normalize(a) or a, icd10cm.normalize(b) or b
    p = cs.pair(na, nb)
    # A category note the user may read in the tabular, narrowed for this code by a nearer one.
    found = cs.narrowed(na, nb)
    narrowed = [
        f"  {nw.carrier}'s Excludes1 note \"{nw.note}\" does not apply to {nw.code}: {nw.by}'s note "
        f"\"{nw.by_note}\" narrows it, and does not name {nb if nw.code == na else na}"
        for nw in found]
    extra = {"narrowed": [{"code": nw.code, "carrier": nw.carrier, "note": nw.note, "by": nw.by,
                           "by_note": nw.by_note} for nw in found]} if found else {}
    if p is None:
        return ("\n".join([f"{na} + {nb}: no Excludes1 or Excludes2 note relates these codes", *narrowed]),
                {"a": na, "b": nb, "relation": None, **extra})
    label = "Excludes1" if p.kind == "excludes1" else "Excludes2"
    holder = nb if p.other == na else na
    meaning = (
        "not coded together, unless the conditions are unrelated (guideline I.A.12.a)"
        if p.kind == "excludes1"
        else "both may be coded when both conditions are present"
    )
    text = (
        f"{na} + {nb}: {label}\n"
        f"  note at {p.carrier} (applies to {holder}): {p.note}\n"
        f"  names {p.other}; {meaning}"
    )
    text = "\n".join([text, *narrowed])
    return text, {"a": na, "b": nb, "relation": p.kind, "carrier": p.carrier, "note": p.note, "other": p.other,
                  **extra}


def _import(argv: list[str], out: TextIO) -> int:
    from .importer import import_release

    ap = _parser("xlsheets codes import", "Import a CMS ICD-10-CM release you downloaded.",
                 {0: "imported", 1: "the files could not be read as a CMS release (nothing was stored)",
                  2: "usage: a bad option or date"})
    ap.add_argument("order", help="CMS order file (icd10cm-order-*.txt)")
    ap.add_argument("tabular", help="CMS tabular XML (icd10cm-tabular-*.xml)")
    ap.add_argument("--effective", required=True, metavar="DATE", help="first date of service it applies to")
    ap.add_argument("--until", default=None, metavar="DATE", help="last date it covers (default: one year)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: XLSHEETS_DATA_DIR or user data dir)")
    ap.add_argument("--config", help="configuration file whose date_order reads the dates")
    from ..cli import add_format_option, print_json
    add_format_option(ap)
    a = ap.parse_args(argv)
    _dates(a, "effective", "until")
    try:
        s = import_release(a.order, a.tabular, a.effective, data_dir=a.data_dir, until=a.until)
    except SyntaxError as e:  # xml.etree.ElementTree.ParseError derives from SyntaxError
        return _import_failed(f"tabular XML is not well-formed: {e}", a.format, out)
    except (OSError, ValueError) as e:
        return _import_failed(str(e), a.format, out)
    if a.format == "json":
        print_json({"imported": True, **{k: (str(v) if k == "path" else v) for k, v in s.items()}}, out)
        return 0
    print(
        f"imported ICD-10-CM {s['tabular_version']} release: {s['codes']} codes "
        f"({s['billable']} billable, {s['headers']} headers), {s['notes']} notes\n"
        f"used for dates of service {s['effective']} to {s['until']}\nstored in {s['path']}",
        file=out,
    )
    if s["unparsed_qualifiers"]:
        print(f"warning: {s['unparsed_qualifiers']} note reference qualifier(s) could not be read; those "
              "notes name their whole code range, so some Excludes pairs may be reported too widely",
              file=out)
    return 0


def _import_procedures(argv: list[str], out: TextIO, kind: str) -> int:
    """``import-hcpcs`` / ``import-cpt``: a code list with dates into the user data folder."""
    from .proclists import import_list

    what = "CMS HCPCS Level II annual file" if kind == "hcpcs" else "licensed CPT code list"
    ap = _parser(f"xlsheets codes import-{kind}", f"Import a {what} (codes and dates only; descriptors "
                 "are never stored). From then on C105 and C106 check every code of that family against it.",
                 {0: "imported", 1: "the file could not be read as a code list (nothing was stored)",
                  2: "usage: a bad option"})
    ap.add_argument("file", help="fixed-width text (the CMS layout), CSV/TSV or xlsx with code and date columns")
    ap.add_argument("--name", default=None, help="name to store it under (default: the file name); the same name replaces")
    ap.add_argument("--data-dir", default=None, help="data folder (default: XLSHEETS_DATA_DIR or user data dir)")
    from ..cli import add_format_option, print_json
    add_format_option(ap)
    a = ap.parse_args(argv)
    try:
        s = import_list(a.file, kind=kind, name=a.name, data_dir=a.data_dir)
    except (OSError, ValueError, UnicodeError) as e:
        return _import_failed(str(e), a.format, out)
    except Exception as e:  # a damaged xlsx: openpyxl's own errors; plain words, nothing stored
        return _import_failed(f"{a.file} cannot be read as a code list ({type(e).__name__}: {e})", a.format, out)
    if a.format == "json":
        print_json({"imported": True, **{k: str(v) if k == "path" else v for k, v in s.items()}}, out)
        return 0
    print(f"imported {s['codes']} {'HCPCS Level II' if kind == 'hcpcs' else 'CPT'} codes from {s['source']} "
          f"({s['terminated']} with a termination date; dates {s['from']} to {s['to']})\nstored in {s['path']}",
          file=out)
    return 0


def _import_failed(reason: str, fmt: str, out: TextIO) -> int:
    if fmt == "json":
        from ..cli import print_json
        print_json({"imported": False, "error": reason}, out)
    else:
        print(f"import failed: {reason}", file=out)
    return 1


def _coverage(argv: list[str], out: TextIO) -> int:
    from ..cli import add_format_option, print_json
    from .proclists import get_procedure_codes
    ap = _parser("xlsheets codes coverage", "Show the loaded ICD-10-CM code sets and CPT/HCPCS code lists.",
                 {0: "done", 2: "usage: a bad option"})
    add_format_option(ap, json_alias=True)
    a = ap.parse_args(argv)
    cov = icd10cm.get_codeset().coverage() + get_procedure_codes().coverage()
    if a.format == "json":
        print_json(cov, out)
    else:
        for c in cov:
            files = f"; files: {', '.join(c['files'])}" if c.get("files") else ""
            version = f"; {c['version']}" if c.get("version") else ""
            print(f"{c['name']}: {c['from']} to {c['to']} ({c['source']}{version}{files})", file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point for ``xlsheets codes``; prints to ``out`` (stdout) and returns the exit code."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "import":
            return _import(argv[1:], out)
        if argv and argv[0] == "coverage":
            return _coverage(argv[1:], out)
        if argv and argv[0] in ("import-hcpcs", "import-cpt"):
            return _import_procedures(argv[1:], out, argv[0].split("-")[1])
        from ..cli import add_format_option
        ap = _parser(_PROG, "Look up ICD-10-CM codes by date of service.\n\n"
                     "  xlsheets codes M54.17 --dos 03/10/2026\n"
                     "  xlsheets codes --pair M54.17 M51.17\n"
                     "  xlsheets codes import ORDER.txt TABULAR.xml --effective 2026-10-01\n"
                     "  xlsheets codes coverage")
        ap.add_argument("codes", nargs="*", help="ICD-10-CM codes (M54.17 or M5417)")
        ap.add_argument("--dos", default=None, metavar="DATE",
                        help="date of service, in any form the sheet accepts (2026-03-10, 03/10/2026, "
                             "10.03.2026; slash dates as the configuration's date_order says; default: today)")
        ap.add_argument("--pair", nargs=2, metavar=("A", "B"), help="Excludes1/Excludes2 relation of two codes")
        ap.add_argument("--kind", default=None, choices=sorted(_KIND_LABEL), help="only notes of this kind")
        ap.add_argument("--all-notes", action="store_true",
                        help="also the chapter's notes, which apply to every code of the chapter")
        ap.add_argument("--config", help="configuration file (for date_order; default: found as validate finds it)")
        add_format_option(ap, json_alias=True)
        a = ap.parse_args(argv)
        if not a.codes and not a.pair:
            raise _Usage("xlsheets codes: error: give codes, --pair A B, 'import' or 'coverage'")
        _dates(a, "dos")
    except _Usage as e:
        print(str(e), file=sys.stderr)
        return 2
    dos = a.dos or date.today()
    texts, datas, rc = [], [], 0
    if a.pair:
        t, d = describe_pair(*a.pair)
        texts.append(t)
        datas.append(d)
    for code in a.codes:
        t, d, known = describe_procedure(code, dos) if _is_procedure(code, dos) else \
            describe_code(code, dos, a.kind, a.all_notes)
        texts.append(t)
        datas.append(d)
        rc = rc if known else 1
    if a.format == "json":
        from ..cli import print_json
        print_json(datas, out)  # always a list: one answer or many, the same shape
    else:
        print("\n\n".join(texts), file=out)
    return rc


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
