"""How counts read in every output (text, report, messages): '1 claim', '2 claims'."""
from __future__ import annotations


def plural(count: float, word: str, many: str | None = None) -> str:
    """'1 claim', '2 claims', '0 claims', '1,000 claims', '7.5 units' (``many`` for irregular
    plurals); the count written as :func:`number` writes it."""
    return f"{number(count)} {word if count == 1 else (many or word + 's')}"


def number(value: float, grouped: bool = True) -> str:
    """A count as a person writes it: whole numbers in full (99,999,999,999, not 1e+11; without
    the commas when ``grouped`` is false, as in a code written back, 64483x3), fractions as
    written (1.5)."""
    comma = "," if grouped else ""
    if float(value).is_integer():
        return f"{value:{comma}.0f}"
    return f"{value:{comma}.4f}".rstrip("0").rstrip(".")
