"""The plugin contract: the hooks a plugin may implement.

A plugin is a module (a ``.py`` file in a configured plugin folder, or a package registered under
the ``xlsheets`` entry-point group) with functions decorated by ``xlsheets.hookimpl`` and named
exactly like the hooks below. Built-in rules are registered through these same hooks.

Specs have no argument defaults on purpose: pluggy 1.6 and 1.7 treat them differently.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("xlsheets")
hookimpl = pluggy.HookimplMarker("xlsheets")


@hookspec
def xlsheets_rules():
    """Add rules.

    Called once, when the plugin manager is built.

    :returns: a list of :class:`xlsheets.Rule` objects made with ``@xlsheets.rule``. A rule with
        ``scope="batch"`` sees every claim of the workbook that its triggers match, for checks
        across a patient's rows (sessions per rolling 12 months).
    """


@hookspec(firstresult=True)
def xlsheets_pair_policy(code_a, code_b, claim, settings):
    """Decide whether two diagnosis codes may be reported together for this claim's payer.

    Called by rules that defer to payer policy (S303: M54.16 with M54.17), only for plugins
    enabled for the claim's payer. Stops at the first non-None result.

    :param code_a: the first code (dotted, e.g. ``"M54.16"``).
    :param code_b: the second code.
    :param claim: the :class:`xlsheets.Claim` being validated (read it, do not change it).
    :param settings: the settings in force for this claim's payer (a dict).
    :returns: ``"allow"``, ``"deny"`` or ``"review"``, or None to leave the decision to others.
    """


@hookspec
def xlsheets_default_settings():
    """Declare the settings this plugin owns, with their defaults.

    Called once, when the plugin manager is built. Users override them in ``[settings]`` or a
    payer's ``[payers.NAME.settings]`` section.

    :returns: a dict of setting name to default value.
    """
