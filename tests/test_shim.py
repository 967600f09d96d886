"""The pass-through shim against the real Terraform: same output, same exit codes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from safeterraform import launcher
from tests import tfharness
from tests.conftest import Runner

SIMPLE_CONFIG = 'resource "terraform_data" "x" {\n  input = "hello"\n}\n'


def same(a: subprocess.CompletedProcess[str], b: subprocess.CompletedProcess[str]) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["version"],
        ["-version"],
        ["init", "-input=false"],
        ["validate"],
        ["plan", "-input=false"],
        ["no-such-command"],
        ["plan", "-no-such-flag"],
    ],
)
def test_pass_through_matches_real_terraform(
    args: list[str], shim: Runner, real: Runner, workdir: Path
) -> None:
    (workdir / "main.tf").write_text(SIMPLE_CONFIG)
    if args[0] not in ("version", "-version", "init"):
        assert real("init", "-input=false").returncode == 0
    same(shim(*args), real(*args))


def test_chdir_init_and_plan_match(shim: Runner, real: Runner, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.tf").write_text(SIMPLE_CONFIG)
    first = shim(f"-chdir={project}", "init", "-input=false", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "successfully initialized" in first.stdout
    same(
        shim(f"-chdir={project}", "plan", "-input=false", cwd=tmp_path),
        real(f"-chdir={project}", "plan", "-input=false", cwd=tmp_path),
    )


def test_stdin_reaches_terraform(shim: Runner, workdir: Path) -> None:
    (workdir / "main.tf").write_text('variable "name" {}\noutput "o" { value = var.name }\n')
    result = shim("console", input="1 + 41\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_exit_code_passes_through(shim: Runner, workdir: Path) -> None:
    (workdir / "main.tf").write_text("this is not hcl {")
    result = shim("validate")
    assert result.returncode == 1
    assert "Error" in result.stderr


def test_no_real_binary_is_127_with_one_line(
    tools: Path, shim_bin: Path, env: dict[str, str], workdir: Path
) -> None:
    env["PATH"] = f"{shim_bin.parent}:{tools}"
    result = tfharness.run(shim_bin, ["version"], workdir, env)
    assert result.returncode == 127
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "real terraform not found" in lines[0]
    assert shim_bin.parent.as_posix() in lines[0]
    assert "Traceback" not in result.stderr


def test_env_var_pointing_at_nothing_is_127(shim: Runner, env: dict[str, str]) -> None:
    env["SAFETERRAFORM_REAL_TERRAFORM"] = "/nonexistent/terraform"
    result = shim("version")
    assert result.returncode == 127
    assert "SAFETERRAFORM_REAL_TERRAFORM=/nonexistent/terraform" in result.stderr


def test_env_var_wins_over_path(
    tools: Path, shim: Runner, env: dict[str, str], terraform_bin: Path, tmp_path: Path
) -> None:
    decoy_dir = tmp_path / "decoy"
    decoy_dir.mkdir()
    decoy = decoy_dir / "terraform"
    decoy.write_text("#!/bin/sh\necho decoy\n")
    decoy.chmod(0o755)
    env["PATH"] = f"{env['PATH'].split(':')[0]}:{decoy_dir}:{tools}"
    assert shim("version").stdout == "decoy\n"
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(terraform_bin)
    assert shim("version").stdout.startswith("Terraform v1.15")


def _layout(env: dict[str, str], tools: Path, *dirs: Path) -> None:
    env["PATH"] = ":".join([*map(str, dirs), str(tools)])


def test_no_recursion_shim_twice_on_path(
    tools: Path, shim_bin: Path, terraform_bin: Path, env: dict[str, str], workdir: Path
) -> None:
    _layout(env, tools, shim_bin.parent, shim_bin.parent, terraform_bin.parent, shim_bin.parent)
    result = tfharness.run(shim_bin, ["version"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_no_recursion_symlinked_shim_and_second_copy(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "terraform").symlink_to(shim_bin)
    copy = launcher.write(tmp_path / "other-install", "terraform", None)
    _layout(env, tools, linked, copy.parent, shim_bin.parent, terraform_bin.parent, linked)
    result = tfharness.run(linked / "terraform", ["version"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_no_recursion_when_only_shims_on_path(
    tools: Path, shim_bin: Path, env: dict[str, str], workdir: Path, tmp_path: Path
) -> None:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "terraform").symlink_to(shim_bin)
    _layout(env, tools, linked, shim_bin.parent, linked)
    result = tfharness.run(
        shim_bin,
        ["version"],
        workdir,
        env,
    )
    assert result.returncode == 127


def test_version_manager_shim_is_the_real_binary(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    """A tfenv-style shim (a script that execs the selected version) counts as real."""
    tfenv_bin = tmp_path / "tfenv" / "bin"
    tfenv_bin.mkdir(parents=True)
    (tfenv_bin / "terraform").write_text(
        f'#!/usr/bin/env bash\nexport TFENV_SEEN=1\nexec "{terraform_bin}" "$@"\n'
    )
    (tfenv_bin / "terraform").chmod(0o755)
    _layout(env, tools, shim_bin.parent, tfenv_bin, shim_bin.parent)
    result = tfharness.run(shim_bin, ["version"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_tofu_name_wraps_tofu(
    tools: Path, env: dict[str, str], workdir: Path, tmp_path: Path
) -> None:
    tofu_shim = launcher.write(tmp_path / "shim", "tofu", None)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (real_dir / "tofu").write_text('#!/bin/sh\necho "real tofu $*"\n')
    (real_dir / "tofu").chmod(0o755)
    _layout(env, tools, tofu_shim.parent, real_dir)
    result = tfharness.run(tofu_shim, ["version"], workdir, env)
    assert result.stdout == "real tofu version\n"


def test_exec_leaves_no_python_parent(shim: Runner, env: dict[str, str], workdir: Path) -> None:
    """After exec the process is terraform itself: its parent is our test, not a Python."""
    probe = workdir / "probe"
    probe.mkdir()
    fake = probe / "terraform"
    fake.write_text('#!/bin/sh\necho "$PPID $$"\n')
    fake.chmod(0o755)
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(fake)
    process = subprocess.run(
        [env["PATH"].split(":")[0] + "/terraform", "version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    parent, _ = process.stdout.split()
    assert int(parent) == os.getpid()
