"""The NCCI data wheel: the imported edit sets packed as a package that xlwings Lite can install.

xlwings Lite (Pyodide in Excel on the Mac, the web and Windows) has no data folder that outlives
the session and no command line to import the CMS files into; all it installs is what the lines
of its requirements.txt tab name. So the practice imports the CMS files once on a computer with
Python (``xlsheets ncci import``), and ``xlsheets ncci wheel`` packs the sets it imported into a
pure-Python wheel, ``xlsheets_ncci_data-<year>.<quarter>-py3-none-any.whl``: a package
``xlsheets_ncci_data`` holding the same ``<setting>/<kind>-<quarter>.bin`` files as the data folder,
plus ``build.json`` (what is in it). The practice hosts the file (HTTPS with CORS, as for
``xlsheets lite --wheel-url``) and adds its address to requirements.txt; micropip installs it like
any wheel.

:func:`installed_folder` is how the store finds it: ``importlib.util.find_spec`` locates the
package without importing it (it has no code to run, only data), so looking costs one path search
and needs no network. The store lists the data folder's sets first and adds the package's for
any kind, setting and quarter the data folder does not have.

No CMS data is in the repository: the wheel is built from what the practice downloaded. Only
``installed_folder`` runs in Excel, so the module imports nothing at the top that it does not need.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from .. import __version__
from .store import MAGIC
from .files import NcciFileError

__all__ = ["PACKAGE", "DISTRIBUTION", "Installed", "installed_folder", "build_wheel", "wheel_name",
           "version_for"]

PACKAGE = "xlsheets_ncci_data"
DISTRIBUTION = "xlsheets-ncci-data"
TAG = "py3-none-any"


class Installed(NamedTuple):
    folder: Path   # the package's folder: <setting>/<kind>-<quarter>.bin inside
    origin: str    # what status and the outputs say: "data wheel xlsheets-ncci-data 2026.1"


def installed_folder() -> Installed | None:
    """The installed data package, or None. Found on sys.path, never imported."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        return None
    folder = Path(locations[0])
    try:
        version = json.loads((folder / "build.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        version = None
    origin = f"data wheel {DISTRIBUTION} {version}" if version else f"data wheel {PACKAGE}"
    return Installed(folder, origin)


def version_for(quarters) -> str:
    """The newest quarter as a PEP 440 version: 2026Q2 -> "2026.2"."""
    newest = max(quarters, key=lambda q: (int(q[:4]), int(q[-1])))
    return f"{int(newest[:4])}.{int(newest[-1])}"


def wheel_name(version: str) -> str:
    return f"{PACKAGE}-{version}-{TAG}.whl"


def _checked_size(edit_set) -> None:
    """A set whose file is shorter or longer than its header says is not packed: refuse it."""
    meta = edit_set.meta
    from array import array
    data = sum(count * array(typecode).itemsize for _name, typecode, count in meta["arrays"])
    with open(edit_set.path, "rb") as f:
        f.seek(len(MAGIC))
        head = int.from_bytes(f.read(4), "little")
    expected = len(MAGIC) + 4 + head + data
    actual = edit_set.path.stat().st_size
    if actual != expected:
        raise NcciFileError(f"{edit_set.path} is damaged ({actual:,} bytes where its header says "
                            f"{expected:,}); import the CMS files for {edit_set.quarter} again, then "
                            "build the wheel.")


def _record_hash(data: bytes) -> str:
    import base64
    import hashlib
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _chosen(sets, setting: str | None, all_quarters: bool) -> list:
    if setting:
        sets = [s for s in sets if s.setting == setting]
    if all_quarters:
        return sets
    newest: dict[tuple[str, str], object] = {}
    for s in sets:  # sorted by start within a setting and kind: the last one is the newest
        newest[(s.setting, s.kind)] = s
    return [s for s in sets if newest[(s.setting, s.kind)] is s]


INIT_PY = '''\
"""NCCI edits for xlsheets, built by `xlsheets ncci wheel` (xlsheets {xlsheets}) on {built}.

Data only: xlsheets reads the .bin files next to this file (see build.json); nothing here runs.
Built from the CMS NCCI files the practice downloaded; they carry CMS's and the AMA's notices.
Keep the wheel for your practice's own use (host it on your own server, not a public index).
"""
'''

METADATA = """\
Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: NCCI edits (CMS PTP, MUE, AOC) for xlsheets, built by `xlsheets ncci wheel` from imported CMS files
Requires-Python: >=3.11

Sets: {sets}
"""

WHEEL = """\
Wheel-Version: 1.0
Generator: xlsheets {xlsheets}
Root-Is-Purelib: true
Tag: {tag}
"""


def build_wheel(out_folder: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                setting: str | None = None, all_quarters: bool = False,
                today: _dt.date | None = None) -> dict:
    """Pack the sets imported in the data folder into a data wheel in ``out_folder``.

    The newest quarter of each kind and setting (the PTP and AOC files list every edit with its
    own dates, so they cover older dates of service too), or every imported quarter with
    ``all_quarters``. Written to a temporary name and renamed into place, so a wheel of the same
    name is replaced only by a complete one. Raises :class:`NcciFileError` when nothing is
    imported (or nothing of ``setting``), or a set's file is damaged.
    """
    import zipfile
    from .store import SETTING_LABEL, folder_sets, ncci_folder
    from ..io import atomic_output
    sets = _chosen(folder_sets(data_dir), setting, all_quarters)
    if not sets:
        where = ncci_folder(data_dir)
        what = f"{SETTING_LABEL[setting]} " if setting else ""
        raise NcciFileError(f"no {what}NCCI edits are imported in {where}, so there is nothing to put "
                            "in the wheel. Import the CMS files first: xlsheets ncci import FILE...")
    for s in sets:
        _checked_size(s)
    version = version_for([s.quarter for s in sets])
    built = (today or _dt.date.today()).isoformat()
    described = [{k: v for k, v in s.describe().items() if k not in ("source", "origin")} for s in sets]
    members: list[tuple[str, bytes | Path]] = [
        (f"{PACKAGE}/__init__.py", INIT_PY.format(xlsheets=__version__, built=built).encode("utf-8")),
        (f"{PACKAGE}/build.json", json.dumps(
            {"name": DISTRIBUTION, "version": version, "built": built, "built_with": f"xlsheets {__version__}",
             "sets": described}, indent=1, ensure_ascii=False).encode("utf-8")),
    ]
    members += [(f"{PACKAGE}/{s.setting}/{s.path.name}", s.path) for s in sets]
    info = f"{PACKAGE}-{version}.dist-info"
    names = ", ".join(d["name"] for d in described)
    members += [(f"{info}/METADATA", METADATA.format(name=DISTRIBUTION, version=version, sets=names).encode()),
                (f"{info}/WHEEL", WHEEL.format(xlsheets=__version__, tag=TAG).encode())]
    out = Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    target = out / wheel_name(version)
    # One fixed time stamp: the same sets give the same bytes (nothing changes for a cache).
    stamp = (1980, 1, 1, 0, 0, 0)
    with atomic_output(target) as tmp:
        record = []
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for arcname, content in members:
                data = content.read_bytes() if isinstance(content, Path) else content
                entry = zipfile.ZipInfo(arcname, date_time=stamp)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(entry, data, compresslevel=6)
                record.append(f"{arcname},{_record_hash(data)},{len(data)}")
            record.append(f"{info}/RECORD,,")
            entry = zipfile.ZipInfo(f"{info}/RECORD", date_time=stamp)
            entry.external_attr = 0o644 << 16
            z.writestr(entry, "\n".join(record) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    return {"wheel": str(target), "name": target.name, "bytes": target.stat().st_size, "version": version,
            "distribution": DISTRIBUTION, "sets": described,
            "unpacked_bytes": sum(s.path.stat().st_size for s in sets)}


_WHEEL_FILE = re.compile(rf"^{PACKAGE}-\d+\.\d+(\.[0-9a-z.]+)?-{TAG}\.whl$")


def is_data_wheel_name(name: str) -> bool:
    """True for a file name ``xlsheets ncci wheel`` writes (``--ncci-wheel-url`` checks it)."""
    return bool(_WHEEL_FILE.match(name))


def size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} KB"
