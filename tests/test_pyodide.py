"""xlwings Lite can load and run xlsheets: the built wheel inside Pyodide, under Node.js.

Pyodide (npm's ``pyodide``, the version xlwings Lite runs) and the pure-Python wheels beside ours
are put in place by ``.ci/setup-extra``. Nothing comes from a CDN and micropip is not used: the
wheels are unpacked with zipfile. The test skips only when Node.js itself is absent.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "pyodide"
PYODIDE = HERE / "node_modules" / "pyodide"
WHEELS = HERE / "node_modules" / ".wheels"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


def _build_wheel(out: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:  # no 'wheel' package: build in an isolated environment instead
        done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    wheels = list(out.glob("xlsheets-*-py3-none-any.whl"))
    assert len(wheels) == 1, "the xlsheets wheel must be pure Python (py3-none-any)"
    return wheels[0]


def test_claim_status_table_runs_in_pyodide_through_xlwings(tmp_path):
    assert (PYODIDE / "pyodide.mjs").is_file(), "Pyodide is missing: run .ci/setup-extra"
    deps = sorted(WHEELS.glob("*.whl"))
    names = {p.name.split("-")[0].lower() for p in deps}
    assert {"xlwings", "pluggy", "openpyxl", "et_xmlfile"} <= names, "wheels missing: run .ci/setup-extra"
    assert all(p.name.endswith("-none-any.whl") for p in deps)
    wheel = _build_wheel(tmp_path)
    done = subprocess.run(["node", str(HERE / "run.mjs"), str(PYODIDE), str(HERE / "check_lite.py"),
                           str(wheel), *map(str, deps)], capture_output=True, text=True, timeout=300)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line is not None, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    assert result["platform"] == "emscripten"
    assert result["table"] == [
        ["ERROR S301: disc disorder confirmed - use M51.17"],
        [""],
        ["OK"],
        [result["table"][3][0]],
    ] and result["table"][3][0].startswith("ERROR C102: M54.1 ")
    assert result["title"] == [["Radiculopathy, lumbosacral region"]]  # bundled ICD data loads
    assert "CLAIM_STATUS_TABLE" in result["functions"] and len(result["functions"]) == 9
