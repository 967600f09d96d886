"""The `safeterraform` command finds the real terraform exactly as the shim does, the install
record included (docs/design.md#finding-the-real-binary; issue 17 item 1): `check`, `doctor` and
`demo`, with another terraform first on PATH and with none on PATH at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from safeterraform import launcher
from tests import tfharness

SAFETERRAFORM = Path(sys.executable).with_name("safeterraform")

# An older terraform that cannot read a 1.15 plan, as in the report.
DECOY = """#!/bin/sh
echo "decoy $*" >> "{log}"
case "$1" in
  version) echo '{{"terraform_version": "1.11.4"}}'; echo "Terraform v1.11.4" ;;
  *) echo "plan file was created by Terraform 1.15.5, but this is 1.11.4" >&2; exit 1 ;;
esac
"""


@pytest.fixture()
def installed(
    tmp_path_factory: pytest.TempPathFactory, terraform_bin: Path, system_config: Path
) -> Path:
    """A launcher as install.sh writes it, recording the real terraform (which is on no PATH)."""
    return launcher.write(
        tmp_path_factory.mktemp("installed-bin"),
        "terraform",
        str(terraform_bin),
        system_config=str(system_config),
    )


@pytest.fixture()
def decoy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("decoy-bin")
    script = directory / "terraform"
    script.write_text(DECOY.format(log=directory / "ran.log"))
    script.chmod(0o755)
    return script


@pytest.fixture(params=["another-first", "none-on-path"])
def path_env(
    request: pytest.FixtureRequest,
    env: dict[str, str],
    installed: Path,
    decoy: Path,
    tools: Path,
) -> dict[str, str]:
    """PATH with the decoy before the shim, or with only the shim: never the real one."""
    if request.param == "another-first":
        path = f"{decoy.parent}:{installed.parent}:{tools}"
    else:
        path = f"{installed.parent}:{tools}"
    return {**env, "PATH": path, "COLUMNS": "400"}


def decoy_ran(decoy: Path) -> bool:
    return (decoy.parent / "ran.log").exists()


@pytest.fixture()
def made_through_the_shim(
    installed: Path, workdir: Path, env: dict[str, str], terraform_bin: Path
) -> Path:
    """The incident planned to a file by the recorded terraform."""
    tfharness.make_incident(terraform_bin, workdir, env)
    result = tfharness.run(
        terraform_bin, ["plan", "-input=false", "-out=plan.tfplan"], workdir, env
    )
    assert result.returncode == 0, result.stderr
    return workdir / "plan.tfplan"


def safeterraform(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAFETERRAFORM), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_shim_itself_runs_the_recorded_terraform(
    path_env: dict[str, str], installed: Path, workdir: Path, decoy: Path
) -> None:
    """The reference: what the shim runs is what the commands below must run."""
    result = tfharness.run(installed, ["version"], workdir, path_env)
    assert result.stdout.startswith("Terraform v1.15"), result.stderr
    assert not decoy_ran(decoy)


def test_check_reads_the_plan_with_the_recorded_terraform(
    path_env: dict[str, str], made_through_the_shim: Path, decoy: Path
) -> None:
    """Mutation: check resolving with realbin.find without the install record -> the decoy
    reads the plan ("created by Terraform 1.15.5") or "real terraform not found"."""
    result = safeterraform(["check", "plan.tfplan"], made_through_the_shim.parent, path_env)
    assert result.returncode == 2, result.stderr
    assert "talosctl reset --nodes 192.0.2.65" in result.stdout
    assert not decoy_ran(decoy)


def test_doctor_names_the_recorded_terraform(
    path_env: dict[str, str], workdir: Path, terraform_bin: Path, decoy: Path
) -> None:
    result = safeterraform(["doctor", "--chdir", str(workdir)], workdir, path_env)
    assert f"{terraform_bin} (from the path install.sh recorded)" in result.stdout, result.stdout
    assert str(decoy) not in result.stdout


def test_demo_runs_the_recorded_terraform(
    path_env: dict[str, str],
    terraform_bin: Path,
    decoy: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Mutation: demo.choose_terraform with realbin.find (no install record) -> the decoy
    first on PATH is chosen (and fails), or the embedded engine when none is on PATH."""
    temporary = tmp_path_factory.mktemp("demo-tmp")
    result = safeterraform(["demo"], temporary, {**path_env, "TMPDIR": str(temporary)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Terraform: {terraform_bin} (from the path install.sh recorded)" in result.stdout
    assert not decoy_ran(decoy)
