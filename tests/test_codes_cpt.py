"""CPT/HCPCS facts: shapes, categories, add-ons, deletions; no descriptors shipped."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from xlsheets.codes import cpt


@pytest.mark.parametrize("code", ["72148", "62323", "0275T", "3074F", "0001U", "G0283", "g0283", 72148, 72148.0, " 99213 "])
def test_well_formed(code):
    assert cpt.is_well_formed(code)


@pytest.mark.parametrize("code", ["7214", "ABCDE", "721488", "7214X", "", None, 72148.5, "W1234X", True])
def test_malformed(code):
    assert not cpt.is_well_formed(code)


def test_sets():
    assert cpt.ESI_INTERLAMINAR == {"62320", "62321", "62322", "62323"}
    assert cpt.ESI_WITHOUT_IMAGING == {"62320", "62322"}
    assert {"64479", "64480", "64483", "64484"} <= cpt.ESI_TRANSFORAMINAL
    assert cpt.ESI_TRANSFORAMINAL_PRIMARY == {"64479", "64483"}
    assert cpt.ESI_TRANSFORAMINAL_ADDON == {"64480", "64484"}
    assert cpt.LUMBAR_ADVANCED_IMAGING == {"72148", "72149", "72158"}
    assert {"95860", "95872", "95885", "95887", "95907", "95913"} <= cpt.EMG_NCS and "95873" not in cpt.EMG_NCS
    assert {"97110", "97012", "97014", "97140", "97530", "G0283", "97161", "97164"} <= cpt.PT_CODES
    assert cpt.TRIGGER_POINT == {"20552", "20553"}
    assert cpt.EM_OFFICE == {"99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215"}
    assert "99201" not in cpt.EM_OFFICE


def test_addons():
    assert cpt.ADDON_PRIMARIES["64484"] == {"64483"}
    assert cpt.ADDON_PRIMARIES["64480"] == {"64479"}
    assert cpt.ADDON_PRIMARIES["95886"] == {str(n) for n in range(95907, 95914)}
    assert cpt.is_addon("64484") and not cpt.is_addon("64483")


def test_deleted():
    assert cpt.deleted("99201", date(2021, 1, 1)) == (date(2021, 1, 1), "99202")
    assert cpt.deleted("99201", date(2020, 12, 31)) is None
    assert cpt.deleted("99202", date(2026, 1, 1)) is None


def test_category():
    assert cpt.category("64483") == "esi_transforaminal"
    assert cpt.category("62321") == "esi_interlaminar"
    assert cpt.category("72148") == "lumbar_advanced_imaging"
    assert cpt.category("99213") == "em_office"
    assert cpt.category("20552") == "trigger_point"
    assert cpt.category("97110") == "physical_therapy"
    assert cpt.category("95886") == "emg_ncs"
    assert cpt.category("12345") is None


def test_user_descriptors(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("code,description\n99213,my licensed text\nnot-a-code,x\n", encoding="utf-8")
    assert cpt.load_descriptors(p) == {"99213": "my licensed text"}
    assert cpt.describe("99213") == "my licensed text"
    assert cpt.describe("99214") is None


def test_no_descriptors_shipped():
    """The package ships no CPT descriptor text: only numbers and facts."""
    src = Path(cpt.__file__).read_text(encoding="utf-8").lower()
    for phrase in ("epidural", "magnetic resonance", "office or other outpatient visit", "needle electromyography"):
        assert phrase not in src
