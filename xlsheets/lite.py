"""``xlsheets lite [FOLDER]``: the two files to paste into xlwings Lite's two tabs.

xlwings Lite (Excel on Windows, macOS and the web) has a ``main.py`` tab and a
``requirements.txt`` tab and nothing else: no files, no terminal. This writes both, ready to
paste: ``requirements.txt`` names this very version of xlsheets (or, with ``--wheel-url``, a
wheel the practice hosts itself) and, with ``--ncci-wheel-url``, the practice's NCCI data wheel
(``xlsheets ncci wheel``: Lite has no data folder, so the NCCI edits come in as a package), and
``main.py`` brings in the worksheet functions and the "Validate sheet" script, with places to
paste settings and plugins (``xlsheets.configure``).

The repository's ``lite/`` folder holds the same files (``tools/make_lite.py`` writes them from
here; a test checks they match) for people who read before they install.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

MAIN_PY = '''\
"""xlsheets in xlwings Lite: paste this whole file into the main.py tab.

Written by `xlsheets lite` (xlsheets {version}). The requirements.txt tab installs xlsheets;
this file makes its worksheet functions (=CLAIM_STATUS_TABLE(A1:Z500), =ICD_TITLE(A2), ...) and
the "Validate sheet" script (in the add-in's script list) available. xlwings Lite has no files, so your settings and plugins
go here, pasted as text (see "Settings and plugins in xlwings Lite" in docs/excel.md).
After editing this file, restart Python from the add-in.
"""
import xlsheets

# Your xlsheets.toml, pasted between the quotes. Empty: the built-in defaults.
SETTINGS = r"""
"""

# Your plugins: one ("name", r\'\'\' ...the plugin file... \'\'\') entry per plugin, the name as
# SETTINGS lists it in plugins = [...]. A plugin with a mistake is named in every cell; the
# other functions keep working. Example:
#     ("medicare_esi", r\'\'\'
#     ...paste the whole of medicare_esi.py here...
#     \'\'\'),
PLUGINS = [
]

xlsheets.configure(settings=SETTINGS, plugins=PLUGINS)

from xlsheets.udfs import *  # noqa: E402,F401,F403 - the worksheet functions
from xlsheets.sheet_script import validate_sheet  # noqa: E402,F401 - the "Validate sheet" script
'''

REQUIREMENTS = '''\
# xlsheets for xlwings Lite, written by `xlsheets lite` (xlsheets {version}).
# Paste into the requirements.txt tab (replacing what is there), then restart xlwings Lite.
# xlsheets and its dependencies (pluggy, openpyxl, et-xmlfile, xlsxwriter) are pure-Python
# wheels, which xlwings Lite installs from the package index by itself.
xlwings
{line}
'''

NCCI_LINES = '''\
# The practice's NCCI edits (PTP, MUE, AOC), packed by `xlsheets ncci wheel`. Each quarter: import
# the new CMS files, build and host the wheel again, and put the new file's address here.
{url}
'''


def main_py() -> str:
    """The text of main.py for this version of xlsheets."""
    return MAIN_PY.format(version=__version__)


def requirements_txt(wheel_url: str | None = None, ncci_wheel_url: str | None = None) -> str:
    """requirements.txt: this version pinned, or the hosted wheel's URL instead; and the NCCI
    data wheel's URL when there is one."""
    line = wheel_url if wheel_url else f"xlsheets=={__version__}"
    text = REQUIREMENTS.format(version=__version__, line=line)
    return text + NCCI_LINES.format(url=ncci_wheel_url) if ncci_wheel_url else text


def write(folder: Path, wheel_url: str | None = None, ncci_wheel_url: str | None = None) -> list[Path]:
    """Write main.py and requirements.txt into ``folder`` (made if missing), each atomically."""
    from .io import atomic_output
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("main.py", main_py()), ("requirements.txt", requirements_txt(wheel_url, ncci_wheel_url))):
        path = folder / name
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def _wheel_url_problem(url: str, option: str = "--wheel-url", what: str = "the xlsheets wheel") -> str | None:
    if not url.startswith("https://"):
        return (f"{option} must be an https:// address: xlwings Lite runs in the browser, which "
                "loads packages only over HTTPS (the server must also allow CORS)")
    if not url.split("?", 1)[0].endswith(".whl"):
        return f"{option} must point at {what} file (ending in .whl)"
    if any(ch.isspace() for ch in url):
        return f"{option} must not contain spaces"
    return None


def _ncci_wheel_url_problem(url: str) -> str | None:
    from .ncci.wheel import is_data_wheel_name, wheel_name
    problem = _wheel_url_problem(url, "--ncci-wheel-url", "the NCCI data wheel")
    if problem:
        return problem
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    if not is_data_wheel_name(name):
        return (f"--ncci-wheel-url must end in the file name 'xlsheets ncci wheel' wrote "
                f"(like {wheel_name('2026.1')}), not {name!r}: micropip reads the package's name and "
                "version from it")
    return None


def main(argv: list[str]) -> int:
    from .cli import exit_codes_epilog
    parser = argparse.ArgumentParser(
        prog="xlsheets lite",
        description="Write main.py and requirements.txt for xlwings Lite (Excel on Windows, "
                    "macOS and the web): paste each into the tab of the same name.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes_epilog({0: "both files were written",
                                  2: "nothing usable was written: a bad --wheel-url or --ncci-wheel-url, "
                                     "a file where the "
                                     "folder should be, or a folder that cannot be written"}))
    parser.add_argument("folder", nargs="?", default="xlsheets-lite",
                        help="where to write the two files (default: ./xlsheets-lite)")
    parser.add_argument("--wheel-url", metavar="URL",
                        help="install xlsheets from this wheel (an HTTPS server with CORS) "
                             f"instead of xlsheets=={__version__} from the package index")
    parser.add_argument("--ncci-wheel-url", metavar="URL",
                        help="also install the practice's NCCI edits from this data wheel (written by "
                             "'xlsheets ncci wheel', hosted on an HTTPS server with CORS)")
    args = parser.parse_args(argv)
    for value, check in ((args.wheel_url, _wheel_url_problem), (args.ncci_wheel_url, _ncci_wheel_url_problem)):
        problem = check(value) if value else None
        if problem:
            print(f"xlsheets lite: {problem}", file=sys.stderr)
            return 2
    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        print(f"xlsheets lite: {folder} is a file, not a folder", file=sys.stderr)
        return 2
    try:
        written = write(folder, args.wheel_url, args.ncci_wheel_url)
    except OSError as exc:
        print(f"xlsheets lite: cannot write into {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print("In Excel: open the xlwings Lite add-in, paste main.py into its main.py tab and "
          "requirements.txt into its requirements.txt tab, then restart Python.")
    return 0
