"""CPT/HCPCS code history: the built-in dated facts, and code lists a user imports.

The fixtures are samples in the real layouts (tests/fixtures/hcpcs/README.md), not CMS or AMA
data; their descriptions are placeholders, and nothing of them may be stored or printed.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from xlsheets.codes import proclists
from xlsheets.codes.proclists import HISTORY, INTRODUCED, get_procedure_codes, import_list, read_code_list

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "fixtures" / "hcpcs"
HCPCS = FIX / "sample_hcpcs_annual_fixed_width.txt"
CPT = FIX / "sample_licensed_cpt_list.csv"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path))
    proclists.reset_procedure_codes()
    yield tmp_path
    proclists.reset_procedure_codes()


def test_history_facts_carry_replacements_and_source_years():
    assert HISTORY["62311"].deleted == date(2017, 1, 1) and HISTORY["62311"].replacement == "62322 / 62323"
    assert HISTORY["97003"].replacement == "97165 / 97166 / 97167"
    assert HISTORY["64626"].deleted == date(2012, 1, 1) and HISTORY["95904"].deleted == date(2013, 1, 1)
    assert HISTORY["97532"].replacement == "97129 / 97130" and HISTORY["97762"].deleted == date(2018, 1, 1)
    assert "2010" in HISTORY["99241"].replacement  # Medicare stopped paying consultations
    assert all(f.source.startswith("AMA CPT 20") for f in HISTORY.values())
    assert INTRODUCED["62323"][0] == date(2017, 1, 1) and INTRODUCED["97130"][0] == date(2020, 1, 1)


def test_builtin_verdicts(data_dir):
    pc = get_procedure_codes()
    v = pc.verdict("22851", date(2018, 3, 1))
    assert v.kind == "deleted" and v.replacement == "22853 / 22854 / 22859" and "2017" in v.source
    assert pc.verdict("22851", date(2016, 12, 31)) is None
    assert pc.verdict("62323", date(2016, 6, 1)).kind == "not_yet"
    assert pc.verdict("99214", date(2026, 1, 1)) is None  # no list loaded: nothing known against it


def test_reads_the_cms_fixed_width_layout_codes_and_dates_only():
    rows = dict((c, (a, t)) for c, a, t in read_code_list(HCPCS))
    assert rows["G0260"] == (date(2002, 1, 1), date(2021, 1, 1))  # TERM DT 2020-12-31 is the last valid day
    assert rows["G0283"] == (date(1997, 1, 1), None)
    assert "25" not in rows and len(rows) == 5  # modifier and continuation lines skipped


def test_import_hcpcs_then_c105_c106_know_every_level_ii_code(data_dir):
    s = import_list(HCPCS, kind="hcpcs")
    stored = Path(s["path"])
    assert stored.parent == data_dir / "cpt" and s["codes"] == 5
    raw = gzip.decompress(stored.read_bytes()).decode()
    assert "SAMPLE" not in raw and "DESCRIPTION" not in raw  # never a descriptor
    pc = get_procedure_codes()
    assert pc.verdict("G0260", date(2021, 3, 1)).kind == "deleted"
    assert pc.verdict("G9999", date(2025, 6, 1)).kind == "not_yet"
    unknown = pc.verdict("G9876", date(2026, 3, 1))
    assert unknown.kind == "unknown" and "sample_hcpcs_annual_fixed_width.txt" in unknown.source
    assert pc.verdict("99214", date(2026, 3, 1)) is None  # an HCPCS file says nothing about CPT
    assert pc.verdict("G0283", date(2026, 3, 1)) is None
    sources = [c["source"] for c in pc.coverage()]
    assert sources[0] == "bundled" and "sample_hcpcs_annual_fixed_width.txt" in sources[1]


def _validate(tmp_path, rows: str, data_dir: Path):
    src = tmp_path / "claims.csv"
    src.write_text("Claim ID,DOS,Dx 1,CPT 1,CPT 2\n" + rows, encoding="utf-8")
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(data_dir))
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", str(src), "--format", "json"],
                          capture_output=True, text=True, env=env)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    return {c["claim_id"]: c for c in data["claims"]}, data


def _cli(data_dir: Path, *args):
    env = dict(os.environ, XLSHEETS_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", "codes", *args], capture_output=True, text=True, env=env)


def test_the_user_path_import_cpt_then_validate(tmp_path):
    data = tmp_path / "data"
    before, _ = _validate(tmp_path, "A,2026-03-10,M54.17,99215,\n", data)
    assert not [f for f in before["A"]["findings"] if f["rule"] in ("C105", "C106")]  # shape only
    done = _cli(data, "import-cpt", str(CPT))
    assert done.returncode == 0 and "imported 10 CPT codes" in done.stdout, done.stdout + done.stderr
    assert "PLACEHOLDER" not in done.stdout
    claims, out = _validate(tmp_path, "A,2026-03-10,M54.17,99215,\n"
                                      "B,2022-03-01,M54.17,99201,\n"
                                      "C,2026-03-10,M54.17,99214,72148\n"
                                      "D,2010-06-01,M54.17,0275T,\n", data)
    rules = {k: [f["rule"] for f in c["findings"]] for k, c in claims.items()}
    assert "C105" in rules["A"]  # 99215 is not in the practice's list
    assert "C106" in rules["B"] and "C105" not in rules["C"] and "C106" not in rules["C"]
    c106 = next(f for f in claims["D"]["findings"] if f["rule"] == "C106")
    assert "2011-07-01" in c106["message"]  # not yet in effect
    lists = [c for c in out["codesets"] if c.get("kind") == "cpt_hcpcs"]
    assert [c["source"].split(" ")[0] for c in lists] == ["bundled", "sample_licensed_cpt_list.csv"]
    assert "PLACEHOLDER" not in json.dumps(out)
    cov = _cli(data, "coverage")
    assert cov.returncode == 0 and "sample_licensed_cpt_list.csv" in cov.stdout and "ICD-10-CM" in cov.stdout


def test_a_file_that_is_not_a_code_list_is_refused_in_plain_words(tmp_path):
    bad = tmp_path / "notes.csv"
    bad.write_text("Name,Phone\nAnn,555\n", encoding="utf-8")
    done = _cli(tmp_path / "data", "import-hcpcs", str(bad))
    assert done.returncode == 1 and "import failed" in done.stdout and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "cpt").exists() or not list((tmp_path / "data" / "cpt").iterdir())


def test_a_damaged_import_is_said_not_silently_skipped(data_dir):
    (data_dir / "cpt").mkdir()
    (data_dir / "cpt" / "broken.json.gz").write_bytes(b"not gzip")
    cov = get_procedure_codes().coverage()
    assert any("NOT LOADED" in c["name"] and "broken.json.gz" in c["source"] for c in cov)


def test_reads_the_spreadsheet_form_of_the_cms_file(tmp_path):
    """CMS also publishes the annual file as xlsx: a title line, then HCPC, ..., ADD DT, TERM DT."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Sample HCPCS annual file (xlsx form) for xlsheets tests"])
    ws.append(["HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "ADD DT", "ACT EFF DT",
               "TERM DT", "ACTION CD"])
    ws.append(["G0260", "00100", "3", "PLACEHOLDER", "PLACEHOLDER", "20020101", "20210101", "20201231", "D"])
    ws.append(["G0260", "00200", "4", "PLACEHOLDER CONTINUED", None, None, None, None, None])
    ws.append(["25", "00100", "7", "PLACEHOLDER MODIFIER", "PLACEHOLDER", "19920101", None, None, "N"])
    ws.append(["G2211", "00100", "3", "PLACEHOLDER", "PLACEHOLDER", "20210101", "20210101", None, "N"])
    path = tmp_path / "sample_hcpcs.xlsx"
    wb.save(path)
    assert read_code_list(path) == [("G0260", date(2002, 1, 1), date(2021, 1, 1)),
                                    ("G2211", date(2021, 1, 1), None)]


def test_codes_looks_up_a_procedure_code_without_a_descriptor(tmp_path):
    data = tmp_path / "data"
    done = _cli(data, "99201", "--dos", "2022-03-01", "--format", "json")
    [d] = json.loads(done.stdout)
    assert done.returncode == 0 and d["status"] == "DELETED" and d["replacement"] == "99202"
    assert "2021" in d["source"]
    assert _cli(data, "import-hcpcs", str(HCPCS)).returncode == 0
    unknown = _cli(data, "G9876", "--dos", "2026-03-10")
    assert unknown.returncode == 1 and "not in the imported code list" in unknown.stdout
    assert "SAMPLE" not in unknown.stdout
