"""What a plugin may not do to a run: take for ever to import, or write into its output.

Plugins are trusted code (see docs/security.md), but their mistakes must not cost a run:

* :func:`time_limit` stops a plugin's import (an endless loop at module level, a network call
  that never answers) after a number of seconds; the engine's watchdog does the same for each
  rule call (``Validator.watchdog``).
* :func:`output_to_stderr` sends whatever plugins write to standard output (``print`` at import,
  a program they start) to standard error while they are imported and their rules run, at the
  level of the file descriptor, so ``xlsheets validate --format json`` stays parseable.

Both need what only a main thread of a real operating system has (signals, file descriptors).
Elsewhere (Pyodide in xlwings Lite, a worksheet function called on another thread) they do
nothing and :data:`TIME_LIMITS` / ``available`` say so; docs/security.md says what that means.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

__all__ = ["time_limit", "time_limits_available", "output_to_stderr", "results_stream",
           "check_stdout", "PluginTimeout", "StdoutLost"]


class PluginTimeout(Exception):
    """A plugin's code ran longer than its time limit and was stopped."""


class StdoutLost(Exception):
    """Standard output was closed (by a plugin or a program it ran) and cannot be written."""


def time_limits_available() -> bool:
    """Whether a time limit can be enforced here: a timer signal, on the main thread."""
    return (hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")
            and threading.current_thread() is threading.main_thread())


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`PluginTimeout` in the block once ``seconds`` have passed.

    A timer signal interrupts Python code at its next instruction (a loop, a sleep, a blocking
    socket read); C code that never returns to Python (one huge regular expression) cannot be
    interrupted. Where no timer signal exists, the block runs without a limit. A timer already
    running (the rules' watchdog) is restored afterwards.
    """
    if not seconds or seconds <= 0 or not time_limits_available():
        yield
        return

    def expired(_signum, _frame):
        raise PluginTimeout(f"{what} took more than {seconds:g} s and was stopped")

    previous = signal.signal(signal.SIGALRM, expired)
    before = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if before[0]:
            signal.setitimer(signal.ITIMER_REAL, *before)


class _ToStderr:
    """sys.stdout while plugins run: writes go to sys.stderr; close() closes nothing."""

    def __init__(self, real):
        self._real = real

    def write(self, text):
        return sys.stderr.write(text)

    def writelines(self, lines):
        sys.stderr.writelines(lines)

    def flush(self):
        sys.stderr.flush()

    def close(self):  # a plugin closing "stdout" must not close ours
        pass

    @property
    def closed(self):
        return False

    def isatty(self):
        return False

    def fileno(self):
        return 1

    def __getattr__(self, name):
        return getattr(self._real, name)


@contextlib.contextmanager
def output_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While the block runs, file descriptor 1 is a copy of 2 and ``sys.stdout`` writes to
    ``sys.stderr``: a plugin's ``print``, a C extension's ``printf`` and any program it starts
    write to standard error. Afterwards standard output is what it was, even if a plugin
    closed descriptor 1 meanwhile. Does nothing where descriptors cannot be copied.
    """
    if not enabled:
        yield
        return
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # fd 1 already closed before any plugin ran: nothing to protect
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
    except OSError:
        os.close(saved)
        saved = None
    real = sys.stdout
    sys.stdout = _ToStderr(real)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        sys.stdout = real
        if saved is not None:
            try:
                os.dup2(saved, 1)
            except OSError:  # our copy was closed too (a plugin closed every descriptor)
                pass
            with contextlib.suppress(OSError):
                os.close(saved)


def results_stream():
    """A text stream on a copy of the real standard output, for results written while plugin
    rules run (``--format jsonl``), when descriptor 1 is routed to standard error. Where no
    descriptor can be copied, ``sys.stdout`` itself."""
    try:
        sys.stdout.flush()
        fd = os.dup(sys.stdout.fileno())
    except Exception:
        return sys.stdout
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return os.fdopen(fd, "w", encoding=encoding, errors="replace", newline=None)


def check_stdout() -> None:
    """StdoutLost when standard output cannot be written (closed descriptor or stream)."""
    stream = sys.stdout
    if stream is None or getattr(stream, "closed", False):
        raise StdoutLost("standard output was closed")
    try:
        fd = stream.fileno()
    except Exception:
        return  # a stream without a descriptor (a test's capture): writable as far as we know
    try:
        os.fstat(fd)
    except OSError as exc:
        raise StdoutLost(f"file descriptor {fd} was closed ({exc.strerror or exc})") from None
