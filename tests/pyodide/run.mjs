// Runs xlsheets inside Pyodide under Node.js: the runtime xlwings Lite uses, minus Excel.
// usage: node run.mjs PYODIDE_DIR SCRIPT.py WHEEL...
// Wheels are unpacked with zipfile into site-packages (no CDN, no micropip); the script's
// stdout is passed through.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, script, ...wheels] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: pyodideDir + path.sep, stdout: (s) => console.log(s),
                                    stderr: (s) => console.error(s) });
pyodide.FS.mkdirTree("/wheels");
for (const wheel of wheels) {
  pyodide.FS.writeFile("/wheels/" + path.basename(wheel), readFileSync(wheel));
}
await pyodide.runPythonAsync(`
import glob, site, zipfile
target = site.getsitepackages()[0]
for wheel in sorted(glob.glob("/wheels/*.whl")):
    zipfile.ZipFile(wheel).extractall(target)
`);
await pyodide.runPythonAsync(readFileSync(script, "utf8"));
