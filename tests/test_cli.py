"""The command itself: help, unknown commands, and a reader that stops early."""
import subprocess
import sys
from pathlib import Path

from xlsheets.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "templates" / "sample_claims.xlsx"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("validate", "rules", "explain", "codes", "plugins", "template"):
        assert f"  {command}" in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["valdiate"]) == 2
    assert "unknown command 'valdiate'" in capsys.readouterr().err


def test_output_piped_into_a_reader_that_stops_early_prints_no_traceback(tmp_path):
    """`xlsheets validate ... --format json | head -1`: the pipe closes; no error text appears."""
    path = tmp_path / "claims.csv"
    path.write_text("claim_id,dos,dx1,dx2\n" + "".join(f"C{i},2026-03-10,M54.17,M51.17\n" for i in range(3000)))
    proc = subprocess.Popen([sys.executable, "-m", "xlsheets.cli", "validate", str(path), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.read(100)  # far less than the megabyte of JSON it writes
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert first.startswith(b'{"claims"')
    assert "Traceback" not in err and "Broken pipe" not in err
