"""Privacy: messages quote only the cell in question, never the rest of a row; and a validate
run never opens a network connection (no telemetry, no downloads)."""
from __future__ import annotations

import socket

import pytest

from test_io_reader import make_xlsx, sheet_xml, simple_rows
from xlsheets.config import Config
from xlsheets.engine import Validator

HEADER = ["Claim ID", "Patient ID", "DOS", "Payer", "Dx1", "Dx2", "CPT1", "Units", "Trauma",
          "Symptom weeks", "Dx pointer", "Notes"]
PRIVATE = "Jane Q Public SSN 123-45-6789"
ROWS = [
    # every cell the parser can complain about is broken; the notes hold private text
    ["C1", "MRN-998877", "31/02/2026", "Acme", "#N/A", "M54.17 please", "64483-RT", "lots", "maybe",
     "a while", "Z", PRIVATE],
    ["C2", "MRN-998877", "2026-03-10", "Acme", "M5417", "S33.5", "72148", 1, "Y", 2, "A", PRIVATE],
]


def test_messages_quote_only_the_cell_in_question():
    results = Validator(Config()).validate_rows(HEADER, ROWS)
    texts = [t for r in results for f in r.findings
             for t in (f.message, f.suggestion or "", f.brief or "", *f.codes)]
    assert len(texts) > 8  # the broken cells were all reported
    for text in texts:
        assert "Jane" not in text and "123-45-6789" not in text, text
        assert "MRN-998877" not in text, text  # the patient is not named in messages either
    unreadable = [f.message for r in results for f in r.findings if f.rule == "E101"]
    assert any("'lots'" in m for m in unreadable) and any("'maybe'" in m for m in unreadable)


def test_validate_opens_no_socket(tmp_path, monkeypatch, capsys):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("xlsheets tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    book = make_xlsx(tmp_path / "claims.xlsx", {"Claims": sheet_xml(simple_rows([HEADER, *ROWS]))})
    from xlsheets.cli import main
    code = main(["validate", str(book), "-o", str(tmp_path / "report.xlsx"), "--format", "json"])
    out = capsys.readouterr()
    assert code in (0, 1), out.err
    assert attempts == []
    assert (tmp_path / "report.xlsx").exists()
    assert "Jane" not in out.out + out.err


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_output_does_not_echo_private_columns(tmp_path, capsys, fmt):
    book = make_xlsx(tmp_path / "claims.xlsx", {"Claims": sheet_xml(simple_rows([HEADER, *ROWS]))})
    from xlsheets.cli import main
    main(["validate", str(book), "--format", fmt])
    out = capsys.readouterr()
    assert "123-45-6789" not in out.out + out.err


def test_long_cells_are_quoted_shortened():
    header = ["Claim ID", "DOS", "Dx1", "CPT1", "Dx pointer", "Trauma", "Symptom weeks", "Units"]
    long = "Q" * 5000
    results = Validator(Config()).validate_rows(header, [["C1", long, long, long, long, long, long, long]])
    messages = [f.message for r in results for f in r.findings]
    assert len(messages) >= 5
    assert all(len(m) < 600 for m in messages), max(messages, key=len)[:200]
