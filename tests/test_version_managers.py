"""Beside version managers (stand-in shims): tfenv/tenv scripts are the real binary for us,
a tfswitch symlink resolves to the version it points at, and nothing recurses."""

from __future__ import annotations

from pathlib import Path

from safeterraform import realbin
from tests import tfharness


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


def _tfswitch(tmp_path: Path, terraform_bin: Path) -> Path:
    """tfswitch's layout: ~/bin/terraform, a symlink into ~/.terraform.versions."""
    version = tmp_path / ".terraform.versions" / "terraform_1.15.5"
    version.parent.mkdir()
    version.symlink_to(terraform_bin)
    link_dir = tmp_path / "bin"
    link_dir.mkdir()
    (link_dir / "terraform").symlink_to(version)
    return link_dir


def test_tfenv_shim_is_the_real_binary(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    # tfenv's bin/terraform is a bash script that picks a version and execs it
    versions = tmp_path / "tfenv" / "versions" / "1.15.5"
    versions.mkdir(parents=True)
    (versions / "terraform").symlink_to(terraform_bin)
    tfenv = _script(
        tmp_path / "tfenv" / "bin" / "terraform",
        f'#!/usr/bin/env bash\nexec "{versions}/terraform" "$@"\n',
    )
    env["PATH"] = f"{shim_bin.parent}:{tfenv.parent}:{tools}"
    found = realbin.find("terraform", env, str(shim_bin))
    assert found.path == str(tfenv) and found.source == "PATH"
    result = tfharness.run(shim_bin, ["version"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_tenv_proxy_is_the_real_binary(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    # tenv puts proxies for several tools in one dir; the terraform proxy reads TENV_ROOT
    root = tmp_path / "tenv-root" / "Terraform" / "1.15.5"
    root.mkdir(parents=True)
    (root / "terraform").symlink_to(terraform_bin)
    proxy = _script(
        tmp_path / "tenv" / "bin" / "terraform",
        '#!/bin/sh\nexec "$TENV_ROOT/Terraform/1.15.5/terraform" "$@"\n',
    )
    _script(tmp_path / "tenv" / "bin" / "tofu", "#!/bin/sh\nexit 99\n")
    env["TENV_ROOT"] = str(tmp_path / "tenv-root")
    env["PATH"] = f"{shim_bin.parent}:{proxy.parent}:{shim_bin.parent}:{tools}"
    result = tfharness.run(shim_bin, ["-v"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_tfswitch_symlink_resolves_to_its_target(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    link_dir = _tfswitch(tmp_path, terraform_bin)
    env["PATH"] = f"{shim_bin.parent}:{link_dir}:{tools}"
    found = realbin.find("terraform", env, str(shim_bin))
    assert found.target == str(terraform_bin.resolve())
    result = tfharness.run(shim_bin, ["version"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_a_version_manager_pointing_back_at_the_shim_is_skipped(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    """A tfswitch symlink to the shim (someone switched to it by mistake) is not real."""
    link_dir = tmp_path / "bin"
    link_dir.mkdir()
    (link_dir / "terraform").symlink_to(shim_bin)
    env["PATH"] = f"{link_dir}:{shim_bin.parent}:{terraform_bin.parent}:{tools}"
    result = tfharness.run(link_dir / "terraform", ["version"], workdir, env)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.15")


def test_doctor_shows_the_tfswitch_target(
    tools: Path,
    shim_bin: Path,
    terraform_bin: Path,
    env: dict[str, str],
    workdir: Path,
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    link_dir = _tfswitch(tmp_path, terraform_bin)
    env["PATH"] = f"{shim_bin.parent}:{link_dir}:{tools}"
    env["COLUMNS"] = "300"
    doctor = Path(sys.executable).with_name("safeterraform")
    result = subprocess.run(
        [str(doctor), "doctor"], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert f"{link_dir / 'terraform'} -> {terraform_bin.resolve()}" in result.stdout
