"""Help texts and messages of the `safeterraform` CLI (issue 17 item 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from safeterraform import audit
from tests import tfharness

SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")


def test_check_help_lists_every_exit_code(home: Path) -> None:
    environment = {**tfharness.clean_env(home), "COLUMNS": "80"}
    result = subprocess.run(
        [SAFETERRAFORM, "check", "--help"], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.replace("│", " ").split())
    assert (
        "Exit codes: 0 nothing destructive, 2 destructive changes found, 1 error "
        "(unreadable plan, no terraform)." in help_text
    )


def test_log_help_lists_the_verdicts(home: Path) -> None:
    environment = {**tfharness.clean_env(home), "COLUMNS": "80"}
    result = subprocess.run(
        [SAFETERRAFORM, "log", "--help"], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    words = set(result.stdout.replace(",", " ").replace(".", " ").split())
    assert set(audit.VERDICTS) <= words
