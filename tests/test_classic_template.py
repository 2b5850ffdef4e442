"""The classic template (templates/claims.xlsm, `xlsheets template --classic`): the claims template
as a macro-enabled workbook whose "Validate sheet" button runs xlsheets' sheet script.

No Excel here, so each link of the chain a Windows user relies on is checked on its own: the
package parts Excel reads (content types, relationships, the VBA project), the button (its
caption, where it sits, the macro it calls), that macro's VBA source (decompressed from the VBA
project), and the companion module that macro imports, run through xlwings' remote-book
interface as `RunPython` would run it. The parts are also compared with what XlsxWriter itself
writes for add_vba_project + insert_button.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest

import vba_reader
from test_templates import _content
from xlsheets import classic_template
from xlsheets.cli import main
from xlsheets.template import COLUMNS

xlwings = pytest.importorskip("xlwings")

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "templates" / "claims.xlsm"
CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
PR = "{http://schemas.openxmlformats.org/package/2006/relationships}"
VML_X = "{urn:schemas-microsoft-com:office:excel}"
ADDED = ["xl/vbaProject.bin", "xl/drawings/vmlDrawing1.vml", "xl/worksheets/_rels/sheet1.xml.rels",
         "xl/drawings/vmlDrawing2.vml", "xl/worksheets/_rels/sheet3.xml.rels"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classic")
    assert main(["template", "--classic", str(folder / "claims.xlsm")]) == 0
    return folder / "claims.xlsm"


def parts(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def rels(data: bytes) -> dict[str, tuple[str, str]]:
    return {r.get("Id"): (r.get("Type"), r.get("Target")) for r in ET.fromstring(data).iter(f"{PR}Relationship")}


def test_committed_classic_template_matches_generator(built):
    assert _content(built) == _content(SHIPPED)
    fresh, shipped = parts(built), parts(SHIPPED)
    for name in ADDED + ["[Content_Types].xml", "xl/_rels/workbook.xml.rels"]:
        assert fresh[name] == shipped[name], name
    assert (ROOT / "templates" / "claims.py").read_text() == built.with_suffix(".py").read_text()


def test_it_is_the_plain_template_with_a_button(built, tmp_path):
    """Same sheets and content as claims.xlsx: build_template writes both."""
    assert main(["template", str(tmp_path / "claims.xlsx")]) == 0
    assert _content(built) == _content(tmp_path / "claims.xlsx")


def test_it_opens_as_a_macro_enabled_workbook_with_the_claims_table(built):
    wb = openpyxl.load_workbook(built, keep_vba=True)
    assert wb.sheetnames == ["Claims", "Status (fast)", "Instructions", "Lists"]
    header = [c.value for c in wb["Claims"][1]]
    assert header == [name for name, _k, _d in COLUMNS] + ["Status"]
    p = parts(built)
    types = ET.fromstring(p["[Content_Types].xml"])
    defaults = {d.get("Extension"): d.get("ContentType") for d in types.iter(f"{CT}Default")}
    overrides = {o.get("PartName"): o.get("ContentType") for o in types.iter(f"{CT}Override")}
    assert defaults["bin"] == "application/vnd.ms-office.vbaProject"
    assert defaults["vml"] == "application/vnd.openxmlformats-officedocument.vmlDrawing"
    assert overrides["/xl/workbook.xml"] == "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
    vba = [t for kind, t in rels(p["xl/_rels/workbook.xml.rels"]).values()
           if kind == "http://schemas.microsoft.com/office/2006/relationships/vbaProject"]
    assert vba == ["vbaProject.bin"] and p["xl/vbaProject.bin"][:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    # Excel ties the VBA project's document modules to the workbook and sheets by code name.
    assert wb.code_name == "ThisWorkbook" and wb["Claims"].sheet_properties.codeName == "Sheet1"


def button(path, sheet: int = 1, drawing: int = 1):
    """(sheet name, caption, macro, anchor) of the one form button on the ``sheet``-th sheet,
    whose drawing is the ``drawing``-th."""
    p = parts(path)
    workbook = ET.fromstring(p["xl/workbook.xml"])
    named = list(workbook.iter("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}sheet"))[sheet - 1]
    sheet_xml = p[f"xl/worksheets/sheet{sheet}.xml"].decode()
    (rid,) = re.findall(r'<legacyDrawing r:id="(rId\d+)"/>', sheet_xml)
    kind, target = rels(p[f"xl/worksheets/_rels/sheet{sheet}.xml.rels"])[rid]
    assert kind.endswith("/relationships/vmlDrawing") and target == f"../drawings/vmlDrawing{drawing}.vml"
    vml = ET.fromstring(p[f"xl/drawings/vmlDrawing{drawing}.vml"])
    (shape,) = vml.iter("{urn:schemas-microsoft-com:vml}shape")
    data = shape.find(f"{VML_X}ClientData")
    assert data.get("ObjectType") == "Button"
    caption = "".join(shape.find("{urn:schemas-microsoft-com:vml}textbox").itertext())
    anchor = [int(n) for n in data.find(f"{VML_X}Anchor").text.split(",")]
    return named.get("name"), caption, data.find(f"{VML_X}FmlaMacro").text, anchor


def test_the_claims_sheet_has_a_validate_sheet_button_beside_the_table(built):
    sheet, caption, macro, anchor = button(built)
    assert (sheet, caption, macro) == ("Claims", "Validate sheet", "[0]!SampleCall")
    left_col, _, top_row, top, right_col, _, bottom_row, bottom = anchor
    status = len(COLUMNS)  # 0-based column of "Status"; the script writes its own right of it
    assert left_col >= status + 2 and right_col > left_col  # covers neither
    assert top_row == bottom_row == 0 and 0 < top < bottom <= 60  # inside the 45-point header row


def test_the_instructions_sheet_has_the_same_button_at_its_top_beside_the_text(built):
    """The button a user sees without scrolling: row 1 of the Instructions sheet, right of its two
    text columns, the same macro (from there the script checks the Claims sheet)."""
    sheet, caption, macro, anchor = button(built, sheet=3, drawing=2)
    assert (sheet, caption, macro) == ("Instructions", "Validate Claims", "[0]!SampleCall")
    left_col, _, top_row, top, *_ = anchor
    assert (left_col, top_row, top) == (2, 0, 0)  # column C: A and B hold the instructions
    wb = openpyxl.load_workbook(built)
    assert all(wb["Instructions"].cell(r, 3).value is None for r in range(1, wb["Instructions"].max_row + 1))
    ids = [re.search(rb'<v:shape id="(_x0000_s\d+)"', parts(built)[f"xl/drawings/vmlDrawing{n}.vml"])[1]
           for n in (1, 2)]
    assert ids == [b"_x0000_s1025", b"_x0000_s2049"]  # unique in the workbook, as Excel needs


def test_the_buttons_macro_imports_the_companion_and_runs_the_sheet_script(built):
    """SampleCall, in the workbook's VBA project, runs  import <workbook name>; <name>.main()  through
    RunPython, and the companion module of that name is xlsheets' sheet script."""
    sources = vba_reader.modules(parts(built)["xl/vbaProject.bin"])
    (macro,) = [s for s in sources.values() if "Sub SampleCall()" in s]
    body = macro.split("Sub SampleCall()", 1)[1].split("End Sub", 1)[0].strip().splitlines()
    assert body[0].strip() == ('mymodule = Left(ThisWorkbook.Name, (InStrRev(ThisWorkbook.Name, ".", -1, '
                               'vbTextCompare) - 1))')
    assert body[1].strip() == 'RunPython "import " & mymodule & ";" & mymodule & ".main()"'
    assert "Public Function RunPython(PythonCommand As String)" in sources["xlwings"]
    assert "Copyright (C) 2014-present, Zoomer Analytics" in sources["xlwings"]  # its licence travels with it
    spec = importlib.util.spec_from_file_location("claims", built.with_suffix(".py"))
    companion = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(companion)
    from xlsheets import sheet_script
    assert companion.main is sheet_script.main


RUNPYTHON = textwrap.dedent("""
    # What RunPython runs (xlwings.bas ExecuteWindows), with the remote book as Book.caller().
    import json, sys
    import xlwings as xw
    book = xw.Book(json=json.load(sys.stdin))
    book.set_mock_caller()
    import xlwings.utils
    xlwings.utils.prepare_sys_path(sys.argv[1])
    exec(sys.argv[2])
    print(json.dumps(book.json()["actions"]))
""")


@pytest.mark.parametrize("pressed_on", [0, 1], ids=["Claims button", "Instructions button"])
def test_pressing_the_button_validates_the_sheet_through_the_companion(built, tmp_path, pressed_on):
    """The command SampleCall builds for claims.xlsm, run as RunPython runs it: the companion is
    found next to the workbook and writes the status column and the Findings and Summary sheets,
    pressed on the Claims sheet or on the Instructions sheet (the active one then has no table)."""
    name = built.name
    module = name[:name.rindex(".")]  # Left(ThisWorkbook.Name, InStrRev(...) - 1)
    command = "import " + module + ";" + module + ".main()"
    head = ["claim_id", "patient_id", "dos", "payer", "dx1", "cpt1", "disc_disorder_confirmed"]
    book = {"client": "Office.js", "version": "0.37.8",
            "book": {"name": name, "active_sheet_index": pressed_on, "selection": "A1"}, "names": [],
            "sheets": [{"name": "Claims", "values": [head, ["C1", "P1", 46091, "Aetna", "M54.17", 64483, "Y"]],
                        "pictures": [], "tables": [], "charts": [], "shapes": []},
                       {"name": "Instructions", "values": [["How to use this workbook"], [""]],
                        "pictures": [], "tables": [], "charts": [], "shapes": []}]}
    env = {**os.environ, "XLWINGS_LICENSE_KEY": "noncommercial", "XLSHEETS_NO_ENTRY_POINTS": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "nocfg")}
    env.pop("XLSHEETS_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", RUNPYTHON, f"true;{built};{built};;;;", command],
                          input=json.dumps(book), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    actions = json.loads(done.stdout)
    status = next(a for a in actions if a["func"] == "setValues" and a["sheet_position"] == 0)
    assert status["start_column"] == len(head)
    assert status["values"][0] == ["xlsheets status"] and status["values"][1][0].startswith("ERROR S301")
    assert [a["args"][1] for a in actions if a["func"] == "addSheet"] == ["Findings", "Summary"]


def test_the_parts_are_the_ones_xlsxwriter_writes_for_a_button_and_a_vba_project(built, tmp_path):
    """XlsxWriter's add_vba_project + insert_button on a sheet of the same geometry: the same VML,
    the same content types and relationship types."""
    import xlsxwriter
    wb = openpyxl.load_workbook(built)
    claims = wb["Claims"]
    ref = tmp_path / "ref.xlsm"
    book = xlsxwriter.Workbook(str(ref))
    sheet = book.add_worksheet("Claims")
    widths = {k: d.width for k, d in claims.column_dimensions.items() if d.customWidth}
    for c in range(claims.max_column):
        letter = openpyxl.utils.get_column_letter(c + 1)
        sheet.set_column_pixels(c, c, classic_template._pixels(widths.get(letter)))
    sheet.set_row(0, claims.row_dimensions[1].height)
    _, _, _, anchor = button(built)
    sheet.insert_button(0, anchor[0], {"macro": "SampleCall", "caption": "Validate sheet", "y_offset": anchor[3],
                                       "width": classic_template.BUTTON_WIDTH,
                                       "height": classic_template.BUTTON_HEIGHT})
    book.add_worksheet("Status (fast)")
    guide = book.add_worksheet("Instructions")
    text = wb["Instructions"]
    for c, letter in enumerate("AB"):
        guide.set_column_pixels(c, c, classic_template._pixels(text.column_dimensions[letter].width))
    guide.insert_button(0, 2, {"macro": "SampleCall", "caption": "Validate Claims",
                               "width": classic_template.BUTTON_WIDTH, "height": classic_template.BUTTON_HEIGHT})
    book.add_vba_project(io.BytesIO(classic_template.vba_project()[0]), is_stream=True)
    book.close()
    ours, theirs = parts(built), parts(ref)
    assert ours["xl/drawings/vmlDrawing1.vml"] == theirs["xl/drawings/vmlDrawing1.vml"]
    assert ours["xl/drawings/vmlDrawing2.vml"] == theirs["xl/drawings/vmlDrawing2.vml"]
    assert ours["xl/vbaProject.bin"] == theirs["xl/vbaProject.bin"]
    for part in ("[Content_Types].xml",):
        for entry in ('<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>',
                      '<Default Extension="vml" ContentType="application/vnd.openxmlformats-officedocument.vmlDrawing"/>',
                      'PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"'):
            assert entry in theirs[part].decode() and entry in ours[part].decode(), entry
    kinds = lambda p, name: sorted(rels(p[name]).values())
    for rels_part in ("xl/worksheets/_rels/sheet1.xml.rels", "xl/worksheets/_rels/sheet3.xml.rels"):
        assert kinds(ours, rels_part) == kinds(theirs, rels_part), rels_part
    vba = lambda p: [v for v in rels(p["xl/_rels/workbook.xml.rels"]).values() if "vbaProject" in v[0]]
    assert vba(ours) == vba(theirs)
    for p in (ours, theirs):
        assert re.search(rb'<worksheet [^>]*xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                         rb'relationships"[^>]*>.*<pageMargins [^>]*/>.*<legacyDrawing r:id="rId1"/></worksheet>',
                         p["xl/worksheets/sheet1.xml"], re.S)
        assert re.search(rb'<workbookPr [^>]*codeName="ThisWorkbook"', p["xl/workbook.xml"])


# --- what the command refuses -------------------------------------------------------------------
@pytest.mark.parametrize("name, says", [("claims.xlsx", "must be an .xlsm file"),
                                        ("March claims.xlsm", "must work as a Python module name"),
                                        ("2026claims.xlsm", "must work as a Python module name"),
                                        ("json.xlsm", "would hide Python's module json"),
                                        ("xlsheets.xlsm", "would hide Python's module xlsheets"),
                                        ("class.xlsm", "class is a Python keyword")])
def test_a_name_the_button_cannot_import_is_refused_in_plain_words(tmp_path, capsys, name, says):
    assert main(["template", "--classic", str(tmp_path / name)]) == 2
    assert says in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_the_plain_template_refuses_an_xlsm_and_names_the_option(tmp_path, capsys):
    assert main(["template", str(tmp_path / "claims.xlsm")]) == 2
    assert "--classic" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_nothing_is_replaced_without_force(tmp_path, capsys):
    (tmp_path / "claims.py").write_text("# mine\n")
    assert main(["template", "--classic", str(tmp_path / "claims.xlsm")]) == 2
    assert "claims.py already exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.py"]
    assert (tmp_path / "claims.py").read_text() == "# mine\n"
    assert main(["template", "--classic", "--force", str(tmp_path / "claims.xlsm")]) == 0
    assert "xlsheets.sheet_script" in (tmp_path / "claims.py").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.py", "claims.xlsm"]  # no temporary left


def test_without_xlwings_it_says_what_to_install(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xlwings" else real(name, *a))
    assert main(["template", "--classic", str(tmp_path / "claims.xlsm")]) == 2
    err = capsys.readouterr().err
    assert "needs xlwings installed" in err and 'pip install "xlsheets[excel]"' in err
    assert list(tmp_path.iterdir()) == []
