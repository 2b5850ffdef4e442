"""xlwings Lite: `xlsheets lite` writes the two tabs, and a main.py with settings and plugins
pasted in (as docs/excel.md says) works through xlwings' own Office.js call interface.

The functions run in a subprocess with XLWINGS_ON_SERVER=true (xlwings picks its decorators when
first imported), importing the generated main.py as xlwings Lite does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import xlsheets

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_lite_writes_both_tabs_pinned_to_this_version(tmp_path):
    done = run_cli("lite", str(tmp_path / "bundle"))
    assert done.returncode == 0, done.stderr
    main_py = (tmp_path / "bundle" / "main.py").read_text(encoding="utf-8")
    requirements = (tmp_path / "bundle" / "requirements.txt").read_text(encoding="utf-8")
    lines = [l for l in requirements.splitlines() if l and not l.startswith("#")]
    assert f"xlsheets=={xlsheets.__version__}" in lines
    assert "xlwings" in lines  # the Office.js side of the functions
    assert "from xlsheets.udfs import *" in main_py and "xlsheets.configure(" in main_py
    assert "paste" in done.stdout.lower()


def test_the_repository_lite_folder_is_what_the_command_writes(tmp_path):
    """lite/ is for people who read before they install: it must be the same files
    (regenerate with `python tools/make_lite.py`)."""
    assert run_cli("lite", str(tmp_path)).returncode == 0
    for name in ("main.py", "requirements.txt"):
        assert (ROOT / "lite" / name).read_text(encoding="utf-8") == \
            (tmp_path / name).read_text(encoding="utf-8"), f"lite/{name} is stale: run tools/make_lite.py"


def test_wheel_url_replaces_the_pinned_line(tmp_path):
    url = f"https://claims.example.org/wheels/xlsheets-{xlsheets.__version__}-py3-none-any.whl"
    done = run_cli("lite", str(tmp_path), "--wheel-url", url)
    assert done.returncode == 0, done.stderr
    lines = [l for l in (tmp_path / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert url in lines and not any(l.startswith("xlsheets==") for l in lines)


@pytest.mark.parametrize("url, says", [
    ("http://intranet/xlsheets-0.1.0-py3-none-any.whl", "https://"),
    ("https://intranet/xlsheets.zip", ".whl"),
])
def test_a_wheel_url_lite_cannot_load_is_refused(tmp_path, url, says):
    done = run_cli("lite", str(tmp_path / "out"), "--wheel-url", url)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_ncci_wheel_url_adds_the_data_wheel_line(tmp_path):
    url = "https://claims.example.org/ncci/xlsheets_ncci_data-2026.2-py3-none-any.whl"
    done = run_cli("lite", str(tmp_path), "--ncci-wheel-url", url)
    assert done.returncode == 0, done.stderr
    lines = [l for l in (tmp_path / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert lines == ["xlwings", f"xlsheets=={xlsheets.__version__}", url]  # xlsheets still from the index


@pytest.mark.parametrize("url, says", [
    ("http://intranet/xlsheets_ncci_data-2026.2-py3-none-any.whl", "https://"),
    ("https://intranet/ncci-2026q2.whl", "xlsheets_ncci_data-2026.1-py3-none-any.whl"),
    ("https://intranet/xlsheets_ncci_data-2026.2.zip", ".whl"),
])
def test_an_ncci_wheel_url_lite_cannot_install_is_refused(tmp_path, url, says):
    done = run_cli("lite", str(tmp_path / "out"), "--ncci-wheel-url", url)
    assert done.returncode == 2 and says in done.stderr and "--ncci-wheel-url" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


# --- main.py with settings and plugins pasted in, called as xlwings Lite calls it --------------
SETTINGS = '''
[payers.acme]
match = ["acme*"]
plugins = ["acme"]
[payers.acme.settings]
pair_policy_default = "deny"
'''

# Acme reviews radiculopathy, but only for Acme: the rule reads claim.payer while declaring
# reads=("diagnoses",): a broken promise xlsheets must catch (not reuse Acme's finding).
ACME = '''\
"""Acme Health: radiculopathy is reviewed."""
import xlsheets


@xlsheets.rule("ACME101", severity="warning", dx=("M54.1",), reads=("diagnoses",))
def acme_radiculopathy(claim, ctx):
    """Acme reviews radiculopathy codes."""
    if claim.payer.lower().startswith("acme"):
        yield ctx.finding("Acme reviews radiculopathy", codes=claim.dx_with_prefix("M54.1"))


@xlsheets.rule("ACME102", severity="warning", dx=("M51",))
def acme_crashes(claim, ctx):
    """A rule with a bug."""
    return 1 / 0


@xlsheets.hookimpl
def xlsheets_rules():
    return [acme_radiculopathy, acme_crashes]
'''

BROKEN = '''\
import xlsheets

def oops(:
    pass
'''

RUNNER = textwrap.dedent("""
    import asyncio, importlib, json, sys
    sys.path.insert(0, sys.argv[1])
    from xlwings.server import custom_functions_call
    main = importlib.import_module("main")   # as xlwings Lite imports the main.py tab
    base = {"client": "Office.js", "caller_address": "[Claims.xlsx]Claims!Z2", "session_id": "s1",
            "culture_info_name": "en-US", "date_format": "M/d/yyyy", "version": "0.37.8",
            "runtime": "1.4"}
    calls = json.load(sys.stdin)
    print(json.dumps([asyncio.run(custom_functions_call({**base, "func_name": n, "args": a}, main))
                      for n, a in calls]))
""")
HEAD = ["claim_id", "patient_id", "dos", "payer", "dx1", "dx2", "cpt1"]
TABLE = [HEAD,
         ["C1", "P1", 46091, "Acme Health", "M54.16", None, 99214],
         ["C2", "P2", 46091, "Northwind", "M54.16", None, 99214],
         ["C3", "P3", 46091, "Acme Health", "M54.16", "M54.17", 99214],
         ["C4", "P4", 46091, "Acme Health", "M51.16", None, 99214]]


def pasted_main(folder: Path, settings: str, plugins: list[tuple[str, str]], *lite_args: str) -> Path:
    """main.py as `xlsheets lite [lite_args]` writes it, with settings and plugins pasted where it says."""
    assert run_cli("lite", str(folder), *lite_args).returncode == 0
    path = folder / "main.py"
    text = path.read_text(encoding="utf-8")
    entries = "".join(f"    ({name!r}, r'''\n{source}'''),\n" for name, source in plugins)
    text = text.replace('SETTINGS = r"""\n"""', f'SETTINGS = r"""{settings}"""')
    text = text.replace("PLUGINS = [\n]", f"PLUGINS = [\n{entries}]")
    path.write_text(text, encoding="utf-8")
    return folder


def call(folder: Path, calls: list, tmp_path: Path, site: Path | None = None) -> list:
    """The calls through xlwings on CPython; ``site``: a folder of installed packages (a data wheel)."""
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial",
           "XLSHEETS_NO_ENTRY_POINTS": "1", "XDG_CONFIG_HOME": str(tmp_path / "nocfg"),
           "XLSHEETS_DATA_DIR": str(tmp_path / "nodata")}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env.pop("XLSHEETS_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(folder)], input=json.dumps(calls),
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_settings_and_a_plugin_pasted_into_main_py_are_used(tmp_path):
    folder = pasted_main(tmp_path / "lite", SETTINGS, [("acme", ACME)])
    table, title = call(folder, [("claim_status_table", [TABLE]), ("icd_title", [[["M5417"]]])], tmp_path)
    status = [row[0] for row in table]
    assert status[0].startswith("WARNING ACME101")      # Acme's plugin rule, for Acme only
    assert status[1] == "OK"                             # caught reading payer: not reused
    assert status[2].startswith("ERROR S303")            # pair_policy_default = "deny" for Acme
    assert status[3].startswith("ERROR E102") and "ACME102" in status[3]  # a fault, isolated
    assert title == [["Radiculopathy, lumbosacral region"]]


def test_a_broken_pasted_plugin_is_named_in_every_cell_and_nothing_else_breaks(tmp_path):
    folder = pasted_main(tmp_path / "lite", SETTINGS, [("acme", BROKEN)])
    table, title = call(folder, [("claim_status_table", [TABLE]), ("icd_title", [[["M5417"]]])], tmp_path)
    for (text,) in table:
        assert text.startswith("ERROR E102: plugin acme not loaded"), text
    assert title == [["Radiculopathy, lumbosacral region"]]


def test_a_broken_plugin_message_says_which_line(tmp_path):
    folder = pasted_main(tmp_path / "lite", SETTINGS, [("acme", BROKEN)])
    (findings,) = call(folder, [("claim_findings", [[HEAD], [TABLE[1]]])], tmp_path)
    message = next(row[2] for row in findings[1:] if row[0] == "E102")
    assert "line 3: syntax error" in message and "acme" in message


def test_settings_that_are_not_toml_show_a_configuration_error(tmp_path):
    folder = pasted_main(tmp_path / "lite", "\nplugins = [acme\n", [])
    (table,) = call(folder, [("claim_status_table", [TABLE])], tmp_path)
    assert table == [[table[0][0]]] and table[0][0].startswith("xlsheets: configuration error:")
    assert "not valid TOML" in table[0][0]


def test_a_misspelt_pasted_setting_shows_the_configuration_error_in_the_cells(tmp_path):
    """configure(settings=...) with a key no rule reads: the same message as the command line,
    in every cell, never OK with the default."""
    misspelt = SETTINGS.replace('pair_policy_default = "deny"', 'pair_policy_defualt = "deny"')
    folder = pasted_main(tmp_path / "lite", misspelt, [("acme", ACME)])
    table, (status,) = call(folder, [("claim_status_table", [TABLE]),
                                     ("claim_status", [[HEAD], [TABLE[1]]])], tmp_path)
    for text in (table[0][0], status[0]):
        assert text.startswith("xlsheets: configuration error: xlsheets.configure(settings=...): "
                               '[payers.acme.settings] pair_policy_defualt = "deny"'), text
        assert "did you mean pair_policy_default?" in text and "xlsheets_default_settings" in text
    assert table == [[table[0][0]]]


def test_a_configured_plugin_not_pasted_is_named(tmp_path):
    folder = pasted_main(tmp_path / "lite", SETTINGS, [])
    (status,) = call(folder, [("claim_status", [[HEAD], [TABLE[1]]])], tmp_path)
    assert status[0][0].startswith("ERROR E102") and "acme" in status[0][0]


# --- configure() in-process ---------------------------------------------------------------
@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nocfg"))
    monkeypatch.setenv("XLSHEETS_NO_ENTRY_POINTS", "1")
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    from xlsheets import inline
    inline.reset()
    yield
    inline.reset()


def test_configure_takes_a_dict_and_a_module(fresh, tmp_path):
    import types
    module = types.ModuleType("acme")
    exec(compile(ACME.replace("ACME102", "ACME103").replace("1 / 0", "()"), "acme.py", "exec"), module.__dict__)
    xlsheets.configure(settings={"payers": {"acme": {"match": ["acme*"], "plugins": ["acme"]}}},
                       plugins=[module])
    findings = xlsheets.validate({"claim_id": "C1", "payer": "Acme Health", "dos": "2026-03-10",
                                  "dx1": "M54.16", "cpt1": "99214"})
    assert "ACME101" in {f.rule for f in findings}
    from xlsheets import udfs
    status = udfs.claim_status(["payer", "dos", "dx1", "cpt1"], ["Northwind", "2026-03-10", "M54.16", "99214"])
    assert status == "OK"


def test_configure_refuses_what_it_cannot_use(fresh):
    with pytest.raises(TypeError, match="settings must be"):
        xlsheets.configure(settings=42)
    with pytest.raises(TypeError, match="name"):
        xlsheets.configure(plugins=["import xlsheets"])  # source text needs a name


def test_the_example_plugins_pasted_into_main_py_load_and_run(tmp_path):
    """docs/excel.md's way with the plugins a practice copies: each file's text, as it is."""
    names = sorted(p.stem for p in (ROOT / "plugins").glob("*.py"))
    plugins = [(n, (ROOT / "plugins" / f"{n}.py").read_text(encoding="utf-8")) for n in names]
    settings = "\nplugins = [" + ", ".join(f'"{n}"' for n in names) + "]\n"
    folder = pasted_main(tmp_path / "lite", settings, plugins)
    (table,) = call(folder, [("claim_status_table", [TABLE])], tmp_path)
    assert len(table) == len(TABLE) - 1
    for (text,) in table:
        assert "E102" not in text, text  # every plugin loaded, none failed
