"""Help texts and messages of the `safeterraform` CLI (issue 17 item 10)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

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


def help_text(home: Path, command: str) -> list[str]:
    """The description of `safeterraform COMMAND --help` at 80 columns, line by line."""
    environment = {**tfharness.clean_env(home), "COLUMNS": "80", "NO_COLOR": "1"}
    result = subprocess.run(
        [SAFETERRAFORM, command, "--help"], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("╭"))
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:"))
    return [line.strip() for line in lines[start + 1 : end]]


@pytest.mark.parametrize("command", ["rollout", "check", "approve", "lint", "log", "doctor"])
def test_help_paragraphs_break_only_where_the_line_is_full(home: Path, command: str) -> None:
    """A help line ends early only at a paragraph's end: no docstring line breaks kept.
    Mutation: drop `prose` (rich keeps the docstring's breaks: `(unreadable` / `plan, ...`)."""
    lines = help_text(home, command)
    for line, following in itertools.pairwise(lines):
        if line and following and not line.endswith("."):
            first_word = following.split()[0]
            assert len(line) + 1 + len(first_word) > 78, f"{line!r} / {following!r}"


def test_rollout_help_keeps_the_config_section_name(home: Path) -> None:
    """Mutation: no markup escape in `prose` (rich eats `[hooks]` as a style tag)."""
    assert "[hooks] after_node" in " ".join(help_text(home, "rollout"))
