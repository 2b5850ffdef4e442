"""One command-line language: the conventions every subcommand shares, and how CI runs the tests.

Commands run as a user runs them: ``python -m xlsheets.cli ...`` in a subprocess."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from xlsheets.cli import UsageError, parse_cli_date, plural

ROOT = Path(__file__).resolve().parent.parent


def xlsheets(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", *map(str, argv)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("text, order", [
    ("2026-03-10", "MDY"), ("03/10/2026", "MDY"), ("3/10/26", "MDY"), ("10/03/2026", "DMY"),
    ("10.03.2026", "MDY"), ("20260310", "MDY"), ("10-Mar-2026", "MDY"), ("46091", "MDY"),
])
def test_a_date_on_the_command_line_is_read_as_the_sheet_reads_it(text, order):
    assert parse_cli_date(text, order) == date(2026, 3, 10)


def test_a_date_that_contradicts_the_date_order_is_refused_in_plain_words():
    with pytest.raises(UsageError, match=r"--dos: '25/03/2026' can only be day first"):
        parse_cli_date("25/03/2026", "MDY")
    with pytest.raises(UsageError, match="not a date"):
        parse_cli_date("soon", "MDY")


def test_counts_read_as_english():
    assert [plural(n, "claim") for n in (0, 1, 2, 1000)] == ["0 claims", "1 claim", "2 claims", "1,000 claims"]


def test_the_readme_test_command_is_what_ci_runs():
    """The README says what `bash .ci/run` runs; the script's last line is exactly that."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    said = re.search(r"then runs `([^`]+)`", readme)[1]
    assert run.rstrip().splitlines()[-1] == f'{said} "$@"'
    assert "bash .ci/run" in readme


def test_ci_installs_only_into_its_own_venv():
    """Every pip, build and test command in .ci/run comes after the venv is first on PATH, and
    setup-extra (called from it) uses whatever python3 is first, i.e. the venv's."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    venv_on_path = next(i for i, line in enumerate(lines) if line.startswith('export PATH="$VIRTUAL_ENV/bin:'))
    for i, line in enumerate(lines):
        if re.search(r"\bpip\b|pytest|setup-extra", line) and not line.lstrip().startswith("#"):
            assert i > venv_on_path, f".ci/run line {i + 1} runs before the venv is on PATH: {line}"
    assert "--user" not in "\n".join(lines) and "sudo" not in "\n".join(lines).replace("sudo apt install python3-venv", "")


def test_a_bad_date_is_a_usage_error_with_exit_2_and_no_traceback():
    done = xlsheets("codes", "M54.17", "--dos", "31/31/2026")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "--dos" in done.stderr
