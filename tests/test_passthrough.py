"""Outside production the shim is invisible: stdin, prompts and exit codes are terraform's."""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from tests.conftest import Runner
from tests.test_guard import finish, spawn

CONFIG = 'resource "terraform_data" "x" {\n  input = "%s"\n}\n'


def test_interactive_apply_answered_yes_applies(
    workdir: Path, shim_bin: Path, env: dict[str, str], real: Runner
) -> None:
    (workdir / "main.tf").write_text(CONFIG % "one")
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "dev").returncode == 0
    child = spawn(shim_bin, ["apply"], workdir, env)
    child.expect("Enter a value:")  # terraform's own prompt, not ours
    child.sendline("yes")
    child.expect("Apply complete! Resources: 1 added")
    assert finish(child) == 0
    assert (workdir / "terraform.tfstate.d" / "dev" / "terraform.tfstate").is_file()


def test_interactive_apply_answered_no_is_terraforms_cancel(
    workdir: Path, shim_bin: Path, env: dict[str, str], real: Runner
) -> None:
    (workdir / "main.tf").write_text(CONFIG % "one")
    assert real("init", "-input=false").returncode == 0
    child = spawn(shim_bin, ["apply"], workdir, env)
    child.expect("Enter a value:")
    child.sendline("no")
    child.expect("Apply cancelled")
    assert finish(child) == 1


@pytest.mark.parametrize(("state", "expected"), [("same", 0), ("changed", 2), ("broken", 1)])
def test_detailed_exitcode_passes_through(
    state: str, expected: int, workdir: Path, shim: Runner, real: Runner
) -> None:
    (workdir / "main.tf").write_text(CONFIG % "one")
    assert real("init", "-input=false").returncode == 0
    assert real("apply", "-auto-approve", "-input=false").returncode == 0
    if state == "changed":
        (workdir / "main.tf").write_text(CONFIG % "two")
    if state == "broken":
        (workdir / "main.tf").write_text('resource "terraform_data" "x" {\n')
    result = shim("plan", "-detailed-exitcode", "-input=false")
    assert result.returncode == expected, result.stderr
    assert result.returncode == real("plan", "-detailed-exitcode", "-input=false").returncode


def test_dev_workspace_auto_approve_applies(workdir: Path, shim: Runner, real: Runner) -> None:
    (workdir / "main.tf").write_text(CONFIG % "one")
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "dev").returncode == 0
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "Apply complete! Resources: 1 added" in result.stdout


def test_pexpect_is_a_real_terminal(workdir: Path, shim_bin: Path, env: dict[str, str]) -> None:
    """Guard against a harness that would silently not be a TTY."""
    child = pexpect.spawn("/bin/sh", ["-c", "test -t 0 && echo tty"], env=env, encoding="utf-8")
    child.expect("tty")
    child.expect(pexpect.EOF)
