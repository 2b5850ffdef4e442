"""The machine outputs of ``xlsheets validate``: ``--format json`` and ``--format jsonl``.

Both are encoded straight from the spool's packed records (``batch.FindingTable``): no claim or
finding object is rebuilt, and each distinct finding is encoded once, then reused with its own
rows. Sheets repeat code combinations, so a run of 200,000 findings holds a few hundred distinct
ones. The text is exactly what ``json.dumps(claim_dict(result))`` would give (a test holds it to
that).

* ``json``: one document, ``{"claims": [...], "summary": {...}, "codesets": [...]}``, written
  after the whole sheet is checked (``summary`` counts need every claim).
* ``jsonl`` (JSON Lines): one claim per line, written as each claim is validated, so memory stays
  flat on any size and a pipeline can start at once. Lines are the same claim objects as in
  ``json``'s ``claims``; most come in sheet order, but a claim that a batch rule (a patient's
  history) may still add to comes after the others, once its result is final: sort on ``row``
  when order matters. The last line is ``{"summary": {...}, "codesets": [...]}``: what could not
  be checked (``rules_not_run``, ``plugins_skipped``...) is there, as in every output. The
  schema is documented in docs/excel.md ("JSON output").
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring as _encode_str  # the C encoder, ensure_ascii=False

__all__ = ["write_json", "JsonLines", "ClaimEncoder"]

_STATUS = {3: "error", 2: "warning", 1: "info"}
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def _text(value) -> str:
    return _encode_str(value) if type(value) is str else _dumps(value)


class ClaimEncoder:
    """Packed claim record -> its JSON text, each distinct finding encoded once."""

    def __init__(self, findings):
        self.table = findings  # batch.FindingTable
        self._parts: list[tuple[str, str, int]] = []  # per finding number: (head, tail, severity)

    def _finding_parts(self, n: int) -> tuple[str, str, int]:
        parts = self._parts
        while len(parts) <= n:
            rule, sev, message, codes, suggestion, reference, column, _brief = self.table.items[len(parts)]
            head = (f'{{"rule": {_text(rule)}, "severity": "{_STATUS[sev]}", "message": {_text(message)}, '
                    f'"codes": {_dumps(list(codes))}, "suggestion": {_text(suggestion)}, '
                    f'"reference": {_text(reference)}')
            tail = (f', "column": {_text(column)}}}' if column else "}")
            parts.append((head, tail, sev))
        return parts[n]

    def encode(self, record: tuple) -> str:
        claim_id, rows, payer, _patient, found = record
        parts = self._parts
        worst = 0
        texts = []
        for n, f_rows in found:
            head, tail, sev = parts[n] if n < len(parts) else self._finding_parts(n)
            if sev > worst:
                worst = sev
            if f_rows:
                texts.append(f'{head}, "rows": [{", ".join(map(str, f_rows))}]{tail}')
            else:
                texts.append(head + tail)
        first = rows[0] if rows else "null"
        return (f'{{"row": {first}, "claim_id": {_text(claim_id)}, "status": "{_STATUS.get(worst, "ok")}", '
                f'"rows": [{", ".join(map(str, rows))}], "payer": {_text(payer)}, '
                f'"findings": [{", ".join(texts)}]}}')


def write_json(result, out) -> None:
    """The JSON document of a finished batch (``batch.BatchResult``), streamed claim by claim."""
    encode = ClaimEncoder(result.findings).encode
    out.write('{"claims": [')
    chunk: list[str] = []
    sep = "\n  "
    for record in result.records():
        chunk.append(sep + encode(record))
        sep = ",\n  "
        if len(chunk) >= 1000:
            out.write("".join(chunk))
            chunk = []
    out.write("".join(chunk))
    out.write("\n],\n")
    out.write(f'"summary": {json.dumps(result.summary, ensure_ascii=False)},\n')
    out.write(f'"codesets": {json.dumps(result.codesets())}}}\n')


class JsonLines:
    """``--format jsonl``: :meth:`claim` writes a claim's line as soon as it is final (the
    ``emit`` of ``batch.run_batch``); :meth:`finish` writes the summary line."""

    def __init__(self, out, flush_every: int = 1000):
        self.out, self.flush_every = out, flush_every
        self.encoder = None
        self.chunk: list[str] = []

    def claim(self, record: tuple, findings) -> None:
        if self.encoder is None:
            self.encoder = ClaimEncoder(findings)
        self.chunk.append(self.encoder.encode(record) + "\n")
        if len(self.chunk) >= self.flush_every:
            self._flush()

    def _flush(self) -> None:
        self.out.write("".join(self.chunk))
        self.out.flush()
        self.chunk = []

    def finish(self, result) -> None:
        self._flush()
        self.out.write(json.dumps({"summary": result.summary, "codesets": result.codesets()},
                                  ensure_ascii=False) + "\n")
        self.out.flush()
