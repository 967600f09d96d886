"""The console script's plain `check` path (entry.py) ends exactly as the Typer CLI does.

Every command line below runs twice with the real terraform: through the installed
`safeterraform` script and through cli.py's Typer app; stdout, stderr and the exit code
must be the same bytes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from safeterraform import entry
from tests import tfharness
from tests.test_check import CHECK

# cli.py's app, with the program name the installed script has (usage lines carry it).
TYPER = f"import sys; sys.argv[0] = {str(CHECK)!r}; from safeterraform.cli import app; app()"

LINES = [
    ["check", "plan.tfplan"],
    ["check", "plan.tfplan", "--format", "json"],
    ["check", "--format=markdown", "plan.tfplan"],
    ["check", "plan.tfplan", "--format", "markdown", "--format", "json"],
    ["check", "--chdir", "work", "plan.tfplan", "--format=json"],
    ["check", "--chdir=work", "plan.tfplan"],
    ["check", "missing.tfplan"],
    ["check", "plan.tfplan", "--chdir", "no-such-dir"],
    # Not plain: cli.py parses these.
    ["check", "plan.tfplan", "--format", "JSON"],
    ["check", "plan.tfplan", "--format="],
    ["check", "plan.tfplan", "--chdir"],
    ["check", "plan.tfplan", "other.tfplan"],
    ["check", "--", "plan.tfplan"],
    ["check", "plan.tfplan", "-h"],
    ["check", "--help"],
    ["check"],
    ["check", "plan.tfplan", "--version"],
]


@pytest.fixture(scope="module")
def planned(terraform_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding work/plan.tfplan: the incident planned with the real terraform."""
    base = tmp_path_factory.mktemp("entry")
    work = base / "work"
    work.mkdir()
    env = tfharness.clean_env(base / "home")
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(terraform_bin)
    tfharness.make_incident(terraform_bin, work, env)
    result = tfharness.run(terraform_bin, ["plan", "-input=false", "-out=plan.tfplan"], work, env)
    assert result.returncode == 0, result.stderr
    return base


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_the_script_ends_as_the_typer_cli(
    line: list[str], planned: Path, terraform_bin: Path
) -> None:
    """Mutations caught: a format taken case-insensitively, `--format=` read as text, a
    missing option value or a second plan ignored, an error line without its exit code
    (1), an interrupt or help taken on the plain path."""
    env = tfharness.clean_env(planned / "home")
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(terraform_bin)
    env["COLUMNS"] = "80"
    cwd = planned / "work" if "work" not in line and "--chdir=work" not in line else planned
    script, typer = (
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=300)
        for argv in ([str(CHECK), *line], [sys.executable, "-c", TYPER, *line])
    )
    assert (script.returncode, script.stdout, script.stderr) == (
        typer.returncode,
        typer.stdout,
        typer.stderr,
    )
    assert b"Traceback" not in script.stderr


@pytest.mark.parametrize(
    ("line", "plain"),
    [
        (["check", "p"], (Path("p"), "text", None)),
        (["check", "--format", "json", "p"], (Path("p"), "json", None)),
        (["check", "p", "--chdir=d", "--format=markdown"], (Path("p"), "markdown", Path("d"))),
        (["check", "p", "--format", "text", "--format", "json"], (Path("p"), "json", None)),
        (["check", "p", "--format", "JSON"], None),
        (["check", "p", "--chdir", "-d"], None),
        (["check", "p", "--chdir="], None),
        (["check", "p", "q"], None),
        (["check", "-"], None),
        (["check", ""], None),
        (["check", "p", "--help"], None),
        (["check", "--format", "json"], None),
        (["log", "p"], None),
        ([], None),
    ],
)
def test_plain_check_lines(line: list[str], plain: tuple[Path, str, Path | None] | None) -> None:
    """Mutations caught: the last repeated option not winning, a value starting with `-`
    taken as a directory, an empty plan name accepted, another command taken for check."""
    assert entry.plain_check(line) == plain


def test_a_plain_check_does_not_build_the_typer_app(planned: Path, terraform_bin: Path) -> None:
    """The point of entry.py. Mutation caught: main() always handing over to cli.py."""
    env = tfharness.clean_env(planned / "home")
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(terraform_bin)
    probe = (
        "import os, sys\n"
        "leave = os._exit\n"
        "loaded = lambda: b'typer: %r' % ('typer' in sys.modules)\n"
        "os._exit = lambda code: (os.write(2, loaded()), leave(code))\n"
        "sys.argv = ['safeterraform', 'check', 'plan.tfplan', '--format', 'json']\n"
        "from safeterraform.entry import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=planned / "work", env=env, capture_output=True
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.endswith(b"typer: False")
