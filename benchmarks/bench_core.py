"""Validator throughput: claims per second through the batch API, from rows (parsing included).

A realistic mix: 4 diagnoses, 3 procedures, the documentation columns, about a quarter of the
claims with findings. Measured with 0, 1 and 5 payer plugins enabled (the example plugins in
plugins/), all in one run so the ratios compare like with like.

    python benchmarks/bench_core.py [--claims 50000] [--repeat 3]

Targets (issue 2): >= 30,000 claims/s on one core with no plugins; <= 20% slower with 5 plugins.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xlsheets.config import Config, PayerPolicy  # noqa: E402
from xlsheets.engine import Validator  # noqa: E402
from xlsheets.plugins import load_plugins  # noqa: E402

HEADER = ["claim_id", "patient_id", "dos", "payer", "pos", "dx1", "dx2", "dx3", "dx4",
          "cpt1", "cpt2", "cpt3", "laterality", "nerve_root_level", "symptom_weeks",
          "conservative_care_weeks", "trauma", "disc_disorder_confirmed", "radiating_pain",
          "slr_positive", "reflex_changes", "sensory_deficit", "motor_weakness", "telehealth",
          "functional_progress_weeks", "pt_visits_since_progress"]

# (diagnoses, procedures, documented level); clean combinations produce no finding at all.
CLEAN = [
    (["M51.17", "M47.817", "M79.18", "Z79.891"], ["64483-RT", "99214-25", "97110x2"], "L5-S1"),
    (["M51.16", "M48.062", "M79.18", "Z79.891"], ["62323", "99213", "97140"], "L4-L5"),
    (["M54.16", "M48.061", "M79.18", "Z79.891"], ["72148", "99204", "97530"], "L3-L4"),
    (["M79.18", "M54.50", "Z79.891", "I10"], ["20552", "99213", "97110"], "L4"),
]
FAULTY = [
    (["M54.17", "M51.17", "G89.29", "M79.18"], ["64483-RT", "99214-25", "97110"], "L5-S1"),  # X201
    (["M54.5", "M48.062", "M79.18", "Z79.891"], ["64484-RT", "99213", "97110"], "L4-L5"),  # C102/C103, C111
    (["M54.17", "M54.16", "M48.061", "M79.18"], ["62321-RT", "99213", "97140"], "L5-S1"),  # S303, D404
    (["M54.16", "M48.061", "M79.18", "Z79.891"], ["72148", "99204", "97530"], "L5-S1"),  # S302
]
PAYERS = ["Medicare", "Aetna", "BCBS", "UnitedHealthcare"]


def make_rows(n: int, seed: int = 7) -> list[list[object]]:
    rng = random.Random(seed)
    rows = []
    base = 46000  # Excel serial for 2025-12-09
    for i in range(n):
        dx, cpt, level = rng.choice(FAULTY) if rng.random() < 0.25 else rng.choice(CLEAN)
        rows.append([
            f"C{i:07d}", f"P{rng.randrange(n // 3 + 1):06d}", base + rng.randrange(120),
            rng.choice(PAYERS), "11", *dx, *cpt, rng.choice(["L", "R"]), level,
            float(rng.randrange(4, 12)), float(rng.randrange(6, 12)), "N", "N", "Y", "Y", "Y",
            rng.choice(["Y", "N"]), "N", "N", float(rng.randrange(1, 6)), float(rng.randrange(1, 9)),
        ])
    return rows


MEDICARE_PLUGINS = {"medicare_esi", "pt_progress", "trigger_point"}


def config_with(plugins: list[str], every_payer: bool = False) -> Config:
    """Plugins enabled as a practice would: Medicare's for Medicare, the others for commercial
    payers; or, with ``every_payer``, all of them for every claim (the worst case)."""
    cfg = Config(plugin_dirs=[ROOT / "plugins"] if plugins else [])
    if every_payer:
        cfg.plugins = list(plugins)
        return cfg
    medicare = [p for p in plugins if p in MEDICARE_PLUGINS]
    commercial = [p for p in plugins if p not in MEDICARE_PLUGINS]
    cfg.payers.append(PayerPolicy(name="medicare", match=["medicare"], plugins=medicare))
    for payer in PAYERS[1:]:
        cfg.payers.append(PayerPolicy(name=payer.lower(), match=[payer.lower()], plugins=commercial))
    return cfg


def measure(rows, plugins, repeat: int, every_payer: bool = False) -> tuple[float, float]:
    """Best claims/s of ``repeat`` runs, and the share of claims with findings."""
    validator = Validator(config_with(plugins, every_payer),
                          host=load_plugins([ROOT / "plugins"] if plugins else []))
    validator.validate_rows(HEADER, rows[:500])  # warm: code set loaded, plans built
    best = 0.0
    flagged = 0.0
    for _ in range(repeat):
        # CPU time of this process: "one core", and steady when other work shares the machine.
        start = time.process_time()
        results = validator.validate_rows(HEADER, rows)
        elapsed = time.process_time() - start
        best = max(best, len(results) / elapsed)
        flagged = sum(1 for r in results if r.findings) / len(results)
    return best, flagged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = make_rows(args.claims)
    available = sorted(p.stem for p in (ROOT / "plugins").glob("*.py") if not p.name.startswith("_"))
    scenarios = [("no plugins", [], False)]
    if available:
        one = ["medicare_esi"] if "medicare_esi" in available else available[:1]
        scenarios.append(("1 plugin", one, False))
        if len(available) > 1:
            n = min(5, len(available))
            scenarios.append((f"{n} plugins", available[:5], False))
            scenarios.append((f"{n}, all payers", available[:5], True))
    print(f"{args.claims:,} claims x {len(HEADER)} columns, best of {args.repeat}, one core")
    baseline = None
    for label, plugins, every_payer in scenarios:
        rate, flagged = measure(rows, plugins, args.repeat, every_payer)
        baseline = baseline or rate
        print(f"  {label:<12} {rate:>10,.0f} claims/s   {rate / baseline:5.2f}x of no plugins   "
              f"claims with findings: {flagged:.0%}   {', '.join(plugins)}")
    print("plugins enabled per payer as in the README (Medicare: medicare_esi, pt_progress, "
          "trigger_point; commercial: the others); 'all payers' enables every plugin for every claim")
    print("targets: >= 30,000 claims/s with no plugins; 5 plugins >= 0.80x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
