"""``xlsheets codes ...``: look codes up, check Excludes pairs, import CMS releases.

The main CLI dispatches ``xlsheets codes <args>`` to :func:`main`. Forms::

    xlsheets codes M54.17 [M51.17 ...] [--dos 2026-03-10] [--kind excludes1] [--json]
    xlsheets codes --pair M54.17 M51.17
    xlsheets codes import ORDER.txt TABULAR.xml --effective 2026-10-01 [--until DATE] [--data-dir DIR]
    xlsheets codes coverage [--json]

Exit codes: 0 done (a pair without relation is a normal answer), 1 a looked-up code is unknown
or an import failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
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


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _fmt_windows(windows) -> str:
    if not windows:
        return "never billable"
    return ", ".join(f"{f.isoformat()} to {t.isoformat()}" for f, t in windows)


def describe_code(code: str, dos: date, kind: str | None = None) -> tuple[str, dict, bool]:
    """Text and JSON for one code on one date; the flag says whether the code is known."""
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
        lines.append(f"  billable: {_fmt_windows(cs.valid_windows(n))}")
        anc = cs.ancestors(n)
        if anc:
            lines.append(f"  under: {' > '.join(anc)}")
    if chk.children:
        lines.append(f"  billable codes under it: {', '.join(chk.children)}")
    if chk.seventh_choices:
        lines.append(f"  7th character choices: {', '.join(chk.seventh_choices)}")
    if chk.suggestions:
        lines.append(f"  did you mean: {', '.join(chk.suggestions)}")
    notes = cs.notes(n, kind) if known else []
    if notes:
        lines.append("  notes:")
        for nt in notes:
            where = "" if nt.carrier == n else f" (at {nt.carrier})"
            lines.append(f"    {_KIND_LABEL.get(nt.kind, nt.kind)}{where}: {nt.text}")
    data = chk.to_dict()
    data["notes"] = [nt._asdict() | {"refs": list(nt.refs)} for nt in notes]
    data["manifestation"] = cs.is_manifestation(n) if known else False
    return "\n".join(lines), data, known


def describe_pair(a: str, b: str) -> tuple[str, dict]:
    """Text and JSON for the Excludes relation between two codes."""
    cs = icd10cm.get_codeset()
    na, nb = icd10cm.normalize(a) or a, icd10cm.normalize(b) or b
    p = cs.pair(na, nb)
    if p is None:
        return f"{na} + {nb}: no Excludes1 or Excludes2 note relates these codes", {"a": na, "b": nb, "relation": None}
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
    return text, {"a": na, "b": nb, "relation": p.kind, "carrier": p.carrier, "note": p.note, "other": p.other}


def _import(argv: list[str], out: TextIO) -> int:
    from .importer import import_release

    ap = _Parser(prog="xlsheets codes import", description="Import a CMS ICD-10-CM release you downloaded.")
    ap.add_argument("order", help="CMS order file (icd10cm-order-*.txt)")
    ap.add_argument("tabular", help="CMS tabular XML (icd10cm-tabular-*.xml)")
    ap.add_argument("--effective", type=_date, required=True, help="first date of service it applies to")
    ap.add_argument("--until", type=_date, default=None, help="last date it covers (default: one year)")
    ap.add_argument("--data-dir", default=None, help="data folder (default: XLSHEETS_DATA_DIR or user data dir)")
    a = ap.parse_args(argv)
    try:
        s = import_release(a.order, a.tabular, a.effective, data_dir=a.data_dir, until=a.until)
    except SyntaxError as e:  # xml.etree.ElementTree.ParseError derives from SyntaxError
        print(f"import failed: tabular XML is not well-formed: {e}", file=out)
        return 1
    except (OSError, ValueError) as e:
        print(f"import failed: {e}", file=out)
        return 1
    print(
        f"imported ICD-10-CM {s['tabular_version']} release: {s['codes']} codes "
        f"({s['billable']} billable, {s['headers']} headers), {s['notes']} notes\n"
        f"used for dates of service {s['effective']} to {s['until']}\nstored in {s['path']}",
        file=out,
    )
    return 0


def _coverage(argv: list[str], out: TextIO) -> int:
    ap = _Parser(prog="xlsheets codes coverage", description="Show the loaded ICD-10-CM code sets.")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    cov = icd10cm.get_codeset().coverage()
    if a.json:
        print(json.dumps(cov, indent=2), file=out)
    else:
        for c in cov:
            print(f"{c['name']}: {c['from']} to {c['to']} ({c['source']})", file=out)
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
        ap = _Parser(prog="xlsheets codes", description="Look up ICD-10-CM codes by date of service.")
        ap.add_argument("codes", nargs="*", help="ICD-10-CM codes (M54.17 or M5417)")
        ap.add_argument("--dos", type=_date, default=None, help="date of service (default: today)")
        ap.add_argument("--pair", nargs=2, metavar=("A", "B"), help="Excludes1/Excludes2 relation of two codes")
        ap.add_argument("--kind", default=None, choices=sorted(_KIND_LABEL), help="only notes of this kind")
        ap.add_argument("--json", action="store_true", help="JSON output")
        a = ap.parse_args(argv)
        if not a.codes and not a.pair:
            raise _Usage("xlsheets codes: error: give codes, --pair A B, 'import' or 'coverage'")
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
        t, d, known = describe_code(code, dos, a.kind)
        texts.append(t)
        datas.append(d)
        rc = rc if known else 1
    if a.json:
        print(json.dumps(datas if len(datas) > 1 else datas[0], indent=2, ensure_ascii=False), file=out)
    else:
        print("\n\n".join(texts), file=out)
    return rc


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
