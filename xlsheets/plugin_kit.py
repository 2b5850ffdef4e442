"""``xlsheets plugins``: see, create and test payer-policy plugins.

Written for practice administrators, who write plugins without being developers: every command
says what it did and what to do next, and every failure names the file and line.

    xlsheets plugins                     loaded plugins: rules, hooks, payers, source file; failures
    xlsheets plugins new NAME            write plugins/NAME.py and plugins/NAME.cases.toml
    xlsheets plugins test plugins/NAME.py    run its cases file; exit 0 when every case passes

Exit codes: 0 fine; 1 a plugin failed to load, a plugin the configuration enables is missing, or
a case failed; 2 unusable input (no such file, bad name, file already there).
"""
from __future__ import annotations

import argparse
import json
import keyword
import os
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path
from string import Template

from .config import Config, load_config
from .plugins import PluginHost, load_plugins, missing_plugins
from .testing import cases_file_for, run_cases_file

__all__ = ["main", "inventory", "new_plugin", "PluginNameError"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_BUILTIN_PREFIXES = {"C", "X", "S", "D", "E"}


class PluginNameError(ValueError):
    """A plugin name or file that ``plugins new`` will not write."""


# --- listing ----------------------------------------------------------------------------
def _payers_for(name: str, cfg: Config) -> list[str]:
    if name in cfg.plugins:
        return ["all payers"]
    return [p.name for p in cfg.payers if name in p.plugins]


def inventory(cfg: Config, host: PluginHost) -> dict:
    """What ``xlsheets plugins`` shows, as data (the JSON output)."""
    plugins = []
    for plugin in host.plugins.values():
        if plugin.builtin:
            continue
        info = plugin.describe()
        info["rules"] = [{"id": r.id, "severity": str(r.severity), "scope": r.scope,
                          "summary": r.summary} for r in plugin.rules]
        info["payers"] = _payers_for(plugin.name, cfg)
        plugins.append(info)
    missing = [{"name": m.name, "enabled_for": m.enabled_for, "configured_in": m.where,
                "line": m.line, "did_you_mean": m.suggestion, "message": m.message}
               for m in missing_plugins(cfg, host)]
    return {
        "config": str(cfg.source) if cfg.source else None,
        "plugin_dirs": [str(d) for d in cfg.plugin_dirs],
        "plugins": plugins,
        "failed": [{"name": f.name, "source": f.source, "message": f.message} for f in host.failures],
        "missing": missing,
        "builtin_rules": sum(len(p.rules) for p in host.plugins.values() if p.builtin),
    }


def _print_inventory(data: dict) -> None:
    print(f"configuration: {data['config'] or 'none found (defaults)'}")
    dirs = ", ".join(data["plugin_dirs"]) or "none (set plugin_dirs in xlsheets.toml or use --plugins-dir)"
    print(f"plugin folders: {dirs}")
    if not data["plugins"]:
        print("\nNo plugins loaded.")
    for p in data["plugins"]:
        print(f"\n{p['name']}  ({p['source']})")
        if p["summary"]:
            print(f"  {p['summary']}")
        payers = ", ".join(p["payers"]) or "none: not enabled (add it to plugins = [...] in xlsheets.toml)"
        print(f"  enabled for: {payers}")
        print(f"  hooks: {', '.join(p['hooks'])}")
        for r in p["rules"]:
            scope = "  [patient history]" if r["scope"] == "batch" else ""
            print(f"  {r['id']:<8} {r['severity']:<7} {r['summary']}{scope}")
        if p["settings"]:
            print("  settings: " + ", ".join(f"{k} = {v!r}" for k, v in p["settings"].items()))
    for f in data["failed"]:
        print(f"\nNOT LOADED {f['name']}  ({f['source']})\n  {f['message']}")
    for m in data["missing"]:
        print(f"\nMISSING {m['name']}\n  {m['message']}")
    print(f"\n{len(data['plugins'])} plugin(s) loaded, {len(data['failed'])} failed, "
          f"{data['builtin_rules']} built-in rules.")


def list_main(args) -> int:
    cfg = load_config(args.config).with_overrides(plugin_dirs=args.plugins_dir)
    host = load_plugins(cfg.plugin_dirs, cache=False)
    data = inventory(cfg, host)
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        _print_inventory(data)
    return 1 if data["failed"] or data["missing"] else 0


# --- new --------------------------------------------------------------------------------
def default_prefix(name: str) -> str:
    """``acme_health`` -> ``ACME``: up to 4 capital letters of the name, never a built-in one."""
    letters = re.sub(r"[^a-z]", "", name).upper()[:4]
    if len(letters) < 2:
        letters = (letters + "PLG")[:3]
    return letters


def new_plugin(name: str, folder: Path, prefix: str | None = None) -> tuple[Path, Path]:
    """Write NAME.py and NAME.cases.toml into ``folder`` from the template; never overwrite."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise PluginNameError(
            f"{name!r} cannot be a plugin name: use 2-40 lower-case letters, digits and underscores, "
            "starting with a letter (e.g. acme_health)")
    prefix = (prefix or default_prefix(name)).upper()
    if not re.fullmatch(r"[A-Z]{1,4}", prefix) or prefix in _BUILTIN_PREFIXES:
        raise PluginNameError(f"rule prefix {prefix!r}: use 1-4 capital letters, not C, X, S, D or E "
                              "(the built-in rules use those)")
    plugin, cases = folder / f"{name}.py", cases_file_for(folder / f"{name}.py")
    for path in (plugin, cases):
        if path.exists():
            raise PluginNameError(f"{path} already exists; nothing was written. Pick another name or "
                                  "edit the existing file.")
    values = {"name": name, "prefix": prefix, "title": name.replace("_", " ").title(),
              "dir": folder.as_posix() if not folder.is_absolute() else folder.name}
    template = resources.files("xlsheets") / "plugin_template"
    texts = [Template((template / f).read_text(encoding="utf-8")).substitute(values)
             for f in ("plugin.py.tmpl", "cases.toml.tmpl")]
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in zip((plugin, cases), texts):
        _write_new(path, text)
    return plugin, cases


def _write_new(path: Path, text: str) -> None:
    """Write atomically, and refuse to replace a file that appeared meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.link(tmp, path)  # fails if the file exists
    except FileExistsError:
        raise PluginNameError(f"{path} already exists; nothing was written") from None
    except OSError:
        if path.exists():
            raise
        os.replace(tmp, path)  # file systems without hard links
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def new_main(args) -> int:
    if args.dir:
        folder = Path(args.dir)
    else:
        cfg = load_config(args.config)
        folder = cfg.plugin_dirs[0] if cfg.plugin_dirs else Path("plugins")
        try:
            folder = folder.relative_to(Path.cwd())
        except ValueError:
            pass
    try:
        plugin, cases = new_plugin(args.name, folder, args.prefix)
    except PluginNameError as exc:
        print(f"xlsheets plugins new: {exc}", file=sys.stderr)
        return 2
    prefix = (args.prefix or default_prefix(args.name)).upper()
    print(f"Wrote {plugin} (rules {prefix}101, {prefix}102) and {cases}.\n")
    print("Next:")
    print(f"  1. Edit {plugin}: the lines marked EDIT HERE, and the docstrings.")
    print(f"  2. Edit {cases}: rows that must and must not raise your rules.")
    print(f"  3. Test:   xlsheets plugins test {plugin}")
    print("  4. Enable it for a payer in xlsheets.toml:")
    print(f"       plugin_dirs = [\"{folder.as_posix()}\"]")
    print(f"       [payers.{args.name}]\n       match = [\"payer name as in your sheets\"]")
    print(f"       plugins = [\"{args.name}\"]")
    print("  5. Check:  xlsheets plugins")
    return 0


# --- test -------------------------------------------------------------------------------
def run_tests(args) -> int:
    plugin = Path(args.plugin)
    if not plugin.is_file():
        print(f"xlsheets plugins test: {plugin} not found", file=sys.stderr)
        return 2
    cases = Path(args.cases) if args.cases else cases_file_for(plugin)
    if not cases.is_file():
        print(f"xlsheets plugins test: no cases file {cases}. Write one next to the plugin "
              f"('xlsheets plugins new' makes a starting point).", file=sys.stderr)
        return 2
    report = run_cases_file(cases, plugin=plugin)
    if getattr(args, "format", "text") == "json":
        print(json.dumps({
            "cases_file": str(report.path), "plugin": str(plugin), "ok": report.ok,
            "passed": report.passed, "total": report.total, "errors": list(report.errors),
            "cases": [{"name": r.name, "passed": r.passed, "problems": list(r.problems),
                       "findings": [{"claim_id": claim_id, **f.to_dict()} for claim_id, f in r.findings]}
                      for r in report.results],
        }, indent=2, ensure_ascii=False))
        return 0 if report.ok else 1
    for error in report.errors:
        print(f"ERROR {error}")
    for result in report.results:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}")
        for problem in result.problems:
            print(f"      {problem}")
    print(report.summary())
    return 0 if report.ok else 1


# --- command line -----------------------------------------------------------------------
LIST_EXIT = {0: "every plugin loaded and every plugin the configuration names was found",
             1: "a plugin failed to load, or a plugin the configuration enables is missing",
             2: "usage, or a configuration that cannot be read"}
NEW_EXIT = {0: "the plugin and its cases file were written",
            2: "nothing was written: a bad name or prefix, or the file is already there"}
TEST_EXIT = {0: "every case passed", 1: "a case failed, or the cases file could not be run",
             2: "no such plugin or cases file"}


def _parser(prog: str, description: str, exit_codes: dict, epilog: str = "") -> argparse.ArgumentParser:
    from .cli import exit_codes_epilog
    return argparse.ArgumentParser(prog=prog, description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=(epilog + "\n\n" if epilog else "") + exit_codes_epilog(exit_codes))


def main(argv: list[str]) -> int:
    from .cli import add_format_option
    argv = list(argv)
    if argv and argv[0] in ("new", "test"):
        command, rest = argv[0], argv[1:]
    else:
        command, rest = "list", argv
    if command == "new":
        parser = _parser("xlsheets plugins new", "Write a new plugin and its cases file from the template.",
                         NEW_EXIT)
        parser.add_argument("name", help="plugin name: lower-case letters, digits, _ (e.g. acme_health)")
        parser.add_argument("--prefix", help="rule-ID prefix, 1-4 capital letters (default: from the name)")
        parser.add_argument("--dir", help="folder to write into (default: the configured plugin folder, "
                                          "else ./plugins)")
        parser.add_argument("--config", help="configuration file")
        return new_main(parser.parse_args(rest))
    if command == "test":
        parser = _parser("xlsheets plugins test", "Run a plugin's cases file (NAME.cases.toml next to it).",
                         TEST_EXIT)
        parser.add_argument("plugin", help="the plugin file, e.g. plugins/acme.py")
        parser.add_argument("--cases", help="cases file (default: NAME.cases.toml next to the plugin)")
        add_format_option(parser)
        return run_tests(parser.parse_args(rest))
    parser = _parser("xlsheets plugins", "List loaded plugins and the ones that failed to load.", LIST_EXIT,
                     epilog="Also: 'xlsheets plugins new NAME', 'xlsheets plugins test plugins/NAME.py'.")
    parser.add_argument("--config", help="configuration file (xlsheets.toml or pyproject.toml)")
    parser.add_argument("--plugins-dir", action="append", metavar="DIR",
                        help="load plugins from this folder too (repeatable)")
    add_format_option(parser)
    return list_main(parser.parse_args(rest))
