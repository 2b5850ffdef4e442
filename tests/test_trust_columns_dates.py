"""No false OK (issue 10): columns xlsheets does not read, claims with nothing to check, dates
written day first, and which configuration a run used. Each test runs ``xlsheets validate`` on a
file as a user would and checks the exit code, the claim's status and what the output says."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from xlsheets.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_stray_configuration(tmp_path, monkeypatch):
    """Only the configuration a test writes may be found."""
    monkeypatch.delenv("XLSHEETS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "user-config"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def validate(capsys, *argv):
    code = main(["validate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def validate_json(capsys, *argv):
    code, out, err = validate(capsys, *argv, "--format", "json")
    assert out, err
    data = json.loads(out)
    return code, {c["claim_id"]: c for c in data["claims"]}, data["summary"]


def rules(claim) -> set[str]:
    return {f["rule"] for f in claim["findings"]}


# --- 1. columns ------------------------------------------------------------------------------
def test_rank_named_diagnosis_columns_are_read(tmp_path, capsys):
    """'Principal Diagnosis' / 'Secondary Diagnosis' are dx1 / dx2: the radiculopathy code next
    to a confirmed disc disorder is caught (it used to be OK, exit 0)."""
    path = write(tmp_path / "export.csv", """
Encounter ID,Date of Service From,Principal Diagnosis,Secondary Diagnosis,CPT/HCPCS,Payer Name,Disc Disorder Confirmed
E-77,2026-04-14,M54.16,G89.29,62323,Cigna,Y
""")
    code, claims, summary = validate_json(capsys, path)
    assert code == 1
    assert claims["E-77"]["status"] == "error" and "S301" in rules(claims["E-77"])
    assert summary["columns_not_used"] == []


@pytest.mark.parametrize("header, canonical", [
    ("Primary Dx", "dx1"), ("Secondary Dx", "dx2"), ("Tertiary Dx", "dx3"),
    ("Principal Diagnosis", "dx1"), ("Diagnosis Code 1", "dx1"), ("ICD-10 Code 1", "dx1"),
    ("ICD10 1", "dx1"), ("Dx Code 2", "dx2"), ("Diag 3", "dx3"), ("DX1 Code", "dx1"),
    ("CPT/HCPCS", "procedures"), ("HCPCS", "procedures"), ("Proc Code 1", "cpt1"),
    ("Procedure 2", "cpt2"), ("Service Code", "procedures"), ("Service Date", "dos"),
    ("DOS From", "dos"), ("From Date", "dos"), ("Date of Service From", "dos"),
    ("Primary Insurance", "payer"), ("Insurance Name", "payer"), ("Payer Name", "payer"),
    ("Carrier", "payer"), ("Plan", "payer"), ("Patient Account", "patient_id"),
    ("Acct #", "patient_id"), ("MRN", "patient_id"), ("Claim Number", "claim_id"),
    ("Encounter ID", "claim_id"), ("Encounter #", "claim_id"), ("Visit ID", "claim_id"), ("Mod 1", "modifier1"),
    ("Modifier 1", "modifier1"), ("Units", "units"), ("Days or Units", "units"),
    ("Dx Pointer", "dx_pointer"), ("Diagnosis Pointer", "dx_pointer"),
])
def test_headers_real_exports_write_are_mapped(header, canonical):
    from xlsheets.claims import HeaderMap
    assert HeaderMap.from_row([header]).present == {canonical}


def test_an_unread_column_with_codes_is_a_warning_and_listed_everywhere(tmp_path, capsys):
    path = write(tmp_path / "export.csv", """
Claim ID,DOS,Dx 1,Addl Dx,CPT 1,Payer,Referring Zip
A-1,2026-05-04,M54.17,M51.16,99214,Aetna,30301
A-2,2026-05-04,M54.17,,99214,Aetna,30301
""")
    code, claims, summary = validate_json(capsys, path)
    assert code == 0  # a warning is no error, but it is not OK either
    assert summary["columns_not_used"] == ["Addl Dx", "Referring Zip"]
    flagged = [f for f in claims["A-1"]["findings"] if f["rule"] == "E103"]
    assert claims["A-1"]["status"] == "warning" and len(flagged) == 1
    assert "'Addl Dx'" in flagged[0]["message"] and "M51.16" in flagged[0]["message"]
    assert "[columns]" in flagged[0]["message"]
    assert claims["A-2"]["status"] == "ok"  # a ZIP code is not a CPT code, an empty cell is nothing

    code, out, _ = validate(capsys, path, "-o", tmp_path / "report.xlsx")
    assert "Columns not used" in out and "'Addl Dx'" in out and "'Referring Zip'" in out
    summary_sheet = openpyxl.load_workbook(tmp_path / "report.xlsx")["Summary"]
    cells = [c for row in summary_sheet.iter_rows(values_only=True) for c in row if c]
    assert "Columns not used" in cells and "Addl Dx" in cells and "Referring Zip" in cells


def test_configuration_maps_a_header_no_alias_covers(tmp_path, capsys):
    path = write(tmp_path / "export.csv", """
Claim ID,DOS,Dx 1,Addl Dx,CPT 1,Payer
A-1,2026-05-04,M54.17,M51.17,99214,Aetna
""")
    config = write(tmp_path / "xlsheets.toml", '[columns]\n"Addl Dx" = "dx2"\n')
    code, claims, summary = validate_json(capsys, path, "--config", config)
    assert code == 1 and "X201" in rules(claims["A-1"]) and "E103" not in rules(claims["A-1"])
    assert summary["columns_not_used"] == []


def test_a_sheet_whose_headers_only_the_configuration_knows(tmp_path, capsys):
    path = write(tmp_path / "export.csv", """
Ticket,Seen On,Pt Problem A,Svc Line A
T1,2026-05-04,M54.5,99213
""")
    config = write(tmp_path / "xlsheets.toml", """
[columns]
"Seen On" = "Date of Service"
"Pt Problem A" = "dx1"
"Svc Line A" = "cpt1"
""")
    code, claims, _ = validate_json(capsys, path, "--config", config)
    assert code == 1 and "C103" in rules(claims["T1"])  # M54.5 is a header since 2021-10-01


def test_a_mapping_to_an_unknown_column_is_a_configuration_error(tmp_path, capsys):
    path = write(tmp_path / "export.csv", "Claim ID,DOS,Dx 1\nA,2026-05-04,M54.17\n")
    config = write(tmp_path / "xlsheets.toml", '[columns]\n"Addl Dx" = "dx13"\n')
    code, _, err = validate(capsys, path, "--config", config)
    assert code == 2 and "'dx13' is not a column xlsheets reads" in err and str(config) in err


# --- 2. a claim with nothing to check -----------------------------------------------------------
def test_claims_without_diagnosis_or_procedure_are_errors(tmp_path, capsys):
    path = write(tmp_path / "export.csv", """
Claim ID,DOS,Dx 1,Dx 2,CPT 1,Payer
B-1,2026-05-04,,,99213,Humana
B-2,2026-05-04,M51.16,,,Humana
B-3,2026-05-04,M51.16,,99213,Humana
""")
    code, claims, _ = validate_json(capsys, path)
    assert code == 1
    assert claims["B-1"]["status"] == "error" and "C112" in rules(claims["B-1"])
    assert claims["B-2"]["status"] == "error" and "C113" in rules(claims["B-2"])
    assert claims["B-3"]["status"] == "ok"


def test_unread_diagnosis_column_leaves_no_claim_ok(tmp_path, capsys):
    """Only an unrecognised diagnosis column: no claim can look checked."""
    path = write(tmp_path / "export.csv", """
Claim ID,DOS,Problem Code,CPT 1,Payer
B-1,2026-05-04,M54.17,99213,Humana
""")
    code, claims, summary = validate_json(capsys, path)
    assert code == 1 and claims["B-1"]["status"] == "error"
    assert {"C112", "E103"} <= rules(claims["B-1"]) and summary["columns_not_used"] == ["Problem Code"]


# --- 3. dates ------------------------------------------------------------------------------------
# M51.37 is billable until 2024-09-30 and a header from 2024-10-01: the date decides C103.
DATES_HEAD = "Claim ID,Service Date,Dx 1,CPT 1,Payer"


def test_dotted_dates_are_always_day_first(tmp_path, capsys):
    path = write(tmp_path / "export.csv", f"{DATES_HEAD}\nD-1,04.11.2024,M51.37,99213,Aetna\n")
    code, claims, _ = validate_json(capsys, path)
    assert code == 1 and "C103" in rules(claims["D-1"])  # 4 November 2024, not 11 April


def test_slash_dates_are_month_first_unless_configured(tmp_path, capsys):
    path = write(tmp_path / "export.csv", f"{DATES_HEAD}\nD-1,04/11/2024,M51.37,99213,Aetna\n")
    code, claims, _ = validate_json(capsys, path)
    assert code == 0 and claims["D-1"]["status"] == "ok"  # 11 April 2024
    config = write(tmp_path / "xlsheets.toml", 'date_order = "DMY"\n')
    code, claims, _ = validate_json(capsys, path, "--config", config)
    assert code == 1 and "C103" in rules(claims["D-1"])  # 4 November 2024


def test_a_column_with_a_day_first_date_is_read_day_first_and_says_so(tmp_path, capsys):
    path = write(tmp_path / "export.csv", f"""
{DATES_HEAD}
D-1,04/11/2024,M51.37,99213,Aetna
D-2,28/09/2024,M51.37,99213,Aetna
""")
    code, claims, summary = validate_json(capsys, path)
    assert code == 1 and "C103" in rules(claims["D-1"]) and claims["D-2"]["status"] == "ok"
    assert len(summary["date_notes"]) == 1 and "day first" in summary["date_notes"][0]
    assert "28/09/2024" in summary["date_notes"][0]
    _, out, _ = validate(capsys, path)
    assert out.count("read day first") == 1


def test_a_day_first_date_after_the_first_rows_still_turns_the_whole_column(tmp_path, capsys):
    """A file longer than the rows the order is decided on (batch.DATE_SAMPLE_ROWS), whose slash
    dates all read both ways until a late row that can only be day first: the whole column is
    read day first, not only the rows after it. Before, D-1 (04/11/2024, month first April 11)
    read OK, though it is 4 November, when M51.37 is no longer billable (C103)."""
    from xlsheets.batch import DATE_SAMPLE_ROWS
    filler = "".join(f"F-{n},03/10/2025,M51.17,99213,Aetna\n" for n in range(DATE_SAMPLE_ROWS + 500))
    path = write(tmp_path / "export.csv", f"{DATES_HEAD}\nD-1,04/11/2024,M51.37,99213,Aetna\n{filler}"
                                          "D-2,28/09/2024,M51.17,99213,Aetna")
    code, claims, summary = validate_json(capsys, path)
    assert code == 1 and "C103" in rules(claims["D-1"]) and claims["D-2"]["status"] == "ok"
    assert len(summary["date_notes"]) == 1 and f"row {DATE_SAMPLE_ROWS + 503} has '28/09/2024'" in summary["date_notes"][0]
    assert claims["F-0"]["status"] == "ok"  # 3 October 2025 (M51.17 is billable either way)


def test_a_row_that_contradicts_its_column_gets_c109(tmp_path, capsys):
    path = write(tmp_path / "export.csv", f"""
{DATES_HEAD}
D-1,09/28/2024,M51.16,99213,Aetna
D-2,28/09/2024,M51.16,99213,Aetna
D-3,04/11/2024,M51.16,99213,Aetna
""")
    code, claims, _ = validate_json(capsys, path)
    assert code == 1
    assert claims["D-1"]["status"] == "ok" and claims["D-3"]["status"] == "ok"
    c109 = [f for f in claims["D-2"]["findings"] if f["rule"] == "C109"]
    assert c109 and c109[0]["severity"] == "error" and "day first" in c109[0]["message"]


def test_worksheet_functions_read_day_first_tables_the_same_way():
    from xlsheets import udfs
    udfs.reset()
    table = [["Claim ID", "DOS", "Dx 1", "CPT 1"],
             ["D-1", "04/11/2024", "M51.37", "99213"],
             ["D-2", "28/09/2024", "M51.37", "99213"]]
    statuses = udfs.claim_status_table(table)
    assert statuses[0][0].startswith("ERROR") and "M51.37" in statuses[0][0]  # 4 Nov 2024
    assert statuses[1][0] == "OK"
    dotted = udfs.claim_status(table[0], ["D-3", "04.11.2024", "M51.37", "99213"])
    assert dotted.startswith("ERROR") and "M51.37" in dotted  # 4 November 2024: not billable
    assert udfs.claim_status(table[0], ["D-3", "04/11/2024", "M51.37", "99213"]) == "OK"


# --- 4. which configuration ----------------------------------------------------------------------
def _payer_setup(base: Path) -> Path:
    """A workbook in base/claims/2026/, a configuration in base/ that denies M54.16 with M54.17."""
    workbook = write(base / "claims" / "2026" / "march.csv", """
Claim ID,DOS,Dx 1,Dx 2,CPT 1,Payer
F-1,2026-03-02,M54.16,M54.17,99213,Acme Health
""")
    write(base / "xlsheets.toml", f"""
plugin_dirs = [{str(ROOT / "plugins")!r}]
[payers.acme]
match = ["acme health"]
plugins = ["m54_coreporting"]
[payers.acme.settings]
m54_coreporting = "deny"
""")
    return workbook


def test_configuration_is_found_from_the_workbooks_folder_upwards(tmp_path, capsys, monkeypatch):
    workbook = _payer_setup(tmp_path / "practice")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, claims, summary = validate_json(capsys, workbook)
    s303 = [f for f in claims["F-1"]["findings"] if f["rule"] == "S303"]
    assert code == 1 and s303[0]["severity"] == "error"  # the payer plugin decided: deny
    assert summary["config"]["file"] == str(tmp_path / "practice" / "xlsheets.toml")
    assert summary["config"]["plugins"]["acme"] == ["m54_coreporting"]
    _, out, _ = validate(capsys, workbook)
    first = out.splitlines()[0]
    assert str(tmp_path / "practice" / "xlsheets.toml") in first and "acme: m54_coreporting" in first


def test_configuration_is_found_from_the_current_folder_upwards(tmp_path, capsys, monkeypatch):
    workbook = _payer_setup(tmp_path / "practice")
    (tmp_path / "practice" / "xlsheets.toml").rename(tmp_path / "xlsheets.toml")
    monkeypatch.chdir(tmp_path)
    moved = tmp_path / "inbox" / "march.csv"
    moved.parent.mkdir()
    workbook.rename(moved)
    code, claims, summary = validate_json(capsys, moved)
    assert summary["config"]["file"] == str(tmp_path / "xlsheets.toml")
    assert code == 1


def test_pyproject_tool_section_and_precedence(tmp_path, capsys, monkeypatch):
    workbook = write(tmp_path / "proj" / "data" / "x.csv", "Claim ID,DOS,Dx 1\nA,2026-05-04,M54.17\n")
    write(tmp_path / "proj" / "pyproject.toml", '[project]\nname = "x"\n[tool.xlsheets]\nignore = ["C"]\n')
    write(tmp_path / "pyproject.toml", '[project]\nname = "y"\n')  # no [tool.xlsheets]: skipped
    monkeypatch.chdir(tmp_path)
    _, _, summary = validate_json(capsys, workbook)
    assert summary["config"]["file"] == str(tmp_path / "proj" / "pyproject.toml")
    env_config = write(tmp_path / "env.toml", "ignore = []\n")
    monkeypatch.setenv("XLSHEETS_CONFIG", str(env_config))
    _, _, summary = validate_json(capsys, workbook)
    assert summary["config"]["file"] == str(env_config)
    explicit = write(tmp_path / "explicit.toml", "ignore = []\n")
    _, _, summary = validate_json(capsys, workbook, "--config", explicit)
    assert summary["config"]["file"] == str(explicit)


def test_no_configuration_is_said_too(tmp_path, capsys, monkeypatch):
    workbook = write(tmp_path / "x.csv", "Claim ID,DOS,Dx 1\nA,2026-05-04,M54.17\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = validate(capsys, workbook)
    assert out.splitlines()[0].startswith("Configuration: built-in defaults")
    validate(capsys, workbook, "-o", tmp_path / "r.xlsx")
    cells = [c for row in openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows(values_only=True)
             for c in row if c]
    assert "Configuration" in cells and "built-in defaults" in cells


# --- an unreadable code cell -----------------------------------------------------------------------
def test_an_error_cell_in_a_code_column_leaves_the_claim_an_error(tmp_path, capsys):
    """A #N/A where a diagnosis should be: the claim was not fully checked, so not ready."""
    path = write(tmp_path / "export.csv", """
Claim ID,DOS,Dx 1,Dx 2,CPT 1,Payer,Laterality
U-1,2026-05-04,M51.16,#N/A,99213,Aetna,R
U-2,2026-05-04,M51.16,,99213,Aetna,#REF!
""")
    code, claims, _ = validate_json(capsys, path)
    assert code == 1
    e101 = [f for f in claims["U-1"]["findings"] if f["rule"] == "E101"]
    assert claims["U-1"]["status"] == "error" and e101[0]["severity"] == "error" and "#N/A" in e101[0]["message"]
    # a documentation cell that cannot be read is taken as not documented: review
    assert claims["U-2"]["status"] == "warning"


def test_a_later_sheet_with_claims_is_said_not_checked_in_every_output(tmp_path, capsys):
    """Without --sheet the first claims sheet is checked; a later sheet with a claims header
    (April's claims) is named in the text, the JSON summary and the report, with the command
    that checks it. A sheet without claims is not; naming the sheet checks it, and no note."""
    path = tmp_path / "months.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "March"
    wb.active.append(["Claim ID", "DOS", "Dx1", "CPT1"])
    wb.active.append(["V1", "2026-03-10", "M51.17", "99213"])
    april = wb.create_sheet("April claims")
    april.append(["Claim ID", "DOS", "Dx1", "CPT1"])
    april.append(["V2", "2026-04-10", "M54.5", "99213"])
    wb.create_sheet("Notes").append(["phone the payer on Monday"])
    for title, header in (("Summary", ["Payer", "CPT", "Count"]), ("Lookup", ["CPT Code", "Description", "Dx Code"])):
        sheet = wb.create_sheet(title)  # a summary and a lookup list are not claims left unchecked
        sheet.append(header)
        sheet.append(["Cigna", "99213", 4] if title == "Summary" else ["99213", "office visit", "M54.17"])
    wb.save(path)
    note = ("Sheet 'April claims' of months.xlsx also has a claims header and was not checked: check it "
            'with xlsheets validate months.xlsx --sheet "April claims".')
    code, claims, summary = validate_json(capsys, path)
    assert list(claims) == ["V1"] and summary["sheets_not_checked"] == [note]
    _, out, _ = validate(capsys, path, "-o", tmp_path / "report.xlsx")
    assert note in out
    cells = [c for row in openpyxl.load_workbook(tmp_path / "report.xlsx", read_only=True)["Summary"].iter_rows(values_only=True)
             for c in row if c]
    assert "Sheets not checked" in cells and note in cells
    code, claims, summary = validate_json(capsys, path, "--sheet", "April claims")
    assert code == 1 and list(claims) == ["V2"] and summary["sheets_not_checked"] == []
