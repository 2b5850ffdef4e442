// Runs xlsheets inside Pyodide under Node.js: the runtime xlwings Lite uses, minus Excel.
// usage: node run.mjs PYODIDE_DIR SCRIPT.py BUNDLE_DIR MICROPIP_WHEEL XLSHEETS_WHEEL CALLS.json [HOSTED.whl...]
// HOSTED wheels stand for files a practice hosts (the NCCI data wheel): a requirements.txt line
// whose address ends in one of their names installs that file instead (as XLSHEETS_WHEEL does
// for the xlsheets line).
// Only micropip itself is unpacked by hand (Lite loads it from Pyodide's CDN, out of reach
// here); SCRIPT.py installs the bundle's requirements.txt with micropip, dependencies from PyPI.
// CALLS.json becomes a JavaScript object first, as the add-in's payloads are, so that Python
// sees what Lite's Python sees (JS null is JsNull from Pyodide 0.28 on).
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, script, bundle, micropipWheel, wheel, callsFile, ...hosted] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
// Pyodide's lock file names packages Pyodide serves from its CDN (newer Pyodides list pluggy
// there). The CDN is out of reach here, so the lock given to Pyodide leaves out every package
// whose file is not in the npm package: micropip then resolves those from PyPI, like any other.
const lock = JSON.parse(readFileSync(path.join(pyodideDir, "pyodide-lock.json"), "utf8"));
const unreachable = Object.keys(lock.packages).filter(
  (name) => !existsSync(path.join(pyodideDir, lock.packages[name].file_name)));
for (const name of unreachable) delete lock.packages[name];
const lockFile = path.join(mkdtempSync(path.join(os.tmpdir(), "xlsheets-pyodide-")), "pyodide-lock.json");
writeFileSync(lockFile, JSON.stringify(lock));
const started = performance.now();
const pyodide = await loadPyodide({ indexURL: pyodideDir + path.sep, lockFileURL: lockFile,
                                    stdout: (s) => console.log(s), stderr: (s) => console.error(s) });
const loadSeconds = (performance.now() - started) / 1000;
for (const dir of ["/bootstrap", "/wheels", "/home/pyodide/lite"]) pyodide.FS.mkdirTree(dir);
pyodide.FS.writeFile("/bootstrap/" + path.basename(micropipWheel), readFileSync(micropipWheel));
pyodide.FS.writeFile("/wheels/" + path.basename(wheel), readFileSync(wheel));
const hostedWheels = {};
for (const file of hosted) {
  pyodide.FS.mkdirTree("/hosted");
  pyodide.FS.writeFile("/hosted/" + path.basename(file), readFileSync(file));
  hostedWheels[path.basename(file)] = "emfs:/hosted/" + path.basename(file);
}
for (const name of readdirSync(bundle)) {
  pyodide.FS.writeFile("/home/pyodide/lite/" + name, readFileSync(path.join(bundle, name)));
}
await pyodide.runPythonAsync(`
import glob, site, zipfile
for w in glob.glob("/bootstrap/*.whl"):
    zipfile.ZipFile(w).extractall(site.getsitepackages()[0])
`);
pyodide.globals.set("CALLS", JSON.parse(readFileSync(callsFile, "utf8")));
pyodide.globals.set("PYODIDE_LOAD_SECONDS", loadSeconds);
pyodide.globals.set("XLSHEETS_WHEEL", "emfs:/wheels/" + path.basename(wheel));
pyodide.globals.set("HOSTED_WHEELS", pyodide.toPy(hostedWheels));
await pyodide.runPythonAsync(readFileSync(script, "utf8"));
