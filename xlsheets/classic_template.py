"""``xlsheets template --classic OUT.xlsm``: the claims template with a "Validate sheet" button,
for classic xlwings on Windows (``templates/claims.xlsm`` and ``templates/claims.py``).

openpyxl, which writes the template, can carry neither a VBA project nor a form button, so the
workbook it writes is finished here, part by part, into a macro-enabled one. The parts added and
changed are the ones XlsxWriter writes for ``add_vba_project`` and ``insert_button``:

* the VBA project is xlwings' own, from the ``quickstart_standalone.xlsm`` of the installed
  xlwings (BSD 3-clause; the licence is at the top of its ``xlwings`` module). Its ``RunPython``
  needs no add-in, and its macro ``SampleCall`` runs ``import <workbook name>; <workbook name>.main()``;
* so a companion module ``<workbook name>.py`` sits next to the workbook, and its ``main`` is
  xlsheets' sheet script (:func:`xlsheets.sheet_script.main`). The workbook's name must
  therefore be a Python module name;
* a form-control button on the Claims sheet, assigned to ``SampleCall``: a legacy VML drawing,
  in row 1 one column right of the Status column, so it covers neither the table nor the
  "xlsheets status" column the script writes there; and the same button ("Validate Claims")
  at the top of the Instructions sheet, beside its text, where a user sees it without
  scrolling (from there the script checks the Claims sheet).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import keyword
import re
import sys
import zipfile
from pathlib import Path

__all__ = ["ClassicTemplateError", "MACRO", "BUTTON_CAPTION", "vba_project", "companion_source",
           "module_name_problem", "macro_enabled", "button_vml", "save_classic"]

MACRO = "SampleCall"  # the macro of xlwings' standalone quickstart workbook
BUTTON_CAPTION = "Validate sheet"
INSTRUCTIONS_CAPTION = "Validate Claims"  # the same macro, from the Instructions sheet
VBA_SOURCE = "quickstart_standalone.xlsm"
VBA_CONTENT_TYPE = "application/vnd.ms-office.vbaProject"
MACRO_WORKBOOK = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
PLAIN_WORKBOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
VML_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"
VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
VML_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/vmlDrawing"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# Modules the companion would hide if it had their name (its folder goes first on sys.path).
_TAKEN = {"xlsheets", "xlwings", "openpyxl", "xlsxwriter", "pluggy", "et_xmlfile", "python_calamine"}
BUTTON_WIDTH, BUTTON_HEIGHT = 128, 30  # pixels: two default columns; fits in the 60-pixel header row


class ClassicTemplateError(Exception):
    """The classic template cannot be written; the message says why and what to do."""


def vba_project() -> tuple[bytes, str]:
    """(xl/vbaProject.bin of xlwings' standalone quickstart workbook, the xlwings version)."""
    spec = importlib.util.find_spec("xlwings")
    if spec is None or not spec.origin:
        raise ClassicTemplateError(
            "the classic template needs xlwings installed: its Validate sheet button runs "
            "through xlwings' VBA module, which is copied from the xlwings package. Install it "
            "(pip install \"xlsheets[excel]\", or pip install \".[excel]\" in a clone of xlsheets) "
            "and run this again, or use templates/claims.xlsm "
            "and templates/claims.py from the xlsheets repository.")
    source = Path(spec.origin).parent / VBA_SOURCE
    try:
        with zipfile.ZipFile(source) as book:
            project = book.read("xl/vbaProject.bin")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ClassicTemplateError(
            f"the installed xlwings has no VBA project to copy ({source}: {exc}); reinstall "
            "xlwings (pip install --force-reinstall xlwings) and run this again.") from None
    try:
        version = importlib.metadata.version("xlwings")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return project, version


def module_name_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the classic template's name, or None: its button imports a module
    of the workbook's name, so the name must be one and must not hide another module."""
    stem = path.stem
    if keyword.iskeyword(stem):
        return (f"the classic template cannot be called {path.name}: its button runs  import {stem}, "
                f"and {stem} is a Python keyword; choose another name, e.g. claims.xlsm")
    if not stem.isidentifier() or not stem.isascii():
        return (f"the classic template's name must work as a Python module name, because its "
                f"button runs  import {stem}: letters, digits and underscores, not starting with "
                f"a digit, e.g. claims.xlsm or march_claims.xlsm (got {path.name})")
    if stem in sys.stdlib_module_names or stem in _TAKEN:
        return (f"a classic template called {path.name} needs a {stem}.py beside it, which would "
                f"hide Python's module {stem}; choose another name, e.g. claims.xlsm")
    return None


def companion_source(module: str) -> str:
    """The companion module the workbook's button imports (``<module>.py``)."""
    return (
        f'"""The "Validate sheet" button of {module}.xlsm runs this file.\n\n'
        f"The button's macro ({MACRO}, in the workbook's Module1, beside xlwings' VBA module) runs\n"
        f"``import {module}; {module}.main()`` with the Python that xlwings is set to use. Keep this\n"
        f"file next to the workbook, under the workbook's name: rename both together\n"
        f"(march_claims.xlsm and march_claims.py). Written by  xlsheets template --classic.\n"
        f'"""\n'
        f"from xlsheets.sheet_script import main\n\n"
        f'__all__ = ["main"]\n')


def _pixels(width: float | None) -> int:
    """A column's width in pixels as Excel draws it (Calibri 11: 7-pixel digits; 64 by default)."""
    if width is None:
        return 64
    return int((256 * width + int(128 / 7)) / 256 * 7)


def button_vml(column: int, left: int, top: int, caption: str = BUTTON_CAPTION, macro: str = MACRO,
               drawing: int = 1, row_heights: tuple[int, ...] = ()) -> str:
    """The VML drawing of one form button (as XlsxWriter's ``insert_button`` writes it): its top
    left corner in ``column`` (0-based) of row 1, ``left`` pixels from the sheet's left edge,
    ``top`` pixels down the first row. ``drawing`` numbers the sheet's drawing in the workbook
    (1, 2, ...): shape IDs are unique per workbook, 1024 per drawing. ``row_heights``: the first
    rows' heights in pixels (20, the default, for the others), for the row the bottom edge is in."""
    columns = BUTTON_WIDTH // 64  # it spans default-width columns only
    style = (f"position:absolute;margin-left:{left * 0.75:g}pt;margin-top:{top * 0.75:g}pt;"
             f"width:{BUTTON_WIDTH * 0.75:g}pt;height:{BUTTON_HEIGHT * 0.75:g}pt;z-index:1;mso-wrap-style:tight")
    bottom_row, bottom = 0, top + BUTTON_HEIGHT
    while bottom > (row_heights[bottom_row] if bottom_row < len(row_heights) else 20):
        bottom -= row_heights[bottom_row] if bottom_row < len(row_heights) else 20
        bottom_row += 1
    anchor = (f"{column}, 0, 0, {top}, {column + columns}, {BUTTON_WIDTH - 64 * columns}, "
              f"{bottom_row}, {bottom}")
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
        f'<o:idmap v:ext="edit" data="{drawing}"/></o:shapelayout><v:shapetype id="_x0000_t201" '
        'coordsize="21600,21600" o:spt="201" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
        '<v:path shadowok="f" o:extrusionok="f" strokeok="f" fillok="f" o:connecttype="rect"/>'
        '<o:lock v:ext="edit" shapetype="t"/></v:shapetype>'
        f'<v:shape id="_x0000_s{1024 * drawing + 1}" type="#_x0000_t201" '
        f'style="{style}" o:button="t" fillcolor="buttonFace [67]" strokecolor="windowText [64]" '
        'o:insetmode="auto"><v:fill color2="buttonFace [67]" o:detectmouseclick="t"/>'
        '<o:lock v:ext="edit" rotation="t"/><v:textbox style="mso-direction-alt:auto" o:singleclick="f">'
        f'<div style="text-align:center"><font face="Calibri" size="220" color="#000000">{caption}</font>'
        '</div></v:textbox><x:ClientData ObjectType="Button">'
        f"<x:Anchor>{anchor}</x:Anchor><x:PrintObject>False</x:PrintObject><x:AutoFill>False</x:AutoFill>"
        f"<x:FmlaMacro>[0]!{macro}</x:FmlaMacro><x:TextHAlign>Center</x:TextHAlign>"
        "<x:TextVAlign>Center</x:TextVAlign></x:ClientData></v:shape></xml>")


def _once(text: str, old: str, new: str, part: str) -> str:
    if text.count(old) != 1:  # openpyxl wrote something else than this module knows: say so
        raise ClassicTemplateError(f"unexpected {part} from openpyxl (looked for {old!r} once)")
    return text.replace(old, new)


def _next_rel_id(rels: str) -> str:
    used = {int(n) for n in re.findall(r'Id="rId(\d+)"', rels)}
    return f"rId{max(used, default=0) + 1}"


def _add_rel(rels: str | None, kind: str, target: str) -> tuple[str, str]:
    rels = rels or ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
                    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>')
    rid = _next_rel_id(rels)
    return _once(rels, "</Relationships>",
                 f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/></Relationships>', "rels"), rid


def _sheet_part(parts: dict[str, bytes], sheet: str) -> str:
    """The zip name of the worksheet called ``sheet``."""
    import xml.etree.ElementTree as ET
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    workbook = ET.fromstring(parts["xl/workbook.xml"])
    rid = next(s.get(f"{{{R_NS}}}id") for s in workbook.iter(f"{main}sheet") if s.get("name") == sheet)
    rels = ET.fromstring(parts["xl/_rels/workbook.xml.rels"])
    target = next(r.get("Target") for r in rels if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _add_drawing(parts: dict[str, bytes], sheet: str, drawing: str, vml: str) -> None:
    """Put the VML drawing ``vml`` (part name ``drawing``, e.g. vmlDrawing1.vml) on the worksheet
    called ``sheet``: the part, the sheet's relationship to it and its <legacyDrawing>."""
    parts[f"xl/drawings/{drawing}"] = vml.encode()
    sheet_part = _sheet_part(parts, sheet)
    folder, name = sheet_part.rsplit("/", 1)
    rels_part = f"{folder}/_rels/{name}.rels"
    old = parts.get(rels_part)
    rels, rid = _add_rel(old.decode() if old else None, VML_REL, f"../drawings/{drawing}")
    parts[rels_part] = rels.encode()
    xml = parts[sheet_part].decode()
    if "<legacyDrawing " in xml:
        raise ClassicTemplateError(f"the {sheet} sheet already has a legacy drawing (comments)")
    root = re.search(r"<worksheet [^>]*>", xml).group(0)
    if "xmlns:r=" not in root:
        xml = xml.replace(root, root[:-1].rstrip("/ ") + f' xmlns:r="{R_NS}">', 1)
    # CT_Worksheet order: legacyDrawing comes before these, after everything else.
    later = re.search(r"<(legacyDrawingHF|picture|oleObjects|controls|webPublishItems|tableParts|extLst)[ >]|</worksheet>", xml)
    xml = xml[:later.start()] + f'<legacyDrawing r:id="{rid}"/>' + xml[later.start():]
    parts[sheet_part] = xml.encode()


def macro_enabled(xlsx: bytes, vba: bytes, drawings: dict[str, str]) -> bytes:
    """The workbook ``xlsx`` (as openpyxl wrote it) made macro-enabled: the VBA project ``vba``
    added, and each drawing of ``drawings`` (sheet name -> the VML of its button, numbered in
    this order as button_vml's ``drawing``) on its sheet."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    types = parts["[Content_Types].xml"].decode()
    types = _once(types, f'ContentType="{PLAIN_WORKBOOK}"', f'ContentType="{MACRO_WORKBOOK}"', "content types")
    defaults = f'<Default Extension="bin" ContentType="{VBA_CONTENT_TYPE}"/>'
    if 'Extension="vml"' not in types:
        defaults += f'<Default Extension="vml" ContentType="{VML_CONTENT_TYPE}"/>'
    head = re.search(r"<Types [^>]*>", types).group(0)
    types = types.replace(head, head + defaults, 1)
    parts["[Content_Types].xml"] = types.encode()
    rels, _ = _add_rel(parts["xl/_rels/workbook.xml.rels"].decode(), VBA_REL, "vbaProject.bin")
    parts["xl/_rels/workbook.xml.rels"] = rels.encode()
    parts["xl/vbaProject.bin"] = vba
    for number, (sheet, vml) in enumerate(drawings.items(), 1):
        _add_drawing(parts, sheet, f"vmlDrawing{number}.vml", vml)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for part, data in parts.items():  # fixed times: the same template, the same bytes
            info = zipfile.ZipInfo(part, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def classic_workbook(wb, vba: bytes) -> bytes:
    """The template workbook ``wb`` (openpyxl, from ``build_template``) as .xlsm bytes, with the
    VBA project, the button on the Claims sheet, and the same button at the top of the
    Instructions sheet, the one a user sees without scrolling (the script checks the Claims
    sheet when the active sheet has no claims table)."""
    from .template import CLAIMS_SHEET, INSTRUCTIONS_SHEET
    # The VBA project's document modules are ThisWorkbook and Sheet1, Sheet2...: Excel ties them
    # to the workbook and sheets by these code names (XlsxWriter sets them the same way).
    wb.code_name = "ThisWorkbook"
    for number, ws in enumerate(wb.worksheets, 1):
        ws.sheet_properties.codeName = f"Sheet{number}"
    claims = wb[CLAIMS_SHEET]
    # The button's first column, 0-based: Status is column max_column (1-based), and the one
    # after it stays free for the script's "xlsheets status" column.
    column = claims.max_column + 1
    header = claims.row_dimensions[1].height or 15
    top = max((round(header / 0.75) - BUTTON_HEIGHT) // 2, 0)
    guide = 2  # on the Instructions sheet: right of its two text columns, beside the title
    instructions = wb[INSTRUCTIONS_SHEET]
    plain = io.BytesIO()
    wb.save(plain)
    return macro_enabled(plain.getvalue(), vba, {
        CLAIMS_SHEET: button_vml(column, _left_of(claims, column), top, drawing=1,
                                 row_heights=(round(header / 0.75),)),
        INSTRUCTIONS_SHEET: button_vml(guide, _left_of(instructions, guide), 0, caption=INSTRUCTIONS_CAPTION,
                                       drawing=2)})


def _left_of(ws, column: int) -> int:
    """Pixels from the sheet's left edge to ``column`` (0-based): the widths of the columns before it."""
    widths = {letter: dim.width for letter, dim in ws.column_dimensions.items() if dim.customWidth}
    return sum(_pixels(widths.get(_letter(c))) for c in range(1, column + 1))


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(index)


def companion_path(out: Path) -> Path:
    return out.with_name(out.stem + ".py")


def save_classic(wb, out: Path, vba: bytes, replace: bool) -> Path:
    """Write the classic template to ``out`` and its companion module beside it, each atomically;
    FileExistsError when either exists and ``replace`` is false. Returns the companion's path."""
    from .io import atomic_output
    module = companion_path(out)
    data = classic_workbook(wb, vba)
    with atomic_output(module, replace=replace) as tmp_module, atomic_output(out, replace=replace) as tmp:
        tmp.write_bytes(data)
        tmp_module.write_text(companion_source(out.stem), encoding="utf-8", newline="\n")
    return module
