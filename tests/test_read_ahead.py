"""Large files are read by a child process while the parent validates: same rows, same errors."""
import os

import pytest

from xlsheets.cli import main
from xlsheets.io import InputError, read_ahead

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="read-ahead needs fork")


@pytest.fixture
def forced(monkeypatch):
    monkeypatch.setenv("XLSHEETS_READ_AHEAD", "1")


def rows_then(n, error=None):
    for i in range(n):
        yield [f"C{i}", 46091 + i % 7, "M54.17", None, 1.5, True]
    if error:
        raise error


def test_rows_arrive_unchanged_and_in_order(forced, tmp_path):
    (tmp_path / "f.csv").write_text("x")
    got = list(read_ahead(tmp_path / "f.csv", rows_then(1234)))
    assert got == list(rows_then(1234))


def test_a_reading_error_in_the_child_is_the_same_input_error_here(forced, tmp_path):
    (tmp_path / "f.csv").write_text("x")
    message = "f.xlsx, sheet 'Claims': the workbook is damaged or incomplete"
    got = []
    with pytest.raises(InputError, match="damaged or incomplete"):
        for row in read_ahead(tmp_path / "f.csv", rows_then(700, InputError(message))):
            got.append(row)
    assert len(got) == 700  # every row read before the damage still arrives


def test_stopping_early_ends_the_child(forced, tmp_path):
    (tmp_path / "f.csv").write_text("x")
    rows = read_ahead(tmp_path / "f.csv", rows_then(100_000))
    assert next(rows)[0] == "C0"
    rows.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def test_validate_output_is_the_same_with_and_without_read_ahead(tmp_path, monkeypatch, capsys):
    lines = ["claim_id,dos,dx1,dx2,cpt1,disc_disorder_confirmed"]
    lines += [f"C{i},2026-03-10,M54.17,{'M51.17' if i % 3 else ''},64483-RT,{'Y' if i % 5 else 'N'}"
              for i in range(3000)]
    path = tmp_path / "claims.csv"
    path.write_text("\n".join(lines) + "\n")
    outputs = []
    for setting in ("0", "1"):
        monkeypatch.setenv("XLSHEETS_READ_AHEAD", setting)
        assert main(["validate", str(path), "--format", "json"]) == 1
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and '"S301"' in outputs[0]


def test_without_a_process_to_spare_rows_are_read_here(forced, tmp_path, monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(os, "fork", no_fork)
    (tmp_path / "f.csv").write_text("x")
    assert list(read_ahead(tmp_path / "f.csv", rows_then(10))) == list(rows_then(10))
