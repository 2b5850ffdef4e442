"""How counts read in every output (text, report, messages): '1 claim', '2 claims'."""
from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 claim', '2 claims', '0 claims', '1,000 claims' (``many`` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
