"""Build the plugin manager: specs, entry points, configured plugin folders, built-in rules.

Always the same steps in the same order (as pluggy's own example): add the hook specs, load
packaged plugins (entry-point group ``xlsheets``), load ``.py`` files from the plugin folders the
configuration names, register the built-in rule families last, then ``check_pending()``.

A plugin that cannot be loaded is skipped with a message that names its file and line and says
what to do; the others still load. Plugin folders are loaded only when configuration or the
command line names them, never because a file sits next to a workbook.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pluggy

from . import hookspecs
from .plugin_guard import PluginTimeout, time_limit
from .rule import Rule, RuleDefinitionError

__all__ = ["PluginHost", "LoadedPlugin", "PluginFailure", "MissingPlugin", "load_plugins",
           "missing_plugins", "plugin_problems", "not_loaded_finding", "BUILTIN_MODULES"]

BUILTIN_MODULES = (
    "xlsheets.rules.codes",
    "xlsheets.rules.notes",
    "xlsheets.rules.spine",
    "xlsheets.rules.documentation",
    "xlsheets.rules.ncci",
)
BUILTIN_PREFIXES = ("C", "X", "S", "D", "E", "N")
HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("xlsheets_"))
MAX_PLUGIN_FILE_BYTES = 1_000_000


@dataclass
class PluginFailure:
    name: str
    source: str
    message: str
    kind: str = "folder"  # "folder" (plugin_dirs, --plugins-dir) or "entrypoint" (pip-installed)

    def text(self) -> str:
        """One line for a person: which plugin, which file, what is wrong (file and line)."""
        return f"plugin {self.name} ({self.source}) was not loaded: {self.message}"


@dataclass
class MissingPlugin:
    """A plugin name the configuration enables that no loaded plugin has."""

    name: str
    where: str  # "top level", "[payers.aetna]" or "--plugin"
    enabled_for: str  # "all payers" or "payer aetna"
    config: str | None  # the configuration file (None for --plugin or built-in defaults)
    line: int | None  # its line in that file, when it can be found
    suggestion: str | None  # "did you mean" among the loaded plugins
    message: str

    def text(self) -> str:
        return self.message


@dataclass
class LoadedPlugin:
    name: str
    kind: str  # "builtin", "folder", "entrypoint" or "given" (xlsheets.configure)
    source: str
    module: Any
    hooks: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    doc: str = ""

    @property
    def builtin(self) -> bool:
        return self.kind == "builtin"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "hooks": self.hooks,
            "rules": [r.id for r in self.rules],
            "settings": self.settings,
            "summary": self.doc.strip().splitlines()[0] if self.doc.strip() else "",
        }


class PluginHost:
    """The loaded plugins, their rules and settings, and the ones that failed to load."""

    def __init__(self, import_seconds: float = 30) -> None:
        # A plugin's import (and its one-off hooks) taking longer is stopped and the plugin
        # reported as not loaded; where no timer signal exists there is no limit (plugin_guard).
        self.import_seconds = import_seconds
        self.pm = pluggy.PluginManager("xlsheets")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.failures: list[PluginFailure] = []
        self.rules: list[Rule] = []
        self.default_settings: dict[str, Any] = {}
        self._rule_owner: dict[str, str] = {}
        self._prefix_owner: dict[str, str] = {}

    # --- loading ----------------------------------------------------------------------
    def load_entry_points(self) -> None:
        if os.environ.get("XLSHEETS_NO_ENTRY_POINTS"):
            return
        try:
            eps = importlib.metadata.entry_points(group="xlsheets")
        except Exception:  # a broken distribution must not stop validation
            return
        for ep in eps:
            try:
                with time_limit(self.import_seconds, f"importing plugin {ep.name}"):
                    module = ep.load()
            except Exception as exc:
                self.failures.append(PluginFailure(ep.name, f"entry point {ep.value}",
                                                   f"could not be imported: {_describe_exc(exc)}",
                                                   kind="entrypoint"))
                continue
            self.add(module, ep.name, "entrypoint", f"entry point {ep.value}")

    def load_folder(self, folder: Path) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            self.failures.append(PluginFailure(str(folder), str(folder),
                                               "plugin folder not found (check plugin_dirs in the configuration)"))
            return
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith(("_", ".")):
                continue
            self.load_file(path)

    def load_file(self, path: Path) -> None:
        """Import one plugin file; on failure record a message naming the file and line."""
        path = Path(path).resolve()
        name = path.stem
        if name in self.plugins:
            self.failures.append(PluginFailure(name, str(path),
                                               f"a plugin named {name!r} is already loaded from "
                                               f"{self.plugins[name].source}; rename one of the files"))
            return
        try:
            if path.stat().st_size > MAX_PLUGIN_FILE_BYTES:
                raise ImportError(f"the file is larger than {MAX_PLUGIN_FILE_BYTES} bytes")
            module_name = f"xlsheets_plugins.{name}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError("not a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                with time_limit(self.import_seconds, f"importing plugin {name}"):
                    spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
        except SyntaxError as exc:
            self.failures.append(PluginFailure(name, str(path),
                                               f"{exc.filename}, line {exc.lineno}: syntax error: {exc.msg}. "
                                               "The plugin was skipped."))
            return
        except RuleDefinitionError as exc:  # already says file:line and what to do
            self.failures.append(PluginFailure(name, str(path), _sentence(str(exc)) + " The plugin was skipped."))
            return
        except (Exception, SystemExit, RecursionError) as exc:
            self.failures.append(PluginFailure(name, str(path),
                                               f"{_where_in(exc, path)}could not be loaded: "
                                               f"{_describe_exc(exc)}. The plugin was skipped."))
            return
        self.add(module, name, "folder", str(path))

    def load_given(self, name: str, plugin: Any, source: str) -> None:
        """A plugin handed to ``xlsheets.configure()``: a module, an object with hook functions,
        or a plugin file's source text (xlwings Lite has no plugin folder). Checked as a file is."""
        if name in self.plugins:
            self.failures.append(PluginFailure(name, source,
                                               f"a plugin named {name!r} is already loaded from "
                                               f"{self.plugins[name].source}; give this one another name"))
            return
        if isinstance(plugin, str):
            module = ModuleType(f"xlsheets_plugins.{name}")
            module.__file__ = source
            try:
                with time_limit(self.import_seconds, f"importing plugin {name}"):
                    exec(compile(plugin, source, "exec"), module.__dict__)
            except SyntaxError as exc:
                self.failures.append(PluginFailure(name, source,
                                                   f"{source}, line {exc.lineno}: syntax error: {exc.msg}. "
                                                   "The plugin was skipped."))
                return
            except RuleDefinitionError as exc:
                self.failures.append(PluginFailure(name, source, _sentence(str(exc)) + " The plugin was skipped."))
                return
            except (Exception, SystemExit, RecursionError) as exc:
                self.failures.append(PluginFailure(name, source,
                                                   f"{_where_in(exc, source)}could not be loaded: "
                                                   f"{_describe_exc(exc)}. The plugin was skipped."))
                return
            plugin = module
        self.add(plugin, name, "given", source)

    def add(self, module: ModuleType, name: str, kind: str, source: str) -> None:
        """Validate and register one plugin module; record a failure instead of raising."""
        failed_as = "entrypoint" if kind == "entrypoint" else "folder"
        problem = self._validate_hooks(module, source)
        if problem:
            self.failures.append(PluginFailure(name, source, _sentence(problem) + " The plugin was skipped.",
                                               kind=failed_as))
            return
        try:
            self.pm.register(module, name=name)
        except Exception as exc:  # pluggy validation (1.6 may leave it half-registered)
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self.failures.append(PluginFailure(name, source, _sentence(str(exc)) + " The plugin was skipped.",
                                               kind=failed_as))
            return
        plugin = LoadedPlugin(name, kind, source, module, doc=inspect.getdoc(module) or "")
        plugin.hooks = [h for h in HOOK_NAMES if callable(getattr(module, h, None))]
        try:
            with time_limit(0 if plugin.builtin else self.import_seconds, f"loading plugin {name}'s rules"):
                error = self._collect(plugin)
        except PluginTimeout as exc:
            error = f"{_where_in(exc, source)}{_describe_exc(exc)}"
        if error:
            self.pm.unregister(name=name)
            self.failures.append(PluginFailure(name, source, _sentence(error) + " The plugin was skipped.",
                                               kind=failed_as))
            return
        for r in plugin.rules:
            self._rule_owner[r.id] = name
            if not plugin.builtin:
                self._prefix_owner.setdefault(_prefix(r.id), name)
        self.default_settings.update(plugin.settings)
        self.rules.extend(plugin.rules)
        self.plugins[name] = plugin

    def load_builtins(self) -> None:
        for module_name in BUILTIN_MODULES:
            module = importlib.import_module(module_name)
            self.add(module, module_name, "builtin", module_name)

    def finish(self) -> None:
        # The only check that catches a hook implemented under a misspelled name that slipped
        # past _validate_hooks (e.g. an entry-point plugin registered by another route).
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.failures.append(PluginFailure(getattr(exc.plugin, "__name__", "?"), "?", str(exc)))

    # --- validation -------------------------------------------------------------------
    def _validate_hooks(self, module: ModuleType, source: str) -> str | None:
        for attr, value in vars(module).items():
            if not callable(value):
                continue
            marked = hasattr(value, "xlsheets_impl")
            looks_like_hook = attr.startswith("xlsheets_")
            if not (marked or looks_like_hook):
                continue
            where = _where_defined(value, source)
            if attr not in HOOK_NAMES:
                if not marked:
                    continue  # a helper that merely shares the prefix
                guess = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
                hint = f"; did you mean {guess[0]!r}?" if guess else f"; hooks are: {', '.join(HOOK_NAMES)}"
                return f"{where}: unknown hook {attr!r}{hint}"
            if not marked:
                return (f"{where}: function {attr!r} is not decorated with @hookimpl, so it would "
                        f"never be called; put '@xlsheets.hookimpl' on the line above it")
            spec_args = list(inspect.signature(getattr(hookspecs, attr)).parameters)
            try:
                impl_args = list(inspect.signature(value).parameters)
            except (TypeError, ValueError):
                continue
            for arg in impl_args:
                if arg not in spec_args:
                    guess = difflib.get_close_matches(arg, spec_args, n=1)
                    hint = (f"; did you mean {guess[0]!r}?" if guess
                            else f"; it may take: {', '.join(spec_args) or 'no arguments'}")
                    return f"{where}: hook {attr!r} has argument {arg!r}, which it is not given{hint}"
        return None

    def _collect(self, plugin: LoadedPlugin) -> str | None:
        """Call the plugin's one-off hooks and check what they return."""
        module = plugin.module
        if "xlsheets_default_settings" in plugin.hooks:
            try:
                settings = module.xlsheets_default_settings()
            except Exception as exc:
                return f"{_where_in(exc, plugin.source)}xlsheets_default_settings raised {_describe_exc(exc)}."
            if settings is not None and not isinstance(settings, dict):
                return f"xlsheets_default_settings must return a dict, not {type(settings).__name__}."
            plugin.settings = dict(settings or {})
        if "xlsheets_rules" in plugin.hooks:
            try:
                rules = module.xlsheets_rules()
            except Exception as exc:
                return f"{_where_in(exc, plugin.source)}xlsheets_rules raised {_describe_exc(exc)}."
            if rules is None:
                rules = []
            if not isinstance(rules, (list, tuple)):
                return f"xlsheets_rules must return a list of rules, not {type(rules).__name__}."
            seen: dict[str, str] = {}  # rule ID -> scope: one ID may have a claim and a batch part
            for r in rules:
                if not isinstance(r, Rule):
                    return (f"xlsheets_rules returned {r!r}, which is not a rule: decorate the check "
                            "function with @xlsheets.rule(...)")
                owner = self._rule_owner.get(r.id) or (
                    plugin.name if seen.get(r.id, r.scope) == r.scope and r.id in seen else None)
                if owner:
                    return f"{r.source}: rule ID {r.id} is already used by {owner}; pick another ID."
                if not plugin.builtin:
                    prefix = _prefix(r.id)
                    if prefix in BUILTIN_PREFIXES:
                        return (f"{r.source}: rule ID {r.id} uses the built-in prefix {prefix!r}; "
                                "a plugin owns its own prefix, e.g. ACME101")
                    other = self._prefix_owner.get(prefix)
                    if other and other != plugin.name:
                        return f"{r.source}: rule prefix {prefix!r} belongs to plugin {other}; pick another prefix."
                seen[r.id] = r.scope
                r.plugin = plugin.name
                r.trusted = plugin.builtin
            plugin.rules = list(rules)
        return None

    # --- queries ----------------------------------------------------------------------
    def rule(self, rule_id: str) -> Rule | None:
        rule_id = rule_id.strip().upper()
        return next((r for r in self.rules if r.id == rule_id), None)

    def implementations(self, hook: str, plugin_names) -> list[tuple[str, Callable]]:
        """Implementations of a hook from the given plugins, in pluggy's call order."""
        out = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            if impl.plugin_name in plugin_names:
                out.append((impl.plugin_name, impl.function))
        return out

    def plugin_of(self, rule: Rule) -> LoadedPlugin | None:
        return self.plugins.get(rule.plugin)


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _prefix(rule_id: str) -> str:
    return rule_id.rstrip("0123456789")


def _describe_exc(exc: BaseException) -> str:
    if isinstance(exc, PluginTimeout):
        return f"{exc} (an endless loop, or a call that never returns?)"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _where_defined(func: Callable, fallback: str) -> str:
    try:
        code = func.__code__
        return f"{code.co_filename}, line {code.co_firstlineno}"
    except AttributeError:
        return fallback


def _where_in(exc: BaseException, source: str) -> str:
    """``"path, line N: "`` of the deepest frame in the plugin's own file, when there is one."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(str(source))]
    frame = mine[-1] if mine else None
    return f"{frame.filename}, line {frame.lineno}: " if frame else ""


_CACHE: dict[tuple, PluginHost] = {}


def load_plugins(plugin_dirs=(), entry_points: bool = True, cache: bool = True,
                 given=(), import_seconds: float = 30) -> PluginHost:
    """The plugin host for these folders; built once per process and reused (Excel calls often).
    ``given``: (name, plugin, source) from ``xlsheets.configure()``; such a host is not cached
    here (configure() keeps it until it is called again)."""
    given = list(given)
    cache = cache and not given
    key = (tuple(str(Path(p).resolve()) for p in plugin_dirs), entry_points)
    if cache and key in _CACHE:
        return _CACHE[key]
    host = PluginHost(import_seconds)
    if entry_points:
        host.load_entry_points()
    for folder in plugin_dirs:
        host.load_folder(Path(folder))
    for name, plugin, source in given:
        host.load_given(name, plugin, source)
    host.load_builtins()
    host.finish()
    if cache:
        _CACHE[key] = host
    return host


def where_of(exc: BaseException, rule: Rule) -> str:
    """Where in a rule's file an exception was raised (for findings about failed rules)."""
    path = rule.source.rsplit(":", 1)[0]
    return _where_in(exc, path)


# --- configured plugins that are not there ---------------------------------------------------
def missing_plugins(cfg, host: PluginHost) -> list[MissingPlugin]:
    """Plugin names the configuration (top level, a payer section) or ``--plugin`` enables that
    no loaded plugin has: that payer's rules would silently not run. A name whose plugin failed
    to load is not listed here (its failure is reported, with file and line)."""
    loaded = set(host.plugins)
    failed = {f.name for f in host.failures}
    mine = sorted(n for n, p in host.plugins.items() if not p.builtin)
    from_cli = set(getattr(cfg, "cli_plugins", ()) or ())
    source = str(cfg.source) if getattr(cfg, "source", None) else None
    wanted: list[tuple[str, str, str]] = []  # (name, where, enabled for)
    for n in cfg.plugins:
        wanted.append((n, "--plugin" if n in from_cli else "top level", "all payers"))
    for policy in cfg.payers:
        for n in policy.plugins:
            wanted.append((n, f"[payers.{policy.name}]", f"payer {policy.name}"))
    out, seen = [], set()
    for name, where, enabled_for in wanted:
        if name in loaded or name in failed or (name, where) in seen:
            continue
        seen.add((name, where))
        guess = difflib.get_close_matches(name, mine, n=1, cutoff=0.6)
        hint = (f"did you mean {guess[0]!r}?" if guess else
                f"loaded plugins: {', '.join(mine)}." if mine else
                "no plugin is loaded at all: name the plugin folder in plugin_dirs (or use --plugins-dir).")
        if where == "--plugin":
            config, line = None, None
            head = f"--plugin {name}"
        else:
            config = source
            line = _config_line(cfg.source, name, where) if config else None
            head = (f"{config}, line {line}" if line else (config or "the configuration")) + f" ({where})"
        message = (f"{head}: plugin {name!r} is enabled for {enabled_for}, but no plugin of that name "
                   f"is loaded; {hint} Its rules would not run. Check the spelling (the file name "
                   "without .py) and plugin_dirs.")
        out.append(MissingPlugin(name, where, enabled_for, config, line,
                                 guess[0] if guess else None, message))
    return out


def plugin_problems(cfg, host: PluginHost) -> list:
    """What stops a run before any claim is checked (:class:`PluginFailure` and
    :class:`MissingPlugin`, each with ``text()``): a plugin from a plugin folder that failed to
    load, an installed (entry-point) plugin that failed and is enabled, a configured plugin name
    no loaded plugin has. Empty when every configured rule can run."""
    enabled = set(cfg.plugins) | {n for p in cfg.payers for n in p.plugins}
    broken = [f for f in host.failures if f.kind != "entrypoint" or f.name in enabled]
    return [*broken, *missing_plugins(cfg, host)]


def not_loaded_finding(problems: list, fix: str):
    """One E102 error naming the plugins that did not load or are missing (None when none):
    what a claim those plugins would have checked carries, so that it never reads ready.
    ``fix`` ends the message: what to do after fixing (restart Excel, run again)."""
    if not problems:
        return None
    from .engine import RULE_FAILED
    from .findings import Finding, Severity
    names = ", ".join(dict.fromkeys(p.name for p in problems))
    return Finding(
        rule=RULE_FAILED, severity=Severity.ERROR,
        message=(" ".join(_sentence_of(p.text()) for p in problems)
                 + f" This claim was not checked by that plugin's rules. Fix the plugin or xlsheets.toml "
                   f"('xlsheets plugins' shows what is wrong), then {fix}."),
        suggestion=f"fix the plugin, then {fix}",
        brief=f"plugin {names} not loaded - claim not fully checked")


def _sentence_of(text: str) -> str:
    return text if text.rstrip().endswith((".", "?", "!")) else text.rstrip() + "."


def _config_line(path, name: str, where: str) -> int | None:
    """The line of ``path`` where ``name`` is written as a string in the section ``where``
    ("top level" or "[payers.X]"); None when it cannot be told (best effort, for messages)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, TypeError):
        return None
    prefix = "tool.xlsheets" if Path(path).name == "pyproject.toml" else ""
    want = prefix if where == "top level" else ".".join(filter(None, (prefix, where.strip("[]"))))
    want = "".join(ch for ch in want if ch not in " \"'")
    quoted = (f'"{name}"', f"'{name}'")
    section, fallback = "", None
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text.startswith("[") and not text.startswith("[["):
            section = "".join(ch for ch in text.strip("[]") if ch not in " \"'")
            continue
        if any(q in text for q in quoted):
            if section == want:
                return number
            fallback = fallback or number
    return fallback
