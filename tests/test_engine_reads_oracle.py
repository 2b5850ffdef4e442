"""``reads`` is a promise each built-in rule makes; this holds every one of them to it.

The same claims are validated with reuse (the normal engine) and without it (a profiling
validator runs every rule on every claim): the findings must be the same, claim by claim. The
claims are every row of the rules' own cases files plus varied spine claims in which codes,
dates and documentation columns are shuffled, so equal codes meet different documentation.
"""
import random
from pathlib import Path

import pytest

from xlsheets import testing
from xlsheets.config import Config
from xlsheets.engine import Validator

ROOT = Path(__file__).parent.parent
CASES = [(p, None) for p in sorted((ROOT / "tests" / "cases").glob("*.toml"))] + [
    (p, p.with_name(p.name.replace(".cases.toml", ".py"))) for p in sorted((ROOT / "plugins").glob("*.cases.toml"))]
PLUGINS = ["commercial_mri", "m54_coreporting", "medicare_esi", "pt_progress", "trigger_point"]
DX = ["M54.17", "M54.16", "M51.16", "M51.17", "M54.5", "M54.50", "M47.816", "G89.29", "M48.062",
      "M54.1", "M54.40", "M79.18", "M43.16", "S34.21XA", "M51.36", "G55", "M54.19X", "M54.16"]
CPT = ["99213", "72148", "64483-RT", "64483", "64484-LT", "62321", "62323-RT", "20552", "95886",
       "97110", "99201", "7214", "64480"]
YN = ["Y", "N", None]
HEADER = ["claim_id", "patient_id", "dos", "payer", "dx1", "dx2", "dx3", "cpt1", "cpt2", "laterality",
          "nerve_root_level", "symptom_weeks", "conservative_care_weeks", "red_flags", "radiating_pain",
          "slr_positive", "reflex_changes", "sensory_deficit", "motor_weakness", "trauma",
          "disc_disorder_confirmed", "telehealth", "spondylolisthesis_confirmed"]


def shuffled_rows(n=3000, seed=11):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append([f"C{i}", f"P{rng.randrange(50)}", rng.choice(["2022-01-10", "2026-03-10", "2025-01-10", None]),
                     rng.choice(["Medicare", "Aetna"]), *rng.sample(DX, 3), *rng.sample(CPT, 2),
                     rng.choice(["L", "R", "", None]), rng.choice(["L4-L5", "L5-S1", "S1", "", None]),
                     rng.choice([2.0, 8.0, 16.0, None]), rng.choice([1.0, 5.0, 7.0, None]),
                     *(rng.choice(YN) for _ in range(10))])
    return rows


def same_findings(header, rows, config=None, host=None):
    reused = Validator(config or Config(), host=host).validate_rows(header, rows)
    every_time = Validator(config or Config(), host=host, profile=True).validate_rows(header, rows)
    assert len(reused) == len(every_time) > 0
    for a, b in zip(reused, every_time):
        assert a.findings == b.findings, f"row {a.row}: {a.findings} != {b.findings}"


def test_reuse_changes_no_finding_on_varied_claims():
    rows = shuffled_rows()
    same_findings(HEADER, rows + rows[::-1])  # each claim once with cold and once with warm reuse


def test_reuse_changes_no_finding_with_the_example_plugins():
    rows = shuffled_rows(seed=12)
    for row in rows:
        row[7] = random.Random(row[0]).choice(["97110", "97014", "72149", "64479-50", "62322"])
    config = Config(plugin_dirs=[ROOT / "plugins"], plugins=PLUGINS)
    same_findings(HEADER + ["pt_visits_since_progress", "functional_progress_weeks", "esi_levels"],
                  [row + [12.0 if i % 3 else None, 7.0, 3.0 if i % 4 == 0 else None]
                   for i, row in enumerate(rows + rows[::-1])], config)


@pytest.mark.parametrize("path,plugin", CASES, ids=[p.name for p, _ in CASES])
def test_reuse_changes_no_finding_on_the_rule_cases(path, plugin):
    data = testing._read(path)
    config = testing._config(data, path, plugin)
    host = testing._host(config, plugin, path)
    for case in data["case"]:
        rows = testing._case_rows(case)
        header, values = testing._sheet(rows, testing._without(data.get("defaults", {}), case.get("absent", []), rows))
        # Each row again under another claim ID (and patient): the second time from reused findings.
        again = [[f"{v}-again" if h.lower().replace(" ", "_") in ("claim_id", "patient_id") and v else v
                  for h, v in zip(header, row)] for row in values]
        same_findings(header, values + again, config, host)
