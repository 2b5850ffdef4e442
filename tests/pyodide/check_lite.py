# Runs inside Pyodide (tests/pyodide/run.mjs): the xlwings Lite way of calling our functions.
import json, os, sys
os.environ["XLWINGS_ON_SERVER"] = "true"          # Office.js decorators, as in xlwings Lite
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
from xlwings.server import custom_functions_call, custom_functions_meta
import xlsheets.udfs as module

base = {"client": "Office.js", "caller_address": "[Claims.xlsx]Claims!AE1", "session_id": "s1",
        "culture_info_name": "en-US", "date_format": "M/d/yyyy", "version": "0.37.8", "runtime": "1.4"}
head = ["claim_id", "patient_id", "dos", "payer", "dx1", "dx2", "cpt1", "disc_disorder_confirmed", "laterality"]
table = [head,
         ["C1", "P1", 46091, "Aetna", "M54.17", None, 64483, "Y", "R"],
         [None] * 9,
         ["C2", "P2", 46091, "Aetna", "M51.17", None, 99214, "Y", None],
         ["C3", "P3", 46091, "Aetna", "M54.1", None, 99214, None, None]]
out = {
    "python": sys.version.split()[0],
    "platform": sys.platform,
    "table": await custom_functions_call({**base, "func_name": "claim_status_table", "args": [table]}, module),
    "title": await custom_functions_call({**base, "func_name": "icd_title", "args": [[["M5417"]], [[None]]]}, module),
    "functions": sorted(f["name"] for f in custom_functions_meta(module)["functions"]),
}
print("RESULT " + json.dumps(out))
