"""Settings and plugins given in code: ``xlsheets.configure()``, for where there are no files.

xlwings Lite runs Python in the browser: there is no ``xlsheets.toml`` to find, no user config
folder and no plugin folder, only the ``main.py`` the user pastes. So a practice administrator
pastes the settings (the text of an ``xlsheets.toml``) and the plugins into ``main.py`` and calls::

    xlsheets.configure(settings=SETTINGS, plugins=[("medicare_esi", sys.modules[__name__])])

Nothing loads here (Excel waits while ``main.py`` imports): the settings and plugins are read on
the first call of a worksheet function or script, through the same code the command line uses
(``config.config_from_dict``, ``plugins.PluginHost``), so a plugin given here gets every check a
plugin folder gets: its load problems are named in every cell, its faults are isolated, its
``reads`` are checked. A problem with the settings shows as a configuration error in the cells.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping

from .config import Config, ConfigError, config_from_dict, load_config

__all__ = ["configure", "configured", "make_validator", "SETTINGS_SOURCE"]

# What outputs name as "the configuration used" when the settings came from configure().
SETTINGS_SOURCE = Path("xlsheets.configure(settings=...)")

_given: dict[str, Any] | None = None  # what configure() was last handed (None: never called)


def configure(settings: str | Mapping[str, Any] | None = None,
              plugins: Iterable[Any] = ()) -> None:
    """Use these settings and plugins instead of looking for files.

    ``settings``: the text of an ``xlsheets.toml``, or the same as a dict; None keeps looking for
    ``xlsheets.toml`` as the command line does. ``plugins``: each a module, any object with
    ``@xlsheets.hookimpl`` functions, the source text of a plugin file, or a ``(name, plugin)``
    pair (the name is what the settings' ``plugins = [...]`` lists). Without a name a module's
    own name is used.

    Takes effect at the next call of a worksheet function (already loaded state is dropped).
    """
    global _given
    if settings is not None and not isinstance(settings, (str, Mapping)):
        raise TypeError("settings must be the text of an xlsheets.toml or a dict, "
                        f"not {type(settings).__name__}")
    if isinstance(plugins, (str, ModuleType)) or (isinstance(plugins, tuple) and len(plugins) == 2
                                                   and isinstance(plugins[0], str)):
        plugins = [plugins]  # one plugin given on its own
    _given = {"settings": settings, "plugins": [_named(p) for p in plugins]}
    _forget_loaded()


def configured() -> tuple[Config, list[tuple[str, Any, str]]] | None:
    """(configuration, plugins as (name, object or source, where)) from configure(); None when
    configure() was not called. Raises ConfigError for settings that cannot be used."""
    if _given is None:
        return None
    settings = _given["settings"]
    if settings is None:
        config = load_config()
    else:
        if isinstance(settings, str):
            try:
                data = tomllib.loads(settings)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{SETTINGS_SOURCE}: not valid TOML: {exc}") from None
        else:
            data = dict(settings)
        config = config_from_dict(data, SETTINGS_SOURCE)
    return config, list(_given["plugins"])


def make_validator():
    """The Validator the worksheet functions, the script and ``xlsheets.validate`` use: from
    configure() when it was called, else from the configuration file found as the CLI finds it."""
    from .engine import Validator
    from .plugins import load_plugins
    got = configured()
    if got is None:
        return Validator(load_config())
    config, plugins = got
    return Validator(config, host=load_plugins(config.plugin_dirs, given=plugins))


def reset() -> None:
    """Back to looking for files (tests)."""
    global _given
    _given = None
    _forget_loaded()


def _named(item) -> tuple[str, Any, str]:
    """(name, plugin, where it came from) of one item given to configure()."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        name, plugin = item
    else:
        plugin = item
        name = getattr(plugin, "__name__", None) if not isinstance(plugin, str) else None
        if not name:
            raise TypeError("give a plugin's source text with its name: (\"my_plugin\", SOURCE)")
        name = name.rsplit(".", 1)[-1]
    name = str(name).strip()
    if not name.isidentifier():
        raise ValueError(f"plugin name {name!r} must be a plain name such as medicare_esi")
    # Messages name the file the plugin's code is in when there is one (main.py), so that a
    # problem's "file, line N" points where the administrator pasted it.
    if isinstance(plugin, str):
        # r''' then a new line, as main.py shows: line numbers then match the plugin's file
        plugin = plugin[1:] if plugin.startswith("\n") else plugin
        return name, plugin, f"{name}.py in xlsheets.configure"
    return name, plugin, str(getattr(plugin, "__file__", None) or f"{name} in xlsheets.configure")


def _forget_loaded() -> None:
    """Drop what the worksheet functions and the public API loaded with the old settings."""
    import sys
    udfs = sys.modules.get("xlsheets.udfs")
    if udfs is not None:
        udfs.reset()
    package = sys.modules.get("xlsheets")
    if package is not None and hasattr(package, "_default"):
        package._default = None
