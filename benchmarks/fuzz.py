"""Long fuzz: random and adversarial rows through claims_from_rows and the Validator.

    python benchmarks/fuzz.py [--rows 1000000] [--seed 1] [--sheet-rows 40]

Each random "sheet" gets a random header (known columns, aliases, junk) and rows of values of
every kind a cell can hold (None, bools, huge ints, COM error codes, nan/inf, datetimes, dates,
times, unicode and control characters, Excel error text, Office.js error dicts, code-like text
with noise). Prints rows tried, rows/s and the distinct failures found: an exception escaping
the validator (type and the deepest xlsheets frame) or a rule crash reported as E102.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xlsheets.claims import claims_from_rows  # noqa: E402
from xlsheets.config import Config  # noqa: E402
from xlsheets.engine import Validator  # noqa: E402
from xlsheets.values import COM_ERRORS, EXCEL_ERRORS  # noqa: E402

HEADERS = ["Claim ID", "Patient ID", "DOS", "Payer", "POS", "Dx1", "Dx2", "Dx3", "Dx4", "Dx5",
           "Dx12", "Diagnosis codes", "ICD-10", "CPT1", "CPT2", "CPT3", "CPT", "Procedure", "Modifier",
           "Modifier1", "Modifier2", "Units", "Dx pointer", "Laterality", "Nerve root level",
           "Symptom weeks", "Conservative care weeks", "Trauma", "Disc disorder confirmed",
           "Spondylolisthesis confirmed", "Stenosis claudication", "Radiating pain", "SLR positive",
           "Reflex changes", "Sensory deficit", "Motor weakness", "Telehealth", "Myofascial pain",
           "Pain management encounter", "Red flags", "Imaging guidance", "Spinal region",
           "ESI levels", "Functional progress weeks", "PT visits since progress",
           "Plan of care days", "Provider", "Notes", "Unknown", ""]
LINE_LEVEL = ["Claim ID", "Patient ID", "DOS", "Payer", "CPT", "Modifier", "Units", "Dx pointer",
              "Dx1", "Dx2", "Dx3"]
CODES = ["M54.16", "M54.17", "M54.5", "M54.50", "M54.51", "M54.59", "M51.16", "M51.17", "M51.26",
         "M51.36", "M51.360", "M51.369", "M48.061", "M48.062", "M48.06", "M47.816", "M47.26",
         "M43.16", "M53.2X6", "M54.2", "M50.120", "M50.1", "S33.5XXA", "S32.009A", "S33.5",
         "G89.29", "G89.4", "M79.18", "M62.830", "Z98.1", "M96.1", "G83.4", "R29.2", "M54.10",
         "M5417", "m54.17", "M54", "Z00.00", "C79.51", "M80.08XA", "T84.84XA", "A00"]
PROCS = ["64483", "64484", "64479", "64480", "62321", "62323", "62320", "62322", "72148",
         "72149", "72158", "72131", "97110", "97140", "97112", "97530", "97161", "99213",
         "99214", "99204", "20552", "20553", "95886", "95910", "64490", "64635", "22612",
         "J1030", "G0283", "0275T", "00000", "ABCDE"]
MODS = ["RT", "LT", "50", "25", "59", "XS", "GP", "KX", "95", "GT", "26", "TC", "XX", ""]
TEXT_NOISE = ["\u00a0", "\u200b", "\t", "\n", "\r", "\x00", "\x1b", " ", ",", ";", "|", "-",
              "x", "*", "(", ")", "#", "=", "@", "'", '"', "\ufeff", "\u202e", "\U0001F600"]


def random_value(rnd: random.Random) -> object:
    k = rnd.randrange(24)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False])
    if k == 2:
        return rnd.randint(-10**30, 10**30)
    if k == 3:
        return rnd.choice(list(COM_ERRORS))
    if k == 4:
        return rnd.choice([float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 5e-324,
                           rnd.uniform(-1e6, 3e6), 46091.0, 46091.5, 72148.0])
    if k == 5:
        return dt.datetime(rnd.randint(1, 9999), rnd.randint(1, 12), rnd.randint(1, 28),
                           rnd.randrange(24), rnd.randrange(60))
    if k == 6:
        return dt.date(rnd.randint(1900, 2100), rnd.randint(1, 12), rnd.randint(1, 28))
    if k == 7:
        return dt.time(rnd.randrange(24), rnd.randrange(60))
    if k == 8:
        return rnd.choice(sorted(EXCEL_ERRORS))
    if k == 9:
        return {"type": "Error", "errorType": rnd.choice(["NotAvailable", "Value", None, ""]),
                "message": "x"}
    if k == 10:
        return "".join(chr(rnd.randrange(0, 0x3000)) for _ in range(rnd.randrange(0, 12)))
    if k == 11:
        return rnd.choice(["Y", "N", "yes", "no", "X", "1", "0", "TRUE", "maybe", "6 weeks",
                           "~4", "<2", "12", "-3", "N/A", "A", "AB", "1,2", "13", "M", "L", "R",
                           "B", "left", "L4-L5", "L5-S1", "03/10/2026", "2026-03-10", "31/02/2026",
                           "20260310", "10-Mar-2026", "46091", "Medicare", "Aetna", "02", "11", ""])
    if k in (12, 13, 14, 15):
        return _noisy(rnd, rnd.choice(CODES), rnd)
    if k in (16, 17, 18):
        proc = rnd.choice(PROCS)
        for _ in range(rnd.randrange(3)):
            proc += rnd.choice(["-", " ", ":"]) + rnd.choice(MODS)
        if rnd.random() < 0.2:
            proc += rnd.choice(["x2", "*3", "(2)", "X10", "units=4"])
        if rnd.random() < 0.2:
            proc += rnd.choice([", ", ";", "|", "\n"]) + rnd.choice(PROCS)
        return _noisy(rnd, proc, rnd)
    if k == 19:
        return " ".join(rnd.choice(CODES) for _ in range(rnd.randrange(1, 14)))
    if k == 20:
        return rnd.randint(0, 3_000_000)
    if k == 21:
        return float(rnd.choice(PROCS[:20]))
    if k == 22:
        return "x" * rnd.choice([1000, 40000])
    return rnd.choice(MODS)


def _noisy(rnd: random.Random, text: str, _r=None) -> str:
    if rnd.random() < 0.7:
        return text if rnd.random() < 0.5 else text.lower()
    chars = list(text)
    for _ in range(rnd.randrange(1, 4)):
        chars.insert(rnd.randrange(len(chars) + 1), rnd.choice(TEXT_NOISE))
    return "".join(chars)


def random_header(rnd: random.Random) -> list[object]:
    k = rnd.random()
    if k < 0.2:
        return list(LINE_LEVEL)
    if k < 0.9:
        return rnd.sample(HEADERS, rnd.randrange(1, 24))
    return [rnd.choice(HEADERS) if rnd.random() < 0.6 else random_value(rnd)
            for _ in range(rnd.randrange(0, 12))]


def random_rows(rnd: random.Random, header: list, count: int) -> list[list[object]]:
    rows = []
    claim = "C1"
    for i in range(count):
        width = len(header) + rnd.choice([0, 0, 0, -1, 2])
        row = [random_value(rnd) for _ in range(max(width, 0))]
        if rnd.random() < 0.5 and header and header[0] == "Claim ID" and row:
            if rnd.random() < 0.4:
                claim = f"C{i}"
            row[0] = claim  # runs of lines of the same claim (line-level grouping)
        if rnd.random() < 0.05:
            row = [None] * len(row)
        rows.append(row)
    return rows


def where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "xlsheets" in f.filename]
    f = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__} at {Path(f.filename).name}:{f.lineno} ({f.name})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sheet-rows", type=int, default=40)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    validator = Validator(Config())
    failures: Counter = Counter()
    examples: dict[str, str] = {}
    tried = 0
    start = time.perf_counter()
    last = start
    while tried < args.rows:
        header = random_header(rnd)
        rows = random_rows(rnd, header, min(args.sheet_rows, args.rows - tried))
        try:
            run = validator.run()
            results = [run.add(c) for c in claims_from_rows(header, rows, 2)]
            run.finish()
            for res in results:
                for f in res.findings:
                    if f.rule == "E102":
                        key = f"rule crash: {f.message.split('. This claim')[0][:160]}"
                        failures[key] += 1
                        if key not in examples:
                            examples[key] = repr((header, rows))[:400]
                            print(f"  new failure: {key}", file=sys.stderr)
        except Exception as exc:  # what the fuzz is looking for
            key = where(exc)
            failures[key] += 1
            if key not in examples:
                examples[key] = f"{exc!r}"[:200] + "  header=" + repr(header)[:200]
                print(f"  new failure: {key}: {exc!r}"[:300], file=sys.stderr)
        tried += len(rows)
        now = time.perf_counter()
        if now - last > 10:
            print(f"  {tried:,} rows, {tried / (now - start):,.0f} rows/s, "
                  f"{len(failures)} distinct failures", file=sys.stderr)
            last = now
    seconds = time.perf_counter() - start
    print(f"rows tried: {tried:,} in {seconds:.1f} s ({tried / seconds:,.0f} rows/s), seed {args.seed}")
    print(f"distinct failures: {len(failures)}")
    for key, count in failures.most_common():
        print(f"  {count:>7,}  {key}\n           e.g. {examples[key]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
