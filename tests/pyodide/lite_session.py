# Runs inside Pyodide (tests/pyodide/run.mjs): what xlwings Lite does with the two tabs of the
# bundle `xlsheets lite` wrote, then the add-in's calls. Prints one line: RESULT {json}.
import importlib, json, os, sys, time

import micropip

os.environ["XLWINGS_ON_SERVER"] = "true"          # the Office.js decorators, as in xlwings Lite
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
timings = {"pyodide_load": PYODIDE_LOAD_SECONDS}

# 1. requirements.txt, installed by micropip with dependencies from the package index. The
#    xlsheets line names the wheel under test instead (as --wheel-url does); a line whose address
#    ends in a hosted wheel's name (the NCCI data wheel) gets that file, as its server would send
#    it; xlwings is pinned to the version whose call interface the tests use.
hosted = HOSTED_WHEELS.to_py() if hasattr(HOSTED_WHEELS, "to_py") else dict(HOSTED_WHEELS)
lines = [l.strip() for l in open("/home/pyodide/lite/requirements.txt") if l.strip() and not l.startswith("#")]
wanted = [XLSHEETS_WHEEL if l.startswith("xlsheets") else "xlwings==0.37.8" if l == "xlwings"
          else hosted.get(l.rsplit("/", 1)[-1], l) for l in lines]
split = CALLS.to_py().get("split_install")  # the benchmark times the hosted wheels on their own
t = time.perf_counter()
await micropip.install([w for w in wanted if not (split and w in hosted.values())])
timings["micropip_install"] = time.perf_counter() - t
if split:
    t = time.perf_counter()
    await micropip.install([w for w in wanted if w in hosted.values()])
    timings["micropip_install_hosted"] = time.perf_counter() - t
installed = {name: pkg.version for name, pkg in micropip.list().items()}

# 2. main.py, imported as the add-in imports its main.py tab.
sys.path.insert(0, "/home/pyodide/lite")
t = time.perf_counter()
main = importlib.import_module("main")
timings["import_main"] = time.perf_counter() - t

from xlwings.server import custom_functions_call, custom_functions_meta, custom_scripts_call, custom_scripts_meta
import xlwings as xw


async def run(call):
    if call["kind"] == "function":
        return await custom_functions_call(call["payload"], main)
    book = xw.Book(json=call["book"])
    await custom_scripts_call(main, call["name"], typehint_to_value={xw.Book: book})
    return book.json()


given = CALLS.to_py()
calls = given["calls"]
results = []
for n, call in enumerate(calls):
    t = time.perf_counter()
    try:
        results.append({"ok": await run(call)})
    except Exception as exc:
        results.append({"error": f"{type(exc).__name__}: {exc}"})
    timings.setdefault("calls", []).append(time.perf_counter() - t)
    if n == 0:
        timings["first_call"] = time.perf_counter() - t

# 3. A 10,000-row CLAIM_STATUS_TABLE, cold (first time these rows are seen) and warm (recalculated).
big = given.get("big")
if big is not None and type(big).__name__ != "JsNull":  # JS null
    t = time.perf_counter()
    cold = await custom_functions_call(big, main)
    timings["table_10000_cold"] = time.perf_counter() - t
    t = time.perf_counter()
    warm = await custom_functions_call(CALLS.to_py()["big"], main)
    timings["table_10000_warm"] = time.perf_counter() - t
    timings["table_10000_same"] = cold == warm

# 4. "Validate sheet" on a 10,000-row workbook.
big_book = given.get("big_book")
if big_book is not None and type(big_book).__name__ != "JsNull":
    t = time.perf_counter()
    book = xw.Book(json=big_book)
    await custom_scripts_call(main, "validate_sheet", typehint_to_value={xw.Book: book})
    timings["validate_sheet_10000"] = time.perf_counter() - t
    timings["validate_sheet_10000_actions"] = len(book.json()["actions"])

try:  # memory at the end: the WebAssembly heap (Python's objects) and the whole Node process
    import js, pyodide_js
    timings["wasm_heap_mb"] = pyodide_js._module.HEAP8.length / 2**20
    timings["node_rss_mb"] = js.process.memoryUsage().rss / 2**20
except Exception:
    pass

from xlsheets.ncci import loaded_sets  # what the functions answered from, and where it came from
ncci = [s.describe() for s in loaded_sets()]

print("RESULT " + json.dumps({
    "ncci": ncci,
    "python": sys.version.split()[0], "platform": sys.platform,
    "pyodide": importlib.import_module("pyodide").__version__,
    "installed": installed, "timings": timings, "results": results,
    "functions": sorted(f["name"] for f in custom_functions_meta(main)["functions"]),
    "scripts": custom_scripts_meta(main),
}, default=str))
