"""Killing a run leaves no patient data behind (issue 15, item 3).

As the audit did: a run writing a report of many claim rows is killed with SIGTERM, or with
SIGKILL, while the report is being written; then every place a file could be left is looked at
(the output folder and the temporary folder, TMPDIR). The old report stays as it was. SIGTERM
cleans up at once (as Ctrl-C does); after SIGKILL, which no program can catch, the next run on
that folder removes what the killed one left.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROWS = 60_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("claims") / "claims.csv"
    with open(path, "w") as f:
        f.write("Claim ID,Patient ID,DOS,Payer,Dx1,CPT1\n")
        for i in range(ROWS):
            f.write(f"C{i},P{i % 997},2026-03-10,Medicare,M54.17,64483-RT\n")
    return path


def everything_in(*folders: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for folder in folders for p in folder.rglob("*"))


def start(big_csv: Path, out: Path, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp), "XLSHEETS_READ_AHEAD": "0"}
    return subprocess.Popen([sys.executable, "-m", "xlsheets.cli", "validate", str(big_csv), "-o",
                             str(out / "report.xlsx"), "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_report_writing(proc: subprocess.Popen, out: Path) -> None:
    """Until the report writer's files (claim rows as sheet XML) are on disk."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the report was being written: {proc.stderr.read()}")
        if any(p.is_file() for d in out.glob(".xlsheets-run-*") for p in d.iterdir()):
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the report was never written")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_no_claim_data_behind(tmp_path, big_csv, signum):
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    tmp.mkdir()
    (out / "report.xlsx").write_bytes(b"the old report")
    proc = start(big_csv, out, tmp)
    wait_for_report_writing(proc, out)
    proc.send_signal(signum)
    proc.wait(timeout=60)
    err = proc.stderr.read()
    assert (out / "report.xlsx").read_bytes() == b"the old report"  # never half-replaced
    left = everything_in(out, tmp)
    if signum == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "stopped (SIGTERM); nothing was written" in err and "Traceback" not in err
        assert left == ["report.xlsx"], left
        return
    # SIGKILL: nothing could run; what was left is in the run's private folder only ...
    assert all(p == "report.xlsx" or p.startswith(".xlsheets-run-") for p in left), left
    assert len(left) > 1
    run = next(out.glob(".xlsheets-run-*"))
    assert run.stat().st_mode & 0o077 == 0  # private: only the user may look in
    # ... and the next run on that folder removes it.
    small = tmp_path / "small.csv"
    small.write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10,M54.17,64483-RT\n")
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", str(small), "-o",
                           str(out / "report.xlsx")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert everything_in(out, tmp) == ["report.xlsx"]


def test_a_run_without_a_report_keeps_its_spools_in_a_private_folder_too(tmp_path, big_csv):
    """No -o: the spools live in a private folder in TMPDIR, removed at the end; one left by a
    killed run is removed by the next run."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    stale = tmp / ".xlsheets-run-{}-999999999-x".format(_host())
    stale.mkdir()
    (stale / "claims").write_text("C1 M54.17")
    env = {**os.environ, "TMPDIR": str(tmp)}
    small = tmp_path / "small.csv"
    small.write_text("Claim ID,DOS,Dx1,CPT1\nC1,2026-03-10,M54.17,64483-RT\n")
    done = subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", str(small)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert everything_in(tmp) == []


def _host() -> str:
    from xlsheets.tempfiles import _host
    return _host()
