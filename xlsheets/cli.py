"""The ``xlsheets`` command: a thin dispatcher; each subcommand lives with the module it drives.

One language for every command, as ruff's and pytest's: ``--format text|json`` (``jsonl`` where
results stream) on each command that prints results, JSON that is a list whatever the number of
answers, dates read as the sheet reads them (with the configuration's ``date_order``), counts in
English ("1 claim"), and an "exit status" block at the end of each command's ``--help``. The
helpers below (add_format_option, parse_cli_date, exit_codes_epilog, ...) are how a subcommand
gets them. The exit status always means: 0 done and nothing wrong, 1 done and something found
(errors, a failed case, an unknown code), 2 nothing done (usage, unusable input, a plugin problem),
3 done but not completely (``--skip-broken-plugins``). No traceback ever reaches a billing
person: unexpected failures print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap

from . import __version__
from .tempfiles import Terminated, handle_termination
from .words import plural  # noqa: F401  (re-exported: one spelling of counts)

# subcommand -> (module, one-line help). Each module has main(argv) -> int.
SUBCOMMANDS = {
    "validate": ("xlsheets.batch", "validate a claims workbook (.xlsx, .xlsm, .csv)"),
    "rules": ("xlsheets.cli", "list the rules and input checks, with their severities"),
    "explain": ("xlsheets.cli", "explain a rule or input check: xlsheets explain S301 E102"),
    "codes": ("xlsheets.codes.show", "look up ICD-10-CM codes by date of service; import releases"),
    "ncci": ("xlsheets.ncci.cli", "import the CMS NCCI edit files (PTP, MUE, AOC); look edits up; pack them for Lite"),
    "plugins": ("xlsheets.plugin_kit", "list, create and test payer-policy plugins"),
    "template": ("xlsheets.template", "write the claims template workbook"),
    "lite": ("xlsheets.lite", "write main.py and requirements.txt for xlwings Lite (Mac, web)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _print_help()
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"xlsheets {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"xlsheets: unknown command {name!r}; commands: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    try:
        if name == "rules":
            return rules_main(rest)
        if name == "explain":
            return explain_main(rest)
        module = importlib.import_module(SUBCOMMANDS[name][0])
        with handle_termination():
            return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        print("xlsheets: interrupted; nothing was written.", file=sys.stderr)
        return 2
    except Terminated as exc:  # SIGTERM / SIGHUP: temporary files and partial outputs removed
        print(f"xlsheets: stopped ({exc}); nothing was written.", file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:  # "xlsheets ... | head": the reader stopped; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141  # as shells report a pipe closed early (128 + SIGPIPE)
    except UsageError as exc:
        print(f"xlsheets {name}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse usage errors
        return exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # last line of defence: a message, never a traceback
        from .config import ConfigError
        if isinstance(exc, ConfigError):
            print(f"xlsheets: configuration error: {exc}", file=sys.stderr)
        else:
            print(f"xlsheets: {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


# --- the conventions every subcommand shares (use these; do not re-invent them) ------------
class UsageError(Exception):
    """A bad option value found after parsing (a date, a code): main() prints it and exits 2."""


def add_format_option(parser: argparse.ArgumentParser, formats: tuple[str, ...] = ("text", "json"),
                      json_alias: bool = False) -> None:
    """``--format text|json`` (``jsonl`` too where results stream), as ruff and pytest spell it.

    ``json_alias`` keeps an old ``--json`` flag working, hidden from --help (deprecated)."""
    parser.add_argument("--format", choices=list(formats), default="text",
                        help=f"output on stdout: {', '.join(formats)} (default: text)")
    if json_alias:
        parser.add_argument("--json", dest="format", action="store_const", const="json",
                            help=argparse.SUPPRESS)


def parse_cli_date(text: str, order: str = "MDY", option: str = "--dos"):
    """A date given on the command line, read as the sheet reads its date cells: 2026-03-10,
    03/10/2026 (month first unless ``order`` is "DMY", the configuration's ``date_order``),
    10.03.2026 (day first), 20260310, 10-Mar-2026. Raises UsageError in plain words."""
    from datetime import date
    from .values import date_order_of, read_date
    value = read_date(text, order)
    if isinstance(value, date):
        return value
    example = f"2026-03-10 or {'10/03/2026' if order == 'DMY' else '03/10/2026'}"
    written = date_order_of(text)
    if written and written != order:
        first = {"DMY": "day first", "MDY": "month first"}
        raise UsageError(f"{option}: {text!r} can only be {first[written]}, but slash dates are read "
                         f"{first[order]} (date_order \"{order}\"); write it as "
                         f"YYYY-MM-DD, e.g. 2026-03-10")
    reason = getattr(value, "reason", None) or f"{text!r} is not a date"
    raise UsageError(f"{option}: {reason}" + ("" if "2026-03-10" in reason else f" (e.g. {example})"))


def config_date_order(config_path: str | None = None, near=None) -> str:
    """The ``date_order`` of the configuration in force (as ``validate`` finds it), for dates
    typed on the command line; "MDY" when none is found."""
    from .config import load_config
    return load_config(config_path, near=near).date_order


def print_json(data, out=None) -> None:
    """JSON on stdout as every command writes it: indented, UTF-8 text kept readable."""
    print(json.dumps(data, indent=2, ensure_ascii=False), file=out or sys.stdout)


def exit_codes_epilog(codes: dict[int, str]) -> str:
    """The 'Exit status' paragraph of a command's --help (use with RawDescriptionHelpFormatter)."""
    lines = ["exit status:"]
    for code, text in codes.items():
        lines += textwrap.wrap(text, width=88, initial_indent=f"  {code}  ", subsequent_indent="     ")
    return "\n".join(lines)


def _print_help() -> None:
    print(f"xlsheets {__version__}: catch spine-claim coding errors before submission\n")
    print("usage: xlsheets COMMAND [options]\n\ncommands:")
    for name, (_module, text) in SUBCOMMANDS.items():
        print(f"  {name:<10} {text}")
    print("\nEvery command that prints results takes --format text|json (validate also jsonl); dates\n"
          "are read as the sheet reads them (2026-03-10, 03/10/2026, 10.03.2026).\n"
          "Exit status: 0 done, nothing wrong; 1 done, something found (errors, an unknown code, a\n"
          "failed case); 2 nothing done (usage, unusable input, a plugin problem); 3 done without\n"
          "some plugins (--skip-broken-plugins). Each command's --help ends with its own.\n"
          "\nRun 'xlsheets COMMAND --help' for a command's options.")


def _validator_from(args):
    from .config import load_config
    from .engine import Validator
    config = load_config(getattr(args, "config", None)).with_overrides(
        plugin_dirs=getattr(args, "plugins_dir", None), plugins=getattr(args, "plugin", None))
    from .plugin_guard import output_to_stderr
    with output_to_stderr():  # a plugin printing at import must not corrupt --format json
        return Validator(config)


def _plugins_checked(v, args) -> int | None:
    """As ``validate``: a plugin problem stops the command (2) unless --skip-broken-plugins,
    which says so on stderr and makes the command exit 3; None when every plugin is there."""
    from .batch import plugin_problems_text, skipped_banner
    from .plugins import plugin_problems
    problems = plugin_problems(v.config, v.host)
    if not problems:
        return None
    if not args.skip_broken_plugins:
        print(plugin_problems_text(problems), file=sys.stderr)
        return 2
    print(skipped_banner({"plugins_skipped": list(dict.fromkeys(p.name for p in problems))}),
          file=sys.stderr)
    return 3


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="configuration file (xlsheets.toml or pyproject.toml)")
    parser.add_argument("--plugins-dir", action="append", metavar="DIR",
                        help="load plugins from this folder (repeatable)")
    parser.add_argument("--plugin", action="append", metavar="NAME",
                        help="enable this plugin for every payer (repeatable)")
    parser.add_argument("--skip-broken-plugins", action="store_true",
                        help="go on when a plugin failed to load or a configured plugin is missing "
                             "(exit 3 instead of 0)")


RULES_EXIT = {0: "listed", 2: "usage, or a plugin problem (a plugin that failed to load, a configured "
                  "plugin name that no plugin has); --skip-broken-plugins goes on",
              3: "listed, but some configured plugins were skipped (--skip-broken-plugins)"}
EXPLAIN_EXIT = {0: "explained", 2: "an ID that no rule, loaded plugin or input check has; usage; or a "
                    "plugin problem, as for rules", 3: "explained, but some configured plugins were skipped"}


def _documented(v) -> list:
    """Every ID an output can show: the rules of the built-ins and of every loaded plugin, then
    the input checks (E101, E102, E103)."""
    from .input_checks import INPUT_CHECKS
    return [*v.host.rules, *INPUT_CHECKS]


def _configured(v, r) -> str | None:
    """The severity the configuration gives the rule everywhere (``[severity]``), if it does."""
    sev = v.config.severity.get(r.id)
    return None if sev is None else str(sev)


def _rule_json(v, r) -> dict:
    from .input_checks import INPUT_CHECKS
    data = r.describe()
    data["configured_severity"] = _configured(v, r)
    data["kind"] = "input check" if r in INPUT_CHECKS else "rule"
    data["builtin"] = r in INPUT_CHECKS or v.host.plugins[r.plugin].builtin
    return data


def rules_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="xlsheets rules", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List the rules in force (the built-ins and every loaded plugin's) and the input\n"
                    "checks E101-E103, with their severity in each case.",
        epilog=exit_codes_epilog(RULES_EXIT))
    _common(parser)
    add_format_option(parser)
    args = parser.parse_args(argv)
    v = _validator_from(args)
    skipped = _plugins_checked(v, args)
    if skipped == 2:
        return 2
    documented = _documented(v)
    if args.format == "json":
        print_json([_rule_json(v, r) for r in documented])
        return skipped or 0
    width = max(len(r.id) for r in documented)
    for r in documented:
        builtin = r.plugin not in v.host.plugins or v.host.plugins[r.plugin].builtin
        origin = "" if builtin else f"  [{r.plugin}]"
        print(f"{r.id:<{width}}  {r.severity_names():<13}  {r.summary}{origin}")
        pad = " " * (width + 17)
        for when, case in r.severities:  # one line per case, wrapped under the summary
            print(textwrap.fill(f"{case} {when}", width=100, initial_indent=pad,
                                subsequent_indent=pad + "  "))
        if _configured(v, r):
            print(pad + f"configured: {_configured(v, r)} ([severity] {r.id} in {v.config.source or 'the configuration'})")
    for failure in v.host.failures:
        print(f"plugin {failure.name} not loaded: {failure.message}", file=sys.stderr)
    return skipped or 0


def explain_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="xlsheets explain", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Explain rules and input checks: why, a bad and a good example, the fix, the\n"
                    "severity in each case. Any ID an output shows: C101, X201, S301, D401, E102, or a\n"
                    "loaded plugin's (MED101 with --plugins-dir plugins).",
        epilog=exit_codes_epilog(EXPLAIN_EXIT))
    parser.add_argument("rule_ids", nargs="+", metavar="ID", help="rule ID, e.g. S301 (several allowed)")
    _common(parser)
    add_format_option(parser)
    args = parser.parse_args(argv)
    v = _validator_from(args)
    skipped = _plugins_checked(v, args)
    if skipped == 2:
        return 2
    documented: dict[str, list] = {}
    for r in _documented(v):  # an ID may have a claim rule and a batch rule (N501: one claim, or two)
        documented.setdefault(r.id, []).append(r)
    found = []
    for rule_id in args.rule_ids:
        rules = documented.get(rule_id.strip().upper())
        if rules is None:
            print(f"xlsheets explain: {_unknown_id(rule_id, documented, v)}", file=sys.stderr)
            return 2
        found += [r for r in rules if r not in found]
    if args.format == "json":
        print_json([_rule_json(v, r) | {"doc": r.doc} for r in found])
    else:
        print("\n\n".join(explain_text(r, _configured(v, r)) for r in found))
    return skipped or 0


def _unknown_id(rule_id: str, documented: dict, v) -> str:
    """Why an ID is not known, and what is: a near ID, or the plugin folder to load."""
    import difflib
    rule_id = rule_id.strip().upper()
    prefix = rule_id.rstrip("0123456789")
    same_family = [i for i in documented if i.rstrip("0123456789") == prefix]
    near = difflib.get_close_matches(rule_id, same_family, n=3, cutoff=0.6)
    text = f"no rule or input check {rule_id!r}"
    text += f"; did you mean {' or '.join(near)}?" if near else "."
    if prefix and not any(i.rstrip("0123456789") == prefix for i in documented):
        text += (f" No loaded plugin has rules starting {prefix}: if a plugin of yours has it, name its "
                 "folder with --plugins-dir or plugin_dirs in the configuration.")
    families = sorted({i[:-2] + "xx" for i in documented})  # C101 -> C1xx, MED101 -> MED1xx
    return text + f" Known: {', '.join(families)} (xlsheets rules lists them)."


def explain_text(r, configured: str | None = None) -> str:
    lines = [f"{r.id}  {r.summary}", ""]
    for n, (when, sev) in enumerate(r.severity_cases()):
        lines.append(("Severity:  " if n == 0 else " " * 11) + f"{sev} {when}".rstrip())
    if configured:
        lines.append(f"           configured: {configured} for every finding ([severity] {r.id})")
    lines.append(f"Plugin:    {r.plugin}")
    if r.reference:
        lines.append(f"Reference: {r.reference}")
    triggers = [*r.dx_prefixes, *sorted(r.procedures)]
    if triggers:
        lines.append("Runs on:   " + ", ".join(triggers))
    if r.needs:
        lines.append("Reads:     " + ", ".join(r.needs) + " (skipped when the sheet lacks them)")
    body = r.doc.split("\n", 1)[1].strip() if "\n" in r.doc else ""
    if body:
        lines += ["", textwrap.dedent(body)]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
