"""xlsheets in xlwings Lite: paste this whole file into the main.py tab.

Written by `xlsheets lite` (xlsheets 0.1.0). The requirements.txt tab installs xlsheets;
this file makes its worksheet functions (=CLAIM_STATUS_TABLE(A1:Z500), =ICD_TITLE(A2), ...) and
the "Validate sheet" script (in the add-in's script list) available. xlwings Lite has no files, so your settings and plugins
go here, pasted as text (see "Settings and plugins in xlwings Lite" in docs/excel.md).
After editing this file, restart Python from the add-in.
"""
import xlsheets

# Your xlsheets.toml, pasted between the quotes. Empty: the built-in defaults.
SETTINGS = r"""
"""

# Your plugins: one ("name", r''' ...the plugin file... ''') entry per plugin, the name as
# SETTINGS lists it in plugins = [...]. A plugin with a mistake is named in every cell; the
# other functions keep working. Example:
#     ("medicare_esi", r'''
#     ...paste the whole of medicare_esi.py here...
#     '''),
PLUGINS = [
]

xlsheets.configure(settings=SETTINGS, plugins=PLUGINS)

from xlsheets.udfs import *  # noqa: E402,F401,F403 - the worksheet functions
from xlsheets.sheet_script import validate_sheet  # noqa: E402,F401 - the "Validate sheet" script
