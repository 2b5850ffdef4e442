"""--format json and --format jsonl: encoded from the spool without rebuilding objects, exactly
the JSON of the claim objects; jsonl streams a claim per line as it is validated."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from xlsheets.batch import claim_dict, run_batch
from xlsheets.config import Config, PayerPolicy
from xlsheets.engine import Validator
from xlsheets.jsonout import ClaimEncoder

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "templates" / "sample_claims.xlsx"
# A line-level sheet (findings carry their own rows and columns), text that JSON must escape,
# and a patient seen twice (a batch rule's history).
LINES = """Claim ID,Patient ID,DOS,Dx1,Dx2,CPT,Modifier,Units,Payer
L-1,P1,2026-03-10,M54.16,M54.17,62321,,1,"Aetna ""Choice"" \u2013 caf\u00e9"
L-1,P1,2026-03-10,M54.16,M54.17,64484,RT,1,"Aetna ""Choice"" \u2013 caf\u00e9"
L-2,P2,2026-03-11,M54.1,,99213,,1,Medicare
L-3,P2,2026-03-12,,,97110,,3,Medicare
L-4,P3,someday,M54.17,,99213,,two,Medicare
"""


def _records(path, config=None):
    with run_batch(path, Validator(config)) as result:
        return list(result.records()), result.findings, [r for r in result.results()]


def test_encoding_is_exactly_the_json_of_the_claim_objects(tmp_path):
    lines = tmp_path / "lines.csv"
    lines.write_text(LINES, encoding="utf-8")
    for path in (SAMPLE, lines):
        records, table, results = _records(path)
        encode = ClaimEncoder(table).encode
        assert len(records) == len(results) > 2
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        for record, result in zip(records, results):
            assert encode(record) == dumps(claim_dict(result))
    assert any(f.column for r in results for f in r.findings)  # the optional keys too


def test_repeated_findings_are_stored_once(tmp_path):
    rows = "".join(f"C{i},2026-03-10,M54.1,99213\n" for i in range(300))
    path = tmp_path / "same.csv"
    path.write_text("Claim ID,DOS,Dx1,CPT1\n" + rows)
    records, table, results = _records(path)
    assert sum(len(r.findings) for r in results) == 300
    assert len(table.items) == 1  # 300 findings, one distinct: encoded once
    assert {found[0][1] for *_, found in records} == {(i + 2,) for i in range(300)}


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "xlsheets.cli", "validate", *map(str, argv)],
                          capture_output=True, text=True, encoding="utf-8")


def test_jsonl_one_claim_per_line_then_the_summary(tmp_path):
    lines = tmp_path / "lines.csv"
    lines.write_text(LINES, encoding="utf-8")
    for path in (SAMPLE, lines):
        whole = _cli(path, "--format", "json")
        streamed = _cli(path, "--format", "jsonl")
        assert streamed.returncode == whole.returncode == 1, streamed.stderr
        doc = json.loads(whole.stdout)
        out = [json.loads(line) for line in streamed.stdout.splitlines()]
        assert sorted(out[:-1], key=lambda c: c["row"]) == doc["claims"]
        assert out[-1] == {"summary": doc["summary"], "codesets": doc["codesets"]}
        assert not streamed.stderr


def test_jsonl_summary_line_says_what_was_not_checked(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Claim ID,DOS,Dx1,CPT1,Payer\nA1,2026-03-10,M54.17,99213,Harbor\n")
    cfg = tmp_path / "xlsheets.toml"
    cfg.write_text('[payers.harbor]\nmatch = ["harbor*"]\nplugins = ["egret_plan"]\n')
    run = _cli(path, "--format", "jsonl", "--config", cfg, "--skip-broken-plugins")
    assert run.returncode == 1, run.stderr  # A1's payer runs egret_plan: E102, not ready
    first, last = (json.loads(line) for line in (run.stdout.splitlines()[0], run.stdout.splitlines()[-1]))
    assert first["status"] == "error" and first["findings"][0]["rule"] == "E102"
    assert last["summary"]["plugins_skipped"] == ["egret_plan"]
    assert last["summary"]["rules_not_run"]  # the sheet lacks the documentation columns


def test_jsonl_claims_leave_as_they_are_validated(tmp_path):
    """Each claim is handed to the output while later rows are still unread, and nothing is
    spooled for it: memory stays flat whatever the size."""
    path = tmp_path / "big.csv"
    path.write_text("Claim ID,Patient ID,DOS,Dx1,CPT1,Payer\n" + "".join(
        f"C{i},P{i % 50},2026-03-10,M54.17,{'97110' if i % 2 else '99213'},Medicare\n"
        for i in range(10_000)))

    class Progress:
        rows = 0

        def update(self, rows, final=False):
            self.rows = rows

    progress, seen = Progress(), []
    config = Config(payers=[PayerPolicy(name="medicare", match=["medicare"])])
    with run_batch(path, Validator(config), progress=progress, keep_results=False,
                   emit=lambda record, table: seen.append((progress.rows, record[0]))) as result:
        assert result.summary["claims"] == 10_000
        assert list(result.records()) == []  # nothing was spooled
    assert len(seen) == 10_000 and len({claim for _rows, claim in seen}) == 10_000
    assert seen[0][0] < 5_000  # the first claim left long before the last rows were read
