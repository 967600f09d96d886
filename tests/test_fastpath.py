"""The pass-through path imports nothing heavy (docs/design.md#the-pass-through-path, issue 8).

Each case runs the launcher exactly as install.sh writes it, in a fresh `python -I -S`,
with `os.execve` replaced by a probe that reports `sys.modules` at the moment the shim
would have become terraform.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from safeterraform import launcher, policy
from tests import tfharness

# What the issue names, plus what those pull in.
HEAVY = {
    *("typer", "rich", "questionary", "sh", "hcl2"),
    *("click", "pygments", "prompt_toolkit", "lark"),
}
GUARD_ONLY = {"safeterraform.guard", "safeterraform.render", "safeterraform.confirm"}

PROBE = r"""
import json, os, sys
shim_path, args = sys.argv[1], json.loads(sys.argv[2])

def report(path, argv, env):
    json.dump({"exec": [path, *argv[1:]], "modules": sorted(sys.modules)}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)

os.execve = report
with open(shim_path) as handle:
    code = compile(handle.read(), shim_path, "exec")
sys.argv = [shim_path, *args]
exec(code, {"__name__": "__main__"})
"""


def probe(
    shim_path: Path, args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[list[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(shim_path), json.dumps(args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return report["exec"], set(report["modules"])


@pytest.fixture()
def fake_real(tmp_path: Path) -> Path:
    """A stand-in real terraform: the probe stops before it would run."""
    path = tmp_path / "real" / "terraform"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def production_dir(root: Path) -> Path:
    """A repository config marking the directory production, as operators write it."""
    work = root / "envs" / "live"
    work.mkdir(parents=True)
    (work / ".safeterraform.toml").write_text('[production]\npaths = ["*/envs/live"]\n')
    return work


@pytest.mark.parametrize(
    ("case", "args"),
    [
        ("empty", ["version"]),
        ("empty", ["plan", "-input=false"]),
        ("production", ["workspace", "show"]),
        ("production", ["-chdir=.", "state", "list"]),
        ("production", ["plan", "-help"]),
    ],
)
def test_pass_through_imports_nothing_heavy(
    case: str, args: list[str], tmp_path: Path, fake_real: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = tfharness.clean_env(home)
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(fake_real)
    if case == "production":
        cwd = production_dir(tmp_path)
        # Make sure the case is what it claims: this directory is production.
        system = str(tmp_path / "no-system-config.toml")
        config = policy.load(env, str(cwd), system)
        assert policy.judge(config, env, str(cwd)).production
    else:
        cwd = tmp_path / "empty"
        cwd.mkdir()
    shim = launcher.write(
        tmp_path / "bin", "terraform", None, system_config=str(tmp_path / "no-system-config.toml")
    )

    executed, modules = probe(shim, args, cwd, env)

    assert executed == [str(fake_real), *args]
    assert "safeterraform.shim" in modules
    assert {name.split(".")[0] for name in modules} & HEAVY == set()
    assert modules & GUARD_ONLY == set()
