"""scripts/test.sh's own exit status, which CI reads (docs/testing.md): the script runs with
a stand-in virtualenv whose tools only record that they ran and exit as told, so every
path through it (checks, pytest, the mutants, its EXIT trap) is taken in well under a
second. The real tools are the suite itself; what is tested here is the script around them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "test.sh"

# One stand-in for python, ruff, mypy and shellcheck: it logs its name and arguments, and
# exits with $STUB_RC_<what> (0 when unset). `what` is the tool's name, or for python:
# pytest, mutants, pip or inline (-c).
STUB = """#!/bin/sh
name=$(basename "$0")
echo "$name $*" >> "$STUB_LOG"
case "$name $1 $2" in
  "python -m pytest"*) what=pytest ;;
  "python -m pip"*) what=pip ;;
  "python -c"*) what=inline ;;
  "python scripts/mutants.py"*) what=mutants ;;
  *) what=$name ;;
esac
if [ "$what" = inline ]; then mkdir -p "$SAFETERRAFORM_TEST_WHEELHOUSE"; fi
eval "rc=\\${STUB_RC_$what:-0}"
exit "$rc"
"""


def run_script(tmp_path: Path, *args: str, **rcs: int) -> tuple[int, str, list[str]]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    for tool in ("python", "ruff", "mypy", "shellcheck"):
        path = venv / "bin" / tool
        path.write_text(STUB)
        path.chmod(0o755)
    log = tmp_path / "log"
    log.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "SAFETERRAFORM_TEST_VENV": str(venv),
        "STUB_LOG": str(log),
        **{f"STUB_RC_{what}": str(rc) for what, rc in rcs.items()},
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )
    return result.returncode, result.stderr, log.read_text().splitlines()


def ran(log: list[str], what: str) -> bool:
    return any(line.startswith(what) for line in log)


def test_everything_passing_exits_zero_and_removes_its_wheelhouse(tmp_path: Path) -> None:
    rc, stderr, log = run_script(tmp_path)
    assert rc == 0, stderr
    assert ran(log, "python -m pytest") and ran(log, "python scripts/mutants.py")
    assert not list(tmp_path.glob("safeterraform-wheelhouse-*"))


@pytest.mark.parametrize("tool", ["ruff", "mypy", "shellcheck"])
def test_a_failing_check_fails_the_run_before_pytest(tmp_path: Path, tool: str) -> None:
    rc, stderr, log = run_script(tmp_path, **{tool: 1})
    assert rc == 1
    assert "a check failed" in stderr
    assert not ran(log, "python -m pytest")


def test_pytest_collecting_nothing_is_a_failure(tmp_path: Path) -> None:
    rc, stderr, log = run_script(tmp_path, pytest=5)
    assert rc == 1
    assert "ran no tests" in stderr
    assert not ran(log, "python scripts/mutants.py")


def test_failing_tests_fail_the_run_and_skip_the_mutants(tmp_path: Path) -> None:
    rc, _, log = run_script(tmp_path, pytest=1)
    assert rc == 1
    assert not ran(log, "python scripts/mutants.py")


def test_a_mutation_not_caught_fails_the_run(tmp_path: Path) -> None:
    rc, _, _ = run_script(tmp_path, mutants=1)
    assert rc == 1


def test_arguments_go_to_pytest_and_then_no_mutants_run(tmp_path: Path) -> None:
    rc, stderr, log = run_script(tmp_path, "-k", "something")
    assert rc == 0, stderr
    pytest_runs = [line for line in log if line.startswith("python -m pytest")]
    assert len(pytest_runs) == 1 and pytest_runs[0].endswith(" -k something")
    assert not ran(log, "python scripts/mutants.py")


def test_a_failing_pip_install_stops_the_run(tmp_path: Path) -> None:
    rc, _, log = run_script(tmp_path, pip=1)
    assert rc == 1
    assert not ran(log, "python -m pytest")
