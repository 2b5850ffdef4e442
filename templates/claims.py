"""The "Validate sheet" button of claims.xlsm runs this file.

The button's macro (SampleCall, in the workbook's Module1, beside xlwings' VBA module) runs
``import claims; claims.main()`` with the Python that xlwings is set to use. Keep this
file next to the workbook, under the workbook's name: rename both together
(march_claims.xlsm and march_claims.py). Written by  xlsheets template --classic.
"""
from xlsheets.sheet_script import main

__all__ = ["main"]
