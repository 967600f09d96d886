"""Regenerate tests/fixtures/backends/: what `terraform init` writes for each backend kind.

.venv/bin/python scripts/make_backend_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.backend_fixtures import generate  # noqa: E402

if __name__ == "__main__":
    for reason in generate(ROOT / "tests" / "fixtures" / "backends"):
        print(f"skipped {reason}", file=sys.stderr)
