"""``xlsheets validate``: exit codes, the JSON contract, the summary, line-level sheets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlsheets.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "templates" / "sample_claims.xlsx"

CLAIM_HEAD = "Claim ID,Patient ID,DOS,Payer,Dx1,Dx2,CPT1,Disc Disorder Confirmed,Laterality"
LINE_HEAD = "Claim ID,DOS,Payer,Dx1,Dx2,CPT,Modifier,Units,Dx Pointer,Laterality,Nerve Root Level,Conservative Care Weeks"


def write_csv(tmp_path, text, name="claims.csv"):
    path = tmp_path / name
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def run(capsys, *argv):
    code = main(["validate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exit_0_when_no_claim_has_an_error(tmp_path, capsys):
    path = write_csv(tmp_path, f"{CLAIM_HEAD}\nC1,P1,2026-03-10,Aetna,M51.17,,99214,Y,R\n")
    code, out, err = run(capsys, path)
    assert code == 0, err
    assert "1 claim in 1 row" in out and "ok" in out


def test_exit_1_when_a_claim_has_an_error(tmp_path, capsys):
    path = write_csv(tmp_path, f"{CLAIM_HEAD}\nC1,P1,2026-03-10,Aetna,M54.17,,99214,Y,R\n")
    code, out, _ = run(capsys, path)
    assert code == 1
    assert "row 2" in out and "ERROR S301: disc disorder confirmed - use M51.17" in out


def test_warnings_only_still_exit_0(tmp_path, capsys):
    path = write_csv(tmp_path, f"{CLAIM_HEAD}\nC1,P1,2026-03-10,Aetna,M54.16,M54.17,99214,N,R\n")
    code, out, _ = run(capsys, path)
    assert code == 0 and "WARNING S303" in out


@pytest.mark.parametrize("argv, words", [
    (["{missing}"], "not found"),
    (["{bad}"], "not an Excel workbook"),
    (["{nohead}"], "no claims header"),
    (["{sample}", "--sheet", "Nope"], "no sheet named 'Nope'"),
    (["{csv}", "-o", "{csv_as_xlsx}"], "must be an .xlsx"),
    (["{sample}", "-o", "{sample}"], "the input file itself"),
    (["{csv}", "--config", "{missing}"], "configuration error"),
    (["{csv}", "--format", "yaml"], ""),
])
def test_exit_2_for_unusable_input_or_usage(tmp_path, capsys, argv, words):
    paths = {
        "missing": tmp_path / "missing.xlsx",
        "bad": tmp_path / "bad.xlsx",
        "nohead": write_csv(tmp_path, "just,some\ntext,here\n", "nohead.csv"),
        "csv": write_csv(tmp_path, f"{CLAIM_HEAD}\nC1,P1,2026-03-10,Aetna,M51.17,,99214,Y,R\n"),
        "csv_as_xlsx": tmp_path / "report.csv",
        "sample": SAMPLE,
    }
    paths["bad"].write_bytes(b"\x00\x01 definitely not a workbook")
    before = SAMPLE.read_bytes()
    code, _out, err = run(capsys, *[a.format(**paths) for a in argv])
    assert code == 2
    assert words in err
    assert "Traceback" not in err
    assert SAMPLE.read_bytes() == before  # never written over


def test_json_contract_claim_level(tmp_path, capsys):
    path = write_csv(tmp_path, f"{CLAIM_HEAD}\nC1,P1,2026-03-10,Aetna,M54.17,,99214,Y,R\n\n"
                               "C2,P2,2026-03-10,Medicare,M51.17,,99214,Y,R\n")
    code, out, _ = run(capsys, path, "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert set(data) >= {"claims", "summary", "codesets"}
    first, second = data["claims"]
    assert first["row"] == 2 and first["rows"] == [2] and first["claim_id"] == "C1"
    assert first["status"] == "error"
    s301 = first["findings"][0]
    assert {k: s301[k] for k in ("rule", "severity", "codes", "suggestion")} == {
        "rule": "S301", "severity": "error", "codes": ["M54.17"], "suggestion": "M51.17"}
    assert s301["message"]
    assert second["row"] == 4 and second["status"] == "ok"  # the blank row 3 keeps numbering
    s = data["summary"]
    assert s["claims"] == 2 and s["rows"] == 2
    assert s["by_status"] == {"error": 1, "warning": 0, "info": 0, "ok": 1}
    assert s["by_rule"] == {"S301": 1}
    assert s["by_payer"]["Aetna"]["error"] == 1 and s["by_payer"]["Medicare"]["claims"] == 1
    assert s["rules_not_run"]["S302"] == ["nerve_root_level"]  # S301 ran; S302 lacked its column
    assert s["plugins_failed"] == []
    assert data["codesets"][0]["source"] == "bundled"


def test_json_contract_line_level(tmp_path, capsys):
    path = write_csv(tmp_path, f"""{LINE_HEAD}
C9,2026-03-10,Medicare,M51.16,,64483,RT,1,A,R,L4-L5,8
C9,2026-03-10,Medicare,M51.16,,64484,RT,1,A,R,L4-L5,8
C10,2026-03-10,Aetna,M51.16,,99214,25,1,A,,,
C10,2026-03-10,Aetna,M51.16,,64484,RT,1,A,R,L4-L5,8
""")
    code, out, _ = run(capsys, path, "--format", "json")
    data = json.loads(out)
    assert data["summary"]["line_level"] is True and data["summary"]["rows"] == 4
    c9, c10 = data["claims"]
    assert (c9["row"], c9["rows"], c9["status"]) == (2, [2, 3], "ok")
    assert (c10["row"], c10["rows"]) == (4, [4, 5])
    c111 = [f for f in c10["findings"] if f["rule"] == "C111"]
    assert c111 and c111[0]["rows"] == [5]  # reported on the add-on's own row
    assert code == 1


def test_sample_workbook_shows_every_rule_family(capsys):
    code, out, _ = run(capsys, SAMPLE, "--format", "json")
    data = json.loads(out)
    assert code == 1
    rules = set(data["summary"]["by_rule"])
    for family in "CXSD":
        assert any(r.startswith(family) for r in rules), family
    for claim in data["claims"]:  # claim IDs say what each sample claim should trip
        expected = claim["claim_id"].split("-")[1]
        found = {f["rule"] for f in claim["findings"]}
        assert (not found) if expected == "OK" else expected in found, claim["claim_id"]


def test_plugin_failure_is_summarised(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text("raise RuntimeError('oops')\n")
    path = write_csv(tmp_path, f"{CLAIM_HEAD}\nC1,P1,2026-03-10,Aetna,M51.17,,99214,Y,R\n")
    code, out, err = run(capsys, path, "--plugins-dir", plugins, "--format", "json")
    assert code == 2 and out == "" and "plugin broken" in err  # stopped before any claim
    code, out, _ = run(capsys, path, "--plugins-dir", plugins, "--format", "json", "--skip-broken-plugins")
    data = json.loads(out)
    assert [p["plugin"] for p in data["summary"]["plugins_failed"]] == ["broken"]
    assert data["summary"]["plugins_skipped"] == ["broken"]
    assert code == 3  # no error, but not every configured rule ran


def test_profile_reports_time_per_rule_and_plugin(capsys):
    code, _out, err = run(capsys, SAMPLE, "--profile")
    assert "Time per rule" in err and "Time per plugin" in err
    assert "S301" in err


def test_no_progress_bar_when_not_a_terminal(capsys):
    _code, _out, err = run(capsys, SAMPLE)
    assert "validating:" not in err
