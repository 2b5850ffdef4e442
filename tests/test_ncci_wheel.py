"""The NCCI data wheel (``xlsheets ncci wheel``): what xlwings Lite installs to get the NCCI edits.

A practice imports the CMS files, packs them, and installs (in Lite: micropip, here: pip into a
target folder) the wheel; xlsheets then finds the sets in the installed package when the data
folder has none. tests/test_pyodide.py takes the same wheel through micropip in Pyodide.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

FIX = Path(__file__).parent / "fixtures" / "ncci"
PTP_ZIP = FIX / "sample-not-cms-data_ptp-practitioner-2026q1.zip"
PTP_F1 = FIX / "sample-not-cms-data_ccipra-2026q1-f1.txt"
MUE = FIX / "sample-not-cms-data_mue-practitioner-2026q1.csv"
AOC = FIX / "sample-not-cms-data_aoc-2026q1.txt"
CLAIMS = """Claim ID,Patient,DOS,Payer,Dx1,CPT1,CPT2
A1,P1,2026-03-10,Aetna,M54.17,62323,77003
"""


def xlsheets(*argv, data_dir, site=None):
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(data_dir))
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "xlsheets.cli", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def install(wheel: Path, site: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                           "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return site


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(data folder, wheel): the fixtures imported, then packed."""
    tmp = tmp_path_factory.mktemp("wheel")
    rc, _, err = xlsheets("ncci", "import", PTP_ZIP, MUE, AOC, data_dir=tmp / "data")
    assert rc == 0, err
    rc, out, err = xlsheets("ncci", "wheel", "--out", tmp / "out", data_dir=tmp / "data")
    assert rc == 0, err
    wheel = tmp / "out" / "xlsheets_ncci_data-2026.1-py3-none-any.whl"
    assert f"wrote {wheel}" in out and "KB" in out  # its name and size
    assert f"https://YOUR-SERVER/FOLDER/{wheel.name}" in out  # the requirements.txt line to add
    assert "--ncci-wheel-url" in out
    return tmp / "data", wheel


@pytest.fixture(scope="module")
def site(built, tmp_path_factory):
    return install(built[1], tmp_path_factory.mktemp("site"))


def test_the_data_wheel_is_pure_python_with_a_record_that_matches(built):
    _, wheel = built
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = "xlsheets_ncci_data-2026.1.dist-info"
        wheel_file = z.read(f"{info}/WHEEL").decode()
        assert "Tag: py3-none-any" in wheel_file and "Root-Is-Purelib: true" in wheel_file
        metadata = z.read(f"{info}/METADATA").decode()
        assert "Name: xlsheets-ncci-data\n" in metadata and "Version: 2026.1\n" in metadata
        rows = [line.split(",") for line in z.read(f"{info}/RECORD").decode().splitlines()]
        assert {r[0] for r in rows} == set(names)  # every file listed, nothing listed that is missing
        for path, digest, size in rows:
            if path.endswith("/RECORD"):
                assert digest == size == ""
                continue
            data = z.read(path)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
        assert z.testzip() is None
    assert sorted(n for n in names if n.endswith(".bin")) == [
        "xlsheets_ncci_data/practitioner/aoc-2026Q1.bin", "xlsheets_ncci_data/practitioner/mue-2026Q1.bin",
        "xlsheets_ncci_data/practitioner/ptp-2026Q1.bin"]
    assert [n for n in names if n.endswith(".py")] == ["xlsheets_ncci_data/__init__.py"]  # data only
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dll", ".pyc"))]


def test_installed_wheel_is_found_when_the_data_folder_is_empty(site, tmp_path):
    empty = tmp_path / "empty"
    rc, out, _ = xlsheets("ncci", "status", "--format", "json", data_dir=empty, site=site)
    sets = json.loads(out)
    assert [(s["kind"], s["quarter"]) for s in sets] == [("ncci-ptp", "2026Q1"), ("ncci-mue", "2026Q1"),
                                                        ("ncci-aoc", "2026Q1")]
    assert {s["origin"] for s in sets} == {"data wheel xlsheets-ncci-data 2026.1"}
    assert all(Path(s["source"]).is_relative_to(site) for s in sets)
    rc, out, _ = xlsheets("ncci", "status", data_dir=empty, site=site)
    assert "NCCI PTP practitioner 2026Q1: 13 rows" in out and "from the data wheel xlsheets-ncci-data 2026.1" in out
    rc, out, _ = xlsheets("ncci", "--pair", "77003", "62323", "--dos", "2026-03-10", data_dir=empty, site=site)
    assert rc == 0 and "column 2 code 77003 is denied with column 1 code 62323" in out
    assert not empty.exists()  # nothing was written into the data folder


def test_validate_checks_the_edits_of_the_installed_wheel_and_says_where_they_came_from(site, tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS)
    rc, out, _ = xlsheets("validate", claims, "--format", "json", data_dir=tmp_path / "empty", site=site)
    result = json.loads(out)
    assert "N501" in {f["rule"] for f in result["claims"][0]["findings"]}
    ncci = [c for c in result["codesets"] if c.get("kind", "").startswith("ncci")]
    assert len(ncci) == 3 and {c["origin"] for c in ncci} == {"data wheel xlsheets-ncci-data 2026.1"}
    assert result["summary"]["rules_without_data"] == []
    report = tmp_path / "report.xlsx"
    rc, _, err = xlsheets("validate", claims, "-o", report, data_dir=tmp_path / "empty", site=site)
    import openpyxl
    summary = openpyxl.load_workbook(report, read_only=True)["Summary"]
    cells = [c for row in summary.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert any("NCCI PTP practitioner 2026Q1" in c and "data wheel xlsheets-ncci-data 2026.1" in c for c in cells)


def test_a_set_in_the_data_folder_wins_over_the_wheel_and_other_quarters_add_up(site, tmp_path):
    data = tmp_path / "data"
    rc, _, err = xlsheets("ncci", "import", PTP_F1, "--quarter", "2026Q1", data_dir=data)  # 8 rows
    assert rc == 0, err
    rc, _, err = xlsheets("ncci", "import", MUE, "--quarter", "2026Q2", data_dir=data)
    assert rc == 0, err
    rc, out, _ = xlsheets("ncci", "status", "--format", "json", data_dir=data, site=site)
    got = [(s["kind"], s["quarter"], s["rows"], s["origin"]) for s in json.loads(out)]
    wheel = "data wheel xlsheets-ncci-data 2026.1"
    assert got == [("ncci-ptp", "2026Q1", 8, "data folder"), ("ncci-mue", "2026Q1", 11, wheel),
                   ("ncci-mue", "2026Q2", 11, "data folder"), ("ncci-aoc", "2026Q1", 14, wheel)]


def test_nothing_imported_is_a_clear_error_and_writes_nothing(tmp_path):
    rc, out, err = xlsheets("ncci", "wheel", "--out", tmp_path / "out", data_dir=tmp_path / "none")
    assert rc == 1 and "Traceback" not in err
    assert "no NCCI edits are imported" in err and "xlsheets ncci import FILE" in err
    assert not (tmp_path / "out").exists()
    rc, out, err = xlsheets("ncci", "wheel", "--out", tmp_path / "out", "--setting", "outpatient_hospital",
                            data_dir=built_data(tmp_path))
    assert rc == 1 and "no outpatient hospital NCCI edits are imported" in err


def built_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    rc, _, err = xlsheets("ncci", "import", MUE, data_dir=data)
    assert rc == 0, err
    return data


def test_newest_quarter_by_default_every_quarter_on_request(tmp_path):
    data = built_data(tmp_path)  # MUE 2026Q1
    rc, _, err = xlsheets("ncci", "import", MUE, "--quarter", "2026Q2", data_dir=data)
    assert rc == 0, err
    rc, out, err = xlsheets("ncci", "wheel", "--out", tmp_path / "a", "--format", "json", data_dir=data)
    [done] = json.loads(out)
    assert done["version"] == "2026.2" and [s["quarter"] for s in done["sets"]] == ["2026Q2"]
    rc, out, err = xlsheets("ncci", "wheel", "--out", tmp_path / "b", "--all-quarters", "--format", "json",
                            data_dir=data)
    [done] = json.loads(out)
    assert [s["quarter"] for s in done["sets"]] == ["2026Q1", "2026Q2"]
    with zipfile.ZipFile(done["wheel"]) as z:
        assert {"xlsheets_ncci_data/practitioner/mue-2026Q1.bin",
                "xlsheets_ncci_data/practitioner/mue-2026Q2.bin"} <= set(z.namelist())


def test_a_damaged_set_is_not_packed(tmp_path):
    data = built_data(tmp_path)
    (bin_file,) = (data / "ncci" / "practitioner").glob("mue-*.bin")
    bin_file.write_bytes(bin_file.read_bytes()[:-10])  # cut short, as a full disk would leave it
    rc, out, err = xlsheets("ncci", "wheel", "--out", tmp_path / "out", data_dir=data)
    assert rc == 1 and str(bin_file) in err and "damaged" in err and "import the CMS files" in err
    assert not (tmp_path / "out" / "xlsheets_ncci_data-2026.1-py3-none-any.whl").exists()
