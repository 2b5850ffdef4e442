"""``xlsheets validate PATH``: validate a whole workbook or CSV file, print a summary, optionally a report.

Exit codes: 0 no claim has an error, 1 some do, 2 unusable input or usage (a message, no traceback),
or a plugin problem (a plugin that failed to load, a configured plugin name no plugin has) found
before any claim is checked; 3 no claim has an error but not every configured rule ran
(``--skip-broken-plugins``).

Large files stream. Each validated claim is written to a temporary spool file as it is found and
only claims that batch rules may still add findings to stay in memory, so a million rows need
little memory; the outputs (JSON, text, report workbook) are then written from the spool. When a
report is asked for, the input rows are spooled as well, so the input is read only once.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import itertools
import json
import pickle
import sys
import tempfile
import time
from array import array
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

from .findings import Finding, Severity
from .plugin_guard import StdoutLost, check_stdout, output_to_stderr, results_stream
from .tempfiles import handle_termination, run_folder
from .words import plural

__all__ = ["main", "BatchResult", "run_batch"]

TEXT_FINDINGS_LIMIT = 200  # lines of findings printed on a terminal; the rest are counted
PROGRESS_EVERY = 2000
DATE_SAMPLE_ROWS = 20_000  # rows read ahead to decide whether the sheet's dates are day first
_PROTOCOL = pickle.HIGHEST_PROTOCOL


EXIT_CODES = {
    0: "no claim has an error and every configured rule ran",
    1: "some claims have errors",
    2: "nothing was checked: unusable input or usage, or a plugin problem (a plugin that failed to "
       "load, a configured plugin name that no plugin has)",
    3: "no claim has an error, but some configured plugins were skipped (--skip-broken-plugins), so "
       "not every configured rule ran",
}


def _parser() -> argparse.ArgumentParser:
    from .cli import exit_codes_epilog
    p = argparse.ArgumentParser(
        prog="xlsheets validate",
        description="Validate every claim of a workbook (.xlsx, .xlsm) or CSV file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes_epilog(EXIT_CODES))
    p.add_argument("path", help="the claims workbook or CSV file (never modified)")
    p.add_argument("--sheet", help="the sheet to validate (default: the first sheet with a claims header)")
    from .cli import add_format_option
    add_format_option(p, ("text", "json", "jsonl"))
    p.add_argument("-o", "--output", metavar="REPORT.xlsx",
                   help="also write a report workbook (claims with status, findings, summary, chart)")
    p.add_argument("--config", help="configuration file (xlsheets.toml or pyproject.toml)")
    p.add_argument("--plugins-dir", action="append", metavar="DIR", help="load plugins from this folder (repeatable)")
    p.add_argument("--plugin", action="append", metavar="NAME", help="enable this plugin for every payer (repeatable)")
    p.add_argument("--skip-broken-plugins", action="store_true",
                   help="validate even when a plugin failed to load or a configured plugin is missing; "
                        "the outputs say which were skipped, and the run exits 3 instead of 0")
    p.add_argument("--profile", action="store_true", help="print the time spent per rule and per plugin (stderr)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on a terminal")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from .config import ConfigError
    from .io import InputError
    try:
        return _run(args)
    except (InputError, ConfigError) as exc:
        kind = "configuration error: " if isinstance(exc, ConfigError) else ""
        print(f"xlsheets: {kind}{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise
        print("xlsheets: a file xlsheets was using (standard output, or one of its temporary "
              "files) was closed under it, most likely by a plugin or a program it started; "
              "nothing was written. Find the plugin that closes files (xlsheets plugins lists "
              "them) and run again.", file=sys.stderr)
        return 2


def _run(args) -> int:
    from .config import load_config
    from .engine import Validator
    from .io import InputError, check_output_path
    from .plugins import plugin_problems

    path = Path(args.path)
    if not path.exists():
        raise InputError(f"{path} not found. Check the path (and the file name's extension).")
    if args.output:
        if Path(args.output).suffix.lower() != ".xlsx":
            raise InputError(f"the report {args.output} must be an .xlsx file, e.g. report.xlsx")
        check_output_path(path, args.output)
    config = load_config(args.config, near=path).with_overrides(plugin_dirs=args.plugins_dir, plugins=args.plugin)
    with output_to_stderr():  # what plugins print at import goes to stderr, not into the JSON
        validator = Validator(config, profile=args.profile)
    problems = plugin_problems(config, validator.host)
    if problems and not args.skip_broken_plugins:
        print(plugin_problems_text(problems), file=sys.stderr)
        return 2
    progress = None if args.no_progress or not sys.stderr.isatty() else _Progress()
    lines = None
    results_out = sys.stdout
    if args.format == "jsonl":  # one claim per line as it is validated; nothing spooled for it
        from .jsonout import JsonLines
        # Lines are written while plugin rules run, when fd 1 goes to stderr: they go through a
        # copy of the real standard output made now (plugin_guard.output_to_stderr).
        results_out = results_stream()
        lines = JsonLines(results_out)
    with handle_termination(), run_folder(near=args.output) as tmpdir, \
            run_batch(path, validator, sheet=args.sheet, keep_rows=bool(args.output),
                      progress=progress, emit=lines.claim if lines else None,
                      keep_results=args.format != "jsonl" or bool(args.output),
                      tmpdir=tmpdir, route_output=True) as result:
        try:
            check_stdout()
            if lines is not None:
                lines.finish(result)
            elif args.format == "json":
                result.write_json(sys.stdout)
            else:
                result.write_text(sys.stdout)
            results_out.flush()
        except (StdoutLost, ValueError, OSError) as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise InputError(f"the results cannot be printed: standard output was closed, most "
                             f"likely by a plugin or a program it started ({exc}). Find the plugin "
                             "that closes it (xlsheets plugins lists them), or write a report with "
                             "-o report.xlsx.") from None
        if args.output:
            from .report import write_report
            try:
                cut = write_report(result, args.output, tmpdir)
            except OSError as exc:  # the disk filled up, the folder went away meanwhile
                raise InputError(f"the report {args.output} could not be written "
                                 f"({exc.strerror or exc}); nothing was written there. Free some "
                                 "space or choose another folder, and run again.") from None
            note = (f" ({cut:,} input column{'s' if cut != 1 else ''} did not fit in Excel's 16,384 "
                    "columns and were left out of its Claims sheet; its Summary says which)") if cut else ""
            print(f"Report written to {args.output}{note}", file=sys.stderr if args.format != "text" else sys.stdout)
        if args.profile:
            _print_profile(validator, sys.stderr)
        if result.summary["by_status"].get("error"):
            return 1
        return 3 if result.summary["plugins_skipped"] else 0


def sheet_not_checked(source: str, sheet: str) -> str:
    """The note every output gives for a later sheet with a claims header (only one sheet is
    checked a run)."""
    return (f"Sheet {sheet!r} of {Path(source).name} also has a claims header and was not checked: "
            f"check it with xlsheets validate {_quoted(Path(source).name)} --sheet {_quoted(sheet)}.")


def _quoted(text: str) -> str:
    return text if text.replace("_", "").replace("-", "").replace(".", "").isalnum() else '"' + text.replace('"', '\\"') + '"'


def plugin_problems_text(problems) -> str:
    """Why a run stops before any claim is checked (stderr), and the two ways on."""
    # "The plugin was skipped" is what loading did; the run itself stops, as the last line says.
    lines = [f"xlsheets: {p.text().removesuffix(' The plugin was skipped.')}" for p in problems]
    lines.append("xlsheets: nothing was checked: the claims of a payer that uses these plugins would read "
                 "OK without their rules. "
                 "Fix the plugin or the configuration (xlsheets plugins shows what is loaded), or run "
                 "with --skip-broken-plugins to check without them (exit status 3 instead of 0).")
    return "\n".join(lines)


def skipped_banner(summary: dict) -> str:
    """The first line of the text output when plugins were skipped; "" when none was."""
    names = summary.get("plugins_skipped") or []
    if not names:
        return ""
    return (f"NOT FULLY CHECKED: plugin(s) {', '.join(names)} skipped (failed to load or not found); "
            "their rules did not run on any claim.")


class _Progress:
    """Rows done and rate on one terminal line (stderr)."""

    def __init__(self):
        self.start = time.perf_counter()

    def update(self, rows: int, final: bool = False) -> None:
        rate = rows / max(time.perf_counter() - self.start, 1e-6)
        end = "\n" if final else ""
        print(f"\rvalidating: {rows:,} rows ({rate:,.0f} rows/s)", end=end, file=sys.stderr, flush=True)


class _NotLoaded:
    """With --skip-broken-plugins: the E102 error a claim gets when its payer runs a plugin that
    did not load or is missing. Its rules did not check the claim, so it must not read ready;
    the claims of the other payers were checked by all their rules. Worked out once per payer."""

    def __init__(self, validator, problems: list):
        self.validator, self.problems = validator, problems
        self._by_payer: dict[str, Finding | None] = {}

    @classmethod
    def of(cls, validator) -> "_NotLoaded | None":
        from .plugins import plugin_problems
        problems = plugin_problems(validator.config, validator.host)
        return cls(validator, problems) if problems else None

    def add_to(self, claim, result) -> None:
        finding = self._by_payer.get(claim.payer, False)
        if finding is False:
            from .engine import RULE_FAILED
            from .plugins import not_loaded_finding
            plan = self.validator._plan_for(claim.payer)
            finding = not_loaded_finding([p for p in self.problems if p.name in plan.plugins],
                                         "run xlsheets validate again")
            if finding is not None:  # E102's severity, as the configuration sets it for the payer
                finding = finding._replace(severity=plan.severity.get(RULE_FAILED, finding.severity))
            self._by_payer[claim.payer] = finding
        if finding is not None:
            result.findings.insert(0, finding._replace(rows=claim.rows))  # first: what matters most


# --- the run -------------------------------------------------------------------------------
class BatchResult:
    """A finished batch: claim results streamed back from the spool, plus the summary."""

    def __init__(self, source: str, sheet: str, header: list, header_row: int, validator,
                 spool, row_spool, held, claims: int, rows: int, line_level: bool, tally,
                 header_map=None, layout=None, findings=None, changed=None, latest_dos=None,
                 other_sheets=()):
        self.source, self.sheet, self.header, self.header_row = source, sheet, header, header_row
        self.other_sheets = other_sheets  # later sheets with a claims header: not checked
        self.layout = layout  # the input's column widths and number formats, for the report
        self.header_map = header_map
        self.validator = validator
        self._spool, self._row_spool = spool, row_spool
        self._held = held  # the claims batch rules could add to: (their indexes, their results)
        self.findings = findings or FindingTable()
        self.claim_count, self.row_count, self.line_level = claims, rows, line_level
        self._tally = tally
        self.latest_dos = latest_dos
        self.summary = self._summarise()
        # The spool holds every other held claim as it is: only the changed are stored again.
        self._pending = {i: r for i, r in zip(*held) if changed is None or id(r) in changed}
        self._held = None  # the rest can go

    def records(self) -> Iterator[tuple]:
        """Claim results in sheet order (batch-rule findings included), as packed records
        (see :class:`FindingTable`): what the JSON output encodes without rebuilding objects."""
        if self._spool is None:
            return
        self._spool.seek(0)
        index = 0
        pending, pack = self._pending, self.findings.pack
        while index < self.claim_count:
            for record in pickle.load(self._spool):  # chunks of 1000 claims
                result = pending.get(index)
                yield record if result is None else pack(result)
                index += 1

    def results(self) -> Iterator:
        """Claim results in sheet order (batch-rule findings included)."""
        unpack = self.findings.unpack
        for record in self.records():
            yield unpack(record)

    def rows(self) -> Iterator[tuple[int, list]]:
        """(sheet row, values) of every data row, when the run kept them (for the report)."""
        if self._row_spool is None:
            return
        self._row_spool.seek(0)
        while True:
            try:
                chunk = pickle.load(self._row_spool)
            except EOFError:
                return
            yield from chunk

    def _summarise(self) -> dict:
        tally = self._tally
        for result in self._held[1]:  # final only now that batch rules have run
            tally.add(result)
        by_status, by_rule, by_severity, by_payer = tally.by_status, tally.by_rule, tally.by_severity, tally.by_payer
        host = self.validator.host
        from .config import describe_config
        hmap = self.header_map
        return {
            "config": describe_config(self.validator.config),
            "columns_not_used": hmap.columns_not_used if hmap is not None else [],
            "date_notes": [hmap.date_note] if hmap is not None and hmap.date_note else [],
            "sheets_not_checked": [sheet_not_checked(self.source, name) for name in self.other_sheets],
            "source": self.source,
            "sheet": self.sheet,
            "claims": self.claim_count,
            "rows": self.row_count,
            "line_level": self.line_level,
            "by_status": {k: by_status.get(k, 0) for k in ("error", "warning", "info", "ok")},
            "by_severity": {k: by_severity.get(k, 0) for k in ("error", "warning", "info")},
            "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_payer": {p: {k: c.get(k, 0) for k in ("claims", "error", "warning", "info", "ok")}
                         for p, c in sorted(by_payer.items())},  # every count, zeros too
            "payer_groups": payer_groups(by_payer, self.validator.config),
            "rules_not_run": {rule: list(cols) for rule, cols in sorted(self.validator.skipped.items())},
            "rules_without_data": rules_without_data(self.validator),
            "ncci_behind": ncci_behind(self.codesets(), self.latest_dos),
            # rules (and pair policies) the watchdog stopped, off for the rest of the run
            "rules_switched_off": dict(getattr(self.validator, "switched_off", {})),
            "plugins_failed": [{"plugin": f.name, "source": str(f.source), "message": f.message}
                               for f in getattr(host, "failures", [])],
            **_plugin_summary(self.validator.config, host),
        }

    def codesets(self) -> list[dict]:
        """The code sets in force (the JSON's ``codesets``, the report's Summary)."""
        from .codes.icd10cm import get_codeset
        from .codes.proclists import get_procedure_codes
        from .ncci.store import in_force_for
        return (get_codeset().coverage() + get_procedure_codes().coverage()
                + in_force_for(self.validator.settings_in_use()))

    # --- outputs ---------------------------------------------------------------------------
    def write_json(self, out) -> None:
        """The JSON contract, streamed claim by claim (xlsheets.jsonout)."""
        from .jsonout import write_json
        write_json(self, out)

    def write_text(self, out) -> None:
        from .config import config_line
        banner = skipped_banner(self.summary)
        if banner:
            out.write(banner + "\n")
        out.write(config_line(self.summary["config"]) + "\n")
        sets = self.codesets()
        ncci = [c for c in sets if str(c.get("kind", "")).startswith("ncci")]
        codes = [c for c in sets if not str(c.get("kind", "")).startswith("ncci")]
        out.write("Code sets: " + "; ".join(f"{c['name']} {c.get('from')} to {c.get('to')} ({c.get('source')})"
                                            for c in codes) + "\n")
        if ncci:
            out.write("NCCI edits: " + "; ".join(f"{c['name']} ({', '.join(c['files'])})" for c in ncci) + "\n")
        if self.summary["columns_not_used"]:
            out.write(columns_not_used_line(self.summary["columns_not_used"]) + "\n")
        for note in (*self.summary["date_notes"], *self.summary["sheets_not_checked"]):
            out.write(note + "\n")
        out.write("\n")
        shown = hidden = 0
        for result in self.results():
            for f in sorted(result.findings, key=lambda f: -f.severity):
                if shown >= TEXT_FINDINGS_LIMIT:
                    hidden += 1
                    continue
                rows = f.rows or result.rows
                where = f"row {rows[0]}" if len(rows) == 1 else f"rows {rows[0]}-{rows[-1]}"
                out.write(f"{where:<12} {result.claim_id or '(no claim ID)':<14} {f.short()}\n")
                shown += 1
        if hidden:
            out.write(f"... and {hidden:,} more findings (write a report with -o report.xlsx, or use --format json)\n")
        if shown:
            out.write("\n")
        out.write(summary_text(self.summary))


def _plugin_summary(config, host) -> dict:
    """``plugins_missing`` (configured names no plugin has) and ``plugins_skipped`` (every plugin
    whose rules did not run although configured or in a plugin folder: a run with any is not a
    full check, see ``--skip-broken-plugins``)."""
    from .plugins import MissingPlugin, plugin_problems
    if config is None or host is None or not hasattr(host, "failures"):
        return {"plugins_missing": [], "plugins_skipped": []}
    problems = plugin_problems(config, host)
    missing = [{"plugin": p.name, "configured_in": p.where, "config": p.config, "line": p.line,
                "did_you_mean": p.suggestion, "message": p.message}
               for p in problems if isinstance(p, MissingPlugin)]
    return {"plugins_missing": missing,
            "plugins_skipped": list(dict.fromkeys(p.name for p in problems))}


def payer_groups(by_payer: dict, config) -> list[dict]:
    """Claims by configured payer: each payer section of the configuration with the payer
    cells it matched as written ("HUMANA", "Humana Gold Plus"); cells no section matches are
    grouped by their text, case and spaces aside. Largest first."""
    groups: dict[tuple, dict] = {}
    for text, counts in by_payer.items():
        policy = config.payer_policy(text) if config is not None and text != "(no payer)" else None
        key = ("section", policy.name) if policy else ("text", " ".join(text.lower().split()))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"payer": policy.name if policy else text, "configured": bool(policy),
                                   "spellings": [], "claims": 0, "error": 0, "warning": 0, "info": 0, "ok": 0}
        group["spellings"].append(text)
        for k in ("claims", "error", "warning", "info", "ok"):
            group[k] += counts.get(k, 0)
    return sorted(groups.values(), key=lambda g: (-g["claims"], g["payer"].lower()))


def rules_without_data(validator) -> list[dict]:
    """Rules that did not run because the data they check against is not loaded (the NCCI
    edits), grouped by the reason: ``[{"rules": ["N501", ...], "reason": "..."}]``."""
    groups: dict[str, list[str]] = {}
    for rule_id, reason in sorted(validator.unavailable.items()):
        groups.setdefault(reason, []).append(rule_id)
    return [{"rules": rules, "reason": reason} for reason, rules in groups.items()]


def ncci_behind(codesets: list[dict], latest) -> list[dict]:
    """The loaded NCCI sets whose newest quarter ends before the latest date of service: those
    claims were checked against it, and a newer quarter may have other edits (said, not silent)."""
    newest: dict[tuple, dict] = {}
    for entry in codesets:
        if str(entry.get("kind", "")).startswith("ncci-") and entry.get("to"):
            key = (entry["kind"], entry.get("setting"))
            if key not in newest or entry["to"] > newest[key]["to"]:
                newest[key] = entry
    if latest is None:
        return []
    out = []
    for entry in newest.values():
        if latest.isoformat() > entry["to"]:
            kind = entry["kind"].split("-", 1)[1].upper()
            out.append({"set": entry["name"], "quarter_end": entry["to"], "latest_dos": latest.isoformat(),
                        "message": (f"{entry['name']} is for dates of service to {entry['to']}; claims dated "
                                    f"after it (the latest {latest.isoformat()}) were checked against it, and a "
                                    f"newer quarter may have other edits. Import the newer {kind} file when "
                                    "CMS publishes it: xlsheets ncci import FILE...")})
    return out


def columns_not_used_line(columns: list[str]) -> str:
    listed = ", ".join(repr(c) for c in columns)
    return (f"Columns not used (xlsheets read nothing from them): {listed}. Rename a column, or map "
            "it under [columns] in xlsheets.toml, if it holds claim data.")


def claim_dict(result) -> dict:
    return {"row": result.row, "claim_id": result.claim_id, "status": result.status,
            "rows": list(result.rows), "payer": result.payer,
            "findings": [f.to_dict() for f in result.findings]}


def summary_text(s: dict) -> str:
    where = f"{Path(s['source']).name}" + (f", sheet {s['sheet']!r}" if s["sheet"] else "")
    layout = "one service line per row" if s["line_level"] else "one claim per row"
    lines = [f"{plural(s['claims'], 'claim')} in {plural(s['rows'], 'row')} ({where}; {layout})", ""]
    lines.append(f"  {'status':<10}{'claims':>8}")
    for status in ("error", "warning", "info", "ok"):
        lines.append(f"  {status:<10}{s['by_status'][status]:>8,}")
    if s["by_rule"]:
        lines += ["", f"  {'rule':<10}{'findings':>8}"]
        lines += [f"  {rule:<10}{n:>8,}" for rule, n in s["by_rule"].items()]
    if s["by_payer"]:
        lines += ["", f"  {'payer':<24}{'claims':>8}{'errors':>8}{'warnings':>9}"]
        for payer, c in s["by_payer"].items():
            lines.append(f"  {payer[:23]:<24}{c.get('claims', 0):>8,}{c.get('error', 0):>8,}{c.get('warning', 0):>9,}")
    if s["rules_not_run"]:
        lines += ["", "Rules that could not run (the sheet lacks their columns):"]
        lines += [f"  {rule}: needs {', '.join(cols)}" for rule, cols in s["rules_not_run"].items()]
    if s.get("rules_without_data"):
        lines += ["", "Rules that could not run (their data is not loaded):"]
        lines += [f"  {', '.join(g['rules'])}: {g['reason']}" for g in s["rules_without_data"]]
    if s.get("ncci_behind"):
        lines += ["", "NCCI edits older than some dates of service:"]
        lines += [f"  {g['message']}" for g in s["ncci_behind"]]
    if s.get("rules_switched_off"):
        lines += ["", "Rules switched off during the run (the claims they did not check have E102):"]
        lines += [f"  {rule}: {why}" for rule, why in s["rules_switched_off"].items()]
    if s["plugins_failed"]:
        lines += ["", "Plugins that failed to load:"]
        lines += [f"  {p['plugin']}: {p['message']}" for p in s["plugins_failed"]]
    if s.get("plugins_missing"):
        lines += ["", "Plugins configured but not found:"]
        lines += [f"  {p['plugin']}: {p['message']}" for p in s["plugins_missing"]]
    if s.get("plugins_skipped"):
        lines += ["", f"Not every configured rule ran: skipped plugin(s) {', '.join(s['plugins_skipped'])}."]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def run_batch(path, validator, sheet: str | None = None, keep_rows: bool = False, progress=None,
              emit=None, keep_results: bool = True, tmpdir=None, route_output: bool = False):
    """Validate a file; yields a :class:`BatchResult`. The spool files (in ``tmpdir``, the
    run's private folder, see :mod:`xlsheets.tempfiles`) vanish on exit.

    ``emit(record, findings)``, when given, gets each claim's packed record (see
    :class:`FindingTable`) as soon as its result is final: at once for most claims, after the
    batch rules for the claims they may add to (``--format jsonl``). ``keep_results=False``
    spools no results (the yielded result then has only its summary and rows).
    ``route_output``: what plugin rules write to standard output goes to standard error while
    they run.
    """
    from .claims import claims_from_rows
    from .io import open_sheet, read_ahead, sheet_layout

    with contextlib.ExitStack() as stack:
        spool = stack.enter_context(tempfile.TemporaryFile(dir=tmpdir)) if keep_results else None
        row_spool = stack.enter_context(tempfile.TemporaryFile(dir=tmpdir)) if keep_rows else None
        routed = stack.enter_context(contextlib.ExitStack())
        routed.enter_context(output_to_stderr(route_output))  # until the outputs are written
        routed.enter_context(validator.watchdog())  # an endless plugin loop is stopped, not hung
        with open_sheet(path, sheet, columns=validator.config.columns) as opened:
            header = validator.header_map(opened.header)
            rows = read_ahead(path, opened.rows)  # large files: read on the other core
            # The date column's order is decided on the first rows (the whole of most sheets);
            # if they leave it open (every slash date reads both ways), on the whole column.
            sample = list(itertools.islice(rows, DATE_SAMPLE_ROWS))
            header = header.settle_date_order(sample, opened.first_row)
            if len(sample) == DATE_SAMPLE_ROWS and header.date_order_open(sample):
                with open_sheet(path, opened.name, columns=validator.config.columns) as again:
                    header = header.settle_date_order(again.rows, again.first_row)
            rows = itertools.chain(sample, rows)
            counter = _RowCounter(rows, opened.first_row, row_spool, progress)
            run = validator.run()
            # The claims a batch rule may still add to, in sheet order: every claim when the NCCI
            # edits are loaded, so two flat lists rather than a dict entry each.
            held_index, held_results = array("q"), []
            tally = _Tally()
            table = FindingTable()
            pack = table.pack
            claims = 0
            batch: list = []
            held_from_collector = stack.enter_context(_HeldFromCollector())
            latest = None  # the latest date of service: is it past the newest NCCI quarter?
            not_loaded = _NotLoaded.of(validator)
            for claim in claims_from_rows(header, counter, opened.first_row):
                if claim.dos is not None and (latest is None or claim.dos > latest):
                    latest = claim.dos
                result = run.add(claim)
                if not_loaded is not None:
                    not_loaded.add_to(claim, result)
                held = run.holds(claim)
                if held:
                    held_index.append(claims)
                    held_results.append(result)
                    held_from_collector.one_more()
                else:
                    tally.add(result)
                if spool is not None or (emit is not None and not held):
                    record = pack(result)
                    if spool is not None:
                        batch.append(record)
                    if emit is not None and not held:
                        emit(record, table)
                claims += 1
                if len(batch) >= 1000:
                    pickle.dump(batch, spool, _PROTOCOL)
                    batch = []
            if batch:
                pickle.dump(batch, spool, _PROTOCOL)
            counter.flush()
            run.finish()
            if emit is not None:  # the claims batch rules could still add to, now final
                for result in held_results:
                    emit(pack(result), table)
            if progress is not None:
                progress.update(counter.count, final=True)
            if spool is not None:
                spool.flush()
            routed.close()  # plugins are done: standard output is the results' again
            yield BatchResult(str(path), opened.name, list(opened.header), opened.header_row,
                              validator, spool, row_spool, (held_index, held_results), claims, counter.count,
                              header.line_level, tally, header,
                              sheet_layout(path, opened.name) if keep_rows else None, table, run.changed,
                              latest, opened.other_claim_sheets)


class _HeldFromCollector:
    """Keep the results held for the batch rules out of the cycle collector's way.

    With a batch rule across claims (the NCCI edits) every result is held until the end of the
    workbook; each full collection would walk them all again (+40% on 200,000 claims). Every
    HELD_PER_FREEZE results the young garbage is collected and what is alive is frozen (left
    out of collections); at the end everything is unfrozen and collectable as usual.
    """

    HELD_PER_FREEZE = 20_000

    def __init__(self):
        self.held = 0
        self.froze = False

    def __enter__(self):
        return self

    def one_more(self) -> None:
        self.held += 1
        if self.held % self.HELD_PER_FREEZE == 0 and gc.isenabled():
            gc.collect(1)
            gc.freeze()
            self.froze = True

    def __exit__(self, *exc) -> None:
        if self.froze:
            gc.unfreeze()


class _Tally:
    """Counts for the summary, taken as results go by (nothing kept per claim)."""

    def __init__(self):
        self.by_status, self.by_rule, self.by_severity = Counter(), Counter(), Counter()
        self.by_payer: dict[str, Counter] = defaultdict(Counter)

    def add(self, result) -> None:
        status = result.status
        self.by_status[status] += 1
        payer = self.by_payer[result.payer or "(no payer)"]
        payer["claims"] += 1
        payer[status] += 1
        for f in result.findings:
            self.by_rule[f.rule] += 1
            self.by_severity[str(f.severity)] += 1


class FindingTable:
    """The distinct findings of a run, numbered: a spooled claim refers to its findings by
    number (with each one's rows), so a finding repeated on thousands of claims is stored,
    and encoded to JSON, once.

    A packed record is ``(claim_id, rows, payer, patient_id, ((number, rows), ...))``; plain
    tuples pickle several times faster than the dataclasses.
    """

    def __init__(self):
        self.numbers: dict[tuple, int] = {}
        self.items: list[tuple] = []  # (rule, severity int, message, codes, suggestion, reference, column, brief)

    def number(self, f) -> int:
        key = (f.rule, int(f.severity), f.message, f.codes, f.suggestion, f.reference, f.column, f.brief)
        n = self.numbers.get(key)
        if n is None:
            n = self.numbers[key] = len(self.items)
            self.items.append(key)
        return n

    def pack(self, result) -> tuple:
        number = self.number
        return (result.claim_id, result.rows, result.payer, result.patient_id,
                tuple((number(f), f.rows) for f in result.findings))

    def unpack(self, record: tuple):
        from .engine import ClaimResult
        claim_id, rows, payer, patient_id, found = record
        items = self.items
        findings = []
        for n, f_rows in found:
            rule, sev, message, codes, suggestion, reference, column, brief = items[n]
            findings.append(Finding(rule, _SEVERITY[sev], message, codes, suggestion, reference,
                                    f_rows, column, brief))
        return ClaimResult(claim_id, rows, payer, patient_id, findings)


_SEVERITY = {int(s): s for s in Severity}  # Severity(n) is an enum lookup, slow per finding


class _RowCounter:
    """Passes rows through, counting them, spooling them for the report, showing progress."""

    def __init__(self, rows, first_row: int, spool, progress):
        self.rows, self.next_row, self.spool, self.progress = rows, first_row, spool, progress
        self.count = 0  # non-blank data rows
        self.chunk: list = []

    def __iter__(self):
        from .claims import is_blank_row
        for values in self.rows:
            if not is_blank_row(values):
                self.count += 1
                if self.progress is not None and self.count % PROGRESS_EVERY == 0:
                    self.progress.update(self.count)
            if self.spool is not None:
                self.chunk.append((self.next_row, values))
                if len(self.chunk) >= 1000:
                    self.flush()
            self.next_row += 1
            yield values

    def flush(self):
        if self.spool is not None and self.chunk:
            pickle.dump(self.chunk, self.spool, _PROTOCOL)
            self.chunk = []


def _print_profile(validator, out) -> None:
    profile = validator.profile or {}
    if not profile:
        print("profile: no rule ran", file=out)
        return
    plugin_of = {r.id: r.plugin for r in validator.host.rules}
    total = sum(v[0] for v in profile.values())
    print(f"\nTime per rule (total {total:.3f} s):", file=out)
    print(f"  {'rule':<8}{'plugin':<22}{'seconds':>9}{'calls':>10}{'us/call':>9}", file=out)
    for rule, (secs, calls) in sorted(profile.items(), key=lambda kv: -kv[1][0]):
        print(f"  {rule:<8}{plugin_of.get(rule, '?')[:21]:<22}{secs:>9.3f}{calls:>10,}"
              f"{secs / max(calls, 1) * 1e6:>9.1f}", file=out)
    per_plugin: Counter = Counter()
    for rule, (secs, _calls) in profile.items():
        per_plugin[plugin_of.get(rule, "?")] += secs
    print("Time per plugin:", file=out)
    for plugin, secs in per_plugin.most_common():
        print(f"  {plugin:<30}{secs:>9.3f} s", file=out)
