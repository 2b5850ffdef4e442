"""Write lite/main.py and lite/requirements.txt: the files `xlsheets lite` writes, in the repo.

Run after changing xlsheets/lite.py or the version: ``python tools/make_lite.py``.
tests/test_lite.py fails while the files in lite/ differ from what `xlsheets lite` writes.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xlsheets import lite  # noqa: E402

if __name__ == "__main__":
    for path in lite.write(ROOT / "lite"):
        print(f"wrote {path.relative_to(ROOT)}")
