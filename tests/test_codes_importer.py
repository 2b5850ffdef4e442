"""Importing a CMS release: verbatim FY2021 extract (M51, M54) from simple-icd-10-cm 1.2.0."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from xlsheets.codes import icd10cm
from xlsheets.codes.importer import import_release, list_releases, parse_order_file, parse_tabular, remove_release

FIX = Path(__file__).parent / "fixtures" / "cms2021"
ORDER = FIX / "icd10cm-order-Jan-2021_M51_M54.txt"
TABULAR = FIX / "icd10cm_tabular_2021_M51_M54.xml"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XLSHEETS_DATA_DIR", str(tmp_path))
    icd10cm.reset_codeset()
    yield tmp_path
    icd10cm.reset_codeset()


def test_parse_order_file():
    rows = parse_order_file(ORDER)
    by = {c: (b, s, t) for c, b, s, t in rows}
    assert by["M54.5"] == (True, "Low back pain", "Low back pain")  # billable in FY2021
    assert by["M54.1"][0] is False
    assert by["M51.37"][0] is True
    assert "M54.50" not in by
    assert all(len(r[0]) >= 3 for r in rows)


def test_parse_order_file_rejects_other_files(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello\n")
    with pytest.raises(ValueError):
        parse_order_file(p)


def test_parse_tabular_fy2021():
    t = parse_tabular(TABULAR)
    assert t["version"] == "2021"
    i = t["names"].index("M54.1")
    assert t["titles"][i] == "Radiculopathy"
    ex1 = [n for n in t["notes"] if n[0] == i and n[1] == "excludes1"]
    assert any("M51.1" in n[3] for n in ex1)


def test_import_extends_coverage(data_dir):
    eff = date(2027, 10, 1)
    cs = icd10cm.get_codeset()
    assert not cs.covers(date(2027, 11, 1))
    summary = import_release(ORDER, TABULAR, eff)
    assert summary["effective"] == "2027-10-01" and summary["until"] == "2028-09-29"
    assert summary["codes"] == 68 and summary["tabular_version"] == "2021"
    assert Path(summary["path"]).is_file() and Path(summary["path"]).parent.parent == data_dir
    assert [r["effective"] for r in list_releases()] == [eff]

    cs = icd10cm.get_codeset()  # the import reset the shared instance
    assert cs.covers(date(2027, 11, 1)) and cs.covers(date(2015, 10, 1))
    assert [c["source"] for c in cs.coverage()] == ["bundled", summary["path"]]
    later = date(2027, 11, 1)
    # the FY2021 file says M54.5 is billable and M54.50 does not exist
    assert cs.billable("M54.5", later)
    assert not cs.billable("M54.50", later)
    assert cs.check("M54.5", later).status == icd10cm.VALID
    assert cs.check("M54.1", later).status == icd10cm.HEADER
    assert cs.title("M54.5", later) == "Low back pain"
    # dates before the release still use the bundled data
    assert not cs.billable("M54.5", date(2026, 3, 1))
    assert cs.billable("M54.50", date(2026, 3, 1))
    windows = cs.valid_windows("M54.5")
    assert windows[0] == (date(2015, 10, 1), date(2021, 9, 30)) and windows[-1] == (eff, date(2028, 9, 29))


def test_reimport_and_remove(data_dir):
    import_release(ORDER, TABULAR, date(2027, 10, 1))
    import_release(ORDER, TABULAR, date(2027, 10, 1))
    assert len(list_releases()) == 1
    assert remove_release(date(2027, 10, 1))
    assert list_releases() == []
    assert not icd10cm.get_codeset().covers(date(2027, 11, 1))


def test_import_rejects_bad_date(data_dir):
    with pytest.raises(TypeError):
        import_release(ORDER, TABULAR, "2027-10-01")  # type: ignore[arg-type]


def test_data_dir_default(monkeypatch):
    from xlsheets.codes.importer import user_data_dir

    monkeypatch.delenv("XLSHEETS_DATA_DIR", raising=False)
    assert user_data_dir().name == "xlsheets"
    monkeypatch.setenv("XLSHEETS_DATA_DIR", "/some/where")
    assert str(user_data_dir()) == "/some/where"
