"""Where a run keeps the temporary files that hold claim data, and how they always go away.

A run spools claims and rows while it validates, and the report writer (XlsxWriter in
constant-memory mode) keeps each sheet's XML in a temporary file until the workbook is zipped:
claim IDs, codes and payers, i.e. protected health information. All of it lives in one private
folder made for the run (mode 0700), next to the report when one is written (so the finished
report is renamed into place on the same disk), else in the system's temporary folder. The
folder is removed when the run ends, however it ends:

* normally, or on an error, or on Ctrl-C: the ``with`` block removes it;
* on SIGTERM or SIGHUP: :func:`handle_termination` turns the signal into an exception, so the
  same cleanup runs;
* on SIGKILL (which no program can catch) or a power cut: the folder's name holds the host and
  process ID of its run, and the next run on that folder removes every such folder whose
  process is gone (:func:`sweep`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Iterator

__all__ = ["run_folder", "sweep", "handle_termination", "Terminated", "RUN_PREFIX"]

RUN_PREFIX = ".xlsheets-run-"


class Terminated(BaseException):
    """The run was told to stop (SIGTERM, SIGHUP); raised so every cleanup runs."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else signum)


def _host() -> str:
    try:
        name = socket.gethostname().split(".")[0]
    except OSError:
        name = ""
    return "".join(ch for ch in name if ch.isalnum())[:20] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, AttributeError):
        return True  # someone else's process, or no way to tell: leave its folder alone
    return True


def sweep(parent: Path) -> list[Path]:
    """Remove the run folders in ``parent`` left by runs of this host that were killed."""
    removed = []
    prefix = f"{RUN_PREFIX}{_host()}-"
    try:
        names = [n for n in os.listdir(parent) if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        pid_text = name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        path = Path(parent) / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
    return removed


@contextlib.contextmanager
def run_folder(near: str | os.PathLike | None = None) -> Iterator[Path]:
    """A private folder for this run's temporary files, in the folder of ``near`` (the report)
    or the system's temporary folder; stale folders of killed runs there are removed first."""
    parent = Path(near).resolve().parent if near is not None else Path(tempfile.gettempdir())
    sweep(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{_host()}-{os.getpid()}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def handle_termination() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise :class:`Terminated` (as Ctrl-C raises
    KeyboardInterrupt), so temporary files and partial outputs are removed before the process
    ends. Only on the main thread of a system with those signals; elsewhere nothing changes."""
    wanted = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    parent = os.getpid()

    def stop(signum, _frame):
        if os.getpid() != parent:  # a forked reader: leave at once, the parent cleans up
            os._exit(128 + signum)
        raise Terminated(signum)

    previous = {}
    for s in wanted:
        try:
            previous[s] = signal.signal(s, stop)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for s, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(s, handler)
