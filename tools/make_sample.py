"""Write templates/sample_claims.xlsx: realistic spine claims, clean and faulty, on the template layout.

Each faulty claim is built to trip one rule family member (C code validity, X instructional
notes, S spine coding, D documentation), so ``xlsheets validate templates/sample_claims.xlsx``
shows every kind of finding; the clean claims show what passes. Claim IDs say what to expect
(``C-OK-...`` clean, ``C-S301-...`` trips S301). Run: python tools/make_sample.py [OUT]
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xlsheets.template import COLUMNS, build_template  # noqa: E402

D = dt.datetime
BASE = dict(payer="Aetna", pos="11", dos=D(2026, 3, 10))

# (expected, fields); fields use the canonical column names. Y/N flags left out are blank.
CLAIMS: list[tuple[str, dict]] = [
    ("OK", dict(dx1="M51.17", cpt1="99214", disc_disorder_confirmed="Y", symptom_weeks=3)),
    ("OK", dict(payer="Medicare", dx1="M51.16", cpt1="64483-RT", laterality="R",
                nerve_root_level="L4-L5", conservative_care_weeks=6, symptom_weeks=8,
                disc_disorder_confirmed="Y")),
    ("OK", dict(dx1="M54.16", cpt1="72148", laterality="L", nerve_root_level="L4-L5",
                conservative_care_weeks=7, symptom_weeks=9, radiating_pain="Y", slr_positive="Y",
                reflex_changes="Y")),
    ("OK", dict(payer="Cigna", dx1="M54.50", cpt1="97110x2", cpt2="97140")),
    ("OK", dict(payer="UnitedHealthcare", dx1="M79.18", cpt1="20552", myofascial_pain="Y")),
    ("C101", dict(dx1="M54.19X", cpt1="99213")),
    ("C102", dict(dx1="M54.1", cpt1="99213")),
    ("C103", dict(dos=D(2022, 1, 10), dx1="M54.5", cpt1="99213")),
    ("C104", dict(dx1="S34.21", cpt1="99284", trauma="Y")),
    ("C105", dict(dx1="M51.16", cpt1="7214")),
    ("C106", dict(dx1="M51.16", cpt1="99201")),
    ("C107", dict(dx1="M51.16", dx2="M51.16", cpt1="99213")),
    ("C109", dict(dos="13/45/2026", dx1="M51.16", cpt1="99213")),
    ("C111", dict(payer="Medicare", dx1="M51.16", cpt1="64484-RT", laterality="R",
                  nerve_root_level="L4-L5", conservative_care_weeks=6, symptom_weeks=6)),
    ("C112", dict(cpt1="99213")),
    ("C113", dict(dx1="M51.16")),
    ("X201", dict(dx1="M54.17", dx2="M51.17", cpt1="99214")),
    ("X203", dict(dx1="G99.2", dx2="M47.16", cpt1="99214")),
    ("S301", dict(dx1="M54.17", cpt1="99214", disc_disorder_confirmed="Y")),
    ("S302", dict(dx1="M54.17", cpt1="99214", nerve_root_level="L4-L5")),
    ("S303", dict(dx1="M54.16", dx2="M54.17", cpt1="99214")),
    ("S304", dict(dx1="M54.16", cpt1="99284", trauma="Y")),
    ("S305", dict(dx1="M51.16", cpt1="99214", symptom_weeks=16)),
    ("S306", dict(dx1="G89.29", dx2="M51.16", cpt1="99214", pain_management_encounter="N")),
    ("S307", dict(dx1="M47.816", dx2="M54.16", cpt1="99214")),
    ("S308", dict(dx1="M54.16", cpt1="99214", spondylolisthesis_confirmed="Y")),
    ("S309", dict(dx1="M54.40", cpt1="99213", laterality="R")),
    ("D401", dict(dx1="M51.16", cpt1="72148", conservative_care_weeks=2, symptom_weeks=3)),
    ("D402", dict(payer="Medicare", dx1="M54.17", cpt1="64483-LT", cpt2="64484-LT", laterality="L",
                  nerve_root_level="L5-S1", conservative_care_weeks=6, symptom_weeks=6, radiating_pain="Y")),
    ("D403", dict(pos="10", dx1="M51.16", cpt1="72148", telehealth="Y", conservative_care_weeks=8)),
    ("D404", dict(dx1="M51.16", cpt1="64483", nerve_root_level="L4-L5", conservative_care_weeks=6,
                  symptom_weeks=6)),
    ("D405", dict(dx1="M51.16", cpt1="64483-RT", laterality="R", conservative_care_weeks=6,
                  symptom_weeks=6)),
    ("D406", dict(dx1="M54.50", cpt1="20553")),
]


def sample_rows() -> list[list]:
    names = [name for name, _kind, _doc in COLUMNS]
    rows = []
    for n, (expected, fields) in enumerate(CLAIMS, 1):
        values = {**BASE, **fields, "claim_id": f"C-{expected}-{n:03d}", "patient_id": f"P{n:04d}"}
        rows.append([values.get(name) for name in names])
    return rows


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "templates" / "sample_claims.xlsx"
    build_template(sample_rows(), data_rows=len(CLAIMS)).save(out)
    print(f"wrote {out} ({len(CLAIMS)} claims)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
