"""A coding agent is known by its process as well as its variables (docs/agents.md, issue 26).

The agent is a copy of bash named `claude`, the way Claude Code runs its commands in a
shell it started; the command inside clears its environment (`env -i`) and states the
affected nodes in SAFETERRAFORM_CONFIRM_NODES, as an agent does that lost CLAUDECODE and
copies what a refusal told it. The state file's bytes and reset.log are the witnesses.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from safeterraform import agents, policy
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import RESET, incident, incident_template, reset_log

__all__ = ["incident", "incident_template"]

NAMES = "phoebe poison powder"


def shell_named(name: str, directory: Path) -> Path:
    """A copy of bash under another name: its processes are called `name`."""
    bash = shutil.which("bash")
    assert bash is not None
    copy = directory / name
    shutil.copy(bash, copy)
    return copy


def run_cleared(
    shell: Path, workdir: Path, env: dict[str, str], extra: str = ""
) -> subprocess.CompletedProcess[str]:
    """`shell -c 'env -i ... terraform apply; ...'`: only what a runbook keeps survives.
    The trailing command keeps bash from exec'ing the last one in its own place."""
    kept = {
        key: env[key]
        for key in ("PATH", "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "TF_CLI_CONFIG_FILE")
    }
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in kept.items())
    script = (
        f"env -i {assignments} CHECKPOINT_DISABLE=1 NO_COLOR=1 {extra} "
        f"SAFETERRAFORM_CONFIRM_NODES={shlex.quote(NAMES)} terraform apply -input=false; "
        "code=$?; exit $code"
    )
    return subprocess.run(
        [str(shell), "-c", script],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_agent_that_loses_its_variables_is_still_an_agent(
    incident: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Mutation: Confirmer.agents reads only the variables (policy.agent_markers) -> the
    runbook variable resets the three nodes."""
    before = tfharness.state_bytes(incident)
    result = run_cleared(shell_named("claude", tmp_path), incident, env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "it runs under claude (process" in result.stderr
    assert "a coding agent runs this command" in result.stderr
    assert "safeterraform approve" in result.stderr
    assert "SAFETERRAFORM_CONFIRM_NODES=" not in result.stdout + result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_the_same_command_without_an_agent_ancestor_is_a_runbook(
    incident: Path, env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cleared(shell_named("bash", tmp_path), incident, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(reset_log(incident)) == [f"{RESET} 192.0.2.6{n}" for n in (5, 6, 7)]


def test_a_layer_adds_an_agent_executable(
    incident: Path, env: dict[str, str], tmp_path: Path, home: Path
) -> None:
    """Mutation: policy.load ignores `[confirm] agent_processes` -> applied."""
    config = home / ".config" / "safeterraform" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[confirm]\nagent_processes = ["company-agent"]\n')
    before = tfharness.state_bytes(incident)
    result = run_cleared(shell_named("company-agent", tmp_path), incident, env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "it runs under company-agent" in result.stderr
    assert tfharness.state_bytes(incident) == before


@pytest.mark.parametrize(
    ("comm", "argv", "expected"),
    [
        ("claude", ["claude", "--resume"], "claude"),
        ("node", ["node", "--no-warnings", "/usr/lib/node_modules/x/bin/gemini"], "gemini"),
        ("python3", ["/usr/bin/python3.12", "/home/a/.local/bin/aider"], "aider"),
        ("MainThread", ["/opt/codex/codex", "exec"], "codex"),
        ("bash", ["bash", "-c", "claude"], None),  # a word in a command line is no process
        ("node", ["node", "server.js"], None),
    ],
)
def test_names_of_a_process(comm: str, argv: list[str], expected: str | None) -> None:
    """Mutation: names_of ignores an interpreter's script -> gemini and aider are missed."""
    chain = [agents.Process(10, agents.names_of(comm, argv))]
    found = agents.agent_process(policy.DEFAULT_AGENT_PROCESSES, chain)
    assert (found is not None) == (expected is not None)
    markers = agents.markers(policy.Config(), {}, chain)
    assert markers == ([f"it runs under {expected} (process 10)"] if expected else [])


def test_markers_name_the_variable_and_the_process() -> None:
    chain = [agents.Process(7, ("bash",)), agents.Process(3, ("claude",))]
    found = agents.markers(policy.Config(), {"CLAUDECODE": "1"}, chain)
    assert found == ["CLAUDECODE is set", "it runs under claude (process 3)"]


def test_this_process_has_ancestors() -> None:
    """The walk reads the real process tree: its first entry is the test's parent."""
    chain = agents.ancestors()
    assert chain and chain[0].pid > 1


def test_an_agents_plan_names_no_terraform_apply_to_run(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Terraform's "To perform exactly these actions, run ... terraform apply" must not
    precede "stop and ask a person". Mutation: plan.run without TF_IN_AUTOMATION."""
    person = shim("plan", "-input=false", "-out=person.tfplan")
    assert person.returncode == 0, person.stderr
    assert "To perform exactly these actions" in person.stdout  # terraform's, for a person
    env["CLAUDECODE"] = "1"
    agent = shim("plan", "-input=false")
    assert agent.returncode == 0, agent.stderr
    assert "ask a person" in agent.stdout
    assert "To perform exactly these actions" not in agent.stdout
    assert "terraform apply" not in agent.stdout.split("DESTRUCTIVE CHANGES")[0]
