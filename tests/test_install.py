"""install.sh end to end: a real venv, the real shim, the real Terraform, uninstall."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import tfharness

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "install.sh"
SIMPLE_CONFIG = 'resource "terraform_data" "x" {\n  input = "hello"\n}\n'
SYSTEM_DIRS = ("/usr/bin", "/bin")  # coreutils, find, awk for install.sh itself
pytestmark = pytest.mark.slow  # each install is a venv and a pip install (~20 s of CPU)


def install_env(home: Path, path: list[Path | str]) -> dict[str, str]:
    env = tfharness.clean_env(home)
    env.update(tfharness.pip_settings())
    env["PYTHON"] = sys.executable
    env["PATH"] = os.pathsep.join([*map(str, path), *SYSTEM_DIRS])
    return env


def install(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )


def tree(*roots: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and link under roots: (mtime_ns, size, link target). Ignores bytecode."""
    found: dict[str, tuple[int, int, str]] = {}
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in [*filenames, *(d for d in dirnames if Path(directory, d).is_symlink())]:
                path = Path(directory, name)
                info = path.lstat()
                target = os.readlink(path) if path.is_symlink() else ""
                found[str(path)] = (info.st_mtime_ns, info.st_size, target)
    return found


def everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@dataclass(frozen=True)
class Installed:
    venv: Path
    bin_dir: Path
    home: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def user_install(tmp_path_factory: pytest.TempPathFactory, terraform_bin: Path) -> Installed:
    """One real install (venv, pip from this source, launcher), shared by the tests."""
    base = tmp_path_factory.mktemp("user-install")
    home = base / "home"
    home.mkdir()
    venv, bin_dir = base / "venv", base / "bin"
    env = install_env(home, [terraform_bin.parent])  # bin dir deliberately not on PATH
    result = install(
        env, "--venv", str(venv), "--bin-dir", str(bin_dir), "--real-terraform", str(terraform_bin)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Installed(venv, bin_dir, home, result)


def same(a: subprocess.CompletedProcess[str], b: subprocess.CompletedProcess[str]) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


def printed_path(installed: Installed, code: str) -> Path:
    """The path `code`, run by the installed virtualenv's Python, prints."""
    probe = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(probe.stdout.strip())


def test_install_writes_shim_link_and_summary(user_install: Installed, terraform_bin: Path) -> None:
    launcher = (user_install.bin_dir / "terraform").read_text()
    assert "safeterraform-shim" in launcher
    assert launcher.startswith(f"#!{user_install.venv}/bin/python -IS\n")
    assert f"recorded_real={str(terraform_bin)!r}" in launcher
    link = user_install.bin_dir / "safeterraform"
    assert os.readlink(link) == str(user_install.venv / "bin" / "safeterraform")
    out = user_install.result.stdout
    assert "safeterraform installed:" in out
    assert f"real:      {terraform_bin} [given with --real-terraform]" in out
    assert f"{user_install.bin_dir} is not on PATH" in user_install.result.stderr


def test_the_hcl_grammar_is_built_by_the_install(user_install: Installed) -> None:
    """python-hcl2's parser tables are built by install.sh, before it writes the launcher,
    not by the first command that reads HCL: in a system install, users could not write
    them and every such command would build them again (README, "Decisions").

    Mutation: drop the install.sh line that builds them."""
    tables = printed_path(user_install, "import hcl2.parser; print(hcl2.parser.PARSER_FILE)")
    assert tables.is_relative_to(user_install.venv)
    assert tables.exists(), "install.sh did not build the HCL grammar's parser tables"
    launcher = user_install.bin_dir / "terraform"
    assert tables.stat().st_mtime_ns <= launcher.stat().st_mtime_ns  # not built by a test


def test_package_is_installed_from_source_not_editable(user_install: Installed) -> None:
    installed = printed_path(
        user_install, "import safeterraform, safeterraform.shim; print(safeterraform.shim.__file__)"
    )
    assert installed.is_relative_to(user_install.venv)
    assert installed.read_bytes() == (REPO / "src" / "safeterraform" / "shim.py").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["version"],
        ["-chdir=project", "init", "-input=false"],
        ["-chdir=project", "plan", "-input=false", "-detailed-exitcode"],
        ["-chdir=project", "plan", "-no-such-flag"],
    ],
    ids=["version", "chdir-init", "plan-exit-2", "plan-bad-flag"],
)
def test_installed_shim_behaves_like_real_terraform(
    args: list[str], user_install: Installed, terraform_bin: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.tf").write_text(SIMPLE_CONFIG)
    home = tmp_path / "home"
    home.mkdir()
    env = tfharness.clean_env(home)
    env["PATH"] = os.pathsep.join(
        [str(user_install.bin_dir), str(terraform_bin.parent), *SYSTEM_DIRS]
    )
    shim = user_install.bin_dir / "terraform"
    if "init" not in args and args != ["version"]:
        assert (
            tfharness.run(
                terraform_bin, ["-chdir=project", "init", "-input=false"], tmp_path, env
            ).returncode
            == 0
        )
    through_shim = tfharness.run(shim, args, tmp_path, env)
    same(through_shim, tfharness.run(terraform_bin, args, tmp_path, env))
    if args[-1] == "-detailed-exitcode":
        assert through_shim.returncode == 2


def test_second_install_is_a_no_op(user_install: Installed, terraform_bin: Path) -> None:
    before = tree(user_install.venv, user_install.bin_dir)
    env = install_env(user_install.home, [terraform_bin.parent])
    again = install(
        env,
        "--venv",
        str(user_install.venv),
        "--bin-dir",
        str(user_install.bin_dir),
        "--real-terraform",
        str(terraform_bin),
    )
    assert again.returncode == 0, again.stderr
    assert "already installed and up to date" in again.stdout
    assert tree(user_install.venv, user_install.bin_dir) == before


def test_path_order_warnings(user_install: Installed, terraform_bin: Path) -> None:
    args = (
        "--venv",
        str(user_install.venv),
        "--bin-dir",
        str(user_install.bin_dir),
        "--real-terraform",
        str(terraform_bin),
    )
    first = install(
        install_env(user_install.home, [user_install.bin_dir, terraform_bin.parent]), *args
    )
    assert first.returncode == 0, first.stderr
    assert "WARNING" not in first.stderr
    behind = install(
        install_env(user_install.home, [terraform_bin.parent, user_install.bin_dir]), *args
    )
    assert behind.returncode == 0, behind.stderr
    assert f"WARNING: {terraform_bin} comes before {user_install.bin_dir} on PATH" in behind.stderr


def test_finds_real_terraform_on_path_skipping_shims(
    user_install: Installed, terraform_bin: Path, tmp_path: Path
) -> None:
    other_shim_dir = tmp_path / "other-venv-bin"
    other_shim_dir.mkdir()
    other_shim = other_shim_dir / "terraform"
    other_shim.write_text("#!/bin/sh\n# safeterraform-shim: another install\nexit 99\n")
    other_shim.chmod(0o755)
    env = install_env(
        user_install.home, [other_shim_dir, user_install.bin_dir, terraform_bin.parent]
    )
    result = install(env, "--venv", str(user_install.venv), "--bin-dir", str(user_install.bin_dir))
    assert result.returncode == 0, result.stderr
    assert f"real:      {terraform_bin} [found on PATH]" in result.stdout
    launcher = (user_install.bin_dir / "terraform").read_text()
    assert f"recorded_real={str(terraform_bin)!r}" in launcher


def test_refuses_to_overwrite_a_real_terraform(tmp_path: Path, terraform_bin: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_one = bin_dir / "terraform"
    real_one.write_bytes(terraform_bin.read_bytes())
    real_one.chmod(0o755)
    venv = tmp_path / "venv"
    env = install_env(tmp_path, [])
    result = install(
        env, "--venv", str(venv), "--bin-dir", str(bin_dir), "--real-terraform", str(terraform_bin)
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{real_one} exists and is not the safeterraform shim" in result.stderr
    assert real_one.read_bytes() == terraform_bin.read_bytes()
    assert not venv.exists()


def test_refuses_a_shim_as_the_real_terraform(user_install: Installed, tmp_path: Path) -> None:
    env = install_env(tmp_path, [])
    shim = user_install.bin_dir / "terraform"
    result = install(
        env,
        "--venv",
        str(tmp_path / "venv"),
        "--bin-dir",
        str(tmp_path / "bin"),
        "--real-terraform",
        str(shim),
    )
    assert result.returncode == 1
    assert (
        result.stderr == f"install.sh: --real-terraform {shim} is a safeterraform shim, "
        "not the real terraform\n"
    )
    assert not (tmp_path / "venv").exists()


def test_uninstall_removes_exactly_what_install_wrote(tmp_path: Path, terraform_bin: Path) -> None:
    """Installed with no terraform anywhere (so with the demo's engine, issue 17 item 9: the
    summary says what happens at run time, not `real: (none: found on PATH at run time)`),
    the shim finds the terraform put on PATH later; uninstall then leaves exactly what was
    there before. One install for both: each is a virtualenv and a pip install."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep.txt").write_text("mine")
    log = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("{}\n")  # records from earlier use
    # Defaults under HOME: ~/.local/share/safeterraform/venv and ~/.local/bin.
    env = install_env(home, [home / ".local" / "bin"])
    before = everything_under(tmp_path)
    installed = install(env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (
        "  real:      none found on PATH yet; the shim looks for terraform on PATH each time "
        "it runs (or re-run with --real-terraform PATH); `safeterraform demo` needs none\n"
    ) in installed.stdout
    assert "[demo]" in installed.stdout
    shim = home / ".local" / "bin" / "terraform"
    later = {**env, "PATH": os.pathsep.join([str(terraform_bin.parent), env["PATH"]])}
    version = tfharness.run(shim, ["version"], tmp_path, later)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("Terraform v")
    removed = install(env, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[-1] == (
        f"kept the audit log {log} (read it with a later install's `safeterraform log`, "
        "or delete it yourself)"
    )
    assert log.read_text() == "{}\n"
    assert everything_under(tmp_path) == before
    again = install(env, "--uninstall")
    assert again.returncode == 1
    assert "nothing to uninstall" in again.stderr


def test_help_lists_every_option() -> None:
    result = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for option in (
        "--venv DIR",
        "--bin-dir DIR",
        "--real-terraform PATH",
        "--python PATH",
        "--system",
        "--take-over",
        "--demo",
        "--uninstall",
        "-h, --help",
    ):
        assert f"  {option} " in result.stdout, option
    wrong = subprocess.run(["bash", str(INSTALL), "--bogus"], capture_output=True, text=True)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("install.sh: unknown option --bogus\nUsage: ./install.sh")


def test_take_over_needs_system(tmp_path: Path) -> None:
    result = install(install_env(tmp_path, []), "--take-over")
    assert result.returncode == 2
    assert result.stderr.startswith("install.sh: --take-over is for --system installs\n")


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        ("/bin/bash", 'add this line to ~/.bashrc: export PATH="{bin}:$PATH"'),
        ("/usr/bin/zsh", 'add this line to ~/.zshrc: export PATH="{bin}:$PATH"'),
        (
            "/usr/bin/fish",
            "add this line to ~/.config/fish/config.fish: fish_add_path --move {bin}",
        ),
    ],
)
def test_path_warning_gives_the_line_to_add(
    user_install: Installed, terraform_bin: Path, shell: str, line: str
) -> None:
    env = install_env(user_install.home, [terraform_bin.parent])
    env["SHELL"] = shell
    result = install(
        env,
        "--venv",
        str(user_install.venv),
        "--bin-dir",
        str(user_install.bin_dir),
        "--real-terraform",
        str(terraform_bin),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"WARNING: {user_install.bin_dir} is not on PATH, so `terraform` is not guarded; "
        + line.format(bin=user_install.bin_dir)
        + "\n"
    )


def shebang_interpreter(path: Path) -> str:
    """`bash` for `#!/bin/bash` and `#!/usr/bin/env bash`; empty when there is none."""
    with path.open("rb") as handle:
        first = handle.readline(200).decode(errors="replace")
    words = first[2:].split() if first.startswith("#!") else []
    if words and os.path.basename(words[0]) == "env" and len(words) > 1:
        words = words[1:]
    return os.path.basename(words[0]) if words else ""


def shell_scripts() -> list[Path]:
    """Every shell script in the repository (by suffix or shebang)."""
    skip = {".git", ".venv", "__pycache__", "build", "dist", "node_modules"}
    found = []
    for directory, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [
            d for d in dirnames if d not in skip and not d.endswith(("_cache", ".egg-info"))
        ]
        for name in filenames:
            path = Path(directory, name)
            if name.endswith(".sh") or shebang_interpreter(path) in ("sh", "bash"):
                found.append(path)
    return sorted(found)


def test_shell_scripts_are_shellcheck_clean() -> None:
    scripts = shell_scripts()
    assert INSTALL in scripts
    shellcheck = Path(sysconfig.get_path("scripts")) / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "--severity=style", *map(str, scripts)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
