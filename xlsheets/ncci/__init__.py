"""NCCI edits (CMS National Correct Coding Initiative) from the files a practice downloads.

CMS publishes three kinds of edit files every quarter, for practitioners and for outpatient
hospitals: procedure-to-procedure pairs (PTP), medically unlikely edits (MUE, units per line or
per day) and add-on code edits (AOC). None ship with xlsheets: a user imports them
(``xlsheets ncci import FILE...``), they are stored compactly in the user data folder, and rules
N501-N503 check claims against the set in force on the date of service.

* :mod:`xlsheets.ncci.files` reads the CMS files (zip, tab-delimited text, CSV, xlsx) safely;
* :mod:`xlsheets.ncci.store` keeps them as sorted fixed-width binary records, loaded in one read
  and searched with bisect (a few million PTP rows in about 60 MB, loaded in well under a second);
* :mod:`xlsheets.ncci.cli` is the ``xlsheets ncci`` command.
"""
from __future__ import annotations

from .store import (KINDS, SETTINGS, EditSet, NcciData, get_ncci, import_files, loaded_sets,
                    reset_ncci)

__all__ = ["KINDS", "SETTINGS", "EditSet", "NcciData", "get_ncci", "import_files", "loaded_sets",
           "reset_ncci"]
