"""The ``xlsheets`` command: a thin dispatcher; each subcommand lives with the module it drives.

Exit codes: 0 no claim has an error and every configured rule ran, 1 some claims have errors,
2 unusable input or usage, or a plugin problem found before anything is checked (a plugin that
failed to load, a configured plugin name that no plugin has), 3 no claim has an error but not
every configured rule ran (``--skip-broken-plugins`` skipped a broken or missing plugin).
No traceback ever reaches a billing person: unexpected failures print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap

from . import __version__

# subcommand -> (module, one-line help). Each module has main(argv) -> int.
SUBCOMMANDS = {
    "validate": ("xlsheets.batch", "validate a claims workbook (.xlsx, .xlsm, .csv)"),
    "rules": ("xlsheets.cli", "list the rules"),
    "explain": ("xlsheets.cli", "explain one rule, e.g. xlsheets explain S301"),
    "codes": ("xlsheets.codes.show", "look up ICD-10-CM codes by date of service; import releases"),
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
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        print("xlsheets: interrupted; nothing was written.", file=sys.stderr)
        return 2
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


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 claim', '2 claims', '0 claims' (``many`` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


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
    print("\nRun 'xlsheets COMMAND --help' for a command's options.")


def _validator_from(args):
    from .config import load_config
    from .engine import Validator
    config = load_config(getattr(args, "config", None)).with_overrides(
        plugin_dirs=getattr(args, "plugins_dir", None), plugins=getattr(args, "plugin", None))
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


def rules_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xlsheets rules", description="List the rules in force.")
    _common(parser)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    v = _validator_from(args)
    skipped = _plugins_checked(v, args)
    if skipped == 2:
        return 2
    rules = v.host.rules
    if args.format == "json":
        print(json.dumps([r.describe() for r in rules], indent=2))
        return skipped or 0
    for r in rules:
        origin = "" if v.host.plugins[r.plugin].builtin else f"  [{r.plugin}]"
        print(f"{r.id}  {str(r.severity):<7}  {r.summary}{origin}")
    for failure in v.host.failures:
        print(f"plugin {failure.name} not loaded: {failure.message}", file=sys.stderr)
    return skipped or 0


def explain_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xlsheets explain", description="Explain one rule.")
    parser.add_argument("rule_id", help="rule ID, e.g. S301")
    _common(parser)
    args = parser.parse_args(argv)
    v = _validator_from(args)
    skipped = _plugins_checked(v, args)
    if skipped == 2:
        return 2
    r = v.host.rule(args.rule_id)
    if r is None:
        known = ", ".join(x.id for x in v.host.rules)
        print(f"xlsheets: no rule {args.rule_id!r}. Rules: {known}", file=sys.stderr)
        return 2
    print(explain_text(r))
    return skipped or 0


def explain_text(r) -> str:
    lines = [f"{r.id}  {r.summary}", "",
             f"Severity:  {r.severity}", f"Plugin:    {r.plugin}"]
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
