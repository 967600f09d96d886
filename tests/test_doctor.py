"""`safeterraform doctor`, run as the installed console script against a real terraform."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from safeterraform import launcher
from safeterraform.policy import DEFAULT_AGENT_ENV, has_production_token
from tests import tfharness

SAFETERRAFORM = Path(sys.executable).parent / "safeterraform"


@pytest.fixture()
def doctor_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The shim first on PATH (its launcher records the system config), a wide table."""
    assert not any(has_production_token(part) for part in tmp_path.parts)
    return {**env, "COLUMNS": "400"}


def doctor(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAFETERRAFORM), "doctor", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(output: str) -> dict[str, list[str]]:
    """The table's rows: input label -> values (a label may repeat)."""
    table: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[0] and cells[0] != "input":
            table.setdefault(cells[0], []).append(cells[1])
    return table


def test_inputs_and_verdict_outside_production(
    doctor_env: dict[str, str],
    workdir: Path,
    shim_bin: Path,
    terraform_bin: Path,
    home: Path,
    system_config: Path,
) -> None:
    result = doctor(doctor_env, "--chdir", str(workdir))
    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result.stdout)
    assert table["config (system)"] == [f"{system_config} (absent)"]
    user = home / ".config" / "safeterraform" / "config.toml"
    assert table["config (user)"] == [f"{user} (absent)"]
    assert table["config (repository)"][0].startswith("none: no .safeterraform.toml")
    assert table["shim first on PATH"] == [str(shim_bin)]
    assert table["real terraform"] == [f"{terraform_bin} (from PATH)"]
    assert table["working directory"] == [str(workdir.resolve())]
    assert table["workspace"] == ["default (from no environment file, terraform's default)"]
    assert table["verdict"][0].startswith("not production: workspace 'default'")


def test_live_workspace_made_by_real_terraform(
    doctor_env: dict[str, str], workdir: Path, terraform_bin: Path
) -> None:
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    for args in (["init", "-input=false"], ["workspace", "new", "prod"]):
        done = tfharness.run(terraform_bin, args, workdir, doctor_env)
        assert done.returncode == 0, done.stderr
    result = doctor(doctor_env, "--chdir", str(workdir))
    assert result.returncode == 0, result.stdout
    table = rows(result.stdout)
    environment = workdir.resolve() / ".terraform" / "environment"
    assert table["workspace"] == [f"prod (from {environment})"]
    assert table["verdict"] == [
        "PRODUCTION: workspace 'prod' has a production token (built-in default)"
    ]


def test_config_files_and_the_matched_pattern(
    doctor_env: dict[str, str], workdir: Path, tmp_path: Path, system_config: Path
) -> None:
    system = system_config
    system.write_text("[production]\nallow_break_glass = false\n")
    repo = workdir / ".safeterraform.toml"
    repo.write_text('[production]\nworkspaces = ["live-*"]\nvar_files = ["*.secret.tfvars"]\n')
    stack = workdir / "stack"
    stack.mkdir()
    result = doctor({**doctor_env, "TF_WORKSPACE": "live-eu"}, "--chdir", "stack", cwd=workdir)
    assert result.returncode == 0, result.stdout
    table = rows(result.stdout)
    assert table["config (system)"] == [f"{system} (read)"]
    assert table["config (repository)"] == [f"{repo} (read)"]
    assert table["working directory"] == [str(stack.resolve())]
    assert table["workspace"] == ["live-eu (from TF_WORKSPACE)"]
    assert f"live-* ({repo})" in table["production workspace pattern"]
    assert table["production var-file pattern"] == [
        "<prod|production|prd path component> (built-in default)",
        f"*.secret.tfvars ({repo})",
    ]
    assert table["break-glass"] == [f"disabled by {system}"]
    assert table["verdict"] == [f"PRODUCTION: workspace 'live-eu' matches 'live-*' in {repo}"]


def test_always_on_a_bastion(
    doctor_env: dict[str, str], workdir: Path, system_config: Path
) -> None:
    system = system_config
    system.write_text("[production]\nalways = true\n")
    table = rows(doctor(doctor_env, "--chdir", str(workdir)).stdout)
    assert table["always"] == [f"true ({system})"]
    assert table["verdict"] == [f"PRODUCTION: always = true in {system}"]


def test_broken_config_names_file_and_line(doctor_env: dict[str, str], workdir: Path) -> None:
    repo = workdir / ".safeterraform.toml"
    repo.write_text('[production]\nworkspaces = ["live"\n')
    result = doctor(doctor_env, "--chdir", str(workdir))
    assert result.returncode == 1
    table = rows(result.stdout)
    assert table["config (repository)"] == [f"{repo} (not read: config error)"]
    (error,) = table["config error"]
    assert str(repo) in error and "line 3" in error
    assert table["verdict"] == ["unknown: guarded commands are refused"]


def test_brackets_in_errors_are_shown(doctor_env: dict[str, str], workdir: Path) -> None:
    (workdir / ".safeterraform.toml").write_text("production = 1\n")
    table = rows(doctor(doctor_env, "--chdir", str(workdir)).stdout)
    assert table["config error"][0].endswith("[production] must be a table")


def test_fails_when_the_shim_is_not_on_path(
    tools: Path, doctor_env: dict[str, str], workdir: Path, terraform_bin: Path
) -> None:
    env = {**doctor_env, "PATH": f"{terraform_bin.parent}:{tools}"}
    result = doctor(env, "--chdir", str(workdir))
    assert result.returncode == 1
    table = rows(result.stdout)
    assert table["shim first on PATH"] == ["no: `terraform` on PATH is not the shim"]
    assert table["real terraform"] == [f"{terraform_bin} (from PATH)"]


def test_fails_when_the_real_binary_comes_first(
    tools: Path, doctor_env: dict[str, str], workdir: Path, terraform_bin: Path, shim_bin: Path
) -> None:
    env = {**doctor_env, "PATH": f"{terraform_bin.parent}:{shim_bin.parent}:{tools}"}
    result = doctor(env, "--chdir", str(workdir))
    assert result.returncode == 1
    assert rows(result.stdout)["shim first on PATH"] == ["no: `terraform` on PATH is not the shim"]


def test_fails_when_no_real_terraform_is_behind_the_shim(
    tools: Path, doctor_env: dict[str, str], workdir: Path, shim_bin: Path
) -> None:
    env = {**doctor_env, "PATH": f"{shim_bin.parent}:{tools}"}
    result = doctor(env, "--chdir", str(workdir))
    assert result.returncode == 1
    table = rows(result.stdout)
    assert table["shim first on PATH"] == [str(shim_bin)]
    assert "real terraform not found" in table["real terraform"][0]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_alias_runs_the_shim(
    doctor_env: dict[str, str], shell: str, shim_bin: Path, terraform_bin: Path, workdir: Path
) -> None:
    result = doctor(doctor_env, "--shell", shell)
    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    words = shlex.split(line)
    if shell == "fish":
        assert words == ["alias", "terraform", str(shim_bin)]
    else:
        assert words == ["alias", f"terraform={shim_bin}"]
    # The aliased program is the shim: with the real terraform behind it, it runs it.
    version = subprocess.run(
        [words[-1].removeprefix("terraform="), "version"],
        env=doctor_env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.startswith("Terraform v1.")


def test_shell_alias_without_a_shim_on_path(
    tools: Path, doctor_env: dict[str, str], terraform_bin: Path
) -> None:
    env = {**doctor_env, "PATH": f"{terraform_bin.parent}:{tools}"}
    result = doctor(env, "--shell", "bash")
    assert result.returncode == 0
    (word,) = shlex.split(result.stdout)[1:]
    shim = word.removeprefix("terraform=")
    assert shim == str(Path(sys.executable).parent / "safeterraform-shim")
    version = subprocess.run([shim, "version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("Terraform v1.")


def test_unknown_shell_is_refused(doctor_env: dict[str, str]) -> None:
    result = doctor(doctor_env, "--shell", "tcsh")
    assert result.returncode == 2
    assert "tcsh" in result.stderr


def test_doctor_says_when_a_coding_agent_runs_it(doctor_env: dict[str, str], workdir: Path) -> None:
    doctor_env["GEMINI_CLI"] = "1"
    result = doctor(doctor_env, "--chdir", str(workdir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(result.stdout)["coding agent"][0].startswith("yes (GEMINI_CLI is set)")


GOLDEN_80 = Path(__file__).parent / "golden" / "doctor_80.txt"
ROOT_SHOWN = "/tmp/stdoc-XXXXXXXX"  # the golden's root: mkdtemp's 8 random letters, masked


def test_80_columns_golden(terraform_bin: Path) -> None:
    """At 80 columns no path is split mid-word: too long for the table's value column,
    every row gets its own lines and a longer path is shortened in the middle.

    Mutation: `layout` keeps the table whatever the widths (rich folds `…/au|dit.jsonl`),
    or `shorten` cuts the end of the path off; the golden shows the layout as a whole.
    Regenerate: SAFETERRAFORM_UPDATE_GOLDEN=1, then review the diff."""
    root = Path(tempfile.mkdtemp(prefix="stdoc-", dir="/tmp"))
    try:
        assert len(str(root)) == len(ROOT_SHOWN)
        home = root / "home"
        environment = tfharness.clean_env(home)
        for name in DEFAULT_AGENT_ENV:
            environment.pop(name, None)
        shim = launcher.write(root / "bin", "terraform", None, str(root / "etc" / "config.toml"))
        real = root / "real" / "terraform"
        real.parent.mkdir()
        real.write_text(f'#!/bin/sh\nexec {shlex.quote(str(terraform_bin))} "$@"\n')
        real.chmod(0o755)
        environment.update(PATH=f"{shim.parent}:{real.parent}:/usr/bin:/bin", COLUMNS="80")
        workdir = root / "infrastructure-repository" / "clusters" / "talos-control-plane"
        workdir = workdir / "envs" / "prod"
        workdir.mkdir(parents=True)
        result = doctor(environment, "--chdir", str(workdir))
        assert result.returncode == 0, result.stdout + result.stderr
        text = result.stdout.replace(str(root), ROOT_SHOWN)
    finally:
        shutil.rmtree(root)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "/tmp/stdoc-XXXXXXXX/infra…re-repository/" in text  # shortened in the middle
    assert "home/.local/state/safeterraform/audit.jsonl" in text  # fits: whole
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        GOLDEN_80.write_text(text)
    assert text == GOLDEN_80.read_text(), (
        f"{GOLDEN_80} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1 and review"
    )
