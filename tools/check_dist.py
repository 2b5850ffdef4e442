"""Check built distributions before they are published: python tools/check_dist.py DIST [VERSION]

The release workflow runs it on the sdist and wheel it built from a version tag. It fails (exit
1, saying what is wrong) unless:

* there is exactly one wheel and one sdist, both of the version in xlsheets/__init__.py (and of
  VERSION, the tag without its "v", when given);
* the wheel is ``py3-none-any``: xlwings Lite (Pyodide) installs nothing else;
* the wheel holds every file of the package in this checkout, the code-set data included, and
  each compiled dependency it names (python-calamine) is marked to be left out in Pyodide
  (``sys_platform != "emscripten"``), so xlwings Lite installs nothing compiled;
* the sdist holds the package, the tests and the tools that rebuild the data.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILED = {"python-calamine", "lmdb"}  # dependencies with no py3-none-any wheel


def package_version(sdists: list[Path]) -> str:
    """The version in xlsheets/__init__.py: the checkout's, or, where the checkout has none (the
    release workflow's test job removes it to test the installed wheel), the sdist's."""
    source = ROOT / "xlsheets" / "__init__.py"
    if source.is_file():
        text = source.read_text(encoding="utf-8")
    elif len(sdists) == 1:
        with tarfile.open(sdists[0]) as tf:
            member = next(n for n in tf.getnames() if n.endswith("/xlsheets/__init__.py") and n.count("/") == 2)
            text = tf.extractfile(member).read().decode("utf-8")
    else:
        return "(unknown: no xlsheets/__init__.py and not one sdist)"
    return re.search(r'^__version__ = "([^"]+)"', text, re.M)[1]


def package_files() -> list[str]:
    """The package's files as git tracks them (the wheel must hold each), or as found."""
    try:
        out = subprocess.run(["git", "ls-files", "xlsheets"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = [str(p.relative_to(ROOT)) for p in (ROOT / "xlsheets").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    return sorted(out)


def problems(dist: Path, version: str | None) -> list[str]:
    found = []
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    expected = package_version(sdists)
    if version and version != expected:
        found.append(f"the tag says {version} but xlsheets/__init__.py says {expected}")
    if len(wheels) != 1 or len(sdists) != 1:
        return found + [f"expected one wheel and one sdist in {dist}, found {[p.name for p in wheels + sdists]}"]
    wheel, sdist = wheels[0], sdists[0]
    if wheel.name != f"xlsheets-{expected}-py3-none-any.whl":
        found.append(f"{wheel.name}: the wheel must be xlsheets-{expected}-py3-none-any.whl (pure Python)")
    if sdist.name != f"xlsheets-{expected}.tar.gz":
        found.append(f"{sdist.name}: the sdist must be xlsheets-{expected}.tar.gz")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        missing = [f for f in package_files() if f not in names]
        if missing:
            found.append(f"the wheel lacks {', '.join(missing)}")
        meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        text = zf.read(meta).decode() if meta else ""
        if f"Version: {expected}" not in text:
            found.append("the wheel's METADATA does not carry the version")
        for line in text.splitlines():
            name = line.partition(":")[2].strip().split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip()
            if (line.startswith("Requires-Dist:") and name.lower() in COMPILED and "extra ==" not in line
                    and 'sys_platform != "emscripten"' not in line.replace("'", '"')):
                found.append(f"the wheel needs {name}, which is compiled, in Pyodide too: mark it "
                             "sys_platform != 'emscripten' in pyproject.toml")
        wheel_info = next((n for n in names if n.endswith(".dist-info/WHEEL")), None)
        if wheel_info and "Root-Is-Purelib: true" not in zf.read(wheel_info).decode():
            found.append("the wheel is not purelib")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
        for needed in ("pyproject.toml", "xlsheets/__init__.py", "xlsheets/codes/data/icd10cm_fy2026.json.gz",
                       "tests/test_lite.py", "tools/build_codesets.py", "lite/main.py", "CHANGELOG.md"):
            if needed not in names:
                found.append(f"the sdist lacks {needed}")
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    dist = Path(argv[0])
    version = argv[1].lstrip("v") if len(argv) > 1 else None
    found = problems(dist, version)
    for text in found:
        print(f"check_dist: {text}", file=sys.stderr)
    if not found:
        print(f"check_dist: {', '.join(sorted(p.name for p in dist.iterdir()))} are fit to publish")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
