"""Outputs: never over the input, written whole or not at all, and cell text that cannot run."""
from __future__ import annotations

import os

import openpyxl
import pytest

from xlsheets.io import InputError, atomic_output, check_output_path, neutralize


def test_output_over_the_input_is_refused_even_through_a_link(tmp_path):
    src = tmp_path / "claims.xlsx"
    src.write_bytes(b"PK")
    with pytest.raises(InputError, match="is the input file itself"):
        check_output_path(src, tmp_path / "." / "claims.xlsx")
    link = tmp_path / "report.xlsx"
    link.symlink_to(src)
    with pytest.raises(InputError, match="is the input file itself"):
        check_output_path(src, link)
    hard = tmp_path / "hard.xlsx"
    os.link(src, hard)
    with pytest.raises(InputError, match="input file itself"):
        check_output_path(src, hard)
    check_output_path(src, tmp_path / "claims_checked.xlsx")  # a new name is fine


def test_output_in_a_missing_folder_or_onto_a_folder_is_refused(tmp_path):
    src = tmp_path / "claims.xlsx"
    src.write_bytes(b"PK")
    with pytest.raises(InputError, match="folder .* does not exist"):
        check_output_path(src, tmp_path / "nope" / "out.xlsx")
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(src, tmp_path)


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible until complete
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_output_leaves_nothing_on_failure_or_interrupt(tmp_path, exc):
    target = tmp_path / "report.xlsx"
    with pytest.raises(type(exc)):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise exc
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_gives_normal_file_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "r.csv") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "r.csv").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1", "=cmd|' /C calc'!A0"])
def test_formula_like_text_is_neutralized(text):
    assert neutralize(text) == "'" + text


@pytest.mark.parametrize("value", [-5, 3.5, None, True, "M54.17", "-5", "+1.5", "", "a=b"])
def test_other_values_are_unchanged(value):
    assert neutralize(value) == value and type(neutralize(value)) is type(value)


def test_neutralized_text_is_stored_as_text_by_openpyxl(tmp_path):
    """Without the apostrophe openpyxl would store '=...' as a live formula."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = neutralize("=1+1")
    ws["A2"] = neutralize(-5)
    ws["A3"] = "=1+1"  # what would happen without it
    wb.save(tmp_path / "o.xlsx")
    back = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    assert back["A1"].data_type == "s" and back["A1"].value == "'=1+1"
    assert back["A2"].value == -5 and back["A2"].data_type == "n"
    assert back["A3"].data_type == "f"
